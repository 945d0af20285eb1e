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

from mli.featurize.idx import read_idx, write_idx
from mli.featurize.image.batches import ImageBatch
from mli.featurize.image.coates_ng import (Convolver, ConvolverModel, Pooler, RandomPatches,
                                           Rectify, ZCAWhitener, ZCAWhitenerModel, coates_ng)
from mli.featurize.image.readers import (ImageSet, image_shape_of_columns, images_to_table,
                                         pixel_columns, read_images, read_mnist,
                                         table_to_images)
from mli.featurize.image.stages import AsImages, Crop, Flatten, Grayscale, Resize, Scale

__all__ = [
    # readers
    "ImageSet", "read_mnist", "read_images", "read_idx", "write_idx", "images_to_table",
    "table_to_images", "pixel_columns", "image_shape_of_columns",
    # stages
    "ImageBatch", "AsImages", "Grayscale", "Resize", "Crop", "Scale", "Flatten",
    "RandomPatches", "ZCAWhitener", "ZCAWhitenerModel", "Convolver", "ConvolverModel",
    "Rectify", "Pooler", "coates_ng",
]

