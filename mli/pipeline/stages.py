"""Pipeline stages: :class:`Transformer` (records -> features, a batch at a time),
:class:`Estimator` (fitted on :class:`~mli.pipeline.batches.Batches`, returns a
Transformer) and :class:`Stages` (an immutable sequence compared by value). Their
hyperparameters are handled by :class:`mli.core.estimator.BaseEstimator`, as an
Algorithm's. ``a | b`` chains stages into a :class:`~mli.pipeline.Pipeline`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence as _SequenceABC
from typing import Any, Callable, ClassVar, Iterable, Sequence


from mli.core import registry
from mli.core.base import Algorithm
from mli.core.estimator import BaseEstimator, values_equal
from mli.pipeline.batches import Batches, Source
from mli.pipeline.transform import single_output, transform_any, transform_local

__all__ = ["Stage", "Transformer", "Estimator", "Stages", "set_composer"]

log = logging.getLogger(__name__)


# ============================================================================ stages


class Stage(BaseEstimator):
    """Common base of :class:`Transformer` and :class:`Estimator`: the hyperparameter
    handling of :class:`mli.core.estimator.BaseEstimator` (shared with :class:`mli.Algorithm`),
    checked when the stage runs. ``a | b`` builds a :class:`Pipeline`.
    """

    #: what the stage consumes: "text" (str records), "tokens", "matrix", "images" or "any"
    _input_kind: ClassVar[str] = "any"
    #: column name of a non-matrix output in a table (e.g. "tokens")
    _output_name: ClassVar[str] = "value"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for kind in ("Transformer", "Estimator"):
            if any(b.__name__ == kind and b.__module__ == __name__ for b in cls.__mro__):
                registry.register(cls, kind.lower())

    def _params_changed(self) -> None:
        """Drop derived state (``_cache*`` attributes) when a parameter changes."""
        for k in [k for k in self.__dict__ if k.startswith("_cache")]:
            del self.__dict__[k]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}

    #: marks what a pipeline holds besides a final Algorithm (a fitted PipelineModel too)
    _pipeline_stage: ClassVar[bool] = True

    # -------------------------------------------------------------- chaining
    def __or__(self, other: Any):
        return _composer()(self, other)

    def __ror__(self, other: Any):
        return _composer()(other, self)


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
        return transform_any([self], data, keep=keep)

    def transform_one(self, record: Any) -> Any:
        """Apply to one record (a string, a token list, an image...): the result for it."""
        return single_output(transform_local([self], [record]))

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
        source = Source.for_fit(data, y, label, first=self)
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
    return getattr(type(obj), "_pipeline_stage", False) is True


# ``a | b`` makes a Pipeline: mli.pipeline.pipeline, the module above this one, installs the
# function that does (importing mli.pipeline imports it)
_compose: Callable[[Any, Any], Any] | None = None


def set_composer(compose: Callable[[Any, Any], Any]) -> None:
    """Make ``a | b`` of stages return ``compose(a, b)`` (called by mli.pipeline.pipeline)."""
    global _compose
    _compose = compose


def _composer() -> Callable[[Any, Any], Any]:
    if _compose is None:
        raise RuntimeError("import mli.pipeline to chain stages with |")
    return _compose


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
    return values_equal(a, b)


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
            if isinstance(s, Algorithm) and isinstance(getattr(s, "stages", None), Stages):
                flat.extend(s.stages)  # a Pipeline
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
