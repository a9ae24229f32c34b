#!/usr/bin/env bash
# run_gpu_checks.sh — the one-shot check of a GPU machine that has nvcc, a C
# compiler and cmake but no package registry: build streamfit with the CUDA
# backend, run the GPU tests (every backend op and the staging ring against
# the CPU backend, whole fits against certified values, the backend's use of
# memory and its error paths), `streamfit train` and `streamfit stream` with
# --device cuda against --device cpu, the GPU benchmark, and the rest of the
# suite with --device auto meaning the GPU.
#
# It always comes back: the whole check runs under a hard limit
# (SF_GPU_CHECKS_LIMIT, default 480 s), every step under its own, and
# result.txt in the output folder gains one line per step as it ends
# (PASS / FAIL / SKIP / TIMEOUT and why), so a hang late on still leaves the
# earlier answers behind.
#
# The libraries come as Debian bookworm (amd64) packages downloaded where apt
# works (bench/gpu/fetch_debs.sh, into .sfdeps/debs) and unpacked here with
# dpkg -x (or ar + tar), not installed, into SF_DEPS_PREFIX. dpkg -x runs no
# maintainer scripts, so the alternatives links an install would make
# (libblas.so.3, openblas.pc, ...) do not exist: the script points
# pkg-config, the linker and the loader at the openblas-pthread folder.
#
# Usage (the repository is this script's ../..), e.g. through the device
# tool with `carry: [".sfdeps/debs"]`:
#   SF_DEPS_DEBS=.sfdeps/debs bash bench/gpu/run_gpu_checks.sh
# Environment:
#   SF_DEPS_DEBS       folder of .deb files to unpack (default <repo>/.sfdeps/debs)
#   SF_DEPS_PREFIX     where to unpack them (default /tmp/streamfit-deps)
#   SF_BUILD_DIR       build folder (default <repo>/build-gpu)
#   OUT                folder for the results (default <build>/gpu-results);
#                      at most 8 files land there (listed at the end)
#   SF_GPU_CHECKS_LIMIT  seconds for the whole check (default 480)
#   SF_CUDA_ARCH       CMAKE_CUDA_ARCHITECTURES (default: the compute
#                      capability nvidia-smi reports, e.g. 90 on an H200)
#   SF_KAFKA=ON        also build the Kafka parts (needs librdkafka's own
#                      dependencies on the machine; off by default)
#   SF_GPU_BENCH=0     leave the benchmark out
#   SF_GPU_BENCH_FULL=1  the benchmark's full sweep (d = 16..1024, 10^7 rows,
#                      3 repeats; several minutes: a call of its own) instead
#                      of the default d = 64 and 1024, 2*10^6 rows, 1 repeat
#   SF_GPU_BENCH_ARGS  arguments for the benchmark (override both)
#   SF_ALLOW_SKIP=1    a rehearsal on a machine without a GPU: skipped GPU
#                      tests and a failed --device cuda are not failures
# Exit status: 0 when the GPU tests passed (none skipped) and train and stream
# on the GPU agreed with the CPU; 124 when the limit was reached; else 1.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${SF_BUILD_DIR:-$root/build-gpu}"
out="${OUT:-$build/gpu-results}"
limit="${SF_GPU_CHECKS_LIMIT:-480}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# ---- outer: the hard limit, and the last word in result.txt ----
if [ -z "${SF_GPU_CHECKS_INNER:-}" ]; then
  : >"$out/result.txt"
  start=$(date +%s)
  SF_GPU_CHECKS_INNER=1 timeout --kill-after=15 "$limit" bash "${BASH_SOURCE[0]}" "$@"
  rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "TIMEOUT whole check: past its ${limit} s limit during '$(cat "$out/.step" 2>/dev/null)'" \
      >>"$out/result.txt"
    rc=124
  fi
  rm -f "$out/.step"
  echo "END exit $rc after $(($(date +%s) - start)) s" >>"$out/result.txt"
  echo "== result.txt"
  cat "$out/result.txt"
  echo "== files in $out: $(cd "$out" && ls | tr '\n' ' ')"
  exit "$rc"
fi

# ---- inner ----
allow_skip="${SF_ALLOW_SKIP:-0}"
failed=0
t0=$(date +%s)
step() {
  echo "$1" >"$out/.step"
  echo "== [$(($(date +%s) - t0)) s] $1"
}
# result STATUS NAME DETAIL...: one line of result.txt, written at once.
result() {
  local status="$1" name="$2"
  shift 2
  echo "$status $name: $* [$(($(date +%s) - t0)) s]" >>"$out/result.txt"
  echo "-> $status $name: $*"
  [ "$status" = FAIL ] && failed=1
  return 0
}
# A failure that makes the rest pointless.
stop() {
  result FAIL "$1" "$2"
  exit 1
}
# A GPU step that cannot pass without a GPU: a failure, or a skip in a rehearsal.
gpu_fail() {
  if [ "$allow_skip" = 1 ]; then result SKIP "$1" "$2 (rehearsal: SF_ALLOW_SKIP=1)"; else result FAIL "$1" "$2"; fi
}

# ---- preflight: what the machine has, into machine.txt ----
step preflight
if ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
    if [ -x "$d/nvcc" ]; then PATH="$d:$PATH"; break; fi
  done
fi
# CMake: the PATH's, else the one a Python environment carries (pip's cmake).
cmake_bin="$(command -v cmake || true)"
if [ -z "$cmake_bin" ]; then
  for c in /opt/*/.venv/bin/cmake "$(python3 -c 'import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))' 2>/dev/null)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then cmake_bin="$c"; break; fi
  done
fi
ctest_bin="$(dirname "${cmake_bin:-/nonexistent/cmake}")/ctest"
nvcc="$(command -v nvcc || true)"
cc_bin="$(command -v cc || command -v gcc || true)"
gpu_csv="$(nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv 2>&1)"
gpu_rc=$?
{
  echo "== date: $(date -u +%FT%TZ)  host: $(hostname)  cores: $(nproc)"
  echo "== nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total"
  echo "$gpu_csv"
  echo "== nvcc: ${nvcc:-missing}"
  [ -n "$nvcc" ] && "$nvcc" --version | tail -2
  echo "== cmake: ${cmake_bin:-missing}"
  [ -n "$cmake_bin" ] && "$cmake_bin" --version | head -1
  echo "== compiler: ${cc_bin:-missing}"
  [ -n "$cc_bin" ] && "$cc_bin" --version | head -1
  command -v c++ >/dev/null && c++ --version | head -1
  echo "== ldconfig -p | grep -E 'cublas|cusolver|cudart'"
  ldconfig -p 2>/dev/null | grep -E 'cublas|cusolver|cudart' || echo "(none on the loader's path)"
  echo "== memory"
  free -g 2>/dev/null | head -2
  echo "== os"
  grep -E '^(PRETTY_NAME)=' /etc/os-release 2>/dev/null
  echo "== tools: python3 $(python3 --version 2>&1 | cut -d' ' -f2) dpkg $(command -v dpkg >/dev/null && echo yes || echo no)"
} >"$out/machine.txt" 2>&1
cat "$out/machine.txt"
[ -n "$nvcc" ] || stop preflight "nvcc not found (PATH, /usr/local/cuda*/bin)"
[ -n "$cc_bin" ] || stop preflight "no C compiler (cc, gcc)"
[ -n "$cmake_bin" ] || stop preflight "no cmake (PATH, a Python environment's cmake)"
cmake_version="$("$cmake_bin" --version | head -1 | awk '{print $3}')"
if [ "$(printf '%s\n3.22\n' "$cmake_version" | sort -V | head -1)" != 3.22 ]; then
  stop preflight "cmake $cmake_version is older than 3.22"
fi
have_gpu=0
if [ "$gpu_rc" -eq 0 ] && echo "$gpu_csv" | grep -q ','; then
  have_gpu=1
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')"
elif [ "$allow_skip" = 1 ]; then
  cap=90
else
  stop preflight "no GPU: nvidia-smi says: $(echo "$gpu_csv" | head -1)"
fi
arch="${SF_CUDA_ARCH:-$cap}"
result PASS preflight "$(echo "$gpu_csv" | sed -n 2p | tr -s ' ')${have_gpu/#0/(no GPU)}; nvcc $("$nvcc" --version | grep -o 'release [0-9.]*'), cmake $cmake_version, arch $arch"

# The toolkit's own libraries first on the loader's path: an image with other
# copies of cuBLAS (a Python package's, say) must not win.
cuda_root="$(cd "$(dirname "$nvcc")/.." && pwd)"
cuda_libs=""
for d in "$cuda_root/lib64" "$cuda_root/lib" "$cuda_root/targets/x86_64-linux/lib"; do
  [ -d "$d" ] && cuda_libs="${cuda_libs:+$cuda_libs:}$(cd "$d" && pwd -P)"
done

# ---- the libraries from the .deb files ----
step "unpack .deb files"
prefix="${SF_DEPS_PREFIX:-/tmp/streamfit-deps}"
debs="${SF_DEPS_DEBS:-$root/.sfdeps/debs}"
case "$debs" in /*) ;; *) debs="$root/$debs" ;; esac
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
unpack_deb() {
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -x "$1" "$prefix"
  else
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && ar x "$1" && tar -xf data.tar.* -C "$prefix")
    rm -rf "$tmp"
  fi
}
n_debs=0
for f in "$debs"/*.deb; do
  [ -f "$f" ] || continue
  unpack_deb "$f" || stop unpack "cannot unpack $f"
  n_debs=$((n_debs + 1))
done
arch_triplet="$("$cc_bin" -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
case "$arch_triplet" in x86_64-*linux-gnu) arch_triplet=x86_64-linux-gnu ;; esac
libdir="$prefix/usr/lib/$arch_triplet"
if [ ! -f "$libdir/pkgconfig/lapacke.pc" ] || [ ! -f "$libdir/openblas-pthread/pkgconfig/openblas.pc" ]; then
  stop unpack "$prefix does not hold the packages ($n_debs .deb files in $debs; run bench/gpu/fetch_debs.sh where apt works and carry .sfdeps/debs)"
fi
result PASS unpack "$n_debs packages into $prefix"

export LD_LIBRARY_PATH="${cuda_libs:+$cuda_libs:}$libdir/openblas-pthread:$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
link_flags="-Wl,-rpath-link,$libdir/openblas-pthread:$libdir"
# Headers of the prefix, searched like system headers (nvcc passes them on).
export C_INCLUDE_PATH="$prefix/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
export CPLUS_INCLUDE_PATH="$prefix/usr/include${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}"
# pkg-config sees only the prefix's .pc files and prefixes their /usr paths
# with the sysroot; lapacke.pc requires "lapack", which an install provides
# through the alternatives system: stand in for those links.
alt="$build/pkgconfig-alternatives"
mkdir -p "$alt"
ln -sf "$libdir/openblas-pthread/pkgconfig/lapack-openblas.pc" "$alt/lapack.pc"
ln -sf "$libdir/openblas-pthread/pkgconfig/blas-openblas.pc" "$alt/blas.pc"
pkgconf="$(command -v pkg-config || command -v pkgconf || echo "$prefix/usr/bin/pkgconf")"
unset PKG_CONFIG_PATH
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$libdir/openblas-pthread/pkgconfig:$alt:$prefix/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1

# ---- configure and build: Release, this GPU's architecture, warnings not fatal ----
step "configure and build"
{
  timeout 120 "$cmake_bin" -S "$root" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DSTREAMFIT_CUDA=ON \
    -DSTREAMFIT_WERROR=OFF \
    -DSTREAMFIT_BENCH=ON \
    -DSTREAMFIT_KAFKA="${SF_KAFKA:-OFF}" \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DPKG_CONFIG_EXECUTABLE="$pkgconf" \
    -DFAST_FLOAT_INCLUDE_DIR="$prefix/usr/include" \
    -DCMAKE_EXE_LINKER_FLAGS="$link_flags" \
    -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" &&
    timeout 300 "$cmake_bin" --build "$build" -j "$(nproc)"
} >"$out/build.log" 2>&1
build_rc=$?
if [ "$build_rc" -ne 0 ]; then
  grep -E "error|Error|CMake Error" "$out/build.log" | head -30
  tail -30 "$out/build.log"
  stop build "exit $build_rc (build.log: $(grep -m1 -E 'error|CMake Error' "$out/build.log" | cut -c1-200))"
fi
result PASS build "$(grep -c -i 'warning' "$out/build.log") warning lines, $(grep -o 'CUDA backend .*' "$out/build.log" | head -1)"
sf="$build/streamfit"

# ---- the GPU tests ----
step "ctest -L gpu"
{
  "$sf" info
  echo
  timeout 300 "$ctest_bin" --test-dir "$build" -L gpu --timeout 240 -V
  echo "ctest exit: $?"
} >"$out/ctest-gpu.txt" 2>&1
ctest_rc="$(sed -n 's/^ctest exit: //p' "$out/ctest-gpu.txt")"
# One result line per test: "N/M Test #K: name .....   Passed|***Skipped|***Failed|***Timeout".
while read -r num name state; do
  case "$state" in
    Passed) result PASS "$name" "$(grep -E "^$num: (overlap|host waits|device memory|qr past)" "$out/ctest-gpu.txt" | cut -d' ' -f2- | tr '\n' ';' | cut -c1-400)" ;;
    *Skipped*) gpu_fail "$name" "skipped: $(grep -m1 -E "^$num: SKIP" "$out/ctest-gpu.txt" | cut -d' ' -f2- || echo 'no reason printed')" ;;
    *Timeout*) result TIMEOUT "$name" "past ctest's --timeout 240" ;;
    *) result FAIL "$name" "$state: $(grep -E "^$num: \[  (ERROR|FAILED) +\]" "$out/ctest-gpu.txt" | cut -d' ' -f2- | head -3 | tr '\n' ';' | cut -c1-400)" ;;
  esac
done < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#([0-9]+): ([a-z_0-9]+) \.*[ *]*([A-Za-z*]+( Run)?).*/\1 \2 \3/p' "$out/ctest-gpu.txt")
[ -n "$ctest_rc" ] || result TIMEOUT "ctest -L gpu" "no exit status (the step ran out of time)"

# ---- train and stream on the GPU against the CPU ----
step "train and stream: --device cuda against --device cpu"
work="$build/gpu-cli"
mkdir -p "$work"
python3 - "$work" <<'EOF' >>"$out/cli.txt" 2>&1
import random, sys
random.seed(7)
d = 16
with open(sys.argv[1] + "/ols.csv", "w") as f, open(sys.argv[1] + "/logit.csv", "w") as g:
    head = ",".join(["y"] + [f"x{j}" for j in range(d)]) + "\n"
    f.write(head); g.write(head)
    for i in range(300000):
        x = [random.gauss(j % 5, 1 + j % 3) for j in range(d)]
        t = 0.5 + sum((0.3 if j % 2 else -0.2) * v for j, v in enumerate(x)) - 0.1 * sum(range(5))
        f.write(",".join([repr(t + random.gauss(0, 1))] + [repr(v) for v in x]) + "\n")
        g.write(",".join(["1" if random.random() < 1 / (1 + 2.718281828 ** -t) else "0"] + [repr(v) for v in x]) + "\n")
EOF
compare() { # compare NAME a.json b.json tol
  python3 - "$@" <<'EOF'
import json, math, sys
name, a, b, tol = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), float(sys.argv[4])
def flat(m):
    c = m["coefficients"]; i = m["intercept"]
    c = [v for row in c for v in row] if c and isinstance(c[0], list) else list(c)
    return c + (i if isinstance(i, list) else [i])
x, y = flat(a), flat(b)
err = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y))) / max(math.sqrt(sum(q * q for q in y)), 1e-300)
print(f"{name}: relative difference cuda vs cpu {err:.3e} (tolerance {tol:g})")
sys.exit(0 if err <= tol and len(x) == len(y) else 1)
EOF
}
cli_case() { # cli_case NAME TOL -- streamfit arguments (OUT marks the model path)
  local name="$1" tol="$2"
  shift 3
  local args_cuda=() args_cpu=()
  for a in "$@"; do
    args_cuda+=("${a//OUT/$work/$name.cuda.json}")
    args_cpu+=("${a//OUT/$work/$name.cpu.json}")
  done
  {
    echo "== $name: streamfit ${args_cuda[*]} --device cuda"
    timeout 120 "$sf" "${args_cuda[@]}" --device cuda >"$work/$name.cuda.log" 2>&1
    echo "exit $?"
    tail -25 "$work/$name.cuda.log"
    echo "== $name: same with --device cpu"
    timeout 120 "$sf" "${args_cpu[@]}" --device cpu 2>&1 | tail -8
  } >>"$out/cli.txt" 2>&1
  if [ ! -s "$work/$name.cuda.json" ]; then
    gpu_fail "$name" "no model from --device cuda: $(tail -1 "$work/$name.cuda.log" | cut -c1-200)"
  elif compare "$name" "$work/$name.cuda.json" "$work/$name.cpu.json" "$tol" >>"$out/cli.txt" 2>&1; then
    result PASS "$name" "$(tail -1 "$out/cli.txt")"
  else
    result FAIL "$name" "$(tail -1 "$out/cli.txt")"
  fi
}
rm -f "$work"/*.json
cli_case train-ols-longley 1e-9 -- train --verbose --model ols --input "$root/tests/data/nist/Longley.csv" --out OUT
cli_case train-ols-300k 1e-9 -- train --verbose --model ols --input "$work/ols.csv" --out OUT
cli_case train-logistic-breast-cancer 1e-8 -- train --verbose --model logistic --standardize --lambda 1e-2 \
  --input "$root/tests/data/real/breast_cancer.csv" --out OUT
cli_case stream-ols-file 1e-9 -- stream --source "file:$work/ols.csv" --model ols \
  --warmup-rows 10000 --batch-rows 20000 --model-out OUT --metrics-out "$work/stream-ols.jsonl"
cli_case stream-logistic-file 1e-8 -- stream --source "file:$work/logit.csv" --model logistic \
  --warmup-rows 10000 --batch-rows 20000 --model-out OUT --metrics-out "$work/stream-logit.jsonl"

# ---- the benchmark: GPU against the CPU backend on all cores ----
if [ "${SF_GPU_BENCH:-1}" != 0 ]; then
  step "streamfit_gpu_bench"
  if [ -n "${SF_GPU_BENCH_ARGS:-}" ]; then
    bench_args="$SF_GPU_BENCH_ARGS"
  elif [ "${SF_GPU_BENCH_FULL:-0}" = 1 ]; then
    bench_args=""
  else
    bench_args="--features 64,1024 --rows 2000000 --repeat 1"
  fi
  # shellcheck disable=SC2086 # the arguments are meant to split
  timeout 240 "$build/streamfit_gpu_bench" $bench_args --out "$out/gpu_bench.jsonl" \
    >"$out/gpu_bench.md" 2>&1
  bench_rc=$?
  cat "$out/gpu_bench.md"
  case "$bench_rc" in
    0) result PASS gpu_bench "$(grep -c '' "$out/gpu_bench.jsonl" 2>/dev/null) result lines (args: ${bench_args:-defaults})" ;;
    124) result TIMEOUT gpu_bench "past 240 s (args: ${bench_args:-defaults})" ;;
    *) result FAIL gpu_bench "exit $bench_rc: $(tail -1 "$out/gpu_bench.md" | cut -c1-200)" ;;
  esac
fi

# ---- the rest of the suite, --device auto meaning the GPU (informative) ----
step "ctest -LE gpu|notebooks"
timeout 200 "$ctest_bin" --test-dir "$build" -LE "gpu|notebooks" --timeout 150 -j 4 \
  --output-on-failure >"$out/ctest-rest.txt" 2>&1
rest_rc=$?
summary="$(grep -E 'tests passed|tests failed' "$out/ctest-rest.txt" | tail -1)"
case "$rest_rc" in
  0) result PASS rest-of-suite "$summary" ;;
  124) result TIMEOUT rest-of-suite "past 200 s" ;;
  *) result FAIL rest-of-suite "$summary: $(grep -E '\(Failed\)|\(Timeout\)' "$out/ctest-rest.txt" | tr -s ' ' | tr '\n' ';' | cut -c1-300)" ;;
esac

[ "$failed" = 0 ] || exit 1
exit 0
