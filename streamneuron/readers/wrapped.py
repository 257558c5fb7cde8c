"""A source that reads another source's units and changes what a decoded unit holds:
the base of :class:`~.weighted.Weighted` (class weights) and
:class:`~.encoded.Encoded` (categorical codes). Every member not overridden is the
wrapped source's."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Source


class Wrapped(Source):
    """``source`` as it is; subclasses override ``read`` and what else changes."""

    def __init__(self, source: Source):
        self.source = source

    def reopen_args(self) -> dict | None:
        return self.source.reopen_args()

    def delayed_units(self) -> list:
        return self.source.delayed_units()

    def fingerprint(self) -> dict:
        return self.source.fingerprint()

    # -- the wrapped source's ---------------------------------------------------
    format = property(lambda self: self.source.format)
    files = property(lambda self: self.source.files)
    feature_names = property(lambda self: self.source.feature_names)
    categorical = property(lambda self: self.source.categorical)
    named_categorical = property(lambda self: self.source.named_categorical)
    label = property(lambda self: self.source.label)
    weight = property(lambda self: self.source.weight)
    class_weights = property(lambda self: self.source.class_weights)
    units = property(lambda self: self.source.units)
    dtype = property(lambda self: self.source.dtype)
    left_out = property(lambda self: self.source.left_out)
    column_warnings = property(lambda self: self.source.column_warnings)
    layout = property(lambda self: self.source.layout)
    reuse_buffers = property(lambda self: self.source.reuse_buffers)
    in_memory = property(lambda self: self.source.in_memory)
    unit_kind = property(lambda self: self.source.unit_kind)
    levels = property(lambda self: self.source.levels)
    missing = property(lambda self: self.source.missing)
    weighted = property(lambda self: self.source.weighted)
    @property
    def positive(self):
        return self.source.positive

    @positive.setter
    def positive(self, value) -> None:  # (the reader's: labels.settle_negative types it)
        self.source.positive = value

    @property
    def negative(self):
        return self.source.negative

    @negative.setter
    def negative(self, value) -> None:  # (the reader's, where check_labels reads it)
        self.source.negative = value

    fills = property(lambda self: self.source.fills)

    def read(self, i: int, *, keep: Sequence[str] = (), out: np.ndarray | None = None):
        return self.source.read(i, keep=keep, out=out)

    def describe(self, i: int) -> str:
        return self.source.describe(i)

    def pieces(self, rows: int):
        return self.source.pieces(rows)

    def cut_units(self, rows: int) -> None:
        self.source.cut_units(rows)

    def describe_input(self) -> str:
        return self.source.describe_input()

    def check_keep(self, keep: Sequence[str]) -> None:
        self.source.check_keep(keep)

    def close(self) -> None:
        self.source.close()

    def check_model_columns(self, names: Sequence[str]) -> None:
        self.source.check_model_columns(names)

    def schema(self) -> dict:
        return self.source.schema()

    def details(self) -> dict:
        return self.source.details()

    def labels(self, i: int) -> np.ndarray:
        return self.source.labels(i)

    def label_values(self, i: int):
        return self.source.label_values(i)

    def kernel_imputation(self) -> tuple:
        return self.source.kernel_imputation()

    def null_counts(self) -> dict[str, int] | None:
        return self.source.null_counts()

    def label_range(self) -> tuple | None:
        return self.source.label_range()

    def __getattr__(self, name: str):
        # A reader's own attributes (HDF5's ``by_position``, ``ArraySource.kind``).
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)


__all__ = ["Wrapped"]
