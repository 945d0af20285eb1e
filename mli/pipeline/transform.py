"""Applying fitted stages to any input: a record, a list, an array, a LocalMatrix, an
MLTable (per partition, in Spark) or a Spark DataFrame (``mapInArrow``), giving back the
same kind. Stages are used by duck typing, so this module sits below
:mod:`mli.pipeline.stages`.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.errors import ConnectUnsupportedError, task_safe
from mli.linalg.localmatrix import LocalMatrix
from mli.pipeline.batches import as_matrix_output, locate_error, run_stages, to_local_output
from mli.table.kinds import input_kind
from mli.table.mltable import MLTable
from mli.table.frames import NUMERIC_SPARK, arrow_matrix

__all__ = ["transform_any", "transform_local", "single_output", "transform_table",
           "final_on_frame", "static_width"]

log = logging.getLogger(__name__)


# ============================================================================ transform dispatch


def single_output(out: Any) -> Any:
    if sp.issparse(out) or isinstance(out, LocalMatrix):
        return out[0] if not isinstance(out, LocalMatrix) else out.array[0]
    return out[0]


def transform_local(stages, data):
    batch = data.array if isinstance(data, LocalMatrix) else data
    return to_local_output(run_stages(stages, batch), data)


def transform_any(stages: Sequence[Any], data: Any, *, keep=None, model: Any = None) -> Any:
    """Apply fitted ``stages`` to any supported input; return the input's kind."""
    kind = input_kind(data)
    if kind == "connect":
        return _features_on_frame(stages, model, data, keep)
    if kind == "spark":
        out = transform_table(stages, MLTable.from_data(data), keep, model)
        return out.to_spark()
    if isinstance(data, MLTable):
        return transform_table(stages, data, keep, model)
    if keep is not None:
        raise ValueError("keep= names table columns; it applies to MLTable input only")
    if isinstance(data, str):
        return single_output(transform_local(stages, [data]))
    if kind == "series":
        data = data.tolist()
    elif kind == "pandas":
        data = data.to_numpy()
    if isinstance(data, tuple):
        data = list(data)
    if isinstance(data, np.ndarray) and data.dtype.kind in "OUS" and data.ndim == 1:
        data = data.tolist()
    if model is not None:
        model._check_input(data)
    return transform_local(stages, data)


def final_on_frame(stages, model, method: str, df):
    """``model.method`` of the featurized rows of a Spark DataFrame, as a DataFrame (see
    :func:`_map_frame`; every column is an input)."""
    return _map_frame(stages, model, method, df, list(df.columns), [])


def _features_on_frame(stages, model, df, keep):
    """The features of a Spark Connect DataFrame's rows, as a DataFrame of ``f0 ..
    f{w-1}`` then the ``keep`` columns (see :func:`_map_frame`; no RDDs, which Connect
    does not offer)."""
    keep = _keep_columns(keep, list(df.columns))
    rest = [c for c in df.columns if c not in keep]
    inputs = model._input_columns(rest) if model is not None else rest
    try:
        return _map_frame(stages, None, None, df, inputs, keep)
    except TypeError as exc:  # the output is not a matrix (tokens, images...)
        raise ConnectUnsupportedError(
            f"over Spark Connect a pipeline's transform gives a DataFrame of feature "
            f"columns, so its output must be a numeric matrix: {exc}; for other outputs "
            "transform a list of records on the client, or use a classic session") from None


def _map_frame(stages, model, method, df, inputs: list, keep: list):
    """The pipeline over ``df``'s ``inputs`` columns (one text/records column, or numeric
    columns: a matrix), then ``model.method`` (``method`` None: the features), as a
    DataFrame with the ``keep`` columns after the outputs: one lazy ``mapInArrow`` (the
    DataFrame API only, so it runs over Spark Connect). The output's width comes from the
    first row, run here."""
    fields = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
    records = len(inputs) == 1 and fields[inputs[0]] == "StringType"
    if not records:
        bad = [f"{c} ({fields[c]})" for c in inputs if fields[c] not in NUMERIC_SPARK]
        if bad:
            raise ValueError(f"a pipeline reads one text column or numeric columns"
                             f"{' (besides keep=)' if keep else ''}; the DataFrame's input "
                             f"columns {bad} are neither")
    first = df.select(*inputs).limit(1).toArrow().to_batches()
    if not first:
        raise ValueError(f"cannot {method or 'transform'} on an empty DataFrame")
    width = _frame_outputs(stages, model, method, records, inputs, first[0]).shape[1]
    names = (["prediction"] if method == "predict" else
             [f"{method or 'f'}{'_' if method else ''}{j}" for j in range(width)])
    kept = [f"`{k}` {df.schema[k].dataType.simpleString()}" for k in keep]
    schema = ", ".join([f"`{n}` double" for n in names] + kept)
    return df.select(*inputs, *keep).mapInArrow(task_safe(functools.partial(
        _final_arrow, stages, model, method, records, inputs, names, keep=keep)), schema)


def _keep_columns(keep, columns: list) -> list:
    """``keep=`` as a list of column names, each checked to be among ``columns``."""
    keep = [] if keep is None else ([keep] if isinstance(keep, str) else list(keep))
    for k in keep:
        if k not in columns:
            raise ValueError(f"keep column '{k}' not found; columns are {columns}")
    return keep


def _frame_outputs(stages, model, method, records, columns, batch) -> np.ndarray:
    """``model.method`` of the featurized rows of an Arrow batch (``method`` None: the
    features, dense)."""
    data = batch.column(0).to_pylist() if records else arrow_matrix(columns, [batch], 0)
    out = run_stages(stages, data)
    if method is None:
        X = as_matrix_output(out, "the pipeline").array
        return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    res = np.asarray(getattr(model, method)(as_matrix_output(out, "featurizing").array),
                     dtype=np.float64)
    return res.reshape(len(res), -1)


def _final_arrow(stages, model, method, records, columns, names, batches, keep=()):
    import pyarrow as pa

    for batch in batches:
        if batch.num_rows == 0:
            continue
        res = _frame_outputs(stages, model, method, records, columns, batch)
        if res.shape[1] != len(names):
            raise ValueError(f"{method or 'the pipeline'} gave {res.shape[1]} columns here "
                             f"but {len(names)} on the first row")
        arrays = [pa.array(res[:, j]) for j in range(len(names))]
        arrays += [batch.column(len(columns) + i) for i in range(len(keep))]
        yield pa.RecordBatch.from_arrays(arrays, names=list(names) + list(keep))


def _partition_features(stages, col_idx, keep_idx, final_method, index, rows):
    """A rows-table partition -> one LocalMatrix (features, or predictions)."""
    rows = list(rows)
    batch = [r[col_idx] for r in rows]
    try:
        out = run_stages(stages, batch)
    except Exception as exc:  # noqa: BLE001
        raise locate_error(exc, index, None) from None
    yield _finish_block(out, rows, keep_idx, final_method, index)


def _finish_block(out, rows, keep_idx, final_method, index):
    if final_method is not None:
        model, method = final_method
        res = np.asarray(getattr(model, method)(as_matrix_output(out, "featurizing").array))
        if res.ndim == 1:
            res = res.reshape(-1, 1)
        return LocalMatrix(res.astype(np.float64))
    X = as_matrix_output(out, "the pipeline")
    if keep_idx:
        extra = np.array([[r[j] for j in keep_idx] for r in rows], dtype=np.float64).reshape(
            len(rows), len(keep_idx))
        a = X.array
        X = LocalMatrix(sp.hstack([a, sp.csr_matrix(extra)], format="csr") if sp.issparse(a)
                        else np.hstack([a, extra.astype(a.dtype)]))
    return X


def _partition_rows(stages, col_idx, keep_idx, index, rows):
    """A rows-table partition -> rows of a non-matrix output (token lists, arrays...)."""
    rows = list(rows)
    batch = [r[col_idx] for r in rows]
    try:
        out = run_stages(stages, batch)
    except Exception as exc:  # noqa: BLE001
        raise locate_error(exc, index, None) from None
    values = out.to_rows() if hasattr(out, "to_rows") else list(out)
    for v, r in zip(values, rows):
        yield (v,) + tuple(r[j] for j in keep_idx)


def _block_apply(stages, n_keep, final_method, block):
    a = block.array
    if n_keep:
        feats, kept = a[:, :a.shape[1] - n_keep], a[:, a.shape[1] - n_keep:]
    else:
        feats, kept = a, None
    out = run_stages(stages, feats)
    if final_method is not None:
        model, method = final_method
        res = np.asarray(getattr(model, method)(as_matrix_output(out, "featurizing").array))
        return LocalMatrix(res.reshape(len(res), -1).astype(np.float64))
    X = as_matrix_output(out, "the pipeline").array
    if kept is not None:
        k = kept.toarray() if sp.issparse(kept) else np.asarray(kept)
        X = sp.hstack([X, sp.csr_matrix(k)], format="csr") if sp.issparse(X) \
            else np.hstack([X, k.astype(X.dtype)])
    return LocalMatrix(X)


def static_width(stages, width):
    for st in stages:  # a stage may know its width without knowing its input's (HashingTF)
        width = st._output_width(width) if hasattr(st, "_output_width") else None
    return width


def transform_table(stages, table, keep, model: Any,
                    final_method=None):
    cols = list(table.columns)
    keep = _keep_columns(keep, cols)
    first_kind = getattr(stages[0], "_input_kind", "any") if stages else "any"
    if model is not None:
        inputs = model._input_columns(cols)
    elif table.is_numeric and first_kind in ("any", "matrix"):
        inputs = [c for c in cols if c not in keep]
    else:
        inputs = [c for c in cols if c not in keep]
        if len(inputs) != 1:
            raise ValueError(f"{type(stages[0]).__name__} takes one input column, but the table "
                             f"has {inputs}; select it (table.select) or pass the others in "
                             "keep=")
    record_input = (model is not None and model.input_kind != "matrix") or \
        (model is None and not (table.is_numeric and first_kind in ("any", "matrix")))
    out_names = None
    if final_method is not None:
        out_names = ["prediction"] if final_method[1] == "predict" else None
    if not record_input:
        sub = table.select(*(inputs + keep))
        f = functools.partial(_block_apply, list(stages), len(keep), final_method)
        width = static_width(stages, len(inputs))
        names = out_names
        if names is None and final_method is None and width is not None:
            names = [f"f{j}" for j in range(width)] + keep
        return sub.map_batches(f, columns=names)
    ci = cols.index(inputs[0])
    keep_idx = [cols.index(k) for k in keep]
    ctx = table.ctx
    # does the output form a matrix? ask the static width; else try the first partition
    width = static_width(stages, None)
    matrix_out = final_method is not None or width is not None or _probe_matrix(
        stages, table, ci)
    if matrix_out:
        rdd = table.rdd.mapPartitionsWithIndex(
            task_safe(functools.partial(_partition_features, list(stages), ci, keep_idx,
                                        final_method)), preservesPartitioning=True)
        names = out_names
        if names is None and width is not None and final_method is None:
            names = [f"f{j}" for j in range(width)] + keep
        t = MLTable(ctx, names, blocks=rdd, numeric=True)
        return t
    rdd = table.rdd.mapPartitionsWithIndex(
        task_safe(functools.partial(_partition_rows, list(stages), ci, keep_idx)),
        preservesPartitioning=True)
    name = getattr(stages[-1], "_output_name", "value")
    return MLTable(ctx, [name] + keep, rows=rdd, numeric=False)


def _probe_matrix(stages, table, ci) -> bool:
    first = table.take(1)
    if not first:
        return False
    out = run_stages(stages, [first[0][ci]])
    return sp.issparse(out) or (isinstance(out, np.ndarray) and out.ndim == 2
                                and out.dtype.kind in "biuf")
