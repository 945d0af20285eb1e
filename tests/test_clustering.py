"""mli.models.clustering.initial_centers: k-means|| and random seeding, partition invariance, rows of
the data, bad input."""
import numpy as np
import pytest
import scipy.sparse as sp

from mli.models.clustering import initial_centers
from mli.table.datasets import blobs as make_blobs
from mli.table.mltable import as_labeled


@pytest.fixture(scope="module")
def blobs():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    return centers, make_blobs(centers, 400, scale=0.3, seed=0)[0]


def _centers(ctx, X, parts, **kw):
    data = as_labeled(X, None, ctx=ctx, num_partitions=parts)
    try:
        return initial_centers(data.blocks, **kw)
    finally:
        data.release()


def test_kmeans_parallel_finds_the_blobs_for_any_partitioning(ctx, blobs):
    truth, X = blobs
    one = _centers(ctx, X, 1, k=4, seed=5)
    three = _centers(ctx, sp.csr_matrix(X), 3, k=4, seed=5)
    np.testing.assert_allclose(three, one, rtol=1e-12)
    near = np.sqrt(((one[:, None, :] - truth[None]) ** 2).sum(axis=2)).min(axis=0)
    assert one.shape == (4, 2) and near.max() < 1.0  # one center per blob
    more = _centers(ctx, X, 2, k=4, seed=5, rounds=4, oversampling=20.0)
    assert more.shape == (4, 2)


def test_random_picks_distinct_rows(ctx, blobs):
    _, X = blobs
    C = _centers(ctx, X, 3, k=5, method="random", seed=1)
    assert C.shape == (5, 2) and len(np.unique(C, axis=0)) == 5
    assert all((X == c).all(axis=1).any() for c in C)
    np.testing.assert_array_equal(C, _centers(ctx, X, 1, k=5, method="random", seed=1))


def test_bad_input(ctx):
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0]]), 5, axis=0)
    data = as_labeled(X, None, ctx=ctx, num_partitions=2)
    try:
        for kw, msg in (({"k": 0}, "k must be an int >= 1, got 0"),
                        ({"k": 2, "method": "kmeans++"}, "method must be one of"),
                        ({"k": 2, "rounds": 0}, "rounds must be an int >= 1"),
                        ({"k": 2, "oversampling": -1.0}, "oversampling must be a finite number"),
                        ({"k": 11}, r"k=11 is larger than the number of rows \(10\)"),
                        ({"k": 3}, r"k=3 is larger than the number of distinct points \(2\)")):
            with pytest.raises(ValueError, match=msg):
                initial_centers(data.blocks, seed=0, **kw)
    finally:
        data.release()
