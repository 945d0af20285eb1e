"""mli.stats.moments.class_moments: per-class moments of labeled blocks in one pass, against numpy,
across partitionings, with a statistics map; bad input."""
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from pyspark import cloudpickle

from mli.stats.moments import class_moments
from mli.table.mltable import as_labeled

# Spark's Python workers cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _abs(A, scale):
    return abs(A) * scale


def _reject(A):
    raise ValueError("no thanks")


@pytest.fixture(scope="module")
def labeled(ctx):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    X[X < -0.5] = 0.0
    y = rng.choice([3.0, -1.0, 8.0], size=300)
    return X, y


@pytest.mark.parametrize("parts, sparse", [(1, False), (3, False), (4, True)])
def test_equals_numpy(ctx, labeled, parts, sparse):
    X, y = labeled
    data = as_labeled(sp.csr_matrix(X) if sparse else X, y, ctx=ctx, num_partitions=parts)
    try:
        classes, per_class, total = class_moments(data.blocks)
        full = class_moments(data.blocks, full=True)
        mapped = class_moments(data.blocks, _abs, 2.0, owner="test")
    finally:
        data.release()
    np.testing.assert_array_equal(classes, [-1.0, 3.0, 8.0])
    for i, c in enumerate(classes):
        Xc = X[y == c]
        assert per_class.n[i] == len(Xc)
        np.testing.assert_allclose(per_class.mean[i], Xc.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(per_class.m2[i], Xc.var(axis=0) * len(Xc), rtol=1e-10)
        np.testing.assert_allclose(full.per_class.m2[i], np.cov(Xc.T, bias=True) * len(Xc),
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mapped.per_class.mean[i], np.abs(Xc).mean(axis=0) * 2,
                                   rtol=1e-12)
    assert total.n == len(X)
    np.testing.assert_allclose(total.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(total.m2, X.var(axis=0) * len(X), rtol=1e-10)


def test_bad_input(ctx, labeled):
    X, y = labeled
    one_class = as_labeled(X, np.ones(len(X)), ctx=ctx, num_partitions=2)
    unlabeled = as_labeled(X, None, ctx=ctx, num_partitions=2)
    data = as_labeled(X, y, ctx=ctx, num_partitions=2)
    try:
        with pytest.raises(ValueError, match=r"Demo needs at least 2 classes in the labels, "
                                              r"got 1 \(\[1.0\]\)"):
            class_moments(one_class.blocks, owner="Demo")
        assert class_moments(one_class.blocks, min_classes=1).per_class.n.tolist() == [300.0]
        with pytest.raises(ValueError, match="Demo needs labels"):
            class_moments(unlabeled.blocks, owner="Demo")
        with pytest.raises(ValueError, match="no thanks"):
            class_moments(data.blocks, _reject)
        with pytest.raises(ValueError, match="min_classes must be an int >= 1, got 0"):
            class_moments(data.blocks, min_classes=0)
    finally:
        for d in (one_class, unlabeled, data):
            d.release()


def test_grouped_moments_dense_equal_per_class_numpy_and_the_sparse_path():
    """Dense blocks are reduced by class without copying each class's rows: the same counts,
    means and centered sums of squares as numpy per class (stable under a large offset)."""
    import scipy.sparse as sp

    from mli.stats.moments import grouped_moments, _CHUNK

    rng = np.random.default_rng(7)
    n = 2 * _CHUNK + 123  # several chunks, a partial last one
    labels = rng.choice([-1.0, 2.0, 5.0], size=n, p=[0.2, 0.5, 0.3])
    X = 1e6 + rng.standard_normal((n, 3)) * [1.0, 1e-3, 5.0] + labels[:, None]
    got = grouped_moments(X, labels)
    assert sorted(got) == [-1.0, 2.0, 5.0]
    for c, m in got.items():
        rows = X[labels == c]
        assert m.n == len(rows)
        np.testing.assert_allclose(m.mean, rows.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(m.m2, rows.var(axis=0) * len(rows), rtol=1e-8)
    small = X[:500] - 1e6
    dense, sparse = grouped_moments(small, labels[:500]), grouped_moments(
        sp.csr_matrix(small), labels[:500])
    for c in dense:
        np.testing.assert_allclose(dense[c].mean, sparse[c].mean, rtol=1e-12)
        np.testing.assert_allclose(dense[c].m2, sparse[c].m2, rtol=1e-7)  # sparse: uncentered
    f32 = grouped_moments(small.astype(np.float32), labels[:500])
    assert f32[2.0].mean.dtype == np.float64
    assert grouped_moments(np.zeros((0, 3)), np.zeros(0)) == {}


@pytest.mark.parametrize("layout", ["C", "F", "strided", "float32", "one class", "one row"])
def test_grouped_dense_kernel_equals_its_numpy_reference(layout):
    """The numba kernel of grouped_moments' dense path against the plain numpy reference."""
    from mli.stats.moments import _grouped_dense_numpy, grouped_moments

    rng = np.random.default_rng(3)
    X = 100.0 + rng.standard_normal((3000, 7)) * np.arange(1, 8)
    labels = rng.choice([0.0, 1.0, 4.0, 9.0], size=3000)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X, labels = X[::3, ::2], labels[::3]
    elif layout == "float32":
        X = X.astype(np.float32)
    elif layout == "one class":
        labels = np.full(3000, 2.0)
    elif layout == "one row":
        X, labels = X[:1], labels[:1]
    got, want = grouped_moments(X, labels), _grouped_dense_numpy(X, labels)
    assert sorted(got) == sorted(want)
    for c in want:
        assert got[c].n == want[c].n
        np.testing.assert_allclose(got[c].mean, want[c].mean, rtol=1e-12)
        np.testing.assert_allclose(got[c].m2, want[c].m2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grouped_csr_kernel_equals_moments_of_each_class(dtype):
    """The sparse path of grouped_moments (a numba kernel) against its reference: moments()
    of each class's rows (unsorted and duplicate-free CSR, empty rows, a float32 block)."""
    from mli.stats.moments import grouped_moments, moments

    rng = np.random.default_rng(11)
    A = sp.random(500, 40, density=0.1, format="csr", random_state=4, dtype=dtype)
    A.data = (A.data * 10).astype(dtype)
    A = A[rng.permutation(500)]  # row order shuffled, some rows empty
    labels = rng.choice([3.0, -1.0, 7.5], size=500)
    got = grouped_moments(A, labels)
    assert sorted(got) == [-1.0, 3.0, 7.5]
    for c, m in got.items():
        want = moments(A[labels == c])
        assert m.n == want.n
        np.testing.assert_allclose(m.mean, want.mean, rtol=1e-6 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(m.m2, want.m2, rtol=1e-5 if dtype == np.float32 else 1e-9,
                                   atol=1e-6)
    assert grouped_moments(sp.csr_matrix((0, 4)), np.zeros(0)) == {}
