"""The order rows are trained in, and the position from which it restarts.

An epoch's order is a pure function of ``(seed, epoch, unit sizes)``:

* the units (row groups / chunk ranges) are permuted by ``rng(seed, epoch)``,
  then cut into *blocks* of ``window`` consecutive units (default 1);
* the rows of block ``k`` are permuted by ``rng(seed, epoch, k)``.

With ``shuffle=False`` both permutations are the identity: file order.

A :class:`Position` ``(epoch, block, row)`` says how far a run got; the stream
restarts exactly there (the resume feature depends on this). Blocks are read on
a background thread, ``prefetch`` blocks ahead, so decoding overlaps training:
the kernels release the GIL, so an epoch costs about max(decode, train).

Memory: the Parquet and HDF5 readers decode straight into arrays the stream
hands them (``read(i, out=...)``), taken from a small pool (:class:`_Buffers`)
of ``prefetch + 1`` block-sized buffers that are reused block after block, so
nothing is allocated per block and the peak stays at ``prefetch + 1`` decoded
blocks plus one decoding batch, whatever the file size. A block's arrays are
therefore valid until the next block is requested; a consumer that keeps one
longer (or a view of it) is safe all the same: a buffer is reused only when
nothing but the pool refers to it, otherwise a fresh one is made.

Which sources get buffers, and in which layout, is what the source declares
(:class:`~streamneuron.units.UnitReader`, which the readers' ``Source`` provides): ``reuse_buffers`` (files: yes;
in-memory and Dask data make arrays of their own) and ``layout``. Shuffled
blocks are decoded row-major (the kernel reads rows in random order: one row is
then two cache lines, not ``d``), file-order ones in the source's own layout:
column-major for Parquet (a memcpy per column instead of a transpose),
row-major for HDF5 (rows as stored).

This module knows sources only through that protocol (it imports no reader);
the readers' public :meth:`Source.batches` comes here (:func:`batches`).
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .units import ROW, DecodedUnit, UnitReader


@dataclass(frozen=True)
class Position:
    epoch: int = 0
    block: int = 0  # index in the epoch's plan
    row: int = 0  # rows of that block already consumed, in the block's order


class Block:
    """One block of the stream: the decoded units of ``units`` (unit indices) joined.

    ``X`` (n, d), rows in file order (the units' ``X`` are views of it, or it is the
    one unit's); ``y``, ``w`` and ``codes`` the units' labels, effective row weights
    and categorical level codes joined (``w`` None: unweighted; ``codes`` None: no
    categorical columns); ``bounds``, the first row of each unit in ``X``, plus
    n; ``wheres``, each unit named for messages; ``order``, the row permutation
    (empty: file order); ``labels`` and ``row_weights``, ``y`` and ``w`` in that
    order; ``position``, where this block starts being consumed.

    ``order`` may be given as a callable: it is then made on first use (the reader
    thread hands that work to the training thread when it is itself the slower one).
    """

    __slots__ = ("X", "y", "_order", "_labels", "position", "units", "bounds", "held",
                 "_kept", "w", "_row_weights", "wheres", "codes", "extras", "gaps")

    def __init__(self, X: np.ndarray, decoded: list[DecodedUnit], order, position: Position,
                 units: list[int], held: np.ndarray | None = None):
        self.X, self._order, self._labels = X, order, None
        self.y = _joined([unit.y for unit in decoded])
        self.w, self._row_weights = _joined([unit.w for unit in decoded]), None
        # Categorical columns: the rows' level codes, joined (None: no categorical
        # columns, or not yet encoded); ``extras``, each unit's raw columns (counting).
        self.codes = _joined([unit.codes for unit in decoded])
        self.extras = [unit.extra for unit in decoded]
        known = [unit.gaps for unit in decoded if unit.gaps is not None]  # (DecodedUnit.gaps)
        self.gaps = np.logical_or.reduce(known) if known else None
        self.bounds = np.cumsum([0] + [unit.n_rows for unit in decoded])
        self.wheres = [unit.where for unit in decoded]
        self.position, self.units = position, units
        # Rows held out of training (a validation fraction): True for each such row of
        # X. They are left out of ``order`` (then always explicit, even in file order).
        self.held = held
        self._kept = held is None  # the order has no held-out row left in it

    @property
    def order(self) -> np.ndarray:
        if callable(self._order):
            self._order = self._order()
        if not self._kept:
            order = self._order
            # (in file order as int32 too, like a shuffled block's order: one kernel type)
            self._order = order[~self.held[order]] if order.size else np.flatnonzero(
                ~self.held).astype(np.int32 if len(self.held) < 2**31 else np.int64)
            self._kept = True
        return self._order

    @property
    def n_train(self) -> int:
        """The rows trained on: ``len(order)`` with held-out rows, else all of them."""
        return len(self.y) if self.held is None else len(self.order)

    @property
    def labels(self) -> np.ndarray:
        """``y`` in training order, ``y[order]`` (the kernel reads it sequentially)."""
        if self._labels is None:
            order = self.order
            if order.size:
                from .kernels import gather

                self._labels = gather(self.y, order, np.empty(len(order), self.y.dtype))
            else:
                self._labels = self.y
        return self._labels

    @property
    def row_weights(self) -> np.ndarray | None:
        """``w`` in training order, ``w[order]`` (None: unweighted)."""
        if self.w is None:
            return None
        if self._row_weights is None:
            order = self.order
            if order.size:
                from .kernels import gather

                self._row_weights = gather(self.w, order, np.empty(len(order), np.float64))
            else:
                self._row_weights = self.w
        return self._row_weights

    def describe_row(self, row: int) -> tuple[str, int]:
        """``("file, row group 3", row in that unit)`` for a row of ``X`` (messages)."""
        k = int(np.searchsorted(self.bounds, row, side="right")) - 1
        return self.wheres[k], row - int(self.bounds[k])

    def __repr__(self) -> str:
        return (f"Block({self.position}, units {self.units}, {len(self.y)} rows"
                f"{', shuffled' if callable(self._order) or self._order.size else ''})")


def block_rows(source: UnitReader, units: list[int]) -> np.ndarray:
    """The global row indices (rows counted over all units in file order) of the
    units' rows, concatenated: a pure function of the layout."""
    sizes = np.asarray(source.unit_sizes, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    return np.concatenate([np.arange(starts[u], starts[u] + sizes[u], dtype=np.int64)
                           for u in units]) if units else np.empty(0, np.int64)


def held_out(rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whether each global row index is held out for validation: ``u(seed, row) <
    fraction``, ``u`` a uniform number in [0, 1) from a splitmix64 hash of the seed and
    the row (:func:`row_uniform`). A pure function: the same rows whatever the epoch,
    order or resume."""
    return row_uniform(rows, seed) < fraction


def row_uniform(rows: np.ndarray, seed: int) -> np.ndarray:
    """``u(seed, row)``: a uniform number in [0, 1) for each global row index, from a
    splitmix64 hash of the seed and the row (the held-out rows, the folds)."""
    with np.errstate(over="ignore"):
        x = rows.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)
                                               % 2**64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def epoch_plan(n_units: int, *, seed: int, epoch: int, shuffle: bool,
               window: int = 1) -> list[list[int]]:
    """The blocks of one epoch: lists of unit indices, in training order."""
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n_units)
    else:
        order = np.arange(n_units)
    return [order[k:k + window].tolist() for k in range(0, n_units, window)]


def block_order(n_rows: int, *, seed: int, epoch: int, block: int, shuffle: bool) -> np.ndarray:
    """The row permutation inside a block (empty array: file order).

    ``rng.permutation(n_rows)``, value for value, made by shuffling int32 indices
    in place (half the memory traffic: twice as fast on a 1Mi-row block); from
    :data:`COMPILED_SHUFFLE_ROWS` rows by :func:`streamneuron.kernels.shuffle_like_numpy`
    (numpy's shuffle, the same values, in half the time).
    """
    if not shuffle:
        return np.empty(0, dtype=np.int64)
    order = np.arange(n_rows, dtype=np.int32 if n_rows < 2**31 else np.int64)
    rng = np.random.default_rng([seed, epoch, block])
    if n_rows >= COMPILED_SHUFFLE_ROWS:
        from .kernels import shuffle_like_numpy

        if shuffle_like_numpy(rng, order):
            return order
    rng.shuffle(order)
    return order


# Blocks of at least this many rows are shuffled by the compiled copy of numpy's
# shuffle (smaller ones, e.g. ``partial_fit``'s arrays, need no numba for it).
COMPILED_SHUFFLE_ROWS = 1 << 15


# How long the reader thread waits for the consumer to let go of a buffer while
# the consumer itself waits for a block (it keeps old blocks: then a new buffer).
BUFFER_GRACE_SECONDS = 0.05


class _Buffers:
    """Flat decode buffers of ``size`` elements, reused block after block.

    At most ``limit`` are kept. :meth:`take` returns one that nothing else refers
    to (no block, no view of one); while all are in use it calls ``wait()``, and
    when that returns False the busiest buffer is left to whoever holds it and a
    new one is made, so data still in use is never overwritten.
    """

    def __init__(self, size: int, dtype, limit: int):
        self.size, self.dtype, self.limit = size, np.dtype(dtype), max(1, limit)
        self.buffers: list[np.ndarray] = []

    def take(self, wait: Callable[[], bool]) -> np.ndarray:
        while True:
            for buf in self.buffers:
                # References: the list, ``buf`` and getrefcount's argument.
                if sys.getrefcount(buf) <= 3:
                    return buf
            if len(self.buffers) < self.limit:
                break
            if not wait():
                self.buffers.pop(0)
                break
        buf = np.empty(self.size, dtype=self.dtype)
        self.buffers.append(buf)
        return buf


def _row_major(source: UnitReader, shuffle: bool) -> bool:
    """Decode row-major when shuffled (rows are read in random order), else in the
    layout the source fills without a transpose (``Source.layout``)."""
    return shuffle or source.layout == ROW


def block_like(source: UnitReader, *, shuffle: bool, holdout: bool,
               width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A two-row ``(X, order)`` of the types :func:`iter_blocks` hands for ``source``
    (``X`` of its dtype, row- or column-major as :func:`read_block` decodes it; the
    order's integer type, empty in file order without held-out rows): what compiling
    the SGD kernel ahead needs (:func:`streamneuron.kernels.compile_ahead`). Only for
    sources decoded into buffers (``reuse_buffers``); others hand arrays of their own."""
    d = width or source.n_features
    flat = np.zeros(2 * d, dtype=source.dtype)
    X = flat.reshape(2, d) if _row_major(source, shuffle) else flat.reshape(d, 2).T
    if shuffle:
        order = block_order(2, seed=0, epoch=0, block=0, shuffle=True)
    else:
        order = np.arange(2 if holdout else 0, dtype=np.int64)  # np.flatnonzero's type
    return X, order


def _largest_block(source: UnitReader, window: int) -> int:
    sizes = sorted(source.unit_sizes, reverse=True)
    return sum(sizes[:max(1, window)])


def _joined(parts: list):
    """The parts concatenated (the one part as it is; None when the parts are None)."""
    if parts[0] is None:
        return None
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def read_block(source: UnitReader, units: list[int], buffer: np.ndarray | None = None,
               row_major: bool = False, width: int | None = None) -> tuple[np.ndarray, list]:
    """``X`` of the units, concatenated, and the decoded units themselves; decoded into
    ``buffer`` (flat, large enough) when given, as a row- or column-major ``(n, d)``
    view of it (each unit's ``X`` a view of its rows; ``d`` = ``width``, default
    ``n_features``: fewer, the raw features with the gaps NaN, ``Imputed.read``)."""
    if buffer is None:
        decoded = [source.read(u) for u in units]
        X = decoded[0].X if len(decoded) == 1 else np.concatenate([c.X for c in decoded])
    else:
        bounds = np.cumsum([0] + [source.units[u].n_rows for u in units])
        n, d = int(bounds[-1]), width or source.n_features
        flat = buffer[:n * d]
        X = flat.reshape(n, d) if row_major else flat.reshape(d, n).T
        decoded = [source.read(u, out=X[bounds[k]:bounds[k + 1]])
                   for k, u in enumerate(units)]
    return X, decoded


def _plan_blocks(source: UnitReader, start: Position, epochs: int, shuffle: bool, seed: int,
                 window: int) -> Iterator[tuple[Position, list[int]]]:
    for epoch in range(start.epoch, epochs):
        plan = epoch_plan(len(source.units), seed=seed, epoch=epoch, shuffle=shuffle, window=window)
        first = start.block if epoch == start.epoch else 0
        for k in range(first, len(plan)):
            row = start.row if (epoch, k) == (start.epoch, start.block) else 0
            yield Position(epoch, k, row), plan[k]


def _load(source: UnitReader, pos: Position, units: list[int], shuffle: bool, seed: int,
          buffer: np.ndarray | None = None, row_major: bool = False,
          order: np.ndarray | None = None, holdout: tuple | None = None, width=None) -> Block:
    """Read a block. Its row permutation is ``order`` when given (then the labels and
    weights in training order are made here too), else made on first use. ``holdout``
    ``(fraction, seed)``: the rows :func:`held_out` are left out of the order."""
    X, decoded = read_block(source, units, buffer, row_major, width)
    held = None
    if holdout is not None:
        held = held_out(block_rows(source, units), holdout[0], holdout[1])
    if not shuffle:
        return Block(X, decoded, np.empty(0, dtype=np.int64), pos, units, held)
    if order is None:
        n = len(X)

        def make():
            return block_order(n, seed=seed, epoch=pos.epoch, block=pos.block, shuffle=True)

        return Block(X, decoded, make, pos, units, held)
    block = Block(X, decoded, order, pos, units, held)
    block.labels  # made here too, on the thread that had time to spare
    block.row_weights
    return block


def iter_blocks(source: UnitReader, start: Position, *, epochs: int, shuffle: bool, seed: int,
                window: int = 1, prefetch: int = 1, holdout: tuple | None = None,
                width: int | None = None) -> Iterator[Block]:
    """Blocks from ``start`` to the end of epoch ``epochs - 1``.

    Each block's ``w`` is its rows' effective weights, as the source decodes them
    (``DecodedUnit.w``; None when unweighted).

    ``holdout`` ``(fraction, seed)``: the rows :func:`held_out` by that pair are left
    out of each block's ``order`` (``Block.held`` marks them; ``Block.n_train``
    counts the rest): never trained on.

    ``prefetch > 0`` decodes that many blocks ahead on a background thread
    (memory: ``prefetch + 1`` decoded blocks); errors are raised in the caller.
    ``width``: the columns decoded (:func:`read_block`).
    A block's arrays may be reused once the next block is requested (see the
    module docstring: a block kept longer is detected and left alone).
    """
    plan = _plan_blocks(source, start, epochs, shuffle, seed, window)
    pool = None
    row_major = _row_major(source, shuffle)
    if source.reuse_buffers:
        pool = _Buffers(_largest_block(source, window) * (width or source.n_features), source.dtype,
                        limit=prefetch + 1 if prefetch > 0 else 2)

    def load(pos, units, wait):
        # The row permutation (a random shuffle of the whole block) and the labels in
        # its order are made here only in time this thread would otherwise spend
        # waiting for a free buffer (it is ahead); else on first use, by the training
        # thread, so they never delay the slower reader. Ahead means still waiting after
        # one wait: a consumer that was itself waiting for the block just handed over
        # lets go of its last one as soon as it holds the GIL again.
        early, waited = [], []

        def wait_or_work() -> bool:
            if shuffle and not early and waited:
                n = sum(source.units[u].n_rows for u in units)
                early.append(block_order(n, seed=seed, epoch=pos.epoch, block=pos.block,
                                         shuffle=True))
                return True
            waited.append(True)
            return wait()

        buffer = pool.take(wait_or_work) if pool is not None else None
        return _load(source, pos, units, shuffle, seed, buffer, row_major,
                     order=early[0] if early else None, holdout=holdout, width=width)

    if prefetch <= 0:
        for pos, units in plan:
            yield load(pos, units, lambda: False)
        return

    slots: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    done = object()

    class Stopped(Exception):
        pass

    starved_since = [None]

    def wait_for_buffer() -> bool:
        """Sleep a little; False once the consumer has been waiting for too long."""
        if stop.is_set():
            raise Stopped
        if slots.empty():
            now = time.monotonic()
            if starved_since[0] is None:
                starved_since[0] = now
            elif now - starved_since[0] > BUFFER_GRACE_SECONDS:
                starved_since[0] = None
                return False
        else:
            starved_since[0] = None
        time.sleep(0.0005)
        return True

    def produce():
        try:
            for pos, units in plan:
                if stop.is_set():
                    return
                item = load(pos, units, wait_for_buffer)
                starved_since[0] = None
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                del item  # the pool counts references: hold none
            slots.put(done)
        except Stopped:
            return
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    # The first block's row permutation, made on this thread while the reader decodes
    # the block (the shuffle releases the GIL): the very array the block would make.
    first = next(plan, None) if shuffle else None
    if first is not None:
        plan = itertools.chain([first], plan)
    worker = threading.Thread(target=produce, name="streamneuron-prefetch", daemon=True)
    worker.start()
    try:
        first_order = None if first is None else block_order(
            sum(source.units[u].n_rows for u in first[1]), seed=seed, epoch=first[0].epoch,
            block=first[0].block, shuffle=True)
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            if first_order is not None and callable(item._order):
                item._order = first_order
            first_order = None
            yield item
            item = None
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def batches(source: UnitReader, batch_size: int = 256, *, shuffle: bool = True, seed: int = 0,
            epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Row-major ``(X, y)`` mini-batches of one epoch of ``source``, in bounded memory
    (``Source.batches``, the public call, comes here).

    The order is the training order of that epoch (:func:`iter_blocks`); a batch
    may straddle units; the last batch may be short.
    """
    if batch_size < 1:
        from .errors import ConfigError

        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    pending_X: list[np.ndarray] = []
    pending_y: list[np.ndarray] = []
    pending = 0
    for block in iter_blocks(source, Position(epoch, 0, 0), epochs=epoch + 1,
                             shuffle=shuffle, seed=seed, prefetch=0):
        rows = block.order if block.order.size else slice(None)
        X, y = block.X[rows], block.y[rows]
        start = 0
        while start < len(y):
            take = min(batch_size - pending, len(y) - start)
            pending_X.append(X[start:start + take])
            pending_y.append(y[start:start + take])
            pending += take
            start += take
            if pending == batch_size:
                yield np.ascontiguousarray(np.concatenate(pending_X)), np.concatenate(pending_y)
                pending_X, pending_y, pending = [], [], 0
    if pending:
        yield np.ascontiguousarray(np.concatenate(pending_X)), np.concatenate(pending_y)
