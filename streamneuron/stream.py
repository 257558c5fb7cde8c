"""The order rows are trained in, and the position from which it restarts.

An epoch's order is a pure function of ``(seed, epoch, unit sizes)``:

* the units (row groups / chunk ranges) are permuted by ``rng(seed, epoch)``,
  then cut into *blocks* of ``window`` consecutive units (default 1);
* the rows of block ``k`` are permuted by ``rng(seed, epoch, k)``.

With ``shuffle=False`` both permutations are the identity: file order.

A :class:`Position` ``(epoch, block, row)`` says how far a run got; the stream
restarts exactly there (the resume feature depends on this). Blocks are read on
a background thread, ``prefetch`` blocks ahead, so decoding overlaps training.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .readers.base import Source


@dataclass(frozen=True)
class Position:
    epoch: int = 0
    block: int = 0  # index in the epoch's plan
    row: int = 0  # rows of that block already consumed, in the block's order


@dataclass
class Block:
    X: np.ndarray  # (n, d), rows in file order
    y: np.ndarray
    order: np.ndarray  # int64 row permutation; empty means file order
    position: Position  # where this block starts being consumed
    units: list[int]  # unit indices, in the order concatenated
    bounds: np.ndarray  # first row of each unit in X, plus n

    def describe_row(self, source: Source, row: int) -> str:
        """"file, row group 3" for a row of ``X`` (used by error messages)."""
        k = int(np.searchsorted(self.bounds, row, side="right")) - 1
        return source.describe(self.units[k]), row - int(self.bounds[k])


def epoch_plan(n_units: int, *, seed: int, epoch: int, shuffle: bool,
               window: int = 1) -> list[list[int]]:
    """The blocks of one epoch: lists of unit indices, in training order."""
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n_units)
    else:
        order = np.arange(n_units)
    return [order[k:k + window].tolist() for k in range(0, n_units, window)]


def block_order(n_rows: int, *, seed: int, epoch: int, block: int, shuffle: bool) -> np.ndarray:
    """The row permutation inside a block (empty array: file order)."""
    if not shuffle:
        return np.empty(0, dtype=np.int64)
    return np.random.default_rng([seed, epoch, block]).permutation(n_rows).astype(np.int64)


def read_block(source: Source, units: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    chunks = [source.read(u) for u in units]
    bounds = np.cumsum([0] + [len(c.y) for c in chunks])
    if len(chunks) == 1:
        return chunks[0].X, chunks[0].y, bounds
    return (np.concatenate([c.X for c in chunks]), np.concatenate([c.y for c in chunks]), bounds)


def _plan_blocks(source: Source, start: Position, epochs: int, shuffle: bool, seed: int,
                 window: int) -> Iterator[tuple[Position, list[int]]]:
    for epoch in range(start.epoch, epochs):
        plan = epoch_plan(len(source.units), seed=seed, epoch=epoch, shuffle=shuffle, window=window)
        first = start.block if epoch == start.epoch else 0
        for k in range(first, len(plan)):
            row = start.row if (epoch, k) == (start.epoch, start.block) else 0
            yield Position(epoch, k, row), plan[k]


def _load(source: Source, pos: Position, units: list[int], shuffle: bool, seed: int) -> Block:
    X, y, bounds = read_block(source, units)
    order = block_order(len(y), seed=seed, epoch=pos.epoch, block=pos.block, shuffle=shuffle)
    return Block(X, y, order, pos, units, bounds)


def iter_blocks(source: Source, start: Position, *, epochs: int, shuffle: bool, seed: int,
                window: int = 1, prefetch: int = 1) -> Iterator[Block]:
    """Blocks from ``start`` to the end of epoch ``epochs - 1``.

    ``prefetch > 0`` decodes that many blocks ahead on a background thread
    (memory: ``prefetch + 1`` decoded blocks); errors are raised in the caller.
    """
    plan = _plan_blocks(source, start, epochs, shuffle, seed, window)
    if prefetch <= 0:
        for pos, units in plan:
            yield _load(source, pos, units, shuffle, seed)
        return

    slots: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for pos, units in plan:
                if stop.is_set():
                    return
                item = _load(source, pos, units, shuffle, seed)
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    worker = threading.Thread(target=produce, name="streamneuron-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
