"""Model-based sampling: configurations proposed from a model of the evaluations so far.

The Tree-structured Parzen Estimator as BOHB uses it between Hyperband's brackets (Bergstra
et al., "Algorithms for hyper-parameter optimization", NIPS 2011; Falkner et al., "BOHB:
robust and efficient hyperparameter optimization at scale", ICML 2018):

1. take the evaluations at the most passes that has enough of them (``len(space) + 3``:
   a configuration's metric after more passes says more about its last rung);
2. split them into the good (the best ``gamma``, at least ``len(space) + 1``) and the rest;
3. fit a kernel density to each, ``l(x)`` to the good and ``g(x)`` to the rest, in the unit
   cube of the space (a LogUniform is uniform in its logarithm there; a Choice is a
   categorical kernel);
4. draw candidates around the good configurations (their kernels, widened ``widen`` times)
   and propose the one with the largest ``l(x) / g(x)``.

A ``random_fraction`` of the proposals is drawn from the space as plain random search
draws, so every region keeps a chance however the model leans; without enough evaluations
every proposal is. Proposals are reproducible under a seed. :func:`draw` gives a bracket
its configurations, the algorithms taking turns, at random or proposed.

>>> from mli.search import LogUniform
>>> from mli.search.tpe import propose
>>> space = {"reg": LogUniform(1e-6, 1.0)}
>>> seen = [({"reg": 10.0 ** -k}, 12, -abs(k - 3)) for k in range(7)]  # best at reg = 1e-3
>>> picks = propose(space, seen, 8, seed=0, random_fraction=0.0)
>>> all(1e-4 < p["reg"] < 1e-1 for p in picks)
True
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mli.search.space import Choice, check_space, dimensions, sample_configs

__all__ = ["propose", "draw", "MIN_BANDWIDTH"]

#: the narrowest kernel, in the unit cube (BOHB's)
MIN_BANDWIDTH = 1e-3


class _Density:
    """A product-kernel density over the searched dimensions: Gaussian kernels (normal
    reference bandwidths) on the continuous ones, Aitchison-Aitken on the choices."""

    def __init__(self, points: np.ndarray, cats: list[int | None]):
        self.points, self.cats = points, cats
        n, d = points.shape
        bw = np.empty(d)
        for j, c in enumerate(cats):
            if c is None:
                sd = points[:, j].std(ddof=1) if n > 1 else 0.0
                bw[j] = max(MIN_BANDWIDTH, 1.06 * sd * n ** (-1.0 / (d + 4)))
            else:  # (the weight of the other options, shared among them)
                bw[j] = min(0.2, (c - 1) / c)
        self.bw = bw

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The density at each row of ``x``."""
        k = np.ones((x.shape[0], self.points.shape[0]))
        for j, c in enumerate(self.cats):
            diff = x[:, j, None] - self.points[None, :, j]
            if c is None:
                k *= np.exp(-0.5 * (diff / self.bw[j]) ** 2) / self.bw[j]
            else:
                k *= np.where(diff == 0, 1.0 - self.bw[j], self.bw[j] / max(c - 1, 1))
        return k.mean(axis=1)

    def sample(self, rng: np.random.Generator, n: int, widen: float) -> np.ndarray:
        """``n`` draws: a kernel of a random point, continuous ones ``widen`` times wider
        and kept in the unit interval."""
        centers = self.points[rng.integers(len(self.points), size=n)]
        out = centers.copy()
        for j, c in enumerate(self.cats):
            if c is None:
                for i in range(n):
                    for _ in range(32):  # (the kernel truncated to [0, 1])
                        v = rng.normal(centers[i, j], widen * self.bw[j])
                        if 0.0 <= v <= 1.0:
                            break
                    out[i, j] = min(max(v, 0.0), 1.0)
            else:
                other = rng.random(n) < self.bw[j]
                out[other, j] = rng.integers(c, size=int(other.sum()))
        return out


def propose(space: dict, observations: list[tuple[dict, int, float]], n: int,
            seed: int | None = None, *, gamma: float = 0.15, random_fraction: float = 1 / 3,
            n_candidates: int = 64, widen: float = 3.0) -> list[dict]:
    """``n`` configurations of ``space`` proposed from ``observations``.

    Parameters
    ----------
    space : dict
        ``{name: dimension or constant}`` (:mod:`mli.search.space`).
    observations : list of (dict, int, float)
        Evaluations: a configuration of ``space``, the passes it had, its score (larger
        better: negate a loss). The model is fitted to those at the most passes that has
        ``len(dimensions) + 3`` scores (NaN scores are left out).
    n : int >= 1
        How many configurations.
    seed : int or None
        Seeds the proposals.
    gamma : float in (0, 1), default 0.15
        The fraction of the observations the good density is fitted to.
    random_fraction : float in [0, 1], default 1/3
        The fraction proposed by plain random sampling instead.
    n_candidates : int, default 64
        Candidates drawn from the good density per proposal.
    widen : float, default 3.0
        How much wider than the fitted kernels the candidates are drawn.

    Returns
    -------
    list of dict
        ``n`` configurations (every one random while fewer than ``len(dimensions) + 3``
        observations have a score).
    """
    check_space(space)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    for name, v in (("gamma", gamma), ("random_fraction", random_fraction)):
        if not (isinstance(v, (int, float)) and 0 <= v <= 1):
            raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
    rng = np.random.default_rng(seed)
    dims = dimensions(space)
    n_min = len(dims) + 1
    levels: dict[int, list] = {}
    for p, passes, score in observations:
        if not math.isnan(float(score)):
            levels.setdefault(int(passes), []).append((p, float(score)))
    enough = [k for k, v in levels.items() if len(v) >= n_min + 2]
    seen = levels[max(enough)] if enough else []
    out = []
    model = None
    if dims and seen:
        seen.sort(key=lambda t: -t[1])
        n_good = max(n_min, int(math.ceil(gamma * len(seen))))
        n_bad = max(n_min, len(seen) - n_good)
        cats = [len(d.options) if isinstance(d, Choice) else None for _, d in dims]
        unit = np.array([[d.encode(p[k]) for k, d in dims] for p, _ in seen])
        model = (_Density(unit[:n_good], cats), _Density(unit[-n_bad:], cats))
    for _ in range(int(n)):
        if model is None or rng.random() < random_fraction:
            out.append(sample_configs(space, 1, seed=int(rng.integers(2**31)))[0])
            continue
        good, bad = model
        cand = good.sample(rng, n_candidates, widen)
        ratio = good.pdf(cand) / np.maximum(bad.pdf(cand), 1e-300)
        best = cand[int(np.argmax(ratio))]
        picked = {k: d.decode(u) for (k, d), u in zip(dims, best)}
        out.append({k: picked.get(k, v) for k, v in space.items()})
    return out


def draw(names: list[str], spaces: dict, n: int, seed: int,
         observed: Callable | None = None) -> list[dict]:
    """``n`` configurations, the algorithms taking turns, each drawn from its space (at
    random, or proposed from ``observed(name)``, the algorithm's evaluations so far: a list
    for :func:`propose`)."""
    rng = np.random.default_rng(seed)
    picks = [names[j % len(names)] for j in range(n)]
    rng.shuffle(picks)
    out = []
    for name in names:
        k = picks.count(name)
        if k:
            sub = int(rng.integers(2**31))
            if not spaces[name]:
                drawn = [{} for _ in range(k)]
            elif observed is not None:
                drawn = propose(spaces[name], observed(name), k, seed=sub)
            else:
                drawn = sample_configs(spaces[name], k, seed=sub)
            out.extend({"algorithm": name, "params": p} for p in drawn)
    return out
