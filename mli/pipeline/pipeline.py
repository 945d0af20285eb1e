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
it passes :func:`mli.core.conformance.check_algorithm`. A pipeline without a final algorithm
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

import logging
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.core import persist
from mli.core.base import Algorithm, Model
from mli.linalg.localmatrix import LocalMatrix
from mli.core.params import validate_params
from mli.pipeline.batches import NO_OUTPUT, Source, run_stages
from mli.pipeline.saving import (Pools, QuietUnsavedParams, describe_unfitted, pack_stage,
                                 rebuild_unfitted, unpack_stage)
from mli.pipeline.stages import Estimator, Stage, Stages, Transformer, set_composer
from mli.pipeline.transform import final_on_frame, static_width, transform_any, transform_table
from mli.table.kinds import input_kind
from mli.table.mltable import MLTable

__all__ = ["Pipeline", "PipelineModel"]

log = logging.getLogger(__name__)


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

    _registry_name = "mli.pipeline.Pipeline"  # the key saved pipelines name it by

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
        if out is NO_OUTPUT:
            out = model.transform(data)
        return model, out

    def _fit_all(self, data, y, label, fit_kwargs, keep_output: bool):
        validate_params(self)
        if "sample_weight" in fit_kwargs:  # (the featurized rows would need their weights)
            raise TypeError("Pipeline.fit does not take sample_weight; fit the final "
                            "algorithm on the featurized table with it instead")
        if not len(self.stages):
            raise ValueError("cannot fit an empty pipeline (no stages)")
        before = self.get_params()
        feats = self._featurizers()
        final = self.final
        source = Source.for_fit(data, y, label, first=feats[0] if feats else final,
                                 local=final is None)
        cached: list = []
        out: Any = NO_OUTPUT
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
                labeled = batches._labeled(width=static_width(fitted, in_width))
                try:
                    model = final.fit(labeled, **fit_kwargs)
                finally:
                    labeled.release()
                if model.feature_names is not None and model.feature_names[:1] == ("f0",):
                    model.__dict__["feature_names"] = None  # generated names: not worth saving
            elif keep_output:
                out = batches._output(data, label, static_width(
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
        return transform_any(list(self.stages), data, keep=keep)


# ============================================================================ PipelineModel


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
    _pipeline_stage = True  # a fitted pipeline can be a stage of another

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
        pools = Pools()
        spec = {"stages": [pack_stage(s, pools) for s in stages],
                "model": None if model is None else pack_stage(model, pools),
                "input_kind": input_kind,
                "pipeline": describe_unfitted(pipeline)}
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
        d["stages_"] = tuple(unpack_stage(s, f, i) for s in spec["stages"])
        d["model_"] = None if spec.get("model") is None else unpack_stage(spec["model"], f, i)
        d["input_kind"] = spec.get("input_kind", "matrix")
        if d["params"].get("stages") is None:
            rebuilt = rebuild_unfitted(spec.get("pipeline"))
            if rebuilt is not None:
                d["params"]["stages"] = rebuilt

    def save(self, path: str, overwrite: bool = False) -> None:
        """Save as a directory (``metadata.json`` + ``.npy``; no pickle). Every stage's
        parameters and learned arrays are stored; :func:`mli.load` restores them."""
        plog = logging.getLogger("mli.core.persist")
        filt = QuietUnsavedParams()
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
        return transform_any(list(self.stages_), data, keep=keep, model=self)

    def _transform_batch(self, batch: Any) -> Any:  # a PipelineModel can be a stage
        return run_stages(self.stages_, batch)

    def _validate(self) -> None:
        pass

    def _final(self, method: str, data: Any):
        if self.model_ is None:
            raise TypeError("this pipeline has no final Algorithm: use transform(data) for its "
                            "features")
        if not hasattr(self.model_, method):
            raise AttributeError(f"{type(self.model_).__name__} has no {method}")
        kind = input_kind(data)
        if kind == "connect":
            return final_on_frame(list(self.stages_), self.model_, method, data)
        if kind == "spark":
            data = MLTable.from_data(data)
        if isinstance(data, MLTable):
            out = transform_table(list(self.stages_), data, None, self,
                                   final_method=(self.model_, method))
            return out.to_spark() if kind == "spark" else out
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


def _compose(left: Any, right: Any) -> Pipeline:
    """``left | right`` of stages (installed in :mod:`mli.pipeline.stages`)."""
    if isinstance(left, Algorithm) and not isinstance(left, Pipeline):
        raise TypeError(f"{type(left).__name__} is an Algorithm: it can only be the last "
                        f"stage of a pipeline, not followed by {type(right).__name__}")
    return Pipeline(Stages([left, right]))


set_composer(_compose)
