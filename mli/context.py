"""MLContext: the engine. A thin, lazily started wrapper around a SparkSession.

Spark is the only engine. ``MLContext()`` runs Spark embedded (``local[*]``); the same
script runs on a cluster with ``MLContext(master="spark://host:7077")`` or, unchanged,
under ``spark-submit`` (the master then comes from spark-submit).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from typing import Any

from .errors import JavaNotFoundError, reraise

__all__ = ["MLContext", "get_context", "check_java"]

log = logging.getLogger("mli")

JAVA_HELP = (
    "Java 17 or newer is required to run Spark (mli's engine) but {what}. Install it, e.g. "
    "'sudo apt-get install openjdk-17-jre-headless' (Debian/Ubuntu), 'brew install openjdk@17' "
    "(macOS) or from https://adoptium.net, then set JAVA_HOME or put 'java' on PATH."
)

# Threads of native libraries inside Spark's Python workers: Spark already runs one task per
# core, so BLAS/numba must not start their own thread pools there (they would oversubscribe).
_WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}

_default_lock = threading.RLock()
_default: "MLContext | None" = None


def check_java() -> str:
    """Return the java executable, or raise :class:`JavaNotFoundError` with install help."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        what = (f"JAVA_HOME={java_home} has no bin/java" if java_home
                else "no 'java' was found on PATH and JAVA_HOME is not set")
        raise JavaNotFoundError(JAVA_HELP.format(what=what))
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        text = out.stderr + out.stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise JavaNotFoundError(JAVA_HELP.format(what=f"'{java}' could not run ({exc})")) from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if m:
        major = int(m.group(1))
        if major == 1 and m.group(2):
            major = int(m.group(2))
        if major < 17:
            raise JavaNotFoundError(JAVA_HELP.format(what=f"'{java}' is Java {major}"))
    return java


class MLContext:
    """Entry point to Spark for mli.

    Parameters
    ----------
    master : str, optional
        Spark master URL. Default ``"local[*]"`` (embedded Spark using every core), unless the
        script runs under ``spark-submit``, where spark-submit's master is used.
    app_name : str
        Spark application name.
    **spark_conf
        Extra Spark configuration, e.g. ``**{"spark.executor.memory": "4g"}``. Keys with
        underscores instead of dots are accepted (``spark_driver_memory="4g"``).

    Examples
    --------
    >>> import mli
    >>> with mli.MLContext("local[2]") as ctx:          # doctest: +SKIP
    ...     t = ctx.table([[1.0, 2.0], [3.0, 4.0]])
    ...     t.num_rows
    2
    """

    def __init__(self, master: str | None = None, app_name: str = "mli", **spark_conf: Any):
        if master is not None and (not isinstance(master, str) or not master):
            raise TypeError(f"master must be a Spark master URL such as 'local[*]' or "
                            f"'spark://host:7077', got {master!r}")
        if not isinstance(app_name, str):
            raise TypeError(f"app_name must be a string, got {app_name!r}")
        self.master = master
        self.app_name = app_name
        self.spark_conf = {(k if "." in k else k.replace("_", ".")): str(v)
                           for k, v in spark_conf.items()}
        self._spark = None
        self._owner = False  # True when this context created the SparkContext (stop() ends it)
        self._lock = threading.RLock()
        self._previous_defaults: list = []  # defaults displaced by `with` (restored on exit)

    # ------------------------------------------------------------------ lifecycle
    @property
    def spark(self):
        """The underlying SparkSession (started on first use)."""
        spark = self._spark
        if spark is not None and getattr(spark.sparkContext, "_jsc", None) is None:
            self._spark = None  # stopped elsewhere (e.g. by the context that owned it)
        if self._spark is None:
            with self._lock:
                if self._spark is None:
                    from pyspark import SparkContext

                    owner = SparkContext._active_spark_context is None
                    self._spark = self._start()
                    self._owner = owner
        return self._spark

    @property
    def sc(self):
        """The underlying SparkContext."""
        return self.spark.sparkContext

    @property
    def default_parallelism(self) -> int:
        return int(self.sc.defaultParallelism)

    def _start(self):
        from pyspark import SparkContext

        active = SparkContext._active_spark_context
        under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
        if active is None and not under_submit:
            check_java()
        # Python workers must run this very interpreter (the one that has mli installed).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName(self.app_name)
        master = self.master
        if master is None and not under_submit and active is None:
            master = "local[*]"
        if master is not None:
            builder = builder.master(master)
        conf = {
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.python.worker.reuse": "true",
            "spark.sql.shuffle.partitions": "8",
            "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
        }
        if hasattr(socket, "AF_UNIX"):
            # the JVM talks to its Python workers over a Unix socket: over TCP, each task's
            # input waited ~40 ms for a delayed ACK (a one-row Python job: 0.081 -> 0.044 s)
            conf["spark.python.unix.domain.socket.enabled"] = "true"
        for k, v in _WORKER_ENV.items():
            conf[f"spark.executorEnv.{k}"] = v
        if active is None and not under_submit:
            # the driver JVM holds what goes through it (a DataFrame made from local data, a
            # collected result): Spark's 1 GB default is too small on any master
            conf["spark.driver.memory"] = "4g"
        if master is not None and master.startswith("local"):
            conf["spark.ui.enabled"] = "false"
            local_dir = _memory_backed_dir()
            if local_dir is not None and "SPARK_LOCAL_DIRS" not in os.environ:
                conf["spark.local.dir"] = local_dir
        if active is None and not under_submit and "MLI_SPARK_LOG_LEVEL" not in os.environ:
            log4j = os.path.join(os.path.dirname(__file__), "data", "log4j2.properties")
            opt = f"-Dlog4j2.configurationFile=file:{log4j}"
            conf["spark.driver.extraJavaOptions"] = opt
            conf["spark.executor.extraJavaOptions"] = opt
        conf.update(self.spark_conf)
        for k, v in conf.items():
            builder = builder.config(k, v)
        # quiet the JVM's start-up chatter (log4j2 default is WARN)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001
            if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway process exited" in str(exc):
                raise JavaNotFoundError(JAVA_HELP.format(what="Spark's Java process did not start")) from None
            raise
        spark.sparkContext.setLogLevel(os.environ.get("MLI_SPARK_LOG_LEVEL", "ERROR"))
        log.info("Spark %s started: master=%s, parallelism=%s", spark.version,
                 spark.sparkContext.master, spark.sparkContext.defaultParallelism)
        return spark

    def stop(self) -> None:
        """Stop Spark if this context started it; a context that joined a SparkContext that
        was already running (e.g. another MLContext's) only detaches from it."""
        global _default
        with self._lock:
            if self._spark is not None:
                if self._owner:
                    from . import blocks

                    blocks.forget_all()
                    self._spark.stop()
                self._spark = None
                self._owner = False
        with _default_lock:
            if _default is self:
                _default = None

    def __enter__(self) -> "MLContext":
        global _default
        with _default_lock:
            self._previous_defaults.append(_default)
            _default = self
        return self

    def __exit__(self, *exc) -> None:
        """Stop (if this context started Spark) and make the previous default current again."""
        global _default
        self.stop()
        with _default_lock:
            previous = self._previous_defaults.pop() if self._previous_defaults else None
            if _default is None and previous is not self:
                _default = previous

    def __repr__(self) -> str:
        state = "running" if self._spark is not None else "not started"
        return f"MLContext(master={self.master!r}, app_name={self.app_name!r}, {state})"

    # ------------------------------------------------------------------ helpers
    def run(self, action, *args, **kwargs):
        """Run a Spark action, re-raising task exceptions as their original Python type."""
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            reraise(exc)

    def table(self, data, *args, **kwargs):
        """Shortcut for :meth:`mli.MLTable.from_data` on this context."""
        from .table import MLTable

        return MLTable.from_data(data, *args, ctx=self, **kwargs)

    def broadcast(self, value):
        return self.sc.broadcast(value)


#: free space a RAM-backed file system needs before local mode puts Spark's scratch space on it
SHM_MIN_FREE = 8 << 30


def _memory_backed_dir(root: str = "/dev/shm") -> str | None:
    """Spark's scratch directory for ``local[*]``: ``/dev/shm/mli`` when that RAM-backed
    file system exists and has at least :data:`SHM_MIN_FREE` bytes free, else ``None``
    (Spark's default, ``/tmp``).

    Local mode moves the user's arrays into the Python workers through files
    (``parallelize``'s temporary file, the resident block files): on a disk-backed ``/tmp``
    a few hundred MB can cost seconds of write-back, in RAM a fraction of a second. The
    data sits in memory either way (Spark's cache, the page cache). Pass
    ``spark_local_dir=...`` (or set ``SPARK_LOCAL_DIRS``) to choose another place.
    """
    try:
        st = os.statvfs(root)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize < SHM_MIN_FREE:
        return None
    path = os.path.join(root, "mli")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def get_context(ctx: MLContext | None = None) -> MLContext:
    """Return ``ctx`` or the default context (created on first use with default settings)."""
    global _default
    if ctx is not None:
        return ctx
    with _default_lock:
        if _default is None:
            _default = MLContext()
        return _default


def set_default_context(ctx: MLContext | None) -> None:
    global _default
    with _default_lock:
        _default = ctx
