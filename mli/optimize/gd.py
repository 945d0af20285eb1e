"""Full-batch (proximal) gradient descent: one distributed pass per iteration.

The step is ``theta <- prox(theta - t * grad)``, where ``prox`` soft-thresholds the weights
when the objective has an L1 term (ISTA) and is the identity otherwise. With
``backtracking=True`` the step size ``t`` starts at ``step_size`` and is halved until the
sufficient-decrease condition of the (proximal) gradient step holds; the accepted step is
kept for the next iteration, so typically each iteration costs exactly one pass (the
gradient at the accepted point is computed together with its value).
"""
from __future__ import annotations

import logging
import math

import numpy as np

from .base import (Callback, OptimizeResult, Optimizer, Tracker, check_float, check_int,
                   initial_theta, relative_decrease, soft_threshold)

__all__ = ["GradientDescent"]

log = logging.getLogger("mli")


class GradientDescent(Optimizer):
    """Full-batch gradient descent (proximal for L1), optionally with backtracking.

    Parameters
    ----------
    step_size : float
        Initial (``backtracking=True``) or fixed step size.
    max_iter : int
        Maximum iterations.
    tol : float
        Stop when the largest entry of the gradient mapping ``(theta - theta_next) / t`` is
        ``<= tol`` (the gradient itself without an L1 term).
    ftol : float
        Stop when an iteration's relative decrease of the objective,
        ``(F_old - F_new) / max(|F_old|, |F_new|, 1)``, is ``<= ftol`` (``0`` disables it).
    backtracking : bool
        Halve the step until the smooth part satisfies ``f(theta_next) <= f(theta)
        + g.(theta_next - theta) + ||theta_next - theta||^2 / (2 t)`` (which guarantees a
        decrease of the full objective).
    max_backtrack : int
        Halvings allowed per iteration.
    """

    def __init__(self, step_size: float = 1.0, max_iter: int = 100, tol: float = 1e-6,
                 ftol: float = 0.0, backtracking: bool = True, max_backtrack: int = 40):
        self.step_size = check_float("step_size", step_size, 0.0, min_inclusive=False)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0)
        self.ftol = check_float("ftol", ftol, 0.0)
        if not isinstance(backtracking, (bool, np.bool_)):
            raise ValueError(f"backtracking must be True or False, got {backtracking!r}")
        self.backtracking = bool(backtracking)
        self.max_backtrack = check_int("max_backtrack", max_backtrack, 1)

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None) -> OptimizeResult:
        """Minimize the full objective (smooth part + L1 term) from ``theta0`` (zeros)."""
        track = Tracker("GradientDescent", callback, objective)
        mask, l1 = objective.l1_mask, objective.l1
        x = initial_theta(objective, theta0)
        f, g = objective.value_grad(x)
        if not math.isfinite(f):
            raise FloatingPointError(f"the objective is not finite at theta0 ({f})")
        F = f + objective.l1_penalty(x)
        t = self.step_size
        converged, message, it = False, "max_iter reached", 0

        def prox_step(x, g, t):
            z = x - t * g
            return soft_threshold(z, t * l1, mask) if l1 else z

        for it in range(1, self.max_iter + 1):
            for _ in range(self.max_backtrack + 1):
                xn = prox_step(x, g, t)
                fn, gn = objective.value_grad(xn)
                Fn = fn + objective.l1_penalty(xn)
                if not self.backtracking:
                    break
                dx = xn - x  # sufficient decrease of the smooth part (quadratic upper bound)
                bound = f + float(g @ dx) + float(dx @ dx) / (2.0 * t)
                if math.isfinite(fn) and fn <= bound + 1e-12 * abs(f):
                    break
                t *= 0.5
            else:
                it -= 1
                message = "backtracking found no acceptable step"
                break
            if not math.isfinite(Fn):
                raise FloatingPointError(
                    f"gradient descent diverged (objective {Fn}); lower step_size "
                    f"({self.step_size:g}) or use backtracking=True")
            gmap = float(np.max(np.abs(x - xn), initial=0.0)) / t
            F_old = F
            x, f, g, F = xn, fn, gn, Fn
            stop = track(it, F, gmap=gmap, step=t)
            if gmap <= self.tol:
                converged, message = True, "gradient-mapping norm below tol"
                break
            if self.ftol and 0.0 <= relative_decrease(F_old, F) <= self.ftol:
                converged, message = True, "relative decrease of the objective below ftol"
                break
            if stop:
                message = "stopped by the callback"
                break
        return track.finish(x, F, it, converged, message)
