"""peer_common.py — what the `streamfit bench` peers share.

The peers (spark_fit.py, sklearn_fit2.py, vw_fit.py) take the same arguments
as bench/peers/run_peer.sh passes them:

  --task ols|ridge|logistic|softmax --input FILE --holdout F --lambda X
  --repeat R [--no-header]

and hold out the same rows as `streamfit bench`: the last floor(n * F) rows
of the file (n data rows, so the file must have no bad records). The split
is written once, before any timing, to two files in a temporary directory:
each peer then reads the training rows (timed as read), fits (timed as fit)
and reads and predicts the held-out rows (timed as predict).

Each result is printed as one line of JSON on stdout (see emit); the
objective each peer is set up to match is documented in its file.
Standard library only (numpy is imported by the peers themselves).
"""
import argparse
import json
import math
import os
import statistics
import sys


def parse_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--task", choices=["ols", "ridge", "logistic", "softmax"], required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-header", action="store_true")
    a = ap.parse_args()
    if a.task == "ols":
        a.lam = 0.0
    return a


class Split:
    """The training and held-out rows of the input as two CSV files (same
    header as the input, or none), with their row counts and column names."""

    def __init__(self, path, holdout, has_header, workdir):
        with open(path, "rb") as f:
            first = f.readline()
            if has_header:
                self.header = first.decode().strip().split(",")
            else:
                self.header = ["y"] + [f"x{j + 1}" for j in range(first.count(b","))]
                f.seek(0)
            lines = sum(1 for line in f if line.strip())
        self.n = lines
        self.n_hold = int(math.floor(self.n * holdout))
        self.n_train = self.n - self.n_hold
        self.has_header = has_header
        self.train = os.path.join(workdir, "train.csv")
        self.hold = os.path.join(workdir, "holdout.csv")
        head = (",".join(self.header) + "\n").encode() if has_header else b""
        with open(path, "rb") as src, open(self.train, "wb") as tr, open(self.hold, "wb") as ho:
            if has_header:
                src.readline()
            tr.write(head)
            ho.write(head)
            i = 0
            for line in src:
                if not line.strip():
                    continue
                (tr if i < self.n_train else ho).write(line if line.endswith(b"\n") else line + b"\n")
                i += 1
        self.d = len(self.header) - 1


def read_labels(path, has_header):
    """The first column of a CSV as floats (untimed set-up: classes, truth)."""
    with open(path) as f:
        if has_header:
            f.readline()
        return [float(line.split(",", 1)[0]) for line in f if line.strip()]


def regression_quality(y, pred):
    """rmse and r2, as streamfit's metrics compute them."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    e = y - np.asarray(pred, dtype=float)
    sse = float(e @ e)
    c = y - y.mean()
    sst = float(c @ c)
    return {"rmse": math.sqrt(sse / len(y)), "r2": 1.0 - sse / sst if sst > 0 else 0.0}


def classification_quality(label, proba):
    """accuracy (argmax, ties to the first class) and log loss (clipped at 1e-15)."""
    import numpy as np

    label = np.asarray(label, dtype=int)
    proba = np.asarray(proba, dtype=float)
    acc = float(np.mean(np.argmax(proba, axis=1) == label))
    p = proba[np.arange(len(label)), label]
    ll = float(-np.mean(np.log(np.maximum(p, 1e-15))))
    return {"accuracy": acc, "log_loss": ll}


def class_index(values, classes):
    """Labels to indices into the sorted distinct classes."""
    import numpy as np

    return np.searchsorted(np.asarray(classes), np.asarray(values))


def result(name, library, estimator, threads, startup_s, times, n_train, n_hold, quality,
           coefficients, intercept, notes=""):
    """One row of the report. times: lists read_s, fit_s, predict_s (one per
    repeat); wall = read + fit."""
    wall = [r + f for r, f in zip(times["read_s"], times["fit_s"])]
    med = statistics.median(wall)
    return {
        "name": name,
        "status": "ok",
        "library": library,
        "estimator": estimator,
        "threads": threads,
        "startup_s": startup_s,
        "read_s": statistics.median(times["read_s"]),
        "fit_s": statistics.median(times["fit_s"]),
        "predict_s": statistics.median(times["predict_s"]),
        "wall_s": med,
        "rows_per_s": n_train / med if med > 0 else None,
        "rows": n_train,
        "holdout_rows": n_hold,
        "times": times,
        "quality": quality,
        "coefficients": coefficients,
        "intercept": intercept,
        "notes": notes,
    }


def emit(obj):
    print(json.dumps(obj), flush=True)


def fail(name, why):
    emit({"name": name, "status": "failed: " + why})
    sys.exit(0)
