"""Conformance checks every :class:`mli.Algorithm` must pass, one named check each (as
scikit-learn's ``check_estimator``).

A :class:`Case` is an estimator with small training data. Each check takes a case and
raises AssertionError naming the estimator and what it broke:

* :func:`check_fit_leaves_params_unchanged`
* :func:`check_deterministic_under_seed`
* :func:`check_partition_invariant` -- 1 and 4 partitions give the same model
* :func:`check_subset_consistent` -- predicting some rows gives those rows' predictions
* :func:`check_save_load_round_trip`
* :func:`check_invalid_params_rejected` -- each declared constraint refuses bad values
  with the one "Invalid value for parameter" ValueError
* :func:`check_wrong_input_rejected` -- wrong feature count, NaN in the training data

:func:`check_algorithm` runs them all in that order. A test suite runs them as one test case
each, with its own data, through :func:`parametrize_with_checks`::

    from mli.core.conformance import Case, parametrize_with_checks

    @parametrize_with_checks([Case(LinearRegression(reg=0.01), X, y)])
    def test_conformance(case, check, ctx):
        check(case, ctx=ctx)

:func:`registered_algorithms` lists every concrete public Algorithm (those of the registry's
providers included), so a suite can require a case for each.
"""
from __future__ import annotations

import inspect
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from mli.core import persist, registry
from mli.core.base import Algorithm, Model, load
from mli.core.estimator import clone_value, values_equal
from mli.core.params import invalid_values, validate_params
from mli.engine import context as _context
from mli.table.mltable import MLTable

__all__ = ["Case", "CHECKS", "check_algorithm", "parametrize_with_checks",
           "registered_algorithms", "check_fit_leaves_params_unchanged",
           "check_deterministic_under_seed", "check_partition_invariant",
           "check_subset_consistent", "check_save_load_round_trip",
           "check_invalid_params_rejected", "check_wrong_input_rejected"]

log = logging.getLogger(__name__)

_SEED_NAMES = ("seed", "random_state")


def registered_algorithms(*, include_builtin: bool = True) -> list[type]:
    """Concrete, public Algorithm subclasses defined so far, sorted by name.

    Parameters
    ----------
    include_builtin : bool, default True
        First load the registry's providers (:mod:`mli.core.registry`: mli's algorithms and
        featurizers, and any package that declares itself one), so their algorithms are
        listed.

    Skipped: abstract classes, names starting with ``_``, classes defined inside functions,
    and classes that set ``_abstract = True`` in their own body.

    Examples
    --------
    >>> [c.__name__ for c in registered_algorithms()]        # doctest: +SKIP
    ['ALS', 'DecisionTree', 'KMeans', 'LinearRegression', ...]
    """
    out = []
    for cls in registry.registered("algorithm", providers=include_builtin).values():
        if inspect.isabstract(cls) or cls.__dict__.get("_abstract", False):
            continue
        if any(part.startswith("_") or part == "<locals>" for part in cls.__qualname__.split(".")):
            continue
        out.append(cls)
    return sorted(out, key=lambda c: (c.__name__, c.__module__))


@dataclass(eq=False)
class Case:
    """An estimator and the small data the checks fit it on.

    Parameters
    ----------
    estimator : Algorithm
        A fast instance (few iterations, small ranks...).
    X : ndarray or scipy sparse matrix
        Training data (a few hundred rows is plenty).
    y : array-like, optional
        Labels, for supervised algorithms.
    rtol : float
        Tolerance of the partition-invariance and subset checks.
    name : str, optional
        The case's name in test ids (default: the estimator's class name).
    """
    estimator: Algorithm
    X: Any
    y: Any = None
    rtol: float = 1e-5
    name: str | None = None
    _fitted: dict = field(default_factory=dict, init=False, repr=False)
    _tables: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if not isinstance(self.estimator, Algorithm):
            raise TypeError(f"check_algorithm expects an mli Algorithm, got "
                            f"{type(self.estimator).__name__}")
        X = self.X
        if not (sp.issparse(X) or isinstance(X, np.ndarray)):
            raise TypeError(f"X must be a numpy array or scipy sparse matrix, got "
                            f"{type(X).__name__}")
        if sp.issparse(X):
            self.X = X = sp.csr_matrix(X)
        if X.ndim != 2 or X.shape[0] < 2:
            raise ValueError(f"X must be 2-D with at least 2 rows, got shape {X.shape}")
        if isinstance(self.rtol, bool) or not (isinstance(self.rtol, (float, int))
                                               and self.rtol >= 0):
            raise ValueError(f"rtol must be a non-negative number, got {self.rtol!r}")
        if self.name is None:
            self.name = type(self.estimator).__name__

    @property
    def base(self) -> Algorithm:
        """A clone of the estimator with its seed (``seed``/``random_state``) set to 0 when
        it is None, so that fits are reproducible."""
        base = self.estimator.clone()
        params = base.get_params()
        for seed_name in _SEED_NAMES:
            if seed_name in params and params[seed_name] is None:
                base.set_params(**{seed_name: 0})
        return base

    def table(self, parts: int, ctx) -> MLTable:
        """The data as a table of ``parts`` partitions (made once per context and count,
        shared by the checks, as a user reuses a table across fits)."""
        ctx_obj = _context.get_context(ctx)
        key = (id(ctx_obj), parts)
        if key not in self._tables:
            self._tables[key] = MLTable.from_numpy(
                self.X, y=self.y, num_partitions=min(parts, self.X.shape[0]), ctx=ctx_obj)
        return self._tables[key]

    def fit(self, est: Algorithm, parts: int, ctx) -> Model:
        return est.fit(self.table(parts, ctx), label="label" if self.y is not None else None)

    def fitted(self, ctx) -> Model:
        """The seeded estimator fitted on one partition (once per context)."""
        key = id(_context.get_context(ctx))
        if key not in self._fitted:
            self._fitted[key] = self.fit(self.base, 1, ctx)
        return self._fitted[key]

    def fail(self, step: str, msg: str) -> AssertionError:
        """The AssertionError of check ``step`` (its letter, a-g, in :data:`CHECKS`' order)."""
        check = CHECKS["abcdefg".index(step)].__name__
        return AssertionError(f"{type(self.estimator).__name__} fails conformance check "
                              f"{check} ({step}): {msg}")


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


# ----------------------------------------------------------------------------- the checks


def _use_arrays(ctx) -> bool:
    # the default context: the checks that fit on arrays exercise fit(X, y) too
    return ctx is None or ctx is _context._default


def check_fit_leaves_params_unchanged(case: Case, *, ctx=None) -> None:
    """``fit`` leaves the hyperparameters as given; the model records them and the
    number of features."""
    est, X, y = case.estimator, case.X, case.y
    validate_params(est)
    before = {k: clone_value(v) for k, v in est.get_params().items()}
    model = est.fit(X, y) if _use_arrays(ctx) else case.fit(est, 1, ctx)
    after = est.get_params()
    changed = [k for k in before if not values_equal(before[k], after[k])]
    if changed:
        raise case.fail("a", f"fit changed parameters {changed}")
    if not values_equal(model.params, before):
        raise case.fail("a",
                        f"model.params {model.params} != get_params() {before}")
    if model.n_features != X.shape[1]:
        raise case.fail("a", f"model.n_features is {model.n_features}, "
                                                   f"data has {X.shape[1]} features")


def check_deterministic_under_seed(case: Case, *, ctx=None) -> None:
    """Two fits with the same parameters (a None seed set to 0) give identical outputs."""
    m1 = case.fitted(ctx)
    m1b = case.fit(case.base, 1, ctx)
    p1, p1b = _output(m1, case.X), _output(m1b, case.X)
    n = case.X.shape[0]
    if p1.shape[0] != n:
        raise case.fail("b", f"{m1._primary_output} returned {p1.shape[0]} rows "
                                       f"for {n}")
    if not np.array_equal(p1, p1b, equal_nan=p1.dtype.kind == "f"):
        raise case.fail("b", "two fits with the same parameters give different "
                                       "outputs")


def check_partition_invariant(case: Case, *, ctx=None) -> None:
    """1 and 4 partitions give the same model: outputs and saved arrays within ``rtol``."""
    m1, m4 = case.fitted(ctx), case.fit(case.base, 4, ctx)
    p1, p4 = _output(m1, case.X), _output(m4, case.X)
    if not _close(p1, p4, case.rtol):
        diff = np.max(np.abs(p1.astype(float) - p4.astype(float))) if p1.shape == p4.shape \
            and p1.dtype.kind in "biuf" else "shape/type"
        raise case.fail("c", f"outputs from 1 and 4 partitions differ "
                                                f"(max |diff| {diff}, rtol {case.rtol})")
    for arr_name in type(m1)._saved_arrays():
        a, b = getattr(m1, arr_name, None), getattr(m4, arr_name, None)
        if a is None and b is None:
            continue
        if a is None or b is None or not _close(a, b, case.rtol):
            raise case.fail("c", f"learned array {arr_name!r} differs "
                                                    "between 1 and 4 partitions")


def check_subset_consistent(case: Case, *, ctx=None) -> None:
    """Predicting a subset of the rows gives that subset of the predictions."""
    m1 = case.fitted(ctx)
    n = case.X.shape[0]
    idx = np.random.default_rng(0).permutation(n)[: max(1, n // 3)]
    if not _close(_output(m1, _rows(case.X, idx)), _output(m1, case.X)[idx], case.rtol):
        raise case.fail("d", "predicting a subset of rows differs from the same rows of "
                                  "the full prediction")


def check_save_load_round_trip(case: Case, *, ctx=None) -> None:
    """A saved and loaded model gives identical outputs, parameters and arrays."""
    m1 = case.fitted(ctx)
    with tempfile.TemporaryDirectory(prefix="mli-check-") as tmp:
        path = os.path.join(tmp, "model")
        m1.save(path)
        loaded = load(path)
    if type(loaded) is not type(m1):
        raise case.fail("e", f"loaded a {type(loaded).__name__}, saved a "
                                     f"{type(m1).__name__}")
    p1, pl = _output(m1, case.X), _output(loaded, case.X)
    if not np.array_equal(p1, pl, equal_nan=p1.dtype.kind == "f"):
        raise case.fail("e", "the loaded model's outputs differ from the saved model's")
    for k, v in m1.params.items():
        if persist.is_encodable(v) and not values_equal(v, loaded.params.get(k)):
            raise case.fail("e", f"param {k!r} is {loaded.params.get(k)!r} after load, "
                                         f"{v!r} before")
    for arr_name in type(m1)._saved_arrays():
        a, b = getattr(m1, arr_name, None), getattr(loaded, arr_name, None)
        if not ((a is None and b is None) or values_equal(np.asarray(a), np.asarray(b))):
            raise case.fail("e", f"array {arr_name!r} differs after load")


def check_invalid_params_rejected(case: Case, *, ctx=None) -> None:
    """Every declared constraint rejects invalid values at ``fit`` with a ValueError
    "Invalid value for parameter 'name'..."."""
    t1 = case.table(1, ctx)
    label = "label" if case.y is not None else None
    for pname, constraint in type(case.estimator)._constraints.items():
        for bad in invalid_values(constraint):
            est = case.base.set_params(**{pname: bad})
            try:
                est.fit(t1, label=label)
            except Exception as exc:  # noqa: BLE001 - anything but the clear ValueError fails
                msg = str(exc)
                if not isinstance(exc, ValueError) or f"'{pname}'" not in msg \
                        or "Invalid value for parameter" not in msg:
                    raise case.fail("f",
                                    f"{pname}={bad!r} raised {type(exc).__name__} instead of "
                                    f"the clear 'Invalid value for parameter' ValueError: "
                                    f"{msg}") from None
            else:
                raise case.fail("f", f"{pname}={bad!r} was accepted; its "
                                                           f"constraint is {constraint!r}")


def check_wrong_input_rejected(case: Case, *, ctx=None) -> None:
    """Predicting with the wrong number of features and fitting on data with NaN raise a
    ValueError."""
    X, y = case.X, case.y
    m1 = case.fitted(ctx)
    n = X.shape[0]
    if sp.issparse(X):
        wide = sp.hstack([X, sp.csr_matrix(np.ones((n, 1)))], format="csr")
    else:
        wide = np.hstack([X, np.ones((n, 1), dtype=X.dtype)])
    try:
        _output(m1, wide)
    except ValueError as exc:
        if "features" not in str(exc):
            raise case.fail("g", f"wrong feature count raised an unclear error: "
                                           f"{exc}") from None
    else:
        raise case.fail("g", "predict accepted X with the wrong number of features")
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
        if _use_arrays(ctx):
            case.base.fit(Xn, y)
        else:
            case.base.fit(MLTable.from_numpy(Xn, y=y, ctx=_context.get_context(ctx)),
                          label="label" if y is not None else None)
    except ValueError:
        pass
    else:
        raise case.fail("g", "fit accepted X containing NaN")


#: every check, in the order :func:`check_algorithm` runs them
CHECKS: tuple[Callable[..., None], ...] = (
    check_fit_leaves_params_unchanged,
    check_deterministic_under_seed,
    check_partition_invariant,
    check_subset_consistent,
    check_save_load_round_trip,
    check_invalid_params_rejected,
    check_wrong_input_rejected,
)


def check_algorithm(estimator: Algorithm, X: Any, y: Any = None, *, ctx=None,
                    rtol: float = 1e-5) -> Model:
    """Run every check of :data:`CHECKS` on ``estimator`` fitted on ``X`` (and ``y``);
    raise AssertionError at the first one broken.

    Parameters
    ----------
    estimator : Algorithm
    X : ndarray or scipy sparse matrix
        Small training data (a few hundred rows is plenty).
    y : array-like, optional
        Labels, for supervised algorithms.
    ctx : MLContext, optional
    rtol : float
        Tolerance of the partition-invariance and subset checks.

    Returns
    -------
    Model
        The model fitted on one partition.

    Examples
    --------
    >>> check_algorithm(LinearRegression(), X, y, ctx=ctx)      # doctest: +SKIP
    """
    case = Case(estimator, X, y, rtol=rtol)
    for check in CHECKS:
        log.info("check_algorithm %s: %s", case.name, check.__name__)
        check(case, ctx=ctx)
    log.info("check_algorithm %s: passed", case.name)
    return case.fitted(ctx)


def parametrize_with_checks(cases: list[Case]):
    """A ``pytest.mark.parametrize`` over every (case, check) pair: the test receives
    ``case`` and ``check`` and calls ``check(case, ctx=...)``; ids read
    ``<case name>-<check name>``."""
    import pytest

    cases = list(cases)
    bad = [c for c in cases if not isinstance(c, Case)]
    if bad:
        raise TypeError(f"parametrize_with_checks expects Case objects, got "
                        f"{type(bad[0]).__name__}")
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"case names must be unique; repeated: {dup} (pass name=...)")
    pairs = [(case, check) for case in cases for check in CHECKS]
    return pytest.mark.parametrize(
        "case,check", pairs,
        ids=[f"{case.name}-{check.__name__.removeprefix('check_')}" for case, check in pairs])
