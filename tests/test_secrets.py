#!/usr/bin/env python3
"""Secrets given with -X (sasl.password, ssl.key.password,
ssl.keystore.password) never appear in what
`streamfit stream` writes: stderr (with librdkafka's configuration dump
turned on: -X debug=conf), the metrics lines, the checkpoint, the model
file, the predictions (file and Kafka topic) and the dead letters.

Usage: test_secrets.py STREAMFIT   (exit 77: kcat missing or no Kafka support)
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile

SECRETS = {"sasl.password": "SECRETsasl1", "ssl.key.password": "SECRETkey2",
           "ssl.keystore.password": "SECRETstore3"}
# A secret setting this librdkafka may refuse (no OAuth/OIDC support): the
# refusal names the setting, never its value.
REFUSED = ("sasl.oauthbearer.client.secret", "SECRETbearer4")


def main():
    if len(sys.argv) < 2:
        print("usage: test_secrets.py STREAMFIT", file=sys.stderr)
        return 2
    exe = os.path.abspath(sys.argv[1])
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed")
        return 77
    if "kafka=on" not in subprocess.run([exe, "info"], capture_output=True, text=True,
                                        timeout=30).stdout:
        print("skipped: no Kafka support")
        return 77
    with tempfile.TemporaryDirectory(prefix="streamfit-secrets-") as tmp:
        b = subprocess.Popen([exe, "broker", "--port", "0", "--partitions", "2", "--topic", "s",
                              "--topic", "p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        try:
            ready, _, _ = select.select([b.stdout], [], [], 20)
            bootstrap = b.stdout.readline().strip() if ready else ""
            assert bootstrap, "the broker did not start"
            good = [f"{i % 5},{i % 7}\n" for i in range(3000)]
            rows = "".join(good[:1500]) + "bad,row\n" + "".join(good[1500:])
            subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "s"], input=rows, text=True,
                           check=True, timeout=60)
            x = []
            for k, v in SECRETS.items():
                x += ["-X", f"{k}={v}"]
            outputs = {name: os.path.join(tmp, name) for name in
                       ["metrics.jsonl", "model.json", "preds.txt", "dead.txt"]}
            r = subprocess.run([exe, "stream", "--source", f"kafka://{bootstrap}/s", "--columns",
                                "y,a", "--model", "ols", "--device", "cpu", "--warmup-rows",
                                "200", "--max-rows", "3000", *x, "-X", "debug=conf",
                                "--checkpoint-dir", os.path.join(tmp, "ck"),
                                "--metrics-out", outputs["metrics.jsonl"],
                                "--model-out", outputs["model.json"],
                                "--dead-letter", "file:" + outputs["dead.txt"],
                                "--predictions", f"kafka://{bootstrap}/p"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr[-2000:]
            assert "[redacted]" in r.stderr, "librdkafka's configuration dump was not seen"
            texts = {"stderr": r.stderr, "stdout": r.stdout}
            for root, _, files in os.walk(tmp):
                for f in files:
                    with open(os.path.join(root, f), "rb") as fh:
                        texts[f] = fh.read().decode("latin-1")
            p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "p", "-e", "-q",
                                "-f", "%k %s %h\n"], capture_output=True, text=True, timeout=60)
            texts["predictions topic"] = p.stdout
            assert "ck" in " ".join(os.listdir(tmp)) and texts.get("checkpoint.bin"), \
                "no checkpoint was written"
            r2 = subprocess.run([exe, "stream", "--source", f"kafka://{bootstrap}/s", "--columns",
                                 "y,a", "--model", "ols", "--device", "cpu", "--max-rows", "10",
                                 "-X", f"{REFUSED[0]}={REFUSED[1]}"],
                                capture_output=True, text=True, timeout=120)
            texts["stderr of a refused setting"] = r2.stderr + r2.stdout
            leaks = [(where, v) for where, t in texts.items()
                     for v in [*SECRETS.values(), REFUSED[1]] if v in t]
            if leaks:
                print("FAIL: secrets found:", leaks)
                return 1
            print(f"ok: no secret in {len(texts)} outputs ({', '.join(sorted(texts))})")
            return 0
        finally:
            b.send_signal(signal.SIGTERM)
            b.wait(timeout=30)
            b.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
