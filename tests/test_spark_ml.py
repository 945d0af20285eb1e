"""mli.interop.spark_ml: pyspark.ml Estimators/Models, checked against pyspark.ml's own
estimators on the same DataFrames (same columns out, same evaluator metrics), inside
pyspark.ml's Pipeline and CrossValidator, and through ML persistence."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml import classification as C, clustering as CL, regression as R
from pyspark.ml.evaluation import (BinaryClassificationEvaluator, ClusteringEvaluator,
                                   MulticlassClassificationEvaluator, RegressionEvaluator)
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.recommendation import ALS as SparkALS
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit

from mli.interop import spark_ml as M


def _frame(spark, n=600, d=4, classes=2, seed=0, counts=False):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, (n, d)).astype(float) if counts else rng.standard_normal((n, d))
    w = rng.standard_normal((d, classes))
    y = np.argmax(X @ w + 0.3 * rng.standard_normal((n, classes)), axis=1).astype(float)
    pdf = pd.DataFrame(X, columns=[f"x{j}" for j in range(d)])
    pdf["label"] = y
    pdf["id"] = np.arange(n)
    pdf["target"] = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    df = spark.createDataFrame(pdf).repartition(3)
    return VectorAssembler(inputCols=list(pdf.columns[:d]), outputCol="features").transform(df)


@pytest.fixture(scope="module")
def binary(ctx):
    return _frame(ctx.spark).cache()


def _column(df, name, order="id"):
    rows = df.orderBy(order).select(vector_to_array(name).alias("v")).collect()
    return np.array([r["v"] for r in rows])


def test_logistic_regression_matches_pyspark_ml(binary):
    ours = M.LogisticRegression(reg=0.01, tol=1e-10).fit(binary)
    ref = C.LogisticRegression(regParam=0.01, standardization=False, tol=1e-10,
                               maxIter=200).fit(binary)
    a, b = ours.transform(binary), ref.transform(binary)
    assert set(a.columns) == set(b.columns)                      # pyspark.ml's columns
    assert a.columns[:len(binary.columns)] == binary.columns     # every input column kept
    np.testing.assert_allclose(_column(a, "probability"), _column(b, "probability"), atol=1e-4)
    np.testing.assert_allclose(_column(a, "rawPrediction"), _column(b, "rawPrediction"),
                               atol=1e-3)
    for ev in (BinaryClassificationEvaluator(), BinaryClassificationEvaluator(
            metricName="areaUnderPR"), MulticlassClassificationEvaluator(metricName="f1")):
        assert ev.evaluate(a) == pytest.approx(ev.evaluate(b), abs=1e-4)
    np.testing.assert_allclose(ours.coefficientMatrix, ref.coefficientMatrix.toArray(),
                               atol=1e-4)


def test_multiclass_naive_bayes_matches_pyspark_ml(ctx):
    df = _frame(ctx.spark, classes=3, counts=True, seed=1)
    ours = M.NaiveBayes(smoothing=1.0).fit(df).transform(df)
    ref = C.NaiveBayes(smoothing=1.0).fit(df).transform(df)
    # pyspark.ml smooths the class priors too ((n_c + 1) / (n + K)); mli, as scikit-learn's
    # MultinomialNB, uses n_c / n: the probabilities differ by that alone
    np.testing.assert_allclose(_column(ours, "probability"), _column(ref, "probability"),
                               atol=0.01)
    ev = MulticlassClassificationEvaluator(metricName="accuracy")
    assert ev.evaluate(ours) == pytest.approx(ev.evaluate(ref), abs=0.01)


def test_linear_regression_matches_pyspark_ml(binary):
    ours = M.LinearRegression(labelCol="target").fit(binary).transform(binary)
    ref = R.LinearRegression(labelCol="target", regParam=0.0, standardization=False) \
        .fit(binary).transform(binary)
    ev = RegressionEvaluator(labelCol="target", metricName="rmse")
    assert ev.evaluate(ours) == pytest.approx(ev.evaluate(ref), rel=1e-6)
    assert set(ours.columns) == set(ref.columns)


def test_forest_and_kmeans_outputs(binary):
    forest = M.RandomForest(n_trees=10, max_depth=4, seed=0).fit(binary).transform(binary)
    ref = C.RandomForestClassifier(numTrees=10, maxDepth=4, seed=0).fit(binary) \
        .transform(binary)
    assert set(forest.columns) == set(ref.columns)
    auc = BinaryClassificationEvaluator().evaluate(forest)
    assert auc == pytest.approx(BinaryClassificationEvaluator().evaluate(ref), abs=0.05)
    assert np.allclose(_column(forest, "probability").sum(axis=1), 1.0)
    km = M.KMeans(k=3, seed=0).fit(binary)
    out = km.transform(binary)
    assert out.columns == binary.columns + ["prediction"] and len(km.clusterCenters()) == 3
    ref_km = CL.KMeans(k=3, seed=0).fit(binary).transform(binary)
    assert ClusteringEvaluator().evaluate(out) == pytest.approx(
        ClusteringEvaluator().evaluate(ref_km), abs=0.05)


def test_features_as_columns_or_array(binary):
    cols = ["x0", "x1", "x2", "x3"]
    by_vector = M.LogisticRegression(reg=0.1).fit(binary)
    by_cols = M.LogisticRegression(reg=0.1, featuresCol=cols).fit(binary)
    with_array = binary.withColumn("arr", vector_to_array("features"))
    by_array = M.LogisticRegression(reg=0.1, featuresCol="arr").fit(with_array)
    want = _column(by_vector.transform(binary), "probability")
    np.testing.assert_allclose(_column(by_cols.transform(binary), "probability"), want,
                               atol=1e-12)
    np.testing.assert_allclose(_column(by_array.transform(with_array), "probability"), want,
                               atol=1e-12)
    out = by_vector.setProbabilityCol("").setRawPredictionCol("").transform(binary)
    assert out.columns == binary.columns + ["prediction"]


def test_pipeline_cross_validator_and_train_validation_split(binary):
    df = binary.drop("features")
    lr = M.LogisticRegression()
    pipe = Pipeline(stages=[VectorAssembler(inputCols=["x0", "x1", "x2", "x3"],
                                            outputCol="features"), lr])
    grid = ParamGridBuilder().addGrid(lr.reg, [1e-3, 10.0]).build()
    cv = CrossValidator(estimator=pipe, estimatorParamMaps=grid, numFolds=3, seed=0,
                        evaluator=BinaryClassificationEvaluator()).fit(df)
    assert cv.avgMetrics[0] > cv.avgMetrics[1]             # reg=10 flattens the model
    best = cv.bestModel.stages[-1]
    assert isinstance(best, M.LogisticRegressionModel) and best.mliModel.params["reg"] == 1e-3
    assert set(cv.transform(df).columns) >= set(df.columns) | {"prediction", "probability"}
    tvs = TrainValidationSplit(estimator=M.LinearRegression(labelCol="target"),
                               estimatorParamMaps=ParamGridBuilder().addGrid(
                                   M.LinearRegression().reg, [0.0]).build(),
                               evaluator=RegressionEvaluator(labelCol="target"),
                               seed=0).fit(binary)
    assert tvs.validationMetrics[0] < 0.2


def test_persistence_of_models_estimators_and_pipelines(binary, tmp_path):
    model = M.LogisticRegression(reg=0.05, probabilityCol="p").fit(binary)
    model.write().save(str(tmp_path / "lr"))
    back = M.LogisticRegressionModel.load(str(tmp_path / "lr"))
    assert back.uid == model.uid and back.getProbabilityCol() == "p"
    np.testing.assert_array_equal(_column(back.transform(binary), "p"),
                                  _column(model.transform(binary), "p"))
    est = M.RandomForest(n_trees=3, labelCol="label", seed=7)
    est.write().save(str(tmp_path / "rf"))
    assert M.RandomForest.load(str(tmp_path / "rf")).getOrDefault("n_trees") == 3
    pipe = Pipeline(stages=[M.KMeans(k=2, seed=1, predictionCol="cluster")]).fit(binary)
    pipe.write().save(str(tmp_path / "pipe"))
    again = PipelineModel.load(str(tmp_path / "pipe"))
    a = again.transform(binary).orderBy("id").select("cluster").toPandas()
    b = pipe.transform(binary).orderBy("id").select("cluster").toPandas()
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="holds a .*LogisticRegressionModel, not a "
                                         ".*KMeansModel"):
        M.KMeansModel.load(str(tmp_path / "lr"))


def test_bad_input_gets_clear_errors(binary):
    with pytest.raises(ValueError, match=r"featuresCol names column\(s\) \['feats'\]"):
        M.LogisticRegression(featuresCol="feats").fit(binary)
    with pytest.raises(ValueError, match="labelCol 'y' is not a column"):
        M.LogisticRegression(labelCol="y").fit(binary)
    strings = binary.withColumn("label", binary["label"].cast("string"))
    with pytest.raises(ValueError, match="labelCol 'label' must be numeric, it is string"):
        M.LogisticRegression().fit(strings)
    with pytest.raises(ValueError, match=r"featuresCol columns must be numeric; 'label_s'"):
        M.LogisticRegression(featuresCol=["x0", "label_s"]).fit(
            binary.withColumn("label_s", binary["label"].cast("string")))
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['regParam'\]"):
        M.LogisticRegression(regParam=0.1)
    with pytest.raises(ValueError, match="Invalid value for parameter 'reg' of "
                                         "LogisticRegression"):
        M.LogisticRegression(reg=-1.0).fit(binary)
    with pytest.raises(ValueError, match="label looks continuous"):
        M.LogisticRegression(labelCol="target").fit(binary)
    model = M.LogisticRegression().fit(binary)
    with pytest.raises(ValueError, match=r"output column\(s\) \['prediction'\] already exist"):
        model.transform(model.transform(binary).drop("probability", "rawPrediction"))
    narrow = VectorAssembler(inputCols=["x0", "x1"], outputCol="f2").transform(binary)
    with pytest.raises(Exception, match="a row has 2 features, but the model was fitted "
                                        "with 4"):
        model.setFeaturesCol("f2").transform(narrow).collect()


def _ratings(seed=3):
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((60, 4)), rng.standard_normal((40, 4))
    users, items = np.nonzero(rng.random((60, 40)) < 0.5)
    ratings = (U[users] * V[items]).sum(axis=1) + 3 + 0.1 * rng.standard_normal(len(users))
    return pd.DataFrame({"user": users, "item": items, "rating": ratings,
                         "id": range(len(users))})


def test_als_matches_pyspark_ml_als(ctx):
    # same objective (reg scaled by each row's rating count, as regParam), same held-out
    # ratings: the same columns out and the RegressionEvaluator's RMSE within 5%.
    # (pyspark.ml's ALS checkpoints every 10 iterations: the MLContext sets the directory
    # it needs in local mode; without one its lineage overflows the JVM's stack)
    pdf = _ratings()
    test = pdf.sample(frac=0.2, random_state=0)
    train = pdf.drop(test.index)
    test = test[test.user.isin(train.user) & test.item.isin(train.item)]
    tr, te = ctx.spark.createDataFrame(train), ctx.spark.createDataFrame(test)
    ev = RegressionEvaluator(labelCol="rating", metricName="rmse")
    ref = SparkALS(rank=4, regParam=0.05, maxIter=15, seed=0, userCol="user", itemCol="item",
                   ratingCol="rating").fit(tr).transform(te)
    ours = M.ALS(rank=4, reg=0.05, max_iter=15, seed=0).fit(tr).transform(te)
    assert ours.columns == ref.columns == te.columns + ["prediction"]
    rmse_ref, rmse_ours = ev.evaluate(ref), ev.evaluate(ours)
    assert rmse_ours == pytest.approx(rmse_ref, rel=0.05)
    assert rmse_ours < 0.5 * test.rating.std()        # (both learned the ratings)


def test_als_estimator_transform_tuning_and_persistence(ctx, tmp_path):
    pdf = _ratings()
    ratings = pdf.rating.to_numpy()
    df = ctx.spark.createDataFrame(pdf)
    ours = M.ALS(rank=4, reg=0.05, max_iter=15, seed=0).fit(df)
    a = ours.transform(df)
    assert a.columns == df.columns + ["prediction"]            # every input column kept
    got = a.orderBy("id").select("prediction").toPandas()["prediction"].to_numpy()
    want = ours.mliModel.predict(pdf[["user", "item"]].to_numpy())
    np.testing.assert_allclose(got, want, rtol=1e-6)
    ev = RegressionEvaluator(labelCol="rating", metricName="rmse")
    assert ev.evaluate(a) == pytest.approx(np.sqrt(np.mean((want - ratings) ** 2)), rel=1e-6)
    ours.write().save(str(tmp_path / "als"))
    back = M.ALSModel.load(str(tmp_path / "als"))
    np.testing.assert_array_equal(
        back.transform(df).orderBy("id").select("prediction").toPandas()["prediction"], got)
    als = M.ALS(rank=4, max_iter=5, seed=0)
    tvs = TrainValidationSplit(estimator=als, evaluator=ev, seed=0,
                               estimatorParamMaps=ParamGridBuilder().addGrid(
                                   als.reg, [0.05, 50.0]).build()).fit(df)
    assert tvs.validationMetrics[0] < tvs.validationMetrics[1]
    with pytest.raises(ValueError, match="output column 'prediction' already exists"):
        ours.transform(a)


def test_wrap_checks_its_input(binary):
    with pytest.raises(TypeError, match="wrap expects a fitted mli Model, got str"):
        M.wrap("model")
    fitted = M.LogisticRegression().fit(binary).mliModel
    with pytest.raises(TypeError, match=r"unknown column parameter\(s\) \['labelcol'\]"):
        M.wrap(fitted, labelcol="y")
    out = M.wrap(fitted, featuresCol=["x0", "x1", "x2", "x3"]).transform(binary)
    assert out.columns[:len(binary.columns)] == binary.columns



def test_weight_col_matches_pyspark_ml(binary):
    """weightCol: the weighted models of pyspark.ml (logistic and linear regression), the
    weighted evaluators agree; an unset or empty weightCol is unweighted."""
    from pyspark.sql import functions as F

    df = binary.withColumn("w", (F.col("id") % 4).cast("double"))
    ours = M.LogisticRegression(reg=0.01, tol=1e-10, weightCol="w").fit(df)
    ref = C.LogisticRegression(regParam=0.01, standardization=False, tol=1e-10, maxIter=200,
                               weightCol="w").fit(df)
    np.testing.assert_allclose(ours.coefficientMatrix, ref.coefficientMatrix.toArray(),
                               atol=1e-4)
    ev = BinaryClassificationEvaluator(weightCol="w")
    assert ev.evaluate(ours.transform(df)) == pytest.approx(ev.evaluate(ref.transform(df)),
                                                            abs=1e-4)
    # (regParam 0: pyspark.ml divides a ridge term by the label's standard deviation)
    lin = M.LinearRegression(labelCol="target", weightCol="w").fit(df)
    lref = R.LinearRegression(regParam=0.0, standardization=False, labelCol="target",
                              weightCol="w", solver="normal").fit(df)
    np.testing.assert_allclose(lin.mliModel.coef_, lref.coefficients.toArray(), atol=1e-6)
    plain = M.LogisticRegression(reg=0.01, tol=1e-10).fit(df).coefficientMatrix
    empty = M.LogisticRegression(reg=0.01, tol=1e-10, weightCol="").fit(df).coefficientMatrix
    np.testing.assert_array_equal(plain, empty)
    assert not np.allclose(plain, ours.coefficientMatrix)
    assert not M.ALS().hasParam("weightCol")   # ALS does not weight ratings
    tree = M.DecisionTree(weightCol="w").fit(df).mliModel
    assert tree.feature_importances_.shape == (4,)
    for bad, match in (("nope", "weightCol 'nope' is not a column"),
                       ("label", "weightCol 'label' is also the label column"),
                       ("features", "weightCol 'features' must be numeric")):
        with pytest.raises(ValueError, match=match):
            M.LogisticRegression(weightCol=bad).fit(df)
    with pytest.raises(ValueError, match="w must hold finite weights >= 0"):
        M.LogisticRegression(weightCol="w").fit(df.withColumn("w", F.lit(-1.0)))


def test_sparse_vectors_stay_sparse(ctx):
    """Hashed text (2^18 features) as pyspark.ml makes it: the vectors become CSR blocks
    (no per-row arrays of 2^18 doubles), the model scores them sparse, and it ranks the test
    set as pyspark.ml's LogisticRegression does."""
    from pyspark.ml.feature import HashingTF, Tokenizer

    import mli
    from mli.algorithms import LogisticRegression

    rng = np.random.default_rng(3)
    vocab = np.array([f"w{i}" for i in range(2000)])
    docs = [(" ".join(rng.choice(vocab[:1000] if i % 2 else vocab[1000:], 6).tolist()
                      + rng.choice(vocab, 6).tolist()), float(i % 2), i) for i in range(1200)]
    raw = ctx.spark.createDataFrame(docs, ["text", "label", "id"])
    words = Tokenizer(inputCol="text", outputCol="words").transform(raw)
    df = HashingTF(inputCol="words", outputCol="features", numFeatures=1 << 18) \
        .transform(words).repartition(3).cache()
    table = mli.MLTable.from_spark(df.select("features", "label"))
    assert table.num_cols == (1 << 18) + 1 and table.columns[0] == "features_0"
    kinds = table.blocks.map_collect(lambda b: type(b.array).__name__)
    assert set(kinds) == {"csr_matrix"}
    train, test = df.randomSplit([0.7, 0.3], seed=1)
    ours = M.LogisticRegression(reg=1e-3).fit(train)
    ref = C.LogisticRegression(regParam=1e-3, standardization=False).fit(train)
    ev = BinaryClassificationEvaluator()
    scored = ours.transform(test)
    assert scored.columns == test.columns + ["prediction", "probability", "rawPrediction"]
    assert ev.evaluate(scored) == pytest.approx(ev.evaluate(ref.transform(test)), abs=2e-3)
    # mli's own API takes the vector column too (one column per entry)
    core = LogisticRegression(reg=1e-3).fit(train.select("features", "label"), label="label")
    assert core.n_features == 1 << 18
    np.testing.assert_allclose(core.coef_, ours.mliModel.coef_, rtol=1e-6, atol=1e-9)


def test_vector_columns_of_mixed_kinds_and_bad_vectors(ctx):
    from pyspark.ml.linalg import Vectors

    import mli

    good = ctx.spark.createDataFrame([(Vectors.dense([1.0, 2.0]), 1.0),
                                      (Vectors.sparse(2, [0], [3.0]), 0.0)], ["f", "label"])
    table = mli.MLTable.from_spark(good)
    assert table.columns == ("f_0", "f_1", "label")
    np.testing.assert_array_equal(table.to_numpy(), [[1, 2, 1], [3, 0, 0]])
    ragged = ctx.spark.createDataFrame([(Vectors.dense([1.0, 2.0]), 1.0),
                                        (Vectors.sparse(3, [0], [3.0]), 0.0)], ["f", "label"])
    with pytest.raises(ValueError, match="column 'f': row 0 of partition 0 holds a vector of "
                                         "size 2, but the column's vectors have 3 entries"):
        mli.MLTable.from_spark(ragged.coalesce(1)).to_numpy()
    from pyspark.sql import functions as F

    nulls = good.withColumn("f", F.when(F.col("label") == 0.0, F.lit(None))
                            .otherwise(F.col("f")))
    with pytest.raises(ValueError, match="column 'f': row 1 of partition 0 is missing"):
        mli.MLTable.from_spark(nulls.coalesce(1)).to_numpy()
    nan = ctx.spark.createDataFrame([(Vectors.dense([1.0, float("nan")]), 1.0)], ["f", "label"])
    with pytest.raises(ValueError, match="features must be finite.*column 'f_1'"):
        mli.MLTable.from_spark(nan).to_numpy()


def test_a_null_feature_is_refused_at_transform(ctx, binary):
    # pyspark.ml's VectorAssembler refuses nulls ("handleInvalid"); the adapters' models
    # refuse them too, naming the column, on the SQL (linear) and the Python paths
    pdf = binary.toPandas()
    cols = [f"x{j}" for j in range(4)]
    holes = pdf.copy()
    holes.loc[3, cols[1]] = np.nan
    holes = ctx.spark.createDataFrame(holes[cols + ["label"]]).replace(float("nan"), None)
    for est in (M.LogisticRegression(featuresCol=cols), M.NaiveBayes(featuresCol=cols,
                                                                     kind="gaussian")):
        model = est.fit(binary)
        with pytest.raises(Exception, match=f"featuresCol column '{cols[1]}' is null"):
            model.transform(holes).collect()

