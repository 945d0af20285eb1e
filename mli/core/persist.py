"""Model persistence: a directory of ``metadata.json`` + one ``.npy`` file per array.

Layout of a saved model::

    model/
      metadata.json     format "mli-model", format_version 1, mli version, class key,
                        params, JSON attributes, and for every array: file, sha256,
                        dtype, shape
      coef_.npy         np.save(..., allow_pickle=False)
      intercept_.npy

Loading executes no code from the files: the metadata names the model class by its
*registry key* (looked up in :mod:`mli.core.registry`, filled by ``Model.__init_subclass__``;
never imported), arrays are read with ``allow_pickle=False`` after their checksum, dtype and
shape were verified, and attributes are plain JSON. Any problem raises
:class:`mli.errors.ModelFormatError` (a :class:`ValueError`).

Model classes declare what is saved::

    class LinearModel(mli.Model):
        _arrays = ("coef_", "intercept_")      # numpy arrays (or None)
        _attributes = ("classes_",)            # JSON-able values
        _registry_name = "mli.LinearModel"     # stable key (default: module.qualname)
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import uuid
from typing import Any

import numpy as np

from mli.engine import fs
from mli.core import registry
from mli.errors import ModelFormatError
from mli._version import __version__

__all__ = ["save_model", "load_model", "get_model_class", "FORMAT", "FORMAT_VERSION", "encode_value",
           "decode_value", "is_encodable"]

log = logging.getLogger(__name__)

FORMAT = "mli-model"
FORMAT_VERSION = 1
METADATA = "metadata.json"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG = "__mli_type__"

# ----------------------------------------------------------------------------- classes


def get_model_class(key: str) -> type:
    """The model class registered under ``key`` (:mod:`mli.core.registry`); raises
    :class:`ModelFormatError` naming the known keys when there is none."""
    cls = registry.lookup("model", key)
    if cls is None:
        # the user's own classes first (the likelier target), then mli's; not test locals
        names = [k for k in registry.registered("model") if "<locals>" not in k]
        known = sorted(k for k in names if not k.startswith("mli.")) + sorted(
            k for k in names if k.startswith("mli."))
        shown = ", ".join(known[:40]) + (", ..." if len(known) > 40 else "")
        raise ModelFormatError(
            f"unknown model class {key!r}: no registered mli Model has this name (registered: "
            f"{shown or 'none'}). Import the module that defines the model class before "
            "loading it.")
    return cls


# ----------------------------------------------------------------------------- JSON values


class _Unencodable(TypeError):
    pass


def encode_value(value: Any) -> Any:
    """Encode a parameter/attribute value as JSON (typed: tuples, non-finite floats, numpy
    scalars and small arrays, dicts with non-str keys survive the round trip).

    Raises
    ------
    TypeError
        For values with no JSON form (functions, arbitrary objects).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value):
            return value
        return {_TAG: "float", "value": repr(value)}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode_value(v) for k, v in value.items()}
        return {_TAG: "dict", "items": [[encode_value(k), encode_value(v)]
                                        for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf" or value.size > 100_000:
            raise _Unencodable(f"an array of dtype {value.dtype} and size {value.size} has no "
                               "JSON form; declare it in _arrays")
        return {_TAG: "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "data": [encode_value(v) for v in value.ravel().tolist()]}
    raise _Unencodable(f"a {type(value).__name__} has no JSON form")


def is_encodable(value: Any) -> bool:
    """Whether :func:`encode_value` can store ``value``."""
    try:
        encode_value(value)
    except TypeError:
        return False
    return True


def decode_value(obj: Any) -> Any:
    """Inverse of :func:`encode_value` (raises :class:`ModelFormatError` on malformed input)."""
    if obj is None or isinstance(obj, (bool, str, int, float)):
        return obj
    if isinstance(obj, list):
        return [decode_value(v) for v in obj]
    if isinstance(obj, dict):
        tag = obj.get(_TAG)
        if tag is None:
            return {k: decode_value(v) for k, v in obj.items()}
        try:
            if tag == "float":
                if obj["value"] not in ("nan", "inf", "-inf"):
                    raise ValueError(obj["value"])
                return float(obj["value"])
            if tag == "tuple":
                return tuple(decode_value(v) for v in obj["items"])
            if tag == "dict":
                return {_hashable(decode_value(k)): decode_value(v) for k, v in obj["items"]}
            if tag == "ndarray":
                dtype = np.dtype(obj["dtype"])
                if dtype.kind not in "biuf":
                    raise ValueError(f"dtype {dtype}")
                shape = tuple(int(s) for s in obj["shape"])
                data = [decode_value(v) for v in obj["data"]]
                return np.array(data, dtype=dtype).reshape(shape)
        except ModelFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"malformed {tag!r} value in metadata: {exc}") from None
        raise ModelFormatError(f"unknown value type {tag!r} in metadata")
    raise ModelFormatError(f"unexpected JSON value {obj!r} in metadata")


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


# ----------------------------------------------------------------------------- save


def _array_bytes(name: str, arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # (np.ascontiguousarray would turn a 0-d array into 1-d)
    np.save(buf, arr if arr.flags.c_contiguous else arr.copy(order="C"), allow_pickle=False)
    return buf.getvalue()


def _collect_state(model) -> tuple[dict, dict, dict, list]:
    cls = type(model)
    arrays, attributes = {}, {}
    for name in cls._saved_arrays():
        if not _NAME_RE.match(name):
            raise TypeError(f"{cls.__name__}: array name {name!r} is not an identifier")
        value = getattr(model, name, None)
        if value is None:
            arrays[name] = None
            continue
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{cls.__name__}.{name} is declared in _arrays but is a "
                            f"{type(value).__name__}, not a numpy array; declare JSON values "
                            "in _attributes")
        if value.dtype.hasobject or value.dtype.kind == "V":
            raise TypeError(f"{cls.__name__}.{name} has dtype {value.dtype}; only numeric, "
                            "bool and fixed-width string arrays can be saved")
        arrays[name] = value
    for name in cls._saved_attributes():
        value = getattr(model, name, None)
        try:
            attributes[name] = encode_value(value)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}.{name} is declared in _attributes but cannot be "
                            f"saved as JSON: {exc}") from None
    params, dropped = {}, []
    for name, value in (getattr(model, "params", None) or {}).items():
        try:
            params[name] = encode_value(value)
        except TypeError:
            dropped.append(name)
    odd = [n for n in dropped if not callable(model.params[n])]  # callbacks: never saved
    if odd:
        log.warning("%s: parameters %s have no JSON form and are saved as None",
                    cls.__name__, odd)
    elif dropped:
        log.info("%s: callables %s are saved as None", cls.__name__, dropped)
    return arrays, attributes, params, dropped


def save_model(model, path: str, *, overwrite: bool = False, backend: str | None = None) -> None:
    """Save ``model`` as a directory at ``path`` (local, ``file://``, or any Hadoop URI).

    Parameters
    ----------
    model : mli.Model
    path : str
    overwrite : bool, default False
        Replace an existing saved model at ``path``. A path holding anything other than a
        saved model (or an empty directory) is never deleted.
    backend : {"auto", "local", "hadoop"}, optional
        Force a file-system backend (see :mod:`mli.engine.fs`).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False, or it is not a saved model.
    TypeError
        A declared array/attribute cannot be saved.
    """
    if registry.lookup("model", registry.key_of(type(model))) is not type(model):
        raise TypeError(f"save_model expects an mli Model, got {type(model).__name__}")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be a bool, got {overwrite!r}")
    path = fs._check_path(path)
    path = path.rstrip("/") if len(path.rstrip("/")) > 0 else path
    arrays, attributes, params, dropped = _collect_state(model)
    if fs.exists(path, backend=backend):
        if not overwrite:
            raise FileExistsError(f"cannot save model: {path} already exists; pass "
                                  "overwrite=True to replace it")
        if not _replaceable(path, backend):
            raise FileExistsError(f"refusing to overwrite {path}: it exists and is not a saved "
                                  "mli model (no metadata.json) nor an empty directory")

    meta_arrays: dict[str, Any] = {}
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
    fs.makedirs(tmp, backend=backend)
    try:
        for name, arr in arrays.items():
            if arr is None:
                meta_arrays[name] = None
                continue
            data = _array_bytes(name, arr)
            fname = f"{name}.npy"
            fs.write_bytes(fs.join(tmp, fname), data, backend=backend)
            meta_arrays[name] = {"file": fname, "sha256": hashlib.sha256(data).hexdigest(),
                                 "dtype": arr.dtype.str,
                                 "shape": list(arr.shape)}
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "mli_version": __version__,
            "class": registry.key_of(type(model)),
            **({"algorithm": model._algorithm} if getattr(model, "_algorithm", None) else {}),
            "params": params,
            "unsaved_params": dropped,
            "attributes": attributes,
            "arrays": meta_arrays,
        }
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
        fs.write_bytes(fs.join(tmp, METADATA), text.encode("utf-8"), backend=backend)
        if fs.exists(path, backend=backend):
            fs.remove_tree(path, backend=backend)
        fs.rename(tmp, path, backend=backend)
    except BaseException:
        try:
            fs.remove_tree(tmp, backend=backend)
        except Exception:  # noqa: BLE001
            pass
        raise
    log.info("saved %s to %s", type(model).__name__, path)


def _replaceable(path: str, backend) -> bool:
    if not fs.isdir(path, backend=backend):
        return False
    names = fs.listdir(path, backend=backend)
    return not names or METADATA in names


# ----------------------------------------------------------------------------- load


def _bad(path: str, msg: str) -> ModelFormatError:
    return ModelFormatError(f"cannot load model from {path}: {msg}")


def read_metadata(path: str, *, backend: str | None = None) -> dict:
    """Read and check ``metadata.json`` of a saved model (format, version, structure)."""
    path = fs._check_path(path)
    if not fs.exists(path, backend=backend):
        raise _bad(path, "the directory does not exist")
    if not fs.isdir(path, backend=backend):
        raise _bad(path, "it is not a directory (a saved model is a directory)")
    meta_path = fs.join(path, METADATA)
    try:
        raw = fs.read_bytes(meta_path, backend=backend)
    except FileNotFoundError:
        raise _bad(path, f"{METADATA} is missing; this is not a saved mli model") from None
    except OSError as exc:
        raise _bad(path, f"could not read {METADATA}: {exc}") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"{METADATA} is not valid JSON ({exc})") from None
    except RecursionError:
        raise _bad(path, f"{METADATA} nests its values too deeply to be model metadata") \
            from None
    if not isinstance(meta, dict):
        raise _bad(path, f"{METADATA} must hold a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise _bad(path, f"format is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise _bad(path, f"format_version {version!r} is not supported (this mli reads "
                         f"format_version {FORMAT_VERSION})")
    for key, kind in (("class", str), ("params", dict), ("attributes", dict),
                      ("arrays", dict)):
        if not isinstance(meta.get(key), kind):
            raise _bad(path, f"{METADATA} field {key!r} is missing or not a "
                             f"{'string' if kind is str else 'JSON object'}")
    return meta


def _load_array(path: str, name: str, entry: Any, backend) -> np.ndarray | None:
    if entry is None:
        return None
    if not isinstance(entry, dict) or not {"file", "sha256", "dtype", "shape"} <= set(entry):
        raise _bad(path, f"array entry {name!r} must list file, sha256, dtype and shape")
    fname = entry["file"]
    if fname != f"{name}.npy":
        raise _bad(path, f"array {name!r} names file {fname!r}; expected {name}.npy")
    try:
        data = fs.read_bytes(fs.join(path, fname), backend=backend)
    except FileNotFoundError:
        raise _bad(path, f"array file {fname} is missing") from None
    except OSError as exc:
        raise _bad(path, f"could not read {fname}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise _bad(path, f"checksum mismatch for {fname}: the file was modified or corrupted "
                         f"(sha256 {digest}, metadata says {entry['sha256']})")
    if not data.startswith(b"\x93NUMPY"):
        raise _bad(path, f"{fname} is not a valid .npy file (no .npy header)")
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise _bad(path, f"{fname} holds an object array, which could execute code; "
                             "refusing to load it") from None
        raise _bad(path, f"{fname} is not a valid .npy file ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of the file
        raise _bad(path, f"{fname} is not a valid .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise _bad(path, f"{fname} is not a single .npy array")
    if arr.dtype.hasobject or arr.dtype.kind == "V":
        raise _bad(path, f"{fname} holds an array of dtype {arr.dtype}; refusing to load it")
    try:
        want_dtype = np.dtype(entry["dtype"])
        want_shape = tuple(int(s) for s in entry["shape"])
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"array entry {name!r} has an invalid dtype/shape ({exc})") from None
    if arr.dtype != want_dtype:
        raise _bad(path, f"{fname} has dtype {arr.dtype.str}, metadata says {want_dtype.str}")
    if arr.shape != want_shape:
        raise _bad(path, f"{fname} has shape {arr.shape}, metadata says {want_shape}")
    return arr


def _check_finite_array(path: str, cls: type, name: str, arr: np.ndarray | None) -> None:
    """A learned array with NaN or inf (not declared in ``cls._nonfinite_arrays``) makes
    every prediction NaN or wrong: refuse it, naming the array and the first position."""
    if arr is None or arr.dtype.kind not in "fc" or name in cls._nonfinite_ok():
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise _bad(path, f"array {name!r} holds a non-finite value ({arr[where]!r} at index "
                         f"{list(where)}): a fitted {cls.__name__} has finite {name}")


def _check_params(path: str, key: str, params: dict, unsaved: Any) -> None:
    """The saved hyperparameters against the producing estimator's declared constraints
    (a hand-edited ``reg=-1`` is refused as it would be by ``fit``)."""
    est = registry.lookup("algorithm", key) or registry.lookup("estimator", key)
    if est is None:
        raise _bad(path, f"the model was fitted by {key!r}, which is not a registered "
                         "algorithm (is the package that provides it installed?)")
    valid = est._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise _bad(path, f"params {unknown} are not parameters of {est.__name__} (its "
                         f"parameters: {sorted(valid)})")
    given = {k: v for k, v in params.items() if not (v is None and k in (unsaved or ()))}
    try:
        est(**given)._validate()
    except (TypeError, ValueError) as exc:
        raise _bad(path, f"invalid hyperparameters: {exc}") from None


def load_model(path: str, *, backend: str | None = None):
    """Load a model saved by :func:`save_model` (or ``Model.save``).

    Raises
    ------
    mli.errors.ModelFormatError
        Missing directory or metadata, invalid JSON, wrong format or version, unknown model
        class, missing or tampered array file, wrong dtype/shape, object arrays.
    """
    path = fs._check_path(path)
    meta = read_metadata(path, backend=backend)
    cls = get_model_class(meta["class"])
    if meta.get("mli_version") != __version__:
        log.info("loading a model saved by mli %s with mli %s", meta.get("mli_version"),
                 __version__)
    want_arrays = list(cls._saved_arrays())
    want_attrs = list(cls._saved_attributes())
    defaults = cls._attribute_defaults()
    for kind, want, have in (("array", want_arrays, meta["arrays"]),
                             ("attribute", want_attrs, meta["attributes"])):
        missing = [n for n in want if n not in have and n not in defaults]
        extra = [n for n in have if n not in want]
        if missing:
            raise _bad(path, f"{kind}s {missing} of {cls.__name__} are missing from the metadata")
        if extra:
            raise _bad(path, f"unexpected {kind}s {extra} for {cls.__name__} in the metadata")
    state: dict[str, Any] = {}
    for name in want_arrays:
        if not _NAME_RE.match(name):
            raise _bad(path, f"invalid array name {name!r}")
        if name not in meta["arrays"]:  # saved before the array existed
            state[name] = defaults[name]
            continue
        state[name] = _load_array(path, name, meta["arrays"][name], backend)
        _check_finite_array(path, cls, name, state[name])
    for name in want_attrs:
        if name not in meta["attributes"]:  # saved before the attribute existed
            state[name] = defaults[name]
            continue
        state[name] = decode_value(meta["attributes"][name])
    params = decode_value(meta["params"])
    if not isinstance(params, dict):
        raise _bad(path, "'params' must decode to a JSON object")
    algorithm = meta.get("algorithm")
    if algorithm is not None:
        if not isinstance(algorithm, str):
            raise _bad(path, "'algorithm' must be a registry key (a string)")
        _check_params(path, algorithm, params, meta.get("unsaved_params", []))
        state["_algorithm"] = algorithm
    unsaved = meta.get("unsaved_params", [])
    if not isinstance(unsaved, list):
        raise _bad(path, "'unsaved_params' must be a list")
    for name in unsaved:
        if isinstance(name, str):
            params.setdefault(name, None)
    try:
        model = cls._from_state(state, params=params)
    except ModelFormatError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise _bad(path, f"the saved state does not make a valid {cls.__name__}: {exc}") from None
    log.info("loaded %s from %s", cls.__name__, path)
    return model
