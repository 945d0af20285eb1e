"""Cluster benchmark: mli against pyspark.ml on a two-host standalone cluster, same run.

Starts a Spark standalone master on 127.0.0.1 and two one-core workers on 127.0.0.2 and
127.0.0.3, each in its own UTS and mount namespace (own hostname, private /tmp and /dev/shm;
tests/cluster.py), and runs, in one driver process on that cluster:

* one gradient pass over a resident 400,000 x 100 table (mli's ``map_reduce``), against the
  same pass in local[2] (measured first, in the same process): as a job of its own (a
  one-pass gang run, Spark's task launch included) and inside a gang run (what each
  iteration of a fit costs);
* LogisticRegression, LinearSVM and KMeans (k=20) on the same data, as in
  bench_algorithms.py: pyspark.ml fits first (on a cached DataFrame, its construction not
  timed), mli stops as soon as its objective (cost) is at or below pyspark.ml's; mli's time
  includes ingesting the numpy arrays;
* the bytes the gang's leader moved per pass (``mli.engine.gang.last_stats``).

With ``--connect`` the same benchmarks run through a Spark Connect server (pyspark's own,
started on the cluster's master) from this process as a Connect client: mli with
``MLContext(remote=...)``, pyspark.ml through the same Connect session.

Times are medians of ``--repeats`` runs. Needs Linux namespaces (``unshare``, root).

Run: python bench/bench_cluster.py [--rows 400000] [--repeats 3] [--only lr|svm|kmeans|pass]
                                   [--connect]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import cluster as multihost  # noqa: E402  (tests/cluster.py)
from bench_algorithms import Bench, dense_data  # noqa: E402


def grad(bundle, w):
    X, y = bundle
    return X.array.T @ (X.array @ w - y)


def _passes(blocks, w, k):
    for _ in range(k):
        out = blocks.map_reduce(grad, w)
    return out


def pass_time(ctx, X, y, repeats, inside=10):
    """Median seconds of one gradient pass over a resident table as a job of its own (a
    one-pass gang run: Spark's task launch included), of one pass inside a gang run (a
    fit's iteration: ``(run of 1 + inside passes - run of 1 pass) / inside``), and the
    pass's result."""
    import mli
    from mli.engine import gang

    table = mli.MLTable.from_numpy(X, y, num_partitions=4, ctx=ctx)
    blocks = table.labeled("label").blocks
    w = np.ones(X.shape[1])
    blocks.map_reduce(grad, w)  # make it resident
    times, inner = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        out = blocks.map_reduce(grad, w)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        one = gang.run(blocks, _passes, w, 1)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        many = gang.run(blocks, _passes, w, 1 + inside)
        inner.append((time.perf_counter() - t - t1) / inside)
        assert np.array_equal(one, out) and np.array_equal(many, out)
    table.unpersist()
    return float(np.median(times)), float(np.median(inner)), out


def ml_frame(spark, X, y, partitions, scratch=None):
    """A cached pyspark.ml DataFrame (label + features vector) built through Arrow; over
    Spark Connect from a Parquet file in ``scratch`` (local data would travel inside the
    tasks, past Spark's 128 MB message limit)."""
    import pandas as pd
    from pyspark.ml.functions import array_to_vector

    if scratch is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = os.path.join(scratch, "ml-frame.parquet")
        feats = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])
        pq.write_table(pa.table({"label": y, "features": feats}), path)
        src = spark.read.parquet(path)
    else:
        src = spark.createDataFrame(pd.DataFrame({"label": y, "features": list(X)}))
    df = src.select("label", array_to_vector("features").alias("features"))
    df = df.repartition(partitions).cache()
    df.count()
    return df


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", action="append", choices=("lr", "svm", "kmeans", "pass"))
    ap.add_argument("--connect", action="store_true",
                    help="run through a Spark Connect server on the cluster")
    args = ap.parse_args(argv)
    only = set(args.only or ("lr", "svm", "kmeans", "pass"))
    problem = multihost.isolation_problem()
    if problem:
        sys.exit(f"bench_cluster needs Linux namespaces: {problem}")
    os.environ.update(multihost.base_env())  # the driver on 127.0.0.1, workers on this Python
    import mli
    import mli.engine.gang as gang

    X, y, _ = dense_data(args.rows, 100)
    print(f"data: {X.shape[0]:,} x {X.shape[1]} dense float64, 4 partitions", flush=True)
    local_pass = None
    if "pass" in only:
        with mli.MLContext("local[2]") as ctx:
            local_pass, local_inner, ref = pass_time(ctx, X, y, args.repeats + 2)
        print(f"local[2]: one gradient pass {local_pass:.3f} s as a job of its own, "
              f"{local_inner:.3f} s inside a gang run (a fit's iteration)", flush=True)

    logs = Path("/tmp") / f"mli-bench-cluster-{os.getpid()}"
    c = multihost.start(logs, [("mli-bench-a", "127.0.0.2"), ("mli-bench-b", "127.0.0.3")],
                        memory="5g")
    print(f"cluster: {c.url}, workers {c.workers}", flush=True)
    server = None
    try:
        if args.connect:
            server = multihost.start_connect_server(
                # the server's driver holds pyspark.ml's DataFrame made from local data
                logs / "connect", c.url, **{"spark.executor.memory": "4g",
                                            "spark.driver.memory": "8g",
                                            "spark.cores.max": "2",
                                            "spark.default.parallelism": "2"})
            print(f"Spark Connect server {server.url} on {c.url}", flush=True)
            context = mli.MLContext(remote=server.url)
        else:
            context = mli.MLContext(c.url, **{"spark.executor.memory": "4g",
                                              "spark.cores.max": "2"})
        with context as ctx:
            ctx.spark
            if not ctx.is_connect:
                while int(ctx.sc.defaultParallelism) < 2:
                    time.sleep(0.5)
            if "pass" in only:
                t, inner, out = pass_time(ctx, X, y, args.repeats + 2)
                same = bool(np.array_equal(out, ref))
                print(f"cluster: one gradient pass {t:.3f} s as a job of its own = "
                      f"{t / local_pass:.2f}x local[2]; {inner:.3f} s inside a gang run = "
                      f"{inner / local_inner:.2f}x local[2] (same result bit for bit: "
                      f"{same})", flush=True)
            b = Bench(ctx, 4, args.repeats)
            if not only & {"lr", "svm", "kmeans"}:
                return
            t0 = time.perf_counter()
            scratch = None
            if ctx.is_connect:  # a directory every node sees (the workers' /tmp is private)
                scratch = str(ROOT.parent / f".mli-bench-{os.getpid()}")
                os.makedirs(scratch, exist_ok=True)
            df = ml_frame(ctx.spark, X, y, 4, scratch)
            print(f"pyspark.ml DataFrame built and cached in {time.perf_counter() - t0:.1f} s "
                  "(not timed below)", flush=True)
            print("\n  algorithm          data     mli (incl. ingest)  pyspark.ml  ratio", flush=True)
            for algo in ("lr", "svm"):
                if algo in only:
                    b.linear(algo, "dense", X, y, df, 1e-3)
                    st = dict(gang.last_stats)
                    if st:
                        print(f"    gang: {st['tasks']} tasks, {st['exchanges']} exchanges, "
                              f"{st['leader_bytes'] / max(st['exchanges'], 1) / 1e3:.1f} kB "
                              "per exchange through the leader", flush=True)
            if "kmeans" in only:
                b.kmeans("dense", X, df, 20)
                st = dict(gang.last_stats)
                if st:
                    print(f"    gang: {st['tasks']} tasks, {st['exchanges']} exchanges, "
                          f"{st['leader_bytes'] / max(st['exchanges'], 1) / 1e3:.1f} kB per "
                          "exchange through the leader", flush=True)
            print("\nsummary (medians of %d; ratio = mli / pyspark.ml)" % args.repeats)
            for r in b.rows:
                print(f"  {r['algo']:<18s} {r['data']:<6s} mli {r['ours']:7.2f} s  "
                      f"pyspark.ml {r['ml']:7.2f} s  ratio {r['ours'] / r['ml']:.2f}  "
                      f"[{r['note']}]")
    finally:
        if server is not None:
            server.stop()
        c.stop()
        import shutil

        shutil.rmtree(ROOT.parent / f".mli-bench-{os.getpid()}", ignore_errors=True)


if __name__ == "__main__":
    main()
