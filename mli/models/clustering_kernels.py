"""Kernels of :mod:`mli.algorithms.kmeans`: nearest-center assignment and Lloyd statistics for
dense and CSR blocks (numba), their plain numpy references, and the weighted k-means on the
driver that turns k-means|| candidates into k initial centers (Spark's ``LocalKMeans``).

A block is processed in chunks of rows: ``X_chunk @ centers.T`` (BLAS, or the sparse
product) gives the dot products, then one numba loop per chunk finds each row's nearest
center (``|x|^2 - 2 x.c + |c|^2``) and adds the row to its center's sum.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from mli.table.mltable import row_weights
from mli.table.sampling import dense_rows, row_uniforms

__all__ = ["nearest", "lloyd_stats", "total_cost", "sample_candidates", "weighted_sample",
           "nearest_reference", "lloyd_stats_reference", "local_kmeans"]

_CHUNK = 4096


@njit(cache=True)
def _assign(dots, xsq, csq, labels, d2, offset):
    """Nearest center of each row of the chunk from its dot products with the centers."""
    m, k = dots.shape
    for i in range(m):
        best, arg = np.inf, 0
        for c in range(k):
            v = xsq[i] - 2.0 * dots[i, c] + csq[c]
            if v < best:
                best, arg = v, c
        labels[offset + i] = arg
        d2[offset + i] = max(best, 0.0)


@njit(cache=True)
def _accumulate_dense(X, labels, wt, sums, counts):
    n, d = X.shape
    for i in range(n):
        c = labels[i]
        w = wt[i]
        counts[c] += w
        for j in range(d):
            sums[c, j] += w * X[i, j]


@njit(cache=True)
def _accumulate_csr(data, indices, indptr, labels, wt, sums, counts):
    for i in range(indptr.shape[0] - 1):
        c = labels[i]
        w = wt[i]
        counts[c] += w
        for p in range(indptr[i], indptr[i + 1]):
            sums[c, indices[p]] += w * data[p]


def _array(X):
    """The matrix of a block: ``X``, a LocalMatrix's array, or the X of an ``(X, y)`` bundle."""
    if isinstance(X, tuple):
        X = X[0]
    return getattr(X, "array", X)


def nearest(X, centers):
    """``(labels, squared distances)`` of every row of ``X`` (dense or CSR) to its nearest
    center (ties: the lowest index)."""
    return _nearest(_array(X), centers)[:2]


def _nearest(A, centers):
    """:func:`nearest` plus the rows' squared norms."""
    labels, d2, sq = _nearest_many(A, [centers])
    return labels[0], d2[0], sq


def lloyd_stats(X, centers):
    """One Lloyd step's statistics of a block: ``(sums (k, d), counts (k,), cost, sqsum)``:
    the sums and counts of the rows assigned to each center, ``cost`` their summed squared
    distances to it, ``sqsum`` the rows' summed squared norms; all weighted by the rows'
    weights of an ``(X, y, w)`` bundle."""
    return lloyd_stats_many(X, [centers])[0]


def lloyd_stats_many(X, centers_list):
    """:func:`lloyd_stats` of several center sets (``B`` of ``k`` centers each) in one go:
    the rows' dot products with all ``B * k`` centers are one matrix product per chunk."""
    A, w = _array(X), row_weights(X)
    labels, d2, xsq = _nearest_many(A, centers_list)
    wt = np.ones(A.shape[0]) if w is None else w
    out = []
    for C, lab, dist in zip(centers_list, labels, d2):
        k, d = np.shape(C)
        sums, counts = np.zeros((k, d)), np.zeros(k)
        if sp.issparse(A):
            _accumulate_csr(A.data, A.indices, A.indptr, lab, wt, sums, counts)
        else:
            _accumulate_dense(np.asarray(A), lab, wt, sums, counts)
        out.append((sums, counts, float(dist.sum() if w is None else w @ dist),
                    float(xsq.sum() if w is None else w @ xsq)))
    return out


def total_cost_many(X, centers_list):
    """:func:`total_cost` of several center sets in one pass over the block."""
    d2, w = _nearest_many(_array(X), centers_list)[1], row_weights(X)
    return [float(v.sum() if w is None else w @ v) for v in d2]


def _nearest_many(A, centers_list):
    """:func:`_nearest` for every center set: ``(labels (B, n), d2 (B, n), sq (n,))``."""
    n, B = A.shape[0], len(centers_list)
    C = np.vstack([np.asarray(c, dtype=np.float64) for c in centers_list])
    bounds = np.cumsum([0] + [len(c) for c in centers_list])
    Ct = np.ascontiguousarray(C.T.astype(A.dtype if A.dtype == np.float32 else np.float64))
    csq = np.einsum("ij,ij->i", C, C)
    labels, d2, sq = np.zeros((B, n), dtype=np.int64), np.zeros((B, n)), np.zeros(n)
    for s in range(0, n, _CHUNK):
        part = A[s:s + _CHUNK]
        if sp.issparse(part):
            xsq = np.asarray(part.multiply(part).sum(axis=1), dtype=np.float64).ravel()
        else:
            xsq = np.einsum("ij,ij->i", part, part, dtype=np.float64)
        dots = np.asarray(part @ Ct, dtype=np.float64)
        for j in range(B):
            lo, hi = bounds[j], bounds[j + 1]
            _assign(np.ascontiguousarray(dots[:, lo:hi]), xsq, csq[lo:hi], labels[j], d2[j], s)
        sq[s:s + len(xsq)] = xsq
    return labels, d2, sq


def total_cost(X, centers):
    """The summed (weighted) squared distances of the rows of a block to their nearest
    center."""
    return total_cost_many(X, [centers])[0]


def sample_candidates(index, bundle, centers, seed, offsets, top):
    """One k-means|| round on a partition: its cost, the candidates' weights (the number of
    its points nearest to each), and its ``top`` rows by ``d^2 / u`` with their keys: a row
    is sampled when ``u < l d^2 / phi``, i.e. ``d^2 / u > phi / l`` (``u`` uniform per
    ``(seed, global row)``, see :mod:`mli.table.sampling`). Weighted rows (``(X, y, w)``)
    count ``w`` times: ``w d^2`` in place of ``d^2``, their weights in the candidates'."""
    X, w = _array(bundle), row_weights(bundle)
    labels, d2, _ = _nearest(X, centers)
    if w is not None:
        d2 = w * d2
    key = d2 / (1.0 - row_uniforms(seed, offsets, index))
    pick = np.argsort(-key, kind="stable")[:top]
    return (float(d2.sum()), np.bincount(labels, weights=w, minlength=len(centers)), key[pick],
            dense_rows(X[pick]))


def weighted_sample(index, bundle, seed, offsets, k):
    """A partition's ``k`` rows of largest key ``log(u) / w`` (``-inf`` for weight 0), with
    their keys: the ``k`` largest keys over all partitions are a sample without replacement
    with probabilities proportional to the weights (Efraimidis & Spirakis, 2006)."""
    X, w = _array(bundle), row_weights(bundle)
    u = row_uniforms(seed, offsets, index)
    with np.errstate(divide="ignore"):
        key = np.log1p(-u) / (np.ones(len(u)) if w is None else w)
    pick = np.argsort(-key, kind="stable")[:k]
    return key[pick], dense_rows(X[pick])


def nearest_reference(X, centers):
    """:func:`nearest` in plain numpy (exact differences; for tests)."""
    A = _array(X)
    A = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
    dist = ((A[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(axis=2)
    labels = np.argmin(dist, axis=1)
    return labels, dist[np.arange(len(A)), labels]


def lloyd_stats_reference(X, centers):
    """:func:`lloyd_stats` in plain numpy (for tests)."""
    A, w = _array(X), row_weights(X)
    A = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
    labels, d2 = nearest_reference(A, centers)
    k = len(centers)
    w = np.ones(len(A)) if w is None else np.asarray(w, dtype=np.float64)
    sums = np.stack([(w[labels == c, None] * A[labels == c]).sum(axis=0) for c in range(k)])
    return (sums, np.bincount(labels, weights=w, minlength=k), float(w @ d2),
            float(w @ (A * A).sum(axis=1)))


def _sqdist(P, C):
    """Squared distances ``(len(P), len(C))``."""
    psq, csq = np.einsum("ij,ij->i", P, P), np.einsum("ij,ij->i", C, C)
    return np.maximum(psq[:, None] - 2.0 * (P @ C.T) + csq[None, :], 0.0)


def local_kmeans(points, weights, k, seed, max_iter=30):
    """Weighted k-means on the driver: greedy k-means++ seeding (``2 + log k`` trials per
    center, as scikit-learn), then weighted Lloyd iterations. ``points`` must hold at least
    ``k`` distinct rows with positive weight."""
    rng = np.random.default_rng(seed)
    P, w = np.asarray(points, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    trials = 2 + int(np.log(k))
    centers = [P[rng.choice(len(P), p=w / w.sum())]]
    d2 = _sqdist(P, centers[0][None, :])[:, 0]
    for _ in range(1, k):
        p = w * d2
        cand = rng.choice(len(P), size=trials, p=p / p.sum())
        dc = np.minimum(d2, _sqdist(P[cand], P))
        best = int(np.argmin((dc * w).sum(axis=1)))
        centers.append(P[cand[best]])
        d2 = dc[best]
    C = np.array(centers)
    for _ in range(max_iter):
        labels = np.argmin(_sqdist(P, C), axis=1)
        wsum = np.bincount(labels, weights=w, minlength=k)
        new = np.stack([np.bincount(labels, weights=w * P[:, j], minlength=k)
                        for j in range(P.shape[1])], axis=1)
        new = np.where(wsum[:, None] > 0, new / np.maximum(wsum, 1e-300)[:, None], C)
        if np.allclose(new, C, rtol=0, atol=0):
            break
        C = new
    return C
