"""Load numba on a background thread while the command opens and reads its input.

numba's first call of any compiled function, even one loaded from the on-disk
cache, first sets up its compiler: it imports its whole library of
implementations (``numba.np.arraymath`` alone imports ``scipy.linalg`` to find a
BLAS) and initialises LLVM, more work than ``import numba`` itself, and most of the
time from the command to the first trained batch (``scripts/bench_startup.py``).
:func:`start` does all of that on a daemon thread, so that it overlaps with what
the caller does meanwhile: importing pyarrow, opening the files, decoding the
first row group (pyarrow and large numpy copies release the GIL). Only the
parts that release the GIL really overlap: imports on both threads take turns.

Nothing here changes a number: the kernels are the very functions loaded from
the same cache, whichever thread loads them first (numba serialises compiling
and cache loading with one lock). A failure here is ignored: the first real
kernel call then does the same work and raises whatever is wrong.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_thread: threading.Thread | None = None
_done = threading.Event()


def _identity(x):
    return x


def _warm() -> None:
    try:
        from numba import njit

        from . import kernels  # noqa: F401  (the kernels package itself: LLVM intrinsics)

        # Any cached function's first call sets up numba's target (the part that
        # costs); a trivial one keeps this independent of the kernels' signatures.
        njit(cache=True, nogil=True)(_identity)(0)
    except Exception:  # an optimisation only: the real call reports any problem
        pass
    finally:
        _done.set()


def start() -> None:
    """Begin loading numba and the kernels in the background (once per process)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm, name="streamneuron-warmup", daemon=True)
            _thread.start()


def wait(timeout: float | None = None) -> bool:
    """Wait for the warm-up to finish (True when it has, or was never started)."""
    return _thread is None or _done.wait(timeout)
