"""Many models in the same passes: the batching of TuPAQ (Sparks et al., SoCC 2015).

``B`` configurations of one loss over the same blocks (e.g. logistic regressions with ``B``
regularizations) each run their own optimizer, but their passes over the data are shared:
when every member has asked for its value and gradient, one pass computes all of them, the
``B`` weight vectors stacked as the columns of ``W`` so a block costs one matrix product
``X @ W`` (and ``X.T @ R``) instead of ``B`` matrix-vector products -- the block is read
from memory once per pass, not ``B`` times, and one Spark job serves ``B`` models.

Each member is the unchanged optimizer (:class:`~mli.optimize.LBFGS`, ...) on an
:class:`~mli.optimize.Objective` whose passes go through the batch: the members run in
threads of their own, and the batch makes a pass when all members still running wait for
one (their requests in member order, so every run is deterministic, the same in every task
of a gang run). A member that converges early leaves; the others go on in smaller passes.

>>> import numpy as np
>>> from mli.optimize import LogisticLoss, minimize_many
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(float)
>>> results = minimize_many(LogisticLoss(), [(X, y)], [{"reg": 1.0}, {"reg": 0.01}])
>>> [round(r.fun, 4) for r in results]
[0.5033, 0.1167]
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

import numpy as np

from mli.engine import gang
from mli.optimize.base import MinimizeState, OptimizeResult, check_int
from mli.optimize.losses import CHUNK_ROWS, Loss, matvec, matvec_t, as_array
from mli.optimize.objective import (LocalBlocks, Objective, n_cols_kernel, value_grad_kernel, weight_sum,
                                    xy_bundle)
from mli.table.mltable import row_weights

__all__ = ["minimize_many", "value_grad_many"]

log = logging.getLogger("mli")

#: the hyperparameters a member's configuration may set
MEMBER_KEYS = ("reg", "l1_ratio", "max_iter", "tol")


# ---------------------------------------------------------------------------- the batched pass


_NO_WEIGHTS = np.zeros(0)

#: bytes of a dense block's chunk of rows and its margins in the numba pass: small enough
#: that the chunk is still in the core's cache (L2) when ``X.T @ dZ`` follows ``X @ W``. On
#: 200k x 100 at B=8, 256 KiB chunks made the pass 2.1x faster than 4096-row chunks (3.3 MB,
#: still the numpy loop's, whose Python overhead per chunk wants large chunks)
CHUNK_BYTES = 1 << 18


def chunk_rows(A, n_models: int = 1) -> int:
    """Rows per chunk of the dense block ``A`` for ``n_models`` margins in the numba pass."""
    rows = max(32, CHUNK_BYTES // max((A.shape[1] + 2 * n_models) * A.itemsize, 1))
    return rows if A.shape[0] > 2 * rows else max(A.shape[0], 1)


def value_grad_many(X, y, thetas: np.ndarray, loss: Loss, n_features: int,
                    fit_intercept: bool, sw=None):
    """The losses and gradients of ``B`` parameter vectors on one block, summed over its rows:
    ``(values (B,), grads (B, size))``, each row what ``loss.value_grad`` gives for that
    ``theta`` (packed as :func:`mli.optimize.objective.pack`). One product ``X @ W`` and one
    ``X.T @ R`` per chunk of rows for all ``B``."""
    from mli.optimize.batch_kernels import KINDS, margin_losses, margin_pass  # (numba)

    A = as_array(X)
    y = np.asarray(y, dtype=np.float64)
    thetas = np.asarray(thetas, dtype=np.float64)
    B, k, d = thetas.shape[0], loss.n_outputs, n_features
    nw = d * k
    W = thetas[:, :nw].reshape(B, d, k).transpose(1, 0, 2).reshape(d, B * k)
    bias = np.ascontiguousarray(thetas[:, nw:].ravel()) if fit_intercept else np.zeros(B * k)
    n = A.shape[0]
    if (k == 1 and type(loss).name in KINDS and isinstance(A, np.ndarray)
            and A.dtype == np.float64 and n > 0):  # the whole pass in one numba kernel
        values, G, gb = margin_pass(KINDS[type(loss).name], np.ascontiguousarray(A), y,
                                    _NO_WEIGHTS if sw is None
                                    else np.ascontiguousarray(sw, dtype=np.float64),
                                    np.ascontiguousarray(W), bias, chunk_rows(A, B * k))
        return values, _pack_grads(G, gb, B, k, d, thetas.shape[1], fit_intercept)
    values, G, gb = np.zeros(B), np.zeros((d, B * k)), np.zeros(B * k)
    step = CHUNK_ROWS if isinstance(A, np.ndarray) and n > 2 * CHUNK_ROWS else max(n, 1)
    for lo in range(0, n, step):
        Ac, yc = A[lo:lo + step], y[lo:lo + step]
        swc = None if sw is None else sw[lo:lo + step]
        Z = matvec(Ac, W) + bias
        dZ = np.empty_like(Z)
        if k == 1 and type(loss).name in KINDS:  # every model's column in one fused loop
            values += margin_losses(KINDS[type(loss).name], Z,
                                    np.ascontiguousarray(yc, dtype=np.float64),
                                    _NO_WEIGHTS if swc is None else
                                    np.ascontiguousarray(swc, dtype=np.float64), dZ)
            G += matvec_t(Ac, dZ)
            gb += dZ.sum(axis=0)
            continue
        for j in range(B):
            z = Z[:, j * k:(j + 1) * k] if k > 1 else Z[:, j]
            value, dz = (loss.value_grad_margin(z, yc) if swc is None
                         else loss.value_grad_margin(z, yc, swc))
            values[j] += value
            dZ[:, j * k:(j + 1) * k] = dz.reshape(z.shape[0], k)
        G += matvec_t(Ac, dZ)
        gb += dZ.sum(axis=0)
    return values, _pack_grads(G, gb, B, k, d, thetas.shape[1], fit_intercept)


def _pack_grads(G, gb, B, k, d, size, fit_intercept):
    """The stacked gradients ``(B, size)`` from ``G = X.T @ dZ`` and the intercepts' sums."""
    nw = d * k
    grads = np.empty((B, size))
    grads[:, :nw] = G.reshape(d, B, k).transpose(1, 0, 2).reshape(B, nw)
    if fit_intercept:
        grads[:, nw:] = gb.reshape(B, k)
    return grads


def _pass_kernel(index, bundle, loss, thetas, n_features, fit_intercept, others):
    """One block's share of a batched pass: the stacked value/gradients of ``thetas`` (or
    None) and the results of the other requests ``(fn, args, with_index)``."""
    vg = None
    if thetas is not None:
        X, y = xy_bundle(bundle)
        values, grads = value_grad_many(X, y, thetas, loss, n_features, fit_intercept,
                                        row_weights(bundle))
        vg = (values, grads, weight_sum(bundle, len(y)))
    rest = tuple(fn(index, bundle, *args) if with_index else fn(bundle, *args)
                 for fn, args, with_index in others)
    return vg, rest


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


class _Batch:
    """The members' meeting point: a pass when every running member waits for one."""

    def __init__(self, blocks, n: int, loss: Loss, n_features: int, fit_intercept: bool):
        self.blocks, self.loss = blocks, loss
        self.n_features, self.fit_intercept = n_features, fit_intercept
        self.cond = threading.Condition()
        self.pending: dict[int, tuple] = {}
        self.results: dict[int, Any] = {}
        self.running = set(range(n))
        self.passes = 0
        self.error: BaseException | None = None

    def request(self, i: int, fn, args: tuple, with_index: bool):
        with self.cond:
            if self.error is not None:
                raise self.error
            self.pending[i] = (fn, args, with_index)
            self.cond.notify_all()
            while i not in self.results:
                self.cond.wait()
            out = self.results.pop(i)
        if isinstance(out, _Failed):
            raise out.exc
        return out

    def leave(self, i: int) -> None:
        with self.cond:
            self.running.discard(i)
            self.cond.notify_all()

    def serve(self) -> None:
        """Make the passes (the calling thread) until every member has left."""
        while True:
            with self.cond:
                while self.running and not self.running <= self.pending.keys():
                    self.cond.wait()
                if not self.running:
                    return
                requests = sorted(self.pending.items())
                self.pending.clear()
            try:
                out = self._pass(requests)
            except BaseException as exc:  # a failed pass ends every member (and the run)
                self.error = exc
                out = {i: _Failed(exc) for i, _ in requests}
            with self.cond:
                self.results.update(out)
                self.cond.notify_all()

    def _pass(self, requests: list) -> dict:
        self.passes += 1
        vg = [(i, args[1]) for i, (fn, args, _) in requests if fn is value_grad_kernel]
        others, slot, owners = [], {}, {}
        for i, (fn, args, with_index) in requests:
            if fn is value_grad_kernel:
                continue
            key = (fn, with_index) if not args else None  # (argument-free requests: once)
            if key is None or key not in slot:
                others.append((fn, args, with_index))
                if key is not None:
                    slot[key] = len(others) - 1
            owners[i] = slot[key] if key is not None else len(others) - 1
        thetas = np.stack([t for _, t in vg]) if vg else None
        out_vg, rest = self.blocks.map_reduce(_pass_kernel, self.loss, thetas, self.n_features,
                                              self.fit_intercept, others, with_index=True)
        out = {i: rest[j] for i, j in owners.items()}
        for j, (i, _) in enumerate(vg):
            out[i] = (out_vg[0][j], out_vg[1][j], out_vg[2])
        return out


class _Member(Objective):
    """A member's objective: an :class:`Objective` whose passes go through the batch."""

    def map_reduce(self, fn, *args, with_index: bool = False):
        self.n_passes += 1
        return self._batch.request(self._index, fn, args, with_index)


# ---------------------------------------------------------------------------- entry point


def minimize_many(loss: Loss, blocks, configs: Sequence[dict], *, fit_intercept: bool = True,
                  method: str = "auto", max_iter: int = 100, tol: float = 1e-6,
                  n_features: int | None = None, warm_starts: Sequence | None = None,
                  precondition: bool | str = "auto", errors: str = "raise",
                  **options) -> list:
    """:func:`mli.optimize.minimize` for several configurations at once, their passes
    shared (module docstring).

    Parameters
    ----------
    loss : Loss
        The loss every member minimizes.
    blocks : BlockRDD or list of (X, y)
        The data, the same for every member.
    configs : sequence of dict
        One per member: ``reg``, ``l1_ratio``, and optionally its own ``max_iter`` and
        ``tol`` (else the arguments').
    fit_intercept, method, max_iter, tol, n_features, precondition, **options
        As :func:`mli.optimize.minimize`, for every member.
    warm_starts : sequence of (MinimizeState or None), optional
        A member's ``result.state`` from an earlier call: it resumes (``max_iter`` further
        iterations).
    errors : {"raise", "return"}, default "raise"
        A member whose optimizer fails (a non-finite objective...) raises, or leaves its
        exception in its place of the returned list. A failed pass over the data always
        raises.

    Returns
    -------
    list of OptimizeResult
        In the order of ``configs``; the same results as one :func:`minimize` each, up to
        the rounding of a matrix product against a matrix-vector product.
    """
    if not isinstance(loss, Loss):
        raise ValueError(f"loss must be an mli.optimize Loss (e.g. LogisticLoss()), got "
                         f"{type(loss).__name__}")
    if not isinstance(configs, (list, tuple)) or not configs:
        raise ValueError("minimize_many needs a non-empty list of configurations (dicts)")
    for j, cfg in enumerate(configs):
        if not isinstance(cfg, dict) or set(cfg) - set(MEMBER_KEYS):
            raise ValueError(f"configs[{j}] must be a dict with keys among {MEMBER_KEYS}, "
                             f"got {cfg!r}")
    if warm_starts is None:
        warm_starts = [None] * len(configs)
    if len(warm_starts) != len(configs):
        raise ValueError(f"warm_starts has {len(warm_starts)} entries for {len(configs)} "
                         "configurations")
    for j, ws in enumerate(warm_starts):
        if ws is not None and not isinstance(ws, MinimizeState):
            raise ValueError(f"warm_starts[{j}] must be an earlier result's .state or None, "
                             f"got {type(ws).__name__}")
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    if isinstance(blocks, (list, tuple)):
        blocks = LocalBlocks(blocks)
    results = gang.execute(blocks, _minimize_many, loss, list(configs), list(warm_starts),
                           fit_intercept=fit_intercept, method=method, max_iter=max_iter,
                           tol=tol, n_features=n_features, precondition=precondition,
                           options=options)
    for r in results:
        if isinstance(r, OptimizeResult):
            r.objective.blocks = blocks
        elif errors == "raise":
            raise r
    return results


def _minimize_many(blocks, loss, configs, warm_starts, *, fit_intercept, method, max_iter, tol,
                   n_features, precondition, options, callback=None):
    from mli.optimize import minimize_here  # (the package imports this module)

    if n_features is None:
        cols = set(blocks.map_collect(n_cols_kernel))
        if len(cols) != 1:
            raise ValueError(f"the blocks disagree on the number of features: {sorted(cols)}")
        n_features = cols.pop()
    check_int("n_features", n_features, 1)
    batch = _Batch(blocks, len(configs), loss, n_features, bool(fit_intercept))
    members = []
    for j, cfg in enumerate(configs):
        m = _Member(blocks, loss, n_features, reg=cfg.get("reg", 0.0),
                    l1_ratio=cfg.get("l1_ratio", 0.0), fit_intercept=fit_intercept)
        m._batch, m._index = batch, j
        members.append(m)
    results: list = [None] * len(configs)

    def run(j):
        cfg = configs[j]
        try:
            results[j] = minimize_here(blocks, loss, reg=cfg.get("reg", 0.0),
                                   l1_ratio=cfg.get("l1_ratio", 0.0),
                                   fit_intercept=fit_intercept, method=method,
                                   max_iter=cfg.get("max_iter", max_iter),
                                   tol=cfg.get("tol", tol), n_features=n_features,
                                   precondition=precondition, warm_start=warm_starts[j],
                                   objective=members[j], **options)
        except BaseException as exc:  # (kept in its place: errors="return")
            results[j] = exc
        finally:
            batch.leave(j)

    threads = [threading.Thread(target=run, args=(j,), name=f"mli-batch-{j}", daemon=True)
               for j in range(len(configs))]
    for t in threads:
        t.start()
    batch.serve()
    for t in threads:
        t.join()
    if batch.error is not None:
        raise batch.error
    for m in members:  # (the results travel back without the batch's locks)
        m._batch = None
    log.info("minimize_many: %d models in %d shared passes", len(configs), batch.passes)
    return results
