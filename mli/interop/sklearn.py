"""scikit-learn estimators backed by mli's algorithms.

Each class here is a real scikit-learn estimator (it passes
``sklearn.utils.estimator_checks.parametrize_with_checks``), so ``clone``, ``Pipeline``,
``GridSearchCV``, ``cross_val_score`` and ``is_classifier`` work; the fit runs on Spark
through the mli algorithm of the same name, prediction runs locally on the fitted model.

========================================  =============================================
scikit-learn estimator                    mli algorithm
========================================  =============================================
:class:`LogisticRegression`               :class:`mli.algorithms.LogisticRegression`
:class:`LinearSVC`                        :class:`mli.algorithms.LinearSVM`
:class:`LinearRegression`                 :class:`mli.algorithms.LinearRegression`
:class:`NaiveBayes`                       :class:`mli.algorithms.NaiveBayes`
:class:`DecisionTreeClassifier` /         :class:`mli.algorithms.DecisionTree`
:class:`DecisionTreeRegressor`
:class:`RandomForestClassifier` /         :class:`mli.algorithms.RandomForest`
:class:`RandomForestRegressor`
:class:`KMeans`                           :class:`mli.algorithms.KMeans`
========================================  =============================================

The hyperparameters are mli's (``reg``, ``l1_ratio``, ``max_depth``...), keyword
arguments stored as given; two take scikit-learn's names: ``seed`` is ``random_state`` and
KMeans' ``k`` is ``n_clusters`` (default 8). As scikit-learn does, ``fit`` returns
``self`` and sets attributes ending in ``_`` (``model_`` is the fitted mli model, which
``mli.Model.save`` can save); class labels can be any values ``numpy.unique`` sorts
(strings, ints, floats); a DataFrame's column names are recorded (``feature_names_in_``) and
a DataFrame with other names at predict raises ValueError. ``fit`` takes
``sample_weight`` (finite, >= 0; a row of weight 2 counts as that row twice); the tree
models also have ``feature_importances_``.

Examples
--------
>>> import numpy as np
>>> from sklearn.model_selection import cross_val_score
>>> from mli.interop.sklearn import LogisticRegression
>>> X = np.r_[np.zeros((20, 2)), np.ones((20, 2))] + np.arange(40)[:, None] % 3 * 0.1
>>> y = np.array(["no"] * 20 + ["yes"] * 20)
>>> clf = LogisticRegression(reg=0.01).fit(X, y)
>>> clf.predict([[0.0, 0.1], [1.0, 1.1]]).tolist()
['no', 'yes']
>>> float(cross_val_score(LogisticRegression(reg=0.01), X, y, cv=2).mean())
1.0
"""
from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

try:
    from sklearn.base import (BaseEstimator, ClassifierMixin, ClusterMixin, RegressorMixin)
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("mli.interop.sklearn needs scikit-learn: pip install scikit-learn "
                      "(or mli[sklearn])") from exc

from mli import algorithms

__all__ = ["LogisticRegression", "LinearSVC", "LinearRegression", "NaiveBayes",
           "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier",
           "RandomForestRegressor", "KMeans"]


def _signature(names: list[str], defaults: dict[str, Any]) -> inspect.Signature:
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=defaults[n])
               for n in names]
    return inspect.Signature(params)


class _Adapter(BaseEstimator):
    """A scikit-learn estimator around an mli :class:`~mli.Algorithm`.

    A subclass names ``_algorithm`` (the mli class); its ``__init__`` is generated from the
    algorithm's parameters (minus ``_fixed``, with ``_renamed`` names and ``_defaults``) so
    that ``get_params``/``clone`` see them as scikit-learn requires.
    """

    _algorithm: ClassVar[type]
    _fixed: ClassVar[dict[str, Any]] = {}              # mli parameter -> value set here
    _renamed: ClassVar[dict[str, str]] = {"seed": "random_state"}  # mli name -> sklearn name
    _defaults: ClassVar[dict[str, Any]] = {}           # sklearn name -> default, overriding
    _sparse: ClassVar[bool] = True                     # CSR input goes to mli as it is

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_algorithm" not in cls.__dict__:
            return
        mli_defaults = cls._algorithm._param_defaults()
        names, defaults = [], {}
        for name in cls._algorithm._param_names():
            if name in cls._fixed:
                continue
            ours = cls._renamed.get(name, name)
            names.append(ours)
            defaults[ours] = cls._defaults.get(ours, mli_defaults.get(name))
        sig = _signature(names, defaults)

        def __init__(self, **params: Any) -> None:
            unknown = sorted(set(params) - set(names))
            if unknown:
                raise TypeError(f"{type(self).__name__}.__init__() got unexpected keyword "
                                f"argument(s) {unknown}; its parameters are {names}")
            for n in names:
                setattr(self, n, params.get(n, defaults[n]))

        __init__.__signature__ = sig
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__

    # ------------------------------------------------------------------ helpers
    def _mli_estimator(self):
        """The mli algorithm with these hyperparameters (checked by its own ``fit``)."""
        back = {v: k for k, v in self._renamed.items()}
        params = {back.get(k, k): v for k, v in self.get_params(deep=False).items()}
        params.update(self._fixed)
        return self._algorithm(**params)

    def _validate(self, X, y=None, *, reset: bool, y_numeric: bool = False):
        sparse = "csr" if self._sparse else False
        if y is None and reset and not self._needs_y():
            return validate_data(self, X, reset=True, accept_sparse=sparse,
                                 dtype=np.float64), None
        if y is None and not reset:
            return validate_data(self, X, reset=False, accept_sparse=sparse,
                                 dtype=np.float64)
        return validate_data(self, X, y, reset=reset, accept_sparse=sparse,
                             dtype=np.float64, y_numeric=y_numeric)

    def _needs_y(self) -> bool:
        return True

    def _fit_mli(self, X, y=None, sample_weight=None):
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        self.model_ = self._mli_estimator().fit(X, y, sample_weight=sample_weight)
        for name in ("n_iter_", "converged_", "feature_importances_"):
            if hasattr(self.model_, name):
                setattr(self, name, getattr(self.model_, name))
        return self.model_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self._sparse
        return tags


class _Classifier(ClassifierMixin, _Adapter):
    """Labels of any sortable kind: mli fits on their index in ``classes_``."""

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (n_samples, n_features) and class labels ``y``, each row weighted by
        ``sample_weight`` (optional); returns ``self``."""
        X, y = self._validate(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"the data, but the data contains only one class: "
                             f"{self.classes_[0]!r}")
        self._fit_mli(X, codes.astype(np.float64), sample_weight)
        return self

    def predict(self, X):
        """The class label of each row (values of ``classes_``)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self.classes_[np.asarray(self.model_.predict(X)).astype(np.intp)]


class _ProbabilisticClassifier(_Classifier):
    def predict_proba(self, X):
        """Class probabilities, one column per entry of ``classes_``."""
        check_is_fitted(self)
        return np.asarray(self.model_.predict_proba(self._validate(X, reset=False)))

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba` (``-inf`` for a probability of 0)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if hasattr(self.model_, "predict_log_proba"):
            return np.asarray(self.model_.predict_log_proba(X))
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(self.model_.predict_proba(X)))


class _LinearMixin:
    """``coef_`` and ``intercept_`` of a fitted linear model."""

    def _fit_mli(self, X, y=None, sample_weight=None):
        model = super()._fit_mli(X, y, sample_weight)
        self.coef_ = np.array(model.coef_)
        self.intercept_ = np.array(model.intercept_)
        return model


class _LinearClassifierMixin(_LinearMixin):
    """A linear classifier's ``decision_function``."""

    def decision_function(self, X):
        """Margins: 1-D for a binary problem, else one column per class."""
        check_is_fitted(self)
        return np.asarray(self.model_.decision_function(self._validate(X, reset=False)))


class LogisticRegression(_LinearClassifierMixin, _ProbabilisticClassifier):
    """:class:`mli.algorithms.LogisticRegression` as a scikit-learn classifier (binary or
    multinomial). ``reg`` relates to scikit-learn's ``C`` as ``C = 1 / (reg * n_samples)``."""

    _algorithm = algorithms.LogisticRegression


class LinearSVC(_LinearClassifierMixin, _Classifier):
    """:class:`mli.algorithms.LinearSVM` (hinge loss) as a scikit-learn classifier; binary
    only, as mli's LinearSVM (more than two classes raise ValueError)."""

    _algorithm = algorithms.LinearSVM

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` and binary labels ``y`` (rows weighted by ``sample_weight``);
        returns ``self``."""
        X, y = self._validate(X, y, reset=True)
        if type_of_target(y) == "multiclass":
            raise ValueError(f"Only binary classification is supported (mli's LinearSVM); "
                             f"y has {len(np.unique(y))} classes. Use LogisticRegression "
                             "for more than two classes")
        return super().fit(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class _Regressor(RegressorMixin, _Adapter):
    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` and a numeric target ``y`` (rows weighted by ``sample_weight``);
        returns ``self``."""
        X, y = self._validate(X, y, reset=True, y_numeric=True)
        self._fit_mli(X, np.asarray(y, dtype=np.float64), sample_weight)
        return self

    def predict(self, X):
        """The predicted target of each row."""
        check_is_fitted(self)
        return np.asarray(self.model_.predict(self._validate(X, reset=False)))


class LinearRegression(_LinearMixin, _Regressor):
    """:class:`mli.algorithms.LinearRegression` (least squares, ridge, lasso, elastic net) as
    a scikit-learn regressor."""

    _algorithm = algorithms.LinearRegression


class NaiveBayes(_ProbabilisticClassifier):
    """:class:`mli.algorithms.NaiveBayes` (``kind`` "multinomial", "bernoulli" or
    "gaussian") as a scikit-learn classifier; multinomial needs non-negative counts."""

    _algorithm = algorithms.NaiveBayes

    def fit(self, X, y, sample_weight=None):
        """Fit on ``X`` (non-negative counts for ``kind="multinomial"``) and labels ``y``
        (rows weighted by ``sample_weight``)."""
        if self.kind == "multinomial":
            X, y = self._validate(X, y, reset=True)
            low = X.min() if X.shape[0] and X.shape[1] else 0.0
            if low < 0:
                raise ValueError(f"Negative values in data passed to NaiveBayes(kind="
                                 f"'multinomial'), e.g. {float(low):g}: it models counts; use "
                                 "kind='gaussian' for real values")
        return super().fit(X, y, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.kind == "multinomial"
        # as scikit-learn's MultinomialNB/BernoulliNB: on the check suite's Gaussian blobs
        # a count model scores 0.79 (exactly MultinomialNB's score), under the 0.83 bar
        tags.classifier_tags.poor_score = self.kind != "gaussian"
        return tags


class DecisionTreeClassifier(_ProbabilisticClassifier):
    """:class:`mli.algorithms.DecisionTree` (``task="classification"``)."""

    _algorithm = algorithms.DecisionTree
    _fixed = {"task": "classification"}


class RandomForestClassifier(_ProbabilisticClassifier):
    """:class:`mli.algorithms.RandomForest` (``task="classification"``)."""

    _algorithm = algorithms.RandomForest
    _fixed = {"task": "classification"}


class DecisionTreeRegressor(_Regressor):
    """:class:`mli.algorithms.DecisionTree` (``task="regression"``)."""

    _algorithm = algorithms.DecisionTree
    _fixed = {"task": "regression"}


class RandomForestRegressor(_Regressor):
    """:class:`mli.algorithms.RandomForest` (``task="regression"``)."""

    _algorithm = algorithms.RandomForest
    _fixed = {"task": "regression"}


class KMeans(ClusterMixin, _Adapter):
    """:class:`mli.algorithms.KMeans` as a scikit-learn clusterer: ``n_clusters`` is mli's
    ``k`` (default 8); after ``fit``: ``cluster_centers_``, ``labels_``, ``inertia_``,
    ``n_iter_``, ``converged_``."""

    _algorithm = algorithms.KMeans
    _renamed = {"seed": "random_state", "k": "n_clusters"}
    _defaults = {"n_clusters": 8}

    def _needs_y(self) -> bool:
        return False

    def fit(self, X, y=None, sample_weight=None):
        """Cluster the rows of ``X`` (``y`` is ignored), each weighted by ``sample_weight``
        (optional); returns ``self``."""
        X, _ = self._validate(X, reset=True)
        model = self._fit_mli(X, None, sample_weight)
        self.cluster_centers_ = np.array(model.cluster_centers_)
        self.inertia_ = float(model.inertia_)
        self.labels_ = np.asarray(model.predict(X)).astype(np.intp)
        return self

    def predict(self, X):
        """The index of the nearest center of each row."""
        check_is_fitted(self)
        return np.asarray(self.model_.predict(self._validate(X, reset=False))).astype(np.intp)
