"""Run by tests/test_cluster.py in a subprocess: the same script on local[*], a standalone
cluster, or under spark-submit (no master argument: spark-submit's master is used)."""
import signal
import subprocess
import sys
import os

import numpy as np

import mli
from mli.algorithms import LogisticRegression


def grad(bundle, w):
    X, y = bundle
    return X.array.T @ (X.array @ w - y)


def executors():
    out = subprocess.run(["pgrep", "-f", "CoarseGrainedExecutorBackend"], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


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
            pids = executors()
            for p in pids:
                os.kill(p, signal.SIGKILL)
            print("killed", len(pids))
            print("pass2", bool(np.allclose(data.blocks.map_reduce(grad, w), ref)))


if __name__ == "__main__":
    main()
