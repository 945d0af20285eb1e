"""MLContext (mli.engine.context), the Java check, and the transport of task exceptions
(mli.errors)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyspark import cloudpickle

import mli
from mli import MLContext
from mli.engine.context import JAVA_HELP, check_java, get_context
from mli.errors import (BlockMissingError, JavaNotFoundError, ModelFormatError, TaskError,
                        decode, reraise, task_safe)

cloudpickle.register_pickle_by_value(sys.modules[__name__])

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ============================================================================ Java


def _fake_java(directory, version_line):
    """A JAVA_HOME whose bin/java prints ``version_line`` like ``java -version`` does."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(directory), str(java)


def test_check_java_without_java_says_how_to_install(monkeypatch, tmp_path):
    empty = tmp_path / "jdk"
    empty.mkdir()
    monkeypatch.setenv("JAVA_HOME", str(empty))
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH either
    with pytest.raises(JavaNotFoundError) as info:
        check_java()
    msg = str(info.value)
    assert f"JAVA_HOME={empty} has no bin/java" in msg
    assert "Java 17 or newer is required" in msg
    assert "apt-get install openjdk-17-jre-headless" in msg and "brew install openjdk@17" in msg
    assert "adoptium.net" in msg
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, mli.errors.MLIError)

    monkeypatch.delenv("JAVA_HOME")
    with pytest.raises(JavaNotFoundError, match="no 'java' was found on PATH and JAVA_HOME is "
                                                "not set. Install it"):
        check_java()


def test_check_java_versions(monkeypatch, tmp_path):
    home8, _ = _fake_java(tmp_path / "j8", 'openjdk version "1.8.0_292"')
    monkeypatch.setenv("JAVA_HOME", home8)
    with pytest.raises(JavaNotFoundError, match=r"is Java 8\. Install it"):
        check_java()
    home11, _ = _fake_java(tmp_path / "j11", 'openjdk version "11.0.2" 2019-01-15')
    monkeypatch.setenv("JAVA_HOME", home11)
    with pytest.raises(JavaNotFoundError, match="is Java 11"):
        check_java()
    home17, java17 = _fake_java(tmp_path / "j17", 'openjdk version "17.0.9" 2023-10-17')
    monkeypatch.setenv("JAVA_HOME", home17)
    assert check_java() == java17
    # java found on PATH when JAVA_HOME is unset
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", os.path.dirname(java17))
    assert check_java() == java17


def test_starting_without_java_raises_java_not_found(tmp_path):
    # in a fresh interpreter (this one already runs Spark): no JVM is started at all
    empty = tmp_path / "jdk"
    empty.mkdir()
    script = textwrap.dedent("""
        import mli
        from mli.errors import JavaNotFoundError
        ctx = mli.MLContext("local[1]")
        try:
            ctx.spark
        except JavaNotFoundError as exc:
            print("JAVA-MISSING:", exc)
    """)
    env = dict(os.environ, JAVA_HOME=str(empty), PATH=os.path.dirname(sys.executable))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env, cwd=ROOT)
    assert "JAVA-MISSING:" in out.stdout, out.stdout + out.stderr
    assert "openjdk-17-jre-headless" in out.stdout


# ============================================================================ lifecycle


def test_context_is_lazy_and_validates_arguments():
    c = MLContext("local[3]", app_name="lazy", spark_executor_memory="1g",
                  **{"spark.sql.shuffle.partitions": 4})
    assert c._spark is None and "not started" in repr(c)
    assert c.master == "local[3]" and c.app_name == "lazy"
    assert c.spark_conf == {"spark.executor.memory": "1g", "spark.sql.shuffle.partitions": "4"}
    c.stop()  # stopping a context that never started is a no-op
    assert c._spark is None
    with pytest.raises(TypeError, match="master must be a Spark master URL"):
        MLContext(master=3)
    with pytest.raises(TypeError, match="master must be a Spark master URL"):
        MLContext(master="")
    with pytest.raises(TypeError, match="app_name must be a string"):
        MLContext(app_name=None)


def test_session_context(ctx):
    assert get_context() is ctx and get_context(ctx) is ctx
    assert ctx.sc.master == "local[2]" and ctx.default_parallelism == 2
    assert "running" in repr(ctx)
    assert ctx.sc.getConf().get("spark.executorEnv.OMP_NUM_THREADS") == "1"
    # workers talk to the JVM over a Unix socket (TCP: a delayed ACK per task's input)
    assert ctx.sc.getConf().get("spark.python.unix.domain.socket.enabled") == "true"
    assert ctx.run(ctx.sc.parallelize(range(10), 2).sum) == 45
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        ctx.run(ctx.sc.parallelize([1], 1).map(task_safe(lambda x: x / 0)).collect)
    b = ctx.broadcast(np.arange(3))
    assert ctx.sc.parallelize([0], 1).map(lambda _: int(b.value.sum())).collect() == [3]
    t = mli.MLTable.from_data([[1.0, 2.0], [3.0, 4.0]], ctx=ctx)
    assert t.ctx is ctx and t.num_rows == 2


def test_a_second_context_joins_the_running_spark_without_stopping_it(ctx):
    other = MLContext("local[1]", app_name="joiner")
    assert other.spark is ctx.spark  # Spark allows one SparkContext per process
    other.stop()
    assert other._spark is None
    assert ctx.sc._jsc is not None and ctx.sc.parallelize([1, 2], 2).count() == 2
    with other:  # as a context manager: default context inside, Spark untouched after
        assert get_context() is other
    assert ctx.sc.parallelize([1], 1).count() == 1
    assert get_context() is ctx  # the displaced default is current again


def test_context_manager_starts_and_stops_spark(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from pyspark import SparkContext
        import mli
        from mli.engine.context import _hang_up_python_workers, get_context

        c = mli.MLContext("local[1]", app_name="cm-test")
        assert c._spark is None and SparkContext._active_spark_context is None
        with c as entered:
            assert entered is c and get_context() is c
            assert c._spark is None  # still lazy
            t = mli.MLTable.from_numpy(np.arange(6.0).reshape(3, 2))  # the default context
            assert t.ctx is c and c.sc.master == "local[1]" and c.sc.appName == "cm-test"
            assert t.map(lambda r: r[0] + r[1]).collect() == [(1.0,), (5.0,), (9.0,)]
            # stop() stops the Python worker daemons just before Spark (no BrokenPipeError
            # tracebacks from idle workers at exit): here by hand, then stop() on leaving
            me = c.sc._jvm.java.lang.ProcessHandle.current()

            def daemons():
                return [p for p in me.children().toArray() if p.isAlive()
                        and p.info().arguments().isPresent()
                        and "pyspark.daemon" in list(p.info().arguments().get())]
            assert len(daemons()) == 1
            _hang_up_python_workers(c.sc)
            assert daemons() == []
        assert c._spark is None and SparkContext._active_spark_context is None
        c2 = get_context()  # a new default context after the first stopped
        assert c2 is not c and c2._spark is None
        print("CONTEXT-OK")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0 and "CONTEXT-OK" in out.stdout, out.stdout + out.stderr[-3000:]
    assert "BrokenPipeError" not in out.stderr, out.stderr[-3000:]


# ============================================================================ task errors


def _raise(exc):
    raise exc


class LocalError(Exception):
    pass


def test_task_safe_encodes_and_decode_restores():
    for exc, cls, text in [
        (ValueError("bad value 3"), ValueError, "bad value 3"),
        (KeyError("k"), KeyError, "'k'"),
        (ZeroDivisionError("division by zero"), ZeroDivisionError, "division by zero"),
        (BlockMissingError("gone"), BlockMissingError, "gone"),
        (ModelFormatError("corrupt"), ModelFormatError, "corrupt"),
        (LocalError("mine"), TaskError, "test_context.LocalError: mine"),
    ]:
        with pytest.raises(RuntimeError) as wrapped:
            task_safe(_raise)(exc)
        assert "@@MLI_TASK_ERROR@@" in str(wrapped.value)
        # what the driver sees: the marker inside a longer (JVM) message
        driver_side = RuntimeError("py4j ... Traceback ...\n" + str(wrapped.value) + "\n at ...")
        back = decode(driver_side)
        assert type(back) is cls and str(back).endswith(text)
        assert any("remote traceback" in n for n in back.__notes__)
        with pytest.raises(cls):
            reraise(driver_side)
    # generators: errors raised while iterating are encoded too
    gen = task_safe(lambda: (1 / 0 for _ in range(1)))()
    with pytest.raises(RuntimeError, match="MLI_TASK_ERROR"):
        list(gen)
    # an error without a marker is re-raised as is
    plain = OSError("disk")
    assert decode(plain) is None
    with pytest.raises(OSError, match="disk"):
        reraise(plain)
    # an already encoded error is not wrapped twice
    with pytest.raises(RuntimeError) as inner:
        task_safe(_raise)(ValueError("x"))
    with pytest.raises(RuntimeError) as outer:
        task_safe(_raise)(inner.value)
    assert str(outer.value) == str(inner.value)


def _freeze_count(_it):
    import gc

    yield gc.get_freeze_count()


def test_task_safe_freezes_what_a_worker_holds_and_not_the_drivers_objects(ctx):
    """In a worker, a task_safe task first freezes the objects alive (the full collection a
    reused worker runs after each task then skips them); on the driver nothing is frozen."""
    import gc

    before = gc.get_freeze_count()
    assert task_safe(lambda: 7)() == 7
    assert gc.get_freeze_count() == before
    # 4 tasks on 2 workers: at most one per worker is a full-collection task (every 100th)
    frozen = ctx.sc.parallelize(range(4), 4).mapPartitions(task_safe(_freeze_count)).collect()
    assert sorted(frozen)[-2] > 10_000  # the modules a worker has loaded (numpy, pyspark, mli)


def test_every_hundredth_task_unfreezes_for_a_full_collection(monkeypatch):
    import gc

    from mli import errors

    monkeypatch.setattr("pyspark.TaskContext.get", lambda: object())  # as in a task
    monkeypatch.setattr(errors, "_tasks_seen", 0)
    counts = []
    try:
        for _ in range(errors.FULL_COLLECTION_EVERY):
            errors._freeze_survivors()
            counts.append(gc.get_freeze_count())
    finally:
        gc.unfreeze()
    assert min(counts[:-1]) > 0 and counts[-1] == 0


def test_java_help_mentions_every_platform():
    text = JAVA_HELP.format(what="x")
    for needle in ("Java 17", "apt-get", "brew", "adoptium", "JAVA_HOME", "PATH"):
        assert needle in text


def test_local_scratch_dir_is_memory_backed_only_with_room(tmp_path, monkeypatch):
    from mli.engine import context as mctx

    assert mctx._memory_backed_dir(str(tmp_path / "missing")) is None
    monkeypatch.setattr(mctx, "SHM_MIN_FREE", 1)
    assert mctx._memory_backed_dir(str(tmp_path)) == str(tmp_path / "mli")
    monkeypatch.setattr(mctx, "SHM_MIN_FREE", 1 << 62)  # more than any disk has free
    assert mctx._memory_backed_dir(str(tmp_path)) is None


def test_scratch_dirs_of_killed_applications_are_removed_live_ones_kept(tmp_path):
    import subprocess
    import sys

    from mli.engine import context as mctx

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_start = mctx._process_start(dead.pid) or "1"
    dead.wait()
    parent = os.getppid()  # alive, and not this process
    live = tmp_path / f"app-{parent}-{mctx._process_start(parent)}"
    reused = tmp_path / f"app-{parent}-1"  # same pid, another start time: pid reused
    gone = tmp_path / f"app-{dead.pid}-{dead_start}"
    other = tmp_path / "not-an-app"
    for d in (live, reused, gone, other):
        (d / "blockmgr-x").mkdir(parents=True)
    mine = mctx._app_scratch_dir(str(tmp_path))
    assert mine == str(tmp_path / f"app-{os.getpid()}-{mctx._process_start(os.getpid())}")
    assert live.exists() and other.exists() and os.path.isdir(mine)
    assert not gone.exists() and not reused.exists()


def test_session_scratch_dir(ctx):
    from mli.engine import context as mctx

    expected = mctx._memory_backed_dir()
    got = ctx.sc.getConf().get("spark.local.dir", None)
    if "SPARK_LOCAL_DIRS" in os.environ or expected is None:
        assert got is None or not got.startswith("/dev/shm/mli")
    else:
        assert got == os.path.join(expected, f"app-{os.getpid()}-"
                                             f"{mctx._process_start(os.getpid())}")


@pytest.mark.parametrize("local_dirs", [False, True])
def test_stop_removes_the_application_scratch_and_checkpoint_dirs(local_dirs, tmp_path):
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("SPARK_LOCAL_DIRS", None)
    if local_dirs:  # the user's scratch place: no mli scratch dir, a temporary checkpoint dir
        env["SPARK_LOCAL_DIRS"] = str(tmp_path)

    code = ("import os, mli\n"
            "c = mli.MLContext('local[1]')\n"
            "c.spark.range(3).count()\n"
            "d, k = c._scratch, c.sc.getCheckpointDir().removeprefix('file:')\n"
            "print(d, d is not None and os.path.isdir(d), k, os.path.isdir(k))\n"
            "c.stop()\n"
            "print(d is not None and os.path.exists(d), os.path.exists(k))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    scratch, scratch_made, _ckpt, ckpt_made, scratch_left, ckpt_left = out.stdout.split()
    # a checkpoint directory in every case (pyspark.ml's ALS needs one), removed at stop
    assert ckpt_made == "True" and ckpt_left == "False"
    if local_dirs:
        assert scratch == "None"
        return
    if scratch == "None":
        pytest.skip("no memory-backed scratch space here (/dev/shm missing or full)")
    assert scratch_made == "True" and scratch_left == "False"
