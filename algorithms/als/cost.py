"""ALS's cost model: which strategy runs a fit and in how many blocks.

* **Strategy.** ``data_parallel`` keeps the whole factors in every task, so each half-step
  all-gathers ``(n_users + n_items) * width`` float32s through the gang's leader; it wins
  while that is small. ``blocked`` sends each block only the rows its ratings reference,
  task to task, at the price of a precomputed routing table. ``auto`` picks
  ``data_parallel`` while the factors take fewer than :data:`FACTORS_LIMIT` bytes (each
  task's copy, and the leader's gather of them, must fit beside the ratings in an
  executor's Python worker), ``blocked`` above.
* **Blocks.** One block per task. A task launch costs the same whatever its work, so a
  small problem runs in one block and a large one in up to the context's parallelism:
  about :data:`WORK_PER_TASK` flops per block and iteration, from the flop counts of the
  local solvers (explicit and implicit Cholesky: ``2 nnz w^2 + rows w^3 / 3`` (+ ``rows
  w^2``, implicit); conjugate gradient: ``(cg_steps + 1) (8 nnz w + 2 rows w^2)``).

``bench/bench_als.py --scale`` times every strategy side by side against pyspark.ml;
``bench/bench_cost.py`` times one block against two around :data:`WORK_PER_TASK` (figures
in docs/architecture.md, "The cost models, measured").
"""
from __future__ import annotations

import logging
import math
import warnings
from typing import NamedTuple

__all__ = ["Plan", "plan", "FACTORS_LIMIT", "WORK_PER_TASK"]

log = logging.getLogger(__name__)

#: ``auto``: data_parallel while the factors (every task holds them) take fewer bytes
FACTORS_LIMIT = 500 << 20
#: default partitioning: about this many flops per block and iteration
WORK_PER_TASK = 1e8


class Plan(NamedTuple):
    strategy: str  # "data_parallel" or "blocked"
    blocks: int


def default_blocks(als, ratings, parallelism: int) -> int:
    """Enough blocks that each has about :data:`WORK_PER_TASK` flops per iteration, at most
    ``parallelism``."""
    w = als.rank + (1 if als.biases else 0)
    rows = ratings.n_users + ratings.n_items
    if als.implicit and als.solver == "cg":
        flops = (als.cg_steps + 1) * (8.0 * ratings.nnz * w + 2.0 * rows * w * w)
    else:
        flops = 2.0 * ratings.nnz * w * w + rows * (w ** 3) / 3.0 + (
            rows * w * w if als.implicit else 0)
    return int(max(1, min(parallelism, math.ceil(flops / WORK_PER_TASK))))


def choose_strategy(als, ratings, blocks: int) -> str:
    """The estimator's ``strategy``, or for ``auto`` the one the factors' size calls for
    (logged with why)."""
    strategy = als.strategy
    if strategy == "broadcast":
        warnings.warn("ALS(strategy='broadcast') runs strategy='data_parallel': every fit "
                      "is one gang run over resident rating blocks, and the ratings are "
                      "no longer broadcast; pass strategy='data_parallel' (or 'auto')",
                      FutureWarning, stacklevel=5)
        strategy = "data_parallel"
    if als.checkpoint_interval is not None:
        warnings.warn("ALS(checkpoint_interval=...) has no effect and will be removed: "
                      "every strategy is one gang run without Spark lineage, so nothing "
                      "is checkpointed", FutureWarning, stacklevel=5)
    if strategy != "auto":
        return strategy
    width = als.rank + (1 if als.biases else 0)
    factor_bytes = (ratings.n_users + ratings.n_items) * width * 4
    mb = 1 << 20
    if factor_bytes < FACTORS_LIMIT:
        choice, why = "data_parallel", (f"factors {factor_bytes / mb:.1f} MB < "
                                        f"{FACTORS_LIMIT / mb:.0f} MB")
    else:
        choice, why = "blocked", f"factors {factor_bytes / mb:.1f} MB"
    log.info("ALS strategy='auto' chose %r (%s; %d ratings, %d users, %d items, rank %d, "
             "%d partitions)", choice, why, ratings.nnz, ratings.n_users, ratings.n_items,
             als.rank, blocks)
    return choice


def plan(als, ratings, parallelism: int) -> Plan:
    """How to run ``als``'s fit on ``ratings`` with ``parallelism`` task slots."""
    blocks = als.num_partitions or default_blocks(als, ratings, parallelism)
    blocks = int(max(1, min(blocks, ratings.n_users, ratings.n_items)))
    return Plan(choose_strategy(als, ratings, blocks), blocks)
