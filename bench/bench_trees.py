"""Trees benchmark: mli DecisionTree / RandomForest against pyspark.ml, in one run.

Same Spark (local[2]), same data, same partitions, equal maxDepth / maxBins / numTrees
(RandomForest: bootstrap, sqrt(d) features per node, as pyspark.ml's defaults):

* **MNIST t10k** pixels (../shared/data/mnist-t10k): ``--splits`` seeded 8,000 / 2,000
  train/test splits (seeds 0, 1, ...; default 10); tree depth 10, forest of 20 trees of depth
  10. Every library fits every split; the accuracy is the mean over the splits, with the
  paired difference to pyspark.ml and its standard error (one 2,000-row test set alone
  moves a tree's accuracy by about a point).
* **dense**: 400,000 x 100 float64 (seeded), labels from a nonlinear planted rule with
  noise; 100,000 fresh test rows; tree depth 8, forest of 20 trees of depth 8.

mli's time is ``fit(X, y)`` from the numpy arrays (ingestion included); pyspark.ml's is
``fit(df)`` on a cached DataFrame whose build is not timed. Accuracy is measured on the test
rows. scikit-learn's single-process time on the same data is shown as a reference. Warm-up
fits on small data come first (JVM, Python workers, numba's cache), then ``--repeats`` timed
fits per split; the time is the median over all of them.

Run: python bench/bench_trees.py [--quick] [--repeats 1] [--splits 10] [--partitions 4]
[--skip-pyspark-ml] [--skip-sklearn] [--sklearn-repeats N] [--only TEXT]
``--quick``: 100,000 dense rows, 10 trees, depth 6 on the dense set. ``--only dense`` (or
``mnist``, ``tree``, ``forest``, ``"dense 400k x 100: tree"``): only the matching cases.
Writes bench/results/trees.png.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


@functools.lru_cache(maxsize=1)
def _mnist_arrays():
    d = DATA / "mnist-t10k"
    with gzip.open(d / "t10k-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float64)
    with gzip.open(d / "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.float64)
    return X, y


def load_mnist(seed=0):
    """MNIST t10k pixels (float64) and labels, split 8,000 / 2,000 with ``seed`` (the files
    are read once)."""
    X, y = _mnist_arrays()
    idx = np.random.default_rng(seed).permutation(len(y))
    return X[idx[:8000]], y[idx[:8000]], X[idx[8000:]], y[idx[8000:]]


def make_dense(rows, cols, seed=0):
    """Gaussian features; label = [x0 + x1*x2 + sin(2*x3) + 0.5*noise > 0]."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + np.sin(2 * X[:, 3])
         + 0.5 * rng.standard_normal(rows) > 0).astype(np.float64)
    return X, y


def timed(fn, repeats):
    """The times of ``repeats`` calls of ``fn`` and its last result."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def paired(ours, theirs):
    """Mean of ``theirs - ours`` over the splits and its standard error (nan for one)."""
    d = np.asarray(theirs) - np.asarray(ours)
    return float(d.mean()), (float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1
                             else float("nan"))


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
    ap.add_argument("--splits", type=int, default=10, help="MNIST train/test splits")
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

    datasets = {}  # name -> ([(Xtr, ytr, Xte, yte) per split], depth)
    wanted = (lambda case: args.only is None or args.only.lower() in case.lower())
    dense = f"dense {rows // 1000}k x {args.cols}"
    cases = {name: [k for k in ("tree", "forest") if wanted(
        f"{name}: {'tree' if k == 'tree' else f'forest {n_trees}'} d{depth}")]
        for name, depth in (("MNIST t10k", 10), (dense, dense_depth))}
    if (DATA / "mnist-t10k").exists():
        if cases["MNIST t10k"]:
            datasets["MNIST t10k"] = ([load_mnist(seed) for seed in range(args.splits)], 10)
    else:
        print(f"MNIST not found under {DATA}; skipping it", file=sys.stderr)
    if cases[dense]:
        X, y = make_dense(rows + 100_000, args.cols)
        datasets[dense] = ([(X[:rows], y[:rows], X[rows:], y[rows:])], dense_depth)
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

    results = []  # (case, mli s, mli acc, ml s, ml acc, sk s, sk acc, ingest s, splits)
    for name, (splits, depth) in datasets.items():
        kinds = cases[name]
        if not kinds:
            continue
        runs = {k: {"mli": [], "ml": [], "sk": [], "ingest": []} for k in kinds}
        for split, (Xtr, ytr, Xte, yte) in enumerate(splits):
            if not args.skip_pyspark_ml:
                t0 = time.perf_counter()
                df, df_test = spark_frame(spark, Xtr, ytr, P), spark_frame(spark, Xte, yte, P)
                print(f"[{name} split {split}] pyspark.ml DataFrame build (not timed): "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
            for kind in kinds:
                case = f"{name}: {'tree' if kind == 'tree' else f'forest {n_trees}'} d{depth}"
                r = runs[kind]
                if kind == "tree":
                    ours = DecisionTree(max_depth=depth, max_bins=B, seed=0)
                else:
                    ours = RandomForest(n_trees=n_trees, max_depth=depth, max_bins=B, seed=0)
                times, (model, t_ing) = timed(lambda: fit_mli(ours, Xtr, ytr, P, ctx), R)
                r["mli"].append((times, float((model.predict(Xte) == yte).mean())))
                r["ingest"].append(t_ing)
                print(f"[{case} split {split}] mli {' '.join(f'{t:.2f}' for t in times)} s "
                      f"(ingest {t_ing:.2f} s), accuracy {r['mli'][-1][1]:.4f}", flush=True)
                if not args.skip_pyspark_ml:
                    ml = (MlDT(maxDepth=depth, maxBins=B, seed=0) if kind == "tree" else
                          MlRF(numTrees=n_trees, maxDepth=depth, maxBins=B, seed=0))
                    times, mlm = timed(lambda: ml.fit(df), R)
                    r["ml"].append((times, spark_accuracy(mlm, df_test)))
                    print(f"[{case} split {split}] pyspark.ml "
                          f"{' '.join(f'{t:.2f}' for t in times)} s, accuracy "
                          f"{r['ml'][-1][1]:.4f}", flush=True)
                if not args.skip_sklearn:
                    sk = (SkDT(max_depth=depth, random_state=0) if kind == "tree" else
                          SkRF(n_estimators=n_trees, max_depth=depth, random_state=0,
                               n_jobs=1))
                    times, skm = timed(lambda: sk.fit(Xtr, ytr), args.sklearn_repeats or R)
                    r["sk"].append((times, float(skm.score(Xte, yte))))
                    print(f"[{case} split {split}] scikit-learn "
                          f"{' '.join(f'{t:.2f}' for t in times)} s, accuracy "
                          f"{r['sk'][-1][1]:.4f}", flush=True)
            if not args.skip_pyspark_ml:
                df.unpersist()
                df_test.unpersist()
        for kind in kinds:
            case = f"{name}: {'tree' if kind == 'tree' else f'forest {n_trees}'} d{depth}"
            r = runs[kind]
            med = {k: (statistics.median(t for times, _ in r[k] for t in times)
                       if r[k] else float("nan")) for k in ("mli", "ml", "sk")}
            acc = {k: float(np.mean([a for _, a in r[k]])) if r[k] else float("nan")
                   for k in ("mli", "ml", "sk")}
            results.append((case, med["mli"], acc["mli"], med["ml"], acc["ml"], med["sk"],
                            acc["sk"], statistics.median(r["ingest"]), len(splits)))
            if r["ml"]:
                diff, se = paired([a for _, a in r["mli"]], [a for _, a in r["ml"]])
                print(f"[{case}] accuracy over {len(splits)} split(s): mli {acc['mli']:.4f}, "
                      f"pyspark.ml {acc['ml']:.4f}; pyspark.ml - mli {diff:+.4f} "
                      f"(standard error {se:.4f})", flush=True)
    ctx.stop()

    load = os.getloadavg()
    print(f"\nTrees benchmark: Spark local[2], {P} partitions, maxBins {B}; times: median of "
          f"{R} run(s) per split (scikit-learn: {args.sklearn_repeats or R}) over all splits; "
          f"acc: mean over the splits; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    head = (f"{'case':30s} {'splits':>6s} {'mli s':>7s} {'(ingest)':>8s} {'acc':>7s} "
            f"{'pyspark.ml s':>12s} {'acc':>7s} {'ml/mli':>7s} {'sklearn s':>9s} {'acc':>7s}")
    print(head)
    print("-" * len(head))
    for case, tm, am, tl, al, ts, as_, ti, ns in results:
        print(f"{case:30s} {ns:6d} {tm:7.2f} {ti:8.2f} {am:7.4f} {tl:12.2f} {al:7.4f} "
              f"{tl / tm:7.2f} {ts:9.2f} {as_:7.4f}")
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
