"""Parquet reader: one unit per row group, only the needed columns.

Files are opened with ``pre_buffer=False``: with pyarrow's default read-ahead the
peak memory grows with the file; without it memory stays at about one decoded row
group (README, "Memory").

A row group is decoded ``DECODE_ROWS`` rows at a time, single-threaded (the
other core trains), local files through a ``READ_BUFFER``-byte buffer per
column: pyarrow then holds about one batch of decoded columns and a buffer per
column instead of the whole row group twice over (compressed and decoded), and a
batch's columns are still in cache when they are copied into the caller's array
(:func:`_copy_columns`), at the decode speed of ``read_row_group`` (README,
"Memory").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DataError
from .base import (COLUMN, DecodedUnit, Source, Unit, check_labels,
                   check_weights, choose_columns, columns_are, looks_like_row_id,
                   row_id_warning)
from ..missing import null_feature_message, reader_options
from ..levels import can_be_categorical, is_categorical_type
from .paths import FileRef
from .parquet_columns import Gaps, nan_filled, numpy_values as _values
from .text import text_checked

# Rows decoded at once (memory: this many rows of every column, ~8 MiB at 32 features).
DECODE_ROWS = 1 << 16
# Bytes read at a time from each column chunk of a local file (0: the whole chunk).
READ_BUFFER = 1 << 18


def _copy_columns(arrays: list[np.ndarray], addresses: np.ndarray, m: int, out: np.ndarray,
                  row: int) -> None:
    """Copy one decoded batch (``m`` values per feature: ``arrays``, whose data
    pointers are ``addresses``) into ``out[row:row + m]``.

    Column-major ``out``: a numpy memcpy per column (faster than the kernel, and no
    numba needed: the statistics pass decodes while numba loads). Row-major: the
    kernel's cache-blocked transpose (faster than numpy's; README, "Speed"). Either
    way the same bytes land in ``out``.
    """
    if out.strides[0] == out.itemsize:  # column-major
        target = out[row:row + m]
        for j, values in enumerate(arrays):
            target[:, j] = values
        return
    from ..kernels import columns_into

    columns_into(addresses, m, out, row)


def _is_feature_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def pandas_index_columns(schema: pa.Schema) -> list[str]:
    """The columns that hold a pandas index (``__index_level_0__``, or a named
    index), as the file's pandas metadata names them: ``df.to_parquet`` stores a
    non-default index beside the data, and it is a row label, not a feature."""
    try:
        meta = schema.pandas_metadata
    except Exception:  # malformed metadata: no index known
        return []
    if not meta:
        return []
    return [c for c in meta.get("index_columns", []) if isinstance(c, str)]


def _open(ref: FileRef, dictionary: Sequence[str] = ()) -> pq.ParquetFile:
    """The file, its ``dictionary`` columns read as Arrow dictionaries (a categorical
    string column decoded from Parquet's dictionary pages: a small dictionary and an
    int32 index per row, not a string per row)."""
    try:
        if ref.is_local:
            return pq.ParquetFile(ref.path, pre_buffer=False, buffer_size=READ_BUFFER,
                                  read_dictionary=list(dictionary) or None)
        # Remote: one range request per column chunk (see readers.paths).
        return pq.ParquetFile(ref.open(), pre_buffer=False,
                              read_dictionary=list(dictionary) or None)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{ref.url}: not a readable Parquet file ({exc})") from None


class ParquetSource(Source):
    """Rows of one or more Parquet files that share a schema."""

    format = "parquet"
    layout = COLUMN  # a copy per decoded column
    reuse_buffers = True
    unit_kind = "row groups"

    def __init__(self, files: list[FileRef], *, label: str | None,
                 features: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
                 weight: str | None = None, categorical: Sequence[str] | None = None):
        self.files = files
        self.label = label
        self.weight = weight
        self._open: dict[int, pq.ParquetFile] = {}
        self._step = 0  # rows of a piece (``cut_units``; 0: units are whole row groups)
        self._cursor = None  # (file, row group, next row, batches, rest of a batch)
        self._ends: dict = {}  # (file, row group) -> its rows, once cut
        self._dictionary: list[str] = []  # string columns read as Arrow dictionaries
        first = self._file(0)
        schema = first.schema_arrow
        if label is not None and label not in schema.names:
            raise DataError(
                f"{files[0].url}: no label column {label!r}; {columns_are(schema.names, label)}"
            )
        columns = [(f.name, None if _is_feature_type(f.type) else str(f.type)) for f in schema]
        self.feature_names, self.categorical, self.left_out = choose_columns(
            columns, label=label, features=features, exclude=exclude,
            index_columns=pandas_index_columns(schema), where=files[0].url, weight=weight,
            categorical=categorical,
            category_columns=[f.name for f in schema if is_categorical_type(f.type)],
            discrete_columns=[f.name for f in schema if can_be_categorical(f.type)])
        # the categorical columns the user named (refused, not left out, past --max-levels)
        self.named_categorical = [c for c in self.categorical
                                  if c in (categorical or ()) or c in (features or ())]
        self.column_warnings = []
        strings = [c for c in self.categorical if pa.types.is_string(schema.field(c).type)
                   or pa.types.is_large_string(schema.field(c).type)]
        # the file's own types, for inspect (before string columns read as dictionaries)
        self._stored_types = {f.name: str(f.type) for f in schema}
        if strings:  # from now on read from the dictionary pages (the same values)
            self._dictionary = strings
            self.close()
            schema = self._file(0).schema_arrow
        used = self.feature_names + self.categorical + [c for c in (label, weight)
                                                        if c is not None]
        self._types = {name: schema.field(name).type for name in used}
        all_float32 = bool(self.feature_names) and all(
            pa.types.is_float32(self._types[n]) for n in self.feature_names)
        self.dtype = np.dtype(np.float32 if all_float32 else np.float64)

        self.units = []
        for k, ref in enumerate(files):
            pf = self._file(k)
            if k:
                self._check_schema(ref, pf.schema_arrow)
            meta = pf.metadata
            for rg in range(meta.num_row_groups):
                n = meta.row_group(rg).num_rows
                if n:
                    self.units.append(Unit(k, rg, n))
        if not self.units:
            raise DataError(f"{files[0].url}: no rows (the Parquet file has a schema but no data)"
                            if len(files) == 1 else "the input files hold no rows")
        if features is None:
            self.column_warnings = [row_id_warning(files[0].url, name)
                                    for name in self._row_id_columns()]
            self._warn_columns()

    def _row_id_columns(self) -> list[str]:
        """Integer features that look like a row id: strictly increasing in the
        first row group (one read of those columns only) and, where the file has
        statistics, from each row group to the next."""
        ints = [n for n in self.feature_names if pa.types.is_integer(self._types[n])]
        if not ints:
            return []
        u = self.units[0]
        pf = self._file(u.file)
        try:
            table = pf.read_row_group(u.index, columns=ints)
        except (pa.ArrowException, OSError):
            return []  # reading the data will say what is wrong
        meta = pf.metadata
        found = []
        for name in ints:
            column = table.column(name)
            if column.null_count or not looks_like_row_id(_values(column)):
                continue
            j = pf.schema_arrow.get_field_index(name)
            last = None
            increasing = True
            for rg in range(meta.num_row_groups):
                stats = meta.row_group(rg).column(j).statistics
                if stats is None or not stats.has_min_max:
                    continue
                if last is not None and stats.min <= last:
                    increasing = False
                    break
                last = stats.max
            if increasing:
                found.append(name)
        return found

    # ------------------------------------------------------------------
    def _file(self, k: int) -> pq.ParquetFile:
        pf = self._open.get(k)
        if pf is None:
            self._cursor = None
            # Keep the number of open files small: the stream reads one file after another.
            for other in list(self._open):
                self._open.pop(other).close()
            pf = self._open[k] = _open(self.files[k], self._dictionary)
        return pf

    def _check_schema(self, ref: FileRef, schema: pa.Schema) -> None:
        for name, expected in self._types.items():
            if name not in schema.names:
                raise DataError(
                    f"{ref.url}: no column {name!r}, which {self.files[0].url} has; "
                    "all files must share one schema"
                )
            got = schema.field(name).type
            if got != expected:
                raise DataError(
                    f"{ref.url}: column {name!r} is {got} but in {self.files[0].url} it is "
                    f"{expected}; all files must share one schema"
                )

    def describe(self, i: int) -> str:
        u = self.units[i]
        piece = f" from row {u.start}" if u.start else ""
        return f"{self.files[u.file].url}, row group {u.index}{piece}"

    def pieces(self, rows: int) -> list[Unit]:
        """Each row group of more than ``rows`` rows cut into consecutive pieces of
        ``rows`` rows rounded down to whole decode batches (``DECODE_ROWS``; fewer rows
        than that: pieces of ``rows``), the last one shorter. Read in order by one
        source (:meth:`_batches`), the pieces of a row group decode it once."""
        step = max(1, rows if rows < DECODE_ROWS else rows - rows % DECODE_ROWS)
        cut = []
        for u in self.units:
            if u.n_rows <= step:
                cut.append(u)
            else:
                cut.extend(Unit(u.file, u.index, min(step, u.n_rows - first), u.start + first)
                           for first in range(0, u.n_rows, step))
        return cut

    def cut_units(self, rows: int) -> None:
        self._ends = {(u.file, u.index): u.start + u.n_rows for u in self.units}
        self.units = self.pieces(rows)
        self._step = min(rows, DECODE_ROWS)

    def _batches(self, u: Unit, columns: list[str]):
        """The record batches of unit ``u``'s rows (``DECODE_ROWS`` at a time): its row
        group's; for a piece, those of its rows, continuing the reader of the piece
        before it when ``u`` follows that one (a full pass reads a row group's pieces
        in order; else the row group is read from its start to the piece)."""
        pf = self._file(u.file)
        if not self._step:
            yield from pf.iter_batches(batch_size=DECODE_ROWS, row_groups=[u.index],
                                       columns=columns, use_threads=False)
            return
        cursor, self._cursor = self._cursor, None  # (unusable if this read fails)
        if cursor is None or cursor[:3] != (u.file, u.index, u.start) or cursor[5] != columns:
            batches = pf.iter_batches(batch_size=self._step, row_groups=[u.index],
                                      columns=columns, use_threads=False)
            cursor = (u.file, u.index, 0, batches, None, columns)
        batches, rest = cursor[3], cursor[4]
        skip, need = u.start - cursor[2], u.n_rows
        while need:
            batch = rest if rest is not None else next(batches, None)
            if batch is None:
                return  # fewer rows than the metadata says: read() names it
            rest = None
            if skip:
                batch, skip = batch.slice(min(skip, batch.num_rows)), max(0, skip - batch.num_rows)
                if not batch.num_rows:
                    continue
            if batch.num_rows > need:
                batch, rest = batch.slice(0, need), batch.slice(need)
            need -= batch.num_rows
            yield batch
        end = u.start + u.n_rows
        if end < self._ends[u.file, u.index]:  # (at the end: its decoders freed)
            self._cursor = (u.file, u.index, end, batches, rest, columns)

    def reopen_args(self) -> dict:
        return {"label": self.label, "features": list(self.feature_names),
                "weight": self.weight, "categorical": list(self.categorical),
                **reader_options(self)}

    def schema(self) -> dict:
        """Every column of the first file and its Arrow type, as stored."""
        return dict(self._stored_types)

    def labels(self, i: int) -> np.ndarray:
        """The labels of row group ``i``, reading only the label column."""
        return self._labels(self.label_values(i), self.describe(i))

    def label_range(self) -> tuple | None:
        lo = hi = None
        for k in range(len(self.files)):
            pf = self._file(k)
            j = pf.schema_arrow.get_field_index(self.label)
            for rg in range(pf.metadata.num_row_groups):
                stats = pf.metadata.row_group(rg).column(j).statistics
                if stats is None or not stats.has_min_max:
                    return None  # (unknown: the check is skipped)
                lo = stats.min if lo is None else min(lo, stats.min)
                hi = stats.max if hi is None else max(hi, stats.max)
        return None if lo is None else (lo, hi)

    def label_values(self, i: int):
        """The label column of row group ``i`` (or piece) as stored (an Arrow array)."""
        u = self.units[i]
        table = self._file(u.file).read_row_group(u.index, columns=[self.label])
        column = (table.slice(u.start, u.n_rows) if self._step else table).column(0)
        return text_checked(column, self.label, self.describe(i))

    def null_counts(self) -> dict[str, int]:
        """Nulls per column of every file: each row group's statistics where the
        writer stored a null count, else that column chunk read alone and counted
        (``pyarrow.compute.count(mode="only_null")``): memory stays at one column
        of one row group."""
        import pyarrow.compute as pc

        counts = {name: 0 for name in self._file(0).schema_arrow.names}
        for u in self.units:
            pf = self._file(u.file)
            names = pf.schema_arrow.names
            group = pf.metadata.row_group(u.index)
            leaves = {group.column(j).path_in_schema: j for j in range(group.num_columns)}
            for name in counts:
                if name not in names:
                    continue
                stats = group.column(leaves[name]).statistics if name in leaves else None
                if stats is not None and stats.has_null_count:
                    counts[name] += int(stats.null_count)
                else:  # no statistics, or a nested column: count it
                    column = pf.read_row_group(u.index, columns=[name]).column(0)
                    counts[name] += int(pc.count(column, mode="only_null").as_py())
        return counts

    def check_keep(self, keep: Sequence[str]) -> None:
        """DataError naming a ``--keep`` column that some file does not have
        (asked before any output is written)."""
        for k, ref in enumerate(self.files):
            names = self._file(k).schema_arrow.names
            for name in keep:
                if name not in names:
                    raise DataError(f"{ref.url}: --keep names no column {name!r}; "
                                    f"{columns_are(names, name)}")

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        """Decode row group ``i``: features into ``out`` (an ``(n_rows, n_features)``
        array of ``self.dtype``, row- or column-major; default a new column-major
        one), labels checked, and the ``keep`` columns as Arrow arrays."""
        return self._read(i, keep, out, None)

    def read_imputed(self, i: int, fills, *, keep: Sequence[str] = (),
                     out: np.ndarray | None = None) -> DecodedUnit:
        """:meth:`read` imputed by ``fills`` with the indicators appended, written by
        the copy of each decoded batch into ``out`` (:class:`.parquet_nulls.Gaps`)."""
        if keep:
            return super().read_imputed(i, fills, keep=keep, out=out)
        return self._read(i, keep, out, fills)

    def _read(self, i: int, keep: Sequence[str], out: np.ndarray | None, fills) -> DecodedUnit:
        u = self.units[i]
        where = self.describe(i)
        d = self.n_features
        width = d + (len(fills.indicators) if fills is not None else 0)
        if out is None:
            # Column-major: each column is one contiguous copy; the kernels take the
            # (n, d) transpose view as it is.
            out = np.empty((width, u.n_rows), dtype=self.dtype).T
        elif out.shape != (u.n_rows, width) or out.dtype != self.dtype:
            raise ValueError(f"out must be ({u.n_rows}, {width}) {self.dtype}, "
                             f"got {out.shape} {out.dtype}")
        if keep:
            return self._read_whole(u, where, keep, out)
        gaps = Gaps(d, fills, self.dtype) if self.missing != "error" else None
        nulls = np.zeros(d, dtype=np.bool_)  # the columns with a null (DecodedUnit.gaps)
        columns = list(dict.fromkeys(self.feature_names + self._extra_columns()))
        index = None
        labels, weights = [], []
        categories = {name: [] for name in self.categorical}
        row = 0
        addresses = np.empty(d, dtype=np.int64)
        try:
            for batch in self._batches(u, columns):
                m = batch.num_rows
                if index is None:  # batch columns by name (whatever order pyarrow uses)
                    index = [batch.schema.get_field_index(name) for name in columns]
                    index_of = dict(zip(columns, index))
                    features = [index_of[name] for name in self.feature_names]
                arrays = []
                for j in range(d):
                    column = batch.column(features[j])
                    if not column.null_count:
                        values = _values(column)
                    elif gaps is None:
                        self._nulls(column, u, where)  # (raises)
                    else:
                        values = gaps.values(j, column)
                        nulls[j] = True
                    if values.dtype != self.dtype or not values.flags.c_contiguous:
                        values = np.ascontiguousarray(values, dtype=self.dtype)
                    arrays.append(values)  # alive until copied
                    addresses[j] = values.ctypes.data
                if row + m > u.n_rows:
                    raise DataError(f"{where}: holds more rows than its metadata says ({u.n_rows})")
                if gaps is None:
                    _copy_columns(arrays, addresses, m, out, row)
                else:
                    gaps.copy(addresses, m, out, row)
                del arrays
                if self.label:
                    labels.append(batch.column(index_of[self.label]))
                if self.weight:
                    weights.append(batch.column(index_of[self.weight]))
                for name, chunks in categories.items():
                    chunks.append(batch.column(index_of[name]))
                row += m
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{where}: cannot be decoded ({exc})") from None
        if row != u.n_rows:
            raise DataError(f"{where}: holds {row} rows but its metadata says {u.n_rows}")
        y = w = None
        if self.label:
            y = self._labels(pa.chunked_array(labels, type=self._types[self.label]), where)
        if self.weight:
            w = self._weights(pa.chunked_array(weights, type=self._types[self.weight]), where)
        extra = {name: text_checked(pa.chunked_array(chunks, type=self._types[name]), name,
                                     where)
                 for name, chunks in categories.items()}
        return DecodedUnit(out, y, where, extra, w,
                           gaps=nulls if fills is None and nulls.any() else None)

    def _extra_columns(self) -> list[str]:
        """The columns read beside the features: the label, the weight and the
        categorical columns (given raw in ``DecodedUnit.extra``, :mod:`streamneuron.levels`)."""
        return [c for c in (self.label, self.weight) if c] + list(self.categorical)

    def _weights(self, column, where: str) -> np.ndarray:
        if column.null_count:
            raise DataError(f"{where}: weight column {self.weight!r} has "
                            f"{column.null_count} null value(s); weights must be numbers >= 0")
        return check_weights(_values(column), column=self.weight, where=where)

    def _nulls(self, column, u: Unit, where: str):
        """A feature column with nulls: as float64 with NaN (``--missing`` impute or
        drop), else the error, counted over the whole row group and the input."""
        if self.missing != "error":  # (a float column keeps its type: no copy to float64)
            return nan_filled(column)
        table = self._file(u.file).read_row_group(u.index, columns=self.feature_names)
        for name in self.feature_names:
            nulls = table.column(name).null_count
            if nulls:
                raise DataError(null_feature_message(where, name, nulls, self.null_counts))

    def _labels(self, labels, where: str) -> np.ndarray:
        numeric = (pa.types.is_integer(labels.type) or pa.types.is_floating(labels.type)
                   or pa.types.is_boolean(labels.type))
        if not numeric:
            values = np.asarray(text_checked(labels, self.label, where).to_pylist(), dtype=object)
        elif labels.null_count:
            values = _values(pc.fill_null(labels.cast(pa.float64()), np.nan))
        else:
            values = _values(labels)
        return check_labels(values, label=self.label, where=where, positive=self.positive,
                            negative=self.negative,
                            missing=self.missing)

    def _read_whole(self, u: Unit, where: str, keep: Sequence[str],
                    out: np.ndarray) -> DecodedUnit:
        """The row group in one piece, with the ``keep`` columns (predict --keep)."""
        columns = list(dict.fromkeys(self.feature_names + self._extra_columns() + list(keep)))
        try:
            table = self._file(u.file).read_row_group(u.index, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{where}: cannot be decoded ({exc})") from None
        except KeyError:  # a --keep column that is not in the file
            self.check_keep(keep)
            raise
        if self._step:  # a piece of the row group
            table = table.slice(u.start, u.n_rows)
        for j, name in enumerate(self.feature_names):
            column = table.column(name)
            if column.null_count:
                column = self._nulls(column, u, where)
            out[:, j] = _values(column)
        y = self._labels(table.column(self.label), where) if self.label else None
        w = self._weights(table.column(self.weight), where) if self.weight else None
        extra = {name: table.column(name) for name in keep}
        extra.update({name: text_checked(table.column(name), name, where)
                      for name in self.categorical})
        return DecodedUnit(out, y, where, extra, w)

    def close(self) -> None:
        for k in list(self._open):
            self._open.pop(k).close()
