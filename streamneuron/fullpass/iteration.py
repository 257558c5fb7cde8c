"""What every full-pass solver's iterations share (:mod:`streamneuron.fullpass.solvers`).

* :class:`Options` in, :class:`Result` out, the way the run ended a :class:`Stop`
  (a :class:`~streamneuron.stop.StopReason` and its message);
* :func:`line_search`: the one backtracking line search (newton, proximal newton,
  OWL-QN), each trial one pass;
* :class:`Trace`: the history rows, each reported as it is made, and the runaway
  check (the weights heading for infinity);
* :class:`NewtonStop`: newton's test of the weights' error (its lbfgs endgame's too);
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
# newton's stop may take its last step without reading the point it leads to when the
# run's last contraction (a full step's length over the one before) times this, times
# the step, is within tol of the weights (NewtonStop: the error the step leaves).
CONTRACTION_MARGIN = 2.0
# ... and at a point whose gap was met before, a step no shorter than STALLED times the
# last full one means the steps have stopped shrinking (the gradient's rounding): stop.
STALLED = 0.5
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
    # newton with a sampled Hessian: the predicted gap, in stopping thresholds, from which
    # a step's pass sums every row's (None: solvers.SAMPLED_LANDING; level codes:
    # sums.LEVEL_LANDING)
    landing: float | None = None


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


class NewtonStop:
    """Newton's stopping test at a point, given its step ``s`` (``-H^-1 g``, or proximal
    Newton's) and whether the gap test holds (the predicted gap ``-q(s)`` at most
    ``NEWTON_MARGIN tol |F|``). With ``M = tol max(||theta||_inf, 1)``, when the gap
    test holds:

    * ``HERE`` (stop at ``theta``) when ``||s||_inf <= M``: ``s`` estimates ``theta* -
      theta`` (within the Hessian's error, a factor ``1 +- e``), so the weights are within
      ``tol``, relative, of the optimum;
    * ``PAST`` (stop at ``theta + s``, a point no pass reads) when the previous step was
      a full one, ``s_prev``, and the error that step would leave is within ``M``, from
      ``rho = ||s||_2 / ||s_prev||_2``, the contraction the run just showed: a sampled
      Hessian, off by ``e ~ sqrt(weights / sampled rows)``, cuts the error by about
      ``e`` a step, the same from step to step (``rho ~ e``): ``CONTRACTION_MARGIN rho
      ||s|| <= M``; the exact one squares it, ``err' <= K err**2`` with ``K ~ ||s|| /
      ||s_prev||**2`` as the run showed: ``CONTRACTION_MARGIN rho**2 ||s|| <= M``
      (the margin: the next contraction may be a little worse than the last), with
      ``rho**2 + ev.hessian_error`` for a Hessian from float32 products (its rounding
      moves the step by at most that much, relative);
    * ``HERE`` when the previous point met the gap test too and its step was not a full
      one, or this step is no shorter than ``STALLED`` times it: the steps no longer
      shrink (the gradient's rounding: no pass would make the weights better).

    The gap alone leaves the weights ``sqrt(tol)``-accurate (it is quadratic in their
    error). With the exact Hessian ``PAST`` comes at the first or second point inside
    the gap (quadratic steps); with a sampled one, steps that shrink by ``e`` a pass
    continue until ``e ||s||`` is within ``tol``: at 1 in 16 of 8M rows (``e ~ 0.01``)
    that is the first point inside the gap too.
    """

    HERE, PAST = "here", "past"

    def __init__(self, tol: float):
        self.tol = tol
        self.gap_met_before = False
        self.last_full_step = 0.0  # ||s||_2 of the previous step if it was a full one, else 0

    def __call__(self, ev: Evaluation, step: np.ndarray, gap_met: bool) -> str | None:
        bound = self.tol * max(float(np.max(np.abs(ev.theta))), 1.0)
        size = float(np.linalg.norm(step))
        verdict = None
        if gap_met and float(np.max(np.abs(step))) <= bound:
            verdict = self.HERE
        elif gap_met and self.last_full_step > 0.0 and CONTRACTION_MARGIN * size * ((
                size / self.last_full_step) ** (1 if ev.hessian_sampled else 2)
                + ev.hessian_error) <= bound:
            verdict = self.PAST
        elif gap_met and self.gap_met_before and size >= STALLED * self.last_full_step:
            verdict = self.HERE
        self.gap_met_before = gap_met
        return verdict

    def stepped(self, step: np.ndarray, t: float) -> None:
        """The line search took ``t step``: a full step's length is the next contraction's
        reference, a damped one's is none."""
        self.last_full_step = float(np.linalg.norm(step)) if t == 1.0 else 0.0


def past_stop(decrease: float, objective: float) -> Stop:
    """Converged, one Newton step past the last point read (:attr:`NewtonStop.PAST`)."""
    return Stop(StopReason.CONVERGED,
                f"converged (the weights are one Newton step past the last point read; "
                f"the objective given is the quadratic model's there, that point's "
                f"{objective:.12g} lowered by {decrease:.2g}; the gradient norm is that "
                f"point's)")


__all__ = ["Options", "Result", "Stop", "StopReason", "Trace", "Trial", "line_search",
           "pseudo_gradient", "objective_of", "grad_norm_of", "CONVERGED", "ARMIJO_C1",
           "NewtonStop", "past_stop", "CONTRACTION_MARGIN", "STALLED"]
