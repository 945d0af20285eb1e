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
import pandas as pd

try:
    from pyspark.ml import Estimator as _SparkEstimator, Model as _SparkModel
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.ml.linalg import VectorUDT
    from pyspark.ml.param import Param, Params, TypeConverters
    from pyspark.ml.util import (DefaultParamsReadable, DefaultParamsReader,
                                 DefaultParamsWritable, DefaultParamsWriter, MLReader,
                                 MLWritable, MLWriter)
    from pyspark.sql import functions as F, types as T
except ImportError as exc:  # pragma: no cover - pyspark is a dependency of mli
    raise ImportError("mli.interop.spark_ml needs pyspark (with pandas and pyarrow)") from exc

from mli import algorithms
from mli.core.base import load as mli_load
from mli.engine import fs
from mli.table.frames import NUMERIC_SPARK

__all__ = ["LogisticRegression", "LinearSVM", "LinearRegression", "NaiveBayes",
           "DecisionTree", "RandomForest", "KMeans", "wrap", "training_frame"]

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


class _ColumnParams(Params):
    featuresCol = Param(Params._dummy(), "featuresCol",
                        "features: a vector or array column, or a list of numeric columns",
                        typeConverter=_columns)
    labelCol = Param(Params._dummy(), "labelCol", "label column name",
                     typeConverter=TypeConverters.toString)
    predictionCol = Param(Params._dummy(), "predictionCol", "prediction column name",
                          typeConverter=TypeConverters.toString)

    def getFeaturesCol(self):
        return self.getOrDefault(self.featuresCol)

    def setFeaturesCol(self, value):
        return self._set(featuresCol=value)

    def getLabelCol(self):
        return self.getOrDefault(self.labelCol)

    def setLabelCol(self, value):
        return self._set(labelCol=value)

    def getPredictionCol(self):
        return self.getOrDefault(self.predictionCol)

    def setPredictionCol(self, value):
        return self._set(predictionCol=value)


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


# ============================================================================ features


def _feature_expr(df, features: Any, owner: str):
    """``(array<double> column expression, number of features or None)`` for
    ``featuresCol``, with a clear error for a missing or non-numeric column."""
    fields = {f.name: f.dataType for f in df.schema.fields}
    names = features if isinstance(features, list) else [features]
    missing = [c for c in names if c not in fields]
    if missing:
        raise ValueError(f"{owner}: featuresCol names column(s) {missing} that the DataFrame "
                         f"does not have; its columns are {list(fields)}")
    if isinstance(features, list):
        odd = [f"'{c}' ({type(fields[c]).__name__})" for c in names
               if type(fields[c]).__name__ not in NUMERIC_SPARK]
        if odd:
            raise ValueError(f"{owner}: featuresCol columns must be numeric; "
                             f"{', '.join(odd)} are not")
        return F.array(*[F.col(c).cast("double") for c in names]), len(names)
    dtype = fields[features]
    if isinstance(dtype, VectorUDT):
        return vector_to_array(F.col(features), "float64"), None
    if isinstance(dtype, T.ArrayType) and type(dtype.elementType).__name__ in NUMERIC_SPARK:
        return F.col(features).cast("array<double>"), None
    if type(dtype).__name__ in NUMERIC_SPARK:
        return F.array(F.col(features).cast("double")), 1
    raise ValueError(f"{owner}: featuresCol '{features}' must be a vector column "
                     f"(VectorUDT), an array of numbers or a list of numeric columns; it is "
                     f"{dtype.simpleString()}")


def _vector_size(df, column: str) -> int | None:
    """The vector size pyspark.ml's feature stages record in the column's metadata
    (``ml_attr.num_attrs``; VectorAssembler, HashingTF...), or None: then a job looks."""
    try:
        n = df.schema[column].metadata.get("ml_attr", {}).get("num_attrs")
    except (KeyError, AttributeError):
        return None
    return int(n) if isinstance(n, int) and n > 0 else None


def training_frame(df, features: Any, label: str | None, owner: str = "mli"):
    """The DataFrame an mli algorithm fits on: one numeric column per feature and the label.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    features : str or list of str
        A vector or array column (its entries become columns ``<name>_0``, ``<name>_1``,
        ...) or a list of numeric columns (kept under their names).
    label : str or None
        The label column (numeric), or None (unsupervised).
    owner : str
        Named in error messages.

    Returns
    -------
    (DataFrame, list of str)
        The frame and its feature column names.
    """
    if label is not None and label not in df.columns:
        raise ValueError(f"{owner}: labelCol '{label}' is not a column of the DataFrame; its "
                         f"columns are {list(df.columns)}")
    if label is not None:
        ltype = df.schema[label].dataType
        if type(ltype).__name__ not in NUMERIC_SPARK:
            raise ValueError(f"{owner}: labelCol '{label}' must be numeric, it is "
                             f"{ltype.simpleString()} (index string labels first, e.g. with "
                             "pyspark.ml.feature.StringIndexer)")
    if isinstance(features, list):
        _feature_expr(df, features, owner)  # the columns exist and are numeric
        names = list(features)
        cols = [F.col(c).cast("double").alias(c) for c in names]
    else:
        expr, d = _feature_expr(df, features, owner)
        if d is None:
            d = _vector_size(df, features)
        if d is None:
            arr = df.select(expr.alias("f")).select(F.size("f").alias("d"))
            first = arr.first()
            if first is None:
                raise ValueError(f"{owner}: cannot fit on an empty DataFrame (0 rows)")
            d = int(first["d"])
            if d < 1:
                raise ValueError(f"{owner}: featuresCol '{features}' holds empty vectors")
        names = [f"{features}_{j}" for j in range(d)]
        tmp = df.select(expr.alias("__mli_f"), *([F.col(label)] if label else []))
        df = tmp
        cols = [F.col("__mli_f")[j].alias(n) for j, n in enumerate(names)]
    sel = cols + ([F.col(label).cast("double").alias(label)] if label is not None else [])
    return df.select(*sel), names


# ============================================================================ prediction


def _predict_batch(model, outputs: tuple, rows: pd.Series) -> pd.DataFrame:
    """One Arrow batch of feature arrays -> a pandas DataFrame of the requested outputs."""
    lengths = rows.map(len).to_numpy() if len(rows) else np.zeros(0, int)
    if len(rows) and (lengths != model.n_features).any():
        bad = int(np.argmax(lengths != model.n_features))
        raise ValueError(f"a row has {int(lengths[bad])} features, but the model was fitted "
                         f"with {model.n_features}")
    X = (np.vstack(rows.to_numpy()).astype(np.float64) if len(rows)
         else np.zeros((0, model.n_features)))
    out = {}
    if "prediction" in outputs:
        out["prediction"] = np.asarray(model.predict(X), dtype=np.float64)
    if "probability" in outputs or "raw" in outputs:
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        if "probability" in outputs:
            out["probability"] = list(proba)
        if "raw" in outputs:
            out["raw"] = list(_raw_scores(model, X, proba))
    return pd.DataFrame(out)


def _arrow_batch(model, outputs: tuple, rows):
    """The vectorized form of :func:`_predict_batch` for Spark's Arrow UDFs (pyspark 4.1+):
    a list array of feature rows in, a struct array of the outputs out, with no per-row
    Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, d = len(rows), model.n_features
    if rows.null_count:
        raise ValueError("a row's features are null (missing)")
    if n:
        lengths = pc.list_value_length(rows).to_numpy(zero_copy_only=False)
        if (lengths != d).any():
            bad = int(np.argmax(lengths != d))
            raise ValueError(f"a row has {int(lengths[bad])} features, but the model was "
                             f"fitted with {d}")
    X = rows.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    X = X.reshape(n, d)
    arrays, names = [], []

    def vectors(m):
        k = m.shape[1]
        return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
                                        pa.array(np.ascontiguousarray(m).ravel()))

    if "prediction" in outputs:
        arrays.append(pa.array(np.asarray(model.predict(X), dtype=np.float64)))
        names.append("prediction")
    if "probability" in outputs or "raw" in outputs:
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        else:
            proba = None
        if "probability" in outputs:
            arrays.append(vectors(proba))
            names.append("probability")
        if "raw" in outputs:
            arrays.append(vectors(_raw_scores(model, X, proba)))
            names.append("raw")
    return pa.StructArray.from_arrays(arrays, names=names)


def _sql_linear(model, arr, outputs: tuple) -> dict | None:
    """The outputs of a linear model as Spark SQL expressions over the feature array
    (``x . w + b`` by ``zip_with`` / ``aggregate``): computed in the JVM, with no Python
    worker, as pyspark.ml scores its own linear models. None for other models."""
    from mli.models.linear import LinearModel

    if not isinstance(model, LinearModel):
        return None
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_)
    d = coef.shape[1]
    # a row of another width is an error, not a null or a silently padded dot product
    size = F.size(arr)
    arr = F.when(size == d, arr).otherwise(F.raise_error(F.concat(
        F.lit("a row has "), size.cast("string"),
        F.lit(f" features, but the model was fitted with {d}"))))

    def margin(k):
        w = F.array(*[F.lit(float(v)) for v in coef[k]])
        dot = F.aggregate(F.zip_with(arr, w, lambda x, c: x * c), F.lit(0.0),
                          lambda acc, v: acc + v)
        return dot + F.lit(float(intercept[k]))

    classes = getattr(model, "classes_", None)
    out: dict = {}
    if classes is None:
        if "prediction" in outputs:
            out["prediction"] = margin(0)
        return out
    classes = [float(c) for c in classes]
    if coef.shape[0] == 1:
        m = margin(0)
        if "prediction" in outputs:
            out["prediction"] = F.when(m > 0, F.lit(classes[1])).otherwise(F.lit(classes[0]))
        if "raw" in outputs:
            out["raw"] = F.array(-m, m)
        if "probability" in outputs and hasattr(model, "predict_proba"):
            p1 = F.lit(1.0) / (F.lit(1.0) + F.exp(-m))
            out["probability"] = F.array(F.lit(1.0) - p1, p1)
        return out
    ms = [margin(k) for k in range(coef.shape[0])]
    top = F.greatest(*ms)
    if "prediction" in outputs:
        pick = F.lit(classes[-1])
        for k in range(len(ms) - 2, -1, -1):  # the first class with the largest margin
            pick = F.when(ms[k] == top, F.lit(classes[k])).otherwise(pick)
        out["prediction"] = pick
    if "raw" in outputs:
        out["raw"] = F.array(*ms)
    if "probability" in outputs and hasattr(model, "predict_proba"):
        exps = [F.exp(mk - top) for mk in ms]
        total = exps[0]
        for e in exps[1:]:
            total = total + e
        out["probability"] = F.array(*[e / total for e in exps])
    return out


def _raw_scores(model, X, proba):
    """pyspark.ml's rawPrediction: margins for linear models (binary: ``[-m, m]``),
    log-probabilities for Naive Bayes, else the probabilities."""
    if hasattr(model, "decision_function"):
        m = np.asarray(model.decision_function(X), dtype=np.float64)
        return np.column_stack([-m, m]) if m.ndim == 1 else m
    if hasattr(model, "predict_log_proba"):
        return np.asarray(model.predict_log_proba(X), dtype=np.float64)
    return proba


def _binary_margin_batch(model, rows: pd.Series) -> pd.DataFrame:
    X = (np.vstack(rows.to_numpy()).astype(np.float64) if len(rows)
         else np.zeros((0, model.n_features)))
    m = np.asarray(model.decision_function(X), dtype=np.float64)
    m = np.column_stack([-m, m]) if m.ndim == 1 else m
    return pd.DataFrame({"prediction": np.asarray(model.predict(X), dtype=np.float64),
                         "raw": list(m)})


def _typed_arrow(fn):
    """``fn`` with the type hints arrow_udf reads (Array in, Array out)."""
    import pyarrow as pa

    def batch(rows: pa.Array) -> pa.Array:
        return fn(rows)
    batch.__annotations__ = {"rows": pa.Array, "return": pa.Array}
    return batch


def _typed(fn):
    """``fn`` with the type hints pandas_udf reads (Series in, DataFrame out)."""
    def batch(rows: pd.Series) -> pd.DataFrame:
        return fn(rows)
    return batch


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
        frame, _names = training_frame(dataset, self.getOrDefault(self.featuresCol), label,
                                        type(self).__name__)
        fitted = est.fit(frame, label=label) if label is not None else est.fit(frame)
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
        expr, d = _feature_expr(dataset, self.getOrDefault(self.featuresCol), owner)
        if d is not None and d != self._mli.n_features:
            raise ValueError(f"{owner}: featuresCol has {d} features, but the model was fitted "
                             f"with {self._mli.n_features}")
        taken = set(dataset.columns) & {self._out_name(o) for o in outputs}
        if taken:
            raise ValueError(f"{owner}: output column(s) {sorted(taken)} already exist in the "
                             "DataFrame; set predictionCol/probabilityCol/rawPredictionCol to "
                             "new names")
        fields = []
        if "prediction" in outputs:
            fields.append("prediction double")
        if "probability" in outputs:
            fields.append("probability array<double>")
        if "raw" in outputs:
            fields.append("raw array<double>")
        from mli.models.linear import LinearModel

        if isinstance(self._mli, LinearModel):  # scored in the JVM (no Python worker)
            tmp_in = "__mli_in"
            out = dataset.withColumn(tmp_in, expr)
            sql = _sql_linear(self._mli, F.col(tmp_in), outputs)
            for o in outputs:
                out = out.withColumn(self._out_name(o), sql[o] if o == "prediction"
                                     else array_to_vector(sql[o]))
            return out.drop(tmp_in)
        schema = "struct<" + ", ".join(f.replace(" ", ": ") for f in fields) + ">"
        if hasattr(F, "arrow_udf"):  # pyspark 4.1+: no per-row Python objects
            udf = F.arrow_udf(_typed_arrow(functools.partial(_arrow_batch, self._mli,
                                                             outputs)), schema)
        elif "raw" in outputs and "probability" not in outputs and \
                not hasattr(self._mli, "predict_proba"):
            udf = F.pandas_udf(_typed(functools.partial(_binary_margin_batch, self._mli)),
                               schema)
        else:
            udf = F.pandas_udf(_typed(functools.partial(_predict_batch, self._mli, outputs)),
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
