"""mli.search, first slice: search spaces and the successive-halving schedule, on synthetic
objectives (no Spark): who is promoted and eliminated, resumption without repeated passes,
determinism under a seed, and wrong input."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import mli.search.halving as halving_module
import mli.search.space as space_module
from mli.search import (Choice, IntRange, LogUniform, Uniform, hyperband_brackets, rungs,
                        sample_configs, successive_halving)


def test_docstring_examples_run():
    for mod in (space_module, halving_module):
        result = doctest.testmod(mod)
        assert result.attempted >= 2 and result.failed == 0, mod.__name__


def test_rungs():
    assert rungs(1, 27, 3) == [1, 3, 9, 27]
    assert rungs(2, 20, 3) == [2, 6, 18, 20]
    assert rungs(5, 5, 2) == [5]


def test_hyperband_brackets():
    # Li et al.'s table for R = 81, eta = 3: n = 81, 34, 15, 8, 5 at r = 1, 3, 9, 27, 81
    assert hyperband_brackets(1, 81, 3) == [(81, 1), (34, 3), (15, 9), (8, 27), (5, 81)]
    assert hyperband_brackets(4, 100, 3) == [(27, 4), (12, 12), (6, 36), (4, 100)]
    assert hyperband_brackets(4, 100, 3, n_configs=9) == [(9, 4), (4, 12), (2, 36), (2, 100)]
    assert hyperband_brackets(5, 5, 2) == [(1, 5)]
    with pytest.raises(ValueError, match="eta must be >= 2"):
        hyperband_brackets(1, 9, 1)


def test_halving_promotes_the_best_third_and_resumes():
    # 27 configurations, eta 3: rungs of 27, 9, 3, 1 at 1, 3, 9, 27 passes; the metric
    # (greater is better) is q * (1 - exp(-passes)), so the ranking is that of q
    rng = np.random.default_rng(0)
    quality = rng.permutation(27) / 26.0
    calls = []

    def run(i, config, state, start, stop):
        calls.append((i, start, stop))
        assert state == (None if start == 0 else (i, start))   # resumed from its own state
        return (i, stop), config["q"] * (1 - math.exp(-stop))

    best, trials = successive_halving([{"q": q} for q in quality], run, min_resource=1,
                                      max_resource=27, eta=3)
    assert best == int(np.argmax(quality))
    by_rung = [[t.index for t in trials if t.rung == k] for k in range(4)]
    assert [len(r) for r in by_rung] == [27, 9, 3, 1]
    for k in range(1, 4):  # each rung holds exactly the best third of the one before
        prev = by_rung[k - 1]
        want = sorted(sorted(prev, key=lambda i: -quality[i])[:len(prev) // 3])
        assert by_rung[k] == want
    assert {t.resource for t in trials if t.rung == 2} == {9}
    # no pass repeated: each call starts where the configuration's last one stopped
    spent = sum(stop - start for _, start, stop in calls)
    assert spent == 27 * 1 + 9 * (3 - 1) + 3 * (9 - 3) + 1 * (27 - 9)


def test_resumed_training_equals_straight_through():
    # gradient descent on a quadratic, resumable from its iterate: the survivor's final
    # state after 1 + 2 + 6 + 18 passes equals 27 passes in one go
    def steps(w, lr, n):
        for _ in range(n):
            w = w - lr * 2 * (w - 3.0)
        return w

    final = {}

    def run(i, config, state, start, stop):
        final[i] = w = steps(0.0 if state is None else state, config["lr"], stop - start)
        return w, -(w - 3.0) ** 2

    configs = [{"lr": lr} for lr in (0.001, 0.01, 0.02, 0.05, 0.2, 0.003, 0.1, 0.004, 0.03)]
    best, trials = successive_halving(configs, run, min_resource=1, max_resource=27, eta=3)
    assert configs[best]["lr"] == 0.2
    assert final[best] == steps(0.0, 0.2, 27)
    assert trials[-1].resource == 27 and trials[-1].index == best


def test_smaller_is_better_nan_last_and_ties_to_the_first():
    metrics = {0: 0.5, 1: float("nan"), 2: 0.1, 3: 0.1}

    def run(i, config, state, start, stop):
        return None, metrics[i]

    best, trials = successive_halving([{}] * 4, run, min_resource=1, max_resource=2, eta=2,
                                      greater_is_better=False)
    assert best == 2                               # 2 and 3 tie: the first listed wins
    assert [t.index for t in trials if t.rung == 1] == [2, 3]
    best, _ = successive_halving([{}] * 4, run, min_resource=1, max_resource=2, eta=2)
    assert best == 0                               # greater is better: NaN still last


def test_a_third_value_ranks_equal_metrics():
    """Equal metrics (an accuracy's many ties) rank by the smaller third value run returns
    (a validation log-loss), then by the order of the configurations."""
    ties = [0.5, 0.1, 0.3, None]

    def run(items):
        return [(stop, 0.9, ties[i]) for i, _config, _state, _start, stop in items]
    best, trials = successive_halving([{}] * 4, run, min_resource=1, max_resource=3, eta=3,
                                      batch=True)
    assert best == 1 and [t.index for t in trials if t.rung == 1] == [1]


def test_callback_sees_every_trial():
    seen = []
    _, trials = successive_halving([{"q": q} for q in (1, 2, 3)],
                                   lambda i, c, s, a, b: (None, c["q"] * b),
                                   min_resource=1, max_resource=4, eta=2, callback=seen.append)
    assert seen == trials and len(trials) == 3 + 1 + 1


def test_sampling_is_reproducible_and_within_bounds():
    space = {"reg": LogUniform(1e-6, 1.0), "l1_ratio": Uniform(0.0, 1.0),
             "rank": IntRange(2, 64, log=True), "depth": IntRange(1, 3),
             "solver": Choice(("lbfgs", "newton")), "max_iter": 20}
    a, b = sample_configs(space, 200, seed=1), sample_configs(space, 200, seed=1)
    assert a == b and a != sample_configs(space, 200, seed=2)
    assert all(list(c) == list(space) and c["max_iter"] == 20 for c in a)
    reg = np.array([c["reg"] for c in a])
    assert reg.min() >= 1e-6 and reg.max() <= 1.0
    assert 0.3 < np.mean(reg < 1e-3) < 0.7        # log-uniform: half the decades below 1e-3
    assert {c["depth"] for c in a} == {1, 2, 3} and {c["solver"] for c in a} == {"lbfgs",
                                                                                  "newton"}
    ranks = np.array([c["rank"] for c in a])
    assert ranks.min() >= 2 and ranks.max() <= 64 and np.mean(ranks < 12) > 0.3


@pytest.mark.parametrize("space,message", [
    ({}, "a search space is a non-empty dict"),
    ({"reg": LogUniform(0.0, 1.0)}, "Invalid search space for 'reg': LogUniform needs "
                                    "0 < low < high, got low=0.0, high=1.0"),
    ({"a": Uniform(1.0, float("inf"))}, "Invalid search space for 'a': Uniform needs finite"),
    ({"rank": IntRange(8, 4)}, "Invalid search space for 'rank': IntRange needs integers "
                               "low <= high"),
    ({"rank": IntRange(0, 4, log=True)}, "IntRange needs integers 1 <= low <= high"),
    ({"s": Choice(())}, "Invalid search space for 's': Choice needs a non-empty tuple"),
])
def test_bad_spaces_are_refused_by_name(space, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sample_configs(space, 3, seed=0)


def test_bad_schedule_arguments():
    def run(*a):
        return None, 0.0

    with pytest.raises(ValueError, match="needs at least one configuration"):
        successive_halving([], run)
    with pytest.raises(TypeError, match="run must be callable"):
        successive_halving([{}], "run")
    with pytest.raises(ValueError, match="eta must be >= 2"):
        successive_halving([{}], run, eta=1)
    with pytest.raises(ValueError, match=r"max_resource \(2\) must be >= min_resource \(3\)"):
        successive_halving([{}], run, min_resource=3, max_resource=2)
    with pytest.raises(ValueError, match="min_resource must be >= 1"):
        successive_halving([{}], run, min_resource=0)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        sample_configs({"a": 1}, 0)
