"""The two HDF5 layouts pandas writes, read with h5py, rows in slices.

``df.to_hdf(path, key="df", format="fixed")`` (pandas' default) stores a group
``df`` with one 2-D dataset per dtype block, ``block{i}_values`` (rows x columns
of that dtype), its column names in ``block{i}_items``, the frame's column order
in ``axis0`` and the index in ``axis1``. ``format="table"`` stores a PyTables
table ``df/table``: a 1-D compound dataset whose fields are ``index``, one
``values_block_{i}`` per dtype block (a sub-array of that block's columns,
named in the attribute ``values_block_{i}_kind``) and one field per
``data_columns`` column; the frame's column order is in the group attribute
``non_index_axes``. Both are read here with h5py, a slice of rows at a time
(pandas and PyTables would read the whole frame). The index is a row label and
never a feature.

Text and ``category`` columns (the categorical columns and string labels,
:mod:`.hdf5_values`): ``format="table"`` stores a string or object column as
fixed-length bytes in the frame's ``encoding``, a missing value written as a
marker text (``nan_rep``: per column where pandas wrote ``data_col_nan_rep``, else
the table's, default ``"nan"``; read back as null, as ``pd.read_hdf`` does), and a
``category`` column as its integer codes (-1: missing) with the categories in a
table of their own, ``meta/{field}/meta/table``. ``format="fixed"`` pickles a whole
string column as one object (and refuses ``category``): such a column cannot be
read a slice at a time, and is left out (refused when named) with that reason.

pandas stores the name lists as (protocol 0) pickles of lists of strings; they
are read with an unpickler that refuses every class, so a file cannot make us
run code.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

import pyarrow as pa

from ..errors import DataError
from ..units import DecodedUnit
from .base import Columns, check_labels, check_weights, choose_columns
from .hdf5_values import as_label_values, category_array, number_array, text_array

# Why a string column of a pandas "fixed" frame is never read (the frame's whole column
# is one pickled object: no slice of it can be read, and unpickling could run code).
PICKLED = ("holds strings that pandas' format 'fixed' stores as one pickled object (the "
           "whole column), which cannot be read a slice at a time; write the frame with "
           "df.to_hdf(..., format='table')")

# What a frame written by pandas says it is (group attribute ``pandas_type``).
FRAME_TYPES = {b"frame": "fixed", b"frame_table": "table"}


class _NamesOnly(pickle.Unpickler):
    def find_class(self, module, name):  # a list of strings needs no class
        raise pickle.UnpicklingError(f"refused: {module}.{name}")


def _unpickle_names(value) -> list[str] | None:
    """A pandas name list from an attribute, or None when it is something else."""
    if isinstance(value, np.bytes_ | bytes):
        try:
            names = _NamesOnly(io.BytesIO(bytes(value))).load()
        except Exception:
            return None
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


def _text(value) -> str:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _number_problem(dtype_text: str | None, dtype: np.dtype) -> str | None:
    """None when a column's values are numbers a neuron can use, else its type."""
    if dtype_text is not None:
        try:
            declared = np.dtype(dtype_text)
        except TypeError:
            return dtype_text
        return None if declared.kind in "biuf" else dtype_text
    return None if dtype.kind in "biuf" else str(dtype)


def pandas_frames(f) -> list[str]:
    """Keys of the top-level groups that pandas wrote (a DataFrame or anything else)."""
    import h5py

    return [k for k, v in f.items() if isinstance(v, h5py.Group) and "pandas_type" in v.attrs]


class PandasFrame:
    """One pandas DataFrame in an open HDF5 file, as named columns of rows.

    ``names`` (frame order), ``problems`` (None for a number column, else its
    type), ``dtypes`` (as stored), ``n_rows``, ``chunk_rows`` (HDF5 chunk length
    or None), ``layout`` ("fixed" or "table"). ``read(rows, names)`` returns one
    1-D numpy array per name for ``rows`` (a slice).
    """

    def __init__(self, f, key: str, url: str):
        import h5py

        group = f[key]
        kind = group.attrs.get("pandas_type")
        self.key, self.url = key, url
        layout = FRAME_TYPES.get(bytes(kind) if kind is not None else b"")
        if layout is None:
            what = _text(kind) if kind is not None else "not a pandas object"
            raise DataError(
                f"{url}: key {key!r} holds a pandas {what}, not a DataFrame, and cannot be read "
                "in chunks; write a DataFrame instead (e.g. series.to_frame().to_hdf(path, "
                "key=..., format='table')) or X/y datasets")
        self.layout = layout
        # column name -> (dataset, field or None, position in the block or None)
        self._where: dict[str, tuple] = {}
        self.problems: dict[str, str | None] = {}
        self.dtypes: dict[str, np.dtype] = {}
        self.declared: dict[str, str] = {}  # the type pandas recorded, where it did
        # Columns that hold the levels of a MultiIndex (format "table" stores them as
        # columns named in the attribute ``levels``): row labels, never features.
        self.index_columns: list[str] = []
        # Text and category columns (table format): name -> "string" or "category";
        # format "fixed": the string columns pickled whole (never read)
        self.kinds: dict[str, str] = {}
        self.pickled: list[str] = []
        self._group = group
        self._nan_rep: dict[str, bytes | None] = {}
        self._categories: dict[str, object] = {}
        self.encoding = _encoding(group)
        if layout == "fixed":
            nblocks = int(group.attrs.get("nblocks", 0))
            order = [_text(n) for n in group["axis0"][:]] if "axis0" in group else None
            for i in range(nblocks):
                values, items = group.get(f"block{i}_values"), group.get(f"block{i}_items")
                if values is None or items is None:
                    raise DataError(f"{url}: pandas frame {key!r} lacks block {i}; the file is "
                                    "incomplete")
                block_names = [_text(n) for n in items[:]]
                plain = isinstance(values, h5py.Dataset) and values.ndim == 2 \
                    and values.dtype.kind in "biufM"
                transposed = bool(values.attrs.get("transposed", 1)) if plain else True
                value_type = values.attrs.get("value_type") if plain else None
                for j, name in enumerate(block_names):
                    if not plain:
                        self.problems[name] = "object (strings)"
                        self.dtypes[name] = np.dtype(object)
                        self.pickled.append(name)
                        continue
                    self._where[name] = (values, None, j, transposed)
                    self.dtypes[name] = values.dtype
                    self.problems[name] = _number_problem(
                        _text(value_type) if value_type is not None else None, values.dtype)
            self.names = order if order and set(order) == set(self.problems) else \
                list(self.problems)
            datasets = [w[0] for w in self._where.values()]
            first = datasets[0] if datasets else None
            self.n_rows = int(group["axis1"].shape[0]) if "axis1" in group else (
                first.shape[0] if first is not None else 0)
            self.chunk_rows = (first.chunks[0] if first is not None and first.chunks
                               and transposed else None)
            self._datasets = datasets
        else:
            table = group.get("table")
            if not isinstance(table, h5py.Dataset) or table.dtype.names is None:
                raise DataError(f"{url}: pandas frame {key!r} has no readable 'table' dataset")
            attrs = table.attrs
            seen = []
            for field in table.dtype.names:
                if field == "index":
                    continue
                sub = table.dtype.fields[field][0]
                names = _unpickle_names(attrs.get(f"{field}_kind"))
                if names is None:
                    names = [field] if sub.shape == () else None
                if names is None:
                    raise DataError(f"{url}: pandas table {key!r}: cannot read the column names "
                                    f"of {field!r}")
                meta = attrs.get(f"{field}_meta")
                meta_text = _text(meta) if meta is not None else "N."
                dtype_attr = attrs.get(f"{field}_dtype")
                base = sub.base if sub.shape else sub
                kind = ("category" if meta_text == "category" else
                        "string" if base.kind == "S" else None)
                for j, name in enumerate(names):
                    self._where[name] = (table, field, j if sub.shape else None, True)
                    self.dtypes[name] = base
                    if dtype_attr is not None:
                        self.declared[name] = _text(dtype_attr)
                    if kind is not None:
                        self.kinds[name] = kind
                        self.problems[name] = kind
                        self._nan_rep[name] = _nan_rep(group, attrs, field)
                    elif meta_text not in ("N.", ""):
                        self.problems[name] = {"str": "string"}.get(meta_text, meta_text)
                    else:
                        self.problems[name] = _number_problem(
                            _text(dtype_attr) if dtype_attr is not None else None, base)
                    seen.append(name)
            order = None
            axes = group.attrs.get("non_index_axes")
            if axes is not None:
                try:
                    loaded = _NamesOnly(io.BytesIO(bytes(axes))).load()
                    order = [str(n) for n in loaded[0][1]]
                except Exception:
                    order = None
            self.names = order if order and set(order) == set(seen) else seen
            self.index_columns = [n for n in _unpickle_names(group.attrs.get("levels")) or []
                                  if n in self.problems]
            self.n_rows = int(table.shape[0])
            self.chunk_rows = table.chunks[0] if table.chunks else None
            self._datasets = [table]
        if not self.names:
            raise DataError(f"{url}: pandas frame {key!r} has no columns")

    @property
    def what(self) -> str:
        """The frame, named for a message."""
        return f"pandas frame {self.key!r}"

    def compression(self):
        return self._datasets[0].compression if self._datasets else None

    def read(self, rows: slice, names: list[str]) -> list[np.ndarray]:
        """The values of ``names`` for ``rows`` as stored: each dataset (a dtype block,
        or the table's needed fields, together) is read once for the slice."""
        cache: dict = {}
        fields = list(dict.fromkeys(self._where[n][1] for n in names
                                    if self._where[n][1] is not None))
        if fields:  # one read of the table's rows: each chunk decompressed once
            table = self._datasets[0]
            block = table.fields(fields if len(fields) > 1 else fields[0])[rows]
            for field in fields:
                cache[(id(table), field)] = block[field] if len(fields) > 1 else block
        out = []
        for name in names:
            ds, field, j, transposed = self._where[name]
            key = (id(ds), field)
            if key not in cache:
                cache[key] = ds[rows] if transposed else ds[:, rows].T
            block = cache[key]
            out.append(block[:, j] if j is not None else block)
        return out

    # -- categorical columns and labels (:mod:`.hdf5_values`) ----------------------
    def is_discrete(self, name: str) -> bool:
        """Integer and boolean columns (``--categorical`` may name them)."""
        declared = self.declared.get(name, "")
        return name in self._where and self.problems[name] is None and (
            self.dtypes[name].kind in "biu" or declared == "bool")

    def arrow(self, name: str, values: np.ndarray, where: str, what: str = "column"):
        """A column's stored ``values`` (from :meth:`read`) as an Arrow array: text with
        ``nan_rep`` null, a category's codes as a dictionary array, numbers as numbers."""
        kind = self.kinds.get(name)
        if kind == "string":
            return text_array(values, where=where, column=name, encoding=self.encoding,
                              null=self._nan_rep[name], what=what)
        if kind == "category":
            return category_array(values, self.categories(name, where), where=where,
                                  column=name)
        return number_array(values, boolean=self.declared.get(name) == "bool")

    def type_name(self, name: str) -> str:
        """A column's type for ``inspect``: the stored dtype, or why it is not a number."""
        return self.problems[name] or self.declared.get(name) or str(self.dtypes[name])

    def may_hold_nulls(self, name: str) -> bool:
        """Whether a column can hold pandas' missing values, read as :func:`count_nulls`
        counts them: NaN (floats), the ``nan_rep`` text (strings), code -1
        (``category``), NaT (dates and durations, stored as int64)."""
        kind = self.kinds.get(name)
        if kind is not None:
            return kind == "category" or self._nan_rep.get(name) is not None
        return name in self._where and (self.dtypes[name].kind == "f" or (
            self.problems[name] or "").startswith(("datetime64", "timedelta64")))

    def categories(self, name: str, where: str):
        """A category column's categories (read once: ``meta/{field}/meta/table``)."""
        found = self._categories.get(name)
        if found is None:
            field = self._where[name][1]
            meta = self._group.get(f"meta/{field}/meta")
            table = meta.get("table") if meta is not None else None
            if table is None:  # pandas writes no categories for an all-missing column
                found = pa.array([], pa.string())
            else:
                values = table.fields("values")[:]
                if values.dtype.kind == "S":
                    found = text_array(values, where=f"{where} (categories)", column=name,
                                       encoding=_encoding(meta),
                                       null=_nan_rep(meta, table.attrs, "values"))
                else:
                    found = pa.array(values)
            self._categories[name] = found
        return found


def _encoding(group) -> str:
    """The text encoding pandas recorded for a table (default UTF-8)."""
    value = group.attrs.get("encoding")
    text = _text(value) if value is not None else ""
    return "utf-8" if text in ("", "N.") else text


def _nan_rep(group, attrs, field: str) -> bytes | None:
    """The text a missing value of a table's string ``field`` was written as, as
    ``pd.read_hdf`` reads it: the column's own ``{field}_nan_rep`` when pandas marked
    the table (``data_col_nan_rep``; none when the column had no missing value), else
    the table's ``nan_rep`` (a pickled None: pandas' default ``"nan"``)."""
    if bool(group.attrs.get("data_col_nan_rep", False)):
        value = attrs.get(f"{field}_nan_rep")
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)
    value = group.attrs.get("nan_rep")
    if value is None or (isinstance(value, (bytes, np.bytes_)) and bytes(value) == b"N."):
        return b"nan"
    return value.encode() if isinstance(value, str) else bytes(value)


def frame_columns(frame: PandasFrame, where: str, *, label, features, exclude, weight,
                  categorical) -> Columns:
    """The number features, the categorical columns and those left out of a frame, by
    the rules of :func:`~streamneuron.readers.base.choose_columns`: string, object and
    ``category`` columns categorical by default, integers and booleans when named. A
    string column of a ``fixed`` frame is left out with the reason (refused when named)."""
    for name in frame.pickled:
        if name in (categorical or ()) or name in (features or ()):
            raise DataError(f"{where}: column {name!r} {PICKLED}")
    chosen = choose_columns(
        [(n, frame.problems[n]) for n in frame.names], label=label, features=features,
        exclude=exclude, index_columns=frame.index_columns, where=where, weight=weight,
        categorical=categorical, category_columns=list(frame.kinds),
        discrete_columns=[n for n in frame.names if frame.is_discrete(n) or n in frame.kinds])
    left_out = [(n, "strings pickled whole by pandas' format 'fixed': write the frame with "
                 "format='table' to use them" if n in frame.pickled else reason)
                for n, reason in chosen.left_out]
    return Columns(chosen.features, chosen.categorical, left_out)


def read_frame(source, frame: PandasFrame, rows: slice, where: str, keep,
               out) -> DecodedUnit:
    """A slice of a pandas frame (``source``: the HDF5 source reading it): the needed
    dtype blocks or table fields only; the categorical and ``keep`` columns as Arrow."""
    label, weight = source.label, source.weight
    names = list(dict.fromkeys([*source.feature_names, *(c for c in (label, weight) if c),
                                *source.categorical, *keep]))
    try:
        got = dict(zip(names, frame.read(rows, names)))
    except OSError as exc:
        raise DataError(f"{where}: cannot be read ({exc})") from None
    if out is None:
        out = np.empty((rows.stop - rows.start, source.n_features), dtype=source.dtype)
    for j, name in enumerate(source.feature_names):
        out[:, j] = got[name]  # NaN (pandas' missing value) is caught by the kernels
    labels = weights = None
    if label:
        values = got[label]
        if label in frame.kinds:
            values = as_label_values(frame.arrow(label, values, where, "label column"))
        labels = check_labels(values, label=label, where=where, positive=source.positive,
                              negative=source.negative, missing=source.missing)
    if weight:
        weights = check_weights(got[weight], column=weight, where=where)
    extra = {name: frame.arrow(name, got[name], where)
             for name in dict.fromkeys([*keep, *source.categorical])}
    return DecodedUnit(out, labels, where, extra, weights)
