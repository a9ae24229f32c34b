#!/usr/bin/env python3
"""test_stream.py — `streamfit stream` end to end against the development
broker (`streamfit broker`), checked with kcat and with offline
recomputation in Python:

  1. Kafka in, Kafka out: prediction counts, keys copied, rows_seen, rows_total
  2. the streamed model and metrics against `streamfit train` and an offline
     test-then-train recomputation (Kafka and file: sources)
  3. SIGKILL at several points and restart from --checkpoint-dir: the same
     model and metrics as an uninterrupted run (Kafka OLS on 4 partitions,
     Kafka logistic on 1 partition bit for bit, file: with --follow)
  4. dead letters (Kafka and file sinks, file source), --on-error fail
  5. the broker paused (SIGSTOP) and resumed mid-run
  6. a consumer group of two processes
  7. dir: and stdin sources
  8. usage errors and an unreachable broker
  9. real time by default: no librdkafka configuration warning with default
     settings (and -X keys going only to the clients they apply to), file
     predictions on disk after each batch while the run goes on, records
     deleted by the broker before they were read (a partition filled past
     the development broker's ~5 MiB) stop the run with status 1 naming
     partition and offsets (--on-lag-loss continue goes on), and the
     metrics' end-to-end latency against kcat's timestamps

Usage: test_stream.py STREAMFIT_BINARY   (exit 77: skipped, kcat missing or
no Kafka support in the build)
"""
import json
import math
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
EXE = None
TMP = None
T0 = time.monotonic()

N = 20000          # records of the main data sets
D = 4              # features of the OLS data
WARMUP = 2000
BATCH = 1000
OLS_COLS = "y," + ",".join("x%d" % (j + 1) for j in range(D))
LOGIT_COLS = "y,x1,x2,x3"
STAGE1 = 2250      # records present before the warm-up kill (a batch waits for more)


# ---------------------------------------------------------------- helpers

def info(msg):
    print("     %s" % msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
               "WARNING: ThreadSanitizer")
SAN_HITS = []      # sanitizer reports seen on a streamfit process's stderr


def scan_sanitizer(what, text):
    for mark in SAN_MARKERS:
        at = text.find(mark)
        if at >= 0:
            SAN_HITS.append("%s: %s" % (what, text[max(0, at - 200):at + 1500]))
            return


def run(args, timeout=60, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if args[0] == EXE:
        scan_sanitizer(" ".join(args[1:4]), r.stderr)
    return r


def path(*names):
    return os.path.join(TMP, *names)


def rel_err(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def kcat_produce(bootstrap, topic, lines, partition=None, keyed=False, timeout=60):
    """One message per line; with keyed, each line is KEY<TAB>VALUE."""
    args = ["kcat", "-P", "-b", bootstrap, "-t", topic]
    if partition is not None:
        args += ["-p", str(partition)]
    if keyed:
        args += ["-K", "\t"]
    r = run(args, input="".join(l + "\n" for l in lines), timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat -P to %s failed: %s" % (topic, r.stderr.strip()))


def kcat_consume(bootstrap, topic, fmt="%s\n", timeout=60):
    args = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
            "-f", fmt]
    r = run(args, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat -C from %s failed (rc %d): %s"
                             % (topic, r.returncode, r.stderr.strip()))
    return r.stdout.splitlines()


def kcat_positions(bootstrap, topic):
    """(partition, offset) -> (key, value) of every message of the topic."""
    out = {}
    for line in kcat_consume(bootstrap, topic, fmt="%p\t%o\t%k\t%s\n"):
        p, o, k, v = line.split("\t", 3)
        out[(int(p), int(o))] = (k, v)
    return out


class Broker:
    def __init__(self, *args):
        self.stderr_path = path("broker_%d.err" % free_port())
        self.errf = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([EXE, "broker", "--port", str(free_port()), *args],
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        self.bootstrap = self.proc.stdout.readline().strip() if ready else ""
        if not self.bootstrap:
            self.stop()
            raise RuntimeError("streamfit broker did not print its address")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc.stdout.close()
        self.errf.close()
        return self.proc.returncode


class Stream:
    """A `streamfit stream` process in the background, stderr to a file."""
    count = 0

    def __init__(self, args, stdin=None):
        Stream.count += 1
        self.err_path = path("stream_%03d.err" % Stream.count)
        self.errf = open(self.err_path, "w")
        self.proc = subprocess.Popen([EXE, "stream", *args], stdin=stdin,
                                     stdout=subprocess.DEVNULL, stderr=self.errf)

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.errf.close()

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            rc = None
        self.errf.close()
        return rc

    def term(self, timeout=30):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)


def wait_until(pred, timeout, interval=0.005):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def read_metrics(p):
    """Complete, parseable metrics lines (a SIGKILL may tear the last one)."""
    if not os.path.exists(p):
        return []
    out = []
    with open(p) as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def count_lines(p):
    if not os.path.exists(p):
        return 0
    with open(p, "rb") as f:
        return f.read().count(b"\n")


def load_model(p):
    with open(p) as f:
        return json.load(f)


def params(m):
    return list(m["coefficients"]) + [m["intercept"]]


def max_rel(a, b):
    return max(rel_err(x, y) for x, y in zip(params(a), params(b)))


def stream_cmd(source, cols, model, *extra):
    args = ["--source", source, "--model", model, "--device", "cpu"]
    if cols:
        args += ["--columns", cols]
    return args + list(extra)


def train(csv_path, model, out):
    r = run([EXE, "train", "--model", model, "--input", csv_path, "--out", out,
             "--device", "cpu"], timeout=60)
    if r.returncode != 0:
        raise AssertionError("streamfit train failed: %s" % r.stderr)
    return load_model(out)


def solve(A, b):
    """Gaussian elimination with partial pivoting (small dense systems)."""
    n = len(b)
    M = [list(A[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[piv] = M[piv], M[c]
        for r in range(c + 1, n):
            f = M[r][c] / M[c][c]
            if f:
                for k in range(c, n + 1):
                    M[r][k] -= f * M[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (M[r][n] - sum(M[r][k] * x[k] for k in range(r + 1, n))) / M[r][r]
    return x


# ---------------------------------------------------------------- data

def make_ols(seed, n):
    rnd = random.Random(seed)
    w = [1.5, -2.0, 0.5, 3.0]
    rows = []
    for _ in range(n):
        x = [round(rnd.gauss(0, 1), 6) for _ in range(D)]
        y = round(0.7 + sum(a * b for a, b in zip(w, x)) + rnd.gauss(0, 1), 6)
        rows.append([y] + x)
    return rows


def make_logit(seed, n):
    rnd = random.Random(seed)
    w = [1.0, -1.5, 0.5]
    rows = []
    for _ in range(n):
        x = [round(rnd.gauss(0, 1), 6) for _ in range(3)]
        z = -0.3 + sum(a * b for a, b in zip(w, x))
        rows.append([1 if rnd.random() < 1 / (1 + math.exp(-z)) else 0] + x)
    return rows


def fmt_row(r):
    return ",".join("%d" % v if isinstance(v, int) else "%.6f" % v for v in r)


def write_csv(p, header, rows):
    with open(p, "w") as f:
        f.write(header + "\n")
        for r in rows:
            f.write(fmt_row(r) + "\n")


# ---------------------------------------------------------------- fixtures

B1 = B2 = None     # 4 partitions / 1 partition
OLS = LOGIT = None
OLS_CSV = LOGIT_CSV = None
OLS_KEYS = None    # key of each OLS record, in file order
REF = {}           # results shared between tests (reference runs)


def setUpModule():
    global B1, B2, OLS, LOGIT, OLS_CSV, LOGIT_CSV, OLS_KEYS
    OLS = make_ols(11, N)
    LOGIT = make_logit(12, N)
    OLS_CSV = path("ols.csv")
    LOGIT_CSV = path("logit.csv")
    write_csv(OLS_CSV, OLS_COLS, OLS)
    write_csv(LOGIT_CSV, LOGIT_COLS, LOGIT)
    OLS_KEYS = ["k%05d" % i for i in range(N)]
    B1 = Broker("--partitions", "4", "--topic", "rows", "--topic", "ckrows", "--topic", "bad")
    B2 = Broker("--partitions", "1", "--topic", "logit", "--topic", "cklogit")
    kcat_produce(B1.bootstrap, "rows",
                 ["%s\t%s" % (k, fmt_row(r)) for k, r in zip(OLS_KEYS, OLS)], keyed=True)
    kcat_produce(B2.bootstrap, "logit", [fmt_row(r) for r in LOGIT])


def tearDownModule():
    for b in (B1, B2):
        if b:
            b.stop()


def ols_offline_predictions(rows, warmup, batch):
    """Test-then-train by hand: each batch predicted by the OLS fit on all
    rows before it. Returns the predictions of rows[warmup:]."""
    p = D + 1
    A = [[0.0] * p for _ in range(p)]
    b = [0.0] * p

    def add(r):
        z = r[1:] + [1.0]
        for i in range(p):
            zi = z[i]
            b[i] += zi * r[0]
            Ai = A[i]
            for j in range(p):
                Ai[j] += zi * z[j]

    for r in rows[:warmup]:
        add(r)
    preds = []
    for s in range(warmup, len(rows), batch):
        theta = solve(A, b)
        chunk = rows[s:s + batch]
        for r in chunk:
            preds.append(sum(t * v for t, v in zip(theta, r[1:] + [1.0])))
        for r in chunk:
            add(r)
    return preds


# ---------------------------------------------------------------- tests

class StreamTests(unittest.TestCase):
    maxDiff = 2000

    def setUp(self):
        self._t = time.monotonic()

    def tearDown(self):
        info("(%.1f s)" % (time.monotonic() - self._t))

    # 1 ---------------------------------------------------------------
    def test_1_kafka_end_to_end_counts(self):
        B = B1.bootstrap
        m, met = path("t1_model.json"), path("t1_metrics.jsonl")
        r = run([EXE, "stream", *stream_cmd(
            "kafka://%s/rows" % B, OLS_COLS, "ols", "--warmup-rows", str(WARMUP),
            "--batch-rows", str(BATCH), "--batch-ms", "60000", "--max-rows", str(N),
            "--predictions", "kafka://%s/preds1" % B, "--model-out", m, "--metrics-out", met,
            "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, "stream failed: " + r.stderr)
        got = kcat_consume(B, "preds1", fmt="%k\t%s\n")
        self.assertEqual(len(got), N - WARMUP, "prediction messages (N - warmup)")
        keys = [g.split("\t", 1)[0] for g in got]
        self.assertEqual(len(set(keys)), len(keys), "every prediction carries a distinct key")
        self.assertTrue(set(keys) <= set(OLS_KEYS), "prediction keys are input keys")
        for g in got:
            float(g.split("\t", 1)[1])  # a CSV prediction: one number
        model = load_model(m)
        self.assertEqual(model["rows_seen"], N)
        self.assertEqual(model["rows_skipped"], 0)
        lines = read_metrics(met)
        self.assertEqual(len(lines), (N - WARMUP) // BATCH, "one metrics line per batch")
        self.assertEqual(lines[-1]["rows_total"], N)
        self.assertEqual(lines[-1]["metrics"]["cumulative"]["rows"], N - WARMUP)
        self.assertTrue(all(l["batch_rows"] == BATCH for l in lines), "batches close by count")
        REF["ols_kafka_model_b1000"] = model

    # 2 ---------------------------------------------------------------
    def test_2a_kafka_metrics_match_offline(self):
        B = B1.bootstrap
        m, met = path("t2_model.json"), path("t2_metrics.jsonl")
        r = run([EXE, "stream", *stream_cmd(
            "kafka://%s/rows" % B, OLS_COLS, "ols", "--warmup-rows", str(WARMUP),
            "--batch-rows", str(BATCH), "--batch-ms", "60000", "--max-rows", str(N),
            "--predictions", "kafka://%s/preds2" % B, "--predictions-format", "json",
            "--model-out", m, "--metrics-out", met, "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, "stream failed: " + r.stderr)
        model = load_model(m)
        ref = train(OLS_CSV, "ols", path("t2_train.json"))
        self.assertEqual(ref["rows_seen"], N)
        err = max_rel(model, ref)
        info("streamed OLS vs train: max relative difference %.2e" % err)
        self.assertLess(err, 1e-9, "streamed OLS model equals `train --model ols`")

        inputs = kcat_positions(B, "rows")
        self.assertEqual(len(inputs), N)
        preds = kcat_consume(B, "preds2", fmt="%k\t%s\n")
        self.assertEqual(len(preds), N - WARMUP)
        seen = set()
        sse = sae = 0.0
        for line in preds:
            key, val = line.split("\t", 1)
            o = json.loads(val)
            pos = (o["partition"], o["offset"])
            self.assertIn(pos, inputs, "prediction names an input position")
            self.assertNotIn(pos, seen, "one prediction per record")
            seen.add(pos)
            ikey, ival = inputs[pos]
            self.assertEqual(key, ikey, "the prediction's key is its input record's key")
            e = float(ival.split(",")[0]) - o["prediction"]
            sse += e * e
            sae += abs(e)
        n = len(seen)
        cum = read_metrics(met)[-1]["metrics"]["cumulative"]
        self.assertEqual(cum["rows"], n)
        rmse, mae = math.sqrt(sse / n), sae / n
        info("offline rmse %.10g vs metrics %.10g; mae %.10g vs %.10g"
             % (rmse, cum["rmse"], mae, cum["mae"]))
        self.assertLess(rel_err(rmse, cum["rmse"]), 1e-9, "cumulative rmse recomputed offline")
        self.assertLess(rel_err(mae, cum["mae"]), 1e-9, "cumulative mae recomputed offline")
        # the warm-up: per partition, the first records (never predicted)
        warm = set(inputs) - seen
        self.assertEqual(len(warm), WARMUP)
        for p in range(4):
            offs = sorted(o for (q, o) in warm if q == p)
            self.assertEqual(offs, list(range(len(offs))),
                             "the warm-up is a prefix of partition %d" % p)
        REF["ols_kafka_model"] = model

    def test_2b_file_predictions_are_test_then_train(self):
        m, met, pr = path("t2b_model.json"), path("t2b_metrics.jsonl"), path("t2b_preds.csv")
        r = run([EXE, "stream", *stream_cmd(
            "file:" + OLS_CSV, None, "ols", "--warmup-rows", str(WARMUP),
            "--batch-rows", str(BATCH), "--batch-ms", "60000", "--predictions", "file:" + pr,
            "--model-out", m, "--metrics-out", met, "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, "stream failed: " + r.stderr)
        with open(pr) as f:
            got = [float(l) for l in f]
        self.assertEqual(len(got), N - WARMUP)
        want = ols_offline_predictions(OLS, WARMUP, BATCH)
        worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got, want))
        info("file: predictions vs offline test-then-train: max difference %.2e" % worst)
        self.assertLess(worst, 1e-8, "each batch is predicted by the model before it")
        ys = [r_[0] for r_ in OLS[WARMUP:]]
        sse = sum((y - p) ** 2 for y, p in zip(ys, got))
        lines = read_metrics(met)
        cum = lines[-1]["metrics"]["cumulative"]
        self.assertLess(rel_err(math.sqrt(sse / len(got)), cum["rmse"]), 1e-9,
                        "cumulative rmse from the prediction file")
        # the cumulative rmse after every batch
        for i, l in enumerate(lines):
            k = (i + 1) * BATCH
            s = sum((y - p) ** 2 for y, p in zip(ys[:k], got[:k]))
            self.assertLess(rel_err(math.sqrt(s / k), l["metrics"]["cumulative"]["rmse"]), 1e-9,
                            "cumulative rmse after batch %d" % (i + 1))
            b = sum((y - p) ** 2 for y, p in zip(ys[k - BATCH:k], got[k - BATCH:k]))
            self.assertLess(rel_err(math.sqrt(b / BATCH), l["metrics"]["batch"]["rmse"]), 1e-9,
                            "batch rmse of batch %d" % (i + 1))
        model = load_model(m)
        self.assertEqual(model["rows_seen"], N)
        self.assertLess(max_rel(model, train(OLS_CSV, "ols", path("t2b_train.json"))), 1e-9)
        REF["ols_file_model"] = model
        REF["ols_file_cum"] = cum

    # 3 ---------------------------------------------------------------
    def _kill_restart(self, label, args, ckdir, metrics, feed_rest, resumable_stage1=True):
        """Run `args` (which has --checkpoint-dir ckdir) with SIGKILLs: right
        after start, after the warm-up message (only STAGE1 records exist), then
        (after feed_rest() supplies the rest) twice mid-run after new metrics
        lines; then to the end. Returns the last run's stderr."""
        notes = []
        # a: right after start
        s = Stream(args)
        time.sleep(0.15)
        s.kill()
        notes.append("killed 0.15 s after start%s" % (
            "" if os.path.exists(os.path.join(ckdir, "checkpoint.bin")) else
            " (no checkpoint yet)"))
        # b: after the warm-up fit (or a resume: the first run got that far)
        s = Stream(args)
        ok = wait_until(lambda: "warm-up fit on" in s.stderr() or "resumed from" in s.stderr()
                        or not s.alive(), 30)
        self.assertTrue(ok and s.alive(), "%s: run b reached the warm-up (stderr: %s)"
                        % (label, s.stderr()[-800:]))
        wait_until(lambda: os.path.exists(os.path.join(ckdir, "checkpoint.bin")), 10)
        time.sleep(0.3)
        s.kill()
        self.assertTrue(os.path.exists(os.path.join(ckdir, "checkpoint.bin")),
                        "%s: a checkpoint exists after the warm-up" % label)
        notes.append("killed after the warm-up message")
        feed_rest()
        # c, d: mid-run, after new metrics lines
        for extra in (3, 4):
            before = count_lines(metrics)
            s = Stream(args)
            wait_until(lambda: count_lines(metrics) >= before + extra or not s.alive(), 60,
                       interval=0.002)
            alive = s.alive()
            s.kill()
            notes.append("killed after %d new metrics lines" % (count_lines(metrics) - before)
                         if alive else "run ended before the kill (rc %s)" % s.proc.returncode)
        # e: to the end
        s = Stream(args)
        rc = s.wait(120)
        err = s.stderr()
        info("%s: %s; final run rc %s" % (label, "; ".join(notes), rc))
        self.assertEqual(rc, 0, "%s: the last restart completes --max-rows (stderr: %s)"
                         % (label, err[-1500:]))
        self.assertIn("resumed from", err, "%s: the last run resumed" % label)
        lines = read_metrics(metrics)
        self.assertTrue(lines, "%s: metrics written" % label)
        self.assertEqual(lines[-1]["rows_total"], N,
                         "%s: the resumed runs reach --max-rows %d (the last one stopped at "
                         "--max-ms with rows_total %d: the row count restored from a checkpoint "
                         "disagrees with the source positions saved with it)"
                         % (label, N, lines[-1]["rows_total"]))
        return err

    def test_3a_kill_restart_kafka_ols_4_partitions(self):
        B = B1.bootstrap
        ck, m, met = path("t3a_ck"), path("t3a_model.json"), path("t3a_metrics.jsonl")
        lines = ["%s\t%s" % (k, fmt_row(r)) for k, r in zip(OLS_KEYS, OLS)]
        kcat_produce(B, "ckrows", lines[:STAGE1], keyed=True)
        args = stream_cmd("kafka://%s/ckrows" % B, OLS_COLS, "ols", "--warmup-rows", str(WARMUP),
                          "--batch-rows", "500", "--batch-ms", "60000", "--max-rows", str(N),
                          "--max-ms", "20000", "--checkpoint-dir", ck, "--checkpoint-every", "1",
                          "--predictions", "kafka://%s/ckpreds" % B, "--predictions-format",
                          "json", "--model-out", m, "--metrics-out", met)
        self._kill_restart("kafka ols", args, ck, met,
                           lambda: kcat_produce(B, "ckrows", lines[STAGE1:], keyed=True))
        model = load_model(m)
        self.assertEqual(model["rows_seen"], N)
        ref = REF.get("ols_kafka_model") or train(OLS_CSV, "ols", path("t3a_train.json"))
        err = max_rel(model, ref)
        info("kafka ols after kills vs uninterrupted: max relative difference %.2e" % err)
        self.assertLess(err, 1e-12, "model after kills equals the uninterrupted run's")
        last = read_metrics(met)[-1]
        self.assertEqual(last["rows_total"], N)
        self.assertEqual(last["metrics"]["cumulative"]["rows"], N - WARMUP)
        # at-least-once predictions: every record after the warm-up, none of it
        inputs = kcat_positions(B, "ckrows")
        preds = [json.loads(v) for v in kcat_consume(B, "ckpreds")]
        pos = set((o["partition"], o["offset"]) for o in preds)
        info("kafka ols: %d prediction messages for %d records (replayed after kills: %d)"
             % (len(preds), len(pos), len(preds) - len(pos)))
        self.assertEqual(len(pos), N - WARMUP, "every record after the warm-up was predicted")
        self.assertTrue(pos <= set(inputs), "predictions name input positions")

    def test_3b_kill_restart_kafka_logistic_bit_for_bit(self):
        B = B2.bootstrap
        common = ["--warmup-rows", str(WARMUP), "--batch-rows", "500", "--batch-ms", "60000",
                  "--max-rows", str(N), "--max-ms", "20000"]
        mref, metref = path("t3b_ref.json"), path("t3b_ref.jsonl")
        r = run([EXE, "stream", *stream_cmd("kafka://%s/logit" % B, LOGIT_COLS, "logistic",
                                            *common, "--model-out", mref, "--metrics-out",
                                            metref, "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, "uninterrupted run: " + r.stderr)
        ck, m, met = path("t3b_ck"), path("t3b_model.json"), path("t3b_metrics.jsonl")
        lines = [fmt_row(x) for x in LOGIT]
        kcat_produce(B, "cklogit", lines[:STAGE1])
        args = stream_cmd("kafka://%s/cklogit" % B, LOGIT_COLS, "logistic", *common,
                          "--checkpoint-dir", ck, "--checkpoint-every", "1", "--model-out", m,
                          "--metrics-out", met)
        self._kill_restart("kafka logistic", args, ck, met,
                           lambda: kcat_produce(B, "cklogit", lines[STAGE1:]))
        a, b = load_model(m), load_model(mref)
        self.assertEqual(a["rows_seen"], N)
        self.assertEqual(params(a), params(b), "bit-for-bit the uninterrupted run's model")
        la, lb = read_metrics(met)[-1], read_metrics(metref)[-1]
        self.assertEqual(la["rows_total"], N)
        self.assertEqual(la["batch"], lb["batch"])
        for k, v in lb["metrics"]["cumulative"].items():
            self.assertLess(rel_err(la["metrics"]["cumulative"][k], v), 1e-12,
                            "cumulative %s equals the uninterrupted run's" % k)
        self.assertEqual(la["metrics"]["window"], lb["metrics"]["window"])

    def test_3c_kill_restart_file_source(self):
        src = path("t3c_growing.csv")
        with open(OLS_CSV) as f:
            all_lines = f.readlines()
        with open(src, "w") as f:
            f.writelines(all_lines[:1 + STAGE1])  # the header and STAGE1 records

        def feed_rest():
            with open(src, "a") as f:
                f.write("".join(all_lines[1 + STAGE1:]))

        common = ["--warmup-rows", str(WARMUP), "--batch-rows", "500", "--batch-ms", "60000",
                  "--max-rows", str(N), "--max-ms", "20000"]
        mref, metref = path("t3c_ref.json"), path("t3c_ref.jsonl")
        r = run([EXE, "stream", *stream_cmd("file:" + OLS_CSV, None, "ols", *common,
                                            "--model-out", mref, "--metrics-out", metref,
                                            "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, "uninterrupted run: " + r.stderr)
        ck, m, met = path("t3c_ck"), path("t3c_model.json"), path("t3c_metrics.jsonl")
        pr = path("t3c_preds.jsonl")
        args = stream_cmd("file:" + src, None, "ols", *common, "--follow", "--checkpoint-dir",
                          ck, "--checkpoint-every", "1", "--model-out", m, "--metrics-out", met,
                          "--predictions", "file:" + pr, "--predictions-format", "json")
        self._kill_restart("file ols", args, ck, met, feed_rest)
        a, b = load_model(m), load_model(mref)
        self.assertEqual(a["rows_seen"], N)
        err = max_rel(a, b)
        info("file ols after kills vs uninterrupted: max relative difference %.2e%s"
             % (err, " (bit for bit)" if params(a) == params(b) else ""))
        self.assertLess(err, 1e-12)
        la, lb = read_metrics(met)[-1], read_metrics(metref)[-1]
        self.assertEqual(la["rows_total"], N)
        for k, v in lb["metrics"]["cumulative"].items():
            self.assertLess(rel_err(la["metrics"]["cumulative"][k], v), 1e-12,
                            "cumulative %s equals the uninterrupted run's" % k)
        # at-least-once predictions (a torn last line of a killed run is skipped)
        got = []
        with open(pr) as f:
            for l in f:
                try:
                    got.append(json.loads(l)["line"])
                except ValueError:
                    pass
        info("file ols: %d prediction lines for %d records (replayed after kills: %d)"
             % (len(got), len(set(got)), len(got) - len(set(got))))
        self.assertEqual(set(got), set(range(WARMUP + 2, N + 2)),
                         "every record after the warm-up was predicted (file lines %d..%d)"
                         % (WARMUP + 2, N + 1))

    def test_3d_refit_window_after_resume(self):
        """--refit-every: the README says the refit window is not part of the
        checkpoint; report how far a resumed run's metrics drift (no assertion
        on the drift), and check the run itself resumes and completes."""
        common = ["--warmup-rows", str(WARMUP), "--batch-rows", str(BATCH), "--batch-ms",
                  "60000", "--refit-every", "3", "--refit-window", "3000", "--quiet"]
        mref, metref = path("t3d_ref.json"), path("t3d_ref.jsonl")
        r = run([EXE, "stream", *stream_cmd("file:" + LOGIT_CSV, None, "logistic", *common,
                                            "--max-rows", str(N), "--model-out", mref,
                                            "--metrics-out", metref)], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        ck, m, met = path("t3d_ck"), path("t3d_model.json"), path("t3d_metrics.jsonl")
        for rows in (7000, N):
            r = run([EXE, "stream", *stream_cmd("file:" + LOGIT_CSV, None, "logistic", *common,
                                                "--max-rows", str(rows), "--checkpoint-dir", ck,
                                                "--model-out", m, "--metrics-out", met)],
                    timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(load_model(m)["rows_seen"], N)
        a, b = read_metrics(met)[-1], read_metrics(metref)[-1]
        self.assertEqual(a["rows_total"], N)
        ca, cb = a["metrics"]["cumulative"], b["metrics"]["cumulative"]
        info("refit window after a resume: cumulative log_loss %.10g vs %.10g uninterrupted "
             "(%s)" % (ca["log_loss"], cb["log_loss"],
                       "identical" if ca == cb else "differs: the window is not checkpointed"))

    # 4 ---------------------------------------------------------------
    def test_4_dead_letters(self):
        B = B1.bootstrap
        bad_values = ["1.0,2.0,3.0", "abc", "nan,1,2,3,4", "1,2,3,4,5,6", "1,2,x,4,5",
                      "inf,1,2,3,4", "1,,3,4,5", "abc"]
        per_part, rows = 600, make_ols(21, 4 * 600)
        expected = {}  # (partition, offset) -> (key, record)
        good = 0
        it = iter(rows)
        for p in range(4):
            bad_at = {37 + 11 * p: bad_values[2 * p], 311 + p: bad_values[2 * p + 1]}
            msgs = []
            for o in range(per_part):
                key = "p%d-%d" % (p, o)
                if o in bad_at:
                    msgs.append("%s\t%s" % (key, bad_at[o]))
                    expected[(p, o)] = (key, bad_at[o])
                else:
                    msgs.append("%s\t%s" % (key, fmt_row(next(it))))
                    good += 1
            kcat_produce(B, "bad", msgs, partition=p, keyed=True)
        nbad = len(expected)
        common = ["--warmup-rows", "500", "--batch-rows", "500", "--batch-ms", "60000",
                  "--max-rows", str(good), "--max-ms", "60000"]

        def check_letters(letters, where, keyed):
            got, keys = {}, {}
            for key, text in letters:
                o = json.loads(text)
                for f in ("reason", "partition", "offset", "record"):
                    self.assertIn(f, o, "%s: dead letter has '%s': %s" % (where, f, text))
                self.assertTrue(o["reason"], where)
                got[(o["partition"], o["offset"])] = o["record"]
                keys[(o["partition"], o["offset"])] = key
            self.assertEqual(len(letters), nbad, "%s: one dead letter per bad record" % where)
            self.assertEqual(got, {k: v[1] for k, v in expected.items()},
                             "%s: the bad records, raw, at their positions" % where)
            if keyed:
                self.assertEqual(keys, {k: v[0] for k, v in expected.items()},
                                 "%s: dead letters keep the input key" % where)

        def check_run(r, m, met, where):
            self.assertEqual(r.returncode, 0, "%s: %s" % (where, r.stderr))
            self.assertEqual(read_metrics(met)[-1]["rows_skipped"], nbad,
                             "%s: rows_skipped in the metrics" % where)
            model = load_model(m)
            self.assertEqual((model["rows_seen"], model["rows_skipped"]), (good, nbad), where)
            named = [l for l in r.stderr.splitlines() if l.endswith("(skipped)")]
            self.assertEqual(len(named), min(5, nbad), "%s: the first five are shown" % where)
            for l in named:
                self.assertTrue(any("partition %d offset %d:" % k in l for k in expected),
                                "%s: stderr names a bad record's position: %s" % (where, l))

        m, met = path("t4_model.json"), path("t4_metrics.jsonl")
        r = run([EXE, "stream", *stream_cmd("kafka://%s/bad" % B, OLS_COLS, "ols", *common,
                                            "--dead-letter", "kafka://%s/dlq" % B,
                                            "--model-out", m, "--metrics-out", met)],
                timeout=120)
        check_run(r, m, met, "kafka dead letters")
        letters = [tuple(l.split("\t", 1)) for l in kcat_consume(B, "dlq", fmt="%k\t%s\n")]
        check_letters(letters, "kafka dead letters", True)

        dl = path("t4_dead.jsonl")
        r = run([EXE, "stream", *stream_cmd("kafka://%s/bad" % B, OLS_COLS, "ols", *common,
                                            "--dead-letter", "file:" + dl, "--model-out", m,
                                            "--metrics-out", met)], timeout=120)
        check_run(r, m, met, "file dead letters")
        with open(dl) as f:
            check_letters([(None, l) for l in f.read().splitlines()], "file dead letters", False)

        r = run([EXE, "stream", *stream_cmd("kafka://%s/bad" % B, OLS_COLS, "ols", *common,
                                            "--on-error", "fail")], timeout=120)
        self.assertEqual(r.returncode, 1, "--on-error fail exits 1: " + r.stderr)
        self.assertTrue(any("partition %d offset %d:" % k in r.stderr for k in expected) and
                        "--on-error fail" in r.stderr,
                        "--on-error fail names the position: " + r.stderr)

        # a file source: line numbers and byte offsets
        src, dl2 = path("t4_bad.csv"), path("t4_dead2.jsonl")
        lines = [OLS_COLS] + [fmt_row(x) for x in make_ols(22, 1200)]
        bad_lines = {10: "abc", 500: "1,2,3", 777: "nan,1,2,3,4"}  # 1-based line numbers
        for ln, v in bad_lines.items():
            lines[ln - 1] = v
        data = "".join(l + "\n" for l in lines)
        with open(src, "w") as f:
            f.write(data)
        r = run([EXE, "stream", *stream_cmd("file:" + src, None, "ols", "--warmup-rows", "300",
                                            "--batch-rows", "300", "--dead-letter", "file:" + dl2,
                                            "--metrics-out", met)], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        for ln in bad_lines:
            self.assertIn("line %d:" % ln, r.stderr, "stderr names line %d" % ln)
        with open(dl2) as f:
            got = [json.loads(l) for l in f]
        self.assertEqual(sorted((o["line"], o["record"]) for o in got), sorted(bad_lines.items()))
        raw = data.encode()
        for o in got:
            off = o["byte_offset"]
            self.assertEqual(raw[off:off + len(o["record"])].decode(), o["record"],
                             "byte_offset of line %d" % o["line"])
            self.assertTrue(off == 0 or raw[off - 1:off] == b"\n")
        self.assertEqual(read_metrics(met)[-1]["rows_skipped"], len(bad_lines))
        self.assertEqual(read_metrics(met)[-1]["rows_total"], 1200 - len(bad_lines))

    # 5 ---------------------------------------------------------------
    def test_5_broker_paused_and_resumed(self):
        n, warm = 6000, 1000
        b3 = Broker("--partitions", "4", "--topic", "feed")
        try:
            B = b3.bootstrap
            feed = path("t5_feed.csv")
            write_csv(feed, OLS_COLS, make_ols(31, n))
            met = path("t5_metrics.jsonl")
            s = Stream(stream_cmd("kafka://%s/feed" % B, OLS_COLS, "ols", "--warmup-rows",
                                  str(warm), "--batch-rows", "500", "--batch-ms", "200",
                                  "--max-rows", str(n), "--max-ms", "90000", "--predictions",
                                  "kafka://%s/fpreds" % B, "--metrics-out", met))
            prod = subprocess.Popen([EXE, "produce", "--brokers", B, "--topic", "feed",
                                     "--input", feed, "--rate", "2000"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            seen_before = wait_until(lambda: count_lines(met) >= 1 or not s.alive(), 20)
            rows_before = read_metrics(met)[-1]["rows_total"] if read_metrics(met) else 0
            os.kill(b3.proc.pid, signal.SIGSTOP)
            time.sleep(4.0)
            os.kill(b3.proc.pid, signal.SIGCONT)
            try:
                perr = prod.communicate(timeout=60)[1]
            except subprocess.TimeoutExpired:
                prod.kill()
                perr = prod.communicate()[1]
            scan_sanitizer("produce", perr)
            rc = s.wait(60)
            err = s.stderr()
            self.assertTrue(seen_before, "the run was predicting before the pause")
            info("paused the broker at %d rows for 4 s" % rows_before)
            self.assertEqual(prod.returncode, 0, "produce: " + perr)
            self.assertIn("produced %d records" % n, perr)
            self.assertEqual(rc, 0, "stream finishes after the pause: " + err[-1500:])
            self.assertEqual(read_metrics(met)[-1]["rows_total"], n)
            got = kcat_consume(B, "fpreds")
            self.assertEqual(len(got), n - warm, "exactly one prediction per record")
            down = err.count("brokers unreachable")
            info("stderr mentions the broker being unreachable %d time(s); notices: %s"
                 % (down, [l for l in err.splitlines() if "kafka:" in l][:6]))
            self.assertLessEqual(down, 1, "the outage is reported at most once")
        finally:
            b3.stop()

    # 6 ---------------------------------------------------------------
    def test_6_consumer_group_of_two(self):
        B = B1.bootstrap
        procs, outs = [], []
        for name in ("a", "b"):
            o = {"pred": path("t6_%s_preds.jsonl" % name), "met": path("t6_%s.jsonl" % name),
                 "model": path("t6_%s.json" % name), "ck": path("t6_%s_ck" % name)}
            outs.append(o)
            procs.append(Stream(stream_cmd(
                "kafka://%s/rows" % B, OLS_COLS, "ols", "--group", "g1", "-X",
                "session.timeout.ms=6000", "--max-ms", "30000", "--warmup-rows", "500",
                "--batch-rows", "500", "--batch-ms", "300", "--predictions", "file:" + o["pred"],
                "--predictions-format", "json", "--metrics-out", o["met"], "--model-out",
                o["model"], "--checkpoint-dir", o["ck"])))

        def total():
            t = 0
            for o in outs:
                lines = read_metrics(o["met"])
                t += lines[-1]["rows_total"] if lines else 0
            return t

        t_start = time.monotonic()
        done = wait_until(lambda: total() >= N or not all(p.alive() for p in procs), 28,
                          interval=0.05)
        time.sleep(0.5)  # a duplicate consumption would show as more than N
        rcs = [p.term(30) for p in procs]
        info("group of two: %d rows after %.1f s (%s)"
             % (total(), time.monotonic() - t_start, "reached" if done else "timed out"))
        self.assertEqual(rcs, [0, 0], "both stop cleanly on SIGTERM: %s"
                         % [p.stderr()[-600:] for p in procs])
        rows = []
        parts = []
        for o in outs:
            rows.append(load_model(o["model"])["rows_seen"] if os.path.exists(o["model"]) else 0)
            ps = set()
            if os.path.exists(o["pred"]):
                with open(o["pred"]) as f:
                    for l in f:
                        ps.add(json.loads(l)["partition"])
            parts.append(ps)
        info("group of two: rows %s, partitions %s" % (rows, [sorted(p) for p in parts]))
        self.assertEqual(sum(rows), N, "the two consumers together read every record once "
                         "(a sum above N means a rebalance re-delivered records; below N, "
                         "the group had not consumed everything within the time given)")
        self.assertFalse(parts[0] & parts[1], "disjoint partitions")
        self.assertEqual(parts[0] | parts[1], {0, 1, 2, 3}, "together all partitions")

    # 7 ---------------------------------------------------------------
    def test_7a_dir_source(self):
        d = path("t7_dir")
        os.mkdir(d)
        rows = make_ols(41, 6000)
        with open(os.path.join(d, "0.csv.tmp"), "w") as f:  # ignored: a .tmp name
            f.write(OLS_COLS + "\n" + "junk,1,2,3,4\n" * 10)
        write_csv(os.path.join(d, "a.csv.tmp"), OLS_COLS, rows[:3000])
        os.rename(os.path.join(d, "a.csv.tmp"), os.path.join(d, "a.csv"))
        m, met, pr = path("t7_model.json"), path("t7_metrics.jsonl"), path("t7_preds.jsonl")
        s = Stream(stream_cmd("dir:" + d, None, "ols", "--warmup-rows", "1000", "--batch-rows",
                              "500", "--batch-ms", "200", "--max-rows", "6000", "--max-ms",
                              "30000", "--model-out", m, "--metrics-out", met, "--predictions",
                              "file:" + pr, "--predictions-format", "json"))
        wait_until(lambda: read_metrics(met) and read_metrics(met)[-1]["rows_total"] >= 3000
                   or not s.alive(), 15)
        write_csv(os.path.join(d, "b.csv.tmp"), OLS_COLS, rows[3000:])
        os.rename(os.path.join(d, "b.csv.tmp"), os.path.join(d, "b.csv"))
        rc = s.wait(40)
        self.assertEqual(rc, 0, "dir: run stops at --max-rows: " + s.stderr()[-1000:])
        model = load_model(m)
        self.assertEqual((model["rows_seen"], model["rows_skipped"]), (6000, 0),
                         "both files read, headers and the .tmp file skipped")
        self.assertEqual(read_metrics(met)[-1]["rows_total"], 6000)
        with open(pr) as f:
            self.assertEqual(len(f.readlines()), 5000)
        both = path("t7_both.csv")
        write_csv(both, OLS_COLS, rows)
        self.assertLess(max_rel(model, train(both, "ols", path("t7_train.json"))), 1e-9)

    def test_7b_stdin_source(self):
        rows = make_ols(42, 5000)
        text = OLS_COLS + "\n" + "".join(fmt_row(r) + "\n" for r in rows)
        m, pr = path("t7b_model.json"), path("t7b_preds.csv")
        r = run([EXE, "stream", *stream_cmd("stdin", None, "ols", "--warmup-rows", "1000",
                                            "--batch-rows", "1000", "--model-out", m,
                                            "--predictions", "file:" + pr, "--quiet")],
                input=text, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        model = load_model(m)
        self.assertEqual(model["rows_seen"], 5000)
        with open(pr) as f:
            self.assertEqual(len(f.readlines()), 4000)
        csv = path("t7b.csv")
        write_csv(csv, OLS_COLS, rows)
        self.assertLess(max_rel(model, train(csv, "ols", path("t7b_train.json"))), 1e-9)

    # 8 ---------------------------------------------------------------
    def test_8a_usage_errors(self):
        cases = [
            (["--model", "ols"], "--source"),
            (["--source", "ftp://host/x", "--model", "ols"], "ftp://host/x"),
            (["--source", "file:" + OLS_CSV, "--model", "ols", "--batch-rows", "0"],
             "--batch-rows"),
            (["--source", "file:" + OLS_CSV, "--model", "logistic", "--decay", "0.5"],
             "--decay"),
        ]
        for args, word in cases:
            with self.subTest(args=args):
                r = run([EXE, "stream", *args], timeout=30)
                self.assertEqual(r.returncode, 2, "exit 2 for %s (stderr: %s)"
                                 % (args, r.stderr.strip()))
                self.assertIn(word, r.stderr)

    def test_8b_unreachable_broker(self):
        t = time.monotonic()
        r = run([EXE, "stream", "--source", "kafka://127.0.0.1:%d/t" % free_port(), "--model",
                 "ols", "--device", "cpu", "--max-ms", "3000"], timeout=60)
        secs = time.monotonic() - t
        info("unreachable broker: rc %d after %.1f s: %s" % (
            r.returncode, secs, " | ".join(l for l in r.stderr.splitlines() if "kafka" in l)))
        self.assertIn(r.returncode, (0, 1), "no crash: " + r.stderr)
        self.assertTrue(r.stderr.strip(), "a message on stderr")
        self.assertLess(secs, 20, "--max-ms bounds the run")


    # 9 ---------------------------------------------------------------
    def test_9a_default_settings_no_config_warnings(self):
        B = B1.bootstrap
        cases = [
            ("default flags", [], False),
            # each key applies to one kind of client only: no warning either
            ("-X for both", ["-X", "linger.ms=2", "-X", "fetch.wait.max.ms=5"], False),
            # given for the consumer explicitly: librdkafka's warning comes through
            ("--consumer-X linger.ms", ["--consumer-X", "linger.ms=2"], True),
        ]
        for what, extra, warn in cases:
            r = run([EXE, "stream", *stream_cmd(
                "kafka://%s/rows" % B, OLS_COLS, "ols", "--warmup-rows", str(WARMUP),
                "--max-rows", "5000", "--predictions", "kafka://%s/preds9a" % B,
                "--dead-letter", "kafka://%s/dead9a" % B, *extra)], timeout=120)
            self.assertEqual(r.returncode, 0, what + ": " + r.stderr)
            warned = "CONFWARN" in r.stderr or "configuration property" in r.stderr.lower()
            info("%s: configuration warning %s" % (what, "yes" if warned else "no"))
            self.assertEqual(warned, warn, what + ": stderr: " + r.stderr)

    def test_9b_file_predictions_visible_per_batch(self):
        B = B1.bootstrap
        pr = path("t9b_pred.csv")
        s = Stream(stream_cmd("kafka://%s/rows" % B, OLS_COLS, "ols", "--warmup-rows",
                              str(WARMUP), "--batch-rows", "500", "--batch-ms", "50",
                              "--predictions", "file:" + pr, "--quiet"))
        try:
            # The topic holds N records and the run waits for more: every
            # prediction must be on disk while it still runs.
            ok = wait_until(lambda: count_lines(pr) >= N - WARMUP or not s.alive(), 60, 0.05)
            alive = s.alive()
            lines = count_lines(pr)
            info("file predictions: %d lines on disk, run alive: %s" % (lines, alive))
            self.assertTrue(ok and alive, "the run goes on: " + s.stderr())
            self.assertEqual(lines, N - WARMUP, "every batch flushed to the file")
        finally:
            rc = s.term()
        self.assertEqual(rc, 0, s.stderr())
        with open(pr) as f:  # shortest round-trip digits (as Python's repr)
            for line in f:
                t = line.strip()
                self.assertLessEqual(len(t), len(repr(float(t)).replace(".0e", "e")), t)

    def test_9b2_predictions_per_message(self):
        B = B1.bootstrap
        r = run([EXE, "stream", *stream_cmd(
            "kafka://%s/rows" % B, OLS_COLS, "ols", "--warmup-rows", str(WARMUP),
            "--batch-rows", str(BATCH), "--batch-ms", "60000", "--max-rows", str(N),
            "--predictions", "kafka://%s/preds9b" % B, "--predictions-per-message", "300",
            "--quiet")], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = "\n".join(kcat_consume(B, "preds9b", fmt="@@MSG@@%k|%s\\n"))
        got = text.split("@@MSG@@")[1:]
        per_batch = -(-BATCH // 300)  # 300, 300, 300, 100 lines per batch of 1000
        self.assertEqual(len(got), per_batch * (N - WARMUP) // BATCH)
        lines = [l for m in got for l in m.split("|", 1)[1].strip("\n").split("\n")]
        self.assertEqual(len(lines), N - WARMUP)
        self.assertTrue(all(m.split("|", 1)[0] == "" for m in got), "no keys")
        for l in lines:
            float(l)

    def test_9c_lag_loss_stops_with_status_1(self):
        b = Broker("--partitions", "1", "--topic", "lossy")
        try:
            self._lag_loss(b.bootstrap)
        finally:
            b.stop()

    def _lag_loss(self, B):
        ck, met = path("t9c_ck"), path("t9c_metrics.jsonl")
        first = 3000
        kcat_produce(B, "lossy", [fmt_row(r) for r in OLS[:first]])
        common = stream_cmd("kafka://%s/lossy" % B, OLS_COLS, "ols", "--warmup-rows", "1000",
                            "--batch-rows", "500", "--checkpoint-dir", ck, "--metrics-out", met)
        r = run([EXE, "stream", *common, "--max-rows", "2000", "--quiet"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        # About 7 MiB more: the development broker keeps about 5 MiB per
        # partition and deletes the oldest records, offset 2000 among them.
        pad = ",".join(["0.123456789012345"] * D)
        filler = ["%.15f,%s" % (i * 1e-9, pad) for i in range(75000)]
        kcat_produce(B, "lossy", filler, timeout=120)
        low = int(run(["kcat", "-b", B, "-Q", "-t", "lossy:0:-2"]).stdout.split()[-1])
        info("the broker's oldest offset is now %d (the checkpoint is at 2000)" % low)
        self.assertGreater(low, 2000, "the broker deleted the records after the checkpoint")

        r = run([EXE, "stream", *common, "--max-rows", "100000", "--quiet"], timeout=120)
        info("resumed: rc %d: %s" % (r.returncode, r.stderr.strip().splitlines()[-1:]))
        self.assertEqual(r.returncode, 1, "records lost: status 1: " + r.stderr)
        want = "partition 0: offsets 2000..%d (%d records)" % (low - 1, low - 2000)
        self.assertIn(want, r.stderr, "stderr names partition and offsets")
        last = read_metrics(met)[-1]
        self.assertEqual(last["rows_lost"], low - 2000)
        self.assertEqual(last["lost"], [{"partition": 0, "first": 2000, "last": low - 1,
                                         "count": low - 2000}])
        # The checkpoint stays before the gap: the same stop again.
        r = run([EXE, "stream", *common, "--max-rows", "100000", "--quiet"], timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        # Going on after the gap, on request: every record still there is read.
        after = 75000 + first - low
        r = run([EXE, "stream", *common, "--on-lag-loss", "continue", "--max-rows",
                 str(2000 + after)], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("going on after them", r.stderr)
        last = read_metrics(met)[-1]
        self.assertEqual(last["rows_total"], 2000 + after)
        self.assertEqual(last["rows_lost"], low - 2000)

    def test_9d_latency_end_to_end_against_kcat(self):
        b = Broker("--partitions", "2", "--topic", "paced", "--topic", "pacedout")
        try:
            self._latency(b.bootstrap)
        finally:
            b.stop()

    def _latency(self, B):
        met = path("t9d_metrics.jsonl")
        total = 12000
        s = Stream(stream_cmd("kafka://%s/paced" % B, OLS_COLS, "ols", "--warmup-rows", "2000",
                              "--max-rows", str(total), "--predictions",
                              "kafka://%s/pacedout" % B, "--metrics-out", met, "--quiet"))
        try:
            # about 20,000 records a second, in small keyed chunks
            for c in range(0, total, 1000):
                kcat_produce(B, "paced", ["r%05d\t%s" % (i, fmt_row(OLS[i]))
                                          for i in range(c, c + 1000)], keyed=True)
                time.sleep(0.03)
            rc = s.wait(120)
        finally:
            if s.alive():
                s.kill()
        self.assertEqual(rc, 0, s.stderr())
        lines = read_metrics(met)
        for l in lines:
            lat = l["latency_ms"]
            self.assertLessEqual(lat["p50"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["max"])
            # every record waited at least as long as its batch's processing
            self.assertGreaterEqual(lat["p50"] * (1 + 1 / 64) + 1e-3, l["processing_ms"], l)
            self.assertGreaterEqual(l["processing_ms"], 0)
        run_lat = lines[-1]["latency_run_ms"]
        self.assertEqual(run_lat["rows"], total - 2000)
        # kcat as the independent reader: prediction timestamp - input timestamp, by key
        t_in = dict(x.split("\t") for x in kcat_consume(B, "paced", fmt="%k\t%T\n"))
        e2e = sorted(int(t) - int(t_in[k]) for k, t in
                     (x.split("\t") for x in kcat_consume(B, "pacedout", fmt="%k\t%T\n")))
        self.assertEqual(len(e2e), total - 2000)
        kp99 = e2e[math.ceil(0.99 * len(e2e)) - 1]
        info("end-to-end p99: metrics %.2f ms, kcat %d ms (p50 %.2f / %d)"
             % (run_lat["p99"], kp99, run_lat["p50"], e2e[len(e2e) // 2]))
        # Kafka timestamps are whole milliseconds; the histogram's buckets
        # are within 1/64; the prediction's timestamp is taken when the batch
        # is handed to librdkafka, just before the metrics' clock. On a busy
        # machine the two may drift apart a little more (scheduling).
        self.assertLessEqual(abs(run_lat["p99"] - kp99), 5 + kp99 / 10)


# ---------------------------------------------------------------- main

def main():
    global EXE, TMP
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed (apt install kcat)")
        return SKIP
    info_out = subprocess.run([EXE, "info"], capture_output=True, text=True, timeout=30).stdout
    if "kafka=on" not in info_out:
        print("skipped: this streamfit build has no Kafka support")
        return SKIP
    TMP = tempfile.mkdtemp(prefix="sf_stream_")
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(StreamTests)
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    finally:
        if B1 or B2:
            tearDownModule()
        for name in sorted(os.listdir(TMP)):  # stream and broker stderr
            if name.endswith(".err"):
                with open(os.path.join(TMP, name), errors="replace") as f:
                    scan_sanitizer(name, f.read())
        shutil.rmtree(TMP, ignore_errors=True)
    for hit in SAN_HITS:
        print("FAIL sanitizer report on %s" % hit)
    bad = len(result.failures) + len(result.errors)
    print("test_stream: %d tests, %d failed, %d errors, %d skipped, %d sanitizer reports "
          "in %.1f s" % (result.testsRun, len(result.failures), len(result.errors),
                         len(result.skipped), len(SAN_HITS), time.monotonic() - T0))
    return 0 if bad == 0 and not SAN_HITS else 1


if __name__ == "__main__":
    sys.exit(main())
