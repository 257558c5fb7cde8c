"""Benchmark of L1 / elastic net and of sample weights in the full-pass solvers (issue 15).

    python scripts/bench_l1.py                 # both parts
    python scripts/bench_l1.py --part l1       # passes and seconds to the L1 optimum
    python scripts/bench_l1.py --part weights  # the cost of weights per pass

Part ``l1``: per dataset x l1 (``--l1``, l2 = ``--l2``) and solver, in this process
(``workers=0``), medians of ``--repeat`` runs:

* ``newton``: proximal Newton (coordinate descent on the quadratic model);
* ``lbfgs``: OWL-QN as streamneuron runs it (the quasi-Newton direction held on
  the orthant's face, Andrew and Gao's sign-aligned direction as the fallback);
* ``lbfgs-aligned``: OWL-QN with the sign-aligned direction always
  (``solvers.OWLQN_ALIGN_DIRECTION = True``: Andrew and Gao's algorithm as written).

Reported: passes (``info["passes"]``, the standardization pass included) and wall
seconds until the first iterate whose objective is within ``--gap`` (1e-6) of F*,
read off the ``progress`` rows (each row carries the passes so far); passes and
seconds of the whole run; the final gap; the non-zero weights (and glum's).

The objective, evaluated HERE in float64 numpy on the standardized in-memory data::

    F(w, b) = mean_i [log(1 + exp(z_i)) - y_i z_i] + (l2/2) ||w||^2 + l1 ||w||_1

F* is the lower of glum's optimum (``GeneralizedLinearRegressor(family="binomial",
alpha=l1+l2, l1_ratio=l1/(l1+l2), gradient_tol=1e-12, max_iter=GLUM_MAX_ITER)``) and streamneuron's proximal
Newton at ``tol=1e-13``; their gap to each other is printed. Datasets: those of
``scripts/bench_solvers.py`` (breast_cancer and digits 0-4 vs 5-9 train splits, the
200k x 20 AR(1) set with rho = 0.99).

Part ``weights``: one in-process pass over in-memory float32 data (column-major, as
Parquet decodes; units of ``ArraySource``'s default size), the gradient pass
(``fullpass.pass_sums`` over decoded units) and the gradient + Hessian pass, unweighted
(no weights: the kernels' unweighted path) against weighted (random weights in [0, 2)),
and the standardization summaries (``Moments.of``, ``CoMoments.of``) likewise, and a
gradient pass that reads a Parquet file (the weight column read too); the runs
alternate, medians of ``--weights-repeat``, in CPU seconds of this process (``CLOCK``).
Target: weighted <= 1.1x unweighted.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see scripts/bench_solvers.py

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import numpy as np  # noqa: E402

from bench_solvers import model_point, small_dataset  # noqa: E402


# The weights part times CPU seconds of this process (all its threads: pyarrow's
# decoding too), not wall seconds: on a machine shared with other jobs a pass waits
# for a core for as long again as it runs, and that wait is not the weights' cost.
CLOCK = time.process_time

# glum's iterations for the reference (its line search fails near 1e-12 on the AR(1)
# set and then crawls; F* is the lower of glum's and a tight proximal Newton's anyway).
GLUM_MAX_ITER = 100


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def penalized(X, y, w, b, l2, l1) -> float:
    z = X @ w + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w
                 + l1 * np.abs(w).sum())


def glum_optimum(ds, l2, l1):
    from glum import GeneralizedLinearRegressor

    with warnings.catch_warnings():  # its line search gives up near 1e-12 on the AR(1) set
        warnings.simplefilter("ignore")
        g = GeneralizedLinearRegressor(family="binomial", alpha=l1 + l2,
                                       l1_ratio=l1 / (l1 + l2), gradient_tol=1e-12,
                                       max_iter=GLUM_MAX_ITER,
                                       scale_predictors=False).fit(ds.X, ds.y)
    w = np.asarray(g.coef_, dtype=np.float64)
    return penalized(ds.X, ds.y, w, float(g.intercept_), l2, l1), int(np.count_nonzero(w))


def run_once(ds, solver: str, l2: float, l1: float, F_star: float, gap: float) -> dict:
    import streamneuron as sn
    from streamneuron.fullpass import solvers

    aligned = solver == "lbfgs-aligned"
    solvers.OWLQN_ALIGN_DIRECTION = aligned
    reached: dict = {}
    start = time.perf_counter()

    def progress(row):
        if not reached and (row["objective"] - F_star) / F_star <= gap:
            reached.update(passes=row["passes"], seconds=time.perf_counter() - start)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sn.fit_gd(ds.fit_input, solver="lbfgs" if aligned else solver, l2=l2, l1=l1,
                              workers=0, progress=progress)
    finally:
        solvers.OWLQN_ALIGN_DIRECTION = False
    seconds = time.perf_counter() - start
    w, b, _ = model_point(model, ds)
    final = penalized(ds.X, ds.y, w, b, l2, l1)
    return {"passes": model.info["passes"], "seconds": seconds,
            "passes_to_gap": reached.get("passes"), "seconds_to_gap": reached.get("seconds"),
            "gap": (final - F_star) / F_star, "nonzero": model.info["nonzero"],
            "converged": model.info["converged"]}


def l1_part(args) -> None:
    import streamneuron as sn

    print(f"\n### Passes and seconds to the L1 optimum (gap {args.gap:g}; l2 = {args.l2:g}; "
          f"in-process; median of {args.repeat})\n")
    print("| dataset | l1 | solver | passes to gap | s to gap | passes | s | final gap | "
          "nonzero (glum) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets.split(","):
        ds = small_dataset(name)
        for l1 in (float(v) for v in args.l1.split(",")):
            F_glum, nz_glum = glum_optimum(ds, args.l2, l1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tight = sn.fit_gd(ds.fit_input, solver="newton", l2=args.l2, l1=l1, tol=1e-13,
                                  workers=0, max_iter=200)
            w, b, _ = model_point(tight, ds)
            F_tight = penalized(ds.X, ds.y, w, b, args.l2, l1)
            F_star = min(F_glum, F_tight)
            log(f"{name} l1={l1:g}: F* {F_star:.15g}; glum - tight newton "
                f"{(F_glum - F_tight) / F_star:.1e} (relative)")
            for solver in args.solvers.split(","):
                runs = [run_once(ds, solver, args.l2, l1, F_star, args.gap)
                        for _ in range(args.repeat)]
                med = {k: statistics.median(r[k] for r in runs)
                       for k in ("passes", "seconds", "gap")}
                to_gap = [r for r in runs if r["passes_to_gap"] is not None]
                p_gap = statistics.median(r["passes_to_gap"] for r in to_gap) if to_gap else None
                s_gap = statistics.median(r["seconds_to_gap"] for r in to_gap) if to_gap else None
                print(f"| {name} | {l1:g} | {solver} | {p_gap if p_gap is not None else 'never'} | "
                      f"{s_gap:.3f} | " if s_gap is not None else "- | ", end="")
                print(f"{med['passes']:g} | {med['seconds']:.3f} | {med['gap']:.1e} | "
                      f"{runs[0]['nonzero']} ({nz_glum}) |", flush=True)


def weights_part(args) -> None:
    from streamneuron.fullpass import sums as fullpass
    from streamneuron.fullpass.partitions import already_decoded
    from streamneuron.losses import get_loss
    from streamneuron.readers import DecodedUnit
    from streamneuron.readers.arrays import DEFAULT_CHUNK_ROWS
    from streamneuron.stats import CoMoments, Moments

    loss_id = get_loss("log").kernel_id
    rng = np.random.default_rng(0)
    print(f"\n### The cost of weights per pass: {args.weights_rows} float32 rows in memory, "
          f"units of {DEFAULT_CHUNK_ROWS} rows, one thread (CPU seconds, median of "
          f"{args.weights_repeat}, alternating)\n")
    print("| d | pass | unweighted CPU s | weighted CPU s | ratio | ratio of the fastest runs |")
    print("|---|---|---|---|---|---|")
    for d in (int(v) for v in args.weights_d.split(",")):
        n = args.weights_rows
        X = np.asfortranarray(rng.standard_normal((n, d), dtype=np.float32))
        y = (rng.random(n) < 0.5).astype(np.float64)
        s = rng.uniform(0.0, 2.0, n)
        w = rng.standard_normal(d) / math.sqrt(d)
        params = np.concatenate([w, [0.1], np.zeros(d), np.ones(d)])
        names = [f"x{j}" for j in range(d)]
        cuts = range(0, n, DEFAULT_CHUNK_ROWS)
        rows = [slice(i, i + DEFAULT_CHUNK_ROWS) for i in cuts]
        units = {weighted: [DecodedUnit(X[r], y[r], f"rows {r.start}",
                                        w=s[r] if weighted else None) for r in rows]
                 for weighted in (False, True)}
        passes = {
            "gradient": lambda us: fullpass.pass_sums(us, already_decoded, names, params,
                                                      loss_id, False),
            "gradient + Hessian": lambda us: fullpass.pass_sums(us, already_decoded, names,
                                                                params, loss_id, True),
            "moments (gd, lbfgs)": lambda us: [Moments.of(u.X, u.w) for u in us],
            "co-moments (newton)": lambda us: [CoMoments.of(u.X, u.y, u.w) for u in us],
        }
        for what, run in passes.items():
            for weighted in (False, True):  # compile / warm
                run(units[weighted][:1])
            times = {False: [], True: []}
            for _ in range(args.weights_repeat):
                for weighted in (False, True):
                    t = CLOCK()
                    run(units[weighted])
                    times[weighted].append(CLOCK() - t)
            print(_ratio_row(d, what, times), flush=True)
        print(_ratio_row(d, "Parquet read + gradient", file_pass(X, y, s, args)), flush=True)
        del X, units


def _ratio_row(d: int, what: str, times: dict) -> str:
    """A table row: median seconds unweighted and weighted, their ratio, and the ratio
    of the fastest runs (the least disturbed by other load on the machine)."""
    a, b = statistics.median(times[False]), statistics.median(times[True])
    fastest = min(times[True]) / min(times[False])
    return f"| {d} | {what} | {a:.4f} | {b:.4f} | {b / a:.3f} | {fastest:.3f} |"


def file_pass(X, y, s, args) -> dict:
    """Seconds of one gradient pass over a Parquet file (float32 features, row
    groups of 2**17 rows, in the page cache), read by the tasks' own reader
    (``fullpass.pass_sums`` with ``partitions.read_units``, one thread), without and with
    its weight column."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from streamneuron import open_source
    from streamneuron.fullpass import sums as fullpass
    from streamneuron.fullpass.partitions import plan_partitions, read_units

    d = X.shape[1]
    params = np.concatenate([np.full(d, 0.01), [0.1], np.zeros(d), np.ones(d)])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.parquet")
        table = pa.table({**{f"x{j}": X[:, j] for j in range(d)}, "y": y, "w": s})
        pq.write_table(table, path, row_group_size=1 << 17)
        del table
        parts = {}
        for weighted in (False, True):
            source = open_source(path, label="y", features=[f"x{j}" for j in range(d)],
                                 weight="w" if weighted else None)
            parts[weighted] = plan_partitions(source)
            names = source.feature_names
            source.close()
            fullpass.pass_sums(parts[weighted], read_units, names, params, 0, False)  # warm
        times = {False: [], True: []}
        for _ in range(args.weights_repeat):
            for weighted in (False, True):
                t = CLOCK()
                fullpass.pass_sums(parts[weighted], read_units, names, params, 0, False)
                times[weighted].append(CLOCK() - t)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("l1", "weights", "both"), default="both")
    ap.add_argument("--datasets", default="breast_cancer,digits,ar1")
    ap.add_argument("--l1", default="1e-3,1e-2")
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--solvers", default="newton,lbfgs,lbfgs-aligned")
    ap.add_argument("--gap", type=float, default=1e-6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--weights-rows", type=int, default=2_000_000)
    ap.add_argument("--weights-d", default="20,32")
    ap.add_argument("--weights-repeat", type=int, default=7)
    args = ap.parse_args(argv)
    if args.part in ("l1", "both"):
        l1_part(args)
    if args.part in ("weights", "both"):
        weights_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
