"""Recycled block memory (mli.engine.pagepool): released stores' array files are rewritten by the
next stores, never read as another block's data, bounded in size and age."""
from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest
from pyspark import cloudpickle

from mli import LocalMatrix, MLTable
from mli.engine import pagepool
from mli.engine.blocks import BlockRDD, open_block, load_bundle, save_bundle
from mli.errors import BlockMissingError

cloudpickle.register_pickle_by_value(sys.modules[__name__])

MB = 1 << 20


@pytest.fixture
def pool(monkeypatch):
    """An empty pool with the default limits; emptied again afterwards."""
    pagepool.clear()
    monkeypatch.setattr(pagepool, "POOL_BYTES", 1 << 30)
    monkeypatch.setattr(pagepool, "POOL_SECONDS", 120.0)
    yield pagepool
    pagepool.clear()


def _store_dir(root, name, arrays):
    """A released-store layout: ``root/name/p0000i`` bundles of the given arrays."""
    directory = os.path.join(root, name)
    for i, a in enumerate(arrays):
        os.makedirs(directory, exist_ok=True)
        save_bundle(a, os.path.join(directory, f"p{i:05d}"))
    return directory


def _inode(path):
    return os.stat(path).st_ino


def test_release_pools_large_arrays_and_removes_the_rest(pool, tmp_path):
    big, small = np.ones((MB // 8 + 16, 2)), np.ones((10, 3))  # 2 MB and 240 bytes
    d = _store_dir(str(tmp_path), "s1", [big, small])
    pool.release(d)
    assert not os.path.exists(d)
    files = os.listdir(tmp_path / "pool")  # the big array's file (with its header) only
    assert len(files) == 1 and pool.pooled_bytes() == os.path.getsize(tmp_path / "pool" / files[0])
    assert pool.pooled_bytes() > big.nbytes
    pool.clear()
    assert pool.pooled_bytes() == 0 and os.listdir(tmp_path / "pool") == []


def test_write_array_reuses_the_smallest_file_that_fits_and_truncates(pool, tmp_path):
    a3, a5 = np.full((3 * MB // 8,), 1.0), np.full((5 * MB // 8,), 2.0)
    d = _store_dir(str(tmp_path), "s1", [a3, a5])
    pooled = {}
    pool.release(d)
    for f in os.listdir(tmp_path / "pool"):
        pooled[os.path.getsize(tmp_path / "pool" / f)] = _inode(tmp_path / "pool" / f)
    assert len(pooled) == 2
    new = np.arange(2 * MB // 8, dtype=np.float64)  # fits both: the 3 MB file is taken
    target = str(tmp_path / "new.npy")
    pool.write_array(target, new)
    assert _inode(target) == pooled[min(pooled)]
    np.testing.assert_array_equal(np.load(target), new)
    np.testing.assert_array_equal(np.load(target, mmap_mode="r"), new)
    assert os.path.getsize(target) < min(pooled)  # the tail beyond the new array is gone
    # nothing fits: a new file
    huge = np.zeros(6 * MB // 8)
    pool.write_array(str(tmp_path / "huge.npy"), huge)
    assert _inode(tmp_path / "huge.npy") != pooled[max(pooled)]
    np.testing.assert_array_equal(np.load(tmp_path / "huge.npy"), huge)


def test_pool_limits_size_and_age(pool, tmp_path, monkeypatch):
    arrays = [np.ones(2 * MB // 8) for _ in range(3)]
    monkeypatch.setattr(pagepool, "POOL_BYTES", 5 * MB)  # two files fit, not three
    pool.release(_store_dir(str(tmp_path), "s1", arrays))
    assert 4 * MB < pool.pooled_bytes() <= 5 * MB
    monkeypatch.setattr(pagepool, "POOL_SECONDS", 0.0)  # all expired at the next operation
    pool.release(_store_dir(str(tmp_path), "s2", []))
    assert pool.pooled_bytes() == 0 and os.listdir(tmp_path / "pool") == []
    monkeypatch.setattr(pagepool, "POOL_SECONDS", 120.0)
    monkeypatch.setattr(pagepool, "POOL_BYTES", 0)  # off: released files are deleted
    pool.release(_store_dir(str(tmp_path), "s3", arrays))
    assert pool.pooled_bytes() == 0 and os.listdir(tmp_path / "pool") == []


def test_a_released_block_reads_as_missing_not_as_the_next_blocks_data(pool, tmp_path):
    old = np.full((MB // 8, 2), 7.0)
    d = _store_dir(str(tmp_path), "s1", [old])
    path = os.path.join(d, "p00000")
    np.testing.assert_array_equal(open_block(path), old)  # a cached map of the old block
    pool.release(d)
    d2 = _store_dir(str(tmp_path), "s2", [])  # the next store takes the old block's pages
    os.makedirs(os.path.join(d2, "p00000"))
    new = np.full((MB // 8, 2), -1.0)
    pool.write_array(os.path.join(d2, "p00000", "a0.npy"), new)
    assert pool.pooled_bytes() == 0
    with pytest.raises(BlockMissingError):
        open_block(path)


def test_tables_rewrite_released_tables_pages_and_stay_correct(ctx, pool):
    rng = np.random.default_rng(0)
    X1, X2 = rng.standard_normal((40_000, 8)), rng.standard_normal((40_000, 8))  # 1.3 MB blocks
    t = MLTable.from_numpy(X1, num_partitions=2, ctx=ctx)
    assert pool.pooled_bytes() == 0
    np.testing.assert_allclose(t.to_numpy(), X1)
    del t
    gc.collect()
    held = pool.pooled_bytes()
    assert held >= X1.nbytes
    t2 = MLTable.from_numpy(X2, num_partitions=2, ctx=ctx)
    assert pool.pooled_bytes() < held  # its blocks went into the released files
    np.testing.assert_array_equal(t2.to_numpy(), X2)
    s = BlockRDD.from_bundles([LocalMatrix(X1[:10])], ctx)
    np.testing.assert_array_equal(s.collect()[0].array, X1[:10])


def test_a_dropped_table_releases_its_files_without_unpersist(ctx, pool):
    """Passes register a store among the live ones; that registry must not keep a dropped
    table's files (and memory) alive."""
    X, y = np.ones((40_000, 8)), np.arange(40_000.0) % 2
    t = MLTable.from_numpy(X, y, num_partitions=2, ctx=ctx)
    t.labeled("label").blocks.map_reduce(_rows)  # a pass: the store is materialized
    path = t._label_source[2]._store_id
    directory = os.path.dirname(t._label_source[2]._meta[0][2])
    assert os.path.isdir(directory)
    del t
    gc.collect()
    assert not any(path in (s._store_id or "") for s in list(_live().values()))
    assert not os.path.exists(os.path.join(directory, "p00000", "tree.json"))
    assert pool.pooled_bytes() >= X.nbytes


def _rows(bundle):
    return bundle[0].shape[0]


def _live():
    from mli.engine.blocks import _LIVE

    return _LIVE


def test_save_bundle_recycle_round_trip(pool, tmp_path):
    bundle = (LocalMatrix(np.arange(MB // 4, dtype=np.float64).reshape(-1, 4)),
              np.arange(3.0))
    pool.release(_store_dir(str(tmp_path), "s1", [np.ones(MB // 4)]))
    save_bundle(bundle, str(tmp_path / "b"), recycle=True)
    X, y = load_bundle(str(tmp_path / "b"))
    np.testing.assert_array_equal(X.array, bundle[0].array)
    np.testing.assert_array_equal(y, bundle[1])


def test_wrong_input_gets_a_clear_error_and_loses_nothing(pool, tmp_path):
    pool.release(_store_dir(str(tmp_path), "s1", [np.ones(MB // 4)]))
    held = pool.pooled_bytes()
    with pytest.raises(ValueError, match="allow_pickle"):  # object arrays are never written
        pool.write_array(str(tmp_path / "o.npy"), np.array([{"a": 1}] * 10, dtype=object))
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        pool.write_array(str(tmp_path / "no-such-dir" / "a.npy"), np.ones(MB // 4))
    assert pool.pooled_bytes() == held  # a failed write did not use up the pooled file
    pool.release(str(tmp_path / "never-written"))  # nothing there: nothing to do
    assert pool.pooled_bytes() == held


def test_a_write_that_fails_midway_returns_the_pooled_file(pool, tmp_path, monkeypatch):
    pool.release(_store_dir(str(tmp_path), "s1", [np.ones(MB // 4)]))
    held = pool.pooled_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pool.write_array(str(tmp_path / "a.npy"), np.ones(MB // 8))
    assert pool.pooled_bytes() == held and not os.path.exists(tmp_path / "a.npy")
