#!/usr/bin/env python
"""The SGD kernel alone, against just touching the same data the same way.

On an in-memory N x D float32 chunk (default 1Mi x 32, as one 1Mi-row group
decodes), for each layout the engine feeds the kernel (row-major in file order:
HDF5; column-major in file order: Parquet without shuffling; row-major in
shuffled order: any shuffled epoch), this times:

* ``touch``: a compiled loop that reads every value once in that order and sums
  it (for the shuffled layout: the rows gathered in the permuted order, with the
  same prefetching) -- the memory floor of the layout;
* ``sgd_block`` at each batch size, over slices of 64Ki rows like the engine;
  with ``--schedules constant,adagrad,auto`` each step rule side by side (``adagrad``:
  AdaGrad's per-coordinate steps; ``auto``: the same with the running average of the
  iterates, the default of ``streamneuron train``), and its cost over the constant step's.
* then, shuffled, the cost of row weights and of L1 beside the unweighted kernel:
  ``sgd_block`` unweighted (as the engine calls it: an empty weight array), with a
  weight per row (uniform in [0, 2), in training order), and with ``l1 > 0`` (the
  cumulative penalty after every step). Target: weighted <= 1.1 x unweighted.

Thread CPU time (``time.thread_time``), medians of ``--repeat`` interleaved runs;
ratios are to ``touch`` of the same layout. One core: on a shared machine the
other core's load still costs memory bandwidth, so compare within one run.

Usage::

    python scripts/bench_kernel.py [--rows 1048576] [--features 32] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numba import njit  # noqa: E402

from streamneuron import kernels  # noqa: E402
from streamneuron.kernels.common import TILE  # noqa: E402
from streamneuron.kernels.intrinsics import _prefetch_row  # noqa: E402
from streamneuron.training import StepRule  # noqa: E402

CALL_ROWS = 1 << 16


@njit(nogil=True)
def touch(X, order):
    """Sum of every value, rows in ``order`` (empty: file order, down the columns
    of a column-major X), prefetching a tile ahead like the kernel. Independent
    partial sums (one per column; four per column when reading down one), so it
    is bound by memory, not by the latency of one chain of additions."""
    n, d = X.shape
    acc = np.zeros(d)
    if order.shape[0] == 0 and X.strides[0] < X.strides[1]:
        for j in range(d):
            a0 = a1 = a2 = a3 = 0.0
            for i in range(0, n - 3, 4):
                a0 += X[i, j]
                a1 += X[i + 1, j]
                a2 += X[i + 2, j]
                a3 += X[i + 3, j]
            acc[j] = (a0 + a1) + (a2 + a3)
    elif order.shape[0] == 0:
        for i in range(n):
            for j in range(d):
                acc[j] += X[i, j]
    else:
        for k in range(n):
            if k + TILE < n:
                _prefetch_row(X, order[k + TILE])
            i = order[k]
            for j in range(d):
                acc[j] += X[i, j]
    return acc.sum()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1 << 20)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--batch-sizes", default="1,32,256,4096,65536")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--schedules", default="constant",
                    help="step rules side by side: constant, adagrad, auto")
    ap.add_argument("--l1", type=float, default=1e-4)
    args = ap.parse_args()
    schedules = [x for x in args.schedules.split(",") if x]
    n, d = args.rows, args.features
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    order = np.arange(n, dtype=np.int32)
    rng.shuffle(order)
    none = np.empty(0, dtype=np.int64)
    mean, inv_scale = np.zeros(d), np.ones(d)
    layouts = {"row-major, file order": (X, none, y),
               "column-major, file order": (np.asfortranarray(X), none, y),
               "row-major, shuffled": (X, order, y[order])}

    def run_touch(A, o, _):
        t = time.thread_time()
        touch(A, o)
        return time.thread_time() - t

    no_weights = np.empty(0)
    row_weights = rng.uniform(0.0, 2.0, n)[order]  # in training order, as Block.row_weights

    def run_kernel(A, o, labels, rule, weights=no_weights):
        """The engine's calls (kernels.sgd_block over slices of CALL_ROWS rows)."""
        arrays = kernels.Arrays(np.zeros(d), kernels.new_state(), np.zeros(d), np.zeros(d),
                                np.zeros(d + 1), np.zeros(d), np.zeros(d))
        rows = kernels.Rows(A, labels, o, weights, mean, inv_scale)
        rows_in = A.shape[0]
        t = time.thread_time()
        for start in range(0, rows_in, CALL_ROWS):
            kernels.sgd_block(rows, arrays, rule, start=start,
                              stop=min(rows_in, start + CALL_ROWS))
        return time.thread_time() - t

    def run_sgd(A, o, labels, batch, schedule="constant"):
        # auto: AdaGrad with the running average from the first update (0: averaging off)
        rule = StepRule(0, batch, 0.01, average=1 if schedule == "auto" else 0,
                        adagrad=schedule in ("adagrad", "auto"))
        return run_kernel(A, o, labels, rule)

    def run_variant(A, o, labels, batch, weights, l1):
        return run_kernel(A, o, labels, StepRule(0, batch, 0.01, l1=l1), weights)

    # Compile / load from cache every variant timed below (the step rule, batch size 1
    # or not, the layout: see streamneuron.kernels.specialize), on a few rows.
    def small(o):
        return o if o.size == 0 else np.arange(1000, dtype=o.dtype)

    def head(A):  # the first rows, in A's layout (numba compiles per layout)
        return np.asfortranarray(A[:1000]) if A.flags.f_contiguous else A[:1000]

    for A, o, labels in layouts.values():
        run_touch(A, o, labels)
        for sched in schedules:
            for b in (1, 8):
                run_sgd(head(A), small(o), labels[:1000], b, sched)
    print(f"{n:,} x {d} float32 rows; nanoseconds per row (thread CPU time), medians of "
          f"{args.repeat}")
    print(f"{'layout':26s} {'touch':>7s}" + "".join(f" {'b' + str(b):>12s}" for b in batch_sizes))
    ratios = {}
    for name, (A, o, labels) in layouts.items():
        times = {"touch": []} | {(b, sc): [] for b in batch_sizes for sc in schedules}
        for _ in range(args.repeat):  # interleaved: the machine's load hits all alike
            times["touch"].append(run_touch(A, o, labels))
            for b in batch_sizes:
                for sc in schedules:
                    times[(b, sc)].append(run_sgd(A, o, labels, b, sc))
        ns = {k: float(np.median(v)) / n * 1e9 for k, v in times.items()}
        for sc in schedules:
            cells = "".join(f" {ns[(b, sc)]:6.1f} ({ns[(b, sc)] / ns['touch']:3.1f}x)"
                            for b in batch_sizes)
            label = name if len(schedules) == 1 else f"{name}, {sc}"
            print(f"{label:26s} {ns['touch']:7.1f}{cells}")
            if sc != schedules[0]:
                ratios[label] = [ns[(b, sc)] / ns[(b, schedules[0])] for b in batch_sizes]
    if ratios:
        print(f"\nper-row cost / the {schedules[0]} step's (medians):")
        print(f"{'':26s}" + "".join(f" {'b' + str(b):>8s}" for b in batch_sizes))
        for label, values in ratios.items():
            print(f"{label:26s}" + "".join(f" {v:8.3f}" for v in values))

    A, o, labels = layouts["row-major, shuffled"]
    variants = {"unweighted": (no_weights, 0.0), "weighted": (row_weights, 0.0),
                "l1 > 0": (no_weights, args.l1)}
    for weights, l1 in variants.values():  # compile / load from cache
        for b in (1, 8):
            run_variant(head(A), small(o), labels[:1000], b, weights[:1000] if weights.size else
                        weights, l1)
    print()
    print(f"row weights and L1 (row-major, shuffled; l1 = {args.l1:g}); ns per row, medians "
          f"of {args.repeat}:")
    print(f"{'batch':>6s} {'unweighted':>11s} {'weighted':>9s} {'x':>5s} {'l1 > 0':>7s} {'x':>5s}")
    met = True
    for b in batch_sizes:
        times = {v: [] for v in variants}
        for _ in range(args.repeat):  # interleaved
            for v, (weights, l1) in variants.items():
                times[v].append(run_variant(A, o, labels, b, weights, l1))
        ns = {k: float(np.median(t)) / n * 1e9 for k, t in times.items()}
        rw, r1 = ns["weighted"] / ns["unweighted"], ns["l1 > 0"] / ns["unweighted"]
        met &= rw <= 1.1
        print(f"{b:6d} {ns['unweighted']:11.1f} {ns['weighted']:9.1f} {rw:5.2f} "
              f"{ns['l1 > 0']:7.1f} {r1:5.2f}")
    print(f"weighted <= 1.1 x unweighted at every batch size: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
