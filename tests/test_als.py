"""ALS on Spark: recovery, strategy / partition invariance, the dense reference, options,
cold start, input validation, recommendations, persistence and output kinds."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

import mli
from mli.algorithms import ALS, ALSModel
from mli.algorithms.als import reference as als_ref
from mli.algorithms.als import hashed_factors
from mli.algorithms.als.solve import ITEM_SALT, USER_SALT


# ---------------------------------------------------------------------------- data


def low_rank(seed=0, n_users=50, n_items=30, rank=3, density=0.5, noise=0.0,
             id_map=True):
    """Ratings of a planted rank-``rank`` matrix: (train DataFrame, held-out DataFrame).

    Every user and item has at least one training rating. With ``id_map`` the ids are
    non-contiguous (``user * 7 + 3``, ``item * 11 + 1000``)."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n_users, rank))
    V = rng.standard_normal((n_items, rank))
    R = U @ V.T + noise * rng.standard_normal((n_users, n_items))
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    uu, ii = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")

    def frame(m):
        u, i = uu[m], ii[m]
        if id_map:
            u, i = u * 7 + 3, i * 11 + 1000
        return pd.DataFrame({"user": u, "item": i, "rating": R[m]})

    return frame(mask), frame(~mask)


def implicit_data(seed=0, n_users=40, n_items=25, density=0.3):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    u, i = np.nonzero(mask)
    r = rng.poisson(3.0, size=u.size).astype(float) + 1.0
    r[rng.random(u.size) < 0.1] = 0.0   # a few zero-strength interactions
    return pd.DataFrame({"user": u, "item": i, "rating": r})


def factors_equal(a, b, atol=1e-4):
    assert_array_equal(a.user_ids, b.user_ids)
    assert_array_equal(a.item_ids, b.item_ids)
    assert_allclose(a.user_factors, b.user_factors, atol=atol)
    assert_allclose(a.item_factors, b.item_factors, atol=atol)


@pytest.fixture(scope="module")
def planted():
    return low_rank()


@pytest.fixture(scope="module")
def model(ctx, planted):
    train, _ = planted
    return ALS(rank=3, max_iter=8, reg=0.01, seed=3).fit(train)


# ---------------------------------------------------------------------------- quality


def test_recovers_planted_low_rank_matrix(ctx, planted):
    train, test = planted
    m = ALS(rank=3, max_iter=15, reg=0.001, seed=0).fit(train)
    pred = m.predict(test)
    rmse = float(np.sqrt(np.mean((pred.to_numpy() - test["rating"].to_numpy()) ** 2)))
    assert rmse < 0.05, rmse
    assert m.user_factors.shape == (50, 3) and m.user_factors.dtype == np.float32
    assert m.item_factors.shape == (30, 3)
    assert_array_equal(m.user_ids, np.arange(50) * 7 + 3)
    assert_array_equal(m.item_ids, np.arange(30) * 11 + 1000)


@pytest.mark.parametrize("opts", [dict(), dict(implicit=True, alpha=2.0),
                                  dict(implicit=True, solver="cg", cg_steps=2),
                                  dict(biases=True)],
                         ids=["explicit", "implicit", "implicit-cg", "biases"])
def test_strategies_give_the_same_factors(ctx, opts):
    data = implicit_data() if opts.get("implicit") else low_rank(noise=0.1)[0]
    models = {s: ALS(rank=4, max_iter=3, reg=0.05, seed=7, strategy=s, num_partitions=2,
                     **opts).fit(data)
              for s in ("data_parallel", "blocked")}
    assert {m.strategy for m in models.values()} == set(models)
    ref, blocked = models["data_parallel"], models["blocked"]
    # the same per-row arithmetic, the same reduction order for two blocks: bit for bit
    assert_array_equal(ref.user_factors, blocked.user_factors)
    assert_array_equal(ref.item_factors, blocked.item_factors)
    if opts.get("biases"):
        assert_array_equal(ref.user_biases, blocked.user_biases)
        assert_array_equal(ref.item_biases, blocked.item_biases)


@pytest.mark.parametrize("implicit", [False, True])
def test_partition_count_does_not_change_the_model(ctx, implicit):
    data = implicit_data(seed=2) if implicit else low_rank(seed=2)[0]
    one = ALS(rank=3, max_iter=3, seed=1, implicit=implicit, num_partitions=1,
              strategy="data_parallel").fit(data)
    four = ALS(rank=3, max_iter=3, seed=1, implicit=implicit, num_partitions=4,
               strategy="data_parallel").fit(data)
    factors_equal(one, four, atol=1e-6)


@pytest.mark.parametrize("implicit", [False, True])
def test_matches_dense_reference(ctx, implicit):
    """Same initial factors -> the same factors as the numpy reference ALS, and the loss
    reported to the callback is the reference objective."""
    data = implicit_data(seed=4) if implicit else low_rank(seed=4, id_map=False)[0]
    u, i, r = (data[c].to_numpy() for c in ("user", "item", "rating"))
    R = sp.csr_matrix((r, (u, i)))
    losses = []
    m = ALS(rank=3, max_iter=5, reg=0.1, alpha=2.0, implicit=implicit, seed=5,
            callback=lambda it, loss, s: losses.append(loss)).fit(data)
    X0 = hashed_factors(np.arange(R.shape[0]), 3, 5, USER_SALT)
    Y0 = hashed_factors(np.arange(R.shape[1]), 3, 5, ITEM_SALT)
    X, Y, objectives = als_ref.als_reference(R, 3, iters=5, reg=0.1, implicit=implicit, alpha=2.0,
                                       X0=X0, Y0=Y0)
    assert_allclose(m.user_factors, X, atol=2e-4)
    assert_allclose(m.item_factors, Y, atol=2e-4)
    assert len(losses) == 5
    assert_allclose(losses, objectives, rtol=1e-4)
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:]))


def test_cg_solver_approaches_cholesky(ctx):
    data = implicit_data(seed=5)
    chol = ALS(rank=3, max_iter=6, implicit=True, seed=2).fit(data)
    cg = ALS(rank=3, max_iter=6, implicit=True, seed=2, solver="cg", cg_steps=3).fit(data)
    P1 = chol.user_factors @ chol.item_factors.T
    P2 = cg.user_factors @ cg.item_factors.T
    assert np.max(np.abs(P1 - P2)) < 0.05


@pytest.mark.parametrize("implicit", [False, True])
def test_nonnegative_factors(ctx, implicit):
    data = implicit_data(seed=6) if implicit else low_rank(seed=6)[0]
    m = ALS(rank=4, max_iter=4, nonnegative=True, implicit=implicit, seed=0).fit(data)
    assert m.user_factors.min() >= 0 and m.item_factors.min() >= 0
    assert m.user_factors.max() > 0


def test_biases_fit_offsets_and_predict_with_them(ctx):
    rng = np.random.default_rng(8)
    train, test = low_rank(seed=8, rank=2, density=0.6, noise=0.05)
    bu = {u: b for u, b in zip(np.unique(train.user), rng.normal(0, 1.5, 50))}
    bi = {i: b for i, b in zip(np.unique(train.item), rng.normal(0, 1.5, 30))}
    for df in (train, test):
        df["rating"] += 3.0 + df.user.map(bu) + df.item.map(bi)
    plain = ALS(rank=2, max_iter=10, reg=0.01, seed=0).fit(train)
    biased = ALS(rank=2, max_iter=10, reg=0.01, seed=0, biases=True).fit(train)
    assert plain.user_biases is None
    assert biased.user_biases.shape == (50,) and biased.item_biases.shape == (30,)
    assert biased.global_mean == pytest.approx(train.rating.mean())

    def rmse(m):
        p = m.predict(test)
        return float(np.sqrt(np.mean((p - test.rating) ** 2)))

    assert rmse(biased) < 0.5 * rmse(plain)
    # the prediction is mu + b_u + b_i + x.y
    u, i = biased.user_index(test.user), biased.item_index(test.item)
    manual = (biased.global_mean + biased.user_biases[u] + biased.item_biases[i]
              + np.einsum("ij,ij->i", biased.user_factors[u], biased.item_factors[i]))
    assert_allclose(biased.predict(test).to_numpy(), manual, rtol=1e-5, atol=1e-5)
    # the learned user biases follow the planted ones
    assert np.corrcoef(biased.user_biases, [bu[x] for x in biased.user_ids])[0, 1] > 0.8


def test_callback_reports_iterations_and_can_stop(ctx, planted):
    train, _ = planted
    seen = []

    def cb(it, loss, seconds):
        seen.append((it, loss, seconds))
        return it == 3

    m = ALS(rank=2, max_iter=10, seed=0, callback=cb).fit(train)
    assert [s[0] for s in seen] == [1, 2, 3]
    assert m.n_iter == 3
    assert all(np.isfinite(s[1]) and s[2] >= 0 for s in seen)
    m2 = ALS(rank=2, max_iter=2, seed=0).fit(train)
    assert all(np.isnan(h[1]) for h in m2.history)


def test_auto_strategy_is_logged(ctx, planted, caplog):
    with caplog.at_level(logging.INFO, logger="mli"):
        m = ALS(rank=2, max_iter=1, seed=0).fit(planted[0])
    assert m.strategy == "data_parallel"
    assert any("chose 'data_parallel'" in r.getMessage() for r in caplog.records)


def test_the_replaced_broadcast_strategy_runs_data_parallel_with_a_warning(ctx, planted):
    with pytest.warns(FutureWarning, match="strategy='broadcast'.*data_parallel"):
        old = ALS(rank=2, max_iter=2, seed=0, strategy="broadcast").fit(planted[0])
    new = ALS(rank=2, max_iter=2, seed=0, strategy="data_parallel").fit(planted[0])
    assert old.strategy == "data_parallel"
    assert_array_equal(old.user_factors, new.user_factors)


def test_many_blocked_iterations(ctx):
    """105 iterations of the blocked strategy (one gang run, no lineage) agree with the
    dense reference."""
    data = low_rank(seed=9, n_users=12, n_items=8, rank=2, id_map=False)[0]
    m = ALS(rank=2, max_iter=105, reg=0.1, seed=0, strategy="blocked",
            num_partitions=1).fit(data)
    assert m.n_iter == 105 and m.strategy == "blocked"
    R = sp.csr_matrix((data.rating, (data.user, data.item)))
    X, Y, _ = als_ref.als_reference(R, 2, iters=105, reg=0.1,
                              X0=hashed_factors(np.arange(12), 2, 0, USER_SALT),
                              Y0=hashed_factors(np.arange(8), 2, 0, ITEM_SALT))
    assert_allclose(m.user_factors, X, atol=1e-3)
    assert_allclose(m.item_factors, Y, atol=1e-3)


@pytest.mark.parametrize("implicit", [False, True])
def test_blocked_run_on_the_driver_equals_the_gang_run(ctx, monkeypatch, implicit):
    """The blocked program run on the driver (each pass a run of its own, the exchange
    routed by the driver) gives the gang run's factors and losses, bit for bit."""
    import mli.engine.gang as gang

    data = implicit_data(seed=3) if implicit else low_rank(seed=3)[0]
    out = {}
    for enabled in (True, False):
        monkeypatch.setattr(gang, "ENABLED", enabled)
        losses = []
        out[enabled] = (ALS(rank=3, max_iter=3, seed=1, implicit=implicit, strategy="blocked",
                            num_partitions=3,
                            callback=lambda it, loss, s: losses.append(loss)).fit(data),
                        losses)
    (a, la), (b, lb) = out[True], out[False]
    assert_array_equal(a.user_factors, b.user_factors)
    assert_array_equal(a.item_factors, b.item_factors)
    assert la == lb and len(la) == 3


def test_checkpoint_interval_is_deprecated_and_changes_nothing(ctx, planted):
    with pytest.warns(FutureWarning, match="checkpoint_interval"):
        old = ALS(rank=2, max_iter=2, seed=0, strategy="blocked",
                  checkpoint_interval=5).fit(planted[0])
    new = ALS(rank=2, max_iter=2, seed=0, strategy="blocked").fit(planted[0])
    assert_array_equal(old.user_factors, new.user_factors)


# ---------------------------------------------------------------------------- initialization


def test_initial_factors_depend_only_on_seed_and_id():
    a = hashed_factors(np.array([5, 9, -3, 2 ** 40]), 6, seed=11)
    b = hashed_factors(np.array([2 ** 40, 5]), 6, seed=11)
    assert_array_equal(a[[3, 0]], b)
    assert a.dtype == np.float32 and (a >= 0).all()
    assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(a, hashed_factors(np.array([5, 9, -3, 2 ** 40]), 6, seed=12))
    assert not np.allclose(a, hashed_factors(np.array([5, 9, -3, 2 ** 40]), 6, seed=11,
                                             salt=ITEM_SALT))


# ---------------------------------------------------------------------------- prediction


def test_cold_start_modes(ctx, model, planted):
    train = planted[0]
    pairs = pd.DataFrame({"user": [3, 3, 999, 10], "item": [1000, 123456, 1000, 1011]},
                         index=[10, 20, 30, 40])
    nan = model.predict(pairs)
    assert list(nan.index) == [10, 20, 30, 40]
    assert np.isfinite(nan[10]) and np.isfinite(nan[40])
    assert np.isnan(nan[20]) and np.isnan(nan[30])
    drop = model.predict(pairs, cold_start="drop")
    assert list(drop.index) == [10, 40]
    assert_allclose(drop.to_numpy(), nan[[10, 40]].to_numpy())
    mean = model.predict(pairs, cold_start="mean")
    assert_allclose(mean[[20, 30]].to_numpy(), train.rating.mean())
    arr = pairs.to_numpy()
    assert_allclose(model.predict(arr), nan.to_numpy(), equal_nan=True)
    assert_allclose(model.predict(arr, cold_start="drop"), drop.to_numpy())
    # the hyperparameter sets the default
    m = ALS(rank=2, max_iter=1, seed=0, cold_start="drop").fit(train)
    assert m.predict(arr).shape == (2,)
    with pytest.raises(ValueError, match="cold_start"):
        model.predict(arr, cold_start="zero")


def test_predict_returns_the_input_kind(ctx, model, planted):
    test = planted[1].iloc[:50].copy()
    test.index = np.arange(100, 150)
    ref = model.predict(test)
    assert isinstance(ref, pd.Series) and list(ref.index) == list(test.index)
    triples = test[["user", "item", "rating"]].to_numpy()
    arr = model.predict(triples)                  # (n, 3): the rating column is ignored
    assert isinstance(arr, np.ndarray) and arr.shape == (50,)
    assert_allclose(arr, ref.to_numpy())
    table = mli.MLTable.from_pandas(test, num_partitions=2)
    out = model.predict(table)
    assert isinstance(out, mli.MLTable)
    assert list(out.columns) == ["user", "item", "rating", "prediction"]
    assert_allclose(out.to_numpy()[:, 3], ref.to_numpy(), rtol=1e-6)
    sdf = ctx.spark.createDataFrame(test.reset_index(drop=True))
    sout = model.predict(sdf)
    assert type(sout).__name__ == "DataFrame" and "prediction" in sout.columns
    got = sout.toPandas()
    assert_allclose(got["prediction"].to_numpy(), ref.to_numpy(), rtol=1e-6)
    unknown = pd.DataFrame({"user": [3, 999], "item": [1000, 1000]})
    dropped = model.predict(ctx.spark.createDataFrame(unknown), cold_start="drop").toPandas()
    assert len(dropped) == 1
    with pytest.raises(ValueError, match="features"):
        model.predict(np.ones((3, 4)))


# ---------------------------------------------------------------------------- input


def test_input_kinds_give_the_same_model(ctx, planted):
    train = planted[0]
    est = ALS(rank=2, max_iter=3, seed=0)
    ref = est.fit(train)
    arr = train[["user", "item", "rating"]].to_numpy()
    factors_equal(ref, est.fit(arr), atol=0)
    factors_equal(ref, est.fit(mli.MLTable.from_pandas(train, num_partitions=3)), atol=0)
    sdf = ctx.spark.createDataFrame(train)
    factors_equal(ref, est.fit(sdf), atol=0)
    renamed = train.rename(columns={"user": "u", "item": "i", "rating": "r"})
    renamed["extra"] = 1.0
    m = ALS(rank=2, max_iter=3, seed=0, user_col="u", item_col="i", rating_col="r").fit(renamed)
    factors_equal(ref, m, atol=0)
    assert m.feature_names == ("u", "i", "r")
    # scipy sparse: ids are the row / column indices
    S = sp.csr_matrix(([5.0, 3.0, 1.0], ([0, 0, 2], [1, 3, 1])))
    ms = ALS(rank=1, max_iter=2, seed=0).fit(S)
    assert_array_equal(ms.user_ids, [0, 2])
    assert_array_equal(ms.item_ids, [1, 3])
    assert m.params["user_col"] == "u" and ref.params["rank"] == 2


def test_bad_input_is_rejected_clearly(ctx):
    good = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 2], "rating": [1.0, 2.0, 3.0]})
    est = ALS(rank=2, max_iter=1, seed=0)
    bad = good.assign(rating=[1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match=r"row 1.*'rating'"):
        est.fit(bad)
    with pytest.raises(ValueError, match=r"row 1.*'rating'.*nan"):
        est.fit(np.array([[1, 1, 1.0], [2, 1, np.nan], [3, 2, 3.0]]))
    with pytest.raises(ValueError, match=r"user ids must be integers: row 2 of column 'user'"):
        est.fit(good.assign(user=[1.0, 2.0, 2.5]))
    with pytest.raises(ValueError, match=r"item ids must be integers: row 0 of column 'item'"):
        est.fit(good.assign(item=["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"user ids must be integers: row 1 of column 'user'"):
        est.fit(good.assign(user=pd.array([1, None, 3], dtype="Int64")))
    with pytest.raises(ValueError, match="no rows"):
        est.fit(good.iloc[:0])
    with pytest.raises(ValueError, match="no column"):
        est.fit(good.rename(columns={"item": "movie"}).assign(extra=1))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        est.fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match="y must be None"):
        est.fit(good.to_numpy(), np.ones(3))
    with pytest.raises(ValueError, match=r"row 1.*'rating'"):
        est.fit(ctx.spark.createDataFrame(bad))
    nulls = ctx.spark.createDataFrame([(1, 1, 1.0), (2, 1, None)],
                                      "user int, item int, r double")
    with pytest.raises(ValueError, match=r"ratings must not be missing: row 1 of column 'r'"):
        ALS(rank=2, max_iter=1, rating_col="r").fit(nulls)
    # negative integral ids are ordinary ids
    m = est.fit(good.assign(user=[-5, 0, 7]))
    assert_array_equal(m.user_ids, [-5, 0, 7])


@pytest.mark.parametrize("params, match", [
    (dict(rank=0), "'rank'"),
    (dict(strategy="mpi"), "'strategy'"),
    (dict(biases=True, implicit=True), "'biases'"),
    (dict(biases=True, nonnegative=True), "'biases'"),
    (dict(solver="cg"), "'solver'"),
    (dict(implicit=True, solver="cg", nonnegative=True), "'solver'"),
])
def test_invalid_hyperparameters(ctx, params, match):
    data = np.array([[1, 1, 1.0], [2, 2, 2.0]])
    with pytest.raises(ValueError, match=f"Invalid value for parameter {match}"):
        ALS(**params).fit(data)


# ---------------------------------------------------------------------------- recommend


def test_recommend_excludes_seen_items_and_sorts(ctx, model, planted):
    train = planted[0]
    users = [3, 10, 17]
    rec = model.recommend(users, k=5)
    assert list(rec.columns) == ["user", "item", "score"]
    assert list(rec.user) == [u for u in users for _ in range(5)]
    for u, g in rec.groupby("user", sort=False):
        seen = set(train.item[train.user == u])
        assert not seen & set(g.item)
        assert (np.diff(g.score.to_numpy()) <= 0).all()
        # the scores are the predicted ratings, and no unseen item scores higher
        pred = model.predict(pd.DataFrame({"user": u, "item": model.item_ids}))
        unseen = pred[~np.isin(model.item_ids, list(seen))]
        assert_allclose(g.score.to_numpy(), np.sort(unseen.to_numpy())[::-1][:5], rtol=1e-5)
    with_seen = model.recommend(3, k=30, exclude_seen=False)
    assert len(with_seen) == 30 and set(with_seen.item) == set(model.item_ids)
    few = model.recommend(3, k=100)          # fewer candidate items than k
    assert len(few) == 30 - (train.user == 3).sum()
    with pytest.raises(ValueError, match="unknown user"):
        model.recommend([3, 4])


def test_recommend_all_equals_recommend(ctx, model):
    everyone = model.recommend_all(k=4)
    one_by_one = model.recommend(model.user_ids, k=4)
    assert len(everyone) == 4 * len(model.user_ids)
    assert_array_equal(everyone.user.to_numpy(), one_by_one.user.to_numpy())
    assert_array_equal(everyone.item.to_numpy(), one_by_one.item.to_numpy())
    assert_allclose(everyone.score.to_numpy(), one_by_one.score.to_numpy(), rtol=1e-5)


def test_recommend_with_biases_scores_are_predictions(ctx, planted):
    m = ALS(rank=2, max_iter=3, seed=0, biases=True).fit(planted[0])
    rec = m.recommend(m.user_ids[:2], k=3)
    assert_allclose(rec.score.to_numpy(), m.predict(rec[["user", "item"]]).to_numpy(),
                    rtol=1e-5, atol=1e-5)
    assert_allclose(m.recommend_all(k=3).score.to_numpy()[:6], rec.score.to_numpy(),
                    rtol=1e-5)


# ---------------------------------------------------------------------------- persistence


@pytest.mark.parametrize("biases", [False, True])
def test_save_load_round_trip(ctx, planted, tmp_path, biases):
    train, test = planted
    m = ALS(rank=3, max_iter=3, seed=0, biases=biases, cold_start="mean").fit(train)
    path = str(tmp_path / "als")
    m.save(path)
    loaded = mli.load(path)
    assert isinstance(loaded, ALSModel)
    assert_array_equal(loaded.predict(test), m.predict(test))
    for name in ALSModel._saved_arrays():
        a, b = getattr(m, name), getattr(loaded, name)
        assert (a is None and b is None) or np.array_equal(a, b)
    assert loaded.params == m.params and loaded.cold_start == "mean"
    pd.testing.assert_frame_equal(loaded.recommend([3], k=3), m.recommend([3], k=3))
    with pytest.raises(AttributeError):
        loaded.user_factors = None


@pytest.mark.parametrize("implicit", [False, True])
def test_one_gang_run_equals_one_run_per_half_step(ctx, implicit, monkeypatch):
    """data_parallel: the whole fit is one gang run (one Spark job), its blocks exchanging
    rows through the gang's leader; the same factors (bit for bit) as the program on the
    driver with one gang run per half-step, with and without a callback."""
    from _spark_probe import spark_jobs

    import mli.engine.gang as gang

    data = implicit_data(seed=3) if implicit else low_rank(seed=3)[0]
    opts = dict(rank=3, max_iter=4, reg=0.05, seed=2, implicit=implicit, num_partitions=2,
                strategy="data_parallel")
    ALS(**opts).fit(data)  # the first fit compiles the kernels
    whole, jobs = spark_jobs(ctx, lambda: ALS(**opts).fit(data))
    assert len(jobs) == 1
    seen = []
    with_cb = ALS(**opts, callback=lambda it, loss, s: seen.append(loss)).fit(data)
    monkeypatch.setattr(gang, "ENABLED", False)
    halves, jobs = spark_jobs(ctx, lambda: ALS(**opts).fit(data))
    assert len(jobs) == 2 * 4
    assert_array_equal(whole.user_factors, halves.user_factors)
    assert_array_equal(whole.item_factors, halves.item_factors)
    assert_array_equal(with_cb.user_factors, halves.user_factors)
    assert len(seen) == 4 and all(np.isfinite(seen))
    assert [h[0] for h in whole.history] == [1, 2, 3, 4]


# ---------------------------------------------------------------------------- the cost model


def test_the_cost_model_picks_strategy_and_blocks():
    from types import SimpleNamespace

    from mli.algorithms.als import cost

    small = SimpleNamespace(n_users=1000, n_items=500, nnz=20_000)
    huge = SimpleNamespace(n_users=10_000_000, n_items=2_000_000, nnz=10 ** 9)
    assert cost.plan(ALS(rank=10), small, 8) == cost.Plan("data_parallel", 1)
    # factors of 12M rows x 20 float32 = 915 MB > FACTORS_LIMIT: blocked, every slot busy
    assert cost.plan(ALS(rank=20), huge, 8) == cost.Plan("blocked", 8)
    assert cost.plan(ALS(rank=20, strategy="data_parallel"), huge, 8).strategy == \
        "data_parallel"
    # blocks: about WORK_PER_TASK flops each, at most the parallelism and the row counts
    mid = SimpleNamespace(n_users=50_000, n_items=20_000, nnz=2_000_000)
    flops = 2.0 * mid.nnz * 20 ** 2 + (mid.n_users + mid.n_items) * 20 ** 3 / 3.0
    want = int(np.ceil(flops / cost.WORK_PER_TASK))
    assert cost.plan(ALS(rank=20), mid, 64).blocks == want < 64
    assert cost.plan(ALS(rank=20, num_partitions=4000), small, 2).blocks == 500  # n_items
