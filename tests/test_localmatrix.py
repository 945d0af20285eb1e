"""Tests of mli.linalg.localmatrix.LocalMatrix: every operation against numpy on the dense equivalent.

Dense and CSR variants of each matrix are generated with hypothesis; no Spark is needed.
"""
from __future__ import annotations

import doctest
import operator
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mli.linalg.localmatrix as lm_module
from mli.linalg.localmatrix import LocalMatrix, hstack, vstack

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
KINDS = st.sampled_from(["dense", "sparse"])
FINITE = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
SCALARS = st.floats(-5, 5, allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) > 1e-3)
close = np.testing.assert_allclose


# ---------------------------------------------------------------------------- strategies


@st.composite
def arrays(draw, shape=None, max_side=6, nonzero=False):
    """A float64 array with some exact zeros (so the CSR variant is really sparse)."""
    if shape is None:
        shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    elements = FINITE.filter(lambda x: abs(x) > 1e-3) if nonzero else FINITE
    a = draw(hnp.arrays(np.float64, shape, elements=elements))
    if not nonzero:
        a = np.where(draw(hnp.arrays(np.bool_, shape)), 0.0, a)
    return a + 0.0  # no negative zeros: a CSR matrix does not keep their sign


def wrap(a: np.ndarray, kind: str) -> LocalMatrix:
    return LocalMatrix(sp.csr_matrix(a) if kind == "sparse" else a)


@st.composite
def matrices(draw, shape=None, kind=None, max_side=6):
    """(LocalMatrix, its dense numpy equivalent)."""
    a = draw(arrays(shape=shape, max_side=max_side))
    return wrap(a, kind or draw(KINDS)), a


def check(m, expected, sparse=None):
    """``m`` is a LocalMatrix equal to ``expected`` (and sparse iff ``sparse`` if given)."""
    assert isinstance(m, LocalMatrix)
    assert m.ndim == 2
    if m.is_sparse:
        assert type(m.array) is sp.csr_matrix
    else:
        assert type(m.array) is np.ndarray or isinstance(m.array, np.memmap)
    if sparse is not None:
        assert m.is_sparse == sparse, (m.is_sparse, sparse)
    assert m.shape == np.shape(expected)
    close(m.to_numpy(), expected, rtol=1e-10, atol=1e-10)


def index_for(n: int):
    """Row or column indices for an axis of length n: int, slice, int array or mask."""
    bound = st.none() | st.integers(-n - 1, n + 1)
    return st.one_of(
        st.integers(-n, n - 1),
        st.builds(slice, bound, bound, st.none() | st.sampled_from([1, 2, -1, -2])),
        st.lists(st.integers(-n, n - 1), max_size=2 * n).map(
            lambda v: np.array(v, dtype=np.intp)),
        hnp.arrays(np.bool_, n),
    )


def ref_index(k, n: int) -> np.ndarray:
    if isinstance(k, (int, np.integer)):
        return np.array([k % n])
    return np.arange(n)[k]


# ---------------------------------------------------------------------------- construction


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrap_dense_no_copy_keeps_dtype(dtype):
    a = np.arange(6, dtype=dtype).reshape(2, 3)
    m = LocalMatrix(a)
    assert m.array is a
    assert m.dtype == dtype
    assert LocalMatrix(m).array is a


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.float16])
def test_wrap_converts_other_real_dtypes_to_float64(dtype):
    a = np.ones((2, 2), dtype=dtype)
    m = LocalMatrix(a)
    assert m.dtype == np.float64
    close(m.to_numpy(), np.ones((2, 2)))


def test_wrap_read_only_memmap_without_copy(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    mm = np.load(path, mmap_mode="r")
    m = LocalMatrix(mm)
    assert m.array is mm and not mm.flags.writeable
    assert type(m @ np.ones(3)) is np.ndarray
    close(m @ np.ones(3), np.arange(12.0).reshape(4, 3).sum(axis=1))


def test_wrap_sparse():
    csr = sp.random(4, 5, density=0.4, format="csr", rng=0)
    assert LocalMatrix(csr).array is csr
    for other in (csr.tocoo(), csr.tocsc(), sp.csr_array(csr), sp.coo_array(csr)):
        m = LocalMatrix(other)
        assert type(m.array) is sp.csr_matrix
        close(m.to_numpy(), csr.toarray())
    ints = LocalMatrix(sp.csr_matrix(np.array([[1, 0], [0, 2]])))
    assert ints.dtype == np.float64 and ints.is_sparse


def test_wrap_np_matrix_and_lists():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = LocalMatrix(np.matrix([[1.0, 2.0]]))
    assert type(m.array) is np.ndarray
    check(LocalMatrix([[1, 2], [3, 4]]), np.array([[1.0, 2.0], [3.0, 4.0]]), sparse=False)


def test_wrap_rejects_1d_3d_and_non_real():
    with pytest.raises(ValueError, match="2-D.*from_vector"):
        LocalMatrix(np.ones(3))
    with pytest.raises(ValueError, match="2-D"):
        LocalMatrix(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        LocalMatrix(np.float64(1.0))
    with pytest.raises(TypeError, match="complex"):
        LocalMatrix(np.ones((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="real"):
        LocalMatrix(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="2-D"):
        LocalMatrix(sp.coo_array(np.ones(3)))
    with pytest.raises(ValueError, match="row 1 has length 1, expected 2"):
        LocalMatrix([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------------------- properties


@SETTINGS
@given(matrices())
def test_properties(ma):
    m, a = ma
    assert m.shape == a.shape and (m.nrows, m.ncols) == a.shape
    assert len(m) == a.shape[0] and m.size == a.size and m.ndim == 2
    assert m.dtype == np.float64
    assert m.nnz == np.count_nonzero(a)
    assert m.nbytes > 0 or m.is_sparse
    check(m.T, a.T, sparse=m.is_sparse)
    check(m.transpose(), a.T)
    assert m.T.T is m
    rows = list(m)
    assert len(rows) == a.shape[0]
    for r, row in zip(rows, a):
        check(r, row[None, :], sparse=m.is_sparse)


# ---------------------------------------------------------------------------- indexing


@SETTINGS
@given(st.data(), matrices())
def test_indexing(data, ma):
    m, a = ma
    n, k = a.shape
    rk = data.draw(index_for(n))
    ck = data.draw(index_for(k))
    expected = a[np.ix_(ref_index(rk, n), ref_index(ck, k))]
    check(m[rk, ck], expected, sparse=m.is_sparse)
    check(m[rk], a[ref_index(rk, n)], sparse=m.is_sparse)
    check(m[(rk,)], a[ref_index(rk, n)])
    check(m.rows(rk), a[ref_index(rk, n)])
    check(m.cols(ck), a[:, ref_index(ck, k)])


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_indexing_keeps_2d_and_lists(kind):
    a = np.arange(12.0).reshape(3, 4)
    m = wrap(a, kind)
    check(m[1], a[1:2])
    check(m[:, -1], a[:, 3:4])
    check(m[-1, 0], a[2:3, 0:1])
    check(m[[2, 0]], a[[2, 0]])
    check(m[[True, False, True], [0, 3]], a[np.ix_([0, 2], [0, 3])])
    check(m[[], :], a[:0])


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_indexing_errors(kind):
    m = wrap(np.arange(12.0).reshape(3, 4), kind)
    with pytest.raises(IndexError, match="row index 3 is out of range for 3 rows"):
        m[3]
    with pytest.raises(IndexError, match="column index -5"):
        m[:, -5]
    with pytest.raises(IndexError, match="row index 7"):
        m[[0, 7]]
    with pytest.raises(IndexError, match="mask has length 2, expected 3"):
        m[np.array([True, False])]
    with pytest.raises(IndexError, match="2-D"):
        m[0, 0, 0]
    with pytest.raises(IndexError, match="integers or booleans"):
        m[np.array([0.5])]
    with pytest.raises(IndexError, match="boolean scalar"):
        m[True]
    with pytest.raises(IndexError):
        m[None]


# ---------------------------------------------------------------------------- elementwise


def _expected_sparse_rule(op, left_sparse: bool, right_sparse: bool):
    if op in (operator.add, operator.sub):
        return left_sparse and right_sparse
    if op is operator.mul:
        return left_sparse or right_sparse
    if op is operator.truediv:
        return left_sparse
    return None


@SETTINGS
@given(st.data(), KINDS, KINDS,
       st.sampled_from([operator.add, operator.sub, operator.mul, operator.truediv]))
def test_elementwise_two_matrices(data, k1, k2, op):
    a = data.draw(arrays())
    b = data.draw(arrays(shape=a.shape, nonzero=op is operator.truediv and k2 == "dense"))
    m1, m2 = wrap(a, k1), wrap(b, k2)
    with np.errstate(all="ignore"):
        expected = op(a, b)
        if op is operator.truediv and k1 == "sparse":
            expected = np.where(a == 0, 0.0, expected)  # implicit zeros of a stay zero
        got = op(m1, m2)
        got_nd = op(m1, b)          # ndarray right operand
        got_rnd = op(a, m2)         # ndarray left operand -> reflected
    sparse = _expected_sparse_rule(op, k1 == "sparse", k2 == "sparse")
    check(got, expected, sparse=sparse)
    check(got_nd, expected, sparse=_expected_sparse_rule(op, k1 == "sparse", False))
    with np.errstate(all="ignore"):
        expected_r = op(a, b)
        if op is operator.mul and k2 == "sparse":
            expected_r = np.where(b == 0, 0.0, expected_r)
    check(got_rnd, expected_r,
          sparse=_expected_sparse_rule(op, False, k2 == "sparse"))


@SETTINGS
@given(matrices(), SCALARS)
def test_elementwise_scalars(ma, s):
    m, a = ma
    sparse = m.is_sparse
    check(m + s, a + s, sparse=False)
    check(s + m, s + a, sparse=False)
    check(m - s, a - s, sparse=False)
    check(s - m, s - a, sparse=False)
    check(m * s, a * s, sparse=sparse)
    check(s * m, s * a, sparse=sparse)
    check(m * np.float64(s), a * s, sparse=sparse)
    check(np.float64(s) * m, a * s, sparse=sparse)
    check(m / s, a / s, sparse=sparse)
    check(m + 0, a, sparse=sparse)
    check(0 + m, a, sparse=sparse)
    check(0 - m, -a, sparse=sparse)
    check(m ** 2, a ** 2, sparse=sparse)
    check(m ** 3, a ** 3, sparse=sparse)
    check(abs(m) ** 0.5, np.abs(a) ** 0.5, sparse=sparse)
    check(2.0 ** m, 2.0 ** a, sparse=False)
    check(m ** 0, np.ones_like(a), sparse=False)
    check(-m, -a, sparse=sparse)
    check(+m, a, sparse=sparse)
    check(abs(m), np.abs(a), sparse=sparse)
    with np.errstate(all="ignore"):
        check(s / m, s / a, sparse=False)
    check(m * np.array(s), a * s, sparse=sparse)  # 0-d array is a scalar


@SETTINGS
@given(matrices(), st.data())
def test_elementwise_broadcasting(ma, data):
    m, a = ma
    row = data.draw(arrays(shape=(a.shape[1],), nonzero=True))
    col = data.draw(arrays(shape=(a.shape[0], 1), nonzero=True))
    check(m - row, a - row, sparse=False)
    check(row - m, row - a, sparse=False)
    check(m * row, a * row, sparse=m.is_sparse)
    check(row * m, a * row, sparse=m.is_sparse)
    check(m / col, a / col, sparse=m.is_sparse)
    check(m * LocalMatrix(col), a * col, sparse=m.is_sparse)
    # sparse + sparse of equal shapes stays sparse; a broadcast sparse operand densifies
    check(m + LocalMatrix(sp.csr_matrix(row[None, :])), a + row,
          sparse=m.is_sparse and a.shape[0] == 1)


@SETTINGS
@given(matrices(), st.sampled_from([operator.add, operator.mul, operator.pow]))
def test_elementwise_power_of_matrices(ma, op):
    m, a = ma
    b = np.abs(a) + 1.0
    check(op(LocalMatrix(b), m), op(b, a))
    check(op(b, m), op(b, a))


@pytest.mark.parametrize("k1", ["dense", "sparse"])
@pytest.mark.parametrize("k2", ["dense", "sparse"])
def test_elementwise_shape_mismatch(k1, k2):
    m1 = wrap(np.ones((2, 3)), k1)
    m2 = wrap(np.ones((3, 2)), k2)
    for op in (operator.add, operator.sub, operator.mul, operator.truediv):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(3, 2\)"):
            op(m1, m2)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        m1 + np.ones(4)
    with pytest.raises(ValueError, match="2-D"):
        m1 * np.ones((2, 2, 3))
    with pytest.raises(TypeError):
        m1 + [1.0, 2.0, 3.0]
    with pytest.raises(TypeError):
        m1 + "a"


# ---------------------------------------------------------------------------- products


@SETTINGS
@given(st.data(), KINDS, KINDS)
def test_matmul(data, k1, k2):
    a = data.draw(arrays())
    n, k = a.shape
    b = data.draw(arrays(shape=(k, data.draw(st.integers(1, 5)))))
    w = data.draw(arrays(shape=(k,)))
    v = data.draw(arrays(shape=(n,)))
    m1, m2 = wrap(a, k1), wrap(b, k2)

    out = m1 @ w
    assert type(out) is np.ndarray and out.shape == (n,)
    close(out, a @ w, atol=1e-9)
    out = m1 @ b
    assert type(out) is np.ndarray
    close(out, a @ b, atol=1e-9)
    out = v @ m1
    assert type(out) is np.ndarray and out.shape == (k,)
    close(out, v @ a, atol=1e-9)
    out = a.T @ m1
    assert type(out) is np.ndarray
    close(out, a.T @ a, atol=1e-9)

    both_sparse = k1 == "sparse" and k2 == "sparse"
    check(m1 @ m2, a @ b, sparse=both_sparse)
    check(m1.matmul(m2), a @ b, sparse=both_sparse)
    check(m1.dot(m2), a @ b, sparse=both_sparse)
    check(m1 @ m2.to_scipy(), a @ b)
    close(m1.dot(w), a @ w, atol=1e-9)

    out = m1.tdot(v)
    assert type(out) is np.ndarray
    close(out, a.T @ v, atol=1e-9)
    check(m1.tdot(m1), a.T @ a)
    close(m1.tdot(list(v)), a.T @ v, atol=1e-9)
    close(m1.T @ v, a.T @ v, atol=1e-9)


class _SubArray(np.ndarray):
    pass


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_matmul_shape_mismatch(kind):
    m = wrap(np.ones((2, 3)), kind)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 3\)"):
        m @ m
    with pytest.raises(ValueError):
        m @ np.ones(2)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        m @ np.ones(4).view(_SubArray)  # ndarray subclasses take the checked path
    with pytest.raises(ValueError, match="transpose"):
        m.tdot(LocalMatrix(np.ones((3, 1))))
    with pytest.raises(TypeError):
        m @ "x"


@SETTINGS
@given(st.data(), KINDS)
def test_solve(data, kind):
    n = data.draw(st.integers(1, 6))
    a = data.draw(arrays(shape=(n, n)))
    a = a + np.diag(np.abs(a).sum(axis=1) + 1.0)  # strictly diagonally dominant
    m = wrap(a, kind)
    b = data.draw(arrays(shape=(n,)))
    B = data.draw(arrays(shape=(n, 2)))
    x = m.solve(b)
    assert type(x) is np.ndarray and x.shape == (n,)
    close(x, np.linalg.solve(a, b), atol=1e-9)
    x = m.solve(B[:, :1])
    assert x.shape == (n, 1)
    close(x, np.linalg.solve(a, B[:, :1]), atol=1e-9)
    close(m.solve(B), np.linalg.solve(a, B), atol=1e-9)
    check(m.solve(LocalMatrix(B)), np.linalg.solve(a, B))
    X = m.solve(LocalMatrix(sp.csr_matrix(B)))
    assert isinstance(X, LocalMatrix)
    close(X.to_numpy(), np.linalg.solve(a, B), atol=1e-9)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_solve_errors(kind):
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        wrap(np.ones((2, 3)), kind).solve(np.ones(2))
    for singular in (np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((2, 2)),
                     np.array([[1.0, 0.0], [0.0, 0.0]])):
        with pytest.raises(ValueError, match="singular"):
            wrap(singular, kind).solve(np.ones(2))
    with pytest.raises(ValueError, match=r"right-hand side has shape \(3,\)"):
        wrap(np.eye(2), kind).solve(np.ones(3))


# ---------------------------------------------------------------------------- stacking


@SETTINGS
@given(st.data(), st.lists(KINDS, min_size=1, max_size=4))
def test_stacking(data, kinds):
    k = data.draw(st.integers(1, 5))
    parts = [data.draw(arrays(shape=(data.draw(st.integers(1, 4)), k))) for _ in kinds]
    blocks = [wrap(p, kind) for p, kind in zip(parts, kinds)]
    any_sparse = "sparse" in kinds
    check(LocalMatrix.vstack(blocks), np.vstack(parts), sparse=any_sparse)
    check(vstack(blocks), np.vstack(parts), sparse=any_sparse)
    tparts = [p.T for p in parts]
    tblocks = [b.T for b in blocks]
    check(LocalMatrix.hstack(tblocks), np.hstack(tparts), sparse=any_sparse)
    check(hstack(tblocks), np.hstack(tparts), sparse=any_sparse)
    check(blocks[0].on(blocks[-1]), np.vstack([parts[0], parts[-1]]),
          sparse=kinds[0] == "sparse" or kinds[-1] == "sparse")
    check(tblocks[0].then(tblocks[-1]), np.hstack([tparts[0], tparts[-1]]))
    check(blocks[0].on(parts[-1]), np.vstack([parts[0], parts[-1]]))  # ndarray operand


@pytest.mark.parametrize("k1", ["dense", "sparse"])
@pytest.mark.parametrize("k2", ["dense", "sparse"])
def test_stacking_errors(k1, k2):
    m1, m2 = wrap(np.ones((2, 3)), k1), wrap(np.ones((4, 2)), k2)
    with pytest.raises(ValueError, match=r"vertically.*\(2, 3\).*\(4, 2\).*column"):
        m1.on(m2)
    with pytest.raises(ValueError, match=r"horizontally.*\(2, 3\).*\(4, 2\).*row"):
        m1.then(m2)
    with pytest.raises(ValueError, match=r"block 2 has shape \(4, 2\)"):
        LocalMatrix.vstack([m1, m1, m2])
    with pytest.raises(ValueError, match="empty"):
        LocalMatrix.hstack([])


# ---------------------------------------------------------------------------- reductions


@SETTINGS
@given(matrices())
def test_reductions(ma):
    m, a = ma
    for name in ("sum", "mean", "min", "max"):
        close(getattr(m, name)(), getattr(a, name)(), atol=1e-9)
        for axis in (0, 1):
            got = getattr(m, name)(axis=axis)
            assert type(got) is np.ndarray and got.ndim == 1
            close(got, getattr(a, name)(axis=axis), atol=1e-9)
    for ord_ in (None, "fro", 1, -1, np.inf, -np.inf, 2, "nuc"):
        with np.errstate(all="ignore"):  # ord=-1 of a vector with a zero or a tiny value
            _check_norm(m, a, ord_)
    for ord_ in (None, 1, 2, np.inf):
        for axis in (0, 1):
            close(m.norm(ord_, axis=axis), np.linalg.norm(a, ord=ord_, axis=axis), atol=1e-9)
    close(m.row_norms(), np.sqrt((a ** 2).sum(axis=1)), atol=1e-9)
    close(m.row_norms(squared=True), (a ** 2).sum(axis=1), atol=1e-9)


def _check_norm(m, a, ord_):
    if min(a.shape) == 1:  # a single row or column is normed as a vector
        expected = np.linalg.norm(a.ravel(), ord=None if ord_ in ("fro", "nuc") else ord_)
    else:
        expected = np.linalg.norm(a, ord=ord_)
    close(m.norm(ord_), expected, atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_vector_norms(kind):
    v = np.array([3.0, -4.0, 0.0])
    for shaped in (v[None, :], v[:, None]):
        m = wrap(shaped, kind)
        for ord_ in (None, 1, 2, np.inf):
            close(m.norm(ord_), np.linalg.norm(v, ord=ord_))


# ---------------------------------------------------------------------------- conversions


@SETTINGS
@given(matrices())
def test_conversions(ma):
    m, a = ma
    d = m.to_numpy()
    assert type(d) is np.ndarray
    close(d, a)
    if not m.is_sparse:
        assert np.shares_memory(d, m.array)
        assert not np.shares_memory(m.to_numpy(copy=True), m.array)
        assert m.to_dense() is m
        assert np.shares_memory(np.asarray(m), m.array)
        assert np.shares_memory(np.asarray(m, copy=False), m.array)
    else:
        assert m.to_sparse() is m and m.to_scipy() is m.array
        with pytest.raises(ValueError, match="without a copy"):
            np.asarray(m, copy=False)
    assert not np.shares_memory(np.array(m, copy=True), d)
    close(np.asarray(m), a)
    assert np.asarray(m, dtype=np.float32).dtype == np.float32
    assert type(m.to_scipy()) is sp.csr_matrix
    close(m.to_scipy().toarray(), a)
    check(m.to_dense(), a, sparse=False)
    check(m.to_sparse(), a, sparse=True)
    m32 = m.astype(np.float32)
    assert m32.dtype == np.float32 and m32.is_sparse == m.is_sparse
    close(m32.to_numpy(), a, rtol=1e-6, atol=1e-6)
    c = m.copy()
    check(c, a, sparse=m.is_sparse)
    assert not np.shares_memory(c.to_scipy().data, m.to_scipy().data) or not m.is_sparse
    r = repr(m)
    assert r.startswith("LocalMatrix(") and (("sparse" in r) == m.is_sparse)


def test_astype_rejects_non_float():
    with pytest.raises(TypeError, match="float32 or float64"):
        LocalMatrix(np.eye(2)).astype(np.int64)


def test_repr_and_to_vector():
    assert repr(LocalMatrix(np.eye(2, dtype=np.float32))).endswith("dtype=float32)")
    assert repr(LocalMatrix(sp.eye(3, format="csr"))) == \
        "LocalMatrix(<3x3 sparse, 3 stored, float64>)"
    close(LocalMatrix(np.ones((1, 3))).to_vector(), np.ones(3))
    with pytest.raises(ValueError, match=r"single row or column.*\(2, 2\)"):
        LocalMatrix(np.eye(2)).to_vector()


def test_identity_equality_and_allclose():
    a = np.arange(6.0).reshape(2, 3)
    m = LocalMatrix(a)
    assert m == m and not (m == LocalMatrix(a)) and m != LocalMatrix(a)
    assert len({m, m}) == 1
    s = m.to_sparse()
    for x, y in ((m, s), (s, m), (s, s.copy()), (m, a), (s, sp.csr_matrix(a))):
        assert x.allclose(y)
    assert not s.allclose(s * 1.01)
    assert s.allclose(s * (1 + 1e-9))
    assert not m.allclose(m + 0.01)
    assert m.allclose(m + 0.01, atol=0.1)
    assert not m.allclose(np.arange(6.0).reshape(3, 2))
    assert not s.allclose(LocalMatrix(sp.csr_matrix(np.ones((3, 2)))))
    other = LocalMatrix(sp.csr_matrix(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]])))
    assert not s.allclose(other)  # differing sparsity pattern
    assert not LocalMatrix(np.full((1, 1), np.nan)).allclose(np.full((1, 1), np.nan))
    inf = LocalMatrix(sp.csr_matrix(np.array([[np.inf, 0.0]])))
    assert inf.allclose(inf.copy())


@SETTINGS
@given(matrices())
def test_allclose_matches_numpy(ma):
    m, a = ma
    for other in (m.to_dense(), m.to_sparse()):
        assert m.allclose(other)
    nz = np.argwhere(a != 0)
    if len(nz):
        b = a.copy()
        b[tuple(nz[0])] += 1.0
        for other in (LocalMatrix(b), LocalMatrix(sp.csr_matrix(b))):
            assert m.allclose(other) == np.allclose(a, b)


def test_pickle_roundtrip():
    for m in (LocalMatrix(np.arange(6.0).reshape(2, 3)), LocalMatrix(sp.eye(3, format="csr"))):
        m.T  # fill the transpose cache; it is not pickled
        m2 = pickle.loads(pickle.dumps(m))
        assert m2.is_sparse == m.is_sparse and m2.allclose(m)
        assert m2._t is None


# ---------------------------------------------------------------------------- constructors


def test_constructors():
    check(LocalMatrix.zeros(2, 3), np.zeros((2, 3)), sparse=False)
    z = LocalMatrix.zeros(2, 3, dtype=np.float32, sparse=True)
    assert z.dtype == np.float32 and z.nnz == 0
    check(z, np.zeros((2, 3)), sparse=True)
    check(LocalMatrix.eye(3), np.eye(3), sparse=False)
    check(LocalMatrix.eye(3, sparse=True), np.eye(3), sparse=True)
    check(LocalMatrix.from_rows([[1, 2, 3], np.array([4.0, 5, 6])]),
          np.array([[1.0, 2, 3], [4, 5, 6]]), sparse=False)
    assert LocalMatrix.from_rows([[1, 2]], dtype=np.float32).dtype == np.float32
    check(LocalMatrix.from_rows([LocalMatrix(np.ones((1, 2))), sp.csr_matrix(np.ones((1, 2)))]),
          np.ones((2, 2)))
    check(LocalMatrix.from_vector([1.0, 2.0]), np.array([[1.0], [2.0]]))
    check(LocalMatrix.from_vector(np.arange(3), column=False), np.arange(3.0)[None, :])
    r1 = LocalMatrix.random(4, 5, seed=7)
    assert r1.allclose(LocalMatrix.random(4, 5, seed=7)) and not r1.is_sparse
    assert ((r1.to_numpy() >= 0) & (r1.to_numpy() < 1)).all()
    r2 = LocalMatrix.random(20, 10, density=0.3, seed=1)
    assert r2.is_sparse and r2.nnz == 60
    assert r2.allclose(LocalMatrix.random(20, 10, density=0.3, seed=1))
    assert LocalMatrix.random(2, 2, seed=0, dtype=np.float32).dtype == np.float32


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"row 2 has length 1, expected 3 \(the length of row 0\)"):
        LocalMatrix.from_rows([[1, 2, 3], [4, 5, 6], [7]])
    with pytest.raises(ValueError, match="row 1 has length 4, expected 3"):
        LocalMatrix.from_rows([[1, 2, 3], [4, 5, 6, 7], [7]])
    with pytest.raises(ValueError, match="empty"):
        LocalMatrix.from_rows([])
    with pytest.raises(ValueError, match="row 0 must be a 1-D"):
        LocalMatrix.from_rows([np.ones((2, 2))])
    with pytest.raises(ValueError, match="1-D vector"):
        LocalMatrix.from_vector(np.ones((2, 2)))
    with pytest.raises(ValueError, match="density"):
        LocalMatrix.random(2, 2, density=1.5)
    with pytest.raises(TypeError):
        LocalMatrix.zeros(2, 2, dtype=complex)


# ---------------------------------------------------------------------------- check_finite


@SETTINGS
@given(st.data(), KINDS, st.sampled_from([np.nan, np.inf, -np.inf]))
def test_check_finite(data, kind, bad):
    a = data.draw(arrays())
    m = wrap(a, kind)
    assert m.check_finite() is m
    n, k = a.shape
    cells = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, k - 1)),
                               min_size=1, max_size=3))
    b = a.copy()
    for cell in cells:
        b[cell] = bad
    r, c = min(cells)
    with pytest.raises(ValueError) as err:
        wrap(b, kind).check_finite()
    assert str(err.value) == f"row {r}, column {c} is {float(bad)!r}; features must be finite"
    with pytest.raises(ValueError, match=f"row {r + 100}, column {c} is .*; labels must be"):
        wrap(b, kind).check_finite(what="labels", row_offset=100)


def test_check_finite_edge_cases():
    big = LocalMatrix(np.full((4, 4), 3e38, dtype=np.float32))  # sum overflows, values finite
    assert big.check_finite() is big
    assert LocalMatrix(np.zeros((0, 3))).check_finite() is not None
    # unsorted column indices within a row: the smallest bad column is reported
    csr = sp.csr_matrix((np.array([1.0, np.nan, np.inf]), np.array([0, 3, 1]),
                         np.array([0, 0, 3])), shape=(2, 4))
    assert not csr.has_sorted_indices
    with pytest.raises(ValueError, match="row 1, column 1 is inf"):
        LocalMatrix(csr).check_finite()
    m = LocalMatrix(np.array([[1.0, 2.0], [3.0, np.nan]]).T)  # Fortran-ordered view
    with pytest.raises(ValueError, match="row 1, column 1 is nan"):
        m.check_finite()


# ---------------------------------------------------------------------------- read-only data


def _read_only_csr(a: np.ndarray) -> sp.csr_matrix:
    """A CSR matrix whose arrays are read-only, built as mli.engine.blocks rebuilds bundles."""
    src = sp.csr_matrix(a)
    data, indices, indptr = (np.array(x) for x in (src.data, src.indices, src.indptr))
    for x in (data, indices, indptr):
        x.flags.writeable = False
    m = sp.csr_matrix(src.shape, dtype=data.dtype)
    m.data, m.indices, m.indptr = data, indices, indptr
    return m


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_read_only_data_is_never_written(kind, tmp_path):
    a = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 0.0, 5.0]])
    if kind == "dense":
        np.save(tmp_path / "a.npy", a)
        raw = np.load(tmp_path / "a.npy", mmap_mode="r")
        arrays_before = [np.array(raw)]
    else:
        raw = _read_only_csr(a)
        arrays_before = [np.array(raw.data), np.array(raw.indices), np.array(raw.indptr)]
    m = LocalMatrix(raw)
    assert m.array is raw
    v = np.array([1.0, 2.0, 3.0])
    results = [
        m + 1, m - m, m * 2, m * v, m / v, m ** 2, -m, abs(m), 1 - m, m @ v, v @ m, m @ m,
        m.tdot(v), m.T, m[1:], m[[2, 0], [1, 2]], m.cols([0]), m.on(m), m.then(m),
        m.sum(0), m.mean(), m.min(1), m.max(), m.norm(), m.norm(1), m.row_norms(),
        m.solve(v), m.to_numpy(), m.to_scipy(), m.to_dense(), m.to_sparse(),
        m.astype(np.float32), m.copy(), m.check_finite(), m.allclose(m), np.asarray(m),
    ]
    assert len(results) > 0
    arrays_after = [np.asarray(raw)] if kind == "dense" else [raw.data, raw.indices, raw.indptr]
    for x, y in zip(arrays_before, arrays_after):
        np.testing.assert_array_equal(x, y)
    c = m.copy()
    if kind == "dense":
        assert c.array.flags.writeable and type(c.array) is np.ndarray
    else:
        assert c.array.data.flags.writeable


# ---------------------------------------------------------------------------- docs


def test_docstring_examples_run():
    result = doctest.testmod(lm_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20
    assert result.failed == 0
