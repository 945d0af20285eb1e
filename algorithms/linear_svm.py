"""Linear support vector machine (hinge loss) on the MLI optimizer API.

Objective: mean hinge loss ``max(0, 1 - s (x.w + b))`` (``s = +1`` for the larger class,
``-1`` for the smaller) + reg * ((1 - l1_ratio) / 2 * ||w||^2 + l1_ratio * ||w||_1),
intercept not regularized, no hidden standardization. With ``l1_ratio=0`` this is
scikit-learn's ``SVC(kernel="linear", C=1 / (reg * n_samples))`` (solved exactly by
``solver="cocoa"``) and pyspark.ml's ``LinearSVC(regParam=reg, standardization=False)``
(solved as it does by the default quasi-Newton solver).
"""
from __future__ import annotations


from mli.models.linear import LinearAlgorithm, LinearClassifierModel
from mli.optimize import HingeLoss
from mli.core.params import Options, Param

__all__ = ["LinearSVM", "LinearSVMModel"]


class LinearSVM(LinearAlgorithm):
    """Binary linear SVM with L2, L1 or elastic-net regularization.

    Parameters
    ----------
    reg : float, default 0.0
        Regularization strength (use a positive value: without it the hinge loss of
        separable data has no minimum).
    l1_ratio : float in [0, 1], default 0.0
        Elastic-net mix: 0 is L2, 1 is L1.
    max_iter : int, default 100
        Rounds (Spark jobs) of CoCoA+, iterations of the other solvers.
    tol : float, default 1e-6
        CoCoA+: the relative change of the model in a round; else as in
        :func:`mli.optimize.minimize`.
    fit_intercept : bool, default True
    solver : {"auto", "lbfgs", "owlqn", "cocoa", "gd", "fista", "sgd"}, default "auto"
        "auto": "lbfgs" without an L1 term, else "owlqn": quasi-Newton steps on the hinge's
        subgradient (pyspark.ml's method; fast, but approximate on a non-smooth objective).
        "cocoa": CoCoA+, exact dual coordinate ascent per partition (needs ``reg * (1 -
        l1_ratio) > 0``; scikit-learn's ``SVC`` solution to 1e-4 with one partition, fewer
        rounds than passes of the others, many rounds for high accuracy with several
        partitions and unscaled features).
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration.

    Raises
    ------
    ValueError
        At fit, when the labels are not exactly two classes.

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import LinearSVM
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> model = LinearSVM(reg=0.01).fit(X, y)                   # doctest: +SKIP
    >>> model.predict(np.array([[0.2], [2.8]]))                 # doctest: +SKIP
    array([0., 1.])
    """

    solver = Param("auto", Options({"auto", "lbfgs", "owlqn", "cocoa", "gd", "fista", "sgd"}))

    _max_classes = 2

    def _loss(self, n_classes):
        return HingeLoss()

    def _model(self, coef, intercept, classes, n_iter, converged):
        return LinearSVMModel(coef, intercept, classes, n_iter=n_iter, converged=converged)

    def _fit(self, data):
        coef, intercept, classes, result = self._fit_classifier(data, self._loss,
                                                                max_classes=2)
        return self._model(coef, intercept, classes, result.n_iter, result.converged)


class LinearSVMModel(LinearClassifierModel):
    """A fitted linear SVM: ``coef_`` (1, d), ``intercept_`` (1,), ``classes_`` (2,);
    ``decision_function`` gives the margins (positive: ``classes_[1]``)."""

    _registry_name = "mli.LinearSVMModel"
