"""mli.engine.collective (the gang's TCP messaging) and the gang's block assignment, without Spark;
and a gang run that finds blocks missing rebuilds them (with Spark)."""
from __future__ import annotations

import shutil
import socket
import sys
import threading
import time

import numpy as np
import pytest
from pyspark import cloudpickle

from mli.engine import collective
from mli.engine.blocks import BlockRDD
from mli.engine.collective import Listener, PeerLost, connect, tree_reduce
import mli.engine.gang as gang
from mli.engine.gang import _assign

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests

SECRET = b"s" * collective.SECRET_BYTES


def test_tree_reduce_is_the_pairwise_tree():
    assert tree_reduce([], lambda a, b: a + b) is None
    assert tree_reduce(["a"], lambda a, b: a + b) == "a"
    # ((a b) (c d)) e: the shape depends only on the count
    assert tree_reduce(list("abcde"), lambda a, b: f"({a}{b})") == "(((ab)(cd))e)"


def _pair():
    lst = Listener("127.0.0.1", SECRET)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("ch", lst.accept(timeout=10)))
    t.start()
    client = connect(lst.address, SECRET, "test listener")
    t.join()
    return lst, client, box["ch"]


_BIG = np.arange(1_000_000, dtype=np.float64)


@pytest.mark.parametrize("payload", [
    {"small": 1},
    _BIG,  # above the one-write threshold: sent from the array's memory
    [(3, np.ones((4, 2))), None, "text"],
    # arrays travel out of band (C and Fortran order) or in the pickle (not contiguous)
    {"c": _BIG.reshape(1000, 1000), "f": np.asfortranarray(_BIG.reshape(1000, 1000)),
     "strided": _BIG.reshape(1000, 1000)[::3, ::2], "ints": np.arange(7, dtype=np.int32),
     "empty": np.zeros((0, 5)), "bytes": b"\x00" * 100_000},
])
def test_channel_round_trip(payload):
    lst, client, server = _pair()
    try:
        sender = threading.Thread(target=client.send, args=(payload,))
        sender.start()  # a large message fills the socket's buffers: read while it is sent
        got = server.recv()
        sender.join()
        if isinstance(payload, np.ndarray):
            assert np.array_equal(got, payload)
        elif isinstance(payload, list):
            assert got[0][0] == 3 and np.array_equal(got[0][1], payload[0][1])
            assert got[1:] == payload[1:]
        elif "c" in payload:
            assert got.keys() == payload.keys()
            for k, v in payload.items():
                if isinstance(v, np.ndarray):
                    assert got[k].dtype == v.dtype and got[k].shape == v.shape
                    assert np.array_equal(got[k], v), k
                    assert got[k].flags.writeable  # built on the received memory
                else:
                    assert got[k] == v
            assert got["f"].flags.f_contiguous
        else:
            assert got == payload
        assert client.sent == server.received > 0
    finally:
        client.close(), server.close(), lst.close()


def test_one_encoding_sent_to_several_channels():
    """The leader encodes a result once and sends the same frames to every peer."""
    pairs = [_pair() for _ in range(3)]
    value = {"x": np.linspace(0, 1, 300_000), "n": 3}
    frames = collective.encode(value)
    assert len(frames) == 2  # the pickle and the array's memory
    try:
        for _lst, client, server in pairs:
            sender = threading.Thread(target=client.send_frames, args=(frames,))
            sender.start()
            got = server.recv()
            sender.join()
            assert got["n"] == 3 and np.array_equal(got["x"], value["x"])
    finally:
        for lst, client, server in pairs:
            client.close(), server.close(), lst.close()


def test_wrong_secret_is_closed_unread():
    lst = Listener("127.0.0.1", SECRET)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("ch", lst.accept(timeout=2)))
    t.start()
    with socket.create_connection(lst.address) as s:
        s.settimeout(5)
        nonce = s.recv(64)
        assert len(nonce) == 16
        s.sendall(b"x" * 32 + b"anything after is never unpickled")
        t.join()
        assert box["ch"] is None  # refused; accept timed out waiting for a good one
        try:  # closed by the listener (a reset, as bytes were left unread)
            assert s.recv(10) == b""
        except ConnectionResetError:
            pass
    lst.close()


def test_a_listener_of_another_secret_or_no_listener_at_all_is_refused():
    """The challenge goes both ways: a task does not talk to a listener that cannot prove
    it knows the run's secret (another run's, or another program on a guessed port)."""
    other = Listener("127.0.0.1", b"o" * collective.SECRET_BYTES)
    t = threading.Thread(target=lambda: other.accept(timeout=3))
    t.start()
    with pytest.raises(ConnectionError, match="failed the challenge"):
        connect(other.address, SECRET, "gang leader", timeout=5)
    t.join()
    other.close()
    banner = socket.socket()
    banner.bind(("127.0.0.1", 0))
    banner.listen(1)

    def serve():
        conn, _ = banner.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.6 some other service\r\n")
        conn.recv(100)
        time.sleep(0.5)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    with pytest.raises(ConnectionError, match="failed the challenge"):
        connect(banner.getsockname(), SECRET, "gang leader", timeout=5)
    t.join()
    banner.close()


def test_lost_peer_and_unreachable_address():
    lst, client, server = _pair()
    client.close()
    with pytest.raises(PeerLost, match="closed the connection"):
        server.recv()
    server.close()
    address = lst.address
    lst.close()
    with pytest.raises(ConnectionError, match="cannot reach the driver at 127.0.0.1"):
        connect(address, SECRET, "driver", timeout=2)


def test_assign_balances_rows_and_follows_the_files():
    everywhere = {0: [True] * 4, 1: [True] * 4}
    assert _assign(everywhere, [10, 10, 10, 10]) == [[0, 2], [1, 3]]
    # a task only gets blocks it can read, whatever the balance
    split = {0: [True, True, False, False], 1: [False, False, True, True]}
    assert _assign(split, [1, 1, 100, 100]) == [[0, 1], [2, 3]]
    # a block no task can read: nothing is planned
    assert _assign({0: [True, False], 1: [True, False]}, [5, 5]) is None


def _total(blocks):
    return blocks.map_reduce(np.sum)


def _source(i, it):
    for _ in it:
        yield np.full((3, 2), float(i))


def test_gang_rebuilds_blocks_it_cannot_find(ctx):
    """Blocks written by a job (not by the driver) whose files disappear, as when their
    executor is lost: the gang run rebuilds them from the lineage and gives the result."""
    rdd = ctx.sc.parallelize(range(3), 3).mapPartitionsWithIndex(_source)
    store = BlockRDD(rdd, ctx)
    assert gang.run(store, _total) == 6.0 * 3
    meta, _view = store._gang_layout()
    for _i, _host, path, _n in meta[:2]:
        shutil.rmtree(path)
    assert gang.run(store, _total) == 6.0 * 3
    assert gang.last_stats["tasks"] == 2 and gang.last_stats["exchanges"] == 1
    store.unpersist()
