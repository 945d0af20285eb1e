"""The same script on embedded Spark, on a real standalone cluster, and under spark-submit;
losing an executor costs recomputation, never a wrong answer.

A Spark standalone master and worker are started on loopback from pyspark's own
distribution (bin/spark-class), so this needs nothing beyond the pip-installed pyspark.
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
JOB = HERE / "scripts" / "cluster_job.py"


def _spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ, SPARK_HOME=_spark_home(), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return env


def _run(args, timeout=240):
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """A standalone master + one worker (2 cores) on 127.0.0.1."""
    work = tmp_path_factory.mktemp("spark-standalone")
    spark_class = os.path.join(_spark_home(), "bin", "spark-class")
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host",
                               "127.0.0.1", "--port", str(port), "--webui-port",
                               str(_free_port())], env=_env(), stdout=subprocess.DEVNULL,
                              stderr=open(work / "master.log", "w"))]
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        procs[0].kill()
        pytest.fail("standalone master did not start: " + (work / "master.log").read_text()[-2000:])
    procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", url,
                                   "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
                                   "--webui-port", str(_free_port()), "--work-dir",
                                   str(work / "work")], env=_env(), stdout=subprocess.DEVNULL,
                                  stderr=open(work / "worker.log", "w")))
    time.sleep(3)
    yield url
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="module")
def local_result():
    return _run([sys.executable, str(JOB), "local[2]"])


def test_same_script_on_a_standalone_cluster(standalone, local_result):
    res = _run([sys.executable, str(JOB), standalone, "--kill-executor"])
    assert res["master"] == standalone
    assert res["coef"] == local_result["coef"]   # same model, printed to 6 decimals
    assert res["pass1"] == "True"
    # the executor JVM was killed between passes: the pass is recomputed, and right
    assert int(res["killed"]) >= 1 and res["pass2"] == "True"


def test_same_script_under_spark_submit(local_result):
    submit = os.path.join(_spark_home(), "bin", "spark-submit")
    res = _run([submit, "--master", "local[2]", str(JOB), "-"])
    assert res["master"] == "local[2]"
    assert res["coef"] == local_result["coef"]
