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
rounds and their ratio. ``--gap``: one default run (until converged) per file at
``--max-levels 10000``, its saved model's objective J against ``--optimum`` (J*).
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--baseline", help="another tree's root, run side by side")
    ap.add_argument("--gap", action="store_true", help="default runs: J against --optimum")
    ap.add_argument("--optimum", type=float, nargs="*", default=[],
                    help="J* of each file at --max-levels 10000")
    ap.add_argument("--json")
    args = ap.parse_args()
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
                print(f"{os.path.basename(path)} {key} ({res['weights'][limit]} weights): "
                      f"epoch {epoch:.3f} s / scan {scan:.3f} s = {epoch / scan:.2f}x")
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
