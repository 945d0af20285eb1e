"""Text featurization throughput: mli vs scikit-learn vs pyspark.ml, on the same documents.

Documents: the SMS Spam Collection's 5,574 messages replicated to ``--docs`` (default
1,000,000), written once to a temporary text file (one message per line). Every contender
turns them into TF-IDF features over ``--features`` hashed columns (default 2**18),
*fit and transform* (the idf is learned from the same documents):

* scikit-learn, 1 process -- ``HashingVectorizer(alternate_sign=False, norm=None)`` +
  ``TfidfTransformer(norm=None).fit_transform`` (one hashing pass: the counts stay in memory);
* mli, 1 process -- the same stages called in this process on the whole list:
  ``(Tokenizer() | HashingTF())`` then ``TFIDF().fit(counts).transform(counts)``;
* mli fit+transform, Spark -- ``MLTable.read_text(file)`` (the Python workers read their
  byte ranges of the file themselves), ``(Tokenizer() | HashingTF() | TFIDF()).fit(table)``
  then ``model.transform(table)``, forced (counted): two passes over the text, per partition
  in the Python workers (Tokenizer + HashingTF: one numba pass over the bytes);
* mli fit_transform, Spark -- ``pipe.fit_transform(table)``: one pass over the text, the
  hashed counts kept in Spark's cache for the idf fit and the transform;
* pyspark.ml fit+transform, Spark -- ``spark.read.text(file)``, ``Tokenizer`` + ``HashingTF``
  + ``IDF`` fit, then transform written to the ``noop`` sink: two passes over the text, in the
  JVM;
* pyspark.ml, tf cached -- the same with the ``HashingTF`` output cached (one text pass), the
  peer of mli's fit_transform.

Tokenization: scikit-learn and mli use the token pattern ``(?u)\\b\\w\\w+\\b`` (lowercased);
pyspark.ml's ``Tokenizer`` lowercases and splits on whitespace.

Goals (issue #5): mli on Spark >= 2x pyspark.ml's throughput (each mli row against its
pyspark.ml peer); mli per core >= 1/2 of scikit-learn's single-process throughput.

Every contender runs once per round (``--repeats`` rounds, default 3), in turn, so changes in
the load of a shared machine hit all of them alike; the table shows the medians. Before the
mli Spark rows of each round a small untimed fit restarts the Python workers if Spark
stopped them (it does after a minute idle), as pyspark.ml runs on a JVM kept warm.

Run: python bench/bench_text.py [--docs 1000000] [--features 262144] [--partitions 8]
     [--repeats 3] [--skip-pyspark-ml]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "sms-spam" / "SMSSpamCollection"
PATTERN = r"(?u)\b\w\w+\b"


def load_docs(n: int) -> list[str]:
    texts = []
    with open(DATA, encoding="utf-8") as f:
        for line in f:
            label, sep, text = line.rstrip("\n").partition("\t")
            if sep:
                texts.append(text.replace("\r", " "))
    reps = n // len(texts) + 1
    return (texts * reps)[:n]


def _nnz(block):
    return int(block.array.nnz)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=2**18)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-pyspark-ml", action="store_true")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"data not found: {DATA}", file=sys.stderr)
        return 2
    docs = load_docs(args.docs)
    nf = args.features
    print(f"{len(docs):,} documents ({sum(map(len, docs)) / len(docs):.0f} characters on "
          f"average), {nf} hashed features, {args.repeats} round(s), "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    contenders = []  # (name, cores, fn returning nnz or None)

    # ------------------------------------------------------------- scikit-learn
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    def sk():
        hv = HashingVectorizer(n_features=nf, alternate_sign=False, norm=None,
                               token_pattern=PATTERN)
        return TfidfTransformer(norm=None).fit_transform(hv.transform(docs)).nnz

    contenders.append(("scikit-learn (1 process)", 1, sk))

    # ------------------------------------------------------------- mli, in process
    from mli.featurize.text import TFIDF, HashingTF, Tokenizer

    feats = Tokenizer(PATTERN) | HashingTF(nf)
    feats.transform(docs[:100])  # compile/load the numba kernels outside the timing

    def ours_local():
        counts = feats.transform(docs)
        return TFIDF().fit(counts).transform(counts).nnz

    contenders.append(("mli (1 process)", 1, ours_local))

    # ------------------------------------------------------------- Spark
    import mli

    ctx = mli.MLContext("local[2]", app_name="bench-text")
    cores = ctx.default_parallelism
    tmp = tempfile.TemporaryDirectory(prefix="mli-bench-text-")
    path = os.path.join(tmp.name, "docs.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(docs) + "\n")
    size = os.path.getsize(path)

    table = mli.MLTable.read_text(path, min_partitions=args.partitions, ctx=ctx)
    pipe = Tokenizer(PATTERN) | HashingTF(nf) | TFIDF()
    small = mli.MLTable.from_rows([(d,) for d in docs[:1000]], columns=["line"],
                                  num_partitions=2 * cores, ctx=ctx)
    pipe.fit(small)  # warm the Python workers (imports, numba caches)

    def ours_spark():
        model = pipe.fit(table)
        out = model.transform(table)
        return ctx.run(out._block_source().map(_nnz).sum)

    def ours_spark_once():
        model, out = pipe.fit_transform(table)
        n = ctx.run(out._block_source().map(_nnz).sum)
        out._block_source().unpersist()
        return n

    def warm_workers():
        # Spark stops Python workers idle for a minute (a round of the other contenders
        # can take that long); restart them untimed, as the JVM stays warm for pyspark.ml
        pipe.fit(small)

    contenders.append(("mli fit+transform (Spark)", cores, ours_spark))
    contenders.append(("mli fit_transform (Spark)", cores, ours_spark_once))
    warm = {"mli fit+transform (Spark)": warm_workers}

    if not args.skip_pyspark_ml:
        from pyspark.ml.feature import IDF
        from pyspark.ml.feature import HashingTF as SparkHashingTF
        from pyspark.ml.feature import Tokenizer as SparkTokenizer

        spark = ctx.spark
        spark.conf.set("spark.sql.files.maxPartitionBytes",
                       str(max(1 << 20, size // args.partitions + 1)))
        df = spark.read.text(path)

        def spark_ml(cache: bool):
            tok = SparkTokenizer(inputCol="value", outputCol="tokens").transform(df)
            tf = SparkHashingTF(inputCol="tokens", outputCol="tf", numFeatures=nf) \
                .transform(tok)
            if cache:
                tf = tf.cache()
            model = IDF(inputCol="tf", outputCol="tfidf").fit(tf)
            model.transform(tf).select("tfidf").write.format("noop").mode("overwrite") \
                .save()
            if cache:
                tf.unpersist()

        spark_ml(False)  # warm the JVM (JIT) on the same job
        contenders.append(("pyspark.ml fit+transform (Spark)", cores, lambda: spark_ml(False)))
        contenders.append(("pyspark.ml, tf cached (Spark)", cores, lambda: spark_ml(True)))

    # rounds: every contender once per round, so a change in the machine's load (it is
    # shared) hits all of them alike; the medians over the rounds are compared
    times: dict = {name: [] for name, _, _ in contenders}
    nnzs: dict = {}
    for r in range(args.repeats):
        for name, _, fn in contenders:
            if name in warm:
                warm[name]()
            t = time.perf_counter()
            nnzs[name] = fn()
            times[name].append(time.perf_counter() - t)
        print(f"  round {r + 1}: " + ", ".join(f"{name.split(' (')[0]} {ts[-1]:.2f}s"
                                                for name, ts in times.items())
              + f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    ctx.stop()
    tmp.cleanup()
    want = nnzs["scikit-learn (1 process)"]
    for name, n in nnzs.items():
        if n is not None and n != want:
            print(f"  nnz differs: {name} {n:,} vs scikit-learn {want:,}")
    rows = [(name, c, statistics.median(times[name]), nnzs[name]) for name, c, _ in contenders]

    # ------------------------------------------------------------- table
    n = len(docs)
    rate = {name: n / t for name, _, t, _ in rows}
    sk_rate = rate["scikit-learn (1 process)"]
    # mli fit+transform vs pyspark.ml fit+transform; mli fit_transform vs pyspark.ml cached
    peer = {"mli fit+transform (Spark)": "pyspark.ml fit+transform (Spark)",
            "mli fit_transform (Spark)": "pyspark.ml, tf cached (Spark)"}
    print()
    print(f"{len(docs):,} documents, {cores} cores for Spark (local[{cores}]), load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'implementation':34s} {'cores':>5s} {'seconds':>8s} {'docs/s':>10s} "
          f"{'docs/s/core':>12s} {'per core / sklearn':>19s} {'vs pyspark.ml':>14s}")
    for name, c, t, _ in rows:
        r = n / t
        p = rate.get(peer.get(name, ""))
        vs_ml = f"{r / p:13.2f}x" if p else f"{'':14s}"
        print(f"{name:34s} {c:5d} {t:8.2f} {r:10,.0f} {r / c:12,.0f} {r / c / sk_rate:18.2f}x "
              f"{vs_ml}")
    print()
    for ours_name, peer_name in peer.items():
        ours = rate[ours_name]
        p = rate.get(peer_name)
        if p:
            print(f"goal: {ours_name} >= 2x {peer_name}: {ours / p:.2f}x "
                  f"{'(met)' if ours >= 2 * p else '(NOT met)'}")
        print(f"goal: {ours_name} per core >= 0.5x scikit-learn (1 process): "
              f"{ours / cores / sk_rate:.2f}x "
              f"{'(met)' if ours / cores >= 0.5 * sk_rate else '(NOT met)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
