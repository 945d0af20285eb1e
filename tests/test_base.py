"""The Algorithm/Model layer (mli.core.base) and the conformance check (mli.core.conformance), end to end
through real Spark with small toy algorithms defined here."""
from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pyspark import cloudpickle

import mli
from mli.core.base import Algorithm, Model
from mli.errors import ModelFormatError
from mli.linalg.localmatrix import LocalMatrix
from mli.core.params import Interval, Options
from mli.core.conformance import (CHECKS, Case, check_algorithm, parametrize_with_checks,
                                  registered_algorithms)

# Spark's Python workers cannot import this test module: ship its classes/functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# ============================================================================ toy algorithms


def _dense(a):
    return a.toarray() if sp.issparse(a) else np.asarray(a)


def _gram(bundle, fit_intercept):
    X, y = bundle
    A = _dense(X.array).astype(np.float64)
    if fit_intercept:
        A = np.hstack([A, np.ones((A.shape[0], 1))])
    return A.T @ A, A.T @ y


class ToyLeastSquares(Algorithm):
    """Ridge regression with one map_reduce of XᵀX and Xᵀy."""

    _constraints = {
        "reg": Interval(float, 0, None, closed="left"),
        "fit_intercept": [bool],
        "solver": Options({"auto", "cholesky"}),
        "seed": [None, Interval(int, 0, None)],
        "callback": [None, "callable"],
    }

    def __init__(self, reg=1e-8, fit_intercept=True, solver="auto", seed=None, callback=None):
        self.reg = reg
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.seed = seed
        self.callback = callback

    def _fit(self, data):
        xtx, xty = data.blocks.map_reduce(_gram, self.fit_intercept)
        d = xtx.shape[0]
        w = np.linalg.solve(xtx + self.reg * np.eye(d), xty)
        if self.callback is not None:
            self.callback(0, w)
        if self.fit_intercept:
            return ToyLinearModel(w[:-1], w[-1])
        return ToyLinearModel(w, 0.0)


def _toy_regression_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    return X, X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.3 + 0.01 * rng.normal(size=120)


class ToyLinearModel(Model):
    _arrays = ("coef_", "intercept_")
    _registry_name = "tests.ToyLinearModel"

    def __init__(self, coef, intercept):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        super().__init__(n_features=self.coef_.shape[0])

    def _predict_block(self, X):
        return np.asarray(X.array @ self.coef_).ravel() + float(self.intercept_)

    def decision(self, data):
        """A 2-D output: one line with _apply."""
        return self._apply(data, self._decision_block, ["lo", "hi"])

    def _decision_block(self, X):
        p = self._predict_block(X)
        return np.column_stack([p - 1.0, p + 1.0])


def _col_sums(bundle):
    X, _ = bundle
    a = X.array
    return np.asarray(a.sum(axis=0)).ravel().astype(np.float64), a.shape[0]


class ToyMeans(Algorithm):
    """Unsupervised: the column means; predicts the squared distance to them."""

    _constraints = {"scale": Interval(float, 0, None, closed="neither")}

    def __init__(self, scale=1.0):
        self.scale = scale

    def _fit(self, data):
        s, n = data.blocks.map_reduce(_col_sums)
        return ToyMeansModel(s / n * self.scale)



class ToyMeansModel(Model):
    _arrays = ("center_",)
    _attributes = ("kind_",)

    def __init__(self, center):
        self.center_ = np.asarray(center)
        self.kind_ = {"name": "means", "dims": (len(center),)}
        super().__init__(n_features=len(center))

    def _predict_block(self, X):
        return ((_dense(X.array) - self.center_) ** 2).sum(axis=1)


class _PrivateAlgorithm(Algorithm):
    def _fit(self, data):  # pragma: no cover
        raise AssertionError


class AbstractFamily(Algorithm):
    """Has no _fit: abstract, never listed."""


class DeclaredAbstract(ToyMeans):
    _abstract = True


# ============================================================================ data


@pytest.fixture(scope="module")
def reg_data():
    return _toy_regression_data()


@pytest.fixture(scope="module")
def model(ctx, reg_data):
    X, y = reg_data
    return ToyLeastSquares().fit(X, y)


# ============================================================================ Algorithm params


def test_get_params_set_params_clone_repr():
    est = ToyLeastSquares(reg=0.5)
    assert est.get_params() == {"reg": 0.5, "fit_intercept": True, "solver": "auto",
                                "seed": None, "callback": None}
    assert repr(est) == "ToyLeastSquares(reg=0.5)"
    assert est.set_params(solver="cholesky", seed=3) is est
    assert repr(est) == "ToyLeastSquares(reg=0.5, solver='cholesky', seed=3)"
    c = est.clone()
    assert c is not est and type(c) is ToyLeastSquares and c.get_params() == est.get_params()
    assert repr(ToyLeastSquares()) == "ToyLeastSquares()"
    assert repr(ToyLeastSquares(callback=print)) == "ToyLeastSquares(callback=print)"


def test_params_stored_as_given_no_validation_at_init():
    est = ToyLeastSquares(reg="not a number")
    assert est.reg == "not a number"


def test_clone_copies_containers_keeps_callables():
    class WithList(Algorithm):
        def __init__(self, layers=(1,), weights=None, callback=None):
            self.layers, self.weights, self.callback = layers, weights, callback

        def _fit(self, data):  # pragma: no cover
            raise AssertionError

    calls = []
    w = np.array([1.0, 2.0])
    est = WithList(layers=[3, 4], weights=w, callback=calls.append)
    c = est.clone()
    assert c.layers == [3, 4] and c.layers is not est.layers
    assert c.weights is not w and np.array_equal(c.weights, w)
    assert c.callback == calls.append
    assert "weights=array(shape=(2,), dtype=float64)" in repr(est)


def test_set_params_unknown_name():
    with pytest.raises(ValueError, match=r"Invalid parameter 'regg' for ToyLeastSquares\. Valid "
                                         r"parameters are: \['callback', 'fit_intercept', 'reg', "
                                         r"'seed', 'solver'\]\."):
        ToyLeastSquares().set_params(regg=1.0)


def test_unknown_init_kwarg_is_typeerror():
    with pytest.raises(TypeError, match="unexpected keyword argument 'regg'"):
        ToyLeastSquares(regg=1.0)


def test_varargs_init_rejected_at_class_definition():
    with pytest.raises(TypeError, match=r"must list its hyperparameters explicitly; "
                                        r"\*args/\*\*kwargs \(\*\*kw\) are not allowed"):
        class Bad(Algorithm):  # noqa: F841
            def __init__(self, a=1, **kw):
                self.a = a

            def _fit(self, data):  # pragma: no cover
                pass


def test_constraint_for_unknown_parameter_rejected():
    with pytest.raises(TypeError, match=r"_constraints names \['nope'\], which are not "
                                        r"parameters of Bad.__init__ \['a'\]"):
        class Bad(Algorithm):  # noqa: F841
            _constraints = {"nope": [bool]}

            def __init__(self, a=1):
                self.a = a

            def _fit(self, data):  # pragma: no cover
                pass


def test_param_not_stored_is_reported():
    class Forgot(Algorithm):
        def __init__(self, a=1):
            pass

        def _fit(self, data):  # pragma: no cover
            pass

    with pytest.raises(AttributeError, match="must store parameter 'a' as self.a"):
        Forgot().get_params()


def test_abstract_algorithm_cannot_be_instantiated():
    with pytest.raises(TypeError, match="abstract"):
        AbstractFamily()


# ============================================================================ fit


def test_fit_numpy_end_to_end(ctx, reg_data, model):
    X, y = reg_data
    assert isinstance(model, ToyLinearModel)
    np.testing.assert_allclose(model.coef_, [1.0, -2.0, 0.5, 3.0], atol=0.01)
    assert model.params == ToyLeastSquares().get_params()
    assert model.feature_names == ("x0", "x1", "x2", "x3")
    assert model.n_features == 4
    assert repr(model) == "ToyLinearModel(n_features=4)"


def test_fit_params_is_a_copy(ctx, reg_data):
    X, y = reg_data
    est = ToyLeastSquares(reg=0.1)
    m = est.fit(X, y)
    est.set_params(reg=5.0)
    assert m.params["reg"] == 0.1


def test_fit_table_with_label_and_callback(ctx, reg_data):
    X, y = reg_data
    table = mli.MLTable.from_numpy(X, y, columns=["a", "b", "c", "d"], label="target",
                                   num_partitions=3, ctx=ctx)
    calls = []
    m = ToyLeastSquares(callback=lambda i, w: calls.append(i)).fit(table, label="target")
    assert calls == [0]
    assert m.feature_names == ("a", "b", "c", "d")
    # a pandas DataFrame with the label column: the model picks its features by name
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(target=y)
    pred = m.predict(df)
    np.testing.assert_allclose(pred.to_numpy(), m.predict(X))


def test_fit_pandas_with_label(ctx, reg_data):
    X, y = reg_data
    df = pd.DataFrame(X, columns=list("abcd")).assign(y=y)
    m = ToyLeastSquares().fit(df, label="y")
    assert m.feature_names == tuple("abcd")


def test_fit_invalid_param_message_before_touching_data(ctx):
    with pytest.raises(ValueError, match=r"^Invalid value for parameter 'reg' of "
                                         r"ToyLeastSquares: expected a float in \[0, inf\), got "
                                         r"-1\.0\.$"):
        ToyLeastSquares(reg=-1.0).fit("this is not data")


@pytest.mark.parametrize("name,value", [("fit_intercept", 1), ("solver", "qr"), ("seed", -1),
                                        ("callback", "print"), ("reg", "0.1")])
def test_fit_invalid_params(ctx, reg_data, name, value):
    X, y = reg_data
    with pytest.raises(ValueError, match=f"Invalid value for parameter '{name}'"):
        ToyLeastSquares(**{name: value}).fit(X, y)


def test_fit_nan_rejected(ctx, reg_data):
    X, y = reg_data
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ToyLeastSquares().fit(Xn, y)


def test_fit_missing_label_column(ctx, reg_data):
    X, y = reg_data
    table = mli.MLTable.from_numpy(X, ctx=ctx)
    with pytest.raises(ValueError, match="label column 'target' not found"):
        ToyLeastSquares().fit(table, label="target")


def test_fit_unknown_fit_kwarg(ctx, reg_data):
    X, y = reg_data
    with pytest.raises(TypeError, match=r"ToyLeastSquares.fit\(\) got unexpected keyword "
                       r"argument\(s\) \['warm_start'\]; it takes data, y, label"):
        ToyLeastSquares().fit(X, y, warm_start=True)


def test_fit_must_not_change_params(ctx, reg_data):
    class Mutates(ToyLeastSquares):
        def _fit(self, data):
            self.reg = 2.0
            return super()._fit(data)

    X, y = reg_data
    with pytest.raises(RuntimeError, match=r"_fit changed hyperparameter\(s\) \['reg'\]"):
        Mutates().fit(X, y)


def test_fit_must_return_model(ctx, reg_data):
    class ReturnsArray(ToyLeastSquares):
        def _fit(self, data):
            return np.zeros(4)

    X, y = reg_data
    with pytest.raises(TypeError, match="_fit must return an mli Model, got ndarray"):
        ReturnsArray().fit(X, y)


def test_fit_checks_model_n_features(ctx, reg_data):
    class WrongWidth(ToyLeastSquares):
        def _fit(self, data):
            return ToyLinearModel(np.zeros(2), 0.0)

    X, y = reg_data
    with pytest.raises(RuntimeError, match="reports n_features=2 but was fitted on 4 features"):
        WrongWidth().fit(X, y)


# ============================================================================ Model


def test_model_is_immutable(model):
    with pytest.raises(AttributeError, match="ToyLinearModel is immutable: cannot set 'coef_'"):
        model.coef_ = np.zeros(4)
    with pytest.raises(AttributeError, match="cannot set 'new'"):
        model.new = 1
    with pytest.raises(AttributeError, match="cannot delete 'coef_'"):
        del model.coef_
    with pytest.raises(ValueError, match="read-only"):
        model.coef_[0] = 1.0


def test_model_pickle_stays_frozen(model):
    m2 = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(m2.coef_, model.coef_)
    assert not m2.coef_.flags.writeable
    with pytest.raises(AttributeError, match="immutable"):
        m2.coef_ = None


def test_model_must_call_super_init():
    class NoSuper(Model):
        def __init__(self):
            self.x = 1

    with pytest.raises(TypeError, match=r"NoSuper.__init__ must call "
                                        r"super\(\).__init__\(n_features=...\)"):
        NoSuper()


@pytest.mark.parametrize("kw,match", [
    ({"n_features": -1}, "n_features must be a non-negative int, got -1"),
    ({"n_features": 2.0}, "n_features must be a non-negative int, got 2.0"),
    ({"n_features": True}, "n_features must be a non-negative int, got True"),
    ({"n_features": 2, "feature_names": ["a"]}, "got 1 feature names for 2 features"),
])
def test_model_init_wrong_input(kw, match):
    class Plain(Model):
        pass

    with pytest.raises(ValueError, match=match):
        Plain(**kw)


def test_model_declarations_checked():
    with pytest.raises(TypeError, match="_arrays must be a tuple of attribute names"):
        class A(Model):  # noqa: F841
            _arrays = "coef_"
    with pytest.raises(TypeError, match=r"\['w'\] declared both in _arrays and _attributes"):
        class B(Model):  # noqa: F841
            _arrays = ("w",)
            _attributes = ("w",)


def test_declared_state_is_inherited():
    assert ToyLinearModel._saved_arrays() == ("coef_", "intercept_")
    assert ToyMeansModel._saved_attributes() == ("n_features", "feature_names", "kind_")


def test_predict_not_implemented():
    class NoPredict(Model):
        pass

    with pytest.raises(NotImplementedError, match="NoPredict does not implement predict"):
        NoPredict(n_features=2).predict(np.ones((1, 2)))


# ============================================================================ predict dispatch


def test_predict_numpy_kinds(model, reg_data):
    X, _ = reg_data
    p = model.predict(X)
    assert isinstance(p, np.ndarray) and p.shape == (len(X),)
    np.testing.assert_allclose(p, X @ model.coef_ + model.intercept_)
    np.testing.assert_allclose(model.predict(X[:5].tolist()), p[:5])
    np.testing.assert_allclose(model.predict(sp.csr_matrix(X[:5])), p[:5])
    np.testing.assert_allclose(model.predict(sp.coo_matrix(X[:5])), p[:5])
    np.testing.assert_allclose(model.predict(LocalMatrix(X[:5])), p[:5])
    np.testing.assert_allclose(model.predict(X[:5].astype(np.float32)), p[:5], rtol=1e-5)
    np.testing.assert_allclose(model.predict(np.ones((2, 4), dtype=int)),
                               model.predict(np.ones((2, 4))))
    assert model.predict(np.zeros((0, 4))).shape == (0,)


def test_predict_pandas_aligned_with_index(model, reg_data):
    X, _ = reg_data
    df = pd.DataFrame(X[:6], index=[10, 11, 12, 13, 14, 15], columns=list("pqrs"))
    s = model.predict(df)
    assert isinstance(s, pd.Series) and s.name == "prediction"
    assert list(s.index) == [10, 11, 12, 13, 14, 15]
    np.testing.assert_allclose(s.to_numpy(), model.predict(X[:6]))
    # feature names of the training data are matched by name, in any order
    df2 = pd.DataFrame(X[:6], columns=["x0", "x1", "x2", "x3"])[["x3", "x1", "x0", "x2"]]
    np.testing.assert_allclose(model.predict(df2).to_numpy(), model.predict(X[:6]))


def test_predict_mltable(ctx, model, reg_data):
    X, y = reg_data
    t = mli.MLTable.from_numpy(X, num_partitions=3, ctx=ctx)
    out = model.predict(t)
    assert isinstance(out, mli.MLTable)
    assert list(out.columns) == ["prediction"]
    np.testing.assert_allclose(out.to_numpy().ravel(), model.predict(X))
    # a table that still holds the label column: features picked by name
    tl = mli.MLTable.from_numpy(X, y, num_partitions=2, ctx=ctx)
    np.testing.assert_allclose(model.predict(tl).to_numpy().ravel(), model.predict(X))


def test_predict_spark_dataframe(ctx, model, reg_data):
    X, _ = reg_data
    sdf = ctx.spark.createDataFrame(pd.DataFrame(X[:10], columns=["x0", "x1", "x2", "x3"]))
    out = model.predict(sdf)
    assert type(out).__name__ == "DataFrame" and type(out).__module__.startswith("pyspark.sql")
    assert out.columns == ["prediction"]
    got = np.array([r[0] for r in out.collect()])
    np.testing.assert_allclose(got, model.predict(X[:10]))


def test_apply_two_dimensional_output(ctx, model, reg_data):
    X, _ = reg_data
    d = model.decision(X[:4])
    assert d.shape == (4, 2)
    np.testing.assert_allclose(d[:, 1] - d[:, 0], 2.0)
    df = model.decision(pd.DataFrame(X[:4], index=list("abcd")))
    assert list(df.columns) == ["lo", "hi"] and list(df.index) == list("abcd")
    t = model.decision(mli.MLTable.from_numpy(X[:8], num_partitions=2, ctx=ctx))
    assert list(t.columns) == ["lo", "hi"]
    np.testing.assert_allclose(t.to_numpy(), model.decision(X[:8]))


def test_predict_wrong_feature_count_message(model):
    with pytest.raises(ValueError, match=r"^X has 5 features, but ToyLinearModel was fitted "
                                         r"with 4 features$"):
        model.predict(np.ones((3, 5)))
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(sp.csr_matrix(np.ones((3, 3))))


@pytest.mark.parametrize("bad,exc,match", [
    (np.ones(4), ValueError, r"X must be a 2-D array .* got 1-D with shape \(4,\); use "
                             r"X.reshape\(1, -1\)"),
    (np.ones((2, 2, 4)), ValueError, "got 3-D"),
    (np.array([[1.0, np.nan, 0, 0]]), ValueError, r"X must be finite \(no NaN or inf\): row 0, "
                                                  r"column 1 is nan"),
    (np.array([[1.0, 0, 0, np.inf]]), ValueError, "column 3 is inf"),
    (sp.csr_matrix(np.array([[0, 0, np.nan, 1.0]])), ValueError, "row 0, column 2 is nan"),
    (np.array([["a", "b", "c", "d"]]), ValueError, "X must be numeric, got an array of dtype <U1"),
    ([[1, 2], [3]], ValueError, "X must be a 2-D numeric array"),
    (None, TypeError, "expected array-like input, got None"),
    ("abc", TypeError, "expected a 2-D array, MLTable or DataFrame, got str"),
    (pd.Series([1.0, 2.0, 3.0, 4.0]), ValueError, "got a pandas Series"),
    (pd.DataFrame({"a": [1.0], "b": ["x"], "c": [1.0], "d": [1.0]}), ValueError,
     r"X must be numeric, but column\(s\) \['b'\] are not"),
    (pd.DataFrame(np.ones((2, 3))), ValueError, "X has 3 features, but ToyLinearModel was "
                                                "fitted with 4 features"),
])
def test_predict_wrong_input(model, bad, exc, match):
    with pytest.raises(exc, match=match):
        model.predict(bad)


def test_predict_mltable_wrong_width_and_nan(ctx, model):
    t = mli.MLTable.from_numpy(np.ones((4, 3)), columns=["a", "b", "c"], ctx=ctx)
    with pytest.raises(ValueError, match="X has 3 features, but ToyLinearModel was fitted with 4"):
        model.predict(t)
    # tables validate NaN themselves; the per-block check in the tasks is a second line
    from mli.core.apply import apply_block

    block = LocalMatrix(np.array([[1.0, np.nan, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="row 0, column 1 is nan"):
        apply_block(model._predict_block, 4, 1, True, "ToyLinearModel", block)
    with pytest.raises(ValueError, match="X has 3 features"):
        apply_block(model._predict_block, 4, 1, True, "ToyLinearModel", LocalMatrix(np.ones((1, 3))))


def test_block_function_wrong_output_shape(model):
    with pytest.raises(RuntimeError, match=r"returned shape \(2, 2\) for 2 rows; expected \(2,\)"):
        model._apply(np.ones((2, 4)), lambda X: np.ones((2, 2)), "prediction")
    with pytest.raises(RuntimeError, match=r"expected \(2, 3\)"):
        model._apply(np.ones((2, 4)), lambda X: np.ones((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="needs at least one output name"):
        model._apply(np.ones((2, 4)), lambda X: np.ones(2), [])


# ============================================================================ save / load


def test_save_load_end_to_end(ctx, model, reg_data, tmp_path):
    X, _ = reg_data
    path = str(tmp_path / "toy")
    model.save(path)
    loaded = mli.load(path)
    assert type(loaded) is ToyLinearModel
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.params == model.params
    assert loaded.feature_names == model.feature_names
    assert isinstance(ToyLinearModel.load(path), ToyLinearModel)
    with pytest.raises(ModelFormatError, match="holds a ToyLinearModel, not a ToyMeansModel"):
        ToyMeansModel.load(path)
    with pytest.raises(FileExistsError, match="already exists"):
        model.save(path)


# ============================================================================ conformance


def _own_algorithms():
    return [c for c in registered_algorithms(include_builtin=False) if c.__module__ == __name__]


def test_registered_algorithms_lists_concrete_public_classes():
    names = [c.__name__ for c in _own_algorithms()]
    assert names == ["ToyLeastSquares", "ToyMeans"]


TOY_CASES = [Case(ToyLeastSquares(reg=1e-6), *_toy_regression_data(), rtol=1e-6),
             Case(ToyMeans(), sp.random(60, 5, density=0.3, random_state=3, format="csr"))]


def test_every_toy_algorithm_has_a_case():
    assert sorted(c.name for c in TOY_CASES) == [c.__name__ for c in _own_algorithms()]


@parametrize_with_checks(TOY_CASES)
def test_every_registered_algorithm_conforms(ctx, case, check):
    check(case, ctx=ctx)


def test_check_algorithm_returns_the_model_fitted_on_one_partition(ctx, reg_data):
    model = check_algorithm(ToyLeastSquares(reg=1e-6), *reg_data, ctx=ctx, rtol=1e-6)
    assert isinstance(model, ToyLinearModel) and model.n_features == 4


def test_check_algorithm_sparse_input(ctx):
    rng = np.random.default_rng(5)
    X = sp.random(80, 6, density=0.5, random_state=4, format="csr")
    y = np.asarray(X @ rng.normal(size=6)).ravel()
    check_algorithm(ToyLeastSquares(reg=1e-6, fit_intercept=False), X, y, ctx=ctx)


def test_check_algorithm_with_callback_param(ctx, reg_data):
    X, y = reg_data
    check_algorithm(ToyLeastSquares(callback=lambda i, w: None), X, y)


@pytest.mark.parametrize("args,kwargs,exc,match", [
    (("not an estimator", np.ones((3, 2))), {}, TypeError, "expects an mli Algorithm, got str"),
    ((ToyMeans(), [[1.0, 2.0]]), {}, TypeError, "X must be a numpy array or scipy sparse matrix"),
    ((ToyMeans(), np.ones((1, 2))), {}, ValueError, "at least 2 rows"),
    ((ToyMeans(), np.ones(5)), {}, ValueError, "must be 2-D"),
    ((ToyMeans(), np.ones((3, 2))), {"rtol": -1}, ValueError, "rtol must be a non-negative"),
    ((ToyMeans(), np.ones((3, 2))), {"rtol": True}, ValueError, "rtol must be a non-negative"),
])
def test_check_algorithm_wrong_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_algorithm(*args, **kwargs)
    with pytest.raises(exc, match=match):
        Case(*args, **kwargs)


def test_parametrize_with_checks_wrong_input():
    with pytest.raises(TypeError, match="expects Case objects, got tuple"):
        parametrize_with_checks([(ToyMeans(), np.ones((3, 2)))])
    twice = [Case(ToyMeans(), np.ones((3, 2))), Case(ToyMeans(scale=2.0), np.ones((3, 2)))]
    with pytest.raises(ValueError, match=r"repeated: \['ToyMeans'\] \(pass name=...\)"):
        parametrize_with_checks(twice)
    twice[1].name = "ToyMeans-scaled"
    mark = parametrize_with_checks(twice)
    assert len(mark.args[1]) == 2 * len(CHECKS)
    assert mark.kwargs["ids"][0] == "ToyMeans-fit_leaves_params_unchanged"


# -- the check catches broken algorithms (classes defined in functions are never listed)


def test_check_catches_in_place_param_mutation(ctx, reg_data):
    class Appends(ToyLeastSquares):
        def __init__(self, reg=1e-8, history=None):
            self.reg = reg
            self.history = history
            self.fit_intercept, self.solver, self.seed, self.callback = True, "auto", None, None

        _constraints = {"reg": Interval(float, 0, None)}

        def _fit(self, data):
            if self.history is not None:
                self.history.append(1)
            return super()._fit(data)

    X, y = reg_data
    with pytest.raises(AssertionError, match=r"\(a\): fit changed parameters \['history'\]"):
        check_algorithm(Appends(history=[]), X, y, ctx=ctx)


def test_check_catches_nondeterminism(ctx, reg_data):
    class Noisy(ToyLeastSquares):
        def _fit(self, data):
            m = super()._fit(data)
            return ToyLinearModel(m.coef_ + np.random.normal(size=4), m.intercept_)

    X, y = reg_data
    with pytest.raises(AssertionError, match=r"\(b\): two fits with the same parameters"):
        check_algorithm(Noisy(), X, y, ctx=ctx)


def test_check_catches_partition_dependence(ctx, reg_data):
    class FirstPartitionOnly(ToyLeastSquares):
        def _fit(self, data):
            xtx, xty = data.blocks.map_collect(_gram, True)[0]
            w = np.linalg.solve(xtx, xty)
            return ToyLinearModel(w[:-1], w[-1])

    X, y = reg_data
    y = y + np.random.default_rng(0).normal(size=len(y))
    with pytest.raises(AssertionError, match=r"\(c\): outputs from 1 and 4 partitions differ"):
        check_algorithm(FirstPartitionOnly(), X, y, ctx=ctx)


def test_check_catches_unsaved_state(ctx, reg_data):
    class ShiftedModel(ToyLinearModel):
        shift_ = 0.0  # class default; the fitted value is not declared for saving

        def __init__(self, coef, intercept, shift):
            super().__init__(coef, intercept)
            self.shift_ = shift

        def _predict_block(self, X):
            return super()._predict_block(X) + self.shift_

    class Shifted(ToyLeastSquares):
        def _fit(self, data):
            m = super()._fit(data)
            return ShiftedModel(m.coef_, m.intercept_, 5.0)

    X, y = reg_data
    with pytest.raises(AssertionError, match=r"\(e\): the loaded model's outputs differ"):
        check_algorithm(Shifted(), X, y, ctx=ctx)


def test_check_catches_unvalidated_params(ctx, reg_data):
    class SkipsValidation(ToyLeastSquares):
        def fit(self, data, y=None, *, label=None, **kw):
            from mli.table.mltable import as_labeled

            m = self._fit(as_labeled(data, y, label=label))
            m._set_fit_info(self.get_params(), None)
            return m

    X, y = reg_data
    with pytest.raises(AssertionError, match=r"\(f\): reg='invalid' raised UFuncTypeError "
                                             r"instead of the clear 'Invalid value"):
        check_algorithm(SkipsValidation(), X, y, ctx=ctx)

    class AcceptsAnything(ToyLeastSquares):
        def fit(self, data, y=None, *, label=None, **kw):
            return ToyLeastSquares(reg=1e-8).fit(data, y, label=label)

    with pytest.raises(AssertionError, match=r"\(f\): reg='invalid' was accepted"):
        check_algorithm(AcceptsAnything(), X, y, ctx=ctx)


def test_check_catches_unchecked_feature_count(ctx, reg_data):
    class LaxModel(ToyLinearModel):
        def predict(self, data):
            X = np.asarray(data)
            return X[:, :4] @ self.coef_ + float(self.intercept_)

    class Lax(ToyLeastSquares):
        def _fit(self, data):
            m = super()._fit(data)
            return LaxModel(m.coef_, m.intercept_)

    X, y = reg_data
    with pytest.raises(AssertionError, match=r"\(g\): predict accepted X with the wrong number"):
        check_algorithm(Lax(), X, y, ctx=ctx)
