#!/usr/bin/env python3
"""test_mpi_stream.py — `mpirun -np 2 streamfit stream` from the development broker.

Usage: test_mpi_stream.py STREAMFIT

`streamfit broker` serves a topic of 4 partitions; kcat produces keyed CSV records.
  * OLS, 2 ranks, predictions to a Kafka topic: exit 0; the ranks' models are
    bit-identical (rank 0 compares every rank's coefficients); rank 0's model file equals one process on the same records (relative
    1e-12); every input key is predicted exactly once; the metrics line lists both
    ranks' throughput and counts every rank's rows.
  * OLS with --decay: bit-identical models on both ranks.
  * Logistic, 2 ranks: bit-identical models; every record after the warm-up predicted
    once; the model equals one process learning the same ticks' unions from a file
    (relative 1e-9), the ticks read back from the ranks' prediction files.
  * SIGKILL of rank 1 while records still arrive (predictions to per-rank files):
    mpirun exits non-zero; a restart with 2 ranks resumes from the checkpoint and
    ends with the model of the uninterrupted run (relative 1e-12) and every record
    predicted (at least once); a restart with another number of ranks is refused.
  * SIGTERM to one rank: every rank stops at the same tick, status 0. An error on one
    rank (its predictions file cannot be opened) stops every rank, non-zero.
Exits 77 without mpirun, kcat, or a build with MPI and Kafka.
"""
import collections, json, math, os, random, shutil, signal, subprocess, sys, tempfile
import threading, time

SKIP = 77
sf = sys.argv[1]
mpirun = shutil.which("mpirun")
if not mpirun or not shutil.which("kcat"):
    print("SKIP: needs mpirun (openmpi-bin) and kcat")
    sys.exit(SKIP)
info = subprocess.run([sf, "info"], capture_output=True, text=True).stdout
if "mpi: on" not in info or "kafka=on" not in info:
    print("SKIP: this build has no MPI or no Kafka support")
    sys.exit(SKIP)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
tmp = tempfile.mkdtemp(prefix="sf_mpi_stream_")
failures = []
ROWS = 6000


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def mpi(np_, args):
    return [mpirun, "--oversubscribe", "--allow-run-as-root", "-np", str(np_), sf] + args


def run(cmd, timeout=120):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def records(seed, classify, n=ROWS):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = [rng.uniform(-2, 3) for _ in range(3)]
        y = 1.5 + 0.7 * x[0] - 0.3 * x[1] + 2 * x[2] + rng.gauss(0, 0.3)
        if classify:
            y = 1 if y > 3 else 0
        out.append(("k%d" % i, "%.17g,%.6f,%.6f,%.6f" % (y, *x)))
    return out


def produce(bootstrap, topic, recs, seconds=0.0, partition=None):
    """kcat -P, keys and values separated by a tab; spread over `seconds`."""
    where = [] if partition is None else ["-p", str(partition)]
    p = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"] + where,
                         stdin=subprocess.PIPE, text=True)
    chunks = 20 if seconds else 1
    step = (len(recs) + chunks - 1) // chunks
    for c in range(0, len(recs), step):
        p.stdin.write("".join("%s\t%s\n" % kv for kv in recs[c:c + step]))
        p.stdin.flush()
        if seconds:
            time.sleep(seconds / chunks)
    p.stdin.close()
    if p.wait(timeout=60) != 0:
        raise RuntimeError("kcat -P failed")


def consume(bootstrap, topic, fmt):
    r = run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q", "-f", fmt])
    return r.stdout.splitlines()


def params(path):
    m = json.load(open(path))
    out = []
    for v in (m["coefficients"], m["intercept"]):
        for x in (v if isinstance(v, list) else [v]):
            out += x if isinstance(x, list) else [x]
    return out, m["rows_seen"]


def rel(a, b):
    num = math.sqrt(sum((p - q) ** 2 for p, q in zip(a, b)))
    return num / max(math.sqrt(sum(q * q for q in b)), 1e-300)


def rank_pid(ckdir, rank):
    """The pid of the streamfit rank `rank` whose command line names ckdir."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            envv = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0] == sf.encode() and ckdir.encode() in cmd and \
                ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in envv:
            return int(pid)
    return None


def stream_args(bootstrap, topic, group, model, extra):
    return ["stream", "--source", "kafka://%s/%s" % (bootstrap, topic), "--group", group,
            "--model", model, "--columns", "y,a,b,c", "--max-rows", str(ROWS),
            "--warmup-rows", "1000", "--batch-rows", "250", "--max-ms", "60000"] + extra


def main():
    broker = subprocess.Popen([sf, "broker", "--port", "0", "--partitions", "4", "--topic", "ols",
                               "--topic", "logit", "--topic", "slow", "--topic", "preds",
                               "--topic", "preds_logit"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        b = broker.stdout.readline().strip()
        check(bool(b), "streamfit broker prints its address (%s)" % b)
        tests(b)
    finally:
        broker.send_signal(signal.SIGTERM)
        try:
            broker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def logistic(b):
    """Logistic, 2 ranks: the same model on both, every record predicted once, and the
    model of one process learning each tick's union (rank 0's rows, then rank 1's, as
    the ranks' prediction files tell: the model version that predicted a row names its
    tick) from a file in that order. One process reads a file in batches of one size:
    that needs ticks of 2 x 250 rows, which records already in the broker (3600 a rank,
    more than --max-rows needs whatever the warm-up took of each) and a long --batch-ms
    give (up to 3 tries; else the comparison is said to be skipped)."""
    logit = records(2, True, 7200)
    for part in range(4):
        produce(b, "logit", logit[part::4], partition=part)
    record = {}
    for line in consume(b, "logit", "%p %o %k\t%s\n"):
        where, value = line.split("\t")
        p, o, k = where.split(" ")
        record[(int(p), int(o))] = (k, value)
    check(len(record) == 7200, "logistic: 7200 records in 4 partitions")
    for attempt in range(3):
        two_logit = os.path.join(tmp, "logit2-%d.json" % attempt)
        pl = os.path.join(tmp, "pl%d.jsonl" % attempt)
        r = run(mpi(2, stream_args(b, "logit", "g-logit%d" % attempt, "logistic",
                                   ["--classes", "0,1", "--model-out", two_logit, "--predictions",
                                    "file:" + pl, "--predictions-format", "json", "--batch-ms",
                                    "3000"])))
        check(r.returncode == 0 and "the 2 ranks hold the same model" in r.stderr,
              "2 ranks, logistic: exit 0, the ranks' models agree (%s)" % r.stderr[-300:])
        if r.returncode != 0:
            return
        ticks = collections.defaultdict(list)
        for rank in (0, 1):
            for line in open(pl.replace(".jsonl", ".rank%d.jsonl" % rank)):
                q = json.loads(line)
                ticks[int(q["model_version"][1:].split("-")[0])].append((q["partition"],
                                                                          q["offset"]))
        predicted = [w for t in sorted(ticks) for w in ticks[t]]
        keys_out = collections.Counter(record[w][0] for w in predicted)
        # each partition's records before its first one predicted: the warm-up
        first = {p: min(o for (q, o) in predicted if q == p) for (p, _) in predicted}
        warm = [w for w in sorted(record) if w[0] in first and w[1] < first[w[0]]]
        _, rows = params(two_logit)
        check(max(keys_out.values()) == 1 and len(first) == 4 and
              len(warm) + len(predicted) == rows and 1000 <= len(warm) <= 1001,
              "logistic: every key after the warm-up (%d rows) predicted exactly once (%d)"
              % (len(warm), len(keys_out)))
        sizes = [len(ticks[t]) for t in sorted(ticks)]
        if all(x == 500 for x in sizes[:-1]) and 0 < sizes[-1] <= 500:
            break
        print("logistic: ticks of %s rows, not of 500: again" % sizes)
    else:
        print("logistic: the comparison with one process is skipped (ticks %s)" % sizes)
        return
    ref_csv, one_logit = os.path.join(tmp, "ref.csv"), os.path.join(tmp, "logit1.json")
    with open(ref_csv, "w") as f:
        f.write("y,a,b,c\n")
        f.writelines(record[w][1] + "\n" for w in warm + predicted)
    r = run([sf, "stream", "--source", "file:" + ref_csv, "--model", "logistic", "--classes",
             "0,1", "--columns", "y,a,b,c", "--warmup-rows", str(len(warm)), "--batch-rows",
             "500", "--batch-ms", "20000", "--model-out", one_logit])
    check(r.returncode == 0, "one process on the ranks' ticks: exit 0 (%s)" % r.stderr[-300:])
    if r.returncode == 0:
        (p2, n2), (p1, n1) = params(two_logit), params(one_logit)
        e = rel(p2, p1)
        print("logistic, 2 ranks against one process on the same ticks: relative %.3g" % e)
        check(e <= 1e-9 and n1 == n2,
              "logistic: 2 ranks = one process on the same ticks (%.3g <= 1e-9)" % e)


def tests(b):
    ols = records(1, False)
    produce(b, "ols", ols)
    keys_in = collections.Counter(k for k, _ in ols)

    # one process on the same records: the reference
    one = os.path.join(tmp, "one.json")
    r = run([sf] + stream_args(b, "ols", "g-one", "ols", ["--model-out", one]))
    check(r.returncode == 0, "one process: exit 0 (%s)" % r.stderr[-300:])

    # two ranks
    two, metrics = os.path.join(tmp, "two.json"), os.path.join(tmp, "m.jsonl")
    t0 = time.time()
    r = run(mpi(2, stream_args(b, "ols", "g-two", "ols",
                               ["--model-out", two, "--metrics-out", metrics, "--predictions",
                                "kafka://%s/preds" % b, "--checkpoint-dir",
                                os.path.join(tmp, "ck-two")])))
    print("2 ranks, OLS, %d records: %.1f s" % (ROWS, time.time() - t0))
    check(r.returncode == 0, "2 ranks, OLS: exit 0 (%s)" % r.stderr[-600:])
    check("the 2 ranks hold the same model, bit for bit" in r.stderr,
          "2 ranks, OLS: the ranks' models are bit-identical")
    if r.returncode == 0 and os.path.exists(one):
        (p2, n2), (p1, n1) = params(two), params(one)
        e = rel(p2, p1)
        print("2 ranks against one process: relative difference %.3g" % e)
        check(e <= 1e-12 and n2 == n1 == ROWS,
              "2 ranks = one process (%.3g <= 1e-12; rows %d, %d)" % (e, n2, n1))
    lines = [json.loads(x) for x in open(metrics)] if os.path.exists(metrics) else []
    last = lines[-1] if lines else {}
    ranks = last.get("ranks", [])
    check(len(ranks) == 2 and sum(q["rows"] for q in ranks) == ROWS and
          all(q["throughput_rps"] > 0 for q in ranks) and last.get("rows_total") == ROWS,
          "the metrics line (rank 0's only) counts every rank's rows: %s" % ranks)
    scored = sum(x["batch_rows"] for x in lines)
    check(1000 <= ROWS - scored <= 1001, "the warm-up took %d rows of both ranks (1000 asked)"
          % (ROWS - scored))
    keys_out = collections.Counter(consume(b, "preds", "%k\n"))
    check(set(keys_out) <= set(keys_in) and max(keys_out.values(), default=0) == 1 and
          len(keys_out) == scored,
          "every key after the warm-up predicted exactly once (%d predictions, %d scored)"
          % (sum(keys_out.values()), scored))

    # --decay: the ranks forget once per tick, together
    r = run(mpi(2, stream_args(b, "ols", "g-decay", "ols", ["--decay", "0.99"])))
    check(r.returncode == 0 and "the 2 ranks hold the same model, bit for bit" in r.stderr,
          "2 ranks, OLS --decay 0.99: the ranks' models are bit-identical (%s)" % r.stderr[-300:])

    logistic(b)

    # what a spread run refuses, said before anything opens
    for extra, why in ((["--source", "file:" + os.path.join(tmp, "none.csv")], "kafka://"),
                       (["--columns", ""], "--columns"),
                       (["--model", "logistic"], "--classes"),
                       (["--http", "0"], "--http")):
        args = stream_args(b, "ols", "g-refused", "ols", [])
        for k in range(0, len(extra), 2):
            if extra[k] in args:
                at = args.index(extra[k])
                del args[at:at + 2]
            if extra[k + 1]:
                args += extra[k:k + 2]
        r = run(mpi(2, args))
        check(r.returncode != 0 and why in r.stderr,
              "2 ranks refuse %s (%s)" % (" ".join(extra), r.stderr.strip().splitlines()[:1]))

    # SIGTERM to one rank: every rank finishes the tick, and the job ends with status 0
    ck_term, m_term = os.path.join(tmp, "ck-term"), os.path.join(tmp, "m-term.jsonl")
    args = stream_args(b, "ols", "g-term", "ols", ["--checkpoint-dir", ck_term,
                                                   "--metrics-out", m_term])
    at = args.index("--max-rows")
    del args[at:at + 2]  # no limit: read everything, then wait for more
    job = subprocess.Popen(mpi(2, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    deadline, signalled = time.time() + 30, False
    while time.time() < deadline and job.poll() is None and not signalled:
        time.sleep(0.2)
        tail = open(m_term).read().splitlines()[-1:] if os.path.exists(m_term) else []
        pid = rank_pid(ck_term, 1)
        if pid and tail and json.loads(tail[0])["rows_total"] == ROWS:
            os.kill(pid, signal.SIGTERM)
            signalled = True
    try:
        _, err = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        _, err = job.communicate()
    check(signalled and job.returncode == 0 and err.count("done: %d rows" % ROWS) == 1,
          "SIGTERM to rank 1: every rank stops, status 0 (%s: %s)" % (job.returncode, err[-1500:]))

    # an error on one rank (its predictions file cannot be opened) stops every rank
    os.makedirs(os.path.join(tmp, "bad.rank1.csv"))
    r = run(mpi(2, stream_args(b, "ols", "g-bad", "ols",
                               ["--predictions", "file:" + os.path.join(tmp, "bad.csv")])))
    check(r.returncode != 0 and "rank 1 failed" in r.stderr,
          "an error on rank 1 stops every rank, non-zero (%s)" % r.stderr[-300:])

    # SIGKILL of one rank while records arrive, then a restart from the checkpoint
    ck = os.path.join(tmp, "ck-kill")
    preds = os.path.join(tmp, "p.jsonl")
    args = stream_args(b, "slow", "g-kill", "ols",
                       ["--checkpoint-dir", ck, "--model-out", os.path.join(tmp, "kill.json"),
                        "--predictions", "file:" + preds, "--predictions-format", "json"])
    feeder = threading.Thread(target=produce, args=(b, "slow", ols, 6.0))
    feeder.start()
    job = subprocess.Popen(mpi(2, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    killed = False
    deadline = time.time() + 30
    while time.time() < deadline and job.poll() is None and not killed:
        time.sleep(0.2)
        pid = rank_pid(ck, 1)
        if pid and os.path.exists(os.path.join(ck, "checkpoint.bin")):
            os.kill(pid, signal.SIGKILL)
            killed = True
    try:
        _, err = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        _, err = job.communicate()
    feeder.join()
    check(killed, "rank 1 killed with SIGKILL after a checkpoint")
    check(job.returncode != 0, "the job ends with a non-zero status (%s)" % job.returncode)
    r = run(mpi(3, args))
    check(r.returncode != 0 and "written by 2 ranks" in r.stderr,
          "a restart with 3 ranks is refused (%s)" % r.stderr[-300:])
    r = run([sf] + args)
    check(r.returncode != 0 and "written by 2 ranks" in r.stderr,
          "a restart with one process is refused")
    r = run(mpi(2, args))
    check(r.returncode == 0 and "resumed from" in r.stderr,
          "a restart with 2 ranks resumes (%s)" % r.stderr[-600:])
    if r.returncode == 0 and os.path.exists(two):
        (pk, nk), (p2, _) = params(os.path.join(tmp, "kill.json")), params(two)
        e = rel(pk, p2)
        print("killed and resumed against uninterrupted: relative difference %.3g" % e)
        check(e <= 1e-12 and nk == ROWS,
              "killed and resumed = uninterrupted (%.3g <= 1e-12, rows %d)" % (e, nk))
    seen, foreign = set(), 0
    for rank in (0, 1):
        path = os.path.join(tmp, "p.rank%d.jsonl" % rank)
        check(os.path.exists(path), "rank %d's predictions in %s" % (rank, os.path.basename(path)))
        for line in open(path) if os.path.exists(path) else []:
            q = json.loads(line)
            foreign += q["partition"] % 2 != rank
            seen.add((q["partition"], q["offset"]))
    check(foreign == 0, "each rank predicts its own partitions (p mod 2)")
    positions = set(tuple(map(int, x.split())) for x in consume(b, "slow", "%p %o\n"))
    warm = len(positions - seen)
    check(seen <= positions and 1000 <= warm <= 1001,
          "every record after the warm-up predicted at least once (%d not: the warm-up)" % warm)


main()
if failures:
    print("%d failure(s)" % len(failures))
    sys.exit(1)
print("all passed")
