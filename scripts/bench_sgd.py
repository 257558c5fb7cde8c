#!/usr/bin/env python
"""One SGD epoch against the cost of just reading the file, side by side.

On a generated N x D float32 file (default 5M x 32, Parquet snappy with 1Mi-row
groups, and the same rows as HDF5), page cache warm, this times:

* the raw scans (the floor): pyarrow ``iter_batches`` to a row-major float32
  matrix, in three ways (``np.stack``, ``RecordBatch.to_tensor``, and a
  cache-blocked transpose); the reference for the ratios is the FASTEST of the
  three, so the comparison is as hard as we know how to make it. Also the
  column-major scan (``iter_batches`` to numpy column views, no matrix at all)
  and the HDF5 chunk-aligned read (``X[a:b]``, ``y[a:b]``);
* one epoch of ``streamneuron.fit_sgd`` at each batch size, shuffled (the
  default) and in file order, Parquet and HDF5: the median of ``--epochs`` epochs
  (``info["history"]`` seconds, which leave out the standardization pass);
* the cost of row weights and of L1, side by side on one Parquet file that has a
  weight column ``w`` too (the same rows): a shuffled epoch unweighted (``w`` not
  read), weighted (``weight="w"``: the column read, each row's loss and gradient
  weighted) and unweighted with ``l1 > 0`` (the cumulative penalty after every step),
  at the ``--weight-batch-sizes``; targets: weighted <= 1.1 x unweighted;
* scikit-learn's ``SGDClassifier(loss="log_loss").partial_fit`` on the same
  batches of the same row-major stream. Where a full pass would take too long
  (batch 1 and 32) it is timed on a prefix of ``--sklearn-prefix`` rows and
  extrapolated: scan time + time per row x N (said so in the table).

``--schedules constant,adagrad,auto`` times each step rule on the same files, side by
side (the table then gives each rule's epoch time over the constant step's);
``--baseline-tree DIR`` also times the constant step with the streamneuron of another
checkout (e.g. the main branch), interleaved, to show a change costs the constant
step nothing.

Every measurement runs in its own subprocess (its peak RSS is reported), the
tasks interleaved over ``--rounds`` rounds on this noisy shared machine; the
table shows medians over rounds, and the CPU seconds per epoch (all threads)
as a contention-free view.

Usage::

    python scripts/bench_sgd.py                   # full size, ~10 minutes
    python scripts/bench_sgd.py --rows 1000000 --rounds 1 --batch-sizes 256   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data")
MiB = 1 << 20


# ---------------------------------------------------------------------------- workers
def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def _scan_parquet(path: str, how: str, batch_rows: int):
    """One pass: iter_batches to a float32 matrix (or column views); returns rows seen."""
    import numpy as np
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = [n for n in pf.schema_arrow.names if n != "y"]
    rows = 0
    if how == "blocked":
        from streamneuron.kernels import columns_into
    for batch in pf.iter_batches(batch_size=batch_rows, columns=names + ["y"]):
        cols = [batch.column(j).to_numpy() for j in range(len(names))]
        y = batch.column(len(names)).to_numpy()
        if how == "columns":
            X = cols
        elif how == "stack":
            X = np.stack(cols, axis=1)
        elif how == "to_tensor":
            X = np.asarray(batch.select(names).to_tensor(row_major=True))
        elif how == "blocked":  # cache-blocked transpose into a fresh row-major matrix
            X = np.empty((batch.num_rows, len(names)), dtype=np.float32)
            addresses = np.array([c.ctypes.data for c in cols], dtype=np.int64)
            columns_into(addresses, batch.num_rows, X, 0)
        else:
            raise ValueError(how)
        rows += len(y)
        del X, cols, y
    return rows


def _scan_hdf5(path: str):
    import h5py

    rows = 0
    with h5py.File(path, "r") as f:
        X, y = f["X"], f["y"]
        step = X.chunks[0] if X.chunks else 1 << 20
        for start in range(0, X.shape[0], step):
            a, b = X[start:start + step], y[start:start + step]
            rows += len(b)
            del a, b
    return rows


def _row_major_batches(path: str, batch_rows: int):
    """(X, y) row-major float32 blocks of the file, as a scikit-learn user would feed them."""
    import numpy as np
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = [n for n in pf.schema_arrow.names if n != "y"]
    for batch in pf.iter_batches(batch_size=batch_rows, columns=names + ["y"]):
        X = np.stack([batch.column(j).to_numpy() for j in range(len(names))], axis=1)
        yield X, batch.column(len(names)).to_numpy()


def worker(task: dict) -> dict:
    kind = task["kind"]
    if kind == "scan":
        times, cpus = [], []
        for _ in range(task["repeat"]):
            c0, t0 = _cpu(), time.perf_counter()
            if task["format"] == "hdf5":
                _scan_hdf5(task["path"])
            else:
                _scan_parquet(task["path"], task["how"], task["batch_rows"])
            times.append(time.perf_counter() - t0)
            cpus.append(_cpu() - c0)
        return {"seconds": _median(times), "cpu": _median(cpus), "all": times}
    if kind == "sgd":
        import streamneuron as sn

        marks = []
        source = sn.open_source(task["path"], label="y")
        t0 = [time.perf_counter(), _cpu()]

        def on_epoch(row):
            marks.append((time.perf_counter(), _cpu(), row["seconds"]))

        extra = {}
        if task.get("features"):  # the file with a weight column: features named
            source = sn.open_source(task["path"], label="y", features=task["features"],
                                    weight=task.get("weight"))
            extra = {"l1": task.get("l1", 0.0)}
        model = sn.fit_sgd(source, batch_size=task["batch"], epochs=task["epochs"],
                           lr=0.05, l2=0.0, shuffle=task["shuffle"], on_epoch=on_epoch,
                           schedule=task.get("schedule", "constant"), **extra)
        seconds = [h["seconds"] for h in model.info["history"]]
        cpu = [marks[k][1] - marks[k - 1][1] for k in range(1, len(marks))]
        if task.get("warm_only") and len(seconds) > 1:
            # a small difference (weights): the first epoch of a run (cold caches, the
            # reader thread starting) is noise larger than the difference measured
            seconds, cpu = seconds[1:], cpu[1:]
        return {"seconds": _median(seconds), "cpu": _median(cpu) if cpu else None, "all": seconds,
                "total": time.perf_counter() - t0[0]}
    if kind == "sklearn":
        import warnings

        import numpy as np
        from sklearn.linear_model import SGDClassifier

        warnings.filterwarnings("ignore")
        B, n_total, prefix = task["batch"], task["rows"], task["prefix"]
        clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.05)
        classes = np.array([0, 1])
        if prefix and prefix < n_total:
            # Time partial_fit alone on the first `prefix` rows, extrapolate, add the scan.
            parts, have = [], 0
            for X, y in _row_major_batches(task["path"], task["batch_rows"]):
                parts.append((X, y))
                have += len(y)
                if have >= prefix:
                    break
            X = np.concatenate([p[0] for p in parts])[:prefix]
            y = np.concatenate([p[1] for p in parts])[:prefix]
            prefix = len(y)
            c0, t0 = _cpu(), time.perf_counter()
            for s in range(0, prefix, B):
                clf.partial_fit(X[s:s + B], y[s:s + B], classes=classes)
            fit = (time.perf_counter() - t0) / prefix * n_total
            fit_cpu = (_cpu() - c0) / prefix * n_total
            c0, t0 = _cpu(), time.perf_counter()
            for X, y in _row_major_batches(task["path"], task["batch_rows"]):
                pass
            scan, scan_cpu = time.perf_counter() - t0, _cpu() - c0
            return {"seconds": scan + fit, "cpu": scan_cpu + fit_cpu, "extrapolated": prefix}
        c0, t0 = _cpu(), time.perf_counter()
        for X, y in _row_major_batches(task["path"], task["batch_rows"]):
            for s in range(0, len(y), B):
                clf.partial_fit(X[s:s + B], y[s:s + B], classes=classes)
        return {"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0}
    raise ValueError(kind)


def run_task(task: dict) -> dict:
    root = task.get("root") or ROOT  # --baseline-tree: another checkout's streamneuron
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(task)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = proc.communicate()
    if proc.returncode:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"worker failed: {task}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["rss"] = result["rss_self"]  # the worker's own peak RSS (ru_maxrss)
    return result


# ---------------------------------------------------------------------------- driver
def ensure_files(rows: int, features: int, rg: int) -> dict:
    os.makedirs(DATA, exist_ok=True)
    paths = {}
    for fmt, ext in (("parquet", "parquet"), ("hdf5", "h5")):
        path = os.path.join(DATA, f"sgd-{rows}x{features}-rg{rg}.{ext}")
        if not os.path.exists(path):
            print(f"generating {path} ...", flush=True)
            subprocess.run([sys.executable, "-m", "streamneuron", "generate", path, "--rows",
                            str(rows), "--features", str(features), "--row-group-size", str(rg),
                            "--format", fmt, "--quiet"], check=True, cwd=ROOT)
        paths[fmt] = path
    return paths


def ensure_weighted_file(path: str) -> str:
    """The Parquet file with a weight column ``w`` (uniform in [0, 2), seeded) added,
    row groups as in the original."""
    out = path.replace(".parquet", "-weighted.parquet")
    if not os.path.exists(out):
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        print(f"generating {out} ...", flush=True)
        pf = pq.ParquetFile(path)
        rng = np.random.default_rng(0)
        schema = pf.schema_arrow.append(pa.field("w", pa.float64()))
        with pq.ParquetWriter(out, schema) as writer:
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i)
                writer.write_table(table.append_column("w", pa.array(
                    rng.uniform(0.0, 2.0, table.num_rows))))
    return out


def warm(paths: dict) -> None:
    for path in paths.values():  # page cache
        with open(path, "rb") as f:
            while f.read(64 << 20):
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--row-group-size", type=int, default=1 << 20)
    ap.add_argument("--batch-sizes", default="1,32,256,4096,65536")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per SGD run (median shown)")
    ap.add_argument("--scan-repeat", type=int, default=3, help="scans per scan run (median)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median shown)")
    ap.add_argument("--formats", default="parquet,hdf5")
    ap.add_argument("--modes", default="shuffle,no-shuffle")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--sklearn-prefix", type=int, default=100_000,
                    help="rows timed for sklearn at batch sizes where a full pass is too slow")
    ap.add_argument("--sklearn-full-from", type=int, default=256,
                    help="smallest batch size for which sklearn runs the whole file")
    ap.add_argument("--scan-batch-rows", type=int, default=65536,
                    help="iter_batches batch size of the raw scans and of the scikit-learn stream "
                         "(pyarrow's default, and its fastest here)")
    ap.add_argument("--schedules", default="constant",
                    help="step rules timed side by side (constant,adagrad,auto)")
    ap.add_argument("--baseline-tree", default=None,
                    help="also time the constant step with this checkout's streamneuron")
    ap.add_argument("--weight-batch-sizes", default="32,256",
                    help="batch sizes of the weighted / L1 comparison ('' to skip it)")
    ap.add_argument("--l1", type=float, default=1e-4, help="l1 of the L1 comparison")
    ap.add_argument("--json", help="also write all results to this file")
    args = ap.parse_args()

    if args.worker:
        task = json.loads(args.worker)
        result = worker(task)
        result["rss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps(result))
        return 0

    batches = [int(b) for b in args.batch_sizes.split(",")]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    paths = ensure_files(args.rows, args.features, args.row_group_size)
    weight_batches = [int(b) for b in args.weight_batch_sizes.split(",") if b.strip()]
    if weight_batches:
        paths["weighted"] = ensure_weighted_file(paths["parquet"])
    warm(paths)
    tasks = {}
    rg = args.scan_batch_rows
    for how in ("stack", "to_tensor", "blocked", "columns"):
        tasks[("scan", "parquet", how)] = dict(kind="scan", format="parquet", how=how,
                                               path=paths["parquet"], batch_rows=rg,
                                               repeat=args.scan_repeat)
    if "hdf5" in formats:
        tasks[("scan", "hdf5", "read")] = dict(kind="scan", format="hdf5", path=paths["hdf5"],
                                               repeat=args.scan_repeat)
    for fmt in formats:
        for mode in modes:
            for B in batches:
                tasks[("sgd", fmt, mode, B)] = dict(kind="sgd", path=paths[fmt], batch=B,
                                                    epochs=args.epochs, shuffle=mode == "shuffle",
                                                    schedule="constant")
                for sched in [x for x in args.schedules.split(",") if x not in ("", "constant")]:
                    tasks[("sgd", fmt, mode, B, sched)] = dict(tasks[("sgd", fmt, mode, B)],
                                                               schedule=sched)
                if args.baseline_tree:
                    tasks[("sgd", fmt, mode, B, "baseline")] = dict(
                        tasks[("sgd", fmt, mode, B)], root=os.path.abspath(args.baseline_tree))
    names = [f"x{j}" for j in range(args.features)]
    variants = {"unweighted": {}, "weighted": {"weight": "w"}, "l1": {"l1": args.l1}}
    for B in weight_batches:
        for variant, extra in variants.items():
            tasks[("weights", variant, B)] = dict(kind="sgd", path=paths["weighted"], batch=B,
                                                  epochs=max(args.epochs, 4), shuffle=True,
                                                  features=names, warm_only=True, **extra)
    if not args.no_sklearn:
        for B in batches:
            prefix = 0 if B >= args.sklearn_full_from else max(args.sklearn_prefix, 100 * B)
            tasks[("sklearn", B)] = dict(kind="sklearn", path=paths["parquet"], batch=B,
                                         rows=args.rows, prefix=prefix, batch_rows=rg)

    results = {key: [] for key in tasks}
    t_start = time.perf_counter()
    for r in range(args.rounds):
        for key, task in tasks.items():
            if key[0] == "sklearn" and r > 0 and tasks[key]["prefix"] == 0 and key[1] < 4096:
                continue  # slow and stable: one round is enough
            res = run_task(task)
            results[key].append(res)
            print(f"round {r + 1}/{args.rounds} {'/'.join(map(str, key)):32} "
                  f"{res['seconds']:8.3f} s  cpu {res['cpu'] or 0:7.3f}  rss {res['rss']:6.0f} MiB",
                  flush=True)
    elapsed = time.perf_counter() - t_start

    def med(key, field="seconds"):
        vals = [r[field] for r in results[key] if r.get(field) is not None]
        return _median(vals) if vals else float("nan")

    def rss(key):
        return max(r["rss"] for r in results[key])

    row_major = {how: med(("scan", "parquet", how)) for how in ("stack", "to_tensor", "blocked")}
    ref_how = min(row_major, key=row_major.get)
    ref = row_major[ref_how]
    floor = med(("scan", "parquet", "columns"))
    print()
    print(f"{args.rows:,} rows x {args.features} float32, row groups / HDF5 chunks of "
          f"{args.row_group_size:,} rows; raw scans in batches of {args.scan_batch_rows:,} rows; "
          f"medians of {args.rounds} interleaved rounds ({elapsed / 60:.1f} min)")
    print("raw scans (one pass, seconds; cpu = process CPU seconds, all threads):")
    for how in ("stack", "to_tensor", "blocked"):
        mark = "  <- reference (fastest row-major)" if how == ref_how else ""
        print(f"  parquet row-major via {how:10} {row_major[how]:7.3f} s  cpu "
              f"{med(('scan', 'parquet', how), 'cpu'):6.3f}  rss {rss(('scan', 'parquet', how)):5.0f} MiB{mark}")
    print(f"  parquet column views (floor)   {floor:7.3f} s  cpu "
          f"{med(('scan', 'parquet', 'columns'), 'cpu'):6.3f}  rss {rss(('scan', 'parquet', 'columns')):5.0f} MiB")
    h5 = None
    if "hdf5" in formats:
        h5 = med(("scan", "hdf5", "read"))
        print(f"  hdf5 chunk reads               {h5:7.3f} s  cpu "
              f"{med(('scan', 'hdf5', 'read'), 'cpu'):6.3f}  rss {rss(('scan', 'hdf5', 'read')):5.0f} MiB")
    print()
    header = (f"{'format':8} {'mode':10} {'batch':>6} {'epoch s':>8} {'cpu s':>6} {'x scan':>7} "
              f"{'x floor':>7} {'sklearn s':>10} {'sk/ours':>8} {'RSS MiB':>8}")
    print(header)
    print("-" * len(header))
    ok = {"scan": True, "sklearn15": True, "sklearn_all": True, "hdf5": True}
    for fmt in formats:
        for mode in modes:
            for B in batches:
                key = ("sgd", fmt, mode, B)
                t = med(key)
                base = ref if fmt == "parquet" else h5
                x_scan = t / base
                x_floor = t / (floor if fmt == "parquet" else h5)
                sk = med(("sklearn", B)) if not args.no_sklearn else float("nan")
                extra = ""
                if not args.no_sklearn and results[("sklearn", B)][0].get("extrapolated"):
                    extra = "*"
                ratio = sk / t
                print(f"{fmt:8} {mode:10} {B:>6} {t:8.3f} {med(key, 'cpu'):6.2f} {x_scan:7.2f} "
                      f"{x_floor:7.2f} {sk:9.2f}{extra:1} {ratio:8.1f} {rss(key):8.0f}")
                if fmt == "parquet":
                    ok["scan"] &= x_scan <= 1.05
                    if not args.no_sklearn:
                        ok["sklearn_all"] &= ratio > 1.0
                        if B == 256:
                            ok["sklearn15"] &= ratio >= 15
                else:
                    ok["hdf5"] &= x_scan <= 1.5
    others = [x for x in args.schedules.split(",") if x not in ("", "constant")] + (
        ["baseline"] if args.baseline_tree else [])
    if others:
        print()
        print("epoch / the constant step's epoch, same format, mode and batch size (medians; "
              "wall seconds, and CPU seconds: the view the machine's other load moves less):")
        print(f"{'format':8} {'mode':10} {'batch':>6} " +
              " ".join(f"{o + ' wall':>14} {o + ' cpu':>13}" for o in others))
        for fmt in formats:
            for mode in modes:
                for B in batches:
                    key = ("sgd", fmt, mode, B)
                    print(f"{fmt:8} {mode:10} {B:>6} " + " ".join(
                        f"{med(key + (o,)) / med(key):14.3f} "
                        f"{med(key + (o,), 'cpu') / med(key, 'cpu'):13.3f}" for o in others))
        if args.baseline_tree:
            print(f"baseline: the constant step with {args.baseline_tree}'s streamneuron")
    if not args.no_sklearn:
        print(f"* scikit-learn timed on a prefix of {args.sklearn_prefix:,} rows (at least 100 "
              "batches) and extrapolated to the file, plus one row-major scan")
    print()
    print(f"x scan  = epoch / fastest row-major Parquet scan ({ref_how}); for HDF5, / the HDF5 read")
    print("x floor = epoch / Parquet column-view scan (no matrix built); for HDF5, / the HDF5 read")
    print("targets:")
    print(f"  Parquet epoch <= 1.05 x row-major scan at every batch size: "
          f"{'met' if ok['scan'] else 'NOT met'}")
    if not args.no_sklearn:
        print(f"  >= 15x faster than sklearn partial_fit at batch 256: "
              f"{'met' if ok['sklearn15'] else 'NOT met'}; faster at every batch size: "
              f"{'met' if ok['sklearn_all'] else 'NOT met'}")
    if "hdf5" in formats:
        print(f"  HDF5 epoch <= 1.5 x HDF5 read at every batch size: {'met' if ok['hdf5'] else 'NOT met'}")
    if weight_batches:
        print()
        print(f"row weights and L1 (Parquet with a weight column, shuffled; epoch seconds, "
              f"medians; l1 = {args.l1:g}):")
        header = (f"{'batch':>6} {'unweighted':>11} {'weighted':>9} {'x':>6} "
                  f"{'l1 > 0':>8} {'x':>6}   cpu s: {'unw':>5} {'w':>5} {'l1':>5}")
        print(header)
        print("-" * len(header))
        ok["weights"] = True
        for B in weight_batches:
            t = {v: med(("weights", v, B)) for v in variants}
            c = {v: med(("weights", v, B), "cpu") for v in variants}
            ratio_w, ratio_l1 = t["weighted"] / t["unweighted"], t["l1"] / t["unweighted"]
            ok["weights"] &= ratio_w <= 1.1
            print(f"{B:>6} {t['unweighted']:11.3f} {t['weighted']:9.3f} {ratio_w:6.2f} "
                  f"{t['l1']:8.3f} {ratio_l1:6.2f}   {'':7}{c['unweighted']:5.2f} "
                  f"{c['weighted']:5.2f} {c['l1']:5.2f}")
        print(f"  weighted epoch <= 1.1 x unweighted at every batch size: "
              f"{'met' if ok['weights'] else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"/".join(map(str, k)): v for k, v in results.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
