#!/usr/bin/env python
"""An SGD epoch with categorical columns against a raw pyarrow scan of the same columns
(issue 20: "an SGD epoch / a raw pyarrow scan decoding the same columns <= 1.3x"), side by
side and interleaved, at two level limits: ``--max-levels 1000`` (c10, c100, c1000:
1,118 weights on the flights-like file) and ``--max-levels 10000`` (c10000 kept too:
~11,118 weights).

    python scripts/bench_categorical_sgd.py /work/bench-data/flights-1M.parquet \\
        /work/bench-data/flights-10M.parquet --rounds 3 --epochs 3 [--baseline /work/main]

Each round, for each file: the scan of the 3 and of the 4 categorical columns
(``bench_categorical.scan``: numbers into a float64 matrix, the label, each categorical
column into int32 codes of a file-wide table; one warm-up read first), then ``streamneuron
train FILE --mode sgd --epochs E`` at each level limit in a fresh process (and the same
with ``--baseline``'s code on PYTHONPATH, when given). An epoch's time is the median of
the run's epochs after the first (``history[].seconds``); reported: the medians over the
rounds and their ratio, and the median of each round's ratio (epoch / that round's scan:
steadier on a shared machine, whose load moves between rounds). ``--gap``: one default run (until converged) per file at
``--max-levels 10000``, its saved model's objective J against ``--optimum`` (J*).

``--pieces`` (in this process, with the ``streamneuron`` on PYTHONPATH: run it once per
tree): CPU seconds (``time.process_time``: every thread, so the scan's pyarrow threads
and the epoch's reader thread count) of the scan, of an epoch through the stream (the
reader thread decoding ahead, the kernel on this one), and of its pieces one after the
other (decode of a unit, its codes alone, the row permutation, the labels in its order,
the kernel). Steadier than wall time on a machine shared with other work.
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
LIMITS = {1000: ["c10", "c100", "c1000"], 10000: ["c10", "c100", "c1000", "c10000"]}


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
    """CPU seconds of the scan, an epoch and its pieces (see the module docstring),
    medians of ``repeat`` rounds after one warm-up round."""
    import numpy as np

    import streamneuron as sn
    from streamneuron import kernels
    from streamneuron.losses import get_loss
    from streamneuron.stats import first_pass
    from streamneuron.stream import Position, block_order, iter_blocks
    from streamneuron.training import PassPolicy, TrainState

    cats = LIMITS[limit]
    cols = bc.Columns([f"x{j}" for j in range(8)], cats, "y")
    src = sn.open_source(path, label="y", categorical=cats)
    moments, src = first_pass(src, max_levels=limit, reference=False)
    n, d = src.n_rows, src.n_features
    mean, inv = moments.mean, 1.0 / moments.scale()
    rule = PassPolicy.of(get_loss("log"), n, l2=1.0 / n).rule
    buf = np.empty(max(u.n_rows for u in src.units) * d)
    state = TrainState.start(np.zeros(src.n_weights))
    clock = time.process_time
    names = ("scan", "epoch", "read", "codes", "order", "labels", "kernel")
    times: dict = {k: [] for k in names}
    for r in range(repeat + 1):
        t0 = clock()
        bc.scan(path, cols, True)
        scan = clock() - t0
        t0 = clock()
        for block in iter_blocks(src, Position(r, 0, 0), epochs=r + 1, shuffle=True, seed=0):
            state.train_block(block.X, block.labels, rule, mean, inv, order=block.order,
                              codes=block.codes)
        state.finish_pass(rule)
        epoch = clock() - t0
        parts = dict.fromkeys(names[2:], 0.0)
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
            for k, dt in zip(names[2:], (t1 - t0, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                parts[k] += dt
        state.finish_pass(rule)
        if r:
            for k, v in {"scan": scan, "epoch": epoch, **parts}.items():
                times[k].append(v)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["weights"] = src.n_weights
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--baseline", help="another tree's root, run side by side")
    ap.add_argument("--gap", action="store_true", help="default runs: J against --optimum")
    ap.add_argument("--optimum", type=float, nargs="*", default=[],
                    help="J* of each file at --max-levels 10000")
    ap.add_argument("--pieces", action="store_true", help="CPU seconds, in this process")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.pieces:
        results = {}
        for path in args.files:
            for limit in LIMITS:
                res = results[f"{path} {limit}"] = pieces(path, limit, args.rounds)
                print(f"{os.path.basename(path)} ({res['weights']} weights), CPU s: "
                      + "  ".join(f"{k} {v:.3f}" for k, v in res.items() if k != "weights")
                      + f"; epoch / scan {res['epoch'] / res['scan']:.2f}x", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0
    codes = {"this": ROOT, **({"baseline": args.baseline} if args.baseline else {})}
    results: dict = {}
    with tempfile.TemporaryDirectory() as workdir:
        for path in args.files:
            res = results[path] = {"scan": {}, "epoch": {}}
            for limit in LIMITS:
                bc.scan(path, bc.Columns([f"x{j}" for j in range(8)], LIMITS[limit], "y"), True)
            for r in range(args.rounds):
                for limit, cats in LIMITS.items():
                    cols = bc.Columns([f"x{j}" for j in range(8)], cats, "y")
                    res["scan"].setdefault(limit, []).append(bc.scan(path, cols, True)[0])
                    for name, code in codes.items():
                        s = train(path, limit, args.epochs, code, workdir)
                        seconds = [h["seconds"] for h in s["history"][1:]]
                        res["epoch"].setdefault(f"{name} {limit}", []).append(
                            statistics.median(seconds))
                        res.setdefault("weights", {})[limit] = len(s["weights"])
                print(f"{path} round {r + 1}: " + json.dumps(
                    {k: [round(x, 3) for x in v] for k, v in
                     [*res["scan"].items(), *res["epoch"].items()]}), file=sys.stderr,
                      flush=True)
            for key, values in res["epoch"].items():
                limit = int(key.split()[-1])
                scan = statistics.median(res["scan"][limit])
                epoch = statistics.median(values)
                ratios = [e / s for e, s in zip(values, res["scan"][limit])]
                res.setdefault("ratio", {})[key] = statistics.median(ratios)
                print(f"{os.path.basename(path)} {key} ({res['weights'][limit]} weights): "
                      f"epoch {epoch:.3f} s / scan {scan:.3f} s = {epoch / scan:.2f}x; "
                      f"median of the rounds' ratios {statistics.median(ratios):.2f}x "
                      f"({', '.join(f'{q:.2f}' for q in ratios)})")
        if args.gap:
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
