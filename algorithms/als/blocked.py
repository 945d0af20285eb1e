"""ALS, strategy ``blocked``: no task ever holds the whole factors (as pyspark.ml's ALS).

Block ``p`` holds user block ``p``'s ratings with their item columns renumbered into the
item rows they reference, the same of item block ``p``, and for every block of the other
side which of its factor rows that block needs, all precomputed on the driver. Each task
keeps its blocks' factor rows between half-steps; a half-step sends each block only the
rows it needs, task to task (:meth:`mli.engine.gang.GangBlocks.exchange`), and the block
assembles them and solves its rows. ``Y^T Y`` (implicit) and the loss are tree-reduced
over the blocks. At the end the leader gathers the factors for the driver. The per-row
arithmetic is data_parallel's, so the factors are the same, bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from mli.algorithms.als.solve import gram, run_in_gang, slice_rows, solve_block, split_rows

__all__ = ["fit"]


def fit(ctx, ratings, parts, cfg, X, Y, max_iter, tracker):
    """The factors ``(X, Y, n_iter)`` after at most ``max_iter`` iterations."""
    GX = gram(X, cfg.rank) if cfg.implicit else None
    return run_in_gang(ctx, "blocked", _blocked_bundles(ratings, parts, X, Y), alternate,
                       (cfg, GX, max_iter), tracker)


def _in_out_blocks(csr, row_bounds, col_bounds, n_cols):
    """For each row block p: its CSR with columns renumbered into the sorted set of columns
    it references; for each column block q: ``[(p, local rows of q that p needs)]``."""
    P, Q = len(row_bounds) - 1, len(col_bounds) - 1
    in_blocks, out_blocks = [], [[] for _ in range(Q)]
    for p in range(P):  # a loop over blocks, not rows
        lo, hi = int(row_bounds[p]), int(row_bounds[p + 1])
        ip, c, v = slice_rows(csr, lo, hi)
        if n_cols <= 8 * max(c.shape[0], 1):
            present = np.zeros(n_cols, dtype=bool)
            present[c] = True
            uniq = np.flatnonzero(present)
            local = (np.cumsum(present, dtype=np.int64) - 1)[c]
        else:
            uniq, local = np.unique(c, return_inverse=True)
        in_blocks.append((np.ascontiguousarray(ip), local.astype(np.int32),
                          np.ascontiguousarray(v)))
        cut = np.searchsorted(uniq, col_bounds)
        for q in range(Q):
            a, b = int(cut[q]), int(cut[q + 1])
            if b > a:
                out_blocks[q].append((p, (uniq[a:b] - col_bounds[q]).astype(np.int64)))
    return in_blocks, out_blocks


def _blocked_bundles(prob, parts, X, Y):
    """Block ``p`` of the blocked strategy: user block ``p``'s ratings with their item
    columns renumbered into the item rows they reference (``user``), which of its factor
    rows each item block needs (``user_out``: ``[(item block, rows)]``), its initial
    factor rows (``user_x0``); the same of item block ``p``."""
    ub = split_rows(prob.user_csr[0], parts)
    ib = split_rows(prob.item_csr[0], parts)
    u_in, i_out = _in_out_blocks(prob.user_csr, ub, ib, prob.n_items)
    i_in, u_out = _in_out_blocks(prob.item_csr, ib, ub, prob.n_users)
    return [{"user": u_in[p], "item": i_in[p], "user_out": u_out[p], "item_out": i_out[p],
             "user_x0": X[ub[p]:ub[p + 1]], "item_x0": Y[ib[p]:ib[p + 1]]}
            for p in range(parts)]


def _start_rows(index, bundle, side):
    return np.array(bundle[side + "_x0"])


def _needed_rows(index, bundle, side, F):
    """The rows of ``side``'s factors ``F`` (this task's blocks) each block of the other
    side needs."""
    return {dest: F[index][rows] for dest, rows in bundle[side + "_out"]}


def _solve_received(index, bundle, side, cfg, got, G, X0):
    """Block ``index``'s rows of ``side`` against the rows it received (in the order of
    its renumbered columns)."""
    parts = [rows for _src, rows in got[index]]
    F = (np.concatenate(parts, axis=0) if parts
         else np.zeros((0, X0[index].shape[1]), np.float32))
    return solve_block(cfg, bundle[side], 0, F, G, X0[index] if cfg.cg else None,
                        side == "user")


def _loss_and_gram(index, bundle, solved):
    return solved[index][1], solved[index][2]


def _rows_of(index, bundle, F):
    return F[index]


def _blocked_half(blocks, side, cfg, F, G, X0):
    """A half-step of the blocked strategy: every block of ``side`` receives the other
    side's factor rows its ratings reference, from the tasks that hold them, and solves its
    rows; ``({block: rows}, loss, Gramian or None)``."""
    other = "item" if side == "user" else "user"
    got = blocks.exchange(_needed_rows, other, F)
    solved = blocks.local_values(_solve_received, side, cfg, got, G, X0, with_index=True)
    loss, gram = blocks.map_reduce(_loss_and_gram, solved, with_index=True)
    return {i: s[0] for i, s in solved.items()}, float(loss), gram


def alternate(blocks, cfg, GX, max_iter, callback=None):
    """The blocked fit (a gang run's program): every task keeps the factor rows of its own
    blocks, and a half-step sends each block only the rows of the other side it needs
    (task to task); no task holds the whole factors until the end, when the leader gathers
    them for the driver. ``(X, Y, losses)`` (None in the other tasks)."""
    X = blocks.local_values(_start_rows, "user", with_index=True)
    Y = blocks.local_values(_start_rows, "item", with_index=True)
    losses = []
    for it in range(1, max_iter + 1):
        Y, l_items, GY = _blocked_half(blocks, "item", cfg, X, GX, Y)
        X, l_users, GX = _blocked_half(blocks, "user", cfg, Y, GY, X)
        losses.append(l_items + l_users if cfg.want_loss else math.nan)
        if callback is not None and callback(it, losses[-1]):
            break
    Xs = blocks.gather(_rows_of, X, with_index=True)
    Ys = blocks.gather(_rows_of, Y, with_index=True)
    if Xs is None:
        return None
    return np.concatenate(Xs, axis=0), np.concatenate(Ys, axis=0), losses
