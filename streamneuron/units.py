"""The pieces of data a source is read in, as every room sees them.

A *unit* (:class:`Unit`) is the smallest piece a reader reads whole (a Parquet row
group, a run of HDF5 chunks, a slice of an in-memory array); ``Source.read(i)``
decodes one into a :class:`DecodedUnit`, the only shape a decoded unit has. The
stream, the statistics, validation, ``apply`` and the full-pass tasks take
decoded units; :class:`UnitReader` is what they need of a source (the readers'
``Source`` protocol, :mod:`streamneuron.readers.base`, is one). This module
imports no other room, so that the stream and the readers both lean on it
without a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

# The values of ``Source.layout``: how ``read`` fills an ``out`` buffer without a
# transpose (row-major: HDF5 stores rows; column-major: Parquet decodes columns).
ROW = "row"
COLUMN = "column"


@dataclass(frozen=True)
class Unit:
    """One readable piece: ``file`` indexes ``Source.files``; ``index`` is the
    row group (Parquet) or first row (HDF5); ``n_rows`` its length; ``start`` its
    first row in the row group when it is a piece of one (``Source.pieces``), else 0."""

    file: int
    index: int
    n_rows: int
    start: int = 0


@dataclass
class DecodedUnit:
    """One unit as ``Source.read`` decodes it: the only shape a decoded unit has.

    The stream joins one or more of them into a :class:`~streamneuron.stream.Block`;
    a full-pass task reduces them one at a time; ``predict`` writes one output row
    group per unit. Fields:

    * ``X``: (n, d) features, float32 or float64, in the source's ``layout``;
    * ``y``: (n,) float64 labels in {0, 1}; None when no label was asked for;
    * ``where``: the unit named for messages ("data.parquet, row group 3");
    * ``extra``: the kept columns (predict ``--keep``), by name, as Arrow arrays;
    * ``w``: (n,) float64, each row's effective weight ``c_i`` (its sample weight
      times its class weight, :mod:`streamneuron.weighting`), finite and >= 0;
      None when every row weighs 1;
    * ``codes``: the categorical columns' level codes beside the float block ``X``, an
      (n, k) int32 block (the index of each row's level's weight, -1 for none; set by
      :class:`~streamneuron.readers.encoded.Encoded`); None without categorical columns.
    * ``gaps``: (d,) bool, the columns of ``X`` known to hold a NaN (a reader that saw
      the nulls it wrote as NaN: Parquet's); None: not known. A hint, for
      ``--missing impute``'s first pass (:class:`~streamneuron.stats.Observed`): a
      column not marked may still hold one.
    """

    X: np.ndarray
    y: np.ndarray | None
    where: str
    extra: dict = field(default_factory=dict)
    w: np.ndarray | None = None
    codes: np.ndarray | None = None
    gaps: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return self.X.shape[0]

    def describe_row(self, row: int) -> tuple[str, int]:
        """``(where, row)``: the unit and the row's index in it, for a message."""
        return self.where, row


class UnitReader(Protocol):
    """What the stream and a full pass need of a source: its units, how to decode one
    (into ``out`` when given) and in which layout. ``readers.base.Source`` provides it."""

    units: Sequence[Unit]
    layout: str
    reuse_buffers: bool
    n_features: int
    dtype: np.dtype

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit: ...

    @property
    def unit_sizes(self) -> list[int]: ...


__all__ = ["Unit", "DecodedUnit", "UnitReader", "ROW", "COLUMN"]
