"""Resident blocks: per-partition numeric data written once where the tasks run, read by
every pass.

An iterative algorithm makes many passes over the same data. Shipping the data from the JVM
to the Python workers on every pass (what a cached RDD of numpy blocks does) costs pickling
and socket copies that dominate the pass. A :class:`BlockRDD` instead writes each *bundle*
(a LocalMatrix, ndarray, scipy sparse matrix, or a tuple/dict of those; one per partition)
as ``.npy`` files into the node's app-scoped Spark directory (``SparkFiles``' root, deleted
by Spark with the application), once, and every pass memory-maps them: the pages are shared
by all worker processes on a node through the OS page cache; nothing is pickled or copied
per pass, and workers are reused between tasks and keep the opened bundles.

There is one execution model on every deployment (``local[*]``, a multi-host cluster, a
Spark Connect session): **every pass is a gang run** (:mod:`mli.engine.gang`), a barrier stage
whose tasks are given the blocks they can read where they run. Where the blocks come from:

* :meth:`BlockRDD.from_bundles` (``MLTable.from_numpy``, ALS): the driver writes the files
  into its scratch directory (one copy, no pickling, no JVM); a task that cannot read them
  where it runs (another host) receives its blocks from the driver once, at the gang's
  rendezvous, and writes them where it runs.
* :meth:`BlockRDD.from_dataframe`: one ``mapInArrow`` job whose tasks write their
  partition's block where they run (the DataFrame API only: Spark Connect too).
* an RDD source (classic Spark): one job whose tasks write their partition's block.
* :class:`DerivedStore` (``map``): one pass over a parent store writes ``fn`` of each block.

Fault tolerance: a block no task can read (its executor was lost, its files removed) makes
the driver write the blocks again from their source (a new generation) and start the run
again; a pass never runs on wrong or partial data.

Why this module is long: a block store's whole life is here -- the file format of a bundle,
the four ways a store is written (by the driver, by a DataFrame job, by a job over an RDD,
by a pass over a parent store), how every pass reads it (memory maps), and how its files go
away everywhere (the store's lifetime, doomed stores, Connect clean-up). Their invariants (a
block's ``tree.json`` is written last and removed first; a store's files are removed once,
wherever they are) are checked together in one place.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import pickle
import re
import socket
import threading
import uuid
import weakref
from collections import OrderedDict, deque
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from mli.engine import pagepool
from mli.engine.context import on_stop
from mli.engine.collective import tree_reduce
from mli.errors import BlockMissingError, task_safe
from mli.linalg.localmatrix import LocalMatrix

log = logging.getLogger("mli")

#: bytes per row when driver-held blocks go to the executors through a DataFrame
#: (``BlockRDD._place``): a local relation's task carries one such chunk
PLACE_CHUNK_BYTES = 16 << 20

__all__ = ["BlockRDD", "BlockView", "DerivedStore", "is_local", "local_slots", "tree_add",
           "save_bundle", "load_bundle"]

# ---------------------------------------------------------------------------- bundles <-> files


def _flatten(obj, arrays: list) -> Any:
    """Describe ``obj`` as JSON, appending its arrays to ``arrays``."""
    if isinstance(obj, LocalMatrix):
        return {"LocalMatrix": _flatten(obj.array, arrays)}
    if sp.issparse(obj):
        csr = sp.csr_matrix(obj)
        return {"csr": [_flatten(csr.data, arrays), _flatten(csr.indices, arrays),
                        _flatten(csr.indptr, arrays)], "shape": list(csr.shape)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("resident blocks hold numeric arrays only; got an object array")
        arrays.append(obj)
        return {"npy": len(arrays) - 1}
    if isinstance(obj, tuple):
        return {"tuple": [_flatten(o, arrays) for o in obj]}
    if isinstance(obj, list):
        return {"list": [_flatten(o, arrays) for o in obj]}
    if isinstance(obj, dict):
        return {"dict": {str(k): _flatten(v, arrays) for k, v in obj.items()}}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    if isinstance(obj, np.generic):
        return {"value": obj.item()}
    raise TypeError(f"cannot store a {type(obj).__name__} in a resident block")


def unflatten(desc, arrays):
    (kind, val), = desc.items() if len(desc) == 1 else [(k, desc[k]) for k in desc if k != "shape"]
    if kind == "LocalMatrix":
        return LocalMatrix(unflatten(val, arrays))
    if kind == "csr":
        data, indices, indptr = (unflatten(v, arrays) for v in val)
        m = sp.csr_matrix(tuple(desc["shape"]), dtype=data.dtype)
        m.data, m.indices, m.indptr = data, indices, indptr  # no copy, no format check
        return m
    if kind == "npy":
        return arrays[val]
    if kind == "tuple":
        return tuple(unflatten(v, arrays) for v in val)
    if kind == "list":
        return [unflatten(v, arrays) for v in val]
    if kind == "dict":
        return {k: unflatten(v, arrays) for k, v in val.items()}
    if kind == "value":
        return val
    raise ValueError(f"unknown bundle entry {kind!r}")


def save_bundle(obj, directory: str, recycle: bool = False) -> None:
    """Write a bundle as ``tree.json`` + ``a<i>.npy`` files (atomically, via a temp dir);
    ``recycle``: into released files' pages where possible (:mod:`mli.engine.pagepool`)."""
    arrays: list = []
    desc = _flatten(obj, arrays)
    tmp = f"{directory}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        os.makedirs(tmp, exist_ok=True)
        for i, a in enumerate(arrays):
            if recycle:
                pagepool.write_array(os.path.join(tmp, f"a{i}.npy"), a)
            else:
                np.save(os.path.join(tmp, f"a{i}.npy"), np.ascontiguousarray(a),
                        allow_pickle=False)
        with open(os.path.join(tmp, "tree.json"), "w") as f:
            json.dump({"tree": desc, "n": len(arrays)}, f)
    except OSError as exc:
        import errno
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(exc.errno, f"no space left for a resident block in "
                          f"{os.path.dirname(directory)} ({_nbytes(obj) / 2**20:.1f} MB "
                          f"needed): free space there or point Spark's scratch space "
                          f"elsewhere (spark.local.dir, SPARK_LOCAL_DIRS)") from None
        raise
    try:
        os.rename(tmp, directory)
    except OSError:  # another attempt (speculation, retry) wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def load_flat(directory: str, mmap: bool = True) -> tuple:
    """A block's files as ``(tree, arrays)``: its description and its arrays
    (memory-mapped when ``mmap``); :func:`unflatten` makes the bundle."""
    with open(os.path.join(directory, "tree.json")) as f:
        meta = json.load(f)
    arrays = [np.load(os.path.join(directory, f"a{i}.npy"), mmap_mode="r" if mmap else None,
                      allow_pickle=False) for i in range(meta["n"])]
    return meta["tree"], arrays


def load_bundle(directory: str, mmap: bool = True):
    return unflatten(*load_flat(directory, mmap))


# ---------------------------------------------------------------------------- worker side

_CACHE: "OrderedDict[str, Any]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 256


def root_dir() -> str:
    from pyspark import SparkFiles

    try:
        root = SparkFiles.getRootDirectory()
    except Exception:  # noqa: BLE001 - not inside Spark (tests of pure functions)
        import tempfile

        root = tempfile.gettempdir()
    # absolute: an executor's SparkFiles root is its working directory, "."; a block's path
    # must name the same files whichever process reads it
    return os.path.abspath(os.path.join(root, "mli-blocks"))


def open_block(path: str):
    # the stat also guards cached maps: files removed from under a worker (a lost node's
    # directory, an unpersist) mean a rebuild, never data from a store that was dropped
    if not os.path.exists(os.path.join(path, "tree.json")):
        _drop_cached(path)
        raise BlockMissingError(f"resident block {path} is not on host {socket.gethostname()}")
    with _CACHE_LOCK:
        hit = _CACHE.get(path)
        if hit is not None:
            _CACHE.move_to_end(path)
            return hit
        # a miss: also let go of maps whose files were deleted (a collected driver-held store),
        # so their pages are freed
        stale = [k for k in _CACHE if not os.path.exists(os.path.join(k, "tree.json"))]
        for k in stale:
            del _CACHE[k]
    bundle = load_bundle(path)
    with _CACHE_LOCK:
        _CACHE[path] = bundle
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return bundle


def _drop_cached(prefix: str) -> None:
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k.startswith(prefix)]:
            del _CACHE[k]


def _bundle_rows(obj) -> int:
    if isinstance(obj, (LocalMatrix, np.ndarray)) or sp.issparse(obj):
        return int(obj.shape[0]) if np.ndim(obj) or sp.issparse(obj) else 1
    if isinstance(obj, (tuple, list)) and obj:
        return _bundle_rows(obj[0])
    if isinstance(obj, dict) and obj:
        return _bundle_rows(next(iter(obj.values())))
    return 0


def _write_partition(store_id: str, index: int, iterator):
    items = list(iterator)
    if len(items) != 1:
        raise ValueError(f"a resident partition must hold exactly one block, partition {index} "
                         f"has {len(items)}")
    path = os.path.join(root_dir(), store_id, f"p{index:05d}")
    if not os.path.exists(os.path.join(path, "tree.json")):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_bundle(items[0], path)
    _drop_cached(path)
    yield (index, socket.gethostname(), path, _bundle_rows(items[0]))


_ROOTS: dict = {}


def _driver_root_dir(ctx) -> str:
    """Where the driver writes block files: the directory the workers' :func:`root_dir`
    names in local mode (same node, same SparkFiles directory; asked of the JVM once per
    SparkContext), the driver's own SparkFiles directory on a cluster, and the client's
    scratch directory over Spark Connect (no JVM there; removed at exit)."""
    if ctx.is_connect:
        return os.path.join(ctx.client_scratch_dir(), "mli-blocks")
    sc = ctx.sc
    key = id(sc._jsc)
    if key not in _ROOTS:
        root = sc._jvm.org.apache.spark.SparkFiles.getRootDirectory()
        _ROOTS.clear()  # one live SparkContext at a time
        _ROOTS[key] = os.path.join(str(root), "mli-blocks")
    return _ROOTS[key]


def is_local(ctx) -> bool:
    """Whether the driver shares the node with the workers (a ``local[...]`` master). A
    Spark Connect client never assumes so, whatever the server's master."""
    return not ctx.is_connect and str(ctx.sc.master).startswith("local")


def local_slots(ctx) -> int:
    """Tasks a local-mode master runs at once (``local``: 1, ``local[N]`` / ``local[N,F]``:
    N, ``local[*]``: the cores, ``local-cluster[W,C,M]``: W * C); 0 for other masters. A
    barrier stage (:mod:`mli.engine.gang`) needs one slot per task."""
    if ctx.is_connect:
        return 0
    master = str(ctx.sc.master)
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master)
    if m:
        return (os.cpu_count() or 1) if m.group(1) == "*" else int(m.group(1) or 1)
    m = re.fullmatch(r"local-cluster\[(\d+),\s*(\d+),\s*\d+\]", master)
    return int(m.group(1)) * int(m.group(2)) if m else 0


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------- combine


def tree_add(a, b):
    """Sum two results of the same structure (numbers, arrays, tuples/lists/dicts of them)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple):
        return tuple(tree_add(x, y) for x, y in zip(a, b))
    if isinstance(a, list):
        return [tree_add(x, y) for x, y in zip(a, b)]
    if isinstance(a, dict):
        return {k: tree_add(a[k], b[k]) for k in a}
    return a + b




def check_destinations(src: int, sent, n: int) -> dict:
    """What block ``src`` gives an exchange (``{destination block: value}``), checked: a
    dict whose keys are blocks ``0 .. n-1``; else a ValueError naming the block."""
    if not isinstance(sent, dict):
        raise ValueError(f"exchange: the function must return a dict {{destination block: "
                         f"value}}; for block {src} it returned a {type(sent).__name__}")
    bad = [d for d in sent if isinstance(d, bool) or not isinstance(d, (int, np.integer))
           or not 0 <= d < n]
    if bad:
        raise ValueError(f"exchange: block {src} sent to {bad[0]!r}, which is not a block of "
                         f"this store (0 .. {n - 1})")
    return sent


def _nbytes(obj) -> int:
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if sp.issparse(obj):
        return obj.data.nbytes + obj.indices.nbytes if hasattr(obj, "indices") else 0
    if isinstance(obj, (tuple, list)):
        return sum(_nbytes(o) for o in obj)
    if isinstance(obj, dict):
        return sum(_nbytes(o) for o in obj.values())
    if isinstance(obj, LocalMatrix):
        return _nbytes(obj.array)
    return 0


# ---------------------------------------------------------------------------- driver side

# materialized stores, for forget_all; weak: a store the program has dropped is collected (a
# driver-written store's files then go to mli.engine.pagepool)
_LIVE: "weakref.WeakValueDictionary[str, BlockRDD]" = weakref.WeakValueDictionary()
# driver-written stores whose blocks were also sent to executors (copies written there)
_COPIED: "weakref.WeakSet[BlockRDD]" = weakref.WeakSet()
# ids of collected stores whose files the executors may still hold: the next gang run's tasks
# remove them where they run (mli.engine.gang), a Spark Connect context the rest when it stops (a
# Connect server outlives its clients; classic Spark removes its executors' directories
# when the application ends)
# (a deque: finalizers run in any thread, at any allocation, so no lock may be held here)
_DOOMED: "deque[str]" = deque()


def _doom(store_id: str) -> None:
    _DOOMED.append(store_id)


def take_doomed() -> list:
    """The collected stores' ids not yet removed on the executors (and forget them)."""
    out = []
    while True:
        try:
            out.append(_DOOMED.popleft())
        except IndexError:
            return out


def remove_stores(store_ids) -> None:
    """Task side: delete these stores' files (and cached maps) where this task runs."""
    root = root_dir()
    for store_id in store_ids:
        path = os.path.join(root, store_id)
        _remove_tree(path)
        _drop_cached(path + os.sep)


# A pass over the blocks is a one-step gang run. mli.engine.gang, the layer above this
# module, installs its runner here when it is imported (importing mli.engine imports it).
_pass_runner: Callable | None = None


def set_pass_runner(run: Callable) -> None:
    """Run every pass of :meth:`BlockRDD.map_collect` as ``run(store, step, fn, args,
    with_index)`` (called by :mod:`mli.engine.gang`)."""
    global _pass_runner
    _pass_runner = run


def forget_all(ctx=None) -> None:
    """Called when Spark stops: the blocks the executors wrote go with it (and the pooled
    files). A Spark Connect context first removes the executors' files of every store this
    process made (one job)."""
    if ctx is not None and ctx.is_connect:
        ids = take_doomed() + [s._store_id for s in list(_LIVE.values()) if s._meta]
        _delete_everywhere(ctx, ids + [s._store_id for s in list(_COPIED)])
    for store in list(_LIVE.values()):
        store._meta = None
    _LIVE.clear()
    _COPIED.clear()
    take_doomed()
    pagepool.clear()


class BlockRDD:
    """Per-partition bundles kept resident where the tasks run (see module docstring).

    Parameters
    ----------
    source : pyspark.RDD
        Each partition yields exactly one bundle. It is the lineage blocks are rebuilt from.
    ctx : MLContext
    """

    def __init__(self, source, ctx, name: str = "blocks"):
        self._source = source
        self._ctx = ctx
        self._id = f"{name}-{uuid.uuid4().hex[:12]}"
        self._meta = None  # [(index, host, path, rows)] of the written blocks
        self._store_id = None
        self._generation = 0
        self._driver_files = False  # from_bundles: the driver's files are the source of record
        self._frame = None  # (DataFrame, to_bundle) of from_dataframe: executor-written
        self._placed = None  # a driver-held store's blocks as a DataFrame of chunks (_place)

    @classmethod
    def from_bundles(cls, bundles: list, ctx, name: str = "blocks") -> "BlockRDD":
        """A store of driver-held bundles, one per partition.

        The driver writes the bundle files into its scratch directory (about a memory
        copy's cost; a snapshot: later changes to the caller's arrays do not reach them);
        they are the store's source of record until it is garbage-collected. A gang run's
        task that can read a file where it runs (``local[*]``, an executor on the driver's
        host) memory-maps it; the driver sends the others' blocks once over the gang's
        connection and they are written where the task runs (:mod:`mli.engine.gang`).
        """
        if not bundles:
            raise ValueError("a store needs at least one bundle")
        store_id = f"{name}-{uuid.uuid4().hex[:12]}-src"
        directory = os.path.join(_driver_root_dir(ctx), store_id)
        os.makedirs(directory, exist_ok=True)
        host = socket.gethostname()
        paths = [os.path.join(directory, f"p{i:05d}") for i in range(len(bundles))]
        # one writer thread per core (writes release the GIL): the kernel's page allocation
        # runs in parallel; into the pages
        # of released stores' files where there are such (mli.engine.pagepool)
        from concurrent.futures import ThreadPoolExecutor

        threads = min(len(bundles), os.cpu_count() or 1)
        with ThreadPoolExecutor(threads, thread_name_prefix="mli-ingest") as pool:
            list(pool.map(functools.partial(save_bundle, recycle=True), bundles, paths))
        store = cls(None, ctx, name=name)  # its RDD is made only when asked for (source_rdd)
        store._meta = [(i, host, path, _bundle_rows(b)) for i, (b, path) in
                       enumerate(zip(bundles, paths))]
        store._store_id, store._driver_files = store_id, True
        weakref.finalize(store, pagepool.release, directory)
        return store

    @classmethod
    def from_dataframe(cls, df, to_bundle: Callable, ctx, name: str = "blocks") -> "BlockRDD":
        """A store written by the executors from a Spark DataFrame, through the DataFrame API
        only (so also over Spark Connect): one ``mapInArrow`` job in which each task turns
        its partition's Arrow batches into one bundle, ``to_bundle(batches, partition)``,
        and writes it where it runs. The DataFrame is the lineage: blocks found missing are
        written again by the same job. Nothing passes through the driver."""
        store = cls(None, ctx, name=name)
        store._frame = (df, to_bundle)
        return store

    @property
    def passes_ready(self) -> bool:
        """Whether a pass needs no write first (written blocks, or driver-written files)."""
        return self._meta is not None

    @property
    def source_rdd(self):
        """An RDD with one bundle per partition holding this store's data; it stays valid
        after the store is gone (for a driver-written store it is made on first request, by
        reading the files back on the driver: the slow path, for RDD-level operations)."""
        if self._source is None and self._driver_files:
            self._ctx.require_classic("an RDD of a table's blocks", "the table's block "
                                      "operations (map_batches, aggregate, fit/predict)")
            bundles = [_materialize_copy(load_bundle(m[2])) for m in self._meta]
            self._source = self._ctx.sc.parallelize(bundles, len(bundles))
        if self._source is None and self._frame is not None:
            return self.source_bundles()
        return self._source

    # -- lifecycle
    @property
    def num_partitions(self) -> int:
        if self._source is not None and self._meta is None:
            return self._source.getNumPartitions()
        return len(self.materialize()._meta)

    def materialize(self) -> "BlockRDD":
        """Write the blocks where the tasks run (one Spark job). Idempotent."""
        if self._meta is not None:
            return self
        self._generation += 1
        store_id = f"{self._id}-g{self._generation}"
        if self._frame is not None:
            df, to_bundle = self._frame
            job = df.mapInArrow(task_safe(functools.partial(_write_frame_partition, store_id,
                                                            to_bundle)),
                                "index long, host string, path string, rows long").collect
        elif self._placed is not None:
            job = self._placed.mapInArrow(task_safe(functools.partial(_write_placed,
                                                                      store_id)),
                                          "index long, host string, path string, rows long"
                                          ).collect
        else:
            job = self._source.mapPartitionsWithIndex(
                task_safe(functools.partial(_write_partition, store_id))).collect
        meta = sorted(tuple(m) for m in self._ctx.run(job))
        if [m[0] for m in meta] != list(range(len(meta))):
            raise RuntimeError(f"the blocks came back incomplete: partitions "
                               f"{[m[0] for m in meta]}")
        self._meta, self._store_id = meta, store_id
        _LIVE[self._id] = self
        weakref.finalize(self, _doom, store_id)
        return self

    def _place(self) -> None:
        """Driver-held blocks onto the executors through a DataFrame, for gang runs whose
        tasks can neither read the driver's files nor be sent them (some executor cannot
        reach the driver: a Connect client outside the cluster's network). The
        blocks go to Spark once, as a DataFrame of chunks (``createDataFrame``: over
        Connect, the client's only channel), and one job writes each block where its task
        runs; that DataFrame is the store's lineage from then on."""
        import pandas as pd

        n = len(self._meta)
        pieces, chunk, slots = [], PLACE_CHUNK_BYTES, max(1, int(self._ctx.default_parallelism))
        rows: list = []
        for i, m in enumerate(self._meta):
            data = pickle.dumps(load_bundle(m[2], mmap=False), protocol=5)
            for k, s in enumerate(range(0, max(1, len(data)), chunk)):
                rows.append((i, k, data[s:s + chunk]))
                if len(rows) == slots:  # one chunk per task of the frame's local scan
                    pieces.append(rows)
                    rows = []
        if rows:
            pieces.append(rows)
        spark = self._ctx.spark
        frames = [spark.createDataFrame(pd.DataFrame(p, columns=["block", "seq", "data"]),
                                        "block long, seq long, data binary") for p in pieces]
        df = functools.reduce(lambda a, b: a.union(b), frames).repartition(n, "block")
        self._placed, self._driver_files = df, False
        self._meta = None
        log.info("placed %d driver-held blocks on the executors through a DataFrame", n)
        self.materialize()

    def _drop_resident(self) -> None:
        """Forget the resident blocks so the next pass rebuilds them from the lineage (some
        were found missing)."""
        if self._driver_files:
            raise BlockMissingError(f"the driver's block files of {self._id} are gone "
                                    f"({os.path.dirname(self._meta[0][2])}); was Spark "
                                    "stopped, or its scratch space cleaned?")
        self.unpersist()

    def unpersist(self) -> None:
        """Drop the resident files (a driver-written store keeps its own: its data)."""
        if self._meta is None or self._driver_files:
            return
        store_id, self._meta = self._store_id, None
        _LIVE.pop(self._id, None)
        _delete_everywhere(self._ctx, [store_id])

    @property
    def partition_rows(self) -> list[int]:
        return [m[3] for m in self.materialize()._meta]

    @property
    def num_rows(self) -> int:
        return int(sum(self.partition_rows))

    # -- passes
    def map_reduce(self, fn: Callable, *args, combine: Callable = tree_add,
                   with_index: bool = False):
        """Run ``fn(bundle, *args)`` on every partition and combine the results.

        ``fn`` must be a picklable function (a module-level function is cheapest). Results
        are combined with ``combine`` (default: elementwise sum) in a tree whose shape depends
        only on the number of partitions, so the result is deterministic.
        """
        return tree_reduce(self.map_collect(fn, *args, with_index=with_index), combine)

    def map_collect(self, fn: Callable, *args, with_index: bool = False) -> list:
        """Run ``fn(bundle, *args)`` on every partition; return the results in partition order.

        With ``with_index=True`` the function is called as ``fn(index, bundle, *args)``. A
        pass is a one-step gang run (:mod:`mli.engine.gang`): each block is read by a task that
        can see its files, wherever Spark put the tasks.
        """
        if _pass_runner is None:
            raise RuntimeError("no runner for passes over blocks: import mli.engine (its gang "
                               "module installs one)")
        return _pass_runner(self, _collect_step, fn, args, with_index)

    # the rest of a gang program's interface (mli.engine.gang.GangBlocks), for a program run on
    # the driver (each pass a gang run of its own): the driver holds every block's values
    def local_values(self, fn: Callable, *args, with_index: bool = False) -> dict:
        """``{block: fn(bundle, *args)}`` of every block."""
        return dict(enumerate(self.map_collect(fn, *args, with_index=with_index)))

    def gather(self, fn: Callable, *args, with_index: bool = False) -> list:
        """As :meth:`map_collect` (on the driver, the leader's values)."""
        return self.map_collect(fn, *args, with_index=with_index)

    def exchange(self, fn: Callable, *args) -> dict:
        """``fn(index, bundle, *args)`` of every block gives ``{destination block: value}``;
        returns every block's received ``[(source block, value)]``, in source order."""
        n = self.num_partitions
        got: dict = {i: [] for i in range(n)}
        for src, sent in enumerate(self.map_collect(fn, *args, with_index=True)):
            for dest, value in check_destinations(src, sent, n).items():
                got[dest].append((src, value))
        return got

    def _direct_source(self) -> bool:
        """Whether a single pass can run straight on the source (an RDD or a DataFrame on
        classic Spark) because nothing is written yet (:func:`mli.engine.onepass.one_pass`)."""
        return (self._meta is None and not self._ctx.is_connect
                and (self._source is not None or self._frame is not None))

    def _gang_layout(self):
        """``(blocks, view)`` for a gang run (:mod:`mli.engine.gang`): every block's
        ``(index, host, path, rows)`` and the function applied to a bundle once opened."""
        return list(self.materialize()._meta), _identity

    def _sendable(self) -> list | None:
        """The driver-written block files a gang run may send to tasks that cannot read
        them where they run, or None."""
        return [m[2] for m in self._meta] if self._driver_files else None

    def _sent(self) -> None:
        """A gang run sent some of this driver-written store's blocks to executors: their
        copies go when the store is collected."""
        if self._driver_files and self not in _COPIED:
            _COPIED.add(self)
            weakref.finalize(self, _doom, self._store_id)

    def map(self, fn: Callable, *args, with_index: bool = False, name: str = "blocks") -> "BlockRDD":
        """A new store whose bundle ``p`` is ``fn(bundle_p, *args)`` (lazy).

        Of a DataFrame's store, the executors write the derived blocks straight from the
        DataFrame (its lineage); otherwise one pass over this store writes them where it
        runs (:class:`DerivedStore`).
        """
        if self._frame is not None:
            df, to_bundle = self._frame
            return BlockRDD.from_dataframe(
                df, functools.partial(_mapped_frame, to_bundle, fn, args, with_index),
                self._ctx, name=name)
        return DerivedStore(self, functools.partial(_mapped_view, fn, args, with_index),
                            name=name)

    def source_bundles(self):
        """An RDD with one bundle per partition, computed from the store's source (classic
        Spark only)."""
        if self._frame is not None:
            self._ctx.require_classic("an RDD of a DataFrame's blocks", "the table's block "
                                      "operations (map_batches, aggregate, fit/predict)")
            return self._frame[0].mapInArrow(
                task_safe(functools.partial(_frame_bundles, self._frame[1])), "b binary"
            ).rdd.map(_unbytes)
        return self.source_rdd

    def collect(self) -> list:
        """All bundles, in partition order, on the driver (copies, not memory maps)."""
        return self.map_collect(_copy_bundle)


class BlockView(BlockRDD):
    """``fn`` applied to each bundle of ``parent`` at pass time: no copy is written.

    For cheap re-packaging of a bundle (e.g. ``(X, None)`` around a feature block); the
    parent's resident files serve every pass. Releasing a view leaves the parent's blocks
    alone (they belong to whoever made the parent).
    """

    def __init__(self, parent: BlockRDD, fn: Callable, name: str = "view",
                 indexed: bool = False):
        super().__init__(None, parent._ctx, name=name)
        # indexed: fn(index, bundle), else fn(bundle)
        self._parent, self._fn, self._indexed = parent, fn, indexed

    @property
    def _apply(self):
        """``(index, bundle) -> view`` (picklable: never the view object itself)."""
        return functools.partial(_view_apply, self._fn, self._indexed)

    @property
    def source_rdd(self):
        return self._parent.source_rdd.mapPartitionsWithIndex(
            task_safe(functools.partial(_apply_in_partition, self._apply)))

    @property
    def num_partitions(self) -> int:
        return self._parent.num_partitions

    def materialize(self) -> "BlockView":
        self._parent.materialize()
        return self

    @property
    def passes_ready(self) -> bool:
        return self._parent.passes_ready

    @property
    def partition_rows(self) -> list[int]:
        return self._parent.partition_rows

    def unpersist(self) -> None:
        return None

    def _drop_resident(self) -> None:
        self._parent._drop_resident()

    def _sendable(self) -> list | None:
        return self._parent._sendable()

    def _sent(self) -> None:
        self._parent._sent()

    def _place(self) -> None:
        self._parent._place()

    def _direct_source(self) -> bool:
        return self._parent._direct_source()

    def source_bundles(self):
        return self._parent.source_bundles().mapPartitionsWithIndex(
            task_safe(functools.partial(_apply_in_partition, self._apply)))

    def _gang_layout(self):
        meta, view = self._parent._gang_layout()
        return meta, functools.partial(_composed, self._apply, view)


def _mapped_frame(to_bundle, fn, args, with_index, batches, index):
    bundle = to_bundle(batches, index)
    return fn(index, bundle, *args) if with_index else fn(bundle, *args)


def _mapped_view(fn, args, with_index, index, bundle):
    return fn(index, bundle, *args) if with_index else fn(bundle, *args)


def _write_frame_partition(store_id: str, to_bundle: Callable, batches):
    import pyarrow as pa
    from pyspark import TaskContext

    index = TaskContext.get().partitionId()
    bundle = to_bundle(batches, index)
    path = os.path.join(root_dir(), store_id, f"p{index:05d}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_bundle(bundle, path)
    _drop_cached(path)
    yield pa.RecordBatch.from_pydict({"index": [index], "host": [socket.gethostname()],
                                      "path": [path], "rows": [_bundle_rows(bundle)]})


def _write_placed(store_id: str, batches):
    """Write the blocks whose chunks are in this partition (``BlockRDD._place``)."""
    import pyarrow as pa

    parts: dict = {}
    for b in batches:
        for block, seq, data in zip(*(b.column(c).to_pylist() for c in range(3))):
            parts.setdefault(block, []).append((seq, data))
    out = {"index": [], "host": [], "path": [], "rows": []}
    for block, chunks in sorted(parts.items()):
        bundle = pickle.loads(b"".join(d for _s, d in sorted(chunks)))
        path = os.path.join(root_dir(), store_id, f"p{block:05d}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_bundle(bundle, path)
        _drop_cached(path)
        for key, v in zip(out, (block, socket.gethostname(), path, _bundle_rows(bundle))):
            out[key].append(v)
    yield pa.RecordBatch.from_pydict(out, schema=pa.schema([
        ("index", pa.int64()), ("host", pa.string()), ("path", pa.string()),
        ("rows", pa.int64())]))


def _frame_bundles(to_bundle: Callable, batches):
    import io as _io

    import pyarrow as pa
    from pyspark import TaskContext

    from pyspark import cloudpickle

    bundle = to_bundle(batches, TaskContext.get().partitionId())
    buf = _io.BytesIO(cloudpickle.dumps(bundle))
    yield pa.RecordBatch.from_pydict({"b": [buf.getvalue()]})


def _unbytes(row):
    from pyspark import cloudpickle

    return cloudpickle.loads(bytes(row[0]))


def _delete_dirs(store_ids: list, _batches):
    import pyarrow as pa

    remove_stores(store_ids)
    yield pa.RecordBatch.from_pydict({"ok": [1]})


def _delete_everywhere(ctx, store_ids: list) -> None:
    """Best effort: one task per slot deletes the stores' directories wherever it runs."""
    if not store_ids:
        return
    try:
        n = max(1, int(ctx.default_parallelism))
        ctx.spark.range(0, n, 1, n).mapInArrow(
            functools.partial(_delete_dirs, list(store_ids)), "ok long").collect()
    except Exception:  # noqa: BLE001 - Spark may already be stopped
        pass


class DerivedStore(BlockRDD):
    """``fn(index, bundle)`` of every block of ``parent``, computed by one pass over the
    parent (a gang run) whose tasks write the results where they run. The parent plus
    ``fn`` is the lineage: blocks found missing are derived again."""

    def __init__(self, parent: BlockRDD, fn: Callable, name: str = "derived"):
        super().__init__(None, parent._ctx, name=name)
        self._parent, self._fn = parent, fn

    @property
    def num_partitions(self) -> int:
        return self._parent.num_partitions

    def materialize(self) -> "DerivedStore":
        if self._meta is None:
            self._generation += 1
            store_id = f"{self._id}-g{self._generation}"
            meta = self._parent.map_collect(_write_derived, store_id, self._fn,
                                            with_index=True)
            self._meta, self._store_id = [tuple(m) for m in meta], store_id
            _LIVE[self._id] = self
            weakref.finalize(self, _doom, store_id)
        return self

    def _direct_source(self) -> bool:
        return self._meta is None and self._parent._direct_source()

    def source_bundles(self):
        self._ctx.require_classic("an RDD of derived blocks", "the store's passes "
                                  "(map_collect, map_reduce)")
        return self._parent.source_bundles().mapPartitionsWithIndex(
            task_safe(functools.partial(_apply_in_partition, self._fn)))

    @property
    def source_rdd(self):
        return self.source_bundles()


def _write_derived(index, bundle, store_id, fn):
    out = fn(index, bundle)
    path = os.path.join(root_dir(), store_id, f"p{index:05d}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_bundle(out, path)
    _drop_cached(path)
    return (index, socket.gethostname(), path, _bundle_rows(out))


def _collect_step(blocks, fn, args, with_index):
    return blocks.gather(fn, *args, with_index=with_index)


def _collect_local(blocks, fn, args, with_index):
    return blocks.local_values(fn, *args, with_index=with_index)


# where every task reaches the driver, each sends its values to it (mli.engine.gang)
_collect_step.gather_fn = _collect_local


def _view_apply(fn, indexed, index, bundle):
    return fn(index, bundle) if indexed else fn(bundle)


def _identity(index, bundle):
    return bundle


def _composed(outer, inner, index, bundle):
    """Views of views: ``outer(index, inner(index, bundle))``."""
    return outer(index, inner(index, bundle))


def _apply_in_partition(apply, index, it):
    for bundle in it:
        yield apply(index, bundle)


def _copy_bundle(bundle):
    return _materialize_copy(bundle)


def _materialize_copy(obj):
    if isinstance(obj, LocalMatrix):
        return LocalMatrix(_materialize_copy(obj.array))
    if isinstance(obj, np.ndarray):
        return np.array(obj)
    if sp.issparse(obj):
        return obj.copy()
    if isinstance(obj, tuple):
        return tuple(_materialize_copy(o) for o in obj)
    if isinstance(obj, list):
        return [_materialize_copy(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _materialize_copy(v) for k, v in obj.items()}
    return obj


on_stop(forget_all, order=1)  # after the gang's jobs ended (order 0)
