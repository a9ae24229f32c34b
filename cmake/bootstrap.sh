#!/usr/bin/env bash
# bootstrap.sh — set up a fresh Debian/Ubuntu machine, build, and run.
#
#   bash cmake/bootstrap.sh demo            build, then stream from an embedded Kafka broker and
#                                           train on a shipped example file
#   bash cmake/bootstrap.sh test            build, then run the whole test suite (ctest)
#   bash cmake/bootstrap.sh test --sanitize the same, built with AddressSanitizer + UBSan
#   bash cmake/bootstrap.sh fuzz            build the libFuzzer targets with clang (and the
#                                           sanitizers), replay their corpora, then fuzz each
#                                           for SF_FUZZ_SECONDS (default 60)
#
# Missing system packages are installed with apt-get (as root, or through sudo).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="${1:-}"
shift || true
sanitize=""
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize="address,undefined" ;;
    *) echo "bootstrap.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done
case "$mode" in
  demo|test|build|fuzz) ;;
  *) echo "usage: bash cmake/bootstrap.sh demo|test|build|fuzz [--sanitize]" >&2; exit 2 ;;
esac

packages=(build-essential cmake pkg-config python3 libopenblas-dev liblapacke-dev libcjson-dev
          libfast-float-dev libfmt-dev librdkafka-dev kcat libcmocka-dev libbenchmark-dev
          libopenmpi-dev openmpi-bin iproute2
          libmicrohttpd-dev libjs-chart.js curl prometheus chromium)

install_missing_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bootstrap: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  local dir="$1"
  local jobs
  jobs="$(nproc)"
  local flags=(-DCMAKE_BUILD_TYPE=Release)
  if [ -n "$sanitize" ]; then
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMFIT_SANITIZE="$sanitize")
  fi
  cmake -S "$root" -B "$dir" "${flags[@]}" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  grep -A7 "streamfit .* configuration" "$dir.configure.log" || true
  cmake --build "$dir" -j "$jobs"
}

demo() {
  local sf="$1/streamfit" out="$1/demo"
  mkdir -p "$out"
  echo
  echo "== streamfit info"
  "$sf" info
  echo
  echo "== stream: development Kafka broker + data feed in this process, logistic regression,"
  echo "   warm-up on 10000 records, then test-then-train on every micro-batch (20 s)"
  local http=()
  if "$sf" info | grep -q "http=on"; then
    echo "   live page: open the URL printed below (it stays up 60 s after the run; Ctrl-C ends)"
    http=(--http "${SF_DEMO_HTTP:-0}" --http-linger 60)
  fi
  "$sf" stream --broker embedded --model logistic --feed-rate 50000 --batch-ms 250 \
    --max-ms 20000 --refit-every 20 --metrics-out "$out/metrics.jsonl" \
    --model-out "$out/stream.model.json" "${http[@]}"
  echo "per-batch metrics: $out/metrics.jsonl (last line below); model: $out/stream.model.json"
  tail -n 1 "$out/metrics.jsonl"
  echo
  echo "== train on a file: logistic regression on breast_cancer.csv (569 x 30), standardized"
  local data="$root/tests/data/real/breast_cancer.csv"
  "$sf" train --model logistic --standardize --lambda 1e-2 --input "$data" \
    --out "$out/breast_cancer.model.json" --verbose
  "$sf" eval --model-file "$out/breast_cancer.model.json" --input "$data"
}

if [ "$mode" = fuzz ]; then
  # libFuzzer comes with Debian's clang (libclang-rt-*-dev); clang's OpenMP is libomp.
  packages+=(clang libclang-rt-14-dev libomp-dev)
fi
install_missing_packages
if [ "$mode" = fuzz ]; then
  dir="$root/build-fuzz"
  export ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  CC=clang CXX=clang++ cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTREAMFIT_FUZZ=ON -DSTREAMFIT_SANITIZE=address,undefined -DSTREAMFIT_CUDA=OFF \
    -DSTREAMFIT_BENCH=OFF -DBUILD_TESTING=OFF -DSTREAMFIT_FUZZ_SECONDS="${SF_FUZZ_SECONDS:-60}" \
    >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$(nproc)"
  ctest --test-dir "$dir" -L fuzz-regress --output-on-failure
  ctest --test-dir "$dir" -L '^fuzz$' --output-on-failure -j "$(nproc)"
  exit 0
fi
if [ -n "$sanitize" ]; then
  builddir="$root/build-sanitize"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
  builddir="$root/build"
fi
build "$builddir"
case "$mode" in
  demo) demo "$builddir" ;;
  test) ctest --test-dir "$builddir" --output-on-failure -j "$(nproc)" ;;
  build) ;;
esac
