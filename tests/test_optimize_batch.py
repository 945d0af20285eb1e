"""Warm starts (a resumed run is the run made straight through) and batched training (many
models in the same passes: each the model trained alone), locally and on Spark."""
from __future__ import annotations

import numpy as np
import pytest

from mli.optimize import (HingeLoss, LogisticLoss, MultinomialLogisticLoss, SquaredLoss,
                          minimize, minimize_many, value_grad_many)
from mli.optimize.batch_kernels import KINDS, margin_losses
from tests.test_optimize import binary_data, make_blocks, multiclass_data, regression_data


def _split(X, y, parts=3):
    b = np.linspace(0, len(y), parts + 1).astype(int)
    return [(X[lo:hi], y[lo:hi]) for lo, hi in zip(b[:-1], b[1:])]


# ---------------------------------------------------------------------------- warm starts


@pytest.mark.parametrize("method,l1_ratio", [("lbfgs", 0.0), ("owlqn", 0.5)])
def test_resumed_equals_straight_through(method, l1_ratio):
    X, y = binary_data(n=400, d=6)
    X[:, 1] *= 30.0  # unequal scales: lbfgs preconditions, and the state must carry it
    blocks = _split(X, y)
    kw = dict(reg=1e-3, l1_ratio=l1_ratio, method=method, tol=1e-12)
    straight = minimize(LogisticLoss(), blocks, max_iter=12, **kw)
    first = minimize(LogisticLoss(), blocks, max_iter=5, **kw)
    second = minimize(LogisticLoss(), blocks, max_iter=7, warm_start=first.state, **kw)
    np.testing.assert_array_equal(second.x, straight.x)
    assert first.n_passes + second.n_passes == straight.n_passes  # no pass repeated
    assert (first.n_iter, second.n_iter) == (5, 7)
    assert second.state.inner.iteration == 12
    if method == "lbfgs":
        assert straight.state.scale is not None  # (the preconditioner was used and kept)


def test_resumed_in_three_steps_on_spark(ctx):
    X, y = regression_data(n=600, d=5)
    blocks = make_blocks(ctx, X, y, 3)
    straight = minimize(SquaredLoss(), blocks, reg=0.1, method="lbfgs", max_iter=9, tol=0)
    state, passes = None, 0
    for step in (2, 3, 4):
        r = minimize(SquaredLoss(), blocks, reg=0.1, method="lbfgs", max_iter=step, tol=0,
                     warm_start=state)
        state, passes = r.state, passes + r.n_passes
    np.testing.assert_array_equal(r.x, straight.x)
    assert passes == straight.n_passes


def test_warm_start_bad_input():
    X, y = binary_data(n=100, d=3)
    r = minimize(LogisticLoss(), [(X, y)], method="lbfgs", max_iter=2)
    with pytest.raises(ValueError, match="warm_start must be the .state"):
        minimize(LogisticLoss(), [(X, y)], warm_start=r.x)
    with pytest.raises(ValueError, match="comes from method='lbfgs'.*method='owlqn'"):
        minimize(LogisticLoss(), [(X, y)], method="owlqn", warm_start=r.state)
    with pytest.raises(ValueError, match="theta0 or warm_start"):
        minimize(LogisticLoss(), [(X, y)], theta0=r.x, warm_start=r.state)
    with pytest.raises(ValueError, match="warm_start holds 4 parameters but this problem has 3"):
        minimize(LogisticLoss(), [(X[:, :2], y)], warm_start=r.state)
    assert minimize(LogisticLoss(), [(X, y)], method="newton").state is None


# ---------------------------------------------------------------------------- the batched pass


@pytest.mark.parametrize("loss,data", [
    (LogisticLoss(), binary_data), (HingeLoss(), binary_data), (SquaredLoss(), regression_data),
    (MultinomialLogisticLoss(3), multiclass_data)])
@pytest.mark.parametrize("weighted", [False, True])
def test_value_grad_many_equals_one_at_a_time(loss, data, weighted):
    X, y = data(n=9000)  # (more than two chunks of rows)
    rng = np.random.default_rng(3)
    sw = rng.uniform(0, 2, size=len(y)) if weighted else None
    d, k = X.shape[1], loss.n_outputs
    thetas = rng.normal(size=(4, d * k + k)) * 0.3
    values, grads = value_grad_many(X, y, thetas, loss, d, True, sw)
    for j, theta in enumerate(thetas):
        w = theta[:d * k] if k == 1 else theta[:d * k].reshape(d, k)
        b = theta[d * k] if k == 1 else theta[d * k:]
        v, gw, gb = loss.value_grad(X, y, w, b, sw)
        np.testing.assert_allclose(values[j], v, rtol=1e-12)
        np.testing.assert_allclose(grads[j, :d * k], np.ravel(gw), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(grads[j, d * k:], np.atleast_1d(gb), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_margin_kernel_matches_numpy_reference(name):
    loss = {"logistic": LogisticLoss(), "hinge": HingeLoss(), "squared": SquaredLoss()}[name]
    rng = np.random.default_rng(0)
    Z = rng.normal(scale=5, size=(50, 3))
    Z[0, 0] = 800.0  # (the logistic branches for large margins)
    Z[1, 1] = -800.0
    y = rng.integers(0, 2, 50).astype(float)
    sw = rng.uniform(0, 2, 50)
    dZ = np.empty_like(Z)
    out = margin_losses(KINDS[name], Z, y, sw, dZ)
    losses, grads = loss.losses_grad_margin(Z, y[:, None])
    np.testing.assert_allclose(out, (losses * sw[:, None]).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dZ, grads * sw[:, None], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize("weighted", [False, True])
def test_numba_pass_matches_numpy_loop(name, weighted):
    """A dense float64 block's pass (one numba kernel, cache-sized chunks) against the numpy
    loop the other blocks take (here the same rows as a sparse matrix)."""
    import scipy.sparse as sp

    from mli.optimize import batch

    loss = {"logistic": LogisticLoss(), "hinge": HingeLoss(), "squared": SquaredLoss()}[name]
    X, y = (regression_data if name == "squared" else binary_data)(n=3000, d=40)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0, 2, size=len(y)) if weighted else None
    thetas = rng.normal(size=(9, 41)) * 0.5
    assert batch.chunk_rows(X, 9) < len(y) // 2  # (several chunks)
    dense = value_grad_many(X, y, thetas, loss, 40, True, sw)
    sparse = value_grad_many(sp.csr_matrix(X), y, thetas, loss, 40, True, sw)
    np.testing.assert_allclose(dense[0], sparse[0], rtol=1e-12)
    np.testing.assert_allclose(dense[1], sparse[1], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------- batched fits


CONFIGS = [{"reg": 1e-4}, {"reg": 1e-2}, {"reg": 1.0}, {"reg": 0.1, "max_iter": 4}]


@pytest.mark.parametrize("loss,data", [(LogisticLoss(), binary_data),
                                       (SquaredLoss(), regression_data),
                                       (MultinomialLogisticLoss(3), multiclass_data)])
def test_batched_equals_one_at_a_time(loss, data):
    X, y = data(n=600)
    blocks = _split(X, y)
    many = minimize_many(loss, blocks, CONFIGS, method="lbfgs", max_iter=30)
    for cfg, got in zip(CONFIGS, many):
        alone = minimize(loss, blocks, method="lbfgs", **{"max_iter": 30, **cfg})
        np.testing.assert_allclose(got.x, alone.x, rtol=1e-7, atol=1e-9)
        assert (got.n_iter, got.n_passes) == (alone.n_iter, alone.n_passes)


def test_batched_owlqn_and_resumed_on_spark(ctx):
    X, y = binary_data(n=900, d=6)
    blocks = make_blocks(ctx, X, y, 3)
    configs = [{"reg": 1e-3, "l1_ratio": 0.5}, {"reg": 0.05, "l1_ratio": 1.0}]
    first = minimize_many(LogisticLoss(), blocks, configs, method="owlqn", max_iter=4, tol=0)
    second = minimize_many(LogisticLoss(), blocks, configs, method="owlqn", max_iter=6, tol=0,
                           warm_starts=[r.state for r in first])
    for cfg, got in zip(configs, second):
        alone = minimize(LogisticLoss(), blocks, method="owlqn", max_iter=10, tol=0, **cfg)
        np.testing.assert_allclose(got.x, alone.x, rtol=1e-7, atol=1e-9)


def test_batched_member_failure_is_kept_or_raised():
    X, y = binary_data(n=200, d=3)
    configs = [{"reg": 0.1}, {"reg": 0.1, "max_iter": 0}]  # (the second: an invalid max_iter)
    out = minimize_many(LogisticLoss(), [(X, y)], configs, method="lbfgs", errors="return")
    assert out[0].converged and isinstance(out[1], ValueError)
    assert "max_iter" in str(out[1])
    with pytest.raises(ValueError, match="max_iter"):
        minimize_many(LogisticLoss(), [(X, y)], configs, method="lbfgs")


def test_minimize_many_bad_input():
    X, y = binary_data(n=50, d=3)
    with pytest.raises(ValueError, match="non-empty list of configurations"):
        minimize_many(LogisticLoss(), [(X, y)], [])
    with pytest.raises(ValueError, match=r"configs\[0\] must be a dict with keys among"):
        minimize_many(LogisticLoss(), [(X, y)], [{"alpha": 1.0}])
    with pytest.raises(ValueError, match="warm_starts has 2 entries for 1"):
        minimize_many(LogisticLoss(), [(X, y)], [{"reg": 1.0}], warm_starts=[None, None])
    with pytest.raises(ValueError, match="loss must be an mli.optimize Loss"):
        minimize_many("logistic", [(X, y)], [{"reg": 1.0}])
    with pytest.raises(ValueError, match="errors must be"):
        minimize_many(LogisticLoss(), [(X, y)], [{"reg": 1.0}], errors="ignore")
