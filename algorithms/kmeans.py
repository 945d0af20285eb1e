"""k-means clustering: k-means|| initialization, then Lloyd iterations.

Initialization: :func:`mli.models.clustering.initial_centers` (k-means||, Bahmani et al.,
"Scalable k-means++", VLDB 2012: 2 sampling rounds with oversampling ``2k``, then a weighted
k-means++ on the driver; or ``k`` random rows). The samples depend only on the seed and the
rows' global positions: any partitioning gives the same centers. Lloyd: one pass per
iteration (per partition, the sums and counts of the points nearest to each center, and the
cost) with a numba kernel for dense and CSR blocks. Stops when the centers moved by at most
``tol`` times the data's mean feature variance (squared distances summed over the centers,
as scikit-learn).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mli.errors import warn_not_converged
from mli.engine import gang
from mli.core.base import Algorithm, Model
from mli.models.clustering import INIT_METHODS, initial_centers
from mli.optimize.base import Tracker
from mli.core.params import Interval, Options, Param
from mli.table.sampling import resolve_seed

from mli.models.clustering_kernels import (lloyd_stats, lloyd_stats_many, nearest, total_cost,
                                          total_cost_many)

__all__ = ["KMeans", "KMeansModel"]


class KMeans(Algorithm):
    """k-means (Lloyd's algorithm) with k-means|| or random initialization.

    Parameters
    ----------
    k : int
        Number of clusters.
    max_iter : int, default 20
        Maximum Lloyd iterations (one pass each).
    init : {"k-means||", "random"}, default "k-means||"
        "random": ``k`` distinct rows drawn uniformly.
    tol : float, default 1e-4
        Stop when ``sum ||c_new - c_old||^2 <= tol * mean feature variance``.
    seed : int, optional
        Seed of the initialization (None: a fresh one).
    callback : callable, optional
        ``callback(iteration, cost, seconds)`` after every Lloyd iteration, with the cost of
        the centers the iteration started from (the model's centers, updated by it, cost
        no more); ``True`` stops.

    Notes
    -----
    With ``sample_weight`` a row of weight ``w`` counts ``w`` times: in the initial sampling,
    the centers (weighted means) and the cost. A center left without points keeps its
    position. ``k`` larger than the number of rows,
    or (with "k-means||") than the number of distinct points, raises ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import KMeans
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> model = KMeans(k=2, seed=0).fit(X)                     # doctest: +SKIP
    >>> model.predict(X), round(model.cost, 3)                 # doctest: +SKIP
    (array([0, 0, 1, 1]), 0.01)
    """

    _weights = True  # weighted sampling, centers and cost
    k = Param(constraint=Interval(int, 1, None, closed="left"))
    max_iter = Param(20, Interval(int, 1, None, closed="left"))
    init = Param("k-means||", Options(set(INIT_METHODS)))
    tol = Param(1e-4, Interval(float, 0, None, closed="left"))
    seed = Param(None, [None, Interval(int, 0, None, closed="left")])
    callback = Param(None, [None, "callable"])

    def _fit(self, data):
        # local mode: initialization and iterations in one Spark job (mli.engine.gang)
        centers, cost, n_iter, converged = gang.execute(
            data.blocks, _lloyd, self.k, self.init, resolve_seed(self.seed), self.max_iter,
            self.tol, data.weighted, callback=self.callback)
        if not converged and n_iter == self.max_iter:
            warn_not_converged(type(self).__name__, n_iter, self.max_iter,
                               "the centers still moved more than tol")
        return KMeansModel(centers, cost, n_iter, converged)

    # -- partial fits (the ML Optimizer, mli.search, task "clustering"): a configuration's
    # state is its centers, and the configurations of one k iterate in the same passes
    _resumable = True
    _task = "clustering"
    _partial_restarts = True  # (each configuration its own seed: the search's restarts)

    def _partial_setup(self, data):
        return data

    def _partial_key(self):
        return (KMeans, int(self.k))

    @classmethod
    def _partial_fit_many(cls, data, algorithms, states, passes: int) -> list:
        members = [(int(a.k), a.init, resolve_seed(a.seed), float(a.tol)) for a in algorithms]
        try:
            return gang.execute(data.blocks, _lloyd_many, members, list(states), int(passes),
                                data.weighted)
        except ValueError as exc:  # (k larger than the rows...: every member fails)
            return [exc] * len(algorithms)

    def _partial_model(self, data, state: "LloydState") -> "KMeansModel":
        return KMeansModel(state.centers, state.cost, state.n_iter, state.converged)


def _lloyd(blocks, k, init, seed, max_iter, tol, weighted, callback):
    C = initial_centers(blocks, k, init, seed, weighted=weighted)
    track = Tracker("KMeans", callback)
    for it in range(1, max_iter + 1):
        sums, counts, cost, sqsum = blocks.map_reduce(lloyd_stats, C)
        C, converged = _lloyd_step(C, sums, counts, sqsum, tol)
        if track(it, cost) or converged:
            break
    return C, blocks.map_reduce(total_cost, C), it, converged


def _lloyd_step(C, sums, counts, sqsum, tol):
    """The new centers (the means of their points; an empty one stays) and whether they
    moved by at most ``tol`` times the mean feature variance."""
    n = counts.sum()
    new = np.where(counts[:, None] > 0, sums / np.where(counts > 0, counts, 1.0)[:, None], C)
    var = (sqsum / n - np.sum((counts @ new / n) ** 2)) / C.shape[1]
    return new, float(((new - C) ** 2).sum()) <= tol * var


class LloydState(NamedTuple):
    """Where a k-means fit stands (a search's state): the centers, the iterations made,
    whether they converged, their training cost."""

    centers: np.ndarray
    n_iter: int
    converged: bool
    cost: float


def _lloyd_many(blocks, members, states, passes, weighted, callback=None):
    """``passes`` Lloyd iterations of every member ``(k, init, seed, tol)`` from its state
    (None: initialized first): one pass per iteration computes every member's statistics
    (their centers in one matrix product), then one pass their costs. A converged member
    stops, as :func:`_lloyd` does."""
    cur = [LloydState(initial_centers(blocks, k, init, seed, weighted=weighted), 0, False, 0.0)
           if st is None else st for (k, init, seed, _tol), st in zip(members, states)]
    for _ in range(passes):
        live = [j for j, st in enumerate(cur) if not st.converged]
        if not live:
            break
        stats = blocks.map_reduce(lloyd_stats_many, [cur[j].centers for j in live])
        for j, (sums, counts, _cost, sqsum) in zip(live, stats):
            C, converged = _lloyd_step(cur[j].centers, sums, counts, sqsum, members[j][3])
            cur[j] = LloydState(C, cur[j].n_iter + 1, converged, 0.0)
    costs = blocks.map_reduce(total_cost_many, [st.centers for st in cur])
    return [st._replace(cost=c) for st, c in zip(cur, costs)]


class KMeansModel(Model):
    """A fitted k-means model: ``centers`` (k, d) (also ``cluster_centers_``) and ``cost``
    (also ``inertia_``): the summed squared distances of the training points to their
    nearest center. ``predict`` gives the index of the nearest center."""

    _arrays = ("centers",)
    _attributes = ("cost", "n_iter", "converged")
    _added_attributes = {"converged": None}  # None: saved before it was recorded
    _registry_name = "mli.KMeansModel"

    def __init__(self, centers, cost, n_iter=0, converged=None):
        self.centers = np.asarray(centers, dtype=np.float64)
        self.cost = float(cost)
        self.n_iter = int(n_iter)
        self.converged = None if converged is None else bool(converged)
        super().__init__(n_features=self.centers.shape[1])

    #: Lloyd iterations run (scikit-learn's name)
    n_iter_ = property(lambda self: self.n_iter)
    #: whether the centers settled (shift below ``tol``) before ``max_iter``
    converged_ = property(lambda self: self.converged)

    cluster_centers_ = property(lambda self: self.centers)
    inertia_ = property(lambda self: self.cost)

    def _predict_block(self, X):
        return nearest(X, self.centers)[0]
