#!/usr/bin/env python
"""newton on a file, two source trees side by side: wall, CPU and passes, interleaved.

Each round starts, for each tree in turn, a fresh process with ``PYTHONPATH=<tree>`` that
starts a local Dask cluster of ``--workers`` single-threaded worker processes (as
``bench_solvers.py`` does), warms it (a 2-iteration gd fit: kernels loaded, page cache),
then times ``--fits`` newton fits: wall, CPU (this process and the workers, by
``client.run(time.process_time)``), passes, the load average. Printed: every fit, then the
medians per tree and their ratios (the second tree over the first).

Usage::

    python scripts/bench_newton_trees.py /work/main /work/wt/newton22b \\
        --file /work/bench-data/big_std.parquet --l2 1e-4 --rounds 3 --fits 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def child(args) -> None:
    import logging
    import warnings

    import streamneuron as sn
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.CRITICAL)
    client = Client(cluster, set_as_default=False)

    def cpu():
        return time.process_time() + sum(client.run(time.process_time).values())

    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sn.fit_gd(args.file, max_iter=2, client=client, standardize=False, label="y")
        for _ in range(args.fits):
            c0, t0 = cpu(), time.perf_counter()
            model = sn.fit_gd(args.file, solver="newton", l2=args.l2, tol=1e-6,
                              standardize=args.standardize, label="y", client=client)
            runs.append({"wall": time.perf_counter() - t0, "cpu": cpu() - c0,
                         "passes": model.info["passes"], "load": os.getloadavg()[0]})
    print("RESULT " + json.dumps({"file": sn.__file__, "runs": runs}), flush=True)
    client.close()
    cluster.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="*")
    ap.add_argument("--file", default="/work/bench-data/big_std.parquet")
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--standardize", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fits", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    results = {tree: [] for tree in args.trees}
    for _ in range(args.rounds):
        for tree in args.trees:
            command = [sys.executable, os.path.abspath(__file__), "--child", "--file",
                       args.file, "--l2", str(args.l2), "--fits", str(args.fits),
                       "--workers", str(args.workers)] + (["--standardize"] * args.standardize)
            out = subprocess.run(command, env={**os.environ, "PYTHONPATH": tree}, cwd=tree,
                                 capture_output=True, text=True)
            line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                print(f"{tree}: failed\n{out.stderr[-2000:]}")
                continue
            runs = json.loads(line[7:])["runs"]
            results[tree] += runs
            for r in runs:
                print(f"{tree}: wall {r['wall']:.2f} s  cpu {r['cpu']:.2f} s  passes "
                      f"{r['passes']}  load {r['load']:.1f}", flush=True)
    medians = {tree: {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu")}
               for tree, runs in results.items() if runs}
    for tree, m in medians.items():
        print(f"{tree}: median wall {m['wall']:.2f} s, cpu {m['cpu']:.2f} s")
    if len(medians) == 2:
        (a, ma), (b, mb) = medians.items()
        print(f"{b} / {a}: wall {mb['wall'] / ma['wall']:.3f}x, cpu {mb['cpu'] / ma['cpu']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
