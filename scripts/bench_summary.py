"""The cost of ``streamneuron summary`` against one newton pass (issue 23).

    PYTHONPATH=. python scripts/bench_summary.py             # the 8M x 32 file, 3 rounds
    PYTHONPATH=. python scripts/bench_summary.py --rows 1000000 --repeat 5 --workers 2

The file is ``streamneuron generate PATH --rows 8000000 --features 32`` (float32,
generated here if missing). A newton model is fitted on it once (``l2 = 0``), then,
in each of ``--repeat`` rounds, side by side in this order:

* ``newton pass``: one full pass at the model's weights summing the gradient and the
  Hessian, exactly the pass each newton iteration makes
  (``fullpass.sums_at_model(matrices=1)``: the same tasks and reduction), the place it
  runs opened and closed inside the timing as summary's is;
* ``summary``: ``sn.summary(model, path)`` end to end (open, the pass, the solve,
  the table);
* ``summary --robust``: the same with the gradient outer products in the same read
  (``kernels.hessian_meat_sums``: one matrix product of twice the width per 256 rows).

Reported: the median seconds of each and the ratios to the newton pass, and, from
the fit, the median seconds of its full-step iterations (one pass each) for scale.
The machine's other load shows in the spread: rounds interleave the three so that
load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/big8m.parquet")
    parser.add_argument("--rows", type=int, default=8_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0,
                        help="0: in this process (default); N: a local cluster of N workers")
    parser.add_argument("--json", dest="json_path", help="write the numbers here too")
    args = parser.parse_args()

    if not os.path.exists(args.data):
        print(f"generating {args.data} ({args.rows:,} x {args.features})", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "streamneuron", "generate", args.data,
                        "--rows", str(args.rows), "--features", str(args.features), "--quiet"],
                       check=True)

    import numpy as np

    import streamneuron as sn
    from streamneuron.fullpass import sums_at_model
    from streamneuron.inference import open_data

    start = time.perf_counter()
    model = sn.fit_gd(args.data, solver="newton", l2=0.0, label="y", workers=args.workers)
    fit_seconds = time.perf_counter() - start
    full_steps = [row["seconds"] for row in model.info["history"] if row["step"] == 1.0]
    print(f"newton fit: {fit_seconds:.1f} s, {model.info['passes']} passes; "
          f"{model.info['rows']:,} rows x {model.n_features}", file=sys.stderr)

    def newton_pass() -> None:
        source = open_data(model, args.data)
        try:
            sums_at_model(model, source, matrices=1, workers=args.workers)
        finally:
            source.close()

    runs = {"newton pass": newton_pass,
            "summary": lambda: sn.summary(model, args.data, workers=args.workers),
            "summary --robust": lambda: sn.summary(model, args.data, robust=True,
                                                   workers=args.workers)}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Compile the kernels first (numba's cache may be cold): not timed.
        tiny = np.random.default_rng(0).normal(size=(64, model.n_features))
        labels = (tiny[:, 1] > 0).astype(float)
        sn.summary(sn.fit_gd((tiny, labels), solver="newton", l2=1.0, workers=0),
                   (tiny, labels), robust=True, workers=0)
        for _ in range(args.repeat):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
    base = statistics.median(seconds["newton pass"])
    print(f"\n{'':<18} {'median s':>9} {'x newton pass':>14}   runs")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:<18} {median:>9.2f} {median / base:>14.2f}   "
              + " ".join(f"{v:.2f}" for v in values))
    if full_steps:
        print(f"{'(fit: a full-step newton iteration, median)':<18} "
              f"{statistics.median(full_steps):.2f} s")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"rows": model.info["rows"], "features": model.n_features,
                       "workers": args.workers, "seconds": seconds,
                       "ratio": {k: statistics.median(v) / base for k, v in seconds.items()},
                       "fit_full_step_seconds": full_steps,
                       "cpu_count": os.cpu_count(), "numpy": np.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
