"""numba kernels of the text featurizers, each with a plain-Python/numpy reference.

Tokens of a batch of documents live in one UTF-8 byte buffer ``buf`` (uint8); token ``t``
is ``buf[starts[t]:ends[t]]`` and document ``d`` holds tokens ``doc_ptr[d]:doc_ptr[d+1]``
(see :class:`mli.featurize.text.TokenBatch`). The kernels work on these arrays with no
Python object per token.

* :func:`murmur3_32` -- MurmurHash3 x86_32 of every token's bytes (the hash of
  pyspark.ml's ``HashingTF``, seed 42, and of scikit-learn's ``murmurhash3_32``);
* :func:`hash64` -- MurmurHash64A of every token (vocabulary and stop-word lookups),
  optionally of its ASCII-lowercased bytes;
* :func:`term_counts` -- per-document sorted, summed column indices -> CSR arrays;
* :func:`lookup` -- the column of every token in a vocabulary (hash + byte comparison);
* :func:`ngrams` -- the n-grams of every document, joined by a separator, in a new buffer;
* :func:`char_to_byte_offsets` -- character offsets of a str to byte offsets of its UTF-8.

The ``*_ref`` functions are slow, obviously-correct references used by the tests.

Why this module is long: every numba kernel of the text stages sits beside its plain-numpy
reference (as the ``implicit`` library's kernels do), and the tests compare each pair.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["murmur3_32", "murmur3_32_ref", "hash64", "hash64_ref", "term_counts",
           "term_counts_ref", "lookup", "ngrams", "ngrams_ref", "char_to_byte_offsets",
           "char_to_byte_offsets_ref", "nonnegative_mod", "row_norms", "row_norms_ref",
           "token_runs", "ascii_lower", "tokenize_hash", "newline_offsets", "lower_table"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF

# ============================================================================ MurmurHash3 x86_32


@njit(cache=True, nogil=True)
def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _murmur3_one(buf, start, end, seed):
    return _murmur3_bytes(buf[start:end], end - start, np.uint64(seed) & np.uint64(0xFFFFFFFF))


@njit(cache=True, nogil=True)
def _murmur3_tokens(buf, starts, ends, seed, out):
    for t in range(starts.shape[0]):
        h = _murmur3_one(buf, starts[t], ends[t], seed)
        out[t] = np.int64(h) - (np.int64(1) << 32) if h >= np.uint64(0x80000000) else np.int64(h)


def murmur3_32(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, seed: int = 42) -> np.ndarray:
    """Signed 32-bit MurmurHash3 x86_32 of every token (int64 array)."""
    out = np.empty(len(starts), dtype=np.int64)
    if len(starts):
        _murmur3_tokens(buf, starts.astype(np.int64, copy=False),
                        ends.astype(np.int64, copy=False), np.int64(seed & _M32), out)
    return out


def murmur3_32_ref(data: bytes, seed: int = 42) -> int:
    """Reference MurmurHash3 x86_32 of ``data`` (signed int, like Java's and sklearn's)."""
    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & _M32

    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M32
    n = len(data)
    for i in range(0, n - n % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = rotl((k * c1) & _M32, 15) * c2 & _M32
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & _M32
    tail = data[n - n % 4:]
    k = 0
    for j, byte in enumerate(tail):
        k ^= byte << (8 * j)
    if tail:
        k = rotl((k * c1) & _M32, 15) * c2 & _M32
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def nonnegative_mod(h: np.ndarray, n: int) -> np.ndarray:
    """Spark's ``Utils.nonNegativeMod``: ``h mod n`` in ``[0, n)`` for signed ``h``."""
    return np.mod(h, np.int64(n))


# ============================================================================ MurmurHash64A


@njit(cache=True, nogil=True)
def _hash64_one(buf, start, end, fold):
    m = np.uint64(0xC6A4A7935BD1E995)
    r = np.uint64(47)
    n = end - start
    h = np.uint64(0x2545F4914F6CDD1D) ^ (np.uint64(n) * m)
    nblocks = n // 8
    for b in range(nblocks):
        i = start + 8 * b
        k = np.uint64(0)
        for j in range(8):
            c = buf[i + j]
            if fold and c >= 65 and c <= 90:
                c = c + 32
            k |= np.uint64(c) << np.uint64(8 * j)
        k *= m
        k ^= k >> r
        k *= m
        h ^= k
        h *= m
    tail = start + 8 * nblocks
    rem = n & 7
    if rem:
        for j in range(rem - 1, -1, -1):
            c = buf[tail + j]
            if fold and c >= 65 and c <= 90:
                c = c + 32
            h ^= np.uint64(c) << np.uint64(8 * j)
        h *= m
    h ^= h >> r
    h *= m
    h ^= h >> r
    return h


@njit(cache=True, nogil=True)
def _hash64_tokens(buf, starts, ends, fold, out):
    for t in range(starts.shape[0]):
        out[t] = _hash64_one(buf, starts[t], ends[t], fold)


def hash64(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, fold: bool = False) -> np.ndarray:
    """MurmurHash64A (fixed seed) of every token, of its ASCII-lowercased bytes if ``fold``."""
    out = np.empty(len(starts), dtype=np.uint64)
    if len(starts):
        _hash64_tokens(buf, starts.astype(np.int64, copy=False),
                       ends.astype(np.int64, copy=False), bool(fold), out)
    return out


def hash64_ref(data: bytes, fold: bool = False) -> int:
    """Reference MurmurHash64A of ``data`` (as :func:`hash64`)."""
    if fold:
        data = bytes(c + 32 if 65 <= c <= 90 else c for c in data)
    m, r = 0xC6A4A7935BD1E995, 47
    n = len(data)
    h = (0x2545F4914F6CDD1D ^ (n * m)) & _M64
    for i in range(0, n - n % 8, 8):
        k = int.from_bytes(data[i:i + 8], "little")
        k = (k * m) & _M64
        k ^= k >> r
        k = (k * m) & _M64
        h ^= k
        h = (h * m) & _M64
    tail = data[n - n % 8:]
    if tail:
        for j in range(len(tail) - 1, -1, -1):
            h ^= tail[j] << (8 * j)
        h = (h * m) & _M64
    h ^= h >> r
    h = (h * m) & _M64
    h ^= h >> r
    return h


# ============================================================================ term counts -> CSR


@njit(cache=True, nogil=True)
def _emit_counts(seg, m, binary, indices, data, nnz):
    """Sort the ``m`` column ids in ``seg`` and append (column, count) pairs at ``nnz``;
    returns the new ``nnz``."""
    if m <= 24:  # insertion sort: documents are short
        for a in range(1, m):
            v = seg[a]
            b = a - 1
            while b >= 0 and seg[b] > v:
                seg[b + 1] = seg[b]
                b -= 1
            seg[b + 1] = v
        s = seg
    else:
        s = np.sort(seg[:m])
    prev = s[0]
    cnt = 1.0
    for t in range(1, m):
        if s[t] == prev:
            cnt += 1.0
        else:
            indices[nnz] = prev
            data[nnz] = 1.0 if binary else cnt
            nnz += 1
            prev = s[t]
            cnt = 1.0
    indices[nnz] = prev
    data[nnz] = 1.0 if binary else cnt
    return nnz + 1


@njit(cache=True, nogil=True)
def _term_counts(cols, doc_ptr, binary, indptr, indices, data):
    n_docs = doc_ptr.shape[0] - 1
    nnz = 0
    indptr[0] = 0
    longest = 0
    for d in range(n_docs):
        longest = max(longest, doc_ptr[d + 1] - doc_ptr[d])
    seg = np.empty(longest, dtype=np.int64)
    for d in range(n_docs):
        a, b = doc_ptr[d], doc_ptr[d + 1]
        k = b - a
        if k > 0:
            m = 0
            for t in range(a, b):
                if cols[t] >= 0:
                    seg[m] = cols[t]
                    m += 1
            if m > 0:
                nnz = _emit_counts(seg, m, binary, indices, data, nnz)
        indptr[d + 1] = nnz
    return nnz


def term_counts(cols: np.ndarray, doc_ptr: np.ndarray, binary: bool = False):
    """CSR arrays ``(indptr, indices, data)`` of per-document term counts.

    ``cols[t]`` is the column of token ``t`` (negative: dropped); indices are sorted within a
    row and duplicates summed (or set to 1 with ``binary``).
    """
    n_docs = len(doc_ptr) - 1
    indptr = np.empty(n_docs + 1, dtype=np.int32 if len(cols) < 2**31 else np.int64)
    indices = np.empty(len(cols), dtype=np.int32)
    data = np.empty(len(cols), dtype=np.float64)
    nnz = _term_counts(cols.astype(np.int64, copy=False), doc_ptr.astype(np.int64, copy=False),
                       bool(binary), indptr, indices, data) if n_docs > 0 else 0
    if n_docs == 0:
        indptr[:] = 0
    return indptr, indices[:nnz].copy(), data[:nnz].copy()


def term_counts_ref(cols, doc_ptr, binary=False):
    """Reference of :func:`term_counts` with Python dicts."""
    indptr, indices, data = [0], [], []
    for d in range(len(doc_ptr) - 1):
        counts: dict = {}
        for c in cols[doc_ptr[d]:doc_ptr[d + 1]]:
            if c >= 0:
                counts[int(c)] = counts.get(int(c), 0) + 1
        for c in sorted(counts):
            indices.append(c)
            data.append(1.0 if binary else float(counts[c]))
        indptr.append(len(indices))
    return (np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
            np.array(data, dtype=np.float64))


# ============================================================================ vocabulary lookup


@njit(cache=True, nogil=True)
def _lookup(hashes, buf, starts, ends, fold, vhash, vcol, vbuf, voff, out):
    nv = vhash.shape[0]
    for t in range(hashes.shape[0]):
        out[t] = -1
        h = hashes[t]
        i = np.searchsorted(vhash, h)
        while i < nv and vhash[i] == h:
            j = vcol[i]
            a, b = voff[j], voff[j + 1]
            s, e = starts[t], ends[t]
            if b - a == e - s:
                same = True
                for q in range(e - s):
                    c = buf[s + q]
                    if fold and c >= 65 and c <= 90:
                        c = c + 32
                    if c != vbuf[a + q]:
                        same = False
                        break
                if same:
                    out[t] = j
                    break
            i += 1


def lookup(hashes, buf, starts, ends, vocab_hash_sorted, vocab_col, vocab_buf, vocab_off,
           fold: bool = False) -> np.ndarray:
    """Column of every token in a vocabulary, or -1.

    The vocabulary is ``vocab_buf[vocab_off[j]:vocab_off[j+1]]`` for column ``j``;
    ``vocab_hash_sorted`` are the :func:`hash64` values of its terms, sorted, and
    ``vocab_col`` the column of each sorted entry. A hash match is confirmed by comparing
    the bytes (with ``fold``: the token's ASCII-lowercased bytes against the term's).
    """
    out = np.empty(len(hashes), dtype=np.int64)
    if len(hashes):
        _lookup(hashes, buf, starts.astype(np.int64, copy=False),
                ends.astype(np.int64, copy=False), bool(fold), vocab_hash_sorted,
                vocab_col.astype(np.int64, copy=False), vocab_buf,
                vocab_off.astype(np.int64, copy=False), out)
    return out


# ============================================================================ n-grams


@njit(cache=True, nogil=True)
def _ngram_sizes(starts, ends, doc_ptr, min_n, max_n, sep_len):
    n_docs = doc_ptr.shape[0] - 1
    count = 0
    nbytes = 0
    for d in range(n_docs):
        a, b = doc_ptr[d], doc_ptr[d + 1]
        for n in range(min_n, max_n + 1):
            for i in range(a, b - n + 1):
                count += 1
                for q in range(i, i + n):
                    nbytes += ends[q] - starts[q]
                nbytes += (n - 1) * sep_len
    return count, nbytes


@njit(cache=True, nogil=True)
def _ngram_fill(buf, starts, ends, doc_ptr, min_n, max_n, sep, obuf, ostarts, oends, optr):
    n_docs = doc_ptr.shape[0] - 1
    t = 0
    pos = 0
    optr[0] = 0
    for d in range(n_docs):
        a, b = doc_ptr[d], doc_ptr[d + 1]
        for n in range(min_n, max_n + 1):
            for i in range(a, b - n + 1):
                ostarts[t] = pos
                for q in range(i, i + n):
                    if q > i:
                        for c in range(sep.shape[0]):
                            obuf[pos] = sep[c]
                            pos += 1
                    for c in range(starts[q], ends[q]):
                        obuf[pos] = buf[c]
                        pos += 1
                oends[t] = pos
                t += 1
        optr[d + 1] = t


def ngrams(buf, starts, ends, doc_ptr, min_n: int, max_n: int, sep: bytes = b" "):
    """The ``min_n``..``max_n``-grams of every document (for each document: all
    ``min_n``-grams in order, then the longer ones), joined by ``sep``.

    Returns ``(buf, starts, ends, doc_ptr)`` of the n-gram tokens in a new buffer.
    """
    starts = starts.astype(np.int64, copy=False)
    ends = ends.astype(np.int64, copy=False)
    doc_ptr = doc_ptr.astype(np.int64, copy=False)
    sep_arr = np.frombuffer(sep, dtype=np.uint8)
    count, nbytes = _ngram_sizes(starts, ends, doc_ptr, min_n, max_n, len(sep_arr))
    obuf = np.empty(nbytes, dtype=np.uint8)
    ostarts = np.empty(count, dtype=np.int64)
    oends = np.empty(count, dtype=np.int64)
    optr = np.zeros(len(doc_ptr), dtype=np.int64)
    if len(doc_ptr) > 1:
        _ngram_fill(buf, starts, ends, doc_ptr, min_n, max_n, sep_arr, obuf, ostarts, oends,
                    optr)
    return obuf, ostarts, oends, optr


def ngrams_ref(docs: list[list[str]], min_n: int, max_n: int, sep: str = " ") -> list[list[str]]:
    """Reference of :func:`ngrams` on token lists."""
    return [[sep.join(toks[i:i + n]) for n in range(min_n, max_n + 1)
             for i in range(len(toks) - n + 1)] for toks in docs]


# ============================================================================ char -> byte offsets


@njit(cache=True, nogil=True)
def _char_to_byte(buf, char_off, out):
    # char_off is non-decreasing; walk the buffer once counting code-point starts
    nb = buf.shape[0]
    k = 0
    chars = 0
    pos = 0
    n = char_off.shape[0]
    while k < n and char_off[k] == 0:
        out[k] = 0
        k += 1
    while pos < nb and k < n:
        pos += 1
        # advance over continuation bytes of this code point
        while pos < nb and (buf[pos] & 0xC0) == 0x80:
            pos += 1
        chars += 1
        while k < n and char_off[k] == chars:
            out[k] = pos
            k += 1
    while k < n:
        out[k] = nb
        k += 1


def char_to_byte_offsets(buf: np.ndarray, char_offsets: np.ndarray) -> np.ndarray:
    """Byte offsets in the UTF-8 ``buf`` of the (non-decreasing) character offsets."""
    out = np.empty(len(char_offsets), dtype=np.int64)
    if len(char_offsets):
        _char_to_byte(buf, char_offsets.astype(np.int64, copy=False), out)
    return out


def char_to_byte_offsets_ref(text: str, char_offsets) -> np.ndarray:
    """Reference of :func:`char_to_byte_offsets` from the str itself."""
    return np.array([len(text[:c].encode("utf-8", "surrogatepass")) for c in char_offsets],
                    dtype=np.int64)


# ============================================================================ row norms


@njit(cache=True, nogil=True)
def _row_norms(indptr, data, kind, out):
    for r in range(indptr.shape[0] - 1):
        acc = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            v = data[k]
            if kind == 1:
                acc += abs(v)
            elif kind == 2:
                acc += v * v
            else:
                acc = max(acc, abs(v))
        out[r] = np.sqrt(acc) if kind == 2 else acc


def row_norms(indptr: np.ndarray, data: np.ndarray, kind: int) -> np.ndarray:
    """Per-row L1 (``kind=1``), L2 (2) or max (0) norm of a CSR matrix's rows."""
    out = np.empty(len(indptr) - 1, dtype=np.float64)
    if len(out):
        _row_norms(indptr, data, int(kind), out)
    return out


def row_norms_ref(indptr, data, kind):
    """Reference of :func:`row_norms`."""
    out = []
    for r in range(len(indptr) - 1):
        v = np.asarray(data[indptr[r]:indptr[r + 1]], dtype=np.float64)
        out.append(np.abs(v).sum() if kind == 1 else np.sqrt((v * v).sum()) if kind == 2
                   else (np.abs(v).max() if len(v) else 0.0))
    return np.array(out, dtype=np.float64)


# ============================================================================ run tokenizer


@njit(cache=True, nogil=True)
def _decode_at(buf, i, n):
    """(code point, byte length) of the UTF-8 sequence at ``buf[i]`` (lenient)."""
    b0 = np.int64(buf[i])
    if b0 < 0x80:
        return b0, 1
    if b0 >= 0xF0 and i + 3 < n:
        return (((b0 & 0x07) << 18) | ((np.int64(buf[i + 1]) & 0x3F) << 12)
                | ((np.int64(buf[i + 2]) & 0x3F) << 6) | (np.int64(buf[i + 3]) & 0x3F)), 4
    if b0 >= 0xE0 and i + 2 < n:
        return (((b0 & 0x0F) << 12) | ((np.int64(buf[i + 1]) & 0x3F) << 6)
                | (np.int64(buf[i + 2]) & 0x3F)), 3
    if b0 >= 0xC0 and i + 1 < n:
        return ((b0 & 0x1F) << 6) | (np.int64(buf[i + 1]) & 0x3F), 2
    return b0, 1


@njit(cache=True, nogil=True)
def _runs(buf, doc_off, table, min_chars, starts, ends, doc_ptr):
    n = buf.shape[0]
    t = 0
    doc_ptr[0] = 0
    for d in range(doc_off.shape[0] - 1):
        i = doc_off[d]
        stop = doc_off[d + 1]
        run_start = -1
        chars = 0
        while i < stop:
            b0 = buf[i]
            if b0 < 0x80:
                cp = np.int64(b0)
                ln = 1
            else:
                cp, ln = _decode_at(buf, i, n)
            if table[cp]:
                if run_start < 0:
                    run_start = i
                    chars = 0
                chars += 1
            elif run_start >= 0:
                if chars >= min_chars:
                    starts[t] = run_start
                    ends[t] = i
                    t += 1
                run_start = -1
            i += ln
        if run_start >= 0 and chars >= min_chars:
            starts[t] = run_start
            ends[t] = stop
            t += 1
        doc_ptr[d + 1] = t
    return t


def token_runs(buf: np.ndarray, doc_off: np.ndarray, table: np.ndarray, min_chars: int):
    """Tokens = maximal runs of code points ``c`` with ``table[c]`` true, at least
    ``min_chars`` long, within each document ``buf[doc_off[d]:doc_off[d+1]]`` (UTF-8).

    Returns ``(starts, ends, doc_ptr)`` (byte offsets into ``buf``). This is what regular
    expressions like ``\\b\\w\\w+\\b`` (runs of word characters, 2 or more) or ``\\S+``
    match, without the regex engine.
    """
    cap = buf.shape[0] // 2 + len(doc_off) + 1
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    doc_ptr = np.zeros(len(doc_off), dtype=np.int64)
    if len(doc_off) > 1:
        t = _runs(buf, doc_off.astype(np.int64, copy=False), table, max(1, int(min_chars)),
                  starts, ends, doc_ptr)
    else:
        t = 0
    return starts[:t].copy(), ends[:t].copy(), doc_ptr


@njit(cache=True, nogil=True)
def ascii_lower(buf):
    """A copy of ``buf`` with ASCII letters lowercased."""
    out = np.empty_like(buf)
    for i in range(buf.shape[0]):
        c = buf[i]
        out[i] = c + 32 if c >= 65 and c <= 90 else c
    return out


# ============================================================================ fused tokenize + hash


@njit(cache=True, nogil=True, inline="always")
def _murmur3_bytes(tok, nb, h1):
    """MurmurHash3 x86_32 of ``tok[:nb]`` with seed ``h1`` (unsigned, in a uint64)."""
    m = np.uint64(0xFFFFFFFF)
    nblocks = nb >> 2
    for b in range(nblocks):
        i = 4 * b
        k1 = (np.uint64(tok[i]) | (np.uint64(tok[i + 1]) << np.uint64(8))
              | (np.uint64(tok[i + 2]) << np.uint64(16)) | (np.uint64(tok[i + 3]) << np.uint64(24)))
        k1 = (k1 * np.uint64(0xCC9E2D51)) & m
        k1 = ((k1 << np.uint64(15)) | (k1 >> np.uint64(17))) & m
        k1 = (k1 * np.uint64(0x1B873593)) & m
        h1 ^= k1
        h1 = ((h1 << np.uint64(13)) | (h1 >> np.uint64(19))) & m
        h1 = (h1 * np.uint64(5) + np.uint64(0xE6546B64)) & m
    tail = 4 * nblocks
    rem = nb & 3
    k1 = np.uint64(0)
    if rem == 3:
        k1 ^= np.uint64(tok[tail + 2]) << np.uint64(16)
    if rem >= 2:
        k1 ^= np.uint64(tok[tail + 1]) << np.uint64(8)
    if rem >= 1:
        k1 ^= np.uint64(tok[tail])
        k1 = (k1 * np.uint64(0xCC9E2D51)) & m
        k1 = ((k1 << np.uint64(15)) | (k1 >> np.uint64(17))) & m
        k1 = (k1 * np.uint64(0x1B873593)) & m
        h1 ^= k1
    h1 ^= np.uint64(nb)
    h1 ^= h1 >> np.uint64(16)
    h1 = (h1 * np.uint64(0x85EBCA6B)) & m
    h1 ^= h1 >> np.uint64(13)
    h1 = (h1 * np.uint64(0xC2B2AE35)) & m
    h1 ^= h1 >> np.uint64(16)
    return h1


@njit(cache=True, nogil=True)
def _tokenize_hash(buf, doc_off, table, asc, low, use_low, min_chars, seed, nf, binary,
                   indptr, indices, data, seg, tok, d0, nnz0):
    # asc[b] (ASCII b): -1 when b is not a token character, else b as it goes into the
    # token (lowercased); other code points: table[low[cp]] (table[cp] without lowercasing)
    # returns (0, n_docs, nnz) when done, (1, d, nnz) when the output arrays are full at
    # document d (call again from there with larger arrays), (-1, d, nnz) for the fallback
    n = buf.shape[0]
    nnz = nnz0
    cap = indices.shape[0]
    s0 = np.uint64(seed) & np.uint64(0xFFFFFFFF)
    for d in range(d0, doc_off.shape[0] - 1):
        i = doc_off[d]
        stop = doc_off[d + 1]
        m = 0
        nb = 0
        chars = 0
        while True:
            if i < stop:
                b0 = buf[i]
                if b0 < 0x80:
                    v = asc[b0]
                    i += 1
                    if v >= 0:
                        tok[nb] = v
                        nb += 1
                        chars += 1
                        continue
                else:
                    cp, ln = _decode_at(buf, i, n)
                    i += ln
                    if use_low:
                        cp = np.int64(low[cp])
                        if cp < 0:
                            return -1, d, nnz  # lowercase: context-dependent or 2 characters
                    if table[cp] != 0:
                        chars += 1
                        if cp < 0x80:
                            tok[nb] = cp
                            nb += 1
                        elif cp < 0x800:
                            tok[nb] = 0xC0 | (cp >> 6)
                            tok[nb + 1] = 0x80 | (cp & 0x3F)
                            nb += 2
                        elif cp < 0x10000:
                            tok[nb] = 0xE0 | (cp >> 12)
                            tok[nb + 1] = 0x80 | ((cp >> 6) & 0x3F)
                            tok[nb + 2] = 0x80 | (cp & 0x3F)
                            nb += 3
                        else:
                            tok[nb] = 0xF0 | (cp >> 18)
                            tok[nb + 1] = 0x80 | ((cp >> 12) & 0x3F)
                            tok[nb + 2] = 0x80 | ((cp >> 6) & 0x3F)
                            tok[nb + 3] = 0x80 | (cp & 0x3F)
                            nb += 4
                        continue
            # a separator or the end of the document: the token so far (if any) ends
            if nb > 0:
                if chars >= min_chars:
                    h = _murmur3_bytes(tok, nb, s0)
                    hs = np.int64(h) - (np.int64(1) << 32) if h >= np.uint64(0x80000000) \
                        else np.int64(h)
                    c = hs % nf
                    if c < 0:
                        c += nf
                    seg[m] = c
                    m += 1
                nb = 0
                chars = 0
            if i >= stop:
                break
        if m > 0:
            if nnz + m > cap:
                return 1, d, nnz
            nnz = _emit_counts(seg, m, binary, indices, data, nnz)
        indptr[d + 1] = nnz
    return 0, doc_off.shape[0] - 1, nnz


_ASC_CACHE: dict = {}


def _ascii_table(table: np.ndarray, lowercase: bool) -> np.ndarray:
    key = (table.ctypes.data, bool(lowercase))
    asc = _ASC_CACHE.get(key)
    if asc is None:
        asc = np.full(128, -1, dtype=np.int16)
        for c in range(128):
            lc = c + 32 if lowercase and 65 <= c <= 90 else c
            if table[lc]:
                asc[c] = lc
        _ASC_CACHE[key] = asc
    return asc


def tokenize_hash(buf: np.ndarray, doc_off: np.ndarray, table: np.ndarray,
                  low: np.ndarray | None, min_chars: int, num_features: int,
                  binary: bool = False, seed: int = 42):
    """Tokenize and hash in one pass: CSR arrays ``(indptr, indices, data)`` of the hashed
    term counts of every document ``buf[doc_off[d]:doc_off[d+1]]`` (UTF-8), or None.

    Tokens are as in :func:`token_runs` (maximal runs of code points ``c`` with
    ``table[c]``, at least ``min_chars`` long) over the text lowercased with ``low``
    (``low[c]``: the lowercase code point of ``c``, see :func:`lower_table`; None: no
    lowercasing); a token's column is ``nonNegativeMod(murmur3_32(utf8(token), seed),
    num_features)`` as in :func:`murmur3_32` -- pyspark.ml's HashingTF. Indices are sorted
    within a row, duplicates summed (1.0 with ``binary``). Returns None when a code point
    with ``low[c] < 0`` occurs (its lowercase is not one code point, or depends on its
    neighbours): the caller then lowercases with Python's ``str.lower``.
    """
    n_docs = len(doc_off) - 1
    indptr = np.zeros(max(n_docs, 0) + 1,
                      dtype=np.int32 if buf.shape[0] < 2**31 else np.int64)
    if n_docs <= 0:
        return indptr, np.zeros(0, np.int32), np.zeros(0, np.float64)
    doc_off = doc_off.astype(np.int64, copy=False)
    # output capacity: a guess (~ one distinct term per 4 bytes), grown when it is short;
    # close to nnz so that scipy keeps the views instead of copying them (it copies a view
    # of less than half its buffer)
    worst = (buf.shape[0] + n_docs) // 2 + n_docs + 1
    cap = min(worst, buf.shape[0] // 4 + n_docs + 64)
    indices = np.empty(cap, dtype=np.int32)
    data = np.empty(cap, dtype=np.float64)
    longest = int(np.max(np.diff(doc_off)))
    seg = np.empty(longest + 1, dtype=np.int64)
    tok = np.empty(4 * longest + 4, dtype=np.uint8)
    use_low = low is not None
    asc = _ascii_table(table, use_low)
    low_arr = low if use_low else np.zeros(1, np.int32)
    d, nnz = 0, 0
    while True:
        status, d, nnz = _tokenize_hash(buf, doc_off, table, asc, low_arr, use_low,
                                        max(1, int(min_chars)), np.int64(seed & _M32),
                                        np.int64(num_features), bool(binary), indptr, indices,
                                        data, seg, tok, d, nnz)
        if status < 0:
            return None
        if status == 0:
            break
        cap = min(worst, max(2 * cap, nnz + longest + 1))
        indices = np.concatenate([indices[:nnz], np.empty(cap - nnz, dtype=np.int32)])
        data = np.concatenate([data[:nnz], np.empty(cap - nnz, dtype=np.float64)])
    return indptr, indices[:nnz], data[:nnz]


@njit(cache=True, nogil=True)
def _newline_offsets(buf, out):
    k = 1
    out[0] = 0
    for i in range(buf.shape[0]):
        if buf[i] == 10:
            out[k] = i + 1
            k += 1
            if k == out.shape[0] - 1:
                break
    out[out.shape[0] - 1] = buf.shape[0]
    return k


def newline_offsets(buf: np.ndarray, n_docs: int) -> np.ndarray:
    """Document offsets in ``buf`` holding ``n_docs`` documents joined by ``b"\\n"`` (no
    document holds a newline): ``doc_off[d]`` is where document ``d`` starts and
    ``doc_off[n_docs] = len(buf)`` (document ``d`` plus its separator is
    ``buf[doc_off[d]:doc_off[d+1]]``).
    """
    out = np.empty(n_docs + 1, dtype=np.int64)
    if n_docs > 0:
        _newline_offsets(buf, out)
    return out


_LOWER = None


def lower_table() -> np.ndarray:
    """``table[c]``: the code point of ``chr(c).lower()`` (Python's ``str.lower``), or -1
    where that is not one code point regardless of the neighbours (U+0130, which lowercases
    to two code points, and U+03A3, whose lowercase depends on its position in a word)."""
    global _LOWER
    if _LOWER is None:
        cps = np.arange(0x110000, dtype=np.uint32)
        cps[0x130] = 0x20
        text = cps.tobytes().decode("utf-32-le", "surrogatepass").lower()
        low = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if low.shape[0] != 0x110000:  # pragma: no cover - another multi-code-point lowercase
            low = np.array([ord(chr(c).lower()) if len(chr(c).lower()) == 1 else -1
                            for c in range(0x110000)], dtype=np.int64)
        table = low.astype(np.int32)
        table[0x130] = -1
        table[0x3A3] = -1
        _LOWER = table
    return _LOWER
