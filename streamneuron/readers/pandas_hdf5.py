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

pandas stores the name lists as (protocol 0) pickles of lists of strings; they
are read with an unpickler that refuses every class, so a file cannot make us
run code.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from ..errors import DataError

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
                for j, name in enumerate(names):
                    self._where[name] = (table, field, j if sub.shape else None, True)
                    self.dtypes[name] = base
                    if dtype_attr is not None:
                        self.declared[name] = _text(dtype_attr)
                    if meta_text not in ("N.", ""):
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

    def compression(self):
        return self._datasets[0].compression if self._datasets else None

    def read(self, rows: slice, names: list[str]) -> list[np.ndarray]:
        """The values of ``names`` for ``rows``: each dataset (a dtype block, or the
        needed fields of the table) is read once for the slice."""
        cache: dict = {}
        out = []
        for name in names:
            ds, field, j, transposed = self._where[name]
            key = (id(ds), field)
            if key not in cache:
                if field is None:
                    cache[key] = ds[rows] if transposed else ds[:, rows].T
                else:
                    cache[key] = ds.fields(field)[rows]
            block = cache[key]
            out.append(block[:, j] if j is not None else block)
        return out
