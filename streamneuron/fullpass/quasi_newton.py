"""L-BFGS's pieces (:func:`streamneuron.fullpass.solvers.lbfgs`): the two-loop recursion,
the memory kept, OWL-QN's orthant and its projection.

The two-loop recursion (Nocedal and Wright, algorithm 7.4) gives ``H_k pg``, ``H_k`` the
inverse-Hessian estimate of the pairs ``(s, y)`` (steps and changes of the gradient) over
``H_0 = scale I``; OWL-QN (Andrew and Gao 2007) keeps each trial point on the orthant of
the current one. No pass, no data: ``O(pairs x weights)`` arithmetic.
"""

from __future__ import annotations

import numpy as np

# The (s, y) pairs kept: every pair of the run up to LBFGS_MEMORY, at most
# LBFGS_MEMORY_BYTES of them, never fewer than LBFGS_MIN_MEMORY (scipy's maxcor); and the
# smallest curvature s.y / y.y accepted. A pass costs far more than a two-loop over 200
# pairs, and the longer memory halves the passes at l2 = 1e-4 (73 -> 45 on breast_cancer).
# OWL-QN keeps LBFGS_MIN_MEMORY: its pairs go stale when weights cross zero, and a long
# memory of them took 5x the passes (breast_cancer, l1 = 1e-3: 626 against 119).
LBFGS_MEMORY = 200
LBFGS_MIN_MEMORY = 10
LBFGS_MEMORY_BYTES = 64 << 20
LBFGS_MIN_CURVATURE = 1e-12


def two_loop(pg: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]],
              scale: float | None = None) -> np.ndarray:
    """L-BFGS's two-loop recursion: ``H_k pg`` for the inverse-Hessian estimate of the
    pairs ``(s, y, 1/(y.s))``, oldest first, ``H_0 = scale I`` (by default ``s.y / y.y``
    of the newest pair)."""
    q = pg.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        alphas.append(a)
        q -= a * y
    if scale is not None:
        q *= scale
    elif pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * float(y @ y))
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        q += (a - rho * float(y @ q)) * s
    return q


def orthant(theta: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """OWL-QN's orthant of the weights: ``sign(w)``, and ``sign(-pg)`` where ``w = 0``
    (0 where ``pg`` is 0 too: that weight stays at zero)."""
    w = theta[:-1]
    return np.where(w != 0.0, np.sign(w), np.sign(-pg[:-1]))


def project(x: np.ndarray, orthant: np.ndarray) -> np.ndarray:
    """``pi(x; xi)``: each weight whose sign is not its orthant's set to zero (the bias free)."""
    x[:-1][np.sign(x[:-1]) != orthant] = 0.0
    return x


def aligned(direction: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """Andrew and Gao's direction: each weight's entry that does not point along ``-pg``
    set to zero."""
    out = direction.copy()
    out[:-1][out[:-1] * pg[:-1] >= 0.0] = 0.0
    return out


def lbfgs_memory(size: int) -> int:
    """The pairs kept for ``size`` unknowns: ``LBFGS_MEMORY``, or as many pairs (two
    float64 vectors each) as fit in ``LBFGS_MEMORY_BYTES``, at least ``LBFGS_MIN_MEMORY``."""
    fit = LBFGS_MEMORY_BYTES // (16 * max(size, 1))
    return int(max(LBFGS_MIN_MEMORY, min(LBFGS_MEMORY, fit)))


__all__ = ["LBFGS_MEMORY", "LBFGS_MIN_MEMORY", "LBFGS_MEMORY_BYTES", "LBFGS_MIN_CURVATURE",
           "two_loop", "orthant", "project", "aligned", "lbfgs_memory"]
