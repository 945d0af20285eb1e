"""Model-based sampling (mli.search.tpe): proposals from a model of the evaluations."""
import math

import numpy as np
import pytest

from mli.search import Choice, IntRange, LogUniform, Uniform, sample_configs
from mli.search.tpe import draw, propose

SPACE = {"rank": IntRange(2, 64, log=True), "reg": LogUniform(1e-3, 1.0),
         "kind": Choice(("a", "b", "c")), "mix": Uniform(0.0, 1.0), "fixed": 5}


def objective(c):  # (best at rank 16, reg 1e-2, kind "b", mix 0.3)
    return (-abs(math.log(c["rank"] / 16)) - abs(math.log10(c["reg"]) + 2)
            - (c["kind"] != "b") - abs(c["mix"] - 0.3))


def test_unit_cube_round_trip():
    for name, dim in SPACE.items():
        if name == "fixed":
            continue
        for c in sample_configs({name: dim}, 50, seed=1):
            u = dim.encode(c[name])
            back = dim.decode(u)
            if isinstance(dim, Choice):
                assert back == c[name]
            else:
                assert 0.0 <= u <= 1.0
                assert back == pytest.approx(c[name], rel=1e-9)
    assert SPACE["rank"].decode(0.0) == 2 and SPACE["rank"].decode(1.0) == 64


@pytest.mark.parametrize("seed", range(5))
def test_proposals_beat_random_draws(seed):
    seen = [(c, 12, objective(c)) for c in sample_configs(SPACE, 30, seed=seed)]
    proposed = propose(SPACE, seen, 20, seed=seed, random_fraction=0.0)
    drawn = sample_configs(SPACE, 20, seed=100 + seed)
    assert np.median([objective(c) for c in proposed]) > \
        np.median([objective(c) for c in drawn]) + 0.5
    for c in proposed:
        assert list(c) == list(SPACE) and c["fixed"] == 5 and c["kind"] in ("a", "b", "c")
        assert 2 <= c["rank"] <= 64 and isinstance(c["rank"], int)
        assert 1e-3 <= c["reg"] <= 1.0 and 0.0 <= c["mix"] <= 1.0
    assert propose(SPACE, seen, 20, seed=seed) == propose(SPACE, seen, 20, seed=seed)


def test_the_model_is_fitted_at_the_most_passes_with_enough_evaluations():
    space = {"reg": LogUniform(1e-6, 1.0)}
    # after 4 passes the smallest regularization looks best; after 36, reg = 1e-2 is
    early = [({"reg": 10.0 ** -k}, 4, k) for k in range(7)]
    late = [({"reg": 10.0 ** -k}, 36, -abs(k - 2)) for k in range(5)]
    picks = propose(space, early + late, 10, seed=0, random_fraction=0.0)
    assert all(1e-4 < p["reg"] < 1.0 for p in picks)
    # a model needs len(space) + 3 = 4 evaluations: with 3 at 36 passes, the 4-pass ones
    # serve
    picks = propose(space, early + late[:3], 10, seed=0, random_fraction=0.0)
    assert all(p["reg"] < 1e-4 for p in picks)


def test_too_few_evaluations_draw_at_random():
    seen = [(c, 12, objective(c)) for c in sample_configs(SPACE, 5, seed=0)]  # (< 4 + 3)
    seen.append((dict(seen[0][0]), 12, float("nan")))
    seen.append((dict(seen[1][0]), 12, float("nan")))  # (NaN scores do not count)
    a = propose(SPACE, seen, 200, seed=0, random_fraction=0.0)
    b = propose(SPACE, [], 200, seed=0, random_fraction=0.0)
    assert a == b
    # at random: every region; the proposals of a model would crowd one
    regs = np.log10([c["reg"] for c in a])
    assert regs.min() < -2.7 and regs.max() > -0.3


def test_draw_gives_every_algorithm_its_turn():
    spaces = {"A": {"reg": LogUniform(1e-3, 1.0)}, "B": {}}
    out = draw(["A", "B"], spaces, 7, seed=3)
    assert sorted(c["algorithm"] for c in out) == ["A"] * 4 + ["B"] * 3
    assert all(c["params"] == {} for c in out if c["algorithm"] == "B")
    assert draw(["A", "B"], spaces, 7, seed=3) == out
    seen = [({"reg": r}, 4, -abs(math.log10(r) + 1)) for r in np.geomspace(1e-3, 1.0, 9)]
    model = draw(["A", "B"], spaces, 7, seed=3, observed=lambda name: seen)
    assert [c["algorithm"] for c in model] == [c["algorithm"] for c in out]


@pytest.mark.parametrize("kw, msg", [
    ({"n": 0}, "n must be an int >= 1"),
    ({"gamma": 1.5}, "gamma must be a number in [0, 1]"),
    ({"random_fraction": -0.1}, "random_fraction must be a number in [0, 1]"),
    ({"space": {}}, "non-empty dict"),
    ({"space": {"reg": LogUniform(0.0, 1.0)}}, "Invalid search space for 'reg'"),
])
def test_bad_input(kw, msg):
    args = {"space": SPACE, "observations": [], "n": 3, **kw}
    with pytest.raises(ValueError) as e:
        propose(**args)
    assert msg in str(e.value)
