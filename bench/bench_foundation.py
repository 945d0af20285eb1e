"""Foundation benchmark: the cost of one distributed gradient pass.

Data: 400,000 x 100 dense float64 (seeded), labels from a planted logistic model, 4 partitions,
local[2] Spark. Measured in the same run (medians over --repeats runs):

* numpy      -- one logistic-loss gradient pass in this process (single-process reference)
* tiny job   -- one Spark job over 4 tiny partitions (the fixed cost of any pass)
* plain RDD  -- a cached RDD of numpy blocks, weights broadcast, treeReduce (the naive design)
* mli        -- MLTable resident blocks: ``blocks.map_reduce(gradient, w)`` (float64 and float32)
* pyspark.ml -- LogisticRegression(maxIter=10, regParam=0, standardization=False), per iteration

Goals (issue #2): mli pass <= 1.5 x (numpy pass + tiny job); pyspark.ml per-iteration time
>= 2 x mli's.

Run: python bench/bench_foundation.py [--rows 400000] [--cols 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def logistic_grad(bundle, w):
    """Sum of logistic-loss gradients over one block (labels in {0,1})."""
    X, y = bundle
    A = X.array if hasattr(X, "array") else X
    z = A @ w
    p = 1.0 / (1.0 + np.exp(-z))
    return A.T @ (p - y), float(len(y))


def numpy_pass(X, y, w):
    z = X @ w
    p = 1.0 / (1.0 + np.exp(-z))
    return X.T @ (p - y)


def median_time(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--passes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-pyspark-ml", action="store_true")
    args = ap.parse_args(argv)

    import mli

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.cols))
    w_true = rng.standard_normal(args.cols) / np.sqrt(args.cols)
    y = (rng.random(args.rows) < 1 / (1 + np.exp(-(X @ w_true)))).astype(np.float64)
    w = np.zeros(args.cols)
    P, R, K = args.partitions, args.repeats, args.passes

    results = {}
    ctx = mli.MLContext("local[2]", app_name="bench-foundation")
    sc = ctx.sc

    # numpy single process
    numpy_pass(X, y, w)
    t_np, _ = median_time(lambda: [numpy_pass(X, y, w) for _ in range(K)], R)
    results["numpy pass"] = t_np / K

    # tiny job
    tiny = sc.parallelize(range(P), P)
    tiny.map(lambda v: v).collect()
    t_tiny, _ = median_time(lambda: tiny.map(lambda v: v).collect(), max(5, R))
    results["tiny job"] = t_tiny

    # plain cached RDD of numpy blocks + broadcast + treeReduce
    bounds = np.linspace(0, args.rows, P + 1).astype(int)
    chunks = [(X[bounds[i]:bounds[i + 1]], y[bounds[i]:bounds[i + 1]]) for i in range(P)]
    rdd = sc.parallelize(chunks, P).cache()
    rdd.count()

    def plain_pass():
        bw = sc.broadcast(w)
        g = rdd.map(lambda b: logistic_grad(b, bw.value)).treeReduce(
            lambda a, b: (a[0] + b[0], a[1] + b[1]))
        bw.unpersist()
        return g

    plain_pass()
    t_plain, _ = median_time(lambda: [plain_pass() for _ in range(K)], R)
    results["plain RDD pass"] = t_plain / K
    rdd.unpersist()
    del chunks

    # mli resident blocks (ingestion from the user's numpy arrays included separately)
    for dtype in (np.float64, np.float32):
        t0 = time.perf_counter()
        table = mli.MLTable.from_numpy(X, y, num_partitions=P, dtype=dtype, ctx=ctx)
        data = table.labeled("label")
        data.blocks.materialize()
        t_ingest = time.perf_counter() - t0
        wd = w.astype(dtype)
        ref = numpy_pass(X, y, w)
        got = data.blocks.map_reduce(logistic_grad, wd)[0]
        assert np.allclose(got, ref, rtol=1e-3, atol=1e-2), "mli gradient differs from numpy"
        t_ours, _ = median_time(lambda: [data.blocks.map_reduce(logistic_grad, wd)
                                         for _ in range(K)], R)
        name = np.dtype(dtype).name
        results[f"mli pass ({name})"] = t_ours / K
        results[f"mli ingest ({name})"] = t_ingest
        table.unpersist()

    # pyspark.ml
    if not args.skip_pyspark_ml:
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.linalg import Vectors

        t0 = time.perf_counter()
        rows = [(float(y[i]), Vectors.dense(X[i])) for i in range(args.rows)]
        df = ctx.spark.createDataFrame(rows, ["label", "features"]).repartition(P).cache()
        df.count()
        results["pyspark.ml DataFrame build"] = time.perf_counter() - t0
        del rows
        lr = LogisticRegression(maxIter=K, regParam=0.0, standardization=False, tol=0.0)
        lr.fit(df)  # warm-up
        t_ml, _ = median_time(lambda: lr.fit(df), R)
        results["pyspark.ml LR iteration"] = t_ml / K
        df.unpersist()

    ctx.stop()

    print(f"\nFoundation benchmark: {args.rows:,} x {args.cols} float64, {P} partitions, "
          f"local[2], {K} passes, median of {R} runs")
    print(f"{'measure':34s} {'seconds':>9s}")
    for k, v in results.items():
        print(f"{k:34s} {v:9.4f}")
    target = results["numpy pass"] + results["tiny job"]
    ours = results["mli pass (float64)"]
    print("\nratios")
    print(f"  mli pass / (numpy pass + tiny job)      = {ours / target:6.2f}   (goal <= 1.5)")
    print(f"  mli f32 pass / (numpy pass + tiny job)  = {results['mli pass (float32)'] / target:6.2f}")
    print(f"  plain RDD pass / mli pass               = {results['plain RDD pass'] / ours:6.2f}")
    if "pyspark.ml LR iteration" in results:
        print(f"  pyspark.ml iteration / mli pass         = "
              f"{results['pyspark.ml LR iteration'] / ours:6.2f}   (goal >= 2)")
        print(f"  pyspark.ml DataFrame build / mli ingest = "
              f"{results['pyspark.ml DataFrame build'] / results['mli ingest (float64)']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
