"""Validation metrics of the search: many models scored in one pass over the validation
blocks.

Each metric is a few sums per model over the rows (weighted by the rows' weights when the
data has them), added across blocks, and a final formula on the driver:

=========  ==============  ===================  =================================
metric     task            better               sums
=========  ==============  ===================  =================================
accuracy   classification  greater              correct
logloss    classification  smaller              -log p(label) (probabilistic models)
rmse       regression      smaller              squared errors
mae        regression      smaller              absolute errors
r2         regression      greater              squared errors, y, y^2
inertia    clustering      smaller              squared distances to the nearest
                                                center (the mean is reported)
=========  ==============  ===================  =================================

Recommendation (ALS) is scored by ``rmse`` or ``mae`` of the validation ratings whose user
and item the model knows (:func:`score_ratings`, on the driver).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mli.engine.blocks import tree_add
from mli.table.mltable import row_weights

__all__ = ["METRICS", "Metric", "score_many", "score_ratings", "check_metric"]

#: -log of the smallest probability a logloss counts (a label outside the model's classes)
LOG_FLOOR = -np.log(1e-15)


class Metric(NamedTuple):
    name: str
    tasks: tuple
    greater_is_better: bool


METRICS = {
    "accuracy": Metric("accuracy", ("classification",), True),
    "logloss": Metric("logloss", ("classification",), False),
    "rmse": Metric("rmse", ("regression", "recommendation"), False),
    "mae": Metric("mae", ("regression", "recommendation"), False),
    "r2": Metric("r2", ("regression",), True),
    "inertia": Metric("inertia", ("clustering",), False),
}

#: the default metric of each task
DEFAULT = {"classification": "accuracy", "regression": "rmse", "recommendation": "rmse",
           "clustering": "inertia"}


def check_metric(metric: str | None, task: str) -> Metric:
    """The :class:`Metric` named ``metric`` (the task's default for None), or ValueError."""
    if metric is None:
        return METRICS[DEFAULT[task]]
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; the search knows "
                         f"{', '.join(sorted(METRICS))}")
    m = METRICS[metric]
    if task not in m.tasks:
        names = sorted(k for k, v in METRICS.items() if task in v.tasks)
        raise ValueError(f"metric {metric!r} is for {' and '.join(m.tasks)}, not {task}; for "
                         f"{task} use one of {', '.join(names)}")
    return m


def score_ratings(models: list, valid, metric: Metric) -> list[float]:
    """``metric`` (rmse, mae) of recommendation models on the validation ratings ``valid``
    ``(users, items, ratings)`` (on the driver), over the pairs whose user and item each
    model knows (pyspark.ml's ``coldStartStrategy="drop"``)."""
    users, items, ratings = valid
    pairs = np.column_stack([users, items])
    out = []
    for m in models:
        pred = np.asarray(m.predict(pairs, cold_start="nan"), dtype=np.float64)
        known = np.isfinite(pred)
        if not known.any():
            out.append(float("nan"))
            continue
        err = pred[known] - ratings[known]
        out.append(float(np.sqrt(np.mean(err * err))) if metric.name == "rmse"
                   else float(np.mean(np.abs(err))))
    return out


def _sums(model, X, y, sw, metric: str) -> np.ndarray:
    """One model's sums on one block."""
    if metric == "logloss":
        logp = model._log_proba_block(X)
        idx = np.clip(np.searchsorted(model.classes_, y), 0, len(model.classes_) - 1)
        known = model.classes_[idx] == y
        loss = np.where(known, -logp[np.arange(len(y)), idx], LOG_FLOOR)
        return np.array([sw @ np.minimum(loss, LOG_FLOOR)])
    if metric == "inertia":
        from mli.models.clustering_kernels import nearest

        return np.array([sw @ nearest(X, model.centers)[1]])
    pred = np.asarray(model._predict_block(X), dtype=np.float64)
    if metric == "accuracy":
        return np.array([sw @ (pred == y)])
    err = pred - y
    if metric == "mae":
        return np.array([sw @ np.abs(err)])
    return np.array([sw @ (err * err), sw @ y, sw @ (y * y)])


def _score_kernel(bundle, models, metric: str, tiebreak: bool = False):
    X = bundle[0]
    y = None if metric == "inertia" else np.asarray(bundle[1], dtype=np.float64)
    sw = row_weights(bundle)
    sw = np.ones(X.shape[0]) if sw is None else np.asarray(sw, dtype=np.float64)
    if tiebreak:  # (the accuracy's sums, then the logloss')
        return [np.concatenate([_sums(m, X, y, sw, metric), _sums(m, X, y, sw, "logloss")])
                for m in models], float(sw.sum())
    return [_sums(m, X, y, sw, metric) for m in models], float(sw.sum())


def _finish(sums: np.ndarray, total: float, metric: str) -> float:
    if metric in ("accuracy", "logloss", "mae", "inertia"):
        return float(sums[0] / total)
    sse = sums[0]
    if metric == "rmse":
        return float(np.sqrt(sse / total))
    mean = sums[1] / total
    sst = sums[2] - total * mean * mean
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def score_many(models: list, blocks, metric: Metric, tiebreak: bool = False) -> list:
    """``metric`` of every model on the validation ``blocks`` (one pass for all).

    ``tiebreak``: ``(metric, logloss)`` pairs instead, for accuracy when every model has
    class probabilities (a continuous second key that ranks the many ties of an accuracy
    on a validation split; ``(metric, None)`` otherwise)."""
    if not models:
        return []
    if tiebreak:
        finer = metric.name == "accuracy" and all(hasattr(m, "_log_proba_block")
                                                  for m in models)
        if not finer:
            return [(v, None) for v in score_many(models, blocks, metric)]
        sums, total = blocks.map_reduce(_score_kernel, models, metric.name, True,
                                        combine=tree_add)
        if not total > 0:
            raise ValueError("the validation data has no rows (or all weigh 0)")
        return [(_finish(s[:-1], total, metric.name), float(s[-1] / total)) for s in sums]
    if metric.name == "logloss":
        for m in models:
            if not hasattr(m, "_log_proba_block"):
                raise ValueError(f"metric 'logloss' needs class probabilities; "
                                 f"{type(m).__name__} has none (use metric='accuracy')")
    sums, total = blocks.map_reduce(_score_kernel, models, metric.name, combine=tree_add)
    if not total > 0:
        raise ValueError("the validation data has no rows (or all weigh 0)")
    return [_finish(s, total, metric.name) for s in sums]
