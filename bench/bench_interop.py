"""The interfaces against their ecosystems' own estimators, same run, local[2]:

* pyspark.ml: a ``Pipeline(VectorAssembler, LogisticRegression)`` tuned by
  ``CrossValidator`` (3 folds x 3 regularizations, parallelism 1, the
  BinaryClassificationEvaluator's AUC), with ``mli.interop.spark_ml.LogisticRegression`` and
  with pyspark.ml's ``LogisticRegression(standardization=False)`` as the stage; then one fit
  and a ``transform`` + evaluation of the whole DataFrame;
* pyspark.ml on hashed text: ``HashingTF`` (2^18 features, sparse vectors) of ``--docs``
  generated documents, one fit + ``transform`` + AUC of the held-out 30%, with the mli
  adapter (CSR blocks) and with pyspark.ml's ``LogisticRegression(standardization=False)``;
* scikit-learn: ``cross_val_score`` (3 folds) of ``mli.interop.sklearn.LogisticRegression``
  and of scikit-learn's ``LogisticRegression`` (lbfgs) on the same numpy arrays.

Each row is the median of ``--repeats`` runs; ratios are peer time / mli time (> 1: mli is
faster). The AUCs are printed so a faster but worse model would show.

Run: python bench/bench_interop.py [--rows 200000] [--cols 20] [--docs 20000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
import pandas as pd

import bench_trees  # the shared timer (bench/ is on sys.path when a script there runs)


def timed(fn, repeats):
    """The median time of ``repeats`` calls of ``fn`` and its last result."""
    times, out = bench_trees.timed(fn, repeats)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import mli
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression as SparkLR
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from sklearn.linear_model import LogisticRegression as SkLR
    from sklearn.model_selection import cross_val_score

    from mli.interop import sklearn as S, spark_ml as M

    rng = np.random.default_rng(0)
    n, d = args.rows, args.cols
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + rng.standard_normal(n) > 0).astype(float)
    ctx = mli.MLContext("local[2]", app_name="bench-interop")
    spark = ctx.spark
    cols = [f"x{j}" for j in range(d)]
    df = spark.createDataFrame(pd.DataFrame(X, columns=cols).assign(label=y)).repartition(2)
    df = df.cache()
    df.count()
    regs = [1e-4, 1e-3, 1e-2]
    ev = BinaryClassificationEvaluator()
    rows = []

    def cv(stage, param):
        pipe = Pipeline(stages=[VectorAssembler(inputCols=cols, outputCol="features"), stage])
        grid = ParamGridBuilder().addGrid(param, regs).build()
        model = CrossValidator(estimator=pipe, estimatorParamMaps=grid, evaluator=ev,
                               numFolds=3, seed=0).fit(df)
        return max(model.avgMetrics)

    ours_lr, spark_lr = M.LogisticRegression(), SparkLR(standardization=False, maxIter=100)
    t_ours, auc_ours = timed(lambda: cv(ours_lr, ours_lr.reg), args.repeats)
    t_peer, auc_peer = timed(lambda: cv(spark_lr, spark_lr.regParam), args.repeats)
    rows.append(("pyspark.ml CrossValidator 3x3, LR", t_ours, t_peer, auc_ours, auc_peer))

    assembled = VectorAssembler(inputCols=cols, outputCol="features").transform(df).cache()
    assembled.count()

    def fit_score(est):
        return ev.evaluate(est.fit(assembled).transform(assembled))

    t_ours, auc_ours = timed(lambda: fit_score(M.LogisticRegression(reg=1e-3)), args.repeats)
    t_peer, auc_peer = timed(lambda: fit_score(SparkLR(regParam=1e-3, standardization=False,
                                                       maxIter=100)), args.repeats)
    rows.append(("pyspark.ml fit + transform + AUC, LR", t_ours, t_peer, auc_ours, auc_peer))

    from pyspark.ml.feature import HashingTF, Tokenizer

    vocab = np.array([f"w{i}" for i in range(20_000)])
    topics = rng.integers(0, 2, args.docs)
    docs = [(" ".join(np.r_[rng.choice(vocab[:10_000] if t else vocab[10_000:], 10),
                            rng.choice(vocab, 20)]), float(t)) for t in topics]
    text = HashingTF(inputCol="words", outputCol="features", numFeatures=1 << 18).transform(
        Tokenizer(inputCol="text", outputCol="words").transform(
            spark.createDataFrame(docs, ["text", "label"]).repartition(2)))
    train, test = (part.cache() for part in text.randomSplit([0.7, 0.3], seed=0))
    train.count(), test.count()

    def text_score(est):
        return ev.evaluate(est.fit(train).transform(test))

    t_ours, auc_ours = timed(lambda: text_score(M.LogisticRegression(reg=1e-4)), args.repeats)
    t_peer, auc_peer = timed(lambda: text_score(SparkLR(regParam=1e-4, standardization=False,
                                                        maxIter=100)), args.repeats)
    rows.append((f"HashingTF 2^18 text, fit+transform+AUC ({args.docs:,})", t_ours, t_peer,
                 auc_ours, auc_peer))

    m = min(n, 100_000)
    Xs, ys = X[:m], y[:m]
    t_ours, acc_ours = timed(lambda: cross_val_score(S.LogisticRegression(reg=1e-3), Xs, ys,
                                                     cv=3).mean(), args.repeats)
    t_peer, acc_peer = timed(lambda: cross_val_score(SkLR(C=1 / (1e-3 * m * 2 / 3),
                                                          max_iter=1000), Xs, ys,
                                                     cv=3).mean(), args.repeats)
    rows.append((f"sklearn cross_val_score 3-fold, LR ({m:,} rows)", t_ours, t_peer,
                 acc_ours, acc_peer))

    print(f"bench_interop: {n:,} x {d}, local[2], median of {args.repeats}")
    print(f"{'benchmark':<52} {'mli s':>8} {'peer s':>8} {'peer/mli':>9} "
          f"{'metric mli':>11} {'metric peer':>12}")
    for name, a, b, ma, mb in rows:
        print(f"{name:<52} {a:8.2f} {b:8.2f} {b / a:9.2f} {ma:11.4f} {mb:12.4f}")
    ctx.stop()


if __name__ == "__main__":
    main()
