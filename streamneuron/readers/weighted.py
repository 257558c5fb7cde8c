"""Class weights applied where a unit is decoded: the :class:`Weighted` source.

``Weighted(source, (a0, a1))`` reads the units of ``source`` and gives, in
``DecodedUnit.w``, each row's effective weight::

    c_i = s_i * a[y_i]        (s_i: the weight column, 1 without one)

(:func:`streamneuron.weighting.row_weights`). Everything downstream (the stream,
the statistics, a full pass, validation) reads ``w`` and nothing else: no
engine is told the class weights. A worker reopening the files gets them too
(``reopen_args()`` carries them into :func:`~streamneuron.readers.open_source`), a
checkpoint's fingerprint names them, and Dask units (``delayed_units()``) apply
them in their own tasks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..weighting import ClassWeights, ClassWeightSpec, resolve_class_weight, row_weights
from .base import DecodedUnit, Source
from .wrapped import Wrapped


def with_class_weights(source: Source, spec: ClassWeightSpec) -> Source:
    """``source`` whose rows also carry the class weights ``spec`` asks for (None:
    ``source`` itself; ``"balanced"``: counted from its labels, one label-only pass;
    ``{0: a0, 1: a1}``)."""
    class_weights = resolve_class_weight(spec, source)
    return source if class_weights is None else Weighted(source, class_weights)


def _weigh(units: list[DecodedUnit], class_weights: ClassWeights) -> list[DecodedUnit]:
    """The units with their class weights applied (a task of a Dask graph)."""
    for unit in units:
        unit.w = row_weights(unit.w, unit.y, class_weights)
    return units


class Weighted(Wrapped):
    """``source`` with class weights ``(a0, a1)``: ``read(i).w`` is each row's weight
    times the weight of its label's class (the module docstring). Every other member
    is the wrapped source's."""

    def __init__(self, source: Source, class_weights: ClassWeights):
        if source.class_weights is not None:
            raise ConfigError(f"the source already carries class weights "
                              f"{source.class_weights}; give them once", param="class_weight")
        if source.label is None:
            raise ConfigError("class weights need labels", param="class_weight")
        super().__init__(source)
        self._class_weights = (float(class_weights[0]), float(class_weights[1]))

    class_weights = property(lambda self: self._class_weights)
    weighted = property(lambda self: True)

    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        unit = self.source.read(i, keep=keep, out=out)
        unit.w = row_weights(unit.w, unit.y, self.class_weights)
        return unit

    def read_imputed(self, i: int, fills, *, keep: Sequence[str] = (),
                     out: np.ndarray | None = None) -> DecodedUnit:
        unit = self.source.read_imputed(i, fills, keep=keep, out=out)
        unit.w = row_weights(unit.w, unit.y, self.class_weights)
        return unit

    def reopen_args(self) -> dict | None:
        args = self.source.reopen_args()
        return None if args is None else {**args, "class_weights": self.class_weights}

    def delayed_units(self) -> list:
        import dask

        return [dask.delayed(_weigh, pure=True)(unit, self.class_weights)
                for unit in self.source.delayed_units()]

    def fingerprint(self) -> dict:
        return {**self.source.fingerprint(), "class_weights": list(self.class_weights)}

    def __repr__(self) -> str:
        return f"<Weighted {self.source!r}, class weights {self.class_weights}>"


__all__ = ["Weighted", "with_class_weights"]
