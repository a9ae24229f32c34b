#!/usr/bin/env python3
"""Faults of the Kafka broker under `streamfit stream`, with the development
broker's fault controls (`streamfit broker --brokers 3 --control`, librdkafka's
mock cluster) and kcat as the independent producer and reader.

Usage: test_broker_faults.py STREAMFIT [TEST...]   (exit 77: kcat missing, or no Kafka)

Each scenario streams N keyed records that kcat produces at a steady rate
while the fault happens mid-run, predictions to a Kafka topic, and checks
exactly: every input key predicted once (no record lost, none twice), the
run consumed N records, and the final model equals `streamfit train` on the
same records (least squares merges exact statistics: a record lost or learned
twice would show; relative difference <= 1e-12).

  - a broker down for 5 s, then up;
  - retriable errors injected on Fetch and on Produce;
  - partition leaders moved to other brokers;
  - 500 ms of added round-trip time on every broker.

And SIGKILL at 20 random instants across runs of one checkpointed stream
(one partition, batches closed by row count, CPU backend; the instants are
random points of the run's own progress, the moment its metrics file holds a
chosen number of batches): after each kill the stream restarts from its
checkpoint, and every run ends with a model bit-identical to an uninterrupted
one, for least squares and logistic; at least 3 in 4 kills must land while
the stream runs.

And the broker's own controls: 100 --topic of 32 partitions each, all listed
by kcat -L; 80 fault commands written at once, all answered, and 80 that
take the only broker down and up; a bad topic name is a usage error. Each
has a deadline (20 s) that a lost wake-up of the mock cluster's thread, up to
1 s per control, would overrun.
"""

import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

EXE = TMP = None
N = 24000
COLS = "y,a,b,c"


def path(name):
    return os.path.join(TMP, name)


def rows(seed, n, logistic=False):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        a, b, c = (rnd.gauss(0, 1) for _ in range(3))
        t = 0.5 + 1.5 * a - b + 0.25 * c
        y = (1 if rnd.random() < 1 / (1 + pow(2.718281828459045, -t)) else 0) if logistic \
            else t + rnd.gauss(0, 0.1)
        out.append((f"k{i:06d}", f"{y!r},{a!r},{b!r},{c!r}"))
    return out


class Broker:
    """`streamfit broker --brokers 3 --control`: faults are lines on its stdin."""

    def __init__(self, *topics, partitions=4, brokers=3, start_timeout=15):
        args = [EXE, "broker", "--port", "0", "--brokers", str(brokers), "--partitions",
                str(partitions), "--control"]
        for t in topics:
            args += ["--topic", t]
        self.errf = open(path("broker.err"), "a")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True, bufsize=1)
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        self.bootstrap = self.proc.stdout.readline().strip() if ready else ""
        if not self.bootstrap:
            self.stop()
            raise RuntimeError("streamfit broker did not print its address")

    def fault(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok: " + command:
            raise AssertionError(f"broker fault '{command}': {answer}")

    def faults_at_once(self, commands, timeout):
        """Write all `commands` in one go; every answer must come within `timeout` s."""
        self.proc.stdin.write("".join(c + "\n" for c in commands))
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        for command in commands:
            ready, _, _ = select.select([self.proc.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no answer to '{command}' within {timeout} s")
            answer = self.proc.stdout.readline().strip()
            if answer != "ok: " + command:
                raise AssertionError(f"broker fault '{command}': {answer}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()


def kcat_produce_steady(bootstrap, topic, records, seconds):
    """kcat -P fed over `seconds` (keys and values separated by a tab)."""
    p = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                          "-X", "linger.ms=5"], stdin=subprocess.PIPE, text=True)
    chunk = max(1, len(records) // (seconds * 20))
    for i in range(0, len(records), chunk):
        p.stdin.write("".join(f"{k}\t{v}\n" for k, v in records[i:i + chunk]))
        p.stdin.flush()
        time.sleep(0.05)
    p.stdin.close()
    if p.wait(timeout=120) != 0:
        raise AssertionError("kcat -P failed")


def kcat_read(bootstrap, topic):
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
                        "-f", "%k\t%s\n"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"kcat -C {topic}: {r.stderr}")
    return [line.split("\t", 1) for line in r.stdout.splitlines() if line]


def offline_model(records, model="ols"):
    csv = path(f"offline-{model}.csv")
    with open(csv, "w") as f:
        f.write(COLS + "\n" + "".join(v + "\n" for _, v in records))
    out = path(f"offline-{model}.json")
    r = subprocess.run([EXE, "train", "--model", model, "--device", "cpu", "--input", csv,
                        "--out", out], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        return json.load(f)


def params(m):
    return list(m["coefficients"]) + [m["intercept"]]


def rel_diff(a, b):
    num = sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5
    return num / max(sum(y * y for y in b) ** 0.5, 1e-300)


class BrokerFaults(unittest.TestCase):
    records = None
    reference = None

    @classmethod
    def setUpClass(cls):
        cls.records = rows(11, N)
        cls.reference = offline_model(cls.records)

    def run_with_faults(self, name, schedule):
        """Stream while kcat produces for ~5 s and `schedule` [(seconds, command)] runs."""
        b = Broker("in", "out")
        try:
            model = path(f"{name}.json")
            err = open(path(f"{name}.err"), "w")
            s = subprocess.Popen([EXE, "stream", "--source", f"kafka://{b.bootstrap}/in",
                                  "--columns", COLS, "--model", "ols", "--device", "cpu",
                                  "--warmup-rows", "2000", "--max-rows", str(N),
                                  "--predictions", f"kafka://{b.bootstrap}/out",
                                  "--model-out", model], stdout=subprocess.DEVNULL, stderr=err)
            producer = threading.Thread(target=kcat_produce_steady,
                                        args=(b.bootstrap, "in", self.records, 5))
            t0 = time.monotonic()
            producer.start()
            for at, command in schedule:
                time.sleep(max(0.0, t0 + at - time.monotonic()))
                b.fault(command)
            producer.join(timeout=120)
            try:
                rc = s.wait(timeout=90)
            except subprocess.TimeoutExpired:
                s.kill()
                s.wait()
                rc = None
            err.close()
            with open(path(f"{name}.err")) as f:
                stderr = f.read()
            self.assertEqual(rc, 0, f"{name}: stream exit {rc}: {stderr[-2000:]}")
            preds = kcat_read(b.bootstrap, "out")
            keys = [k for k, _ in preds]
            self.assertEqual(len(keys), len(set(keys)), f"{name}: a key predicted twice")
            # The first 2000 records consumed (any of them, partitions interleave) are the
            # warm-up: fitted, not predicted. Every other one is predicted once.
            everyone = {k for k, _ in self.records}
            self.assertTrue(set(keys) <= everyone, f"{name}: predictions of unknown keys")
            self.assertEqual(len(keys), N - 2000, f"{name}: predictions missing")
            with open(model) as f:
                m = json.load(f)
            self.assertEqual(m["rows_seen"], N)
            d = rel_diff(params(m), params(self.reference))
            print(f"  {name}: {N} records in, {len(keys)} predicted + 2000 warm-up, "
                  f"{N - 2000 - len(set(keys))} lost, {len(keys) - len(set(keys))} predicted twice, "
                  f"rows learned {m['rows_seen']}, model vs offline fit {d:.1e}", flush=True)
            self.assertLessEqual(d, 1e-12, f"{name}: model differs from the offline fit by {d:.3e}")
        finally:
            b.stop()

    def test_broker_down_5s(self):
        self.run_with_faults("down", [(1.5, "down 1"), (6.5, "up 1")])

    def test_retriable_errors(self):
        self.run_with_faults("errors", [(1.0, "errors fetch 30 NOT_LEADER_FOR_PARTITION"),
                                        (1.0, "errors produce 30 NOT_ENOUGH_REPLICAS"),
                                        (2.5, "errors fetch 10 REQUEST_TIMED_OUT")])

    def test_leader_change(self):
        self.run_with_faults("leader", [(1.5, "leader in 0 2"), (1.5, "leader in 1 3"),
                                        (2.0, "leader out 0 3"), (3.0, "leader in 2 1")])

    def test_round_trip_500ms(self):
        self.run_with_faults("rtt", [(1.0, "rtt 1 500"), (1.0, "rtt 2 500"), (1.0, "rtt 3 500"),
                                     (4.0, "rtt 1 0"), (4.0, "rtt 2 0"), (4.0, "rtt 3 0")])


class Controls(unittest.TestCase):
    """The mock cluster's controls answer promptly: topic creation at start,
    fault commands back to back."""

    def test_100_topics_of_32_partitions(self):
        topics = [f"t{i:03d}" for i in range(100)]
        b = Broker(*topics, partitions=32, brokers=1, start_timeout=20)
        try:
            r = subprocess.run(["kcat", "-L", "-b", b.bootstrap], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            listed = dict(re.findall(r'topic "([^"]+)" with (\d+) partitions', r.stdout))
            for t in topics:
                self.assertEqual(listed.get(t), "32", f"topic {t}: {listed.get(t)} partitions")
            print("  100 topics of 32 partitions listed by kcat -L", flush=True)
        finally:
            b.stop()

    def test_80_faults_at_once(self):
        b = Broker("a")
        try:
            commands = []
            for i in range(20):
                commands += [f"rtt 1 {i}", f"leader a 0 {1 + i % 3}", "down 3", "up 3"]
            b.faults_at_once(commands, timeout=20)
        finally:
            b.stop()

    def test_only_broker_down_and_up_40_times(self):
        b = Broker("a", brokers=1)
        try:
            b.faults_at_once(["down 1", "up 1"] * 40, timeout=20)
        finally:
            b.stop()

    def test_bad_topic_name(self):
        r = subprocess.run([EXE, "broker", "--port", "0", "--topic", "ok", "--topic", "bad name"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("invalid topic name 'bad name'", r.stderr)


class Kills(unittest.TestCase):
    def kill_runs(self, model, kills, seed):
        recs = rows(21, 40000, logistic=(model == "logistic"))
        b = Broker("ck", partitions=1)
        try:
            subprocess.run(["kcat", "-P", "-b", b.bootstrap, "-t", "ck", "-K", "\t"],
                           input="".join(f"{k}\t{v}\n" for k, v in recs), text=True,
                           check=True, timeout=120)
            base = ["stream", "--source", f"kafka://{b.bootstrap}/ck", "--columns", COLS,
                    "--model", model, "--device", "cpu", "--threads", "1", "--warmup-rows", "3000",
                    "--batch-rows", "500", "--batch-ms", "600000", "--max-rows", str(len(recs))]

            batches = (len(recs) - 3000) // 500

            def lines_in(p):
                try:
                    with open(p, "rb") as f:
                        return f.read().count(b"\n")
                except OSError:
                    return 0

            def final_model(tag, kill_at):
                """Run to the end, killed with SIGKILL when the metrics file first holds
                each of `kill_at` (ascending) batch lines: an instant picked at random
                in the run's own progress, not on the clock."""
                ck, out, metrics = path(f"ck-{tag}"), path(f"ck-{tag}.json"), path(f"ck-{tag}.jsonl")
                shutil.rmtree(ck, ignore_errors=True)
                for target in kill_at + [None]:
                    p = subprocess.Popen([EXE, *base, "--checkpoint-dir", ck, "--model-out", out,
                                          "--metrics-out", metrics],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         text=True)
                    if target is None:
                        _, e = p.communicate(timeout=120)
                        self.assertEqual(p.returncode, 0, e[-2000:])
                        continue
                    while p.poll() is None and lines_in(metrics) < target:
                        time.sleep(0.0005)
                    if p.poll() is None:
                        landed.append(target)
                    p.send_signal(signal.SIGKILL)
                    p.communicate(timeout=30)
                with open(out) as f:
                    return json.load(f)

            landed = []
            ref = final_model(f"{model}-ref", [])
            landed.clear()
            rnd = random.Random(seed)
            done = 0
            while done < kills:
                k = min(5, kills - done)
                targets = sorted(rnd.sample(range(1, batches), k))
                got = final_model(f"{model}-{done}", targets)
                self.assertEqual(params(got), params(ref),
                                 f"killed after batch lines {targets}: another model")
                self.assertEqual(got["rows_seen"], ref["rows_seen"])
                print(f"  {model}: killed when the metrics held {targets} batches, then resumed "
                      "to the end: model bit-identical to an uninterrupted run", flush=True)
                done += k
            # A kill after the run had ended would prove nothing: most must land mid-run.
            print(f"  {model}: {len(landed)} of {kills} kills landed while the stream ran",
                  flush=True)
            self.assertGreaterEqual(len(landed), kills * 3 // 4)
        finally:
            b.stop()

    def test_sigkill_20_instants(self):
        self.kill_runs("ols", 10, seed=3)
        self.kill_runs("logistic", 10, seed=4)


def main():
    global EXE, TMP
    if len(sys.argv) < 2:
        print("usage: test_broker_faults.py STREAMFIT", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed")
        return 77
    probe = subprocess.run([EXE, "info"], capture_output=True, text=True, timeout=30)
    if "kafka=on" not in probe.stdout:
        print("skipped: this build has no Kafka support")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-faults-") as t:
        TMP = t
        # Further arguments pick tests by name (e.g. Controls), as unittest's own do.
        prog = unittest.main(argv=[sys.argv[0], "-v", *sys.argv[2:]], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
