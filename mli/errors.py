"""Errors, and the transport of exceptions raised inside Spark tasks back to the driver.

An exception raised by mli code (or by a user function) inside a Spark task would reach
the driver as a ``PythonException`` / ``Py4JJavaError`` wrapping a JVM stack trace. Every
function mli runs in a task is wrapped by :func:`task_safe`, which encodes the original
exception's type and message as a one-line JSON marker; :func:`reraise` finds the marker in
the driver-side error and raises the original type (built-in exceptions and mli's own
error classes only; anything else becomes :class:`TaskError`) with the original message.
No pickle is involved: the marker is plain JSON.
"""
from __future__ import annotations

import builtins
import functools
import gc
import json
import re
import traceback

__all__ = ["ConvergenceWarning", "warn_not_converged", 
    "MLIError",
    "JavaNotFoundError",
    "TaskError",
    "BlockMissingError",
    "ModelFormatError",
    "ConnectUnsupportedError",
    "task_safe",
    "reraise",
]

_MARK = "@@MLI_TASK_ERROR@@"
_MARK_RE = re.compile(re.escape(_MARK) + r"(\{.*?\})" + re.escape(_MARK))


class MLIError(Exception):
    """Base class of mli's own exceptions."""


class JavaNotFoundError(MLIError, RuntimeError):
    """Java (17+) is missing; Spark cannot start."""


class TaskError(MLIError, RuntimeError):
    """An exception of a type that cannot be re-created on the driver was raised in a task."""


class BlockMissingError(MLIError, RuntimeError):
    """A resident block file was not found on the node running the task (recomputed)."""


class ModelFormatError(MLIError, ValueError):
    """A saved model directory is missing, corrupt or was tampered with."""


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped on its iteration limit before its tolerance was met (the
    model is returned, with ``converged_`` False)."""


def warn_not_converged(owner: str, n_iter: int, max_iter: int, detail: str = "") -> None:
    """Warn (:class:`ConvergenceWarning`) that ``owner`` stopped after ``n_iter`` of
    ``max_iter`` iterations without meeting its tolerance (``detail``: why it stopped)."""
    import sys
    import warnings

    # point at the user's line: the first frame outside mli (algorithms included)
    level, frame = 1, sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] == "mli":
        level, frame = level + 1, frame.f_back
    warnings.warn(f"{owner} did not converge: it stopped after {n_iter} of max_iter={max_iter} "
                  f"iterations without meeting its tolerance{f' ({detail})' if detail else ''}; "
                  "the model may be poor. Raise max_iter or tol, or regularize more "
                  "(converged_ is False)", ConvergenceWarning, stacklevel=level + 1)


class ConnectUnsupportedError(MLIError, NotImplementedError):
    """An operation needs a classic Spark session (a ``SparkContext``, RDDs), which a Spark
    Connect session does not offer; the message names what to use instead."""


_MLI_TYPES = {c.__name__: c for c in (MLIError, JavaNotFoundError, TaskError,
                                       BlockMissingError, ModelFormatError,
                                       ConnectUnsupportedError)}


def encode_exception(exc: BaseException) -> str:
    payload = {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        # KeyError's str() adds quotes around its argument; keep the argument itself
        "message": (exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1
                    and isinstance(exc.args[0], str) else str(exc)),
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
    return _MARK + json.dumps(payload) + _MARK


def task_safe(fn):
    """Wrap a function run inside a Spark task so its exceptions survive the trip to the driver."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _freeze_survivors()
        try:
            result = fn(*args, **kwargs)
            # generators: exceptions raised while iterating must be encoded too
            if hasattr(result, "__next__"):
                return _safe_iter(result)
            return result
        except Exception as exc:  # noqa: BLE001 - re-raised, encoded
            if _MARK in str(exc):
                raise
            raise RuntimeError(encode_exception(exc)) from None

    return wrapper


#: every this many tasks a worker skips the freeze: that task's collection is a full one
FULL_COLLECTION_EVERY = 100
_tasks_seen = 0


def _freeze_survivors() -> None:
    """In a Python worker: exempt what the process already holds from future full garbage
    collections (``gc.freeze``).

    A reused PySpark worker runs ``gc.collect()`` after every task, and the next task on
    that worker waits for it. With numpy, scipy, numba and mli loaded a worker tracks about
    180,000 objects, and a full collection of them is slow enough to show in every pass
    (measured in docs/architecture.md, "Threads and workers"). What is alive when
    a task starts has survived the collection after the previous task: modules, compiled
    kernels, cached blocks. Frozen, they are skipped, and the collection after a task
    scans that task's own objects (microseconds). Frozen objects are still freed by
    reference counting; a reference cycle among them (e.g. functions shipped by value with
    their globals) is reclaimed every :data:`FULL_COLLECTION_EVERY` tasks, when the
    worker unfreezes and its next collection is a full one. On the driver (no task
    context) nothing happens."""
    global _tasks_seen
    from pyspark import TaskContext

    if TaskContext.get() is None:
        return
    _tasks_seen += 1
    if _tasks_seen % FULL_COLLECTION_EVERY == 0:
        gc.unfreeze()
    else:
        gc.freeze()


def _safe_iter(it):
    try:
        yield from it
    except Exception as exc:  # noqa: BLE001
        if _MARK in str(exc):
            raise
        raise RuntimeError(encode_exception(exc)) from None


def decode(exc: BaseException) -> BaseException | None:
    """Return the original exception encoded in a driver-side Spark error, or None."""
    text = str(exc)
    # Py4JJavaError's str() may not include the Python trace; look at the java side too
    java_exc = getattr(exc, "java_exception", None)
    if java_exc is not None and _MARK not in text:
        try:
            text += str(java_exc.toString())
        except Exception:  # noqa: BLE001
            pass
    m = _MARK_RE.search(text)
    if not m:
        return None
    try:
        payload = json.loads(m.group(1))
    except ValueError:
        return None
    name, module, message = payload.get("type"), payload.get("module"), payload.get("message", "")
    cls = None
    if module == "builtins":
        cand = getattr(builtins, str(name), None)
        if isinstance(cand, type) and issubclass(cand, Exception):
            cls = cand
    elif str(module).startswith("mli") and name in _MLI_TYPES:
        cls = _MLI_TYPES[name]
    if cls is None:
        cls = TaskError
        message = f"{module}.{name}: {message}"
    try:
        new = cls(message)
    except Exception:  # noqa: BLE001 - exotic constructor signature
        new = TaskError(f"{module}.{name}: {message}")
    if hasattr(new, "add_note"):
        new.add_note("raised inside a Spark task; remote traceback:\n" + payload.get("traceback", ""))
    return new


def reraise(exc: BaseException):
    """Raise the original task exception hidden in ``exc`` if there is one, else ``exc``."""
    original = decode(exc)
    if original is not None:
        raise original from None
    raise exc
