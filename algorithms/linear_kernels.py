"""Kernels of :mod:`mli.algorithms.linear_regression`: elastic net on the Gram matrix.

Coordinate descent on ``1/2 w'Cw - c'w + l2/2 ||w||^2 + l1 ||w||_1`` (the covariance
form, as scikit-learn's ``precompute=True``): with ``C = X'X / n`` and ``c = X'y / n``
(centered when there is an intercept) it is the mean squared loss + elastic net. It runs
on the driver after the one distributed pass that computed ``C`` and ``c``; a sweep costs
``O(d^2)``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["enet_gram_cd"]


@njit(cache=True)
def enet_gram_cd(C, c, l1, l2, tol, max_sweeps):
    """Minimize ``1/2 w'Cw - c'w + l2/2 ||w||^2 + l1 ||w||_1`` by cyclic coordinate descent.

    Stops when a sweep changes no coefficient by more than ``tol * max|w|`` (or ``tol``
    when all are 0). Returns ``(w, sweeps)``.
    """
    d = c.shape[0]
    w = np.zeros(d)
    g = np.zeros(d)  # C @ w
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        wmax = 0.0
        dmax = 0.0
        for j in range(d):
            h = C[j, j] + l2
            if h <= 0.0:
                continue
            r = c[j] - g[j] + C[j, j] * w[j]
            new = 0.0
            if r > l1:
                new = (r - l1) / h
            elif r < -l1:
                new = (r + l1) / h
            delta = new - w[j]
            if delta != 0.0:
                for k in range(d):
                    g[k] += delta * C[k, j]
                w[j] = new
            dmax = max(dmax, abs(delta))
            wmax = max(wmax, abs(new))
        if dmax <= tol * max(wmax, 1e-300) or (wmax == 0.0 and dmax == 0.0):
            break
    return w, sweeps
