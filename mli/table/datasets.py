"""Generated rating data shaped like MovieLens / Netflix, implicit-feedback interactions,
and Gaussian blobs for clustering.

Real rating sets are small (MovieLens 100K) or must be downloaded (MovieLens 1M-20M, and
Netflix is no longer distributed), so tests, examples and benchmarks use generators that
reproduce their *shape*:

* **power-law degrees** -- a few users rate hundreds of movies while most rate a few dozen,
  and a few blockbusters collect most ratings while the catalogue has a long tail of movies
  with a handful of ratings (Zipf-Mandelbrot weights ``(k + k0)^-s`` with lognormal jitter);
* **low-rank signal plus noise** -- ``r = mu + b_u + b_i + x_u . y_i + eps``, rounded and
  clipped to the 1-5 star scale, with variance components calibrated on MovieLens 100K
  (mean ~3.5, standard deviation ~1.1); popular movies are rated a bit higher, as in the
  real data;
* each (user, item) pair at most once; ids start at 1 (as in MovieLens).

Everything is vectorized numpy (20M ratings in a few seconds) and fully determined by
``seed``.

>>> from mli.table.datasets import movielens_like
>>> df = movielens_like(seed=0)            # 943 users x 1,682 movies, 100,000 ratings
>>> df.columns.tolist()
['user', 'item', 'rating']
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "powerlaw_degrees",
    "movielens_like",
    "netflix_like",
    "implicit_interactions",
    "generated_titles",
    "holdout_per_user",
    "blobs",
    "class_counts",
]

# Calibrated on MovieLens 100K (see the module docstring).
_MU = 3.35
_USER_BIAS_SD = 0.38
_ITEM_BIAS_SD = 0.45
_POPULARITY_EFFECT = 0.25      # sd of the part of the item bias explained by popularity
_SIGNAL_SD = 0.55              # sd of x_u . y_i
_NOISE_SD = 0.85


def _zipf_weights(n: int, skew: float, offset_frac: float, jitter: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Zipf-Mandelbrot weights ``(k + k0)^-skew`` (k = 1..n, k0 = offset_frac * n) with
    lognormal jitter, in a random order (so ids carry no information about popularity)."""
    k = np.arange(1, n + 1, dtype=np.float64)
    w = (k + max(offset_frac * n, 0.0)) ** -float(skew)
    if jitter > 0:
        w *= rng.lognormal(0.0, jitter, n)
    w = w[rng.permutation(n)]
    return w / w.sum()


def powerlaw_degrees(n: int, total: int, *, skew: float = 1.0, offset_frac: float = 0.05,
                     min_degree: int = 0, max_degree: int | None = None, jitter: float = 0.3,
                     seed=0) -> np.ndarray:
    """Integer degrees of ``n`` nodes summing exactly to ``total``, power-law distributed.

    Every node gets ``min_degree`` plus a multinomial share of the rest with
    Zipf-Mandelbrot weights; degrees above ``max_degree`` are capped and the excess is
    redistributed. Returns int64, shape ``(n,)``.
    """
    rng = np.random.default_rng(seed)
    n, total = int(n), int(total)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if min_degree * n > total:
        raise ValueError(f"min_degree={min_degree} x n={n} exceeds total={total}")
    cap = np.iinfo(np.int64).max if max_degree is None else int(max_degree)
    if cap * n < total:
        raise ValueError(f"max_degree={max_degree} x n={n} is less than total={total}")
    w = _zipf_weights(n, skew, offset_frac, jitter, rng)
    deg = np.full(n, int(min_degree), dtype=np.int64)
    rest = total - int(deg.sum())
    while rest > 0:
        open_ = deg < cap
        p = np.where(open_, w, 0.0)
        deg += rng.multinomial(rest, p / p.sum())
        over = np.maximum(deg - cap, 0)
        deg -= over
        rest = int(over.sum())
    return deg


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based; much faster than numpy 2's hashing ``np.unique``
    on tens of millions of int64 keys)."""
    a = np.sort(a)
    if len(a) == 0:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _sample_pairs(user_deg: np.ndarray, n_items: int, draw_items, rng: np.random.Generator,
                  max_rounds: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) pairs, user ``u`` appearing ``user_deg[u]`` times.

    ``draw_items(users)`` draws one item per entry of ``users`` (with replacement);
    duplicates are dropped and re-drawn; after ``max_rounds`` the (tiny) remainder is filled
    with uniformly drawn items. Returns 0-based (users, items), sorted by user then item.
    """
    n_users = len(user_deg)
    if int(user_deg.max(initial=0)) > n_items:
        raise ValueError("a user's degree exceeds the number of items")
    users = np.repeat(np.arange(n_users, dtype=np.int64), user_deg)
    keys = _sorted_unique(users * n_items + draw_items(users))
    rounds = 0
    while True:
        have = np.bincount(keys // n_items, minlength=n_users)
        short = user_deg - have
        if not short.any():
            break
        need_users = np.repeat(np.arange(n_users, dtype=np.int64), short)
        if rounds < max_rounds:
            items = draw_items(need_users)
        else:
            items = rng.integers(0, n_items, len(need_users))
        new = _sorted_unique(need_users * n_items + items)
        pos = np.minimum(np.searchsorted(keys, new), len(keys) - 1)
        new = new[keys[pos] != new] if len(keys) else new
        # a user may have drawn more new distinct items than it needs: keep the first ones
        nu = new // n_items
        first = np.searchsorted(nu, nu, side="left")
        rank_in_user = np.arange(len(new)) - first
        new = new[rank_in_user < short[nu]]
        keys = np.insert(keys, np.searchsorted(keys, new), new)  # disjoint, both sorted
        rounds += 1
    return keys // n_items, keys % n_items


def _item_drawer(item_w: np.ndarray, rng: np.random.Generator):
    cdf = np.cumsum(item_w)
    cdf /= cdf[-1]

    def draw(users):
        return np.minimum(np.searchsorted(cdf, rng.random(len(users)), side="right"),
                          len(cdf) - 1).astype(np.int64)
    return draw


def movielens_like(n_users: int = 943, n_items: int = 1682, n_ratings: int = 100_000, *,
                   rank: int = 8, min_user_ratings: int = 20, user_skew: float = 1.0,
                   item_skew: float = 1.0, noise: float = _NOISE_SD, half_stars: bool = False,
                   seed=0, dtype=np.float32) -> pd.DataFrame:
    """Explicit ratings shaped like MovieLens.

    Defaults give MovieLens-100K's size (943 users, 1,682 movies, 100,000 ratings, every
    user with at least 20 ratings). Returns a DataFrame with columns ``user`` (int32,
    1..n_users), ``item`` (int32, 1..n_items) and ``rating`` (``dtype``, whole stars 1-5, or
    half stars 0.5-5 with ``half_stars=True``, as in MovieLens 10M+), sorted by user, item.
    Every item id in 1..n_items may not occur (long-tail items can get no rating).
    """
    n_users, n_items, n_ratings = int(n_users), int(n_items), int(n_ratings)
    if n_ratings > n_users * n_items:
        raise ValueError(f"{n_ratings} ratings do not fit in {n_users} x {n_items} pairs")
    min_user_ratings = min(int(min_user_ratings), n_ratings // n_users, n_items)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**63 - 1, 4)
    user_deg = powerlaw_degrees(n_users, n_ratings, skew=user_skew, offset_frac=0.05,
                                min_degree=min_user_ratings,
                                max_degree=max(min(n_items // 2, n_ratings), -(-n_ratings // n_users)),
                                jitter=0.3, seed=seeds[0])
    irng = np.random.default_rng(seeds[1])
    item_w = _zipf_weights(n_items, item_skew, 0.03, 0.5, irng)
    u, i = _sample_pairs(user_deg, n_items, _item_drawer(item_w, irng), irng)

    # low-rank signal plus noise
    frng = np.random.default_rng(seeds[2])
    b_u = frng.normal(0.0, _USER_BIAS_SD, n_users)
    pop = np.log(item_w * n_items)
    pop = (pop - pop.mean()) / (pop.std() + 1e-12)
    b_i = (_POPULARITY_EFFECT * pop
           + frng.normal(0.0, np.sqrt(max(_ITEM_BIAS_SD**2 - _POPULARITY_EFFECT**2, 0.0)), n_items))
    scale = np.sqrt(_SIGNAL_SD / np.sqrt(rank))
    X = frng.normal(0.0, scale, (n_users, rank)).astype(np.float32)
    Y = frng.normal(0.0, scale, (n_items, rank)).astype(np.float32)
    nrng = np.random.default_rng(seeds[3])
    r = np.empty(len(u), dtype=np.float32)
    step = 1 << 21
    for s in range(0, len(u), step):
        uu, ii = u[s:s + step], i[s:s + step]
        r[s:s + step] = (_MU + b_u[uu] + b_i[ii] + np.einsum("ij,ij->i", X[uu], Y[ii])
                         + nrng.normal(0.0, noise, len(uu)))
    if half_stars:
        r = np.clip(np.round(r * 2.0) / 2.0, 0.5, 5.0)
    else:
        r = np.clip(np.round(r), 1.0, 5.0)
    return pd.DataFrame({"user": (u + 1).astype(np.int32), "item": (i + 1).astype(np.int32),
                         "rating": r.astype(dtype)})


def netflix_like(n_users: int = 480_189, n_items: int = 17_770, n_ratings: int = 20_000_000,
                 *, seed=0, **kw) -> pd.DataFrame:
    """Explicit ratings shaped like the Netflix Prize data (480,189 users x 17,770 movies);
    20M ratings by default (the real set has 100M). See :func:`movielens_like`."""
    kw.setdefault("min_user_ratings", 5)
    kw.setdefault("rank", 10)
    return movielens_like(n_users, n_items, n_ratings, seed=seed, **kw)


def implicit_interactions(n_users: int = 100_000, n_items: int = 10_000,
                          n_interactions: int = 2_000_000, *, n_topics: int = 50,
                          topic_concentration: float = 0.1, popularity_mix: float = 0.2,
                          min_user_interactions: int = 5, user_skew: float = 1.0,
                          item_skew: float = 1.1, seed=0) -> pd.DataFrame:
    """Implicit feedback (plays / clicks / purchases) with latent structure.

    Items belong to ``n_topics`` topics; a user's taste is a sparse Dirichlet mixture over
    topics (``topic_concentration`` < 1: one or two dominant topics). Each interaction
    draws a topic from the user's mixture, then an item from that topic with Zipf popularity
    (``popularity_mix`` of interactions ignore taste and follow global popularity). User
    degrees are power-law with at least ``min_user_interactions``. The value is a play count
    (1 + geometric). Returns a DataFrame ``user``, ``item`` (int32, from 1), ``rating``
    (float32 counts), sorted by user, item.
    """
    n_users, n_items, n = int(n_users), int(n_items), int(n_interactions)
    if n > n_users * n_items:
        raise ValueError(f"{n} interactions do not fit in {n_users} x {n_items} pairs")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**63 - 1, 4)
    min_deg = min(int(min_user_interactions), n // n_users)
    user_deg = powerlaw_degrees(n_users, n, skew=user_skew, offset_frac=0.05,
                                min_degree=min_deg,
                                max_degree=max(n_items // 4, -(-n // n_users)), jitter=0.3,
                                seed=seeds[0])
    trng = np.random.default_rng(seeds[1])
    item_w = _zipf_weights(n_items, item_skew, 0.02, 0.5, trng)
    topic = trng.integers(0, n_topics, n_items)
    # items ordered by topic; per topic a CDF rescaled into (t, t + 1]
    order = np.lexsort((np.arange(n_items), topic))
    t_sorted = topic[order]
    w_sorted = item_w[order]
    tot = np.bincount(t_sorted, weights=w_sorted, minlength=n_topics)
    cum = np.cumsum(w_sorted)
    start = np.searchsorted(t_sorted, np.arange(n_topics))
    before = np.concatenate([[0.0], cum])[start]
    cdf_t = t_sorted + (cum - before[t_sorted]) / np.where(tot > 0, tot, 1.0)[t_sorted]
    topic_mass = tot / tot.sum()
    # user tastes: sparse Dirichlet over topics, tilted toward big topics
    taste = trng.gamma(topic_concentration, 1.0, (n_users, n_topics)) * topic_mass
    taste /= taste.sum(axis=1, keepdims=True)
    taste_cdf = np.cumsum(taste, axis=1)
    taste_cdf[:, -1] = 1.0
    global_cdf = np.cumsum(item_w)
    global_cdf /= global_cdf[-1]
    drng = np.random.default_rng(seeds[2])
    nonempty = tot > 0

    def draw(users):
        out = np.empty(len(users), dtype=np.int64)
        step = 1 << 20
        for s in range(0, len(users), step):
            uu = users[s:s + step]
            m = len(uu)
            r = drng.random(m)
            t = (taste_cdf[uu] < r[:, None]).sum(axis=1)
            t = np.minimum(t, n_topics - 1)
            # a topic without items falls back to popularity
            pop = (drng.random(m) < popularity_mix) | ~nonempty[t]
            pos = np.searchsorted(cdf_t, t + drng.random(m), side="right")
            pos = np.clip(pos, 0, n_items - 1)
            it = order[pos]
            gp = np.searchsorted(global_cdf, drng.random(int(pop.sum())), side="right")
            it[pop] = np.minimum(gp, n_items - 1)
            out[s:s + m] = it
        return out

    u, i = _sample_pairs(user_deg, n_items, draw, drng)
    counts = np.random.default_rng(seeds[3]).geometric(0.5, len(u))
    return pd.DataFrame({"user": (u + 1).astype(np.int32), "item": (i + 1).astype(np.int32),
                         "rating": counts.astype(np.float32)})


def blobs(centers, n: int, *, scale: float = 1.0,
          seed: int | np.random.Generator | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around the rows of ``centers``: ``(X, labels)`` with each label drawn
    uniformly and ``X = centers[labels] + scale * N(0, I)``.

    Parameters
    ----------
    centers : array-like of shape (k, d)
    n : int >= 0
    scale : float >= 0, default 1.0
        Standard deviation of the noise around each center.
    seed : int, numpy Generator or None, default 0
        A Generator is used as is (the labels are drawn first, then the noise), so a caller
        can continue its own stream.

    Raises
    ------
    ValueError
        ``centers`` not a non-empty 2-D array, ``n`` not a non-negative int, ``scale``
        negative.

    Examples
    --------
    >>> X, labels = blobs([[0.0, 0.0], [5.0, 5.0]], 4, seed=0)
    >>> X.shape, sorted(set(labels.tolist())) <= [0, 1]
    ((4, 2), True)
    """
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    C, labels, rng = _labels_for_rows(centers, n, seed, "centers")
    return C[labels] + scale * rng.standard_normal((n, C.shape[1])), labels


def class_counts(rates, n: int, *,
                 seed: int | np.random.Generator | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of counts (word-count-like features) whose Poisson rates depend on the
    class: ``(X, labels)`` with each label drawn uniformly and ``X ~ Poisson(rates[labels])``
    (float64).

    Parameters
    ----------
    rates : array-like of shape (k, d), non-negative
        Row ``c``: the expected count of each feature in class ``c``.
    n : int >= 0
    seed : int, numpy Generator or None, default 0
        A Generator is used as is (the labels are drawn first, then the counts).

    Raises
    ------
    ValueError
        ``rates`` not a non-empty 2-D array or negative, ``n`` not a non-negative int.

    Examples
    --------
    >>> X, labels = class_counts([[3.0, 0.5], [0.5, 3.0]], 4, seed=0)
    >>> X.shape, bool((X >= 0).all() and (X == np.round(X)).all())
    ((4, 2), True)
    """
    R, labels, rng = _labels_for_rows(rates, n, seed, "rates")
    if not np.all(R >= 0):
        raise ValueError(f"rates must be non-negative, got a minimum of {np.nanmin(R):g}")
    return rng.poisson(R[labels]).astype(np.float64), labels


def _labels_for_rows(params, n, seed, what):
    """Validated ``(params as a (k, d) float array, n uniform labels in [0, k), rng)``."""
    P = np.asarray(params, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty 2-D array (k, d), got shape {P.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return P, rng.integers(P.shape[0], size=n), rng


def holdout_per_user(df: pd.DataFrame, n: int = 1, *, min_keep: int = 1, seed=0,
                     user_col: str = "user") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` into (train, held-out): ``n`` random rows per user are held out, for
    users that keep at least ``min_keep`` rows in training. Seeded."""
    rng = np.random.default_rng(seed)
    users = df[user_col].to_numpy()
    key = rng.random(len(df))
    order = np.lexsort((key, users))
    su = users[order]
    first = np.searchsorted(su, su, side="left")
    pos = np.arange(len(su)) - first
    deg_row = np.searchsorted(su, su, side="right") - first
    held = (pos < n) & (deg_row - n >= min_keep)
    mask = np.zeros(len(df), dtype=bool)
    mask[order[held]] = True
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


_ADJ = ("Silent", "Last", "Hidden", "Broken", "Golden", "Dark", "Little", "Lost", "Wild",
        "Crimson", "Endless", "Midnight", "Secret", "Frozen", "Electric", "Burning", "Quiet",
        "Distant", "Savage", "Gentle", "Iron", "Velvet", "Stolen", "Forgotten")
_NOUN = ("River", "Empire", "Garden", "Stranger", "Summer", "Detective", "Horizon", "Kingdom",
         "Letter", "Machine", "Island", "Witness", "Harbor", "Promise", "Storm", "Mirror",
         "Journey", "Orchard", "Signal", "Voyage", "Heart", "Shadow", "City", "Highway")
_GENRE = ("Drama", "Comedy", "Thriller", "Romance", "Action", "Sci-Fi", "Documentary",
          "Animation", "Horror", "Western")


def generated_titles(n_items: int, *, seed=0) -> pd.Series:
    """Made-up movie titles with a year, indexed by item id 1..n_items (seeded), e.g.
    ``"The Silent River (1994)"``; marked as generated by the caller."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(_ADJ), n_items)
    b = rng.integers(0, len(_NOUN), n_items)
    the = rng.random(n_items) < 0.5
    year = rng.integers(1950, 1999, n_items)
    part = rng.random(n_items) < 0.06
    titles = [f"{'The ' if t else ''}{_ADJ[x]} {_NOUN[y]}{' II' if p else ''} ({yr})"
              for t, x, y, p, yr in zip(the, a, b, part, year)]
    return pd.Series(titles, index=pd.RangeIndex(1, n_items + 1, name="item"), name="title")
