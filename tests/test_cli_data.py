"""``mli train / evaluate / predict`` end to end on generated files of each format, and
their errors (each a one-line message, exit status 2, before any work)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

import mli
from mli.apps import cli


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-data")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(1200) > 0).astype(int)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["clicked"] = y
    df["name"] = [f"row{i}" for i in range(len(df))]
    df.to_csv(d / "data.csv", index=False)
    df.to_csv(d / "data.tsv", index=False, sep="\t")
    df.drop(columns="clicked").to_csv(d / "new.csv", index=False)
    df.assign(target=X @ np.array([0.5, 1.0, -1.0, 2.0]) + 3.0).to_parquet(d / "reg.parquet")
    with open(d / "data.libsvm", "w") as f:
        for i in range(len(df)):
            f.write(f"{y[i]} " + " ".join(f"{j + 1}:{X[i, j]:.6f}" for j in range(4)) + "\n")
    return d


def run(ctx, capsys, *argv):
    code = cli.main([*argv, "--master", ctx.sc.master])
    out = capsys.readouterr()
    return code, out.out, out.err


def metric(out: str, name: str) -> float:
    return float(out.split(f"  {name}", 1)[1].split()[0])


def test_train_evaluate_predict_csv(ctx, capsys, files, tmp_path):
    model = str(tmp_path / "lr")
    code, out, err = run(ctx, capsys, "train", str(files / "data.csv"), "--label", "clicked",
                         "--algorithm", "logistic_regression", "--param", "reg=0.01",
                         "--out", model)
    assert code == 0, err
    assert "4 features, label 'clicked'" in out and "iteration   1  loss" in out
    assert metric(out, "accuracy") > 0.9 and metric(out, "roc_auc") > 0.95
    saved = mli.load(model)
    assert saved.feature_names == ("a", "b", "c", "d") and saved.params["reg"] == 0.01

    code, out, err = run(ctx, capsys, "evaluate", model, str(files / "data.csv"),
                         "--label", "clicked")
    assert code == 0, err
    data = pd.read_csv(files / "data.csv")
    want = (saved.predict(data[["a", "b", "c", "d"]]).to_numpy() == data["clicked"]).mean()
    assert metric(out, "accuracy") == pytest.approx(want, abs=1e-4)

    scored = str(tmp_path / "scored.csv")
    code, out, err = run(ctx, capsys, "predict", model, str(files / "new.csv"), "--out", scored)
    assert code == 0, err
    assert "1,200 rows" in out
    got = pd.concat(pd.read_csv(p) for p in sorted((tmp_path / "scored.csv").glob("*.csv")))
    assert list(got.columns) == ["a", "b", "c", "d", "name", "prediction", "p_0", "p_1"]
    got = got.sort_values("name").reset_index(drop=True)
    ref = data.sort_values("name").reset_index(drop=True)
    np.testing.assert_array_equal(got["prediction"].to_numpy(),
                                  saved.predict(ref[["a", "b", "c", "d"]]).to_numpy())


def test_train_with_a_weight_column(ctx, capsys, files, tmp_path):
    """--weight names a column of row weights: it is not a feature, and the model is the
    one mli fits with those weights."""
    data = pd.read_csv(files / "data.csv")
    data.assign(w=np.arange(len(data)) % 3).to_csv(tmp_path / "w.csv", index=False)
    model = str(tmp_path / "lr")
    code, out, err = run(ctx, capsys, "train", str(tmp_path / "w.csv"), "--label", "clicked",
                         "--algorithm", "logistic_regression", "--param", "reg=0.01",
                         "--weight", "w", "--test-fraction", "0", "--out", model)
    assert code == 0, err
    assert "4 features, label 'clicked'" in out
    saved = mli.load(model)
    assert saved.feature_names == ("a", "b", "c", "d")
    from mli.algorithms import LogisticRegression

    ref = LogisticRegression(reg=0.01).fit(
        data[["a", "b", "c", "d"]].to_numpy(), data["clicked"].to_numpy(),
        sample_weight=np.arange(len(data)) % 3)
    np.testing.assert_allclose(saved.coef_, ref.coef_, rtol=1e-6)


def test_tsv_libsvm_and_parquet(ctx, capsys, files, tmp_path):
    code, out, err = run(ctx, capsys, "train", str(files / "data.tsv"), "--label", "clicked",
                         "--algorithm", "NaiveBayes", "--param", "kind='gaussian'")
    assert code == 0, err
    assert metric(out, "accuracy") > 0.8
    model = str(tmp_path / "forest")
    code, out, err = run(ctx, capsys, "train", str(files / "data.libsvm"), "--label", "label",
                         "--algorithm", "random_forest", "--param", "n_trees=5",
                         "--param", "seed=1", "--out", model)
    assert code == 0, err
    assert metric(out, "accuracy") > 0.8
    code, out, err = run(ctx, capsys, "predict", model, str(files / "data.libsvm"),
                         "--out", str(tmp_path / "p.parquet"))
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert {"label", "features", "prediction", "p_0", "p_1"} <= set(got.columns)
    assert (got["prediction"] == got["label"]).mean() > 0.8
    code, out, err = run(ctx, capsys, "train", str(files / "reg.parquet"), "--label", "target",
                         "--algorithm", "linear_regression", "--features", "a,b,c,d")
    assert code == 0, err
    assert metric(out, "rmse") < 1e-6 and metric(out, "r2") > 0.999999
    code, out, err = run(ctx, capsys, "train", str(files / "reg.parquet"), "--algorithm",
                         "kmeans", "--param", "k=3", "--label", "clicked",
                         "--param", "seed=0")
    assert code == 0, err
    assert "5 features" in out and "inertia" in out   # a..d, target


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="matplotlib (the plot extra) is not installed")
def test_plots(ctx, capsys, files, tmp_path):
    model = str(tmp_path / "m")
    code, out, err = run(ctx, capsys, "train", str(files / "data.csv"), "--label", "clicked",
                         "--algorithm", "logistic_regression", "--out", model,
                         "--plot", str(tmp_path / "loss.png"))
    assert code == 0, err
    assert (tmp_path / "loss.png").stat().st_size > 1000
    code, out, err = run(ctx, capsys, "evaluate", model, str(files / "data.csv"), "--label",
                         "clicked", "--plot", str(tmp_path / "cm.png"))
    assert code == 0, err
    assert "confusion matrix written" in out
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_plot_without_matplotlib_fails_before_any_work(ctx, capsys, files, monkeypatch,
                                                      tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, out, err = run(ctx, capsys, "train", str(files / "data.csv"), "--label", "clicked",
                         "--algorithm", "logistic_regression", "--plot", "x.png")
    assert code == 2 and out == ""
    assert "--plot needs matplotlib, which is not installed: pip install 'mli[plot]'" in err
    code, out, err = run(ctx, capsys, "movielens", "--plot", str(tmp_path / "t.png"),
                         "--data", str(tmp_path))
    assert code == 2 and "--plot needs matplotlib" in err and "downloading" not in out


@pytest.mark.parametrize("argv,message", [
    (["train", "{data}", "--label", "clicked", "--algorithm", "boosting"],
     "unknown --algorithm 'boosting'; choose one of"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "logistic_regression",
      "--param", "C=1"], "LogisticRegression has no parameter 'C'"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "logistic_regression",
      "--param", "reg=-1"], "Invalid value for parameter 'reg' of LogisticRegression"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "logistic_regression",
      "--param", "reg"], "expected NAME=VALUE"),
    (["train", "{data}", "--label", "kind", "--algorithm", "logistic_regression"],
     "--label 'kind' is not a column of the data"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "linear_regression",
      "--features", "a,zz"], "--features names column(s) ['zz']"),
    (["train", "{dir}/nope.csv", "--label", "clicked", "--algorithm", "kmeans", "--param",
      "k=2"], "no such file or directory"),
    (["train", "{dir}/data.unknown", "--label", "x", "--algorithm", "kmeans", "--param",
      "k=2"], "cannot tell the format"),
    (["train", "{data}", "--algorithm", "kmeans"], "KMeans needs --param k=VALUE"),
    (["train", "{data}", "--algorithm", "logistic_regression"], "needs --label COLUMN"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "logistic_regression",
      "--test-fraction", "1.5"], "--test-fraction must be in [0, 1)"),
    (["train", "{data}", "--label", "clicked", "--algorithm", "logistic_regression",
      "--weight", "zz"], "--weight 'zz' is not a column of the data"),
    (["predict", "{dir}/missing-model", "{data}", "--out", "{dir}/o.csv"],
     "cannot load model from"),
    (["predict", "{dir}", "{data}", "--out", "{dir}/o.txt"], "--out must end in .csv or "
                                                             ".parquet"),
])
def test_wrong_input_gets_one_line(ctx, capsys, files, argv, message):
    (files / "data.unknown").write_text("x\n1\n")
    argv = [a.format(data=files / "data.csv", dir=files) for a in argv]
    code, out, err = run(ctx, capsys, *argv)
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_values_and_mismatched_data_are_refused_before_any_work(ctx, capsys, files, tmp_path):
    # a hole in a feature or the label, wherever the train/test split puts its row
    data = pd.read_csv(files / "data.csv")
    holes = data.copy()
    holes.loc[[5, 9], "b"] = np.nan
    holes.to_csv(tmp_path / "holes.csv", index=False)
    unlabeled = data.copy()
    unlabeled.loc[3, "clicked"] = np.nan
    unlabeled.to_csv(tmp_path / "unlabeled.csv", index=False)
    data.drop(columns="b").to_csv(tmp_path / "narrow.csv", index=False)
    model = str(tmp_path / "m")
    assert run(ctx, capsys, "train", str(files / "data.csv"), "--label", "clicked",
               "--algorithm", "naive_bayes", "--param", "kind=gaussian", "--out", model)[0] == 0
    for argv, message in [
            (["train", "{d}/holes.csv", "--label", "clicked", "--algorithm",
              "logistic_regression"], "column 'b' has 2 missing (empty or null) values"),
            (["train", "{d}/unlabeled.csv", "--label", "clicked", "--algorithm",
              "logistic_regression"], "column 'clicked' has 1 missing (empty or null) value;"),
            (["evaluate", model, "{d}/holes.csv", "--label", "clicked"],
             "column 'b' has 2 missing"),
            (["predict", model, "{d}/holes.csv", "--out", "{d}/o.csv"],
             "column 'b' has 2 missing"),
            (["evaluate", model, "{d}/narrow.csv", "--label", "clicked"],
             "the data lacks feature column(s) ['b'] that the model was trained on"),
            (["evaluate", model, str(files / "data.csv"), "--label", "clicked", "--format",
              "parquet"], "cannot read " + str(files / "data.csv") + " as parquet"),
            (["predict", model, "{d}/holes.csv", "--out", "{d}/narrow.csv"],
             "narrow.csv exists; pass --overwrite")]:
        code, out, err = run(ctx, capsys, *[a.format(d=tmp_path) for a in argv])
        assert code == 2 and message in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()

