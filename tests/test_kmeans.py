"""KMeans: the numba kernels against numpy, k-means|| + Lloyd against scikit-learn's
k-means++, partition invariance, sparse input, bad k, real data (MNIST)."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans as SkKMeans

import mli
from _real_data import mnist
from mli.algorithms import KMeans
from mli.table.datasets import blobs as make_blobs
from mli.models.clustering_kernels import (local_kmeans, lloyd_stats, lloyd_stats_reference,
                                           nearest, nearest_reference)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.uniform(-10, 10, size=(5, 4))
    return make_blobs(centers, 1000, seed=rng)[0]


# ---------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("kind", ["dense", "float32", "csr"])
def test_kernels_equal_numpy_reference(kind):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 7)) * (rng.random((5000, 7)) < 0.5)  # spans two chunks
    C = rng.standard_normal((4, 7))
    A = {"dense": X, "float32": X.astype(np.float32), "csr": sp.csr_matrix(X)}[kind]
    labels, d2 = nearest(A, C)
    ref_labels, ref_d2 = nearest_reference(X, C)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(d2, ref_d2, rtol=1e-4 if kind == "float32" else 1e-9,
                               atol=1e-4 if kind == "float32" else 1e-9)
    got, ref = lloyd_stats(A, C), lloyd_stats_reference(X, C)
    tol = 1e-4 if kind == "float32" else 1e-9
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=tol)


def test_local_kmeans_recovers_weighted_centers():
    rng = np.random.default_rng(2)
    P = np.vstack([rng.normal(c, 0.1, size=(20, 2)) for c in ([0, 0], [5, 0], [0, 5])])
    w = rng.integers(1, 5, size=len(P)).astype(float)
    C = local_kmeans(P, w, 3, seed=0)
    C = C[np.lexsort(C.T[::-1])]
    expect = [np.average(P[i * 20:(i + 1) * 20], axis=0, weights=w[i * 20:(i + 1) * 20])
              for i in range(3)]
    np.testing.assert_allclose(C, np.array(expect)[np.lexsort(np.array(expect).T[::-1])],
                               atol=1e-12)
    np.testing.assert_array_equal(local_kmeans(P, w, 3, seed=7), local_kmeans(P, w, 3, seed=7))


# ---------------------------------------------------------------------------- the algorithm


def test_cost_no_worse_than_sklearn_and_partition_invariant(ctx, blobs):
    X = blobs
    one = KMeans(k=5, seed=3).fit(X)
    three = KMeans(k=5, seed=3).fit(mli.MLTable.from_numpy(X, num_partitions=3))
    np.testing.assert_allclose(three.centers, one.centers, rtol=1e-10)
    sk = SkKMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    assert one.cost <= sk.inertia_ * (1 + 1e-9)
    # the model's cost is the training cost at its centers; predict = nearest center
    labels = one.predict(X)
    assert abs(one.cost - ((X - one.centers[labels]) ** 2).sum()) < 1e-6 * one.cost
    np.testing.assert_array_equal(labels, nearest_reference(X, one.centers)[0])
    assert one.inertia_ == one.cost and one.cluster_centers_ is one.centers


def test_sparse_input_and_random_init(ctx, blobs):
    X = np.abs(blobs) * (blobs > 0)  # non-negative with zeros: a real sparsity pattern
    dense = KMeans(k=4, seed=1, tol=0.0).fit(X)
    sparse = KMeans(k=4, seed=1, tol=0.0).fit(sp.csr_matrix(X))
    np.testing.assert_allclose(sparse.centers, dense.centers, rtol=1e-9)
    rand = KMeans(k=4, init="random", seed=1, max_iter=50).fit(X)
    assert rand.centers.shape == (4, 4) and rand.cost >= dense.cost * (1 - 1e-9) - 1e-9


def test_callback_reports_each_iteration_and_can_stop(ctx, blobs):
    seen = []
    full = KMeans(k=5, seed=3, tol=0.0, max_iter=8,
                  callback=lambda it, cost, s: seen.append((it, cost, s))).fit(blobs)
    assert [it for it, _, _ in seen] == list(range(1, full.n_iter + 1))
    costs = [c for _, c, _ in seen]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(costs, costs[1:]))  # Lloyd never rises
    assert full.cost <= costs[-1] * (1 + 1e-12)
    stopped = KMeans(k=5, seed=3, tol=0.0, max_iter=8, callback=lambda it, c, s: it >= 2).fit(
        blobs)
    assert stopped.n_iter == 2
    with pytest.raises(ValueError, match="'callback'"):
        KMeans(k=5, callback=3).fit(blobs)


def test_k_larger_than_the_data(ctx):
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), 10, axis=0)
    with pytest.raises(ValueError, match=r"k=4 is larger than the number of distinct points \(3\)"):
        KMeans(k=4, seed=0).fit(X)
    with pytest.raises(ValueError, match=r"k=40 is larger than the number of rows \(30\)"):
        KMeans(k=40, seed=0).fit(X)
    m = KMeans(k=3, seed=0).fit(X)  # exactly as many distinct points as clusters
    assert m.cost == 0.0 and len(np.unique(m.predict(X))) == 3


def test_mnist_cost_no_worse_than_sklearn(ctx, shared):
    Xtr, _, _, _ = mnist(shared("mnist-t10k", "t10k-images-idx3-ubyte.gz"))
    X = Xtr[:3000] / 255.0
    ours = KMeans(k=10, seed=0).fit(X)
    sk = SkKMeans(n_clusters=10, n_init=1, random_state=0).fit(X)
    print(f"MNIST k-means (3000 x 784, k=10): cost {ours.cost:.1f} (scikit-learn k-means++ "
          f"{sk.inertia_:.1f}), {ours.n_iter} Lloyd iterations")
    assert ours.cost <= sk.inertia_ * 1.001
