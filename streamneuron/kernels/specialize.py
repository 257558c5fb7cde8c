"""Kernels compiled on first use, only the variants a run needs, and a notice when
numba's cache does not hold them yet.

A kernel that serves several losses and step rules (:func:`~.sgd.sgd_block`) is built
per *variant*: the loss, the step rule and whether rows are weighted are constants
of the compiled code (closure variables; numba drops the branches they rule out
before it types the code), so a run compiles one rule's code, not every rule's.
:func:`variants` makes such a family: ``build(*key)`` runs once per key, on first
use. Each variant is cached on disk by numba like any ``cache=True`` function (the
constants are part of its cache key). And a kernel is compiled once per dtype and layout
of its data, not again for a read-only copy of the same: its data is passed read-only
(:class:`Announced`'s ``reads``, :func:`read_only`).

The first run after an install finds numba's cache empty and compiles for seconds;
:class:`Announced` says so on stderr before it happens
(:func:`streamneuron.progress.notice`: shown by an open, non-quiet progress display,
i.e. the command line without ``--quiet``). Whether the cache holds a compiled
function is read from numba's cache index (private parts of numba: if they change,
nothing is said and nothing else changes).

Several processes share numba's cache (Dask workers, the helper of :mod:`.ahead`, test
workers), and numba writes a function's cache, an index and numbered data files,
without a lock: two processes saving variants of one function at once can both take
number 1, and the index then names the other's code (numba issue 10128). Here each
save and load of a function's cache holds a lock on a file beside its index
(:func:`_lock_cache_files`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable

import numpy as np

from .. import progress

# What a run's kernels take to compile together on a cold cache (a typical SGD run:
# the statistics pass, the block's labels, the SGD step, the last short batch's step).
COLD_SECONDS = 5

_said = threading.Event()


def variants(build: Callable[..., Any] | None = None, *, reads: int = 0):
    """``build(*key) -> numba dispatcher``, called once per key, its result announced
    (``reads``: as :class:`Announced`). A decorator, bare or called with ``reads``."""
    if build is None:
        return functools.partial(variants, reads=reads)

    @functools.cache
    def variant(*key):
        return Announced(build(*key), reads=reads)

    return variant


class Announced:
    """A compiled kernel that, on its first call in this process, checks numba's cache
    and, when it lacks the arguments' specialization, gives the cold-start notice
    (once per process) before numba compiles it; when a helper process compiles it
    (:mod:`.ahead`), the next call waits for the helper instead. Calls go straight to
    the kernel.

    ``reads``: how many leading arguments are data the kernel only reads (arrays, or
    tuples of them: X, y, the row weights). They are passed as read-only views. numba
    compiles a kernel once per argument type, and a read-only array (Arrow's buffers:
    a Parquet label or weight column, a pandas frame's values) is a type of its own:
    so a kernel fed from both kinds of source compiles once per dtype and layout, not
    twice."""

    __slots__ = ("kernel", "_checked", "helper", "reads")

    def __init__(self, kernel, reads: int = 0):
        self.kernel = kernel
        self.reads = reads
        self._checked = False
        # A helper process compiling this kernel (:mod:`.ahead`): waited for on the
        # next call, which then loads the kernel from numba's cache.
        self.helper = None

    def __call__(self, *args):
        if self.reads:
            args = self._read_only(args)
        if self.helper is not None:
            helper, self.helper = self.helper, None
            helper.wait()
        elif not self._checked:
            self._checked = True
            if not self.kernel.overloads and not in_cache(self.kernel, args):
                announce()
        return self.kernel(*args)

    def signature(self, *args) -> tuple:
        """The numba signature of a call with ``args``."""
        return tuple(self.kernel.typeof_pyval(a) for a in self._read_only(args))

    def _read_only(self, args: tuple) -> tuple:
        return tuple(map(read_only, args[:self.reads])) + args[self.reads:]

    def cached(self, *args) -> bool:
        """Whether this kernel is compiled, in this process or in numba's cache, for
        ``args``' types (True when that cannot be told)."""
        try:
            if self.signature(*args) in self.kernel.overloads:
                return True
        except Exception:
            return True
        return in_cache(self.kernel, self._read_only(args))


def read_only(data):
    """``data`` (an array, or a tuple of arrays and other values) with each array a
    read-only view (no copy; one already read-only as it is)."""
    if isinstance(data, tuple):
        return tuple(map(read_only, data))
    if isinstance(data, np.ndarray) and data.flags.writeable:
        data = data.view()
        data.flags.writeable = False
    return data


def announce() -> None:
    """The cold-start notice, once per process."""
    if not _said.is_set():
        _said.set()
        progress.notice(f"compiling kernels (first run only, ~{COLD_SECONDS} s)...")


def in_cache(kernel, args) -> bool:
    """Whether numba's on-disk cache holds ``kernel`` compiled for ``args``' types
    (True when that cannot be told: no notice rather than a false one).

    The index's keys are ``(signature, the machine, (code hash, closure hash))``; the
    machine is left out of the comparison, as naming it would set up numba's compiler
    (what the warm-up thread does meanwhile)."""
    try:
        signature = tuple(kernel.typeof_pyval(a) for a in args)
        cache = kernel._cache
        wanted = cache._index_key(signature, _AnyMachine)
        return any(key[0] == wanted[0] and key[2] == wanted[2]
                   for key in cache._cache_file._load_index())
    except Exception:
        return True


class _AnyMachine:
    """Stands for the code generator in a cache key whose machine is not compared."""

    @staticmethod
    def magic_tuple():
        return None


def _lock_cache_files() -> None:
    """Make numba's saves of a function's cache one at a time across processes (and a
    load wait for a save): ``fcntl.flock`` on ``<index>.lock``, exclusive to save,
    shared to load. Where there is no ``fcntl`` (or numba's cache is laid out
    otherwise: private parts of numba), numba's own unlocked files."""
    try:
        import fcntl

        from numba.core.caching import IndexDataCacheFile
    except ImportError:
        return
    save, load = IndexDataCacheFile.save, IndexDataCacheFile.load
    if getattr(save, "locked", False) or not hasattr(IndexDataCacheFile, "_load_index"):
        return

    @contextlib.contextmanager
    def held(cache_file, how):
        try:
            handle = open(cache_file._index_path + ".lock", "a")
        except (OSError, AttributeError):  # an unwritable folder: as numba does
            handle = None
        if handle is None:
            yield
            return
        with handle:
            fcntl.flock(handle, how)
            yield

    def locked_save(self, key, data):
        with held(self, fcntl.LOCK_EX):
            return save(self, key, data)

    def locked_load(self, key):
        with held(self, fcntl.LOCK_SH):
            return load(self, key)

    locked_save.locked = True
    IndexDataCacheFile.save, IndexDataCacheFile.load = locked_save, locked_load


_lock_cache_files()


def named(function: Callable, *key) -> Callable:
    """``function`` renamed after its variant ``key`` (``pass_sums`` with key ``(True,
    False)``: ``pass_sums_1_0``), before numba compiles it.

    Variants made by one factory share their code object and name, and numba names a
    compiled function after its name and a per-process counter: two variants compiled
    in two processes can then carry the same symbol with the same argument types, and
    a process that loads kernels of both from the cache links one variant's code for
    both (a variant called from inside a cached kernel is compiled into it)."""
    suffix = "_".join(str(int(k)) if isinstance(k, bool) else str(k) for k in key)
    function.__name__ = f"{function.__name__}_{suffix}"
    function.__qualname__ = f"{function.__qualname__}_{suffix}"
    return function
