"""Alternating least squares (ALS) matrix factorization for recommendation.

``R ~ X Y^T``: alternately solve every item's least-squares problem given the user
factors, then every user's given the item factors (explicit feedback, or implicit as Hu,
Koren & Volinsky). The objectives and the local solvers: :mod:`~.kernels` (numpy
references in :mod:`~.reference`); the input: :mod:`~.ratings`; one block's solve and the
initialization: :mod:`~.solve`; the strategies: :mod:`~.data_parallel` (every task holds
the factors) and :mod:`~.blocked` (none does), chosen by :mod:`~.cost`; the model:
:mod:`~.model`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from mli.algorithms.als import blocked, data_parallel
from mli.algorithms.als.cost import plan
from mli.algorithms.als.model import ALSModel
from mli.algorithms.als.params import ALSParams
from mli.algorithms.als.ratings import Ratings, read_triples
from mli.algorithms.als.solve import SolveConfig, hashed_factors, initial_factors
from mli.engine.context import get_context
from mli.optimize.base import Tracker
from mli.table.sampling import resolve_seed

__all__ = ["ALS", "ALSModel", "hashed_factors"]

STRATEGIES = {"data_parallel": data_parallel, "blocked": blocked}


class ALS(ALSParams):
    __doc__ = ALSParams.__doc__

    def _prepare(self, data, y, label):
        if y is not None:
            raise ValueError("ALS.fit takes (user, item, rating) triples in one table or "
                             "(n, 3) array; y must be None")
        if label is not None:
            raise ValueError(f"ALS.fit has no label column (got label={label!r}); name the "
                             "columns with user_col / item_col / rating_col")
        names = (self.user_col, self.item_col, self.rating_col)
        return Ratings(*read_triples(data, names), names), None

    def _fit(self, ratings: Ratings, **unexpected) -> ALSModel:
        if unexpected:
            raise TypeError(f"ALS.fit got unexpected keyword arguments {sorted(unexpected)}")
        return self._partial_model(ratings, self._sweeps(ratings, None, int(self.max_iter)))

    def _sweeps(self, ratings: Ratings, state: "FactorState | None", sweeps: int
                ) -> "FactorState":
        """``sweeps`` more iterations from ``state`` (None: the initial factors)."""
        ctx = get_context(getattr(self, "ctx", None))
        how = plan(self, ratings, ctx.default_parallelism)
        if state is None:
            seed = resolve_seed(self.seed)
            state = FactorState(*initial_factors(ratings, self.rank, seed, self.biases), 0,
                                seed, how.strategy, [])
        track = Tracker("ALS", self.callback)
        # every iteration: all items given the users, then all users given the items
        X, Y, n_iter = STRATEGIES[how.strategy].fit(ctx, ratings, how.blocks,
                                                     SolveConfig.of(self, ratings), state.X,
                                                     state.Y, sweeps, track)
        return FactorState(X, Y, state.n_iter + n_iter, state.seed, how.strategy,
                           state.history + list(track.history))

    # -- partial fits (the ML Optimizer, mli.search): a configuration's state is its
    # factors, and resumed from them k then j sweeps are the k + j of one fit (the sweep
    # reads nothing but the factors). Each configuration runs on its own.
    _resumable = True
    _task = "recommendation"

    def _partial_setup(self, ratings: Ratings) -> Ratings:
        return ratings

    def _partial_key(self):
        return (type(self), id(self))

    @classmethod
    def _partial_fit_many(cls, ratings, algorithms, states, passes: int) -> list:
        out: list = []
        for algo, state in zip(algorithms, states):
            try:
                out.append(algo._sweeps(ratings, state, int(passes)))
            except (ValueError, ArithmeticError) as exc:  # (kept: that configuration fails)
                out.append(exc)
        return out

    def _partial_model(self, ratings: Ratings, state: "FactorState") -> ALSModel:
        return ALSModel.from_fit(self, ratings, state.X, state.Y, n_iter=state.n_iter,
                                 strategy=state.strategy, seed=state.seed,
                                 history=state.history)


class FactorState(NamedTuple):
    """Where an ALS fit stands: the user and item factors (bias column last), the sweeps
    made, the seed and strategy used, the loss history."""

    X: Any
    Y: Any
    n_iter: int
    seed: int
    strategy: str
    history: list
