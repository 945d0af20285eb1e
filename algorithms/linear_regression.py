"""Linear regression: ordinary least squares, ridge, lasso and elastic net.

Objective: mean of ``(y - x.w - b)^2 / 2`` + reg * ((1 - l1_ratio) / 2 * ||w||^2 +
l1_ratio * ||w||_1), intercept not regularized, no hidden standardization: scikit-learn's
``ElasticNet(alpha=reg, l1_ratio=l1_ratio)``, ``Lasso(alpha=reg)``, ``Ridge(alpha=reg *
n_samples)`` and ``LinearRegression()`` for ``reg=0``.

Up to :data:`NORMAL_MAX_FEATURES` features the fit is one distributed pass (the data is not
made resident): :func:`mli.models.linear.normal_equations` (the moments of ``[X, y]``: means and
centered ``X'X``, ``X'y``, merged exactly across partitions), then a ``d x d`` solve on the
driver (Cholesky for ridge, least squares for OLS, coordinate descent on the Gram matrix for
L1). Wider data goes through :func:`mli.optimize.minimize`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from mli.models.linear import LinearAlgorithm, LinearModel, normal_equations
from mli.optimize import SquaredLoss, cost
from mli.optimize.cost import NORMAL_MAX_FEATURES
from mli.core.params import Options, Param

from mli.algorithms.linear_kernels import enet_gram_cd
from mli.errors import warn_not_converged

#: sweeps of coordinate descent on the normal equations (L1); each costs O(d^2) on the driver
CD_MAX_SWEEPS = 100_000

__all__ = ["LinearRegression", "LinearRegressionModel", "NORMAL_MAX_FEATURES"]

class LinearRegression(LinearAlgorithm):
    """Least squares with optional L2 (ridge), L1 (lasso) or elastic-net regularization.

    Parameters
    ----------
    reg : float, default 0.0
        Regularization strength (0: ordinary least squares; the minimum-norm solution when
        the features are collinear).
    l1_ratio : float in [0, 1], default 0.0
        Elastic-net mix: 0 is ridge, 1 is lasso.
    max_iter : int, default 100
        Iterations of the iterative solvers (the normal equations need one pass).
    tol : float, default 1e-6
        Tolerance of the iterative solvers; with "normal" and L1, coordinate descent stops
        when no coefficient moves by more than ``tol * max|coef|`` in a sweep.
    fit_intercept : bool, default True
    solver : {"auto", "normal", "lbfgs", "owlqn", "fista", "sgd", "cocoa"}, default "auto"
        "auto": "normal" up to ``NORMAL_MAX_FEATURES`` features, else "lbfgs" ("owlqn" with
        an L1 term).
    callback : callable, optional
        ``callback(iteration, loss, seconds)`` (iterative solvers).

    Examples
    --------
    >>> import numpy as np
    >>> from mli.algorithms import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([1.0, 3.0, 5.0])
    >>> model = LinearRegression().fit(X, y)                    # doctest: +SKIP
    >>> model.coef_, float(model.intercept_)                    # doctest: +SKIP
    (array([2.]), 1.0)
    """

    solver = Param("auto", Options({"auto", "normal", "lbfgs", "owlqn", "fista", "sgd", "cocoa"}))

    _task = "regression"

    def _loss(self, n_classes):
        return SquaredLoss()

    def _model(self, coef, intercept, classes, n_iter, converged):
        return LinearRegressionModel(coef[0], intercept[0], n_iter=n_iter, converged=converged)

    def _fit(self, data):
        d, method = data.num_features, self.solver
        if method == "auto":
            method = "normal" if cost.use_normal_equations(d) else None
        if method != "normal":
            coef, intercept, result = self._minimize(SquaredLoss(), data, method)
            return LinearRegressionModel(coef[0], intercept[0], n_iter=result.n_iter,
                                         converged=result.converged)
        eq = normal_equations(data.blocks, self.fit_intercept)
        l1, l2 = self.reg * self.l1_ratio, self._l2
        if l1 > 0:
            coef, n_iter = enet_gram_cd(eq.gram, eq.xty, l1, l2, self.tol, CD_MAX_SWEEPS)
            if n_iter >= CD_MAX_SWEEPS:
                warn_not_converged(type(self).__name__, n_iter, CD_MAX_SWEEPS,
                                   "coordinate descent on the normal equations")
        elif l2 > 0:
            coef, n_iter = scipy.linalg.solve(eq.gram + l2 * np.eye(d), eq.xty, assume_a="pos"), 1
        else:
            coef, n_iter = scipy.linalg.lstsq(eq.gram, eq.xty, cond=1e-12)[0], 1
        return LinearRegressionModel(coef, eq.intercept(coef), n_iter=n_iter,
                                     converged=n_iter < CD_MAX_SWEEPS)


class LinearRegressionModel(LinearModel):
    """A fitted linear regression: ``coef_`` (d,), ``intercept_`` (a 0-d array);
    ``predict`` gives ``X @ coef_ + intercept_``."""

    _registry_name = "mli.LinearRegressionModel"

    def _predict_block(self, X):
        return self._margin_block(X)
