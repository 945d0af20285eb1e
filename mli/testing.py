"""Conformance checks every :class:`mli.Algorithm` must pass.

:func:`check_algorithm` fits an estimator through real Spark and checks the framework's
contract (parameters untouched by fit, determinism, partition invariance, subset
consistency, save/load round trip, parameter validation, input validation).
:func:`registered_algorithms` lists every concrete Algorithm so a test suite can run the
check on all of them without a hand-written list::

    import pytest
    from mli.testing import registered_algorithms, check_registered

    @pytest.mark.parametrize("cls", registered_algorithms(), ids=lambda c: c.__name__)
    def test_conformance(cls, ctx):
        check_registered(cls, ctx=ctx)

Each algorithm provides its test data with the classmethod ``_conformance_data()``
returning ``{"X": ndarray or scipy matrix, "y": labels or None, "estimator": a fast
instance (default ``cls()``), "rtol": tolerance (default 1e-5)}``.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import tempfile
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import context as _context
from . import persist
from .base import Algorithm, Model, _clone_value, _values_equal, registered_algorithm_classes
from .params import invalid_values, validate_params

__all__ = ["check_algorithm", "check_registered", "registered_algorithms"]

log = logging.getLogger(__name__)

_SEED_NAMES = ("seed", "random_state")


def registered_algorithms(*, include_builtin: bool = True) -> list[type]:
    """Concrete, public Algorithm subclasses defined so far, sorted by name.

    Parameters
    ----------
    include_builtin : bool, default True
        First import every module of ``mli.algorithms`` and ``mli.featurize`` so their
        algorithms are registered (an import error propagates).

    Skipped: abstract classes, names starting with ``_``, classes defined inside functions,
    and classes that set ``_abstract = True`` in their own body.

    Examples
    --------
    >>> [c.__name__ for c in registered_algorithms()]        # doctest: +SKIP
    ['KMeans', 'LinearRegression', 'LogisticRegression', ...]
    """
    if include_builtin:
        for pkg_name in ("mli.algorithms", "mli.featurize"):
            try:
                pkg = importlib.import_module(pkg_name)
            except ModuleNotFoundError as exc:
                if exc.name != pkg_name:
                    raise
                continue
            for info in pkgutil.iter_modules(getattr(pkg, "__path__", []), pkg_name + "."):
                importlib.import_module(info.name)
    out = []
    for cls in registered_algorithm_classes().values():
        if inspect.isabstract(cls) or cls.__dict__.get("_abstract", False):
            continue
        if any(part.startswith("_") or part == "<locals>" for part in cls.__qualname__.split(".")):
            continue
        out.append(cls)
    return sorted(out, key=lambda c: (c.__name__, c.__module__))


def check_registered(cls: type, *, ctx=None) -> Model:
    """Run :func:`check_algorithm` with the data from ``cls._conformance_data()``."""
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise TypeError(f"check_registered expects an Algorithm subclass, got {cls!r}")
    data = cls._conformance_data()
    if not isinstance(data, dict) or "X" not in data:
        raise TypeError(f"{cls.__name__}._conformance_data() must return a dict with key 'X' "
                        "(and optionally 'y', 'estimator', 'rtol')")
    est = data.get("estimator")
    if est is None:
        est = cls()
    return check_algorithm(est, data["X"], data.get("y"), ctx=ctx,
                           rtol=float(data.get("rtol", 1e-5)))


# ----------------------------------------------------------------------------- helpers


def _output(model: Model, X):
    out = getattr(model, model._primary_output)(X)
    return np.asarray(out)


def _rows(X, idx):
    return X[idx]


def _close(a, b, rtol: float) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
        return bool(np.array_equal(a, b))
    scale = max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
    return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True))


def _fail(est, step: str, msg: str) -> AssertionError:
    return AssertionError(f"{type(est).__name__} fails conformance check ({step}): {msg}")


def _fit_table(est: Algorithm, table, has_y: bool) -> Model:
    return est.fit(table, label="label" if has_y else None)


# ----------------------------------------------------------------------------- the check


def check_algorithm(estimator: Algorithm, X: Any, y: Any = None, *, ctx=None,
                    rtol: float = 1e-5) -> Model:
    """Check that ``estimator`` honours the Algorithm/Model contract; raise AssertionError.

    Steps: (a) ``fit`` leaves the parameters unchanged; (b) two fits with the same
    parameters (a ``seed``/``random_state`` that is None is set to 0) give identical
    outputs; (c) 1 and 4 partitions give the same model (outputs and saved arrays within
    ``rtol``); (d) predicting a subset gives that subset of the predictions; (e) save/load
    round trip gives identical outputs and equal parameters; (f) every declared
    constraint rejects invalid values with a ValueError naming the parameter; (g) predicting
    with the wrong number of features and fitting with NaN raise ValueError.

    Parameters
    ----------
    estimator : Algorithm
    X : ndarray or scipy sparse matrix
        Small training data (a few hundred rows is plenty).
    y : array-like, optional
        Labels, for supervised algorithms.
    ctx : MLContext, optional
    rtol : float
        Tolerance of step (c) and (d).

    Returns
    -------
    Model
        The model fitted on one partition.

    Examples
    --------
    >>> check_algorithm(LinearRegression(), X, y, ctx=ctx)      # doctest: +SKIP
    """
    from .table import MLTable

    if not isinstance(estimator, Algorithm):
        raise TypeError(f"check_algorithm expects an mli Algorithm, got "
                        f"{type(estimator).__name__}")
    if not (sp.issparse(X) or isinstance(X, np.ndarray)):
        raise TypeError(f"X must be a numpy array or scipy sparse matrix, got {type(X).__name__}")
    if sp.issparse(X):
        X = sp.csr_matrix(X)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"X must be 2-D with at least 2 rows, got shape {X.shape}")
    if not (isinstance(rtol, (float, int)) and rtol >= 0):
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    ctx_obj = _context.get_context(ctx)
    use_arrays = ctx is None or ctx is _context._default
    has_y = y is not None
    n = X.shape[0]
    name = type(estimator).__name__

    def table(parts):
        return MLTable.from_numpy(X, y=y, num_partitions=min(parts, n), ctx=ctx_obj)

    validate_params(estimator)

    # (a) fit leaves the parameters unchanged
    log.info("check_algorithm %s: (a) params unchanged by fit", name)
    before = {k: _clone_value(v) for k, v in estimator.get_params().items()}
    t1 = table(1)
    model_a = estimator.fit(X, y) if use_arrays else _fit_table(estimator, t1, has_y)
    after = estimator.get_params()
    changed = [k for k in before if not _values_equal(before[k], after[k])]
    if changed:
        raise _fail(estimator, "a", f"fit changed parameters {changed}")
    if not _values_equal(model_a.params, before):
        raise _fail(estimator, "a", f"model.params {model_a.params} != get_params() {before}")
    if model_a.n_features != X.shape[1]:
        raise _fail(estimator, "a", f"model.n_features is {model_a.n_features}, data has "
                                    f"{X.shape[1]} features")

    base = estimator.clone()
    params = base.get_params()
    for seed_name in _SEED_NAMES:
        if seed_name in params and params[seed_name] is None:
            base.set_params(**{seed_name: 0})

    # (b) deterministic under a seed
    log.info("check_algorithm %s: (b) determinism", name)
    m1 = _fit_table(base, t1, has_y)
    m1b = _fit_table(base.clone(), t1, has_y)
    p1, p1b = _output(m1, X), _output(m1b, X)
    if p1.shape[0] != n:
        raise _fail(estimator, "b", f"{m1._primary_output} returned {p1.shape[0]} rows for {n}")
    if not np.array_equal(p1, p1b, equal_nan=p1.dtype.kind == "f"):
        raise _fail(estimator, "b", "two fits with the same parameters give different outputs")

    # (c) 1 vs 4 partitions
    log.info("check_algorithm %s: (c) partition invariance", name)
    m4 = _fit_table(base.clone(), table(4), has_y)
    p4 = _output(m4, X)
    if not _close(p1, p4, rtol):
        diff = np.max(np.abs(p1.astype(float) - p4.astype(float))) if p1.shape == p4.shape \
            and p1.dtype.kind in "biuf" else "shape/type"
        raise _fail(estimator, "c", f"outputs from 1 and 4 partitions differ (max |diff| "
                                    f"{diff}, rtol {rtol})")
    for arr_name in type(m1)._saved_arrays():
        a, b = getattr(m1, arr_name, None), getattr(m4, arr_name, None)
        if a is None and b is None:
            continue
        if a is None or b is None or not _close(a, b, rtol):
            raise _fail(estimator, "c", f"learned array {arr_name!r} differs between 1 and 4 "
                                        "partitions")

    # (d) subset consistency
    log.info("check_algorithm %s: (d) subset", name)
    rng = np.random.default_rng(0)
    idx = rng.permutation(n)[: max(1, n // 3)]
    sub = _output(m1, _rows(X, idx))
    if not _close(sub, p1[idx], rtol):
        raise _fail(estimator, "d", "predicting a subset of rows differs from the same rows "
                                    "of the full prediction")

    # (e) save / load round trip
    log.info("check_algorithm %s: (e) save/load", name)
    from .base import load

    with tempfile.TemporaryDirectory(prefix="mli-check-") as tmp:
        path = os.path.join(tmp, "model")
        m1.save(path)
        loaded = load(path)
    if type(loaded) is not type(m1):
        raise _fail(estimator, "e", f"loaded a {type(loaded).__name__}, saved a "
                                    f"{type(m1).__name__}")
    pl = _output(loaded, X)
    if not np.array_equal(p1, pl, equal_nan=p1.dtype.kind == "f"):
        raise _fail(estimator, "e", "the loaded model's outputs differ from the saved model's")
    for k, v in m1.params.items():
        if persist.is_encodable(v) and not _values_equal(v, loaded.params.get(k)):
            raise _fail(estimator, "e", f"param {k!r} is {loaded.params.get(k)!r} after load, "
                                        f"{v!r} before")
    for arr_name in type(m1)._saved_arrays():
        a, b = getattr(m1, arr_name, None), getattr(loaded, arr_name, None)
        if not ((a is None and b is None) or _values_equal(np.asarray(a), np.asarray(b))):
            raise _fail(estimator, "e", f"array {arr_name!r} differs after load")

    # (f) invalid hyperparameters
    log.info("check_algorithm %s: (f) invalid hyperparameters", name)
    for pname, constraint in type(estimator)._constraints.items():
        for bad in invalid_values(constraint):
            est = base.clone().set_params(**{pname: bad})
            try:
                est.fit(t1, label="label" if has_y else None)
            except Exception as exc:  # noqa: BLE001 - anything but the clear ValueError fails
                msg = str(exc)
                if not isinstance(exc, ValueError) or f"'{pname}'" not in msg \
                        or "Invalid value for parameter" not in msg:
                    raise _fail(estimator, "f", f"{pname}={bad!r} raised "
                                                f"{type(exc).__name__} instead of the clear "
                                                f"'Invalid value for parameter' ValueError: "
                                                f"{msg}") from None
            else:
                raise _fail(estimator, "f", f"{pname}={bad!r} was accepted; its constraint is "
                                            f"{constraint!r}")

    # (g) wrong input
    log.info("check_algorithm %s: (g) wrong input", name)
    if sp.issparse(X):
        wide = sp.hstack([X, sp.csr_matrix(np.ones((n, 1)))], format="csr")
    else:
        wide = np.hstack([X, np.ones((n, 1), dtype=X.dtype)])
    try:
        _output(m1, wide)
    except ValueError as exc:
        if "features" not in str(exc):
            raise _fail(estimator, "g", f"wrong feature count raised an unclear error: {exc}") \
                from None
    else:
        raise _fail(estimator, "g", "predict accepted X with the wrong number of features")
    Xn = X.astype(np.float64, copy=True)
    if sp.issparse(Xn):
        if Xn.nnz:
            Xn.data[0] = np.nan
        else:
            Xn = Xn.toarray()
            Xn[0, 0] = np.nan
    else:
        Xn[0, 0] = np.nan
    try:
        if use_arrays:
            base.clone().fit(Xn, y)
        else:
            _fit_table(base.clone(), MLTable.from_numpy(Xn, y=y, ctx=ctx_obj), has_y)
    except ValueError:
        pass
    else:
        raise _fail(estimator, "g", "fit accepted X containing NaN")
    log.info("check_algorithm %s: passed", name)
    return m1
