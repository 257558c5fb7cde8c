#!/usr/bin/env python
"""Peak RSS of ``streamneuron train`` on a small and a large file, for several versions of
the code side by side (issue 20, "peak RSS at 1M and 10M rows (<= 1.15x growth)").

Each run is ``python -m streamneuron train FILE --label y ...`` in a fresh subprocess under
``/usr/bin/time -f %M`` (the kernel's high-water mark of that process alone), with the
version's folder as working directory and ``PYTHONPATH``. Runs are interleaved (every
version, mode and file once, then again ``--repeat`` times), so that a change in the
machine's load touches every version alike; the table gives the median peak of each and
the growth from the first file to the last, and the median CPU seconds (user + system:
less sensitive to the load than the wall time). The load average is printed before and
after.

Modes (``--modes``): ``newton``, ``lbfgs``, ``sgd`` with the string columns categorical
(the default ``--max-levels`` leaves the 10,000-level column out: 1,118 weights),
``newton-11k``, ``lbfgs-11k``, ``sgd-11k`` the same with ``--max-levels 10000`` (11,118
weights), ``num-newton``: newton on the numeric columns only. lbfgs runs ``--lbfgs-iter`` iterations (default 10: its peak
is reached in the first passes; the full run takes ~130 passes).

    python scripts/make_flights_like.py --rows 1000000 --out /data/flights-1M.parquet
    python scripts/make_flights_like.py --rows 10000000 --out /data/flights-10M.parquet

Files of the same layout at both sizes (several row groups of the same size in each, so
that both keep every pass thread busy) are made with ``--row-group-size``:

    python scripts/make_flights_like.py --rows 1000000 --row-group-size 250000 \\
        --out /data/flights-1M-rg250k.parquet   # (and 10000000 rows: -10M-rg250k)
    git archive main | tar -x -C /tmp/before
    python scripts/bench_rss.py /data/flights-1M.parquet /data/flights-10M.parquet \\
        --version before=/tmp/before --version after=. --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

MODES = {
    "newton": ["--mode", "newton"],
    "num-newton": ["--mode", "newton", "--features", "x0,x1,x2,x3,x4,x5,x6,x7"],
    "lbfgs": ["--mode", "lbfgs"],
    "sgd": ["--mode", "sgd"],
    # --max-levels 10000 keeps the 10,000-level column: 11,118 weights
    "newton-11k": ["--mode", "newton", "--max-levels", "10000"],
    "lbfgs-11k": ["--mode", "lbfgs", "--max-levels", "10000"],
    "sgd-11k": ["--mode", "sgd", "--max-levels", "10000"],
}


def peak(folder: str, argv: list[str]) -> tuple[float | None, float, str]:
    """(peak RSS MiB, CPU seconds (user + system), last stderr line) of one run of the
    CLI from ``folder``."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(folder)}
    with tempfile.NamedTemporaryFile(suffix=".time") as tf:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name, sys.executable,
                               "-m", "streamneuron", "train", *argv], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        if proc.returncode:
            return None, 0.0, lines[-1] if lines else f"exit {proc.returncode}"
        rss, user, system = open(tf.name).read().split()[-3:]
        return int(rss) / 1024.0, float(user) + float(system), ""


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--version", action="append", required=True,
                    help="NAME=FOLDER: a copy of the code to run (repeatable)")
    ap.add_argument("--modes", default="newton,num-newton,lbfgs,sgd")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lbfgs-iter", type=int, default=10)
    args = ap.parse_args()
    versions = [v.split("=", 1) for v in args.version]
    modes = args.modes.split(",")
    results: dict = {}
    print(f"load average before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeat):
            for mode in modes:
                for path in args.files:
                    for name, folder in versions:
                        argv = [path, "--label", "y", "-o", os.path.join(tmp, "m.json"),
                                "--quiet", *MODES[mode]]
                        if mode.startswith("lbfgs"):
                            argv += ["--max-iter", str(args.lbfgs_iter)]
                        rss, cpu, err = peak(folder, argv)
                        results.setdefault((mode, name, path), []).append((rss, cpu))
                        print(f"  {rep} {mode:10s} {name:8s} {os.path.basename(path):22s} "
                              f"{'failed: ' + err if rss is None else f'{rss:7.0f} MiB'}"
                              f" {cpu:6.1f} s CPU", flush=True)
    print(f"load average after: {load()}\n")
    names = [os.path.basename(p) for p in args.files]
    print(f"| mode | version | {' | '.join(names)} | growth | CPU s, {' / '.join(names)} |")
    print("|---|---|" + "---|" * (len(names) + 2))
    for mode in modes:
        for name, _ in versions:
            runs = [[r for r in results[(mode, name, p)] if r[0] is not None] for p in args.files]
            med = [statistics.median([r[0] for r in rs]) if rs else 0.0 for rs in runs]
            cpu = [statistics.median([r[1] for r in rs]) if rs else 0.0 for rs in runs]
            growth = med[-1] / med[0] if med[0] else float("nan")
            print(f"| {mode} | {name} | {' | '.join(f'{m:.0f} MiB' for m in med)} | "
                  f"{growth:.2f}x | {' / '.join(f'{c:.1f}' for c in cpu)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
