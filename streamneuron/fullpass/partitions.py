"""Partitions: the pieces of the input a full pass reads, and how a worker reads one.

A *partition* is a run of consecutive units (Parquet row groups or HDF5 chunk
ranges) of one file, described by a small picklable :class:`Partition` (file
URL, how to open it: the source's ``reopen_args()``, unit indices). The task
that reads it opens the file itself with :func:`~streamneuron.open_source` on
whatever worker runs it (or in this process), so nothing big crosses the network. Opened sources are cached
per thread (footers are parsed once, not per pass) and never pickled; decoded
units go into a buffer the thread reuses.

What a task reduces is an iterable of :class:`~streamneuron.readers.base.DecodedUnit`,
whatever its origin: :func:`read_units` decodes a bag partition of descriptors,
:func:`already_decoded` hands over units kept in (cluster) memory.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ..errors import DataError, StreamNeuronError
from ..units import ROW, DecodedUnit

# Partials combined per task of the reduction tree of a pass.
SPLIT_EVERY = 8
# Opened sources a thread keeps (each holds one open file and its footer).
SOURCE_CACHE_SIZE = 16
# Bytes of features (and label) a task decodes at once: a larger unit (a Parquet row
# group) is read in pieces of about this size (``Source.pieces``), so that a pass
# thread holds one piece, whatever the row groups (README, "Memory").
PIECE_BYTES = 1 << 22
# Above this many bytes of sums a task (newton's curvature with many levels), a task
# reads more than one unit: see task_rows.
TASK_SUMS_BYTES = 16 << 20


@dataclass(frozen=True)
class Partition:
    """Consecutive units of one file, as a small picklable value.

    ``url`` is what a worker opens (an absolute local path or a full fsspec URL);
    ``display`` is the name the user gave, used in error messages. ``features``
    and ``label`` are the columns read; ``options`` the rest of the source's
    ``reopen_args()`` (e.g. the HDF5 keys), as ``(name, value)`` pairs, so that
    the worker opens the file the same way. ``units`` are ``(index, rows)``
    pairs, the index into the units of a source opened on that one file, its units
    cut by ``cut_units(piece_rows)`` when ``piece_rows`` is given (a large row group
    read in pieces, :func:`piece_rows`).
    ``stamp`` (size, modification time) keeps a worker from serving a changed
    file from its cache. The weight column and class weights, if any, are among
    ``options``: the worker's source reopens with them and decodes each row's
    effective weight itself.
    """

    url: str
    display: str
    features: tuple[str, ...]
    label: str | None
    options: tuple[tuple[str, object], ...]
    stamp: tuple
    units: tuple[tuple[int, int], ...]
    piece_rows: int | None = None

    @property
    def n_rows(self) -> int:
        return sum(n for _, n in self.units)

    def source_key(self) -> tuple:
        return (self.url, self.features, self.label, self.options, self.stamp, self.piece_rows)

    def open_args(self) -> dict:
        """The keyword arguments of ``open_source`` that open this file on a worker."""
        return {"label": self.label, "features": list(self.features), **dict(self.options)}


def piece_rows(source) -> int:
    """The rows of a piece a task decodes at once: ``PIECE_BYTES`` of features and label."""
    return max(1, PIECE_BYTES // (source.n_features * source.dtype.itemsize + 8))


def task_rows(source, sums_bytes: int) -> int | None:
    """The rows a task reads by default when each task sums ``sums_bytes`` (newton's
    curvature, :func:`streamneuron.params.newton_bytes`): None (one unit a task) up to
    :data:`TASK_SUMS_BYTES`; above, units are grouped until a task decodes about as many
    bytes as it sums, ``ceil(sums_bytes / row bytes)`` rows, at most a quarter of the rows.

    Why: every task zeroes, fills and adds its own sums, and each one alive (one a pass
    thread, one submitted ahead, one running sum a level of the reduction tree) holds
    them: at 11,118 weights, 95 MiB a task, forty 250k-row tasks spent more CPU on the
    sums than on the rows, and their tree's second level grew the peak with the file
    (README, "Categorical columns"). A function of the data and the model only (never of
    the workers), so the same data and flags give the same bits anywhere."""
    if sums_bytes <= TASK_SUMS_BYTES:
        return None
    row_bytes = source.n_features * source.dtype.itemsize + 8 + 4 * len(source.categorical)
    return max(1, min(-(-sums_bytes // row_bytes), -(-source.n_rows // 4)))


def plan_partitions(source, partition_rows: int | None = None) -> list[Partition]:
    """The partitions of ``source``, in file order.

    Default: one unit (row group / HDF5 chunk range) each. With
    ``partition_rows``, consecutive units of one file are grouped while the group
    stays within ``partition_rows`` rows; a unit larger than that is alone.
    A partition lists its units' pieces (``Source.pieces(piece_rows(source))``) where
    the reader cuts them: a task then decodes one piece at a time.
    For a source whose files can be opened on a worker (``Source.reopen_args()``
    not None; full passes over other data use ``Source.delayed_units()``).
    """
    args = source.reopen_args()
    if args is None:
        raise ValueError(f"{type(source).__name__} cannot be reopened on a worker; "
                         "use its delayed_units()")
    args = dict(args)
    features = tuple(args.pop("features"))
    label = args.pop("label")
    # (hashable: a worker caches its source by them; lists, e.g. categorical, as tuples)
    options = tuple(sorted((name, tuple(value) if isinstance(value, list) else value)
                           for name, value in args.items()))
    rows = piece_rows(source)
    pieces = source.pieces(rows)
    if pieces is None:
        rows, pieces = None, source.units
    # Each unit's pieces, (index, rows) in the worker's numbering: a one-file source,
    # cut as this one. (Parquet skips empty row groups, and so does the worker's.)
    per_file: dict[int, list[list[tuple[int, int]]]] = {}
    count: dict[int, int] = {}
    for u in pieces:
        local = per_file.setdefault(u.file, [])
        if u.start == 0:
            local.append([])
        local[-1].append((count.get(u.file, 0), u.n_rows))
        count[u.file] = count.get(u.file, 0) + 1
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
        held = 0
        for unit in units:
            n = sum(r for _, r in unit)
            if group and (partition_rows is None or held + n > partition_rows):
                parts.append(Partition(url, ref.url, features, label, options, stamp,
                                       tuple(group), rows))
                group, held = [], 0
            group.extend(unit)
            held += n
        parts.append(Partition(url, ref.url, features, label, options, stamp, tuple(group),
                               rows))
    return parts


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
    from ..readers import open_source

    try:
        source = open_source([part.url], **part.open_args())
    except DataError as exc:
        raise DataError(f"{exc} (opened on a Dask worker: every worker must be able to read "
                        "the input files at the same path or URL)") from None
    # Name the file as the user gave it in every message (describe() uses .url).
    source.files[0] = dataclasses.replace(source.files[0], url=part.display)
    if part.piece_rows is not None:
        source.cut_units(part.piece_rows)
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
    key = (source.layout, n_rows, d, dtype.str)
    mine = _BUFFERS.setdefault(threading.get_ident(), {})
    buf = mine.get(key)
    if buf is None:
        if len(mine) >= 2:
            mine.clear()
        # Parquet decodes column by column (column-major); HDF5 reads rows (row-major).
        buf = (np.empty((n_rows, d), dtype) if source.layout == ROW
               else np.empty((d, n_rows), dtype).T)
        mine[key] = buf
    return buf


def release_buffers(urls: Iterable[str] = ()) -> None:
    """Drop the decode buffers of this worker process, and close its sources of the files
    ``urls`` (run on every worker at the end: an HDF5 file left open here could not be
    written again by this process, nor by another one while HDF5 locks it)."""
    _BUFFERS.clear()
    urls = set(urls)
    with _SOURCES_LOCK:
        done = [key for key in _SOURCES if key[0][0] in urls]
        for key in done:
            _SOURCES.pop(key).close()


def read_units(parts: Iterable[Partition], reuse: bool = True) -> Iterator[DecodedUnit]:
    """Each unit of the partitions, decoded, one at a time (its ``w`` the rows'
    effective weights, as the reopened source gives them).

    ``reuse``: decode into this thread's buffer; a unit's ``X`` is then valid only
    until the next unit is read (right for a pass that reduces each unit at once).
    """
    for part in parts:
        source = _worker_source(part)
        for index, n_rows in part.units:
            unit = source.read(index, out=_buffer(source, n_rows) if reuse else None)
            if source.units[index].start == 0:  # (a row group read in pieces: once)
                with _SOURCES_LOCK:
                    _UNITS_READ[0] += 1
            yield unit


def already_decoded(units: Iterable[DecodedUnit]) -> Iterable[DecodedUnit]:
    """The units of a bag partition that holds decoded units (kept in memory, or
    computed from a Dask graph): as they are."""
    return units


def decode(parts: Iterable[Partition]) -> list[DecodedUnit]:
    """The decoded units of a bag partition of descriptors, in arrays of their own
    (to be kept in cluster memory)."""
    return list(read_units(parts, reuse=False))


class FileData:
    """Partitions of Parquet/HDF5 files: descriptors; a task reads its own rows."""

    decoded = False

    def __init__(self, source, partition_rows):
        self.partitions = plan_partitions(source, partition_rows)
        self.n_rows = sum(part.n_rows for part in self.partitions)
        self.persist_anyway = False

    def release(self) -> None:
        """:func:`release_buffers` of these files (on each worker, at the end of a run)."""
        release_buffers({part.url for part in self.partitions})

    def bag(self):
        import dask.bag as db

        # One descriptor per bag partition: the reduction tree follows the file order.
        bag = db.from_sequence(self.partitions, npartitions=len(self.partitions))
        if bag.npartitions != len(self.partitions):
            raise StreamNeuronError("internal error: dask.bag regrouped the partitions")
        return bag


class ArrayData:
    """Units of an ArraySource, each a ``dask.delayed`` of ``[DecodedUnit]`` (its ``w``
    the rows' effective weights, as the source decodes them).

    numpy and pandas data are embedded in the graph: they are always persisted
    (sent once), never re-sent every pass.
    """

    decoded = True

    def __init__(self, source):
        self.units = source.delayed_units()  # ConfigError if the source has none
        self.n_rows = source.n_rows
        self.partitions = source.units
        self.persist_anyway = source.in_memory

    def bag(self):
        import dask.bag as db

        return db.from_delayed(self.units)



def pass_data(source, partition_rows: int | None = None):
    """What the passes of a run read: :class:`FileData` (descriptors: each task opens
    its own rows) for files, :class:`ArrayData` (one ``dask.delayed`` per unit) for
    in-memory or Dask arrays and DataFrames."""
    if source.reopen_args() is not None:
        return FileData(source, partition_rows)
    return ArrayData(source)


__all__ = ["task_rows", "FileData", "ArrayData", "pass_data", "Partition", "plan_partitions",
           "read_units", "already_decoded", "decode", "release_buffers", "units_read"]
