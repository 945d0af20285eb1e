"""Every algorithm on a multi-host standalone cluster gives the model it gives on local[2],
bit for bit; an executor killed in the middle of a fit changes nothing.

The cluster (tests/cluster.py): a master on 127.0.0.1 and two one-core workers, each in its
own UTS and mount namespace (its own hostname, private /tmp and /dev/shm) on its own
loopback address; a second cluster has two workers with the *same* hostname on distinct
addresses (two executors that share a name but not their files). The jobs run in
subprocesses (tests/scripts/multihost_job.py) and print a digest of every model's arrays.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cluster as multihost

HERE = Path(__file__).parent
JOB = HERE / "scripts" / "multihost_job.py"
ALGORITHMS = ["lr", "lr_lbfgs", "svm", "linreg", "lasso", "kmeans", "nb", "tree", "forest",
              "als_data_parallel", "als_blocked", "search", "search_trees", "search_kmeans",
              "search_als"]
# over Spark Connect (the pipelines' stages run as gang runs too)
CONNECT = ALGORITHMS + ["pipeline_matrix", "pipeline_text"]


def _isolated():
    problem = multihost.isolation_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"multi-host tests cannot run under CI: {problem}")
        pytest.skip(f"multi-host tests need Linux namespaces: {problem}")


def _job(master: str, *args: str, timeout: int = 900) -> dict:
    out = subprocess.run([sys.executable, str(JOB), master, *args], capture_output=True,
                         text=True, timeout=timeout, env=multihost.base_env())
    assert out.returncode == 0, out.stdout[-3000:] + _errors(out.stderr) + out.stderr[-3000:]
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


def _errors(text: str) -> str:
    """The lines that say what went wrong (not the JVM's stack frames), once each."""
    seen, keep = set(), []
    for line in text.splitlines():
        s = line.strip()
        if (("Error" in s or "Exception" in s or "Caused by" in s) and not s.startswith("at ")
                and s not in seen):
            seen.add(s)
            keep.append(s[:400])
    return "\n".join(keep[:60]) + "\n...\n"


@pytest.fixture(scope="module")
def local_models():
    return _job("local[2]", *ALGORITHMS, "pipeline_matrix", "pipeline_text", "one_block")


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    _isolated()
    c = multihost.start(tmp_path_factory.mktemp("two-hosts"),
                        [("mli-host-a", "127.0.0.2"), ("mli-host-b", "127.0.0.3")])
    yield c
    c.stop()


def test_every_algorithm_on_two_hosts_equals_local(two_hosts, local_models):
    models = _job(two_hosts.url, *ALGORITHMS, "one_block", "--kill-executor-mid-fit")
    assert models["master"] == two_hosts.url
    for name in ALGORITHMS:
        assert models[name] == local_models[name], (name, two_hosts.log_tail())
    # a one-block store: local[2] runs a gang of one task; the cluster a task in every slot
    # (one per host here), so some task sits where the block is; the same sums either way
    # (and the copy of the block the driver sent an executor goes once the table is
    # collected: the next gang run's tasks remove it)
    local_tasks, local_sums, *_ = local_models["one_block"].split()
    tasks, sums, there, left = models["one_block"].split()
    assert (local_tasks, tasks, sums) == ("1", "2", local_sums)
    assert (there, left) == ("True", "False")
    # an executor JVM was killed at iteration 3 of a gang run: Spark ran the barrier stage
    # again, the gang rebuilt the lost blocks from their lineage, and the model is the same
    assert models["killed"] == "1"
    assert models["lr_lbfgs_killed"] == local_models["lr_lbfgs"]


def test_two_executors_on_one_hostname(tmp_path_factory, local_models):
    """Two workers named alike on distinct addresses, each with its own files: a task must
    never be handed a block that only the other one holds."""
    _isolated()
    c = multihost.start(tmp_path_factory.mktemp("one-name"),
                        [("mli-twin", "127.0.0.4"), ("mli-twin", "127.0.0.5")])
    try:
        names = ["lr", "svm", "kmeans", "nb", "tree", "als_data_parallel"]
        for _ in range(2):
            models = _job(c.url, *names)
            for name in names:
                assert models[name] == local_models[name], (name, c.log_tail())
    finally:
        c.stop()


def test_connect_client_the_executors_cannot_reach(two_hosts, local_models, tmp_path_factory):
    """A Spark Connect server on the two-host cluster and a client whose address the
    executors cannot reach (as behind NAT): the first gang run finds that out and the tasks
    host the rendezvous (task 0, on a port derived from the run's secret), the client's numpy data reaches the
    executors through a DataFrame, a callback makes each pass a run of its own; every model
    equals local[2]'s, an executor killed mid-fit included."""
    server = multihost.start_connect_server(
        tmp_path_factory.mktemp("connect-2h"), two_hosts.url,
        **{"spark.executor.memory": "1g", "spark.cores.max": "2",
           "spark.default.parallelism": "2"})
    try:
        models = _job(server.url, *CONNECT, "--unreachable-driver", "--kill-executor-mid-fit")
    finally:
        server.stop()
    assert models["rendezvous"] == "tasks"
    for name in CONNECT:
        assert models[name] == local_models[name], (name, two_hosts.log_tail())
    assert models["killed"] == "1"
    assert models["lr_lbfgs_killed"] == local_models["lr_lbfgs"]
