"""The random-feature pipeline of Coates & Ng (2011): Rectify, Pooler, RandomPatches,
ZCA whitening and the Convolver (filters learned from random whitened patches)."""
from __future__ import annotations

import logging
import zlib

import numpy as np
import scipy.sparse as sp

from mli.linalg.localmatrix import LocalMatrix
from mli.core.params import Interval, Options
from mli.pipeline import Batches, Estimator, Pipeline, Transformer

from mli.featurize import image_kernels as kernels
from mli.table.mltable import MLTable
from mli.featurize.image.batches import ImageBatch, as_image_batch, mixed_sizes_error
from mli.featurize.image.readers import image_shape_of_columns
from mli.featurize.image.stages import ImageTransformer, Scale, VectorizingStage


log = logging.getLogger(__name__)


# ============================================================================ Coates & Ng


class Rectify(ImageTransformer):
    """Rectification: ``max(0, x - alpha)``, and with ``symmetric`` also
    ``max(0, -x - alpha)`` concatenated on the channel axis (twice the channels)."""

    _registry_name = "mli.featurize.image.Rectify"  # the key saved pipelines name it by

    _rectifies = True  # fused with a following Pooler (mli.featurize.image.batches)

    _constraints = {"alpha": Interval(float, None, None), "symmetric": [bool]}

    def __init__(self, alpha=0.25, symmetric=True):
        self.alpha = alpha
        self.symmetric = symmetric

    def _out_shape(self, shape):
        return tuple(shape[:2]) + (shape[2] * (2 if self.symmetric else 1),)

    def _apply(self, x):
        return kernels.rectify(x, float(self.alpha), bool(self.symmetric))

    def _output_width(self, width):
        return None if width is None else width * (2 if self.symmetric else 1)


class Pooler(VectorizingStage):
    """Spatial pooling into a vector: the sum (or max) of every channel over each region.

    Regions: a ``grid x grid`` split into nearly equal parts (``grid=2`` are Coates & Ng's
    quadrants), or -- with ``pool_size`` -- windows of ``pool_size`` every ``pool_stride``
    positions. Output ``(n, regions_y * regions_x * channels)``, ordered (region row,
    region column, channel).
    """

    _registry_name = "mli.featurize.image.Pooler"  # the key saved pipelines name it by

    _pools = True  # takes a preceding Rectify into its pass (``_pool(x, rectify=...)``)

    _constraints = {"grid": [Interval(int, 1, None, closed="left"), tuple, list],
                    "pool_size": [None, Interval(int, 1, None, closed="left")],
                    "pool_stride": [None, Interval(int, 1, None, closed="left")],
                    "op": Options({"sum", "max"})}

    def __init__(self, grid=2, pool_size=None, pool_stride=None, op="sum"):
        self.grid = grid
        self.pool_size = pool_size
        self.pool_stride = pool_stride
        self.op = op

    def _edges(self, shape):
        H, W = shape[0], shape[1]
        if self.pool_size is not None:
            stride = self.pool_stride or self.pool_size
            return kernels.window_edges(H, self.pool_size, stride) + \
                kernels.window_edges(W, self.pool_size, stride)
        g = self.grid
        gy, gx = (g, g) if isinstance(g, (int, np.integer)) else (int(g[0]), int(g[1]))
        return kernels.grid_edges(H, gy) + kernels.grid_edges(W, gx)

    def _check_input_shape(self, shape) -> None:
        self._edges(shape)  # raises ValueError for a grid finer than the image

    def _out_shape(self, shape):
        rs, _, cs, _ = self._edges(shape)
        return (len(rs) * len(cs) * shape[2],)

    def _pool(self, x, rectify: Rectify | None = None):
        rs, re_, cs, ce = self._edges(x.shape[1:])
        if rectify is not None:
            out = kernels.rectify_pool(x, float(rectify.alpha), bool(rectify.symmetric),
                                       rs, re_, cs, ce, self.op)
        else:
            out = kernels.pool(x, rs, re_, cs, ce, self.op)
        return out.reshape(len(x), -1)

    def _apply(self, x):
        return self._pool(x)


def _batch_info(batch, y=None):
    b = as_image_batch(batch)
    return (len(b), b.shape if len(b) else None)


def _sample_seed(seed: int, b: ImageBatch) -> np.random.Generator:
    """A generator determined by ``seed`` and the partition's content."""
    head = np.ascontiguousarray(b.source[:2]).tobytes()[:4096]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, len(b), zlib.crc32(head)])


def _sample_patches(batch, y, rate: float, k: int, normalize: bool, eps: float, seed: int):
    """Random patches of one partition: ``round(rate * n)`` of them, float32 rows."""
    b = as_image_batch(batch)
    n = len(b)
    count = int(round(rate * n))
    shape = b.shape
    if count <= 0 or n == 0:
        return np.zeros((0, k * k * shape[2]), dtype=np.float32)
    if k > shape[0] or k > shape[1]:
        raise ValueError(f"patch_size {k} is larger than the images {tuple(shape)}")
    rng = _sample_seed(seed, b)
    img = np.sort(rng.integers(0, n, count))
    uniq, inverse = np.unique(img, return_inverse=True)
    x = b.take(uniq).evaluate()  # only the images patches are taken from
    P = kernels.sample_patches_at(x, k, inverse, rng)
    if normalize:
        P = P.astype(np.float64)
        P -= P.mean(axis=1, keepdims=True)
        P /= np.sqrt(P.var(axis=1, keepdims=True) + eps)
    return P.astype(np.float32)


class RandomPatches:
    """Random ``patch_size x patch_size`` patches of images -- the data Coates & Ng learn
    filters (and the ZCA whitening) from; the first step of :meth:`Convolver.fit`.

    Not a pipeline stage (it does not keep one output per image): use :meth:`sample`.

    Parameters
    ----------
    num_patches : int
        About this many patches in total, drawn uniformly over images and positions
        (each partition draws its share).
    normalize : bool
        Contrast-normalize every patch: subtract its mean, divide by ``sqrt(var + eps)``.
    contrast_eps : float
        ``eps`` above; 0.01 suits pixels in [0, 1].
    """

    def __init__(self, num_patches=100_000, patch_size=6, normalize=True, contrast_eps=0.01,
                 seed=0):
        self.num_patches = num_patches
        self.patch_size = patch_size
        self.normalize = normalize
        self.contrast_eps = contrast_eps
        self.seed = seed

    def __repr__(self) -> str:
        return (f"RandomPatches(num_patches={self.num_patches}, patch_size={self.patch_size}, "
                f"normalize={self.normalize}, contrast_eps={self.contrast_eps}, "
                f"seed={self.seed})")

    def sample(self, data) -> np.ndarray:
        """Patches ``(m, patch_size * patch_size * channels)`` float32 (rows in
        ``(dy, dx, channel)`` order) from an image stack, a list of images, an
        :class:`ImageBatch`, an MLTable with image columns, or :class:`mli.pipeline.Batches`.
        """
        k, eps = int(self.patch_size), float(self.contrast_eps)
        if isinstance(data, MLTable):
            shape, idx, _ = image_shape_of_columns(data.columns)
            sub = data.select(*[data.columns[j] for j in idx])
            blocks = sub.blocks
            total = sum(blocks.partition_rows)
            rate = self.num_patches / max(total, 1)
            parts = blocks.map_collect(_sample_block, shape, rate, k, bool(self.normalize), eps,
                                       int(self.seed))
        elif isinstance(data, Batches):
            info = data.map_collect(_batch_info)
            total = sum(n for n, _ in info)
            rate = self.num_patches / max(total, 1)
            parts = data.map_collect(_sample_patches, rate, k, bool(self.normalize), eps,
                                     int(self.seed))
        else:
            b = as_image_batch(data)
            rate = self.num_patches / max(len(b), 1)
            parts = [_sample_patches(b, None, rate, k, bool(self.normalize), eps,
                                     int(self.seed))]
        parts = [p for p in parts if len(p)]
        if not parts:
            raise ValueError("no patches sampled: the data has no images")
        return np.concatenate(parts)


def _sample_block(block, shape, rate, k, normalize, eps, seed):
    a = block.array if isinstance(block, LocalMatrix) else block
    a = a.toarray() if sp.issparse(a) else np.asarray(a)
    b = ImageBatch(a.reshape((len(a),) + tuple(shape)), "flat")
    return _sample_patches(b, None, rate, k, normalize, eps, seed)


# -------------------------------------------------------------------- ZCA


def zca_matrix(cov: np.ndarray, eps: float) -> np.ndarray:
    """``V diag(1 / sqrt(lambda + eps)) V^T`` of a covariance matrix (symmetric)."""
    lam, V = np.linalg.eigh((cov + cov.T) / 2)
    lam = np.maximum(lam, 0.0)
    return (V / np.sqrt(lam + eps)) @ V.T


def _moments(batch, y=None):
    if isinstance(batch, ImageBatch):
        X = batch.to_matrix()
    else:
        X = batch.array if isinstance(batch, LocalMatrix) else batch
        X = X.toarray() if sp.issparse(X) else np.asarray(X)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"ZCAWhitener expects a 2-D matrix (rows x features), got shape "
                         f"{X.shape}")
    return (np.array([float(len(X))]), X.sum(axis=0), X.T @ X)


def _zca_from_moments(n, s, sxx, eps):
    mean = s / n
    cov = sxx / n - np.outer(mean, mean)
    return mean, zca_matrix(cov, eps)


class ZCAWhitener(Estimator):
    """ZCA whitening of vectors (rows): ``(x - mean) @ W`` with ``W = C^{-1/2}`` regularized
    as ``V diag(1 / sqrt(lambda + eps)) V^T`` (``C = V diag(lambda) V^T`` the covariance).

    Fitted with one pass (count, sum, ``X^T X`` per partition); returns a
    :class:`ZCAWhitenerModel`.
    """

    _registry_name = "mli.featurize.image.ZCAWhitener"  # the key saved pipelines name it by

    _constraints = {"eps": Interval(float, 0, None, closed="left")}

    def __init__(self, eps=0.1):
        self.eps = eps

    def _fit(self, batches):
        n, s, sxx = batches.map_reduce(_moments)
        if n[0] < 2:
            raise ValueError("ZCAWhitener needs at least 2 rows")
        mean, W = _zca_from_moments(n[0], s, sxx, float(self.eps))
        return ZCAWhitenerModel(mean=mean, whitening=W)

    def fit_array(self, X) -> "ZCAWhitenerModel":
        """Fit on a local 2-D array, on the driver (no Spark job)."""
        self._validate()
        n, s, sxx = _moments(X)
        if n[0] < 2:
            raise ValueError("ZCAWhitener needs at least 2 rows")
        mean, W = _zca_from_moments(n[0], s, sxx, float(self.eps))
        return ZCAWhitenerModel(mean=mean, whitening=W)


class ZCAWhitenerModel(Transformer):
    """A fitted ZCA whitening: ``(X - mean) @ whitening`` (float64)."""

    _registry_name = "mli.featurize.image.ZCAWhitenerModel"  # the key saved pipelines name it by

    def __init__(self, mean=None, whitening=None):
        self.mean = mean
        self.whitening = whitening

    def _transform_batch(self, batch):
        if isinstance(batch, ImageBatch):
            X = batch.to_matrix()
        else:
            X = batch.array if isinstance(batch, LocalMatrix) else batch
            X = X.toarray() if sp.issparse(X) else np.asarray(X)
        X = np.asarray(X, dtype=np.float64)
        d = len(self.mean)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1] if X.ndim == 2 else X.shape} features, but "
                             f"ZCAWhitenerModel was fitted with {d} features")
        return (X - self.mean) @ self.whitening

    def _output_width(self, width):
        return None if self.mean is None else len(self.mean)


# -------------------------------------------------------------------- filters


def _unit_rows(D: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(D, axis=1, keepdims=True)
    return D / np.where(norms > 0, norms, 1.0)


def spherical_kmeans(X: np.ndarray, k: int, iterations: int, rng) -> np.ndarray:
    """Coates & Ng's (gain-shape) spherical k-means: unit-norm centroids ``(k, d)``."""
    D = _unit_rows(rng.standard_normal((k, X.shape[1])))
    for _ in range(iterations):
        S = X @ D.T
        j = np.argmax(np.abs(S), axis=1)
        coef = S[np.arange(len(X)), j]
        newD = np.zeros_like(D)
        np.add.at(newD, j, coef[:, None] * X)
        empty = np.linalg.norm(newD, axis=1) == 0
        if empty.any():
            newD[empty] = X[rng.choice(len(X), int(empty.sum()), replace=False)]
        D = _unit_rows(newD)
    return D


class Convolver(Estimator):
    """Learns a filter bank and returns a :class:`ConvolverModel` that convolves images with
    it (Coates & Ng 2011).

    Fitting samples ``num_patches`` random patches (:class:`RandomPatches`),
    contrast-normalizes them, fits a ZCA whitening (``zca_eps``) and builds
    ``num_filters`` unit-norm filters in the whitened space:

    * ``"patches"`` -- random whitened patches (skipping nearly flat ones),
    * ``"random"`` -- Gaussian random filters,
    * ``"kmeans"`` -- spherical k-means centroids (``kmeans_iter`` iterations),
    * an array ``(num_filters, patch_size, patch_size, channels)`` -- given filters.

    The fitted model applies normalization, whitening and filters at every position (stride
    ``stride``) with one matrix product: whitening is folded into the filters.

    Parameters
    ----------
    num_filters : int
    patch_size : int
    stride : int
    filters : {"patches", "random", "kmeans"} or ndarray
    num_patches : int
        Patches sampled for the whitening and the filters.
    normalize : bool
        Contrast-normalize patches (mean 0, divided by ``sqrt(var + contrast_eps)``).
    contrast_eps : float
        0.01 suits pixels in [0, 1] (use :class:`Scale` first); about 10 * 255 for 0-255.
    whiten : bool
    zca_eps : float
    kmeans_iter : int
    seed : int
    """

    _registry_name = "mli.featurize.image.Convolver"  # the key saved pipelines name it by

    _constraints = {
        "num_filters": Interval(int, 1, None, closed="left"),
        "patch_size": Interval(int, 1, None, closed="left"),
        "stride": Interval(int, 1, None, closed="left"),
        "filters": [Options({"patches", "random", "kmeans"}), np.ndarray],
        "num_patches": Interval(int, 1, None, closed="left"),
        "normalize": [bool],
        "contrast_eps": Interval(float, 0, None, closed="left"),
        "whiten": [bool],
        "zca_eps": Interval(float, 0, None, closed="left"),
        "kmeans_iter": Interval(int, 0, None, closed="left"),
        "seed": Interval(int, 0, None, closed="left"),
    }

    def __init__(self, num_filters=100, patch_size=6, stride=1, filters="patches",
                 num_patches=100_000, normalize=True, contrast_eps=0.01, whiten=True,
                 zca_eps=0.1, kmeans_iter=10, seed=0):
        self.num_filters = num_filters
        self.patch_size = patch_size
        self.stride = stride
        self.filters = filters
        self.num_patches = num_patches
        self.normalize = normalize
        self.contrast_eps = contrast_eps
        self.whiten = whiten
        self.zca_eps = zca_eps
        self.kmeans_iter = kmeans_iter
        self.seed = seed

    def _fit(self, batches) -> "ConvolverModel":
        info = batches.map_collect(_batch_info)
        shapes = [s for n, s in info if n]
        if not shapes:
            raise ValueError("cannot fit Convolver on empty data (0 images)")
        if len(set(shapes)) > 1:
            raise mixed_sizes_error(shapes, "partitions hold images")
        shape = shapes[0]
        if len(shape) != 3:
            raise ValueError(f"Convolver expects images, got vectors of shape {shape}")
        k = int(self.patch_size)
        given = isinstance(self.filters, np.ndarray)
        if given:
            F = np.asarray(self.filters, dtype=np.float64)
            if F.ndim == 3:
                F = F[..., None]
            if F.ndim != 4 or F.shape[1] != F.shape[2] or F.shape[3] != shape[2]:
                raise ValueError(f"filters must be (num_filters, k, k, {shape[2]}), got "
                                 f"{self.filters.shape}")
            k = F.shape[1]
        if k > shape[0] or k > shape[1]:
            raise ValueError(f"patch_size {k} is larger than the images {shape}")
        d = k * k * shape[2]
        mean = W = None
        need_patches = self.whiten or not given
        if need_patches:
            sampler = RandomPatches(int(self.num_patches), k, bool(self.normalize),
                                    float(self.contrast_eps), int(self.seed))
            P = sampler.sample(batches).astype(np.float64)
            if self.whiten:
                n, s, sxx = _moments(P)
                mean, W = _zca_from_moments(n[0], s, sxx, float(self.zca_eps))
        rng = np.random.default_rng([int(self.seed), 1])
        nf = int(self.num_filters)
        if given:
            D = F.reshape(len(F), d)
        elif self.filters == "random":
            D = _unit_rows(rng.standard_normal((nf, d)))
        else:
            Pw = P if W is None else (P - mean) @ W
            if self.filters == "kmeans":
                D = spherical_kmeans(Pw, nf, int(self.kmeans_iter), rng)
            else:
                if self.normalize:
                    # contrast-normalized patches have var/(var + eps) of unit variance:
                    # skip nearly flat ones (e.g. MNIST background)
                    ok = np.flatnonzero(P.var(axis=1) > 0.1)
                else:
                    ok = np.flatnonzero(P.std(axis=1) > 1e-6)
                pool = ok if len(ok) >= nf else np.arange(len(P))
                if len(pool) < nf:
                    raise ValueError(f"only {len(P)} patches were sampled for {nf} filters: "
                                     "raise num_patches")
                D = _unit_rows(Pw[rng.choice(pool, nf, replace=False)])
        return ConvolverModel(filters=D.reshape(len(D), k, k, shape[2]), stride=int(self.stride),
                              contrast_eps=float(self.contrast_eps) if self.normalize else None,
                              zca_mean=mean, zca_matrix=W, input_shape=tuple(shape))


class ConvolverModel(ImageTransformer):
    """Convolution with a filter bank (valid positions, ``stride``), after per-patch
    contrast normalization (``contrast_eps``; None: none) and ZCA whitening
    (``zca_mean``/``zca_matrix``; None: none). Output ``(n, oh, ow, num_filters)``.

    The response at a position is ``((norm(p) - zca_mean) @ zca_matrix) . filter``, computed
    as ``norm(p) @ M + b`` with ``M = zca_matrix @ filters.T`` (im2col + one BLAS product).
    """

    _registry_name = "mli.featurize.image.ConvolverModel"  # the key saved pipelines name it by

    def __init__(self, filters=None, stride=1, contrast_eps=0.01, zca_mean=None,
                 zca_matrix=None, input_shape=None):
        self.filters = filters
        self.stride = stride
        self.contrast_eps = contrast_eps
        self.zca_mean = zca_mean
        self.zca_matrix = zca_matrix
        self.input_shape = input_shape

    @property
    def patch_size(self) -> int:
        return int(np.shape(self.filters)[1])

    @property
    def num_filters(self) -> int:
        return int(np.shape(self.filters)[0])

    def _expected_shape(self):
        return None if self.input_shape is None else tuple(int(s) for s in self.input_shape)

    def _check_input_shape(self, shape) -> None:
        super()._check_input_shape(shape)
        f = np.shape(self.filters)
        if shape[2] != f[3]:
            raise ValueError(f"images have {shape[2]} channels, but the ConvolverModel's "
                             f"filters have {f[3]}")
        if f[1] > shape[0] or f[2] > shape[1]:
            raise ValueError(f"filters of size {f[1]}x{f[2]} do not fit in images of shape "
                             f"{tuple(shape)}")

    def _out_shape(self, shape):
        k, s = self.patch_size, int(self.stride)
        return (kernels.output_size(shape[0], k, s), kernels.output_size(shape[1], k, s),
                self.num_filters)

    def _work_values(self, shape) -> int:
        oh, ow, _ = self._out_shape(shape)
        return oh * ow * self.patch_size * self.patch_size * shape[2]

    def _weights(self):
        w = self.__dict__.get("_cache_w")
        if w is None:
            F = np.asarray(self.filters, dtype=np.float64)
            D = F.reshape(len(F), -1)
            if self.zca_matrix is not None:
                M = np.asarray(self.zca_matrix, dtype=np.float64) @ D.T
            else:
                M = D.T
            b = (-np.asarray(self.zca_mean, dtype=np.float64) @ M if self.zca_mean is not None
                 else np.zeros(M.shape[1]))
            w = (np.ascontiguousarray(M, dtype=np.float32), b.astype(np.float32))
            self.__dict__["_cache_w"] = w
        return w

    def _apply(self, x):
        M, b = self._weights()
        k, s = self.patch_size, int(self.stride)
        n = len(x)
        oh, ow, F = self._out_shape(x.shape[1:])
        eps = self.contrast_eps
        P = kernels.im2col(np.ascontiguousarray(x), k, s, eps is not None,
                           0.0 if eps is None else float(eps))
        z = P @ M
        z += b
        return z.reshape(n, oh, ow, F)


def coates_ng(num_filters=100, patch_size=6, *, alpha=0.25, grid=2, op="sum",
              filters="patches", scale=True, **convolver_params):
    """The Coates & Ng (2011) random-feature pipeline (without the final algorithm):
    ``Scale() | Convolver(...) | Rectify(alpha) | Pooler(grid)`` -- chain an Algorithm to it
    with ``|``. Output width ``grid**2 * 2 * num_filters``."""
    stages = [Scale()] if scale else []
    stages += [Convolver(num_filters=num_filters, patch_size=patch_size, filters=filters,
                         **convolver_params),
               Rectify(alpha=alpha), Pooler(grid=grid, op=op)]
    return Pipeline(stages)
