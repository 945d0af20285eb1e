"""Reading tables (CSV/TSV, text lines, LibSVM, Parquet) and moving between Spark DataFrames
and MLTables. Paths are anything Spark reads: local files, ``file://``, ``hdfs://``,
``s3a://``, ... Numeric Spark DataFrames move to LocalMatrix blocks through Arrow (columnar,
one binary value per partition), never through per-row Python objects.
"""
from __future__ import annotations

import functools
import io as _io
import logging

import numpy as np
import scipy.sparse as sp

from .context import MLContext, get_context
from .errors import task_safe
from .localmatrix import LocalMatrix

log = logging.getLogger("mli")

__all__ = ["read_csv", "read_tsv", "read_text", "read_libsvm", "read_parquet", "from_spark",
           "to_spark"]

_NUMERIC_SPARK = {"ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType",
                  "BooleanType", "DecimalType"}
_CHUNK_BYTES = 256 << 20


# ---------------------------------------------------------------------------- paths


def _check_path(ctx: MLContext, path: str) -> None:
    """FileNotFoundError (not a JVM trace) when nothing exists at ``path`` (globs allowed)."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"path must be a non-empty string, got {path!r}")
    sc = ctx.sc
    jpath = sc._jvm.org.apache.hadoop.fs.Path(path)
    try:
        fs = jpath.getFileSystem(sc._jsc.hadoopConfiguration())
        found = fs.globStatus(jpath)
    except Exception as exc:  # noqa: BLE001 - unknown scheme, bad URI, no credentials
        raise FileNotFoundError(f"cannot access {path}: {str(exc).splitlines()[0]}") from None
    if found is None or len(found) == 0:
        raise FileNotFoundError(f"no such file or directory: {path}")


# ---------------------------------------------------------------------------- Spark DataFrames


def _arrow_to_npy(columns, batches):
    import pyarrow as pa
    from pyspark import TaskContext

    part = TaskContext.get().partitionId() if TaskContext.get() else 0
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
    X = np.vstack(mats) if mats else np.zeros((0, len(columns)))
    rows_per_chunk = max(1, _CHUNK_BYTES // max(1, X.shape[1] * 8))
    for s in range(0, max(1, X.shape[0]), rows_per_chunk):
        buf = _io.BytesIO()
        np.save(buf, X[s:s + rows_per_chunk], allow_pickle=False)
        yield pa.RecordBatch.from_arrays([pa.array([buf.getvalue()], type=pa.binary())],
                                         names=["npy"])


def _npy_rows_to_block(rows):
    mats = [np.load(_io.BytesIO(bytes(r[0])), allow_pickle=False) for r in rows]
    yield LocalMatrix(np.vstack(mats) if len(mats) > 1 else mats[0])


def from_spark(df, *, ctx: MLContext | None = None):
    """An MLTable from a Spark DataFrame (numeric columns -> blocks via Arrow)."""
    from .table import MLTable

    ctx = get_context(ctx)
    if not hasattr(df, "schema") or not hasattr(df, "mapInArrow"):
        raise TypeError(f"expected a Spark DataFrame, got {type(df).__name__}")
    cols = list(df.columns)
    if not cols:
        raise ValueError("the DataFrame has no columns")
    types = [type(f.dataType).__name__ for f in df.schema.fields]
    if all(t in _NUMERIC_SPARK for t in types):
        blocks = (df.mapInArrow(functools.partial(task_safe(_arrow_to_npy), cols), "npy binary")
                  .rdd.mapPartitions(_npy_rows_to_block, preservesPartitioning=True))
        return MLTable(ctx, cols, blocks=blocks, numeric=True)
    rows = df.rdd.map(tuple)
    return MLTable(ctx, cols, rows=rows, numeric=False)


def _block_rows_for_spark(block):
    a = block.array
    a = a.toarray() if sp.issparse(a) else np.asarray(a)
    return (tuple(r) for r in a.tolist())


def to_spark(table):
    """A Spark DataFrame with the table's rows and column names."""
    spark = table.ctx.spark
    if table.is_numeric:
        from pyspark.sql.types import DoubleType, StructField, StructType

        schema = StructType([StructField(c, DoubleType(), True) for c in table.columns])
        rows = table._block_source().flatMap(_block_rows_for_spark)
        return spark.createDataFrame(rows, schema)
    return spark.createDataFrame(table.rdd, list(table.columns))


# ---------------------------------------------------------------------------- readers


def _spark_read(ctx, fmt, path, **options):
    _check_path(ctx, path)
    reader = ctx.spark.read
    for k, v in options.items():
        reader = reader.option(k, v)
    try:
        return getattr(reader, fmt)(path)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot read {path} as {fmt}: {first}") from None


def read_csv(path: str, *, sep: str = ",", header: bool = True, columns=None,
             ctx: MLContext | None = None):
    """Read delimited text. Numeric columns are detected (Spark's schema inference).

    Parameters
    ----------
    path : str
        A file, directory or glob on any file system Spark reads.
    sep : str
        Field delimiter (``"\\t"`` for TSV).
    header : bool
        First line holds the column names.
    columns : list of str, optional
        Column names (override the header / name headerless files).
    """
    ctx = get_context(ctx)
    df = _spark_read(ctx, "csv", path, sep=sep, header=str(bool(header)).lower(),
                     inferSchema="true", mode="PERMISSIVE")
    if columns is not None:
        if len(columns) != len(df.columns):
            raise ValueError(f"got {len(columns)} column names for {len(df.columns)} columns in {path}")
        df = df.toDF(*[str(c) for c in columns])
    return from_spark(df, ctx=ctx)


def read_tsv(path: str, **kw):
    """Read tab-separated text (see :func:`read_csv`)."""
    return read_csv(path, sep="\t", **kw)


def read_text(path: str, *, ctx: MLContext | None = None, min_partitions: int | None = None):
    """Read text lines into a one-column table (column ``line``)."""
    from .table import MLTable

    ctx = get_context(ctx)
    _check_path(ctx, path)
    rdd = ctx.sc.textFile(path, minPartitions=min_partitions).map(lambda s: (s,))
    return MLTable(ctx, ["line"], rows=rdd, numeric=False)


def read_parquet(path: str, *, columns=None, ctx: MLContext | None = None):
    """Read Parquet (optionally only some columns)."""
    ctx = get_context(ctx)
    df = _spark_read(ctx, "parquet", path)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"columns {missing} not in {path}; it has {df.columns}")
        df = df.select(*columns)
    return from_spark(df, ctx=ctx)


def _parse_libsvm(zero_based, index, lines):
    labels, indptr, indices, values = [], [0], [], []
    for n, line in enumerate(lines):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            labels.append(float(parts[0]))
        except ValueError:
            raise ValueError(f"LibSVM line {n} of partition {index}: label {parts[0]!r} is not a "
                             "number") from None
        last = -1
        for tok in parts[1:]:
            k, sep, v = tok.partition(":")
            try:
                j = int(k) - (0 if zero_based else 1)
                x = float(v)
            except ValueError:
                j = -2
            if not sep or j < 0:
                raise ValueError(f"LibSVM line {n} of partition {index}: {tok!r} is not "
                                 f"index:value with a {'0' if zero_based else '1'}-based index")
            if j <= last:
                raise ValueError(f"LibSVM line {n} of partition {index}: indices must be "
                                 f"strictly increasing ({tok!r})")
            last = j
            indices.append(j)
            values.append(x)
        indptr.append(len(indices))
    yield (np.asarray(labels, dtype=np.float64), np.asarray(indptr, dtype=np.int64),
           np.asarray(indices, dtype=np.int32), np.asarray(values, dtype=np.float64))


def _max_index(parsed):
    for _lab, _ptr, idx, _val in parsed:
        yield int(idx.max()) if len(idx) else -1


def _libsvm_block(num_features, parsed):
    for lab, ptr, idx, val in parsed:
        if len(idx) and idx.max() >= num_features:
            raise ValueError(f"LibSVM feature index {int(idx.max()) + 1} exceeds num_features="
                             f"{num_features}")
        X = sp.csr_matrix((val, idx, ptr), shape=(len(lab), num_features))
        yield LocalMatrix(sp.hstack([sp.csr_matrix(lab.reshape(-1, 1)), X], format="csr"))


def read_libsvm(path: str, *, num_features: int | None = None, zero_based: bool = False,
                ctx: MLContext | None = None, min_partitions: int | None = None):
    """Read LibSVM/SVMlight files into a sparse numeric table: ``label``, ``x0``.. ``x{d-1}``."""
    from .table import MLTable

    ctx = get_context(ctx)
    _check_path(ctx, path)
    if num_features is not None and (not isinstance(num_features, int) or num_features < 1):
        raise ValueError(f"num_features must be a positive integer, got {num_features!r}")
    parsed = ctx.sc.textFile(path, minPartitions=min_partitions).mapPartitionsWithIndex(
        task_safe(functools.partial(_parse_libsvm, zero_based)))
    if num_features is None:
        parsed.cache()
        num_features = max(ctx.run(parsed.mapPartitions(_max_index).collect), default=-1) + 1
        if num_features == 0:
            raise ValueError(f"{path} has no features")
    blocks = parsed.mapPartitions(task_safe(functools.partial(_libsvm_block, num_features)),
                                  preservesPartitioning=True)
    cols = ["label"] + [f"x{j}" for j in range(num_features)]
    return MLTable(ctx, cols, blocks=blocks, numeric=True)
