"""Histogram-based decision trees grown level by level on resident blocks.

Shared by :class:`~mli.algorithms.DecisionTree` (one tree, every feature, no bootstrap) and
:class:`~mli.algorithms.RandomForest` (many trees grown together, bootstrap weights,
feature subsets). Training makes these Spark jobs:

1. **sample** (one pass): every partition returns the rows of a seeded sample -- a row is
   kept when a hash of ``(seed, global row index)`` is below ``SAMPLE_ROWS / n``, so the
   sample does not depend on the partitioning (all rows when ``n <= SAMPLE_ROWS``) -- and
   its distinct labels. The driver turns every feature's sampled values into at most
   ``max_bins - 1`` thresholds: the midpoints of adjacent distinct values when there are at
   most ``max_bins`` of them (scikit-learn's thresholds), else midpoints chosen so the bins
   hold about equal counts.
2. **binning** (inside the first pass that needs it, no job of its own): a task bins its
   resident block (uint8/uint16 features, labels as class indices and, for a forest, the
   per-row, per-tree Poisson(1) bootstrap counts drawn from a hash of
   ``(seed, tree, global row index)``) and writes it next to the block, in the node's
   app-scoped Spark directory; later passes memory-map that file (or bin again when it is
   missing: another node, a lost file). The last pass deletes the files (else one cleanup
   job does).
3. **one pass per level** (more when the level's histograms exceed ``HIST_BUDGET``
   entries): every partition routes its rows down the trees grown so far and returns the
   histograms of the nodes being split (:func:`mli.models.tree_kernels.histograms`;
   class counts as int32), summed across partitions by ``map_reduce``. The driver picks
   every node's best split (maximal impurity decrease with at least ``min_samples_leaf``
   rows on each side; a split must decrease the impurity) and records the children's
   statistics, so the leaves of the last level need no extra pass. When a node's children
   have its candidate features (a classification tree: every feature), only the smaller
   child is histogrammed; the other is the parent's histogram minus it (exact counts).
4. **driver finishing**: when gathering the binned rows still reaching an unfinished node
   (at most ``LOCAL_BYTES``) and growing the remaining levels on the driver, with the same
   kernels, is expected to be faster than one pass per remaining level (cost model:
   ``JOB_SECONDS`` per Spark job, ``BYTE_SECONDS`` per byte moved to the driver,
   ``UNIT_SECONDS`` per row and feature histogrammed, the passes' work shared by the
   cores) and they take fewer bytes than the level's histograms would (what a pass moves
   to the driver anyway), one pass gathers them: the data set is split in Spark, small
   nodes are finished on the driver (PLANET's in-memory build), never the whole data.

Thresholds: a row goes left when ``x <= threshold``. When every value of a feature was
seen (at most ``max_bins`` distinct values, all rows sampled) a split gets scikit-learn's
threshold, the midpoint of the node's largest value going left and smallest going right;
otherwise the middle bin edge between the two non-empty bins. See docs/trees.md.

Every quantity is a function of the global row order and the integer counts, so the model
is the same for any number of partitions. A node with no valid split (pure, too small, all
candidate features constant) is a leaf.
"""
from __future__ import annotations

import math
import os
import shutil
import uuid

import numpy as np
import scipy.sparse as sp

from mli.core.base import Algorithm, Model
from mli.engine.blocks import root_dir, load_bundle, save_bundle
from mli.core.params import Interval, Options, Param
from mli.table.labels import check_class_labels
from mli.table.sampling import splitmix_uniform
from mli.models.tree_kernels import (apply as _route, best_splits, bin_features, node_impurity,
                                         equal_count_cuts, histograms)

__all__ = ["TreeAlgorithm", "Growth", "grow_forest_from", "grow_levels",
           "TreeEnsembleModel", "bin_thresholds", "SAMPLE_ROWS",
           "HIST_BUDGET", "LOCAL_BYTES", "JOB_SECONDS", "BYTE_SECONDS", "UNIT_SECONDS"]

SAMPLE_ROWS = 20_000       # rows sampled to place the bin thresholds
HIST_BUDGET = 1 << 23      # histogram entries (float64) per pass; more nodes take more passes
LOCAL_BYTES = 256 << 20    # largest gathering of the remaining rows to the driver
# its cost model, in seconds: a Spark job; moving a byte to the driver; routing a row one
# level down or adding it to one feature's histogram
JOB_SECONDS, BYTE_SECONDS, UNIT_SECONDS = 0.05, 1e-8, 2e-9
MAX_CLASSES = 1000         # more distinct labels than this: a continuous label, most likely
_POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(25)])


def _midpoint(a, b):
    mid = a / 2 + b / 2
    return np.where(mid == b, a, mid)             # as scikit-learn: never the upper value


def bin_thresholds(values, max_bins, weights=None):
    """At most ``max_bins - 1`` split thresholds for one feature's (sampled) values: the
    midpoints of adjacent distinct values, all of them when there are at most ``max_bins``,
    else those cutting the values into bins of about equal counts
    (:func:`~mli.models.tree_kernels.equal_count_cuts`); with ``weights`` (one per value),
    equal weights, values of weight 0 left out."""
    values = np.asarray(values)
    if weights is None:
        v, counts = np.unique(values, return_counts=True)
    else:
        keep = np.asarray(weights) > 0
        v, inv = np.unique(values[keep], return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=np.asarray(weights)[keep], minlength=len(v))
    return _midpoint(v[:-1], v[1:])[equal_count_cuts(counts, max_bins)]


def _dense(A):
    return A.toarray() if sp.issparse(A) else np.asarray(A)


def _sample_part(index, bundle, offsets, frac, seed, classification):
    X, y, *w = bundle
    if y is None:
        raise ValueError("trees need labels: pass y (arrays) or label='column' (tables)")
    keep = splitmix_uniform(seed, np.arange(offsets[index], offsets[index + 1])) < frac
    return (_dense(X.array[keep]).astype(np.float64), np.unique(y) if classification else None,
            w[0][keep] if w else None)


def _bin_part(index, bundle, edges, classes, offsets, n_trees, seed, trees=1):
    X, y, *sw = bundle
    Xb = bin_features(_dense(X.array), edges)
    y = np.searchsorted(classes, y) if classes is not None else y
    w = None
    if n_trees:  # bootstrap: Poisson(1) counts from (seed, tree, global row index)
        rows = np.arange(offsets[index], offsets[index + 1])
        u = np.column_stack([splitmix_uniform(seed * 1_000_003 + t, rows)
                             for t in range(n_trees)])
        w = np.searchsorted(_POISSON_CDF, u, side="right").astype(np.uint8)
    if sw:  # the rows' weights (times their bootstrap counts), one column per tree
        w = sw[0][:, None] * (np.ones((1, trees)) if w is None else w)
    return Xb, np.asarray(y, np.float64), w


def _binned(index, bundle, key, spec, keep=True):
    """The binned bundle of partition ``index``: this node's file of it when an earlier pass
    wrote one, else binned from the resident bundle now (and written for the next passes)."""
    path = os.path.join(root_dir(), f"{key}-p{index:05d}")
    if os.path.exists(os.path.join(path, "tree.json")):
        return load_bundle(path)
    out = _bin_part(index, bundle, *spec)
    if keep:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_bundle(out, path)
    return out


def _drop_part(index, bundle, key):
    shutil.rmtree(os.path.join(root_dir(), f"{key}-p{index:05d}"), ignore_errors=True)


def _hist_part(index, bundle, key, spec, last, tree, slot, sfeat, off, n_classes):
    Xb, y, w = _binned(index, bundle, key, spec)
    hist = histograms(Xb, y, w, *tree, slot, sfeat, off, n_classes)
    if last:
        _drop_part(index, bundle, key)
    # class counts travel as int32: exact, as a count is at most 255 * rows < 2**31
    counts = n_classes and len(y) < 1 << 23 and (w is None or w.dtype == np.uint8)
    return hist.astype(np.int32) if counts else hist


def _sum64(a, b):
    return np.add(a, b, dtype=np.float64)


def _gather_part(index, bundle, key, spec, tree, active):
    """The binned rows of a block that reach an active node (with a non-zero weight)."""
    Xb, y, w = _binned(index, bundle, key, spec, keep=False)
    _drop_part(index, bundle, key)
    keep = active[_route(Xb, *tree)] & (True if w is None else w > 0)
    keep = keep.any(axis=1)
    return Xb[keep], y[keep], None if w is None else w[keep]


def _finish_locally(rows, d, n_trees, k, levels, hist_bytes, partitions, cores):
    """Whether gathering ``rows`` binned rows and growing the last ``levels`` levels on the
    driver is expected to be faster than one pass per level (levels of ``hist_bytes``)."""
    gather = rows * (d + n_trees + 8)
    work = rows * n_trees * (k + levels) * levels * UNIT_SECONDS
    passes = ((levels - 1) * JOB_SECONDS + work / cores
              + levels * hist_bytes * partitions * BYTE_SECONDS)
    # never more than the passes themselves would move to the driver (the level's
    # histograms from every partition): the data is split in Spark, only nodes whose rows
    # are smaller than their histograms are finished on the driver (PLANET's in-memory
    # build), never the whole data set
    moved = hist_bytes * partitions
    return gather <= min(LOCAL_BYTES, moved) and gather * BYTE_SECONDS + work < passes


def _subset_size(max_features, d, classification):
    if max_features == "auto":
        max_features = "sqrt" if classification else "onethird"
    size = {"all": d, "sqrt": math.sqrt(d), "log2": math.log2(max(d, 1)), "onethird": d / 3}
    return max(1, min(d, math.ceil(size.get(max_features, 0) or max_features * d)))


def _prepare_bins(data, max_bins, seed, classification):
    """One pass: a partition-independent row sample and the labels -> bins and classes."""
    offsets = np.cumsum([0] + data.blocks.partition_rows)
    parts = data.blocks.map_collect(_sample_part, offsets, SAMPLE_ROWS / offsets[-1], seed,
                                    classification, with_index=True)
    sample = np.vstack([p[0] for p in parts])
    weights = np.concatenate([p[2] for p in parts]) if data.weighted else None
    edges = [bin_thresholds(col, max_bins, weights) for col in sample.T]
    # every value seen (of a row of weight > 0), one per bin: a split gets the midpoint of
    # the node's values on either side (scikit-learn's threshold); otherwise the middle bin
    # edge of the gap
    seen = sample if weights is None else sample[weights > 0]
    values = [v if len(v) <= max_bins and len(sample) == offsets[-1] else None
              for v in map(np.unique, seen.T)]
    classes = np.unique(np.concatenate([p[1] for p in parts])) if classification else None
    if classification:
        check_class_labels(classes, "a classification tree (task='classification')")
    if classification and len(classes) > MAX_CLASSES:
        raise ValueError(f"{len(classes)} distinct labels (more than {MAX_CLASSES}): is the "
                         "label continuous? (use task='regression')")
    return offsets, edges, values, classes


class TreeAlgorithm(Algorithm):
    """The hyperparameters every tree learner shares (see
    :class:`~mli.algorithms.DecisionTree`); not an algorithm itself."""

    _abstract = True
    _weights = True  # weighted class counts / target moments; min_samples_leaf: leaf weight
    task = Param("classification", Options({"classification", "regression"}))
    max_depth = Param(5, Interval(int, 0, None, closed="left"))
    max_bins = Param(32, Interval(int, 2, 65536, closed="both"))
    min_samples_leaf = Param(1, Interval(int, 1, None, closed="left"))
    impurity = Param("auto", Options({"auto", "gini", "entropy", "variance"}))
    seed = Param(None, [None, Interval(int, 0, None, closed="left")])

    def _levels(self, data):  # pragma: no cover - each subclass
        """:func:`grow_levels` of this learner on ``data``."""
        raise NotImplementedError

    def _fit(self, data):
        return grow_forest_from(self._levels(data))

    # -- partial fits (the ML Optimizer, mli.search): a pass is a level; a configuration
    # resumes its growth (the generator of grow_levels) and is complete at max_depth
    _resumable = True
    _task = ("classification", "regression")

    def _partial_setup(self, data):
        return data

    def _partial_key(self):
        return (type(self), id(self))  # (each configuration grows on its own)

    def _partial_max_passes(self) -> int:
        return max(int(self.max_depth), 1)

    @classmethod
    def _partial_fit_many(cls, data, algorithms, states, passes: int) -> list:
        out: list = []
        for algo, state in zip(algorithms, states):
            try:
                state = Growth(algo._levels(data)) if state is None else state
                state.advance(int(passes))
            except (ValueError, ArithmeticError) as exc:  # (kept: that configuration fails)
                if state is not None:
                    state.close()
                state = exc
            out.append(state)
        return out

    def _partial_model(self, data, state: "Growth") -> "TreeEnsembleModel":
        return state.build()

    def _partial_fitted_params(self, state: "Growth") -> dict:
        return {} if state.finished else {"max_depth": state.levels}


class Growth:
    """A tree learner's growth paused between levels (a search's state): ``levels`` grown,
    ``build()`` the model so far; :meth:`advance` grows more, :meth:`close` drops the
    binned data."""

    def __init__(self, levels):
        self._levels, self.build, self.levels, self.finished = levels, None, 0, False

    def advance(self, k: int) -> None:
        for _ in range(k):
            if self.finished:
                return
            try:
                self.build = next(self._levels)
                self.levels += 1
            except StopIteration:
                self.finished = True

    def close(self) -> None:
        self._levels.close()


def grow_forest_from(levels):
    """The model at the end of :func:`grow_levels`' generator ``levels``."""
    for build in levels:
        pass
    return build()


def grow_levels(est, data, model_cls, *, n_trees=1, max_features="all", bootstrap=False):
    """Grow ``n_trees`` trees with the hyperparameters of ``est``, a level at a time: a
    generator that yields, after each level, a function building the ``model_cls`` of the
    trees grown so far (the nodes still to split are leaves; :func:`grow_forest_from` runs
    it to the end, as ``fit`` does). Resuming it grows the next level (one pass), so ``k`` levels and then ``j``
    more are the ``k + j`` of one growth; closing it early drops the binned files."""
    classification = est.task == "classification"
    kind = est.impurity if est.impurity != "auto" else ("gini" if classification else "variance")
    if (kind == "variance") == classification:
        raise ValueError(f"Invalid value for parameter 'impurity' of {type(est).__name__}: "
                         f"{kind!r} is not an impurity for {est.task}")
    seed = est.seed if est.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    offsets, edges, values, classes = _prepare_bins(data, est.max_bins, seed, classification)
    d, n_stats = data.num_features, len(classes) if classification else 3
    n_bins = np.array([len(e) + 1 for e in edges])
    usable = np.flatnonzero(n_bins > 1) if (n_bins > 1).any() else np.arange(1)
    k = min(_subset_size(max_features, d, classification), len(usable))
    slot_bytes = k * n_bins.max() * n_stats * 8
    spec = (edges, classes, offsets, n_trees if bootstrap else 0, seed, n_trees)
    key, n_cls = f"tree-{uuid.uuid4().hex[:12]}", n_stats if classification else 0
    feature, tbin, threshold, left, right, stats, tree_of = [], [], [], [], [], [], []
    local, live = None, True   # rows gathered on the driver; binned files on the workers
    cores = min(data.num_partitions, data.ctx.default_parallelism)

    def node(t, st):
        for column, v in ((feature, -1), (tbin, -1), (threshold, np.nan), (left, -1),
                          (right, -1), (stats, st), (tree_of, t)):
            column.append(v)
        return len(feature) - 1

    def candidates(nd):
        if k == len(usable):
            return usable
        return np.sort(np.random.default_rng([seed, tree_of[nd], nd]).choice(usable, k, False))

    def weight(st):
        return st.sum() if classification else st[0]

    def histogram_pass(tree, slot, sfeat, off, last):
        nonlocal live
        if local is not None:
            return histograms(*local, *tree, slot, sfeat, off, n_cls)
        hist = data.blocks.map_reduce(_hist_part, key, spec, last, tree, slot, sfeat, off,
                                      n_cls, combine=_sum64, with_index=True)
        live = not last
        return np.asarray(hist, np.float64)

    def build():
        st = np.array(stats, np.float64)
        value = (st / np.maximum(st.sum(1, keepdims=True), 1e-300) if classification
                 else st[:, 1:2] / np.maximum(st[:, :1], 1e-300))
        node_weight, impurity = node_impurity(st, kind)
        return model_cls(list(roots), list(feature), list(threshold), list(left), list(right),
                         value, classes, n_features=d, task=est.task,
                         node_weight=node_weight, impurity=impurity)

    # same candidate features in a node and its children (a tree, exact class counts): the
    # larger child's histogram is its parent's minus its sibling's (no row adds to it)
    subtract = classification and k == len(usable) and not data.weighted
    roots, pairs = [node(t, None) for t in range(n_trees)], {}
    frontier, rows = list(roots), offsets[-1]
    try:
        for depth in range(max(est.max_depth, 1)):
            tree = (roots, feature, tbin, left, right)
            if local is None and _finish_locally(
                    rows, d, n_trees, k, max(est.max_depth, 1) - depth,
                    len(frontier) * slot_bytes, data.num_partitions, cores):
                active = np.zeros(len(feature), bool)
                active[frontier] = True
                parts = data.blocks.map_collect(_gather_part, key, spec, tree, active,
                                                with_index=True)
                live = False
                local = tuple(None if p[0] is None else np.concatenate(p) for p in zip(*parts))
            nxt, kept, step = [], {}, max(1, HIST_BUDGET * 8 // slot_bytes)
            for g0 in range(0, len(frontier), step):   # one pass per level, unless too big
                group = frontier[g0:g0 + step]
                pos = {nd: i for i, nd in enumerate(group)}
                derived = {i: pos[pairs[nd][0]] for i, nd in enumerate(group)
                           if nd in pairs and pairs[nd][0] in pos}
                done = [i for i in range(len(group)) if i not in derived]
                slot = np.full(len(feature), -1)
                slot[np.array(group)[done]] = np.arange(len(done))
                sfeat = np.array([candidates(nd) for nd in group])
                off = np.concatenate([np.zeros((len(group), 1), int),
                                      np.cumsum(n_bins[sfeat], axis=1)], axis=1)
                part = histogram_pass(tree, slot, sfeat[done], off[done], depth + 1 >=
                                      est.max_depth and g0 + step >= len(frontier))
                hist = np.empty((len(group),) + part.shape[1:])
                hist[done] = part
                for i, sib in derived.items():
                    hist[i] = pairs[group[i]][1] - hist[sib]
                gain, j, b, hi, total, sl, sr = best_splits(hist, off, kind,
                                                            est.min_samples_leaf)
                for i, nd in enumerate(group):
                    stats[nd] = total[i]
                    if gain[i] <= 0 or depth >= est.max_depth:
                        continue
                    f = feature[nd] = int(sfeat[i, j[i]])
                    tbin[nd], v = int(b[i]), values[f]
                    threshold[nd] = (_midpoint(v[b[i]], v[hi[i]]) if v is not None
                                     else edges[f][(b[i] + hi[i] - 1) // 2])
                    kids = []
                    for st, side in ((sl[i], left), (sr[i], right)):
                        side[nd] = node(tree_of[nd], st)
                        if weight(st) >= 2 * est.min_samples_leaf and (
                                not classification or np.count_nonzero(st) > 1):
                            kids.append(side[nd])
                    nxt += kids
                    if subtract and len(kids) == 2:
                        small, large = sorted(kids, key=lambda c: weight(stats[c]))
                        kept[large] = (small, hist[i])
            frontier, pairs = (nxt if depth + 1 < est.max_depth else []), kept
            if not data.weighted:  # (weights are not row counts: keep the upper bound)
                rows = min(rows, sum(weight(stats[nd]) for nd in frontier))
            yield build
            if not frontier:
                break
    finally:
        if live:  # the growth stopped before its last level: drop the binned files
            try:
                data.blocks.map_collect(_drop_part, key, with_index=True)
            except Exception:  # noqa: BLE001 - Spark may be stopped; they go with the app
                pass


class TreeEnsembleModel(Model):
    """Trees as flat node arrays (see :mod:`mli.models.tree_kernels`).

    Attributes
    ----------
    roots : ndarray of int64, shape (n_trees,)
        The root node of every tree.
    feature, threshold, left, right : ndarray, shape (n_nodes,)
        Node ``i`` sends a row with ``x[feature[i]] <= threshold[i]`` to ``left[i]``, else to
        ``right[i]``; leaves have ``feature == left == right == -1`` and a NaN threshold.
    value : ndarray of float64, shape (n_nodes, n_classes) or (n_nodes, 1)
        Class frequencies (classification) or mean target (regression) of the training
        rows (bootstrap-weighted for a forest) reaching the node.
    classes_ : ndarray or None
        The class labels (classification).
    task : str
    node_weight, impurity : ndarray of float64, shape (n_nodes,), or None
        The (bootstrap- and sample-) weighted number of training rows reaching each node and
        their impurity (the criterion the tree was grown with); None in a model saved
        before they were recorded.
    feature_importances_ : ndarray of float64, shape (n_features,)
        Mean decrease in impurity (scikit-learn's and Spark's definition).
    """

    _arrays = ("roots", "feature", "threshold", "left", "right", "value", "classes_",
               "node_weight", "impurity")
    _nonfinite_arrays = ("threshold",)  # NaN marks a leaf (it has no split)
    _attributes = ("task",)
    _added_attributes = {"node_weight": None, "impurity": None}

    def __init__(self, roots, feature, threshold, left, right, value, classes, *, n_features,
                 task, node_weight=None, impurity=None):
        self.roots, self.feature, self.left, self.right = (
            np.asarray(a, np.int64) for a in (roots, feature, left, right))
        self.threshold = np.asarray(threshold, np.float64)
        self.value = np.asarray(value, np.float64)
        self.classes_ = None if classes is None else np.asarray(classes, np.float64)
        self.task = str(task)
        self.node_weight, self.impurity = (None if a is None else np.asarray(a, np.float64)
                                           for a in (node_weight, impurity))
        super().__init__(n_features=n_features)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Each feature's share of the impurity decrease: per tree, the weighted decrease
        ``w_i imp_i - w_l imp_l - w_r imp_r`` of every split summed per feature and
        normalized to 1; then averaged over the trees that split and normalized to 1 (all
        zeros when no tree splits), as scikit-learn's ``feature_importances_``."""
        if self.node_weight is None or self.impurity is None:
            raise AttributeError("feature_importances_ needs the nodes' weights and "
                                 "impurities, which this model (saved by an older mli) lacks; "
                                 "fit it again")
        wimp = self.node_weight * self.impurity
        inner = np.flatnonzero(self.feature >= 0)
        tree = np.zeros(self.n_nodes, np.int64)
        for t, r in enumerate(self.roots):          # children come after their parent
            tree[r] = t
        for i in inner:
            tree[self.left[i]] = tree[self.right[i]] = tree[i]
        per_tree = np.zeros((self.n_trees, self.n_features))
        np.add.at(per_tree, (tree[inner], self.feature[inner]),
                  wimp[inner] - wimp[self.left[inner]] - wimp[self.right[inner]])
        per_tree = np.maximum(per_tree, 0.0)
        totals = per_tree.sum(axis=1)
        split = totals > 0
        if not split.any():
            return np.zeros(self.n_features)
        mean = (per_tree[split] / totals[split, None]).mean(axis=0)
        return mean / mean.sum()

    @property
    def n_trees(self) -> int:
        return len(self.roots)

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def n_leaves(self) -> int:
        return int((self.feature < 0).sum())

    @property
    def depth(self) -> int:
        """The largest depth of a leaf (0 for a single-leaf tree)."""
        d = np.zeros(self.n_nodes, np.int64)
        for i in range(self.n_nodes):           # children are created after their parent
            if self.feature[i] >= 0:
                d[self.left[i]] = d[self.right[i]] = d[i] + 1
        return int(d.max(initial=0))

    def apply(self, data):
        """The leaf every row reaches in every tree: (n, n_trees) node indices."""
        return self._apply(data, self._leaves, [f"tree_{t}" for t in range(self.n_trees)])

    def predict_proba(self, data):
        """Class probabilities (mean over trees of the leaf class frequencies)."""
        if self.classes_ is None:
            raise AttributeError("predict_proba is for classification models; this one is a "
                                 "regression model")
        return self._apply(data, self._mean_value, [f"p_{c:g}" for c in self.classes_])

    def _leaves(self, X):
        return _route(_dense(X.array), self.roots, self.feature, self.threshold, self.left,
                     self.right)

    def _mean_value(self, X):
        leaves = self._leaves(X)
        out = self.value[leaves[:, 0]]
        for t in range(1, self.n_trees):
            out += self.value[leaves[:, t]]
        return out / self.n_trees

    def _predict_block(self, X):
        v = self._mean_value(X)
        return self.classes_[v.argmax(axis=1)] if self.classes_ is not None else v[:, 0]
