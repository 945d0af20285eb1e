"""``mli train``, ``mli evaluate`` and ``mli predict``: any data set Spark reads.

::

    mli train data.csv --label clicked --algorithm logistic_regression --param reg=0.01 \\
        --out model/                       # fit on 80%, metrics on the held-out 20%, save
    mli evaluate model/ test.parquet --label clicked --plot confusion.png
    mli predict model/ new.csv --out scored.parquet

Data: CSV (header row), TSV, LibSVM or Parquet, by extension (``--format`` to say), on any
path Spark reads (local, ``hdfs://``, ``s3a://``...). Features are every numeric column
but the label (``--features a,b,c`` to choose); LibSVM's are its vector. Models are saved
in mli's format (:func:`mli.load` reads them). Progress (loss per iteration) is printed
while iterative algorithms fit; ``--plot`` needs matplotlib (the ``plot`` extra), checked
before any work.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from typing import Any

import numpy as np

from mli import algorithms
from mli.apps.plotting import pyplot, require_matplotlib

__all__ = ["add_parsers", "ALGORITHMS", "read_frame", "metrics", "feature_spec", "check_complete",
           "data_format", "spark_context", "scored", "print_metrics", "cli_command",
           "common_args", "UsageError", "model_kind"]

ALGORITHMS = {
    "logistic_regression": algorithms.LogisticRegression,
    "linear_svm": algorithms.LinearSVM,
    "linear_regression": algorithms.LinearRegression,
    "naive_bayes": algorithms.NaiveBayes,
    "decision_tree": algorithms.DecisionTree,
    "random_forest": algorithms.RandomForest,
    "kmeans": algorithms.KMeans,
}
FORMATS = ("csv", "tsv", "libsvm", "parquet")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".libsvm": "libsvm",
               ".svm": "libsvm", ".svmlight": "libsvm", ".parquet": "parquet", ".pq": "parquet"}


class UsageError(ValueError):
    """A wrong argument or input; the command prints it as ``mli: error: ...``."""


# ============================================================================ input


def algorithm_class(name: str) -> type:
    key = name.lower().replace("-", "_")
    by_class = {cls.__name__.lower(): k for k, cls in ALGORITHMS.items()}
    key = by_class.get(key.replace("_", ""), key)
    if key not in ALGORITHMS:
        raise UsageError(f"unknown --algorithm {name!r}; choose one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[key]


def parse_params(items: list[str], cls: type) -> dict[str, Any]:
    """``["reg=0.1", "solver=lbfgs"]`` -> ``{"reg": 0.1, "solver": "lbfgs"}`` (numbers,
    booleans and None as Python literals, anything else a string)."""
    out: dict[str, Any] = {}
    valid = [n for n in cls._param_names() if n != "callback"]
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param {item!r}: expected NAME=VALUE, e.g. reg=0.1")
        if name not in valid:
            raise UsageError(f"--param {name}: {cls.__name__} has no parameter {name!r}; its "
                             f"parameters are {valid}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        if text.strip() in ("true", "false"):
            value = text.strip() == "true"
        out[name] = value
    return out


def data_format(path: str, given: str | None) -> str:
    if given:
        return given
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if os.path.isdir(path) and any(f.endswith(".parquet") for f in os.listdir(path)):
        return "parquet"
    raise UsageError(f"cannot tell the format of {path} from its name; pass --format "
                     f"{{{','.join(FORMATS)}}}")


def spark_path(path: str) -> str:
    """A local path made absolute (Spark's JVM resolves a relative one against its own
    working directory, not this process's); a URL (``hdfs://...``) as it is."""
    return path if "://" in path else os.path.abspath(path)


def read_frame(spark, path: str, fmt: str, num_features: int | None = None):
    """A Spark DataFrame of ``path``; FileNotFoundError / UsageError with the path, never
    a JVM trace."""
    if "://" not in path and not any(ch in path for ch in "*?[") and not os.path.exists(path):
        raise FileNotFoundError(f"no such file or directory: {path}")
    shown, path = path, spark_path(path)
    try:
        if fmt in ("csv", "tsv"):
            df = spark.read.csv(path, header=True, inferSchema=True,
                                sep="\t" if fmt == "tsv" else ",")
            from mli.table.io import check_text_header

            check_text_header(path, df.columns)
        elif fmt == "libsvm":
            reader = spark.read.format("libsvm")
            if num_features:
                reader = reader.option("numFeatures", str(num_features))
            df = reader.load(path)
        else:
            df = spark.read.parquet(path)
        df.schema  # noqa: B018 - resolve now (over Connect, errors come on first use)
    except UsageError:
        raise
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - a Spark reader error, shown in one line
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot read {shown} as {fmt}: {text}") from None
    return df


def feature_spec(df, fmt: str, label: str | None, features: str | None,
                 weight: str | None = None):
    """``featuresCol`` for the data: LibSVM's vector, the listed columns, or every numeric
    column but the label (and the weight column)."""
    from mli.table.frames import NUMERIC_SPARK

    if fmt == "libsvm":
        return "features"
    if label is not None and label not in df.columns:
        raise UsageError(f"--label {label!r} is not a column of the data; its columns are "
                         f"{df.columns}")
    if features:
        cols = [c.strip() for c in features.split(",") if c.strip()]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise UsageError(f"--features names column(s) {missing} that the data does not "
                             f"have; its columns are {df.columns}")
        return cols
    if weight is not None and weight not in df.columns:
        raise UsageError(f"--weight {weight!r} is not a column of the data; its columns are "
                         f"{df.columns}")
    cols = [f.name for f in df.schema.fields
            if f.name not in (label, weight) and type(f.dataType).__name__ in NUMERIC_SPARK]
    if not cols:
        raise UsageError(f"the data has no numeric feature columns besides the label; its "
                         f"columns are {df.columns}")
    return cols


# ============================================================================ metrics


def metrics(kind: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None = None,
            classes: np.ndarray | None = None) -> dict[str, float]:
    """Held-out metrics: classification (accuracy, macro precision/recall/F1, log loss and
    binary ROC AUC with probabilities) or regression (RMSE, MAE, R^2)."""
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if kind == "regression":
        err = pred - y
        ss = float(((y - y.mean()) ** 2).sum())
        return {"rmse": float(np.sqrt((err ** 2).mean())), "mae": float(np.abs(err).mean()),
                "r2": float(1 - (err ** 2).sum() / ss) if ss > 0 else float("nan")}
    labels = np.unique(np.concatenate([y, pred]))
    out = {"accuracy": float((y == pred).mean())}
    prec, rec, f1 = [], [], []
    for c in labels:
        tp = float(((pred == c) & (y == c)).sum())
        p = tp / max(float((pred == c).sum()), 1.0)
        r = tp / max(float((y == c).sum()), 1.0)
        prec.append(p)
        rec.append(r)
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    out.update(precision=float(np.mean(prec)), recall=float(np.mean(rec)),
               f1=float(np.mean(f1)))
    if proba is not None and classes is not None:
        idx = np.searchsorted(classes, y)
        known = (idx < len(classes)) & (classes[np.minimum(idx, len(classes) - 1)] == y)
        p_true = np.clip(proba[np.arange(len(y))[known], idx[known]], 1e-15, 1.0)
        out["log_loss"] = float(-np.log(p_true).mean()) if known.any() else float("nan")
        if len(classes) == 2 and known.all():
            out["roc_auc"] = _auc(y == classes[1], proba[:, 1])
    return out


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def print_metrics(title: str, values: dict[str, float], n: int) -> None:
    print(f"{title} ({n:,} rows)")
    for k, v in values.items():
        print(f"  {k:<10} {v:.4f}")


# ============================================================================ commands


def spark_context(args):
    import mli

    return mli.MLContext(remote=args.remote) if args.remote else mli.MLContext(args.master)


def model_kind(model) -> str:
    if getattr(model, "classes_", None) is not None:
        return "classification"
    if hasattr(model, "centers"):
        return "clustering"
    return "regression"


def scored(model, df, features, label: str | None):
    """(y, prediction, probability or None) of ``df``, collected to the driver."""
    from mli.interop.spark_ml import wrap
    from pyspark.ml.functions import vector_to_array

    kind = model_kind(model)
    cols = {"featuresCol": features, "rawPredictionCol": ""} if kind == "classification" \
        else {"featuresCol": features}
    out = wrap(model, **cols).transform(df)
    sel = [label] if label else []
    sel.append("prediction")
    with_proba = kind == "classification" and hasattr(model, "predict_proba")
    if with_proba:
        out = out.withColumn("probability", vector_to_array("probability"))
        sel.append("probability")
    pdf = out.select(*sel).toPandas()
    proba = np.vstack(pdf["probability"].to_numpy()) if with_proba and len(pdf) else None
    y = pdf[label].to_numpy(dtype=np.float64) if label else None
    return y, pdf["prediction"].to_numpy(dtype=np.float64), proba


def _train(args) -> int:
    from mli.interop.spark_ml import training_frame

    cls = algorithm_class(args.algorithm)
    params = parse_params(args.param or [], cls)
    if args.plot:
        require_matplotlib()
        if "callback" not in cls._param_names():
            raise UsageError(f"--plot draws the loss per iteration; {cls.__name__} does not "
                             "iterate (leave out --plot)")
    if not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    supervised = cls is not algorithms.KMeans
    if supervised and not args.label:
        raise UsageError(f"{cls.__name__} needs --label COLUMN (LibSVM's label is 'label')")
    required = [n for n in cls._param_names()
                if n not in cls._param_defaults() and n not in params]
    if required:
        raise UsageError(f"{cls.__name__} needs "
                         f"{' '.join(f'--param {n}=VALUE' for n in required)}")
    if args.weight and not cls._weights:
        raise UsageError(f"{cls.__name__} does not take row weights (leave out --weight)")
    est = cls(**params)
    est._validate()  # bad --param values before Spark starts
    fmt = data_format(args.data, args.format)
    label = (args.label or "label") if supervised else None
    excluded = args.label if not supervised else label  # KMeans: --label is left out
    if args.out and os.path.exists(args.out) and not args.overwrite:
        raise UsageError(f"--out {args.out} exists; pass --overwrite to replace it")
    with spark_context(args) as ctx:
        df = read_frame(ctx.spark, args.data, fmt)
        features = feature_spec(df, fmt, excluded, args.features, args.weight)
        if isinstance(features, list):  # (the whole file, whichever side of the split)
            check_complete(df, [*features, label, args.weight], args.data)
        if args.test_fraction > 0:
            train_df, test_df = df.randomSplit([1 - args.test_fraction, args.test_fraction],
                                               seed=args.seed)
        else:
            train_df, test_df = df, None
        frame, names = training_frame(train_df, features, label, cls.__name__, args.weight)
        history: list[tuple[int, float, float]] = []
        if "callback" in cls._param_names():
            def progress(it, loss, secs):
                history.append((it, loss, secs))
                print(f"  iteration {it:3d}  loss {loss:.6f}  {secs:7.2f} s", flush=True)
            est = est.set_params(callback=progress)
        print(f"mli train: {cls.__name__} on {args.data} ({fmt}), "
              f"{len(names)} features, label {label!r}"
              + (f", weights {args.weight!r}" if args.weight else "")
              + f"; Spark {ctx.master_url}", flush=True)
        t = time.perf_counter()
        model = est.fit(frame, label=label, sample_weight=args.weight)
        print(f"fitted in {time.perf_counter() - t:.1f} s"
              + (f" ({model.n_iter} iterations)" if hasattr(model, "n_iter") else ""))
        if test_df is not None and supervised:
            y, pred, proba = scored(model, test_df, features, label)
            print_metrics(f"held-out metrics, {args.test_fraction:.0%} of the rows",
                           metrics(model_kind(model), y, pred, proba,
                                   getattr(model, "classes_", None)), len(y))
        elif not supervised:
            print(f"  inertia    {model.inertia_:.4f} (training rows)")
        if args.out:
            model.save(args.out, overwrite=args.overwrite)
            print(f"model saved to {args.out} (load it with mli.load, or mli evaluate / "
                  "mli predict)")
    if args.plot:
        _plot_history(history, cls.__name__, args.plot)
        print(f"loss curve written to {args.plot}")
    return 0


def _evaluate(args) -> int:
    import mli

    if args.plot:
        require_matplotlib()
    fmt = data_format(args.data, args.format)
    with spark_context(args) as ctx:
        model = mli.load(args.model)
        kind = model_kind(model)
        if kind == "clustering":
            raise UsageError("mli evaluate needs a classifier or a regressor; this model is "
                             "KMeans (use mli predict)")
        df = read_frame(ctx.spark, args.data, fmt, num_features=model.n_features)
        features = _usable_features(model, df, fmt, args.label, args.data)
        y, pred, proba = scored(model, df, features, args.label)
        print_metrics(f"mli evaluate: {type(model).__name__} on {args.data}",
                       metrics(kind, y, pred, proba, getattr(model, "classes_", None)), len(y))
    if args.plot:
        _plot_evaluation(kind, y, pred, getattr(model, "classes_", None), args.plot)
        print(f"{'confusion matrix' if kind == 'classification' else 'predicted vs true'} "
              f"written to {args.plot}")
    return 0


def check_complete(df, columns, path: str) -> None:
    """One job: refuse a null (missing value) in any of ``columns``, naming the column and
    how many rows, before any fit or scoring sees it."""
    from pyspark.sql import functions as F

    columns = [c for c in dict.fromkeys(columns) if c is not None]
    if not columns:
        return
    counts = df.select(*[F.sum(F.col(c).isNull().cast("long")).alias(f"n{j}")
                         for j, c in enumerate(columns)]).first()
    for j, c in enumerate(columns):
        n = int(counts[f"n{j}"] or 0)
        if n:
            raise UsageError(f"{path}: column {c!r} has {n:,} missing (empty or null) "
                             f"value{'s' if n > 1 else ''}; fill or drop those rows first")


def _model_features(model, df, fmt: str, label: str | None):
    if label is not None and label not in df.columns:
        raise UsageError(f"--label {label!r} is not a column of the data; its columns are "
                         f"{df.columns}")
    if fmt == "libsvm":
        return "features"
    names = list(model.feature_names or ())
    generated = names == [f"x{j}" for j in range(model.n_features)]
    if names and not generated:
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise UsageError(f"the data lacks feature column(s) {missing} that the model was "
                             f"trained on; its columns are {df.columns}")
        return names
    return feature_spec(df, fmt, label, None)


def _usable_features(model, df, fmt: str, label: str | None, path: str):
    """The model's feature columns in ``df``, checked for missing values (with the label)."""
    features = _model_features(model, df, fmt, label)
    if isinstance(features, list):
        check_complete(df, [*features, label], path)
    return features


def _predict(args) -> int:
    import mli
    from pyspark.ml.functions import vector_to_array

    from mli.interop.spark_ml import wrap

    fmt = data_format(args.data, args.format)
    out_fmt = args.out_format or _EXTENSIONS.get(os.path.splitext(args.out.rstrip("/"))[1])
    if out_fmt not in ("csv", "parquet"):
        raise UsageError(f"--out must end in .csv or .parquet (or pass --out-format), got "
                         f"{args.out}")
    if os.path.exists(args.out) and not args.overwrite:
        raise UsageError(f"--out {args.out} exists; pass --overwrite to replace it")
    with spark_context(args) as ctx:
        model = mli.load(args.model)
        df = read_frame(ctx.spark, args.data, fmt, num_features=model.n_features)
        features = _usable_features(model, df, fmt, None, args.data)
        kind = model_kind(model)
        cols = {"featuresCol": features}
        if kind == "classification":
            cols["rawPredictionCol"] = ""
        scored = wrap(model, **cols).transform(df)
        if kind == "classification" and hasattr(model, "predict_proba"):
            arr = vector_to_array("probability")
            scored = scored.select("*", *[arr[j].alias(f"p_{c:g}")
                                          for j, c in enumerate(model.classes_)]) \
                .drop("probability")
        vectors = [f.name for f in scored.schema.fields
                   if type(f.dataType).__name__ == "VectorUDT"]
        if vectors and out_fmt == "csv":
            scored = scored.drop(*vectors)       # CSV holds no vectors
        writer = scored.write.mode("overwrite") if args.overwrite else scored.write
        out = spark_path(args.out)
        (writer.option("header", "true").csv(out) if out_fmt == "csv"
         else writer.parquet(out))
        n = ctx.spark.read.parquet(out).count() if out_fmt == "parquet" else \
            ctx.spark.read.option("header", "true").csv(out).count()
    print(f"mli predict: {n:,} rows with predictions written to {args.out} ({out_fmt})")
    return 0


# ============================================================================ plots


def _plot_history(history, name: str, path: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot([h[0] for h in history], [h[1] for h in history], marker="o", ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.set_title(f"{name}: loss per iteration")
    ax.grid(alpha=0.3)
    _save(fig, plt, path)


def _plot_evaluation(kind: str, y, pred, classes, path: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    if kind == "classification":
        labels = np.unique(np.concatenate([y, pred]))
        m = np.zeros((len(labels), len(labels)), dtype=int)
        np.add.at(m, (np.searchsorted(labels, y), np.searchsorted(labels, pred)), 1)
        ax.imshow(m, cmap="Blues")
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8)
        ticks = [f"{c:g}" for c in labels]
        ax.set_xticks(range(len(labels)), ticks)
        ax.set_yticks(range(len(labels)), ticks)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title("confusion matrix")
    else:
        ax.scatter(y, pred, s=6, alpha=0.5)
        lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title("predicted vs true")
    _save(fig, plt, path)


def _save(fig, plt, path: str) -> None:
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise UsageError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


# ============================================================================ parsers


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, help="the data's format (default: from its "
                                                     "extension)")
    p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    p.add_argument("--remote", metavar="sc://HOST:PORT", help="a Spark Connect server instead")


def add_parsers(sub) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the ``mli`` command's subparsers."""
    t = sub.add_parser("train", help="fit an algorithm on a data file and save the model",
                       description=__doc__.split("\n\n")[0])
    t.add_argument("data", help="CSV/TSV (with a header), LibSVM or Parquet; any Spark path")
    t.add_argument("--label", help="the label column (LibSVM: label; kmeans: a column to "
                                   "leave out of the features)")
    t.add_argument("--algorithm", required=True, help=", ".join(sorted(ALGORITHMS)))
    t.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a hyperparameter, repeatable (e.g. --param reg=0.01)")
    t.add_argument("--features", help="comma-separated feature columns (default: every "
                                      "numeric column but the label)")
    t.add_argument("--weight", metavar="COLUMN", help="a column of row weights (>= 0; a "
                   "row of weight 2 counts twice); not a feature")
    t.add_argument("--test-fraction", type=float, default=0.2,
                   help="rows held out for the metrics (default 0.2; 0: none)")
    t.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    t.add_argument("--out", help="directory to save the model in")
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    t.add_argument("--plot", metavar="FILE.png", help="the loss per iteration (matplotlib)")
    common_args(t)
    t.set_defaults(func=cli_command(_train))

    e = sub.add_parser("evaluate", help="metrics of a saved model on a labeled data file")
    e.add_argument("model", help="a model saved by mli train or Model.save")
    e.add_argument("data")
    e.add_argument("--label", default="label", help="the label column (default label)")
    e.add_argument("--plot", metavar="FILE.png",
                   help="confusion matrix / predicted vs true (matplotlib)")
    common_args(e)
    e.set_defaults(func=cli_command(_evaluate))

    p = sub.add_parser("predict", help="write a data file with a saved model's predictions")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--out", required=True, help="output path, .csv or .parquet (a Spark "
                                                "output directory)")
    p.add_argument("--out-format", choices=("csv", "parquet"))
    p.add_argument("--overwrite", action="store_true")
    common_args(p)
    p.set_defaults(func=cli_command(_predict))


def cli_command(fn):
    def run(args) -> int:
        try:
            return fn(args)
        except UsageError as exc:
            print(f"mli {args.command}: error: {exc}", file=sys.stderr)
            return 2
    return run
