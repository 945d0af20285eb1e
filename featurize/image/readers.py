"""Image readers: stacks of images as arrays and tables, IDX files (MNIST) and folders of
image files (Pillow, or Spark's image data source)."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np


from mli.featurize import image_kernels as kernels
from mli.featurize.idx import read_idx
from mli.table.mltable import MLTable
from mli.engine.context import get_context


log = logging.getLogger(__name__)


# ============================================================================ image stacks


PIXEL_PREFIX = "px"
_PIXEL_RE = re.compile(r"^px_(\d+)_(\d+)_(\d+)$")


def pixel_columns(shape: Sequence[int]) -> list[str]:
    """Column names of a flattened ``(height, width, channels)`` image: ``px_<row>_<col>_<ch>``
    in row-major (row, column, channel) order -- the naming image stages read shapes from."""
    h, w, c = shape3(shape)
    r, q, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return [f"px_{a}_{b}_{d}" for a, b, d in zip(r.ravel().tolist(), q.ravel().tolist(),
                                                   ch.ravel().tolist())]


def shape3(shape) -> tuple[int, int, int]:
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
