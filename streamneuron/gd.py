"""Full-pass gradient descent on Dask: one pass over every row per iteration.

Each iteration is the article's gradient descent, with the gradient averaged
over all ``n`` rows (INTERFACE.md)::

    J(w, b) = (1/n) sum_i L(z_i, y_i) + (l2/2) ||w||**2      (at the weights before the step)
    w <- w - lr * ((1/n) sum_i dL/dz_i x_i + l2 w)
    b <- b - lr * (1/n) sum_i dL/dz_i

How one iteration runs on the cluster:

* The input is cut into *partitions*: a Parquet row group or an HDF5 chunk range
  (a unit of :class:`~streamneuron.readers.Source`), or a run of consecutive
  units of one file up to ``partition_rows`` rows. A partition is a small,
  picklable :class:`Partition` (file URL, format, columns, unit indices); the
  task that reads it opens the file itself with
  :func:`~streamneuron.open_source` on whatever worker runs it. Opened sources
  are cached per worker thread (so footers are parsed once, not per iteration)
  and never pickled.
* Every partition computes its partial sums ``[sum dL/dz x (d values), sum dL/dz,
  sum L, rows]`` with the fused kernel :func:`streamneuron.kernels.gradient_sums`
  (the formulas of :mod:`streamneuron.losses`, the same as SGD), in one task that
  reads and reduces, so a decoded partition never leaves its task.
* ``dask.bag.Bag.reduction`` sums the partials in a tree (``SPLIT_EVERY`` at a
  time) in a fixed order, so a run is bit-identical whatever the number of
  workers, the scheduling, or a worker lost and recomputed.
* The client divides by ``n``, adds the L2 term and steps. The weights go out as
  one tiny graph input ``[w, b, mean, 1/scale]`` (3d + 1 floats), not baked
  into every task, and not scattered: a graph input is recomputed if the worker
  holding it dies, a scattered value would be lost.

Out of core by default: every iteration re-reads its partitions, so a worker
holds about one decoded partition per thread (decoded into a buffer the thread
reuses, which saves the page faults of a fresh array). ``persist=True`` keeps the
decoded partitions in cluster memory instead (after a warning with their size);
lost ones are recomputed from their partition descriptors.

In-memory and Dask data (an :class:`~streamneuron.readers.ArraySource`: numpy or
Dask arrays, pandas or Dask DataFrames) go through the same reduction, one task
per unit from ``ArraySource.delayed_chunks``; numpy and pandas data are
persisted on the cluster once, Dask collections are recomputed every pass unless
``persist=True``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from . import kernels
from .errors import ConfigError, DataError, DivergenceError, StreamNeuronError
from .losses import get_loss
from .neuron import Neuron
from .params import check_params
from .stats import Moments, raise_nonfinite

# Partials combined per task of the reduction tree.
SPLIT_EVERY = 8
# How long to try to reach a --scheduler address before giving up.
CONNECT_TIMEOUT = "10s"
# How long to wait for a first worker on a scheduler that has none.
WORKER_WAIT_SECONDS = 60.0
# Workers of a local cluster when neither ``workers`` nor a client is given.
DEFAULT_LOCAL_WORKERS = 2
# Opened sources a worker thread keeps (each holds one open file and its footer).
SOURCE_CACHE_SIZE = 16


class PersistWarning(UserWarning):
    """``persist=True``: the decoded partitions are about to fill cluster memory."""


@dataclass(frozen=True)
class GDParams:
    """Everything that shapes the arithmetic of a run (recorded in ``info["params"]``)."""

    loss: str = "log"
    max_iter: int = 100
    lr: float = 1.0
    l2: float = 0.0
    tol: float = 1e-6
    standardize: bool = True
    persist: bool = False
    partition_rows: int | None = None

    def __post_init__(self):
        check_params(loss=self.loss, max_iter=self.max_iter, lr=self.lr, l2=self.l2,
                     tol=self.tol, partition_rows=self.partition_rows)


# --------------------------------------------------------------------------
# Partitions: what a task needs to find its rows, and nothing it cannot pickle
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """Consecutive units of one file, as a small picklable value.

    ``url`` is what a worker opens (an absolute local path or a full fsspec URL);
    ``display`` is the name the user gave, used in error messages. ``units`` are
    ``(index, rows)`` pairs, the index into the units of a source opened on that
    one file. ``stamp`` (size, modification time) keeps a worker from serving a
    changed file from its cache.
    """

    format: str
    url: str
    display: str
    features: tuple[str, ...]
    label: str | None
    x_key: str
    y_key: str
    stamp: tuple
    units: tuple[tuple[int, int], ...]

    @property
    def n_rows(self) -> int:
        return sum(n for _, n in self.units)

    def source_key(self) -> tuple:
        return (self.format, self.url, self.features, self.label, self.x_key, self.y_key,
                self.stamp)


def plan_partitions(source, partition_rows: int | None = None) -> list[Partition]:
    """The partitions of ``source``, in file order.

    Default: one unit (row group / HDF5 chunk range) each. With
    ``partition_rows``, consecutive units of one file are grouped while the group
    stays within ``partition_rows`` rows; a unit larger than that is alone.
    """
    features = tuple(source.feature_names)
    x_key = getattr(source, "x_key", "X")
    y_key = getattr(source, "y_key", "y")
    per_file: dict[int, list[tuple[int, int]]] = {}
    for u in source.units:
        local = per_file.setdefault(u.file, [])
        local.append((len(local), u.n_rows))
    # Parquet skips empty row groups, and so does the worker's one-file source:
    # ``len(local)`` above is the index the worker will see.
    parts: list[Partition] = []
    for k, ref in enumerate(source.files):
        units = per_file.get(k, [])
        if not units:
            continue
        url = ref.path if ref.is_local else ref.url
        try:
            stamp = (ref.size(), ref.mtime())
        except OSError as exc:
            raise DataError(f"{ref.url}: cannot be read ({exc})") from None
        group: list[tuple[int, int]] = []
        rows = 0
        for unit in units:
            if group and (partition_rows is None or rows + unit[1] > partition_rows):
                parts.append(Partition(source.format, url, ref.url, features, source.label,
                                       x_key, y_key, stamp, tuple(group)))
                group, rows = [], 0
            group.append(unit)
            rows += unit[1]
        parts.append(Partition(source.format, url, ref.url, features, source.label,
                               x_key, y_key, stamp, tuple(group)))
    return parts


# --------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------

_SOURCES: OrderedDict = OrderedDict()  # (source key, thread id) -> Source, oldest first
_SOURCES_LOCK = threading.Lock()
# Units (row groups / chunk ranges) this process has decoded: tests and benchmarks
# read it with ``client.run(units_read)`` to count passes over the files.
_UNITS_READ = [0]


def units_read() -> int:
    """How many units this worker process has read from files so far."""
    return _UNITS_READ[0]


def _worker_source(part: Partition):
    """The source of ``part``'s file, opened once per worker thread and cached."""
    key = (part.source_key(), threading.get_ident())
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is not None:
            _SOURCES.move_to_end(key)
            return source
    from .readers import open_source

    try:
        source = open_source([part.url], label=part.label, features=list(part.features),
                             x_key=part.x_key, y_key=part.y_key)
    except DataError as exc:
        raise DataError(f"{exc} (opened on a Dask worker: every worker must be able to read "
                        "the input files at the same path or URL)") from None
    # Name the file as the user gave it in every message (describe() uses .url).
    source.files[0] = dataclasses.replace(source.files[0], url=part.display)
    for index, rows in part.units:
        if index >= len(source.units) or source.units[index].n_rows != rows:
            source.close()
            raise DataError(f"{part.display}: the file changed while training (its row groups "
                            "or chunks no longer match); start the run again")
    with _SOURCES_LOCK:
        _SOURCES[key] = source
        mine = [k for k in _SOURCES if k[1] == key[1]]
        for old in mine[:-SOURCE_CACHE_SIZE]:  # evict only this thread's oldest
            _SOURCES.pop(old).close()
    return source


_BUFFERS: dict = {}  # thread id -> {shape key: array}: decode targets reused across tasks


def _buffer(source, n_rows: int) -> np.ndarray:
    """This thread's reusable ``(n_rows, d)`` decode target, in the reader's own layout.

    Writing into memory that is already mapped skips the page faults of a fresh
    array (a fifth of a row group's decode time); at most two shapes (a full and
    a last, shorter unit) are kept per thread.
    """
    d, dtype = source.n_features, source.dtype
    key = (source.format, n_rows, d, dtype.str)
    mine = _BUFFERS.setdefault(threading.get_ident(), {})
    buf = mine.get(key)
    if buf is None:
        if len(mine) >= 2:
            mine.clear()
        # Parquet decodes column by column (column-major); HDF5 reads rows (row-major).
        buf = (np.empty((d, n_rows), dtype).T if source.format == "parquet"
               else np.empty((n_rows, d), dtype))
        mine[key] = buf
    return buf


def _release_buffers() -> None:
    """Drop the decode buffers of this worker process (run on every worker at the end)."""
    _BUFFERS.clear()


def _read(part: Partition, reuse: bool = False):
    """``(where, X, y)`` for each unit of the partition, one at a time.

    ``reuse``: decode into this thread's buffer; ``X`` is then valid only until the
    next unit is read (right for a pass that reduces each unit at once).
    """
    source = _worker_source(part)
    for index, n_rows in part.units:
        chunk = source.read(index, out=_buffer(source, n_rows) if reuse else None)
        with _SOURCES_LOCK:
            _UNITS_READ[0] += 1
        yield chunk.where, chunk.X, chunk.y


class _Located:
    """What :func:`raise_nonfinite` needs to name a bad value: columns, rows, a place."""

    def __init__(self, where: str, features: Sequence[str], X: np.ndarray):
        self.where, self.feature_names, self.X = where, list(features), X

    def describe_row(self, source, row: int):
        return self.where, row


def _unpack(params: np.ndarray):
    d = (params.shape[0] - 1) // 3
    return params[:d], float(params[d]), params[d + 1:2 * d + 1], params[2 * d + 1:]


def _add_gradient(acc: np.ndarray, where: str, features, X, y, params, loss_id: int) -> None:
    """Add one unit's ``[sum dz x, sum dz, sum L, rows]`` into ``acc`` (kernel order)."""
    w, b, mean, inv_scale = _unpack(params)
    d = w.shape[0]
    sum_dz, sum_loss, bad = kernels.gradient_sums(X, y, w, b, mean, inv_scale, loss_id, acc[:d])
    if bad >= 0:
        located = _Located(where, features, X)
        raise_nonfinite(located, located, int(bad))
        raise DivergenceError(
            f"{where}, row {int(bad)}: the logit overflowed although the row is finite; the "
            "learning rate is too large for this data: lower --lr or use --standardize")
    acc[d] += sum_dz
    acc[d + 1] += sum_loss
    acc[d + 2] += y.shape[0]


def _partition_gradient(parts: list[Partition], params: np.ndarray, loss_id: int):
    """Read every unit of the bag partition and return its partial sums (one array)."""
    d = (params.shape[0] - 1) // 3
    acc = np.zeros(d + 3)
    for part in parts:
        for where, X, y in _read(part, reuse=True):
            _add_gradient(acc, where, part.features, X, y, params, loss_id)
    return [acc]


def _decoded_gradient(chunks: list, params: np.ndarray, loss_id: int):
    """Partial sums over decoded ``(where, features, X, y)`` chunks (``persist=True``)."""
    d = (params.shape[0] - 1) // 3
    acc = np.zeros(d + 3)
    for where, features, X, y in chunks:
        _add_gradient(acc, where, features, X, y, params, loss_id)
    return [acc]


def _decode(parts: list[Partition]):
    """Decoded chunks of a bag partition, to be kept in cluster memory."""
    return [(where, part.features, X, y) for part in parts for where, X, y in _read(part)]


def _add_moments(total: Moments, where: str, features, X) -> Moments:
    moments = Moments.of(X)
    if not np.isfinite(moments.m2).all():  # a NaN or infinity: name it
        located = _Located(where, features, X)
        raise_nonfinite(located, located)
    return total.merge(moments)


def _partition_moments(parts: list[Partition]):
    total = Moments.empty(len(parts[0].features))
    for part in parts:
        for where, X, _ in _read(part, reuse=True):
            total = _add_moments(total, where, part.features, X)
    return [total]


def _decoded_moments(chunks: list):
    total = Moments.empty(len(chunks[0][1]))
    for where, features, X, _ in chunks:
        total = _add_moments(total, where, features, X)
    return [total]


def _sum_partials(partials) -> np.ndarray:
    """Sum in the order given (the reduction tree's order): bit-reproducible."""
    total = None
    for p in partials:
        total = np.array(p, dtype=np.float64, copy=True) if total is None else total + p
    return total


def _merge_moments(partials) -> Moments:
    total = None
    for m in partials:
        total = m if total is None else total.merge(m)
    return total


# --------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------


class _Cluster:
    """The client to use; starts (and later closes) a local cluster or a connection."""

    def __init__(self, client, scheduler, workers, on_cluster):
        self.client = client
        self.scheduler, self.workers, self.on_cluster = scheduler, workers, on_cluster
        self._own_client = None
        self._cluster = None
        self.kind = "client"

    def __enter__(self):
        from distributed import Client

        if self.client is not None:
            if not isinstance(self.client, Client):
                raise ConfigError(f"client must be a distributed.Client, got {self.client!r}")
            return self.client
        if self.scheduler is not None:
            self.kind = "scheduler"
            self._own_client = _connect(self.scheduler)
            return self._own_client
        if self.workers is None:
            from distributed import default_client

            try:
                self.client = default_client()
                return self.client
            except ValueError:  # no running client: start a local cluster
                pass
        self.kind = "local"
        self._start_local(self.workers or DEFAULT_LOCAL_WORKERS)
        return self._own_client

    def _start_local(self, n: int) -> None:
        from distributed import Client, LocalCluster

        try:
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=":0", silence_logs=logging.ERROR)
            self._own_client = Client(self._cluster, set_as_default=False)
            if self.on_cluster is not None:
                self.on_cluster(self._cluster.dashboard_link)
        except BaseException:  # __exit__ will not run if __enter__ fails: close here
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        # Close only what we started: a given client and a --scheduler cluster stay up.
        if self._own_client is not None:
            with contextlib.suppress(Exception):
                self._own_client.close()
            self._own_client = None
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
            self._cluster = None
        return False


def _connect(address: str):
    from distributed import Client

    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"scheduler must be an address such as tcp://host:8786, got {address!r}")
    try:
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
    return client


def _compute(client, collection):
    """``client.compute(collection)``'s result, with cluster failures in our words."""
    from concurrent.futures import CancelledError

    from distributed.scheduler import KilledWorker

    try:
        # A Delayed of the tree's root: no extra "finalize" task on the cluster.
        return client.compute(collection.to_delayed(optimize_graph=True), sync=True)
    except CancelledError as exc:
        raise StreamNeuronError(f"the Dask computation was cancelled ({exc}); was the scheduler "
                                "restarted or the connection to it lost?") from None
    except KilledWorker as exc:
        raise StreamNeuronError(
            f"Dask workers died repeatedly running {exc.task!r}; out of memory? (without "
            "--persist a worker holds a few partitions; use smaller row groups, "
            "partition_rows, or workers with more memory)") from None
    except ImportError as exc:
        if "streamneuron" in str(exc):
            raise StreamNeuronError(f"the Dask workers cannot import streamneuron ({exc}); "
                                    "install it on every worker") from None
        raise


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


def fit_gd(source, max_iter: int = 100, lr: float = 1.0, *, loss: str = "log",
           l2: float = 0.0, tol: float = 1e-6, standardize: bool = True, client=None,
           scheduler: str | None = None, workers: int | None = None, persist: bool = False,
           partition_rows: int | None = None,
           progress: Callable[[dict], None] | None = None,
           on_cluster: Callable[[str], None] | None = None,
           label: str | None = "y", features=None) -> Neuron:
    """Train a neuron by full-pass gradient descent on a Dask cluster.

    Every iteration is one pass over all rows: each partition (row group / HDF5
    chunk range, or runs of them up to ``partition_rows`` rows) computes its
    partial gradient sums on a worker, a Dask tree reduction adds them up, and
    the client takes one step of ``lr`` along the gradient averaged over all rows
    plus ``l2 w``. ``standardize`` first computes per-feature mean and scale in
    one Dask reduction pass.

    ``source``: a :class:`~streamneuron.readers.Source`, or what
    :func:`~streamneuron.open_source` takes (with ``label``/``features``): paths
    or URLs of Parquet/HDF5 files, whose partitions each worker reads itself; or
    a pandas/Dask DataFrame or ``(X, y)`` numpy/Dask arrays, whose units become
    Dask tasks (numpy and pandas data are sent to the cluster once and kept there).

    Where it runs: ``client`` (a ``distributed.Client``); or ``scheduler`` (the
    address of a running scheduler, never closed here); or ``workers`` (start a
    local cluster of that many single-threaded worker processes, closed at the
    end); with none of them, the running default client if there is one, else a
    local cluster of ``DEFAULT_LOCAL_WORKERS`` workers. ``on_cluster(link)`` is
    called with the dashboard link of a cluster started here.

    Stopping: after ``max_iter`` iterations, or once the objective changes by at
    most ``tol`` relative to the previous iteration's (``tol=0``: never).

    ``persist=True`` keeps the decoded partitions in cluster memory (warning with
    :class:`PersistWarning` and their estimated size first) instead of re-reading
    the files every iteration.

    Returns the trained :class:`Neuron`; ``info`` holds mode, iterations, rows,
    converged, params and ``history``: one row per iteration with iteration,
    objective (at the weights before that iteration's step), grad_norm (of the
    full gradient, w and b) and seconds. ``progress(row)`` is called with each.
    """
    params = GDParams(loss=loss, max_iter=max_iter, lr=lr, l2=l2, tol=tol,
                      standardize=bool(standardize), persist=bool(persist),
                      partition_rows=partition_rows)
    check_params(workers=workers)
    given = [name for name, value in (("client", client), ("scheduler", scheduler),
                                      ("workers", workers)) if value is not None]
    if len(given) > 1:
        raise ConfigError(f"give only one of client, scheduler (--scheduler) and workers "
                          f"(--workers); got {' and '.join(given)}")
    opened = not hasattr(source, "units")
    if opened:
        from .readers import open_source

        source = open_source(source, label=label, features=features)
    try:
        if source.label is None:
            raise DataError("training needs a label column")
        if hasattr(source, "delayed_chunks"):  # in-memory or Dask arrays / DataFrames
            data = _ArrayData(source)
        elif source.format in ("parquet", "hdf5"):
            data = _FileData(source, params.partition_rows)
        else:
            raise ConfigError(f"fit_gd cannot distribute a {type(source).__name__}: give "
                              "Parquet/HDF5 paths, arrays or DataFrames")
        with _Cluster(client, scheduler, workers, on_cluster) as dask_client:
            return _GDRun(dask_client, source, data, params, progress).run()
    finally:
        if opened:
            source.close()


class _FileData:
    """Partitions of Parquet/HDF5 files: descriptors; a task reads its own rows."""

    decoded = False

    def __init__(self, source, partition_rows):
        self.partitions = plan_partitions(source, partition_rows)
        self.n_rows = sum(part.n_rows for part in self.partitions)
        self.persist_anyway = False

    def bag(self):
        import dask.bag as db

        # One descriptor per bag partition: the reduction tree follows the file order.
        bag = db.from_sequence(self.partitions, npartitions=len(self.partitions))
        if bag.npartitions != len(self.partitions):
            raise StreamNeuronError("internal error: dask.bag regrouped the partitions")
        return bag


class _ArrayData:
    """Units of an ArraySource, each a ``dask.delayed`` of ``[(where, features, X, y)]``.

    numpy and pandas data are embedded in the graph: they are always persisted on
    the cluster (sent once), never re-sent every iteration.
    """

    decoded = True

    def __init__(self, source):
        self.source = source
        self.n_rows = source.n_rows
        self.partitions = source.units
        # numpy/pandas data is shipped once and kept; Dask collections are recomputed.
        self.persist_anyway = source.in_memory

    def bag(self):
        import dask.bag as db

        return db.from_delayed(self.source.delayed_chunks())


class _GDRun:
    def __init__(self, client, source, data, params: GDParams, progress):
        self.client, self.source, self.data = client, source, data
        self.params, self.progress = params, progress
        self.loss_id = get_loss(params.loss).kernel_id
        self.d = source.n_features

    def run(self) -> Neuron:
        import dask
        from distributed import futures_of

        p, d = self.params, self.d
        model = Neuron(d, p.loss, feature_names=self.source.feature_names,
                       label=self.source.label)
        bag = self.data.bag()
        held = []  # persisted collections, released at the end
        try:
            if p.persist or self.data.persist_anyway:
                if p.persist:
                    self._warn_persist()
                bag = self.client.persist(bag if self.data.decoded else bag.map_partitions(_decode))
                decoded = True
            elif not self.data.decoded:
                # The descriptors stay on the cluster (tiny), so that an iteration's graph
                # is only the partition tasks and the tree, not their sources again.
                bag = self.client.persist(bag)
                decoded = False
            else:  # Dask collections, not persisted: recomputed from their graph each pass
                decoded = True
            held.append(bag)
            if decoded:
                gradient_fn, moments_fn = _decoded_gradient, _decoded_moments
            else:
                gradient_fn, moments_fn = _partition_gradient, _partition_moments
            if p.standardize:
                moments = _compute(self.client, bag.map_partitions(moments_fn).reduction(
                    _merge_moments, _merge_moments, split_every=SPLIT_EVERY))
                model.set_standardize((moments.mean, moments.scale()))
            self._iterate(model, lambda params: bag.map_partitions(
                gradient_fn, dask.delayed(params, traverse=False), self.loss_id
            ).reduction(_sum_partials, _sum_partials, split_every=SPLIT_EVERY))
        finally:
            for collection in held:
                with contextlib.suppress(Exception):
                    self.client.cancel(futures_of(collection))
            if not self.data.decoded:
                with contextlib.suppress(Exception):
                    self.client.run(_release_buffers)
        return model

    def _iterate(self, model: Neuron, graph_for: Callable) -> None:
        p, d = self.params, self.d
        w = np.zeros(d)
        b = 0.0
        history: list[dict] = []
        previous = None
        converged = False
        expected_rows = self.data.n_rows
        for it in range(1, p.max_iter + 1):
            start = time.perf_counter()
            params = np.concatenate([w, [b], model._mean, model._inv_scale])
            sums = _compute(self.client, graph_for(params))
            n = sums[d + 2]
            if n != expected_rows:
                raise DataError(f"the input changed while training: {int(n)} rows read, "
                                f"{expected_rows} expected")
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                grad_w = sums[:d] / n + p.l2 * w
                grad_b = sums[d] / n
                objective = sums[d + 1] / n + 0.5 * p.l2 * float(w @ w)
                grad_norm = math.sqrt(float(grad_w @ grad_w) + grad_b * grad_b)
                if not (math.isfinite(objective) and math.isfinite(grad_norm)):
                    raise DivergenceError(f"the objective became {objective} in iteration "
                                          f"{it}: lower --lr")
                w = w - p.lr * grad_w
                b = b - p.lr * grad_b
            if not (np.all(np.isfinite(w)) and math.isfinite(b)):
                raise DivergenceError(f"the weights became infinite in iteration {it}: lower --lr")
            row = {"iteration": it, "objective": float(objective), "grad_norm": grad_norm,
                   "seconds": round(time.perf_counter() - start, 6)}
            history.append(row)
            if self.progress is not None:
                self.progress(row)
            if grad_norm == 0.0 or (p.tol > 0 and previous is not None and
                                    abs(objective - previous) <= p.tol * abs(previous)):
                converged = True
                break
            previous = objective
        model.weights, model.bias = w, float(b)
        model.updates = len(history)
        model.info = {"mode": "gd", "iterations": len(history), "rows": expected_rows,
                      "converged": converged, "history": history, "params": asdict(p),
                      "partitions": len(self.data.partitions)}

    def _warn_persist(self) -> None:
        rows = self.data.n_rows
        size = rows * (self.d * self.source.dtype.itemsize + 8)
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        limit = sum(int(w.get("memory_limit") or 0) for w in workers)
        room = (f"the {len(workers)} worker(s) have {_gib(limit)} in all" if limit
                else f"{len(workers)} worker(s), memory limit unknown")
        too_big = (" It does not fit: expect spilling or dying workers."
                   if limit and size > 0.6 * limit else "")
        warnings.warn(f"--persist keeps the decoded data in cluster memory: about {_gib(size)} "
                      f"({rows} rows x {self.d} features); {room}.{too_big}",
                      PersistWarning, stacklevel=4)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


__all__ = ["fit_gd", "GDParams", "Partition", "plan_partitions", "PersistWarning", "units_read"]
