"""numba kernels of :mod:`mli.optimize.cocoa`: SDCA steps over one block (dense or CSR).

Kept apart so that importing :mod:`mli.optimize` does not import numba.
"""
from __future__ import annotations

import math

from numba import njit

__all__ = ["sdca_dense", "sdca_csr", "coordinate_step"]


@njit(cache=True, inline="always")
def coordinate_step(kind, y, a, m, q):
    """The change of one dual variable ``a`` maximizing its local dual subproblem.

    ``m`` is the row's current margin and ``q = sigma' ||x||^2 / (l2 n)`` the curvature of
    the quadratic term (see the module docstring).
    """
    if kind == 2:  # squared loss: closed form
        return (y - m - a) / (1.0 + q)
    s = 1.0 if y > 0 else -1.0
    beta = a * s  # in [0, 1] for hinge and logistic
    if kind == 0:  # hinge: clipped closed form
        if q <= 0.0:
            return 0.0
        nb = beta + (1.0 - s * m) / q
        nb = min(1.0, max(0.0, nb))
        return (nb - beta) * s
    # logistic: solve log((1 - nb) / nb) - s m - q (nb - beta) = 0 on (0, 1); safeguarded
    # Newton (the left side decreases from +inf to -inf)
    lo, hi = 0.0, 1.0
    nb = 1.0 / (1.0 + math.exp(min(max(s * m, -700.0), 700.0)))
    nb = min(max(nb, 1e-15), 1.0 - 1e-15)
    for _ in range(50):
        f = math.log((1.0 - nb) / nb) - s * m - q * (nb - beta)
        if f > 0.0:
            lo = nb
        else:
            hi = nb
        d = -1.0 / (nb * (1.0 - nb)) - q
        step = nb - f / d
        if not (lo < step < hi):
            step = 0.5 * (lo + hi)
        if abs(step - nb) <= 1e-15:
            nb = step
            break
        nb = step
    return (nb - beta) * s


@njit(cache=True)
def sdca_dense(X, y, alpha, w, bias, sb, kind, l2n, sigma, order):
    """SDCA steps over the rows ``order`` of a dense block; updates ``alpha`` and the local
    model ``w`` (its last entry is the weight of the intercept feature ``sb``) in place.

    ``w`` is the round's model plus ``sigma' * (the local change of v)``; ``bias`` is the
    fixed part of the intercept.
    """
    d = X.shape[1]
    for i in order:
        m = bias + sb * w[d]
        sq = sb * sb
        for j in range(d):
            xj = X[i, j]
            m += xj * w[j]
            sq += xj * xj
        delta = coordinate_step(kind, y[i], alpha[i], m, sigma * sq * l2n)
        if delta != 0.0:
            alpha[i] += delta
            c = sigma * delta * l2n
            for j in range(d):
                w[j] += c * X[i, j]
            w[d] += c * sb


@njit(cache=True)
def sdca_csr(data, indices, indptr, y, alpha, w, bias, sb, kind, l2n, sigma, order):
    """:func:`sdca_dense` for a CSR block."""
    d = w.shape[0] - 1
    for i in order:
        m = bias + sb * w[d]
        sq = sb * sb
        for p in range(indptr[i], indptr[i + 1]):
            xj = data[p]
            m += xj * w[indices[p]]
            sq += xj * xj
        delta = coordinate_step(kind, y[i], alpha[i], m, sigma * sq * l2n)
        if delta != 0.0:
            alpha[i] += delta
            c = sigma * delta * l2n
            for p in range(indptr[i], indptr[i + 1]):
                w[indices[p]] += c * data[p]
            w[d] += c * sb
