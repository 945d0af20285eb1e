"""Gang runs: a whole iterative algorithm in one Spark job, its passes all-reduced by file.

An optimizer makes tens to hundreds of passes over resident blocks; run as one Spark job
each, a pass costs the job's overhead (tens of milliseconds) even when its arithmetic takes
a few. In local mode (``local[...]``: the driver and the workers share the node) a *gang
run* starts the program once per task, in one barrier stage (Spark's gang scheduling: all
tasks start together or none does, and the failure of one fails them all), each task owning
a contiguous share of the blocks. Every task runs the same deterministic program (SPMD) over
a :class:`GangBlocks`, which implements the pass interface of a
:class:`~mli.blocks.BlockRDD` (``map_collect``, ``map_reduce``, ``num_rows``...) as an
*all-reduce*: each task computes its blocks' results, writes them to an exchange directory
(an atomic rename), waits for the other blocks' files, and combines all of them in
partition order with the same tree as a Spark pass. Every task thus holds the same values
as the driver would, and the program's state stays identical in all of them; partition 0
returns the result. Spark's own ``BarrierTaskContext.barrier()`` is not used: it polls once
a second.

The driver can take part at points the program chooses (:meth:`GangBlocks.ask_driver`,
e.g. a per-iteration callback): partition 0 writes the request, the driver answers, every
task reads the answer.

On a cluster (several hosts) there is no shared directory: :func:`available` is ``False``
and the algorithms fall back to one Spark job per pass.
"""
from __future__ import annotations

import functools
import logging
import os
import pickle
import shutil
import time
import uuid
from typing import Any, Callable

from .blocks import (BlockRDD, _driver_root_dir, _open, _resolve, _tree_reduce, drop_shipped,
                     is_local, local_slots, ship_args, spill_result, tree_add, unspill_result)
from .errors import task_safe

__all__ = ["GangBlocks", "available", "run", "execute", "await_file", "EXCHANGE_TIMEOUT",
           "ENABLED"]

log = logging.getLogger("mli")

#: set to ``False`` to run every pass as its own Spark job (for comparisons)
ENABLED = True

#: seconds a gang task waits for another task's file (or the driver's answer) before failing
EXCHANGE_TIMEOUT = 600.0

_ABORT = "ABORT"


class GangAborted(RuntimeError):
    """The gang run was stopped from the driver (another task failed, or the driver's
    handler raised)."""


def available(blocks) -> bool:
    """Whether ``blocks`` can host a gang run: a :class:`~mli.blocks.BlockRDD` (or view) on
    a local-mode Spark context, and gang runs enabled."""
    ctx = getattr(blocks, "_ctx", None)
    return (ENABLED and isinstance(blocks, BlockRDD) and ctx is not None and is_local(ctx)
            and local_slots(ctx) > 0)


def await_file(path: str, what: str, abort: str | None = None) -> str:
    """Wait until ``path`` exists (another task of a barrier stage writes it); fail after
    :data:`EXCHANGE_TIMEOUT` seconds, or at once when the ``abort`` file appears."""
    start, pause = time.monotonic(), 2e-5
    while not os.path.exists(path):
        if abort is not None and os.path.exists(abort):
            raise GangAborted(f"gang run stopped while waiting for {what}")
        if time.monotonic() - start > EXCHANGE_TIMEOUT:
            raise TimeoutError(f"no {what} after {EXCHANGE_TIMEOUT:g} s ({path}); did its task "
                               "fail?")
        time.sleep(pause)
        pause = min(2 * pause, 5e-4)
    return path


def _publish(obj, path: str) -> None:
    """Write ``obj`` to ``path`` atomically (readers never see a partial file). A pickle: the
    file lives for one exchange between this application's own processes."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _receive(path: str):
    with open(path, "rb") as f:
        return pickle.load(f)


class GangBlocks:
    """A task's side of a gang run: the pass interface of a BlockRDD over all blocks, where
    this task computes its own blocks and receives the others' results.

    Every task must make the same calls in the same order (the program is SPMD).
    """

    def __init__(self, local: list, rows: list[int], exchange: str, partition: int):
        self._local = local  # [(block index, bundle)] owned by this task
        self._rows = list(rows)
        self._exchange = exchange
        self._abort = os.path.join(exchange, _ABORT)
        self.partition = partition  #: this task's partition of the barrier stage
        self._step = 0
        self._asked = 0

    def __getstate__(self):
        # what a program returns may hold this object (an Objective's blocks): it travels
        # back to the driver without the task's bundles
        return {**self.__dict__, "_local": []}

    @property
    def num_partitions(self) -> int:
        return len(self._rows)

    @property
    def partition_rows(self) -> list[int]:
        return list(self._rows)

    @property
    def num_rows(self) -> int:
        return int(sum(self._rows))

    @property
    def is_leader(self) -> bool:
        return self.partition == 0

    def _path(self, step: int, block: int) -> str:
        return os.path.join(self._exchange, f"{step}-{block}")

    def map_collect(self, fn: Callable, *args, with_index: bool = False) -> list:
        """``fn(bundle, *args)`` of every block, in block order, in every task."""
        step = self._step
        self._step += 1
        mine = {}
        for index, bundle in self._local:
            mine[index] = fn(index, bundle, *args) if with_index else fn(bundle, *args)
            _publish(mine[index], self._path(step, index))
        out = [mine[p] if p in mine else
               _receive(await_file(self._path(step, p), f"block {p}'s result", self._abort))
               for p in range(self.num_partitions)]
        # every task has read step - 2's files before anyone could write step's: drop ours
        for index in mine:
            if step >= 2:
                _remove(self._path(step - 2, index))
        return out

    def map_reduce(self, fn: Callable, *args, combine: Callable = tree_add,
                   with_index: bool = False):
        """The combined results of every block, as :meth:`BlockRDD.map_reduce` (same tree)."""
        return _tree_reduce(self.map_collect(fn, *args, with_index=with_index), combine)

    def ask_driver(self, payload) -> Any:
        """Send ``payload`` to the driver's handler (from partition 0) and return its answer
        in every task."""
        k = self._asked
        self._asked += 1
        if self.is_leader:
            _publish(payload, os.path.join(self._exchange, f"ask-{k}"))
        answer = _receive(await_file(os.path.join(self._exchange, f"answer-{k}"),
                                     "answer from the driver", self._abort))
        if isinstance(answer, _Abort):
            raise GangAborted("the driver's handler failed")
        return answer


class _Abort:
    pass


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _gang_task(program, shipped, view, exchange, rows, partition, tokens):
    local = [(i, view(_open(path))) for i, _host, path, _n in tokens]
    out = program(GangBlocks(local, rows, exchange, partition), *_resolve(shipped))
    if partition == 0:
        yield spill_result(out, True)


def run(blocks, program: Callable, *args, on_request: Callable | None = None):
    """Run ``program(gang_blocks, *args)`` in every task of one barrier stage over
    ``blocks`` (see the module docstring) and return partition 0's result.

    ``program`` must be a picklable, deterministic function of the values it receives (the
    same calls in the same order in every task). ``on_request(payload)`` answers the
    program's :meth:`GangBlocks.ask_driver` calls on the driver; an exception it raises
    stops the run and is re-raised here.
    """
    if not available(blocks):
        raise ValueError("a gang run needs a BlockRDD on a local-mode Spark context")
    meta, view = blocks._gang_layout()
    ctx = blocks._ctx
    slots = max(1, min(len(meta), local_slots(ctx)))
    exchange = os.path.join(_driver_root_dir(ctx), f"gang-{uuid.uuid4().hex}")
    os.makedirs(exchange)
    shipped, large = ship_args(ctx, args)
    fn = task_safe(functools.partial(_gang_task, program, shipped, view, exchange,
                                     [m[3] for m in meta]))
    rdd = ctx.sc.parallelize(meta, slots).barrier().mapPartitionsWithIndex(fn)
    try:
        if on_request is None:
            out = ctx.run(rdd.collect)
        else:
            out = _serve(ctx, rdd, exchange, on_request)
    except BaseException:
        _publish(None, os.path.join(exchange, _ABORT))
        raise
    finally:
        drop_shipped(large)
        shutil.rmtree(exchange, ignore_errors=True)
    return unspill_result(out[0])


def execute(blocks, program: Callable, *args, callback: Callable | None = None, **kwargs):
    """``program(blocks, *args, callback=callback, **kwargs)``: as a gang run when
    :func:`available` (the callback then runs on the driver, through
    :meth:`GangBlocks.ask_driver`, and its answer goes back to the program), else directly
    on ``blocks``."""
    if not available(blocks):
        return program(blocks, *args, callback=callback, **kwargs)
    return run(blocks, _calling_back, program, args, kwargs, callback is not None,
               on_request=None if callback is None else lambda a: callback(*a))


def _calling_back(blocks, program, args, kwargs, has_callback):
    callback = (lambda *a: blocks.ask_driver(a)) if has_callback else None
    return program(blocks, *args, callback=callback, **kwargs)


def _serve(ctx, rdd, exchange: str, on_request: Callable):
    """Run the job in a thread; answer the program's requests until it ends."""
    from pyspark import InheritableThread

    done: dict = {}

    def job():
        try:
            done["out"] = ctx.run(rdd.collect)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the driver's thread
            done["error"] = exc

    # an InheritableThread carries the caller's job group and other local properties
    thread = InheritableThread(target=job, name="mli-gang", daemon=True)
    thread.start()
    k, pause, failure = 0, 2e-5, None
    try:
        while thread.is_alive() or os.path.exists(os.path.join(exchange, f"ask-{k}")):
            ask = os.path.join(exchange, f"ask-{k}")
            if not os.path.exists(ask):
                thread.join(pause)
                pause = min(2 * pause, 5e-4)
                continue
            try:
                answer = on_request(_receive(ask))
            except BaseException as exc:  # noqa: BLE001 - stops the tasks, re-raised below
                failure, answer = exc, _Abort()
            _publish(answer, os.path.join(exchange, f"answer-{k}"))
            k, pause = k + 1, 2e-5
            if failure is not None:
                break
    finally:
        if thread.is_alive():
            if failure is None:  # interrupted: stop the tasks
                _publish(None, os.path.join(exchange, _ABORT))
            thread.join()
    if failure is not None:
        raise failure
    if "error" in done:
        raise done["error"]
    return done["out"]
