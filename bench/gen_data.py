#!/usr/bin/env python3
"""gen_data.py — seeded synthetic CSVs for benchmarks.

  python3 bench/gen_data.py --task ols|logistic --rows N --features D --out FILE [--seed S]

Features are N(0, 1) written with 9 significant digits; the label is
y = x.w + 0.5 + noise (ols) or y ~ Bernoulli(sigmoid(x.w + 0.5)) (logistic),
with w_j = (-1)^j / sqrt(j + 1). Standard library only, so that it runs before
any virtual environment exists.
"""
import argparse
import math
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=["ols", "logistic"], required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--features", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    w = [(-1) ** j / math.sqrt(j + 1) for j in range(a.features)]
    gauss = rng.gauss
    with open(a.out, "w") as f:
        f.write("y," + ",".join(f"x{j + 1}" for j in range(a.features)) + "\n")
        lines = []
        for i in range(a.rows):
            x = [gauss(0.0, 1.0) for _ in range(a.features)]
            t = 0.5 + sum(wj * xj for wj, xj in zip(w, x))
            if a.task == "ols":
                y = f"{t + gauss(0.0, 0.1):.9g}"
            else:
                y = "1" if rng.random() < 1.0 / (1.0 + math.exp(-t)) else "0"
            lines.append(y + "," + ",".join(f"{v:.9g}" for v in x))
            if len(lines) == 10000:
                f.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
