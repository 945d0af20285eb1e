"""Gang runs: a whole iterative algorithm in one barrier-stage Spark job, its passes
all-reduced over TCP; the same on ``local[*]`` and on a multi-host cluster.

An optimizer makes tens to hundreds of passes over resident blocks; run as one Spark job
each, a pass costs the job's overhead (tens of milliseconds) even when its arithmetic takes
a few. A *gang run* starts the program once per task, in one barrier stage (Spark's gang
scheduling: all tasks start together or none does, and the failure of one fails them all).
Every task runs the same deterministic program (SPMD) over a :class:`GangBlocks`, which
implements the pass interface of a :class:`~mli.engine.blocks.BlockRDD` (``map_collect``,
``map_reduce``, ``num_rows``...) as an *all-reduce* (:mod:`mli.engine.collective`): each task
computes its own blocks' results and sends them to the leader (task 0), which combines all
blocks' results in partition order with the same tree as a Spark pass and sends the value
back. Every task holds the values the driver would hold, so the program's state stays
identical in all of them, and the leader sends the result to the driver. A single pass
whose values only the driver needs (``BlockRDD.map_collect``) skips the leader: where every
task reached the driver, each sends its blocks' values to it directly.

**The rendezvous** is hosted by the leader, on a port every task derives from the run's
secret (so no task waits for Spark to spread an address): every task tells it whether it
reached the driver and which of the store's block files it can read where it runs, and the
leader gives each block to a task that can (balancing rows). So a gang run is correct
wherever Spark puts its tasks: several executors on one host, several hosts. Where every
task reached the driver, the driver takes part: it sends the blocks it holds to tasks that
cannot read its files (another host), answers the program's requests and takes the result;
where some task cannot reach it (a Spark Connect client outside the cluster's network), the
run's outcome comes back as the job's output. A block no task can read (its executor was
lost) makes the driver rebuild the blocks from their lineage and start the run again; a
task lost mid-run fails the barrier stage, Spark starts it again, and the run starts over
from the beginning: the program is deterministic, so the result is the same.

A program may also exchange values between blocks (:meth:`GangBlocks.exchange`, e.g. the
factor rows of ALS's blocked strategy): each task sends every other task its blocks'
share directly, over connections the tasks make to each other at the first exchange.

The driver takes part where the program asks (:meth:`GangBlocks.ask_driver`, e.g. a
per-iteration callback): the leader sends the request, the driver answers, every task
gets the answer. Over Spark Connect the stage is ``spark.range(n).mapInArrow(...,
barrier=True)`` (the DataFrame API is all there is); on classic Spark a barrier RDD of ``n``
integers starts the same program without the DataFrame's planning and Arrow conversion
(a saving a one-pass run notices). No data rides in the stage: blocks are
read where they were written, or sent once by the driver (driver-written blocks a task
cannot read where it runs).

Why this module is long: it is one protocol -- the rendezvous (keys, ports, the probe), the
assignment of blocks to tasks, the leader's coordinator (all-reduce, requests to the
driver), the all-to-all mesh, the run's end and its retries -- whose parts share the run's
state and message formats; split, each part would have to export that state to the others.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import queue
import socket
import threading
import uuid
from typing import Any, Callable, NamedTuple

import numpy as np


from mli.engine import blocks as blocks_module
from mli.engine.blocks import (BlockRDD, open_block, root_dir, unflatten, check_destinations, load_flat,
                     local_slots, remove_stores, save_bundle, take_doomed, tree_add)
from mli.engine.collective import TIMEOUT, Channel, Listener, PeerLost, connect, encode, tree_reduce
from mli.engine.context import on_stop
from mli.errors import BlockMissingError, decode, encode_exception, task_safe

__all__ = ["GangBlocks", "GangAborted", "available", "slots", "run", "execute", "ENABLED",
           "last_stats"]

log = logging.getLogger("mli")

#: set to ``False`` to run every pass of a program as its own gang run, the program on the
#: driver (for comparisons)
ENABLED = True

#: on classic Spark, start the barrier stage from an RDD (``False``: a DataFrame's
#: ``mapInArrow``, as over Spark Connect)
RDD_LAUNCH = True

#: seconds a task of a probing run (``rendezvous="auto"`` over Connect) waits to reach the
#: driver before the tasks host the rendezvous themselves
PROBE_TIMEOUT = 5.0

#: counters of the last gang run on this driver: tasks, exchanges, bytes through the leader
last_stats: dict = {}


class GangAborted(RuntimeError):
    """The gang run was stopped (another task failed, or the driver's handler raised)."""


def slots(ctx) -> int:
    """Tasks a barrier stage can run at once on ``ctx``: the local master's threads, or the
    cluster's cores (Spark's default parallelism)."""
    n = local_slots(ctx)
    return n if n > 0 else int(ctx.default_parallelism)


def available(blocks) -> bool:
    """Whether ``blocks`` can host a gang run: a :class:`~mli.engine.blocks.BlockRDD` (or view) on
    a Spark context."""
    return isinstance(blocks, BlockRDD) and getattr(blocks, "_ctx", None) is not None


# ============================================================================ task side


class GangBlocks:
    """A task's side of a gang run: the pass interface of a BlockRDD over all blocks, where
    this task computes its own blocks and receives the combined results.

    Every task must make the same calls in the same order (the program is SPMD).
    """

    def __init__(self, local: list, rows: list[int], partition: int, peers=None, hub=None,
                 driver=None, owned=None, mesh=None):
        self._local = local  # [(block index, bundle)] owned by this task
        self._rows = list(rows)
        self.partition = partition  #: this task's partition of the barrier stage
        self._peers = peers or []  # leader: a channel per other task
        self._hub = hub  # others: the channel to the leader
        self._driver = driver  # leader: the channel to the driver
        # every block's task; (secret, every task's host, the run's open channels) to
        # connect the tasks to each other at the first exchange (:meth:`exchange`)
        self._owner = ({b: p for p, bs in enumerate(owned) for b in bs} if owned is not None
                       else {i: partition for i, _ in local})
        self._mesh, self._links = mesh, None
        self.exchanges = 0

    def __getstate__(self):
        # what a program returns may hold this object (an Objective's blocks): it travels
        # back to the driver without the task's bundles and connections
        return {**self.__dict__, "_local": [], "_peers": [], "_hub": None, "_driver": None,
                "_mesh": None, "_links": None}

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

    def _exchange(self, mine: dict, combine: Callable | None):
        """All blocks' values, in block order (``combine is None``), or their tree
        combination, in every task."""
        self.exchanges += 1
        if not self.is_leader:
            self._hub.send(mine)
            return _unwrap(self._hub.recv())
        values = dict(mine)
        for ch in self._peers:
            values.update(ch.recv())
        ordered = [values[p] for p in range(self.num_partitions)]
        out = ordered if combine is None else tree_reduce(ordered, combine)
        frames = encode(out)
        for ch in self._peers:
            ch.send_frames(frames)
        return out

    def map_collect(self, fn: Callable, *args, with_index: bool = False) -> list:
        """``fn(bundle, *args)`` of every block, in block order, in every task."""
        mine = self.local_values(fn, *args, with_index=with_index)
        return self._exchange(mine, None)

    def map_reduce(self, fn: Callable, *args, combine: Callable = tree_add,
                   with_index: bool = False):
        """The combined results of every block, as :meth:`BlockRDD.map_reduce` (same tree)."""
        mine = self.local_values(fn, *args, with_index=with_index)
        return self._exchange(mine, combine)

    def local_values(self, fn: Callable, *args, with_index: bool = False) -> dict:
        """``{block: fn(bundle, *args)}`` of this task's blocks (no exchange)."""
        return {i: (fn(i, b, *args) if with_index else fn(b, *args)) for i, b in self._local}

    def gather(self, fn: Callable, *args, with_index: bool = False) -> list | None:
        """``fn`` of every block, in block order, at the leader only (None in the other
        tasks): a pass whose values only the driver needs (half the traffic of
        :meth:`map_collect`, nothing sent back to the tasks)."""
        self.exchanges += 1
        mine = self.local_values(fn, *args, with_index=with_index)
        if not self.is_leader:
            self._hub.send(mine)
            return None
        for ch in self._peers:
            mine.update(ch.recv())
        return [mine[p] for p in range(self.num_partitions)]

    def exchange(self, fn: Callable, *args) -> dict:
        """All-to-all: ``fn(index, bundle, *args)`` of each of this task's blocks gives
        ``{destination block: value}``; returns, for each of this task's blocks, the values
        sent to it, ``[(source block, value)]`` in source order. Values go from task to task
        directly (not through the leader: each task sends and receives only its own
        blocks' share), over connections made at the first exchange."""
        self.exchanges += 1
        out: dict = {}  # task -> [(source, destination, value)]
        for i, bundle in self._local:
            sent = check_destinations(i, fn(i, bundle, *args), self.num_partitions)
            for dest, value in sent.items():
                out.setdefault(self._owner[dest], []).append((i, dest, value))
        links = self._connect_all()
        failed: list = []

        def send(ch, msg):
            try:
                ch.send(msg)
            except BaseException as exc:  # noqa: BLE001 - raised below
                failed.append(exc)

        # a sender per peer: every send waits only for its own receiver (no cycle)
        senders = [threading.Thread(target=send, args=(ch, out.get(p, [])), daemon=True,
                                    name="mli-gang-exchange") for p, ch in links.items()]
        for t in senders:
            t.start()
        got = list(out.get(self.partition, []))
        for p in sorted(links):
            got += links[p].recv()
        for t in senders:
            t.join()
        if failed:
            raise failed[0]
        result: dict = {i: [] for i, _ in self._local}
        for src, dest, value in sorted(got, key=lambda m: m[0]):
            result[dest].append((src, value))
        return result

    def _connect_all(self) -> dict:
        """A channel to every other task (made once): the leader's existing ones; between
        the others, task ``i`` connects to each ``1 <= j < i`` and accepts the rest."""
        if self._links is not None:
            return self._links
        if self.is_leader:
            self._links = {p: ch for p, ch in enumerate(self._peers, 1)}
            return self._links
        secret, hosts, opened = self._mesh  # (opened: closed when the run ends)
        me, n = self.partition, len(hosts)
        links = {0: self._hub}
        listener = _task_listener(hosts[me], secret, me)
        accepted: dict = {}

        def accept():
            for _ in range(n - 1 - me):
                ch = listener.accept(timeout=TIMEOUT)
                if ch is None:
                    return
                opened.append(ch)
                accepted[ch.recv()] = ch

        thread = threading.Thread(target=accept, name="mli-gang-mesh", daemon=True)
        thread.start()
        try:
            for j in range(1, me):
                ch = _connect_task(hosts[j], secret, j, timeout=TIMEOUT)
                opened.append(ch)
                ch.send(me)
                links[j] = ch
            thread.join()
        finally:
            listener.close()
        if len(accepted) != n - 1 - me:
            raise PeerLost(f"gang task {me}: only {len(accepted)} of {n - 1 - me} tasks "
                           "connected for an exchange")
        links.update(accepted)
        self._links = links
        return links

    def ask_driver(self, payload) -> Any:
        """Send ``payload`` to the driver's handler (from the leader) and return its answer
        in every task."""
        if self.is_leader:
            if self._driver is None:
                raise RuntimeError("this gang run's driver is not reachable from the "
                                   "executors (it takes no part in the run): the program "
                                   "cannot ask it")
            self._driver.send(("ask", payload))
            answer = self._driver.recv()
            frames = encode(answer)
            for ch in self._peers:
                ch.send_frames(frames)
        else:
            answer = self._hub.recv()
        return _unwrap(answer)

    def bytes_moved(self) -> int:
        chans = self._peers if self.is_leader else [self._hub]
        chans = {id(c): c for c in [*chans, *(self._links or {}).values()] if c is not None}
        return int(sum(c.sent + c.received for c in chans.values()))


class _Abort:
    """Sent instead of an answer: the run is stopped."""


def _unwrap(value):
    if isinstance(value, _Abort):
        raise GangAborted("the gang run was stopped by the driver")
    return value


def _task_host(local: bool, infos, partition: int) -> str:
    if local:
        return "127.0.0.1"
    address = infos[partition].address
    return address.rsplit(":", 1)[0].strip("[]")


class _Run(NamedTuple):
    """What every task of a run is given (in the stage's closure)."""

    driver_address: tuple
    secret: bytes
    paths: list  # every block's files where they were written
    rows: list  # every block's rows
    local: bool  # a local master: every task on this host
    arrow: bool  # the stage is a DataFrame's mapInArrow (else a barrier RDD)
    mode: str  # whether a task tries the driver: "driver" (it must), "probe" (briefly), "tasks"
    can_send: bool  # the driver holds the blocks and sends those a task cannot read
    payload: bytes  # the pickled (program, args, view)
    doomed: list  # stores collected on the driver: each task removes their files


def _gang_task(run: _Run, batches):
    """The function every task of the barrier stage runs (``mapInArrow``, or
    ``mapPartitions`` of a barrier RDD on classic Spark); it yields one row, the task's
    outcome."""
    from pyspark import BarrierTaskContext

    for _ in batches:  # the stage's input is range(n): nothing to read
        pass
    remove_stores(run.doomed)
    bctx = BarrierTaskContext.get()
    infos = bctx.getTaskInfos()
    partition = bctx.partitionId()
    # the leader listens on a port the others derive from the run's secret (Spark's
    # allGather would tell them, but costs ~1 s)
    listener = None if partition else _task_listener(_task_host(run.local, infos, 0),
                                                     run.secret, 0)
    chans: list = []
    try:
        kind, data = _take_part(run, chans, listener, infos, partition)
    finally:
        for ch in chans:
            ch.close()
        if listener is not None:
            listener.close()
    yield _row(run.arrow, partition, kind, data)


def _take_part(run: _Run, chans: list, listener, infos, partition: int) -> tuple[str, bytes]:
    """A task's part of a run, from the rendezvous to its result: ``(kind, data)`` of its
    row (the outcome of a run the driver takes no part in)."""
    n, rows = len(infos), run.rows
    driver = None
    if run.mode != "tasks":
        try:
            driver = connect(run.driver_address, run.secret, "driver",
                             timeout=PROBE_TIMEOUT if run.mode == "probe" else 60.0)
            chans.append(driver)
        except ConnectionError:
            if run.mode == "driver":
                raise
    # a block's files where they were written (another host's path: absent here), else
    # this node's copy of a block the driver sent an earlier run
    root = root_dir()
    own = [os.path.join(root, *p.split("/")[-2:]) for p in run.paths]
    where = [p if os.path.exists(os.path.join(p, "tree.json")) else o
             for p, o in zip(run.paths, own)]
    present = [os.path.exists(os.path.join(p, "tree.json")) for p in where]
    reached, owned, attempt, links = _agree(run, listener, infos, partition,
                                            driver is not None, present)
    chans += _channels(links)
    if not reached:  # the driver takes no part: some task cannot reach it
        driver = None
    if owned is None:  # some block no task can read: the driver places or rebuilds them
        return "missing", b"driver" if reached else b""
    mine = owned[partition]
    wanted = [i for i in mine if not present[i]]
    if wanted:  # the driver's blocks this task cannot read: sent once, written here
        driver.send(("blocks", wanted))
        for i, (tree, arrays) in zip(wanted, driver.recv()):
            os.makedirs(os.path.dirname(own[i]), exist_ok=True)
            save_bundle(unflatten(tree, arrays), own[i])
            where[i] = own[i]
    program, args, view = pickle.loads(run.payload)
    local_blocks = [(i, view(i, open_block(where[i]))) for i in mine]
    mesh = (run.secret, [_task_host(run.local, infos, p) for p in range(n)], chans)
    if partition == 0:
        gang = GangBlocks(local_blocks, rows, partition, driver=driver, owned=owned,
                          peers=[links[p] for p in sorted(links)], mesh=mesh)
    else:
        gang = GangBlocks(local_blocks, rows, partition, hub=links, owned=owned, mesh=mesh)
    # a gather whose values only the driver needs (a pass): every task sends its own to
    # the driver, in parallel, with no leader between (one hop, as Spark's results)
    direct = getattr(program, "gather_fn", None) is not None and driver is not None
    try:
        value = program.gather_fn(gang, *args) if direct else program(gang, *args)
    except (GangAborted, PeerLost) as exc:
        if driver is not None or isinstance(exc, GangAborted):
            raise GangAborted(str(exc)) from None
        # another task failed (its error is its row) or was lost (Spark fails the stage)
        return "aborted", b""
    except Exception as exc:  # noqa: BLE001 - the driver raises it; Spark too
        if driver is None:
            return "error", encode_exception(exc).encode()
        try:
            driver.send(("error", encode_exception(exc)))
        except PeerLost:
            pass
        raise
    stats = {"tasks": n, "exchanges": gang.exchanges, "leader_bytes": gang.bytes_moved()}
    if direct:
        driver.send(("part", partition, attempt, n, value))
        driver.recv()  # the driver holds it: the job may end
    elif partition == 0 and driver is not None:
        driver.send(("result", value, stats))
        driver.recv()  # the driver's acknowledgement: the others may close now
    elif partition == 0:
        return "result", pickle.dumps((value, stats), protocol=5)
    return "done", b""


def _row(arrow: bool, partition: int, kind: str, data: bytes):
    if not arrow:
        return (partition, kind, data)
    import pyarrow as pa

    return pa.RecordBatch.from_pydict({"partition": [partition], "kind": [kind],
                                       "data": [data]},
                                      schema=pa.schema([("partition", pa.int64()),
                                                        ("kind", pa.string()),
                                                        ("data", pa.binary())]))


#: ports a task of a run listens on (the leader for the rendezvous, the others for
#: :meth:`GangBlocks.exchange`), in the order its key shuffles them
TASK_PORTS = range(20000, 32768)
#: candidates per task (a port in use is skipped)
PORT_TRIES = 8


def _task_key(secret: bytes, partition: int) -> bytes:
    """The secret of task ``partition``'s listener: a connection to another task's listener
    (or another run's) fails the challenge, even on the same port list."""
    return hashlib.sha256(secret + partition.to_bytes(4, "big")).digest()


def _task_ports(secret: bytes, partition: int) -> list[int]:
    import random

    return random.Random(_task_key(secret, partition)).sample(TASK_PORTS, PORT_TRIES)


def _task_listener(host: str, secret: bytes, partition: int) -> Listener:
    """Task ``partition``'s listener, on the first free port of :func:`_task_ports`."""
    key = _task_key(secret, partition)
    for port in _task_ports(secret, partition):
        try:
            return Listener(host, key, port=port)
        except OSError:
            continue
    raise OSError(f"gang task {partition}: none of the ports "
                  f"{_task_ports(secret, partition)} is free on {host}")


def _connect_task(host: str, secret: bytes, partition: int, timeout: float = 60.0) -> Channel:
    """Connect to task ``partition``'s listener (it may not listen yet: the tasks start at
    about the same time)."""
    import time

    key, ports = _task_key(secret, partition), _task_ports(secret, partition)
    what = "gang leader" if partition == 0 else f"gang task {partition}"
    deadline = time.monotonic() + timeout
    while True:
        for port in ports:
            try:
                return connect((host, port), key, what, timeout=2.0)
            except ConnectionError:
                continue
        if time.monotonic() > deadline:
            raise ConnectionError(f"cannot reach the {what} at {host} on any of the ports "
                                  f"{ports} within {timeout:g} s")
        time.sleep(0.005)


def _channels(links) -> list:
    """The channels of :func:`_agree`'s ``links`` (the leader's by partition, or one)."""
    return list(links.values()) if isinstance(links, dict) else [links]


def _agree(run: _Run, listener, infos, partition: int, reached: bool, present: list):
    """The rendezvous, hosted by the leader (task 0): ``(reached, owned, attempt, links)``.
    Each task tells the leader whether it reached the driver and which blocks it can read;
    the leader answers whether every task reached the driver (it then takes part in the
    run), every block's task (``owned``: None when some block no task can read and the
    driver cannot send it) and a random name of this attempt of the stage (Spark retries a
    barrier stage as a whole). ``links``: the leader's channels by partition, or a task's
    to the leader."""
    n = len(infos)
    if listener is None:
        hub = _connect_task(_task_host(run.local, infos, 0), run.secret, 0)
        hub.send((partition, reached, present))
        reached, owned, attempt = hub.recv()
        return reached, owned, attempt, hub
    peers: dict = {}
    seen = {0: (reached, present)}
    while len(peers) < n - 1:
        ch = listener.accept(timeout=120.0)
        if ch is None:
            for c in peers.values():
                c.close()
            raise TimeoutError(f"gang leader: only {len(peers)} of {n - 1} tasks connected "
                               "within 120 s")
        p, their_reached, their_present = ch.recv()
        peers[p], seen[p] = ch, (their_reached, their_present)
    reached = all(r for r, _p in seen.values())
    owned = _assign({p: s[1] for p, s in seen.items()}, run.rows,
                    can_send=run.can_send and reached)
    attempt = os.urandom(8).hex()
    for ch in peers.values():
        ch.send((reached, owned, attempt))
    return reached, owned, attempt, peers


# ============================================================================ driver side


def _driver_host(ctx) -> tuple[str, str]:
    """``(bind, advertised)``: where the driver listens and the address the tasks are told:
    loopback in local mode, else the address the executors already use to reach the driver
    (``spark.driver.host``), bound on ``spark.driver.bindAddress`` when that is set (e.g.
    ``0.0.0.0`` in a container)."""
    if ctx.driver_host is not None:
        return ctx.driver_host, ctx.driver_host
    if local_slots(ctx) > 0:
        return "127.0.0.1", "127.0.0.1"
    if ctx.is_connect:
        address = _route_to(_connect_server_host(ctx))
        return address, address
    conf = ctx.sc.getConf()
    host = conf.get("spark.driver.host")
    return conf.get("spark.driver.bindAddress", None) or host, host


def _connect_server_host(ctx) -> str:
    if ctx.remote is not None:
        from urllib.parse import urlparse

        return urlparse(ctx.remote.replace("sc://", "http://", 1)).hostname or "localhost"
    try:
        return str(ctx.spark.client._builder.host).strip("[]")
    except AttributeError:
        return "localhost"


def _route_to(host: str) -> str:
    """This machine's address on the route to ``host`` (what the executors, which sit near
    the Connect server, are most likely to reach): a UDP socket's local end, no packet sent."""
    try:
        target = socket.gethostbyname(host)
        if target.startswith("127."):
            return "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((target, 9))
            return s.getsockname()[0]
    except OSError:
        return socket.gethostbyname(socket.gethostname())


def _assign(present: dict, rows: list[int], can_send: bool = False) -> list[list[int]] | None:
    """Blocks per task: each block to a task that can read it, the one with the fewest rows
    so far (ties: the lowest partition); ``None`` when some block no task can read, unless
    ``can_send`` (the driver holds the blocks): then any task may take it."""
    n = len(present)
    load, owned = [0] * n, [[] for _ in range(n)]
    for b, r in enumerate(rows):
        able = [p for p in range(n) if present[p][b]]
        if not able and can_send:
            able = list(range(n))
        if not able:
            return None
        p = min(able, key=lambda q: (load[q], q))
        owned[p].append(b)
        load[p] += max(r, 1)
    return owned


def _send(ch: Channel, msg) -> None:
    """Send to a task; a task that is gone is Spark's to report (its stage fails or is run
    again), not the driver's."""
    try:
        ch.send(msg)
    except PeerLost:
        pass


class _Coordinator:
    """The driver's side of a run: sends its blocks to the tasks that ask, answers the
    program's requests, takes its result."""

    def __init__(self, listener: Listener, rows: list[int], on_request: Callable | None,
                 sendable: list | None = None):
        self.listener, self.rows, self.on_request = listener, rows, on_request
        self.sendable, self.bytes_sent = sendable, 0  # the driver's block files, or None
        self.events: queue.Queue = queue.Queue()
        self.result = self.failure = self.error = None
        self.has_result = False
        self.parts: dict = {}  # a direct gather's values: {stage attempt: {partition: ...}}
        self.closed = False
        self.channels: list[Channel] = []
        threading.Thread(target=self._accept, name="mli-gang-accept", daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                ch = self.listener.accept(timeout=0.5)
            except OSError:
                return
            if ch is None:
                continue
            self.channels.append(ch)
            threading.Thread(target=self._read, args=(ch,), name="mli-gang-read",
                             daemon=True).start()

    def _read(self, ch: Channel):
        while True:
            try:
                msg = ch.recv()
            except Exception:  # noqa: BLE001 - closed or lost: nothing more from it
                return
            self.events.put((ch, msg))

    def handle(self, ch: Channel, msg) -> None:
        kind = msg[0]
        if kind == "blocks":
            # the driver's blocks a task cannot read: their arrays out of band (sent from
            # the files' mapped pages), to every task that asks at once
            sent = [_block_arrays(self.sendable[b]) for b in msg[1]]
            self.bytes_sent += sum(a.nbytes for _t, arrays in sent for a in arrays)
            threading.Thread(target=_send, args=(ch, sent), daemon=True,
                             name="mli-gang-send").start()
        elif kind == "ask":
            try:
                answer = self.on_request(msg[1])
            except BaseException as exc:  # noqa: BLE001 - stops the run, raised by run()
                self.failure, answer = exc, _Abort()
            _send(ch, answer)
        elif kind == "result":
            self.result, self.has_result = msg[1], True
            last_stats.clear()
            last_stats.update(msg[2], blocks_sent_bytes=self.bytes_sent)
            _send(ch, "ok")
        elif kind == "part":  # a direct gather (see _take_part)
            _, partition, attempt, n, values = msg
            parts = self.parts.setdefault(attempt, {})  # (see _agree)
            parts[partition] = values
            _send(ch, "ok")
            if len(parts) == n:
                merged = {i: v for part in parts.values() for i, v in part.items()}
                self.result = [merged[i] for i in range(len(self.rows))]
                self.has_result = True
                last_stats.clear()
                last_stats.update(tasks=n, exchanges=1, leader_bytes=0,
                                  blocks_sent_bytes=self.bytes_sent)
        elif kind == "error":
            if self.error is None:
                self.error = decode(RuntimeError(msg[1]))

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        for ch in self.channels:
            ch.close()


def _block_arrays(path: str) -> tuple:
    """A driver-written block as ``(tree, arrays)``: its description and its arrays, mapped
    from its files (plain ndarrays, so a message carries them out of band, uncopied)."""
    try:
        tree, arrays = load_flat(path)
    except FileNotFoundError:
        raise BlockMissingError(f"the driver's block files in {os.path.dirname(path)} are "
                                "gone; was Spark stopped, or its scratch space cleaned?") from None
    # plain ndarrays (a memmap subclass would be pickled in band)
    return tree, [a.view(np.ndarray) for a in arrays]


def _mode(ctx) -> str:
    """Where this run's rendezvous is: "driver", "tasks", or "probe" (``rendezvous="auto"``
    over Connect to a cluster, until a run has found out)."""
    if ctx.rendezvous != "auto":
        return ctx.rendezvous
    if ctx._rendezvous_found is not None:
        return ctx._rendezvous_found
    if ctx.is_connect and ctx.driver_host is None and local_slots(ctx) == 0:
        return "probe"
    return "driver"


def _run_once(ctx, meta, view, program, args, on_request, sendable=None):
    """One barrier stage; ``(outcome, value)`` with outcome "result", "missing" or "lost"."""
    from pyspark import cloudpickle

    # on a cluster a block written by a job sits on the host its task ran on, which a gang
    # of fewer tasks than slots may not reach (Spark places barrier tasks, not mli): a task
    # in every slot there, so every executor has one (tasks without blocks wait)
    cap = slots(ctx)
    n = max(1, min(len(meta), cap) if local_slots(ctx) > 0 else cap)
    secret = os.urandom(32)
    mode = _mode(ctx)
    bind, advertised = _driver_host(ctx)
    listener = Listener(bind, secret)
    address = (advertised, listener.port)
    payload = cloudpickle.dumps((program, args, view), protocol=5)
    rows = [m[3] for m in meta]
    coord = _Coordinator(listener, rows, on_request, sendable)
    arrow = ctx.is_connect or not RDD_LAUNCH
    fn = task_safe(functools.partial(_gang_task, _Run(
        address, secret, [m[2] for m in meta], rows, local_slots(ctx) > 0, arrow, mode,
        sendable is not None, payload, take_doomed())))
    spark = ctx.spark
    tag = f"mli-gang-{uuid.uuid4().hex[:12]}"
    if arrow:  # the DataFrame API: the only one over Spark Connect
        action = spark.range(0, n, 1, n).mapInArrow(
            fn, "partition long, kind string, data binary", barrier=True).collect
        tagging = (spark.addTag, spark.removeTag, spark.interruptTag)
    else:  # classic: the same barrier stage without the SQL planning and Arrow
        sc = ctx.sc
        action = sc.parallelize(range(n), n).barrier().mapPartitions(fn).collect
        tagging = (sc.addJobTag, sc.removeJobTag, sc.cancelJobsWithTag)
    add_tag, remove_tag, interrupt = tagging
    done: dict = {}

    def job():
        add_tag(tag)
        try:
            done["out"] = action()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the driver's thread
            done["error"] = exc
        finally:
            remove_tag(tag)
            coord.events.put((None, ("end",)))  # wakes the loop below at once
            _ending.discard(threading.current_thread())

    from pyspark import InheritableThread

    extra = {"session": spark} if ctx.is_connect else {}
    thread = InheritableThread(target=job, name="mli-gang", daemon=True, **extra)
    _ending.add(thread)
    thread.start()
    stopped = False
    try:
        while True:
            ch, msg = coord.events.get()
            if msg[0] == "end":
                break
            coord.handle(ch, msg)
            if (coord.failure is not None or coord.error is not None) and not stopped:
                stopped = True
                interrupt(tag)  # a deterministic error: no retry of the stage
            elif coord.has_result:
                # the tasks are done with the driver: the job ends on its own (Spark's
                # result collection), the driver goes on meanwhile
                break
    except BaseException:
        interrupt(tag)
        thread.join()
        raise
    finally:
        coord.close()
    if coord.failure is not None:
        raise coord.failure
    if coord.error is not None:
        raise coord.error
    if coord.has_result:
        _found(ctx, mode, "driver")
        return "result", coord.result
    if "error" in done:
        if _too_few_slots(done["error"]):
            raise RuntimeError(
                f"a gang run needs {n} task slots at once (one barrier task per core) but "
                f"Spark could not offer them: the executors have fewer free cores than "
                f"{ctx.default_parallelism} (Spark's default parallelism, which mli sizes "
                f"gangs by). Give the application more executor cores, or pass "
                f"MLContext(parallelism=N) with N at most the cores it has") from None
        original = decode(done["error"])
        if original is None and not stopped and _lost_executor(done["error"]):
            return "lost", done["error"]  # Spark does not run a barrier result stage again
        raise (original or done["error"]) from None
    # the driver took no part (or blocks are missing): the outcome is the job's output
    kinds = {kind: bytes(data) for _p, kind, data in sorted(tuple(r) for r in done["out"])}
    _found(ctx, mode, "driver" if kinds.get("missing") == b"driver" else "tasks")
    if "error" in kinds:
        raise decode(RuntimeError(kinds["error"].decode())) from None
    if "result" in kinds:
        value, stats = pickle.loads(kinds["result"])
        last_stats.clear()
        last_stats.update(stats, blocks_sent_bytes=0)
        return "result", value
    if "missing" in kinds:
        return "missing", None
    raise RuntimeError("gang run ended without a result")  # pragma: no cover


#: the threads of gang jobs that may still be ending (the driver had their result first)
_ending: set = set()


def wait_ended(timeout: float = 30.0) -> None:
    """Wait for the gang jobs still ending (before Spark is stopped)."""
    import time

    deadline = time.monotonic() + timeout
    for thread in list(_ending):
        thread.join(max(0.0, deadline - time.monotonic()))
        _ending.discard(thread)


def _found(ctx, mode: str, where: str) -> None:
    if mode == "probe" and ctx._rendezvous_found is None:
        ctx._rendezvous_found = where
        if where == "tasks":
            log.warning("gang runs: some executor cannot reach this driver at %s; the "
                        "tasks host the rendezvous from now on (MLContext(rendezvous="
                        "'tasks') says so from the start)", _driver_host(ctx)[1])


def _too_few_slots(exc: BaseException) -> bool:
    text = str(exc)
    return "BarrierJobSlotsNumberCheckFailed" in text or "more slots than" in text


def _lost_executor(exc: BaseException) -> bool:
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            text += str(java.toString())
        except Exception:  # noqa: BLE001
            pass
    return "ExecutorLostFailure" in text or "FetchFailed" in text


def run(blocks, program: Callable, *args, on_request: Callable | None = None):
    """Run ``program(gang_blocks, *args)`` in every task of one barrier stage over
    ``blocks`` (see the module docstring) and return the leader's result.

    ``program`` must be a picklable, deterministic function of the values it receives (the
    same calls in the same order in every task). ``on_request(payload)`` answers the
    program's :meth:`GangBlocks.ask_driver` calls on the driver; an exception it raises
    stops the run and is re-raised here.
    """
    if not available(blocks):
        raise ValueError("a gang run needs a BlockRDD on a running Spark context")
    for attempt in range(3):
        meta, view = blocks._gang_layout()
        outcome, value = _run_once(blocks._ctx, meta, view, program, args, on_request,
                                   blocks._sendable())
        if outcome == "result":
            if last_stats.get("blocks_sent_bytes"):
                blocks._sent()  # copies now on executors: removed when the store goes
            return value
        if outcome == "lost":
            log.warning("gang run: an executor was lost (%s); running the program again "
                        "from the start", str(value).splitlines()[0][:200])
            if attempt == 2:
                raise value
            continue
        if blocks._sendable() is not None:
            # driver-held blocks the tasks cannot read, and cannot be sent: some executor
            # cannot reach the driver
            blocks._place()
            continue
        log.warning("gang run: resident blocks missing (an executor was lost?); rebuilding "
                    "them from their lineage")
        blocks._drop_resident()
    raise BlockMissingError("resident blocks went missing in three gang runs in a row")


def execute(blocks, program: Callable, *args, callback: Callable | None = None, **kwargs):
    """``program(blocks, *args, callback=callback, **kwargs)``: as a gang run when
    :func:`available` (the callback then runs on the driver, through
    :meth:`GangBlocks.ask_driver`, and its answer goes back to the program), else directly
    on ``blocks``."""
    if not (ENABLED and available(blocks)) or (
            callback is not None and _mode(blocks._ctx) != "driver"):
        # (a callback needs the driver in the run: when the executors may not reach it,
        # the program runs here, each pass a run of its own)
        return program(blocks, *args, callback=callback, **kwargs)
    return run(blocks, _calling_back, program, args, kwargs, callback is not None,
               on_request=None if callback is None else lambda a: callback(*a))


def _calling_back(blocks, program, args, kwargs, has_callback):
    callback = (lambda *a: blocks.ask_driver(a)) if has_callback else None
    return program(blocks, *args, callback=callback, **kwargs)


def _run_pass(store, step, *args):
    """A pass of :meth:`BlockRDD.map_collect`: a one-step gang run (looked up at call time)."""
    return run(store, step, *args)


blocks_module.set_pass_runner(_run_pass)
on_stop(lambda ctx: wait_ended(), order=0)  # before the blocks are forgotten (order 1)
