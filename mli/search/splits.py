"""The search's data: the training rows and the validation rows it scores on."""
from __future__ import annotations

import numpy as np

__all__ = ["split_labeled", "split_ratings"]


def split_ratings(data, validation, seed: int, names: tuple):
    """``(train Ratings, (users, items, ratings) of the validation rows, [])``: the triples
    (read as ALS reads them, to the driver) split at random rows."""
    from mli.algorithms import ALS
    from mli.algorithms.als.ratings import read_triples

    users, items, ratings = (np.asarray(a) for a in read_triples(data, names))
    als = ALS(user_col=names[0], item_col=names[1], rating_col=names[2])
    if not isinstance(validation, (int, float)) or isinstance(validation, bool):
        vu, vi, vr = (np.asarray(a) for a in read_triples(validation, names))
        train, _ = als._prepare(np.column_stack([users, items, ratings]), None, None)
        return train, (vu, vi, np.asarray(vr, dtype=np.float64)), []
    if not 0.0 < float(validation) < 1.0:
        raise ValueError(f"validation must be a fraction in (0, 1) or validation ratings, "
                         f"got {validation!r}")
    validation = float(validation)
    n_valid = int(round(validation * len(ratings)))
    if n_valid < 1 or n_valid >= len(ratings):
        raise ValueError(f"validation={validation} of {len(ratings)} ratings leaves an empty "
                         "split")
    perm = np.random.default_rng(seed).permutation(len(ratings))
    va, tr = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    train, _ = als._prepare(np.column_stack([users[tr], items[tr], ratings[tr]]), None, None)
    return train, (users[va], items[va], np.asarray(ratings[va], dtype=np.float64)), []


def split_labeled(data, y, label, validation, seed: int, sample_weight,
                  unlabeled: bool = False):
    """``(train, valid, release)``: LabeledData of the training and validation rows
    (``unlabeled``: features only, as clustering takes them)."""
    import scipy.sparse as sp

    from mli.table.mltable import LabeledData, MLTable, as_labeled
    from mli.table.kinds import input_kind

    def labeled(d, yy=None):
        return as_labeled(d, yy, label=label) if sample_weight is None else \
            as_labeled(d, yy, label=label, sample_weight=sample_weight)

    if not isinstance(validation, (float, int)) or isinstance(validation, bool):
        if isinstance(data, (np.ndarray, list)) or sp.issparse(data):
            if not (isinstance(validation, tuple) and len(validation) == 2):
                raise ValueError("with array data, validation is a fraction or an (X, y) "
                                 "pair")
            train, valid = labeled(data, y), as_labeled(validation[0], validation[1])
        else:
            train, valid = labeled(data), as_labeled(validation, label=label)
        if valid.num_features != train.num_features:
            raise ValueError(f"the validation data has {valid.num_features} features, the "
                             f"training data {train.num_features}")
        return train, valid, [train, valid]
    if not 0.0 < float(validation) < 1.0:
        raise ValueError(f"validation must be a fraction in (0, 1) or validation data, got "
                         f"{validation!r}")
    f = float(validation)
    if isinstance(data, LabeledData):
        raise ValueError("prepared training data (LabeledData) cannot be split: pass the "
                         "table or arrays, or validation data")
    if isinstance(data, (np.ndarray, list)) or sp.issparse(data):
        if (y is None) != unlabeled:
            raise ValueError("search needs labels: pass y with array data" if not unlabeled
                             else "clustering takes no labels: pass the features only")
        X = data if sp.issparse(data) else np.asarray(data)
        yy = np.zeros(X.shape[0]) if unlabeled else np.asarray(y)
        if X.shape[0] != len(yy):
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(yy)}")
        if sample_weight is not None and not isinstance(sample_weight, str):
            raise ValueError("with array data and a validation fraction, search takes no "
                             "sample_weight; split the data yourself and pass validation=")
        n_valid = int(round(f * X.shape[0]))
        if n_valid < 1 or n_valid >= X.shape[0]:
            raise ValueError(f"validation={f} of {X.shape[0]} rows leaves an empty split")
        perm = np.random.default_rng(seed).permutation(X.shape[0])
        va, tr = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
        train, valid = ((as_labeled(X[tr]), as_labeled(X[va])) if unlabeled else
                        (as_labeled(X[tr], yy[tr]), as_labeled(X[va], yy[va])))
        return train, valid, [train, valid]
    kind = input_kind(data)
    if unlabeled and label is not None:
        raise ValueError("clustering takes no labels: drop label=")
    if label is None and not unlabeled:
        raise ValueError("search needs the label column of a table: label='column'")
    if kind in ("spark", "connect"):
        parts = data.randomSplit([1.0 - f, f], seed=seed)
    else:
        table = data if isinstance(data, MLTable) else MLTable.from_data(data)
        parts = table.random_split([1.0 - f, f], seed=seed)
    train, valid = labeled(parts[0]), labeled(parts[1])
    if train.num_rows == 0 or valid.num_rows == 0:
        raise ValueError(f"validation={f} leaves an empty split ({train.num_rows} training, "
                         f"{valid.num_rows} validation rows)")
    return train, valid, [train, valid]
