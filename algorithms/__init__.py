"""Algorithms written against the MLI API (one module per algorithm)."""
from .logistic_regression import LogisticRegression, LogisticRegressionModel

__all__ = ["LogisticRegression", "LogisticRegressionModel"]
