"""Arbitrary integer ids <-> contiguous indices (vectorized, driver side).

Recommendation data names users and items by arbitrary integers (database keys, hashed
strings, ...). Algorithms index their factor matrices by contiguous positions ``0..n-1``.
:func:`as_integer_ids` validates a column of ids (integral, finite) with errors that name
the column and row; :func:`index_ids` maps them to positions in the sorted unique ids;
:func:`lookup` maps ids seen later (at prediction time) back to those positions.

Examples
--------
>>> import numpy as np
>>> from mli.table.ids import index_ids, lookup
>>> ids, codes = index_ids(np.array([30, 10, 30, 7]))
>>> ids, codes
(array([ 7, 10, 30]), array([2, 1, 2, 0], dtype=int32))
>>> lookup(ids, np.array([10, 11]))
array([ 1, -1])
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_integer_ids", "index_ids", "lookup"]

_INT64_MAX = np.iinfo(np.int64).max
# dense (bitmap) mapping when the id range is at most this many times the row count
_DENSE_FACTOR = 8
_DENSE_MIN = 1 << 20


def _bad(column: str, what: str, row: int, value) -> ValueError:
    return ValueError(f"{what} ids must be integers: row {row} of column '{column}' holds "
                      f"{value!r}")


def as_integer_ids(values, column: str = "id", what: str | None = None) -> np.ndarray:
    """Validate a 1-D sequence of ids and return it as int64.

    Accepts integer arrays, and float arrays whose values are integral (``3.0``). Rejects
    NaN/inf, fractional values, booleans and text with a :class:`ValueError` naming the
    column and the first offending row. Negative integers are valid ids.

    Parameters
    ----------
    values : array-like, 1-D
    column : str
        Column name used in error messages.
    what : str, optional
        What the ids identify ("user", "item"); defaults to ``column``.
    """
    what = what or column
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"column '{column}' must be 1-D, got shape {a.shape}")
    kind = a.dtype.kind
    if kind == "i":
        return a.astype(np.int64, copy=False)
    if kind == "u":
        if a.size and int(a.max()) > _INT64_MAX:
            i = int(np.argmax(a > _INT64_MAX))
            raise ValueError(f"{what} ids must fit in 64-bit signed integers: row {i} of "
                             f"column '{column}' holds {a[i]!r}")
        return a.astype(np.int64)
    if kind == "b":
        raise ValueError(f"{what} ids must be integers, but column '{column}' holds booleans")
    if kind == "f":
        ok = np.isfinite(a)
        ok &= a == np.trunc(np.where(ok, a, 0.0))
        ok &= np.abs(np.where(ok, a, 0.0)) < 2.0 ** 63
        if not ok.all():
            i = int(np.argmin(ok))
            raise _bad(column, what, i, a[i].item())
        return a.astype(np.int64)
    if kind == "O":
        out = np.empty(a.shape[0], dtype=np.int64)
        for i, v in enumerate(a.tolist()):  # object columns only (rare): a Python loop
            if isinstance(v, (bool, np.bool_)) or v is None:
                raise _bad(column, what, i, v)
            if isinstance(v, (numbers.Integral, np.integer)):
                out[i] = int(v)
            elif isinstance(v, (numbers.Real, np.floating)) and np.isfinite(v) \
                    and float(v).is_integer() and abs(v) < 2.0 ** 63:
                out[i] = int(v)
            else:
                raise _bad(column, what, i, v)
        return out
    first = a[0].item() if a.size else None
    raise ValueError(f"{what} ids must be integers, but column '{column}' holds "
                     f"{a.dtype} values (row 0 is {first!r})")


def index_ids(ids) -> tuple[np.ndarray, np.ndarray]:
    """Map int64 ids to positions in their sorted unique values.

    Returns ``(uniques, codes)``: ``uniques`` sorted int64 (n_unique,), ``codes`` int32
    with ``uniques[codes] == ids``. O(n) with a bitmap when the ids are non-negative and
    their range is not much larger than their count, ``np.unique`` otherwise.
    """
    ids = np.asarray(ids, dtype=np.int64)
    n = ids.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    lo, hi = int(ids.min()), int(ids.max())
    if lo >= 0 and hi < max(_DENSE_FACTOR * n, _DENSE_MIN):
        present = np.zeros(hi + 1, dtype=bool)
        present[ids] = True
        uniques = np.flatnonzero(present).astype(np.int64)
        remap = np.cumsum(present, dtype=np.int64) - 1
        codes = remap[ids]
    else:
        uniques, codes = np.unique(ids, return_inverse=True)
        codes = codes.reshape(-1)
    if uniques.shape[0] >= 2 ** 31:
        raise ValueError(f"too many distinct ids ({uniques.shape[0]}); at most 2^31 - 1")
    return uniques, codes.astype(np.int32)


def lookup(uniques, ids) -> np.ndarray:
    """Positions of ``ids`` (int64) in the sorted ``uniques``; ``-1`` for unknown ids."""
    uniques = np.asarray(uniques, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    if uniques.shape[0] == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    pos = np.searchsorted(uniques, ids)
    pos = np.minimum(pos, uniques.shape[0] - 1)
    return np.where(uniques[pos] == ids, pos, -1).astype(np.int64)
