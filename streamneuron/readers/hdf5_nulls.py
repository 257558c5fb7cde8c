"""Null counts of HDF5 files, for ``inspect``: HDF5 stores no statistics (a Parquet row
group carries a null count per column), so the counts come from a read of every file.

The read is bounded and as narrow as the layout allows: a chunk range (a unit) at a
time, one dataset at a time, and only the columns that can hold a missing value (the
others count 0 unread):

* floats: NaN (an ``X`` matrix is read a chunk range of rows at a time, every column of
  it, since its chunks hold every column: one decompression per chunk; the 1-D datasets
  beside it, and a group of 1-D datasets, one column at a time);
* a pandas frame (:class:`~.pandas_hdf5.PandasFrame`): its dtype blocks (``fixed``) or
  the table's fields that can hold a missing value (``table``: one compound read of those
  fields); text columns' ``nan_rep`` marker and ``category`` codes -1 counted as the
  categorical report counts them (the same Arrow arrays: :meth:`PandasFrame.arrow`),
  NaT in dates (pandas stores them as int64, NaT the least int64);
* h5py text and enum datasets, integers and booleans have no null value: 0.

Strings that pandas' format ``fixed`` pickles whole are never read (they are left out
of training): they have no count.
"""

from __future__ import annotations

import numpy as np

from .pandas_hdf5 import PandasFrame

# pandas' NaT, as stored (int64).
NAT = np.iinfo(np.int64).min
# What ``inspect`` says of where the counts came from.
COUNTED_BY = "counted by reading every file: HDF5 stores no null counts"


def count_nulls(counts: dict[str, int], X, ranges: list[tuple[slice, str]], f,
                names: list[str]) -> None:
    """Add one file's nulls per column to ``counts``: ``X`` its matrix (or frame, or
    group of columns), ``ranges`` its units' rows and descriptions, ``f`` the open
    file, ``names`` the matrix's column names."""
    if isinstance(X, PandasFrame):
        _frame_nulls(counts, X, ranges)
    else:
        _matrix_nulls(counts, X, ranges, f, names)


def _frame_nulls(counts: dict[str, int], frame: PandasFrame, ranges) -> None:
    by_dataset: dict[int, list[str]] = {}
    for name in frame.names:
        if name not in frame._where:  # pickled whole: never read
            continue
        counts.setdefault(name, 0)
        if frame.may_hold_nulls(name):
            by_dataset.setdefault(id(frame._where[name][0]), []).append(name)
    for rows, where in ranges:
        for names in by_dataset.values():  # one dataset (block, table, column) at a time
            for name, values in zip(names, frame.read(rows, names)):
                counts[name] += _nulls(frame, name, values, where)


def _nulls(frame: PandasFrame, name: str, values: np.ndarray, where: str) -> int:
    if name in frame.kinds:  # as the categorical report counts them
        return frame.arrow(name, values, where).null_count
    if values.dtype.kind == "f":
        return int(np.count_nonzero(np.isnan(values)))
    return int(np.count_nonzero(values.view(np.int64) == NAT))


def _matrix_nulls(counts: dict[str, int], X, ranges, f, names: list[str]) -> None:
    """``X``'s columns and the 1-D datasets of its rows beside it (the label, the
    weight, the categorical and other columns)."""
    import h5py

    for name in names:
        counts.setdefault(name, 0)
    beside = {name: ds for name, ds in f.items() if name not in names
              and isinstance(ds, h5py.Dataset) and ds.ndim == 1 and ds.shape[0] == X.shape[0]}
    for name in beside:
        counts.setdefault(name, 0)
    floats = {name: ds for name, ds in beside.items() if ds.dtype.kind == "f"}
    for rows, _ in ranges:
        if X.dtype.kind == "f":
            found = np.count_nonzero(np.isnan(X[rows]), axis=0)
            for name, n in zip(names, found.tolist()):
                counts[name] += n
        for name, ds in floats.items():
            counts[name] += int(np.count_nonzero(np.isnan(ds[rows])))


__all__ = ["count_nulls", "COUNTED_BY", "NAT"]
