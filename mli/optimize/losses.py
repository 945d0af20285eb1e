"""Losses: the per-block "Gradient" half of MLlib's Gradient/Updater split.

Every loss is a small immutable object with pure, vectorized methods over one block of rows:

* :meth:`Loss.value_grad` ``(X, y, w, b) -> (loss_sum, grad_w_sum, grad_b_sum)``: **sums**
  over the block's rows (not means), so that per-partition results add up;
* :meth:`Loss.predict_margin` ``(X, w, b) -> z``, the linear predictor ``X @ w + b``.

With row weights ``sw`` (``value_grad(X, y, w, b, sw)``) every sum is weighted: row ``i``
counts ``sw[i]`` times.

``X`` is a 2-D float ndarray, a scipy sparse matrix (CSR) or a :class:`mli.LocalMatrix`
(unwrapped to its ``.array``); the work is two BLAS / sparse mat-vecs (``X @ w`` and
``X.T @ r``), in float32 for float32 blocks (results and sums are float64). ``w`` is a vector of ``n_features`` (binary and regression losses) or a
``(n_features, n_classes)`` matrix (:class:`MultinomialLogisticLoss`); ``b`` is a float or a
vector of ``n_classes``. Nothing here needs Spark: the same objects are the numpy reference
the tests compare the distributed objective with.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from mli.optimize.base import check_int

__all__ = ["Loss", "LogisticLoss", "MultinomialLogisticLoss", "HingeLoss", "SquaredLoss",
           "as_array"]


#: rows per chunk of a dense block in :meth:`Loss.value_grad` (4096 x 100 float64 = 3.3 MB)
CHUNK_ROWS = 4096


def as_array(X):
    """The ndarray / sparse matrix behind ``X`` (a LocalMatrix's ``.array``)."""
    a = getattr(X, "array", X)
    if not (isinstance(a, np.ndarray) or sp.issparse(a)):
        a = np.asarray(a, dtype=np.float64)
    return a


def _signs(y: np.ndarray) -> np.ndarray:
    """Binary labels as +-1: labels > 0 are the positive class ({0,1} and {-1,+1} both work)."""
    return np.where(np.asarray(y) > 0, 1.0, -1.0)


def _operand(A, v: np.ndarray) -> np.ndarray:
    """``v`` in the dtype of ``A``: float32 blocks are multiplied in float32 (no per-pass
    float64 copy of the block), everything else in float64."""
    return np.asarray(v, dtype=np.float32 if A.dtype == np.float32 else np.float64)


def matvec(A, w: np.ndarray) -> np.ndarray:
    """``A @ w`` as a dense float64 array."""
    return np.asarray(A @ _operand(A, w), dtype=np.float64)


def matvec_t(A, r: np.ndarray) -> np.ndarray:
    """``A.T @ r`` as a dense float64 array (vector or matrix)."""
    return np.asarray(A.T @ _operand(A, r), dtype=np.float64)


class Loss:
    """Base class. Subclasses implement :meth:`losses_grad_margin` (or
    :meth:`value_grad_margin`, weighted sums included)."""

    #: number of linear outputs (columns of ``w``); ``1`` means ``w`` is a vector
    n_outputs: int = 1
    name: str = "loss"
    #: whether :meth:`hess_margin` is implemented (Newton's method)
    has_hessian: bool = False

    def hess_margin(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``d^2 loss / d z^2`` per row (single-output losses with ``has_hessian``)."""
        raise NotImplementedError(f"{type(self).__name__} has no second derivative")

    def value_grad_hess(self, X, y: np.ndarray, w: np.ndarray, b=0.0, sw=None):
        """:meth:`value_grad` plus the Hessian sums of the block: ``X^T diag(h) X``,
        ``X^T h`` and ``sum h`` (``h`` from :meth:`hess_margin`, times ``sw``), for
        single-output losses."""
        A = as_array(X)
        d = A.shape[1]
        if A.shape[0] == 0:
            return 0.0, np.zeros(d), 0.0, np.zeros((d, d)), np.zeros(d), 0.0
        z = self.predict_margin(A, w, b)
        value, dz = self._weighted(z, y, sw)
        h = self.hess_margin(z, y) if sw is None else self.hess_margin(z, y) * sw
        return (float(value), matvec_t(A, dz), float(dz.sum()), _weighted_gram(A, h),
                matvec_t(A, h), float(h.sum()))

    def predict_margin(self, X, w: np.ndarray, b=0.0) -> np.ndarray:
        """The linear predictor ``X @ w + b`` (shape ``(n,)`` or ``(n, n_classes)``)."""
        return matvec(as_array(X), w) + b

    def value_grad_margin(self, z: np.ndarray, y: np.ndarray, sw=None
                          ) -> tuple[float, np.ndarray]:
        """``(sum of losses, d loss / d z)`` for margins ``z`` and labels ``y``; with row
        weights ``sw``, the weighted sum and ``sw * d loss / d z``."""
        losses, dz = self.losses_grad_margin(z, y)
        if sw is None:
            return float(losses.sum()), dz
        return float(sw @ losses), dz * (sw if dz.ndim == 1 else sw[:, None])

    def losses_grad_margin(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss of each row, d loss / d z)``."""
        raise NotImplementedError

    def _weighted(self, z, y, sw):
        return self.value_grad_margin(z, y) if sw is None else self.value_grad_margin(z, y, sw)

    def value_grad(self, X, y: np.ndarray, w: np.ndarray, b=0.0, sw=None):
        """Loss and gradients summed over the block's rows.

        Parameters
        ----------
        X : ndarray, scipy sparse matrix or LocalMatrix, shape (n, d)
        y : ndarray, shape (n,)
        w : ndarray, shape (d,) or (d, n_outputs)
        b : float or ndarray of shape (n_outputs,)
        sw : ndarray of shape (n,), optional
            Row weights: row ``i`` counts ``sw[i]`` times.

        Returns
        -------
        loss_sum : float
        grad_w_sum : ndarray, same shape as ``w``
        grad_b_sum : float or ndarray of shape (n_outputs,)
        """
        A = as_array(X)
        if A.shape[0] == 0:
            gb = 0.0 if np.ndim(b) == 0 else np.zeros(np.shape(b))
            return 0.0, np.zeros(np.shape(w)), gb
        if isinstance(A, np.ndarray) and A.shape[0] > 2 * CHUNK_ROWS:
            # dense: chunks small enough that the second product reads them from cache
            # (one pass over memory instead of two)
            parts = [self.value_grad(A[lo:lo + CHUNK_ROWS], y[lo:lo + CHUNK_ROWS], w, b,
                                     None if sw is None else sw[lo:lo + CHUNK_ROWS])
                     for lo in range(0, A.shape[0], CHUNK_ROWS)]
            return (float(sum(p[0] for p in parts)), sum(p[1] for p in parts),
                    sum(p[2] for p in parts))
        z = self.predict_margin(A, w, b)
        value, dz = self._weighted(z, y, sw)
        gw = matvec_t(A, dz)
        gb = dz.sum(axis=0)
        return float(value), gw, (float(gb) if np.ndim(gb) == 0 else gb)

    def value(self, X, y: np.ndarray, w: np.ndarray, b=0.0, sw=None) -> float:
        """The summed (weighted) loss only."""
        A = as_array(X)
        if A.shape[0] == 0:
            return 0.0
        return float(self._weighted(self.predict_margin(A, w, b), y, sw)[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


def _weighted_gram(A, h: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """``A^T diag(h) A`` for ``h >= 0`` (float64), in row chunks: one symmetric BLAS product
    of ``sqrt(h) * A`` per chunk (dense), or a sparse product (CSR)."""
    d = A.shape[1]
    r = np.sqrt(np.maximum(h, 0.0))
    if sp.issparse(A):
        B = sp.diags(r) @ A
        return np.asarray((B.T @ B).toarray(), dtype=np.float64)
    out = np.zeros((d, d))
    for lo in range(0, A.shape[0], chunk):
        B = np.asarray(A[lo:lo + chunk], dtype=np.float64) * r[lo:lo + chunk, None]
        out += B.T @ B
    return out


class LogisticLoss(Loss):
    """Binary logistic loss ``log(1 + exp(-s z))`` with ``s = +1`` for labels > 0, else -1.

    Labels in {0, 1} (or {-1, +1}). Computed stably (``logaddexp``, ``expit``).
    """

    name = "logistic"
    has_hessian = True
    curvature0 = 0.25  #: second derivative at margin 0 (Jacobi preconditioning)

    def hess_margin(self, z, y):
        p = expit(z)
        return p * (1.0 - p)

    def losses_grad_margin(self, z, y):
        s = _signs(y)
        m = s * z
        return np.logaddexp(0.0, -m), -s * expit(-m)


class HingeLoss(Loss):
    """Hinge loss ``max(0, 1 - s z)`` (linear SVM), ``s = +1`` for labels > 0, else -1.

    Not differentiable at ``s z = 1``; :meth:`value_grad` returns the subgradient that is 0
    there (``-s`` where ``s z < 1``).
    """

    name = "hinge"
    curvature0 = 0.25  #: that of its smooth surrogate, the logistic loss

    def losses_grad_margin(self, z, y):
        s = _signs(y)
        slack = 1.0 - s * z
        active = slack > 0.0
        return np.where(active, slack, 0.0), np.where(active, -s, 0.0)


class SquaredLoss(Loss):
    """Squared error ``(y - z)^2 / 2`` (least squares / ridge / lasso)."""

    name = "squared"
    has_hessian = True
    curvature0 = 1.0

    def hess_margin(self, z, y):
        return np.ones_like(z)

    def losses_grad_margin(self, z, y):
        r = z - np.asarray(y, dtype=np.float64)
        return 0.5 * r * r, r

    def value_grad_margin(self, z, y, sw=None):
        r = z - np.asarray(y, dtype=np.float64)
        if sw is None:
            return 0.5 * float(r @ r), r
        wr = sw * r
        return 0.5 * float(wr @ r), wr


class MultinomialLogisticLoss(Loss):
    """Softmax cross-entropy for ``n_classes`` classes, labels ``0 .. n_classes-1``.

    ``w`` is a ``(n_features, n_classes)`` matrix and ``b`` a vector of ``n_classes``; the
    loss of a row is ``logsumexp(z) - z[y]`` with ``z = x @ w + b``.
    """

    name = "multinomial"

    def __init__(self, n_classes: int):
        self.n_classes = check_int("n_classes", n_classes, 2)

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        return self.n_classes

    @property
    def curvature0(self) -> float:
        """Diagonal of the softmax Hessian at 0: ``(1/K)(1 - 1/K)``."""
        return (self.n_classes - 1) / self.n_classes ** 2

    def __repr__(self) -> str:
        return f"MultinomialLogisticLoss(n_classes={self.n_classes})"

    def losses_grad_margin(self, z, y):
        k = self.n_classes
        labels = np.asarray(y).astype(np.intp)
        if labels.size and (labels.min() < 0 or labels.max() >= k
                            or np.any(labels != np.asarray(y))):
            bad = np.asarray(y)[(labels < 0) | (labels >= k) | (labels != np.asarray(y))][0]
            raise ValueError(f"multinomial labels must be integers in 0..{k - 1}, got {bad!r}")
        rows = np.arange(z.shape[0])
        shifted = z - z.max(axis=1, keepdims=True)
        expz = np.exp(shifted)
        total = expz.sum(axis=1)
        lse = np.log(total)
        p = expz / total[:, None]
        p[rows, labels] -= 1.0
        return lse - shifted[rows, labels], p
