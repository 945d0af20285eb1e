"""Successive halving (Jamieson & Talwalkar 2016; the bandit schedule of TuPAQ, Sparks et
al. 2015): give every configuration a small budget, keep the best ``1/eta``, give the
survivors ``eta`` times the budget, until one is left or the budget reaches its maximum.

The schedule is independent of what it trains. ``run(i, config, state, start, stop)``
advances configuration ``i`` from ``start`` to ``stop`` passes over the data, resuming from
``state`` (None the first time; what ``run`` returned the time before) and returns
``(state, metric)``. A promoted configuration therefore continues where it stopped: no
pass is repeated, and the passes a configuration receives add up to its last rung's budget.

>>> from mli.search import successive_halving
>>> quality = [0.2, 0.9, 0.5, 0.7]            # a synthetic objective: metric = q * passes
>>> def run(i, config, state, start, stop):
...     return stop, config["q"] * stop
>>> best, trials = successive_halving([{"q": q} for q in quality], run, min_resource=1,
...                                   max_resource=4, eta=2)
>>> best, [(t.index, t.resource) for t in trials]
(1, [(0, 1), (1, 1), (2, 1), (3, 1), (1, 2), (3, 2), (1, 4)])
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Trial", "successive_halving", "rungs", "hyperband_brackets"]


@dataclass(frozen=True)
class Trial:
    """One evaluation: configuration ``index`` trained to ``resource`` passes (in total)
    scored ``metric`` at ``rung``; ``seconds`` its run's time (this step only)."""

    index: int
    config: dict
    rung: int
    resource: int
    metric: float
    seconds: float


def rungs(min_resource: int, max_resource: int, eta: int) -> list[int]:
    """The budgets of the rungs: ``min_resource * eta**k`` below ``max_resource``, then
    ``max_resource``."""
    for name, v in (("min_resource", min_resource), ("max_resource", max_resource),
                    ("eta", eta)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an int, got {v!r}")
    if min_resource < 1:
        raise ValueError(f"min_resource must be >= 1 (passes), got {min_resource}")
    if max_resource < min_resource:
        raise ValueError(f"max_resource ({max_resource}) must be >= min_resource "
                         f"({min_resource})")
    if eta < 2:
        raise ValueError(f"eta must be >= 2 (the factor kept out of each rung is 1/eta), "
                         f"got {eta}")
    out, r = [], min_resource
    while r < max_resource:
        out.append(r)
        r *= eta
    return out + [max_resource]


def hyperband_brackets(min_resource: int, max_resource: int, eta: int,
                       n_configs: int | None = None) -> list[tuple[int, int]]:
    """Hyperband's brackets (Li et al., JMLR 2018): ``[(configurations, first rung's
    passes)]``, from the most exploring (``n_configs`` configurations, default
    ``eta ** s_max``, at ``min_resource``) to the most patient (few configurations trained
    to ``max_resource`` from the start); ``s_max + 1`` brackets of about equal cost, each
    a successive halving over :func:`rungs` from its first rung's passes.

    >>> hyperband_brackets(4, 100, 3)
    [(27, 4), (12, 12), (6, 36), (4, 100)]
    """
    budgets = rungs(min_resource, max_resource, eta)
    s_max = len(budgets) - 1
    n = eta ** s_max if n_configs is None else n_configs
    return [(max(1, math.ceil(n * (s_max + 1) / (s + 1) / eta ** (s_max - s))),
             budgets[s_max - s]) for s in range(s_max, -1, -1)]


def successive_halving(configs: list[dict], run: Callable, *, min_resource: int = 1,
                       max_resource: int = 27, eta: int = 3, greater_is_better: bool = True,
                       callback: Callable | None = None, batch: bool = False,
                       stop: Callable | None = None) -> tuple[int | None, list[Trial]]:
    """Successive halving over ``configs``.

    Parameters
    ----------
    configs : list of dict
        The configurations (e.g. from :func:`mli.search.sample_configs`).
    run : callable ``(index, config, state, start, stop) -> (state, metric)``
        Train configuration ``index`` from ``start`` to ``stop`` passes, resuming from
        ``state`` (None at first); return the new state and the validation metric (and
        optionally a third value, smaller first, that ranks equal metrics: e.g. the
        validation log-loss under an accuracy; None: no preference).
    min_resource, max_resource : int
        Passes of the first rung, and at most.
    eta : int >= 2
        Each rung keeps the best ``n // eta`` (at least one) and multiplies the budget by
        ``eta``.
    greater_is_better : bool
        Whether a larger metric is better (accuracy, AUC) or smaller (RMSE, loss). A NaN
        metric ranks last; ties go to the smaller third value ``run`` returned, then
        to the configuration listed first.
    callback : callable ``(trial) -> None``, optional
        Called after each evaluation (progress).
    batch : bool, default False
        Call ``run`` once per rung with the list of ``(index, config, state, start, stop)``
        of every configuration alive, to return the list of ``(state, metric)`` (the rung
        trained in shared passes; each trial gets an equal share of its time).
    stop : callable ``(rung, budget, alive, done) -> bool``, optional
        Asked before each rung (``alive``: the indices about to run, ``done``: the passes
        each has had): True ends the schedule there (a budget spent).

    Returns
    -------
    (int or None, list of Trial)
        The index of the best configuration (ranked at the last rung it completed; None
        when ``stop`` ended the schedule before the first rung) and every evaluation, in
        order.
    """
    if not isinstance(configs, (list, tuple)) or not configs:
        raise ValueError("successive_halving needs at least one configuration")
    if not callable(run):
        raise TypeError(f"run must be callable (index, config, state, start, stop) -> "
                        f"(state, metric), got {type(run).__name__}")
    budgets = rungs(min_resource, max_resource, eta)
    sign = 1.0 if greater_is_better else -1.0
    states: dict[int, Any] = {}
    done = {i: 0 for i in range(len(configs))}
    alive = list(range(len(configs)))
    trials: list[Trial] = []
    best = None
    for k, budget in enumerate(budgets):
        if stop is not None and stop(k, budget, list(alive), dict(done)):
            return best, trials
        scores, ties = {}, {}

        def record(i, state, metric, seconds, tie=None):
            states[i] = state
            done[i] = budget
            metric = float(metric)
            scores[i] = -math.inf if math.isnan(metric) else sign * metric
            ties[i] = math.inf if tie is None or math.isnan(tie) else float(tie)
            trials.append(Trial(i, dict(configs[i]), k, budget, metric, seconds))
            if callback is not None:
                callback(trials[-1])

        if batch:
            t0 = time.perf_counter()
            out = run([(i, configs[i], states.get(i), done[i], budget) for i in alive])
            if len(out) != len(alive):
                raise ValueError(f"run returned {len(out)} results for {len(alive)} "
                                 "configurations")
            share = (time.perf_counter() - t0) / len(alive)
            for i, result in zip(alive, out):
                record(i, *result[:2], share, *result[2:])
        else:
            for i in alive:
                t0 = time.perf_counter()
                result = run(i, configs[i], states.get(i), done[i], budget)
                record(i, *result[:2], time.perf_counter() - t0, *result[2:])
        ranked = sorted(alive, key=lambda i: (-scores[i], ties[i], i))
        best = ranked[0]
        if k == len(budgets) - 1:
            return best, trials
        # (a last survivor still climbs to max_resource, resuming: the model it returns is
        # trained fully); the eliminated configurations' states are dropped
        alive = sorted(ranked[:max(1, len(ranked) // eta)])
        for i in ranked[len(alive):]:
            states.pop(i, None)
    raise AssertionError("unreachable")  # (the last rung returns)
