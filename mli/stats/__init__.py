"""Layer 4, statistics of blocks of rows in one pass: counts, means, centered second moments,
per class (:mod:`~mli.stats.moments`, numba kernels in :mod:`~mli.stats.kernels`)."""
from mli.stats.moments import *  # noqa: F401,F403
from mli.stats.moments import __all__  # noqa: F401
