"""Missing values handled where a unit is decoded: the :class:`Imputed` source.

``Imputed(source, fills)`` (``--missing impute``) reads the units of ``source``
(whose ``read`` gives missing values as NaN) and gives ``X`` with each NaN replaced
by its column's training mean and the indicator columns ``COL_missing`` appended
(:func:`streamneuron.missing.impute`): the engines, kernels, validation and
``apply`` see a plain ``X`` of ``d + m`` columns. ``Imputed(source, None)``
(``--missing drop``) gives each row with a NaN feature (or a NaN label) weight 0
instead (:func:`streamneuron.missing.drop_rows`): the source is then weighted.
A worker reopening the files gets the fills too (``reopen_args()``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ..missing import Fills, drop_rows, impute
from .base import DecodedUnit, Source
from .wrapped import Wrapped


def _apply(units: list[DecodedUnit], fills: Fills | None) -> list[DecodedUnit]:
    """The units imputed by ``fills`` (None: rows with a NaN dropped by weight 0)."""
    for unit in units:
        if fills is None:
            unit.X, unit.w, unit.y, dropped = drop_rows(unit.X, unit.w, unit.y)
            unit.extra["_dropped"] = dropped
        else:
            unit.X = impute(unit.X, fills)
    return units


class Imputed(Wrapped):
    """``source`` with its missing values imputed by ``fills``, or (``fills`` None)
    its rows with a missing value dropped by weight 0 (the module docstring)."""

    def __init__(self, source: Source, fills: Fills | None, *, seen: bool = False):
        super().__init__(source)
        # ``seen``: the fills were learned from this very input (the first pass), so only
        # the columns with an indicator can hold a missing value here: the others are
        # not read for NaN (Fills.seen). The model's fills never say so.
        self._seen = fills is not None and (seen or fills.seen)
        self._fills = fills if fills is None else replace(fills, seen=False)
        self._read_fills = fills if fills is None else replace(fills, seen=self._seen)
        self.dropped = 0  # rows read with weight 0 (``drop``), counted as they are read

    fills = property(lambda self: self._fills)
    missing = property(lambda self: "drop" if self._fills is None else "impute")

    @property
    def feature_names(self) -> list[str]:
        if self._fills is None:
            return self.source.feature_names
        return self.source.feature_names + self._fills.indicator_names

    @property
    def weighted(self) -> bool:
        return self._fills is None or self.source.weighted

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        if self._fills is None:
            unit = self.source.read(i, keep=keep, out=out)
            unit.X, unit.w, unit.y, dropped = drop_rows(unit.X, unit.w, unit.y)
            self.dropped += dropped
            return unit
        if out is not None and self._fills.indicators and out.shape[1] < self.n_features:
            # Narrow (the raw features' width): the gaps NaN, for the SGD kernel to
            # impute (kernel_imputation).
            return self.source.read(i, keep=keep, out=out)
        # The reader imputes (Source.read_imputed): Parquet as it copies each decoded
        # batch into the unit; any other reader writes the d columns into the buffer's
        # first d, the indicators after them, filled in place (missing.impute).
        return self.source.read_imputed(i, self._read_fills, keep=keep, out=out)

    def kernel_imputation(self) -> tuple:
        """``(fill, indicated)``, the fields of :class:`~streamneuron.kernels.Rows` with
        which SGD's kernel imputes a block read narrow (:meth:`read` into an ``out`` of
        the raw features' width: the gaps NaN): each raw column's fill value as the
        wide read writes it (in the source's dtype), each indicator's raw column. The
        same tile as the wide block's, without the indicator columns written and
        gathered. () without indicators, for ``drop``, and unless the fills were learned
        from this input (``seen``: only the indicated columns can hold a gap)."""
        if self._fills is None or not self._fills.indicators or not self._seen:
            return ()
        return (self._fills.fill_array().astype(self.dtype).astype(np.float64),
                self._fills.indicator_index())

    def reopen_args(self) -> dict | None:
        args = self.source.reopen_args()
        return None if args is None else {**args, "missing": self.missing,
                                          "fills": self._read_fills}

    def delayed_units(self) -> list:
        import dask

        return [dask.delayed(_apply, pure=True)(unit, self._read_fills)
                for unit in self.source.delayed_units()]

    def fingerprint(self) -> dict:
        return {**self.source.fingerprint(), "missing": self.missing}

    def check_model_columns(self, names: Sequence[str]) -> None:
        indicators = set(self._fills.indicator_names if self._fills is not None else ())
        self.source.check_model_columns([n for n in names if n not in indicators])

    def __repr__(self) -> str:
        return f"<Imputed {self.source!r}, {self.missing}>"


__all__ = ["Imputed"]
