"""Naive Bayes: multinomial, Bernoulli and Gaussian, in one pass over the data.

Each partition computes per-class counts, feature means and variances of its rows
(:func:`mli.stats.grouped_moments`, CSR blocks stay sparse); the driver merges them exactly
(:func:`mli.stats.merge_grouped`) and derives the model. The classes come out of the same
pass. Predictions and log-probabilities equal scikit-learn's ``MultinomialNB(alpha=smoothing)``,
``BernoulliNB(alpha=smoothing)`` (features > 0 count as present) and
``GaussianNB(var_smoothing=var_smoothing)``, with class priors from the class frequencies.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from mli.base import Algorithm
from mli.classifier import ProbabilisticClassifierModel
from mli.onepass import one_pass
from mli.params import Interval, Options
from mli.stats import grouped_moments, merge, merge_grouped, stack_grouped

__all__ = ["NaiveBayes", "NaiveBayesModel"]


class NaiveBayes(Algorithm):
    """Naive Bayes classifier.

    Parameters
    ----------
    kind : {"multinomial", "bernoulli", "gaussian"}, default "multinomial"
        "multinomial": feature values are counts (word counts; negative values raise
        ValueError); "bernoulli": presence (> 0) or absence of each feature; "gaussian":
        a normal distribution per class and feature.
    smoothing : float > 0, default 1.0
        Additive (Laplace/Lidstone) smoothing of the counts (multinomial, Bernoulli).
    var_smoothing : float >= 0, default 1e-9
        Gaussian: this fraction of the largest feature variance is added to every variance.

    Raises
    ------
    ValueError
        At fit: fewer than 2 classes, no labels, negative values with "multinomial".

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import NaiveBayes
    >>> X = np.array([[2.0, 0.0], [3.0, 1.0], [0.0, 4.0], [1.0, 3.0]]); y = [0, 0, 1, 1]
    >>> model = NaiveBayes().fit(X, y)                          # doctest: +SKIP
    >>> model.predict(np.array([[4.0, 0.0]]))                   # doctest: +SKIP
    array([0.])
    """

    _constraints = {
        "kind": Options({"multinomial", "bernoulli", "gaussian"}),
        "smoothing": Interval(float, 0, None, closed="neither"),
        "var_smoothing": Interval(float, 0, None, closed="left"),
    }

    def __init__(self, kind="multinomial", smoothing=1.0, var_smoothing=1e-9):
        self.kind = kind
        self.smoothing = smoothing
        self.var_smoothing = var_smoothing

    def _fit(self, data):
        stats = one_pass(data.blocks, _class_moments, self.kind, combine=merge_grouped)
        if len(stats) < 2:
            raise ValueError(f"NaiveBayes needs at least 2 classes in the labels, got "
                             f"{len(stats)} ({sorted(stats)})")
        classes, (counts, means, m2) = stack_grouped(stats)
        prior = np.log(counts / counts.sum())
        if self.kind == "gaussian":
            total = functools.reduce(merge, stats.values())
            var = m2 / counts[:, None] + self.var_smoothing * float(np.max(total.m2 / total.n))
            return NaiveBayesModel(self.kind, classes, prior, theta=means, var=var)
        fc, s = means * counts[:, None], self.smoothing
        denom = (fc.sum(axis=1) + s * fc.shape[1] if self.kind == "multinomial"
                 else counts + 2 * s)
        return NaiveBayesModel(self.kind, classes, prior, np.log(fc + s) - np.log(denom)[:, None])

    @classmethod
    def _conformance_data(cls):
        rng = np.random.default_rng(0)
        y = rng.integers(3, size=300).astype(float)
        X = rng.poisson(np.array([[3.0, 1.0, 1.0, 0.5], [1.0, 3.0, 1.0, 0.5],
                                  [1.0, 1.0, 3.0, 0.5]])[y.astype(int)]).astype(float)
        return {"X": X, "y": y, "estimator": cls(), "rtol": 1e-9}


def _class_moments(bundle, kind):
    X, y = bundle
    if y is None:
        raise ValueError("NaiveBayes needs labels: pass y (arrays) or label='column' (tables)")
    A = X.array
    values = A.data if sp.issparse(A) else A
    if kind == "multinomial" and values.size and values.min() < 0:
        raise ValueError(f"NaiveBayes(kind='multinomial') needs non-negative feature values "
                         f"(counts), got {values.min():g}; use kind='gaussian' for real values")
    if kind == "bernoulli":
        A = (A > 0).astype(np.float64)
    return grouped_moments(A, y)


class NaiveBayesModel(ProbabilisticClassifierModel):
    """A fitted Naive Bayes model: ``classes_``, ``class_log_prior_``, and
    ``feature_log_prob_`` (multinomial, Bernoulli: log P(feature | class), (K, d)) or
    ``theta_`` and ``var_`` (Gaussian: per-class means and variances, (K, d));
    ``predict``, ``predict_proba``, ``predict_log_proba``."""

    _arrays = ("class_log_prior_", "feature_log_prob_", "theta_", "var_")
    _attributes = ("kind",)
    _registry_name = "mli.NaiveBayesModel"

    def __init__(self, kind, classes, class_log_prior, feature_log_prob=None, theta=None,
                 var=None):
        self.kind = str(kind)
        self.classes_ = np.asarray(classes, dtype=np.float64)
        self.class_log_prior_ = np.asarray(class_log_prior, dtype=np.float64)
        self.feature_log_prob_ = None if feature_log_prob is None else np.asarray(
            feature_log_prob, dtype=np.float64)
        self.theta_ = None if theta is None else np.asarray(theta, dtype=np.float64)
        self.var_ = None if var is None else np.asarray(var, dtype=np.float64)
        super().__init__(n_features=(self.theta_ if theta is not None
                                     else self.feature_log_prob_).shape[1])

    def _scores_block(self, X):
        A = X.array
        if self.kind == "gaussian":
            A = A.toarray() if sp.issparse(A) else A
            sq = np.stack([((A - t) ** 2 / v).sum(axis=1) for t, v in zip(self.theta_,
                                                                         self.var_)], axis=1)
            return self.class_log_prior_ - 0.5 * np.log(2 * np.pi * self.var_).sum(1) - 0.5 * sq
        if self.kind == "bernoulli":
            neg = np.log(1 - np.exp(self.feature_log_prob_))
            return ((A > 0).astype(np.float64) @ (self.feature_log_prob_ - neg).T
                    + self.class_log_prior_ + neg.sum(axis=1))
        return np.asarray(A @ self.feature_log_prob_.T) + self.class_log_prior_
