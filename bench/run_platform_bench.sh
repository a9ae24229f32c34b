#!/usr/bin/env bash
# run_platform_bench.sh — the platform comparison of BENCHMARKS.md on this
# machine: builds streamfit (Release), then for OLS and logistic (lambda
# 1e-4) on 1,000,000 x 32 generated rows runs
#
#   streamfit bench --workload W --rows 1000000 --features 32 --platforms cpu1,cpu,cuda
#                   --peers spark,sklearn,vw --repeat 3 --format json
#                   --out bench/results/platform_W_1Mx32.json
#
# and prints each result as a Markdown table (bench/peers/bench_markdown.py).
# The peers are installed into bench/.venv-peers on first use (pyspark,
# scikit-learn, vowpalwabbit, pandas, numpy from PyPI; Spark needs Java).
# Run it on an otherwise idle machine: the 1-minute load average is printed
# before each workload and kept in the JSON.
#
#   bash bench/run_platform_bench.sh [--rows N] [--features D] [--repeat R]
#                                    [--peers LIST] [--platforms LIST] [--no-build]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rows=1000000
features=32
repeat=3
peers=spark,sklearn,vw
platforms=cpu1,cpu,cuda
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows="$2"; shift 2 ;;
    --features) features="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --peers) peers="$2"; shift 2 ;;
    --platforms) platforms="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "run_platform_bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  bash "$root/cmake/bootstrap.sh" build >&2
fi
sf="$root/build/streamfit"
[ -x "$sf" ] || { echo "run_platform_bench.sh: no $sf (build first)" >&2; exit 1; }

if [ $((rows % 1000000)) -eq 0 ]; then size="$((rows / 1000000))M"
elif [ $((rows % 1000)) -eq 0 ]; then size="$((rows / 1000))k"
else size="$rows"; fi

cd "$root"
mkdir -p bench/results
outs=()
status=0
for workload in ols logistic; do
  out="bench/results/platform_${workload}_${size}x${features}.json"
  cmd=(build/streamfit bench --workload "$workload" --rows "$rows" --features "$features"
       --platforms "$platforms")
  [ -n "$peers" ] && cmd+=(--peers "$peers")
  cmd+=(--repeat "$repeat")
  [ "$workload" = logistic ] && cmd+=(--lambda 1e-4)
  cmd+=(--format json --out "$out")
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  echo "\$ ${cmd[*]}" >&2
  if "${cmd[@]}"; then :; else
    status=$?
    echo "run_platform_bench.sh: streamfit bench exited with $status" >&2
  fi
  [ -f "$out" ] && outs+=("$out")
done
[ ${#outs[@]} -gt 0 ] && python3 bench/peers/bench_markdown.py "${outs[@]}"
exit "$status"
