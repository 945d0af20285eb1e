"""``search``: the ML Optimizer's entry point. State the data, the label, a budget; get the
best model found, a leaderboard of every configuration tried and the search's history.

How (TuPAQ, Sparks et al. 2015):

1. hold out a validation split (``validation``, reproducible under ``seed``);
2. draw configurations from each algorithm's search space (:data:`DEFAULT_SPACES`, or
   ``space=``);
3. run successive halving (:func:`mli.search.successive_halving`): every configuration gets
   ``min_passes`` passes over the data, is scored on the validation split, the best third
   are resumed from their state (no pass repeated) for three times the passes, and so on
   up to ``max_passes``;
4. batching: each rung trains the configurations that share their loss and solver in the
   same passes (:func:`mli.optimize.minimize_many`: one ``X @ W`` per block for all of
   them) and scores every model of the rung in one pass over the validation split;
5. brackets of fresh configurations follow while the budget lasts, proposed from a model of
   the evaluations so far (:mod:`mli.search.tpe`, as BOHB).

>>> import numpy as np
>>> from mli.search import search                                  # doctest: +SKIP
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2000, 5)); y = (X[:, 0] + X[:, 1] > 0).astype(float)
>>> result = search(X, y, task="classification", budget=300, seed=0)   # doctest: +SKIP
>>> result.best_metric > 0.95, result.best_algorithm                # doctest: +SKIP
(True, 'LogisticRegression')
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

import numpy as np

from mli.core.params import declared_params, required_params
from mli.search.halving import hyperband_brackets, rungs, successive_halving
from mli.search.metrics import Metric, check_metric, score_many, score_ratings
from mli.search.space import Choice, IntRange, LogUniform, check_space
from mli.search.budget import parse_budget
from mli.search.refit import refit_best
from mli.search.result import SearchResult
from mli.search.splits import split_labeled, split_ratings
from mli.search.tpe import draw

__all__ = ["search", "DEFAULT_SPACES", "DEFAULT_PASSES", "RungReporter"]

log = logging.getLogger("mli")

#: each searchable algorithm's default space (override per algorithm with ``space=``)
DEFAULT_SPACES: dict[str, dict] = {
    "LogisticRegression": {"reg": LogUniform(1e-6, 1.0)},
    "LinearSVM": {"reg": LogUniform(1e-6, 1.0)},
    "LinearRegression": {"reg": LogUniform(1e-6, 10.0)},
    "ALS": {"rank": IntRange(2, 64, log=True), "reg": LogUniform(1e-3, 1.0)},
    "DecisionTree": {"max_depth": IntRange(2, 12), "min_samples_leaf": IntRange(1, 64, log=True)},
    "RandomForest": {"max_depth": IntRange(4, 12), "min_samples_leaf": IntRange(1, 16, log=True),
                     "max_features": Choice(("sqrt", "log2", "onethird"))},
    "KMeans": {"init": Choice(("k-means||", "random"))},
    "NaiveBayes": {"smoothing": LogUniform(1e-3, 10.0),
                   "kind": Choice(("multinomial", "bernoulli", "gaussian"))},
}

#: each task's default (min_passes, max_passes): optimizer iterations of the linear models
#: (100: their max_iter; a tree's levels, Naive Bayes' one pass), ALS sweeps, Lloyd iterations
DEFAULT_PASSES = {"classification": (4, 100), "regression": (4, 100),
                  "recommendation": (1, 27), "clustering": (2, 18)}

#: the algorithms a task searches by default
DEFAULT_ALGORITHMS = {"classification": ("LogisticRegression", "LinearSVM"),
                      "regression": ("LinearRegression",), "recommendation": ("ALS",),
                      "clustering": ("KMeans",)}

TASKS = ("classification", "regression", "recommendation", "clustering")

#: the schedules: successive halving, Hyperband's brackets, plain random search
STRATEGIES = ("halving", "hyperband", "random")

#: how a bracket's configurations are drawn: a model of the evaluations so far, at random
SAMPLERS = ("tpe", "random")

#: hyperparameters the search sets itself (the resource, and the resumable solver)
RESERVED = ("max_iter", "solver", "callback", "task")

#: why a clustering search wants k given
CLUSTERS_NOTE = ("; a fixed k: the validation inertia falls as k grows, so a searched k "
                 "would go to its largest")


# ---------------------------------------------------------------------------- arguments


class RungReporter:
    """A :func:`search` callback that gathers each rung's evaluations and calls
    ``report(entries)`` as the rung ends (call :meth:`flush` after the search for the last
    one): a rung ends where the passes of the evaluations change."""

    def __init__(self, report: Callable[[list], None]):
        self.report, self.entries = report, []

    def __call__(self, entry: dict) -> None:
        if self.entries and entry["passes"] != self.entries[-1]["passes"]:
            self.flush()
        self.entries.append(entry)

    def flush(self) -> None:
        if self.entries:
            entries, self.entries = self.entries, []
            self.report(entries)


def _algorithm_classes(algorithms, task: str | None) -> tuple[str, list[tuple[str, type]]]:
    """The task and ``[(name, class)]`` to search."""
    from mli import algorithms as algos

    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}, got {task!r}")
    if algorithms is None:
        if task is None:
            raise ValueError("give task= ('classification', 'regression' or "
                             "'recommendation') or algorithms=")
        algorithms = DEFAULT_ALGORITHMS[task]
    if isinstance(algorithms, str) or isinstance(algorithms, type):
        algorithms = [algorithms]
    out = []
    for a in algorithms:
        name = a if isinstance(a, str) else getattr(a, "__name__", repr(a))
        cls = getattr(algos, name, None) if isinstance(a, str) else a
        if not (isinstance(cls, type) and getattr(cls, "_resumable", False)):
            raise ValueError(f"unknown or unsearchable algorithm {name!r}; the search trains "
                             f"{', '.join(sorted(DEFAULT_SPACES))}")
        out.append((name, cls))
    if task is None:
        common = set.intersection(*(set(_tasks(cls)) for _, cls in out))
        if len(common) != 1:
            raise ValueError(f"algorithms {[n for n, _ in out]} do not name one task (they "
                             f"do {sorted(set().union(*(_tasks(c) for _, c in out)))}); give "
                             "task=")
        task = common.pop()
    bad = [n for n, cls in out if task not in _tasks(cls)]
    if bad:
        raise ValueError(f"algorithm(s) {bad} do not do {task}")
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"algorithms lists an algorithm twice: {[n for n, _ in out]}")
    return task, out


def _tasks(cls) -> tuple[str, ...]:
    """The tasks an algorithm class learns."""
    return (cls._task,) if isinstance(cls._task, str) else tuple(cls._task)


def _spaces(space, chosen: list[tuple[str, type]]) -> dict[str, dict]:
    """The space of each algorithm: the default, updated by ``space`` (a space when one
    algorithm is searched, else ``{algorithm name: space}``)."""
    names = [n for n, _ in chosen]
    if space is None:
        space = {}
    elif not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty dict {{hyperparameter: dimension}} (or "
                         f"{{algorithm: space}}), got {space!r}")
    elif len(names) == 1 and not set(space) <= set(names):
        space = {names[0]: space}
    unknown = set(space) - set(names)
    if unknown:
        raise ValueError(f"space names algorithm(s) {sorted(unknown)} that are not searched "
                         f"({names}); with several algorithms space is {{name: space}}")
    out = {}
    for name, cls in chosen:
        s = dict(DEFAULT_SPACES.get(name, {}))
        if name in space:
            if not isinstance(space[name], dict):
                raise ValueError(f"space[{name!r}] must be a dict {{hyperparameter: "
                                 f"dimension}}, got {space[name]!r}")
            s.update(space[name])
        check_space(s)
        params = declared_params(cls)
        missing = [p for p in required_params(cls) if p not in s]
        if missing:
            note = CLUSTERS_NOTE if name == "KMeans" else ""
            raise ValueError(f"Invalid search space for {name}: it needs {missing[0]!r} (e.g. "
                             f"space={{{missing[0]!r}: 8}}{note})")
        for p in s:
            if p in RESERVED:
                raise ValueError(f"Invalid search space for {name}: {p!r} is set by the search "
                                 "(the passes a configuration gets are its max_iter)")
            if p not in params:
                raise ValueError(f"Invalid search space for {name}: it has no hyperparameter "
                                 f"{p!r} (it has {', '.join(sorted(params))})")
        out[name] = s
    return out


# ---------------------------------------------------------------------------- the search


class _Search:
    """The state of one :func:`search`: configurations, setups, records, the budget."""

    def __init__(self, train, valid, chosen, spaces, metric: Metric, budget, t0, callback,
                 task: str, seed: int):
        self.train, self.valid, self.metric = train, valid, metric
        self.task, self.seed = task, seed
        self.classes = dict(chosen)
        self.spaces = spaces
        self.setups: dict[str, Any] = {}
        self.kind, self.amount = budget
        self.t0, self.callback = t0, callback
        self.configs: list[dict] = []  # every configuration: algorithm, params, bracket
        self.top: dict[int, dict] = {}  # a configuration's best evaluation
        self.top_tie: dict[int, float] = {}  # and what ranks its ties (log-loss)
        self.trained: dict[int, int] = {}  # the most passes a configuration had
        self.history: list[dict] = []
        self.passes = 0
        self.seconds_per_pass: float | None = None  # (model-pass, measured)
        self.best: tuple | None = None  # (score, config id, model)
        self.sign = 1.0 if metric.greater_is_better else -1.0
        self.exhausted = False  # (a rung did not start for the budget)
        self.complete: dict[int, tuple] = {}  # configurations done: (model, metric)
        self.open_states: list = []  # states to close when the search ends (trees)
        self.caps: dict[int, int | None] = {}  # a configuration's _partial_max_passes
        self.offset = 0

    # -- setup (once per algorithm)
    def setup(self, name: str):
        if name not in self.setups:
            cls, space = self.classes[name], self.spaces[name]
            required = {p: space[p].sample(np.random.default_rng(0))
                        if hasattr(space[p], "sample") else space[p]
                        for p in required_params(cls)}  # (KMeans' k: any will do)
            self.setups[name] = cls(**required)._partial_setup(self.train)
        return self.setups[name]

    def algorithm(self, cid: int, passes: int):
        c = self.configs[cid]
        algo = self.classes[c["algorithm"]](**c["params"])
        params = algo.get_params()
        if algo._partial_max_passes() is None and "max_iter" in params:
            algo.set_params(max_iter=max(int(passes), 1))
        if "task" in params:  # (trees learn either task)
            algo.set_params(task=self.task)
        if "seed" in params and params["seed"] is None:  # (a seeded search: seeded models)
            algo.set_params(seed=int(np.random.default_rng([self.seed, cid]).integers(2**31 - 1))
                            if algo._partial_restarts else self.seed)
        algo._validate()
        return algo.set_params(**algo._partial_params())

    # -- one rung: train in batches, score in one pass
    def end(self, cid: int, start: int, stop: int) -> int:
        """The passes configuration ``cid`` has after a rung of ``stop`` passes, from
        ``start``: ``stop``, or fewer when it is complete sooner (its algorithm's
        ``_partial_max_passes``)."""
        if cid not in self.caps:
            self.caps[cid] = self.algorithm(cid, stop)._partial_max_passes()
        cap = self.caps[cid]
        return stop if cap is None else min(stop, max(int(cap), start + 1))

    def run(self, offset: int):
        self.offset = offset  # (the bracket's first configuration, for stop())

        def run_rung(items):
            t = time.perf_counter()
            groups: dict[Any, list] = {}
            n = len(items)
            states: list = [None] * n
            models: list = [None] * n
            metrics: list = [None] * n
            ties: list = [None] * n  # (the log-loss under an accuracy: ranks its ties)
            spent, ends = 0, {}
            for pos, (i, _cfg, state, start, stop) in enumerate(items):
                cid = offset + i
                if isinstance(state, BaseException):  # (failed before: stays failed)
                    states[pos], metrics[pos] = state, float("nan")
                    continue
                if cid in self.complete:  # (all its passes had: its model and metric stand)
                    states[pos], ends[pos] = state, self.trained[cid]
                    models[pos], metrics[pos], ties[pos] = self.complete[cid]
                    continue
                algo = self.algorithm(cid, stop)
                end = self.end(cid, start, stop)
                spent += end - start
                ends[pos] = end
                groups.setdefault((algo._partial_key(), end - start), []).append(
                    (pos, cid, algo, state, end == self.caps[cid]))
            trained = []
            for (_key, passes), members in groups.items():
                first = members[0][2]
                setup = self.setup(self.configs[members[0][1]]["algorithm"])
                out = type(first)._partial_fit_many(setup, [m[2] for m in members],
                                                    [m[3] for m in members], passes)
                for (pos, cid, algo, _, complete), st in zip(members, out):
                    states[pos] = st
                    if hasattr(st, "close"):
                        self.open_states.append(st)
                    if isinstance(st, BaseException):
                        metrics[pos] = float("nan")
                        log.warning("search: configuration %d (%s %s) failed: %s", cid,
                                    self.configs[cid]["algorithm"],
                                    self.configs[cid]["params"], st)
                    else:
                        models[pos] = algo._stamp(
                            algo._partial_model(setup, st), self.train,
                            {**algo.get_params(), **algo._partial_fitted_params(st)})
                        trained.append((pos, cid, complete))
            live = [models[pos] for pos, _, _ in trained]
            scores = ([(v, None) for v in score_ratings(live, self.valid, self.metric)]
                      if self.task == "recommendation"
                      else score_many(live, self.valid.blocks, self.metric, tiebreak=True))
            for (pos, cid, complete), (score, tie) in zip(trained, scores):
                metrics[pos], ties[pos] = score, tie
                if complete:
                    self.complete[cid] = (models[pos], score, tie)
            self.passes += spent
            if spent:
                per = (time.perf_counter() - t) / spent
                self.seconds_per_pass = per if self.seconds_per_pass is None else \
                    0.5 * (self.seconds_per_pass + per)
            for pos, ((i, _cfg, _s, _start, stop), model, metric) in enumerate(
                    zip(items, models, metrics)):
                self.record(offset + i, stop, metric, model, ends.get(pos, stop), ties[pos])
            return list(zip(states, metrics, ties))
        return run_rung

    def record(self, cid: int, passes: int, metric: float, model, trained: int,
               tie: float | None = None) -> None:
        """An evaluation at the rung of ``passes`` (``trained``: the passes the
        configuration has had, fewer when it was complete before; ``tie``: what ranks equal
        metrics, smaller first, or None)."""
        c = self.configs[cid]
        if model is not None and not math.isnan(metric):
            score = (self.sign * metric, -math.inf if tie is None else -tie)
            # (a tie goes to the smaller log-loss, else to the configuration found first, or
            # to its longer-trained state)
            if self.best is None or score > self.best[0] or (
                    score == self.best[0] and cid == self.best[1]):
                self.best = (score, cid, model)
        best = self.best[0][0] * self.sign if self.best is not None else float("nan")
        entry = {"config": cid, "algorithm": c["algorithm"], "params": dict(c["params"]),
                 "passes": int(passes), "metric": float(metric),
                 "elapsed": time.perf_counter() - self.t0, "best_so_far": best}
        self.history.append(entry)
        self.trained[cid] = max(self.trained.get(cid, 0), int(trained))
        top = self.top.get(cid)
        if top is None or math.isnan(top["metric"]) or (
                not math.isnan(metric) and self.sign * metric > self.sign * top["metric"]):
            self.top[cid], self.top_tie[cid] = entry, math.inf if tie is None else tie
        if self.callback is not None:
            self.callback(dict(entry))

    def observed(self, name: str) -> list[tuple[dict, int, float]]:
        """Algorithm ``name``'s evaluations: (params, passes, score), larger better."""
        return [(h["params"], h["passes"], self.sign * h["metric"]) for h in self.history
                if h["algorithm"] == name]

    # -- the budget
    def over(self, cost: int) -> bool:
        """Whether ``cost`` more model-passes would exceed the budget."""
        if self.kind == "passes":
            return self.passes + cost > self.amount
        if self.seconds_per_pass is None:
            return False
        elapsed = time.perf_counter() - self.t0
        return elapsed + cost * self.seconds_per_pass > self.amount

    def stop(self, k, budget, alive, done) -> bool:
        cost = sum(self.end(self.offset + i, done[i], budget) - done[i] for i in alive
                   if self.offset + i not in self.complete)
        if self.over(cost):
            self.exhausted = True
            log.info("search: the budget is spent (%d passes, %.1f s); stopping before a "
                     "rung of %d configurations x %d passes", self.passes,
                     time.perf_counter() - self.t0, len(alive), budget)
            return True
        log.info("search: rung %d, %d configurations to %d passes (best so far %s)", k,
                 len(alive), budget, "-" if self.best is None else
                 f"{self.best[0][0] * self.sign:.5g}")
        return False


def search(data, y=None, *, label: str | None = None, task: str | None = None,
           metric: str | None = None, budget: int | float | str | None = None,
           algorithms=None, space: dict | None = None, validation=0.2, seed: int = 0,
           n_configs: int | None = None, min_passes: int | None = None,
           max_passes: int | None = None,
           eta: int = 3, strategy: str = "halving", sampler: str | None = None,
           sample_weight=None,
           refit: bool = False, callback: Callable | None = None) -> SearchResult:
    """Search algorithms and hyperparameters for the best validation metric within a budget.

    Parameters
    ----------
    data : ndarray, scipy sparse matrix, MLTable, pandas or Spark DataFrame
        The features (and, for tables, the label column named by ``label``).
    y : array-like, optional
        Labels, with array input.
    label : str, optional
        The label column, with table input.
    task : {"classification", "regression", "recommendation", "clustering"}, optional
        What to learn; read from ``algorithms`` when omitted. "recommendation" searches ALS
        on ``(user, item, rating)`` triples (an ``(n, 3)`` array or a table with those
        columns; no ``y`` or ``label``), scored by the validation ratings' RMSE.
        "clustering" searches KMeans restarts (each configuration its own seed; give ``k``
        in ``space``) on features only, scored by the validation rows' inertia.
    metric : str, optional
        The validation metric (:data:`mli.search.metrics.METRICS`): "accuracy" (default
        for classification), "logloss", "rmse" (default for regression and
        recommendation), "mae", "r2", "inertia" (clustering: the mean squared distance of
        a validation row to its nearest center).
    budget : int, float or str, optional
        Passes (an int: model-passes, summed over the configurations) or seconds (a float,
        or "90s", "5m", "1h"). Brackets of fresh configurations run until it is spent; a
        rung that would exceed it does not start (a time budget is checked against the
        measured time per pass, so it is met up to that estimate). None: one bracket
        (Hyperband: one round of its brackets).
    algorithms : str, class or list of them, optional
        Names in :mod:`mli.algorithms` (default: the task's, :data:`DEFAULT_ALGORITHMS`):
        LogisticRegression, LinearSVM, LinearRegression, DecisionTree, RandomForest,
        NaiveBayes, ALS, KMeans. A tree's passes are its levels (resumed a level at a
        time, complete at ``max_depth``); Naive Bayes is complete after one pass, whose
        counts serve every smoothing.
    space : dict, optional
        The search space (``{hyperparameter: dimension or constant}``, see
        :mod:`mli.search.space`) of the one algorithm searched, or ``{algorithm name:
        space}``: it updates the algorithm's :data:`DEFAULT_SPACES` entry (a dimension given
        replaces the default's; a constant fixes a hyperparameter). KMeans needs ``k``.
    validation : float or data, default 0.2
        The fraction of rows held out for validation (split reproducibly under ``seed``),
        or validation data of the same kind as ``data`` (``(X, y)`` for arrays).
    seed : int, default 0
        Seeds the split and the configurations: a pass budget gives the same search.
    n_configs : int, optional
        Configurations per bracket (default ``eta ** (number of rungs - 1)``, 27).
    min_passes, max_passes : int, optional
        The passes of the first rung and at most (a configuration's ``max_iter``); by
        default :data:`DEFAULT_PASSES` of the task (4 and 100 iterations for the linear
        models, 1 and 27 sweeps for ALS).
    eta : int, default 3
        Each rung keeps the best ``1 / eta`` and gives them ``eta`` times the passes.
    strategy : {"halving", "hyperband", "random"}, default "halving"
        "halving": every bracket is successive halving from ``min_passes``. "hyperband":
        the brackets take turns from the most exploring (``n_configs`` at ``min_passes``)
        to the most patient (a few configurations at ``max_passes`` from the start;
        :func:`mli.search.hyperband_brackets`), a hedge when early passes mis-rank
        configurations. "random": plain random search, every configuration trained to
        ``max_passes`` (the baseline; batched too).
    sampler : {"tpe", "random"}, optional
        How the configurations of a bracket are drawn. The first bracket's are random;
        "tpe" (the default of "halving" and "hyperband") proposes the later brackets' from
        a model of the evaluations so far, as BOHB does (:func:`mli.search.tpe.propose`:
        a third of them still random); "random" (the default of strategy "random", plain
        random search) draws every bracket's at random. It matters when several brackets
        run: with a ``budget``, or Hyperband's.
    sample_weight : str or array-like, optional
        Row weights (see :meth:`mli.core.base.Algorithm.fit`): a column name for tables.
    refit : bool, default False
        Train the best configuration again (its algorithm, hyperparameters and passes) on
        all the rows, training and validation (as pyspark.ml's TrainValidationSplit does):
        ``best_model`` is then that model. With validation data given separately, only array
        data (stacked with it) and recommendation triples can be refitted.
    callback : callable, optional
        ``callback(entry)`` after every evaluation (a :attr:`SearchResult.history` entry).

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError
        An unknown task, metric or algorithm, a malformed space, a budget that cannot pay
        for one rung, bad data (as :meth:`fit` reports it).
    """
    t0 = time.perf_counter()
    task, chosen = _algorithm_classes(algorithms, task)
    m = check_metric(metric, task)
    spaces = _spaces(space, chosen)
    lo, hi = DEFAULT_PASSES[task]
    min_passes = lo if min_passes is None else min_passes
    max_passes = max(hi, min_passes) if max_passes is None else max_passes
    budget_kind = parse_budget(budget) if budget is not None else ("passes", math.inf)
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got "
                         f"{strategy!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if sampler is None:
        sampler = "random" if strategy == "random" else "tpe"
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(map(repr, SAMPLERS))}, got "
                         f"{sampler!r}")
    budgets = rungs(min_passes, max_passes, eta) if strategy != "random" else [max_passes]
    if n_configs is None:
        n_configs = eta ** (len(budgets) - 1) if strategy != "random" else 8
    if isinstance(n_configs, bool) or not isinstance(n_configs, (int, np.integer)) \
            or n_configs < 1:
        raise ValueError(f"n_configs must be an int >= 1, got {n_configs!r}")
    # each bracket's (configurations, first rung's passes), repeated while the budget lasts
    brackets = (hyperband_brackets(min_passes, max_passes, eta, int(n_configs))
                if strategy == "hyperband" else [(int(n_configs), budgets[0])])
    if budget_kind[0] == "passes" and budget_kind[1] < budgets[0]:
        raise ValueError(f"budget={budget} passes cannot pay for one configuration's first "
                         f"rung ({budgets[0]} passes); give at least {budgets[0]}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable, got {type(callback).__name__}")

    if task == "recommendation":
        if y is not None or label is not None or sample_weight is not None:
            raise ValueError("recommendation takes (user, item, rating) triples: no y, label "
                             "or sample_weight (name the columns in the ALS space: user_col, "
                             "item_col, rating_col)")
        fixed = spaces.get("ALS", {})
        names = tuple(fixed.get(k, d) for k, d in (("user_col", "user"), ("item_col", "item"),
                                                     ("rating_col", "rating")))
        train, valid, owned = split_ratings(data, validation, int(seed), names)
    else:
        train, valid, owned = split_labeled(data, y, label, validation, int(seed), sample_weight,
                                            unlabeled=task == "clustering")
    state = _Search(train, valid, chosen, spaces, m, budget_kind, t0, callback, task,
                    abs(int(seed)))
    try:
        usable = []
        for name, _cls in chosen:
            try:
                state.setup(name)
                usable.append(name)
            except ValueError as exc:
                if algorithms is not None:
                    raise
                log.info("search: %s left out: %s", name, exc)  # (LinearSVM, 3 classes)
        bracket = 0
        while True:
            n, first = brackets[bracket % len(brackets)]
            if budget_kind[0] == "passes" and math.isfinite(budget_kind[1]):
                n = min(n, int((budget_kind[1] - state.passes) // first))
            if n < 1:
                break
            offset = len(state.configs)
            configs = draw(usable, spaces, n, int(seed) + bracket,
                            state.observed if sampler == "tpe" and bracket else None)
            for c in configs:
                state.configs.append({**c, "bracket": bracket})
            best, _trials = successive_halving(
                [c["params"] for c in configs], state.run(offset),
                min_resource=first, max_resource=budgets[-1], eta=eta,
                greater_is_better=m.greater_is_better, batch=True, stop=state.stop)
            bracket += 1
            if best is None or state.exhausted or (budget is None and
                                                   bracket == len(brackets)):
                break
            if budget_kind[0] == "seconds" and state.over(
                    brackets[bracket % len(brackets)][1] * brackets[bracket % len(brackets)][0]):
                break
        if state.best is None:
            raise ValueError("no configuration could be trained and scored (see the log "
                             "for each one's error; recommendation: does the validation "
                             "share users and items with the training ratings?)")
        result = _result(state, m)
    finally:
        for st in state.open_states:
            st.close()
        for d in owned:
            d.release()
    if refit:
        result = refit_best(result, state.classes[result.best_algorithm], data, y,
                            validation, sample_weight, label, task)
    return result


def _result(state: _Search, m: Metric) -> SearchResult:
    (score, _tie), cid, model = state.best
    sign = state.sign
    rows = []
    total = time.perf_counter() - state.t0
    spent = sum(state.trained.values()) or 1
    for c, entry in state.top.items():
        rows.append({"config": c, "algorithm": entry["algorithm"], "params": entry["params"],
                     "passes": entry["passes"], "metric": entry["metric"],
                     "trained": state.trained[c], "seconds": total * state.trained[c] / spent,
                     "bracket": state.configs[c]["bracket"]})
    rows.sort(key=lambda r: (-(sign * r["metric"]) if not math.isnan(r["metric"])
                             else math.inf, state.top_tie[r["config"]], r["config"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    c = state.configs[cid]
    return SearchResult(best_model=model, best_algorithm=c["algorithm"],
                        best_params=dict(c["params"]), best_metric=score * sign,
                        metric=m.name, greater_is_better=m.greater_is_better,
                        leaderboard=rows, history=state.history, passes=int(state.passes),
                        seconds=total)
