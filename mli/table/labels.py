"""Class labels for classifiers: find the classes in one pass, re-encode them once.

Shared by every classifier: ``classes = find_classes(data)`` (sorted distinct labels, one
Spark job), ``encode(data, classes)`` (resident blocks with labels 0..K-1, derived once and
kept; labels already equal to 0..K-1 are used as they are).
"""
from __future__ import annotations

import functools

import numpy as np

from mli.table.mltable import LabeledData

__all__ = ["find_classes", "encode", "check_class_labels", "check_class_weights"]

MAX_CLASSES = 10_000


def _unique(bundle):
    y = bundle[1]
    return np.unique(np.asarray(y))


def _union(a, b):
    out = np.union1d(a, b)
    if len(out) > MAX_CLASSES:
        raise ValueError(f"more than {MAX_CLASSES} distinct labels: is the label column "
                         "continuous? (classifiers need class labels)")
    return out


def find_classes(data: LabeledData, owner: str = "classifier", *, min_classes: int = 2,
                 max_classes: int | None = None) -> np.ndarray:
    """Sorted distinct labels (one pass). Raises ValueError for a single class or no labels."""
    parts = data.blocks.map_collect(_has_labels)
    if not all(parts):
        raise ValueError(f"{owner} needs labels: pass y (arrays) or label='column' (tables)")
    if data.weighted:
        totals = data.blocks.map_reduce(_class_weights, combine=_add_weights)
        classes = check_class_labels(sorted(totals), owner)
        check_class_weights(classes, [totals[c] for c in classes], owner)
    else:
        classes = check_class_labels(data.blocks.map_reduce(_unique, combine=_union), owner)
    if len(classes) < min_classes:
        raise ValueError(f"{owner} needs at least {min_classes} classes in the labels, got "
                         f"{len(classes)} ({classes.tolist()})")
    if max_classes is not None and len(classes) > max_classes:
        raise ValueError(f"{owner} supports at most {max_classes} classes, got {len(classes)} "
                         f"({classes.tolist()[:10]}{' ...' if len(classes) > 10 else ''})")
    return classes


def check_class_labels(classes, owner: str = "classifier") -> np.ndarray:
    """The distinct labels as float64, or ValueError when they look continuous: some are
    not whole numbers (scikit-learn's ``type_of_target`` says "continuous" there too).
    Without it a continuous target would silently become a model with a class per value."""
    classes = np.asarray(classes, dtype=np.float64)
    fractional = classes[classes != np.round(classes)]
    if len(fractional):
        raise ValueError(f"{owner} needs class labels, but the label looks continuous: "
                         f"{len(fractional)} of its {len(classes)} distinct values are not "
                         f"whole numbers (e.g. {fractional[0]:g}). Use a regressor for a "
                         "continuous target, or encode the classes as integers")
    return classes


def check_class_weights(classes, totals, owner: str = "classifier") -> None:
    """ValueError naming the first class whose rows all have weight 0 (its model would
    be undefined: a log-prior or intercept of minus infinity)."""
    for c, t in zip(classes, totals):
        if not t > 0:
            raise ValueError(f"{owner}: every row of class {c:g} has sample_weight 0; drop "
                             "those rows or give them a weight > 0")


def _class_weights(bundle):
    y, w = np.asarray(bundle[1]), bundle[2]
    classes, idx = np.unique(y, return_inverse=True)
    sums = np.bincount(idx.ravel(), weights=w, minlength=len(classes))
    return dict(zip(classes.tolist(), sums.tolist()))


def _add_weights(a, b):
    out = dict(a)
    for c, v in b.items():
        out[c] = out.get(c, 0.0) + v
    if len(out) > MAX_CLASSES:
        raise ValueError(f"more than {MAX_CLASSES} distinct labels: is the label column "
                         "continuous? (classifiers need class labels)")
    return out


def _has_labels(bundle):
    return bundle[1] is not None


def _encode_block(classes, bundle):
    X, y, *w = bundle  # (X, y) or (X, y, weights)
    return (X, np.searchsorted(classes, np.asarray(y)).astype(np.float64), *w)


def encode(data: LabeledData, classes: np.ndarray) -> LabeledData:
    """Blocks with labels replaced by their class index 0..K-1 (derived once, resident)."""
    if np.array_equal(classes, np.arange(len(classes), dtype=np.float64)):
        return data
    return data.derive(functools.partial(_encode_block, np.asarray(classes)), name="encoded")
