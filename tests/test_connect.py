"""Spark Connect: mli as a client of a Connect server.

The server is pyspark's own (``SparkConnectServer`` through ``spark-submit``, master
``local[2]``), started by these tests in its own process. The clients run in subprocesses
(``tests/scripts``): they start no JVM, so nothing there reaches Spark except through the
Connect protocol (pyspark also refuses a Connect session in a process that has a classic
one, as this test process does).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cluster

import mli

HERE = Path(__file__).parent
# every algorithm (both ALS strategies: each is one gang run over resident blocks) and two
# pipelines (matrix; text: tokenize, hash, TF-IDF, naive Bayes)
ALGORITHMS = ["lr", "lr_lbfgs", "svm", "linreg", "lasso", "kmeans", "nb", "tree", "forest",
              "als_data_parallel", "als_blocked", "pipeline_matrix", "pipeline_text", "search",
              "search_trees", "search_kmeans", "search_als"]
CHECKS = ["default_context_is_the_active_connect_session", "dataframe_fit_equals_numpy_fit",
          "predict_on_a_connect_dataframe", "table_from_numpy_with_label",
          "wrong_input_says_what_to_use", "readers", "conformance_of_every_algorithm",
          "pipeline_predict_on_a_connect_dataframe", "pipeline_over_a_text_dataframe",
          "pipeline_transform_on_a_connect_dataframe",
          "collected_stores_leave_no_files_on_the_server",
          "spark_ml_estimators_pipeline_and_persistence",
          "sklearn_estimator_fits_through_the_connect_session",
          "a_remote_context_removes_its_blocks_when_it_stops",
          "cli_train_evaluate_predict_over_connect", "weights_and_sparse_vectors_over_connect",
          "search_over_a_connect_dataframe"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = cluster.start_connect_server(tmp_path_factory.mktemp("connect"), "local[2]")
    yield s
    s.stop()


def _run(script: str, *args: str) -> list[list[str]]:
    out = subprocess.run([sys.executable, str(HERE / "scripts" / script), *args],
                         capture_output=True, text=True, timeout=900, env=cluster.base_env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return [line.split(" ", 2) for line in out.stdout.splitlines() if " " in line]


def test_every_algorithm_over_connect_equals_local(server):
    """A client process fits every algorithm through the Connect server; each model equals
    the one local[2] gives, bit for bit."""
    local = {k: v for k, v in _run("multihost_job.py", "local[2]", *ALGORITHMS)}
    remote = {k: v for k, v in _run("multihost_job.py", server.url, *ALGORITHMS)}
    assert remote["master"] == "local[2]"  # the server's master, asked over Connect
    for name in ALGORITHMS:
        assert remote[name] == local[name], name


@pytest.fixture(scope="module")
def checks(server):
    return {r[1]: r for r in _run("connect_checks.py", server.url)}


@pytest.mark.parametrize("name", CHECKS)
def test_connect_client(checks, name):
    assert name in checks, f"check {name} did not run: {sorted(checks)}"
    assert checks[name][0] == "ok", checks[name][2] if len(checks[name]) > 2 else checks[name]


def test_context_arguments_are_checked():
    with pytest.raises(ValueError, match="remote=.sc://"):
        mli.MLContext("sc://localhost:15002")
    with pytest.raises(ValueError, match="sc://host:port"):
        mli.MLContext(remote="localhost:15002")
    with pytest.raises(ValueError, match="at most one"):
        mli.MLContext("local[2]", remote="sc://localhost:15002")
    with pytest.raises(TypeError, match="SparkSession"):
        mli.MLContext(session="spark")
    with pytest.raises(ValueError, match="parallelism"):
        mli.MLContext(remote="sc://localhost:15002", parallelism=0)
    with pytest.raises(ValueError, match="driver_host"):
        mli.MLContext(remote="sc://localhost:15002", driver_host="")
    with pytest.raises(ValueError, match="rendezvous must be 'auto', 'driver' or 'tasks'"):
        mli.MLContext(remote="sc://localhost:15002", rendezvous="executor")
