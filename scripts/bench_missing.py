"""The cost of ``--missing impute`` (issue 21): per SGD epoch and per full pass, against
the same file without gaps.

    python scripts/bench_missing.py [--rows 1000000] [--features 20] [--repeat 3] [--root DIR]
        [--data DIR] [--parts sgd,gd,first,decode]

(``--root``: the checkout whose ``streamneuron`` is timed, default this one: the code
before a change, side by side with it. ``--data``: a folder for the three files, written
there once and reused by later runs (never inside the repository); default a temporary
one. ``--parts``: which of the timings below, default all.)

Two Parquet files of float32 features (row groups of 65,536 rows), written once to a
temporary folder: ``clean`` without gaps, ``gappy`` the same values with 3% of 5 of the
columns null (as on the flights table). Timed, alternating, medians of ``--repeat``:

* **SGD epoch**: ``fit_sgd(epochs=3)``, the seconds of each epoch as its history row
  says (reading, imputing, training); ``gappy`` with ``missing="impute"`` trains on
  ``d + 5`` columns (the indicators), as scikit-learn's pipeline would;
* **full pass**: ``fit_gd(solver="gd", max_iter=6, tol=0)`` in this process, the
  seconds per iteration (one pass each) from the history rows;
* **first pass**: ``stats.first_pass`` (the standardization pass; with impute, the
  NaN-aware moments of the values present).

* **Parquet decode**: pyarrow's decoding of the ``d`` feature columns alone, the part
  of every pass that nulls in the file cost before streamneuron sees them.

Each also as CPU seconds (``time.process_time``: every thread of this process, so
the SGD reader thread too), less swayed by other jobs on a shared machine: per epoch
or pass, the difference between a run of 4 (``--epochs``) and of 1 epochs (8 and 2
passes). Beside the ratio of the medians, the median and quartiles of each repeat's own
ratio (its three runs side by side: a slow spell of the machine sways both).

Each is also timed on ``wide``, a file without gaps as wide as ``gappy`` imputed
(``d + 5`` columns): the share of the cost that is the indicator columns themselves
(more weights to train) against the share that is the imputation.
Target: impute <= 1.1x clean per epoch and per pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
if "--root" in sys.argv:  # (before the import: the checkout to time)
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import streamneuron as sn  # noqa: E402
from streamneuron.stats import first_pass  # noqa: E402

GAPPY_COLUMNS = 5
GAP_FRACTION = 0.03


def write(folder: Path, rows: int, d: int) -> tuple[Path, Path, Path]:
    """``clean`` (d columns), ``gappy`` (the same, 5 columns with gaps) and ``wide``
    (d + 5 columns without gaps: as wide as ``gappy`` imputed, with its indicators)."""
    rng = np.random.default_rng(0)
    clean, gappy, wide = (folder / f"{name}.parquet" for name in ("clean", "gappy", "wide"))
    w = rng.normal(size=d + GAPPY_COLUMNS)
    with pq.ParquetWriter(clean, _schema(d)) as a, pq.ParquetWriter(gappy, _schema(d)) as b, \
            pq.ParquetWriter(wide, _schema(d + GAPPY_COLUMNS)) as c:
        for start in range(0, rows, 1 << 16):
            n = min(1 << 16, rows - start)
            X = rng.normal(size=(n, d + GAPPY_COLUMNS)).astype(np.float32)
            y = (X @ w + rng.normal(size=n) > 0).astype(np.int8)
            a.write_table(_table(X[:, :d], y, None))
            holes = rng.random((n, GAPPY_COLUMNS)) < GAP_FRACTION
            b.write_table(_table(X[:, :d], y, holes))
            c.write_table(_table(X, y, None))
    return clean, gappy, wide


def _schema(d: int) -> pa.Schema:
    return pa.schema([(f"x{j}", pa.float32()) for j in range(d)] + [("y", pa.int8())])


def _table(X, y, holes) -> pa.Table:
    columns = {}
    for j in range(X.shape[1]):
        mask = holes[:, j] if holes is not None and j < holes.shape[1] else None
        columns[f"x{j}"] = pa.array(X[:, j], mask=mask)
    columns["y"] = pa.array(y)
    return pa.table(columns)


def _cpu_per_step(fit, short: int, long: int) -> tuple:
    """``fit(k)`` run for ``short`` then ``long`` epochs or passes: the model of the long
    run and the CPU seconds (every thread of this process) per epoch or pass beyond the
    short run's (the set-up and the first pass cancel)."""
    c0 = time.process_time()
    fit(short)
    c1 = time.process_time()
    model = fit(long)
    c2 = time.process_time()
    return model, ((c2 - c1) - (c1 - c0)) / (long - short)


def sgd_epoch(path, missing) -> tuple[float, float]:
    model, cpu = _cpu_per_step(lambda k: sn.fit_sgd(path, epochs=k, tol=0, missing=missing,
                                                    batch_size=256, seed=0), 1, _LONG[0])
    return statistics.median(row["seconds"] for row in model.info["history"]), cpu


def full_pass(path, missing) -> tuple[float, float]:
    model, cpu = _cpu_per_step(lambda k: sn.fit_gd(path, solver="gd", max_iter=k, tol=0,
                                                   missing=missing, workers=0), 2, 8)
    return statistics.median(row["seconds"] for row in model.info["history"][1:]), cpu


def standardization(path, missing) -> tuple[float, float]:
    source = sn.open_source(path, missing=missing)
    start, cpu = time.perf_counter(), time.process_time()
    first_pass(source, max_levels=100, reference=False)
    return time.perf_counter() - start, time.process_time() - cpu


def decode(path, missing) -> tuple[float, float]:
    """pyarrow's decoding of the feature columns alone (no streamneuron): the part of a
    pass that a file with nulls costs whatever is done with them."""
    f = pq.ParquetFile(path)
    features = [name for name in f.schema_arrow.names if name.startswith("x")][:_D[0]]
    start, cpu = time.perf_counter(), time.process_time()
    for group in range(f.num_row_groups):
        for _ in f.iter_batches(batch_size=1 << 16, row_groups=[group], columns=features,
                                use_threads=False):
            pass
    return time.perf_counter() - start, time.process_time() - cpu


_D = [0]  # the features of clean and gappy (decode reads as many of wide's)
_LONG = [4]  # the epochs of the long SGD run (--epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4,
                        help="the long SGD run's epochs (CPU per epoch: its excess over 1 epoch's)")
    parser.add_argument("--root", default=str(ROOT), help="the checkout to time")
    parser.add_argument("--data", help="a folder for the files, written once and reused")
    parser.add_argument("--parts", default="sgd,gd,first,decode",
                        help="which timings (sgd, gd, first, decode), comma-separated")
    args = parser.parse_args()
    _D[0] = args.features
    _LONG[0] = args.epochs
    parts = {"sgd": ("SGD epoch", sgd_epoch), "gd": ("full pass (gd)", full_pass),
             "first": ("first pass", standardization), "decode": ("Parquet decode", decode)}
    chosen = [parts[p] for p in args.parts.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.data or tmp)
        files = [folder / f"{name}.parquet" for name in ("clean", "gappy", "wide")]
        if args.data and all(f.exists() for f in files):
            clean, gappy, wide = files
        else:
            folder.mkdir(parents=True, exist_ok=True)
            clean, gappy, wide = write(folder, args.rows, args.features)
        for _, fn in chosen:  # compile, warm the page cache
            if fn is not decode:
                fn(clean, "error")
                fn(gappy, "impute")
        print(f"{sn.__file__}; load average {os.getloadavg()[0]:.1f}")
        print(f"{args.rows:,} rows x {args.features} float32 features; gappy: "
              f"{GAPPY_COLUMNS} columns {GAP_FRACTION:.0%} null (impute: "
              f"{args.features + GAPPY_COLUMNS} columns)")
        for name, fn in chosen:
            a, b, c = [], [], []
            for _ in range(args.repeat):
                a.append(fn(clean, "error"))
                b.append(fn(gappy, "impute"))
                c.append(fn(wide, "error"))
            for k, unit in ((0, "wall"), (1, "CPU")):
                ma, mb, mc = (statistics.median(t[k] for t in v) for v in (a, b, c))
                pairs = sorted(y[k] / x[k] for x, y in zip(a, b))
                print(f"{name:16s} {unit:4s} clean {ma:7.3f} s  impute {mb:7.3f} s  "
                      f"({mb / ma:4.2f}x)   clean as wide {mc:7.3f} s  "
                      f"(impute {mb / mc:4.2f}x of it)", flush=True)
                if len(pairs) >= 4:  # each repeat's own ratio: the pairs ran side by side
                    q1, q2, q3 = statistics.quantiles(pairs, n=4)
                    print(f"{'':16s} {unit:4s} impute / clean of each repeat: median "
                          f"{q2:4.2f}x, quartiles {q1:4.2f}-{q3:4.2f}x", flush=True)
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
