"""Image featurizers: kernels vs numpy references, readers, stages, the Coates-Ng pipeline."""
from __future__ import annotations

import gzip
import json
import os

import numpy as np
import pytest

from conftest import shared_data

import mli
from mli.featurize import image_kernels as K
from mli.featurize.idx import read_idx, write_idx
from mli.featurize.image import (AsImages, Convolver, ConvolverModel, Crop, Flatten,
                                 Grayscale, ImageBatch, Pooler, RandomPatches, Rectify, Resize,
                                 Scale, ZCAWhitener, images_to_table,
                                 image_shape_of_columns, pixel_columns, read_images, read_mnist,
                                 table_to_images)
from mli.linalg.localmatrix import LocalMatrix

try:
    import PIL.Image  # noqa: F401

    HAVE_PIL = True
except ImportError:  # pragma: no cover - Pillow is optional
    HAVE_PIL = False

needs_pil = pytest.mark.skipif(not HAVE_PIL, reason="Pillow is not installed (optional)")


def rng(seed=0):
    return np.random.default_rng(seed)


def small_images(n=12, h=12, w=10, c=1, seed=0):
    return rng(seed).random((n, h, w, c)).astype(np.float32)


# ============================================================================ kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,stride,normalize", [(3, 1, False), (4, 2, True), (1, 1, True),
                                                (5, 3, False)])
def test_im2col_matches_numpy(dtype, k, stride, normalize):
    x = rng(1).random((3, 11, 9, 2)).astype(dtype)
    a = K.im2col(x, k, stride, normalize, 0.01)
    b = K.im2col_ref(x, k, stride, normalize, 0.01)
    assert a.shape == b.shape == (3 * K.output_size(11, k, stride) * K.output_size(9, k, stride),
                                  k * k * 2)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_im2col_patch_layout():
    x = np.arange(2 * 5 * 4 * 3, dtype=np.float64).reshape(2, 5, 4, 3)
    P = K.im2col(x, 2, 1)
    oh, ow = 4, 3
    # row of (image 1, position (2, 1)) is the (dy, dx, channel) flattening of that window
    row = P[1 * oh * ow + 2 * ow + 1]
    np.testing.assert_array_equal(row, x[1, 2:4, 1:3, :].ravel())


def test_sample_patches_are_image_windows():
    x = rng(2).random((4, 9, 8, 2))
    r = rng(3)
    P = K.sample_patches(x, 3, 50, r)
    assert P.shape == (50, 18)
    windows = {tuple(np.round(row, 12)) for row in K.im2col(x, 3, 1)}
    assert all(tuple(np.round(p, 12)) in windows for p in P)


@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("edges", ["grid", "window"])
def test_pool_and_rectify_pool_match_numpy(op, edges):
    x = rng(4).standard_normal((3, 13, 11, 5)).astype(np.float32)
    if edges == "grid":
        rs, re, cs, ce = K.grid_edges(13, 2) + K.grid_edges(11, 3)
    else:
        rs, re, cs, ce = K.window_edges(13, 5, 4) + K.window_edges(11, 4, 3)
    np.testing.assert_allclose(K.pool(x, rs, re, cs, ce, op), K.pool_ref(x, rs, re, cs, ce, op),
                               rtol=1e-5, atol=1e-5)
    for sym in (True, False):
        a = K.rectify_pool(x, 0.25, sym, rs, re, cs, ce, op)
        b = K.rectify_pool_ref(x, 0.25, sym, rs, re, cs, ce, op)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_grid_edges_are_quadrants():
    rs, re = K.grid_edges(23, 2)
    assert rs.tolist() == [0, 12] and re.tolist() == [12, 23]
    with pytest.raises(ValueError, match="cannot split 3 positions into 4"):
        K.grid_edges(3, 4)


def test_rectify_values():
    x = np.array([[[[-1.0, 0.1, 0.5]]]], dtype=np.float32)
    out = K.rectify(x, 0.25, True)
    np.testing.assert_allclose(out.ravel(), [0, 0, 0.25, 0.75, 0, 0])
    assert K.rectify(x, 0.25, False).shape == x.shape


def test_resize_and_grayscale_match_numpy():
    x = rng(5).random((2, 9, 13, 3)).astype(np.float32)
    for h, w in [(4, 5), (18, 26), (9, 13), (1, 1)]:
        np.testing.assert_allclose(K.resize_bilinear(x, h, w), K.resize_bilinear_ref(x, h, w),
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(K.resize_bilinear(x, 9, 13), x, atol=1e-6)  # identity size
    np.testing.assert_allclose(K.grayscale(x), K.grayscale_ref(x), rtol=1e-5)


# ============================================================================ IDX


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_idx_round_trip(tmp_path, compress, dtype):
    a = (rng(6).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_by_hand(tmp_path):
    # an MNIST-style labels file written byte by byte: magic 0x00000801, count 3
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    (tmp_path / "labels-idx1-ubyte").write_bytes(raw)
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw))
    for name in ("labels-idx1-ubyte", "labels-idx1-ubyte.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), [7, 2, 1])


def test_idx_errors(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x05")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(p)
    p.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="unknown IDX element type 0x42"):
        read_idx(p)
    p.write_bytes(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*3 bytes"):
        read_idx(p)
    p.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(p)


def test_read_mnist_small_files(tmp_path):
    imgs = rng(7).integers(0, 256, (5, 6, 7), dtype=np.uint8)
    write_idx(tmp_path / "x-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "x-labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    d = read_mnist(tmp_path)
    np.testing.assert_array_equal(d.images, imgs)
    np.testing.assert_array_equal(d.labels, np.arange(5))
    write_idx(tmp_path / "short-labels.idx", np.arange(4, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(4,\) labels for 5 images"):
        read_mnist(tmp_path / "x-images-idx3-ubyte.gz", tmp_path / "short-labels.idx")


def test_read_mnist_real_file():
    path = shared_data("mnist-t10k")
    d = read_mnist(path)
    assert d.images.shape == (10000, 28, 28) and d.images.dtype == np.uint8
    assert d.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(d.labels).tolist()[:3] == [980, 1135, 1032]
    assert d.images.max() == 255 and d.images.min() == 0
    plain = read_idx(path / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(plain, d.labels)
    train, test = d.split(8000, 2000, seed=0)
    assert len(train) == 8000 and len(test) == 2000
    train2, _ = d.split(8000, 2000, seed=0)
    np.testing.assert_array_equal(train.labels, train2.labels)


# ============================================================================ folder reader


def write_folder(root, corrupt=True, mixed=False):
    from PIL import Image

    r = rng(8)
    arrays = {}
    for cls, mode in (("cat", "RGB"), ("dog", "RGB")):
        os.makedirs(root / cls, exist_ok=True)
        for i in range(3):
            shape = (6, 5, 3) if not (mixed and cls == "dog" and i == 0) else (8, 8, 3)
            a = r.integers(0, 256, shape, dtype=np.uint8)
            path = root / cls / f"{cls}{i}.png"
            Image.fromarray(a, mode).save(path)
            arrays[str(path)] = a
    if corrupt:
        (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return arrays


@needs_pil
def test_read_images_pillow(tmp_path):
    arrays = write_folder(tmp_path)
    d = read_images(tmp_path, engine="pillow")
    assert d.classes == ("cat", "dog")
    assert d.images.shape == (6, 6, 5, 3) and d.images.dtype == np.uint8
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(d.skipped) == 1 and d.skipped[0].endswith("broken.png")
    for img, path in zip(d.images, d.paths):
        np.testing.assert_array_equal(img, arrays[path])
    with pytest.raises(ValueError, match="corrupt image file .*broken.png"):
        read_images(tmp_path, engine="pillow", on_corrupt="error")
    g = read_images(tmp_path, engine="pillow", color="L")
    assert g.images.shape == (6, 6, 5)
    expect = np.clip(np.rint(K.grayscale_ref(d.images.astype(np.float32))[..., 0]), 0, 255)
    assert np.abs(g.images.astype(int) - expect).max() <= 1


@needs_pil
def test_read_images_mixed_sizes(tmp_path):
    write_folder(tmp_path, corrupt=False, mixed=True)
    with pytest.raises(ValueError, match=r"mixed sizes: .*cat0.png is 6x5 but .*dog0.png is "
                                         r"8x8"):
        read_images(tmp_path, engine="pillow")
    d = read_images(tmp_path, engine="pillow", on_mixed_sizes="resize")
    assert d.images.shape == (6, 6, 5, 3) and d.resized == 1
    d = read_images(tmp_path, engine="pillow", size=(4, 4))
    assert d.images.shape == (6, 4, 4, 3) and d.resized == 6


@needs_pil
def test_read_images_spark_engine_matches_pillow(ctx, tmp_path):
    write_folder(tmp_path)
    a = read_images(tmp_path, engine="pillow")
    b = read_images(tmp_path, engine="spark", ctx=ctx)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.labels.tolist() == b.labels.tolist() and a.classes == b.classes
    assert len(b.skipped) == 1
    t = b.to_table(ctx=ctx)
    assert t.columns[-1] == "label" and t.num_cols == 6 * 5 * 3 + 1
    imgs, y = table_to_images(t)
    np.testing.assert_array_equal(imgs, a.images)
    np.testing.assert_array_equal(y, a.labels)


def test_read_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_images(tmp_path / "nope")
    with pytest.raises(ValueError, match="no image files"):
        read_images(tmp_path)
    with pytest.raises(ValueError, match="on_corrupt must be one of"):
        read_images(tmp_path, on_corrupt="ignore")


# ============================================================================ tables


def test_pixel_columns_and_shape():
    cols = pixel_columns((2, 3, 2))
    assert cols[:3] == ["px_0_0_0", "px_0_0_1", "px_0_1_0"] and cols[-1] == "px_1_2_1"
    shape, idx, others = image_shape_of_columns(cols + ["label"])
    assert shape == (2, 3, 2) and idx == list(range(12)) and others == [12]
    with pytest.raises(ValueError, match="no image columns"):
        image_shape_of_columns(["a", "b"])
    with pytest.raises(ValueError, match="complete"):
        image_shape_of_columns(cols[:-1] + ["px_1_2_2"])


# ============================================================================ stages


def test_stage_values_and_kinds():
    x8 = rng(9).integers(0, 256, (4, 8, 6), dtype=np.uint8)
    s = Scale().transform(x8)
    assert s.shape == (4, 8, 6) and s.dtype == np.float32
    np.testing.assert_allclose(s, x8 / 255.0, rtol=1e-6)
    z = Scale("standardize").transform(x8)
    np.testing.assert_allclose(z.reshape(4, -1).mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(4, -1).std(1), 1, atol=1e-4)
    c = Crop(4, 2).transform(x8)
    np.testing.assert_array_equal(c, x8[:, 2:6, 2:4])
    c = Crop(4, 2, top=1, left=0).transform(x8)
    np.testing.assert_array_equal(c, x8[:, 1:5, 0:2])
    with pytest.raises(ValueError, match="does not fit"):
        Crop(9, 2).transform(x8)
    rgb = rng(10).random((3, 5, 4, 3)).astype(np.float32)
    g = Grayscale().transform(rgb)
    assert g.shape == (3, 5, 4)
    np.testing.assert_allclose(g, 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1]
                               + 0.114 * rgb[..., 2], rtol=1e-5)
    assert Resize(16, 12).transform(x8).shape == (4, 16, 12)
    assert Resize(16, 12).transform(rgb).shape == (3, 16, 12, 3)
    # flat rows in, flat rows out (square gray images inferred); LocalMatrix kept
    flat = x8[:, :6, :6].reshape(4, 36)
    out = Scale().transform(flat)
    assert out.shape == (4, 36)
    lm = Scale().transform(LocalMatrix(flat.astype(np.float64)))
    assert isinstance(lm, LocalMatrix) and lm.shape == (4, 36)
    assert Flatten().transform(x8).shape == (4, 48)
    # one record
    assert Scale().transform_one(x8[0]).shape == (8, 6)
    assert Scale().transform(x8.reshape(4, 48)).shape == (4, 48)  # read as 4x4 RGB
    with pytest.raises(ValueError, match="cannot tell the image shape of rows of 50"):
        Scale().transform(np.zeros((2, 50)))
    out = (AsImages((8, 6)) | Crop(4, 2)).transform(x8.reshape(4, 48))
    assert out.shape == (4, 8)


def test_rectify_pooler_stages():
    x = rng(11).standard_normal((3, 9, 9, 4)).astype(np.float32)
    r = Rectify(alpha=0.1).transform(x)
    assert r.shape == (3, 9, 9, 8)
    np.testing.assert_allclose(r, K.rectify_ref(x, 0.1, True))
    p = Pooler(grid=3, op="max").transform(x)
    rs, re, cs, ce = K.grid_edges(9, 3) + K.grid_edges(9, 3)
    np.testing.assert_allclose(p, K.pool_ref(x, rs, re, cs, ce, "max").reshape(3, -1))
    p = Pooler(pool_size=4, pool_stride=5).transform(x)
    assert p.shape == (3, 2 * 2 * 4)
    fused = (Rectify(alpha=0.1) | Pooler(grid=2)).transform(x)
    rs, re, cs, ce = K.grid_edges(9, 2) + K.grid_edges(9, 2)
    np.testing.assert_allclose(fused, K.rectify_pool_ref(x, 0.1, True, rs, re, cs, ce)
                               .reshape(3, -1), rtol=1e-5)
    with pytest.raises(ValueError, match="cannot split 9 positions into 10"):
        Pooler(grid=10).transform(x)


def test_mixed_sizes_in_a_list():
    imgs = [np.ones((5, 5)), np.ones((6, 4)), np.ones((5, 5))]
    with pytest.raises(ValueError, match=r"mixed sizes: image 0 has shape \(5, 5\) but image 1 "
                                         r"has shape \(6, 4\); add Resize"):
        Scale().transform(imgs)
    out = (Resize(5, 5) | Scale()).transform(imgs)
    assert out.shape == (3, 5, 5)
    np.testing.assert_allclose(out, 1 / 255.0, rtol=1e-5)


def test_image_batch_is_lazy_and_chunked(monkeypatch):
    from mli.featurize.image import batches as I

    x = small_images(n=40)
    monkeypatch.setattr(I, "CHUNK_VALUES", 500)  # a few images per chunk
    b = (Rectify(0.1)._transform_batch(Scale(max_value=2.0)._transform_batch(x)))
    assert isinstance(b, ImageBatch) and len(b.ops) == 2 and b.shape == (12, 10, 2)
    assert b._chunk_rows() < 40
    np.testing.assert_allclose(b.to_local(), K.rectify_ref(x / 2.0, 0.1, True), rtol=1e-6)


# ============================================================================ ZCA, Convolver


def test_zca_whitening_identity_covariance():
    r = rng(12)
    A = r.standard_normal((6, 6))
    X = r.standard_normal((5000, 6)) @ A + 3.0
    model = ZCAWhitener(eps=1e-9).fit_array(X)
    Z = model.transform(X)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-8)
    np.testing.assert_allclose(np.cov(Z, rowvar=False, bias=True), np.eye(6), atol=1e-6)
    # ZCA (not PCA): the whitening matrix is symmetric, so Z stays aligned with X
    np.testing.assert_allclose(model.whitening, model.whitening.T, atol=1e-10)
    with pytest.raises(ValueError, match="X has 5 features, but ZCAWhitenerModel was fitted "
                                         "with 6"):
        model.transform(X[:, :5])


def test_zca_fit_on_spark_matches_local(ctx):
    X = rng(13).standard_normal((400, 5)) @ rng(14).standard_normal((5, 5))
    a = ZCAWhitener(eps=0.01).fit(mli.MLTable.from_numpy(X, ctx=ctx, num_partitions=3))
    b = ZCAWhitener(eps=0.01).fit_array(X)
    np.testing.assert_allclose(a.whitening, b.whitening, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-10)


def conv_reference(model: ConvolverModel, x: np.ndarray) -> np.ndarray:
    """Plain numpy: normalized patches -> whitened -> filter responses, (n, oh, ow, F)."""
    k = model.patch_size
    P = K.im2col_ref(x.astype(np.float64), k, model.stride, model.contrast_eps is not None,
                     model.contrast_eps or 0.0)
    Pw = (P - model.zca_mean) @ model.zca_matrix
    D = np.asarray(model.filters).reshape(model.num_filters, -1)
    oh = K.output_size(x.shape[1], k, model.stride)
    ow = K.output_size(x.shape[2], k, model.stride)
    return (Pw @ D.T).reshape(len(x), oh, ow, -1)


@pytest.mark.parametrize("filters", ["patches", "random", "kmeans"])
def test_convolver_matches_numpy_reference(filters):
    x = small_images(n=30, h=14, w=12, c=2)
    est = Convolver(num_filters=8, patch_size=5, stride=2, filters=filters, num_patches=3000,
                    seed=3)
    model = est.fit(x)
    assert isinstance(model, ConvolverModel)
    assert model.filters.shape == (8, 5, 5, 2) and model.input_shape == (14, 12, 2)
    np.testing.assert_allclose(np.linalg.norm(model.filters.reshape(8, -1), axis=1), 1.0)
    out = model.transform(x)
    assert out.shape == (30, 5, 4, 8)
    np.testing.assert_allclose(out, conv_reference(model, x), rtol=1e-3, atol=1e-3)
    # deterministic for a seed
    np.testing.assert_array_equal(est.fit(x).filters, model.filters)


def test_convolver_given_filters_without_whitening():
    x = small_images(n=5, h=8, w=8, c=1)
    f = rng(15).standard_normal((3, 3, 3, 1))
    model = Convolver(filters=f, whiten=False, normalize=False).fit(x)
    out = model.transform(x[..., 0])
    assert out.shape == (5, 6, 6, 3)
    ref = K.im2col_ref(x, 3).astype(np.float64) @ f.reshape(3, -1).T
    np.testing.assert_allclose(out.reshape(-1, 3), ref, rtol=1e-4, atol=1e-4)


def test_random_patches_sample():
    x = small_images(n=50, h=10, w=10, c=3)
    P = RandomPatches(num_patches=400, patch_size=4, seed=1).sample(x)
    assert P.shape == (400, 48)
    np.testing.assert_allclose(P.mean(1), 0, atol=1e-5)
    raw = RandomPatches(num_patches=100, patch_size=4, normalize=False, seed=1).sample(x)
    windows = {tuple(np.round(row, 5)) for row in K.im2col(x, 4)}
    assert all(tuple(np.round(p, 5)) in windows for p in raw)


def test_random_patches_from_table(ctx):
    x = rng(19).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    t = images_to_table(x, np.arange(40) % 2, ctx=ctx, num_partitions=2)
    P = RandomPatches(num_patches=500, patch_size=3, normalize=False).sample(t)
    assert P.shape == (500, 27)
    windows = {tuple(row) for row in K.im2col(x.astype(np.float32), 3)}
    assert all(tuple(p) in windows for p in P)


def test_exported_from_featurize():
    import mli.featurize as F

    assert F.Convolver is Convolver and F.read_mnist is read_mnist
    assert "Pooler" in dir(F)


def test_coates_ng_pipeline_matches_numpy_stages():
    """The fused lazy chain equals the stage-by-stage numpy computation."""
    x8 = (small_images(n=25, h=16, w=16, c=1) * 255).astype(np.uint8)[..., 0]
    pipe = Scale() | Convolver(num_filters=6, patch_size=5, num_patches=2000) \
        | Rectify(alpha=0.25) | Pooler(grid=2)
    model = pipe.fit(x8)
    feats = model.transform(x8)
    assert feats.shape == (25, 2 * 2 * 2 * 6) and feats.dtype == np.float32
    conv = model.stages_[1]
    z = conv_reference(conv, x8[..., None] / 255.0)
    rs, re, cs, ce = K.grid_edges(12, 2) + K.grid_edges(12, 2)
    ref = K.rectify_pool_ref(z, 0.25, True, rs, re, cs, ce).reshape(25, -1)
    np.testing.assert_allclose(feats, ref, rtol=2e-3, atol=2e-3)


# ============================================================================ tables, save/load


def test_table_transform_keeps_kind_and_label(ctx):
    x8 = rng(16).integers(0, 256, (20, 10, 10), dtype=np.uint8)
    y = np.arange(20) % 3
    table = images_to_table(x8, y, ctx=ctx, num_partitions=2)
    assert table.columns[0] == "px_0_0_0" and table.columns[-1] == "label"
    pipe = Scale() | Convolver(num_filters=4, patch_size=3, num_patches=500) | Rectify() \
        | Pooler(grid=2)
    model = pipe.fit(table, label="label")
    out = model.transform(table, keep=["label"])
    assert isinstance(out, mli.MLTable)
    a = out.to_numpy()
    assert a.shape == (20, 2 * 2 * 2 * 4 + 1)
    np.testing.assert_array_equal(a[:, -1], y)
    local = model.transform(x8.reshape(20, -1))   # fitted on a table: flat rows locally
    np.testing.assert_allclose(a[:, :-1], local, rtol=1e-5, atol=1e-5)
    # a single non-vectorizing stage on a table gives flat pixel rows
    s = Scale().transform(table.select(*pixel_columns((10, 10, 1))))
    np.testing.assert_allclose(s.to_numpy(), x8.reshape(20, -1) / 255.0, rtol=1e-6)


def test_save_load_round_trip(ctx, tmp_path):
    from mli.algorithms import LogisticRegression

    r = rng(17)
    x = r.integers(0, 256, (60, 12, 12), dtype=np.uint8)
    x[:30, 3:9, 5:7] = 255  # class 1: a bright vertical bar
    y = (np.arange(60) < 30).astype(float)
    pipe = Scale() | Convolver(num_filters=5, patch_size=4, num_patches=1000) \
        | Rectify(alpha=0.2) | Pooler(grid=2) | LogisticRegression(reg=1e-3, max_iter=8)
    model = pipe.fit(x, y)
    path = str(tmp_path / "img-model")
    model.save(path)
    files = sorted(os.listdir(path))
    assert all(f.endswith((".npy", ".json")) for f in files), files
    meta = json.load(open(os.path.join(path, "metadata.json")))
    assert "ConvolverModel" in json.dumps(meta)
    loaded = mli.load(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.transform(x), model.transform(x))
    conv = loaded.stages_[1]
    assert isinstance(conv, ConvolverModel) and conv.input_shape == (12, 12, 1)
    # a different image shape than fitted: ValueError naming both shapes
    with pytest.raises(ValueError, match=r"images have shape \(10, 10, 1\), but ConvolverModel "
                                         r"was fitted on images of shape \(12, 12, 1\)"):
        loaded.predict(x[:, :10, :10])
    with pytest.raises(ValueError, match=r"X has 100 features \(pixel values\), but "
                                         r"ConvolverModel was fitted on images of shape "
                                         r"\(12, 12, 1\) \(144 pixel values\)"):
        conv.transform(x[:, :10, :10].reshape(60, 100).astype(np.float32))


def test_width_mismatch_on_tables(ctx):
    x = rng(18).integers(0, 256, (16, 8, 8), dtype=np.uint8)
    table = images_to_table(x, np.arange(16) % 2, ctx=ctx)
    model = (Scale() | Convolver(num_filters=3, patch_size=3, num_patches=300) | Rectify()
             | Pooler()).fit(table, label="label")
    other = images_to_table(x[:, :6, :6], np.arange(16) % 2, ctx=ctx)
    with pytest.raises(ValueError, match="features"):
        model.transform(other.select(*pixel_columns((6, 6))))


# ============================================================================ MNIST (reduced)


def test_mnist_conv_features_beat_raw_pixels(ctx):
    from mli.algorithms import LogisticRegression

    data = read_mnist(shared_data("mnist-t10k"))
    train, test = data.split(1500, 500, seed=0)
    raw = (Scale() | Flatten() | LogisticRegression(reg=1e-3, max_iter=30)).fit(
        train.images, train.labels)
    acc_raw = np.mean(raw.predict(test.images) == test.labels)
    conv = (Scale() | Convolver(num_filters=24, patch_size=6, num_patches=20000)
            | Rectify(alpha=0.25) | Pooler(grid=2)
            | LogisticRegression(reg=1e-3, max_iter=30)).fit(train.images, train.labels)
    acc_conv = np.mean(conv.predict(test.images) == test.labels)
    print(f"MNIST 1500/500: raw {acc_raw:.3f}, conv {acc_conv:.3f}")
    assert acc_conv >= 0.92
    assert acc_conv > acc_raw + 0.02
