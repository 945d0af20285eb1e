"""A model's per-block function on one block of input, with the checks every output kind
shares (the rows' width and finiteness; the output's shape): used by ``Model._apply`` for
local arrays, tables and Spark DataFrames (one Arrow batch at a time)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from mli.table.frames import arrow_to_block

__all__ = ["apply_block", "apply_arrow", "check_finite"]


def apply_arrow(f: Callable, columns: list, names: list, batches):
    """``f`` on each Arrow batch of a partition (its rows as one LocalMatrix)."""
    import pyarrow as pa
    from pyspark import TaskContext

    index = TaskContext.get().partitionId() if TaskContext.get() else 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        out = np.asarray(f(arrow_to_block(columns, [batch], index)), dtype=np.float64)
        out = out.reshape(len(out), -1)
        yield pa.RecordBatch.from_arrays([pa.array(out[:, j]) for j in range(len(names))],
                                         names=names)


def check_finite(X) -> None:
    data = X.data if sp.issparse(X) else X
    if data.dtype.kind in "biu":
        return
    finite = np.isfinite(data)
    if not finite.all():
        if sp.issparse(X):
            k = int(np.argmax(~finite))
            row = int(np.searchsorted(X.indptr, k, side="right") - 1)
            col = int(X.indices[k])
            value = X.data[k]
        else:
            row = int(np.argmax(~finite.all(axis=1)))
            col = int(np.argmax(~finite[row]))
            value = X[row, col]
        raise ValueError(f"X must be finite (no NaN or inf): row {row}, column {col} is "
                         f"{float(value)!r}")


def apply_block(fn: Callable, n_features: int, n_out: int, single: bool, model_name: str,
                 block: Any) -> np.ndarray:
    """Check one input block, run ``fn`` on it and check the output's shape."""
    a = block.array
    n = a.shape[0]
    if a.ndim != 2 or a.shape[1] != n_features:
        raise ValueError(f"X has {a.shape[1] if a.ndim == 2 else a.shape} features, but "
                         f"{model_name} was fitted with {n_features} features")
    if n == 0:
        return np.zeros(0) if single else np.zeros((0, n_out))
    check_finite(a)
    out = fn(block)
    if hasattr(out, "array") and not isinstance(out, np.ndarray):
        out = out.array
    if sp.issparse(out):
        out = out.toarray()
    out = np.asarray(out)
    if single:
        if out.ndim == 2 and out.shape[1] == 1:
            out = out.ravel()
        if out.shape != (n,):
            raise RuntimeError(f"{model_name}: the block function returned shape {out.shape} "
                               f"for {n} rows; expected ({n},)")
    else:
        if out.shape != (n, n_out):
            raise RuntimeError(f"{model_name}: the block function returned shape {out.shape} "
                               f"for {n} rows; expected ({n}, {n_out})")
    return out
