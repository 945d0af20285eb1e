"""The fitted ALS model: predictions for (user, item) pairs in any input kind, and top-k
recommendations for some users or all of them (one pass over a store of user blocks)."""
from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from mli.core.base import Model
from mli.engine.blocks import BlockRDD
from mli.engine.context import get_context
from mli.errors import task_safe
from mli.table.ids import as_integer_ids, lookup
from mli.table.kinds import input_kind

__all__ = ["ALSModel", "topk_scores"]

log = logging.getLogger(__name__)


# ============================================================================ top k


def topk_scores(Xq, Y, k, exclude_indptr=None, exclude_idx=None, block_rows=None):
    """Top-``k`` items by score ``Xq @ Y.T`` for each query row.

    Computed in blocks of query rows (BLAS matmul in float32, then
    ``np.argpartition``), so memory stays ``O(block_rows * n_items)``. Optionally
    excludes, per query row, the item indices ``exclude_idx[exclude_indptr[q]:
    exclude_indptr[q+1]]`` (e.g. already-seen items). Results are best first, ties broken
    by item index ascending (deterministic). Slots beyond the number of candidate items
    (``k > n_items`` or everything excluded) hold item ``-1`` with score ``-inf``.

    Returns ``(items (n, k) int32, scores (n, k) float32)``.
    """
    Xq = np.ascontiguousarray(Xq, dtype=np.float32)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if Xq.ndim != 2 or Y.ndim != 2 or Xq.shape[1] != Y.shape[1]:
        raise ValueError(f"Xq (n, r) and Y (m, r) must agree in r: {Xq.shape}, {Y.shape}")
    k = int(k)
    if k < 0:
        raise ValueError("k must be >= 0")
    n, m = Xq.shape[0], Y.shape[0]
    items = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    kk = min(k, m)
    if n == 0 or kk == 0:
        return items, scores
    has_excl = exclude_indptr is not None
    if has_excl:
        exclude_indptr = np.asarray(exclude_indptr, dtype=np.int64)
        exclude_idx = np.asarray(exclude_idx, dtype=np.int64)
        if exclude_indptr.shape != (n + 1,):
            raise ValueError(f"exclude_indptr must have shape ({n + 1},)")
        if exclude_idx.size and (exclude_idx.min() < 0 or exclude_idx.max() >= m):
            raise ValueError("exclude_idx out of range")
    if block_rows is None:
        block_rows = max(1, min(n, (1 << 22) // max(m, 1)))  # ~16 MB of float32 scores
    YT = Y.T
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        S = Xq[r0:r1] @ YT  # (b, m) float32
        np.negative(S, out=S)  # smallest first == best first
        if has_excl:
            e0, e1 = exclude_indptr[r0], exclude_indptr[r1]
            if e1 > e0:
                rows = np.repeat(np.arange(r1 - r0), np.diff(exclude_indptr[r0:r1 + 1]))
                S[rows, exclude_idx[e0:e1]] = np.inf
        if kk < m:
            part = np.argpartition(S, kk - 1, axis=1)[:, :kk]
        else:
            part = np.broadcast_to(np.arange(m), (r1 - r0, m)).copy()
        pv = np.take_along_axis(S, part, axis=1)
        if kk < m:
            # argpartition picks arbitrarily among items tied with the k-th value; redo
            # those rows so that the lowest item indices win.
            thr = pv.max(axis=1)
            n_eq_all = np.count_nonzero(S == thr[:, None], axis=1)
            n_eq_in = np.count_nonzero(pv == thr[:, None], axis=1)
            for b in np.flatnonzero(n_eq_all > n_eq_in):
                row = S[b]
                less = np.flatnonzero(row < thr[b])
                eq = np.flatnonzero(row == thr[b])[: kk - less.size]
                sel = np.concatenate([less, eq])
                part[b] = sel
                pv[b] = row[sel]
        order = np.lexsort((part, pv), axis=1)
        part = np.take_along_axis(part, order, axis=1)
        pv = np.take_along_axis(pv, order, axis=1)
        sc = -pv
        part = np.where(np.isneginf(sc), -1, part)
        items[r0:r1, :kk] = part
        scores[r0:r1, :kk] = sc
    return items, scores


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
    lo, Xq, ex_ptr, ex_idx = bundle
    items, scores = topk_scores(Xq, Y, k, ex_ptr, ex_idx)
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

    #: sweeps run: always ``max_iter`` (ALS has no tolerance, as in Spark: it has no
    #: ``converged_`` and never warns), unless the callback stopped it
    n_iter_ = property(lambda self: self.n_iter)

    @classmethod
    def from_fit(cls, als, ratings, X, Y, *, n_iter: int, strategy: str, seed: int,
                 history) -> "ALSModel":
        """The model of a fit of ``als`` on ``ratings`` whose factors are ``X``, ``Y`` (with
        the bias column last when ``als.biases``)."""
        k = int(als.rank)
        ub = ib = None
        if als.biases:
            X, ub = X[:, :k], X[:, k].copy()
            Y, ib = Y[:, :k], Y[:, k].copy()
        indptr, cols, _vals = ratings.user_csr
        return cls(ratings.user_ids, ratings.item_ids, np.ascontiguousarray(X),
                   np.ascontiguousarray(Y), user_biases=ub, item_biases=ib,
                   global_mean=ratings.mean, seen_indptr=indptr, seen_items=cols,
                   implicit=bool(als.implicit), cold_start=als.cold_start, n_iter=n_iter,
                   strategy=strategy, seed_used=seed, history=[list(h) for h in history])

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
        kind = input_kind(data)
        if kind == "mltable":
            ju, ji = self._pair_columns(data.columns)
            if "prediction" in data.columns:
                raise ValueError("the input already has a 'prediction' column")
            if not data.is_numeric:
                raise data._non_numeric_error("user and item ids")
            fn = functools.partial(_predict_block, pr, ju, ji, mode)
            return data.map_batches(fn, columns=list(data.columns) + ["prediction"])
        if kind in ("spark", "connect"):
            from pyspark.sql.types import DoubleType, StructField, StructType

            ju, ji = self._pair_columns(data.columns)
            if "prediction" in data.columns:
                raise ValueError("the input already has a 'prediction' column")
            schema = StructType(list(data.schema.fields)
                                + [StructField("prediction", DoubleType(), True)])
            fn = functools.partial(_predict_pandas_batches, pr, data.columns[ju],
                                   data.columns[ji], mode)
            return data.mapInPandas(task_safe(fn), schema)
        if kind in ("pandas", "series"):
            import pandas as pd

            if kind == "series":
                raise ValueError("predict needs a DataFrame of (user, item) pairs, got a "
                                 "Series")
            ju, ji = self._pair_columns(data.columns)
            pred, kept = _predict_ids(pr, data.iloc[:, ju].to_numpy(),
                                      data.iloc[:, ji].to_numpy(), mode)
            index = data.index if kept is None else data.index[kept]
            return pd.Series(pred, index=index, name="prediction")
        if isinstance(data, (str, bytes, dict)) or data is None:
            raise TypeError(f"predict expects (user, item) pairs, got {type(data).__name__}")
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
        k = self._check_k(k)
        ids = as_integer_ids(np.atleast_1d(np.asarray(users)), "users", "user")
        rows = lookup(self.user_ids, ids)
        if (rows < 0).any():
            unknown = ids[rows < 0]
            raise ValueError(f"unknown user id(s) {unknown[:10].tolist()}: not in the "
                             f"training data ({len(unknown)} unknown)")
        Xq, Yr = self._query(rows)
        ex_ptr, ex_idx = self._seen(rows) if exclude_seen else (None, None)
        items, scores = topk_scores(Xq, Yr, k, ex_ptr, ex_idx)
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
        store = BlockRDD.from_bundles(bundles, ctx, name="als-queries")
        out = store.map_collect(_topk_task, k, Yr)  # one pass: a gang run
        items = np.concatenate([o[1] for o in out], axis=0)
        scores = np.concatenate([o[2] for o in out], axis=0)
        return self._frame(self.user_ids, items, scores)
