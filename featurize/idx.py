"""The IDX file format (MNIST, Fashion-MNIST, EMNIST): read and write, gzip or plain.

Layout (all big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       the dimensions, as uint32
    ...         the elements, row-major

Gzip compression is recognized by the file's first bytes (``1f 8b``), not its name.
"""
from __future__ import annotations

import gzip
import io
import os
import struct

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_TYPES"]

#: IDX type code -> big-endian numpy dtype
IDX_TYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}


def _read_bytes(path) -> bytes:
    if hasattr(path, "read"):
        raw = path.read()
        name = getattr(path, "name", "<stream>")
    else:
        name = os.fspath(path)
        with open(name, "rb") as f:
            raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{name}: corrupt gzip data ({exc})") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a numpy array of its native shape.

    Parameters
    ----------
    path : str, path-like or binary file object

    Returns
    -------
    ndarray
        Native byte order; uint8 for MNIST images ``(n, 28, 28)`` and labels ``(n,)``.

    Raises
    ------
    ValueError
        Bad magic number, unknown element type, or a file shorter/longer than its header says.

    Examples
    --------
    >>> from mli.featurize.idx import read_idx                        # doctest: +SKIP
    >>> read_idx("t10k-images-idx3-ubyte.gz").shape
    (10000, 28, 28)
    """
    name = getattr(path, "name", "<stream>") if hasattr(path, "read") else os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{name}: not an IDX file (bad magic number "
                         f"{raw[:4].hex() or 'empty'}; expected 0000<type><ndim>)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX element type 0x{code:02x} (known: "
                         f"{', '.join(f'0x{c:02x}' for c in IDX_TYPES)})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(raw) - header
    if got != expected:
        raise ValueError(f"{name}: IDX header says shape {tuple(shape)} ({expected} bytes of "
                         f"{dtype.newbyteorder('=')}) but the file has {got} bytes of data")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path, array, *, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip when ``compress`` (default: name ends in .gz)."""
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=")
    if key not in _CODES:
        raise ValueError(f"IDX cannot store dtype {a.dtype} (supported: uint8, int8, int16, "
                         "int32, float32, float64)")
    code = _CODES[key]
    buf = io.BytesIO()
    buf.write(bytes([0, 0, code, a.ndim]))
    buf.write(struct.pack(f">{a.ndim}I", *a.shape))
    buf.write(np.ascontiguousarray(a, dtype=IDX_TYPES[code]).tobytes())
    data = buf.getvalue()
    path = os.fspath(path)
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        data = gzip.compress(data, compresslevel=6)
    with open(path, "wb") as f:
        f.write(data)
