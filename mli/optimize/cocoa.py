"""CoCoA+: communication-efficient distributed dual coordinate ascent.

Jaggi et al., "Communication-efficient distributed dual coordinate ascent" (NIPS 2014) and
Ma et al., "Adding vs. averaging in distributed primal-dual optimization" (ICML 2015).
Every round is one Spark job: each partition runs stochastic dual coordinate ascent (SDCA)
over its own rows against a quadratic model of the others (its *local subproblem*), and
the driver combines the partitions' updates by *adding* them (CoCoA+, ``sigma' = K``) or
*averaging* them (CoCoA, ``sigma' = 1``). A round does many cheap local steps per row of
communication, which pays off when passes are expensive (many partitions, a slow network,
large latency per job).

The objective is the library's (:class:`~mli.optimize.Objective`)::

    (1/n) sum_i loss(y_i, x_i.w + b) + l2/2 ||w||^2 + l1 ||w||_1,   l2 = reg (1 - l1_ratio) > 0

with the hinge, logistic or squared loss. The dual is the one of Shalev-Shwartz & Zhang's
prox-SDCA: ``v = (1 / (l2 n)) sum_i alpha_i x_i`` and ``w = soft_threshold(v, l1 / l2)``.
The dual variables ``alpha`` (one per row) live on the driver, one array per partition, and
travel with the round's job (a broadcast when large).

The unregularized intercept is handled exactly by the method of multipliers: the rows get
an extra constant feature ``s`` whose weight ``w_b`` is regularized around the current
intercept ``b`` (the multiplier of the dual's constraint ``sum alpha_i = 0``); after every
round ``b`` moves to the current intercept estimate ``b + s w_b``. At the fixed point
``sum alpha = 0`` and ``w_b = 0``: the intercept is not regularized.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import scipy.sparse as sp

from mli.optimize.base import (Callback, OptimizeResult, Optimizer, Tracker, check_float, check_int,
                   soft_threshold)
from mli.optimize.losses import HingeLoss, LogisticLoss, SquaredLoss
from mli.optimize.objective import pack, unweighted, xy_bundle
from mli.optimize.cocoa_kernels import sdca_csr, sdca_dense

__all__ = ["CoCoA", "sdca_local", "LOSS_KINDS"]

log = logging.getLogger("mli")

#: loss type -> kernel code
LOSS_KINDS = {HingeLoss: 0, LogisticLoss: 1, SquaredLoss: 2}

#: the intercept feature ``s``: ``s^2 = _SCALE_ROWS * mean ||x||^2 + _SCALE_REG * l2``. The
#: pull of the intercept towards its current estimate is ``l2 / s^2``: too strong and the
#: intercept moves slowly, too weak and it oscillates (tuned on standardized and raw data,
#: hinge and logistic losses, 1 and 4 partitions)
_SCALE_ROWS = 0.04
_SCALE_REG = 100.0


# ---------------------------------------------------------------------------- rounds


def sdca_local(index, bundle, alphas, loss, kind, v, bias, sb, l1, l2, n, sigma, epochs,
               seed, rnd):
    """One partition's round (runs in a Spark task; pure given its arguments).

    Returns ``(delta_alpha, delta_v, loss_sum)``: the change of this partition's dual
    variables, the matching change of ``v`` (with the intercept feature's entry last), and
    the summed loss at the round's starting model (for the history).
    """
    unweighted(bundle, "cocoa")
    A, y = xy_bundle(bundle)
    y = np.asarray(y, dtype=np.float64)
    alpha0 = alphas[index]
    d = A.shape[1]
    w0 = np.empty(d + 1)
    w0[:d] = soft_threshold(v[:d], l1 / l2) if l1 else v[:d]
    w0[d] = v[d]
    z = np.asarray(A @ w0[:d].astype(A.dtype), dtype=np.float64) + (bias + sb * v[d])
    loss_sum = loss.value_grad_margin(z, y)[0] if len(y) else 0.0
    alpha = np.array(alpha0, dtype=np.float64)
    w = w0.copy()
    rng = np.random.default_rng([int(seed), int(rnd), int(index)])
    l2n = 1.0 / (l2 * n)
    order = rng.permuted(np.tile(np.arange(len(y)), (epochs, 1)), axis=1).ravel()
    if sp.issparse(A):
        sdca_csr(A.data, A.indices, A.indptr, y, alpha, w, bias, sb, kind, l2n, sigma, order)
    else:
        sdca_dense(A, y, alpha, w, bias, sb, kind, l2n, sigma, order)
    # w = w0 + sigma' * l2n * sum(delta_alpha_i x_i) up to the soft threshold, i.e.
    # delta_v = (w - w0) / sigma'
    return alpha - alpha0, (w - w0) / sigma, float(loss_sum)


def _row_norms(bundle):
    A, _y = xy_bundle(bundle)
    sq = A.multiply(A).sum() if sp.issparse(A) else float(np.einsum("ij,ij->", A, A))
    return float(sq), float(A.shape[0])


# ---------------------------------------------------------------------------- optimizer


class CoCoA(Optimizer):
    """CoCoA+ (adding) or CoCoA (averaging) with local SDCA; one Spark job per round.

    Parameters
    ----------
    max_iter : int
        Maximum rounds (each one Spark job).
    tol : float
        Stop when the model moves little in a round: ``||theta_new - theta|| <= tol *
        max(||theta_new||, 1)``.
    combine : {"add", "average"}
        CoCoA+ (``sigma' = K``, updates added; the default, faster) or the original CoCoA
        (``sigma' = 1``, updates averaged).
    local_epochs : int or None
        SDCA passes over its rows each partition makes per round. ``None``: enough for at
        least 20,000 coordinate steps per partition, at least one pass, at most 100 with one
        partition and 10 with several (more local work does not save rounds then).
    seed : int
        The coordinate order of partition ``p`` in round ``r`` uses the seed ``(seed, r, p)``.

    Notes
    -----
    Needs an L2 term (``reg * (1 - l1_ratio) > 0``: the dual needs a strongly convex
    regularizer) and a binary or regression loss (:class:`HingeLoss`, :class:`LogisticLoss`,
    :class:`SquaredLoss`). Starts from ``alpha = 0`` (``theta = 0``); ``theta0`` is not
    supported. ``result.fun`` is the exact objective at the final model (one extra pass);
    the history holds the objective at the start of every round, computed within the round.

    Examples
    --------
    >>> from mli.optimize import HingeLoss, minimize                 # doctest: +SKIP
    >>> res = minimize(HingeLoss(), blocks, reg=1e-3, method="cocoa")  # doctest: +SKIP
    """

    def __init__(self, max_iter: int = 100, tol: float = 1e-6, combine: str = "add",
                 local_epochs: int | None = None, seed: int = 0):
        self.max_iter = check_int("max_iter", max_iter, 1)
        self.tol = check_float("tol", tol, 0.0)
        if combine not in ("add", "average"):
            raise ValueError(f"combine must be 'add' or 'average', got {combine!r}")
        self.combine = combine
        self.local_epochs = None if local_epochs is None else check_int("local_epochs",
                                                                        local_epochs, 1)
        self.seed = check_int("seed", seed, 0)

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None) -> OptimizeResult:
        """Run up to ``max_iter`` rounds from ``theta = 0``."""
        kind = LOSS_KINDS.get(type(objective.loss))
        if kind is None:
            raise ValueError(f"solver 'cocoa' supports the hinge, logistic and squared losses "
                             f"(binary classification, regression), not {objective.loss!r}")
        if not objective.l2 > 0:
            raise ValueError("solver 'cocoa' needs an L2 term: reg * (1 - l1_ratio) must be "
                             f"> 0, got reg={objective.reg:g}, l1_ratio={objective.l1_ratio:g}")
        if theta0 is not None and np.any(np.asarray(theta0) != 0):
            raise ValueError("solver 'cocoa' starts from theta = 0 (its dual variables); "
                             "theta0 is not supported")
        track = Tracker("CoCoA", callback)
        blocks, n, d = objective.blocks, objective.n_rows, objective.n_features
        passes0 = objective.n_passes
        K = blocks.num_partitions
        sigma, gamma = (float(K), 1.0) if self.combine == "add" else (1.0, 1.0 / K)
        if objective.fit_intercept:  # the intercept feature: scaled like the rows
            sq, _ = objective.map_reduce(_row_norms)
            sb = math.sqrt(_SCALE_ROWS * sq / n + _SCALE_REG * objective.l2) or 1.0
        else:
            sb = 0.0
        alphas = [np.zeros(r) for r in blocks.partition_rows]
        epochs = self.local_epochs or max(1, min(math.ceil(20_000 * K / n), 100 if K == 1 else 10))
        v, bias = np.zeros(d + 1), 0.0
        l1, l2 = objective.l1, objective.l2
        x = objective.zeros()
        converged, message, it = False, "max_iter reached", 0
        for it in range(1, self.max_iter + 1):
            objective.n_passes += 1
            out = blocks.map_collect(sdca_local, alphas, objective.loss, kind, v, bias, sb,
                                     l1, l2, n, sigma, epochs, self.seed, it, with_index=True)
            alphas = [a + gamma * da for a, (da, _, _) in zip(alphas, out)]
            v = v + gamma * np.sum([dv for _, dv, _ in out], axis=0)
            # the objective at the round's starting point x (computed inside the round)
            loss_start = (sum(ls for _, _, ls in out) / n
                          + 0.5 * l2 * float(x[:d] @ x[:d]) + objective.l1_penalty(x))
            bias = bias + sb * v[d]  # multiplier step: the intercept estimate
            w = soft_threshold(v[:d], l1 / l2) if l1 else v[:d].copy()
            x_new = pack(w, bias + sb * v[d], objective.fit_intercept)
            if not np.all(np.isfinite(x_new)):
                raise FloatingPointError(f"CoCoA diverged in round {it}")
            moved = float(np.linalg.norm(x_new - x))
            size = max(float(np.linalg.norm(x_new)), 1.0)
            x = x_new
            stop = track(it, loss_start, moved=moved / size)
            if moved <= self.tol * size:
                converged, message = True, "relative change of the model below tol"
                break
            if stop:
                message = "stopped by the callback"
                break
        fun = objective.value(x)
        log.info("CoCoA: %s after %d rounds, %d passes, loss=%.8g", message, it,
                 objective.n_passes - passes0, fun)
        return OptimizeResult(x=x, fun=float(fun), n_iter=it,
                              n_passes=objective.n_passes - passes0, converged=converged,
                              history=track.history, message=message)
