"""Logistic regression (binary and multinomial) on the MLI optimizer API.

Objective: mean log-loss + reg * ((1 - l1_ratio) / 2 * ||w||^2 + l1_ratio * ||w||_1),
intercept not regularized, no hidden standardization. Equivalent to scikit-learn's
``LogisticRegression(C=1 / (reg * n_samples))`` (L2) and to pyspark.ml's
``LogisticRegression(regParam=reg, elasticNetParam=l1_ratio, standardization=False)``.
"""
from __future__ import annotations

import numpy as np

from mli.base import Algorithm, Model
from mli.labels import encode, find_classes
from mli.optimize import LogisticLoss, MultinomialLogisticLoss, minimize
from mli.params import Interval, Options

__all__ = ["LogisticRegression", "LogisticRegressionModel"]


class LogisticRegression(Algorithm):
    """Logistic regression, binary or multinomial (softmax).

    Parameters
    ----------
    reg : float, default 0.0
        Regularization strength.
    l1_ratio : float in [0, 1], default 0.0
        Elastic-net mix: 0 is ridge (L2), 1 is lasso (L1).
    max_iter : int, default 100
    tol : float, default 1e-6
        Gradient tolerance of the optimizer.
    fit_intercept : bool, default True
    solver : {"auto", "lbfgs", "owlqn", "gd", "sgd"}, default "auto"
        "auto": L-BFGS, or OWL-QN when the L1 part is non-zero.
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> model = LogisticRegression(reg=0.01).fit(X, y)       # doctest: +SKIP
    >>> model.predict(np.array([[0.2], [2.8]]))               # doctest: +SKIP
    array([0., 1.])
    """

    _constraints = {
        "reg": Interval(float, 0, None, closed="left"),
        "l1_ratio": Interval(float, 0, 1, closed="both"),
        "max_iter": Interval(int, 1, None, closed="left"),
        "tol": Interval(float, 0, None, closed="left"),
        "fit_intercept": [bool],
        "solver": Options({"auto", "lbfgs", "owlqn", "gd", "sgd"}),
        "callback": [None, "callable"],
    }

    def __init__(self, reg=0.0, l1_ratio=0.0, max_iter=100, tol=1e-6, fit_intercept=True,
                 solver="auto", callback=None):
        self.reg = reg
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.callback = callback

    def _fit(self, data):
        classes = find_classes(data, type(self).__name__)
        k = len(classes)
        loss = LogisticLoss() if k == 2 else MultinomialLogisticLoss(k)
        result = minimize(loss, encode(data, classes).blocks, reg=self.reg,
                          l1_ratio=self.l1_ratio, fit_intercept=self.fit_intercept,
                          method=self.solver, max_iter=self.max_iter, tol=self.tol,
                          callback=self.callback, n_features=data.num_features)
        w, b = result.objective.unpack(result.x)
        coef = np.atleast_2d(np.asarray(w).T)            # (1, d) binary, (K, d) multinomial
        intercept = np.atleast_1d(np.asarray(b, dtype=np.float64))
        return LogisticRegressionModel(coef, intercept, classes, n_iter=result.n_iter)

    @classmethod
    def _conformance_data(cls):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 4))
        y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(300) > 0) * 3.0
        return {"X": X, "y": y, "estimator": cls(reg=0.01, tol=1e-8), "rtol": 1e-4}


class LogisticRegressionModel(Model):
    """A fitted logistic regression: ``coef_`` (1 or K, d), ``intercept_``, ``classes_``."""

    _arrays = ("coef_", "intercept_", "classes_")
    _attributes = ("n_iter",)
    _registry_name = "mli.LogisticRegressionModel"

    def __init__(self, coef, intercept, classes, n_iter=0):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.classes_ = np.asarray(classes, dtype=np.float64)
        self.n_iter = int(n_iter)
        super().__init__(n_features=self.coef_.shape[1])

    def decision_function(self, data):
        """Margins: 1-D for binary, (n, K) for multinomial."""
        if self.coef_.shape[0] == 1:
            return self._apply(data, self._margin_block, "margin")
        return self._apply(data, self._margin_block, [f"margin_{c:g}" for c in self.classes_])

    def predict_proba(self, data):
        """Class probabilities, one column per class in ``classes_`` order."""
        return self._apply(data, self._proba_block, [f"p_{c:g}" for c in self.classes_])

    def _margin_block(self, X):
        z = X @ self.coef_.T + self.intercept_
        return z.ravel() if self.coef_.shape[0] == 1 else z

    def _proba_block(self, X):
        z = X @ self.coef_.T + self.intercept_
        if self.coef_.shape[0] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z.ravel()))
            return np.column_stack([1.0 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def _predict_block(self, X):
        z = X @ self.coef_.T + self.intercept_
        idx = (z.ravel() > 0).astype(int) if self.coef_.shape[0] == 1 else np.argmax(z, axis=1)
        return self.classes_[idx]
