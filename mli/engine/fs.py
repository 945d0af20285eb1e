"""Minimal file-system access for model persistence: local paths and Hadoop file systems.

Local paths and ``file://`` URIs are handled with the :mod:`os` module. Any other scheme
(``hdfs://``, ``s3a://``, ``abfss://``, ``gs://`` ...) goes through Hadoop's ``FileSystem``
in the JVM of the active Spark session (via py4j), so whatever the cluster's Hadoop
configuration can reach, models can be saved to and loaded from.

The backend can be forced with the ``backend`` argument of every function, or for the
whole process with the environment variable ``MLI_FS_BACKEND`` (``"auto"``, ``"local"``
or ``"hadoop"``); forcing ``"hadoop"`` on a local or ``file://`` path exercises the JVM
code path on the local disk (used by the tests).

Examples
--------
>>> import mli.engine.fs as fs, tempfile, os
>>> d = os.path.join(tempfile.mkdtemp(), "model")
>>> fs.makedirs(d)
>>> fs.write_bytes(fs.join(d, "a.bin"), b"hello")
>>> fs.read_bytes(fs.join(d, "a.bin"))
b'hello'
>>> fs.listdir(d)
['a.bin']
>>> fs.remove_tree(d); fs.exists(d)
False
"""
from __future__ import annotations

import logging
import os
import shutil
from urllib.parse import urlparse
from urllib.request import url2pathname
from mli.engine.context import get_context

__all__ = ["exists", "isdir", "makedirs", "write_bytes", "read_bytes", "listdir",
           "remove_tree", "rename", "join", "is_local", "backend_for"]

log = logging.getLogger(__name__)

#: bytes per py4j call when streaming to/from the JVM
CHUNK = 8 << 20

_BACKENDS = ("auto", "local", "hadoop")


def _check_path(path) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not path:
        raise ValueError("path must not be empty")
    return path


def _scheme(path: str) -> str:
    parsed = urlparse(path)
    scheme = parsed.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, "C:\\..."
        return ""
    return scheme


def is_local(path: str) -> bool:
    """True for plain paths and ``file:`` URIs."""
    return _scheme(_check_path(path)) in ("", "file")


def backend_for(path: str, backend: str | None = None) -> str:
    """``"local"`` or ``"hadoop"``: the backend that serves ``path``.

    ``backend`` (or, when it is None, the environment variable ``MLI_FS_BACKEND``) may
    force one; a non-local scheme always uses Hadoop.
    """
    path = _check_path(path)
    choice = backend if backend is not None else os.environ.get("MLI_FS_BACKEND", "auto")
    choice = (choice or "auto").lower()
    if choice not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {choice!r}")
    if not is_local(path):
        if choice == "local":
            raise ValueError(f"the local backend cannot serve {path!r} (scheme "
                             f"{_scheme(path)!r}); use backend='hadoop' or 'auto'")
        return "hadoop"
    return "hadoop" if choice == "hadoop" else "local"


def _local_path(path: str) -> str:
    if _scheme(path) == "file":
        parsed = urlparse(path)
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file URI {path!r} names host {parsed.netloc!r}; only local "
                             "file URIs (file:///path) are supported")
        return url2pathname(parsed.path)
    return os.path.expanduser(path)


def join(base: str, *names: str) -> str:
    """Join path components; URIs are joined with ``/``."""
    base = _check_path(base)
    if _scheme(base):
        out = base
        for n in names:
            out = out.rstrip("/") + "/" + n
        return out
    return os.path.join(base, *names)


# ----------------------------------------------------------------------------- Hadoop


def _hadoop(path: str):
    """(jvm, FileSystem, Path) for ``path`` from the active Spark session."""
    sc = get_context().sc
    jvm = sc._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    jfs = jpath.getFileSystem(sc._jsc.hadoopConfiguration())
    return jvm, jfs, jpath


def _java_error(exc: Exception, path: str, op: str) -> Exception:
    text = str(exc)
    java = getattr(exc, "java_exception", None)
    name = ""
    if java is not None:
        try:
            name = str(java.getClass().getName())
            text = str(java.getMessage())
        except Exception:  # noqa: BLE001
            pass
    if "FileNotFoundException" in name or "FileNotFoundException" in text[:200]:
        return FileNotFoundError(f"{op}: no such file or directory: {path}")
    if "FileAlreadyExistsException" in name:
        return FileExistsError(f"{op}: already exists: {path}")
    if "ChecksumException" in name:
        return OSError(f"{op}: Hadoop checksum error (the file was modified or corrupted): "
                       f"{path} ({text})")
    if "AccessControlException" in name:
        return PermissionError(f"{op}: permission denied: {path} ({text})")
    return OSError(f"{op} failed for {path}: {name or type(exc).__name__}: {text}")


def _jcall(path: str, op: str, fn):
    try:
        return fn()
    except (OSError, ValueError, TypeError):
        raise
    except Exception as exc:  # noqa: BLE001 - py4j errors
        raise _java_error(exc, path, op) from None


# ----------------------------------------------------------------------------- API


def exists(path: str, *, backend: str | None = None) -> bool:
    """Whether ``path`` exists (file or directory)."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        return os.path.exists(_local_path(path))
    _, jfs, jpath = _hadoop(path)
    return bool(_jcall(path, "exists", lambda: jfs.exists(jpath)))


def isdir(path: str, *, backend: str | None = None) -> bool:
    """Whether ``path`` is an existing directory."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        return os.path.isdir(_local_path(path))
    _, jfs, jpath = _hadoop(path)

    def run():
        return bool(jfs.exists(jpath)) and bool(jfs.getFileStatus(jpath).isDirectory())

    return bool(_jcall(path, "isdir", run))


def makedirs(path: str, *, backend: str | None = None) -> None:
    """Create directory ``path`` and its parents (no error if it exists)."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        os.makedirs(_local_path(path), exist_ok=True)
        return
    _, jfs, jpath = _hadoop(path)
    ok = _jcall(path, "makedirs", lambda: jfs.mkdirs(jpath))
    if not ok:
        raise OSError(f"makedirs failed for {path}")


def write_bytes(path: str, data: bytes, *, backend: str | None = None) -> None:
    """Write ``data`` to file ``path``, replacing it."""
    path = _check_path(path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if backend_for(path, backend) == "local":
        with open(_local_path(path), "wb") as f:
            f.write(data)
        return
    _, jfs, jpath = _hadoop(path)

    def run():
        out = jfs.create(jpath, True)
        try:
            for start in range(0, len(data), CHUNK):
                out.write(bytearray(data[start:start + CHUNK]))
        finally:
            out.close()

    _jcall(path, "write", run)


def read_bytes(path: str, *, backend: str | None = None) -> bytes:
    """Read file ``path`` whole. Raises :class:`FileNotFoundError` if it does not exist."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        with open(_local_path(path), "rb") as f:
            return f.read()
    _, jfs, jpath = _hadoop(path)

    def run():
        if not jfs.exists(jpath):
            raise FileNotFoundError(f"read: no such file or directory: {path}")
        stream = jfs.open(jpath)
        try:
            parts = []
            while True:
                chunk = stream.readNBytes(CHUNK)
                if not chunk:
                    break
                parts.append(bytes(chunk))
                if len(chunk) < CHUNK:
                    break
            return b"".join(parts)
        finally:
            stream.close()

    return _jcall(path, "read", run)


def listdir(path: str, *, backend: str | None = None) -> list[str]:
    """Names of the entries of directory ``path``, sorted."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        return sorted(os.listdir(_local_path(path)))
    _, jfs, jpath = _hadoop(path)

    def run():
        if not jfs.exists(jpath):
            raise FileNotFoundError(f"listdir: no such file or directory: {path}")
        return sorted(str(s.getPath().getName()) for s in jfs.listStatus(jpath))

    return _jcall(path, "listdir", run)


def remove_tree(path: str, *, backend: str | None = None) -> None:
    """Delete file or directory ``path`` recursively (no error if it does not exist)."""
    path = _check_path(path)
    if backend_for(path, backend) == "local":
        local = _local_path(path)
        if os.path.isdir(local) and not os.path.islink(local):
            shutil.rmtree(local)
        elif os.path.lexists(local):
            os.remove(local)
        return
    _, jfs, jpath = _hadoop(path)
    _jcall(path, "remove", lambda: jfs.delete(jpath, True))


def rename(src: str, dst: str, *, backend: str | None = None) -> None:
    """Rename ``src`` to ``dst`` (``dst`` must not exist)."""
    src, dst = _check_path(src), _check_path(dst)
    kind = backend_for(src, backend)
    if backend_for(dst, backend) != kind:
        raise ValueError(f"cannot rename across file systems: {src!r} -> {dst!r}")
    if kind == "local":
        local_dst = _local_path(dst)
        if os.path.exists(local_dst):
            raise FileExistsError(f"rename: already exists: {dst}")
        os.rename(_local_path(src), local_dst)
        return
    jvm, jfs, jsrc = _hadoop(src)
    jdst = jvm.org.apache.hadoop.fs.Path(dst)

    def run():
        if jfs.exists(jdst):
            raise FileExistsError(f"rename: already exists: {dst}")
        if not jfs.rename(jsrc, jdst):
            raise OSError(f"rename failed: {src} -> {dst}")

    _jcall(src, "rename", run)
