"""LocalMatrix: MLI's per-partition block, a dense or CSR-sparse local matrix.

A :class:`LocalMatrix` wraps either a 2-D :class:`numpy.ndarray` (``float32`` or
``float64``) or a :class:`scipy.sparse.csr_matrix`. It is the unit of data an algorithm
sees inside one partition of an :class:`~mli.MLTable`.

Contract
--------
* Wrapping never copies a dense array (or a ``csr_matrix``) and no operation ever writes
  into the wrapped data: blocks are often read-only memory maps shared by several worker
  processes. Every operation returns new data (basic slicing of a dense matrix returns a
  view, as in numpy, which is never written to either).
* Results are always 2-D. ``X @ w`` with a numpy operand returns a plain numpy array (the
  hot path of the algorithms); operations between LocalMatrix objects return LocalMatrix.
* Sparse semantics follow scipy: ``sparse * scalar``, ``sparse * dense`` (elementwise) and
  ``sparse / anything`` keep the sparsity pattern of the sparse operand (its implicit zeros
  stay zero); ``sparse + dense`` gives a dense result; sparse with sparse stays sparse.

Examples
--------
>>> import numpy as np
>>> from mli.linalg.localmatrix import LocalMatrix
>>> X = LocalMatrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
>>> X @ np.array([1.0, 1.0])
array([3., 7.])
>>> (2 * X - 1).to_numpy()
array([[1., 3.],
       [5., 7.]])
>>> X.on(X).shape
(4, 2)

Why this module is long: it is one class, a numpy-like array over dense and CSR storage
(operators, indexing, reductions, stacking, conversions), each method with its dense and its
sparse branch side by side.
"""
from __future__ import annotations

import logging
import numbers
import operator
import warnings
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

log = logging.getLogger(__name__)

__all__ = ["LocalMatrix", "vstack", "hstack"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

Index = Union[int, slice, Sequence[int], Sequence[bool], np.ndarray]
Operand = Union["LocalMatrix", np.ndarray, "sp.spmatrix", float, int]


# ---------------------------------------------------------------------------- helpers


def _as_csr(x) -> sp.csr_matrix:
    """``x`` (any scipy sparse matrix/array) as a ``csr_matrix``; no copy if it is one."""
    if isinstance(x, sp.csr_matrix):
        return x
    if x.ndim != 2:
        raise ValueError(f"LocalMatrix needs a 2-D matrix, got a {x.ndim}-D sparse array "
                         f"of shape {x.shape}")
    return sp.csr_matrix(x)


def _float_dtype(dtype: np.dtype, what: str = "LocalMatrix") -> np.dtype:
    """The dtype a LocalMatrix stores for input ``dtype`` (float32/float64 kept)."""
    dtype = np.dtype(dtype)
    if dtype in _FLOATS:
        return dtype
    if dtype.kind in "biuf":
        return np.dtype(np.float64)
    raise TypeError(f"{what} holds real numbers (float32 or float64); got dtype {dtype}")


def _is_scalar(x) -> bool:
    return isinstance(x, (numbers.Real, np.bool_, np.number)) and not isinstance(
        x, (complex, np.complexfloating))


def _dense(x):
    return x.toarray() if sp.issparse(x) else x


def _rows_cols(csr: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of every stored entry of ``csr``."""
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.intp), np.diff(csr.indptr))
    return rows, csr.indices


def _values_at(x, rows: np.ndarray, cols: np.ndarray, shape: tuple) -> np.ndarray:
    """Values of ``x`` (dense broadcastable to ``shape``, or sparse) at (rows, cols)."""
    if rows.size == 0:
        return np.empty(0, dtype=x.dtype)
    if sp.issparse(x):
        if x.shape == shape:
            return np.asarray(x[rows, cols]).ravel()
        x = x.toarray()
    return np.broadcast_to(x, shape)[rows, cols]


def _with_data(csr: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """A new CSR matrix with ``csr``'s pattern (copied) and values ``data``."""
    return sp.csr_matrix((data, csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)


_VERBS = {operator.add: "add", operator.sub: "subtract", operator.mul: "multiply",
          operator.truediv: "divide", operator.pow: "raise to a power"}


def _sparse_elementwise(op: Callable, left, right, shape: tuple):
    """The sparse result of ``op(left, right)`` when one exists, else None (densify)."""
    ls, rs = sp.issparse(left), sp.issparse(right)
    if op in (operator.add, operator.sub):
        if ls and rs and left.shape == right.shape:
            return op(left, right)
        if ls and _is_scalar(right) and right == 0:
            return left.copy()
        if rs and _is_scalar(left) and left == 0:
            return right.copy() if op is operator.add else -right
        return None
    if op is operator.mul:
        if ls and rs and left.shape == right.shape:
            return left.multiply(right)
        if ls and _is_scalar(right):
            return left * right
        if rs and _is_scalar(left):
            return right * left
        if ls and left.shape == shape:
            r, c = _rows_cols(left)
            return _with_data(left, left.data * _values_at(right, r, c, shape))
        if rs and right.shape == shape:
            r, c = _rows_cols(right)
            return _with_data(right, _values_at(left, r, c, shape) * right.data)
        return None
    if op is operator.truediv:
        if ls and _is_scalar(right):
            return _with_data(left, left.data / right)
        if ls and left.shape == shape:
            r, c = _rows_cols(left)
            return _with_data(left, left.data / _values_at(right, r, c, shape))
        return None
    if op is operator.pow:
        if ls and _is_scalar(right) and right > 0:
            return left.power(right)
        return None
    return None  # pragma: no cover - no other operators are dispatched here


def _normalize_index(k: Any, n: int, axis: str) -> slice | np.ndarray:
    """One axis of an index as a slice or a 1-D intp array (ints become 1-long slices)."""
    if isinstance(k, slice):
        return k
    if isinstance(k, (bool, np.bool_)):
        raise IndexError(f"a boolean scalar is not a valid {axis} index; use a mask of "
                         f"length {n}")
    if isinstance(k, (numbers.Integral, np.integer)):
        i = int(k)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise IndexError(f"{axis} index {i} is out of range for {n} {axis}s")
        return slice(j, j + 1)
    if k is None or k is Ellipsis:
        raise IndexError(f"unsupported {axis} index {k!r}: use ints, slices, integer "
                         "arrays or boolean masks")
    if isinstance(k, LocalMatrix):
        k = k.to_numpy().ravel()
    arr = np.asarray(k)
    if arr.ndim != 1:
        raise IndexError(f"a {axis} index array must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise IndexError(f"boolean {axis} mask has length {arr.shape[0]}, expected {n}")
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.empty(0, dtype=np.intp)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"{axis} indices must be integers or booleans, got dtype {arr.dtype}")
    lo, hi = arr.min(), arr.max()
    if lo < -n or hi >= n:
        bad = lo if lo < -n else hi
        raise IndexError(f"{axis} index {int(bad)} is out of range for {n} {axis}s")
    return arr.astype(np.intp, copy=False)


def _as_block(x) -> "LocalMatrix":
    return x if isinstance(x, LocalMatrix) else LocalMatrix(x)


# ---------------------------------------------------------------------------- the class


class LocalMatrix:
    """A local 2-D matrix, dense (numpy) or CSR sparse (scipy): one partition's block.

    Parameters
    ----------
    x : numpy.ndarray, scipy sparse matrix/array, LocalMatrix or list of rows
        The data. A 2-D ``float32``/``float64`` array or a ``csr_matrix`` is wrapped
        without copying; integer and boolean data are converted to ``float64``; other
        sparse formats are converted to CSR. Wrapping a LocalMatrix wraps the same
        underlying object. 1-D input is rejected (see :meth:`from_vector`).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D, or is a ragged list of rows.
    TypeError
        If ``x`` holds complex, string or object data.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> m = LocalMatrix(a)
    >>> m.array is a, m.shape, m.is_sparse
    (True, (2, 3), False)
    >>> m
    LocalMatrix([[0., 1., 2.],
                 [3., 4., 5.]])
    >>> LocalMatrix(np.ones(3))
    Traceback (most recent call last):
        ...
    ValueError: LocalMatrix needs a 2-D matrix, got a 1-D array of shape (3,); use LocalMatrix.from_vector(v) for a column
    """

    _mli_kind = "localmatrix"  # what mli.table.kinds.input_kind says of it

    __slots__ = ("_a", "_t", "__weakref__")

    # numpy defers every binary operator (and ufunc) to LocalMatrix: ``ndarray + m`` calls
    # ``m.__radd__``, ``ndarray @ m`` calls ``m.__rmatmul__``.
    __array_ufunc__ = None

    def __init__(self, x: Any) -> None:
        self._t = None
        if isinstance(x, LocalMatrix):
            self._a = x._a
            return
        if sp.issparse(x):
            a = _as_csr(x)
            dt = _float_dtype(a.dtype)
            self._a = a if a.dtype == dt else a.astype(dt)
            return
        if isinstance(x, (list, tuple)):
            x = _rows_to_array(x)
        if not isinstance(x, np.ndarray):
            x = np.asarray(x)
        elif type(x) is np.matrix:
            x = np.asarray(x)
        if x.ndim != 2:
            hint = "; use LocalMatrix.from_vector(v) for a column" if x.ndim == 1 else ""
            raise ValueError(f"LocalMatrix needs a 2-D matrix, got a {x.ndim}-D array of "
                             f"shape {x.shape}{hint}")
        if x.dtype not in _FLOATS:
            if x.dtype == object:
                try:
                    x = x.astype(np.float64)
                except (TypeError, ValueError):
                    raise TypeError("LocalMatrix holds real numbers; got an object array "
                                    "that cannot be converted to float64") from None
            else:
                x = x.astype(_float_dtype(x.dtype))
        self._a = x

    # ------------------------------------------------------------------ pickling

    def __reduce__(self):
        return (LocalMatrix, (self._a,))

    # ------------------------------------------------------------------ properties

    @property
    def array(self) -> np.ndarray | sp.csr_matrix:
        """The underlying object: a 2-D ``np.ndarray`` or a ``scipy.sparse.csr_matrix``.

        Never write into it: it may be a shared read-only memory map.
        """
        return self._a

    @property
    def shape(self) -> tuple[int, int]:
        """``(nrows, ncols)``."""
        return self._a.shape

    @property
    def nrows(self) -> int:
        """Number of rows."""
        return self._a.shape[0]

    @property
    def ncols(self) -> int:
        """Number of columns."""
        return self._a.shape[1]

    @property
    def ndim(self) -> int:
        """Always 2."""
        return 2

    @property
    def size(self) -> int:
        """``nrows * ncols``."""
        return self._a.shape[0] * self._a.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """``float32`` or ``float64``."""
        return self._a.dtype

    @property
    def is_sparse(self) -> bool:
        """True when the data is a CSR sparse matrix."""
        return sp.issparse(self._a)

    @property
    def nnz(self) -> int:
        """Number of nonzeros: stored entries for a sparse matrix, nonzero values if dense.

        Examples
        --------
        >>> LocalMatrix(np.array([[0.0, 1.0], [2.0, 0.0]])).nnz
        2
        """
        if self.is_sparse:
            return int(self._a.nnz)
        return int(np.count_nonzero(self._a))

    @property
    def nbytes(self) -> int:
        """Bytes held by the data (values, plus indices and pointers if sparse)."""
        a = self._a
        if self.is_sparse:
            return int(a.data.nbytes + a.indices.nbytes + a.indptr.nbytes)
        return int(a.nbytes)

    @property
    def T(self) -> "LocalMatrix":
        """The transpose (a view if dense; a CSR copy, computed once and kept, if sparse).

        Examples
        --------
        >>> LocalMatrix(np.array([[1.0, 2.0]])).T.shape
        (2, 1)
        """
        t = self._t
        if t is None:
            a = self._a
            t = LocalMatrix(a.T.tocsr() if sp.issparse(a) else a.T)
            t._t = self
            self._t = t
        return t

    def transpose(self) -> "LocalMatrix":
        """The transpose; same as :attr:`T`."""
        return self.T

    # ------------------------------------------------------------------ python protocol

    def __len__(self) -> int:
        return self._a.shape[0]

    def __iter__(self) -> Iterator["LocalMatrix"]:
        """Iterate over the rows, each a 1-row LocalMatrix."""
        for i in range(self._a.shape[0]):
            yield LocalMatrix(self._a[i:i + 1])

    def __repr__(self) -> str:
        a = self._a
        if self.is_sparse:
            return (f"LocalMatrix(<{a.shape[0]}x{a.shape[1]} sparse, {a.nnz} stored, "
                    f"{a.dtype}>)")
        prefix = "LocalMatrix("
        body = np.array2string(np.asarray(a), separator=", ", prefix=prefix, threshold=200)
        suffix = "" if a.dtype == np.float64 else f", dtype={a.dtype}"
        return f"{prefix}{body}{suffix})"

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Dense ndarray for ``np.asarray(m)`` (numpy 2 ``copy`` semantics)."""
        a = self._a
        if sp.issparse(a):
            if copy is False:
                raise ValueError("a sparse LocalMatrix cannot become a dense array without "
                                 "a copy; use np.asarray(m) or m.to_numpy()")
            out = a.toarray()
            return out if dtype is None else out.astype(dtype, copy=False)
        if copy:
            return np.array(a, dtype=dtype, copy=True)
        return np.asarray(a, dtype=dtype, copy=copy)

    # ------------------------------------------------------------------ indexing

    def __getitem__(self, key: Any) -> "LocalMatrix":
        """Rows and columns by ints, slices, integer arrays or boolean masks (2-D result).

        Examples
        --------
        >>> m = LocalMatrix(np.arange(12.0).reshape(3, 4))
        >>> m[1].shape, m[1:].shape, m[:, 2].shape, m[[0, 2], 1:3].shape
        ((1, 4), (2, 4), (3, 1), (2, 2))
        >>> m[np.array([True, False, True]), -1].to_numpy()
        array([[ 3.],
               [11.]])
        """
        if isinstance(key, tuple):
            if len(key) > 2:
                raise IndexError(f"a LocalMatrix is 2-D; got {len(key)} indices")
            rk, ck = (key + (slice(None),))[:2] if len(key) < 2 else key
        else:
            rk, ck = key, slice(None)
        n, m = self._a.shape
        r = _normalize_index(rk, n, "row")
        c = _normalize_index(ck, m, "column")
        a = self._a
        full = slice(None)
        if sp.issparse(a):
            # one axis at a time: scipy mishandles some mixed (array, strided slice) keys
            out = a if isinstance(r, slice) and r == full else _as_csr(a[r, :])
            if not (isinstance(c, slice) and c == full):
                out = _as_csr(out[:, c])
        elif isinstance(r, slice) or isinstance(c, slice):
            out = a[r, c]
        else:
            out = a[np.ix_(r, c)]
        return LocalMatrix(out)

    def rows(self, idx: Index) -> "LocalMatrix":
        """The rows ``idx`` (int, slice, integer array or boolean mask).

        Examples
        --------
        >>> LocalMatrix(np.eye(3)).rows([2, 0]).to_numpy()
        array([[0., 0., 1.],
               [1., 0., 0.]])
        """
        return self[idx, :]

    def cols(self, idx: Index) -> "LocalMatrix":
        """The columns ``idx`` (int, slice, integer array or boolean mask).

        Examples
        --------
        >>> LocalMatrix(np.eye(3)).cols(slice(1, None)).shape
        (3, 2)
        """
        return self[:, idx]

    # ------------------------------------------------------------------ elementwise

    def _elementwise(self, op: Callable, other: Any, reflected: bool = False):
        if isinstance(other, LocalMatrix):
            b = other._a
        elif isinstance(other, np.ndarray):
            b = other[()] if other.ndim == 0 else other
        elif sp.issparse(other):
            b = _as_csr(other)
        elif _is_scalar(other):
            b = other
        else:
            return NotImplemented
        a = self._a
        if isinstance(b, np.ndarray) or sp.issparse(b):
            try:
                shape = np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                shape = None
            if shape is None or len(shape) != 2:
                s1, s2 = (b.shape, a.shape) if reflected else (a.shape, b.shape)
                raise ValueError(f"cannot {_VERBS[op]} operands of shapes {s1} and {s2} "
                                 "elementwise: the shapes do not broadcast to a 2-D matrix")
        else:
            shape = a.shape
        left, right = (b, a) if reflected else (a, b)
        if sp.issparse(left) or sp.issparse(right):
            res = _sparse_elementwise(op, left, right, shape)
            if res is not None:
                return LocalMatrix(res)
            log.debug("elementwise %s of a sparse %s operand gives a dense %s result",
                      _VERBS[op], a.shape if sp.issparse(a) else b.shape, shape)
            left, right = _dense(left), _dense(right)
        return LocalMatrix(op(left, right))

    def __add__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.add, other)

    def __radd__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.add, other, True)

    def __sub__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.sub, other)

    def __rsub__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.sub, other, True)

    def __mul__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.mul, other)

    def __rmul__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.mul, other, True)

    def __truediv__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.truediv, other)

    def __rtruediv__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.truediv, other, True)

    def __pow__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.pow, other)

    def __rpow__(self, other: Operand) -> "LocalMatrix":
        return self._elementwise(operator.pow, other, True)

    def __neg__(self) -> "LocalMatrix":
        return LocalMatrix(-self._a)

    def __pos__(self) -> "LocalMatrix":
        return self

    def __abs__(self) -> "LocalMatrix":
        return LocalMatrix(abs(self._a))

    # ------------------------------------------------------------------ products

    def __matmul__(self, other):
        if type(other) is np.ndarray:  # hot path: X @ w
            return self._a @ other
        return self._matmul(other, False)

    def __rmatmul__(self, other):
        if type(other) is np.ndarray:
            return other @ self._a
        return self._matmul(other, True)

    def _matmul(self, other, reflected: bool):
        if isinstance(other, LocalMatrix):
            b, wrap = other._a, True
        elif isinstance(other, np.ndarray):
            b, wrap = np.asarray(other), False
        elif sp.issparse(other):
            b, wrap = _as_csr(other), True
        else:
            return NotImplemented
        if b.ndim > 2:
            raise ValueError(f"matrix products take 1-D or 2-D operands, got shape {b.shape}")
        left, right = (b, self._a) if reflected else (self._a, b)
        if left.shape[-1] != right.shape[0]:
            raise ValueError(f"cannot multiply operands of shapes {left.shape} and "
                             f"{right.shape}: inner dimensions {left.shape[-1]} and "
                             f"{right.shape[0]} differ")
        out = left @ right
        if wrap:
            return LocalMatrix(out)
        return np.asarray(out) if isinstance(out, np.matrix) else out

    def matmul(self, other: "LocalMatrix | np.ndarray") -> "LocalMatrix | np.ndarray":
        """Matrix product ``self @ other``.

        An ndarray operand (1-D or 2-D) gives an ndarray; a LocalMatrix operand gives a
        LocalMatrix (sparse @ sparse stays sparse, anything with a dense side is dense).

        Examples
        --------
        >>> X = LocalMatrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> X.matmul(np.array([1.0, 0.0]))
        array([1., 3.])
        >>> X.matmul(LocalMatrix(np.eye(2))).shape
        (2, 2)
        """
        return self @ other

    dot = matmul

    def tdot(self, other: "LocalMatrix | np.ndarray") -> "LocalMatrix | np.ndarray":
        """``self.T @ other`` without forming the transpose (cheap for sparse blocks).

        Examples
        --------
        >>> X = LocalMatrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> X.tdot(np.array([1.0, 1.0]))
        array([4., 6.])
        """
        at = self._a.T
        if type(other) is np.ndarray:
            return at @ other
        if isinstance(other, LocalMatrix):
            b = other._a
        elif sp.issparse(other):
            b = _as_csr(other)
        else:
            b = np.asarray(other)
            out = at @ b
            return np.asarray(out) if isinstance(out, np.matrix) else out
        if at.shape[1] != b.shape[0]:
            raise ValueError(f"cannot multiply the transpose of shape {at.shape} and a "
                             f"matrix of shape {b.shape}")
        out = at @ b
        return LocalMatrix(out.tocsr() if sp.issparse(out) else out)

    def solve(self, b: "LocalMatrix | np.ndarray") -> "LocalMatrix | np.ndarray":
        """Solve ``self @ x = b`` for ``x``.

        Parameters
        ----------
        b : ndarray (1-D or 2-D) or LocalMatrix
            Right-hand side with ``self.nrows`` rows.

        Returns
        -------
        ndarray or LocalMatrix
            ``x`` with the shape of ``b``; an ndarray for an ndarray ``b``.

        Raises
        ------
        ValueError
            If the matrix is not square, ``b`` has the wrong number of rows, or the matrix
            is singular (to working precision).

        Examples
        --------
        >>> A = LocalMatrix(np.array([[2.0, 0.0], [0.0, 4.0]]))
        >>> A.solve(np.array([2.0, 2.0]))
        array([1. , 0.5])
        """
        n, m = self.shape
        if n != m:
            raise ValueError(f"solve needs a square matrix, got shape {self.shape}")
        wrap = isinstance(b, LocalMatrix)
        bb = b._a if wrap else b
        if sp.issparse(bb):
            bb = _as_csr(bb)
            if not self.is_sparse:
                bb = bb.toarray()
        else:
            bb = np.asarray(bb)
        if bb.ndim not in (1, 2) or bb.shape[0] != n:
            raise ValueError(f"cannot solve: the matrix has shape {self.shape} but the "
                             f"right-hand side has shape {bb.shape}")
        if self.is_sparse:
            with warnings.catch_warnings():
                warnings.simplefilter("error", spla.MatrixRankWarning)
                try:
                    x = spla.spsolve(self._a.tocsc(), bb.tocsc() if sp.issparse(bb) else bb)
                except spla.MatrixRankWarning:
                    raise ValueError(f"cannot solve: the sparse matrix of shape {self.shape}"
                                     " is singular") from None
            if sp.issparse(x):
                x = _as_csr(x)
                finite = bool(np.isfinite(x.data).all())
            else:
                x = np.asarray(x).reshape(bb.shape)
                finite = bool(np.isfinite(x).all())
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                try:
                    x = scipy.linalg.solve(self._a, bb)
                except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning) as e:
                    raise ValueError(f"cannot solve: the matrix of shape {self.shape} is "
                                     f"singular to working precision ({e})") from None
            finite = bool(np.isfinite(x).all())
        if not finite:
            raise ValueError(f"cannot solve: the matrix of shape {self.shape} is singular "
                             "(the solution is not finite)")
        return LocalMatrix(x) if wrap else x

    # ------------------------------------------------------------------ stacking

    @classmethod
    def vstack(cls, blocks: Sequence[Any]) -> "LocalMatrix":
        """Stack blocks vertically (sparse if any block is sparse).

        Raises
        ------
        ValueError
            If the list is empty or the column counts differ.

        Examples
        --------
        >>> LocalMatrix.vstack([LocalMatrix(np.ones((1, 2))), np.zeros((2, 2))]).shape
        (3, 2)
        """
        return _stack(blocks, vertical=True)

    @classmethod
    def hstack(cls, blocks: Sequence[Any]) -> "LocalMatrix":
        """Stack blocks horizontally (sparse if any block is sparse).

        Raises
        ------
        ValueError
            If the list is empty or the row counts differ.

        Examples
        --------
        >>> LocalMatrix.hstack([np.ones((2, 1)), LocalMatrix(np.zeros((2, 2)))]).shape
        (2, 3)
        """
        return _stack(blocks, vertical=False)

    def on(self, other: Any) -> "LocalMatrix":
        """``self`` on top of ``other`` (vertical stacking, MLI's ``on``).

        Examples
        --------
        >>> LocalMatrix(np.ones((1, 2))).on(np.zeros((1, 2))).to_numpy()
        array([[1., 1.],
               [0., 0.]])
        """
        return _stack([self, other], vertical=True)

    def then(self, other: Any) -> "LocalMatrix":
        """``other`` to the right of ``self`` (horizontal stacking, MLI's ``then``).

        Examples
        --------
        >>> LocalMatrix(np.ones((2, 1))).then(np.zeros((2, 1))).to_numpy()
        array([[1., 0.],
               [1., 0.]])
        """
        return _stack([self, other], vertical=False)

    # ------------------------------------------------------------------ reductions

    @staticmethod
    def _reduced(out, axis):
        if axis is None:
            return out
        return np.asarray(out.toarray() if sp.issparse(out) else out).ravel()

    def sum(self, axis: int | None = None):
        """Sum of all entries (a scalar) or along ``axis`` (a 1-D ndarray).

        Examples
        --------
        >>> m = LocalMatrix(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> float(m.sum()), m.sum(axis=0)
        (10.0, array([4., 6.]))
        """
        return self._reduced(self._a.sum(axis=axis), axis)

    def mean(self, axis: int | None = None):
        """Mean of all entries (a scalar) or along ``axis`` (a 1-D ndarray).

        Examples
        --------
        >>> LocalMatrix(np.array([[1.0, 2.0], [3.0, 4.0]])).mean(axis=1)
        array([1.5, 3.5])
        """
        return self._reduced(self._a.mean(axis=axis), axis)

    def min(self, axis: int | None = None):
        """Minimum of all entries (implicit zeros included) or along ``axis``.

        Examples
        --------
        >>> LocalMatrix(np.array([[1.0, -2.0], [3.0, 4.0]])).min(axis=0)
        array([ 1., -2.])
        """
        return self._reduced(self._a.min(axis=axis), axis)

    def max(self, axis: int | None = None):
        """Maximum of all entries (implicit zeros included) or along ``axis``.

        Examples
        --------
        >>> float(LocalMatrix(np.array([[1.0, -2.0], [3.0, 4.0]])).max())
        4.0
        """
        return self._reduced(self._a.max(axis=axis), axis)

    def norm(self, ord: Any = None, axis: int | None = None):
        """A matrix or vector norm, as :func:`numpy.linalg.norm`.

        With ``axis=None`` the default is the Frobenius norm. A matrix with a single row
        or a single column is treated as a vector, so ``ord`` (1, 2, inf, ...) has its
        vector meaning there. With ``axis`` given, the vector norms of the columns
        (``axis=0``) or rows (``axis=1``) are returned as a 1-D ndarray.

        Examples
        --------
        >>> m = LocalMatrix(np.array([[3.0, 4.0]]))
        >>> float(m.norm()), float(m.norm(1)), float(m.norm(np.inf))
        (5.0, 7.0, 4.0)
        """
        a = self._a
        if axis is not None:
            if sp.issparse(a):
                return np.asarray(spla.norm(a, ord=ord, axis=axis)).ravel()
            return np.linalg.norm(a, ord=ord, axis=axis)
        if min(a.shape) == 1:
            v = a.toarray().ravel() if sp.issparse(a) else np.asarray(a).ravel()
            # a vector's Frobenius and nuclear norms are its Euclidean norm
            return np.linalg.norm(v, ord=None if ord in ("fro", "nuc") else ord)
        if sp.issparse(a):
            if ord is None or ord == "fro":
                return np.sqrt(np.sum(np.abs(a.data) ** 2))
            if ord in (2, -2, "nuc"):
                log.debug("norm(ord=%r) of a sparse %s block: computed on a dense copy",
                          ord, a.shape)
                return np.linalg.norm(a.toarray(), ord=ord)
            return spla.norm(a, ord=ord)
        return np.linalg.norm(a, ord=ord)

    def row_norms(self, squared: bool = False) -> np.ndarray:
        """Euclidean norm of every row (squared if ``squared``), a 1-D ndarray.

        Examples
        --------
        >>> LocalMatrix(np.array([[3.0, 4.0], [1.0, 0.0]])).row_norms()
        array([5., 1.])
        >>> LocalMatrix(np.array([[3.0, 4.0]])).row_norms(squared=True)
        array([25.])
        """
        a = self._a
        if sp.issparse(a):
            sq = np.asarray(a.multiply(a).sum(axis=1)).ravel()
        else:
            sq = np.einsum("ij,ij->i", a, a)
        return sq if squared else np.sqrt(sq)

    # ------------------------------------------------------------------ comparison

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
        """True if ``other`` has the same shape and is elementwise close (``np.isclose``).

        Works on the stored entries only when both matrices are sparse.

        Examples
        --------
        >>> m = LocalMatrix(np.eye(2))
        >>> m.allclose(m.to_sparse()), m.allclose(np.eye(3))
        (True, False)
        """
        b = _as_block(other)._a
        a = self._a
        if a.shape != b.shape:
            return False
        if sp.issparse(a) and sp.issparse(b):
            r, c = (abs(a) + abs(b)).nonzero()
            va = _values_at(a, r, c, a.shape)
            vb = _values_at(b, r, c, a.shape)
            return bool(np.isclose(va, vb, rtol=rtol, atol=atol).all())
        return bool(np.allclose(_dense(a), _dense(b), rtol=rtol, atol=atol))

    # ------------------------------------------------------------------ conversions

    def to_numpy(self, copy: bool = False) -> np.ndarray:
        """A dense ndarray: the data itself (a view) if dense and not ``copy``.

        Examples
        --------
        >>> LocalMatrix(np.eye(2)).to_sparse().to_numpy()
        array([[1., 0.],
               [0., 1.]])
        """
        a = self._a
        if sp.issparse(a):
            return a.toarray()
        return np.array(a) if copy else np.asarray(a)

    def to_scipy(self) -> sp.csr_matrix:
        """The data as a ``scipy.sparse.csr_matrix`` (the data itself if sparse).

        Examples
        --------
        >>> LocalMatrix(np.eye(3)).to_scipy().nnz
        3
        """
        a = self._a
        return a if sp.issparse(a) else sp.csr_matrix(a)

    def to_dense(self) -> "LocalMatrix":
        """A dense LocalMatrix (``self`` if already dense)."""
        return LocalMatrix(self._a.toarray()) if self.is_sparse else self

    def to_sparse(self) -> "LocalMatrix":
        """A CSR-sparse LocalMatrix (``self`` if already sparse)."""
        return self if self.is_sparse else LocalMatrix(sp.csr_matrix(self._a))

    def to_vector(self) -> np.ndarray:
        """A 1-D ndarray from a single-row or single-column matrix.

        Examples
        --------
        >>> LocalMatrix.from_vector(np.array([1.0, 2.0])).to_vector()
        array([1., 2.])
        """
        if min(self.shape) != 1 and self.size != 0:
            raise ValueError(f"to_vector needs a single row or column, got shape {self.shape}")
        return self.to_numpy().ravel()

    def astype(self, dtype: Any) -> "LocalMatrix":
        """A copy with values of ``dtype`` (``float32`` or ``float64``).

        Examples
        --------
        >>> LocalMatrix(np.eye(2)).astype(np.float32).dtype
        dtype('float32')
        """
        dt = np.dtype(dtype)
        if dt not in _FLOATS:
            raise TypeError(f"LocalMatrix holds float32 or float64 values; cannot cast to {dt}")
        return LocalMatrix(self._a.astype(dt))

    def copy(self) -> "LocalMatrix":
        """A deep copy, in private (writable, not memory-mapped) memory."""
        a = self._a
        if sp.issparse(a):
            return LocalMatrix(sp.csr_matrix(
                (np.array(a.data), np.array(a.indices), np.array(a.indptr)), shape=a.shape))
        return LocalMatrix(np.array(a))

    # ------------------------------------------------------------------ validation

    def check_finite(self, what: str = "features", row_offset: int = 0) -> "LocalMatrix":
        """Raise ValueError naming the first (row-major) NaN or infinite entry.

        Parameters
        ----------
        what : str
            What the values are, for the message (``"features"``).
        row_offset : int
            Added to the row number in the message (the block's first global row).

        Returns
        -------
        LocalMatrix
            ``self``, for chaining.

        Examples
        --------
        >>> m = LocalMatrix(np.array([[1.0, 2.0], [3.0, np.nan]]))
        >>> m.check_finite()
        Traceback (most recent call last):
            ...
        ValueError: row 1, column 1 is nan; features must be finite
        """
        a = self._a
        values = a.data if sp.issparse(a) else a
        # a finite sum proves every value finite (nan and inf propagate through a sum)
        with np.errstate(over="ignore", invalid="ignore"):
            if values.size == 0 or np.isfinite(values.sum()):
                return self
        bad = ~np.isfinite(values)
        if not bad.any():  # the sum overflowed; every value is finite
            return self
        if sp.issparse(a):
            ks = np.flatnonzero(bad)
            r = int(np.searchsorted(a.indptr, ks[0], side="right") - 1)
            lo, hi = a.indptr[r], a.indptr[r + 1]
            in_row = np.flatnonzero(bad[lo:hi]) + lo
            k = in_row[np.argmin(a.indices[in_row])]
            c, v = int(a.indices[k]), a.data[k]
        else:
            r = int(np.argmax(bad.any(axis=1)))
            c = int(np.argmax(bad[r]))
            v = a[r, c]
        raise ValueError(f"row {r + row_offset}, column {c} is {float(v)!r}; "
                         f"{what} must be finite")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def zeros(cls, n: int, m: int, dtype: Any = np.float64,
              sparse: bool = False) -> "LocalMatrix":
        """An ``n x m`` matrix of zeros (an empty CSR matrix if ``sparse``).

        Examples
        --------
        >>> LocalMatrix.zeros(2, 3).shape, LocalMatrix.zeros(2, 3, sparse=True).nnz
        ((2, 3), 0)
        """
        dt = _float_dtype(dtype)
        return cls(sp.csr_matrix((n, m), dtype=dt) if sparse else np.zeros((n, m), dtype=dt))

    @classmethod
    def eye(cls, n: int, dtype: Any = np.float64, sparse: bool = False) -> "LocalMatrix":
        """The ``n x n`` identity (CSR if ``sparse``).

        Examples
        --------
        >>> LocalMatrix.eye(2).to_numpy()
        array([[1., 0.],
               [0., 1.]])
        """
        dt = _float_dtype(dtype)
        return cls(sp.identity(n, dtype=dt, format="csr") if sparse else np.eye(n, dtype=dt))

    @classmethod
    def from_rows(cls, rows: Sequence[Any], dtype: Any = None) -> "LocalMatrix":
        """A dense matrix from a list of equal-length rows.

        Raises
        ------
        ValueError
            If there are no rows, or a row's length differs from the first row's.

        Examples
        --------
        >>> LocalMatrix.from_rows([[1, 2], [3, 4]]).to_numpy()
        array([[1., 2.],
               [3., 4.]])
        >>> LocalMatrix.from_rows([[1, 2], [3, 4], [5]])
        Traceback (most recent call last):
            ...
        ValueError: row 2 has length 1, expected 2 (the length of row 0)
        """
        arr = _rows_to_array(rows)
        if dtype is not None:
            arr = arr.astype(_float_dtype(dtype))
        return cls(arr)

    @classmethod
    def from_vector(cls, v: Any, column: bool = True) -> "LocalMatrix":
        """A single-column (or, with ``column=False``, single-row) matrix from a vector.

        Examples
        --------
        >>> LocalMatrix.from_vector([1.0, 2.0, 3.0]).shape
        (3, 1)
        >>> LocalMatrix.from_vector(np.arange(3), column=False).shape
        (1, 3)
        """
        arr = np.asarray(v)
        if arr.ndim != 1:
            raise ValueError(f"from_vector needs a 1-D vector, got shape {arr.shape}")
        return cls(arr.reshape(-1, 1) if column else arr.reshape(1, -1))

    @classmethod
    def random(cls, n: int, m: int, density: float | None = None, seed: Any = None,
               dtype: Any = np.float64) -> "LocalMatrix":
        """Uniform [0, 1) values: dense, or CSR with the given ``density`` of nonzeros.

        Examples
        --------
        >>> a = LocalMatrix.random(3, 4, seed=0)
        >>> a.shape, a.is_sparse, a.allclose(LocalMatrix.random(3, 4, seed=0))
        ((3, 4), False, True)
        >>> LocalMatrix.random(10, 10, density=0.2, seed=0).nnz
        20
        """
        dt = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        if density is None:
            return cls(rng.random((n, m), dtype=dt))
        if not 0.0 <= density <= 1.0:
            raise ValueError(f"density must be in [0, 1], got {density}")
        return cls(sp.random(n, m, density=density, format="csr", dtype=dt, rng=rng))


# ---------------------------------------------------------------------------- module level


def _rows_to_array(rows: Sequence[Any]) -> np.ndarray:
    """A 2-D float array from a list of 1-D rows; ValueError naming the first ragged row."""
    if len(rows) == 0:
        raise ValueError("cannot build a matrix from an empty list of rows")
    arrs = []
    expected = None
    for i, row in enumerate(rows):
        if isinstance(row, LocalMatrix):
            row = row.to_numpy()
        elif sp.issparse(row):
            row = row.toarray()
        r = np.asarray(row)
        if r.ndim == 2 and r.shape[0] == 1:
            r = r[0]
        if r.ndim != 1:
            raise ValueError(f"row {i} must be a 1-D sequence of numbers, got shape {r.shape}")
        if expected is None:
            expected = r.shape[0]
        elif r.shape[0] != expected:
            raise ValueError(f"row {i} has length {r.shape[0]}, expected {expected} "
                             "(the length of row 0)")
        arrs.append(r)
    out = np.stack(arrs)
    if out.dtype not in _FLOATS:
        out = out.astype(_float_dtype(out.dtype, "a LocalMatrix row"))
    return out


def _stack(blocks: Sequence[Any], vertical: bool) -> LocalMatrix:
    blocks = [_as_block(b) for b in blocks]
    if not blocks:
        raise ValueError("cannot stack an empty list of blocks")
    axis = 1 if vertical else 0  # the dimension that must agree
    first = blocks[0]
    for i, b in enumerate(blocks[1:], start=1):
        if b.shape[axis] != first.shape[axis]:
            how, what = ("vertically", "column") if vertical else ("horizontally", "row")
            raise ValueError(f"cannot stack {how}: block 0 has shape {first.shape} and block "
                             f"{i} has shape {b.shape}; the {what} counts differ")
    if len(blocks) == 1:
        return first
    if any(b.is_sparse for b in blocks):
        mats = [b.to_scipy() for b in blocks]
        out = sp.vstack(mats, format="csr") if vertical else sp.hstack(mats, format="csr")
        return LocalMatrix(out)
    arrs = [b._a for b in blocks]
    return LocalMatrix(np.vstack(arrs) if vertical else np.hstack(arrs))


vstack = LocalMatrix.vstack
hstack = LocalMatrix.hstack
