"""ALS's hyperparameters, their documentation and the combinations refused."""
from __future__ import annotations

from mli.core.base import Algorithm
from mli.core.params import Interval, Options, Param

__all__ = ["ALSParams"]


class ALSParams(Algorithm):
    """Alternating least squares matrix factorization (explicit or implicit feedback).

    Parameters
    ----------
    rank : int, default 10
        Number of latent factors.
    max_iter : int, default 10
        Iterations (each updates all items, then all users).
    reg : float, default 0.1
        Regularization, scaled by each row's rating count (ALS-WR, as pyspark.ml's
        ``regParam``; see ``reg_scaling``).
    implicit : bool, default False
        Implicit feedback (Hu, Koren & Volinsky): ratings are interaction strengths.
    alpha : float, default 1.0
        Implicit feedback confidence: ``c = confidence_offset + alpha * |r|``.
    nonnegative : bool, default False
        Constrain the factors to be >= 0 (exact NNLS per row).
    strategy : {"auto", "data_parallel", "blocked"}, default "auto"
        How ratings and factors are distributed (:mod:`mli.algorithms.als.data_parallel`,
        :mod:`mli.algorithms.als.blocked`). ``auto``: data_parallel while the factors take
        < 500 MB, blocked otherwise (:mod:`mli.algorithms.als.cost`). (``"broadcast"``,
        replaced by data_parallel, runs data_parallel with a ``FutureWarning``.)
    seed : int or None, default None
        Seed of the initial factors (which depend only on the seed and each id). None
        draws a random seed (recorded as ``model.seed_used``).
    biases : bool, default False
        Explicit feedback only: also learn a bias per user and per item and the global
        mean; the model predicts ``mu + b_u + b_i + x_u.y_i``.
    solver : {"cholesky", "cg"}, default "cholesky"
        Implicit feedback only: exact per-row solve, or ``cg_steps`` warm-started
        conjugate-gradient steps (much faster for large ranks; the ``implicit`` library's
        default).
    cg_steps : int, default 3
    user_col, item_col, rating_col : str, default "user", "item", "rating"
        Column names in table/DataFrame input (used by position when none of them is
        present and the input has exactly 3 columns).
    num_partitions : int or None, default None
        Number of blocks (Spark tasks per half-step). None: enough blocks to give each
        task ~1e8 flops per iteration, at most the context's default parallelism -- small
        problems get one block (a task launch costs more than their compute), large ones
        use every core. Always at most the number of users / items.
    checkpoint_interval : None
        No longer used (deprecated): every strategy is one gang run without Spark lineage,
        so nothing is checkpointed. A value other than None gives a ``FutureWarning``.
    cold_start : {"nan", "drop", "mean"}, default "nan"
        Default of :meth:`ALSModel.predict` for unknown users/items.
    reg_scaling : {"count", "none"}, default "count"
        "count": ``reg * n_u`` (pyspark.ml); "none": ``reg`` (the ``implicit`` library).
    confidence_offset : float, default 1.0
        Implicit feedback: 1 is the paper / pyspark.ml; 0 (with ``reg_scaling="none"``)
        reproduces the ``implicit`` library's objective.
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` after every iteration (loss = the
        objective, computed within the solve jobs only when a callback is given; NaN
        otherwise); returning True stops.

    Input of :meth:`fit`: an MLTable, pandas or Spark DataFrame with user, item and rating
    columns, an ``(n, 3)`` array ``[user, item, rating]``, or a scipy sparse user x item
    matrix (its stored entries are the ratings). Ids are arbitrary integers (also
    integral floats, e.g. from a float table); duplicate (user, item) pairs are kept as
    separate observations, as pyspark.ml does.

    Examples
    --------
    >>> import pandas as pd
    >>> from mli.algorithms import ALS
    >>> ratings = pd.DataFrame({"user": [1, 1, 2, 3], "item": [10, 20, 10, 30],
    ...                         "rating": [5.0, 3.0, 4.0, 1.0]})
    >>> model = ALS(rank=2, max_iter=5, seed=0).fit(ratings)          # doctest: +SKIP
    >>> model.predict(pd.DataFrame({"user": [1], "item": [30]}))      # doctest: +SKIP
    >>> model.recommend([1, 2], k=2)                                   # doctest: +SKIP
    """

    rank = Param(10, Interval(int, 1, None))
    max_iter = Param(10, Interval(int, 1, None))
    reg = Param(0.1, Interval(float, 0, None, closed="left"))
    implicit = Param(False, [bool])
    alpha = Param(1.0, Interval(float, 0, None, closed="left"))
    nonnegative = Param(False, [bool])
    strategy = Param("auto", Options({"auto", "broadcast", "data_parallel", "blocked"}))
    seed = Param(None, [None, Interval(int, 0, None)])
    biases = Param(False, [bool])
    solver = Param("cholesky", Options({"cholesky", "cg"}))
    cg_steps = Param(3, Interval(int, 1, None))
    user_col = Param("user", [str])
    item_col = Param("item", [str])
    rating_col = Param("rating", [str])
    num_partitions = Param(None, [None, Interval(int, 1, None)])
    checkpoint_interval = Param(None, [None, Interval(int, 1, None)])
    cold_start = Param("nan", Options({"nan", "drop", "mean"}))
    reg_scaling = Param("count", Options({"count", "none"}))
    confidence_offset = Param(1.0, Interval(float, 0, None, closed="left"))
    callback = Param(None, [None, "callable"])

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        """The combinations of hyperparameters that are refused (one message format)."""
        name = type(self).__name__

        def bad(param, msg):
            return ValueError(f"Invalid value for parameter '{param}' of {name}: {msg}.")

        if self.biases and self.implicit:
            raise bad("biases", "biases=True applies to explicit feedback (implicit=False)")
        if self.biases and self.nonnegative:
            raise bad("biases", "biases=True cannot be combined with nonnegative=True")
        if self.solver == "cg" and not self.implicit:
            raise bad("solver", "solver='cg' applies to implicit feedback (implicit=True)")
        if self.solver == "cg" and self.nonnegative:
            raise bad("solver", "solver='cg' cannot be combined with nonnegative=True")
        if len({self.user_col, self.item_col, self.rating_col}) != 3:
            raise bad("user_col", f"user_col, item_col and rating_col must differ, got "
                                  f"{self.user_col!r}, {self.item_col!r}, {self.rating_col!r}")
