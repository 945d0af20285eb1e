"""Randomness and row access that do not depend on how the rows are partitioned.

A row is identified by its global position (partition offsets + position in the block), and
its random numbers by ``(seed, global position)`` through a counter-based hash, so a
sample, a bootstrap or a random initialization is the same for 1 or 100 partitions. Used by
:class:`~mli.algorithms.KMeans` (k-means|| sampling, random initial centers)::

    offsets = row_offsets(data.blocks)                       # no extra job once resident
    rows = take_rows(data.blocks, [3, 17, 42], offsets)      # one job: rows on the driver

    def per_partition(index, bundle, seed, offsets):         # inside a map_reduce/map_collect
        u = row_uniforms(seed, offsets, index)               # one uniform per row
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .table import _splitmix_uniform

__all__ = ["row_offsets", "row_uniforms", "take_rows", "dense_rows", "resolve_seed"]


def resolve_seed(seed) -> int:
    """``seed`` as given, or a fresh random one for ``None`` (record it to reproduce a fit)."""
    return int(np.random.SeedSequence().entropy % 2**31) if seed is None else int(seed)


def row_offsets(blocks) -> np.ndarray:
    """``offsets[p]``: the global position of partition ``p``'s first row; ``offsets[-1]``
    is the number of rows."""
    return np.cumsum([0] + list(blocks.partition_rows)).astype(np.int64)


def row_uniforms(seed: int, offsets, index: int) -> np.ndarray:
    """Uniform numbers in ``[0, 1)``, one per row of partition ``index``, depending only on
    ``seed`` and the rows' global positions."""
    return _splitmix_uniform(int(seed), np.arange(offsets[index], offsets[index + 1]))


def dense_rows(X) -> np.ndarray:
    """Rows of a block (ndarray, sparse matrix or LocalMatrix) as a dense float64 array."""
    X = getattr(X, "array", X)
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def _rows_at(index, bundle, offsets, wanted):
    mine = wanted[(wanted >= offsets[index]) & (wanted < offsets[index + 1])]
    X = bundle[0] if isinstance(bundle, tuple) else bundle
    return dense_rows(getattr(X, "array", X)[mine - offsets[index]])


def take_rows(blocks, positions, offsets=None) -> np.ndarray:
    """The rows at the given global positions (in increasing order), dense, on the driver
    (one job). Bundles are ``(X, y)`` pairs or matrices."""
    offsets = row_offsets(blocks) if offsets is None else offsets
    wanted = np.unique(np.asarray(positions, dtype=np.int64))
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= offsets[-1]):
        raise IndexError(f"row positions must be in [0, {offsets[-1]}), got {positions!r}")
    return np.vstack(blocks.map_collect(_rows_at, offsets, wanted, with_index=True))
