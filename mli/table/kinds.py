"""What kind of input a value is: the one place mli tells the kinds of data apart.

Every entry point that accepts "any data" -- ``Algorithm.fit``, ``Model.predict``,
``MLTable.from_data``, pipelines, ALS -- asks :func:`input_kind` and dispatches on the
answer, so a new kind (or a change in how pyspark or pandas names its classes) is handled
here once. mli's own classes say their kind with a class attribute ``_mli_kind``; other
libraries' classes are recognized by module and name, without importing the library.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["input_kind", "KINDS"]

#: the kinds :func:`input_kind` returns
KINDS = ("mltable", "labeled", "localmatrix", "connect", "spark", "pandas", "series",
         "sparse", "array", "text", "none", "other")


def input_kind(data: Any) -> str:
    """The kind of ``data``, one of :data:`KINDS`:

    * ``"mltable"``, ``"labeled"``, ``"localmatrix"`` -- mli's MLTable, LabeledData and
      LocalMatrix;
    * ``"connect"`` / ``"spark"`` -- a Spark Connect / a classic Spark DataFrame;
    * ``"pandas"`` / ``"series"`` -- a pandas DataFrame / Series;
    * ``"sparse"`` -- a scipy sparse matrix or array; ``"array"`` -- a numpy array;
    * ``"text"`` -- a ``str``; ``"none"`` -- None; ``"other"`` -- anything else (lists,
      tuples, iterables: what a caller may still turn into an array or records).

    >>> input_kind(np.zeros((2, 2))), input_kind("a text"), input_kind([1, 2])
    ('array', 'text', 'other')
    """
    own = getattr(type(data), "_mli_kind", None)
    if own is not None:
        return own
    if data is None:
        return "none"
    if isinstance(data, str):
        return "text"
    if isinstance(data, np.ndarray):
        return "array"
    if sp.issparse(data):
        return "sparse"
    cls = type(data)
    module, name = cls.__module__, cls.__name__
    if name == "DataFrame" and module.startswith("pyspark.sql.connect"):
        return "connect"
    if name == "DataFrame" and module.startswith("pyspark.sql"):
        return "spark"
    if module.startswith("pandas"):
        if name == "DataFrame":
            return "pandas"
        if name == "Series":
            return "series"
    return "other"

