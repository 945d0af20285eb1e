"""What every ALS strategy runs: the initial factors, the solve of one block of rows
against the other side's factors (the local solvers of :mod:`mli.algorithms.als.kernels`),
its part of the objective, and the fit as one gang run over rating blocks.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numba
import numpy as np

from mli.algorithms.als import kernels as K
from mli.algorithms.als import reference as R
from mli.engine import gang
from mli.engine.blocks import BlockRDD
from mli.table.sampling import GOLDEN, mix64

__all__ = ["initial_factors", "SolveConfig", "LocalSolver", "SOLVERS", "local_solve", "hashed_factors", "solve_block",
           "solve_rows", "slice_rows", "split_rows", "gram",
           "run_in_gang", "USER_SALT", "ITEM_SALT"]

USER_SALT = 0x5553455200000001
ITEM_SALT = 0x4954454D00000002
_JIT = dict(cache=True, nogil=True)


# ============================================================================ initialization


@numba.njit(**_JIT)
def _hashed_factors_nb(ids, rank, base, out):
    golden = np.uint64(GOLDEN)
    two_pi = 2.0 * np.pi
    for r in range(ids.shape[0]):
        key = mix64(ids[r] ^ base)
        norm = 0.0
        for j in range(rank):
            h = mix64(key + np.uint64(j + 1) * golden)
            u1 = (np.float64(h >> np.uint64(32)) + 1.0) * 2.0 ** -32   # (0, 1]
            u2 = np.float64(h & np.uint64(0xFFFFFFFF)) * 2.0 ** -32     # [0, 1)
            z = abs(np.sqrt(-2.0 * np.log(u1)) * np.cos(two_pi * u2))
            out[r, j] = z
            norm += z * z
        norm = np.sqrt(norm)
        if norm > 0:
            for j in range(rank):
                out[r, j] /= norm
    return out


def hashed_factors(ids, rank: int, seed: int, salt: int | None = None) -> np.ndarray:
    """Initial factors that depend only on ``(seed, salt, id)``: row ``i`` is
    ``|N(0, I)|`` normalized to unit length (pyspark.ml's distribution), drawn from a
    counter-based hash (splitmix64 + Box-Muller) of ``ids[i]``. float32, shape
    ``(len(ids), rank)``.

    Because a row depends on its id only, the initialization is the same for any
    partitioning, any strategy and any subset of the other ids. ALS uses
    ``salt=USER_SALT`` (the default) for users and ``ITEM_SALT`` for items.
    """
    salt = USER_SALT if salt is None else salt
    ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64)).view(np.uint64)
    base = np.uint64(mix64(np.uint64((int(seed) ^ int(salt)) & 0xFFFFFFFFFFFFFFFF)))
    out = np.empty((ids.shape[0], int(rank)), dtype=np.float64)
    return _hashed_factors_nb(ids, int(rank), base, out).astype(np.float32)


def initial_factors(ratings, rank: int, seed: int, biases: bool):
    """``(X, Y)``: every user's and item's initial factors (:func:`hashed_factors`), with a
    bias column of zeros when ``biases``."""
    X = hashed_factors(ratings.user_ids, rank, seed, USER_SALT)
    Y = hashed_factors(ratings.item_ids, rank, seed, ITEM_SALT)
    if biases:
        X = np.hstack([X, np.zeros((X.shape[0], 1), np.float32)])
        Y = np.hstack([Y, np.zeros((Y.shape[0], 1), np.float32)])
    return X, Y


# ============================================================================ one block


class SolveConfig(NamedTuple):
    """What a task needs to solve a block (small; shipped in the closure)."""
    solver: str  # a key of SOLVERS
    rank: int
    implicit: bool
    reg: float
    alpha: float
    nonnegative: bool
    cg: bool
    cg_steps: int
    count_scaling: bool
    offset: float
    biases: bool
    mu: float
    want_loss: bool

    @classmethod
    def of(cls, als, ratings) -> "SolveConfig":
        """The configuration of an ALS estimator's fit on ``ratings``."""
        cg = bool(als.implicit and als.solver == "cg")
        return cls(solver="implicit_cg" if cg else "implicit" if als.implicit else "explicit",
                   rank=int(als.rank), implicit=bool(als.implicit), reg=float(als.reg),
                   alpha=float(als.alpha), nonnegative=bool(als.nonnegative), cg=cg,
                   cg_steps=int(als.cg_steps), count_scaling=als.reg_scaling == "count",
                   offset=float(als.confidence_offset), biases=bool(als.biases),
                   mu=ratings.mean if als.biases else 0.0, want_loss=als.callback is not None)


class LocalSolver(NamedTuple):
    """A solver of one block's per-row normal equations: the numba kernel and its plain-numpy
    reference, called with the same arguments (tests/test_als_kernels.py checks them
    against each other)."""
    kernel: Callable
    reference: Callable


#: the local solvers: explicit feedback and implicit feedback by Cholesky (or NNLS with
#: ``nonnegative``), implicit by warm-started conjugate gradient
SOLVERS = {
    "explicit": LocalSolver(K.solve_explicit, R.solve_explicit_ref),
    "implicit": LocalSolver(K.solve_implicit, R.solve_implicit_ref),
    "implicit_cg": LocalSolver(K.solve_implicit_cg, R.solve_implicit_cg_ref),
}


def local_solve(cfg, indptr, cols, vals, Y, G, X0, *, reference: bool = False):
    """Solve the rows of one block against ``Y`` (Gramian ``G``, implicit; start ``X0``,
    CG) with the local solver ``cfg`` names: the numba kernel, or its numpy reference."""
    solver = SOLVERS[cfg.solver]
    solve = solver.reference if reference else solver.kernel
    scaling = "count" if cfg.count_scaling else "none"
    if cfg.solver == "explicit":
        return solve(indptr, cols, vals, Y, cfg.reg, nonnegative=cfg.nonnegative,
                     reg_scaling=scaling)
    if cfg.solver == "implicit":
        return solve(indptr, cols, vals, Y, G, cfg.reg, cfg.alpha, nonnegative=cfg.nonnegative,
                     reg_scaling=scaling, confidence_offset=cfg.offset)
    return solve(indptr, cols, vals, Y, G, cfg.reg, cfg.alpha, X0, cg_steps=cfg.cg_steps,
                 reg_scaling=scaling, confidence_offset=cfg.offset)


def solve_rows(cfg, indptr, cols, vals, F, G, X0, data_term):
    """Solve one block of rows against the other side's factors ``F``.

    ``cols`` index rows of ``F``. With biases, ``F`` is augmented ``[factors, bias]``; the
    solve then uses ``[factors, 1]`` against ``r - mu - bias_other`` and returns
    ``[x, b]``. Returns ``(X float32 (n_rows, k'), loss partial float)``.
    """
    k = cfg.rank
    if cfg.biases:
        m = F.shape[0]
        Y = np.empty((m, k + 1), dtype=np.float32)
        Y[:, :k] = F[:, :k]
        Y[:, k] = 1.0
        vals = (np.asarray(vals, dtype=np.float64) - cfg.mu
                - F[cols, k].astype(np.float64)).astype(np.float32)
    else:
        Y = F
    X = local_solve(cfg, indptr, cols, vals, Y, G, X0)
    loss = 0.0
    if cfg.want_loss:
        loss = _loss_nb(np.asarray(indptr, dtype=np.int64), np.asarray(cols, dtype=np.int32),
                        np.asarray(vals, dtype=np.float32), X, np.asarray(Y, np.float32),
                        cfg.implicit, float(cfg.alpha), float(cfg.offset),
                        cfg.count_scaling, float(cfg.reg), bool(data_term))
        if cfg.implicit and data_term:
            X64 = X.astype(np.float64)
            loss += float(np.sum((X64.T @ X64) * G))
    return X, float(loss)


def slice_rows(csr, lo, hi):
    indptr, cols, vals = csr
    s0, s1 = int(indptr[lo]), int(indptr[hi])
    return indptr[lo:hi + 1] - s0, cols[s0:s1], vals[s0:s1]


def solve_block(cfg, csr, lo, F, G, X0, data_term):
    """One block's half-step: its rows ``csr`` (the first is row ``lo`` of the side) solved
    against the other side's factors ``F``; ``(rows, loss, their Gramian or None)``."""
    n = csr[0].shape[0] - 1
    X, loss = solve_rows(cfg, *csr, F, G, None if X0 is None else X0[lo:lo + n], data_term)
    return X, loss, gram(X, cfg.rank) if cfg.implicit else None


def split_rows(indptr, parts):
    """Row bounds of ``parts`` contiguous blocks with (about) equal rating counts."""
    n = indptr.shape[0] - 1
    nnz = int(indptr[-1])
    targets = (np.arange(1, parts, dtype=np.int64) * nnz) // parts
    cuts = np.searchsorted(indptr, targets, side="left")
    bounds = np.concatenate([[0], np.clip(cuts, 0, n), [n]]).astype(np.int64)
    return np.maximum.accumulate(bounds)


@numba.njit(**_JIT)
def _loss_nb(indptr, cols, vals, X, Y, implicit, alpha, offset, count_scaling, reg,
             data_term):
    """This block's part of the objective: ``reg * sum_u n_u |x_u|^2`` plus, with
    ``data_term``, the observed-entry terms (explicit ``(r - x.y)^2``; implicit
    ``c (p - s)^2 - s^2``, the all-pairs ``s^2`` part is added by the caller)."""
    n_rows = indptr.shape[0] - 1
    k = X.shape[1]
    total = 0.0
    for u in range(n_rows):
        s0 = indptr[u]
        s1 = indptr[u + 1]
        xx = 0.0
        for a in range(k):
            xx += np.float64(X[u, a]) * X[u, a]
        if count_scaling:
            if implicit:
                n_u = 0
                for p in range(s0, s1):
                    if vals[p] > 0:
                        n_u += 1
            else:
                n_u = s1 - s0
        else:
            n_u = 1
        total += reg * n_u * xx
        if data_term:
            for p in range(s0, s1):
                j = cols[p]
                s = 0.0
                for a in range(k):
                    s += np.float64(X[u, a]) * Y[j, a]
                r = np.float64(vals[p])
                if implicit:
                    c = offset + alpha * abs(r)
                    pr = 1.0 if r > 0 else 0.0
                    total += c * (pr - s) ** 2 - s * s
                else:
                    total += (r - s) ** 2
    return total



def gram(F, k):
    return K.gramian(F[:, :k])



# ============================================================================ the run


def run_in_gang(ctx, name: str, bundles: list, program: Callable, args: tuple, tracker):
    """Run ``program(blocks, *args, max_iter, callback=...)`` -- a strategy's whole fit --
    as one gang run over the rating ``bundles`` (written once by the driver); returns
    ``(X, Y, n_iter)``. The tracker records each iteration (and calls the user's callback
    on the driver, when there is one)."""
    store = BlockRDD.from_bundles(bundles, ctx, name=f"als-{name}")
    callback = None if tracker.callback is None else tracker
    # the driver's files of the store go with it (garbage collection) when this returns
    X, Y, losses = gang.execute(store, program, *args, callback=callback)
    if callback is None:  # the iterations, for the model's history
        for it, loss in enumerate(losses, 1):
            tracker(it, loss)
    return X, Y, len(losses)
