"""Shared pieces of the optimizers: the result type, argument checks, progress tracking and
the small pure helpers for the L1 term (soft-thresholding, the orthant-wise pseudo-gradient).
"""
from __future__ import annotations

import logging
import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

__all__ = ["OptimizeResult", "Optimizer", "Callback", "MinimizeState", "check_int",
           "check_float", "soft_threshold", "pseudo_gradient"]

log = logging.getLogger("mli")

#: ``callback(iteration, loss, seconds)``; returning ``True`` stops the optimizer.
Callback = Callable[[int, float, float], Optional[bool]]


@dataclass
class OptimizeResult:
    """The outcome of :meth:`Optimizer.minimize`.

    Attributes
    ----------
    x : ndarray
        The solution ``theta`` (pack/unpack it with :meth:`Objective.unpack`).
    fun : float
        The full objective (smooth part + L1 term) at ``x``.
    n_iter : int
        Iterations (epochs for :class:`ParallelSGD`) run.
    n_passes : int
        Distributed passes over the data (Spark jobs) made by this call.
    converged : bool
        Whether a tolerance criterion was met (``False``: ``max_iter`` reached, the line
        search could not make progress, or the callback stopped the run).
    history : list of (int, float, float)
        ``(iteration, loss, seconds since start)``, one entry per iteration.
    message : str
        Why the optimizer stopped.
    objective : Objective or None
        Set by :func:`mli.optimize.minimize` (use its ``unpack`` on ``x``).
    state : object or None
        Where the optimizer stopped, for a warm start: pass it back as ``state=`` (the
        quasi-Newton methods; :func:`mli.optimize.minimize`'s ``warm_start=``) and the run
        continues as if it had not stopped.
    """

    x: np.ndarray
    fun: float
    n_iter: int
    n_passes: int
    converged: bool
    history: list = field(default_factory=list)
    message: str = ""
    objective: Any = field(default=None, repr=False, compare=False)
    state: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"OptimizeResult(fun={self.fun:.6g}, n_iter={self.n_iter}, "
                f"n_passes={self.n_passes}, converged={self.converged}, "
                f"message={self.message!r})")


class MinimizeState(NamedTuple):
    """Where :func:`mli.optimize.minimize` stopped (``result.state``), to resume it with
    ``warm_start=``: the method it ran, the preconditioner's scales (None: raw features)
    and the optimizer's own state (in the preconditioned coordinates)."""

    method: str
    scale: Optional[np.ndarray]
    inner: Any


# ---------------------------------------------------------------------------- argument checks


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value, minimum: float | None = None, maximum: float | None = None,
                min_inclusive: bool = True, max_inclusive: bool = True) -> float:
    """Return ``value`` as a finite float within the bounds, or raise ``ValueError``."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(float(value)))
    if ok and minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
    if not ok:
        lo = "" if minimum is None else f"{minimum} {'<=' if min_inclusive else '<'} "
        hi = "" if maximum is None else f" {'<=' if max_inclusive else '<'} {maximum}"
        what = f"a number with {lo}{name}{hi}" if (lo or hi) else "a finite number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_callback(callback) -> None:
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")


# ---------------------------------------------------------------------------- L1 helpers


def soft_threshold(x: np.ndarray, t: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Proximal operator of ``t * ||x[mask]||_1``: shrink the masked entries towards 0 by ``t``.

    Pure: returns a new array.
    """
    out = np.sign(x) * np.maximum(np.abs(x) - t, 0.0)
    if mask is not None:
        out = np.where(mask, out, x)
    return out


def pseudo_gradient(x: np.ndarray, g: np.ndarray, l1: float, mask: np.ndarray) -> np.ndarray:
    """The orthant-wise pseudo-gradient of ``f(x) + l1 * ||x[mask]||_1`` (Andrew & Gao, 2007).

    For ``x_i != 0`` it is the gradient ``g_i + l1 sign(x_i)``; at ``x_i == 0`` it is the
    one-sided derivative that points downhill, or 0 when neither side descends.
    """
    if l1 == 0.0:
        return g.copy()
    right = g + l1  # derivative when moving x_i up from 0
    left = g - l1   # derivative when moving x_i down from 0
    at_zero = np.where(right < 0.0, right, np.where(left > 0.0, left, 0.0))
    pg = np.where(x > 0.0, right, np.where(x < 0.0, left, at_zero))
    return np.where(mask, pg, g)


# ---------------------------------------------------------------------------- base class


class Optimizer:
    """Base class: hyperparameters in ``__init__``, :meth:`minimize` does the work."""

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None) -> OptimizeResult:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def initial_theta(objective, theta0) -> np.ndarray:
    """A float64 copy of ``theta0`` (zeros when ``None``), checked against the objective."""
    if theta0 is None:
        return objective.zeros()
    theta = np.array(theta0, dtype=np.float64).ravel()
    if theta.shape != (objective.size,):
        raise ValueError(f"theta0 must have {objective.size} entries "
                         f"(n_features * n_outputs + intercepts), got {theta.size}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta0 must be finite")
    return theta


class Tracker:
    """Records ``(iteration, loss, seconds)``, logs it, and calls the user callback."""

    def __init__(self, name: str, callback: Callback | None, objective=None):
        check_callback(callback)
        self.name = name
        self.callback = callback
        self.history: list = []
        self.start = time.perf_counter()
        self.objective = objective
        self.passes0 = objective.n_passes if objective is not None else 0

    def finish(self, x: np.ndarray, fun: float, n_iter: int, converged: bool, message: str,
               unit: str = "iterations", detail: str = "", state: Any = None) -> OptimizeResult:
        """Log the outcome and build the :class:`OptimizeResult` (passes counted since start)."""
        passes = self.objective.n_passes - self.passes0 if self.objective is not None else 0
        log.info("%s: %s after %d %s, %d passes, loss=%.8g%s", self.name, message, n_iter, unit,
                 passes, fun, detail)
        return OptimizeResult(x=x, fun=float(fun), n_iter=n_iter, n_passes=passes,
                              converged=converged, history=self.history, message=message,
                              state=state)

    def __call__(self, iteration: int, loss: float, **extra) -> bool:
        """Record one iteration; return ``True`` when the callback asks to stop."""
        seconds = time.perf_counter() - self.start
        self.history.append((iteration, float(loss), seconds))
        if log.isEnabledFor(logging.DEBUG):
            more = "".join(f" {k}={v:.3g}" for k, v in extra.items())
            log.debug("%s iter %d: loss=%.10g%s (%.3fs)", self.name, iteration, loss, more,
                      seconds)
        if self.callback is not None:
            return bool(self.callback(iteration, float(loss), seconds))
        return False


def stop_reason(norm: float, tol: float, f_old: float, f_new: float, ftol: float,
                stopped: bool, what: str = "gradient",
                monotone: bool = True) -> tuple[bool, str] | None:
    """After an iteration: ``(converged, message)`` when the optimizer should stop (the
    ``what`` norm ``<= tol``, the relative decrease ``<= ftol``, or the callback asked to
    stop), else ``None``. ``monotone=False`` (an objective that may rise, FISTA): the
    decrease test only with ``ftol > 0`` and for a decrease."""
    if norm <= tol:
        return True, f"{what} norm below tol"
    decrease = relative_decrease(f_old, f_new)
    if (decrease <= ftol) if monotone else (ftol and 0.0 <= decrease <= ftol):
        return True, "relative decrease of the objective below ftol"
    if stopped:
        return False, "stopped by the callback"
    return None


def relative_decrease(f_old: float, f_new: float) -> float:
    """``(f_old - f_new) / max(|f_old|, |f_new|, 1)``: the convergence measure on values."""
    return (f_old - f_new) / max(abs(f_old), abs(f_new), 1.0)
