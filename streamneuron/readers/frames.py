"""pandas and Dask DataFrames as a :class:`~streamneuron.readers.base.Source`.

:class:`FrameSource` (made by :func:`from_dataframe`, or by
:func:`~streamneuron.readers.open_source` given a DataFrame) chooses its columns
as the Parquet reader does, with the same shared code
(:func:`~streamneuron.readers.base.choose_features`): by default every number
column (integers, floats, booleans) but the label and the weight column, and
every string, object and ``category`` column as a categorical one (given raw, as
Arrow arrays in ``DecodedUnit.extra``, until :class:`~.encoded.Encoded` codes them);
every other column is listed in ``left_out`` with its reason. Units are the Dask partitions, or slices of
``chunk_rows`` rows of a pandas frame; each is converted column by column as a
Parquet row group is (:mod:`.arrays` says what the two in-memory sources share).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DataError
from .arrays import (RowBlocks, _column_major, _is_dask_frame, _slices, _x_dtype,
                     is_dataframe, numeric_column)
from .base import (DecodedUnit, Unit, check_labels, check_weights, choose_columns,
                   columns_are)


def _frame_values(series) -> np.ndarray:
    """A column as numpy; nullable (extension) columns with NA as float NaN."""
    import pandas as pd

    if pd.api.types.is_extension_array_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy()


def _arrow(series):
    """A pandas column as an Arrow array (``category``: a DictionaryArray; object
    strings: a string array), as a Parquet reader gives it."""
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(series)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"column {series.name!r}: cannot be read as a categorical column "
                        f"({exc}); give it one type (strings, integers or booleans)") from None


def _frame_unit(part, where: str, features: Sequence[str], label: str | None, dtype,
                out=None, weight: str | None = None,
                categorical: Sequence[str] = (), labels: dict | None = None) -> DecodedUnit:
    """One pandas partition decoded, column by column like a row group (``X`` into
    ``out`` when given); ``w`` from the ``weight`` column, or None; the
    ``categorical`` columns raw, as Arrow arrays in ``extra``."""
    X = _column_major(len(part), len(features), dtype).T if out is None else out
    for j, name in enumerate(features):
        X[:, j] = _frame_values(part[name])
    y = None
    if label is not None:
        y = check_labels(_label_values(part[label]), label=label, where=where,
                         **(labels or {}))
    w = None
    if weight is not None:
        w = check_weights(_frame_values(part[weight]), column=weight, where=where)
    extra = {name: _arrow(part[name]) for name in categorical}
    return DecodedUnit(X, y, where, extra, w=w)


def _delayed_frame_unit(part, where, features, dtype, label, weight=None, categorical=(),
                        labels=None):
    return [_frame_unit(part, where, features, label, dtype, weight=weight,
                        categorical=categorical, labels=labels)]


def _label_values(series) -> np.ndarray:
    """A label column as numpy: numbers (nullable ones with NA as NaN), else objects
    (strings, with None for a missing one)."""
    import pandas as pd

    if pd.api.types.is_extension_array_dtype(series.dtype):
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
                series.dtype):
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        if not series.isna().any() and pd.api.types.is_bool_dtype(series.dtype):
            return series.to_numpy(dtype=bool)
        return series.astype(object).where(series.notna(), None).to_numpy()
    return series.to_numpy()


def _problem(dtype) -> str | None:
    """None for a column a neuron can use (a number), else its type, as
    :func:`~streamneuron.readers.base.choose_features` takes it (strings named as
    Arrow names them in a Parquet file: ``string``)."""
    import pandas as pd

    if numeric_column(dtype):
        return None
    return "string" if pd.api.types.is_string_dtype(dtype) else str(dtype)


def is_category_dtype(dtype) -> bool:
    """pandas ``category``, string and object columns: categorical without being named."""
    import pandas as pd

    return bool(isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
                or pd.api.types.is_object_dtype(dtype))


def _is_discrete(dtype) -> bool:
    """Integer and boolean columns (and the category ones): ``categorical`` may name them."""
    import pandas as pd

    return bool(is_category_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
                or pd.api.types.is_bool_dtype(dtype))


class FrameSource(RowBlocks):
    """Rows of a pandas or Dask DataFrame, its columns chosen as for Parquet.

    ``label``: the label column (None: features only); ``features``: the feature
    columns in order, default every number column but the label and ``weight``
    (the sample-weight column, or None). ``left_out`` lists every other column
    with its reason. Units: the Dask partitions, or ``chunk_rows`` rows of a
    pandas frame.
    """

    def __init__(self, df, label: str | None = "y", features: Sequence[str] | None = None, *,
                 chunk_rows: int | None = None, weight: str | None = None,
                 categorical: Sequence[str] | None = None):
        self.files = []
        self.weight = weight
        dask_frame = _is_dask_frame(df)
        self._kind = "dask DataFrame" if dask_frame else "pandas DataFrame"
        columns = [str(c) for c in df.columns]
        if len(set(columns)) != len(columns):
            raise DataError(f"{self._kind}: column names repeat: {columns}")
        df = df.rename(columns=str) if list(df.columns) != columns else df
        dtypes = dict(zip(columns, df.dtypes))
        if label is not None and label not in columns:
            raise DataError(f"{self._kind}: no label column {label!r}; "
                            f"{columns_are(columns, label)}")
        if features is not None:
            features = [str(f) for f in features]
        if categorical is not None:
            categorical = [str(c) for c in categorical]
        self.feature_names, self.categorical, self.left_out = choose_columns(
            [(c, _problem(dtypes[c])) for c in columns], label=label, features=features,
            exclude=None, where=self._kind, weight=weight,
            hint="leave it out with features=", categorical=categorical,
            category_columns=[c for c in columns if is_category_dtype(dtypes[c])],
            discrete_columns=[c for c in columns if _is_discrete(dtypes[c])])
        # the categorical columns the user named (refused, not left out, past max_levels)
        self.named_categorical = [c for c in self.categorical
                                  if c in (categorical or ()) or c in (features or ())]
        if weight is not None and _bool(dtypes[weight]):
            raise DataError(f"{self._kind}: weight column {weight!r} has type "
                            f"{dtypes[weight]}, not a number")
        # (a label of another type is read as it is: --positive names its 1, check_labels)
        self.label = label
        self.dtype = _x_dtype(dtypes[f] for f in self.feature_names)
        self._frame = df
        if dask_frame:
            sizes = [int(n) for n in df.map_partitions(len).compute()]
        else:
            sizes = _slices(len(df), chunk_rows)
        self._set_units(sizes)

    def _read(self, u: Unit, where: str, keep: Sequence[str], out) -> DecodedUnit:
        part = self._partition(u, list(keep))
        return _frame_unit(part, where, self.feature_names, self.label, self.dtype, out,
                           weight=self.weight,
                           categorical=list(dict.fromkeys([*keep, *self.categorical])),
                           labels=self._label_options())

    def _label_options(self) -> dict:
        return {"positive": self.positive, "negative": self.negative, "missing": self.missing}

    def label_values(self, i: int) -> np.ndarray:
        """The label column of unit ``i`` as stored (strings, nulls), read alone."""
        u = self.units[i]
        if self._kind == "dask DataFrame":
            return _label_values(self._frame.get_partition(u.index)[self.label].compute())
        return _label_values(self._frame[self.label].iloc[self._rows(u)])

    def _partition(self, u: Unit, keep: list[str]):
        columns = list(dict.fromkeys(
            self.feature_names + [c for c in (self.label, self.weight) if c]
            + list(self.categorical) + keep))
        missing = [c for c in keep if c not in self._frame.columns]
        if missing:
            raise DataError(f"{self.describe(self.units.index(u))}: no column {missing[0]!r}; "
                            f"{columns_are(self._frame.columns, missing[0])}")
        if self._kind == "dask DataFrame":
            return self._frame.get_partition(u.index)[columns].compute()
        return self._frame.iloc[self._rows(u)][columns]

    def _token_data(self) -> tuple:
        return (self._frame,)

    def delayed_units(self) -> list:
        """One ``dask.delayed`` per unit, in unit order, each computing
        ``[DecodedUnit]`` (as :meth:`read`), on whatever worker runs it: a Dask
        DataFrame's partitions are tasks of its own graph; a pandas frame's slices
        are embedded in the graph (a cluster should persist them once)."""
        import dask

        features = tuple(self.feature_names)
        categorical = tuple(self.categorical)
        columns = list(dict.fromkeys(list(features) + [c for c in (self.label, self.weight) if c]
                                     + list(categorical)))
        frame = self._frame[columns]
        parts = frame.to_delayed() if self._kind == "dask DataFrame" else None
        out = []
        for i, u in enumerate(self.units):
            part = parts[u.index] if parts is not None else frame.iloc[self._rows(u)]
            out.append(dask.delayed(_delayed_frame_unit, pure=True)(
                part, self.describe(i), features, self.dtype, self.label, self.weight,
                categorical, self._label_options()))
        return out


def _bool(dtype) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_bool_dtype(dtype))


def from_dataframe(df, label: str | None = "y", features: Sequence[str] | None = None, *,
                   chunk_rows: int | None = None, weight: str | None = None,
                   categorical: Sequence[str] | None = None) -> FrameSource:
    """A source over a pandas or Dask DataFrame, columns chosen as for Parquet.

    ``label``: the label column (None: features only); ``features``: the feature
    columns in order, default every numeric (integer, float, bool) column but the
    label and ``weight`` (the sample-weight column, or None), and every string, object
    and ``category`` column as a categorical one (one-hot, :mod:`streamneuron.levels`);
    ``categorical`` names more (integer or boolean columns). Units: the Dask
    partitions, or ``chunk_rows`` rows of a pandas frame.
    """
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if not is_dataframe(df):
        raise DataError(f"expected a pandas or Dask DataFrame, got {type(df).__name__}")
    return FrameSource(df, label, features, chunk_rows=chunk_rows, weight=weight,
                       categorical=categorical)


def from_dask_dataframe(ddf, label: str | None = "y",
                        features: Sequence[str] | None = None,
                        weight: str | None = None) -> FrameSource:
    """A source over a Dask DataFrame: one unit per (non-empty) partition."""
    if not _is_dask_frame(ddf):
        raise DataError(f"expected a Dask DataFrame, got {type(ddf).__name__}")
    return from_dataframe(ddf, label=label, features=features, weight=weight)


__all__ = ["FrameSource", "from_dataframe", "from_dask_dataframe"]
