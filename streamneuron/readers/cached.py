"""Decoded units kept on disk for the epochs after the first: the :class:`Cached` source
(``fit_sgd(cache=DIR)``, ``train --mode sgd --cache DIR``).

An SGD run reads every unit once an epoch, and decoding it (Parquet's pages into
numbers, the rows copied into row-major order, the level codes, the labels) costs more
CPU than the epoch's training at a few thousand weights. ``Cached(source, folder)``
reads a unit of ``source`` the first time it is asked for, as the trainer receives it
(the number rows ``X``, the labels ``y``, the row weights ``w``, the level codes
``codes``: after every wrapper below it, encoding, imputing, weighting), and writes it
as raw bytes to one file of ``folder``::

    unit-<i>.bin = X (n*d values, row- or column-major) | y (n) | w (n) | codes (n*k)

Every later read of that unit reads the file back (into the stream's reused buffer:
one ``readinto``, no allocation; the page cache keeps what fits in memory) and
decodes nothing. Vowpal Wabbit's cache file does the same. A decoded row is ``8 d + 8
(+ 8 weighted) + 4 k`` bytes: about what a compressed Parquet row of numbers is, so a
later epoch reads as many bytes as the first, without the CPU of the decode.

The run's files live in a folder of their own inside the folder given
(:func:`unit_cache`: ``streamneuron-cache-XXXXXXXX``), removed when the run ends, fails
or is interrupted. A unit read with kept columns (``keep``, predict's) or carrying
categorical columns not yet encoded (``extra``) is never cached; other raw columns a
reader still decodes (a categorical column left out for its many levels) are not kept:
nothing reads them after the pass that counts the levels. The arithmetic is unchanged:
the same bits reach the kernel, so the weights are those of a run without the cache,
bit for bit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from ..units import COLUMN, ROW
from .base import DecodedUnit, Source
from .wrapped import Wrapped

# A unit read back in another layout than stored goes through a buffer of this size.
COPY_BYTES = 8 << 20


@dataclass(frozen=True)
class _Entry:
    """Where one unit's arrays are in its file: ``X`` (``shape``, ``dtype``, stored
    row-major or not), then ``y``, ``w`` and ``codes`` (absent: None)."""

    path: str
    shape: tuple[int, int]
    dtype: np.dtype
    row_major: bool
    y: np.dtype | None
    w: np.dtype | None
    codes: tuple[tuple[int, int], np.dtype] | None
    where: str


class UnitCache:
    """One run's folder of cached units and its index (``entries``: unit index ->
    :class:`_Entry`; an entry is added once its file is complete, so a second reader
    on another thread never sees half a unit)."""

    def __init__(self, folder: str, given: str, name: str = "unit"):
        self.folder, self.given, self.name = folder, given, name
        self.entries: dict[int, _Entry] = {}

    def part(self, name: str) -> "UnitCache":
        """Another source's units in the same folder (``name-<i>.bin``: the validation data)."""
        return UnitCache(self.folder, self.given, name)

    def fail(self, exc: OSError) -> ConfigError:
        """The error of a failed write: the disk full, or the folder gone."""
        why = ("the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT)
               else exc.strerror or str(exc))
        return ConfigError.about("cache", f"{self.given}: cannot write the decoded rows ({why});"
                                 " free space there, give another folder, or train without it")

    def check_space(self, *sources: Source) -> None:
        """ConfigError before training when the folder's disk cannot hold every unit."""
        need = sum(sum(u.n_rows for u in source.units) * row_bytes(source)
                   for source in sources)
        free = shutil.disk_usage(self.folder).free
        if need > free:
            raise ConfigError.about(
                "cache", f"{self.given}: the decoded rows need about {need / 2**30:.2f} GiB and "
                f"its disk has {free / 2**30:.2f} GiB free; give another folder, or train "
                "without it")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def row_bytes(source: Source) -> int:
    """Bytes of one cached row: ``d`` numbers, the label, the weight, ``k`` level codes."""
    levels = getattr(source, "levels", None)
    k = len(levels.names) if levels is not None else 0
    return (source.n_features * np.dtype(source.dtype).itemsize + 8
            + (8 if source.weighted else 0) + 4 * k)


@contextlib.contextmanager
def unit_cache(folder: str | os.PathLike) -> Iterator[UnitCache]:
    """A fresh run-private folder inside ``folder`` (ConfigError when ``folder`` is not a
    folder or cannot be written), removed when the ``with`` ends, however it ends."""
    try:
        given = os.fspath(folder)
    except TypeError:
        raise ConfigError.about("cache", f"must be a folder's path, got {folder!r}") from None
    if not os.path.isdir(given):
        raise ConfigError.about("cache", f"{given}: no such folder")
    try:
        mine = tempfile.mkdtemp(prefix="streamneuron-cache-", dir=given)
    except OSError as exc:
        raise ConfigError.about("cache", f"{given}: cannot write there "
                                f"({exc.strerror or exc})") from None
    cache = UnitCache(mine, given)
    try:
        yield cache
    finally:
        cache.remove()


def _contiguous(X: np.ndarray, row_major: bool) -> np.ndarray:
    """``X`` (row-major) or ``X.T`` (column-major) as a C-contiguous array: the bytes
    written, a view when ``X`` is already laid out so."""
    return np.ascontiguousarray(X if row_major else X.T)


def _read_into(f, target: np.ndarray) -> None:
    """Fill the C-contiguous ``target`` from the file ``f``: one ``readinto``."""
    view = memoryview(target).cast("B")
    done = 0
    while done < len(view):
        got = f.readinto(view[done:])
        if not got:
            raise OSError(errno.EIO, "the cached unit is shorter than written")
        done += got


class Cached(Wrapped):
    """``source`` whose units are decoded once and read back from ``cache`` after (the
    module docstring). ``layout``: how ``X`` is stored (``"row"`` or ``"column"``), the
    layout the stream decodes the training blocks in, so that reading a unit back is
    one copy into the stream's buffer. ``writes=False``: a second reader of the same
    cache (the held-out rows, read on another thread): it reads the units already
    cached and decodes the others from its own ``source``, writing nothing."""

    def __init__(self, source: Source, cache: UnitCache, layout: str = ROW,
                 writes: bool = True):
        super().__init__(source)
        self.cache, self.row_major, self.writes = cache, layout == ROW, writes

    def alongside(self, other: Source) -> "Cached":
        """A reader of this cache over ``other`` (the same data, opened again)."""
        return Cached(other, self.cache, ROW if self.row_major else COLUMN, writes=False)

    def kernel_imputation(self) -> tuple:
        """None: a unit is cached as read, for the held-out rows' reader too (wide)."""
        return ()

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        entry = self.cache.entries.get(i)
        if entry is not None and not keep:
            return self._load(entry, out)
        unit = self.source.read(i, keep=keep, out=out)
        if self.writes and not keep and entry is None and not any(
                name in self.categorical for name in unit.extra):
            self._store(i, unit)
        return unit

    def _store(self, i: int, unit: DecodedUnit) -> None:
        path = os.path.join(self.cache.folder, f"{self.cache.name}-{i}.bin")
        X = unit.X
        row_major = self.row_major
        codes = unit.codes
        try:
            with open(path, "wb", buffering=0) as f:
                for part in (_contiguous(X, row_major), unit.y, unit.w, codes):
                    if part is not None:
                        part = np.ascontiguousarray(part)
                        f.write(memoryview(part).cast("B"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise self.cache.fail(exc) from None
        self.cache.entries[i] = _Entry(
            path, X.shape, X.dtype, row_major, None if unit.y is None else unit.y.dtype,
            None if unit.w is None else unit.w.dtype, None if codes is None else (codes.shape, codes.dtype),
            unit.where)

    def _load(self, entry: _Entry, out: np.ndarray | None) -> DecodedUnit:
        n, d = entry.shape
        with open(entry.path, "rb", buffering=0) as f:
            if out is None:
                out = np.empty((n, d) if entry.row_major else (d, n), entry.dtype)
                _read_into(f, out)
                X = out if entry.row_major else out.T
            else:
                X = out
                target = out if entry.row_major else out.T
                if target.flags.c_contiguous and out.dtype == entry.dtype:
                    _read_into(f, target)
                else:  # another layout than stored (a read in file order): one copy more,
                    # through a buffer of at most COPY_BYTES
                    step = max(1, COPY_BYTES // max(1, target[0].nbytes))
                    part = np.empty((min(step, len(target)),) + target.shape[1:], entry.dtype)
                    for a in range(0, len(target), step):
                        rows = part[:min(step, len(target) - a)]
                        _read_into(f, rows)
                        target[a:a + len(rows)] = rows
            y = None
            if entry.y is not None:
                y = np.empty(n, entry.y)
                _read_into(f, y)
            w = None
            if entry.w is not None:
                w = np.empty(n, entry.w)
                _read_into(f, w)
            codes = None
            if entry.codes is not None:
                codes = np.empty(*entry.codes)
                _read_into(f, codes)
        return DecodedUnit(X, y, entry.where, w=w, codes=codes)

    def __repr__(self) -> str:
        return f"<Cached {self.source!r} in {self.cache.folder}>"


__all__ = ["Cached", "UnitCache", "unit_cache", "row_bytes"]
