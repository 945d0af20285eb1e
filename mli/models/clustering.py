"""Initial centers for centroid-based clustering, independent of the partitioning.

:func:`initial_centers` picks ``k`` rows of distributed data as starting centers:

* ``"random"``: ``k`` distinct rows drawn uniformly;
* ``"k-means||"`` (Bahmani et al., "Scalable k-means++", VLDB 2012): a uniformly random
  first center, then rounds that each sample every point with probability
  ``min(1, l d^2(x) / phi)`` (``l`` the oversampling factor, ``2k`` by default, ``phi`` the
  cost of the current candidates), one pass per round; the candidates, weighted by the
  number of points closest to them, are reduced to ``k`` centers on the driver (weighted
  k-means++ and Lloyd, as Spark's ``LocalKMeans``).

The samples depend only on the seed and the rows' global positions (:mod:`mli.table.sampling`):
any partitioning gives the same centers. Used by :class:`~mli.algorithms.KMeans`; any
method that starts from centers (k-means variants, Gaussian mixtures, vector quantization,
radial basis features) can seed with it::

    centers = initial_centers(data.blocks, k=10, seed=0)     # (10, d) on the driver
"""
from __future__ import annotations

import itertools

import numpy as np

from mli.models.clustering_kernels import local_kmeans, sample_candidates, weighted_sample

from mli.table.sampling import resolve_seed, row_offsets, take_rows

__all__ = ["initial_centers", "INIT_METHODS", "ROUNDS"]

#: the methods of :func:`initial_centers`
INIT_METHODS = ("k-means||", "random")

#: k-means|| sampling rounds by default (Spark's ``initSteps``)
ROUNDS = 2


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def initial_centers(blocks, k: int, method: str = "k-means||", seed: int | None = None, *,
                    rounds: int = ROUNDS, oversampling: float | None = None,
                    offsets: np.ndarray | None = None, weighted: bool = False) -> np.ndarray:
    """``k`` initial centers of the rows of ``blocks``, dense ``(k, d)``, on the driver.

    Parameters
    ----------
    blocks : BlockRDD
        Blocks of rows: ``(X, y)`` bundles (the labels are ignored) or matrices.
    k : int >= 1
        Number of centers.
    method : {"k-means||", "random"}, default "k-means||"
        "random": one pass, ``k`` distinct rows drawn uniformly. "k-means||": one pass per
        round (at least ``rounds + 1``), then a weighted k-means++ on the driver.
    seed : int, optional
        Seeds both methods (None: a fresh one).
    rounds : int >= 1, default :data:`ROUNDS`
        k-means|| sampling rounds (more while fewer than ``k`` distinct candidates).
    oversampling : float > 0, optional
        k-means||'s expected number of points sampled per round (``l``; default ``2 k``).
    offsets : ndarray, optional
        :func:`mli.table.sampling.row_offsets` of ``blocks``, if already known.
    weighted : bool, default False
        The blocks are ``(X, y, w)`` bundles whose rows count ``w`` times: rows are drawn
        with probabilities proportional to their weights (one more pass), never a row of
        weight 0.

    Returns
    -------
    ndarray of shape (k, d)

    Raises
    ------
    ValueError
        Bad ``k``, ``method``, ``rounds`` or ``oversampling``; ``k`` larger than the number
        of rows, or (k-means||) than the number of distinct points.

    Examples
    --------
    >>> C = initial_centers(data.blocks, 3, seed=0)           # doctest: +SKIP
    >>> C.shape
    (3, 4)
    """
    k, rounds = _check_int("k", k, 1), _check_int("rounds", rounds, 1)
    if method not in INIT_METHODS:
        raise ValueError(f"method must be one of {list(INIT_METHODS)}, got {method!r}")
    ell = 2.0 * k if oversampling is None else oversampling
    if isinstance(ell, bool) or not isinstance(ell, (int, float, np.number)) \
            or not np.isfinite(ell) or ell <= 0:
        raise ValueError(f"oversampling must be a finite number > 0, got {oversampling!r}")
    offsets = row_offsets(blocks) if offsets is None else np.asarray(offsets, dtype=np.int64)
    n = int(offsets[-1])
    if n < k:
        raise ValueError(f"k={k} is larger than the number of rows ({n})")
    rng = np.random.default_rng(seed := resolve_seed(seed))
    if weighted:
        first = _weighted_rows(blocks, k if method == "random" else 1, seed, offsets)
        if method == "random":
            return first
    elif method == "random":
        return take_rows(blocks, rng.choice(n, k, replace=False), offsets)
    else:
        first = take_rows(blocks, [rng.integers(n)], offsets)
    return _kmeans_parallel(blocks, k, first, seed, offsets, rounds, float(ell))


def _weighted_rows(blocks, k, seed, offsets):
    """``k`` rows drawn without replacement with probabilities proportional to their
    weights, in one pass (:func:`~mli.models.clustering_kernels.weighted_sample`)."""
    parts = blocks.map_collect(weighted_sample, seed * 1_000_003, offsets, k, with_index=True)
    keys, rows = np.concatenate([p[0] for p in parts]), np.vstack([p[1] for p in parts])
    if np.count_nonzero(keys > -np.inf) < k:
        raise ValueError(f"k={k} is larger than the number of rows with a weight > 0 "
                         f"({np.count_nonzero(keys > -np.inf)})")
    return rows[np.argsort(-keys, kind="stable")[:k]]


def _kmeans_parallel(blocks, k, C, seed, offsets, rounds, ell):
    """k-means|| from the first center ``C`` (1, d)."""
    for rnd in itertools.count(1):
        out = blocks.map_collect(sample_candidates, C, seed * 1_000_003 + rnd, offsets,
                                 int(3 * ell) + 10, with_index=True)
        phi, weights = sum(o[0] for o in out), sum(o[1] for o in out)
        if phi == 0 or (rnd > rounds and len(C) >= k):
            break
        keys, rows = np.concatenate([o[2] for o in out]), np.vstack([o[3] for o in out])
        before = len(C)
        C = np.unique(np.vstack([C, rows[keys > phi / ell]]), axis=0)
        if rnd > rounds and len(C) == before:
            break  # nothing new: phi is rounding noise of points equal to the candidates
    if len(C) < k:
        raise ValueError(f"k={k} is larger than the number of distinct points ({len(C)})")
    return local_kmeans(C, weights, k, seed)
