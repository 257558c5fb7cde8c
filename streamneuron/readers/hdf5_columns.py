"""An HDF5 group of 1-D datasets, one per column, read as a table (as a pandas frame is).

A file written with h5py as ``f["x1"] = ...; f["carrier"] = ...; f["y"] = ...`` (no
``X`` matrix, no pandas frame) holds a table: each 1-D dataset of the group is a column
of ``n`` rows. Number datasets (integers, floats, booleans) are number columns, text
datasets (variable-length strings, fixed-length bytes) string columns and enum datasets
(``h5py.enum_dtype``) category columns whose levels are the enum's names, both
categorical by default (:mod:`.hdf5_values`); the features, the categorical columns and the
label are chosen by the rules of a Parquet file. :class:`ColumnGroup` gives the members of
:class:`~.pandas_hdf5.PandasFrame` that the HDF5 reader uses, so both are read the same
way, a slice of rows at a time. :func:`weight_problem` checks the X/y layout's weight.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .hdf5_values import column_array, column_kind, is_coded_dtype, text_type_name
from .pandas_hdf5 import PandasFrame


def weight_problem(f, X, *, weight: str, label: str | None, x_key: str) -> str | None:
    """What is wrong with the weight dataset (1-D, beside ``X`` in the open file ``f``)
    of the X/y layout, or None."""
    import h5py

    if weight == label:
        return f"the weight dataset {weight!r} is the label; name another with --weight"
    w = f.get(weight)
    if w is None:
        return f"no weight dataset {weight!r} (datasets: {', '.join(sorted(f.keys()))})"
    if not isinstance(w, h5py.Dataset) or w.ndim != 1:
        return f"weight dataset {weight!r} must be 1-D, got shape {getattr(w, 'shape', '?')}"
    if column_kind(w.dtype) is not None or w.dtype == np.bool_:
        return (f"weight dataset {weight!r} has dtype {text_type_name(w.dtype)}, not numbers")
    if w.shape[0] != X.shape[0]:
        return (f"{x_key!r} has {X.shape[0]} rows but the weights {weight!r} have "
                f"{w.shape[0]}; they must have the same length")
    return None


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
        self.problems = {name: column_kind(dt) for name, dt in self.dtypes.items()}
        self.kinds = {name: self.problems[name] for name, dt in self.dtypes.items()
                      if is_coded_dtype(dt)}
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

    def arrow(self, name: str, values: np.ndarray, where: str, what: str = "column"):
        """A column's values as Arrow: text, an enum's names, or numbers (h5py's types)."""
        return column_array(values, self.dtypes[name], where=where, column=name, what=what)

    def type_name(self, name: str) -> str:
        """As in the X/y layout: "string (vlen)", "enum (int8)", "float64"."""
        return text_type_name(self.dtypes[name])

    def may_hold_nulls(self, name: str) -> bool:
        """Only floats (NaN): h5py text and enums have no null value."""
        return self.dtypes[name].kind == "f"


__all__ = ["ColumnGroup", "column_datasets", "weight_problem"]
