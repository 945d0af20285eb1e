"""A multi-host Spark standalone cluster on one machine, for the tests.

A master on 127.0.0.1 and workers each on its own loopback address (127.0.0.2,
127.0.0.3, ...), each inside ``unshare --uts --mount`` with its own hostname and private
``/tmp`` and ``/dev/shm`` (tmpfs mounts only that worker sees), so no node can read
another's files, as on real hosts. Everything comes from pyspark's own distribution
(``bin/spark-class``). Processes are stopped by their PIDs (process groups).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def base_env(local_ip: str = "127.0.0.1") -> dict:
    env = dict(os.environ, SPARK_HOME=spark_home(), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP=local_ip)
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return env


def isolation_problem() -> str | None:
    """Why ``unshare --uts --mount`` with private tmpfs mounts cannot run here, or None."""
    if shutil.which("unshare") is None:
        return "the 'unshare' command is missing (util-linux)"
    probe = subprocess.run(
        ["unshare", "--uts", "--mount", "sh", "-c",
         "hostname mli-probe && mount -t tmpfs tmpfs /tmp && hostname"],
        capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != "mli-probe":
        return f"the kernel refused unshare --uts --mount: {probe.stderr.strip()[:300]}"
    return None


@dataclass
class Cluster:
    url: str
    logs: Path
    procs: list = field(default_factory=list)
    workers: list = field(default_factory=list)  # (hostname, ip)

    def log_tail(self, n: int = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-n:]}"
                         for p in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _wait_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.3)
    return False


def _software_under_tmp() -> str | None:
    """The checkout mli is imported from, when it lies under /tmp (e.g. a CI clone there):
    every host must see the installed software, as real hosts each have it installed."""
    import mli

    root = os.path.dirname(os.path.dirname(os.path.abspath(mli.__file__)))
    return root if root == "/tmp" or root.startswith("/tmp/") else None


def _private_tmp_keeping(path: str | None) -> str:
    """Shell commands (inside the worker's own mount namespace) that put a fresh tmpfs on
    /tmp, with ``path`` (under /tmp) bound back in place: parked on an empty directory of
    the namespace (/media) while /tmp is replaced. Nothing changes outside the namespace."""
    if path is None:
        return "mount -t tmpfs tmpfs /tmp"
    return (f"mount --bind {path} /media && mount -t tmpfs tmpfs /tmp && "
            f"mkdir -p {path} && mount --bind /media {path} && umount /media")


def start(logs: Path, workers: list[tuple[str, str]], cores: int = 1,
          memory: str = "2g") -> Cluster:
    """Start a master and one worker per ``(hostname, ip)``; wait until all registered."""
    logs.mkdir(parents=True, exist_ok=True)
    spark_class = os.path.join(spark_home(), "bin", "spark-class")
    port = free_port()
    ui = free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", logs)
    cluster.procs.append(subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(ui)],
        env=base_env(), stdout=subprocess.DEVNULL, stderr=open(logs / "master.log", "w"),
        start_new_session=True))
    if not _wait_port("127.0.0.1", port, 90):
        cluster.stop()
        raise RuntimeError("standalone master did not start:\n" + cluster.log_tail())
    for i, (hostname, ip) in enumerate(workers):
        # own hostname, own /tmp and /dev/shm; the worker's work dir inside its own /tmp
        script = (f"hostname {hostname} && {_private_tmp_keeping(_software_under_tmp())} && "
                  f"mount -t tmpfs tmpfs /dev/shm && exec {spark_class} "
                  f"org.apache.spark.deploy.worker.Worker {cluster.url} --host {ip} "
                  f"--cores {cores} --memory {memory} --webui-port 0 --work-dir /tmp/work")
        cluster.procs.append(subprocess.Popen(
            ["unshare", "--uts", "--mount", "sh", "-c", script], env=base_env(ip),
            stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}-{hostname}.log", "w"),
            start_new_session=True))
        cluster.workers.append((hostname, ip))
    deadline = time.time() + 90
    while time.time() < deadline:
        text = (logs / "master.log").read_text(errors="replace")
        if text.count("Registering worker") >= len(workers):
            return cluster
        time.sleep(0.5)
    cluster.stop()
    raise RuntimeError("workers did not register:\n" + cluster.log_tail())


def start_connect_server(logs: Path, master: str = "local[2]", **conf: str) -> Cluster:
    """Start pyspark's own Spark Connect server (``SparkConnectServer`` through
    ``spark-submit``) on a free loopback port with ``master``; ``.url`` is ``sc://...``.
    Its Python workers run this interpreter (which has mli installed)."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {"spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(port),
                "spark.ui.enabled": "false",
                "spark.driver.host": "127.0.0.1",
                "spark.driver.memory": "2g",
                "spark.pyspark.python": sys.executable,
                "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
                **conf}
    cmd = [os.path.join(spark_home(), "bin", "spark-submit"), "--master", master,
           "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
           "--name", "mli-connect-test"]
    for k, v in settings.items():
        cmd += ["--conf", f"{k}={v}"]
    cmd.append("spark-internal")
    server = Cluster(f"sc://127.0.0.1:{port}", logs)
    env = base_env()
    env.pop("SPARK_REMOTE", None)
    env["SPARK_CONNECT_MODE"] = "0"
    server.procs.append(subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(logs / "connect.log", "w"),
        start_new_session=True))
    if not _wait_port("127.0.0.1", port, 120):
        server.stop()
        raise RuntimeError("Spark Connect server did not start:\n" + server.log_tail())
    return server
