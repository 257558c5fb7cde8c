"""The math of one sigmoid neuron, as in the article, in one place.

A neuron maps a row ``x`` to the logit ``z = x . w + b`` and the probability
``p = sigmoid(z)``. Each loss is written as a function of the logit ``z`` and
the label ``y`` in {0, 1}, with its derivative ``dL/dz`` beside it; the chain
rule then gives every gradient the engines need::

    dL/dw_j = dL/dz * x_j          dL/db = dL/dz

==========  ===============================  ============================
loss        L(z, y)                          dL/dz
==========  ===============================  ============================
``mse``     0.5 * (p - y)**2                 (p - y) * p * (1 - p)
``log``     log(1 + e**z) - y * z            p - y
==========  ===============================  ============================

``mse`` is the article's squared error through the sigmoid; ``log`` is the
log loss ``-(y log p + (1-y) log(1-p))`` rewritten from the logit so that it
never takes the log of a rounded-to-zero ``p``.

The objective (README, "The math") averages over the m rows that are seen, article
point 3, and penalises the weights but not the bias::

    J(w, b) = (1/m) * sum_i L(z_i, y_i) + (l2 / 2) * ||w||**2
    dJ/dw   = (1/m) * sum_i dL/dz_i * x_i + l2 * w
    dJ/db   = (1/m) * sum_i dL/dz_i

Newton's method also needs a curvature weight ``h(z, y)`` per row, the Hessian
being ``(1/m) sum_i h_i x~_i x~_i^T`` with ``x~ = (x, 1)``::

    log:  h = d2L/dz2 = p (1 - p)
    mse:  h = (p (1 - p))**2     (Gauss-Newton: the exact d2L/dz2 can be negative)

Each loss is written twice: here an array version (numpy ufuncs only, so it runs
unchanged on a numpy block or a Dask array), and a scalar version compiled by
numba into the fused kernels, ``loss_and_dz_scalar`` in
:mod:`streamneuron.kernels.common` (the same formulas, one row at a time; kept
there so that this module loads without numba). :data:`LOSSES` is the one
registry of losses: the command line's ``--loss`` choices, the parameter checks
and the estimator's constraints all read it.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .penalty import Penalty

# --------------------------------------------------------------------------
# Array versions (numpy or Dask arrays)
# --------------------------------------------------------------------------


def sigmoid(z):
    """``1 / (1 + e**-z)``, computed as ``exp(-log(1 + e**-z))`` so it never overflows."""
    return np.exp(-np.logaddexp(0.0, -z))


class LogLoss:
    """Log loss (the default). ``L = log(1 + e**z) - y z``; ``dL/dz = p - y``."""

    name = "log"
    kernel_id = 0

    @staticmethod
    def loss(z, y):
        return np.logaddexp(0.0, z) - y * z

    @staticmethod
    def dloss_dz(z, y):
        return sigmoid(z) - y

    @staticmethod
    def curvature(z, y):
        """Newton's weight ``d2L/dz2 = p (1 - p)`` (the exact Hessian is ``sum h x x^T``)."""
        p = sigmoid(z)
        return p * (1.0 - p)

    @staticmethod
    def from_metrics(result: dict) -> float:
        """The mean of this loss from :meth:`StreamingMetrics.result`'s numbers: the log loss."""
        return result["log_loss"]


class SquaredError:
    """The article's loss. ``L = 0.5 (p - y)**2``; ``dL/dz = (p - y) p (1 - p)``."""

    name = "mse"
    kernel_id = 1

    @staticmethod
    def loss(z, y):
        return 0.5 * (sigmoid(z) - y) ** 2

    @staticmethod
    def dloss_dz(z, y):
        p = sigmoid(z)
        return (p - y) * p * (1.0 - p)

    @staticmethod
    def curvature(z, y):
        """Gauss-Newton's weight ``(p (1 - p))**2``: the exact ``d2L/dz2`` adds
        ``(p - y) p (1 - p) (1 - 2p)``, which can be negative (an indefinite
        Hessian); the Gauss-Newton term never is."""
        p = sigmoid(z)
        return (p * (1.0 - p)) ** 2

    @staticmethod
    def from_metrics(result: dict) -> float:
        """The mean of this loss from :meth:`StreamingMetrics.result`'s numbers:
        ``0.5 (p - y)**2`` is half the mean squared error ``mse`` (the Brier score)."""
        return 0.5 * result["mse"]


# The registry of losses, by name (the first is the default). A new loss needs an
# entry here, its array version above and its scalar version under its kernel_id.
LOSSES = {cls.name: cls for cls in (LogLoss, SquaredError)}


def get_loss(name: str):
    """The loss object for a name of :data:`LOSSES` (``"log"`` or ``"mse"``)."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown loss {name!r}: choose one of {', '.join(sorted(LOSSES))}", param="loss"
        ) from None


def logit(X, w, b):
    """``z = X @ w + b`` for a row-major batch ``X`` of shape (m, d)."""
    return X @ w + b


def objective(loss, X, y, w, b, l2: float = 0.0) -> float:
    """``J(w, b) = mean L(z, y) + (l2/2) ||w||**2`` on one in-memory batch."""
    return float(Penalty(l2=l2).objective(loss.loss(logit(X, w, b), y).mean(), w))


def gradient(loss, X, y, w, b, l2: float = 0.0):
    """``(dJ/dw, dJ/db)``: the loss gradient averaged over the rows, plus ``l2 w``."""
    dz = loss.dloss_dz(logit(X, w, b), y)
    return X.T @ dz / X.shape[0] + Penalty(l2=l2).l2_gradient(w), dz.mean()

