"""How much each row counts: sample weights (a column) times class weights.

The weighted objective is::

    J(w, b) = sum_i c_i L_i / sum_i c_i  +  (l2 / 2) ||w||^2  (+ l1 ||w||_1)

with ``c_i = s_i * a[y_i]``: ``s_i`` the row's sample weight (the source's
``weight`` column, 1 without one) and ``a = (a0, a1)`` the class weights (1, 1
without them). Every mean of the unweighted objective (a batch's gradient, a
pass's sums, the standardization's mean and variance, the metrics) becomes the
same ``c``-weighted mean, so integer weights equal duplicated rows and a zero
weight equals a row that is absent.

Class weights ``"balanced"`` are scikit-learn's ``n / (2 n_c)`` from the
(unweighted) label counts, one label-only pass over the units
(:meth:`~streamneuron.readers.base.Source.labels`: the label column alone for
Parquet). Readers give ``s`` (the weight column, already checked finite and
>= 0); :class:`streamneuron.readers.Weighted` applies :func:`row_weights` to each
unit it decodes, so every engine reads ``c`` as ``DecodedUnit.w`` and nothing else.
"""

from __future__ import annotations

import math
from typing import Mapping, Union

import numpy as np

from .errors import ConfigError, DataError

ClassWeights = tuple[float, float]  # (a0, a1): the weight of a row labelled 0, of one labelled 1
ClassWeightSpec = Union[None, str, Mapping]


def check_class_weight(spec: ClassWeightSpec) -> None:
    """ConfigError unless ``spec`` is None, ``"balanced"`` or ``{0: a0, 1: a1}`` with
    finite ``a >= 0`` (a class left out of the mapping keeps weight 1)."""
    if spec is None or (isinstance(spec, str) and spec == "balanced"):
        return
    if isinstance(spec, str):
        raise ConfigError(f"class_weight must be 'balanced' or a mapping {{0: a, 1: b}}, got "
                          f"{spec!r}", param="class_weight")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"class_weight must be None, 'balanced' or a mapping {{0: a, 1: b}}, "
                          f"got a {type(spec).__name__}", param="class_weight")
    for key, value in spec.items():
        if isinstance(key, bool) or key not in (0, 1):
            raise ConfigError(f"class_weight has a key {key!r}; the classes are 0 and 1",
                              param="class_weight")
        if (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                or not math.isfinite(value) or value < 0):
            raise ConfigError(f"class_weight[{key}] is {value!r}; a class weight is a finite "
                              "number >= 0", param="class_weight")
    if all(float(spec.get(c, 1.0)) == 0.0 for c in (0, 1)):
        raise ConfigError("class_weight gives both classes weight 0: nothing would be "
                          "trained on", param="class_weight")


def label_counts(source) -> tuple[int, int]:
    """``(n0, n1)``: the rows labelled 0 and 1, one label-only read of every unit."""
    ones = total = 0
    for i in range(len(source.units)):
        y = source.labels(i)
        ones += int(np.count_nonzero(y))
        total += y.shape[0]
    return total - ones, ones


def balanced(counts: tuple[int, int], where: str = "the training data") -> ClassWeights:
    """``a_c = n / (2 n_c)`` (scikit-learn's ``compute_class_weight("balanced")``);
    DataError when a class has no row (there is nothing to balance)."""
    n0, n1 = counts
    for c, n_c in enumerate(counts):
        if n_c == 0:
            raise DataError(f"{where}: class_weight 'balanced' needs both labels, but no row "
                            f"has label {c}")
    n = n0 + n1
    return n / (2.0 * n0), n / (2.0 * n1)


def resolve_class_weight(spec: ClassWeightSpec, source=None) -> ClassWeights | None:
    """The class weights ``(a0, a1)`` that ``spec`` asks for, or None (every class 1).

    ``"balanced"`` counts the labels of ``source`` (a label-only pass)."""
    check_class_weight(spec)
    if spec is None:
        return None
    if isinstance(spec, str):
        if source is None:
            raise ConfigError("class_weight='balanced' needs the data to count labels",
                              param="class_weight")
        return balanced(label_counts(source), source.describe_input())
    return float(spec.get(0, 1.0)), float(spec.get(1, 1.0))


def row_weights(w: np.ndarray | None, y: np.ndarray | None,
                class_weights: ClassWeights | None) -> np.ndarray | None:
    """Each row's weight ``c_i = s_i * a[y_i]`` (float64), or None when the rows are
    unweighted (no sample weights, no class weights): the engines' fast path."""
    if class_weights is None:
        return w
    a0, a1 = class_weights
    if y is None:
        raise ConfigError("class weights need labels", param="class_weight")
    factor = np.where(y != 0.0, a1, a0)
    return factor if w is None else w * factor


def describe_weights(source) -> str:
    """The input and its weight column (if any), named for a message about its weights."""
    where = source.describe_input()
    return f"{where}, weight column {source.weight!r}" if source.weight else where


def check_total(total: float, where: str) -> None:
    """DataError when the weights of the whole input sum to 0 (no row would count)."""
    if not total > 0.0:
        raise DataError(f"{where}: the weights of every row are 0 (their sum is {total!r}); "
                        "nothing to train on")


__all__ = ["ClassWeights", "check_class_weight", "label_counts", "balanced",
           "resolve_class_weight", "row_weights", "describe_weights", "check_total"]
