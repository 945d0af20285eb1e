"""mli.models.linear.normal_equations: the least-squares system of one pass, against numpy (dense,
CSR, with and without intercept, partitionings); bad input."""
import numpy as np
import pytest
import scipy.sparse as sp

from mli.models.linear import normal_equations
from mli.table.mltable import as_labeled


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)) + 5.0
    X[:, 1] *= rng.random(200) < 0.5
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + 0.1 * rng.standard_normal(200)
    return X, y


@pytest.mark.parametrize("parts, sparse, fit_intercept",
                         [(1, False, True), (3, False, False), (4, True, True)])
def test_equals_numpy(ctx, xy, parts, sparse, fit_intercept):
    X, y = xy
    data = as_labeled(sp.csr_matrix(X) if sparse else X, y, ctx=ctx, num_partitions=parts)
    try:
        eq = normal_equations(data.blocks, fit_intercept)
    finally:
        data.release()
    Xc, yc = (X - X.mean(axis=0), y - y.mean()) if fit_intercept else (X, y)
    np.testing.assert_allclose(eq.gram, Xc.T @ Xc / len(y), rtol=1e-10)
    np.testing.assert_allclose(eq.xty, Xc.T @ yc / len(y), rtol=1e-10)
    assert eq.n == len(y)
    coef = np.linalg.solve(eq.gram, eq.xty)
    A = np.hstack([X, np.ones((len(y), 1))]) if fit_intercept else X
    ref = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(coef, ref[:3], rtol=1e-8)
    assert abs(eq.intercept(coef) - (ref[3] if fit_intercept else 0.0)) < 1e-8


def test_bad_input(ctx, xy):
    X, _ = xy
    data = as_labeled(X, None, ctx=ctx, num_partitions=2)
    try:
        with pytest.raises(ValueError, match="normal_equations needs labeled blocks"):
            normal_equations(data.blocks)
    finally:
        data.release()
