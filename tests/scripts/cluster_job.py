"""Run by tests/test_cluster.py in a subprocess: the same script on local[*], a standalone
cluster, or under spark-submit (no master argument: spark-submit's master is used)."""
import signal
import sys
import os

import numpy as np

import mli
from mli.algorithms import LogisticRegression


def grad(bundle, w):
    X, y = bundle
    return X.array.T @ (X.array @ w - y)


def _executor_jvm(_):
    """In a task: the executor JVM's pid, the nearest ``java`` ancestor of this Python
    worker (read from /proc/PID/stat, which, unlike a scan of every process's cmdline with
    pgrep, cannot block on another process)."""
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "java":
            yield pid
            return
        pid = int(stat[stat.rindex(")") + 2:].split()[1])


def executors(sc):
    return sorted(set(sc.parallelize(range(8), 8).mapPartitions(_executor_jvm).collect()))


def main():
    master = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None
    kill = "--kill-executor" in sys.argv
    with mli.MLContext(master, **{"spark.executor.memory": "1g"}) as ctx:
        print("master", ctx.sc.master)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4000, 8))
        y = (X @ rng.standard_normal(8) > 0).astype(float)
        m = LogisticRegression(reg=0.01, tol=1e-9).fit(X, y)
        print("coef", " ".join(f"{v:.6f}" for v in m.coef_.ravel()))
        data = mli.MLTable.from_numpy(X, y, num_partitions=4).labeled("label")
        w = np.ones(8)
        ref = X.T @ (X @ w - y)
        print("pass1", bool(np.allclose(data.blocks.map_reduce(grad, w), ref)))
        if kill:
            pids = executors(ctx.sc)
            for p in pids:
                os.kill(p, signal.SIGKILL)
            print("killed", len(pids))
            print("pass2", bool(np.allclose(data.blocks.map_reduce(grad, w), ref)))


if __name__ == "__main__":
    main()
