"""Gang runs (mli.engine.gang): a whole optimization in one barrier-stage Spark job, its passes
all-reduced over TCP; the results must be those of one gang run per pass (the program on the
driver), bit for bit."""
from __future__ import annotations

import glob
import os
import sys
import time

import numpy as np
import pytest
from pyspark import cloudpickle
import scipy.sparse as sp

from _spark_probe import spark_jobs
import mli
import mli.engine.gang as gang
from mli.engine.blocks import BlockRDD, BlockView, _driver_root_dir, local_slots
from mli.linalg.localmatrix import LocalMatrix
from mli.optimize import (HingeLoss, LocalBlocks, LogisticLoss, MultinomialLogisticLoss,
                          SquaredLoss, minimize)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests


def driver_blocks(ctx, X, y, parts):
    bounds = np.linspace(0, X.shape[0], parts + 1).astype(int)
    return BlockRDD.from_bundles([(LocalMatrix(X[a:b]), np.ascontiguousarray(y[a:b]))
                                  for a, b in zip(bounds[:-1], bounds[1:])], ctx)


def data(kind, n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 5.0, size=d)
    z = X @ rng.normal(size=d) / 3 + 0.3 * rng.normal(size=n)
    if kind == "multinomial":
        return X, np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])).astype(np.float64)
    if kind == "squared":
        return X, z
    return X, (z > 0).astype(np.float64)


def jobs_in(ctx, fn):
    out, jobs = spark_jobs(ctx, fn)
    return out, len(jobs)


CASES = {
    "newton": (LogisticLoss(), "binary", dict(method="newton", reg=0.01)),
    "lbfgs-preconditioned": (LogisticLoss(), "binary", dict(method="lbfgs", reg=0.01,
                                                            precondition=True)),
    "lbfgs-hinge": (HingeLoss(), "binary", dict(method="lbfgs", reg=0.01, max_iter=40)),
    "multinomial": (MultinomialLogisticLoss(3), "multinomial", dict(reg=0.01)),
    "owlqn": (LogisticLoss(), "binary", dict(reg=0.02, l1_ratio=0.5)),
    "fista": (SquaredLoss(), "squared", dict(method="fista", reg=0.05, l1_ratio=1.0,
                                             max_iter=30)),
    "gd": (SquaredLoss(), "squared", dict(method="gd", reg=0.05, max_iter=20)),
    "sgd": (LogisticLoss(), "binary", dict(method="sgd", reg=0.01, max_iter=4, batch_size=16,
                                           seed=3)),
    "cocoa": (HingeLoss(), "binary", dict(method="cocoa", reg=0.01, max_iter=10)),
}


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gang_run_equals_one_job_per_pass(ctx, monkeypatch, case, parts):
    loss, kind, kw = CASES[case]
    X, y = data(kind)
    if case == "lbfgs-preconditioned":
        X = sp.csr_matrix(np.where(np.abs(X) < 1.0, 0.0, X))
    blocks = driver_blocks(ctx, X, y, parts)
    seen = {True: [], False: []}
    results = {}
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        results[enabled], jobs = jobs_in(ctx, lambda: minimize(
            loss, blocks, tol=1e-9, callback=lambda *a: seen[enabled].append(a), **kw))
        if enabled:
            assert jobs == 1, "a gang run is one Spark job"
        else:
            assert jobs >= results[enabled].n_passes
    a, b = results[True], results[False]
    assert np.array_equal(a.x, b.x), f"{case}: gang and per-pass models differ"
    assert (a.fun, a.n_iter, a.n_passes, a.message) == (b.fun, b.n_iter, b.n_passes, b.message)
    assert [h[:2] for h in a.history] == [h[:2] for h in b.history]
    # the callback ran on the driver, once per iteration, with the same values
    assert [s[:2] for s in seen[True]] == [s[:2] for s in seen[False]] != []
    assert a.objective.unpack(a.x)[0].shape == b.objective.unpack(b.x)[0].shape
    assert a.objective.n_passes == b.objective.n_passes >= a.n_passes


def test_gang_callback_stops_at_the_same_iteration(ctx, monkeypatch):
    X, y = data("binary")
    blocks = driver_blocks(ctx, X, y, 2)
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        out[enabled] = minimize(HingeLoss(), blocks, reg=0.01, method="lbfgs", tol=0,
                                callback=lambda it, f, s: it >= 3)
    assert out[True].n_iter == out[False].n_iter == 3
    assert out[True].message == "stopped by the callback"
    assert np.array_equal(out[True].x, out[False].x)


def test_gang_callback_error_is_raised_and_nothing_is_left(ctx):
    X, y = data("binary")
    blocks = driver_blocks(ctx, X, y, 2)
    root = _driver_root_dir(ctx)

    def boom(it, f, s):
        if it == 2:
            raise ZeroDivisionError("the user's callback failed")

    with pytest.raises(ZeroDivisionError, match="the user's callback failed"):
        minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", callback=boom)
    # the next run is unaffected, and no exchange directory is left behind
    res = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-8)
    assert res.converged
    assert glob.glob(os.path.join(root, "gang-*")) == []


def _fails_in_one_task(blocks):
    # partition 1 fails before its first pass; partition 0 is left waiting for its result
    if blocks.partition == 1:
        raise ValueError("block data rejected in partition 1")
    return blocks.map_reduce(_rows)


def _rows(bundle):
    return bundle[0].shape[0]


def test_a_failing_task_fails_the_run_with_its_error(ctx):
    X, y = data("binary")
    blocks = driver_blocks(ctx, X, y, 2)
    t = time.monotonic()
    with pytest.raises(ValueError, match="block data rejected in partition 1"):
        gang.run(blocks, _fails_in_one_task)
    # Spark fails the whole barrier stage at once: no wait for the exchange timeout
    assert time.monotonic() - t < 120
    assert gang.run(blocks, _count_rows) == (400, [200, 200])


def _count_rows(blocks):
    return blocks.map_reduce(_rows), blocks.partition_rows


def test_bad_data_in_a_gang_run_gives_the_optimizers_error(ctx):
    bad = BlockRDD.from_bundles([(np.ones((5, 2)), np.ones(5)), (np.ones((4, 2)), np.ones(3))],
                                ctx)
    with pytest.raises(ValueError, match="do not match"):
        minimize(LogisticLoss(), bad, reg=0.1)


def _view_labels(bundle):
    X, y = bundle
    return X, 1.0 - y


def test_gang_over_a_view_and_more_blocks_than_cores(ctx, monkeypatch):
    X, y = data("binary")
    parent = driver_blocks(ctx, X, y, 5)  # 5 blocks, 2 cores: each task owns several
    view = BlockView(parent, _view_labels)
    res = minimize(LogisticLoss(), view, reg=0.01, tol=1e-9)
    monkeypatch.setattr(gang, "ENABLED", False)
    ref = minimize(LogisticLoss(), LocalBlocks([(X, 1.0 - y)]), reg=0.01, tol=1e-9)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-7)


def test_gang_bad_input(ctx):
    X, y = data("binary")
    assert not gang.available(LocalBlocks([(X, y)]))
    with pytest.raises(ValueError, match="a gang run needs a BlockRDD"):
        gang.run(LocalBlocks([(X, y)]), _count_rows)
    with pytest.raises(ValueError, match="callback must be callable"):
        minimize(LogisticLoss(), driver_blocks(ctx, X, y, 2), callback=3)


@pytest.mark.parametrize("master,slots", [("local", 1), ("local[3]", 3), ("local[4,2]", 4),
                                          ("local[*]", os.cpu_count()),
                                          ("local-cluster[2,3,1024]", 6),
                                          ("spark://host:7077", 0), ("yarn", 0)])
def test_local_slots(master, slots):
    class Fake:
        pass

    c = Fake()
    c.is_connect = False
    c.sc = Fake()
    c.sc.master = master
    assert local_slots(c) == slots
    c.is_connect = True  # a Connect client never counts as local, whatever the master
    assert local_slots(c) == 0


def test_kmeans_gang_run_equals_one_job_per_pass(ctx, monkeypatch):
    from mli import MLTable
    from mli.algorithms import KMeans

    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 3)) + rng.integers(4, size=(600, 1)) * 3.0
    table = MLTable.from_numpy(X, num_partitions=3, ctx=ctx)
    out, costs = {}, {True: [], False: []}
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        out[enabled], jobs = jobs_in(ctx, lambda: KMeans(
            k=4, seed=1, tol=0, max_iter=6, init="random",
            callback=lambda it, cost, s: costs[enabled].append(cost)).fit(table))
        assert (jobs == 1) if enabled else jobs > 2
    assert np.array_equal(out[True].centers, out[False].centers)
    assert out[True].cost == out[False].cost and out[True].n_iter == out[False].n_iter
    assert costs[True] == costs[False] and len(costs[True]) == out[True].n_iter


def test_one_pass_is_one_gang_run_equal_to_a_local_pass(ctx):
    """A single pass (Naive Bayes, the normal equations) over resident blocks is one gang job
    of min(blocks, cores) tasks; the same values as the pass run in this process."""
    from mli.engine.onepass import one_pass
    from mli.stats.moments import grouped_moments, merge_grouped

    X, y = data("multinomial", n=500)
    blocks = driver_blocks(ctx, X, y, 5)
    fn = lambda b: grouped_moments(b[0], b[1])  # noqa: E731
    got, jobs = spark_jobs(ctx, lambda: one_pass(blocks, fn, combine=merge_grouped))
    tracker = ctx.sc.statusTracker()
    assert len(jobs) == 1
    stages = tracker.getJobInfo(jobs[0]).stageIds
    assert sum(tracker.getStageInfo(s).numTasks for s in stages) == min(5, local_slots(ctx))
    bounds = np.linspace(0, X.shape[0], 6).astype(int)
    ref = one_pass(LocalBlocks([(LocalMatrix(X[a:b]), y[a:b])
                                for a, b in zip(bounds[:-1], bounds[1:])]),
                   fn, combine=merge_grouped)
    assert sorted(got) == sorted(ref) == [0.0, 1.0, 2.0]
    for c in got:
        for a, b in zip(got[c], ref[c]):
            assert np.array_equal(a, b)


def test_a_gang_without_enough_slots_fails_fast_and_clearly(ctx, monkeypatch):
    """More barrier tasks than cores: Spark's slot check fails (mli sets it to ~20 s, not
    10 minutes) and the error says what to change."""
    import time

    import mli.engine.gang as gang_module

    store = mli.MLTable.from_numpy(np.ones((40, 2)), num_partitions=4, ctx=ctx).blocks
    monkeypatch.setattr(gang_module, "slots", lambda c: 4)  # ask for 4 tasks on 2 cores
    t = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"needs 4 task slots at once.*parallelism=N"):
        gang_module.run(store, _sum_program)
    assert time.perf_counter() - t < 120


def _sum_program(blocks):
    return blocks.map_reduce(_block_sum)


def _block_sum(bundle):
    return float(np.asarray(bundle.array).sum())


# ------------------------------------------------ task-hosted rendezvous


def test_task_hosted_rendezvous_gives_the_same_results(ctx, monkeypatch):
    """rendezvous="tasks": task 0 hosts the rendezvous (on a port the others derive from the
    run's secret), the program rides in the job and the result comes back as its output; the
    same values as the driver-hosted run, still one Spark job per fit. A callback needs the
    driver inside the run: the program then runs on the driver, a run per pass, with the
    same values and the callback called with them."""
    X, y = data("binary")
    blocks = driver_blocks(ctx, X, y, 3)
    out, seen = {}, {"driver": [], "tasks": []}
    for mode in ("driver", "tasks"):
        monkeypatch.setattr(ctx, "rendezvous", mode)
        out[mode], jobs = jobs_in(ctx, lambda: minimize(LogisticLoss(), blocks, reg=0.01,
                                                        method="lbfgs", tol=1e-9))
        assert jobs == 1
        called = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9,
                          callback=lambda *a: seen[mode].append(a[:2]))
        assert np.array_equal(called.x, out[mode].x)
    assert np.array_equal(out["driver"].x, out["tasks"].x)
    assert out["driver"].n_passes == out["tasks"].n_passes
    assert seen["driver"] == seen["tasks"] != []
    assert gang.last_stats["tasks"] == 2


def _block_rows_and_index(index, bundle, scale):
    return index, np.asarray(bundle.array) * scale


def _fails_on_block_3(index, bundle):
    if index == 3:
        raise ValueError("block 3 cannot be read")
    return index


def test_a_pass_sends_each_tasks_values_to_the_driver(ctx, monkeypatch):
    """A pass (map_collect) hosted by the driver: every task sends its own blocks' values
    straight to the driver (no leader hop: no bytes through a leader), in block order,
    arrays intact; the same values as a task-hosted run; an error names its block."""
    X = np.arange(700 * 3, dtype=np.float64).reshape(700, 3)
    blocks = BlockRDD.from_bundles([LocalMatrix(X[a:a + 100]) for a in range(0, 700, 100)],
                                   ctx)
    out = {}
    for mode in ("driver", "tasks"):
        monkeypatch.setattr(ctx, "rendezvous", mode)
        out[mode] = blocks.map_collect(_block_rows_and_index, 2.0, with_index=True)
        assert [i for i, _ in out[mode]] == list(range(7))
        assert np.array_equal(np.vstack([a for _, a in out[mode]]), X * 2.0)
        if mode == "driver":
            assert gang.last_stats["tasks"] == 2 and gang.last_stats["exchanges"] == 1
            assert gang.last_stats["leader_bytes"] == 0
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(out["driver"], out["tasks"]))
    monkeypatch.setattr(ctx, "rendezvous", "driver")
    with pytest.raises(ValueError, match="block 3 cannot be read"):
        blocks.map_collect(_fails_on_block_3, with_index=True)
    assert blocks.map_collect(_rows_of) == [100] * 7  # the store still serves passes
    blocks.unpersist()


def _rows_of(bundle):
    return bundle.array.shape[0]


def _asks(blocks):
    return blocks.ask_driver("hello")


def test_a_task_hosted_run_cannot_ask_the_driver(ctx, monkeypatch):
    X, y = data("binary")
    monkeypatch.setattr(ctx, "rendezvous", "tasks")
    with pytest.raises(RuntimeError, match="driver is not reachable from the executors"):
        gang.run(driver_blocks(ctx, X, y, 2), _asks, on_request=lambda p: p)


def test_an_unreachable_driver_is_found_and_the_tasks_host_the_rendezvous(ctx, monkeypatch):
    """rendezvous="auto" over Connect to a cluster probes the first run: the tasks try the
    driver and, when one cannot reach it, agree (through task 0) to host the rendezvous
    themselves; the context remembers. Here the driver is advertised where nothing
    listens; a reachable one is found reachable."""
    X, y = data("binary")
    blocks = driver_blocks(ctx, X, y, 2)
    ref = gang.run(blocks, _count_rows)
    monkeypatch.setattr(gang, "_mode", lambda c: c._rendezvous_found or "probe")
    monkeypatch.setattr(ctx, "_rendezvous_found", None)
    assert gang.run(blocks, _count_rows) == ref
    assert ctx._rendezvous_found == "driver"
    ctx._rendezvous_found = None
    where = gang._driver_host
    monkeypatch.setattr(gang, "_driver_host", lambda c: (where(c)[0], "127.0.0.99"))
    t = time.monotonic()
    assert gang.run(blocks, _count_rows) == ref
    assert ctx._rendezvous_found == "tasks"
    assert time.monotonic() - t < 60
    assert gang.run(blocks, _count_rows) == ref  # no probe now: straight to the tasks


def test_driver_held_blocks_reach_tasks_that_cannot_read_them_through_a_dataframe(
        ctx, monkeypatch):
    """With a task-hosted rendezvous the driver cannot send its blocks to a task that cannot
    read its files (another host): the run finds them missing, the blocks go to Spark once
    as a DataFrame of chunks and the executors write them; the same results, and later
    runs read the executors' copies. (Another host is simulated by showing the tasks paths
    that do not exist.)"""
    X, y = data("binary", n=900)
    blocks = driver_blocks(ctx, X, y, 3)
    ref = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9)
    monkeypatch.setattr(ctx, "rendezvous", "tasks")
    monkeypatch.setattr("mli.engine.blocks.PLACE_CHUNK_BYTES", 4096)  # several chunks per block
    run_once = gang._run_once

    def elsewhere(c, meta, *a):
        meta = [(i, h, f"/nonexistent-{os.getpid()}/{os.path.basename(os.path.dirname(p))}"
                 f"-x/{os.path.basename(p)}" if p.endswith("-src/" + os.path.basename(p))
                 else p, r) for i, h, p, r in meta]
        return run_once(c, meta, *a)

    monkeypatch.setattr(gang, "_run_once", elsewhere)
    got = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9)
    assert np.array_equal(got.x, ref.x)
    assert blocks._sendable() is None and blocks.partition_rows == [300, 300, 300]
    assert not any("-src" in m[2] for m in blocks._meta)
    assert np.array_equal(minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs",
                                   tol=1e-9).x, ref.x)


def test_driver_held_blocks_a_task_cannot_read_are_sent_to_it_once(ctx, monkeypatch):
    """Where every task reaches the driver, a task given a block whose files it cannot read
    (another host; simulated by paths that do not exist) asks the driver, which sends the
    block's arrays; the task writes them where it runs. The same model, the bytes counted,
    and the next run reads the copies (nothing sent)."""
    X, y = data("binary", n=900)
    blocks = driver_blocks(ctx, X, y, 3)
    ref = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9)
    monkeypatch.setattr(ctx, "rendezvous", "driver")
    run_once = gang._run_once

    def elsewhere(c, meta, *a):
        # (a store directory of another name: the task's own copy is not the driver's file)
        meta = [(i, h, f"/nonexistent-{os.getpid()}/{os.path.basename(os.path.dirname(p))}"
                 f"-y/{os.path.basename(p)}", r) for i, h, p, r in meta]
        return run_once(c, meta, *a)

    monkeypatch.setattr(gang, "_run_once", elsewhere)
    got = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9)
    assert np.array_equal(got.x, ref.x)
    assert gang.last_stats["blocks_sent_bytes"] >= X.nbytes
    assert blocks._sendable() is not None  # still the driver's store
    again = minimize(LogisticLoss(), blocks, reg=0.01, method="lbfgs", tol=1e-9)
    assert np.array_equal(again.x, ref.x) and gang.last_stats["blocks_sent_bytes"] == 0


def _scaled(bundle):
    X, y = bundle
    return LocalMatrix(2.0 * np.asarray(X.array)), y


def _row_count(bundle):
    return bundle[0].shape[0]


def test_a_collected_stores_files_are_removed_by_the_next_gang_run(ctx):
    """Blocks the executors wrote for a store the program dropped go at the next gang run
    (its tasks remove them where they run): a Spark Connect server, which outlives its
    clients' stores, must not keep them until it stops. A live store's blocks stay."""
    import gc

    X, y = data("binary")
    kept = driver_blocks(ctx, X, y, 2).map(_scaled)
    dropped = driver_blocks(ctx, X, y, 2).map(_scaled)
    assert kept.map_reduce(_row_count) == dropped.map_reduce(_row_count) == X.shape[0]
    root = _driver_root_dir(ctx)  # local mode: where the tasks write too
    kept_dir, dropped_dir = (os.path.join(root, s._store_id) for s in (kept, dropped))
    assert os.path.isdir(kept_dir) and os.path.isdir(dropped_dir)
    del dropped
    gc.collect()
    assert os.path.isdir(dropped_dir)  # nothing runs at collection time
    assert kept.map_reduce(_row_count) == X.shape[0]  # a gang run: its tasks remove it
    assert not os.path.exists(dropped_dir)
    assert os.path.isdir(kept_dir)
    assert np.array_equal(kept.collect()[0][0].array, 2.0 * X[:200])


def _routed(index, bundle, n):
    # block i sends itself and every block of the other parity: i, j and its first row
    return {j: (index, j, np.asarray(bundle[0].array[:1])) for j in range(n)
            if j % 2 != index % 2 or j == index}


def _exchange_program(blocks, n):
    got = blocks.exchange(_routed, n)
    return blocks.gather(_received, got, with_index=True)


def _received(index, bundle, got):
    return [(src, value[0], value[1], value[2].tolist()) for src, value in got[index]]


def test_exchange_sends_each_block_its_values_in_source_order(ctx, monkeypatch):
    """An all-to-all exchange in a gang run (task to task) gives every block the values
    sent to it, in source order, as the same program run on the driver."""
    X, y = data("binary", n=100)
    blocks = driver_blocks(ctx, X, y, 5)
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        out[enabled] = gang.execute(blocks, lambda b, callback=None: _exchange_program(b, 5))
    assert out[True] == out[False]
    bounds = np.linspace(0, 100, 6).astype(int)
    for dest, got in enumerate(out[True]):
        sources = [s for s in range(5) if s % 2 != dest % 2 or s == dest]
        assert [g[0] for g in got] == sources
        assert all(g[1] == s and g[2] == dest for g, s in zip(got, sources))
        assert [g[3] for g in got] == [X[bounds[s]:bounds[s] + 1].tolist() for s in sources]


def _send_to(index, bundle, dest):
    return dest if isinstance(dest, list) else {dest: index}


@pytest.mark.parametrize("dest,match", [(5, r"block \d sent to 5, which is not a block of "
                                            r"this store \(0 \.\. 2\)"),
                                        (-1, "sent to -1"), ("1", "sent to '1'"),
                                        ([1], "must return a dict.*returned a list")])
def test_exchange_to_a_block_that_does_not_exist_is_a_clear_error(ctx, monkeypatch, dest,
                                                                   match):
    X, y = data("binary", n=60)
    blocks = driver_blocks(ctx, X, y, 3)
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        with pytest.raises(ValueError, match=match):
            gang.execute(blocks, lambda b, callback=None: b.exchange(_send_to, dest))


def test_exchange_connects_every_pair_of_tasks(monkeypatch):
    """Four tasks (threads here, over loopback): the tasks other than the leader connect to
    each other at the first exchange; every value reaches its block, also large ones (each
    pair sending at once), and a second exchange reuses the connections."""
    import threading

    n, secret = 4, os.urandom(32)
    hosts = ["127.0.0.1"] * n
    leader = gang._task_listener(hosts[0], secret, 0)
    hubs, opened = {}, {p: [] for p in range(n)}

    def join(p):
        hubs[p] = gang._connect_task(hosts[0], secret, 0)
        hubs[p].send(p)

    joiners = [threading.Thread(target=join, args=(p,)) for p in range(1, n)]
    for t in joiners:
        t.start()
    peers = {}
    for _ in range(n - 1):
        ch = leader.accept(timeout=30)
        peers[ch.recv()] = ch
    for t in joiners:
        t.join()
    leader.close()
    big = np.arange(3_000_000, dtype=np.float64)  # 24 MB: more than a socket's buffers
    tasks = [gang.GangBlocks([(p, None)], [1] * n, p, owned=[[q] for q in range(n)],
                             peers=[peers[q] for q in range(1, n)] if p == 0 else None,
                             hub=hubs.get(p), mesh=(secret, hosts, opened[p]))
             for p in range(n)]
    results, errors = {}, []

    def run(p):
        try:
            first = tasks[p].exchange(lambda i, b: {j: (i, big[i:i + 2_000_000])
                                                    for j in range(n)})
            second = tasks[p].exchange(lambda i, b: {(i + 1) % n: i})
            results[p] = (first, second)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for p in range(n):
        first, second = results[p]
        assert [src for src, _ in first[p]] == list(range(n))
        for src, (i, arr) in first[p]:
            assert i == src and np.array_equal(arr, big[src:src + 2_000_000])
        assert second[p] == [((p - 1) % n, (p - 1) % n)]
    # the mesh: each non-leader made (or accepted) one connection per other non-leader
    assert [len(opened[p]) for p in range(n)] == [0, 2, 2, 2]
    for p in range(n):
        for ch in [*opened[p], hubs.get(p), peers.get(p)]:
            if ch is not None:
                ch.close()
