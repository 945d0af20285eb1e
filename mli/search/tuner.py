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
5. brackets of fresh configurations follow while the budget lasts.

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
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from mli.core.base import Model
from mli.search.halving import rungs, successive_halving
from mli.search.metrics import Metric, check_metric, score_many, score_ratings
from mli.search.space import IntRange, LogUniform, check_space, sample_configs
from mli.search.refit import refit_best
from mli.search.splits import split_labeled, split_ratings

__all__ = ["search", "SearchResult", "DEFAULT_SPACES", "DEFAULT_PASSES", "parse_budget",
           "budget_from_text", "RungReporter"]

log = logging.getLogger("mli")

#: each searchable algorithm's default space (override per algorithm with ``space=``)
DEFAULT_SPACES: dict[str, dict] = {
    "LogisticRegression": {"reg": LogUniform(1e-6, 1.0)},
    "LinearSVM": {"reg": LogUniform(1e-6, 1.0)},
    "LinearRegression": {"reg": LogUniform(1e-6, 10.0)},
    "ALS": {"rank": IntRange(2, 64, log=True), "reg": LogUniform(1e-3, 1.0)},
}

#: each task's default (min_passes, max_passes): optimizer iterations of the linear models
#: (100: their max_iter), ALS sweeps
DEFAULT_PASSES = {"classification": (4, 100), "regression": (4, 100),
                  "recommendation": (1, 27)}

#: the algorithms a task searches by default
DEFAULT_ALGORITHMS = {"classification": ("LogisticRegression", "LinearSVM"),
                      "regression": ("LinearRegression",), "recommendation": ("ALS",)}

TASKS = ("classification", "regression", "recommendation")

#: hyperparameters the search sets itself (the resource, and the resumable solver)
RESERVED = ("max_iter", "solver", "callback")


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found.

    Attributes
    ----------
    best_model : Model
        The best configuration's model, as trained when it was scored (on the training
        split; ``best_model.params`` are its hyperparameters, ``max_iter`` its passes).
    best_algorithm, best_params, best_metric
        Its algorithm's name, hyperparameters and validation metric.
    metric : str
        The validation metric; ``greater_is_better`` its direction.
    leaderboard : list of dict
        One row per configuration tried, best first: ``rank``, ``algorithm``, ``params``,
        ``metric`` (its best evaluation) and ``passes`` (there), ``trained`` (the most
        passes it had), ``seconds`` (its share of the search's time, by passes),
        ``bracket``.
    history : list of dict
        Every evaluation in order: ``config`` (the configuration's id), ``algorithm``,
        ``params``, ``passes``, ``metric``, ``elapsed`` (seconds since the search started),
        ``best_so_far``.
    passes : int
        Passes spent, summed over the configurations (model-passes: a batched pass of
        ``B`` models counts ``B``).
    seconds : float
        The search's wall time.
    """

    best_model: Model
    best_algorithm: str
    best_params: dict
    best_metric: float
    metric: str
    greater_is_better: bool
    leaderboard: list = field(repr=False)
    history: list = field(repr=False)
    passes: int = 0
    seconds: float = 0.0

    def to_pandas(self):
        """The leaderboard as a pandas DataFrame (one column per hyperparameter)."""
        import pandas as pd

        rows = [{k: v for k, v in r.items() if k != "params"} | dict(r["params"])
                for r in self.leaderboard]
        return pd.DataFrame(rows)

    def plot(self, path: str) -> str:
        """Draw the search to ``path`` (PNG): each configuration's validation metric against
        the search's elapsed time, a line per configuration, and the best so far."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5))
        by_config: dict[int, list] = {}
        for h in self.history:
            by_config.setdefault(h["config"], []).append((h["elapsed"], h["metric"]))
        for points in by_config.values():
            t, m = zip(*points)
            ax.plot(t, m, marker="o", markersize=3, linewidth=0.8, alpha=0.6)
        t = [h["elapsed"] for h in self.history]
        ax.step(t, [h["best_so_far"] for h in self.history], where="post", color="black",
                linewidth=2, label="best so far")
        ax.set_xlabel("seconds")
        ax.set_ylabel(f"validation {self.metric}")
        ax.set_title(f"search: {len(self.leaderboard)} configurations, {self.passes} passes")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


# ---------------------------------------------------------------------------- arguments


def parse_budget(budget) -> tuple[str, float]:
    """``("passes", n)`` for an int, ``("seconds", s)`` for a float or a string such as
    ``"90s"``, ``"5m"``, ``"1.5h"``; ValueError otherwise."""
    if isinstance(budget, bool):
        raise ValueError(f"budget must be passes (an int), seconds (a float) or a duration "
                         f"such as '5m', got {budget!r}")
    if isinstance(budget, (int, np.integer)):
        if budget < 1:
            raise ValueError(f"a budget in passes must be >= 1, got {budget}")
        return "passes", float(budget)
    if isinstance(budget, (float, np.floating)):
        if not (math.isfinite(budget) and budget > 0):
            raise ValueError(f"a budget in seconds must be > 0, got {budget}")
        return "seconds", float(budget)
    if isinstance(budget, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(s|sec|m|min|h)?\s*", budget)
        if m and float(m.group(1)) > 0:
            unit = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2) or "s"]
            return "seconds", float(m.group(1)) * unit
    raise ValueError(f"budget must be passes (an int), seconds (a float) or a duration such "
                     f"as '90s', '5m', '1h', got {budget!r}")


def budget_from_text(text: str) -> int | str:
    """A command line's ``--budget``: digits are passes (an int), anything else a duration
    for :func:`parse_budget` (checked: ValueError)."""
    budget = int(text) if str(text).strip().isdigit() else text
    parse_budget(budget)
    return budget


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
    tasks = {cls._task for _, cls in out}
    if task is None:
        if len(tasks) != 1:
            raise ValueError(f"algorithms {[n for n, _ in out]} mix tasks {sorted(tasks)}; "
                             "search one task at a time")
        task = tasks.pop()
    bad = [n for n, cls in out if cls._task != task]
    if bad:
        raise ValueError(f"algorithm(s) {bad} do not do {task}")
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"algorithms lists an algorithm twice: {[n for n, _ in out]}")
    return task, out


def _spaces(space, chosen: list[tuple[str, type]]) -> dict[str, dict]:
    """The space of each algorithm: the default, overridden by ``space`` (a space when one
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
            s = dict(space[name])
        check_space(s)
        params = cls().get_params()
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
        self.trained: dict[int, int] = {}  # the most passes a configuration had
        self.history: list[dict] = []
        self.passes = 0
        self.seconds_per_pass: float | None = None  # (model-pass, measured)
        self.best: tuple | None = None  # (score, config id, model)
        self.sign = 1.0 if metric.greater_is_better else -1.0
        self.exhausted = False  # (a rung did not start for the budget)

    # -- setup (once per algorithm)
    def setup(self, name: str):
        if name not in self.setups:
            self.setups[name] = self.classes[name]()._partial_setup(self.train)
        return self.setups[name]

    def algorithm(self, cid: int, passes: int):
        c = self.configs[cid]
        algo = self.classes[c["algorithm"]](**c["params"], max_iter=max(int(passes), 1))
        if "seed" in algo.get_params() and algo.get_params()["seed"] is None:
            algo.set_params(seed=self.seed)  # (a seeded search trains seeded models)
        algo._validate()
        return algo.set_params(**algo._partial_params())

    # -- one rung: train in batches, score in one pass
    def run(self, offset: int):
        def run_rung(items):
            t = time.perf_counter()
            groups: dict[Any, list] = {}
            states: list = [None] * len(items)
            models: list = [None] * len(items)
            for pos, (i, _cfg, state, start, stop) in enumerate(items):
                cid = offset + i
                if isinstance(state, BaseException):  # (failed before: stays failed)
                    states[pos] = state
                    continue
                algo = self.algorithm(cid, stop)
                groups.setdefault((algo._partial_key(), stop - start), []).append(
                    (pos, cid, algo, state))
            for (_key, passes), members in groups.items():
                first = members[0][2]
                setup = self.setup(self.configs[members[0][1]]["algorithm"])
                out = type(first)._partial_fit_many(setup, [m[2] for m in members],
                                                    [m[3] for m in members], passes)
                for (pos, cid, algo, _), st in zip(members, out):
                    states[pos] = st
                    if isinstance(st, BaseException):
                        log.warning("search: configuration %d (%s %s) failed: %s", cid,
                                    self.configs[cid]["algorithm"],
                                    self.configs[cid]["params"], st)
                    else:
                        models[pos] = algo._stamp(algo._partial_model(setup, st), self.train)
            live = [m for m in models if m is not None]
            scores = iter(score_ratings(live, self.valid, self.metric)
                          if self.task == "recommendation"
                          else score_many(live, self.valid.blocks, self.metric))
            metrics = [next(scores) if m is not None else float("nan") for m in models]
            spent = sum(stop - start for _i, _c, _s, start, stop in items)
            self.passes += spent
            per = (time.perf_counter() - t) / max(spent, 1)
            self.seconds_per_pass = per if self.seconds_per_pass is None else \
                0.5 * (self.seconds_per_pass + per)
            for (i, _cfg, _s, _start, stop), model, metric in zip(items, models, metrics):
                self.record(offset + i, stop, metric, model)
            return list(zip(states, metrics))
        return run_rung

    def record(self, cid: int, passes: int, metric: float, model) -> None:
        c = self.configs[cid]
        if model is not None and not math.isnan(metric):
            score = self.sign * metric
            # (a tie goes to the configuration found first, or to its longer-trained state)
            if self.best is None or score > self.best[0] or (
                    score == self.best[0] and cid == self.best[1]):
                self.best = (score, cid, model)
        best = self.best[0] * self.sign if self.best is not None else float("nan")
        entry = {"config": cid, "algorithm": c["algorithm"], "params": dict(c["params"]),
                 "passes": int(passes), "metric": float(metric),
                 "elapsed": time.perf_counter() - self.t0, "best_so_far": best}
        self.history.append(entry)
        self.trained[cid] = max(self.trained.get(cid, 0), int(passes))
        top = self.top.get(cid)
        if top is None or math.isnan(top["metric"]) or (
                not math.isnan(metric) and self.sign * metric > self.sign * top["metric"]):
            self.top[cid] = entry
        if self.callback is not None:
            self.callback(dict(entry))

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
        cost = sum(budget - done[i] for i in alive)
        if self.over(cost):
            self.exhausted = True
            log.info("search: the budget is spent (%d passes, %.1f s); stopping before a "
                     "rung of %d configurations x %d passes", self.passes,
                     time.perf_counter() - self.t0, len(alive), budget)
            return True
        log.info("search: rung %d, %d configurations to %d passes (best so far %s)", k,
                 len(alive), budget, "-" if self.best is None else
                 f"{self.best[0] * self.sign:.5g}")
        return False


def search(data, y=None, *, label: str | None = None, task: str | None = None,
           metric: str | None = None, budget: int | float | str | None = None,
           algorithms=None, space: dict | None = None, validation=0.2, seed: int = 0,
           n_configs: int | None = None, min_passes: int | None = None,
           max_passes: int | None = None,
           eta: int = 3, strategy: str = "halving", sample_weight=None,
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
    task : {"classification", "regression", "recommendation"}, optional
        What to learn; read from ``algorithms`` when omitted. "recommendation" searches ALS
        on ``(user, item, rating)`` triples (an ``(n, 3)`` array or a table with those
        columns; no ``y`` or ``label``), scored by the validation ratings' RMSE.
    metric : str, optional
        The validation metric (:data:`mli.search.metrics.METRICS`): "accuracy" (default
        for classification), "logloss", "rmse" (default for regression and
        recommendation), "mae", "r2".
    budget : int, float or str, optional
        Passes (an int: model-passes, summed over the configurations) or seconds (a float,
        or "90s", "5m", "1h"). Brackets of fresh configurations run until it is spent; a
        rung that would exceed it does not start (a time budget is checked against the
        measured time per pass, so it is met up to that estimate). None: one bracket.
    algorithms : str, class or list of them, optional
        Names in :mod:`mli.algorithms` (default: the task's, :data:`DEFAULT_ALGORITHMS`).
    space : dict, optional
        The search space (``{hyperparameter: dimension or constant}``, see
        :mod:`mli.search.space`) of the one algorithm searched, or ``{algorithm name:
        space}``; an algorithm not named keeps its :data:`DEFAULT_SPACES` entry.
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
    strategy : {"halving", "random"}, default "halving"
        "random": plain random search, every configuration trained to ``max_passes`` (the
        baseline; batched too).
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
    if strategy not in ("halving", "random"):
        raise ValueError(f"strategy must be 'halving' or 'random', got {strategy!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int, got {seed!r}")
    budgets = rungs(min_passes, max_passes, eta) if strategy == "halving" else [max_passes]
    if n_configs is None:
        n_configs = eta ** (len(budgets) - 1) if strategy == "halving" else 8
    if isinstance(n_configs, bool) or not isinstance(n_configs, (int, np.integer)) \
            or n_configs < 1:
        raise ValueError(f"n_configs must be an int >= 1, got {n_configs!r}")
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
        train, valid, owned = split_labeled(data, y, label, validation, int(seed), sample_weight)
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
            n = n_configs
            if budget_kind[0] == "passes" and math.isfinite(budget_kind[1]):
                n = min(n, int((budget_kind[1] - state.passes) // budgets[0]))
            if n < 1:
                break
            offset = len(state.configs)
            configs = _draw(usable, spaces, n, int(seed) + bracket)
            for c in configs:
                state.configs.append({**c, "bracket": bracket})
            best, _trials = successive_halving(
                [c["params"] for c in configs], state.run(offset),
                min_resource=budgets[0], max_resource=budgets[-1], eta=eta,
                greater_is_better=m.greater_is_better, batch=True, stop=state.stop)
            bracket += 1
            if best is None or budget is None or state.exhausted:
                break
            if budget_kind[0] == "seconds" and state.over(budgets[0] * n_configs):
                break
        if state.best is None:
            raise ValueError("no configuration could be trained and scored (see the log "
                             "for each one's error; recommendation: does the validation "
                             "share users and items with the training ratings?)")
        result = _result(state, m)
    finally:
        for d in owned:
            d.release()
    if refit:
        result = refit_best(result, state.classes[result.best_algorithm], data, y,
                            validation, sample_weight, label, task)
    return result


def _draw(names: list[str], spaces: dict, n: int, seed: int) -> list[dict]:
    """``n`` configurations, the algorithms taking turns, each drawn from its space."""
    rng = np.random.default_rng(seed)
    picks = [names[j % len(names)] for j in range(n)]
    rng.shuffle(picks)
    out = []
    for name in names:
        k = picks.count(name)
        if k:
            drawn = sample_configs(spaces[name], k, seed=int(rng.integers(2**31))) \
                if spaces[name] else [{} for _ in range(k)]
            out.extend({"algorithm": name, "params": p} for p in drawn)
    return out


def _result(state: _Search, m: Metric) -> SearchResult:
    score, cid, model = state.best
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
                             else math.inf, r["config"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    c = state.configs[cid]
    return SearchResult(best_model=model, best_algorithm=c["algorithm"],
                        best_params=dict(c["params"]), best_metric=score * sign,
                        metric=m.name, greater_is_better=m.greater_is_better,
                        leaderboard=rows, history=state.history, passes=int(state.passes),
                        seconds=total)
