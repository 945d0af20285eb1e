"""Tests of mli.optimize: losses (no Spark), pure helpers, and every optimizer on real Spark
(local[2]) against scipy / scikit-learn solutions of the same objective."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp

from mli.optimize import (LBFGS, NEWTON_MAX_PARAMS, OWLQN, GradientDescent, HingeLoss,
                          LocalBlocks, LogisticLoss, MultinomialLogisticLoss, Newton, Objective,
                          OptimizeResult, ParallelSGD, Preconditioned, ProximalGradient,
                          SquaredLoss, minimize)
from mli.optimize.base import pseudo_gradient, soft_threshold
from mli.optimize.lbfgs import LBFGSState, two_loop, update_history

# ---------------------------------------------------------------------------- data helpers


def make_blocks(ctx, X, y, n_parts):
    """A BlockRDD with ``n_parts`` (X, y) bundles (one element per partition)."""
    from mli.engine.blocks import BlockRDD
    from mli.linalg.localmatrix import LocalMatrix

    bounds = np.linspace(0, X.shape[0], n_parts + 1).astype(int)
    bundles = [(LocalMatrix(X[a:b]), np.ascontiguousarray(y[a:b], dtype=np.float64))
               for a, b in zip(bounds[:-1], bounds[1:])]
    return BlockRDD(ctx.sc.parallelize(bundles, n_parts), ctx)


def binary_data(n=300, d=6, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0, size=d)
    w = rng.normal(size=d)
    y = (X @ w + 0.3 + noise * rng.normal(size=n) > 0).astype(np.float64)
    return X, y


def regression_data(n=300, d=6, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = X @ w + 0.5 + 0.5 * rng.normal(size=n)
    return X, y


def multiclass_data(n=300, d=5, k=3, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, k))
    logits = X @ W + rng.gumbel(size=(n, k))
    return X, logits.argmax(axis=1).astype(np.float64)


def numpy_objective(loss, X, y, reg, l1_ratio=0.0, fit_intercept=True):
    """The objective (smooth part) in plain numpy, for scipy: ``f(theta) -> (value, grad)``."""
    obj = Objective([(X, y)], loss, X.shape[1], reg=reg, l1_ratio=l1_ratio,
                    fit_intercept=fit_intercept)
    return obj


def scipy_solution(loss, X, y, reg, fit_intercept=True):
    obj = numpy_objective(loss, X, y, reg, fit_intercept=fit_intercept)
    res = so.minimize(obj.value_grad, obj.zeros(), jac=True, method="L-BFGS-B",
                      options=dict(maxiter=20000, ftol=1e-15, gtol=1e-11))
    return res.x, res.fun


def scipy_l1_solution(loss, X, y, reg, l1_ratio, fit_intercept=True):
    """L1 via the split-variable formulation w = u - v, u, v >= 0 (smooth, bounded)."""
    obj = numpy_objective(loss, X, y, reg, l1_ratio, fit_intercept)
    mask = obj.l1_mask
    nw = int(mask.sum())
    l1 = obj.l1

    def f(z):
        u, v, rest = z[:nw], z[nw:2 * nw], z[2 * nw:]
        theta = np.concatenate([u - v, rest])
        val, g = obj.value_grad(theta)
        return (val + l1 * (u.sum() + v.sum()),
                np.concatenate([g[:nw] + l1, -g[:nw] + l1, g[nw:]]))

    z0 = np.zeros(2 * nw + obj.size - nw)
    bounds = [(0, None)] * (2 * nw) + [(None, None)] * (obj.size - nw)
    res = so.minimize(f, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options=dict(maxiter=20000, ftol=1e-15, gtol=1e-11))
    theta = np.concatenate([res.x[:nw] - res.x[nw:2 * nw], res.x[2 * nw:]])
    return theta, res.fun


# ---------------------------------------------------------------------------- losses (no Spark)


def naive_loss(loss, X, y, w, b):
    """Row-by-row reference value of a loss sum (independent of the vectorized code)."""
    X = X.toarray() if sp.issparse(X) else X
    total = 0.0
    for xi, yi in zip(X, y):
        if isinstance(loss, MultinomialLogisticLoss):
            z = xi @ w + b
            total += math.log(sum(math.exp(v) for v in z)) - z[int(yi)]
            continue
        z = float(xi @ w + b)
        s = 1.0 if yi > 0 else -1.0
        if isinstance(loss, LogisticLoss):
            total += math.log1p(math.exp(-s * z))
        elif isinstance(loss, HingeLoss):
            total += max(0.0, 1.0 - s * z)
        else:
            total += 0.5 * (yi - z) ** 2
    return total


LOSSES = [LogisticLoss(), HingeLoss(), SquaredLoss(), MultinomialLogisticLoss(3)]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: l.name)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_loss_value_grad_matches_finite_differences(loss, sparse):
    rng = np.random.default_rng(3)
    n, d = 40, 5
    X = rng.normal(size=(n, d)) * (rng.uniform(size=(n, d)) < 0.6)
    y = rng.integers(0, 3 if loss.n_outputs > 1 else 2, size=n).astype(np.float64)
    if isinstance(loss, SquaredLoss):
        y = rng.normal(size=n)
    k = loss.n_outputs
    w = rng.normal(size=(d, k) if k > 1 else d)
    b = rng.normal(size=k) if k > 1 else 0.3
    Xm = sp.csr_matrix(X) if sparse else X
    value, gw, gb = loss.value_grad(Xm, y, w, b)
    assert value == pytest.approx(naive_loss(loss, X, y, w, b), rel=1e-12)
    assert gw.shape == np.shape(w) and np.shape(gb) == np.shape(b)
    assert loss.value(Xm, y, w, b) == pytest.approx(value, rel=1e-12)

    theta = np.concatenate([np.ravel(w), np.atleast_1d(b)])

    def f(t):
        ww = t[:w.size].reshape(np.shape(w))
        bb = t[w.size:] if k > 1 else t[w.size]
        return loss.value(Xm, y, ww, bb)

    eps = 1e-6
    numeric = np.array([(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps)
                        for e in np.eye(theta.size)])
    analytic = np.concatenate([np.ravel(gw), np.atleast_1d(gb)])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-5)


def test_losses_numerically_stable_and_label_conventions():
    X = np.array([[1.0], [1.0]])
    big = np.array([1000.0])
    value, gw, gb = LogisticLoss().value_grad(X, np.array([0.0, 1.0]), big)
    assert value == pytest.approx(1000.0) and np.isfinite(gw).all()
    # {-1, +1} labels mean the same as {0, 1}
    for loss in (LogisticLoss(), HingeLoss()):
        a = loss.value_grad(X, np.array([0.0, 1.0]), np.array([0.3]), 0.1)
        c = loss.value_grad(X, np.array([-1.0, 1.0]), np.array([0.3]), 0.1)
        assert a[0] == c[0] and np.array_equal(a[1], c[1])
    z = MultinomialLogisticLoss(2).value_grad(X, np.array([0.0, 1.0]),
                                              np.array([[800.0, -800.0]]), np.zeros(2))
    assert np.isfinite(z[0]) and np.isfinite(z[1]).all()
    with pytest.raises(ValueError, match="multinomial labels must be integers in 0..2"):
        MultinomialLogisticLoss(3).value_grad(X, np.array([0.0, 3.0]), np.zeros((1, 3)),
                                              np.zeros(3))
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got 1"):
        MultinomialLogisticLoss(1)
    # float32 blocks compute in float32 but return float64
    v32 = SquaredLoss().value_grad(X.astype(np.float32), np.array([1.0, 2.0]), np.ones(1), 0.0)
    assert v32[1].dtype == np.float64 and v32[0] == pytest.approx(0.5)


# ---------------------------------------------------------------------------- pure helpers


def dense_bfgs_inverse(pairs, n):
    """Explicit BFGS inverse-Hessian recursion from H0 = gamma I (gamma from the newest pair)."""
    s_last, y_last = pairs[-1]
    H = (s_last @ y_last) / (y_last @ y_last) * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def test_two_loop_equals_dense_bfgs_and_history_is_pure():
    rng = np.random.default_rng(4)
    n = 6
    A = rng.normal(size=(n, n))
    A = A @ A.T + n * np.eye(n)
    state = LBFGSState(m=3)
    pairs = []
    for _ in range(5):
        s = rng.normal(size=n)
        y = A @ s
        new = update_history(state, s, y)
        assert len(state.s) <= 3 and new is not state  # the old state is untouched
        state = new
        pairs = (pairs + [(s, y)])[-3:]
    assert len(state.s) == 3
    g = rng.normal(size=n)
    np.testing.assert_allclose(two_loop(g, state), dense_bfgs_inverse(pairs, n) @ g,
                               rtol=1e-10)
    assert np.array_equal(two_loop(g, LBFGSState()), g)
    # negative curvature pairs are skipped
    assert update_history(state, np.ones(n), -np.ones(n)) is state


def test_l1_helpers():
    x = np.array([3.0, -0.5, 0.0, 0.0, 0.0, 2.0])
    g = np.array([1.0, 1.0, 2.0, -2.0, 0.5, 1.0])
    mask = np.array([True] * 5 + [False])
    np.testing.assert_allclose(soft_threshold(x, 1.0, mask), [2.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    np.testing.assert_allclose(pseudo_gradient(x, g, 1.0, mask),
                               [2.0, 0.0, 1.0, -1.0, 0.0, 1.0])


def test_local_blocks_match_single_block():
    X, y = binary_data(120, 4)
    one = Objective([(X, y)], LogisticLoss(), reg=0.1)
    three = Objective(LocalBlocks([(X[:40], y[:40]), (X[40:90], y[40:90]), (X[90:], y[90:])]),
                      LogisticLoss(), reg=0.1)
    theta = np.linspace(-1, 1, one.size)
    f1, g1 = one.value_grad(theta)
    f3, g3 = three.value_grad(theta)
    assert f1 == pytest.approx(f3, rel=1e-13) and np.allclose(g1, g3, rtol=1e-12)
    assert one.n_features == 4 and one.size == 5 and one.n_passes == 1


# ---------------------------------------------------------------------------- Spark fixtures


@pytest.fixture(scope="module")
def logistic(ctx):
    X, y = binary_data()
    return X, y, make_blocks(ctx, X, y, 2)


@pytest.fixture(scope="module")
def regression(ctx):
    X, y = regression_data()
    return X, y, make_blocks(ctx, X, y, 2)


# ---------------------------------------------------------------------------- objective


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_distributed_objective_matches_numpy(ctx, sparse):
    X, y = binary_data(200, 5, seed=5)
    X[np.abs(X) < 0.7] = 0.0
    Xb = sp.csr_matrix(X) if sparse else X
    obj = Objective(make_blocks(ctx, Xb, y, 3), LogisticLoss(), reg=0.2, l1_ratio=0.25)
    assert obj.n_rows == 200 and obj.n_features == 5 and obj.n_passes == 0
    theta = np.linspace(-0.5, 0.7, 6)
    f, g = obj.value_grad(theta)
    ref = Objective([(X, y)], LogisticLoss(), 5, reg=0.2, l1_ratio=0.25)
    fr, gr = ref.value_grad(theta)
    assert f == pytest.approx(fr, rel=1e-12) and np.allclose(g, gr, rtol=1e-10)
    w = theta[:5]
    direct = (np.logaddexp(0, -(2 * y - 1) * (X @ w + theta[5])).mean()
              + 0.2 * (0.75 / 2 * w @ w + 0.25 * np.abs(w).sum()))
    assert obj.value(theta) == pytest.approx(direct, rel=1e-12)
    assert obj.n_passes == 2


# ---------------------------------------------------------------------------- optimizers


def test_lbfgs_logistic_l2_matches_scipy(logistic):
    X, y, blocks = logistic
    obj = Objective(blocks, LogisticLoss(), reg=0.01)
    res = LBFGS(tol=1e-9, ftol=1e-14).minimize(obj)
    x_ref, f_ref = scipy_solution(LogisticLoss(), X, y, 0.01)
    assert isinstance(res, OptimizeResult) and res.converged, res.message
    assert res.fun == pytest.approx(f_ref, abs=1e-10)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-5)
    assert res.n_passes == obj.n_passes and res.n_passes < 60
    assert len(res.history) == res.n_iter


def test_gradient_descent_logistic_l2_matches_scipy(logistic):
    X, y, blocks = logistic
    obj = Objective(blocks, LogisticLoss(), reg=0.1)
    res = GradientDescent(step_size=2.0, max_iter=300, tol=1e-5).minimize(obj)
    x_ref, f_ref = scipy_solution(LogisticLoss(), X, y, 0.1)
    assert res.converged, res.message
    assert res.fun == pytest.approx(f_ref, abs=1e-8)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-4)
    losses = [h[1] for h in res.history]
    assert all(b <= a + 1e-15 for a, b in zip(losses, losses[1:]))  # monotone with backtracking


def test_squared_l2_matches_closed_form_ridge(regression):
    X, y, blocks = regression
    n, d = X.shape
    reg = 0.05
    res = minimize(SquaredLoss(), blocks, reg=reg, tol=1e-10, ftol=1e-15)
    # normal equations of mean(½(y - Xw - b)²) + reg/2 |w|² with an unpenalized intercept
    Xa = np.hstack([X, np.ones((n, 1))])
    P = np.diag([reg] * d + [0.0])
    exact = np.linalg.solve(Xa.T @ Xa / n + P, Xa.T @ y / n)
    np.testing.assert_allclose(res.x, exact, atol=1e-7)
    w, b = res.objective.unpack(res.x)
    assert w.shape == (d,) and b == pytest.approx(exact[-1], abs=1e-7)


def test_hinge_no_worse_than_scipy(logistic):
    X, y, blocks = logistic
    _, f_ref = scipy_solution(HingeLoss(), X, y, 0.01)
    res = minimize(HingeLoss(), blocks, reg=0.01, max_iter=15)
    assert res.fun <= f_ref + 1e-3
    assert Objective([(X, y)], HingeLoss(), reg=0.01).value(res.x) == pytest.approx(res.fun)


def test_owlqn_l1_logistic_matches_sklearn_and_split_variables(logistic):
    from sklearn.linear_model import LogisticRegression

    X, y, blocks = logistic
    n = X.shape[0]
    reg = 0.03
    res = OWLQN(tol=1e-9, ftol=1e-14, max_iter=300).minimize(
        Objective(blocks, LogisticLoss(), reg=reg, l1_ratio=1.0))
    assert res.converged, res.message
    x_ref, f_ref = scipy_l1_solution(LogisticLoss(), X, y, reg, 1.0)
    assert res.fun == pytest.approx(f_ref, abs=1e-9)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-4)
    # sklearn: C * sum(loss) + ||w||_1  <=>  reg = 1 / (C n)
    import sklearn

    l1 = (dict(l1_ratio=1.0) if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 8)
          else dict(penalty="l1"))
    sk = LogisticRegression(C=1.0 / (reg * n), solver="saga", tol=1e-12, max_iter=100000,
                            **l1).fit(X, y)
    np.testing.assert_allclose(res.x[:-1], sk.coef_.ravel(), atol=2e-3)
    assert res.x[-1] == pytest.approx(sk.intercept_[0], abs=2e-3)
    # exact zeros where the reference solution is zero
    zero = np.abs(x_ref[:-1]) < 1e-8
    assert zero.any(), "the test problem should have some zero weights"
    assert np.all(res.x[:-1][zero] == 0.0)


@pytest.mark.parametrize("method", ["owlqn", "fista"])
def test_elastic_net_squared_matches_sklearn(regression, method):
    from sklearn.linear_model import ElasticNet

    X, y, blocks = regression
    reg, l1_ratio = 0.3, 0.7
    res = minimize(SquaredLoss(), blocks, reg=reg, l1_ratio=l1_ratio, method=method,
                   max_iter=300, tol=1e-6)
    assert res.converged, res.message
    # sklearn's ElasticNet minimizes exactly this objective: alpha = reg
    sk = ElasticNet(alpha=reg, l1_ratio=l1_ratio, tol=1e-14, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(res.x[:-1], sk.coef_, atol=1e-5)
    assert res.x[-1] == pytest.approx(sk.intercept_, abs=1e-5)


def test_multinomial_matches_sklearn(ctx):
    from sklearn.linear_model import LogisticRegression

    X, y = multiclass_data()
    n, k = X.shape[0], 3
    reg = 0.01
    res = minimize(MultinomialLogisticLoss(k), make_blocks(ctx, X, y, 2), reg=reg,
                   tol=1e-9, ftol=1e-14, max_iter=300)
    assert res.converged, res.message
    W, b = res.objective.unpack(res.x)
    assert W.shape == (5, 3) and b.shape == (3,)
    sk = LogisticRegression(C=1.0 / (reg * n), tol=1e-12, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(W, sk.coef_.T, atol=1e-4)
    np.testing.assert_allclose(b - b.mean(), sk.intercept_ - sk.intercept_.mean(), atol=1e-4)
    z = X @ W + b
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(1, keepdims=True), sk.predict_proba(X), atol=1e-5)


def test_parallel_sgd_reaches_the_optimum_loosely(ctx, regression):
    X, y, blocks = regression
    _, f_ref = scipy_solution(SquaredLoss(), X, y, 0.01)
    obj = Objective(blocks, SquaredLoss(), reg=0.01)
    opt = ParallelSGD(epochs=15, batch_size=8, step_size=0.05, seed=7, tol=0)
    res = opt.minimize(obj)
    assert res.n_iter == 15 and res.n_passes == 16  # one job per epoch + the final value
    assert res.fun - f_ref < 1e-2 * f_ref
    # seeded per (seed, epoch, partition): the same partitions give the same model anywhere
    half = X.shape[0] // 2
    local = opt.minimize(Objective([(X[:half], y[:half]), (X[half:], y[half:])], SquaredLoss(),
                                   reg=0.01))
    np.testing.assert_allclose(res.x, local.x, rtol=1e-12, atol=1e-14)
    assert [h[0] for h in local.history] == list(range(1, 16))
    # logistic: looser
    Xl, yl = binary_data(seed=9)
    _, fl_ref = scipy_solution(LogisticLoss(), Xl, yl, 0.05)
    resl = minimize(LogisticLoss(), make_blocks(ctx, Xl, yl, 2), reg=0.05, method="sgd",
                    max_iter=15, tol=0, batch_size=4, step_size=0.2)
    assert resl.fun - fl_ref < 1e-2 * fl_ref


def test_one_vs_three_partitions_same_result(ctx, logistic):
    X, y, _ = logistic
    blocks1, blocks3 = make_blocks(ctx, X, y, 1), make_blocks(ctx, X, y, 3)
    a = LBFGS(tol=1e-8, ftol=1e-13).minimize(Objective(blocks1, LogisticLoss(), reg=0.01))
    b = LBFGS(tol=1e-8, ftol=1e-13).minimize(Objective(blocks3, LogisticLoss(), reg=0.01))
    np.testing.assert_allclose(a.x, b.x, atol=1e-6)
    assert a.fun == pytest.approx(b.fun, abs=1e-12)


def test_sparse_blocks_lbfgs(ctx):
    X, y = binary_data(250, 8, seed=11)
    X[np.abs(X) < 1.0] = 0.0
    res = minimize(LogisticLoss(), make_blocks(ctx, sp.csr_matrix(X), y, 2), reg=0.02,
                   tol=1e-9, ftol=1e-14, method="lbfgs")
    x_ref, _ = scipy_solution(LogisticLoss(), X, y, 0.02)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-5)


def test_callback_and_history(logistic):
    X, y, blocks = logistic
    calls = []
    res = minimize(LogisticLoss(), blocks, reg=0.01, callback=lambda *a: calls.append(a),
                   tol=1e-8)
    its = [c[0] for c in calls]
    assert its == list(range(1, res.n_iter + 1)) and res.n_iter >= 3
    assert [tuple(h) for h in res.history] == calls
    secs = [c[2] for c in calls]
    assert all(s2 >= s1 for s1, s2 in zip(secs, secs[1:]))
    assert calls[-1][1] == pytest.approx(res.fun) and calls[-1][1] <= calls[0][1]
    # returning True stops the run
    res2 = minimize(LogisticLoss(), blocks, reg=0.01, callback=lambda i, f, s: i >= 2)
    assert res2.n_iter == 2 and not res2.converged and "callback" in res2.message
    # auto picks OWL-QN for L1 (exact zeros), and warm starts are honoured
    res3 = minimize(LogisticLoss(), blocks, reg=0.2, l1_ratio=1.0, theta0=res.x)
    assert np.count_nonzero(res3.x[:-1]) < X.shape[1]


@pytest.mark.parametrize("make, message", [
    (lambda: LBFGS(max_iter=0), "max_iter must be an integer >= 1, got 0"),
    (lambda: LBFGS(m=2.5), "m must be an integer >= 1, got 2.5"),
    (lambda: LBFGS(tol=-1.0), "tol must be a number with 0.0 <= tol, got -1.0"),
    (lambda: OWLQN(max_iter=True), "max_iter must be an integer >= 1, got True"),
    (lambda: GradientDescent(step_size=0), "step_size must be a number with 0.0 < step_size"),
    (lambda: ProximalGradient(accelerated="yes"), "accelerated must be True or False"),
    (lambda: ProximalGradient(backtracking=1), "backtracking must be True or False"),
    (lambda: GradientDescent(backtracking="no"), "backtracking must be True or False"),
    (lambda: ParallelSGD(batch_size=0), "batch_size must be an integer >= 1, got 0"),
    (lambda: ParallelSGD(decay="linear"), "decay must be 'sqrt' or 'constant'"),
    (lambda: ParallelSGD(epochs=-3), "epochs must be an integer >= 1, got -3"),
])
def test_bad_hyperparameters_rejected(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make()


def test_bad_objective_arguments_rejected():
    X, y = binary_data(30, 3)
    data = [(X, y)]
    cases = [
        (dict(reg=-0.1), "reg must be a number with 0.0 <= reg, got -0.1"),
        (dict(l1_ratio=1.5), "l1_ratio must be a number with 0.0 <= l1_ratio <= 1.0, got 1.5"),
        (dict(reg=float("nan")), "reg must be"),
        (dict(fit_intercept="no"), "fit_intercept must be True or False"),
        (dict(n_features=0), "n_features must be an integer >= 1, got 0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message.replace(".", r"\.")):
            Objective(data, LogisticLoss(), **kwargs)
    with pytest.raises(ValueError, match="loss must be an mli.optimize Loss"):
        Objective(data, "logistic")
    obj = Objective(data, LogisticLoss(), reg=0.1, l1_ratio=0.5)
    with pytest.raises(ValueError, match="LBFGS handles smooth objectives only"):
        LBFGS().minimize(obj)
    with pytest.raises(ValueError, match=r"theta must have shape \(4,\)"):
        obj.value_grad(np.zeros(3))
    with pytest.raises(ValueError, match="theta0 must have 4 entries"):
        OWLQN().minimize(obj, np.zeros(7))
    with pytest.raises(ValueError, match="method must be one of"):
        minimize(LogisticLoss(), data, method="irls")
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 0"):
        minimize(LogisticLoss(), data, max_iter=0)
    with pytest.raises(ValueError, match="method='lbfgs' cannot handle an L1 term"):
        minimize(LogisticLoss(), data, reg=1.0, l1_ratio=1.0, method="lbfgs")
    with pytest.raises(ValueError, match="invalid option for method='lbfgs'"):
        minimize(LogisticLoss(), data, batch_size=3, method="lbfgs")
    with pytest.raises(ValueError, match="invalid option for method='newton'"):
        minimize(LogisticLoss(), data, batch_size=3)  # auto: Newton (narrow, binary)
    with pytest.raises(ValueError, match="callback must be callable"):
        minimize(LogisticLoss(), data, callback=3)
    with pytest.raises(ValueError, match="X has 30 rows but y has 29"):
        Objective([(X, y[:-1])], LogisticLoss())
    from mli.optimize.objective import xy_bundle

    with pytest.raises(ValueError, match=r"bundles are \(X, y\) pairs or \(X, y, weights\) "
                                         r"triples, got a ndarray"):
        xy_bundle(X)
    with pytest.raises(ValueError, match="do not match"):
        xy_bundle((X, y[:5]))


def test_preconditioned_lbfgs_same_optimum_fewer_iterations():
    # word-count-like columns: scales spread over two orders of magnitude
    rng = np.random.default_rng(3)
    n, d = 2000, 30
    X = rng.standard_normal((n, d)) * np.logspace(-1.5, 0.5, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.standard_normal(d) * 2)))).astype(float)
    blocks = [(X[:700], y[:700]), (X[700:], y[700:])]
    reg = 1e-3

    def f(theta):
        z = X @ theta[:-1] + theta[-1]
        return np.mean(np.logaddexp(0, z) - y * z) + 0.5 * reg * theta[:-1] @ theta[:-1]

    A = np.hstack([X, np.ones((n, 1))])
    ref = np.zeros(d + 1)
    R = reg * np.diag(np.r_[np.ones(d), 0.0])
    for _ in range(30):  # Newton's method: the exact optimum of this small problem
        p = 1 / (1 + np.exp(-(A @ ref)))
        grad = A.T @ (p - y) / n + R @ ref
        hess = (A * (p * (1 - p))[:, None]).T @ A / n + R
        ref -= np.linalg.solve(hess, grad)
    assert f(ref) <= so.minimize(f, np.zeros(d + 1), method="L-BFGS-B").fun + 1e-12
    runs = {}
    for pre in (True, False):
        res = minimize(LogisticLoss(), blocks, reg=reg, method="lbfgs", max_iter=500,
                       tol=1e-9, ftol=1e-15, precondition=pre)
        np.testing.assert_allclose(res.x, ref, rtol=1e-4, atol=1e-6)
        runs[pre] = res.n_iter
    assert runs[True] < runs[False], runs
    obj = Objective(blocks, LogisticLoss(), reg=reg)
    pc = Preconditioned.by_feature_std(obj)
    assert pc.spread > 2
    theta = rng.standard_normal(d + 1)
    v, g = pc.value_grad(pc.from_theta(theta))  # the same function in other coordinates
    v0, g0 = obj.value_grad(theta)
    assert math.isclose(v, v0, rel_tol=1e-12) and np.allclose(g, g0 * pc.d)
    with pytest.raises(ValueError, match="precondition must be"):
        minimize(LogisticLoss(), blocks, precondition="yes")
    with pytest.raises(ValueError, match="positive finite scales"):
        Preconditioned(obj, -np.ones(d + 1))
    with pytest.raises(ValueError, match="positive finite scales"):
        Preconditioned(obj, np.ones(d))
    with pytest.raises(ValueError, match="without an L1 term"):
        Preconditioned(Objective(blocks, LogisticLoss(), reg=0.1, l1_ratio=0.5), np.ones(d + 1))


def test_jacobi_preconditioner_is_the_hessian_diagonal_at_zero():
    """``by_curvature`` (what ``minimize`` uses): D = 1 / sqrt(diag H(0)) -- it sees the
    columns' means (uncentered counts), where the standard deviation does not."""
    rng = np.random.default_rng(4)
    n, d = 3000, 12
    X = rng.poisson(np.logspace(-1.5, 1.0, d), size=(n, d)).astype(float)  # word counts
    y = (X @ rng.standard_normal(d) * 0.3 + rng.standard_normal(n) > 0).astype(float)
    reg = 1e-3
    for loss in (LogisticLoss(), SquaredLoss(), MultinomialLogisticLoss(3)):
        yy = (np.arange(n) % 3).astype(float) if loss.n_outputs == 3 else y
        obj = Objective([(X[:1000], yy[:1000]), (X[1000:], yy[1000:])], loss, reg=reg)
        pc = Preconditioned.by_curvature(obj)
        if loss.has_hessian:  # the exact Hessian diagonal at theta = 0 (median floor aside)
            diag = np.diag(obj.value_grad_hess(obj.zeros())[2])
            exact = 1 / np.sqrt(diag)
            floored = pc.d[:-1] < exact[:-1] * (1 - 1e-12)  # the floor lowers scales
            np.testing.assert_allclose(pc.d[:-1][~floored], exact[:-1][~floored], rtol=1e-12)
            assert pc.d[-1] == pytest.approx(exact[-1], rel=1e-12)
        assert pc.spread > 2 and np.all(pc.d > 0)
    assert MultinomialLogisticLoss(4).curvature0 == pytest.approx(3 / 16)
    raw = minimize(LogisticLoss(), [(X, y)], reg=reg, method="lbfgs", precondition=False,
                   tol=1e-9, ftol=1e-15)
    pre = minimize(LogisticLoss(), [(X, y)], reg=reg, method="lbfgs", precondition=True,
                   tol=1e-9, ftol=1e-15)
    np.testing.assert_allclose(pre.x, raw.x, rtol=1e-4, atol=1e-6)
    assert pre.n_passes < raw.n_passes


# ---------------------------------------------------------------------------- Newton


@pytest.mark.parametrize("loss", [LogisticLoss(), SquaredLoss()], ids=lambda l: l.name)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_hessian_matches_finite_differences_of_the_gradient(loss, sparse):
    X, y = binary_data(120, 4, seed=3)
    X[np.abs(X) < 0.5] = 0.0
    obj = Objective([(sp.csr_matrix(X) if sparse else X, y)], loss, reg=0.3)
    theta = np.array([0.3, -0.2, 0.1, 0.5, -0.4])
    f, g, H = obj.value_grad_hess(theta)
    f2, g2 = obj.value_grad(theta)
    assert f == pytest.approx(f2, rel=1e-13) and np.allclose(g, g2, rtol=1e-12)
    eps = 1e-6
    fd = np.column_stack([(obj.value_grad(theta + eps * e)[1] - obj.value_grad(theta - eps * e)[1])
                          / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(H, fd, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-14)


def test_newton_logistic_matches_scipy_in_few_passes(ctx, logistic):
    X, y, blocks = logistic
    obj = Objective(blocks, LogisticLoss(), reg=0.01)
    res = Newton(tol=1e-10).minimize(obj)
    x_ref, f_ref = scipy_solution(LogisticLoss(), X, y, 0.01)
    assert res.converged, res.message
    assert res.fun == pytest.approx(f_ref, abs=1e-12)
    np.testing.assert_allclose(res.x, x_ref, atol=1e-6)
    # quadratic convergence: a handful of iterations, one pass each (full steps)
    assert res.n_iter <= 10 and res.n_passes == res.n_iter + 1
    # distributed Hessian == the numpy one; 1 vs 3 partitions: same model
    ref = Objective([(X, y)], LogisticLoss(), reg=0.01)
    np.testing.assert_allclose(obj.value_grad_hess(res.x)[2], ref.value_grad_hess(res.x)[2],
                               rtol=1e-12)
    three = Newton(tol=1e-10).minimize(Objective(make_blocks(ctx, X, y, 3), LogisticLoss(),
                                                 reg=0.01))
    np.testing.assert_allclose(three.x, res.x, atol=1e-9)


def test_newton_squared_is_ridge_in_one_step_and_unregularized_separable_is_safe():
    X, y = regression_data()
    res = minimize(SquaredLoss(), [(X, y)], reg=0.05, method="newton", tol=1e-10)
    A = np.column_stack([X, np.ones(len(y))])
    P = np.diag([0.05] * X.shape[1] + [0.0]) * len(y)
    np.testing.assert_allclose(res.x, np.linalg.solve(A.T @ A + P, A.T @ y), atol=1e-10)
    assert res.n_iter == 1
    # separable data without regularization: no minimizer; the steps stay finite and the
    # loss keeps falling until max_iter
    Xs = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    ys = np.array([0.0, 0.0, 1.0, 1.0])
    r = minimize(LogisticLoss(), [(Xs, ys)], method="newton", max_iter=15)
    assert np.all(np.isfinite(r.x)) and r.fun < 1e-3
    losses = [h[1] for h in r.history]
    assert all(b <= a for a, b in zip(losses, losses[1:]))


def test_auto_method_choice():
    X, y = binary_data(200, 5)
    assert minimize(LogisticLoss(), [(X, y)], reg=0.1).n_passes <= 12  # Newton
    assert "Newton" in repr(_chosen(LogisticLoss(), X, y))
    assert "LBFGS" in repr(_chosen(HingeLoss(), X, y))
    Xm, ym = multiclass_data()
    assert "LBFGS" in repr(_chosen(MultinomialLogisticLoss(3), Xm, ym))
    wide = np.random.default_rng(0).normal(size=(50, NEWTON_MAX_PARAMS))
    assert "LBFGS" in repr(_chosen(LogisticLoss(), wide, (wide[:, 0] > 0) * 1.0))
    assert "OWLQN" in repr(_chosen(LogisticLoss(), X, y, l1_ratio=0.5))


def _chosen(loss, X, y, l1_ratio=0.0):
    import logging

    seen = []

    class Grab(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    log = logging.getLogger("mli")
    h, level = Grab(), log.level
    log.addHandler(h)
    log.setLevel(logging.DEBUG)
    try:
        minimize(loss, [(X, y)], reg=0.1, l1_ratio=l1_ratio, max_iter=2)
    finally:
        log.removeHandler(h)
        log.setLevel(level)
    return [m for m in seen if m.startswith("minimize: Objective")][0]


def test_newton_bad_input():
    X, y = binary_data(50, 3)
    with pytest.raises(ValueError, match="method='newton' needs a single-output loss"):
        minimize(HingeLoss(), [(X, y)], method="newton")
    Xm, ym = multiclass_data()
    with pytest.raises(ValueError, match="method='newton' needs a single-output loss"):
        minimize(MultinomialLogisticLoss(3), [(Xm, ym)], method="newton")
    with pytest.raises(ValueError, match="method='newton' cannot handle an L1 term"):
        minimize(LogisticLoss(), [(X, y)], reg=0.1, l1_ratio=0.5, method="newton")
    with pytest.raises(ValueError, match="Newton handles smooth objectives only"):
        Newton().minimize(Objective([(X, y)], LogisticLoss(), reg=0.1, l1_ratio=1.0))
    with pytest.raises(ValueError, match="Newton needs a loss with a second derivative"):
        Newton().minimize(Objective([(X, y)], HingeLoss()))
    with pytest.raises(ValueError, match="has no Hessian here"):
        Objective([(X, y)], HingeLoss()).value_grad_hess(np.zeros(4))
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got 0"):
        Newton(max_iter=0)
    with pytest.raises(ValueError, match="max_halvings must be an integer >= 0, got -1"):
        Newton(max_halvings=-1)
    with pytest.raises(ValueError, match="invalid option for method='newton'"):
        minimize(LogisticLoss(), [(X, y)], method="newton", m=5)
