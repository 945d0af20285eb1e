"""Full-batch (proximal) gradient descent: one distributed pass per iteration.

The step is ``theta <- prox(theta - t * grad)``, where ``prox`` soft-thresholds the weights
when the objective has an L1 term (ISTA) and is the identity otherwise. With
``backtracking=True`` the step size ``t`` starts at ``step_size`` and is halved until the
sufficient-decrease condition of the (proximal) gradient step holds; the accepted step is
kept for the next iteration, so typically each iteration costs exactly one pass (the
gradient at the accepted point is computed together with its value).

It is :class:`~mli.optimize.ProximalGradient` without momentum (ISTA); one implementation.
"""
from __future__ import annotations

from mli.optimize.proximal import ProximalGradient

__all__ = ["GradientDescent"]


class GradientDescent(ProximalGradient):
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
        Stop when an iteration's relative decrease of the objective is in ``[0, ftol]``
        (``0`` disables it).
    backtracking : bool
        Halve the step until the smooth part satisfies ``f(theta_next) <= f(theta)
        + g.(theta_next - theta) + ||theta_next - theta||^2 / (2 t)`` (which guarantees a
        decrease of the full objective).
    max_backtrack : int
        Halvings allowed per iteration.
    """

    _name = "GradientDescent"

    def __init__(self, step_size: float = 1.0, max_iter: int = 100, tol: float = 1e-6,
                 ftol: float = 0.0, backtracking: bool = True, max_backtrack: int = 40):
        super().__init__(step_size=step_size, max_iter=max_iter, tol=tol, ftol=ftol,
                         accelerated=False, max_backtrack=max_backtrack,
                         backtracking=backtracking)
