"""Trees benchmark: mli DecisionTree / RandomForest against pyspark.ml, in one run.

Same Spark (local[2]), same data, same partitions, equal maxDepth / maxBins / numTrees
(RandomForest: bootstrap, sqrt(d) features per node, as pyspark.ml's defaults):

* **MNIST t10k** pixels (../shared/data/mnist-t10k): seeded 8,000 / 2,000 train/test split;
  tree depth 10, forest of 20 trees of depth 10.
* **dense**: 400,000 x 100 float64 (seeded), labels from a nonlinear planted rule with
  noise; 100,000 fresh test rows; tree depth 8, forest of 20 trees of depth 8.

mli's time is ``fit(X, y)`` from the numpy arrays (ingestion included); pyspark.ml's is
``fit(df)`` on a cached DataFrame whose build is not timed. Accuracy is measured on the test
rows. scikit-learn's single-process time on the same data is shown as a reference. Warm-up
fits on small data come first (JVM, Python workers, numba's cache), then ``--repeats`` timed
fits (median).

Run: python bench/bench_trees.py [--quick] [--repeats 1] [--partitions 4] [--skip-pyspark-ml]
[--skip-sklearn] [--sklearn-repeats N] [--only TEXT]
``--quick``: 100,000 dense rows, 10 trees, depth 6 on the dense set. ``--only dense`` (or
``mnist``, ``tree``, ``forest``, ``"dense 400k x 100: tree"``): only the matching cases.
Writes bench/results/trees.png.
"""
from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


def load_mnist():
    """MNIST t10k pixels (float64) and labels, split 8,000 / 2,000 with seed 0."""
    d = DATA / "mnist-t10k"
    with gzip.open(d / "t10k-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float64)
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.float64)
    idx = np.random.default_rng(0).permutation(len(y))
    return X[idx[:8000]], y[idx[:8000]], X[idx[8000:]], y[idx[8000:]]


def make_dense(rows, cols, seed=0):
    """Gaussian features; label = [x0 + x1*x2 + sin(2*x3) + 0.5*noise > 0]."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + np.sin(2 * X[:, 3])
         + 0.5 * rng.standard_normal(rows) > 0).astype(np.float64)
    return X, y


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    if repeats > 1:
        print(f"    runs: {' '.join(f'{t:.2f}' for t in times)} s", flush=True)
    return statistics.median(times), out


def fit_mli(est, X, y, partitions, ctx):
    """Ingest the numpy arrays into ``partitions`` resident blocks, fit, release them.
    Returns the model and the ingestion time (included in the fit time)."""
    import mli

    t0 = time.perf_counter()
    table = mli.MLTable.from_numpy(X, y, num_partitions=partitions, ctx=ctx)
    table.labeled("label").blocks.materialize()
    ingest = time.perf_counter() - t0
    try:
        return est.fit(table, label="label"), ingest
    finally:
        table.unpersist()


def spark_frame(spark, X, y, partitions):
    """A cached DataFrame (label, features: vector) with ``partitions`` partitions."""
    import pandas as pd
    from pyspark.ml.functions import array_to_vector

    pdf = pd.DataFrame({"label": y, "features": list(X)})
    df = spark.createDataFrame(pdf).select(
        "label", array_to_vector("features").alias("features"))
    df = df.repartition(partitions).cache()
    df.count()
    return df


def spark_accuracy(model, df_test):
    """Accuracy on the test frame (its rows are in partition order, not the arrays' order)."""
    rows = model.transform(df_test).select("label", "prediction").collect()
    return float(np.mean([r.label == r.prediction for r in rows]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--sklearn-repeats", type=int, default=None,
                    help="timed scikit-learn fits (default: --repeats)")
    ap.add_argument("--max-bins", type=int, default=32)
    ap.add_argument("--skip-pyspark-ml", action="store_true")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains "
                    "this text (e.g. 'dense', 'mnist', 'tree', 'dense 400k x 100: tree')")
    ap.add_argument("--png", default=str(ROOT / "bench" / "results" / "trees.png"))
    args = ap.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 400_000)
    n_trees, dense_depth = (10, 6) if args.quick else (20, 8)
    P, R, B = args.partitions, args.repeats, args.max_bins

    import mli
    from mli.algorithms import DecisionTree, RandomForest
    from sklearn.ensemble import RandomForestClassifier as SkRF
    from sklearn.tree import DecisionTreeClassifier as SkDT

    datasets = {}
    wanted = (lambda case: args.only is None or args.only.lower() in case.lower())
    dense = f"dense {rows // 1000}k x {args.cols}"
    cases = {name: [k for k in ("tree", "forest") if wanted(
        f"{name}: {'tree' if k == 'tree' else f'forest {n_trees}'} d{depth}")]
        for name, depth in (("MNIST t10k", 10), (dense, dense_depth))}
    if (DATA / "mnist-t10k").exists():
        if cases["MNIST t10k"]:
            datasets["MNIST t10k"] = (*load_mnist(), 10)
    else:
        print(f"MNIST not found under {DATA}; skipping it", file=sys.stderr)
    X, y = make_dense(rows + 100_000, args.cols)
    datasets[dense] = (X[:rows], y[:rows], X[rows:], y[rows:], dense_depth)
    del X, y

    ctx = mli.MLContext("local[2]", app_name="bench-trees")
    spark = ctx.spark
    # warm-up: JVM, Python workers, numba's on-disk cache
    Xw, yw = make_dense(2000, 10, seed=1)
    DecisionTree(max_depth=3).fit(Xw, yw).predict(Xw)
    RandomForest(n_trees=3, max_depth=3, seed=0).fit(Xw, yw).predict(Xw)
    if not args.skip_pyspark_ml:
        from pyspark.ml.classification import DecisionTreeClassifier as MlDT
        from pyspark.ml.classification import RandomForestClassifier as MlRF

        dfw = spark_frame(spark, Xw, yw, P)
        MlDT(maxDepth=3).fit(dfw)
        MlRF(numTrees=3, maxDepth=3, seed=0).fit(dfw)
        dfw.unpersist()

    results = []  # (case, mli s, mli acc, ml s, ml acc, sk s, sk acc)
    for name, (Xtr, ytr, Xte, yte, depth) in datasets.items():
        if not cases[name]:
            continue
        if not args.skip_pyspark_ml:
            t0 = time.perf_counter()
            df, df_test = spark_frame(spark, Xtr, ytr, P), spark_frame(spark, Xte, yte, P)
            print(f"[{name}] pyspark.ml DataFrame build (not timed): "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        for kind in cases[name]:
            case = f"{name}: {'tree' if kind == 'tree' else f'forest {n_trees}'} d{depth}"
            if kind == "tree":
                ours = DecisionTree(max_depth=depth, max_bins=B, seed=0)
            else:
                ours = RandomForest(n_trees=n_trees, max_depth=depth, max_bins=B, seed=0)
            t_mli, (model, t_ing) = median_time(lambda: fit_mli(ours, Xtr, ytr, P, ctx), R)
            acc_mli = float((model.predict(Xte) == yte).mean())
            print(f"[{case}] mli {t_mli:.1f} s (ingest {t_ing:.1f} s), accuracy {acc_mli:.4f}",
                  flush=True)
            t_ml = acc_ml = t_sk = acc_sk = float("nan")
            if not args.skip_pyspark_ml:
                ml = (MlDT(maxDepth=depth, maxBins=B, seed=0) if kind == "tree" else
                      MlRF(numTrees=n_trees, maxDepth=depth, maxBins=B, seed=0))
                t_ml, mlm = median_time(lambda: ml.fit(df), R)
                acc_ml = spark_accuracy(mlm, df_test)
                print(f"[{case}] pyspark.ml {t_ml:.1f} s, accuracy {acc_ml:.4f}", flush=True)
            if not args.skip_sklearn:
                sk = (SkDT(max_depth=depth, random_state=0) if kind == "tree" else
                      SkRF(n_estimators=n_trees, max_depth=depth, random_state=0, n_jobs=1))
                t_sk, skm = median_time(lambda: sk.fit(Xtr, ytr), args.sklearn_repeats or R)
                acc_sk = float(skm.score(Xte, yte))
                print(f"[{case}] scikit-learn {t_sk:.1f} s, accuracy {acc_sk:.4f}", flush=True)
            results.append((case, t_mli, acc_mli, t_ml, acc_ml, t_sk, acc_sk, t_ing))
        if not args.skip_pyspark_ml:
            df.unpersist()
            df_test.unpersist()
    ctx.stop()

    load = os.getloadavg()
    print(f"\nTrees benchmark: Spark local[2], {P} partitions, maxBins {B}, median of {R} "
          f"run(s) (scikit-learn: {args.sklearn_repeats or R}); load average {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f}")
    head = (f"{'case':30s} {'mli s':>7s} {'(ingest)':>8s} {'acc':>7s} {'pyspark.ml s':>12s} "
            f"{'acc':>7s} {'ml/mli':>7s} {'sklearn s':>9s} {'acc':>7s}")
    print(head)
    print("-" * len(head))
    for case, tm, am, tl, al, ts, as_, ti in results:
        print(f"{case:30s} {tm:7.2f} {ti:8.2f} {am:7.4f} {tl:12.2f} {al:7.4f} {tl / tm:7.2f} "
              f"{ts:9.2f} {as_:7.4f}")
    print("ml/mli > 1: mli is faster. mli s includes ingesting the numpy arrays (the "
          "(ingest) column: from_numpy + resident blocks); pyspark.ml excludes building its "
          "DataFrame; scikit-learn is one process (reference).")
    plot(results, args.png, P, B)
    print(f"wrote {args.png}")
    return 0


def plot(results, path, P, B):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4.8))
    x = np.arange(len(results))
    width = 0.27
    series = [("mli", 1, 2, "tab:blue"), ("pyspark.ml", 3, 4, "tab:orange"),
              ("scikit-learn (1 process)", 5, 6, "tab:gray")]
    for i, (label, ti, ai, color) in enumerate(series):
        t = np.array([r[ti] for r in results])
        bars = ax.bar(x + (i - 1) * width, t, width, label=label, color=color)
        for bar, r in zip(bars, results):
            if np.isfinite(r[ti]):
                ax.annotate(f"{r[ai]:.3f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([r[0] for r in results], fontsize=8)
    ax.set_ylabel("fit time (s), accuracy on top")
    ax.set_title(f"Decision tree / random forest fit time, Spark local[2], {P} partitions, "
                 f"maxBins {B}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
