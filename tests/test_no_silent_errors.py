"""No silent wrong answers: inputs that used to give a plausible but wrong result (or an
unreadable error) now give a clear one, naming the parameter, column, file and line."""
from __future__ import annotations

import hashlib
import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import mli
from mli.algorithms import KMeans, LinearRegression, LogisticRegression, NaiveBayes
from mli.errors import ConvergenceWarning, ModelFormatError


@pytest.fixture(scope="module")
def frame(ctx):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(float)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["label"] = y
    return df


@pytest.fixture(scope="module")
def named_model(frame):
    return LogisticRegression(reg=0.01).fit(frame, label="label")


# ============================================================================ feature names


def test_a_dropped_feature_column_is_not_replaced_by_the_label(named_model, frame):
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['d'\] that "
                                         r"LogisticRegressionModel was fitted with; its "
                                         r"columns \['label'\] are not training features"):
        named_model.predict(frame[["a", "b", "c", "label"]])


def test_reordered_columns_are_matched_by_name(named_model, frame):
    want = named_model.predict(frame)
    got = named_model.predict(frame[["label", "d", "c", "b", "a"]])
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


def test_renamed_columns_are_refused(named_model, frame):
    renamed = frame.rename(columns={"a": "A"})
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['a'\].*\['A', 'label'\]"):
        named_model.predict(renamed)


def test_feature_names_checked_on_tables_and_spark_frames(named_model, frame, ctx):
    table = mli.MLTable.from_data(frame[["a", "b", "c", "label"]])
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['d'\]"):
        named_model.predict(table)
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['d'\]"):
        named_model.predict(table.to_spark())
    reordered = mli.MLTable.from_data(frame[["d", "c", "b", "a"]])
    np.testing.assert_array_equal(
        named_model.predict(reordered).to_numpy().ravel(),
        named_model.predict(frame).to_numpy())


def test_array_model_takes_named_columns_by_position(frame):
    X = frame[["a", "b", "c", "d"]].to_numpy()
    model = LogisticRegression(reg=0.01).fit(X, frame["label"].to_numpy())
    got = model.predict(frame[["a", "b", "c", "d"]].rename(columns=str.upper))
    np.testing.assert_array_equal(got.to_numpy(), model.predict(X))
    with pytest.raises(ValueError, match="X has 5 features, but LogisticRegressionModel was "
                                         "fitted with 4 features"):
        model.predict(frame)


# ============================================================================ targets


@pytest.mark.parametrize("algo", [LogisticRegression(), NaiveBayes(kind="gaussian")],
                         ids=["LogisticRegression", "NaiveBayes"])
def test_classifier_refuses_a_continuous_target(ctx, algo):
    rng = np.random.default_rng(1)
    X = np.abs(rng.standard_normal((300, 3)))
    with pytest.raises(ValueError, match=r"needs class labels, but the label looks continuous: "
                                         r"300 of its 300 distinct values are not whole"):
        algo.fit(X, rng.standard_normal(300))


def test_integer_valued_float_labels_are_classes(ctx):
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 10)
    model = LogisticRegression(reg=0.1).fit(X, np.array([0.0, 0.0, 2.0, 2.0] * 10))
    assert model.classes_.tolist() == [0.0, 2.0]


# ============================================================================ convergence


def test_max_iter_warns_and_records_converged(ctx):
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 5)
    y = np.array([0, 0, 1, 1] * 5)  # separable: unregularized LR diverges
    with pytest.warns(ConvergenceWarning, match=r"LogisticRegression did not converge: it "
                                                r"stopped after 5 of max_iter=5 iterations"):
        model = LogisticRegression(solver="lbfgs", max_iter=5).fit(X, y)
    assert model.converged_ is False and model.n_iter_ == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LogisticRegression(reg=0.1).fit(X, y)
    assert model.converged_ is True and 1 <= model.n_iter_ < 100


def test_warning_points_at_the_callers_line(ctx):
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 5)
    with pytest.warns(ConvergenceWarning) as record:
        LogisticRegression(solver="lbfgs", max_iter=2).fit(X, np.array([0, 0, 1, 1] * 5))
    assert record[0].filename == __file__


def test_callback_stop_is_not_a_convergence_failure(ctx):
    X = np.array([[0.0], [1.0], [2.0], [3.0]] * 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LogisticRegression(solver="lbfgs", callback=lambda i, loss, s: True).fit(
            X, np.array([0, 0, 1, 1] * 5))
    assert model.converged_ is False and model.n_iter_ == 1


def test_kmeans_records_convergence(ctx):
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(c, 1.0, (100, 2)) for c in (0, 6, 12)])
    with pytest.warns(ConvergenceWarning,
                      match="KMeans did not converge: it stopped after 1 of max_iter=1"):
        model = KMeans(k=3, max_iter=1, init="random", seed=0).fit(X)
    assert model.converged_ is False and model.n_iter_ == 1
    model = KMeans(k=3, max_iter=100, seed=0).fit(X)
    assert model.converged_ is True and model.n_iter_ < 100


def test_normal_equations_are_converged(ctx):
    X = np.random.default_rng(3).standard_normal((50, 3))
    model = LinearRegression().fit(X, X @ np.array([1.0, 2.0, 3.0]))
    assert model.converged_ is True and model.n_iter_ == 1


# ============================================================================ loading


@pytest.fixture
def saved(tmp_path, named_model):
    path = str(tmp_path / "m")
    named_model.save(path)
    return path


def _edit(path, fn):
    meta_file = f"{path}/metadata.json"
    with open(meta_file) as f:
        meta = json.load(f)
    fn(meta)
    with open(meta_file, "w") as f:
        json.dump(meta, f)


def test_load_validates_hyperparameters(saved):
    assert mli.load(saved).params["reg"] == 0.01
    _edit(saved, lambda m: m["params"].update(reg=-1))
    with pytest.raises(ModelFormatError, match=r"invalid hyperparameters: Invalid value for "
                                               r"parameter 'reg' of LogisticRegression"):
        mli.load(saved)


def test_load_refuses_unknown_hyperparameters(saved):
    _edit(saved, lambda m: m["params"].update(regularisation=1.0))
    with pytest.raises(ModelFormatError, match=r"params \['regularisation'\] are not "
                                               r"parameters of LogisticRegression"):
        mli.load(saved)


def test_load_refuses_non_finite_arrays(saved):
    coef = np.load(f"{saved}/coef_.npy")
    coef[0, 2] = np.nan
    np.save(f"{saved}/coef_.npy", coef)
    digest = hashlib.sha256(open(f"{saved}/coef_.npy", "rb").read()).hexdigest()
    _edit(saved, lambda m: m["arrays"]["coef_"].update(sha256=digest))
    with pytest.raises(ModelFormatError, match=r"array 'coef_' holds a non-finite value .* "
                                               r"at index \[0, 2\]"):
        mli.load(saved)


def test_deeply_nested_metadata_is_a_format_error(saved):
    with open(f"{saved}/metadata.json", "w") as f:
        f.write("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelFormatError, match="nests its values too deeply"):
        mli.load(saved)


def test_files_saved_before_the_new_fields_still_load(saved, named_model, frame):
    def old(meta):
        del meta["algorithm"]
        del meta["attributes"]["converged"]
    _edit(saved, old)
    model = mli.load(saved)
    assert model.converged_ is None
    np.testing.assert_array_equal(model.predict(frame), named_model.predict(frame))


# ============================================================================ clear errors


def test_infinite_regularization_is_refused_by_the_constraint(ctx):
    with pytest.raises(ValueError, match=r"Invalid value for parameter 'reg' of "
                                         r"LogisticRegression: expected a float in \[0, inf\), "
                                         r"got inf"):
        LogisticRegression(reg=float("inf")).fit(np.eye(4), np.array([0, 1, 0, 1]))


def test_unknown_fit_keyword_names_fit(ctx):
    with pytest.raises(TypeError, match=r"LogisticRegression.fit\(\) got unexpected keyword "
                                        r"argument\(s\) \['sample_wieght'\]"):
        LogisticRegression().fit(np.eye(4), np.array([0, 1, 0, 1]), sample_wieght=None)


def test_libsvm_index_too_large_names_file_and_line(ctx, tmp_path):
    path = tmp_path / "big.libsvm"
    path.write_text("1 1:0.5 3:1\n0 2:1 99999999999:1\n")
    with pytest.raises(ValueError, match=r"LibSVM .*big.libsvm, line 2: feature index "
                                         r"99999999999 .* is too large"):
        mli.MLTable.read_libsvm(str(path))


def test_binary_file_read_as_csv(ctx, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(ValueError, match=r"does not look like delimited text") as info:
        mli.MLTable.read_csv(str(path))
    assert "\\x" not in str(info.value) and "\x00" not in str(info.value)


@pytest.mark.parametrize("master,match", [
    ("local[abc]", r"master='local\[abc\]' is not a valid local master"),
    ("local[2", r"is not a valid local master"),
    ("spark:/host:7077", r"is not a Spark master URL; expected one of"),
    ("spark://host", r"a standalone master is 'spark://host:port'"),
])
def test_malformed_master_is_refused_before_spark_starts(master, match):
    with pytest.raises(ValueError, match=match):
        mli.MLContext(master)


def test_unreachable_master_fails_fast():
    from mli.engine.context import check_reachable

    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"cannot reach the Spark master "
                                              r"spark://127.0.0.1:1,127.0.0.1:2: 127.0.0.1:1 "
                                              r"\(Connection refused\); 127.0.0.1:2"):
        check_reachable("spark://127.0.0.1:1,127.0.0.1:2")
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("conf", [{"spark_driver_memory": "lots"},
                                  {"spark.executor.memory": "4 gigs"}])
def test_memory_setting_that_is_not_a_size(conf):
    with pytest.raises(ValueError, match=r"is not a memory size: use a number with a unit"):
        mli.MLContext("local[2]", **conf)
