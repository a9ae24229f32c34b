#!/usr/bin/env bash
# bench_mpi.sh — OLS and logistic (1M x 32 by default) from one CSV on
# mpi:1x1, mpi:Nx1 ... and cpu (one process, all threads), with
# `streamfit bench` (run on a quiet machine, or in a Slurm allocation:
# sbatch --nodes=N bench/cluster/bench_mpi.sh; mpirun takes the allocation's
# hosts). Every platform parses the same CSV (parse is a phase of wall). For
# each model: the JSON of the run, then per platform the median wall, the
# speed-up and parallel efficiency t1 / (N tN) against mpi:1x1, the ratio to
# cpu, the bytes each rank sent per iteration against the d^2 bound and the
# seconds in MPI calls; the load average is printed beside them.
#   bench/cluster/bench_mpi.sh [ROWS] [FEATURES] [RANKS...]      (RANKS default: 1 2)
# Environment: STREAMFIT (default build/streamfit), BENCH_DIR (where the JSON
# and the generated CSV go, default /tmp/streamfit-bench-mpi; across nodes it
# must be a directory every node sees at the same path), REPEAT (default 3).
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
    --repeat "${REPEAT:-3}" --platforms "$platforms" --format json --out "$out"
  python3 - "$out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
plats = {p["name"]: p for p in doc["platforms"]}
wall = lambda p: p["phases"]["wall"]["median"] if p["status"] == "ok" else float("nan")
t1, tcpu = wall(plats.get("mpi:1x1", {"status": "-"})), wall(plats["cpu"])
print("%s %s x %s, load average %s" % (doc["workload"]["name"], doc["workload"]["rows"],
      doc["workload"]["features"], doc["machine"]["load_average"]))
for p in doc["platforms"]:
    if p["status"] != "ok":
        print("  %-8s %s" % (p["name"], p["status"]))
        continue
    n, t = p["processes"], wall(p)
    line = "  %-8s wall %7.1f ms (parse %6.1f, solve %6.1f)" % (
        p["name"], t * 1e3, p["phases"]["parse"]["median"] * 1e3,
        p["phases"]["solve"]["median"] * 1e3)
    if p["name"].startswith("mpi:"):
        line += "  speed-up %.2fx  efficiency %.2f  vs cpu %.2fx" % (t1 / t, t1 / (n * t), tcpu / t)
        m = p["mpi"]
        line += "  %.0f B/rank/iteration (d^2 bound %.0f B), %.1f ms in MPI  hosts: %s" % (
            m["bytes_per_rank_per_iteration"], m["d2_bound_bytes_per_iteration"],
            m["seconds_in_mpi_max"] * 1e3, p["hosts"])
    print(line)
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
