"""Row weights (``fit(..., sample_weight=...)``): a row of integer weight w gives the model
of that row repeated w times, a weight of 0 the model without the row, for every algorithm
that takes weights, on 1 and several partitions; the weighted objective against
scikit-learn; every kind of input (arrays, pandas, MLTable, Spark DataFrame); bad weights."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mli
from mli.algorithms import (ALS, DecisionTree, KMeans, LinearRegression, LinearSVM,
                            LogisticRegression, NaiveBayes, RandomForest)
from mli.models import clustering_kernels as CK
from mli.optimize import LogisticLoss, MultinomialLogisticLoss, SquaredLoss
from mli.optimize.objective import LocalBlocks, Objective
from mli.stats.moments import _grouped_dense_numpy, grouped_moments, moments


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((240, 4))
    score = X @ [1.0, -1.0, 0.5, 0.0] + 0.7 * rng.standard_normal(240)
    y = (score > 0).astype(float)
    y3 = np.digitize(score, [-0.7, 0.7]).astype(float)
    w = rng.integers(0, 4, 240).astype(float)
    return X, y, y3, score, w


def _repeat(w):
    return np.repeat(np.arange(len(w)), w.astype(int))


def _arrays(model):
    names = [n for n in type(model)._saved_arrays() if getattr(model, n) is not None]
    return {n: np.asarray(getattr(model, n), dtype=float) for n in names}


CASES = [
    ("binary", LogisticRegression(reg=0.01)),                       # Newton
    ("binary", LogisticRegression(reg=0.01, solver="lbfgs")),
    ("binary", LogisticRegression(reg=0.01, l1_ratio=0.5)),         # OWL-QN
    ("multi", LogisticRegression(reg=0.01)),                        # multinomial, L-BFGS
    ("binary", LinearSVM(reg=0.01)),   # (hinge: the solver stops within ~1e-3 of it)
    ("score", LinearRegression(reg=0.1)),                           # normal equations
    ("score", LinearRegression(reg=0.1, solver="lbfgs")),
    ("score", LinearRegression(reg=0.05, l1_ratio=0.5)),            # CD on the normal eqs
    ("counts", NaiveBayes()),
    ("counts", NaiveBayes(kind="bernoulli")),
    ("multi", NaiveBayes(kind="gaussian")),
    ("multi", DecisionTree(max_depth=4, max_bins=256)),
    ("score", DecisionTree(task="regression", max_depth=4, max_bins=256)),
    ("binary", RandomForest(n_trees=3, max_depth=3, seed=1, bootstrap=False,
                            max_features="all")),   # (binned: weighted equal-count bins)
]


def _xy(kind, data):
    X, y, y3, score, _ = data
    if kind == "counts":
        return np.floor(np.abs(X) * 3), y3
    return X, {"binary": y, "multi": y3, "score": score}[kind]


@pytest.mark.parametrize("kind,est", CASES, ids=lambda v: v if isinstance(v, str) else repr(v))
def test_integer_weights_equal_repeated_rows(ctx, data, kind, est):
    X, y = _xy(kind, data)
    w = data[4]
    weighted = est.fit(X, y, sample_weight=w)
    rep = _repeat(w)
    repeated = est.fit(X[rep], y[rep])
    one_part = est.fit(mli.MLTable.from_numpy(np.c_[X, w], y, num_partitions=1,
                                              columns=["a", "b", "c", "d", "w"]),
                       label="label", sample_weight="w")
    for other in (repeated, one_part):
        got, want = _arrays(weighted), _arrays(other)
        assert got.keys() == want.keys()
        for name in got:
            rtol = 1e-2 if isinstance(est, LinearSVM) else 1e-6
            np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=1e-8,
                                       err_msg=name)


def test_zero_weights_drop_rows_and_scale_does_not_matter(ctx, data):
    X, y, _, _, w = data
    keep = w > 0
    est = LogisticRegression(reg=0.01)
    a, b = est.fit(X, y, sample_weight=w), est.fit(X[keep], y[keep], sample_weight=w[keep])
    c = est.fit(X, y, sample_weight=7.5 * w)  # the mean loss: the weights' scale cancels
    for m in (b, c):
        np.testing.assert_allclose(a.coef_, m.coef_, rtol=1e-7)
        np.testing.assert_allclose(a.intercept_, m.intercept_, rtol=1e-7, atol=1e-10)
    ones = est.fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.coef_, est.fit(X, y).coef_, rtol=1e-10)


def test_weighted_objective_equals_sklearn(ctx, data):
    from sklearn.linear_model import LogisticRegression as SkLR, Ridge

    X, y, _, score, w = data
    ours = LogisticRegression(reg=0.02).fit(X, y, sample_weight=w)
    sk = SkLR(C=1 / (0.02 * w.sum()), tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-6, atol=1e-8)
    ridge = LinearRegression(reg=0.1).fit(X, score, sample_weight=w)
    skr = Ridge(alpha=0.1 * w.sum()).fit(X, score, sample_weight=w)
    np.testing.assert_allclose(ridge.coef_, skr.coef_, rtol=1e-8)
    np.testing.assert_allclose(ridge.intercept_, skr.intercept_, rtol=1e-8)


def test_weighted_kmeans(ctx):
    from sklearn.cluster import KMeans as SkKMeans

    rng = np.random.default_rng(4)
    X = np.vstack([rng.standard_normal((80, 3)) + c for c in ([0, 0, 0], [6, 6, 6], [0, 7, 0])])
    w = rng.integers(0, 4, len(X)).astype(float)
    rep = _repeat(w)
    est = KMeans(k=3, seed=2, tol=0.0)
    m = est.fit(X, sample_weight=w)
    few = np.zeros(len(X))
    few[[5, 100, 200]] = [1.0, 2.0, 0.5]   # "random" draws rows of weight > 0 only
    for init in ("k-means||", "random"):
        mw = KMeans(k=3, seed=2, init=init, max_iter=1).fit(X, sample_weight=few)
        np.testing.assert_array_equal(np.sort(mw.centers, axis=0),
                                      np.sort(X[[5, 100, 200]], axis=0))
        assert mw.cost == 0.0
    np.testing.assert_allclose(np.sort(m.centers, axis=0),
                               np.sort(est.fit(X[rep]).centers, axis=0), rtol=1e-9)
    sk = SkKMeans(3, n_init=1, random_state=0).fit(X, sample_weight=w)
    assert m.cost == pytest.approx(sk.inertia_, rel=1e-9)
    with pytest.raises(ValueError, match="k=3"):
        KMeans(k=3, seed=0).fit(X[:5], sample_weight=[1, 0, 0, 0, 1.0])
    with pytest.raises(ValueError, match="weight > 0"):
        KMeans(k=3, seed=0, init="random").fit(X[:5], sample_weight=[1, 0, 0, 0, 1.0])


def test_weighted_inputs_of_every_kind(ctx, data):
    X, y, _, _, w = data
    want = LogisticRegression(reg=0.01).fit(X, y, sample_weight=w).coef_
    df = pd.DataFrame(X, columns=list("abcd")).assign(label=y, wt=w)
    sdf = ctx.spark.createDataFrame(df)
    fits = [
        LogisticRegression(reg=0.01).fit(df, label="label", sample_weight="wt"),
        LogisticRegression(reg=0.01).fit(df.drop(columns="wt"), label="label",
                                         sample_weight=w),
        LogisticRegression(reg=0.01).fit(sdf, label="label", sample_weight="wt"),
        LogisticRegression(reg=0.01).fit(mli.MLTable.from_pandas(df, num_partitions=4),
                                         label="label", sample_weight="wt"),
    ]
    for m in fits:
        np.testing.assert_allclose(m.coef_, want, rtol=1e-8)
        assert list(m.feature_names) == list("abcd")  # the weight is not a feature


@pytest.mark.parametrize("weights,match", [
    (lambda n: -np.ones(n), "finite weights >= 0"),
    (lambda n: np.r_[np.ones(n - 1), np.nan], "row 239 is nan"),
    (lambda n: np.ones(n - 1), "239 weights but the data has 240 rows"),
    (lambda n: np.ones((n, 2)), "1-D"),
    (lambda n: np.zeros(n), "0 for every row"),
    (lambda n: ["a"] * n, "array of numbers"),
    (lambda n: "w", "names a column"),
])
def test_bad_weights(ctx, data, weights, match):
    X, y, *_ = data
    with pytest.raises(ValueError, match=match):
        LogisticRegression().fit(X, y, sample_weight=weights(len(y)))


def test_bad_weight_columns_and_algorithms_without_weights(ctx, data):
    X, y, _, _, w = data
    df = pd.DataFrame(X, columns=list("abcd")).assign(label=y, wt=w)
    with pytest.raises(ValueError, match="sample_weight column 'zz' not found"):
        LogisticRegression().fit(df, label="label", sample_weight="zz")
    with pytest.raises(ValueError, match="also the label column"):
        LogisticRegression().fit(df, label="label", sample_weight="label")
    with pytest.raises(ValueError, match="wt must hold finite weights >= 0, but it holds -1"):
        LogisticRegression().fit(df.assign(wt=-1.0), label="label", sample_weight="wt")
    sdf = ctx.spark.createDataFrame(df)
    with pytest.raises(ValueError, match="names its weight column"):
        LogisticRegression().fit(sdf, label="label", sample_weight=w)
    for solver in ("cocoa", "sgd"):
        with pytest.raises(ValueError, match=f"solver='{solver}'.*sample_weight"):
            LogisticRegression(reg=0.1, solver=solver).fit(X, y, sample_weight=w)
    with pytest.raises(TypeError, match="ALS.fit.. does not take sample_weight"):
        ALS().fit(np.array([[0, 0, 1.0]]), sample_weight=[1.0])
    labeled = mli.MLTable.from_numpy(X, y).labeled("label")
    with pytest.raises(ValueError, match="prepared training data"):
        LogisticRegression().fit(labeled, sample_weight=w)


# ---------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("loss,labels", [(LogisticLoss(), 2), (SquaredLoss(), 0),
                                         (MultinomialLogisticLoss(3), 3)])
def test_weighted_objective_is_the_weighted_mean(loss, labels):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = rng.integers(0, labels, 50).astype(float) if labels else rng.standard_normal(50)
    w = rng.uniform(0, 2, 50)
    k = loss.n_outputs
    theta = rng.standard_normal(3 * k + k)
    obj = Objective(LocalBlocks([(X[:20], y[:20], w[:20]), (X[20:], y[20:], w[20:])]), loss,
                    reg=0.1)
    per_row = [Objective(LocalBlocks([(X[i:i + 1], y[i:i + 1])]), loss).value_grad(theta)
               for i in range(50)]
    value = sum(wi * v for wi, (v, _) in zip(w, per_row)) / w.sum()
    grad = sum(wi * g for wi, (_, g) in zip(w, per_row)) / w.sum()
    m = obj.l1_mask
    value += 0.05 * theta[m] @ theta[m]
    grad[m] += 0.1 * theta[m]
    got_v, got_g = obj.value_grad(theta)
    assert got_v == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(got_g, grad, rtol=1e-10, atol=1e-14)
    assert obj.value(theta) == pytest.approx(value, rel=1e-12)
    if loss.has_hessian:
        _, _, H = obj.value_grad_hess(theta)
        eps, num = 1e-6, np.zeros_like(H)
        for j in range(len(theta)):
            e = np.zeros_like(theta)
            e[j] = eps
            num[:, j] = (obj.value_grad(theta + e)[1] - obj.value_grad(theta - e)[1]) / (2 * eps)
        np.testing.assert_allclose(H, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sparse", [False, True])
def test_weighted_moments_and_kernels_against_references(sparse):
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    A = rng.standard_normal((70, 5)) * (rng.random((70, 5)) < 0.5)
    labels = rng.integers(0, 3, 70).astype(float)
    w = rng.integers(0, 3, 70).astype(float)
    rep = _repeat(w)
    X = sp.csr_matrix(A) if sparse else A
    m, r = moments(X, labels, full=True, weights=w), moments(A[rep], labels[rep], full=True)
    assert m.n == r.n
    np.testing.assert_allclose(m.mean, r.mean, rtol=1e-12)
    np.testing.assert_allclose(m.m2, r.m2, rtol=1e-10, atol=1e-10)
    got, want = grouped_moments(X, labels, weights=w), grouped_moments(A[rep], labels[rep])
    if not sparse:
        ref = _grouped_dense_numpy(A, labels, w)
        for c in want:
            np.testing.assert_allclose(ref[c].m2, want[c].m2, rtol=1e-10, atol=1e-12)
    for c in want:
        assert got[c].n == want[c].n
        np.testing.assert_allclose(got[c].mean, want[c].mean, rtol=1e-12)
        np.testing.assert_allclose(got[c].m2, want[c].m2, rtol=1e-9, atol=1e-9)
    C = A[:3]
    for a, b in zip(CK.lloyd_stats((X, None, w), C), CK.lloyd_stats_reference((X, None, w), C)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    assert CK.total_cost((X, None, w), C) == pytest.approx(
        CK.lloyd_stats_reference((A[rep], None), C)[2], rel=1e-10)


@pytest.mark.parametrize("est", [LogisticRegression(), LinearSVM(), NaiveBayes(),
                                 NaiveBayes(kind="gaussian")], ids=repr)
def test_a_class_of_weight_zero_is_refused(ctx, data, est):
    X, y, *_ = data
    w = np.where(y == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="every row of class 1 has sample_weight 0"):
        est.fit(np.abs(X), y, sample_weight=w)
