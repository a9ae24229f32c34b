#!/usr/bin/env python3
"""test_http.py — `streamfit stream --http` endpoint by endpoint, with curl,
on a stream from the development broker (`streamfit broker`, records written
with `streamfit produce` and kcat):

- content types of /, /app.js, /chart.min.js, /api/status, /api/model,
  /metrics, /healthz; HEAD answers without a body; 404 for other paths and
  405 for other methods;
- /metrics passes `promtool check metrics` and agrees with the last metrics
  line; /api/status agrees with it too, and counts the bad records with
  their positions;
- /api/model is loadable by `streamfit predict` and predicts what the
  --model-out file predicts;
- the -X secret appears on no endpoint; the token (--http-token or
  STREAMFIT_HTTP_TOKEN) gives 401 without it; 0.0.0.0 prints a warning;
- /healthz turns 503 when the broker is stopped.

Usage: test_http.py STREAMFIT_BINARY   (exit 77: skipped, see the message)
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
import time

SKIP = 77
SECRET = "SECRETsasl1"
TOKEN = "tok-7f3a9c"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def curl(url, method="GET", headers=(), tmp="."):
    """(status, content type, body) of one request made by curl."""
    body = os.path.join(tmp, "curl.body")
    args = ["curl", "-s", "-S", "-o", body, "-w", "%{http_code} %{content_type}", "--max-time", "20"]
    if method == "HEAD":
        args.append("-I")
    elif method != "GET":
        args += ["-X", method]
    for h in headers:
        args += ["-H", h]
    r = run(args + [url], timeout=30)
    code, _, ctype = r.stdout.partition(" ")
    with open(body, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return int(code or 0), ctype, text


class Broker:
    def __init__(self, exe):
        self.proc = subprocess.Popen([exe, "broker"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        self.bootstrap = self.proc.stdout.readline().strip() if ready else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Stream:
    """streamfit stream with --http; the URL read from its stderr."""

    def __init__(self, exe, args, tmp, name, env=None):
        self.err_path = os.path.join(tmp, name + ".err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([exe, "stream", *args], stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=env)
        self.url = ""
        deadline = time.time() + 30
        while time.time() < deadline and not self.url and self.proc.poll() is None:
            m = re.search(r"(http://\S+/) ", self.stderr())
            self.url = m.group(1) if m else ""
            time.sleep(0.1)

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_state(self, states, timeout=60, headers=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            code, _, body = curl(self.url + "api/status", headers=headers)
            if code == 200 and json.loads(body)["run"]["state"] in states:
                return json.loads(body)
            time.sleep(0.3)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


def write_data(path, n, seed=7):
    """A logistic stream: y from 3 features, a header line."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("y,x1,x2,x3\n")
        for _ in range(n):
            x = [rng.gauss(0, 1) for _ in range(3)]
            z = 1.5 * x[0] - x[1] + 0.5 * x[2] + 0.2
            y = 1 if rng.random() < 1 / (1 + pow(2.718281828, -z)) else 0
            f.write(f"{y},{x[0]:.6f},{x[1]:.6f},{x[2]:.6f}\n")


def check_endpoints(s, tmp, metrics_out, model_out, exe, data, rows, bad):
    url = s.url
    final = s.wait_state({"finished", "failed"}, timeout=120)
    check(final is not None and final["run"]["state"] == "finished",
          "the run finishes and the server keeps showing it (--http-linger)")
    if final is None:
        return
    with open(metrics_out) as f:
        last = json.loads(f.read().splitlines()[-1])
    c = final["counters"]
    check(c["rows_total"] == last["rows_total"] == rows,
          f"/api/status rows_total = the last metrics line's = {rows}")
    check(c["rows_skipped"] == last["rows_skipped"] == bad, f"{bad} bad records counted")
    check(c["batches"] == last["batch"], "batches = the last metrics line's batch")
    br = final["bad_records"]
    check(br["count"] == bad and len(br["last"]) == min(bad, 8) and
          all(re.match(r"partition \d+ offset \d+", b["where"]) and b["reason"] for b in br["last"]),
          "bad records: count and the last reasons with partition and offset")
    win = last["metrics"]["window"]
    check(abs(final["quality"]["window"]["accuracy"] - win["accuracy"]) < 1e-12,
          "window accuracy = the last metrics line's")
    check(final["model"]["version"]["batches"] == last["batch"] and
          final["model"]["version"]["rows_seen"] > 0, "model version: batches learned, rows seen")
    names = [e["feature"] for e in final["model"]["coefficients"]]
    sizes = [abs(e["values"][0]) for e in final["model"]["coefficients"]]
    check(sorted(names) == ["x1", "x2", "x3"] and sizes == sorted(sizes, reverse=True) and
          names[0] == "x1", "coefficients with feature names, largest first")
    check(len(final["history"]) > 0 and final["window"]["classification"]["confusion"],
          "history points and the window's confusion matrix")
    check(sum(map(sum, final["window"]["classification"]["confusion"])) == final["window"]["rows"],
          "the confusion matrix counts the window's rows")
    check(len(final["partitions"]) >= 1 and final["lag_total"] == 0,
          "per-partition lag, 0 after reading everything")

    # content types, HEAD, 404, 405
    expect = {"": "text/html", "app.js": "text/javascript", "chart.min.js": "text/javascript",
              "style.css": "text/css", "api/status": "application/json",
              "api/model": "application/json", "metrics": "text/plain; version=0.0.4",
              "healthz": "text/plain"}
    for path, ctype in expect.items():
        code, got, body = curl(url + path)
        check(code == 200 and got.startswith(ctype) and body, f"GET /{path}: 200, {ctype}")
    code, got, body = curl(url + "metrics", method="HEAD")
    check(code == 200 and got.startswith("text/plain"), "HEAD /metrics: 200")
    for path in ["nope", "api", "api/status/x", "../CMakeLists.txt", "%2e%2e/etc/passwd",
                 "web/index.html", "index.html"]:
        code, _, _ = curl(url + path)
        check(code == 404, f"GET /{path}: 404")
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        code, _, _ = curl(url + "api/status", method=method)
        check(code == 405, f"{method} /api/status: 405")
    code, _, body = curl(url + "healthz")
    check(code == 200 and body.startswith("ok: finished"), "/healthz 200 after a clean run")

    # /metrics: promtool, and the numbers of the last line
    code, _, prom = curl(url + "metrics")
    with open(os.path.join(tmp, "metrics.prom"), "w") as f:
        f.write(prom)
    r = subprocess.run(["promtool", "check", "metrics"], input=prom, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, "promtool check metrics: " + (r.stdout + r.stderr).strip()[:300])
    values = {}
    for line in prom.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            values[k] = float(v)
    check(values.get("streamfit_records_consumed_total") == rows,
          "streamfit_records_consumed_total")
    check(values.get("streamfit_records_skipped_total") == bad, "streamfit_records_skipped_total")
    check(values.get("streamfit_batches_learned_total") == last["batch"],
          "streamfit_batches_learned_total")
    predicted = values.get('streamfit_end_to_end_latency_seconds_bucket{le="+Inf"}')
    check(predicted == values.get("streamfit_records_predicted_total") ==
          values.get("streamfit_end_to_end_latency_seconds_count") > 0,
          "end-to-end latency histogram counts every predicted record")
    le = [values[k] for k in values if k.startswith("streamfit_end_to_end_latency_seconds_bucket")]
    check(le == sorted(le) and len(le) == 13, "13 cumulative buckets, 1 ms .. 5 s and +Inf")
    check(abs(values.get("streamfit_window_accuracy", -1) - win["accuracy"]) < 1e-9,
          "streamfit_window_accuracy = the last line's window accuracy")
    check(any(k.startswith('streamfit_consumer_lag_records{topic="http",partition="') for k in values),
          "consumer lag per partition, labelled with topic and partition")

    # /api/model with streamfit predict, against the --model-out file
    code, _, model = curl(url + "api/model")
    live_model = os.path.join(tmp, "live.model.json")
    with open(live_model, "w") as f:
        f.write(model)
    a = run([exe, "predict", "--model-file", live_model, "--input", data, "--proba"])
    b = run([exe, "predict", "--model-file", model_out, "--input", data, "--proba"])
    check(a.returncode == 0 and a.stdout == b.stdout and len(a.stdout.splitlines()) == rows,
          "/api/model loads in streamfit predict and predicts as the --model-out file")

    # the -X secret nowhere
    seen = [p for p in ["", "app.js", "api/status", "api/model", "metrics", "healthz"]
            if SECRET in curl(url + p)[2]]
    check(not seen, "the -X secret appears on no endpoint " + str(seen))
    check("sasl.password=***" in final["command_line"], "the command line shows -X KEY=***")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe = sys.argv[1]
    info = run([exe, "info"]).stdout
    if "http=on" not in info:
        print("skipped: this streamfit build has no HTTP support (libmicrohttpd)")
        return SKIP
    if "kafka=on" not in info:
        print("skipped: this streamfit build has no Kafka support")
        return SKIP
    for tool, pkg in [("curl", "curl"), ("kcat", "kcat"), ("promtool", "prometheus")]:
        if not shutil.which(tool):
            print(f"skipped: {tool} is not installed (apt install {pkg})")
            return SKIP
    tmp = tempfile.mkdtemp(prefix="sf-http-")
    broker = Broker(exe)
    check(bool(broker.bootstrap), "the development broker starts")
    streams = []
    try:
        rows, bad = 12000, 3
        data = os.path.join(tmp, "data.csv")
        write_data(data, rows)
        # the bad records first, so that --max-rows (good rows) reads them all
        r = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "http", "-p", "0"],
                           input="1,abc,2,3\n0,1,2\nnot a record\n", text=True,
                           capture_output=True, timeout=30)
        check(r.returncode == 0, "kcat writes 3 bad records")
        r = run([exe, "produce", "--brokers", broker.bootstrap, "--topic", "http", "--input", data])
        check(r.returncode == 0, "streamfit produce writes the records")
        source = f"kafka://{broker.bootstrap}/http"
        common = ["--source", source, "--model", "logistic", "--columns", "y,x1,x2,x3",
                  "--warmup-rows", "2000", "--batch-ms", "50", "--batch-rows", "500", "--window", "4000", "--quiet"]

        # 1: loopback, no token: every endpoint
        metrics_out = os.path.join(tmp, "metrics.jsonl")
        model_out = os.path.join(tmp, "model.json")
        s = Stream(exe, common + ["--max-rows", str(rows), "--metrics-out", metrics_out,
                                  "--model-out", model_out, "-X", f"sasl.password={SECRET}",
                                  "--http", "0", "--http-linger", "120"], tmp, "main")
        streams.append(s)
        check(s.url.startswith("http://127.0.0.1:"), "--http 0: a free port on 127.0.0.1, URL on stderr")
        check("not a loopback" not in s.stderr(), "no warning on loopback")
        if s.url:
            check_endpoints(s, tmp, metrics_out, model_out, exe, data, rows, bad)
        check(s.stop() == 0, "SIGINT ends the linger, exit 0")

        # 2: 0.0.0.0 with the token from the environment
        env = dict(os.environ, STREAMFIT_HTTP_TOKEN=TOKEN)
        s = Stream(exe, common + ["--max-rows", "3000", "--http", "0.0.0.0:0",
                                  "--http-linger", "120"], tmp, "token", env=env)
        streams.append(s)
        check("not a loopback address" in s.stderr(), "a warning for a non-loopback bind (0.0.0.0)")
        auth = ["Authorization: Bearer " + TOKEN]
        if s.url:
            port = s.url.rstrip("/").rsplit(":", 1)[1]
            u = "http://127.0.0.1:" + port
            for p in ["/", "/api/status", "/metrics", "/healthz", "/api/model", "/nope"]:
                code, _, _ = curl(u + p)
                check(code == 401, f"GET {p} without the token: 401")
            code, _, _ = curl(u + "/api/status", headers=["Authorization: Bearer wrong"])
            check(code == 401, "a wrong token: 401")
            code, _, _ = curl(u + "/api/status", method="POST")
            check(code == 401, "POST without the token: 401")
            code, ctype, _ = curl(u + "/api/status", headers=auth)
            check(code == 200 and ctype.startswith("application/json"),
                  f"with the token: 200 ({code} {ctype})")
            code, _, _ = curl(u + "/api/status", method="DELETE", headers=auth)
            check(code == 405, "DELETE with the token: 405")
            check(TOKEN not in curl(u + "/api/status", headers=auth)[2], "the token is not shown")
        s.stop()

        # 3: /healthz turns 503 when the broker goes away
        s = Stream(exe, common + ["--http", "0"], tmp, "down")
        streams.append(s)
        running = s.wait_state({"running"}, timeout=60)
        code, _, _ = curl(s.url + "healthz")
        check(running is not None and code == 200, "/healthz 200 while running")
        broker.stop()
        deadline, code, body = time.time() + 60, 0, ""
        while time.time() < deadline and code != 503:
            code, _, body = curl(s.url + "healthz")
            time.sleep(0.5)
        check(code == 503 and "source unreachable" in body,
              f"/healthz 503 with a reason once the broker is stopped ({code} {body.strip()})")
        st = json.loads(curl(s.url + "api/status")[2])
        check(st["io"]["source"]["reachable"] is False, "/api/status: source not reachable")
        s.stop()
    finally:
        for s in streams:
            s.stop()
        broker.stop()
    if failures:
        print(f"{len(failures)} check(s) failed; files in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
