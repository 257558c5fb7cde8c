"""Full-pass solvers, side by side over one primitive.

Each solver minimises ``J(theta)``, ``theta = (w, b)`` with the bias last
(:mod:`streamneuron.fullpass`), through one callable::

    evaluate(theta, curvature: bool) -> Evaluation     # one pass over the data

and knows nothing of files, clusters or losses. A pass is the currency: every
call of ``evaluate`` reads all the data once.

``gd``      the article's gradient descent: ``theta <- theta - lr grad J``; one
            pass per iteration.
``newton``  damped Newton: solve ``H step = -grad J`` (Cholesky; a pseudo-inverse
            when ``H`` is singular), then an Armijo backtracking line search.
            The pass that evaluates a trial point also sums the next gradient
            and Hessian, so an accepted step costs one pass. Quadratic
            convergence: 5-11 passes to 1e-6 on the problems of the benchmark.
``lbfgs``   scipy's L-BFGS-B, one pass per objective-and-gradient evaluation
            (its line search keeps the Wolfe conditions).

Stopping. ``newton``: when the Newton decrement, the model's own prediction of
the remaining gap ``J - J* ~ grad^T H^-1 grad / 2``, is at most ``tol |J| / 4``.
``lbfgs``: when the objective change is at most ``1e-4 tol max(|J|, 1)`` or the
largest gradient entry at most ``tol`` (scipy's ``ftol``/``gtol``).
``gd``: when the relative objective change is at most ``tol`` and ``||grad||``
at most ``sqrt(tol)``. Each solver also stops, with ``converged = False`` and a
message, after ``max_iter`` iterations, or when the weights run off to
infinity (separable classes with ``l2 = 0``: the optimum is at infinity).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import DivergenceError
from .fullpass import Evaluation

Evaluate = Callable[[np.ndarray, bool], Evaluation]

# Armijo's sufficient-decrease constant and the backtracking factor of newton.
ARMIJO_C1 = 1e-4
BACKTRACK = 0.5
# Newton gives up on a direction after this many halvings of the step.
MAX_BACKTRACKS = 30
# newton stops when its predicted gap is below this fraction of ``tol``.
NEWTON_MARGIN = 0.25
# lbfgs: scipy's ftol and gtol as multiples of ``tol``. scipy stops on either;
# these put the gap below tol on every benchmark problem (scripts/bench_solvers.py),
# for 10-50% more evaluations than the first one below that gap.
LBFGS_FTOL = 1e-4
LBFGS_GTOL = 1.0
# A weight beyond this (on standardized features) means the optimum is at infinity.
RUNAWAY_WEIGHT = 1e6
# An objective below this fraction of the starting one, with l2 = 0: separable classes.
SEPARABLE_FRACTION = 1e-5
# gd: an objective that grows by more than this (relative) from one pass to the next.
GROWTH = 1e-9


@dataclass
class Result:
    """What a solver returns: the weights and how it got there."""

    theta: np.ndarray
    objective: float
    grad_norm: float
    iterations: int
    converged: bool
    message: str
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Options:
    """The knobs every solver reads (``lr`` only by ``gd``)."""

    max_iter: int = 100
    tol: float = 1e-6
    lr: float = 1.0
    l2: float = 0.0


def _runaway(theta: np.ndarray, objective: float, start: float, l2: float,
             weights_too: bool = True) -> str | None:
    """A message when the weights head for infinity, else None. (gd passes
    ``weights_too=False``: its large weights after a too-long step are for its
    growth check to report, naming the learning rate.)"""
    largest = float(np.max(np.abs(theta)))
    if (weights_too and largest > RUNAWAY_WEIGHT) or \
            (l2 == 0.0 and objective < SEPARABLE_FRACTION * start):
        return (f"stopped: the weights grow without bound (largest |weight| {largest:.3g}, "
                f"objective {objective:.3g}): the classes are (almost) linearly separable, so "
                "with l2 = 0 the optimum is at infinity; add an L2 penalty (--l2 1e-4) for a "
                "finite optimum")
    return None


def gd(evaluate: Evaluate, theta: np.ndarray, options: Options,
       report: Callable[[dict], None]) -> Result:
    """The article's loop: ``theta <- theta - lr grad J(theta)``, one pass per iteration.

    Each history row has the objective and gradient at the weights *before*
    that iteration's step. An objective that grows from one pass to the next
    (the step is too long for this data) stops the run with a
    :class:`~streamneuron.DivergenceError` naming ``--lr``.
    """
    previous = None
    history: list[dict] = []
    start_objective = None
    message = f"stopped after max_iter = {options.max_iter} iterations"
    converged = False
    ev = None
    for it in range(1, options.max_iter + 1):
        start = time.perf_counter()
        ev = evaluate(theta, False)
        objective, grad_norm = ev.objective, ev.grad_norm
        if not (math.isfinite(objective) and math.isfinite(grad_norm)):
            raise DivergenceError(f"the objective became {objective} in iteration {it}: "
                                  "lower --lr")
        if previous is not None and objective > previous + GROWTH * abs(previous):
            raise DivergenceError(
                f"the objective grew from {previous:.6g} to {objective:.6g} in iteration {it}: "
                f"the learning rate {options.lr:g} is too large for this data; lower --lr "
                f"(try {options.lr / 10:g}), or use --mode newton, which needs no learning rate")
        start_objective = objective if start_objective is None else start_objective
        with np.errstate(over="ignore", invalid="ignore"):
            theta = theta - options.lr * ev.gradient
        if not np.all(np.isfinite(theta)):
            raise DivergenceError(f"the weights became infinite in iteration {it}: lower --lr")
        row = {"iteration": it, "objective": objective, "grad_norm": grad_norm,
               "seconds": round(time.perf_counter() - start, 6)}
        history.append(row)
        report(row)
        if grad_norm == 0.0 or (options.tol > 0 and previous is not None
                                and abs(objective - previous) <= options.tol * abs(previous)
                                and grad_norm <= math.sqrt(options.tol)):
            converged, message = True, "converged"
            break
        runaway = _runaway(theta, objective, start_objective, options.l2, weights_too=False)
        if runaway:
            message = runaway
            break
        previous = objective
    return Result(theta, ev.objective, ev.grad_norm, len(history), converged, message, history)


def _newton_step(hessian: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """``-H^-1 grad`` by Cholesky. A coordinate with no curvature at all (a constant
    column, standardized to zeros, with ``l2 = 0``) gets no step; if ``H`` is still
    singular, the pseudo-inverse (the smallest step that solves the model)."""
    step = np.zeros_like(gradient)
    active = np.diag(hessian) > 0.0
    H, g = hessian[np.ix_(active, active)], gradient[active]
    try:
        factor = np.linalg.cholesky(H)
        step[active] = -np.linalg.solve(factor.T, np.linalg.solve(factor, g))
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(H)
        keep = values > values.max(initial=0.0) * 1e-12
        step[active] = -(vectors[:, keep] @ ((vectors[:, keep].T @ g) / values[keep]))
    return step


def newton(evaluate: Evaluate, theta: np.ndarray, options: Options,
           report: Callable[[dict], None], first: Evaluation | None = None) -> Result:
    """Damped Newton with Armijo backtracking; ``first`` is the evaluation at
    ``theta`` if it is already known (from the standardization pass)."""
    ev = first if first is not None else evaluate(theta, True)
    start_objective = ev.objective
    history: list[dict] = []
    converged, message = False, f"stopped after max_iter = {options.max_iter} iterations"
    for it in range(1, options.max_iter + 1):
        start = time.perf_counter()
        step = _newton_step(ev.hessian, ev.gradient)
        slope = float(ev.gradient @ step)  # -(Newton decrement)**2
        # -slope / 2 is the quadratic model's gap to the optimum; the margin covers
        # the model's error (the true gap is at most ~1.1x the predicted one here).
        if not math.isfinite(slope) or \
                -slope / 2 <= NEWTON_MARGIN * options.tol * max(abs(ev.objective), 1e-300):
            converged, message = True, "converged"
            break
        t = 1.0
        for _ in range(MAX_BACKTRACKS):
            trial = evaluate(ev.theta + t * step, True)
            if math.isfinite(trial.objective) and \
                    trial.objective <= ev.objective + ARMIJO_C1 * t * slope:
                break
            t *= BACKTRACK
        else:
            message = ("stopped: no step along the Newton direction lowers the objective "
                       "(the objective is flat to rounding here)")
            break
        ev = trial
        row = {"iteration": it, "objective": ev.objective, "grad_norm": ev.grad_norm,
               "decrement": math.sqrt(max(-slope, 0.0)), "step": t,
               "seconds": round(time.perf_counter() - start, 6)}
        history.append(row)
        report(row)
        runaway = _runaway(ev.theta, ev.objective, start_objective, options.l2)
        if runaway:
            message = runaway
            break
    return Result(ev.theta, ev.objective, ev.grad_norm, len(history), converged, message,
                  history)


def lbfgs(evaluate: Evaluate, theta: np.ndarray, options: Options,
          report: Callable[[dict], None]) -> Result:
    """scipy's L-BFGS-B, each objective-and-gradient evaluation one pass."""
    from scipy.optimize import minimize

    history: list[dict] = []
    last: list[Evaluation] = []
    clock = [time.perf_counter()]

    def fun(x):
        ev = evaluate(np.array(x, dtype=np.float64), False)
        last[:] = [ev]
        if not math.isfinite(ev.objective):
            raise DivergenceError(f"the objective became {ev.objective} at an L-BFGS trial "
                                  "point; use --standardize")
        return ev.objective, ev.gradient

    def callback(x):
        ev = last[0]
        row = {"iteration": len(history) + 1, "objective": ev.objective,
               "grad_norm": ev.grad_norm,
               "seconds": round(time.perf_counter() - clock[0], 6)}
        clock[0] = time.perf_counter()
        history.append(row)
        report(row)

    result = minimize(fun, theta, jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": options.max_iter, "maxfun": 10 * options.max_iter,
                               "ftol": LBFGS_FTOL * options.tol,
                               "gtol": LBFGS_GTOL * options.tol})
    final = last[0]
    if not np.array_equal(final.theta, result.x):  # scipy ends on its best point
        final = evaluate(np.array(result.x, dtype=np.float64), False)
    start = history[0]["objective"] if history else final.objective
    runaway = _runaway(final.theta, final.objective, start, options.l2)
    converged = bool(result.success) and runaway is None
    message = runaway or ("converged" if result.success else f"stopped: {result.message}")
    return Result(final.theta, final.objective, final.grad_norm, int(result.nit), converged,
                  message, history)


SOLVERS = {"gd": gd, "newton": newton, "lbfgs": lbfgs}


__all__ = ["SOLVERS", "Options", "Result", "gd", "newton", "lbfgs"]
