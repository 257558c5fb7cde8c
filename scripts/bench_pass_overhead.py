#!/usr/bin/env python
"""The fixed cost of one full pass on a tiny in-memory problem (``workers=0``).

``fit_gd((X, y), solver=SOLVER, workers=0)`` on a 1,000 x 8 float64 array: every pass
is a Dask graph (a bag of the array's units and a tree reduction of their sums) run
by the threaded scheduler in this process, so at this size a pass is almost all
fixed cost. Reported: the CPU and wall seconds of one pass (``Run._sums``), the
median over every pass of ``--repeat`` fits after one untimed fit (numba's kernels
loaded), and the load average.

Usage::

    python scripts/bench_pass_overhead.py [--rows 1000] [--features 8] [--repeat 20]
        [--row-group-size 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import streamneuron as sn  # noqa: E402
from streamneuron.fullpass import engine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--solver", default="newton")
    ap.add_argument("--row-group-size", type=int, default=None,
                    help="train on a Parquet file of these row groups instead (several "
                    "partitions: the pass threads and the reduction tree)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features))
    y = (X @ rng.normal(size=args.features) + rng.logistic(size=args.rows) > 0).astype(float)

    cpu, wall = [], []
    run_class = next(v for v in vars(engine).values()
                     if isinstance(v, type) and hasattr(v, "_sums"))
    sums = run_class._sums

    def timed(self, *a, **k):
        c, t = time.process_time(), time.perf_counter()
        out = sums(self, *a, **k)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
        return out

    run_class._sums = timed
    fit = dict(solver=args.solver, workers=0)
    data = (X, y)
    if args.row_group_size:
        import tempfile

        import pyarrow as pa
        import pyarrow.parquet as pq

        data = os.path.join(tempfile.mkdtemp(), "pass.parquet")
        columns = {f"x{j}": X[:, j] for j in range(args.features)}
        pq.write_table(pa.table({**columns, "y": y}), data, row_group_size=args.row_group_size)
        fit["label"] = "y"
    sn.fit_gd(data, **fit)  # untimed: kernels loaded
    cpu.clear(), wall.clear()
    for _ in range(args.repeat):
        model = sn.fit_gd(data, **fit)
    where = f"Parquet, row groups of {args.row_group_size}" if args.row_group_size else "array"
    print(f"{args.rows} x {args.features} ({where}), {args.solver}, workers=0: one pass "
          f"{statistics.median(cpu) * 1e3:.3f} ms CPU, {statistics.median(wall) * 1e3:.3f} ms "
          f"wall (medians of {len(cpu)} passes in {args.repeat} fits); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; bias {model.bias!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
