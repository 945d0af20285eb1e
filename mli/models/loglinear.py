"""Log-linear classifiers: class scores that are linear in a fixed map of the features.

A :class:`LogLinearClassifierModel` scores class ``c`` of a row ``x`` as
``phi(x) . coef[c] + intercept[c]`` (an unnormalized log-probability), ``phi`` one of
:data:`FEATURE_MAPS` (see :func:`feature_map`):

* ``"identity"``: ``x`` (CSR blocks stay sparse);
* ``"counts"``: ``x`` as well, for counts: a negative value raises ValueError (the domain of
  the multinomial form: a score of -1 occurrences would be silently meaningless);
* ``"binary"``: ``x > 0`` as 0/1 (CSR blocks stay sparse);
* ``"quadratic"``: ``[(x - center)^2, x - center]`` (dense; ``center`` is a fixed vector
  near the data, which keeps the expanded square accurate for features far from 0).

Generative classifiers whose class-conditional densities are exponential families with
independent features have exactly this form, with the densities' natural parameters as
``coef``; :func:`multinomial_log_linear` (counts), :func:`bernoulli_log_linear` (presence
or absence) and :func:`gaussian_log_linear` (a normal distribution per feature) turn the
usual parameters into it. A model keeps its own parameters as its saved state and derives
the scoring form from them, at construction and after loading::

    class GaussianClassifierModel(LogLinearClassifierModel):
        _arrays = ("class_log_prior_", "theta_", "var_")

        def __init__(self, classes, class_log_prior, theta, var):
            super().__init__(classes, class_log_prior_=class_log_prior, theta_=theta, var_=var)

        def _log_linear(self):
            return gaussian_log_linear(self.class_log_prior_, self.theta_, self.var_)

It gets ``predict``, ``predict_proba`` and ``predict_log_proba`` (one matrix product per
block). Shared by :class:`~mli.algorithms.NaiveBayes` (all three kinds).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from mli.core.base import Model
from mli.models.classifier import ProbabilisticClassifierModel

__all__ = ["FEATURE_MAPS", "feature_map", "LogLinear", "log_linear_form",
           "LogLinearClassifierModel", "multinomial_log_linear", "bernoulli_log_linear",
           "gaussian_log_linear"]

#: the feature maps of a log-linear form
FEATURE_MAPS = ("identity", "counts", "binary", "quadratic")


def _dense(A) -> np.ndarray:
    return A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)


def feature_map(X, name: str, center: np.ndarray | None = None):
    """``phi(X)``: the feature map ``name`` of the rows of a block.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or LocalMatrix, shape (n, d)
    name : {"identity", "counts", "binary", "quadratic"}
        ``"identity"``: ``X`` as it is; ``"counts"``: ``X`` as it is, checked non-negative;
        ``"binary"``: ``X > 0`` as float64 0/1 (sparse input stays sparse);
        ``"quadratic"``: ``[(X - center)^2, X - center]``, dense ``(n, 2d)``.
    center : ndarray of shape (d,), optional
        Subtracted before the quadratic map (default: no shift).

    Returns
    -------
    ndarray or scipy sparse matrix

    Raises
    ------
    ValueError
        For an unknown map name; with ``"counts"``, a negative value (naming its feature).
    """
    A = getattr(X, "array", X)
    if name == "counts":
        _check_counts(A)
    if name in ("identity", "counts"):
        return A
    if name == "binary":
        return (A > 0).astype(np.float64)
    if name == "quadratic":
        D = _dense(A) if center is None else _dense(A) - np.asarray(center, dtype=np.float64)
        return np.hstack([D * D, D])
    raise ValueError(f"unknown feature map {name!r}; expected one of {list(FEATURE_MAPS)}")


def _check_counts(A) -> None:
    values = A.data if sp.issparse(A) else np.asarray(A)
    if values.size and values.min() < 0:
        C = A.tocoo() if sp.issparse(A) else None   # any sparse format: name the column
        j = (C.col[np.argmin(C.data)] if C is not None
             else np.unravel_index(np.argmin(values), values.shape)[-1])
        raise ValueError(f"non-negative feature values (counts) expected, got {values.min():g} "
                         f"in feature {j}; a Gaussian model takes real values")


class LogLinear(NamedTuple):
    """A log-linear scoring form: ``scores(X) = feature_map(X) @ coef.T + intercept``
    (build it with :func:`log_linear_form`, which checks it).

    Attributes
    ----------
    feature_map : str
        One of :data:`FEATURE_MAPS`.
    coef : ndarray of shape (K, m)
        One row per class; ``m = d`` (``2 d`` for ``"quadratic"``: the squares' weights,
        then the linear weights).
    intercept : ndarray of shape (K,)
    center : ndarray of shape (d,) or None
        The shift of the quadratic map.
    """

    feature_map: str
    coef: np.ndarray
    intercept: np.ndarray
    center: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """``d``, the number of input features."""
        return self.coef.shape[1] // (2 if self.feature_map == "quadratic" else 1)

    def scores(self, X) -> np.ndarray:
        """The ``(n, K)`` class scores of the rows of a block (dense, CSR or LocalMatrix)."""
        A = getattr(X, "array", X)
        if self.feature_map == "quadratic":  # the two halves of the map, without stacking
            D = _dense(A) if self.center is None else _dense(A) - self.center
            d = D.shape[1]
            return (D * D) @ self.coef[:, :d].T + D @ self.coef[:, d:].T + self.intercept
        return np.asarray(feature_map(A, self.feature_map) @ self.coef.T) + self.intercept


def log_linear_form(feature_map_name: str, coef, intercept,
                    center: np.ndarray | None = None) -> LogLinear:
    """A checked :class:`LogLinear` with read-only float64 copies of the arrays.

    Parameters
    ----------
    feature_map_name : {"identity", "counts", "binary", "quadratic"}
    coef : array-like of shape (K, m)
        ``m = d``, or ``2 d`` for ``"quadratic"``.
    intercept : array-like of shape (K,)
    center : array-like of shape (d,), optional
        The shift of the quadratic map.

    Raises
    ------
    ValueError
        An unknown map, shapes that do not match, an odd ``m`` with ``"quadratic"``.
    """
    coef = np.array(coef, dtype=np.float64)
    intercept = np.array(intercept, dtype=np.float64)
    center = None if center is None else np.array(center, dtype=np.float64)
    if feature_map_name not in FEATURE_MAPS:
        raise ValueError(f"unknown feature map {feature_map_name!r}; expected one of "
                         f"{list(FEATURE_MAPS)}")
    if coef.ndim != 2 or intercept.shape != (coef.shape[0],):
        raise ValueError(f"a log-linear form needs coef of shape (K, m) and intercept of shape "
                         f"(K,), got {coef.shape} and {intercept.shape}")
    if feature_map_name == "quadratic" and coef.shape[1] % 2:
        raise ValueError(f"a quadratic form needs an even number of coefficients per class "
                         f"(squares, then linear terms), got {coef.shape[1]}")
    if center is not None and (feature_map_name != "quadratic"
                               or center.shape != (coef.shape[1] // 2,)):
        raise ValueError(f"center is the shift of a quadratic map, of shape (d,) = "
                         f"({coef.shape[1] // 2},); got {center.shape} with a "
                         f"{feature_map_name!r} map")
    for a in (coef, intercept) if center is None else (coef, intercept, center):
        a.flags.writeable = False
    return LogLinear(feature_map_name, coef, intercept, center)


def _per_class(name, value, log_prior):
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != len(log_prior):
        raise ValueError(f"{name} must have shape (n_classes, n_features) = "
                         f"({len(log_prior)}, d), got {a.shape}")
    return a


def multinomial_log_linear(log_prior, feature_log_prob) -> LogLinear:
    """Multinomial class-conditional densities (counts, e.g. words of a document):
    ``log P(c) + sum_j x_j log p_cj`` (the multinomial coefficient, equal for every class,
    left out). The counts map (identity, negative values refused),
    ``coef = feature_log_prob``.

    Parameters
    ----------
    log_prior : ndarray of shape (K,)
        ``log P(c)`` (need not be normalized).
    feature_log_prob : ndarray of shape (K, d)
        ``log p_cj``, the log-probability of feature ``j`` in class ``c``.

    Raises
    ------
    ValueError
        Shapes that do not match.
    """
    log_prior = np.asarray(log_prior, dtype=np.float64).ravel()
    flp = _per_class("feature_log_prob", feature_log_prob, log_prior)
    return log_linear_form("counts", flp, log_prior)


def bernoulli_log_linear(log_prior, feature_log_prob) -> LogLinear:
    """Bernoulli class-conditional densities (presence ``x_j > 0`` or absence of each
    feature): ``log P(c) + sum_j [x_j > 0] log p_cj + [x_j <= 0] log(1 - p_cj)``. Binary
    map, ``coef = log p - log(1 - p)``, ``intercept = log P(c) + sum_j log(1 - p_cj)``.

    Parameters
    ----------
    log_prior : ndarray of shape (K,)
    feature_log_prob : ndarray of shape (K, d)
        ``log p_cj < 0``, the log-probability that feature ``j`` is present in class ``c``.

    Raises
    ------
    ValueError
        Shapes that do not match, or a probability of 1 (``feature_log_prob >= 0``).
    """
    log_prior = np.asarray(log_prior, dtype=np.float64).ravel()
    flp = _per_class("feature_log_prob", feature_log_prob, log_prior)
    if not np.all(flp < 0):
        raise ValueError("feature_log_prob must be < 0 (probabilities below 1: smooth the "
                         f"estimates), got a maximum of {np.max(flp):g}")
    neg = np.log(1 - np.exp(flp))
    return log_linear_form("binary", flp - neg, log_prior + neg.sum(axis=1))


def gaussian_log_linear(log_prior, mean, var) -> LogLinear:
    """Normal class-conditional densities with independent features (diagonal covariance):
    ``log P(c) + sum_j log N(x_j; mean_cj, var_cj)``, exactly (normalizing constants
    included). Quadratic map centered on the average of the class means ``m``:
    ``coef = [-1 / (2 var), (mean - m) / var]``.

    Parameters
    ----------
    log_prior : ndarray of shape (K,)
    mean, var : ndarray of shape (K, d)
        Per-class feature means and variances (> 0).

    Raises
    ------
    ValueError
        Shapes that do not match, or a variance that is not positive.
    """
    log_prior = np.asarray(log_prior, dtype=np.float64).ravel()
    mean, var = _per_class("mean", mean, log_prior), _per_class("var", var, log_prior)
    if mean.shape != var.shape:
        raise ValueError(f"mean and var must have the same shape, got {mean.shape} and "
                         f"{var.shape}")
    if not np.all(var > 0):
        raise ValueError(f"variances must be > 0, got a minimum of {np.min(var):g}")
    center = mean.mean(axis=0)
    dev = mean - center
    intercept = log_prior - 0.5 * (np.log(2 * np.pi * var) + dev * dev / var).sum(axis=1)
    return log_linear_form("quadratic", np.hstack([-0.5 / var, dev / var]), intercept, center)


class LogLinearClassifierModel(ProbabilisticClassifierModel):
    """A classifier whose class scores are a :class:`LogLinear` form of its parameters.

    Subclasses declare their parameters in ``_arrays`` and settings in ``_attributes`` (they
    are what is saved), pass them to ``__init__`` by attribute name, and implement
    ``_log_linear() -> LogLinear``; the form is derived at construction and after loading,
    and is available as ``log_linear_``. Such a subclass needs no ``__init__`` of its own.

    Parameters
    ----------
    classes : array-like of shape (K,)
        The sorted class labels, one per row of the form.
    **state
        The subclass's parameters and settings by attribute name: those declared in
        ``_arrays`` are stored as float64 arrays (``None`` stays ``None``), those declared in
        ``_attributes`` (JSON values, all required) as given; an array not given is None.

    Raises
    ------
    TypeError
        A name declared in neither ``_arrays`` nor ``_attributes``.
    ValueError
        A form whose number of rows is not the number of classes.
    """

    def __init__(self, classes, **state):
        arrays = self._saved_arrays()
        settings = tuple(a for a in self._saved_attributes() if a not in Model._attributes)
        unknown = sorted(set(state) - set(arrays) - set(settings))
        missing = sorted(set(settings) - set(state))
        if unknown or missing:
            raise TypeError(f"{type(self).__name__}: " + (
                f"{unknown[0]!r} is not declared in _arrays {arrays} or _attributes {settings}"
                if unknown else f"missing the setting(s) {missing}"))
        for name in arrays:  # an array not given is None
            value = state.pop(name, None)
            setattr(self, name, None if value is None else np.asarray(value, dtype=np.float64))
        for name, value in state.items():
            setattr(self, name, value)
        self.classes_ = np.asarray(classes, dtype=np.float64)
        self._derive()
        super().__init__(n_features=self.log_linear_.n_features)

    def _log_linear(self) -> LogLinear:  # pragma: no cover - abstract
        raise NotImplementedError

    def _derive(self) -> None:
        form = self._log_linear()
        if not isinstance(form, LogLinear):
            raise TypeError(f"{type(self).__name__}._log_linear must return a LogLinear, got "
                            f"{type(form).__name__}")
        if form.coef.shape[0] != len(self.classes_):
            raise ValueError(f"the log-linear form has {form.coef.shape[0]} classes, the model "
                             f"{len(self.classes_)}")
        self.log_linear_ = form

    def _post_load(self) -> None:
        self._derive()
        if self.log_linear_.n_features != self.n_features:
            raise ValueError(f"the saved parameters have {self.log_linear_.n_features} "
                             f"features, the model {self.n_features}")

    def _scores_block(self, X):
        try:
            return self.log_linear_.scores(X)
        except ValueError as e:  # the feature map's domain (counts): name the model
            raise ValueError(f"{type(self).__name__}: {e}") from None
