"""mli: distributed machine learning on Apache Spark, in the spirit of Berkeley's MLI.

Public names: :class:`MLContext`, :class:`MLTable`, :class:`LocalMatrix`,
:class:`Algorithm`, :class:`Model`, :func:`load`; optimizers live in :mod:`mli.optimize`,
algorithms in :mod:`mli.algorithms`, featurizers in :mod:`mli.featurize`.
"""
import logging as _logging

from mli._version import __version__  # noqa: E402

_logging.getLogger("mli").addHandler(_logging.NullHandler())

from mli.engine import MLContext, get_context  # noqa: E402
from mli.linalg import LocalMatrix  # noqa: E402
from mli.table import MLTable  # noqa: E402
from mli.core import Algorithm, Model, load  # noqa: E402

__all__ = ["MLContext", "MLTable", "LocalMatrix", "Algorithm", "Model", "load", "get_context",
           "__version__"]
