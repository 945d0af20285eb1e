"""Generators of MovieLens/Netflix-shaped ratings and implicit feedback (mli.table.datasets)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mli.table.datasets import (blobs, class_counts, generated_titles, holdout_per_user,
                          implicit_interactions, movielens_like, netflix_like, powerlaw_degrees)


def _loglog_slope(degrees: np.ndarray) -> float:
    """Slope of the complementary CDF of the degrees on log-log axes (tail half)."""
    d = np.sort(degrees[degrees > 0])[::-1]
    ccdf = np.arange(1, len(d) + 1) / len(d)
    top = d > np.median(d)
    return float(np.polyfit(np.log(d[top]), np.log(ccdf[top]), 1)[0])


@pytest.fixture(scope="module")
def ml():
    return movielens_like(seed=0)


def test_movielens_like_shape(ml):
    assert ml.columns.tolist() == ["user", "item", "rating"]
    assert len(ml) == 100_000
    assert ml["user"].dtype == np.int32 and ml["item"].dtype == np.int32
    assert ml["rating"].dtype == np.float32
    assert ml["user"].min() == 1 and ml["user"].max() == 943
    assert ml["item"].min() >= 1 and ml["item"].max() <= 1682
    assert not ml.duplicated(["user", "item"]).any()
    # sorted by user, item
    key = ml["user"].to_numpy().astype(np.int64) * 10_000 + ml["item"].to_numpy()
    assert (np.diff(key) > 0).all()


def test_movielens_like_ratings(ml):
    r = ml["rating"].to_numpy()
    assert set(np.unique(r)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    # calibrated on MovieLens 100K: mean 3.53, sd 1.13
    assert 3.3 < r.mean() < 3.8
    assert 0.9 < r.std() < 1.3
    half = movielens_like(200, 300, 5_000, half_stars=True, seed=1)["rating"].to_numpy()
    assert half.min() >= 0.5 and half.max() <= 5.0
    assert np.all(half * 2 == np.round(half * 2))


def test_movielens_like_power_law_degrees(ml):
    users = ml.groupby("user").size().to_numpy()
    items = ml.groupby("item").size().to_numpy()
    assert users.min() >= 20                        # as MovieLens: every user >= 20 ratings
    assert users.max() > 5 * np.median(users)
    assert items.max() > 10 * np.median(items)
    top10 = np.sort(items)[::-1][: len(items) // 10].sum() / items.sum()
    assert 0.3 < top10 < 0.7                      # MovieLens 100K: 0.43
    assert _loglog_slope(items) < -1.0            # heavy tail, straight-ish on log-log
    assert _loglog_slope(users) < -1.0


def test_low_rank_signal(ml):
    """Ratings carry user and item structure (a baseline beats the global mean)."""
    r = ml["rating"].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    test = rng.random(len(ml)) < 0.2
    tr = ml[~test]
    mu = tr["rating"].mean()
    bi = (tr.groupby("item")["rating"].mean() - mu).reindex(ml["item"]).fillna(0).to_numpy()
    bu = (tr.groupby("user")["rating"].mean() - mu).reindex(ml["user"]).fillna(0).to_numpy()
    base = np.sqrt(np.mean((r[test] - mu) ** 2))
    biased = np.sqrt(np.mean((r[test] - np.clip(mu + bi[test] + bu[test], 1, 5)) ** 2))
    assert biased < base - 0.05


def test_seeded_determinism():
    a = movielens_like(300, 400, 8_000, seed=7)
    b = movielens_like(300, 400, 8_000, seed=7)
    c = movielens_like(300, 400, 8_000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    x = implicit_interactions(500, 300, 6_000, seed=3)
    y = implicit_interactions(500, 300, 6_000, seed=3)
    pd.testing.assert_frame_equal(x, y)


def test_powerlaw_degrees_exact_sum_and_caps():
    d = powerlaw_degrees(1000, 50_000, min_degree=5, max_degree=300, seed=0)
    assert d.sum() == 50_000 and d.min() >= 5 and d.max() <= 300 and d.dtype == np.int64
    with pytest.raises(ValueError, match="exceeds"):
        powerlaw_degrees(10, 5, min_degree=1)
    with pytest.raises(ValueError, match="less than"):
        powerlaw_degrees(10, 1000, max_degree=5)


def test_impossible_sizes():
    with pytest.raises(ValueError, match="do not fit"):
        movielens_like(10, 10, 101)
    with pytest.raises(ValueError, match="do not fit"):
        implicit_interactions(10, 10, 101)


def test_dense_corner_case():
    df = movielens_like(20, 30, 600, min_user_ratings=30, seed=2)   # every pair rated
    assert len(df) == 600 and not df.duplicated(["user", "item"]).any()


def test_implicit_interactions():
    df = implicit_interactions(5_000, 1_000, 100_000, seed=0)
    assert len(df) == 100_000 and not df.duplicated(["user", "item"]).any()
    assert df.columns.tolist() == ["user", "item", "rating"]
    assert df["rating"].min() >= 1 and (df["rating"] == np.round(df["rating"])).all()
    users = df.groupby("user").size().to_numpy()
    items = df.groupby("item").size().to_numpy()
    assert len(users) == 5_000 and users.min() >= 5
    assert items.max() > 10 * np.median(items)
    # taste structure: a user's items concentrate more than random popularity draws would
    # (share of a user's interactions in its most frequent "co-occurrence cluster" is hard
    # to measure directly; use: users sharing items overlap more than chance)
    top = df["item"].value_counts().index[:50]
    sub = df[df["item"].isin(top)]
    m = pd.crosstab(sub["user"], sub["item"]).to_numpy().astype(float)
    corr = np.corrcoef(m.T)
    off = corr[~np.eye(len(corr), dtype=bool)]
    assert np.nanmax(off) > 0.1


def test_netflix_like_small():
    df = netflix_like(2_000, 500, 40_000, seed=0)
    assert len(df) == 40_000 and df["user"].nunique() == 2_000
    assert df.groupby("user").size().min() >= 5


def test_holdout_per_user():
    df = implicit_interactions(1_000, 300, 20_000, seed=1)
    train, held = holdout_per_user(df, 2, min_keep=3, seed=0)
    assert len(train) + len(held) == len(df)
    assert held.groupby("user").size().max() == 2
    assert train.groupby("user").size().min() >= 3
    assert len(train.merge(held, on=["user", "item"])) == 0
    t2, h2 = holdout_per_user(df, 2, min_keep=3, seed=0)
    pd.testing.assert_frame_equal(held, h2)


def test_generated_titles():
    t = generated_titles(100, seed=0)
    assert len(t) == 100 and t.index[0] == 1 and t.index[-1] == 100
    assert t.str.match(r".+ \(\d{4}\)$").all()
    assert t.equals(generated_titles(100, seed=0))


def test_blobs_draws_labels_then_noise_and_rejects_bad_input():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rng = np.random.default_rng(3)
    want_labels = rng.integers(3, size=50)
    want = centers[want_labels] + 0.5 * rng.standard_normal((50, 2))
    X, labels = blobs(centers, 50, scale=0.5, seed=3)
    assert np.array_equal(labels, want_labels) and np.array_equal(X, want)
    rng = np.random.default_rng(3)
    assert np.array_equal(blobs(centers, 50, scale=0.5, seed=rng)[0], want)
    assert np.allclose(np.linalg.norm(X - centers[labels], axis=1).mean(), 0.5 * 1.25, atol=0.2)
    assert blobs(centers, 0)[0].shape == (0, 2)
    with pytest.raises(ValueError, match=r"centers must be a non-empty 2-D array.*\(3,\)"):
        blobs([1.0, 2.0, 3.0], 5)
    with pytest.raises(ValueError, match="n must be a non-negative int, got -1"):
        blobs(centers, -1)
    with pytest.raises(ValueError, match="n must be a non-negative int, got 2.5"):
        blobs(centers, 2.5)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0, got -1"):
        blobs(centers, 5, scale=-1)


def test_class_counts_draws_labels_then_poisson_counts_and_rejects_bad_input():
    rates = np.array([[4.0, 0.5, 0.0], [0.5, 4.0, 1.0]])
    rng = np.random.default_rng(5)
    want_labels = rng.integers(2, size=2000)
    want = rng.poisson(rates[want_labels]).astype(float)
    X, labels = class_counts(rates, 2000, seed=5)
    assert np.array_equal(labels, want_labels) and np.array_equal(X, want)
    assert X.dtype == np.float64 and (X[:, 2][labels == 0] == 0).all()
    np.testing.assert_allclose(X[labels == 1].mean(axis=0), rates[1], atol=0.2)
    assert class_counts(rates, 0)[0].shape == (0, 3)
    with pytest.raises(ValueError, match=r"rates must be a non-empty 2-D array.*\(0, 2\)"):
        class_counts(np.zeros((0, 2)), 5)
    with pytest.raises(ValueError, match="rates must be non-negative, got a minimum of -1"):
        class_counts([[1.0, -1.0]], 5)
    with pytest.raises(ValueError, match="n must be a non-negative int, got True"):
        class_counts(rates, True)
