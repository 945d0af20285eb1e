"""The ML Optimizer (``mli.search.search``) against pyspark.ml's ``TrainValidationSplit``
and against plain random search in mli, same run, local[2].

Data sets (each split once into a search set and a 20% test set neither side sees):

* ``dense``: generated, ``--rows`` x ``--cols`` (default 400,000 x 100) Gaussian features, a
  binary label from a sparse linear signal through a logistic link;
* ``mnist``: the MNIST test set (10,000 x 784 pixels / 255, 10 classes; ../shared/data);
* ``sms``: the SMS Spam Collection as hashed character 2-4-gram tf-idf (2^16 columns, CSR,
  L2-normalized; the features are made once, the same matrix for both sides);
* ``movielens``: MovieLens 100K ratings (../shared/data): mli's ALS search
  (``task="recommendation"``: rank log-uniform in 2..64, reg log-uniform in [1e-3, 1], 1 ->
  27 sweeps) against ``TrainValidationSplit(ALS(coldStartStrategy="drop"))`` over a grid of
  ranks in [4, 32] x regParam in [0.01, 1] (maxIter 10), validation RMSE.

Contenders:

* pyspark.ml ``TrainValidationSplit(LogisticRegression(standardization=False),
  regParam grid of --grid values log-spaced in [1e-6, 1], trainRatio=0.8, parallelism=2,
  accuracy)`` on a cached DataFrame of the search set (its creation not timed);
* mli ``search(X, y, algorithms="LogisticRegression", validation=0.2)``: one successive-
  halving bracket (27 configurations of ``reg`` log-uniform in [1e-6, 1], 4 -> 12 -> 36 -> 100 passes,
  batched), from the numpy arrays (their conversion to blocks timed);
* mli random search at the same budget (passes) as halving: ``strategy="random"`` (every
  configuration trained to 100 passes, batched too), over ``--seeds`` seeds against halving
  with the same seeds.

Both sides validate on the same rows: the bench reproduces TrainValidationSplit's split
(``rand(seed) >= trainRatio`` over the same cached DataFrame) and gives mli those rows as its
validation data, and both retrain their best on all the search rows before the test
(TrainValidationSplit always does; mli with ``refit=True``, timed). Reported per data set: medians over ``--repeats`` runs of each side's wall
time; the grid's best validation accuracy; mli's best, and the time at which mli's
best-so-far first reached the grid's best; both best models' accuracy on the test set; the ratio pyspark.ml time / mli time-to-target (issue #17 asks >= 5). Then halving
vs random: the best validation accuracy per seed, medians and wins. Last, batching: the time
per model-pass of ``minimize_many`` with B = 1, 8, 16 logistic regressions per pass on the
dense set (issue #17 asks >= 3x with B >= 8), and per model-sweep of B = 1, 8 ALS
configurations swept in the same gang run (MovieLens 100K). ``--hyperband`` adds Hyperband
(one round of its brackets) against random search at Hyperband's budget, per seed.
``--brackets K`` adds a budget of K halving brackets: the brackets after the first proposed
by the model of the evaluations so far (``sampler="tpe"``, the default) and drawn at random
(``sampler="random"``), each against random search at that budget, per seed.

Run: python bench/bench_search.py [--datasets dense,mnist,sms,movielens] [--rows 400000]
     [--cols 100]
     [--grid 9] [--repeats 3] [--seeds 5] [--skip-pyspark] [--skip-batching] [--hyperband]
     [--brackets 3]
"""
from __future__ import annotations

import argparse
import gzip
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


# ---------------------------------------------------------------------------- data


def dense(rows: int, cols: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols))
    w = np.where(rng.random(cols) < 0.2, rng.normal(scale=1.0, size=cols), 0.0)
    z = X @ w + 0.3
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    return X, y


def mnist():
    d = DATA / "mnist-t10k"
    if not (d / "t10k-images-idx3-ubyte.gz").exists():
        return None
    with gzip.open(d / "t10k-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / 255.0
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.float64)
    return X, y


def sms():
    path = DATA / "sms-spam" / "SMSSpamCollection"
    if not path.exists():
        return None
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        texts.append(text)
        labels.append(1.0 if label == "spam" else 0.0)
    counts = HashingVectorizer(analyzer="char", ngram_range=(2, 4), n_features=2 ** 16,
                               alternate_sign=False, norm=None).transform(texts)
    X = TfidfTransformer().fit_transform(counts).tocsr()
    return X, np.array(labels)


def movielens():
    path = DATA / "movielens-100k" / "u.data"
    if not path.exists():
        return None
    R = np.loadtxt(path, dtype=np.float64)[:, :3]
    return R, R[:, 2]


def split(X, y, seed=0):
    """(search X, search y, test X, test y): 80 / 20."""
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = len(y) // 5
    te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return X[tr], y[tr], X[te], y[te]


def to_df(spark, X, y, partitions=2):
    from pyspark.ml.linalg import Vectors

    if sp.issparse(X):
        vecs = [Vectors.sparse(X.shape[1], X.indices[X.indptr[i]:X.indptr[i + 1]].tolist(),
                               X.data[X.indptr[i]:X.indptr[i + 1]].tolist())
                for i in range(X.shape[0])]
    else:
        vecs = [Vectors.dense(r) for r in X]
    df = spark.createDataFrame([(i, float(a), v) for i, (a, v) in enumerate(zip(y, vecs))],
                               ["id", "label", "features"])
    df = df.repartition(partitions).cache()
    df.count()
    return df


def tvs_validation_rows(df, seed=0, train_ratio=0.8):
    """The ids of the rows TrainValidationSplit(seed, trainRatio) validates on: it tags every
    row with ``rand(seed)`` and validates on those >= trainRatio (pyspark.ml.tuning), so the
    same cached DataFrame gives the same rows -- mli then searches on exactly that split."""
    from pyspark.sql import functions as F

    rows = df.select("id", F.rand(seed).alias("r")).where(F.col("r") >= train_ratio).collect()
    return np.sort(np.array([r.id for r in rows], dtype=np.int64))


# ---------------------------------------------------------------------------- contenders


def ratings_df(spark, R, partitions=2):
    import pandas as pd

    df = spark.createDataFrame(pd.DataFrame({"id": np.arange(len(R)), "user": R[:, 0].astype(int),
                                             "item": R[:, 1].astype(int), "rating": R[:, 2]}))
    df = df.repartition(partitions).cache()
    df.count()
    return df


def run_pyspark_als(spark, df, test_df, grid: int):
    """TrainValidationSplit over ALS ranks x regParams (maxIter 10, pyspark.ml's default),
    RMSE with coldStartStrategy="drop"."""
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.recommendation import ALS
    from pyspark.ml.tuning import ParamGridBuilder

    als = ALS(userCol="user", itemCol="item", ratingCol="rating", coldStartStrategy="drop",
              seed=0)
    side = max(1, int(round(grid ** 0.5)))
    params = (ParamGridBuilder().addGrid(als.rank, [int(r) for r in np.geomspace(4, 32, side)])
              .addGrid(als.regParam, list(np.geomspace(0.01, 1.0, side))).build())
    return tvs_fit(als, params, RegressionEvaluator(metricName="rmse", labelCol="rating"),
                   df, test_df, min)


def tvs_fit(estimator, params, ev, df, test_df, best):
    """``TrainValidationSplit(trainRatio=0.8, parallelism=2, seed=0)`` fitted on ``df``:
    ``(seconds, best of the validation metrics, the best model's test metric)``."""
    from pyspark.ml.tuning import TrainValidationSplit

    tvs = TrainValidationSplit(estimator=estimator, estimatorParamMaps=params, evaluator=ev,
                               trainRatio=0.8, parallelism=2, seed=0)
    t = time.perf_counter()
    model = tvs.fit(df)
    seconds = time.perf_counter() - t
    return seconds, best(model.validationMetrics), ev.evaluate(model.transform(test_df))


def run_mli_als(R, Rt, seed=0, valid=None, **kw):
    from mli.search import search

    t = time.perf_counter()
    if valid is None:
        r = search(R, task="recommendation", seed=seed, **kw)
    else:
        train = np.setdiff1d(np.arange(len(R)), valid)
        r = search(R[train], validation=R[valid], task="recommendation", seed=seed, **kw)
    seconds = time.perf_counter() - t
    pred = r.best_model.predict(Rt[:, :2], cold_start="nan")
    ok = np.isfinite(pred)
    return seconds, r, float(np.sqrt(np.mean((pred[ok] - Rt[ok, 2]) ** 2)))


def run_pyspark(spark, df, test_df, grid: int):
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import ParamGridBuilder

    lr = LogisticRegression(standardization=False)
    params = ParamGridBuilder().addGrid(lr.regParam, list(np.logspace(-6, 0, grid))).build()
    return tvs_fit(lr, params, MulticlassClassificationEvaluator(metricName="accuracy"), df,
                   test_df, max)


def run_mli(X, y, Xt, yt, seed=0, valid=None, **kw):
    """mli's search on the rows not in ``valid`` (ids), validating on those (None: its own
    20% split under ``seed``)."""
    from mli.search import search

    t = time.perf_counter()
    if valid is None:
        r = search(X, y, algorithms="LogisticRegression", seed=seed, **kw)
    else:
        train = np.setdiff1d(np.arange(len(y)), valid)
        r = search(X[train], y[train], validation=(X[valid], y[valid]),
                   algorithms="LogisticRegression", seed=seed, **kw)
    seconds = time.perf_counter() - t
    test = float(np.mean(r.best_model.predict(Xt) == yt))
    return seconds, r, test


def time_to(history, target, greater=True):
    for h in history:
        if (h["best_so_far"] >= target) if greater else (h["best_so_far"] <= target):
            return h["elapsed"]
    return float("nan")


def batching(X, y, sizes=(1, 8, 16), repeats=3):
    """Median seconds per model-pass of minimize_many with B models per pass."""
    import mli
    from mli.optimize import LogisticLoss, minimize_many

    data = mli.MLTable.from_numpy(X, y).labeled("label")
    minimize_many(LogisticLoss(), data.blocks, [{"reg": 1e-3}], method="lbfgs", max_iter=2)
    out = {}
    for B in sizes:
        per = []
        for _ in range(repeats):
            configs = [{"reg": float(r)} for r in np.logspace(-4, 0, B)]
            t = time.perf_counter()
            res = minimize_many(LogisticLoss(), data.blocks, configs, method="lbfgs",
                                max_iter=10, tol=0.0, precondition=False)
            per.append((time.perf_counter() - t) / sum(r.n_passes for r in res))
        out[B] = statistics.median(per)
    data.release()
    return out


def als_batching(R, B=8, repeats=3, sweeps=3):
    """Median seconds per model-sweep of ``B`` ALS configurations (ranks 4..32, reg
    0.01..1) swept one at a time (a gang run each) and together (one gang run, shared
    passes), on the ratings ``R``."""
    from mli.algorithms import ALS

    ratings, _ = ALS()._prepare(R, None, None)
    algos = [ALS(rank=int(r), reg=float(g), seed=0) for r, g in
             zip(np.linspace(4, 32, B), np.logspace(-2, 0, B))]
    ALS._partial_fit_many(ratings, algos[:1], [None], 1)
    alone, together = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for a in algos:
            ALS._partial_fit_many(ratings, [a], [None], sweeps)
        alone.append((time.perf_counter() - t) / (B * sweeps))
        t = time.perf_counter()
        ALS._partial_fit_many(ratings, algos, [None] * B, sweeps)
        together.append((time.perf_counter() - t) / (B * sweeps))
    return statistics.median(alone), statistics.median(together)


def contest(name, frames, peer, ours, greater, args, rows, versus):
    """One data set's rows: ``peer(df, test_df) -> (seconds, best validation, test)``
    (pyspark.ml's TVS, ``--repeats`` times, on ``frames() -> (df, test_df)``) against
    ``ours(seed, valid, **search options) -> (seconds, SearchResult, test)`` validating on
    the TVS rows; then halving against random search over ``--seeds`` seeds at equal
    budget. ``greater``: whether a larger metric is better (the table negates others)."""
    spark_t, spark_val, spark_test, valid = [], float("nan"), float("nan"), None
    if not args.skip_pyspark:
        df, test_df = frames()
        valid = tvs_validation_rows(df)
        for _ in range(args.repeats):
            s, spark_val, spark_test = peer(df, test_df)
            spark_t.append(s)
            print(f"  pyspark.ml TVS: {s:.1f} s, best validation {spark_val:.4f}, test "
                  f"{spark_test:.4f}", flush=True)
        df.unpersist()
        test_df.unpersist()
    ours_t, reach = [], []
    for _ in range(args.repeats):
        s, r, test = ours(0, valid, refit=True)
        ours_t.append(s)
        reach.append(time_to(r.history, spark_val, greater))
        print(f"  mli search: {s:.1f} s ({r.passes} passes), best validation "
              f"{r.best_metric:.4f} ({r.best_params}), test {test:.4f}, reached the grid's "
              f"best at {reach[-1]:.1f} s", flush=True)
    rows.append((name, statistics.median(spark_t) if spark_t else float("nan"), spark_val,
                 spark_test, statistics.median(ours_t), statistics.median(reach),
                 r.best_metric, test, r.passes))
    sign = 1.0 if greater else -1.0
    halving, random, hyper, random_h = [], [], [], []
    longer = {"tpe": [], "halving": [], "random": []}
    for seed in range(args.seeds):
        _, rh, _ = ours(seed, None)
        _, rr, _ = ours(seed, None, strategy="random", budget=rh.passes)
        halving.append(sign * rh.best_metric)
        random.append(sign * rr.best_metric)
        print(f"  seed {seed}: halving {rh.best_metric:.4f} ({rh.passes} passes), random "
              f"{rr.best_metric:.4f} ({rr.passes} passes, {len(rr.leaderboard)} "
              "configurations)", flush=True)
        if args.brackets > 1:  # (a budget of several brackets: TPE-proposed ones after the
            budget = args.brackets * rh.passes  # first, against random ones and random search)
            runs = {"tpe": ours(seed, None, budget=budget)[1],
                    "halving": ours(seed, None, budget=budget, sampler="random")[1],
                    "random": ours(seed, None, strategy="random", budget=budget)[1]}
            for k, r in runs.items():
                longer[k].append(sign * r.best_metric)
            print(f"  seed {seed}, budget {budget} passes: halving + tpe "
                  f"{runs['tpe'].best_metric:.4f}, halving + random draws "
                  f"{runs['halving'].best_metric:.4f}, random "
                  f"{runs['random'].best_metric:.4f} ({len(runs['random'].leaderboard)} "
                  "configurations)", flush=True)
        if args.hyperband:
            _, hb, _ = ours(seed, None, strategy="hyperband")
            _, rb, _ = ours(seed, None, strategy="random", budget=hb.passes)
            hyper.append(sign * hb.best_metric)
            random_h.append(sign * rb.best_metric)
            print(f"  seed {seed}: hyperband {hb.best_metric:.4f} ({hb.passes} passes), "
                  f"random {rb.best_metric:.4f} ({rb.passes} passes, "
                  f"{len(rb.leaderboard)} configurations)", flush=True)
    label = name if greater else f"{name} (negated)"
    versus.append((label, halving, random))
    if hyper:
        versus.append((f"{label}, hyperband", hyper, random_h))
    if longer["tpe"]:
        versus.append((f"{label}, {args.brackets} brackets, tpe", longer["tpe"],
                       longer["random"]))
        versus.append((f"{label}, {args.brackets} brackets, random draws",
                       longer["halving"], longer["random"]))


# ---------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="dense,mnist,sms,movielens")
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--grid", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--skip-pyspark", action="store_true")
    ap.add_argument("--skip-batching", action="store_true")
    ap.add_argument("--brackets", type=int, default=1,
                    help="also a budget of this many halving brackets: TPE-proposed "
                         "brackets after the first, and random draws, vs random search")
    ap.add_argument("--hyperband", action="store_true",
                    help="also Hyperband (one round of its brackets) vs random at its budget")
    args = ap.parse_args()
    logging.getLogger("mli").setLevel(logging.ERROR)

    import mli

    # (pyspark.ml's fits on 2^16 sparse columns need more than the default 1g driver heap)
    ctx = mli.MLContext("local[2]", app_name="bench-search",
                        **{"spark.driver.memory": "6g"})
    ctx.sc.setLogLevel("ERROR")
    loaders = {"dense": lambda: dense(args.rows, args.cols), "mnist": mnist, "sms": sms,
               "movielens": movielens}
    rows, versus, dense_xy = [], [], None
    for name in [n for n in args.datasets.split(",") if n and n != "none"]:
        loaded = loaders[name]()
        if loaded is None:
            print(f"{name}: data not found under {DATA}; skipped", flush=True)
            continue
        X, y, Xt, yt = split(*loaded)
        if name == "movielens":  # (X: the search ratings, Xt: the test ratings)
            print(f"movielens: {len(X)} search ratings, {len(Xt)} test ratings; RMSE",
                  flush=True)
            contest("movielens (RMSE)",
                    lambda: (ratings_df(ctx.spark, X), ratings_df(ctx.spark, Xt)),
                    lambda df, test_df: run_pyspark_als(ctx.spark, df, test_df, args.grid),
                    lambda seed, valid, **kw: run_mli_als(X, Xt, seed=seed, valid=valid, **kw),
                    False, args, rows, versus)
            continue
        if name == "dense":
            dense_xy = (X, y)
        print(f"{name}: {X.shape[0]} x {X.shape[1]} search rows, {len(yt)} test rows, "
              f"{len(np.unique(y))} classes", flush=True)
        contest(name, lambda: (to_df(ctx.spark, X, y), to_df(ctx.spark, Xt, yt)),
                lambda df, test_df: run_pyspark(ctx.spark, df, test_df, args.grid),
                lambda seed, valid, **kw: run_mli(X, y, Xt, yt, seed=seed, valid=valid, **kw),
                True, args, rows, versus)

    print("\n| data | pyspark.ml TVS s | grid best val | TVS test | mli search s | "
          "mli reaches grid best s | mli best val | mli test | passes | TVS s / mli reach s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, st, sv, stest, ot, reach, ov, otest, passes) in rows:
        ratio = st / reach if reach == reach and reach > 0 else float("nan")  # (nan: never)
        print(f"| {name} | {st:.1f} | {sv:.4f} | {stest:.4f} | {ot:.1f} | {reach:.1f} | "
              f"{ov:.4f} | {otest:.4f} | {passes} | {ratio:.1f} |")
    print("\n| data | halving best val (median of seeds) | random best val (median) | "
          "halving >= random |")
    print("|---|---|---|---|")
    for name, h, r in versus:
        wins = sum(a >= b for a, b in zip(h, r))
        print(f"| {name} | {statistics.median(h):.4f} | {statistics.median(r):.4f} | "
              f"{wins} of {len(h)} |")
    if not args.skip_batching:
        per = batching(*(dense_xy or dense(args.rows, args.cols)), repeats=args.repeats)
        print("\n| models per pass B | ms per model-pass | speed-up vs B=1 |")
        print("|---|---|---|")
        for B, s in per.items():
            print(f"| {B} | {1000 * s:.2f} | {per[1] / s:.1f} |")
        loaded = movielens()
        if loaded is not None:
            alone, together = als_batching(loaded[0], repeats=args.repeats)
            print("\n| 8 ALS configurations (MovieLens 100K) | ms per model-sweep |")
            print("|---|---|")
            print(f"| one at a time (a gang run each) | {1000 * alone:.2f} |")
            print(f"| together (one gang run, shared passes) | {1000 * together:.2f} "
                  f"({alone / together:.1f}x) |")
    ctx.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
