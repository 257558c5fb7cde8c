#!/usr/bin/env python
"""Benchmark of categorical columns (issue 20, "Measure"), side by side on the same files.

    python scripts/make_flights_like.py --rows 1000000 --out bench-data/flights-1M.parquet
    python scripts/make_flights_like.py --rows 10000000 --out bench-data/flights-10M.parquet
    python scripts/bench_categorical.py bench-data/flights-1M.parquet bench-data/flights-10M.parquet \\
        --json scripts/results/bench_categorical.json
    python scripts/bench_categorical.py FILE --only scan,reference      # parts, comma-separated

Parts (``--only``; default all):

scan
    The floors. A raw pyarrow scan, one row group at a time (``ParquetFile.read_row_group``,
    categorical columns read as dictionary arrays), decoding what a training pass needs: the
    numeric columns into one float64 (n, p) numpy matrix, the label into float64, and each
    categorical column into int32 codes of a file-wide level table (each row group's dictionary
    is mapped onto it: dictionary indices -> remap[indices]). ``scan all`` (numeric +
    categorical + label) is the floor an SGD epoch is compared to (target <= 1.3x);
    ``scan numeric`` (numeric + label) is one pass over the numeric columns only. Median of
    ``--repeat`` runs after one untimed warm-up read (page cache warm for every contender).

reference
    The in-memory optimum of the objective on the first ``--reference-rows`` rows::

        J(w, u, b) = mean_i [log(1 + exp(z_i)) - y_i z_i] + (l2/2) (||w||^2 + sum_c ||u_c||^2)
        z_i = sum_j w_j (x_ij - mean_j) / std_j + sum_c u_c[level of row i in column c] + b

    std the population std (scikit-learn's StandardScaler), one-hot columns not standardized,
    the bias not penalised, ``l2`` = 1/n unless ``--l2``. Two independent solvers:
    scikit-learn ``ColumnTransformer(StandardScaler on numeric, OneHotEncoder(handle_unknown=
    "ignore") on categorical)`` (scipy sparse) + ``LogisticRegression(C = 1/(l2 n))``, and glum
    ``GeneralizedLinearRegressor(family="binomial", alpha=l2, l1_ratio=0)`` on the standardized
    numeric columns + pandas ``category`` columns (glum's objective is the same: half the
    binomial deviance per row = the mean log loss). J and the gradient's max norm are
    evaluated HERE (float64 numpy) at each solver's weights; the two must agree. glum's
    default solver here (irls-ls: dense Newton, 5 iterations) reaches a gradient of ~1e-14
    and is the faster of the two at 11k weights (1M rows: 133 s against scikit-learn lbfgs's
    388 s, 2428 iterations, gradient 1e-7, J 1.6e-11 above); ``--sklearn-solver
    newton-cholesky`` is the exact scikit-learn alternative (a dense 11k x 11k Hessian). The reference
    runs on every file of at most ``--reference-rows`` rows (else on the first file's first
    rows): the gaps of streamneuron and Spark are shown where the reference covers their file.

spark
    Spark MLlib end to end on the same file and objective, ``local[2]``: read, StringIndexer
    (frequencyDesc, one pass), OneHotEncoder(dropLast=False), StandardScaler(withMean, withStd)
    on the numeric block only, VectorAssembler, LogisticRegression(regParam=l2,
    elasticNetParam=0, standardization=False, fitIntercept=True, tol=``--spark-tol``).
    The wall time covers everything from ``spark.read`` to the fitted model (the session's
    start-up is shown apart). Spark's StandardScaler divides by the SAMPLE std: its weights are
    mapped onto the population scale (w * s_pop / s_sample) and J evaluated here; the problem
    Spark solves differs from ours only by the factor (n-1)/n on the numeric block's penalty
    (a relative change of J far below 1e-9 at 1M rows). Passes = Spark jobs in the job group.
    Spark runs before the reference is loaded (the JVM and the in-memory problem are never
    large together; at 10M rows a run holding both was killed), its weights kept until J can
    be evaluated. Install: ``pip install pyspark`` (4.x, tried 4.3.0; needs Java 17,
    ``java -version``).

streamneuron
    ``python -m streamneuron train FILE --label y --categorical c10,... --max-levels N
    --mode newton|lbfgs|sgd --l2 L2 -o M.json --json --quiet`` in a fresh subprocess per run
    (``--modes``), plus ``num-newton``: newton on the numeric columns only (``--features``),
    the denominator of "one newton pass with categoricals / one over the numeric columns"
    (target <= 1.5x). Wall time, peak RSS (the child's high-water mark from ``/usr/bin/time``),
    passes and objective from the --json output; J recomputed here from the model file when
    its categorical levels can be read. A run that fails (the feature not landed yet) is
    recorded as "not available" with its error line. Peak RSS growth between the smallest
    and largest file (target <= 1.15x for 1M -> 10M rows).

Targets checked at the end (issue 20): newton <= 12 passes and gap <= 1e-6; newton pass
ratio <= 1.5; SGD epoch / scan all <= 1.3; streamneuron newton wall / Spark wall <= 0.25;
RSS growth <= 1.15.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("scan", "reference", "spark", "streamneuron")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Columns and the in-memory problem
# --------------------------------------------------------------------------


@dataclass
class Columns:
    numeric: list[str]
    categorical: list[str]
    label: str


def columns_of(path: str, label: str, categorical: str | None) -> Columns:
    """Numeric: float/integer columns but the label; categorical: string/dictionary ones."""
    schema = pq.ParquetFile(path).schema_arrow
    def is_text(t):
        return (pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_dictionary(t))
    cats = (categorical.split(",") if categorical
            else [f.name for f in schema if f.name != label and is_text(f.type)])
    num = [f.name for f in schema if f.name != label and f.name not in cats
           and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    return Columns(num, cats, label)


@dataclass
class Problem:
    """The first n rows in memory: standardized numeric block, level codes, labels."""
    n: int
    l2: float
    mean: np.ndarray
    std: np.ndarray
    Xs: np.ndarray
    levels: list[np.ndarray]   # per categorical column, the level strings (object)
    codes: list[np.ndarray]    # per categorical column, int32 codes into levels
    y: np.ndarray
    covers_file: bool


def load_problem(path: str, cols: Columns, rows: int, l2: float | None) -> Problem:
    f = pq.ParquetFile(path, read_dictionary=cols.categorical)
    tables, have = [], 0
    for i in range(f.metadata.num_row_groups):
        if have >= rows:
            break
        t = f.read_row_group(i, columns=cols.numeric + cols.categorical + [cols.label])
        tables.append(t)
        have += t.num_rows
    table = pa.concat_tables(tables).slice(0, rows)
    n = table.num_rows
    X = np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in cols.numeric])
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    X -= mean
    X /= std
    levels, codes = [], []
    for c in cols.categorical:
        cat = table.column(c).to_pandas().astype("category")
        levels.append(np.asarray(cat.cat.categories, dtype=object))
        codes.append(cat.cat.codes.to_numpy().astype(np.int32))
    y = table.column(cols.label).to_numpy().astype(np.float64)
    return Problem(n, 1.0 / n if l2 is None else l2, mean, std, X, levels, codes, y,
                   covers_file=n == f.metadata.num_rows)


@dataclass
class Point:
    """Weights in the problem's own parametrization (population-standardized numeric)."""
    w: np.ndarray
    u: list[np.ndarray]
    b: float
    extra_sq: float = 0.0   # squared weights of levels the problem never sees (penalty only)


def point_from(prob: Problem, mean, scale, w, b, level_maps: list[dict]) -> Point:
    """Map a model's function onto the problem's scale (exactly the same predictions).

    sum_j w_j (x_j - m_j)/s_j = sum_j (w_j std_j/s_j) x~_j + sum_j w_j (mean_j - m_j)/s_j.
    """
    mean, scale, w = (np.asarray(a, dtype=np.float64) for a in (mean, scale, w))
    wt = w * prob.std / scale
    bt = float(b) + float(np.sum(w * (prob.mean - mean) / scale))
    u, extra = [], 0.0
    for levels, lm in zip(prob.levels, level_maps):
        u.append(np.array([lm.get(v, 0.0) for v in levels], dtype=np.float64))
        seen = set(levels.tolist())
        extra += sum(v * v for k, v in lm.items() if k not in seen)
    return Point(wt, u, bt, extra)


def margin(prob: Problem, p: Point) -> np.ndarray:
    z = prob.Xs @ p.w + p.b
    for u, codes in zip(p.u, prob.codes):
        z += u[codes]
    return z


def objective(prob: Problem, p: Point) -> float:
    z = margin(prob, p)
    loss = float(np.mean(np.logaddexp(0.0, z) - prob.y * z))
    sq = float(p.w @ p.w) + sum(float(u @ u) for u in p.u) + p.extra_sq
    return loss + 0.5 * prob.l2 * sq


def grad_norm(prob: Problem, p: Point) -> float:
    """Max |dJ/dtheta| over w, every level weight and b (0 at the optimum)."""
    r = 1.0 / (1.0 + np.exp(-margin(prob, p))) - prob.y
    g = [prob.Xs.T @ r / prob.n + prob.l2 * p.w, np.array([r.mean()])]
    for u, codes in zip(p.u, prob.codes):
        g.append(np.bincount(codes, weights=r, minlength=len(u)) / prob.n + prob.l2 * u)
    return float(max(np.max(np.abs(a)) for a in g))


# --------------------------------------------------------------------------
# scan floors
# --------------------------------------------------------------------------


def scan(path: str, cols: Columns, with_categorical: bool) -> tuple[float, int]:
    """Seconds of one decoding pass (see the module docstring); rows seen."""
    start = time.perf_counter()
    cats = cols.categorical if with_categorical else []
    f = pq.ParquetFile(path, read_dictionary=cats)
    tables: list[dict] = [{} for _ in cats]   # level -> file-wide code
    rows = 0
    for i in range(f.metadata.num_row_groups):
        t = f.read_row_group(i, columns=cols.numeric + cats + [cols.label])
        X = np.empty((t.num_rows, len(cols.numeric)), dtype=np.float64)
        for j, c in enumerate(cols.numeric):
            X[:, j] = t.column(c).to_numpy()
        y = t.column(cols.label).to_numpy().astype(np.float64)
        for c, table in zip(cats, tables):
            parts = []
            for chunk in t.column(c).chunks:
                dictionary = chunk.dictionary.to_pylist()
                remap = np.fromiter((table.setdefault(v, len(table)) for v in dictionary),
                                    dtype=np.int32, count=len(dictionary))
                idx = chunk.indices.to_numpy(zero_copy_only=False)
                parts.append(remap[idx])
            codes = np.concatenate(parts) if parts else np.empty(0, np.int32)
            assert len(codes) == len(y)
        rows += len(y)
        del X, y, t
    return time.perf_counter() - start, rows


def run_scans(path: str, cols: Columns, repeat: int) -> dict:
    scan(path, cols, True)  # warm-up, untimed
    out = {}
    for name, with_cat in (("scan_all", True), ("scan_numeric", False)):
        times = [scan(path, cols, with_cat)[0] for _ in range(repeat)]
        out[name] = {"median_s": statistics.median(times), "all_s": times}
        log(f"  {name}: {out[name]['median_s']:.3f}s (median of {repeat})")
    return out


# --------------------------------------------------------------------------
# reference optimum: scikit-learn and glum
# --------------------------------------------------------------------------


def frame(prob: Problem, cols: Columns, standardized: bool):
    import pandas as pd

    data = {c: (prob.Xs[:, j] if standardized else prob.Xs[:, j] * prob.std[j] + prob.mean[j])
            for j, c in enumerate(cols.numeric)}
    for c, levels, codes in zip(cols.categorical, prob.levels, prob.codes):
        data[c] = pd.Categorical.from_codes(codes, categories=levels)
    return pd.DataFrame(data)


def ref_sklearn(prob: Problem, cols: Columns, solver: str, tol: float) -> dict:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = frame(prob, cols, standardized=False)   # raw numeric: the pipeline standardizes
    start = time.perf_counter()
    ct = ColumnTransformer([("num", StandardScaler(), cols.numeric),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), cols.categorical)],
                           sparse_threshold=1.0)
    X = ct.fit_transform(df)
    t_encode = time.perf_counter() - start
    lr = LogisticRegression(C=1.0 / (prob.l2 * prob.n), solver=solver, tol=tol, max_iter=10000)
    lr.fit(X, prob.y)
    seconds = time.perf_counter() - start
    coef = lr.coef_.ravel()
    p = len(cols.numeric)
    sc = ct.named_transformers_["num"]
    ohe = ct.named_transformers_["cat"]
    maps, at = [], p
    for cats in ohe.categories_:
        maps.append(dict(zip(cats.tolist(), coef[at:at + len(cats)].tolist())))
        at += len(cats)
    point = point_from(prob, sc.mean_, sc.scale_, coef[:p], lr.intercept_[0], maps)
    return {"seconds": seconds, "encode_seconds": t_encode, "iterations": int(lr.n_iter_[0]),
            "weights": X.shape[1], "solver": solver, "point": point}


def ref_glum(prob: Problem, cols: Columns, tol: float, solver: str) -> dict:
    from glum import GeneralizedLinearRegressor

    df = frame(prob, cols, standardized=True)
    start = time.perf_counter()
    m = GeneralizedLinearRegressor(family="binomial", alpha=prob.l2, l1_ratio=0.0,
                                   fit_intercept=True, drop_first=False, gradient_tol=tol,
                                   max_iter=1000, scale_predictors=False, solver=solver)
    m.fit(df, prob.y)
    seconds = time.perf_counter() - start
    coef = np.asarray(m.coef_, dtype=np.float64)
    names = list(m.feature_names_)
    p = len(cols.numeric)
    assert names[:p] == cols.numeric, names[:p]
    maps, at = [], p
    for c, levels in zip(cols.categorical, prob.levels):
        assert names[at] == f"{c}[{levels[0]}]", (names[at], c, levels[0])
        maps.append(dict(zip(levels.tolist(), coef[at:at + len(levels)].tolist())))
        at += len(levels)
    assert at == len(coef)
    # glum saw the standardized columns: its z = sum_j w_j (x_j - mean_j) / std_j + ...
    point = point_from(prob, prob.mean, prob.std, coef[:p], m.intercept_, maps)
    return {"seconds": seconds, "iterations": int(getattr(m, "n_iter_", -1)),
            "weights": len(coef), "solver": getattr(m, "_solver", "glum"), "point": point}


def run_reference(prob: Problem, cols: Columns, args) -> dict:
    out = {"rows": prob.n, "l2": prob.l2, "covers_file": prob.covers_file}
    runs = {}
    for name in args.references.split(","):
        try:
            r = (ref_sklearn(prob, cols, args.sklearn_solver, args.sklearn_tol)
                 if name == "sklearn" else ref_glum(prob, cols, args.glum_tol, args.glum_solver))
            pt = r.pop("point")
            r["J"] = objective(prob, pt)
            r["grad_max"] = grad_norm(prob, pt)
            r["_point"] = pt
        except Exception as exc:  # noqa: BLE001 -- a benchmark records what failed
            r = {"note": f"failed: {type(exc).__name__}: {exc}"}
        runs[name] = r
        log(f"  reference {name}: " + ", ".join(f"{k} {v}" for k, v in r.items()
                                                 if not k.startswith("_")))
    good = {k: v for k, v in runs.items() if "J" in v}
    if good:
        best = min(good, key=lambda k: good[k]["J"])
        out["J_star"] = good[best]["J"]
        out["J_star_from"] = best
        out["_point"] = good[best]["_point"]
    if len(good) == 2:
        (a, ra), (b, rb) = good.items()
        pa_, pb = ra["_point"], rb["_point"]
        va = np.concatenate([pa_.w, *pa_.u, [pa_.b]])
        vb = np.concatenate([pb.w, *pb.u, [pb.b]])
        out["agreement"] = {"J_rel_diff": abs(ra["J"] - rb["J"]) / min(ra["J"], rb["J"]),
                            "max_abs_weight_diff": float(np.max(np.abs(va - vb))),
                            "max_abs_weight": float(np.max(np.abs(va)))}
        log(f"  agreement {a} vs {b}: {out['agreement']}")
    out["solvers"] = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                      for k, v in runs.items()}
    return out


# --------------------------------------------------------------------------
# Spark MLlib
# --------------------------------------------------------------------------


def spark_session(memory: str):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench_categorical")
             .config("spark.driver.memory", memory)
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_spark(spark, path: str, cols: Columns, l2: float, args) -> dict:
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StandardScaler, StringIndexer, VectorAssembler
    from pyspark.sql.functions import col

    sc = spark.sparkContext
    group = f"bench-cat-{time.time_ns()}"
    sc.setJobGroup(group, "categorical logistic regression")
    start = time.perf_counter()
    df = spark.read.parquet(path)
    idx_cols = [f"{c}__idx" for c in cols.categorical]
    oh_cols = [f"{c}__oh" for c in cols.categorical]
    indexer = StringIndexer(inputCols=cols.categorical, outputCols=idx_cols,
                            stringOrderType="frequencyDesc").fit(df)
    df = indexer.transform(df)
    df = OneHotEncoder(inputCols=idx_cols, outputCols=oh_cols, dropLast=False).fit(df).transform(df)
    df = VectorAssembler(inputCols=cols.numeric, outputCol="num").transform(df)
    scaler = StandardScaler(inputCol="num", outputCol="num_std", withMean=True,
                            withStd=True).fit(df)
    df = scaler.transform(df)
    df = (VectorAssembler(inputCols=["num_std"] + oh_cols, outputCol="features").transform(df)
          .select("features", col(cols.label).cast("double").alias("label")))
    lr = LogisticRegression(regParam=l2, elasticNetParam=0.0, fitIntercept=True,
                            standardization=False, tol=args.spark_tol,
                            maxIter=args.spark_max_iter, family="binomial")
    model = lr.fit(df)
    seconds = time.perf_counter() - start
    sc.setJobGroup("other", "other")
    coef = model.coefficients.toArray().astype(np.float64)
    p = len(cols.numeric)
    maps, at = [], p
    for labels in indexer.labelsArray:
        maps.append(dict(zip(labels, coef[at:at + len(labels)].tolist())))
        at += len(labels)
    history = list(model.summary.objectiveHistory)
    out = {"seconds": seconds, "jobs": len(sc.statusTracker().getJobIdsForGroup(group)),
           "iterations": model.summary.totalIterations, "weights": len(coef),
           "spark_objective": history[-1] if history else None}
    out["_raw"] = (scaler.mean.toArray(), scaler.std.toArray(), coef[:p], model.intercept, maps)
    return out


def score_spark(res: dict, prob: Problem) -> None:
    """J at Spark's weights (sample-std scale mapped onto the problem's), if it covers the file."""
    raw = res.pop("_raw", None)
    if raw is not None and prob is not None and prob.covers_file:
        res["J"] = objective(prob, point_from(prob, *raw))


# --------------------------------------------------------------------------
# streamneuron (CLI, one subprocess per run)
# --------------------------------------------------------------------------


def run_child(argv: list[str], timeout: float) -> tuple[float, float | None, int, str, str]:
    """(wall s, peak RSS MiB, exit code, stdout, stderr) of one subprocess.

    The peak is the kernel's high-water mark of the child as ``/usr/bin/time`` reports it
    (``%M``): time is exec'ed first, and it forks the child from its own small image, so
    the pages of this (large) benchmark process are never counted, as they would be in
    ``os.wait4``'s ``ru_maxrss`` of a child forked from here. Without /usr/bin/time: psutil
    polling every 20 ms (may miss a short peak).
    """
    timer = "/usr/bin/time"
    use_time = os.path.exists(timer)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".time") as tf:
        cmd = [timer, "-f", "%M", "-o", tf.name, *argv] if use_time else argv
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        peak = 0
        try:
            import psutil
            ps = psutil.Process(proc.pid)
        except Exception:  # noqa: BLE001
            ps = None
        while proc.poll() is None:
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
                break
            if not use_time and ps is not None:
                try:
                    peak = max(peak, ps.memory_info().rss)
                except Exception:  # noqa: BLE001
                    pass
            time.sleep(0.02)
        wall = time.perf_counter() - start
        rss = peak / (1 << 20) if peak else None
        if use_time:
            try:
                text = open(tf.name).read().split()
                rss = int(text[-1]) / 1024.0   # KiB
            except (OSError, ValueError, IndexError):
                rss = None
        out.seek(0)
        err.seek(0)
        return (wall, rss, proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"))


def model_point(prob: Problem, path: str, cols: Columns) -> Point | None:
    """Best effort: the model file's function on the problem's scale (None if unreadable)."""
    with open(path) as fh:
        m = json.load(fh)
    feats = list(m["features"])
    w = dict(zip(feats, m["weights"]))
    std = m.get("standardize") or {}
    mean = dict(zip(feats, std.get("mean", [0.0] * len(feats))))
    scale = dict(zip(feats, std.get("scale", [1.0] * len(feats))))
    maps = []
    block = next((m[k] for k in m if "categor" in k.lower()), None)
    for c in cols.categorical:
        entry = None
        if isinstance(block, dict):
            entry = block.get(c)
        elif isinstance(block, list):
            entry = next((e for e in block if isinstance(e, dict)
                          and c in (e.get("column"), e.get("name"))), None)
        if entry is None:
            return None
        if isinstance(entry, dict) and "levels" in entry and "weights" in entry:
            maps.append(dict(zip([str(v) for v in entry["levels"]], entry["weights"])))
        elif isinstance(entry, dict) and all(isinstance(v, (int, float)) for v in entry.values()):
            maps.append({str(k): float(v) for k, v in entry.items()})
        else:
            return None
    num = cols.numeric
    if any(c not in w for c in num):
        return None
    return point_from(prob, [mean[c] for c in num], [scale[c] for c in num],
                      [w[c] for c in num], m["bias"], maps)


def pass_seconds(summary: dict, wall: float) -> float | None:
    """Seconds of one pass: the median of the per-iteration seconds after the first
    (per pass consumed), else wall / passes."""
    hist = summary.get("history") or []
    per = []
    prev = None
    for row in hist:
        p, s = row.get("passes"), row.get("seconds")
        if prev is not None and p is not None and s is not None and p > prev:
            per.append(s / (p - prev))
        prev = p if p is not None else prev
    if per:
        return statistics.median(per)
    passes = summary.get("passes")
    return wall / passes if passes else None


def run_streamneuron(path: str, cols: Columns, mode: str, l2: float, args,
                     workdir: str) -> dict:
    out_model = os.path.join(workdir, f"{abs(hash(path))}-{mode}.json")
    argv = [sys.executable, "-m", "streamneuron", "train", path, "--label", cols.label,
            "-o", out_model, "--json", "--quiet", "--l2", repr(l2)]
    if mode == "num-newton":
        argv += ["--mode", "newton", "--features", ",".join(cols.numeric)]
    else:
        argv += ["--mode", mode, "--categorical", ",".join(cols.categorical),
                 "--max-levels", str(args.max_levels)]
        if args.hash_bits:
            argv += ["--hash-bits", str(args.hash_bits)]
    argv += args.sn_extra.split() if args.sn_extra else []
    runs = []
    for _ in range(args.sn_repeat):
        wall, rss, code, stdout, stderr = run_child(argv, args.timeout)
        if code != 0:
            lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
            return {"available": False, "cmd": " ".join(argv[2:]), "exit": code,
                    "note": f"not available: {lines[-1] if lines else 'exit ' + str(code)}"}
        summary = json.loads(stdout)
        runs.append((wall, rss, summary))
    walls = [r[0] for r in runs]
    wall, rss, summary = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    res = {"available": True, "cmd": " ".join(argv[2:]), "seconds": statistics.median(walls),
           "all_s": walls,
           "peak_rss_mib": max((r[1] for r in runs if r[1] is not None), default=None),
           "model": out_model,
           "passes": summary.get("passes"), "epochs": summary.get("epochs"),
           "iterations": summary.get("iterations"), "converged": summary.get("converged"),
           "objective_reported": summary.get("objective"),
           "pass_seconds": pass_seconds(summary, wall)}
    if mode == "sgd":
        hist = [h.get("seconds") for h in summary.get("history") or [] if h.get("seconds")]
        res["epoch_seconds"] = statistics.median(hist) if hist else None
    return res


def score_streamneuron(res: dict, prob: Problem, cols: Columns) -> None:
    """J of a streamneuron model evaluated here, when the problem covers its file
    (numeric-only models: J of the numeric-only problem, level weights 0)."""
    if not res.get("available") or not prob.covers_file:
        return
    try:
        numeric_only = "--categorical" not in res["cmd"]
        one = Columns(cols.numeric, [], cols.label) if numeric_only else cols
        pt = model_point(prob, res["model"], one)
        if pt is None:
            res["J_note"] = "categorical levels not found in the model file"
            return
        if numeric_only:
            pt.u = [np.zeros(len(lv)) for lv in prob.levels]
        res["J"] = objective(prob, pt)
    except (KeyError, ValueError, TypeError, OSError) as exc:
        res["J_note"] = f"model file not read: {exc}"



# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def fmt(x, spec=".4g") -> str:
    if x is None:
        return "-"
    if isinstance(x, (bool, str, int)):
        return str(x)
    return format(x, spec)


def report(results: dict) -> list[str]:
    """Markdown tables and the targets."""
    lines = []
    for path, r in results["files"].items():
        lines.append(f"\n### {path} ({r['rows']:,} rows, {r['size_mib']:.0f} MiB)\n")
        lines.append("| contender | wall s | passes | J | gap | peak RSS MiB | note |")
        lines.append("|---|---|---|---|---|---|---|")
        ref = r.get("reference") or {}
        Js = ref.get("J_star")
        for name in ("scan_all", "scan_numeric"):
            if name in r.get("scan", {}):
                lines.append(f"| {name} | {fmt(r['scan'][name]['median_s'])} | 1 | | | | "
                             f"median of {len(r['scan'][name]['all_s'])} |")
        for name, s in (ref.get("solvers") or {}).items():
            lines.append(f"| ref {name} ({ref['rows']:,} rows) | {fmt(s.get('seconds'))} | "
                         f"{fmt(s.get('iterations'))} it | {fmt(s.get('J'), '.12g')} | "
                         f"{fmt(None if Js is None or 'J' not in s else (s['J'] - Js) / Js, '.1e')}"
                         f" | | grad max {fmt(s.get('grad_max'), '.1e')} {s.get('note', '')} |")
        sp = r.get("spark")
        if sp:
            gap = None if Js is None or sp.get("J") is None else (sp["J"] - Js) / Js
            lines.append(f"| spark local[2] | {fmt(sp.get('seconds'))} | {fmt(sp.get('jobs'))} jobs"
                         f" | {fmt(sp.get('J'), '.12g')} | {fmt(gap, '.1e')} | | "
                         f"{sp.get('note', '')} its {fmt(sp.get('iterations'))}, own objective "
                         f"{fmt(sp.get('spark_objective'), '.12g')} |")
        for mode, s in (r.get("streamneuron") or {}).items():
            if not s.get("available"):
                lines.append(f"| streamneuron {mode} | | | | | | {s.get('note')} |")
                continue
            J = s.get("J")
            gap = None if Js is None or J is None or mode == "num-newton" else (J - Js) / Js
            lines.append(f"| streamneuron {mode} | {fmt(s['seconds'])} | {fmt(s.get('passes'))} | "
                         f"{fmt(J, '.12g')} | {fmt(gap, '.1e')} | {fmt(s['peak_rss_mib'], '.0f')} | "
                         f"pass {fmt(s.get('pass_seconds'))}s, reported J "
                         f"{fmt(s.get('objective_reported'), '.12g')} |")
        ag = ref.get("agreement")
        if ag:
            lines.append(f"\nsklearn vs glum: J relative difference {ag['J_rel_diff']:.1e}, "
                         f"max |weight difference| {ag['max_abs_weight_diff']:.1e} "
                         f"(max |weight| {ag['max_abs_weight']:.2f})")
    lines.append("\n### Targets (issue 20)\n")
    for t in results["targets"]:
        lines.append(f"- {t}")
    return lines


def targets(results: dict) -> list[str]:
    out = []
    for path, r in results["files"].items():
        sn = r.get("streamneuron") or {}
        scans = r.get("scan") or {}
        ref = r.get("reference") or {}
        nt, nn, sgd = sn.get("newton", {}), sn.get("num-newton", {}), sn.get("sgd", {})
        if nt.get("available"):
            Js, J = ref.get("J_star"), nt.get("J")
            gap = None if Js is None or J is None else (J - Js) / Js
            ok = nt.get("passes") is not None and nt["passes"] <= 12 and gap is not None \
                and gap <= 1e-6
            out.append(f"{path}: newton passes {fmt(nt.get('passes'))} (<= 12), gap "
                       f"{fmt(gap, '.1e')} (<= 1e-6): {'OK' if ok else 'MISS or n/a'}")
        if nt.get("available") and nn.get("available") and nt.get("pass_seconds") \
                and nn.get("pass_seconds"):
            q = nt["pass_seconds"] / nn["pass_seconds"]
            out.append(f"{path}: newton pass with categoricals / numeric only = {q:.2f} "
                       f"(<= 1.5): {'OK' if q <= 1.5 else 'MISS'}")
        if sgd.get("available") and sgd.get("epoch_seconds") and "scan_all" in scans:
            q = sgd["epoch_seconds"] / scans["scan_all"]["median_s"]
            out.append(f"{path}: SGD epoch / scan all = {q:.2f} (<= 1.3): "
                       f"{'OK' if q <= 1.3 else 'MISS'}")
        sp = r.get("spark") or {}
        if nt.get("available") and sp.get("seconds"):
            q = nt["seconds"] / sp["seconds"]
            out.append(f"{path}: streamneuron newton / Spark wall = {q:.2f} (<= 0.25): "
                       f"{'OK' if q <= 0.25 else 'MISS'}")
    files = sorted(results["files"].items(), key=lambda kv: kv[1]["rows"])
    if len(files) >= 2:
        (p0, r0), (p1, r1) = files[0], files[-1]
        for mode, s1 in (r1.get("streamneuron") or {}).items():
            s0 = (r0.get("streamneuron") or {}).get(mode, {})
            if s1.get("peak_rss_mib") and s0.get("peak_rss_mib"):
                q = s1["peak_rss_mib"] / s0["peak_rss_mib"]
                out.append(f"peak RSS {mode}: {s0['peak_rss_mib']:.0f} -> "
                           f"{s1['peak_rss_mib']:.0f} MiB ({r0['rows']:,} -> {r1['rows']:,} "
                           f"rows) = {q:.3f}x (<= 1.15): {'OK' if q <= 1.15 else 'MISS'}")
    return out or ["nothing to check yet (streamneuron runs not available)"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="Parquet files (e.g. from make_flights_like.py)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    ap.add_argument("--label", default="y")
    ap.add_argument("--categorical", default=None,
                    help="categorical columns (default: the string/dictionary columns)")
    ap.add_argument("--l2", type=float, default=None, help="default 1/n, n the file's rows")
    ap.add_argument("--repeat", type=int, default=3, help="scan repeats (median)")
    ap.add_argument("--reference-rows", type=int, default=1_000_000)
    ap.add_argument("--references", default="sklearn,glum")
    ap.add_argument("--sklearn-solver", default="lbfgs")
    ap.add_argument("--sklearn-tol", type=float, default=1e-10)
    ap.add_argument("--glum-tol", type=float, default=1e-10)
    ap.add_argument("--glum-solver", default="auto", help="auto (irls-ls here), irls-cd, lbfgs")
    ap.add_argument("--spark-memory", default="4g")
    ap.add_argument("--spark-tol", type=float, default=1e-6)
    ap.add_argument("--spark-max-iter", type=int, default=100)
    ap.add_argument("--modes", default="newton,lbfgs,sgd,num-newton",
                    help="streamneuron runs: newton, lbfgs, sgd, gd, num-newton")
    ap.add_argument("--max-levels", type=int, default=10000)
    ap.add_argument("--hash-bits", type=int, default=None)
    ap.add_argument("--sn-repeat", type=int, default=1)
    ap.add_argument("--sn-extra", default="", help="more train flags, e.g. '--epochs 3'")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        print(f"Error: --only: unknown part(s) {sorted(parts - set(PARTS))}", file=sys.stderr)
        return 2
    for path in args.files:
        if not os.path.exists(path):
            print(f"Error: {path}: no such file", file=sys.stderr)
            return 2
    results = {"args": vars(args), "files": {}}
    sizes = {p: pq.ParquetFile(p).metadata.num_rows for p in args.files}
    ref_files = [p for p in args.files if sizes[p] <= args.reference_rows] or args.files[:1]
    spark = None
    workdir = tempfile.mkdtemp(prefix="bench_categorical-")
    cols_of = {}
    # Phase 1, from a slim process: the scans and the streamneuron subprocesses.
    for path in args.files:
        cols = cols_of[path] = columns_of(path, args.label, args.categorical)
        n = sizes[path]
        l2 = 1.0 / n if args.l2 is None else args.l2
        r = results["files"][path] = {"rows": n, "l2": l2, "numeric": cols.numeric,
                                      "categorical": cols.categorical,
                                      "size_mib": os.path.getsize(path) / (1 << 20)}
        log(f"{path}: {n:,} rows, numeric {cols.numeric}, categorical {cols.categorical}")
        if "scan" in parts:
            r["scan"] = run_scans(path, cols, args.repeat)
        if "streamneuron" in parts:
            r["streamneuron"] = {}
            for mode in args.modes.split(","):
                res = run_streamneuron(path, cols, mode, l2, args, workdir)
                r["streamneuron"][mode] = res
                log(f"  streamneuron {mode}: " + ", ".join(
                    f"{k} {v}" for k, v in res.items() if k not in ("cmd", "model")))
    # Phase 2: Spark (its weights kept), then the in-memory reference and J of every model
    # on it. Spark first: its JVM and the in-memory problem are never large at the same time.
    for path in args.files:
        cols, r = cols_of[path], results["files"][path]
        if "spark" in parts:
            try:
                if spark is None:
                    t0 = time.perf_counter()
                    spark = spark_session(args.spark_memory)
                    results["spark_startup_s"] = time.perf_counter() - t0
                r["spark"] = run_spark(spark, path, cols, r["l2"], args)
            except Exception as exc:  # noqa: BLE001
                r["spark"] = {"note": f"failed: {type(exc).__name__}: {exc}"[:300]}
            log(f"  spark: " + ", ".join(f"{k} {v}" for k, v in r["spark"].items()
                                          if not k.startswith("_")))
    if spark is not None:
        spark.stop()
        spark = None
    for path in args.files:
        cols, r = cols_of[path], results["files"][path]
        if "reference" in parts and path in ref_files:
            log(f"{path}: reference on the first {min(sizes[path], args.reference_rows):,} rows")
            prob = load_problem(path, cols, min(sizes[path], args.reference_rows), args.l2)
            ref = run_reference(prob, cols, args)
            ref.pop("_point", None)
            r["reference"] = ref
            for res in (r.get("streamneuron") or {}).values():
                score_streamneuron(res, prob, cols)
            if r.get("spark"):
                score_spark(r["spark"], prob)
            del prob
        if r.get("spark"):
            r["spark"].pop("_raw", None)
    if spark is not None:
        spark.stop()
    results["targets"] = targets(results)
    print("\n".join(report(results)))
    if args.json:
        if os.path.dirname(args.json):
            os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
