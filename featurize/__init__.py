"""Featurizers: pipeline stages turning raw records into features (see :mod:`mli.pipeline`).

``from mli.featurize import Tokenizer, HashingTF, ...``: names are resolved lazily from their
modules, so importing the text stages does not import (or compile kernels of) the image
stages. The modules themselves:

* :mod:`mli.featurize.text` -- ``Tokenizer``, ``StopWords``, ``NGrams``, ``HashingTF``,
  ``CountVectorizer``, ``TFIDF``, ``Normalizer`` (sparse CSR output);
* :mod:`mli.featurize.image` -- image readers and stages (dense output).

The idiom: ``Tokenizer() | NGrams(1, 2) | HashingTF(2**18) | TFIDF() | NaiveBayes()``.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # text
    "Tokenizer": "text",
    "StopWords": "text",
    "NGrams": "text",
    "HashingTF": "text",
    "CountVectorizer": "text",
    "CountVectorizerModel": "text",
    "TFIDF": "text",
    "TFIDFModel": "text",
    "Normalizer": "text",
    "TokenBatch": "text",
    "english_stop_words": "text",
}

# the image module (mli.featurize.image) adds its names here
_IMAGE_EXPORTS: tuple[str, ...] = ()


def _image_names() -> tuple[str, ...]:
    try:
        mod = importlib.import_module(f"{__name__}.image")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.image":
            raise
        return ()
    return tuple(getattr(mod, "__all__", ()))


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        if name.startswith("_") or name not in _image_names():
            raise AttributeError(f"module 'mli.featurize' has no attribute {name!r}")
        module = "image"
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def import_all() -> None:
    """Import every module of the package, so each class registers itself
    (:mod:`mli.core.registry` calls this, as the package's ``mli.registry`` entry point)."""
    for module in sorted(set(_EXPORTS.values()) | {"image"}):
        importlib.import_module(f"{__name__}.{module}")


def __dir__():
    return sorted(set(_EXPORTS) | set(_image_names()))


__all__ = sorted(_EXPORTS)
