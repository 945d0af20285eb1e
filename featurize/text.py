"""Text featurizers: documents to sparse (scipy CSR) term features, per partition.

The idiom (see :mod:`mli.pipeline`)::

    from mli.featurize.text import Tokenizer, StopWords, NGrams, HashingTF, TFIDF, Normalizer
    from mli.algorithms import NaiveBayes

    model = (Tokenizer() | NGrams(1, 2) | HashingTF(2**18) | TFIDF() | NaiveBayes()).fit(texts, y)

Stages
------
``Tokenizer``        str -> tokens (regex, lowercase)              Transformer
``StopWords``        tokens -> tokens without stop words          Transformer
``NGrams``           tokens -> n-grams joined by a space           Transformer
``HashingTF``        tokens -> term counts in hashed columns (CSR) Transformer
``CountVectorizer``  tokens -> term counts over a vocabulary (CSR) Estimator -> CountVectorizerModel
``TFIDF``            counts -> counts * idf (CSR)                  Estimator -> TFIDFModel
``Normalizer``       rows scaled to unit L1 / L2 / max norm        Transformer

Between the token stages a partition travels as a :class:`TokenBatch` (one UTF-8 buffer plus
token and document offsets), so NGrams, StopWords, HashingTF and CountVectorizer run in
numba kernels (:mod:`mli.featurize.text_kernels`) with no Python object per token. Called
directly, the token stages accept lists of token lists and return lists of token lists.

``Tokenizer`` followed by ``HashingTF`` (with a run pattern such as the default, ``\\w+`` or
``\\S+``) is one numba pass over the UTF-8 bytes of the whole batch: tokenize, lowercase,
hash and count, straight to CSR (``text_kernels.tokenize_hash``). When the documents are
the lines ``MLTable.read_text`` just read in the same Python worker, the pass runs on the
bytes read from the file (no re-encoding; see ``mli.table.io.lines_bytes``).

Compatibility
-------------
* ``HashingTF`` computes pyspark.ml's ``HashingTF`` exactly: MurmurHash3 x86_32 with seed 42
  of the term's UTF-8 bytes, then ``nonNegativeMod(hash, num_features)``; indices (and
  counts) agree with pyspark.ml for the same tokens. (scikit-learn's ``HashingVectorizer``
  uses the same hash with seed 0 and ``abs`` instead of the modulo, so it differs.)
* ``TFIDF(formula=...)`` with ``n`` documents and document frequency ``df`` of a term:

  ============ ============================== =======================================
  formula      idf                            same as
  ============ ============================== =======================================
  ``"smooth"`` ``ln((1 + n) / (1 + df)) + 1`` scikit-learn ``TfidfTransformer()``
               (default)                      (``smooth_idf=True``)
  ``"spark"``  ``ln((n + 1) / (df + 1))``     pyspark.ml ``IDF`` (a term in every
                                              document gets idf 0)
  ``"plain"``  ``ln(n / df) + 1``             scikit-learn ``smooth_idf=False``
  ============ ============================== =======================================

  Output is ``tf * idf`` with raw counts as tf; no normalization (scikit-learn's
  TfidfTransformer normalizes by default: add ``Normalizer("l2")`` to match ``norm="l2"``).

Bad input: a value that is not a ``str`` raises ``TypeError`` naming the row (``row 3 of
partition 1`` in a table); an empty document gives an empty row.

Why this module is long: it holds every text stage (Tokenizer, StopWords, NGrams, HashingTF,
CountVectorizer, TFIDF, Normalizer) with the TokenBatch they pass to each other; a stage's
fast path depends on the batch representation, so they change together.
"""
from __future__ import annotations

import functools
import importlib.resources
import math
import re
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.core.params import Interval, Options
from mli.pipeline import Estimator, Transformer, record_error

from mli.featurize import text_kernels as K
from mli.table.io import lines_bytes

__all__ = ["Tokenizer", "StopWords", "NGrams", "HashingTF", "CountVectorizer",
           "CountVectorizerModel", "TFIDF", "TFIDFModel", "Normalizer", "TokenBatch",
           "english_stop_words"]

_SEP = "\n\x00\n"  # between documents when a batch is tokenized as one string

# ============================================================================ token batches



def _materialized(name: str) -> property:
    """A read-only attribute computed on first access (by ``_materialize``)."""

    def get(self) -> np.ndarray:
        if self._pending is not None:
            self._materialize()
        return getattr(self, name)

    return property(get)


class TokenBatch:
    """The tokens of a batch of documents: UTF-8 bytes plus offsets (no Python str per token).

    Attributes
    ----------
    buf : uint8 array
        Token bytes (possibly with unused bytes between tokens).
    starts, ends : int64 arrays
        Token ``t`` is ``buf[starts[t]:ends[t]]``.
    doc_ptr : int64 array of length ``n_docs + 1``
        Document ``d`` holds tokens ``doc_ptr[d]:doc_ptr[d + 1]``.

    A Tokenizer whose pattern is a run of one character class returns the batch *pending*:
    it holds the documents and is tokenized on first use of these attributes, unless the
    next stage is a HashingTF, which tokenizes and hashes the text in one pass instead.
    """

    __slots__ = ("_buf", "_starts", "_ends", "_doc_ptr", "_pending")

    def __init__(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 doc_ptr: np.ndarray):
        self._buf, self._starts, self._ends, self._doc_ptr = buf, starts, ends, doc_ptr
        self._pending = None

    @classmethod
    def _deferred(cls, tokenizer: "Tokenizer", values: list, kind: str, min_chars: int,
                  raw: bytes | None = None) -> "TokenBatch":
        tb = cls.__new__(cls)
        tb._buf = tb._starts = tb._ends = tb._doc_ptr = None
        tb._pending = (tokenizer, values, kind, min_chars, raw)
        return tb

    def _materialize(self) -> None:
        tokenizer, values, kind, min_chars, _ = self._pending
        tb = tokenizer._runs(values, kind, min_chars)
        self._buf, self._starts, self._ends, self._doc_ptr = tb.buf, tb.starts, tb.ends, \
            tb.doc_ptr
        self._pending = None

    buf = _materialized("_buf")
    starts = _materialized("_starts")
    ends = _materialized("_ends")
    doc_ptr = _materialized("_doc_ptr")

    def __getstate__(self):
        return (np.asarray(self.buf), self.starts, self.ends, self.doc_ptr)

    def __setstate__(self, state):
        self._buf, self._starts, self._ends, self._doc_ptr = state
        self._pending = None

    @property
    def n_docs(self) -> int:
        if self._pending is not None:
            return len(self._pending[1])
        return len(self.doc_ptr) - 1

    @property
    def n_tokens(self) -> int:
        return len(self.starts)

    def __len__(self) -> int:
        return self.n_docs

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[str]], owner: str = "TokenBatch") -> "TokenBatch":
        """From a list of token lists (each token a str)."""
        docs = list(docs)
        lens = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        doc_ptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lens, out=doc_ptr[1:])
        flat = [t for d in docs for t in d]
        if set(map(type, flat)) - {str}:
            for i, d in enumerate(docs):
                for t in d:
                    if not isinstance(t, str):
                        raise record_error(TypeError, f"{owner} expects token lists of str: "
                                                      f"row {i} holds the token {t!r} "
                                                      f"({type(t).__name__})", i)
        return cls._from_flat(flat, doc_ptr)

    @classmethod
    def _from_flat(cls, flat: list, doc_ptr: np.ndarray) -> "TokenBatch":
        text = "".join(flat)
        char_lens = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
        raw = text.encode("utf-8", "surrogatepass")
        buf = np.frombuffer(raw, dtype=np.uint8)
        off = np.zeros(len(flat) + 1, dtype=np.int64)
        np.cumsum(char_lens, out=off[1:])
        if len(raw) != len(text):
            off = K.char_to_byte_offsets(buf, off)
        return cls(buf, off[:-1], off[1:], doc_ptr)

    @classmethod
    def coerce(cls, batch: Any, owner: str) -> "TokenBatch":
        """``batch`` as a TokenBatch: a TokenBatch, or a list of token lists."""
        if isinstance(batch, TokenBatch):
            return batch
        if isinstance(batch, np.ndarray) and batch.dtype.kind == "O":
            batch = batch.tolist()
        if isinstance(batch, (list, tuple)):
            for i, d in enumerate(batch):
                if isinstance(d, str) or not isinstance(d, (list, tuple, np.ndarray)):
                    raise record_error(TypeError, f"{owner} expects token lists (put a "
                                                  f"Tokenizer first): row {i} holds {d!r:.60} "
                                                  f"({type(d).__name__})", i)
            return cls.from_lists(batch, owner)
        raise TypeError(f"{owner} expects tokens (a list of token lists, or the output of a "
                        f"Tokenizer), got {type(batch).__name__}")

    def mask(self, keep: np.ndarray) -> "TokenBatch":
        """The tokens where ``keep`` is true (the buffer is shared)."""
        ck = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=ck[1:])
        return TokenBatch(self.buf, self.starts[keep], self.ends[keep], ck[self.doc_ptr])

    def to_lists(self) -> list[list[str]]:
        """The tokens as Python lists of str (one list per document)."""
        raw = np.asarray(self.buf).tobytes()
        toks = [raw[s:e].decode("utf-8", "surrogatepass")
                for s, e in zip(self.starts.tolist(), self.ends.tolist())]
        ptr = self.doc_ptr.tolist()
        return [toks[ptr[d]:ptr[d + 1]] for d in range(self.n_docs)]

    to_local = to_lists
    to_rows = to_lists

    def __repr__(self) -> str:
        return f"TokenBatch({self.n_docs} documents, {self.n_tokens} tokens)"


# ============================================================================ helpers


def _as_matrix(batch: Any, owner: str):
    """A batch as a CSR matrix or a 2-D float ndarray."""
    if hasattr(batch, "array") and not isinstance(batch, np.ndarray):
        batch = batch.array
    if sp.issparse(batch):
        X = batch if isinstance(batch, sp.csr_matrix) else sp.csr_matrix(batch)
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
        return X
    if isinstance(batch, TokenBatch):
        raise TypeError(f"{owner} expects a numeric matrix (term counts), got tokens: put "
                        "HashingTF or CountVectorizer before it")
    X = np.asarray(batch)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        what = (f"an array of shape {X.shape}" if X.dtype.kind in "biuf"
                else type(batch).__name__)
        raise TypeError(f"{owner} expects a 2-D numeric matrix, got {what}")
    return X if X.dtype.kind == "f" else X.astype(np.float64)


def _check_width(X, expected: int, owner: str) -> None:
    if X.shape[1] != expected:
        raise ValueError(f"X has {X.shape[1]} features, but {owner} was fitted with "
                         f"{expected} features")


def _strip_global_flags(pattern: str) -> str:
    return re.sub(r"^(\(\?[aiLmsux]+\))+", "", pattern)


def _context_free(pattern: str, flags: int) -> bool:
    """Whether the pattern's matches cannot depend on text outside the document: no
    anchors (``^ $ \\A \\Z``) and no lookarounds (word boundaries are fine: documents are
    joined with non-word characters)."""
    try:
        from re import _parser  # the stdlib's regex parser (sre_parse)
    except ImportError:  # pragma: no cover
        return False
    try:
        parsed = _parser.parse(pattern, flags)
    except Exception:  # noqa: BLE001
        return False
    ok_at = {"AT_BOUNDARY", "AT_NON_BOUNDARY", "AT_UNI_BOUNDARY", "AT_UNI_NON_BOUNDARY",
             "AT_LOC_BOUNDARY", "AT_LOC_NON_BOUNDARY"}

    def walk(items) -> bool:
        for op, av in items:
            name = str(op)
            if name in ("ASSERT", "ASSERT_NOT", "GROUPREF", "GROUPREF_EXISTS"):
                return False
            if name == "AT" and str(av) not in ok_at:
                return False
            for sub in (av if isinstance(av, (list, tuple)) else (av,)):
                if isinstance(sub, _parser.SubPattern) and not walk(sub):
                    return False
                if isinstance(sub, (list, tuple)):
                    for x in sub:
                        if isinstance(x, _parser.SubPattern) and not walk(x):
                            return False
        return True

    return walk(parsed)


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str, lowercase: bool):
    user = re.compile(pattern)
    combined = None
    if user.groups == 0 and _context_free(pattern, user.flags):
        try:
            combined = re.compile("\x00|(?:" + _strip_global_flags(pattern) + ")", user.flags)
        except re.error:
            combined = None
    return user, combined


# patterns whose tokens are maximal runs of one character class, at least k long: tokenized
# by a numba kernel over the UTF-8 bytes instead of the regex engine (same tokens)
_RUN_PATTERNS = {
    (p, False): ("w", 2) for p in (r"(?u)\b\w\w+\b", r"\b\w\w+\b", r"\w\w+", r"(?u)\w\w+")
}
_RUN_PATTERNS.update({(p, False): ("w", 1) for p in (r"\w+", r"(?u)\w+", r"\b\w+\b",
                                                     r"(?u)\b\w+\b")})
_RUN_PATTERNS.update({(p, False): ("S", 1) for p in (r"\S+", r"(?u)\S+")})
_RUN_PATTERNS.update({(p, True): ("S", 1) for p in (r"\s+", r"\s", r"(?u)\s+", r"(?u)\s")})


@functools.lru_cache(maxsize=2)
def _char_table(kind: str) -> np.ndarray:
    """``table[c]`` is 1 when code point ``c`` matches ``\\w`` (kind "w") or ``\\S`` ("S")
    in Python's ``re`` -- built with ``re`` itself, so the semantics are identical: the
    string of all code points, with the runs of the other class removed by one ``re.sub``."""
    every = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    kept = re.sub(r"\W+" if kind == "w" else r"\s+", "", every)
    table = np.zeros(0x110000, dtype=np.uint8)
    table[np.frombuffer(kept.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)] = 1
    return table


def _read_bytes(values: list) -> bytes | None:
    """The UTF-8 bytes of ``values`` (each followed by a newline) if they are the lines
    ``MLTable.read_text`` just read in this process (see :func:`mli.table.io.lines_bytes`)."""
    if not values:
        return None
    return lines_bytes(values)


def _check_text(values: list, owner: str) -> None:
    if set(map(type, values)) - {str}:
        for i, v in enumerate(values):
            if not isinstance(v, str):
                what = "missing (None)" if v is None else f"{v!r:.60} ({type(v).__name__})"
                raise record_error(TypeError, f"{owner} expects text (str) values: row {i} is "
                                              f"{what}", i)


@functools.lru_cache(maxsize=1)
def english_stop_words() -> tuple[str, ...]:
    """The package's English stop-word list (``mli/data/stopwords_en.txt``), lowercase."""
    text = importlib.resources.files("mli").joinpath("data/stopwords_en.txt").read_text("utf-8")
    return tuple(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


class _Vocab:
    """A term list as lookup arrays for :func:`text_kernels.lookup`."""

    def __init__(self, terms: Sequence[str], fold: bool):
        terms = [t.lower() if fold else t for t in terms]
        tb = TokenBatch.from_lists([terms])
        self.buf = np.ascontiguousarray(tb.buf)
        self.off = np.zeros(len(terms) + 1, dtype=np.int64)
        self.off[1:] = tb.ends
        self.off[:-1] = tb.starts
        h = K.hash64(self.buf, tb.starts, tb.ends)
        order = np.argsort(h, kind="stable")
        self.hash, self.col = h[order], order.astype(np.int64)
        self.fold = fold

    def columns(self, tb: TokenBatch) -> np.ndarray:
        h = K.hash64(tb.buf, tb.starts, tb.ends, self.fold)
        return K.lookup(h, tb.buf, tb.starts, tb.ends, self.hash, self.col, self.buf, self.off,
                        self.fold)


# ============================================================================ Tokenizer


class Tokenizer(Transformer):
    """Split documents into tokens with a regular expression.

    Parameters
    ----------
    pattern : str, default ``r"(?u)\\b\\w\\w+\\b"``
        The token pattern (scikit-learn's default: runs of 2+ word characters), or with
        ``gaps=True`` the separator pattern (pyspark.ml's ``Tokenizer`` is
        ``Tokenizer(r"\\s+", gaps=True)`` minus its empty tokens).
    gaps : bool, default False
        Whether ``pattern`` matches the gaps between tokens (like pyspark.ml's
        ``RegexTokenizer``) instead of the tokens.
    lowercase : bool, default True
    min_length : int, default 1
        Shorter tokens (in characters) are dropped; empty tokens always are.

    Examples
    --------
    >>> Tokenizer().transform(["Free entry in 2 a wkly comp!", ""])
    [['free', 'entry', 'in', 'wkly', 'comp'], []]
    """

    _constraints = {"pattern": [str], "gaps": [bool], "lowercase": [bool],
                    "min_length": Interval(int, 1, None)}
    _input_kind = "text"
    _output_name = "tokens"

    def __init__(self, pattern=r"(?u)\b\w\w+\b", gaps=False, lowercase=True, min_length=1):
        self.pattern = pattern
        self.gaps = gaps
        self.lowercase = lowercase
        self.min_length = min_length

    def _validate(self) -> None:
        super()._validate()
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"Invalid value for parameter 'pattern' of Tokenizer: not a "
                             f"regular expression ({exc})") from None

    def _transform_batch(self, batch: Any) -> TokenBatch:
        if isinstance(batch, TokenBatch):
            raise TypeError("Tokenizer expects text (str) values, got tokens")
        if isinstance(batch, np.ndarray):
            batch = batch.tolist()
        values = list(batch)
        min_len = max(1, int(self.min_length))
        run = _RUN_PATTERNS.get((self.pattern, bool(self.gaps)))
        raw = _read_bytes(values) if run is not None else None
        if raw is None:
            _check_text(values, "Tokenizer")
        if run is not None:  # tokenized when used (HashingTF: tokenized and hashed at once)
            return TokenBatch._deferred(self, values, run[0], max(run[1], min_len), raw)
        user, combined = _compiled(self.pattern, bool(self.lowercase))
        n = len(values)
        if not self.gaps and combined is not None and n > 0:
            joined = _SEP.join(values)
            if joined.count("\x00") == n - 1:          # no document holds a NUL itself
                if self.lowercase:
                    joined = joined.lower()
                toks = combined.findall(joined)
                if toks.count("\x00") == n - 1:        # no token swallowed a separator
                    return self._from_flat_with_seps(toks, n, min_len)
        # general path: one regex call per document
        docs = [v.lower() for v in values] if self.lowercase else values
        if self.gaps:
            lists = [[t for t in user.split(d) if len(t) >= min_len] for d in docs]
        elif user.groups:
            lists = [[m.group(0) for m in user.finditer(d) if len(m.group(0)) >= min_len]
                     for d in docs]
        else:
            lists = [[t for t in user.findall(d) if len(t) >= min_len] for d in docs]
        return TokenBatch.from_lists(lists, "Tokenizer")

    def _runs(self, values: list, kind: str, min_chars: int) -> TokenBatch:
        n = len(values)
        joined = "\n".join(values)      # "\n" is neither \w nor \S: no token crosses it
        ascii_ = joined.isascii()
        if self.lowercase and not ascii_:
            values = list(map(str.lower, values))   # may change lengths: lower per document
            joined = "\n".join(values)
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        doc_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=doc_off[1:])
        doc_off[-1] = len(joined)
        buf = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
        if ascii_:
            if self.lowercase:
                buf = K.ascii_lower(buf)
        else:
            doc_off = K.char_to_byte_offsets(buf, doc_off)
        starts, ends, doc_ptr = K.token_runs(buf, doc_off, _char_table(kind), min_chars)
        return TokenBatch(buf, starts, ends, doc_ptr)

    @staticmethod
    def _from_flat_with_seps(toks: list, n: int, min_len: int) -> TokenBatch:
        tb = TokenBatch._from_flat(toks, np.array([0, len(toks)], dtype=np.int64))
        blen = tb.ends - tb.starts
        buf = tb.buf
        is_sep = blen == 1
        if is_sep.any():
            idx = np.flatnonzero(is_sep)
            is_sep[idx] = buf[tb.starts[idx]] == 0
        keep = ~is_sep
        if min_len > 1:
            clen = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
            keep &= clen >= min_len
        else:
            keep &= blen > 0
        doc_of = np.cumsum(is_sep) - is_sep
        counts = np.bincount(doc_of[keep], minlength=n)
        doc_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=doc_ptr[1:])
        return TokenBatch(buf, tb.starts[keep], tb.ends[keep], doc_ptr)


# ============================================================================ StopWords


class StopWords(Transformer):
    """Remove stop words from token lists.

    Parameters
    ----------
    words : sequence of str, optional
        The stop words; default: the package's English list (:func:`english_stop_words`,
        ~180 common function words).
    case_sensitive : bool, default False
        When False, tokens match stop words regardless of the case of ASCII letters (other
        letters compare exactly; tokens are usually lowercased by the Tokenizer anyway).
    """

    _constraints = {"words": [None, list, tuple], "case_sensitive": [bool]}
    _input_kind = "tokens"
    _output_name = "tokens"

    def __init__(self, words=None, case_sensitive=False):
        self.words = words
        self.case_sensitive = case_sensitive

    def _vocab(self) -> _Vocab:
        v = self.__dict__.get("_cache_vocab")
        if v is None:
            words = english_stop_words() if self.words is None else list(self.words)
            bad = [w for w in words if not isinstance(w, str)]
            if bad:
                raise TypeError(f"StopWords words must be str, got {bad[0]!r}")
            v = _Vocab(words, fold=not self.case_sensitive)
            self.__dict__["_cache_vocab"] = v
        return v

    def _transform_batch(self, batch: Any) -> TokenBatch:
        tb = TokenBatch.coerce(batch, "StopWords")
        if tb.n_tokens == 0:
            return tb
        return tb.mask(self._vocab().columns(tb) < 0)


# ============================================================================ NGrams


class NGrams(Transformer):
    """Replace each document's tokens by its n-grams, ``min_n`` to ``max_n`` tokens long.

    The tokens of an n-gram are joined by ``sep`` (a space: pyspark.ml's ``NGram`` and
    scikit-learn's ``ngram_range`` join the same way). ``NGrams(1, 2)`` keeps the unigrams
    and adds the bigrams; ``NGrams(2, 2)`` is pyspark.ml's ``NGram(n=2)``.
    """

    _constraints = {"min_n": Interval(int, 1, None), "max_n": Interval(int, 1, None),
                    "sep": [str]}
    _input_kind = "tokens"
    _output_name = "ngrams"

    def __init__(self, min_n=1, max_n=2, sep=" "):
        self.min_n = min_n
        self.max_n = max_n
        self.sep = sep

    def _validate(self) -> None:
        super()._validate()
        if self.max_n < self.min_n:
            raise ValueError(f"Invalid value for parameter 'max_n' of NGrams: expected an int "
                             f">= min_n ({self.min_n}), got {self.max_n}.")

    def _transform_batch(self, batch: Any) -> TokenBatch:
        tb = TokenBatch.coerce(batch, "NGrams")
        buf, s, e, p = K.ngrams(np.asarray(tb.buf), tb.starts, tb.ends, tb.doc_ptr,
                                int(self.min_n), int(self.max_n),
                                self.sep.encode("utf-8", "surrogatepass"))
        return TokenBatch(buf, s, e, p)


# ============================================================================ HashingTF


class HashingTF(Transformer):
    """Term counts in ``num_features`` hashed columns (the hashing trick), as CSR.

    Column of a term: ``nonNegativeMod(murmur3_x86_32(utf8(term), seed=42), num_features)``
    -- exactly pyspark.ml's ``HashingTF`` (Spark 3+), so indices agree with pyspark.ml.

    Parameters
    ----------
    num_features : int, default 2**18
    binary : bool, default False
        1.0 for a present term instead of its count (pyspark.ml's ``binary``).
    """

    _constraints = {"num_features": Interval(int, 1, 2**31 - 1), "binary": [bool]}
    _input_kind = "tokens"

    def __init__(self, num_features=2**18, binary=False):
        self.num_features = num_features
        self.binary = binary

    def _output_width(self, width):
        return int(self.num_features)

    def columns_of(self, terms: Sequence[str]) -> np.ndarray:
        """The column of each term (like pyspark.ml's ``HashingTF.indexOf``)."""
        tb = TokenBatch.from_lists([list(terms)])
        return K.nonnegative_mod(K.murmur3_32(np.asarray(tb.buf), tb.starts, tb.ends, 42),
                                 int(self.num_features))

    def _transform_batch(self, batch: Any) -> sp.csr_matrix:
        tb = TokenBatch.coerce(batch, "HashingTF")
        nf = int(self.num_features)
        if tb._pending is not None:
            X = _tokenize_hash(tb, nf, bool(self.binary))
            if X is not None:
                return X
        cols = K.nonnegative_mod(K.murmur3_32(np.asarray(tb.buf), tb.starts, tb.ends, 42), nf)
        indptr, indices, data = K.term_counts(cols, tb.doc_ptr, bool(self.binary))
        return sp.csr_matrix((data, indices, indptr), shape=(tb.n_docs, nf))


class _Counts(sp.csr_matrix):
    """HashingTF's output inside a Spark task: a csr_matrix that pickles (Spark's cache of a
    pipeline's intermediate output) with its counts as uint8/uint16 when they are small
    integers -- 5 bytes per nonzero instead of 12 -- and unpickles as a plain csr_matrix."""

    def __reduce__(self):
        data = self.data
        for small in (np.uint8, np.uint16):
            if data.dtype == np.float64 and (not len(data) or data.max() <= np.iinfo(small).max):
                counts = data.astype(small)
                if np.array_equal(counts, data):
                    return (_counts_csr, (self.shape, self.indptr, self.indices, counts))
                break
        return (_counts_csr, (self.shape, self.indptr, self.indices, data))


def _counts_csr(shape, indptr, indices, counts) -> sp.csr_matrix:
    return sp.csr_matrix((counts.astype(np.float64, copy=False), indices, indptr), shape=shape)


def _in_spark_task() -> bool:
    try:
        from pyspark import TaskContext
    except ImportError:  # pragma: no cover
        return False
    return TaskContext.get() is not None


def _tokenize_hash(tb: TokenBatch, nf: int, binary: bool) -> sp.csr_matrix | None:
    """A pending TokenBatch's hashed term counts, tokenized and hashed in one numba pass
    over the UTF-8 text (None: the text needs Python's lowercasing; tokenize first)."""
    tokenizer, values, kind, min_chars, raw = tb._pending
    n = len(values)
    if n == 0:
        return sp.csr_matrix((0, nf), dtype=np.float64)
    low = K.lower_table() if tokenizer.lowercase else None
    if raw is not None:  # the bytes read_text read: every line followed by "\n"
        buf = np.frombuffer(raw, dtype=np.uint8)
        out = K.tokenize_hash(buf, K.newline_offsets(buf, n), _char_table(kind), low,
                              min_chars, nf, binary)
        if out is None:
            return None
        indptr, indices, data = out
        return _Counts((data, indices, indptr), shape=(n, nf))
    joined = "\n".join(values)     # "\n" is neither \w nor \S: no token crosses it
    buf = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    if joined.isascii():
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        doc_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=doc_off[1:])
        doc_off[-1] = len(buf)
    elif joined.count("\n") == n - 1:  # no document holds a newline
        doc_off = K.newline_offsets(buf, n)
    else:
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        doc_off = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens + 1, out=doc_off[1:])
        doc_off[-1] = len(joined)
        doc_off = K.char_to_byte_offsets(buf, doc_off)
    out = K.tokenize_hash(buf, doc_off, _char_table(kind), low, min_chars, nf, binary)
    if out is None:
        return None
    indptr, indices, data = out
    csr = _Counts if _in_spark_task() else sp.csr_matrix
    return csr((data, indices, indptr), shape=(n, nf))


# ============================================================================ CountVectorizer


def _df_partial(batch, y):
    """One partition's document frequencies: (hashes sorted, df, terms, n_docs)."""
    tb = TokenBatch.coerce(batch, "CountVectorizer")
    n = tb.n_docs
    if tb.n_tokens == 0:
        return (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, object), n)
    h = K.hash64(np.asarray(tb.buf), tb.starts, tb.ends)
    doc = np.repeat(np.arange(n, dtype=np.int64), np.diff(tb.doc_ptr))
    order = np.lexsort((h, doc))
    hs, ds = h[order], doc[order]
    first = np.ones(len(hs), dtype=bool)
    first[1:] = (hs[1:] != hs[:-1]) | (ds[1:] != ds[:-1])
    pair_h, pair_tok = hs[first], order[first]
    uh, idx, df = np.unique(pair_h, return_index=True, return_counts=True)
    raw = np.asarray(tb.buf).tobytes()
    tok = pair_tok[idx]
    starts, ends = tb.starts[tok].tolist(), tb.ends[tok].tolist()
    terms = np.array([raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)],
                     dtype=object)
    return (uh, df.astype(np.int64), terms, n)


def _df_combine(a, b):
    h = np.concatenate([a[0], b[0]])
    df = np.concatenate([a[1], b[1]])
    terms = np.concatenate([a[2], b[2]])
    uh, idx, inv = np.unique(h, return_index=True, return_inverse=True)
    return (uh, np.bincount(inv, weights=df, minlength=len(uh)).astype(np.int64), terms[idx],
            a[3] + b[3])


class CountVectorizer(Estimator):
    """Term counts over a vocabulary learned from the data (an Estimator).

    The vocabulary: terms whose document frequency (number of documents containing them)
    is within ``[min_df, max_df]``, the ``vocab_size`` most frequent by document frequency
    (ties by term), in that order (column 0 is the most frequent term; pyspark.ml orders its
    vocabulary by frequency too, scikit-learn alphabetically).

    Parameters
    ----------
    vocab_size : int, optional
        Keep at most this many terms (None: all).
    min_df, max_df : int or float
        Document-frequency bounds: an int is a number of documents, a float in [0, 1] a
        fraction of them (scikit-learn's convention). Defaults: 1 and 1.0.
    binary : bool, default False
        1.0 for a present term instead of its count.

    Terms are counted by a 64-bit hash in the distributed pass (two different terms
    sharing a hash would be merged; the chance is ~V**2 / 2**65 for V distinct terms).
    """

    _constraints = {"vocab_size": [None, Interval(int, 1, None)],
                    "min_df": [Interval(int, 0, None), Interval(float, 0, 1)],
                    "max_df": [Interval(int, 0, None), Interval(float, 0, 1)],
                    "binary": [bool]}
    _input_kind = "tokens"

    def __init__(self, vocab_size=None, min_df=1, max_df=1.0, binary=False):
        self.vocab_size = vocab_size
        self.min_df = min_df
        self.max_df = max_df
        self.binary = binary

    def _fit(self, batches) -> "CountVectorizerModel":
        h, df, terms, n = batches.map_reduce(_df_partial, combine=_df_combine)
        lo = self.min_df if isinstance(self.min_df, (int, np.integer)) and not isinstance(
            self.min_df, float) else math.ceil(float(self.min_df) * n - 1e-9)
        hi = self.max_df if isinstance(self.max_df, (int, np.integer)) and not isinstance(
            self.max_df, float) else math.floor(float(self.max_df) * n + 1e-9)
        ok = (df >= lo) & (df <= hi)
        terms_u = np.array(terms[ok].tolist(), dtype=str) if ok.any() else np.zeros(0, str)
        order = np.lexsort((terms_u, -df[ok])) if len(terms_u) else np.zeros(0, int)
        if self.vocab_size is not None:
            order = order[:int(self.vocab_size)]
        vocab = [str(t) for t in terms_u[order]]
        return CountVectorizerModel(vocabulary=vocab, binary=self.binary)


class CountVectorizerModel(Transformer):
    """Term counts over a fixed vocabulary (column ``j`` counts ``vocabulary[j]``); CSR.

    Tokens not in the vocabulary are ignored.
    """

    _constraints = {"vocabulary": [list, tuple], "binary": [bool]}
    _input_kind = "tokens"

    def __init__(self, vocabulary=(), binary=False):
        self.vocabulary = vocabulary
        self.binary = binary

    def __repr__(self) -> str:
        return f"CountVectorizerModel(vocabulary=<{len(self.vocabulary)} terms>)"

    def _output_width(self, width):
        return len(self.vocabulary)

    def _vocab(self) -> _Vocab:
        v = self.__dict__.get("_cache_vocab")
        if v is None:
            v = _Vocab(list(self.vocabulary), fold=False)
            self.__dict__["_cache_vocab"] = v
        return v

    def _transform_batch(self, batch: Any) -> sp.csr_matrix:
        tb = TokenBatch.coerce(batch, "CountVectorizerModel")
        cols = self._vocab().columns(tb)
        indptr, indices, data = K.term_counts(cols, tb.doc_ptr, bool(self.binary))
        return sp.csr_matrix((data, indices, indptr), shape=(tb.n_docs, len(self.vocabulary)))


# ============================================================================ TF-IDF


def _idf_partial(batch, y):
    X = _as_matrix(batch, "TFIDF")
    if sp.issparse(X):
        nz = X.indices[X.data != 0]
        df = np.bincount(nz, minlength=X.shape[1]).astype(np.int64)
    else:
        df = np.count_nonzero(X, axis=0).astype(np.int64)
    return (df, X.shape[0])


class TFIDF(Estimator):
    """Term counts scaled by inverse document frequency (an Estimator -> :class:`TFIDFModel`).

    Parameters
    ----------
    formula : {"smooth", "spark", "plain"}, default "smooth"
        The idf of a term with document frequency ``df`` among ``n`` documents:
        ``"smooth"``: ``ln((1 + n) / (1 + df)) + 1`` (scikit-learn's ``TfidfTransformer``,
        ``smooth_idf=True``); ``"spark"``: ``ln((n + 1) / (df + 1))`` (pyspark.ml's
        ``IDF``); ``"plain"``: ``ln(n / df) + 1`` (scikit-learn, ``smooth_idf=False``; a
        term in no document gets the smooth value).
    min_doc_freq : int, default 0
        Terms in fewer documents get idf 0 (pyspark.ml's ``minDocFreq``).
    """

    _constraints = {"formula": Options({"smooth", "spark", "plain"}),
                    "min_doc_freq": Interval(int, 0, None)}
    _input_kind = "matrix"

    def __init__(self, formula="smooth", min_doc_freq=0):
        self.formula = formula
        self.min_doc_freq = min_doc_freq

    def _fit(self, batches) -> "TFIDFModel":
        df, n = batches.map_reduce(_idf_partial)
        return TFIDFModel(idf=idf_values(df, n, self.formula, self.min_doc_freq))


def idf_values(df: np.ndarray, n: int, formula: str = "smooth",
               min_doc_freq: int = 0) -> np.ndarray:
    """The idf vector for document frequencies ``df`` among ``n`` documents (see TFIDF)."""
    df = np.asarray(df, dtype=np.float64)
    if formula == "smooth":
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    elif formula == "spark":
        idf = np.log((n + 1.0) / (df + 1.0))
    elif formula == "plain":
        with np.errstate(divide="ignore"):
            idf = np.where(df > 0, np.log(n / np.maximum(df, 1.0)) + 1.0,
                           np.log((1.0 + n) / 1.0) + 1.0)
    else:
        raise ValueError(f"unknown idf formula {formula!r}")
    if min_doc_freq:
        idf = np.where(df >= min_doc_freq, idf, 0.0)
    return idf


class TFIDFModel(Transformer):
    """Multiply column ``j`` by ``idf[j]`` (CSR in, CSR out; dense in, dense out)."""

    _constraints = {"idf": [np.ndarray]}
    _input_kind = "matrix"

    def __init__(self, idf=None):
        self.idf = idf

    def _output_width(self, width):
        return len(self.idf)

    def _transform_batch(self, batch: Any):
        X = _as_matrix(batch, "TFIDFModel")
        idf = np.asarray(self.idf, dtype=np.float64)
        _check_width(X, len(idf), "TFIDFModel")
        if sp.issparse(X):
            return sp.csr_matrix((X.data * idf[X.indices], X.indices, X.indptr), shape=X.shape)
        return X * idf


# ============================================================================ Normalizer

_NORMS = {"l1": 1, "l2": 2, "max": 0}


class Normalizer(Transformer):
    """Scale every row to unit norm (rows of zeros stay zero).

    Parameters
    ----------
    norm : {"l1", "l2", "max"}, default "l2"
    """

    _constraints = {"norm": Options({"l1", "l2", "max"})}
    _input_kind = "matrix"

    def __init__(self, norm="l2"):
        self.norm = norm

    def _output_width(self, width):
        return width

    def _transform_batch(self, batch: Any):
        X = _as_matrix(batch, "Normalizer")
        kind = _NORMS[self.norm]
        if sp.issparse(X):
            norms = K.row_norms(X.indptr, X.data, kind)
            scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
            data = X.data * np.repeat(scale, np.diff(X.indptr))
            return sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
        if kind == 1:
            norms = np.abs(X).sum(axis=1)
        elif kind == 2:
            norms = np.sqrt((X * X).sum(axis=1))
        else:
            norms = np.abs(X).max(axis=1) if X.shape[1] else np.zeros(X.shape[0])
        scale = np.divide(1.0, norms, out=np.zeros_like(norms, dtype=np.float64),
                          where=norms > 0)
        return X * scale[:, None]
