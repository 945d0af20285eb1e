"""The pipeline API: chaining, transform kinds, fit on lists and tables, save/load,
conformance, width checks."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

import mli
from mli.algorithms import LogisticRegression
from mli.featurize.text import (TFIDF, CountVectorizer, HashingTF, NGrams, Normalizer,
                                StopWords, Tokenizer)
from mli.pipeline import (Batches, Estimator, Pipeline, PipelineModel, Stages, Transformer,
                          record_error)
from mli.core.conformance import check_algorithm

SPAM = ["free prize win now", "win cash prize txt now", "txt win free entry",
        "urgent claim your free prize", "call now to win cash"]
HAM = ["see you at lunch", "lunch tomorrow ok", "ok see you later", "are you home yet",
       "call me when you are home"]
TEXTS = (SPAM + HAM) * 6
Y = np.array(([1.0] * 5 + [0.0] * 5) * 6)


# ============================================================================ chaining


def test_pipe_operator_builds_pipelines():
    lr = LogisticRegression()
    p = Tokenizer() | NGrams(1, 2) | HashingTF(64) | lr
    assert isinstance(p, Pipeline) and isinstance(p, mli.Algorithm)
    assert [type(s).__name__ for s in p.stages] == ["Tokenizer", "NGrams", "HashingTF",
                                                   "LogisticRegression"]
    assert p.stages[-1] is lr and p.final is lr
    q = (Tokenizer() | HashingTF(64)) | (TFIDF() | Normalizer())   # flattened
    assert len(q.stages) == 4 and q.final is None
    assert Pipeline([Tokenizer(), HashingTF(64), lr]).stages == Stages(
        [Tokenizer(), HashingTF(64), LogisticRegression()])
    assert repr(p).startswith("Pipeline(Tokenizer() | NGrams() | HashingTF(num_features=64)")
    with pytest.raises(TypeError, match="only be the last stage"):
        LogisticRegression() | Tokenizer()
    with pytest.raises(TypeError, match="only be the last stage"):
        p | Normalizer()
    with pytest.raises(TypeError, match="must be a Transformer, an Estimator"):
        Tokenizer() | "not a stage"


def test_stage_params_and_clone():
    h = HashingTF(128, binary=True)
    assert h.get_params() == {"num_features": 128, "binary": True}
    assert repr(h) == "HashingTF(num_features=128, binary=True)"
    c = h.clone().set_params(num_features=8)
    assert h.num_features == 128 and c.num_features == 8
    with pytest.raises(ValueError, match="Invalid parameter 'nope'"):
        h.set_params(nope=1)
    p = Tokenizer() | HashingTF(8) | LogisticRegression(reg=0.5)
    q = p.clone()
    assert q.stages == p.stages and q.stages[1] is not p.stages[1]
    q.stages[2].set_params(reg=1.0)
    assert q.stages != p.stages


# ============================================================================ transform kinds


def test_transform_returns_the_kind_it_was_given(ctx):
    feats = Tokenizer() | HashingTF(32)
    X = feats.transform(TEXTS[:4])
    assert sp.isspmatrix_csr(X) and X.shape == (4, 32)
    one = feats.transform(TEXTS[0])
    assert one.shape == (1, 32) and (one != X[0]).nnz == 0
    # a LocalMatrix block in, a LocalMatrix out; numpy in, numpy out
    D = np.abs(np.random.default_rng(0).standard_normal((5, 3)))
    assert isinstance(Normalizer().transform(mli.LocalMatrix(D)), mli.LocalMatrix)
    assert isinstance(Normalizer().transform(D), np.ndarray)
    # an MLTable in, an MLTable out (per partition, in Spark)
    table = mli.MLTable.from_rows(list(zip(TEXTS[:10], Y[:10].tolist())),
                                  columns=["text", "label"], num_partitions=2, ctx=ctx)
    out = feats.transform(table.select("text"))
    assert isinstance(out, mli.MLTable) and out.columns[:2] == ("f0", "f1")
    np.testing.assert_array_equal(out.to_scipy().toarray(), feats.transform(TEXTS[:10]).toarray())
    kept = feats.transform(table, keep=["label"])
    assert kept.num_cols == 33 and kept.columns[-1] == "label"
    np.testing.assert_array_equal(kept.to_numpy()[:, -1], Y[:10])
    toks = (Tokenizer() | StopWords()).transform(table, keep=["label"])
    assert toks.columns == ("tokens", "label")
    assert toks.collect()[0] == (["free", "prize", "win"], 1.0)


def test_estimators_must_be_fitted_before_transform():
    with pytest.raises(TypeError, match="fit"):
        (Tokenizer() | HashingTF(8) | TFIDF()).transform(TEXTS)
    with pytest.raises(TypeError, match="Estimator: fit it first"):
        TFIDF().transform(sp.csr_matrix(np.ones((2, 2))))


def test_featurizing_pipeline_fits_to_a_transform_only_model():
    m = (Tokenizer() | CountVectorizer(min_df=2) | TFIDF() | Normalizer()).fit(TEXTS)
    assert isinstance(m, PipelineModel) and m.model_ is None
    X = m.transform(TEXTS[:3])
    assert sp.isspmatrix_csr(X) and X.shape[1] == len(m.stages_[1].vocabulary)
    np.testing.assert_allclose(np.asarray(X.multiply(X).sum(axis=1)).ravel(), 1.0)
    with pytest.raises(TypeError, match="no final Algorithm"):
        m.predict(TEXTS[:3])
    m2, X2 = (Tokenizer() | CountVectorizer(min_df=2) | TFIDF() | Normalizer()).fit_transform(
        TEXTS)
    assert m2.stages_[1].vocabulary == m.stages_[1].vocabulary
    np.testing.assert_allclose(X2.toarray(), m.transform(TEXTS).toarray())


def test_custom_stages_with_the_batches_api():
    def _sum_count(batch, y):
        X = np.asarray(batch, dtype=np.float64)
        return X.sum(axis=0), X.shape[0]

    class Shift(Transformer):
        def __init__(self, offset=None):
            self.offset = offset

        def _transform_batch(self, batch):
            return np.asarray(batch, dtype=np.float64) - self.offset

    class Center(Estimator):
        def _fit(self, batches):
            assert isinstance(batches, Batches)
            s, n = batches.map_reduce(_sum_count)
            return Shift(offset=s / n)

    X = np.arange(12.0).reshape(4, 3)
    out = Center().fit(X).transform(X)
    np.testing.assert_allclose(out, X - X.mean(axis=0))
    with pytest.raises(TypeError, match="row 2 is bad"):
        raise record_error(TypeError, "row 2 is bad", 2)


# ============================================================================ fit / predict


@pytest.fixture(scope="module")
def text_model(ctx):
    pipe = (Tokenizer() | StopWords() | NGrams(1, 2) | CountVectorizer(min_df=2) | TFIDF()
            | Normalizer() | LogisticRegression(reg=1e-3))
    return pipe, pipe.fit(TEXTS, Y)


def test_fit_list_and_table_give_the_same_model(ctx, text_model):
    pipe, model = text_model
    assert isinstance(model, PipelineModel) and isinstance(model, mli.Model)
    assert model.n_features == 1 and model.input_kind == "records"
    assert model.params["stages"] == pipe.stages
    pred = model.predict(TEXTS)
    assert isinstance(pred, np.ndarray) and np.mean(pred == Y) == 1.0
    assert model.predict("win a free prize now").tolist() == [1.0]
    proba = model.predict_proba(["win cash now", "see you at home"])
    assert proba.shape == (2, 2) and proba[0, 1] > 0.5 > proba[1, 1]
    table = mli.MLTable.from_rows(list(zip(TEXTS, Y.tolist())), columns=["text", "label"],
                                  num_partitions=3, ctx=ctx)
    tmodel = pipe.fit(table, label="label")
    assert tmodel.stages_[3].vocabulary == model.stages_[3].vocabulary
    np.testing.assert_allclose(tmodel.model_.coef_, model.model_.coef_, rtol=1e-4, atol=1e-6)
    ptab = tmodel.predict(table)
    assert isinstance(ptab, mli.MLTable) and ptab.columns == ("prediction",)
    np.testing.assert_array_equal(np.array([r[0] for r in ptab.collect()]),
                                  tmodel.predict(TEXTS))


def test_save_load_round_trip(tmp_path, text_model):
    pipe, model = text_model
    path = str(tmp_path / "spam-model")
    model.save(path)
    meta = json.loads(open(os.path.join(path, "metadata.json")).read())
    assert meta["class"] == "mli.PipelineModel"
    assert sorted(f for f in os.listdir(path)) == ["float_data_.npy", "int_data_.npy",
                                                  "metadata.json"]
    loaded = mli.load(path)
    assert type(loaded) is PipelineModel
    assert [type(s) for s in loaded.stages_] == [type(s) for s in model.stages_]
    assert loaded.stages_[3].vocabulary == model.stages_[3].vocabulary
    np.testing.assert_array_equal(loaded.stages_[4].idf, model.stages_[4].idf)
    np.testing.assert_array_equal(loaded.predict(TEXTS), model.predict(TEXTS))
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), model.predict_proba(TEXTS))
    assert loaded.params["stages"] == pipe.stages
    with pytest.raises(AttributeError, match="immutable"):
        loaded.stages_ = ()
    # tampering with the arrays is detected
    np.save(os.path.join(path, "float_data_.npy"), np.zeros(3))
    with pytest.raises(mli.errors.ModelFormatError, match="checksum"):
        mli.load(path)


def test_conformance_of_a_fitted_pipeline(ctx):
    counts = (Tokenizer() | HashingTF(24)).transform(TEXTS)
    pipe = TFIDF() | Normalizer() | LogisticRegression(reg=1e-2, tol=1e-6)
    model = check_algorithm(pipe, counts, Y, ctx=ctx, rtol=1e-4)
    assert isinstance(model, PipelineModel)


def test_width_mismatch_and_bad_labels(ctx):
    X = np.abs(np.random.default_rng(1).standard_normal((40, 5)))
    y = (X[:, 0] > X[:, 1]).astype(float)
    m = (Normalizer() | LogisticRegression(reg=1e-2)).fit(X, y)
    assert m.input_kind == "matrix" and m.n_features == 5
    with pytest.raises(ValueError, match="X has 6 features, but PipelineModel was fitted with 5"):
        m.predict(np.ones((2, 6)))
    with pytest.raises(ValueError, match="labels must be numeric: row 1"):
        (Tokenizer() | HashingTF(8) | LogisticRegression()).fit(
            ["a", "b"], np.array([0, "spam"], dtype=object))
    with pytest.raises(ValueError, match="one input column"):
        t = mli.MLTable.from_rows([("a", "b", 1.0)], columns=["t1", "t2", "label"], ctx=ctx)
        (Tokenizer() | HashingTF(8) | LogisticRegression()).fit(t, label="label")
    with pytest.raises(TypeError, match=r"row 1 is 3 \(int\)"):
        (Tokenizer() | HashingTF(8) | LogisticRegression()).fit(["a b", 3], [0, 1])
    with pytest.raises(TypeError, match="2-D numeric matrix"):
        (Tokenizer() | LogisticRegression()).fit(["a b", "c"], [0, 1])
    with pytest.raises(TypeError, match="Pipeline.fit does not take sample_weight"):
        (Normalizer() | LogisticRegression()).fit(X, y, sample_weight=np.ones(len(y)))
