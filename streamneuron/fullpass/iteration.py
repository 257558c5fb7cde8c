"""What every full-pass solver's iterations share (:mod:`streamneuron.fullpass.solvers`).

* :class:`Options` in, :class:`Result` out, the way the run ended a :class:`Stop`
  (a :class:`~streamneuron.stop.StopReason` and its message);
* :func:`line_search`: the one backtracking line search (newton, proximal newton,
  OWL-QN), each trial one pass;
* :class:`Trace`: the history rows, each reported as it is made, and the runaway
  check (the weights heading for infinity);
* the objective ``F = J + l1 ||w||_1`` and the norm of its (pseudo-)gradient at an
  :class:`~streamneuron.fullpass.sums.Evaluation` (``theta = (w, b)``, the bias last:
  the :class:`~streamneuron.penalty.Penalty` is given ``theta[:-1]``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..penalty import Penalty
from ..stop import StopReason
from .sums import Evaluation

Evaluate = Callable[[np.ndarray, bool], Evaluation]

# Armijo's sufficient-decrease constant and the backtracking factor of the line search.
ARMIJO_C1 = 1e-4
BACKTRACK = 0.5
# The relative rounding of the objective's sums (float64 over up to ~1e10 rows, pairwise
# between tasks): a change of F below it is noise (see line_search).
ROUNDING = 1e-13
# The line search gives up on a direction after this many halvings of the step.
MAX_BACKTRACKS = 30
# A weight beyond this (on standardized features) means the optimum is at infinity.
RUNAWAY_WEIGHT = 1e6
# An objective below this fraction of the starting one, with no penalty: separable classes.
SEPARABLE_FRACTION = 1e-5


@dataclass(frozen=True)
class Options:
    """The knobs every solver reads (``lr`` only by ``gd``)."""

    max_iter: int = 100
    tol: float = 1e-6
    lr: float = 1.0
    penalty: Penalty = Penalty()


@dataclass(frozen=True)
class Stop:
    """Why a solver stopped: the reason to compare, the message to show."""

    reason: StopReason
    message: str


CONVERGED = Stop(StopReason.CONVERGED, "converged")


def max_iter_stop(options: Options) -> Stop:
    return Stop(StopReason.MAX_ITER, f"stopped after max_iter = {options.max_iter} iterations")


def no_descent(direction: str) -> Stop:
    return Stop(StopReason.NO_DESCENT,
                f"stopped: no step along the {direction} direction lowers the objective "
                "(the objective is flat to rounding here)")


@dataclass
class Result:
    """What a solver returns: the weights and how it got there."""

    theta: np.ndarray
    objective: float
    grad_norm: float
    iterations: int
    stop: Stop
    history: list[dict] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.stop.reason is StopReason.CONVERGED

    @property
    def message(self) -> str:
        return self.stop.message


def pseudo_gradient(gradient: np.ndarray, theta: np.ndarray, l1: float) -> np.ndarray:
    """The pseudo-gradient of ``F = J + l1 ||w||_1`` at ``theta = (w, b)``
    (:meth:`Penalty.pseudo_gradient` for the weights, ``g`` itself for the bias),
    ``gradient`` that of ``J``. Zero exactly at the optimum of ``F``."""
    pg = gradient.copy()
    pg[:-1] = Penalty(l1=l1).pseudo_gradient(gradient[:-1], theta[:-1])
    return pg


def objective_of(ev: Evaluation, penalty: Penalty) -> float:
    """``F = J + l1 ||w||_1`` at the evaluation's point (``J`` when ``l1 = 0``)."""
    return penalty.add_l1(ev.objective, ev.theta[:-1])


def grad_norm_of(ev: Evaluation, penalty: Penalty) -> float:
    """``||grad J||``, or with ``l1 > 0`` the norm of the pseudo-gradient of ``F``."""
    if penalty.l1 > 0.0:
        return float(np.linalg.norm(pseudo_gradient(ev.gradient, ev.theta, penalty.l1)))
    return ev.grad_norm


@dataclass(frozen=True)
class Trial:
    """An accepted point of the line search: its evaluation, ``F`` there, the step."""

    evaluation: Evaluation
    objective: float
    t: float


def line_search(evaluate: Evaluate, penalty: Penalty, point: Callable[[float], np.ndarray],
                bound: Callable[[float, np.ndarray], float], *, curvature: bool,
                t: float = 1.0, start: Evaluation | None = None) -> Trial | None:
    """Backtracking: the first of the points ``x = point(t)``, ``t`` halving
    (``BACKTRACK``) at most ``MAX_BACKTRACKS`` times, where ``F`` is finite and at most
    ``bound(t, x)`` (the caller's sufficient decrease: Armijo's along a direction, or
    OWL-QN's on the projected path). Each trial is one pass (with the Hessian when
    ``curvature``). None when no trial is accepted.

    Given the ``start`` point, a trial whose ``F`` is within the rounding of the sums
    (``ROUNDING |F|`` above the start's) and whose gradient is smaller is accepted too
    (scikit-learn's newton-cholesky does the same): next to the optimum the decrease a
    step promises is below the rounding of ``F``, and Armijo's test would halve the step
    pass after pass for nothing but the order of additions."""
    if start is not None:
        F0, g0 = objective_of(start, penalty), grad_norm_of(start, penalty)
    for _ in range(MAX_BACKTRACKS):
        x = point(t)
        ev = evaluate(x, curvature)
        F = objective_of(ev, penalty)
        if math.isfinite(F) and (F <= bound(t, x) or (
                start is not None and F <= F0 + ROUNDING * abs(F0)
                and grad_norm_of(ev, penalty) < g0)):
            return Trial(ev, F, t)
        t *= BACKTRACK
    return None


class Trace:
    """A run's history: one row per iteration (``iteration``, ``objective``,
    ``grad_norm``, a solver's extra columns, ``seconds`` since the previous row),
    reported as it is made; and the runaway check against the starting objective
    (``start_objective``, or the first row's)."""

    def __init__(self, report: Callable[[dict], None], penalty: Penalty,
                 start_objective: float | None = None):
        self.report, self.penalty = report, penalty
        self.start_objective = start_objective
        self.rows: list[dict] = []
        self.clock = time.perf_counter()

    def row(self, objective: float, grad_norm: float, **extra: float) -> None:
        now = time.perf_counter()
        row = {"iteration": len(self.rows) + 1, "objective": objective,
               "grad_norm": grad_norm, **extra, "seconds": round(now - self.clock, 6)}
        self.clock = now
        if self.start_objective is None:
            self.start_objective = objective
        self.rows.append(row)
        self.report(row)

    def runaway(self, theta: np.ndarray, objective: float,
                weights_too: bool = True) -> Stop | None:
        """A stop when the weights head for infinity (a weight beyond
        ``RUNAWAY_WEIGHT``, if ``weights_too``; or, with no penalty, the objective
        below ``SEPARABLE_FRACTION`` of the start's: separable classes, whose optimum
        is then at infinity), else None."""
        start = objective if self.start_objective is None else self.start_objective
        largest = float(np.max(np.abs(theta)))
        if (weights_too and largest > RUNAWAY_WEIGHT) or \
                (self.penalty.zero and objective < SEPARABLE_FRACTION * start):
            return Stop(StopReason.UNBOUNDED,
                        f"stopped: the weights grow without bound (largest |weight| "
                        f"{largest:.3g}, objective {objective:.3g}): the classes are (almost) "
                        "linearly separable, so with l2 = 0 the optimum is at infinity; add an "
                        "L2 penalty (without --l2: 1/n, scikit-learn's C = 1) for a finite "
                        "optimum")
        return None


__all__ = ["Options", "Result", "Stop", "StopReason", "Trace", "Trial", "line_search",
           "pseudo_gradient", "objective_of", "grad_norm_of", "CONVERGED", "ARMIJO_C1"]
