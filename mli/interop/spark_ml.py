"""pyspark.ml Estimators and Models backed by mli's algorithms.

Each estimator here is a real :class:`pyspark.ml.Estimator` (each model a
:class:`pyspark.ml.Model`): it takes pyspark.ml's column parameters, works as a stage of a
pyspark.ml ``Pipeline``, is tuned by ``CrossValidator`` / ``TrainValidationSplit`` with a
``ParamGridBuilder`` over mli's hyperparameters, its output feeds pyspark.ml's evaluators,
and ``write().save(path)`` / ``load(path)`` persist it (a saved model is mli's pickle-free
format plus pyspark.ml's metadata, so a saved ``PipelineModel`` holding it loads too). It
runs the same on a classic session and over Spark Connect.

Columns (pyspark.ml's names and defaults):

* ``featuresCol`` ("features"): a vector column (``VectorUDT``, e.g. from
  ``VectorAssembler``), an array of numbers, or a list of numeric column names;
* ``labelCol`` ("label"): numeric; classifiers take class labels (whole numbers);
* ``predictionCol`` ("prediction"), and for classifiers ``probabilityCol``
  ("probability") and ``rawPredictionCol`` ("rawPrediction"), vector columns with one entry
  per class in the order of the sorted labels. An output column set to "" is not made.

``transform(df)`` appends the output columns and keeps every input column.

Examples
--------
>>> from pyspark.ml.feature import VectorAssembler                      # doctest: +SKIP
>>> from mli.interop.spark_ml import LogisticRegression
>>> lr = LogisticRegression(reg=0.01, labelCol="clicked")
>>> model = lr.fit(VectorAssembler(inputCols=["a", "b"], outputCol="features")
...                .transform(df))
>>> model.transform(df2).select("clicked", "probability", "prediction")
"""
from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

try:
    from pyspark.ml import Estimator as _SparkEstimator, Model as _SparkModel
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.ml.param import Param, Params, TypeConverters
    from pyspark.ml.util import (DefaultParamsReadable, DefaultParamsReader,
                                 DefaultParamsWritable, DefaultParamsWriter, MLReader,
                                 MLWritable, MLWriter)
    from pyspark.sql import functions as F
except ImportError as exc:  # pragma: no cover - pyspark is a dependency of mli
    raise ImportError("mli.interop.spark_ml needs pyspark (with pandas and pyarrow)") from exc

from mli import algorithms
from mli.core.base import load as mli_load
from mli.interop.spark_columns import (arrow_batch, feature_expr,
                                       predict_batch, sql_linear, training_frame, typed,
                                       typed_arrow)
from mli.engine import fs
from mli.table.frames import SPARSE_MIN_WIDTH, is_vector

__all__ = ["LogisticRegression", "LinearSVM", "LinearRegression", "NaiveBayes",
           "DecisionTree", "RandomForest", "KMeans", "ALS", "wrap", "training_frame"]

_MODEL_DIR = "mli-model"  # the mli model inside a saved pyspark.ml model


def _columns(value: Any) -> Any:
    """featuresCol's converter: a column name or a non-empty list of them."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError(f"featuresCol must be a column name or a list of column names, got "
                    f"{value!r}")


def _any(value: Any) -> Any:
    return value


class _PredictionParams(Params):
    predictionCol = Param(Params._dummy(), "predictionCol", "prediction column name",
                          typeConverter=TypeConverters.toString)

    def getPredictionCol(self):
        return self.getOrDefault(self.predictionCol)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)


class _ColumnParams(_PredictionParams):
    featuresCol = Param(Params._dummy(), "featuresCol",
                        "features: a vector or array column, or a list of numeric columns",
                        typeConverter=_columns)
    labelCol = Param(Params._dummy(), "labelCol", "label column name",
                     typeConverter=TypeConverters.toString)
    def getFeaturesCol(self):
        return self.getOrDefault(self.featuresCol)

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def getLabelCol(self):
        return self.getOrDefault(self.labelCol)

    def setLabelCol(self, value):
        return self._set(labelCol=value)


class _ClassifierParams(_ColumnParams):
    probabilityCol = Param(Params._dummy(), "probabilityCol",
                           "class probabilities column name (a vector)",
                           typeConverter=TypeConverters.toString)
    rawPredictionCol = Param(Params._dummy(), "rawPredictionCol",
                             "raw prediction (class scores) column name (a vector)",
                             typeConverter=TypeConverters.toString)

    def getProbabilityCol(self):
        return self.getOrDefault(self.probabilityCol)

    def setProbabilityCol(self, value):
        return self._set(probabilityCol=value)

    def getRawPredictionCol(self):
        return self.getOrDefault(self.rawPredictionCol)

    def setRawPredictionCol(self, value):
        return self._set(rawPredictionCol=value)


_COLUMN_DEFAULTS = {"featuresCol": "features", "labelCol": "label",
                    "predictionCol": "prediction", "probabilityCol": "probability",
                    "rawPredictionCol": "rawPrediction"}


# ============================================================================ estimators


def _param_doc(algo: type, name: str) -> str:
    return f"mli {algo.__name__} hyperparameter '{name}' (see mli.algorithms.{algo.__name__})"


class _MLIEstimator(_SparkEstimator, DefaultParamsReadable, DefaultParamsWritable):
    """A pyspark.ml Estimator around an mli :class:`~mli.Algorithm`: a subclass names
    ``_algorithm`` and ``_model_class``; a pyspark.ml Param is declared for every
    hyperparameter of the algorithm (but ``callback``), with the algorithm's default."""

    _algorithm: ClassVar[type]
    _model_class: ClassVar[type]
    _hidden: ClassVar[tuple[str, ...]] = ("callback",)
    _labeled: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_algorithm" not in cls.__dict__:
            return
        for name in cls._mli_param_names():
            setattr(cls, name, Param(Params._dummy(), name, _param_doc(cls._algorithm, name),
                                     typeConverter=_any))
        if cls._algorithm._weights:  # pyspark.ml's weightCol: unset or "" means unweighted
            cls.weightCol = Param(Params._dummy(), "weightCol",
                                  "row weight column name (finite, >= 0); unset or empty: "
                                  "every row weighs 1", typeConverter=TypeConverters.toString)
            cls.getWeightCol = lambda self: self.getOrDefault(self.weightCol)
            cls.setWeightCol = lambda self, value: self._set(weightCol=value)

    @classmethod
    def _mli_param_names(cls) -> list[str]:
        return [n for n in cls._algorithm._param_names() if n not in cls._hidden]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        defaults = {k: v for k, v in _COLUMN_DEFAULTS.items() if self.hasParam(k)}
        defaults.update({n: v for n, v in self._algorithm._param_defaults().items()
                         if n in self._mli_param_names()})
        self._setDefault(**defaults)
        self.setParams(**kwargs)

    def setParams(self, **kwargs: Any):
        """Set parameters by name (pyspark.ml's ``setParams``); an unknown name raises
        TypeError listing the valid ones."""
        unknown = sorted(k for k in kwargs if not self.hasParam(k))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s) {unknown}; its "
                            f"parameters are {sorted(p.name for p in self.params)}")
        return self._set(**kwargs)

    def _mli_estimator(self):
        params = {n: self.getOrDefault(n) for n in self._mli_param_names()}
        return self._algorithm(**params)

    def _fit(self, dataset):
        est = self._mli_estimator()
        est._validate()  # a bad hyperparameter is reported before any Spark job
        label = self.getOrDefault(self.labelCol) if self._labeled else None
        weight = (self.getOrDefault(self.weightCol) or None
                  if self.hasParam("weightCol") and self.isDefined(self.weightCol) else None)
        frame, _names = training_frame(dataset, self.getOrDefault(self.featuresCol), label,
                                        type(self).__name__, weight)
        fitted = est.fit(frame, label=label, sample_weight=weight)
        model = self._model_class(fitted)
        model._resetUid(self.uid + "_model")
        return self._copyValues(model)

class _MLIModel(_SparkModel, MLWritable):
    """A fitted mli model as a pyspark.ml Model (``mliModel``: the mli model)."""

    _estimator: ClassVar[type]
    _classifier: ClassVar[bool] = False

    def __init__(self, mli_model=None) -> None:
        super().__init__()
        defaults = {k: v for k, v in _COLUMN_DEFAULTS.items() if self.hasParam(k)}
        self._setDefault(**defaults)
        self._mli = mli_model

    @property
    def mliModel(self):
        """The fitted mli model (``mli.Model``: ``save``, ``predict`` on any input)."""
        return self._mli

    @property
    def numFeatures(self) -> int:
        return self._mli.n_features

    def _outputs(self) -> tuple:
        outs = []
        if self.getOrDefault(self.predictionCol):
            outs.append("prediction")
        if self._classifier:
            if self.hasParam("probabilityCol") and self.getOrDefault(self.probabilityCol) \
                    and hasattr(self._mli, "predict_proba"):
                outs.append("probability")
            if self.getOrDefault(self.rawPredictionCol):
                outs.append("raw")
        return tuple(outs)

    def _transform(self, dataset):
        if self._mli is None:
            raise ValueError(f"{type(self).__name__} holds no fitted model")
        outputs = self._outputs()
        if not outputs:
            return dataset
        owner = type(self).__name__
        expr, d = feature_expr(dataset, self.getOrDefault(self.featuresCol), owner)
        if d is not None and d != self._mli.n_features:
            raise ValueError(f"{owner}: featuresCol has {d} features, but the model was fitted "
                             f"with {self._mli.n_features}")
        taken = set(dataset.columns) & {self._out_name(o) for o in outputs}
        if taken:
            raise ValueError(f"{owner}: output column(s) {sorted(taken)} already exist in the "
                             "DataFrame; set predictionCol/probabilityCol/rawPredictionCol to "
                             "new names")
        from mli.models.linear import LinearModel

        features = self.getOrDefault(self.featuresCol)
        vectors = (hasattr(F, "arrow_udf") and isinstance(features, str)
                   and is_vector(dataset.schema[features].dataType))
        wide = self._mli.n_features >= SPARSE_MIN_WIDTH
        if vectors:  # the vectors as they are (Arrow structs): CSR rows when wide
            expr = F.col(features)
        if isinstance(self._mli, LinearModel) and not (vectors and wide):
            # scored in the JVM (no Python worker); a wide vector is scored sparse in Python
            if vectors:
                expr = vector_to_array(F.col(features), "float64")
            tmp_in = "__mli_in"
            out = dataset.withColumn(tmp_in, expr)
            sql = sql_linear(self._mli, F.col(tmp_in), outputs)
            for o in outputs:
                out = out.withColumn(self._out_name(o), sql[o] if o == "prediction"
                                     else array_to_vector(sql[o]))
            return out.drop(tmp_in)
        types = {"prediction": "double", "probability": "array<double>",
                 "raw": "array<double>"}
        schema = "struct<" + ", ".join(f"{o}: {types[o]}" for o in outputs) + ">"
        if hasattr(F, "arrow_udf"):  # pyspark 4.1+: no per-row Python objects
            udf = F.arrow_udf(typed_arrow(functools.partial(arrow_batch, self._mli,
                                                             outputs)), schema)
        else:
            udf = F.pandas_udf(typed(functools.partial(predict_batch, self._mli, outputs)),
                               schema)
        tmp = "__mli_out"
        out = dataset.withColumn(tmp, udf(expr))
        for o in outputs:
            col = F.col(f"{tmp}.{o}")
            out = out.withColumn(self._out_name(o), col if o == "prediction"
                                 else array_to_vector(col))
        return out.drop(tmp)

    def _out_name(self, output: str) -> str:
        return self.getOrDefault({"prediction": self.predictionCol,
                                  "probability": getattr(self, "probabilityCol", None),
                                  "raw": getattr(self, "rawPredictionCol", None)}[output])

    def copy(self, extra=None):
        that = super().copy(extra)
        that._mli = self._mli
        return that

    # ------------------------------------------------------------------ persistence
    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader(cls)

    @classmethod
    def load(cls, path: str):
        return cls.read().load(path)


class _ModelWriter(MLWriter):
    """pyspark.ml's metadata (class, uid, params) and the mli model beside it, in mli's
    pickle-free format (JSON + .npy)."""

    def __init__(self, instance: _MLIModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession,
                                         extraMetadata={"mli": _MODEL_DIR})
        self.instance._mli.save(fs.join(path, _MODEL_DIR), overwrite=True)


class _ModelReader(MLReader):
    def __init__(self, cls: type):
        super().__init__()
        self.cls = cls

    def load(self, path: str):
        meta = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        want = f"{self.cls.__module__}.{self.cls.__name__}"
        if meta.get("class") != want:
            raise ValueError(f"{path} holds a {meta.get('class')}, not a {want}")
        model = self.cls(mli_load(fs.join(path, meta.get("mli", _MODEL_DIR))))
        model._resetUid(meta["uid"])
        DefaultParamsReader.getAndSetParams(model, meta)
        return model


# ============================================================================ the classes


class LogisticRegressionModel(_MLIModel, _ClassifierParams):
    """A fitted :class:`LogisticRegression`; ``coefficientMatrix``, ``interceptVector``."""

    _classifier = True

    @property
    def coefficientMatrix(self) -> np.ndarray:
        return np.array(self._mli.coef_)

    @property
    def interceptVector(self) -> np.ndarray:
        return np.array(self._mli.intercept_)


class LogisticRegression(_MLIEstimator, _ClassifierParams):
    """:class:`mli.algorithms.LogisticRegression` as a pyspark.ml Estimator (``reg`` is
    pyspark.ml's ``regParam`` with ``standardization=False``; ``l1_ratio`` its
    ``elasticNetParam``)."""

    _algorithm = algorithms.LogisticRegression
    _model_class = LogisticRegressionModel


class LinearSVMModel(_MLIModel, _ClassifierParams):
    """A fitted :class:`LinearSVM` (binary): ``rawPrediction`` is ``[-margin, margin]``,
    as pyspark.ml's LinearSVC; there is no probability."""

    _classifier = True


class LinearSVM(_MLIEstimator, _ClassifierParams):
    """:class:`mli.algorithms.LinearSVM` (hinge loss, binary) as a pyspark.ml Estimator."""

    _algorithm = algorithms.LinearSVM
    _model_class = LinearSVMModel


class LinearRegressionModel(_MLIModel, _ColumnParams):
    """A fitted :class:`LinearRegression`; ``coefficients``, ``intercept``."""

    @property
    def coefficients(self) -> np.ndarray:
        return np.array(self._mli.coef_)

    @property
    def intercept(self) -> float:
        return float(self._mli.intercept_)


class LinearRegression(_MLIEstimator, _ColumnParams):
    """:class:`mli.algorithms.LinearRegression` as a pyspark.ml Estimator."""

    _algorithm = algorithms.LinearRegression
    _model_class = LinearRegressionModel


class NaiveBayesModel(_MLIModel, _ClassifierParams):
    """A fitted :class:`NaiveBayes`: ``rawPrediction`` holds the class log-probabilities."""

    _classifier = True


class NaiveBayes(_MLIEstimator, _ClassifierParams):
    """:class:`mli.algorithms.NaiveBayes` as a pyspark.ml Estimator."""

    _algorithm = algorithms.NaiveBayes
    _model_class = NaiveBayesModel


class _TreeModel(_MLIModel, _ClassifierParams):
    @property
    def _classifier(self) -> bool:  # type: ignore[override]
        return self._mli is not None and getattr(self._mli, "classes_", None) is not None


class DecisionTreeModel(_TreeModel):
    """A fitted :class:`DecisionTree` (a classifier's outputs when ``task`` is
    "classification", else ``prediction`` only)."""


class DecisionTree(_MLIEstimator, _ClassifierParams):
    """:class:`mli.algorithms.DecisionTree` as a pyspark.ml Estimator (``task``:
    "classification" or "regression")."""

    _algorithm = algorithms.DecisionTree
    _model_class = DecisionTreeModel


class RandomForestModel(_TreeModel):
    """A fitted :class:`RandomForest`."""


class RandomForest(_MLIEstimator, _ClassifierParams):
    """:class:`mli.algorithms.RandomForest` as a pyspark.ml Estimator."""

    _algorithm = algorithms.RandomForest
    _model_class = RandomForestModel


class KMeansModel(_MLIModel, _ColumnParams):
    """A fitted :class:`KMeans`: ``prediction`` is the index of the nearest center;
    ``clusterCenters()`` as pyspark.ml's."""

    def clusterCenters(self) -> list:
        return [np.array(c) for c in self._mli.cluster_centers_]


class KMeans(_MLIEstimator, _ColumnParams):
    """:class:`mli.algorithms.KMeans` as a pyspark.ml Estimator (no label)."""

    _algorithm = algorithms.KMeans
    _model_class = KMeansModel
    _labeled = False


class ALSModel(_MLIModel, _PredictionParams):
    """A fitted :class:`ALS`: ``transform`` appends the predicted rating of each (user,
    item) row (the columns named by the estimator's ``user_col`` / ``item_col``) and keeps
    every input column; ``mliModel.recommend(users, k)`` gives top-k items."""

    def _transform(self, dataset):
        if self._mli is None:
            raise ValueError("ALSModel holds no fitted model")
        name = self.getOrDefault(self.predictionCol)
        if name in dataset.columns:
            raise ValueError(f"ALSModel: output column '{name}' already exists in the "
                             "DataFrame; set predictionCol to a new name")
        out = self._mli.predict(dataset.withColumnRenamed("prediction", "__mli_prediction")
                                if "prediction" in dataset.columns else dataset)
        if name != "prediction":
            out = out.withColumnRenamed("prediction", name)
        if "__mli_prediction" in out.columns:
            out = out.withColumnRenamed("__mli_prediction", "prediction")
        return out


class ALS(_MLIEstimator, _PredictionParams):
    """:class:`mli.algorithms.ALS` (explicit or implicit feedback) as a pyspark.ml
    Estimator: the ratings are the columns ``user_col``, ``item_col``, ``rating_col``
    (mli's names; defaults "user", "item", "rating"), as pyspark.ml's ``userCol`` ...;
    ``cold_start`` is its ``coldStartStrategy`` ("nan" or "drop", and "mean")."""

    _algorithm = algorithms.ALS
    _model_class = ALSModel
    _labeled = False

    def _fit(self, dataset):
        est = self._mli_estimator()
        est._validate()
        model = self._model_class(est.fit(dataset))
        model._resetUid(self.uid + "_model")
        return self._copyValues(model)


class GenericModel(_MLIModel, _ClassifierParams):
    """Any other fitted mli model (``predict``, and ``predict_proba`` when it has one)."""

    @property
    def _classifier(self) -> bool:  # type: ignore[override]
        return self._mli is not None and getattr(self._mli, "classes_", None) is not None


def wrap(model, **columns: Any) -> _MLIModel:
    """A fitted mli model (e.g. from :func:`mli.load`) as a pyspark.ml Model.

    Parameters
    ----------
    model : mli.Model
    **columns
        Column parameters: ``featuresCol``, ``predictionCol``, ``probabilityCol``,
        ``rawPredictionCol``.

    Examples
    --------
    >>> scored = wrap(mli.load("/models/lr"), featuresCol=["a", "b"]).transform(df)  # doctest: +SKIP
    """
    from mli.core.base import Model

    if not isinstance(model, Model):
        raise TypeError(f"wrap expects a fitted mli Model, got {type(model).__name__}")
    cls = globals().get(type(model).__name__)
    if not (isinstance(cls, type) and issubclass(cls, _MLIModel)):
        cls = GenericModel
    out = cls(model)
    known = {p.name for p in out.params}
    unknown = sorted(set(columns) - known)
    if unknown:
        raise TypeError(f"wrap: unknown column parameter(s) {unknown} for {cls.__name__}; "
                        f"valid: {sorted(known)}")
    return out._set(**columns)
