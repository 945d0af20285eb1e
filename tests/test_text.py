"""Text featurizers: kernels vs references, parity with pyspark.ml and scikit-learn, bad input,
and the SMS spam example."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import mli
from mli.featurize import text_kernels as K
from mli.featurize.text import (TFIDF, CountVectorizer, HashingTF, NGrams, Normalizer,
                                StopWords, TokenBatch, Tokenizer, english_stop_words)

from conftest import shared_data

DOCS = [
    "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005!",
    "Ok lar... Joking wif u oni...",
    "",
    "Héllo wörld — the WORLD is big, the world is ours; naïve café",
    "U dun say so early hor... U c already then say...",
    "日本語 テキスト 日本語",
    "   ",
    "WINNER!! As a valued network customer you have been selected to receivea £900 prize",
]

# text drawn from a small alphabet with separators, unicode, NUL and upper case
_TEXT = st.text(alphabet=st.sampled_from(list("ab cAB\t\n.,!é日\x00ΣςxyZ-'")), max_size=30)


def _bufs(tokens: list[str]):
    tb = TokenBatch.from_lists([tokens])
    return np.asarray(tb.buf), tb.starts, tb.ends


# ============================================================================ kernels


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=20), max_size=12), st.integers(0, 2**32 - 1))
def test_murmur3_kernel_matches_reference_and_sklearn(tokens, seed):
    from sklearn.utils import murmurhash3_32

    buf, s, e = _bufs(tokens)
    got = K.murmur3_32(buf, s, e, seed).tolist()
    raw = [t.encode("utf-8", "surrogatepass") for t in tokens]
    assert got == [K.murmur3_32_ref(b, seed) for b in raw]
    assert got == [int(murmurhash3_32(b, seed=seed)) for b in raw]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=25), max_size=12), st.booleans())
def test_hash64_kernel_matches_reference(tokens, fold):
    buf, s, e = _bufs(tokens)
    raw = [t.encode("utf-8", "surrogatepass") for t in tokens]
    assert K.hash64(buf, s, e, fold).tolist() == [K.hash64_ref(b, fold) for b in raw]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-1, 9), max_size=8), max_size=6), st.booleans())
def test_term_counts_kernel_matches_reference(docs, binary):
    cols = np.array([c for d in docs for c in d], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    got = K.term_counts(cols, ptr, binary)
    want = K.term_counts_ref(cols, ptr, binary)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(max_size=4), max_size=6), max_size=5), st.integers(1, 3),
       st.integers(0, 2), st.sampled_from([" ", "_", ""]))
def test_ngrams_kernel_matches_reference(docs, lo, extra, sep):
    tb = TokenBatch.from_lists(docs)
    buf, s, e, p = K.ngrams(np.asarray(tb.buf), tb.starts, tb.ends, tb.doc_ptr, lo, lo + extra,
                            sep.encode())
    assert TokenBatch(buf, s, e, p).to_lists() == K.ngrams_ref(docs, lo, lo + extra, sep)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30), st.data())
def test_char_to_byte_offsets_matches_reference(text, data):
    offs = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    buf = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    np.testing.assert_array_equal(K.char_to_byte_offsets(buf, np.array(offs, dtype=np.int64)),
                                  K.char_to_byte_offsets_ref(text, offs))


def test_row_norms_kernel_matches_reference():
    rng = np.random.default_rng(0)
    X = sp.random(30, 7, density=0.3, format="csr", random_state=1)
    X.data = rng.standard_normal(X.nnz)
    for kind in (0, 1, 2):
        np.testing.assert_allclose(K.row_norms(X.indptr, X.data, kind),
                                   K.row_norms_ref(X.indptr, X.data, kind))


# ============================================================================ stages, locally


def _ref_tokens(docs, pattern, lowercase=True, min_length=1):
    out = []
    for d in docs:
        d = d.lower() if lowercase else d
        out.append([m.group(0) for m in re.finditer(pattern, d)
                    if len(m.group(0)) >= max(1, min_length)])
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(_TEXT, max_size=6),
       st.sampled_from([r"(?u)\b\w\w+\b", r"\S+", r"\w+", r"\w*", r"[^,]+", r"(?i)[a-c]+|!",
                        r"^\w+", r"(?m)\w+$"]),
       st.booleans(), st.integers(1, 3))
def test_tokenizer_matches_per_document_regex(docs, pattern, lowercase, min_length):
    got = Tokenizer(pattern, lowercase=lowercase, min_length=min_length).transform(docs)
    assert got == _ref_tokens(docs, pattern, lowercase, min_length)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=6),
       st.sampled_from([r"(?u)\b\w\w+\b", r"\w+", r"\S+"]), st.booleans())
def test_tokenizer_run_kernel_matches_regex_on_any_unicode(docs, pattern, lowercase):
    # these patterns are tokenized by the numba run kernel, not by re
    docs = docs + ["İstanbul ΣΑΣ x_y 12ab", "a\u00a0b\u2003c\x1cd"]   # lower() grows; odd spaces
    got = Tokenizer(pattern, lowercase=lowercase).transform(docs)
    assert got == _ref_tokens(docs, pattern, lowercase)
    gaps = Tokenizer(r"\s+", gaps=True, lowercase=lowercase).transform(docs)
    assert gaps == [[t for t in re.split(r"\s+", d.lower() if lowercase else d) if t]
                    for d in docs]


def test_tokenizer_options():
    assert Tokenizer().transform(DOCS[:2]) == [
        ["free", "entry", "in", "wkly", "comp", "to", "win", "fa", "cup", "final", "tkts",
         "21st", "may", "2005"], ["ok", "lar", "joking", "wif", "oni"]]
    assert Tokenizer(r"\s+", gaps=True).transform(["a  B\tc ", ""]) == [["a", "b", "c"], []]
    assert Tokenizer(r"\w+", lowercase=False).transform(["Ab cD"]) == [["Ab", "cD"]]
    assert Tokenizer(r"(a)(b)?").transform(["ab a"]) == [["ab", "a"]]   # groups: whole match
    assert Tokenizer().transform("One record, TWO") == ["one", "record", "two"]
    assert Tokenizer().transform_one("x yz") == ["yz"]
    assert Tokenizer().transform(np.array(["ab cd", "ef"])) == [["ab", "cd"], ["ef"]]
    with pytest.raises(ValueError, match="pattern"):
        Tokenizer("(").transform(["a"])


def test_stop_words():
    words = english_stop_words()
    assert 150 <= len(words) <= 200 and "the" in words and "spam" not in words
    assert all(w == w.lower() and w.isascii() for w in words)
    toks = [["The", "world", "IS", "big", "the"], [], ["ours", "naïve"]]
    assert StopWords().transform(toks) == [["world", "big"], [], ["naïve"]]
    assert StopWords(case_sensitive=True).transform(toks) == [["The", "world", "IS", "big"],
                                                             [], ["naïve"]]
    assert StopWords(words=["big", "naïve"]).transform(toks) == [
        ["The", "world", "IS", "the"], [], ["ours"]]


def test_ngrams_stage():
    toks = [["a", "b", "c"], [], ["d"]]
    assert NGrams(1, 2).transform(toks) == [["a", "b", "c", "a b", "b c"], [], ["d"]]
    assert NGrams(2, 2).transform(toks) == [["a b", "b c"], [], []]
    assert NGrams(1, 3, sep="_").transform(toks)[0][-1] == "a_b_c"
    with pytest.raises(ValueError, match="max_n"):
        NGrams(3, 2).transform(toks)


def test_hashing_tf_columns_and_counts():
    htf = HashingTF(2**18)
    X = (Tokenizer() | htf).transform(["win win prize", "", "prize"])
    assert sp.isspmatrix_csr(X) and X.shape == (3, 2**18)
    cols = htf.columns_of(["win", "prize"])
    from sklearn.utils import murmurhash3_32

    assert cols.tolist() == [murmurhash3_32(w.encode(), seed=42) % 2**18 for w in ["win", "prize"]]
    assert X[0, cols[0]] == 2.0 and X[0, cols[1]] == 1.0 and X[1].nnz == 0
    assert (Tokenizer() | HashingTF(16, binary=True)).transform(["a1 a1 a1"]).data.tolist() == [1.0]
    assert np.all(np.diff(X.indices[X.indptr[0]:X.indptr[1]]) > 0)   # sorted, no duplicates


def _two_step_counts(docs, pattern, nf, binary=False, **kw):
    """Tokenizer then HashingTF through token lists: the path without the fused kernel."""
    toks = Tokenizer(pattern, **kw).transform(docs)
    return HashingTF(nf, binary=binary).transform(toks)


@settings(max_examples=80, deadline=None)
@given(st.lists(_TEXT, max_size=6), st.lists(st.text(max_size=30), max_size=4),
       st.sampled_from([r"(?u)\b\w\w+\b", r"\w+", r"\S+"]), st.booleans(), st.booleans(),
       st.integers(1, 3), st.sampled_from([7, 2**18]))
def test_fused_tokenize_hash_equals_tokenizer_then_hashing_tf(docs, more, pattern, lowercase,
                                                              binary, min_length, nf):
    # Tokenizer | HashingTF tokenizes and hashes in one numba pass (text_kernels.tokenize_hash)
    docs = docs + more + ["İstanbul ΣΑΣ Kelvin\u212a x_y 12ab", "ΑΣ\n日本語 \U0001F600a"]
    for ds in (docs, [d for d in docs if "İ" not in d and "Σ" not in d], [d.encode(
            "ascii", "ignore").decode() for d in docs]):
        got = (Tokenizer(pattern, lowercase=lowercase, min_length=min_length)
               | HashingTF(nf, binary=binary)).transform(ds)
        want = _two_step_counts(ds, pattern, nf, binary, lowercase=lowercase,
                                min_length=min_length)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)


def test_fused_kernel_grows_its_output_and_lower_table_is_str_lower():
    import itertools

    pairs = ["".join(p) for p in itertools.product("abcdefghijklmnopqrstuvwxyz", repeat=2)]
    docs = [" ".join(pairs[i:] + pairs[:i]) for i in range(0, 300, 7)] + ["", "x y"]
    for pattern in (r"\w+", r"\S+"):   # more distinct terms than the first output guess
        got = (Tokenizer(pattern) | HashingTF(2**20)).transform(docs)
        want = _two_step_counts(docs, pattern, 2**20)
        assert got.nnz == want.nnz > len("\n".join(docs)) // 4 and (got != want).nnz == 0
    low = K.lower_table()
    for c in list(range(0, 0x3000)) + list(range(0x10400, 0x10500)) + [0x1E9E, 0xFF21]:
        lc = chr(c).lower()
        assert low[c] == (ord(lc) if len(lc) == 1 and c != 0x3A3 else -1), hex(c)


def test_hashing_tf_counts_pickle_compactly_inside_spark_tasks():
    import pickle

    from mli.featurize.text import _Counts

    X = (Tokenizer() | HashingTF(2**18)).transform(DOCS * 50)
    assert type(X) is sp.csr_matrix   # outside Spark: a plain csr_matrix
    C = _Counts((X.data, X.indices, X.indptr), shape=X.shape)
    raw = pickle.dumps(C, protocol=5)
    back = pickle.loads(raw)
    assert type(back) is sp.csr_matrix and (back != X).nnz == 0 and back.dtype == np.float64
    assert len(raw) < 0.6 * len(pickle.dumps(X, protocol=5))
    D = C * 0.5   # not small integer counts any more: pickled as they are
    assert (pickle.loads(pickle.dumps(D)) != X * 0.5).nnz == 0


def test_count_vectorizer_vocabulary_like_sklearn():
    from sklearn.feature_extraction.text import CountVectorizer as SkCV

    pattern = r"(?u)\b\w\w+\b"
    toks = Tokenizer(pattern).transform(DOCS)
    for kw in ({}, {"min_df": 2}, {"max_df": 0.2}, {"min_df": 0.2}):
        ours = CountVectorizer(**kw).fit(toks)
        sk = SkCV(token_pattern=pattern, **kw).fit(DOCS)
        assert set(ours.vocabulary) == set(sk.vocabulary_), kw
        order = [sk.vocabulary_[t] for t in ours.vocabulary]
        np.testing.assert_array_equal(ours.transform(toks).toarray(),
                                      sk.transform(DOCS).toarray()[:, order])
    # top-k by document frequency, ties by term; columns in that order
    cv = CountVectorizer(vocab_size=3).fit([["b", "a", "c"], ["a", "b"], ["a", "z"]])
    assert cv.vocabulary == ["a", "b", "c"]
    assert cv.transform([["z", "c", "c", "a"]]).toarray().tolist() == [[1.0, 0.0, 2.0]]
    assert CountVectorizer(binary=True).fit(toks).transform([["win", "win"]]).data.tolist() == \
        [1.0]


def test_tfidf_equals_sklearn_on_the_same_vocabulary():
    from sklearn.feature_extraction.text import CountVectorizer as SkCV
    from sklearn.feature_extraction.text import TfidfTransformer

    pattern = r"(?u)\b\w\w+\b"
    cvm = (Tokenizer(pattern) | CountVectorizer()).fit(DOCS)
    counts = cvm.transform(DOCS)
    sk_counts = SkCV(token_pattern=pattern, vocabulary=list(cvm.stages_[1].vocabulary)) \
        .fit_transform(DOCS)
    np.testing.assert_array_equal(counts.toarray(), sk_counts.toarray())
    for formula, smooth in (("smooth", True), ("plain", False)):
        ours = TFIDF(formula=formula).fit(counts)
        sk = TfidfTransformer(norm=None, smooth_idf=smooth).fit(sk_counts)
        np.testing.assert_allclose(ours.idf, sk.idf_, rtol=1e-12)
        np.testing.assert_allclose(ours.transform(counts).toarray(),
                                   sk.transform(sk_counts).toarray(), rtol=1e-12)
    ours_l2 = Normalizer("l2").transform(TFIDF().fit(counts).transform(counts))
    sk_l2 = TfidfTransformer().fit_transform(sk_counts)
    np.testing.assert_allclose(ours_l2.toarray(), sk_l2.toarray(), rtol=1e-12, atol=1e-15)
    # dense input gives dense output, with the same values
    dense = TFIDF().fit(counts.toarray()).transform(counts.toarray())
    assert isinstance(dense, np.ndarray)
    np.testing.assert_allclose(dense, TFIDF().fit(counts).transform(counts).toarray())


def test_tfidf_min_doc_freq_and_spark_formula():
    X = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 1], [3, 0, 1.0]]))
    m = TFIDF(formula="spark", min_doc_freq=3).fit(X)
    n, df = 3, np.array([2, 0, 3])
    np.testing.assert_allclose(m.idf, np.where(df >= 3, np.log((n + 1) / (df + 1)), 0.0))


def test_normalizer_like_sklearn():
    from sklearn.preprocessing import normalize

    rng = np.random.default_rng(3)
    D = rng.standard_normal((6, 5))
    D[2] = 0
    for norm in ("l1", "l2", "max"):
        want = normalize(D, norm=norm)
        np.testing.assert_allclose(Normalizer(norm).transform(D), want, atol=1e-15)
        got = Normalizer(norm).transform(sp.csr_matrix(D))
        assert sp.issparse(got)
        np.testing.assert_allclose(got.toarray(), want, atol=1e-15)


# ============================================================================ bad input


def test_non_string_text_is_a_type_error_naming_the_row():
    with pytest.raises(TypeError, match=r"row 2 is 5 \(int\)"):
        Tokenizer().transform(["ok", "fine", 5])
    with pytest.raises(TypeError, match=r"row 1 is missing \(None\)"):
        Tokenizer().transform(["ok", None])
    with pytest.raises(TypeError, match="token lists.*Tokenizer first"):
        HashingTF(8).transform(["raw text"])
    with pytest.raises(TypeError, match="HashingTF or CountVectorizer"):
        Normalizer().transform(Tokenizer()._transform_batch(["raw text"]))


def test_empty_documents_give_empty_rows():
    X = (Tokenizer() | NGrams(1, 3) | HashingTF(64)).transform(["", "   ", "a", "!!", "ab cd"])
    assert X.shape == (5, 64)
    assert np.diff(X.indptr).tolist() == [0, 0, 0, 0, 3]
    assert (Tokenizer() | HashingTF(8)).transform([]).shape == (0, 8)
    T = TFIDF().fit(X).transform(X)
    assert np.isfinite(T.data).all() and np.diff(T.indptr)[:4].tolist() == [0, 0, 0, 0]
    assert np.diff(Normalizer().transform(T).indptr).tolist() == [0, 0, 0, 0, 3]


def test_width_mismatch_names_both_widths():
    m = TFIDF().fit(sp.csr_matrix(np.ones((3, 8))))
    with pytest.raises(ValueError, match="X has 4 features, but TFIDFModel was fitted with 8"):
        m.transform(sp.csr_matrix(np.ones((2, 4))))
    with pytest.raises(ValueError, match="X has 16 features.*fitted with 8"):
        (Tokenizer() | HashingTF(16) | m).transform(["a b"])


def test_invalid_parameters():
    for stage, name in ((HashingTF(0), "num_features"), (Normalizer("l3"), "norm"),
                        (Tokenizer(min_length=0), "min_length"), (NGrams(0, 1), "min_n")):
        with pytest.raises(ValueError, match=f"Invalid value for parameter '{name}'"):
            stage.transform([["a"]])
    with pytest.raises(ValueError, match="Invalid value for parameter 'formula'"):
        TFIDF(formula="bm25").fit(sp.csr_matrix(np.ones((2, 2))))
    with pytest.raises(ValueError, match="Invalid value for parameter 'min_df'"):
        CountVectorizer(min_df=1.5).fit([["a"]])


# ============================================================================ with Spark


def test_hashing_tf_indices_identical_to_pyspark_ml(ctx):
    from pyspark.ml.feature import IDF as SparkIDF
    from pyspark.ml.feature import HashingTF as SparkHTF

    toks = Tokenizer(r"\S+").transform(DOCS)
    toks.append(["x", "£900", "naïve", "日本語", "a", "a", "WiN!!"])
    df = ctx.spark.createDataFrame([(i, t) for i, t in enumerate(toks)], ["id", "tokens"])
    for nf, binary in ((2**18, False), (1000, True)):
        spark_rows = SparkHTF(inputCol="tokens", outputCol="tf", numFeatures=nf, binary=binary) \
            .transform(df).orderBy("id").select("tf").collect()
        ours = HashingTF(nf, binary=binary).transform(toks)
        for i, row in enumerate(spark_rows):
            v = row.tf
            lo, hi = ours.indptr[i], ours.indptr[i + 1]
            assert ours.indices[lo:hi].tolist() == v.indices.tolist(), (i, toks[i])
            assert ours.data[lo:hi].tolist() == v.values.tolist()
    # pyspark.ml IDF = TFIDF(formula="spark")
    tf_df = SparkHTF(inputCol="tokens", outputCol="tf", numFeatures=64).transform(df)
    spark_idf = SparkIDF(inputCol="tf", outputCol="x").fit(tf_df).idf.toArray()
    np.testing.assert_allclose(TFIDF(formula="spark").fit(HashingTF(64).transform(toks)).idf,
                               spark_idf, rtol=1e-12)


def test_estimators_fit_on_a_table_like_locally(ctx):
    texts = DOCS * 5
    table = mli.MLTable.from_rows([(t,) for t in texts], columns=["text"], num_partitions=3,
                                  ctx=ctx)
    pipe = Tokenizer() | CountVectorizer(min_df=2) | TFIDF()
    dist = pipe.fit(table)
    local = pipe.fit(texts)
    assert dist.stages_[1].vocabulary == local.stages_[1].vocabulary
    np.testing.assert_allclose(dist.stages_[2].idf, local.stages_[2].idf)
    out = dist.transform(table)
    assert isinstance(out, mli.MLTable) and out.num_partitions == 3
    np.testing.assert_allclose(out.to_scipy().toarray(), local.transform(texts).toarray())
    # fit_transform: one pass over the text; the same model and output, plus the label
    labeled = mli.MLTable.from_rows([(t, float(i % 2)) for i, t in enumerate(texts)],
                                    columns=["text", "y"], num_partitions=3, ctx=ctx)
    model, feats = pipe.fit_transform(labeled, label="y")
    assert model.stages_[1].vocabulary == local.stages_[1].vocabulary
    assert feats.columns[-1] == "y" and feats.num_cols == len(model.stages_[1].vocabulary) + 1
    got = feats.to_scipy().toarray()
    np.testing.assert_allclose(got[:, :-1], local.transform(texts).toarray())
    np.testing.assert_array_equal(got[:, -1], np.arange(len(texts)) % 2)


def test_read_text_pipeline_equals_local(ctx, tmp_path):
    # read_text's lines reach the fused kernel as the bytes read from the file (clean
    # UTF-8), or as str (\\r line ends, invalid UTF-8); both give the local result
    body = "\n".join(DOCS * 30 + ["Σ end", "", "İ x"]) + "\n"
    files = {"clean.txt": body.encode(), "crlf.txt": body.replace("\n", "\r\n").encode(),
             "bad.txt": body.encode() + b"caf\xe9 ok\n", "ascii.txt": b"a bc DE\nfg\n\nhi jk"}
    pipe = Tokenizer() | HashingTF(2**10) | TFIDF()
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        table = mli.MLTable.read_text(str(path), min_partitions=3, ctx=ctx)
        lines = [r[0] for r in table.collect()]
        assert lines == ctx.sc.textFile(str(path), 3).collect()
        local = pipe.fit(lines)
        model, out = pipe.fit_transform(table)
        np.testing.assert_allclose(model.stages_[2].idf, local.stages_[2].idf)
        np.testing.assert_allclose(out.to_scipy().toarray(), local.transform(lines).toarray())
        again = pipe.fit(table).transform(table).to_scipy()
        np.testing.assert_allclose(again.toarray(), local.transform(lines).toarray())


def test_non_string_in_a_table_names_row_and_partition(ctx):
    table = mli.MLTable.from_rows([("a b",), ("c",), (7,), ("d",)], columns=["text"],
                                  num_partitions=2, ctx=ctx)
    with pytest.raises(TypeError, match=r"row 0 of partition 1 is 7 \(int\)"):
        (Tokenizer() | HashingTF(8)).transform(table).to_scipy()


def _load_example():
    path = Path(__file__).resolve().parent.parent / "examples" / "sms_spam.py"
    spec = importlib.util.spec_from_file_location("sms_spam_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sms_spam_example_accuracy(ctx):
    path = shared_data("sms-spam", "SMSSpamCollection")
    example = _load_example()
    results = example.run(path, quiet=True, ctx=ctx)
    assert "LogisticRegression" in results
    best = max(r["accuracy"] for r in results.values())
    assert best >= 0.98, results
    for r in results.values():
        assert r["accuracy"] >= 0.95 and r["f1"] >= 0.8, results
