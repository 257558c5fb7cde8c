"""Categorical columns encoded where a unit is decoded: the :class:`Encoded` source.

``Encoded(source, levels)`` reads the units of ``source`` (whose ``read`` gives the
categorical columns raw, in ``DecodedUnit.extra``) and gives, in
``DecodedUnit.codes``, each row's level codes (:meth:`streamneuron.levels.Levels.encode`:
the index of the level's weight, after the ``d`` number features' weights, or -1).
Everything downstream (the stream, a full pass, validation, ``apply``) reads
``codes`` and nothing else. A worker reopening the files gets the levels too
(``reopen_args()`` carries them into :func:`~streamneuron.readers.open_source`), and a
checkpoint's fingerprint names them.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..levels import LevelCounts, Levels
from .base import DecodedUnit, Source
from .wrapped import Wrapped


def _encode(units: list[DecodedUnit], levels: Levels, first: int,
            keep: Sequence[str] = ()) -> list[DecodedUnit]:
    """The units with their codes (a task of a Dask graph, or :meth:`Encoded.read`)."""
    for unit in units:
        missing = [name for name in levels.names if name not in unit.extra]
        if missing:
            raise DataError(f"{unit.where}: no categorical column {missing[0]!r}")
        try:
            unit.codes = levels.encode(unit.extra, unit.n_rows, first)
        except DataError as exc:  # (the levels do not know where the unit is)
            raise DataError(f"{unit.where}: {exc}") from None
        for name in levels.names:
            if name not in keep:
                unit.extra.pop(name, None)
    return units


class Encoded(Wrapped):
    """``source`` with its categorical columns as level codes (the module docstring);
    the categorical columns are those of ``levels`` (a column left out for its many
    levels is read no more)."""

    def __init__(self, source: Source, levels: Levels, left_out: Sequence = ()):
        super().__init__(source)
        self._levels = levels
        self._left_out = list(source.left_out) + list(left_out)

    levels = property(lambda self: self._levels)
    categorical = property(lambda self: self._levels.names)
    left_out = property(lambda self: self._left_out)

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        unit = self.source.read(i, keep=keep, out=out)
        return _encode([unit], self._levels, self.n_features, keep)[0]

    def reopen_args(self) -> dict | None:
        args = self.source.reopen_args()
        return None if args is None else {**args, "categorical": self._levels.names,
                                          "levels": self._levels}

    def delayed_units(self) -> list:
        import dask

        return [dask.delayed(_encode, pure=True)(unit, self._levels, self.n_features)
                for unit in self.source.delayed_units()]

    def fingerprint(self) -> dict:
        return {**self.source.fingerprint(),
                "categorical": {c.name: len(c.values) for c in self._levels.columns}}

    @property
    def n_weights(self) -> int:
        """The model's weights: ``d`` number features, then the level weights."""
        return self.n_features + self._levels.n_weights

    def __repr__(self) -> str:
        return f"<Encoded {self.source!r}, {self._levels.n_weights} level weights>"


def encode_source(source: Source, counts: LevelCounts, *, reference: bool,
                  hash_bits: int = 0) -> Source:
    """``source`` encoded by the levels ``counts`` found (:meth:`LevelCounts.levels`;
    ``reference``: the most frequent level of each column gets no weight). A column
    past ``--max-levels`` is hashed into ``2**hash_bits`` weights when ``hash_bits``
    is given; else left out with its reason when it was a default choice, and refused
    (DataError) when the user named it (``source.named_categorical``)."""
    named = set(source.named_categorical)
    left = []
    for name, seen in counts.over.items() if not hash_bits else ():
        what = (f"more than {counts.max_levels} distinct values ({seen} in the rows counted "
                "before it stopped)")
        if name in named:
            raise DataError(f"{source.describe_input()}: categorical column {name!r} has {what}; "
                            "raise --max-levels, hash it (--hash-bits), or leave it out (an "
                            "id or free text?)")
        left.append((name, f"{what} > --max-levels: an id or free text?"))
    levels = counts.levels(reference=reference, hash_bits=hash_bits)
    if not source.n_features and not levels.columns:
        raise DataError(f"{source.describe_input()}: no feature columns left: every "
                        "categorical column has more levels than --max-levels")
    if left:
        source = _reading_only(source, levels.names)
    return Encoded(source, levels, left)


def _reading_only(source: Source, names: Sequence[str]) -> Source:
    """A twin of ``source`` (and of every source it wraps) whose reader decodes only the
    categorical columns ``names``: a column left out for its many levels is then read no
    more (its decode, a 10,000-level string column's, was ~20% of a unit's read). A
    twin, not a change: the caller's source still reads every column it chose."""
    twin = copy.copy(source)
    if isinstance(source, Wrapped):
        twin.source = _reading_only(source.source, names)
    else:
        twin.categorical = [c for c in source.categorical if c in names]
    return twin


__all__ = ["Encoded", "encode_source"]
