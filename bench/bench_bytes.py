"""Bytes moved per iteration, mli against pyspark.ml, on a two-host cluster; and from them a
projection of the time per iteration at 8 and 32 hosts.

Starts the two-host standalone cluster of tests/cluster.py (a master on 127.0.0.1, one-core
workers on 127.0.0.2 and 127.0.0.3, each with its own hostname and private /tmp and /dev/shm)
and runs, in one driver process with Spark's event log on, each fit once to warm up, then
``--repeats`` pairs of fits: with ``--short`` and with ``--iters`` iterations (tolerance 0,
so each runs all of them). Everything per iteration is the difference of a pair divided by
the difference of iterations, so set-up (ingest, initialization, the first pass) cancels
out; the tables show the medians over the pairs:

* Spark's task metrics, read back from the event log (tasks attributed to a fit by their
  launch time): tasks, stages, jobs, result bytes (task -> driver), shuffle bytes written
  and read, broadcast bytes stored on executors (block updates of ``broadcast_*`` pieces),
  CPU seconds of the workers' process trees (JVMs and Python workers, from /proc);
* mli's all-reduce counters (``mli.engine.gang.last_stats``): exchanges and bytes through the
  leader (sent and received).

Fits: LogisticRegression and KMeans (k=20) on 400,000 x 100 dense (as bench_cluster.py),
explicit ALS (rank 10, reg 0.1) on MovieLens 100K ``u1.base`` (generated data of the same
shape when ../shared/data is absent), mli's with two partitions, one per host (its default
at this size is one task, which would move nothing).

The projection (strong scaling: the same data on H hosts, one task per host) is a model,
printed with its terms: ``t(H) = cpu(2) * 2 / H + overhead(2) + (B(H) - B(2)) / bandwidth +
(rounds * (H - 2) * per-task cost)`` where ``cpu`` is the workers' CPU time per iteration
per host and ``overhead`` the rest of the measured time per iteration at 2 hosts (driver,
scheduling, waiting), ``B(H)`` the bytes through the busiest node (mli: the leader; Spark:
the driver, which receives every task's result and serves every broadcast), scaled with H
as each library's pattern does (see ``busiest_bytes``), ``--bandwidth`` (default 1.25 GB/s,
10 GbE), and ``--task-cost`` the driver's cost per extra task launched per round (default
2 ms, Spark's scheduling; mli's rounds are exchanges inside one running job, which launch
nothing: its term is the per-peer cost ``--peer-cost``, default 0.1 ms).

Run: python bench/bench_bytes.py [--rows 400000] [--short 5] [--iters 20] [--repeats 3]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
SHARED = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))

import cluster as multihost  # noqa: E402  (tests/cluster.py)
from bench_algorithms import dense_data  # noqa: E402
from bench_cluster import ml_frame  # noqa: E402


def worker_cpu(roots):
    """CPU seconds (user + system, reaped children included) of the processes under the
    worker processes ``roots``: the worker and executor JVMs and their Python workers,
    read from /proc (executor CPU time in Spark's task metrics misses the Python workers)."""
    parent, ticks = {}, {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        pid = int(stat.split("/")[2])
        parent[pid] = int(fields[1])
        ticks[pid] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    total = 0
    for pid in ticks:
        p = pid
        while p in parent and p not in roots and p > 1:
            p = parent[p]
        if p in roots:
            total += ticks[pid]
    return total / os.sysconf("SC_CLK_TCK")


class Runs:
    """Fits with their time windows (epoch ms), durations, executor-side CPU seconds and
    mli counters."""

    def __init__(self, roots):
        self.runs = []
        self.roots = set(roots)

    def run(self, algo, lib, iters, rep, fit):
        import mli.engine.gang as gang

        gang.last_stats.clear()
        cpu = worker_cpu(self.roots)
        start = time.time() * 1000
        t = time.perf_counter()
        done = fit()
        seconds = time.perf_counter() - t
        end = time.time() * 1000
        cpu = worker_cpu(self.roots) - cpu
        st = dict(gang.last_stats) if lib == "mli" else {}
        self.runs.append(dict(algo=algo, lib=lib, rep=rep, iters=done if done else iters,
                              seconds=seconds, start=start, end=end, mli=st, cpu=cpu))
        print(f"  {algo:6s} {lib:10s} {done or iters:3d} iterations {seconds:7.2f} s", flush=True)


def read_events(folder):
    """Tasks (launch ms, metrics) and jobs (submission ms) and broadcast block updates
    from the event log(s) in ``folder``."""
    tasks, jobs, blocks, stages = [], [], [], []
    # Spark 4 writes a rolling log: a directory eventlog_v2_<app> of events_<n>_<app> files
    paths = sorted(glob.glob(os.path.join(folder, "**", "events_*"), recursive=True)) \
        or [p for p in glob.glob(os.path.join(folder, "*")) if os.path.isfile(p)]
    for path in paths:
        now = 0  # block updates carry no time: the latest time of the events before them
        with open(path) as f:
            for line in f:
                ev = json.loads(line)
                kind = ev.get("Event")
                if kind == "SparkListenerTaskStart":
                    now = max(now, ev["Task Info"]["Launch Time"])
                elif kind == "SparkListenerTaskEnd":
                    now = max(now, ev["Task Info"]["Finish Time"])
                    info, m = ev["Task Info"], ev.get("Task Metrics") or {}
                    sr = m.get("Shuffle Read Metrics") or {}
                    sw = m.get("Shuffle Write Metrics") or {}
                    tasks.append(dict(
                        t=info["Launch Time"], stage=ev["Stage ID"],
                        result=m.get("Result Size", 0),
                        shuffle_read=sr.get("Remote Bytes Read", 0) + sr.get("Local Bytes Read", 0),
                        shuffle_remote=sr.get("Remote Bytes Read", 0),
                        shuffle_write=sw.get("Shuffle Bytes Written", 0)))
                if kind == "SparkListenerJobStart":
                    jobs.append(ev["Submission Time"])
                    now = max(now, ev["Submission Time"])
                elif kind == "SparkListenerStageSubmitted":
                    stages.append(ev["Stage Info"].get("Submission Time", 0))
                    now = max(now, stages[-1])
                elif kind == "SparkListenerBlockUpdated":
                    b = ev["Block Updated Info"]
                    bid = b["Block ID"]
                    if bid.startswith("broadcast_") and "piece" in bid \
                            and b["Block Manager ID"]["Executor ID"] != "driver":
                        size = b.get("Memory Size", 0) + b.get("Disk Size", 0)
                        if size > 0:  # a piece stored (0: removed)
                            blocks.append((now, size))
    return tasks, jobs, stages, blocks


def spark_totals(run, tasks, jobs, stages, blocks):
    lo, hi = run["start"], run["end"]
    mine = [t for t in tasks if lo <= t["t"] <= hi]
    return dict(
        tasks=len(mine), stages=sum(lo <= s <= hi for s in stages),
        jobs=sum(lo <= j <= hi for j in jobs),
        result=sum(t["result"] for t in mine),
        shuffle=sum(t["shuffle_write"] for t in mine),
        shuffle_remote=sum(t["shuffle_remote"] for t in mine),
        broadcast=sum(s for ts, s in blocks if lo <= ts <= hi),
        cpu=run["cpu"])


def per_iteration(short, long, tasks, jobs, stages, blocks):
    a = spark_totals(short, tasks, jobs, stages, blocks)
    b = spark_totals(long, tasks, jobs, stages, blocks)
    di = long["iters"] - short["iters"]
    out = {k: (b[k] - a[k]) / di for k in a}
    out["seconds"] = (long["seconds"] - short["seconds"]) / di
    if long["mli"]:
        sa, sb = short["mli"], long["mli"]
        out["exchanges"] = (sb["exchanges"] - sa["exchanges"]) / di
        out["leader"] = (sb["leader_bytes"] - sa["leader_bytes"]) / di
    return out


def busiest_bytes(lib, algo, row, hosts):
    """Bytes per iteration through the busiest node at ``hosts`` hosts (one task each),
    scaled from the 2-host measurement by each library's pattern.

    mli: a star through the leader. All-reduce (LR, k-means): every peer sends its value and
    receives the result: 2 (H - 1) d bytes, d fixed, so B(H) = B(2) (H - 1). All-gather
    (ALS, rows of the factor matrix F): the leader receives (H - 1)/H of F and sends the
    whole of F to each of H - 1 peers: F (H - 1)(1 + 1/H), F = B(2) / 1.5.
    pyspark.ml: the driver receives every task's result (size per task fixed: gradients,
    cluster sums; tree aggregation moves part of it to executors, ignored here, in Spark's
    favour) and sends every broadcast piece at least once (fixed size); ALS's shuffle
    moves between executors (total fixed for fixed data, spread over H hosts: per host
    S / H): B(H) = result(2) H / 2 + broadcast(2) / 2 + shuffle(2) / H.
    """
    if lib == "mli":
        b2 = row["leader"]
        if algo == "ALS":
            return b2 / 1.5 * (hosts - 1) * (1 + 1 / hosts)
        return b2 * (hosts - 1)
    return row["result"] * hosts / 2 + row["broadcast"] / 2 + row["shuffle"] / hosts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--short", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3,
                    help="pairs of fits per library and algorithm (medians are reported)")
    ap.add_argument("--bandwidth", type=float, default=1.25e9, help="bytes/s per node link")
    ap.add_argument("--task-cost", type=float, default=2e-3,
                    help="seconds the Spark driver spends per task launched")
    ap.add_argument("--peer-cost", type=float, default=1e-4,
                    help="seconds mli's leader spends per peer and exchange")
    ap.add_argument("--only", action="append", choices=("lr", "kmeans", "als"))
    ap.add_argument("--report", metavar="DIR",
                    help="print the tables again from a kept run's DIR (runs.json, events/)")
    args = ap.parse_args(argv)
    if args.report:
        runs = Runs(())
        runs.runs = json.loads((Path(args.report) / "runs.json").read_text())
        report(args, runs, *read_events(Path(args.report) / "events"))
        return
    only = set(args.only or ("lr", "kmeans", "als"))
    problem = multihost.isolation_problem()
    if problem:
        sys.exit(f"bench_bytes needs Linux namespaces: {problem}")
    os.environ.update(multihost.base_env())
    import mli

    logs = Path("/tmp") / f"mli-bench-bytes-{os.getpid()}"
    events = logs / "events"
    events.mkdir(parents=True, exist_ok=True)
    c = multihost.start(logs, [("mli-bench-a", "127.0.0.2"), ("mli-bench-b", "127.0.0.3")],
                        memory="5g")
    print(f"cluster: {c.url}, workers {c.workers}", flush=True)
    runs = Runs(p.pid for p in c.procs[1:])  # the workers' process trees
    try:
        with mli.MLContext(c.url, **{"spark.executor.memory": "4g", "spark.cores.max": "2",
                                     "spark.eventLog.enabled": "true",
                                     "spark.eventLog.dir": f"file://{events}",
                                     "spark.eventLog.compress": "false",
                                     "spark.eventLog.logBlockUpdates.enabled": "true"}) as ctx:
            while int(ctx.sc.defaultParallelism) < 2:
                time.sleep(0.5)
            measure(ctx, args, only, runs)
    finally:
        c.stop()
        (logs / "runs.json").write_text(json.dumps(runs.runs))
    report(args, runs, *read_events(events))
    print(f"\nevent log and runs kept in {logs} (--report {logs} prints the tables again)")


def measure(ctx, args, only, runs):
    from pyspark.ml.classification import LogisticRegression as MLLogistic
    from pyspark.ml.clustering import KMeans as MLKMeans
    from pyspark.ml.recommendation import ALS as MLALS

    from mli.algorithms import ALS, KMeans, LogisticRegression

    # a warm-up fit (dropped), then --repeats pairs of a short and a long fit
    plan = [(args.short, -1)] + [(n, r) for r in range(args.repeats)
                                 for n in (args.short, args.iters)]
    if only & {"lr", "kmeans"}:
        X, y, _ = dense_data(args.rows, 100)
        df = ml_frame(ctx.spark, X, y, 2)
        print(f"data: {X.shape[0]:,} x {X.shape[1]} dense, 2 partitions (one per host)",
              flush=True)
    if "lr" in only:
        for n, rep in plan:
            runs.run("LR", "pyspark.ml", n, rep, lambda: MLLogistic(
                regParam=1e-3, standardization=False, maxIter=n, tol=0.0).fit(df)
                .summary.totalIterations)
            its = []
            runs.run("LR", "mli", n, rep, lambda: (LogisticRegression(
                reg=1e-3, solver="lbfgs", max_iter=n, tol=0.0,
                callback=lambda it, f, s: its.append(it)).fit(X, y), len(its))[1])
    if "kmeans" in only:
        for n, rep in plan:
            runs.run("KMeans", "pyspark.ml", n, rep, lambda: MLKMeans(
                k=20, maxIter=n, tol=0.0, seed=0, initSteps=2).fit(df).summary.numIter)
            runs.run("KMeans", "mli", n, rep, lambda: KMeans(
                k=20, max_iter=n, tol=0.0, seed=0).fit(X) and n)
    if "als" in only:
        folder = SHARED / "movielens-100k"
        if (folder / "u1.base").is_file():
            from mli.apps.movielens import load_ratings

            train = load_ratings(folder / "u1.base")[["user", "item", "rating"]]
        else:
            from mli.table.datasets import movielens_like

            train = movielens_like(seed=0)
            print("ALS: ../shared/data absent: GENERATED MovieLens-shaped ratings", flush=True)
        dtrain = ctx.spark.createDataFrame(train).repartition(2).cache()
        dtrain.count()
        # mli's default is one task at this size (mli.algorithms.als.cost.default_blocks); two, one per
        # host, so that the factors' rows travel as they do on larger data. At most 10
        # iterations: past that pyspark.ml's ALS overflows the JVM's stack serializing its
        # lineage unless a checkpoint directory all nodes share is set (none here)
        short, iters = min(args.short, 3), min(args.iters, 10)
        plan = [(short, -1)] + [(n, r) for r in range(args.repeats) for n in (short, iters)]
        for n, rep in plan:
            runs.run("ALS", "pyspark.ml", n, rep, lambda: MLALS(
                rank=10, maxIter=n, regParam=0.1, userCol="user", itemCol="item",
                ratingCol="rating", seed=0).fit(dtrain) and n)
            runs.run("ALS", "mli", n, rep, lambda: ALS(
                rank=10, max_iter=n, reg=0.1, seed=0, num_partitions=2).fit(train) and n)


def report(args, runs, tasks, jobs, stages, blocks):
    print("\nper iteration on the 2-host cluster (medians over pairs of a short and a long "
          "fit, iterations in 'its'; Spark task metrics from the event log, mli's counters "
          "from its all-reduce)")
    head = (f"  {'fit':7s} {'library':10s} {'its':>5s} {'s/iter':>7s} {'jobs':>5s} {'stages':>6s} "
            f"{'tasks':>5s} {'results':>9s} {'broadcast':>9s} {'shuffle':>9s} "
            f"{'all-reduce':>10s} {'exch.':>5s} {'cpu/host':>8s}")
    print(head)
    table = {}
    for algo in ("LR", "KMeans", "ALS"):
        for lib in ("pyspark.ml", "mli"):
            mine = [r for r in runs.runs if r["algo"] == algo and r["lib"] == lib
                    and r["rep"] >= 0]
            pairs = [(a, b) for a, b in zip(mine[::2], mine[1::2]) if a["rep"] == b["rep"]]
            if not pairs:
                continue
            each = [per_iteration(a, b, tasks, jobs, stages, blocks) for a, b in pairs]
            row = {k: float(np.median([e.get(k, 0.0) for e in each])) for k in each[0]}
            row.setdefault("leader", 0.0)
            row.setdefault("exchanges", 0.0)
            table[algo, lib] = row
            its = f"{pairs[0][0]['iters']}-{pairs[0][1]['iters']}"
            print(f"  {algo:7s} {lib:10s} {its:>5s} {row['seconds']:7.3f} {row['jobs']:5.1f} "
                  f"{row['stages']:6.1f} {row['tasks']:5.1f} {kb(row['result']):>9s} "
                  f"{kb(row['broadcast']):>9s} {kb(row['shuffle']):>9s} "
                  f"{kb(row['leader']):>10s} {row['exchanges']:5.1f} {row['cpu'] / 2:8.3f}")
    print("  (results: task -> driver; broadcast: stored on executors; shuffle: written; "
          "all-reduce: sent + received by mli's leader; cpu/host: CPU s per host of the worker, "
          "executor and Python worker processes)")
    print(f"\nprojection, strong scaling (same data, one task per host; bandwidth "
          f"{args.bandwidth / 1e9:.2f} GB/s, Spark {args.task_cost * 1e3:.1f} ms per task "
          f"launched, mli {args.peer_cost * 1e3:.2f} ms per peer and exchange); seconds per "
          "iteration, busiest node's bytes in brackets")
    print(f"  {'fit':7s} {'library':10s} {'2 hosts':>20s} {'8 hosts':>20s} {'32 hosts':>20s}")
    for (algo, lib), row in table.items():
        cpu = row["cpu"] / 2
        overhead = max(row["seconds"] - cpu, 0.0)
        b2 = busiest_bytes(lib, algo, row, 2)
        cells = []
        for h in (2, 8, 32):
            bh = busiest_bytes(lib, algo, row, h)
            if lib == "mli":
                extra = row["exchanges"] * (h - 2) * args.peer_cost
            else:
                extra = row["stages"] * (h - 2) * args.task_cost
            t = cpu * 2 / h + overhead + (bh - b2) / args.bandwidth + extra
            cells.append(f"{t:7.3f} [{kb(bh):>9s}]")
        print(f"  {algo:7s} {lib:10s} " + " ".join(f"{c:>20s}" for c in cells))


def kb(b):
    if b >= 1e6:
        return f"{b / 1e6:.2f} MB"
    return f"{b / 1e3:.1f} kB"


if __name__ == "__main__":
    main()
