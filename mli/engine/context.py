"""MLContext: the engine. A thin, lazily started wrapper around a SparkSession.

Spark is the only engine. ``MLContext()`` runs Spark embedded (``local[*]``); the same
script runs on a cluster with ``MLContext(master="spark://host:7077")``, unchanged under
``spark-submit`` (the master then comes from spark-submit), or as a client of a Spark
Connect server with ``MLContext(remote="sc://host:15002")`` (or on a Connect session the
user already has: ``MLContext(session=spark)``, picked up by default when one is active).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from typing import Any, Callable

from mli.engine.preflight import (JAVA_HELP, check_conf_value, check_java, check_master,
                                  check_reachable)
from mli.errors import ConnectUnsupportedError, JavaNotFoundError, reraise

__all__ = ["MLContext", "get_context", "check_java", "on_stop"]

log = logging.getLogger("mli")

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


class MLContext:
    """Entry point to Spark for mli.

    Parameters
    ----------
    master : str, optional
        Spark master URL. Default ``"local[*]"`` (embedded Spark using every core), unless the
        script runs under ``spark-submit``, where spark-submit's master is used.
    app_name : str
        Spark application name.
    remote : str, optional
        A Spark Connect server, ``"sc://host:port"``. mli then runs as a Connect client: no
        Java and no Spark JVM on this machine; every fit is a gang run on the server's
        executors (:mod:`mli.engine.gang`). Operations that need RDDs of arbitrary Python objects
        raise :class:`~mli.errors.ConnectUnsupportedError` naming what to use instead.
    session : pyspark.sql.SparkSession, optional
        Use this session (classic or Spark Connect) instead of starting one; ``stop()``
        leaves it running.
    parallelism : int, optional
        Tasks that run at once (one per core). Found from the session when not given; a
        Connect server that does not tell (a cluster master without
        ``spark.default.parallelism``) needs it.
    driver_host : str, optional
        Address the executors reach this process at (gang runs' rendezvous). Default: on a
        classic cluster ``spark.driver.host``; over Connect, this machine's address on the
        route to the Connect server.
    rendezvous : {"auto", "driver", "tasks"}, default "auto"
        Whether this process takes part in gang runs (:mod:`mli.engine.gang`; their tasks always
        find each other through the first task, which listens on a port the others derive
        from the run's secret: the executors must reach each other's ports 20000-32767).
        ``"driver"``: every task connects to this process, which sends the blocks it holds,
        answers callbacks and takes the result. ``"tasks"``: no task tries; the program and
        its result travel inside the Spark job and driver-held data reaches the executors
        through a DataFrame: for a Connect client the executors cannot reach (behind NAT, a
        laptop outside the cluster's network). ``"auto"``: the driver, except over Connect
        to a cluster, where the first run tries it and goes on without it when some
        executor cannot reach it (remembered for the context).
    **spark_conf
        Extra Spark configuration, e.g. ``**{"spark.executor.memory": "4g"}``. Keys with
        underscores instead of dots are accepted (``spark_driver_memory="4g"``).

    Examples
    --------
    >>> import mli
    >>> with mli.MLContext("local[2]") as ctx:          # doctest: +SKIP
    ...     t = mli.MLTable.from_data([[1.0, 2.0], [3.0, 4.0]], ctx=ctx)
    ...     t.num_rows
    2
    """

    def __init__(self, master: str | None = None, app_name: str = "mli", *,
                 remote: str | None = None, session: Any = None,
                 parallelism: int | None = None, driver_host: str | None = None,
                 rendezvous: str = "auto", **spark_conf: Any):
        if master is not None and (not isinstance(master, str) or not master):
            raise TypeError(f"master must be a Spark master URL such as 'local[*]' or "
                            f"'spark://host:7077', got {master!r}")
        if isinstance(master, str) and master.startswith("sc://"):
            raise ValueError(f"master={master!r} is a Spark Connect address: pass it as "
                             f"MLContext(remote={master!r})")
        if isinstance(master, str):
            check_master(master)
        if remote is not None and (not isinstance(remote, str) or not remote.startswith("sc://")):
            raise ValueError(f"remote must be a Spark Connect address 'sc://host:port', "
                             f"got {remote!r}")
        if sum(x is not None for x in (master, remote, session)) > 1:
            raise ValueError("give at most one of master, remote and session")
        if session is not None and not _is_session(session):
            raise TypeError(f"session must be a pyspark SparkSession, got "
                            f"{type(session).__name__}")
        if parallelism is not None and (isinstance(parallelism, bool)
                                        or not isinstance(parallelism, int) or parallelism < 1):
            raise ValueError(f"parallelism must be a positive int, got {parallelism!r}")
        if driver_host is not None and (not isinstance(driver_host, str) or not driver_host):
            raise ValueError(f"driver_host must be a host name or address, got {driver_host!r}")
        if rendezvous not in ("auto", "driver", "tasks"):
            raise ValueError(f"rendezvous must be 'auto', 'driver' or 'tasks', got "
                             f"{rendezvous!r}")
        if not isinstance(app_name, str):
            raise TypeError(f"app_name must be a string, got {app_name!r}")
        self.master = master
        self.app_name = app_name
        self.remote = remote
        self.parallelism = parallelism
        self.driver_host = driver_host
        self.rendezvous = rendezvous
        self._rendezvous_found: str | None = None  # "auto" over Connect: what the first run found
        self.spark_conf = {(k if "." in k else k.replace("_", ".")): str(v)
                           for k, v in spark_conf.items()}
        for key, value in self.spark_conf.items():
            check_conf_value(key, value)
        self._spark = session
        self._given = session is not None  # the user's session: stop() leaves it running
        self._owner = False  # True when this context created the SparkContext (stop() ends it)
        self._lock = threading.RLock()
        self._previous_defaults: list = []  # defaults displaced by `with` (restored on exit)
        self._parallelism_found: int | None = None
        self._scratch: str | None = None  # this application's scratch dir (local mode)
        self._checkpoints: str | None = None  # its checkpoint dir, when not in _scratch

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_connect(self) -> bool:
        """Whether this context is a Spark Connect client (no SparkContext, no RDDs)."""
        if self.remote is not None:
            return True
        return self._spark is not None and _is_connect_session(self._spark)

    @property
    def spark(self):
        """The underlying SparkSession (started on first use)."""
        spark = self._spark
        if (spark is not None and not self._given and not _is_connect_session(spark)
                and getattr(spark.sparkContext, "_jsc", None) is None):
            self._spark = None  # stopped elsewhere (e.g. by the context that owned it)
        if self._spark is None:
            with self._lock:
                if self._spark is None:
                    if self.remote is not None:
                        self._spark = self._start_remote()
                        self._owner = True
                    else:
                        from pyspark import SparkContext

                        owner = SparkContext._active_spark_context is None
                        self._spark = self._start()
                        self._owner = owner
        return self._spark

    @property
    def sc(self):
        """The underlying SparkContext (classic sessions only)."""
        self.require_classic("this operation (it uses the SparkContext)",
                             "a numeric table (MLTable.from_numpy/from_pandas) or a Spark "
                             "DataFrame")
        return self.spark.sparkContext

    def client_scratch_dir(self) -> str:
        """This process's scratch directory for files it writes as a Spark Connect client
        (driver-held blocks); removed at exit, and by the next start if the process was
        killed."""
        return _client_scratch_dir()

    def require_classic(self, what: str, instead: str) -> None:
        """Raise :class:`~mli.errors.ConnectUnsupportedError` when this is a Connect client."""
        if self.is_connect:
            raise ConnectUnsupportedError(
                f"{what} needs a classic Spark session (RDDs of Python objects), which Spark "
                f"Connect does not offer; over Spark Connect use {instead}")

    @property
    def master_url(self) -> str:
        """The master the executors come from (over Connect: the server's master)."""
        if self.is_connect:
            return self._server_conf("spark.master") or "unknown"
        return str(self.sc.master)

    def _server_conf(self, key: str) -> str | None:
        try:
            return self.spark.conf.get(key, None)
        except Exception:  # noqa: BLE001 - the server refuses to show some settings
            return None

    @property
    def default_parallelism(self) -> int:
        """Tasks that run at once (Spark's default parallelism)."""
        if self.parallelism is not None:
            return self.parallelism
        if not self.is_connect:
            return int(self.sc.defaultParallelism)
        if self._parallelism_found is None:
            self._parallelism_found = self._connect_parallelism()
        return self._parallelism_found

    def _connect_parallelism(self) -> int:
        value = self._server_conf("spark.default.parallelism")
        if value:
            return int(value)
        master = self.master_url
        m = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master)
        if m:
            n = m.group(1)
            if n and n != "*":
                return int(n)
            return int(self.spark.range(0, 1, 1, 1).mapInArrow(
                _cpu_count_batches, "n long").collect()[0][0])
        inst = self._server_conf("spark.executor.instances")
        cores = self._server_conf("spark.executor.cores")
        if inst and cores:
            return int(inst) * int(cores)
        if self._server_conf("spark.cores.max"):
            return int(self._server_conf("spark.cores.max"))
        raise ValueError(
            f"cannot tell how many tasks run at once on the Spark Connect server (master "
            f"{master}): set spark.default.parallelism on the server or pass "
            f"MLContext(remote=..., parallelism=N)")

    def _start_remote(self):
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.remote(self.remote)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001
            raise ConnectionError(f"could not reach the Spark Connect server at {self.remote}: "
                                  f"{str(exc).splitlines()[0][:300]}") from None
        for k, v in self.spark_conf.items():
            spark.conf.set(k, v)  # session settings; the server's own are fixed at its start
        log.info("Spark Connect %s: %s", spark.version, self.remote)
        return spark

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
            if active is None and not under_submit:
                check_reachable(master)
            builder = builder.master(master)
        conf = {
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.python.worker.reuse": "true",
            "spark.sql.shuffle.partitions": "8",
            "spark.executorEnv.PYSPARK_PYTHON": sys.executable,
            # a gang (barrier stage) that cannot get all its slots fails after ~20 s, not
            # Spark's 10 minutes (40 checks, 15 s apart); mli.engine.gang says what to change
            "spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures": "10",
            "spark.scheduler.barrier.maxConcurrentTasksCheck.interval": "2s",
        }
        if hasattr(socket, "AF_UNIX"):
            # the JVM talks to its Python workers over a Unix socket: over TCP, each task's
            # input waited for a delayed ACK
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
            if local_dir is not None and "SPARK_LOCAL_DIRS" not in os.environ \
                    and "spark.local.dir" not in self.spark_conf:
                # one directory per application: removed at stop(), and by the next start
                # when the application that made it was killed
                self._scratch = _app_scratch_dir(local_dir)
                conf["spark.local.dir"] = self._scratch
        if active is None and not under_submit and "MLI_SPARK_LOG_LEVEL" not in os.environ:
            log4j = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                                 "log4j2.properties")
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
        if (master is not None and master.startswith("local") and active is None
                and spark.sparkContext.getCheckpointDir() is None):
            # pyspark.ml's iterative estimators (ALS, trees) checkpoint their lineage only
            # when a directory is set; without one, ALS past ~10 iterations overflows the
            # task deserializer's stack and the StackOverflowError ends the local JVM.
            # (On a cluster the directory must be on shared storage: the user's to set.)
            if self._scratch is None:
                self._checkpoints = tempfile.mkdtemp(prefix="mli-checkpoints-")
            spark.sparkContext.setCheckpointDir(self._checkpoints
                                                or os.path.join(self._scratch, "checkpoints"))
        log.info("Spark %s started: master=%s, parallelism=%s", spark.version,
                 spark.sparkContext.master, spark.sparkContext.defaultParallelism)
        return spark

    def stop(self) -> None:
        """Stop Spark if this context started it; a context that joined a SparkContext that
        was already running (e.g. another MLContext's) only detaches from it."""
        global _default
        with self._lock:
            if self._spark is not None and self._given:
                pass  # the user's session: theirs to stop (this context stays usable)
            elif self._spark is not None and self.remote is not None:
                _run_stop_hooks(self)  # e.g. the executors' files of this client's stores
                self._spark.stop()  # closes this client's session; the server runs on
                self._spark = None
            elif self._spark is not None:
                if self._owner:
                    _run_stop_hooks(self)
                    _hang_up_python_workers(self._spark.sparkContext)
                    self._spark.stop()
                    for d in (self._scratch, self._checkpoints):
                        if d is not None:
                            shutil.rmtree(d, ignore_errors=True)
                    self._scratch = self._checkpoints = None
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
        where = f"remote={self.remote!r}" if self.remote else f"master={self.master!r}"
        return f"MLContext({where}, app_name={self.app_name!r}, {state})"

    # ------------------------------------------------------------------ helpers
    def run(self, action, *args, **kwargs):
        """Run a Spark action, re-raising task exceptions as their original Python type."""
        try:
            return action(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            reraise(exc)

    def broadcast(self, value):
        return self.sc.broadcast(value)


# What must happen before a context stops its Spark, installed by the modules above this one
# (mli.engine.gang: wait for the jobs still ending; mli.engine.blocks: forget the blocks the
# executors wrote), run in increasing ``order``.
_STOP_HOOKS: list[tuple[int, Callable[["MLContext"], None]]] = []


def on_stop(hook: Callable[["MLContext"], None], order: int = 0) -> None:
    """Call ``hook(ctx)`` whenever a context stops the Spark it started (before it stops).
    Hooks run in increasing ``order``; registering the same hook again does nothing."""
    if all(h is not hook for _, h in _STOP_HOOKS):
        _STOP_HOOKS.append((order, hook))
        _STOP_HOOKS.sort(key=lambda oh: oh[0])


def _hang_up_python_workers(sc) -> None:
    """Local mode: stop the Python worker daemons before Spark stops.

    Spark's stop closes the sockets of its idle (reused) Python workers, then signals their
    daemon. A worker that reads its closed socket first reports the end of its input on
    that same socket, and pyspark 4's daemon prints the ``BrokenPipeError`` of that report
    (SPARK-54344) to the console after the program's own output. A daemon asked to stop
    first (SIGTERM, what Spark sends it next anyway) hangs up its workers' process group
    and exits quietly. In local mode the daemons are the driver JVM's children; on a
    cluster they are the executors' and their output goes to the executors' logs. Only
    for the stop: Spark cannot run Python tasks afterwards (it would still use the stopped
    daemon).
    """
    if not str(sc.master).startswith("local"):
        return
    try:
        daemons = []
        for child in sc._jvm.java.lang.ProcessHandle.current().children().toArray():
            args = child.info().arguments()
            if args.isPresent() and "pyspark.daemon" in list(args.get()):
                child.destroy()
                daemons.append(child)
        deadline = time.monotonic() + 2.0
        while any(d.isAlive() for d in daemons) and time.monotonic() < deadline:
            time.sleep(0.02)
    except Exception as exc:  # noqa: BLE001 - Spark's own stop still stops them
        log.debug("could not stop the Python worker daemons before Spark: %s", exc)


def _run_stop_hooks(ctx: "MLContext") -> None:
    for _, hook in list(_STOP_HOOKS):
        hook(ctx)


def _cpu_count_batches(_batches):
    import pyarrow as pa

    yield pa.RecordBatch.from_pydict({"n": [os.cpu_count() or 1]})


def _is_session(obj) -> bool:
    return type(obj).__name__ == "SparkSession" and type(obj).__module__.startswith("pyspark.sql")


def _is_connect_session(obj) -> bool:
    return type(obj).__module__.startswith("pyspark.sql.connect")


def active_connect_session():
    """The Spark Connect session active in this process, if any."""
    import sys as _sys

    if "pyspark.sql.connect.session" not in _sys.modules:
        return None  # never imported: no Connect session can exist
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    try:
        return ConnectSession.getActiveSession()
    except Exception:  # noqa: BLE001
        return None


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


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _app_scratch_dir(base: str) -> str:
    """``base/app-<pid>-<start time>`` for this process, after removing the directories of
    applications that are gone (killed without ``stop()``): a directory is removed only when
    no process with its pid and start time runs, so a live application's never is."""
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        m = re.fullmatch(r"app-(\d+)-(\d+)", name)
        if m and _process_start(int(m.group(1))) != m.group(2):
            log.info("removing %s: left by an application that is no longer running",
                     os.path.join(base, name))
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
    me = os.getpid()
    path = os.path.join(base, f"app-{me}-{_process_start(me) or 0}")
    os.makedirs(path, exist_ok=True)
    return path


_client_dir: str | None = None


def _client_scratch_dir() -> str:
    global _client_dir
    with _default_lock:
        if _client_dir is None or not os.path.isdir(_client_dir):
            import atexit
            import tempfile

            base = _memory_backed_dir() or os.path.join(tempfile.gettempdir(), "mli")
            os.makedirs(base, exist_ok=True)
            _client_dir = os.path.join(_app_scratch_dir(base), "client")
            os.makedirs(_client_dir, exist_ok=True)
            atexit.register(shutil.rmtree, os.path.dirname(_client_dir), True)
        return _client_dir


def get_context(ctx: MLContext | None = None) -> MLContext:
    """Return ``ctx`` or the default context (created on first use with default settings)."""
    global _default
    if ctx is not None:
        return ctx
    with _default_lock:
        if _default is None:
            connect = active_connect_session()
            remote = os.environ.get("SPARK_REMOTE", "")
            if connect is not None:
                _default = MLContext(session=connect)
            elif remote.startswith("sc://"):
                _default = MLContext(remote=remote)
            else:
                _default = MLContext()
        return _default


def context_for_dataframe(df, ctx: MLContext | None = None) -> MLContext:
    """The context to read a Spark DataFrame with: ``ctx`` (or the default) when it is on
    the DataFrame's session, else a context on that session."""
    global _default
    session = df.sparkSession
    ctx = ctx if ctx is not None else _default
    if ctx is not None and (ctx._spark is session or (
            not ctx.is_connect and not _is_connect_session(session))):
        return ctx
    if _is_connect_session(session):
        with _default_lock:
            if _default is None:
                _default = MLContext(session=session)
                return _default
            key = id(session)
            if key not in _session_contexts or _session_contexts[key]._spark is not session:
                _session_contexts[key] = MLContext(session=session)
            return _session_contexts[key]
    return get_context(ctx)


_session_contexts: dict = {}  # Connect sessions' contexts (DataFrames read without one)


def set_default_context(ctx: MLContext | None) -> None:
    global _default
    with _default_lock:
        _default = ctx
