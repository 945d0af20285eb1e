"""Accelerated proximal gradient (FISTA) for ``smooth(theta) + l1 * ||w||_1``.

Beck & Teboulle (2009) with backtracking on the step size and the function-value adaptive
restart of O'Donoghue & Candes (2015): when the objective goes up, the momentum is reset.
An iteration evaluates the gradient at the extrapolated point and the value at the new point
(two passes; one when the momentum is zero, since the value pass returns the gradient too).
"""
from __future__ import annotations

import logging
import math

import numpy as np

from mli.optimize.base import (Callback, OptimizeResult, Optimizer, Tracker, check_float, check_int,
                   initial_theta, stop_reason, soft_threshold)

__all__ = ["ProximalGradient"]

log = logging.getLogger("mli")


def _check_bool(name, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class ProximalGradient(Optimizer):
    """FISTA with backtracking and adaptive restart.

    Parameters
    ----------
    step_size : float
        Initial step size (``1 / L`` for an ``L``-smooth part); halved by backtracking.
    max_iter : int
        Maximum iterations.
    tol : float
        Stop when the largest entry of the gradient mapping ``(y - theta_next) / t`` is
        ``<= tol``.
    ftol : float
        Stop when an iteration's relative decrease of the objective is in ``[0, ftol]``
        (``0`` disables it).
    accelerated : bool
        ``False`` gives plain ISTA (proximal gradient descent).
    max_backtrack : int
        Halvings of the step allowed per iteration.
    backtracking : bool
        ``False``: a fixed step ``step_size`` (no sufficient-decrease check; a diverging
        objective raises ``FloatingPointError``).
    """

    _name = "ProximalGradient"

    def __init__(self, step_size: float = 1.0, max_iter: int = 500, tol: float = 1e-6,
                 ftol: float = 0.0, accelerated: bool = True, max_backtrack: int = 40,
                 backtracking: bool = True):
        self.step_size = check_float("step_size", step_size, 0.0, min_inclusive=False)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0)
        self.ftol = check_float("ftol", ftol, 0.0)
        self.accelerated = _check_bool("accelerated", accelerated)
        self.backtracking = _check_bool("backtracking", backtracking)
        self.max_backtrack = check_int("max_backtrack", max_backtrack, 1)

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None) -> OptimizeResult:
        """Minimize the full objective (smooth part + L1 term) from ``theta0`` (zeros)."""
        track = Tracker(self._name, callback, objective)
        mask, l1 = objective.l1_mask, objective.l1
        x = initial_theta(objective, theta0)
        fx, gx = objective.value_grad(x)
        if not math.isfinite(fx):
            raise FloatingPointError(f"the objective is not finite at theta0 ({fx})")
        F = fx + objective.l1_penalty(x)
        y, fy, gy = x, fx, gx
        t, momentum = self.step_size, 1.0
        converged, message, it = False, "max_iter reached", 0
        for it in range(1, self.max_iter + 1):
            if gy is None:
                fy, gy = objective.value_grad(y)
            for _ in range(self.max_backtrack + 1):
                z = y - t * gy
                xn = soft_threshold(z, t * l1, mask) if l1 else z
                fn, gn = objective.value_grad(xn)
                d = xn - y
                if not self.backtracking or (
                        math.isfinite(fn) and fn <= fy + float(gy @ d) + float(d @ d) / (2 * t)
                        + 1e-12 * abs(fy)):  # sufficient decrease of the smooth part
                    break
                t *= 0.5
            else:
                it -= 1
                message = "backtracking found no acceptable step"
                break
            Fn = fn + objective.l1_penalty(xn)
            if not math.isfinite(Fn):
                raise FloatingPointError(
                    f"{self._name} diverged (objective {Fn}); lower step_size "
                    f"({self.step_size:g}) or use backtracking=True")
            gmap = float(np.max(np.abs(d), initial=0.0)) / t
            F_old = F
            if self.accelerated and Fn <= F:
                m_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum * momentum))
                beta = (momentum - 1.0) / m_new
                momentum = m_new
            else:  # restart: no momentum (and for ISTA, never any)
                momentum, beta = 1.0, 0.0
            if beta > 0.0:
                y, gy = xn + beta * (xn - x), None
            else:
                y, fy, gy = xn, fn, gn
            x, F = xn, Fn
            reason = stop_reason(gmap, self.tol, F_old, F, self.ftol,
                                 track(it, F, gmap=gmap, step=t), what="gradient-mapping",
                                 monotone=False)
            if reason:
                converged, message = reason
                break
        return track.finish(x, F, it, converged, message)
