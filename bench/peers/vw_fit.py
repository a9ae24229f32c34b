#!/usr/bin/env python3
"""vw_fit.py — the Vowpal Wabbit peer of `streamfit bench` (the vowpalwabbit
Python package).

  python bench/peers/vw_fit.py --task T --input FILE --holdout F --lambda X --repeat R

One pass of VW's online learner (its defaults: adaptive, normalized,
invariant updates, 18-bit feature hashing), on one core:
  ols, ridge  --loss_function squared (no penalty: VW's --l2 is a per-update
              decay, not the same objective; lambda is not used)
  logistic    --loss_function logistic, labels -1/+1, --link logistic
  softmax     --oaa K --loss_function logistic --probabilities (one-vs-all)
The stochastic solution is not the exact one: quality and coefficients show
how far one pass gets.

Times: read = reading the training CSV and writing it in VW's text format
(VW has no CSV reader of its own here); fit = VW reading that file and
learning (-d ... -f model); predict = converting the held-out rows and
VW -t -i model -p predictions. Coefficients are read back by predicting unit
vectors with the trained model (not timed). The interpreter start-up and
imports are startup_s.
"""
import math
import os
import tempfile
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402
import vowpalwabbit  # noqa: E402
from vowpalwabbit import Workspace  # noqa: E402

import peer_common as pc  # noqa: E402

t_imported = time.perf_counter()


def to_vw(src, dst, has_header, task, classes):
    """CSV (label first) to VW text lines: 'label |x f0:v0 f1:v1 ...'."""
    with open(src) as f, open(dst, "w") as out:
        if has_header:
            f.readline()
        prefixes = None
        lines = []
        for line in f:
            label, rest = line.rstrip("\n").split(",", 1)
            vals = rest.split(",")
            if prefixes is None:
                prefixes = [f"f{j}:" for j in range(len(vals))]
            if task == "logistic":
                label = "1" if classes.index(float(label)) == 1 else "-1"
            elif task == "softmax":
                label = str(classes.index(float(label)) + 1)
            lines.append(label + " |x " + " ".join(map(str.__add__, prefixes, vals)))
            if len(lines) == 65536:
                out.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            out.write("\n".join(lines) + "\n")


def options(task, K):
    if task in ("ols", "ridge"):
        return "--loss_function squared", "vw --loss_function squared, 1 pass"
    if task == "logistic":
        return ("--loss_function logistic --link logistic",
                "vw --loss_function logistic --link logistic, 1 pass")
    return (f"--oaa {K} --loss_function logistic --probabilities",
            f"vw --oaa {K} --loss_function logistic --probabilities, 1 pass")


def predictions(path, task, K):
    if task == "softmax":
        P = np.zeros((0, K))
        rows = []
        with open(path) as f:
            for line in f:
                p = np.zeros(K)
                for item in line.replace(",", " ").split():  # "1:0.2,2:0.5,..."
                    k, v = item.split(":")[:2]
                    p[int(k) - 1] = float(v)
                rows.append(p)
        return np.array(rows) if rows else P
    return np.loadtxt(path, ndmin=1)


def coefficients_of(model, task, d):
    if task == "softmax":
        return None, None
    vw = Workspace(f"-i {model} -t --quiet")
    try:
        def raw(ex):
            p = vw.predict(ex)
            return math.log(p / (1 - p)) if task == "logistic" else p
        b = raw("|x ")
        w = [raw(f"|x f{j}:1") - b for j in range(d)]
    finally:
        vw.finish()
    return [w], [b]


def main():
    a = pc.parse_args(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="streamfit-peer-") as work:
        split = pc.Split(a.input, a.holdout, not a.no_header, work)
        y_hold = pc.read_labels(split.hold, split.has_header)
        classes = None
        K = 0
        if a.task in ("logistic", "softmax"):
            classes = sorted(set(pc.read_labels(split.train, split.has_header)))
            K = len(classes)
        opts, name = options(a.task, K)
        train_vw, hold_vw = os.path.join(work, "train.vw"), os.path.join(work, "hold.vw")
        model, preds = os.path.join(work, "model.vw"), os.path.join(work, "preds.txt")
        times = {"read_s": [], "fit_s": [], "predict_s": []}
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            to_vw(split.train, train_vw, split.has_header, a.task, classes)
            t1 = time.perf_counter()
            vw = Workspace(f"{opts} -d {train_vw} -f {model} --quiet")
            vw.finish()
            t2 = time.perf_counter()
            to_vw(split.hold, hold_vw, split.has_header, a.task, classes)
            probs = "--probabilities" if a.task == "softmax" else ""  # not kept in the model
            vw = Workspace(f"-i {model} -t {probs} -d {hold_vw} -p {preds} --quiet")
            vw.finish()
            p = predictions(preds, a.task, K)
            t3 = time.perf_counter()
            times["read_s"].append(t1 - t0)
            times["fit_s"].append(t2 - t1)
            times["predict_s"].append(t3 - t2)
        if split.n_hold == 0:
            q = None
        elif a.task in ("ols", "ridge"):
            q = pc.regression_quality(y_hold, p)
        else:
            label = pc.class_index(y_hold, classes)
            proba = np.column_stack([1 - p, p]) if a.task == "logistic" else p
            q = pc.classification_quality(label, proba)
        coef, icpt = coefficients_of(model, a.task, split.d)
        pc.emit(pc.result("vw", f"vowpalwabbit {vowpalwabbit.__version__}", name, 1,
                          t_imported - t_start, times, split.n_train, split.n_hold, q, coef,
                          icpt, notes="one online pass; read includes CSV to VW text"))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, do not crash the bench
        pc.fail("vw", f"{type(e).__name__}: {e}")
