"""Tests of mli.algorithms.als.kernels: the numba ALS kernels against their numpy
references, against direct dense solves / scipy NNLS / the ``implicit`` library, and the
recommendation / objective helpers. No Spark."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from mli.algorithms.als import kernels as K
from mli.algorithms.als import reference as als_ref
from mli.algorithms.als.model import topk_scores
from mli.algorithms.als.solve import SOLVERS, SolveConfig, local_solve

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------- data helpers


def random_block(seed, n_rows, n_cols, k, density, kind="explicit", y_scale=1.0):
    """A CSR block (indptr int64, cols int32, vals float32) with some empty rows, and a
    float32 factor matrix Y (n_cols, k). ``kind``: 'explicit' (ratings 1..5, some
    negative), 'implicit' (positive counts with some zeros and negatives)."""
    rng = np.random.default_rng(seed)
    counts = rng.binomial(n_cols, density, size=n_rows)
    if n_rows:
        counts[rng.random(n_rows) < 0.2] = 0  # make sure there are empty rows
    cols = [np.sort(rng.choice(n_cols, size=c, replace=False)) for c in counts]
    cols = np.concatenate(cols).astype(np.int32) if n_rows else np.zeros(0, np.int32)
    nnz = cols.size
    if kind == "explicit":
        vals = rng.integers(1, 6, nnz).astype(np.float32)
        vals[rng.random(nnz) < 0.1] *= -1
    else:
        vals = rng.exponential(2.0, nnz).astype(np.float32)
        u = rng.random(nnz)
        vals[u < 0.1] = 0.0
        vals[(u >= 0.1) & (u < 0.2)] *= -1
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    Y = (rng.standard_normal((n_cols, k)) * y_scale).astype(np.float32)
    return indptr, cols, vals, Y


def row_slices(indptr):
    return [slice(int(a), int(b)) for a, b in zip(indptr[:-1], indptr[1:])]


def lam_of(reg, n, reg_scaling):
    return reg * n if reg_scaling == "count" else reg


block_args = dict(
    seed=st.integers(0, 2**32 - 1),
    n_rows=st.integers(0, 12),
    n_cols=st.integers(1, 15),
    k=st.sampled_from([1, 3, 8]),
    density=st.floats(0.0, 0.9),
    reg=st.sampled_from([0.01, 0.1, 1.0]),
    reg_scaling=st.sampled_from(["count", "none"]),
)


# ---------------------------------------------------------------------------- explicit


@SETTINGS
@given(**block_args, nonnegative=st.booleans())
def test_explicit_matches_reference(seed, n_rows, n_cols, k, density, reg, reg_scaling,
                                    nonnegative):
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density)
    X = K.solve_explicit(indptr, cols, vals, Y, reg, nonnegative=nonnegative,
                         reg_scaling=reg_scaling)
    Xr = als_ref.solve_explicit_ref(indptr, cols, vals, Y, reg, nonnegative=nonnegative,
                              reg_scaling=reg_scaling)
    assert X.dtype == np.float32 and X.shape == (n_rows, k)
    scale = max(1.0, float(np.abs(Xr).max(initial=0.0)))
    assert_allclose(X, Xr, rtol=1e-4, atol=1e-5 * scale)
    for u, s in enumerate(row_slices(indptr)):
        if s.stop == s.start:
            assert not X[u].any()
    if nonnegative:
        assert (X >= 0).all()


@SETTINGS
@given(**block_args)
def test_explicit_normal_equations(seed, n_rows, n_cols, k, density, reg, reg_scaling):
    """Gradient of each row's objective vanishes at the kernel's solution."""
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density)
    X = K.solve_explicit(indptr, cols, vals, Y, reg, reg_scaling=reg_scaling)
    for u, s in enumerate(row_slices(indptr)):
        if s.stop == s.start:
            continue
        Yu = Y[cols[s]].astype(np.float64)
        r = vals[s].astype(np.float64)
        lam = lam_of(reg, s.stop - s.start, reg_scaling)
        A = Yu.T @ Yu + lam * np.eye(k)
        x = X[u].astype(np.float64)
        grad = A @ x - Yu.T @ r
        tol = 1e-5 * (np.linalg.norm(A, 2) * np.linalg.norm(x) + np.linalg.norm(Yu.T @ r))
        assert np.linalg.norm(grad) <= tol


@SETTINGS
@given(**block_args)
def test_explicit_nnls_matches_scipy(seed, n_rows, n_cols, k, density, reg, reg_scaling):
    """NNLS rows == scipy.optimize.nnls on the stacked problem [Y_u; sqrt(lam) I] x ~ [r; 0],
    and satisfy the KKT conditions."""
    from scipy.optimize import nnls

    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density)
    X = K.solve_explicit(indptr, cols, vals, Y, reg, nonnegative=True, reg_scaling=reg_scaling)
    assert (X >= 0).all()
    for u, s in enumerate(row_slices(indptr)):
        n = s.stop - s.start
        if n == 0:
            assert not X[u].any()
            continue
        Yu = Y[cols[s]].astype(np.float64)
        r = vals[s].astype(np.float64)
        lam = lam_of(reg, n, reg_scaling)
        M = np.vstack([Yu, np.sqrt(lam) * np.eye(k)])
        rhs = np.concatenate([r, np.zeros(k)])
        xs, _ = nnls(M, rhs, maxiter=100 * k)
        scale = max(1.0, float(np.abs(xs).max()))
        assert_allclose(X[u], xs, rtol=1e-4, atol=2e-5 * scale)
        # KKT: gradient of 0.5|Mx - rhs|^2 is >= 0, and == 0 on the support
        x = X[u].astype(np.float64)
        g = M.T @ (M @ x - rhs)
        gtol = 1e-4 * (np.linalg.norm(M, 2) ** 2 * np.linalg.norm(x) + np.linalg.norm(M.T @ rhs))
        assert (g >= -gtol).all()
        assert (np.abs(g[x > 0]) <= gtol).all()


def test_nnls_many_active_constraints():
    """Ratings of mixed sign with a larger rank: many coordinates clamp to zero."""
    indptr, cols, vals, Y = random_block(7, 40, 60, 12, 0.5)
    rng = np.random.default_rng(0)
    vals = (rng.standard_normal(vals.size) * 3).astype(np.float32)
    X = K.solve_explicit(indptr, cols, vals, Y, 0.05, nonnegative=True)
    Xr = als_ref.solve_explicit_ref(indptr, cols, vals, Y, 0.05, nonnegative=True)
    assert 0.2 < (X == 0).mean() < 0.9
    assert_allclose(X, Xr, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- implicit


implicit_args = dict(block_args, alpha=st.sampled_from([0.5, 2.0, 10.0]))


@SETTINGS
@given(**implicit_args, nonnegative=st.booleans())
def test_implicit_matches_reference(seed, n_rows, n_cols, k, density, reg, reg_scaling,
                                    alpha, nonnegative):
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density, kind="implicit",
                                         y_scale=0.5)
    YtY = K.gramian(Y)
    X = K.solve_implicit(indptr, cols, vals, Y, YtY, reg, alpha, nonnegative=nonnegative,
                         reg_scaling=reg_scaling)
    Xr = als_ref.solve_implicit_ref(indptr, cols, vals, Y, YtY, reg, alpha, nonnegative=nonnegative,
                              reg_scaling=reg_scaling)
    assert X.dtype == np.float32 and X.shape == (n_rows, k)
    scale = max(1.0, float(np.abs(Xr).max(initial=0.0)))
    assert_allclose(X, Xr, rtol=1e-4, atol=1e-5 * scale)
    if nonnegative:
        assert (X >= 0).all()


@SETTINGS
@given(**implicit_args)
def test_implicit_equals_full_dense_solve(seed, n_rows, n_cols, k, density, reg, reg_scaling,
                                          alpha):
    """Kernel == direct solve of (Y^T C_u Y + lam I) x = Y^T C_u p_u over *all* items."""
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density, kind="implicit",
                                         y_scale=0.5)
    X = K.solve_implicit(indptr, cols, vals, Y, K.gramian(Y), reg, alpha,
                         reg_scaling=reg_scaling)
    Y64 = Y.astype(np.float64)
    for u, s in enumerate(row_slices(indptr)):
        r = np.zeros(n_cols)
        r[cols[s]] = vals[s]
        c = np.ones(n_cols)
        c[cols[s]] = 1.0 + alpha * np.abs(vals[s].astype(np.float64))
        p = (r > 0).astype(np.float64)
        n_pos = int(p.sum())
        if n_pos == 0:  # zero right-hand side: the solution is 0
            assert not X[u].any()
            continue
        A = Y64.T @ (c[:, None] * Y64) + lam_of(reg, n_pos, reg_scaling) * np.eye(k)
        x = np.linalg.solve(A, Y64.T @ (c * p))
        scale = max(1.0, float(np.abs(x).max()))
        assert_allclose(X[u], x, rtol=1e-4, atol=1e-5 * scale)


def test_implicit_library_convention():
    """reg_scaling='none', confidence_offset=0 reproduces the ``implicit`` library
    (confidence = alpha * r) -- both its Cholesky and its CG reference solvers."""
    pytest.importorskip("implicit")
    from implicit.cpu.als import least_squares, least_squares_cg

    indptr, cols, vals, Y = random_block(3, 30, 25, 6, 0.3, kind="implicit", y_scale=0.5)
    vals = np.abs(vals) + 1.0  # confidences >= 1, as implicit expects
    alpha, reg = 3.0, 0.2
    n_rows = indptr.size - 1
    Cui = sp.csr_matrix((alpha * vals, cols, indptr), shape=(n_rows, Y.shape[0]))
    Y64 = Y.astype(np.float64)

    Xlib = np.zeros((n_rows, Y.shape[1]))
    least_squares(Cui, Xlib, Y64, reg)
    X = K.solve_implicit(indptr, cols, vals, Y, K.gramian(Y), reg, alpha, reg_scaling="none",
                         confidence_offset=0.0)
    assert_allclose(X, Xlib, rtol=1e-4, atol=1e-5)

    X0 = np.random.default_rng(1).standard_normal(Xlib.shape).astype(np.float32)
    Xlib_cg = X0.astype(np.float64)
    least_squares_cg(Cui, Xlib_cg, Y64, reg, cg_steps=3)
    Xcg = K.solve_implicit_cg(indptr, cols, vals, Y, K.gramian(Y), reg, alpha, X0, cg_steps=3,
                              reg_scaling="none", confidence_offset=0.0)
    # rows without entries: implicit's CG only moves towards the exact solution 0
    has = np.diff(indptr) > 0
    assert not has.all()
    assert_allclose(Xcg[has], Xlib_cg[has], rtol=1e-4, atol=1e-5)
    assert not Xcg[~has].any()


def test_implicit_local_factor_matrix():
    """Y handed to the kernel may be only the referenced factors, with YtY global."""
    indptr, cols, vals, Y = random_block(5, 20, 30, 4, 0.2, kind="implicit")
    YtY = K.gramian(Y)
    used, local = np.unique(cols, return_inverse=True)
    X_full = K.solve_implicit(indptr, cols, vals, Y, YtY, 0.1, 2.0)
    X_loc = K.solve_implicit(indptr, local.astype(np.int32), vals, Y[used], YtY, 0.1, 2.0)
    assert_array_equal(X_full, X_loc)


# ---------------------------------------------------------------------------- CG


@SETTINGS
@given(**implicit_args, cg_steps=st.integers(0, 4))
def test_cg_matches_reference(seed, n_rows, n_cols, k, density, reg, reg_scaling, alpha,
                              cg_steps):
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density, kind="implicit",
                                         y_scale=0.5)
    X0 = np.random.default_rng(seed % 1000).standard_normal((n_rows, k)).astype(np.float32)
    YtY = K.gramian(Y)
    X = K.solve_implicit_cg(indptr, cols, vals, Y, YtY, reg, alpha, X0, cg_steps=cg_steps,
                            reg_scaling=reg_scaling)
    Xr = als_ref.solve_implicit_cg_ref(indptr, cols, vals, Y, YtY, reg, alpha, X0, cg_steps=cg_steps,
                                 reg_scaling=reg_scaling)
    scale = max(1.0, float(np.abs(Xr).max(initial=0.0)))
    assert_allclose(X, Xr, rtol=1e-4, atol=1e-5 * scale)


@SETTINGS
@given(**implicit_args)
def test_cg_converges_to_cholesky(seed, n_rows, n_cols, k, density, reg, reg_scaling, alpha):
    indptr, cols, vals, Y = random_block(seed, n_rows, n_cols, k, density, kind="implicit",
                                         y_scale=0.5)
    YtY = K.gramian(Y)
    X0 = np.random.default_rng(seed % 997).standard_normal((n_rows, k)).astype(np.float32)
    Xc = K.solve_implicit(indptr, cols, vals, Y, YtY, reg, alpha, reg_scaling=reg_scaling)
    Xg = K.solve_implicit_cg(indptr, cols, vals, Y, YtY, reg, alpha, X0, cg_steps=4 * k + 4,
                             reg_scaling=reg_scaling)
    scale = max(1.0, float(np.abs(Xc).max(initial=0.0)))
    assert_allclose(Xg, Xc, rtol=1e-3, atol=1e-4 * scale)


def test_cg_objective_decreases_with_steps():
    """Each CG step lowers the row's quadratic objective 0.5 x'Ax - b'x."""
    indptr, cols, vals, Y = random_block(11, 25, 40, 8, 0.3, kind="implicit", y_scale=0.5)
    YtY = K.gramian(Y)
    reg, alpha = 0.05, 5.0
    X0 = np.zeros((indptr.size - 1, 8), np.float32)

    def objective(X):
        out = []
        for u, s in enumerate(row_slices(indptr)):
            v = vals[s].astype(np.float64)
            Yu = Y[cols[s]].astype(np.float64)
            c1 = alpha * np.abs(v)
            cp = np.where(v > 0, 1.0 + c1, 0.0)
            A = YtY + (Yu.T * c1) @ Yu + reg * (v > 0).sum() * np.eye(8)
            x = X[u].astype(np.float64)
            out.append(0.5 * x @ A @ x - (Yu.T @ cp) @ x)
        return np.array(out)

    prev = objective(X0)
    for steps in range(1, 6):
        cur = objective(K.solve_implicit_cg(indptr, cols, vals, Y, YtY, reg, alpha, X0,
                                            cg_steps=steps))
        assert (cur <= prev + 1e-6 * np.abs(prev)).all()
        prev = cur
    best = objective(K.solve_implicit(indptr, cols, vals, Y, YtY, reg, alpha))
    assert (best <= prev + 1e-6 * np.abs(prev)).all()


# ---------------------------------------------------------------------------- edge cases


def test_empty_block_and_empty_rows():
    Y = np.ones((4, 3), np.float32)
    YtY = K.gramian(Y)
    for indptr in (np.array([0]), np.array([0, 0, 0])):
        n = indptr.size - 1
        e_c, e_v = np.zeros(0, np.int32), np.zeros(0, np.float32)
        assert K.solve_explicit(indptr, e_c, e_v, Y, 0.1).shape == (n, 3)
        assert not K.solve_explicit(indptr, e_c, e_v, Y, 0.1, nonnegative=True).any()
        assert not K.solve_implicit(indptr, e_c, e_v, Y, YtY, 0.1, 1.0).any()
        assert not K.solve_implicit_cg(indptr, e_c, e_v, Y, YtY, 0.1, 1.0,
                                       np.ones((n, 3), np.float32)).any()
    # a row whose entries are all <= 0 has no preference: exactly zero
    X = K.solve_implicit([0, 2], [0, 1], [0.0, -2.0], Y, YtY, 0.1, 1.0)
    assert not X.any()


def test_input_validation():
    Y = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        K.solve_explicit([0, 1], [4], [1.0], Y, 0.1)
    with pytest.raises(ValueError, match="indptr"):
        K.solve_explicit([0, 2], [1], [1.0], Y, 0.1)
    with pytest.raises(ValueError, match="reg_scaling"):
        K.solve_explicit([0, 1], [1], [1.0], Y, 0.1, reg_scaling="rows")
    with pytest.raises(ValueError, match="YtY"):
        K.solve_implicit([0, 1], [1], [1.0], Y, np.eye(3), 0.1, 1.0)
    with pytest.raises(np.linalg.LinAlgError):  # reg = 0, one rating, rank 2: singular
        K.solve_explicit([0, 1], [1], [1.0], Y, 0.0)


def test_inputs_are_coerced():
    """float64 / int64 / non-contiguous inputs give the same result as the canonical dtypes."""
    indptr, cols, vals, Y = random_block(2, 10, 12, 3, 0.4)
    X = K.solve_explicit(indptr, cols, vals, Y, 0.1)
    Yf = np.asfortranarray(Y.astype(np.float64))
    X2 = K.solve_explicit(indptr.astype(np.int32), cols.astype(np.int64),
                          vals.astype(np.float64), Yf, 0.1)
    assert_array_equal(X, X2)


# ---------------------------------------------------------------------------- top-k


def topk_reference(Xq, Y, k, excl_indptr=None, excl_idx=None):
    S = Xq.astype(np.float32) @ Y.astype(np.float32).T
    n, m = S.shape
    items = np.full((n, k), -1, np.int32)
    scores = np.full((n, k), -np.inf, np.float32)
    for q in range(n):
        row = S[q].copy()
        if excl_indptr is not None:
            row[excl_idx[excl_indptr[q]:excl_indptr[q + 1]]] = -np.inf
        order = np.lexsort((np.arange(m), -row))[:k]  # best first, ties by index
        ok = np.isfinite(row[order])
        items[q, :order.size] = np.where(ok, order, -1)
        scores[q, :order.size] = row[order]
    return items, scores


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 25), m=st.integers(1, 30),
       r=st.sampled_from([1, 3, 8]), k=st.integers(0, 35), exclude=st.booleans(),
       block_rows=st.sampled_from([None, 1, 4]))
def test_topk_against_full_sort(seed, n, m, r, k, exclude, block_rows):
    # small integer factors: many exact ties, and float32 scores are exact
    rng = np.random.default_rng(seed)
    Xq = rng.integers(-2, 3, (n, r)).astype(np.float32)
    Y = rng.integers(-2, 3, (m, r)).astype(np.float32)
    ei = ex = None
    if exclude:
        counts = rng.integers(0, m + 1, n)
        ei = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        ex = np.concatenate([rng.choice(m, c, replace=False) for c in counts] + [np.zeros(0)])
        ex = ex.astype(np.int64)
    items, scores = topk_scores(Xq, Y, k, ei, ex, block_rows=block_rows)
    ri, rs = topk_reference(Xq, Y, k, ei, ex)
    assert items.dtype == np.int32 and scores.dtype == np.float32
    assert items.shape == scores.shape == (n, k)
    assert_array_equal(items, ri)
    assert_array_equal(scores, rs)


def test_topk_random_floats():
    rng = np.random.default_rng(0)
    Xq = rng.standard_normal((50, 8)).astype(np.float32)
    Y = rng.standard_normal((200, 8)).astype(np.float32)
    items, scores = topk_scores(Xq, Y, 10, block_rows=50)
    ri, rs = topk_reference(Xq, Y, 10)
    assert_array_equal(items, ri)
    assert_allclose(scores, rs, rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()


# ---------------------------------------------------------------- objectives / reference ALS


def small_ratings(seed, n_users=15, n_items=12, density=0.35, implicit=False):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    R = np.where(mask, rng.integers(1, 6, (n_users, n_items)), 0).astype(np.float64)
    if implicit:
        R = np.where(mask, rng.exponential(2.0, (n_users, n_items)), 0.0)
    return sp.csr_matrix(R), R, mask


@pytest.mark.parametrize("reg_scaling", ["count", "none"])
def test_objectives_match_dense(reg_scaling):
    C, R, mask = small_ratings(0)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((15, 3))
    Y = rng.standard_normal((12, 3))
    reg, alpha = 0.3, 2.0
    S = X @ Y.T
    nu = mask.sum(1) if reg_scaling == "count" else np.ones(15)
    ni = mask.sum(0) if reg_scaling == "count" else np.ones(12)
    regterm = reg * (nu @ (X**2).sum(1) + ni @ (Y**2).sum(1))
    assert_allclose(als_ref.explicit_objective(C, X, Y, reg, reg_scaling),
                    ((R - S)[mask] ** 2).sum() + regterm, rtol=1e-10)
    Cm = np.where(mask, 1.0 + alpha * np.abs(R), 1.0)
    P = (R > 0).astype(float)
    assert_allclose(als_ref.implicit_objective(C, X, Y, reg, alpha, reg_scaling),
                    (Cm * (P - S) ** 2).sum() + regterm, rtol=1e-10)
    rows, cols = np.nonzero(mask)
    assert_allclose(als_ref.explicit_objective((rows, cols, R[rows, cols]), X, Y, reg, reg_scaling),
                    als_ref.explicit_objective(C, X, Y, reg, reg_scaling), rtol=1e-12)


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("nonnegative", [False, True])
def test_reference_als_decreases_objective(implicit, nonnegative):
    C, R, mask = small_ratings(2, implicit=implicit)
    X, Y, obj = als_ref.als_reference(C, rank=3, iters=6, reg=0.1, implicit=implicit, alpha=3.0,
                                nonnegative=nonnegative, seed=4)
    assert X.shape == (15, 3) and Y.shape == (12, 3)
    assert all(b <= a * (1 + 1e-6) for a, b in zip(obj, obj[1:]))
    if nonnegative:
        assert (X >= 0).all() and (Y >= 0).all()
    # dense input with a mask gives the same run
    X2, Y2, obj2 = als_ref.als_reference(R, rank=3, iters=6, reg=0.1, implicit=implicit, alpha=3.0,
                                   nonnegative=nonnegative, seed=4, mask=mask)
    assert_allclose(obj2, obj, rtol=1e-12)


@pytest.mark.parametrize("implicit", [False, True])
def test_numba_als_matches_reference_als(implicit):
    """A full ALS run driven by the numba kernels tracks the numpy reference ALS."""
    C, _, _ = small_ratings(5, n_users=30, n_items=20, implicit=implicit)
    rank, reg, alpha = 4, 0.05, 2.0
    Xr, Yr, obj = als_ref.als_reference(C, rank, iters=5, reg=reg, implicit=implicit, alpha=alpha,
                                  seed=9)
    Ct = C.T.tocsr()
    X = als_ref.init_factors(30, rank, 9)
    for _ in range(5):
        if implicit:
            Y = K.solve_implicit(Ct.indptr, Ct.indices, Ct.data, X, K.gramian(X), reg, alpha)
            X = K.solve_implicit(C.indptr, C.indices, C.data, Y, K.gramian(Y), reg, alpha)
        else:
            Y = K.solve_explicit(Ct.indptr, Ct.indices, Ct.data, X, reg)
            X = K.solve_explicit(C.indptr, C.indices, C.data, Y, reg)
    assert_allclose(X, Xr, rtol=1e-3, atol=1e-4)
    assert_allclose(Y, Yr, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------------- one interface


# conjugate gradient has no nonnegative variant (ALS refuses the pair)
@pytest.mark.parametrize("solver,nonnegative", [(s, nn) for s in sorted(SOLVERS)
                                                for nn in (False, True)
                                                if not (s == "implicit_cg" and nn)])
def test_every_local_solver_equals_its_reference_through_one_interface(solver, nonnegative):
    kind = "explicit" if solver == "explicit" else "implicit"
    indptr, cols, vals, Y = random_block(7, 30, 20, 4, 0.3, kind=kind)
    cfg = SolveConfig(solver=solver, rank=4, implicit=kind == "implicit", reg=0.1, alpha=2.0,
                      nonnegative=nonnegative, cg=solver == "implicit_cg", cg_steps=3,
                      count_scaling=True, offset=1.0, biases=False, mu=0.0, want_loss=False)
    G = K.gramian(Y)
    X0 = np.full((30, 4), 0.1, np.float32)
    fast = local_solve(cfg, indptr, cols, vals, Y, G, X0)
    slow = local_solve(cfg, indptr, cols, vals, Y, G, X0, reference=True)
    assert fast.shape == (30, 4) and fast.dtype == np.float32
    assert_allclose(fast, slow, rtol=2e-4, atol=2e-5)
    assert SOLVERS[solver].kernel is not SOLVERS[solver].reference
