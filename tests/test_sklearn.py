"""mli.interop.sklearn: real scikit-learn estimators (its own check suite), in its tools
(clone, Pipeline, GridSearchCV, cross_val_score), against scikit-learn's models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_clusterer, is_regressor
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import mli
from mli.interop import sklearn as S

ESTIMATORS = [S.LogisticRegression(), S.LinearSVC(), S.LinearRegression(), S.NaiveBayes(),
              S.NaiveBayes(kind="gaussian"), S.DecisionTreeClassifier(),
              S.DecisionTreeRegressor(), S.RandomForestClassifier(n_trees=5),
              S.RandomForestRegressor(n_trees=5), S.KMeans(n_clusters=3)]


#: checks expected to fail, with the reason (scikit-learn declares the same two for its own
#: RandomForestClassifier / RandomForestRegressor); strict: a pass would be reported
BOOTSTRAP = ("a bootstrap draws Poisson(1) counts per row, so a row repeated twice is drawn "
             "independently twice, a row of weight 2 once with its count doubled: equal in "
             "expectation, not the same forest (tests/test_weights.py checks the forest "
             "without bootstrap)")


def expected_failures(estimator):
    if isinstance(estimator, (S.RandomForestClassifier, S.RandomForestRegressor)):
        return {"check_sample_weight_equivalence_on_dense_data": BOOTSTRAP,
                "check_sample_weight_equivalence_on_sparse_data": BOOTSTRAP}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures,
                         xfail_strict=True)
def test_sklearn_check_suite(estimator, check, ctx):
    check(estimator)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 4))
    score = X @ np.array([1.5, -2.0, 0.5, 0.0])
    y = np.where(score > 0.4, "spam", np.where(score < -0.4, "ham", "eggs"))
    return pd.DataFrame(X, columns=["len", "caps", "links", "noise"]), pd.Series(y, name="kind")


def test_kinds_and_clone():
    assert is_classifier(S.LogisticRegression()) and is_regressor(S.LinearRegression())
    assert is_clusterer(S.KMeans())
    est = S.LogisticRegression(reg=0.3, max_iter=7)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    assert S.LogisticRegression().get_params(deep=True)["reg"] == 0.0
    assert S.KMeans(n_clusters=4, random_state=1)._mli_estimator().get_params()["k"] == 4


def test_pandas_fit_with_string_labels_matches_sklearn(ctx, data):
    X, y = data
    ours = S.LogisticRegression(reg=1.0 / len(X)).fit(X, y)
    ref = SkLogisticRegression(C=1.0, tol=1e-10, max_iter=2000).fit(X, y)
    assert list(ours.classes_) == ["eggs", "ham", "spam"] == list(ref.classes_)
    assert list(ours.feature_names_in_) == ["len", "caps", "links", "noise"]
    assert ours.n_features_in_ == 4 and ours.converged_
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=2e-4)
    assert (ours.predict(X) == ref.predict(X)).mean() > 0.99
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=0.01)


def test_feature_names_are_checked_at_predict(ctx, data):
    X, y = data
    clf = S.NaiveBayes(kind="gaussian").fit(X, y)
    with pytest.raises(ValueError, match="feature names should match those that were passed "
                                         "during fit"):
        clf.predict(X[["caps", "len", "links", "noise"]])
    with pytest.raises(ValueError, match="X has 3 features, but NaiveBayes is expecting 4"):
        clf.predict(X.to_numpy()[:, :3])


def test_classifier_refuses_a_continuous_target(ctx, data):
    X, _ = data
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        S.LogisticRegression().fit(X, np.linspace(0, 1, len(X)))


def test_pipeline_grid_search_and_cross_validation(ctx, data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), S.LogisticRegression())
    grid = GridSearchCV(pipe, {"logisticregression__reg": [1e-3, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_ == {"logisticregression__reg": 1e-3}
    fitted = grid.best_estimator_[-1]
    assert fitted.model_.params["reg"] == 1e-3   # the fitted model is kept, not lost
    assert grid.best_score_ > 0.9
    scores = cross_val_score(S.RandomForestClassifier(n_trees=10, random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.7


def test_fitted_model_saves_and_loads(ctx, data, tmp_path):
    X, y = data
    clf = S.DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    clf.model_.save(str(tmp_path / "tree"))
    back = mli.load(str(tmp_path / "tree"))
    np.testing.assert_array_equal(clf.classes_[back.predict(X.to_numpy()).astype(int)],
                                  clf.predict(X))


def test_bad_hyperparameters_and_arguments(ctx, data):
    X, y = data
    with pytest.raises(ValueError, match="Invalid value for parameter 'reg' of "
                                         "LogisticRegression"):
        S.LogisticRegression(reg=-1.0).fit(X, y)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['C'\]"):
        S.LogisticRegression(C=1.0)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        S.LinearSVC().fit(X, y)
    with pytest.raises(ValueError, match="Negative values in data passed to NaiveBayes"):
        S.NaiveBayes().fit(X, y)
