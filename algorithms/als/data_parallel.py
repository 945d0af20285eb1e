"""ALS, strategy ``data_parallel``: every task holds the whole factors.

The ratings are resident blocks (user block ``p`` and item block ``p`` in block ``p``,
written once by the driver) and the whole fit is one gang run: each half-step every task
solves its blocks' rows against the other side's factors, and the solved rows are
all-gathered through the gang's leader in block order, so every task holds the same
factors (``2 n_rows rank`` float32s per task and half-step). Chosen while the factors are
small (:mod:`mli.algorithms.als.cost`).
"""
from __future__ import annotations

import functools
import math
import operator

import numpy as np

from mli.algorithms.als.solve import gram, run_in_gang, slice_rows, solve_block, split_rows

__all__ = ["fit"]


def fit(ctx, ratings, parts, cfg, X, Y, max_iter, tracker):
    """The factors ``(X, Y, n_iter)`` after at most ``max_iter`` iterations."""
    bounds = {s: split_rows(ratings.csr(s)[0], parts) for s in ("user", "item")}
    bundles = [{s: slice_rows(ratings.csr(s), int(bounds[s][p]), int(bounds[s][p + 1]))
                + (int(bounds[s][p]),) for s in ("user", "item")} for p in range(parts)]
    return run_in_gang(ctx, "data_parallel", bundles, alternate, (cfg, X, Y, max_iter), tracker)


def _assemble(results, width):
    """``(factors, loss, Gramian or None)`` from the per-block ``(X, loss, G)``, in block
    order."""
    mats = [r[0] for r in results]
    X = np.concatenate(mats, axis=0) if mats else np.zeros((0, width), np.float32)
    grams = [r[2] for r in results if r[2] is not None]
    G = functools.reduce(operator.add, grams) if grams else None
    return X, float(sum(r[1] for r in results)), G


def _dp_task(index, bundle, side, cfg, G, data_term, F, X0):
    indptr, cols, vals, lo = bundle[side]
    return solve_block(cfg, (indptr, cols, vals), lo, F, G, X0, data_term)


def _half(blocks, side, cfg, F, G, X0, data_term):
    """One half-step: every block solves its rows of ``side`` against ``F``; the rows of all
    blocks, in block order, assembled in every task (and the driver)."""
    return _assemble(blocks.map_collect(_dp_task, side, cfg, G, data_term, F, X0,
                                        with_index=True), cfg.rank)


def alternate(blocks, cfg, X, Y, max_iter, callback=None):
    """The whole fit over the rating blocks (a gang run's program: every task runs it and
    holds the same factors): ``(X, Y, losses)``. ``callback(iteration, loss)`` (on the
    driver) returning true stops it."""
    k = cfg.rank
    # implicit: each half-step's tasks also return the Gramian of the rows they solved
    # (summed in block order), so it is never computed from the whole factors
    GX = gram(X, k) if cfg.implicit else None
    losses = []
    for it in range(1, max_iter + 1):
        Y_new, l_items, GY = _half(blocks, "item", cfg, X, GX, Y if cfg.cg else None, False)
        X, l_users, GX = _half(blocks, "user", cfg, Y_new, GY, X if cfg.cg else None, True)
        Y = Y_new
        losses.append(l_items + l_users if cfg.want_loss else math.nan)
        if callback is not None and callback(it, losses[-1]):
            break
    return X, Y, losses
