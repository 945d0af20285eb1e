"""The cost models' constants, measured: each choice an "auto" makes, timed both ways on
local[2] around its threshold.

* ``mli.optimize.cost.NEWTON_MAX_PARAMS`` (256): logistic regression by Newton's method
  against L-BFGS, for growing numbers of features;
* ``mli.optimize.cost.NORMAL_MAX_FEATURES`` (4096): linear regression by the normal
  equations against L-BFGS;
* ``mli.optimize.cost.PRECONDITION_SPREAD`` (2): L-BFGS with and without the curvature
  rescaling, on evenly and on unevenly scaled features;
* ``mli.algorithms.als.cost.WORK_PER_TASK`` (1e8 flops per block and iteration): ALS in one
  block against two, on a small and a larger problem, beside the number the cost model picks.

(``FACTORS_LIMIT``, ALS's switch to the blocked strategy, is a memory bound -- every task of
data_parallel holds the whole factors -- not a speed crossover, so it is not timed here.)

Every row prints the medians of ``--repeats`` runs after one untimed run, and which way the
"auto" choice goes. Run: python bench/bench_cost.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def timed(fn, repeats):
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), out


def logistic_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) / np.sqrt(d) + 0.5 * rng.standard_normal(n) > 0) * 1.0
    return X, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")

    import mli
    from mli.algorithms import ALS, LinearRegression, LogisticRegression
    from mli.algorithms.als import cost as als_cost
    from mli.algorithms.als.ratings import Ratings
    from mli.optimize import LogisticLoss, cost, minimize
    from mli.table.mltable import as_labeled
    from mli.table.datasets import netflix_like

    r = args.repeats
    with mli.MLContext("local[2]", app_name="bench-cost") as ctx:
        print(f"local[2], medians of {r} runs after one untimed run; 'auto' marks the choice "
              "the cost model makes")

        print(f"\nNewton against L-BFGS, logistic regression, 20,000 rows "
              f"(NEWTON_MAX_PARAMS = {cost.NEWTON_MAX_PARAMS})")
        print(f"{'features':>9} {'newton s':>9} {'lbfgs s':>9} {'newton/lbfgs':>13}  auto")
        for d in (32, 128, 256, 512):
            X, y = logistic_data(20_000, d)
            table = mli.MLTable.from_numpy(X, y=y, ctx=ctx).cache()
            tn, _ = timed(lambda: LogisticRegression(reg=1e-3, solver="newton").fit(
                table, label="label"), r)
            tl, _ = timed(lambda: LogisticRegression(reg=1e-3, solver="lbfgs").fit(
                table, label="label"), r)
            auto = cost.choose_method(0.0, True, 1, d + 1)
            print(f"{d:>9} {tn:>9.3f} {tl:>9.3f} {tn / tl:>13.2f}  {auto}")
            table.unpersist()

        print(f"\nnormal equations against L-BFGS, linear regression, 20,000 rows "
              f"(NORMAL_MAX_FEATURES = {cost.NORMAL_MAX_FEATURES})")
        print(f"{'features':>9} {'normal s':>9} {'lbfgs s':>9} {'normal/lbfgs':>13}  auto")
        for d in (128, 512, 1024, 2048):
            rng = np.random.default_rng(d)
            X = rng.standard_normal((20_000, d))
            y = X @ rng.standard_normal(d) + rng.standard_normal(20_000)
            table = mli.MLTable.from_numpy(X, y=y, ctx=ctx).cache()
            tn, _ = timed(lambda: LinearRegression(reg=1e-3, solver="normal").fit(
                table, label="label"), r)
            tl, _ = timed(lambda: LinearRegression(reg=1e-3, solver="lbfgs").fit(
                table, label="label"), r)
            auto = "normal" if cost.use_normal_equations(d) else "lbfgs"
            print(f"{d:>9} {tn:>9.3f} {tl:>9.3f} {tn / tl:>13.2f}  {auto}")
            table.unpersist()

        print(f"\nL-BFGS with and without preconditioning, logistic loss, 50,000 x 100 "
              f"(PRECONDITION_SPREAD = {cost.PRECONDITION_SPREAD})")
        print(f"{'features':>20} {'spread':>7} {'raw s':>7} {'it':>4} {'scaled s':>9} {'it':>4}"
              "  auto")
        rng = np.random.default_rng(1)
        base, y = logistic_data(50_000, 100, seed=1)
        for name, scales in (("evenly scaled", np.ones(100)),
                             ("scales 0.01 .. 100", 10.0 ** rng.uniform(-2, 2, 100))):
            data = as_labeled(base * scales, y, ctx=ctx)

            def fit(pre):
                return minimize(LogisticLoss(), data.blocks, reg=1e-4, method="lbfgs",
                                max_iter=500, tol=1e-6, precondition=pre)

            tr, mr = timed(lambda: fit(False), r)
            ts, ms = timed(lambda: fit(True), r)
            spread = float(np.percentile(scales ** 2, 90) / np.percentile(scales ** 2, 10))
            auto = "scaled" if cost.precondition(spread) else "raw"
            print(f"{name:>20} {spread:>7.1f} {tr:>7.3f} {mr.n_iter:>4} {ts:>9.3f} "
                  f"{ms.n_iter:>4}  {auto}")
            data.release()

        print(f"\nALS in one block against two, rank 10, 5 iterations "
              f"(WORK_PER_TASK = {als_cost.WORK_PER_TASK:.0e} flops per block and iteration)")
        print(f"{'ratings':>10} {'1 block s':>10} {'2 blocks s':>11} {'2/1':>6}  auto blocks")
        for n_ratings in (100_000, 2_000_000):
            df = netflix_like(n_ratings // 20, n_ratings // 100, n_ratings, seed=0)
            df = df[["user", "item", "rating"]]
            t1, _ = timed(lambda: ALS(rank=10, max_iter=5, seed=0, num_partitions=1).fit(df), r)
            t2, _ = timed(lambda: ALS(rank=10, max_iter=5, seed=0, num_partitions=2).fit(df), r)
            names = ("user", "item", "rating")
            ratings = Ratings(df["user"].to_numpy(), df["item"].to_numpy(),
                              df["rating"].to_numpy(), names)
            auto = als_cost.default_blocks(ALS(rank=10), ratings, ctx.default_parallelism)
            print(f"{n_ratings:>10,} {t1:>10.3f} {t2:>11.3f} {t2 / t1:>6.2f}  {auto}")


if __name__ == "__main__":
    main()
