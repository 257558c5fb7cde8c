"""HDF5 reader: datasets ``X`` (n, d) and ``y`` (n,), or a pandas DataFrame
written by ``df.to_hdf`` (format "fixed" or "table"), read in chunk-aligned slices.

A unit is a run of whole HDF5 chunks along the rows (at least
``TARGET_UNIT_ROWS`` rows), so every read decompresses each chunk once. Files
are opened read-only and closed when the source is closed. h5py is imported
only when an HDF5 file is opened (a start-up cost in time and memory that
Parquet users need not pay; README, "Memory").

Which layout: ``x_key`` names a dataset (the X/y layout), a pandas group, or a group of
1-D datasets, one per column (:mod:`.hdf5_columns`); when the default ``X`` is absent,
the file's only pandas DataFrame, else its 1-D datasets (``x_key`` "/"), are read. The
label is a dataset (X/y layout) or a column named by ``y_key`` if given, else ``label``.

Categorical columns (:mod:`streamneuron.levels`) and string labels: in the X/y layout,
1-D datasets of ``n`` rows beside ``X``: text (h5py variable-length strings, fixed-length
bytes) and enums (their names) are categorical by default, integers and booleans when
``--categorical`` names them; the label dataset may hold text or an enum (``--positive``).
In a pandas frame (``format="table"``): its string, object and ``category`` columns, and
integer or boolean ones named (:mod:`.pandas_hdf5`). Each is given raw, as Arrow arrays in
``DecodedUnit.extra`` (:mod:`.hdf5_values`), a unit's rows at a time, as a Parquet row
group's. ``inspect``'s null counts come from a read of the files (:mod:`.hdf5_nulls`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from ..missing import reader_options
from .base import (ROW, DecodedUnit, Source, Unit, check_labels, check_weights,
                   choose_columns, columns_are, looks_like_row_id, name_list, row_id_warning)
from .hdf5_values import (as_label_values, column_array, column_kind, enum_names,
                          is_coded_dtype, text_type_name)
from .hdf5_columns import ColumnGroup, column_datasets, weight_problem
from .hdf5_nulls import COUNTED_BY, count_nulls
from .pandas_hdf5 import PICKLED, PandasFrame, frame_columns, pandas_frames, read_frame
from .paths import FileRef

# Rows per unit when X is not chunked, and the least rows a unit of chunks gets:
# big enough that per-unit Python work is negligible, small enough for memory.
TARGET_UNIT_ROWS = 1 << 16


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biuf" and enum_names(dtype) is None


def _kind(dtype: np.dtype) -> str:
    return column_kind(dtype) or str(dtype)


def label_key(label: str | None, y_key: str | None) -> str | None:
    """The label's name in an HDF5 file: ``y_key`` if given, else ``label``.
    Two different names are refused rather than one silently ignored (the
    library's default ``label="y"`` gives way to ``y_key``)."""
    if label is None:
        return None
    if y_key is None:
        return label
    if label not in ("y", y_key):
        raise ConfigError(f"label {label!r} and y_key {y_key!r} name two different label "
                          "datasets; give one (--label or --y-key)")
    return y_key


class HDF5Source(Source):
    """Rows of one or more HDF5 files with the same layout (X/y or a pandas frame)."""

    format = "hdf5"
    layout = ROW  # rows as stored
    reuse_buffers = True
    unit_kind = "chunk ranges"

    def __init__(self, files: list[FileRef], *, label: str | None, x_key: str = "X",
                 y_key: str | None = None, features: Sequence[str] | None = None,
                 exclude: Sequence[str] | None = None, positional: bool = False,
                 weight: str | None = None, categorical: Sequence[str] | None = None):
        self.files = files
        self._positional = positional
        self.weight = weight
        self.x_key = x_key
        self.label = label_key(label, y_key)
        self.y_key = self.label or y_key or "y"
        self.pandas: PandasFrame | None = None
        self._handles: dict[int, tuple] = {}
        self.units = []
        self._columns: np.ndarray | None = None
        self.by_position = False
        self.left_out, self.column_warnings = [], []
        for k, ref in enumerate(files):
            X, y = self._datasets(k)
            if k == 0:
                if self.pandas is not None:
                    self._set_pandas_features(ref, features, exclude, categorical)
                else:
                    names = self._names(X)
                    self._set_features(ref, names, features, exclude, categorical)
                    self.dtype = np.dtype(np.float32 if X.dtype == np.float32
                                          and self._columns is None else np.float64)
                    self._file_dtype = X.dtype
                self._signature = self._layout_signature(k)
            elif self._layout_signature(k) != self._signature:
                raise DataError(
                    f"{ref.url}: the layout of {self.x_key!r} differs from {files[0].url} "
                    f"({self._describe_signature(self._layout_signature(k))} vs "
                    f"{self._describe_signature(self._signature)}); all files must share one "
                    "layout")
            if self.pandas is not None:
                frame = self._handles[k][1]
                chunk, n = frame.chunk_rows, frame.n_rows
            else:
                chunk, n = (X.chunks[0] if X.chunks else None), X.shape[0]
            step = chunk or TARGET_UNIT_ROWS
            step *= max(1, TARGET_UNIT_ROWS // step)
            self.units.extend(Unit(k, start, min(step, n - start)) for start in range(0, n, step))
            if k < len(files) - 1:
                self._close(k)
        if not self.units:
            raise DataError(f"{files[0].url}: {self.x_key!r} has no rows")
        if features is None:
            self.column_warnings = [row_id_warning(files[0].url, name)
                                    for name in self._row_id_columns()]
            self._warn_columns()

    # ------------------------------------------------------------------
    def _datasets(self, k: int):
        """``(X, y)`` datasets of file ``k`` for the X/y layout; ``(frame, None)``
        for a pandas frame (also kept as ``self.pandas`` for file 0)."""
        if k in self._handles:
            return self._handles[k][1:]
        for other in list(self._handles):
            self._close(other)
        ref = self.files[k]
        import h5py

        try:
            f = h5py.File(ref.path if ref.is_local else ref.open(), "r")
        except OSError as exc:
            raise DataError(f"{ref.url}: not a readable HDF5 file ({exc})") from None
        try:
            self._handles[k] = (f, *self._find_layout(f, ref))
        except BaseException:
            f.close()
            raise
        return self._handles[k][1:]

    def _find_layout(self, f, ref: FileRef) -> tuple:
        import h5py

        keys = ", ".join(sorted(f.keys())) or "none"
        key = self.x_key
        if key not in f and key == "X":
            frames = pandas_frames(f)
            if len(frames) == 1:
                key = self.x_key = frames[0]
            elif len(frames) > 1:
                raise DataError(f"{ref.url}: holds several pandas objects "
                                f"({', '.join(sorted(frames))}); name one with --x-key")
            elif column_datasets(f):  # no matrix, no frame: 1-D datasets, one per column
                key = self.x_key = "/"
        if key not in f:
            raise DataError(f"{ref.url}: no dataset {key!r} (datasets: {keys}); "
                            "name yours with --x-key")
        X = f[key]
        if isinstance(X, h5py.Group) and ("pandas_type" in X.attrs or column_datasets(X)):
            frame = (PandasFrame if "pandas_type" in X.attrs else ColumnGroup)(f, key, ref.url)
            if self.pandas is None:
                self.pandas = frame
            if self.label is not None:
                if self.label not in frame.problems:
                    raise DataError(
                        f"{ref.url}: {frame.what} has no label column {self.label!r}; "
                        f"{columns_are(frame.names, self.label)}; name yours with --label")
                if self.label in frame.pickled:
                    raise DataError(
                        f"{ref.url}: label column {self.label!r} {PICKLED}")
                if frame.problems[self.label] is not None and self.label not in frame.kinds:
                    raise DataError(
                        f"{ref.url}: label column {self.label!r} has type "
                        f"{frame.problems[self.label]}; labels must be 0/1 integers, 0.0/1.0 "
                        "floats, booleans, or two values and --positive")
            return frame, None
        y = None
        if self.label is not None:
            if self.label not in f:
                raise DataError(f"{ref.url}: no label dataset {self.label!r} "
                                f"({columns_are(sorted(f.keys()), self.label, 'datasets')}); "
                                "name yours with --label or --y-key")
            y = f[self.label]
        problem = None
        if isinstance(X, h5py.Group):
            problem = (f"{key!r} is a group, not a dataset or a pandas DataFrame; name the "
                       "features dataset with --x-key")
        elif X.ndim != 2:
            problem = f"dataset {key!r} must be 2-D (rows, features), got shape {X.shape}"
        elif not _numeric(X.dtype):
            problem = f"dataset {key!r} has dtype {text_type_name(X.dtype)}, not numbers"
        elif y is not None and (not isinstance(y, h5py.Dataset) or y.ndim != 1):
            problem = f"dataset {self.label!r} must be 1-D, got shape {getattr(y, 'shape', '?')}"
        elif y is not None and not (_numeric(y.dtype) or is_coded_dtype(y.dtype)):
            problem = (f"label dataset {self.label!r} has dtype {y.dtype}; labels must be 0/1 "
                       "integers, 0.0/1.0 floats, booleans, or two values and --positive")
        elif y is not None and y.shape[0] != X.shape[0]:
            problem = (f"{key!r} has {X.shape[0]} rows but {self.label!r} has "
                       f"{y.shape[0]}; they must have the same length")
        elif self.weight is not None:
            problem = weight_problem(f, X, weight=self.weight, label=self.label,
                                     x_key=self.x_key)
        if problem:
            raise DataError(f"{ref.url}: {problem}")
        return X, y

    def _layout_signature(self, k: int) -> tuple:
        X, _ = self._datasets(k)
        if isinstance(X, PandasFrame):
            return ("pandas", tuple(X.names),
                    tuple(X.kinds.get(n) or str(X.dtypes[n]) for n in X.names))
        side = self._side(k)
        return ("arrays", tuple(self._names(X)), str(X.dtype),
                tuple((c, _kind(side[c]) if c in side else "absent") for c in self.categorical))

    @staticmethod
    def _describe_signature(sig: tuple) -> str:
        if sig[0] == "pandas":
            return f"pandas columns {', '.join(sig[1])}"
        cats = ", ".join(f"{c} {kind}" for c, kind in sig[3])
        return f"{len(sig[1])} columns of {sig[2]}" + (f"; categorical {cats}" if cats else "")

    def _side(self, k: int) -> dict:
        """File ``k``'s 1-D datasets of ``X``'s rows beside it (not the label, not the
        weight): the X/y layout's categorical columns, name -> dtype."""
        f = self._handles[k][0]
        X = self._handles[k][1]
        import h5py

        return {name: ds.dtype for name, ds in f.items()
                if isinstance(ds, h5py.Dataset) and ds.ndim == 1 and ds.shape[0] == X.shape[0]
                and name not in (self.x_key, self.label, self.weight)}

    def _names(self, X) -> list[str]:
        names = X.attrs.get("feature_names")
        if names is not None and len(names) == X.shape[1]:
            self.named_columns = True
            return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        # Unnamed columns are only positions: a model must then match their count.
        self.named_columns = False
        return [f"x{j}" for j in range(X.shape[1])]

    @property
    def all_columns(self) -> int:
        """Number of columns of ``X`` (the features may select some of them)."""
        return len(self._all_names)

    def _set_features(self, ref: FileRef, names: list[str], features, exclude,
                      categorical) -> None:
        """The features (columns of ``X``) and the categorical columns (datasets beside
        it: text by default, integers and booleans when named), as for Parquet."""
        self._all_names = names
        side = {n: dt for n, dt in self._side(0).items() if n not in names}
        named = list(categorical or ())
        where = f"{ref.url}: dataset {self.x_key!r}"
        for name in features or ():
            if name in side and not is_coded_dtype(side[name]) and name not in named:
                raise DataError(f"{ref.url}: {name!r} is a dataset beside {self.x_key!r}, not "
                                f"a column of it: name it in --categorical to one-hot encode "
                                f"it (number features are the columns of {self.x_key!r})")
        columns = [(n, None) for n in names] + [
            (n, column_kind(dt) if dt.kind != "f" else str(dt))
            for n, dt in side.items() if is_coded_dtype(dt) or n in named]
        if (self._positional and features is not None and not self.named_columns
                and len(features) == len(names)
                and not exclude and any(f not in names for f in features)):
            # Unnamed columns are positions: a model trained elsewhere (Parquet
            # columns x00..x07) takes them in order when the count agrees.
            self.feature_names = list(features)
            self.by_position = True
            features, columns = [], [c for c in columns if c[0] in side]
        chosen = choose_columns(
            columns, label=None, features=features, exclude=exclude, where=where,
            categorical=named, category_columns=[n for n, dt in side.items()
                                                 if is_coded_dtype(dt)],
            discrete_columns=[n for n, dt in side.items() if dt.kind in "biu"])
        self.categorical, self.left_out = chosen.categorical, chosen.left_out
        self.named_categorical = [c for c in self.categorical if c in named
                                  or c in (features or ())]
        if self.by_position:
            return
        self.feature_names = chosen.features
        if self.feature_names != names:
            self._columns = np.array([names.index(f) for f in self.feature_names], dtype=np.intp)

    def _set_pandas_features(self, ref: FileRef, features, exclude, categorical) -> None:
        frame = self.pandas
        self.named_columns = True
        self._all_names = list(frame.names)
        chosen = frame_columns(frame, f"{ref.url}: {frame.what}",
                               label=self.label, features=features, exclude=exclude,
                               weight=self.weight, categorical=categorical)
        self.feature_names, self.categorical, self.left_out = chosen
        self.named_categorical = [c for c in self.categorical if c in (categorical or ())
                                  or c in (features or ())]
        all_float32 = all(frame.dtypes[n] == np.float32 for n in self.feature_names)
        self.dtype = np.dtype(np.float32 if all_float32 else np.float64)
        self._file_dtype = self.dtype

    def _row_id_columns(self) -> list[str]:
        """Integer features whose values in the first unit are all distinct and increasing."""
        X, _ = self._datasets(0)
        n = self.units[0].n_rows
        if isinstance(X, PandasFrame):
            ints = [c for c in self.feature_names
                    if X.dtypes[c].kind in "iu" and X.problems[c] is None]
            values = X.read(slice(0, n), ints) if ints else []
            return [c for c, v in zip(ints, values) if looks_like_row_id(v)]
        if X.dtype.kind not in "iu" or self.by_position:
            return []
        block = X[:n]
        names = self._all_names
        return [c for c in self.feature_names if looks_like_row_id(block[:, names.index(c)])]

    def layout_info(self) -> dict:
        """What ``inspect`` shows of the first file's layout."""
        X, _ = self._datasets(0)
        if isinstance(X, PandasFrame):
            kind = "layout" if X.layout == "columns" else "pandas_format"
            return {"x_key": X.key, kind: X.layout, "shape": [X.n_rows, len(X.names)],
                    "dtype": str(self.dtype), "chunks": [X.chunk_rows] if X.chunk_rows else None,
                    "compression": X.compression()}
        return {"x_key": self.x_key, "shape": list(X.shape), "dtype": str(X.dtype),
                "chunks": list(X.chunks) if X.chunks else None, "compression": X.compression}

    def details(self) -> dict:
        return {"hdf5": self.layout_info(), "nulls_counted": COUNTED_BY}

    def null_counts(self) -> dict[str, int]:
        """Nulls per column of every file, from a read of the files (HDF5 stores no
        statistics), a chunk range and a dataset at a time: :mod:`.hdf5_nulls`."""
        counts: dict[str, int] = {}
        for k in range(len(self.files)):
            X, _ = self._datasets(k)
            ranges = [(slice(u.index, u.index + u.n_rows), self.describe(i))
                      for i, u in enumerate(self.units) if u.file == k]
            count_nulls(counts, X, ranges, self._handles[k][0], self._all_names)
        return counts

    def schema(self) -> dict:
        """Every column and its type (pandas frames: the stored dtype or the reason
        it is not a number)."""
        X, y = self._datasets(0)
        if isinstance(X, PandasFrame):
            return {n: X.type_name(n) for n in X.names}
        schema = {n: str(X.dtype) for n in self._all_names}
        for name, dtype in self._side(0).items():
            schema.setdefault(name, text_type_name(dtype))
        if y is not None:
            schema[self.label] = text_type_name(y.dtype)
        return schema

    def _close(self, k: int) -> None:
        f = self._handles.pop(k)[0]
        f.close()

    def describe(self, i: int) -> str:
        u = self.units[i]
        return f"{self.files[u.file].url}, rows {u.index}-{u.index + u.n_rows - 1} (chunk range {i})"

    def reopen_args(self) -> dict:
        return {"label": self.label, "features": list(self.feature_names),
                "x_key": self.x_key, "y_key": self.y_key, "weight": self.weight,
                "categorical": list(self.categorical), **reader_options(self)}

    def fingerprint(self) -> dict:
        """The files' fingerprint and the HDF5 dataset names (``x_key``, ``y_key``)."""
        return {**super().fingerprint(), "x_key": self.x_key, "y_key": self.y_key}

    def check_model_columns(self, names: Sequence[str]) -> None:
        """An ``X`` without column names: a DataWarning when its columns are taken
        by position as ``names`` (``positional=True``), a ModelError when their
        count is not ``len(names)``."""
        if self.by_position:
            import warnings

            from ..errors import DataWarning

            warnings.warn(f"{self.files[0].url}: dataset {self.x_key!r} has no column names; "
                          f"its {self.all_columns} columns are taken by position as the model's "
                          f"features {name_list(names, limit=6, ends=2)}",
                          DataWarning, stacklevel=4)
        if self.named_columns is False and self.all_columns != len(names):
            from ..errors import ModelError

            raise ModelError(
                f"{self.files[0].url}: dataset {self.x_key!r} has {self.all_columns} unnamed "
                f"columns but the model has {len(names)} weights; use the data it was "
                "trained on, or name the columns (attribute 'feature_names')")

    def check_keep(self, keep: Sequence[str]) -> None:
        if not keep:
            return
        if self.pandas is None:
            self._datasets(0)
            side = self._side(0)
            for name in keep:
                if name not in side:
                    raise DataError(f"{self.files[0].url}: --keep names no 1-D dataset {name!r} "
                                    f"beside {self.x_key!r}; {columns_are(list(side), name)}")
            return
        frame = self.pandas
        for name in keep:
            if name not in frame.problems:
                raise DataError(f"{self.files[0].url}: --keep names no column {name!r}; "
                                f"{columns_are(frame.names, name)}")
            if name not in frame._where:
                raise DataError(f"{self.files[0].url}: --keep {name}: {PICKLED}")

    def label_values(self, i: int) -> np.ndarray:
        """The labels of chunk range ``i`` as stored (the label dataset or column alone)."""
        u = self.units[i]
        X, y = self._datasets(u.file)
        rows = slice(u.index, u.index + u.n_rows)
        if isinstance(X, PandasFrame):  # (floats as numpy: a NaN label is a null one)
            values = X.read(rows, [self.label])[0]
            return values if values.dtype.kind == "f" else X.arrow(
                self.label, values, self.describe(i), "label column")
        if is_coded_dtype(y.dtype):
            return column_array(y[rows], y.dtype, where=self.describe(i), column=self.label,
                                what="label dataset")
        return y[rows]

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        """Read chunk range ``i``; with ``out`` (an ``(n_rows, n_features)`` array of
        ``self.dtype``) the features are written there: straight from the file
        (``read_direct``) when ``out`` is row-major and no conversion or column
        selection is needed, else through a temporary array."""
        u = self.units[i]
        if keep:
            self.check_keep(keep)  # (of the first file: before this one is opened)
        X, y = self._datasets(u.file)
        rows = slice(u.index, u.index + u.n_rows)
        where = self.describe(i)
        if out is not None and (out.shape != (u.n_rows, self.n_features)
                                or out.dtype != self.dtype):
            raise ValueError(f"out must be ({u.n_rows}, {self.n_features}) {self.dtype}, "
                             f"got {out.shape} {out.dtype}")
        if isinstance(X, PandasFrame):
            return read_frame(self, X, rows, where, keep, out)
        direct = (out is not None and self._columns is None and X.dtype == self.dtype
                  and out.flags.c_contiguous)
        f = self._handles[u.file][0]
        try:
            if direct:
                X.read_direct(out, np.s_[rows])
                block = out
            elif not self.n_features:  # the categorical columns alone (inspect)
                block = np.empty((u.n_rows, 0), self.dtype)
            else:
                block = X[rows]
            labels = y[rows] if y is not None else None
            weights = f[self.weight][rows] if self.weight is not None else None
            extra = {name: f[name][rows] for name in dict.fromkeys([*self.categorical, *keep])}
        except OSError as exc:
            raise DataError(f"{where}: cannot be read ({exc})") from None
        if not direct:
            if self._columns is not None:
                block = block[:, self._columns]
            block = block.astype(self.dtype, copy=False)
            if out is not None:
                out[...] = block
                block = out
        if labels is not None:
            if is_coded_dtype(y.dtype):
                labels = as_label_values(column_array(labels, y.dtype, where=where,
                                                      column=self.label, what="label dataset"))
            labels = check_labels(labels, label=self.label, where=where,
                                  positive=self.positive, negative=self.negative,
                                  missing=self.missing)
        if weights is not None:
            weights = check_weights(weights, column=self.weight, where=where)
        for name, values in extra.items():
            extra[name] = column_array(values, f[name].dtype, where=where, column=name)
        return DecodedUnit(block, labels, where, extra, weights)

    def close(self) -> None:
        for k in list(self._handles):
            self._close(k)
