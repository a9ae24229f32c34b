#!/usr/bin/env python3
"""test_dashboard.py — `streamfit dashboard`, with curl and a real headless
browser (Debian's chromium):

- replay (--metrics): a metrics file from a real stream (the embedded
  development broker) served; every endpoint with curl (content types, 404,
  405, HEAD, /api/model and /api/bench absent, promtool on /metrics); the
  page in chromium shows the numbers of the file's last metrics line and
  its charts hold data;
- a long run (3,000 lines built from the real ones, one malformed line):
  refused with the line's number by default, drawn with --on-error skip as
  1,200 evenly spaced points, the first and the last line kept, and the
  page says so; exported and opened from file://;
- bench (--bench) on the shipped results (bench/results/platform_*.json):
  chromium waits until the charts hold data, the table shows each
  platform's wall time and speed-up over Spark MLlib and scikit-learn as
  computed here from the files, and a screenshot is saved into OUTDIR as
  streamfit-platforms.png; two machine labels on one page (--label), from
  an export opened from file://;
- the token (--http-token and STREAMFIT_HTTP_TOKEN): 401 without it; a
  warning for 0.0.0.0; `streamfit bench --machine` names the machine;
  an export with both pages; bad inputs (missing file, a JSON that is not a
  bench result, no metrics line, bad flags) exit non-zero with a message.

Usage: test_dashboard.py STREAMFIT_BINARY SOURCE_DIR OUTDIR   (exit 77: skipped)
"""
import glob
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

SKIP = 77
TOKEN = "tok-d4sh"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def curl(url, tmp, method="GET", headers=()):
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
    os.remove(body)
    return int(code or 0), ctype, text


def browser(exe, url, *args):
    """Headless chromium on url; virtual time lets the page load and draw."""
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    try:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                            "--hide-scrollbars", f"--user-data-dir={profile}",
                            "--allow-file-access-from-files", "--virtual-time-budget=4000",
                            "--window-size=1400,2400", *args, url],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return r


class Elements(html.parser.HTMLParser):
    """id -> [attributes, text] of the dumped DOM, the body's attributes, and
    the table rows that carry data-* attributes."""

    def __init__(self):
        super().__init__()
        self.by_id, self.stack, self.body, self.rows = {}, [], {}, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "tr" and "data-platform" in a:
            self.rows.append(a)
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


def dom_of(chrome, url, what):
    r = browser(chrome, url, "--dump-dom")
    check(r.returncode == 0 and "<body" in r.stdout, f"{what}: chromium dumps the page")
    d = Elements()
    d.feed(r.stdout)
    return d


def close(a, b, rel=1e-9):
    return a is not None and b is not None and abs(float(a) - float(b)) <= rel * max(1, abs(float(b)))


class Dashboard:
    """streamfit dashboard serving; its URL read from stderr."""

    def __init__(self, exe, args, tmp, name, env=None):
        self.err_path = os.path.join(tmp, name + ".err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([exe, "dashboard", *args], stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=env)
        self.url = ""
        deadline = time.time() + 30
        while time.time() < deadline and not self.url and self.proc.poll() is None:
            m = re.search(r"dashboard on (http://\S+/) ", self.stderr())
            self.url = m.group(1) if m else ""
            time.sleep(0.05)
        check(self.url != "", f"{name}: the dashboard prints its URL")

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        check(self.proc.returncode == 0, f"Ctrl-C ends the dashboard with 0 ({self.proc.returncode})")
        self.err.close()


# ---- replay ----

def make_metrics(exe, tmp):
    """A real logistic run from the embedded broker, with refits."""
    path = os.path.join(tmp, "run.jsonl")
    r = run([exe, "stream", "--broker", "embedded", "--model", "logistic", "--feed-rate", "40000",
             "--batch-ms", "100", "--max-rows", "80000", "--refit-every", "5",
             "--metrics-out", path, "--quiet"], timeout=120)
    check(r.returncode == 0 and os.path.exists(path), "a real stream writes a metrics file")
    with open(path) as f:
        return path, [json.loads(l) for l in f if l.strip()]


def check_tiles(dom, last, what):
    def shown(i):
        a, text = dom.by_id.get(i, [{}, ""])
        return a.get("data-value", ""), text.strip()

    head = "accuracy" if "accuracy" in last["metrics"]["window"] else "rmse"
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
        value, _ = shown(i)
        check(value != "" and close(value, want), f"{what}: {i} shows the last line's {want} (page: {value})")
    _, text = shown("v-rows-total")
    check(text.replace(",", "") == str(last["rows_total"]), f"{what}: records read written as {text}")


def replay_served(exe, chrome, tmp, path, lines):
    d = Dashboard(exe, ["--metrics", path, "--http", "0"], tmp, "replay")
    try:
        last = lines[-1]
        for p, ctype in [("", "text/html"), ("app.js", "text/javascript"), ("chart.min.js", "text/javascript"),
                         ("api/status", "application/json"), ("metrics", "text/plain"), ("healthz", "text/plain")]:
            code, ct, _ = curl(d.url + p, tmp)
            check(code == 200 and ct.startswith(ctype), f"replay: /{p} is {ctype} ({code} {ct})")
        code, _, body = curl(d.url + "api/status", tmp)
        s = json.loads(body)
        check(s["run"]["live"] is False and s["run"]["state"] == "finished", "replay: /api/status says a finished replay")
        check(s["replay"]["lines"] == len(lines) and s["replay"]["malformed"] == 0,
              f"replay: {len(lines)} lines read, none malformed")
        check(s["counters"]["rows_total"] == last["rows_total"] and s["counters"]["batches"] == last["batch"],
              "replay: /api/status counters = the last line")
        check(len(s["history"]) == len(lines), "replay: every line is a point (short run)")
        refits = sum(1 for l in lines if "refit" in l)
        check(refits > 0 and sum(1 for e in s["events"] if e["kind"] == "refit") == min(refits, 40),
              f"replay: the {refits} refits are events")
        code, _, prom = curl(d.url + "metrics", tmp)
        if shutil.which("promtool"):
            r = run(["promtool", "check", "metrics"], input=prom)
            check(r.returncode == 0, "replay: promtool check metrics " + (r.stdout + r.stderr).strip()[:200])
        check(f"streamfit_records_consumed_total {last['rows_total']}" in prom, "replay: /metrics counts the rows")
        for p, want in [("api/model", 404), ("api/bench", 404), ("bench-data.js", 200), ("nope", 404),
                        ("../etc/passwd", 404), ("web/index.html", 404)]:
            code, _, _ = curl(d.url + p, tmp)
            check(code == want, f"replay: /{p} -> {want} ({code})")
        for m in ["POST", "PUT", "DELETE"]:
            code, _, _ = curl(d.url, tmp, method=m)
            check(code == 405, f"replay: {m} / -> 405 ({code})")
        code, _, body = curl(d.url + "api/status", tmp, method="HEAD")
        check(code == 200 and body.startswith("HTTP/"), "replay: HEAD answers headers only")

        dom = dom_of(chrome, d.url, "replay page")
        check(dom.body.get("data-ready") == "1" and dom.body.get("data-state") == "finished",
              "replay page: drawn, finished")
        check(dom.body.get("data-points") == str(len(lines)), f"replay page: {len(lines)} points")
        for c in ["c-throughput", "c-latency", "c-learning", "c-ftrl", "c-partitions"]:
            n = int(dom.by_id.get(c, [{}, ""])[0].get("data-points", "0") or 0)
            check(n > 0, f"replay page: chart {c} holds data ({n})")
        check_tiles(dom, last, "replay page")
        mv = dom.by_id.get("v-model-version", [{}, ""])[1].strip()
        check(mv == last["model_version"], f"replay page: model version {mv} = the last line's")
        note = dom.by_id.get("replay-note", [{}, ""])
        check(note[0].get("data-lines") == str(len(lines)) and "Replay of" in note[1],
              "replay page: says it is a replay and how many lines")
    finally:
        d.stop()


def long_run(exe, chrome, tmp, lines):
    """3,000 lines (the real ones repeated, times and counts advancing), line
    1,501 malformed: refused by default, drawn downsampled with skip."""
    path = os.path.join(tmp, "long.jsonl")
    t0, rows, out = lines[0]["time"], 0, []
    for i in range(3000):
        l = dict(lines[i % len(lines)])
        rows += l["batch_rows"]
        l.update(time=t0 + 0.05 * i, batch=i + 1, rows_total=rows)
        out.append(l)
    with open(path, "w") as f:
        for i, l in enumerate(out):
            if i == 1500:
                f.write('{"time": 12, "batch": \n')
            f.write(json.dumps(l) + "\n")
    exp = os.path.join(tmp, "long-export")
    r = run([exe, "dashboard", "--metrics", path, "--export", exp])
    check(r.returncode == 1 and ":1501:" in r.stderr and "1 malformed line(s), the first at line 1501" in r.stderr,
          "a malformed line: exit 1, its line number said: " + r.stderr.strip().splitlines()[-1][:160])
    check(not os.path.exists(exp), "nothing exported when refused")
    r = run([exe, "dashboard", "--metrics", path, "--export", exp, "--on-error", "skip"])
    check(r.returncode == 0 and "1200 points drawn (evenly spaced" in r.stderr,
          "--on-error skip: 1200 points of 3000 lines")
    with open(os.path.join(exp, "status.js")) as f:
        text = f.read()
    s = json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))
    h = s["history"]
    check(len(h) == 1200 and s["replay"]["downsampled"] and s["replay"]["malformed_lines"] == [1501],
          "export: 1200 points, downsampled, line 1501 named")
    # the history's "batch" is the batch's quality; the line's index from its time
    idx = [round((p["time"] - t0) / 0.05) for p in h]
    check(idx[0] == 0 and idx[-1] == 2999 and h[-1]["rows_total"] == out[-1]["rows_total"],
          "export: the first and the last line are points")
    in_file = [i + (i >= 1500) for i in idx]  # the malformed line is line 1,501 of the file
    gaps = {b - a for a, b in zip(in_file, in_file[1:])}
    check(gaps <= {2, 3}, f"export: evenly spaced (gaps {sorted(gaps)})")
    for f in ["index.html", "app.js", "status.js", "style.css", "chart.min.js"]:
        check(os.path.isfile(os.path.join(exp, f)), f"export: {f}")
    dom = dom_of(chrome, "file://" + os.path.join(exp, "index.html"), "exported replay")
    check(dom.body.get("data-ready") == "1" and dom.body.get("data-points") == "1200",
          "exported replay from file://: drawn with 1200 points")
    check_tiles(dom, out[-1], "exported replay")
    note = dom.by_id.get("replay-note", [{}, ""])[1]
    check("downsampled" in note and "line 1501" in note, "exported replay: says downsampled, names line 1501")


# ---- bench ----

def expected_bench(paths):
    """(machine label, platform) -> (wall, vs spark, vs sklearn), from the files."""
    want = {}
    for p in paths:
        d = json.load(open(p))
        label = f"{d['machine']['cpu']}, {d['machine']['cores']} cores"
        walls = {x["name"]: x["phases"]["wall"]["median"] for x in d["platforms"] if x["status"] == "ok"}
        for x in d["platforms"]:
            w = walls.get(x["name"])
            want[(d["workload"]["name"], x["name"])] = (
                label, w, walls["spark"] / w if w else None, walls["sklearn"] / w if w else None)
    return want


def bench_served(exe, chrome, tmp, outdir, paths):
    d = Dashboard(exe, ["--bench", *paths, "--http", "0"], tmp, "bench")
    try:
        code, ct, page = curl(d.url, tmp)
        check(code == 200 and "bench.js" in page, "bench: / is the comparison")
        code, ct, body = curl(d.url + "api/bench", tmp)
        b = json.loads(body)
        check(code == 200 and ct.startswith("application/json") and len(b["runs"]) == len(paths),
              f"bench: /api/bench holds {len(paths)} runs")
        for p in ["api/status", "metrics"]:
            code, _, _ = curl(d.url + p, tmp)
            check(code == 404, f"bench: /{p} -> 404 without a metrics file")
        dom = dom_of(chrome, d.url, "bench page")
        check(dom.body.get("data-ready") == "1" and dom.body.get("data-runs") == str(len(paths)),
              "bench page: drawn")
        for i in range(int(dom.body.get("data-workloads", "0"))):
            for c in [f"c-wall-{i}", f"c-speedup-{i}"]:
                n = int(dom.by_id.get(c, [{}, ""])[0].get("data-points", "0") or 0)
                check(n > 0, f"bench page: chart {c} holds data ({n})")
        want = expected_bench(paths)
        check(len(dom.rows) == len(want), f"bench page: a row per platform run ({len(dom.rows)})")
        # rows come per workload in file order; match by (workload order, platform)
        workloads = [json.load(open(p))["workload"]["name"] for p in paths]
        i = 0
        for wl in workloads:
            for key, (label, wall, vs_spark, vs_sklearn) in [(k, v) for k, v in want.items() if k[0] == wl]:
                r = dom.rows[i]
                i += 1
                name = key[1]
                ok = r.get("data-platform") == name and r.get("data-label") == label
                if wall is not None:
                    ok = ok and close(r.get("data-wall"), wall) and close(r.get("data-vs-spark"), vs_spark) \
                        and close(r.get("data-vs-sklearn"), vs_sklearn)
                else:
                    ok = ok and r.get("data-wall") == "" and r.get("data-status", "").startswith("unavailable")
                check(ok, f"bench page: {wl}/{name} on '{label}': wall {wall}, x{vs_spark} vs Spark, "
                          f"x{vs_sklearn} vs scikit-learn (page: {r.get('data-wall')}, "
                          f"{r.get('data-vs-spark')}, {r.get('data-vs-sklearn')})")
        shot = os.path.join(outdir, "streamfit-platforms.png")
        r = browser(chrome, d.url, f"--screenshot={shot}")
        check(r.returncode == 0 and os.path.getsize(shot) > 20000, f"bench page: screenshot {shot}")
    finally:
        d.stop()


def bench_labels_export(exe, chrome, tmp, path):
    exp = os.path.join(tmp, "bench-export")
    r = run([exe, "dashboard", "--bench", path, path, "--label", "laptop", "--label", "gpu-box",
             "--export", exp])
    check(r.returncode == 0, "bench export with two labels")
    check(os.path.isfile(os.path.join(exp, "index.html")) and os.path.isfile(os.path.join(exp, "bench-data.js"))
          and not os.path.exists(os.path.join(exp, "status.js")), "bench export: index.html, bench-data.js")
    dom = dom_of(chrome, "file://" + os.path.join(exp, "index.html"), "exported bench page")
    labels = [r.get("data-label") for r in dom.rows]
    check(dom.body.get("data-ready") == "1" and dom.body.get("data-workloads") == "1",
          "exported bench page from file://: drawn, one workload")
    check(labels[:len(labels) // 2] == ["laptop"] * (len(labels) // 2) and
          labels[len(labels) // 2:] == ["gpu-box"] * (len(labels) // 2) and labels,
          "exported bench page: one group per machine label, in order")
    n = int(dom.by_id.get("c-wall-0", [{}, ""])[0].get("data-points", "0") or 0)
    check(n > 0, f"exported bench page: the wall chart holds data ({n})")


def bench_machine_and_both(exe, tmp, metrics):
    """streamfit bench --machine names the machine in its JSON, and the
    dashboard groups by it; an export with both pages."""
    named = os.path.join(tmp, "named.json")
    r = run([exe, "bench", "--workload", "ols", "--rows", "3000", "--features", "4", "--platforms",
             "cpu1,cpu", "--repeat", "1", "--format", "json", "--machine", "cluster node 7",
             "--out", named], timeout=120)
    check(r.returncode == 0, "streamfit bench --machine writes a result")
    exp = os.path.join(tmp, "both")
    r = run([exe, "dashboard", "--metrics", metrics, "--bench", named, "--export", exp])
    check(r.returncode == 0, "export of a replay and bench results")
    files = sorted(os.listdir(exp)) if os.path.isdir(exp) else []
    check(files == ["app.js", "bench-data.js", "bench.html", "bench.js", "chart.min.js", "index.html",
                    "status.js", "style.css"], f"export of both: {files}")
    with open(os.path.join(exp, "bench-data.js")) as f:
        text = f.read()
    b = json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))
    run0 = b["runs"][0]
    check(run0["label"] == "cluster node 7" and run0["label_from"] == "file",
          "the machine's label comes from the file (bench --machine)")
    check(all(p["speedup_vs_spark"] is None for p in run0["platforms"]), "no Spark in the file: no speed-up over it")


# ---- safety and bad input ----

def token_and_bind(exe, tmp, metrics, bench):
    d = Dashboard(exe, ["--metrics", metrics, "--bench", bench, "--http", "0", "--http-token", TOKEN],
                  tmp, "token")
    try:
        for p in ["", "bench.html", "api/status", "api/bench", "metrics"]:
            code, _, _ = curl(d.url + p, tmp)
            check(code == 401, f"token: /{p} without it -> 401 ({code})")
            code, _, _ = curl(d.url + p, tmp, headers=[f"Authorization: Bearer {TOKEN}"])
            check(code == 200, f"token: /{p} with it -> 200 ({code})")
        code, _, _ = curl(d.url, tmp, headers=["Authorization: Bearer wrong"])
        check(code == 401, "token: a wrong one -> 401")
        code, _, body = curl(d.url + "api/status", tmp, headers=[f"Authorization: Bearer {TOKEN}"])
        check(TOKEN not in body, "token: not shown in the command line")
    finally:
        d.stop()
    env = dict(os.environ, STREAMFIT_HTTP_TOKEN=TOKEN)
    d = Dashboard(exe, ["--bench", bench, "--http", "0.0.0.0:0"], tmp, "any", env=env)
    try:
        check("not a loopback address" in d.stderr(), "0.0.0.0: a warning")
        code, _, _ = curl(d.url.replace("0.0.0.0", "127.0.0.1"), tmp)
        check(code == 401, "STREAMFIT_HTTP_TOKEN: 401 without it")
    finally:
        d.stop()


def bad_inputs(exe, tmp, src, metrics):
    other = os.path.join(src, "bench", "results", "stream_bench.json")
    garbage = os.path.join(tmp, "garbage.json")
    with open(garbage, "w") as f:
        f.write('{"benchmark": "streamfit bench", "platforms": [')
    cases = [
        (["--metrics", os.path.join(tmp, "missing.jsonl"), "--export", tmp + "/x"], 1, "missing.jsonl: No such file"),
        (["--bench", os.path.join(tmp, "missing.json"), "--http", "0"], 1, "missing.json: No such file"),
        (["--bench", other, "--http", "0"], 1, "not a `streamfit bench --format json` result"),
        (["--bench", garbage, "--http", "0"], 1, "not JSON"),
        (["--bench", metrics, "--http", "0"], 1, "not JSON"),
        (["--metrics", other, "--http", "0"], 1, "no metrics line"),
        (["--metrics", metrics], 2, "give --http"),
        (["--http", "0"], 2, "nothing to show"),
        (["--bench", other, "--label", "a", "--label", "b", "--http", "0"], 2, "--label"),
        (["--metrics", metrics, "x.json", "--http", "0"], 2, "unexpected argument"),
        (["--metrics", metrics, "--http", "nohost:port"], 1, "not [ADDR:]PORT"),
        (["--metrics", metrics, "--on-error", "maybe", "--http", "0"], 2, "--on-error"),
        (["--frobnicate"], 2, "unknown"),
    ]
    for args, rc, msg in cases:
        r = run([exe, "dashboard", *args], timeout=20)
        check(r.returncode == rc and msg in r.stderr,
              f"dashboard {' '.join(os.path.basename(a) for a in args)}: exit {rc}, '{msg}' "
              f"(got {r.returncode}: {' | '.join(r.stderr.strip().splitlines())[:160]})")
    r = run([exe, "dashboard", "--help"])
    check(r.returncode == 0 and "--export DIR" in r.stdout, "dashboard --help")


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    exe, src, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
    info = run([exe, "info"]).stdout
    if "http=on" not in info:
        print("skipped: this streamfit build has no HTTP support (libmicrohttpd)")
        return SKIP
    if "kafka=on" not in info:
        print("skipped: this streamfit build has no Kafka support (the embedded broker)")
        return SKIP
    chrome = next((shutil.which(n) for n in ["chromium", "chromium-browser", "google-chrome"] if shutil.which(n)), None)
    if not chrome or not shutil.which("curl"):
        print("skipped: chromium or curl is not installed (apt install chromium curl)")
        return SKIP
    bench = sorted(glob.glob(os.path.join(src, "bench", "results", "platform_*.json")))
    if not bench:
        print("skipped: no shipped bench results in bench/results")
        return SKIP
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sf-dashboard-")
    t0 = time.time()
    metrics, lines = make_metrics(exe, tmp)
    if lines:
        replay_served(exe, chrome, tmp, metrics, lines)
        long_run(exe, chrome, tmp, lines)
    bench_served(exe, chrome, tmp, outdir, bench)
    bench_labels_export(exe, chrome, tmp, bench[0])
    bench_machine_and_both(exe, tmp, metrics)
    token_and_bind(exe, tmp, metrics, bench[0])
    bad_inputs(exe, tmp, src, metrics)
    print(f"{time.time() - t0:.1f} s")
    if failures:
        print(f"{len(failures)} check(s) failed; files in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
