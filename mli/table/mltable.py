"""MLTable: a distributed table, with MLI's operations under Pythonic names.

An MLTable has named columns and lives in Spark. It has two representations, each built
from the other on demand:

* **rows** -- an RDD of tuples, for general data (strings, mixed types) and the row-wise
  operations (``map``, ``filter``, ``join``, ``reduce_by``, ...);
* **blocks** -- for numeric tables, one :class:`~mli.LocalMatrix` per partition (dense
  float32/float64 or CSR sparse). ``cache()`` (or the first pass of an algorithm) makes them
  *resident* in the Python workers (see :mod:`mli.engine.blocks`), so an iterative algorithm never
  re-converts or re-ships rows on each pass.

Per-partition operations are ``map_batches`` (MLI's matrixBatchMap) and ``aggregate``
(tree-shaped combination of per-partition results).

Why this module is long: MLTable is MLI's table API in one class (construction, the
relational operations on rows, the operations on blocks, conversions, about 70 methods), and
the per-partition functions its methods ship to Spark must be module-level functions of the
same module to be picklable by reference.
"""
from __future__ import annotations

import decimal
import functools
import logging
import math
import numbers
from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from mli.engine.blocks import BlockRDD, BlockView, tree_add
from mli.engine.context import MLContext, get_context
from mli.errors import task_safe
from mli.linalg.localmatrix import LocalMatrix
from mli.table import frames, io
from mli.table.frames import first_nonfinite, show_value, validate_block
from mli.table.kinds import input_kind
from mli.table.sampling import splitmix_uniform

log = logging.getLogger("mli")

__all__ = ["MLTable", "LabeledData", "as_labeled", "as_matrix", "read_csv", "read_tsv",
           "read_text", "read_libsvm", "read_parquet", "from_spark", "to_spark"]

MAX_PARTITION_BYTES = 128 << 20
_NUMERIC_KINDS = "biuf"


# ============================================================================ validation helpers


def check_finite(a, columns: Sequence[str] | None = None, *, what: str = "features",
                 row_offset: int = 0, where: str = "") -> None:
    """Raise ValueError naming the first row/column holding NaN or inf."""
    hit = first_nonfinite(a)
    if hit is None:
        return
    r, c = hit
    value = a[r, c] if not sp.issparse(a) else sp.csr_matrix(a)[r, c]
    name = f"'{columns[c]}'" if columns is not None and c < len(columns) else str(c)
    raise ValueError(f"{what} must be finite: row {r + row_offset}{where}, column {name} "
                     f"is {float(value)!r}")


def _as_float_array(a, columns=None, what="features") -> np.ndarray:
    """Convert to a float ndarray, with a clear error for non-numeric or ragged data."""
    if isinstance(a, np.ndarray):
        arr = a
    else:
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], (list, tuple, np.ndarray)):
            _check_ragged(a)
        arr = np.asarray(a)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    arr2 = arr if arr.ndim == 2 else arr.reshape(len(arr), -1)
    for i in range(arr2.shape[0]):
        for j in range(arr2.shape[1]):
            v = arr2[i, j]
            if not _is_number(v):
                name = f"'{columns[j]}'" if columns is not None and j < len(columns) else str(j)
                raise ValueError(f"{what} must be numeric: row {i}, column {name} holds "
                                 f"{show_value(v)} ({type(v).__name__})")
    return arr2.astype(np.float64)


def _parses_as_float(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _is_number(v) -> bool:
    """A real number (Python or numpy ints/floats/bools, Decimal); not complex, not text."""
    return isinstance(v, (numbers.Real, np.bool_, decimal.Decimal))


def _check_ragged(rows) -> None:
    rows = list(rows)
    if not rows:
        return
    width = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"ragged rows: row {i} has {len(r)} values, expected {width} "
                             f"(the length of row 0)")


def _check_names(cols) -> None:
    """Column names must be unique."""
    seen = set()
    for c in cols:
        if c in seen:
            raise ValueError(f"duplicate column name {c!r} in {list(cols)}")
        seen.add(c)


def _check_fn(fn, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} expects a function, got {type(fn).__name__} {fn!r}")


def _pandas_numeric(s, name) -> np.ndarray:
    """A numeric pandas column as float64, with an error naming the row of a missing value."""
    missing = np.asarray(s.isna())
    if missing.any():
        i = int(np.argmax(missing))
        raise ValueError(f"features must be finite: row {i} (index {show_value(s.index[i])}), column "
                         f"'{name}' is missing ({show_value(s.iloc[i])})")
    return s.to_numpy(dtype=np.float64)


def _pandas_python_values(s) -> list:
    """A pandas column as plain Python values (numpy scalars unwrapped, missing -> None)."""
    import pandas as pd

    numeric = s.dtype.kind in _NUMERIC_KINDS
    out = []
    for v in s.astype(object).tolist():
        if v is None or v is pd.NA or v is pd.NaT:
            v = None
        elif isinstance(v, float) and v != v and not numeric:
            v = None  # pandas' NaN-as-missing in an object column
        elif isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        elif isinstance(v, pd.Timedelta):
            v = v.to_pytimedelta()
        elif isinstance(v, np.generic):
            v = v.item()
        out.append(v)
    return out


def _split_sizes(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _default_partitions(ctx: MLContext, nbytes: int, nrows: int) -> int:
    p = max(ctx.default_parallelism, math.ceil(nbytes / MAX_PARTITION_BYTES))
    return max(1, min(p, nrows))


# ============================================================================ per-partition functions
# Module-level functions: pickled by reference, cheap to ship.


def _rows_to_block(columns, dtype, index, rows):
    rows = list(rows)
    if not rows:
        yield LocalMatrix(np.zeros((0, len(columns)), dtype=dtype))
        return
    width = len(columns)
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"ragged rows: row {i} of partition {index} has {len(r)} values, "
                             f"expected {width} (columns {list(columns)})")
    try:
        arr = np.array(rows, dtype=dtype)
    except (TypeError, ValueError):
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if v is None:
                    raise ValueError(f"column '{columns[j]}' must be numeric: row {i} of "
                                     f"partition {index} is missing (None)") from None
                if not _is_number(v):
                    try:
                        float(v)
                        continue
                    except (TypeError, ValueError):
                        pass
                    raise ValueError(f"column '{columns[j]}' must be numeric: row {i} of "
                                     f"partition {index} holds {show_value(v)} "
                                     f"({type(v).__name__})") from None
        raise
    if arr.ndim != 2:
        arr = arr.reshape(len(rows), width)
    yield LocalMatrix(arr)


def _block_to_rows(block):
    a = block.array if isinstance(block, LocalMatrix) else block
    if sp.issparse(a):
        a = a.toarray()
    return (tuple(r) for r in a.tolist())


def _one_block(items):
    """Merge whatever a partition yields into exactly one LocalMatrix."""
    items = [i if isinstance(i, LocalMatrix) else LocalMatrix(i) for i in items]
    if len(items) == 1:
        yield items[0]
    elif not items:
        raise ValueError("empty partition has no block")
    else:
        yield LocalMatrix.vstack(items)


def _apply_batch(fn, args, width, block):
    out = fn(block, *args)
    if not isinstance(out, LocalMatrix):
        if not sp.issparse(out):
            try:
                out = np.asarray(out)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"map_batches function must return a 2-D numeric matrix: "
                                 f"{exc}") from None
            if out.ndim == 1:
                out = out.reshape(-1, 1)
            if out.ndim != 2:
                raise ValueError(f"map_batches function must return a 2-D matrix, got shape "
                                 f"{out.shape}")
            if out.dtype.kind not in _NUMERIC_KINDS:
                raise ValueError(f"map_batches function must return numbers, got an array of "
                                 f"dtype {out.dtype}")
        out = LocalMatrix(out)
    if width is not None and out.shape[1] != width:
        raise ValueError(f"map_batches function returned {out.shape[1]} columns, but columns= "
                         f"names {width}")
    return out


def _column(a, j) -> np.ndarray:
    return np.asarray(a[:, j].toarray() if sp.issparse(a) else a[:, j], dtype=np.float64).ravel()


def _split_label(label_idx, feature_cols, block_columns, bundle, weight_idx=None):
    """LocalMatrix with the label column -> (X LocalMatrix, y float64), plus the row weights
    ``w`` (float64) when ``weight_idx`` names a weight column: ``(X, y, w)``."""
    a = bundle.array
    y = None if label_idx is None else _column(a, label_idx)
    if sp.issparse(a):
        X = a[:, feature_cols]
    else:
        X = np.ascontiguousarray(a[:, feature_cols])
    if weight_idx is None:
        return (LocalMatrix(X), y)
    return (LocalMatrix(X), y, check_weights(_column(a, weight_idx), block_columns[weight_idx]))


def check_weights(w: np.ndarray, name: str = "sample_weight") -> np.ndarray:
    """``w`` if every weight is finite and >= 0, else ValueError naming the first bad row."""
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        r = int(np.argmax(bad))
        raise ValueError(f"{name} must hold finite weights >= 0, but it holds "
                         f"{show_value(w[r])} (row {r} of its block)")
    return w


def row_weights(bundle) -> np.ndarray | None:
    """The rows' weights of a weighted training bundle ``(X, y, w)``, else None (every row
    counts once: ``(X, y)`` or a bare block)."""
    return bundle[2] if isinstance(bundle, (tuple, list)) and len(bundle) == 3 else None


def _attach_weights(index, bundle, parts):
    """``(X, y)`` of partition ``index`` -> ``(X, y, w)`` with that partition's weights."""
    return (bundle[0], bundle[1], parts[index])


def _check_labeled(feature_names, index, bundle):
    X, y = bundle
    hit = first_nonfinite(X.array)
    if hit is not None:
        r, c = hit
        raise ValueError(f"features must be finite: row {r} of partition {index}, column "
                         f"'{feature_names[c]}' is not")
    if y is not None and not np.isfinite(y).all():
        r = int(np.argmax(~np.isfinite(y)))
        raise ValueError(f"labels must be finite: row {r} of partition {index} is {show_value(y[r])}")
    return bundle


def _rows_count(it):
    yield sum(1 for _ in it)


def _tag_uniform(seed, offsets, index, rows):
    rows = list(rows)
    u = splitmix_uniform(seed, np.arange(offsets[index], offsets[index] + len(rows)))
    return zip(u.tolist(), rows)


# ============================================================================ MLTable


class MLTable:
    """A distributed table of named columns (see the module docstring).

    Build one with :meth:`from_data` (numpy/scipy arrays, pandas or Spark DataFrames, Python
    sequences), :meth:`from_numpy`, or the readers in :mod:`mli.table.io`
    (``MLTable.read_csv``, ``read_text``, ``read_libsvm``, ``read_parquet``).

    Examples
    --------
    >>> import numpy as np, mli                                  # doctest: +SKIP
    >>> t = mli.MLTable.from_numpy(np.arange(6.0).reshape(3, 2), columns=["a", "b"])
    >>> t.filter(lambda r: r[0] > 1).collect()
    [(2.0, 3.0), (4.0, 5.0)]
    >>> t.aggregate(lambda m: m.sum(axis=0))
    array([6., 9.])
    """

    _mli_kind = "mltable"  # what mli.table.kinds.input_kind says of it

    def __init__(self, ctx: MLContext, columns: Sequence[str], *, rows=None, blocks=None,
                 numeric: bool | None = None):
        if rows is None and blocks is None:
            raise ValueError("an MLTable needs rows or blocks")
        self._ctx = ctx
        self._columns = None if columns is None else tuple(str(c) for c in columns)
        self._rows = rows            # RDD[tuple]
        # RDD with exactly one LocalMatrix per partition, or a function making it (lazy)
        self._blocks = blocks
        self._store: BlockRDD | None = None
        # None: unknown (a rows table after map, select, ...), decided from the first row
        self._numeric = True if numeric is None and blocks is not None else numeric
        self._labeled: dict = {}
        self._label_source = None  # (label, feature names, BlockRDD of (X, y)) from from_numpy
        self._origin: BlockRDD | None = None  # from_numpy's validated blocks (no label)
        # the table whose names to use when the width matches (map, map_batches, ...)
        self._default_columns: MLTable | None = None
        self._partition_rows: list[int] | None = None  # rows per partition, when known
        self._columns_from: MLTable | None = None  # same columns as this table (_derive)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_data(cls, data, *, ctx: MLContext | None = None, columns: Sequence[str] | None = None,
                  num_partitions: int | None = None) -> "MLTable":
        """Build a table from numpy/scipy arrays, LocalMatrix, pandas/Spark DataFrames or
        Python sequences: the one conversion of user input to a table (blocks, for numeric
        data) -- ``Algorithm.fit`` (through :func:`as_labeled`), ``Model.predict``, the
        pipelines' input and ``transform`` go through it, dispatching on
        :func:`mli.table.kinds.input_kind`."""
        ctx = get_context(ctx)
        if isinstance(data, MLTable):
            return data
        if isinstance(data, np.ndarray) or sp.issparse(data) or isinstance(data, LocalMatrix):
            return cls.from_numpy(data, columns=columns, num_partitions=num_partitions, ctx=ctx)
        kind = input_kind(data)
        if kind in ("pandas", "series"):
            return cls.from_pandas(data, num_partitions=num_partitions, ctx=ctx)
        if kind in ("spark", "connect"):
            return cls.from_spark(data, ctx=ctx)
        if isinstance(data, (str, bytes)):
            raise TypeError(f"cannot build an MLTable from a {type(data).__name__}; to read a "
                            "file use MLTable.read_csv/read_text/read_libsvm/read_parquet")
        if isinstance(data, dict):
            import pandas as pd

            try:
                df = pd.DataFrame(data)
            except ValueError as exc:
                raise ValueError(f"a dict must map column names to equally long sequences: "
                                 f"{exc}") from None
            return cls.from_pandas(df, num_partitions=num_partitions, ctx=ctx)
        if isinstance(data, (list, tuple)) or hasattr(data, "__iter__"):
            return cls.from_rows(data, columns=columns, num_partitions=num_partitions, ctx=ctx)
        raise TypeError(f"cannot build an MLTable from a {type(data).__name__}; expected a numpy "
                        "array, scipy sparse matrix, pandas or Spark DataFrame, or a sequence of rows")

    @classmethod
    def from_numpy(cls, X, y=None, *, columns: Sequence[str] | None = None, label: str = "label",
                   num_partitions: int | None = None, dtype=None,
                   ctx: MLContext | None = None) -> "MLTable":
        """A numeric table from a 2-D array (dense or scipy sparse), plus an optional label.

        The array is validated on the driver (2-D, numeric, finite), cut into row blocks and
        sent to Spark with one pickled block per partition: no per-row Python objects.
        """
        ctx = get_context(ctx)
        X = X.array if isinstance(X, LocalMatrix) else X
        if sp.issparse(X):
            X = sp.csr_matrix(X)
            if X.dtype.kind not in "f":
                X = X.astype(np.float64)
        else:
            if not isinstance(X, np.ndarray):
                X = _as_float_array(X, columns)
            if X.ndim != 2:
                raise ValueError(f"X must be a 2-D array (rows x features), got {X.ndim}-D with "
                                 f"shape {X.shape}")
            if X.dtype.kind not in "biuf":
                X = _as_float_array(X, columns)
            elif X.dtype.kind != "f":
                X = X.astype(np.float64)
        if dtype is not None:
            X = X.astype(dtype)
        n, d = X.shape
        if n == 0:
            raise ValueError("cannot build a table from an empty array (0 rows)")
        if d == 0:
            raise ValueError("cannot build a table from an array with no columns "
                             f"(shape {X.shape})")
        cols = [str(c) for c in columns] if columns is not None else [f"x{j}" for j in range(d)]
        if len(cols) != d:
            raise ValueError(f"got {len(cols)} column names for {d} columns")
        _check_names(cols)
        check_finite(X, cols)
        nbytes = X.data.nbytes if sp.issparse(X) else X.nbytes
        parts = (num_partitions if num_partitions is not None
                 else _default_partitions(ctx, nbytes, n))
        _check_partitions(parts, n)
        sizes = _split_sizes(n, parts)
        bounds = np.cumsum([0] + sizes)
        if y is None:
            chunks = [LocalMatrix(X[bounds[i]:bounds[i + 1]]) for i in range(parts)]
            store = BlockRDD.from_bundles(chunks, ctx, name="table")
            # the table's RDD view is made only if asked for (from the store's files)
            table = cls(ctx, cols, blocks=functools.partial(getattr, store, "source_rdd"),
                        numeric=True)
            table._origin = store  # validated above: the table's resident blocks as they are
        else:
            y = _label_array(y, n)
            if label in cols:
                raise ValueError(f"label column name '{label}' clashes with a feature column")
            # one (X, y) bundle per partition: training reads it directly (no re-split)
            chunks = [(LocalMatrix(X[bounds[i]:bounds[i + 1]]), y[bounds[i]:bounds[i + 1]])
                      for i in range(parts)]
            store = BlockRDD.from_bundles(chunks, ctx, name="labeled")
            table = cls(ctx, cols + [label], numeric=True,
                        blocks=functools.partial(_mapped_source, store, _join_label))
            table._label_source = (label, cols, store)
        table._partition_rows = sizes
        return table

    @classmethod
    def from_pandas(cls, df, *, num_partitions: int | None = None,
                    ctx: MLContext | None = None) -> "MLTable":
        """A table from a pandas DataFrame: numeric frames become numeric (block) tables."""
        import pandas as pd

        ctx = get_context(ctx)
        if isinstance(df, pd.Series):
            df = df.to_frame(name=df.name if df.name is not None else "c0")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if df.shape[1] == 0:
            raise ValueError("cannot build a table from a DataFrame with no columns")
        if len(df) == 0:
            raise ValueError("cannot build a table from an empty DataFrame (0 rows)")
        cols = [str(c) for c in df.columns]
        _check_names(cols)
        kinds = [df.iloc[:, j].dtype.kind for j in range(df.shape[1])]
        if all(k in _NUMERIC_KINDS for k in kinds):
            X = np.column_stack([_pandas_numeric(df.iloc[:, j], cols[j])
                                 for j in range(df.shape[1])])
            return cls.from_numpy(X, columns=cols, num_partitions=num_partitions, ctx=ctx)
        # mixed frames: rows of plain Python values (missing values become None)
        values = [_pandas_python_values(df.iloc[:, j]) for j in range(df.shape[1])]
        rows = list(zip(*values))
        return cls.from_rows(rows, columns=cols, num_partitions=num_partitions, ctx=ctx)

    @classmethod
    def from_rows(cls, rows: Iterable, *, columns: Sequence[str] | None = None,
                  num_partitions: int | None = None, ctx: MLContext | None = None) -> "MLTable":
        """A table from a sequence of rows (tuples/lists; scalars make one-column rows)."""
        ctx = get_context(ctx)
        rows = [tuple(r) if isinstance(r, (list, tuple, np.ndarray)) else (r,) for r in rows]
        if not rows:
            raise ValueError("cannot build a table from an empty sequence of rows")
        _check_ragged(rows)
        width = len(rows[0])
        if width == 0:
            raise ValueError("cannot build a table from rows with no values")
        cols = [str(c) for c in columns] if columns is not None else [f"c{j}" for j in range(width)]
        if len(cols) != width:
            raise ValueError(f"got {len(cols)} column names for rows of {width} values")
        _check_names(cols)
        numeric = all(_is_number(v) for r in rows[:1000] for v in r)
        parts = (num_partitions if num_partitions is not None
                 else max(1, min(ctx.default_parallelism, len(rows))))
        _check_partitions(parts, len(rows))
        return cls(ctx, cols, rows=ctx.sc.parallelize(rows, parts), numeric=numeric)

    @classmethod
    def from_source(cls, source: frames.Source) -> "MLTable":
        """The table of what a reader of :mod:`mli.table.io` found."""
        table = cls(source.ctx, source.columns, rows=source.rows, blocks=source.blocks,
                    numeric=source.numeric)
        table._origin = source.origin
        return table

    @classmethod
    def from_spark(cls, df, *, ctx: MLContext | None = None) -> "MLTable":
        """A table from a Spark DataFrame. Numeric frames move to blocks through Arrow."""
        return cls.from_source(frames.spark_source(df, ctx=get_context(ctx)))

    # readers (see mli.table.io)
    @staticmethod
    def read_csv(path: str, **kw) -> "MLTable":
        return read_csv(path, **kw)

    @staticmethod
    def read_tsv(path: str, **kw) -> "MLTable":
        return read_tsv(path, **kw)

    @staticmethod
    def read_text(path: str, **kw) -> "MLTable":
        return read_text(path, **kw)

    @staticmethod
    def read_libsvm(path: str, **kw) -> "MLTable":
        return read_libsvm(path, **kw)

    @staticmethod
    def read_parquet(path: str, **kw) -> "MLTable":
        return read_parquet(path, **kw)

    # ------------------------------------------------------------------ representations
    @property
    def ctx(self) -> MLContext:
        return self._ctx

    @property
    def rdd(self):
        """The rows, as an RDD of tuples."""
        if self._rows is None:
            self._rows = self._block_source().flatMap(_block_to_rows)
        return self._rows

    def _block_source(self):
        if self._store is not None:
            return self._store.source_bundles()
        if callable(self._blocks):
            self._blocks = self._blocks()
        if self._blocks is None:
            if not self.is_numeric:
                raise self._non_numeric_error("numeric blocks need numeric columns; columns")
            self._blocks = self._rows.mapPartitionsWithIndex(
                task_safe(functools.partial(_rows_to_block, self.columns, np.float64)),
                preservesPartitioning=True)
        return self._blocks

    @property
    def blocks(self) -> BlockRDD:
        """The resident per-partition LocalMatrix blocks (materialized on first use)."""
        if self._store is None and self._origin is not None:
            self._store = self._origin
        if self._store is None and self._label_source is not None:
            # (validated at from_numpy) one pass over the (X, y) blocks writes X | y
            self._store = self._label_source[2].map(_join_label, name="table")
        if self._store is None:
            src = self._block_source().mapPartitionsWithIndex(
                task_safe(functools.partial(_validate_partition, self.columns)),
                preservesPartitioning=True)
            self._store = BlockRDD(src, self._ctx, name="table")
        return self._store.materialize()

    @property
    def is_numeric(self) -> bool:
        """True when every column is numeric (decided from the first row when unknown)."""
        if self._numeric is None:
            first = self.take(1)
            self._numeric = bool(first) and all(_is_number(v) for v in first[0])
        return bool(self._numeric)

    def cache(self) -> "MLTable":
        """Keep the table in memory: numeric tables become resident blocks, others a persisted RDD."""
        if self.is_numeric:
            self.blocks  # noqa: B018 - materializes
        else:
            self.rdd.cache()
        return self

    def unpersist(self) -> "MLTable":
        if self._store is not None:
            self._store.unpersist()
            self._store = None
        for d in self._labeled.values():
            d.blocks.unpersist()
        self._labeled.clear()
        if self._rows is not None and self._rows.is_cached:
            self._rows.unpersist()
        return self

    # ------------------------------------------------------------------ schema
    @property
    def columns(self) -> tuple[str, ...]:
        if self._columns is None and self._columns_from is not None:
            self._columns = self._columns_from.columns
        if self._columns is None:
            if self._rows is None:  # blocks (map_batches): their width, even when empty
                widths = self._ctx.run(self._block_source().map(_block_width)
                                       .filter(_is_not_none)
                                       .take, 1)
                width = widths[0] if widths else 0
            else:
                first = self.take(1)
                width = len(first[0]) if first else None  # no rows: any width fits
            default = self._default_columns
            default = default.columns if default is not None else None
            if default is not None and (width is None or len(default) == width):
                self._columns = tuple(default)
            else:
                self._columns = tuple(f"c{j}" for j in range(width or 0))
        return self._columns

    @property
    def num_cols(self) -> int:
        return len(self.columns)

    @property
    def num_rows(self) -> int:
        return int(sum(self._rows_per_partition()))

    def _rows_per_partition(self) -> list[int]:
        """Rows in each partition: known from construction or the resident blocks, else
        counted by one Spark job (and remembered: a table's rows never change)."""
        if self._partition_rows is None:
            if self._store is not None and self._store._meta is not None:
                self._partition_rows = list(self._store.partition_rows)
            elif self._origin is not None:  # written where it runs (Connect): its own count
                self._partition_rows = list(self.blocks.partition_rows)
            else:
                self._partition_rows = [int(c) for c in self._ctx.run(
                    self.rdd.mapPartitions(_rows_count).collect)]
        return self._partition_rows

    def __len__(self) -> int:
        return self.num_rows

    @property
    def num_partitions(self) -> int:
        if self._store is not None:
            return self._store.num_partitions
        if self._origin is not None:
            return self._origin.num_partitions
        if self._partition_rows is not None:
            return len(self._partition_rows)
        return (self._block_source() if self._rows is None else self._rows).getNumPartitions()

    @property
    def schema(self) -> list[tuple[str, str]]:
        """Column names and types (numeric tables: float64; others: inferred from the first row)."""
        if self.is_numeric:
            return [(c, "float64") for c in self.columns]
        first = self.take(1)
        types = [type(v).__name__ for v in first[0]] if first else ["unknown"] * self.num_cols
        return list(zip(self.columns, types))

    def __repr__(self) -> str:
        kind = "numeric" if self.is_numeric else "rows"
        cols = ", ".join(self.columns[:8]) + (", ..." if len(self.columns) > 8 else "")
        return f"MLTable({kind}, columns=[{cols}], partitions={self.num_partitions})"

    def _col_index(self, col) -> int:
        if isinstance(col, (int, np.integer)) and not isinstance(col, bool):
            if not -self.num_cols <= col < self.num_cols:
                raise IndexError(f"column index {col} out of range for {self.num_cols} columns")
            return int(col) % self.num_cols
        try:
            return self.columns.index(str(col))
        except ValueError:
            raise KeyError(f"no column {col!r}; columns are {list(self.columns)}") from None

    def _derive(self, rows=None, blocks=None, columns=None, numeric=None) -> "MLTable":
        """A table with the same columns (resolved lazily from this one when not yet known:
        deriving a table never runs a Spark job)."""
        table = MLTable(self._ctx, self._columns if columns is None else columns, rows=rows,
                        blocks=blocks, numeric=self._numeric if numeric is None else numeric)
        if table._columns is None:
            table._columns_from = self
        return table

    # ------------------------------------------------------------------ row operations
    def map(self, fn: Callable, *, columns: Sequence[str] | None = None) -> "MLTable":
        """Apply ``fn(row) -> row`` (a tuple, or a scalar for one column) to every row.

        The result's columns are ``columns``; by default the input's names when the rows keep
        their width, else ``c0``, ``c1``, ... Numeric or not is decided from the first row.
        """
        _check_fn(fn, "map")
        columns = _opt_names(columns)
        rows = self.rdd.map(task_safe(functools.partial(_as_row_result, fn)))
        table = MLTable(self._ctx, columns, rows=rows, numeric=_guess_numeric(rows, self._ctx))
        table._default_columns = self  # its names, looked up lazily
        return table

    def flat_map(self, fn: Callable, *, columns: Sequence[str] | None = None) -> "MLTable":
        """Apply ``fn(row) -> iterable of rows`` and concatenate the results (columns: as
        in :meth:`map`)."""
        _check_fn(fn, "flat_map")
        columns = _opt_names(columns)
        rows = self.rdd.flatMap(task_safe(functools.partial(_as_rows_result, fn)))
        table = MLTable(self._ctx, columns, rows=rows, numeric=_guess_numeric(rows, self._ctx))
        table._default_columns = self  # its names, looked up lazily
        return table

    def filter(self, predicate: Callable) -> "MLTable":
        """Keep the rows for which ``predicate(row)`` is true."""
        _check_fn(predicate, "filter")
        return self._derive(rows=self.rdd.filter(task_safe(predicate)))

    def union(self, other: "MLTable") -> "MLTable":
        """Rows of both tables (same columns required)."""
        if not isinstance(other, MLTable):
            raise TypeError(f"union expects an MLTable, got {type(other).__name__}")
        if tuple(other.columns) != tuple(self.columns):
            raise ValueError(f"union needs the same columns: {list(self.columns)} vs "
                             f"{list(other.columns)}")
        return self._derive(rows=self.rdd.union(other.rdd),
                            numeric=_both_numeric(self._numeric, other._numeric))

    def join(self, other: "MLTable", on, how: str = "inner") -> "MLTable":
        """Join on key column(s) ``on``; result columns: keys, then the others of each side."""
        if not isinstance(other, MLTable):
            raise TypeError(f"join expects an MLTable, got {type(other).__name__}")
        if how not in ("inner", "left", "right", "outer"):
            raise ValueError(f"how must be one of 'inner', 'left', 'right', 'outer', got {how!r}")
        keys = [on] if isinstance(on, (str, int, np.integer)) else list(on)
        if not keys:
            raise ValueError("join needs at least one key column in on=")
        li = [self._col_index(k) for k in keys]
        ri = [other._col_index(k) for k in keys]
        keys = [self.columns[i] for i in li]  # names, also when given by position
        lrest = [j for j in range(self.num_cols) if j not in li]
        rrest = [j for j in range(other.num_cols) if j not in ri]
        left = self.rdd.map(functools.partial(_keyed, li, lrest))
        right = other.rdd.map(functools.partial(_keyed, ri, rrest))
        joined = {"inner": left.join, "left": left.leftOuterJoin, "right": left.rightOuterJoin,
                  "outer": left.fullOuterJoin}[how](right)
        nl, nr = len(lrest), len(rrest)
        rows = joined.map(functools.partial(_unkey, nl, nr))
        lnames = [self.columns[j] for j in lrest]
        rnames = [other.columns[j] for j in rrest]
        rnames = [n + "_right" if n in lnames or n in keys else n for n in rnames]
        cols = keys + lnames + rnames
        _check_names(cols)
        # outer joins fill missing values with None: not numeric
        return MLTable(self._ctx, cols, rows=rows,
                       numeric=_both_numeric(self._numeric, other._numeric) if how == "inner"
                       else False)

    def reduce(self, fn: Callable):
        """Combine all rows with ``fn(row_a, row_b) -> row``."""
        _check_fn(fn, "reduce")
        parts = self._ctx.run(self.rdd.mapPartitions(
            functools.partial(_reduce_partition, task_safe(fn))).collect)
        if not parts:
            raise ValueError("reduce of an empty table (0 rows)")
        return functools.reduce(fn, parts)  # partition results, in partition order

    def reduce_by(self, key, fn: Callable, *, columns: Sequence[str] | None = None) -> "MLTable":
        """Group rows by key column(s) and combine the other values with ``fn(a, b)``.

        The result has the key columns then the reduced values; ``fn`` receives and returns
        tuples of the non-key values.
        """
        _check_fn(fn, "reduce_by")
        keys = [key] if isinstance(key, (str, int, np.integer)) else list(key)
        if not keys:
            raise ValueError("reduce_by needs at least one key column")
        ki = [self._col_index(k) for k in keys]
        rest = [j for j in range(self.num_cols) if j not in ki]
        pairs = self.rdd.map(functools.partial(_keyed, ki, rest))
        red = pairs.reduceByKey(task_safe(fn)).map(_flatten_pair)
        cols = _opt_names(columns) or [self.columns[i] for i in ki] + [self.columns[j] for j in rest]
        return MLTable(self._ctx, cols, rows=red, numeric=None)

    def sort_by(self, key, ascending: bool = True) -> "MLTable":
        """Sort rows by key column(s) or by a function of the row."""
        if callable(key):
            keyfn = task_safe(key)
        else:
            ks = [key] if isinstance(key, (str, int, np.integer)) else list(key)
            if not ks:
                raise ValueError("sort_by needs a key column or a function")
            keyfn = functools.partial(_pick, [self._col_index(k) for k in ks])
        # sortBy samples the keys right away (a Spark job): re-raise task errors as such
        return self._derive(rows=self._ctx.run(self.rdd.sortBy, keyfn,
                                               ascending=bool(ascending)))

    def select(self, *cols) -> "MLTable":
        """Keep (and reorder) columns by name or position (MLI's project)."""
        if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
            cols = tuple(cols[0])
        if not cols:
            raise ValueError("select needs at least one column")
        idx = [self._col_index(c) for c in cols]
        names = [self.columns[i] for i in idx]
        _check_names(names)
        if self._rows is None and self.is_numeric:
            return MLTable(self._ctx, names, blocks=self._block_source().map(
                functools.partial(_select_block, idx)), numeric=True)
        # a subset of numeric columns is numeric; of other tables, it may be (decided lazily)
        return MLTable(self._ctx, names, rows=self.rdd.map(functools.partial(_pick_tuple, idx)),
                       numeric=True if self._numeric else None)

    project = select

    def drop(self, *cols) -> "MLTable":
        """All columns but the given ones."""
        drop = {self._col_index(c) for c in cols}
        return self.select(*[c for j, c in enumerate(self.columns) if j not in drop])

    def sample(self, fraction: float, seed: int = 0) -> "MLTable":
        """A Bernoulli sample of the rows; the same rows for any partitioning of the table."""
        if not isinstance(fraction, numbers.Real) or isinstance(fraction, bool):
            raise TypeError(f"fraction must be a number in [0, 1], got {fraction!r}")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
        tagged = self._tagged(seed)
        fraction = float(fraction)
        return self._derive(rows=tagged.filter(lambda t: t[0] < fraction).map(lambda t: t[1]))

    def random_split(self, weights: Sequence[float], seed: int = 0) -> list["MLTable"]:
        """Split rows randomly by relative weights; the same split for any partitioning."""
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
            raise TypeError(f"weights must be a list of numbers, got {weights!r}")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in weights):
            raise TypeError(f"weights must be a list of numbers, got {list(weights)!r}")
        w = np.asarray(weights, dtype=float)
        if (w.ndim != 1 or len(w) < 1 or not np.isfinite(w).all() or (w < 0).any()
                or w.sum() <= 0):
            raise ValueError(f"weights must be a non-empty list of non-negative numbers with a "
                             f"positive sum, got {list(weights)!r}")
        edges = np.concatenate([[0.0], np.cumsum(w / w.sum())])
        edges[-1] = 1.0 + 1e-12
        tagged = self._tagged(seed)
        return [self._derive(rows=tagged.filter(functools.partial(_in_range, lo, hi))
                             .map(lambda t: t[1]))
                for lo, hi in zip(edges[:-1], edges[1:])]

    def _tagged(self, seed: int):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        counts = self._rows_per_partition()
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        return self.rdd.mapPartitionsWithIndex(
            functools.partial(_tag_uniform, int(seed), offsets))

    def repartition(self, num_partitions: int) -> "MLTable":
        """The same rows in ``num_partitions`` partitions (order kept)."""
        _check_partitions(num_partitions, None)
        counts = self._rows_per_partition()
        n = int(sum(counts))
        num_partitions = int(num_partitions)
        # contiguous, balanced ranges of the global row index (sizes differ by at most one)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        keyed = self.rdd.mapPartitionsWithIndex(functools.partial(_index_rows, offsets))
        rows = (keyed.partitionBy(num_partitions, functools.partial(_range_part, n, num_partitions))
                .mapPartitions(_sorted_values, preservesPartitioning=True))
        table = self._derive(rows=rows)
        table._partition_rows = [_ceil_div((k + 1) * n, num_partitions)
                                 - _ceil_div(k * n, num_partitions)
                                 for k in range(num_partitions)]
        return table

    # ------------------------------------------------------------------ actions
    def collect(self) -> list[tuple]:
        """All rows, in order, as tuples."""
        if self._ctx.is_connect and self.is_numeric:
            return [tuple(r) for r in self.to_numpy().tolist()]
        return self._ctx.run(self.rdd.collect)

    def take(self, n: int) -> list[tuple]:
        """The first ``n`` rows, in order."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"take expects an integer number of rows, got {n!r}")
        if n < 0:
            raise ValueError(f"take expects a number of rows >= 0, got {n}")
        if self._ctx.is_connect and self._numeric:
            return self.collect()[:int(n)]
        return self._ctx.run(self.rdd.take, int(n))

    def is_empty(self) -> bool:
        return len(self.take(1)) == 0

    # ------------------------------------------------------------------ per-partition operations
    def map_batches(self, fn: Callable, *args, columns: Sequence[str] | None = None) -> "MLTable":
        """MLI's matrixBatchMap: ``fn(block: LocalMatrix, *args) -> LocalMatrix`` per partition.

        The results are concatenated into a new numeric table (1-D results become one column).
        ``fn`` may return a LocalMatrix, a 2-D (or 1-D) numpy array or a scipy sparse matrix;
        the number of rows may change. Output columns are named ``columns``; by default the
        input's names when the width is unchanged, else ``c0``, ``c1``, ...
        """
        _check_fn(fn, "map_batches")
        names = _opt_names(columns)
        src = self.blocks.map(functools.partial(_apply_batch, fn, args,
                                                None if names is None else len(names)),
                              name="batches")
        table = MLTable(self._ctx, names, blocks=functools.partial(getattr, src, "source_rdd"),
                        numeric=True)
        table._default_columns = self  # its names, looked up lazily
        return table

    def aggregate(self, fn: Callable, *args, combine: Callable = tree_add):
        """Apply ``fn(block, *args)`` to every partition's LocalMatrix and combine the results.

        Combination is a deterministic tree (default: elementwise sum of numbers, arrays, or
        tuples/dicts of them).
        """
        return self.blocks.map_reduce(fn, *args, combine=combine)

    # ------------------------------------------------------------------ out
    def to_numpy(self) -> np.ndarray:
        """The whole table as a dense 2-D float64 array (numeric tables only)."""
        if not self.is_numeric:
            raise self._non_numeric_error("to_numpy needs numeric columns (use to_pandas for "
                                          "mixed tables); columns")
        blocks = self._collected_blocks()
        mats = [b.array.toarray() if sp.issparse(b.array) else np.asarray(b.array) for b in blocks]
        if not mats:
            return np.zeros((0, self.num_cols))
        return np.vstack(mats)

    def _collected_blocks(self) -> list:
        """Every block on the driver, in order (over Spark Connect: by a gang run)."""
        if self._ctx.is_connect:
            return self.blocks.collect()
        return self._ctx.run(self._block_source().collect)

    def to_scipy(self) -> sp.csr_matrix:
        blocks = self._collected_blocks()
        return sp.csr_matrix(sp.vstack([sp.csr_matrix(b.array) for b in blocks]))

    def to_pandas(self):
        import pandas as pd

        if self.is_numeric:
            return pd.DataFrame(self.to_numpy(), columns=list(self.columns))
        return pd.DataFrame(self.collect(), columns=list(self.columns))

    def to_spark(self):
        """The table as a Spark DataFrame."""
        if self.is_numeric:
            return frames.spark_frame(self.ctx, self.columns, blocks=self._block_source())
        return frames.spark_frame(self.ctx, self.columns, rows=self.rdd)

    # ------------------------------------------------------------------ labeled view
    def labeled(self, label: str | None, weight: str | None = None) -> "LabeledData":
        """(features, label) blocks for training, cached on the table per label column;
        (features, label, weights) blocks when ``weight`` names a column of row weights
        (finite, >= 0; neither a feature nor the label)."""
        key = label if weight is None else (label, weight)
        if key in self._labeled:
            return self._labeled[key]
        if not self.is_numeric:
            raise self._non_numeric_error("features")
        if weight is None and self._label_source is not None and self._label_source[0] == label:
            _, names, store = self._label_source  # validated by from_numpy
        elif label is not None or weight is not None:
            li = None if label is None else self._col_index(label)
            wi = None if weight is None else self._col_index(weight)
            if wi is not None and wi == li:
                raise ValueError(f"the weight column '{weight}' is also the label column")
            feats = [j for j in range(self.num_cols) if j not in (li, wi)]
            if not feats:
                raise ValueError("no feature columns: the table has only the label and weight "
                                 f"columns {[c for c in (label, weight) if c is not None]}")
            names = [self.columns[j] for j in feats]
            store = self.blocks.map(functools.partial(_split_label, li, feats, self.columns,
                                                      weight_idx=wi), name="labeled")
        else:
            names = list(self.columns)
            store = BlockView(self.blocks, _unlabeled, name="features")
        data = LabeledData(store, names, self._ctx, weighted=weight is not None)
        self._labeled[key] = data
        return data

    def _non_numeric_columns(self) -> list[str]:
        first = self.take(1)
        if not first:
            return []
        return [c for c, v in zip(self.columns, first[0]) if not _is_number(v)]

    def _non_numeric_error(self, what: str) -> ValueError:
        """A ValueError naming the non-numeric column(s) and the first offending row.

        One extra Spark job (only on this error path). A text value that looks like a number
        is reported as such, but a value that is not a number at all (``'oops'`` in a CSV
        column Spark read as text) is preferred as the example.
        """
        found = self._ctx.run(self.rdd.zipWithIndex().mapPartitions(
            functools.partial(_find_non_numeric, self.num_cols)).collect)
        bad_cols = sorted({j for cols, _, _ in found for j in cols})
        hard = [h for _, _, h in found if h is not None]
        soft = [s for _, s, _ in found if s is not None]
        names = [self.columns[j] for j in bad_cols]
        if not names:
            return ValueError(f"{what} must be numeric, but the table is empty or its columns "
                              f"{list(self.columns)} are not known to be numeric")
        row, j, value = min(hard or soft)
        if value is None:
            detail = f"row {row} of column '{self.columns[j]}' is missing (None)"
        elif hard:
            detail = (f"row {row} of column '{self.columns[j]}' holds {show_value(value)} "
                      f"({type(value).__name__}), which is not a number")
        else:
            detail = (f"row {row} of column '{self.columns[j]}' holds {show_value(value)} "
                      f"({type(value).__name__}); text is not converted to numbers")
        return ValueError(f"{what} must be numeric, but column(s) {names} are not: {detail}. "
                          "Select numeric columns (table.select) or featurize them first")


def _find_non_numeric(ncols, it):
    """Per partition of (row, global index): (bad column indexes, first non-number,
    first value that does not even parse as a number), as (index, column, value)."""
    cols, soft, hard = set(), None, None
    for row, i in it:
        for j, v in enumerate(row[:ncols]):
            if _is_number(v):
                continue
            cols.add(j)
            if soft is None:
                soft = (i, j, v)
            if hard is None:
                try:
                    float(v)
                except (TypeError, ValueError):
                    hard = (i, j, v)
    yield (cols, soft, hard)


def _block_width(block):
    return block.shape[1] if block is not None else None


def _is_not_none(x):
    return x is not None


def _both_numeric(a: bool | None, b: bool | None) -> bool | None:
    """Numeric flag of a table made of two tables' values (None: unknown, decided lazily)."""
    if a is False or b is False:
        return False
    return True if a and b else None


def _check_partitions(parts, n):
    if not isinstance(parts, (int, np.integer)) or isinstance(parts, bool) or parts < 1:
        raise ValueError(f"num_partitions must be an integer >= 1, got {parts!r}")
    if n is not None and parts > n:
        raise ValueError(f"num_partitions ({parts}) cannot exceed the number of rows ({n})")


def _label_array(y, n) -> np.ndarray:
    try:
        y = np.asarray(y)
    except ValueError:
        raise ValueError("y must be a 1-D array of numbers") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}")
    if y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            i = next(i for i, v in enumerate(y) if not _parses_as_float(v))
            raise ValueError(f"y must be numeric: row {i} holds {show_value(y[i])}") from None
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        i = int(np.argmax(~np.isfinite(y)))
        raise ValueError(f"labels must be finite: row {i} is {show_value(y[i])}")
    return y


def _mapped_source(store, fn):
    return store.source_rdd.map(fn)


def _join_label(pair):
    X, y = pair
    a = X.array
    col = y.reshape(-1, 1).astype(a.dtype)
    return LocalMatrix(sp.hstack([a, sp.csr_matrix(col)], format="csr") if sp.issparse(a)
                       else np.hstack([a, col]))


def _validate_partition(columns, index, it):
    for block in it:
        yield validate_block(columns, block, index)


def _unlabeled(bundle):
    return (bundle, None)


def _select_block(idx, block):
    a = block.array
    return LocalMatrix(a[:, idx] if sp.issparse(a) else np.ascontiguousarray(a[:, idx]))


def _as_row_result(fn, row):
    out = fn(row)
    return tuple(out) if isinstance(out, (list, tuple, np.ndarray)) else (out,)


def _as_rows_result(fn, row):
    for out in fn(row):
        yield tuple(out) if isinstance(out, (list, tuple, np.ndarray)) else (out,)


def _guess_numeric(rows, ctx):
    return None  # decided lazily (see MLTable.is_numeric fallback)


def _reduce_partition(fn, it):
    it = iter(it)
    try:
        acc = next(it)
    except StopIteration:
        return
    for row in it:
        acc = fn(acc, row)
    yield acc


def _keyed(ki, rest, row):
    k = row[ki[0]] if len(ki) == 1 else tuple(row[i] for i in ki)
    return (k, tuple(row[j] for j in rest))


def _unkey(nl, nr, kv):
    k, (a, b) = kv
    k = k if isinstance(k, tuple) else (k,)
    a = a if a is not None else (None,) * nl
    b = b if b is not None else (None,) * nr
    return k + tuple(a) + tuple(b)


def _flatten_pair(kv):
    k, v = kv
    k = k if isinstance(k, tuple) else (k,)
    return k + (tuple(v) if isinstance(v, (tuple, list)) else (v,))


def _pick(idx, row):
    return row[idx[0]] if len(idx) == 1 else tuple(row[i] for i in idx)


def _pick_tuple(idx, row):
    return tuple(row[i] for i in idx)


def _in_range(lo, hi, t):
    return lo <= t[0] < hi


def _index_rows(offsets, index, rows):
    """(global row index, row) pairs of one partition."""
    return enumerate(rows, offsets[index])


def _range_part(n, parts, i):
    return min(parts - 1, i * parts // max(n, 1))


def _ceil_div(a, b):
    return -(-a // b)


def _sorted_values(it):
    return (v for _, v in sorted(it, key=_first))


def _first(t):
    return t[0]


def _opt_names(columns):
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)):
        raise TypeError(f"columns must be a list of names, got {columns!r}")
    names = [str(c) for c in columns]
    _check_names(names)
    return names


# ============================================================================ training data


class LabeledData:
    """Training data as resident ``(X: LocalMatrix, y: ndarray | None)`` blocks, or
    ``(X, y, w)`` blocks with ``w`` the rows' weights (float64, finite, >= 0) when
    ``weighted`` (``fit(..., sample_weight=...)``)."""

    _mli_kind = "labeled"  # what mli.table.kinds.input_kind says of it

    def __init__(self, blocks: BlockRDD, feature_names: Sequence[str], ctx: MLContext,
                 weighted: bool = False):
        self.blocks = blocks
        self.feature_names = list(feature_names)
        self.ctx = ctx
        self.weighted = bool(weighted)
        self._children: list[LabeledData] = []

    def derive(self, fn: Callable, *, name: str = "derived") -> "LabeledData":
        """New training data whose bundle ``p`` is ``fn((X, y))`` (``fn((X, y, w))`` when
        weighted) of this one (lazy, resident once used). Released together with this data."""
        child = LabeledData(self.blocks.map(fn, name=name), self.feature_names, self.ctx,
                            self.weighted)
        self._children.append(child)
        return child

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    @property
    def num_rows(self) -> int:
        return self.blocks.num_rows

    @property
    def num_partitions(self) -> int:
        return self.blocks.num_partitions

    def release(self) -> None:
        """Drop the resident blocks, and those of the data derived from it."""
        for child in self._children:
            child.release()
        self._children.clear()
        self.blocks.unpersist()

    def labels(self) -> np.ndarray:
        """All labels, in row order, on the driver."""
        parts = [p for p in self.blocks.map_collect(_labels_of) if p is not None]
        return np.concatenate(parts) if parts else np.zeros(0)


def _labels_of(bundle):
    return None if bundle[1] is None else np.array(bundle[1])


def as_labeled(data, y=None, *, label: str | None = None, ctx: MLContext | None = None,
               num_partitions: int | None = None, sample_weight=None) -> LabeledData:
    """Normalize training input into :class:`LabeledData`.

    ``fit(X, y)`` with numpy/scipy arrays, or ``fit(table, label="column")`` with an MLTable,
    a pandas DataFrame or a Spark DataFrame. ``sample_weight``: the rows' weights, an array
    of one finite weight >= 0 per row (arrays, pandas), or the name of a weight column
    (tables): the data is then weighted (``(X, y, w)`` bundles). Raises ValueError/TypeError
    on bad input.
    """
    ctx = get_context(ctx)
    if isinstance(data, LabeledData):
        if sample_weight is not None:
            raise ValueError("sample_weight cannot be added to prepared training data "
                             "(LabeledData); pass it with the table or arrays")
        return data
    if isinstance(data, (np.ndarray, LocalMatrix)) or sp.issparse(data) or isinstance(data, list):
        if label is not None:
            raise ValueError("label= names a column of a table; with arrays pass y instead")
        if isinstance(sample_weight, str):
            raise ValueError(f"sample_weight={sample_weight!r} names a column, but arrays have "
                             "none: pass one weight per row")
        table = MLTable.from_numpy(data, y, num_partitions=num_partitions, ctx=ctx,
                                   label="__label__")
        d = table.labeled("__label__" if y is not None else None)
        if sample_weight is None:
            return d
        w = _weight_array(sample_weight, table.num_rows)
        bounds = np.cumsum([0] + list(table._partition_rows))
        parts = [w[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
        return LabeledData(d.blocks.map(_attach_weights, parts, with_index=True, name="weighted"),
                           d.feature_names, ctx, weighted=True)
    if y is not None:
        raise ValueError("y is for array input; with a table pass label='column name'")
    weight = None
    if sample_weight is not None and not isinstance(sample_weight, str):
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise ValueError("with a table or Spark DataFrame, sample_weight names its weight "
                             f"column (a str), got {type(sample_weight).__name__}")
        weight = "__weight__"
        data = data.assign(**{weight: _weight_array(sample_weight, len(data))})
    elif sample_weight is not None:
        weight = sample_weight
    table = MLTable.from_data(data, ctx=ctx, num_partitions=num_partitions)
    if num_partitions is not None and table.num_partitions != num_partitions:
        table = table.repartition(num_partitions)
    if label is not None and str(label) not in table.columns:
        raise ValueError(f"label column '{label}' not found; columns are {list(table.columns)}")
    if weight is not None and str(weight) not in table.columns:
        raise ValueError(f"sample_weight column '{weight}' not found; columns are "
                         f"{list(table.columns)}")
    d = table.labeled(label, weight)
    if d.num_rows == 0:
        raise ValueError("cannot fit on an empty table (0 rows)")
    return d


def _weight_array(w, n: int) -> np.ndarray:
    """Row weights given as an array: 1-D, ``n`` of them, finite numbers >= 0, not all 0."""
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("sample_weight must be a 1-D array of numbers") from None
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D (one weight per row), got shape {w.shape}")
    if len(w) != n:
        raise ValueError(f"sample_weight has {len(w)} weights but the data has {n} rows")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        r = int(np.argmax(bad))
        raise ValueError(f"sample_weight must hold finite weights >= 0, but row {r} is "
                         f"{show_value(w[r])}")
    if not w.any():
        raise ValueError("sample_weight is 0 for every row: nothing to fit")
    return w


def as_matrix(data) -> np.ndarray | sp.csr_matrix:
    """Validate local input for prediction: 2-D, numeric, finite."""
    if isinstance(data, LocalMatrix):
        data = data.array
    if sp.issparse(data):
        data = sp.csr_matrix(data)
        check_finite(data)
        return data
    X = data if isinstance(data, np.ndarray) else _as_float_array(data)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (rows x features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        X = _as_float_array(X)
    check_finite(X)
    return X


# ----------------------------------------------------------------------------- readers


def _reader(source, name: str):
    def read(path: str, **kw) -> MLTable:
        return MLTable.from_source(source(path, **kw))

    read.__name__ = read.__qualname__ = name
    read.__doc__ = source.__doc__
    read.__wrapped__ = source  # help() and inspect.signature show the reader's parameters
    return read


read_csv = _reader(io.csv_source, "read_csv")
read_tsv = _reader(io.tsv_source, "read_tsv")
read_text = _reader(io.text_source, "read_text")
read_libsvm = _reader(io.libsvm_source, "read_libsvm")
read_parquet = _reader(io.parquet_source, "read_parquet")


def from_spark(df, *, ctx: MLContext | None = None) -> MLTable:
    """A table from a Spark DataFrame (see :meth:`MLTable.from_spark`)."""
    return MLTable.from_spark(df, ctx=ctx)


def to_spark(table: MLTable):
    """The table as a Spark DataFrame (see :meth:`MLTable.to_spark`)."""
    return table.to_spark()
