"""Model persistence (mli.core.persist) and the file-system layer (mli.engine.fs)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os

import numpy as np
import pytest

import mli
from mli.engine import fs
from mli.core import persist, registry
from mli.core.base import Model
from mli.errors import ModelFormatError


class PersistDummyModel(Model):
    """A tiny model: y = X @ coef_ + intercept_."""

    _arrays = ("coef_", "intercept_", "extra_")
    _attributes = ("classes_", "meta_")
    _registry_name = "tests.PersistDummyModel"

    def __init__(self, coef, intercept=0.0, extra=None, classes=None, meta=None):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.extra_ = extra
        self.classes_ = classes
        self.meta_ = meta
        super().__init__(n_features=self.coef_.shape[0])

    def _predict_block(self, X):
        return np.asarray(X.array @ self.coef_).ravel() + float(self.intercept_)


class OtherDummyModel(Model):
    _registry_name = "tests.OtherDummyModel"

    def __init__(self, d=2):
        super().__init__(n_features=d)


def _model(**kw):
    args = dict(coef=[1.0, -2.0, 0.5], intercept=0.25,
                extra=np.arange(6, dtype=np.int32).reshape(2, 3),
                classes=["a", "b"], meta={"n_iter": 7, "loss": float("inf"), "t": (1, 2)})
    args.update(kw)
    return PersistDummyModel(**args)


@pytest.fixture
def saved(tmp_path):
    path = str(tmp_path / "model")
    m = _model()
    m.save(path)
    return m, path


def _rewrite_meta(path, fn):
    p = os.path.join(path, "metadata.json")
    with open(p) as f:
        meta = json.load(f)
    fn(meta)
    with open(p, "w") as f:
        json.dump(meta, f)


def _replace_array(path, name, arr, *, fix_checksum=True, allow_pickle=False, meta_fn=None):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    data = buf.getvalue()
    with open(os.path.join(path, f"{name}.npy"), "wb") as f:
        f.write(data)
    if fix_checksum:
        def fix(meta):
            meta["arrays"][name]["sha256"] = hashlib.sha256(data).hexdigest()
            if meta_fn:
                meta_fn(meta)
        _rewrite_meta(path, fix)


# ----------------------------------------------------------------------------- round trip


def test_round_trip_local(saved):
    m, path = saved
    names = sorted(os.listdir(path))
    assert names == ["coef_.npy", "extra_.npy", "intercept_.npy", "metadata.json"]
    loaded = mli.load(path)
    assert type(loaded) is PersistDummyModel
    np.testing.assert_array_equal(loaded.coef_, m.coef_)
    assert loaded.extra_.dtype == np.int32 and loaded.extra_.shape == (2, 3)
    assert loaded.intercept_.shape == () and float(loaded.intercept_) == 0.25
    assert loaded.classes_ == ["a", "b"]
    assert loaded.meta_ == {"n_iter": 7, "loss": float("inf"), "t": (1, 2)}
    assert loaded.n_features == 3 and loaded.feature_names is None
    X = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(loaded.predict(X), m.predict(X))
    with pytest.raises(AttributeError, match="immutable"):
        loaded.coef_ = None
    assert not loaded.coef_.flags.writeable


def test_metadata_content(saved):
    _, path = saved
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    assert meta["format"] == "mli-model"
    assert meta["format_version"] == 1
    assert meta["mli_version"] == mli.__version__
    assert meta["class"] == "tests.PersistDummyModel"
    entry = meta["arrays"]["coef_"]
    assert entry["file"] == "coef_.npy" and entry["shape"] == [3] and entry["dtype"] == "<f8"
    with open(os.path.join(path, "coef_.npy"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == entry["sha256"]
    assert set(meta["attributes"]) == {"n_features", "feature_names", "classes_", "meta_"}


def test_none_array_round_trip(tmp_path):
    path = str(tmp_path / "m")
    _model(extra=None).save(path)
    assert mli.load(path).extra_ is None
    assert "extra_.npy" not in os.listdir(path)


def test_params_and_feature_names_round_trip(tmp_path):
    m = _model()
    m._set_fit_info({"reg": np.float64(0.5), "max_iter": np.int64(3), "solver": "auto",
                     "seed": None, "layers": (4, 2), "w": {1: 2.0},
                     "callback": print, "arr": np.array([1.0, 2.0])}, ["a", "b", "c"])
    path = str(tmp_path / "m")
    m.save(path)
    loaded = mli.load(path)
    assert loaded.params["reg"] == 0.5 and type(loaded.params["reg"]) is float
    assert loaded.params["max_iter"] == 3 and loaded.params["layers"] == (4, 2)
    assert loaded.params["w"] == {1: 2.0} and loaded.params["seed"] is None
    np.testing.assert_array_equal(loaded.params["arr"], [1.0, 2.0])
    assert loaded.params["callback"] is None  # functions are not saved
    assert loaded.feature_names == ("a", "b", "c")


def test_unsaved_params_are_logged(tmp_path, caplog):
    # a callback (documented as never saved) is logged at INFO; any other value without a
    # JSON form is a WARNING
    m = _model()
    m._set_fit_info({"callback": print}, None)
    with caplog.at_level(logging.INFO, logger="mli"):
        m.save(str(tmp_path / "m"))
    assert [r.levelname for r in caplog.records if "callback" in r.message] == ["INFO"]
    caplog.clear()
    m = _model()
    m._set_fit_info({"weights": object()}, None)
    with caplog.at_level(logging.WARNING, logger="mli"):
        m.save(str(tmp_path / "m2"))
    assert "parameters ['weights'] have no JSON form and are saved as None" in caplog.text


def test_string_array_round_trip(tmp_path):
    path = str(tmp_path / "m")
    _model(extra=np.array(["x", "yy"])).save(path)
    np.testing.assert_array_equal(mli.load(path).extra_, ["x", "yy"])


def test_file_uri_and_pathlike(tmp_path):
    m = _model()
    uri = "file://" + str(tmp_path / "uri-model")
    m.save(uri)
    assert os.path.isdir(tmp_path / "uri-model")
    np.testing.assert_array_equal(mli.load(uri).coef_, m.coef_)
    np.testing.assert_array_equal(persist.load_model(tmp_path / "uri-model").coef_, m.coef_)


def test_model_class_load_checks_class(saved):
    _, path = saved
    assert isinstance(PersistDummyModel.load(path), PersistDummyModel)
    assert isinstance(Model.load(path), PersistDummyModel)
    with pytest.raises(ModelFormatError, match="holds a PersistDummyModel, not a OtherDummyModel"):
        OtherDummyModel.load(path)


# ----------------------------------------------------------------------------- overwrite


def test_overwrite_false_raises(saved):
    m, path = saved
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        m.save(path)


def test_overwrite_true_replaces(saved):
    _, path = saved
    _model(coef=[9.0, 9.0, 9.0], extra=None).save(path, overwrite=True)
    loaded = mli.load(path)
    np.testing.assert_array_equal(loaded.coef_, [9.0, 9.0, 9.0])
    assert "extra_.npy" not in os.listdir(path)
    assert not [n for n in os.listdir(os.path.dirname(path)) if ".tmp-" in n]


def test_overwrite_refuses_non_model_directory(tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "thesis.txt").write_text("do not delete")
    with pytest.raises(FileExistsError, match="not a saved mli model"):
        _model().save(str(d), overwrite=True)
    assert (d / "thesis.txt").exists()
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(FileExistsError, match="not a saved mli model"):
        _model().save(str(f), overwrite=True)


def test_overwrite_empty_directory_ok(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    _model().save(str(d), overwrite=True)
    assert isinstance(mli.load(str(d)), PersistDummyModel)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_overwrite_must_be_bool(tmp_path, bad):
    with pytest.raises(TypeError, match="overwrite must be a bool"):
        _model().save(str(tmp_path / "m"), overwrite=bad)


# ----------------------------------------------------------------------------- save errors


def test_save_non_model_raises(tmp_path):
    with pytest.raises(TypeError, match="save_model expects an mli Model, got dict"):
        persist.save_model({}, str(tmp_path / "m"))


def test_save_bad_path_type():
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        _model().save(3)
    with pytest.raises(ValueError, match="path must not be empty"):
        _model().save("")


def test_save_declared_array_not_ndarray(tmp_path):
    with pytest.raises(TypeError, match=r"extra_ is declared in _arrays but is a list"):
        _model(extra=[1, 2]).save(str(tmp_path / "m"))
    assert not os.path.exists(tmp_path / "m")


def test_save_object_array_rejected(tmp_path):
    with pytest.raises(TypeError, match="has dtype object; only numeric"):
        _model(extra=np.array([{}, 1], dtype=object)).save(str(tmp_path / "m"))


def test_save_unencodable_attribute(tmp_path):
    with pytest.raises(TypeError, match="meta_ is declared in _attributes but cannot be saved "
                                        "as JSON: a object has no JSON form"):
        _model(meta=object()).save(str(tmp_path / "m"))
    assert os.listdir(tmp_path) == []  # no temp directory left behind


# ----------------------------------------------------------------------------- load errors


def test_load_missing_directory(tmp_path):
    with pytest.raises(ModelFormatError, match="the directory does not exist"):
        mli.load(str(tmp_path / "nope"))


def test_load_error_is_value_error(tmp_path):
    with pytest.raises(ValueError):
        mli.load(str(tmp_path / "nope"))


def test_load_file_not_directory(tmp_path):
    f = tmp_path / "f"
    f.write_text("{}")
    with pytest.raises(ModelFormatError, match="not a directory"):
        mli.load(str(f))


def test_load_missing_metadata(saved):
    _, path = saved
    os.remove(os.path.join(path, "metadata.json"))
    with pytest.raises(ModelFormatError, match="metadata.json is missing; this is not a saved "
                                               "mli model"):
        mli.load(path)


@pytest.mark.parametrize("text,match", [
    ("{not json", "metadata.json is not valid JSON"),
    ("\xff\xfe", "metadata.json is not valid JSON"),
    ("[1, 2]", "must hold a JSON object, got list"),
])
def test_load_invalid_json(saved, text, match):
    _, path = saved
    with open(os.path.join(path, "metadata.json"), "w", encoding="latin-1") as f:
        f.write(text)
    with pytest.raises(ModelFormatError, match=match):
        mli.load(path)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format="sklearn-model"), "format is 'sklearn-model', expected 'mli-model'"),
    (lambda m: m.pop("format"), "format is None, expected 'mli-model'"),
    (lambda m: m.update(format_version=2), "format_version 2 is not supported"),
    (lambda m: m.update(format_version=True), "format_version True is not supported"),
    (lambda m: m.update(format_version="1"), "format_version '1' is not supported"),
    (lambda m: m.update({"class": "os.system"}), "unknown model class 'os.system'"),
    (lambda m: m.update({"class": 5}), "field 'class' is missing or not a string"),
    (lambda m: m.pop("arrays"), "field 'arrays' is missing or not a JSON object"),
    (lambda m: m["arrays"].pop("coef_"), r"arrays \['coef_'\] of PersistDummyModel are missing"),
    (lambda m: m["arrays"].update(evil_={"file": "x"}), r"unexpected arrays \['evil_'\]"),
    (lambda m: m["attributes"].pop("meta_"), r"attributes \['meta_'\] .* are missing"),
    (lambda m: m["arrays"]["coef_"].update(file="../../etc/passwd"),
     "array 'coef_' names file '../../etc/passwd'; expected coef_.npy"),
    (lambda m: m["arrays"]["coef_"].pop("sha256"), "must list file, sha256, dtype and shape"),
    (lambda m: m["arrays"].update(coef_=[1, 2]), "must list file, sha256, dtype and shape"),
    (lambda m: m["arrays"]["coef_"].update(dtype="<i4"), "has dtype <f8, metadata says <i4"),
    (lambda m: m["arrays"]["coef_"].update(shape=[4]), r"has shape \(3,\), metadata says \(4,\)"),
    (lambda m: m["arrays"]["coef_"].update(dtype="nonsense"), "invalid dtype/shape"),
    (lambda m: m["attributes"].update(meta_={"__mli_type__": "pickle", "data": "x"}),
     "unknown value type 'pickle'"),
    (lambda m: m["attributes"].update(meta_={"__mli_type__": "float", "value": "1e5"}),
     "malformed 'float' value"),
    (lambda m: m["attributes"].update(n_features="3"), "n_features must be a non-negative int"),
])
def test_load_bad_metadata(saved, edit, match):
    _, path = saved
    _rewrite_meta(path, edit)
    with pytest.raises(ModelFormatError, match=match):
        mli.load(path)


def test_unknown_class_message_lists_registered(saved):
    _, path = saved
    _rewrite_meta(path, lambda m: m.update({"class": "nope.Model"}))
    with pytest.raises(ModelFormatError) as e:
        mli.load(path)
    assert "tests.PersistDummyModel" in str(e.value)
    assert "Import the module" in str(e.value)


def test_load_missing_array_file(saved):
    _, path = saved
    os.remove(os.path.join(path, "coef_.npy"))
    with pytest.raises(ModelFormatError, match="array file coef_.npy is missing"):
        mli.load(path)


def test_load_tampered_array_checksum(saved):
    _, path = saved
    _replace_array(path, "coef_", np.array([100.0, 0.0, 0.0]), fix_checksum=False)
    with pytest.raises(ModelFormatError, match="checksum mismatch for coef_.npy: the file was "
                                               "modified or corrupted"):
        mli.load(path)


def test_load_wrong_shape_with_valid_checksum(saved):
    _, path = saved
    _replace_array(path, "coef_", np.zeros(5))
    with pytest.raises(ModelFormatError, match=r"coef_.npy has shape \(5,\), metadata says \(3,\)"):
        mli.load(path)


def test_load_wrong_dtype_with_valid_checksum(saved):
    _, path = saved
    _replace_array(path, "coef_", np.zeros(3, dtype=np.float32))
    with pytest.raises(ModelFormatError, match="coef_.npy has dtype <f4, metadata says <f8"):
        mli.load(path)


def test_load_object_array_refused(saved):
    _, path = saved
    evil = np.array([object(), 1], dtype=object)

    def also_dtype(meta):
        meta["arrays"]["coef_"]["dtype"] = "|O"
        meta["arrays"]["coef_"]["shape"] = [2]
    _replace_array(path, "coef_", evil, allow_pickle=True, meta_fn=also_dtype)
    with pytest.raises(ModelFormatError, match="coef_.npy holds an object array"):
        mli.load(path)


def test_load_not_npy(saved):
    _, path = saved
    data = b"this is not an npy file"
    with open(os.path.join(path, "coef_.npy"), "wb") as f:
        f.write(data)
    _rewrite_meta(path, lambda m: m["arrays"]["coef_"].update(
        sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(ModelFormatError, match="coef_.npy is not a valid .npy file \\(no .npy "
                                               "header\\)"):
        mli.load(path)


def test_load_truncated_npy(saved):
    _, path = saved
    with open(os.path.join(path, "coef_.npy"), "rb") as f:
        data = f.read()[:-8]
    with open(os.path.join(path, "coef_.npy"), "wb") as f:
        f.write(data)
    _rewrite_meta(path, lambda m: m["arrays"]["coef_"].update(
        sha256=hashlib.sha256(data).hexdigest()))
    with pytest.raises(ModelFormatError, match="coef_.npy is not a valid .npy file"):
        mli.load(path)


def test_load_inconsistent_state_wrapped(saved):
    _, path = saved
    _rewrite_meta(path, lambda m: m["attributes"].update(
        feature_names=3))
    with pytest.raises(ModelFormatError, match="does not make a valid PersistDummyModel"):
        mli.load(path)


# ----------------------------------------------------------------------------- registry


def test_registry_key_collision():
    with pytest.raises(TypeError, match="registry key 'tests.PersistDummyModel' .* is already "
                                        "used by"):
        class Impostor(Model):  # noqa: F841
            _registry_name = "tests.PersistDummyModel"


def test_registry_redefinition_replaces():
    def make():
        class Redefined(Model):
            _registry_name = "tests.Redefined"
        return Redefined

    a, b = make(), make()
    assert persist.get_model_class("tests.Redefined") is b and a is not b


def test_registry_bad_name():
    with pytest.raises(TypeError, match="_registry_name must be a non-empty str"):
        class Bad(Model):  # noqa: F841
            _registry_name = ""


def test_default_registry_key_is_module_qualname():
    class Local(Model):
        pass
    assert registry.key_of(Local) == f"{__name__}.{Local.__qualname__}"
    assert registry.registered("model")[registry.key_of(Local)] is Local


def test_get_model_class_unknown():
    with pytest.raises(ModelFormatError, match="unknown model class 'no.Such'"):
        persist.get_model_class("no.Such")


def test_one_registry_holds_algorithms_models_and_stages():
    from mli.algorithms import LogisticRegression, LogisticRegressionModel
    from mli.featurize import HashingTF, TFIDF

    assert registry.lookup("model", "mli.LogisticRegressionModel") is LogisticRegressionModel
    assert registry.lookup("algorithm", registry.key_of(LogisticRegression)) is LogisticRegression
    assert registry.lookup("transformer", registry.key_of(HashingTF)) is HashingTF
    assert registry.lookup("estimator", registry.key_of(TFIDF)) is TFIDF
    assert registry.lookup("model", "no.Such") is None


def test_registry_loads_the_providers_on_a_miss(monkeypatch):
    # a miss calls each entry point of the mli.registry group once
    calls = []

    class EntryPoint:
        name, value = "fake", "fake:provider"

        def load(self):
            return lambda: calls.append(1)

    monkeypatch.setattr(registry, "_providers_loaded", False)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [EntryPoint()]
                        if group == registry.ENTRY_POINT_GROUP else [])
    assert registry.lookup("model", "no.Such") is None
    assert registry.lookup("model", "no.Such.Again") is None
    assert calls == [1]


def test_a_failing_provider_is_logged_and_skipped(monkeypatch, caplog):
    class Broken:
        name, value = "broken", "broken:provider"

        def load(self):
            raise ImportError("no module named broken")

    monkeypatch.setattr(registry, "_providers_loaded", False)
    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [Broken()])
    with caplog.at_level(logging.WARNING, logger="mli"):
        assert registry.lookup("model", "no.Such") is None
    assert "provider 'broken' (broken:provider) failed: no module named broken" in caplog.text


def test_forget_module_unregisters_its_classes():
    def make():
        class Forgettable(Model):
            _registry_name = "tests.Forgettable"
        return Forgettable

    cls = make()
    assert registry.lookup("model", "tests.Forgettable") is cls
    assert registry.forget_module(__name__).count("tests.Forgettable") == 1
    assert registry.registered("model").get("tests.Forgettable") is None
    assert registry.lookup("model", "tests.PersistDummyModel") is None  # this module's, too
    registry.register(PersistDummyModel, "model")  # (the other tests of this module use it)
    registry.register(OtherDummyModel, "model")


def test_registry_wrong_input():
    with pytest.raises(ValueError, match="kind must be one of .* got 'modell'"):
        registry.lookup("modell", "x")
    with pytest.raises(ValueError, match="kind must be one of"):
        registry.register(int, "plugin")


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, "s", [1, [2, "x"]], (1, (2.0, None)), {"a": (1,)}, {1: "a", (2, 3): 4},
    float("nan"), float("-inf"), np.array([[1, 2], [3, 4]], dtype=np.int16),
    {"__mli_type__": "looks-like-a-tag"},
])
def test_encode_decode_round_trip(value):
    text = json.dumps(persist.encode_value(value), allow_nan=False)
    back = persist.decode_value(json.loads(text))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and np.isnan(value):
        assert np.isnan(back)
    else:
        assert back == value and type(back) is type(value)


def test_encode_rejects_objects():
    with pytest.raises(TypeError, match="a function has no JSON form"):
        persist.encode_value(lambda: 1)
    with pytest.raises(TypeError, match="declare it in _arrays"):
        persist.encode_value(np.array(["a"]))
    assert not persist.is_encodable(object())
    assert persist.is_encodable(np.float32(1.5))


# ----------------------------------------------------------------------------- fs, local


def test_fs_local_functions(tmp_path):
    d = str(tmp_path / "a" / "b")
    fs.makedirs(d)
    fs.makedirs(d)  # idempotent
    assert fs.isdir(d) and fs.exists(d)
    fs.write_bytes(fs.join(d, "x.bin"), b"\x00\x01")
    assert fs.read_bytes(fs.join(d, "x.bin")) == b"\x00\x01"
    assert fs.listdir(d) == ["x.bin"]
    fs.rename(fs.join(d, "x.bin"), fs.join(d, "y.bin"))
    assert fs.listdir(d) == ["y.bin"]
    fs.remove_tree(fs.join(d, "y.bin"))
    fs.remove_tree(str(tmp_path / "a"))
    fs.remove_tree(str(tmp_path / "a"))  # no error if missing
    assert not fs.exists(str(tmp_path / "a"))


def test_fs_local_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="data must be bytes, got str"):
        fs.write_bytes(str(tmp_path / "x"), "text")
    with pytest.raises(ValueError, match="backend must be one of"):
        fs.exists(str(tmp_path), backend="ftp")
    with pytest.raises(ValueError, match="the local backend cannot serve 'hdfs://nn/x'"):
        fs.exists("hdfs://nn/x", backend="local")
    with pytest.raises(ValueError, match="names host 'otherhost'"):
        fs.exists("file://otherhost/tmp/x")
    (tmp_path / "a").write_bytes(b"1")
    (tmp_path / "b").write_bytes(b"2")
    with pytest.raises(FileExistsError, match="rename: already exists"):
        fs.rename(str(tmp_path / "a"), str(tmp_path / "b"))


def test_fs_backend_selection(monkeypatch):
    assert fs.backend_for("/tmp/x") == "local"
    assert fs.backend_for("file:///tmp/x") == "local"
    assert fs.backend_for("C:\\models\\m") == "local"
    assert fs.backend_for("hdfs://nn:8020/m") == "hadoop"
    assert fs.backend_for("s3a://bucket/m") == "hadoop"
    assert fs.backend_for("/tmp/x", "hadoop") == "hadoop"
    monkeypatch.setenv("MLI_FS_BACKEND", "hadoop")
    assert fs.backend_for("/tmp/x") == "hadoop"
    monkeypatch.setenv("MLI_FS_BACKEND", "bogus")
    with pytest.raises(ValueError, match="backend must be one of"):
        fs.backend_for("/tmp/x")
    assert fs.join("hdfs://nn/models/", "m", "a.npy") == "hdfs://nn/models/m/a.npy"


# ----------------------------------------------------------------------------- fs, Hadoop (JVM)


def test_fs_hadoop_backend_on_local_files(ctx, tmp_path):
    uri = "file://" + str(tmp_path / "h" / "d")
    fs.makedirs(uri, backend="hadoop")
    assert os.path.isdir(tmp_path / "h" / "d")
    assert fs.exists(uri, backend="hadoop") and fs.isdir(uri, backend="hadoop")
    payload = os.urandom(3 * 1000 + 7)
    f = fs.join(uri, "x.bin")
    fs.write_bytes(f, payload, backend="hadoop")
    assert (tmp_path / "h" / "d" / "x.bin").read_bytes() == payload
    assert fs.read_bytes(f, backend="hadoop") == payload
    fs.write_bytes(fs.join(uri, "empty"), b"", backend="hadoop")
    assert fs.read_bytes(fs.join(uri, "empty"), backend="hadoop") == b""
    assert not fs.isdir(f, backend="hadoop")
    assert fs.listdir(uri, backend="hadoop") == ["empty", "x.bin"]
    fs.rename(f, fs.join(uri, "y.bin"), backend="hadoop")
    assert "y.bin" in fs.listdir(uri, backend="hadoop")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(fs.join(uri, "missing"), backend="hadoop")
    with pytest.raises(FileNotFoundError):
        fs.listdir(fs.join(uri, "missing"), backend="hadoop")
    fs.remove_tree(uri, backend="hadoop")
    assert not fs.exists(uri, backend="hadoop")


def test_fs_hadoop_chunked_write_read(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(fs, "CHUNK", 1000)
    f = "file://" + str(tmp_path / "big.bin")
    payload = os.urandom(4500)
    fs.write_bytes(f, payload, backend="hadoop")
    assert fs.read_bytes(f, backend="hadoop") == payload
    payload = os.urandom(3000)  # an exact multiple of the chunk
    fs.write_bytes(f, payload, backend="hadoop")
    assert fs.read_bytes(f, backend="hadoop") == payload


def test_model_round_trip_through_hadoop_backend(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("MLI_FS_BACKEND", "hadoop")
    m = _model()
    uri = "file://" + str(tmp_path / "hmodel")
    m.save(uri)
    # (Hadoop's local file system adds hidden .crc files)
    assert sorted(n for n in os.listdir(tmp_path / "hmodel") if not n.endswith(".crc")) == [
        "coef_.npy", "extra_.npy", "intercept_.npy", "metadata.json"]
    assert fs.listdir(uri) == ["coef_.npy", "extra_.npy", "intercept_.npy", "metadata.json"]
    loaded = mli.load(uri)
    np.testing.assert_array_equal(loaded.extra_, m.extra_)
    with pytest.raises(FileExistsError, match="already exists"):
        m.save(uri)
    m.save(uri, overwrite=True)
    # tampering is detected through the JVM path too: by Hadoop's own .crc check ...
    _replace_array(str(tmp_path / "hmodel"), "coef_", np.array([5.0, 6.0, 7.0]),
                   fix_checksum=False)
    with pytest.raises(ModelFormatError, match="could not read coef_.npy: .*checksum error"):
        mli.load(uri)
    # ... and by the sha256 in metadata.json when the .crc file is gone
    os.remove(tmp_path / "hmodel" / ".coef_.npy.crc")
    with pytest.raises(ModelFormatError, match="checksum mismatch for coef_.npy"):
        mli.load(uri)
    with pytest.raises(ModelFormatError, match="the directory does not exist"):
        mli.load("file://" + str(tmp_path / "nothing"))
    # the same files are readable by the local backend
    monkeypatch.setenv("MLI_FS_BACKEND", "local")
    m.save(uri, overwrite=True)
    monkeypatch.setenv("MLI_FS_BACKEND", "hadoop")
    assert isinstance(mli.load(uri), PersistDummyModel)


def test_registry_keys_of_moved_classes_are_the_keys_saved_before_the_move():
    # saved pipelines name their stages by key: moving a class must not change it
    from mli.algorithms import ALS, LogisticRegression
    from mli.featurize import Convolver, ConvolverModel, HashingTF, Scale
    from mli.pipeline import Pipeline, PipelineModel

    assert [registry.key_of(c) for c in (Convolver, ConvolverModel, Scale, HashingTF)] == [
        "mli.featurize.image.Convolver", "mli.featurize.image.ConvolverModel",
        "mli.featurize.image.Scale", "mli.featurize.text.HashingTF"]
    assert registry.key_of(Pipeline) == "mli.pipeline.Pipeline"
    assert registry.key_of(PipelineModel) == "mli.PipelineModel"
    assert registry.key_of(ALS) == "mli.algorithms.als.ALS"
    assert registry.key_of(LogisticRegression) == \
        "mli.algorithms.logistic_regression.LogisticRegression"
