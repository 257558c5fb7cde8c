"""HDF5 values as the Arrow arrays a categorical column or a string label is read as.

What the HDF5 readers (:mod:`.hdf5`, :mod:`.pandas_hdf5`) store, and what it becomes:

* text: h5py variable-length strings (``h5py.string_dtype()``, read as Python
  ``bytes``), fixed-length bytes (``S10``, NUL-padded), and pandas table fields
  (fixed-length bytes in the frame's encoding, a missing value written as the column's
  ``nan_rep`` text): an Arrow dictionary array of strings (each unit's values hashed
  once, the distinct ones decoded), the ``nan_rep`` value null. UTF-8 is checked by
  Arrow's cast of the distinct values; a value that is not UTF-8 is a
  :class:`~streamneuron.errors.DataError` naming the piece, the column, the row and the
  bytes, as no level can be made of it.
* a pandas ``category`` column in a table: its codes (int8/16/32, -1 for a missing value)
  and its categories (a small table of their own): an Arrow dictionary array, whose
  levels :mod:`streamneuron.levels` maps once per unit, as a Parquet dictionary column's.
* an h5py enum (``h5py.enum_dtype({"AA": 0, "UA": 1}, basetype="i1")``, how h5py and
  other HDF5 tools store categories: integers with a name each): an Arrow dictionary
  array of the names, in the order of their values (a pandas ``category`` column's
  categories, read the same way); a value its type does not name is a
  :class:`~streamneuron.errors.DataError` naming the piece, the column, the row and the
  value. An enum is categorical by default (:func:`is_coded_dtype`), never a number.
* integers and booleans: the Arrow array of those numbers (no copy of the values' kind:
  a level ``3`` of an int32 dataset is the level ``3`` of an int64 Parquet column).

The same values therefore give the same levels, whatever the file format.
"""

from __future__ import annotations

import codecs

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError

UTF8 = "utf-8"


def is_text_dtype(dtype: np.dtype) -> bool:
    """h5py strings (variable length: an object dtype with h5py's string metadata) and
    fixed-length bytes or text."""
    if dtype.kind in "SU":
        return True
    if dtype.kind != "O":
        return False
    import h5py

    return h5py.check_string_dtype(dtype) is not None


def enum_names(dtype: np.dtype) -> dict[str, int] | None:
    """An h5py enum type's names and their values (None: not an enum). h5py reads a
    boolean dataset as numpy booleans, not as its FALSE/TRUE enum."""
    if dtype.kind not in "iu" or not dtype.metadata:
        return None
    import h5py

    return h5py.check_enum_dtype(dtype)


def is_coded_dtype(dtype: np.dtype) -> bool:
    """A 1-D dataset that is categorical by default: text, or an enum's names."""
    return is_text_dtype(dtype) or enum_names(dtype) is not None


def column_kind(dtype: np.dtype) -> str | None:
    """What a 1-D dataset is as a column: "string" (text), "category" (an enum), None (a
    number), or its type (nothing a neuron can use)."""
    if is_text_dtype(dtype):
        return "string"
    if enum_names(dtype) is not None:
        return "category"
    return None if dtype.kind in "biuf" else str(dtype)


def text_type_name(dtype: np.dtype) -> str:
    """How ``inspect`` names a dataset's type: text, enum (with its integer type), else
    numpy's name."""
    if enum_names(dtype) is not None:
        return f"enum ({np.dtype(dtype.str)})"
    if not is_text_dtype(dtype):
        return str(dtype)
    if dtype.kind == "O":
        return "string (vlen)"
    return f"string ({dtype.str.lstrip('|<>')})"


def _bad_text(values, where: str, column: str, encoding: str, what: str) -> DataError:
    """The error for the first value of ``values`` that is not ``encoding`` text."""
    for row, value in enumerate(values):
        if isinstance(value, (bytes, np.bytes_)):
            try:
                bytes(value).decode(encoding)
            except UnicodeDecodeError:
                return DataError(
                    f"{where}, row {row}: {what} {column!r} has a value that is not {encoding} "
                    f"text ({bytes(value)!r}); re-encode the column as {encoding} text (or "
                    "store integer codes)")
    return DataError(f"{where}: {what} {column!r} is not {encoding} text")


def _stripped(fixed: np.ndarray) -> pa.Array:
    """Fixed-length bytes (``S{w}``, contiguous) as an Arrow binary array, each value's
    trailing NUL padding dropped (numpy's reading of ``S``), without a Python object
    per value."""
    n, width = len(fixed), fixed.dtype.itemsize
    if not width or not n:
        return pa.array([b""] * n, pa.binary())
    u8 = fixed.view(np.uint8).reshape(n, width)
    nonzero = u8 != 0
    lengths = np.where(nonzero.any(axis=1), width - np.argmax(nonzero[:, ::-1], axis=1), 0)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = u8[np.arange(width) < lengths[:, None]]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets),
                                                                   pa.py_buffer(data)])


def text_array(values: np.ndarray, *, where: str, column: str, encoding: str = UTF8,
               null: bytes | None = None, what: str = "column") -> pa.Array:
    """``values`` (bytes: ``S`` or an object array of ``bytes``/``str``) as an Arrow
    dictionary array of strings; a value equal to ``null`` (pandas' ``nan_rep``) is null.

    Why a dictionary: every value is hashed once (``dictionary_encode``), and the rest
    (the padding dropped, the UTF-8 check, the null marker, and later the levels' codes)
    is done once per distinct value of the unit, as for a Parquet dictionary column."""
    values = np.asarray(values)
    if values.ndim != 1:
        values = values.reshape(-1)
    if values.dtype.kind == "S" and values.dtype.itemsize:
        values = np.ascontiguousarray(values)
        fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(values.dtype.itemsize),
                                                     len(values), [None, pa.py_buffer(values)])
        coded = fixed.dictionary_encode()
        words = coded.dictionary
        words = _stripped(np.frombuffer(words.buffers()[1], dtype=values.dtype,
                                        count=len(words), offset=words.offset * words.type.byte_width))
    elif values.dtype.kind in "US" or (values.dtype.kind == "O" and values.size
                                        and isinstance(values[0], str)):
        coded = pa.array(values.astype(object), type=pa.string()).dictionary_encode()
        words = None
    else:
        coded = pa.array(values, type=pa.binary()).dictionary_encode()
        words = coded.dictionary
    if words is not None:
        try:
            if codecs.lookup(encoding).name == UTF8:
                text = words.cast(pa.large_string()).cast(pa.string())
            else:
                text = pa.array([bytes(v).decode(encoding) for v in words.to_pylist()],
                                type=pa.string())
        except (pa.ArrowInvalid, UnicodeDecodeError):
            raise _bad_text(values, where, column, encoding, what) from None
        coded = pa.DictionaryArray.from_arrays(coded.indices, text)
    if null is not None:
        marker = null.decode(encoding, "replace") if isinstance(null, bytes) else str(null)
        found = pc.index(coded.dictionary, pa.scalar(marker, pa.string())).as_py()
        if found >= 0:
            indices = coded.indices.to_numpy(zero_copy_only=False)
            coded = pa.DictionaryArray.from_arrays(
                pa.array(indices, mask=indices == found), coded.dictionary)
    return coded


def category_array(codes: np.ndarray, categories: pa.Array, *, where: str,
                   column: str) -> pa.DictionaryArray:
    """A pandas ``category`` column's codes (-1: missing) and categories as an Arrow
    dictionary array (a code past the categories is a DataError: a broken file)."""
    codes = np.asarray(codes).reshape(-1)
    missing = codes < 0
    bad = np.flatnonzero(codes >= len(categories))
    if bad.size:
        raise DataError(f"{where}, row {int(bad[0])}: category column {column!r} has code "
                        f"{int(codes[bad[0]])} but only {len(categories)} categories; the file "
                        "is damaged")
    indices = pa.array(codes.astype(np.int32), mask=missing if missing.any() else None)
    return pa.DictionaryArray.from_arrays(indices, categories)


def enum_array(values: np.ndarray, names: dict[str, int], *, where: str, column: str,
               what: str = "column") -> pa.DictionaryArray:
    """An enum dataset's integers as an Arrow dictionary array of its names (ordered by
    value): each value's name found by a binary search of the sorted values, so any
    integer values work, not only 0..k-1."""
    pairs = sorted(names.items(), key=lambda nv: nv[1])
    values = np.asarray(values).reshape(-1)
    numbers = np.array([v for _, v in pairs], dtype=np.dtype(values.dtype.str))
    found = np.searchsorted(numbers, values)
    np.minimum(found, max(len(numbers) - 1, 0), out=found)
    bad = np.flatnonzero(numbers[found] != values) if len(numbers) else np.arange(len(values))
    if bad.size:
        row = int(bad[0])
        shown = ", ".join(f"{n}={v}" for n, v in pairs[:8]) + (", ..." if len(pairs) > 8 else "")
        raise DataError(f"{where}, row {row}: {what} {column!r} has the value {values[row]}, "
                        f"which its enum type does not name ({shown}); the file is damaged, "
                        "or write the value's name into the enum")
    return pa.DictionaryArray.from_arrays(pa.array(found.astype(np.int32)),
                                          pa.array([str(n) for n, _ in pairs], pa.string()))


def column_array(values: np.ndarray, dtype: np.dtype, *, where: str, column: str,
                 what: str = "column") -> pa.Array:
    """A 1-D h5py dataset's ``values`` (of type ``dtype``) as the Arrow array a
    categorical column or a label is read as: text, an enum's names, or numbers."""
    if is_text_dtype(dtype):
        return text_array(values, where=where, column=column, what=what)
    names = enum_names(dtype)
    if names is not None:
        return enum_array(values, names, where=where, column=column, what=what)
    return number_array(values)


def number_array(values: np.ndarray, *, boolean: bool = False) -> pa.Array:
    """Integers (or booleans, ``boolean``: pandas stores them as uint8) as Arrow."""
    values = np.asarray(values).reshape(-1)
    if boolean and values.dtype != np.bool_:
        values = values != 0
    return pa.array(values)


def as_label_values(array) -> np.ndarray:
    """An Arrow array of labels (strings, a dictionary) as numpy for
    :func:`~streamneuron.readers.labels.check_labels`: objects, a null as None."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary.take(array.indices)
    if pa.types.is_string(array.type):
        return np.asarray(array.to_pylist(), dtype=object)
    if array.null_count:
        return np.asarray(pc.fill_null(array.cast(pa.float64()), np.nan))
    return array.to_numpy(zero_copy_only=False)


__all__ = ["text_array", "category_array", "number_array", "enum_array", "column_array",
           "as_label_values", "is_text_dtype", "is_coded_dtype", "column_kind", "enum_names",
           "text_type_name"]
