"""NaiveBayes against scikit-learn (predictions and log-probabilities), sparse input, partition
invariance, one pass, bad input, real data (SMS spam, MNIST)."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB

import mli
from _real_data import mnist, sms_spam
from mli.algorithms import NaiveBayes
from mli.table.datasets import class_counts

SKLEARN = {"multinomial": lambda s: MultinomialNB(alpha=s),
           "bernoulli": lambda s: BernoulliNB(alpha=s),
           "gaussian": lambda s: GaussianNB()}


@pytest.fixture(scope="module")
def counts(ctx):
    X, labels = class_counts([[3.0, 1.0, 0.2, 1.0, 0.0, 2.0], [1.0, 3.0, 0.5, 1.0, 0.0, 2.0],
                              [1.0, 1.0, 3.0, 0.1, 0.0, 2.0]], 400)
    y = np.array([2.0, 5.0, 7.0])[labels]
    table = mli.MLTable.from_numpy(sp.csr_matrix(X), y, num_partitions=3).cache()
    yield X, y, table
    table.unpersist()


@pytest.mark.parametrize("kind", ["multinomial", "bernoulli", "gaussian"])
def test_equals_sklearn_on_sparse_blocks(counts, kind):
    X, y, table = counts
    m = NaiveBayes(kind=kind, smoothing=0.5).fit(table, label="label")
    sk = SKLEARN[kind](0.5).fit(X, y)
    np.testing.assert_array_equal(m.classes_, sk.classes_)
    np.testing.assert_array_equal(m.predict(X), sk.predict(X))
    np.testing.assert_allclose(m.predict_log_proba(X), sk.predict_log_proba(X), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(m.predict_proba(sp.csr_matrix(X)), sk.predict_proba(X),
                               atol=1e-12)
    if kind == "gaussian":
        np.testing.assert_allclose(m.theta_, sk.theta_, rtol=1e-12)
        np.testing.assert_allclose(m.var_, sk.var_, rtol=1e-9)
    else:
        np.testing.assert_allclose(m.feature_log_prob_, sk.feature_log_prob_, rtol=1e-12)
    np.testing.assert_allclose(m.class_log_prior_, np.log(sk.class_count_ / len(y)), rtol=1e-12)


def test_dense_one_partition_is_the_same_model(counts):
    X, y, table = counts
    a = NaiveBayes(kind="gaussian").fit(table, label="label")
    b = NaiveBayes(kind="gaussian").fit(mli.MLTable.from_numpy(X, y, num_partitions=1),
                                        label="label")
    np.testing.assert_allclose(a.theta_, b.theta_, rtol=1e-12)
    np.testing.assert_allclose(a.var_, b.var_, rtol=1e-9)


def test_fit_is_one_pass(counts):
    X, y, table = counts
    table.labeled("label").blocks.materialize()
    tracker = table.ctx.sc.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    NaiveBayes().fit(table, label="label")
    assert len(set(tracker.getJobIdsForGroup(None)) - before) == 1


def test_fit_on_fresh_arrays_is_one_job_over_the_driver_written_blocks(ctx):
    """from_numpy's blocks (local mode) are already files: the one pass runs over them,
    without building an RDD of the data (the slow path) and without a write job."""
    from mli.engine.onepass import one_pass
    from mli.optimize import LocalBlocks
    from mli.stats.moments import grouped_moments, merge_grouped

    rng = np.random.default_rng(5)
    X, y = rng.poisson(2.0, size=(300, 4)).astype(float), (np.arange(300) % 2).astype(float)
    table = mli.MLTable.from_numpy(X, y, num_partitions=3, ctx=ctx)
    store = table.labeled("label").blocks
    tracker = ctx.sc.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    NaiveBayes().fit(table, label="label")
    assert len(set(tracker.getJobIdsForGroup(None)) - before) == 1
    assert store._source is None  # no RDD of the data was made
    # LocalBlocks (driver-side, no Spark) take the same path, with a custom combine
    local = LocalBlocks([(X[:100], y[:100]), (X[100:], y[100:])])
    got = one_pass(local, lambda b: grouped_moments(b[0], b[1]), combine=merge_grouped)
    assert sorted(got) == [0.0, 1.0] and got[0.0].n == 150


def test_bad_input(ctx):
    X = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 1.0]])
    negative = np.vstack([X, [[0.0, -1.0]]])
    with pytest.raises(ValueError, match="NaiveBayes: non-negative feature values.*got -1 in "
                                         "feature 1"):
        NaiveBayes().fit(negative, [0, 1, 0, 1, 1])
    NaiveBayes(kind="gaussian").fit(negative, [0, 1, 0, 1, 1])  # fine
    NaiveBayes(kind="bernoulli").fit(negative, [0, 1, 0, 1, 1])  # presence: x > 0
    model = NaiveBayes().fit(X, [0, 1, 0, 1])   # a multinomial model scores counts only
    with pytest.raises(ValueError, match="NaiveBayesModel: non-negative.*feature 1"):
        model.predict(negative)
    table = mli.MLTable.from_numpy(negative, num_partitions=2)
    with pytest.raises(ValueError, match="NaiveBayesModel: non-negative.*feature 1"):
        model.predict(table).to_numpy()  # in a Spark task: the same error
    with pytest.raises(ValueError, match="at least 2 classes"):
        NaiveBayes().fit(X, np.ones(4))
    with pytest.raises(ValueError, match="needs labels"):
        NaiveBayes().fit(X)
    with pytest.raises(ValueError, match="'smoothing'"):
        NaiveBayes(smoothing=0.0).fit(X, [0, 1, 0, 1])


def test_sms_spam(ctx, shared):
    Xtr, ytr, Xte, yte = sms_spam(shared("sms-spam", "SMSSpamCollection"))
    table = mli.MLTable.from_numpy(Xtr, ytr, num_partitions=2).cache()
    acc = {}
    for kind in ("multinomial", "bernoulli"):
        m = NaiveBayes(kind=kind).fit(table, label="label")
        sk = SKLEARN[kind](1.0).fit(Xtr, ytr)
        np.testing.assert_array_equal(m.predict(Xte), sk.predict(Xte))
        np.testing.assert_allclose(m.predict_log_proba(Xte), sk.predict_log_proba(Xte),
                                   rtol=1e-8, atol=1e-8)
        acc[kind] = (m.predict(Xte) == yte).mean()
    table.unpersist()
    print("SMS spam NaiveBayes accuracy", acc)
    assert acc["multinomial"] > 0.97 and acc["bernoulli"] > 0.95


def test_mnist(ctx, shared):
    Xtr, ytr, Xte, yte = mnist(shared("mnist-t10k", "t10k-images-idx3-ubyte.gz"))
    table = mli.MLTable.from_numpy(Xtr, ytr, num_partitions=2).cache()
    acc = {}
    for kind in ("multinomial", "bernoulli", "gaussian"):
        m = NaiveBayes(kind=kind).fit(table, label="label")
        sk = SKLEARN[kind](1.0).fit(Xtr, ytr)
        assert (m.predict(Xte) == sk.predict(Xte)).mean() == 1.0
        np.testing.assert_allclose(m.predict_log_proba(Xte[:200]),
                                   sk.predict_log_proba(Xte[:200]), rtol=1e-6, atol=1e-6)
        acc[kind] = (m.predict(Xte) == yte).mean()
    table.unpersist()
    print("MNIST NaiveBayes accuracy", acc)
    assert acc["multinomial"] > 0.8 and acc["bernoulli"] > 0.8 and acc["gaussian"] > 0.5
