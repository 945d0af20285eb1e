"""Algorithm benchmark: mli against pyspark.ml on the same Spark, data and partitions.

For every algorithm and data set, the time to reach pyspark.ml's result:

* linear models: pyspark.ml fits first (standardization off, the same regularization); its
  coefficients are scored with *our* objective (mean loss + reg * elastic net, evaluated in
  numpy), and mli's solver (its default) stops, through its callback, as soon as its
  objective is at or below that value (+ 1e-6 relative, pyspark.ml's own tolerance); the
  normal equations of LinearRegression are one pass, exact;
* k-means: the same k, iterations, tolerance and k-means|| initialization; the costs are
  printed next to the times;
* Naive Bayes: one pass each; the test accuracies are printed (they are equal).

Times are medians of ``--repeats`` runs (default 3) of mli and of pyspark.ml (one after
the other per algorithm); scikit-learn runs once. mli's time includes ingesting the user's
numpy arrays (``MLTable.from_numpy``, the resident blocks) and the fit; pyspark.ml's time
is its ``fit`` on a cached DataFrame, *not* the DataFrame's construction (printed
separately; built once per data set and reused). The first of mli's runs in each row starts
with no recycled block memory and writes fresh pages; the later runs rewrite the pages the
run before released (``mli.engine.pagepool``, as a user's second table would); the result column
ends with every run's ingestion time.
scikit-learn's single-process time on the same data is the reference line.

Data: ``dense`` 400,000 x 100 float64 (10 Gaussian clusters; a planted logistic model gives
the binary labels and a planted linear model the regression target), ``mnist`` (the t10k
pixels from ../shared/data, scaled to [0, 1]; an 80/20 seeded split), ``text`` a generated
bag of words (200,000 documents, 20,000 words, Zipf frequencies, two classes), all in 4
partitions, Spark local[2].

Run: python bench/bench_algorithms.py [--quick] [--only lr|svm|linreg|kmeans|nb]
         [--partitions 4] [--repeats 3] [--out bench/results/algorithms.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))
ALGORITHMS = ("lr", "svm", "linreg", "kmeans", "nb")


# ---------------------------------------------------------------------------- data


def dense_data(n, d, seed=0):
    from mli.table.datasets import blobs

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((10, d)) * 2.0
    X, _ = blobs(centers, n, seed=rng)
    w = rng.standard_normal(d) / np.sqrt(d)
    z = (X - X.mean(axis=0)) @ w
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    target = X @ w + 0.5 + 0.3 * rng.standard_normal(n)
    return X, y, target


def text_data(n_docs, vocab, seed=0):
    """A bag of words: Zipf word frequencies, class-dependent on 5% of the words."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n_docs) < 0.3).astype(np.float64)
    base = 1.0 / np.arange(1, vocab + 1) ** 1.1
    tilt = np.ones((2, vocab))
    special = rng.choice(vocab, vocab // 20, replace=False)
    tilt[1, special[: len(special) // 2]] = 4.0
    tilt[0, special[len(special) // 2:]] = 4.0
    probs = base * tilt
    probs /= probs.sum(axis=1, keepdims=True)
    lengths = rng.poisson(40, size=n_docs) + 1
    rows = np.repeat(np.arange(n_docs), lengths)
    cls = y.astype(int)[rows]
    cdf = np.cumsum(probs, axis=1)
    words = np.empty(len(rows), dtype=np.int64)
    for c in (0, 1):
        m = cls == c
        words[m] = np.minimum(np.searchsorted(cdf[c], rng.random(m.sum())), vocab - 1)
    X = sp.csr_matrix((np.ones(len(rows)), (rows, words)), shape=(n_docs, vocab))
    X.sum_duplicates()
    return X, y


def mnist_data(seed=0):
    from mli.featurize.idx import read_idx as idx

    base = SHARED / "mnist-t10k"
    if not (base / "t10k-images-idx3-ubyte.gz").exists():
        return None
    X = idx(base / "t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float64) / 255.0
    y = idx(base / "t10k-labels-idx1-ubyte.gz").astype(np.float64)
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:8000], perm[8000:]
    return X[tr], y[tr], X[te], y[te]


def to_df(spark, X, columns, partitions):
    """A cached pyspark.ml DataFrame: label columns + a ``features`` vector column."""
    from pyspark.ml.linalg import Vectors

    if sp.issparse(X):
        X = sp.csr_matrix(X)
        vecs = (Vectors.sparse(X.shape[1], X.indices[X.indptr[i]:X.indptr[i + 1]].tolist(),
                               X.data[X.indptr[i]:X.indptr[i + 1]].tolist())
                for i in range(X.shape[0]))
    else:
        vecs = (Vectors.dense(row) for row in X)
    names = list(columns)
    rows = [tuple(float(columns[c][i]) for c in names) + (v,) for i, v in enumerate(vecs)]
    df = spark.createDataFrame(rows, names + ["features"]).repartition(partitions).cache()
    df.count()
    return df


# ---------------------------------------------------------------------------- objectives


def objective(kind, X, y, coef, intercept, reg):
    """Our objective (mean loss + reg/2 ||w||^2) at given coefficients, in numpy."""
    z = X @ coef.T + intercept
    if kind == "multinomial":
        z = z - z.max(axis=1, keepdims=True)
        loss = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y.astype(int)])
    else:
        z = np.ravel(z)
        s = np.where(y > 0, 1.0, -1.0)
        loss = (np.mean(np.logaddexp(0.0, -s * z)) if kind == "logistic"
                else np.mean(np.maximum(0.0, 1.0 - s * z)))
    return float(loss + 0.5 * reg * np.sum(np.asarray(coef) ** 2))


def timed(fn, repeats=1, after=None):
    """``(median seconds, last output)`` of ``repeats`` calls of ``fn``; ``after(output)``
    runs after each call, untimed (e.g. to drop the data it made resident)."""
    times, out = [], None
    for _ in range(repeats):
        out = None  # the previous run's output (and its data) is released first
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
        if after is not None:
            after(out)
    return float(np.median(times)), out


# ---------------------------------------------------------------------------- runs


class Bench:
    def __init__(self, ctx, partitions, repeats):
        self.ctx, self.P, self.repeats = ctx, partitions, repeats
        self.rows = []

    def ml(self, fn):
        """pyspark.ml's fit, timed (median of the repeats)."""
        return timed(fn, self.repeats)

    def ours(self, make, X, y):
        """Ingest + fit; the blocks are dropped after the timing. The first run starts with
        no recycled block memory (:mod:`mli.engine.pagepool`): its ingestion writes fresh pages,
        the later runs' rewrite the pages of the run before (the note shows every run's)."""
        import mli
        from mli.engine import pagepool

        pagepool.clear()
        ingest, runs = [], []

        def run():
            t0 = time.perf_counter()
            table = mli.MLTable.from_numpy(X, y, num_partitions=self.P, ctx=self.ctx)
            ingest.append(time.perf_counter() - t0)
            model = make().fit(table, label="label" if y is not None else None)
            runs.append(time.perf_counter() - t0)
            return table, model

        t, (_, model) = timed(run, self.repeats, after=lambda out: out[0].unpersist())
        self.ingest, self.runs = ingest, runs
        return t, model

    def add(self, algo, data, ours, ml, sk, note):
        note = (f"{note}; mli runs {', '.join(f'{t:.2f}' for t in self.runs)}s, of which "
                f"ingest {', '.join(f'{t:.2f}' for t in self.ingest)}s")
        first = self.runs[0]  # no recycled block memory yet
        self.rows.append(dict(algo=algo, data=data, ours=ours, ml=ml, sk=sk, note=note,
                              first=first))
        print(f"  {algo:<18s} {data:<8s} mli {ours:8.2f}s  pyspark.ml {ml:8.2f}s  ratio "
              f"{ours / ml:5.2f} (1st run {first / ml:4.2f})  scikit-learn {sk:8.2f}s  {note}",
              flush=True)

    # -- linear classifiers: time to reach pyspark.ml's objective
    def linear(self, algo, data, X, y, df, reg, Xte=None, yte=None):
        from pyspark.ml.classification import LinearSVC
        from pyspark.ml.classification import LogisticRegression as MLLogistic
        from sklearn.linear_model import LogisticRegression as SkLogistic
        from sklearn.svm import LinearSVC as SkSVC

        from mli.algorithms import LinearSVM, LogisticRegression

        k = len(np.unique(y))
        kind = "hinge" if algo == "svm" else ("multinomial" if k > 2 else "logistic")
        if algo == "svm":
            est = LinearSVC(regParam=reg, standardization=False, maxIter=100, tol=1e-6)
        else:
            est = MLLogistic(regParam=reg, standardization=False, maxIter=100, tol=1e-6,
                             family="multinomial" if k > 2 else "binomial")
        t_ml, mlm = self.ml(lambda: est.fit(df))
        if kind == "multinomial":
            coef, icpt = mlm.coefficientMatrix.toArray(), mlm.interceptVector.toArray()
        else:
            coef, icpt = mlm.coefficients.toArray()[None, :], np.array([mlm.intercept])
        # reached: within 1e-6 (relative) of pyspark.ml's objective, its own tolerance
        target = objective(kind, X, y, coef, icpt, reg) * (1 + 1e-6)
        Cls = LinearSVM if algo == "svm" else LogisticRegression
        make = lambda: Cls(reg=reg, max_iter=300, tol=1e-9,  # noqa: E731
                           callback=lambda it, f, s: f <= target)
        t_ours, m = self.ours(make, X, y)
        ours_f = objective(kind, X, y, m.coef_, m.intercept_, reg)
        n = X.shape[0]
        sk = (SkSVC(loss="hinge", C=1 / (reg * n), tol=1e-4, max_iter=2000) if algo == "svm"
              else SkLogistic(C=1 / (reg * n), tol=1e-6, max_iter=100))
        t_sk, _ = timed(lambda: sk.fit(X, y))
        note = f"objective mli {ours_f:.6f} <= pyspark.ml {target:.6f}"
        if Xte is not None:
            note += f"; accuracy {np.mean(m.predict(Xte) == yte):.4f}"
        self.add("LogisticRegression" if algo == "lr" else "LinearSVM", data, t_ours, t_ml,
                 t_sk, note)

    def linreg(self, data, X, target, df, reg):
        from pyspark.ml.regression import LinearRegression as MLLinear
        from sklearn.linear_model import Ridge

        from mli.algorithms import LinearRegression

        est = MLLinear(regParam=reg, standardization=False, solver="normal",
                       labelCol="target")
        t_ml, mlm = self.ml(lambda: est.fit(df))
        t_ours, m = self.ours(lambda: LinearRegression(reg=reg), X, target)
        t_sk, _ = timed(lambda: Ridge(alpha=reg * X.shape[0]).fit(X, target))

        def f(coef, b):
            r = target - X @ coef - b
            return 0.5 * np.mean(r * r) + 0.5 * reg * coef @ coef

        note = (f"objective mli {f(m.coef_, float(m.intercept_)):.6f}, pyspark.ml "
                f"{f(mlm.coefficients.toArray(), mlm.intercept):.6f}")
        self.add("LinearRegression", data, t_ours, t_ml, t_sk, note)

    def kmeans(self, data, X, df, k):
        from pyspark.ml.clustering import KMeans as MLKMeans
        from sklearn.cluster import KMeans as SkKMeans

        from mli.algorithms import KMeans

        est = MLKMeans(k=k, maxIter=20, tol=1e-4, seed=0, initMode="k-means||", initSteps=2)
        t_ml, mlm = self.ml(lambda: est.fit(df))
        # reached: pyspark.ml's training cost (within 1e-6), as the linear models' objective
        target = mlm.summary.trainingCost * (1 + 1e-6)
        t_ours, m = self.ours(lambda: KMeans(k=k, max_iter=20, tol=1e-4, seed=0,
                                             callback=lambda it, cost, s: cost <= target),
                              X, None)
        t_sk, skm = timed(lambda: SkKMeans(n_clusters=k, n_init=1, max_iter=20,
                                           random_state=0).fit(X))
        note = (f"cost mli {m.cost:.6g}, pyspark.ml {mlm.summary.trainingCost:.6g}, "
                f"scikit-learn {skm.inertia_:.6g}")
        self.add("KMeans", data, t_ours, t_ml, t_sk, note)

    def nb(self, data, kind, X, y, df, Xte, yte):
        from pyspark.ml.classification import NaiveBayes as MLNB
        from sklearn.naive_bayes import GaussianNB, MultinomialNB

        from mli.algorithms import NaiveBayes

        t_ml, mlm = self.ml(lambda: MLNB(modelType=kind, smoothing=1.0).fit(df))
        t_ours, m = self.ours(lambda: NaiveBayes(kind=kind), X, y)
        sk = MultinomialNB() if kind == "multinomial" else GaussianNB()
        t_sk, _ = timed(lambda: sk.fit(X, y))
        note = f"accuracy mli {np.mean(m.predict(Xte) == yte):.4f}"
        self.add(f"NaiveBayes ({kind[:5]})", data, t_ours, t_ml, t_sk, note)


def warm_up(ctx, partitions):
    """Compile the numba kernels and start the Python workers (both libraries)."""
    import mli
    from mli.algorithms import KMeans, LinearRegression, LinearSVM, LogisticRegression, NaiveBayes

    rng = np.random.default_rng(9)
    X = np.abs(rng.standard_normal((400, 5)))
    y = (X[:, 0] > X[:, 1]).astype(float)
    for make in (lambda: LogisticRegression(reg=0.01), lambda: LinearSVM(reg=0.01),
                 lambda: LinearRegression(reg=0.01), lambda: NaiveBayes()):
        make().fit(mli.MLTable.from_numpy(X, y, num_partitions=partitions, ctx=ctx),
                   label="label")
        make().fit(mli.MLTable.from_numpy(sp.csr_matrix(X), y, num_partitions=partitions,
                                          ctx=ctx), label="label")
    KMeans(k=3, seed=0).fit(mli.MLTable.from_numpy(X, num_partitions=partitions, ctx=ctx))
    KMeans(k=3, seed=0).fit(mli.MLTable.from_numpy(sp.csr_matrix(X),
                                                   num_partitions=partitions, ctx=ctx))
    from pyspark.ml.classification import LogisticRegression as MLLogistic

    MLLogistic(maxIter=3).fit(to_df(ctx.spark, X, {"label": y}, partitions))


# ---------------------------------------------------------------------------- report


def lines_of_code(path):
    """Lines of a module without docstrings, comments and blank lines."""
    import ast
    import io
    import tokenize

    src = Path(path).read_text()
    doc = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            b = node.body
            if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant) \
                    and isinstance(b[0].value.value, str):
                doc.update(range(b[0].lineno, b[0].end_lineno + 1))
    code = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type not in skip:
            code.update(ln for ln in range(tok.start[0], tok.end[0] + 1) if ln not in doc)
    return len(code)


def print_loc():
    print("\nLines of code (without docstrings, comments, blank lines; kernels not counted)")
    for name, goal in (("logistic_regression", 40), ("linear_svm", 40),
                       ("linear_regression", 40), ("kmeans", 60), ("naive_bayes", 40),
                       ("decision_tree", 150), ("random_forest", 150)):
        print(f"  {name + '.py':<26s} {lines_of_code(ROOT / 'algorithms' / (name + '.py')):4d}"
              f"   (aim <= {goal})")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['algo']}\n{r['data']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(rows)), 5))
    ax.bar(x - 0.2, [r["ours"] for r in rows], 0.4, label="mli (incl. ingest)")
    ax.bar(x + 0.2, [r["ml"] for r in rows], 0.4, label="pyspark.ml (fit only)")
    ax.scatter(x, [r["sk"] for r in rows], marker="_", s=900, color="k", zorder=3,
               label="scikit-learn, one process")
    for xi, r in zip(x, rows):
        ax.text(xi, max(r["ours"], r["ml"]) * 1.15, f"{r['ours'] / r['ml']:.2f}x",
                ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("seconds to pyspark.ml's objective / result (log)")
    ax.set_title("mli vs pyspark.ml, same Spark local[2], same data and partitions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller data (a quick check)")
    ap.add_argument("--only", action="append", choices=ALGORITHMS,
                    help="run only this algorithm (repeatable)")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of mli and pyspark.ml each (the median is reported)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "algorithms.png"))
    args = ap.parse_args(argv)
    only = set(args.only or ALGORITHMS)
    n, n_docs, vocab = (50_000, 20_000, 5_000) if args.quick else (400_000, 200_000, 20_000)

    import mli

    ctx = mli.MLContext("local[2]", app_name="bench-algorithms")
    P = args.partitions
    bench = Bench(ctx, P, max(1, args.repeats))
    print_loc()
    print("\nwarming up (numba kernels, Python workers) ...", flush=True)
    warm_up(ctx, P)
    print(f"load average: {os.getloadavg()}")

    if only & {"lr", "svm", "linreg", "kmeans", "nb"}:
        X, y, target = dense_data(n, 100)
        t, df = timed(lambda: to_df(ctx.spark, X, {"label": y, "target": target}, P))
        print(f"\ndense {n:,} x 100: pyspark.ml DataFrame built in {t:.1f}s (not counted)",
              flush=True)
        cut = int(0.8 * n)
        if "lr" in only:
            bench.linear("lr", "dense", X, y, df, reg=1e-4)
        if "svm" in only:
            bench.linear("svm", "dense", X, y, df, reg=1e-4)
        if "linreg" in only:
            bench.linreg("dense", X, target, df, reg=1e-4)
        if "kmeans" in only:
            bench.kmeans("dense", X, df, k=10)
        if "nb" in only:
            bench.nb("dense", "gaussian", X[:cut], y[:cut],
                     to_df(ctx.spark, X[:cut], {"label": y[:cut]}, P), X[cut:], y[cut:])
        df.unpersist()
        del X, y, target, df

    if only & {"lr", "svm", "nb"}:
        Xt, yt = text_data(n_docs, vocab)
        cut = int(0.8 * n_docs)
        t, df = timed(lambda: to_df(ctx.spark, Xt[:cut], {"label": yt[:cut]}, P))
        print(f"\ntext {n_docs:,} docs x {vocab:,} words ({Xt.nnz:,} non-zeros): DataFrame "
              f"built in {t:.1f}s (not counted)", flush=True)
        if "lr" in only:
            bench.linear("lr", "text", Xt[:cut], yt[:cut], df, reg=1e-4, Xte=Xt[cut:],
                         yte=yt[cut:])
        if "svm" in only:
            bench.linear("svm", "text", Xt[:cut], yt[:cut], df, reg=1e-4, Xte=Xt[cut:],
                         yte=yt[cut:])
        if "nb" in only:
            bench.nb("text", "multinomial", Xt[:cut], yt[:cut], df, Xt[cut:], yt[cut:])
        df.unpersist()

    mn = mnist_data()
    if mn is not None and only & {"lr", "kmeans", "nb"}:
        Xtr, ytr, Xte, yte = mn
        df = to_df(ctx.spark, Xtr, {"label": ytr}, P)
        print("\nMNIST t10k: 8,000 x 784 train, 2,000 test", flush=True)
        if "lr" in only:
            bench.linear("lr", "mnist", Xtr, ytr, df, reg=1e-4, Xte=Xte, yte=yte)
        if "kmeans" in only:
            bench.kmeans("mnist", Xtr, df, k=10)
        if "nb" in only:
            bench.nb("mnist", "multinomial", Xtr, ytr, df, Xte, yte)
        df.unpersist()

    ctx.stop()
    rows = bench.rows
    print(f"\nAlgorithm benchmark ({'quick' if args.quick else 'full'}), Spark local[2], "
          f"{P} partitions; load average {os.getloadavg()[0]:.1f}")
    print(f"{'algorithm':<22s} {'data':<7s} {'mli s':>8s} {'pyspark.ml s':>13s} "
          f"{'ratio':>6s} {'1st run':>8s} {'sklearn s':>10s}  result")
    for r in rows:
        print(f"{r['algo']:<22s} {r['data']:<7s} {r['ours']:8.2f} {r['ml']:13.2f} "
              f"{r['ours'] / r['ml']:6.2f} {r['first'] / r['ml']:8.2f} {r['sk']:10.2f}  "
              f"{r['note']}")
    print("goal: ratio <= 0.5 (mli at most half of pyspark.ml's time); 1st run: mli's first "
          "run (fresh block memory) / pyspark.ml's median")
    if rows:
        plot(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
