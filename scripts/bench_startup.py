#!/usr/bin/env python
"""Start-up: from the command to the first trained batch, with warm caches.

Every number is the median of ``--repeat`` fresh processes (min .. max shown),
timed from just before the process is started, with the page cache, the .pyc
files and numba's kernel cache warm (every case runs once untimed first, and the
script checks that numba loaded every kernel from its cache and compiled none).
The cases run interleaved, so that the machine's noise hits all alike.

What "first batch" means: the moment the SGD loop gets back from its first real
kernel call with rows trained (the first ``CALL_ROWS`` = 64Ki rows, i.e. 256
mini-batches of 256): the progress callback that ``fit_sgd`` calls after every
kernel call is wrapped, the child notes the wall clock at the first call and
exits there. The real kernels run; nothing is stubbed. The wrapper is attached
by an import hook when ``streamneuron.progress`` is imported, so the child
imports exactly what the command imports, in the same order.

The cases:

* ``python -c pass``: the interpreter alone (site, .pth files): the floor;
* ``--version`` and ``inspect FILE``;
* ``numba ready``: ``streamneuron.warmup`` alone (import numba and the kernels,
  first call of a cached function): what any command that trains pays for numba;
* ``train FILE --no-standardize``: shuffled (the default), so the first batch
  needs the whole first row group decoded and permuted;
* ``train FILE --no-standardize --no-shuffle``: file order;
* ``train FILE`` (the default, ``--standardize``): the statistics pass reads the
  whole file before any SGD update, so two moments are reported: *first data*,
  when the statistics of the first row group are computed (``Moments.of``
  returns for it), and *first batch*, as above, after the whole pass.

``--cold``: the first run after an install instead, numba's cache empty (a fresh
temporary ``NUMBA_CACHE_DIR`` for every run, so every kernel the run needs is
compiled): the README's first command, ``streamneuron generate demo.parquet --rows
1000000 --features 16`` then ``streamneuron train demo.parquet --label y -o
model.json``, each timed to its exit (wall, and the CPU seconds of the process:
the machine's load inflates the wall time, not the CPU time), medians of
``--repeat``; ``train``'s CPU split between its own process and the helper process
that compiles the SGD kernel meanwhile (``streamneuron.kernels.ahead``: on a quiet
machine with two cores they run at once); and whether ``train`` said it was compiling.

Every case also gives the process's CPU seconds up to the moment (all its threads):
on a loaded machine the wall times mostly measure the load.

Usage::

    python scripts/bench_startup.py [--file bench-data/...parquet] [--repeat 7]
    python scripts/bench_startup.py --cold [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data")
TARGET_SECONDS = 0.7  # issue 19: warm start to first batch
COLD_TARGET_SECONDS = 5.0

# The child: marks events on stderr ("MARK name wall-clock process-CPU") and runs the CLI.
CHILD = r"""
import importlib.abc, os, sys, time

def mark(event):
    os.write(2, ("MARK %s %.6f %.6f\n" % (event, time.time(), time.process_time())).encode())

def patch_progress(module):
    call = module.Progress.__call__
    def wrapped(self, rows, loss=None):
        call(self, rows, loss)
        if rows > 0 and loss is not None:  # the SGD loop, after a kernel call
            mark("batch")
            os._exit(0)
    module.Progress.__call__ = wrapped

def patch_stats(module):
    of = module.Moments.of.__func__
    seen = []
    def wrapped(cls, X, *rest):
        result = of(cls, X, *rest)
        if result.n and not seen:
            seen.append(1)
            mark("stats")
        return result
    module.Moments.of = classmethod(wrapped)

PATCHES = {"streamneuron.progress": patch_progress, "streamneuron.stats": patch_stats}

class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        else:
            return None
        exec_module = spec.loader.exec_module
        def exec_and_patch(module):
            exec_module(module)
            PATCHES[name](module)
        spec.loader.exec_module = exec_and_patch
        return spec

sys.meta_path.insert(0, Hook())
from streamneuron.cli import main
sys.exit(main(sys.argv[1:]))
"""


def env() -> dict:
    """The children's environment: this checkout first on the path, and .pyc files
    written and used (as after an install; with PYTHONDONTWRITEBYTECODE set every start
    compiles the package's modules from source)."""
    environ = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return environ


def wall(argv: list[str]) -> dict:
    t0 = time.time()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env())
    return {"exit": time.time() - t0}


def marks(argv: list[str]) -> dict:
    """Seconds from the start of ``python -c CHILD argv`` to each event it marks."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD] + argv, capture_output=True, text=True,
                          env=env())
    found = {}
    for m in re.finditer(r"MARK (\w+) ([0-9.]+) ([0-9.]+)", proc.stderr):
        found[m.group(1)] = float(m.group(2)) - t0
        found[m.group(1) + "_cpu"] = float(m.group(3))
    if "batch" not in found:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"no first batch: {argv}")
    return found


def median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def cache_check(train: list[str]) -> str:
    """How many functions numba loaded from its cache / compiled, up to the first batch."""
    e = env()
    e["NUMBA_DEBUG_CACHE"] = "1"
    proc = subprocess.run([sys.executable, "-c", CHILD] + train, capture_output=True, text=True,
                          env=e)
    out = proc.stdout + proc.stderr
    loaded = len(re.findall(r"data loaded from", out))
    saved = len(re.findall(r"data saved to", out))
    return f"{loaded} function(s) loaded from numba's cache, {saved} compiled and saved"


def slowest_imports(train: list[str], most: int = 12) -> list[tuple[int, str]]:
    """Top-level imports (cumulative) of the command up to its first batch."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", CHILD] + train,
                          capture_output=True, text=True, env=env())
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 1:
            rows.append((int(m.group(2)), m.group(4)))
    return sorted(rows, reverse=True)[:most]


def timed(argv: list[str], environ: dict) -> tuple[float, float, str]:
    """``(wall seconds, CPU seconds, stderr)`` of one command run to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, env=environ, check=True)
    wall_seconds = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_seconds, cpu, proc.stderr


# A command that, at its exit, says the CPU seconds of its own process (without the
# helper process that compiles a kernel meanwhile, which the children's count holds).
OWN_CPU = r"""
import atexit, os, resource, sys, time
def cpu(who=resource.RUSAGE_SELF):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
marks = {}
def said():
    marks["own"] = cpu()
    os.write(2, ("OWNCPU %s\n" % " ".join("%s=%.6f" % kv for kv in marks.items())).encode())
atexit.register(said)
try:  # when the helper starts, and when this process needs its kernel (CPU seconds)
    from streamneuron.kernels import ahead
    start, wait = ahead.start, ahead.Helper.wait
    def started(*args):
        marks["start"] = cpu()
        return start(*args)
    def waited(self):
        here, self.here = self.here, []
        for job in here:
            ahead.compile_job(job)
        marks["ready"] = cpu()
        wait(self)
        marks["helper"] = cpu(resource.RUSAGE_CHILDREN)
    ahead.start, ahead.Helper.wait = started, waited
except ImportError:  # before the helper existed
    pass
from streamneuron.cli import main
sys.exit(main(sys.argv[1:]))
"""


def quiet_estimate(marks: dict) -> float:
    """The wall seconds of a cold ``train`` on a quiet machine with two cores, from its
    CPU accounting: this process until it needs the helper's kernel, or the helper
    (started at ``start``) if later, then the rest of this process's work. (Counts
    this process's threads as if they were one: an upper bound.)"""
    if "helper" not in marks:
        return marks["own"]
    ready = max(marks["ready"], marks["start"] + marks["helper"])
    return ready + marks["own"] - marks["ready"]


def cold(repeat: int) -> int:
    """The README's first command with numba's cache empty (see the module docstring)."""
    py = [sys.executable, "-m", "streamneuron"]
    results: dict[str, list[tuple[float, float]]] = {"generate": [], "train": [], "both": []}
    own, estimates = [], []
    said = []
    with tempfile.TemporaryDirectory() as tmp:
        demo, model = os.path.join(tmp, "demo.parquet"), os.path.join(tmp, "model.json")
        for _ in range(repeat):
            cache = tempfile.mkdtemp(dir=tmp)
            environ = dict(env(), NUMBA_CACHE_DIR=cache)
            gen = timed(py + ["generate", demo, "--rows", "1000000", "--features", "16"], environ)
            train = timed([sys.executable, "-c", OWN_CPU, "train", demo, "--label", "y", "-o",
                           model], environ)
            marks = {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", re.search(
                r"OWNCPU (.*)", train[2]).group(1))}
            own.append(marks["own"])
            estimates.append(quiet_estimate(marks))
            results["generate"].append(gen[:2])
            results["train"].append(train[:2])
            results["both"].append((gen[0] + train[0], gen[1] + train[1]))
            said.append("compiling kernels" in train[2])
            shutil.rmtree(cache)
            os.remove(demo)
    print(f"cold start (numba's cache empty), the README's first command; seconds, median of "
          f"{repeat} (min .. max), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "cores:")
    for name, runs in results.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(f"  {name:10s} wall {median(walls):6.2f} ({min(walls):.2f} .. {max(walls):.2f})"
              f"   cpu {median(cpus):6.2f} ({min(cpus):.2f} .. {max(cpus):.2f})")
    helper = [c - o for (_, c), o in zip(results["train"], own)]
    print(f"  train's cpu: its own process {median(own):.2f} ({min(own):.2f} .. {max(own):.2f}),"
          f" its child processes (the helper compiling the SGD kernel) {median(helper):.2f}")
    print(f"  train's wall on a quiet machine (2 cores), estimated from that CPU accounting: "
          f"{median(estimates):.2f} ({min(estimates):.2f} .. {max(estimates):.2f})")
    train = median([w for w, _ in results["train"]])
    both = median([w for w, _ in results["both"]])
    print(f"target: train <= {COLD_TARGET_SECONDS} s wall: "
          f"{'met' if train <= COLD_TARGET_SECONDS else 'NOT met'} (generate + train: "
          f"{'met' if both <= COLD_TARGET_SECONDS else 'NOT met'}); train said it was "
          f"compiling: {sum(said)} of {repeat} runs")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=os.path.join(DATA, "sgd-5000000x32-rg1048576.parquet"),
                    help="training file (generated if it is the default and missing)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cold", action="store_true", help="the first run after an install")
    args = ap.parse_args()
    if args.cold:
        return cold(args.repeat)
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
        ("streamneuron --version", lambda: wall([py, "-m", "streamneuron", "--version"])),
        ("streamneuron inspect FILE", lambda: wall([py, "-m", "streamneuron", "inspect", args.file])),
    ]
    if os.path.exists(os.path.join(ROOT, "streamneuron", "warmup.py")):
        cases.append(("numba ready (streamneuron.warmup alone)", lambda: wall(
            [py, "-c", "from streamneuron import warmup; warmup.start(); warmup.wait()"])))
    cases += [
        ("train --no-standardize (shuffled)", lambda: marks(train + ["--no-standardize"])),
        ("train --no-standardize --no-shuffle", lambda: marks(train + ["--no-standardize",
                                                                      "--no-shuffle"])),
        ("train (default: standardize, shuffled)", lambda: marks(train)),
    ]
    for _, fn in cases:  # warm: page cache, .pyc files, numba's cache
        fn()
    results: dict[str, dict[str, list[float]]] = {name: {} for name, _ in cases}
    for _ in range(args.repeat):
        for name, fn in cases:
            for event, seconds in fn().items():
                results[name].setdefault(event, []).append(seconds)

    labels = {"exit": "exit", "stats": "first data (row group 0's statistics)",
              "batch": "first batch (64Ki rows trained)"}
    print(f"start-up, seconds from the command, median of {args.repeat} (min .. max), and the "
          f"process's CPU seconds to that moment (all its threads); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    for name, _ in cases:
        for event in ("exit", "stats", "batch"):
            if event in results[name]:
                v = results[name][event]
                cpu = results[name].get(event + "_cpu")
                print(f"  {name:40} {labels[event]:38} {median(v):6.3f}  "
                      f"({min(v):.3f} .. {max(v):.3f})"
                      + (f"   cpu {median(cpu):6.3f} ({min(cpu):.3f} .. {max(cpu):.3f})"
                         if cpu else ""))
    shuffled = results["train --no-standardize (shuffled)"]
    batch, batch_cpu = median(shuffled["batch"]), median(shuffled["batch_cpu"])
    print(f"target: command start to first batch <= {TARGET_SECONDS} s "
          f"(--no-standardize, shuffled): wall {'met' if batch <= TARGET_SECONDS else 'NOT met'}"
          f", cpu {'met' if batch_cpu <= TARGET_SECONDS else 'NOT met'}")
    print("numba cache (train --no-standardize):", cache_check(train + ["--no-standardize"]))
    print("slowest top-level imports up to the first batch (cumulative ms; threads interleave):")
    for us, name in slowest_imports(train + ["--no-standardize"]):
        print(f"  {name:40} {us / 1000:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
