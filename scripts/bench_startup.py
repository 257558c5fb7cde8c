#!/usr/bin/env python
"""Start-up: from the command to the first batch, with warm caches.

Measures, as medians of ``--repeat`` fresh processes (page cache and numba's
kernel cache warm: one untimed run first):

* ``python -c pass``: the interpreter alone (site, .pth files): the floor;
* ``python -m streamneuron --version`` and ``inspect FILE``;
* ``python -m streamneuron train FILE ...`` until the first training batch
  reaches the kernel (``--no-standardize``: nothing before it but imports,
  opening the file, compiling-or-loading the kernels and decoding the first row
  group), and, with the default ``--standardize``, until the first row group of
  the statistics pass is decoded (the first data the command touches).

The time origin is taken by this script just before the subprocess starts; the
child notes the wall clock at the first call of the kernel (patched in a tiny
wrapper around ``streamneuron.cli.main``) and exits there.

It also checks that numba's on-disk cache is used (``NUMBA_DEBUG_CACHE=1``: every
kernel loaded, none compiled) and prints the slowest imports (``-X importtime``).

Usage::

    python scripts/bench_startup.py [--file bench-data/...parquet] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data")

CHILD = r"""
import os, sys, time
which = os.environ["SN_FIRST"]
import streamneuron.kernels as kernels
original = getattr(kernels, which)
def first(*args, **kwargs):
    sys.stderr.write("FIRST %.6f\n" % time.time())
    sys.stderr.flush()
    os._exit(0)
setattr(kernels, which, first)
if which == "columns_into":  # the readers import it by name when they decode
    import streamneuron.readers.parquet
from streamneuron.cli import main
sys.exit(main(sys.argv[1:]))
"""


def env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def wall(argv) -> float:
    t0 = time.time()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env())
    return time.time() - t0


def first_call(argv, which: str) -> float:
    e = env()
    e["SN_FIRST"] = which
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD] + argv, capture_output=True, text=True, env=e)
    m = re.search(r"FIRST ([0-9.]+)", proc.stderr)
    if not m:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"no first call of {which}: {argv}")
    return float(m.group(1)) - t0


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=os.path.join(DATA, "sgd-5000000x32-rg1048576.parquet"),
                    help="training file (generated if it is the default and missing)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if not os.path.exists(args.file):
        os.makedirs(DATA, exist_ok=True)
        subprocess.run([sys.executable, "-m", "streamneuron", "generate", args.file, "--rows",
                        "5000000", "--features", "32", "--row-group-size", str(1 << 20), "--quiet"],
                       check=True, env=env())
    model = os.path.join(DATA, "startup-model.json")
    train = ["train", args.file, "--label", "y", "-o", model, "--epochs", "1", "--quiet"]
    py = sys.executable
    cases = [
        ("python -c pass (interpreter floor)", lambda: wall([py, "-c", "pass"])),
        ("python -S -c pass (no site/.pth)", lambda: wall([py, "-S", "-c", "pass"])),
        ("streamneuron --version", lambda: wall([py, "-m", "streamneuron", "--version"])),
        ("streamneuron inspect FILE", lambda: wall([py, "-m", "streamneuron", "inspect", args.file])),
        ("train: first SGD batch (--no-standardize)",
         lambda: first_call(train + ["--no-standardize"], "sgd_chunk")),
        ("train: first row group decoded (default)", lambda: first_call(train, "columns_into")),
    ]
    # Warm everything once (page cache, numba cache, .pyc).
    for _, fn in cases:
        fn()
    results = {name: [] for name, _ in cases}
    for _ in range(args.repeat):
        for name, fn in cases:  # interleaved: the machine's noise hits all alike
            results[name].append(fn())
    print(f"start-up, median of {args.repeat} (min .. max), seconds from the command:")
    for name, _ in cases:
        v = results[name]
        print(f"  {name:45} {median(v):6.3f}  ({min(v):.3f} .. {max(v):.3f})")
    floor = median(results["python -c pass (interpreter floor)"])
    batch = median(results["train: first SGD batch (--no-standardize)"])
    print(f"  first batch minus interpreter floor: {batch - floor:.3f} s")
    print(f"target: command start to first batch <= 0.5 s: {'met' if batch <= 0.5 else 'NOT met'}")

    # numba's cache: every kernel loaded from disk, none compiled.
    e = env()
    e["NUMBA_DEBUG_CACHE"] = "1"
    proc = subprocess.run([py, "-m", "streamneuron"] + train + ["--no-standardize"],
                          capture_output=True, text=True, env=e)
    loaded = len(re.findall(r"data loaded from", proc.stdout + proc.stderr))
    saved = len(re.findall(r"data saved to", proc.stdout + proc.stderr))
    print(f"numba cache during train: {loaded} kernel(s) loaded from disk, {saved} compiled and saved")

    # The slowest imports (self + children), as python -X importtime reports them.
    proc = subprocess.run([py, "-X", "importtime", "-c", "import streamneuron.cli, streamneuron.sgd"],
                          capture_output=True, text=True, env=env())
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) <= 3:  # top-level imports and their direct children
            rows.append((int(m.group(2)), m.group(4).strip()))
    rows.sort(reverse=True)
    print("slowest top-level imports of `streamneuron train` (cumulative, ms):")
    for us, name in rows[:10]:
        print(f"  {name:40} {us / 1000:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
