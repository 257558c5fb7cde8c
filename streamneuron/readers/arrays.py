"""In-memory and Dask arrays as a :class:`~streamneuron.readers.base.Source`.

``ArraySource(X, y)`` takes numpy or Dask arrays (``X`` of shape (n, d), ``y``
of n labels, or None to predict); DataFrames are :mod:`.frames`' (columns chosen
as for Parquet). Both derive from :class:`RowBlocks`, what data without files
shares, so that the training engines see the same units, decoded units and
arithmetic as with files:

* units: the row blocks of a Dask array (``X.chunks[0]``), the partitions of a
  Dask DataFrame, or fixed slices of ``chunk_rows`` rows (default
  ``DEFAULT_CHUNK_ROWS``) of a numpy array or pandas DataFrame. Empty partitions
  are skipped, as the Parquet reader skips empty row groups.
* ``read(i)`` computes only that block (``X.blocks[i]``, ``ddf.get_partition(i)``)
  and converts it exactly as the Parquet reader converts a row group: ``X`` in
  column-major layout, float32 if every feature is float32 (never upcast), else
  float64; labels checked by :func:`~streamneuron.readers.base.check_labels`.
  So ``fit_sgd`` on an array gives bit for bit the weights it gives on a Parquet
  file whose row groups have the same sizes.
* ``fingerprint()`` is deterministic for the same data: :func:`dask.base.tokenize`
  (a content hash for numpy and pandas, the graph name for Dask collections).

The lengths of Dask partitions (or blocks with unknown sizes) are computed once,
when the source is made, unless Dask knows them. For full-pass GD on a cluster,
``delayed_units()`` gives one ``dask.delayed`` per unit (``reopen_args()`` is
None: the rows live in this process or its Dask graph).

Dask is imported only when Dask objects are given (or for the fingerprint).
"""

from __future__ import annotations

import sys
from typing import Sequence

import numpy as np

from ..errors import DataError
from .base import COLUMN, DecodedUnit, Source, Unit, check_labels, check_weights

# Rows per unit of a numpy array or pandas DataFrame (as the HDF5 reader's units).
DEFAULT_CHUNK_ROWS = 1 << 16


# --------------------------------------------------------------------------
# What the user passed
# --------------------------------------------------------------------------


def _instance_of(module: str, name: str):
    """``isinstance(obj, module.name)``, without importing ``module`` if nobody has."""
    def test(obj) -> bool:
        cls = getattr(sys.modules.get(module), name, None)
        return cls is not None and isinstance(obj, cls)
    return test


_is_dask_array = _instance_of("dask.array", "Array")
_is_dask_frame = _instance_of("dask.dataframe", "DataFrame")
_is_dask_series = _instance_of("dask.dataframe", "Series")
_is_pandas_frame = _instance_of("pandas", "DataFrame")
_is_pandas_series = _instance_of("pandas", "Series")


def is_dataframe(obj) -> bool:
    """A pandas or Dask DataFrame."""
    return _is_pandas_frame(obj) or _is_dask_frame(obj)


def is_array(obj) -> bool:
    """A numpy or Dask array (what :class:`ArraySource` takes as ``X``)."""
    return isinstance(obj, np.ndarray) or _is_dask_array(obj)


def _x_dtype(dtypes) -> np.dtype:
    """float32 when every feature is float32 (as the Parquet reader), else float64."""
    dtypes = list(dtypes)
    return np.dtype(np.float32 if dtypes and all(str(t).lower() == "float32" for t in dtypes)
                    else np.float64)


# --------------------------------------------------------------------------
# Converting one block (module level: also runs in Dask tasks on workers)
# --------------------------------------------------------------------------


def _column_major(n: int, d: int, dtype) -> np.ndarray:
    """A (d, n) buffer; its transpose is the (n, d) column-major X the Parquet reader gives."""
    return np.empty((d, n), dtype=dtype)


def _array_unit(xb, yb, where: str, dtype, label: str | None, out=None, wb=None,
                weight: str | None = None) -> DecodedUnit:
    """One array block decoded: X column-major in ``dtype`` (or written into ``out``),
    y checked float64, w (from ``wb``, the weights named ``weight``) checked float64
    or None."""
    xb = np.asarray(xb)
    if out is not None:
        out[...] = xb
        X = out
    elif xb.dtype == dtype and xb.flags.f_contiguous:
        X = xb
    else:
        Xt = _column_major(xb.shape[0], xb.shape[1], dtype)
        Xt[...] = xb.T
        X = Xt.T
    y = None
    if yb is not None:
        y = check_labels(np.asarray(yb), label=label or "y", where=where)
        if y.shape[0] != X.shape[0]:
            raise DataError(f"{where}: {X.shape[0]} rows of X but {y.shape[0]} labels")
    w = None
    if wb is not None:
        w = check_weights(np.asarray(wb), column=weight, where=where)
    return DecodedUnit(X, y, where, w=w)


def _delayed_array_unit(xb, yb, where, dtype, label, wb=None, weight=None):
    return [_array_unit(xb, yb, where, dtype, label, wb=wb, weight=weight)]


def numeric_column(dtype) -> bool:
    """A pandas column type that is a number a neuron can use (bool, integer, float)."""
    import pandas as pd

    return (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
            or pd.api.types.is_float_dtype(dtype))


# --------------------------------------------------------------------------
# The sources
# --------------------------------------------------------------------------


class RowBlocks(Source):
    """What data without files shares (arrays here, DataFrames in :mod:`.frames`):
    units as row blocks (``_set_units``), their names, the check of ``read``'s
    ``out``, the fingerprint by content or graph token.

    A subclass sets ``_kind`` (what the data is, for messages) and implements
    ``_read(unit, where, keep, out)``, ``_token_data()`` and ``delayed_units()``.
    """

    format = "array"
    layout = COLUMN  # as the Parquet reader gives a row group
    reuse_buffers = False  # read() slices or computes a block: taken as it is
    unit_kind = "partitions"
    _kind = "array"

    def _set_units(self, sizes: Sequence[int]) -> None:
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.units = [Unit(0, i, int(n)) for i, n in enumerate(sizes) if n > 0]
        if not self.units:
            raise DataError(f"the {self._kind} has no rows")

    @property
    def kind(self) -> str:
        """``"numpy array"``, ``"dask array"``, ``"pandas DataFrame"`` or ``"dask DataFrame"``."""
        return self._kind

    @property
    def in_memory(self) -> bool:
        """True for numpy and pandas data (held by this process), False for Dask
        collections (computed block by block from their graph)."""
        return not self._kind.startswith("dask")

    def describe_input(self) -> str:
        """``"the pandas DataFrame"``, ``"the numpy array"``, ...: the data, for messages."""
        return f"the {self._kind}"

    def describe(self, i: int) -> str:
        u = self.units[i]
        start = int(self._starts[u.index])
        return f"{self._kind}, partition {u.index} (rows {start}-{start + u.n_rows - 1})"

    def _rows(self, u: Unit) -> slice:
        start = int(self._starts[u.index])
        return slice(start, start + u.n_rows)

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        """Compute unit ``i`` only; with ``out`` (an ``(n_rows, n_features)`` array of
        ``self.dtype``, any layout) the features are written there."""
        u = self.units[i]
        if out is not None and (out.shape != (u.n_rows, self.n_features)
                                or out.dtype != self.dtype):
            raise ValueError(f"out must be ({u.n_rows}, {self.n_features}) {self.dtype}, "
                             f"got {out.shape} {out.dtype}")
        return self._read(u, self.describe(i), keep, out)

    def _read(self, u: Unit, where: str, keep: Sequence[str], out) -> DecodedUnit:
        raise NotImplementedError

    def _token_data(self) -> tuple:
        raise NotImplementedError

    def fingerprint(self) -> dict:
        """What identifies this input: a content/graph token, features, label, layout."""
        from dask.base import tokenize

        data = self._token_data()
        try:
            token = tokenize(*data, ensure_deterministic=True)
        except Exception:  # an object Dask cannot hash deterministically: never matches
            token = tokenize(*data)
        return {
            "format": self.format,
            "kind": self._kind,
            "files": [],
            "token": token,
            "features": list(self.feature_names),
            "label": self.label,
            **({"weight": self.weight} if self.weight is not None else {}),
            "units": [[u.file, u.index, u.n_rows] for u in self.units],
        }

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self._kind}, {self.n_rows} rows, "
                f"{self.n_features} features, {len(self.units)} units>")


class ArraySource(RowBlocks):
    """Rows of numpy or Dask arrays.

    ``X``: (n, d) numpy array, Dask array, or a pandas / Dask DataFrame whose
    columns are all features (to choose columns and take the label from a
    DataFrame: :func:`~streamneuron.readers.from_dataframe`); ``y``: n labels
    (0/1 integers, 0.0/1.0 floats or booleans) as a numpy or Dask array or a
    pandas or Dask Series, or None for features only (prediction).
    ``feature_names``: default ``x0``, ``x1``, ... (the names the HDF5 reader and
    ``streamneuron generate`` use), or a DataFrame's column names. ``label``: the
    name recorded in the model. ``chunk_rows``: rows per unit of a numpy array
    (Dask arrays keep their chunks; rechunk them to change the units).
    ``sample_weight``: n weights (numpy or Dask array, or a Series), each finite
    and >= 0, or None.
    """

    def __init__(self, X, y=None, feature_names: Sequence[str] | None = None, *,
                 label: str = "y", chunk_rows: int | None = None, sample_weight=None):
        self.files = []
        self.weight = None
        w = None
        if sample_weight is not None:
            self.weight = "sample_weight"
            w = sample_weight
            if _is_pandas_series(w):
                w = w.to_numpy()
            elif _is_dask_series(w):
                w = w.to_dask_array(lengths=True)
            elif not is_array(w):
                w = np.asarray(w)
            if w.ndim != 1:
                raise DataError(f"sample_weight must be 1-D (one weight per row), got shape "
                                f"{w.shape}")
        if is_dataframe(X):
            if feature_names is None:
                feature_names = [str(c) for c in X.columns]
            bad = [f"{c!r} ({t})" for c, t in zip(X.columns, X.dtypes) if not numeric_column(t)]
            if bad:
                raise DataError(f"X: column {bad[0]} is not a number")
            X = (X.to_dask_array(lengths=True) if _is_dask_frame(X)
                 else X.to_numpy(dtype=_x_dtype(X.dtypes), na_value=np.nan))
        if _is_pandas_series(y):
            y = y.to_numpy()
        elif _is_dask_series(y):
            y = y.to_dask_array(lengths=True)
        elif y is not None and not is_array(y):
            y = np.asarray(y)
        if not is_array(X):
            X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"X must be 2-D (rows, features), got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise DataError(f"X has dtype {X.dtype}, not numbers")
        if y is not None and y.ndim != 1:
            raise DataError(f"y must be 1-D (one label per row), got shape {y.shape}")
        self.label = (label or "y") if y is not None else None
        d = X.shape[1]
        self.feature_names = ([f"x{j}" for j in range(d)] if feature_names is None
                              else [str(f) for f in feature_names])
        if len(self.feature_names) != d:
            raise DataError(f"{len(self.feature_names)} feature names for {d} columns of X")
        if len(set(self.feature_names)) != d:
            raise DataError(f"feature names repeat: {self.feature_names}")
        self.dtype = _x_dtype([X.dtype])
        if _is_dask_array(X) or _is_dask_array(y) or _is_dask_array(w):
            self._kind = "dask array"
            if not (_is_dask_array(X) or _is_dask_array(y)):  # only the weights are Dask
                import dask.array as da

                X = da.from_array(X, chunks=(w.chunks[0], X.shape[1]))
            self._X, self._y, sizes = _align_dask(X, y)
            self._w = _align_rows(w, self._X, "sample_weight", "weights")
        else:
            self._kind = "numpy array"
            if y is not None and y.shape[0] != X.shape[0]:
                raise DataError(f"X has {X.shape[0]} rows but y has {y.shape[0]} labels; "
                                "they must have the same length")
            if w is not None and w.shape[0] != X.shape[0]:
                raise DataError(f"X has {X.shape[0]} rows but sample_weight has {w.shape[0]} "
                                "weights; they must have the same length")
            self._X, self._y, self._w = X, y, w
            sizes = _slices(X.shape[0], chunk_rows)
        self._set_units(sizes)

    def _read(self, u: Unit, where: str, keep: Sequence[str], out) -> DecodedUnit:
        if keep:
            raise DataError(f"{where}: --keep columns are only available for Parquet files "
                            "and DataFrames")
        if self._kind == "dask array":
            import dask

            yb = self._y.blocks[u.index] if self._y is not None else None
            wb = self._w.blocks[u.index] if self._w is not None else None
            xb, yb, wb = dask.compute(self._X.blocks[u.index], yb, wb)
        else:
            rows = self._rows(u)
            xb = self._X[rows]
            yb = self._y[rows] if self._y is not None else None
            wb = self._w[rows] if self._w is not None else None
        return _array_unit(xb, yb, where, self.dtype, self.label, out, wb, self.weight)

    def _token_data(self) -> tuple:
        return (self._X, self._y) + ((self._w,) if self._w is not None else ())

    def delayed_units(self) -> list:
        """One ``dask.delayed`` per unit, in unit order, each computing
        ``[DecodedUnit]`` (a one-element list, the layout of a decoded bag partition
        in :mod:`streamneuron.fullpass.engine`) on whatever worker runs it, with
        the same conversion and label checks as :meth:`read`.

        A Dask array's blocks become tasks of their own graph; numpy arrays are
        embedded in the graph, so a cluster should persist them once rather than
        recompute per pass.
        """
        import dask

        out = []
        if self._kind == "dask array":
            xs = self._X.to_delayed()[:, 0]
            ys = self._y.to_delayed() if self._y is not None else None
            ws = self._w.to_delayed() if self._w is not None else None
        for i, u in enumerate(self.units):
            if self._kind == "dask array":
                xb, yb = xs[u.index], (ys[u.index] if ys is not None else None)
                wb = ws[u.index] if ws is not None else None
            else:
                rows = self._rows(u)
                xb = self._X[rows]
                yb = self._y[rows] if self._y is not None else None
                wb = self._w[rows] if self._w is not None else None
            out.append(dask.delayed(_delayed_array_unit, pure=True)(
                xb, yb, self.describe(i), self.dtype, self.label, wb, self.weight))
        return out


def _slices(n: int, chunk_rows: int | None) -> list[int]:
    step = DEFAULT_CHUNK_ROWS if chunk_rows is None else chunk_rows
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise DataError(f"chunk_rows must be a whole number >= 1, got {chunk_rows!r}")
    return [min(step, n - start) for start in range(0, n, step)]


def _align_dask(X, y):
    """X and y as Dask arrays with the same row blocks and X in one column block."""
    import dask.array as da

    if _is_dask_array(y) and any(np.isnan(c) for c in y.chunks[0]):
        y = y.compute_chunk_sizes()
    if not _is_dask_array(X):
        X = da.from_array(X, chunks=(y.chunks[0], X.shape[1]))
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X, _align_rows(y, X, "y", "labels"), [int(c) for c in X.chunks[0]]


def _align_rows(v, X, name: str, what: str):
    """``v`` (n values per row, or None) as a Dask array with the row blocks of ``X``."""
    if v is None:
        return None
    import dask.array as da

    if not _is_dask_array(v):
        v = da.from_array(np.asarray(v), chunks=(X.chunks[0],))
    if any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.shape[0] != X.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but {name} has {v.shape[0]} {what}; they "
                        "must have the same length")
    return v.rechunk((X.chunks[0],)) if v.chunks[0] != X.chunks[0] else v


__all__ = ["ArraySource", "RowBlocks", "DEFAULT_CHUNK_ROWS", "is_array", "is_dataframe"]
