"""Moments of blocks of rows in one pass: counts, means and centered second moments.

Per partition, :func:`moments` computes ``(n, mean, M2)`` with the block centered on its own
mean (``M2`` the scatter matrix ``sum (x - mean)(x - mean)^T``, or only its diagonal); the
partitions' results are combined exactly with :func:`merge` (Chan, Golub & LeVeque's
parallel update), which is stable where ``sum x x^T - n mean mean^T`` would cancel. Used
with :meth:`mli.engine.blocks.BlockRDD.map_reduce`::

    mom = data.blocks.map_reduce(block_moments, combine=merge)   # one Spark job
    cov = mom.m2 / mom.n

:func:`grouped_moments` does the same per class label (:func:`merge_grouped` combines);
:func:`class_moments` runs it over labeled training blocks in one pass (what a generative
classifier needs: per-class counts, means, variances, and those of all rows)::

    classes, per_class, total = class_moments(data.blocks, owner="NaiveBayes")
    log_prior = np.log(per_class.n / total.n)          # per_class.mean: (K, d)

Shared by :class:`~mli.algorithms.LinearRegression` (normal equations: the moments of
``[X, y]``, :func:`mli.models.linear.normal_equations`) and :class:`~mli.algorithms.NaiveBayes`
(per-class counts, means, variances).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
import scipy.sparse as sp

from mli.engine.onepass import one_pass
from mli.stats.kernels import grouped_csr, grouped_dense

__all__ = ["Moments", "moments", "merge", "grouped_moments", "merge_grouped", "stack_grouped",
           "block_moments", "ClassMoments", "class_moments"]

_CHUNK = 8192  # rows centered at a time (bounds the temporary copy of a dense block)


class Moments(NamedTuple):
    """``n`` rows, their ``mean`` (d,) and ``m2``: the centered scatter matrix (d, d) or its
    diagonal (d,), the sums of squared deviations."""

    n: float
    mean: np.ndarray
    m2: np.ndarray


def _array(X):
    return getattr(X, "array", X)


def moments(X, y=None, *, full: bool = False, weights=None) -> Moments:
    """The moments of the rows of ``X`` (dense or CSR), with ``y`` appended as a last column.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or LocalMatrix, shape (n, d)
    y : ndarray of shape (n,), optional
    full : bool
        The whole scatter matrix (``(d, d)``) instead of its diagonal.
    weights : ndarray of shape (n,), optional
        Row weights (>= 0): ``n`` is then their sum, the mean and the scatter weighted
        (a row of weight 2 counts twice); :func:`merge` combines such moments unchanged.
    """
    A = _array(X)
    if y is not None:
        col = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        A = sp.hstack([A, sp.csr_matrix(col)], format="csr") if sp.issparse(A) \
            else np.hstack([A, col])
    rows, d = A.shape
    n = float(rows) if weights is None else float(np.sum(weights))
    if rows == 0 or n == 0:
        return Moments(0.0, np.zeros(d), np.zeros((d, d) if full else d))
    if sp.issparse(A):
        A = A.astype(np.float64)
        W = A if weights is None else sp.diags(np.asarray(weights, np.float64)) @ A
        mean = np.asarray(W.sum(axis=0)).ravel() / n
        if full:
            m2 = np.asarray((W.T @ A).toarray()) - n * np.outer(mean, mean)
        else:
            m2 = np.asarray(W.multiply(A).sum(axis=0)).ravel() - n * mean * mean
        return Moments(n, mean, m2)
    if weights is None:
        mean = A.mean(axis=0, dtype=np.float64)
    else:
        mean = np.asarray(weights, np.float64) @ A.astype(np.float64, copy=False) / n
    m2 = np.zeros((d, d) if full else d)
    for s in range(0, rows, _CHUNK):
        D = A[s:s + _CHUNK].astype(np.float64) - mean
        if weights is None:
            m2 += D.T @ D if full else np.einsum("ij,ij->j", D, D)
        else:
            wD = D * np.asarray(weights[s:s + _CHUNK], np.float64)[:, None]
            m2 += wD.T @ D if full else np.einsum("ij,ij->j", wD, D)
    return Moments(n, mean, m2)


def merge(a: Moments | None, b: Moments | None) -> Moments | None:
    """The moments of the union of two sets of rows (exact, stable)."""
    if a is None or a.n == 0:
        return b
    if b is None or b.n == 0:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    f = a.n * b.n / n
    extra = np.outer(delta, delta) if np.ndim(a.m2) == 2 else delta * delta
    return Moments(n, mean, a.m2 + b.m2 + f * extra)


def block_moments(bundle, full: bool = True) -> Moments:
    """:func:`moments` of a training bundle ``(X, y)``: of ``[X, y]`` (``y`` last), or of
    ``X`` when the bundle has no labels; of an ``(X, y, w)`` bundle, weighted by ``w``."""
    X, y, *w = bundle
    return moments(X, y, full=full, weights=w[0] if w else None)


def grouped_moments(X, labels, *, full: bool = False, weights=None) -> dict:
    """``{label: Moments}`` of the rows of ``X`` with each distinct label (weighted by
    ``weights``, one per row, when given).

    Diagonal moments are numba kernels (:mod:`mli.stats.kernels`); no class's rows are
    copied out of the block. Dense ``X``: two sweeps (per-class sums, then squared
    deviations from the class means; :func:`_grouped_dense_numpy` is the numpy reference).
    CSR ``X``: one sweep over the stored entries (sums and sums of squares, uncentered as in
    :func:`moments`; the reference is :func:`moments` of each class's rows)."""
    A = _array(X)
    labels = np.asarray(labels)
    if full:
        return {float(c): moments(A[labels == c], full=full,
                                  weights=None if weights is None else weights[labels == c])
                for c in np.unique(labels)}
    classes, idx = np.unique(labels, return_inverse=True)
    wt = (np.ones(len(labels)) if weights is None
          else np.ascontiguousarray(weights, dtype=np.float64))
    if sp.issparse(A):  # uncentered, as moments() of a sparse block: the zeros stay implicit
        A = sp.csr_matrix(A)
        counts, sums, squares = grouped_csr(A.data, A.indices, A.indptr, idx.ravel(),
                                            len(classes), A.shape[1], wt)
        mean = sums / np.maximum(counts, 1e-300)[:, None]
        m2 = squares - counts[:, None] * mean * mean
    else:
        counts, mean, m2 = grouped_dense(A, idx.ravel(), len(classes), wt)
    return {float(c): Moments(float(counts[k]), mean[k], m2[k]) for k, c in enumerate(classes)}


def _grouped_dense_numpy(A, labels, weights=None) -> dict:
    """The numpy reference of the dense path of :func:`grouped_moments`: in row chunks,
    per-class sums and then centered squares as products with the chunk's class-indicator
    matrix, weighted (temporaries stay chunk-sized)."""
    classes, idx = np.unique(labels, return_inverse=True)
    wt = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
    counts = np.bincount(idx, weights=wt, minlength=len(classes)).astype(np.float64)
    sums = _class_sums(A, idx, len(classes), wt, lambda rows, chunk: chunk)
    mean = sums / np.maximum(counts, 1e-300)[:, None]
    m2 = _class_sums(A, idx, len(classes), wt,
                     lambda rows, chunk: np.square(chunk - mean[idx[rows]]))
    return {float(c): Moments(float(counts[k]), mean[k], m2[k]) for k, c in enumerate(classes)}


def _class_sums(A, idx, K, wt, term):
    """``sum over the rows i of class k of wt[i] * term(rows, A[rows])[i]``, as (K, d), by
    row chunks."""
    out = np.zeros((K, A.shape[1]))
    for s in range(0, A.shape[0], _CHUNK):
        rows = slice(s, min(s + _CHUNK, A.shape[0]))
        onehot = np.zeros((K, rows.stop - s))
        onehot[idx[rows], np.arange(rows.stop - s)] = wt[rows]
        out += onehot @ term(rows, A[rows].astype(np.float64, copy=False))
    return out


def merge_grouped(a: dict | None, b: dict | None) -> dict | None:
    """Merge two ``{label: Moments}`` results (labels of either side)."""
    if a is None:
        return b
    if b is None:
        return a
    return {c: merge(a.get(c), b.get(c)) for c in sorted(set(a) | set(b))}


def stack_grouped(groups: dict) -> tuple[np.ndarray, Moments]:
    """``(labels, Moments)``: the sorted labels of a ``{label: Moments}`` result and their
    moments stacked (``n`` of shape ``(K,)``, ``mean`` and ``m2`` with one row per label)."""
    labels = np.array(sorted(groups), dtype=np.float64)
    parts = [groups[c] for c in labels]
    return labels, Moments(np.array([m.n for m in parts]), np.stack([m.mean for m in parts]),
                           np.stack([m.m2 for m in parts]))


class ClassMoments(NamedTuple):
    """The result of :func:`class_moments`: the sorted ``classes`` (K,), their stacked
    moments ``per_class`` (``n`` (K,), ``mean`` (K, d), ``m2`` (K, d) or (K, d, d)) and the
    moments of all rows, ``total``."""

    classes: np.ndarray
    per_class: Moments
    total: Moments


def _labeled_moments(bundle, statistics, args, owner, full):
    X, y, *w = bundle
    if y is None:
        raise ValueError(f"{owner} needs labels: pass y (arrays) or label='column' (tables)")
    A = _array(X)
    if statistics is not None:
        try:
            A = statistics(A, *args)
        except ValueError as e:
            raise ValueError(f"{owner}: {e}") from None
    return grouped_moments(A, y, full=full, weights=w[0] if w else None)


def class_moments(blocks, statistics: Callable | None = None, *args, owner: str = "classifier",
                  min_classes: int = 2, full: bool = False) -> ClassMoments:
    """Per-class moments of labeled training blocks, in one pass (:func:`mli.engine.onepass.one_pass`:
    the blocks are not made resident for it).

    Parameters
    ----------
    blocks : BlockRDD
        ``(X, y)`` bundles (``data.blocks`` of :class:`mli.table.mltable.LabeledData`), or
        ``(X, y, w)``: the moments are then weighted (counts are sums of weights).
    statistics : callable, optional
        ``statistics(A, *args) -> A'``: applied to each block's matrix (ndarray or CSR)
        before its moments are taken, e.g. a feature map or a check of the values (raise
        ValueError there; it reaches the caller, prefixed with ``owner``). Must be picklable
        (a module-level function). Default: the features as they are.
    *args
        Passed to ``statistics``.
    owner : str
        Named in the error messages.
    min_classes : int >= 1, default 2
    full : bool
        The whole per-class scatter matrices instead of their diagonals.

    Returns
    -------
    ClassMoments
        ``(classes, per_class, total)``; the classes are the distinct labels, sorted.

    Raises
    ------
    ValueError
        Blocks without labels, fewer than ``min_classes`` classes, ``min_classes < 1``.
    """
    if isinstance(min_classes, bool) or not isinstance(min_classes, (int, np.integer)) \
            or min_classes < 1:
        raise ValueError(f"min_classes must be an int >= 1, got {min_classes!r}")
    groups = one_pass(blocks, _labeled_moments, statistics, args, owner, full,
                      combine=merge_grouped) or {}
    if len(groups) < min_classes:
        raise ValueError(f"{owner} needs at least {min_classes} classes in the labels, got "
                         f"{len(groups)} ({sorted(groups)})")
    classes, per_class = stack_grouped(groups)
    return ClassMoments(classes, per_class, functools.reduce(merge, groups.values()))
