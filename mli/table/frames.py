"""Spark DataFrames and blocks: the numeric columns of a DataFrame as LocalMatrix blocks
through Arrow (one float64 block per partition, never per-row Python objects), a table's
rows or blocks as a DataFrame, the :class:`Source` a reader returns, and the check that a
block's values are finite (errors name the row, partition and column).
"""
from __future__ import annotations

import functools
import io as _io
import logging

import numpy as np
import scipy.sparse as sp

from dataclasses import dataclass
from typing import Any

from mli.engine.blocks import BlockRDD
from mli.engine.context import MLContext, context_for_dataframe
from mli.errors import task_safe
from mli.linalg.localmatrix import LocalMatrix

log = logging.getLogger("mli")

__all__ = ["Source", "spark_source", "spark_frame", "NUMERIC_SPARK", "arrow_matrix",
           "arrow_to_block", "first_nonfinite", "show_value", "validate_block",
           "SPARSE_MIN_WIDTH", "vector_matrix", "vector_widths", "is_vector"]

NUMERIC_SPARK = {"ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType",
                  "BooleanType", "DecimalType"}
_CHUNK_BYTES = 256 << 20
#: a DataFrame with a vector column at least this wide becomes CSR blocks (else dense)
SPARSE_MIN_WIDTH = 1024


@dataclass(frozen=True)
class Source:
    """A table as a reader found it: made into an MLTable by ``MLTable.from_source``.

    Exactly one of ``rows`` (an RDD of tuples) and ``blocks`` (an RDD of one LocalMatrix per
    partition, or a function making it) is set; ``origin`` is the store the executors wrote
    the blocks into (over Spark Connect), which the table keeps alive.
    """
    ctx: MLContext
    columns: list
    rows: Any = None
    blocks: Any = None
    numeric: bool | None = None
    origin: BlockRDD | None = None


def first_nonfinite(a) -> tuple[int, int] | None:
    """(row, col) of the first NaN/inf in a dense array or CSR matrix, or None."""
    if sp.issparse(a):
        a = sp.csr_matrix(a)
        bad = ~np.isfinite(a.data)
        if not bad.any():
            return None
        k = int(np.argmax(bad))
        row = int(np.searchsorted(a.indptr, k, side="right") - 1)
        return row, int(a.indices[k])
    if a.dtype.kind in "biu":
        return None
    finite = np.isfinite(a)
    if finite.all():
        return None
    row = int(np.argmax(~finite.all(axis=1)))
    col = int(np.argmax(~finite[row]))
    return row, col


def show_value(v) -> str:
    """repr of a value for error messages, numpy scalars shown as plain Python values."""
    if isinstance(v, np.generic):
        v = v.item()
    return repr(v)


def validate_block(columns, block, index=0):
    a = block.array
    hit = first_nonfinite(a)
    if hit is not None:
        r, c = hit
        raise ValueError(f"features must be finite: row {r} of partition {index}, column "
                         f"'{columns[c]}' is "
                         f"{show_value(a[r, c] if not sp.issparse(a) else a.toarray()[r, c])}")
    return block


# ---------------------------------------------------------------------------- Spark DataFrames


def arrow_matrix(columns, batches, part: int) -> np.ndarray:
    """One partition's Arrow batches as a float64 matrix; a null is refused, naming the
    column, row and partition."""
    mats, offset = [], 0
    for b in batches:
        cols = []
        for j, c in enumerate(b.columns):
            if c.null_count:
                i = int(np.argmax(np.asarray(c.is_null())))
                raise ValueError(f"column '{columns[j]}' must be numeric: row {offset + i} of "
                                 f"partition {part} is missing (null)")
            cols.append(np.asarray(c.to_numpy(zero_copy_only=False), dtype=np.float64))
        offset += b.num_rows
        if b.num_rows:
            mats.append(np.column_stack(cols))
    return np.vstack(mats) if mats else np.zeros((0, len(columns)))


def _arrow_to_npy(columns, batches):
    import pyarrow as pa
    from pyspark import TaskContext

    part = TaskContext.get().partitionId() if TaskContext.get() else 0
    X = arrow_matrix(columns, batches, part)
    rows_per_chunk = max(1, _CHUNK_BYTES // max(1, X.shape[1] * 8))
    for s in range(0, max(1, X.shape[0]), rows_per_chunk):
        buf = _io.BytesIO()
        np.save(buf, X[s:s + rows_per_chunk], allow_pickle=False)
        yield pa.RecordBatch.from_arrays([pa.array([buf.getvalue()], type=pa.binary())],
                                         names=["npy"])


def arrow_to_block(columns, batches, index):
    """One partition's Arrow batches -> one validated LocalMatrix (nulls and non-finite
    values refused, naming the column, row and partition)."""
    return validate_block(columns, LocalMatrix(arrow_matrix(columns, batches, index)), index)


def _npy_rows_to_block(rows):
    mats = [np.load(_io.BytesIO(bytes(r[0])), allow_pickle=False) for r in rows]
    yield LocalMatrix(np.vstack(mats) if len(mats) > 1 else mats[0])


# ---------------------------------------------------------------------------- vector columns


def is_vector(dtype) -> bool:
    """Whether a Spark type is pyspark.ml's vector type (``VectorUDT``)."""
    return type(dtype).__name__ == "VectorUDT"


def vector_matrix(arr, d: int, sparse: bool, part: int = 0, column: str = "features"):
    """A column of pyspark.ml vectors as Arrow gives it (structs of ``type``, ``size``,
    ``indices``, ``values``; type 0 sparse, 1 dense) -> an ``(n, d)`` float64 CSR matrix
    (``sparse``) or ndarray, with no per-row Python objects. A null vector or one of
    another size is refused, naming the row and partition."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if arr.null_count:
        i = int(np.argmax(np.asarray(arr.is_null())))
        raise ValueError(f"column '{column}': row {i} of partition {part} is missing (null)")
    kind, size, indices, values = arr.flatten()
    kind = kind.to_numpy(zero_copy_only=False)
    voff = values.offsets.to_numpy()
    lengths = np.diff(voff)
    is_sparse = kind == 0
    width = np.where(is_sparse, size.fill_null(-1).to_numpy(zero_copy_only=False), lengths)
    if n and (width != d).any():
        i = int(np.argmax(width != d))
        raise ValueError(f"column '{column}': row {i} of partition {part} holds a vector of "
                         f"size {int(width[i])}, but the column's vectors have {d} entries")
    vals = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64)  # (writable)
    row = np.repeat(np.arange(n), lengths)
    col = np.arange(len(vals)) - np.repeat(voff[:-1] - voff[0], lengths)
    if is_sparse.any():
        col[is_sparse[row]] = indices.flatten().to_numpy(zero_copy_only=False)
    if not sparse:
        out = np.zeros((n, d))
        out[row, col] = vals
        return out
    out = sp.csr_matrix((vals, col, voff - voff[0]), shape=(n, d))
    out.sort_indices()
    out.eliminate_zeros()  # (a dense vector's zeros)
    return out


def _list_matrix(arr, d: int, part: int, column: str) -> np.ndarray:
    """A column of dense vectors already turned into ``list<double>`` in the JVM
    (``vector_to_array``: Arrow moves a list of doubles several times faster than the
    vector structs) -> an ``(n, d)`` ndarray; null rows and other sizes refused."""
    if arr.null_count:
        i = int(np.argmax(np.asarray(arr.is_null())))
        raise ValueError(f"column '{column}': row {i} of partition {part} is missing (null)")
    lengths = np.diff(arr.offsets.to_numpy())
    if len(arr) and (lengths != d).any():
        i = int(np.argmax(lengths != d))
        raise ValueError(f"column '{column}': row {i} of partition {part} holds a vector of "
                         f"size {int(lengths[i])}, but the column's vectors have {d} entries")
    vals = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return vals.reshape(len(arr), d)


def _vector_width_part(columns, batches):
    import pyarrow as pa

    widest = np.zeros(len(columns), np.int64)
    for b in batches:
        for j in range(len(columns)):
            kind, size, _indices, values = b.column(j).flatten()
            w = np.where(kind.to_numpy(zero_copy_only=False) == 0,
                         size.fill_null(0).to_numpy(zero_copy_only=False),
                         np.diff(values.offsets.to_numpy()))
            widest[j] = max(widest[j], int(w.max(initial=0)))
    yield pa.RecordBatch.from_arrays([pa.array(np.arange(len(columns))), pa.array(widest)],
                                     names=["j", "width"])


def vector_widths(df, columns) -> list[int]:
    """The number of entries of each vector column: from the metadata pyspark.ml's feature
    stages record (``ml_attr.num_attrs``: VectorAssembler, HashingTF...), else one job
    reads the vectors' sizes."""
    widths = {}
    for c in columns:
        n = (df.schema[c].metadata or {}).get("ml_attr", {}).get("num_attrs")
        if isinstance(n, int) and n > 0:
            widths[c] = n
    todo = [c for c in columns if c not in widths]
    if todo:
        rows = (df.select(*todo).mapInArrow(functools.partial(_vector_width_part, todo),
                                            "j long, width long").collect())
        for c, j in zip(todo, range(len(todo))):
            widths[c] = max([int(r["width"]) for r in rows if r["j"] == j], default=0)
    return [widths[c] for c in columns]


def arrow_vector_block(spec, sparse, batches, part):
    """One partition's Arrow batches of numeric and vector columns (``spec``: a ``(name,
    width)`` per column, width None for a number) -> one validated LocalMatrix: each vector
    spread over ``width`` columns, CSR when ``sparse``."""
    import pyarrow as pa

    names = [f"{c}_{j}" if w else c for c, w in spec for j in range(w or 1)]
    mats = []
    for b in batches:
        parts = []
        for j, (c, w) in enumerate(spec):
            col = b.column(j)
            if w and not pa.types.is_struct(col.type):  # (vector_to_array's list<double>)
                parts.append(_list_matrix(col, w, part, c))
                continue
            if w:
                parts.append(vector_matrix(col, w, sparse, part, c))
                continue
            if col.null_count:
                i = int(np.argmax(np.asarray(col.is_null())))
                raise ValueError(f"column '{c}' must be numeric: a row of partition {part} is "
                                 f"missing (null) (row {i} of its batch)")
            v = np.asarray(col.to_numpy(zero_copy_only=False), np.float64).reshape(-1, 1)
            parts.append(sp.csr_matrix(v) if sparse else v)
        if b.num_rows:
            mats.append(sp.hstack(parts, format="csr") if sparse else np.hstack(parts))
    if not mats:
        width = len(names)
        a = sp.csr_matrix((0, width)) if sparse else np.zeros((0, width))
    else:
        a = sp.vstack(mats, format="csr") if sparse else np.vstack(mats)
    return validate_block(names, LocalMatrix(a), part)


def _arrow_to_payload(spec, sparse, batches):
    import pyarrow as pa
    from pyspark import TaskContext

    part = TaskContext.get().partitionId() if TaskContext.get() else 0
    a = arrow_vector_block(spec, sparse, batches, part).array
    buf = _io.BytesIO()
    if sparse:
        sp.save_npz(buf, a, compressed=False)
    else:
        np.save(buf, a, allow_pickle=False)
    yield pa.RecordBatch.from_arrays([pa.array([buf.getvalue()], type=pa.binary())],
                                     names=["npy"])


def _payload_rows_to_block(rows):
    """npy (dense) or npz (CSR, a zip file) payloads -> one LocalMatrix (no pickle)."""
    mats = []
    for r in rows:
        data = bytes(r[0])
        mats.append(sp.load_npz(_io.BytesIO(data)) if data[:2] == b"PK"
                    else np.load(_io.BytesIO(data), allow_pickle=False))
    if any(sp.issparse(m) for m in mats):
        yield LocalMatrix(sp.vstack(mats, format="csr") if len(mats) > 1 else mats[0])
    else:
        yield LocalMatrix(np.vstack(mats) if len(mats) > 1 else mats[0])


def _vector_source(df, ctx) -> Source:
    """A DataFrame of numeric and vector columns: each vector column spread over columns
    ``<name>_0 .. <name>_<width-1>``; CSR blocks when a vector column has at least
    :data:`SPARSE_MIN_WIDTH` entries (hashed text), else dense ones."""
    vec = [c for c, f in zip(df.columns, df.schema.fields) if is_vector(f.dataType)]
    widths = dict(zip(vec, vector_widths(df, vec)))
    spec = [(c, widths.get(c)) for c in df.columns]
    empty = [c for c in vec if widths[c] < 1]
    if empty:
        raise ValueError(f"vector column(s) {empty} hold no entries (or the DataFrame is "
                         "empty)")
    sparse = max(widths.values()) >= SPARSE_MIN_WIDTH
    if not sparse:  # dense blocks: the JVM unpacks the vectors (Arrow lists, not structs)
        from pyspark.ml.functions import vector_to_array

        from pyspark.sql import functions as F

        df = df.select(*[F.when(F.col(c).isNotNull(), vector_to_array(c, "float64")).alias(c)
                         if w else c for c, w in spec])  # (a null stays null: refused)
    cols = [f"{c}_{j}" if w else c for c, w in spec for j in range(w or 1)]
    if ctx.is_connect:
        store = BlockRDD.from_dataframe(df, functools.partial(arrow_vector_block, spec, sparse),
                                        ctx, name="table")
        return Source(ctx, cols, blocks=functools.partial(getattr, store, "source_rdd"),
                      numeric=True, origin=store)
    blocks = (df.mapInArrow(functools.partial(task_safe(_arrow_to_payload), spec, sparse),
                            "npy binary")
              .rdd.mapPartitions(_payload_rows_to_block, preservesPartitioning=True))
    return Source(ctx, cols, blocks=blocks, numeric=True)


def spark_source(df, *, ctx: MLContext | None = None) -> Source:
    """A Spark DataFrame's table (numeric columns -> blocks via Arrow; a pyspark.ml vector
    column becomes one column per entry, named ``<column>_<j>``)."""
    if not hasattr(df, "schema") or not hasattr(df, "mapInArrow"):
        raise TypeError(f"expected a Spark DataFrame, got {type(df).__name__}")
    ctx = context_for_dataframe(df, ctx)
    cols = list(df.columns)
    if not cols:
        raise ValueError("the DataFrame has no columns")
    types = [type(f.dataType).__name__ for f in df.schema.fields]
    if "VectorUDT" in types and all(t in NUMERIC_SPARK or t == "VectorUDT" for t in types):
        return _vector_source(df, ctx)
    if ctx.is_connect:
        # the executors write the blocks (DataFrame API only); nothing goes to the driver
        if not all(t in NUMERIC_SPARK for t in types):
            odd = [f"'{c}' ({t})" for c, t in zip(cols, types) if t not in NUMERIC_SPARK]
            ctx.require_classic(f"an MLTable with non-numeric columns ({', '.join(odd)})",
                                "numeric columns (cast them, or turn text into features "
                                "with Spark's own functions first)")
        store = BlockRDD.from_dataframe(df, functools.partial(arrow_to_block, cols), ctx,
                                        name="table")
        return Source(ctx, cols, blocks=functools.partial(getattr, store, "source_rdd"),
                      numeric=True, origin=store)
    if all(t in NUMERIC_SPARK for t in types):
        blocks = (df.mapInArrow(functools.partial(task_safe(_arrow_to_npy), cols), "npy binary")
                  .rdd.mapPartitions(_npy_rows_to_block, preservesPartitioning=True))
        return Source(ctx, cols, blocks=blocks, numeric=True)
    rows = df.rdd.map(tuple)
    return Source(ctx, cols, rows=rows, numeric=False)


def _block_rows_for_spark(block):
    a = block.array
    a = a.toarray() if sp.issparse(a) else np.asarray(a)
    return (tuple(r) for r in a.tolist())


def _py_kind(v) -> str:
    import datetime
    import decimal

    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (int, np.integer)):
        return "int"
    if isinstance(v, (float, np.floating)):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bytes, bytearray)):
        return "bytes"
    if isinstance(v, datetime.datetime):
        return "timestamp"
    if isinstance(v, datetime.date):
        return "date"
    if isinstance(v, datetime.timedelta):
        return "timedelta"
    if isinstance(v, decimal.Decimal):
        return "decimal"
    return "other:" + type(v).__name__


def _row_kinds(ncols, columns, it):
    kinds = [set() for _ in range(ncols)]
    for i, row in enumerate(it):
        if len(row) != ncols:
            raise ValueError(f"ragged rows: a row of {len(row)} values (the {i}th of its "
                             f"partition) for the {ncols} columns {list(columns)}")
        for j, v in enumerate(row):
            kinds[j].add(_py_kind(v))
    yield kinds


def _spark_type(column, kinds):
    """One Spark type for a column from the set of Python value kinds found in it."""
    from pyspark.sql import types as T

    kinds = set(kinds) - {"none"}
    simple = {"bool": T.BooleanType(), "int": T.LongType(), "float": T.DoubleType(),
              "str": T.StringType(), "bytes": T.BinaryType(), "timestamp": T.TimestampType(),
              "date": T.DateType(), "timedelta": T.DayTimeIntervalType(),
              "decimal": T.DoubleType()}
    if not kinds:
        return T.StringType()  # only missing values
    if len(kinds) == 1 and next(iter(kinds)) in simple:
        return simple[next(iter(kinds))]
    if kinds <= {"bool", "int"}:
        return T.LongType()
    if kinds <= {"bool", "int", "float", "decimal"}:
        return T.DoubleType()
    if kinds <= {"timestamp", "date"}:
        return T.TimestampType()
    others = sorted(k.split(":", 1)[-1] for k in kinds)
    raise TypeError(f"to_spark: column '{column}' holds values of type(s) {others}; a Spark "
                    "DataFrame column needs one type (numbers, text, bytes, dates or "
                    "timestamps): convert them first, e.g. with table.map")


def _convert_value(kind, v):
    import datetime

    if v is None:
        return None
    if kind == "double":
        return float(v)
    if kind == "long":
        return int(v)
    if kind == "bool":
        return bool(v)
    if kind == "timestamp" and not isinstance(v, datetime.datetime):
        return datetime.datetime(v.year, v.month, v.day)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _convert_row(kinds, row):
    return tuple(_convert_value(k, v) for k, v in zip(kinds, row))


def spark_frame(ctx: MLContext, columns, *, blocks=None, rows=None):
    """A Spark DataFrame of a table's ``blocks`` (an RDD of LocalMatrix: numeric) or ``rows``
    (an RDD of tuples), with its column names.

    Numeric tables give ``double`` columns. Other tables get one Spark type per column from
    all of its values (one Spark job): ints -> ``bigint``, ints mixed with floats ->
    ``double``, text -> ``string``, ... A column mixing unrelated types raises TypeError.
    """
    from pyspark.sql import types as T

    spark = ctx.spark
    if blocks is not None:
        schema = T.StructType([T.StructField(c, T.DoubleType(), True) for c in columns])
        return spark.createDataFrame(blocks.flatMap(_block_rows_for_spark), schema)
    cols = list(columns)
    ncols = len(cols)
    per_part = ctx.run(rows.mapPartitions(
        task_safe(functools.partial(_row_kinds, ncols, cols))).collect)
    kinds = [set().union(*(p[j] for p in per_part)) for j in range(ncols)]
    types = [_spark_type(c, k) for c, k in zip(cols, kinds)]
    conv = [{"DoubleType": "double", "LongType": "long", "BooleanType": "bool",
             "TimestampType": "timestamp"}.get(type(t).__name__, "") for t in types]
    schema = T.StructType([T.StructField(c, t, True) for c, t in zip(cols, types)])
    return spark.createDataFrame(rows.map(functools.partial(_convert_row, conv)), schema,
                                 verifySchema=False)


