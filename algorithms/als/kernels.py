"""Local numerical kernels of alternating least squares (ALS).

Distributed ALS updates every user's factor vector given the item factors, then every
item's given the user factors. Each Spark partition holds a CSR-like *block* of ratings
for a set of "rows" (users, or items in the other half-step):

* ``indptr`` -- int64, shape ``(n_rows + 1,)``, ``indptr[0] == 0``, non-decreasing;
* ``cols``   -- int32, shape ``(nnz,)``, *local* indices into the other side's factor
  matrix ``Y`` handed to the kernel (only the factors this block references need to be
  in ``Y``);
* ``vals``   -- float32, shape ``(nnz,)``, the ratings.

The kernels below solve one whole block per call (no Python loop over rows or
ratings). They are ``numba.njit(cache=True, fastmath=False, nogil=True)`` and
single-threaded (Spark already runs one task per core). Factors are float32 in and out;
the k x k normal equations, right-hand sides and CG vectors are accumulated in float64.
The public functions are thin Python wrappers that validate and coerce their inputs
(dtypes, contiguity, index ranges -- numba does no bounds checking) and then call the
compiled kernel. Duplicate ``(row, col)`` entries are treated as separate ratings (as
Spark does); de-duplicate upstream if that is not wanted.

Each kernel has a plain-numpy reference ``*_ref`` in :mod:`mli.algorithms.als.reference` (a
Python loop over rows, solved with ``np.linalg.solve`` / ``scipy.optimize.nnls``); the
pairs are :data:`mli.algorithms.als.solve.SOLVERS`.

Conventions (the same as ``pyspark.ml.recommendation.ALS``, checked against Spark's
``ALS.scala``; ``computeFactors`` calls ``solver.solve(ls, numExplicits * regParam)``):

* explicit, ``reg_scaling="count"`` (ALS-WR): row ``u`` minimises
  ``sum_{i in R(u)} (r_ui - x.y_i)^2 + reg * n_u * |x|^2`` with ``n_u = |R(u)|``;
* implicit (Hu, Koren & Volinsky 2008, with Spark's extension to negative values):
  confidence ``c_ui = confidence_offset + alpha * |r_ui|`` (``confidence_offset=1``:
  the paper / Spark; ``0``: the ``implicit`` library, which feeds ``alpha * r`` as the
  confidence), preference ``p_ui = 1 if r_ui > 0 else 0``; unobserved entries have
  ``c = 1, p = 0``. Row ``u`` minimises
  ``sum_{all i} c_ui (p_ui - x.y_i)^2 + reg * n_u * |x|^2`` with ``n_u`` the number of
  *positive* entries of the row (Spark's ``numExplicits``) when ``reg_scaling="count"``,
  or ``n_u = 1`` when ``reg_scaling="none"`` (the ``implicit`` library's convention).
  The normal equations are
  ``(Y^T Y + Y_u^T (C_u - I) Y_u + reg n_u I) x = Y_u^T C_u p_u``, computed from a
  precomputed global Gramian ``Y^T Y`` in ``O(n_u k^2 + k^3)`` per row.

Rows with no ratings (explicit) or no positive entry (implicit; the right-hand side is
then exactly zero) get the zero vector.

The sum over rows of the per-row objectives, plus the same terms for the other side, is
the global objective computed by :func:`~mli.algorithms.als.reference.explicit_objective` /
:func:`~mli.algorithms.als.reference.implicit_objective`;
every ALS half-step minimises it exactly over one side, so it never increases.

User/item biases are handled by the caller (:func:`mli.algorithms.als.solve.solve_rows`
augments the factors with a column of ones).

Caching note: numba's on-disk cache records the importing module's name; always import
this file as ``mli.algorithms.als.kernels`` (loading it under another name, e.g. via
``importlib.util.spec_from_file_location``, writes cache entries that later fail to load).
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["solve_explicit", "solve_implicit", "solve_implicit_cg", "gramian", "count_scaling",
           "CG_EPS"]

_JIT = dict(cache=True, fastmath=False, nogil=True, parallel=False)

# residual threshold of the CG solver (squared norm), as in the ``implicit`` library
CG_EPS = 1e-20


# --------------------------------------------------------------------------------------
# small dense linear algebra (k x k, float64) inside numba
# --------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _chol_upper(A, m):
    """In-place Cholesky ``A[:m, :m] = U^T U`` of the upper triangle (row-major, so the
    inner loops are contiguous axpys). Returns False when A is not positive definite."""
    for j in range(m):
        d = A[j, j]
        if not d > 0.0:  # also catches NaN
            return False
        d = np.sqrt(d)
        A[j, j] = d
        inv = 1.0 / d
        for c in range(j + 1, m):
            A[j, c] *= inv
        for i in range(j + 1, m):
            s = A[j, i]
            if s != 0.0:
                for c in range(i, m):
                    A[i, c] -= s * A[j, c]
    return True


@numba.njit(**_JIT)
def _chol_solve_upper(U, b, x, m):
    """Solve ``U^T U x = b`` (first m entries) given the factor from :func:`_chol_upper`."""
    for i in range(m):
        x[i] = b[i]
    for i in range(m):  # U^T z = b
        xi = x[i] / U[i, i]
        x[i] = xi
        for c in range(i + 1, m):
            x[c] -= xi * U[i, c]
    for i in range(m - 1, -1, -1):  # U x = z
        s = x[i]
        for c in range(i + 1, m):
            s -= U[i, c] * x[c]
        x[i] = s / U[i, i]


@numba.njit(**_JIT)
def _nnls_gram(A, b, x, M, rhs, z, w, idx, passive):
    """Lawson-Hanson active-set NNLS on the Gram form:
    minimise ``0.5 x^T A x - b^T x`` subject to ``x >= 0`` (A symmetric positive definite,
    full matrix). Workspaces M (k x k), rhs, z, w (k), idx (k, int64), passive (k, bool).
    Writes x; returns False on a numerical failure (a passive sub-block not PD)."""
    k = b.shape[0]
    scale = 0.0
    for i in range(k):
        x[i] = 0.0
        passive[i] = False
        w[i] = b[i]
        scale = max(scale, abs(b[i]))
    if scale == 0.0:
        return True
    tol = 1e-12 * scale
    max_iter = 5 * k + 10
    it = 0
    while it < max_iter:
        # most violated KKT condition among the active (zero) variables
        jbest = -1
        wbest = tol
        for i in range(k):
            if not passive[i] and w[i] > wbest:
                wbest = w[i]
                jbest = i
        if jbest < 0:
            break
        passive[jbest] = True
        while it < max_iter:
            it += 1
            m = 0
            for i in range(k):
                if passive[i]:
                    idx[m] = i
                    m += 1
            for a in range(m):
                ia = idx[a]
                rhs[a] = b[ia]
                for c in range(a, m):
                    M[a, c] = A[ia, idx[c]]
            if not _chol_upper(M, m):
                return False
            _chol_solve_upper(M, rhs, z, m)
            feasible = True
            for a in range(m):
                if z[a] <= 0.0:
                    feasible = False
                    break
            if feasible:
                for a in range(m):
                    x[idx[a]] = z[a]
                break
            # step from x towards z until the first passive variable hits zero
            step = 1.0
            amin = -1
            for a in range(m):
                if z[a] <= 0.0:
                    xa = x[idx[a]]
                    t = xa / (xa - z[a]) if xa - z[a] > 0.0 else 0.0
                    if t < step:
                        step = t
                        amin = a
            for a in range(m):
                ia = idx[a]
                x[ia] += step * (z[a] - x[ia])
                if a == amin or x[ia] <= 0.0:
                    x[ia] = 0.0
                    passive[ia] = False
        for i in range(k):
            s = b[i]
            for c in range(k):
                s -= A[i, c] * x[c]
            w[i] = s
    return True


# --------------------------------------------------------------------------------------
# explicit feedback
# --------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _solve_explicit_nb(indptr, cols, vals, Y, reg, count_scaling, nonnegative, X):
    n_rows = indptr.shape[0] - 1
    k = Y.shape[1]
    A = np.empty((k, k), dtype=np.float64)
    b = np.empty(k, dtype=np.float64)
    x = np.empty(k, dtype=np.float64)
    y = np.empty(k, dtype=np.float64)
    M = np.empty((k, k), dtype=np.float64)
    rhs = np.empty(k, dtype=np.float64)
    z = np.empty(k, dtype=np.float64)
    w = np.empty(k, dtype=np.float64)
    idx = np.empty(k, dtype=np.int64)
    passive = np.empty(k, dtype=np.bool_)
    for u in range(n_rows):
        s0 = indptr[u]
        s1 = indptr[u + 1]
        if s1 <= s0:
            for a in range(k):
                X[u, a] = 0.0
            continue
        A[:, :] = 0.0
        b[:] = 0.0
        for p in range(s0, s1):
            j = cols[p]
            r = np.float64(vals[p])
            for a in range(k):
                y[a] = Y[j, a]
            # full square (not just the upper triangle): fixed-length contiguous inner
            # loops vectorise, which beats the triangle (bench/bench_als.py)
            for a in range(k):
                ya = y[a]
                for c in range(k):
                    A[a, c] += ya * y[c]
                b[a] += r * ya
        lam = reg * (s1 - s0) if count_scaling else reg
        for a in range(k):
            A[a, a] += lam
        if nonnegative:
            if not _nnls_gram(A, b, x, M, rhs, z, w, idx, passive):
                return u
        else:
            if not _chol_upper(A, k):
                return u
            _chol_solve_upper(A, b, x, k)
        for a in range(k):
            X[u, a] = x[a]
    return -1


# --------------------------------------------------------------------------------------
# implicit feedback
# --------------------------------------------------------------------------------------


@numba.njit(**_JIT)
def _solve_implicit_nb(indptr, cols, vals, Y, YtY, reg, alpha, offset, count_scaling,
                       nonnegative, X):
    n_rows = indptr.shape[0] - 1
    k = Y.shape[1]
    A = np.empty((k, k), dtype=np.float64)
    b = np.empty(k, dtype=np.float64)
    x = np.empty(k, dtype=np.float64)
    y = np.empty(k, dtype=np.float64)
    M = np.empty((k, k), dtype=np.float64)
    rhs = np.empty(k, dtype=np.float64)
    z = np.empty(k, dtype=np.float64)
    w = np.empty(k, dtype=np.float64)
    idx = np.empty(k, dtype=np.int64)
    passive = np.empty(k, dtype=np.bool_)
    for u in range(n_rows):
        s0 = indptr[u]
        s1 = indptr[u + 1]
        n_pos = 0
        for p in range(s0, s1):
            if vals[p] > 0:
                n_pos += 1
        if n_pos == 0:  # right-hand side is exactly zero -> x = 0
            for a in range(k):
                X[u, a] = 0.0
            continue
        A[:, :] = YtY
        b[:] = 0.0
        for p in range(s0, s1):
            j = cols[p]
            r = np.float64(vals[p])
            conf = offset + alpha * abs(r)
            c1 = conf - 1.0
            cp = conf if r > 0 else 0.0
            for a in range(k):
                y[a] = Y[j, a]
            if c1 != 0.0:
                for a in range(k):
                    ya = c1 * y[a]
                    for c in range(k):
                        A[a, c] += ya * y[c]
            if cp != 0.0:
                for a in range(k):
                    b[a] += cp * y[a]
        lam = reg * n_pos if count_scaling else reg
        for a in range(k):
            A[a, a] += lam
        if nonnegative:
            if not _nnls_gram(A, b, x, M, rhs, z, w, idx, passive):
                return u
        else:
            if not _chol_upper(A, k):
                return u
            _chol_solve_upper(A, b, x, k)
        for a in range(k):
            X[u, a] = x[a]
    return -1


@numba.njit(**_JIT)
def _solve_implicit_cg_nb(indptr, cols, vals, Y, YtY, reg, alpha, offset, count_scaling,
                          X0, cg_steps, X):
    n_rows = indptr.shape[0] - 1
    k = Y.shape[1]
    x = np.empty(k, dtype=np.float64)
    r = np.empty(k, dtype=np.float64)
    p = np.empty(k, dtype=np.float64)
    Ap = np.empty(k, dtype=np.float64)
    for u in range(n_rows):
        s0 = indptr[u]
        s1 = indptr[u + 1]
        n_pos = 0
        for q in range(s0, s1):
            if vals[q] > 0:
                n_pos += 1
        if n_pos == 0:
            for a in range(k):
                X[u, a] = 0.0
            continue
        lam = reg * n_pos if count_scaling else reg
        for a in range(k):
            x[a] = X0[u, a]
        # r = b - A x with A = YtY + lam I + sum c1 y y^T, b = sum c p y
        for a in range(k):
            r[a] = -lam * x[a]
        for a in range(k):
            xa = x[a]
            for c in range(k):
                r[c] -= YtY[a, c] * xa
        for q in range(s0, s1):
            j = cols[q]
            rv = np.float64(vals[q])
            conf = offset + alpha * abs(rv)
            c1 = conf - 1.0
            cp = conf if rv > 0 else 0.0
            yx = 0.0
            for a in range(k):
                yx += Y[j, a] * x[a]
            coef = cp - c1 * yx
            if coef != 0.0:
                for a in range(k):
                    r[a] += coef * Y[j, a]
        rsold = 0.0
        for a in range(k):
            p[a] = r[a]
            rsold += r[a] * r[a]
        if rsold >= CG_EPS:
            for _ in range(cg_steps):
                # Ap without ever forming the k x k matrix of this row
                for a in range(k):
                    Ap[a] = lam * p[a]
                for a in range(k):
                    pa = p[a]
                    for c in range(k):
                        Ap[c] += YtY[a, c] * pa
                for q in range(s0, s1):
                    j = cols[q]
                    c1 = offset + alpha * abs(np.float64(vals[q])) - 1.0
                    if c1 != 0.0:
                        yp = 0.0
                        for a in range(k):
                            yp += Y[j, a] * p[a]
                        coef = c1 * yp
                        for a in range(k):
                            Ap[a] += coef * Y[j, a]
                pAp = 0.0
                for a in range(k):
                    pAp += p[a] * Ap[a]
                if not pAp > 0.0:
                    return u
                step = rsold / pAp
                rsnew = 0.0
                for a in range(k):
                    x[a] += step * p[a]
                    r[a] -= step * Ap[a]
                    rsnew += r[a] * r[a]
                if rsnew < CG_EPS:
                    break
                beta = rsnew / rsold
                for a in range(k):
                    p[a] = r[a] + beta * p[a]
                rsold = rsnew
        for a in range(k):
            X[u, a] = x[a]
    return -1


# --------------------------------------------------------------------------------------
# public wrappers
# --------------------------------------------------------------------------------------


def _check_block(indptr, cols, vals, Y):
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int32)
    vals = np.ascontiguousarray(vals, dtype=np.float32)
    Y = np.ascontiguousarray(Y, dtype=np.float32)
    if indptr.ndim != 1 or indptr.shape[0] < 1:
        raise ValueError("indptr must be a 1-d array of length n_rows + 1")
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-d (n, k), got shape {Y.shape}")
    nnz = cols.shape[0]
    if cols.ndim != 1 or vals.shape != cols.shape:
        raise ValueError("cols and vals must be 1-d arrays of the same length")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"indptr must start at 0 and end at nnz={nnz}, "
                         f"got {indptr[0]}..{indptr[-1]}")
    if indptr.shape[0] > 1 and np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    if nnz and (int(cols.min()) < 0 or int(cols.max()) >= Y.shape[0]):
        raise ValueError(f"cols out of range for Y with {Y.shape[0]} rows "
                         f"(min {cols.min()}, max {cols.max()})")
    return indptr, cols, vals, Y


def count_scaling(reg_scaling):
    if reg_scaling == "count":
        return True
    if reg_scaling == "none":
        return False
    raise ValueError(f"reg_scaling must be 'count' or 'none', got {reg_scaling!r}")


def _check_gram(YtY, Y):
    k = Y.shape[1]
    if YtY is None:
        return gramian(Y)
    YtY = np.ascontiguousarray(YtY, dtype=np.float64)
    if YtY.shape != (k, k):
        raise ValueError(f"YtY must have shape ({k}, {k}), got {YtY.shape}")
    return YtY


def _fail(kind, u, hint):
    raise np.linalg.LinAlgError(
        f"{kind}: the normal equations of row {u} are not positive definite ({hint})")


def gramian(Y):
    """``Y^T Y`` in float64, shape (k, k). In distributed ALS this is the sum over
    partitions of the partitions' Gramians (it must cover *all* factors of the side)."""
    Y64 = np.asarray(Y, dtype=np.float64)
    return Y64.T @ Y64


def solve_explicit(indptr, cols, vals, Y, reg, nonnegative=False, reg_scaling="count"):
    """Explicit-feedback ALS half-step for a block of rows.

    For each row u solves ``min_x sum_{i in R(u)} (r_ui - x.y_i)^2 + lam_u |x|^2`` with
    ``lam_u = reg * n_u`` (``reg_scaling="count"``, ALS-WR as pyspark.ml; ``n_u`` = the
    number of ratings of the row) or ``lam_u = reg`` (``"none"``), i.e.
    ``(Y_u^T Y_u + lam_u I) x = Y_u^T r_u``, by Cholesky; with ``nonnegative=True``
    subject to ``x >= 0`` (exact active-set NNLS on the normal equations -- the same KKT
    point as pyspark.ml's NNLS solver). Rows without ratings get zeros.

    Parameters: ``indptr`` (n_rows+1,) int64, ``cols`` (nnz,) int32 indices into ``Y``,
    ``vals`` (nnz,) float32, ``Y`` (n, k) float32. Returns ``X`` (n_rows, k) float32.
    Raises ``np.linalg.LinAlgError`` if a row's system is not positive definite (only
    possible with ``reg == 0``).
    """
    indptr, cols, vals, Y = _check_block(indptr, cols, vals, Y)
    cs = count_scaling(reg_scaling)
    X = np.empty((indptr.shape[0] - 1, Y.shape[1]), dtype=np.float32)
    bad = _solve_explicit_nb(indptr, cols, vals, Y, float(reg), cs, bool(nonnegative), X)
    if bad >= 0:
        _fail("solve_explicit", bad, "reg = 0 and fewer independent ratings than rank?")
    return X


def solve_implicit(indptr, cols, vals, Y, YtY, reg, alpha, nonnegative=False,
                   reg_scaling="count", confidence_offset=1.0):
    """Implicit-feedback ALS half-step (Hu, Koren & Volinsky) for a block of rows.

    Confidence ``c_ui = confidence_offset + alpha*|r_ui|``, preference
    ``p_ui = [r_ui > 0]``; unobserved entries have ``c = 1, p = 0``. For each row u solves
    ``min_x sum_{all i} c_ui (p_ui - x.y_i)^2 + lam_u |x|^2``, i.e.
    ``(YtY + Y_u^T (C_u - I) Y_u + lam_u I) x = Y_u^T C_u p_u``, with
    ``lam_u = reg * n_u`` where ``n_u`` = number of entries ``r_ui > 0``
    (``reg_scaling="count"``: pyspark.ml, whose ``ALS.scala`` passes
    ``numExplicits * regParam`` for implicit too) or ``lam_u = reg`` (``"none"``: the
    ``implicit`` library). ``confidence_offset=1`` is the paper / Spark; ``0`` with
    ``reg_scaling="none"`` reproduces the ``implicit`` library (``c = alpha*r``).

    ``YtY`` (k, k) float64 must be the Gramian of *all* the other side's factors (not
    only of the local ``Y``); ``None`` computes it from ``Y``. Rows without a positive
    entry get zeros. Cost ``O(n_u k^2 + k^3)`` per row. Returns (n_rows, k) float32.
    """
    indptr, cols, vals, Y = _check_block(indptr, cols, vals, Y)
    YtY = _check_gram(YtY, Y)
    cs = count_scaling(reg_scaling)
    X = np.empty((indptr.shape[0] - 1, Y.shape[1]), dtype=np.float32)
    bad = _solve_implicit_nb(indptr, cols, vals, Y, YtY, float(reg), float(alpha),
                             float(confidence_offset), cs, bool(nonnegative), X)
    if bad >= 0:
        _fail("solve_implicit", bad, "reg = 0, or confidence < 1 with confidence_offset < 1?")
    return X


def solve_implicit_cg(indptr, cols, vals, Y, YtY, reg, alpha, X0, cg_steps=3,
                      reg_scaling="count", confidence_offset=1.0):
    """Conjugate-gradient variant of :func:`solve_implicit` (same objective and
    conventions), warm-started from the previous factors ``X0`` (n_rows, k) and doing at
    most ``cg_steps`` CG iterations per row, as the ``implicit`` library's CG solver:
    the k x k matrix of a row is never formed; each step costs ``O(n_u k + k^2)``.
    Rows without a positive entry get zeros (the exact solution). With ``cg_steps >= k``
    it converges to the Cholesky solution. Returns (n_rows, k) float32.
    """
    indptr, cols, vals, Y = _check_block(indptr, cols, vals, Y)
    YtY = _check_gram(YtY, Y)
    cs = count_scaling(reg_scaling)
    n_rows, k = indptr.shape[0] - 1, Y.shape[1]
    X0 = np.ascontiguousarray(X0, dtype=np.float32)
    if X0.shape != (n_rows, k):
        raise ValueError(f"X0 must have shape ({n_rows}, {k}), got {X0.shape}")
    if cg_steps < 0:
        raise ValueError("cg_steps must be >= 0")
    X = np.empty((n_rows, k), dtype=np.float32)
    bad = _solve_implicit_cg_nb(indptr, cols, vals, Y, YtY, float(reg), float(alpha),
                                float(confidence_offset), cs, X0, int(cg_steps), X)
    if bad >= 0:
        _fail("solve_implicit_cg", bad, "reg = 0, or confidence < 1?")
    return X
