"""Declared hyperparameter constraints, checked by :meth:`mli.Algorithm.fit`.

An algorithm declares what each hyperparameter may be in a class attribute
``_constraints``, a dict from parameter name to a *constraint*:

* a type: ``bool``, ``int``, ``float``, ``str`` (``int`` rejects ``bool``; ``float``
  accepts any real number but not ``bool``; numpy scalars are accepted),
* ``None`` (the value ``None``),
* ``"callable"`` (any callable),
* :class:`Interval` (a number of a given type within bounds),
* :class:`Options` (one of a fixed set of values),
* a list of the above: the value must satisfy *any* of them.

:func:`validate_params` raises one :class:`ValueError` format for every violation::

    Invalid value for parameter 'reg' of LogisticRegression: expected a float in [0, inf), got -1.0.

Examples
--------
>>> from mli.core.params import Interval, Options, validate_params
>>> class Est:
...     _constraints = {"reg": Interval(float, 0, None, closed="left"),
...                     "solver": Options({"auto", "lbfgs"}),
...                     "seed": [None, Interval(int, 0, None)]}
...     def __init__(self, reg=0.0, solver="auto", seed=None):
...         self.reg, self.solver, self.seed = reg, solver, seed
>>> validate_params(Est(reg=-1.0))
Traceback (most recent call last):
...
ValueError: Invalid value for parameter 'reg' of Est: expected a float in [0, inf), got -1.0.
"""
from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["Param", "declare_params", "declared_params", "required_params", "Interval", "Options", "Constraint",
           "validate_params", "validate_param",
           "is_satisfied", "describe", "invalid_values"]


class Constraint:
    """Base class of constraint objects (subclasses implement ``is_satisfied_by``/``__str__``)."""

    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def invalid_values(self) -> list:
        """Values violating this constraint (used by :mod:`mli.core.conformance`)."""
        return []


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not _is_bool(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not _is_bool(value)


_TYPE_CHECKS = {
    bool: (_is_bool, "a bool"),
    int: (_is_int, "an int"),
    float: (_is_real, "a float"),
    str: (lambda v: isinstance(v, str), "a str"),
}


class Interval(Constraint):
    """A number of type ``type`` between ``left`` and ``right``.

    Parameters
    ----------
    type : {int, float}
        ``int`` accepts Python/numpy integers (not ``bool``); ``float`` accepts any real
        number (Python/numpy ints and floats, not ``bool``, not NaN; not infinite unless a bound
        is infinite).
    left, right : float or None
        Bounds; ``None`` means unbounded on that side.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds are included. An unbounded side is always open.

    Examples
    --------
    >>> Interval(float, 0, 1, closed="left").is_satisfied_by(1.0)
    False
    >>> str(Interval(int, 1, None))
    'an int in [1, inf)'
    """

    def __init__(self, type: type, left: float | None, right: float | None, *,
                 closed: str = "both"):
        if type not in (int, float):
            raise TypeError(f"Interval type must be int or float, got {type!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be one of 'both', 'left', 'right', 'neither', "
                             f"got {closed!r}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"Interval left bound {left} is greater than right bound {right}")
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        ok = _is_int(value) if self.type is int else _is_real(value)
        if not ok:
            return False
        if self.type is float and math.isnan(float(value)):
            return False
        if self.type is float and math.isinf(float(value)):
            # an unbounded side is open: infinity only where a bound says so
            bound = self.right if value > 0 else self.left
            if bound is None or not math.isinf(bound):
                return False
        if self.left is not None:
            if self.closed in ("both", "left"):
                if not value >= self.left:
                    return False
            elif not value > self.left:
                return False
        if self.right is not None:
            if self.closed in ("both", "right"):
                if not value <= self.right:
                    return False
            elif not value < self.right:
                return False
        return True

    def __str__(self) -> str:
        lo = "-inf" if self.left is None else _fmt_bound(self.left)
        hi = "inf" if self.right is None else _fmt_bound(self.right)
        lb = "[" if self.left is not None and self.closed in ("both", "left") else "("
        rb = "]" if self.right is not None and self.closed in ("both", "right") else ")"
        what = "an int" if self.type is int else "a float"
        return f"{what} in {lb}{lo}, {hi}{rb}"

    def __repr__(self) -> str:
        return (f"Interval({self.type.__name__}, {self.left!r}, {self.right!r}, "
                f"closed={self.closed!r})")

    def invalid_values(self) -> list:
        out: list = ["invalid"]
        if self.left is not None:
            out.append(self.left - 1 if self.closed in ("both", "left") else self.left)
        if self.right is not None:
            out.append(self.right + 1 if self.closed in ("both", "right") else self.right)
        if self.type is int:
            out.append(1.5 if self.left is None or self.left <= 1.5 else self.left + 0.5)
        else:
            out.append(float("nan"))
        return out


def _fmt_bound(x: float) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


class Options(Constraint):
    """One of a fixed set of values.

    Parameters
    ----------
    options : iterable
        The allowed values (hashable). Matching uses ``==`` and type (``True`` does not
        match ``1``).

    Examples
    --------
    >>> Options({"auto", "lbfgs"}).is_satisfied_by("sgd")
    False
    >>> str(Options({"lbfgs", "auto"}))
    "one of {'auto', 'lbfgs'}"
    """

    def __init__(self, options: Iterable):
        self.options = frozenset(options)
        if not self.options:
            raise ValueError("Options needs at least one allowed value")

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            if value not in self.options:
                return False
        except TypeError:  # unhashable
            return False
        # 1 == True == 1.0 hash alike; require the same kind of value as an allowed one
        return any(o == value and _same_kind(o, value) for o in self.options)

    def __str__(self) -> str:
        return "one of {" + ", ".join(sorted(repr(o) for o in self.options)) + "}"

    def __repr__(self) -> str:
        return f"Options({set(self.options)!r})"

    def invalid_values(self) -> list:
        return ["__invalid_option__", -12345]


def _same_kind(a: Any, b: Any) -> bool:
    if _is_bool(a) or _is_bool(b):
        return _is_bool(a) and _is_bool(b)
    return True


def _single_satisfied(value: Any, constraint: Any) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, Constraint):
        return constraint.is_satisfied_by(value)
    if constraint == "callable" or constraint is callable:
        return callable(value)
    if isinstance(constraint, type):
        check = _TYPE_CHECKS.get(constraint)
        if check is not None:
            return check[0](value)
        return isinstance(value, constraint)
    raise TypeError(f"unknown parameter constraint {constraint!r}")


def _single_describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, Constraint):
        return str(constraint)
    if constraint == "callable" or constraint is callable:
        return "a callable"
    if isinstance(constraint, type):
        check = _TYPE_CHECKS.get(constraint)
        if check is not None:
            return check[1]
        return f"an instance of {constraint.__name__}"
    raise TypeError(f"unknown parameter constraint {constraint!r}")


def _as_list(constraint: Any) -> list:
    return list(constraint) if isinstance(constraint, (list, tuple)) else [constraint]


def is_satisfied(value: Any, constraint: Any) -> bool:
    """Whether ``value`` satisfies ``constraint`` (a constraint or a list of them)."""
    return any(_single_satisfied(value, c) for c in _as_list(constraint))


def describe(constraint: Any) -> str:
    """Human-readable description: ``"None or an int in [0, inf)"``."""
    parts = [_single_describe(c) for c in _as_list(constraint)]
    if len(parts) <= 2:
        return " or ".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _fmt_value(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        text = f"an array of shape {value.shape}"
    elif callable(value) and hasattr(value, "__name__"):
        text = f"{type(value).__name__} {value.__name__!r}"
    else:
        text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return text


def validate_param(name: str, value: Any, constraint: Any, owner: str = "estimator") -> None:
    """Raise :class:`ValueError` if ``value`` violates ``constraint``.

    Parameters
    ----------
    name : str
        Parameter name (used in the message).
    value : object
    constraint : constraint or list of constraints
    owner : str
        Name of the estimator class (used in the message).

    Examples
    --------
    >>> validate_param("max_iter", 0, Interval(int, 1, None), "KMeans")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value for parameter 'max_iter' of KMeans: expected an int in [1, inf), got 0.
    """
    if not is_satisfied(value, constraint):
        raise ValueError(f"Invalid value for parameter {name!r} of {owner}: expected "
                         f"{describe(constraint)}, got {_fmt_value(value)}.")


def validate_params(estimator: Any, params: Mapping[str, Any] | None = None) -> None:
    """Check every declared constraint of ``estimator`` against its current parameters.

    Parameters
    ----------
    estimator : object
        Has a class attribute ``_constraints`` (dict name -> constraint) and either a
        ``get_params()`` method or the parameters as attributes.
    params : mapping, optional
        The parameter values to check (default: ``estimator.get_params()``).

    Raises
    ------
    ValueError
        ``Invalid value for parameter '<name>' of <Class>: expected <allowed>, got <value>.``
    """
    constraints = getattr(type(estimator), "_constraints", None) or {}
    if params is None:
        if hasattr(estimator, "get_params"):
            params = estimator.get_params()
        else:
            params = {k: getattr(estimator, k) for k in constraints if hasattr(estimator, k)}
    owner = type(estimator).__name__
    for name, constraint in constraints.items():
        if name in params:
            validate_param(name, params[name], constraint, owner)


def invalid_values(constraint: Any) -> list:
    """Values that violate ``constraint`` (every candidate is checked), for conformance tests.

    Examples
    --------
    >>> invalid_values([None, Interval(int, 0, None)])
    ['invalid', -1, 1.5]
    """
    candidates: list = ["invalid"]
    for c in _as_list(constraint):
        if isinstance(c, Constraint):
            candidates.extend(c.invalid_values())
        elif c is bool:
            candidates.extend([1, "yes"])
        elif c is int:
            candidates.extend([True, 1.5])
        elif c is float:
            candidates.extend([True])
        elif c is str:
            candidates.extend([1])
        elif c is None:
            candidates.append("invalid")
    out: list = []
    for v in candidates:
        if not is_satisfied(v, constraint) and not any(_same(v, o) for o in out):
            out.append(v)
    return out


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


# ============================================================================ declared params

_REQUIRED: Any = inspect.Parameter.empty


class Param:
    """A hyperparameter declared in a class body: its default and its constraint.

    An :class:`~mli.Algorithm` whose body declares ``name = Param(default, constraint)``
    gets, from :func:`declare_params`, the ``__init__`` that stores every parameter
    unchanged (with a real signature: ``inspect.signature``, ``help`` and ``get_params``
    see the names and defaults) and the ``_constraints`` that :meth:`~mli.Algorithm.fit`
    checks. Parameters without a default are required and positional; the others are
    keyword-only.

    Parameters
    ----------
    default : object, optional
        The default value (stored as given); omit it for a required parameter.
    constraint : constraint, optional
        What the value may be (see the module docstring); ``None`` means unchecked.

    Examples
    --------
    >>> from mli import Algorithm
    >>> class Shrink(Algorithm):
    ...     factor = Param(0.5, Interval(float, 0, 1, closed="both"))
    ...     def _fit(self, data): ...
    >>> Shrink(factor=0.2).factor, Shrink().get_params()
    (0.2, {'factor': 0.5})
    """

    __slots__ = ("default", "constraint")

    def __init__(self, default: Any = _REQUIRED, constraint: Any = None):
        self.default, self.constraint = default, constraint

    def __repr__(self) -> str:
        shown = "required" if self.default is _REQUIRED else f"default={self.default!r}"
        allowed = "any" if self.constraint is None else describe(self.constraint)
        return f"Param({shown}, {allowed})"


def declared_params(cls: type) -> dict[str, Param]:
    """The :class:`Param` declarations of ``cls`` and its bases, in declaration order (a
    base's first; a name declared again keeps its place)."""
    out: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        out.update(klass.__dict__.get("_params", {}))
        out.update({k: v for k, v in klass.__dict__.items() if isinstance(v, Param)})
    return out


def required_params(cls: type) -> list[str]:
    """The names of the hyperparameters of ``cls`` declared without a default."""
    return [n for n, p in declared_params(cls).items() if p.default is _REQUIRED]


def declare_params(cls: type) -> bool:
    """Give ``cls`` the ``__init__`` and ``_constraints`` of its declared :class:`Param`\\ s.

    Called by :meth:`mli.Algorithm.__init_subclass__`. Returns whether ``cls`` declares any.
    The declarations are moved from the class attributes to ``cls._params``.

    Raises
    ------
    TypeError
        A class that declares parameters and also defines ``__init__`` or ``_constraints``.
    """
    own = {k: v for k, v in cls.__dict__.items() if isinstance(v, Param)}
    if not own:
        return False
    for attr in ("__init__", "_constraints"):
        if attr in cls.__dict__:
            raise TypeError(f"{cls.__name__} declares parameters with Param and also defines "
                            f"{attr}; use one or the other")
    params = declared_params(cls)
    for name in own:
        delattr(cls, name)
    cls._params = own
    required = [n for n, p in params.items() if p.default is _REQUIRED]
    kinds = inspect.Parameter
    signature = inspect.Signature(
        [kinds("self", kinds.POSITIONAL_OR_KEYWORD)]
        + [kinds(n, kinds.POSITIONAL_OR_KEYWORD) for n in required]
        + [kinds(n, kinds.KEYWORD_ONLY, default=p.default) for n, p in params.items()
           if n not in required])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{type(self).__name__}{str(signature).replace('(self, ', '(')}: "
                            f"{e}") from None
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = f"Store the hyperparameters of {cls.__name__} (see the class docstring)."
    cls.__init__ = __init__  # type: ignore[misc]
    cls._constraints = {n: p.constraint for n, p in params.items() if p.constraint is not None}
    return True
