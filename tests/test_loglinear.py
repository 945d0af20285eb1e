"""mli.models.loglinear: feature maps, log-linear forms of the standard class-conditional densities
(against their log-densities written out), the model base class (derived form, save/load,
wrong input). No Spark."""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from scipy.stats import norm

import mli
from mli.linalg.localmatrix import LocalMatrix
from mli.models.loglinear import (FEATURE_MAPS, LogLinearClassifierModel, bernoulli_log_linear,
                           feature_map, gaussian_log_linear, log_linear_form,
                           multinomial_log_linear)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.poisson(1.0, size=(50, 4)).astype(float)
    X[:, 2] -= 0.5  # some negative values
    log_prior = np.log(np.array([0.2, 0.5, 0.3]))
    return X, log_prior


class GaussianDemoModel(LogLinearClassifierModel):
    """A test model: per-class normal densities with independent features."""

    _arrays = ("class_log_prior_", "theta_", "var_")
    _registry_name = "tests.GaussianDemoModel"

    def __init__(self, classes, class_log_prior, theta, var):
        super().__init__(classes, class_log_prior_=class_log_prior, theta_=theta, var_=var)

    def _log_linear(self):
        return gaussian_log_linear(self.class_log_prior_, self.theta_, self.var_)


def test_feature_maps(data):
    X, _ = data
    S = sp.csr_matrix(X)
    assert feature_map(X, "identity") is X
    assert feature_map(S, "identity") is S
    np.testing.assert_array_equal(feature_map(X, "binary"), (X > 0).astype(float))
    binary = feature_map(S, "binary")
    assert sp.issparse(binary) and binary.dtype == np.float64
    np.testing.assert_array_equal(binary.toarray(), (X > 0).astype(float))
    c = X.mean(axis=0)
    for A in (X, S, LocalMatrix(X)):
        np.testing.assert_allclose(feature_map(A, "quadratic", c),
                                   np.hstack([(X - c) ** 2, X - c]), rtol=1e-15)
    np.testing.assert_array_equal(feature_map(X, "quadratic"), np.hstack([X * X, X]))
    assert FEATURE_MAPS == ("identity", "counts", "binary", "quadratic")


def test_counts_map_refuses_negative_values(data):
    X, _ = data
    C = np.abs(X)
    for A in (C, sp.csr_matrix(C), LocalMatrix(C)):
        assert feature_map(A, "counts") is getattr(A, "array", A)
    assert feature_map(np.zeros((0, 4)), "counts").shape == (0, 4)
    for A in (X, sp.csr_matrix(X), sp.csc_matrix(X), LocalMatrix(X)):  # column 2: negative
        with pytest.raises(ValueError, match=r"non-negative feature values \(counts\) "
                                             r"expected, got -0.5 in feature 2"):
            feature_map(A, "counts")
    form = multinomial_log_linear(np.log([0.5, 0.5]), np.log(np.full((2, 4), 0.25)))
    assert form.feature_map == "counts"
    with pytest.raises(ValueError, match="in feature 2"):
        form.scores(X)


def test_scores_are_the_feature_map_times_coef(data):
    X, _ = data
    rng = np.random.default_rng(1)
    for name, m in (("identity", 4), ("binary", 4), ("quadratic", 8)):
        coef, b = rng.standard_normal((3, m)), rng.standard_normal(3)
        center = X.mean(axis=0) if name == "quadratic" else None
        form = log_linear_form(name, coef, b, center)
        expect = np.asarray(feature_map(X, name, center) @ coef.T) + b
        assert form.n_features == 4
        for A in (X, sp.csr_matrix(X), LocalMatrix(X)):
            np.testing.assert_allclose(form.scores(A), expect, rtol=1e-12, atol=1e-12)


def test_densities_equal_their_log_densities(data):
    X, log_prior = data
    rng = np.random.default_rng(2)
    # multinomial (up to the multinomial coefficient, equal for every class)
    p = rng.dirichlet(np.ones(4), size=3)
    Xc = np.abs(X)
    got = multinomial_log_linear(log_prior, np.log(p)).scores(Xc)
    np.testing.assert_allclose(got, log_prior + Xc @ np.log(p).T, rtol=1e-12)
    # Bernoulli: present where x > 0
    q = rng.uniform(0.05, 0.95, size=(3, 4))
    got = bernoulli_log_linear(log_prior, np.log(q)).scores(sp.csr_matrix(X))
    B = (X > 0)[:, None, :]
    expect = log_prior + np.where(B, np.log(q), np.log(1 - q)).sum(axis=2)
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    # Gaussian, also far from 0 (the centered map keeps it accurate)
    mean, var = rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, size=(3, 4))
    for shift in (0.0, 1e6):
        got = gaussian_log_linear(log_prior, mean + shift, var).scores(X + shift)
        expect = log_prior + norm.logpdf(X[:, None, :], mean, np.sqrt(var)).sum(axis=2)
        np.testing.assert_allclose(got, expect, rtol=1e-9)


def test_forms_are_read_only(data):
    _, log_prior = data
    form = gaussian_log_linear(log_prior, np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="read-only"):
        form.coef[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        form.center[0] = 1.0


def test_wrong_input(data):
    X, log_prior = data
    with pytest.raises(ValueError, match="unknown feature map 'cubic'"):
        feature_map(X, "cubic")
    with pytest.raises(ValueError, match=r"feature_log_prob must have shape.*got \(2, 4\)"):
        multinomial_log_linear(log_prior, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="feature_log_prob must be < 0"):
        bernoulli_log_linear(log_prior, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="variances must be > 0"):
        gaussian_log_linear(log_prior, np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="mean and var must have the same shape"):
        gaussian_log_linear(log_prior, np.zeros((3, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"var must have shape"):
        gaussian_log_linear(log_prior, np.zeros((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="unknown feature map 'cubic'"):
        log_linear_form("cubic", np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match=r"intercept of shape \(K,\), got \(3, 4\) and \(2,\)"):
        log_linear_form("identity", np.zeros((3, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="even number of coefficients"):
        log_linear_form("quadratic", np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError, match="center is the shift of a quadratic map"):
        log_linear_form("identity", np.zeros((3, 4)), np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"of shape \(d,\) = \(2,\)"):
        log_linear_form("quadratic", np.zeros((3, 4)), np.zeros(3), np.zeros(4))


def test_model_predicts_saves_and_loads(data, tmp_path):
    X, log_prior = data
    rng = np.random.default_rng(3)
    theta, var = rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, size=(3, 4))
    model = GaussianDemoModel([1.0, 4.0, 9.0], log_prior, theta, var)
    assert model.n_features == 4 and model.log_linear_.feature_map == "quadratic"
    joint = log_prior + norm.logpdf(X[:, None, :], theta, np.sqrt(var)).sum(axis=2)
    expect = joint - logsumexp(joint, axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_log_proba(X), expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.array([1.0, 4.0, 9.0])[joint.argmax(1)])
    model.save(str(tmp_path / "m"))
    loaded = mli.load(str(tmp_path / "m"))
    assert type(loaded) is GaussianDemoModel
    np.testing.assert_array_equal(loaded.log_linear_.coef, model.log_linear_.coef)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    with pytest.raises(AttributeError, match="immutable"):
        model.log_linear_ = None


def test_model_wrong_input(data):
    _, log_prior = data

    class Undeclared(LogLinearClassifierModel):
        _arrays = ("a_",)

        def _log_linear(self):
            return multinomial_log_linear(np.zeros(2), np.zeros((2, 3)))

    class NotAForm(Undeclared):
        def _log_linear(self):
            return np.zeros((2, 3)), np.zeros(2)

    with pytest.raises(TypeError, match="'b_' is not declared in _arrays"):
        Undeclared([0.0, 1.0], b_=np.zeros(2))
    with pytest.raises(ValueError, match="the log-linear form has 2 classes, the model 3"):
        Undeclared([0.0, 1.0, 2.0], a_=np.zeros(2))
    with pytest.raises(TypeError, match="_log_linear must return a LogLinear, got tuple"):
        NotAForm([0.0, 1.0])
    m = Undeclared([0.0, 1.0], a_=None)
    assert m.a_ is None and m.n_features == 3
    assert Undeclared([0.0, 1.0]).a_ is None  # an array not given is None

    class WithSetting(Undeclared):
        _attributes = ("kind",)

    with pytest.raises(TypeError, match=r"missing the setting\(s\) \['kind'\]"):
        WithSetting([0.0, 1.0], a_=np.zeros(2))
    with pytest.raises(TypeError, match=r"'n_features' is not declared in _arrays"):
        WithSetting([0.0, 1.0], kind="x", n_features=3)  # the base's attributes are derived
    assert WithSetting([0.0, 1.0], kind="x").kind == "x"
    with pytest.raises(ValueError, match="fitted with 3 features"):
        m.predict(np.zeros((2, 4)))
