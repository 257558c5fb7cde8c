"""An HDF5 group of 1-D datasets, one per column, read as a table (as a pandas frame is).

A file written with h5py as ``f["x1"] = ...; f["carrier"] = ...; f["y"] = ...`` (no
``X`` matrix, no pandas frame) holds a table: each 1-D dataset of the group is a column
of ``n`` rows. Number datasets (integers, floats, booleans) are number columns, text
datasets (variable-length strings, fixed-length bytes) string columns, categorical by
default (:mod:`.hdf5_values`); the features, the categorical columns and the label are
chosen by the rules of a Parquet file. :class:`ColumnGroup` gives the members of
:class:`~.pandas_hdf5.PandasFrame` that the HDF5 reader uses, so both are read the same
way, a slice of rows at a time.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .hdf5_values import is_text_dtype, text_type_name
from .pandas_hdf5 import PandasFrame


def column_datasets(group) -> dict:
    """The group's 1-D datasets, name -> dataset (its members in h5py's order)."""
    import h5py

    return {name: ds for name, ds in group.items()
            if isinstance(ds, h5py.Dataset) and ds.ndim == 1}


class ColumnGroup(PandasFrame):
    """The 1-D datasets of ``group`` (``key`` in the open file ``f``) as named columns."""

    layout = "columns"

    def __init__(self, f, key: str, url: str):  # (the frame's parsing is not needed)
        group = f[key]
        self.key, self.url = key, url
        columns = column_datasets(group)
        if not columns:
            raise DataError(f"{url}: group {key!r} holds no 1-D datasets (columns)")
        lengths = {ds.shape[0] for ds in columns.values()}
        if len(lengths) > 1:
            shown = ", ".join(f"{n} ({ds.shape[0]})" for n, ds in columns.items())
            raise DataError(f"{url}: the 1-D datasets of {key!r} are columns of one table and "
                            f"must have one length; they have {shown}")
        self.names = list(columns)
        self._where = {name: (ds, None, None, True) for name, ds in columns.items()}
        self.dtypes = {name: ds.dtype for name, ds in columns.items()}
        self.kinds = {name: "string" for name, dt in self.dtypes.items() if is_text_dtype(dt)}
        self.problems = {name: (self.kinds.get(name) or
                                (None if dt.kind in "biuf" else str(dt)))
                         for name, dt in self.dtypes.items()}
        self.declared = {name: text_type_name(self.dtypes[name]) for name in self.kinds}
        self.pickled, self.index_columns = [], []
        self._nan_rep = {name: None for name in self.kinds}
        self._categories, self._group = {}, group
        self.encoding = "utf-8"
        self.n_rows = lengths.pop()
        first = next(iter(columns.values()))
        self.chunk_rows = first.chunks[0] if first.chunks else None
        self._datasets = list(columns.values())

    @property
    def what(self) -> str:
        return f"the 1-D datasets of {self.key!r}"

    def is_discrete(self, name: str) -> bool:
        return name in self._where and self.dtypes[name].kind in "biu"


__all__ = ["ColumnGroup", "column_datasets"]
