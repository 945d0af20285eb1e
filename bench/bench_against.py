"""mli against an earlier mli: the mli rows of bench_algorithms.py, bench_trees.py,
bench_text.py and bench_als.py, on local[2], this checkout against a git revision.

Both versions are assembled from git as importable trees (``mli/``, with ``algorithms/``
and ``featurize/`` as ``mli.algorithms`` and ``mli.featurize``, as pyproject.toml maps
them) in a temporary directory, and each runs in its own process with that tree first on
``PYTHONPATH``, alternating (reference, current, reference, current...), ``--pairs``
times, so the load of a shared machine hits both alike. Every row is timed ``--repeats``
times after one untimed run, in each process; the table shows the medians over all runs
and their ratio. The rows use fixed iteration counts (tolerance 0), so both versions do
the same work; data as the bench scripts (400,000 x 100 dense, 200,000 generated documents,
the MNIST t10k and MovieLens 100K files of ../shared/data when present, 2M generated
implicit interactions).

Run: python bench/bench_against.py [--ref f295d4f] [--pairs 2] [--repeats 3]
         [--only tree --only ALS]   (rows whose name contains one of the words)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


def assemble(rev: str | None, dest: Path) -> Path:
    """An importable tree of ``rev`` (None: the working tree) under ``dest``."""
    src = dest / "src"
    if rev is None:
        src = ROOT
    else:
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    pkg = dest / "tree" / "mli"
    shutil.copytree(src / "mli", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for sub in ("algorithms", "featurize"):
        shutil.copytree(src / sub, pkg / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "tree"


# ---------------------------------------------------------------------------- rows


def rows(ctx):
    """(name, function) of every row; data made once per process."""
    import mli
    from mli.algorithms import (ALS, DecisionTree, KMeans, LinearRegression, LinearSVM,
                                LogisticRegression, NaiveBayes, RandomForest)

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_algorithms import dense_data, text_data

    def fit(est, X, y, parts=4):
        t = mli.MLTable.from_numpy(X, y, num_partitions=parts, ctx=ctx)
        try:
            est.fit(t, label="label" if y is not None else None)
        finally:
            t.unpersist()

    X, y, target = dense_data(400_000, 100)
    yield "dense LR lbfgs 30 it", lambda: fit(LogisticRegression(reg=1e-3, max_iter=30,
                                                                 tol=0.0), X, y)
    yield "dense SVM 30 it", lambda: fit(LinearSVM(reg=1e-3, max_iter=30, tol=0.0), X, y)
    yield "dense LinReg normal", lambda: fit(LinearRegression(reg=1e-3), X, target)
    yield "dense KMeans k10 20 it", lambda: fit(KMeans(k=10, max_iter=20, tol=0.0, seed=0),
                                                X, None)
    yield "dense NB gaussian", lambda: fit(NaiveBayes(kind="gaussian"), X, y)
    from bench_trees import make_dense

    Xd, yd = make_dense(400_000, 100)
    yield "dense tree d8", lambda: fit(DecisionTree(max_depth=8, max_bins=32, seed=0), Xd, yd)
    Xt, yt = text_data(200_000, 20_000)[:2]
    yield "text LR 30 it", lambda: fit(LogisticRegression(reg=1e-4, max_iter=30, tol=0.0),
                                       Xt, yt)
    yield "text NB multinomial", lambda: fit(NaiveBayes(), Xt, yt)
    if (SHARED / "mnist-t10k").exists():
        from bench_algorithms import mnist_data
        from bench_trees import load_mnist

        Xm, ym = mnist_data()[:2]
        yield "mnist LR multinomial 30 it", lambda: fit(LogisticRegression(
            reg=1e-4, max_iter=30, tol=0.0), Xm, ym)
        Xa, ya, _, _ = load_mnist(0)
        yield "mnist tree d10", lambda: fit(DecisionTree(max_depth=10, max_bins=32, seed=0),
                                            Xa, ya)
        yield "mnist forest 20 d10", lambda: fit(RandomForest(
            n_trees=20, max_depth=10, max_bins=32, seed=0), Xa, ya)
    else:
        print(f"MNIST not under {SHARED}: its rows are skipped", file=sys.stderr)
    if (SHARED / "sms-spam").exists():
        yield from text_rows(ctx)
    else:
        print(f"SMS Spam not under {SHARED}: the featurization rows are skipped",
              file=sys.stderr)
    from mli.table.datasets import implicit_interactions

    if (SHARED / "movielens-100k" / "u1.base").is_file():
        from mli.apps.movielens import load_ratings

        tr = load_ratings(SHARED / "movielens-100k" / "u1.base")[["user", "item", "rating"]]
        yield "ALS explicit ML-100K", lambda: ALS(rank=10, max_iter=10, reg=0.1,
                                                  seed=0).fit(tr)
    df = implicit_interactions(100_000, 10_000, 2_000_000, seed=0)
    yield "ALS implicit 2M cg r32", lambda: ALS(rank=32, max_iter=5, reg=0.1, alpha=1.0,
                                                implicit=True, solver="cg", seed=0).fit(df)


def _nnz(block):
    return int(block.array.nnz)


def text_rows(ctx):
    import mli
    from mli.featurize import TFIDF, HashingTF, Tokenizer
    from bench_text import PATTERN, load_docs

    docs = load_docs(300_000)
    folder = tempfile.mkdtemp(prefix="mli-bench-against-")
    path = os.path.join(folder, "docs.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    table = mli.MLTable.read_text(path, min_partitions=8, ctx=ctx)
    pipe = Tokenizer(PATTERN) | HashingTF(2 ** 18) | TFIDF()

    def fit_then_transform():
        out = pipe.fit(table).transform(table)
        return ctx.run(out._block_source().map(_nnz).sum)

    def fit_transform():
        _model, out = pipe.fit_transform(table)
        n = ctx.run(out._block_source().map(_nnz).sum)
        out._block_source().unpersist()
        return n

    yield "text pipeline fit+transform 300k docs", fit_then_transform
    yield "text pipeline fit_transform 300k docs", fit_transform


def _alias_flat_layout() -> None:
    """The rows import mli's modules by their names in the layered layout (issue #15);
    a reference tree from before it has them flat (``mli.datasets``, ``mli.movielens``,
    ``mli.pagepool``): point the new names at the old modules."""
    import importlib
    import types

    try:
        importlib.import_module("mli.table.datasets")
        return
    except ImportError:
        pass
    for package, names in (("mli.table", ("datasets",)), ("mli.apps", ("movielens",)),
                           ("mli.engine", ("pagepool",))):
        try:
            pkg = importlib.import_module(package)  # mli.table was a module: reuse it
        except ImportError:
            pkg = types.ModuleType(package)
            sys.modules[package] = pkg
        for name in names:
            old = importlib.import_module(f"mli.{name}")
            setattr(pkg, name, old)
            sys.modules[f"{package}.{name}"] = old


def worker(tag: str, repeats: int, only: list[str]) -> None:
    import numpy as np

    import mli

    _alias_flat_layout()
    print(f"{tag}: mli from {os.path.dirname(mli.__file__)}", file=sys.stderr, flush=True)
    ctx = mli.MLContext("local[2]", app_name=f"bench-against-{tag}")
    try:
        for name, fn in rows(ctx):
            if only and not any(w.lower() in name.lower() for w in only):
                continue
            fn()  # untimed: numba caches, Python workers
            runs = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t)
            print(json.dumps({"tag": tag, "row": name, "runs": runs,
                              "median": float(np.median(runs))}), flush=True)
    finally:
        ctx.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="f295d4f",
                    help="the git revision to compare with (default: before the engine "
                    "change of issue #14)")
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pairs < 1 or args.repeats < 1:
        ap.error("--pairs and --repeats must be at least 1")
    if args.worker:
        return worker(args.worker, args.repeats, args.only)
    tmp = Path(tempfile.mkdtemp(prefix="mli-bench-against-"))
    try:
        trees = {args.ref: assemble(args.ref, tmp / "ref"), "current": assemble(None,
                                                                                tmp / "cur")}
    except subprocess.CalledProcessError as exc:
        sys.exit(f"cannot read revision {args.ref!r} from git: {exc.stderr.decode()[:300]}")
    results: dict = {}
    order: list = []
    try:
        for pair in range(args.pairs):
            for tag, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=str(tree))
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tag,
                       "--repeats", str(args.repeats)]
                for w in args.only:
                    cmd += ["--only", w]
                print(f"pair {pair + 1}/{args.pairs}: {tag}", file=sys.stderr, flush=True)
                out = subprocess.run(cmd, env=env, cwd=str(tmp), capture_output=True,
                                     text=True)
                if out.returncode != 0:
                    sys.exit(f"{tag} failed:\n{out.stderr[-3000:]}")
                for line in out.stdout.splitlines():
                    r = json.loads(line)
                    if r["row"] not in order:
                        order.append(r["row"])
                    results.setdefault(r["row"], {}).setdefault(tag, []).extend(r["runs"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nmli rows, local[2]: {args.ref} against this checkout; medians of "
          f"{args.pairs} x {args.repeats} runs per version (alternating processes)")
    print(f"{'row':42s} {args.ref:>10s} {'current':>10s} {'ratio':>7s}")
    for name in order:
        ref, cur = results[name].get(args.ref, []), results[name].get("current", [])
        if ref and cur:
            a, b = statistics.median(ref), statistics.median(cur)
            flag = "  > 1.10" if b / a > 1.10 else ""
            print(f"{name:42s} {a:10.3f} {b:10.3f} {b / a:7.2f}{flag}")


if __name__ == "__main__":
    main()
