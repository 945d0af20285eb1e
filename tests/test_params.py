"""Declared hyperparameter constraints (mli.core.params): pure Python, no Spark."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mli.core.params import (Interval, Options, describe, invalid_values, is_satisfied,
                        validate_param, validate_params)


class LogisticRegression:
    _constraints = {
        "reg": Interval(float, 0, None, closed="left"),
        "max_iter": Interval(int, 1, None),
        "solver": Options({"auto", "lbfgs"}),
        "seed": [None, Interval(int, 0, None)],
        "fit_intercept": [bool],
        "callback": [None, "callable"],
        "tol": Interval(float, 0, 1, closed="neither"),
    }

    def __init__(self, reg=0.0, max_iter=100, solver="auto", seed=None, fit_intercept=True,
                 callback=None, tol=1e-6):
        self.reg, self.max_iter, self.solver, self.seed = reg, max_iter, solver, seed
        self.fit_intercept, self.callback, self.tol = fit_intercept, callback, tol

    def get_params(self):
        return dict(vars(self))


def test_valid_defaults_pass():
    validate_params(LogisticRegression())


def test_message_format_exact():
    with pytest.raises(ValueError) as e:
        validate_params(LogisticRegression(reg=-1.0))
    assert str(e.value) == ("Invalid value for parameter 'reg' of LogisticRegression: "
                            "expected a float in [0, inf), got -1.0.")


@pytest.mark.parametrize("name,value,expected,got", [
    ("max_iter", 0, "expected an int in [1, inf)", "got 0."),
    ("max_iter", 2.0, "expected an int in [1, inf)", "got 2.0."),
    ("max_iter", True, "expected an int in [1, inf)", "got True."),
    ("solver", "sgd", "expected one of {'auto', 'lbfgs'}", "got 'sgd'."),
    ("seed", -3, "expected None or an int in [0, inf)", "got -3."),
    ("seed", "x", "expected None or an int in [0, inf)", "got 'x'."),
    ("fit_intercept", 1, "expected a bool", "got 1."),
    ("callback", 3, "expected None or a callable", "got 3."),
    ("tol", 1.0, "expected a float in (0, 1)", "got 1.0."),
    ("tol", float("nan"), "expected a float in (0, 1)", "got nan."),
    ("reg", np.float64(-2.5), "expected a float in [0, inf)", "got -2.5."),
    ("reg", "0.1", "expected a float in [0, inf)", "got '0.1'."),
    ("reg", None, "expected a float in [0, inf)", "got None."),
])
def test_invalid_values_one_format(name, value, expected, got):
    est = LogisticRegression(**{name: value})
    with pytest.raises(ValueError) as e:
        validate_params(est)
    msg = str(e.value)
    assert msg.startswith(f"Invalid value for parameter '{name}' of LogisticRegression: ")
    assert expected in msg and msg.endswith(got), msg


@pytest.mark.parametrize("name,value", [
    ("reg", 0), ("reg", 3), ("reg", np.float32(0.5)), ("reg", np.int64(2)),
    ("max_iter", np.int32(5)), ("max_iter", 1), ("seed", None), ("seed", np.uint8(7)),
    ("fit_intercept", np.bool_(False)), ("callback", print), ("callback", lambda *a: None),
    ("solver", "lbfgs"), ("tol", 0.5),
])
def test_valid_values_including_numpy_scalars(name, value):
    validate_params(LogisticRegression(**{name: value}))


def test_bool_is_not_int_nor_float():
    assert not Interval(int, 0, None).is_satisfied_by(True)
    assert not Interval(float, 0, None).is_satisfied_by(np.bool_(True))
    assert not is_satisfied(True, int)
    assert not is_satisfied(False, float)
    assert is_satisfied(True, bool)


def test_options_do_not_confuse_bool_and_int():
    opt = Options({0, 1})
    assert opt.is_satisfied_by(1)
    assert not opt.is_satisfied_by(True)
    assert not opt.is_satisfied_by([1])  # unhashable


def test_unknown_constructor_kwarg_is_pythons_typeerror():
    with pytest.raises(TypeError, match="unexpected keyword argument 'regg'"):
        LogisticRegression(regg=1.0)


def test_interval_str_and_repr():
    assert str(Interval(int, 1, None)) == "an int in [1, inf)"
    assert str(Interval(float, None, 0, closed="neither")) == "a float in (-inf, 0)"
    assert str(Interval(float, 0.5, 2.5, closed="right")) == "a float in (0.5, 2.5]"
    assert "Interval(float" in repr(Interval(float, 0, 1))
    assert describe([None, int, "callable"]) == "None, an int or a callable"


@pytest.mark.parametrize("args,kwargs,exc,match", [
    ((str, 0, 1), {}, TypeError, "Interval type must be int or float"),
    ((int, 0, 1), {"closed": "open"}, ValueError, "closed must be one of"),
    ((int, 2, 1), {}, ValueError, "left bound 2 is greater than right bound 1"),
])
def test_interval_wrong_construction(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Interval(*args, **kwargs)


def test_options_wrong_construction():
    with pytest.raises(ValueError, match="at least one allowed value"):
        Options([])


def test_unknown_constraint_kind():
    with pytest.raises(TypeError, match="unknown parameter constraint"):
        is_satisfied(1, 42)


def test_validate_param_direct():
    with pytest.raises(ValueError, match=r"^Invalid value for parameter 'k' of KMeans: expected "
                                         r"an int in \[1, inf\), got 0\.$"):
        validate_param("k", 0, Interval(int, 1, None), "KMeans")
    validate_param("k", 2, Interval(int, 1, None), "KMeans")


def test_validate_params_with_explicit_params_and_without_get_params():
    class Bare:
        _constraints = {"a": Interval(int, 0, 5)}

        def __init__(self, a):
            self.a = a

    validate_params(Bare(3))
    with pytest.raises(ValueError, match="parameter 'a' of Bare"):
        validate_params(Bare(6))
    with pytest.raises(ValueError, match="got 9"):
        validate_params(Bare(3), {"a": 9})


def test_long_values_are_shortened_in_messages():
    with pytest.raises(ValueError) as e:
        validate_param("w", np.zeros((3, 4)), [None, float], "Est")
    assert "got an array of shape (3, 4)." in str(e.value)
    with pytest.raises(ValueError) as e:
        validate_param("w", "x" * 500, float, "Est")
    assert len(str(e.value)) < 200


@pytest.mark.parametrize("constraint", [
    Interval(float, 0, None, closed="left"), Interval(int, 1, None),
    Options({"auto", "lbfgs"}), [None, Interval(int, 0, None)], [bool], int, float, str,
    [None, "callable"], Interval(float, 0, 1, closed="neither"),
])
def test_invalid_values_really_are_invalid(constraint):
    bad = invalid_values(constraint)
    assert bad, constraint
    for v in bad:
        assert not is_satisfied(v, constraint), (v, constraint)


def test_invalid_values_include_out_of_range():
    assert -1 in invalid_values(Interval(int, 0, None))
    assert any(isinstance(v, float) and math.isnan(v)
               for v in invalid_values(Interval(float, 0, 1)))


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_interval_float_property(x):
    c = Interval(float, 0, 1, closed="left")
    assert c.is_satisfied_by(x) == (0 <= x < 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-10**20, max_value=10**20))
def test_interval_int_property(x):
    c = Interval(int, -5, 5, closed="right")
    assert c.is_satisfied_by(x) == (-5 < x <= 5)
    assert Interval(float, -5, 5, closed="right").is_satisfied_by(x) == (-5 < x <= 5)


# ---------------------------------------------------------------------------- Param


def _declared():
    from mli import Algorithm
    from mli.core.params import Param

    class Base(Algorithm):
        _abstract = True
        k = Param(constraint=Interval(int, 1, None))
        reg = Param(0.0, Interval(float, 0, None, closed="left"))
        solver = Param("auto", Options({"auto", "lbfgs"}))
        callback = Param(None)

        def _fit(self, data):
            raise NotImplementedError

    class Child(Base):
        solver = Param("lbfgs", Options({"lbfgs", "newton"}))  # redeclared: same place
        seed = Param(None, [None, Interval(int, 0, None)])

    return Base, Child


def test_param_declarations_generate_init_signature_and_constraints():
    import inspect

    Base, Child = _declared()
    assert str(inspect.signature(Base)) == "(k, *, reg=0.0, solver='auto', callback=None)"
    assert str(inspect.signature(Child)) == ("(k, *, reg=0.0, solver='lbfgs', callback=None, "
                                             "seed=None)")
    est = Child(3, reg=0.5)
    assert est.get_params() == {"k": 3, "reg": 0.5, "solver": "lbfgs", "callback": None,
                                "seed": None}
    assert repr(est) == "Child(k=3, reg=0.5)" and repr(est.clone()) == repr(est)
    assert set(Child._constraints) == {"k", "reg", "solver", "seed"}  # callback: unchecked
    assert Child._constraints["solver"].is_satisfied_by("newton")
    assert not Base._constraints["solver"].is_satisfied_by("newton")
    assert not hasattr(Child, "seed") and not hasattr(Base, "k")  # moved to _params
    with pytest.raises(ValueError, match="Invalid value for parameter 'solver' of Child: "
                                         "expected one of"):
        validate_params(Child(2, solver="auto"))
    with pytest.raises(ValueError, match="parameter 'k' of Child: expected an int"):
        validate_params(Child(0))


def test_param_declarations_reject_wrong_calls_and_mixed_styles():
    from mli import Algorithm
    from mli.core.params import Param

    _, Child = _declared()
    with pytest.raises(TypeError, match=r"Child\(k, \*, reg=0.0.*\): missing a required "
                                        "argument: 'k'"):
        Child()
    with pytest.raises(TypeError, match="Child.*unexpected keyword argument 'regg'"):
        Child(1, regg=1.0)
    with pytest.raises(TypeError, match="Child.*too many positional arguments"):
        Child(1, 0.5)
    with pytest.raises(TypeError, match="declares parameters with Param and also defines "
                                        "__init__"):
        class WithInit(Algorithm):  # noqa: F841
            a = Param(1)

            def __init__(self, a=1):
                self.a = a

    with pytest.raises(TypeError, match="also defines _constraints"):
        class WithConstraints(Algorithm):  # noqa: F841
            _constraints = {"a": int}
            a = Param(1)
