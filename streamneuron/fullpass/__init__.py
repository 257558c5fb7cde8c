"""The full-pass engine: gd, newton and lbfgs, each iteration one read of every partition.

Its rooms: :mod:`.partitions` (what a task reads), :mod:`.sums` (one pass's sums
and what they give a solver), :mod:`.cluster` (where a pass runs), :mod:`.solvers`
(gd, newton, lbfgs side by side) and :mod:`.engine` (:func:`fit_gd`, wiring them).
"""

from .engine import (ConvergenceWarning, GDParams, PersistWarning, fit_gd, fit_lbfgs,
                     fit_newton, sums_at_model)

__all__ = ["fit_gd", "fit_newton", "fit_lbfgs", "sums_at_model", "GDParams", "ConvergenceWarning",
           "PersistWarning"]
