"""Parquet's decoded columns as numpy (:func:`numpy_values`), and a feature column with
nulls (``--missing impute`` or ``drop``) without pyarrow's NaN-filled copy of it: its
values buffer as it is (a null's slot holds whatever the decoder left there) and its
validity bitmap, applied where the batch is copied into the unit (:class:`Gaps`), by
the copy itself (:func:`streamneuron.kernels.imputed_columns_into`): NaN at the nulls for
a plain read, or, with the fill values (:meth:`~.parquet.ParquetSource.read_imputed`),
the imputed values and the indicator columns.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..missing import Fills, copy_arguments

# Fixed-width Arrow number types and their numpy dtypes (booleans are bit-packed: not
# read as they are).
_PLAIN = {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32,
          pa.int64(): np.int64, pa.uint8(): np.uint8, pa.uint16(): np.uint16,
          pa.uint32(): np.uint32, pa.uint64(): np.uint64, pa.float16(): np.float16,
          pa.float32(): np.float32, pa.float64(): np.float64}


def _values_view(array, dtype) -> np.ndarray:
    """A fixed-width array's values buffer as numpy, zero-copy (a null's slot holds
    whatever the writer left there)."""
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array),
                         offset=array.offset * np.dtype(dtype).itemsize)


def numpy_values(array) -> np.ndarray:
    """The values of an Arrow array (or chunked array) as numpy: zero-copy
    (``np.frombuffer``) for null-free fixed-width numbers. ``to_numpy`` gives the
    same values but its first call imports pandas (~0.5 s of start-up)."""
    if isinstance(array, pa.ChunkedArray):
        parts = [numpy_values(chunk) for chunk in array.chunks]
        if len(parts) == 1:
            return parts[0]
        if parts:
            return np.concatenate(parts)
        return array.to_numpy()
    dtype = _PLAIN.get(array.type)
    if dtype is None or array.null_count:
        return array.to_numpy(zero_copy_only=False)
    return _values_view(array, dtype)


def nan_filled(column):
    """pyarrow's copy: the column as a float with NaN at its nulls."""
    kind = column.type if pa.types.is_floating(column.type) else pa.float64()
    return pc.fill_null(column.cast(kind), pa.scalar(np.nan, kind))


class Gaps:
    """The columns with nulls of one decoded batch, and how they reach the unit: by
    :meth:`copy`, after :meth:`values` gave each such column's values."""

    def __init__(self, d: int, fills: Fills | None, dtype: np.dtype):
        self.fills = fills
        self.validity = np.zeros(d, dtype=np.int64)  # a bitmap's address; 0: none
        self.offsets = np.zeros(d, dtype=np.int64)
        self.bitmaps: dict = {}  # column -> its bitmap's buffer, alive until copied
        if fills is not None:
            self.fill, self.indicator, self.check = copy_arguments(fills, np.dtype(dtype))
        else:  # NaN at the nulls: the same copy with NaN for fill and no indicator
            self.fill = np.full(d, np.nan, dtype=dtype)
            self.indicator = np.full(d, -1, dtype=np.int64)
            self.check = np.zeros(d, dtype=np.bool_)

    def values(self, j: int, column) -> np.ndarray:
        """Column ``j``'s values as numpy (its nulls as they are, its bitmap kept for
        :meth:`copy`), or a NaN-filled copy for a type without a plain values buffer."""
        dtype = _PLAIN.get(column.type)
        if dtype is None:
            return nan_filled(column).to_numpy(zero_copy_only=False)
        bitmap = column.buffers()[0]
        self.bitmaps[j] = bitmap
        self.validity[j] = bitmap.address
        self.offsets[j] = column.offset
        return _values_view(column, dtype)

    def copy(self, addresses: np.ndarray, m: int, out: np.ndarray, row: int) -> None:
        """The batch's ``m`` rows (its columns at ``addresses``, kept alive by the
        caller) into ``out[row:row + m]`` in one compiled copy: imputed, the fills
        given (every column of the unit, indicators too), else NaN at each null
        (``--missing impute``'s first pass, ``drop``: no second pass over the columns
        with nulls to write them)."""
        from ..kernels import imputed_columns_into

        check = self.check | (self.validity != 0)
        imputed_columns_into(addresses, self.validity, self.offsets, check, m, out, row,
                             self.fill, self.indicator)
        self.validity[:] = 0
        self.bitmaps.clear()
