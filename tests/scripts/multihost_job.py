"""Run by tests/test_multihost.py in a subprocess: fit every algorithm on the given master and
print one digest per model (sha256 of its saved arrays), so runs on local[2] and on a
multi-host cluster can be compared bit for bit.

    python multihost_job.py MASTER [NAME ...] [--kill-executor-mid-fit] [--unreachable-driver]

MASTER may be a Spark Connect address (``sc://host:port``): the job then runs as a Connect
client of that server.

``--unreachable-driver``: gang runs advertise this process at an address where nothing
listens (127.0.0.99), as a Connect client behind NAT would be seen by the executors: the
first run finds no executor can reach it and the tasks host the rendezvous from then on;
driver-held data reaches the executors through a DataFrame.

``--kill-executor-mid-fit``: during the logistic regression's gang run, the driver's
callback kills one executor JVM (SIGKILL) at iteration 3; the fit must still give the
same model.
"""
import gc
import glob
import hashlib
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

import mli
from mli.search import search
from mli.algorithms import (ALS, DecisionTree, KMeans, LinearRegression, LinearSVM,
                            LogisticRegression, NaiveBayes, RandomForest)


def digest(model) -> str:
    with tempfile.TemporaryDirectory() as d:
        model.save(os.path.join(d, "m"))
        h = hashlib.sha256()
        for path in sorted(glob.glob(os.path.join(d, "m", "*.npy"))):
            with open(path, "rb") as f:
                h.update(f.read())
        return h.hexdigest()[:16]


def column_sums(bundle):
    return np.asarray(bundle.array).sum(axis=0)


def _block_dirs(_batches):
    import pyarrow as pa

    from mli.engine.blocks import root_dir

    root = root_dir()
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    yield pa.RecordBatch.from_pydict({"name": names}, schema=pa.schema([("name", pa.string())]))


def block_dirs(ctx) -> set:
    """The stores with files in some executor's block directory (a task in every slot)."""
    n = ctx.default_parallelism
    return {r[0] for r in ctx.spark.range(0, n, 1, n).mapInArrow(_block_dirs,
                                                                 "name string").collect()}


def one_block(X) -> str:
    """Passes over a one-block table: the gang's task count (on a cluster a task in every
    slot: Spark places barrier tasks, and a gang of one might land on the host without the
    block) and the passes' result; then whether the block's files were on an executor, and
    whether they still are after the table was collected and another gang run ran."""
    from mli.engine import gang

    ctx = mli.get_context()
    t = mli.MLTable.from_numpy(X[:64], num_partitions=1)
    sums = [t.blocks.map_reduce(column_sums) for _ in range(3)]
    tasks = gang.last_stats["tasks"]
    store = t.blocks._store_id
    there = store in block_dirs(ctx)
    del t
    gc.collect()
    mli.MLTable.from_numpy(X[:64], num_partitions=1).blocks.map_reduce(column_sums)
    left = store in block_dirs(ctx)
    return (f"{tasks} {hashlib.sha256(np.concatenate(sums).tobytes()).hexdigest()[:16]} "
            f"{there} {left}")


def executors():
    out = subprocess.run(["pgrep", "-f", "CoarseGrainedExecutorBackend"], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6000, 10)) * rng.uniform(0.5, 3.0, 10)
    z = X @ rng.standard_normal(10)
    y = (z + rng.standard_normal(6000) > 0).astype(float)
    users, items = rng.integers(0, 300, 20000), rng.integers(0, 200, 20000)
    ratings = np.column_stack([users, items, rng.integers(1, 6, 20000)]).astype(float)
    return X, y, z, ratings


def texts():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(300)]
    spam = [f"s{i}" for i in range(20)]
    docs, labels = [], []
    for i in range(1500):
        label = i % 3 == 0
        n = int(rng.integers(4, 15))
        pool = words + spam * 5 if label else words
        docs.append(" ".join(rng.choice(pool, n)))
        labels.append(float(label))
    return docs, np.array(labels)


def main():
    master = sys.argv[1]
    only = [a for a in sys.argv[2:] if not a.startswith("--")]
    kill = "--kill-executor-mid-fit" in sys.argv
    if "--unreachable-driver" in sys.argv:
        from mli.engine import gang

        where = gang._driver_host
        gang._driver_host = lambda ctx: (where(ctx)[0], "127.0.0.99")
    X, y, z, ratings = data()
    docs, labels = texts()
    from mli.featurize import HashingTF, Normalizer, TFIDF, Tokenizer
    from mli.pipeline import Pipeline
    fits = {
        "lr": lambda: LogisticRegression(reg=0.01, tol=1e-9).fit(X, y),
        "lr_lbfgs": lambda: LogisticRegression(reg=0.01, solver="lbfgs").fit(X, y),
        "svm": lambda: LinearSVM(reg=0.01, max_iter=50).fit(X, y),
        "linreg": lambda: LinearRegression(reg=0.1).fit(X, z),
        "lasso": lambda: LinearRegression(reg=0.05, l1_ratio=1.0).fit(X, z),
        "kmeans": lambda: KMeans(k=5, seed=1).fit(X),
        "nb": lambda: NaiveBayes(kind="gaussian").fit(X, y),
        "tree": lambda: DecisionTree(max_depth=5).fit(X, y),
        "forest": lambda: RandomForest(n_trees=5, max_depth=4, seed=3).fit(X, y),
        "als_data_parallel": lambda: ALS(rank=4, max_iter=3, seed=1,
                                         strategy="data_parallel").fit(ratings),
        "als_blocked": lambda: ALS(rank=4, max_iter=3, seed=1, strategy="blocked",
                                   num_partitions=4).fit(ratings),
        # the ML Optimizer: batched partial fits (threads in every task of a gang run)
        "search": lambda: search(X, y, task="classification", budget=150, seed=0).best_model,
        # trees resumed a level at a time, Naive Bayes' shared counts, by Hyperband
        "search_trees": lambda: search(np.abs(X), y, task="classification", budget=60, seed=0,
                                       strategy="hyperband", algorithms=[
                                           "DecisionTree", "RandomForest", "NaiveBayes"]
                                       ).best_model,
        # k-means restarts and ALS configurations in shared passes
        "search_kmeans": lambda: search(X, task="clustering", space={"k": 5}, budget=30,
                                        seed=0).best_model,
        "search_als": lambda: search(ratings, task="recommendation", budget=20,
                                     seed=0).best_model,
        "pipeline_matrix": lambda: Pipeline([Normalizer(), LogisticRegression(reg=0.01)]).fit(
            X, y),
        "pipeline_text": lambda: Pipeline([Tokenizer(), HashingTF(2 ** 10), TFIDF(),
                                           NaiveBayes()]).fit(docs, labels),
    }
    if master.startswith("sc://"):  # a Spark Connect client: the server has the master
        ctx = mli.MLContext(remote=master)
    else:
        ctx = mli.MLContext(master, **{"spark.executor.memory": "1g"})
    with ctx:
        print("master", ctx.master_url, flush=True)
        for name, fit in fits.items():
            if only and name not in only:
                continue
            print(name, digest(fit()), flush=True)
        if "one_block" in only:
            print("one_block", one_block(X), flush=True)
        print("rendezvous", ctx._rendezvous_found or ctx.rendezvous, flush=True)
        if kill:
            killed = []

            def kill_one(it, loss, seconds):
                if it == 3 and not killed:
                    pids = executors()
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])

            m = LogisticRegression(reg=0.01, tol=1e-9, solver="lbfgs",
                                   callback=kill_one).fit(X, y)
            print("killed", len(killed), flush=True)
            print("lr_lbfgs_killed", digest(m), flush=True)


if __name__ == "__main__":
    main()
