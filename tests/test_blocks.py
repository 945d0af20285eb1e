"""Resident blocks (mli.engine.blocks.BlockRDD): passes vs numpy, deterministic combination, large
arguments and results, derived stores, recovery from missing files, cleanup;
and the bundle file format."""
from __future__ import annotations

import gc
import os
import shutil
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from pyspark import cloudpickle

from mli import LocalMatrix, MLTable
from mli.engine.blocks import BlockRDD, load_bundle, save_bundle, tree_add
from mli.engine.collective import tree_reduce
from mli.errors import BlockMissingError

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _chunks(X, p):
    return [LocalMatrix(c) for c in np.array_split(X, p)]


def _store(ctx, X, p, name="test"):
    return BlockRDD(ctx.sc.parallelize(_chunks(X, p), p), ctx, name=name)


def _gram(block, w=None):
    A = np.asarray(block.array)
    return (A.T @ A, A.sum(axis=0) if w is None else A @ w)


def _dir(store):
    from pyspark import SparkFiles

    return os.path.join(SparkFiles.getRootDirectory(), "mli-blocks", store._store_id)


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(101, 4))


# ============================================================================ passes


def test_map_reduce_matches_numpy(ctx, data):
    for p in (1, 2, 7):
        s = _store(ctx, data, p)
        gram, colsum = s.map_reduce(_gram)
        np.testing.assert_allclose(gram, data.T @ data)
        np.testing.assert_allclose(colsum, data.sum(axis=0))
        assert s.num_partitions == p and s.num_rows == 101
        assert s.partition_rows == [len(c) for c in np.array_split(data, p)]
        w = np.arange(4.0)
        parts = s.map_collect(lambda b, w: np.asarray(b.array) @ w, w)
        np.testing.assert_allclose(np.concatenate(parts), data @ w)
        s.unpersist()


def test_combine_order_is_deterministic(ctx, data):
    s = _store(ctx, data, 5)
    # a non-commutative combine exposes the order: a fixed tree over partition indices
    tree = s.map_reduce(lambda i, b: i, with_index=True, combine=lambda a, b: (a, b))
    assert tree == (((0, 1), (2, 3)), 4)
    assert tree == tree_reduce(list(range(5)), lambda a, b: (a, b))
    assert s.map_reduce(lambda i, b: [i], with_index=True, combine=lambda a, b: a + b) == \
        [0, 1, 2, 3, 4]
    # floating-point sums: bit-identical from pass to pass
    sums = {s.map_reduce(lambda b: np.asarray(b.array).sum(axis=0) * 1e-3).tobytes()
            for _ in range(3)}
    assert len(sums) == 1
    assert s.map_collect(lambda i, b: (i, b.shape[0]), with_index=True) == \
        [(i, len(c)) for i, c in enumerate(np.array_split(data, 5))]
    s.unpersist()


def test_tree_add_and_tree_reduce():
    a = {"n": 1, "v": np.ones(2), "t": (1.0, [np.zeros(1), 2])}
    b = {"n": 2, "v": np.ones(2), "t": (0.5, [np.ones(1), 3])}
    out = tree_add(a, b)
    assert out["n"] == 3 and out["t"][0] == 1.5 and out["t"][1][1] == 5
    np.testing.assert_array_equal(out["v"], [2.0, 2.0])
    assert tree_add(None, 3) == 3 and tree_add(3, None) == 3
    assert tree_reduce([], tree_add) is None
    assert tree_reduce([7], tree_add) == 7
    assert tree_reduce(list("abcdefg"), lambda x, y: f"({x}{y})") == "((((ab)(cd))((ef)g)))"[1:-1]


def test_large_arguments_and_results_travel_with_the_pass(ctx, data):
    s = _store(ctx, data, 3)
    big = np.random.default_rng(1).normal(size=(4, 40_000))  # 1.28 MB
    fn = lambda b, W, k: np.asarray(b.array).sum(axis=0) @ W * k  # noqa: E731
    np.testing.assert_allclose(s.map_reduce(fn, big, 2.0), data.sum(axis=0) @ big * 2.0)
    parts = s.map_collect(lambda b, W: float(np.asarray(b.array)[0] @ W[:, 0]), big)
    np.testing.assert_allclose(parts, [c[0] @ big[:, 0] for c in np.array_split(data, 3)])
    out = s.map_collect(_big_result)  # 1.0-1.1 MB per block
    rows = s.partition_rows
    assert [o[0].shape for o in out] == [(r, 4000) for r in rows]
    np.testing.assert_array_equal(out[1][0][:, 0],
                                  np.asarray(data[rows[0]:rows[0] + rows[1], 0]))
    assert out[0][1] == "tag" and out[0][2] is None
    s.unpersist()


def _big_result(bundle):
    A = np.asarray(bundle.array)
    return (np.repeat(A[:, :1], 4000, axis=1), "tag", None)


def test_derived_stores(ctx, data):
    base = _store(ctx, data, 3).materialize()
    doubled = base.map(lambda b, k: LocalMatrix(np.asarray(b.array) * k), 2.0, name="dbl")
    assert doubled._meta is None  # lazy
    np.testing.assert_allclose(doubled.map_reduce(_gram)[1], 2 * data.sum(axis=0))
    pairs = base.map(lambda i, b: (b, np.full(b.shape[0], float(i))), with_index=True)
    labels = np.concatenate(pairs.map_collect(lambda b: np.array(b[1])))
    np.testing.assert_array_equal(labels, np.repeat([0.0, 1.0, 2.0],
                                                    [len(c) for c in np.array_split(data, 3)]))
    # derived stores do not depend on the parent's files
    base.unpersist()
    np.testing.assert_allclose(doubled.map_reduce(_gram)[0], 4 * data.T @ data)
    fresh = base.map(lambda b: b)  # from an unmaterialized store: built from its source
    np.testing.assert_allclose(fresh.map_reduce(_gram)[0], data.T @ data)
    collected = doubled.collect()
    assert [type(c) for c in collected] == [LocalMatrix] * 3
    np.testing.assert_allclose(np.vstack([np.asarray(c.array) for c in collected]), 2 * data)
    for st in (doubled, pairs, fresh):
        st.unpersist()


def test_bundles_of_every_kind_are_resident(ctx):
    S = sp.random(6, 5, density=0.4, format="csr", random_state=0)
    bundles = [(LocalMatrix(S[:3]), np.arange(3.0), {"k": 1, "name": "a"}),
               (LocalMatrix(S[3:]), np.arange(3.0, 6.0), {"k": 2, "name": "b"})]
    s = BlockRDD(ctx.sc.parallelize(bundles, 2), ctx)
    got = s.map_reduce(lambda b: (b[0].array.T @ b[1], b[2]["k"]))
    np.testing.assert_allclose(got[0], S.T @ np.arange(6.0))
    assert got[1] == 3
    assert s.map_collect(lambda b: (b[0].is_sparse, b[2]["name"])) == [(True, "a"), (True, "b")]
    s.unpersist()


def test_bad_partitions_and_task_errors(ctx, data):
    two = BlockRDD(ctx.sc.parallelize([np.ones((1, 1)), np.ones((1, 1))], 1), ctx)
    with pytest.raises(ValueError, match="exactly one block, partition 0 has 2"):
        two.materialize()
    s = _store(ctx, data, 2)
    with pytest.raises(ZeroDivisionError):
        s.map_reduce(lambda b: 1 / 0)
    np.testing.assert_allclose(s.map_reduce(_gram)[0], data.T @ data)  # still usable
    s.unpersist()


# ============================================================================ recovery


def test_lost_files_are_rebuilt_from_lineage(ctx, data, caplog):
    s = _store(ctx, data, 3).materialize()
    path = _dir(s)
    assert sorted(os.listdir(path)) == ["p00000", "p00001", "p00002"]
    expected = s.map_reduce(_gram)
    first_id = s._store_id
    shutil.rmtree(path)  # the executor's block files are gone
    with caplog.at_level("WARNING", logger="mli"):
        got = s.map_reduce(_gram)
    np.testing.assert_allclose(got[0], data.T @ data)
    np.testing.assert_array_equal(got[1], expected[1])
    assert s._store_id != first_id  # rebuilt from the source lineage: a new generation
    assert sorted(os.listdir(_dir(s))) == ["p00000", "p00001", "p00002"]
    assert any("rebuilding them from their lineage" in r.getMessage() for r in caplog.records)
    # blocks recorded on a path no task can read (written on a lost node): rebuilt too
    second_id = s._store_id
    s._meta = [(i, "lost-host", f"/nonexistent/mli-blocks/{second_id}-x/p{i:05d}", n)
               for i, n in enumerate(s.partition_rows)]
    np.testing.assert_allclose(s.map_reduce(_gram)[0], data.T @ data)
    assert s._store_id not in (first_id, second_id)
    from mli.engine.blocks import open_block

    with pytest.raises(BlockMissingError, match="is not on host"):
        open_block("/nonexistent/block")
    s.unpersist()


def test_unpersist_removes_files_and_table_cache(ctx, data):
    s = _store(ctx, data, 2).materialize()
    path = _dir(s)
    assert os.path.isdir(path)
    s.unpersist()
    assert not os.path.exists(path) and s._meta is None
    s.unpersist()  # idempotent
    np.testing.assert_allclose(s.map_reduce(_gram)[0], data.T @ data)  # re-materializes
    path2 = _dir(s)
    assert path2 != path and os.path.isdir(path2)
    s.unpersist()
    assert not os.path.exists(path2)
    # tables: cache -> resident files; unpersist -> the derived ones are gone. from_numpy's
    # own files (written by the driver in local mode) are the table's data: they stay while
    # the table lives, and go with it
    t = MLTable.from_numpy(data, np.arange(101.0), num_partitions=2, ctx=ctx).cache()
    d = t.labeled("label")
    d.blocks.materialize()
    derived, origin = _dir(t._store), _dir(d.blocks)
    assert os.path.isdir(derived) and os.path.isdir(origin) and derived != origin
    t.unpersist()
    assert not os.path.exists(derived) and os.path.isdir(origin)
    np.testing.assert_allclose(t.labeled("label").blocks.map_reduce(_xty),
                               data.T @ np.arange(101.0))  # still usable
    t.unpersist()
    del t, d
    gc.collect()
    assert not os.path.exists(origin)


def _xty(bundle):
    X, y = bundle
    return np.asarray(X.array).T @ y


def test_driver_written_store_is_a_snapshot(ctx, data):
    """from_bundles (local mode): the driver writes the files; later changes to the caller's
    arrays do not reach them, the store passes as any other, and files are removed on GC."""
    a = data.copy()
    s = BlockRDD.from_bundles([LocalMatrix(a[:50]), LocalMatrix(a[50:])], ctx, name="t")
    a[:] = -1.0
    np.testing.assert_allclose(s.map_reduce(_gram)[0], data.T @ data)
    assert s.partition_rows == [50, 51] and s.num_partitions == 2
    path = _dir(s)
    assert os.path.isdir(path)
    s.unpersist()
    assert os.path.isdir(path)  # the store's source of record
    np.testing.assert_allclose(s.map_reduce(_gram)[0], data.T @ data)
    s.unpersist()
    del s
    gc.collect()
    assert not os.path.exists(path)
    with pytest.raises(ValueError, match="at least one bundle"):
        BlockRDD.from_bundles([], ctx)


def test_block_view_applies_fn_without_copy(ctx, data):
    from mli.engine.blocks import BlockView

    s = _store(ctx, data, 2)
    v = BlockView(s, _pair_with_none)
    np.testing.assert_allclose(v.map_reduce(_gram_of_pair), data.T @ data)
    assert v.partition_rows == s.partition_rows and v.num_partitions == 2
    got = v.map_collect(_index_and_rows, with_index=True)
    assert got == [(i, r) for i, r in enumerate(s.partition_rows)]
    v.unpersist()  # a view leaves its parent alone
    assert s._meta is not None
    assert len(v.collect()) == 2
    s.unpersist()


def _pair_with_none(bundle):
    return (bundle, None)


def _gram_of_pair(bundle):
    X, y = bundle
    assert y is None
    return _gram(X)[0]


def _index_and_rows(index, bundle):
    return (index, bundle[0].shape[0])


# ============================================================================ bundle files


def test_save_and_load_bundles(tmp_path):
    S = sp.random(5, 4, density=0.5, format="csr", random_state=2)
    bundle = (LocalMatrix(np.arange(6.0).reshape(2, 3)), LocalMatrix(S),
              {"y": np.arange(2, dtype=np.int32), "meta": [1, 2.5, "x", None, True]},
              np.float32(1.5))
    path = str(tmp_path / "b")
    save_bundle(bundle, path)
    assert sorted(os.listdir(path)) == ["a0.npy", "a1.npy", "a2.npy", "a3.npy", "a4.npy",
                                        "tree.json"]
    for mmap in (True, False):
        got = load_bundle(path, mmap=mmap)
        np.testing.assert_array_equal(np.asarray(got[0].array), np.arange(6.0).reshape(2, 3))
        assert got[1].is_sparse and (got[1].array != S).nnz == 0
        assert got[2]["y"].dtype == np.int32 and got[2]["meta"] == [1, 2.5, "x", None, True]
        assert got[3] == 1.5
    assert isinstance(load_bundle(path)[0].array, np.memmap)
    # a second writer of the same block leaves the first complete copy alone
    save_bundle((np.zeros(1),), path)
    np.testing.assert_array_equal(np.asarray(load_bundle(path)[0].array),
                                  np.arange(6.0).reshape(2, 3))
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    with pytest.raises(TypeError, match="cannot store a set"):
        save_bundle({1, 2}, str(tmp_path / "c"))
    with pytest.raises(TypeError, match="numeric arrays only"):
        save_bundle((np.array([object()]),), str(tmp_path / "d"))


def test_full_scratch_space_names_the_directory(tmp_path, monkeypatch):
    import errno

    from mli.engine import blocks as B

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(B.np, "save", full)
    with pytest.raises(OSError, match=r"no space left for a resident block in .*store.*"
                                      r"spark\.local\.dir"):
        B.save_bundle(np.ones((10, 3)), str(tmp_path / "store" / "p00000"))
    assert not list((tmp_path / "store").glob("*.tmp-*"))  # no half-written block left
