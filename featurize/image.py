"""Image featurizers: readers, image stages and the random-feature pipeline of Coates & Ng.

Images are stacks ``(n, height, width)`` (one channel) or ``(n, height, width, channels)``
(channels last), any numeric dtype (8-bit files give uint8). In an :class:`~mli.MLTable`
an image is one row of ``height * width * channels`` pixel columns named
``px_<row>_<col>_<channel>`` (row-major), next to a ``label`` column.

Readers
-------
:func:`read_mnist` (IDX files, gzip or not), :func:`read_images` (a folder of PNG/JPEG/...
files, labels from sub-folder names; Pillow, or Spark's image data source without any extra
package), :func:`images_to_table` / :meth:`ImageSet.to_table`.

Stages (``mli.pipeline`` Transformers/Estimators, chained with ``|``)
----------------------------------------------------------------------
=====================  =================================================================
``AsImages(shape)``    read flat pixel rows (tables, 2-D matrices) as images of ``shape``
``Grayscale()``        ITU-R 601-2 luma, one channel
``Resize(h, w)``       bilinear; also takes a list of images of mixed sizes
``Crop(h, w)``         centered, or at ``top``/``left``
``Scale()``            pixels to [0, 1] (``/ max_value``), or per-image standardization
``Convolver(...)``     Estimator: random patches -> contrast normalization -> ZCA whitening
                       -> filters (random whitened patches, random Gaussian, or spherical
                       k-means) -> a :class:`ConvolverModel` applying them at every position
``Rectify(alpha)``     ``max(0, x - alpha)`` and ``max(0, -x - alpha)`` (symmetric)
``Pooler(grid=2)``     spatial sum (or max) pooling over a grid of regions -> a vector
``Flatten()``          images -> vectors (e.g. raw pixels for a linear model)
``ZCAWhitener(eps)``   Estimator on vectors: ZCA whitening (:class:`ZCAWhitenerModel`)
=====================  =================================================================

:class:`RandomPatches` samples the patches the Convolver learns from (usable alone).

The Coates & Ng (2011) pipeline, as used for the large image experiments::

    from mli.featurize.image import Scale, Convolver, Rectify, Pooler, read_mnist
    from mli.algorithms import LogisticRegression

    pipe = (Scale() | Convolver(num_filters=100, patch_size=6) | Rectify(alpha=0.25)
            | Pooler(grid=2) | LogisticRegression(reg=1e-4))
    model = pipe.fit(train.images, train.labels)        # or pipe.fit(table, label="label")
    model.predict(test.images)

Execution
---------
Image stages are *lazy within a partition*: each returns an :class:`ImageBatch` (the source
images plus the stages still to apply), and the batch is evaluated chunk by chunk (a few
dozen images at a time, sized to stay in cache) when a stage produces vectors
(:class:`Pooler`, :class:`Flatten`), when an Estimator samples it, or when the user gets the
result. The convolution's wide intermediate (``n x 23 x 23 x filters`` for MNIST) never
exists for a whole partition, and a rectification followed by pooling runs as one fused
numba pass. The convolution itself is im2col (numba) + one float32 matrix product (BLAS).

``transform`` returns the kind it was given: a numpy stack gives numpy (``(n, h, w)`` for one
channel when the input had no channel axis), a 2-D pixel matrix gives a 2-D matrix, an
MLTable gives an MLTable; stages producing vectors return ``(n, features)``.
"""
from __future__ import annotations

import logging
import math
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from mli.linalg.localmatrix import LocalMatrix
from mli.core.params import Interval, Options
from mli.table.kinds import input_kind
from mli.pipeline import Batches, Estimator, Pipeline, Transformer

from mli.featurize import image_kernels as kernels
from mli.featurize.idx import read_idx, write_idx
from mli.table.mltable import MLTable
from mli.engine.context import get_context
from mli.pipeline.transform import transform_any

__all__ = [
    # readers
    "ImageSet", "read_mnist", "read_images", "read_idx", "write_idx", "images_to_table",
    "table_to_images", "pixel_columns", "image_shape_of_columns",
    # stages
    "ImageBatch", "AsImages", "Grayscale", "Resize", "Crop", "Scale", "Flatten",
    "RandomPatches", "ZCAWhitener", "ZCAWhitenerModel", "Convolver", "ConvolverModel",
    "Rectify", "Pooler", "coates_ng",
]

log = logging.getLogger("mli.featurize.image")

#: per-chunk working set of the lazy image evaluation, in float32 values (~4 MB, cache-sized)
CHUNK_VALUES = 1 << 20

# ============================================================================ image stacks


PIXEL_PREFIX = "px"
_PIXEL_RE = re.compile(r"^px_(\d+)_(\d+)_(\d+)$")


def pixel_columns(shape: Sequence[int]) -> list[str]:
    """Column names of a flattened ``(height, width, channels)`` image: ``px_<row>_<col>_<ch>``
    in row-major (row, column, channel) order -- the naming image stages read shapes from."""
    h, w, c = _shape3(shape)
    r, q, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return [f"px_{a}_{b}_{d}" for a, b, d in zip(r.ravel().tolist(), q.ravel().tolist(),
                                                   ch.ravel().tolist())]


def _shape3(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"an image shape is (height, width) or (height, width, channels) "
                         f"with positive sizes, got {shape}")
    return shape


def image_shape_of_columns(columns: Sequence[str]) -> tuple[tuple[int, int, int], list[int],
                                                            list[int]]:
    """``(shape, pixel column positions, other column positions)`` of a table whose image
    columns follow :func:`pixel_columns`. Raises ValueError when there are none or they do
    not form a complete row-major image."""
    pix = [(j, _PIXEL_RE.match(c)) for j, c in enumerate(columns)]
    idx = [j for j, m in pix if m]
    if not idx:
        raise ValueError(f"the table has no image columns (named px_<row>_<col>_<channel>, as "
                         f"written by images_to_table/read_images); columns are "
                         f"{list(columns)[:8]}{' ...' if len(columns) > 8 else ''}")
    last = pix[idx[-1]][1]
    shape = tuple(int(last.group(k)) + 1 for k in (1, 2, 3))
    expected = pixel_columns(shape)
    got = [columns[j] for j in idx]
    if got != expected:
        raise ValueError(f"the image columns do not form a complete {shape} image in row-major "
                         f"order ({len(got)} px_ columns, expected {len(expected)})")
    others = [j for j, m in pix if not m]
    return shape, idx, others


def as_image_stack(images, dtype=None) -> tuple[np.ndarray, bool]:
    """``(n, H, W, C)`` view of an image stack given as ``(n, H, W)`` or ``(n, H, W, C)``;
    the flag says whether the input had no channel axis."""
    if isinstance(images, (list, tuple)):
        shapes = {np.shape(im) for im in images}
        if len(shapes) > 1:
            shown = sorted(shapes)[:2]
            raise ValueError(f"images of mixed sizes {shown[0]} and {shown[1]}: resize them first "
                             "(read_images(..., size=(h, w)) or on_mixed_sizes='resize')")
        images = np.stack([np.asarray(im) for im in images]) if images else np.zeros((0, 0, 0))
    x = np.asarray(images)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"images must be numeric, got an array of dtype {x.dtype}")
    if x.ndim == 3:
        x, gray = x[..., None], True
    elif x.ndim == 4:
        gray = False
    else:
        raise ValueError(f"an image stack is (n, height, width) or (n, height, width, channels); "
                         f"got an array of shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    return x, gray


def images_to_table(images, labels=None, *, label: str = "label", ctx=None,
                    num_partitions: int | None = None, dtype=np.float32):
    """An MLTable of flattened images (columns :func:`pixel_columns`) plus a label column.

    Pixels are stored as ``dtype`` (float32 by default: exact for 8-bit images, half the
    memory of float64).
    """
    x, _ = as_image_stack(images)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    return MLTable.from_numpy(flat, labels, columns=pixel_columns(x.shape[1:]), label=label,
                              num_partitions=num_partitions, dtype=dtype, ctx=ctx)


def table_to_images(table, label: str | None = "label"):
    """``(images (n, H, W, C) float, labels or None)`` of a table with image columns."""
    shape, idx, others = image_shape_of_columns(table.columns)
    a = table.to_numpy()
    y = None
    if label is not None and label in table.columns:
        y = a[:, table.columns.index(label)]
    return a[:, idx].reshape((-1,) + shape), y


@dataclass
class ImageSet:
    """Images read from files: a stack plus labels.

    Attributes
    ----------
    images : ndarray
        ``(n, H, W)`` for one channel, else ``(n, H, W, C)``; uint8 for 8-bit files.
    labels : ndarray of int64 or None
        Class codes (index into ``classes``), or the labels of an IDX label file.
    classes : tuple of str or None
        Sub-folder names, sorted; ``labels`` index into it.
    paths : tuple of str
        Source file of every image (IDX: the images file).
    skipped : tuple of str
        Corrupt files that were skipped (``on_corrupt="skip"``).
    resized : int
        How many images were resized to the common size.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    classes: tuple | None = None
    paths: tuple = ()
    skipped: tuple = ()
    resized: int = 0

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one image."""
        return tuple(self.images.shape[1:])

    def to_table(self, *, label: str = "label", ctx=None, num_partitions: int | None = None,
                 dtype=np.float32):
        """The images as an MLTable (:func:`images_to_table`)."""
        return images_to_table(self.images, self.labels, label=label, ctx=ctx,
                               num_partitions=num_partitions, dtype=dtype)

    def split(self, n_train: int, n_test: int | None = None, seed: int = 0):
        """A seeded random ``(train, test)`` split of ``n_train`` and ``n_test`` images."""
        n = len(self)
        n_test = n - n_train if n_test is None else n_test
        if n_train < 0 or n_test < 0 or n_train + n_test > n:
            raise ValueError(f"cannot split {n} images into {n_train} + {n_test}")
        perm = np.random.default_rng(seed).permutation(n)
        return self[perm[:n_train]], self[perm[n_train:n_train + n_test]]

    def __getitem__(self, idx) -> "ImageSet":
        paths = tuple(np.asarray(self.paths, dtype=object)[idx]) \
            if len(self.paths) == len(self) else self.paths
        return ImageSet(self.images[idx], None if self.labels is None else self.labels[idx],
                        self.classes, paths, self.skipped, self.resized)


# ============================================================================ IDX (MNIST)


def read_mnist(path, labels=None) -> ImageSet:
    """MNIST-style IDX files -> :class:`ImageSet` (images ``(n, 28, 28)`` uint8, labels).

    Parameters
    ----------
    path : str or path-like
        An images IDX file (gzip or plain), or a directory holding exactly one
        ``*images*idx3*`` file and optionally one ``*labels*idx1*`` file.
    labels : str or path-like, optional
        The labels IDX file (when ``path`` is a file).

    Examples
    --------
    >>> from mli.featurize.image import read_mnist                    # doctest: +SKIP
    >>> data = read_mnist("../shared/data/mnist-t10k")
    >>> data.images.shape, data.labels[:5]
    ((10000, 28, 28), array([7, 2, 1, 0, 4]))
    """
    p = os.fspath(path)
    if os.path.isdir(p):
        names = sorted(os.listdir(p))
        imgs = [n for n in names if "idx3" in n]
        labs = [n for n in names if "idx1" in n]
        if len(imgs) != 1:
            raise ValueError(f"{p}: expected one *idx3* images file, found {imgs or 'none'}")
        if labels is None and len(labs) == 1:
            labels = os.path.join(p, labs[0])
        p = os.path.join(p, imgs[0])
    images = read_idx(p)
    if images.ndim not in (3, 4):
        raise ValueError(f"{p}: an images IDX file has 3 dimensions (n, rows, cols), got "
                         f"shape {images.shape}")
    y = None
    if labels is not None:
        y = read_idx(labels)
        if y.ndim != 1 or len(y) != len(images):
            raise ValueError(f"{os.fspath(labels)}: {y.shape} labels for {len(images)} images")
        y = y.astype(np.int64)
    return ImageSet(images, y, None, (p,))


# ============================================================================ image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".ppm", ".pgm")


def _have_pillow() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _list_folder(root: str, extensions) -> tuple[list[str], list[str] | None, list[str] | None]:
    """Image files under ``root`` with their class (top-level sub-folder) names."""
    exts = tuple(e.lower() for e in extensions)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist or is not a directory")
    subdirs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
                     and not d.startswith("."))
    files, labels = [], []
    for d in subdirs:
        for dirpath, dirnames, names in os.walk(os.path.join(root, d)):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
            for name in sorted(names):
                if name.lower().endswith(exts) and not name.startswith("."):
                    files.append(os.path.join(dirpath, name))
                    labels.append(d)
    if files:
        loose = [n for n in os.listdir(root) if n.lower().endswith(exts)]
        if loose:
            log.warning("%s: %d image file(s) directly in the root folder are ignored (classes "
                        "come from sub-folders)", root, len(loose))
        classes = sorted(set(labels))
        return files, labels, classes
    files = [os.path.join(root, n) for n in sorted(os.listdir(root))
             if n.lower().endswith(exts) and not n.startswith(".")]
    return files, None, None


def _check_choice(name, value, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")


def _decode_pillow(path: str):
    """An image file -> uint8 array (H, W) or (H, W, C), or an exception."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode not in ("L", "RGB", "RGBA"):
            if mode in ("1", "I", "I;16", "I;16B", "I;16L", "F"):
                im = im.convert("L")
            elif "A" in mode or mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            else:
                im = im.convert("RGB")
        return np.asarray(im)


def _spark_rows_to_arrays(rows):
    """Spark image-source rows (BGR bytes) -> [(origin, uint8 array or None)]."""
    out = []
    for r in rows:
        im = r.image if hasattr(r, "image") else r
        if im.height is None or im.height < 0 or im.nChannels is None or im.nChannels < 1 \
                or not im.data:
            out.append((im.origin, None))
            continue
        a = np.frombuffer(bytes(im.data), dtype=np.uint8).reshape(im.height, im.width,
                                                                    im.nChannels)
        if im.nChannels == 1:
            a = a[..., 0]
        elif im.nChannels >= 3:
            a = np.concatenate([a[..., 2::-1], a[..., 3:]], axis=-1)  # BGR(A) -> RGB(A)
        out.append((im.origin, a))
    return out


def _to_channels(a: np.ndarray, color: str | None, channels: int) -> np.ndarray:
    """Convert one decoded image (H, W) / (H, W, C) to ``color`` ('L', 'RGB') or to
    ``channels`` channels (gray replicated, alpha dropped)."""
    if color == "L":
        if a.ndim == 2:
            return a
        return np.clip(np.rint(kernels.grayscale(a[None].astype(np.float32))[0, ..., 0]),
                       0, 255).astype(np.uint8)
    want = 3 if color == "RGB" else channels
    if want == 1:
        return a if a.ndim == 2 else a[..., 0]
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, want, axis=2)
    if a.shape[2] > want:
        a = a[..., :want]
    return a


def _resize_uint8(a: np.ndarray, size) -> np.ndarray:
    x = a.astype(np.float32)
    x4 = x[None, ..., None] if x.ndim == 2 else x[None]
    out = kernels.resize_bilinear(x4, int(size[0]), int(size[1]))[0]
    if a.ndim == 2:
        out = out[..., 0]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def read_images(path, *, color: str | None = None, size: Sequence[int] | None = None,
                on_mixed_sizes: str = "error", on_corrupt: str = "skip",
                engine: str = "auto", extensions: Sequence[str] = IMAGE_EXTENSIONS,
                ctx=None) -> ImageSet:
    """Read a folder of image files (PNG, JPEG, ...); labels come from sub-folder names.

    Layout: ``path/<class>/**/<image>`` (labels are the sorted class names' indexes), or
    image files directly in ``path`` (no labels).

    Parameters
    ----------
    color : {None, "L", "RGB"}
        Convert every image to grayscale ("L", ITU-R 601-2 luma) or RGB. None keeps the
        files' channels when they all agree, else converts to the most channels found
        (gray replicated, alpha dropped).
    size : (height, width), optional
        Resize every image to this size (bilinear).
    on_mixed_sizes : {"error", "resize"}
        Without ``size``, images of different sizes raise ValueError naming two files and
        their sizes ("error"), or are resized to the most common size ("resize").
    on_corrupt : {"skip", "error"}
        Files that cannot be decoded are skipped and listed in ``ImageSet.skipped`` (with a
        warning giving their count), or raise ValueError naming the file.
    engine : {"auto", "pillow", "spark"}
        Decoder: Pillow (optional dependency ``pip install pillow``), or Spark's image data
        source (``spark.read.format("image")``, decoded by the JVM; needs no Python
        package). "auto" uses Pillow when it is installed.

    Returns
    -------
    ImageSet
        ``images`` as uint8 ``(n, H, W)`` (one channel) or ``(n, H, W, C)``.
    """
    _check_choice("on_mixed_sizes", on_mixed_sizes, ("error", "resize"))
    _check_choice("on_corrupt", on_corrupt, ("skip", "error"))
    _check_choice("color", color, (None, "L", "RGB"))
    _check_choice("engine", engine, ("auto", "pillow", "spark"))
    if size is not None:
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be (height, width) with positive values, got {size}")
    root = os.path.abspath(os.fspath(path))
    files, names, classes = _list_folder(root, extensions)
    if not files:
        raise ValueError(f"no image files ({', '.join(extensions)}) under {root}")
    if engine == "auto":
        engine = "pillow" if _have_pillow() else "spark"
    decoded: list = []
    if engine == "pillow":
        if not _have_pillow():
            raise ImportError("engine='pillow' needs Pillow (pip install pillow); "
                              "engine='spark' needs no extra package")
        for f in files:
            try:
                decoded.append(_decode_pillow(f))
            except Exception as exc:  # noqa: BLE001 - any decoder failure is a corrupt file
                decoded.append(exc)
    else:
        spark = get_context(ctx).spark
        df = (spark.read.format("image").option("dropInvalid", False)
              .option("recursiveFileLookup", "true").load(root))
        by_path = {}
        for origin, arr in _spark_rows_to_arrays(df.collect()):
            local = origin[len("file:"):] if origin.startswith("file:") else origin
            while local.startswith("//"):
                local = local[1:]
            by_path[os.path.normpath(_unquote(local))] = arr
        for f in files:
            arr = by_path.get(os.path.normpath(f))
            decoded.append(arr if arr is not None
                           else ValueError("the Spark image source could not decode it"))
    # corrupt files
    keep, skipped = [], []
    for i, (f, d) in enumerate(zip(files, decoded)):
        if isinstance(d, Exception):
            if on_corrupt == "error":
                raise ValueError(f"corrupt image file {f}: {d}") from None
            skipped.append(f)
        else:
            keep.append(i)
    if skipped:
        log.warning("skipped %d corrupt image file(s) under %s (first: %s)", len(skipped), root,
                    skipped[0])
    if not keep:
        raise ValueError(f"none of the {len(files)} image files under {root} could be decoded")
    arrays = [decoded[i] for i in keep]
    kept_files = [files[i] for i in keep]
    # channels
    chans = [1 if a.ndim == 2 else a.shape[2] for a in arrays]
    if color is not None or len(set(chans)) > 1:
        target_c = 3 if max(chans) >= 3 else max(chans)
        arrays = [_to_channels(a, color, target_c) for a in arrays]
    # sizes
    sizes = [a.shape[:2] for a in arrays]
    resized = 0
    if size is None and len(set(sizes)) > 1:
        if on_mixed_sizes == "error":
            first = sizes[0]
            j = next(j for j, s in enumerate(sizes) if s != first)
            raise ValueError(f"images of mixed sizes: {kept_files[0]} is {first[0]}x{first[1]} "
                             f"but {kept_files[j]} is {sizes[j][0]}x{sizes[j][1]} (height x "
                             "width); pass size=(height, width) or on_mixed_sizes='resize'")
        counts: dict = {}
        for s in sizes:
            counts[s] = counts.get(s, 0) + 1
        size = max(counts, key=lambda s: (counts[s], -sizes.index(s)))
    if size is not None:
        out = []
        for a in arrays:
            if a.shape[:2] != tuple(size):
                a = _resize_uint8(a, size)
                resized += 1
            out.append(a)
        arrays = out
    images = np.stack(arrays)
    labels = None
    if names is not None:
        code = {c: k for k, c in enumerate(classes)}
        labels = np.array([code[names[i]] for i in keep], dtype=np.int64)
    return ImageSet(images, labels, None if classes is None else tuple(classes),
                    tuple(kept_files), tuple(skipped), resized)


def _unquote(p: str) -> str:
    from urllib.parse import unquote

    return unquote(p)


# ============================================================================ lazy image batches


def _infer_shape(width: int) -> tuple[int, int, int] | None:
    """(s, s, 1) or (s, s, 3) for a flat row of ``width`` pixel values, else None."""
    s = math.isqrt(width)
    if s * s == width and s > 0:
        return (s, s, 1)
    if width % 3 == 0:
        s = math.isqrt(width // 3)
        if s * s * 3 == width and s > 0:
            return (s, s, 3)
    return None


def _mixed_sizes_error(shapes: Sequence[tuple], what: str = "images") -> ValueError:
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
        if isinstance(op, Rectify) and i + 1 < len(ops) and isinstance(ops[i + 1], Pooler):
            x = ops[i + 1]._pool(x, rectify=op)
            i += 2
            continue
        x = op._apply(x)
        i += 1
    return x


def _as_image_batch(batch: Any, stage: Any = None) -> ImageBatch:
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
            raise _mixed_sizes_error(shapes)
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
            shape = _infer_shape(width)
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


# ============================================================================ stage bases


class _ImageStage:
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
        return _as_image_batch(batch, self).then(self)


class _ImageTransformer(_ImageStage, Transformer):
    def transform(self, data: Any, *, keep: Sequence[str] | None = None) -> Any:
        """Apply to ``data`` and return the same kind (a table gets flat pixel rows)."""
        if input_kind(data) in ("mltable", "spark", "connect") \
                and not isinstance(self, _VectorizingStage):
            self._validate()
            return transform_any([self, Flatten()], data, keep=keep)
        return super().transform(data, keep=keep)


class _VectorizingStage(_ImageTransformer):
    """Ends the lazy chain: evaluates it and returns ``(n, features)`` float32."""

    def _transform_batch(self, batch: Any) -> Any:
        return _as_image_batch(batch, self).then(self).to_matrix()


# ============================================================================ simple stages


def _shape_param(shape) -> tuple[int, int, int]:
    try:
        return _shape3(shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width) or (height, width, channels) with "
                         f"positive ints, got {shape!r}") from None


class AsImages(_ImageTransformer):
    """Read rows of pixel values as images of ``shape`` (needed for flat input that is not
    a square gray or RGB image).

    Parameters
    ----------
    shape : (height, width) or (height, width, channels)
    """

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
            return _as_image_batch(x, self)
        b = _as_image_batch(x, self)
        if b.input_shape != shape:
            raise ValueError(f"images have shape {b.input_shape}, but AsImages expects {shape}")
        return b

    def _apply(self, x):
        return x


class Grayscale(_ImageTransformer):
    """RGB(A) -> one channel, ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601-2, as Pillow's
    ``convert("L")``); one-channel images pass unchanged."""

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
        out = _as_image_batch(batch, self).then(self)
        if out.layout == "stack":
            out.layout = "gray"  # a gray stack comes back as (n, h, w)
        return out


class Resize(_ImageTransformer):
    """Bilinear resize to ``height x width`` (pixel centers aligned, edges clamped).

    Also takes a *list* of images of different sizes (the one stage that does): put it first
    to accept mixed sizes.
    """

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


class Crop(_ImageTransformer):
    """Cut a ``height x width`` window: centered, or at (``top``, ``left``)."""

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


class Scale(_ImageTransformer):
    """Pixel scaling: ``"unit"`` divides by ``max_value`` (8-bit pixels to [0, 1]);
    ``"standardize"`` makes every image zero-mean and unit-variance (``(x - mean) /
    sqrt(var + eps)`` over all its pixels)."""

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


class Flatten(_VectorizingStage):
    """Images -> vectors ``(n, height * width * channels)`` (row-major, channels last)."""

    def __init__(self):
        pass

    def _apply(self, x):
        return x

    def _output_width(self, width):
        return width


# ============================================================================ Coates & Ng


class Rectify(_ImageTransformer):
    """Rectification: ``max(0, x - alpha)``, and with ``symmetric`` also
    ``max(0, -x - alpha)`` concatenated on the channel axis (twice the channels)."""

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


class Pooler(_VectorizingStage):
    """Spatial pooling into a vector: the sum (or max) of every channel over each region.

    Regions: a ``grid x grid`` split into nearly equal parts (``grid=2`` are Coates & Ng's
    quadrants), or -- with ``pool_size`` -- windows of ``pool_size`` every ``pool_stride``
    positions. Output ``(n, regions_y * regions_x * channels)``, ordered (region row,
    region column, channel).
    """

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
    b = _as_image_batch(batch)
    return (len(b), b.shape if len(b) else None)


def _sample_seed(seed: int, b: ImageBatch) -> np.random.Generator:
    """A generator determined by ``seed`` and the partition's content."""
    head = np.ascontiguousarray(b.source[:2]).tobytes()[:4096]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, len(b), zlib.crc32(head)])


def _sample_patches(batch, y, rate: float, k: int, normalize: bool, eps: float, seed: int):
    """Random patches of one partition: ``round(rate * n)`` of them, float32 rows."""
    b = _as_image_batch(batch)
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
            b = _as_image_batch(data)
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
            raise _mixed_sizes_error(shapes, "partitions hold images")
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


class ConvolverModel(_ImageTransformer):
    """Convolution with a filter bank (valid positions, ``stride``), after per-patch
    contrast normalization (``contrast_eps``; None: none) and ZCA whitening
    (``zca_mean``/``zca_matrix``; None: none). Output ``(n, oh, ow, num_filters)``.

    The response at a position is ``((norm(p) - zca_mean) @ zca_matrix) . filter``, computed
    as ``norm(p) @ M + b`` with ``M = zca_matrix @ filters.T`` (im2col + one BLAS product).
    """

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
