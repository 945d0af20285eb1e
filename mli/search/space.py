"""Search spaces: one distribution per hyperparameter, sampled reproducibly.

A space is a dict ``{name: dimension or constant}``; a dimension is one of :class:`Uniform`,
:class:`LogUniform`, :class:`IntRange` and :class:`Choice`, anything else a constant that
every configuration gets as it is.

>>> from mli.search import LogUniform, IntRange, sample_configs
>>> configs = sample_configs({"reg": LogUniform(1e-4, 1.0), "max_iter": 50}, 3, seed=0)
>>> [sorted(c) for c in configs]
[['max_iter', 'reg'], ['max_iter', 'reg'], ['max_iter', 'reg']]
>>> all(1e-4 <= c["reg"] <= 1.0 and c["max_iter"] == 50 for c in configs)
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Uniform", "LogUniform", "IntRange", "Choice", "sample_configs", "check_space",
           "dimensions"]


def _clip(u: float) -> float:
    return min(max(float(u), 0.0), 1.0)


def _finite(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
        and math.isfinite(x)


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``."""

    low: float
    high: float

    def check(self, name: str) -> None:
        if not (_finite(self.low) and _finite(self.high) and self.low < self.high):
            raise ValueError(f"Invalid search space for {name!r}: Uniform needs finite "
                             f"low < high, got low={self.low!r}, high={self.high!r}")

    def sample(self, rng: np.random.Generator) -> float:
        return self.decode(rng.random())

    def encode(self, value) -> float:
        """``value``'s place in the unit interval (a search model's coordinate)."""
        return (value - self.low) / (self.high - self.low)

    def decode(self, u: float) -> float:
        """The value at ``u`` in the unit interval (clipped to it)."""
        return float(self.low + _clip(u) * (self.high - self.low))


@dataclass(frozen=True)
class LogUniform:
    """A float whose logarithm is uniform on ``[log low, log high]`` (regularization,
    learning rates: each decade as likely as the next)."""

    low: float
    high: float

    def check(self, name: str) -> None:
        if not (_finite(self.low) and _finite(self.high) and 0 < self.low < self.high):
            raise ValueError(f"Invalid search space for {name!r}: LogUniform needs "
                             f"0 < low < high, got low={self.low!r}, high={self.high!r}")

    def sample(self, rng: np.random.Generator) -> float:
        return self.decode(rng.random())

    def encode(self, value) -> float:
        """``value``'s place in the unit interval: uniform in the logarithm."""
        lo = math.log(self.low)
        return (math.log(value) - lo) / (math.log(self.high) - lo)

    def decode(self, u: float) -> float:
        """The value at ``u`` in the unit interval (clipped to it)."""
        lo = math.log(self.low)
        return float(math.exp(lo + _clip(u) * (math.log(self.high) - lo)))


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` (both included), uniform, or log-uniform when ``log``
    (ranks, depths: 2..4 as likely as 32..64)."""

    low: int
    high: int
    log: bool = False

    def check(self, name: str) -> None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                   for v in (self.low, self.high))
        if not ints or self.low > self.high or (self.log and self.low < 1):
            need = "1 <= low <= high" if self.log else "low <= high"
            raise ValueError(f"Invalid search space for {name!r}: IntRange needs integers "
                             f"{need}, got low={self.low!r}, high={self.high!r}")

    def sample(self, rng: np.random.Generator) -> int:
        if not self.log:
            return int(rng.integers(self.low, self.high + 1))
        return self.decode(rng.random())

    def encode(self, value) -> float:
        """The middle of ``value``'s cell in the unit interval (cells of equal width, or of
        equal width in the logarithm when ``log``)."""
        if not self.log:
            return (value - self.low + 0.5) / (self.high - self.low + 1)
        lo, hi = math.log(self.low), math.log(self.high + 1)
        return (0.5 * (math.log(value) + math.log(value + 1)) - lo) / (hi - lo)

    def decode(self, u: float) -> int:
        """The integer whose cell holds ``u`` (clipped to the unit interval)."""
        u = _clip(u)
        if not self.log:
            return int(min(self.high, self.low + math.floor(u * (self.high - self.low + 1))))
        lo, hi = math.log(self.low), math.log(self.high + 1)
        return int(min(self.high, max(self.low, math.floor(math.exp(lo + u * (hi - lo))))))


@dataclass(frozen=True)
class Choice:
    """One of ``options``, each equally likely."""

    options: tuple

    def check(self, name: str) -> None:
        if not isinstance(self.options, (tuple, list)) or not len(self.options):
            raise ValueError(f"Invalid search space for {name!r}: Choice needs a non-empty "
                             f"tuple of options, got {self.options!r}")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def encode(self, value) -> float:
        """``value``'s index among the options (a categorical coordinate)."""
        return float(list(self.options).index(value))

    def decode(self, index: float) -> Any:
        """The option at ``index``."""
        return self.options[int(index)]


_DIMENSIONS = (Uniform, LogUniform, IntRange, Choice)


def dimensions(space: dict) -> list[tuple[str, Any]]:
    """The searched ``(name, dimension)`` of ``space`` (its constants left out)."""
    return [(k, v) for k, v in space.items() if isinstance(v, _DIMENSIONS)]


def check_space(space: dict) -> None:
    """Raise ValueError (naming the hyperparameter) for a malformed space."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"a search space is a non-empty dict {{name: dimension}}, got "
                         f"{space!r}")
    for name, dim in space.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"Invalid search space: hyperparameter names are strings, got "
                             f"{name!r}")
        if isinstance(dim, _DIMENSIONS):
            dim.check(name)


def sample_configs(space: dict, n: int, seed: int | None = None) -> list[dict]:
    """``n`` configurations drawn from ``space`` (the same ones for the same ``seed``).

    Parameters
    ----------
    space : dict
        ``{name: Uniform | LogUniform | IntRange | Choice | constant}``.
    n : int >= 1
        How many configurations.
    seed : int or None
        Seed of the draws (None: different each call).

    Returns
    -------
    list of dict
        One ``{name: value}`` per configuration, names in the space's order.
    """
    check_space(space)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    return [{name: dim.sample(rng) if isinstance(dim, _DIMENSIONS) else dim
             for name, dim in space.items()} for _ in range(int(n))]
