"""Random forests: bootstrapped histogram trees with random feature subsets, grown together.

All trees grow in the same passes (one Spark job per level for the whole forest; see
:mod:`mli.models.trees`). Bootstrap counts are Poisson(1) per row and tree, drawn from a hash of
``(seed, tree, global row index)``, and a node's candidate features from
``(seed, tree, node)``: the forest does not depend on the partitioning.
"""
from __future__ import annotations


from mli.core.params import Interval, Options, Param
from mli.models.trees import TreeAlgorithm, TreeEnsembleModel, grow_levels

__all__ = ["RandomForest", "RandomForestModel"]


class RandomForest(TreeAlgorithm):
    """A random forest of histogram decision trees (classification or regression).

    Parameters
    ----------
    n_trees : int >= 1, default 20
    task, max_depth, max_bins, min_samples_leaf, impurity
        As in :class:`~mli.algorithms.DecisionTree`.
    max_features : {"auto", "sqrt", "log2", "onethird", "all"} or float in (0, 1], default "auto"
        Candidate features per node: ``ceil(sqrt(d))``, ``ceil(log2(d))``, ``ceil(d / 3)``,
        all, or ``ceil(fraction * d)``; "auto" is "sqrt" for classification and "onethird"
        for regression (as pyspark.ml).
    bootstrap : bool, default True
        Train every tree on a Poisson(1) bootstrap sample (else on all rows).
    seed : int or None, default None
        Seeds the bootstrap, the feature subsets and the bin sample (None: random).

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import RandomForest
    >>> rng = np.random.default_rng(0); X = rng.standard_normal((500, 5))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(float)
    >>> model = RandomForest(n_trees=10, max_depth=4, seed=1).fit(X, y)   # doctest: +SKIP
    >>> model.predict_proba(X[:2]).shape                                  # doctest: +SKIP
    (2, 2)
    """

    n_trees = Param(20, Interval(int, 1, None, closed="left"))
    max_features = Param("auto", [Options({"auto", "sqrt", "log2", "onethird", "all"}),
                                  Interval(float, 0, 1, closed="right")])
    bootstrap = Param(True, [bool])

    def _levels(self, data):
        return grow_levels(self, data, RandomForestModel, n_trees=self.n_trees,
                           max_features=self.max_features, bootstrap=self.bootstrap)


class RandomForestModel(TreeEnsembleModel):
    """A fitted random forest (see :class:`mli.models.trees.TreeEnsembleModel`).

    ``predict_proba`` averages the trees' leaf class frequencies and ``predict`` takes the
    most probable class; regression averages the leaf means.
    """

    _registry_name = "mli.RandomForestModel"
