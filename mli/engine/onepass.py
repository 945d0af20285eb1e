"""One pass over training data without making it resident first.

:meth:`mli.engine.blocks.BlockRDD.map_reduce` first writes every block where the tasks run
(``materialize``), which pays off from the second pass on. An algorithm that reads its data
exactly once (Naive Bayes, the normal equations of linear regression) should not pay for
that write: :func:`one_pass` runs ``fn`` straight on the blocks' source (one Spark job,
nothing written) when they come from an RDD or a DataFrame and are not resident yet, and as
a gang run over the resident blocks otherwise (driver-written blocks, Spark Connect). The
result is combined as ``map_reduce`` does (a deterministic tree, partition order).

>>> mom = one_pass(data.blocks, block_moments, combine=merge)     # doctest: +SKIP
"""
from __future__ import annotations

import functools
import operator
from typing import Callable

from mli.engine import gang
from mli.engine.blocks import tree_add
from mli.engine.collective import tree_reduce
from mli.errors import task_safe

__all__ = ["one_pass"]


def _apply(fn, args, index, bundles):
    for bundle in bundles:
        yield index, fn(bundle, *args)


def _map_reduce(blocks, fn, args, combine):
    return blocks.map_reduce(fn, *args, combine=combine)


def one_pass(blocks, fn: Callable, *args, combine: Callable = tree_add):
    """``blocks.map_reduce(fn, *args, combine=combine)`` without materializing ``blocks``.

    ``blocks`` is a :class:`~mli.engine.blocks.BlockRDD` (or anything with ``map_reduce``, e.g.
    :class:`~mli.optimize.LocalBlocks`, which is used as is).
    """
    if not getattr(blocks, "_direct_source", lambda: False)():
        if gang.available(blocks):
            return gang.run(blocks, _map_reduce, fn, args, combine)
        return blocks.map_reduce(fn, *args, combine=combine)
    rdd = blocks.source_bundles().mapPartitionsWithIndex(
        task_safe(functools.partial(_apply, fn, args)))
    out = sorted(blocks._ctx.run(rdd.collect), key=operator.itemgetter(0))
    return tree_reduce([r for _, r in out], combine)
