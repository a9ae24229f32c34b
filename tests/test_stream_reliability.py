#!/usr/bin/env python3
"""What `streamfit stream` promises beyond the broker faults of
test_broker_faults.py (whose broker, records and offline fit this reuses),
with the development broker (`streamfit broker`, librdkafka's mock cluster)
and kcat as the independent producer and reader.

Usage: test_stream_reliability.py STREAMFIT   (exit 77: kcat missing, or no Kafka)

  - ModelVersion: every predictions message carries the header
    streamfit-model-version (read with kcat -J), equal to the JSON
    prediction's model_version; versions go up with the batches, one per
    batch; the metrics lines, the checkpoint and the model file carry the
    same strings, and the model file written when a run stops is the version
    on the predictions the next run makes with it.
  - BrokerTimeout: all brokers of the source down for longer than
    --broker-timeout-ms: the run finishes its batch, checkpoints, names the
    brokers and the offsets on stderr and exits 3; a restart resumes to a
    model equal to the offline fit (<= 1e-12) and to an uninterrupted run,
    every input key predicted once, the counts adding up.
  - TopicRecreated: a checkpoint past the end of the partition's log stops
    the run with the partition and both offsets, claiming no count of lost
    records.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import test_broker_faults as bf

EXE = TMP = None
COLS = bf.COLS


def path(name):
    return os.path.join(TMP, name)


def kcat_produce(bootstrap, topic, records):
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
                   input="".join(f"{k}\t{v}\n" for k, v in records), text=True, check=True,
                   timeout=120)


def kcat_read_json(bootstrap, topic, extra=()):
    """Every message of the topic as kcat's JSON envelope (headers included)."""
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q",
                        "-J", *extra], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"kcat -C {topic}: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def batch_of(version):
    m = re.fullmatch(r"b(\d+)-([0-9a-f]{8})", version or "")
    if not m:
        raise AssertionError(f"not a model version: {version!r}")
    return int(m.group(1))


def metrics_lines_safe(p):
    try:
        with open(p) as f:
            return [line for line in f if line.endswith("\n")]
    except OSError:
        return []


def metrics_lines(p):
    with open(p) as f:
        return [json.loads(line) for line in f if line.strip()]


class ModelVersion(unittest.TestCase):
    def test_version_on_every_prediction(self):
        recs = bf.rows(31, 6000)
        b = bf.Broker("in", "out")
        try:
            kcat_produce(b.bootstrap, "in", recs)
            ck, model1, model2 = path("mv-ck"), path("mv-1.json"), path("mv-2.json")
            metrics = path("mv.jsonl")
            base = [EXE, "stream", "--source", f"kafka://{b.bootstrap}/in", "--columns", COLS,
                    "--model", "ols", "--device", "cpu", "--warmup-rows", "1000",
                    "--batch-rows", "500", "--batch-ms", "600000", "--checkpoint-dir", ck,
                    "--predictions", f"kafka://{b.bootstrap}/out", "--predictions-format", "json",
                    "--metrics-out", metrics, "--quiet"]
            # Two runs: the second resumes from the first's checkpoint, and its first batch
            # is predicted by the model the first one wrote to its model file.
            r = subprocess.run(base + ["--max-rows", "4000", "--model-out", model1],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run(base + ["--max-rows", "6000", "--model-out", model2],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            msgs = kcat_read_json(b.bootstrap, "out")
            self.assertEqual(len(msgs), 5000)
            versions = {}
            for m in msgs:
                h = m.get("headers") or {}
                if isinstance(h, list):  # older kcat: [name, value, ...]
                    h = dict(zip(h[::2], h[1::2]))
                v = h.get("streamfit-model-version")
                self.assertIsNotNone(v, f"message without the header: {m}")
                self.assertEqual(json.loads(m["payload"])["model_version"], v)
                versions.setdefault(batch_of(v), set()).add(v)
            # one version per batch, batches 0..9 (the warm-up model predicts batch 1)
            self.assertEqual(sorted(versions), list(range(10)))
            for n, vs in versions.items():
                self.assertEqual(len(vs), 1, f"batch {n}: versions {vs}")
            # per partition, the versions go up with the offsets
            last = {}
            for m in sorted(msgs, key=lambda m: (m["partition"], m["offset"])):
                n = batch_of(m["headers"]["streamfit-model-version"]
                             if isinstance(m["headers"], dict) else m["headers"][1])
                self.assertGreaterEqual(n, last.get(m["partition"], 0))
                last[m["partition"]] = n
            lines = metrics_lines(metrics)
            self.assertEqual(len(lines), 10)
            for prev, cur in zip(lines, lines[1:]):
                self.assertEqual(cur["predictions_model_version"], prev["model_version"])
            for line in lines:
                self.assertIn(line["predictions_model_version"],
                              versions[batch_of(line["predictions_model_version"])])
            with open(model1) as f:
                m1 = json.load(f)
            with open(model2) as f:
                m2 = json.load(f)
            self.assertEqual(m1["batches"], 6)
            self.assertEqual(m1["model_version"], lines[5]["model_version"])
            # the model file of run 1 made the first predictions of run 2
            self.assertEqual(versions[6], {m1["model_version"]})
            self.assertEqual(lines[6]["predictions_model_version"], m1["model_version"])
            self.assertEqual(m2["model_version"], lines[-1]["model_version"])
            # the checkpoint holds the same string
            with open(os.path.join(ck, "checkpoint.bin"), "rb") as f:
                self.assertIn(m2["model_version"].encode(), f.read())
            # a model file without the fields still loads (older files)
            old = {k: v for k, v in m2.items() if k not in ("batches", "model_version")}
            with open(path("mv-old.json"), "w") as f:
                json.dump(old, f)
            with open(path("mv-in.csv"), "w") as f:
                f.write(COLS + "\n" + "".join(v + "\n" for _, v in recs[:10]))
            r = subprocess.run([EXE, "predict", "--model-file", path("mv-old.json"), "--input",
                                path("mv-in.csv")], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(r.stdout.split()), 10)
            print(f"  model version: {len(msgs)} predictions, all with the header, "
                  f"{len(versions)} versions, model file {m1['model_version']} = the version of "
                  "the next run's first batch", flush=True)
        finally:
            b.stop()


class BrokerTimeout(unittest.TestCase):
    def test_all_brokers_gone_longer_than_limit(self):
        n = 12000
        recs = bf.rows(41, n)
        reference = bf.offline_model(recs)
        a = bf.Broker("in", partitions=4)   # the source's cluster: taken down
        out = bf.Broker("out", "ref")       # the predictions' cluster: stays up
        try:
            ck, model = path("bt-ck"), path("bt.json")
            metrics = path("bt.jsonl")
            base = [EXE, "stream", "--source", f"kafka://{a.bootstrap}/in", "--columns", COLS,
                    "--model", "ols", "--device", "cpu", "--warmup-rows", "1000",
                    "--batch-rows", "500", "--batch-ms", "600000", "--checkpoint-dir", ck,
                    "--predictions", f"kafka://{out.bootstrap}/out", "--metrics-out", metrics,
                    "--model-out", model, "--max-rows", str(n), "--broker-timeout-ms", "3000"]
            err = open(path("bt-1.err"), "w")
            # kcat gives up when every broker is down: the records come in two parts, the
            # second after the outage. The first part ends mid-batch (250 rows waiting).
            first_part = 6250
            kcat_produce(a.bootstrap, "in", recs[:first_part])
            s = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.monotonic() + 60
            while len(metrics_lines_safe(metrics)) < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            for i in (1, 2, 3):
                a.fault(f"down {i}")
            t_down = time.monotonic()
            try:
                rc = s.wait(timeout=60)
            finally:
                if s.poll() is None:
                    s.kill()
                    s.wait()
                err.close()
            took = time.monotonic() - t_down
            for i in (1, 2, 3):
                a.fault(f"up {i}")
            with open(path("bt-1.err")) as f:
                stderr = f.read()
            self.assertEqual(rc, 3, f"exit {rc}: {stderr[-2000:]}")
            self.assertIn("no broker of " + a.bootstrap, stderr)
            self.assertRegex(stderr, r"reachable for \d+\.\d s \(limit 3\.0 s\)")
            self.assertRegex(stderr, r"stopped at partition@next offset: \d+@\d+")
            self.assertGreaterEqual(took, 3.0)
            said = [line for line in stderr.splitlines() if "no broker of" in line]
            print("  stderr: " + said[-1], flush=True)
            first = metrics_lines(metrics)
            rows_first = first[-1]["rows_total"] if first else 0
            self.assertEqual(rows_first, first_part, "the batch in hand is learned")
            kcat_produce(a.bootstrap, "in", recs[first_part:])
            # The restart resumes from the checkpoint written at the stop.
            r = subprocess.run(base, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertIn("resumed from", r.stderr)
            preds = bf.kcat_read(out.bootstrap, "out")
            keys = [k for k, _ in preds]
            self.assertEqual(len(keys), len(set(keys)), "a key predicted twice")
            self.assertEqual(set(keys) <= {k for k, _ in recs}, True)
            self.assertEqual(len(keys), n - 1000, "predictions missing")
            lines = metrics_lines(metrics)
            self.assertEqual(sum(line["batch_rows"] for line in lines) + 1000, n)
            with open(model) as f:
                m = json.load(f)
            self.assertEqual(m["rows_seen"], n)
            d = bf.rel_diff(bf.params(m), bf.params(reference))
            self.assertLessEqual(d, 1e-12)
            # an uninterrupted run over the same records
            ref_model = path("bt-ref.json")
            r = subprocess.run([EXE, "stream", "--source", f"kafka://{a.bootstrap}/in",
                                "--columns", COLS, "--model", "ols", "--device", "cpu",
                                "--warmup-rows", "1000", "--batch-rows", "500", "--batch-ms",
                                "600000", "--max-rows", str(n), "--model-out", ref_model,
                                "--quiet"], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(ref_model) as f:
                ref = json.load(f)
            d_ref = bf.rel_diff(bf.params(m), bf.params(ref))
            self.assertLessEqual(d_ref, 1e-12)
            print(f"  broker gone {took:.1f} s (limit 3 s): exit 3 after {rows_first} records, "
                  f"restart to {n}: {n} records in, {len(keys)} predicted + 1000 warm-up, "
                  f"{n - 1000 - len(set(keys))} lost, {len(keys) - len(set(keys))} predicted "
                  f"twice, learned {m['rows_seen']}; model vs offline fit {d:.1e}, vs an "
                  f"uninterrupted run {d_ref:.1e}", flush=True)
        finally:
            a.stop()
            out.stop()


class TopicRecreated(unittest.TestCase):
    def test_checkpoint_past_the_end_of_the_log(self):
        """A checkpoint whose position lies past the end of the partition's log (the
        topic was deleted and created again with fewer records): the run stops with
        the partition and both offsets, exit non-zero, and does not claim a count of
        records lost that it cannot know."""
        recs = bf.rows(43, 3000)
        ck = path("tr-ck")
        base = ["stream", "--columns", COLS, "--model", "ols", "--device", "cpu",
                "--warmup-rows", "500", "--batch-rows", "500", "--checkpoint-dir", ck]
        first = bf.Broker("in", partitions=1)
        try:
            kcat_produce(first.bootstrap, "in", recs)
            r = subprocess.run([EXE, *base, "--source", f"kafka://{first.bootstrap}/in",
                                "--max-rows", "3000", "--quiet"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        finally:
            first.stop()
        again = bf.Broker("in", partitions=1)  # the topic again, with half the records
        try:
            kcat_produce(again.bootstrap, "in", recs[:1500])
            r = subprocess.run([EXE, *base, "--source", f"kafka://{again.bootstrap}/in",
                                "--max-ms", "20000"], capture_output=True, text=True, timeout=120)
        finally:
            again.stop()
        self.assertNotEqual(r.returncode, 0, r.stderr[-2000:])
        last = r.stderr.strip().splitlines()[-1]
        self.assertIn("partition 0: the broker's log ends at offset 1500, before this "
                      "consumer's position 3000", last)
        self.assertNotIn("records were lost", r.stderr)
        self.assertNotIn("--on-lag-loss", r.stderr)
        print("  " + last, flush=True)


def main():
    global EXE, TMP
    if len(sys.argv) < 2:
        print("usage: test_stream_reliability.py STREAMFIT", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed")
        return 77
    probe = subprocess.run([EXE, "info"], capture_output=True, text=True, timeout=30)
    if "kafka=on" not in probe.stdout:
        print("skipped: this build has no Kafka support")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-reliability-") as t:
        TMP = t
        bf.EXE, bf.TMP = EXE, t
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:], exit=False)
        return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
