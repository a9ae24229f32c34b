#!/usr/bin/env python3
"""End-to-end tests of `streamfit bench` (the platform comparison).

Usage: python3 tests/test_bench_cli.py PATH_TO_streamfit

Python standard library only; small runs (20000 rows x 8 features, 2
repeats) on cpu1, cpu and cuda (listed as unavailable where there is no
GPU), all reading the CSV of the generated rows (parse timed), --in-memory,
the three output formats, --input, and the usage errors (the mpi platforms
are tested under tests/mpi/test_mpi_bench.py). Peers are not run (they need large installs); only a peer that
cannot be found is checked, as a row marked unavailable.
Exit status: 0 all passed, 1 a failure, 2 bad usage, 77 skipped (no binary).
"""

import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

BIN = None
TMP = None
TIMEOUT_S = 120
SMALL = ["--rows", "20000", "--features", "8", "--repeat", "2"]


def run(*args, timeout=TIMEOUT_S):
    return subprocess.run([BIN, "bench", *args], capture_output=True, text=True,
                          timeout=timeout)


def bench_json(*args):
    out = os.path.join(TMP, "bench.json")
    if os.path.exists(out):
        os.unlink(out)
    p = run(*args, "--format", "json", "--out", out)
    if p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr}")
    with open(out) as f:
        return json.load(f), p


def rel_diff(a, b):
    assert len(a) == len(b), (len(a), len(b))
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))


def by_name(doc):
    return {p["name"]: p for p in doc["platforms"]}


class BenchWorkloads(unittest.TestCase):
    def check_platform_ok(self, p, doc, quality_keys):
        self.assertEqual(p["status"], "ok", p["status"])
        self.assertEqual(p["repeats"], 2)
        ph = p["phases"]
        for name in ("parse", "transfer", "solve", "predict", "wall"):
            self.assertIsNotNone(ph[name], name)
            self.assertEqual(len(ph[name]["runs"]), 2)
            self.assertLessEqual(ph[name]["min"], ph[name]["median"])
            self.assertLessEqual(ph[name]["median"], ph[name]["max"])
            self.assertGreaterEqual(ph[name]["min"], 0.0)
        # Every platform reads the generated rows' CSV, as the peers do.
        self.assertAlmostEqual(ph["wall"]["runs"][0], ph["parse"]["runs"][0] +
                               ph["transfer"]["runs"][0] + ph["solve"]["runs"][0], places=12)
        self.assertGreater(p["rows_per_s"], 0)
        self.assertGreater(p["gb_per_s"], 0)
        self.assertGreater(p["peak_mib"], 0)
        self.assertEqual(sorted(p["quality"]), sorted(quality_keys))
        self.assertGreater(p["speedup"], 0)
        d, K = doc["workload"]["features"], doc["workload"]["classes"]
        outs = K if doc["workload"]["name"] == "softmax" else 1
        self.assertEqual(len(p["coefficients"]), outs * (d + 1))

    def check_workload(self, workload, quality_keys, extra=()):
        doc, proc = bench_json("--workload", workload, *SMALL, "--platforms", "cpu1,cpu,cuda",
                               *extra)
        self.assertEqual(proc.stderr, "", "no progress bar or messages when not a terminal")
        plats = by_name(doc)
        self.assertEqual([p["name"] for p in doc["platforms"]], ["cpu1", "cpu", "cuda"])
        for name in ("cpu1", "cpu"):
            self.check_platform_ok(plats[name], doc, quality_keys)
        self.assertEqual(plats["cpu1"]["threads"], 1)
        self.assertEqual(plats["cpu1"]["speedup"], 1.0)
        self.assertEqual(doc["reference"], "cpu1")
        cuda = plats["cuda"]
        if doc["machine"]["gpus"]:
            self.assertIn(cuda["status"], ("ok",), cuda["status"])
        else:
            self.assertTrue(cuda["status"].startswith("unavailable: "), cuda["status"])
            self.assertGreater(len(cuda["status"]), len("unavailable: "))
            self.assertIsNone(cuda["phases"]["wall"])
        # Same data, same model: one thread and all cores agree.
        c1, c = plats["cpu1"], plats["cpu"]
        self.assertLess(rel_diff(c["coefficients"], c1["coefficients"]), 1e-9)
        self.assertLess(c["max_coef_rel_diff"], 1e-9)
        for k in quality_keys:
            self.assertAlmostEqual(c["quality"][k], c1["quality"][k], places=9)
        # The machine, the build, the command line and the date.
        m = doc["machine"]
        self.assertIsInstance(m["cpu"], str)
        self.assertGreaterEqual(m["cores"], 1)
        self.assertGreater(m["memory_gib"], 0)
        self.assertIsInstance(m["gpus"], list)
        self.assertIsInstance(m["devices"], list)
        self.assertIn("gpu_driver", m)
        self.assertEqual(len(m["load_average"]), 3)
        b = doc["build"]
        self.assertRegex(b["version"], r"^\d+\.\d+\.\d+")
        self.assertIsInstance(b["cuda"], bool)
        self.assertIsInstance(b["blas"], str)
        self.assertIn("bench --workload " + workload, doc["command"])
        self.assertRegex(doc["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        w = doc["workload"]
        self.assertEqual((w["rows"], w["features"], w["train_rows"], w["holdout_rows"]),
                         (20000, 8, 16000, 4000))
        return doc

    def test_ols(self):
        doc = self.check_workload("ols", ["rmse", "r2"])
        q = by_name(doc)["cpu"]["quality"]
        self.assertGreater(q["r2"], 0.95)  # y = x.w + 0.5 + N(0, 0.1^2)
        self.assertLess(abs(q["rmse"] - 0.1), 0.01)

    def test_ridge(self):
        self.check_workload("ridge", ["rmse", "r2"], ["--lambda", "10"])

    def test_logistic(self):
        doc = self.check_workload("logistic", ["accuracy", "log_loss"], ["--lambda", "1e-4"])
        q = by_name(doc)["cpu"]["quality"]
        self.assertGreater(q["accuracy"], 0.65)
        self.assertLess(q["log_loss"], 0.69)

    def test_softmax(self):
        doc = self.check_workload("softmax", ["accuracy", "log_loss"], ["--classes", "4"])
        self.assertEqual(doc["workload"]["classes"], 4)
        self.assertGreater(by_name(doc)["cpu"]["quality"]["accuracy"], 0.4)


class BenchInMemory(unittest.TestCase):
    def test_in_memory_rows_are_extra_and_labelled(self):
        doc, _ = bench_json("--workload", "ols", *SMALL, "--platforms", "cpu1,cpu",
                            "--in-memory")
        self.assertEqual([p["name"] for p in doc["platforms"]],
                         ["cpu1", "cpu", "cpu1 (in memory)", "cpu (in memory)"])
        plats = by_name(doc)
        for name in ("cpu1 (in memory)", "cpu (in memory)"):
            p = plats[name]
            self.assertEqual(p["status"], "ok", p["status"])
            self.assertIsNone(p["phases"]["parse"])  # the rows were in memory already
            self.assertAlmostEqual(p["phases"]["wall"]["runs"][0], p["phases"]["transfer"]["runs"][0]
                                   + p["phases"]["solve"]["runs"][0], places=12)
            # The CSV holds the generated rows exactly: the same model.
            self.assertLess(rel_diff(p["coefficients"], plats["cpu1"]["coefficients"]), 1e-12)
            self.assertAlmostEqual(p["quality"]["rmse"], plats["cpu1"]["quality"]["rmse"],
                                   places=12)
        self.assertEqual(doc["reference"], "cpu1")


class BenchFormats(unittest.TestCase):
    def test_csv(self):
        p = run("--workload", "ols", *SMALL, "--platforms", "cpu1,cpu,cuda", "--format", "csv")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = list(csv.DictReader(io.StringIO(p.stdout)))
        self.assertEqual([r["platform"] for r in rows], ["cpu1", "cpu", "cuda"])
        for r in rows[:2]:
            self.assertEqual(r["status"], "ok")
            for k in ("transfer_s", "solve_s", "predict_s", "wall_s", "rows_per_s", "gb_per_s",
                      "peak_mib", "rmse", "r2", "speedup"):
                self.assertGreater(float(r[k]), -1e300, k)
            self.assertGreater(float(r["parse_s"]), 0)
            self.assertEqual(r["hosts"], "")
        self.assertTrue(rows[2]["status"].startswith(("unavailable: ", "ok")))

    def test_table(self):
        p = run("--workload", "logistic", *SMALL, "--platforms", "cpu1,cpu,cuda",
                "--format", "table")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        header = next(l for l in lines if l.startswith("platform"))
        for col in ("transfer ms", "solve ms", "predict ms", "wall ms", "rows/s", "GB/s",
                    "peak MiB", "accuracy", "log_loss", "speed-up", "status"):
            self.assertIn(col, header)
        names = [l.split()[0] for l in lines[lines.index(header) + 1:] if l.split()]
        self.assertEqual(names[:3], ["cpu1", "cpu", "cuda"])
        # Aligned: the status column starts at the same place on every row.
        at = header.index("status")
        for l in lines[lines.index(header) + 1:lines.index(header) + 4]:
            self.assertRegex(l[at:], r"^(ok|unavailable: |skipped: )")

    def test_input_file_has_parse_phase(self):
        path = os.path.join(TMP, "in.csv")
        with open(path, "w") as f:
            f.write("y,a,b,c\n")
            for i in range(5000):
                a, b, c = (i % 7) / 7.0, ((i * 13) % 11) / 11.0, ((i * 29) % 17) / 17.0
                f.write(f"{1 + 2 * a - b + 0.5 * c + ((i * 31) % 5 - 2) * 0.01},{a},{b},{c}\n")
        doc, _ = bench_json("--workload", "ols", "--input", path, "--repeat", "2",
                            "--platforms", "cpu1,cpu")
        self.assertEqual(doc["workload"]["source"], "file")
        self.assertEqual(doc["workload"]["train_rows"], 4000)
        for p in doc["platforms"]:
            self.assertEqual(p["status"], "ok", p["status"])
            ph = p["phases"]
            self.assertIsNotNone(ph["parse"])
            self.assertAlmostEqual(ph["wall"]["runs"][1], ph["parse"]["runs"][1] +
                                   ph["transfer"]["runs"][1] + ph["solve"]["runs"][1], places=12)
        c = by_name(doc)
        self.assertLess(rel_diff(c["cpu"]["coefficients"], c["cpu1"]["coefficients"]), 1e-9)

    def test_missing_peer_is_listed(self):
        doc, _ = bench_json("--workload", "ols", "--rows", "2000", "--features", "3",
                            "--repeat", "1", "--platforms", "cpu", "--peers", "sklearn",
                            "--peers-dir", os.path.join(TMP, "no-such-dir"))
        p = by_name(doc)["sklearn"]
        self.assertEqual(p["kind"], "peer")
        self.assertTrue(p["status"].startswith("unavailable: "), p["status"])


class BenchUsage(unittest.TestCase):
    def test_help(self):
        p = run("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("Usage: streamfit bench", p.stdout)
        for flag in ("--workload", "--platforms", "--repeat", "--holdout", "--peers",
                     "--format", "--out", "--in-memory", "mpi:N", "mpi:NxT"):
            self.assertIn(flag, p.stdout)

    def test_stream_workload_points_to_stream_bench(self):
        p = run("--workload", "stream", "--rows", "100", "--features", "2")
        self.assertEqual(p.returncode, 2)
        self.assertIn("bench/run_stream_bench.sh", p.stderr)

    def test_invalid_flags_exit_2(self):
        base = ["--rows", "100", "--features", "2"]
        cases = [
            ["--workload", "nope", *base],
            [*base],
            ["--workload", "ols"],
            ["--workload", "ols", "--rows", "0", "--features", "2"],
            ["--workload", "ols", "--rows", "100", "--features", "x"],
            ["--workload", "ols", *base, "--platforms", "cpu,tpu"],
            ["--workload", "ols", *base, "--platforms", "procsX"],
            ["--workload", "ols", *base, "--platforms", "cpu,mpi:0"],
            ["--workload", "ols", *base, "--platforms", "mpi:2x"],
            ["--workload", "ols", *base, "--platforms", "mpi:abc"],
            ["--workload", "ols", *base, "--platforms", "mpi:2x0"],
            ["--workload", "ols", "--input", "x.csv", "--in-memory"],
            ["--workload", "ols", *base, "--repeat", "0"],
            ["--workload", "ols", *base, "--lambda", "-1"],
            ["--workload", "ols", *base, "--lambda", "1"],
            ["--workload", "ridge", *base, "--holdout", "1.5"],
            ["--workload", "ols", *base, "--format", "xml"],
            ["--workload", "ols", *base, "--peers", "torch"],
            ["--workload", "ols", *base, "--classes", "3"],
            ["--workload", "ols", *base, "--input", "x.csv"],
            ["--workload", "ols", *base, "--no-such-flag"],
            ["--workload", "ols", *base, "stray"],
        ]
        for args in cases:
            p = run(*args)
            self.assertEqual(p.returncode, 2, f"{args}: {p.stderr}")
            self.assertTrue(p.stderr.startswith("streamfit bench: "), p.stderr)
            self.assertIn("--help", p.stderr)

    def test_listed_in_main_help(self):
        p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=30)
        self.assertRegex(p.stdout, re.compile(r"^\s+bench\s", re.M))


def main():
    global BIN, TMP
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    if not os.access(BIN, os.X_OK):
        print(f"skipped: no binary at {BIN}", file=sys.stderr)
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-bench-test-") as tmp:
        TMP = tmp
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
