#!/usr/bin/env python
"""In-process newton (``--workers 0``) with one BLAS thread per pass against BLAS as
configured (one thread per core by default), side by side.

The pass's own threads (Dask's threaded scheduler, one per core) each call the Hessian
sums' matrix products; a threaded BLAS then starts its own threads on top of them, on
the same cores. ``InProcess.BLAS_THREADS = 1`` (the default) limits BLAS inside a
pass; ``None`` leaves it as configured. Wall time of a whole ``fit_gd`` run (the
statistics pass, then newton's passes), medians of ``--repeat`` runs, the two cases
interleaved so that the machine's load hits both alike; the ratio is
unlimited / limited (> 1: the limit is faster).

Usage::

    python scripts/bench_blas.py [--rows 200000] [--features 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import streamneuron as sn  # noqa: E402
from streamneuron.fullpass import cluster  # noqa: E402

DATA = os.path.join(ROOT, "bench-data")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = os.path.join(DATA, f"blas-{args.rows}x{args.features}.parquet")
    if not os.path.exists(path):
        os.makedirs(DATA, exist_ok=True)
        subprocess.run([sys.executable, "-m", "streamneuron", "generate", path, "--rows",
                        str(args.rows), "--features", str(args.features), "--row-group-size",
                        "16384", "--quiet"], check=True, cwd=ROOT)
    cases = {"one BLAS thread (default)": 1, "BLAS as configured": None}

    def run(limit):
        cluster.InProcess.BLAS_THREADS = limit
        t = time.perf_counter()
        model = sn.fit_gd(path, label="y", solver="newton", workers=0)
        return time.perf_counter() - t, model

    for limit in cases.values():  # warm: numba's cache, the page cache
        run(limit)
    times: dict[str, list[float]] = {name: [] for name in cases}
    passes = {}
    for _ in range(args.repeat):
        for name, limit in cases.items():
            seconds, model = run(limit)
            times[name].append(seconds)
            passes[name] = model.info["passes"]
    print(f"newton --workers 0, {args.rows:,} x {args.features} float32 rows, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; wall seconds, "
          f"median of {args.repeat} (min .. max):")
    for name, values in times.items():
        print(f"  {name:28s} {statistics.median(values):7.2f}  ({min(values):.2f} .. "
              f"{max(values):.2f}), {passes[name]} passes")
    ratio = statistics.median(times["BLAS as configured"]) / statistics.median(
        times["one BLAS thread (default)"])
    print(f"as configured / one thread: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
