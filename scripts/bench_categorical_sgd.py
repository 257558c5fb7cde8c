#!/usr/bin/env python
"""An SGD epoch with categorical columns against a raw pyarrow scan of the same columns
(issue 20: "an SGD epoch / a raw pyarrow scan decoding the same columns <= 1.3x"), side by
side and interleaved, at two level limits: ``--max-levels 1000`` (c10, c100, c1000:
1,118 weights on the flights-like file) and ``--max-levels 10000`` (c10000 kept too:
~11,118 weights).

    python scripts/bench_categorical_sgd.py /work/bench-data/flights-1M.parquet \\
        /work/bench-data/flights-10M.parquet --rounds 3 --epochs 4 [--baseline /work/main] \\
        [--cache DIR] [--numbers 32 --limits 0]

Each round, for each file and level limit, one after the other in this order:

* **the matrix scan** (``bench_categorical.scan``, the floor the README's target names):
  ``ParquetFile(read_dictionary=categorical).read_row_group`` of each row group (pyarrow's
  threads), the 8 numeric columns copied into a new float64 (n, 8) row-major matrix (the
  layout SGD reads its shuffled rows in), the label into float64, each categorical column's
  dictionary indices mapped to int32 codes of a file-wide level table (each row group's
  dictionary matched once);
* **the pyarrow scan** (:func:`pyarrow_scan`, the least a decode can do): the same reads,
  each numeric column and the label as the numpy view pyarrow gives (no copy), each
  categorical column's dictionary indices as they are (no table, no copy);
* **an epoch** of each tree (this one, and ``--baseline``'s when given; the order of the
  trees alternates round by round): a fresh process (``--child``) running
  ``streamneuron.fit_sgd(FILE, epochs=E, categorical=..., max_levels=...)``, the defaults
  otherwise, the code ``streamneuron train --mode sgd`` runs; an epoch's wall time is the
  run's own (``history[].seconds``) and its CPU time the process's (every thread: the
  reader thread, the kernel's, BLAS's) between two epochs' ends; both the median of the
  run's epochs after the first.

``--cache DIR``: a third contender, ``cache``: this tree with ``fit_sgd(..., cache=DIR)``
(``train --cache DIR``): every epoch after the first reads the decoded units back from the
run's files instead of decoding the file. What writing them costs: each contender's wall
and CPU of the set-up (from the call to the loop's start: the passes before training) and
of the first epoch (from there to its end), and the cache's extra over this tree's, medians
of the rounds' differences. ``--numbers N --limits 0``: a file of numbers only (``x0``..``x{N-1}``
and ``y``, e.g. a row group of ``big.parquet``; then the standardization pass writes the
cache and every epoch reads it).

Reported: for each contender its medians over the rounds (wall and CPU seconds, CPU
from ``time.process_time``, every thread of the process), and the epoch's ratios to each
scan as the median of the rounds' ratios (each round's epoch over that round's scan:
steadier on a shared machine, whose load moves between rounds); the load average of
each round. The weights' hash of each run: the trees must agree bit for bit.

``--gap``: one default run (until converged) per file at ``--max-levels 10000``, its
saved model's objective J against ``--optimum`` (J*).

``--pieces`` (in this process, with the ``streamneuron`` on PYTHONPATH: run it once per
tree): CPU seconds of the scans, of an epoch through the stream (the reader thread
decoding ahead, the kernel on this one) and of its pieces one after the other (decode of
a unit, its codes alone, the row permutation, the labels in its order, the kernel).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_categorical as bc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMITS = {1000: ["c10", "c100", "c1000"], 10000: ["c10", "c100", "c1000", "c10000"], 0: []}
NUMERIC = [f"x{j}" for j in range(8)]


def clocked(fn, *args) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of ``fn(*args)`` (CPU: every thread of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def pyarrow_scan(path: str, cats: list[str]) -> int:
    """The least a decode of the same columns does (module docstring): rows seen."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path, read_dictionary=cats)
    rows = 0
    for i in range(f.metadata.num_row_groups):
        t = f.read_row_group(i, columns=NUMERIC + cats + ["y"])
        numbers = [t.column(c).to_numpy() for c in NUMERIC]  # views: no copy
        y = t.column("y").to_numpy()
        for c in cats:
            for chunk in t.column(c).chunks:
                chunk.indices.to_numpy(zero_copy_only=False)  # (a view, no nulls)
        rows += len(y)
        del numbers, y, t
    return rows


def matrix_scan(path: str, cats: list[str]) -> None:
    bc.scan(path, bc.Columns(NUMERIC, cats, "y"), True)


SCANS = {"matrix scan": matrix_scan, "pyarrow scan": pyarrow_scan}


def child(path: str, limit: int, epochs: int, cache: str | None = None) -> dict:
    """``fit_sgd`` in this process (``cache``: with ``cache=``): each epoch's wall and CPU
    seconds, the wall and CPU seconds from the call to the first epoch's end (the set-up,
    its passes and the first epoch: what writing the cache adds to), the weights' hash."""
    import hashlib

    import numpy as np

    import streamneuron as sn
    from streamneuron.sgd import run as sgd_run

    marks, rows = [time.process_time()], []
    walls = [time.perf_counter()]
    loop = []  # (wall, CPU) when the loop starts: after the set-up and its passes
    start = sgd_run.Run._start

    def started(self, *args):
        model = start(self, *args)
        loop.append((time.perf_counter(), time.process_time()))
        return model

    sgd_run.Run._start = started

    def on_epoch(row: dict) -> None:
        marks.append(time.process_time())
        walls.append(time.perf_counter())
        rows.append(row["seconds"])

    model = sn.fit_sgd(path, label="y", categorical=LIMITS[limit] or None,
                       max_levels=limit or 1000, epochs=epochs, on_epoch=on_epoch,
                       **({"cache": cache} if cache else {}))
    digest = hashlib.sha1(np.ascontiguousarray(model.weights).tobytes()
                          + np.float64(model.bias).tobytes()).hexdigest()[:12]
    return {"wall": rows, "cpu": [b - a for a, b in zip(marks, marks[1:])],
            "first": (walls[1] - walls[0], marks[1] - marks[0]),
            "setup": (loop[0][0] - walls[0], loop[0][1] - marks[0]),
            "epoch1": (walls[1] - loop[0][0], marks[1] - loop[0][1]),
            "weights": len(model.weights), "hash": digest}


def run_child(path: str, limit: int, epochs: int, code: str, cache: str | None = None) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), path, "--child", str(limit),
            "--epochs", str(epochs), "--numbers", str(len(NUMERIC))]
    if cache:
        argv += ["--cache", cache]
    done = subprocess.run(argv, env={**os.environ, "PYTHONPATH": code}, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def train(path: str, limit: int, epochs: int | None, code: str, workdir: str) -> dict:
    """One ``streamneuron train`` run (``code`` on PYTHONPATH): its --json summary."""
    out = os.path.join(workdir, "m.json")
    argv = [sys.executable, "-m", "streamneuron", "train", path, "--label", "y",
            "--categorical", ",".join(LIMITS[limit]), "--max-levels", str(limit),
            "--mode", "sgd", "-o", out, "--json", "--quiet"]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    env = {**os.environ, "PYTHONPATH": code}
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    summary["wall"] = time.perf_counter() - start
    return summary


def pieces(path: str, limit: int, repeat: int) -> dict:
    """CPU seconds of the scans, an epoch and its pieces (see the module docstring),
    medians of ``repeat`` rounds after one warm-up round; numpy's BLAS on one thread,
    as ``fit_sgd`` trains."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    import streamneuron as sn
    from streamneuron import kernels
    from streamneuron.losses import get_loss
    from streamneuron.stats import first_pass
    from streamneuron.stream import Position, block_order, iter_blocks
    from streamneuron.training import PassPolicy, TrainState

    cats = LIMITS[limit]
    src = sn.open_source(path, label="y", categorical=cats)
    moments, src = first_pass(src, max_levels=limit, reference=False)
    n, d = src.n_rows, src.n_features
    mean, inv = moments.mean, 1.0 / moments.scale()
    rule = PassPolicy.of(get_loss("log"), n, l2=1.0 / n).rule
    buf = np.empty(max(u.n_rows for u in src.units) * d)
    state = TrainState.start(np.zeros(src.n_weights))
    clock = time.process_time
    names = ("matrix scan", "pyarrow scan", "epoch", "read", "codes", "order", "labels",
             "kernel")
    times: dict = {k: [] for k in names}
    for r in range(repeat + 1):
        scans = {name: clocked(scan, path, cats)[1] for name, scan in SCANS.items()}
        t0 = clock()
        with threadpool_limits(1, user_api="blas"):
            for block in iter_blocks(src, Position(r, 0, 0), epochs=r + 1, shuffle=True,
                                     seed=0):
                state.train_block(block.X, block.labels, rule, mean, inv, order=block.order,
                                  codes=block.codes)
            state.finish_pass(rule)
        epoch = clock() - t0
        parts = dict.fromkeys(names[3:], 0.0)
        for i, u in enumerate(src.units):
            X = buf[:u.n_rows * d].reshape(u.n_rows, d)
            t0 = clock()
            unit = src.read(i, out=X)
            t1 = clock()
            raw = src.source.read(i, out=X)
            t2 = clock()
            src.levels.encode(raw.extra, raw.n_rows, d)
            t3 = clock()
            order = block_order(u.n_rows, seed=0, epoch=r, block=i, shuffle=True)
            t4 = clock()
            labels = kernels.gather(unit.y, order, np.empty(len(order), unit.y.dtype))
            t5 = clock()
            state.train_block(X, labels, rule, mean, inv, order=order, codes=unit.codes)
            t6 = clock()
            for k, dt in zip(names[3:], (t1 - t0, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                parts[k] += dt
        with threadpool_limits(1, user_api="blas"):
            state.finish_pass(rule)
        if r:
            for k, v in {**scans, "epoch": epoch, **parts}.items():
                times[k].append(v)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["weights"] = src.n_weights
    return out


def side_by_side(path: str, rounds: int, epochs: int, codes: dict) -> dict:
    """The module docstring's rounds on ``path``: every time, ratio and hash. ``codes``:
    each contender's name -> (its tree's root, its cache folder or None)."""
    res: dict = {"rounds": []}
    for limit, cats in LIMITS.items():  # warm-up reads (page cache) for every contender
        for scan in SCANS.values():
            scan(path, cats)
    for r in range(rounds):
        row: dict = {"load": os.getloadavg()}
        for limit, cats in LIMITS.items():
            for name, scan in SCANS.items():
                row[f"{name} {limit}"] = clocked(scan, path, cats)
            names = list(codes) if r % 2 == 0 else list(reversed(codes))
            for name in names:
                s = run_child(path, limit, epochs, *codes[name])
                row[f"{name} {limit}"] = (statistics.median(s["wall"][1:]),
                                          statistics.median(s["cpu"][1:]))
                row[f"{name} {limit} first"] = (*s["setup"], *s["epoch1"])
                row[f"{name} {limit} hash"] = s["hash"]
                res.setdefault("weights", {})[limit] = s["weights"]
        res["rounds"].append(row)
        print(f"{os.path.basename(path)} round {r + 1}: " + json.dumps(
            {k: (v if isinstance(v, str) else [round(x, 3) for x in v]) for k, v in row.items()}),
              file=sys.stderr, flush=True)
    summary = {}
    for limit in LIMITS:
        for name in codes:
            key = f"{name} {limit}"
            line = {}
            for what, at in (("wall", 0), ("cpu", 1)):
                epoch = [row[key][at] for row in res["rounds"]]
                line[what] = statistics.median(epoch)
                for scan in SCANS:
                    ratios = [row[key][at] / row[f"{scan} {limit}"][at] for row in res["rounds"]]
                    line[f"{what} / {scan}"] = statistics.median(ratios)
                    line[f"{what} / {scan} rounds"] = ratios
            line["hashes"] = sorted({row[f"{key} hash"] for row in res["rounds"]})
            for what, at in (("setup wall", 0), ("setup cpu", 1), ("epoch 1 wall", 2),
                             ("epoch 1 cpu", 3)):  # the set-up (its passes), the first epoch
                line[f"first {what}"] = statistics.median(
                    row[f"{key} first"][at] for row in res["rounds"])
                if name != "this":  # ... its extra over this tree's without a cache
                    line[f"first {what} extra"] = statistics.median(
                        row[f"{key} first"][at] - row[f"this {limit} first"][at]
                        for row in res["rounds"])
            summary[key] = line
        for scan in SCANS:
            summary[f"{scan} {limit}"] = {
                what: statistics.median(row[f"{scan} {limit}"][at] for row in res["rounds"])
                for what, at in (("wall", 0), ("cpu", 1))}
    res["summary"] = summary
    res["loads"] = [row["load"] for row in res["rounds"]]
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--baseline", help="another tree's root, run side by side")
    ap.add_argument("--gap", action="store_true", help="default runs: J against --optimum")
    ap.add_argument("--optimum", type=float, nargs="*", default=[],
                    help="J* of each file at --max-levels 10000")
    ap.add_argument("--pieces", action="store_true", help="CPU seconds, in this process")
    ap.add_argument("--cache", metavar="DIR", help="also this tree with fit_sgd(cache=DIR) "
                    "(train --cache DIR): contender 'cache'")
    ap.add_argument("--numbers", type=int, default=8,
                    help="the number columns x0..x{N-1} (8: the flights-like file)")
    ap.add_argument("--limits", type=int, nargs="+", default=[1000, 10000],
                    help="--max-levels values (0: numbers only, no categorical column)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json")
    args = ap.parse_args()
    NUMERIC[:] = [f"x{j}" for j in range(args.numbers)]
    if args.child is not None:
        print(json.dumps(child(args.files[0], args.child, args.epochs, args.cache)))
        return 0
    for limit in set(LIMITS) - set(args.limits):
        del LIMITS[limit]
    if args.pieces:
        results = {}
        for path in args.files:
            for limit in LIMITS:
                res = results[f"{path} {limit}"] = pieces(path, limit, args.rounds)
                print(f"{os.path.basename(path)} ({res['weights']} weights), CPU s: "
                      + "  ".join(f"{k} {v:.3f}" for k, v in res.items() if k != "weights")
                      + "; epoch / scan: " + ", ".join(
                          f"{s} {res['epoch'] / res[s]:.2f}x" for s in SCANS), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0
    codes = {"this": (ROOT, None), **({"cache": (ROOT, args.cache)} if args.cache else {}),
             **({"baseline": (args.baseline, None)} if args.baseline else {})}
    results: dict = {}
    for path in args.files:
        res = results[path] = side_by_side(path, args.rounds, args.epochs, codes)
        print(f"{os.path.basename(path)}: load averages "
              + ", ".join(f"{a:.1f}" for a, _, _ in res["loads"]))
        for key, line in res["summary"].items():
            if "scan" in key:
                print(f"  {key}: wall {line['wall']:.3f} s, CPU {line['cpu']:.3f} s")
                continue
            limit = int(key.split()[-1])
            print(f"  {key} ({res['weights'][limit]} weights): epoch wall {line['wall']:.3f} s, "
                  f"CPU {line['cpu']:.3f} s; " + "; ".join(
                      f"{what} / {scan} {line[f'{what} / {scan}']:.2f}x ("
                      + ", ".join(f"{q:.2f}" for q in line[f"{what} / {scan} rounds"]) + ")"
                      for what in ("wall", "cpu") for scan in SCANS)
                  + f"; weights {', '.join(line['hashes'])}")
            print("    " + "; ".join(
                f"{part}: wall {line[f'first {part} wall']:.3f} s, CPU "
                f"{line[f'first {part} cpu']:.3f} s" + (
                    "" if f"first {part} wall extra" not in line else
                    f" (+{line[f'first {part} wall extra']:.3f} s, "
                    f"+{line[f'first {part} cpu extra']:.3f} s over this tree's)")
                for part in ("setup", "epoch 1")))
    if args.gap:
        with tempfile.TemporaryDirectory() as workdir:
            for path, optimum in zip(args.files, args.optimum or [None] * len(args.files)):
                s = train(path, 10000, None, ROOT, workdir)
                j = s["objective"]
                results[path]["gap"] = {"objective": j, "epochs": s["epochs"],
                                        "converged": s["converged"], "wall": s["wall"],
                                        "weights": len(s["weights"])}
                line = (f"{os.path.basename(path)} default SGD, {len(s['weights'])} weights: "
                        f"{s['epochs']} epochs, {s['wall']:.1f} s, J = {j!r}")
                if optimum:
                    results[path]["gap"]["relative_gap"] = (j - optimum) / optimum
                    line += f", gap to J* {(j - optimum) / optimum:.2e}"
                print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
