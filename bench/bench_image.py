"""Image featurization throughput: mli's Coates-Ng stages vs. a plain numpy implementation.

Pipeline (the one the MNIST example uses): Scale -> Convolver (6x6 patches, contrast
normalization, ZCA whitening folded into the filters, 100 filters, stride 1) -> Rectify
(symmetric, alpha 0.25) -> Pooler (2x2 quadrant sums) = 800 features per 28x28 image. Both
implementations use the *same fitted filters* and their outputs are compared.

* mli        -- ``model.transform(images)``: lazy chunked evaluation, numba im2col with fused
                patch normalization, one float32 BLAS product, fused numba rectify+pool.
* numpy      -- the same stages written directly in numpy (sliding_window_view im2col,
                vectorized normalization, float32 BLAS product, np.maximum + concatenate,
                slice sums), over chunks of 100 images so memory stays bounded
                (``mli.featurize.image_kernels.*_ref``).

Both run single-threaded (OPENBLAS/OMP/NUMBA threads = 1) in this process ("1 core"), then
both run per partition in Spark (local[2], input table resident) ("Spark").
Images: the 10,000 MNIST test images (replicated with --images for more).

Run: python bench/bench_image.py [--images 10000] [--filters 100] [--repeats 3]
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mli.featurize import image_kernels as K  # noqa: E402
from mli.featurize.image import (Convolver, Flatten, Pooler, Rectify, Scale,  # noqa: E402
                                 images_to_table, read_mnist)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist-t10k"


def numpy_featurize(images, conv, alpha, chunk=100):
    """Plain numpy: the same stages, stage by stage, over chunks of ``chunk`` images."""
    x_all = images.reshape(len(images), 28, 28, 1) if images.ndim == 2 else images[..., None] \
        if images.ndim == 3 else images
    M, b = conv._weights()
    k, eps = conv.patch_size, conv.contrast_eps
    out = []
    for s in range(0, len(x_all), chunk):
        x = x_all[s:s + chunk].astype(np.float32) * np.float32(1 / 255.0)        # Scale
        P = K.im2col_ref(x, k, 1, True, eps)                                      # patches
        oh, ow = x.shape[1] - k + 1, x.shape[2] - k + 1
        z = (P @ M + b).reshape(len(x), oh, ow, -1)                               # convolve
        r = K.rectify_ref(z, alpha, True)                                         # rectify
        rs, re, cs, ce = K.grid_edges(oh, 2) + K.grid_edges(ow, 2)
        out.append(K.pool_ref(r, rs, re, cs, ce, "sum").reshape(len(x), -1))      # pool
    return np.concatenate(out)


def _numpy_block(block, conv, alpha):
    a = block.array
    return numpy_featurize(np.asarray(a), conv, alpha)


def median_time(fn, n):
    times = []
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def stage_breakdown(images, conv, alpha, n=2000):
    """Seconds per stage over ``n`` images, mli kernels vs numpy (1 core, chunks of 20)."""
    x_all = images[:n, ..., None].astype(np.float32) / np.float32(255.0)
    M, b = conv._weights()
    k, eps = conv.patch_size, conv.contrast_eps
    rs, re, cs, ce = K.grid_edges(23, 2) + K.grid_edges(23, 2)
    t = {key: 0.0 for key in ("patches", "convolve", "rectify+pool")}
    tn = dict(t)
    for s in range(0, n, 20):
        x = x_all[s:s + 20]
        t0 = time.perf_counter()
        P = K.im2col(x, k, 1, True, eps)
        t1 = time.perf_counter()
        z = P @ M
        z += b
        z = z.reshape(len(x), 23, 23, -1)
        t2 = time.perf_counter()
        K.rectify_pool(z, alpha, True, rs, re, cs, ce)
        t3 = time.perf_counter()
        t["patches"] += t1 - t0
        t["convolve"] += t2 - t1
        t["rectify+pool"] += t3 - t2
        t0 = time.perf_counter()
        P = K.im2col_ref(x, k, 1, True, eps)
        t1 = time.perf_counter()
        z = (P @ M + b).reshape(len(x), 23, 23, -1)
        t2 = time.perf_counter()
        K.pool_ref(K.rectify_ref(z, alpha, True), rs, re, cs, ce)
        t3 = time.perf_counter()
        tn["patches"] += t1 - t0
        tn["convolve"] += t2 - t1
        tn["rectify+pool"] += t3 - t2
    return t, tn


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--filters", type=int, default=100)
    ap.add_argument("--alpha", type=float, default=0.25)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--skip-spark", action="store_true")
    args = ap.parse_args(argv)

    data = read_mnist(args.data)
    reps = -(-args.images // len(data))
    images = np.concatenate([data.images] * reps)[:args.images]
    print(f"{len(images)} images {images.shape[1:]}, {args.filters} filters 6x6, "
          f"alpha {args.alpha}, 2x2 sum pooling -> {8 * args.filters} features")

    pipe = (Scale() | Convolver(num_filters=args.filters, patch_size=6, num_patches=50_000)
            | Rectify(alpha=args.alpha) | Pooler(grid=2))
    model = pipe.fit(images[:2000])
    conv = model.stages_[1]
    model.transform(images[:50])            # compile/load the numba kernels
    numpy_featurize(images[:50], conv, args.alpha)

    rows = []
    overhead = None
    t_mli, f_mli = median_time(lambda: model.transform(images), args.repeats)
    t_np, f_np = median_time(lambda: numpy_featurize(images, conv, args.alpha), args.repeats)
    err = float(np.max(np.abs(f_mli - f_np)) / max(np.max(np.abs(f_np)), 1e-12))
    rows.append(("1 core", "mli", t_mli))
    rows.append(("1 core", "numpy", t_np))

    if not args.skip_spark:
        import mli
        from mli.engine.context import set_default_context
        from mli.pipeline import Pipeline

        with mli.MLContext(args.master, app_name="bench-image") as ctx:
            set_default_context(ctx)
            table = images_to_table(images, ctx=ctx, num_partitions=ctx.default_parallelism)
            table.cache()
            feats = table.select(*table.columns[:-1]) if table.columns[-1] == "label" else table
            feats.cache()

            # the fitted stages as a transformer-only pipeline (a PipelineModel fitted on an
            # image stack accepts only image stacks)
            stages = Pipeline(list(model.stages_))

            def run_mli():
                out = stages.transform(feats)
                return ctx.run(out._block_source().map(_nrows).sum)

            def run_np():
                out = feats.map_batches(_numpy_block, conv, args.alpha)
                return ctx.run(out._block_source().map(_nrows).sum)

            flatten = Pipeline([Flatten()])

            def run_overhead():
                out = flatten.transform(feats)
                return ctx.run(out._block_source().map(_nrows).sum)

            run_mli()  # warm the workers (numba cache, imports)
            run_np()
            t_s, n_s = median_time(run_mli, args.repeats)
            t_sn, _ = median_time(run_np, args.repeats)
            t_o, _ = median_time(run_overhead, args.repeats)
            assert n_s == len(images)
            rows.append((f"Spark {args.master}", "mli", t_s))
            rows.append((f"Spark {args.master}", "numpy", t_sn))
            overhead = t_o

    print()
    print(f"{'where':<18}{'implementation':<16}{'seconds':>9}{'images/s':>11}"
          f"{'vs numpy':>10}")
    base = {}
    for where, impl, t in rows:
        if impl == "numpy":
            base[where] = t
    for where, impl, t in rows:
        ratio = base[where] / t
        print(f"{where:<18}{impl:<16}{t:>9.2f}{len(images) / t:>11,.0f}{ratio:>9.1f}x")
    if overhead is not None:
        print(f"(Spark rows include the table path's fixed cost: Flatten alone takes "
              f"{overhead:.2f}s -- column select, resident blocks, job)")
    print(f"\nmax relative difference mli vs numpy features: {err:.1e}")

    t, tn = stage_breakdown(images, conv, args.alpha)
    n = min(2000, len(images))
    print(f"\nper stage, 1 core, {n} images (microseconds per image):")
    print(f"{'stage':<16}{'mli':>8}{'numpy':>8}{'vs numpy':>10}")
    for key in t:
        print(f"{key:<16}{1e6 * t[key] / n:>8.0f}{1e6 * tn[key] / n:>8.0f}"
              f"{tn[key] / t[key]:>9.1f}x")


def _nrows(block):
    return block.shape[0]


if __name__ == "__main__":
    main()
