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

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["row_offsets", "row_uniforms", "take_rows", "dense_rows", "resolve_seed",
           "splitmix_uniform", "mix64", "GOLDEN"]

GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment: 2**64 / golden ratio


@numba.njit(cache=True)
def mix64(z):
    """splitmix64's finalizer (Steele, Lea, Flood 2014): a bijection of uint64 whose outputs
    look independent for consecutive inputs. The one hash of mli's counter-based randomness
    (row sampling here, ALS's initial factors); takes a uint64 or an array of them, and
    works inside numba kernels."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def splitmix_uniform(seed: int, idx: np.ndarray) -> np.ndarray:
    """Uniform [0,1) numbers that depend only on (seed, global row index)."""
    with np.errstate(over="ignore"):
        z = idx.astype(np.uint64) + np.uint64((seed * GOLDEN) % (1 << 64))
        z = z + np.uint64(GOLDEN)
    return (mix64(z) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


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
    return splitmix_uniform(int(seed), np.arange(offsets[index], offsets[index + 1]))


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
