"""Where a full pass runs: this process, a local Dask cluster, or a running scheduler.

Every pass is the same Dask graph (a ``dask.bag`` of partitions and a tree
reduction of their sums); an :class:`Executor` only decides who computes it:

* :class:`InProcess`: Dask's threaded scheduler in this process. No cluster to
  start (about 3 s saved), no scheduling round trips (25-65 ms a pass saved), no
  worker processes (so it needs no ``if __name__ == "__main__":`` guard). The
  kernels release the GIL and pyarrow decodes without it, so the threads run in
  parallel. Chosen by ``workers=0``, and by default for small data. A pass over a
  bag it persisted (in-memory data, file descriptors) is run without building a
  Dask graph (:meth:`InProcess.map_reduce`): the same tasks, added in the same tree.
* :class:`DaskCluster`: a ``distributed.Client``: the one given, one connected
  to ``scheduler``, the running default client, or a local cluster of
  ``workers`` single-threaded worker processes started here and closed at the
  end. The cluster's own logs stay out of the terminal unless ``verbose``.

:func:`open_executor` picks one from the arguments of :func:`~streamneuron.fit_gd`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import threading

from ..blas import blas_threads
from ..errors import ConfigError, StreamNeuronError
from .partitions import SPLIT_EVERY
from .recycle import RECYCLED

# How long to try to reach a --scheduler address before giving up.
CONNECT_TIMEOUT = "10s"
# How long to wait for a first worker on a scheduler that has none.
WORKER_WAIT_SECONDS = 60.0
# Workers of a local cluster when neither ``workers`` nor a client is given.
DEFAULT_LOCAL_WORKERS = 2
# With no client, scheduler or workers given, data whose decoded size is at most
# this runs in this process: a pass over it costs less than starting a cluster.
IN_PROCESS_BYTES = 1 << 30
# Loggers of Dask's cluster machinery, quieted unless ``verbose``.
DASK_LOGGERS = ("distributed", "dask", "tornado", "bokeh", "asyncio")


class InProcess:
    """Dask's threaded scheduler in this process (``workers=0``).

    A pass runs with ``BLAS_THREADS`` BLAS threads (the Hessian sums' matrix
    products): the pass's own threads, one per core, are its parallelism, and BLAS
    threads of their own would compete with them for the same cores. One thread also
    gives the bits a worker process of a local cluster gives (Dask starts its workers
    with one BLAS thread): a threaded BLAS splits a product differently. None: BLAS as
    configured (``scripts/bench_blas.py`` compares the two).
    """

    kind = "in-process"
    BLAS_THREADS: int | None = 1
    # Tasks submitted and not yet added: one per pass thread and one waiting, so that a
    # thread finishing before the one whose result is added next starts another task.
    AHEAD = 1

    def __init__(self, threads: int | None = None):
        self.threads = threads or os.cpu_count() or 1
        # The partitions of each bag persisted here, by the bag's name.
        self._kept: dict[str, list] = {}

    def map_reduce(self, bag, task, *args, aggregate):
        """``bag.map_partitions(task, *args).reduction(aggregate, aggregate,
        split_every=SPLIT_EVERY)``, computed. On a bag persisted here the tasks are
        called directly (on the pass's threads when there are several partitions) and
        their results added as they come, in Dask's tree (:class:`TreeFold`): the same
        numbers, without building, optimizing and scheduling a graph every pass, and
        with at most ``threads + AHEAD`` task results alive at once, whatever the
        number of partitions (a task's result is a partial sum: with newton's Hessian
        ``(p+1)**2`` values, 10 MB at 1,118 weights)."""
        parts = self._kept.get(getattr(bag, "name", None))
        if parts is None:
            return self.compute(_graph(bag, task, args, aggregate))
        fold = TreeFold(len(parts), aggregate)
        with blas_threads(self.BLAS_THREADS):
            if len(parts) == 1 or self.threads == 1:
                for part in parts:
                    fold.add(task(part, *args))
            else:
                for output in _in_order(_pool(self.threads), task, args, parts,
                                        self.threads + self.AHEAD):
                    fold.add(output)
        RECYCLED.clear()  # (kept within a pass only: between passes none lingers)
        return fold.result()

    # The scheduler is passed as the function itself: given by name ("threads"),
    # dask imports distributed (a second) to look for a client first.
    def compute(self, collection):
        import dask
        import dask.threaded

        with blas_threads(self.BLAS_THREADS):
            return dask.compute(collection, scheduler=dask.threaded.get,
                                num_workers=self.threads)[0]

    def persist(self, collection):
        import dask
        import dask.local
        import dask.threaded

        kept = dask.persist(collection, scheduler=dask.threaded.get,
                            num_workers=self.threads)[0]
        if hasattr(kept, "npartitions") and hasattr(kept, "to_delayed"):  # a bag
            self._kept[kept.name] = list(dask.compute(
                *kept.to_delayed(optimize_graph=False), scheduler=dask.local.get_sync))
        return kept

    def release(self, collection) -> None:
        self._kept.pop(getattr(collection, "name", None), None)

    def run_everywhere(self, function) -> None:
        function()

    def close(self) -> None:
        self._kept.clear()


class DaskCluster:
    """A ``distributed.Client``; closes only what it started (a local cluster, a connection)."""

    def __init__(self, client, *, kind: str, owned=(), verbose: bool = False):
        self.client, self.kind, self._owned, self.verbose = client, kind, list(owned), verbose

    def compute(self, collection):
        """``client.compute(collection)``'s result, with cluster failures in our words."""
        from concurrent.futures import CancelledError

        from distributed.scheduler import KilledWorker

        try:
            # A Delayed of the tree's root: no extra "finalize" task on the cluster.
            with _quiet(self.verbose):
                return self.client.compute(collection.to_delayed(optimize_graph=True), sync=True)
        except CancelledError as exc:
            raise StreamNeuronError(f"the Dask computation was cancelled ({exc}); was the "
                                    "scheduler restarted or the connection to it lost?") from None
        except KilledWorker as exc:
            raise StreamNeuronError(
                f"Dask workers died repeatedly running {exc.task!r}; out of memory? (without "
                "--persist a worker holds a few partitions; use smaller row groups, "
                "--partition-rows, or workers with more memory)") from None
        except ImportError as exc:
            if "streamneuron" in str(exc):
                raise StreamNeuronError(f"the Dask workers cannot import streamneuron ({exc}); "
                                        "install it on every worker") from None
            raise

    def persist(self, collection):
        return self.client.persist(collection)

    def map_reduce(self, bag, task, *args, aggregate):
        """``bag.map_partitions(task, *args).reduction(aggregate, aggregate,
        split_every=SPLIT_EVERY)``, computed on the cluster."""
        return self.compute(_graph(bag, task, args, aggregate))

    def release(self, collection) -> None:
        """Free what ``persist`` holds on the cluster. (Only after a successful run:
        after a failed task ``client.cancel`` trips an assertion in the scheduler, logged
        as "Task exception was never retrieved"; the futures go with their references.)"""
        from distributed import futures_of

        with contextlib.suppress(Exception), _quiet(self.verbose):
            self.client.cancel(futures_of(collection))

    def run_everywhere(self, function) -> None:
        with contextlib.suppress(Exception):
            self.client.run(function)

    def memory_limit(self) -> tuple[int, int]:
        """``(workers, total memory limit in bytes, 0 if unknown)``."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return len(workers), sum(int(w.get("memory_limit") or 0) for w in workers)

    def close(self) -> None:
        for thing in reversed(self._owned):
            with contextlib.suppress(Exception), _quiet(self.verbose):
                thing.close()
        self._owned = []


_POOLS: dict = {}  # threads -> the process's pool of that many pass threads
_POOLS_LOCK = threading.Lock()


def _pool(threads: int):
    """The pass threads, one pool per size kept for the process, as Dask keeps its own:
    a task's thread keeps its open files and decode buffers
    (:mod:`~streamneuron.fullpass.partitions`) from run to run."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            from concurrent.futures import ThreadPoolExecutor

            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="streamneuron-pass")
        return _POOLS[threads]


def _graph(bag, task, args, aggregate):
    """The Dask graph of a pass: ``task`` on every partition of ``bag``, the results
    added in a tree. numpy arguments go in as they are (not tokenized, not traversed)."""
    import dask
    import numpy as np

    args = [dask.delayed(a, traverse=False) if isinstance(a, np.ndarray) else a for a in args]
    return bag.map_partitions(task, *args).reduction(aggregate, aggregate,
                                                     split_every=SPLIT_EVERY)


_NONE = object()  # dask.bag's "no result" of an empty partition


def tree_reduce(outputs: list, aggregate, split_every: int = SPLIT_EVERY):
    """What ``reduction(aggregate, aggregate, split_every)`` of ``dask.bag`` makes of the
    partitions' results ``outputs``, in its order: ``aggregate`` of each, then of each
    run of ``split_every`` consecutive results, level by level, then of the last level
    (an empty result is left out unless it is the only one: Dask's ``empty_safe_*``)."""
    def apply(values, last):
        values = [v for v in values if v is not _NONE]
        return _NONE if not values and not last else aggregate(values)

    level = [_NONE if len(out) == 0 and len(outputs) > 1 else aggregate(out)
             for out in outputs]
    while len(level) > split_every:
        level = [apply(level[k:k + split_every], False)
                 for k in range(0, len(level), split_every)]
    return apply(level, True)


def _in_order(pool, task, args, parts, window: int):
    """``task(part, *args)`` of each part on ``pool``, the results in the parts' order,
    with at most ``window`` tasks submitted and not yet handed over (``pool.map``
    would keep every finished result until it is reached)."""
    from collections import deque

    pending: deque = deque()
    queue = iter(parts)
    try:
        for part in queue:
            pending.append(pool.submit(task, part, *args))
            if len(pending) >= window:
                break
        while pending:
            output = pending.popleft().result()
            for part in queue:
                pending.append(pool.submit(task, part, *args))
                break
            yield output
            del output
    finally:
        for future in pending:  # after a failed task: the others not started are dropped
            future.cancel()


class TreeFold:
    """:func:`tree_reduce` of ``n`` results added one at a time, in their order, each
    level of the tree kept as one running value: at most one partial sum per level
    alive (``ceil(log_8 n) + 1``), not ``n``.

    ``aggregate`` must be a left fold, ``aggregate(xs + [x]) == aggregate([aggregate(xs),
    x])`` bit for bit (``sums.sum_partials``: ``((a + b) + c)``; ``merge_moments``):
    then a group of the tree folded as its members come is the group aggregated at
    once, and the result is :func:`tree_reduce`'s, the same bits."""

    def __init__(self, n: int, aggregate, split_every: int = SPLIT_EVERY):
        self.n, self.aggregate, self.split_every = n, aggregate, split_every
        # ``aggregate.fold(total, x)``: ``aggregate([total, x])`` in total's memory, when
        # the aggregate has one (``sum_partials``): then a task's array is folded as it is
        self.fold = getattr(aggregate, "fold", None)
        # ``aggregate.recycle(x)``: x, a task's array, was folded into another and is
        # no one's (``sums.sum_partials``: its memory serves a later task)
        self.recycle = getattr(aggregate, "recycle", None)
        sizes = [n]  # items on each level; the last level is aggregated whole
        while sizes[-1] > split_every:
            sizes.append(-(-sizes[-1] // split_every))
        self.sizes = sizes
        self.values = [_NONE] * len(sizes)  # each level's group being folded
        self.seen = [0] * len(sizes)  # items added to each level so far

    def add(self, output) -> None:
        """One task's result (the next in the parts' order)."""
        if self.fold is not None and len(output) == 1:
            item = output[0]  # (the task's own array: aggregate([x]) is x's copy)
        else:
            item = (_NONE if len(output) == 0 and self.n > 1 else self.aggregate(output))
        self._push(0, item)

    def _push(self, level: int, item) -> None:
        last = level == len(self.sizes) - 1
        if item is not _NONE:
            current = self.values[level]
            if self.fold is not None:
                self.values[level] = item if current is _NONE else self.fold(current, item)
                if current is not _NONE and self.recycle is not None:
                    self.recycle(item)
            else:
                self.values[level] = (self.aggregate([item]) if current is _NONE
                                      else self.aggregate([current, item]))
        self.seen[level] += 1
        if last:
            return
        if self.seen[level] % self.split_every == 0 or self.seen[level] == self.sizes[level]:
            value, self.values[level] = self.values[level], _NONE
            self._push(level + 1, value)

    def result(self):
        if self.seen[-1] != self.sizes[-1]:
            raise StreamNeuronError(f"internal error: {self.seen[0]} of {self.n} results added")
        value = self.values[-1]
        return self.aggregate([]) if value is _NONE else value


@contextlib.contextmanager
def _quiet(verbose: bool):
    """Dask's loggers at CRITICAL for the duration (a failing task's traceback is
    logged by the scheduler and the worker before our one-line error is raised)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in DASK_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _in_spawned_bootstrap() -> bool:
    """True while a worker process started by ``spawn`` re-imports the user's script.

    A script that calls ``fit_gd`` at top level, with no ``if __name__ ==
    "__main__":`` guard, is imported again by every worker process; there the
    call must not start another cluster (it could not), but end that process
    quietly, so that the parent reports one clear line.
    """
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def _start_local(n: int, verbose: bool, on_cluster) -> DaskCluster:
    from distributed import Client, LocalCluster

    if _in_spawned_bootstrap():
        raise SystemExit(1)
    cluster = None
    try:
        with _quiet(verbose):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=":0",
                                   silence_logs=logging.WARNING if verbose else logging.CRITICAL)
            client = Client(cluster, set_as_default=False)
    except Exception as exc:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
        raise ConfigError(
            f"could not start a local Dask cluster of {n} worker processes ({type(exc).__name__}: "
            f"{exc}). Worker processes import the script that started them: put the training "
            "call under `if __name__ == \"__main__\":`, or train in this process with workers=0 "
            "(--workers 0)") from None
    if on_cluster is not None:
        on_cluster(cluster.dashboard_link)
    return DaskCluster(client, kind="local", owned=[cluster, client], verbose=verbose)


def _connect(address: str, verbose: bool) -> DaskCluster:
    from distributed import Client

    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"scheduler must be an address such as tcp://host:8786, got {address!r}")
    try:
        with _quiet(verbose):
            client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address!r} within "
                          f"{CONNECT_TIMEOUT} ({type(exc).__name__}: {exc}); is it running, "
                          "and is the address right?") from None
    try:
        if not client.scheduler_info(n_workers=1)["workers"]:
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise StreamNeuronError(f"the Dask scheduler at {address!r} has no workers (waited "
                                f"{WORKER_WAIT_SECONDS:.0f} s): {exc}") from None
    return DaskCluster(client, kind="scheduler", owned=[client], verbose=verbose)


def check_where(*, client=None, scheduler=None, workers=None) -> None:
    """At most one of ``client``, ``scheduler`` and ``workers`` (checked before any work)."""
    given = [name for name, value in (("client", client), ("scheduler", scheduler),
                                      ("workers", workers)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"give only one of client, scheduler (--scheduler) and workers "
                          f"(--workers); got {' and '.join(given)}")


def open_executor(*, client=None, scheduler: str | None = None, workers: int | None = None,
                  data_bytes: float = 0.0, verbose: bool = False, on_cluster=None):
    """The executor for these arguments (at most one of them may be given).

    ``client``: that ``distributed.Client`` (never closed here). ``scheduler``:
    connect to it. ``workers=0``: this process; ``workers=N``: a local cluster of
    N processes. None of them: the running default client if there is one; else
    this process when the data is small (``data_bytes <= IN_PROCESS_BYTES``),
    else a local cluster of ``DEFAULT_LOCAL_WORKERS`` workers.
    """
    check_where(client=client, scheduler=scheduler, workers=workers)
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise ConfigError(f"client must be a distributed.Client, got {client!r}")
        return DaskCluster(client, kind="client", verbose=verbose)
    if scheduler is not None:
        return _connect(scheduler, verbose)
    if workers == 0:
        return InProcess()
    if workers is None:
        # A running default client means distributed is imported already; importing
        # it only to find none costs a second.
        if "distributed" in sys.modules:
            with contextlib.suppress(ImportError, ValueError):
                from distributed import default_client

                return DaskCluster(default_client(), kind="client", verbose=verbose)
        if data_bytes <= IN_PROCESS_BYTES:
            return InProcess()
    return _start_local(workers or DEFAULT_LOCAL_WORKERS, verbose, on_cluster)


__all__ = ["InProcess", "DaskCluster", "open_executor", "IN_PROCESS_BYTES"]


class PersistWarning(UserWarning):
    """``persist=True``: the decoded partitions are about to fill cluster memory."""


def warn_persist(executor, rows: int, d: int, itemsize: int) -> None:
    """``--persist``: say how much memory the decoded data takes, and whether it fits."""
    import warnings

    size = rows * (d * itemsize + 8)
    if isinstance(executor, DaskCluster):
        workers, limit = executor.memory_limit()
        room = (f"the {workers} worker(s) have {_gib(limit)} in all" if limit
                else f"{workers} worker(s), memory limit unknown")
        too_big = (" It does not fit: expect spilling or dying workers."
                   if limit and size > 0.6 * limit else "")
    else:
        room, too_big = "in this process", ""
    warnings.warn(f"--persist keeps the decoded data in memory: about {_gib(size)} "
                  f"({rows} rows x {d} features); {room}.{too_big}",
                  PersistWarning, stacklevel=6)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"
