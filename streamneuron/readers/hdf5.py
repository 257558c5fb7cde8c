"""HDF5 reader: datasets ``X`` (n, d) and ``y`` (n,), read in chunk-aligned slices.

A unit is a run of whole HDF5 chunks along the rows (at least
``TARGET_UNIT_ROWS`` rows), so every read decompresses each chunk once. Files
are opened read-only and closed when the source is closed. h5py is imported
only when an HDF5 file is opened (it costs ~0.2 s and ~26 MiB at start-up,
which Parquet users need not pay).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError
from .base import Chunk, Source, Unit, check_labels
from .paths import FileRef

# Rows per unit when X is not chunked, and the least rows a unit of chunks gets:
# big enough that per-unit Python work is negligible, small enough for memory.
TARGET_UNIT_ROWS = 1 << 16


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biuf"


class HDF5Source(Source):
    """Rows of one or more HDF5 files with the same ``X``/``y`` layout."""

    format = "hdf5"

    def __init__(self, files: list[FileRef], *, label: str | None, x_key: str = "X",
                 y_key: str = "y", features: Sequence[str] | None = None):
        self.files = files
        self.x_key, self.y_key = x_key, y_key
        self.label = y_key if label is not None else None
        self._handles: dict[int, tuple] = {}
        self.units = []
        self._columns: np.ndarray | None = None
        for k, ref in enumerate(files):
            X, y = self._datasets(k)
            names = self._names(X)
            if k == 0:
                self._set_features(ref, names, features)
                self.dtype = np.dtype(np.float32 if X.dtype == np.float32 and self._columns is None
                                      else np.float64)
                self._file_dtype = X.dtype
            elif names != self._all_names or X.dtype != self._file_dtype:
                raise DataError(
                    f"{ref.url}: dataset {x_key!r} differs from {files[0].url} "
                    f"({X.shape[1]} columns of {X.dtype} vs {len(self._all_names)} of "
                    f"{self._file_dtype}); all files must share one layout"
                )
            step = X.chunks[0] if X.chunks else TARGET_UNIT_ROWS
            step *= max(1, TARGET_UNIT_ROWS // step)
            n = X.shape[0]
            self.units.extend(Unit(k, start, min(step, n - start)) for start in range(0, n, step))
            if k < len(files) - 1:
                self._close(k)
        if not self.units:
            raise DataError(f"{files[0].url}: dataset {x_key!r} has no rows")

    # ------------------------------------------------------------------
    def _datasets(self, k: int):
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
        keys = ", ".join(sorted(f.keys())) or "none"
        if self.x_key not in f:
            f.close()
            raise DataError(f"{ref.url}: no dataset {self.x_key!r} (datasets: {keys}); "
                            "name yours with --x-key")
        X = f[self.x_key]
        y = None
        if self.label is not None:
            if self.y_key not in f:
                f.close()
                raise DataError(f"{ref.url}: no label dataset {self.y_key!r} (datasets: {keys}); "
                                "name yours with --y-key")
            y = f[self.y_key]
        problem = None
        if not isinstance(X, h5py.Dataset) or X.ndim != 2:
            problem = f"dataset {self.x_key!r} must be 2-D (rows, features), got shape {getattr(X, 'shape', '?')}"
        elif not _numeric(X.dtype):
            problem = f"dataset {self.x_key!r} has dtype {X.dtype}, not numbers"
        elif y is not None and (not isinstance(y, h5py.Dataset) or y.ndim != 1):
            problem = f"dataset {self.y_key!r} must be 1-D, got shape {getattr(y, 'shape', '?')}"
        elif y is not None and not _numeric(y.dtype):
            problem = (f"label dataset {self.y_key!r} has dtype {y.dtype}; labels must be 0/1 "
                       "integers, 0.0/1.0 floats or booleans")
        elif y is not None and y.shape[0] != X.shape[0]:
            problem = (f"{self.x_key!r} has {X.shape[0]} rows but {self.y_key!r} has "
                       f"{y.shape[0]}; they must have the same length")
        if problem:
            f.close()
            raise DataError(f"{ref.url}: {problem}")
        self._handles[k] = (f, X, y)
        return X, y

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

    def _set_features(self, ref: FileRef, names: list[str], features) -> None:
        self._all_names = names
        if features is None:
            self.feature_names = names
            return
        missing = [f for f in features if f not in names]
        if missing:
            raise DataError(f"{ref.url}: no feature column {missing[0]!r} in dataset "
                            f"{self.x_key!r}; columns are {', '.join(names)}")
        self.feature_names = list(features)
        if self.feature_names != names:
            self._columns = np.array([names.index(f) for f in features])

    def _close(self, k: int) -> None:
        f = self._handles.pop(k)[0]
        f.close()

    def describe(self, i: int) -> str:
        u = self.units[i]
        return f"{self.files[u.file].url}, rows {u.index}-{u.index + u.n_rows - 1} (chunk range {i})"

    def read(self, i: int, *, keep: Sequence[str] = (), out: np.ndarray | None = None) -> Chunk:
        """Read chunk range ``i``; with ``out`` (an ``(n_rows, n_features)`` array of
        ``self.dtype``) the features are written there: straight from the file
        (``read_direct``) when ``out`` is row-major and no conversion or column
        selection is needed, else through a temporary array."""
        if keep:
            raise DataError(f"{self.files[0].url}: --keep columns are not available for HDF5 input")
        u = self.units[i]
        X, y = self._datasets(u.file)
        rows = slice(u.index, u.index + u.n_rows)
        where = self.describe(i)
        if out is not None and (out.shape != (u.n_rows, self.n_features)
                                or out.dtype != self.dtype):
            raise ValueError(f"out must be ({u.n_rows}, {self.n_features}) {self.dtype}, "
                             f"got {out.shape} {out.dtype}")
        direct = (out is not None and self._columns is None and X.dtype == self.dtype
                  and out.flags.c_contiguous)
        try:
            if direct:
                X.read_direct(out, np.s_[rows])
                block = out
            else:
                block = X[rows]
            labels = y[rows] if y is not None else None
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
            labels = check_labels(labels, label=self.y_key, where=where)
        return Chunk(block, labels, where)

    def close(self) -> None:
        for k in list(self._handles):
            self._close(k)
