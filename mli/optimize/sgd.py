"""MLI's parallel SGD with model averaging (Zinkevich et al. 2010; Sparks et al. 2013).

Each epoch is one Spark job: every partition starts from the current model, runs mini-batch
SGD over its own rows (a fresh random order per partition and epoch), and returns
``(n_p * theta_p, n_p, loss_sum_p)``; the driver averages the models weighted by rows. The
L2 term is applied as weight decay in every step and the L1 term by soft-thresholding
(truncated gradient), the intercept is never regularized.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from mli.optimize.base import (Callback, OptimizeResult, Optimizer, Tracker, check_float, check_int,
                   initial_theta, soft_threshold)
from mli.optimize.objective import pack, unpack, unweighted, xy_bundle

__all__ = ["ParallelSGD", "sgd_partition"]

log = logging.getLogger("mli")


def sgd_partition(index: int, bundle, loss, theta: np.ndarray, n_features: int,
                  fit_intercept: bool, l2: float, l1: float, step: float, batch_size: int,
                  seed: int, epoch: int):
    """One partition's local SGD epoch (runs inside a Spark task; pure given its arguments).

    Returns ``(n_p * theta_p, n_p, loss_sum_p)`` where ``loss_sum_p`` sums the mini-batch
    losses seen during the epoch (each evaluated before its step).
    """
    unweighted(bundle, "sgd")
    A, y = xy_bundle(bundle)
    n = A.shape[0]
    if n == 0:
        return np.zeros_like(theta), 0.0, 0.0
    rng = np.random.default_rng([int(seed), int(epoch), int(index)])
    order = rng.permutation(n)
    w, b = unpack(np.array(theta, dtype=np.float64), n_features, loss.n_outputs, fit_intercept)
    w = np.array(w)
    b = np.array(b, dtype=np.float64)
    decay = 1.0 - step * l2
    shrink = step * l1
    total = 0.0
    for start in range(0, n, batch_size):
        idx = np.sort(order[start:start + batch_size])  # sorted: sequential memory access
        value, gw, gb = loss.value_grad(A[idx], y[idx], w, b)
        m = idx.shape[0]
        total += value
        w *= decay
        w -= (step / m) * gw
        if shrink:
            w = soft_threshold(w, shrink)
        if fit_intercept:
            b = b - (step / m) * gb
    return float(n) * pack(w, b, fit_intercept), float(n), total


class ParallelSGD(Optimizer):
    """Parallel mini-batch SGD with model averaging, one Spark job per epoch.

    Parameters
    ----------
    epochs : int
        Maximum number of epochs (passes); each is one iteration.
    batch_size : int
        Rows per local mini-batch.
    step_size : float
        Initial learning rate ``eta_0``.
    seed : int
        Random seed; partition ``p`` in epoch ``e`` shuffles with the seed ``(seed, e, p)``.
    decay : {"sqrt", "constant"}
        Learning rate of epoch ``e`` (from 0): ``eta_0 / sqrt(1 + e)`` or ``eta_0``.
    tol : float
        Stop when the averaged model moves little: ``||theta_new - theta|| <= tol *
        max(||theta_new||, 1)`` (MLlib's criterion). ``0`` runs all epochs.
    track_objective : bool
        Evaluate the exact objective after every epoch for the history (one extra pass per
        epoch). By default the history holds the epoch's mean mini-batch loss plus the
        penalty at the averaged model, which costs nothing extra.

    Notes
    -----
    ``result.fun`` is always the exact objective at the final model (one extra pass).
    """

    def __init__(self, epochs: int = 10, batch_size: int = 128, step_size: float = 0.1,
                 seed: int = 0, decay: str = "sqrt", tol: float = 1e-4,
                 track_objective: bool = False):
        self.epochs = check_int("epochs", epochs, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.step_size = check_float("step_size", step_size, 0.0, min_inclusive=False)
        self.seed = check_int("seed", seed, 0)
        if decay not in ("sqrt", "constant"):
            raise ValueError(f"decay must be 'sqrt' or 'constant', got {decay!r}")
        self.decay = decay
        self.tol = check_float("tol", tol, 0.0)
        if not isinstance(track_objective, (bool, np.bool_)):
            raise ValueError(f"track_objective must be True or False, got {track_objective!r}")
        self.track_objective = bool(track_objective)

    def learning_rate(self, epoch: int) -> float:
        """The step size used in ``epoch`` (counted from 0)."""
        if self.decay == "sqrt":
            return self.step_size / math.sqrt(1.0 + epoch)
        return self.step_size

    def minimize(self, objective, theta0: np.ndarray | None = None,
                 callback: Callback | None = None) -> OptimizeResult:
        """Run up to ``epochs`` epochs from ``theta0`` (zeros by default)."""
        track = Tracker("ParallelSGD", callback, objective)
        x = initial_theta(objective, theta0)
        mask = objective.l1_mask
        converged, message, it = False, "max_iter (epochs) reached", 0
        for epoch in range(self.epochs):
            it = epoch + 1
            step = self.learning_rate(epoch)
            if step * objective.l2 >= 1.0:
                raise ValueError(f"step_size too large for the L2 term: step * reg * "
                                 f"(1 - l1_ratio) = {step * objective.l2:g} must be < 1")
            wsum, n, loss_sum = objective.map_reduce(
                sgd_partition, objective.loss, x, objective.n_features,
                objective.fit_intercept, objective.l2, objective.l1, step, self.batch_size,
                self.seed, epoch, with_index=True)
            x_new = np.asarray(wsum, dtype=np.float64) / n
            if not np.all(np.isfinite(x_new)):
                raise FloatingPointError(f"SGD diverged in epoch {it}; lower step_size "
                                         f"(now {self.step_size:g})")
            moved = float(np.linalg.norm(x_new - x))
            size = max(float(np.linalg.norm(x_new)), 1.0)
            x = x_new
            if self.track_objective:
                loss = objective.value(x)
            else:
                loss = (loss_sum / n + 0.5 * objective.l2 * float(x[mask] @ x[mask])
                        + objective.l1_penalty(x))
            stop = track(it, loss, moved=moved / size, step=step)
            if self.tol and moved <= self.tol * size:
                converged, message = True, "relative change of the model below tol"
                break
            if stop:
                message = "stopped by the callback"
                break
        fun = objective.value(x)
        return track.finish(x, fun, it, converged, message, unit="epochs")
