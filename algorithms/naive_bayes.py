"""Naive Bayes: multinomial, Bernoulli and Gaussian, in one pass over the data.

Each partition computes per-class counts, feature means and variances of its rows mapped
by the kind's feature map (:func:`mli.models.loglinear.feature_map`: ``"counts"``, the values
checked non-negative; ``"binary"``, presence; ``"identity"``), the driver merges them
exactly (:func:`mli.stats.moments.class_moments`, CSR blocks stay sparse) and derives the model;
the classes come out of the same pass. All three kinds score classes log-linearly
(:mod:`mli.models.loglinear`: one matrix product per block). Predictions and log-probabilities
equal scikit-learn's ``MultinomialNB(alpha=smoothing)``,
``BernoulliNB(alpha=smoothing)`` (features > 0 count as present) and
``GaussianNB(var_smoothing=var_smoothing)``, with class priors from the class frequencies.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from mli.table.labels import check_class_labels, check_class_weights
from mli.core.base import Algorithm
from mli.models.loglinear import (LogLinearClassifierModel, bernoulli_log_linear, feature_map,
                           gaussian_log_linear, multinomial_log_linear)
from mli.core.params import Interval, Options, Param
from mli.stats.moments import class_moments

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
        At fit: fewer than 2 classes, no labels, negative values with "multinomial" (also
        at predict: a multinomial model scores counts only).

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import NaiveBayes
    >>> X = np.array([[2.0, 0.0], [3.0, 1.0], [0.0, 4.0], [1.0, 3.0]]); y = [0, 0, 1, 1]
    >>> model = NaiveBayes().fit(X, y)                          # doctest: +SKIP
    >>> model.predict(np.array([[4.0, 0.0]]))                   # doctest: +SKIP
    array([0.])
    """

    _weights = True  # weighted counts, means and variances
    kind = Param("multinomial", Options({"multinomial", "bernoulli", "gaussian"}))
    smoothing = Param(1.0, Interval(float, 0, None, closed="neither"))
    var_smoothing = Param(1e-9, Interval(float, 0, None, closed="left"))

    def _fit(self, data):
        return self._from_moments(self._moments(data))

    def _feature_map(self) -> str:
        return {"multinomial": "counts", "bernoulli": "binary"}.get(self.kind, "identity")

    def _moments(self, data) -> tuple:
        """One pass: the classes, per-class weights, means and squared deviations of the
        kind's features, and the overall moments."""
        classes, (counts, means, m2), total = class_moments(data.blocks, feature_map,
                                                            self._feature_map(),
                                                            owner="NaiveBayes")
        check_class_labels(classes, "NaiveBayes")
        check_class_weights(classes, counts, "NaiveBayes")
        return classes, counts, means, m2, total

    def _from_moments(self, moments: tuple) -> "NaiveBayesModel":
        """The model of this smoothing from :meth:`_moments` (no pass over the data)."""
        classes, counts, means, m2, total = moments
        prior = np.log(counts / counts.sum())
        if self.kind == "gaussian":
            var = m2 / counts[:, None] + self.var_smoothing * float(np.max(total.m2 / total.n))
            return NaiveBayesModel(classes, kind=self.kind, class_log_prior_=prior, theta_=means,
                                   var_=var)
        fc, s = means * counts[:, None], self.smoothing
        denom = (fc.sum(axis=1) + s * fc.shape[1] if self.kind == "multinomial"
                 else counts + 2 * s)
        return NaiveBayesModel(classes, kind=self.kind, class_log_prior_=prior,
                               feature_log_prob_=np.log(fc + s) - np.log(denom)[:, None])

    # -- partial fits (the ML Optimizer, mli.search): one pass of counts per feature map
    # serves every configuration (each smoothing is arithmetic on the same counts); a
    # configuration is complete after its first pass
    _resumable = True
    _task = "classification"

    def _partial_setup(self, data) -> "CountsCache":
        return CountsCache(data, {})

    def _partial_key(self):
        return (NaiveBayes,)

    def _partial_max_passes(self) -> int:
        return 1

    @classmethod
    def _partial_fit_many(cls, setup: "CountsCache", algorithms, states, passes: int) -> list:
        out: list = []
        for algo, state in zip(algorithms, states):
            if state is None:
                phi = algo._feature_map()
                if phi not in setup.moments:
                    try:
                        setup.moments[phi] = algo._moments(setup.data)
                    except ValueError as exc:  # (negative counts: every such member fails)
                        setup.moments[phi] = exc
                moments = setup.moments[phi]
                state = moments if isinstance(moments, BaseException) \
                    else algo._from_moments(moments)
            out.append(state)
        return out

    def _partial_model(self, setup: "CountsCache", state: "NaiveBayesModel"
                       ) -> "NaiveBayesModel":
        return state


class CountsCache(NamedTuple):
    """A search's Naive Bayes training data and the moments of each feature map computed so
    far (``{feature map: moments or the error they raised}``)."""

    data: Any
    moments: dict


class NaiveBayesModel(LogLinearClassifierModel):
    """A fitted Naive Bayes model: ``classes_``, ``class_log_prior_``, and
    ``feature_log_prob_`` (multinomial, Bernoulli: log P(feature | class), (K, d)) or
    ``theta_`` and ``var_`` (Gaussian: per-class means and variances, (K, d));
    ``predict``, ``predict_proba``, ``predict_log_proba``; ``log_linear_``, the scoring form
    derived from them (:mod:`mli.models.loglinear`). Constructed as
    ``NaiveBayesModel(classes, kind=..., class_log_prior_=..., feature_log_prob_=...)``
    (or ``theta_=..., var_=...``)."""

    _arrays = ("class_log_prior_", "feature_log_prob_", "theta_", "var_")
    _attributes = ("kind",)
    _registry_name = "mli.NaiveBayesModel"

    def _log_linear(self):
        if self.kind == "gaussian":
            return gaussian_log_linear(self.class_log_prior_, self.theta_, self.var_)
        form = bernoulli_log_linear if self.kind == "bernoulli" else multinomial_log_linear
        return form(self.class_log_prior_, self.feature_log_prob_)
