#!/usr/bin/env python3
"""End-to-end tests of the `streamfit` command line.

Usage: python3 tests/test_cli.py PATH_TO_streamfit PATH_TO_tests/data

Only the Python standard library is used. Every command runs in a fresh
temporary directory. Exit status: 0 all passed, 1 a failure, 2 bad usage of
this script, 77 skipped (the binary is not there).

The contract checked here (host/cli): exit 0 success, 1 failure, 2 usage
error; messages go to stderr prefixed "streamfit"; the process never dies
from a signal, whatever the input.
"""

import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None   # absolute path of the streamfit binary
DATA = None  # absolute path of tests/data
TMP = None   # scratch directory for the whole run
TIMEOUT_S = 60


# ---------------------------------------------------------------- helpers


def tmp(name):
    return os.path.join(TMP, name)


def write(name, text, newline="\n"):
    """Write text (lines joined by '\n') to a scratch file; return its path."""
    path = tmp(name)
    with open(path, "w", newline="") as f:
        f.write(text.replace("\n", newline))
    return path


def write_bytes(name, data):
    path = tmp(name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def data(*parts):
    return os.path.join(DATA, *parts)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_csv(path):
    """Header and rows of a numeric CSV (rows as lists of floats)."""
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    header = lines[0].split(",")
    rows = [[float(v) for v in ln.split(",")] for ln in lines[1:]]
    return header, rows


def csv_text(header, rows):
    out = [",".join(header)] if header else []
    out += [",".join(repr(float(v)) for v in r) for r in rows]
    return "\n".join(out) + "\n"


def rel_err(a, b):
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


def lre(fit, cert):
    """NIST log relative error: -log10(|fit - cert| / |cert|), absolute when cert is 0; capped."""
    e = rel_err(fit, cert)
    return 15.0 if e == 0 else min(15.0, -math.log10(e))


def model_vector(m):
    """[intercept, coefficients...] of a single-output model."""
    return [m["intercept"]] + list(m["coefficients"])


def solve(A, b):
    """Solve A x = b by Gaussian elimination with partial pivoting (Python floats)."""
    n = len(A)
    M = [list(map(float, A[i])) + [float(b[i])] for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[p] = M[p], M[c]
        for r in range(c + 1, n):
            f = M[r][c] / M[c][c]
            if f:
                for k in range(c, n + 1):
                    M[r][k] -= f * M[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        s = M[r][n] - math.fsum(M[r][k] * x[k] for k in range(r + 1, n))
        x[r] = s / M[r][r]
    return x


def mean(v):
    return math.fsum(v) / len(v)


def pop_std(v):
    m = mean(v)
    return math.sqrt(math.fsum((x - m) ** 2 for x in v) / len(v))


def ridge_closed_form(X, y, lam):
    """Intercept and w minimizing ||y - Xw - b||^2 + lam ||w||^2 (b not penalized)."""
    n, d = len(X), len(X[0])
    xm = [mean([r[j] for r in X]) for j in range(d)]
    ym = mean(y)
    Xc = [[r[j] - xm[j] for j in range(d)] for r in X]
    yc = [v - ym for v in y]
    A = [[math.fsum(Xc[i][a] * Xc[i][b] for i in range(n)) + (lam if a == b else 0.0)
          for b in range(d)] for a in range(d)]
    rhs = [math.fsum(Xc[i][a] * yc[i] for i in range(n)) for a in range(d)]
    w = solve(A, rhs)
    return ym - math.fsum(xm[j] * w[j] for j in range(d)), w


def run(*args, stdin=None, check_rc=None, prefixed=True):
    """Run streamfit with args (strings) in TMP; text stdout/stderr.

    Every run must end with an exit status, never a signal; a run that ends
    with a status other than 0 must explain itself on stderr, every line of it
    prefixed 'streamfit'."""
    cmd = [BIN] + [str(a) for a in args]
    if isinstance(stdin, str):
        stdin = stdin.encode()
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=TMP, timeout=TIMEOUT_S)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    r = subprocess.CompletedProcess(cmd, p.returncode, out, err)
    shown = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))
    if len(shown) > 300:
        shown = shown[:300] + "..."
    r.shown = shown
    if p.returncode < 0:
        raise AssertionError("%s: killed by signal %d\nstderr: %s" % (shown, -p.returncode, err))
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError("%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
                             % (shown, p.returncode, check_rc, out[:2000], err[:2000]))
    if p.returncode not in (0, 1, 2):
        raise AssertionError("%s: exit %d is not 0, 1 or 2\nstderr: %s" % (shown, p.returncode, err))
    if p.returncode != 0 and prefixed:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if not lines:
            raise AssertionError("%s: exit %d with nothing on stderr" % (shown, p.returncode))
        for ln in lines:
            if not ln.startswith("streamfit"):
                raise AssertionError("%s: stderr line not prefixed 'streamfit': %r" % (shown, ln))
    return r


def train(*args, out="m.json", check_rc=0, stdin=None):
    """streamfit train ARGS --out out; return (the model as a dict or None, the run)."""
    path = tmp(out)
    if os.path.exists(path):
        os.unlink(path)
    r = run("train", *args, "--out", path, stdin=stdin, check_rc=check_rc)
    return (read_json(path) if r.returncode == 0 else None), r


def gen_regression(seed, n, d, scales=None, noise=0.5, intercept=3.0):
    """Rows of a linear model with noise: X (n x d), y, the true weights."""
    rnd = random.Random(seed)
    scales = scales or [1.0] * d
    w = [(1.0 + 0.5 * j) * (-1) ** j / scales[j] for j in range(d)]
    X, y = [], []
    for _ in range(n):
        x = [round(rnd.gauss(0.0, scales[j]) + 0.1 * scales[j] * j, 6) for j in range(d)]
        X.append(x)
        y.append(round(intercept + math.fsum(a * b for a, b in zip(w, x)) + rnd.gauss(0, noise), 6))
    return X, y, w


def regression_csv(name, X, y, header=True, newline="\n"):
    d = len(X[0])
    hdr = ["y"] + ["x%d" % (j + 1) for j in range(d)] if header else None
    return write(name, csv_text(hdr, [[t] + x for x, t in zip(X, y)]), newline)


# ---------------------------------------------------------------- tests


class TestHelpAndInfo(unittest.TestCase):
    def test_help(self):
        for args in (["--help"], ["train", "--help"], ["predict", "--help"], ["eval", "--help"],
                     ["info", "--help"]):
            r = run(*args, check_rc=0)
            self.assertIn("Usage", r.stdout, r.shown)

    def test_usage_errors(self):
        r = run(check_rc=2, prefixed=False)  # the usage text itself, on stderr
        self.assertIn("Usage", r.stderr)
        r = run("bogus", check_rc=2)
        self.assertIn("bogus", r.stderr)

    def test_version(self):
        r = run("--version", check_rc=0)
        self.assertRegex(r.stdout, r"^streamfit \d+\.\d+\.\d+\n$")

    def test_info(self):
        r = run("info", check_rc=0)
        low = r.stdout.lower()
        self.assertIn("blas", low)
        self.assertIn("devices", low)
        self.assertIn("cpu", low)
        run("info", "extra", check_rc=2)


class TestNist(unittest.TestCase):
    def check_set(self, name, n_features, n_rows, min_lre=9.0):
        ref = read_json(data("nist", name + ".json"))
        m, _ = train("--model", "ols", "--input", data("nist", name + ".csv"), out=name + ".json")
        self.assertEqual(m["format"], "streamfit-model")
        self.assertIn("version", m)
        self.assertEqual(m["model"], "ols")
        self.assertEqual(m["n_features"], n_features)
        self.assertEqual(m["feature_names"], ["x%d" % (j + 1) for j in range(n_features)])
        self.assertEqual(m["label"], "y")
        self.assertEqual(m["lambda"], 0)
        self.assertIs(m["standardize"], False)
        self.assertEqual(m["rows_seen"], n_rows)
        self.assertEqual(m["rows_skipped"], 0)
        self.assertNotIn("classes", m)
        fit = model_vector(m)
        cert = ref["coefficients"]
        self.assertEqual(len(fit), len(cert))
        for i, (f, c) in enumerate(zip(fit, cert)):
            self.assertGreaterEqual(lre(f, c), min_lre,
                                    "%s coefficient %d: fit %.17g, certified %.17g" % (name, i, f, c))

    def test_longley(self):
        self.check_set("Longley", 6, 16)

    def test_norris(self):
        self.check_set("Norris", 1, 36)

    def test_wampler1(self):
        self.check_set("Wampler1", 5, 21)

    def test_eval_longley(self):
        ref = read_json(data("nist", "Longley.json"))
        train("--model", "ols", "--input", data("nist", "Longley.csv"), out="longley.json")
        r = run("eval", "--model-file", tmp("longley.json"), "--input", data("nist", "Longley.csv"),
                check_rc=0)
        e = json.loads(r.stdout)
        self.assertEqual(e["rows"], 16)
        self.assertEqual(e["rows_skipped"], 0)
        self.assertLessEqual(abs(e["r2"] - ref["r_squared"]), 1e-9, e)
        rss = ref["anova"]["ss_residual"]
        self.assertLessEqual(rel_err(e["rmse"], math.sqrt(rss / 16)), 1e-9, e)
        # rmse and r2 describe the same residuals: rss = (1 - r2) * tss.
        _, rows = read_csv(data("nist", "Longley.csv"))
        ys = [r[0] for r in rows]
        ym = mean(ys)
        tss = math.fsum((v - ym) ** 2 for v in ys)
        self.assertLessEqual(rel_err(e["rmse"] ** 2 * 16, (1 - e["r2"]) * tss), 1e-6)
        self.assertGreater(e["mae"], 0)
        self.assertLessEqual(e["mae"], e["rmse"])
        # predict reproduces the fitted values, which match eval's rmse.
        r = run("predict", "--model-file", tmp("longley.json"), "--input",
                data("nist", "Longley.csv"), check_rc=0)
        pred = [float(v) for v in r.stdout.split()]
        self.assertEqual(len(pred), 16)
        rmse = math.sqrt(math.fsum((p - t) ** 2 for p, t in zip(pred, ys)) / 16)
        self.assertLessEqual(rel_err(rmse, e["rmse"]), 1e-9)


class TestBreastCancer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.csv = data("real", "breast_cancer.csv")
        cls.ref = read_json(data("real", "breast_cancer_logreg.json"))
        cls.model_path = tmp("bc.json")
        run("train", "--model", "logistic", "--standardize", "--lambda", "1e-2", "--input",
            cls.csv, "--out", cls.model_path, check_rc=0)
        cls.m = read_json(cls.model_path)

    def test_model(self):
        m, fit = self.m, self.ref["fits"][0]
        self.assertEqual(m["model"], "logistic")
        self.assertEqual(m["n_features"], 30)
        self.assertEqual(m["classes"], [0, 1])
        self.assertIs(m["standardize"], True)
        self.assertEqual(m["lambda"], 0.01)
        self.assertEqual(m["rows_seen"], 569)
        self.assertEqual(m["rows_skipped"], 0)
        raw = fit["raw_feature_equivalent"]
        self.assertLessEqual(rel_err(m["intercept"], raw["b_raw"]), 1e-6)
        self.assertEqual(len(m["coefficients"]), 30)
        for j, (a, b) in enumerate(zip(m["coefficients"], raw["w_raw"])):
            self.assertLessEqual(rel_err(a, b), 1e-6, "w_raw[%d]: %.17g vs %.17g" % (j, a, b))
        sc = m["scaler"]
        std_ref = self.ref["standardization"]
        for key in ("mean", "std"):
            self.assertEqual(len(sc[key]), 30)
            for j, (a, b) in enumerate(zip(sc[key], std_ref[key])):
                self.assertLessEqual(rel_err(a, b), 1e-12, "scaler %s[%d]" % (key, j))

    def test_predict(self):
        r = run("predict", "--model-file", self.model_path, "--input", self.csv, check_rc=0)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 569)
        self.assertTrue(all(ln in ("0", "1") for ln in lines), set(lines))
        _, rows = read_csv(self.csv)
        acc = sum(float(p) == t[0] for p, t in zip(lines, rows)) / 569.0
        self.assertLessEqual(abs(acc - self.ref["fits"][0]["train_accuracy"]), 1e-12)

    def test_predict_proba(self):
        out = tmp("bc_proba.txt")
        run("predict", "--model-file", self.model_path, "--input", self.csv, "--proba", "--out",
            out, check_rc=0)
        with open(out) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 569)
        pred = run("predict", "--model-file", self.model_path, "--input", self.csv,
                   check_rc=0).stdout.splitlines()
        for ln, cls in zip(lines, pred):
            p0, p1 = (float(v) for v in ln.split(","))
            self.assertTrue(0 <= p0 <= 1 and 0 <= p1 <= 1, ln)
            self.assertAlmostEqual(p0 + p1, 1.0, delta=1e-12)
            if abs(p1 - 0.5) > 1e-9:
                self.assertEqual(cls, "1" if p1 > 0.5 else "0", ln)

    def test_eval(self):
        fit = self.ref["fits"][0]
        r = run("eval", "--model-file", self.model_path, "--input", self.csv, check_rc=0)
        e = json.loads(r.stdout)
        self.assertEqual(e["rows"], 569)
        self.assertLessEqual(abs(e["accuracy"] - fit["train_accuracy"]), 1e-12, e)
        self.assertLessEqual(rel_err(e["log_loss"], fit["mean_log_loss"]), 1e-6, e)
        self.assertTrue(0.99 < e["auc"] <= 1.0, e)
        self.assertEqual(len(e["per_class"]), 2)
        self.assertEqual(sum(c["support"] for c in e["per_class"]), 569)

    def test_proba_on_regression_model_is_usage_error(self):
        train("--model", "ols", "--input", data("nist", "Norris.csv"), out="norris.json")
        run("predict", "--model-file", tmp("norris.json"), "--input", data("nist", "Norris.csv"),
            "--proba", check_rc=2)


def gen_softmax(seed, n):
    rnd = random.Random(seed)
    W = [[2.0, -1.0, 0.5, 0.0], [-1.5, 2.0, 0.0, 1.0], [0.0, -1.0, -1.5, -1.0]]
    b = [0.2, 0.0, -0.1]
    X, y = [], []
    for _ in range(n):
        x = [round(rnd.uniform(-2, 2), 5) for _ in range(4)]
        s = [math.fsum(w * v for w, v in zip(W[k], x)) + b[k] + rnd.gauss(0, 0.5) for k in range(3)]
        X.append(x)
        y.append(max(range(3), key=lambda k: s[k]))
    return X, y


class TestSoftmax(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        X, y = gen_softmax(7, 600)
        cls.X, cls.y = X, y
        cls.csv = write("soft.csv", csv_text(["y", "a", "b", "c", "d"],
                                             [[t] + x for x, t in zip(X, y)]))
        cls.csv_10 = write("soft10.csv", csv_text(["y", "a", "b", "c", "d"],
                                                  [[10 * (t + 1)] + x for x, t in zip(X, y)]))

    def test_softmax(self):
        m, _ = train("--model", "softmax", "--lambda", "1e-3", "--input", self.csv,
                     out="soft.json")
        self.assertEqual(m["model"], "softmax")
        self.assertEqual(m["classes"], [0, 1, 2])
        self.assertEqual(m["feature_names"], ["a", "b", "c", "d"])
        self.assertEqual(len(m["coefficients"]), 3)
        self.assertTrue(all(len(row) == 4 for row in m["coefficients"]))
        self.assertEqual(len(m["intercept"]), 3)
        self.assertLessEqual(abs(math.fsum(m["intercept"])), 1e-9, m["intercept"])
        r = run("eval", "--model-file", tmp("soft.json"), "--input", self.csv, check_rc=0)
        e = json.loads(r.stdout)
        self.assertEqual(e["rows"], 600)
        self.assertGreater(e["accuracy"], 0.8, e)
        self.assertNotIn("auc", e)
        self.assertEqual([c["class"] for c in e["per_class"]], [0, 1, 2])
        r = run("predict", "--model-file", tmp("soft.json"), "--input", self.csv, "--proba",
                check_rc=0)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 600)
        for ln in lines:
            p = [float(v) for v in ln.split(",")]
            self.assertEqual(len(p), 3)
            self.assertAlmostEqual(sum(p), 1.0, delta=1e-12)

    def test_softmax_labels_10_20_30(self):
        m0, _ = train("--model", "softmax", "--lambda", "1e-3", "--input", self.csv,
                      out="soft0.json")
        m, _ = train("--model", "softmax", "--lambda", "1e-3", "--input", self.csv_10,
                     out="soft10.json")
        self.assertEqual(m["classes"], [10, 20, 30])
        for row, row0 in zip(m["coefficients"], m0["coefficients"]):
            for a, b in zip(row, row0):
                self.assertLessEqual(abs(a - b), 1e-9 * max(1.0, abs(b)))
        p10 = run("predict", "--model-file", tmp("soft10.json"), "--input", self.csv_10,
                  check_rc=0).stdout.split()
        p0 = run("predict", "--model-file", tmp("soft0.json"), "--input", self.csv,
                 check_rc=0).stdout.split()
        self.assertEqual(len(p10), 600)
        self.assertTrue(set(p10) <= {"10", "20", "30"}, set(p10))
        self.assertEqual(p10, [str(10 * (int(v) + 1)) for v in p0])
        e = json.loads(run("eval", "--model-file", tmp("soft10.json"), "--input", self.csv_10,
                           check_rc=0).stdout)
        self.assertGreater(e["accuracy"], 0.8)


class TestRidge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.X, cls.y, _ = gen_regression(11, 300, 4, scales=[1.0, 10.0, 0.1, 1000.0], noise=1.0)
        cls.csv = regression_csv("ridge.csv", cls.X, cls.y)

    def assert_close(self, m, b, w, tol=1e-9):
        self.assertLessEqual(rel_err(m["intercept"], b), tol, (m["intercept"], b))
        for j, (a, c) in enumerate(zip(m["coefficients"], w)):
            self.assertLessEqual(rel_err(a, c), tol, "w[%d]: %.17g vs %.17g" % (j, a, c))

    def test_ridge(self):
        m, _ = train("--model", "ridge", "--lambda", "5", "--input", self.csv, out="ridge.json")
        self.assertEqual(m["model"], "ridge")
        self.assertEqual(m["lambda"], 5)
        b, w = ridge_closed_form(self.X, self.y, 5.0)
        self.assert_close(m, b, w)

    def test_ridge_standardized(self):
        m, _ = train("--model", "ridge", "--lambda", "5", "--standardize", "--input", self.csv,
                     out="ridge_std.json")
        self.assertIs(m["standardize"], True)
        d = len(self.X[0])
        mu = [mean([r[j] for r in self.X]) for j in range(d)]
        sd = [pop_std([r[j] for r in self.X]) for j in range(d)]
        Z = [[(r[j] - mu[j]) / sd[j] for j in range(d)] for r in self.X]
        bz, wz = ridge_closed_form(Z, self.y, 5.0)
        w = [wz[j] / sd[j] for j in range(d)]
        b = bz - math.fsum(mu[j] * w[j] for j in range(d))
        self.assert_close(m, b, w)
        for j in range(d):
            self.assertLessEqual(rel_err(m["scaler"]["mean"][j], mu[j]), 1e-12)
            self.assertLessEqual(rel_err(m["scaler"]["std"][j], sd[j]), 1e-12)
        # The penalty differs from the unstandardized fit.
        _, w_raw = ridge_closed_form(self.X, self.y, 5.0)
        self.assertGreater(max(rel_err(a, c) for a, c in zip(w, w_raw)), 1e-6)

    def test_no_intercept(self):
        m, _ = train("--model", "ols", "--no-intercept", "--input", self.csv, out="noint.json")
        self.assertIs(m["fit_intercept"], False)
        self.assertEqual(m["intercept"], 0)
        d = len(self.X[0])
        A = [[math.fsum(r[a] * r[b] for r in self.X) for b in range(d)] for a in range(d)]
        rhs = [math.fsum(r[a] * t for r, t in zip(self.X, self.y)) for a in range(d)]
        w = solve(A, rhs)
        for j, (a, c) in enumerate(zip(m["coefficients"], w)):
            self.assertLessEqual(rel_err(a, c), 1e-9, "w[%d]: %.17g vs %.17g" % (j, a, c))

    def test_ridge_lambda_zero_is_ols(self):
        m_r, _ = train("--model", "ridge", "--input", self.csv, out="r0.json")
        m_o, _ = train("--model", "ols", "--input", self.csv, out="o0.json")
        for a, c in zip(model_vector(m_r), model_vector(m_o)):
            self.assertLessEqual(rel_err(a, c), 1e-12)


class TestInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        X, y, _ = gen_regression(3, 60, 3, noise=0.3)
        # Zeros in some cells, so that the LIBSVM copy is sparse.
        for i in range(0, 60, 4):
            X[i][i % 3] = 0.0
        cls.X, cls.y = X, y
        cls.csv = regression_csv("in.csv", X, y)
        cls.ref, _ = train("--model", "ols", "--input", cls.csv, out="in_ref.json")
        cls.b, cls.w = ridge_closed_form(X, y, 0.0)

    def assert_same(self, m, tol=1e-10, names=("x1", "x2", "x3")):
        self.assertEqual(m["rows_seen"], 60)
        self.assertEqual(m["rows_skipped"], 0)
        self.assertEqual(m["feature_names"], list(names))
        for a, c in zip(model_vector(m), model_vector(self.ref)):
            self.assertLessEqual(rel_err(a, c), tol, (model_vector(m), model_vector(self.ref)))

    def test_reference_is_least_squares(self):
        for a, c in zip(model_vector(self.ref), [self.b] + self.w):
            self.assertLessEqual(rel_err(a, c), 1e-9)

    def test_no_header_label_0(self):
        path = regression_csv("in_nh.csv", self.X, self.y, header=False)
        m, _ = train("--model", "ols", "--input", path, "--no-header", "--label", "0")
        self.assert_same(m)
        m, _ = train("--model", "ols", "--input", path, "--no-header")  # label 0 by default
        self.assert_same(m)

    def test_no_header_label_middle(self):
        rows = [x[:2] + [t] + x[2:] for x, t in zip(self.X, self.y)]
        path = write("in_mid.csv", csv_text(None, rows))
        m, _ = train("--model", "ols", "--input", path, "--no-header", "--label", "2")
        self.assert_same(m)

    def test_label_by_name(self):
        rows = [x[:2] + [t] + x[2:] for x, t in zip(self.X, self.y)]
        path = write("in_name.csv", csv_text(["a", "b", "target", "c"], rows))
        m, _ = train("--model", "ols", "--input", path, "--label", "target")
        self.assert_same(m, names=("a", "b", "c"))
        self.assertEqual(m["label"], "target")
        # predict and eval find the label column by the model's label name.
        p = run("predict", "--model-file", tmp("m.json"), "--input", path, check_rc=0)
        self.assertEqual(len(p.stdout.split()), 60)
        e = json.loads(run("eval", "--model-file", tmp("m.json"), "--input", path,
                           check_rc=0).stdout)
        self.assertEqual(e["rows"], 60)

    def test_stdin(self):
        with open(self.csv) as f:
            text = f.read()
        m, _ = train("--model", "ols", "--input", "-", stdin=text)
        self.assert_same(m)
        r = run("predict", "--model-file", tmp("in_ref.json"), "--input", "-", stdin=text,
                check_rc=0)
        r2 = run("predict", "--model-file", tmp("in_ref.json"), "--input", self.csv, check_rc=0)
        self.assertEqual(r.stdout, r2.stdout)
        self.assertEqual(len(r.stdout.split()), 60)

    def test_predict_without_label_column(self):
        # With a header that lacks the model's label, or without a header and
        # exactly n_features fields, every column is a feature.
        want = run("predict", "--model-file", tmp("in_ref.json"), "--input", self.csv,
                   check_rc=0).stdout
        hdr = write("in_x.csv", csv_text(["x1", "x2", "x3"], self.X))
        nohdr = write("in_xn.csv", csv_text(None, self.X))
        self.assertEqual(run("predict", "--model-file", tmp("in_ref.json"), "--input", hdr,
                             check_rc=0).stdout, want)
        self.assertEqual(run("predict", "--model-file", tmp("in_ref.json"), "--input", nohdr,
                             "--no-header", check_rc=0).stdout, want)
        # eval needs the label.
        run("eval", "--model-file", tmp("in_ref.json"), "--input", hdr, check_rc=1)

    def libsvm_text(self):
        lines = []
        for x, t in zip(self.X, self.y):
            toks = [repr(t)] + ["%d:%r" % (j + 1, v) for j, v in enumerate(x) if v != 0.0]
            lines.append(" ".join(toks))
        return "\n".join(lines) + "\n"

    def test_libsvm(self):
        path = write("in.svm", self.libsvm_text())
        m, _ = train("--model", "ols", "--format", "libsvm", "--input", path)
        self.assert_same(m)
        m, _ = train("--model", "ols", "--format", "libsvm", "--features", "3", "--input", path)
        self.assert_same(m)
        # predict on LIBSVM rows matches predict on the CSV rows.
        a = run("predict", "--model-file", tmp("in_ref.json"), "--format", "libsvm", "--input",
                path, check_rc=0).stdout.split()
        b = run("predict", "--model-file", tmp("in_ref.json"), "--input", self.csv,
                check_rc=0).stdout.split()
        self.assertEqual(len(a), 60)
        for u, v in zip(a, b):
            self.assertLessEqual(rel_err(float(u), float(v)), 1e-12)

    def test_libsvm_label_by_name_is_usage_error(self):
        path = write("in2.svm", self.libsvm_text())
        run("train", "--model", "ols", "--format", "libsvm", "--label", "y", "--input", path,
            "--out", tmp("x.json"), check_rc=2)

    def test_crlf(self):
        path = regression_csv("in_crlf.csv", self.X, self.y, newline="\r\n")
        m, _ = train("--model", "ols", "--input", path)
        self.assert_same(m)
        r = run("predict", "--model-file", tmp("in_ref.json"), "--input", path, check_rc=0)
        self.assertEqual(len(r.stdout.split()), 60)

    def test_blank_lines(self):
        with open(self.csv) as f:
            lines = f.read().splitlines()
        out = []
        for i, ln in enumerate(lines):
            out.append(ln)
            if i % 10 == 3:
                out.append("")
            if i % 17 == 5:
                out.append("   ")
        path = write("in_blank.csv", "\n\n" + "\n".join(out) + "\n\n\n")
        m, r = train("--model", "ols", "--input", path)
        self.assert_same(m)
        self.assertNotIn("skipped", r.stderr)


class TestStagingRing(unittest.TestCase):
    """train --staging ring: least squares on CSV parsed window by window
    straight into the staging ring's slots (the default on a GPU; here the CPU
    backend's ring) gives the table path's model, rows and bad records."""

    @classmethod
    def setUpClass(cls):
        X, y, _ = gen_regression(21, 150000, 4, scales=[1, 10, 100, 0.1])
        lines = ["y,x1,x2,x3,x4"] + [",".join(repr(v) for v in [t] + x) for x, t in zip(X, y)]
        lines[1000] = "1,2,3"          # line 1001: wrong field count
        lines[70000] = ""              # a blank line
        lines[140000] = "1,2,3,x,5"    # line 140001: not a number
        cls.path = write("ring.csv", "\n".join(lines) + "\n")

    def check_same(self, *args, tol=1e-12):
        a, ra = train(*args, "--input", self.path, out="direct.json")
        b, rb = train(*args, "--input", self.path, "--staging", "ring", out="ring.json")
        for u, v in zip(model_vector(b), model_vector(a)):
            self.assertLess(rel_err(u, v), tol, "%r vs %r" % (u, v))
        self.assertEqual((b["rows_seen"], b["rows_skipped"]), (a["rows_seen"], a["rows_skipped"]))
        self.assertEqual(b["feature_names"], a["feature_names"])
        return rb

    def test_ols_ridge(self):
        r = self.check_same("--model", "ols")
        self.assertRegex(r.stderr, r"\bline 1001\b")
        self.assertRegex(r.stderr, r"\bline 140001\b")
        self.assertRegex(r.stderr, r"skipped 2 bad records, kept 149997 rows")
        self.check_same("--model", "ridge", "--lambda", "2.5", "--standardize")
        self.check_same("--model", "ols", "--solver", "qr", "--threads", "1")

    def test_stdin_and_label(self):
        with open(self.path, "rb") as f:
            text = f.read()
        a, _ = train("--model", "ols", "--input", "-", "--label", "x2", stdin=text, out="a.json")
        b, _ = train("--model", "ols", "--input", "-", "--label", "x2", "--staging", "ring",
                     stdin=text, out="b.json")
        self.assertEqual(b["label"], "x2")
        for u, v in zip(model_vector(b), model_vector(a)):
            self.assertLess(rel_err(u, v), 1e-12)

    def test_fail_and_usage(self):
        _, r = train("--model", "ols", "--input", self.path, "--staging", "ring", "--on-error",
                     "fail", check_rc=1)
        self.assertRegex(r.stderr, r"\bline 1001\b")
        self.assertFalse(os.path.exists(tmp("m.json")))
        run("train", "--model", "ols", "--input", self.path, "--staging", "pinned", "--out",
            tmp("x.json"), check_rc=2)
        _, r = train("--model", "ols", "--input", tmp("missing.csv"), "--staging", "ring",
                     check_rc=1)
        self.assertIn("cannot open", r.stderr)

    def test_float32(self):
        """--float32: the model of the float-rounded features, bit for bit."""
        import struct
        f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]
        X, y, _ = gen_regression(8, 3000, 3, scales=[1, 1000, 0.001])
        raw = regression_csv("f32_raw.csv", X, y)
        rounded = regression_csv("f32_rounded.csv", [[f32(v) for v in x] for x in X], y)
        a, _ = train("--model", "ols", "--input", raw, "--float32", out="a.json")
        b, _ = train("--model", "ols", "--input", rounded, "--staging", "ring", out="b.json")
        self.assertEqual(model_vector(a), model_vector(b))
        c, _ = train("--model", "ols", "--input", raw, out="c.json")
        self.assertNotEqual(model_vector(a), model_vector(c))
        for bad in (["--model", "logistic"], ["--model", "ols", "--staging", "direct"],
                    ["--model", "ols", "--format", "libsvm"]):
            run("train", *bad, "--float32", "--input", raw, "--out", tmp("x.json"), check_rc=2)

    def test_classifier_takes_the_table_path(self):
        rnd = random.Random(4)
        lines = ["y,x1"] + ["%d,%r" % (i % 2, rnd.gauss(i % 2, 1.0)) for i in range(400)]
        path = write("cls_ring.csv", "\n".join(lines) + "\n")
        m, _ = train("--model", "logistic", "--input", path, "--staging", "ring")
        self.assertEqual(m["classes"], [0, 1])


class TestBadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        X, y, _ = gen_regression(5, 30, 2, noise=0.2)
        lines = ["y,x1,x2"] + ["%r,%r,%r" % (t, x[0], x[1]) for x, t in zip(X, y)]
        # lines[k] is line k+1 of the file.
        good = list(range(1, len(lines)))
        lines[4] = "1.5,2.5"                                  # line 5: wrong field count
        lines[6] = "1.0,abc,2.0"                              # line 7: not a number
        lines[8] = "nan,1.0,2.0"                              # line 9: NaN
        lines[10] = "1.0,2.0,inf"                             # line 11: infinite
        lines[12] = "1.0,0" + "0" * (1 << 20) + "1,2.0"       # line 13: over 1 MiB
        cls.bad_lines = [5, 7, 9, 11, 13]
        cls.good = [i for i in good if i + 1 not in cls.bad_lines]
        cls.path = write("bad.csv", "\n".join(lines) + "\n")
        cls.clean = write("bad_clean.csv", "\n".join(lines[i] for i in [0] + cls.good) + "\n")

    def test_skip(self):
        m, r = train("--model", "ols", "--input", self.path)
        for n in self.bad_lines:
            self.assertRegex(r.stderr, r"\bline %d\b" % n)
        self.assertRegex(r.stderr, r"skipped 5\b")
        self.assertEqual(m["rows_seen"], len(self.good))
        self.assertEqual(m["rows_skipped"], 5)
        m_clean, _ = train("--model", "ols", "--input", self.clean, out="clean.json")
        self.assertEqual(model_vector(m), model_vector(m_clean))
        # explicit --on-error skip is the same
        m2, _ = train("--model", "ols", "--input", self.path, "--on-error", "skip", out="m2.json")
        self.assertEqual(model_vector(m2), model_vector(m))

    def test_many_bad_records(self):
        lines = ["y,x1"] + ["%d,%d" % (i, i * i % 5) for i in range(20)] + ["a,b"] * 12
        path = write("many_bad.csv", "\n".join(lines) + "\n")
        m, r = train("--model", "ols", "--input", path)
        for n in range(22, 27):
            self.assertRegex(r.stderr, r"\bline %d\b" % n)
        self.assertNotRegex(r.stderr, r"\bline 27\b")  # the first five only, then the total
        self.assertRegex(r.stderr, r"\b7 more\b")
        self.assertRegex(r.stderr, r"skipped 12\b")
        self.assertEqual((m["rows_seen"], m["rows_skipped"]), (20, 12))

    def test_fail(self):
        _, r = train("--model", "ols", "--input", self.path, "--on-error", "fail", check_rc=1)
        self.assertRegex(r.stderr, r"\bline 5\b")
        self.assertFalse(os.path.exists(tmp("m.json")))

    def test_bad_on_error_value(self):
        run("train", "--model", "ols", "--input", self.path, "--on-error", "maybe", "--out",
            tmp("x.json"), check_rc=2)

    def test_predict_and_eval_skip(self):
        train("--model", "ols", "--input", self.clean, out="clean2.json")
        r = run("predict", "--model-file", tmp("clean2.json"), "--input", self.path, check_rc=0)
        self.assertEqual(len(r.stdout.split()), len(self.good))
        for n in self.bad_lines:
            self.assertRegex(r.stderr, r"\bline %d\b" % n)
        r = run("predict", "--model-file", tmp("clean2.json"), "--input", self.path,
                "--on-error", "fail", check_rc=1)
        self.assertRegex(r.stderr, r"\bline 5\b")
        r = run("eval", "--model-file", tmp("clean2.json"), "--input", self.path, check_rc=0)
        e = json.loads(r.stdout)
        self.assertEqual(e["rows"], len(self.good))
        self.assertEqual(e["rows_skipped"], 5)

    def test_unknown_class_label(self):
        rnd = random.Random(9)
        lines = ["y,x1,x2"]
        for i in range(100):
            x1, x2 = rnd.uniform(-2, 2), rnd.uniform(-2, 2)
            lines.append("%d,%r,%r" % (1 if x1 + x2 + rnd.gauss(0, 0.7) > 0 else 0, x1, x2))
        lines[42] = "7," + lines[42].split(",", 1)[1]   # line 43
        path = write("cls7.csv", "\n".join(lines) + "\n")
        m, r = train("--model", "logistic", "--input", path)
        self.assertRegex(r.stderr, r"line 43\b.*unknown class label")
        self.assertEqual(m["classes"], [0, 1])
        self.assertEqual(m["rows_seen"], 99)
        self.assertEqual(m["rows_skipped"], 1)
        _, r = train("--model", "logistic", "--input", path, "--on-error", "fail", check_rc=1)
        self.assertRegex(r.stderr, r"line 43\b")
        # eval: a label that is not a class is a bad record too.
        train("--model", "logistic", "--input", path, out="cls7.json")
        r = run("eval", "--model-file", tmp("cls7.json"), "--input", path, check_rc=0)
        self.assertRegex(r.stderr, r"line 43\b")
        e = json.loads(r.stdout)
        self.assertEqual(e["rows"], 99)
        self.assertEqual(e["rows_skipped"], 1)

    def test_missing_input(self):
        missing = tmp("no_such_dir/no_such_file.csv")
        _, r = train("--model", "ols", "--input", missing, check_rc=1)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(missing, lines[0])

    def test_missing_label_column(self):
        _, r = train("--model", "ols", "--input", data("nist", "Norris.csv"), "--label", "nosuch",
                     check_rc=1)
        self.assertIn("nosuch", r.stderr)
        _, r = train("--model", "ols", "--input", data("nist", "Norris.csv"), "--no-header",
                     "--label", "5", check_rc=1)

    def test_usage_errors(self):
        norris = data("nist", "Norris.csv")
        out = tmp("u.json")
        for args in (
            ["train", "--model", "ols", "--input", norris, "--out", out, "--bogus"],
            ["train", "--model", "ridge", "--input", norris, "--out", out, "--lambda", "abc"],
            ["train", "--model", "ridge", "--input", norris, "--out", out, "--lambda", "-1"],
            ["train", "--model", "ridge", "--input", norris, "--out", out, "--lambda"],
            ["train", "--model", "nosuch", "--input", norris, "--out", out],
            ["train", "--model", "ols", "--input", norris],
            ["train", "--input", norris, "--out", out],
            ["train", "--model", "ols", "--out", out],
            ["train", "--model", "ols", "--input", norris, "--out", out, "--format", "xml"],
            ["train", "--model", "ols", "--input", norris, "--out", out, "--threads", "0"],
            ["train", "--model", "ols", "--input", norris, "--out", out, "--batch-rows", "x"],
            ["train", "--model", "ols", "--input", norris, "--out", out, "--device", "tpu"],
            ["train", "--model", "ols", "--input", norris, "--out", out, "stray"],
            ["predict", "--input", norris],
            ["predict", "--model-file", out, "--bogus"],
            ["eval", "--model-file", out],
            ["eval", "--model-file", out, "--input", norris, "--bogus"],
        ):
            r = run(*args)
            self.assertEqual(r.returncode, 2, "%s: exit %d\n%s" % (r.shown, r.returncode, r.stderr))
            self.assertFalse(os.path.exists(out), r.shown)

    def test_bad_model_files(self):
        norris = data("nist", "Norris.csv")
        train("--model", "ols", "--input", norris, out="good.json")
        with open(tmp("good.json")) as f:
            good = f.read()
        cases = {
            "missing.json": None,
            "notjson.json": "this is not JSON\n",
            "noformat.json": json.dumps({k: v for k, v in json.loads(good).items()
                                         if k != "format"}),
            "otherformat.json": json.dumps(dict(json.loads(good), format="something-else")),
            "truncated.json": good[: len(good) // 2],
            "empty.json": "",
        }
        for name, text in cases.items():
            if text is not None:
                write(name, text)
            for cmd in ("predict", "eval"):
                r = run(cmd, "--model-file", tmp(name), "--input", norris)
                self.assertEqual(r.returncode, 1, "%s: exit %d" % (r.shown, r.returncode))
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, "%s: %r" % (r.shown, r.stderr))
                self.assertEqual(r.stdout, "", r.shown)

    def test_feature_count_mismatch(self):
        train("--model", "ols", "--input", data("nist", "Longley.csv"), out="longley6.json")
        for cmd in ("predict", "eval"):
            r = run(cmd, "--model-file", tmp("longley6.json"), "--input", data("nist", "Norris.csv"),
                    check_rc=1)
            self.assertEqual(r.stdout, "")

    def test_empty_and_header_only(self):
        empty = write("empty.csv", "")
        header = write("header.csv", "y,x1,x2\n")
        blank = write("blank.csv", "\n\n  \n")
        for path in (empty, header, blank):
            _, r = train("--model", "ols", "--input", path, check_rc=1)
            self.assertFalse(os.path.exists(tmp("m.json")))
            with open(path) as f:
                text = f.read()
            train("--model", "ols", "--input", "-", stdin=text, check_rc=1)
        train("--model", "ols", "--input", data("nist", "Norris.csv"), out="n1.json")
        for path in (empty, header):
            run("predict", "--model-file", tmp("n1.json"), "--input", path, check_rc=1)
            run("eval", "--model-file", tmp("n1.json"), "--input", path, check_rc=1)

    def test_all_rows_bad(self):
        path = write("allbad.csv", "y,x1,x2\na,b,c\n1,2\nnan,1,1\n")
        _, r = train("--model", "ols", "--input", path, check_rc=1)
        self.assertIn("rows", r.stderr)
        self.assertFalse(os.path.exists(tmp("m.json")))
        _, r = train("--model", "logistic", "--input", path, check_rc=1)

    def test_binary_garbage(self):
        rnd = random.Random(1)
        blob = bytes(rnd.randrange(256) for _ in range(20000))
        path = write_bytes("garbage.csv", blob)
        for fmt in ("csv", "libsvm"):
            r = run("train", "--model", "ols", "--format", fmt, "--input", path, "--out",
                    tmp("g.json"))
            self.assertIn(r.returncode, (0, 1), r.shown)


class TestOutput(unittest.TestCase):
    def test_atomic_write(self):
        outdir = tmp("outdir")
        os.makedirs(outdir, exist_ok=True)
        out = os.path.join(outdir, "model.json")
        for _ in range(2):  # write, then replace
            run("train", "--model", "ols", "--input", data("nist", "Norris.csv"), "--out", out,
                check_rc=0)
        self.assertEqual(os.listdir(outdir), ["model.json"])
        self.assertFalse([f for f in os.listdir(outdir) if ".tmp." in f])
        self.assertEqual(read_json(out)["format"], "streamfit-model")
        # An unwritable destination: status 1, nothing left behind.
        r = run("train", "--model", "ols", "--input", data("nist", "Norris.csv"), "--out",
                os.path.join(outdir, "no_dir", "m.json"), check_rc=1)
        self.assertEqual(os.listdir(outdir), ["model.json"])

    def test_out_stdout(self):
        r = run("train", "--model", "ols", "--input", data("nist", "Norris.csv"), "--out", "-",
                check_rc=0)
        m = json.loads(r.stdout)
        self.assertEqual(m["format"], "streamfit-model")
        self.assertEqual(m["n_features"], 1)
        m2, _ = train("--model", "ols", "--input", data("nist", "Norris.csv"), out="n2.json")
        self.assertEqual(model_vector(m), model_vector(m2))
        self.assertFalse([f for f in os.listdir(TMP) if ".tmp." in f])


class TestDevice(unittest.TestCase):
    def test_devices(self):
        longley = data("nist", "Longley.csv")
        m_cpu, _ = train("--model", "ols", "--input", longley, "--device", "cpu", out="cpu.json")
        m_auto, _ = train("--model", "ols", "--input", longley, "--device", "auto",
                          out="auto.json")
        for a, c in zip(model_vector(m_auto), model_vector(m_cpu)):
            self.assertLessEqual(rel_err(a, c), 1e-9)
        info = run("info", check_rc=0).stdout
        cuda_built = "cuda=on" in info
        m_cuda, r = train("--model", "ols", "--input", longley, "--device", "cuda",
                          out="cuda.json", check_rc=None)
        if r.returncode == 0:
            self.assertTrue(cuda_built, "--device cuda succeeded on a build without CUDA")
            for a, c in zip(model_vector(m_cuda), model_vector(m_cpu)):
                self.assertLessEqual(rel_err(a, c), 1e-9)
        else:
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertRegex(r.stderr, r"(?i)cuda|gpu")
            self.assertFalse(os.path.exists(tmp("cuda.json")))
            r = run("predict", "--model-file", tmp("cpu.json"), "--input", longley, "--device",
                    "cuda", check_rc=1)
            self.assertRegex(r.stderr, r"(?i)cuda|gpu")
            self.assertEqual(r.stdout, "")
        for dev in ("cpu", "auto"):
            r = run("predict", "--model-file", tmp("cpu.json"), "--input", longley, "--device",
                    dev, check_rc=0)
            self.assertEqual(len(r.stdout.split()), 16)


class TestThreadsAndBatches(unittest.TestCase):
    def test_same_model(self):
        X, y, _ = gen_regression(21, 5000, 5, scales=[1.0, 100.0, 0.01, 5.0, 1.0], noise=0.5)
        path = regression_csv("big.csv", X, y)
        variants = [["--threads", "1"], ["--threads", "2"], ["--batch-rows", "7"],
                    ["--threads", "2", "--batch-rows", "7"], ["--threads", "3", "--batch-rows", "1"]]
        models = []
        for i, v in enumerate(variants):
            m, _ = train("--model", "ols", "--input", path, *v, out="thr%d.json" % i)
            self.assertEqual(m["rows_seen"], 5000)
            models.append(model_vector(m))
        for v, mv in zip(variants[1:], models[1:]):
            for a, c in zip(mv, models[0]):
                self.assertLessEqual(rel_err(a, c), 1e-12, "%s: %r vs %r" % (v, mv, models[0]))
        b, w = ridge_closed_form(X, y, 0.0)
        for a, c in zip(models[0], [b] + w):
            self.assertLessEqual(rel_err(a, c), 1e-9)


class TestNistStream(unittest.TestCase):
    """streamfit stream on ill-conditioned NIST sets fed in tiny batches after
    a short warm-up: the stream keeps exact (double-double) sums from its
    warm-up on, so its model keeps the digits a file fit gets (Wampler5 to
    LRE 9, Filip to 7, whatever the warm-up and batch sizes), also across a
    checkpoint and resume; a well-conditioned stream drops the sums and its
    model is that of merged co-moments, bit for bit."""

    def stream(self, name, warmup, batch, out, *extra):
        path = tmp(out)
        if os.path.exists(path):
            os.unlink(path)
        run("stream", "--source", "file:" + data("nist", name + ".csv"), "--model", "ols",
            "--device", "cpu", "--warmup-rows", warmup, "--batch-rows", batch, "--batch-ms",
            "60000", "--quiet", "--model-out", path, *extra, check_rc=0)
        return read_json(path)

    def check_lre(self, name, warmup, batch, min_lre):
        ref = read_json(data("nist", name + ".json"))
        m = self.stream(name, warmup, batch, "%s_w%d_b%d.json" % (name, warmup, batch))
        self.assertEqual(m["rows_seen"], ref["n_obs"])
        for i, (f, c) in enumerate(zip(model_vector(m), ref["coefficients"])):
            self.assertGreaterEqual(lre(f, c), min_lre,
                                    "%s warm-up %d, batches of %d, coefficient %d: fit %.17g, "
                                    "certified %.17g" % (name, warmup, batch, i, f, c))

    def test_wampler5(self):
        # A warm-up of 6 rows is too short to judge (2 (d + 1) = 12 rows): the
        # stream does; 12 rows are judged at the end of the warm-up.
        for warmup in (6, 12):
            for batch in (3, 1):
                self.check_lre("Wampler5", warmup, batch, 9.0)

    def test_filip(self):
        for warmup in (22, 41):
            for batch in (3, 1):
                self.check_lre("Filip", warmup, batch, 7.0)

    def test_resume_bit_for_bit(self):
        full = self.stream("Filip", 22, 3, "filip_full.json")
        ck = tmp("filip_ck")
        part = self.stream("Filip", 22, 3, "filip_part.json", "--checkpoint-dir", ck,
                           "--max-rows", 52)
        self.assertEqual(part["rows_seen"], 52)
        resumed = self.stream("Filip", 22, 3, "filip_resumed.json", "--checkpoint-dir", ck)
        self.assertEqual(resumed["rows_seen"], 82)
        self.assertEqual(model_vector(resumed), model_vector(full))

    def test_well_conditioned_unchanged(self):
        X, y, _ = gen_regression(31, 3000, 6, scales=[1.0, 10.0, 0.1, 3.0, 1.0, 2.0])
        src = regression_csv("wellcond.csv", X, y)
        models = {}
        for solver in ("auto", "cholesky"):
            out = tmp("wellcond_%s.json" % solver)
            run("stream", "--source", "file:" + src, "--model", "ols", "--device", "cpu",
                "--warmup-rows", 200, "--batch-rows", 7, "--batch-ms", 60000, "--quiet",
                "--solver", solver, "--model-out", out, check_rc=0)
            models[solver] = model_vector(read_json(out))
        self.assertEqual(models["auto"], models["cholesky"])


# ---------------------------------------------------------------- main


def main():
    global BIN, DATA, TMP
    if len(sys.argv) < 3:
        sys.stderr.write("usage: %s PATH_TO_streamfit PATH_TO_tests/data [unittest args]\n"
                         % sys.argv[0])
        return 2
    BIN = os.path.abspath(sys.argv[1])
    DATA = os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        print("test_cli: skipped: no executable at %s" % BIN)
        return 77
    if not os.path.isfile(os.path.join(DATA, "nist", "Longley.csv")):
        sys.stderr.write("test_cli: no test data under %s\n" % DATA)
        return 1
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="streamfit_cli_") as d:
        TMP = d
        prog = unittest.main(module=__name__, exit=False, verbosity=2)
    res = prog.result
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    print("test_cli: %d tests, %d passed, %d failed, %d errors, %d skipped (%.1f s)"
          % (res.testsRun, res.testsRun - failed - len(res.skipped), len(res.failures),
             len(res.errors), len(res.skipped), time.monotonic() - start))
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
