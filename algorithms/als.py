"""Alternating least squares (ALS) matrix factorization for recommendation, on Spark.

Factorizes a sparse user x item rating matrix as ``R ~ X Y^T`` with ``rank`` latent
factors per user (rows of ``X``) and per item (rows of ``Y``), alternately solving every
item's least-squares problem with the user factors fixed, then every user's with the item
factors fixed (the first half-step of an iteration updates the items, as pyspark.ml does).

Objectives (``n_u``, ``n_i``: rating counts of a user / an item; ALS-WR, as pyspark.ml):

* explicit feedback::

      sum_{(u,i) observed} (r_ui - x_u.y_i)^2 + reg * (sum_u n_u |x_u|^2 + sum_i n_i |y_i|^2)

  with ``biases=True`` the prediction is ``mu + b_u + b_i + x_u.y_i`` (``mu`` = the mean
  training rating, fixed) and the biases are regularized like the factors
  (``n_u (|x_u|^2 + b_u^2)``);
* implicit feedback (Hu, Koren & Volinsky 2008): every (user, item) pair counts, with
  confidence ``c_ui = 1 + alpha * |r_ui|`` (1 for unobserved pairs) and preference
  ``p_ui = [r_ui > 0]``::

      sum_{all u,i} c_ui (p_ui - x_u.y_i)^2 + reg * (sum_u n_u |x_u|^2 + sum_i n_i |y_i|^2)

  with ``n`` = the number of positive entries. The Gramian ``Y^T Y`` is computed once per
  half-step, so a user costs ``O(n_u k^2 + k^3)`` (``solver="cholesky"``) or
  ``O(cg_steps (n_u k + k^2))`` (``solver="cg"``: warm-started conjugate gradient, as the
  ``implicit`` library).

The per-row normal equations are built and solved by the numba kernels of
:mod:`mli.algorithms.als_kernels`, one call per block of rows (no Python loop over users or
ratings). Data preparation (ids -> indices, CSR by user and by item, blocks with equal
rating counts) is vectorized numpy on the driver.

Distribution strategies (``strategy=``), all giving the same factors for the same seed:

``"data_parallel"``
    Ratings are resident blocks (:class:`mli.engine.blocks.BlockRDD`; user block ``p`` and item
    block ``p`` in block ``p``, written once by the driver) and the whole fit is one gang
    run (:mod:`mli.engine.gang`), on ``local[*]``, a cluster and a Spark Connect session alike:
    each half-step every task solves its blocks' rows against the other side's factors,
    and the solved rows are all-gathered through the gang's leader in block order, so
    every task holds the same factors (``2 n_rows rank`` float32s per task and half-step).
    A callback runs on the driver once per iteration.
``"blocked"``
    Fully distributed, as pyspark.ml's ALS, and also one gang run: no task ever holds the
    whole factors. Block ``p`` holds user block ``p``'s ratings with their item columns
    renumbered into the item rows they reference, the same of item block ``p``, and for
    every block of the other side which of its factor rows that block needs, all
    precomputed on the driver. Each task keeps its blocks' factor rows between
    half-steps; a half-step sends each block only the rows it needs, task to task
    (:meth:`mli.engine.gang.GangBlocks.exchange`, not through the leader), and the block
    assembles them and solves its rows. ``Y^T Y`` (implicit) and the loss are tree-reduced
    over the blocks. At the end the leader gathers the factors for the driver.
``"auto"`` (default)
    ``data_parallel`` while the factors take < 500 MB, ``blocked`` otherwise; the choice
    is logged (logger ``"mli"``). ``"broadcast"`` (the ratings broadcast to every task,
    one job per half-step) was replaced by ``data_parallel`` and runs it, with a
    ``FutureWarning``.

Both strategies run the same per-row arithmetic, keep no Spark lineage (nothing to
checkpoint: a lost task restarts the gang run, which gives the same factors) and run
unchanged over Spark Connect.

Initial factors depend only on ``(seed, id)`` (a counter-based hash of the raw id), not on
the partitioning, so every strategy and partition count gives the same model. Duplicate
``(user, item)`` ratings are kept as separate observations (as pyspark.ml does).
"""
from __future__ import annotations

import functools
import logging
import math
import operator
import time
import warnings
from typing import Any, NamedTuple

import numba
import numpy as np

from mli.core.base import Algorithm, Model
from mli.core.estimator import clone_value
from mli.errors import task_safe
from mli.table.ids import as_integer_ids, index_ids, lookup
from mli.table.sampling import GOLDEN, mix64
from mli.core.params import Interval, Options, Param, validate_params

__all__ = ["ALS", "ALSModel", "hashed_factors"]

log = logging.getLogger("mli")

#: ``auto``: data_parallel while the factors (every task holds them) take fewer bytes
FACTORS_LIMIT = 500 << 20
#: default partitioning: about this many flops per task and iteration (see num_partitions)
WORK_PER_TASK = 1e8
_USER_SALT = 0x5553455200000001
_ITEM_SALT = 0x4954454D00000002
_JIT = dict(cache=True, nogil=True)


# ============================================================================ numba helpers


@numba.njit(**_JIT)
def _to_csr_nb(rows, cols, vals, n_rows):
    """Counting sort of (row, col, val) triples by row (stable: ties keep input order)."""
    n = rows.shape[0]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for j in range(n):
        indptr[rows[j] + 1] += 1
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    pos = indptr[:-1].copy()
    out_cols = np.empty(n, dtype=np.int32)
    out_vals = np.empty(n, dtype=np.float32)
    for j in range(n):
        r = rows[j]
        p = pos[r]
        out_cols[p] = cols[j]
        out_vals[p] = vals[j]
        pos[r] = p + 1
    return indptr, out_cols, out_vals


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
    ``salt=_USER_SALT`` (the default) for users and ``_ITEM_SALT`` for items.
    """
    salt = _USER_SALT if salt is None else salt
    ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64)).view(np.uint64)
    base = np.uint64(mix64(np.uint64((int(seed) ^ int(salt)) & 0xFFFFFFFFFFFFFFFF)))
    out = np.empty((ids.shape[0], int(rank)), dtype=np.float64)
    return _hashed_factors_nb(ids, int(rank), base, out).astype(np.float32)


# ============================================================================ input


class _Ratings:
    """Ratings prepared on the driver: id maps and CSR by user and by item."""

    def __init__(self, users, items, ratings, names):
        ucol, icol, rcol = names
        u = as_integer_ids(users, ucol, "user")
        i = as_integer_ids(items, icol, "item")
        r = _as_ratings(ratings, rcol)
        if not (u.shape[0] == i.shape[0] == r.shape[0]):
            raise ValueError(f"user, item and rating columns differ in length: {u.shape[0]}, "
                             f"{i.shape[0]}, {r.shape[0]}")
        if r.shape[0] == 0:
            raise ValueError("ALS needs at least one rating; the input has no rows")
        self.names = tuple(names)
        self.user_ids, uc = index_ids(u)
        self.item_ids, ic = index_ids(i)
        self.n_users, self.n_items = len(self.user_ids), len(self.item_ids)
        self.nnz = int(r.shape[0])
        self.mean = float(np.mean(r))
        r32 = r.astype(np.float32)
        self.user_csr = _to_csr_nb(uc, ic, r32, self.n_users)
        self.item_csr = _to_csr_nb(ic, uc, r32, self.n_items)

    def csr(self, side):
        return self.user_csr if side == "user" else self.item_csr


def _as_ratings(values, column) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"column '{column}' must be 1-D, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        out = np.empty(a.shape[0], dtype=np.float64)
        for j, v in enumerate(a.tolist()):  # non-numeric dtype only: find the bad row
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
                raise ValueError(f"ratings must be numbers: row {j} of column '{column}' "
                                 f"holds {v!r} ({type(v).__name__})")
            out[j] = float(v)
        a = out
    a = a.astype(np.float64, copy=False)
    finite = np.isfinite(a)
    if not finite.all():
        j = int(np.argmin(finite))
        raise ValueError(f"ratings must be finite: row {j} of column '{column}' is "
                         f"{a[j].item()!r}")
    return a


def _pick_columns(columns, names, what="ratings"):
    """Indices of ``names`` in ``columns``; positional when none is present and the
    number of columns matches."""
    cols = [str(c) for c in columns]
    if all(n in cols for n in names):
        return [cols.index(n) for n in names]
    if not any(n in cols for n in names) and len(cols) == len(names):
        return list(range(len(names)))
    missing = [n for n in names if n not in cols]
    raise ValueError(f"{what} have no column(s) {missing}; columns are {cols[:20]} (set "
                     "user_col / item_col / rating_col, or pass exactly "
                     f"{len(names)} columns to use them by position)")


def _read_triples(data, names):
    """(users, items, ratings) 1-D arrays from any supported input."""
    import scipy.sparse as sp

    from mli.table.mltable import MLTable

    if data is None:
        raise TypeError("ALS.fit expects ratings (an MLTable, pandas or Spark DataFrame with "
                        "user, item and rating columns, or an (n, 3) array), got None")
    mod = type(data).__module__
    if isinstance(data, MLTable):
        idx = _pick_columns(data.columns, names)
        if not data.is_numeric:
            raise data._non_numeric_error("ratings")
        a = data.to_numpy()
        return a[:, idx[0]], a[:, idx[1]], a[:, idx[2]]
    if mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame":
        idx = _pick_columns(data.columns, names)
        cols = [data.columns[j] for j in idx]
        tbl = data.select(*cols).toArrow()
        out = []
        for j, c in enumerate(cols):
            col = tbl.column(j)
            if col.null_count:
                mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False))
                row = int(np.argmax(mask))
                what = ("user ids", "item ids", "ratings")[j]
                raise ValueError(f"{what} must not be missing: row {row} of column '{c}' is "
                                 "null")
            out.append(col.to_numpy())
        return out[0], out[1], out[2]
    if mod.startswith("pandas"):
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"ALS.fit expects a pandas DataFrame, got {type(data).__name__}")
        idx = _pick_columns(data.columns, names)
        # missing values (NaN, None, pd.NA) are reported by the checks of the columns
        return tuple(data.iloc[:, j].to_numpy() for j in idx)
    if sp.issparse(data):
        coo = sp.coo_matrix(data)
        return coo.row, coo.col, coo.data
    if isinstance(data, (str, bytes, dict)):
        raise TypeError(f"ALS.fit expects ratings, got a {type(data).__name__}")
    a = np.asarray(data)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"a ratings array must have shape (n, 3): columns user, item, rating; "
                         f"got shape {a.shape}")
    return a[:, 0], a[:, 1], a[:, 2]


# ============================================================================ per-block solve


class _Cfg(NamedTuple):
    """What a task needs to solve a block (small; shipped in the closure)."""
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


def _solve_rows(cfg, indptr, cols, vals, F, G, X0, data_term):
    """Solve one block of rows against the other side's factors ``F``.

    ``cols`` index rows of ``F``. With biases, ``F`` is augmented ``[factors, bias]``; the
    solve then uses ``[factors, 1]`` against ``r - mu - bias_other`` and returns
    ``[x, b]``. Returns ``(X float32 (n_rows, k'), loss partial float)``.
    """
    from mli.algorithms import als_kernels as K

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
    scaling = "count" if cfg.count_scaling else "none"
    if cfg.implicit:
        if cfg.cg:
            X = K.solve_implicit_cg(indptr, cols, vals, Y, G, cfg.reg, cfg.alpha, X0,
                                    cg_steps=cfg.cg_steps, reg_scaling=scaling,
                                    confidence_offset=cfg.offset)
        else:
            X = K.solve_implicit(indptr, cols, vals, Y, G, cfg.reg, cfg.alpha,
                                 nonnegative=cfg.nonnegative, reg_scaling=scaling,
                                 confidence_offset=cfg.offset)
    else:
        X = K.solve_explicit(indptr, cols, vals, Y, cfg.reg, nonnegative=cfg.nonnegative,
                             reg_scaling=scaling)
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


def _slice_rows(csr, lo, hi):
    indptr, cols, vals = csr
    s0, s1 = int(indptr[lo]), int(indptr[hi])
    return indptr[lo:hi + 1] - s0, cols[s0:s1], vals[s0:s1]


def _solve_block(cfg, csr, lo, F, G, X0, data_term):
    """One block's half-step: its rows ``csr`` (the first is row ``lo`` of the side) solved
    against the other side's factors ``F``; ``(rows, loss, their Gramian or None)``."""
    n = csr[0].shape[0] - 1
    X, loss = _solve_rows(cfg, *csr, F, G, None if X0 is None else X0[lo:lo + n], data_term)
    return X, loss, _gram(X, cfg.rank) if cfg.implicit else None


def _split_rows(indptr, parts):
    """Row bounds of ``parts`` contiguous blocks with (about) equal rating counts."""
    n = indptr.shape[0] - 1
    nnz = int(indptr[-1])
    targets = (np.arange(1, parts, dtype=np.int64) * nnz) // parts
    cuts = np.searchsorted(indptr, targets, side="left")
    bounds = np.concatenate([[0], np.clip(cuts, 0, n), [n]]).astype(np.int64)
    return np.maximum.accumulate(bounds)


# ============================================================================ strategies


class _Tracker:
    def __init__(self, callback):
        self.callback = callback
        self.start = time.perf_counter()
        self.history: list = []

    def __call__(self, iteration, loss) -> bool:
        seconds = time.perf_counter() - self.start
        self.history.append((iteration, loss, seconds))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("ALS iter %d: loss=%.10g (%.3fs)", iteration, loss, seconds)
        if self.callback is not None:
            return bool(self.callback(iteration, float(loss), seconds))
        return False


def _gram(F, k):
    from mli.algorithms import als_kernels as K

    return K.gramian(F[:, :k])


def _assemble(results, width):
    """``(factors, loss, Gramian or None)`` from the per-block ``(X, loss, G)``, in block
    order."""
    mats = [r[0] for r in results]
    X = np.concatenate(mats, axis=0) if mats else np.zeros((0, width), np.float32)
    grams = [r[2] for r in results if r[2] is not None]
    G = functools.reduce(operator.add, grams) if grams else None
    return X, float(sum(r[1] for r in results)), G


def _dp_task(index, bundle, side, cfg, G, data_term, F, X0):
    indptr, cols, vals, lo = bundle[side]
    return _solve_block(cfg, (indptr, cols, vals), lo, F, G, X0, data_term)


def _half(blocks, side, cfg, F, G, X0, data_term):
    """One half-step: every block solves its rows of ``side`` against ``F``; the rows of all
    blocks, in block order, assembled in every task (and the driver)."""
    return _assemble(blocks.map_collect(_dp_task, side, cfg, G, data_term, F, X0,
                                        with_index=True), cfg.rank)


def _alternate(blocks, cfg, X, Y, max_iter, callback=None):
    """The whole fit over the rating blocks (a gang run's program: every task runs it and
    holds the same factors): ``(X, Y, losses)``. ``callback(iteration, loss)`` (on the
    driver) returning true stops it."""
    k = cfg.rank
    # implicit: each half-step's tasks also return the Gramian of the rows they solved
    # (summed in block order), so it is never computed from the whole factors
    GX = _gram(X, k) if cfg.implicit else None
    losses = []
    for it in range(1, max_iter + 1):
        Y_new, l_items, GY = _half(blocks, "item", cfg, X, GX, Y if cfg.cg else None, False)
        X, l_users, GX = _half(blocks, "user", cfg, Y_new, GY, X if cfg.cg else None, True)
        Y = Y_new
        losses.append(l_items + l_users if cfg.want_loss else math.nan)
        if callback is not None and callback(it, losses[-1]):
            break
    return X, Y, losses


# ---------------------------------------------------------------------------- blocked


def _in_out_blocks(csr, row_bounds, col_bounds, n_cols):
    """For each row block p: its CSR with columns renumbered into the sorted set of columns
    it references; for each column block q: ``[(p, local rows of q that p needs)]``."""
    P, Q = len(row_bounds) - 1, len(col_bounds) - 1
    in_blocks, out_blocks = [], [[] for _ in range(Q)]
    for p in range(P):  # a loop over blocks, not rows
        lo, hi = int(row_bounds[p]), int(row_bounds[p + 1])
        ip, c, v = _slice_rows(csr, lo, hi)
        if n_cols <= 8 * max(c.shape[0], 1):
            present = np.zeros(n_cols, dtype=bool)
            present[c] = True
            uniq = np.flatnonzero(present)
            local = (np.cumsum(present, dtype=np.int64) - 1)[c]
        else:
            uniq, local = np.unique(c, return_inverse=True)
        in_blocks.append((np.ascontiguousarray(ip), local.astype(np.int32),
                          np.ascontiguousarray(v)))
        cut = np.searchsorted(uniq, col_bounds)
        for q in range(Q):
            a, b = int(cut[q]), int(cut[q + 1])
            if b > a:
                out_blocks[q].append((p, (uniq[a:b] - col_bounds[q]).astype(np.int64)))
    return in_blocks, out_blocks


def _blocked_bundles(prob, parts, X, Y):
    """Block ``p`` of the blocked strategy: user block ``p``'s ratings with their item
    columns renumbered into the item rows they reference (``user``), which of its factor
    rows each item block needs (``user_out``: ``[(item block, rows)]``), its initial
    factor rows (``user_x0``); the same of item block ``p``."""
    ub = _split_rows(prob.user_csr[0], parts)
    ib = _split_rows(prob.item_csr[0], parts)
    u_in, i_out = _in_out_blocks(prob.user_csr, ub, ib, prob.n_items)
    i_in, u_out = _in_out_blocks(prob.item_csr, ib, ub, prob.n_users)
    return [{"user": u_in[p], "item": i_in[p], "user_out": u_out[p], "item_out": i_out[p],
             "user_x0": X[ub[p]:ub[p + 1]], "item_x0": Y[ib[p]:ib[p + 1]]}
            for p in range(parts)]


def _start_rows(index, bundle, side):
    return np.array(bundle[side + "_x0"])


def _needed_rows(index, bundle, side, F):
    """The rows of ``side``'s factors ``F`` (this task's blocks) each block of the other
    side needs."""
    return {dest: F[index][rows] for dest, rows in bundle[side + "_out"]}


def _solve_received(index, bundle, side, cfg, got, G, X0):
    """Block ``index``'s rows of ``side`` against the rows it received (in the order of
    its renumbered columns)."""
    parts = [rows for _src, rows in got[index]]
    F = (np.concatenate(parts, axis=0) if parts
         else np.zeros((0, X0[index].shape[1]), np.float32))
    return _solve_block(cfg, bundle[side], 0, F, G, X0[index] if cfg.cg else None,
                        side == "user")


def _loss_and_gram(index, bundle, solved):
    return solved[index][1], solved[index][2]


def _rows_of(index, bundle, F):
    return F[index]


def _blocked_half(blocks, side, cfg, F, G, X0):
    """A half-step of the blocked strategy: every block of ``side`` receives the other
    side's factor rows its ratings reference, from the tasks that hold them, and solves its
    rows; ``({block: rows}, loss, Gramian or None)``."""
    other = "item" if side == "user" else "user"
    got = blocks.exchange(_needed_rows, other, F)
    solved = blocks.local_values(_solve_received, side, cfg, got, G, X0, with_index=True)
    loss, gram = blocks.map_reduce(_loss_and_gram, solved, with_index=True)
    return {i: s[0] for i, s in solved.items()}, float(loss), gram


def _blocked(blocks, cfg, GX, max_iter, callback=None):
    """The blocked fit (a gang run's program): every task keeps the factor rows of its own
    blocks, and a half-step sends each block only the rows of the other side it needs
    (task to task); no task holds the whole factors until the end, when the leader gathers
    them for the driver. ``(X, Y, losses)`` (None in the other tasks)."""
    X = blocks.local_values(_start_rows, "user", with_index=True)
    Y = blocks.local_values(_start_rows, "item", with_index=True)
    losses = []
    for it in range(1, max_iter + 1):
        Y, l_items, GY = _blocked_half(blocks, "item", cfg, X, GX, Y)
        X, l_users, GX = _blocked_half(blocks, "user", cfg, Y, GY, X)
        losses.append(l_items + l_users if cfg.want_loss else math.nan)
        if callback is not None and callback(it, losses[-1]):
            break
    Xs = blocks.gather(_rows_of, X, with_index=True)
    Ys = blocks.gather(_rows_of, Y, with_index=True)
    if Xs is None:
        return None
    return np.concatenate(Xs, axis=0), np.concatenate(Ys, axis=0), losses


class _GangRunner:
    """The fit as one gang run (:mod:`mli.engine.gang`) over resident rating blocks, written once
    by the driver: :func:`_alternate` (data_parallel) or :func:`_blocked`. A per-iteration
    callback runs on the driver."""

    def __init__(self, ctx, prob, parts, strategy, X, Y):
        from mli.engine.blocks import BlockRDD

        self.blocked = strategy == "blocked"
        if self.blocked:
            bundles = _blocked_bundles(prob, parts, X, Y)
        else:  # user block p and item block p in block p
            bounds = {s: _split_rows(prob.csr(s)[0], parts) for s in ("user", "item")}
            bundles = [{s: _slice_rows(prob.csr(s), int(bounds[s][p]), int(bounds[s][p + 1]))
                        + (int(bounds[s][p]),) for s in ("user", "item")}
                       for p in range(parts)]
        self.store = BlockRDD.from_bundles(bundles, ctx, name=f"als-{strategy}")

    def run(self, cfg, X, Y, max_iter, tracker):
        from mli.engine import gang

        callback = None if tracker.callback is None else tracker
        if self.blocked:
            GX = _gram(X, cfg.rank) if cfg.implicit else None
            X, Y, losses = gang.execute(self.store, _blocked, cfg, GX, max_iter,
                                        callback=callback)
        else:
            X, Y, losses = gang.execute(self.store, _alternate, cfg, X, Y, max_iter,
                                        callback=callback)
        if callback is None:  # the iterations, for the model's history
            for it, loss in enumerate(losses, 1):
                tracker(it, loss)
        return X, Y, len(losses)

    def close(self):
        self.store = None  # the driver's files go with the store (garbage collection)


# ============================================================================ ALS


class ALS(Algorithm):
    """Alternating least squares matrix factorization (explicit or implicit feedback).

    Parameters
    ----------
    rank : int, default 10
        Number of latent factors.
    max_iter : int, default 10
        Iterations (each updates all items, then all users).
    reg : float, default 0.1
        Regularization, scaled by each row's rating count (ALS-WR, as pyspark.ml's
        ``regParam``; see ``reg_scaling``).
    implicit : bool, default False
        Implicit feedback (Hu, Koren & Volinsky): ratings are interaction strengths.
    alpha : float, default 1.0
        Implicit feedback confidence: ``c = confidence_offset + alpha * |r|``.
    nonnegative : bool, default False
        Constrain the factors to be >= 0 (exact NNLS per row).
    strategy : {"auto", "data_parallel", "blocked"}, default "auto"
        How ratings and factors are distributed (see the module docstring). ``auto``:
        data_parallel while the factors take < 500 MB, blocked otherwise. (``"broadcast"``,
        replaced by data_parallel, runs data_parallel with a ``FutureWarning``.)
    seed : int or None, default None
        Seed of the initial factors (which depend only on the seed and each id). None
        draws a random seed (recorded as ``model.seed_used``).
    biases : bool, default False
        Explicit feedback only: also learn a bias per user and per item and the global
        mean; the model predicts ``mu + b_u + b_i + x_u.y_i``.
    solver : {"cholesky", "cg"}, default "cholesky"
        Implicit feedback only: exact per-row solve, or ``cg_steps`` warm-started
        conjugate-gradient steps (much faster for large ranks; the ``implicit`` library's
        default).
    cg_steps : int, default 3
    user_col, item_col, rating_col : str, default "user", "item", "rating"
        Column names in table/DataFrame input (used by position when none of them is
        present and the input has exactly 3 columns).
    num_partitions : int or None, default None
        Number of blocks (Spark tasks per half-step). None: enough blocks to give each
        task ~1e8 flops per iteration, at most the context's default parallelism -- small
        problems get one block (a task launch costs more than their compute), large ones
        use every core. Always at most the number of users / items.
    checkpoint_interval : None
        No longer used (deprecated): every strategy is one gang run without Spark lineage,
        so nothing is checkpointed. A value other than None gives a ``FutureWarning``.
    cold_start : {"nan", "drop", "mean"}, default "nan"
        Default of :meth:`ALSModel.predict` for unknown users/items.
    reg_scaling : {"count", "none"}, default "count"
        "count": ``reg * n_u`` (pyspark.ml); "none": ``reg`` (the ``implicit`` library).
    confidence_offset : float, default 1.0
        Implicit feedback: 1 is the paper / pyspark.ml; 0 (with ``reg_scaling="none"``)
        reproduces the ``implicit`` library's objective.
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration (loss = the
        objective, computed within the solve jobs only when a callback is given; NaN
        otherwise); returning True stops.

    Input of :meth:`fit`: an MLTable, pandas or Spark DataFrame with user, item and rating
    columns, an ``(n, 3)`` array ``[user, item, rating]``, or a scipy sparse user x item
    matrix (its stored entries are the ratings). Ids are arbitrary integers (also
    integral floats, e.g. from a float table); duplicate (user, item) pairs are kept as
    separate observations, as pyspark.ml does.

    Examples
    --------
    >>> import pandas as pd
    >>> from mli.algorithms import ALS
    >>> ratings = pd.DataFrame({"user": [1, 1, 2, 3], "item": [10, 20, 10, 30],
    ...                         "rating": [5.0, 3.0, 4.0, 1.0]})
    >>> model = ALS(rank=2, max_iter=5, seed=0).fit(ratings)          # doctest: +SKIP
    >>> model.predict(pd.DataFrame({"user": [1], "item": [30]}))      # doctest: +SKIP
    >>> model.recommend([1, 2], k=2)                                   # doctest: +SKIP
    """

    rank = Param(10, Interval(int, 1, None))
    max_iter = Param(10, Interval(int, 1, None))
    reg = Param(0.1, Interval(float, 0, None, closed="left"))
    implicit = Param(False, [bool])
    alpha = Param(1.0, Interval(float, 0, None, closed="left"))
    nonnegative = Param(False, [bool])
    strategy = Param("auto", Options({"auto", "broadcast", "data_parallel", "blocked"}))
    seed = Param(None, [None, Interval(int, 0, None)])
    biases = Param(False, [bool])
    solver = Param("cholesky", Options({"cholesky", "cg"}))
    cg_steps = Param(3, Interval(int, 1, None))
    user_col = Param("user", [str])
    item_col = Param("item", [str])
    rating_col = Param("rating", [str])
    num_partitions = Param(None, [None, Interval(int, 1, None)])
    checkpoint_interval = Param(None, [None, Interval(int, 1, None)])
    cold_start = Param("nan", Options({"nan", "drop", "mean"}))
    reg_scaling = Param("count", Options({"count", "none"}))
    confidence_offset = Param(1.0, Interval(float, 0, None, closed="left"))
    callback = Param(None, [None, "callable"])

    # ------------------------------------------------------------------ validation
    def _check_combination(self) -> None:
        name = type(self).__name__

        def bad(param, msg):
            return ValueError(f"Invalid value for parameter '{param}' of {name}: {msg}.")

        if self.biases and self.implicit:
            raise bad("biases", "biases=True applies to explicit feedback (implicit=False)")
        if self.biases and self.nonnegative:
            raise bad("biases", "biases=True cannot be combined with nonnegative=True")
        if self.solver == "cg" and not self.implicit:
            raise bad("solver", "solver='cg' applies to implicit feedback (implicit=True)")
        if self.solver == "cg" and self.nonnegative:
            raise bad("solver", "solver='cg' cannot be combined with nonnegative=True")
        if len({self.user_col, self.item_col, self.rating_col}) != 3:
            raise bad("user_col", f"user_col, item_col and rating_col must differ, got "
                                  f"{self.user_col!r}, {self.item_col!r}, {self.rating_col!r}")

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, y: Any = None, *, label: str | None = None,
            **fit_kwargs: Any) -> "ALSModel":
        """Factorize the ratings in ``data`` and return an :class:`ALSModel`.

        Parameters
        ----------
        data : MLTable, pandas/Spark DataFrame, (n, 3) array or scipy sparse matrix
            (user, item, rating) triples (see the class docstring).
        y, label
            Not used (ALS has no separate label); must be None.

        Raises
        ------
        ValueError
            Invalid hyperparameters; empty input; NaN/inf or non-numeric ratings;
            non-integral ids (the message names the column and row); missing columns.
        """
        validate_params(self)
        self._check_combination()
        if y is not None:
            raise ValueError("ALS.fit takes (user, item, rating) triples in one table or "
                             "(n, 3) array; y must be None")
        if label is not None:
            raise ValueError(f"ALS.fit has no label column (got label={label!r}); name the "
                             "columns with user_col / item_col / rating_col")
        if fit_kwargs:
            raise TypeError(f"ALS.fit got unexpected keyword arguments {sorted(fit_kwargs)}")
        before = self.get_params()
        names = (self.user_col, self.item_col, self.rating_col)
        t0 = time.perf_counter()
        ratings = _Ratings(*_read_triples(data, names), names)
        log.debug("ALS: prepared %d ratings of %d users x %d items in %.3fs", ratings.nnz,
                  ratings.n_users, ratings.n_items, time.perf_counter() - t0)
        model = self._fit(ratings)
        after = self.get_params()
        changed = [k for k in before if after.get(k) is not before[k]]
        if changed:
            raise RuntimeError(f"ALS._fit changed hyperparameter(s) {changed}")
        model._set_fit_info({k: clone_value(v) for k, v in before.items()}, names)
        return model

    def _choose_strategy(self, prob: _Ratings, parts: int, ctx=None) -> str:
        strategy = self.strategy
        if strategy == "broadcast":
            warnings.warn("ALS(strategy='broadcast') runs strategy='data_parallel': every fit "
                          "is one gang run over resident rating blocks, and the ratings are "
                          "no longer broadcast; pass strategy='data_parallel' (or 'auto')",
                          FutureWarning, stacklevel=4)
            strategy = "data_parallel"
        if self.checkpoint_interval is not None:
            warnings.warn("ALS(checkpoint_interval=...) has no effect and will be removed: "
                          "every strategy is one gang run without Spark lineage, so nothing "
                          "is checkpointed", FutureWarning, stacklevel=4)
        if strategy != "auto":
            return strategy
        width = self.rank + (1 if self.biases else 0)
        factor_bytes = (prob.n_users + prob.n_items) * width * 4
        mb = 1 << 20
        if factor_bytes < FACTORS_LIMIT:
            choice, why = "data_parallel", (f"factors {factor_bytes / mb:.1f} MB < "
                                            f"{FACTORS_LIMIT / mb:.0f} MB")
        else:
            choice, why = "blocked", f"factors {factor_bytes / mb:.1f} MB"
        log.info("ALS strategy='auto' chose %r (%s; %d ratings, %d users, %d items, rank %d, "
                 "%d partitions)", choice, why, prob.nnz, prob.n_users, prob.n_items,
                 self.rank, parts)
        return choice

    def _default_partitions(self, prob: _Ratings, parallelism: int) -> int:
        """Enough blocks that each task has ~``WORK_PER_TASK`` flops per iteration (a task
        launch has a fixed cost in wall time), at most the context's parallelism."""
        w = self.rank + (1 if self.biases else 0)
        rows = prob.n_users + prob.n_items
        if self.implicit and self.solver == "cg":
            steps = self.cg_steps + 1
            flops = steps * (8.0 * prob.nnz * w + 2.0 * rows * w * w)
        else:
            flops = 2.0 * prob.nnz * w * w + rows * (w ** 3) / 3.0 + (rows * w * w
                                                                      if self.implicit else 0)
        return int(max(1, min(parallelism, math.ceil(flops / WORK_PER_TASK))))

    def _fit(self, prob: _Ratings, **_unused) -> "ALSModel":
        from mli.engine.context import get_context

        ctx = get_context(getattr(self, "ctx", None))
        parts = self.num_partitions or self._default_partitions(prob, ctx.default_parallelism)
        parts = int(max(1, min(parts, prob.n_users, prob.n_items)))
        strategy = self._choose_strategy(prob, parts, ctx)
        seed = self.seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
        k = int(self.rank)
        X = hashed_factors(prob.user_ids, k, seed, _USER_SALT)
        Y = hashed_factors(prob.item_ids, k, seed, _ITEM_SALT)
        if self.biases:
            X = np.hstack([X, np.zeros((X.shape[0], 1), np.float32)])
            Y = np.hstack([Y, np.zeros((Y.shape[0], 1), np.float32)])
        cfg = _Cfg(rank=k, implicit=bool(self.implicit), reg=float(self.reg),
                   alpha=float(self.alpha), nonnegative=bool(self.nonnegative),
                   cg=bool(self.implicit and self.solver == "cg"), cg_steps=int(self.cg_steps),
                   count_scaling=self.reg_scaling == "count",
                   offset=float(self.confidence_offset), biases=bool(self.biases),
                   mu=prob.mean if self.biases else 0.0, want_loss=self.callback is not None)
        runner = _GangRunner(ctx, prob, parts, strategy, X, Y)
        tracker = _Tracker(self.callback)
        try:
            X, Y, n_iter = runner.run(cfg, X, Y, int(self.max_iter), tracker)
        finally:
            runner.close()
        ub = ib = None
        if self.biases:
            X, ub = X[:, :k], X[:, k].copy()
            Y, ib = Y[:, :k], Y[:, k].copy()
        indptr, cols, _vals = prob.user_csr
        return ALSModel(prob.user_ids, prob.item_ids, np.ascontiguousarray(X),
                        np.ascontiguousarray(Y), user_biases=ub, item_biases=ib,
                        global_mean=prob.mean, seen_indptr=indptr, seen_items=cols,
                        implicit=bool(self.implicit), cold_start=self.cold_start,
                        n_iter=n_iter, strategy=strategy, seed_used=seed,
                        history=[list(h) for h in tracker.history])


# ============================================================================ model


class _Predictor(NamedTuple):
    """The arrays prediction needs (shipped to Spark tasks instead of the whole model)."""
    user_ids: np.ndarray
    item_ids: np.ndarray
    U: np.ndarray
    V: np.ndarray
    bu: Any
    bi: Any
    mu: float
    global_mean: float
    user_col: str
    item_col: str


def _predict_ids(pr: _Predictor, users, items, mode):
    """Predictions for raw id arrays -> (float64 predictions, kept mask or None)."""
    u = lookup(pr.user_ids, as_integer_ids(users, pr.user_col, "user"))
    i = lookup(pr.item_ids, as_integer_ids(items, pr.item_col, "item"))
    known = (u >= 0) & (i >= 0)
    out = np.full(u.shape[0], np.nan)
    idx = np.flatnonzero(known)
    step = 1 << 20
    for s in range(0, idx.shape[0], step):  # bounded memory: (chunk, rank) gathers
        sel = idx[s:s + step]
        uu, ii = u[sel], i[sel]
        p = np.einsum("ij,ij->i", pr.U[uu].astype(np.float64), pr.V[ii].astype(np.float64))
        if pr.bu is not None:
            p += pr.mu + pr.bu[uu].astype(np.float64) + pr.bi[ii].astype(np.float64)
        out[sel] = p
    if mode == "mean":
        out[~known] = pr.global_mean
    if mode == "drop":
        return out[known], known
    return out, None


def _predict_block(pr, ju, ji, mode, block):
    """MLTable batches: the input columns plus the prediction."""
    a = np.asarray(block.array.toarray() if hasattr(block.array, "toarray") else block.array,
                   dtype=np.float64)
    pred, kept = _predict_ids(pr, a[:, ju], a[:, ji], mode)
    if kept is not None:
        a = a[kept]
    return np.column_stack([a, pred])


def _predict_pandas_batches(pr, ucol, icol, mode, batches):
    """Spark ``mapInPandas``: each batch with a "prediction" column."""
    for df in batches:
        pred, kept = _predict_ids(pr, df[ucol].to_numpy(), df[icol].to_numpy(), mode)
        if kept is not None:
            df = df[kept]
        df = df.copy()
        df["prediction"] = pred
        yield df


def _topk_task(bundle, k, Y):
    from mli.algorithms import als_kernels as K

    lo, Xq, ex_ptr, ex_idx = bundle
    items, scores = K.topk_scores(Xq, Y, k, ex_ptr, ex_idx)
    return lo, items, scores


class ALSModel(Model):
    """A fitted ALS factorization.

    Attributes
    ----------
    user_ids, item_ids : ndarray of int64
        The raw ids, sorted; row ``j`` of ``user_factors`` belongs to ``user_ids[j]``.
    user_factors, item_factors : ndarray of float32, shape (n_users | n_items, rank)
    user_biases, item_biases : ndarray of float32 or None
        With ``biases=True``.
    global_mean : float
        Mean training rating (added to the prediction with biases; the ``cold_start=
        "mean"`` fill value).
    seen_indptr, seen_items : ndarray
        The training ratings as CSR (user row -> item rows), for ``exclude_seen``.
    implicit : bool
    rank, n_iter : int
    strategy : str
        The strategy the fit used.
    seed_used : int
        The seed of the initial factors.
    history : list of [iteration, loss, seconds]
        The iterations the driver observed (every iteration with the driver-held
        strategies or with a callback; the fused single-block path reports them when its
        job ends; ``blocked`` without a callback only at its materialization points). The
        loss is NaN unless the fit had a callback; seconds count from the start of the
        iterations.
    """

    _arrays = ("user_ids", "item_ids", "user_factors", "item_factors", "user_biases",
               "item_biases", "seen_indptr", "seen_items")
    _attributes = ("rank", "implicit", "global_mean", "cold_start", "n_iter", "strategy",
                   "seed_used", "history")
    _registry_name = "mli.ALSModel"

    def __init__(self, user_ids, item_ids, user_factors, item_factors, *, user_biases=None,
                 item_biases=None, global_mean=0.0, seen_indptr=None, seen_items=None,
                 implicit=False, cold_start="nan", n_iter=0, strategy="", seed_used=0,
                 history=()):
        self.user_ids = np.asarray(user_ids, dtype=np.int64)
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.user_factors = np.asarray(user_factors, dtype=np.float32)
        self.item_factors = np.asarray(item_factors, dtype=np.float32)
        self.user_biases = None if user_biases is None else np.asarray(user_biases, np.float32)
        self.item_biases = None if item_biases is None else np.asarray(item_biases, np.float32)
        n_u = self.user_ids.shape[0]
        self.seen_indptr = (np.zeros(n_u + 1, np.int64) if seen_indptr is None
                            else np.asarray(seen_indptr, dtype=np.int64))
        self.seen_items = (np.zeros(0, np.int32) if seen_items is None
                           else np.asarray(seen_items, dtype=np.int32))
        self.rank = int(self.user_factors.shape[1])
        self.implicit = bool(implicit)
        self.global_mean = float(global_mean)
        self.cold_start = str(cold_start)
        self.n_iter = int(n_iter)
        self.strategy = str(strategy)
        self.seed_used = int(seed_used)
        self.history = [list(h) for h in history]
        if self.user_factors.shape != (n_u, self.rank) or \
                self.item_factors.shape != (self.item_ids.shape[0], self.rank):
            raise ValueError("factor shapes do not match the ids")
        super().__init__(n_features=3)

    def __repr__(self) -> str:
        return (f"ALSModel(rank={self.rank}, users={self.user_ids.shape[0]}, "
                f"items={self.item_ids.shape[0]}, implicit={self.implicit})")

    # ------------------------------------------------------------------ helpers
    @property
    def _cols(self):
        names = self.feature_names or ("user", "item", "rating")
        return names[0], names[1]

    def _predictor(self) -> _Predictor:
        ucol, icol = self._cols
        return _Predictor(self.user_ids, self.item_ids, self.user_factors, self.item_factors,
                          self.user_biases, self.item_biases,
                          self.global_mean if self.user_biases is not None else 0.0,
                          self.global_mean, ucol, icol)

    def _pair_columns(self, columns):
        """Indices of the user and item columns: by name, else the first two of 2 or 3."""
        cols = [str(c) for c in columns]
        ucol, icol = self._cols
        if ucol in cols and icol in cols:
            return cols.index(ucol), cols.index(icol)
        if ucol not in cols and icol not in cols and len(cols) in (2, 3):
            return 0, 1
        raise ValueError(f"predict needs the columns '{ucol}' and '{icol}' (or 2 or 3 "
                         f"columns: user, item[, rating]); got {len(cols)} features "
                         f"{cols[:10]}")

    def user_index(self, users) -> np.ndarray:
        """Rows of ``user_factors`` for raw user ids (-1 for unknown ids)."""
        return lookup(self.user_ids, as_integer_ids(np.atleast_1d(users), "users", "user"))

    def item_index(self, items) -> np.ndarray:
        """Rows of ``item_factors`` for raw item ids (-1 for unknown ids)."""
        return lookup(self.item_ids, as_integer_ids(np.atleast_1d(items), "items", "item"))

    # ------------------------------------------------------------------ predict
    def predict(self, data: Any, cold_start: str | None = None):
        """Predicted ratings (implicit: preferences) for (user, item) pairs.

        Parameters
        ----------
        data : (n, 2) array, pandas DataFrame, MLTable or Spark DataFrame
            The pairs. Tables are read by the training column names (``user_col`` /
            ``item_col``), else by position when they have 2 or 3 columns. An ``(n, 3)``
            array (e.g. ratings ``[user, item, rating]``) is accepted: the third column
            is ignored.
        cold_start : {"nan", "drop", "mean"}, optional
            Pairs with a user or item not seen in training: NaN, removed, or the global
            mean training rating. Default: the ``cold_start`` the model was fitted with.

        Returns
        -------
        The input's kind: numpy -> 1-D float64 array; pandas -> Series aligned with the
        input's index (named "prediction"); MLTable / Spark DataFrame -> the same kind
        with the input's columns plus "prediction". With ``"drop"`` the unknown pairs'
        rows are removed (numpy: from the returned array too; pandas: the Series keeps the
        remaining rows' index).
        """
        mode = self.cold_start if cold_start is None else cold_start
        if mode not in ("nan", "drop", "mean"):
            raise ValueError(f"cold_start must be 'nan', 'drop' or 'mean', got {mode!r}")
        pr = self._predictor()
        from mli.table.mltable import MLTable

        mod = type(data).__module__
        if isinstance(data, MLTable):
            ju, ji = self._pair_columns(data.columns)
            if "prediction" in data.columns:
                raise ValueError("the input already has a 'prediction' column")
            if not data.is_numeric:
                raise data._non_numeric_error("user and item ids")
            fn = functools.partial(_predict_block, pr, ju, ji, mode)
            return data.map_batches(fn, columns=list(data.columns) + ["prediction"])
        if mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame":
            from pyspark.sql.types import DoubleType, StructField, StructType

            ju, ji = self._pair_columns(data.columns)
            if "prediction" in data.columns:
                raise ValueError("the input already has a 'prediction' column")
            schema = StructType(list(data.schema.fields)
                                + [StructField("prediction", DoubleType(), True)])
            fn = functools.partial(_predict_pandas_batches, pr, data.columns[ju],
                                   data.columns[ji], mode)
            return data.mapInPandas(task_safe(fn), schema)
        if mod.startswith("pandas"):
            import pandas as pd

            if isinstance(data, pd.Series):
                raise ValueError("predict needs a DataFrame of (user, item) pairs, got a "
                                 "Series")
            ju, ji = self._pair_columns(data.columns)
            pred, kept = _predict_ids(pr, data.iloc[:, ju].to_numpy(),
                                      data.iloc[:, ji].to_numpy(), mode)
            index = data.index if kept is None else data.index[kept]
            return pd.Series(pred, index=index, name="prediction")
        if isinstance(data, (str, bytes, dict)) or data is None:
            raise TypeError(f"predict expects (user, item) pairs, got {type(data).__name__}")
        import scipy.sparse as sp

        a = data.toarray() if sp.issparse(data) else np.asarray(data)
        if a.ndim != 2 or a.shape[1] not in (2, 3):
            got = a.shape[1] if a.ndim == 2 else f"shape {a.shape}"
            raise ValueError(f"ALSModel.predict expects (user, item) pairs: an array with 2 "
                             f"columns (or 3: user, item, rating; the rating is ignored); got "
                             f"{got} features")
        pred, _kept = _predict_ids(pr, a[:, 0], a[:, 1], mode)
        return pred

    # ------------------------------------------------------------------ recommend
    def _query(self, rows):
        """Score matrices (float32) such that ``Xq @ Yr.T`` is the predicted rating."""
        U = self.user_factors[rows]
        if self.user_biases is None:
            return np.ascontiguousarray(U), self.item_factors
        n = U.shape[0]
        Xq = np.empty((n, self.rank + 2), np.float32)
        Xq[:, :self.rank] = U
        Xq[:, self.rank] = 1.0
        Xq[:, self.rank + 1] = self.global_mean + self.user_biases[rows]
        Yr = np.empty((self.item_factors.shape[0], self.rank + 2), np.float32)
        Yr[:, :self.rank] = self.item_factors
        Yr[:, self.rank] = self.item_biases
        Yr[:, self.rank + 1] = 1.0
        return Xq, Yr

    def _seen(self, rows):
        """The seen-items CSR restricted to ``rows`` (vectorized gather)."""
        starts = self.seen_indptr[rows]
        counts = self.seen_indptr[rows + 1] - starts
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        pos = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
        return indptr, self.seen_items[pos]

    def _frame(self, user_ids_per_row, items, scores):
        import pandas as pd

        k = items.shape[1]
        valid = (items >= 0).ravel()
        users = np.repeat(user_ids_per_row, k)[valid]
        item_ids = self.item_ids[items.ravel()[valid]]
        return pd.DataFrame({"user": users, "item": item_ids,
                             "score": scores.ravel()[valid].astype(np.float64)})

    def recommend(self, users, k: int = 10, exclude_seen: bool = True):
        """Top-``k`` items for each of ``users`` (computed on the driver).

        Parameters
        ----------
        users : int or sequence of int
            Raw user ids (all must be known to the model).
        k : int
        exclude_seen : bool, default True
            Leave out the items the user rated in training.

        Returns
        -------
        pandas.DataFrame
            Columns ``user``, ``item``, ``score`` (the predicted rating), ``k`` rows per
            user in the order given, best first (ties: lower item index first); fewer when
            fewer than ``k`` items are left.

        Raises
        ------
        ValueError
            A user id unknown to the model.
        """
        from mli.algorithms import als_kernels as K

        k = self._check_k(k)
        ids = as_integer_ids(np.atleast_1d(np.asarray(users)), "users", "user")
        rows = lookup(self.user_ids, ids)
        if (rows < 0).any():
            unknown = ids[rows < 0]
            raise ValueError(f"unknown user id(s) {unknown[:10].tolist()}: not in the "
                             f"training data ({len(unknown)} unknown)")
        Xq, Yr = self._query(rows)
        ex_ptr, ex_idx = self._seen(rows) if exclude_seen else (None, None)
        items, scores = K.topk_scores(Xq, Yr, k, ex_ptr, ex_idx)
        return self._frame(ids, items, scores)

    @staticmethod
    def _check_k(k):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        return int(k)

    def recommend_all(self, k: int = 10, exclude_seen: bool = True, *,
                      num_partitions: int | None = None, ctx=None):
        """Top-``k`` items for every user, as :meth:`recommend` (one Spark job over user
        blocks: blocked matrix products and partial sorts, no cross join).

        Returns a pandas DataFrame (``user``, ``item``, ``score``), users in id order.
        """
        from mli.engine.context import get_context

        k = self._check_k(k)
        ctx = get_context(ctx)
        n = self.user_ids.shape[0]
        parts = int(max(1, min(num_partitions or ctx.default_parallelism, n)))
        bounds = np.linspace(0, n, parts + 1).round().astype(np.int64)
        rows = np.arange(n)
        Xq, Yr = self._query(rows)
        bundles = []
        for p in range(parts):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            if exclude_seen:
                s0, s1 = self.seen_indptr[lo], self.seen_indptr[hi]
                ex = (self.seen_indptr[lo:hi + 1] - s0, self.seen_items[s0:s1])
            else:
                ex = (None, None)
            bundles.append((lo, Xq[lo:hi], ex[0], ex[1]))
        from mli.engine.blocks import BlockRDD

        store = BlockRDD.from_bundles(bundles, ctx, name="als-queries")
        out = store.map_collect(_topk_task, k, Yr)  # one pass: a gang run
        items = np.concatenate([o[1] for o in out], axis=0)
        scores = np.concatenate([o[2] for o in out], axis=0)
        return self._frame(self.user_ids, items, scores)
