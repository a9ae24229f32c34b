#!/usr/bin/env python3
"""spark_fit.py — the Apache Spark (pyspark.ml) peer of `streamfit bench`.

  python bench/peers/spark_fit.py --task T --input FILE --holdout F --lambda X --repeat R

SparkSession local[*] (all cores; driver memory 8g), reading the CSV with an
explicit all-double schema. The objectives, matched to streamfit's:

  ols       LinearRegression(solver='normal', regParam=0)
  ridge     streamfit: min ||y - Xw - b||^2 + lambda ||w||^2.
            Spark's normal solver (WeightedLeastSquares, label standardized)
            minimizes (1/2n) ||y - Xw - b||^2 + (regParam / (2 sigma_y)) ||w||^2
            with sigma_y the population std of the label, standardization=False
            putting the penalty on the raw coefficients. Equal objectives:
            regParam = lambda * sigma_y / n (n training rows).
  logistic  streamfit: min (1/n) sum loss + (lambda/2) ||w||^2, intercept free.
            Spark: (1/n) sum loss + regParam ((1 - a) / 2 ||w||^2 + a ||w||_1),
            so regParam = lambda with elasticNetParam a = 0 and
            standardization=False (Spark still scales internally for the
            optimizer but penalizes the raw coefficients). L-BFGS,
            tol 1e-8 (relative change of the objective), maxIter 1000.
  softmax   the same, family='multinomial' (all K classes parameterized).

Times: startup = imports, JVM start and the session (not counted); read =
spark.read.csv of the training rows, assembling the feature vector, cache()
and count() (Spark is lazy: the count makes it read); fit = estimator.fit on
the cached rows; predict = read the held-out rows, transform, and the
evaluators (rmse, r2 / accuracy, logLoss — the same definitions as
streamfit's metrics).
"""
import os
import tempfile
import time

t_start = time.perf_counter()
import pyspark  # noqa: E402
from pyspark.ml.classification import LogisticRegression  # noqa: E402
from pyspark.ml.evaluation import MulticlassClassificationEvaluator, RegressionEvaluator  # noqa: E402
from pyspark.ml.feature import VectorAssembler  # noqa: E402
from pyspark.ml.regression import LinearRegression  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql.types import DoubleType, StructField, StructType  # noqa: E402

import peer_common as pc  # noqa: E402

spark = (SparkSession.builder.master("local[*]").appName("streamfit-bench-peer")
         .config("spark.driver.memory", "8g")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", str(os.cpu_count() or 1))
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
t_ready = time.perf_counter()


def read(path, split, classes):
    schema = StructType([StructField(f"c{j}", DoubleType(), False)
                         for j in range(len(split.header))])
    df = spark.read.csv(path, header=split.has_header, schema=schema)
    label = F.col("c0")
    if classes is not None:  # labels to class indices 0..K-1
        m = F.create_map(*[x for k, c in enumerate(classes) for x in (F.lit(c), F.lit(float(k)))])
        label = m[F.col("c0")]
    feats = [f"c{j}" for j in range(1, len(split.header))]
    out = VectorAssembler(inputCols=feats, outputCol="features").transform(df)
    out = out.select(label.alias("label"), "features").cache()
    out.count()
    return out


def estimator(task, lam, n, sigma_y):
    if task == "ols":
        return LinearRegression(solver="normal", regParam=0.0, elasticNetParam=0.0,
                                standardization=False), "LinearRegression(normal)"
    if task == "ridge":
        reg = lam * sigma_y / n
        return (LinearRegression(solver="normal", regParam=reg, elasticNetParam=0.0,
                                 standardization=False),
                f"LinearRegression(normal, regParam=lambda*sigma_y/n={reg:.3g})")
    family = "binomial" if task == "logistic" else "multinomial"
    return (LogisticRegression(family=family, regParam=lam, elasticNetParam=0.0,
                               standardization=False, maxIter=1000, tol=1e-8),
            f"LogisticRegression({family}, regParam={lam:g}, L-BFGS, tol=1e-8)")


def quality(task, pred):
    if task in ("ols", "ridge"):
        ev = RegressionEvaluator(labelCol="label", predictionCol="prediction")
        return {"rmse": ev.evaluate(pred, {ev.metricName: "rmse"}),
                "r2": ev.evaluate(pred, {ev.metricName: "r2"})}
    ev = MulticlassClassificationEvaluator(labelCol="label", predictionCol="prediction",
                                           probabilityCol="probability")
    return {"accuracy": ev.evaluate(pred, {ev.metricName: "accuracy"}),
            "log_loss": ev.evaluate(pred, {ev.metricName: "logLoss"})}


def jvm_peak_mib():
    """Peak resident memory of the JVM (a child that this interpreter does
    not reap, so wait4 in `streamfit bench` would not see it)."""
    try:
        pid = spark.sparkContext._gateway.proc.pid
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except Exception:
        pass
    return None


def coefficients_of(model, task):
    if task == "softmax":
        W = model.coefficientMatrix.toArray()
        return [[float(v) for v in row] for row in W], [float(v) for v in model.interceptVector]
    return [[float(v) for v in model.coefficients.toArray()]], [float(model.intercept)]


def main():
    a = pc.parse_args(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="streamfit-peer-") as work:
        split = pc.Split(a.input, a.holdout, not a.no_header, work)
        classes = None
        if a.task in ("logistic", "softmax"):
            classes = sorted(set(pc.read_labels(split.train, split.has_header)))
        times = {"read_s": [], "fit_s": [], "predict_s": []}
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            train = read(split.train, split, classes)
            t1 = time.perf_counter()
            sigma_y = 0.0
            if a.task == "ridge":
                sigma_y = train.select(F.stddev_pop("label")).first()[0]
            est, name = estimator(a.task, a.lam, split.n_train, sigma_y)
            model = est.fit(train)
            t2 = time.perf_counter()
            q = None
            if split.n_hold > 0:
                hold = read(split.hold, split, classes)
                q = quality(a.task, model.transform(hold))
                hold.unpersist()
            t3 = time.perf_counter()
            times["read_s"].append(t1 - t0)
            times["fit_s"].append(t2 - t1)
            times["predict_s"].append(t3 - t2)
            train.unpersist()
        coef, icpt = coefficients_of(model, a.task)
        r = pc.result("spark", f"pyspark {pyspark.__version__}", name,
                      spark.sparkContext.defaultParallelism, t_ready - t_start, times,
                      split.n_train, split.n_hold, q, coef, icpt,
                      notes="local[*]; read includes cache() and count(); peak_mib is the JVM's")
        r["peak_mib"] = jvm_peak_mib()
        pc.emit(r)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, do not crash the bench
        pc.fail("spark", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    finally:
        spark.stop()
