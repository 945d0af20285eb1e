"""Recycled block memory: the files of released driver-written blocks, rewritten by the next.

In local mode the driver writes a table's blocks into RAM-backed files (``/dev/shm``, see
:meth:`mli.engine.blocks.BlockRDD.from_bundles`). Deleting them hands their pages back to the
kernel, and the next table's blocks are then written into fresh pages: every fresh page is a
page fault, and on a virtual machine whose host takes back free guest memory (a balloon,
free page reporting) a fault into the host as well: writing into fresh files is several
times slower than rewriting files already held (measured in docs/architecture.md, "From a
file to a fitted model"). So, as the JVM keeps its heap once it has it, the driver keeps the large
array files of released stores (at most :data:`POOL_BYTES`, for at most
:data:`POOL_SECONDS`) and writes the next blocks into them.

Safety: readers find a block through its directory's ``tree.json``
(:func:`mli.engine.blocks.open_block`), which :func:`release` removes before it moves any array file
away, so a released block reads as missing, never as another block's data. A store's files
are released only when the store object is garbage-collected: no pass can still be running
over it.

Set ``mli.engine.pagepool.POOL_BYTES = 0`` to delete released files at once (the behaviour of a
plain ``rm``); :func:`clear` empties the pool (the context does so when Spark stops).
"""
from __future__ import annotations

import os
import shutil
import threading
import time
import uuid

import numpy as np

__all__ = ["POOL_BYTES", "POOL_SECONDS", "MIN_BYTES", "write_array", "release", "clear",
           "pooled_bytes"]

#: bytes of released block files the driver keeps for reuse (0: delete them at once)
POOL_BYTES = 1 << 30
#: a pooled file not reused within this many seconds is deleted (at the next pool operation)
POOL_SECONDS = 120.0
#: smaller array files are deleted, not pooled
MIN_BYTES = 1 << 20

_lock = threading.RLock()
_files: list = []  # [(size, path, time released)]


def pooled_bytes() -> int:
    """Bytes of released files held for reuse now."""
    with _lock:
        return sum(size for size, _p, _t in _files)


def write_array(path: str, a: np.ndarray) -> None:
    """Write ``a`` as a ``.npy`` file at ``path``: into the pages of a pooled file (the
    smallest that holds it, moved to ``path``) when there is one, else into a new file."""
    a = np.ascontiguousarray(a)
    if a.dtype.hasobject:
        raise ValueError(f"cannot write an object array to {path}: block files hold numeric "
                         "arrays only (allow_pickle=False)")
    entry = _take(a.nbytes, path)
    try:
        # unbuffered: numpy writes the data of a raw file in one call (a buffered r+b file
        # would get it in copied chunks)
        with open(path, "r+b" if entry else "wb", buffering=0) as f:
            np.lib.format.write_array(f, a, allow_pickle=False)
            f.truncate()
    except BaseException:
        if entry:  # the pooled file goes back, not lost at the failed target
            _put_back(entry, path)
        raise


def _take(nbytes: int, path: str):
    """The pool entry of the smallest file that holds ``nbytes``, moved to ``path``; None
    when there is none."""
    with _lock:
        _expire()
        fits = [entry for entry in _files if entry[0] >= nbytes]
        if not fits:
            return None
        entry = min(fits)
        _files.remove(entry)
    try:
        os.rename(entry[1], path)  # the same file system: the pool sits beside the stores
    except OSError:  # no such target directory, or the pooled file is gone: keep it pooled
        if os.path.exists(entry[1]):
            with _lock:
                _files.append(entry)
        return None
    return entry


def _put_back(entry, path: str) -> None:
    try:
        os.rename(path, entry[1])
    except OSError:
        return
    with _lock:
        _files.append(entry)


def release(directory: str) -> None:
    """Remove a store's ``directory``, keeping its large array files for reuse (up to
    :data:`POOL_BYTES`; the rest is deleted)."""
    pool = os.path.join(os.path.dirname(directory), "pool")
    arrays = []
    for base, _dirs, names in os.walk(directory):
        if "tree.json" in names:  # first: the block reads as missing from now on
            _unlink(os.path.join(base, "tree.json"))
        arrays += [os.path.join(base, n) for n in names if n.endswith(".npy")]
    cap = min(POOL_BYTES, _free_bytes(directory) // 4) if arrays else 0
    with _lock:
        _expire()
        held = sum(size for size, _p, _t in _files)
        for src in arrays:
            try:
                size = os.path.getsize(src)
            except OSError:
                continue
            if size < MIN_BYTES or held + size > cap:
                continue
            dst = os.path.join(pool, uuid.uuid4().hex)
            try:
                os.makedirs(pool, exist_ok=True)
                os.rename(src, dst)
            except OSError:
                continue
            _files.append((size, dst, time.monotonic()))
            held += size
    shutil.rmtree(directory, ignore_errors=True)


def clear() -> None:
    """Delete every pooled file."""
    with _lock:
        entries, _files[:] = list(_files), []
    for _size, path, _t in entries:
        _unlink(path)


def _expire() -> None:
    now = time.monotonic()
    for entry in [e for e in _files if now - e[2] > POOL_SECONDS]:
        _files.remove(entry)
        _unlink(entry[1])


def _free_bytes(path: str) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
