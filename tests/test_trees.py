"""DecisionTree / RandomForest: kernels against their numpy references, trees against
scikit-learn, partition invariance, bad input, and accuracy on MNIST t10k."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import mli
from mli.algorithms import DecisionTree, DecisionTreeModel, RandomForest, RandomForestModel
from mli.models import tree_kernels as K
from mli.models.trees import bin_thresholds

from conftest import shared_data

# ---------------------------------------------------------------------------- kernels (no Spark)


def random_forest_arrays(rng, d, n_bins, n_trees, max_nodes=15):
    """Random trees over binned features: (roots, feature, tbin, left, right, leaves)."""
    feature, tbin, left, right, roots, leaves = [], [], [], [], [], []
    for _ in range(n_trees):
        roots.append(len(feature))
        stack = [len(feature)]
        feature.append(-1), tbin.append(-1), left.append(-1), right.append(-1)
        budget = rng.integers(0, max_nodes)
        while stack:
            nd = stack.pop()
            if budget > 0 and rng.random() < 0.7:
                budget -= 1
                feature[nd], tbin[nd] = int(rng.integers(d)), int(rng.integers(n_bins))
                for side in (left, right):
                    side[nd] = len(feature)
                    stack.append(len(feature))
                    feature.append(-1), tbin.append(-1), left.append(-1), right.append(-1)
            else:
                leaves.append(nd)
    return [np.array(a) for a in (roots, feature, tbin, left, right, leaves)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(0, 60), d=st.integers(1, 6),
       n_trees=st.integers(1, 3), n_classes=st.sampled_from([0, 2, 3]),
       weighted=st.sampled_from([None, "counts", "real"]), wide=st.booleans())
def test_histogram_kernel_matches_reference(seed, n, d, n_trees, n_classes, weighted, wide):
    rng = np.random.default_rng(seed)
    n_bins = 300 if wide else 6
    Xb = rng.integers(0, n_bins, (n, d)).astype(np.uint16 if wide else np.uint8)
    y = (rng.integers(0, n_classes, n) if n_classes else rng.standard_normal(n)).astype(float)
    # bootstrap counts, or those times sample weights (float64)
    w = rng.poisson(1.0, (n, n_trees)).astype(np.uint8) if weighted else None
    if weighted == "real":
        w = w * rng.uniform(0, 3, (n, 1))
    roots, feature, tbin, left, right, leaves = random_forest_arrays(rng, d, n_bins, n_trees)
    active = leaves[rng.random(len(leaves)) < 0.7]
    slot = np.full(len(feature), -1)
    slot[active] = np.arange(len(active))
    k = int(rng.integers(1, d + 1))
    sfeat = np.array([np.sort(rng.choice(d, k, replace=False)) for _ in active],
                     dtype=np.int64).reshape(-1, k)
    off = np.concatenate([np.zeros((len(active), 1), int),
                          np.cumsum(np.full((len(active), k), n_bins), axis=1)], axis=1)
    args = (Xb, y, w, roots, feature, tbin, left, right, slot, sfeat, off, n_classes)
    np.testing.assert_allclose(K.histograms(*args), K.histograms_ref(*args), rtol=1e-12,
                               atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), g=st.integers(1, 4), kind=st.sampled_from(
    ["gini", "entropy", "variance"]), min_leaf=st.integers(1, 4))
def test_best_split_kernel_matches_reference(seed, g, kind, min_leaf):
    rng = np.random.default_rng(seed)
    nb = rng.integers(1, 6, (g, 3))
    off = np.concatenate([np.zeros((g, 1), int), np.cumsum(nb, axis=1)], axis=1)
    S = 3 if kind == "variance" else int(rng.integers(2, 4))
    hist = np.zeros((g, off[:, -1].max(), S))
    for s in range(g):  # the same rows histogrammed by 3 features
        y = rng.integers(0, S, 12) if kind != "variance" else rng.standard_normal(12)
        for j in range(3):
            b = off[s, j] + rng.integers(0, nb[s, j], 12)
            if kind == "variance":
                for c, v in enumerate((np.ones(12), y, y * y)):
                    np.add.at(hist, (s, b, c), v)
            else:
                np.add.at(hist, (s, b, y.astype(int)), 1.0)
    got, ref = K.best_splits(hist, off, kind, min_leaf), K.best_splits_ref(hist, off, kind,
                                                                          min_leaf)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_apply_kernel_matches_reference():
    rng = np.random.default_rng(3)
    roots, feature, tbin, left, right, _ = random_forest_arrays(rng, 4, 10, 3, 30)
    thr = np.where(feature >= 0, tbin + 0.5, np.nan)
    X = rng.integers(0, 10, (200, 4)).astype(np.float32)
    np.testing.assert_array_equal(K.apply(X, roots, feature, thr, left, right),
                                  K.apply_ref(X, roots, feature, thr, left, right))


@pytest.mark.parametrize("dtype, n_edges", [(np.float64, 31), (np.float32, 31),
                                             (np.float64, 300)])
def test_binning_kernel_matches_reference(dtype, n_edges):
    rng = np.random.default_rng(5)
    A = np.round(rng.standard_normal((500, 4)), 2).astype(dtype)
    edges = [np.sort(rng.choice(np.round(rng.standard_normal(2 * n_edges), 2), n_edges,
                                replace=False)), np.zeros(0), np.array([0.0]), A[:5, 3] * 0]
    edges[3] = np.unique(np.r_[A[:7, 3], 0.5].astype(np.float64))
    got = K.bin_features(A, edges)
    assert got.dtype == (np.uint8 if n_edges < 255 else np.uint16)
    np.testing.assert_array_equal(got, K.bin_features_ref(A, edges))


def test_bin_thresholds():
    # few distinct values: scikit-learn's midpoints
    np.testing.assert_array_equal(bin_thresholds(np.array([3.0, 1, 1, 2, 3]), 32), [1.5, 2.5])
    assert len(bin_thresholds(np.full(10, 7.0), 32)) == 0
    # many: at most max_bins - 1 thresholds with about equal counts, also under heavy ties
    x = np.r_[np.zeros(8000), np.random.default_rng(0).exponential(size=2000)]
    t = bin_thresholds(x, 8)
    assert len(t) == 7 and np.all(np.diff(t) > 0) and 0 < t[0] < x[8000:].min()
    counts = np.bincount(np.searchsorted(t, x[8000:]))[1:]
    assert counts.min() > 2000 / 7 * 0.7
    # MNIST-like pixels: half zeros, heavy values at the top; the whole budget is used
    rng = np.random.default_rng(1)
    x = np.r_[np.zeros(4000), rng.integers(1, 252, 2300), np.repeat([252, 253, 254, 255],
                                                                   [300, 800, 500, 100])]
    t = bin_thresholds(x, 32)
    assert len(t) == 31 and t[0] == 0.5 and list(t[-4:]) == [251.5, 252.5, 253.5, 254.5]
    light = np.bincount(np.searchsorted(t, x[4000:6300]))[1:-4]
    assert light.min() > 2300 / 26 * 0.5 and light.max() < 2300 / 26 * 2


@pytest.mark.parametrize("seed", range(4))
def test_equal_count_cuts_kernel_matches_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        counts = rng.integers(1, 5, rng.integers(1, 400))
        heavy = rng.random(len(counts)) < 0.05
        counts[heavy] *= rng.integers(10, 500, heavy.sum())
        max_bins = int(rng.integers(2, 64))
        got = K.equal_count_cuts(counts, max_bins)
        np.testing.assert_array_equal(got, K.equal_count_cuts_ref(counts, max_bins))
        assert len(got) <= max_bins - 1 and np.all(np.diff(got) > 0)
        assert len(got) == 0 or 0 <= got[0] and got[-1] < len(counts) - 1


def test_equal_count_cuts_wrong_input():
    for counts in (np.ones((3, 2)), [3, 0, 2], [1.0, -2.0]):
        with pytest.raises(ValueError, match="1-D array of positive counts"):
            K.equal_count_cuts(counts, 8)
    for max_bins in (1, 0, 2.5, True, "8"):
        with pytest.raises(ValueError, match="max_bins must be an int >= 2"):
            K.equal_count_cuts([5, 1, 1], max_bins)
    assert len(K.equal_count_cuts([], 8)) == 0


# ---------------------------------------------------------------------------- against scikit-learn


def _sk_splits(tree):
    t = tree.tree_
    return sorted((int(f), float(v)) for f, v in zip(t.feature, t.threshold) if f >= 0)


def _our_splits(model):
    return sorted((int(f), float(v)) for f, v in zip(model.feature, model.threshold) if f >= 0)


@pytest.fixture(scope="module")
def continuous():
    """Continuous features (float32 values, as scikit-learn's trees use)."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((1000, 5)).astype(np.float32).astype(np.float64)
    y = ((X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.standard_normal(1000)) > 0.2) * 3.0 + 1
    return X, y


def _unique_sklearn_tree(cls, X, y, **kw):
    """scikit-learn's tree, after checking that its best splits are unique: its random
    feature order (random_state) does not change the tree."""
    trees = [cls(random_state=s, **kw).fit(X, y) for s in range(5)]
    assert len({tuple(_sk_splits(t)) for t in trees}) == 1, "test data has tied best splits"
    return trees[0]


@pytest.mark.parametrize("impurity", ["gini", "entropy"])
def test_tree_identical_to_sklearn_when_splits_are_unique(ctx, continuous, impurity):
    X, y = continuous
    m = DecisionTree(max_depth=4, max_bins=1024, impurity=impurity).fit(X, y)
    sk = _unique_sklearn_tree(DecisionTreeClassifier, X, y, max_depth=4, criterion=impurity)
    assert isinstance(m, DecisionTreeModel) and m.n_nodes == sk.tree_.node_count
    assert _our_splits(m) == _sk_splits(sk)  # same features and thresholds (midpoints)
    np.testing.assert_array_equal(m.predict(X), sk.predict(X))
    np.testing.assert_allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-12)
    np.testing.assert_array_equal(m.classes_, [1.0, 4.0])
    assert m.depth == 4
    np.testing.assert_allclose(m.feature_importances_, sk.feature_importances_, atol=1e-12)


def test_regression_tree_identical_to_sklearn(ctx, continuous):
    X, _ = continuous
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 + 0.1 * np.random.default_rng(0).standard_normal(1000)
    m = DecisionTree(task="regression", max_depth=3, max_bins=1024, min_samples_leaf=3).fit(X, y)
    sk = _unique_sklearn_tree(DecisionTreeRegressor, X, y, max_depth=3, min_samples_leaf=3)
    assert _our_splits(m) == _sk_splits(sk)
    np.testing.assert_allclose(m.predict(X), sk.predict(X), rtol=1e-10)
    np.testing.assert_allclose(m.feature_importances_, sk.feature_importances_, atol=1e-12)
    np.testing.assert_allclose(m.impurity, sk.tree_.impurity[_sk_order(sk, m)], rtol=1e-9)


def _sk_order(sk, model):
    """scikit-learn's node index of each of our nodes (the trees have the same shape)."""
    t, out = sk.tree_, np.zeros(model.n_nodes, np.int64)
    stack = [(0, 0)]
    while stack:
        ours, theirs = stack.pop()
        out[ours] = theirs
        if model.feature[ours] >= 0:
            stack += [(model.left[ours], t.children_left[theirs]),
                      (model.right[ours], t.children_right[theirs])]
    return out


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_weighted_tree_identical_to_sklearn(ctx, continuous, task):
    """Row weights: the same splits, leaf values and importances as scikit-learn's trees
    fitted with the same sample_weight; integer weights give the tree of repeated rows."""
    X, y = continuous
    if task == "regression":
        y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    w = np.random.default_rng(5).integers(0, 4, len(y)).astype(float)
    m = DecisionTree(task=task, max_depth=3, max_bins=1024).fit(X, y, sample_weight=w)
    cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    trees = [cls(random_state=s, max_depth=3).fit(X, y, sample_weight=w) for s in range(5)]
    assert len({tuple(_sk_splits(t)) for t in trees}) == 1, "test data has tied best splits"
    assert _our_splits(m) == _sk_splits(trees[0])
    if task == "classification":
        np.testing.assert_allclose(m.predict_proba(X), trees[0].predict_proba(X), atol=1e-12)
    else:
        np.testing.assert_allclose(m.predict(X), trees[0].predict(X), rtol=1e-10)
    np.testing.assert_allclose(m.feature_importances_, trees[0].feature_importances_,
                               atol=1e-12)
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    m2 = DecisionTree(task=task, max_depth=3, max_bins=1024).fit(X[rep], y[rep])
    assert _our_splits(m2) == _our_splits(m)
    np.testing.assert_allclose(m2.value, m.value, rtol=1e-12)


def test_feature_importances(ctx, continuous, tmp_path):
    X, y = continuous
    rf = RandomForest(n_trees=5, max_depth=3, seed=0).fit(X, y)
    imp = rf.feature_importances_
    assert imp.shape == (5,) and abs(imp.sum() - 1) < 1e-12 and (imp >= 0).all()
    assert imp[0] == imp.max()  # x0 drives the label
    rf.save(str(tmp_path / "rf"))
    np.testing.assert_array_equal(mli.load(str(tmp_path / "rf")).feature_importances_, imp)
    leaf = DecisionTree().fit(np.ones((10, 2)), np.r_[np.zeros(5), np.ones(5)])
    np.testing.assert_array_equal(leaf.feature_importances_, [0.0, 0.0])  # never split
    # a model saved before the nodes' weights were recorded loads, without importances
    meta = json.loads((tmp_path / "rf" / "metadata.json").read_text())
    for name in ("node_weight", "impurity"):
        del meta["arrays"][name]
    (tmp_path / "rf" / "metadata.json").write_text(json.dumps(meta))
    old = mli.load(str(tmp_path / "rf"))
    np.testing.assert_array_equal(old.predict(X[:20]), rf.predict(X[:20]))
    with pytest.raises(AttributeError, match="older mli"):
        old.feature_importances_


def test_binned_tree_within_one_point_of_sklearn(ctx):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6000, 8))
    y = (X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3] + 0.5 * rng.standard_normal(
        6000) > 0).astype(float)
    tr, te = slice(0, 4000), slice(4000, None)
    ours = (DecisionTree(max_depth=6).fit(X[tr], y[tr]).predict(X[te]) == y[te]).mean()
    sk = DecisionTreeClassifier(max_depth=6, random_state=0).fit(X[tr], y[tr]).score(X[te], y[te])
    assert ours >= sk - 0.01, (ours, sk)


def test_same_model_for_1_and_4_partitions(ctx):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 6))
    y = X[:, 0] - 2 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(500)
    for est in (DecisionTree(task="regression", max_depth=5, max_bins=16),
                RandomForest(n_trees=4, task="regression", max_depth=4, max_bins=16, seed=3)):
        m1, m4 = (est.fit(mli.MLTable.from_numpy(X, y, num_partitions=p), label="label")
                  for p in (1, 4))
        for name in ("roots", "feature", "threshold", "left", "right"):
            np.testing.assert_array_equal(getattr(m1, name), getattr(m4, name))
        np.testing.assert_allclose(m1.value, m4.value, rtol=1e-12)


def test_distributed_growth_equals_driver_growth(ctx, monkeypatch):
    """Small data is grown on the driver after one gathering pass (driver finishing); with
    that off and a small histogram budget every level takes Spark passes (several per level,
    binned files on the workers, the larger child's histogram by subtraction). Same models,
    for 1 and 4 partitions, and no binned files left behind."""
    import os

    import mli.models.trees as T
    from mli.engine.blocks import root_dir

    rng = np.random.default_rng(3)
    X = rng.standard_normal((2000, 6))
    X[:, 5] = np.round(X[:, 5])
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0.3) * 2.0 + (X[:, 3] > 1)
    target = X[:, 0] - 2 * X[:, 1] ** 2
    ests = [(DecisionTree(max_depth=5, max_bins=16), y),
            (DecisionTree(max_depth=8, min_samples_leaf=200), y),   # stops before depth 8
            (RandomForest(n_trees=4, max_depth=5, max_bins=16, seed=1), y),
            (RandomForest(n_trees=2, max_depth=4, max_features="all", seed=1), y),
            (DecisionTree(task="regression", max_depth=4, max_bins=16), target)]
    decisions, finish = [], T._finish_locally
    monkeypatch.setattr(T, "_finish_locally", lambda *a: decisions.append(finish(*a)) or
                        decisions[-1])
    on_driver = []
    for est, labels in ests:
        decisions.clear()
        on_driver.append(est.fit(X, labels))
        assert decisions[-1], f"{est!r} was not finished on the driver"
    monkeypatch.setattr(T, "LOCAL_BYTES", 0)
    monkeypatch.setattr(T, "HIST_BUDGET", 4800)
    for p in (1, 4):
        for (est, labels), ref in zip(ests, on_driver):
            m = est.fit(mli.MLTable.from_numpy(X, labels, num_partitions=p), label="label")
            for name in ("roots", "feature", "threshold", "left", "right"):
                np.testing.assert_array_equal(getattr(m, name), getattr(ref, name))
            np.testing.assert_allclose(m.value, ref.value, rtol=1e-12)
            if est.task == "classification":
                np.testing.assert_array_equal(m.value, ref.value)
    assert not [f for f in os.listdir(root_dir()) if f.startswith("tree-")]


def test_sparse_and_float32_input_give_the_dense_model(ctx, continuous):
    import scipy.sparse as sp

    X, y = continuous
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = DecisionTree(max_depth=4).fit(X, y)
    sparse = DecisionTree(max_depth=4).fit(sp.csr_matrix(X), y)
    f32 = DecisionTree(max_depth=4).fit(mli.MLTable.from_numpy(X, y, dtype=np.float32),
                                        label="label")
    for m in (sparse, f32):
        np.testing.assert_array_equal(m.threshold, dense.threshold)
    np.testing.assert_array_equal(sparse.predict(sp.csr_matrix(X)), dense.predict(X))


# ---------------------------------------------------------------------------- random forest


def test_forest(ctx):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3000, 10))
    y = (X[:, :4].sum(axis=1) + rng.standard_normal(3000) > 0).astype(float) * 2 - 1
    tr, te = slice(0, 2000), slice(2000, None)
    rf = RandomForest(n_trees=15, max_depth=6, seed=0).fit(X[tr], y[tr])
    tree = DecisionTree(max_depth=6).fit(X[tr], y[tr])
    assert isinstance(rf, RandomForestModel) and rf.n_trees == 15
    acc_rf = (rf.predict(X[te]) == y[te]).mean()
    assert acc_rf > (tree.predict(X[te]) == y[te]).mean() + 0.02
    # feature subsets: sqrt(10) -> 4 candidates; trees differ through bootstrap and subsets
    assert len({tuple(rf.feature[r:r + 3]) for r in rf.roots}) > 3
    p = rf.predict_proba(X[te])
    assert p.shape == (1000, 2) and np.allclose(p.sum(axis=1), 1)
    np.testing.assert_array_equal(rf.classes_[p.argmax(axis=1)], rf.predict(X[te]))
    leaves = rf.apply(X[:5])
    assert leaves.shape == (5, 15) and (rf.feature[leaves] == -1).all()
    # seeded: same forest again, another with another seed
    again = RandomForest(n_trees=15, max_depth=6, seed=0).fit(X[tr], y[tr])
    np.testing.assert_array_equal(again.threshold, rf.threshold)
    other = RandomForest(n_trees=15, max_depth=6, seed=1).fit(X[tr], y[tr])
    assert other.n_nodes != rf.n_nodes or not np.array_equal(other.feature, rf.feature)


def test_forest_without_bootstrap_and_all_features_repeats_one_tree(ctx, continuous):
    X, y = continuous
    rf = RandomForest(n_trees=3, max_depth=3, max_features="all", bootstrap=False,
                      seed=0).fit(X, y)
    tree = DecisionTree(max_depth=3).fit(X, y)
    assert rf.n_nodes == 3 * tree.n_nodes and _our_splits(rf) == sorted(_our_splits(tree) * 3)
    np.testing.assert_array_equal(rf.predict(X), tree.predict(X))


# ---------------------------------------------------------------------------- bad input


def test_constant_features_give_a_leaf(ctx):
    X = np.ones((50, 3))
    y = np.r_[np.zeros(25), np.ones(25)]
    m = DecisionTree(max_depth=4).fit(X, y)
    assert m.n_nodes == 1 and m.n_leaves == 1 and m.depth == 0
    np.testing.assert_allclose(m.predict_proba(X[:2]), [[0.5, 0.5]] * 2)
    # a constant feature next to an informative one is never used
    X2 = np.column_stack([np.full(50, 3.0), np.arange(50.0)])
    m2 = DecisionTree(max_depth=3).fit(X2, y)
    assert set(m2.feature[m2.feature >= 0]) == {1} and (m2.predict(X2) == y).all()


def test_single_class_gives_a_one_leaf_tree(ctx):
    X = np.random.default_rng(0).standard_normal((20, 2))
    m = DecisionTree().fit(X, np.full(20, 7.0))
    assert m.n_nodes == 1
    np.testing.assert_array_equal(m.classes_, [7.0])
    np.testing.assert_array_equal(m.predict(X), np.full(20, 7.0))
    np.testing.assert_array_equal(m.predict_proba(X[:3]), np.ones((3, 1)))


def test_non_integer_labels_are_refused_integer_ones_are_classes(ctx):
    # a fractional label looks continuous (scikit-learn's type_of_target): refused, not a
    # class per value; whole numbers, negative or not, are class labels
    X = np.arange(30.0).reshape(-1, 1)
    est = RandomForest(n_trees=3, max_depth=3, bootstrap=False, max_features="all", seed=0)
    with pytest.raises(ValueError, match=r"label looks continuous: 2 of its 3 distinct values "
                                         r"are not whole numbers \(e.g. -1.5\)"):
        est.fit(X, np.repeat([-1.5, 0.25, 9.0], 10))
    y = np.repeat([-2.0, 1.0, 9.0], 10)
    m = est.fit(X, y)
    np.testing.assert_array_equal(m.classes_, [-2.0, 1.0, 9.0])
    np.testing.assert_array_equal(m.predict(X), y)


@pytest.mark.parametrize("est, y, match", [
    (DecisionTree(), np.r_[np.zeros(5), np.full(5, np.nan)], "finite"),
    (DecisionTree(task="regression"), np.r_[np.zeros(5), np.full(5, np.inf)], "finite"),
    (DecisionTree(max_depth=-1), np.arange(10) % 2, "Invalid value for parameter 'max_depth'"),
    (DecisionTree(max_depth=2.5), np.arange(10) % 2, "Invalid value for parameter 'max_depth'"),
    (DecisionTree(max_bins=1), np.arange(10) % 2, "Invalid value for parameter 'max_bins'"),
    (DecisionTree(impurity="variance"), np.arange(10) % 2, "parameter 'impurity'"),
    (DecisionTree(task="regression", impurity="gini"), np.arange(10.0), "parameter 'impurity'"),
    (RandomForest(max_features=0.0), np.arange(10) % 2, "parameter 'max_features'"),
    (RandomForest(n_trees=0), np.arange(10) % 2, "parameter 'n_trees'"),
])
def test_bad_input(ctx, est, y, match):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_missing_labels(ctx):
    with pytest.raises(ValueError, match="need labels"):
        DecisionTree().fit(np.ones((10, 2)))


def test_regression_model_has_no_predict_proba(ctx):
    X = np.arange(20.0).reshape(-1, 1)
    m = DecisionTree(task="regression", max_depth=0).fit(X, X[:, 0])
    assert m.n_nodes == 1 and m.predict(X[:1])[0] == pytest.approx(9.5)
    with pytest.raises(AttributeError, match="classification"):
        m.predict_proba(X)


# ---------------------------------------------------------------------------- MNIST t10k


def load_mnist():
    """MNIST t10k pixels (float64) and labels, split 8,000 / 2,000 with seed 0."""
    images = shared_data("mnist-t10k", "t10k-images-idx3-ubyte.gz")
    labels = shared_data("mnist-t10k", "t10k-labels-idx1-ubyte.gz")
    with gzip.open(images) as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float64)
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.float64)
    idx = np.random.default_rng(0).permutation(len(y))
    return X[idx[:8000]], y[idx[:8000]], X[idx[8000:]], y[idx[8000:]]


def test_mnist_accuracy(ctx):
    Xtr, ytr, Xte, yte = load_mnist()
    tree = DecisionTree(max_depth=10).fit(Xtr, ytr)
    acc = (tree.predict(Xte) == yte).mean()
    sk = DecisionTreeClassifier(max_depth=10, random_state=0).fit(Xtr, ytr).score(Xte, yte)
    assert acc >= sk - 0.01, (acc, sk)
    forest = RandomForest(n_trees=10, max_depth=10, seed=0).fit(Xtr, ytr)
    assert (forest.predict(Xte) == yte).mean() > acc + 0.08
