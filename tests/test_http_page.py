#!/usr/bin/env python3
"""test_http_page.py — the live page of `streamfit stream --http` in a real
headless browser (Debian's chromium): a stream from the embedded
development broker runs to its end and lingers; chromium loads the page,
runs its scripts (polling /api/status) and dumps the DOM. The charts must
hold data (each canvas says how many points it draws), and the numbers
shown must equal the last metrics line and /api/status. A screenshot of
each page is saved into OUTDIR (logistic: http_page_logistic.png, least
squares: http_page_ols.png).

Usage: test_http_page.py STREAMFIT_BINARY OUTDIR   (exit 77: skipped)
"""
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def chromium():
    for name in ["chromium", "chromium-browser", "google-chrome"]:
        if shutil.which(name):
            return shutil.which(name)
    return None


def browser(exe, url, *args):
    """Run headless chromium on url; virtual time lets the page poll a few times."""
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    try:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
                            "--virtual-time-budget=5000", "--window-size=1400,2300", *args, url],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return r


class Elements(html.parser.HTMLParser):
    """id -> (attributes, text) of the dumped DOM."""

    def __init__(self):
        super().__init__()
        self.by_id, self.stack, self.body = {}, [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "id" in a:
            self.by_id[a["id"]] = [a, ""]
        self.stack.append(a.get("id"))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for i in self.stack:
            if i in self.by_id:
                self.by_id[i][1] += data


def fetch(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read().decode()


def run_case(exe, chrome, outdir, tmp, model, extra):
    metrics = os.path.join(tmp, model + ".jsonl")
    err_path = os.path.join(tmp, model + ".err")
    err = open(err_path, "w")
    proc = subprocess.Popen([exe, "stream", "--broker", "embedded", "--model", model,
                             "--feed-rate", "40000", "--batch-ms", "100", "--window", "5000",
                             "--metrics-out", metrics, "--http", "0", "--http-linger", "300",
                             "--quiet", *extra], stdout=subprocess.DEVNULL, stderr=err)
    try:
        url, status = "", None
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if not url:
                with open(err_path) as f:
                    m = re.search(r"(http://\S+/) ", f.read())
                url = m.group(1) if m else ""
            if url:
                s = json.loads(fetch(url + "api/status"))
                if s["run"]["state"] in ("finished", "failed"):
                    status = s
                    break
            time.sleep(0.5)
        check(status is not None and status["run"]["state"] == "finished",
              f"{model}: the run finishes and lingers")
        if status is None:
            return
        with open(metrics) as f:
            last = json.loads(f.read().splitlines()[-1])
        r = browser(chrome, url, "--dump-dom")
        check(r.returncode == 0 and "<body" in r.stdout, f"{model}: chromium dumps the page")
        dom = Elements()
        dom.feed(r.stdout)
        check(dom.body.get("data-ready") == "1" and dom.body.get("data-state") == "finished",
              f"{model}: the page drew the finished run")
        check(dom.body.get("data-points") == str(len(status["history"])),
              f"{model}: the page holds the history's {len(status['history'])} points")
        canvases = ["c-throughput", "c-latency", "c-learning", "c-scatter"]
        canvases += ["c-partitions"] if status["partitions"] else []
        canvases += ["c-hist"] if not status["n_classes"] else ["c-ftrl"]
        for c in canvases:
            n = int(dom.by_id.get(c, [{}, ""])[0].get("data-points", "0") or 0)
            check(n > 0, f"{model}: chart {c} holds data ({n} points)")

        def shown(i):
            a, text = dom.by_id.get(i, [{}, ""])
            return a.get("data-value", ""), text.strip()

        head = "accuracy" if status["n_classes"] else "rmse"
        expect = {
            "v-rows-total": last["rows_total"],
            "v-batches": last["batch"],
            "v-bad": last["rows_skipped"],
            "v-rps": last["throughput_rps"],
            "v-e2e-p50": last["latency_ms"]["p50"],
            "v-e2e-p99": last["latency_ms"]["p99"],
            "v-window-headline": last["metrics"]["window"][head],
        }
        for i, want in expect.items():
            value, text = shown(i)
            ok = value != "" and abs(float(value) - want) <= 1e-9 * max(1, abs(want))
            check(ok, f"{model}: {i} shows the last metrics line's {want} (page: {value})")
        value, text = shown("v-rows-total")
        check(text.replace(",", "") == str(last["rows_total"]),
              f"{model}: records read written as {text}")
        value, text = shown("v-window-headline")
        check(text == f"{last['metrics']['window'][head]:.4f}", f"{model}: window {head} written as {text}")
        value, text = shown("v-batch-p99")
        check(value != "" and abs(float(value) - status["latency"]["batch_ms"]["p99"]) < 1e-9,
              f"{model}: batch p99 = /api/status")
        _, text = shown("v-model-version")
        mv = status["model"]["version"]
        check(text.replace(",", "") == f"{mv['batches']} / {mv['rows_seen']}",
              f"{model}: model version {text}")
        check("--http 0" in shown("command-line")[1], f"{model}: the command line is shown")
        shot = os.path.join(outdir, f"http_page_{model}.png")
        r = browser(chrome, url, f"--screenshot={shot}")
        check(r.returncode == 0 and os.path.getsize(shot) > 20000, f"{model}: screenshot {shot}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    exe, outdir = sys.argv[1], sys.argv[2]
    info = subprocess.run([exe, "info"], capture_output=True, text=True).stdout
    if "http=on" not in info:
        print("skipped: this streamfit build has no HTTP support (libmicrohttpd)")
        return SKIP
    if "kafka=on" not in info:
        print("skipped: this streamfit build has no Kafka support (the embedded broker)")
        return SKIP
    chrome = chromium()
    if not chrome:
        print("skipped: chromium is not installed (apt install chromium)")
        return SKIP
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sf-http-page-")
    run_case(exe, chrome, outdir, tmp, "logistic", ["--max-rows", "200000", "--refit-every", "10"])
    run_case(exe, chrome, outdir, tmp, "ols", ["--max-rows", "40000"])
    if failures:
        print(f"{len(failures)} check(s) failed; files in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
