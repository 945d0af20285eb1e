"""What the linear models share: hyperparameters, the fit through :mod:`mli.optimize`, the
fitted model (``coef_``, ``intercept_``, margins, class predictions).

Used by :class:`~mli.algorithms.LogisticRegression`, :class:`~mli.algorithms.LinearSVM` and
:class:`~mli.algorithms.LinearRegression`. A linear algorithm is then its loss, its solver
choice and its model class::

    class LinearSVM(LinearAlgorithm):
        solver = Param("auto", Options({"auto", "cocoa", "owlqn", ...}))  # its solvers

        def _loss(self, n_classes):
            return HingeLoss()

        def _model(self, coef, intercept, classes, n_iter, converged):
            return LinearSVMModel(coef, intercept, classes, n_iter=n_iter,
                                  converged=converged)

        def _fit(self, data):
            coef, intercept, classes, result = self._fit_classifier(data, self._loss,
                                                                    max_classes=2)
            return self._model(coef, intercept, classes, result.n_iter, result.converged)

The same two methods give the ML Optimizer (:mod:`mli.search`) its partial fits: L-BFGS
(OWL-QN with an L1 term) resumed from its state, the configurations of one search batch in
the same passes (:func:`mli.optimize.minimize_many`).

Objective (all of them): ``mean loss + reg * ((1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1)``,
intercept not regularized, features used as given (no hidden standardization).

Least squares can also be solved from the data's moments: :func:`normal_equations` gives the
``d x d`` system of one pass, for any solver on the driver::

    ne = normal_equations(data.blocks)      # one Spark job; (X, y, w) bundles: weighted
    coef = scipy.linalg.solve(ne.gram + l2 * np.eye(d), ne.xty, assume_a="pos")
    intercept = ne.intercept(coef)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from mli.core.base import Algorithm, Model
from mli.errors import warn_not_converged
from mli.models.classifier import ClassifierModel
from mli.table.labels import encode, find_classes
from mli.engine.onepass import one_pass
from mli.core.params import Interval, Options, Param
from mli.stats.moments import merge, moments
from mli.optimize import minimize, minimize_many

__all__ = ["LinearAlgorithm", "LinearModel", "LinearClassifierModel", "NormalEquations",
           "PartialSetup", "normal_equations"]


class LinearAlgorithm(Algorithm):
    """Base class of the linear models (not an algorithm itself).

    Parameters
    ----------
    reg : float, default 0.0
        Regularization strength.
    l1_ratio : float in [0, 1], default 0.0
        Elastic-net mix: 0 is ridge (L2), 1 is lasso (L1).
    max_iter : int, default 100
        Iterations (rounds, epochs) of the solver.
    tol : float, default 1e-6
        Tolerance of the solver (see :func:`mli.optimize.minimize`).
    fit_intercept : bool, default True
    solver : str, default "auto"
        A method of :func:`mli.optimize.minimize`; each subclass lists its own.
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration; ``True`` stops.
    """

    _abstract = True
    _weights = True  # every solver but "cocoa" and "sgd" weights the rows' losses
    reg = Param(0.0, Interval(float, 0, None, closed="left"))
    l1_ratio = Param(0.0, Interval(float, 0, 1, closed="both"))
    max_iter = Param(100, Interval(int, 1, None, closed="left"))
    tol = Param(1e-6, Interval(float, 0, None, closed="left"))
    fit_intercept = Param(True, [bool])
    solver = Param("auto", Options({"auto", "lbfgs", "owlqn", "gd", "fista", "sgd", "cocoa"}))
    callback = Param(None, [None, "callable"])

    @property
    def _l2(self) -> float:
        return float(self.reg) * (1.0 - float(self.l1_ratio))

    def _minimize(self, loss, data, method: str | None = None, **options):
        """Run :func:`mli.optimize.minimize` with these hyperparameters.

        Returns ``(coef, intercept, result)`` with ``coef`` of shape ``(outputs, d)`` and
        ``intercept`` of shape ``(outputs,)``.
        """
        if data.weighted and (method or self.solver) in ("cocoa", "sgd"):
            raise ValueError(f"{type(self).__name__}(solver={method or self.solver!r}) does not "
                             "take sample_weight; use solver='auto' (or 'lbfgs', 'owlqn')")
        result = minimize(loss, data.blocks, reg=self.reg, l1_ratio=self.l1_ratio,
                          fit_intercept=self.fit_intercept, method=method or self.solver,
                          max_iter=self.max_iter, tol=self.tol, callback=self.callback,
                          n_features=data.num_features, **options)
        if not result.converged and "callback" not in result.message:
            warn_not_converged(type(self).__name__, result.n_iter, self.max_iter, result.message)
        return (*_coef_intercept(result), result)

    # -- partial fits (the ML Optimizer, mli.search): L-BFGS / OWL-QN resumed from their
    # state, the configurations of one batch in the same passes (minimize_many)
    _resumable = True
    #: "classification" (labels are classes, found and encoded once) or "regression"
    _task = "classification"
    _max_classes: int | None = None

    def _loss(self, n_classes: int | None):  # pragma: no cover - each subclass
        """The loss for ``n_classes`` classes (None: regression)."""
        raise NotImplementedError

    def _model(self, coef, intercept, classes, n_iter: int, converged):  # pragma: no cover
        """The fitted model of ``coef`` ``(outputs, d)``, ``intercept`` and ``classes``."""
        raise NotImplementedError

    def _partial_setup(self, data) -> PartialSetup:
        classes = None
        if self._task == "classification":
            classes = find_classes(data, type(self).__name__, max_classes=self._max_classes)
            data = encode(data, classes)
        return PartialSetup(data, classes,
                            self._loss(None if classes is None else len(classes)))

    def _partial_key(self):
        return (type(self), bool(self.fit_intercept), self._partial_method())

    def _partial_params(self) -> dict:
        return {"solver": self._partial_method()}

    def _partial_method(self) -> str:
        return "owlqn" if self.reg * self.l1_ratio > 0 else "lbfgs"

    @classmethod
    def _partial_fit_many(cls, setup: PartialSetup, algorithms, states, passes: int) -> list:
        first = algorithms[0]
        configs = [{"reg": float(a.reg), "l1_ratio": float(a.l1_ratio), "tol": float(a.tol)}
                   for a in algorithms]
        return minimize_many(setup.loss, setup.data.blocks, configs,
                             fit_intercept=first.fit_intercept,
                             method=first._partial_method(), max_iter=int(passes),
                             n_features=setup.data.num_features,
                             warm_starts=[None if s is None else s.state for s in states],
                             errors="return")

    def _partial_model(self, setup: PartialSetup, state) -> Model:
        coef, intercept = _coef_intercept(state)
        return self._model(coef, intercept, setup.classes, state.state.inner.iteration,
                           state.converged)

    def _fit_classifier(self, data, loss: Callable, *, max_classes: int | None = None,
                        method: str | None = None):
        """Find the classes (one pass), encode the labels 0..K-1 and minimize.

        ``loss(n_classes)`` gives the loss. Returns ``(coef, intercept, classes, result)``.
        """
        classes = find_classes(data, type(self).__name__, max_classes=max_classes)
        coef, intercept, result = self._minimize(loss(len(classes)), encode(data, classes),
                                                 method)
        return coef, intercept, classes, result


def _coef_intercept(result) -> tuple[np.ndarray, np.ndarray]:
    """An optimizer result's ``coef`` ``(outputs, d)`` and ``intercept`` ``(outputs,)``."""
    w, b = result.objective.unpack(result.x)
    return (np.atleast_2d(np.asarray(w, dtype=np.float64).T),
            np.atleast_1d(np.asarray(b, dtype=np.float64)))


class PartialSetup(NamedTuple):
    """What the configurations of a linear algorithm share in a search: the (encoded)
    training data, its classes (None: regression) and the loss."""

    data: Any
    classes: Optional[np.ndarray]
    loss: Any


class LinearModel(Model):
    """A fitted linear model: ``coef_`` of shape ``(outputs, d)`` (or ``(d,)``) and
    ``intercept_``; :meth:`decision_function` gives ``X @ coef_.T + intercept_``."""

    _arrays = ("coef_", "intercept_")
    _attributes = ("n_iter", "converged")
    _added_attributes = {"converged": None}  # None: saved before it was recorded

    def __init__(self, coef, intercept, n_iter=0, converged=None):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.n_iter = int(n_iter)
        self.converged = None if converged is None else bool(converged)
        super().__init__(n_features=self.coef_.shape[-1])

    #: iterations of the solver (scikit-learn's name)
    n_iter_ = property(lambda self: self.n_iter)
    #: whether the solver met its tolerance before ``max_iter`` (None: not recorded)
    converged_ = property(lambda self: self.converged)

    def decision_function(self, data):
        """Margins ``X @ coef_.T + intercept_``: 1-D for one output, else one column each."""
        if self.coef_.ndim == 1 or self.coef_.shape[0] == 1:
            return self._apply(data, self._margin_block, "margin")
        return self._apply(data, self._margin_block,
                           [f"margin_{c:g}" for c in getattr(self, "classes_", range(len(
                               self.coef_)))])

    def _margin_block(self, X):
        z = X @ self.coef_.T + self.intercept_
        return z.ravel() if self.coef_.ndim == 1 or self.coef_.shape[0] == 1 else z


class LinearClassifierModel(LinearModel, ClassifierModel):
    """A linear classifier: ``coef_`` ``(1, d)`` (binary: a positive margin means
    ``classes_[1]``) or ``(K, d)`` (the class with the largest margin), ``classes_``. The
    class scores are ``[0, margin]`` (binary) or the margins."""

    def __init__(self, coef, intercept, classes, n_iter=0, converged=None):
        self.classes_ = np.asarray(classes, dtype=np.float64)
        super().__init__(coef, intercept, n_iter=n_iter, converged=converged)

    def _scores_block(self, X):
        z = self._margin_block(X)
        return np.column_stack([np.zeros_like(z), z]) if z.ndim == 1 else z


class NormalEquations(NamedTuple):
    """The least-squares problem ``min_w mean (y - X w - b)^2 / 2`` as the ``d x d`` system
    ``gram @ w = xty``: ``gram = X'X / n`` and ``xty = X'y / n`` of the data centered on
    its means (uncentered, with ``x_mean = 0`` and ``y_mean = 0``, without an intercept).
    A ridge term ``l2 ||w||^2 / 2`` adds ``l2 * I`` to ``gram``; the intercept of a solution
    is :meth:`intercept`.
    """

    gram: np.ndarray
    xty: np.ndarray
    x_mean: np.ndarray
    y_mean: float
    n: float

    def intercept(self, coef: np.ndarray) -> float:
        """``b = y_mean - x_mean @ coef`` (0 without an intercept)."""
        return float(self.y_mean - self.x_mean @ np.asarray(coef))


def _xy_moments(bundle):
    X, y, *w = bundle
    if y is None:
        raise ValueError("normal_equations needs labeled blocks: pass y (arrays) or "
                         "label='column' (tables)")
    return moments(X, y, full=True, weights=w[0] if w else None)


def normal_equations(blocks, fit_intercept: bool = True) -> NormalEquations:
    """The normal equations of least squares on ``(X, y)`` blocks, in one pass.

    The moments of ``[X, y]`` (means and centered scatter matrix, merged exactly across
    partitions: :mod:`mli.stats.moments`), computed without making the blocks resident
    (:func:`mli.engine.onepass.one_pass`). Dense or CSR blocks; the system is dense ``d x d``.

    Parameters
    ----------
    blocks : BlockRDD
        ``(X, y)`` bundles (``data.blocks`` of :class:`mli.table.mltable.LabeledData`).
    fit_intercept : bool, default True
        Center the data (an unregularized intercept); otherwise the model goes through 0.

    Returns
    -------
    NormalEquations

    Raises
    ------
    ValueError
        Blocks without labels, or no rows.
    """
    n, mean, m2 = one_pass(blocks, _xy_moments, combine=merge)
    if n == 0:
        raise ValueError("normal_equations needs at least one row")
    if not fit_intercept:
        m2, mean = m2 + n * np.outer(mean, mean), np.zeros_like(mean)
    d = len(mean) - 1
    return NormalEquations(m2[:d, :d] / n, m2[:d, d] / n, mean[:d], float(mean[d]), float(n))
