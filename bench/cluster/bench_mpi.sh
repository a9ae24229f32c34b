#!/usr/bin/env bash
# bench_mpi.sh — 1M x 32 OLS and logistic from CSV with N MPI ranks x T threads
# against one process with all threads (run on a quiet machine, or in a Slurm
# allocation: sbatch --nodes=N bench/cluster/bench_mpi.sh). For each model:
# wall time of `streamfit train` (parse included), the parallel efficiency
# t1 / (N tN), and the bytes each rank sent and its seconds in MPI calls
# (--verbose prints them per rank), against the d^2 bound.
#   bench/cluster/bench_mpi.sh [ROWS] [FEATURES] [RANKS...]
set -euo pipefail
rows="${1:-1000000}" d="${2:-32}"
shift 2 || true
ranks=("${@:-1 2}")
sf="${STREAMFIT:-build/streamfit}"
dir="${BENCH_DIR:-/tmp/streamfit-bench-mpi}"
mkdir -p "$dir"
csv="$dir/data_${rows}x${d}.csv"
[ -s "$csv" ] || python3 - "$csv" "$rows" "$d" <<'PY'
import random, math, sys
path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(1)
w = [r.uniform(-1, 1) for _ in range(d)]
with open(path, "w") as f:
    f.write("y,c," + ",".join("x%d" % j for j in range(d)) + "\n")
    for _ in range(n):
        x = [r.gauss(0, 1) for _ in range(d)]
        t = sum(a * b for a, b in zip(w, x))
        c = 1 if r.random() < 1 / (1 + math.exp(-t)) else 0
        f.write("%.10g,%d," % (t + r.gauss(0, 1), c) + ",".join("%.10g" % v for v in x) + "\n")
PY
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores="$(nproc)"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$dir/last.err"; e=$(date +%s.%N); echo "$e - $s" | bc; }
for model in ols logistic; do
  [ "$model" = ols ] && args=(--label y) || args=(--label c --lambda 1e-4)
  drop=(); [ "$model" = ols ] && label=y || label=c
  base=(train --model "$model" "${args[@]}" --input "$csv" --out "$dir/m.json")
  tcpu=$(t "$sf" "${base[@]}" --threads "$cores")
  echo "$model cpu (1 process x $cores threads): ${tcpu}s"
  declare -A tn=()
  for n in ${ranks[@]}; do
    tn[$n]=$(t mpirun --oversubscribe -np "$n" "$sf" "${base[@]}" --threads 1 --verbose)
    grep -h "MPI:" "$dir/last.err" || true
    echo "$model mpi:${n}x1: ${tn[$n]}s"
  done
  t1="${tn[1]:-}"
  for n in ${ranks[@]}; do
    [ -n "$t1" ] && echo "$model mpi:${n}x1 speed-up $(echo "$t1 / ${tn[$n]}" | bc -l | cut -c1-5)," \
      "efficiency $(echo "$t1 / ($n * ${tn[$n]})" | bc -l | cut -c1-5), vs cpu $(echo "$tcpu / ${tn[$n]}" | bc -l | cut -c1-5)"
  done
  unset tn
done
