#!/usr/bin/env python
"""Write a flights-like Parquet file: 8 numeric + 4 categorical columns and a 0/1 label.

The benchmark file of issue 20 ("categorical columns"): the tables people train logistic
regression on are mostly categorical (carrier, origin, dest), with a few columns of very many
levels and Zipf-like level frequencies. Columns::

    x0 .. x7        float64, different means and scales (like hour, distance, taxi time),
                    correlated through one shared factor: z_j = rho f + sqrt(1 - rho^2) e_j
    c10 c100 ...    strings, one column per entry of --levels; level k (k = 1..K) drawn with
                    p_k = k^-s / sum_j j^-s  (s = --zipf, default 1.1); the level names are a
                    seeded permutation of "c100_017"-style names, so frequency order is not the
                    lexical order
    y               int8 0/1, y ~ Bernoulli(sigmoid(eta)),
                    eta = b0 + sum_j beta_j z_j + sum_c u_c[level_c]

with beta_j ~ N(0, 0.25^2), u_c[k] ~ N(0, --level-sd^2) (default 0.4) and b0 = -1.2 (about 25%
positives). The level effects make the categorical columns matter as on the real flights table:
one-hot columns raise the held-out AUC over the numeric columns alone (1M rows, 80/20 split,
scikit-learn C = 1: 0.669 -> 0.734; the real flights table: 0.669 -> 0.711).

Memory is bounded by one row group: each row group of --row-group-size rows is generated and
written on its own (pq.ParquetWriter), with its own random stream
``SeedSequence(seed, spawn_key=(1, i))`` for row group i; the model parameters come from
``spawn_key=(0,)``. So the output is a deterministic function of (--seed, --levels, --zipf,
--level-sd, --row-group-size), and a file of M rows is exactly the first M rows of a file of
N > M rows written with the same settings when M is a multiple of the row-group size (the
1M-row file is the first row group of the 10M-row file).
Strings are written as Parquet dictionary pages (pyarrow's default, ``use_dictionary``); the
Arrow schema says ``string`` (as pandas object columns are written), or ``dictionary<int32,
string>`` with --arrow-dictionary (as pandas ``category`` columns are written).

Usage::

    python scripts/make_flights_like.py --rows 1000000 --out bench-data/flights-1M.parquet
    python scripts/make_flights_like.py --rows 10000000 --out bench-data/flights-10M.parquet
    python scripts/make_flights_like.py --rows 1000 --levels 3,50 --out /tmp/tiny.parquet
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_NUMERIC = 8
RHO = 0.5
INTERCEPT = -1.2
NUMERIC_SD = 0.25
# Raw scale of each numeric column: x_j = MEAN[j] + SCALE[j] * z_j (like hour, distance, ...).
MEAN = np.array([13.5, 800.0, 15.0, 6.5, 3.0, 120.0, -2.0, 0.0])
SCALE = np.array([4.5, 550.0, 7.0, 3.4, 2.0, 70.0, 9.0, 1.0])


def level_names(column: str, k: int, rng: np.random.Generator) -> np.ndarray:
    """The K level strings of one column, in frequency-rank order (rank 1 first).

    Names are "c100_017"-style; which name gets which rank is a seeded permutation.
    """
    width = len(str(k - 1))
    names = np.array([f"{column}_{i:0{width}d}" for i in range(k)], dtype=object)
    return names[rng.permutation(k)]


def zipf_probabilities(k: int, s: float) -> np.ndarray:
    """p_k proportional to k^-s, k = 1..K."""
    p = np.arange(1, k + 1, dtype=np.float64) ** -s
    return p / p.sum()


class FlightsLike:
    """The generating model: level names, frequencies and effects; numeric weights."""

    def __init__(self, seed: int, levels: list[int], zipf: float = 1.1, level_sd: float = 0.4):
        self.seed = seed
        self.levels = levels
        self.zipf = zipf
        self.level_sd = level_sd
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
        self.beta = rng.normal(0.0, NUMERIC_SD, N_NUMERIC)
        self.cat_names = [f"c{k}" for k in levels]
        if len(set(self.cat_names)) != len(self.cat_names):
            raise ValueError(f"--levels must be distinct, got {levels}")
        self.names = []
        self.cdf = []
        self.effects = []
        for name, k in zip(self.cat_names, levels):
            self.names.append(pa.array(level_names(name, k, rng), type=pa.string()))
            cdf = np.cumsum(zipf_probabilities(k, zipf))
            cdf[-1] = 1.0
            self.cdf.append(cdf)
            self.effects.append(rng.normal(0.0, level_sd, k))

    def schema(self, arrow_dictionary: bool) -> pa.Schema:
        string = pa.dictionary(pa.int32(), pa.string()) if arrow_dictionary else pa.string()
        fields = [pa.field(f"x{j}", pa.float64()) for j in range(N_NUMERIC)]
        fields += [pa.field(name, string) for name in self.cat_names]
        fields.append(pa.field("y", pa.int8()))
        meta = {"flights_like": json.dumps({
            "seed": self.seed, "levels": self.levels, "zipf": self.zipf,
            "level_sd": self.level_sd, "rho": RHO, "intercept": INTERCEPT,
            "beta_standardized": self.beta.tolist()})}
        return pa.schema(fields, metadata=meta)

    def row_group(self, index: int, rows: int, arrow_dictionary: bool) -> pa.Table:
        """Row group `index` (0-based) with `rows` rows; its own random stream."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1, index)))
        factor = rng.standard_normal(rows)
        z = RHO * factor[:, None] + math.sqrt(1 - RHO * RHO) * rng.standard_normal((rows, N_NUMERIC))
        eta = INTERCEPT + z @ self.beta
        columns = [pa.array(MEAN[j] + SCALE[j] * z[:, j]) for j in range(N_NUMERIC)]
        del factor
        for names, cdf, effect in zip(self.names, self.cdf, self.effects):
            codes = np.searchsorted(cdf, rng.random(rows), side="right").astype(np.int32)
            np.minimum(codes, len(cdf) - 1, out=codes)
            eta += effect[codes]
            arr = pa.DictionaryArray.from_arrays(pa.array(codes), names)
            columns.append(arr if arrow_dictionary else arr.cast(pa.string()))
        y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int8)
        columns.append(pa.array(y))
        return pa.Table.from_arrays(columns, schema=self.schema(arrow_dictionary))


def write(out: str, rows: int, seed: int = 0, levels: list[int] | None = None,
          row_group_size: int = 1_000_000, zipf: float = 1.1, level_sd: float = 0.4,
          arrow_dictionary: bool = False, compression: str = "snappy",
          progress: bool = False) -> None:
    """Write the file atomically (a temporary name, renamed when complete)."""
    levels = levels or [10, 100, 1000, 10000]
    model = FlightsLike(seed, levels, zipf, level_sd)
    tmp = f"{out}.tmp-{os.getpid()}"
    start = time.perf_counter()
    try:
        with pq.ParquetWriter(tmp, model.schema(arrow_dictionary), compression=compression) as w:
            done = 0
            index = 0
            while done < rows:
                n = min(row_group_size, rows - done)
                w.write_table(model.row_group(index, n, arrow_dictionary), row_group_size=n)
                done += n
                index += 1
                if progress:
                    print(f"  {done:,}/{rows:,} rows, {time.perf_counter() - start:.1f}s",
                          file=sys.stderr, flush=True)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-data/flights-like.parquet")
    ap.add_argument("--levels", default="10,100,1000,10000",
                    help="levels of each categorical column, comma-separated")
    ap.add_argument("--row-group-size", type=int, default=1_000_000)
    ap.add_argument("--zipf", type=float, default=1.1, help="exponent s of p_k ~ k^-s")
    ap.add_argument("--level-sd", type=float, default=0.4, help="sd of the level effects")
    ap.add_argument("--arrow-dictionary", action="store_true",
                    help="Arrow type dictionary<int32, string> (pandas category) instead of string")
    ap.add_argument("--compression", default="snappy")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        levels = [int(v) for v in args.levels.split(",") if v.strip()]
    except ValueError:
        print(f"Error: --levels must be integers, got {args.levels!r}", file=sys.stderr)
        return 2
    if not levels or min(levels) < 1 or args.rows < 1 or args.row_group_size < 1:
        print("Error: --rows, --row-group-size and every --levels entry must be >= 1",
              file=sys.stderr)
        return 2
    if os.path.dirname(args.out):
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
    start = time.perf_counter()
    write(args.out, args.rows, args.seed, levels, args.row_group_size, args.zipf, args.level_sd,
          args.arrow_dictionary, args.compression, progress=not args.quiet)
    if not args.quiet:
        size = os.path.getsize(args.out) / (1 << 20)
        print(f"wrote {args.out}: {args.rows:,} rows, {size:.1f} MiB, "
              f"{time.perf_counter() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
