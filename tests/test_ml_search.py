"""mli.search.search: the ML Optimizer end to end on real Spark (local[2]): partial fits
resume exactly, batches equal one-at-a-time training, the best model is the model its
hyperparameters give, budgets hold, a seed repeats the search, bad input is refused."""
from __future__ import annotations

import numpy as np
import pytest

import mli
from mli.algorithms import (DecisionTree, LinearRegression, LinearSVM, LogisticRegression,
                            NaiveBayes, RandomForest)
from mli.search import Choice, LogUniform, parse_budget, search
from mli.table.mltable import as_labeled

# (partial fits stop at their passes, unconverged by design)
pytestmark = pytest.mark.filterwarnings("ignore::mli.errors.ConvergenceWarning")


def classification(n=3000, d=8, seed=0, k=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d)
    W = rng.normal(size=(d, k))
    y = (X @ W + rng.gumbel(size=(n, k)) * 2).argmax(axis=1).astype(float)
    return X, y


def regression(n=3000, d=8, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ rng.normal(size=d) + 0.3 + rng.normal(size=n)


# ---------------------------------------------------------------------------- partial fits


@pytest.mark.parametrize("cls,params,data", [
    (LogisticRegression, {"reg": 1e-3}, classification),
    (LogisticRegression, {"reg": 1e-2}, lambda: classification(k=3)),
    (LogisticRegression, {"reg": 1e-2, "l1_ratio": 0.5}, classification),
    (LinearSVM, {"reg": 1e-3}, classification),
    (LinearRegression, {"reg": 1e-2}, regression)])
def test_partial_fits_resume_to_the_straight_fit(ctx, cls, params, data):
    """3 then 6 passes, resumed, is the model of 9 passes trained at once -- and the model
    ``fit`` gives with max_iter=9 and the search's solver."""
    X, y = data()
    train = as_labeled(X, y)
    algo = cls(**params, max_iter=9).set_params(**cls(**params)._partial_params())
    setup = algo._partial_setup(train)
    s3 = cls._partial_fit_many(setup, [algo], [None], 3)
    s9 = cls._partial_fit_many(setup, [algo], s3, 6)[0]
    straight = cls._partial_fit_many(setup, [algo], [None], 9)[0]
    np.testing.assert_array_equal(s9.x, straight.x)
    model = algo._partial_model(setup, s9)
    fitted = algo.fit(X, y)
    np.testing.assert_allclose(model.coef_, fitted.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, fitted.intercept_, rtol=1e-9, atol=1e-12)
    assert model.n_iter == fitted.n_iter
    train.release()


def test_a_batch_equals_one_at_a_time(ctx):
    X, y = classification(k=3)
    train = as_labeled(X, y)
    algos = [LogisticRegression(reg=r, solver="lbfgs", max_iter=20) for r in (1e-4, 1e-2, 1.0)]
    setup = algos[0]._partial_setup(train)
    batch = LogisticRegression._partial_fit_many(setup, algos, [None] * 3, 20)
    for algo, got in zip(algos, batch):
        alone = LogisticRegression._partial_fit_many(setup, [algo], [None], 20)[0]
        np.testing.assert_allclose(got.x, alone.x, rtol=1e-8, atol=1e-10)
    train.release()


def test_naive_bayes_serves_every_smoothing_from_one_pass_of_counts(ctx):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 900).astype(float)
    X = rng.poisson(rng.gamma(1.0, 1.0, (3, 6))[y.astype(int)] * 2).astype(float)
    train = as_labeled(X, y)
    algos = [NaiveBayes(kind="multinomial", smoothing=s) for s in (0.01, 0.5, 3.0)] + \
        [NaiveBayes(kind="bernoulli", smoothing=0.2), NaiveBayes(kind="gaussian")]
    setup = algos[0]._partial_setup(train)
    states = NaiveBayes._partial_fit_many(setup, algos, [None] * 5, 1)
    assert sorted(setup.moments) == ["binary", "counts", "identity"]  # (3 passes for all 5)
    for algo, state in zip(algos, states):
        model, fitted = algo._partial_model(setup, state), algo.fit(X, y)
        np.testing.assert_allclose(model.predict_log_proba(X), fitted.predict_log_proba(X),
                                   rtol=1e-12, atol=1e-12)
    # complete after its pass: resuming changes nothing; negative counts fail that member
    assert NaiveBayes._partial_fit_many(setup, algos[:1], states[:1], 5)[0] is states[0]
    assert algos[0]._partial_max_passes() == 1
    bad = as_labeled(X - 1.0, y)
    out = NaiveBayes._partial_fit_many(algos[0]._partial_setup(bad),
                                       [algos[0], algos[4]], [None, None], 1)
    assert isinstance(out[0], ValueError) and "NaiveBayes" in str(out[0])
    assert not isinstance(out[1], BaseException)
    train.release()
    bad.release()


@pytest.mark.parametrize("cls,params", [(DecisionTree, {"max_depth": 7, "seed": 3}),
                                        (RandomForest, {"max_depth": 6, "n_trees": 4,
                                                        "seed": 3})])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_trees_resume_their_growth_a_level_per_pass(ctx, cls, params, task):
    """2 then 3 levels is the tree of max_depth=5 grown at once; resumed to the end, the
    tree ``fit`` grows; a pass is a level."""
    X, y = classification(n=2000, d=6) if task == "classification" else regression(n=2000, d=6)
    train = as_labeled(X, y)
    algo = cls(**params, task=task)
    states = cls._partial_fit_many(train, [algo], [None], 2)
    states = cls._partial_fit_many(train, [algo], states, 3)
    five = algo._partial_model(train, states[0])
    at_five = cls(**{**params, "max_depth": 5}, task=task).fit(X, y)
    for attr in ("feature", "threshold", "left", "right", "value"):
        np.testing.assert_array_equal(getattr(five, attr), getattr(at_five, attr))
    states = cls._partial_fit_many(train, [algo], states, 10)
    assert states[0].finished and states[0].levels == params["max_depth"]
    full, fitted = algo._partial_model(train, states[0]), algo.fit(X, y)
    np.testing.assert_array_equal(full.threshold, fitted.threshold)
    np.testing.assert_array_equal(full.value, fitted.value)
    assert algo._partial_max_passes() == params["max_depth"]
    train.release()


def test_a_tree_closed_before_its_last_level_leaves_no_binned_files(ctx):
    X, y = classification(n=1500, d=4)
    train = as_labeled(X, y)
    algo = DecisionTree(max_depth=6, seed=0)
    state = DecisionTree._partial_fit_many(train, [algo], [None], 2)[0]
    state.close()
    state.advance(3)  # (closed: nothing more grows)
    assert state.levels == 2
    assert DecisionTree(max_depth=6, seed=0).fit(X, y).depth == 6
    train.release()


# ---------------------------------------------------------------------------- search


def test_search_finds_a_model_as_good_as_its_hyperparameters_give(ctx):
    X, y = classification(n=4000)
    r = search(X, y, task="classification", seed=0, budget=400)
    assert r.metric == "accuracy" and r.greater_is_better
    assert r.passes <= 400
    assert r.leaderboard[0]["metric"] == r.best_metric
    assert [row["rank"] for row in r.leaderboard] == list(range(1, len(r.leaderboard) + 1))
    metrics = [row["metric"] for row in r.leaderboard]
    assert metrics == sorted(metrics, reverse=True)
    # the best model is what its algorithm and hyperparameters give on the training split
    params = r.best_model.params
    cls = {"LogisticRegression": LogisticRegression, "LinearSVM": LinearSVM}[r.best_algorithm]
    perm = np.random.default_rng(0).permutation(len(y))
    n_valid = int(round(0.2 * len(y)))
    tr, va = np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    again = cls(**params).fit(X[tr], y[tr])
    np.testing.assert_allclose(again.coef_, r.best_model.coef_, rtol=1e-6, atol=1e-9)
    assert np.mean(again.predict(X[va]) == y[va]) == pytest.approx(r.best_metric)
    # and at least as good on validation as a fixed, weak grid point trained fully
    weak = LogisticRegression(reg=1.0).fit(X[tr], y[tr])
    assert r.best_metric >= np.mean(weak.predict(X[va]) == y[va])
    assert set(r.to_pandas().columns) >= {"rank", "algorithm", "passes", "metric", "reg"}


def test_search_is_reproducible_under_a_seed_and_a_pass_budget(ctx):
    X, y = classification(n=1500)
    runs = [search(X, y, task="classification", seed=3, budget=150) for _ in range(2)]
    key = [[(h["config"], h["params"], h["passes"], h["metric"]) for h in r.history]
           for r in runs]
    assert key[0] == key[1]
    other = search(X, y, task="classification", seed=4, budget=150)
    assert [h["params"] for h in other.history] != [h["params"] for h in runs[0].history]


def test_halving_spends_its_passes_as_scheduled(ctx):
    X, y = classification(n=1500)
    seen = []
    r = search(X, y, algorithms="LogisticRegression", seed=0, n_configs=9, min_passes=2,
               max_passes=18, callback=seen.append)
    # 9 configurations x 2, 3 x 6 more, 1 x 12 more
    assert r.passes == 9 * 2 + 3 * 4 + 1 * 12
    assert [h["passes"] for h in seen] == [2] * 9 + [6] * 3 + [18]
    assert seen == r.history
    best_so_far = [h["best_so_far"] for h in r.history]
    assert best_so_far == sorted(best_so_far)  # (accuracy: never worse)


def test_budgets_are_respected(ctx):
    X, y = classification(n=1500)
    for budget in (20, 100, 500):
        r = search(X, y, task="classification", seed=0, budget=budget)
        assert r.passes <= budget
        assert r.passes == sum(h["passes"] - prev for h, prev in _increments(r.history))
    big = search(X, y, task="classification", seed=0, budget=2000)
    assert len({h["config"] for h in big.history}) > 27  # (more than one bracket)


def _increments(history):
    done: dict = {}
    for h in history:
        yield h, done.get(h["config"], 0)
        done[h["config"]] = h["passes"]


def test_a_time_budget_stops_the_search(ctx):
    X, y = classification(n=1500)
    # 10 ms: the first rung runs (no time per pass is known before it), and what follows
    # does not fit, whatever the machine's speed (a Spark job alone takes longer)
    r = search(X, y, task="classification", seed=0, budget=0.01)
    full = search(X, y, task="classification", seed=0)
    first = r.history[0]["passes"]
    assert all(h["passes"] == first for h in r.history)  # (one rung)
    assert r.passes == first * len(r.history) < full.passes


def test_later_brackets_are_proposed_from_a_model(ctx):
    X, y = classification(n=1500)
    kw = dict(algorithms="LogisticRegression", n_configs=9, min_passes=2, max_passes=18,
              seed=0, budget=3 * 42)  # (three brackets of 9x2 + 3x4 + 1x12 passes)
    tpe = search(X, y, **kw)
    rand = search(X, y, sampler="random", **kw)
    regs = {}
    for name, r in (("tpe", tpe), ("random", rand)):
        regs[name] = [[row["params"]["reg"] for row in sorted(
            r.leaderboard, key=lambda row: row["config"]) if row["bracket"] == b]
            for b in range(3)]
        assert r.passes == 3 * 42
    assert regs["tpe"][0] == regs["random"][0]  # (the first bracket: at random)
    assert regs["tpe"][1] != regs["random"][1]
    # the model proposes around the first bracket's best: closer to it than random draws
    best = min(tpe.leaderboard, key=lambda row: (row["bracket"], row["rank"]))
    near = {name: np.median(np.abs(np.log10(regs[name][1] + regs[name][2])
                                   - np.log10(best["params"]["reg"]))) for name in regs}
    assert near["tpe"] < near["random"]
    again = search(X, y, **kw)
    assert [row["params"] for row in again.leaderboard] == \
        [row["params"] for row in tpe.leaderboard]


def test_hyperband_runs_its_brackets_in_turn(ctx):
    X, y = classification(n=1500)
    r = search(X, y, algorithms="LogisticRegression", strategy="hyperband", n_configs=9,
               min_passes=2, max_passes=18, seed=0)
    # brackets (9 at 2 passes), (5 at 6), (3 at 18): 9x2 + 3x4 + 1x12, 5x6 + 1x12, 3x18
    assert r.passes == (18 + 12 + 12) + (30 + 12) + 54
    firsts = {}
    for h in r.history:
        firsts.setdefault(r.leaderboard[[row["config"] for row in r.leaderboard].index(
            h["config"])]["bracket"], h["passes"])
    assert firsts == {0: 2, 1: 6, 2: 18}
    capped = search(X, y, algorithms="LogisticRegression", strategy="hyperband", n_configs=9,
                    min_passes=2, max_passes=18, seed=0, budget=60)
    assert capped.passes <= 60


def test_random_search_trains_every_configuration_fully(ctx):
    X, y = classification(n=1500)
    r = search(X, y, algorithms="LogisticRegression", strategy="random", n_configs=4,
               max_passes=10, seed=0)
    assert r.passes == 40 and [h["passes"] for h in r.history] == [10] * 4


def test_regression_search_against_the_ridge_reference(ctx):
    from sklearn.linear_model import Ridge

    X, y = regression()
    r = search(X, y, task="regression", metric="r2", seed=0, budget=300)
    assert r.best_algorithm == "LinearRegression" and r.greater_is_better
    perm = np.random.default_rng(0).permutation(len(y))
    n_valid = int(round(0.2 * len(y)))
    tr, va = np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    ridge = Ridge(alpha=r.best_params["reg"] * len(tr)).fit(X[tr], y[tr])
    assert r.best_metric == pytest.approx(ridge.score(X[va], y[va]), abs=1e-5)
    rmse = search(X, y, task="regression", seed=0, budget=300)
    assert rmse.metric == "rmse" and not rmse.greater_is_better
    assert rmse.best_metric == pytest.approx(np.sqrt(np.mean((ridge.predict(X[va]) - y[va]) ** 2)),
                                             rel=0.05)


def test_multiclass_logloss_and_a_custom_space(ctx):
    X, y = classification(k=4)
    r = search(X, y, algorithms=["LogisticRegression"], metric="logloss", seed=0,
               space={"reg": LogUniform(1e-5, 1e-1), "l1_ratio": Choice((0.0, 0.5))},
               n_configs=6, min_passes=3, max_passes=27)
    assert not r.greater_is_better and r.best_metric < np.log(4)
    assert {h["params"]["l1_ratio"] for h in r.history} <= {0.0, 0.5}
    assert list(r.best_model.classes_) == [0.0, 1.0, 2.0, 3.0]


def test_default_algorithms_leave_out_what_the_labels_do_not_allow(ctx):
    X, y = classification(n=1200, k=3)  # LinearSVM is binary: it is left out
    r = search(X, y, task="classification", seed=0, budget=60)
    assert {h["algorithm"] for h in r.history} == {"LogisticRegression"}


def test_tables_and_spark_dataframes(ctx):
    import pandas as pd

    X, y = classification(n=1200, d=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y)
    for data in (df, ctx.spark.createDataFrame(df), mli.MLTable.from_pandas(df)):
        r = search(data, label="label", task="classification", seed=0, budget=60)
        assert r.best_model.feature_names == ("a", "b", "c")
        assert 0.5 < r.best_metric <= 1.0


def test_explicit_validation_data(ctx):
    X, y = classification(n=1500)
    r = search(X[:1000], y[:1000], validation=(X[1000:], y[1000:]), task="classification",
               seed=0, budget=60)
    assert np.mean(r.best_model.predict(X[1000:]) == y[1000:]) == pytest.approx(r.best_metric)


def test_search_over_trees_and_naive_bayes(ctx):
    X, y = classification(n=2000, d=6)
    X = np.abs(X)  # (counts for the multinomial kind)
    r = search(X, y, algorithms=["DecisionTree", "RandomForest", "NaiveBayes"],
               task="classification", seed=0, budget=200)
    assert r.passes <= 200
    by_algo = {}
    for row in r.leaderboard:
        by_algo.setdefault(row["algorithm"], []).append(row)
    assert set(by_algo) == {"DecisionTree", "RandomForest", "NaiveBayes"}
    assert all(row["trained"] == 1 for row in by_algo["NaiveBayes"])  # (complete at once)
    for row in by_algo["DecisionTree"] + by_algo["RandomForest"]:
        assert row["trained"] <= row["params"]["max_depth"]  # (a level per pass, no more)
    # the best model is what its hyperparameters give on the training split
    perm = np.random.default_rng(0).permutation(len(y))
    n_valid = int(round(0.2 * len(y)))
    tr, va = np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    cls = {"DecisionTree": DecisionTree, "RandomForest": RandomForest,
           "NaiveBayes": NaiveBayes}[r.best_algorithm]
    if cls is not NaiveBayes:  # (the model's max_depth: the levels it had grown)
        assert r.best_model.params["max_depth"] <= r.best_params["max_depth"]
    again = cls(**r.best_model.params).fit(X[tr], y[tr])
    assert np.mean(again.predict(X[va]) == y[va]) == pytest.approx(r.best_metric)


def test_regression_trees_in_the_search(ctx):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 4))
    y = np.where(X[:, 0] > 0, 3.0, -1.0) + np.sin(3 * X[:, 1]) + 0.1 * rng.normal(size=2000)
    r = search(X, y, task="regression", algorithms=["DecisionTree", "LinearRegression"],
               seed=0, budget=150)
    assert r.best_algorithm == "DecisionTree" and r.best_model.task == "regression"
    lin = min(row["metric"] for row in r.leaderboard if row["algorithm"] == "LinearRegression")
    assert r.best_metric < 0.7 * lin  # (the step the linear model cannot fit)


def test_kmeans_restarts_share_their_passes_and_resume(ctx):
    rng = np.random.default_rng(0)
    X = np.vstack([c + rng.normal(scale=3.0, size=(400, 4))
                   for c in rng.normal(scale=4.0, size=(5, 4))])
    train = as_labeled(X)
    from mli.algorithms import KMeans

    algos = [KMeans(k=5, seed=s, max_iter=9, init=i)
             for s, i in ((1, "k-means||"), (2, "random"), (3, "k-means||"))]
    states = KMeans._partial_fit_many(train, algos, [None] * 3, 3)
    states = KMeans._partial_fit_many(train, algos, states, 6)
    for algo, state in zip(algos, states):  # (batched and resumed: each one's own fit)
        model, fitted = algo._partial_model(train, state), algo.fit(X)
        np.testing.assert_allclose(model.centers, fitted.centers, rtol=1e-10, atol=1e-10)
        assert model.cost == pytest.approx(fitted.cost, rel=1e-10)
        assert (model.n_iter, model.converged) == (fitted.n_iter, fitted.converged)
    too_many = KMeans._partial_fit_many(as_labeled(X[:3]), [KMeans(k=5, seed=0)], [None], 2)
    assert isinstance(too_many[0], ValueError)
    train.release()


def test_clustering_search(ctx):
    from sklearn.cluster import KMeans as SkKMeans

    rng = np.random.default_rng(1)
    X = np.vstack([c + rng.normal(size=(300, 3)) for c in rng.normal(scale=5, size=(4, 3))])
    r = search(X, task="clustering", space={"k": 4}, budget=80, seed=0)
    assert r.metric == "inertia" and not r.greater_is_better and r.best_algorithm == "KMeans"
    assert len({h["config"] for h in r.history}) > 1 and r.passes <= 80
    assert isinstance(r.best_model.params["seed"], int)  # (its restart's own seed)
    # the validation inertia is the mean squared distance to the nearest center; the best
    # restart is as good as scikit-learn's k-means (10 restarts) on the same rows
    perm = np.random.default_rng(0).permutation(len(X))
    n_valid = int(round(0.2 * len(X)))
    tr, va = np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
    d2 = ((X[va, None, :] - r.best_model.centers[None]) ** 2).sum(-1).min(1)
    assert r.best_metric == pytest.approx(d2.mean(), rel=1e-9)
    sk = SkKMeans(4, n_init=10, random_state=0).fit(X[tr])
    sk_inertia = ((X[va, None, :] - sk.cluster_centers_[None]) ** 2).sum(-1).min(1).mean()
    assert r.best_metric <= sk_inertia * 1.01
    again = search(X, task="clustering", space={"k": 4}, budget=80, seed=0)
    assert [h["metric"] for h in again.history] == [h["metric"] for h in r.history]


def test_accuracy_ties_rank_by_the_validation_logloss(ctx):
    from mli.search.metrics import METRICS, score_many

    X, y = classification(n=1500)
    va = as_labeled(X[1200:], y[1200:])
    models = [LogisticRegression(reg=r, max_iter=30).fit(X[:1200], y[:1200])
              for r in (1e-3, 1.0)]
    pairs = score_many(models, va.blocks, METRICS["accuracy"], tiebreak=True)
    for m, (acc, loss) in zip(models, pairs):
        proba = m.predict_proba(X[1200:])
        assert acc == pytest.approx(np.mean(m.predict(X[1200:]) == y[1200:]))
        assert loss == pytest.approx(-np.mean(np.log(proba[np.arange(300),
                                                            y[1200:].astype(int)])))
    svm = LinearSVM(reg=1e-3).fit(X[:1200], y[:1200])
    assert score_many([svm, models[0]], va.blocks, METRICS["accuracy"],
                      tiebreak=True)[0][1] is None  # (no probabilities: no second key)
    va.release()


def test_plot(ctx, tmp_path):
    X, y = classification(n=800)
    r = search(X, y, task="classification", seed=0, budget=60)
    path = r.plot(str(tmp_path / "search.png"))
    assert (tmp_path / "search.png").stat().st_size > 1000 and path.endswith("search.png")


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,message", [
    ({"task": "segmentation"}, "task must be one of"),
    ({}, "give task="),
    ({"algorithms": "KMeans"}, "Invalid search space for KMeans: it needs 'k'"),
    ({"algorithms": "KMeans", "space": {"k": 3}}, "clustering takes no labels"),
    ({"task": "clustering", "space": {"k": 3}, "metric": "accuracy"},
     "'accuracy' is for classification, not clustering"),
    ({"algorithms": "Pipeline"}, "unknown or unsearchable algorithm 'Pipeline'"),
    ({"algorithms": "Nope"}, "unknown or unsearchable algorithm 'Nope'"),
    ({"algorithms": ["LogisticRegression", "LinearRegression"]}, "do not name one task"),
    ({"algorithms": "DecisionTree"}, r"do not name one task \(they do \['classification', "
                                     r"'regression'\]\); give task="),
    ({"task": "regression", "algorithms": "NaiveBayes"}, r"do not do regression"),
    ({"algorithms": "DecisionTree", "task": "classification", "space": {"task": "regression"}},
     "set by the search"),
    ({"task": "regression", "algorithms": "LinearSVM"}, r"do not do regression"),
    ({"task": "classification", "metric": "auc"}, "unknown metric 'auc'"),
    ({"task": "classification", "metric": "rmse"}, "is for regression and recommendation, not classification"),
    ({"algorithms": "LogisticRegression", "space": {}}, "must be a non-empty dict"),
    ({"algorithms": "LogisticRegression", "space": {"alpha": 1.0}}, "no hyperparameter 'alpha'"),
    ({"algorithms": "LogisticRegression", "space": {"max_iter": 5}}, "set by the search"),
    ({"algorithms": "LogisticRegression", "space": {"reg": LogUniform(0, 1)}},
     "Invalid search space for 'reg'"),
    ({"task": "classification", "space": {"LinearRegression": {}}}, "not searched"),
    ({"task": "classification", "budget": 2}, "cannot pay for one configuration's first rung"),
    ({"task": "classification", "budget": "soon"}, "budget must be passes"),
    ({"task": "classification", "budget": -1.0}, "must be > 0"),
    ({"task": "classification", "validation": 1.5}, "validation must be a fraction"),
    ({"task": "classification", "strategy": "grid"},
     "strategy must be one of 'halving', 'hyperband', 'random'"),
    ({"task": "classification", "sampler": "grid"}, "sampler must be one of 'tpe', 'random'"),
    ({"task": "classification", "n_configs": 0}, "n_configs must be"),
    ({"task": "classification", "min_passes": 0}, "min_resource must be >= 1"),
    ({"algorithms": "LinearSVM", "metric": "logloss"}, "needs class probabilities"),
    ({"algorithms": "LogisticRegression", "space": {"reg": -1.0}},
     "Invalid value for parameter 'reg'"),
])
def test_bad_input_is_refused_clearly(ctx, kwargs, message):
    X, y = classification(n=300)
    with pytest.raises(ValueError, match=message):
        search(X, y, **kwargs)


def test_bad_data_is_refused_clearly(ctx):
    X, y = classification(n=300)
    with pytest.raises(ValueError, match="X has 300 rows but y has 10"):
        search(X, y[:10], task="classification")
    with pytest.raises(ValueError, match="needs labels"):
        search(X, task="classification")
    with pytest.raises(ValueError, match="needs class labels, but the label looks continuous"):
        search(X, y + 0.5, algorithms="LogisticRegression")
    with pytest.raises(ValueError, match="label='column'"):
        search(mli.MLTable.from_numpy(X, y), task="classification")
    with pytest.raises(ValueError, match="validation data has 2 features"):
        search(X, y, validation=(X[:, :2], y), task="classification")


def test_parse_budget():
    assert parse_budget(100) == ("passes", 100.0)
    assert parse_budget(2.5) == ("seconds", 2.5)
    assert parse_budget("5m") == ("seconds", 300.0)
    assert parse_budget("90s") == ("seconds", 90.0)
    assert parse_budget("1.5h") == ("seconds", 5400.0)
    for bad in (0, True, "5 minutes", "0s", float("inf")):
        with pytest.raises(ValueError):
            parse_budget(bad)


# ---------------------------------------------------------------------------- recommendation


def ratings_data(n_ratings=6000, seed=0):
    from mli.table.datasets import movielens_like

    return np.asarray(movielens_like(200, 150, n_ratings, seed=seed), dtype=np.float64)


@pytest.mark.parametrize("strategy", ["data_parallel", "blocked"])
def test_als_resumed_sweeps_equal_the_straight_fit(ctx, strategy):
    from mli.algorithms import ALS

    R = ratings_data()
    als = ALS(rank=5, reg=0.1, seed=3, max_iter=5, strategy=strategy, num_partitions=2)
    ratings, _ = als._prepare(R, None, None)
    two = ALS._partial_fit_many(ratings, [als], [None], 2)
    five = ALS._partial_fit_many(ratings, [als], two, 3)[0]
    model = als._partial_model(ratings, five)
    fitted = als.fit(R)
    np.testing.assert_array_equal(model.user_factors, fitted.user_factors)
    np.testing.assert_array_equal(model.item_factors, fitted.item_factors)
    assert model.n_iter == fitted.n_iter == 5


def test_als_configurations_sweep_in_the_same_passes(ctx):
    """Ranks, regularizations, biases and implicit feedback batched in one gang run: each
    configuration's factors are its own fit's, bit for bit."""
    from mli.algorithms import ALS

    R = ratings_data()
    algos = [ALS(rank=4, reg=0.05, seed=1, max_iter=4, num_partitions=2),
             ALS(rank=7, reg=0.3, seed=2, max_iter=4, num_partitions=2, biases=True),
             ALS(rank=5, reg=0.1, seed=3, max_iter=4, num_partitions=2, implicit=True,
                 alpha=2.0)]
    ratings, _ = algos[0]._prepare(R, None, None)
    states = ALS._partial_fit_many(ratings, algos, [None] * 3, 1)
    states = ALS._partial_fit_many(ratings, algos, states, 3)
    for algo, state in zip(algos, states):
        assert state.strategy == "data_parallel"
        model, fitted = algo._partial_model(ratings, state), algo.fit(R)
        np.testing.assert_array_equal(model.user_factors, fitted.user_factors)
        np.testing.assert_array_equal(model.item_factors, fitted.item_factors)
        assert model.n_iter == fitted.n_iter == 4
        np.testing.assert_array_equal([h[1] for h in state.history],
                                      [h[1] for h in fitted.history])  # (the losses)


def test_recommendation_search_beats_the_mean_and_repeats(ctx):
    R = ratings_data()
    runs = [search(R, task="recommendation", seed=0, budget=60) for _ in range(2)]
    r = runs[0]
    assert r.best_algorithm == "ALS" and r.metric == "rmse" and r.passes <= 60
    assert [h["metric"] for h in r.history] == [h["metric"] for h in runs[1].history]
    perm = np.random.default_rng(0).permutation(len(R))
    n_valid = int(round(0.2 * len(R)))
    va, tr = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
    mean_rmse = np.sqrt(np.mean((R[va, 2] - R[tr, 2].mean()) ** 2))
    assert r.best_metric < mean_rmse
    # the best model is what ALS with its parameters gives on the training split
    from mli.algorithms import ALS

    again = ALS(**r.best_model.params).fit(R[tr])
    np.testing.assert_allclose(again.user_factors, r.best_model.user_factors, rtol=1e-5,
                               atol=1e-6)
    assert {h["params"]["rank"] for h in r.history} <= set(range(2, 65))


def test_recommendation_search_bad_input(ctx):
    R = ratings_data(n_ratings=500)
    with pytest.raises(ValueError, match="recommendation takes .user, item, rating. triples"):
        search(R[:, :2], R[:, 2], task="recommendation")
    with pytest.raises(ValueError, match="metric 'accuracy' is for classification"):
        search(R, task="recommendation", metric="accuracy")
    with pytest.raises(ValueError, match="no hyperparameter 'depth'"):
        search(R, algorithms="ALS", space={"depth": 3})


def test_refit_trains_the_best_configuration_on_all_rows(ctx):
    X, y = classification(n=1500)
    r = search(X, y, algorithms="LogisticRegression", seed=0, budget=120, refit=True)
    again = LogisticRegression(**r.best_model.params).fit(X, y)
    np.testing.assert_allclose(r.best_model.coef_, again.coef_, rtol=1e-9, atol=1e-12)
    split = search(X[:1000], y[:1000], validation=(X[1000:], y[1000:]),
                   algorithms="LogisticRegression", seed=0, budget=120, refit=True)
    again = LogisticRegression(**split.best_model.params).fit(X, y)
    np.testing.assert_allclose(split.best_model.coef_, again.coef_, rtol=1e-9, atol=1e-12)
    R = ratings_data(n_ratings=3000)
    R = R[np.random.default_rng(0).permutation(len(R))]  # (the rows come sorted by user)
    rec = search(R[:2400], validation=R[2400:], task="recommendation", seed=0, budget=20,
                 refit=True)
    assert rec.best_model.user_factors.shape[0] == len(np.unique(R[:, 0]))
