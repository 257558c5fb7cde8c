#!/usr/bin/env python
"""CPU seconds of one newton pass with categorical columns against one over the numeric
columns only, side by side in alternating rounds (medians), and of newton's solve.
Each pass sums the curvature as newton's steering passes do on that file
(``curvature_every``: a sample's on large data, with level codes the rows kept by their
levels, ``level_keep``); ``cat_exact`` and ``num_exact``, every row's (the landing pass's,
and what this script timed before the levels were sampled).

    python scripts/bench_categorical_cpu.py /work/bench-data/flights-1M.parquet 1000 5
    python scripts/bench_categorical_cpu.py FILE 10000 5 --threads 2 --json out.json
    python scripts/bench_categorical_cpu.py FILE 10000 5 --partition-rows 0   # a unit a task

A pass here is what ``fit_gd`` runs for newton: the file's partitions as persisted
descriptors (as the engine plans them: one a row group, or with curvature sums past 16 MiB
a task the row groups grouped by ``partitions.task_rows``; ``--partition-rows N`` groups
by N rows instead, 0 one row group a task), ``pass_sums`` on each (a row group read in
pieces of ~4 MiB, the level codes encoded, the sums in the arrowhead layout of
``fullpass/arrow.py`` with the categorical columns, the exact dense Hessian without) on the
in-process executor's pass threads (``--threads``, default 1), the tasks' sums added in the
reduction tree as they come (``InProcess.map_reduce``). CPU time (``time.process_time``:
every thread of this process) rather than wall time: on a machine shared with other runs the
wall time of either pass is inflated 2-8x by waiting for a core, and not by the same factor
(scripts/results/bench_categorical_newton.md). Arguments: the file, --max-levels (1000: c10,
c100, c1000; more: c10000 too), the rounds (the first, compiling and opening the file, is
left out of the medians). Prints one JSON line (``--json``: also into a file).
"""
import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from streamneuron.fullpass.arrow import Arrow  # noqa: E402
from streamneuron.blas import blas_threads
from streamneuron.fullpass.cluster import InProcess  # noqa: E402
from streamneuron.fullpass.partitions import FileData, read_units, task_rows  # noqa: E402
from streamneuron.fullpass.solvers import newton_step  # noqa: E402
from streamneuron.fullpass.sums import (Sums, curvature_every, level_keep, pass_sums,  # noqa: E402
                                        sum_partials)
from streamneuron.levels import LevelCounts  # noqa: E402
from streamneuron.params import newton_bytes  # noqa: E402
from streamneuron.readers import open_source  # noqa: E402
from streamneuron.readers.encoded import encode_source  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("max_levels", type=int)
    ap.add_argument("rounds", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--partition-rows", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cats = ["c10", "c100", "c1000"] + (["c10000"] if args.max_levels > 1000 else [])
    src = open_source(args.file, label="y", categorical=cats)
    counts = LevelCounts(cats, args.max_levels)
    for i in range(len(src.units)):
        counts.add(src.read(i).extra)
    enc = encode_source(src, counts, reference=False)
    num = open_source(args.file, label="y", features=[f"x{j}" for j in range(8)])
    d, p = enc.n_features, enc.n_weights
    arrow = Arrow.of(d, enc.levels)
    rng = np.random.default_rng(0)
    w = 0.01 * rng.standard_normal(p)
    params_cat = np.concatenate([w, [0.0], np.zeros(d), np.ones(d)])
    params_num = np.concatenate([w[:d], [0.0], np.zeros(d), np.ones(d)])
    features = [f"x{j}" for j in range(d)]
    executor = InProcess(args.threads)
    rows = {"cat": (task_rows(enc, newton_bytes(p, arrow.K)) if args.partition_rows is None
                    else args.partition_rows or None),
            "num": args.partition_rows or None}  # (the numeric sums are small: a unit a task)
    data = {name: FileData(source, rows[name]) for name, source in (("cat", enc), ("num", num))}
    bags = {name: executor.persist(data[name].bag()) for name in data}

    n = data["num"].n_rows
    every = curvature_every("sampled", n, d)  # (the engine's rule: the numbers' weights)
    sampled = replace(arrow, keep=level_keep(enc.levels, d, every, n)) if every > 1 else arrow

    def one_pass(name):
        cat, exact = name.startswith("cat"), name.endswith("exact")
        params, layout = (params_cat, arrow if exact else sampled) if cat else (params_num, None)
        return executor.map_reduce(bags["cat" if cat else "num"], pass_sums, read_units,
                                   features, params, 0, 1, 1 if exact else every, layout,
                                   aggregate=sum_partials)

    names = ("cat", "num", "cat_exact", "num_exact")
    res = {name: [] for name in names + ("solve",)}
    for r in range(args.rounds):
        for name in names:
            t = time.process_time()
            total = one_pass(name)
            res[name].append(time.process_time() - t)
            if name == "cat":
                ev = Sums(total, p, arrow).evaluate(w, 0.0, 1e-6)
                with blas_threads(1):
                    t = time.process_time()
                    newton_step(ev.hessian, ev.gradient)
                    res["solve"].append(time.process_time() - t)
            del total
    kept = {k: v[1:] if len(v) > 1 else v for k, v in res.items()}
    out = {k: statistics.median(v) for k, v in kept.items()}
    out["ratio_per_round_median"] = statistics.median(
        [a / b for a, b in zip(kept["cat"], kept["num"])])
    out["exact_ratio_per_round_median"] = statistics.median(
        [a / b for a, b in zip(kept["cat_exact"], kept["num_exact"])])
    out["every"] = every
    out["file"] = os.path.basename(args.file)
    out["threads"] = args.threads
    out["partitions"] = len(data["cat"].partitions)
    out["partition_rows"] = rows["cat"]
    out["arrow"] = arrow.describe()
    out["load_average"] = os.getloadavg()
    out["rounds"] = res
    line = json.dumps(out, default=float)
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
