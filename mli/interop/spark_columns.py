"""What the pyspark.ml adapters (:mod:`mli.interop.spark_ml`) do with DataFrame columns:
the feature column (a vector, an array or numeric columns) made into the numeric frame an
mli algorithm fits on, and a fitted model's outputs computed per batch for ``transform``
(linear models as Spark SQL expressions in the JVM; the others through an Arrow UDF, or a
pandas UDF before pyspark 4.1)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F, types as T

from mli.table.frames import NUMERIC_SPARK, SPARSE_MIN_WIDTH, vector_matrix, vector_widths

__all__ = ["feature_expr", "training_frame", "predict_batch", "arrow_batch",
           "sql_linear", "raw_scores", "typed", "typed_arrow"]


# ============================================================================ features


def _present(expr, owner: str, what: str):
    """``expr``, or (when a row holds null there) a task error naming the column: scoring
    never turns a missing value into a null or NaN prediction."""
    msg = f"{owner}: {what} is null (a missing value) in a row; fill or drop those rows first"
    return F.when(expr.isNull(), F.raise_error(F.lit(msg))).otherwise(expr)


def feature_expr(df, features: Any, owner: str):
    """``(array<double> column expression, number of features or None)`` for
    ``featuresCol``, with a clear error for a missing or non-numeric column (and, when the
    expression is evaluated, for a null value)."""
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
        return F.array(*[_present(F.col(c).cast("double"), owner, f"featuresCol column '{c}'")
                         for c in names]), len(names)
    dtype = fields[features]
    what = f"featuresCol '{features}'"
    if isinstance(dtype, VectorUDT):
        return vector_to_array(_present(F.col(features), owner, what), "float64"), None
    if isinstance(dtype, T.ArrayType) and type(dtype.elementType).__name__ in NUMERIC_SPARK:
        arr = _present(F.col(features).cast("array<double>"), owner, what)
        return F.when(F.exists(arr, lambda x: x.isNull()), F.raise_error(F.lit(
            f"{owner}: {what} holds a null element in a row"))).otherwise(arr), None
    if type(dtype).__name__ in NUMERIC_SPARK:
        return F.array(_present(F.col(features).cast("double"), owner, what)), 1
    raise ValueError(f"{owner}: featuresCol '{features}' must be a vector column "
                     f"(VectorUDT), an array of numbers or a list of numeric columns; it is "
                     f"{dtype.simpleString()}")


def training_frame(df, features: Any, label: str | None, owner: str = "mli",
                   weight: str | None = None):
    """The DataFrame an mli algorithm fits on: one numeric column per feature, the label
    (and the row weights, when ``weight`` names their column).

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
    weight : str, optional
        A numeric column of row weights (pyspark.ml's ``weightCol``), kept under its name.

    Returns
    -------
    (DataFrame, list of str)
        The frame and its feature column names.
    """
    if weight is not None:
        if weight not in df.columns:
            raise ValueError(f"{owner}: weightCol '{weight}' is not a column of the DataFrame; "
                             f"its columns are {list(df.columns)}")
        wtype = df.schema[weight].dataType
        if type(wtype).__name__ not in NUMERIC_SPARK:
            raise ValueError(f"{owner}: weightCol '{weight}' must be numeric, it is "
                             f"{wtype.simpleString()}")
        if weight == label or (isinstance(features, list) and weight in features):
            raise ValueError(f"{owner}: weightCol '{weight}' is also "
                             f"{'the label' if weight == label else 'a feature'} column")
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
        feature_expr(df, features, owner)  # the columns exist and are numeric
        names = list(features)
        cols = [F.col(c).cast("double").alias(c) for c in names]
    elif features in df.columns and isinstance(df.schema[features].dataType, VectorUDT):
        # the vectors go to mli as they are: CSR blocks when wide (hashed text), no
        # per-row arrays (mli.table.frames spreads them over columns <name>_<j>)
        d = vector_widths(df, [features])[0]
        if d < 1:
            raise ValueError(f"{owner}: featuresCol '{features}' holds empty vectors (or the "
                             "DataFrame is empty)")
        names = [f"{features}_{j}" for j in range(d)]
        # (the width travels in pyspark.ml's metadata: no second job to find it)
        cols = [F.col(features).alias(features, metadata={"ml_attr": {"num_attrs": d}})]
    else:
        expr, d = feature_expr(df, features, owner)
        if d is None:
            arr = df.select(expr.alias("f")).select(F.size("f").alias("d"))
            first = arr.first()
            if first is None:
                raise ValueError(f"{owner}: cannot fit on an empty DataFrame (0 rows)")
            d = int(first["d"])
            if d < 1:
                raise ValueError(f"{owner}: featuresCol '{features}' holds empty vectors")
        names = [f"{features}_{j}" for j in range(d)]
        keep = [F.col(c) for c in (label, weight) if c is not None]
        df = df.select(expr.alias("__mli_f"), *keep)
        cols = [F.col("__mli_f")[j].alias(n) for j, n in enumerate(names)]
    sel = cols + [F.col(c).cast("double").alias(c) for c in (label, weight) if c is not None]
    return df.select(*sel), names


# ============================================================================ prediction


def predict_batch(model, outputs: tuple, rows: pd.Series) -> pd.DataFrame:
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
            out["raw"] = list(raw_scores(model, X, proba))
    return pd.DataFrame(out)


def arrow_batch(model, outputs: tuple, rows):
    """The vectorized form of :func:`predict_batch` for Spark's Arrow UDFs (pyspark 4.1+):
    a list array of feature rows in, a struct array of the outputs out, with no per-row
    Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n, d = len(rows), model.n_features
    if rows.null_count:
        raise ValueError("a row's features are null (missing)")
    if pa.types.is_struct(rows.type):  # pyspark.ml vectors: CSR rows when wide
        X = vector_matrix(rows, d, d >= SPARSE_MIN_WIDTH, column="featuresCol")
    elif n:
        lengths = pc.list_value_length(rows).to_numpy(zero_copy_only=False)
        if (lengths != d).any():
            bad = int(np.argmax(lengths != d))
            raise ValueError(f"a row has {int(lengths[bad])} features, but the model was "
                             f"fitted with {d}")
    if not pa.types.is_struct(rows.type):
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
            arrays.append(vectors(raw_scores(model, X, proba)))
            names.append("raw")
    return pa.StructArray.from_arrays(arrays, names=names)


def sql_linear(model, arr, outputs: tuple) -> dict | None:
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


def raw_scores(model, X, proba):
    """pyspark.ml's rawPrediction of a model scored in Python: the margins of a linear
    model (``[-m, m]`` for two classes, as :func:`sql_linear`), log-probabilities for Naive
    Bayes, else the probabilities."""
    from mli.models.linear import LinearModel

    if isinstance(model, LinearModel):
        z = np.asarray(model.decision_function(X), dtype=np.float64)
        return np.column_stack([-z, z]) if z.ndim == 1 else z
    if hasattr(model, "predict_log_proba"):
        return np.asarray(model.predict_log_proba(X), dtype=np.float64)
    return proba


def typed_arrow(fn):
    """``fn`` with the type hints arrow_udf reads (Array in, Array out)."""
    import pyarrow as pa

    def batch(rows: pa.Array) -> pa.Array:
        return fn(rows)
    batch.__annotations__ = {"rows": pa.Array, "return": pa.Array}
    return batch


def typed(fn):
    """``fn`` with the type hints pandas_udf reads (Series in, DataFrame out)."""
    def batch(rows: pd.Series) -> pd.DataFrame:
        return fn(rows)
    return batch
