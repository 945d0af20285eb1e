"""What an estimating stage sees and how pipeline input is normalized: :class:`Batches`
(one ``(batch, y)`` pair per partition, on the driver, in an RDD or in a block store) and
:class:`Source` (any input a pipeline accepts -- strings, arrays, MLTables, Spark
DataFrames -- as batches of one kind). Stages are used by duck typing
(``stage._transform_batch``), so this module sits below :mod:`mli.pipeline.stages`.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from mli.engine.blocks import BlockRDD, BlockView, DerivedStore, tree_add
from mli.engine.collective import tree_reduce
from mli.errors import task_safe
from mli.linalg.localmatrix import LocalMatrix
from mli.table.kinds import input_kind
from mli.table.mltable import LabeledData, MLTable, check_finite
from mli.engine.context import context_for_dataframe, get_context
from mli.table.frames import NUMERIC_SPARK

__all__ = ["Batches", "Source", "record_error", "locate_error", "run_stages",
           "as_matrix_output", "to_local_output", "NO_OUTPUT"]

log = logging.getLogger(__name__)


# ============================================================================ helpers


def record_error(exc_type: type, message: str, row: int) -> Exception:
    """An exception about record ``row`` of a batch. ``message`` must contain ``"row {row}"``;
    when the batch is one partition of a table, the row is rewritten as ``"row 3 of
    partition 1"`` (or as the global row of a local input)."""
    exc = exc_type(message)
    exc.mli_row = int(row)
    return exc


def locate_error(exc: Exception, index: int, offset: int | None) -> Exception:
    row = getattr(exc, "mli_row", None)
    if row is None:
        return exc
    msg = str(exc)
    new = (f"row {row + offset}" if offset is not None else f"row {row} of partition {index}")
    out = type(exc)(msg.replace(f"row {row}", new, 1))
    return out




# ============================================================================ batches & sources


def _as_y(y, n: int, where: str = "") -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError):
            i = next(i for i, v in enumerate(y.tolist())
                     if not isinstance(v, (int, float, bool, np.number)))
            raise record_error(ValueError, f"labels must be numeric: row {i}{where} holds "
                                           f"{y[i]!r}", i) from None
    y = y.astype(np.float64).ravel()
    if len(y) != n:
        raise ValueError(f"got {n} records but {len(y)} labels")
    if not np.isfinite(y).all():
        i = int(np.argmax(~np.isfinite(y)))
        raise record_error(ValueError, f"labels must be finite: row {i} is {y[i]!r}", i)
    return y


def run_stages(stages, batch):
    for st in stages:
        batch = st._transform_batch(batch)
    return batch


def _partition_apply(stages, offsets, index, it):
    """mapPartitionsWithIndex body: (batch, y) pairs through ``stages``."""
    offset = None if offsets is None else offsets[index]
    for batch, y in it:
        try:
            yield (run_stages(stages, batch), y)
        except Exception as exc:  # noqa: BLE001 - re-raised with the row located
            raise locate_error(exc, index, offset) from None


def _rows_to_pair(col_idx, label_idx, index, rows):
    """A rows-table partition -> one (list of column values, labels or None) pair."""
    rows = list(rows)
    values = [r[col_idx] for r in rows]
    y = None
    if label_idx is not None:
        labels = [r[label_idx] for r in rows]
        try:
            y = _as_y(labels, len(labels))
        except Exception as exc:  # noqa: BLE001
            raise locate_error(exc, index, None) from None
    yield (values, y)


def _pairs_of(ctx, blocks) -> "Batches":
    """Batches over a store of (X, y) bundles: an RDD of its bundles on a classic session,
    a view of the store over Spark Connect."""
    if ctx.is_connect:
        return Batches(ctx, store=BlockView(blocks, _bundle_to_pair, name="pipeline"))
    return Batches(ctx, blocks.source_bundles().map(_bundle_to_pair))


def _bundle_to_pair(bundle):
    X, y = bundle
    return (X.array if isinstance(X, LocalMatrix) else X, y)


def _as_feature_matrix(names_hint, index, pair):
    X, y = pair
    X = as_matrix_output(X, "the last featurizing stage")
    a = X.array
    data = a.data if sp.issparse(a) else a
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError(f"features must be finite: partition {index} holds NaN or inf after "
                         "featurizing")
    return (X, y)


def as_matrix_output(X, what: str) -> LocalMatrix:
    if isinstance(X, LocalMatrix):
        return X
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
        return LocalMatrix(X)
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf":
        return LocalMatrix(X if X.dtype.kind == "f" else X.astype(np.float64))
    kind = (f"an array of shape {X.shape}" if isinstance(X, np.ndarray)
            else type(X).__name__)
    raise TypeError(f"{what} must produce a 2-D numeric matrix (numpy or scipy CSR) for an "
                    f"Algorithm, got {kind}; add a stage that vectorizes it (e.g. HashingTF)")


def _width_of(pair):
    X = pair[0]
    return X.shape[1]


class Batches:
    """The training data an :class:`Estimator` sees: one ``(batch, y)`` pair per partition.

    ``y`` is a float64 array of labels, or None. Use :meth:`map_reduce` (a Spark job over
    all partitions, results combined in a deterministic tree) or :meth:`map_collect`.
    """

    def __init__(self, ctx, rdd=None, *, local: list | None = None, offsets=None,
                 store=None):
        self.ctx = ctx
        self._rdd = rdd
        self._local = local
        self._offsets = offsets
        # Spark Connect (no RDDs): a store whose bundles are the (batch, y) pairs
        self._store = store

    @classmethod
    def of_pairs(cls, ctx, pairs: list, offsets=None) -> "Batches":
        """Batches of driver-held ``(batch, y)`` pairs, one per partition: an RDD on a
        classic session, a store of blocks (sent once to the tasks) over Spark Connect."""
        if ctx.is_connect:
            return cls(ctx, store=BlockRDD.from_bundles(pairs, ctx, name="pipeline"),
                       offsets=offsets)
        return cls(ctx, ctx.sc.parallelize(pairs, len(pairs)), offsets=offsets)

    def then(self, stage: Any) -> "Batches":
        """These batches with ``stage`` applied (lazy)."""
        if self._local is not None:
            return Batches(self.ctx, local=[(stage._transform_batch(b), y)
                                            for b, y in self._local])
        if self._store is not None:
            view = BlockView(self._store, functools.partial(_pair_apply, [stage], self._offsets),
                             name="pipeline", indexed=True)
            return Batches(self.ctx, store=view, offsets=self._offsets)
        rdd = self._rdd.mapPartitionsWithIndex(
            task_safe(functools.partial(_partition_apply, [stage], self._offsets)),
            preservesPartitioning=True)
        return Batches(self.ctx, rdd, offsets=self._offsets)

    def persisted(self) -> "Batches":
        """These batches kept in Spark's cache (memory, then disk) once computed."""
        if self._local is not None:
            return self
        if self._store is not None:  # computed once by a gang run, kept where it ran
            return Batches(self.ctx, store=DerivedStore(self._store, _index_identity,
                                                        name="pipeline"),
                           offsets=self._offsets)
        from pyspark import StorageLevel

        return Batches(self.ctx, self._rdd.persist(StorageLevel.MEMORY_AND_DISK),
                       offsets=self._offsets)

    def unpersist(self) -> None:
        if isinstance(self._store, DerivedStore):
            self._store.unpersist()
        if self._rdd is not None and self._rdd.is_cached:
            try:
                self._rdd.unpersist()
            except Exception:  # noqa: BLE001 - Spark may be stopped
                pass

    def _output(self, like: Any, label: str | None, width: int | None):
        """The batches as the user-facing output (fit_transform)."""
        if self._local is not None:
            outs = [b for b, _ in self._local]
            if len(outs) == 1:
                return to_local_output(outs[0], like)
            return [to_local_output(b, like) for b in outs]
        with_label = label is not None
        if self._store is not None:
            if width is None:
                widths = self._store.map_collect(_matrix_width)
                if any(w is None for w in widths):
                    self.ctx.require_classic("a pipeline whose output is records (not a "
                                             "matrix)", "a pipeline ending in a featurizer "
                                             "or a model")
                width = widths[0]
            view = DerivedStore(self._store, functools.partial(_indexed_pair_to_block,
                                                               with_label), name="output")
            names = [f"f{j}" for j in range(width)] + ([str(label)] if with_label else [])
            table = MLTable(self.ctx, names, blocks=functools.partial(getattr, view,
                                                                       "source_rdd"),
                            numeric=True)
            table._origin = view
            return table
        probe = [True] if width is not None else self._rdd.map(_is_matrix_pair).take(1)
        if not probe or probe[0]:
            rdd = self._rdd.map(functools.partial(_pair_to_block, with_label))
            names = None
            if width is not None:
                names = [f"f{j}" for j in range(width)] + ([str(label)] if with_label else [])
            return MLTable(self.ctx, names, blocks=rdd, numeric=True)
        rdd = self._rdd.flatMap(functools.partial(_pair_to_rows, with_label))
        return MLTable(self.ctx, ["value"] + ([str(label)] if with_label else []), rows=rdd,
                       numeric=False)

    def _results(self, fn: Callable, args: tuple) -> list:
        if self._local is not None:
            return [fn(b, y, *args) for b, y in self._local]
        if self._store is not None:
            return self._store.map_collect(_call_on_pair, fn, args)
        f = task_safe(functools.partial(_call_pair, fn, args))
        return self.ctx.run(self._rdd.map(f).collect)

    def map_reduce(self, fn: Callable, *args: Any, combine: Callable = tree_add):
        """``fn(batch, y, *args)`` on every partition, combined with ``combine`` (default:
        elementwise sum of numbers/arrays/tuples of them) in a deterministic tree."""
        return tree_reduce(self._results(fn, args), combine)

    def map_collect(self, fn: Callable, *args: Any) -> list:
        """``fn(batch, y, *args)`` on every partition; the results in partition order."""
        return self._results(fn, args)

    @property
    def num_partitions(self) -> int:
        if self._store is not None:
            return self._store.num_partitions
        return len(self._local) if self._local is not None else self._rdd.getNumPartitions()

    def _labeled(self, name_prefix: str = "f", width: int | None = None):
        """Resident (X LocalMatrix, y) training data for the final Algorithm (``width``: the
        number of features when the stages know it, which saves a Spark job)."""
        if self._store is not None:
            store = DerivedStore(self._store, functools.partial(_as_feature_matrix, None),
                                 name="pipeline")
        else:
            if self._local is not None:
                rdd = get_context(self.ctx).sc.parallelize(self._local, len(self._local))
            else:
                rdd = self._rdd
            src = rdd.mapPartitionsWithIndex(
                task_safe(functools.partial(_pairs_to_features, None)),
                preservesPartitioning=True)
            store = BlockRDD(src, self.ctx, name="pipeline")
        if width is not None:
            return LabeledData(store, [f"{name_prefix}{j}" for j in range(width)], self.ctx)
        widths = store.map_collect(_width_of)
        if not widths:
            raise ValueError("cannot fit on empty data (0 partitions)")
        if len(set(widths)) != 1:
            store.unpersist()
            raise ValueError(f"the featurizing stages produced different widths in different "
                             f"partitions: {widths}")
        names = [f"{name_prefix}{j}" for j in range(widths[0])]
        return LabeledData(store, names, self.ctx)


NO_OUTPUT = object()


def _text_frame_pair(column, has_label, batches, index):
    """One partition of a (text[, label]) DataFrame -> ``(texts, y)``; a null text or label
    is refused, naming the column, the row and the partition."""
    texts, labels = [], []
    for batch in batches:
        texts.extend(batch.column(0).to_pylist())
        if has_label:
            labels.extend(batch.column(1).to_pylist())
    for name, values in ((f"column '{column}'", texts), ("the label column", labels)):
        if None in values:
            raise ValueError(f"{name} is null in row {values.index(None)} of partition "
                             f"{index}: drop or fill the nulls first (df.na.drop())")
    return texts, (_as_y(labels, len(texts), f" of partition {index}") if has_label else None)


def _pair_apply(stages, offsets, index, pair):
    """One (batch, y) pair through ``stages`` (a store's view; errors located)."""
    return next(_partition_apply(stages, offsets, index, iter([pair])))


def _call_on_pair(pair, fn, args):
    return fn(pair[0], pair[1], *args)


def _index_identity(index, bundle):
    return bundle


def _matrix_width(pair):
    return pair[0].shape[1] if _is_matrix_pair(pair) else None


def _indexed_pair_to_block(with_label, index, pair):
    return _pair_to_block(with_label, pair)


def _is_matrix_pair(pair) -> bool:
    X = pair[0]
    return sp.issparse(X) or isinstance(X, LocalMatrix) or (
        isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "biuf")


def _pair_to_block(with_label, pair):
    X = as_matrix_output(pair[0], "the pipeline")
    if not with_label:
        return X
    y = np.asarray(pair[1], dtype=np.float64).reshape(-1, 1)
    a = X.array
    return LocalMatrix(sp.hstack([a, sp.csr_matrix(y)], format="csr") if sp.issparse(a)
                       else np.hstack([a, y.astype(a.dtype)]))


def _pair_to_rows(with_label, pair):
    batch, y = pair
    values = batch.to_rows() if hasattr(batch, "to_rows") else list(batch)
    if with_label:
        return [(v, float(t)) for v, t in zip(values, y)]
    return [(v,) for v in values]


def _call_pair(fn, args, pair):
    return fn(pair[0], pair[1], *args)


def _pairs_to_features(hint, index, it):
    for pair in it:
        yield _as_feature_matrix(hint, index, pair)


def _is_text_like(data: Any) -> bool:
    return isinstance(data, (list, tuple)) or (isinstance(data, np.ndarray)
                                               and data.dtype.kind in "OUS")


class Source:
    """Normalized fit input: Batches + what the model must remember about its input."""

    def __init__(self, batches: Batches, kind: str, n_features: int,
                 feature_names: Sequence[str] | None, cleanup: Callable | None = None):
        self.batches, self.kind = batches, kind
        self.n_features, self.feature_names = n_features, feature_names
        self._cleanup = cleanup

    def release(self) -> None:
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    @classmethod
    def for_fit(cls, data: Any, y: Any, label: str | None, *, first: Any = None,
                local: bool = True, ctx=None) -> "Source":
        kind = input_kind(data)
        if kind in ("spark", "connect"):
            ctx = context_for_dataframe(data, ctx)
            if ctx.is_connect and any(type(f.dataType).__name__ == "StringType"
                                      for f in data.schema.fields):
                if y is not None:
                    raise ValueError("y is for local input; with a DataFrame pass "
                                     "label='column name'")
                return cls._from_text_frame(data, label, ctx)
            data = MLTable.from_data(data, ctx=ctx)
        if kind == "series":
            data = data.tolist()
        elif kind == "pandas":
            data = MLTable.from_data(data, ctx=ctx)
        if isinstance(data, (MLTable, LabeledData)):
            ctx = data.ctx
        if isinstance(data, LabeledData):
            if y is not None or label is not None:
                raise ValueError("LabeledData already holds the labels; do not pass y/label")
            return cls(_pairs_of(ctx, data.blocks), "matrix", data.num_features,
                       data.feature_names)
        if isinstance(data, MLTable):
            if y is not None:
                raise ValueError("y is for local input; with a table pass label='column name'")
            return cls._from_table(data, label, first, ctx)
        if label is not None:
            raise ValueError("label= names a column of a table; with local input pass y")
        if isinstance(data, str):
            raise TypeError("fit needs many records: pass a list of strings, not one string")
        if isinstance(data, LocalMatrix):
            data = data.array
        if sp.issparse(data) or (isinstance(data, np.ndarray) and data.ndim == 2
                                 and data.dtype.kind in "biuf"):
            if local:  # fitted in this process: no Spark job for a local matrix
                X = sp.csr_matrix(data) if sp.issparse(data) else data
                check_finite(X)
                return cls(Batches(None, local=[(X, _as_y(y, X.shape[0]))]), "matrix",
                           X.shape[1], None)
            ctx = get_context(ctx)
            table = MLTable.from_numpy(data, y, ctx=ctx, label="__label__")
            labeled = table.labeled("__label__" if y is not None else None)
            return cls(_pairs_of(ctx, labeled.blocks), "matrix", data.shape[1], None,
                       cleanup=table.unpersist)
        # records: list of str / token lists / images, or an n-D array (image stack)
        if isinstance(data, np.ndarray) and data.ndim >= 3:
            n = data.shape[0]
            kind, name = "array", "image"
        elif _is_text_like(data) or hasattr(data, "__len__"):
            if isinstance(data, np.ndarray):
                data = data.tolist()
            data = list(data)
            n = len(data)
            kind, name = "records", ("text" if getattr(first, "_input_kind", "") == "text"
                                     else "value")
        else:
            raise TypeError(f"cannot fit on a {type(data).__name__}")
        if n == 0:
            raise ValueError("cannot fit on empty data (0 records)")
        yv = _as_y(y, n)
        if local:
            return cls(Batches(None, local=[(data, yv)]), kind, 1, [name])
        ctx = get_context(ctx)
        parts = max(1, min(ctx.default_parallelism, n))
        bounds = np.linspace(0, n, parts + 1).astype(int)
        chunks = [(data[bounds[i]:bounds[i + 1]],
                   None if yv is None else yv[bounds[i]:bounds[i + 1]]) for i in range(parts)]
        offsets = bounds[:-1].tolist()
        return cls(Batches.of_pairs(ctx, chunks, offsets=offsets), kind, 1, [name])

    @classmethod
    def _from_text_frame(cls, df, label, ctx) -> "Source":
        """A Spark DataFrame of one text column (and a numeric label column): the executors
        read it and write ``(texts, y)`` blocks where they run (``mapInArrow``: the
        DataFrame API only, so over Spark Connect too)."""
        cols = list(df.columns)
        types = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
        if label is not None and str(label) not in cols:
            raise ValueError(f"label column '{label}' not found; columns are {cols}")
        feats = [c for c in cols if c != label]
        if len(feats) != 1 or types[feats[0]] != "StringType":
            raise ValueError(f"a pipeline over a DataFrame of text takes one text (string) "
                             f"column besides the label, but the DataFrame has "
                             f"{[f'{c} ({types[c]})' for c in feats]}; select one with "
                             f"df.select(text_column, label_column)")
        if label is not None and types[str(label)] not in NUMERIC_SPARK:
            raise ValueError(f"label column '{label}' must be numeric, got {types[str(label)]}")
        df = df.select(feats[0], *([str(label)] if label is not None else []))
        store = BlockRDD.from_dataframe(df, functools.partial(_text_frame_pair, feats[0],
                                                              label is not None),
                                        ctx, name="pipeline")
        return cls(Batches(ctx, store=store), "records", 1, [feats[0]])

    @classmethod
    def _from_table(cls, table, label, first, ctx) -> "Source":
        cols = list(table.columns)
        if label is not None and str(label) not in cols:
            raise ValueError(f"label column '{label}' not found; columns are {cols}")
        wants_records = getattr(first, "_input_kind", "any") not in ("any", "matrix")
        if table.is_numeric and not wants_records:
            labeled = table.labeled(label)
            return cls(_pairs_of(ctx, labeled.blocks), "matrix", labeled.num_features,
                       labeled.feature_names)
        feats = [c for c in cols if c != label]
        if len(feats) != 1:
            raise ValueError(f"the pipeline takes one input column (text or records) besides "
                             f"the label, but the table has {feats}; select one with "
                             "table.select(column, label)")
        ctx.require_classic("a pipeline over a table of records", "a list of records "
                            "(texts, token lists) or an array (images) as the input")
        ci = cols.index(feats[0])
        li = None if label is None else cols.index(str(label))
        rdd = table.rdd.mapPartitionsWithIndex(
            task_safe(functools.partial(_rows_to_pair, ci, li)), preservesPartitioning=True)
        return cls(Batches(ctx, rdd), "records", 1, [feats[0]])


def to_local_output(out: Any, like: Any) -> Any:
    if hasattr(out, "to_local") and not isinstance(out, (np.ndarray, LocalMatrix)) \
            and not sp.issparse(out):
        out = out.to_local()
    if isinstance(like, LocalMatrix) and (sp.issparse(out) or (isinstance(out, np.ndarray)
                                                              and out.ndim == 2)):
        return LocalMatrix(out)
    return out
