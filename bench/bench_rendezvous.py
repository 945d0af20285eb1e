"""A gang run with and without the driver taking part, same run, local[2].

A gang run (mli.engine.gang) starts with a rendezvous at task 0, which listens on a port the other
tasks derive from the run's secret. Where every task reaches the driver, the driver takes
part (``rendezvous="driver"``: it sends its blocks, answers callbacks and takes the
result); otherwise (a Spark Connect client outside the cluster's network,
``rendezvous="tasks"``) the program and the result travel inside the Spark job. This
script times both on the same data and session:

* a one-pass run (``gang.run`` of one ``map_reduce``), medians of ``--repeats``;
* a logistic regression fit (L-BFGS, fixed 20 iterations: one gang run), medians.

Data: 100,000 x 20 dense float64, 4 partitions. Both modes must give the same values (checked).

Run: python bench/bench_rendezvous.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _rows(bundle):
    X, _y = bundle
    return X.shape[0]


def _one_pass(blocks):
    return blocks.map_reduce(_rows)


def timed(fn, repeats):
    fn()  # warm: workers started, kernels compiled
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    import mli
    from mli.engine import gang
    from mli.algorithms import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 20))
    y = (X @ rng.standard_normal(20) + rng.standard_normal(100_000) > 0).astype(float)
    with mli.MLContext("local[2]") as ctx:
        table = mli.MLTable.from_numpy(X, y, num_partitions=4, ctx=ctx)
        blocks = table.labeled("label").blocks
        rows = {}
        for mode in ("driver", "tasks"):
            ctx.rendezvous = mode
            t_pass, n = timed(lambda: gang.run(blocks, _one_pass), args.repeats)
            t_fit, model = timed(lambda: LogisticRegression(
                reg=1e-3, solver="lbfgs", max_iter=20, tol=0.0).fit(table, label="label"),
                max(3, args.repeats // 2))
            rows[mode] = (t_pass, t_fit, n, model.coef_)
            print(f"rendezvous={mode:<6s}  one-pass run {t_pass:.3f} s   LR fit (20 it) "
                  f"{t_fit:.3f} s", flush=True)
        same = rows["driver"][2] == rows["tasks"][2] and np.array_equal(rows["driver"][3],
                                                                        rows["tasks"][3])
        print(f"tasks / driver: one-pass run {rows['tasks'][0] / rows['driver'][0]:.2f}x, "
              f"LR fit {rows['tasks'][1] / rows['driver'][1]:.2f}x (same values: {same})")


if __name__ == "__main__":
    main()
