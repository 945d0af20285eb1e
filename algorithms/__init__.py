"""Algorithms written against the MLI API, one module per algorithm.

``from mli.algorithms import ALS, LogisticRegression, ...``: names are resolved lazily from
their modules, so importing one algorithm does not import (or compile kernels of) the others.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "LogisticRegression": "logistic_regression",
    "LogisticRegressionModel": "logistic_regression",
    "LinearSVM": "linear_svm",
    "LinearSVMModel": "linear_svm",
    "LinearRegression": "linear_regression",
    "LinearRegressionModel": "linear_regression",
    "KMeans": "kmeans",
    "KMeansModel": "kmeans",
    "NaiveBayes": "naive_bayes",
    "NaiveBayesModel": "naive_bayes",
    "DecisionTree": "decision_tree",
    "DecisionTreeModel": "decision_tree",
    "RandomForest": "random_forest",
    "RandomForestModel": "random_forest",
    "ALS": "als",
    "ALSModel": "als",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mli.algorithms' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def import_all() -> None:
    """Import every module of the package, so each class registers itself
    (:mod:`mli.core.registry` calls this, as the package's ``mli.registry`` entry point)."""
    for module in sorted(set(_EXPORTS.values())):
        importlib.import_module(f"{__name__}.{module}")


def __dir__():
    return __all__
