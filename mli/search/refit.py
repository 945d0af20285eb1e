"""``search(..., refit=True)``: the best configuration trained again on every row."""
from __future__ import annotations

import numpy as np

__all__ = ["refit_best"]


def refit_best(result, cls: type, data, y, validation, sample_weight, label, task: str):
    """``result`` with the best configuration retrained on the training and validation rows."""
    import warnings

    from mli.errors import ConvergenceWarning

    with warnings.catch_warnings():  # (its passes are the search's choice, not a failure)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _refit(result, cls, data, y, validation, sample_weight, label, task)


def _refit(result, cls, data, y, validation, sample_weight, label, task):
    import dataclasses

    import scipy.sparse as sp

    algo = cls(**result.best_model.params)
    separate = not isinstance(validation, (int, float)) or isinstance(validation, bool)
    if task == "recommendation":
        if separate:
            from mli.algorithms.als.ratings import read_triples

            names = (algo.user_col, algo.item_col, algo.rating_col)
            both = [np.column_stack(read_triples(d, names)) for d in (data, validation)]
            data = np.vstack(both)
        model = algo.fit(data)
    elif separate:
        if not (isinstance(data, np.ndarray) or sp.issparse(data)):
            raise ValueError("refit=True with separate validation data needs array data (it "
                             "stacks the two); refit the best configuration yourself: "
                             "type(result.best_model) params are result.best_model.params")
        Xv, yv = validation
        X = sp.vstack([data, Xv]).tocsr() if sp.issparse(data) else np.vstack([data, Xv])
        model = algo.fit(X, np.concatenate([np.asarray(y), np.asarray(yv)]))
    elif isinstance(data, np.ndarray) or sp.issparse(data) or isinstance(data, list):
        model = algo.fit(data, y, sample_weight=sample_weight)
    else:
        model = algo.fit(data, label=label, sample_weight=sample_weight)
    return dataclasses.replace(result, best_model=model)
