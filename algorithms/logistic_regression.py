"""Logistic regression (binary and multinomial) on the MLI optimizer API.

Objective: mean log-loss + reg * ((1 - l1_ratio) / 2 * ||w||^2 + l1_ratio * ||w||_1),
intercept not regularized, no hidden standardization. Equivalent to scikit-learn's
``LogisticRegression(C=1 / (reg * n_samples))`` (L2) and to pyspark.ml's
``LogisticRegression(regParam=reg, elasticNetParam=l1_ratio, standardization=False)``.
"""
from __future__ import annotations


from mli.models.classifier import ProbabilisticClassifierModel
from mli.models.linear import LinearAlgorithm, LinearClassifierModel
from mli.optimize import LogisticLoss, MultinomialLogisticLoss
from mli.core.params import Options, Param

__all__ = ["LogisticRegression", "LogisticRegressionModel"]


class LogisticRegression(LinearAlgorithm):
    """Logistic regression, binary or multinomial (softmax).

    Parameters
    ----------
    reg : float, default 0.0
        Regularization strength.
    l1_ratio : float in [0, 1], default 0.0
        Elastic-net mix: 0 is ridge (L2), 1 is lasso (L1).
    max_iter : int, default 100
    tol : float, default 1e-6
        Gradient tolerance of the optimizer (for "cocoa": the relative model change per
        round).
    fit_intercept : bool, default True
    solver : {"auto", "newton", "lbfgs", "owlqn", "gd", "fista", "sgd", "cocoa"}, default "auto"
        "auto": OWL-QN when the L1 part is non-zero; else Newton's method (the Hessian in
        the same pass, a handful of passes) for binary problems with at most
        ``mli.optimize.NEWTON_MAX_PARAMS`` parameters; else L-BFGS. "cocoa": CoCoA+, a local
        dual solver per partition with the updates added, few rounds (Spark jobs) when
        passes are expensive; binary only, needs ``reg * (1 - l1_ratio) > 0``.
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

    solver = Param("auto", Options({"auto", "newton", "lbfgs", "owlqn", "gd", "fista", "sgd",
                                    "cocoa"}))

    def _loss(self, n_classes):
        return LogisticLoss() if n_classes == 2 else MultinomialLogisticLoss(n_classes)

    def _model(self, coef, intercept, classes, n_iter, converged):
        return LogisticRegressionModel(coef, intercept, classes, n_iter=n_iter,
                                       converged=converged)

    def _fit(self, data):
        coef, intercept, classes, result = self._fit_classifier(data, self._loss)
        return self._model(coef, intercept, classes, result.n_iter, result.converged)


class LogisticRegressionModel(LinearClassifierModel, ProbabilisticClassifierModel):
    """A fitted logistic regression: ``coef_`` (1 or K, d), ``intercept_``, ``classes_``;
    ``predict_proba`` and ``predict_log_proba`` (a softmax of the class scores)."""

    _registry_name = "mli.LogisticRegressionModel"
