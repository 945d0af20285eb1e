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

__all__ = ["KINDS", "margin_losses"]

#: the single-output losses the kernel knows, by their ``name``
KINDS = {"logistic": 0, "hinge": 1, "squared": 2}


#: reassociation (the sums vectorize) and contraction, not the no-NaN/no-inf assumptions: a
#: line search may try margins that overflow
FASTMATH = {"contract", "arcp", "reassoc"}


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
        s = 1.0 if y[i] > 0 else -1.0
        for j in range(B):
            z = Z[i, j]
            if kind == 0:
                # log(1 + exp(-m)) = max(-m, 0) + log(1 + e), e = exp(-|m|) in (0, 1]: one
                # exp and one log, no branch but the sigmoid's side (log(1 + e) rather than
                # log1p: below 1e-16 absolute, 2x faster)
                m = s * z
                e = math.exp(-abs(m))
                r = 1.0 / (1.0 + e)
                loss = max(-m, 0.0) + math.log(1.0 + e)
                g = -s * (e * r if m > 0.0 else r)
            elif kind == 1:
                slack = 1.0 - s * z
                if slack > 0.0:
                    loss, g = slack, -s
                else:
                    loss, g = 0.0, 0.0
            else:
                r = z - y[i]
                loss, g = 0.5 * r * r, r
            out[j] += w * loss
            dZ[i, j] = w * g
    return out
