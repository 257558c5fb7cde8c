"""Compiling a run's slowest kernel in a helper process while this one gets on with its work.

numba compiles under one process-wide lock, so two threads cannot compile at once;
two processes can. On a cold cache (the first run after an install) a run starts a
helper process (``python -m streamneuron.kernels.ahead``) that compiles the variants
and signatures it is given (:class:`Job`), which fills numba's on-disk cache, while
this process compiles its other kernels and reads its data. When this process first
calls such a kernel it waits for the helper (compiling its own queued kernels
meanwhile) and numba then loads the kernel from the cache, like a warm run.

Nothing depends on the helper: if it fails, is slow beyond :data:`WAIT_SECONDS` or
compiled for other types than the call's, numba compiles the kernel here as it
would have anyway. A kernel loaded from the cache is the one numba would have
compiled here (its cache key holds the signature, the function's bytecode and its
closure's constants), so the numbers are the same bits.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from typing import Any, NamedTuple

# The helper's command (a test may point it at a failing one).
HELPER = [sys.executable, "-m", "streamneuron.kernels.ahead"]
# How long a kernel's first call waits for the helper before compiling it here.
WAIT_SECONDS = 120.0


class Job(NamedTuple):
    """One kernel variant to compile: the family (``module``, ``family``: a function
    made by :func:`.specialize.variants`), its ``key`` and the numba ``signature``."""

    module: str
    family: str
    key: tuple
    signature: tuple

    def kernel(self):
        """The variant's :class:`.specialize.Announced` (made on first use)."""
        return getattr(importlib.import_module(self.module), self.family)(*self.key)


class Helper:
    """A running helper process, waited for once."""

    def __init__(self, process: subprocess.Popen, here: list[Job]):
        self.process, self.here = process, here

    def wait(self) -> None:
        """Compile this process's queued jobs, then wait for the helper (killed after
        :data:`WAIT_SECONDS`: the caller then compiles what it lacks itself)."""
        here, self.here = self.here, []
        for job in here:
            compile_job(job)
        try:
            self.process.wait(WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def compile_job(job: Job) -> None:
    """Compile (or load from numba's cache) one job's variant for its signature."""
    try:
        job.kernel().kernel.compile(job.signature)
    except Exception:  # the real call compiles it and reports what is wrong
        pass


def start(helper_jobs: list[Job], here: list[Job] = ()) -> Helper | None:
    """Start a helper compiling ``helper_jobs``; the first call of any of them waits
    for it after compiling ``here`` in this process. None (nothing started) when the
    helper cannot be started."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        process = subprocess.Popen(HELPER, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        process.stdin.write(pickle.dumps(list(helper_jobs)))
        process.stdin.close()
    except (OSError, pickle.PicklingError):
        return None
    helper = Helper(process, list(here))
    for job in helper_jobs:
        job.kernel().helper = helper
    return helper


def main() -> Any:
    """The helper: compile every job read (pickled) from stdin."""
    for job in pickle.loads(sys.stdin.buffer.read()):
        job.kernel().kernel.compile(job.signature)


if __name__ == "__main__":
    main()
