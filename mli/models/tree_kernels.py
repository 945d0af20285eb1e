"""Local numerical kernels of the histogram trees (:mod:`mli.models.trees`).

A forest is stored as flat node arrays shared by all its trees (one tree is a forest of one):

* ``roots``   -- int64 ``(T,)``, the root node of every tree;
* ``feature`` -- int64 ``(N,)``, the split feature of a node, ``-1`` for a leaf (or for a
  node of the tree being grown that has not been split yet);
* ``tbin``    -- int64 ``(N,)``, training only: rows whose binned feature is ``<= tbin`` go
  left; ``threshold`` -- float64 ``(N,)``, prediction: rows with ``x <= threshold`` go left
  (the bin edges are thresholds, so both rules send every training row the same way);
* ``left``, ``right`` -- int64 ``(N,)``, the children, ``-1`` for a leaf.

:func:`histograms` is the one hot loop of training: every row is routed down every tree to
the node it reaches; if that node is being split in this pass (``slot[node] >= 0``) the row
adds its statistics -- class counts (classification) or ``(w, w*y, w*y^2)`` (regression),
with ``w`` its bootstrap weight -- to the bins of that node's candidate features. A node's
histogram is flat: candidate ``j`` owns bins ``off[s, j] .. off[s, j + 1] - 1``, so features
with few distinct values take little room. :func:`best_splits` scans the summed histograms
for every node's best split (on the driver), :func:`apply` routes raw rows to leaves for
prediction. Each has a plain-numpy reference (``*_ref``) used by the tests.

The kernels are ``numba.njit(cache=True, nogil=True)``, single-threaded (Spark runs one task
per core), and do no bounds checking: the wrappers coerce dtypes and contiguity.
Always import this module as ``mli.models.tree_kernels`` (numba's cache key).
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["histograms", "histograms_ref", "best_splits", "best_splits_ref", "apply",
           "node_impurity",
           "apply_ref", "bin_features", "bin_features_ref", "equal_count_cuts",
           "equal_count_cuts_ref"]

_JIT = dict(cache=True, fastmath=False, nogil=True)


@numba.njit(**_JIT)
def _histograms(Xb, y, w, roots, feature, tbin, left, right, slot, sfeat, off, hist,
                n_classes):
    n = Xb.shape[0]
    k = sfeat.shape[1]
    weighted = w.shape[1] > 0
    for i in range(n):
        for t in range(roots.shape[0]):
            wt = 1.0
            if weighted:
                wt = float(w[i, t])
                if wt == 0.0:
                    continue
            node = roots[t]
            while feature[node] >= 0:
                if Xb[i, feature[node]] <= tbin[node]:
                    node = left[node]
                else:
                    node = right[node]
            s = slot[node]
            if s < 0:
                continue
            if n_classes > 0:
                c = int(y[i])
                for j in range(k):
                    hist[s, off[s, j] + Xb[i, sfeat[s, j]], c] += wt
            else:
                wy = wt * y[i]
                wyy = wy * y[i]
                for j in range(k):
                    b = off[s, j] + Xb[i, sfeat[s, j]]
                    hist[s, b, 0] += wt
                    hist[s, b, 1] += wy
                    hist[s, b, 2] += wyy


def _tree(roots, feature, left, right, split):
    return (np.ascontiguousarray(roots, np.int64), np.ascontiguousarray(feature, np.int64),
            np.ascontiguousarray(split), np.ascontiguousarray(left, np.int64),
            np.ascontiguousarray(right, np.int64))


def histograms(Xb, y, w, roots, feature, tbin, left, right, slot, sfeat, off, n_classes):
    """Per-node, per-feature, per-bin statistics of one block.

    Parameters
    ----------
    Xb : ndarray of uint8 or uint16, shape (n, d)
        Binned features.
    y : ndarray of float64, shape (n,)
        Class index 0..K-1 (classification) or target (regression).
    w : ndarray of uint8 or float64, shape (n, T), or None
        Per-row, per-tree weights (bootstrap counts, times the rows' sample weights);
        None: all 1.
    roots, feature, tbin, left, right : ndarray
        The trees grown so far (see the module docstring).
    slot : ndarray of int64, shape (N,)
        Histogram slot of every node being split in this pass, -1 for the others.
    sfeat : ndarray of int64, shape (G, k)
        The candidate features of every slot.
    off : ndarray of int64, shape (G, k + 1)
        Where candidate ``j`` of slot ``s`` starts in the slot's flat histogram: its bins
        are ``off[s, j] ... off[s, j + 1] - 1`` (``off[:, 0] == 0``).
    n_classes : int
        K for classification, 0 for regression.

    Returns
    -------
    ndarray of float64, shape (G, max(off[:, -1]), K or 3)
        Class counts, or (weight, sum of w*y, sum of w*y^2), per slot and flat bin.
    """
    Xb = np.ascontiguousarray(Xb)
    if w is not None and np.shape(w) != (Xb.shape[0], len(roots)):
        raise ValueError(f"w must have one weight per row and tree, shape "
                         f"{(Xb.shape[0], len(roots))}, got {np.shape(w)}")
    w = (np.zeros((1, 0), np.uint8) if w is None
         else np.ascontiguousarray(w, np.uint8 if w.dtype == np.uint8 else np.float64))
    sfeat = np.ascontiguousarray(sfeat, np.int64)
    off = np.ascontiguousarray(off, np.int64)
    hist = np.zeros((sfeat.shape[0], int(off[:, -1].max(initial=0)), n_classes or 3))
    r, f, tb, lf, rt = _tree(roots, feature, left, right, np.asarray(tbin, np.int64))
    _histograms(Xb, np.ascontiguousarray(y, np.float64), w, r, f, tb, lf, rt,
                np.ascontiguousarray(slot, np.int64), sfeat, off, hist, int(n_classes))
    return hist


def _route_ref(X, roots, feature, split, left, right):
    """(n, T) node reached by every row in every tree (numpy, level by level)."""
    out = np.empty((X.shape[0], len(roots)), np.int64)
    rows = np.arange(X.shape[0])
    for t, root in enumerate(roots):
        node = np.full(X.shape[0], root, np.int64)
        while True:
            inner = feature[node] >= 0
            if not inner.any():
                break
            f = np.where(inner, feature[node], 0)
            go_left = X[rows, f] <= split[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        out[:, t] = node
    return out


def histograms_ref(Xb, y, w, roots, feature, tbin, left, right, slot, sfeat, off, n_classes):
    """Plain-numpy reference of :func:`histograms`."""
    n, T = Xb.shape[0], len(roots)
    roots, feature, left, right = (np.asarray(a, np.int64) for a in (roots, feature, left, right))
    hist = np.zeros((sfeat.shape[0], int(off[:, -1].max(initial=0)), n_classes or 3))
    nodes = _route_ref(Xb.astype(np.int64), roots, feature, np.asarray(tbin), left, right)
    for t in range(T):
        wt = np.ones(n) if w is None else w[:, t].astype(np.float64)
        s = np.asarray(slot)[nodes[:, t]]
        keep = (s >= 0) & (wt > 0)
        rows, s = np.nonzero(keep)[0], s[keep]
        for j in range(sfeat.shape[1]):
            b = off[s, j] + Xb[rows, sfeat[s, j]].astype(np.int64)
            if n_classes:
                np.add.at(hist, (s, b, y[rows].astype(np.int64)), wt[rows])
            else:
                for c, v in enumerate((wt[rows], wt[rows] * y[rows], wt[rows] * y[rows] ** 2)):
                    np.add.at(hist, (s, b, c), v)
    return hist


# --------------------------------------------------------------------------- best splits

IMPURITIES = {"gini": 0, "entropy": 1, "variance": 2}


@numba.njit(**_JIT)
def _weighted_impurity(st, kind):
    """(weight, weight * impurity) of one statistics vector."""
    if kind == 2:
        n = st[0]
        return n, (st[2] - st[1] * st[1] / n) if n > 0 else 0.0
    n = 0.0
    for c in range(st.shape[0]):
        n += st[c]
    if n <= 0:
        return 0.0, 0.0
    acc = 0.0
    for c in range(st.shape[0]):
        p = st[c] / n
        if kind == 0:
            acc += p * p
        elif p > 0:
            acc -= p * np.log2(p)
    return n, n * (1.0 - acc) if kind == 0 else n * acc


@numba.njit(**_JIT)
def _best_splits(hist, off, kind, min_leaf, gain, cand, split_bin, next_bin, total, left_st):
    G, S = hist.shape[0], hist.shape[2]
    k = off.shape[1] - 1
    lst = np.empty(S)
    rst = np.empty(S)
    for s in range(G):
        for c in range(S):
            acc = 0.0
            for b in range(off[s, 0], off[s, 1]):
                acc += hist[s, b, c]
            total[s, c] = acc
        n, i0 = _weighted_impurity(total[s], kind)
        best = 0.0
        gain[s], cand[s], split_bin[s] = 0.0, -1, -1
        if n <= 0:
            continue
        for j in range(k):
            lst[:] = 0.0
            for b in range(off[s, j], off[s, j + 1] - 1):
                for c in range(S):
                    lst[c] += hist[s, b, c]
                    rst[c] = total[s, c] - lst[c]
                nl, il = _weighted_impurity(lst, kind)
                nr, ir = _weighted_impurity(rst, kind)
                if nl < min_leaf or nr < min_leaf:
                    continue
                g = (i0 - il - ir) / n
                if g > best and g > 1e-10 * i0 / n:
                    best = g
                    gain[s], cand[s], split_bin[s] = g, j, b - off[s, j]
                    left_st[s, :] = lst
        if cand[s] >= 0:  # the first non-empty bin on the right
            b = off[s, cand[s]] + split_bin[s] + 1
            while _weighted_impurity(hist[s, b], kind)[0] <= 0:
                b += 1
            next_bin[s] = b - off[s, cand[s]]
    return gain


def best_splits(hist, off, impurity, min_leaf):
    """The best split of every slot of a summed :func:`histograms` result.

    A split of candidate ``j`` after bin ``b`` sends bins ``<= b`` left. Its gain is the
    decrease of the (weight-averaged) impurity; it is valid with at least ``min_leaf``
    weight on each side and a gain above ``1e-10`` times the parent's impurity. Ties go to
    the first candidate, then the lowest bin.

    Returns
    -------
    gain : (G,) float64 -- 0 where there is no valid split;
    cand : (G,) int64 -- the candidate index (into the slot's features), -1 for none;
    split_bin : (G,) int64 -- the last bin going left (the last non-empty one: ties go to
        the lowest bin);
    next_bin : (G,) int64 -- the first non-empty bin going right (bins in between are
        empty in this node);
    total, left, right : (G, S) float64 -- statistics of the node and of its two children.
    """
    hist = np.ascontiguousarray(hist, np.float64)
    G, S = hist.shape[0], hist.shape[2]
    gain, total, left = np.zeros(G), np.zeros((G, S)), np.zeros((G, S))
    cand, split_bin, next_bin = (np.full(G, -1, np.int64) for _ in range(3))
    _best_splits(hist, np.ascontiguousarray(off, np.int64), IMPURITIES[impurity],
                 float(min_leaf), gain, cand, split_bin, next_bin, total, left)
    return (gain, cand, split_bin, next_bin, total, left,
            np.where(cand[:, None] >= 0, total - left, 0.0))


def node_impurity(stats, kind):
    """``(weight, impurity)`` of nodes from their statistics (``(..., K)`` class counts, or
    ``(..., 3)`` ``(w, w*y, w*y^2)`` for ``kind="variance"``); impurity 0 at weight 0."""
    n, wimp = _weighted_impurity_ref(np.asarray(stats, np.float64), kind)
    return n, wimp / np.maximum(n, 1e-300)


def _weighted_impurity_ref(stats, kind):
    if kind == "variance":
        n = stats[..., 0]
        return n, stats[..., 2] - stats[..., 1] ** 2 / np.maximum(n, 1e-300)
    n = stats.sum(-1)
    p = stats / np.maximum(n, 1e-300)[..., None]
    if kind == "gini":
        return n, n * (1 - (p * p).sum(-1))
    return n, -n * (p * np.log2(np.where(p > 0, p, 1))).sum(-1)


def best_splits_ref(hist, off, impurity, min_leaf):
    """Plain-numpy reference of :func:`best_splits`."""
    G, S = hist.shape[0], hist.shape[2]
    out = (np.zeros(G), np.full(G, -1), np.full(G, -1), np.full(G, -1), np.zeros((G, S)),
           np.zeros((G, S)), np.zeros((G, S)))
    for s in range(G):
        bounds = off[s]
        total = hist[s, bounds[0]:bounds[1]].sum(0)
        out[4][s] = total
        n, i0 = _weighted_impurity_ref(total, impurity)
        if n <= 0:
            continue
        gains = []
        for j in range(len(bounds) - 1):
            lefts = np.cumsum(hist[s, bounds[j]:bounds[j + 1]], axis=0)[:-1]
            (nl, il), (nr, ir) = (_weighted_impurity_ref(v, impurity)
                                  for v in (lefts, total - lefts))
            g = (i0 - il - ir) / n
            g[(nl < min_leaf) | (nr < min_leaf) | ~(g > 1e-10 * i0 / n)] = 0
            gains += [(gv, j, b, lefts[b]) for b, gv in enumerate(g)]
        if gains:
            best = max(gains, key=lambda t: (t[0], -t[1], -t[2]))
            if best[0] > 0:
                out[0][s], out[1][s], out[2][s], out[5][s] = best
                out[6][s] = total - best[3]
                h = hist[s, bounds[best[1]]:bounds[best[1] + 1]]
                w = h[:, 0] if impurity == "variance" else h.sum(-1)
                out[3][s] = best[2] + 1 + np.flatnonzero(w[best[2] + 1:] > 0)[0]
    return out


# ------------------------------------------------------------------------- bin thresholds
@numba.njit(**_JIT)
def _cuts(cum, nominal, out):
    """Greedy equal-count cuts for ``nominal`` bins, re-aimed after every cut; ``out[:k]``
    the last value index of each bin but the last. Returns ``k``."""
    k, last, done = 0, -1, 0.0
    for left in range(nominal - 1, 0, -1):
        target = done + (cum[-1] - done) / (left + 1)
        i = np.searchsorted(cum, target)
        if i > 0 and target - cum[i - 1] < cum[i] - target:
            i -= 1
        i = max(i, last + 1)
        if i >= len(cum) - 1:
            break
        out[k], last, done = i, i, cum[i]
        k += 1
    return k


@numba.njit(**_JIT)
def _equal_count_cuts(cum, max_bins):
    out, tmp = np.empty(len(cum), np.int64), np.empty(len(cum), np.int64)
    k = _cuts(cum, max_bins, out)
    lo, hi = max_bins, len(cum)
    while k < max_bins - 1 and lo < hi:          # heavy ties left bins unused: aim finer
        mid = (lo + hi + 1) // 2
        m = _cuts(cum, mid, tmp)
        if m > max_bins - 1:
            hi = mid - 1
        else:
            lo = mid
            if m > k:
                out[:m] = tmp[:m]
                k = m
    return out[:k].copy()


def equal_count_cuts(counts, max_bins):
    """Where to cut a sorted run of distinct values with these ``counts`` into at most
    ``max_bins`` bins of about equal counts: the index of the last value of every bin but
    the last (int64, increasing).

    Raises ValueError unless ``counts`` is 1-D and positive and ``max_bins`` an int >= 2.

    Greedy: each cut goes where the cumulative count is nearest to an equal share of what
    is left, so a value repeated more than a share (MNIST's zero pixels) gets a bin of its
    own and the rest are re-divided. When ties leave bins of the budget unused, the cuts
    are re-aimed at the largest number of nominal bins that still fits ``max_bins``.
    """
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 1 or (counts.size and not counts.min() > 0):
        raise ValueError(f"counts must be a 1-D array of positive counts (one per distinct "
                         f"value), got shape {counts.shape}"
                         + (f" with minimum {counts.min():g}" if counts.size else ""))
    if isinstance(max_bins, bool) or not isinstance(max_bins, (int, np.integer)) \
            or max_bins < 2:
        raise ValueError(f"max_bins must be an int >= 2, got {max_bins!r}")
    cum = np.cumsum(counts)
    if len(cum) <= max_bins:
        return np.arange(len(cum) - 1)
    return _equal_count_cuts(cum, int(max_bins))


def _cuts_ref(cum, nominal):
    cuts, done = [], 0.0
    for left in range(nominal - 1, 0, -1):
        target = done + (cum[-1] - done) / (left + 1)
        i = int(np.searchsorted(cum, target))
        i -= i > 0 and target - cum[i - 1] < cum[i] - target
        i = max(i, cuts[-1] + 1 if cuts else 0)
        if i >= len(cum) - 1:
            break
        cuts.append(i)
        done = cum[i]
    return cuts


def equal_count_cuts_ref(counts, max_bins):
    """Plain-Python reference of :func:`equal_count_cuts`."""
    cum = np.cumsum(np.asarray(counts, np.float64))
    if len(cum) <= max_bins:
        return np.arange(len(cum) - 1)
    best, lo, hi = _cuts_ref(cum, max_bins), max_bins, len(cum)
    while len(best) < max_bins - 1 and lo < hi:
        mid = (lo + hi + 1) // 2
        cuts = _cuts_ref(cum, mid)
        lo, hi = (lo, mid - 1) if len(cuts) > max_bins - 1 else (mid, hi)
        best = cuts if max_bins - 1 >= len(cuts) > len(best) else best
    return np.array(best, np.int64)


@numba.njit(**_JIT)
def _bin_features(A, edges, eoff, out):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            x, lo, hi = A[i, j], eoff[j], eoff[j + 1]
            while lo < hi:  # the number of edges of feature j below x
                mid = (lo + hi) >> 1
                if edges[mid] < x:
                    lo = mid + 1
                else:
                    hi = mid
            out[i, j] = lo - eoff[j]


@numba.njit(**_JIT)
def _bin_features_few(A, table, out):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            x, c = A[i, j], 0
            for q in range(table.shape[1]):  # branch-free count, vectorized by LLVM
                c += table[j, q] < x
            out[i, j] = c


def bin_features(A, edges):
    """Bin index of every value: ``out[i, j] = searchsorted(edges[j], A[i, j], "left")``,
    uint8 when every feature has fewer than 255 edges, else uint16.

    Parameters
    ----------
    A : ndarray (n, d) of float32 or float64
    edges : list of d sorted float64 arrays
    """
    A = np.ascontiguousarray(A)
    if A.dtype not in (np.float32, np.float64):
        A = A.astype(np.float64)
    m = max(map(len, edges), default=0)
    out = np.empty(A.shape, np.uint8 if m < 255 else np.uint16)
    if m < 255:  # few edges: count them in a row padded with +inf (never below a value)
        table = np.full((len(edges), -(-m // 8) * 8), np.inf)
        for j, e in enumerate(edges):
            table[j, :len(e)] = e
        _bin_features_few(A, table, out)
        return out
    eoff = np.cumsum([0] + [len(e) for e in edges]).astype(np.int64)
    flat = np.concatenate([np.asarray(e, np.float64) for e in edges] + [np.zeros(0)])
    _bin_features(A, flat, eoff, out)
    return out


def bin_features_ref(A, edges):
    """Plain-numpy reference of :func:`bin_features`."""
    out = np.empty(A.shape, np.uint8 if max(map(len, edges), default=0) < 255 else np.uint16)
    for j, e in enumerate(edges):
        out[:, j] = np.searchsorted(e, A[:, j], side="left")
    return out


@numba.njit(**_JIT)
def _apply(X, roots, feature, threshold, left, right, out):
    for i in range(X.shape[0]):
        for t in range(roots.shape[0]):
            node = roots[t]
            while feature[node] >= 0:
                if X[i, feature[node]] <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            out[i, t] = node


def apply(X, roots, feature, threshold, left, right):
    """The leaf every row of ``X`` (ndarray (n, d): floats, or uint8/uint16 bins with the
    bin thresholds ``tbin`` as ``threshold``) reaches in every tree: (n, T) int64."""
    X = np.ascontiguousarray(X)
    if X.dtype not in (np.float32, np.float64, np.uint8, np.uint16):
        X = X.astype(np.float64)
    r, f, thr, lf, rt = _tree(roots, feature, left, right, np.asarray(threshold, np.float64))
    out = np.empty((X.shape[0], r.shape[0]), np.int64)
    _apply(X, r, f, thr, lf, rt, out)
    return out


def apply_ref(X, roots, feature, threshold, left, right):
    """Plain-numpy reference of :func:`apply`."""
    return _route_ref(np.asarray(X, np.float64), np.asarray(roots), np.asarray(feature),
                      np.asarray(threshold, np.float64), np.asarray(left), np.asarray(right))
