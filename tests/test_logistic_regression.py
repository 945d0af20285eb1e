"""LogisticRegression against scikit-learn, across partition counts, and with bad input."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLR

import mli
from mli.algorithms import LogisticRegression


@pytest.fixture(scope="module")
def binary():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 6))
    y = (X @ rng.standard_normal(6) + 0.5 * rng.standard_normal(600) > 0).astype(float)
    return X, y


def test_binary_l2_matches_sklearn(ctx, binary):
    X, y = binary
    reg = 0.01
    m = LogisticRegression(reg=reg, tol=1e-10).fit(X, y)
    sk = SkLR(C=1 / (reg * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(m.coef_, sk.coef_, rtol=1e-4)
    np.testing.assert_allclose(m.intercept_, sk.intercept_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-5)


def test_multinomial_matches_sklearn(ctx, binary):
    X, _ = binary
    y = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.5, 0.5]) * 5.0   # labels 0, 5, 10
    reg = 0.01
    m = LogisticRegression(reg=reg, tol=1e-10).fit(X, y)
    sk = SkLR(C=1 / (reg * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_array_equal(m.classes_, [0.0, 5.0, 10.0])
    np.testing.assert_allclose(m.predict_proba(X), sk.predict_proba(X), atol=1e-4)
    assert (m.predict(X) == sk.predict(X)).mean() > 0.995


def test_l1_gives_sparse_solution_matching_sklearn(ctx, binary):
    X, y = binary
    reg = 0.05
    m = LogisticRegression(reg=reg, l1_ratio=1.0, tol=1e-10, max_iter=500).fit(X, y)
    sk = SkLR(l1_ratio=1.0, C=1 / (reg * len(y)), solver="liblinear", tol=1e-10,
              max_iter=10_000, intercept_scaling=1e4).fit(X, y)
    np.testing.assert_allclose(m.coef_, sk.coef_, atol=2e-3)


def test_same_model_for_1_and_4_partitions(ctx, binary):
    X, y = binary
    models = [LogisticRegression(reg=0.01, tol=1e-10).fit(
        mli.MLTable.from_numpy(X, y, num_partitions=p), label="label") for p in (1, 4)]
    np.testing.assert_allclose(models[0].coef_, models[1].coef_, rtol=1e-6)


def test_table_input_and_table_output(ctx, binary):
    X, y = binary
    t = mli.MLTable.from_numpy(X, y, columns=[f"f{i}" for i in range(6)], label="y")
    m = LogisticRegression(reg=0.01).fit(t, label="y")
    out = m.predict(t)
    assert isinstance(out, mli.MLTable) and out.columns == ("prediction",)
    np.testing.assert_array_equal(out.to_numpy().ravel(), m.predict(X))


def test_progress_callback(ctx, binary):
    X, y = binary
    seen = []
    LogisticRegression(reg=0.01, max_iter=5, callback=lambda i, f, s: seen.append((i, f, s))
                       ).fit(X, y)
    assert [i for i, _, _ in seen] == list(range(1, len(seen) + 1)) and 1 <= len(seen) <= 5
    assert all(b[2] >= a[2] for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("y, match", [
    (np.ones(10), "at least 2 classes"),
    (np.r_[np.zeros(5), np.full(5, np.nan)], "finite"),
])
def test_bad_labels(ctx, y, match):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=match):
        LogisticRegression().fit(X, y)


def test_bad_params_and_inputs(ctx, binary):
    X, y = binary
    with pytest.raises(ValueError, match="parameter 'reg' of LogisticRegression"):
        LogisticRegression(reg=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="parameter 'solver'"):
        LogisticRegression(solver="irls").fit(X, y)
    with pytest.raises(ValueError, match="X has 600 rows but y has 10"):
        LogisticRegression().fit(X, y[:10])
    m = LogisticRegression(reg=0.1, max_iter=3).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        m.predict(X[:, :3])
    bad = X.copy(); bad[7, 2] = np.inf
    with pytest.raises(ValueError, match="row 7, column 'x2' is inf"):
        LogisticRegression().fit(bad, y)
    with pytest.raises(ValueError, match="label column 'nope' not found"):
        LogisticRegression().fit(mli.MLTable.from_numpy(X, y), label="nope")


def test_newton_solver_equals_lbfgs_and_rejects_multinomial(ctx, binary):
    X, y = binary
    a = LogisticRegression(reg=0.01, solver="newton", tol=1e-10).fit(X, y)
    b = LogisticRegression(reg=0.01, solver="lbfgs", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-7)
    assert a.n_iter < b.n_iter
    y3 = np.arange(len(y)) % 3
    with pytest.raises(ValueError, match="method='newton' needs a single-output loss"):
        LogisticRegression(solver="newton").fit(X, y3)
