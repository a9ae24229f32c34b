#!/usr/bin/env python3
"""test_mpi_train.py — `mpirun -np N streamfit train` against the one-process fit.

Usage: test_mpi_train.py STREAMFIT DATA_DIR [--launcher-prefix CMD] [--mpirun-args ARGS]

  * NIST StRD linear sets under -np 1, 2, 3: LRE >= 9 on every coefficient (Filip >= 7).
  * A generated 200,000-row file: OLS, ridge, logistic, softmax under -np 1, 2, 3 equal
    to the fit without mpirun (relative 1e-12 least squares, 1e-9 classifiers).
  * A rank with no rows; bad records on several ranks reported with the file's line
    numbers; --on-error fail on a record only the last rank reads: status 1.
Exits 77 when mpirun is not installed or the build has no MPI.
With --launcher-prefix/--mpirun-args the same checks run across hosts (test_mpi_netns.sh).
"""
import json, math, os, random, shlex, shutil, subprocess, sys, tempfile

sf, data = sys.argv[1], sys.argv[2]
prefix, extra = [], []
if "--launcher-prefix" in sys.argv:
    prefix = shlex.split(sys.argv[sys.argv.index("--launcher-prefix") + 1])
if "--mpirun-args" in sys.argv:
    extra = shlex.split(sys.argv[sys.argv.index("--mpirun-args") + 1])
quick = "--quick" in sys.argv
mpirun = shutil.which("mpirun")
if not mpirun:
    print("SKIP: mpirun not found (apt-get install openmpi-bin)")
    sys.exit(77)
info = subprocess.run([sf, "info"], capture_output=True, text=True).stdout
if "mpi: on" not in info:
    print("SKIP: this build has no MPI (STREAMFIT_MPI)")
    sys.exit(77)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
tmp = tempfile.mkdtemp(prefix="sf_mpi_")
failures = []


def run(np_, args, expect=0):
    cmd = ([sf] if np_ == 0 else prefix + [mpirun, "--oversubscribe", "--allow-run-as-root",
                                            "-np", str(np_)] + extra + [sf]) + args
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if (r.returncode == 0) != (expect == 0):
        failures.append("%s: status %d\n%s" % (" ".join(cmd), r.returncode, r.stderr[-2000:]))
    return r


def params(path):
    m = json.load(open(path))
    out = []
    for v in (m["coefficients"], m["intercept"]):
        for x in (v if isinstance(v, list) else [v]):
            out += x if isinstance(x, list) else [x]
    return out


def rel(a, b):
    num = math.sqrt(sum((p - q) ** 2 for p, q in zip(a, b)))
    return num / max(math.sqrt(sum(p * p for p in a)), 1e-300)


# NIST StRD: certified digits under every N
for name in ["Longley", "Norris", "Pontius", "NoInt1", "Filip", "Wampler1", "Wampler2",
             "Wampler3", "Wampler4", "Wampler5"]:
    ref = json.load(open(os.path.join(data, "nist", name + ".json")))
    args = ["train", "--model", "ols", "--input", os.path.join(data, "nist", name + ".csv"),
            "--out", os.path.join(tmp, "n.json")] + ([] if ref["intercept"] else ["--no-intercept"])
    need = 7 if name == "Filip" else 9
    for np_ in (1, 2, 3):
        if run(np_, args).returncode != 0:
            continue
        m = json.load(open(os.path.join(tmp, "n.json")))
        got = ([m["intercept"]] if ref["intercept"] else []) + m["coefficients"]
        lre = min(15.0 if g == c else min(15.0, -math.log10(abs(g - c) / abs(c)))
                  for g, c in zip(got, ref["coefficients"]))
        print("NIST %-8s -np %d: min LRE %.2f" % (name, np_, lre))
        if lre < need:
            failures.append("NIST %s -np %d: min LRE %.2f < %d" % (name, np_, lre, need))

# A generated file: y (least squares), c (0/1), k (3 classes), 8 features.
rng = random.Random(12)
rows = 20000 if quick else 200000
gen = os.path.join(tmp, "gen.csv")
with open(gen, "w") as f:
    f.write("y,c,k," + ",".join("x%d" % j for j in range(8)) + "\n")
    for i in range(rows):
        x = [rng.gauss(j, j + 1) for j in range(8)]
        t = sum((0.3 * (j % 3) - 0.2) * x[j] for j in range(8)) + 0.5
        c = 1 if rng.random() < 1 / (1 + math.exp(-t)) else 0
        k = min(2, max(0, int(round(t / 3 + 1 + rng.gauss(0, 0.5)))))
        f.write("%.17g,%d,%d," % (t + rng.gauss(0, 0.5), c, k) + ",".join("%.17g" % v for v in x) + "\n")
drop = {"y": ["c", "k"], "c": ["y", "k"], "k": ["y", "c"]}
cases = [("ols", "y", [], 1e-12), ("ridge", "y", ["--lambda", "0.5"], 1e-12),
         ("logistic", "c", ["--lambda", "1e-3"], 1e-9), ("softmax", "k", ["--lambda", "1e-3"], 1e-9)]
for model, label, more, tol in cases:
    src = os.path.join(tmp, "gen_%s.csv" % label)
    with open(gen) as fi, open(src, "w") as fo:  # the other labels are not features
        cols = None
        for line in fi:
            v = line.rstrip("\n").split(",")
            if cols is None:
                cols = [i for i, n in enumerate(v) if n not in drop[label]]
            fo.write(",".join(v[i] for i in cols) + "\n")
    args = ["train", "--model", model, "--label", label, "--input", src, "--threads", "1"] + more
    run(0, args + ["--out", os.path.join(tmp, "one.json")])
    one = params(os.path.join(tmp, "one.json"))
    for np_ in (1, 2, 3):
        out = os.path.join(tmp, "m%d.json" % np_)
        if run(np_, args + ["--out", out]).returncode != 0:
            continue
        e = rel(one, params(out))
        print("%-8s -np %d: relative difference from one process %.2e (tolerance %g)" % (model, np_, e, tol))
        if not e <= tol:
            failures.append("%s -np %d: relative difference %.3e > %g" % (model, np_, e, tol))
        if json.load(open(out))["rows_seen"] != rows:
            failures.append("%s -np %d: rows_seen is not %d" % (model, np_, rows))

# A rank with no rows: one line longer than a third of the data.
lone = os.path.join(tmp, "lone.csv")
with open(lone, "w") as f:
    f.write("y,x\n1.5," + "0" * 30000 + "1\n")
    for i in range(2, 8):
        f.write("%d.25,%d\n" % (2 * i + 1, i))
run(0, ["train", "--model", "ols", "--input", lone, "--out", os.path.join(tmp, "l0.json")])
r = run(3, ["train", "--model", "ols", "--input", lone, "--out", os.path.join(tmp, "l3.json")])
if r.returncode == 0:
    e = rel(params(os.path.join(tmp, "l0.json")), params(os.path.join(tmp, "l3.json")))
    print("a rank with no rows: relative difference %.2e" % e)
    if not e <= 1e-12:
        failures.append("a rank with no rows: relative difference %.3e" % e)

# Bad records on several ranks, with the file's line numbers.
bad_lines = [5, rows // 2 + 7, rows - 3]  # 1-based data lines; +1 for the header
src = os.path.join(tmp, "gen_y.csv")
bad = os.path.join(tmp, "bad.csv")
with open(src) as fi, open(bad, "w") as fo:
    for n, line in enumerate(fi, start=1):
        fo.write("oops,1\n" if n - 1 in bad_lines else line)
r = run(3, ["train", "--model", "ols", "--label", "y", "--input", bad, "--out", os.path.join(tmp, "b.json")])
for n in bad_lines:
    if "line %d:" % (n + 1) not in r.stderr:
        failures.append("bad record at line %d not reported:\n%s" % (n + 1, r.stderr))
if "skipped 3 bad records" not in r.stderr:
    failures.append("bad-record total missing:\n" + r.stderr)
print("bad records on 3 ranks:", " | ".join(l for l in r.stderr.splitlines() if "line" in l or "skipped" in l))

# --on-error fail on a record only the last rank reads.
last = os.path.join(tmp, "last.csv")
with open(src) as fi, open(last, "w") as fo:
    for n, line in enumerate(fi, start=1):
        fo.write("oops,1\n" if n == rows - 1 else line)
r = run(3, ["train", "--model", "ols", "--label", "y", "--input", last, "--on-error", "fail",
            "--out", os.path.join(tmp, "f.json")], expect=1)
if r.returncode != 1 or "line %d:" % (rows - 1) not in r.stderr or os.path.exists(os.path.join(tmp, "f.json")):
    failures.append("--on-error fail on the last rank: status %d\n%s" % (r.returncode, r.stderr))
print("--on-error fail on rank 2: status %d" % r.returncode)

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print("FAILED:\n" + "\n".join(failures))
    sys.exit(1)
print("all MPI train checks passed")
