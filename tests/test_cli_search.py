"""``mli search`` end to end on generated files: progress per rung, the leaderboard, the best
model's held-out metrics, saved and evaluated; a regression search on Parquet; its errors
(one line, exit status 2)."""
from __future__ import annotations

import pytest

import mli
from tests import test_cli_data

files = test_cli_data.files  # (the module-scoped fixture of generated files)
metric, run = test_cli_data.metric, test_cli_data.run


def test_search_a_csv_save_and_evaluate(ctx, capsys, files, tmp_path):
    best = str(tmp_path / "best")
    code, out, err = run(ctx, capsys, "search", str(files / "data.csv"), "--label", "clicked",
                         "--budget", "200", "--out", best, "--plot",
                         str(tmp_path / "search.png"))
    assert code == 0, err
    assert "4 features, label 'clicked', budget 200" in out
    assert "configurations at   4 passes  best accuracy so far" in out  # (a line per rung)
    assert "rank          algorithm" in out.replace("  rank", "rank")
    assert metric(out, "accuracy") > 0.9
    saved = mli.load(best)
    assert saved.feature_names == ("a", "b", "c", "d")
    assert type(saved).__name__ in ("LogisticRegressionModel", "LinearSVMModel")
    assert (tmp_path / "search.png").stat().st_size > 1000
    code, out2, err = run(ctx, capsys, "evaluate", best, str(files / "data.csv"),
                          "--label", "clicked")
    assert code == 0, err and metric(out2, "accuracy") > 0.9


def test_search_a_regression_on_parquet(ctx, capsys, files):
    code, out, err = run(ctx, capsys, "search", str(files / "reg.parquet"), "--label", "target",
                         "--task", "regression", "--metric", "r2", "--features", "a,b,c,d",
                         "--budget", "100")
    assert code == 0, err
    assert "LinearRegression" in out and metric(out, "r2") > 0.99


def test_search_trees_and_naive_bayes_by_hyperband(ctx, capsys, files):
    code, out, err = run(ctx, capsys, "search", str(files / "data.csv"), "--label", "clicked",
                         "--algorithms", "DecisionTree,RandomForest,NaiveBayes",
                         "--task", "classification", "--strategy", "hyperband",
                         "--budget", "150")
    assert code == 0, err
    assert "configurations at   4 passes" in out and "configurations at  12 passes" in out
    assert metric(out, "accuracy") > 0.8


def test_search_kmeans_restarts(ctx, capsys, files):
    code, out, err = run(ctx, capsys, "search", str(files / "data.csv"), "--label", "clicked",
                         "--task", "clustering", "--k", "3", "--budget", "40")
    assert code == 0, err
    assert "4 features, 3 clusters, budget 40" in out  # (the label left out)
    assert "best inertia so far" in out and "KMeans" in out
    assert metric(out, "inertia") > 0


@pytest.mark.parametrize("argv,message", [
    (["--task", "clustering"], "--task clustering needs --k CLUSTERS"),
    (["--k", "3"], "--k is the number of clusters of --task clustering"),
    ([], "mli search needs --label COLUMN"),
])
def test_search_cli_clustering_arguments(ctx, capsys, files, argv, message):
    code, out, err = run(ctx, capsys, "search", str(files / "data.csv"), *argv)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("argv,message", [
    (["--budget", "soon"], "--budget: budget must be passes"),
    (["--algorithms", "Boosting"], "unknown or unsearchable algorithm 'Boosting'"),
    (["--metric", "rmse"], "metric 'rmse' is for regression and recommendation, not"),
    (["--budget", "2"], "cannot pay for one configuration's first rung"),
    (["--test-fraction", "2"], "--test-fraction must be in [0, 1)"),
    (["--validation", "0"], "validation must be a fraction in (0, 1)"),
    (["--algorithms", "DecisionTree"], "do not name one task"),
])
def test_search_wrong_input_gets_one_line(ctx, capsys, files, argv, message):
    code, out, err = run(ctx, capsys, "search", str(files / "data.csv"), "--label", "clicked",
                         *argv)
    assert code == 2, (out, err)
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_search_cli_refuses_an_unknown_sampler(ctx, capsys, files):
    with pytest.raises(SystemExit) as e:
        mli.apps.cli.main(["search", str(files / "data.csv"), "--label", "clicked",
                           "--sampler", "grid"])
    assert e.value.code == 2
    assert "argument --sampler: invalid choice: 'grid'" in capsys.readouterr().err
