#!/usr/bin/env bash
# bench_mpi.sh — OLS and logistic (1M x 32 by default) from one CSV on
# mpi:1x1, mpi:Nx1 ... and cpu (one process, all threads), with
# `streamfit bench` (run on a quiet machine, or in a Slurm allocation:
# sbatch --nodes=N bench/cluster/bench_mpi.sh; mpirun takes the allocation's
# hosts). Every platform parses the same CSV (parse is a phase of wall). For
# each model: the JSON of the run, then per platform the wall (median and
# fastest repeat), the speed-up and parallel efficiency t1 / (N tN) against
# mpi:1x1 and the ratio to cpu (by each), the bytes each rank sent per
# iteration against the d^2 bound and the seconds in MPI calls; the load
# average is printed beside them.
#   bench/cluster/bench_mpi.sh [ROWS] [FEATURES] [RANKS...]      (RANKS default: 1 2)
# Environment: STREAMFIT (default build/streamfit), BENCH_DIR (where the JSON
# and the generated CSV go, default /tmp/streamfit-bench-mpi; across nodes it
# must be a directory every node sees at the same path), REPEAT (default 5).
set -euo pipefail
rows="${1:-1000000}" d="${2:-32}"
shift 2 || true
ranks=("$@")
[ ${#ranks[@]} -gt 0 ] || ranks=(1 2)
sf="${STREAMFIT:-build/streamfit}"
dir="${BENCH_DIR:-/tmp/streamfit-bench-mpi}"
mkdir -p "$dir"
export TMPDIR="$dir" # streamfit bench writes the generated CSV there, for every rank to read
platforms=""
for n in "${ranks[@]}"; do platforms+="mpi:${n}x1,"; done
platforms+="cpu"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for model in ols logistic; do
  lambda=()
  [ "$model" = logistic ] && lambda=(--lambda 1e-4)
  out="$dir/bench_mpi_${model}_${rows}x${d}.json"
  "$sf" bench --workload "$model" --rows "$rows" --features "$d" "${lambda[@]}" \
    --repeat "${REPEAT:-5}" --platforms "$platforms" --format json --out "$out"
  python3 - "$out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
plats = {p["name"]: p for p in doc["platforms"]}
def wall(p, k):  # k: "median" or "min"
    return p["phases"]["wall"][k] if p.get("status") == "ok" else float("nan")
print("%s %s x %s, load average %s" % (doc["workload"]["name"], doc["workload"]["rows"],
      doc["workload"]["features"], " ".join("%.2f" % v for v in doc["machine"]["load_average"])))
for p in doc["platforms"]:
    if p["status"] != "ok":
        print("  %-8s %s" % (p["name"], p["status"]))
        continue
    n, ph = p["processes"], p["phases"]
    print("  %-8s wall %7.1f ms median, %7.1f min (parse %6.1f, transfer %6.1f, solve %6.1f)" % (
        p["name"], wall(p, "median") * 1e3, wall(p, "min") * 1e3, ph["parse"]["median"] * 1e3,
        ph["transfer"]["median"] * 1e3, ph["solve"]["median"] * 1e3))
    if not p["name"].startswith("mpi:"):
        continue
    for k in ("median", "min"):
        t1, t, tcpu = wall(plats.get("mpi:1x1", {}), k), wall(p, k), wall(plats["cpu"], k)
        print("           by %-6s speed-up %.2fx, efficiency t1/(N tN) %.2f, cpu/mpi %.2f" % (
            k, t1 / t, t1 / (n * t), tcpu / t))
    m = p["mpi"]
    print("           %.0f B per rank per iteration (d^2 bound %.0f B), %d iterations, "
          "%.1f ms in MPI calls (slowest rank), hosts: %s" % (
              m["bytes_per_rank_per_iteration"], m["d2_bound_bytes_per_iteration"],
              m["iterations"], m["seconds_in_mpi_max"] * 1e3, p["hosts"]))
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
