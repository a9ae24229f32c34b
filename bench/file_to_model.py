#!/usr/bin/env python3
"""file_to_model.py — CSV file to fitted model: streamfit vs pandas + scikit-learn.

  python3 bench/file_to_model.py --streamfit build/streamfit --python bench/.venv/bin/python
         [--sizes 200000,2000000] [--features 16] [--repeat 5] [--workdir DIR]

For each size and task (ols, logistic) it generates the CSV once, then times
`streamfit train` as a whole process (median of --repeat runs) and the peer
(bench/peers/sklearn_fit.py: read_csv to fitted model, interpreter start-up
not counted) in the same run, checks both found the same model, and prints a
Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run_streamfit(sf, task, path, lam, out, repeat):
    cmd = [sf, "train", "--model", task, "--input", path, "--out", out]
    if task == "logistic":
        cmd += ["--lambda", str(lam)]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    with open(out) as f:
        model = json.load(f)
    return statistics.median(times), times, model, " ".join(cmd)


def max_rel_diff(a, b):
    return max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streamfit", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--sizes", default="200000,2000000")
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    ap.add_argument("--workdir", default=os.path.join(HERE, "results", "tmp"))
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rows = []
    for n in [int(s) for s in a.sizes.split(",")]:
        for task in ("ols", "logistic"):
            path = os.path.join(a.workdir, f"{task}_{n}x{a.features}.csv")
            if not os.path.exists(path):
                subprocess.run([sys.executable, os.path.join(HERE, "gen_data.py"), "--task", task,
                                "--rows", str(n), "--features", str(a.features), "--out", path],
                               check=True)
            mb = os.path.getsize(path) / 1e6
            sf_med, sf_times, model, cmd = run_streamfit(
                a.streamfit, task, path, a.lam, os.path.join(a.workdir, "model.json"), a.repeat)
            peer = json.loads(subprocess.run(
                [a.python, os.path.join(HERE, "peers", "sklearn_fit.py"), "--task", task,
                 "--input", path, "--lambda", str(a.lam), "--repeat", str(min(a.repeat, 3))],
                check=True, capture_output=True, text=True).stdout)
            diff = max_rel_diff(model["coefficients"] + [model["intercept"]],
                                peer["coefficients"] + [peer["intercept"]])
            rows.append((task, n, mb, sf_med, min(sf_times), peer["median_s"],
                         peer["startup_s"], diff, cmd))
            print(f"{task} {n}x{a.features}: {mb:.1f} MB, streamfit {sf_med*1e3:.1f} ms, "
                  f"peer {peer['median_s']*1e3:.1f} ms, max coef rel diff {diff:.1e}",
                  file=sys.stderr)
    print("| task | rows x d | CSV MB | streamfit median (min) | streamfit MB/s | "
          "pandas+sklearn median | speed-up | max rel. coef diff |")
    print("|---|---|---|---|---|---|---|---|")
    for task, n, mb, sf, sfmin, peer, start, diff, cmd in rows:
        print(f"| {task} | {n} x {a.features} | {mb:.1f} | {sf*1e3:.0f} ms ({sfmin*1e3:.0f} ms) | "
              f"{mb/sf:.0f} | {peer*1e3:.0f} ms | {peer/sf:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
