"""Optimizers for regularized linear models over distributed blocks.

The design follows Spark MLlib's split of a *Gradient* (the loss over one block of rows, see
:mod:`mli.optimize.losses`) from an *Updater* / optimizer running on the driver, with small
pure functions and explicit state in the style of optax:

* losses: :class:`LogisticLoss`, :class:`MultinomialLogisticLoss`, :class:`HingeLoss`,
  :class:`SquaredLoss` (``value_grad(X, y, w, b)`` over one block, plain numpy);
* :class:`Objective`: mean loss + ``reg * ((1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1)``
  over a :class:`~mli.engine.blocks.BlockRDD` of ``(X, y)`` bundles; one pass per evaluation;
* optimizers, each ``Optimizer(**hyperparameters).minimize(objective, theta0, callback)``:
  :class:`Newton` (smooth, narrow: the Hessian in the same pass), :class:`LBFGS` (smooth), :class:`OWLQN` (L1 / elastic net), :class:`GradientDescent`
  (full batch, proximal for L1), :class:`ProximalGradient` (FISTA), :class:`ParallelSGD`
  (MLI's local SGD + model averaging), :class:`CoCoA` (CoCoA+: local dual coordinate ascent
  per partition, updates added or averaged; few rounds when passes are expensive);
* :func:`minimize`: pick an optimizer and run it (``result.state`` resumes it:
  ``warm_start=``); :func:`minimize_many`: several configurations in the same passes
  (:mod:`mli.optimize.batch`).

Examples
--------
>>> from mli.optimize import LogisticLoss, minimize        # doctest: +SKIP
>>> res = minimize(LogisticLoss(), blocks, reg=1e-3)      # doctest: +SKIP
>>> w, b = res.objective.unpack(res.x)                    # doctest: +SKIP
"""
from __future__ import annotations

import logging

import numpy as np

from mli.engine import gang
from mli.optimize import cost
from mli.optimize.cost import NEWTON_MAX_PARAMS, PRECONDITION_SPREAD
from mli.optimize.base import (Callback, MinimizeState, OptimizeResult, Optimizer,
                               check_callback, check_float, check_int)
from mli.optimize.cocoa import CoCoA
from mli.optimize.gd import GradientDescent
from mli.optimize.lbfgs import LBFGS, LBFGSState, QuasiNewtonState, two_loop, update_history
from mli.optimize.newton import Newton
from mli.optimize.losses import HingeLoss, LogisticLoss, Loss, MultinomialLogisticLoss, SquaredLoss
from mli.optimize.objective import Preconditioned, LocalBlocks, Objective
from mli.optimize.owlqn import OWLQN
from mli.optimize.proximal import ProximalGradient
from mli.optimize.batch import minimize_many, value_grad_many
from mli.optimize.sgd import ParallelSGD

__all__ = [
    "Loss", "LogisticLoss", "MultinomialLogisticLoss", "HingeLoss", "SquaredLoss",
    "Objective", "Preconditioned", "LocalBlocks", "OptimizeResult", "Optimizer",
    "NEWTON_MAX_PARAMS", "PRECONDITION_SPREAD", "cost",
    "GradientDescent", "LBFGS", "Newton", "OWLQN", "ProximalGradient", "ParallelSGD", "CoCoA",
    "LBFGSState", "QuasiNewtonState", "MinimizeState", "two_loop", "update_history",
    "minimize", "minimize_many", "value_grad_many", "METHODS", "RESUMABLE",
]

log = logging.getLogger("mli")

METHODS = ("auto", "newton", "lbfgs", "owlqn", "gd", "fista", "sgd", "cocoa")
#: the methods whose runs resume from ``result.state`` (``warm_start=``)
RESUMABLE = ("lbfgs", "owlqn")


def minimize(loss: Loss, blocks, reg: float = 0.0, l1_ratio: float = 0.0,
             fit_intercept: bool = True, method: str = "auto", max_iter: int = 100,
             tol: float = 1e-6, callback: Callback | None = None,
             n_features: int | None = None, theta0: np.ndarray | None = None,
             precondition: bool | str = "auto", warm_start: MinimizeState | None = None,
             **options) -> OptimizeResult:
    """Minimize mean ``loss`` + elastic-net penalty over ``blocks``.

    Parameters
    ----------
    loss : Loss
        The per-row loss, e.g. ``LogisticLoss()``.
    blocks : BlockRDD or list of (X, y)
        One ``(X, y)`` bundle per partition.
    reg, l1_ratio, fit_intercept
        See :class:`Objective`.
    method : {"auto", "newton", "lbfgs", "owlqn", "gd", "fista", "sgd", "cocoa"}
        ``"auto"``: OWL-QN when ``reg * l1_ratio > 0``; else Newton's method when the loss
        has a second derivative (logistic, squared; one output) and the model has at most
        ``NEWTON_MAX_PARAMS`` parameters; else L-BFGS.
    max_iter : int
        Iterations (epochs for ``"sgd"``, rounds for ``"cocoa"``).
    tol : float
        Gradient (pseudo-gradient, gradient-mapping) tolerance; for ``"sgd"`` the relative
        model change (see each optimizer); for ``"cocoa"`` the relative model change per round.
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration; ``True`` stops.
    n_features : int, optional
        Read from the blocks when omitted.
    theta0 : ndarray, optional
        Starting point (zeros by default).
    precondition : {"auto", True, False}, default "auto"
        ``"lbfgs"``: iterate on features divided by the square root of the Hessian's
        diagonal at the origin, ``c E[x^2] + l2`` (:meth:`Preconditioned.by_curvature`; one
        extra pass computes it). The objective and its minimizer are those of the raw
        features -- as pyspark.ml's ``standardization=False`` -- but badly scaled features
        (word counts) cost far fewer iterations. ``"auto"``: only when those scales are
        unequal (90th / 10th percentile above ``PRECONDITION_SPREAD`` = 2); on evenly
        scaled features the rescaling does not help.
    warm_start : MinimizeState, optional
        ``result.state`` of an earlier run on the same data and objective (methods in
        ``RESUMABLE``): this run continues it for ``max_iter`` further iterations, without
        repeating a pass -- ``k`` then ``j`` iterations give the model of ``k + j``.
    **options
        Further hyperparameters of the chosen optimizer (``m``, ``ftol``, ``step_size``,
        ``batch_size``, ``seed``...).

    Returns
    -------
    OptimizeResult
        With an extra attribute ``objective`` (to ``unpack`` the solution) and ``state``
        (to resume, methods in ``RESUMABLE``; else None).
    """
    check_callback(callback)
    # local mode: every iteration in one Spark job (mli.engine.gang), the callback on the driver
    result = gang.execute(blocks, minimize_here, loss, reg=reg, l1_ratio=l1_ratio,
                          fit_intercept=fit_intercept, method=method, max_iter=max_iter, tol=tol,
                          n_features=n_features, theta0=theta0, precondition=precondition,
                          warm_start=warm_start, callback=callback, **options)
    result.objective.blocks = blocks  # (from a gang run: the task's side of the blocks)
    return result


def minimize_here(blocks, loss: Loss, reg: float = 0.0, l1_ratio: float = 0.0,
                  fit_intercept: bool = True, method: str = "auto", max_iter: int = 100,
                  tol: float = 1e-6, callback: Callback | None = None,
                  n_features: int | None = None, theta0: np.ndarray | None = None,
                  precondition: bool | str = "auto", warm_start: MinimizeState | None = None,
                  objective: Objective | None = None, **options) -> OptimizeResult:
    """:func:`minimize` on these blocks, in this process: the program a gang run's tasks
    run (``objective``: an objective over the blocks to use, a batch member's)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    check_int("max_iter", max_iter, 1)
    check_float("tol", tol, 0.0)
    if objective is None:  # (given: a member of a batch, mli.optimize.batch)
        objective = Objective(blocks, loss, n_features, reg=reg, l1_ratio=l1_ratio,
                              fit_intercept=fit_intercept)
    newton_ok = loss.has_hessian and objective.n_outputs == 1
    if warm_start is not None:
        if not isinstance(warm_start, MinimizeState):
            raise ValueError(f"warm_start must be the .state of an earlier minimize result, "
                             f"got {type(warm_start).__name__}")
        if method not in ("auto", warm_start.method):
            raise ValueError(f"warm_start comes from method={warm_start.method!r}; it cannot "
                             f"resume method={method!r}")
        method = warm_start.method
    if method == "auto":
        method = cost.choose_method(objective.l1, loss.has_hessian, objective.n_outputs,
                                    objective.size)
    if method in ("lbfgs", "newton") and objective.l1 > 0:
        raise ValueError(f"method={method!r} cannot handle an L1 term (reg * l1_ratio > 0); "
                         "use method='owlqn', 'gd', 'fista' or 'sgd'")
    if method == "newton" and not newton_ok:
        raise ValueError(f"method='newton' needs a single-output loss with a second "
                         f"derivative (logistic, squared), got {loss!r}; use 'lbfgs'")
    try:
        if method == "lbfgs":
            opt = LBFGS(max_iter=max_iter, tol=tol, **options)
        elif method == "newton":
            opt = Newton(max_iter=max_iter, tol=tol, **options)
        elif method == "owlqn":
            opt = OWLQN(max_iter=max_iter, tol=tol, **options)
        elif method == "gd":
            opt = GradientDescent(max_iter=max_iter, tol=tol, **options)
        elif method == "fista":
            opt = ProximalGradient(max_iter=max_iter, tol=tol, **options)
        elif method == "cocoa":
            opt = CoCoA(max_iter=max_iter, tol=tol, **options)
        else:
            opt = ParallelSGD(epochs=max_iter, tol=tol, **options)
    except TypeError as exc:  # an option the chosen optimizer does not take
        raise ValueError(f"invalid option for method={method!r}: {exc}") from None
    log.debug("minimize: %r with %r", objective, opt)
    if precondition not in (True, False, "auto"):
        raise ValueError(f"precondition must be True, False or 'auto', got {precondition!r}")
    scaled = None
    if warm_start is not None:
        if theta0 is not None:
            raise ValueError("give theta0 or warm_start, not both")
        size = np.size(getattr(warm_start.inner, "x", None))
        if size != objective.size:
            raise ValueError(f"warm_start holds {size} parameters but this problem has "
                             f"{objective.size} (n_features * n_outputs + intercepts): it "
                             "comes from another problem")
        if warm_start.scale is not None:
            scaled = Preconditioned(objective, warm_start.scale)
        result = opt.minimize(scaled or objective, callback=callback, state=warm_start.inner)
        return _finish(result, objective, scaled, method)
    if method == "lbfgs" and precondition is not False:
        scaled = Preconditioned.by_curvature(objective)
        if precondition == "auto" and not cost.precondition(scaled.spread):
            scaled = None
        log.debug("minimize: feature scales spread %.3g -> %s",
                  getattr(scaled, "spread", 0.0), "preconditioned" if scaled else "raw")
    start = theta0 if scaled is None or theta0 is None else scaled.from_theta(theta0)
    return _finish(opt.minimize(scaled or objective, start, callback=callback), objective,
                   scaled, method)


def _finish(result: OptimizeResult, objective: Objective, scaled, method: str) -> OptimizeResult:
    """The result in the objective's coordinates, with its warm-start state."""
    if result.state is not None:
        result.state = MinimizeState(method, None if scaled is None else scaled.d,
                                     result.state)
    if scaled is not None:
        result.x = scaled.to_theta(result.x)
    result.objective = objective
    return result
