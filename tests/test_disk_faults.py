#!/usr/bin/env python3
"""The disk fails under streamfit: writes, fsyncs and renames of checkpoints
and model files fail on purpose (tests/faults/fail_io.c, preloaded), and the
predictions go to /dev/full (every write: ENOSPC).

Usage: python3 tests/test_disk_faults.py PATH_TO_streamfit PATH_TO_libsf_fail_io.so

Checked for each failure: the command exits 1 and names the file and the
failed step; no half-written file is left (no *.tmp*); the previous
checkpoint or model file is intact, and a run resumed from that checkpoint
ends with the same model, bit for bit, as a run that never failed (CPU
backend, same batches). A checkpoint of another model, configuration or
columns is refused, naming the folder; --reset-checkpoint starts over.
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

BIN = SHIM = TMP = None
TIMEOUT_S = 120


def run(args, fail_io=None):
    env = dict(os.environ)
    if fail_io:
        env["SF_FAIL_IO"] = fail_io
        env["LD_PRELOAD"] = SHIM
        # A sanitizer build wants its runtime first; the shim has none of its own.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    assert p.returncode >= 0, f"killed by signal {-p.returncode}: {p.stderr}"
    return p


def leftovers(folder):
    return [f for f in os.listdir(folder) if ".tmp" in f]


def make_data():
    rnd = random.Random(5)
    path = os.path.join(TMP, "rows.csv")
    with open(path, "w") as f:
        f.write("y,a,b,c\n")
        for _ in range(20000):
            a, b, c = (rnd.gauss(0, 1) for _ in range(3))
            f.write(f"{1 + 2 * a - b + 0.5 * c + rnd.gauss(0, 0.1)!r},{a!r},{b!r},{c!r}\n")
    return path


def stream_args(data, ckpt, model_out, extra=()):
    return ["stream", "--source", f"file:{data}", "--model", "ols", "--device", "cpu",
            "--warmup-rows", "2000", "--batch-rows", "1000", "--checkpoint-dir", ckpt,
            "--model-out", model_out, *extra]


class Checkpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = make_data()
        cls.ref_model = os.path.join(TMP, "ref.json")
        p = run(stream_args(cls.data, os.path.join(TMP, "ck-ref"), cls.ref_model))
        assert p.returncode == 0, p.stderr
        with open(cls.ref_model) as f:
            cls.ref = json.load(f)

    def check_failure_then_resume(self, name, spec, step):
        ckpt = os.path.join(TMP, "ck-" + name)
        model = os.path.join(TMP, name + ".json")
        p = run(stream_args(self.data, ckpt, model), fail_io=spec)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(os.path.join(ckpt, "checkpoint.bin"), p.stderr)
        self.assertIn(f"{step} failed", p.stderr)
        self.assertEqual(leftovers(ckpt), [])
        # The checkpoint before the failure is whole: a resumed run ends where
        # an uninterrupted one does.
        p = run(stream_args(self.data, ckpt, model))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(model) as f:
            got = json.load(f)
        self.assertEqual(got["coefficients"], self.ref["coefficients"])
        self.assertEqual(got["intercept"], self.ref["intercept"])
        self.assertEqual(got["rows_seen"], self.ref["rows_seen"])

    def test_rename_fails(self):
        self.check_failure_then_resume("rename", "rename:checkpoint.bin:4", "rename")

    def test_fsync_fails(self):
        self.check_failure_then_resume("fsync", "fsync:checkpoint.bin.tmp:5", "fsync")

    def test_disk_full(self):
        self.check_failure_then_resume("full", "write:checkpoint.bin.tmp:3", "write")


class ModelFiles(unittest.TestCase):
    def test_train_model_file(self):
        data = Checkpoints.data if hasattr(Checkpoints, "data") else make_data()
        out = os.path.join(TMP, "m.json")
        p = run(["train", "--model", "ols", "--device", "cpu", "--input", data, "--out", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            before = f.read()
        for spec in ["write:m.json.tmp:0", "fsync:m.json.tmp:0", "rename:m.json:0"]:
            with self.subTest(spec=spec):
                p = run(["train", "--model", "ridge", "--lambda", "3", "--device", "cpu",
                         "--input", data, "--out", out], fail_io=spec)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(out, p.stderr)
                with open(out) as f:
                    self.assertEqual(f.read(), before)  # the old model, whole
                self.assertEqual(leftovers(TMP), [])


class CheckpointIdentity(unittest.TestCase):
    """A checkpoint resumes only the run that wrote it; --reset-checkpoint starts over."""

    def test_other_model_columns_refused_then_reset(self):
        data = make_data()
        ck = os.path.join(TMP, "ck-identity")
        base = ["stream", "--source", f"file:{data}", "--device", "cpu", "--warmup-rows", "2000",
                "--checkpoint-dir", ck]
        p = run([*base, "--model", "ols", "--columns", "y,a,b,c", "--max-rows", "5000"])
        self.assertEqual(p.returncode, 0, p.stderr)
        for other, what in [(["--model", "ridge", "--columns", "y,a,b,c"], "configuration"),
                            (["--model", "ols", "--columns", "y,a,c,b"], "columns")]:
            with self.subTest(what=what):
                p = run([*base, *other])
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(ck, p.stderr)
                self.assertIn(what, p.stderr)
        out = os.path.join(TMP, "reset.json")
        p = run([*base, "--model", "ols", "--columns", "y,a,c,b", "--reset-checkpoint",
                 "--model-out", out])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out) as f:
            self.assertEqual(json.load(f)["rows_seen"], 20000)  # from the start, not resumed


class Predictions(unittest.TestCase):
    def test_predictions_to_a_full_disk(self):
        data = make_data()
        p = run(["stream", "--source", f"file:{data}", "--model", "ols", "--device", "cpu",
                 "--warmup-rows", "2000", "--batch-rows", "1000", "--predictions", "file:/dev/full"])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("/dev/full", p.stderr)


def main():
    global BIN, SHIM, TMP
    if len(sys.argv) < 3:
        print("usage: test_disk_faults.py STREAMFIT LIBSF_FAIL_IO", file=sys.stderr)
        return 2
    BIN, SHIM = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.access(BIN, os.X_OK) or not os.path.exists(SHIM):
        print("SKIP: streamfit or the fault library is missing")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-disk-") as t:
        TMP = t
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
