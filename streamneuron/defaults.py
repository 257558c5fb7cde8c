"""The SGD defaults that need no tuning, and the convergence rule.

``streamneuron train FILE -o M`` with no other flag (and ``fit_sgd(FILE)``) trains with

* the step rule ``"auto"``: AdaGrad's per-coordinate steps (``lr = AUTO_LR``), the
  model returned being the average of the iterates of the last epoch (each epoch
  averages afresh: the early, far iterates never weigh on the model, and the
  average removes most of the noise of the steps);
* a batch size from the row count (:func:`auto_batch_size`): one row per step for
  small files (an epoch of a 400-row file then still makes 400 steps), up to
  ``MAX_AUTO_BATCH`` rows on large ones;
* up to ``MAX_EPOCHS`` epochs, stopping when the training objective has converged
  (:func:`converged`).

The values were chosen by ``scripts/bench_defaults.py`` (its results: README, "Defaults
that need no tuning"). :class:`streamneuron.training.PassPolicy` applies them, the same
way for every trainer.
"""

from __future__ import annotations

import math
from typing import Sequence

# The schedule used when none is given (the first of streamneuron.schedules.SCHEDULES).
AUTO_SCHEDULE = "auto"
# The learning rate of "auto" (its AdaGrad steps) when none is given: on standardized
# features a coordinate moves about this much per step at first, less as its squared
# gradients add up.
AUTO_LR = 1.0
# The learning rate of the other schedules when none is given (the article's).
LR = 0.1
# The most epochs a run makes when --epochs is not given.
MAX_EPOCHS = 1000
# The convergence rule: relative improvement of the epoch's training objective that
# counts, and for how long none may come (in rows, so that a small file, whose
# epoch objective is noisy, gets as many epochs as a large file gets rows).
CONVERGENCE_TOL = 1e-3
PATIENCE_ROWS = 50_000
MIN_PATIENCE = 2
MAX_PATIENCE = 100  # a tiny file's objective is noisy for good: still decide in time
# Batch size from the row count: about this many steps per epoch at least, and at
# most MAX_AUTO_BATCH rows per step.
ROWS_PER_BATCH_ROW = 250
MAX_AUTO_BATCH = 256


def auto_batch_size(n_rows: int) -> int:
    """The largest power of two ``<= n_rows / ROWS_PER_BATCH_ROW``, within
    ``[1, MAX_AUTO_BATCH]``: 1 below 500 rows, 4 at 1,797, 256 from 64k rows on."""
    ratio = max(int(n_rows) // ROWS_PER_BATCH_ROW, 1)
    return min(1 << (ratio.bit_length() - 1), MAX_AUTO_BATCH)


def patience_epochs(n_rows: int) -> int:
    """Epochs without improvement before a run counts as converged:
    ``ceil(PATIENCE_ROWS / n_rows)`` within ``[MIN_PATIENCE, MAX_PATIENCE]``."""
    wanted = math.ceil(PATIENCE_ROWS / max(int(n_rows), 1))
    return min(max(MIN_PATIENCE, wanted), MAX_PATIENCE)


def converged(objectives: Sequence[float], n_rows: int, tol: float = CONVERGENCE_TOL) -> bool:
    """Whether the epochs' training objectives ``J_1..J_k`` (each the mean loss at the
    weights each row met, plus the L2 term) have converged: the mean over the last
    ``P = patience_epochs(n_rows)`` epochs is not below the mean over the ``P``
    epochs before them by more than ``tol`` relative::

        k >= 2P   and   mean(J_{k-P+1..k}) >= a - tol |a|,   a = mean(J_{k-2P+1..k-P})

    Means, not best values: an epoch's objective is noisy (the weights move while the
    rows meet them), and the least of many noisy values says more about the noise
    than about progress. A function of the history alone, so a resumed run decides
    the same. ``tol = 0``: never (the run makes every epoch). NaN never converges.
    """
    p = patience_epochs(n_rows)
    if tol <= 0 or len(objectives) < 2 * p or any(math.isnan(v) for v in objectives):
        return False
    before = math.fsum(objectives[-2 * p:-p]) / p
    last = math.fsum(objectives[-p:]) / p
    return last >= before - tol * abs(before)


__all__ = ["auto_batch_size", "patience_epochs", "converged", "AUTO_SCHEDULE",
           "AUTO_LR", "LR", "MAX_EPOCHS", "CONVERGENCE_TOL", "PATIENCE_ROWS"]


# SGD reports the objective of the model it saves (averaged) by one more read of the rows
# only after this many epochs or more, when that read costs at most a fifth of the run's;
# a shorter run reports its last epoch's objective at the moving iterates, and says so.
SAVED_OBJECTIVE_EPOCHS = 5
