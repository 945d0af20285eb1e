"""How a PipelineModel is saved: its stages packed into one float and one int array plus a
JSON description (fitted transformers by their constructor parameters, models by their
saved arrays and attributes), and unpacked on load by registry keys."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from mli.core import persist
from mli.core import registry
from mli.core.base import Algorithm, Model
from mli.errors import ModelFormatError
from mli.pipeline.stages import Stages, Transformer

__all__ = ["Pools", "pack_stage", "unpack_stage", "describe_unfitted", "rebuild_unfitted",
           "QuietUnsavedParams"]

log = logging.getLogger(__name__)


def _transformer_class(key: str) -> type:
    cls = registry.lookup("transformer", key)
    if cls is None:
        raise ModelFormatError(f"unknown pipeline stage class {key!r}: import the module that "
                               "defines it before loading")
    return cls


class Pools:
    def __init__(self):
        self.f: list[np.ndarray] = []
        self.i: list[np.ndarray] = []
        self.nf = 0
        self.ni = 0

    def put(self, arr: np.ndarray) -> dict:
        arr = np.asarray(arr)
        kind = arr.dtype.kind
        ref = {"dtype": arr.dtype.str, "shape": list(arr.shape)}
        flat = arr.ravel()
        if kind == "f":
            ref.update(pool="f", offset=self.nf, size=flat.size)
            self.f.append(flat.astype(np.float64))
            self.nf += flat.size
        elif kind in "biu":
            if arr.dtype.itemsize == 8 and kind == "u":
                vals = flat.view(np.int64)
            else:
                vals = flat.astype(np.int64)
            ref.update(pool="i", offset=self.ni, size=flat.size)
            self.i.append(vals)
            self.ni += flat.size
        elif kind in "US":
            width = arr.dtype.itemsize // (4 if kind == "U" else 1)
            code = np.ascontiguousarray(flat).view(np.uint32 if kind == "U" else np.uint8)
            ref.update(pool="i", offset=self.ni, size=code.size, width=width)
            self.i.append(code.astype(np.int64))
            self.ni += code.size
        else:
            raise TypeError(f"cannot save an array of dtype {arr.dtype} in a pipeline")
        return ref

    def arrays(self):
        f = np.concatenate(self.f) if self.f else np.zeros(0)
        i = np.concatenate(self.i) if self.i else np.zeros(0, dtype=np.int64)
        return f, i


def _take(ref: dict, fpool: np.ndarray, ipool: np.ndarray) -> np.ndarray:
    dtype = np.dtype(ref["dtype"])
    off, size = int(ref["offset"]), int(ref["size"])
    shape = tuple(int(s) for s in ref["shape"])
    if ref["pool"] == "f":
        return fpool[off:off + size].astype(dtype).reshape(shape)
    vals = ipool[off:off + size]
    if dtype.kind in "US":
        code = vals.astype(np.uint32 if dtype.kind == "U" else np.uint8)
        return code.view(dtype).reshape(shape).copy()
    if dtype.kind == "u" and dtype.itemsize == 8:
        return vals.view(np.uint64).astype(dtype).reshape(shape)
    return vals.astype(dtype).reshape(shape)


def _encode_params(params: dict, pools: Pools) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.ndarray) and v.dtype.kind in "biufUS":
            out[k] = {"__array__": pools.put(v)}
        else:
            try:
                out[k] = {"__json__": persist.encode_value(v)}
            except TypeError:
                out[k] = {"__json__": None}
    return out


def _decode_params(enc: dict, fpool, ipool) -> dict:
    out = {}
    for k, v in enc.items():
        if "__array__" in v:
            out[k] = _take(v["__array__"], fpool, ipool)
        else:
            out[k] = persist.decode_value(v["__json__"])
    return out


def pack_stage(obj: Any, pools: Pools) -> dict:
    if isinstance(obj, Transformer):
        return {"kind": "transformer", "class": registry.key_of(type(obj)),
                "params": _encode_params(obj.get_params(), pools)}
    if isinstance(obj, Model):
        cls = type(obj)
        arrays = {}
        for name in cls._saved_arrays():
            a = getattr(obj, name, None)
            arrays[name] = None if a is None else pools.put(a)
        attrs = {name: persist.encode_value(getattr(obj, name, None))
                 for name in cls._saved_attributes()}
        params = {}
        for k, v in (obj.params or {}).items():
            try:
                params[k] = persist.encode_value(v)
            except TypeError:
                params[k] = None
        return {"kind": "model", "class": registry.key_of(cls), "params": params,
                "attributes": attrs, "arrays": arrays}
    raise TypeError(f"cannot save pipeline stage {type(obj).__name__}")


def unpack_stage(spec: dict, fpool, ipool) -> Any:
    if spec["kind"] == "transformer":
        cls = _transformer_class(spec["class"])
        return cls(**_decode_params(spec["params"], fpool, ipool))
    cls = persist.get_model_class(spec["class"])
    state = {name: persist.decode_value(v) for name, v in spec["attributes"].items()}
    for name, ref in spec["arrays"].items():
        state[name] = None if ref is None else _take(ref, fpool, ipool)
    return cls._from_state(state, params=persist.decode_value(spec["params"]))


def describe_unfitted(stages: Stages | None) -> list | None:
    if stages is None:
        return None
    out = []
    for s in stages:
        params = {}
        for k, v in s.get_params().items():
            try:
                params[k] = persist.encode_value(v)
            except TypeError:
                params[k] = None
        out.append({"class": registry.key_of(type(s)), "algorithm": isinstance(s, Algorithm), "params": params})
    return out


def rebuild_unfitted(desc: list | None) -> Stages | None:
    if desc is None:
        return None
    try:
        out = []
        for d in desc:
            params = persist.decode_value(d["params"])
            kinds = ("algorithm",) if d.get("algorithm") else ("transformer", "estimator")
            cls = next((c for c in (registry.lookup(k, d["class"]) for k in kinds)
                        if c is not None), None)
            if cls is None:
                return None
            out.append(cls(**params))
        return Stages(out)
    except Exception as exc:  # noqa: BLE001 - params are informative only
        log.info("could not rebuild the pipeline's parameters: %s", exc)
        return None


class QuietUnsavedParams(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "have no JSON form" not in record.getMessage()
