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
        ctx = get_context(getattr(self, "ctx", None))
        how = plan(self, ratings, ctx.default_parallelism)
        seed = resolve_seed(self.seed)
        X, Y = initial_factors(ratings, self.rank, seed, self.biases)
        track = Tracker("ALS", self.callback)
        # every iteration: all items given the users, then all users given the items
        X, Y, n_iter = STRATEGIES[how.strategy].fit(ctx, ratings, how.blocks,
                                                     SolveConfig.of(self, ratings), X, Y,
                                                     int(self.max_iter), track)
        return ALSModel.from_fit(self, ratings, X, Y, n_iter=n_iter, strategy=how.strategy,
                                 seed=seed, history=track.history)
