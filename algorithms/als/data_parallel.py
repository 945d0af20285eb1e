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
from mli.engine import gang
from mli.engine.blocks import BlockRDD

__all__ = ["fit", "fit_many"]


def fit(ctx, ratings, parts, cfg, X, Y, max_iter, tracker):
    """The factors ``(X, Y, n_iter)`` after at most ``max_iter`` iterations."""
    return run_in_gang(ctx, "data_parallel", _bundles(ratings, parts), alternate,
                       (cfg, X, Y, max_iter), tracker)


def fit_many(ctx, ratings, parts, cfgs, Xs, Ys, sweeps):
    """:func:`fit` of several configurations (their own ``cfg`` and factors) in the same
    gang run and passes: each half-step, every block solves its rows for all of them.
    Returns ``[(X, Y, losses)]``, each what :func:`fit` gives alone."""
    store = BlockRDD.from_bundles(_bundles(ratings, parts), ctx, name="als-data_parallel")
    Xs, Ys, losses = gang.execute(store, alternate_many, list(cfgs), list(Xs), list(Ys),
                                  int(sweeps))
    return list(zip(Xs, Ys, losses))


def _bundles(ratings, parts):
    bounds = {s: split_rows(ratings.csr(s)[0], parts) for s in ("user", "item")}
    return [{s: slice_rows(ratings.csr(s), int(bounds[s][p]), int(bounds[s][p + 1]))
             + (int(bounds[s][p]),) for s in ("user", "item")} for p in range(parts)]


def _assemble(results, width):
    """``(factors, loss, Gramian or None)`` from the per-block ``(X, loss, G)``, in block
    order."""
    mats = [r[0] for r in results]
    X = np.concatenate(mats, axis=0) if mats else np.zeros((0, width), np.float32)
    grams = [r[2] for r in results if r[2] is not None]
    G = functools.reduce(operator.add, grams) if grams else None
    return X, float(sum(r[1] for r in results)), G


def _dp_task(index, bundle, side, cfgs, Gs, data_term, Fs, X0s):
    indptr, cols, vals, lo = bundle[side]
    return [solve_block(cfg, (indptr, cols, vals), lo, F, G, X0, data_term)
            for cfg, G, F, X0 in zip(cfgs, Gs, Fs, X0s)]


def _half(blocks, side, cfgs, Fs, Gs, X0s, data_term):
    """One half-step of every configuration: every block solves its rows of ``side``
    against each one's ``F``; each one's rows of all blocks, in block order, assembled in
    every task (and the driver)."""
    per_block = blocks.map_collect(_dp_task, side, cfgs, Gs, data_term, Fs, X0s,
                                   with_index=True)
    return [_assemble([r[j] for r in per_block], cfg.rank) for j, cfg in enumerate(cfgs)]


def alternate(blocks, cfg, X, Y, max_iter, callback=None):
    """The whole fit over the rating blocks (a gang run's program: every task runs it and
    holds the same factors): ``(X, Y, losses)``. ``callback(iteration, loss)`` (on the
    driver) returning true stops it."""
    Xs, Ys, losses = alternate_many(blocks, [cfg], [X], [Y], max_iter, callback)
    return Xs[0], Ys[0], losses[0]


def alternate_many(blocks, cfgs, Xs, Ys, max_iter, callback=None):
    """:func:`alternate` of several configurations in the same passes: ``(Xs, Ys,
    losses)``, lists in their order (``callback``: one configuration's fit only)."""
    # implicit: each half-step's tasks also return the Gramian of the rows they solved
    # (summed in block order), so it is never computed from the whole factors
    GXs = [gram(X, cfg.rank) if cfg.implicit else None for cfg, X in zip(cfgs, Xs)]
    losses: list[list] = [[] for _ in cfgs]
    for it in range(1, max_iter + 1):
        items = _half(blocks, "item", cfgs, Xs, GXs,
                      [Y if cfg.cg else None for cfg, Y in zip(cfgs, Ys)], False)
        Ys_new = [r[0] for r in items]
        users = _half(blocks, "user", cfgs, Ys_new, [r[2] for r in items],
                      [X if cfg.cg else None for cfg, X in zip(cfgs, Xs)], True)
        Xs, GXs, Ys = [r[0] for r in users], [r[2] for r in users], Ys_new
        for j, cfg in enumerate(cfgs):
            losses[j].append(items[j][1] + users[j][1] if cfg.want_loss else math.nan)
        if callback is not None and callback(it, losses[0][-1]):
            break
    return Xs, Ys, losses
