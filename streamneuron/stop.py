"""Why a training run stopped, as a value both engines record (``info["stop_reason"]``)
and the code compares, instead of comparing messages.

A :class:`StopReason` is a ``str`` whose value is what the model file and ``--json``
show ("converged", "max epochs", ...), so a reason read back from JSON compares equal
to the member.
"""

from __future__ import annotations

from enum import Enum


class StopReason(str, Enum):
    """Why training stopped."""

    # both engines
    CONVERGED = "converged"
    # full-pass solvers
    MAX_ITER = "max iterations"  # max_iter iterations without meeting the tolerance
    UNBOUNDED = "unbounded"  # the weights head for infinity (separable classes, no penalty)
    NO_DESCENT = "no descent"  # no step along the direction lowers the objective
    # scipy's L-BFGS-B stopped for a reason of its own: no longer made (lbfgs is our own
    # since issue 22), kept so that the models it wrote still read
    SCIPY = "scipy"
    # SGD
    MAX_EPOCHS = "max epochs"  # the most epochs without an epoch count given
    EPOCHS = "epochs"  # the epochs asked for
    EARLY_STOPPING = "early stopping"  # validation loss stopped improving

    def __str__(self) -> str:
        return self.value


__all__ = ["StopReason"]
