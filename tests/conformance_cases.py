"""The conformance cases: every algorithm of mli with small data the checks of
mli.core.conformance fit it on (test data lives here, not on the algorithms' classes).

Run by tests/test_conformance.py (one test per case and check) and, over Spark Connect, by
tests/scripts/connect_checks.py.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mli.core.conformance import Case
from mli.table.datasets import blobs, class_counts


def _als():
    from mli.algorithms import ALS

    rng = np.random.default_rng(0)
    n_users, n_items, r = 40, 25, 3
    U = rng.standard_normal((n_users, r))
    V = rng.standard_normal((n_items, r))
    pairs = np.array([(u, i) for u in range(n_users) for i in range(n_items)])
    pairs = pairs[rng.random(len(pairs)) < 0.4]
    ratings = np.einsum("ij,ij->i", U[pairs[:, 0]], V[pairs[:, 1]])
    ratings += 0.1 * rng.standard_normal(len(ratings))
    X = np.column_stack([pairs[:, 0] * 3 + 7, pairs[:, 1] * 5 + 100, ratings])
    return Case(ALS(rank=3, max_iter=5, reg=0.05, seed=0), X.astype(np.float64), rtol=1e-4)


def _tree_data(d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, d))
    return X, (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3) * 2.0 + (X[:, 2] > 1)


def _decision_tree():
    from mli.algorithms import DecisionTree

    X, y = _tree_data(4)
    return Case(DecisionTree(max_depth=4, max_bins=16), X, y, rtol=1e-9)


def _random_forest():
    from mli.algorithms import RandomForest

    X, y = _tree_data(6)
    return Case(RandomForest(n_trees=5, max_depth=4, max_bins=16), X, y, rtol=1e-9)


def _kmeans():
    from mli.algorithms import KMeans

    X, _ = blobs([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 4.0, 4.0]], 300, seed=0)
    return Case(KMeans(k=3, seed=0), X, rtol=1e-6)


def _linear_regression():
    from mli.algorithms import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3.0 + 0.1 * rng.standard_normal(200)
    return Case(LinearRegression(reg=0.01), X, y, rtol=1e-6)


def _linear_svm():
    from mli.algorithms import LinearSVM

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    z = X @ np.array([1.0, -2.0, 0.5])
    X, z = X[np.abs(z) > 1.0][:200], z[np.abs(z) > 1.0][:200]  # a margin: stable labels
    return Case(LinearSVM(reg=0.05, tol=1e-4, max_iter=1000, solver="cocoa"), X,
                np.where(z > 0, 1, -1), rtol=1e-2)


def _logistic_regression():
    from mli.algorithms import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(300) > 0) * 3.0
    return Case(LogisticRegression(reg=0.01, tol=1e-8), X, y, rtol=1e-4)


def _naive_bayes():
    from mli.algorithms import NaiveBayes

    X, y = class_counts(1.0 + 2.0 * np.eye(3, 5), 300)  # class c: feature c 3x as frequent
    return Case(NaiveBayes(), X, y, rtol=1e-9)


def _pipeline():
    from mli.algorithms import LogisticRegression
    from mli.featurize import TFIDF, Normalizer

    rng = np.random.default_rng(0)
    counts = rng.poisson(0.6, size=(240, 12)).astype(np.float64)
    w = np.array([1.5, -1.0, 0.8, 0, 0, 0.5, -0.7, 0, 0, 0, 1.0, -1.2])
    y = (counts @ w + 0.3 * rng.standard_normal(240) > 0.3).astype(np.float64)
    est = TFIDF() | Normalizer() | LogisticRegression(reg=1e-2, tol=1e-6)
    return Case(est, sp.csr_matrix(counts), y, rtol=1e-4)


#: algorithm class name -> its case
CASES = {
    "ALS": _als,
    "DecisionTree": _decision_tree,
    "KMeans": _kmeans,
    "LinearRegression": _linear_regression,
    "LinearSVM": _linear_svm,
    "LogisticRegression": _logistic_regression,
    "NaiveBayes": _naive_bayes,
    "Pipeline": _pipeline,
    "RandomForest": _random_forest,
}


def all_cases() -> list[Case]:
    return [make() for make in CASES.values()]
