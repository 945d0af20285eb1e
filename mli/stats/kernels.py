"""numba kernels of :mod:`mli.stats.moments`: per-class moments of a dense block.

Kept apart so that importing :mod:`mli.stats.moments` does not import numba. The plain numpy
reference is :func:`mli.stats.moments._grouped_dense_numpy`; tests compare the two.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["grouped_dense"]


@njit(cache=True)
def grouped_dense(A, idx, K, wt):
    """``(counts (K,), means (K, d), m2 (K, d))`` of the rows of ``A`` per class ``idx[i]``,
    row ``i`` weighted by ``wt[i]`` (counts: the weights' sums).

    Two sweeps over the rows: the per-class sums, then the squared deviations from each
    class's mean (centered, so no cancellation as with ``sum x^2 - n mean^2``).
    """
    n, d = A.shape
    counts = np.zeros(K)
    mean = np.zeros((K, d))
    m2 = np.zeros((K, d))
    for i in range(n):
        k = idx[i]
        c = wt[i]
        counts[k] += c
        row = mean[k]
        for j in range(d):
            row[j] += c * A[i, j]
    for k in range(K):
        if counts[k] > 0:
            for j in range(d):
                mean[k, j] /= counts[k]
    for i in range(n):
        k = idx[i]
        c = wt[i]
        mu = mean[k]
        acc = m2[k]
        for j in range(d):
            r = A[i, j] - mu[j]
            acc[j] += c * r * r
    return counts, mean, m2


@njit(cache=True)
def grouped_csr(data, indices, indptr, idx, K, d, wt):
    """``(counts (K,), sums (K, d), sums of squares (K, d))`` of the rows of a CSR block per
    class ``idx[i]``, row ``i`` weighted by ``wt[i]``, in one sweep over the stored entries."""
    counts = np.zeros(K)
    sums = np.zeros((K, d))
    squares = np.zeros((K, d))
    for i in range(indptr.shape[0] - 1):
        k = idx[i]
        c = wt[i]
        counts[k] += c
        for p in range(indptr[i], indptr[i + 1]):
            v = float(data[p])
            sums[k, indices[p]] += c * v
            squares[k, indices[p]] += c * v * v
    return counts, sums, squares
