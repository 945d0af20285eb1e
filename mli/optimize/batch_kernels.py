"""numba kernel of :mod:`mli.optimize.batch`: the losses and margin derivatives of ``B``
models' margins in one fused loop (one ``exp`` and one ``log1p`` per entry for the logistic
loss, where numpy's ``logaddexp`` + ``expit`` make several passes over temporaries).

Kept apart so that importing :mod:`mli.optimize` does not import numba. The numpy
reference is each loss's ``losses_grad_margin`` (``tests/test_optimize_batch.py`` compares
them).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["KINDS", "margin_losses", "margin_pass"]

#: the single-output losses the kernel knows, by their ``name``
KINDS = {"logistic": 0, "hinge": 1, "squared": 2}


#: reassociation (the sums vectorize) and contraction, not the no-NaN/no-inf assumptions: a
#: line search may try margins that overflow
FASTMATH = {"contract", "arcp", "reassoc"}


@njit(cache=True, fastmath=FASTMATH)
def _loss_grad(kind, z, y):
    """One entry's loss and its derivative in the margin ``z`` (label ``y``)."""
    s = 1.0 if y > 0 else -1.0
    if kind == 0:
        # log(1 + exp(-m)) = max(-m, 0) + log(1 + e), e = exp(-|m|) in (0, 1]: one exp and
        # one log, no branch but the sigmoid's side (log(1 + e) rather than log1p: below
        # 1e-16 absolute, 2x faster)
        m = s * z
        e = math.exp(-abs(m))
        r = 1.0 / (1.0 + e)
        return max(-m, 0.0) + math.log(1.0 + e), -s * (e * r if m > 0.0 else r)
    if kind == 1:
        slack = 1.0 - s * z
        if slack > 0.0:
            return slack, -s
        return 0.0, 0.0
    r = z - y
    return 0.5 * r * r, r


@njit(cache=True, fastmath=FASTMATH)
def margin_pass(kind, A, y, sw, W, bias, rows):
    """A dense float64 block's whole batched pass: per chunk of ``rows`` rows, ``Z = A_c @ W
    + bias`` (one BLAS product), every entry's loss and derivative in place, then ``A_c.T @
    dZ`` (one more): ``(values (B,), G (d, B), gb (B,))``, as the numpy loop of
    :func:`mli.optimize.batch.value_grad_many` gives. No allocation per chunk, so chunks can
    be small enough to stay in the core's cache between the two products."""
    n, d = A.shape
    B = W.shape[1]
    weighted = sw.shape[0] > 0
    values, G, gb = np.zeros(B), np.zeros((d, B)), np.zeros(B)
    Zbuf, Gc = np.empty((min(rows, n), B)), np.empty((d, B))
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        Ac = A[lo:hi]
        Z = Zbuf[:hi - lo]
        np.dot(Ac, W, Z)
        for i in range(hi - lo):
            w = sw[lo + i] if weighted else 1.0
            for j in range(B):
                loss, g = _loss_grad(kind, Z[i, j] + bias[j], y[lo + i])
                values[j] += w * loss
                Z[i, j] = w * g
                gb[j] += w * g
        np.dot(Ac.T, Z, Gc)
        G += Gc
    return values, G, gb


@njit(cache=True, fastmath=FASTMATH)
def margin_losses(kind, Z, y, sw, dZ):
    """Per column ``j`` of the margins ``Z`` (rows x models): the (``sw``-weighted) sum of
    the losses, returned; ``dZ`` is filled with ``sw * d loss / d z``. ``sw`` of length 0:
    unweighted."""
    n, B = Z.shape
    out = np.zeros(B)
    weighted = sw.shape[0] > 0
    for i in range(n):
        w = sw[i] if weighted else 1.0
        for j in range(B):
            loss, g = _loss_grad(kind, Z[i, j], y[i])
            out[j] += w * loss
            dZ[i, j] = w * g
    return out
