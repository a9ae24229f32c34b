#!/usr/bin/env python3
"""Resource limits: input built to exhaust memory meets `streamfit`, and its
peak resident memory (wait4's ru_maxrss) stays under a stated bound while the
run goes on or stops with a clear message.

Usage: test_limits.py STREAMFIT   (exit 77: skipped when the binary is missing)

  - a single 1 GiB line among good lines: `stream` (file source) reports it as
    one bad record with its line and learns from the rest, in under 128 MiB;
    `train` maps its input, so its bound is the file's size plus 128 MiB;
  - a record of 10^6 fields: a bad record (longer than 1 MiB), same bounds;
  - a flood of 10^6 bad records: every one counted, the first few shown, in
    under 128 MiB (stream) and the file's size plus 128 MiB (train);
  - a topic of 1,000 partitions on the development broker (Kafka builds,
    kcat present): every record consumed, in under 512 MiB.
The bounds are four times larger under AddressSanitizer (shadow memory). The
figures printed are upper bounds: a child forked from this script starts with
the script's own resident size (about 45 MiB), which ru_maxrss counts.
"""

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

EXE = TMP = None
MIB = 1 << 20
SCALE = 4 if "ASAN_OPTIONS" in os.environ else 1


def run_measured(args, timeout=300, stdin=None):
    """(returncode, stderr, peak RSS in bytes) of one streamfit process."""
    err_path = os.path.join(TMP, "stderr.txt")
    with open(err_path, "w") as err:
        p = subprocess.Popen([EXE, *args], stdout=subprocess.DEVNULL, stderr=err, stdin=stdin)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    with open(err_path, errors="replace") as f:
        return p.returncode, f.read(), usage.ru_maxrss * 1024


def good_lines(n, start=0):
    return "".join(f"{1.5 * i},{i % 7},{(i * 3) % 11}\n" for i in range(start, start + n))


class Limits(unittest.TestCase):
    def check(self, args, bound, what):
        rc, err, rss = run_measured(args)
        print(f"  {what}: exit {rc}, peak RSS {rss / MIB:.0f} MiB (bound {bound * SCALE / MIB:.0f})")
        self.assertLess(rss, bound * SCALE, f"{what}: {rss / MIB:.0f} MiB")
        return rc, err

    def test_one_gib_line(self):
        path = os.path.join(TMP, "long.csv")
        with open(path, "w") as f:
            f.write("y,a,b\n" + good_lines(2000))
            block = "7" * MIB
            for _ in range(1024):
                f.write(block)
            f.write("\n" + good_lines(2000, 2000))
        size = os.path.getsize(path)
        rc, err = self.check(["stream", "--source", f"file:{path}", "--model", "ols",
                              "--device", "cpu", "--warmup-rows", "500", "--batch-rows", "500"],
                             128 * MIB, "stream, one 1 GiB line")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("line 2002", err)
        self.assertRegex(err, r"4000 rows|1 bad record")
        rc, err = self.check(["train", "--model", "ols", "--device", "cpu", "--input", path,
                              "--out", os.path.join(TMP, "m.json")],
                             size + 128 * MIB, "train, one 1 GiB line")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("line 2002", err)
        os.remove(path)

    def test_million_fields(self):
        path = os.path.join(TMP, "wide.csv")
        with open(path, "w") as f:
            f.write("y,a,b\n" + good_lines(1000) + ",".join(["1"] * 1000000) + "\n" + good_lines(1000))
        size = os.path.getsize(path)
        rc, err = self.check(["stream", "--source", f"file:{path}", "--model", "ols",
                              "--device", "cpu", "--warmup-rows", "500"],
                             128 * MIB, "stream, 10^6 fields")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("line 1002", err)
        rc, err = self.check(["train", "--model", "ols", "--device", "cpu", "--input", path,
                              "--out", os.path.join(TMP, "m.json")],
                             size + 128 * MIB, "train, 10^6 fields")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("line 1002", err)

    def test_flood_of_bad_records(self):
        path = os.path.join(TMP, "bad.csv")
        with open(path, "w") as f:
            f.write("y,a,b\n" + good_lines(1000))
            f.write("x,not,a number\n" * 1000000)
            f.write(good_lines(1000, 1000))
        size = os.path.getsize(path)
        rc, err = self.check(["stream", "--source", f"file:{path}", "--model", "ols",
                              "--device", "cpu", "--warmup-rows", "500"],
                             128 * MIB, "stream, 10^6 bad records")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("1000000", err)
        rc, err = self.check(["train", "--model", "ols", "--device", "cpu", "--input", path,
                              "--out", os.path.join(TMP, "m.json")],
                             size + 128 * MIB, "train, 10^6 bad records")
        self.assertEqual(rc, 0, err[-1500:])
        self.assertIn("1000000", err)

    def test_thousand_partitions(self):
        if not shutil.which("kcat"):
            self.skipTest("kcat is not installed")
        probe = subprocess.run([EXE, "info"], capture_output=True, text=True, timeout=30)
        if "kafka=on" not in probe.stdout:
            self.skipTest("no Kafka support")
        b = subprocess.Popen([EXE, "broker", "--port", "0", "--partitions", "1000", "--topic", "wide"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready, _, _ = select.select([b.stdout], [], [], 20)
            bootstrap = b.stdout.readline().strip() if ready else ""
            self.assertTrue(bootstrap, "the broker did not start")
            n = 50000
            subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "wide"], input=good_lines(n),
                           text=True, check=True, timeout=120)
            rc, err = self.check(["stream", "--source", f"kafka://{bootstrap}/wide",
                                  "--columns", "y,a,b", "--model", "ols", "--device", "cpu",
                                  "--warmup-rows", "1000", "--max-rows", str(n)],
                                 512 * MIB, "stream, 1000 partitions")
            self.assertEqual(rc, 0, err[-1500:])
        finally:
            b.send_signal(signal.SIGTERM)
            b.wait(timeout=30)
            b.stdout.close()


def main():
    global EXE, TMP
    if len(sys.argv) < 2:
        print("usage: test_limits.py STREAMFIT", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not os.access(EXE, os.X_OK):
        print("skipped: no streamfit binary")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-limits-") as t:
        TMP = t
        prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
