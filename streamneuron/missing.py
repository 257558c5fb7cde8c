"""Missing values in numeric features (``--missing error|impute|drop``): the words
every floor uses.

* ``error`` (the default): a null or NaN feature is refused, naming the column.
* ``impute``: each feature is filled, where missing, with its training mean (weighted
  when the rows are), and each feature with missing values in training gains a 0/1
  column ``COL_missing``; both are then standardized like any feature. This is
  scikit-learn's ``SimpleImputer(strategy="mean", add_indicator=True)``: the model's
  features are the ``d`` columns, then the ``m`` indicators.
* ``drop``: a row with a missing feature (or a null label) weighs 0: it is read, never
  trained on, and counted.

:class:`Fills` is what a model keeps (its ``"missing"`` entry) and what a source
applies where a unit is decoded (:class:`~streamneuron.readers.imputed.Imputed`);
:func:`impute` is that step. Infinity is never missing: it stays an error.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

MISSING = ("error", "impute", "drop")
INDICATOR_SUFFIX = "_missing"


@dataclass(frozen=True)
class Fills:
    """The fill value of every raw feature (``names``, in order, ``values`` their
    training means) and the features that gained an indicator column (``indicators``,
    those with missing values in training). ``counts``: the values imputed per column
    in training (reported, kept in the model). Hashable: a worker's source cache keys
    on it. ``seen``: learned from the very input they impute, so that only the columns
    with an indicator can hold a missing value there (what a worker reopening the
    training input is told; never a model's: another file may have gaps anywhere)."""

    names: tuple
    values: tuple
    indicators: tuple
    counts: tuple = ()
    seen: bool = False

    @property
    def indicator_names(self) -> list[str]:
        return [f"{name}{INDICATOR_SUFFIX}" for name in self.indicators]

    @property
    def feature_names(self) -> list[str]:
        """The model's features: the raw ones, then one indicator per imputed column."""
        return list(self.names) + self.indicator_names

    def fill_array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)

    def indicator_of(self) -> np.ndarray:
        """Each raw column's indicator (its index among the indicators), -1 for none."""
        index = np.full(len(self.names), -1, dtype=np.int64)
        index[self.indicator_index()] = np.arange(len(self.indicators))
        return index

    def indicator_index(self) -> np.ndarray:
        """Each indicator's raw column, as an index."""
        where = {name: j for j, name in enumerate(self.names)}
        return np.asarray([where[name] for name in self.indicators], dtype=np.int64)

    def to_dict(self) -> dict:
        """The model file's ``"missing"`` entry."""
        return {"strategy": "impute",
                "fill": {n: float(v) for n, v in zip(self.names, self.values)},
                "indicators": list(self.indicators),
                "imputed": {n: int(c) for n, c in zip(self.names, self.counts) if c}}

    @classmethod
    def from_dict(cls, data: dict) -> "Fills":
        fill = data["fill"]
        names = tuple(str(n) for n in fill)
        values = tuple(float(fill[n]) for n in fill)
        if not all(np.isfinite(values)):
            raise ValueError("fill values must be finite numbers")
        indicators = tuple(str(n) for n in data.get("indicators", []))
        unknown = [n for n in indicators if n not in fill]
        if unknown:
            raise ValueError(f"indicator {unknown[0]!r} has no fill value")
        imputed = data.get("imputed", {})
        return cls(names, values, indicators, tuple(int(imputed.get(n, 0)) for n in names))


def impute(X: np.ndarray, fills: Fills, out: np.ndarray | None = None) -> np.ndarray:
    """``X`` (n, d) with each NaN replaced by its column's fill value and the ``m``
    indicator columns (1.0 where the value was missing) appended: (n, d + m), written
    into ``out`` when given (``X`` may be ``out[:, :d]`` itself: filled in place; a new
    ``out`` is column-major, as a reader's own units). One compiled read and write
    (:func:`streamneuron.kernels.impute_into`): no NaN mask, no copy; with
    ``fills.seen`` (the training input itself) only the indicator columns are read."""
    from .kernels import impute_into

    n, d = X.shape
    if out is None:
        out = np.empty((d + len(fills.indicators), n), dtype=X.dtype).T
    target = out[:, :d]
    if not np.may_share_memory(target, X):
        target[...] = X
    if n:
        impute_into(out, d, *_kernel_arguments(fills, out.dtype))
    return out


@functools.lru_cache(maxsize=32)
def _kernel_arguments(fills: Fills, dtype: np.dtype) -> tuple:
    """What :func:`~streamneuron.kernels.impute_into` takes after ``(out, d)``: the fill
    values in ``dtype``, each column's indicator, the columns to read (made once per
    fills and dtype, not per unit)."""
    columns = fills.indicator_index() if fills.seen else np.arange(len(fills.names),
                                                                    dtype=np.int64)
    return fills.fill_array().astype(dtype), fills.indicator_of(), columns


@functools.lru_cache(maxsize=32)
def copy_arguments(fills: Fills, dtype: np.dtype) -> tuple:
    """What :func:`~streamneuron.kernels.imputed_columns_into` takes of ``fills`` (a
    reader imputing as it copies): the fill values in ``dtype``, each column's
    indicator (-1: none), and which columns may hold a gap (with ``fills.seen``, those
    with an indicator; else every one)."""
    indicator = fills.indicator_of()
    check = indicator >= 0 if fills.seen else np.ones(len(fills.names), dtype=bool)
    return fills.fill_array().astype(dtype), indicator, check


def drop_rows(X: np.ndarray, w: np.ndarray | None, y: np.ndarray | None):
    """``--missing drop``: the rows with a NaN feature (or a NaN label) get weight 0
    and their NaN become 0 (read, never trained on). Returns ``(X, w, y, dropped)``:
    ``X`` changed in place, or a copy when it is read-only (a DataFrame's values); ``y``
    a copy when it held a NaN."""
    bad = np.isnan(X).any(axis=1) if X.shape[1] else np.zeros(X.shape[0], dtype=bool)
    if y is not None:
        no_label = np.isnan(y)
        if no_label.any():
            bad |= no_label
            y = np.where(no_label, 0.0, y)
    w = np.ones(X.shape[0]) if w is None else w
    dropped = int(bad.sum())
    if dropped:
        w = np.where(bad, 0.0, w)
        X = X if X.flags.writeable else X.copy()
        X[np.isnan(X)] = 0.0
    return X, w, y, dropped


def null_feature_message(where: str, name: str, nulls: int, counts=None) -> str:
    """The error for a missing feature value (``--missing error``): the column, its count
    here and in the whole input (``counts()``: nulls per column, when the reader can
    tell), and the two options."""
    total = ""
    try:
        whole = counts() if counts is not None else None
    except Exception:  # noqa: BLE001 (the count is a courtesy of an error message)
        whole = None
    if whole and whole.get(name):
        total = f" ({whole[name]} in the whole input)"
    return (f"{where}: feature column {name!r} has {nulls} null value(s){total}; give "
            "--missing impute (the column's mean, and a COL_missing indicator) or --missing "
            "drop (those rows not trained on), or drop or impute them first")


def reader_options(source) -> dict:
    """A reader's ``reopen_args`` share of ``--missing`` and ``--positive`` (nothing
    for the defaults, so that other sources' partitions are as they were)."""
    out = {}
    if source.missing != "error":
        out["missing"] = source.missing
    if source.positive is not None:
        out["positive"] = source.positive
    if source.negative is not None:
        out["negative"] = source.negative
    return out


__all__ = ["null_feature_message", "reader_options", "MISSING", "INDICATOR_SUFFIX", "Fills", "impute",
           "copy_arguments", "drop_rows"]
