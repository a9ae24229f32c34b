#!/usr/bin/env python3
"""spark_stream.py — the Apache Spark Structured Streaming peer of the streaming benchmark.

  python bench/peers/spark_stream.py --input CSV --model ols|logistic
         (--rows N | --rate R --seconds S) [--trigger asap|100ms] [--warmup-rows 10000]
         [--source file|socket] [--work-dir DIR] [--pred-dir DIR] [--out RESULT.json]

The same pipeline as `streamfit stream` (test-then-train), written the way a
PySpark user would write it, in local mode (local[2], 2 cores, Java 17):

  source   Spark's Kafka source (spark-sql-kafka-0-10) is a separate Maven
           artifact: the pyspark wheel has no Kafka jar (format("kafka") fails
           with KAFKA_DATA_SOURCE_NOT_ENABLED) and Maven is unreachable here.
           So the records come through Spark's file source (default):
             --rows N     throughput: N lines preloaded as CSV files of
                          --file-rows (8192) before the query starts, read
                          with maxFilesPerTrigger --files-per-trigger (8), i.e.
                          65536 records a micro-batch, like --batch-rows 65536
             --rate R     latency: a feeder process (this script with --feed)
                          drops a file every --file-ms (10 ms) holding the
                          lines due at R lines/s, for --seconds S, written to a
                          temporary directory and renamed into place
           Every line is "CREATED,y,x1,...,xd", CREATED = the feeder's
           time.time() when the line was made. --source socket uses Spark's
           socket source instead; it is for tutorials only and is quadratic in
           the micro-batch size (its reader indexes a Scala ListBuffer, a
           linked list, row by row: here a 20,000-line batch took ~5 s, a
           200,000-line batch ~86 s).
  parse    Spark's CSV reader with an explicit schema (all doubles).
  learn    foreachBatch(df, id): df.toArrow() (Arrow, no pandas) to the driver,
           then numpy, exactly like streamfit: the first --warmup-rows records
           are fitted exactly and not predicted; afterwards each micro-batch
           is predicted with the current model, scored, written out, then
           learned from.
             ols       sufficient statistics A'A and A'y (A = [1, X]) merged
                       per batch and re-solved (exact, as streamfit's OLS).
             logistic  warm-up: Newton's method to convergence (L2 1e-4 * n);
                       per batch: one online Newton step with the accumulated
                       Hessian (H += A'WA; w -= H^-1 A'(p - y)), i.e. a
                       recursive Laplace / IRLS update. Refitting an MLlib
                       LogisticRegression on every micro-batch would be far
                       slower and forget the past.
  output   predictions (and P(y=1) for logistic) as one CSV file per
           micro-batch in --pred-dir (pyarrow.csv, like Spark's file sink).

Latency of a record = time.time() after its batch's predictions are written
minus CREATED (same clock, same machine). Throughput = N / (time the last batch
finished - the query's start) for preloaded files. Spark's start-up (JVM +
SparkSession) is reported separately (startup_s) and is in neither number.
Spark's JIT warm-up is included in both; the "2nd half" figures (records created in the second
half of the feed; batches that started in the second half of the run) show
the warmed-up steady state.

Prints one JSON object (also written to --out): startup_s, query_start_s,
records, seconds, records_per_s, steady_records_per_s, latency p50/p99/max (ms,
over all predicted records; also the median of the per-batch p50s, the max of
the per-batch p99s and the second half), batches and their sizes, time inside
foreachBatch, the final rmse or accuracy, and the input rate achieved.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time


# ---------------------------------------------------------------- feeders

def read_lines(path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return [ln for ln in lines[1:] if ln]  # no header, no empty lines


def stamped(stamp, part):
    return stamp + (b"\n" + stamp).join(part) + b"\n"


def write_file(dirname, tmpdir, name, data):
    """Write atomically: a file source must never see a half-written file."""
    tmp = os.path.join(tmpdir, name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(dirname, name))


def preload_files(args, lines, dirname, tmpdir):
    """Throughput, file source: N lines as files of --file-rows, before the query starts."""
    n, k = len(lines), 0
    while k < args.rows:
        m = min(args.file_rows, args.rows - k)
        part = [lines[(k + i) % n] for i in range(m)]
        write_file(dirname, tmpdir, "part-%09d.csv" % k, stamped(b"%.6f," % time.time(), part))
        k += m


def feed(args):
    """Feeder process: lines at --rate for --seconds (or --rows at full speed
    on a socket). Socket: prints its port, serves the first client. File:
    drops one file every --file-ms into --watch-dir. Prints a JSON summary."""
    lines = read_lines(args.input)
    n = len(lines)
    if args.source == "socket":
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        print(srv.getsockname()[1], flush=True)
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        emit = conn.sendall
    else:
        print(0, flush=True)
        sys.stdin.readline()  # the query has started
        tmpdir = args.watch_dir + ".tmp"
        os.makedirs(tmpdir, exist_ok=True)
        seq = [0]

        def emit(data):
            write_file(args.watch_dir, tmpdir, "part-%09d.csv" % seq[0], data)
            seq[0] += 1
    sent = 0
    t_first = time.time()
    if args.rows:  # throughput over a socket: everything, as fast as possible
        while sent < args.rows:
            k = min(2048, args.rows - sent)
            emit(stamped(b"%.6f," % time.time(), [lines[(sent + i) % n] for i in range(k)]))
            sent += k
    else:  # latency: a steady rate
        tick = 0.001 if args.source == "socket" else args.file_ms / 1000.0
        t_end = t_first + args.seconds
        next_t = t_first + tick
        while True:
            now = time.time()
            if now >= t_end:
                break
            due = int((now - t_first) * args.rate) - sent
            if due > 0:
                emit(stamped(b"%.6f," % now, [lines[(sent + i) % n] for i in range(due)]))
                sent += due
            next_t += tick
            delay = next_t - time.time()
            if delay > 0:
                time.sleep(delay)
    print(json.dumps({"sent": sent, "first": t_first, "last": time.time()}), flush=True)
    sys.stdin.read()  # a socket stays open: closing it would end Spark's stream
    if args.source == "socket":
        conn.close()


# ---------------------------------------------------------------- learners

class OLS:
    def __init__(self, d):
        import numpy as np
        self.np = np
        self.AtA = np.zeros((d + 1, d + 1))
        self.Aty = np.zeros(d + 1)
        self.w = np.zeros(d + 1)

    def _design(self, X):
        np = self.np
        return np.hstack([np.ones((X.shape[0], 1)), X])

    def add(self, X, y):
        A = self._design(X)
        self.AtA += A.T @ A
        self.Aty += A.T @ y

    def solve(self):
        self.w = self.np.linalg.solve(self.AtA, self.Aty)

    def predict(self, X):
        return self.w[0] + X @ self.w[1:], None

    def fit_warmup(self, X, y):
        self.add(X, y)
        self.solve()

    def update(self, X, y):
        self.add(X, y)
        self.solve()

    @staticmethod
    def score_parts(pred, proba, y):
        return float(((pred - y) ** 2).sum())


class Logistic:
    def __init__(self, d, lam=1e-4):
        import numpy as np
        self.np = np
        self.lam = lam
        self.w = np.zeros(d + 1)
        self.H = None

    def _design(self, X):
        np = self.np
        return np.hstack([np.ones((X.shape[0], 1)), X])

    def _p(self, A):
        return 1.0 / (1.0 + self.np.exp(-(A @ self.w)))

    def fit_warmup(self, X, y, iters=50):
        np = self.np
        A = self._design(X)
        reg = self.lam * A.shape[0] * np.eye(A.shape[1])
        reg[0, 0] = 0.0  # no penalty on the intercept
        for _ in range(iters):
            p = self._p(A)
            g = A.T @ (p - y) + reg @ self.w
            H = (A * (p * (1 - p))[:, None]).T @ A + reg
            step = np.linalg.solve(H, g)
            self.w -= step
            if np.abs(step).max() < 1e-10:
                break
        p = self._p(A)
        self.H = (A * (p * (1 - p))[:, None]).T @ A + reg

    def predict(self, X):
        p = 1.0 / (1.0 + self.np.exp(-(self.w[0] + X @ self.w[1:])))
        return (p >= 0.5).astype(float), p

    def update(self, X, y):
        np = self.np
        A = self._design(X)
        p = self._p(A)
        self.H += (A * (p * (1 - p))[:, None]).T @ A
        self.w -= np.linalg.solve(self.H, A.T @ (p - y))

    @staticmethod
    def score_parts(pred, proba, y):
        return float((pred == y).sum())


# ---------------------------------------------------------------- the query

def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(q * (len(sorted_vals) - 1)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", required=True)
    ap.add_argument("--model", choices=["ols", "logistic"], default="ols")
    ap.add_argument("--rows", type=int, default=0, help="throughput: N records at full speed")
    ap.add_argument("--rate", type=float, default=0, help="latency: records per second")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--trigger", choices=["asap", "100ms"], default="asap")
    ap.add_argument("--warmup-rows", type=int, default=10000)
    ap.add_argument("--pred-dir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--source", choices=["file", "socket"], default="file")
    ap.add_argument("--work-dir", default=None, help="file source: where input files go")
    ap.add_argument("--file-rows", type=int, default=8192, help="throughput: rows per input file")
    ap.add_argument("--files-per-trigger", type=int, default=8,
                    help="throughput: maxFilesPerTrigger (8 x 8192 = 65536 rows a batch)")
    ap.add_argument("--file-ms", type=float, default=10, help="latency: a new file every T ms")
    ap.add_argument("--feed", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--watch-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.feed:
        return feed(args)
    if bool(args.rows) == bool(args.rate):
        ap.error("give either --rows (throughput) or --rate (latency)")

    with open(args.input) as f:
        d = len(f.readline().strip().split(",")) - 1
    feeder = None
    watch = None
    fed = None
    if args.source == "file":
        import shutil
        import tempfile
        work = args.work_dir or tempfile.mkdtemp(prefix="spark_stream_")
        watch = os.path.join(work, "in")
        for p in (watch, watch + ".tmp", os.path.join(work, "chk")):
            shutil.rmtree(p, ignore_errors=True)
        os.makedirs(watch)
        os.makedirs(watch + ".tmp")
        if args.rows:  # preloaded, like the preloaded Kafka topic
            t_pre = time.time()
            preload_files(args, read_lines(args.input), watch, watch + ".tmp")
            fed = {"sent": args.rows, "first": t_pre, "last": time.time()}
    if fed is None:
        feeder_cmd = [sys.executable, os.path.abspath(__file__), "--feed", "--input", args.input,
                      "--rows", str(args.rows), "--rate", str(args.rate), "--seconds",
                      str(args.seconds), "--source", args.source, "--file-ms", str(args.file_ms),
                      "--watch-dir", watch or ""]
        feeder = subprocess.Popen(feeder_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        port = int(feeder.stdout.readline())

    t0 = time.time()
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StructField, StructType

    spark = (SparkSession.builder.master("local[2]").appName("streamfit-peer")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.driver.memory", "4g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    t_session = time.time()

    names = ["created", "y"] + [f"x{j + 1}" for j in range(d)]
    if args.source == "file":
        schema = StructType([StructField(c, DoubleType()) for c in names])
        reader = spark.readStream.schema(schema).option("header", "false")
        if args.rows:
            reader = reader.option("maxFilesPerTrigger", args.files_per_trigger)
        parsed = reader.csv(watch)
    else:
        lines = (spark.readStream.format("socket").option("host", "127.0.0.1")
                 .option("port", port).load())
        f = F.split(lines.value, ",")
        parsed = lines.select(*[f.getItem(j).cast("double").alias(c) for j, c in enumerate(names)])

    learner = OLS(d) if args.model == "ols" else Logistic(d)
    xcols = [f"x{j + 1}" for j in range(d)]
    pred_dir = args.pred_dir
    if pred_dir:
        os.makedirs(pred_dir, exist_ok=True)
        for name in os.listdir(pred_dir):
            os.remove(os.path.join(pred_dir, name))
    st = {"rows": 0, "warm": [], "warm_n": 0, "fitted": False, "score": 0.0, "scored": 0,
          "lat": [], "batch_p50": [], "batch_p99": [], "batch_rows": [], "batches": 0,
          "t_first_batch": None, "t_enter": [], "created": [], "lat_raw": [], "arrow_s": 0.0, "learn_s": 0.0, "t_last_batch": None, "first_created": None}
    lock = threading.Lock()

    def process(df, batch_id):
        t_enter = time.time()
        tbl = df.toArrow()
        t_arrow = time.time()
        n = tbl.num_rows
        if n == 0:
            return
        created = tbl.column("created").to_numpy()
        y = tbl.column("y").to_numpy()
        X = np.column_stack([tbl.column(c).to_numpy() for c in xcols])
        with lock:
            if st["first_created"] is None:
                st["first_created"] = float(created.min())
            if st["t_first_batch"] is None:
                st["t_first_batch"] = time.time()
            i0 = 0
            if not st["fitted"]:  # warm-up: collect, fit exactly, predict nothing
                take = min(n, args.warmup_rows - st["warm_n"])
                st["warm"].append((X[:take], y[:take]))
                st["warm_n"] += take
                i0 = take
                if st["warm_n"] >= args.warmup_rows:
                    Xw = np.vstack([a for a, _ in st["warm"]])
                    yw = np.concatenate([b for _, b in st["warm"]])
                    learner.fit_warmup(Xw, yw)
                    st["fitted"], st["warm"] = True, []
            if i0 < n:
                Xb, yb, cb = X[i0:], y[i0:], created[i0:]
                pred, proba = learner.predict(Xb)
                st["score"] += learner.score_parts(pred, proba, yb)
                st["scored"] += len(yb)
                if pred_dir:
                    cols = {"prediction": pred} if proba is None else {"prediction": pred, "p1": proba}
                    pacsv.write_csv(pa.table(cols), os.path.join(pred_dir, f"part-{batch_id:06d}.csv"))
                now = time.time()
                lat = np.sort((now - cb) * 1000.0)
                st["lat"].append(lat)
                st["created"].append(cb)
                st["lat_raw"].append((now - cb) * 1000.0)
                st["batch_p50"].append(float(lat[(len(lat) - 1) // 2]))
                st["batch_p99"].append(float(lat[int((len(lat) - 1) * 0.99)]))
                learner.update(Xb, yb)
            st["rows"] += n
            st["t_enter"].append(t_enter)
            st["arrow_s"] += t_arrow - t_enter
            st["learn_s"] += time.time() - t_arrow
            st["batches"] += 1
            st["batch_rows"].append(n)
            st["t_last_batch"] = time.time()

    w = parsed.writeStream.foreachBatch(process)
    if args.source == "file":
        w = w.option("checkpointLocation", os.path.join(os.path.dirname(watch), "chk"))
    if args.trigger == "100ms":
        w = w.trigger(processingTime="100 milliseconds")
    t_query = time.time()
    q = w.start()
    t_started = time.time()
    if feeder is not None and args.source == "file":
        feeder.stdin.write("go\n")
        feeder.stdin.flush()

    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with lock:
            rows = st["rows"]
        if args.rows and rows >= args.rows:
            break
        if args.rate:
            if fed is None and time.time() > t_started + args.seconds:
                fed = json.loads(feeder.stdout.readline())
            if fed is not None and rows >= fed["sent"]:
                break
        if q.exception() is not None:
            raise RuntimeError(str(q.exception()))
        time.sleep(0.01)
    q.stop()
    if feeder is not None:
        if fed is None:
            fed = json.loads(feeder.stdout.readline())
        feeder.stdin.close()
        feeder.wait()
    t_stop = time.time()
    version = spark.version
    spark.stop()

    lat = np.sort(np.concatenate(st["lat"])) if st["lat"] else np.array([])
    lat_l = lat.tolist()
    # Throughput clock: preloaded files count from the query's start; fed
    # records from the first one's creation.
    t_begin = t_query if (args.source == "file" and args.rows) else (st["first_created"] or t_started)
    secs = (st["t_last_batch"] or t_stop) - t_begin
    # Steady state: records created in the second half of the feed (latency),
    # batches that started in the second half of the run (throughput).
    late = []
    if st["created"] and fed is not None:
        mid = fed["first"] + (fed["last"] - fed["first"]) / 2
        c_all = np.concatenate(st["created"])
        l_all = np.concatenate(st["lat_raw"])
        late = np.sort(l_all[c_all >= mid]).tolist()
    steady_rps = None
    if len(st["t_enter"]) >= 4:
        half = t_begin + (st["t_last_batch"] - t_begin) / 2
        k = next(i for i, t in enumerate(st["t_enter"]) if t >= half) if st["t_enter"][-1] >= half else None
        if k is not None and st["t_last_batch"] > st["t_enter"][k]:
            steady_rps = round(sum(st["batch_rows"][k:]) / (st["t_last_batch"] - st["t_enter"][k]), 1)
    res = {
        "peer": "spark-structured-streaming", "spark": version, "source": args.source,
        "model": args.model, "d": d, "trigger": args.trigger,
        "mode": "throughput" if args.rows else "latency",
        "rate_target": args.rate or None,
        "startup_s": round(t_session - t0, 3),
        "query_start_s": round((st["t_first_batch"] or t_stop) - t_session, 3),
        "records": st["rows"], "records_sent": fed["sent"],
        "input_rate": round(fed["sent"] / max(1e-9, fed["last"] - fed["first"]), 1),
        "seconds": round(secs, 3),
        "records_per_s": round(st["rows"] / secs, 1) if secs > 0 else None,
        "steady_records_per_s": steady_rps,
        "batches": st["batches"],
        "median_batch_rows": int(np.median(st["batch_rows"])) if st["batch_rows"] else 0,
        "latency_ms": {"p50": round(pct(lat_l, 0.5), 2), "p99": round(pct(lat_l, 0.99), 2),
                       "max": round(lat_l[-1], 2) if lat_l else None,
                       "median_batch_p50": round(float(np.median(st["batch_p50"])), 2) if st["batch_p50"] else None,
                       "max_batch_p99": round(max(st["batch_p99"]), 2) if st["batch_p99"] else None,
                       "second_half_p50": round(pct(late, 0.5), 2) if late else None,
                       "second_half_p99": round(pct(late, 0.99), 2) if late else None},
        "predicted": st["scored"],
        "in_batch_s": {"scan_parse_to_arrow": round(st["arrow_s"], 3), "numpy_and_write": round(st["learn_s"], 3)},
        "first_batch_entered_s": round(st["t_enter"][0] - t_session, 3) if st["t_enter"] else None,
        # per micro-batch: seconds after the query started, rows, p50 latency (ms)
        "batch_log": [[round(t - t_query, 3), r] for t, r in zip(st["t_enter"], st["batch_rows"])],
    }
    if st["scored"]:
        if args.model == "ols":
            res["rmse"] = round((st["score"] / st["scored"]) ** 0.5, 6)
        else:
            res["accuracy"] = round(st["score"] / st["scored"], 6)
    text = json.dumps(res)
    print(text)
    if args.out:
        with open(args.out, "w") as fo:
            fo.write(text + "\n")


if __name__ == "__main__":
    main()
