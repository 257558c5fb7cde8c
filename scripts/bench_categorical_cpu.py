#!/usr/bin/env python
"""CPU seconds of one newton pass with categorical columns against one over the numeric
columns only, side by side in alternating rounds (medians), and of newton's solve.

    python scripts/bench_categorical_cpu.py bench-data/flights-1M.parquet 1000 5

A pass here is what a full-pass task does, in this process: each unit decoded (the level
codes encoded) and its sums added into fresh sums (``add_unit_sums``; the arrowhead layout of
``fullpass/arrow.py`` with the categorical columns), the units' sums added in order. CPU
time (``time.process_time``) rather than wall time: on a machine shared with other runs the
wall time of either pass is inflated 2-8x by waiting for a core, and not by the same factor
(scripts/results/bench_categorical_newton.md). Arguments: the file, --max-levels (1000:
c10, c100, c1000; more: c10000 too), the rounds. Prints one JSON line.
"""
import os
import sys, time, json, statistics, numpy as np
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from streamneuron.readers import open_source
from streamneuron.levels import LevelCounts
from streamneuron.readers.encoded import encode_source
from streamneuron.fullpass.arrow import Arrow
from streamneuron.fullpass.sums import Sums, add_unit_sums, sum_partials
from streamneuron.fullpass.solvers import newton_step
from streamneuron.fullpass.cluster import _blas_threads
path, maxlev, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cats = ["c10", "c100", "c1000"] + (["c10000"] if maxlev > 1000 else [])
src = open_source(path, label="y", categorical=cats)
counts = LevelCounts(cats, maxlev)
for i in range(len(src.units)):
    counts.add(src.read(i).extra)
enc = encode_source(src, counts, reference=False)
num = open_source(path, label="y", features=[f"x{j}" for j in range(8)])
d, p = enc.n_features, enc.n_weights
arrow = Arrow.of(d, enc.levels)
rng = np.random.default_rng(0)
w = 0.01 * rng.standard_normal(p)
pc = np.concatenate([w, [0.0], np.zeros(d), np.ones(d)])
pn = np.concatenate([w[:d], [0.0], np.zeros(d), np.ones(d)])
feats = ["x"] * d
def cat_pass():
    accs = []
    for i in range(len(enc.units)):
        acc = np.zeros(Sums.size(p, 1, arrow)); add_unit_sums(acc, enc.read(i), feats, pc, 0, 1, arrow); accs.append([acc])
    return sum_partials([a[0] for a in accs])
def num_pass():
    accs = []
    for i in range(len(num.units)):
        acc = np.zeros(Sums.size(d, 1)); add_unit_sums(acc, num.read(i), feats, pn, 0, 1); accs.append(acc)
    return sum_partials(accs)
res = {"cat": [], "num": [], "solve": []}
with _blas_threads(1):
    for r in range(rounds):
        for k, f in (("cat", cat_pass), ("num", num_pass)):
            t = time.process_time(); total = f(); res[k].append(time.process_time() - t)
            if k == "cat":
                ev = Sums(total, p, arrow).evaluate(w, 0.0, 1e-6)
                t = time.process_time(); newton_step(ev.hessian, ev.gradient); res["solve"].append(time.process_time() - t)
out = {k: statistics.median(v) for k, v in res.items()}
out["ratio_per_round_median"] = statistics.median([a / b for a, b in zip(res["cat"], res["num"])])
out["arrow"] = arrow.describe()
out["rounds"] = res
print(json.dumps(out, default=float))
