"""TEMPORARY SHIM (branch fullpass15) of the lead's weighting module, to the contract in
/work/notes/weights_contract.md; replaced by main's when "weights: readers" lands."""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError

ClassWeights = tuple


def resolve_class_weight(spec, source):
    if spec is None:
        return None
    if isinstance(spec, dict):
        if set(spec) != {0, 1}:
            raise ConfigError("class_weight must be 'balanced' or {0: a, 1: b}")
        return float(spec[0]), float(spec[1])
    if spec != "balanced":
        raise ConfigError(f"class_weight must be 'balanced' or {{0: a, 1: b}}, got {spec!r}")
    ones = n = 0
    for i in range(len(source.units)):
        y = source.labels(i)
        ones += int(np.count_nonzero(y))
        n += y.shape[0]
    if ones == 0 or ones == n:
        raise DataError("class_weight='balanced': a class is absent")
    return n / (2 * (n - ones)), n / (2 * ones)


def row_weights(w, y, class_weights):
    if class_weights is None:
        return w
    a0, a1 = class_weights
    cw = np.where(y > 0.5, a1, a0)
    return cw if w is None else w * cw


def check_total(total, where):
    if not total > 0:
        raise DataError(f"{where}: the weights sum to 0")
