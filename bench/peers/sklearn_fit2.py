#!/usr/bin/env python3
"""sklearn_fit2.py — the scikit-learn peer of `streamfit bench` (two rows).

  python bench/peers/sklearn_fit2.py --task T --input FILE --holdout F --lambda X --repeat R

Row 'sklearn', the exact solvers, on the same objective as streamfit:
  ols       LinearRegression()                       min ||y - Xw - b||^2
  ridge     Ridge(alpha=lambda)                      min ||y - Xw - b||^2 + lambda ||w||^2
  logistic  LogisticRegression(C = 1/(n lambda))     min (1/n) sum loss + (lambda/2) ||w||^2
            (multiplied by 1/lambda: C sum loss + 1/2 ||w||^2); lambda = 0: no penalty
  softmax   the same, multinomial (all K classes parameterized, as streamfit)
  lbfgs, tol 1e-8, max_iter 1000.
Row 'sklearn-sgd': SGDRegressor / SGDClassifier(loss='log_loss') with
partial_fit over micro-batches of 65536 rows read by pandas in chunks, one
pass. Its objective is (1/n) sum loss + alpha/2 ||w||^2 with squared loss
1/2 (y - p)^2, so alpha = lambda / n for ridge and alpha = lambda for
logistic; softmax is one-vs-all. The stochastic solution is not the exact
one: its quality and coefficients show how far one pass gets.

Threads: scikit-learn and numpy use their defaults (BLAS on all cores for
the exact least-squares solvers; lbfgs and SGD on one core). Times: read =
pandas.read_csv of the training rows, fit = the estimator, predict =
read_csv of the held-out rows and predict; the interpreter start-up and
imports are reported as startup_s and not counted.
"""
import os
import tempfile
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.linear_model import (LinearRegression, LogisticRegression, Ridge,  # noqa: E402
                                  SGDClassifier, SGDRegressor)

import peer_common as pc  # noqa: E402

t_imported = time.perf_counter()
BATCH = 65536


def read(path, header):
    df = pd.read_csv(path, header=0 if header else None)
    a = df.to_numpy(dtype=np.float64)
    return a[:, 1:], a[:, 0]


def exact_estimator(task, lam, n):
    if task == "ols":
        return LinearRegression(), "LinearRegression()"
    if task == "ridge":
        return Ridge(alpha=lam), f"Ridge(alpha={lam:g})"
    if lam > 0:
        C = 1.0 / (n * lam)
        return (LogisticRegression(C=C, tol=1e-8, max_iter=1000),
                f"LogisticRegression(C=1/(n*{lam:g}), lbfgs, tol=1e-8)")
    return (LogisticRegression(C=np.inf, tol=1e-8, max_iter=1000),
            "LogisticRegression(no penalty, lbfgs, tol=1e-8)")


def sgd_estimator(task, lam, n):
    if task in ("ols", "ridge"):
        if task == "ridge":
            return SGDRegressor(penalty="l2", alpha=lam / n), "SGDRegressor(alpha=lambda/n)"
        return SGDRegressor(penalty=None), "SGDRegressor(no penalty)"
    if lam > 0:
        return (SGDClassifier(loss="log_loss", penalty="l2", alpha=lam),
                f"SGDClassifier(log_loss, alpha={lam:g})")
    return (SGDClassifier(loss="log_loss", penalty=None, learning_rate="adaptive", eta0=0.01),
            "SGDClassifier(log_loss, no penalty, adaptive eta0=0.01)")


def coefficients_of(m, task):
    coef = np.atleast_2d(m.coef_)
    icpt = np.atleast_1d(m.intercept_)
    return [[float(v) for v in row] for row in coef], [float(v) for v in icpt]


def predict_quality(m, split, task, classes, times):
    if split.n_hold == 0:
        times["predict_s"].append(0.0)
        return None
    t0 = time.perf_counter()
    X, y = read(split.hold, split.has_header)
    if task in ("ols", "ridge"):
        pred = m.predict(X)
        times["predict_s"].append(time.perf_counter() - t0)
        return pc.regression_quality(y, pred)
    proba = m.predict_proba(X)
    times["predict_s"].append(time.perf_counter() - t0)
    return pc.classification_quality(pc.class_index(y, classes), proba)


def run_exact(a, split, classes):
    times = {"read_s": [], "fit_s": [], "predict_s": []}
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        X, y = read(split.train, split.has_header)
        t1 = time.perf_counter()
        m, est = exact_estimator(a.task, a.lam, len(y))
        if classes is not None:
            m.fit(X, pc.class_index(y, classes))
        else:
            m.fit(X, y)
        t2 = time.perf_counter()
        times["read_s"].append(t1 - t0)
        times["fit_s"].append(t2 - t1)
        quality = predict_quality(m, split, a.task, classes, times)
    coef, icpt = coefficients_of(m, a.task)
    return pc.result("sklearn", f"scikit-learn {sklearn.__version__}", est, os.cpu_count(),
                     t_imported - t_start, times, split.n_train, split.n_hold, quality, coef,
                     icpt)


def run_sgd(a, split, classes):
    """classes: the training labels' distinct values, known before the pass
    (a streaming learner is told them up front)."""
    times = {"read_s": [], "fit_s": [], "predict_s": []}
    for _ in range(a.repeat):
        m, est = sgd_estimator(a.task, a.lam, split.n_train)
        read_s = fit_s = 0.0
        t0 = time.perf_counter()
        reader = pd.read_csv(split.train, header=0 if split.has_header else None,
                             chunksize=BATCH)
        for chunk in reader:
            t1 = time.perf_counter()
            c = chunk.to_numpy(dtype=np.float64)
            X, y = c[:, 1:], c[:, 0]
            if classes is not None:
                m.partial_fit(X, pc.class_index(y, classes), classes=np.arange(len(classes)))
            else:
                m.partial_fit(X, y)
            t2 = time.perf_counter()
            read_s += t1 - t0
            fit_s += t2 - t1
            t0 = time.perf_counter()
        times["read_s"].append(read_s)
        times["fit_s"].append(fit_s)
        quality = predict_quality(m, split, a.task, classes, times)
    coef, icpt = coefficients_of(m, a.task)
    return pc.result("sklearn-sgd", f"scikit-learn {sklearn.__version__}",
                     est + f", partial_fit x {BATCH} rows, 1 pass", os.cpu_count(),
                     t_imported - t_start, times, split.n_train, split.n_hold, quality, coef,
                     icpt, notes="one pass of stochastic gradient descent; not the exact fit")


def main():
    a = pc.parse_args(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="streamfit-peer-") as work:
        split = pc.Split(a.input, a.holdout, not a.no_header, work)
        classes = None
        if a.task in ("logistic", "softmax"):
            labels = pd.read_csv(split.train, header=0 if split.has_header else None,
                                 usecols=[0]).to_numpy(dtype=np.float64)[:, 0]
            classes = np.unique(labels)
        for run in (run_exact, run_sgd):
            try:
                pc.emit(run(a, split, classes))
            except Exception as e:  # a failed row must not hide the other
                pc.emit({"name": "sklearn" if run is run_exact else "sklearn-sgd",
                         "status": f"failed: {type(e).__name__}: {e}"})


if __name__ == "__main__":
    main()
