#!/usr/bin/env python3
"""sklearn_fit.py — the pandas + scikit-learn peer for file-to-model timing.

  python bench/peers/sklearn_fit.py --task ols|logistic --input FILE [--lambda X] [--repeat R]

Times pandas.read_csv through the fitted model inside one interpreter (its
start-up and imports are reported separately and not counted), R times, and
prints one JSON object: the median and all times, and the fitted parameters.
Logistic uses the same objective as `streamfit train --model logistic
--lambda X`: LogisticRegression(C = 1 / (n * lambda)), lbfgs, tol 1e-8.
"""
import argparse
import json
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402

t_imported = time.perf_counter()


def fit_once(task, path, lam):
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    y = df.iloc[:, 0].to_numpy()
    X = df.iloc[:, 1:].to_numpy()
    if task == "ols":
        m = LinearRegression().fit(X, y)
        coef, icpt = m.coef_, float(m.intercept_)
    else:
        n = X.shape[0]
        m = LogisticRegression(C=1.0 / (n * lam), tol=1e-8, max_iter=1000).fit(X, y)
        coef, icpt = m.coef_[0], float(m.intercept_[0])
    return time.perf_counter() - t0, coef, icpt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["ols", "logistic"], required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    times = []
    for _ in range(a.repeat):
        dt, coef, icpt = fit_once(a.task, a.input, a.lam)
        times.append(dt)
    print(json.dumps({
        "peer": "pandas.read_csv + scikit-learn",
        "startup_s": t_imported - t_start,
        "median_s": float(np.median(times)),
        "times_s": times,
        "coefficients": [float(c) for c in coef],
        "intercept": icpt,
    }))


if __name__ == "__main__":
    main()
