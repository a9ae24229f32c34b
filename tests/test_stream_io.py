#!/usr/bin/env python3
"""test_stream_io.py — `streamfit broker` and `streamfit produce` end to end,
checked with kcat: the development broker serves real Kafka clients, produce
delivers exactly the file's rows (at a steady rate when asked, with keys from
a column), and the broker stops cleanly on SIGTERM.

Usage: test_stream_io.py STREAMFIT_BINARY   (exit 77: skipped, kcat missing)
"""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def kcat_consume(bootstrap, topic, fmt=None, timeout=60):
    args = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-o", "beginning", "-q"]
    if fmt:
        args += ["-f", fmt]
    r = run(args, timeout=timeout)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
    return r.stdout.splitlines()


class Broker:
    def __init__(self, exe, *args):
        self.proc = subprocess.Popen([exe, "broker", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        self.bootstrap = self.proc.stdout.readline().strip() if ready else ""

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = None
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe = sys.argv[1]
    if not shutil.which("kcat"):
        print("skipped: kcat is not installed (apt install kcat)")
        return SKIP
    info = run([exe, "info"])
    if "kafka=on" not in info.stdout:
        print("skipped: this streamfit build has no Kafka support")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="sf_stream_io_")
    try:
        return tests(exe, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tests(exe, tmp):
    # --help and usage errors
    r = run([exe, "broker", "--help"])
    check(r.returncode == 0 and "5 MiB per partition" in r.stdout and "real Kafka" in r.stdout,
          "broker --help states the in-memory caveat")
    r = run([exe, "broker", "--partitions", "0"])
    check(r.returncode == 2 and "--partitions" in r.stderr, "broker --partitions 0 is a usage error")
    r = run([exe, "broker", "--frobnicate"])
    check(r.returncode == 2, "broker with an unknown flag exits 2")
    r = run([exe, "produce", "--topic", "t", "--input", "x"])
    check(r.returncode == 2 and "--brokers" in r.stderr, "produce without --brokers exits 2")
    r = run([exe, "produce", "--brokers", "b:1", "--topic", "t", "--input", "-", "--loop"])
    check(r.returncode == 2, "produce --loop on stdin exits 2")
    r = run([exe, "produce", "--help"])
    check(r.returncode == 0 and "--rate" in r.stdout, "produce --help")

    port = free_port()
    broker = Broker(exe, "--port", str(port), "--partitions", "4", "--topic", "rows")
    bootstrap = broker.bootstrap
    check(bootstrap == "127.0.0.1:%d" % port, "broker prints its bootstrap address first (%r)"
          % bootstrap)
    if not bootstrap:
        broker.stop()
        return 1

    # kcat in, kcat out
    lines = ["line %d" % i for i in range(500)]
    r = run(["kcat", "-P", "-b", bootstrap, "-t", "plain"], input="\n".join(lines) + "\n")
    check(r.returncode == 0, "kcat produces into the broker")
    got = kcat_consume(bootstrap, "plain")
    check(sorted(got) == sorted(lines), "kcat reads back what kcat wrote (%d of %d)"
          % (len(got), len(lines)))
    meta = run(["kcat", "-L", "-b", bootstrap, "-t", "rows"]).stdout
    check("with 4 partitions" in meta, "--topic creates the topic with --partitions partitions")

    # produce: exactly the file's rows, header skipped, empty lines skipped
    csv = os.path.join(tmp, "rows.csv")
    n = 20000
    with open(csv, "w") as f:
        f.write("id,y,x1,x2\r\n")
        for i in range(n):
            f.write("id%d,%d,%.3f,%.3f\n" % (i, i % 2, i * 0.5, -i * 0.25))
            if i % 1000 == 0:
                f.write("\n")
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "rows", "--input", csv])
    check(r.returncode == 0 and ("produced %d records" % n) in r.stderr,
          "produce reports %d records (%s)" % (n, r.stderr.strip()))
    got = kcat_consume(bootstrap, "rows")
    check(len(got) == n and not any(g.startswith("id,") for g in got),
          "kcat reads exactly the %d data rows (got %d)" % (n, len(got)))
    check(sorted(got) == sorted("id%d,%d,%.3f,%.3f" % (i, i % 2, i * 0.5, -i * 0.25)
                                for i in range(n)), "the values arrive unchanged")

    # --key-column: keys are that column's text; same key, same partition
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "keyed", "--input", csv,
             "--key-column", "id"])
    check(r.returncode == 0, "produce --key-column id")
    got = kcat_consume(bootstrap, "keyed", fmt="%k %p %s\n")
    keys_ok = len(got) == n and all(g.split(" ")[0] == g.split(" ")[2].split(",")[0] for g in got)
    check(keys_ok, "every message's key is its id column (%d messages)" % len(got))
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "keyed2", "--input", csv,
             "--key-column", "nosuch"])
    check(r.returncode == 2 and "nosuch" in r.stderr, "an unknown --key-column is an error")
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "keyed3", "--input", csv,
             "--key-column", "1", "--partition", "2"])
    got = kcat_consume(bootstrap, "keyed3", fmt="%k %p\n")
    check(r.returncode == 0 and len(got) == n and all(g in ("0 2", "1 2") for g in got),
          "--key-column INDEX and --partition N")

    # --rate: 3000 rows at 2000/s take about 1.5 s
    small = os.path.join(tmp, "small.csv")
    with open(small, "w") as f:
        f.write("a,b\n")
        for i in range(3000):
            f.write("%d,%d\n" % (i, i * i))
    t0 = time.monotonic()
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "rated", "--input", small,
             "--rate", "2000"])
    secs = time.monotonic() - t0
    check(r.returncode == 0 and 1.2 <= secs <= 4.0,
          "produce --rate 2000 sends 3000 rows in about 1.5 s (took %.2f s)" % secs)
    check(len(kcat_consume(bootstrap, "rated")) == 3000, "all rated rows arrive")

    # --loop until SIGTERM: exit 0, whole passes and more
    p = subprocess.Popen([exe, "produce", "--brokers", bootstrap, "--topic", "looped", "--input",
                          small, "--loop", "--rate", "20000"], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=30)[1]
    count = len(kcat_consume(bootstrap, "looped"))
    check(p.returncode == 0 and count > 3000 and ("produced %d records" % count) in err,
          "produce --loop stops on SIGTERM with exit 0 (%d records, %s)" % (count, err.strip()))

    # stdin input
    r = run([exe, "produce", "--brokers", bootstrap, "--topic", "fromstdin", "--input", "-",
             "--no-header"], input="1,2\n3,4\n\n5,6")
    check(r.returncode == 0 and sorted(kcat_consume(bootstrap, "fromstdin")) == ["1,2", "3,4", "5,6"],
          "produce --input - --no-header")

    # stop on SIGTERM
    rc = broker.stop()
    check(rc == 0, "broker exits 0 on SIGTERM (rc=%s)" % rc)
    check("5 MiB per partition" in broker.stderr, "broker says on stderr that data is kept in memory")
    check("topic 'plain' was created on first use with 4 partitions" in broker.stderr,
          "broker warns about a topic created on first use")
    check("topic 'rows' was created" not in broker.stderr, "but not about a --topic topic")

    # an unreachable broker: delivery fails, exit 1
    dead = "127.0.0.1:%d" % free_port()
    r = run([exe, "produce", "--brokers", dead, "--topic", "t", "--input", small,
             "-X", "message.timeout.ms=1500"])
    check(r.returncode == 1 and "not delivered" in r.stderr,
          "produce to an unreachable broker exits 1 with a message")
    r = run([exe, "produce", "--brokers", dead, "--topic", "t", "--input", small,
             "-X", "no.such.property=1"])
    check(r.returncode == 2 and "no.such.property" in r.stderr, "a bad -X property is a usage error")

    # a busy port is a clear error
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        r = run([exe, "broker", "--port", str(busy)], timeout=15)
        check(r.returncode == 1 and "cannot listen" in r.stderr, "broker on a busy port exits 1")

    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
