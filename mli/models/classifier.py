"""Prediction for classifiers from per-class scores.

A fitted classifier sets ``classes_`` (sorted labels) and implements
``_scores_block(X) -> (n, K)`` (one score per class in ``classes_`` order); it gets
``predict`` (the class with the largest score; ties: the first). When the scores are
unnormalized log-probabilities (a softmax's logits, a joint log-likelihood) it derives from
:class:`ProbabilisticClassifierModel` and also gets ``predict_proba`` and
``predict_log_proba`` (normalized in a numerically stable way)::

    class MultinomialModel(ProbabilisticClassifierModel):
        def _scores_block(self, X):
            return X @ self.feature_log_prob_.T + self.class_log_prior_

Scores that are linear in a fixed map of the features (as above) have a ready-made base,
:class:`mli.models.loglinear.LogLinearClassifierModel`. Shared by
:class:`~mli.algorithms.LogisticRegression`, :class:`~mli.algorithms.LinearSVM` and
:class:`~mli.algorithms.NaiveBayes` (through :mod:`mli.models.loglinear`).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from mli.core.base import Model

__all__ = ["ClassifierModel", "ProbabilisticClassifierModel"]


class ClassifierModel(Model):
    """``classes_`` and per-class scores; ``predict`` gives the best-scoring class."""

    _arrays = ("classes_",)

    def _scores_block(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_block(self, X):
        return self.classes_[np.argmax(self._scores_block(X), axis=1)]


class ProbabilisticClassifierModel(ClassifierModel):
    """A classifier whose scores are unnormalized log-probabilities."""

    def predict_log_proba(self, data):
        """Log-probabilities of the classes, one column per class in ``classes_`` order."""
        return self._apply(data, self._log_proba_block, [f"logp_{c:g}" for c in self.classes_])

    def predict_proba(self, data):
        """Class probabilities, one column per class in ``classes_`` order."""
        return self._apply(data, self._proba_block, [f"p_{c:g}" for c in self.classes_])

    def _log_proba_block(self, X):
        s = self._scores_block(X)
        return s - logsumexp(s, axis=1, keepdims=True)

    def _proba_block(self, X):
        return np.exp(self._log_proba_block(X))
