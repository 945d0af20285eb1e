"""Image stages: their bases and the simple ones (AsImages, Grayscale, Resize, Crop, Scale,
Flatten)."""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.linalg.localmatrix import LocalMatrix
from mli.core.params import Interval, Options
from mli.table.kinds import input_kind
from mli.pipeline import Transformer

from mli.featurize import image_kernels as kernels
from mli.pipeline.transform import transform_any
from mli.featurize.image.batches import ImageBatch, as_image_batch
from mli.featurize.image.readers import shape3


log = logging.getLogger(__name__)


# ============================================================================ stage bases


class ImageStage:
    """Mixin of the image stages: a chunk function on ``(n, H, W, C)`` float32 arrays."""

    #: shape-independent stages can be the first stage for flat input of inferred shape
    def _expected_shape(self):
        return getattr(self, "input_shape", None)

    def _check_input_shape(self, shape) -> None:
        expected = self._expected_shape()
        if expected is not None and tuple(shape) != tuple(expected):
            raise ValueError(f"images have shape {tuple(shape)}, but {type(self).__name__} was "
                             f"fitted on images of shape {tuple(expected)}")

    def _out_shape(self, shape):
        return tuple(shape)

    def _work_values(self, shape) -> int:
        """Float values per image this stage needs besides its input and output."""
        return 0

    def _apply(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_batch(self, batch: Any) -> Any:
        return as_image_batch(batch, self).then(self)


class ImageTransformer(ImageStage, Transformer):
    def transform(self, data: Any, *, keep: Sequence[str] | None = None) -> Any:
        """Apply to ``data`` and return the same kind (a table gets flat pixel rows)."""
        if input_kind(data) in ("mltable", "spark", "connect") \
                and not isinstance(self, VectorizingStage):
            self._validate()
            return transform_any([self, Flatten()], data, keep=keep)
        return super().transform(data, keep=keep)


class VectorizingStage(ImageTransformer):
    """Ends the lazy chain: evaluates it and returns ``(n, features)`` float32."""

    def _transform_batch(self, batch: Any) -> Any:
        return as_image_batch(batch, self).then(self).to_matrix()


# ============================================================================ simple stages


def _shape_param(shape) -> tuple[int, int, int]:
    try:
        return shape3(shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width) or (height, width, channels) with "
                         f"positive ints, got {shape!r}") from None


class AsImages(ImageTransformer):
    """Read rows of pixel values as images of ``shape`` (needed for flat input that is not
    a square gray or RGB image).

    Parameters
    ----------
    shape : (height, width) or (height, width, channels)
    """

    _registry_name = "mli.featurize.image.AsImages"  # the key saved pipelines name it by

    def __init__(self, shape=(28, 28)):
        self.shape = shape

    def _expected_shape(self):
        return _shape_param(self.shape)

    def _check_input_shape(self, shape) -> None:
        pass

    def _transform_batch(self, batch: Any) -> Any:
        shape = _shape_param(self.shape)
        if isinstance(batch, ImageBatch):
            if batch.shape != shape:
                raise ValueError(f"images have shape {batch.shape}, but AsImages expects "
                                 f"{shape}")
            return batch
        x = batch.array if isinstance(batch, LocalMatrix) else batch
        if isinstance(x, np.ndarray) and x.ndim == 2 or sp.issparse(x):
            return as_image_batch(x, self)
        b = as_image_batch(x, self)
        if b.input_shape != shape:
            raise ValueError(f"images have shape {b.input_shape}, but AsImages expects {shape}")
        return b

    def _apply(self, x):
        return x


class Grayscale(ImageTransformer):
    """RGB(A) -> one channel, ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601-2, as Pillow's
    ``convert("L")``); one-channel images pass unchanged."""

    _registry_name = "mli.featurize.image.Grayscale"  # the key saved pipelines name it by

    def __init__(self):
        pass

    def _out_shape(self, shape):
        return (shape[0], shape[1], 1)

    def _check_input_shape(self, shape) -> None:
        if shape[2] not in (1, 3, 4):
            raise ValueError(f"Grayscale expects 1, 3 (RGB) or 4 (RGBA) channels, got images "
                             f"of shape {tuple(shape)}")

    def _apply(self, x):
        return x if x.shape[3] == 1 else kernels.grayscale(x)

    def _transform_batch(self, batch: Any) -> Any:
        out = as_image_batch(batch, self).then(self)
        if out.layout == "stack":
            out.layout = "gray"  # a gray stack comes back as (n, h, w)
        return out


class Resize(ImageTransformer):
    """Bilinear resize to ``height x width`` (pixel centers aligned, edges clamped).

    Also takes a *list* of images of different sizes (the one stage that does): put it first
    to accept mixed sizes.
    """

    _registry_name = "mli.featurize.image.Resize"  # the key saved pipelines name it by

    _constraints = {"height": Interval(int, 1, None, closed="left"),
                    "width": Interval(int, 1, None, closed="left")}

    def __init__(self, height=28, width=28):
        self.height = height
        self.width = width

    def _out_shape(self, shape):
        return (int(self.height), int(self.width), shape[2])

    def _apply(self, x):
        if x.shape[1:3] == (self.height, self.width):
            return x
        return kernels.resize_bilinear(x, int(self.height), int(self.width))

    def _transform_batch(self, batch: Any) -> Any:
        if isinstance(batch, (list, tuple)) and batch:
            arrays = [np.asarray(b) for b in batch]
            if len({a.shape for a in arrays}) > 1:
                nd = {a.ndim for a in arrays}
                if len(nd) > 1 or nd - {2, 3}:
                    raise ValueError("a list of images must all be (height, width) or all "
                                     "(height, width, channels)")
                chans = {1 if a.ndim == 2 else a.shape[2] for a in arrays}
                if len(chans) > 1:
                    raise ValueError(f"images with different numbers of channels {sorted(chans)}; "
                                     "convert them first (read_images(color='RGB'))")
                out = [kernels.resize_bilinear((a[..., None] if a.ndim == 2 else a)[None]
                                               .astype(np.float32), int(self.height),
                                               int(self.width))[0] for a in arrays]
                layout = "gray" if arrays[0].ndim == 2 else "stack"
                return ImageBatch(np.stack(out), layout)
        return super()._transform_batch(batch)


class Crop(ImageTransformer):
    """Cut a ``height x width`` window: centered, or at (``top``, ``left``)."""

    _registry_name = "mli.featurize.image.Crop"  # the key saved pipelines name it by

    _constraints = {"height": Interval(int, 1, None, closed="left"),
                    "width": Interval(int, 1, None, closed="left"),
                    "top": [None, Interval(int, 0, None, closed="left")],
                    "left": [None, Interval(int, 0, None, closed="left")]}

    def __init__(self, height=24, width=24, top=None, left=None):
        self.height = height
        self.width = width
        self.top = top
        self.left = left

    def _origin(self, shape):
        H, W = shape[0], shape[1]
        top = (H - self.height) // 2 if self.top is None else self.top
        left = (W - self.width) // 2 if self.left is None else self.left
        return top, left

    def _check_input_shape(self, shape) -> None:
        top, left = self._origin(shape)
        if top < 0 or left < 0 or top + self.height > shape[0] or left + self.width > shape[1]:
            raise ValueError(f"Crop({self.height}x{self.width} at top={top}, left={left}) does not "
                             f"fit in images of shape {tuple(shape)}")

    def _out_shape(self, shape):
        return (int(self.height), int(self.width), shape[2])

    def _apply(self, x):
        top, left = self._origin(x.shape[1:])
        return x[:, top:top + self.height, left:left + self.width]


class Scale(ImageTransformer):
    """Pixel scaling: ``"unit"`` divides by ``max_value`` (8-bit pixels to [0, 1]);
    ``"standardize"`` makes every image zero-mean and unit-variance (``(x - mean) /
    sqrt(var + eps)`` over all its pixels)."""

    _registry_name = "mli.featurize.image.Scale"  # the key saved pipelines name it by

    _constraints = {"method": Options({"unit", "standardize"}),
                    "max_value": Interval(float, 0, None, closed="neither"),
                    "eps": Interval(float, 0, None, closed="left")}

    def __init__(self, method="unit", max_value=255.0, eps=1e-8):
        self.method = method
        self.max_value = max_value
        self.eps = eps

    def _apply(self, x):
        if self.method == "unit":
            return x * np.float32(1.0 / self.max_value)
        flat = x.reshape(len(x), -1)
        mean = flat.mean(axis=1, keepdims=True)
        var = flat.var(axis=1, keepdims=True)
        return ((flat - mean) / np.sqrt(var + np.float32(self.eps))).reshape(x.shape)

    def _output_width(self, width):
        return width


class Flatten(VectorizingStage):
    """Images -> vectors ``(n, height * width * channels)`` (row-major, channels last)."""

    _registry_name = "mli.featurize.image.Flatten"  # the key saved pipelines name it by

    def __init__(self):
        pass

    def _apply(self, x):
        return x

    def _output_width(self, width):
        return width
