"""Run by tests/test_connect.py in a subprocess: mli as a Spark Connect client (this process
starts no JVM; pyspark also refuses a Connect session beside a classic one). Each check
prints ``ok NAME`` or ``fail NAME <error>``; the test asserts every one said ok.

    python connect_checks.py sc://host:port
"""
import os
import sys
import traceback

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

import mli
from mli.errors import ConnectUnsupportedError

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def raises(exc_type, fragment, fn):
    try:
        fn()
    except exc_type as exc:
        assert fragment in str(exc), f"{fragment!r} not in: {str(exc)[:500]}"
        return
    raise AssertionError(f"no {exc_type.__name__} raised")


def data(n=3000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    y = (X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0).astype(float)
    return X, y


@check
def default_context_is_the_active_connect_session(spark, url):
    ctx = mli.get_context()
    assert ctx.is_connect and ctx.spark is spark
    assert ctx.master_url == "local[2]", ctx.master_url
    assert ctx.default_parallelism == 2
    raises(ConnectUnsupportedError, "classic Spark session", lambda: ctx.sc)
    other = mli.MLContext(remote=url)
    assert other.is_connect and "remote=" in repr(other)


@check
def dataframe_fit_equals_numpy_fit(spark, url):
    """A Connect DataFrame's blocks are written by the executors; same model as numpy."""
    from mli.algorithms import LogisticRegression

    X, y = data()
    pdf = pd.DataFrame(X, columns=list("abcd")).assign(label=y)
    m_df = LogisticRegression(reg=0.1).fit(spark.createDataFrame(pdf).repartition(3),
                                           label="label")
    m_np = LogisticRegression(reg=0.1).fit(X, y)
    np.testing.assert_allclose(m_df.coef_, m_np.coef_, rtol=1e-6, atol=1e-9)


@check
def predict_on_a_connect_dataframe(spark, url):
    from mli.algorithms import KMeans, LogisticRegression

    X, y = data()
    m = LogisticRegression(reg=0.1).fit(X, y)
    pdf = pd.DataFrame(X, columns=list("abcd"))
    out = m.predict(spark.createDataFrame(pdf))
    assert type(out).__module__.startswith("pyspark.sql.connect"), type(out)
    assert out.columns == ["prediction"]
    np.testing.assert_array_equal(out.toPandas()["prediction"].to_numpy(), m.predict(X))
    np.testing.assert_array_equal(m.predict(pdf).to_numpy(), m.predict(X))
    km = KMeans(k=3, seed=0).fit(spark.createDataFrame(pdf))
    assert km.centers.shape == (3, 4) and np.isfinite(km.cost)
    raises(ValueError, "numeric feature columns",
           lambda: m.predict(spark.createDataFrame([("a", 1.0, 2.0, 3.0)], "a string, b double,"
                                                   " c double, d double")))


@check
def table_from_numpy_with_label(spark, url):
    from mli.algorithms import LinearRegression

    rng = np.random.default_rng(2)
    X = rng.standard_normal((800, 3))
    z = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    table = mli.MLTable.from_numpy(X, z, num_partitions=3)
    m = LinearRegression(reg=0.0).fit(table, label="label")
    np.testing.assert_allclose(m.coef_.ravel(), [1.0, -2.0, 0.5], atol=1e-6)


@check
def wrong_input_says_what_to_use(spark, url):
    from mli.algorithms import LogisticRegression

    raises(ConnectUnsupportedError, "MLTable.from_numpy",
           lambda: mli.MLTable.from_rows([(1.0, "a")]))
    text = spark.createDataFrame([(1.0, "a"), (0.0, "b")], "y double, s string")
    raises(ConnectUnsupportedError, "'s' (StringType)",
           lambda: LogisticRegression().fit(text, label="y"))
    nulls = spark.createDataFrame([(1.0, None), (0.0, 2.0)], "y double, x double")
    raises(ValueError, "column 'x' must be numeric: row 0 of partition",
           lambda: LogisticRegression().fit(nulls, label="y"))
    inf = spark.createDataFrame([(1.0, float("inf")), (0.0, 2.0)], "y double, x double")
    raises(ValueError, "must be finite", lambda: LogisticRegression().fit(inf, label="y"))


@check
def readers(spark, url):
    """read_csv / read_parquet over Connect: the server reads, the executors write the
    blocks; the model equals the numpy fit's."""
    import os
    import tempfile

    from mli.algorithms import LogisticRegression

    X, y = data(600, 3, seed=4)
    d = tempfile.mkdtemp(prefix="mli-connect-read-")
    csv = os.path.join(d, "t.csv")
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y).to_csv(csv, index=False)
    ref = LogisticRegression(reg=0.1).fit(X, y)
    m = LogisticRegression(reg=0.1).fit(mli.MLTable.read_csv(csv), label="label")
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    spark.read.csv(csv, header=True, inferSchema=True).write.parquet(os.path.join(d, "p"))
    m = LogisticRegression(reg=0.1).fit(mli.MLTable.read_parquet(os.path.join(d, "p")),
                                        label="label")
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    raises(FileNotFoundError, "no such file", lambda: mli.MLTable.read_csv(d + "/missing"))
    raises(ConnectUnsupportedError, "spark.read.text", lambda: mli.MLTable.read_text(csv))
    # LibSVM: Spark reads the lines, the executors parse them into CSR blocks
    import scipy.sparse as sp

    S = sp.random(200, 7, density=0.3, format="csr", random_state=3)
    ys = (np.asarray(S.sum(axis=1)).ravel() > 0.5).astype(float)
    svm = os.path.join(d, "t.svm")
    with open(svm, "w") as f:
        for i in range(S.shape[0]):
            row = S.getrow(i)
            f.write(f"{ys[i]:g} " + " ".join(f"{j + 1}:{float(v)!r}" for j, v in
                                            zip(row.indices, row.data)) + "\n")
    t = mli.MLTable.read_libsvm(svm, num_features=7)
    assert t.num_cols == 8 and t.num_rows == 200
    np.testing.assert_array_equal(t.to_numpy(), np.column_stack([ys, S.toarray()]))
    m = LogisticRegression(reg=0.1).fit(t, label="label")
    ref = LogisticRegression(reg=0.1).fit(S, ys)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    found = mli.MLTable.read_libsvm(svm)  # num_features found by the scan
    assert found.num_cols == 1 + int(S.indices.max()) + 1
    bad = os.path.join(d, "bad.svm")
    with open(bad, "w") as f:
        f.write("1 1:0.5\n0 2:x\n")
    raises(ValueError, "line 2: '2:x' is not index:value", lambda: mli.MLTable.read_libsvm(bad))
    raises(FileNotFoundError, "no such file", lambda: mli.MLTable.read_libsvm(d + "/none"))


@check
def conformance_of_every_algorithm(spark, url):
    """mli.core.conformance's checks (fit, predict, save/load, partition invariance, wrong
    input) of every registered algorithm, over Connect, on the test suite's cases."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from conformance_cases import CASES, all_cases

    from mli.core.conformance import CHECKS, registered_algorithms

    missing = sorted({c.__name__ for c in registered_algorithms()
                      if c.__module__.startswith("mli.")} - set(CASES))
    assert not missing, f"no conformance case for {missing}"
    failed = []
    for case in all_cases():
        for check_fn in CHECKS:
            try:
                check_fn(case)
            except Exception as exc:  # noqa: BLE001 - collected, reported together
                failed.append(f"{case.name} {check_fn.__name__}: {type(exc).__name__}: "
                              f"{str(exc)[:300]}")
    assert not failed, " || ".join(failed)


@check
def pipeline_predict_on_a_connect_dataframe(spark, url):
    from mli.algorithms import LogisticRegression, NaiveBayes
    from mli.featurize import HashingTF, Normalizer, Tokenizer
    from mli.pipeline import Pipeline

    docs = ["free prize now", "lunch at noon", "win a free prize", "see you at lunch"] * 25
    labels = np.array([1.0, 0.0, 1.0, 0.0] * 25)
    m = Pipeline([Tokenizer(), HashingTF(2 ** 8), NaiveBayes()]).fit(docs, labels)
    out = m.predict(spark.createDataFrame(pd.DataFrame({"text": docs})))
    assert type(out).__module__.startswith("pyspark.sql.connect") and out.columns == [
        "prediction"]
    np.testing.assert_array_equal(out.toPandas()["prediction"].to_numpy(), m.predict(docs))
    X, y = data(300, 3, seed=5)
    mm = Pipeline([Normalizer(), LogisticRegression()]).fit(X, y)
    frame = spark.createDataFrame(pd.DataFrame(X, columns=["a", "b", "c"]))
    np.testing.assert_array_equal(mm.predict(frame).toPandas()["prediction"].to_numpy(),
                                  mm.predict(X))
    proba = mm.predict_proba(frame).toPandas().to_numpy()
    np.testing.assert_allclose(proba, mm.predict_proba(X))
    raises(ValueError, "one text column or numeric columns",
           lambda: m.predict(spark.createDataFrame([("a", "b")], "s string, t string")))


@check
def pipeline_over_a_text_dataframe(spark, url):
    """A pipeline fitted on a Connect DataFrame of (text, label): the executors write the
    (texts, y) blocks; the same model as the fit on the local lists."""
    from mli.algorithms import NaiveBayes
    from mli.featurize import HashingTF, Tokenizer
    from mli.pipeline import Pipeline

    docs = ["free prize now", "lunch at noon", "win a free prize", "see you at lunch",
            "prize prize", "noon meeting"] * 20
    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0] * 20)
    frame = spark.createDataFrame(pd.DataFrame({"text": docs, "label": labels})).repartition(3)
    steps = lambda: [Tokenizer(), HashingTF(2 ** 8), NaiveBayes()]  # noqa: E731
    m = Pipeline(steps()).fit(frame, label="label")
    ref = Pipeline(steps()).fit(docs, labels)
    np.testing.assert_array_equal(m.predict(docs), ref.predict(docs))
    np.testing.assert_allclose(m.predict_proba(docs), ref.predict_proba(docs), rtol=1e-12)
    nulls = spark.createDataFrame([("a b", 1.0), (None, 0.0)], "text string, label double")
    raises(ValueError, "column 'text' is null in row 1",
           lambda: Pipeline(steps()).fit(nulls.coalesce(1), label="label"))
    two = spark.createDataFrame([("a", "b", 1.0)], "s string, t string, label double")
    raises(ValueError, "one text (string) column", lambda: Pipeline(steps()).fit(two,
                                                                                 label="label"))


@check
def pipeline_transform_on_a_connect_dataframe(spark, url):
    """A fitted pipeline's (and a transformer pipeline's) features of a Connect DataFrame:
    a lazy DataFrame of f0.. columns (keep= columns after them), equal to the features of
    the local input; outputs that are no matrix, wrong columns and keep= are refused."""
    from mli.algorithms import LogisticRegression, NaiveBayes
    from mli.featurize import HashingTF, Normalizer, Tokenizer
    from mli.pipeline import Pipeline

    docs = ["free prize now", "lunch at noon", "win a free prize", "see you at lunch"] * 25
    labels = np.array([1.0, 0.0, 1.0, 0.0] * 25)
    m = Pipeline([Tokenizer(), HashingTF(2 ** 5), NaiveBayes()]).fit(docs, labels)
    frame = spark.createDataFrame(pd.DataFrame({"text": docs, "id": np.arange(100)}))
    out = m.transform(frame, keep=["id"])
    assert type(out).__module__.startswith("pyspark.sql.connect")
    assert out.columns == [f"f{j}" for j in range(32)] + ["id"], out.columns
    got = out.toPandas()
    np.testing.assert_array_equal(got[[f"f{j}" for j in range(32)]].to_numpy(),
                                  m.transform(docs).toarray())
    np.testing.assert_array_equal(got["id"].to_numpy(), np.arange(100))
    assert str(out.schema["id"].dataType) == "LongType()", out.schema
    X, y = data(300, 3, seed=6)
    mm = Pipeline([Normalizer(), LogisticRegression()]).fit(X, y)
    nums = spark.createDataFrame(pd.DataFrame(X, columns=["a", "b", "c"]))
    np.testing.assert_allclose(mm.transform(nums).toPandas().to_numpy(), mm.transform(X),
                               rtol=1e-15)
    feats = (Tokenizer() | HashingTF(2 ** 4)).transform(frame.select("text"))
    np.testing.assert_array_equal(feats.toPandas().to_numpy(),
                                  (Tokenizer() | HashingTF(2 ** 4)).transform(docs).toarray())
    raises(ConnectUnsupportedError, "must be a numeric matrix",
           lambda: Pipeline([Tokenizer()]).transform(frame.select("text")))
    raises(ValueError, "keep column 'nope' not found",
           lambda: m.transform(frame, keep=["nope"]))
    raises(ValueError, "are neither",
           lambda: mm.transform(spark.createDataFrame([("a", "b", "c")],
                                                      "a string, b string, c string")))


@check
def spark_ml_estimators_pipeline_and_persistence(spark, url):
    """mli.interop.spark_ml over Connect: a pyspark.ml Pipeline with an mli stage, tuned by
    CrossValidator, evaluated by pyspark.ml, saved and loaded."""
    import tempfile

    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    from mli.interop import spark_ml as M

    X, y = data(1500, 4, seed=8)
    df = spark.createDataFrame(pd.DataFrame(X, columns=list("abcd")).assign(label=y))
    lr = M.LogisticRegression()
    pipe = Pipeline(stages=[VectorAssembler(inputCols=list("abcd"), outputCol="features"), lr])
    cv = CrossValidator(estimator=pipe, numFolds=2, seed=0,
                        estimatorParamMaps=ParamGridBuilder().addGrid(lr.reg, [1e-3, 1.0])
                        .build(), evaluator=BinaryClassificationEvaluator()).fit(df)
    assert cv.avgMetrics[0] > 0.9, cv.avgMetrics
    out = cv.bestModel.transform(df)
    assert out.columns[:5] == list("abcd") + ["label"], out.columns
    auc = BinaryClassificationEvaluator().evaluate(out)
    assert auc > 0.9, auc
    path = os.path.join(tempfile.mkdtemp(), "pipe")
    cv.bestModel.write().save(path)
    again = PipelineModel.load(path)
    a = cv.bestModel.transform(df).select("probability").toPandas()
    b = again.transform(df).select("probability").toPandas()
    assert [type(s).__name__ for s in again.stages] == ["VectorAssembler",
                                                        "LogisticRegressionModel"], again.stages
    diff = np.abs(np.vstack(a.probability.map(lambda v: v.toArray())) -
                  np.vstack(b.probability.map(lambda v: v.toArray()))).max()
    assert diff == 0.0, (diff, auc, BinaryClassificationEvaluator().evaluate(again.transform(df)))


@check
def weights_and_sparse_vectors_over_connect(spark, url):
    """sample_weight as a column of a Connect DataFrame equals the numpy fit with those
    weights; hashed text (2^18-entry vectors) trains from CSR blocks the executors write and
    is scored by the pyspark.ml adapter (weightCol set); dense vectors fit as the numpy
    arrays do."""
    from pyspark.ml.feature import HashingTF, Tokenizer
    from pyspark.sql import functions as F

    from mli.algorithms import LogisticRegression
    from mli.interop import spark_ml as M

    X, y = data(1200, 4, seed=9)
    w = np.arange(len(y)) % 3.0
    pdf = pd.DataFrame(X, columns=list("abcd")).assign(label=y, w=w)
    remote = LogisticRegression(reg=0.01).fit(spark.createDataFrame(pdf).repartition(3),
                                              label="label", sample_weight="w")
    local = LogisticRegression(reg=0.01).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(remote.coef_, local.coef_, rtol=1e-8)
    rng = np.random.default_rng(2)
    vocab = np.array([f"w{i}" for i in range(500)])
    docs = pd.DataFrame({"text": [" ".join(rng.choice(vocab[:250] if i % 2 else vocab[250:], 8))
                                  for i in range(600)], "label": np.arange(600) % 2 * 1.0})
    text = HashingTF(inputCol="words", outputCol="features", numFeatures=1 << 18).transform(
        Tokenizer(inputCol="text", outputCol="words").transform(spark.createDataFrame(docs)))
    text = text.withColumn("w", F.lit(1.0))
    table = mli.MLTable.from_spark(text.select("features", "label"))
    assert table.num_cols == (1 << 18) + 1, table.num_cols
    model = M.LogisticRegression(reg=1e-3, weightCol="w").fit(text)
    out = model.transform(text).select("label", "prediction").toPandas()
    assert (out.label == out.prediction).mean() > 0.95, (out.label == out.prediction).mean()
    # narrow (dense) vectors: the JVM unpacks them into arrays first; a null one is refused
    from pyspark.ml.feature import VectorAssembler

    vec = VectorAssembler(inputCols=list("abcd"), outputCol="features").transform(
        spark.createDataFrame(pdf).repartition(3)).select("features", "label", "w")
    dense = LogisticRegression(reg=0.01).fit(vec, label="label", sample_weight="w")
    np.testing.assert_allclose(dense.coef_, local.coef_, rtol=1e-8)
    holes = vec.withColumn("features", F.when(F.col("w") == 2.0, F.lit(None))
                           .otherwise(F.col("features")))
    try:
        mli.MLTable.from_spark(holes).to_numpy()
    except ValueError as exc:
        assert "column 'features': row" in str(exc) and "is missing (null)" in str(exc), exc
    else:
        raise AssertionError("a null vector was not refused")


@check
def search_over_a_connect_dataframe(spark, url):
    """The ML Optimizer on a Connect DataFrame: split on the server, batched partial fits
    as gang runs; the best model is what its hyperparameters give; bad input is named."""
    from mli.algorithms import LogisticRegression
    from mli.search import search

    X, y = data(n=2000)
    pdf = pd.DataFrame(X, columns=list("abcd")).assign(label=y)
    df = spark.createDataFrame(pdf).repartition(2)
    r = search(df, label="label", algorithms="LogisticRegression", budget=120, seed=0)
    assert r.passes <= 120 and 0.8 < r.best_metric <= 1.0, r
    assert r.best_model.feature_names == tuple("abcd")
    assert r.leaderboard[0]["metric"] == r.best_metric
    again = LogisticRegression(**r.best_model.params).fit(X, y)  # (all rows: close)
    np.testing.assert_allclose(again.coef_, r.best_model.coef_, rtol=0.5, atol=0.5)
    raises(ValueError, "no hyperparameter 'alpha'",
           lambda: search(df, label="label", algorithms="LogisticRegression",
                          space={"alpha": 1.0}))
    raises(ValueError, "label='column'", lambda: search(df, task="classification"))


@check
def sklearn_estimator_fits_through_the_connect_session(spark, url):
    from sklearn.model_selection import cross_val_score

    from mli.interop.sklearn import LogisticRegression

    X, y = data(600, 4, seed=9)
    clf = LogisticRegression(reg=0.01).fit(X, y)
    assert clf.score(X, y) > 0.8
    assert cross_val_score(LogisticRegression(reg=0.01), X, y, cv=2).mean() > 0.8


def _block_dirs(_batches):
    import os

    import pyarrow as pa

    from mli.engine.blocks import root_dir

    root = root_dir()
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    yield pa.RecordBatch.from_pydict({"name": names}, schema=pa.schema([("name", pa.string())]))


def block_dirs(spark):
    """The stores whose blocks sit in the server's executors' block directory."""
    rows = spark.range(0, 2, 1, 2).mapInArrow(_block_dirs, "name string").collect()
    return {r[0] for r in rows}


def _rows(bundle):
    return bundle.shape[0]


@check
def collected_stores_leave_no_files_on_the_server(spark, url):
    """The blocks the executors wrote for a table go once the table is collected (the next
    gang run's tasks remove them): a Connect server outlives its clients' stores."""
    import gc

    X, y = data(2000, 4, seed=5)
    df = spark.createDataFrame(pd.DataFrame(X, columns=list("abcd")).assign(label=y))
    before = block_dirs(spark)
    tables = [mli.MLTable.from_spark(df) for _ in range(3)]
    assert [t.blocks.map_reduce(_rows) for t in tables] == [2000] * 3
    written = block_dirs(spark) - before
    assert len(written) == 3, sorted(written)
    kept = tables.pop()
    del tables
    gc.collect()
    assert kept.blocks.map_reduce(_rows) == 2000  # a gang run: its tasks remove them
    left = block_dirs(spark) & written
    assert left == {kept.blocks._store_id}, (sorted(left), kept.blocks._store_id)

@check
def a_remote_context_removes_its_blocks_when_it_stops(spark, url):
    """MLContext(remote=...).stop() removes the executors' files of the stores it still
    holds (the server keeps a closed session's files until it stops). The test's server
    runs on this machine, so the client can look at the executors' directory. Last: the
    context's stop closes this process's Connect session."""
    X, _ = data(2000, 4, seed=6)
    with mli.MLContext(remote=url) as ctx:
        df = ctx.spark.createDataFrame(pd.DataFrame(X, columns=list("abcd")))
        table = mli.MLTable.from_spark(df, ctx=ctx)
        assert table.blocks.map_reduce(_rows) == 2000
        path = os.path.join(table.blocks.map_collect(_root, with_index=True)[0],
                            table.blocks._store_id)
        assert os.path.isdir(path), path
    assert table is not None and not os.path.exists(path), os.listdir(path)


@check
def cli_train_evaluate_predict_over_connect(spark, url):
    """mli train / evaluate / predict with --remote: the command line as a Connect client
    (after the check above closed this process's session, it opens its own)."""
    import contextlib
    import io
    import tempfile

    from mli.apps import cli

    d = tempfile.mkdtemp()
    X, y = data(800, 3, seed=10)
    pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y).to_csv(f"{d}/t.csv", index=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["train", f"{d}/t.csv", "--label", "y", "--algorithm",
                         "logistic_regression", "--out", f"{d}/m", "--remote", url]) == 0
        assert cli.main(["evaluate", f"{d}/m", f"{d}/t.csv", "--label", "y",
                         "--remote", url]) == 0
        assert cli.main(["predict", f"{d}/m", f"{d}/t.csv", "--out", f"{d}/p.parquet",
                         "--remote", url]) == 0
    text = out.getvalue()
    acc = float(text.split("mli evaluate", 1)[1].split("accuracy", 1)[1].split()[0])
    assert acc > 0.8, text
    assert "800 rows with predictions" in text, text


def _root(index, bundle):
    from mli.engine.blocks import root_dir

    return root_dir()


def main():
    url = sys.argv[1]
    only = sys.argv[2:]
    spark = SparkSession.builder.remote(url).getOrCreate()
    for fn in CHECKS:
        if only and fn.__name__ not in only:
            continue
        try:
            fn(spark, url)
            print("ok", fn.__name__, flush=True)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            tb = traceback.format_exc().replace("\n", " | ")[-3000:]
            print("fail", fn.__name__, f"{type(exc).__name__}: {tb}", flush=True)
    try:
        spark.stop()
    except Exception:  # noqa: BLE001 - the last check's context closed it already
        pass


if __name__ == "__main__":
    main()
