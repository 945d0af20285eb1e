"""MNIST: raw pixels vs. Coates & Ng random-convolution features, both + LogisticRegression.

Data: the MNIST test set (10,000 images, ../shared/data/mnist-t10k), split at random (seeded)
into 8,000 training and 2,000 test images. Both pipelines run on MLTables (pixel columns +
label), featurized per partition in Spark::

    raw:   Scale() | Flatten() | LogisticRegression
    conv:  Scale() | Convolver(6x6 patches, ZCA-whitened random-patch filters)
                   | Rectify(alpha=0.25, symmetric) | Pooler(2x2 quadrant sums)
                   | LogisticRegression

Run::

    python examples/mnist.py                      # ~1-3 minutes on 2 cores
    python examples/mnist.py --filters 200 --max-iter 200
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import mli
from mli.algorithms import LogisticRegression
from mli.featurize.image import (Convolver, Flatten, Pooler, Rectify, Scale, read_mnist)

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist-t10k"


class Progress:
    """One status line per step, with the optimizer's iterations updating in place."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def step(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", flush=True)

    def optimizer(self, name: str, max_iter: int):
        tty = sys.stdout.isatty()

        def callback(it, loss, seconds):
            if self.quiet:
                return
            line = (f"[{time.perf_counter() - self.t0:6.1f}s]   {name}: iteration "
                    f"{it:3d}/{max_iter}  loss {loss:.5f}")
            if tty:
                sys.stdout.write("\r" + line + "   ")
                sys.stdout.flush()
            elif it == 1 or it % 25 == 0 or it == max_iter:
                print(line, flush=True)
        return callback

    def end_line(self) -> None:
        if not self.quiet and sys.stdout.isatty():
            sys.stdout.write("\n")


def accuracy(model, table, y) -> float:
    pred = model.predict(table).to_numpy().ravel()
    return float(np.mean(pred == y))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("MNIST_DIR", str(DEFAULT_DATA)))
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--filters", type=int, default=100, help="number of convolution filters")
    ap.add_argument("--patch", type=int, default=6, help="patch (filter) size")
    ap.add_argument("--alpha", type=float, default=0.25, help="rectification threshold")
    ap.add_argument("--reg", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=150)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--skip-raw", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    p = Progress(args.quiet)
    data = read_mnist(args.data)
    train, test = data.split(args.train, args.test, seed=args.seed)
    p.step(f"read {len(data)} images {data.shape} from {args.data}; "
           f"split {len(train)} train / {len(test)} test (seed {args.seed})")

    results: dict = {}
    with mli.MLContext(args.master, app_name="mnist-example") as ctx:
        from mli.engine.context import set_default_context

        set_default_context(ctx)
        ctx.spark  # start Spark now
        p.step(f"Spark started ({args.master})")
        train_t = train.to_table(ctx=ctx)
        test_t = test.to_table(ctx=ctx)

        if not args.skip_raw:
            p.step("raw pixels: Scale | Flatten | LogisticRegression")
            t = time.perf_counter()
            raw = (Scale() | Flatten()
                   | LogisticRegression(reg=args.reg, max_iter=args.max_iter,
                                        callback=p.optimizer("raw", args.max_iter)))
            model = raw.fit(train_t, label="label")
            p.end_line()
            fit_s = time.perf_counter() - t
            acc = accuracy(model, test_t, test.labels)
            results["raw"] = {"accuracy": acc, "fit_seconds": fit_s, "features": 784}
            p.step(f"raw pixels: test accuracy {acc:.4f} (fit {fit_s:.1f}s)")

        p.step(f"conv features: Scale | Convolver({args.filters} filters, {args.patch}x"
               f"{args.patch}) | Rectify({args.alpha}) | Pooler(2x2) | LogisticRegression")
        t = time.perf_counter()
        conv = (Scale()
                | Convolver(num_filters=args.filters, patch_size=args.patch, seed=args.seed)
                | Rectify(alpha=args.alpha)
                | Pooler(grid=2)
                | LogisticRegression(reg=args.reg, max_iter=args.max_iter,
                                     callback=p.optimizer("conv", args.max_iter)))
        model = conv.fit(train_t, label="label")
        p.end_line()
        fit_s = time.perf_counter() - t
        width = model.model_.n_features
        t = time.perf_counter()
        acc = accuracy(model, test_t, test.labels)
        pred_s = time.perf_counter() - t
        results["conv"] = {"accuracy": acc, "fit_seconds": fit_s, "features": width,
                           "predict_images_per_second": len(test) / pred_s}
        p.step(f"conv features: {width} features, test accuracy {acc:.4f} (fit {fit_s:.1f}s, "
               f"featurize+predict {len(test) / pred_s:.0f} images/s)")

    print()
    print(f"{'features':<28}{'width':>8}{'accuracy':>10}{'fit s':>8}")
    for name, label in (("raw", "raw pixels"), ("conv", "random conv (Coates-Ng)")):
        if name in results:
            r = results[name]
            print(f"{label:<28}{r['features']:>8}{r['accuracy']:>10.4f}{r['fit_seconds']:>8.1f}")
    return results


if __name__ == "__main__":
    main()
