"""The one estimator base: hyperparameters as keyword arguments, stored as given
(scikit-learn's conventions), shared by :class:`mli.Algorithm` and the pipeline stages
(:class:`mli.pipeline.Transformer`, :class:`mli.pipeline.Estimator`).

A subclass either declares each hyperparameter in its body as ``name = Param(default,
constraint)`` (:class:`mli.core.params.Param`: the ``__init__`` is generated), or writes an
``__init__`` that stores every keyword argument under its own name plus a
``_constraints`` dict. Nothing else happens in ``__init__``; the constraints are checked
when the estimator runs (:meth:`BaseEstimator._validate`).
"""
from __future__ import annotations

import copy
import inspect
import math
from typing import Any, ClassVar, Mapping

import numpy as np

from mli.core.params import declare_params, validate_params

__all__ = ["BaseEstimator", "values_equal", "clone_value", "short_repr", "init_param_names",
           "init_param_defaults"]


# ============================================================================ values


def values_equal(a: Any, b: Any) -> bool:
    """Equality that tolerates arrays, NaN and objects whose ``==`` misbehaves."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                    and a.shape == b.shape and a.dtype == b.dtype
                    and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))
        except (TypeError, ValueError):
            return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(values_equal(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    try:
        eq = a == b
        return bool(eq) if isinstance(eq, (bool, np.bool_)) else False
    except Exception:  # noqa: BLE001
        return False


def clone_value(value: Any) -> Any:
    """Copy containers and arrays, clone estimators; keep callables, contexts and other
    objects by reference."""
    if isinstance(value, BaseEstimator):
        return value.clone()
    if isinstance(value, (np.ndarray, list, dict, set, tuple)):
        return copy.deepcopy(value)
    return value


def short_repr(value: Any) -> str:
    """A parameter value as ``repr(estimator)`` shows it (arrays by shape, long values cut)."""
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    if callable(value) and hasattr(value, "__name__") and not isinstance(value, type):
        return getattr(value, "__qualname__", value.__name__)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def init_param_names(cls: type) -> list[str]:
    """The hyperparameter names of ``cls``: its ``__init__`` arguments (``*args`` and
    ``**kwargs`` are rejected)."""
    init = cls.__init__
    if init is object.__init__:
        return []
    names = []
    for p in list(inspect.signature(init).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{cls.__name__}.__init__ must list its hyperparameters "
                            f"explicitly; *args/**kwargs ({p}) are not allowed")
        names.append(p.name)
    return names


def init_param_defaults(cls: type) -> dict[str, Any]:
    """``{name: default}`` of the ``__init__`` arguments of ``cls`` that have one."""
    init = cls.__init__
    if init is object.__init__:
        return {}
    return {p.name: p.default for p in list(inspect.signature(init).parameters.values())[1:]
            if p.default is not p.empty}


# ============================================================================ the base


class BaseEstimator:
    """Hyperparameter handling: ``get_params``, ``set_params``, ``clone``, ``repr`` and the
    check of the declared constraints (see the module docstring)."""

    #: parameter name -> constraint (see :mod:`mli.core.params`)
    _constraints: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declare_params(cls)  # Param declarations -> __init__ and _constraints
        names = cls._param_names()  # raises TypeError for *args / **kwargs in __init__
        if "_constraints" in cls.__dict__ or "__init__" in cls.__dict__:
            if not isinstance(cls._constraints, Mapping):
                raise TypeError(f"{cls.__name__}._constraints must be a dict")
            if cls.__init__ is not object.__init__:
                unknown = sorted(set(cls._constraints) - set(names))
                if unknown:
                    raise TypeError(f"{cls.__name__}._constraints names {unknown}, which are "
                                    f"not parameters of {cls.__name__}.__init__ {names}")

    @classmethod
    def _param_names(cls) -> list[str]:
        return init_param_names(cls)

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        return init_param_defaults(cls)

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters, by ``__init__`` argument name (values as stored).

        Examples
        --------
        >>> from mli.algorithms import LogisticRegression
        >>> LogisticRegression(reg=0.1).get_params()["reg"]
        0.1
        """
        out = {}
        for name in self._param_names():
            try:
                out[name] = getattr(self, name)
            except AttributeError:
                raise AttributeError(f"{type(self).__name__}.__init__ must store parameter "
                                     f"{name!r} as self.{name}") from None
        return out

    def set_params(self, **params: Any):
        """Set hyperparameters by name and return ``self`` (values are checked when the
        estimator runs).

        Raises
        ------
        ValueError
            For a name that is not a parameter.
        """
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for {type(self).__name__}. "
                                 f"Valid parameters are: {sorted(valid)}.")
        for name, value in params.items():
            setattr(self, name, value)
        self._params_changed()
        return self

    def _params_changed(self) -> None:
        """Called by :meth:`set_params`; an estimator that caches derived state drops it."""

    def clone(self):
        """A new instance with the same hyperparameters (containers and arrays copied)."""
        return type(self)(**{k: clone_value(v) for k, v in self.get_params().items()})

    def _validate(self) -> None:
        """Check every hyperparameter against its declared constraint, then the
        combinations :meth:`_check_params` refuses (one message format: ``Invalid value for
        parameter 'name' of Class: ...``)."""
        validate_params(self)
        self._check_params()

    def _check_params(self) -> None:
        """Refuse combinations of valid values that do not go together (a subclass raises
        the ValueError of :meth:`_validate`'s format); nothing by default."""

    def __repr__(self) -> str:
        defaults = self._param_defaults()
        shown = [f"{k}={short_repr(v)}" for k, v in self.get_params().items()
                 if not (k in defaults and values_equal(v, defaults[k]))]
        return f"{type(self).__name__}({', '.join(shown)})"
