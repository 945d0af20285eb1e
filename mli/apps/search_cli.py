"""``mli search``: the ML Optimizer on any data file Spark reads.

::

    mli search data.csv --label clicked --budget 5m --out best/ --plot search.png
    mli search points.parquet --task clustering --k 8 --budget 200

The rows are split into a held-out test set (``--test-fraction``) and the search's data;
:func:`mli.search.search` holds out its own validation split of the latter, searches the
task's algorithms (``--algorithms`` to choose) within ``--budget`` (passes or a duration),
and prints each rung as it ends (configurations, passes, best so far). Then the leaderboard,
the best model's metrics on the test rows, and ``--out`` saves it (``mli evaluate`` /
``mli predict`` / :func:`mli.load` read it). ``--task clustering`` searches k-means
restarts of ``--k`` clusters (no label; the held-out metric is the inertia). Features and
formats as ``mli train``.
"""
from __future__ import annotations

import os

from mli.apps.plotting import require_matplotlib
from mli.apps.tabular import (UsageError, check_complete, cli_command, common_args,
                              data_format, feature_spec, metrics, model_kind, print_metrics,
                              read_frame, scored, spark_context)

__all__ = ["add_parser"]


def _rung_line(metric: str):
    """Prints a rung's line: configurations, passes, best so far."""
    def report(rung: list) -> None:
        last = rung[-1]
        names = sorted({e["algorithm"] for e in rung})
        print(f"  {len(rung):3d} configurations at {last['passes']:3d} passes  "
              f"best {metric} so far {last['best_so_far']:.4f}  "
              f"[{', '.join(names)}]  {last['elapsed']:6.1f} s", flush=True)
    return report


def _search(args) -> int:
    from mli.interop.spark_ml import training_frame
    from mli.search import RungReporter, budget_from_text, search
    from mli.search.metrics import DEFAULT as DEFAULT_METRIC

    if args.plot:
        require_matplotlib()
    if not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    try:
        budget = None if args.budget is None else budget_from_text(args.budget)
    except ValueError as exc:
        raise UsageError(f"--budget: {exc}") from None
    algos = [a.strip() for a in args.algorithms.split(",")] if args.algorithms else None
    clustering = args.task == "clustering"
    if clustering != (args.k is not None):
        raise UsageError("--task clustering needs --k CLUSTERS" if clustering else
                         "--k is the number of clusters of --task clustering")
    if not clustering and not args.label:
        raise UsageError("mli search needs --label COLUMN (LibSVM's label is 'label'), or "
                         "--task clustering")
    if args.out and os.path.exists(args.out) and not args.overwrite:
        raise UsageError(f"--out {args.out} exists; pass --overwrite to replace it")
    fmt = data_format(args.data, args.format)
    with spark_context(args) as ctx:
        df = read_frame(ctx.spark, args.data, fmt)
        features = feature_spec(df, fmt, args.label, args.features, args.weight)
        label = None if clustering else args.label  # (clustering: --label is left out)
        if isinstance(features, list):
            check_complete(df, [*features, label, args.weight], args.data)
        if args.test_fraction > 0:
            train_df, test_df = df.randomSplit([1 - args.test_fraction, args.test_fraction],
                                               seed=args.seed)
        else:
            train_df, test_df = df, None
        frame, names = training_frame(train_df, features, label, "mli search", args.weight)
        shown = args.budget or "one bracket"
        target = f"{args.k} clusters" if clustering else f"label {label!r}"
        print(f"mli search: {args.data} ({fmt}), {len(names)} features, {target}, budget "
              f"{shown}; Spark {ctx.master_url}", flush=True)
        task = args.task or (None if algos else "classification")
        progress = RungReporter(_rung_line(args.metric or DEFAULT_METRIC.get(task, "metric")))
        try:
            result = search(frame, label=label, task=task, metric=args.metric,
                            budget=budget, algorithms=algos, validation=args.validation,
                            space={"k": args.k} if clustering else None,
                            seed=args.seed, min_passes=args.min_passes,
                            max_passes=args.max_passes, strategy=args.strategy,
                            sampler=args.sampler, sample_weight=args.weight, callback=progress)
        except ValueError as exc:  # (bad arguments or data, named by the search)
            raise UsageError(str(exc)) from None
        progress.flush()
        print(f"searched {len(result.leaderboard)} configurations in {result.seconds:.1f} s "
              f"({result.passes} passes); best validation {result.metric} "
              f"{result.best_metric:.4f}")
        table = result.to_pandas()
        cols = ["rank", "algorithm", *[c for c in table.columns if c not in (
            "rank", "algorithm", "config", "bracket", "seconds", "trained")]]
        print(table[cols].head(args.top).to_string(index=False))
        model = result.best_model
        if test_df is not None and clustering:
            _held_out_inertia(model, test_df, features, args.test_fraction)
        elif test_df is not None:
            y, pred, proba = scored(model, test_df, features, label)
            print_metrics(f"held-out metrics of the best model, {args.test_fraction:.0%} of "
                          "the rows", metrics(model_kind(model), y, pred, proba,
                                              getattr(model, "classes_", None)), len(y))
        if args.out:
            model.save(args.out, overwrite=args.overwrite)
            print(f"best model saved to {args.out} (mli evaluate / mli predict / mli.load)")
    if args.plot:
        result.plot(args.plot)
        print(f"search plot written to {args.plot}")
    return 0


def _held_out_inertia(model, test_df, features, fraction: float) -> None:
    """Prints the held-out rows' inertia (mean squared distance to the nearest center)."""
    from mli.interop.spark_ml import training_frame
    from mli.search.metrics import METRICS, score_many
    from mli.table.mltable import as_labeled

    held = as_labeled(training_frame(test_df, features, None, "mli search")[0])
    try:
        inertia = score_many([model], held.blocks, METRICS["inertia"])[0]
        print_metrics(f"held-out metrics of the best model, {fraction:.0%} of the rows",
                      {"inertia": inertia}, held.num_rows)
    finally:
        held.release()


def add_parser(sub) -> None:
    """Add ``search`` to the ``mli`` command's subparsers."""
    s = sub.add_parser("search", help="search algorithms and hyperparameters for the best "
                       "model within a budget", description=__doc__.split("\n\n")[0])
    s.add_argument("data", help="CSV/TSV (with a header), LibSVM or Parquet; any Spark path")
    s.add_argument("--label", help="the label column (LibSVM: label; clustering: a column "
                                   "to leave out of the features)")
    s.add_argument("--task", choices=("classification", "regression", "clustering"),
                   help="what to learn (default: from --algorithms; classification if "
                        "neither is given); clustering: KMeans restarts, with --k")
    s.add_argument("--k", type=int, help="clusters (--task clustering)")
    s.add_argument("--budget", help="passes (an integer) or a duration: 90s, 5m, 1h "
                                    "(default: one bracket of 27 configurations)")
    s.add_argument("--algorithms", help="comma-separated: LogisticRegression, LinearSVM, "
                                        "LinearRegression, DecisionTree, RandomForest, "
                                        "NaiveBayes (default: the task's linear models)")
    s.add_argument("--strategy", choices=("halving", "hyperband", "random"),
                   default="halving", help="the schedule (default: successive halving)")
    s.add_argument("--sampler", choices=("tpe", "random"),
                   help="how the brackets after the first draw their configurations: a "
                        "model of the evaluations so far (tpe, the default but for "
                        "--strategy random) or at random")
    s.add_argument("--metric", help="accuracy, logloss (classification); rmse, mae, r2 "
                                    "(regression); inertia (clustering)")
    s.add_argument("--features", help="comma-separated feature columns (default: every "
                                      "numeric column but the label)")
    s.add_argument("--weight", metavar="COLUMN", help="a column of row weights")
    s.add_argument("--test-fraction", type=float, default=0.2,
                   help="rows held out for the final metrics (default 0.2; 0: none)")
    s.add_argument("--validation", type=float, default=0.2,
                   help="fraction of the search's rows it validates on (default 0.2)")
    s.add_argument("--min-passes", type=int, help="passes of the first rung (default: the "
                                                  "task's, 4 for the linear models)")
    s.add_argument("--max-passes", type=int, help="passes at most (default: the task's, 100 "
                                                  "for the linear models)")
    s.add_argument("--seed", type=int, default=0, help="seed of the splits and the search")
    s.add_argument("--top", type=int, default=10, help="leaderboard rows printed")
    s.add_argument("--out", help="directory to save the best model in")
    s.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    s.add_argument("--plot", metavar="FILE.png", help="the search: metric against time per "
                                                      "configuration (matplotlib)")
    common_args(s)
    s.set_defaults(func=cli_command(_search))
