"""MLTable (mli.table.mltable): construction, row and block operations, conversions, the labeled
view and input validation -- checked against plain Python / numpy / pandas, with identical
results for 1, 2 and 7 partitions."""
from __future__ import annotations

import datetime
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pyspark import cloudpickle

from _spark_probe import spark_jobs
from mli import LocalMatrix, MLTable
from mli.errors import TaskError
from mli.table.mltable import LabeledData, as_labeled, as_matrix

# Spark's Python workers cannot import this test module: ship its classes/functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PARTITIONS = (7, 2, 1)  # the single-partition table last: the extra checks after a loop run on it
# few examples (each runs Spark jobs); no shrinking (minutes of Spark jobs on a failure)
FEW = settings(max_examples=5, deadline=None, derandomize=True,
               phases=[Phase.explicit, Phase.reuse, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def int_tables(draw, min_rows=7, max_rows=24, max_cols=4):
    """Small float tables with integer values (sums are exact; keys repeat)."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, max_cols))
    X = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-4, 4))).astype(np.float64)
    return X


def _cols(d, prefix="c"):
    return [f"{prefix}{j}" for j in range(d)]


def _rows(X):
    return [tuple(r) for r in X.tolist()]


def _table(ctx, X, p, columns=None):
    return MLTable.from_numpy(X, columns=columns or _cols(X.shape[1]), num_partitions=p, ctx=ctx)


# ============================================================================ construction


def test_from_numpy_one_block_per_partition(ctx):
    X = np.random.default_rng(0).normal(size=(1000, 5))
    t = MLTable.from_numpy(X, num_partitions=7, ctx=ctx)
    assert t._rows is None  # no per-row RDD was built
    per_part = t._block_source().glom().map(lambda items: [(type(b).__name__, b.shape[0])
                                                   for b in items]).collect()
    assert per_part == [[("LocalMatrix", 143)]] * 6 + [[("LocalMatrix", 142)]]
    assert t.columns == ("x0", "x1", "x2", "x3", "x4")
    assert t.is_numeric and t.num_partitions == 7 and t.num_rows == 1000 and len(t) == 1000
    np.testing.assert_array_equal(t.to_numpy(), X)
    # default partitioning: the context's parallelism
    assert MLTable.from_numpy(X, ctx=ctx).num_partitions == ctx.default_parallelism


def test_from_numpy_dtypes_and_sparse(ctx):
    Xi = np.arange(12).reshape(4, 3)
    t = MLTable.from_numpy(Xi, num_partitions=2, ctx=ctx)
    assert t.to_numpy().dtype == np.float64
    np.testing.assert_array_equal(t.to_numpy(), Xi)
    t32 = MLTable.from_numpy(Xi, dtype=np.float32, ctx=ctx)
    assert t32._block_source().first().dtype == np.float32
    S = sp.random(30, 6, density=0.3, format="coo", random_state=1)
    ts = MLTable.from_numpy(S, num_partitions=3, ctx=ctx)
    assert ts._block_source().map(lambda b: b.is_sparse).collect() == [True] * 3
    np.testing.assert_allclose(ts.to_numpy(), S.toarray())
    np.testing.assert_allclose(ts.to_scipy().toarray(), S.toarray())
    lm = MLTable.from_numpy(LocalMatrix(np.eye(3)), ctx=ctx)
    np.testing.assert_array_equal(lm.to_numpy(), np.eye(3))
    # nested Python lists of numbers
    np.testing.assert_array_equal(MLTable.from_numpy([[1, 2], [3, 4]], ctx=ctx).to_numpy(),
                                  [[1.0, 2.0], [3.0, 4.0]])


def test_from_pandas_numeric_and_mixed(ctx):
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "flag": [True, False, True]})
    t = MLTable.from_pandas(df, num_partitions=2, ctx=ctx)
    assert t.is_numeric and t._rows is None and t.columns == ("a", "b", "flag")
    np.testing.assert_array_equal(t.to_numpy(), df.to_numpy(dtype=float))
    pd.testing.assert_frame_equal(t.to_pandas(), df.astype(float))

    mixed = pd.DataFrame({
        "n": [1, 2, 3],
        "s": ["x", None, "z"],
        "f": [1.5, np.nan, 3.5],
        "when": pd.to_datetime(["2020-01-01", None, "2020-01-03"]),
        "cat": pd.Categorical(["u", "v", "u"]),
        "i": pd.array([1, None, 3], dtype="Int64"),
    })
    m = MLTable.from_data(mixed, num_partitions=2, ctx=ctx)
    assert not m.is_numeric
    rows = m.collect()
    assert rows[0] == (1, "x", 1.5, datetime.datetime(2020, 1, 1), "u", 1)
    assert rows[1][1] is None and np.isnan(rows[1][2]) and rows[1][3] is None and rows[1][5] is None
    # plain Python values, not numpy scalars / pandas Timestamps
    assert [type(v) for v in rows[0]] == [int, str, float, datetime.datetime, str, int]
    assert dict(m.schema)["s"] == "str" and dict(m.schema)["n"] == "int"
    # numeric columns of a mixed frame become a numeric table when selected
    sel = m.select("n", "f")
    assert sel.is_numeric
    got = sel.to_numpy()
    np.testing.assert_array_equal(got[:, 0], [1, 2, 3])
    assert np.isnan(got[1, 1])
    # a Series is a one-column table
    s = MLTable.from_data(pd.Series([1.0, 2.0], name="v"), ctx=ctx)
    assert s.columns == ("v",) and s.collect() == [(1.0,), (2.0,)]


def test_from_rows_and_from_data_dispatch(ctx):
    t = MLTable.from_rows([(1, "a"), (2, "b"), (3, "c")], columns=["n", "s"], ctx=ctx)
    assert not t.is_numeric and t.columns == ("n", "s") and t.num_rows == 3
    assert t.schema == [("n", "int"), ("s", "str")]
    assert MLTable.from_rows([1.0, 2.0], ctx=ctx).collect() == [(1.0,), (2.0,)]
    # generators, tuples, dicts of columns, other tables
    assert MLTable.from_data(((i, i * i) for i in range(4)), ctx=ctx).collect() == \
        [(0, 0), (1, 1), (2, 4), (3, 9)]
    assert MLTable.from_data(((1, 2), (3, 4)), ctx=ctx).columns == ("c0", "c1")
    d = MLTable.from_data({"p": [1.0, 2.0], "q": [3.0, 4.0]}, ctx=ctx)
    assert d.columns == ("p", "q") and d.is_numeric
    np.testing.assert_array_equal(d.to_numpy(), [[1, 3], [2, 4]])
    assert MLTable.from_data(t) is t
    assert MLTable.from_data(np.ones((2, 2)), ctx=ctx).num_rows == 2
    assert MLTable.from_data(sp.eye(3, format="csr"), ctx=ctx).is_numeric


def test_from_spark_numeric_uses_arrow_blocks(ctx):
    pdf = pd.DataFrame({"a": np.arange(20, dtype=np.int32), "b": np.linspace(0, 1, 20),
                        "c": np.arange(20) % 2 == 0})
    df = ctx.spark.createDataFrame(pdf)
    t = MLTable.from_data(df, ctx=ctx)
    assert t.is_numeric and t._rows is None and t.columns == ("a", "b", "c")
    per_part = t._block_source().glom().collect()  # one LocalMatrix per partition
    assert [[type(b) for b in items] for items in per_part] == \
        [[LocalMatrix]] * df.rdd.getNumPartitions()
    got = np.vstack([items[0].to_numpy() for items in per_part])
    order = np.argsort(got[:, 0])
    np.testing.assert_allclose(got[order], pdf.to_numpy(dtype=float))
    # (non-numeric frames stay rows: see test_io.test_spark_dataframe_round_trips)


# ============================================================================ row operations


def _is_subsequence(part, rows):
    it = iter(rows)
    return all(any(r == x for x in it) for r in part)


def _none_last(r):
    return tuple((v is None, v) for v in r)


@FEW
@given(X=int_tables(), seed=st.integers(0, 2**40), fraction=st.floats(0.1, 0.9))
def test_row_operations_match_python(ctx, X, seed, fraction):
    n, d = X.shape
    cols = _cols(d)
    rows = _rows(X)
    keep = [r for r in rows if r[0] > 0]
    flat = [(r[-1] + 1.0, r[0] * 2.0) for r in keep for _ in range(int(abs(r[-1] + 1) % 3))]
    samples, splits = [], []
    for p in PARTITIONS:
        t = _table(ctx, X, p)
        assert (t.num_cols, t.num_partitions, t.schema) == (d, p, [(c, "float64") for c in cols])
        chain = (t.filter(lambda r: r[0] > 0)
                 .map(lambda r: (r[0] * 2.0, r[-1] + 1.0), columns=["double", "plus"])
                 .flat_map(lambda r: [r] * int(abs(r[1]) % 3))
                 .select("plus", "double"))
        assert chain.columns == ("plus", "double") and chain.collect() == flat
        samples.append(t.sample(fraction, seed=seed).collect())
        splits.append([part.collect() for part in t.random_split([0.6, 0.4], seed=seed)])
    # sample / random_split are seeded by the global row index: the same for any partitioning
    assert samples[0] == samples[1] == samples[2]
    assert splits[0] == splits[1] == splits[2]
    assert sorted(r for part in splits[0] for r in part) == sorted(rows)  # disjoint, complete
    assert all(_is_subsequence(part, rows) for part in splits[0])  # row order kept
    assert _is_subsequence(samples[0], rows)
    # the remaining forms, on the last (1-partition) table
    assert t.collect() == rows and t.num_rows == n and t.take(3) == rows[:3]
    assert t.filter(lambda r: r[0] > 0).num_rows == len(keep)
    assert t.reduce(lambda a, b: tuple(x + y for x, y in zip(a, b))) == tuple(X.sum(axis=0))


@FEW
@given(X=int_tables(max_cols=3), Y=int_tables(max_cols=3))
def test_reduce_by_and_join_match_pandas(ctx, X, Y):
    d = X.shape[1]
    cols = _cols(d)
    dfx = pd.DataFrame(X, columns=cols)
    dfy = pd.DataFrame(Y, columns=["c0"] + [f"y{j}" for j in range(1, Y.shape[1])])
    red = sorted(_rows(dfx.groupby("c0").sum().reset_index().to_numpy())) if d > 1 else None
    joins = {}
    for how in ("inner", "outer"):
        merged = dfx.merge(dfy, on="c0", how=how, suffixes=("", "_right"))
        joins[how] = (tuple(merged.columns),
                      sorted((tuple(None if pd.isna(v) else float(v) for v in r)
                              for r in merged.itertuples(index=False)), key=_none_last))
    ty = MLTable.from_pandas(dfy, num_partitions=2, ctx=ctx)
    for p in PARTITIONS:
        t = _table(ctx, X, p)
        if d > 1:
            sums = t.reduce_by("c0", lambda a, b: tuple(x + y for x, y in zip(a, b)))
            assert sums.columns == tuple(cols) and sorted(sums.collect()) == red
        outer = t.join(ty, on="c0", how="outer")
        assert (outer.columns, sorted(outer.collect(), key=_none_last)) == joins["outer"]
    inner = t.join(ty, on="c0")
    assert (inner.columns, sorted(inner.collect(), key=_none_last)) == joins["inner"]


@FEW
@given(X=int_tables())
def test_block_operations_match_numpy(ctx, X):
    n, d = X.shape
    for p in PARTITIONS:
        t = _table(ctx, X, p)
        # aggregate: tree-shaped sum of per-partition results (tuples/dicts of arrays)
        got = t.aggregate(lambda m, w: {"n": m.shape[0], "sum": m.array.sum(axis=0),
                                        "gram": m.array.T @ (m.array * w)}, 2.0)
        assert got["n"] == n
        np.testing.assert_array_equal(got["sum"], X.sum(axis=0))
        np.testing.assert_array_equal(got["gram"], 2.0 * X.T @ X)
        # map_batches: LocalMatrix -> LocalMatrix; rows may change; results concatenated
        firsts = t.map_batches(lambda m, k: np.c_[m.array[:k], m.array[:k].sum(axis=1)], 1)
        bounds = np.cumsum([0] + [len(r) for r in np.array_split(np.arange(n), p)])[:-1]
        np.testing.assert_array_equal(firsts.to_numpy(), np.c_[X[bounds], X[bounds].sum(axis=1)])
    # the other forms, on the last table
    assert firsts.columns == tuple(f"c{j}" for j in range(d + 1))
    doubled = t.map_batches(lambda m: m * 2.0)
    assert doubled.columns == t.columns  # same width: the input's names
    np.testing.assert_array_equal(doubled.to_numpy(), 2 * X)
    sums = t.map_batches(lambda m: m.array.sum(axis=1), columns=["s"])
    assert sums.columns == ("s",)
    np.testing.assert_array_equal(sums.to_numpy().ravel(), X.sum(axis=1))
    mx = t.aggregate(lambda m: m.array.max(axis=0), combine=np.maximum)
    np.testing.assert_array_equal(mx, X.max(axis=0))
    pd.testing.assert_frame_equal(t.to_pandas(), pd.DataFrame(X, columns=_cols(d)))


def test_sort_by_matches_python_for_any_partitioning(ctx):
    # sort_by runs 3 Spark jobs (count, sample, sort): checked on one table with ties
    X = np.array([[2, 1, 0], [-1, 3, 1], [2, 0, 2], [0, 0, 3], [2, 1, 4], [-1, -5, 5],
                  [3, 3, 6], [0, 2, 7], [1, 1, 8]], dtype=float)
    rows = _rows(X)
    for p in PARTITIONS:
        t = _table(ctx, X, p)
        assert t.sort_by(["c0", "c1"], ascending=False).select(0, 1).collect() == \
            sorted((r[:2] for r in rows), reverse=True)
        if p == 2:
            assert t.sort_by("c2", ascending=False).collect() == rows[::-1]
            assert t.sort_by(lambda r: (r[1], -r[2])).collect() == \
                sorted(rows, key=lambda r: (r[1], -r[2]))


def test_row_operations_other_forms(ctx):
    X = np.array([[3.0, 1.0], [-1.0, 2.0], [3.0, 0.0], [0.0, 5.0], [2.0, 2.0]])
    rows = _rows(X)
    t = _table(ctx, X, 2)
    both = t.union(t.filter(lambda r: r[0] > 0)).drop("c0")
    assert both.columns == ("c1",)
    assert both.collect() == [r[1:] for r in rows] + [r[1:] for r in rows if r[0] > 0]
    m = t.map(lambda r: (r[0] * 2.0, r[-1] + 1.0))
    assert m.columns == ("c0", "c1") and m.is_numeric  # same width: the input's names
    np.testing.assert_array_equal(m.to_numpy(), np.c_[X[:, 0] * 2, X[:, -1] + 1])
    np.testing.assert_array_equal(t.select("c1", 0).to_numpy(), X[:, ::-1])
    one = t.map(lambda r: r[0] + r[1])
    assert one.columns == ("c0",) and one.collect() == [(r[0] + r[1],) for r in rows]
    assert t.map(lambda r: r, columns=["p", "q"]).columns == ("p", "q")
    nothing = t.flat_map(lambda r: [])
    assert nothing.collect() == [] and nothing.columns == t.columns
    assert t.union(t).num_rows == 10 and t.union(t).is_numeric
    np.testing.assert_array_equal(t.union(t).to_numpy(), np.r_[X, X])


def test_sample_edges_and_seeds(ctx):
    X = np.arange(400.0).reshape(200, 2)
    t = _table(ctx, X, 2)
    assert t.sample(0.0).num_rows == 0
    assert t.sample(1.0).collect() == _rows(X)
    a, b = t.sample(0.5, seed=1).collect(), t.sample(0.5, seed=2).collect()
    assert a != b and 60 < len(a) < 140
    assert t.sample(0.5, seed=1).collect() == a  # deterministic
    assert t.sample(0.5, seed=-3).num_rows > 0  # negative seeds are fine
    tr, te = t.random_split([4, 1], seed=7)
    assert 120 < tr.num_rows < 190 and tr.num_rows + te.num_rows == 200
    assert t.sample(0.5, seed=1).is_numeric


def test_repartition_keeps_order_and_balances(ctx):
    X = np.arange(46.0).reshape(23, 2)
    t = _table(ctx, X, 2)
    r = t.repartition(5)
    assert r.num_partitions == 5 and r.is_numeric
    sizes = r.rdd.glom().map(len).collect()
    assert sorted(sizes) == [4, 4, 5, 5, 5] and sum(sizes) == 23
    assert r.collect() == _rows(X)
    np.testing.assert_array_equal(r.to_numpy(), X)
    assert r.blocks.partition_rows == sizes
    one = t.filter(lambda row: row[0] > 30).repartition(3)
    assert one.collect() == [row for row in _rows(X) if row[0] > 30]
    many = MLTable.from_rows([(i,) for i in range(3)], ctx=ctx).repartition(5)
    assert many.collect() == [(0,), (1,), (2,)] and many.num_partitions == 5


def _spark_jobs(ctx, fn):
    """(fn(), number of Spark jobs it ran)."""
    out, jobs = spark_jobs(ctx, fn)
    return out, len(jobs)


def test_building_tables_runs_no_spark_job(ctx):
    X = np.arange(40.0).reshape(20, 2)
    t, jobs = _spark_jobs(ctx, lambda: MLTable.from_numpy(X, num_partitions=3, ctx=ctx))
    assert jobs == 0
    chain, jobs = _spark_jobs(ctx, lambda: t.map(lambda r: (r[0], r[1] * 2)).map(lambda r: r)
                              .filter(lambda r: r[0] > 4).flat_map(lambda r: [r]))
    assert jobs == 0
    (n, sampled), jobs = _spark_jobs(ctx, lambda: (t.num_rows, t.sample(0.5, seed=1)))
    assert n == 20 and jobs == 0  # row counts are known from from_numpy
    rows, jobs = _spark_jobs(ctx, chain.collect)
    assert rows == [(r[0], r[1] * 2) for r in _rows(X) if r[0] > 4] and jobs == 1
    assert chain.columns == ("x0", "x1")  # the widths are looked at only when names are asked


def test_is_numeric_inference_after_map_and_select(ctx):
    t = MLTable.from_numpy(np.arange(6.0).reshape(3, 2), columns=["a", "b"], ctx=ctx)
    assert t.map(lambda r: (r[0], r[1] * 2)).is_numeric
    assert t.map(lambda r: r[0]).columns == ("c0",)
    assert not t.map(lambda r: (str(r[0]), r[1])).is_numeric
    mixed = MLTable.from_rows([("x", 1.0), ("y", 2.0)], columns=["s", "v"], ctx=ctx)
    assert not mixed.is_numeric
    assert mixed.select("v").is_numeric
    assert mixed.map(lambda r: (len(r[0]), r[1])).is_numeric
    np.testing.assert_array_equal(mixed.drop("s").to_numpy(), [[1.0], [2.0]])
    # map on a table of strings into numbers, then a numeric op
    assert mixed.map(lambda r: (float(len(r[0])),)).aggregate(lambda m: m.array.sum()) == 2.0


def test_join_column_naming(ctx):
    left = MLTable.from_rows([(1, "a", 10), (2, "b", 20)], columns=["id", "name", "v"], ctx=ctx)
    right = MLTable.from_rows([(1, "x", 5), (3, "y", 7)], columns=["id", "name", "w"], ctx=ctx)
    j = left.join(right, on="id")
    assert j.columns == ("id", "name", "v", "name_right", "w")
    assert j.collect() == [(1, "a", 10, "x", 5)]
    outer = left.join(right, on="id", how="outer")
    assert sorted(outer.collect(), key=lambda r: r[0]) == [
        (1, "a", 10, "x", 5), (2, "b", 20, None, None), (3, None, None, "y", 7)]
    assert sorted(left.join(right, on="id", how="right").collect(), key=lambda r: r[0]) == [
        (1, "a", 10, "x", 5), (3, None, None, "y", 7)]
    # keys by position; a right column named like the left key gets a suffix
    r2 = MLTable.from_rows([(1, 99)], columns=["k", "id"], ctx=ctx)
    j2 = left.join(r2, on=0)
    assert j2.columns == ("id", "name", "v", "id_right")
    assert j2.collect() == [(1, "a", 10, 99)]
    # multi-column keys
    a = MLTable.from_rows([(1, 1, "p"), (1, 2, "q")], columns=["u", "i", "s"], ctx=ctx)
    b = MLTable.from_rows([(1, 2, 5.0)], columns=["u", "i", "r"], ctx=ctx)
    assert a.join(b, on=["u", "i"]).collect() == [(1, 2, "q", 5.0)]


def test_reduce_by_multi_key_and_names(ctx):
    t = MLTable.from_rows([("a", 1, 1.0), ("a", 1, 2.0), ("b", 2, 5.0), ("a", 2, 1.0)],
                          columns=["s", "k", "v"], ctx=ctx)
    r = t.reduce_by(["s", "k"], lambda x, y: (x[0] + y[0],))
    assert r.columns == ("s", "k", "v")
    assert sorted(r.collect()) == [("a", 1, 3.0), ("a", 2, 1.0), ("b", 2, 5.0)]
    counts = t.map(lambda row: (row[0], 1)).reduce_by(0, lambda x, y: (x[0] + y[0],),
                                                      columns=["s", "n"])
    assert counts.columns == ("s", "n") and sorted(counts.collect()) == [("a", 3), ("b", 1)]


def test_reduce_and_empty_tables(ctx):
    t = MLTable.from_numpy(np.arange(6.0).reshape(3, 2), ctx=ctx)
    empty = t.filter(lambda r: False)
    assert empty.num_rows == 0 and empty.collect() == [] and empty.is_empty()
    assert empty.is_numeric and empty.columns == t.columns
    with pytest.raises(ValueError, match="reduce of an empty table"):
        empty.reduce(lambda a, b: a)
    assert empty.to_numpy().shape == (0, 2)
    assert t.num_rows == 3 and t.filter(lambda r: r[0] >= 2).num_rows == 2
    with pytest.raises(ValueError, match="empty table"):
        as_labeled(empty, label="x1")


def test_cache_unpersist_and_resident_blocks(ctx):
    from pyspark import SparkFiles

    X = np.arange(40.0).reshape(20, 2)
    t = _table(ctx, X, 3)
    assert t.cache() is t
    store = t._store
    assert store is not None and store._meta is not None
    assert t.num_rows == 20 and t.blocks is store  # served by the resident blocks
    path = f"{SparkFiles.getRootDirectory()}/mli-blocks/{store._store_id}"
    import os

    assert sorted(os.listdir(path)) == ["p00000", "p00001", "p00002"]
    np.testing.assert_array_equal(t.to_numpy(), X)
    np.testing.assert_array_equal(t.select("c1").to_numpy(), X[:, 1:])
    assert t.unpersist() is t and t._store is None
    # from_numpy's blocks were written by the driver (local mode): they are the table's data,
    # kept while the table lives and removed with it
    assert os.path.exists(path)
    np.testing.assert_array_equal(t.to_numpy(), X)
    t.unpersist()
    del t, store
    import gc

    gc.collect()
    assert not os.path.exists(path)
    # non-numeric tables: a persisted RDD
    s = MLTable.from_rows([("a",), ("b",)], ctx=ctx).cache()
    assert s.rdd.is_cached and s.collect() == [("a",), ("b",)]
    assert not s.unpersist().rdd.is_cached


# ============================================================================ out


def test_to_spark_numeric_and_non_numeric(ctx):
    X = np.arange(6.0).reshape(3, 2)
    df = MLTable.from_numpy(X, columns=["a", "b"], num_partitions=2, ctx=ctx).to_spark()
    assert df.columns == ["a", "b"] and [f.dataType.typeName() for f in df.schema] == \
        ["double", "double"]
    np.testing.assert_array_equal(np.array(df.collect()), X)
    S = sp.csr_matrix(np.array([[0.0, 1.0], [2.0, 0.0]]))
    assert [tuple(r) for r in MLTable.from_numpy(S, ctx=ctx).to_spark().collect()] == \
        [(0.0, 1.0), (2.0, 0.0)]

    rows = [(1, "a", 1.0, True, datetime.date(2020, 1, 2)),
            (None, None, 2, False, datetime.datetime(2020, 1, 3, 4, 5)),
            (3, "c", None, None, None)]
    t = MLTable.from_rows(rows, columns=["i", "s", "f", "b", "t"], num_partitions=2, ctx=ctx)
    sdf = t.to_spark()
    assert [(f.name, f.dataType.typeName()) for f in sdf.schema] == [
        ("i", "long"), ("s", "string"), ("f", "double"), ("b", "boolean"), ("t", "timestamp")]
    got = [tuple(r) for r in sdf.collect()]
    assert got[0] == (1, "a", 1.0, True, datetime.datetime(2020, 1, 2))
    assert got[1] == (None, None, 2.0, False, datetime.datetime(2020, 1, 3, 4, 5))  # int -> double
    assert got[2] == (3, "c", None, None, None)
    # back again
    back = MLTable.from_spark(sdf, ctx=ctx)
    assert back.collect() == got
    bad = MLTable.from_rows([(1,), ("x",)], columns=["mix"], ctx=ctx)
    with pytest.raises(TypeError, match=r"column 'mix' holds values of type\(s\) \['int', 'str'\]"):
        bad.to_spark()
    # mapped numeric tables
    m = MLTable.from_numpy(X, ctx=ctx).map(lambda r: (r[0] + 1,), columns=["y"]).to_spark()
    assert [r.y for r in m.collect()] == [1.0, 3.0, 5.0]


def test_to_pandas_of_rows_and_map_batches_of_sparse(ctx):
    t = MLTable.from_rows([(1, "a"), (2, "b")], columns=["n", "s"], ctx=ctx)
    pd.testing.assert_frame_equal(t.to_pandas(), pd.DataFrame({"n": [1, 2], "s": ["a", "b"]}))
    S = sp.random(12, 5, density=0.4, format="csr", random_state=3)
    ts = MLTable.from_numpy(S, num_partitions=3, ctx=ctx)
    sel = ts.select("x4", "x0")
    assert sel._blocks is not None and sel._rows is None
    assert sel._block_source().map(lambda b: b.is_sparse).collect() == [True] * 3
    np.testing.assert_allclose(sel.to_numpy(), S.toarray()[:, [4, 0]])
    out = ts.map_batches(lambda m: m.array.multiply(2).tocsr())
    np.testing.assert_allclose(out.to_numpy(), 2 * S.toarray())
    assert ts.drop("x0").num_cols == 4
    assert ts.filter(lambda r: r[0] != 0).num_rows == int((S.toarray()[:, 0] != 0).sum())


# ============================================================================ labeled view


def test_labeled_from_numpy_pairs_rows_and_pandas_agree(ctx):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 3))
    y = rng.normal(size=30)
    t = MLTable.from_numpy(X, y, columns=["a", "b", "c"], label="y", num_partitions=3, ctx=ctx)
    assert t.columns == ("a", "b", "c", "y")
    np.testing.assert_array_equal(t.to_numpy(), np.c_[X, y])
    d = t.labeled("y")
    assert isinstance(d, LabeledData) and t.labeled("y") is d  # cached per label
    assert d.feature_names == ["a", "b", "c"] and d.num_features == 3
    assert d.num_rows == 30 and d.num_partitions == 3
    np.testing.assert_array_equal(d.labels(), y)
    # the (X, y) source is used directly: blocks are exactly the ones from_numpy cut
    Xs = d.blocks.map_collect(lambda b: np.array(b[0].array))
    np.testing.assert_array_equal(np.vstack(Xs), X)

    rows = MLTable.from_rows([tuple(r) for r in np.c_[X, y]], columns=["a", "b", "c", "y"],
                             num_partitions=3, ctx=ctx)
    pdf = pd.DataFrame(np.c_[X, y], columns=["a", "b", "c", "y"])
    for other in (as_labeled(rows, label="y"), as_labeled(pdf, label="y", num_partitions=2),
                  as_labeled(t, label="y"), t.labeled("y")):
        assert other.feature_names == ["a", "b", "c"]
        np.testing.assert_array_equal(other.labels(), y)
        gram = other.blocks.map_reduce(lambda b: (b[0].array.T @ b[0].array, b[0].array.T @ b[1]))
        np.testing.assert_allclose(gram[0], X.T @ X)
        np.testing.assert_allclose(gram[1], X.T @ y)
    # another column as the label, and no label at all
    da = t.labeled("a")
    assert da.feature_names == ["b", "c", "y"]
    np.testing.assert_array_equal(da.labels(), X[:, 0])
    none = as_labeled(X, num_partitions=2)
    assert none.feature_names == ["x0", "x1", "x2"] and none.labels().size == 0
    arr = as_labeled(X, y, num_partitions=2)
    np.testing.assert_array_equal(arr.labels(), y)
    # a libsvm-like sparse table with its label column
    S = sp.csr_matrix(np.c_[y, X * (np.abs(X) > 1)])
    ds = MLTable.from_numpy(S, columns=["label", "p", "q", "r"], ctx=ctx).labeled("label")
    assert ds.blocks.map_collect(lambda b: b[0].is_sparse) == [True] * ctx.default_parallelism
    np.testing.assert_allclose(ds.labels(), y)


# ============================================================================ bad input


def test_nan_and_inf_are_rejected_naming_row_and_column(ctx):
    X = np.ones((5, 3))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"finite: row 3, column 'b' is nan"):
        MLTable.from_numpy(X, columns=["a", "b", "c"], ctx=ctx)
    X[3, 1] = 1.0
    X[4, 2] = -np.inf
    with pytest.raises(ValueError, match=r"finite: row 4, column 'x2' is -inf"):
        MLTable.from_numpy(X, ctx=ctx)
    S = sp.csr_matrix(np.array([[0.0, 1.0], [np.inf, 0.0]]))
    with pytest.raises(ValueError, match=r"row 1, column 'x0' is inf"):
        MLTable.from_numpy(S, ctx=ctx)
    with pytest.raises(ValueError, match=r"labels must be finite: row 2 is nan"):
        MLTable.from_numpy(np.ones((3, 2)), np.array([1.0, 2.0, np.nan]), ctx=ctx)
    with pytest.raises(ValueError, match=r"row 1 \(index 11\), column 'v' is missing"):
        MLTable.from_pandas(pd.DataFrame({"v": [1.0, np.nan]}, index=[10, 11]), ctx=ctx)
    # rows tables: checked when the rows become feature blocks
    t = MLTable.from_rows([(1.0, 2.0), (3.0, float("inf"))], columns=["p", "q"],
                          num_partitions=1, ctx=ctx)
    with pytest.raises(ValueError, match=r"finite: row 1 of partition 0, column 'q' is"):
        t.aggregate(lambda m: 0)
    with pytest.raises(ValueError, match=r"column 'q'"):
        as_labeled(t, label="p")
    with pytest.raises(ValueError, match=r"row 0, column 1 is nan"):
        as_matrix(np.array([[1.0, np.nan]]))


def test_ragged_and_non_numeric_rows_are_rejected(ctx):
    with pytest.raises(ValueError, match=r"ragged rows: row 2 has 1 values, expected 2"):
        MLTable.from_rows([(1, 2), (3, 4), (5,)], ctx=ctx)
    with pytest.raises(ValueError, match=r"ragged rows: row 1 has 3 values, expected 2"):
        MLTable.from_numpy([[1, 2], [3, 4, 5]], ctx=ctx)
    with pytest.raises(ValueError, match=r"numeric: row 1, column 'b' holds 'x'"):
        MLTable.from_numpy(np.array([[1, 2], [3, "x"]], dtype=object), columns=["a", "b"],
                           ctx=ctx)
    with pytest.raises(ValueError, match=r"row 0, column 1 holds None"):
        MLTable.from_numpy([[1.0, None]], ctx=ctx)
    t = MLTable.from_numpy(np.arange(4.0).reshape(2, 2), columns=["a", "b"], num_partitions=1,
                           ctx=ctx)
    ragged = t.map(lambda r: r if r[0] == 0 else r[:1])
    with pytest.raises(ValueError, match=r"ragged rows: row 1 of partition 0 has 1 values, "
                                         r"expected 2"):
        ragged.to_numpy()
    late = t.map(lambda r: (r[0], "oops" if r[0] > 0 else r[1]))
    assert late.is_numeric  # decided from the first row...
    with pytest.raises(ValueError, match=r"column 'b' must be numeric: row 1 of partition 0 "
                                         r"holds 'oops' \(str\)"):
        late.to_numpy()  # ...and the conversion names the culprit
    mixed = MLTable.from_rows([(1.0, "a"), (2.0, "b")], columns=["v", "s"], ctx=ctx)
    for action in (mixed.to_numpy, lambda: mixed.aggregate(lambda m: 0),
                   lambda: as_labeled(mixed, label="v")):
        with pytest.raises(ValueError, match=r"column\(s\) \['s'\] are not: row 0 of column 's' "
                                             r"holds 'a' \(str\)"):
            action()
    with pytest.raises(ValueError, match=r"y must be numeric: row 1 holds 'b'"):
        MLTable.from_numpy(np.ones((2, 2)), np.array(["1", "b"], dtype=object), ctx=ctx)


def _expect_all(cases):
    """Each case (function, exception type, regex) raises; a failure names its case."""
    for fn, exc, match in cases:
        try:
            with pytest.raises(exc, match=match):
                fn()
        except BaseException as failure:  # noqa: BLE001 - re-raised with the case named
            raise AssertionError(f"case expecting {exc.__name__} matching {match!r}: "
                                 f"{failure}") from None


def test_empty_and_malformed_construction(ctx):
    cases = [
        (lambda: MLTable.from_numpy(np.zeros((0, 3)), ctx=ctx), ValueError, "0 rows"),
        (lambda: MLTable.from_numpy(np.zeros((3, 0)), ctx=ctx), ValueError, "no columns"),
        (lambda: MLTable.from_numpy(np.zeros(3), ctx=ctx), ValueError, "2-D"),
        (lambda: MLTable.from_numpy(np.zeros((2, 2, 2)), ctx=ctx), ValueError, "2-D"),
        (lambda: MLTable.from_pandas(pd.DataFrame({"a": []}), ctx=ctx), ValueError, "0 rows"),
        (lambda: MLTable.from_pandas(pd.DataFrame(index=[1, 2]), ctx=ctx), ValueError,
         "no columns"),
        (lambda: MLTable.from_rows([], ctx=ctx), ValueError, "empty"),
        (lambda: MLTable.from_rows([()], ctx=ctx), ValueError, "no values"),
        (lambda: MLTable.from_data(None, ctx=ctx), TypeError, "NoneType"),
        (lambda: MLTable.from_data(42, ctx=ctx), TypeError, "int"),
        (lambda: MLTable.from_data("data.csv", ctx=ctx), TypeError, "read_csv"),
        (lambda: MLTable.from_pandas([1, 2], ctx=ctx), TypeError, "pandas DataFrame"),
        (lambda: MLTable.from_numpy(np.ones((2, 2)), columns=["a"], ctx=ctx), ValueError,
         "1 column names for 2 columns"),
        (lambda: MLTable.from_numpy(np.ones((2, 2)), columns=["a", "a"], ctx=ctx), ValueError,
         "duplicate column name 'a'"),
        (lambda: MLTable.from_rows([(1, 2)], columns=["a"], ctx=ctx), ValueError,
         "1 column names for rows of 2 values"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), num_partitions=4, ctx=ctx), ValueError,
         r"num_partitions \(4\) cannot exceed the number of rows \(3\)"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), num_partitions=0, ctx=ctx), ValueError,
         "num_partitions must be an integer >= 1"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), num_partitions=1.5, ctx=ctx), ValueError,
         "num_partitions must be an integer"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), np.ones(2), ctx=ctx), ValueError,
         "X has 3 rows but y has 2"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), np.ones((3, 2)), ctx=ctx), ValueError,
         "y must be 1-D"),
        (lambda: MLTable.from_numpy(np.ones((3, 2)), np.ones(3), columns=["a", "label"],
                                    ctx=ctx), ValueError, "clashes"),
        (lambda: MLTable.from_numpy(np.array([[1 + 2j]]), ctx=ctx), ValueError,
         r"row 0, column 0 holds \(1\+2j\)"),
    ]
    _expect_all(cases)


def test_argument_validation(ctx):
    t = MLTable.from_numpy(np.arange(8.0).reshape(4, 2), columns=["a", "b"], ctx=ctx)
    cases = [
        (lambda: t.select("nope"), KeyError, r"no column 'nope'; columns are \['a', 'b'\]"),
        (lambda: t.select(5), IndexError, "column index 5 out of range for 2 columns"),
        (lambda: t.select(), ValueError, "at least one column"),
        (lambda: t.select("a", "a"), ValueError, "duplicate column name 'a'"),
        (lambda: t.drop("zz"), KeyError, "no column 'zz'"),
        (lambda: t.drop("a", "b"), ValueError, "at least one column"),
        (lambda: t.sample(2.0), ValueError, r"fraction must be in \[0, 1\], got 2.0"),
        (lambda: t.sample(-0.1), ValueError, r"fraction must be in \[0, 1\]"),
        (lambda: t.sample("half"), TypeError, "fraction must be a number"),
        (lambda: t.sample(0.5, seed=1.5), TypeError, "seed must be an integer"),
        (lambda: t.random_split([]), ValueError, "non-empty list"),
        (lambda: t.random_split([1, -1]), ValueError, "non-negative"),
        (lambda: t.random_split([0, 0]), ValueError, "positive sum"),
        (lambda: t.random_split(0.5), TypeError, "weights must be a list of numbers"),
        (lambda: t.random_split(["a", "b"]), TypeError, "weights must be a list of numbers"),
        (lambda: t.take(-1), ValueError, "take expects a number of rows >= 0"),
        (lambda: t.take("3"), TypeError, "take expects an integer"),
        (lambda: t.repartition(0), ValueError, "num_partitions must be an integer >= 1"),
        (lambda: t.map("not a function"), TypeError, "map expects a function"),
        (lambda: t.filter(None), TypeError, "filter expects a function"),
        (lambda: t.flat_map(3), TypeError, "flat_map expects a function"),
        (lambda: t.reduce(1), TypeError, "reduce expects a function"),
        (lambda: t.map_batches([]), TypeError, "map_batches expects a function"),
        (lambda: t.map(lambda r: r, columns="ab"), TypeError, "list of names"),
        (lambda: t.union([(1.0, 2.0)]), TypeError, "union expects an MLTable"),
        (lambda: t.union(t.select("b", "a")), ValueError, "same columns"),
        (lambda: t.join(t, on="zz"), KeyError, "no column 'zz'"),
        (lambda: t.join(t, on="a", how="cross"), ValueError, "how must be one of"),
        (lambda: t.join(t, on=[]), ValueError, "at least one key"),
        (lambda: t.join(pd.DataFrame(), on="a"), TypeError, "join expects an MLTable"),
        (lambda: t.reduce_by("zz", lambda a, b: a), KeyError, "no column 'zz'"),
        (lambda: t.sort_by("zz"), KeyError, "no column 'zz'"),
        (lambda: t.labeled("nope"), KeyError, "no column 'nope'"),
        (lambda: t.select("a").labeled("a"), ValueError, "no feature columns"),
        (lambda: as_labeled(t, label="nope"), ValueError,
         r"label column 'nope' not found; columns are \['a', 'b'\]"),
        (lambda: as_labeled(t, np.ones(4)), ValueError, "y is for array input"),
        (lambda: as_labeled(np.ones((4, 2)), label="a"), ValueError, "pass y instead"),
    ]
    _expect_all(cases)
    with pytest.raises(ValueError, match="map_batches function returned 2 columns, but columns= "
                                         "names 1"):
        t.map_batches(lambda m: m, columns=["only"]).to_numpy()
    with pytest.raises(ValueError, match="must return a 2-D matrix"):
        t.map_batches(lambda m: np.zeros((2, 2, 2))).to_numpy()
    with pytest.raises(ValueError, match="must return numbers"):
        t.map_batches(lambda m: np.array([["a"]])).to_numpy()


# ============================================================================ task errors


class _CustomError(Exception):
    """Defined here: cannot be re-created on the driver by name."""


def _raise_custom(row):
    raise _CustomError(f"bad row {row}")


def test_task_exceptions_reach_the_driver_as_python_exceptions(ctx):
    t = MLTable.from_numpy(np.arange(8.0).reshape(4, 2), columns=["a", "b"], num_partitions=1,
                           ctx=ctx)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        t.map(lambda r: 1 / 0).collect()
    with pytest.raises(ZeroDivisionError):  # sortBy samples right away: an eager job
        t.repartition(2).sort_by(lambda r: 1 / 0)
    with pytest.raises(KeyError) as key_info:
        t.filter(lambda r: {}["missing"]).num_rows
    assert key_info.value.args == ("missing",)  # the message itself, not "'missing'"
    with pytest.raises(ValueError, match="my message"):
        t.aggregate(lambda m: (_ for _ in ()).throw(ValueError("my message")))
    with pytest.raises(TaskError, match=r"_CustomError: bad row \(0\.0, 1\.0\)") as info:
        t.map(_raise_custom).collect()
    assert "Py4J" not in str(info.value) and "Traceback" not in str(info.value)
    assert any("remote traceback" in n and "_raise_custom" in n
               for n in getattr(info.value, "__notes__", []))
    assert t.num_rows == 4 and t.reduce(max) == (6.0, 7.0)  # the table (and Spark) still work


def test_input_kind_is_the_one_place_kinds_are_told_apart(ctx):
    import pandas as pd

    from mli.linalg import LocalMatrix
    from mli.table.kinds import KINDS, input_kind

    t = MLTable.from_numpy(np.ones((4, 2)), ctx=ctx)
    connect = type("DataFrame", (), {"__module__": "pyspark.sql.connect.dataframe"})()
    cases = {"mltable": t, "labeled": t.labeled(None), "localmatrix": LocalMatrix(np.ones((2, 2))),
             "spark": t.to_spark(), "connect": connect, "pandas": pd.DataFrame({"a": [1]}),
             "series": pd.Series([1.0]), "sparse": sp.eye(2, format="csr"),
             "array": np.zeros(3), "text": "a text", "none": None, "other": [1, 2]}
    assert sorted(cases) == sorted(KINDS)
    for kind, value in cases.items():
        assert input_kind(value) == kind, kind
    # a class of another library named DataFrame is not taken for Spark's
    assert input_kind(type("DataFrame", (), {"__module__": "polars"})()) == "other"
