"""TCP messaging for gang runs: a rendezvous hosted by the gang's leader and an all-reduce
through it.

A gang run (:mod:`mli.engine.gang`) is one barrier stage whose tasks run the same program and
combine every pass's per-block results. This module is the network part, the same on
``local[*]`` (loopback) and on a multi-host cluster:

* **Rendezvous.** The leader (task 0) listens on its executor's address, on a port every
  task derives from the run's secret (:mod:`mli.engine.gang`); the driver listens on an address
  the executors reach (the one Spark's executors use for the driver; ``127.0.0.1`` in local
  mode). Every connection proves that both ends belong to the run (a challenge and response
  over a random secret that travels in the task closure, before anything is unpickled; the
  secret itself never crosses the network). Each task tells the leader whether it reached
  the driver and which blocks it can read where it runs; the leader answers with the
  blocks each task owns.
* **All-reduce.** Each task sends its blocks' results to the leader (task 0), which puts
  all of them in block order, combines them with the same pairwise tree as a Spark pass
  (:func:`tree_reduce`) and sends the combined value back to every task: a star, ``2 d``
  bytes per task and pass for a result of ``d`` bytes, ``2 (P - 1) d`` at the leader.
  Every task therefore holds bit-identical values whatever the number of tasks, and the
  program's state stays identical in all of them.

Messages are pickles (protocol 5) between processes of one application, with the arrays in
them as out-of-band frames (no copy into or out of the pickle), each frame length-prefixed;
a connection that fails the challenge is closed unread. No MPI, no
library beyond the standard one.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import socket
import struct
from typing import Any, Callable

__all__ = ["Channel", "Listener", "connect", "encode", "tree_reduce", "TIMEOUT",
           "SECRET_BYTES", "PeerLost"]

#: seconds a socket waits for a message before the run fails (a pass can take long)
TIMEOUT = 3600.0

#: length of the per-run secret a connection must start with
SECRET_BYTES = 32

_COUNT = struct.Struct("!Q")


def encode(obj: Any) -> list:
    """A message as frames: its pickle (protocol 5) and the raw memory of the contiguous
    arrays in it (out-of-band buffers, sent without being copied into the pickle)."""
    buffers: list = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return [data, *(b.raw() for b in buffers)]


class PeerLost(ConnectionError):
    """The other end of a gang connection went away (its task failed or was killed)."""


def tree_reduce(values: list, combine: Callable):
    """Deterministic pairwise tree reduction: the same shape for the same number of values."""
    values = list(values)
    if not values:
        return None
    while len(values) > 1:
        nxt = [combine(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


class Channel:
    """One connected socket carrying length-prefixed pickled messages."""

    def __init__(self, sock: socket.socket, peer: str = "peer"):
        sock.settimeout(TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.peer = sock, peer
        self.sent = self.received = 0  #: payload bytes, for the run's counters

    def send(self, obj: Any) -> None:
        self.send_frames(encode(obj))

    def send_frames(self, frames: list) -> None:
        """Send a message :func:`encode` made (it may go to several channels)."""
        sizes = [memoryview(f).nbytes for f in frames]
        head = _COUNT.pack(len(frames)) + struct.pack(f"!{len(frames)}Q", *sizes)
        try:
            if sum(sizes) < 65536:  # one write for small messages (latency)
                self.sock.sendall(b"".join([head, *frames]))
            else:  # large ones straight from the arrays' memory, no copy
                self.sock.sendall(head)
                for f in frames:
                    self.sock.sendall(f)
        except OSError as exc:
            raise PeerLost(f"lost the connection to {self.peer} ({exc})") from None
        self.sent += sum(sizes)

    def recv(self) -> Any:
        (count,) = _COUNT.unpack(self._read(_COUNT.size))
        sizes = struct.unpack(f"!{count}Q", self._read(8 * count))
        frames = [self._read(n) for n in sizes]
        self.received += sum(sizes)
        # out-of-band buffers: arrays are built on the received memory (writable, no copy)
        return pickle.loads(frames[0], buffers=frames[1:])

    def _read(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        try:
            while got < n:
                k = self.sock.recv_into(view[got:], n - got)
                if k == 0:
                    raise PeerLost(f"{self.peer} closed the connection")
                got += k
        except socket.timeout:
            raise TimeoutError(f"no message from {self.peer} after {TIMEOUT:g} s") from None
        except OSError as exc:
            if isinstance(exc, PeerLost):
                raise
            raise PeerLost(f"lost the connection to {self.peer} ({exc})") from None
        return buf

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _proof(secret: bytes, side: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, side + nonce, hashlib.sha256).digest()


_NONCE = 16
_PROOF = 32


class Listener:
    """A listening socket on ``host`` (``port``, or one chosen by the OS) that accepts only
    connections that prove they know ``secret``."""

    def __init__(self, host: str, secret: bytes, backlog: int = 128, port: int = 0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.bind((host, port))
            self.sock.listen(backlog)
        except OSError:
            self.sock.close()
            raise
        self.host, self.port = host, self.sock.getsockname()[1]
        self.secret = secret

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def accept(self, timeout: float | None = None) -> Channel | None:
        """The next authenticated connection; ``None`` when ``timeout`` passes first.
        Connections that fail the challenge are closed and skipped."""
        self.sock.settimeout(timeout)
        while True:
            try:
                conn, addr = self.sock.accept()
            except socket.timeout:
                return None
            conn.settimeout(10.0)
            nonce = os.urandom(_NONCE)
            try:
                conn.sendall(nonce)
                got = _read_exact(conn, _PROOF)
                ok = hmac.compare_digest(got, _proof(self.secret, b"task", nonce))
                if ok:
                    conn.sendall(_proof(self.secret, b"host", nonce))
            except OSError:
                ok = False
            if ok:
                return Channel(conn, peer=f"{addr[0]}:{addr[1]}")
            conn.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _read_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def connect(address: tuple[str, int], secret: bytes, what: str,
            timeout: float = 60.0) -> Channel:
    """Open an authenticated channel to ``address`` (a :class:`Listener` of the same
    secret; anything else is a ``ConnectionError``)."""
    try:
        sock = socket.create_connection(tuple(address), timeout=timeout)
    except OSError as exc:
        raise ConnectionError(
            f"cannot reach the {what} at {address[0]}:{address[1]} ({exc}); on a cluster "
            "the executors must reach the driver (spark.driver.host) and each other") from None
    try:
        sock.settimeout(min(timeout, 10.0))
        nonce = _read_exact(sock, _NONCE)
        sock.sendall(_proof(secret, b"task", nonce))
        ok = len(nonce) == _NONCE and hmac.compare_digest(
            _read_exact(sock, _PROOF), _proof(secret, b"host", nonce))
    except OSError:
        ok = False
    if not ok:
        sock.close()
        raise ConnectionError(f"the {what} at {address[0]}:{address[1]} is not this gang "
                              "run's (it failed the challenge)")
    return Channel(sock, peer=what)
