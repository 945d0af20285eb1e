"""MovieLens loaders, your-ratings input, download, and the `mli movielens` workflow."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import mli.apps.cli
from mli.apps import movielens as mlm
from mli.apps.movielens import MovieLensError

from conftest import shared_data


# ----------------------------------------------------------------------------- fixtures
def _write_1m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text(
        "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n"
        "2::30::1::978300275\n3::20::2::978824291\n")
    # movies.dat of MovieLens 1M is latin-1
    (folder / "movies.dat").write_bytes(
        "10::Toy Story (1995)::Animation|Children's|Comedy\n"
        "20::Jumanji (1995)::Adventure|Children's|Fantasy\n"
        "30::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1"))
    return folder


def _write_20m(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n"
        "2,2,0.5,1112484819\n3,29,5.0,1112484727\n")
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n"
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure\n',
        encoding="utf-8")
    return folder


class FakeModel:
    """A bias baseline standing in for ALS in plumbing tests (no Spark)."""

    def __init__(self, df):
        self.mu = float(df["rating"].mean())
        self.bu = df.groupby("user")["rating"].mean() - self.mu
        self.bi = df.groupby("item")["rating"].mean() - self.mu

    def predict(self, pairs):
        bu = self.bu.reindex(pairs["user"]).to_numpy()
        bi = self.bi.reindex(pairs["item"]).to_numpy()
        return pd.Series(self.mu + bu + bi, index=pairs.index)


class FakeALS:
    fits: list = []

    def __init__(self, rank, reg, iters):
        self.params = (rank, reg, iters)

    def fit(self, df):
        FakeALS.fits.append((self.params, len(df)))
        return FakeModel(df)


@pytest.fixture
def fake_als(monkeypatch):
    FakeALS.fits = []
    monkeypatch.setattr(mlm.workflow, "_als", lambda r, g, i, biases, seed:
                        FakeALS(r, g, i))
    return FakeALS


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No MovieLens anywhere: empty cache, no env, cwd and repo root without ../shared."""
    monkeypatch.delenv("MLI_MOVIELENS", raising=False)
    monkeypatch.setenv("MLI_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setattr(mlm.data, "repo_root", lambda: work)
    return tmp_path


# ----------------------------------------------------------------------------- loaders
def test_load_real_100k():
    folder = shared_data("movielens-100k")
    assert mlm.detect_format(folder) == "100k"
    ml = mlm.load_movielens(folder)
    r = ml.ratings
    assert ml.kind == "100k" and ml.name == "MovieLens 100K"
    assert len(r) == 100_000 and r["user"].nunique() == 943 and r["item"].nunique() == 1682
    assert r.columns.tolist() == ["user", "item", "rating", "timestamp"]
    assert set(r["rating"].unique()) == {1, 2, 3, 4, 5}
    assert len(ml.titles) == 1682
    assert ml.title(1) == "Toy Story (1995)" and ml.title(50) == "Star Wars (1977)"
    # u.item is latin-1 but holds UTF-8 replacement characters where accents were lost
    # upstream: shown as one U+FFFD, not as latin-1 mojibake
    assert ml.title(1104) == "C'est arriv\ufffd pr\ufffds de chez vous (1992)"
    assert not any("\u00ef\u00bf\u00bd" in t for t in ml.titles)
    base = mlm.load_ratings(folder / "u1.base")
    test = mlm.load_ratings(folder / "u1.test")
    assert len(base) == 80_000 and len(test) == 20_000


def test_load_1m_format(tmp_path):
    ml = mlm.load_movielens(_write_1m(tmp_path / "ml-1m"))
    assert ml.kind == "dat"
    assert ml.ratings["user"].tolist() == [1, 1, 2, 2, 3]
    assert ml.ratings["rating"].tolist() == [5, 3, 4, 1, 2]
    assert ml.ratings["timestamp"].iloc[0] == 978300760
    assert ml.title(30) == "Misérables, Les (1995)"
    assert ml.title(10) == "Toy Story (1995)"


def test_load_20m_format(tmp_path):
    ml = mlm.load_movielens(_write_20m(tmp_path / "ml-20m"))
    assert ml.kind == "csv"
    assert ml.ratings["rating"].tolist() == [3.5, 4.0, 0.5, 5.0]
    assert ml.ratings["item"].tolist() == [2, 29, 2, 29]
    assert ml.title(29) == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"


def test_format_detection(tmp_path):
    _write_1m(tmp_path / "one")
    _write_20m(tmp_path / "twenty")
    (tmp_path / "hundred").mkdir()
    (tmp_path / "hundred" / "u.data").write_text("1\t2\t3\t4\n")
    assert mlm.detect_format(tmp_path / "one") == "dat"
    assert mlm.detect_format(tmp_path / "twenty") == "csv"
    assert mlm.detect_format(tmp_path / "hundred") == "100k"
    with pytest.raises(MovieLensError, match="no MovieLens ratings"):
        mlm.detect_format(tmp_path)
    # the folder an archive was unzipped into works too
    only = tmp_path / "unzipped"
    _write_20m(only / "ml-latest-small")
    assert mlm.load_movielens(only).kind == "csv"
    # missing titles file: ids instead of titles, with a note
    (tmp_path / "hundred" / "u.data").write_text("1\t2\t3\t4\n")
    ml = mlm.load_movielens(tmp_path / "hundred")
    assert ml.title(2) == "movie 2" and ml.notes


def test_missing_folder(tmp_path):
    with pytest.raises(MovieLensError, match=r"does not exist"):
        mlm.load_movielens(tmp_path / "nope")
    code = mli.apps.cli.main(["movielens", "--data", str(tmp_path / "nope")])
    assert code == 2


@pytest.mark.parametrize("fmt, content, line, what", [
    ("u.data", "1\t2\t3\t4\n1\t2\t3\n", 2, "malformed"),
    ("u.data", "1\t2\t3\t4\n5\t6\t7\t8\t9\n", 2, "malformed"),
    ("u.data", "1\t2\t3\t4\n1\t2\t3\t4\n1\tx\t3\t4\n", 3, "not a number"),
    ("u.data", "1\t2\t3\t4\n1\t2\t9\t4\n", 2, "outside"),
    ("u.data", "1\t2\t3\t4\n-1\t2\t3\t4\n", 2, "positive integer"),
    ("ratings.dat", "1::2::3::4\n1::2::3::4\n1::2::3\n", 3, "malformed"),
    ("ratings.dat", "1::2::3::4\n1:2::3::4\n", 2, "malformed"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,2,abc,4\n", 3, "not a number"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n1,2,3,4,5\n", 3, "malformed"),
])
def test_malformed_ratings_name_file_and_line(tmp_path, fmt, content, line, what):
    (tmp_path / fmt).write_text(content)
    with pytest.raises(MovieLensError) as e:
        mlm.load_movielens(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / fmt) in msg and f"line {line}" in msg and what in msg, msg


def test_empty_ratings_file(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(MovieLensError, match="no ratings"):
        mlm.load_movielens(tmp_path)


# ----------------------------------------------------------------------------- data search
def test_find_data_order(tmp_path, monkeypatch, no_data):
    a = _write_20m(tmp_path / "flag")
    b = _write_1m(tmp_path / "env")
    c = _write_1m(tmp_path / "cache" / "movielens" / "ml-100k")
    assert mlm.find_data()[0] == c
    monkeypatch.setenv("MLI_MOVIELENS", str(b))
    assert mlm.find_data()[0] == b
    assert mlm.find_data(a)[0] == a
    monkeypatch.delenv("MLI_MOVIELENS")
    import shutil
    shutil.rmtree(c)
    assert mlm.find_data()[0] is None
    # ../shared/data/movielens-100k relative to the current directory
    shared = tmp_path / "a" / "shared" / "data" / "movielens-100k"
    shared.mkdir(parents=True)
    (shared / "u.data").write_text("1\t2\t3\t4\n")
    folder, where, _ = mlm.find_data()
    assert folder == shared and "current directory" in where
    # an explicit folder without data is an error, not a silent fallback
    with pytest.raises(MovieLensError, match="--data"):
        mlm.find_data(tmp_path / "missing")


def test_find_data_relative_to_repo_root(monkeypatch, no_data):
    shared = no_data / "r" / "shared" / "data" / "movielens-100k"
    shared.mkdir(parents=True)
    (shared / "u.data").write_text("1\t2\t3\t4\n")
    monkeypatch.setattr(mlm.data, "repo_root", lambda: no_data / "r" / "mli")
    folder, where, _ = mlm.find_data()
    assert folder == shared and "repository" in where


# ----------------------------------------------------------------------------- your ratings
def test_read_my_ratings(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my ratings\n\n50 5\n172,4.5  # Empire\n  1\t3\n")
    df = mlm.read_my_ratings(f, known_items=[1, 50, 172])
    assert df["item"].tolist() == [50, 172, 1] and df["rating"].tolist() == [5, 4.5, 3]


def test_example_ratings_file_is_valid():
    df = mlm.read_my_ratings(mlm.EXAMPLE_RATINGS, known_items=range(1, 1683))
    assert 10 <= len(df) <= 25


@pytest.mark.parametrize("content, line, what", [
    ("50 5\n9999 4\n", 2, "unknown movie id 9999"),
    ("50 5\n1 6\n", 2, "outside 1-5"),
    ("50 0\n", 1, "outside 1-5"),
    ("# c\n50 5 3\n", 2, "expected 'movie_id rating'"),
    ("50\n", 1, "expected 'movie_id rating'"),
    ("abc 4\n", 1, "not an integer"),
    ("50 great\n", 1, "not a number"),
    ("50 5\n50 4\n", 2, "already rated on line 1"),
])
def test_bad_my_ratings_lines(tmp_path, content, line, what):
    f = tmp_path / "mine.txt"
    f.write_text(content)
    with pytest.raises(MovieLensError) as e:
        mlm.read_my_ratings(f, known_items=[1, 50])
    msg = str(e.value)
    assert f"{f} line {line}" in msg and what in msg, msg


def test_my_ratings_empty_or_missing(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# nothing\n")
    with pytest.raises(MovieLensError, match="holds no ratings"):
        mlm.read_my_ratings(f)
    with pytest.raises(MovieLensError, match="does not exist"):
        mlm.read_my_ratings(tmp_path / "nope.txt")


def test_bad_my_ratings_via_cli(tmp_path, capsys, no_data):
    f = tmp_path / "mine.txt"
    f.write_text("10 5\n99999 3\n")
    data = _write_1m(tmp_path / "d")
    code = mli.apps.cli.main(["movielens", "--data", str(data), "--my-ratings", str(f)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{f} line 2: unknown movie id 99999" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- splits
def test_random_split_seeded_and_mine_in_training():
    from mli.table.datasets import movielens_like

    r = movielens_like(200, 300, 6_000, seed=0)
    mine = pd.DataFrame({"user": [201, 201], "item": [1, 2], "rating": [5.0, 1.0]})
    s1 = mlm.split_ratings(r, seed=3, mine=mine)
    s2 = mlm.split_ratings(r, seed=3, mine=mine)
    pd.testing.assert_frame_equal(s1.test, s2.test)
    assert len(s1.train) + len(s1.validation) + len(s1.test) == len(r) + 2
    assert (s1.train["user"] == 201).sum() == 2
    assert abs(len(s1.test) / len(r) - 0.2) < 0.03 and abs(len(s1.validation) / len(r) - 0.2) < 0.03
    assert not mlm.split_ratings(r, seed=4).test.equals(s1.test)
    with pytest.raises(MovieLensError, match="fractions"):
        mlm.split_ratings(r, val_frac=0.6, test_frac=0.5)


def test_u1_split():
    folder = shared_data("movielens-100k")
    mine = pd.DataFrame({"user": [944], "item": [50], "rating": [5.0]})
    s = mlm.split_literature(folder, "u1", seed=0, mine=mine)
    assert len(s.test) == 20_000
    assert len(s.train) + len(s.validation) == 80_001
    assert abs(len(s.validation) - 16_000) < 500
    assert (s.train["user"] == 944).sum() == 1


# ----------------------------------------------------------------------------- download
def _online() -> bool:
    import socket

    try:
        socket.getaddrinfo("files.grouplens.org", 443)
        return True
    except OSError:
        return False


def test_download_offline_fails_with_url(tmp_path, monkeypatch, capsys):
    """The real GroupLens URL, offline: one error line naming the URL, exit 2."""
    if _online():
        pytest.skip("online: the offline failure of --download cannot be exercised here")
    monkeypatch.setenv("MLI_CACHE", str(tmp_path))
    monkeypatch.delenv("MLI_MOVIELENS_URL", raising=False)
    # a short timeout keeps the test quick if the network hangs
    code = mli.apps.cli.main(["movielens", "--download", "--dataset", "1m", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "https://files.grouplens.org/datasets/movielens/ml-1m.zip" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.part"))          # no partial download left behind


def test_download_unreachable_server(tmp_path, monkeypatch, capsys):
    """Deterministic (online or not): a closed local port fails the same way."""
    monkeypatch.setenv("MLI_CACHE", str(tmp_path))
    monkeypatch.setenv("MLI_MOVIELENS_URL", "http://127.0.0.1:9/movielens/")
    code = mli.apps.cli.main(["movielens", "--download", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert "could not download http://127.0.0.1:9/movielens/ml-100k.zip" in err
    assert "--data DIR" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_download_from_local_archive(tmp_path, monkeypatch):
    """The download path end to end, served from a file:// URL."""
    src = _write_20m(tmp_path / "src" / "ml-latest-small")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "ml-latest-small.zip", "w") as z:
        for f in src.iterdir():
            z.write(f, f"ml-latest-small/{f.name}")
    monkeypatch.setenv("MLI_MOVIELENS_URL", mirror.as_uri())
    folder = mlm.download("latest-small", cache=tmp_path / "cache", timeout=5)
    assert folder == tmp_path / "cache" / "ml-latest-small"
    assert mlm.load_movielens(folder).kind == "csv"
    # second call: already there, no network
    monkeypatch.setenv("MLI_MOVIELENS_URL", "http://127.0.0.1:9/nothing")
    assert mlm.download("latest-small", cache=tmp_path / "cache") == folder
    with pytest.raises(MovieLensError, match="127.0.0.1:9/nothing/ml-latest-small.zip"):
        mlm.download("latest-small", cache=tmp_path / "cache", force=True, timeout=5)
    with pytest.raises(MovieLensError, match="unknown dataset"):
        mlm.download("7m")


# ----------------------------------------------------------------------------- CLI plumbing
def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        mli.apps.cli.main(["movielens", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--data", "--download", "--dataset", "--my-ratings", "--interactive",
                 "--split", "--seed", "--tune", "--budget", "--ranks", "--regs", "--iters",
                 "--plot"):
        assert flag in out
    assert "MLI_MOVIELENS" in out


def test_workflow_plumbing_generated_data(ctx, fake_als, no_data, capsys, tmp_path):
    """No data anywhere: runs on generated data, says so, prints the command to get data."""
    code = mli.apps.cli.main(["movielens", "--ranks", "4,6", "--regs", "0.1", "--iters", "3",
                         "--biases", "on", "--seeds", "1", "--plot", str(tmp_path / "t.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "GENERATED" in out and "mli movielens --download" in out
    assert "example file" in out                       # default: examples/my_ratings.txt
    assert len(fake_als.fits) == 3                     # 2 grid points + the refit
    assert "validation RMSE" in out and "test RMSE" in out
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    recs = re.findall(r"^\s+\d+\. \d\.\d\d  .+\(\d{4}\)", out, re.M)
    assert len(recs) == 10


def test_workflow_plumbing_blend_and_seeds(ctx, fake_als, capsys):
    """--biases both: 2 families in the grid; the final model refits with --seeds seeds."""
    folder = shared_data("movielens-100k")
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--ranks", "4", "--regs",
                         "0.1,0.2", "--iters", "3", "--seeds", "3", "--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(re.findall(r"biases on\s+validation RMSE", out)) == 2
    assert len(re.findall(r"biases off\s+validation RMSE", out)) == 2
    assert "blend of the best with biases and the best without" in out
    grid = [f for f in fake_als.fits if f[1] < 70_000]
    refits = [f for f in fake_als.fits if f[1] > 70_000]
    assert len(grid) == 4 and len(refits) in (3, 6)       # single best, or the blend pair
    assert re.search(r"3 seeds( each)?, predictions averaged", out)


def test_interactive_mode(ctx, fake_als, monkeypatch, capsys):
    folder = shared_data("movielens-100k")
    answers = iter(["5", "", "x", "4", "s", "1", "q"])
    prompts = []

    def fake_input(prompt=""):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--interactive", "--ranks", "4",
                         "--regs", "0.1", "--iters", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    # the most rated movies first: Star Wars (583 ratings), then Contact (509), Fargo (508)
    assert "Star Wars (1977)" in prompts[0]
    assert "Contact (1997)" in prompts[1]
    assert "please type a rating 1-5" in out             # 'x' is re-asked
    assert "your ratings: 3 from the prompt" in out
    assert "your top 10 recommendations" in out


def test_interactive_no_ratings(ctx, fake_als, monkeypatch, capsys):
    folder = shared_data("movielens-100k")

    def eof(prompt=""):
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--interactive"])
    assert code == 2
    assert "rated no movies" in capsys.readouterr().err


def test_example_ratings_only_for_100k(tmp_path, capsys):
    """The example file holds MovieLens-100K ids: other data sets need your own file."""
    code = mli.apps.cli.main(["movielens", "--data", str(_write_1m(tmp_path / "ml-1m"))])
    err = capsys.readouterr().err
    assert code == 2 and "MovieLens-100K movie ids" in err and "--my-ratings" in err


def test_bad_grid_flags(capsys):
    with pytest.raises(SystemExit) as e:
        mli.apps.cli.main(["movielens", "--ranks", "a,b"])
    assert e.value.code == 2
    assert "comma-separated integers" in capsys.readouterr().err


# ----------------------------------------------------------------------------- end to end
def test_workflow_end_to_end_100k(ctx, capsys, tmp_path):
    """Real ALS on Spark (the session context is reused, not stopped), u1 split."""
    folder = shared_data("movielens-100k")
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--my-ratings",
                         str(mlm.EXAMPLE_RATINGS), "--split", "u1", "--ranks", "8",
                         "--regs", "0.05,0.1", "--iters", "5", "--biases", "on", "--seeds",
                         "1", "--plot",
                         str(tmp_path / "grid.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "validation RMSE" in out and "(* best)" in out
    assert len(re.findall(r"\[ ?\d+/2\] rank", out)) == 2
    m = re.search(r"test RMSE (\d\.\d+) on 20,000 ratings", out)
    assert m, out
    assert float(m.group(1)) < 1.0
    recs = re.findall(r"^\s+(\d+)\. (\d\.\d\d)  (.+)  \[movie (\d+)", out, re.M)
    assert len(recs) == 10
    mine = set(mlm.read_my_ratings(mlm.EXAMPLE_RATINGS)["item"])
    assert not mine & {int(r[3]) for r in recs}             # only unseen movies
    assert all(re.search(r"\(\d{4}\)$", r[2]) for r in recs)  # real titles
    assert (tmp_path / "grid.png").stat().st_size > 1000
    # the session's Spark context is still alive
    assert ctx.spark.range(3).count() == 3


def test_workflow_tunes_with_the_search_by_default(ctx, capsys, tmp_path):
    """Without grid options the workflow's tuning is mli.search (real ALS): a line per rung,
    the best setting refitted, test RMSE, your recommendations, the plot of the search."""
    folder = shared_data("movielens-100k")
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--budget", "40",
                              "--plot", str(tmp_path / "search.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tuning ALS on the validation set with mli.search" in out
    assert re.search(r"^\s+\d+ settings at  1 sweeps: best of the rung rank \d+", out, re.M)
    m = re.search(r"searched (\d+) settings \((\d+) sweeps\)", out)
    assert m and int(m.group(2)) <= 40, out
    m = re.search(r"test RMSE (\d\.\d+) on [\d,]+ ratings", out)
    assert m and float(m.group(1)) < 1.0, out
    assert len(re.findall(r"^\s+\d+\. \d\.\d\d  .+\(\d{4}\)", out, re.M)) == 10
    assert (tmp_path / "search.png").stat().st_size > 1000


def test_workflow_search_budget_errors(ctx, capsys):
    folder = shared_data("movielens-100k")
    code = mli.apps.cli.main(["movielens", "--data", str(folder), "--budget", "soon"])
    err = capsys.readouterr().err
    assert code == 2 and "--budget soon" in err and "budget must be passes" in err
