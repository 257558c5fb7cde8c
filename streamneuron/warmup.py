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

The command's process runs only our kernels, so the warm-up also leaves out the
parts of numba's set-up that they never use (:func:`_lean`), about a third of it:
scipy (numba imports ``scipy`` for a version check and ``scipy.linalg`` to learn
that a BLAS exists; the kernels' ``np.dot`` still calls scipy's BLAS, which numba's
C helpers import on the first such call), cffi (numba builds a C parser to type cffi
functions) and third-party numba extensions (``numba_extensions`` entry points,
found by scanning every installed package's metadata).

On a cold cache the helper process that compiles the SGD kernel meanwhile
(:mod:`.kernels.ahead`) runs as ``python -m streamneuron.warmup``: the same lean set-up.

Nothing here changes a number: the kernels are the very functions loaded from
the same cache, whichever thread loads them first (numba serialises compiling
and cache loading with one lock), and ``np.dot`` is compiled to the same BLAS call.
A failure here is ignored: the first real kernel call then does the same work and
raises whatever is wrong.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
import threading

_lock = threading.Lock()
_thread: threading.Thread | None = None
_done = threading.Event()


def _identity(x):
    return x


# What numba's set-up imports on the warm-up thread that no kernel uses (see above).
_SKIPPED = ("scipy", "cffi")


class _SkipOnThisThread(importlib.abc.MetaPathFinder):
    """Makes ``import scipy`` / ``import cffi`` fail on the warm-up thread only (numba
    treats both as optional); other threads import them as usual, and nothing is cached
    by a failed import."""

    def __init__(self, thread: threading.Thread):
        self.thread = thread

    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is self.thread and name.split(".")[0] in _SKIPPED:
            raise ModuleNotFoundError(f"not on the warm-up thread: {name}", name=name)
        return None


@contextlib.contextmanager
def _lean():
    """numba's set-up without scipy, cffi or third-party extensions (module docstring).

    ``numba.np.arraymath`` decides once, when imported, whether ``np.dot`` may call
    BLAS (``ensure_blas()`` imports ``scipy.linalg``): that import is answered by
    whether scipy is installed, so the compiled code is the one numba would make."""
    have_scipy = "scipy" in sys.modules or importlib.util.find_spec("scipy") is not None

    def scipy_installed():
        if not have_scipy:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    blocker = _SkipOnThisThread(threading.current_thread())
    sys.meta_path.insert(0, blocker)
    try:
        import numba.core.entrypoints as entrypoints
        import numba.np.linalg as linalg
    except BaseException:
        sys.meta_path.remove(blocker)
        raise
    ensure_blas = linalg.ensure_blas
    entrypoints._already_initialized = True  # our kernels use no numba extension
    linalg.ensure_blas = scipy_installed
    try:
        import numba.np.arraymath as arraymath  # decides np.dot's BLAS, see above

        arraymath.ensure_blas = ensure_blas
        yield
    finally:
        linalg.ensure_blas = ensure_blas
        sys.meta_path.remove(blocker)


def _warm() -> None:
    try:
        with _lean():
            from numba import njit

            from .kernels import ahead  # the kernels package itself: LLVM intrinsics

            if ahead.HELPER == _DEFAULT_HELPER:  # a cold run's helper: lean likewise
                ahead.HELPER = [sys.executable, "-m", __name__]

            # Any cached function's first call sets up numba's target (the part that
            # costs); a trivial one keeps this independent of the kernels' signatures.
            njit(cache=True, nogil=True)(_identity)(0)
    except Exception:  # an optimisation only: the real call reports any problem
        pass
    finally:
        _done.set()


# The helper command of :mod:`.kernels.ahead` (kept unless a test changed it).
_DEFAULT_HELPER = [sys.executable, "-m", "streamneuron.kernels.ahead"]


def _helper() -> None:
    """A cold run's helper process (:mod:`.kernels.ahead`) with the lean set-up."""
    with _lean():
        from .kernels import ahead

        ahead.main()


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


if __name__ == "__main__":
    _helper()
