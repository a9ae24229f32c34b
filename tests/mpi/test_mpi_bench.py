#!/usr/bin/env python3
"""test_mpi_bench.py — `streamfit bench --platforms mpi:N, mpi:NxT` under mpirun.

Usage: test_mpi_bench.py STREAMFIT

  * cpu1,mpi:2x1 (and mpi:1x1, mpi:3) on 20000 x 8 rows, OLS, logistic and
    softmax: every platform reads the same CSV (parse, transfer, solve phases),
    the mpi rows name their hosts, count the MPI traffic, and give the same
    model and holdout quality as cpu1; the JSON, CSV and table carry them.
  * procsN runs as mpi:Nx1 with a deprecation notice.
  * Bad specs (mpi:0, mpi:2x, mpi:abc) and a PATH without mpirun: exit 2.
Exits 77 when mpirun is not installed or the build has no MPI.
"""
import csv, io, json, os, shutil, socket, subprocess, sys, tempfile

sf = os.path.abspath(sys.argv[1])
if not shutil.which("mpirun"):
    print("SKIP: mpirun not found (apt-get install openmpi-bin)")
    sys.exit(77)
if "mpi: on" not in subprocess.run([sf, "info"], capture_output=True, text=True).stdout:
    print("SKIP: this build has no MPI (STREAMFIT_MPI)")
    sys.exit(77)
tmp = tempfile.mkdtemp(prefix="sf_mpi_bench_")
SMALL = ["--rows", "20000", "--features", "8", "--repeat", "2"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def bench(*args, env=None):
    return subprocess.run([sf, "bench", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def bench_json(*args):
    out = os.path.join(tmp, "bench.json")
    r = bench(*args, "--format", "json", "--out", out)
    if not check(r.returncode == 0, "bench %s: status %d\n%s" % (args, r.returncode, r.stderr)):
        return None, r
    with open(out) as f:
        return json.load(f), r


def rel(a, b):
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))


def check_mpi_row(p, ranks, ref, quality_keys, tol, what):
    if not check(p["status"] == "ok", "%s: %s" % (what, p["status"])):
        return
    check(p["processes"] == ranks, "%s: processes %s" % (what, p["processes"]))
    ph = p["phases"]
    for name in ("parse", "transfer", "solve", "predict", "wall"):
        check(ph[name] is not None and len(ph[name]["runs"]) == 2, "%s: phase %s" % (what, name))
    check(ph["wall"]["median"] > 0, "%s: wall" % what)
    check(p["hosts"] and socket.gethostname() in p["hosts"] and
          ("(%d rank%s)" % (ranks, "" if ranks == 1 else "s")) in p["hosts"],
          "%s: hosts %r" % (what, p["hosts"]))
    m = p["mpi"]
    if check(m is not None, "%s: no mpi object" % what):
        check(m["d2_bound_bytes_per_iteration"] > 0, "%s: bound" % what)
        check(m["seconds_in_mpi_max"] >= 0, "%s: seconds" % what)
        if ranks > 1:
            check(m["bytes_sent_all_ranks"] > 0, "%s: no bytes sent" % what)
            # Rows never move: each rank sends O(d^2) per iteration, not O(rows).
            check(m["bytes_per_rank_per_iteration"] < 4 * m["d2_bound_bytes_per_iteration"],
                  "%s: %s bytes per iteration" % (what, m["bytes_per_rank_per_iteration"]))
    check(rel(p["coefficients"], ref["coefficients"]) < tol, "%s: coefficients differ" % what)
    for k in quality_keys:
        check(abs(p["quality"][k] - ref["quality"][k]) < 1e-9,
              "%s: %s %s vs %s" % (what, k, p["quality"][k], ref["quality"][k]))


for workload, keys, tol, extra in (("ols", ["rmse", "r2"], 1e-12, []),
                                   ("logistic", ["accuracy", "log_loss"], 1e-9,
                                    ["--lambda", "1e-4"]),
                                   ("softmax", ["accuracy", "log_loss"], 1e-9, [])):
    doc, _ = bench_json("--workload", workload, *SMALL, "--platforms", "cpu1,mpi:2x1,mpi:3",
                        *extra)
    if not doc:
        continue
    plats = {p["name"]: p for p in doc["platforms"]}
    check([p["name"] for p in doc["platforms"]] == ["cpu1", "mpi:2x1", "mpi:3"], workload)
    check(plats["cpu1"]["phases"]["parse"] is not None, "cpu1 parses the CSV")
    check(plats["cpu1"]["hosts"] is None and plats["cpu1"]["mpi"] is None, "cpu1: no mpi")
    check(plats["mpi:2x1"]["threads"] == 2, "mpi:2x1 threads %s" % plats["mpi:2x1"]["threads"])
    check_mpi_row(plats["mpi:2x1"], 2, plats["cpu1"], keys, tol, workload + " mpi:2x1")
    check_mpi_row(plats["mpi:3"], 3, plats["cpu1"], keys, tol, workload + " mpi:3")

# One rank, --input with a header-less file, the table and CSV outputs.
data = os.path.join(tmp, "in.csv")
with open(data, "w") as f:
    for i in range(3000):
        a, b = (i % 7) / 7.0, ((i * 13) % 11) / 11.0
        f.write("%.17g,%.17g,%.17g\n" % (1 + 2 * a - b + ((i * 31) % 5 - 2) * 0.01, a, b))
doc, _ = bench_json("--workload", "ols", "--input", data, "--no-header", "--repeat", "1",
                    "--platforms", "cpu1,mpi:1x1,mpi:2x1")
if doc:
    plats = {p["name"]: p for p in doc["platforms"]}
    for name, n in (("mpi:1x1", 1), ("mpi:2x1", 2)):
        p = plats[name]
        if check(p["status"] == "ok", "--input %s: %s" % (name, p["status"])):
            check(rel(p["coefficients"], plats["cpu1"]["coefficients"]) < 1e-12, "--input " + name)
            check(p["threads"] == n, "%s threads" % name)
r = bench("--workload", "ols", *SMALL, "--platforms", "cpu1,mpi:2x1", "--format", "csv")
if check(r.returncode == 0, "csv: %s" % r.stderr):
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    check(rows[1]["platform"] == "mpi:2x1" and socket.gethostname() in rows[1]["hosts"] and
          float(rows[1]["mpi_bytes_sent"]) > 0 and float(rows[1]["parse_s"]) > 0, "csv row")
r = bench("--workload", "logistic", *SMALL, "--platforms", "mpi:2x1", "--format", "table")
check(r.returncode == 0 and "mpi:2x1 on %s (2 ranks)" % socket.gethostname() in r.stdout and
      "iterations" in r.stdout and "d^2 bound" in r.stdout, "table: %s %s" % (r.stdout, r.stderr))

# procsN: the MPI platform under its old name.
r = bench("--workload", "ols", *SMALL, "--platforms", "procs2", "--format", "csv")
check(r.returncode == 0 and "deprecated" in r.stderr and "mpi:2x1" in r.stdout,
      "procs2 alias: %s" % r.stderr)

# Usage errors: exit 2 with a message.
for spec in ("mpi:0", "mpi:2x", "mpi:abc", "mpi:x2", "mpi:2x1x1"):
    r = bench("--workload", "ols", "--rows", "100", "--features", "2", "--platforms", spec)
    check(r.returncode == 2 and "mpi:N or mpi:NxT" in r.stderr, "%s: %d %s" %
          (spec, r.returncode, r.stderr))
no_mpirun = dict(os.environ, PATH="/nonexistent")
r = bench("--workload", "ols", "--rows", "100", "--features", "2", "--platforms", "cpu,mpi:2",
          env=no_mpirun)
check(r.returncode == 2 and "mpirun" in r.stderr, "no mpirun: %d %s" % (r.returncode, r.stderr))

shutil.rmtree(tmp, ignore_errors=True)
for f in failures:
    print("FAIL:", f)
print("test_mpi_bench: %s" % ("%d failures" % len(failures) if failures else "ok"))
sys.exit(1 if failures else 0)
