"""Standardization of in-memory arrays, and a model kept up to date with it.

The estimator (:class:`streamneuron.NeuronClassifier`) trains on arrays, not on a
stream; what it needs of standardization is here:

* :func:`array_moments`: the (weighted) per-feature mean and spread of ``X``,
  ``MOMENT_ROWS`` rows at a time (the float64 temporary is bounded whatever ``X``);
* streaming standardization (:func:`restandardize`): a model started by
  ``partial_fit`` keeps running moments of every block; when they move, the model
  and the training state it continues from are re-expressed over the new statistics
  (:func:`streamneuron.neuron.restandardized`), so that no prediction changes;
* a warm start that turns standardization on or off (:func:`rebase`).

Errors are scikit-learn's ``ValueError``, as the estimator raises them.
"""

from __future__ import annotations

import numpy as np

from .neuron import Neuron, restandardized
from .stats import Moments
from .training import TrainState

# Rows per summary when computing the statistics of an array (bounds the float64
# temporary to this many rows, whatever the size of X).
MOMENT_ROWS = 1 << 16


def array_moments(X, weights=None) -> Moments:
    """The (weighted) per-feature mean and spread of ``X``, ``MOMENT_ROWS`` rows at a time;
    ValueError when a feature's variance overflows float64."""
    total = Moments.empty(X.shape[1])
    for start in range(0, X.shape[0], MOMENT_ROWS):
        rows = slice(start, start + MOMENT_ROWS)
        total = total.merge(Moments.of(X[rows], None if weights is None else weights[rows]))
    if not np.isfinite(total.m2).all():
        column = int(np.flatnonzero(~np.isfinite(total.m2))[0])
        raise ValueError(f"feature {column} of X is too large to standardize (its "
                         "variance overflows float64); rescale it first")
    return total


def restandardize(neuron: Neuron, state: TrainState | None,
                  new: tuple[np.ndarray, np.ndarray]) -> None:
    """Give ``neuron`` the statistics ``new = (mean, scale)`` without changing any of its
    logits: its weights and bias, and those of ``state`` (the iterates, their running
    average, AdaGrad's sums; None: no state carried) re-expressed when it had
    statistics before; a neuron without statistics just takes them."""
    if neuron.mean is not None:
        old = (neuron.mean, neuron.scale)
        neuron.weights, neuron.bias = restandardized(neuron.weights, neuron.bias, old, new)
        if state is not None:
            state.weights, state.bias = restandardized(state.weights, state.bias, old, new)
            if state.avg_count > 0:
                state.avg_w, state.avg_b = restandardized(state.avg_w, state.avg_b, old, new)
            # AdaGrad's sums of squared gradients, as if the past gradients had been
            # taken over the new scale (d z / d w'_j = (x_j - m'_j) / s'_j): the
            # per-coordinate steps stay the same size relative to the new weights.
            state.g2[:-1] *= (old[1] / new[1]) ** 2
    neuron.set_standardize(new)


def rebase(neuron: Neuron, standardize: bool, X) -> None:
    """Match ``neuron``'s statistics to ``standardize``, its logits unchanged: with
    ``standardize`` and none yet, the statistics of ``X`` (``z = w.x + b =
    (w * scale) . (x - mean) / scale + (b + w . mean)``); without, the statistics
    folded into the weights (``w / scale``, ``b - (w / scale) . mean``)."""
    if standardize and neuron.mean is None:
        moments = array_moments(X)
        mean, scale = moments.mean, moments.scale()
        neuron.bias += float(neuron.weights @ mean)
        neuron.weights = neuron.weights * scale
        neuron.set_standardize((mean, scale))
    elif not standardize and neuron.mean is not None:
        coef = neuron.weights * neuron.inv_scale
        neuron.bias -= float(coef @ neuron.center)
        neuron.weights = coef
        neuron.set_standardize(None)


__all__ = ["array_moments", "restandardize", "rebase", "MOMENT_ROWS"]
