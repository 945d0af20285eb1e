"""Numeric kernels of the image featurizers: numba versions and plain-numpy references.

Every kernel works on a *chunk* of images stored channels-last, ``(n, height, width,
channels)``, and exists twice:

* ``<name>`` -- the fast version (numba, compiled with ``cache=True``; matrix products go
  to BLAS through numpy), used by the stages in :mod:`mli.featurize.image`;
* ``<name>_ref`` -- a direct numpy transcription of the definition, used by the tests (the
  two must agree) and by ``bench/bench_image.py`` as the "plain numpy" baseline.

Conventions
-----------
* A ``k x k`` patch of a ``C``-channel image is flattened in ``(dy, dx, channel)`` order,
  so a filter row reshapes to ``(k, k, C)``.
* Patch normalization (Coates & Ng 2011, "brightness and contrast"): subtract the patch
  mean, divide by ``sqrt(var + eps)`` (population variance of the patch's ``k*k*C`` values).
* Pooling regions are given per axis as half-open index ranges ``[start, end)`` (they may
  overlap); a region grid is their outer product.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "output_size", "grid_edges", "window_edges",
    "im2col", "im2col_ref",
    "rectify", "rectify_ref",
    "pool", "pool_ref",
    "rectify_pool", "rectify_pool_ref",
    "resize_bilinear", "resize_bilinear_ref",
    "grayscale", "grayscale_ref",
    "sample_patches", "sample_patches_at",
    "LUMA",
]

#: ITU-R 601-2 luma weights (what Pillow's ``convert("L")`` uses)
LUMA = np.array([0.299, 0.587, 0.114])


# ============================================================================ geometry


def output_size(size: int, k: int, stride: int) -> int:
    """Number of valid positions of a ``k``-wide window moved by ``stride`` over ``size``."""
    if k > size:
        return 0
    return (size - k) // stride + 1


def grid_edges(size: int, parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(size)`` into ``parts`` contiguous, nearly equal regions (Coates & Ng's
    quadrants for ``parts=2``): ``(starts, ends)``."""
    if parts < 1 or parts > size:
        raise ValueError(f"cannot split {size} positions into {parts} pooling regions")
    cuts = np.floor(np.arange(parts + 1) * size / parts + 0.5).astype(np.int64)
    cuts[-1] = size
    return cuts[:-1].copy(), cuts[1:].copy()


def window_edges(size: int, pool: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Regions of width ``pool`` every ``stride`` positions (the last one clipped to fit)."""
    if pool < 1 or stride < 1:
        raise ValueError(f"pool size and stride must be >= 1, got {pool} and {stride}")
    starts = np.arange(0, max(size - pool, 0) + 1, stride, dtype=np.int64)
    if len(starts) == 0:
        starts = np.zeros(1, dtype=np.int64)
    ends = np.minimum(starts + pool, size).astype(np.int64)
    return starts, ends


# ============================================================================ im2col


@njit(cache=True, nogil=True)
def _im2col_nb(x, k, stride, normalize, eps, out):
    n, H, W, C = x.shape
    oh = (H - k) // stride + 1
    ow = (W - k) // stride + 1
    kc = k * C
    d = k * kc
    xf = x.reshape(n, H, W * C)
    row = 0
    for i in range(n):
        for r in range(oh):
            r0 = r * stride
            for c in range(ow):
                base = c * stride * C
                dst = out[row]
                s = 0.0
                ss = 0.0
                for dy in range(k):
                    src = xf[i, r0 + dy]
                    o = dy * kc
                    for j in range(kc):
                        v = src[base + j]
                        dst[o + j] = v
                        s += v
                        ss += v * v
                if normalize:
                    mean = s / d
                    var = max(ss / d - mean * mean, 0.0)
                    inv = 1.0 / math.sqrt(var + eps)
                    m32 = dst.dtype.type(mean)
                    i32 = dst.dtype.type(inv)
                    for j in range(d):
                        dst[j] = (dst[j] - m32) * i32
                row += 1


def im2col(x: np.ndarray, k: int, stride: int = 1, normalize: bool = False,
           eps: float = 0.0, out: np.ndarray | None = None) -> np.ndarray:
    """All ``k x k`` patches of a chunk of images, one row per (image, row, col) position.

    Parameters
    ----------
    x : ndarray (n, H, W, C), float32 or float64
    normalize : bool
        Subtract each patch's mean and divide by ``sqrt(var + eps)``.

    Returns
    -------
    ndarray (n * oh * ow, k * k * C), x's dtype (rows in (image, row, col) order)
    """
    n, H, W, C = x.shape
    oh, ow = output_size(H, k, stride), output_size(W, k, stride)
    if out is None:
        out = np.empty((n * oh * ow, k * k * C), dtype=x.dtype)
    if n and oh and ow:
        _im2col_nb(np.ascontiguousarray(x), k, stride, bool(normalize), float(eps), out)
    return out


def im2col_ref(x: np.ndarray, k: int, stride: int = 1, normalize: bool = False,
               eps: float = 0.0) -> np.ndarray:
    """Plain numpy :func:`im2col` (sliding_window_view + copy)."""
    n, H, W, C = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    win = win[:, ::stride, ::stride]                       # (n, oh, ow, C, k, k)
    P = win.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * C).astype(x.dtype, copy=True)
    if normalize:
        P -= P.mean(axis=1, keepdims=True)
        P /= np.sqrt(P.var(axis=1, keepdims=True) + eps)
    return P


# ============================================================================ rectify / pool


def rectify(x: np.ndarray, alpha: float = 0.0, symmetric: bool = True) -> np.ndarray:
    """``max(0, x - alpha)`` and (symmetric) ``max(0, -x - alpha)``, concatenated along the
    last axis (the output has twice the channels)."""
    a = x.dtype.type(alpha)
    pos = np.subtract(x, a)
    np.maximum(pos, 0, out=pos)
    if not symmetric:
        return pos
    neg = np.negative(x)
    neg -= a
    np.maximum(neg, 0, out=neg)
    return np.concatenate([pos, neg], axis=-1)


rectify_ref = rectify  # elementwise numpy is already the plain implementation


@njit(cache=True, nogil=True)
def _pool_nb(x, rs, re, cs, ce, use_max, out):
    n, H, W, F = x.shape
    for i in range(n):
        for gr in range(rs.shape[0]):
            for gc in range(cs.shape[0]):
                for f in range(F):
                    out[i, gr, gc, f] = x[i, rs[gr], cs[gc], f]
                for r in range(rs[gr], re[gr]):
                    for c in range(cs[gc], ce[gc]):
                        if r == rs[gr] and c == cs[gc]:
                            continue
                        if use_max:
                            for f in range(F):
                                out[i, gr, gc, f] = max(out[i, gr, gc, f], x[i, r, c, f])
                        else:
                            for f in range(F):
                                out[i, gr, gc, f] += x[i, r, c, f]


def _check_edges(rs, re, cs, ce, H, W):
    rs, re, cs, ce = (np.ascontiguousarray(a, dtype=np.int64) for a in (rs, re, cs, ce))
    for s, e, size, axis in ((rs, re, H, "row"), (cs, ce, W, "column")):
        if len(s) != len(e) or len(s) == 0 or (s < 0).any() or (e > size).any() \
                or (e <= s).any():
            raise ValueError(f"invalid {axis} pooling regions starts={s.tolist()} "
                             f"ends={e.tolist()} for size {size}")
    return rs, re, cs, ce


def pool(x: np.ndarray, rs, re, cs, ce, op: str = "sum") -> np.ndarray:
    """Pool ``x (n, H, W, F)`` over the regions ``[rs, re) x [cs, ce)`` -> ``(n, R, G, F)``."""
    n, H, W, F = x.shape
    rs, re, cs, ce = _check_edges(rs, re, cs, ce, H, W)
    out = np.empty((n, len(rs), len(cs), F), dtype=x.dtype)
    _pool_nb(np.ascontiguousarray(x), rs, re, cs, ce, op == "max", out)
    return out


def pool_ref(x: np.ndarray, rs, re, cs, ce, op: str = "sum") -> np.ndarray:
    """Plain numpy :func:`pool` (a slice reduction per region)."""
    red = np.max if op == "max" else np.sum
    out = np.empty((x.shape[0], len(rs), len(cs), x.shape[3]), dtype=x.dtype)
    for a, (r0, r1) in enumerate(zip(rs, re)):
        for b, (c0, c1) in enumerate(zip(cs, ce)):
            out[:, a, b] = red(x[:, r0:r1, c0:c1], axis=(1, 2))
    return out


@njit(cache=True, nogil=True)
def _rectify_pool_nb(x, alpha, symmetric, rs, re, cs, ce, use_max, out):
    n, H, W, F = x.shape
    for i in range(n):
        for gr in range(rs.shape[0]):
            for gc in range(cs.shape[0]):
                for f in range(out.shape[3]):
                    out[i, gr, gc, f] = 0.0  # rectified values are >= 0: 0 also starts a max
                for r in range(rs[gr], re[gr]):
                    for c in range(cs[gc], ce[gc]):
                        if use_max:
                            for f in range(F):
                                out[i, gr, gc, f] = max(out[i, gr, gc, f], x[i, r, c, f] - alpha)
                            if symmetric:
                                for f in range(F):
                                    out[i, gr, gc, F + f] = max(out[i, gr, gc, F + f],
                                                                -x[i, r, c, f] - alpha)
                        else:
                            for f in range(F):
                                out[i, gr, gc, f] += max(x[i, r, c, f] - alpha, 0.0)
                            if symmetric:
                                for f in range(F):
                                    out[i, gr, gc, F + f] += max(-x[i, r, c, f] - alpha, 0.0)


def rectify_pool(x: np.ndarray, alpha: float, symmetric: bool, rs, re, cs, ce,
                 op: str = "sum") -> np.ndarray:
    """:func:`rectify` then :func:`pool` in one pass, without the rectified temporary."""
    n, H, W, F = x.shape
    rs, re, cs, ce = _check_edges(rs, re, cs, ce, H, W)
    out = np.empty((n, len(rs), len(cs), F * (2 if symmetric else 1)), dtype=x.dtype)
    _rectify_pool_nb(np.ascontiguousarray(x), x.dtype.type(alpha), bool(symmetric),
                     rs, re, cs, ce, op == "max", out)
    return out


def rectify_pool_ref(x, alpha, symmetric, rs, re, cs, ce, op="sum"):
    return pool_ref(rectify_ref(x, alpha, symmetric), rs, re, cs, ce, op)


# ============================================================================ resize / grayscale


@njit(cache=True, nogil=True, inline="always")
def _source_coord(i, scale, size):
    """Output pixel ``i`` -> the two source pixels around its center and the weight of the
    second (pixel-center alignment, clamped at the edges)."""
    f = (i + 0.5) * scale - 0.5
    if f < 0.0:
        f = 0.0
    i0 = int(math.floor(f))
    if i0 > size - 1:
        i0 = size - 1
    i1 = i0 + 1 if i0 < size - 1 else i0
    return i0, i1, f - i0


@njit(cache=True, nogil=True)
def _resize_nb(x, out):
    # bilinear with pixel-center alignment (align_corners=False), edges clamped
    n, H, W, C = x.shape
    _, h, w, _ = out.shape
    sy = H / h
    sx = W / w
    for r in range(h):
        y0, y1, wy = _source_coord(r, sy, H)
        for c in range(w):
            x0, x1, wx = _source_coord(c, sx, W)
            w00 = (1 - wy) * (1 - wx)
            w01 = (1 - wy) * wx
            w10 = wy * (1 - wx)
            w11 = wy * wx
            for i in range(n):
                for ch in range(C):
                    out[i, r, c, ch] = (w00 * x[i, y0, x0, ch] + w01 * x[i, y0, x1, ch]
                                        + w10 * x[i, y1, x0, ch] + w11 * x[i, y1, x1, ch])


def resize_bilinear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``x (n, H, W, C)`` (float) to ``(n, height, width, C)``."""
    n, H, W, C = x.shape
    out = np.empty((n, height, width, C), dtype=x.dtype)
    _resize_nb(np.ascontiguousarray(x), out)
    return out


def _lin_weights(size_in, size_out):
    f = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    f = np.clip(f, 0.0, None)
    i0 = np.minimum(np.floor(f).astype(np.int64), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    return i0, i1, f - i0


def resize_bilinear_ref(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Plain numpy :func:`resize_bilinear` (separable gathers)."""
    y0, y1, wy = _lin_weights(x.shape[1], height)
    x0, x1, wx = _lin_weights(x.shape[2], width)
    wy = wy.reshape(1, -1, 1, 1).astype(x.dtype)
    wx = wx.reshape(1, 1, -1, 1).astype(x.dtype)
    rows = x[:, y0] * (1 - wy) + x[:, y1] * wy
    return rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx


def grayscale(x: np.ndarray) -> np.ndarray:
    """Luma of RGB(A) images ``(n, H, W, 3|4)`` -> ``(n, H, W, 1)`` (alpha ignored)."""
    w = LUMA.astype(x.dtype if x.dtype.kind == "f" else np.float32)
    return (x[..., :3] @ w)[..., None]


def grayscale_ref(x: np.ndarray) -> np.ndarray:
    return (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])[..., None]


# ============================================================================ random patches


def sample_patches(x: np.ndarray, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random ``k x k`` patches (uniform image and position), ``(count, k*k*C)``."""
    n = x.shape[0]
    if count <= 0 or n == 0:
        return np.zeros((0, k * k * x.shape[3]), dtype=x.dtype)
    return sample_patches_at(x, k, rng.integers(0, n, count), rng)


def sample_patches_at(x: np.ndarray, k: int, img: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """One ``k x k`` patch at a uniform random position of each image ``x[img[i]]``."""
    n, H, W, C = x.shape
    count = len(img)
    r = rng.integers(0, H - k + 1, count)
    c = rng.integers(0, W - k + 1, count)
    dy, dx = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    rows = r[:, None] + dy.ravel()[None, :]                 # (count, k*k)
    cols = c[:, None] + dx.ravel()[None, :]
    return x[np.asarray(img)[:, None], rows, cols].reshape(count, k * k * C)
