"""Pipelines: featurizing stages chained into one model, fitted once, saved with the model.

The idiom (used everywhere in mli)::

    from mli.featurize.text import Tokenizer, NGrams, HashingTF, TFIDF
    from mli.algorithms import NaiveBayes

    pipe = Tokenizer() | NGrams(1, 2) | HashingTF(2**18) | TFIDF() | NaiveBayes()
    model = pipe.fit(texts, y)                 # list of str + labels, or
    model = pipe.fit(table, label="label")     # MLTable with a text column and a label column
    model.predict(["free entry, txt WIN now"]) # -> array([1.])
    model.save("/tmp/spam"); mli.load("/tmp/spam").predict(texts)

``a | b`` chains stages into a :class:`Pipeline` (an :class:`mli.Algorithm`). The left
operand must be a stage (or a pipeline): ``stage | algorithm`` works because stages
implement ``__or__``; an :class:`mli.Algorithm` may only be the *last* stage
(``algorithm | stage`` raises TypeError). ``Pipeline([s1, s2, alg])`` is the same thing.

Stages
------
:class:`Transformer`
    Maps a *batch* of records to a batch: ``transform(data)`` on one record, a list of
    records, a numpy array / scipy matrix / :class:`~mli.LocalMatrix` block, or a whole
    :class:`~mli.MLTable` (then per partition, in Spark). It returns the kind it was given:
    a list of strings through a text pipeline gives a scipy CSR matrix, a numpy image stack
    gives numpy, an MLTable gives an MLTable, a LocalMatrix gives a LocalMatrix.
:class:`Estimator`
    ``fit(data)`` computes statistics over all partitions (one Spark job, partial results
    combined in a deterministic tree) and returns a fitted :class:`Transformer`.

Writing a stage (this is all the image and text stages do)::

    class Scale(Transformer):
        _constraints = {"factor": Interval(float, 0, None, closed="neither")}

        def __init__(self, factor=1 / 255):    # keyword hyperparameters, stored unchanged
            self.factor = factor

        def _transform_batch(self, batch):     # one partition's records at once
            return np.asarray(batch, dtype=np.float32) * self.factor

    class Center(Estimator):
        def _fit(self, batches):               # batches: mli.pipeline.Batches
            s, n = batches.map_reduce(_sum_and_count)   # fn(batch, y) per partition
            return Shift(mean=s / n)           # a fitted Transformer; its params may be arrays

A *batch* is whatever the previous stage produced for one partition: a Python ``list`` of
column values (strings, token lists, image arrays...), a numpy array (e.g. an image stack
``(n, h, w[, c])``), a ``scipy.sparse.csr_matrix``, or a stage-specific batch object (the
text stages pass :class:`mli.featurize.text.TokenBatch`). A stage must accept a list as
well (the user may call it directly) and must keep the number and order of records.
Batch objects may define ``to_local()`` (what a user gets back) and ``to_rows()`` (one
value per record, for a table column).

Fitted stages are saved *by their constructor parameters*: a fitted transformer (e.g.
``TFIDFModel(idf=array)``) must be fully described by ``get_params()``, whose values are
JSON values or numpy arrays. Derived state (lookup tables) is recomputed lazily.

Models
------
:meth:`Pipeline.fit` returns a :class:`PipelineModel`, an :class:`mli.Model`: ``predict``
(and ``predict_proba`` / ``decision_function`` when the final model has them),
``transform`` (the features), ``save``/:func:`mli.load` (JSON + ``.npy``, no pickle), and
it passes :func:`mli.testing.check_algorithm`. A pipeline without a final algorithm
fits to a featurizing PipelineModel (``transform`` only). A pipeline of transformers only
can ``transform`` without being fitted.

``pipe.fit_transform(data)`` returns ``(model, model.transform(data))`` reading the input
once (``fit`` then ``transform`` featurize it twice): the output of the stages before each
Estimator is kept in Spark's cache.

Input width: a PipelineModel remembers its input (``n_features`` columns of a numeric
matrix, or one text/record column) and every fitted stage checks the width of its input
matrix, raising ``ValueError: X has 1024 features, but TFIDFModel was fitted with
262144 features``.
"""
from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Sequence as _SequenceABC
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from . import persist
from .persist import _import_builtin_models, registry_key
from .base import (Algorithm, Model, _short_repr, _values_equal, init_param_defaults,
                   init_param_names)
from .blocks import BlockRDD, BlockView, DerivedStore, tree_add, _tree_reduce
from .errors import task_safe
from .localmatrix import LocalMatrix
from .params import validate_params

__all__ = ["Stage", "Transformer", "Estimator", "Pipeline", "PipelineModel", "Stages",
           "Batches", "record_error"]

log = logging.getLogger("mli.pipeline")

# ============================================================================ helpers


def record_error(exc_type: type, message: str, row: int) -> Exception:
    """An exception about record ``row`` of a batch. ``message`` must contain ``"row {row}"``;
    when the batch is one partition of a table, the row is rewritten as ``"row 3 of
    partition 1"`` (or as the global row of a local input)."""
    exc = exc_type(message)
    exc.mli_row = int(row)
    return exc


def _locate(exc: Exception, index: int, offset: int | None) -> Exception:
    row = getattr(exc, "mli_row", None)
    if row is None:
        return exc
    msg = str(exc)
    new = (f"row {row + offset}" if offset is not None else f"row {row} of partition {index}")
    out = type(exc)(msg.replace(f"row {row}", new, 1))
    return out


_TRANSFORMERS: dict[str, type] = {}


def _registry_key(cls: type) -> str:
    return registry_key(cls)


def _import_featurizers() -> None:
    _import_builtin_models()  # mli.algorithms and mli.featurize: fixed names, never a file's


def _transformer_class(key: str) -> type:
    cls = _TRANSFORMERS.get(key)
    if cls is None:
        _import_featurizers()
        cls = _TRANSFORMERS.get(key)
    if cls is None:
        from .errors import ModelFormatError

        raise ModelFormatError(f"unknown pipeline stage class {key!r}: import the module that "
                               "defines it before loading")
    return cls


# ============================================================================ stages


class Stage:
    """Common base of :class:`Transformer` and :class:`Estimator` (hyperparameter handling).

    Subclasses take every hyperparameter as a keyword argument of ``__init__`` and store it
    unchanged under the same name; ``_constraints`` (see :mod:`mli.params`) are checked when
    the stage runs. ``a | b`` builds a :class:`Pipeline`.
    """

    _constraints: ClassVar[dict[str, Any]] = {}
    #: what the stage consumes: "text" (str records), "tokens", "matrix", "images" or "any"
    _input_kind: ClassVar[str] = "any"
    #: column name of a non-matrix output in a table (e.g. "tokens")
    _output_name: ClassVar[str] = "value"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._param_names()  # rejects *args/**kwargs
        if any(b.__name__ == "Transformer" and b.__module__ == __name__ for b in cls.__mro__):
            _TRANSFORMERS[_registry_key(cls)] = cls

    # -------------------------------------------------------------- params
    @classmethod
    def _param_names(cls) -> list[str]:
        return init_param_names(cls)

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        return init_param_defaults(cls)

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters (for fitted transformers: also the learned arrays)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Stage":
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}. "
                                 f"Valid parameters are: {sorted(valid)}.")
        for name, value in params.items():
            setattr(self, name, value)
        self._clear_cache()
        return self

    def clone(self) -> "Stage":
        """A new instance with the same parameters (containers copied)."""
        return type(self)(**{k: copy.deepcopy(v) if isinstance(v, (list, dict, set))
                             else v for k, v in self.get_params().items()})

    def _clear_cache(self) -> None:
        """Drop derived state (called by set_params). Subclasses caching state override."""
        for k in [k for k in self.__dict__ if k.startswith("_cache")]:
            del self.__dict__[k]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}

    def _validate(self) -> None:
        validate_params(self)

    def __repr__(self) -> str:
        defaults = self._param_defaults()
        shown = [f"{k}={_short_repr(v)}" for k, v in self.get_params().items()
                 if not (k in defaults and _values_equal(v, defaults[k]))]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -------------------------------------------------------------- chaining
    def __or__(self, other: Any) -> "Pipeline":
        return Pipeline(Stages([self, other]))

    def __ror__(self, other: Any) -> "Pipeline":
        if isinstance(other, Algorithm) and not isinstance(other, Pipeline):
            raise TypeError(f"{type(other).__name__} is an Algorithm: it can only be the last "
                            f"stage of a pipeline, not followed by {type(self).__name__}")
        return Pipeline(Stages([other, self]))


class Transformer(Stage):
    """A stage that maps records to features, one batch (partition) at a time.

    Subclasses implement ``_transform_batch(batch) -> batch`` (see the module docstring),
    vectorized or in numba, and optionally ``_output_width(input_width) -> int | None``.
    """

    def _transform_batch(self, batch: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} does not implement _transform_batch")

    def _output_width(self, width: int | None) -> int | None:
        """The number of output columns for ``width`` input columns, if known statically."""
        return None

    def transform(self, data: Any, *, keep: Sequence[str] | None = None) -> Any:
        """Apply to ``data`` and return the same kind (see the module docstring).

        Parameters
        ----------
        data : str, list, numpy array, scipy sparse matrix, LocalMatrix or MLTable
            A single ``str`` is one record (the result has one row).
        keep : list of str, optional
            Table input only: numeric columns (e.g. the label) appended to the output table.
        """
        self._validate()
        return _transform_any([self], data, keep=keep)

    def transform_one(self, record: Any) -> Any:
        """Apply to one record (a string, a token list, an image...): the result for it."""
        return _single_output(_transform_local([self], [record]))

    def fit(self, data: Any = None, y: Any = None, *, label: str | None = None) -> "Transformer":
        """A transformer needs no fitting: returns itself (so it can stand where an
        Estimator does)."""
        self._validate()
        return self


class Estimator(Stage):
    """A stage fitted on data: ``fit(data) -> Transformer``.

    Subclasses implement ``_fit(batches: Batches) -> Transformer`` with one or more
    :meth:`Batches.map_reduce` passes.
    """

    def _fit(self, batches: "Batches") -> Transformer:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, data: Any, y: Any = None, *, label: str | None = None) -> Transformer:
        """Fit on ``data`` (the kinds :meth:`Transformer.transform` accepts; an MLTable is
        processed per partition in Spark) and return the fitted :class:`Transformer`."""
        self._validate()
        source = _Source.for_fit(data, y, label, first=self)
        try:
            return self._fit_checked(source.batches)
        finally:
            source.release()

    def _fit_checked(self, batches: "Batches") -> Transformer:
        self._validate()
        out = self._fit(batches)
        if not isinstance(out, Transformer):
            raise TypeError(f"{type(self).__name__}._fit must return a Transformer, got "
                            f"{type(out).__name__}")
        return out

    def transform(self, data: Any, **kw: Any):
        raise TypeError(f"{type(self).__name__} is an Estimator: fit it first "
                        f"({type(self).__name__}().fit(data).transform(data))")


def _is_stage(obj: Any) -> bool:
    return isinstance(obj, (Transformer, Estimator, PipelineModel))


def _same_stage(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (Stage, Algorithm)):
        return _values_equal_deep(a.get_params(), b.get_params())
    return False


def _values_equal_deep(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal_deep(a[k], b[k]) for k in a)
    if isinstance(a, (Stage, Algorithm)) or isinstance(b, (Stage, Algorithm)):
        return _same_stage(a, b)
    return _values_equal(a, b)


class Stages(_SequenceABC):
    """The immutable sequence of stages of a :class:`Pipeline` (its one hyperparameter).

    Compares by value (stage types and parameters); only the last stage may be an
    :class:`mli.Algorithm`; nested pipelines are flattened.
    """

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, stages: Iterable[Any] = ()):
        if isinstance(stages, (str, bytes)) or not hasattr(stages, "__iter__"):
            raise TypeError(f"stages must be a sequence of stages, got {stages!r}")
        flat: list = []
        for s in stages:
            if isinstance(s, Pipeline):
                flat.extend(s.stages)
            elif isinstance(s, Stages):
                flat.extend(s)
            else:
                flat.append(s)
        for i, s in enumerate(flat):
            if isinstance(s, Algorithm):
                if i != len(flat) - 1:
                    raise TypeError(f"{type(s).__name__} is an Algorithm: it can only be the "
                                    f"last stage of a pipeline, but stage {i} of {len(flat)} "
                                    f"is followed by {type(flat[i + 1]).__name__}")
            elif not _is_stage(s):
                raise TypeError(f"pipeline stage {i} must be a Transformer, an Estimator or "
                                f"(last) an mli Algorithm, got {type(s).__name__} {s!r}")
        self._items = tuple(flat)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Stages(self._items[i])
        return self._items[i]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Stages):
            return NotImplemented
        return len(self) == len(other) and all(_same_stage(a, b) for a, b in zip(self, other))

    def clone(self) -> "Stages":
        return Stages([s.clone() if hasattr(s, "clone") else s for s in self._items])

    def __deepcopy__(self, memo):
        return self.clone()

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self._items) if self._items else "Stages()"


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


def _run_stages(stages, batch):
    for st in stages:
        batch = st._transform_batch(batch)
    return batch


def _partition_apply(stages, offsets, index, it):
    """mapPartitionsWithIndex body: (batch, y) pairs through ``stages``."""
    offset = None if offsets is None else offsets[index]
    for batch, y in it:
        try:
            yield (_run_stages(stages, batch), y)
        except Exception as exc:  # noqa: BLE001 - re-raised with the row located
            raise _locate(exc, index, offset) from None


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
            raise _locate(exc, index, None) from None
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
    X = _as_matrix_output(X, "the last featurizing stage")
    a = X.array
    data = a.data if sp.issparse(a) else a
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError(f"features must be finite: partition {index} holds NaN or inf after "
                         "featurizing")
    return (X, y)


def _as_matrix_output(X, what: str) -> LocalMatrix:
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

    def then(self, stage: Transformer) -> "Batches":
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
                return _to_local_output(outs[0], like)
            return [_to_local_output(b, like) for b in outs]
        from .table import MLTable

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
        return _tree_reduce(self._results(fn, args), combine)

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
        from .table import LabeledData

        if self._store is not None:
            store = DerivedStore(self._store, functools.partial(_as_feature_matrix, None),
                                 name="pipeline")
        else:
            if self._local is not None:
                from .context import get_context

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


_NO_OUTPUT = object()


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
    X = _as_matrix_output(pair[0], "the pipeline")
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


class _Source:
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
                local: bool = True, ctx=None) -> "_Source":
        from .context import get_context
        from .table import LabeledData, MLTable

        mod = type(data).__module__
        if mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame":
            from .context import context_for_dataframe

            ctx = context_for_dataframe(data, ctx)
            if ctx.is_connect and any(type(f.dataType).__name__ == "StringType"
                                      for f in data.schema.fields):
                if y is not None:
                    raise ValueError("y is for local input; with a DataFrame pass "
                                     "label='column name'")
                return cls._from_text_frame(data, label, ctx)
            data = MLTable.from_spark(data, ctx=ctx)
        if mod.startswith("pandas"):
            import pandas as pd

            if isinstance(data, pd.Series):
                data = data.tolist()
            elif isinstance(data, pd.DataFrame):
                data = MLTable.from_pandas(data, ctx=get_context(ctx))
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
                from .table import check_finite

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
    def _from_text_frame(cls, df, label, ctx) -> "_Source":
        """A Spark DataFrame of one text column (and a numeric label column): the executors
        read it and write ``(texts, y)`` blocks where they run (``mapInArrow``: the
        DataFrame API only, so over Spark Connect too)."""
        from .io import _NUMERIC_SPARK

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
        if label is not None and types[str(label)] not in _NUMERIC_SPARK:
            raise ValueError(f"label column '{label}' must be numeric, got {types[str(label)]}")
        df = df.select(feats[0], *([str(label)] if label is not None else []))
        store = BlockRDD.from_dataframe(df, functools.partial(_text_frame_pair, feats[0],
                                                              label is not None),
                                        ctx, name="pipeline")
        return cls(Batches(ctx, store=store), "records", 1, [feats[0]])

    @classmethod
    def _from_table(cls, table, label, first, ctx) -> "_Source":
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


# ============================================================================ transform dispatch


def _to_local_output(out: Any, like: Any) -> Any:
    if hasattr(out, "to_local") and not isinstance(out, (np.ndarray, LocalMatrix)) \
            and not sp.issparse(out):
        out = out.to_local()
    if isinstance(like, LocalMatrix) and (sp.issparse(out) or (isinstance(out, np.ndarray)
                                                              and out.ndim == 2)):
        return LocalMatrix(out)
    return out


def _single_output(out: Any) -> Any:
    if sp.issparse(out) or isinstance(out, LocalMatrix):
        return out[0] if not isinstance(out, LocalMatrix) else out.array[0]
    return out[0]


def _transform_local(stages, data):
    batch = data.array if isinstance(data, LocalMatrix) else data
    return _to_local_output(_run_stages(stages, batch), data)


def _transform_any(stages: Sequence[Transformer], data: Any, *, keep=None,
                   model: "PipelineModel | None" = None) -> Any:
    """Apply fitted ``stages`` to any supported input; return the input's kind."""
    from .table import MLTable

    mod = type(data).__module__
    if mod.startswith("pyspark.sql.connect") and type(data).__name__ == "DataFrame":
        return _features_on_frame(stages, model, data, keep)
    if mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame":
        out = _transform_table(stages, MLTable.from_spark(data), keep, model)
        return out.to_spark()
    if isinstance(data, MLTable):
        return _transform_table(stages, data, keep, model)
    if keep is not None:
        raise ValueError("keep= names table columns; it applies to MLTable input only")
    if isinstance(data, str):
        return _single_output(_transform_local(stages, [data]))
    if mod.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.tolist()
        elif isinstance(data, pd.DataFrame):
            data = data.to_numpy()
    if isinstance(data, tuple):
        data = list(data)
    if isinstance(data, np.ndarray) and data.dtype.kind in "OUS" and data.ndim == 1:
        data = data.tolist()
    if model is not None:
        model._check_input(data)
    return _transform_local(stages, data)


def _final_on_frame(stages, model, method: str, df):
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
        from .errors import ConnectUnsupportedError

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
    from .io import _NUMERIC_SPARK

    fields = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
    records = len(inputs) == 1 and fields[inputs[0]] == "StringType"
    if not records:
        bad = [f"{c} ({fields[c]})" for c in inputs if fields[c] not in _NUMERIC_SPARK]
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
    from .io import _arrow_matrix

    data = batch.column(0).to_pylist() if records else _arrow_matrix(columns, [batch], 0)
    out = _run_stages(stages, data)
    if method is None:
        X = _as_matrix_output(out, "the pipeline").array
        return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    res = np.asarray(getattr(model, method)(_as_matrix_output(out, "featurizing").array),
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
        out = _run_stages(stages, batch)
    except Exception as exc:  # noqa: BLE001
        raise _locate(exc, index, None) from None
    yield _finish_block(out, rows, keep_idx, final_method, index)


def _finish_block(out, rows, keep_idx, final_method, index):
    if final_method is not None:
        model, method = final_method
        res = np.asarray(getattr(model, method)(_as_matrix_output(out, "featurizing").array))
        if res.ndim == 1:
            res = res.reshape(-1, 1)
        return LocalMatrix(res.astype(np.float64))
    X = _as_matrix_output(out, "the pipeline")
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
        out = _run_stages(stages, batch)
    except Exception as exc:  # noqa: BLE001
        raise _locate(exc, index, None) from None
    values = out.to_rows() if hasattr(out, "to_rows") else list(out)
    for v, r in zip(values, rows):
        yield (v,) + tuple(r[j] for j in keep_idx)


def _block_apply(stages, n_keep, final_method, block):
    a = block.array
    if n_keep:
        feats, kept = a[:, :a.shape[1] - n_keep], a[:, a.shape[1] - n_keep:]
    else:
        feats, kept = a, None
    out = _run_stages(stages, feats)
    if final_method is not None:
        model, method = final_method
        res = np.asarray(getattr(model, method)(_as_matrix_output(out, "featurizing").array))
        return LocalMatrix(res.reshape(len(res), -1).astype(np.float64))
    X = _as_matrix_output(out, "the pipeline").array
    if kept is not None:
        k = kept.toarray() if sp.issparse(kept) else np.asarray(kept)
        X = sp.hstack([X, sp.csr_matrix(k)], format="csr") if sp.issparse(X) \
            else np.hstack([X, k.astype(X.dtype)])
    return LocalMatrix(X)


def _static_width(stages, width):
    for st in stages:  # a stage may know its width without knowing its input's (HashingTF)
        width = st._output_width(width) if hasattr(st, "_output_width") else None
    return width


def _transform_table(stages, table, keep, model: "PipelineModel | None",
                     final_method=None):
    from .table import MLTable

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
        width = _static_width(stages, len(inputs))
        names = out_names
        if names is None and final_method is None and width is not None:
            names = [f"f{j}" for j in range(width)] + keep
        return sub.map_batches(f, columns=names)
    ci = cols.index(inputs[0])
    keep_idx = [cols.index(k) for k in keep]
    ctx = table.ctx
    # does the output form a matrix? ask the static width; else try the first partition
    width = _static_width(stages, None)
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
    out = _run_stages(stages, [first[0][ci]])
    return sp.issparse(out) or (isinstance(out, np.ndarray) and out.ndim == 2
                                and out.dtype.kind in "biuf")


# ============================================================================ Pipeline


class Pipeline(Algorithm):
    """Stages chained into one learning algorithm (see the module docstring).

    Parameters
    ----------
    stages : sequence of stages
        Transformers and Estimators, optionally ending in an :class:`mli.Algorithm`.
        Stored as a :class:`Stages` (an immutable sequence compared by value).

    Examples
    --------
    >>> from mli.featurize.text import Tokenizer, HashingTF, TFIDF     # doctest: +SKIP
    >>> from mli.algorithms import LogisticRegression
    >>> pipe = Tokenizer() | HashingTF(2**18) | TFIDF() | LogisticRegression(reg=1e-4)
    >>> model = pipe.fit(["free prize txt now", "see you at 5"], [1, 0])
    >>> model.predict(["win a free prize"])
    array([1.])
    """

    _constraints = {"stages": [Stages]}

    def __init__(self, stages=()):
        # a list is wrapped (Stages compares by value, so fit/clone checks work)
        self.stages = stages if isinstance(stages, Stages) else Stages(stages)

    def clone(self) -> "Pipeline":
        stages = self.stages.clone() if isinstance(self.stages, Stages) else self.stages
        return Pipeline(stages)

    def __repr__(self) -> str:
        return f"Pipeline({self.stages!r})"

    def __or__(self, other: Any) -> "Pipeline":
        return Pipeline(Stages([self, other]))

    def __ror__(self, other: Any) -> "Pipeline":
        if isinstance(other, Algorithm):
            raise TypeError(f"{type(other).__name__} is an Algorithm: it can only be the last "
                            "stage of a pipeline")
        return Pipeline(Stages([other, self]))

    @property
    def final(self) -> Algorithm | None:
        """The final Algorithm, or None for a featurizing pipeline."""
        return self.stages[-1] if len(self.stages) and isinstance(self.stages[-1],
                                                                  Algorithm) else None

    def _featurizers(self) -> list:
        return list(self.stages[:-1]) if self.final is not None else list(self.stages)

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, y: Any = None, *, label: str | None = None,
            **fit_kwargs: Any) -> "PipelineModel":
        """Fit every stage in order and return a :class:`PipelineModel`.

        Parameters
        ----------
        data : list of str (or of records), numpy/scipy array, MLTable, LabeledData
            A table holds one input column (text, records) and the label column, or is
            numeric (features + label).
        y : array-like, optional
            Labels, with local input.
        label : str, optional
            The label column, with table input.
        **fit_kwargs
            Passed to the final algorithm's ``fit``.

        Each Estimator is fitted with one Spark job over the output of the stages before it;
        the final Algorithm is fitted on the resident featurized blocks.
        """
        return self._fit_all(data, y, label, fit_kwargs, keep_output=False)[0]

    def fit_transform(self, data: Any, y: Any = None, *, label: str | None = None,
                      **fit_kwargs: Any) -> tuple["PipelineModel", Any]:
        """Fit, and transform the same data: ``(model, model.transform(data))`` in one pass.

        ``fit`` then ``transform`` featurize the input twice (once to fit the Estimators,
        once to transform). Here the output of the stages before each Estimator is kept
        (Spark's cache for a table; the batches themselves for local input) and transformed
        from there: the raw input (e.g. the text) is read and tokenized once.

        Returns
        -------
        (PipelineModel, transformed)
            ``transformed`` is what ``model.transform(data)`` returns: the input's kind; for
            a table, the feature columns ``f0, f1, ...`` (plus the label column when
            ``label=`` is given). With a final Algorithm, the features are its input.
        """
        model, out = self._fit_all(data, y, label, fit_kwargs, keep_output=True)
        if out is _NO_OUTPUT:
            out = model.transform(data)
        return model, out

    def _fit_all(self, data, y, label, fit_kwargs, keep_output: bool):
        validate_params(self)
        if not len(self.stages):
            raise ValueError("cannot fit an empty pipeline (no stages)")
        before = self.get_params()
        feats = self._featurizers()
        final = self.final
        source = _Source.for_fit(data, y, label, first=feats[0] if feats else final,
                                 local=final is None)
        cached: list = []
        out: Any = _NO_OUTPUT
        try:
            fitted: list = []
            batches = source.batches
            estimators = [i for i, st in enumerate(feats) if isinstance(st, Estimator)]
            for i, st in enumerate(feats):
                if isinstance(st, Estimator):
                    if keep_output or final is not None or i != estimators[-1]:
                        batches = batches.persisted()  # read (and tokenize) the input once
                        cached.append(batches)
                    t = st._fit_checked(batches)
                else:
                    st._validate() if isinstance(st, Stage) else None
                    t = st
                fitted.append(t)
                batches = batches.then(t)
            model = None
            if final is not None:
                in_width = source.n_features if source.kind == "matrix" else None
                labeled = batches._labeled(width=_static_width(fitted, in_width))
                try:
                    model = final.fit(labeled, **fit_kwargs)
                finally:
                    labeled.release()
                if model.feature_names is not None and model.feature_names[:1] == ("f0",):
                    model.__dict__["feature_names"] = None  # generated names: not worth saving
            elif keep_output:
                out = batches._output(data, label, _static_width(
                    fitted, source.n_features if source.kind == "matrix" else None))
                if cached and batches._rdd is not None:
                    cached = cached[:-1]  # the output is computed from the last cache
        finally:
            for b in cached:
                b.unpersist()
            source.release()
        pm = PipelineModel(fitted, model, n_features=source.n_features,
                           feature_names=source.feature_names, input_kind=source.kind,
                           pipeline=self.stages)
        if self.get_params()["stages"] is not before["stages"]:
            raise RuntimeError("Pipeline.fit changed its stages")
        pm._set_fit_info({"stages": self.stages.clone()}, None)
        return pm, out

    def _fit(self, data: Any, **fit_kwargs: Any) -> "PipelineModel":
        return self.fit(data, **fit_kwargs)

    def transform(self, data: Any, *, keep: Sequence[str] | None = None) -> Any:
        """Apply a pipeline of Transformers (no Estimator, no Algorithm) without fitting."""
        validate_params(self)
        bad = [s for s in self.stages if not isinstance(s, (Transformer, PipelineModel))]
        if bad:
            raise TypeError(f"this pipeline holds {type(bad[0]).__name__}, which must be "
                            "fitted: use pipeline.fit(data).transform(...)")
        for s in self.stages:
            s._validate() if isinstance(s, Stage) else None
        return _transform_any(list(self.stages), data, keep=keep)

    @classmethod
    def _conformance_data(cls):
        rng = np.random.default_rng(0)
        counts = rng.poisson(0.6, size=(240, 12)).astype(np.float64)
        w = np.array([1.5, -1.0, 0.8, 0, 0, 0.5, -0.7, 0, 0, 0, 1.0, -1.2])
        y = (counts @ w + 0.3 * rng.standard_normal(240) > 0.3).astype(np.float64)
        from mli.algorithms import LogisticRegression
        from mli.featurize.text import TFIDF, Normalizer

        est = TFIDF() | Normalizer() | LogisticRegression(reg=1e-2, tol=1e-6)
        return {"X": sp.csr_matrix(counts), "y": y, "estimator": est, "rtol": 1e-4}


# ============================================================================ PipelineModel


class _Pools:
    def __init__(self):
        self.f: list[np.ndarray] = []
        self.i: list[np.ndarray] = []
        self.nf = 0
        self.ni = 0

    def put(self, arr: np.ndarray) -> dict:
        arr = np.asarray(arr)
        kind = arr.dtype.kind
        ref = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
        flat = arr.ravel()
        if kind == "f":
            ref.update(pool="f", offset=self.nf, size=flat.size)
            self.f.append(flat.astype(np.float64))
            self.nf += flat.size
        elif kind in "biu":
            if arr.dtype.itemsize == 8 and kind == "u":
                vals = flat.view(np.int64)
            else:
                vals = flat.astype(np.int64)
            ref.update(pool="i", offset=self.ni, size=flat.size)
            self.i.append(vals)
            self.ni += flat.size
        elif kind in "US":
            width = arr.dtype.itemsize // (4 if kind == "U" else 1)
            code = np.ascontiguousarray(flat).view(np.uint32 if kind == "U" else np.uint8)
            ref.update(pool="i", offset=self.ni, size=code.size, width=width)
            self.i.append(code.astype(np.int64))
            self.ni += code.size
        else:
            raise TypeError(f"cannot save an array of dtype {arr.dtype} in a pipeline")
        return ref

    def arrays(self):
        f = np.concatenate(self.f) if self.f else np.zeros(0)
        i = np.concatenate(self.i) if self.i else np.zeros(0, dtype=np.int64)
        return f, i


def _take(ref: dict, fpool: np.ndarray, ipool: np.ndarray) -> np.ndarray:
    dtype = np.dtype(ref["dtype"])
    off, size = int(ref["offset"]), int(ref["size"])
    shape = tuple(int(s) for s in ref["shape"])
    if ref["pool"] == "f":
        return fpool[off:off + size].astype(dtype).reshape(shape)
    vals = ipool[off:off + size]
    if dtype.kind in "US":
        code = vals.astype(np.uint32 if dtype.kind == "U" else np.uint8)
        return code.view(dtype).reshape(shape).copy()
    if dtype.kind == "u" and dtype.itemsize == 8:
        return vals.view(np.uint64).astype(dtype).reshape(shape)
    return vals.astype(dtype).reshape(shape)


def _encode_params(params: dict, pools: _Pools) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufUS":
            out[k] = {"__array__": pools.put(v)}
        else:
            try:
                out[k] = {"__json__": persist.encode_value(v)}
            except TypeError:
                out[k] = {"__json__": None}
    return out


def _decode_params(enc: dict, fpool, ipool) -> dict:
    out = {}
    for k, v in enc.items():
        if "__array__" in v:
            out[k] = _take(v["__array__"], fpool, ipool)
        else:
            out[k] = persist.decode_value(v["__json__"])
    return out


def _pack_stage(obj: Any, pools: _Pools) -> dict:
    if isinstance(obj, Transformer):
        return {"kind": "transformer", "class": _registry_key(type(obj)),
                "params": _encode_params(obj.get_params(), pools)}
    if isinstance(obj, Model):
        cls = type(obj)
        arrays = {}
        for name in cls._saved_arrays():
            a = getattr(obj, name, None)
            arrays[name] = None if a is None else pools.put(a)
        attrs = {name: persist.encode_value(getattr(obj, name, None))
                 for name in cls._saved_attributes()}
        params = {}
        for k, v in (obj.params or {}).items():
            try:
                params[k] = persist.encode_value(v)
            except TypeError:
                params[k] = None
        return {"kind": "model", "class": persist.registry_key(cls), "params": params,
                "attributes": attrs, "arrays": arrays}
    raise TypeError(f"cannot save pipeline stage {type(obj).__name__}")


def _unpack_stage(spec: dict, fpool, ipool) -> Any:
    if spec["kind"] == "transformer":
        cls = _transformer_class(spec["class"])
        return cls(**_decode_params(spec["params"], fpool, ipool))
    cls = persist.get_model_class(spec["class"])
    state = {name: persist.decode_value(v) for name, v in spec["attributes"].items()}
    for name, ref in spec["arrays"].items():
        state[name] = None if ref is None else _take(ref, fpool, ipool)
    return cls._from_state(state, params=persist.decode_value(spec["params"]))


def _describe_unfitted(stages: Stages | None) -> list | None:
    if stages is None:
        return None
    out = []
    for s in stages:
        params = {}
        for k, v in s.get_params().items():
            try:
                params[k] = persist.encode_value(v)
            except TypeError:
                params[k] = None
        key = (_registry_key(type(s)) if isinstance(s, Stage)
               else f"{type(s).__module__}.{type(s).__qualname__}")
        out.append({"class": key, "algorithm": isinstance(s, Algorithm), "params": params})
    return out


def _rebuild_unfitted(desc: list | None) -> Stages | None:
    if desc is None:
        return None
    from .base import registered_algorithm_classes

    try:
        out = []
        for d in desc:
            params = persist.decode_value(d["params"])
            if d.get("algorithm"):
                classes = registered_algorithm_classes()
                cls = classes.get(d["class"])
                if cls is None:
                    _import_featurizers()
                    cls = registered_algorithm_classes().get(d["class"])
                if cls is None:
                    return None
            else:
                cls = _TRANSFORMERS.get(d["class"]) or _estimator_class(d["class"])
            out.append(cls(**params))
        return Stages(out)
    except Exception as exc:  # noqa: BLE001 - params are informative only
        log.info("could not rebuild the pipeline's parameters: %s", exc)
        return None


def _estimator_class(key: str) -> type:
    def walk(c):
        for sub in c.__subclasses__():
            yield sub
            yield from walk(sub)

    _import_featurizers()
    for c in walk(Estimator):
        if _registry_key(c) == key:
            return c
    raise KeyError(key)


class _QuietUnsavedParams(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "have no JSON form" not in record.getMessage()


class PipelineModel(Model):
    """A fitted pipeline: fitted featurizing stages, then (optionally) a fitted model.

    Attributes
    ----------
    stages_ : tuple of Transformer
        The fitted featurizing stages.
    model_ : mli.Model or None
        The final fitted model.
    input_kind : {"matrix", "records", "array"}
        What the pipeline was fitted on: a numeric matrix of ``n_features`` columns, one
        column of records (text...), or an n-D array (an image stack).
    """

    _arrays = ("float_data_", "int_data_")
    _attributes = ("spec_",)
    _registry_name = "mli.PipelineModel"

    def __init__(self, stages: Sequence[Transformer], model: Model | None = None, *,
                 n_features: int, feature_names: Sequence[str] | None = None,
                 input_kind: str = "matrix", pipeline: Stages | None = None):
        stages = tuple(stages)
        for i, s in enumerate(stages):
            if not isinstance(s, Transformer):
                raise TypeError(f"fitted stage {i} must be a Transformer, got "
                                f"{type(s).__name__}")
        if model is not None and not isinstance(model, Model):
            raise TypeError(f"model must be an mli Model, got {type(model).__name__}")
        if input_kind not in ("matrix", "records", "array"):
            raise ValueError(f"input_kind must be 'matrix', 'records' or 'array', got "
                             f"{input_kind!r}")
        pools = _Pools()
        spec = {"stages": [_pack_stage(s, pools) for s in stages],
                "model": None if model is None else _pack_stage(model, pools),
                "input_kind": input_kind,
                "pipeline": _describe_unfitted(pipeline)}
        self.float_data_, self.int_data_ = pools.arrays()
        self.spec_ = spec
        self.stages_ = stages
        self.model_ = model
        self.input_kind = input_kind
        super().__init__(n_features=n_features, feature_names=feature_names)

    @property
    def _primary_output(self) -> str:  # type: ignore[override]
        return "predict" if self.model_ is not None else "transform"

    def _post_load(self) -> None:
        d = self.__dict__
        spec = d["spec_"]
        if not isinstance(spec, dict) or "stages" not in spec:
            raise ValueError("spec_ must describe the pipeline's stages")
        f, i = d["float_data_"], d["int_data_"]
        d["stages_"] = tuple(_unpack_stage(s, f, i) for s in spec["stages"])
        d["model_"] = None if spec.get("model") is None else _unpack_stage(spec["model"], f, i)
        d["input_kind"] = spec.get("input_kind", "matrix")
        if d["params"].get("stages") is None:
            rebuilt = _rebuild_unfitted(spec.get("pipeline"))
            if rebuilt is not None:
                d["params"]["stages"] = rebuilt

    def save(self, path: str, overwrite: bool = False) -> None:
        """Save as a directory (``metadata.json`` + ``.npy``; no pickle). Every stage's
        parameters and learned arrays are stored; :func:`mli.load` restores them."""
        plog = logging.getLogger("mli.persist")
        filt = _QuietUnsavedParams()
        plog.addFilter(filt)
        try:
            persist.save_model(self, path, overwrite=overwrite)
        finally:
            plog.removeFilter(filt)

    def __repr__(self) -> str:
        parts = [repr(s) for s in self.stages_]
        if self.model_ is not None:
            parts.append(repr(self.model_))
        return f"PipelineModel({' | '.join(parts)})"

    # ------------------------------------------------------------------ input checks
    def _input_columns(self, cols: list[str]) -> list[str]:
        names = list(self.feature_names) if self.feature_names is not None else None
        if names is not None and set(names) <= set(cols):
            return names
        if self.input_kind == "matrix":
            if len(cols) == self.n_features:
                return cols
            raise ValueError(f"X has {len(cols)} features, but PipelineModel was fitted with "
                             f"{self.n_features} features" + (
                                 f"; its training columns {names[:10]} are not all among the "
                                 f"input columns {cols[:10]}" if names else ""))
        if len(cols) == 1:
            return cols
        raise ValueError(f"the pipeline was fitted on the column {names}, which is not among "
                         f"the table's columns {cols}; select the input column")

    def _check_input(self, data: Any) -> None:
        if self.input_kind == "matrix":
            X = data.array if isinstance(data, LocalMatrix) else data
            if isinstance(X, list):
                X = np.asarray(X)
            if sp.issparse(X) or isinstance(X, np.ndarray):
                if X.ndim != 2:
                    raise ValueError(f"X must be 2-D (rows x features), got shape {X.shape}")
                if X.shape[1] != self.n_features:
                    raise ValueError(f"X has {X.shape[1]} features, but PipelineModel was "
                                     f"fitted with {self.n_features} features")
                if sp.issparse(X):
                    bad = X.data.dtype.kind == "f" and not np.isfinite(X.data).all()
                else:
                    bad = X.dtype.kind == "f" and not np.isfinite(X).all()
                if bad:
                    raise ValueError("X must be finite (no NaN or inf)")

    # ------------------------------------------------------------------ outputs
    def transform(self, data: Any, *, keep: Sequence[str] | None = None) -> Any:
        """The featurized input (the final model is not applied); the input's kind.

        A Spark DataFrame gives a DataFrame: over Spark Connect a lazy one (one
        ``mapInArrow``) of ``f0 ..`` double columns, then the ``keep`` columns."""
        return _transform_any(list(self.stages_), data, keep=keep, model=self)

    def _transform_batch(self, batch: Any) -> Any:  # a PipelineModel can be a stage
        return _run_stages(self.stages_, batch)

    def _validate(self) -> None:
        pass

    def _final(self, method: str, data: Any):
        if self.model_ is None:
            raise TypeError("this pipeline has no final Algorithm: use transform(data) for its "
                            "features")
        if not hasattr(self.model_, method):
            raise AttributeError(f"{type(self.model_).__name__} has no {method}")
        from .table import MLTable

        mod = type(data).__module__
        is_df = mod.startswith("pyspark.sql") and type(data).__name__ == "DataFrame"
        if is_df and mod.startswith("pyspark.sql.connect"):
            return _final_on_frame(list(self.stages_), self.model_, method, data)
        if is_df:
            data = MLTable.from_spark(data)
        if isinstance(data, MLTable):
            out = _transform_table(list(self.stages_), data, None, self,
                                   final_method=(self.model_, method))
            return out.to_spark() if is_df else out
        single = isinstance(data, str)
        feats = self.transform([data] if single else data)
        if isinstance(feats, LocalMatrix):
            feats = feats.array
        return getattr(self.model_, method)(feats)

    def predict(self, data: Any):
        """Predictions for every record of ``data`` (1-D array; MLTable in, MLTable out)."""
        return self._final("predict", data)

    def predict_proba(self, data: Any):
        """Class probabilities from the final model (when it has ``predict_proba``)."""
        return self._final("predict_proba", data)

    def decision_function(self, data: Any):
        """Margins from the final model (when it has ``decision_function``)."""
        return self._final("decision_function", data)
