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
            state = self._initial_state(ratings, how.strategy)
        track = Tracker("ALS", self.callback)
        # every iteration: all items given the users, then all users given the items
        X, Y, n_iter = STRATEGIES[how.strategy].fit(ctx, ratings, how.blocks,
                                                     SolveConfig.of(self, ratings), state.X,
                                                     state.Y, sweeps, track)
        return FactorState(X, Y, state.n_iter + n_iter, state.seed, how.strategy,
                           state.history + list(track.history))

    def _initial_state(self, ratings: Ratings, strategy: str) -> "FactorState":
        seed = resolve_seed(self.seed)
        return FactorState(*initial_factors(ratings, self.rank, seed, self.biases), 0, seed,
                           strategy, [])

    # -- partial fits (the ML Optimizer, mli.search): a configuration's state is its
    # factors, and resumed from them k then j sweeps are the k + j of one fit (the sweep
    # reads nothing but the factors). The configurations whose factors every task can hold
    # (strategy data_parallel, same blocks) sweep in the same gang run and passes.
    _resumable = True
    _task = "recommendation"

    def _partial_setup(self, ratings: Ratings) -> Ratings:
        return ratings

    def _partial_key(self):
        return (ALS,)

    @classmethod
    def _partial_fit_many(cls, ratings, algorithms, states, passes: int) -> list:
        ctx = get_context(getattr(algorithms[0], "ctx", None))
        out: list = [None] * len(algorithms)
        shared: dict = {}
        for j, (algo, state) in enumerate(zip(algorithms, states)):
            try:
                how = plan(algo, ratings, ctx.default_parallelism)
                if how.strategy == "data_parallel" and algo.callback is None:
                    if state is None:
                        state = algo._initial_state(ratings, how.strategy)
                    shared.setdefault(how.blocks, []).append((j, algo, state))
                else:
                    out[j] = algo._sweeps(ratings, state, int(passes))
            except (ValueError, ArithmeticError) as exc:  # (kept: that configuration fails)
                out[j] = exc
        for blocks, members in shared.items():
            swept = data_parallel.fit_many(
                ctx, ratings, blocks, [SolveConfig.of(a, ratings) for _, a, _ in members],
                [s.X for _, _, s in members], [s.Y for _, _, s in members], int(passes))
            for (j, algo, state), (X, Y, losses) in zip(members, swept):
                track = Tracker("ALS", None)
                for it, loss in enumerate(losses, 1):
                    track(it, loss)
                out[j] = FactorState(X, Y, state.n_iter + len(losses), state.seed,
                                     state.strategy, state.history + list(track.history))
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
