"""MovieLens data: where it is, its formats, loading, download, your own ratings, splits
and RMSE."""
from __future__ import annotations

import io
import logging
import math
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from mli.table.datasets import generated_titles, movielens_like

log = logging.getLogger(__name__)

BASE_URL = "https://files.grouplens.org/datasets/movielens/"

#: --dataset name -> (archive name, folder inside the archive)
DATASETS = {
    "100k": ("ml-100k.zip", "ml-100k"),
    "1m": ("ml-1m.zip", "ml-1m"),
    "10m": ("ml-10m.zip", "ml-10M100K"),
    "20m": ("ml-20m.zip", "ml-20m"),
    "25m": ("ml-25m.zip", "ml-25m"),
    "latest-small": ("ml-latest-small.zip", "ml-latest-small"),
}

ENV_DATA = "MLI_MOVIELENS"
ENV_CACHE = "MLI_CACHE"
ENV_URL = "MLI_MOVIELENS_URL"

# format -> (ratings file, titles file)
_FORMATS = {
    "100k": ("u.data", "u.item"),
    "dat": ("ratings.dat", "movies.dat"),
    "csv": ("ratings.csv", "movies.csv"),
}
_FORMAT_NAMES = {"100k": "MovieLens 100K (u.data)", "dat": "MovieLens 1M/10M (ratings.dat)",
                 "csv": "MovieLens 20M/latest (ratings.csv)", "generated": "generated"}


class MovieLensError(ValueError):
    """A problem with MovieLens data, a ratings file or a download (message says what/where)."""


# ----------------------------------------------------------------------------- data holder
@dataclass
class MovieLens:
    """A loaded rating set.

    ``ratings``: DataFrame ``user`` (int32), ``item`` (int32), ``rating`` (float32),
    ``timestamp`` (int64); ``titles``: Series item id -> title; ``kind``: ``"100k"``,
    ``"dat"``, ``"csv"`` or ``"generated"``; ``path``: the folder (None when generated).
    """

    ratings: pd.DataFrame
    titles: pd.Series
    kind: str
    path: Path | None = None
    source: str = ""
    notes: list = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.kind == "generated":
            return "generated MovieLens-shaped data"
        n = len(self.ratings)
        size = {100_000: "100K", 1_000_209: "1M", 10_000_054: "10M", 20_000_263: "20M",
                25_000_095: "25M", 100_836: "latest-small"}.get(n)
        return f"MovieLens {size}" if size else f"MovieLens ({_FORMAT_NAMES[self.kind]})"

    @property
    def is_generated(self) -> bool:
        return self.kind == "generated"

    def title(self, item) -> str:
        t = self.titles.get(int(item))
        return str(t) if t is not None and not (isinstance(t, float) and math.isnan(t)) \
            else f"movie {int(item)}"

    def summary(self) -> str:
        r = self.ratings
        return (f"{len(r):,} ratings, {r['user'].nunique():,} users, "
                f"{r['item'].nunique():,} movies")


# ----------------------------------------------------------------------------- locating data
def repo_root() -> Path:
    """The folder holding the ``mli`` package (the repository root for an editable install)."""
    return Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    """Where ``--download`` keeps archives: ``$MLI_CACHE/movielens``, else
    ``$XDG_CACHE_HOME/mli/movielens``, else ``~/.cache/mli/movielens``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser() / "movielens"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mli" / "movielens"


def detect_format(path) -> str:
    """``"100k"``, ``"dat"`` or ``"csv"`` from the ratings file in folder ``path``.

    Raises :class:`MovieLensError` when the folder is missing or holds no MovieLens ratings.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise MovieLensError(f"MovieLens folder {p} does not exist")
    if not p.is_dir():
        raise MovieLensError(f"{p} is not a folder (pass the folder holding u.data, "
                             "ratings.dat or ratings.csv)")
    for kind, (ratings, _) in _FORMATS.items():
        if (p / ratings).is_file():
            return kind
    raise MovieLensError(f"no MovieLens ratings in {p}: expected u.data (100K), ratings.dat "
                         "(1M/10M) or ratings.csv (20M/latest)")


def _resolve_folder(path) -> Path:
    """``path`` itself when it holds ratings, else its single MovieLens sub-folder (so the
    folder an archive was unzipped into works too)."""
    p = Path(path).expanduser()
    try:
        detect_format(p)
        return p
    except MovieLensError:
        if p.is_dir():
            subs = []
            for sub in sorted(p.iterdir()):
                if sub.is_dir():
                    try:
                        detect_format(sub)
                        subs.append(sub)
                    except MovieLensError:
                        pass
            if subs:
                pref = [s for s in subs if s.name == "ml-100k"]
                return (pref or subs)[0]
        raise


def candidate_folders(data=None, dataset: str | None = None) -> list[tuple[str, Path]]:
    """The places searched for data, in order, as (description, folder)."""
    out: list[tuple[str, Path]] = []
    if data:
        out.append(("--data", Path(data).expanduser()))
    if os.environ.get(ENV_DATA):
        out.append((f"${ENV_DATA}", Path(os.environ[ENV_DATA]).expanduser()))
    folder = DATASETS[dataset or "100k"][1]
    out.append(("download cache", cache_dir() / folder))
    out.append(("../shared/data (current directory)",
                Path.cwd().parent / "shared" / "data" / "movielens-100k"))
    out.append(("../shared/data (repository)",
                repo_root().parent / "shared" / "data" / "movielens-100k"))
    return out


def find_data(data=None, dataset: str | None = None) -> tuple[Path | None, str, list[Path]]:
    """Locate MovieLens data. Returns ``(folder or None, where it came from, folders tried)``.

    An explicit ``data`` folder (or ``$MLI_MOVIELENS``) that holds no ratings is an error
    (a clear :class:`MovieLensError`), not a silent fallback.
    """
    tried = []
    for what, folder in candidate_folders(data, dataset):
        tried.append(folder)
        explicit = what in ("--data", f"${ENV_DATA}")
        if explicit:
            try:
                return _resolve_folder(folder), what, tried
            except MovieLensError as exc:
                raise MovieLensError(f"{exc} (from {what})") from None
        try:
            return _resolve_folder(folder), what, tried
        except MovieLensError:
            continue
    return None, "", tried


# ----------------------------------------------------------------------------- parsing
def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MovieLensError(f"{path} does not exist") from None
    except OSError as exc:
        raise MovieLensError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_table(path: Path, sep: str, names: Sequence[str], *, header: bool = False,
                 numeric: Sequence[str] = (), encoding: str = "utf-8",
                 usecols: Sequence[int] | None = None, quoting: bool = False) -> pd.DataFrame:
    """Parse a delimited text file; errors name the file and the line.

    ``sep`` may be ``"::"`` (rewritten to a tab first, so the fast C parser is used).
    Columns in ``numeric`` must be numbers on every line; missing fields are errors.
    """
    import csv

    raw = _read_bytes(path)
    if sep == "::":
        if b"\t" in raw:
            line = raw[:raw.index(b"\t")].count(b"\n") + 1
            raise MovieLensError(f"{path} line {line}: unexpected tab character in a "
                                 "'::'-separated file")
        raw = raw.replace(b"::", b"\t")
        sep = "\t"
    ncols = len(names) if usecols is None else None
    try:
        df = pd.read_csv(io.BytesIO(raw), sep=sep, header=0 if header else None,
                         names=list(names) if usecols is None else None,
                         usecols=usecols, encoding=encoding, skip_blank_lines=False,
                         engine="c", quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                         dtype={c: str for c in names if c not in numeric} if usecols is None
                         else None, low_memory=False)
    except pd.errors.ParserError as exc:
        msg = str(exc)
        import re

        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise MovieLensError(f"{path} line {m.group(2)}: malformed line (expected "
                                 f"{m.group(1)} fields separated by {sep!r}, found "
                                 f"{m.group(3)})") from None
        raise MovieLensError(f"{path}: malformed file ({msg})") from None
    except UnicodeDecodeError as exc:
        raise MovieLensError(f"{path}: not {encoding} text ({exc})") from None
    except pd.errors.EmptyDataError:
        raise MovieLensError(f"{path} is empty") from None
    if usecols is not None:
        df.columns = list(names)
    first_line = 2 if header else 1
    # blank lines (a trailing newline is not a blank line): drop, keep line numbers
    blank = df.isna().all(axis=1)
    if blank.any():
        df = df[~blank]
    bad_rows = df.isna().any(axis=1)
    if ncols is not None and bad_rows.any():
        row = int(np.flatnonzero(bad_rows.to_numpy())[0])
        line = int(df.index[row]) + first_line
        raise MovieLensError(f"{path} line {line}: malformed line (expected {len(names)} "
                             f"fields separated by {sep!r})")
    for c in numeric:
        col = df[c]
        if len(col) and not pd.api.types.is_numeric_dtype(col):
            conv = pd.to_numeric(col, errors="coerce")
            bad = conv.isna().to_numpy()
            row = int(np.flatnonzero(bad)[0])
            line = int(df.index[row]) + first_line
            raise MovieLensError(f"{path} line {line}: malformed line ({c} {col.iloc[row]!r} "
                                 "is not a number)")
    return df


def _check_ratings(df: pd.DataFrame, path: Path, first_line: int) -> pd.DataFrame:
    for c in ("user", "item"):
        v = df[c].to_numpy()
        bad = (v < 1) | (v != np.floor(v)) | (v > np.iinfo(np.int32).max)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MovieLensError(f"{path} line {int(df.index[row]) + first_line}: {c} id "
                                 f"{v[row]!r} is not a positive integer")
    r = df["rating"].to_numpy()
    bad = ~((r >= 0.5) & (r <= 5))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MovieLensError(f"{path} line {int(df.index[row]) + first_line}: rating "
                             f"{r[row]!r} outside 0.5-5")
    out = pd.DataFrame({
        "user": df["user"].to_numpy().astype(np.int32),
        "item": df["item"].to_numpy().astype(np.int32),
        "rating": r.astype(np.float32),
        "timestamp": df["timestamp"].to_numpy().astype(np.int64),
    })
    return out


def load_ratings(path, kind: str | None = None) -> pd.DataFrame:
    """Read one ratings file: ``u.data``/``u1.base``-style (tab-separated), ``ratings.dat``
    (``::``) or ``ratings.csv`` (with header). ``kind`` defaults to one guessed from the
    file name. Returns ``user, item, rating, timestamp``."""
    path = Path(path).expanduser()
    if kind is None:
        kind = "csv" if path.suffix == ".csv" else "dat" if path.suffix == ".dat" else "100k"
    names = ("user", "item", "rating", "timestamp")
    if kind == "100k":
        df = _parse_table(path, "\t", names, numeric=names)
        first = 1
    elif kind == "dat":
        df = _parse_table(path, "::", names, numeric=names)
        first = 1
    elif kind == "csv":
        df = _parse_table(path, ",", names, header=True, numeric=names)
        first = 2
    else:
        raise MovieLensError(f"unknown ratings format {kind!r}")
    if len(df) == 0:
        raise MovieLensError(f"{path} holds no ratings")
    return _check_ratings(df, path, first)


def load_titles(path, kind: str) -> pd.Series:
    """Movie titles (Series item id -> title) from ``u.item`` (``|``, latin-1),
    ``movies.dat`` (``::``, utf-8 or latin-1) or ``movies.csv`` (quoted csv, utf-8)."""
    path = Path(path).expanduser()
    if kind == "100k":
        df = _parse_table(path, "|", ("item", "title"), usecols=[0, 1], numeric=("item",),
                          encoding="latin-1")
    elif kind == "dat":
        try:
            df = _parse_table(path, "::", ("item", "title", "genres"), numeric=("item",))
        except MovieLensError as exc:
            if "not utf-8" not in str(exc):
                raise
            df = _parse_table(path, "::", ("item", "title", "genres"), numeric=("item",),
                              encoding="latin-1")
    elif kind == "csv":
        df = _parse_table(path, ",", ("item", "title", "genres"), header=True,
                          numeric=("item",), quoting=True)
    else:
        raise MovieLensError(f"unknown titles format {kind!r}")
    title = df["title"].astype(str).str.strip()
    # MovieLens 100K's u.item (latin-1) holds a few UTF-8-encoded replacement characters
    # (bytes EF BF BD) where accented letters were lost upstream: show them as one U+FFFD.
    title = title.str.replace("\u00ef\u00bf\u00bd", "\ufffd", regex=False)
    return pd.Series(title.to_numpy(),
                     index=pd.Index(df["item"].to_numpy().astype(np.int64), name="item"),
                     name="title")


def load_movielens(path) -> MovieLens:
    """Load the MovieLens folder ``path`` (format detected). Titles come from the matching
    movies file; if it is missing, titles are ``"movie <id>"`` (noted in ``notes``)."""
    folder = _resolve_folder(path)
    kind = detect_format(folder)
    ratings_file, titles_file = _FORMATS[kind]
    t = time.perf_counter()
    ratings = load_ratings(folder / ratings_file, kind)
    notes = []
    if (folder / titles_file).is_file():
        titles = load_titles(folder / titles_file, kind)
    else:
        notes.append(f"no {titles_file} in {folder}: movies are shown by id")
        titles = pd.Series(dtype=object, name="title")
    log.info("loaded %s: %d ratings in %.2f s", folder, len(ratings), time.perf_counter() - t)
    return MovieLens(ratings, titles, kind, folder, str(folder), notes)


def generated_movielens(seed=0) -> MovieLens:
    """MovieLens-100K-shaped generated ratings with made-up titles."""
    df = movielens_like(seed=seed)
    df["timestamp"] = np.int64(0)
    return MovieLens(df, generated_titles(1682, seed=seed), "generated", None,
                     "generated (mli.table.datasets.movielens_like)")


# ----------------------------------------------------------------------------- download
def download(dataset: str = "100k", *, cache=None, timeout: float = 30.0,
             base_url: str | None = None, force: bool = False,
             progress: Callable[[int, int], None] | None = None) -> Path:
    """Download and unzip a MovieLens archive from GroupLens into the cache folder.

    Returns the folder of the extracted data. Already present (and ``force`` False): no
    network access. Offline or on an HTTP error: :class:`MovieLensError` naming the URL.
    """
    if dataset not in DATASETS:
        raise MovieLensError(f"unknown dataset {dataset!r}; choose one of "
                             f"{', '.join(DATASETS)}")
    archive, folder = DATASETS[dataset]
    cache = Path(cache).expanduser() if cache else cache_dir()
    target = cache / folder
    if not force:
        try:
            detect_format(target)
            log.info("%s already in %s", dataset, target)
            return target
        except MovieLensError:
            pass
    base = base_url or os.environ.get(ENV_URL) or BASE_URL
    url = base.rstrip("/") + "/" + archive
    help_ = (f"download it yourself from {url}, unzip it and pass --data DIR "
             f"(or set {ENV_DATA}=DIR)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MovieLensError(f"cannot create the cache folder {cache}: "
                             f"{exc.strerror or exc}") from None
    fd, tmp = tempfile.mkstemp(prefix=archive + ".", suffix=".part", dir=cache)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except urllib.error.HTTPError as exc:
            raise MovieLensError(f"could not download {url}: HTTP {exc.code} {exc.reason}; "
                                 f"{help_}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise MovieLensError(f"could not download {url} (offline? {reason}); "
                                 f"{help_}") from None
        try:
            with zipfile.ZipFile(tmp) as z:
                members = z.namelist()
                for m in members:
                    if m.startswith("/") or ".." in Path(m).parts:
                        raise MovieLensError(f"{url}: unsafe path {m!r} in the archive")
                if not any(m.startswith(folder + "/") for m in members):
                    raise MovieLensError(f"{url}: the archive has no {folder}/ folder")
                if target.exists():
                    shutil.rmtree(target)
                z.extractall(cache)
        except zipfile.BadZipFile:
            raise MovieLensError(f"{url}: the download is not a zip archive") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    detect_format(target)
    return target


# ----------------------------------------------------------------------------- your ratings
def read_my_ratings(path, known_items: Iterable[int] | None = None, *,
                    titles: pd.Series | None = None) -> pd.DataFrame:
    """Read "your ratings": lines ``movie_id rating`` or ``movie_id,rating``; ``#`` starts a
    comment; blank lines are skipped. Ratings must be 1-5; with ``known_items``, every movie
    id must be one of them. Errors (:class:`MovieLensError`) name the file and line.
    Returns a DataFrame ``item`` (int32), ``rating`` (float32), in file order."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MovieLensError(f"ratings file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MovieLensError(f"cannot read ratings file {path}: {exc}") from None
    known = None if known_items is None else set(int(i) for i in known_items)
    items, ratings, seen = [], [], {}
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = body.replace(",", " ").replace(";", " ").split()
        where = f"{path} line {n}"
        if len(parts) != 2:
            raise MovieLensError(f"{where}: expected 'movie_id rating' (or "
                                 f"'movie_id,rating'), got {line.strip()!r}")
        try:
            item = int(parts[0])
        except ValueError:
            raise MovieLensError(f"{where}: movie id {parts[0]!r} is not an integer") from None
        try:
            r = float(parts[1])
        except ValueError:
            raise MovieLensError(f"{where}: rating {parts[1]!r} is not a number") from None
        if not (1.0 <= r <= 5.0):
            raise MovieLensError(f"{where}: rating {parts[1]} is outside 1-5")
        if known is not None and item not in known:
            raise MovieLensError(f"{where}: unknown movie id {item} (not in the data set)")
        if item in seen:
            raise MovieLensError(f"{where}: movie id {item} already rated on line {seen[item]}")
        seen[item] = n
        items.append(item)
        ratings.append(r)
    if not items:
        raise MovieLensError(f"{path} holds no ratings (expected lines 'movie_id rating')")
    return pd.DataFrame({"item": np.array(items, dtype=np.int32),
                         "rating": np.array(ratings, dtype=np.float32)})


def popular_movies(ratings: pd.DataFrame, n: int | None = None) -> pd.Series:
    """Number of ratings per movie, most rated first (ties by id)."""
    c = ratings.groupby("item").size()
    c = c.iloc[np.lexsort((c.index.to_numpy(), -c.to_numpy()))]
    return c if n is None else c.iloc[:n]


def ask_ratings(ml: MovieLens, n: int = 25, *, input_fn: Callable[[str], str] | None = None,
                print_fn: Callable[..., None] = print) -> pd.DataFrame:
    """Interactively rate the ``n`` most-rated movies: 1-5, Enter (or s) to skip, q to stop.
    End of input stops too. Returns ``item, rating`` (possibly empty)."""
    ask = input_fn or (lambda prompt: input(prompt))
    pop = popular_movies(ml.ratings, n)
    print_fn(f"Rate some popular movies (1-5; Enter or s to skip; q to finish). "
             f"{len(pop)} movies, most rated first:")
    items, ratings = [], []
    for k, (item, count) in enumerate(pop.items(), 1):
        prompt = f"  [{k:2d}/{len(pop)}] {ml.title(item)} ({count:,} ratings) > "
        while True:
            try:
                ans = ask(prompt).strip().lower()
            except EOFError:
                ans = "q"
            if ans in ("", "s", "skip"):
                break
            if ans in ("q", "quit", "exit"):
                return pd.DataFrame({"item": np.array(items, dtype=np.int32),
                                     "rating": np.array(ratings, dtype=np.float32)})
            try:
                r = float(ans)
            except ValueError:
                r = float("nan")
            if 1 <= r <= 5:
                items.append(int(item))
                ratings.append(r)
                break
            print_fn("    please type a rating 1-5, Enter to skip, or q to finish")
    return pd.DataFrame({"item": np.array(items, dtype=np.int32),
                         "rating": np.array(ratings, dtype=np.float32)})


# ----------------------------------------------------------------------------- splits
@dataclass
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    description: str


def split_ratings(ratings: pd.DataFrame, *, seed=0, val_frac: float = 0.2,
                  test_frac: float = 0.2, mine: pd.DataFrame | None = None) -> Split:
    """Random split of ``ratings`` into training / validation / test (each rating
    independently, seeded); ``mine`` (user, item, rating) is appended to training."""
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise MovieLensError(f"bad split fractions: validation {val_frac}, test {test_frac} "
                             "(each in (0, 1), summing to < 1)")
    u = np.random.default_rng(seed).random(len(ratings))
    test = u < test_frac
    val = (u >= test_frac) & (u < test_frac + val_frac)
    train = ratings[~(test | val)]
    if mine is not None and len(mine):
        train = pd.concat([train, mine[train.columns.intersection(mine.columns)]],
                          ignore_index=True)
    pct = (round(100 * (1 - val_frac - test_frac)), round(100 * val_frac), round(100 * test_frac))
    return Split(train.reset_index(drop=True), ratings[val].reset_index(drop=True),
                 ratings[test].reset_index(drop=True),
                 f"random {pct[0]}/{pct[1]}/{pct[2]} (seed {seed})")


def split_literature(folder: Path, name: str, *, seed=0, val_frac: float = 0.2,
                     mine: pd.DataFrame | None = None) -> Split:
    """MovieLens 100K's ``<name>.base`` / ``<name>.test`` (u1..u5, ua, ub), validation
    carved at random (seeded) from the base file."""
    base_f, test_f = folder / f"{name}.base", folder / f"{name}.test"
    for f in (base_f, test_f):
        if not f.is_file():
            raise MovieLensError(f"--split {name} needs {f} (MovieLens 100K's literature "
                                 "splits)")
    base = load_ratings(base_f, "100k")
    test = load_ratings(test_f, "100k")
    u = np.random.default_rng(seed).random(len(base))
    val = u < val_frac
    train = base[~val]
    if mine is not None and len(mine):
        train = pd.concat([train, mine[train.columns.intersection(mine.columns)]],
                          ignore_index=True)
    return Split(train.reset_index(drop=True), base[val].reset_index(drop=True),
                 test.reset_index(drop=True),
                 f"{name}.base/{name}.test, validation {round(100 * val_frac)}% of "
                 f"{name}.base (seed {seed})")


# ----------------------------------------------------------------------------- evaluation
def predict_ratings(model, pairs: pd.DataFrame, fallback: float, lo: float = 1.0,
                    hi: float = 5.0) -> tuple[np.ndarray, int]:
    """Predicted ratings for ``pairs`` (user, item), clipped to [lo, hi]; pairs the model
    cannot score (a user or movie unseen in training) get ``fallback``.
    Returns (predictions, number of fallbacks)."""
    p = np.asarray(model.predict(pairs[["user", "item"]].reset_index(drop=True)),
                   dtype=np.float64)
    miss = ~np.isfinite(p)
    p[miss] = fallback
    return np.clip(p, lo, hi), int(miss.sum())


def rmse(pred: np.ndarray, actual) -> float:
    actual = np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean((np.asarray(pred, dtype=np.float64) - actual) ** 2)))
