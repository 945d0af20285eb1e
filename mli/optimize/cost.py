"""The linear family's cost model: which solver runs a fit, in one place.

* **The normal equations** (:func:`mli.models.linear.normal_equations`): one pass builds
  the ``d x d`` moments and the driver solves them; the pass costs ``rows * d^2``
  multiply-adds and ships ``d^2`` floats per partition, so LinearRegression's ``"auto"``
  uses them up to :data:`NORMAL_MAX_FEATURES` features (:func:`use_normal_equations`).
* **The method of** :func:`mli.optimize.minimize` (:func:`choose_method`): OWL-QN when
  there is an L1 term (the only quasi-Newton method for it); Newton's method when the loss
  has a second derivative, one output, and at most :data:`NEWTON_MAX_PARAMS` parameters
  (its Hessian pass costs ``rows * params^2`` multiply-adds and ships ``params^2`` floats
  per partition; it converges in a few passes); L-BFGS otherwise.
* **Preconditioning** of L-BFGS (:func:`precondition`): features rescaled by their
  curvature only when their scales are unequal -- the 90th over the 10th percentile above
  :data:`PRECONDITION_SPREAD` -- since on evenly scaled features the extra pass buys
  nothing.

``bench/bench_cost.py`` times each choice both ways around its threshold; the figures and
what they say are in docs/architecture.md ("The cost models, measured").
"""
from __future__ import annotations

__all__ = ["NORMAL_MAX_FEATURES", "NEWTON_MAX_PARAMS", "PRECONDITION_SPREAD",
           "use_normal_equations", "choose_method", "precondition"]

#: the widest data LinearRegression(solver="auto") solves by the normal equations
NORMAL_MAX_FEATURES = 4096
#: "auto" uses Newton's method up to this many parameters
NEWTON_MAX_PARAMS = 256
#: "auto" preconditioning threshold: p90 / p10 of the features' scales (Hessian diagonal)
PRECONDITION_SPREAD = 2.0


def use_normal_equations(n_features: int) -> bool:
    """Whether a least-squares fit of ``n_features`` features goes through the normal
    equations (one pass) rather than an iterative solver."""
    return n_features <= NORMAL_MAX_FEATURES


def choose_method(l1: float, has_hessian: bool, n_outputs: int, n_params: int) -> str:
    """The method ``minimize(method="auto")`` runs."""
    if l1 > 0:
        return "owlqn"
    if has_hessian and n_outputs == 1 and n_params <= NEWTON_MAX_PARAMS:
        return "newton"
    return "lbfgs"


def precondition(spread: float) -> bool:
    """Whether L-BFGS with ``precondition="auto"`` iterates on rescaled features, given the
    spread of the features' curvature scales."""
    return spread > PRECONDITION_SPREAD
