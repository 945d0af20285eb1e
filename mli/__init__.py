"""mli: distributed machine learning on Apache Spark, in the spirit of Berkeley's MLI.

Public names: :class:`MLContext`, :class:`MLTable`, :class:`LocalMatrix`,
:class:`Algorithm`, :class:`Model`, :func:`load`; optimizers live in :mod:`mli.optimize`,
algorithms in :mod:`mli.algorithms`, featurizers in :mod:`mli.featurize`.
"""
import logging as _logging

__version__ = "0.1.0"

_logging.getLogger("mli").addHandler(_logging.NullHandler())

from .context import MLContext, get_context  # noqa: E402
from .localmatrix import LocalMatrix  # noqa: E402
from .table import MLTable  # noqa: E402
from .base import Algorithm, Model, load  # noqa: E402

__all__ = ["MLContext", "MLTable", "LocalMatrix", "Algorithm", "Model", "load", "get_context",
           "__version__"]
