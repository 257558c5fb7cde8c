"""``--l2 auto`` against scikit-learn's LogisticRegressionCV, and its cost in passes
and wall time (README, "Choosing the penalty").

Small problems (70/30 split, ``random_state=0``; both fitted on the same training
rows, scored on the same test rows): breast_cancer (569 x 30), a phishing-like set
(11055 x 30 ternary features, a sparse logistic teacher with pairwise effects,
seed 5), digits 0-4 vs 5-9 (1797 x 64), an AR(1) set (200k x 20, rho = 0.99, as
scripts/bench_solvers.py). Ours: ``fit_gd(l2="auto", cv=5)`` (newton, standardized);
scikit-learn: ``LogisticRegressionCV(Cs=20, cv=5, scoring="neg_log_loss")`` on the
standardized features. Printed: test log loss of both and their ratio (target
<= 1.03), our passes (target <= 40), the values on the path, the first one the exact path
fitted (``exact``: None when every one came from shared points, ``fullpass/shared.py``),
the chosen penalty as C = 1 / (l2 n).

Big file (``--big ROWS``, ``--big-file``): a generated ROWS x 32 Parquet file; wall time of
``fit_gd(l2="auto", cv=5)`` over one newton fit at a fixed penalty, in this process
(``workers=0``), interleaved (a newton fit, then the path, ``--repeat`` rounds): the
medians' ratio, wall and CPU, each round's ratios and the load average (target <= 3x).

    python scripts/bench_l2path.py                 # the small problems
    python scripts/bench_l2path.py --big 2000000   # and the big file
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from streamneuron.fullpass import fit_gd  # noqa: E402


def phishing_like(n: int = 11055, d: int = 30, seed: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 0.0, 1.0], size=(n, d), p=[0.3, 0.2, 0.5])
    w = np.where(rng.random(d) < 0.3, rng.normal(scale=1.5, size=d), 0.0)
    z = X @ w + 0.8 * X[:, 0] * X[:, 1] - 0.6 * X[:, 2] * X[:, 3] + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, y


def ar1(n: int = 200_000, d: int = 20, rho: float = 0.99, seed: int = 13):
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, d))
    X = np.empty((n, d))
    X[:, 0] = eps[:, 0]
    for j in range(1, d):
        X[:, j] = rho * X[:, j - 1] + math.sqrt(1.0 - rho * rho) * eps[:, j]
    w = rng.standard_normal(d)
    w *= 2.0 / math.sqrt(float(w @ np.cov(X[:20000].T) @ w))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w + 0.25)))).astype(np.float64)
    return X, y


def dataset(name: str):
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "digits":
        data = load_digits()
        X, y = data.data, (data.target >= 5)
    elif name == "phishing_like":
        X, y = phishing_like()
    else:
        X, y = ar1()
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)


def small(name: str) -> dict:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = dataset(name)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    start = time.perf_counter()
    ours = fit_gd((X_tr, y_tr), solver="newton", l2="auto", cv=5, workers=0)
    ours_s = time.perf_counter() - start
    scaler = StandardScaler().fit(X_tr)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegressionCV(Cs=20, cv=5, scoring="neg_log_loss", max_iter=10000)
        ref.fit(scaler.transform(X_tr), y_tr)
    ref_s = time.perf_counter() - start
    ours_loss = log_loss(y_te, ours.predict_proba(X_te))
    ref_loss = log_loss(y_te, ref.predict_proba(scaler.transform(X_te))[:, 1])
    n = len(y_tr)
    path = ours.info["path"]
    return {"name": name, "shape": f"{X.shape[0]} x {X.shape[1]}", "ours": ours_loss,
            "sklearn": ref_loss, "ratio": ours_loss / ref_loss,
            "passes": ours.info["passes"], "values": len(path["points"]),
            "exact_from": path.get("exact_from"),
            "C": 1 / (path["chosen"] * n), "sk_C": float(ref.C_[0]),
            "ours_s": ours_s, "sk_s": ref_s}


def big(rows: int, repeat: int, path: str | None = None) -> dict:
    from streamneuron.generate import generate

    path = path or f"/work/bench-data/l2path_{rows}x32.parquet"
    if not os.path.exists(path):
        generate(path, rows=rows, features=32, seed=0)
    times = {"fixed": [], "auto": []}
    cpu = {"fixed": [], "auto": []}
    passes, loads, ratios, cpu_ratios = {}, [], [], []
    for _ in range(repeat):  # interleaved: a newton fit, then the path, each round
        for kind, l2 in (("fixed", 1e-4), ("auto", "auto")):
            loads.append(os.getloadavg()[0])
            start, start_cpu = time.perf_counter(), time.process_time()
            model = fit_gd(path, solver="newton", l2=l2, workers=0,
                           **({"cv": 5} if l2 == "auto" else {}))
            times[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - start_cpu)
            passes[kind] = model.info["passes"]
            if kind == "auto":
                points = model.info["path"]["points"]
        ratios.append(times["auto"][-1] / times["fixed"][-1])
        cpu_ratios.append(cpu["auto"][-1] / cpu["fixed"][-1])
    fixed, auto = statistics.median(times["fixed"]), statistics.median(times["auto"])
    return {"rows": rows, "fixed_s": fixed, "auto_s": auto, "ratio": auto / fixed,
            "fixed_cpu": statistics.median(cpu["fixed"]),
            "auto_cpu": statistics.median(cpu["auto"]),
            "ratios": ratios, "cpu_ratios": cpu_ratios, "load": (min(loads), max(loads)),
            "fixed_passes": passes["fixed"], "auto_passes": passes["auto"],
            "values": len(points)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*",
                        default=["breast_cancer", "phishing_like", "digits", "ar1"])
    parser.add_argument("--big", type=int, default=0, help="rows of the big file (0: none)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--big-file", default=None,
                        help="the big file, if made already (as `streamneuron generate FILE "
                             "--rows ROWS --features 32`, seed 0); default "
                             "/work/bench-data/l2path_ROWSx32.parquet, made if missing")
    args = parser.parse_args()
    fit_gd((np.eye(4), np.array([0.0, 1, 0, 1])), solver="newton", l2="auto", cv=2,
           workers=0)  # compile once, outside the timings
    print(f"{'problem':15} {'shape':>12} {'ours':>8} {'sklearn':>8} {'ratio':>6} "
          f"{'passes':>6} {'values':>6} {'exact':>5} {'C ours':>8} {'C sk':>8} {'s ours':>7} "
          f"{'s sk':>7}")
    for name in args.only:
        r = small(name)
        print(f"{r['name']:15} {r['shape']:>12} {r['ours']:8.4f} {r['sklearn']:8.4f} "
              f"{r['ratio']:6.3f} {r['passes']:6d} {r['values']:6d} {str(r['exact_from']):>5} "
              f"{r['C']:8.3g} "
              f"{r['sk_C']:8.3g} {r['ours_s']:7.2f} {r['sk_s']:7.2f}", flush=True)
    if args.big:
        r = big(args.big, args.repeat, args.big_file)
        print(f"\n{r['rows']} x 32 file, in this process, medians of {args.repeat} "
              f"interleaved rounds (load average {r['load'][0]:.1f}-{r['load'][1]:.1f}): "
              f"one newton fit (l2 1e-4) {r['fixed_s']:.2f} s wall, {r['fixed_cpu']:.2f} s "
              f"CPU, {r['fixed_passes']} passes; --l2 auto --cv 5 {r['auto_s']:.2f} s wall, "
              f"{r['auto_cpu']:.2f} s CPU, {r['auto_passes']} passes, {r['values']} values; "
              f"ratio of medians {r['ratio']:.2f} wall, "
              f"{r['auto_cpu'] / r['fixed_cpu']:.2f} CPU; per round wall "
              f"{', '.join(f'{x:.2f}' for x in r['ratios'])}, CPU "
              f"{', '.join(f'{x:.2f}' for x in r['cpu_ratios'])}")

if __name__ == "__main__":
    main()
