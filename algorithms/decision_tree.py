"""Decision trees (classification and regression) by distributed histogram split finding.

The tree is grown level by level: one Spark job per level gathers the per-node, per-feature,
per-bin label statistics of all partitions and the driver picks the best split of every
node (see :mod:`mli.models.trees`). Split rule: ``x <= threshold`` goes left.
"""
from __future__ import annotations


from mli.models.trees import TreeAlgorithm, TreeEnsembleModel, grow_levels

__all__ = ["DecisionTree", "DecisionTreeModel"]


class DecisionTree(TreeAlgorithm):
    """A decision tree grown with distributed, histogram-based split finding.

    Parameters
    ----------
    task : {"classification", "regression"}, default "classification"
        Classification: labels are class labels (any numbers; ``classes_`` holds them
        sorted). Regression: labels are real targets.
    max_depth : int >= 0, default 5
        Depth of the deepest leaf (0: a single leaf). One pass over the data per level.
    max_bins : int in [2, 65536], default 32
        Maximal number of bins (candidate thresholds + 1) per feature. With at least as
        many bins as a feature has distinct values the thresholds are scikit-learn's
        (midpoints of adjacent distinct values); otherwise equal-frequency bins from a
        sample of ``mli.models.trees.SAMPLE_ROWS`` rows.
    min_samples_leaf : int >= 1, default 1
        A split must leave at least this many training rows on each side (with
        ``sample_weight``: this much weight, a row of weight 2 counting as two rows).
    impurity : {"auto", "gini", "entropy", "variance"}, default "auto"
        "auto": gini for classification, variance for regression.
    seed : int or None, default None
        Seeds the row sample of the bin thresholds (used only with more than
        ``SAMPLE_ROWS`` rows).

    Notes
    -----
    A node becomes a leaf when it is pure, has fewer than ``2 * min_samples_leaf`` rows,
    is at ``max_depth``, or has no split that lowers the impurity -- e.g. when every
    feature is constant on it (constant features never split). A single class gives a
    one-leaf tree that predicts it. NaN/inf in features or labels raise ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import DecisionTree
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([5, 5, 7, 7])
    >>> model = DecisionTree(max_depth=2).fit(X, y)           # doctest: +SKIP
    >>> model.predict(np.array([[0.2], [2.8]]))               # doctest: +SKIP
    array([5., 7.])
    >>> model.threshold[0]                                    # doctest: +SKIP
    1.5
    """

    def _levels(self, data):
        return grow_levels(self, data, DecisionTreeModel)


class DecisionTreeModel(TreeEnsembleModel):
    """A fitted decision tree (one tree; see :class:`mli.models.trees.TreeEnsembleModel`).

    ``predict`` gives the majority class (classification) or the mean target of the leaf;
    ``predict_proba`` the class frequencies of the leaf; ``apply`` the leaf index.
    """

    _registry_name = "mli.DecisionTreeModel"
