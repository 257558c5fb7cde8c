#!/usr/bin/env python
"""Peak memory (RSS) of ``streamneuron train`` as the file grows.

Each measurement is one ``python -m streamneuron train FILE ...`` in a fresh
subprocess; its peak RSS is the kernel's own high-water mark for that process
(``ru_maxrss`` from ``os.wait4``), so nothing is missed between polls.

Files of ``--sizes`` rows (default 1Mi and 8Mi) with the same row-group size are
generated under ``bench-data/`` (kept for later runs). The script prints, per
file and mode, the peak RSS, the ratio to the smallest file, and the decoded
size of one row group, and checks the issue's targets::

    peak(8M rows) <= 1.1 x peak(1M rows)      peak <= 600 MiB with 1Mi-row groups

Usage::

    python scripts/bench_memory.py                      # 1Mi and 8Mi rows x 32 float32
    python scripts/bench_memory.py --sizes 1048576,4194304 --features 16 --repeat 3
    python scripts/bench_memory.py --baseline           # also: python + imports only
    python scripts/bench_memory.py --extra=--no-standardize   # training alone
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data")
MiB = 1 << 20


def peak_rss(argv: list[str], env=None) -> tuple[float, float, int]:
    """(peak RSS in MiB, wall seconds, exit code) of one subprocess."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(err)
    return usage.ru_maxrss / 1024.0, wall, proc.returncode  # ru_maxrss is KiB on Linux


def ensure_file(rows: int, features: int, rg: int, fmt: str, data: str = DATA) -> str:
    ext = "h5" if fmt == "hdf5" else "parquet"
    path = os.path.join(data, f"mem-{rows}x{features}-rg{rg}.{ext}")
    if not os.path.exists(path):
        os.makedirs(data, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        subprocess.run([sys.executable, "-m", "streamneuron", "generate", path, "--rows", str(rows),
                        "--features", str(features), "--row-group-size", str(rg), "--format", fmt,
                        "--quiet"], check=True, cwd=ROOT)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=f"{1 << 20},{8 << 20}", help="rows per file, comma-separated")
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--row-group-size", type=int, default=1 << 20)
    ap.add_argument("--format", choices=["parquet", "hdf5", "both"], default="parquet")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2,
                    help="2: from the second epoch on, even a one-row-group file has a block "
                         "decoded ahead while one trains, as every larger file does")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell (the median is shown)")
    ap.add_argument("--modes", default="shuffle,no-shuffle",
                    help="comma-separated: shuffle, no-shuffle")
    ap.add_argument("--baseline", action="store_true",
                    help="also measure the interpreter with streamneuron imported and its "
                         "kernels loaded (nothing read)")
    ap.add_argument("--extra", default="", help="more train flags, e.g. '--no-standardize'")
    ap.add_argument("--data", default=DATA, help="where the files are made and kept "
                    "(default: bench-data/ beside scripts/)")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    formats = ["parquet", "hdf5"] if args.format == "both" else [args.format]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    decoded = args.row_group_size * args.features * 4 / MiB
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"streamneuron train, {args.features} float32 features, row groups of "
          f"{args.row_group_size:,} rows (decoded: {decoded:.0f} MiB each), batch "
          f"{args.batch_size}, {args.epochs} epoch(s); peak RSS of the process, median of "
          f"{args.repeat}")
    if args.baseline:
        code = ("import numpy as np, pyarrow.parquet, streamneuron.cli, streamneuron.sgd\n"
                "from streamneuron import kernels\n"
                "from streamneuron.training import StepRule\n"
                "X = np.zeros((3, 2), np.float32)\n"
                "kernels.sgd_block(kernels.Rows(X, np.zeros(3), np.empty(0, np.int64), "
                "np.empty(0), np.zeros(2), np.ones(2)), kernels.Arrays(np.zeros(2), "
                "kernels.new_state(), np.zeros(2), np.zeros(2), np.zeros(3), np.zeros(2), "
                "np.zeros(2)), StepRule(0, 1, 0.1))")
        rss = sorted(peak_rss([sys.executable, "-c", code], env)[0] for _ in range(args.repeat))
        baseline = rss[len(rss) // 2]
        print(f"baseline (python + imports + kernels loaded, nothing read): {baseline:.0f} MiB")
    rows_out = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.json")
        for fmt in formats:
            paths = {n: ensure_file(n, args.features, args.row_group_size, fmt, args.data)
                     for n in sizes}
            for mode in modes:
                first = None
                for n in sizes:
                    runs = []
                    for _ in range(args.repeat):
                        rss, wall, code = peak_rss(
                            [sys.executable, "-m", "streamneuron", "train", paths[n], "--label", "y",
                             "-o", model, "--epochs", str(args.epochs), "--batch-size",
                             str(args.batch_size), f"--{mode}", "--quiet", *args.extra.split()],
                            env)
                        if code:
                            print(f"train failed (exit {code})")
                            return 1
                        runs.append((rss, wall))
                    runs.sort()
                    rss, wall = runs[len(runs) // 2]
                    first = first or rss
                    rows_out.append((fmt, mode, n, rss, rss / first, wall))
    print()
    print(f"{'format':8} {'mode':11} {'rows':>10} {'peak RSS MiB':>13} {'x smallest':>11} "
          f"{'wall s':>7}" + (f" {'(peak-base)/group':>18}" if args.baseline else ""))
    for fmt, mode, n, rss, ratio, wall in rows_out:
        extra = f" {(rss - baseline) / decoded:>18.2f}" if args.baseline else ""
        print(f"{fmt:8} {mode:11} {n:>10,} {rss:>13.0f} {ratio:>11.2f} {wall:>7.1f}{extra}")
    print()
    biggest = max(r[4] for r in rows_out)
    highest = max(r[3] for r in rows_out)
    ratio_ok = biggest <= 1.1
    print(f"target: largest / smallest file <= 1.10: {biggest:.2f} {'met' if ratio_ok else 'NOT met'}")
    ok &= ratio_ok
    if args.row_group_size == 1 << 20 and args.features == 32:
        cap_ok = highest <= 600
        print(f"target: peak <= 600 MiB with 1Mi-row groups: {highest:.0f} MiB "
              f"{'met' if cap_ok else 'NOT met'}")
        ok &= cap_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
