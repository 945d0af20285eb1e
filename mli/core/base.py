"""The Algorithm / Model layer (scikit-learn's estimator conventions, on Spark).

An :class:`Algorithm` holds hyperparameters only; :meth:`Algorithm.fit` returns a new,
immutable :class:`Model` holding the learned state. Writing an algorithm::

    import numpy as np
    import mli
    from mli.core.params import Interval, Param

    class Ridge(mli.Algorithm):
        reg = Param(1.0, Interval(float, 0, None, closed="left"))  # default, constraint

        def _fit(self, data):                  # data: mli.table.mltable.LabeledData
            d = data.num_features
            xtx, xty = data.blocks.map_reduce(_gram)   # one pass over the resident blocks
            coef = np.linalg.solve(xtx + self.reg * np.eye(d), xty)
            return RidgeModel(coef)

    class RidgeModel(mli.Model):
        _arrays = ("coef_",)                   # saved as .npy
        _registry_name = "example.RidgeModel"  # stable key in saved models

        def __init__(self, coef):
            self.coef_ = np.asarray(coef, dtype=np.float64)
            super().__init__(n_features=self.coef_.shape[0])

        def _predict_block(self, X):           # X: mli.LocalMatrix
            return np.asarray(X.array @ self.coef_).ravel()

``model.predict`` then accepts numpy/scipy arrays, pandas DataFrames, MLTables and Spark
DataFrames and returns the same kind (see :meth:`Model._apply`).
"""
from __future__ import annotations

import abc
import functools
import inspect
import logging
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from mli.core import persist, registry
from mli.core.estimator import BaseEstimator, clone_value
from mli.errors import ModelFormatError, task_safe
from mli.linalg.localmatrix import LocalMatrix
from mli.core.apply import apply_arrow, apply_block, check_finite
from mli.table.frames import NUMERIC_SPARK
from mli.table.kinds import input_kind
from mli.table.mltable import LabeledData, MLTable, as_labeled

__all__ = ["Algorithm", "Model", "load"]

log = logging.getLogger(__name__)


class Algorithm(BaseEstimator, abc.ABC):
    """Base class of learning algorithms (scikit-learn's estimator conventions).

    Subclasses

    * declare every hyperparameter in the class body as ``name = Param(default, constraint)``
      (:class:`mli.core.params.Param`): the generated ``__init__`` stores each one unchanged under
      its name, and :meth:`fit` checks the constraints (or, equivalently, write an
      ``__init__`` that stores its keyword arguments and a ``_constraints`` dict);
    * implement ``_fit(data: LabeledData, **fit_kwargs) -> Model``;
    * set ``_weights = True`` if ``_fit`` honours row weights (``data.weighted``: bundles
      ``(X, y, w)``), so that ``fit(..., sample_weight=...)`` is accepted;
    * pass the conformance checks (:mod:`mli.core.conformance`) on small data of their own.

    Examples
    --------
    >>> from mli.algorithms import LogisticRegression          # doctest: +SKIP
    >>> est = LogisticRegression(reg=0.1)
    >>> est.get_params()["reg"]
    0.1
    >>> est.set_params(reg=0.5).clone()
    LogisticRegression(reg=0.5)
    >>> model = est.fit(X, y)
    >>> model.predict(X[:3])
    array([0., 1., 1.])
    """

    #: whether ``_fit`` honours row weights (``fit(..., sample_weight=...)``)
    _weights = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        registry.register(cls, "algorithm")

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any, y: Any = None, *, label: str | None = None,
            sample_weight: Any = None, **fit_kwargs: Any) -> "Model":
        """Train on ``data`` and return a new :class:`Model` (this object is not changed).

        Parameters
        ----------
        data : ndarray, scipy sparse matrix, MLTable, pandas or Spark DataFrame
            The features (and, for tables, the label column named by ``label``).
        y : array-like, optional
            Labels, with array input.
        label : str, optional
            The label column, with table input.
        sample_weight : array-like or str, optional
            Row weights (finite, >= 0): one per row (arrays, pandas), or the name of a
            weight column (tables, Spark DataFrames). A row of weight 2 counts as that row
            twice. Algorithms whose ``_weights`` is False (ALS) refuse it.
        **fit_kwargs
            Passed to the algorithm's ``_fit`` (e.g. warm-start state).

        Returns
        -------
        Model
            With ``model.params`` a copy of :meth:`get_params`.

        Raises
        ------
        ValueError
            Invalid hyperparameters (``Invalid value for parameter ...``) or bad input
            (NaN/inf, missing label, empty data, non-numeric features).
        """
        self._validate()
        self._check_fit_kwargs(fit_kwargs)
        if sample_weight is not None and not self._weights:
            raise TypeError(f"{type(self).__name__}.fit() does not take sample_weight")
        before = self.get_params()
        labeled, release = (self._prepare(data, y, label) if sample_weight is None
                            else self._prepare(data, y, label, sample_weight=sample_weight))
        try:
            model = self._fit(labeled, **fit_kwargs)
        finally:
            if release is not None:
                release()
        after = self.get_params()
        changed = [k for k in before if after.get(k) is not before[k]]
        if changed:
            raise RuntimeError(f"{type(self).__name__}._fit changed hyperparameter(s) {changed}; "
                               "fit must leave the estimator's parameters untouched")
        if not isinstance(model, Model):
            raise TypeError(f"{type(self).__name__}._fit must return an mli Model, got "
                            f"{type(model).__name__}")
        if model.n_features != labeled.num_features:
            raise RuntimeError(f"{type(model).__name__} reports n_features={model.n_features} "
                               f"but was fitted on {labeled.num_features} features")
        return self._stamp(model, labeled, before)

    def _stamp(self, model: "Model", labeled: Any, params: Mapping[str, Any] | None = None
               ) -> "Model":
        """Record on a fresh ``model`` the hyperparameters that made it (a copy of
        ``params``, by default :meth:`get_params`), the data's feature names and this
        algorithm's registry key."""
        params = self.get_params() if params is None else params
        model._set_fit_info({k: clone_value(v) for k, v in params.items()},
                            labeled.feature_names, algorithm=registry.key_of(type(self)))
        return model

    # ------------------------------------------------------------------ partial fits
    # The ML Optimizer (mli.search; the protocol: docs/search.md "For algorithm developers")
    # trains configurations a few passes at a time and resumes the promising ones.
    _resumable = False
    _task: str | tuple[str, ...] = ()
    _partial_restarts = False  # (True: each configuration draws its own seed, as KMeans)

    def _partial_params(self) -> dict[str, Any]:
        return {}

    def _partial_max_passes(self) -> int | None:
        return None

    def _partial_fitted_params(self, state: Any) -> dict[str, Any]:
        return {}

    def _check_fit_kwargs(self, fit_kwargs: Mapping[str, Any]) -> None:
        """TypeError naming ``fit`` (not the private ``_fit``) for an unknown keyword."""
        if not fit_kwargs:
            return
        params = list(inspect.signature(self._fit).parameters.values())
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return
        known = [p.name for p in params[1:] if p.kind in (p.KEYWORD_ONLY,
                                                          p.POSITIONAL_OR_KEYWORD)]
        unknown = sorted(set(fit_kwargs) - set(known))
        if unknown:
            extra = f", {', '.join(known)}" if known else ""
            raise TypeError(f"{type(self).__name__}.fit() got unexpected keyword argument(s) "
                            f"{unknown}; it takes data, y, label{extra}")

    def _prepare(self, data: Any, y: Any, label: str | None, sample_weight: Any = None):
        """The training data as :meth:`_fit` takes it, and what to call after the fit (or
        None): by default :class:`~mli.table.mltable.LabeledData`, resident ``(X, y)``
        bundles (it has ``num_features`` and ``feature_names``). Data converted from
        arrays or DataFrames for this fit only is released afterwards; an MLTable keeps its
        blocks until the user unpersists it."""
        labeled = as_labeled(data, y, label=label, ctx=getattr(self, "ctx", None),
                             sample_weight=sample_weight)
        temporary = not isinstance(data, (MLTable, LabeledData))
        return labeled, (labeled.release if temporary else None)

    @abc.abstractmethod
    def _fit(self, data: Any, **fit_kwargs: Any) -> "Model":
        """Train on ``data`` (:class:`mli.table.mltable.LabeledData`) and return a Model."""


# ============================================================================ Model


class _ModelMeta(abc.ABCMeta):
    """Freezes a model once its outermost ``__init__`` has returned."""

    def __call__(cls, *args: Any, **kwargs: Any):
        obj = super().__call__(*args, **kwargs)
        obj._freeze()
        return obj


def _declared(cls: type, attr: str) -> tuple[str, ...]:
    out: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get(attr, ()):
            if name not in out:
                out.append(name)
    return tuple(out)


class Model(metaclass=_ModelMeta):
    """Base class of fitted models: immutable learned state plus prediction.

    Subclasses

    * set their learned state in ``__init__`` and call ``super().__init__(n_features=d)``;
      after ``__init__`` returns the model is frozen (assignment raises AttributeError);
    * implement ``_predict_block(X: LocalMatrix) -> ndarray`` (1-D, one value per row);
      extra outputs are one line each with :meth:`_apply`, e.g.::

          def predict_proba(self, data):
              return self._apply(data, self._proba_block, ["p0", "p1"])

    * declare what :meth:`save` stores: ``_arrays`` (numpy arrays or None) and
      ``_attributes`` (JSON values); ``n_features`` and ``feature_names`` are always saved.
      Set ``_registry_name`` to a stable key (default ``"module.qualname"``).
    * if ``__init__`` derives extra state, override ``_post_load`` (called after
      :func:`load` restored the declared state, before freezing).

    Attributes
    ----------
    n_features : int
        Number of input features.
    feature_names : tuple of str or None
        Names of the training columns (used to pick columns from tables/DataFrames).
    params : dict
        The hyperparameters of the algorithm that produced the model.
    """

    _arrays: ClassVar[tuple[str, ...]] = ()
    _attributes: ClassVar[tuple[str, ...]] = ("n_features", "feature_names")
    #: the output :func:`mli.core.conformance.check_algorithm` compares ("predict" or "transform")
    _primary_output: ClassVar[str] = "predict"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("_arrays", "_attributes"):
            val = cls.__dict__.get(attr)
            if val is not None and (isinstance(val, str) or not all(isinstance(v, str)
                                                                    for v in val)):
                raise TypeError(f"{cls.__name__}.{attr} must be a tuple of attribute names")
        both = set(_declared(cls, "_arrays")) & set(_declared(cls, "_attributes"))
        if both:
            raise TypeError(f"{cls.__name__}: {sorted(both)} declared both in _arrays and "
                            "_attributes")
        registry.register(cls, "model")

    def __init__(self, *, n_features: int, feature_names: Sequence[str] | None = None):
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
                or n_features < 0:
            raise ValueError(f"n_features must be a non-negative int, got {n_features!r}")
        self.n_features = int(n_features)
        self.feature_names = None if feature_names is None else tuple(str(f)
                                                                      for f in feature_names)
        if self.feature_names is not None and len(self.feature_names) != self.n_features:
            raise ValueError(f"got {len(self.feature_names)} feature names for "
                             f"{self.n_features} features")
        if "params" not in self.__dict__:
            self.params = {}

    # ------------------------------------------------------------------ immutability
    def _freeze(self) -> None:
        d = self.__dict__
        if "n_features" not in d:
            raise TypeError(f"{type(self).__name__}.__init__ must call "
                            "super().__init__(n_features=...)")
        d.setdefault("params", {})
        d.setdefault("feature_names", None)
        for name in _declared(type(self), "_arrays"):
            arr = d.get(name)
            if isinstance(arr, np.ndarray) and arr.flags.writeable:
                view = arr.view()
                view.flags.writeable = False
                d[name] = view
        d["_frozen"] = True

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r} "
                                 "(models are frozen after construction; fit a new model)")
        object.__setattr__(self, name, value)

    def __setstate__(self, state: dict) -> None:
        # unpickling/copying: restore the state, then re-freeze (arrays read-only again)
        self.__dict__.update(state)
        if state.get("_frozen"):
            self.__dict__["_frozen"] = False
            self._freeze()

    def __delattr__(self, name: str) -> None:
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {name!r}")
        object.__delattr__(self, name)

    def _set_fit_info(self, params: dict[str, Any], feature_names: Sequence[str] | None,
                      algorithm: str | None = None) -> None:
        """Record the producing algorithm's params (and feature names, and its registry key:
        :func:`load` checks the saved params against its constraints) on a fresh model."""
        d = self.__dict__
        d["params"] = dict(params)
        if algorithm is not None:
            d["_algorithm"] = algorithm
        if d.get("feature_names") is None and feature_names is not None \
                and len(feature_names) == self.n_features:
            d["feature_names"] = tuple(str(f) for f in feature_names)

    # ------------------------------------------------------------------ persistence
    @classmethod
    def _saved_arrays(cls) -> tuple[str, ...]:
        return _declared(cls, "_arrays")

    @classmethod
    def _saved_attributes(cls) -> tuple[str, ...]:
        return _declared(cls, "_attributes")

    @classmethod
    def _attribute_defaults(cls) -> dict[str, Any]:
        """Values of saved attributes (or arrays) added after format version 1 shipped,
        used when a file predates them (``_added_attributes`` of the classes, merged)."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            out.update(klass.__dict__.get("_added_attributes", {}))
        return out

    @classmethod
    def _nonfinite_ok(cls) -> tuple[str, ...]:
        """Arrays that may hold NaN/inf by design (:func:`load` refuses them elsewhere)."""
        return _declared(cls, "_nonfinite_arrays")

    @classmethod
    def _from_state(cls, state: Mapping[str, Any], *, params: Mapping[str, Any]) -> "Model":
        """Rebuild a model from saved state (no ``__init__`` call, no code from the file)."""
        obj = cls.__new__(cls)
        d = obj.__dict__
        for name, value in state.items():
            d[name] = value
        if d.get("feature_names") is not None:
            d["feature_names"] = tuple(str(f) for f in d["feature_names"])
        n = d.get("n_features")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n_features must be a non-negative int, got {n!r}")
        d["params"] = dict(params)
        obj._post_load()
        obj._freeze()
        return obj

    def _post_load(self) -> None:
        """Hook: derive extra state after :func:`load` (before the model is frozen)."""

    def save(self, path: str, overwrite: bool = False) -> None:
        """Save to a directory (local path, ``file://`` or a Hadoop URI such as ``hdfs://``).

        Parameters
        ----------
        path : str
        overwrite : bool, default False
            Replace an existing saved model; otherwise an existing path raises
            :class:`FileExistsError`.

        Examples
        --------
        >>> model.save("/tmp/lr-model")              # doctest: +SKIP
        >>> mli.load("/tmp/lr-model").predict(X)     # doctest: +SKIP
        """
        persist.save_model(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str) -> "Model":
        """Load a saved model, checking that it is an instance of ``cls``."""
        model = persist.load_model(path)
        if not isinstance(model, cls):
            raise ModelFormatError(f"{path} holds a {type(model).__name__}, not a "
                                   f"{cls.__name__}")
        return model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_features={self.n_features})"

    # ------------------------------------------------------------------ prediction
    def predict(self, data: Any):
        """Predict for every row of ``data``; the result has the input's kind.

        numpy/scipy/LocalMatrix -> 1-D ndarray; pandas DataFrame -> Series (same index);
        MLTable -> MLTable with one column ``"prediction"``; Spark DataFrame -> Spark DataFrame.

        Raises
        ------
        ValueError
            Input not 2-D, non-numeric, not finite, or with a different number of features
            than the model was fitted with.
        """
        return self._apply(data, self._predict_block, "prediction")

    def _predict_block(self, X: Any) -> np.ndarray:
        """Predictions for one block ``X`` (:class:`mli.LocalMatrix`) -> 1-D ndarray."""
        raise NotImplementedError(f"{type(self).__name__} does not implement predict")

    def _apply(self, data: Any, fn: Callable, name: str | Sequence[str]):
        """Apply a per-block function to any supported input and return the input's kind.

        Parameters
        ----------
        data : ndarray, scipy sparse, LocalMatrix, pandas DataFrame, MLTable, Spark DataFrame
        fn : callable
            ``fn(X: LocalMatrix) -> ndarray`` (picklable, e.g. a bound method of the model).
        name : str or sequence of str
            A str: ``fn`` returns one value per row (1-D output, Series, one column).
            A list of names: ``fn`` returns a 2-D array with that many columns (DataFrame
            / table columns).
        """
        single = isinstance(name, str)
        names = [name] if single else [str(n) for n in name]
        if not names:
            raise ValueError("_apply needs at least one output name")
        kind = input_kind(data)
        if kind == "mltable":
            return self._apply_table(data, fn, names, single)
        if kind == "connect":
            return self._apply_frame(data, fn, names, single)
        if kind == "spark":
            table = MLTable.from_data(data)
            return self._apply_table(table, fn, names, single).to_spark()
        if kind in ("pandas", "series"):
            return self._apply_pandas(data, fn, names, single)
        X = self._check_local(data)
        return apply_block(fn, self.n_features, len(names), single, type(self).__name__,
                            LocalMatrix(X))

    # -- input kinds
    def _mismatch(self, n_cols: int, what: str = "X") -> ValueError:
        return ValueError(f"{what} has {n_cols} features, but {type(self).__name__} was fitted "
                          f"with {self.n_features} features")

    def _feature_columns(self, columns: Sequence[str]) -> list[str] | None:
        """The training columns to take from a named input (pandas, Spark, MLTable), or None
        to take the input's columns by position.

        A model fitted on named columns takes them by name, in its own order, whatever the
        input's order and extra columns (a label, an id); a missing one raises ValueError
        (taking columns by position then would silently feed a different column, such as
        the label, as a feature). A model fitted on arrays (names ``x0``, ``x1``, ...)
        takes the input's columns by position, and their number must match.
        """
        names = self.feature_names
        cols = [str(c) for c in columns]
        generated = names is None or names == tuple(f"x{j}" for j in range(self.n_features))
        if names is not None and len(set(names)) == len(names) and set(names) <= set(cols):
            return list(names)
        if not generated and len(set(names)) == len(names):
            have = set(cols)
            missing = [c for c in names if c not in have]
            extra = [c for c in cols if c not in set(names)]
            raise ValueError(
                f"X is missing feature column(s) {missing[:10]}{' ...' if len(missing) > 10 else ''}"
                f" that {type(self).__name__} was fitted with; its columns "
                f"{extra[:10]}{' ...' if len(extra) > 10 else ''} are not training features. "
                "Columns are matched by name: rename them to the training names "
                f"{list(names)[:10]}{' ...' if len(names) > 10 else ''}")
        if len(cols) != self.n_features:
            raise self._mismatch(len(cols))
        return None

    def _check_local(self, data: Any):
        if isinstance(data, LocalMatrix):
            data = data.array
        if sp.issparse(data):
            X = sp.csr_matrix(data)
            if X.dtype.kind not in "biuf":
                raise ValueError(f"X must be numeric, got a sparse matrix of dtype {X.dtype}")
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D, got shape {X.shape}")
            if X.dtype.kind != "f":
                X = X.astype(np.float64)
        else:
            if data is None:
                raise TypeError(f"{type(self).__name__}: expected array-like input, got None")
            if isinstance(data, (str, bytes, dict)):
                raise TypeError(f"{type(self).__name__}: expected a 2-D array, MLTable or "
                                f"DataFrame, got {type(data).__name__}")
            try:
                X = np.asarray(data)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"X must be a 2-D numeric array: {exc}") from None
            if X.dtype.kind not in "biuf":
                try:
                    X = X.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"X must be numeric, got an array of dtype {X.dtype}") \
                        from None
            if X.ndim != 2:
                hint = "; use X.reshape(1, -1) for a single row" if X.ndim == 1 else ""
                raise ValueError(f"X must be a 2-D array (rows x features), got {X.ndim}-D with "
                                 f"shape {X.shape}{hint}")
            if X.dtype.kind != "f":
                X = X.astype(np.float64)
        if X.shape[1] != self.n_features:
            raise self._mismatch(X.shape[1])
        check_finite(X)
        return X

    def _apply_pandas(self, df: Any, fn: Callable, names: list[str], single: bool):
        import pandas as pd

        if isinstance(df, pd.Series):
            raise ValueError("X must be 2-D; got a pandas Series (use series.to_frame().T for "
                             "one row or a DataFrame)")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"unsupported input type {type(df).__name__}")
        cols = self._feature_columns([str(c) for c in df.columns])
        if cols is not None:
            by_str = {str(c): c for c in df.columns}
            sub = df[[by_str[c] for c in cols]]
        else:
            sub = df
        bad = [str(c) for c, t in sub.dtypes.items() if not (pd.api.types.is_numeric_dtype(t)
                                                            or pd.api.types.is_bool_dtype(t))]
        if bad:
            raise ValueError(f"X must be numeric, but column(s) {bad} are not")
        X = self._check_local(sub.to_numpy(dtype=np.float64))
        out = apply_block(fn, self.n_features, len(names), single, type(self).__name__,
                           LocalMatrix(X))
        if single:
            return pd.Series(out, index=df.index, name=names[0])
        return pd.DataFrame(out, index=df.index, columns=names)

    def _apply_frame(self, df: Any, fn: Callable, names: list[str], single: bool):
        """A Spark DataFrame of the outputs, one ``mapInArrow`` over ``df`` (lazy; the
        DataFrame API only, so it also runs over Spark Connect)."""
        cols = self._feature_columns(list(df.columns))
        if cols is not None and cols != list(df.columns):
            df = df.select(*cols)
        types = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
        odd = [f"'{c}' ({t})" for c, t in types.items() if t not in NUMERIC_SPARK]
        if odd:
            raise ValueError(f"{type(self).__name__} needs numeric feature columns; "
                             f"{', '.join(odd)} are not")
        f = functools.partial(apply_block, fn, self.n_features, len(names), single,
                              type(self).__name__)
        schema = ", ".join(f"`{n}` double" for n in names)
        return df.mapInArrow(task_safe(functools.partial(apply_arrow, f, list(df.columns),
                                                         names)), schema)

    def _apply_table(self, table: Any, fn: Callable, names: list[str], single: bool):
        cols = self._feature_columns(list(table.columns))
        if cols is not None and cols != list(table.columns):
            table = table.select(*cols)
        f = functools.partial(apply_block, fn, self.n_features, len(names), single,
                              type(self).__name__)
        return table.map_batches(f, columns=names)


def load(path: str) -> Model:
    """Load a model saved with :meth:`Model.save`.

    Parameters
    ----------
    path : str
        Local path, ``file://`` URI or Hadoop URI (``hdfs://``, ``s3a://`` ...).

    Raises
    ------
    mli.errors.ModelFormatError
        The directory is missing, incomplete, tampered with or not an mli model.

    Examples
    --------
    >>> model = mli.load("/tmp/lr-model")       # doctest: +SKIP
    """
    return persist.load_model(path)
