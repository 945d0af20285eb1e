"""Readers and Spark DataFrame conversions (mli.table.io): CSV/TSV, text lines, LibSVM, Parquet;
missing and malformed files; real data from ../shared/data when present."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pyspark import cloudpickle

from conftest import shared_data
from mli import MLTable
import mli.table
from mli.table.mltable import as_labeled

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _write(path, text):
    path.write_text(text)
    return str(path)


# ============================================================================ CSV / TSV


def test_read_csv_numeric_goes_to_blocks(ctx, tmp_path):
    df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 1.5, -2.0, 3.25], "c": [True, False, True, True]})
    path = str(tmp_path / "num.csv")
    df.to_csv(path, index=False)
    t = MLTable.read_csv(path, ctx=ctx)
    assert t.columns == ("a", "b", "c") and t.is_numeric and t._rows is None
    assert t._block_source().glom().map(len).collect() == [1] * t.num_partitions
    np.testing.assert_array_equal(t.to_numpy(), df.to_numpy(dtype=float))
    # rename columns; headerless files
    t2 = mli.table.read_csv(path, columns=["p", "q", "r"], ctx=ctx)
    assert t2.columns == ("p", "q", "r") and t2.num_rows == 4
    nohead = _write(tmp_path / "nohead.csv", "1,2\n3,4\n")
    t3 = MLTable.read_csv(nohead, header=False, columns=["x", "y"], ctx=ctx)
    np.testing.assert_array_equal(t3.to_numpy(), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="got 1 column names for 3 columns"):
        mli.table.read_csv(path, columns=["only"], ctx=ctx)


def test_read_tsv_and_globs(ctx, tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    _write(d / "a.tsv", "u\tv\n1\t2.5\n2\t3.5\n")
    _write(d / "b.tsv", "u\tv\n3\t4.5\n")
    t = MLTable.read_tsv(str(d / "*.tsv"), ctx=ctx)
    assert t.columns == ("u", "v")
    got = t.to_numpy()
    np.testing.assert_array_equal(got[np.argsort(got[:, 0])], [[1, 2.5], [2, 3.5], [3, 4.5]])
    assert mli.table.read_tsv(str(d), ctx=ctx).num_rows == 3  # a directory


def test_read_csv_mixed_and_malformed(ctx, tmp_path):
    path = _write(tmp_path / "mixed.csv", "a,b,name\n1,2.5,x\n2,3.5,y\n3,oops,z\n4,1.0,w\n")
    t = MLTable.read_csv(path, ctx=ctx)
    assert not t.is_numeric
    assert t.schema == [("a", "int"), ("b", "str"), ("name", "str")]
    assert t.collect()[2] == (3, "oops", "z")
    np.testing.assert_array_equal(t.select("a").to_numpy(), [[1], [2], [3], [4]])
    # the non-numeric cell is named (column and row) when numbers are needed
    msg = r"column\(s\) \['b'\] are not: row 2 of column 'b' holds 'oops' \(str\), which is not a number"
    with pytest.raises(ValueError, match=msg):
        t.select("a", "b").to_numpy()
    with pytest.raises(ValueError, match=msg):
        as_labeled(t.select("a", "b"), label="a")
    with pytest.raises(ValueError, match=r"\['b', 'name'\]"):
        as_labeled(t, label="a")

    nulls = _write(tmp_path / "nulls.csv", "a,b\n1,2.5\n2,\n3,4\n")
    with pytest.raises(ValueError, match=r"column 'b' must be numeric: row 1 of partition 0 is "
                                         r"missing \(null\)"):
        MLTable.read_csv(nulls, ctx=ctx).to_numpy()
    nan = _write(tmp_path / "nan.csv", "a,b\n1,2.5\n2,NaN\n3,4\n")
    tn = MLTable.read_csv(nan, ctx=ctx)
    assert np.isnan(tn.to_numpy()[1, 1])  # to_numpy gives the data as it is...
    with pytest.raises(ValueError, match=r"features must be finite: row 1 of partition 0, "
                                         r"column 'b' is nan"):
        as_labeled(tn, label="a")  # ...training data must be finite
    with pytest.raises(ValueError, match=r"label column 'nope' not found; columns are \['a', 'b'\]"):
        as_labeled(tn, label="nope")


def test_missing_paths_and_bad_arguments(ctx, tmp_path):
    missing = str(tmp_path / "nope")
    for reader in (mli.table.read_csv, mli.table.read_tsv, mli.table.read_text, mli.table.read_libsvm, mli.table.read_parquet,
                   MLTable.read_csv, MLTable.read_parquet):
        with pytest.raises(FileNotFoundError, match="no such file or directory: .*nope"):
            reader(missing, ctx=ctx)
    with pytest.raises(FileNotFoundError):
        mli.table.read_csv(str(tmp_path / "*.nothing"), ctx=ctx)
    with pytest.raises(FileNotFoundError, match="cannot access"):
        mli.table.read_csv("nosuchscheme://x/y.csv", ctx=ctx)
    for bad in (None, "", 3):
        with pytest.raises(TypeError, match="path must be a non-empty string"):
            mli.table.read_csv(bad, ctx=ctx)


# ============================================================================ text


def test_read_text_lines(ctx, tmp_path):
    lines = [f"line {i}, with text" for i in range(25)]
    path = _write(tmp_path / "a.txt", "\n".join(lines) + "\n")
    t = MLTable.read_text(path, min_partitions=3, ctx=ctx)
    assert t.columns == ("line",) and not t.is_numeric and t.num_partitions >= 3
    assert t.collect() == [(s,) for s in lines]
    words = t.flat_map(lambda r: [(w,) for w in r[0].split()], columns=["word"])
    counts = dict(words.map(lambda r: (r[0], 1), columns=["word", "n"])
                  .reduce_by("word", lambda a, b: (a[0] + b[0],)).collect())
    assert counts["line"] == 25 and counts["text"] == 25
    assert t.sample(0.5, seed=3).collect() == \
        MLTable.read_text(path, min_partitions=1, ctx=ctx).sample(0.5, seed=3).collect()


def test_read_text_splits_like_spark_text_file(ctx, tmp_path):
    # plain local files are read by the Python workers at byte ranges aligned to line
    # starts: the same lines, in the same partitions, as Spark's textFile
    import random

    rnd = random.Random(3)
    pieces = [b"a", b"bc", b"\n", b"\r", b"\r\n", b"\xc3\xa9", b"\xff", b"\xe6\x97", b" ",
              b"xyz" * 5, b"\n\n"]
    for i in range(12):
        data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 60)))
        path = tmp_path / f"f{i}.txt"
        path.write_bytes(data)
        for parts in (1, 3, 17):
            t = MLTable.read_text(str(path), min_partitions=parts, ctx=ctx)
            spark = ctx.sc.textFile(str(path), parts)
            assert t.rdd.glom().collect() == spark.map(lambda s: (s,)).glom().collect(), data
    # directories (hidden files skipped), globs, file:// URIs; gzip goes through Spark
    d = tmp_path / "dir"
    d.mkdir()
    for i in range(3):
        (d / f"p{i}.txt").write_text(f"x{i}\ny{i}\n")
    (d / "_SUCCESS").write_text("no\n")
    for path in (str(d), str(d / "p*.txt"), "file://" + str(d)):
        assert sorted(MLTable.read_text(path, ctx=ctx).collect()) == \
            sorted((s,) for s in ctx.sc.textFile(path).collect())
    import gzip

    with gzip.open(tmp_path / "z.txt.gz", "wt") as f:
        f.write("one\ntwo\n")
    assert MLTable.read_text(str(tmp_path / "z.txt.gz"), ctx=ctx).collect() == [("one",),
                                                                             ("two",)]


# ============================================================================ LibSVM


LIBSVM = """# a comment line
1 1:0.5 3:2
0 2:1.5   # trailing comment

-1 1:1 4:3
1
"""


def test_read_libsvm_sparse_table(ctx, tmp_path):
    path = _write(tmp_path / "a.svm", LIBSVM)
    t = MLTable.read_libsvm(path, ctx=ctx)
    assert t.columns == ("label", "x0", "x1", "x2", "x3") and t.is_numeric
    assert all(t._block_source().map(lambda b: b.is_sparse).collect())
    expected = np.array([[1, 0.5, 0, 2, 0], [0, 0, 1.5, 0, 0], [-1, 1, 0, 0, 3], [1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(t.to_numpy(), expected)
    np.testing.assert_array_equal(t.select("x3", "label").to_numpy(), expected[:, [4, 0]])
    d = t.labeled("label")
    np.testing.assert_array_equal(d.labels(), expected[:, 0])
    assert d.blocks.map_collect(lambda b: sp.issparse(b[0].array)) == [True] * d.num_partitions
    Xt = d.blocks.map_reduce(lambda b: b[0].array.T @ b[1])
    np.testing.assert_array_equal(Xt, expected[:, 1:].T @ expected[:, 0])
    # more features than the file uses; zero-based indices
    wide = mli.table.read_libsvm(path, num_features=6, ctx=ctx)
    assert wide.num_cols == 7 and wide.to_numpy()[:, 5:].sum() == 0
    zb = _write(tmp_path / "zb.svm", "2 0:1 2:5\n")
    np.testing.assert_array_equal(mli.table.read_libsvm(zb, zero_based=True, ctx=ctx).to_numpy(),
                                  [[2, 1, 0, 5]])


def test_read_libsvm_bad_lines_name_the_line(ctx, tmp_path):
    good = [f"{i % 2} 1:{i} 2:0.5" for i in range(40)]

    def with_bad(lineno, text):  # 1-based line number, as in an editor
        lines = list(good)
        lines[lineno - 1] = text
        return _write(tmp_path / f"bad{lineno}.svm", "\n".join(lines) + "\n")

    cases = [
        (33, "1 1:2 2:abc", r"line 33: '2:abc' is not index:value"),
        (5, "x 1:2", r"line 5: label 'x' is not a number"),
        (17, "1 3:1 2:1", r"line 17: indices must be strictly increasing \('2:1'\)"),
        (40, "1 0:1", r"line 40: '0:1' is not index:value with a 1-based"),
        (2, "1 1:nan", r"line 2: '1:nan': feature values must be finite"),
    ]
    for lineno, text, match in cases:
        path = with_bad(lineno, text)
        with pytest.raises(ValueError, match=match) as info:
            mli.table.read_libsvm(path, min_partitions=3, ctx=ctx)
        assert path in str(info.value)
    path = with_bad(12, "1 1:1 9:1")
    with pytest.raises(ValueError, match=r"line 12: feature index 9 \('9:1'\) exceeds num_features=3"):
        mli.table.read_libsvm(path, num_features=3, min_partitions=3, ctx=ctx)
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        mli.table.read_libsvm(path, num_features=0, ctx=ctx)
    empty = _write(tmp_path / "labels-only.svm", "1\n0\n")
    with pytest.raises(ValueError, match="has no features"):
        mli.table.read_libsvm(empty, ctx=ctx)


# ============================================================================ Parquet


def test_read_parquet_written_by_pyarrow_and_spark(ctx, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X = np.random.default_rng(0).normal(size=(50, 3))
    table = pa.table({"f0": X[:, 0], "f1": X[:, 1], "i": np.arange(50, dtype=np.int64)})
    path = str(tmp_path / "arrow.parquet")
    pq.write_table(table, path, row_group_size=10)
    t = MLTable.read_parquet(path, ctx=ctx)
    assert t.columns == ("f0", "f1", "i") and t.is_numeric
    np.testing.assert_array_equal(t.to_numpy(), np.c_[X[:, :2], np.arange(50)])
    sel = mli.table.read_parquet(path, columns=["i", "f1"], ctx=ctx)
    np.testing.assert_array_equal(sel.to_numpy(), np.c_[np.arange(50), X[:, 1]])
    assert mli.table.read_parquet(path, columns="i", ctx=ctx).columns == ("i",)
    with pytest.raises(ValueError, match=r"columns \['zz'\] not in .*; it has \['f0', 'f1', 'i'\]"):
        mli.table.read_parquet(path, columns=["zz"], ctx=ctx)

    # written by Spark (a directory of part files), with a text column
    sdf = ctx.spark.createDataFrame([(float(i), f"s{i}") for i in range(12)], ["v", "s"])
    out = str(tmp_path / "spark.parquet")
    sdf.repartition(3).write.parquet(out)
    ts = MLTable.read_parquet(out, ctx=ctx)
    assert not ts.is_numeric and sorted(ts.collect()) == sorted((float(i), f"s{i}") for i in range(12))
    tv = mli.table.read_parquet(out, columns=["v"], ctx=ctx)
    assert tv.is_numeric and sorted(tv.to_numpy().ravel()) == list(map(float, range(12)))
    # not a Parquet file: a clear message, not a Py4J call name
    csv = _write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"cannot read .*x\.csv as parquet: .*not a Parquet file"):
        mli.table.read_parquet(csv, ctx=ctx)


# ============================================================================ Spark DataFrames


def test_spark_dataframe_round_trips(ctx):
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField("a", T.IntegerType()), T.StructField("b", T.DoubleType())])
    df = ctx.spark.createDataFrame([(1, 0.5), (2, 1.5), (3, 2.5)], schema).coalesce(1)
    t = mli.table.from_spark(df, ctx=ctx)
    assert t.is_numeric and t.columns == ("a", "b")
    back = t.to_spark()
    assert [tuple(r) for r in back.collect()] == [(1.0, 0.5), (2.0, 1.5), (3.0, 2.5)]
    assert [f.dataType.typeName() for f in back.schema] == ["double", "double"]
    # nulls in a numeric column: named, with the row
    dfn = ctx.spark.createDataFrame([(1, 0.5), (2, None)], schema).coalesce(1)
    with pytest.raises(ValueError, match=r"column 'b' must be numeric: row 1 of partition 0 is "
                                         r"missing \(null\)"):
        mli.table.from_spark(dfn, ctx=ctx).to_numpy()
    with pytest.raises(TypeError, match="expected a Spark DataFrame, got DataFrame"):
        mli.table.from_spark(pd.DataFrame({"a": [1]}), ctx=ctx)
    with pytest.raises(ValueError, match="no columns"):
        mli.table.from_spark(ctx.spark.range(3).select(), ctx=ctx)
    # an MLTable made by any route goes to Spark and back
    t2 = MLTable.from_rows([("a", 1), ("b", 2)], columns=["s", "n"], ctx=ctx)
    again = MLTable.from_spark(t2.to_spark(), ctx=ctx)
    assert again.columns == ("s", "n") and sorted(again.collect()) == [("a", 1), ("b", 2)]


# ============================================================================ real data


def test_real_movielens_ratings_tsv(ctx):
    path = shared_data("movielens-100k", "u.data")
    t = MLTable.read_tsv(str(path), header=False, columns=["user", "item", "rating", "ts"],
                         ctx=ctx)
    assert t.is_numeric and t.columns == ("user", "item", "rating", "ts")
    ref = np.loadtxt(path, dtype=np.int64)
    stats = t.aggregate(lambda m: (m.shape[0], m.array.sum(axis=0), m.array.max(axis=0)),
                        combine=lambda a, b: (a[0] + b[0], a[1] + b[1], np.maximum(a[2], b[2])))
    assert stats[0] == 100_000 == len(ref)
    np.testing.assert_array_equal(stats[1], ref.sum(axis=0))
    np.testing.assert_array_equal(stats[2][:3], [943, 1682, 5])
    per_rating = dict(t.select("rating").map(lambda r: (int(r[0]), 1))
                      .reduce_by(0, lambda a, b: (a[0] + b[0],)).collect())
    assert per_rating == {int(k): int(v) for k, v in zip(*np.unique(ref[:, 2], return_counts=True))}


def test_real_sms_spam_text(ctx):
    path = shared_data("sms-spam", "SMSSpamCollection")
    t = MLTable.read_text(str(path), ctx=ctx)
    labeled = t.map(lambda r: tuple(r[0].split("\t", 1)), columns=["label", "text"])
    assert labeled.num_rows == 5574
    counts = dict(labeled.map(lambda r: (r[0], 1)).reduce_by("label", lambda a, b: (a[0] + b[0],))
                  .collect())
    assert counts == {"ham": 4827, "spam": 747}
