"""Benchmark of the full-pass solvers of ``streamneuron.fit_gd`` (issue 13).

    python scripts/bench_solvers.py --quick              # the four small sets only
    python scripts/bench_solvers.py                      # + the 8M x 32 file, with Spark
    python scripts/bench_solvers.py --no-spark --json out.json
    python scripts/bench_solvers.py --hessian-cost       # gradient-only vs gradient+Hessian pass

What it measures, per dataset x l2 x solver (``newton``, ``lbfgs``, ``gd``; the
solvers the installed ``fit_gd`` does not know are listed as unavailable):

* passes: reads of the data as the model reports them (``info["passes"]``; the
  standardize pass included), and the passes after which the objective first came
  within ``--gap`` (1e-6) of the optimum, read off the per-iteration history;
* gap: ``(J(model) - J*) / J*``, J evaluated HERE, in float64 numpy, on the
  in-memory standardized data at the model's weights (mapped into this script's
  standardization, which agrees with streamneuron's to ~1e-15);
* wall seconds (median of ``--repeat`` runs for the small sets), converged.

The objective, everywhere::

    J(w, b) = mean_i [log(1 + exp(z_i)) - y_i z_i] + (l2/2) ||w||^2,   z = x_std . w + b

with ``x_std = (x - mean) / std`` per column, std the population standard
deviation (1 for a constant column: it is only centred), the bias not penalised.
J* comes from an exact float64 Newton method (with backtracking) run here on the
in-memory data until the gradient norm is below 1e-12. ``scipy`` L-BFGS-B on the
same in-memory problem gives the function evaluations it needs to reach the gap
(the first evaluation within it; ``maxcor`` 10, from zero).

Datasets: scikit-learn breast_cancer (train split ``train_test_split(test_size=0.25,
random_state=0)``, 426 x 30), digits (0-4 vs 5-9, same split, 1347 x 64), the
phishing-like set of ``scripts/bench_l2path.py`` (same split, 8291 x 30), a
generated 200k x 20 AR(1) set (rho = 0.99, ``x_j = rho x_{j-1} + sqrt(1-rho^2) e_j``,
labels from a seeded logistic model) -- all float64 in memory -- and the 8M x 32
float32 file ``streamneuron generate /tmp/benchdata/big.parquet --rows 8000000
--features 32`` (generated here if missing). For the file:

* its standardized copy (float32, written with pyarrow one row group at a time,
  population std) is trained on with ``standardize=False`` by our solvers and by
  Spark MLlib's ``LogisticRegression`` (``local[2]``, regParam = l2,
  elasticNetParam = 0, fitIntercept, standardization=False, ``--spark-tol``,
  maxIter 100); Spark's passes are its jobs (counted by job group through
  ``sc.statusTracker()``);
* our solvers also run on the raw file with ``standardize=True``;
* each of the two problems has its own reference optimum (the copy is the
  standardized data rounded to float32: a slightly different problem).

Our file runs use a LocalCluster of ``--workers`` single-threaded processes started
once (start-up not timed), as Spark's session is started once before its timing.

``--hessian-cost``: seconds of one in-process full pass over in-memory float32
data computing only the gradient, against one that also computes the Hessian, for
several feature counts (needs ``streamneuron.fullpass.sums.partial_sums``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import math
import os
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# OpenBLAS threads spin while they wait: on a shared, loaded machine a threaded
# X.T @ X is 20x slower than a single-threaded one. Set before numpy loads (the
# Dask workers inherit it; their passes are numba kernels, not BLAS).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SOLVERS = ("newton", "lbfgs", "gd")
SMALL = ("breast_cancer", "digits", "phishing_like", "ar1")
BIG_ROWS, BIG_FEATURES = 8_000_000, 32
CHUNK = 1 << 20  # rows per block of the chunked float64 computations


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# The objective and the exact reference, in float64 numpy
# --------------------------------------------------------------------------


def _blocks(n: int):
    for start in range(0, n, CHUNK):
        yield slice(start, min(n, start + CHUNK))


def objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, l2: float) -> float:
    """J(w, b) on standardized float64 ``X`` (summed block by block)."""
    total = 0.0
    for s in _blocks(X.shape[0]):
        z = X[s] @ w + b
        total += float(np.sum(np.logaddexp(0.0, z) - y[s] * z))
    return total / X.shape[0] + 0.5 * l2 * float(w @ w)


def value_and_gradient(X, y, w, b, l2):
    n, d = X.shape
    total, gw, gb = 0.0, np.zeros(d), 0.0
    for s in _blocks(n):
        z = X[s] @ w + b
        total += float(np.sum(np.logaddexp(0.0, z) - y[s] * z))
        r = 0.5 * (1.0 + np.tanh(0.5 * z)) - y[s]  # sigmoid(z) - y, no overflow
        gw += X[s].T @ r
        gb += float(r.sum())
    return total / n + 0.5 * l2 * float(w @ w), gw / n + l2 * w, gb / n


def hessian(X, w, b, l2):
    n, d = X.shape
    H = np.zeros((d + 1, d + 1))
    for s in _blocks(n):
        z = X[s] @ w + b
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        v = p * (1.0 - p)
        Xv = X[s] * v[:, None]
        H[:d, :d] += X[s].T @ Xv
        H[:d, d] += Xv.sum(axis=0)
        H[d, d] += float(v.sum())
    H[d, :d] = H[:d, d]
    H /= n
    H[np.arange(d), np.arange(d)] += l2
    return H


@dataclass
class Reference:
    J: float
    w: np.ndarray
    b: float
    iterations: int
    grad_norm: float
    seconds: float


def newton_reference(X, y, l2, gtol=1e-12, max_iter=100, start_at=None) -> Reference:
    """Exact optimum: Newton with Armijo backtracking (full steps near the optimum),
    from zero or from ``start_at`` (a nearby optimum: fewer iterations)."""
    start = time.perf_counter()
    d = X.shape[1]
    w, b = np.zeros(d), 0.0
    if start_at is not None:
        w, b = start_at.w.copy(), float(start_at.b)
    J, gw, gb = value_and_gradient(X, y, w, b, l2)
    it = 0
    for it in range(1, max_iter + 1):
        g = np.append(gw, gb)
        gnorm = float(np.linalg.norm(g))
        if gnorm < gtol:
            break
        step = np.linalg.solve(hessian(X, w, b, l2), g)
        decrement = float(g @ step)
        t = 1.0
        while True:
            w1, b1 = w - t * step[:d], b - t * step[d]
            J1, gw1, gb1 = value_and_gradient(X, y, w1, b1, l2)
            # Near the optimum J's rounding hides the decrease: take the full step.
            if J1 <= J - 1e-4 * t * decrement or decrement < 1e-14 * abs(J) or t < 1e-10:
                break
            t *= 0.5
        w, b, J, gw, gb = w1, b1, J1, gw1, gb1
    gnorm = float(np.linalg.norm(np.append(gw, gb)))
    return Reference(J, w, b, it, gnorm, time.perf_counter() - start)


class _Reached(Exception):
    pass


def scipy_nfev(X, y, l2, J_star, gap) -> dict:
    """Evaluations scipy's L-BFGS-B needs until one is within ``gap`` of J*."""
    from scipy.optimize import minimize

    d = X.shape[1]
    count = [0]
    best = [math.inf]

    def fun(theta):
        count[0] += 1
        J, gw, gb = value_and_gradient(X, y, theta[:d], float(theta[d]), l2)
        best[0] = min(best[0], J)
        if (J - J_star) / J_star <= gap:
            raise _Reached
        return J, np.append(gw, gb)

    start = time.perf_counter()
    try:
        result = minimize(fun, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                          options={"maxiter": 100000, "maxfun": 1000, "ftol": 0.0, "gtol": 0.0})
        reached = None
        note = f"never ({result.message}); best gap {(best[0] - J_star) / J_star:.1e}"
    except _Reached:
        reached = count[0]
        note = ""
    return {"nfev": reached, "evaluations": count[0], "note": note,
            "seconds": time.perf_counter() - start}


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------


def standardize_stats(X: np.ndarray):
    """Population mean and std per column in float64 (std 1 where it is 0)."""
    mean = X.mean(axis=0, dtype=np.float64)
    m2 = np.zeros(X.shape[1])
    for s in _blocks(X.shape[0]):
        m2 += ((X[s] - mean) ** 2).sum(axis=0)
    std = np.sqrt(m2 / X.shape[0])
    return mean, np.where(std > 0.0, std, 1.0)


@dataclass
class Dataset:
    name: str
    X: np.ndarray  # standardized, float64
    y: np.ndarray  # float64 0/1
    mean: np.ndarray | None  # raw -> standardized (None: the data is used as it is)
    scale: np.ndarray | None
    fit_input: object  # what fit_gd gets: (X_raw, y) or a path
    standardize: bool
    in_memory: bool
    description: str
    refs: dict = field(default_factory=dict)  # l2 -> Reference


def small_dataset(name: str) -> Dataset:
    if name == "ar1":
        n, d, rho = 200_000, 20, 0.99
        rng = np.random.default_rng(13)
        eps = rng.standard_normal((n, d))
        X = np.empty((n, d))
        X[:, 0] = eps[:, 0]
        for j in range(1, d):
            X[:, j] = rho * X[:, j - 1] + math.sqrt(1.0 - rho * rho) * eps[:, j]
        w_true = rng.standard_normal(d)
        w_true *= 2.0 / math.sqrt(float(w_true @ np.cov(X[:20000].T) @ w_true))
        z = X @ w_true + 0.25
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
        desc = f"{n} x {d} AR(1) rho={rho}, logistic labels (seed 13)"
    else:
        from sklearn.datasets import load_breast_cancer, load_digits
        from sklearn.model_selection import train_test_split

        if name == "phishing_like":  # scripts/bench_l2path.py's generated set
            rng = np.random.default_rng(5)
            X_all = rng.choice([-1.0, 0.0, 1.0], size=(11055, 30), p=[0.3, 0.2, 0.5])
            w = np.where(rng.random(30) < 0.3, rng.normal(scale=1.5, size=30), 0.0)
            z = (X_all @ w + 0.8 * X_all[:, 0] * X_all[:, 1] - 0.6 * X_all[:, 2] * X_all[:, 3]
                 + 0.3)
            y_all = (rng.random(11055) < 1 / (1 + np.exp(-z))).astype(np.float64)
        elif name == "breast_cancer":
            data = load_breast_cancer()
            X_all, y_all = data.data, data.target.astype(np.float64)
        else:
            data = load_digits()
            X_all, y_all = data.data, (data.target >= 5).astype(np.float64)
        X, _, y, _ = train_test_split(X_all.astype(np.float64), y_all, test_size=0.25,
                                      random_state=0)
        X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
        desc = f"{X.shape[0]} x {X.shape[1]} train split"
    mean, scale = standardize_stats(X)
    Xs = (X - mean) / scale
    return Dataset(name, Xs, y, mean, scale, (X, y), True, True, desc)


def _parquet_features(path: str):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    names = [n for n in f.schema_arrow.names if n != "y"]
    return f, names


def _row_group(f, names, i):
    t = f.read_row_group(i, columns=names + ["y"])
    X = np.column_stack([t.column(c).to_numpy() for c in names])
    y = t.column("y").to_numpy().astype(np.float64)
    return X, y


def file_moments(path: str):
    """Population mean/std of a Parquet file's features: one streaming pass (Chan merge)."""
    f, names = _parquet_features(path)
    n, mean, m2 = 0, np.zeros(len(names)), np.zeros(len(names))
    for i in range(f.num_row_groups):
        X, _ = _row_group(f, names, i)
        X = X.astype(np.float64)
        k = X.shape[0]
        mk = X.mean(axis=0)
        m2k = ((X - mk) ** 2).sum(axis=0)
        delta = mk - mean
        total = n + k
        mean = mean + delta * (k / total)
        m2 = m2 + m2k + delta ** 2 * (n * k / total)
        n = total
    std = np.sqrt(m2 / n)
    return mean, np.where(std > 0.0, std, 1.0)


def load_file(path: str, mean=None, scale=None):
    """The whole file as standardized float64 (``mean``/``scale`` None: as stored)."""
    f, names = _parquet_features(path)
    n = f.metadata.num_rows
    X = np.empty((n, len(names)))
    y = np.empty(n)
    row = 0
    for i in range(f.num_row_groups):
        Xi, yi = _row_group(f, names, i)
        k = Xi.shape[0]
        X[row:row + k] = Xi
        y[row:row + k] = yi
        row += k
    if mean is not None:
        for s in _blocks(n):
            X[s] -= mean
            X[s] /= scale
    return X, y


def write_standardized(path: str, out: str, mean, scale) -> None:
    """``(x - mean) / scale`` as float32, one row group at a time (pyarrow streaming)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f, names = _parquet_features(path)
    tmp = out + ".tmp"
    schema = pa.schema([(c, pa.float32()) for c in names] + [("y", f.schema_arrow.field("y").type)])
    with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
        for i in range(f.num_row_groups):
            t = f.read_row_group(i, columns=names + ["y"])
            cols = [pa.array(((t.column(c).to_numpy().astype(np.float64) - mean[j]) / scale[j])
                             .astype(np.float32)) for j, c in enumerate(names)]
            writer.write_table(pa.Table.from_arrays(cols + [t.column("y")], schema=schema),
                               row_group_size=t.num_rows)
    os.replace(tmp, out)


def ensure_big(path: str) -> None:
    if os.path.exists(path):
        return
    from streamneuron.generate import generate

    log(f"generating {path} ({BIG_ROWS} x {BIG_FEATURES}) ...")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    generate(path, rows=BIG_ROWS, features=BIG_FEATURES, seed=0)


# --------------------------------------------------------------------------
# Our solvers
# --------------------------------------------------------------------------


def fit_gd_params() -> set:
    import streamneuron as sn

    return set(inspect.signature(sn.fit_gd).parameters)


def available_solvers() -> set:
    params = fit_gd_params()
    return set(SOLVERS) if "solver" in params else {"gd"}


def model_point(model, ds: Dataset):
    """The model's (w, b) in ``ds``'s standardized space, and its own ||w||^2 term's w."""
    w = np.asarray(model.weights, dtype=np.float64)
    b = float(model.bias)
    if model.mean is None:  # trained on the data as given
        if ds.standardize:
            raise RuntimeError("a model without standardization on a raw dataset")
        return w, b, w
    # z = ((x - m') / s') . w + b with x = x_std * s + m  (s, m: this script's)
    w_here = w * ds.scale / model.scale
    b_here = b + float(w @ ((ds.mean - model.mean) / model.scale))
    return w_here, b_here, w


def model_objective(model, ds: Dataset, l2: float) -> float:
    w_here, b_here, w_own = model_point(model, ds)
    J = objective(ds.X, ds.y, w_here, b_here, 0.0)
    return J + 0.5 * l2 * float(w_own @ w_own)


@dataclass
class Run:
    dataset: str
    l2: float
    solver: str
    passes: int | None = None
    passes_to_gap: int | str | None = None
    seconds_to_gap: float | None = None
    gap: float | None = None
    seconds: float | None = None
    seconds_all: list = field(default_factory=list)
    converged: bool | None = None
    iterations: int | None = None
    grad_norm: float | None = None
    note: str = ""
    gd_default_gap: float | None = None
    gd_default_iterations: int | None = None
    gd_gap_at_iter: float | None = None
    lr: float | None = None
    loads: list = field(default_factory=list)  # the 1-minute load average after each timed run
    cpu_all: list = field(default_factory=list)  # CPU seconds of each timed run (all processes)


def _cpu_now(client=None, jvm_pid: int | None = None) -> float:
    """CPU seconds used so far by this process, the Dask workers of ``client`` and the
    JVM ``jvm_pid`` (Spark's): on a loaded machine wall time measures the share of the
    cores a run got, CPU time the work it did."""
    total = time.process_time()
    if client is not None:
        total += sum(client.run(time.process_time).values())
    if jvm_pid is not None:
        import psutil

        t = psutil.Process(jvm_pid).cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _passes_of(model, standardize: bool) -> int:
    info = model.info
    if "passes" in info:
        return int(info["passes"])
    # The gd-only API does not count: one pass per iteration, plus standardization.
    return int(info["iterations"]) + (1 if standardize else 0)


def _history_passes(row: dict, index: int, standardize: bool) -> int:
    """Passes read when ``row`` (the index-th history row, 1-based) was reported."""
    if "passes" in row:
        return int(row["passes"])
    return index + (1 if standardize else 0)


def run_ours(ds: Dataset, l2: float, solver: str, args, client, ref: Reference,
             repeat: int) -> Run:
    import streamneuron as sn

    run = Run(ds.name, l2, solver)
    params = fit_gd_params()
    kwargs = {"loss": "log", "l2": l2, "standardize": ds.standardize, "label": "y"}
    if "solver" in params:
        kwargs["solver"] = solver
    if solver == "gd":
        # One run without a stopping rule gives both gd numbers: the default run's
        # stop (tol on the objective change, max_iter 100) is read off its history.
        kwargs.update(max_iter=args.gd_max_iter, tol=0.0)
    else:
        kwargs.update(tol=args.tol)
        if args.max_iter is not None:
            kwargs["max_iter"] = args.max_iter
    if ds.in_memory and args.small_workers == 0 and "solver" in params:
        kwargs["workers"] = 0
    else:
        kwargs["client"] = client.get()
    target = ref.J * (1.0 + args.gap)
    default_tol = inspect.signature(sn.fit_gd).parameters["tol"].default
    default_iter = args.gd_iter  # fit_gd's default max_iter for gd

    attempt = 0
    lr = 1.0
    failures = []
    to_gap: list[float] = []
    while attempt < repeat:
        rows: list[tuple[float, dict]] = []
        start = time.perf_counter()

        def progress(row):
            rows.append((time.perf_counter() - start, dict(row)))
            if solver != "gd":
                return
            # gd: stop once the gap is reached and the default run's stop is known.
            objs = [r["objective"] for _, r in rows]
            reached = objs[-1] <= target
            k = _default_stop([r for _, r in rows], default_tol, default_iter)
            if reached and k is not None and len(objs) >= max(k, args.gd_iter) + 1:
                raise _Reached

        model = None
        cpu0 = _cpu_now(kwargs.get("client"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = sn.fit_gd(ds.fit_input, progress=progress, lr=lr, **kwargs)
        except _Reached:
            pass
        except sn.DivergenceError as exc:
            if solver == "gd" and lr > 1e-3:  # the default lr is too long: say so, go on
                failures.append(f"lr={lr:g} diverges ({str(exc).split(':')[0]})")
                log(f"{ds.name} l2={l2} gd: {failures[-1]}")
                lr /= 10
                continue
            run.note = f"failed: {type(exc).__name__}: {exc}"
            log(f"{ds.name} l2={l2} {solver}: {run.note}")
            return run
        except Exception as exc:  # report, do not hide, a solver failure
            run.note = f"failed: {type(exc).__name__}: {exc}"
            log(f"{ds.name} l2={l2} {solver}: {run.note}")
            return run
        wall = time.perf_counter() - start
        run.seconds_all.append(wall)
        run.cpu_all.append(round(_cpu_now(kwargs.get("client")) - cpu0, 3))
        run.loads.append(round(os.getloadavg()[0], 2))
        hit = next((i for i, (_, r) in enumerate(rows, 1)
                    if "objective" in r and r["objective"] <= target), None)
        if hit is not None:
            to_gap.append(rows[hit - 1][0])
        attempt += 1
        if attempt > 1:
            continue
        if wall > args.cheap_seconds:
            repeat = 1  # not cheap: one timing only
        # Passes to the gap, from the per-iteration objectives.
        if hit is not None:
            run.passes_to_gap = _history_passes(rows[hit - 1][1], hit, ds.standardize)
        else:
            run.passes_to_gap = "never"
        if solver == "gd":
            objs = [r["objective"] for _, r in rows]
            k = _default_stop([r for _, r in rows], default_tol, default_iter)
            if k is not None and len(objs) >= k + 1:
                run.gd_default_iterations = k
                run.gd_default_gap = (objs[k] - ref.J) / ref.J
            if len(objs) >= args.gd_iter + 1:  # J at the weights after gd_iter steps
                run.gd_gap_at_iter = (objs[args.gd_iter] - ref.J) / ref.J
            run.iterations = len(rows)
            run.passes = _history_passes(rows[-1][1], len(rows), ds.standardize)
            run.gap = (rows[-1][1]["objective"] - ref.J) / ref.J
            run.converged = hit is not None
            run.grad_norm = rows[-1][1].get("grad_norm")
            if hit is None:
                run.note = f"no {args.gap:g} gap in {args.gd_max_iter} iterations"
        else:
            run.passes = _passes_of(model, ds.standardize)
            run.gap = (model_objective(model, ds, l2) - ref.J) / ref.J
            run.converged = bool(model.info.get("converged"))
            run.iterations = model.info.get("iterations")
            run.grad_norm = model.info.get("grad_norm")
    run.seconds = statistics.median(run.seconds_all)
    if to_gap:
        run.seconds_to_gap = statistics.median(to_gap)
    if failures:
        run.lr = lr
        run.note = "; ".join(failures + [f"run with lr={lr:g}"] + ([run.note] if run.note else []))
    if solver == "gd" and run.seconds_to_gap is not None:
        run.seconds = run.seconds_to_gap  # the gd run was stopped a bit later
    return run


def _default_stop(rows, tol, max_iter):
    """Iterations a gd run with the default stopping rule makes, given the history
    rows (objective and gradient norm at w_0, w_1, ...) of a run without one (None:
    not known yet). The rule of ``streamneuron.fullpass.solvers.gd``: the relative objective
    change at most ``tol`` and the gradient norm at most ``sqrt(tol)``."""
    for k in range(2, min(len(rows), max_iter) + 1):
        now, before = rows[k - 1], rows[k - 2]
        if now["grad_norm"] == 0.0 or (
                tol > 0 and abs(now["objective"] - before["objective"]) <= tol * abs(
                    before["objective"]) and now["grad_norm"] <= math.sqrt(tol)):
            return k
    return max_iter if len(rows) >= max_iter else None


# --------------------------------------------------------------------------
# Spark MLlib
# --------------------------------------------------------------------------


def spark_session(memory: str):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench_solvers")
             .config("spark.driver.memory", memory)
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_spark(spark, path: str, ds: Dataset, l2: float, args, ref: Reference) -> Run:
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql.functions import col

    run = Run(ds.name, l2, "spark")
    sc = spark.sparkContext
    df = spark.read.parquet(path)
    names = [c for c in df.columns if c != "y"]
    data = (VectorAssembler(inputCols=names, outputCol="features").transform(df)
            .select("features", col("y").cast("double").alias("label")))
    lr = LogisticRegression(regParam=l2, elasticNetParam=0.0, fitIntercept=True,
                            standardization=False, tol=args.spark_tol,
                            maxIter=args.spark_max_iter, family="binomial")
    group = f"bench-{ds.name}-{l2}-{time.time_ns()}"
    sc.setJobGroup(group, f"LogisticRegression l2={l2}")
    proc = getattr(getattr(sc, "_gateway", None), "proc", None)
    jvm = proc.pid if proc is not None else None
    cpu0 = _cpu_now(jvm_pid=jvm)
    start = time.perf_counter()
    model = lr.fit(data)
    run.seconds = time.perf_counter() - start
    run.seconds_all = [run.seconds]
    run.cpu_all = [round(_cpu_now(jvm_pid=jvm) - cpu0, 3)]
    run.loads = [round(os.getloadavg()[0], 2)]
    sc.setJobGroup("other", "other")
    run.passes = len(sc.statusTracker().getJobIdsForGroup(group))
    w = model.coefficients.toArray().astype(np.float64)
    b = float(model.intercept)
    J = objective(ds.X, ds.y, w, b, l2)
    run.gap = (J - ref.J) / ref.J
    summary = model.summary
    run.iterations = summary.totalIterations
    history = list(summary.objectiveHistory)
    hit = next((i for i, v in enumerate(history) if v <= ref.J * (1 + args.gap)), None)
    run.converged = run.iterations < args.spark_max_iter
    run.note = (f"{len(history)} objectives; Spark's own objective within the gap from entry "
                f"{hit}" if hit is not None else f"Spark's objectiveHistory never within gap "
                f"(last {(history[-1] - ref.J) / ref.J:.1e})" if history else "")
    return run


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def fmt(x, spec=".3g"):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return format(x, spec)


def print_table(title, runs: list[Run], refs: dict, scipy: dict, gd_iter: int = 100):
    print(f"\n### {title}\n")
    print("| dataset | l2 | solver | passes | passes to gap | gap at end | wall s | s to gap "
          "| converged | iters | note |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        gap = fmt(r.gap, ".1e")
        note = r.note
        if r.solver == "gd":
            parts = []
            if r.gd_gap_at_iter is not None:
                parts.append(f"gap after {gd_iter} it: {r.gd_gap_at_iter:.1e}")
            if r.gd_default_gap is not None:
                parts.append(f"default tol stops at {r.gd_default_iterations} it, gap "
                             f"{r.gd_default_gap:.1e}")
            note = "; ".join(parts + ([note] if note else []))
        print(f"| {r.dataset} | {r.l2:g} | {r.solver} | {fmt(r.passes)} | "
              f"{fmt(r.passes_to_gap)} | {gap} | {fmt(r.seconds)} | {fmt(r.seconds_to_gap)} | "
              f"{fmt(r.converged)} | {fmt(r.iterations)} | {note} |")
    print("\nReference (exact float64 Newton) and scipy L-BFGS-B on the same in-memory problem:\n")
    print("| dataset | l2 | J* | Newton its | final grad norm | scipy nfev to gap | "
          "lbfgs bound (nfev + std pass) | newton target |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, l2), ref in refs.items():
        sp = scipy.get((name, l2), {})
        nfev = sp.get("nfev")
        std_pass = 1 if name not in ("big_std",) else 0
        print(f"| {name} | {l2:g} | {ref.J:.12g} | {ref.iterations} | {ref.grad_norm:.1e} | "
              f"{fmt(nfev) if nfev is not None else sp.get('note', '-')} | "
              f"{fmt(None if nfev is None else nfev + std_pass)} | <= 12 |")


def check_targets(runs, scipy, gap):
    lines = []
    for r in runs:
        std_pass = 0 if r.dataset == "big_std" else 1
        p = r.passes_to_gap if isinstance(r.passes_to_gap, int) else None
        if r.solver == "newton":
            ok = p is not None and p <= 12 and (r.gap is not None and r.gap <= gap)
            lines.append(f"newton {r.dataset} l2={r.l2:g}: passes to gap {fmt(r.passes_to_gap)}, "
                         f"passes {fmt(r.passes)}, end gap {fmt(r.gap, '.1e')} -> "
                         f"{'OK' if ok else 'MISS'} (<= 12, gap <= {gap:g})")
        if r.solver == "lbfgs":
            nfev = scipy.get((r.dataset, r.l2), {}).get("nfev")
            bound = None if nfev is None else nfev + std_pass
            ok = p is not None and bound is not None and p <= bound
            # It stops inside the gap, at most 2 passes after the first point inside it.
            prompt = (p is not None and isinstance(r.passes, int) and r.passes - p <= 2
                      and r.gap is not None and r.gap <= gap)
            lines.append(f"lbfgs {r.dataset} l2={r.l2:g}: passes to gap {fmt(r.passes_to_gap)}, "
                         f"passes {fmt(r.passes)} vs scipy nfev + std pass {fmt(bound)} -> "
                         f"{'OK' if ok else 'MISS'}; stops within 2 passes of it, inside -> "
                         f"{'OK' if prompt else 'MISS'}")
    if lines:
        print("\nTargets:\n")
        for line in lines:
            print(f"- {line}")


def print_spark_ratios(runs: list[Run]):
    spark = {r.l2: r for r in runs if r.solver == "spark" and r.seconds is not None}
    if not spark:
        return
    print("\n### Ours ÷ Spark (8M x 32, standardized copy; Spark local[2], ours 2 Dask workers)\n")
    print("| l2 | solver | data | our wall s | Spark wall s | wall ratio | our passes | "
          "Spark jobs | passes ratio | our gap | Spark gap |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        if r.solver == "spark" or r.l2 not in spark or r.dataset not in ("big_std", "big") \
                or r.seconds is None:
            continue
        s = spark[r.l2]
        passes = r.passes_to_gap if r.solver == "gd" else r.passes
        passes = passes if isinstance(passes, int) else None
        print(f"| {r.l2:g} | {r.solver} | {r.dataset} | {r.seconds:.2f} | {s.seconds:.2f} | "
              f"{r.seconds / s.seconds:.3f} | {fmt(passes)} | {s.passes} | "
              f"{fmt(None if passes is None else passes / s.passes, '.2f')} | "
              f"{fmt(r.gap, '.1e')} | {fmt(s.gap, '.1e')} |")
    print("\nWall s: median over the rounds (ours and Spark alternate); each run stops on its "
          "own criterion (ours tol, Spark tol), both reaching the gap. gd: seconds and passes "
          "to the gap.\nTarget (issue 22): newton wall <= 0.15 x Spark's, <= 12 passes.\n")
    for r in runs:  # round by round: the machine's load drifts between rounds
        if r.solver == "spark" or r.l2 not in spark or r.dataset != "big_std" \
                or len(r.seconds_all) != len(spark[r.l2].seconds_all):
            continue
        s = spark[r.l2]
        ratios = ", ".join(f"{a / b:.3f}" for a, b in zip(r.seconds_all, s.seconds_all))
        print(f"- l2 {r.l2:g} {r.solver}: per round {', '.join(f'{a:.2f}' for a in r.seconds_all)} s "
              f"vs Spark {', '.join(f'{b:.2f}' for b in s.seconds_all)} s: wall ratios {ratios} "
              f"(median {statistics.median(a / b for a, b in zip(r.seconds_all, s.seconds_all)):.3f}); "
              f"load after each run ours {r.loads}, Spark {s.loads}")
        if len(r.cpu_all) == len(s.cpu_all) == len(r.seconds_all):
            cpu = [a / b for a, b in zip(r.cpu_all, s.cpu_all)]
            print(f"  CPU s (all processes) ours {r.cpu_all}, Spark {s.cpu_all}: ratios "
                  f"{', '.join(f'{c:.3f}' for c in cpu)} (median {statistics.median(cpu):.3f})")


# --------------------------------------------------------------------------
# Hessian cost
# --------------------------------------------------------------------------


def hessian_cost(args) -> list[dict]:
    """One in-process pass over in-memory float32 data, without and with the Hessian.

    The pass is what a worker runs on data kept in memory:
    ``streamneuron.fullpass.sums.pass_sums`` over decoded units of ``ArraySource``'s default
    size (the fused kernels ``gradient_sums`` / ``gradient_hessian_sums``), one
    thread, standardization applied on the fly. Also the numpy float64 ``X.T @
    (h X)`` the reference Newton uses, for scale.
    """
    try:
        from streamneuron.fullpass import sums as fullpass
        from streamneuron.losses import get_loss
        from streamneuron.fullpass.partitions import already_decoded
        from streamneuron.readers import DecodedUnit
        from streamneuron.readers.arrays import DEFAULT_CHUNK_ROWS
    except (ImportError, AttributeError) as exc:
        print(f"\n### Hessian cost\n\nunavailable: {type(exc).__name__}: {exc}")
        return []
    loss_id = get_loss("log").kernel_id
    results = []
    rng = np.random.default_rng(0)
    print(f"\n### Hessian cost: one in-process pass over up to {args.hessian_rows} float32 "
          f"rows, units of {DEFAULT_CHUNK_ROWS} rows (median of {args.hessian_repeat})\n")
    every = fullpass.SAMPLE_EVERY
    print("| d | rows | gradient s | gradient + Hessian s | ratio | gradient + sampled "
          f"Hessian (1 row in {every}) s | ratio sampled | ns/row gradient | "
          "ns/row gradient + Hessian | ns/row numpy BLAS Hessian only | Newton solve s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for d in args.hessian_d:
        # The Hessian pass is O(d^2) per row: fewer rows for wide data (ns/row is the result).
        n = min(args.hessian_rows, max(20_000, int(2e10 / d ** 2)))
        # Column-major, as the Parquet reader and ArraySource decode.
        X = np.asfortranarray(rng.standard_normal((n, d), dtype=np.float32))
        y = (rng.random(n) < 0.5).astype(np.float64)
        w = rng.standard_normal(d) / math.sqrt(d)
        params = np.concatenate([w, [0.1], np.zeros(d), np.ones(d)])
        names = [f"x{j}" for j in range(d)]
        chunks = [DecodedUnit(X[i:i + DEFAULT_CHUNK_ROWS], y[i:i + DEFAULT_CHUNK_ROWS],
                              f"rows {i}") for i in range(0, n, DEFAULT_CHUNK_ROWS)]

        def sums_decoded(units, params, loss_id, hessian, k=1):
            return fullpass.pass_sums(units, already_decoded, names, params, loss_id, hessian,
                                      k)

        kinds = {False: (False, 1), True: (True, 1), "sampled": (True, every)}
        for h, k in kinds.values():  # compile / warm
            sums_decoded(chunks[:1], params, loss_id, h, k)
        ts: dict = {key: [] for key in kinds}
        for _ in range(args.hessian_repeat):  # side by side: the load drifts alike
            for key, (h, k) in kinds.items():
                t = time.perf_counter()
                sums_decoded(chunks, params, loss_id, h, k)
                ts[key].append(time.perf_counter() - t)
        times = {key: statistics.median(v) for key, v in ts.items()}
        # For comparison: the same curvature sums by BLAS (float64 copy of each unit,
        # X^T diag(h) X as one gemm; single-threaded OpenBLAS, see the top of the file).
        t = time.perf_counter()
        for unit in chunks:
            Xf = unit.X.astype(np.float64)
            h = 0.25 / np.cosh(0.5 * (Xf @ w + 0.1)) ** 2  # p (1 - p)
            (Xf * h[:, None]).T @ Xf
        blas = time.perf_counter() - t
        H = np.eye(d + 1) * 2.0 + 0.01
        from streamneuron.fullpass.solvers import newton_step
        t = time.perf_counter()
        newton_step(H, np.ones(d + 1))  # the client's solve of one Newton step
        solve = time.perf_counter() - t
        row = {"d": d, "rows": n, "gradient": times[False], "hessian": times[True],
               "ratio": times[True] / times[False], "solve": solve, "numpy_blas": blas,
               "sampled": times["sampled"], "ratio_sampled": times["sampled"] / times[False]}
        results.append(row)
        ns = 1e9 / n
        print(f"| {d} | {n} | {times[False]:.4f} | {times[True]:.4f} | {row['ratio']:.2f} | "
              f"{times['sampled']:.4f} | {row['ratio_sampled']:.2f} | "
              f"{times[False] * ns:.1f} | {times[True] * ns:.1f} | {blas * ns:.1f} | "
              f"{solve:.4f} |", flush=True)
        del X, chunks
    print("\nA newton pass costs `ratio` gradient passes (`ratio sampled` with newton's "
          "default curvature='sampled' on large data): newton beats lbfgs while "
          "newton passes x ratio < lbfgs passes.")
    results += curvature_passes(args)
    return results


def curvature_passes(args) -> list[dict]:
    """Newton's passes, gap and wall time with the exact and the sampled Hessian
    (``fit_gd(curvature=...)``), side by side on the small sets, in process."""
    import streamneuron as sn

    print("\n### Newton: exact vs sampled Hessian (in process, median of "
          f"{args.hessian_repeat})\n")
    print("| set | l2 | Hessian rows (1 in k) | passes exact | passes sampled | gap exact | "
          "gap sampled | s exact | s sampled |")
    print("|---|---|---|---|---|---|---|---|---|")
    out = []
    for name in SMALL:
        ds = small_dataset(name)
        for l2 in (1e-2, 1e-4):
            ref = newton_reference(ds.X, ds.y, l2)
            cells: dict = {c: [] for c in ("exact", "sampled")}
            models = {}
            for _ in range(args.hessian_repeat):
                for c in cells:
                    t = time.perf_counter()
                    models[c] = sn.fit_gd(ds.fit_input, solver="newton", l2=l2, workers=0,
                                          curvature=c)
                    cells[c].append(time.perf_counter() - t)
            row = {"set": name, "l2": l2, "every": models["sampled"].info["hessian_every"]}
            for c, m in models.items():
                row[f"passes_{c}"] = m.info["passes"]
                row[f"gap_{c}"] = (model_objective(m, ds, l2) - ref.J) / ref.J
                row[f"seconds_{c}"] = statistics.median(cells[c])
            out.append(row)
            print(f"| {name} | {l2:g} | {row['every']} | {row['passes_exact']} | "
                  f"{row['passes_sampled']} | {row['gap_exact']:.1e} | "
                  f"{row['gap_sampled']:.1e} | {row['seconds_exact']:.3f} | "
                  f"{row['seconds_sampled']:.3f} |", flush=True)
    return out


# --------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the four small sets only")
    ap.add_argument("--datasets", default=None,
                    help="comma list of breast_cancer,digits,phishing_like,ar1,big (default: all)")
    ap.add_argument("--l2", default="1e-2,1e-4")
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--gap", type=float, default=1e-6)
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="newton/lbfgs tol (fit_gd's default 1e-6 aims at a 1e-6 gap)")
    ap.add_argument("--max-iter", type=int, default=None,
                    help="newton/lbfgs max_iter (default: fit_gd's)")
    ap.add_argument("--gd-max-iter", type=int, default=1000,
                    help="gd: iterations allowed to reach the gap")
    ap.add_argument("--gd-iter", type=int, default=100,
                    help="gd: also report the gap after this many iterations (its default)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per small-set cell")
    ap.add_argument("--big-repeat", type=int, default=1,
                    help="timed runs per 8M cell; on the copy, rounds alternating with Spark")
    ap.add_argument("--cheap-seconds", type=float, default=10.0,
                    help="a run longer than this is timed once")
    ap.add_argument("--big", default="/tmp/benchdata/big.parquet")
    ap.add_argument("--big-std", default="/tmp/benchdata/big_std.parquet")
    ap.add_argument("--no-raw", action="store_true", help="8M: skip the raw-file runs")
    ap.add_argument("--big-gd-both", action="store_true",
                    help="8M: gd on the standardized copy too (default: raw file only)")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers for the file runs")
    ap.add_argument("--small-workers", type=int, default=0,
                    help="0: small sets in process (if fit_gd supports workers=0)")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--spark-tol", type=float, default=1e-6)
    ap.add_argument("--spark-max-iter", type=int, default=100)
    ap.add_argument("--spark-memory", default="6g")
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--hessian-cost", action="store_true", help="only the Hessian-cost section")
    ap.add_argument("--hessian-rows", type=int, default=200_000)
    ap.add_argument("--hessian-d", default="8,32,128,512,1024")
    ap.add_argument("--hessian-repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    args.hessian_d = [int(v) for v in args.hessian_d.split(",")]
    out: dict = {"argv": sys.argv[1:], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime())}

    if args.hessian_cost:
        out["hessian_cost"] = hessian_cost(args)
        _dump(args, out)
        return 0

    names = (list(SMALL) if args.quick else
             args.datasets.split(",") if args.datasets else list(SMALL) + ["big"])
    l2s = [float(v) for v in args.l2.split(",")]
    wanted = [s for s in args.solvers.split(",") if s]
    have = available_solvers()
    solvers = [s for s in wanted if s in have]
    missing = [s for s in wanted if s not in have]
    print(f"fit_gd solvers available: {sorted(have)}; not available (skipped): {missing}")
    print(f"machine: {os.cpu_count()} CPUs, load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    client = LazyClient(args.workers)
    runs: list[Run] = []
    refs: dict = {}
    scipy: dict = {}
    try:
        small = [n for n in names if n in SMALL]
        for name in small:
            ds = small_dataset(name)
            log(f"{name}: {ds.description}")
            for l2 in l2s:
                ref = newton_reference(ds.X, ds.y, l2)
                refs[(name, l2)] = ref
                if not args.no_scipy:
                    scipy[(name, l2)] = scipy_nfev(ds.X, ds.y, l2, ref.J, args.gap)
                for solver in solvers:
                    r = run_ours(ds, l2, solver, args, client, ref, args.repeat)
                    log(f"  l2={l2:g} {solver}: passes {r.passes} to-gap {r.passes_to_gap} "
                        f"gap {r.gap} {r.seconds}s {r.note}")
                    runs.append(r)
        if small:
            print_table("Small in-memory sets" + (" (in process)" if "solver" in fit_gd_params()
                                                   and args.small_workers == 0 else
                                                   f" ({args.workers} Dask workers)"),
                        runs, {k: v for k, v in refs.items() if k[0] in small},
                        scipy, args.gd_iter)
            check_targets(runs, scipy, args.gap)
            sys.stdout.flush()

        if "big" in names:
            big_runs = big_section(args, solvers, l2s, client, refs, scipy)
            runs += big_runs
            print_table("8M x 32 file (2 Dask workers; Spark local[2])", big_runs,
                        {k: v for k, v in refs.items() if k[0] in ("big", "big_std")}, scipy,
                        args.gd_iter)
            check_targets(big_runs, scipy, args.gap)
            print_spark_ratios(big_runs)
    finally:
        client.close()

    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs (shared machine: wall times move by +-15% or more)")
    out["runs"] = [r.__dict__ for r in runs]
    out["references"] = [{"dataset": k[0], "l2": k[1], "J": v.J, "iterations": v.iterations,
                          "grad_norm": v.grad_norm} for k, v in refs.items()]
    out["scipy"] = [{"dataset": k[0], "l2": k[1], **v} for k, v in scipy.items()]
    _dump(args, out)
    return 0


def big_section(args, solvers, l2s, client, refs, scipy) -> list[Run]:
    import gc

    ensure_big(args.big)
    runs: list[Run] = []
    mean, scale = file_moments(args.big)
    if not os.path.exists(args.big_std) or os.path.getmtime(args.big_std) < os.path.getmtime(args.big):
        log(f"writing the standardized copy {args.big_std}")
        write_standardized(args.big, args.big_std, mean, scale)
    # Warm the workers (kernels, page cache) on the file, untimed.
    import streamneuron as sn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sn.fit_gd(args.big_std, max_iter=2, client=client.get(), standardize=False, label="y")

    problems = [] if args.no_raw else [("big", args.big, True, mean, scale)]
    problems.append(("big_std", args.big_std, False, None, None))
    spark = None
    for name, path, standardize, m, s in problems:
        log(f"{name}: loading {path} as float64")
        X, y = load_file(path, m, s)
        ds = Dataset(name, X, y, m, s, path, standardize, False,
                     f"{X.shape[0]} x {X.shape[1]} {'raw, standardize=True' if standardize else 'standardized copy, standardize=False'}")
        for l2 in l2s:
            log(f"{name} l2={l2:g}: reference Newton")
            # The copy is the raw problem rounded to float32: start from its optimum.
            ref = newton_reference(X, y, l2, start_at=refs.get(("big", l2)))
            refs[(name, l2)] = ref
            log(f"  J*={ref.J!r} in {ref.iterations} its, {ref.seconds:.1f}s, |g|={ref.grad_norm:.1e}")
            if not args.no_scipy and (name == "big" or ("big", l2) not in scipy):
                scipy[(name, l2)] = scipy_nfev(X, y, l2, ref.J, args.gap)
                log(f"  scipy: {scipy[(name, l2)]}")
            elif ("big", l2) in scipy:  # the same problem but for float32 rounding
                scipy[(name, l2)] = dict(scipy[("big", l2)], note="from the raw file's problem")
            # On the copy, Spark's rounds and ours alternate (the machine's load drifts).
            with_spark = name == "big_std" and not args.no_spark
            rounds = args.big_repeat if with_spark else 1
            per_round = args.big_repeat if rounds == 1 else 1
            cells: dict[str, list[Run]] = {}
            for _ in range(rounds):
                for solver in solvers:
                    if solver == "gd" and name == "big_std" and not args.big_gd_both:
                        continue  # gd's 100+ passes once per l2 are enough (on the raw file)
                    if solver == "gd" and cells.get("gd"):
                        continue  # gd is timed once
                    r = run_ours(ds, l2, solver, args, client, ref, per_round)
                    log(f"  {solver}: passes {r.passes} to-gap {r.passes_to_gap} gap {r.gap} "
                        f"{r.seconds}s {r.note}")
                    cells.setdefault(solver, []).append(r)
                if with_spark:
                    try:
                        if spark is None:
                            spark = spark_session(args.spark_memory)
                        r = run_spark(spark, path, ds, l2, args, ref)
                    except Exception as exc:  # report, do not hide, a Spark problem
                        r = Run(name, l2, "spark", note=f"failed: {type(exc).__name__}: {exc}")
                    log(f"  spark: jobs {r.passes} gap {r.gap} {r.seconds}s {r.note}")
                    cells.setdefault("spark", []).append(r)
            runs += [_merge_rounds(rs) for rs in cells.values()]
        del X, y, ds
        gc.collect()
    if spark is not None:
        spark.stop()
    return runs


def _merge_rounds(rs: list[Run]) -> Run:
    """One cell from several timed rounds: the first round's numbers, median times."""
    first = rs[0]
    if len(rs) == 1 or first.seconds is None:
        return first
    first.seconds_all = [t for r in rs for t in r.seconds_all]
    first.loads = [x for r in rs for x in r.loads]
    first.cpu_all = [x for r in rs for x in r.cpu_all]
    first.seconds = statistics.median(r.seconds for r in rs if r.seconds is not None)
    to_gap = [r.seconds_to_gap for r in rs if r.seconds_to_gap is not None]
    if to_gap:
        first.seconds_to_gap = statistics.median(to_gap)
    if first.solver == "spark":
        first.note += f"; jobs per round {[r.passes for r in rs]}"
    return first


class LazyClient:
    """A LocalCluster of single-threaded worker processes, started on first use."""

    def __init__(self, workers: int):
        self.workers, self.cluster, self.client = workers, None, None

    def get(self):
        if self.client is None:
            from distributed import Client, LocalCluster

            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                        processes=True, dashboard_address=":0",
                                        silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster, set_as_default=False)
        return self.client

    def close(self):
        if self.client is not None:
            self.client.close()
            self.cluster.close()


def _dump(args, out):
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist")
                      else str(o))


if __name__ == "__main__":  # required: worker processes are spawned
    sys.exit(main())
