#!/usr/bin/env python3
"""`streamfit stream --exactly-once` with the development broker (`streamfit
broker`, librdkafka's mock cluster) and kcat as the independent producer and
read_committed reader (test_broker_faults.py's broker and records).

Usage: test_exactly_once.py STREAMFIT   (exit 77: kcat missing, or no Kafka)

  - Kills: a run SIGKILLed at several instants (batch boundaries plus a
    random delay, so inside transactions, between checkpoint and commit, ...)
    and restarted until done: the model is bit-identical to an uninterrupted
    run; every input record's prediction is there for a read_committed
    reader; each is there once where the broker hides aborted transactions.
  - Abort: the broker fails one EndTxn: the run aborts the transaction, goes
    back to the committed state and carries on in the same process, to the
    same model and predictions.
  - Generations: the group's committed offsets at the previous checkpoint
    generation (set by an ordinary offset commit, which the development
    broker keeps): the restart resumes from that one; at neither: refused.
  - Dead letters: Kafka dead letters go into the same transactions; a kill
    and a resume leave each bad record's dead letter there.
  - Flags: --exactly-once without a Kafka source, a group, Kafka predictions
    or a checkpoint directory is refused with exit status 2.

What the development broker cannot show (tests/test_kafka_txn.c probes it):
librdkafka 2.0's mock cluster does not hide aborted transactions from
read_committed consumers and does not store the offsets a transaction
commits. So here a record whose transaction was aborted by a kill can be read
twice; the test then asserts what it can: the extra copies are byte-identical
replays (same value, same model version) of records whose first copy was
never committed, their number is bounded by the batches in flight at the
kills, and the restarts said the broker kept no committed offsets. Where the
broker does hide aborted records (a real Kafka cluster, a later librdkafka),
the same test asserts each prediction exactly once.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import test_broker_faults as bf

EXE = TMP = None
N, WARMUP, BATCH = 6000, 1000, 500
NO_OFFSETS = "the broker has no committed offsets for group"


def path(name):
    return os.path.join(TMP, name)


def kcat_produce(bootstrap, topic, records):
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
                   input="".join(f"{k}\t{v}\n" for k, v in records), text=True, check=True,
                   timeout=120)


def kcat_read(bootstrap, topic, committed):
    """(key, value, model version header) of every message a reader gets."""
    iso = "read_committed" if committed else "read_uncommitted"
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
                        "-J", "-X", f"isolation.level={iso}"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"kcat -C {topic}: {r.stderr}")
    out = []
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        m = json.loads(line)
        h = m.get("headers") or {}
        if isinstance(h, list):  # older kcat: [name, value, ...]
            h = dict(zip(h[::2], h[1::2]))
        out.append((m["key"], m["payload"], h.get("streamfit-model-version")))
    return out


def metrics_count(p):
    try:
        with open(p, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


class ExactlyOnce(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.recs = bf.rows(51, N)
        cls.b = bf.Broker("in", "out", "ref-out", "abort-out", "gen-out", "dl-in",
                          "dl-out", "dl", partitions=1)
        kcat_produce(cls.b.bootstrap, "in", cls.recs)
        # one partition: the warm-up is the first WARMUP records
        cls.predicted = {k for k, _ in cls.recs[WARMUP:]}
        cls.ref = cls.run_to_end("ref", "ref-out")[0]

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()

    @classmethod
    def args(cls, tag, out, group=None):
        return [EXE, "stream", "--source", f"kafka://{cls.b.bootstrap}/in",
                "--group", group or tag, "--columns", bf.COLS, "--model", "ols", "--device", "cpu",
                "--warmup-rows", str(WARMUP), "--batch-rows", str(BATCH), "--batch-ms", "600000",
                "--max-rows", str(N), "--checkpoint-dir", path(f"{tag}-ck"),
                "--predictions", f"kafka://{cls.b.bootstrap}/{out}", "--exactly-once",
                "--model-out", path(f"{tag}.json"), "--metrics-out", path(f"{tag}.jsonl"),
                # a SIGKILLed member leaves the group when its session ends: the restart
                # waits that long for its partition
                "--consumer-X", "session.timeout.ms=3000",
                "--consumer-X", "heartbeat.interval.ms=200"]

    @classmethod
    def run_to_end(cls, tag, out):
        r = subprocess.run(cls.args(tag, out), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        with open(path(f"{tag}.json")) as f:
            return json.load(f), r.stderr

    def check_predictions(self, out, kills):
        """Every record predicted for a read_committed reader; once where the broker
        hides aborted transactions, else extra copies only as identical replays."""
        got = kcat_read(self.b.bootstrap, out, committed=True)
        every = kcat_read(self.b.bootstrap, out, committed=False)
        keys = [k for k, _, _ in got]
        self.assertEqual(set(keys), self.predicted, "a record's prediction is missing")
        ref = {k: (v, h) for k, v, h in kcat_read(self.b.bootstrap, "ref-out", committed=True)}
        for k, v, h in got:  # the same model predicted it, whatever the kills
            self.assertEqual((v, h), ref[k], f"{k}: another prediction than the reference run's")
        extra = len(keys) - len(set(keys))
        if len(got) < len(every):  # aborted records hidden: exactly once
            self.assertEqual(extra, 0, "a record predicted twice")
            return f"{len(keys)} predictions, each once (aborted records hidden)"
        # The development broker shows aborted transactions to read_committed readers:
        # the limitation the README states, asserted here so that a broker that hides
        # them takes the branch above.
        self.assertEqual(len(got), len(every))
        self.assertLessEqual(extra, kills * BATCH, "more copies than batches in flight")
        return (f"{len(keys)} predictions read_committed, {len(set(keys))} distinct, {extra} "
                "identical replays of aborted batches (the development broker does not hide "
                "aborted transactions)")

    def test_sigkill_at_several_instants(self):
        tag, rnd = "kill", random.Random(7)
        batches = (N - WARMUP) // BATCH
        targets = sorted(rnd.sample(range(1, batches), 3))
        shutil.rmtree(path(f"{tag}-ck"), ignore_errors=True)
        landed, said_no_offsets = [], False
        for target in targets:
            err = open(path(f"{tag}.err"), "w")
            p = subprocess.Popen(self.args(tag, "out"), stdout=subprocess.DEVNULL, stderr=err)
            while p.poll() is None and metrics_count(path(f"{tag}.jsonl")) < target:
                time.sleep(0.0005)
            # a batch and its transaction take a few ms: land somewhere inside
            time.sleep(rnd.uniform(0, 0.004))
            if p.poll() is None:
                landed.append(target)
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            err.close()
            with open(path(f"{tag}.err")) as f:
                text = f.read()
            said_no_offsets |= NO_OFFSETS in text
            self.assertIn(p.returncode, (0, -signal.SIGKILL), text[-2000:])
        model, stderr = self.run_to_end(tag, "out")
        said_no_offsets |= NO_OFFSETS in stderr
        self.assertGreaterEqual(len(landed), 2, "the kills must land while the stream runs")
        self.assertEqual(bf.params(model), bf.params(self.ref), "another model")
        self.assertEqual(model["rows_seen"], self.ref["rows_seen"])
        said = self.check_predictions("out", len(landed))
        # The development broker does not store a transaction's offsets either: the
        # restarts resumed from their newest checkpoint and said so.
        self.assertTrue(said_no_offsets, "the restarts should say the broker kept no offsets")
        print(f"  killed at batches {landed} (+0..4 ms), resumed to the end: model "
              f"bit-identical to an uninterrupted run; {said}", flush=True)

    def test_aborted_transaction_in_run(self):
        tag = "abort"
        shutil.rmtree(path(f"{tag}-ck"), ignore_errors=True)
        p = subprocess.Popen(self.args(tag, "abort-out"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while metrics_count(path(f"{tag}.jsonl")) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        self.b.fault("errors endtxn 1 UNKNOWN_PRODUCER_ID")
        _, stderr = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, stderr[-2000:])
        self.assertIn("transaction aborted", stderr)
        self.assertRegex(stderr, r"back to the committed batch \d+")
        with open(path(f"{tag}.json")) as f:
            model = json.load(f)
        self.assertEqual(bf.params(model), bf.params(self.ref), "another model")
        said = self.check_predictions("abort-out", 1)
        line = [x for x in stderr.splitlines() if "transaction aborted" in x][0]
        print(f"  {line.removeprefix('streamfit: ')}\n  same process to the end: model "
              f"bit-identical; {said}", flush=True)

    def test_dead_letters_in_the_transaction(self):
        """Kafka dead letters share the predictions' producer: a kill and a resume
        leave every bad record's dead letter there for a read_committed reader."""
        recs = [(k, "oops,1" if i % 97 == 5 else v) for i, (k, v) in enumerate(bf.rows(52, 3000))]
        bad = {i for i in range(len(recs)) if i % 97 == 5}  # one partition: offset = index
        kcat_produce(self.b.bootstrap, "dl-in", recs)
        args = self.args("dl", "dl-out")
        args[args.index("--source") + 1] = f"kafka://{self.b.bootstrap}/dl-in"
        args[args.index("--max-rows") + 1] = str(len(recs) - len(bad))
        args += ["--dead-letter", f"kafka://{self.b.bootstrap}/dl"]
        shutil.rmtree(path("dl-ck"), ignore_errors=True)
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and metrics_count(path("dl.jsonl")) < 2:
            time.sleep(0.0005)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertNotIn("outside the transactions", r.stderr)
        got = kcat_read(self.b.bootstrap, "dl", committed=True)
        every = kcat_read(self.b.bootstrap, "dl", committed=False)
        offsets = [json.loads(v)["offset"] for _, v, _ in got]
        self.assertEqual(set(offsets), bad, "a dead letter is missing")
        copies = {}
        for _, v, _ in got:
            copies.setdefault(json.loads(v)["offset"], set()).add(v)
        self.assertTrue(all(len(c) == 1 for c in copies.values()), "copies differ")
        if len(got) < len(every):
            self.assertEqual(len(offsets), len(bad), "a dead letter written twice")
        else:  # the development broker shows aborted transactions (see check_predictions)
            self.assertLessEqual(len(offsets) - len(bad), len(bad))
        print(f"  {len(bad)} bad records, killed once: {len(offsets)} dead letters read_committed, "
              f"{len(set(offsets))} distinct, copies identical", flush=True)

    def commit_group_offset(self, group, rows):
        """The group's committed offset set to `rows` by a plain (not exactly-once) run:
        the development broker keeps ordinary offset commits, not a transaction's."""
        ck = path(f"plain-{rows}-ck")
        shutil.rmtree(ck, ignore_errors=True)
        r = subprocess.run([EXE, "stream", "--source", f"kafka://{self.b.bootstrap}/in",
                            "--group", group, "--start", "earliest", "--columns", bf.COLS,
                            "--model", "ols", "--device", "cpu", "--warmup-rows", str(WARMUP),
                            "--batch-rows", str(BATCH), "--batch-ms", "600000", "--max-rows",
                            str(rows), "--checkpoint-dir", ck, "--quiet",
                            *self.args(group, "unused")[-4:]],  # the same group session
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])

    def test_resume_picks_the_generation_the_group_committed(self):
        tag, ck = "gen", path("gen-ck")
        shutil.rmtree(ck, ignore_errors=True)
        args = self.args(tag, "gen-out")
        first = list(args)
        first[first.index("--max-rows") + 1] = str(N - BATCH)
        r = subprocess.run(first, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        shutil.copy(os.path.join(ck, "checkpoint.bin"), path("gen-older.bin"))
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        # As if the last transaction had not been committed: the previous generation is
        # the one at N - BATCH, and so are the group's offsets.
        shutil.copy(path("gen-older.bin"), os.path.join(ck, "checkpoint.prev.bin"))
        self.commit_group_offset(tag, N - BATCH)
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("resuming from the one before", r.stderr)
        with open(path(f"{tag}.json")) as f:
            model = json.load(f)
        self.assertEqual(bf.params(model), bf.params(self.ref), "another model")
        # Offsets that match neither generation: refused, nothing resumed.
        self.commit_group_offset(tag, 3000)
        r = subprocess.run(args, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        self.assertIn("match neither checkpoint", r.stderr)
        said = [x for x in r.stderr.splitlines() if "match neither" in x][0]
        print(f"  group at the previous generation: resumed from it, model bit-identical; "
              f"at neither: {said.removeprefix('streamfit: ')[:160]}", flush=True)

    def test_flags(self):
        b = f"kafka://{self.b.bootstrap}"
        good = ["stream", "--source", f"{b}/in", "--group", "g", "--columns", bf.COLS,
                "--model", "ols", "--predictions", f"{b}/out", "--checkpoint-dir",
                path("flags-ck"), "--exactly-once"]
        cases = [
            (["--source", "file:" + path("none.csv")], "a Kafka source"),
            (["--group", None], "a consumer group"),
            (["--predictions", "file:" + path("p.csv")], "Kafka predictions"),
            (["--predictions", None], "Kafka predictions"),
            (["--checkpoint-dir", None], "a checkpoint directory"),
        ]
        for (flag, value), want in cases:
            args = list(good)
            i = args.index(flag)
            if value is None:
                del args[i:i + 2]
            else:
                args[i + 1] = value
            r = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, f"{flag} {value}: {r.stderr}")
            self.assertIn("--exactly-once needs " + want, r.stderr)
        print(f"  {len(cases)} incomplete --exactly-once setups refused with exit 2", flush=True)


def main():
    global EXE, TMP
    if len(sys.argv) < 2:
        print("usage: test_exactly_once.py STREAMFIT", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed")
        return 77
    probe = subprocess.run([EXE, "info"], capture_output=True, text=True, timeout=30)
    if "kafka=on" not in probe.stdout:
        print("skipped: this build has no Kafka support")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-eos-") as t:
        TMP = t
        bf.EXE, bf.TMP = EXE, t
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
