"""Where training starts (``init``, ``--init``): zeros, or a model to continue from.

A warm start takes a model's weights and bias as the first point of any engine
(SGD's first step, a full-pass solver's ``theta0``). The model's features must be
the training features (by name; another order is reordered). Its standardization
``(m, s)`` is re-expressed for the run's ``(m', s')`` so that every logit is the
same at the start (:func:`streamneuron.neuron.restandardized`)::

    w'_j = w_j s'_j / s_j,     b' = b + sum_j w_j (m'_j - m_j) / s_j

(no standardization is ``m = 0, s = 1``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, ModelError
from .neuron import Neuron, load_model, restandardized
from .params import DEFAULT

ZEROS = DEFAULT.init  # "zeros": weights and bias start at zero


@dataclass(frozen=True)
class Start:
    """A model to start from, and where it came from (for messages)."""

    model: Neuron
    where: str

    def apply(self, model: Neuron) -> None:
        """Set ``model``'s weights and bias (its standardization already set) to the
        start model's, re-expressed over ``model``'s standardization: the same logits."""
        start = self.model
        order = self._feature_order(list(model.feature_names))
        old = (start.center[order], 1.0 / start.inv_scale[order])
        new = (model.center, 1.0 / model.inv_scale)
        weights, bias = restandardized(start.weights[order], start.bias, old, new)
        model.weights[:] = weights
        model.bias = float(bias)

    def _feature_order(self, training: list[str]) -> np.ndarray:
        """The index of each training feature in the start model (the same names, any
        order)."""
        start = list(self.model.feature_names)
        if sorted(start) != sorted(training) or len(set(start)) != len(start):
            missing = [n for n in training if n not in start]
            extra = [n for n in start if n not in training]
            raise ConfigError.about("init", f"{self.where}: the model's features differ from "
                                    f"the training features: it lacks {_names(missing)} and "
                                    f"has {_names(extra)} besides")
        where = {name: j for j, name in enumerate(start)}
        return np.array([where[name] for name in training], dtype=np.intp)


def initial_model(init: str | os.PathLike | Neuron | None) -> Start | None:
    """The model to start from (loaded and checked before any work), or None for zeros.

    ``init``: ``"zeros"`` (or None), a model file's path, or a :class:`Neuron`."""
    if init is None or (isinstance(init, str) and init == ZEROS):
        return None
    if isinstance(init, Neuron):
        return Start(init, "the init model")
    if not isinstance(init, (str, os.PathLike)):
        raise ConfigError.about("init", f"must be 'zeros', a model file or a Neuron, got "
                                f"{type(init).__name__}")
    try:
        return Start(load_model(init), os.fspath(init))
    except ModelError as exc:  # the file is named; say which parameter named it
        raise ConfigError.about("init", str(exc)) from None


def _names(names: list[str]) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")
