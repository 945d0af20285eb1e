"""ALS input: (user, item, rating) triples from any input kind, as CSR by user and by item.

Ids are arbitrary integers (also integral floats) mapped to contiguous indices; ratings
must be finite numbers; every error names the column and row. Duplicate (user, item)
pairs are kept as separate observations, as pyspark.ml does.
"""
from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from mli.table.ids import as_integer_ids, index_ids
from mli.table.kinds import input_kind

__all__ = ["Ratings", "read_triples"]

_JIT = dict(cache=True, nogil=True)


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



class Ratings:
    """Ratings prepared on the driver: id maps and CSR by user and by item. As fit input it
    has 3 features, named by the columns it was read from."""

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

    @property
    def num_features(self) -> int:
        return 3

    @property
    def feature_names(self) -> list[str]:
        return list(self.names)


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


def read_triples(data, names):
    """(users, items, ratings) 1-D arrays from any supported input."""
    if data is None:
        raise TypeError("ALS.fit expects ratings (an MLTable, pandas or Spark DataFrame with "
                        "user, item and rating columns, or an (n, 3) array), got None")
    kind = input_kind(data)
    if kind == "mltable":
        idx = _pick_columns(data.columns, names)
        if not data.is_numeric:
            raise data._non_numeric_error("ratings")
        a = data.to_numpy()
        return a[:, idx[0]], a[:, idx[1]], a[:, idx[2]]
    if kind in ("spark", "connect"):
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
    if kind == "series":
        raise TypeError(f"ALS.fit expects a pandas DataFrame, got {type(data).__name__}")
    if kind == "pandas":
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
