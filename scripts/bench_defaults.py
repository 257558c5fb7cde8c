"""Benchmark of the SGD defaults (issue 14, "Defaults that work").

    python scripts/bench_defaults.py --quick            # the four small/medium sets
    python scripts/bench_defaults.py                    # + the 8M x 32 file
    python scripts/bench_defaults.py --json out.json --datasets breast_cancer,digits

For each dataset x l2 (1e-2, 1e-4) it reports the objective gap ``(J - J*) / J*`` and
the epochs used by:

* **ours, defaults**: ``fit_sgd(FILE, label="y", l2=l2)`` on a Parquet file of the
  raw features, nothing else given (what ``streamneuron train FILE --label y --l2 L
  -o M`` runs);
* **ours, 1 epoch**: the same with ``epochs=1`` (for the comparison at equal passes);
* **each step rule** with the other defaults (batch size from the rows, up to 1000
  epochs with the convergence rule): ``constant``, ``invscaling``, ``adagrad`` (each
  at its default lr 0.1) and ``averaged`` (constant, ``average=True``);
* **scikit-learn** ``SGDClassifier(loss="log_loss", alpha=l2)`` with every other
  parameter at its default: its ``fit`` (its own stopping rule, ``n_iter_`` epochs),
  and a ``partial_fit`` loop over the same batches as our default run (its batch
  size, a fresh seeded permutation each epoch) for as many epochs as ours used (at
  most ``--pf-epochs-max``);
* **Vowpal Wabbit** defaults (the ``vowpalwabbit`` package: ``--loss_function
  logistic --l2 L``, adaptive normalized steps; ``--holdout_off`` so that it trains on
  every row, as the others do), 1 and 5 passes (``-c``: a cache file).

Everyone sees standardized features: ours standardizes the raw file itself (its
model is mapped onto this script's standardization), scikit-learn and VW get the
standardized float64 rows. J is computed HERE, in float64 numpy, for every method
in the same way::

    J(w, b) = mean_i [log(1 + exp(z_i)) - y_i z_i] + (l2/2) ||w||^2,   z = x_std . w + b

(the bias not penalised; scikit-learn's ``alpha`` and VW's ``--l2`` are the same
``l2``: both add ``l2 * w`` to each example's gradient). J* comes from an exact
in-memory float64 Newton method (``bench_solvers.newton_reference``, not
streamneuron's solvers). Datasets: scikit-learn breast_cancer, digits (0-4 vs 5-9)
and diabetes (target above its median), each the train split of
``train_test_split(test_size=0.25, random_state=0)``; a generated 200k x 20 AR(1)
set (rho = 0.99); the 8M x 32 file of ``streamneuron generate`` (seed 0). Files go
under ``--dir`` (default /tmp/bench_defaults), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import numpy as np  # noqa: E402

import bench_solvers as bs  # noqa: E402  (the exact reference and the data sets)

L2S = (1e-2, 1e-4)
SMALL = ("breast_cancer", "digits", "diabetes", "ar1")
RULES = {"constant": dict(schedule="constant"), "invscaling": dict(schedule="invscaling"),
         "adagrad": dict(schedule="adagrad"),
         "averaged": dict(schedule="constant", average=True)}
log = bs.log


# -------------------------------------------------------------------------- data


def diabetes() -> bs.Dataset:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X_all, t = load_diabetes(return_X_y=True)
    y_all = (t > np.median(t)).astype(np.float64)
    X, _, y, _ = train_test_split(X_all, y_all, test_size=0.25, random_state=0)
    X, y = np.ascontiguousarray(X), np.ascontiguousarray(y)
    mean, scale = bs.standardize_stats(X)
    return bs.Dataset("diabetes", (X - mean) / scale, y, mean, scale, (X, y), True, True,
                      f"{X.shape[0]} x {X.shape[1]} train split, target > median")


def write_parquet(X: np.ndarray, y: np.ndarray, path: str, row_group: int = 1 << 16) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    cols["y"] = y.astype(np.int8)
    pq.write_table(pa.table(cols), path, row_group_size=row_group)


def dataset(name: str, folder: Path, big_path: str):
    """``(Dataset, raw Parquet path)``: the standardized rows in memory, the raw file."""
    if name == "big":
        bs.ensure_big(big_path)
        mean, scale = bs.file_moments(big_path)
        X, y = bs.load_file(big_path, mean, scale)
        ds = bs.Dataset("big", X, y, mean, scale, big_path, True, False,
                        f"{X.shape[0]} x {X.shape[1]} generated")
        return ds, big_path
    ds = diabetes() if name == "diabetes" else bs.small_dataset(name)
    path = folder / f"{name}.parquet"
    if not path.exists():
        write_parquet(*ds.fit_input, str(path))
    return ds, str(path)


# -------------------------------------------------------------------------- runs


def gap(J: float, ref) -> float:
    return (J - ref.J) / ref.J


def run_ours(path: str, ds, l2: float, ref, **params) -> dict:
    import streamneuron as sn

    start = time.perf_counter()
    model = sn.fit_sgd(path, label="y", l2=l2, **params)
    seconds = time.perf_counter() - start
    return {"gap": gap(bs.model_objective(model, ds, l2), ref), "epochs": model.info["epochs"],
            "converged": model.info["converged"], "seconds": seconds,
            "batch_size": model.info["params"]["batch_size"]}


def run_sklearn_fit(ds, l2: float, ref) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import SGDClassifier

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SGDClassifier(loss="log_loss", alpha=l2, random_state=0).fit(ds.X, ds.y)
    J = bs.objective(ds.X, ds.y, clf.coef_.ravel(), float(clf.intercept_[0]), l2)
    return {"gap": gap(J, ref), "epochs": int(clf.n_iter_),
            "seconds": time.perf_counter() - start}


def run_sklearn_partial(ds, l2: float, ref, batch_size: int, epochs: int) -> dict:
    from sklearn.linear_model import SGDClassifier

    start = time.perf_counter()
    clf = SGDClassifier(loss="log_loss", alpha=l2, random_state=0)
    n = ds.X.shape[0]
    for epoch in range(epochs):
        order = np.random.default_rng([0, epoch]).permutation(n)
        for lo in range(0, n, batch_size):
            rows = order[lo:lo + batch_size]
            clf.partial_fit(ds.X[rows], ds.y[rows], classes=[0.0, 1.0])
    J = bs.objective(ds.X, ds.y, clf.coef_.ravel(), float(clf.intercept_[0]), l2)
    return {"gap": gap(J, ref), "epochs": epochs, "seconds": time.perf_counter() - start}


def write_vw(ds, path: str) -> None:
    """The standardized rows as VW text: ``+1 | 0:x0 1:x1 ...`` (labels -1/+1)."""
    with open(path, "w") as f:
        for lo in range(0, ds.X.shape[0], 1 << 16):
            X, y = ds.X[lo:lo + (1 << 16)], ds.y[lo:lo + (1 << 16)]
            f.writelines(("1 |" if yi else "-1 |") + "".join(f" {j}:{v:.9g}" for j, v in
                                                           enumerate(xi)) + "\n"
                         for xi, yi in zip(X.tolist(), y.tolist()))


def run_vw(ds, l2: float, ref, text: str, passes: int, folder: Path) -> dict:
    import vowpalwabbit

    cache = folder / f"{Path(text).stem}.cache"
    if cache.exists():
        cache.unlink()
    start = time.perf_counter()
    vw = vowpalwabbit.Workspace(
        f"-d {text} --loss_function logistic --l2 {l2:g} --passes {passes} -c "
        f"--cache_file {cache} -k --holdout_off --quiet")
    # With --l2, VW keeps its weights scaled internally (the stored numbers are not the
    # model's): read the linear model off its predictions instead (the raw margin).
    b = float(vw.predict("|"))
    w = np.array([float(vw.predict(f"| {j}:1")) - b for j in range(ds.X.shape[1])])
    vw.finish()
    seconds = time.perf_counter() - start
    return {"gap": gap(bs.objective(ds.X, ds.y, w, b, l2), ref), "epochs": passes,
            "seconds": seconds}


# -------------------------------------------------------------------------- report


def fmt_gap(g: float) -> str:
    if g is None or not math.isfinite(g):
        return "n/a"
    return f"{100 * g:.2f}%" if g >= 1e-4 else f"{100 * g:.1e}%"


def print_table(rows: list[dict]) -> None:
    cols = ["defaults", "defaults, 1 epoch", *RULES, "sklearn fit", "sklearn partial_fit",
            "VW 1 pass", "VW 5 passes"]
    print("| data | l2 | J* | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 3) + "|")
    for r in rows:
        cells = []
        for c in cols:
            v = r["runs"].get(c)
            cells.append("–" if v is None else f"{fmt_gap(v['gap'])} ({v['epochs']})")
        print(f"| {r['dataset']} | {r['l2']:g} | {r['J*']:.5f} | " + " | ".join(cells) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 8M file")
    ap.add_argument("--datasets", default=None, help="comma-separated (default: all)")
    ap.add_argument("--dir", default="/tmp/bench_defaults")
    ap.add_argument("--big", default="/tmp/benchdata/big.parquet",
                    help="the 8M x 32 file (generated there if missing)")
    ap.add_argument("--no-vw", action="store_true")
    ap.add_argument("--no-rules", action="store_true", help="only the defaults and the peers")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--pf-epochs-max", type=int, default=20,
                    help="most epochs of the scikit-learn partial_fit loop")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    names = args.datasets.split(",") if args.datasets else list(SMALL) + ([] if args.quick
                                                                           else ["big"])
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        ds, path = dataset(name, folder, args.big)
        log(f"{name}: {ds.X.shape[0]} x {ds.X.shape[1]} ({path})")
        text = None
        if not args.no_vw:
            text = str(folder / f"{name}.vw")
            if not os.path.exists(text):
                write_vw(ds, text)
        for l2 in L2S:
            ref = bs.newton_reference(ds.X, ds.y, l2)
            runs = {}
            runs["defaults"] = run_ours(path, ds, l2, ref)
            log(f"  l2={l2:g} defaults: {runs['defaults']}")
            runs["defaults, 1 epoch"] = run_ours(path, ds, l2, ref, epochs=1)
            log(f"  defaults, 1 epoch: {runs['defaults, 1 epoch']}")
            if not args.no_rules:
                for rule, params in RULES.items():
                    runs[rule] = run_ours(path, ds, l2, ref, **params)
                    log(f"  {rule}: {runs[rule]}")
            if not args.no_sklearn:
                runs["sklearn fit"] = run_sklearn_fit(ds, l2, ref)
                log(f"  sklearn fit: {runs['sklearn fit']}")
                runs["sklearn partial_fit"] = run_sklearn_partial(
                    ds, l2, ref, runs["defaults"]["batch_size"],
                    min(runs["defaults"]["epochs"], args.pf_epochs_max))
                log(f"  sklearn partial_fit: {runs['sklearn partial_fit']}")
            if text is not None:
                for passes in (1, 5):
                    runs[f"VW {passes} pass" + ("es" if passes > 1 else "")] = r = run_vw(
                        ds, l2, ref, text, passes, folder)
                    log(f"  VW {passes}: {r}")
            rows.append({"dataset": name, "rows": ds.X.shape[0], "l2": l2, "J*": ref.J,
                         "runs": runs})
        del ds
    print_table(rows)
    worst = max(r["runs"]["defaults"]["gap"] for r in rows)
    print(f"\nworst gap of the defaults: {fmt_gap(worst)} (target <= 1%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"argv": sys.argv[1:], "rows": rows}, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
