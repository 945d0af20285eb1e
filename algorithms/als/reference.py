"""Plain-numpy references of the ALS kernels (:mod:`mli.algorithms.als.kernels`): the
global objectives, per-row solvers written as a Python loop over rows (``np.linalg.solve`` /
``scipy.optimize.nnls``), and a tiny dense ALS built on them. Used by the tests, never by a
fit.
"""
from __future__ import annotations

import numpy as np

from mli.algorithms.als.kernels import CG_EPS, count_scaling, gramian

__all__ = ["explicit_objective", "implicit_objective", "init_factors", "als_reference",
           "solve_explicit_ref", "solve_implicit_ref", "solve_implicit_cg_ref", "nnls_gram_ref"]


def _coo(R):
    """(rows, cols, vals, shape-or-None) from a scipy sparse matrix or a tuple
    ``(rows, cols, vals)`` / ``(rows, cols, vals, shape)``."""
    if hasattr(R, "tocoo"):
        C = R.tocsr()
        C.sum_duplicates()
        C = C.tocoo()
        return (C.row.astype(np.int64), C.col.astype(np.int64),
                C.data.astype(np.float64), C.shape)
    rows, cols, vals = (np.asarray(a) for a in R[:3])
    shape = tuple(R[3]) if len(R) > 3 else None
    return rows.astype(np.int64), cols.astype(np.int64), vals.astype(np.float64), shape


def explicit_objective(R, X, Y, reg, reg_scaling="count"):
    """``sum_{(u,i) observed} (r_ui - x_u.y_i)^2 + reg * (sum_u n_u |x_u|^2 +
    sum_i n_i |y_i|^2)`` (float64), ``n`` = rating counts (``reg_scaling="count"``) or 1.
    ``R``: scipy sparse (users x items) or ``(rows, cols, vals)``."""
    rows, cols, vals, _ = _coo(R)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    pred = np.einsum("ij,ij->i", X[rows], Y[cols])
    loss = float(np.sum((vals - pred) ** 2))
    if count_scaling(reg_scaling):
        nu = np.bincount(rows, minlength=X.shape[0])
        ni = np.bincount(cols, minlength=Y.shape[0])
    else:
        nu = np.ones(X.shape[0])
        ni = np.ones(Y.shape[0])
    return loss + reg * float(nu @ np.sum(X * X, axis=1) + ni @ np.sum(Y * Y, axis=1))


def implicit_objective(R, X, Y, reg, alpha, reg_scaling="count", confidence_offset=1.0):
    """``sum_{all u,i} c_ui (p_ui - x_u.y_i)^2 + reg * (sum_u n_u |x_u|^2 +
    sum_i n_i |y_i|^2)`` (float64) with the conventions of :func:`solve_implicit`
    (``n`` = number of positive entries per row / column, or 1). The sum over all
    (u, i) is computed without forming the dense matrix."""
    rows, cols, vals, _ = _coo(R)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    full = float(np.sum((X.T @ X) * (Y.T @ Y)))  # sum_{u,i} (x_u.y_i)^2
    s = np.einsum("ij,ij->i", X[rows], Y[cols])
    c = confidence_offset + alpha * np.abs(vals)
    p = (vals > 0).astype(np.float64)
    loss = full + float(np.sum(c * (p - s) ** 2 - s * s))
    if count_scaling(reg_scaling):
        pos = vals > 0
        nu = np.bincount(rows[pos], minlength=X.shape[0])
        ni = np.bincount(cols[pos], minlength=Y.shape[0])
    else:
        nu = np.ones(X.shape[0])
        ni = np.ones(Y.shape[0])
    return loss + reg * float(nu @ np.sum(X * X, axis=1) + ni @ np.sum(Y * Y, axis=1))


def nnls_gram_ref(A, b):
    """``argmin_{x >= 0} 0.5 x^T A x - b^T x`` via ``scipy.optimize.nnls`` on the
    equivalent least-squares problem ``|L^T x - L^{-1} b|`` with ``A = L L^T``."""
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    L = cholesky(A, lower=True)
    x, _ = nnls(L.T, solve_triangular(L, b, lower=True), maxiter=50 * A.shape[0])
    return x


def solve_explicit_ref(indptr, cols, vals, Y, reg, nonnegative=False, reg_scaling="count"):
    """Numpy reference of :func:`solve_explicit` (Python loop over rows)."""
    cs = count_scaling(reg_scaling)
    Y = np.asarray(Y, dtype=np.float32)
    n_rows, k = len(indptr) - 1, Y.shape[1]
    X = np.zeros((n_rows, k), dtype=np.float32)
    for u in range(n_rows):
        s0, s1 = int(indptr[u]), int(indptr[u + 1])
        if s1 <= s0:
            continue
        Yu = Y[np.asarray(cols[s0:s1])].astype(np.float64)
        r = np.asarray(vals[s0:s1], dtype=np.float32).astype(np.float64)
        lam = reg * (s1 - s0) if cs else reg
        A = Yu.T @ Yu + lam * np.eye(k)
        b = Yu.T @ r
        X[u] = nnls_gram_ref(A, b) if nonnegative else np.linalg.solve(A, b)
    return X


def _implicit_row_terms(vals, alpha, offset):
    v = np.asarray(vals, dtype=np.float32).astype(np.float64)
    conf = offset + alpha * np.abs(v)
    return conf - 1.0, np.where(v > 0, conf, 0.0), int(np.count_nonzero(v > 0))


def solve_implicit_ref(indptr, cols, vals, Y, YtY, reg, alpha, nonnegative=False,
                       reg_scaling="count", confidence_offset=1.0):
    """Numpy reference of :func:`solve_implicit` (Python loop over rows)."""
    cs = count_scaling(reg_scaling)
    Y = np.asarray(Y, dtype=np.float32)
    YtY = gramian(Y) if YtY is None else np.asarray(YtY, dtype=np.float64)
    n_rows, k = len(indptr) - 1, Y.shape[1]
    X = np.zeros((n_rows, k), dtype=np.float32)
    for u in range(n_rows):
        s0, s1 = int(indptr[u]), int(indptr[u + 1])
        c1, cp, n_pos = _implicit_row_terms(vals[s0:s1], alpha, confidence_offset)
        if n_pos == 0:
            continue
        Yu = Y[np.asarray(cols[s0:s1])].astype(np.float64)
        lam = reg * n_pos if cs else reg
        A = YtY + (Yu.T * c1) @ Yu + lam * np.eye(k)
        b = Yu.T @ cp
        X[u] = nnls_gram_ref(A, b) if nonnegative else np.linalg.solve(A, b)
    return X


def solve_implicit_cg_ref(indptr, cols, vals, Y, YtY, reg, alpha, X0, cg_steps=3,
                          reg_scaling="count", confidence_offset=1.0):
    """Numpy reference of :func:`solve_implicit_cg` (the ``implicit`` library's
    ``least_squares_cg`` algorithm, per row)."""
    cs = count_scaling(reg_scaling)
    Y = np.asarray(Y, dtype=np.float32)
    YtY = gramian(Y) if YtY is None else np.asarray(YtY, dtype=np.float64)
    n_rows, k = len(indptr) - 1, Y.shape[1]
    X = np.zeros((n_rows, k), dtype=np.float32)
    for u in range(n_rows):
        s0, s1 = int(indptr[u]), int(indptr[u + 1])
        c1, cp, n_pos = _implicit_row_terms(vals[s0:s1], alpha, confidence_offset)
        if n_pos == 0:
            continue
        Yu = Y[np.asarray(cols[s0:s1])].astype(np.float64)
        lam = reg * n_pos if cs else reg
        x = np.asarray(X0[u], dtype=np.float64).copy()
        r = Yu.T @ (cp - c1 * (Yu @ x)) - YtY @ x - lam * x
        p = r.copy()
        rsold = r @ r
        if rsold >= CG_EPS:
            for _ in range(cg_steps):
                Ap = YtY @ p + lam * p + Yu.T @ (c1 * (Yu @ p))
                step = rsold / (p @ Ap)
                x += step * p
                r -= step * Ap
                rsnew = r @ r
                if rsnew < CG_EPS:
                    break
                p = r + (rsnew / rsold) * p
                rsold = rsnew
        X[u] = x
    return X


def init_factors(n, rank, seed):
    """Random initial factors as pyspark.ml: each row a unit vector with nonnegative
    entries (|N(0,1)| normalised). float32, shape (n, rank)."""
    rng = np.random.default_rng(seed)
    F = np.abs(rng.standard_normal((n, rank)))
    F /= np.linalg.norm(F, axis=1, keepdims=True)
    return F.astype(np.float32)


def als_reference(R, rank, iters=10, reg=0.1, implicit=False, alpha=1.0, seed=0,
                  mask=None, nonnegative=False, reg_scaling="count",
                  confidence_offset=1.0, X0=None, Y0=None):
    """Tiny dense-numpy reference ALS built on the ``*_ref`` solvers (tests only).

    ``R``: scipy sparse (users x items; stored entries are the observed ratings) or a
    dense array with ``mask`` (bool, observed entries; default ``R != 0``). Initial
    factors ``X0`` / ``Y0`` default to :func:`init_factors` with ``seed`` / ``seed + 1``.
    Each iteration updates the item factors from the user factors, then the user factors
    from the item factors (Spark's order). Returns ``(X, Y, objectives)`` with the global
    objective (:func:`explicit_objective` / :func:`implicit_objective`) after every
    iteration.
    """
    import scipy.sparse as sp

    if sp.issparse(R):
        C = sp.csr_matrix(R, dtype=np.float64)
        C.sum_duplicates()
    else:
        R = np.asarray(R, dtype=np.float64)
        mask = (R != 0) if mask is None else np.asarray(mask, dtype=bool)
        rr, cc = np.nonzero(mask)
        C = sp.csr_matrix((R[rr, cc], (rr, cc)), shape=R.shape)
    C.sort_indices()
    n_users, n_items = C.shape
    Ct = C.T.tocsr()
    Ct.sort_indices()
    X = init_factors(n_users, rank, seed) if X0 is None else np.array(X0, dtype=np.float32)
    Y = init_factors(n_items, rank, seed + 1) if Y0 is None else np.array(Y0, dtype=np.float32)

    def half(M, F):
        if implicit:
            return solve_implicit_ref(M.indptr, M.indices, M.data, F, gramian(F), reg, alpha,
                                      nonnegative=nonnegative, reg_scaling=reg_scaling,
                                      confidence_offset=confidence_offset)
        return solve_explicit_ref(M.indptr, M.indices, M.data, F, reg,
                                  nonnegative=nonnegative, reg_scaling=reg_scaling)

    objectives = []
    for _ in range(iters):
        Y = half(Ct, X)
        X = half(C, Y)
        if implicit:
            objectives.append(implicit_objective(C, X, Y, reg, alpha, reg_scaling,
                                                 confidence_offset))
        else:
            objectives.append(explicit_objective(C, X, Y, reg, reg_scaling))
    return X, Y, objectives
