"""The ``mli`` command line.

``mli quickstart``  a small end-to-end fit through Spark (logistic regression on generated data)
``mli train``       fit an algorithm on a CSV/TSV/LibSVM/Parquet file, print held-out metrics,
                  save the model (``mli evaluate`` and ``mli predict`` use it; see
                  :mod:`mli.apps.tabular`)
``mli search``      the ML Optimizer on a data file: the best algorithm and hyperparameters
                  within a budget, a leaderboard, the model saved (:mod:`mli.apps.search_cli`)
``mli movielens``   the MovieLens recommendation workflow (see ``mli movielens --help``)
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from mli.errors import JavaNotFoundError
from mli.algorithms import LogisticRegression
from mli.apps import movielens, search_cli, tabular
from mli.engine.context import check_java


def _quickstart(args) -> int:
    import numpy as np

    import mli
    rng = np.random.default_rng(args.seed)
    n, d = args.rows, args.cols
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = (X @ w + 0.5 * rng.standard_normal(n) > 0).astype(float)
    cut = int(0.8 * n)
    print(f"mli quickstart: logistic regression on {n:,} generated rows x {d} features "
          f"(80/20 split), Spark master {args.master}")
    with mli.MLContext(args.master, app_name="mli-quickstart") as ctx:
        t = time.perf_counter()
        ctx.spark  # noqa: B018 - start Spark
        print(f"  Spark started in {time.perf_counter() - t:.1f} s")

        def progress(it, loss, secs):
            print(f"  iteration {it:3d}  loss {loss:.6f}  {secs:6.2f} s", flush=True)

        t = time.perf_counter()
        model = LogisticRegression(reg=1e-3, max_iter=args.max_iter, callback=progress).fit(
            X[:cut], y[:cut])
        fit_s = time.perf_counter() - t
        acc = float((model.predict(X[cut:]) == y[cut:]).mean())
        print(f"  fit in {fit_s:.2f} s; held-out accuracy {acc:.4f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mli", description="mli: machine learning on Apache Spark")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="a small end-to-end fit through Spark")
    q.add_argument("--rows", type=int, default=20_000)
    q.add_argument("--cols", type=int, default=20)
    q.add_argument("--max-iter", type=int, default=20)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--master", default="local[*]")
    q.set_defaults(func=_quickstart)

    tabular.add_parsers(sub)
    search_cli.add_parser(sub)
    try:
        movielens.add_parser(sub)
    except ImportError:
        pass

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if getattr(args, "needs_spark", True) and "PYSPARK_GATEWAY_PORT" not in os.environ:
            check_java()  # before any output: without Java, one line saying how to get it
        return int(args.func(args) or 0)
    except JavaNotFoundError as exc:
        print(f"mli: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"mli: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mli: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
