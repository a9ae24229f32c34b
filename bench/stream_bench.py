#!/usr/bin/env python3
"""stream_bench.py — the streaming benchmark: Kafka records to test-then-train
predictions, streamfit vs Apache Spark Structured Streaming (local[2]).

  python3 bench/stream_bench.py --streamfit build/streamfit --python bench/.venv/bin/python
         [--rows16 600000] [--rows128 80000] [--repeat 3] [--lat-rate 100000]
         [--lat-seconds 20] [--batch-ms ""] [--lat-partitions 8]
         [--spark-latency 100000:asap,10000:asap,10000:100ms]
         [--sections throughput,latency,spark-throughput,spark-latency]
         [--max-load 0.8] [--load-wait 30] [--workdir DIR] [--out FILE.json]

What it does, all on this machine, CPU only (--device cpu). streamfit runs
with its DEFAULT settings: no -X, no --batch-ms, no --batch-rows.

 A. Throughput. Starts the development broker (`streamfit broker --port 0
    --partitions 32`, every topic named up front), preloads one topic per
    data set with `streamfit produce` as fast as possible (d=16: --rows16
    records, d=128: --rows128; the broker keeps about 5 MiB per partition, so
    these are sized to fit, and kcat counts every topic afterwards: nothing
    may be missing), then times `streamfit stream --source kafka://B/T ...
    --max-rows N --predictions kafka://B/OUT --metrics-out M --quiet` as a
    whole process (median of --repeat, each into its own predictions topic):
    records/s = N / wall seconds. It also reports the metrics file's last
    throughput_rps, the rate after the first post-warm-up batch (rows
    between the first and the last metrics line / the time between them: no
    start-up, no warm-up), and checks that OUT holds N - 10000 predictions.
    In the same run, on the same topic: a bare consumer, `kcat -C -e -q -o
    beginning -f '%o\n'` with its defaults (median of --repeat), and the
    ratio of streamfit's records/s to it (target: >= 0.8).
    Variant "one-thread": the default flags plus --no-pipeline (the next
    batch is no longer read on a second thread meanwhile). Each run also
    records the process's CPU seconds (user + system), so that pipeline on
    and off compare in wall and in CPU time.

 B. Latency at a steady rate. A fresh broker per run (--lat-partitions,
    default 8, and one run with 32: the development broker looks each fetch's
    offset up by walking the partition's whole log of message sets, so with
    32 partitions of small rate-limited batches it saturates a core within
    seconds). `streamfit produce --rate R --loop --key-column x1` feeds the
    topic while `streamfit stream ... --batch-ms T --max-ms
    S*1000 --predictions kafka://B/OUT` runs (ols, d=16, default flags;
    --batch-ms adds runs with those batch budgets). Two measures:
      metrics   streamfit's own end-to-end latency: the last metrics line's
                latency_run_ms (each record's Kafka timestamp to its
                prediction handed to the sink, over the whole run, from a
                histogram of 1/64 resolution), and the per-batch latency_ms
                (median of the p50s, max of the p99s) and processing_ms;
      e2e       independent: kcat reads both topics ('%k %T': key and message
                timestamp, i.e. CreateTime in ms, stamped by the producer's
                and by streamfit's sink's produce() call). Each prediction is
                matched to the latest input with the same key (x1's text,
                unique within the replayed file) sent before it; p50/p99/max
                over all matched predictions. The broker keeps only the last
                ~5 MiB per partition of the input, so only the tail of the run
                can be matched; the count is reported.
    Targets: e2e p99 <= 20 ms at 100,000 records/s, and the metrics' p99
    within 5 ms of it (reported as p99_diff_ms).

 C. The peer, bench/peers/spark_stream.py (see its docstring): Spark's file
    source (the Kafka connector is not in the pyspark wheel), throughput on
    the same data sets (preloaded files, 65536 rows per micro-batch) and
    latency at --lat-rate with the default trigger and processingTime 100 ms.

Before each measurement it waits (up to --load-wait s) until the 1-minute
load average is below --max-load and records the load it started under.
Writes everything to --out (JSON, small) and prints a Markdown table.
"""
import argparse
import bisect
import collections
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WARMUP = 10000


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_busy(seconds=1.0):
    """Share of all cores busy over the next `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t1, i1 = sample()
    time.sleep(seconds)
    t2, i2 = sample()
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


def wait_quiet(a, what):
    """Wait until the 1-minute load average is below --max-load (at most
    --load-wait s); return it. The load average trails: part of it is this
    benchmark's previous run, so a one-second CPU sample is logged as well."""
    t0 = time.time()
    la = load1()
    while la >= a.max_load and time.time() - t0 < a.load_wait:
        time.sleep(5)
        la = load1()
    waited = time.time() - t0
    busy = cpu_busy()
    note = "" if la < a.max_load else f" (still >= {a.max_load} after {a.load_wait:.0f} s)"
    log(f"{what}: load {la:.2f}{note}, waited {waited:.0f} s, CPU busy now {busy:.0%}")
    return la


def columns(d):
    return "y," + ",".join(f"x{j + 1}" for j in range(d))


def kcat_count(broker, topic):
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "%p %o\\n"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    count, lowest = 0, {}
    for line in out.splitlines():
        p, o = line.split()
        count += 1
        lowest[p] = min(lowest.get(p, 1 << 62), int(o))
    return count, max(lowest.values()) if lowest else 0


def kcat_keys(broker, topic):
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "%k %T\\n"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    res = []
    for line in out.splitlines():
        k, _, t = line.rpartition(" ")
        if k:
            res.append((k, int(t)))
    return res


def pct(v, q):
    return v[min(len(v) - 1, int(q * (len(v) - 1)))] if v else float("nan")


class Broker:
    def __init__(self, sf, topics, partitions=32):
        cmd = [sf, "broker", "--port", "0", "--partitions", str(partitions)]
        for t in topics:
            cmd += ["--topic", t]
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addr = self.p.stdout.readline().strip()
        if not re.match(r"^[\w.\-]+:\d+$", self.addr):
            raise RuntimeError(f"broker did not start: {self.addr!r}")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def gen(a, task, rows, d):
    path = os.path.join(a.workdir, f"{task}_{rows}x{d}.csv")
    if not os.path.exists(path):
        log(f"generating {path}")
        subprocess.run([sys.executable, os.path.join(HERE, "gen_data.py"), "--task", task,
                        "--rows", str(rows), "--features", str(d), "--out", path], check=True)
    return path


def produced(stderr_text):
    m = re.search(r"produced (\d+) records(?: in ([\d.]+) s \((\d+)/s\))?", stderr_text)
    return (int(m.group(1)), float(m.group(2) or 0), int(m.group(3) or 0)) if m else (0, 0, 0)


# ---------------------------------------------------------------- A

def kcat_throughput(a, br, topic, rows, results, model, d):
    """A bare consumer on the same topic: kcat with its defaults, to the end."""
    la = wait_quiet(a, f"kcat consumer {topic}")
    cmd = ["kcat", "-C", "-b", br.addr, "-t", topic, "-e", "-q", "-o", "beginning", "-f", "%o\\n"]
    runs = []
    for r in range(a.repeat):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
        wall = time.perf_counter() - t0
        n = out.count("\n")
        runs.append({"wall_s": round(wall, 3), "rps": round(n / wall, 1), "records": n,
                     "ok": n == rows})
        log(f"  kcat run {r}: {wall:.3f} s, {n / wall:,.0f} rec/s, {n} records")
    med = statistics.median(x["wall_s"] for x in runs)
    res = {"kind": "throughput", "pipeline": "kcat (bare consumer)", "variant": "kcat",
           "model": model, "d": d, "records": rows, "load1": la, "wall_s_median": med,
           "records_per_s": round(rows / med, 1), "runs": runs,
           "all_ok": all(x["ok"] for x in runs),
           "command": " ".join(shlex.quote(c) for c in cmd).replace(br.addr, "B")}
    results.append(res)
    return res


def sf_throughput(a, br, sets, results):
    for (model, d, rows, topic, path) in sets:
        bare = kcat_throughput(a, br, topic, rows, results, model, d)
        for variant, extra in (("default", []), ("one-thread", ["--no-pipeline"])):
            la = wait_quiet(a, f"streamfit throughput {model} d={d} {variant}")
            runs = []
            for r in range(a.repeat):
                out = f"out_{model}{d}_{variant}_{r}"
                mpath = os.path.join(a.workdir, f"m_{model}{d}_{variant}_{r}.jsonl")
                cmd = [a.streamfit, "stream", "--source", f"kafka://{br.addr}/{topic}",
                       "--columns", columns(d), "--model", model, "--device", "cpu",
                       "--max-rows", str(rows), "--predictions", f"kafka://{br.addr}/{out}",
                       "--metrics-out", mpath, "--quiet"] + extra + ["--max-ms", "300000"]
                t0, c0 = time.perf_counter(), os.times()
                subprocess.run(cmd, check=True)
                wall, c1 = time.perf_counter() - t0, os.times()
                cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
                lines = [json.loads(x) for x in open(mpath)]
                last = lines[-1]
                # low > 0: the development broker dropped the oldest predictions of a
                # partition (its ~5 MiB per partition), not streamfit
                npred, low = kcat_count(br.addr, out)
                ok = last["rows_total"] == rows and npred == rows - WARMUP
                cum = last["metrics"]["cumulative"]
                first = lines[0]  # the first batch after the warm-up
                steady = ((last["rows_total"] - first["rows_total"]) / (last["time"] - first["time"])
                          if len(lines) >= 3 and last["time"] > first["time"] else None)
                runs.append({"wall_s": round(wall, 3), "rps": round(rows / wall, 1),
                             "cpu_s": round(cpu, 3), "cpu_us_per_record": round(cpu / rows * 1e6, 3),
                             "metrics_rps": last["throughput_rps"], "rows_total": last["rows_total"],
                             "predictions": npred, "predictions_low_offset": low, "ok": ok,
                             "steady_rps": round(steady, 1) if steady else None,
                             "score": cum.get("rmse", cum.get("accuracy")),
                             "batch_p50_median": statistics.median(
                                 x["latency_ms"]["p50"] for x in lines if x["latency_ms"])})
                log(f"  run {r}: {wall:.3f} s (CPU {cpu:.3f} s), {rows / wall:,.0f} rec/s, metrics "
                    f"{last['throughput_rps']:,.0f}/s, after 1st batch {steady or 0:,.0f}/s, "
                    f"predictions {npred} {'ok' if ok else 'MISSING'}"
                    + (f" (broker retention: a partition starts at offset {low})" if low else ""))
            med = statistics.median(x["wall_s"] for x in runs)
            results.append({
                "kind": "throughput", "pipeline": f"streamfit ({variant})", "variant": variant,
                "model": model, "d": d, "records": rows, "load1": la,
                "wall_s_median": med, "records_per_s": round(rows / med, 1),
                "cpu_s_median": statistics.median(x["cpu_s"] for x in runs),
                "metrics_rps_median": statistics.median(x["metrics_rps"] for x in runs),
                "steady_rps_median": (statistics.median(x["steady_rps"] for x in runs)
                                      if all(x["steady_rps"] for x in runs) else None),
                "runs": runs, "all_ok": all(x["ok"] for x in runs),
                "score": runs[-1]["score"],
                "vs_kcat": round(bare["wall_s_median"] / med, 3),
                "command": " ".join(shlex.quote(c) for c in cmd).replace(br.addr, "B")
                .replace(a.streamfit, "build/streamfit").replace(f"out_{model}{d}_{variant}_{a.repeat - 1}", "OUT")
                .replace(mpath, "m.jsonl")})


# ---------------------------------------------------------------- B

def sf_latency(a, lat_path, runs_spec, results):
    for i, (variant, bms, parts) in enumerate(runs_spec):
        tin, tout = f"lat_in_{i}", f"lat_out_{i}"
        extra = ["--batch-ms", str(bms)] if bms else []
        la = wait_quiet(a, f"streamfit latency {variant} batch-ms {bms or 'default'} partitions {parts}")
        br = Broker(a.streamfit, [tin, tout], parts)  # a fresh broker for every run
        mpath = os.path.join(a.workdir, f"lat_{i}.jsonl")
        cmd = [a.streamfit, "stream", "--source", f"kafka://{br.addr}/{tin}",
               "--columns", columns(16), "--model", "ols", "--device", "cpu",
               "--max-ms", str(int(a.lat_seconds * 1000)),
               "--predictions", f"kafka://{br.addr}/{tout}", "--metrics-out", mpath,
               "--quiet"] + extra
        pcmd = [a.streamfit, "produce", "--brokers", br.addr, "--topic", tin, "--input",
                lat_path, "--rate", str(a.lat_rate), "--loop", "--key-column", "x1"]
        s = subprocess.Popen(cmd)
        time.sleep(0.5)
        p = subprocess.Popen(pcmd, stderr=subprocess.PIPE, text=True)
        s.wait()
        p.send_signal(signal.SIGINT)
        _, perr = p.communicate()
        n_prod, prod_s, prod_rps = produced(perr)
        lines = [json.loads(x) for x in open(mpath)]
        p50s = sorted(x["latency_ms"]["p50"] for x in lines if x["latency_ms"])
        p99s = sorted(x["latency_ms"]["p99"] for x in lines if x["latency_ms"])
        procs = sorted(x["processing_ms"] for x in lines if x["processing_ms"] is not None)
        run_lat = lines[-1]["latency_run_ms"] if lines and lines[-1]["latency_run_ms"] else {}
        rows_total = lines[-1]["rows_total"] if lines else 0
        # independent end-to-end latency from the two topics' timestamps
        ins = kcat_keys(br.addr, tin)
        outs = kcat_keys(br.addr, tout)
        sent = collections.defaultdict(list)
        for k, t in ins:
            sent[k].append(t)
        for v in sent.values():
            v.sort()
        e2e = []
        for k, t in outs:
            v = sent.get(k)
            if v:
                j = bisect.bisect_right(v, t)
                if j:
                    e2e.append(t - v[j - 1])
        e2e.sort()
        res = {
            "kind": "latency", "pipeline": f"streamfit ({variant}, batch-ms {bms or 'default'}, {parts} partitions)",
            "variant": variant, "batch_ms": bms, "partitions": parts, "model": "ols", "d": 16, "load1": la,
            "rate_target": a.lat_rate, "produced": n_prod, "input_rate": prod_rps,
            "records": rows_total, "batches": len(lines),
            "records_per_s": round(rows_total / a.lat_seconds, 1),
            "median_batch_rows": statistics.median(x["batch_rows"] for x in lines) if lines else 0,
            "internal_ms": {"median_p50": statistics.median(p50s) if p50s else None,
                            "max_p99": p99s[-1] if p99s else None,
                            "p99_of_p99": pct(p99s, 0.99),
                            "processing_median": statistics.median(procs) if procs else None,
                            "processing_max": procs[-1] if procs else None},
            "metrics_run_ms": run_lat,
            "e2e_ms": {"p50": pct(e2e, 0.5), "p99": pct(e2e, 0.99),
                       "max": e2e[-1] if e2e else None, "matched": len(e2e),
                       "predictions": len(outs), "inputs_retained": len(ins)},
            "p99_diff_ms": (round(run_lat["p99"] - pct(e2e, 0.99), 3)
                            if run_lat and e2e else None),
            "command": " ".join(shlex.quote(c) for c in cmd).replace(br.addr, "B")
            .replace(a.streamfit, "build/streamfit").replace(tin, "IN").replace(tout, "OUT").replace(mpath, "m.jsonl"),
            "producer": " ".join(shlex.quote(c) for c in pcmd).replace(br.addr, "B")
            .replace(a.streamfit, "build/streamfit").replace(lat_path, "FILE")
            .replace(tin, "IN"),
        }
        log(f"  {res['pipeline']}: in {n_prod} at {prod_rps}/s, batches {len(lines)}, "
            f"internal p50 {res['internal_ms']['median_p50']} max p99 {res['internal_ms']['max_p99']}, "
            f"e2e p50 {res['e2e_ms']['p50']} p99 {res['e2e_ms']['p99']} ({len(e2e)} matched), "
            f"metrics run p99 {run_lat.get('p99')} (diff {res['p99_diff_ms']})")
        results.append(res)
        br.stop()


# ---------------------------------------------------------------- C

def spark_runs(a, sets, lat_path, results, latency=True):
    peer = os.path.join(HERE, "peers", "spark_stream.py")
    work = os.path.join(a.workdir, "spark")
    jobs = []
    for (model, d, rows, _topic, path) in sets:
        jobs.append(("throughput", model, d, path,
                     ["--rows", str(rows), "--trigger", "asap"]))
    for rate, trig in (a.spark_latency if latency else []):
        jobs.append(("latency", "ols", 16, lat_path,
                     ["--rate", str(rate), "--seconds", str(a.lat_seconds), "--trigger", trig]))
    for kind, model, d, path, extra in jobs:
        la = wait_quiet(a, f"spark {kind} {model} d={d} {' '.join(extra)}")
        out = os.path.join(work, "result.json")
        os.makedirs(work, exist_ok=True)
        cmd = [a.python, peer, "--input", path, "--model", model, "--work-dir", work,
               "--pred-dir", os.path.join(work, "pred"), "--out", out] + extra
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=600)
        wall = time.perf_counter() - t0
        r = json.load(open(out))
        r.update({"kind": kind, "load1": la, "process_wall_s": round(wall, 2),
                  "pipeline": f"Spark {r['spark']} file source, trigger {r['trigger']}",
                  "command": " ".join(shlex.quote(c) for c in cmd)
                  .replace(a.workdir, "$W").replace(HERE, "bench")})
        log(f"  spark {kind} {model} d={d} {r['trigger']}: {r['records']} rec, "
            f"{r['records_per_s']}/s, p50 {r['latency_ms']['p50']} p99 {r['latency_ms']['p99']}, "
            f"start-up {r['startup_s']} s")
        results.append(r)


# ---------------------------------------------------------------- table

def short(cmd):
    """The command as run, with the long --columns list abbreviated."""
    return re.sub(r"y,x1,x2,[x\d,]*,x(\d+)", r"y,x1,...,x\1", cmd)


def fmt_rate(x):
    return f"{x:,.0f}" if x else "-"


def fmt_ms(x):
    return "-" if x is None or x != x else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def table(results):
    rows = ["| pipeline | d | model | records | records/s | latency p50 (ms) | latency p99 (ms) | load | command |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["kind"] == "throughput" and r["pipeline"].startswith("streamfit"):
            lat = "-", "-"
            rps = (f"{fmt_rate(r['records_per_s'])} (metrics {fmt_rate(r['metrics_rps_median'])}; "
                   f"after 1st batch {fmt_rate(r['steady_rps_median'])}; "
                   f"{r['vs_kcat']:.2f} of kcat; CPU {r['cpu_s_median'] / r['records'] * 1e6:.2f} µs/record)")
        elif r["kind"] == "throughput" and r["pipeline"].startswith("kcat"):
            lat = "-", "-"
            rps = fmt_rate(r["records_per_s"])
        elif r["kind"] == "latency" and r["pipeline"].startswith("streamfit"):
            e, m = r["e2e_ms"], r["metrics_run_ms"] or {}
            lat = (f"kcat {fmt_ms(e['p50'])}; metrics {fmt_ms(m.get('p50'))}",
                   f"kcat {fmt_ms(e['p99'])}; metrics {fmt_ms(m.get('p99'))}")
            rps = f"{fmt_rate(r['records_per_s'])} (in {fmt_rate(r['input_rate'])})"
        elif r["kind"] == "throughput":
            lat = "-", "-"
            rps = (f"{fmt_rate(r['records_per_s'])} (2nd half {fmt_rate(r['steady_records_per_s'])}; "
                   f"JVM start-up {r['startup_s']:.1f} s not counted)")
        else:
            L = r["latency_ms"]
            lat = (f"{fmt_ms(L['p50'])}; 2nd half {fmt_ms(L['second_half_p50'])}",
                   f"{fmt_ms(L['p99'])}; 2nd half {fmt_ms(L['second_half_p99'])}")
            rps = f"{fmt_rate(r['records_per_s'])} (in {fmt_rate(r['input_rate'])})"
        rows.append(f"| {r['pipeline']} | {r['d']} | {r['model']} | {r['records']:,} | {rps} | "
                    f"{lat[0]} | {lat[1]} | {r['load1']:.2f} | `{short(r['command'])}` |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streamfit", default=os.path.join(HERE, "..", "build", "streamfit"))
    ap.add_argument("--python", default=os.path.join(HERE, ".venv", "bin", "python"))
    ap.add_argument("--rows16", type=int, default=600000)
    ap.add_argument("--rows128", type=int, default=80000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sections", default="throughput,latency,spark-throughput,spark-latency",
                    help="which parts to run (comma-separated)")
    ap.add_argument("--lat-rate", type=int, default=100000)
    ap.add_argument("--lat-seconds", type=float, default=20)
    ap.add_argument("--batch-ms", default="",
                    help="extra latency runs with these --batch-ms (default: none)")
    ap.add_argument("--lat-partitions", type=int, default=8,
                    help="partitions of the latency topics (one extra run uses 32)")
    ap.add_argument("--spark-latency", default="100000:asap,10000:asap,10000:100ms",
                    help="Spark latency runs, RATE:TRIGGER,... (trigger asap or 100ms)")
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--skip-streamfit", action="store_true")
    ap.add_argument("--max-load", type=float, default=0.8)
    ap.add_argument("--load-wait", type=float, default=30)
    ap.add_argument("--workdir", default=os.path.join(HERE, "results", "tmp", "stream"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", "stream_bench.json"))
    a = ap.parse_args()
    a.streamfit = os.path.abspath(a.streamfit)
    a.spark_latency = [(int(x.split(":")[0]), x.split(":")[1]) for x in a.spark_latency.split(",") if x]
    os.makedirs(a.workdir, exist_ok=True)
    t_start = time.time()

    sets = []
    for d, rows in ((16, a.rows16), (128, a.rows128)):
        for model in ("ols", "logistic"):
            sets.append((model, d, rows, f"in_{model}{d}",
                         gen(a, "ols" if model == "ols" else "logistic", rows, d)))
    lat_path = gen(a, "ols", a.rows16, 16)
    bms = [int(x) for x in a.batch_ms.split(",") if x]
    lat_spec = ([("default", None, a.lat_partitions)]
                + [("batch-ms", b, a.lat_partitions) for b in bms] + [("default", None, 32)])

    results = []
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "nproc": os.cpu_count(),
            "uname": os.uname().release, "argv": sys.argv[1:]}
    sec = set(a.sections.split(","))
    if a.skip_streamfit:
        sec -= {"throughput", "latency"}
    if a.skip_spark:
        sec -= {"spark-throughput", "spark-latency"}
    if "throughput" in sec:
        topics = [t for (_, _, _, t, _) in sets]
        for (model, d, _, _, _) in sets:
            for v in ("default", "one-thread"):  # one predictions topic per run, named up front
                topics += [f"out_{model}{d}_{v}_{r}" for r in range(a.repeat)]
        br = Broker(a.streamfit, topics)
        info["broker"] = " ".join(br.cmd[1:6]) + " --topic ... (%d topics)" % len(topics)
        log(f"broker at {br.addr}")
        try:
            preload = []
            for (model, d, rows, topic, path) in sets:
                r = subprocess.run([a.streamfit, "produce", "--brokers", br.addr, "--topic", topic,
                                    "--input", path], capture_output=True, text=True, check=True)
                n, s, rps = produced(r.stderr)
                count, low = kcat_count(br.addr, topic)
                ok = n == rows and count == rows and low == 0
                preload.append({"topic": topic, "records": rows, "produced": n, "seconds": s,
                                "rate": rps, "counted": count, "ok": ok})
                log(f"preloaded {topic}: {n} records in {s} s ({rps}/s), counted {count} "
                    f"{'ok' if ok else 'DATA MISSING'}")
                if not ok:
                    raise SystemExit(f"topic {topic}: expected {rows}, produced {n}, counted {count}")
            info["preload"] = preload
            sf_throughput(a, br, sets, results)
        finally:
            br.stop()
    if "latency" in sec:
        sf_latency(a, lat_path, lat_spec, results)
    if sec & {"spark-throughput", "spark-latency"}:
        spark_runs(a, sets if "spark-throughput" in sec else [], lat_path,
                   results, "spark-latency" in sec)
    info["total_s"] = round(time.time() - t_start, 1)
    with open(a.out, "w") as f:
        json.dump({"info": info, "results": results}, f, indent=1)
    print(table(results))
    log(f"done in {info['total_s']} s; results in {a.out}")


if __name__ == "__main__":
    main()
