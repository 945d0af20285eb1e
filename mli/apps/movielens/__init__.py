"""MovieLens: loaders, download, your own ratings, and the recommendation workflow.

The workflow (``mli movielens``, or :func:`run_workflow`) is the project's main
application, end to end:

1. load the ratings -- MovieLens 100K (``u.data`` + ``u.item``), 1M/10M (``ratings.dat`` +
   ``movies.dat``, ``::``-separated), 20M/25M/32M/latest (``ratings.csv`` + ``movies.csv``);
   the format is detected from the files in the folder;
2. get *your* ratings, from a file (``movie_id rating`` per line) or interactively;
3. split training / validation / test (seeded; your ratings always in training; or the
   literature's ``u1.base``/``u1.test`` split of MovieLens 100K);
4. fit ALS on Spark, 5. tune rank, regularization and iterations on the validation set,
   refit the best on training + validation and report test RMSE;
6. print your top-10 recommendations.

Where the data is looked for, in order: ``data=`` (``--data DIR``), the environment variable
``MLI_MOVIELENS``, the download cache (``~/.cache/mli/movielens``, filled by
``--download``), and ``../shared/data/movielens-100k`` relative to the current directory and
to the repository root. Without any of those the workflow runs on generated
MovieLens-shaped data (:mod:`mli.table.datasets`) and says so.

The data side is :mod:`~mli.apps.movielens.data`, the workflow and its command line
:mod:`~mli.apps.movielens.workflow`. Library functions log (logger ``"mli.apps.movielens"``);
only the CLI prints.
"""
from __future__ import annotations

from mli.apps.movielens import data, workflow  # noqa: F401
from mli.apps.movielens.data import (BASE_URL, DATASETS, ENV_CACHE, ENV_DATA, ENV_URL, MovieLens,
                                     MovieLensError, Split, ask_ratings, cache_dir,
                                     candidate_folders, detect_format, download, find_data,
                                     generated_movielens, load_movielens, load_ratings,
                                     load_titles, popular_movies, predict_ratings, read_my_ratings,
                                     repo_root, rmse, split_literature, split_ratings)
from mli.apps.movielens.workflow import EXAMPLE_RATINGS, add_parser, run_workflow

__all__ = [
    "MovieLensError",
    "MovieLens",
    "DATASETS",
    "BASE_URL",
    "cache_dir",
    "detect_format",
    "find_data",
    "load_movielens",
    "load_ratings",
    "load_titles",
    "download",
    "generated_movielens",
    "read_my_ratings",
    "ask_ratings",
    "popular_movies",
    "split_ratings",
    "rmse",
    "run_workflow",
    "add_parser",
    "EXAMPLE_RATINGS",
    "ENV_DATA",
    "ENV_CACHE",
    "ENV_URL",
    "Split",
    "candidate_folders",
    "predict_ratings",
    "repo_root",
    "split_literature",
    "data",
    "workflow",
]

