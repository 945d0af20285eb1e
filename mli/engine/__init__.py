"""Layer 2, the execution engine: Spark, and the blocks of numeric data the tasks keep.

* :mod:`~mli.engine.context` -- :class:`MLContext`, a lazily started SparkSession (classic or
  Spark Connect);
* :mod:`~mli.engine.blocks` -- resident blocks (``BlockRDD``), written once where the tasks
  run, read by every pass; :mod:`~mli.engine.pagepool` recycles their memory;
* :mod:`~mli.engine.gang` -- gang runs: a whole iterative algorithm in one barrier-stage job,
  its passes all-reduced over TCP (:mod:`~mli.engine.collective`);
* :mod:`~mli.engine.onepass` -- one pass over data that is not resident;
* :mod:`~mli.engine.fs` -- local and Hadoop file systems, for saved models.

The engine knows LocalMatrix and nothing above it: no tables, models or algorithms.
"""
from mli.engine import gang as _gang  # noqa: F401 - installs the runner of passes over blocks
from mli.engine.context import MLContext, get_context

__all__ = ["MLContext", "get_context"]
