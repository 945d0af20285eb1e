"""Loaders of the real data in ../shared/data for the algorithm tests (seeded splits).

SMS spam as a plain bag of words (scikit-learn's CountVectorizer, fitted on the training
part only) and MNIST t10k pixels (IDX format parsed with numpy).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mli.featurize.idx import read_idx


def _split(n, test_frac, seed):
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * (1 - test_frac)))
    return perm[:k], perm[k:]


def sms_spam(path, *, seed=0, test_frac=0.25):
    """``(X_train, y_train, X_test, y_test)``: CSR word counts (float64), y = 1 for spam."""
    from sklearn.feature_extraction.text import CountVectorizer

    lines = [ln.split("\t", 1) for ln in path.read_text(encoding="utf-8", errors="replace")
             .splitlines() if "\t" in ln]
    y = np.array([lab == "spam" for lab, _ in lines], dtype=np.float64)
    texts = np.array([t for _, t in lines], dtype=object)
    tr, te = _split(len(y), test_frac, seed)
    vec = CountVectorizer().fit(texts[tr])
    X_tr = sp.csr_matrix(vec.transform(texts[tr]), dtype=np.float64)
    X_te = sp.csr_matrix(vec.transform(texts[te]), dtype=np.float64)
    return X_tr, y[tr], X_te, y[te]


def mnist(images_path, *, seed=0, test_frac=0.2):
    """``(X_train, y_train, X_test, y_test)``: raw pixels 0..255 as float64 (784 columns),
    labels 0..9, from the t10k files."""
    X = read_idx(images_path).reshape(-1, 28 * 28).astype(np.float64)
    y = read_idx(str(images_path).replace("images-idx3", "labels-idx1")).astype(np.float64)
    tr, te = _split(len(y), test_frac, seed)
    return X[tr], y[tr], X[te], y[te]
