"""The lazy image batch: a partition's source images plus the stages still to apply,
evaluated chunk by chunk when vectors are produced or the user gets the result."""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.linalg.localmatrix import LocalMatrix



log = logging.getLogger(__name__)

#: per-chunk working set of the lazy image evaluation, in float32 values (~4 MB, cache-sized)
CHUNK_VALUES = 1 << 20


# ============================================================================ lazy image batches


def infer_shape(width: int) -> tuple[int, int, int] | None:
    """(s, s, 1) or (s, s, 3) for a flat row of ``width`` pixel values, else None."""
    s = math.isqrt(width)
    if s * s == width and s > 0:
        return (s, s, 1)
    if width % 3 == 0:
        s = math.isqrt(width // 3)
        if s * s * 3 == width and s > 0:
            return (s, s, 3)
    return None


def mixed_sizes_error(shapes: Sequence[tuple], what: str = "images") -> ValueError:
    first = shapes[0]
    j = next(j for j, s in enumerate(shapes) if s != first)
    return ValueError(f"{what} of mixed sizes: image 0 has shape {first} but image {j} has "
                      f"shape {shapes[j]}; add Resize(height, width) as the first stage (or "
                      "read them with read_images(..., size=(h, w)))")


class ImageBatch:
    """One partition's images with the image stages still to apply (evaluated lazily).

    Attributes
    ----------
    source : ndarray (n, H, W, C)
        The input images (any numeric dtype; converted to float32 chunk by chunk).
    layout : {"flat", "gray", "stack"}
        How the input was given -- rows of pixels, ``(n, H, W)`` or ``(n, H, W, C)`` -- and
        hence how :meth:`to_local` returns images.
    ops : tuple of image stages
    """

    def __init__(self, source: np.ndarray, layout: str, ops: tuple = ()):
        self.source = source
        self.layout = layout
        self.ops = tuple(ops)

    def __len__(self) -> int:
        return int(self.source.shape[0])

    def __repr__(self) -> str:
        return (f"ImageBatch({len(self)} images {tuple(self.source.shape[1:])} -> "
                f"{self.shape}, {len(self.ops)} pending stages)")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.source.shape[1:])

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one image after the pending stages."""
        s = self.input_shape
        for op in self.ops:
            s = op._out_shape(s)
        return s

    def then(self, op) -> "ImageBatch":
        op._check_input_shape(self.shape)
        return ImageBatch(self.source, self.layout, self.ops + (op,))

    def take(self, idx) -> "ImageBatch":
        return ImageBatch(self.source[idx], self.layout, self.ops)

    # -------------------------------------------------------------- evaluation
    def _chunk_rows(self) -> int:
        s = self.input_shape
        work = max(int(np.prod(s)), 1)
        for op in self.ops:
            work = max(work, op._work_values(s))
            s = op._out_shape(s)
            work = max(work, int(np.prod(s)))
        return max(1, min(len(self), CHUNK_VALUES // work))

    def chunks(self):
        """Yield ``(start, evaluated float32 chunk)`` pairs."""
        n = len(self)
        step = self._chunk_rows()
        for start in range(0, n, step):
            x = self.source[start:start + step]
            x = x.astype(np.float32) if x.dtype != np.float32 else x
            yield start, _run_ops(x, self.ops)

    def evaluate(self) -> np.ndarray:
        """All images through the pending stages: ``(n,) + shape`` float32."""
        n = len(self)
        if not self.ops:
            x = self.source
            return x if x.dtype == np.float32 else x.astype(np.float32)
        out = np.empty((n,) + tuple(self.shape), dtype=np.float32)
        for start, x in self.chunks():
            out[start:start + len(x)] = x
        return out

    def to_matrix(self) -> np.ndarray:
        """``(n, features)``: every image flattened (row-major, channels last)."""
        x = self.evaluate()
        return x.reshape(len(x), -1)

    def to_local(self) -> np.ndarray:
        """The result in the input's layout (what ``transform`` returns)."""
        x = self.evaluate()
        if self.layout == "flat" or x.ndim == 2:
            return x.reshape(len(x), -1)
        if self.layout == "gray" and x.ndim == 4 and x.shape[3] == 1:
            return x[..., 0]
        return x

    def to_rows(self) -> list:
        return list(self.to_local())


def _run_ops(x: np.ndarray, ops) -> np.ndarray:
    i = 0
    while i < len(ops):
        op = ops[i]
        # a rectification followed by pooling: one fused pass (coates_ng's Rectify, Pooler)
        if getattr(op, "_rectifies", False) and i + 1 < len(ops) \
                and getattr(ops[i + 1], "_pools", False):
            x = ops[i + 1]._pool(x, rectify=op)
            i += 2
            continue
        x = op._apply(x)
        i += 1
    return x


def as_image_batch(batch: Any, stage: Any = None) -> ImageBatch:
    """Normalize a stage's input (see the module docstring) into an :class:`ImageBatch`."""
    if isinstance(batch, ImageBatch):
        return batch
    if isinstance(batch, LocalMatrix):
        batch = batch.array
    if sp.issparse(batch):
        batch = batch.toarray()
    if isinstance(batch, (list, tuple)):
        if not batch:
            return ImageBatch(np.zeros((0, 1, 1, 1), dtype=np.float32), "stack")
        arrays = [np.asarray(b) for b in batch]
        shapes = [a.shape for a in arrays]
        if len(set(shapes)) > 1:
            raise mixed_sizes_error(shapes)
        batch = np.stack(arrays)  # a list of flat rows stacks to 2-D: flat input
    x = np.asarray(batch)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"images must be numeric, got an array of dtype {x.dtype}")
    name = type(stage).__name__ if stage is not None else "the stage"
    if x.ndim == 2:
        n, width = x.shape
        expected = stage._expected_shape() if stage is not None else None
        if expected is not None:
            size = int(np.prod(expected))
            if width != size:
                raise ValueError(f"X has {width} features (pixel values), but {name} was "
                                 f"fitted on images of shape {tuple(expected)} ({size} pixel "
                                 "values)")
            shape = tuple(expected)
        else:
            shape = infer_shape(width)
            if shape is None:
                raise ValueError(f"{name} cannot tell the image shape of rows of {width} pixel "
                                 "values (not a square gray or RGB image): start the pipeline "
                                 "with AsImages((height, width, channels))")
        return ImageBatch(x.reshape((n,) + shape), "flat")
    if x.ndim == 3:
        return ImageBatch(x[..., None], "gray")
    if x.ndim == 4:
        return ImageBatch(x, "stack")
    raise ValueError(f"{name} expects images (n, height, width[, channels]) or rows of pixels "
                     f"(n, height * width * channels); got an array of shape {x.shape}")
