"""A Dask cluster job: train one neuron to the optimum by full passes, save the model.

On a cluster (every worker must reach the same paths or URLs and import streamneuron)::

    dask scheduler                                   # on one machine: tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 1         # on each worker machine
    python scripts/cluster_job.py s3://bucket/table/ --label y -o model.json \\
        --scheduler tcp://HOST:8786

On this machine (a LocalCluster of N worker processes, closed at the end)::

    python scripts/cluster_job.py data/sample.parquet --label y -o model.json --workers 2

The job connects to ``--scheduler`` (and leaves that cluster running) or starts a
local cluster, calls :func:`streamneuron.fit_gd` on the given Parquet/HDF5 paths with
``--solver`` (default newton: the optimum in a handful of passes; gd is the article's
gradient descent), prints one line per iteration, and writes the model atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from streamneuron import StreamNeuronError, fit_gd  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="+", help="Parquet/HDF5 files, folders, globs or URLs")
    ap.add_argument("-o", "--output", required=True, help="model file (JSON)")
    ap.add_argument("--label", default="y")
    ap.add_argument("--features", default=None, help="comma-separated feature columns")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running Dask scheduler")
    where.add_argument("--workers", type=int, help="start a local cluster of N workers")
    ap.add_argument("--loss", choices=["log", "mse"], default="log")
    ap.add_argument("--solver", choices=["newton", "lbfgs", "gd", "auto"], default="newton")
    ap.add_argument("--max-iter", type=int, default=None, help="default 100 (lbfgs 1000)")
    ap.add_argument("--lr", type=float, default=1.0, help="gd only")
    ap.add_argument("--l2", type=float, default=None,
                    help="default: the library's, 1/n (scikit-learn's C = 1)")
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--no-standardize", dest="standardize", action="store_false")
    ap.add_argument("--persist", action="store_true",
                    help="keep decoded partitions in cluster memory (if they fit)")
    ap.add_argument("--partition-rows", type=int, default=None,
                    help="group row groups into partitions of about this many rows")
    args = ap.parse_args(argv)

    def on_iteration(row):
        print(f"iteration {row['iteration']:4d}  objective {row['objective']:.6f}  "
              f"|grad| {row['grad_norm']:.3g}  pass {row['passes']}  {row['seconds']:.2f} s",
              flush=True)

    try:
        model = fit_gd(args.data, solver=args.solver, max_iter=args.max_iter, lr=args.lr, loss=args.loss,
                       l2=args.l2, tol=args.tol, standardize=args.standardize,
                       scheduler=args.scheduler, workers=args.workers, persist=args.persist,
                       partition_rows=args.partition_rows, label=args.label,
                       features=args.features, progress=on_iteration,
                       on_cluster=lambda link: print(f"Dask dashboard: {link}", flush=True))
        model.save(args.output)
    except StreamNeuronError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    info = model.info
    print(f"wrote {args.output}: {info['rows']} rows, {info['mode']}, {info['iterations']} "
          f"iterations, {info['passes']} passes, {info['message']}")
    return 0


if __name__ == "__main__":  # required: worker processes are spawned
    sys.exit(main())
