#!/usr/bin/env python
"""Categorical columns read from HDF5 against the same rows in Parquet, side by side.

    python scripts/bench_hdf5_categorical.py bench-data/flights-1M.parquet \\
        --out-dir bench-data/hdf5cat --repeat 3 --json scripts/results/bench_hdf5_categorical.json

The input is ``scripts/make_flights_like.py``'s file (8 numeric columns ``x0..x7``, string
columns ``c10 c100 c1000 c10000`` of Zipf-distributed levels, label ``y``). Its first
``--rows`` rows of ``x0..x7, c10, c100, c1000, y`` are written once (kept in ``--out-dir``,
never in the repository) as:

parquet      row groups of 65,536 rows (the size of an HDF5 unit), strings as pyarrow writes
             them (dictionary-encoded pages)
h5py-fixed   ``X`` (n, 8) float64 with ``feature_names``, chunks of 65,536 rows; beside it
             ``c10, c100, c1000`` as fixed-length bytes (``S{longest}``) and ``y`` int8
h5py-vlen    the same, the strings variable length (``h5py.string_dtype()``)
h5py-columns one 1-D dataset per column (no ``X``), chunks of 65,536 rows, the strings
             fixed-length
table        ``df.to_hdf(format="table")`` of the same frame (object string columns)

Then, for each repeat, each file in turn (the order rotated per repeat, so that the page
cache and the machine's load fall alike on every format):

read         the raw read of what training reads, unit by unit (65,536 rows): h5py
             ``X[rows]``, ``y[rows]`` and each string dataset ``[rows]`` (numpy ``S`` or
             objects); the table's needed fields in one ``table.fields([...])[rows]``;
             Parquet ``read_row_group`` of those columns (Arrow, strings decoded). No
             conversion to what the kernels take (the floor of a pass).
sgd epoch    ``fit_sgd(path, features=x0..x7, categorical=[c10, c100, c1000], epochs=3)``:
             the median of its epochs' own seconds (the history's; the first pass, which
             counts the levels and the moments, is not an epoch).
newton pass  ``fit_gd(path, solver="newton", ...)``, in this process: its wall time / its
             passes (the levels-and-moments pass is one of them).

Printed: medians, and the ratios HDF5 / Parquet (sgd epoch, newton pass) and sgd epoch /
raw read of the same file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

NUMERIC = [f"x{j}" for j in range(8)]
CATEGORICAL = ["c10", "c100", "c1000"]
UNIT = 1 << 16
FORMATS = ["parquet", "h5py-fixed", "h5py-vlen", "h5py-columns", "table"]


def prepare(source: Path, out_dir: Path, rows: int) -> dict[str, Path]:
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"parquet": out_dir / f"flights-{rows}.parquet",
             "h5py-fixed": out_dir / f"flights-{rows}-fixed.h5",
             "h5py-vlen": out_dir / f"flights-{rows}-vlen.h5",
             "h5py-columns": out_dir / f"flights-{rows}-columns.h5",
             "table": out_dir / f"flights-{rows}-table.h5"}
    if all(p.exists() for p in paths.values()):
        return paths
    if all(p.exists() for k, p in paths.items() if k != "h5py-columns"):  # (added later)
        _write_columns(paths["parquet"], paths["h5py-columns"])
        return paths
    table = pq.read_table(source, columns=NUMERIC + CATEGORICAL + ["y"]).slice(0, rows)
    table = table.combine_chunks()
    pq.write_table(table, paths["parquet"], row_group_size=UNIT)
    X = np.column_stack([table.column(c).to_numpy() for c in NUMERIC]).astype(np.float64)
    y = table.column("y").to_numpy().astype(np.int8)
    strings = {c: np.asarray(table.column(c).to_pylist(), dtype=object) for c in CATEGORICAL}
    for name, vlen in (("h5py-fixed", False), ("h5py-vlen", True)):
        with h5py.File(paths[name], "w") as f:
            ds = f.create_dataset("X", data=X, chunks=(UNIT, X.shape[1]))
            ds.attrs["feature_names"] = NUMERIC
            f.create_dataset("y", data=y, chunks=(UNIT,))
            for c, values in strings.items():
                if vlen:
                    f.create_dataset(c, data=values, dtype=h5py.string_dtype(), chunks=(UNIT,))
                else:
                    data = np.char.encode(values.astype(str), "utf-8")
                    f.create_dataset(c, data=data, chunks=(UNIT,))
    frame = table.to_pandas()
    for c in CATEGORICAL:
        frame[c] = frame[c].astype(object)
    frame.to_hdf(paths["table"], key="df", format="table")
    _write_columns(paths["parquet"], paths["h5py-columns"])
    del table, X, frame
    _ = pa  # (pyarrow imported for the writes above)
    return paths


def _write_columns(parquet: Path, path: Path) -> None:
    """One 1-D dataset per column (strings fixed-length), from the Parquet copy."""
    import h5py
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    with h5py.File(path, "w") as f:
        for c in NUMERIC + ["y"]:
            f.create_dataset(c, data=table.column(c).to_numpy(), chunks=(UNIT,))
        for c in CATEGORICAL:
            data = np.char.encode(np.asarray(table.column(c).to_pylist(), dtype=str), "utf-8")
            f.create_dataset(c, data=data, chunks=(UNIT,))


def raw_read(kind: str, path: Path) -> float:
    """Seconds to read every unit's needed columns as stored (see the module docstring)."""
    start = time.perf_counter()
    if kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path, pre_buffer=False, read_dictionary=CATEGORICAL)
        for rg in range(pf.metadata.num_row_groups):
            pf.read_row_group(rg, columns=NUMERIC + CATEGORICAL + ["y"], use_threads=False)
        return time.perf_counter() - start
    import h5py

    with h5py.File(path, "r") as f:
        if kind == "table":
            table = f["df/table"]
            fields = [n for n in table.dtype.names if n != "index"]
            n = table.shape[0]
            for lo in range(0, n, UNIT):
                table.fields(fields)[lo:lo + UNIT]
        elif kind == "h5py-columns":
            n = f["y"].shape[0]
            for lo in range(0, n, UNIT):
                for c in NUMERIC + CATEGORICAL + ["y"]:
                    f[c][lo:lo + UNIT]
        else:
            n = f["X"].shape[0]
            for lo in range(0, n, UNIT):
                rows = slice(lo, lo + UNIT)
                f["X"][rows], f["y"][rows]
                for c in CATEGORICAL:
                    f[c][rows]
    return time.perf_counter() - start


def sgd_epoch(path: Path) -> dict:
    import streamneuron as sn

    start = time.perf_counter()
    model = sn.fit_sgd(path, label="y", features=NUMERIC, categorical=CATEGORICAL, epochs=3,
                       seed=0)
    wall = time.perf_counter() - start
    epochs = [row["seconds"] for row in model.info["history"]]
    return {"epoch": statistics.median(epochs), "wall": wall,
            "objective": model.info["objective"]}


def newton_pass(path: Path) -> dict:
    import streamneuron as sn

    start = time.perf_counter()
    model = sn.fit_gd(path, label="y", features=NUMERIC, categorical=CATEGORICAL,
                      solver="newton", workers=0)
    wall = time.perf_counter() - start
    return {"pass": wall / model.info["passes"], "wall": wall,
            "passes": model.info["passes"], "objective": model.info["objective"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    formats = args.formats.split(",")
    paths = prepare(args.source, args.out_dir, args.rows)
    # warm-up: the page cache and numba's compiled kernels
    for kind in formats:
        raw_read(kind, paths[kind])
    sgd_epoch(paths["parquet"])
    newton_pass(paths["parquet"])
    runs = {kind: {"read": [], "sgd": [], "newton": []} for kind in formats}
    for r in range(args.repeat):
        order = formats[r % len(formats):] + formats[:r % len(formats)]
        for kind in order:
            runs[kind]["read"].append(raw_read(kind, paths[kind]))
            runs[kind]["sgd"].append(sgd_epoch(paths[kind]))
            runs[kind]["newton"].append(newton_pass(paths[kind]))
            print(kind, r, runs[kind]["read"][-1], runs[kind]["sgd"][-1],
                  runs[kind]["newton"][-1], flush=True)
    med = {}
    for kind in formats:
        med[kind] = {"read": statistics.median(runs[kind]["read"]),
                     "sgd_epoch": statistics.median(s["epoch"] for s in runs[kind]["sgd"]),
                     "newton_pass": statistics.median(s["pass"] for s in runs[kind]["newton"]),
                     "newton_passes": runs[kind]["newton"][-1]["passes"],
                     "objective": runs[kind]["newton"][-1]["objective"]}
    # Ratios paired within a repeat (the formats ran back to back, under the same load),
    # then their median and range: steadier than a ratio of medians on a shared machine.
    def paired(kind, measure):
        if "parquet" not in runs:
            return [float("nan")]
        return [measure(runs[kind], r) / measure(runs["parquet"], r)
                for r in range(args.repeat)]

    sgd = lambda runs_, r: runs_["sgd"][r]["epoch"]  # noqa: E731
    newton = lambda runs_, r: runs_["newton"][r]["pass"]  # noqa: E731
    print(f"\n{args.rows:,} rows, {len(NUMERIC)} numeric + {', '.join(CATEGORICAL)}; medians of "
          f"{args.repeat} (ratios: median [min-max] of the repeats' paired ratios)")
    print(f"{'format':<11} {'raw read':>9} {'sgd epoch':>10} {'newton pass':>12} "
          f"{'sgd/Parquet':>18} {'newton/Parquet':>18} {'sgd/read':>18}")
    for kind, m in med.items():
        ratios = {"sgd_vs_parquet": paired(kind, sgd), "newton_vs_parquet": paired(kind, newton),
                  "sgd_vs_read": [runs[kind]["sgd"][r]["epoch"] / runs[kind]["read"][r]
                                  for r in range(args.repeat)]}
        cells = []
        for key, values in ratios.items():
            m[key] = statistics.median(values)
            m[key + "_range"] = [min(values), max(values)]
            cells.append(f"{m[key]:.2f}x [{min(values):.2f}-{max(values):.2f}]")
        print(f"{kind:<11} {m['read']:>8.3f}s {m['sgd_epoch']:>9.3f}s {m['newton_pass']:>11.3f}s "
              + " ".join(f"{c:>18}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "repeat": args.repeat,
                                         "medians": med, "runs": runs}, indent=1, default=str))


if __name__ == "__main__":
    main()
