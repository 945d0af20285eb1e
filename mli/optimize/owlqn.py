"""OWL-QN: orthant-wise limited-memory quasi-Newton for L1-regularized objectives.

Andrew & Gao, "Scalable training of L1-regularized log-linear models" (ICML 2007); the
algorithm behind Spark ML's L1/elastic-net logistic and linear regression (breeze's OWLQN).
It minimizes ``f(theta) + l1 * ||theta[mask]||_1`` with ``f`` smooth (the objective's
:meth:`~mli.optimize.Objective.value_grad`) by

1. replacing the gradient with the *pseudo-gradient* (:func:`~mli.optimize.base.pseudo_gradient`),
2. taking the L-BFGS direction from the smooth part's curvature pairs, zeroing the entries
   whose sign disagrees with the steepest-descent direction,
3. searching (backtracking) along it while projecting onto the orthant of the current point,
   so that coordinates crossing zero stop at zero: this is what makes exact zeros.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from mli.optimize.base import (Callback, OptimizeResult, Optimizer, Tracker, check_float,
                               check_int, pseudo_gradient, stop_reason)
from mli.optimize.lbfgs import LBFGSState, QuasiNewtonState, resume, two_loop, update_history

__all__ = ["OWLQN", "project_orthant"]

log = logging.getLogger("mli")


def project_orthant(x: np.ndarray, orthant: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Zero the masked entries of ``x`` whose sign differs from ``orthant``; pure."""
    return np.where(mask & (np.sign(x) != orthant), 0.0, x)


class OWLQN(Optimizer):
    """Orthant-wise L-BFGS for ``smooth(theta) + l1 * ||w||_1`` (works with ``l1 == 0`` too).

    Parameters
    ----------
    m : int
        Number of curvature pairs kept.
    max_iter : int
        Maximum iterations.
    tol : float
        Stop when the pseudo-gradient's largest entry is ``<= tol``.
    ftol : float
        Stop when an iteration's relative decrease of the full objective,
        ``(F_old - F_new) / max(|F_old|, |F_new|, 1)``, is ``<= ftol``.
    max_linesearch : int
        Backtracking steps (passes) allowed per iteration.
    c1 : float
        Sufficient-decrease constant of the backtracking line search.
    """

    def __init__(self, m: int = 10, max_iter: int = 100, tol: float = 1e-6,
                 ftol: float = 1e-9, max_linesearch: int = 30, c1: float = 1e-4):
        self.m = check_int("m", m, 1)
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0)
        self.ftol = check_float("ftol", ftol, 0.0)
        self.max_linesearch = check_int("max_linesearch", max_linesearch, 1)
        self.c1 = check_float("c1", c1, 0.0, 1.0, min_inclusive=False, max_inclusive=False)

    def _search(self, objective, x, F, pg, p, alpha):
        """Backtracking along ``p`` projected on the orthant; ``None`` if nothing decreased."""
        mask, l1 = objective.l1_mask, objective.l1
        orthant = np.where(x != 0.0, np.sign(x), np.sign(-pg))
        for _ in range(self.max_linesearch):
            xn = project_orthant(x + alpha * p, orthant, mask)
            fn, gn = objective.value_grad(xn)
            Fn = fn + l1 * float(np.abs(xn[mask]).sum())
            if math.isfinite(Fn) and Fn <= F + self.c1 * float(pg @ (xn - x)):
                return xn, fn, gn, Fn, alpha
            alpha *= 0.5
        return None

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None,
                 state: QuasiNewtonState | None = None) -> OptimizeResult:
        """Minimize the full objective (smooth part + L1 term) from ``theta0`` (zeros), or
        resume from the ``state`` of an earlier result (``max_iter`` further iterations)."""
        track = Tracker("OWLQN", callback, objective)
        mask, l1 = objective.l1_mask, objective.l1
        x, f, g, state, it0 = resume(objective, theta0, state, self.m)
        if not math.isfinite(f):
            raise FloatingPointError(f"the objective is not finite at theta0 ({f})")
        F = f + l1 * float(np.abs(x[mask]).sum())
        converged, message, it = False, "max_iter reached", it0
        pg = pseudo_gradient(x, g, l1, mask)
        if np.max(np.abs(pg), initial=0.0) <= self.tol:
            converged, message = True, "pseudo-gradient norm below tol at the starting point"
        else:
            for it in range(it0 + 1, it0 + self.max_iter + 1):
                p = -two_loop(pg, state)
                p = np.where(p * pg < 0.0, p, 0.0)  # keep only entries that descend along -pg
                if not float(pg @ p) < 0.0:
                    state, p = LBFGSState(m=self.m), -pg
                alpha = 1.0 if state.s else 1.0 / max(float(np.linalg.norm(pg)), 1e-300)
                found = self._search(objective, x, F, pg, p, min(alpha, 1.0))
                if found is None and state.s:  # retry once along the steepest descent
                    state = LBFGSState(m=self.m)
                    found = self._search(objective, x, F, pg, -pg,
                                         min(1.0, 1.0 / float(np.linalg.norm(pg))))
                if found is None:
                    it -= 1
                    message = ("the line search found no decrease (the objective is at the "
                               "limit of numerical precision)")
                    break
                x_new, f_new, g_new, F_new, step = found
                state = update_history(state, x_new - x, g_new - g)
                F_old = F
                x, f, g, F = x_new, f_new, g_new, F_new
                pg = pseudo_gradient(x, g, l1, mask)
                pgmax = float(np.max(np.abs(pg), initial=0.0))
                reason = stop_reason(pgmax, self.tol, F_old, F, self.ftol,
                                     track(it, F, pgmax=pgmax, step=step,
                                           nnz=float(np.count_nonzero(x[mask]))),
                                     what="pseudo-gradient")
                if reason:
                    converged, message = reason
                    break
        return track.finish(x, F, it - it0, converged, message,
                            detail=f", {np.count_nonzero(x[mask])} nonzero weights",
                            state=QuasiNewtonState(x, f, g, state, it))
