"""ALS benchmark: mli's ALS against pyspark.ml's ALS and the ``implicit`` library.

Everything runs in ONE process on ONE Spark session (``local[2]`` by default): pyspark.ml
and mli share it, the ``implicit`` library runs in this process with ``num_threads=2``.
Times are medians over ``--repeats`` runs after ``--warmup`` untimed runs (numba / JVM
warm-up). Parts (``--parts``):

explicit
    MovieLens 100K ``u1.base`` -> ``u1.test`` (from ``../shared/data/movielens-100k``;
    generated MovieLens-shaped data with a random 80/20 split when absent), rank 10,
    10 iterations, reg 0.1, no biases. pyspark.ml ``ALS(regParam=0.1,
    coldStartStrategy="drop")``: fit time *excluding* building its DataFrame (built and
    cached beforehand); mli: fit time *including* converting the user's pandas DataFrame.
    RMSE on ``u1.test`` over the pairs both can score (unknown movies dropped, as
    ``coldStartStrategy="drop"``), predictions not clipped.
    Goals: mli <= 1/3 of pyspark.ml's time; RMSE no worse (<= pyspark.ml + 0.001).

implicit
    Generated implicit feedback (:func:`mli.table.datasets.implicit_interactions`: 100K users x
    10K items, 2M interactions, power-law degrees, topic-structured tastes, play counts),
    2 interactions per user held out (seeded), rank 32, 5 iterations.

    Two objectives, each run by mli exactly as its peer defines it:

    * pyspark.ml convention: confidence ``1 + alpha r``, ``reg * n_u`` ("count" scaling),
      ``reg=0.1``, ``alpha=1`` -- pyspark.ml ``ALS(implicitPrefs=True)`` vs mli
      ``ALS(implicit=True, solver="cg" | "cholesky")``;
    * implicit-library convention: confidence ``alpha r``, plain ``reg`` (no count
      scaling), ``regularization=0.01``, ``alpha=1`` -- ``implicit.cpu.als.
      AlternatingLeastSquares(factors=32, iterations=5, use_cg=True, num_threads=2)`` vs
      mli ``ALS(implicit=True, solver="cg", reg_scaling="none", confidence_offset=0)``
      (the same objective and the same 3 CG steps per row).

    The ``implicit`` time includes building its CSR matrix from the pandas DataFrame (as
    mli's includes its conversion); pyspark.ml's excludes building its DataFrame.
    precision@10: top-10 items excluding the user's training items, hits among the held-out
    items / 10, averaged over users (``--eval-users``; all by default). mli uses
    ``model.recommend``; the peers' factors are scored by the same top-k kernel.
    Goals: mli (pyspark.ml convention, CG) <= 1/7 of pyspark.ml's time; mli (implicit
    convention) within 2x of implicit's time; mli's precision@10 no worse than either
    (>= 98% of the peer's, i.e. within noise).

scale (opt-in: ``--scale``)
    Generated Netflix-shaped explicit ratings (:func:`mli.table.datasets.netflix_like`: 480,189
    users x 17,770 items, 20M ratings, power-law degrees), rank 20, ``--scale-iters``
    iterations (default 3), one run: seconds per iteration of every mli strategy that can
    hold the data (data_parallel, blocked) and of pyspark.ml, measured the same
    way for all: ``(T(n) - T(1)) / (n - 1)`` from a 1-iteration and an n-iteration fit
    (data preparation and set-up cancel out), after a small warm-up fit.

``--cluster`` runs everything on a two-host standalone cluster started here (a master on
127.0.0.1 and two one-core workers on 127.0.0.2 and 127.0.0.3, each in its own UTS and
mount namespace: tests/cluster.py; needs ``unshare``), this process its driver.

Run: ``python bench/bench_als.py`` (explicit + implicit), ``--parts explicit``,
``--scale`` (adds the 20M part), ``--repeats 5``; writes ``bench/results/als.png`` and
``bench/results/als.json`` (other part selections: ``als_<parts>.png`` / ``.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED = Path(os.environ.get("MLI_SHARED_DATA", ROOT.parent / "shared" / "data"))


# ----------------------------------------------------------------------------- helpers
def timed(fn, repeats, warmup):
    """(median seconds, all seconds, last result) of ``fn()``."""
    for _ in range(warmup):
        fn()
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def say(*a):
    print(*a, flush=True)


def uptime() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


class Rows:
    """The results table: one row per (part, method)."""

    def __init__(self):
        self.rows = []

    def add(self, part, method, seconds, metric_name, metric, note="", runs=None, **extra):
        self.rows.append(dict(part=part, method=method, seconds=seconds,
                              metric_name=metric_name, metric=metric, note=note,
                              runs=runs or [], **extra))

    def get(self, part, method):
        for r in self.rows:
            if r["part"] == part and r["method"] == method:
                return r
        return None

    def table(self) -> str:
        lines = [f"{'part':9s} {'method':44s} {'seconds':>9s} {'metric':>18s}  note",
                 "-" * 100]
        for r in self.rows:
            sec = (("n/a" if r["note"].startswith("n/a") else "failed")
                   if r["seconds"] is None else f"{r['seconds']:9.2f}")
            met = "" if r["metric"] is None else f"{r['metric_name']} {r['metric']:.4f}"
            lines.append(f"{r['part']:9s} {r['method']:44s} {sec:>9s} {met:>18s}  {r['note']}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- explicit
def explicit_part(ctx, rows, goals, args):
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.recommendation import ALS as SparkALS

    from mli.algorithms import ALS
    from mli.apps.movielens import load_ratings

    folder = SHARED / "movielens-100k"
    if (folder / "u1.base").is_file():
        train = load_ratings(folder / "u1.base")[["user", "item", "rating"]]
        test = load_ratings(folder / "u1.test")[["user", "item", "rating"]]
        data = "MovieLens 100K u1.base -> u1.test"
    else:
        from mli.table.datasets import movielens_like

        df = movielens_like(seed=0)
        cut = np.random.default_rng(0).random(len(df)) < 0.8
        train, test = df[cut].reset_index(drop=True), df[~cut].reset_index(drop=True)
        data = "GENERATED MovieLens-shaped data (../shared/data absent), random 80/20"
    say(f"\n[explicit] {data}: {len(train):,} training / {len(test):,} test ratings; "
        "rank 10, 10 iterations, reg 0.1")
    R, W = args.repeats, args.warmup
    spark = ctx.spark
    dtrain = spark.createDataFrame(train).cache()
    dtest = spark.createDataFrame(test).cache()
    dtrain.count(), dtest.count()
    evaluator = RegressionEvaluator(metricName="rmse", labelCol="rating",
                                    predictionCol="prediction")

    spark_als = SparkALS(rank=10, maxIter=10, regParam=0.1, userCol="user", itemCol="item",
                         ratingCol="rating", coldStartStrategy="drop", seed=0)
    t_s, runs_s, m_s = timed(lambda: spark_als.fit(dtrain), R, W)
    rmse_s = evaluator.evaluate(m_s.transform(dtest))
    rows.add("explicit", "pyspark.ml ALS", t_s, "RMSE", rmse_s, "fit; DataFrame prebuilt",
             runs_s)
    say(f"  pyspark.ml: {t_s:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs_s)}), "
        f"RMSE {rmse_s:.4f}")

    ours = ALS(rank=10, max_iter=10, reg=0.1, seed=0)
    t_o, runs_o, m_o = timed(lambda: ours.fit(train), R, W)
    pred = m_o.predict(test, cold_start="drop")
    rmse_o = float(np.sqrt(np.mean((pred.to_numpy() - test.loc[pred.index, "rating"]
                                    .to_numpy()) ** 2)))
    rows.add("explicit", f"mli ALS ({m_o.strategy})", t_o, "RMSE", rmse_o,
             "fit incl. pandas conversion", runs_o)
    say(f"  mli ({m_o.strategy}): {t_o:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs_o)}), "
        f"RMSE {rmse_o:.4f} on {len(pred):,} pairs")
    dtrain.unpersist()
    dtest.unpersist()

    goals.append(("explicit: mli time <= 1/3 of pyspark.ml's", t_o * 3 <= t_s,
                  f"{t_o:.2f} s vs {t_s:.2f} s (ratio 1/{t_s / t_o:.1f})"))
    goals.append(("explicit: mli RMSE no worse than pyspark.ml's (+0.001)",
                  rmse_o <= rmse_s + 1e-3, f"{rmse_o:.4f} vs {rmse_s:.4f}"))


# ----------------------------------------------------------------------------- implicit
def _seen_csr(train, user_ids, item_ids, users_eval):
    """Training items per evaluated user as CSR over item positions (for exclusion)."""
    ui = np.searchsorted(user_ids, train["user"].to_numpy())
    ii = np.searchsorted(item_ids, train["item"].to_numpy())
    order = np.lexsort((ii, ui))
    ui, ii = ui[order], ii[order]
    rows = np.searchsorted(user_ids, users_eval)
    starts = np.searchsorted(ui, rows, side="left")
    ends = np.searchsorted(ui, rows, side="right")
    counts = ends - starts
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pos = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
    return indptr, ii[pos]


def _precision_from_topk(users_eval, items_top, held):
    """precision@k: hits of the (user, item) top lists among the held-out pairs."""
    k = items_top.shape[1]
    key_h = held["user"].to_numpy().astype(np.int64) * (1 << 32) + held["item"].to_numpy()
    key_t = (np.repeat(users_eval.astype(np.int64), k) * (1 << 32)
             + items_top.ravel().astype(np.int64))
    hits = np.isin(key_t, key_h).sum()
    return float(hits) / (k * len(users_eval))


def _precision_factors(U, V, user_ids, item_ids, train, held, users_eval, k=10):
    from mli.algorithms.als.model import topk_scores

    rows = np.searchsorted(user_ids, users_eval)
    ptr, idx = _seen_csr(train, user_ids, item_ids, users_eval)
    top, _ = topk_scores(U[rows], V, k, ptr, idx)
    items = np.where(top >= 0, item_ids[np.maximum(top, 0)], -1)
    return _precision_from_topk(users_eval, items, held)


def _precision_model(model, held, users_eval, k=10):
    rec = model.recommend(users_eval, k=k, exclude_seen=True)
    items = np.full((len(users_eval), k), -1, dtype=np.int64)
    pos = np.searchsorted(users_eval, rec["user"].to_numpy())
    rank = rec.groupby("user").cumcount().to_numpy()
    items[pos, rank] = rec["item"].to_numpy()
    return _precision_from_topk(users_eval, items, held)


def implicit_part(ctx, rows, goals, args):
    from pyspark.ml.recommendation import ALS as SparkALS

    from mli.algorithms import ALS
    from mli.table.datasets import holdout_per_user, implicit_interactions

    t = time.perf_counter()
    df = implicit_interactions(args.users, args.items, args.interactions, seed=0)
    train, held = holdout_per_user(df, 2, min_keep=3, seed=0)
    say(f"\n[implicit] generated {len(df):,} interactions ({args.users:,} users x "
        f"{args.items:,} items) in {time.perf_counter() - t:.1f} s; {len(held):,} held out "
        f"(2 per user); rank 32, 5 iterations")
    R, W = args.repeats, args.warmup
    user_ids = np.unique(train["user"].to_numpy()).astype(np.int64)
    item_ids = np.unique(train["item"].to_numpy()).astype(np.int64)
    users_eval = np.unique(held["user"].to_numpy()).astype(np.int64)
    if args.eval_users and args.eval_users < len(users_eval):
        users_eval = np.sort(np.random.default_rng(1).choice(users_eval, args.eval_users,
                                                             replace=False))
    users_eval = users_eval[np.isin(users_eval, user_ids)]
    say(f"  precision@10 over {len(users_eval):,} users")
    reg_s, alpha_s = args.reg_spark, args.alpha
    reg_i = args.reg_implicit

    # pyspark.ml
    if not args.skip_pyspark:
        spark = ctx.spark
        dtrain = spark.createDataFrame(train).cache()
        dtrain.count()
        sals = SparkALS(rank=32, maxIter=5, regParam=reg_s, alpha=alpha_s, implicitPrefs=True,
                        userCol="user", itemCol="item", ratingCol="rating", seed=0)
        t_s, runs_s, m_s = timed(lambda: sals.fit(dtrain), R, W)
        uf = m_s.userFactors.toPandas().sort_values("id")
        itf = m_s.itemFactors.toPandas().sort_values("id")
        U = np.zeros((len(user_ids), 32), np.float32)
        V = np.zeros((len(item_ids), 32), np.float32)
        U[np.searchsorted(user_ids, uf["id"].to_numpy())] = np.stack(uf["features"].to_numpy())
        V[np.searchsorted(item_ids, itf["id"].to_numpy())] = np.stack(itf["features"].to_numpy())
        p_s = _precision_factors(U, V, user_ids, item_ids, train, held, users_eval)
        rows.add("implicit", f"pyspark.ml ALS (reg {reg_s:g} x count)", t_s, "p@10", p_s,
                 "fit; DataFrame prebuilt", runs_s)
        say(f"  pyspark.ml: {t_s:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs_s)}), "
            f"p@10 {p_s:.4f}")
        dtrain.unpersist()

    # mli, pyspark.ml's objective
    for solver in ("cg", "cholesky"):
        est = ALS(rank=32, max_iter=5, reg=reg_s, alpha=alpha_s, implicit=True,
                  solver=solver, seed=0)
        t_o, runs_o, m_o = timed(lambda: est.fit(train), R, W)
        p_o = _precision_model(m_o, held, users_eval)
        rows.add("implicit", f"mli ALS {solver} (reg {reg_s:g} x count; {m_o.strategy})", t_o,
                 "p@10", p_o, "fit incl. pandas conversion", runs_o, solver=solver,
                 convention="spark")
        say(f"  mli {solver} ({m_o.strategy}): {t_o:.2f} s "
            f"(runs {', '.join(f'{x:.2f}' for x in runs_o)}), p@10 {p_o:.4f}")

    # implicit library and mli with its objective
    if not args.skip_implicit:
        import scipy.sparse as sp
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        u_idx = np.searchsorted(user_ids, train["user"].to_numpy())
        i_idx = np.searchsorted(item_ids, train["item"].to_numpy())

        def fit_implicit():
            Cui = sp.csr_matrix((train["rating"].to_numpy(np.float32), (u_idx, i_idx)),
                                shape=(len(user_ids), len(item_ids)))
            m = AlternatingLeastSquares(factors=32, iterations=5, regularization=reg_i,
                                        alpha=alpha_s, use_cg=True, num_threads=2,
                                        random_state=0)
            m.fit(Cui, show_progress=False)
            return m

        with threadpool_limits(1, "blas"):       # implicit's advice; it uses its own threads
            t_i, runs_i, m_i = timed(fit_implicit, R, W)
        p_i = _precision_factors(np.asarray(m_i.user_factors), np.asarray(m_i.item_factors),
                                 user_ids, item_ids, train, held, users_eval)
        rows.add("implicit", f"implicit lib CG (reg {reg_i:g}, 2 threads)", t_i, "p@10", p_i,
                 "fit incl. building its CSR", runs_i)
        say(f"  implicit: {t_i:.2f} s (runs {', '.join(f'{x:.2f}' for x in runs_i)}), "
            f"p@10 {p_i:.4f}")
    est = ALS(rank=32, max_iter=5, reg=reg_i, alpha=alpha_s, implicit=True, solver="cg",
              reg_scaling="none", confidence_offset=0.0, seed=0)
    t_o2, runs_o2, m_o2 = timed(lambda: est.fit(train), R, W)
    p_o2 = _precision_model(m_o2, held, users_eval)
    rows.add("implicit", f"mli ALS cg (reg {reg_i:g}, implicit's objective)", t_o2, "p@10",
             p_o2, "fit incl. pandas conversion", runs_o2, solver="cg", convention="implicit")
    say(f"  mli cg, implicit's objective ({m_o2.strategy}): {t_o2:.2f} s "
        f"(runs {', '.join(f'{x:.2f}' for x in runs_o2)}), p@10 {p_o2:.4f}")

    # goals
    cg = rows.get("implicit", next(r["method"] for r in rows.rows
                                   if r.get("solver") == "cg" and r.get("convention") == "spark"))
    ours_best = max(r["metric"] for r in rows.rows
                    if r["part"] == "implicit" and r["method"].startswith("mli"))
    if not args.skip_pyspark:
        goals.append(("implicit: mli (CG) time <= 1/7 of pyspark.ml's",
                      cg["seconds"] * 7 <= t_s,
                      f"{cg['seconds']:.2f} s vs {t_s:.2f} s (ratio 1/{t_s / cg['seconds']:.1f})"))
        goals.append(("implicit: mli p@10 no worse than pyspark.ml's (same objective)",
                      cg["metric"] >= 0.98 * p_s, f"{cg['metric']:.4f} vs {p_s:.4f}"))
    if not args.skip_implicit:
        goals.append(("implicit: mli (CG, same objective) within 2x of implicit's time",
                      t_o2 <= 2 * t_i, f"{t_o2:.2f} s vs {t_i:.2f} s (ratio {t_o2 / t_i:.2f})"))
        goals.append(("implicit: mli p@10 no worse than implicit's (same objective)",
                      p_o2 >= 0.98 * p_i, f"{p_o2:.4f} vs {p_i:.4f}"))
        goals.append(("implicit: best mli p@10 no worse than either peer",
                      ours_best >= 0.98 * max(p_i, p_s if not args.skip_pyspark else 0),
                      f"{ours_best:.4f} vs implicit {p_i:.4f}"
                      + ("" if args.skip_pyspark else f", pyspark.ml {p_s:.4f}")))


# ----------------------------------------------------------------------------- scale
def scale_part(ctx, rows, goals, args):
    """Seconds per iteration, the same way for every method: fits with 1 and with n
    iterations, ``(T(n) - T(1)) / (n - 1)`` (removes data preparation and set-up, which
    the 1-iteration fit also pays); a small fit of each kind runs first as warm-up."""
    from pyspark.ml.recommendation import ALS as SparkALS

    from mli.algorithms import ALS
    from mli.table.datasets import netflix_like

    n = max(2, args.scale_iters)
    t = time.perf_counter()
    df = netflix_like(n_ratings=args.scale_ratings, seed=0)
    say(f"\n[scale] generated Netflix-shaped {len(df):,} ratings ({df['user'].nunique():,} "
        f"users x {df['item'].nunique():,} items) in {time.perf_counter() - t:.1f} s; rank 20, "
        f"per iteration = (T({n}) - T(1)) / {n - 1}, one run each")
    small = df.iloc[: 200_000]
    per_iter = {}

    def measure(name, fit):
        try:
            times = {}
            for iters in (1, n):
                t = time.perf_counter()
                fit(iters)
                times[iters] = time.perf_counter() - t
        except Exception as exc:  # noqa: BLE001 - report methods that cannot hold it
            msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            rows.add("scale", name, None, "", None, f"failed ({msg})")
            say(f"  {name}: failed ({msg})")
            return
        s_it = (times[n] - times[1]) / (n - 1)
        note = f"s/iteration; fits: {times[1]:.1f} s (1 it), {times[n]:.1f} s ({n} it)"
        if s_it <= 0:
            rows.add("scale", name, None, "", None, f"n/a (timing noise); {note[13:]}")
            say(f"  {name}: n/a (T(1) >= T({n}): timing noise); {note}")
            return
        per_iter[name] = s_it
        rows.add("scale", name, s_it, "", None, note, [times[1], times[n]])
        say(f"  {name}: {s_it:.2f} s/iteration ({note[13:]})")

    ALS(rank=20, max_iter=1, reg=0.05, seed=0).fit(small)            # warm-up
    for strategy in args.strategies.split(","):
        measure(f"mli ALS {strategy}",
                lambda it, st=strategy: ALS(rank=20, max_iter=it, reg=0.05, seed=0,
                                            strategy=st).fit(df))
    if not args.skip_pyspark:
        spark = ctx.spark
        d = spark.createDataFrame(df).cache()
        d.count()
        kw = dict(rank=20, regParam=0.05, userCol="user", itemCol="item", ratingCol="rating",
                  seed=0)
        SparkALS(maxIter=1, **kw).fit(spark.createDataFrame(small))  # warm-up
        measure("pyspark.ml ALS", lambda it: SparkALS(maxIter=it, **kw).fit(d))
        d.unpersist()
        ours = {k: v for k, v in per_iter.items() if k.startswith("mli")}
        if ours and "pyspark.ml ALS" in per_iter:
            best = min(ours, key=ours.get)
            sp_it = per_iter["pyspark.ml ALS"]
            goals.append(("scale: fastest mli strategy faster per iteration than pyspark.ml",
                          ours[best] < sp_it, f"{best} {ours[best]:.2f} s vs {sp_it:.2f} s "
                          f"(ratio 1/{sp_it / ours[best]:.1f})"))


# ----------------------------------------------------------------------------- chart
def chart(rows: Rows, path: Path, title: str):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    parts = [p for p in ("explicit", "implicit", "scale")
             if any(r["part"] == p and r["seconds"] is not None for r in rows.rows)]
    if not parts:
        return
    fig, axes = plt.subplots(1, len(parts), figsize=(6.2 * len(parts), 4.6), squeeze=False)
    labels = {"explicit": "fit seconds (MovieLens 100K u1, rank 10, 10 it)",
              "implicit": "fit seconds (2M interactions, rank 32, 5 it)",
              "scale": "seconds per iteration (20M ratings, rank 20)"}
    for ax, part in zip(axes[0], parts):
        rs = [r for r in rows.rows if r["part"] == part and r["seconds"] is not None]
        names = [r["method"] for r in rs]
        secs = [r["seconds"] for r in rs]
        colors = ["#d62728" if n.startswith("pyspark") else "#7f7f7f" if n.startswith("implicit")
                  else "#1f77b4" for n in names]
        y = np.arange(len(rs))
        ax.barh(y, secs, color=colors)
        ax.set_yticks(y)
        ax.set_yticklabels(names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel(labels[part], fontsize=8)
        for yi, r in zip(y, rs):
            txt = f" {r['seconds']:.2f}s"
            if r["metric"] is not None:
                txt += f"  {r['metric_name']} {r['metric']:.4f}"
            ax.text(r["seconds"], yi, txt, va="center", fontsize=7)
        if min(secs) > 0:
            ax.set_xlim(min(secs) / 2, max(secs) * 8)
        ax.set_title(part)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="explicit,implicit",
                    help="comma-separated: explicit, implicit, scale (default explicit,implicit)")
    ap.add_argument("--scale", action="store_true", help="also run the 20M-rating part")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--cluster", action="store_true",
                    help="start a two-host standalone cluster here and run on it")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--interactions", type=int, default=2_000_000)
    ap.add_argument("--reg-spark", type=float, default=0.1,
                    help="implicit part, pyspark.ml convention (count-scaled) reg")
    ap.add_argument("--reg-implicit", type=float, default=0.01,
                    help="implicit part, implicit-library convention (unscaled) reg")
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--eval-users", type=int, default=0,
                    help="users evaluated for precision@10 (0: all)")
    ap.add_argument("--scale-ratings", type=int, default=20_000_000)
    ap.add_argument("--scale-iters", type=int, default=3)
    ap.add_argument("--strategies", default="data_parallel,blocked",
                    help="mli strategies in the scale part")
    ap.add_argument("--skip-pyspark", action="store_true")
    ap.add_argument("--skip-implicit", action="store_true", help="skip the implicit library")
    ap.add_argument("--out", default=str(RESULTS), help="folder for als.png / als.json")
    ap.add_argument("--no-chart", action="store_true")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if args.scale and "scale" not in parts:
        parts.append("scale")
    bad = set(parts) - {"explicit", "implicit", "scale"}
    if bad:
        ap.error(f"unknown part(s) {sorted(bad)}")
    if not args.skip_implicit:
        import importlib.util

        if importlib.util.find_spec("implicit") is None:
            print("note: the 'implicit' library is not installed (pip install implicit): its "
                  "rows are skipped", file=sys.stderr)
            args.skip_implicit = True

    import mli
    from mli.engine.context import set_default_context

    load_before = uptime()
    t0 = time.perf_counter()
    cluster = None
    conf = {}
    if args.cluster:
        sys.path.insert(0, str(ROOT / "tests"))
        import cluster as multihost  # tests/cluster.py

        problem = multihost.isolation_problem()
        if problem:
            sys.exit(f"--cluster needs Linux namespaces: {problem}")
        os.environ.update(multihost.base_env())  # the driver on 127.0.0.1
        cluster = multihost.start(
            Path("/tmp") / f"mli-bench-als-{os.getpid()}",
            [("mli-bench-a", "127.0.0.2"), ("mli-bench-b", "127.0.0.3")], memory="5g")
        args.master = cluster.url
        conf = {"spark.executor.memory": "4g", "spark.cores.max": "2"}
    ctx = mli.MLContext(args.master, app_name="bench-als", **conf)
    set_default_context(ctx)
    ctx.spark  # noqa: B018
    if cluster is not None:
        while int(ctx.sc.defaultParallelism) < 2:  # both workers' executors registered
            time.sleep(0.5)
        args.master = f"2-host cluster {cluster.url}"
    say(f"ALS benchmark: Spark {ctx.spark.version} {args.master}; repeats {args.repeats}, "
        f"warm-up {args.warmup}; load average before: {load_before}")
    rows, goals = Rows(), []
    try:
        if "explicit" in parts:
            explicit_part(ctx, rows, goals, args)
        if "implicit" in parts:
            implicit_part(ctx, rows, goals, args)
        if "scale" in parts:
            scale_part(ctx, rows, goals, args)
    finally:
        ctx.stop()
        if cluster is not None:
            cluster.stop()
    load_after = uptime()
    runs = (f"medians of {args.repeats} runs" if parts != ["scale"] else "one run each")
    if "scale" in parts and parts != ["scale"]:
        runs += "; scale: one run each"
    say(f"\nALS benchmark results ({runs}; {args.master}; "
        f"{time.perf_counter() - t0:.0f} s total; load average before {load_before}, "
        f"after {load_after})")
    say(rows.table())
    say("\ngoals")
    for name, ok, figures in goals:
        say(f"  {'goal reached    ' if ok else 'goal NOT reached'}  {name}: {figures}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # als.png / als.json for the default parts; other selections get their own names
    stem = "als" if parts == ["explicit", "implicit"] else "als_" + "_".join(parts)
    if cluster is not None:
        stem += "_cluster"
    (out / f"{stem}.json").write_text(json.dumps(
        {"rows": rows.rows, "goals": [dict(goal=g, reached=bool(ok), figures=f)
                                      for g, ok, f in goals],
         "master": args.master, "repeats": args.repeats, "load_before": load_before,
         "load_after": load_after}, indent=1, default=float))
    if not args.no_chart:
        chart(rows, out / f"{stem}.png", f"mli ALS vs pyspark.ml / implicit ({args.master}, "
                                         f"medians of {args.repeats}; load {load_before})")
        say(f"\nchart: {out / (stem + '.png')}; data: {out / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
