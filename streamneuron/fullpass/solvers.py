"""Full-pass solvers, side by side over one primitive.

Each solver minimises ``J(theta)``, ``theta = (w, b)`` with the bias last
(:mod:`streamneuron.fullpass.sums`), through one callable::

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

With an L1 penalty (``l1 > 0``) each solver minimises ``F = J + l1 ||w||_1``
(the bias is not penalised), ``J`` the smooth part the passes give:

``gd``      proximal gradient: the step, then each weight soft-thresholded by
            ``lr l1`` (weights that cross zero stop at exactly zero).
``newton``  proximal Newton (glmnet, glum): the direction minimises the quadratic
            model ``g.d + d'Hd/2 + l1 ||w + d||_1`` by coordinate descent
            (:func:`streamneuron.kernels.l1_newton_direction`: no pass), then a
            backtracking line search on ``F`` (Tseng and Yun's sufficient decrease),
            each trial one pass that also sums the next Hessian.
``lbfgs``   OWL-QN (Andrew and Gao 2007): L-BFGS's two-loop recursion on the
            pseudo-gradient, every trial point projected onto the orthant of the
            current point, a backtracking line search on ``F`` (:func:`owlqn` says
            when the direction is sign-aligned as in the paper).

Stopping. ``newton``: when the Newton decrement, the model's own prediction of
the remaining gap ``J - J* ~ grad^T H^-1 grad / 2``, is at most ``tol |J| / 4``
(with L1 the model's predicted decrease ``-q(d)``, the same number at ``l1 = 0``)
and, without L1, the Newton step (the estimate of the weights' own remaining
error) is at most ``tol`` relative to the weights, or the previous point already
met the gap test (:class:`NewtonStop`: at most one pass more than the gap alone).
``lbfgs``: when the objective change is at most ``1e-4 tol max(|J|, 1)`` or the
largest gradient entry at most ``tol`` (scipy's ``ftol``/``gtol``; OWL-QN the same,
``F`` and the pseudo-gradient in their place).
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

from ..errors import DivergenceError
from .sums import Evaluation

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
# Proximal Newton's inner coordinate descent: it stops when a full sweep lowers the
# model by at most INNER_REL of its value (or INNER_FLOOR of the stopping threshold),
# after at most INNER_SWEEPS sweeps.
INNER_REL = 1e-8
INNER_FLOOR = 1e-3
INNER_SWEEPS = 1000
# OWL-QN: the (s, y) pairs kept, and the smallest curvature s.y / y.y accepted.
OWLQN_MEMORY = 10
OWLQN_MIN_CURVATURE = 1e-12
# OWL-QN: always Andrew and Gao's sign-aligned direction (True), or only when the
# quasi-Newton direction held on the orthant's face is no descent direction (see owlqn).
OWLQN_ALIGN_DIRECTION = False


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
    l1: float = 0.0


def l1_norm(theta: np.ndarray) -> float:
    """``||w||_1``: the weights', the bias (last) left out."""
    return float(np.abs(theta[:-1]).sum())


def penalized_objective(ev: Evaluation, l1: float) -> float:
    """``F = J + l1 ||w||_1`` at the evaluation's point."""
    return ev.objective + l1 * l1_norm(ev.theta)


def pseudo_gradient(gradient: np.ndarray, theta: np.ndarray, l1: float) -> np.ndarray:
    """The minimum-norm subgradient of ``F = J + l1 ||w||_1`` (Andrew and Gao's
    pseudo-gradient), ``g`` the gradient of ``J``; for each weight::

        g_j + l1 sign(w_j)                 w_j != 0
        g_j + l1   if g_j + l1 < 0         w_j == 0 (F falls to the right)
        g_j - l1   if g_j - l1 > 0         w_j == 0 (F falls to the left)
        0          otherwise               w_j == 0 (zero is optimal along j)

    and ``g`` itself for the bias. Zero exactly at the optimum of ``F``.
    """
    pg = gradient.copy()
    w, g = theta[:-1], gradient[:-1]
    at_zero = np.where(g + l1 < 0.0, g + l1, np.where(g - l1 > 0.0, g - l1, 0.0))
    pg[:-1] = np.where(w != 0.0, g + l1 * np.sign(w), at_zero)
    return pg


def soft_threshold(theta: np.ndarray, k: float) -> np.ndarray:
    """The proximal step of ``k ||w||_1``: each weight ``sign(w) max(|w| - k, 0)``, the
    bias (last) unchanged."""
    out = theta.copy()
    out[:-1] = np.sign(theta[:-1]) * np.maximum(np.abs(theta[:-1]) - k, 0.0)
    return out


def _runaway(theta: np.ndarray, objective: float, start: float, penalty: float,
             weights_too: bool = True) -> str | None:
    """A message when the weights head for infinity, else None; ``penalty`` is
    ``l2 + l1``: without either the optimum of separable classes is at infinity. (gd passes
    ``weights_too=False``: its large weights after a too-long step are for its
    growth check to report, naming the learning rate.)"""
    largest = float(np.max(np.abs(theta)))
    if (weights_too and largest > RUNAWAY_WEIGHT) or \
            (penalty == 0.0 and objective < SEPARABLE_FRACTION * start):
        return (f"stopped: the weights grow without bound (largest |weight| {largest:.3g}, "
                f"objective {objective:.3g}): the classes are (almost) linearly separable, so "
                "with l2 = 0 the optimum is at infinity; add an L2 penalty (--l2 1e-4) for a "
                "finite optimum")
    return None


def gd(evaluate: Evaluate, theta: np.ndarray, options: Options,
       report: Callable[[dict], None]) -> Result:
    """The article's loop: ``theta <- theta - lr grad J(theta)``, one pass per iteration;
    with ``l1 > 0`` the proximal gradient step ``soft_threshold(theta - lr grad J, lr l1)``,
    the objective ``F`` and the pseudo-gradient's norm in place of the gradient's.

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
        if options.l1 > 0.0:
            objective = penalized_objective(ev, options.l1)
            grad_norm = float(np.linalg.norm(pseudo_gradient(ev.gradient, theta, options.l1)))
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
            if options.l1 > 0.0:
                theta = soft_threshold(theta, options.lr * options.l1)
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
        runaway = _runaway(theta, objective, start_objective, options.l2 + options.l1,
                           weights_too=False)
        if runaway:
            message = runaway
            break
        previous = objective
    return Result(theta, objective, grad_norm, len(history), converged, message, history)


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


class NewtonStop:
    """Newton's stopping test at a point, its step ``s = -H^-1 g`` and ``slope = g.s``.

    Stop when the predicted gap ``-slope / 2`` is at most ``NEWTON_MARGIN tol |J|``
    and either ``||s||_inf <= tol max(||theta||_inf, 1)`` (``s`` estimates
    ``theta* - theta``: the weights are within ``tol``, relative, of the optimum) or
    the previous point met the gap test too. The gap is quadratic in the weights'
    error, so it alone leaves them ``sqrt(tol)``-accurate; Newton's quadratic
    convergence makes the one step more (the second case, which also ends a run whose
    step is at the rounding noise of the gradient) square their error.
    """

    def __init__(self, tol: float):
        self.tol = tol
        self.gap_met_before = False

    def __call__(self, ev: Evaluation, step: np.ndarray, slope: float) -> bool:
        gap_met = -slope / 2 <= NEWTON_MARGIN * self.tol * max(abs(ev.objective), 1e-300)
        small = float(np.max(np.abs(step))) <= \
            self.tol * max(float(np.max(np.abs(ev.theta))), 1.0)
        done = gap_met and (small or self.gap_met_before)
        self.gap_met_before = gap_met
        return done


def newton(evaluate: Evaluate, theta: np.ndarray, options: Options,
           report: Callable[[dict], None], first: Evaluation | None = None) -> Result:
    """Damped Newton with Armijo backtracking; ``first`` is the evaluation at
    ``theta`` if it is already known (from the standardization pass). With
    ``l1 > 0``: proximal Newton (:func:`proximal_newton`)."""
    if options.l1 > 0.0:
        return proximal_newton(evaluate, theta, options, report, first)
    ev = first if first is not None else evaluate(theta, True)
    start_objective = ev.objective
    history: list[dict] = []
    converged, message = False, f"stopped after max_iter = {options.max_iter} iterations"
    stop = NewtonStop(options.tol)
    for it in range(1, options.max_iter + 1):
        start = time.perf_counter()
        step = _newton_step(ev.hessian, ev.gradient)
        slope = float(ev.gradient @ step)  # -(Newton decrement)**2
        # -slope / 2 is the quadratic model's gap to the optimum; the margin covers
        # the model's error (the true gap is at most ~1.1x the predicted one here).
        if not math.isfinite(slope) or stop(ev, step, slope):
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


def proximal_newton(evaluate: Evaluate, theta: np.ndarray, options: Options,
                    report: Callable[[dict], None], first: Evaluation | None = None) -> Result:
    """Proximal Newton for ``F = J + l1 ||w||_1`` (glmnet's and glum's outer loop).

    At ``theta`` with gradient ``g`` and Hessian ``H`` of ``J`` (one pass), the
    direction ``d`` minimises the model ``q(d) = g.d + d'Hd/2 + l1 (||w + d||_1 -
    ||w||_1)`` (coordinate descent, no pass); the step ``t`` halves from 1 until
    ``F(theta + t d) <= F(theta) + ARMIJO_C1 t delta``, ``delta = g.d + l1 (||w + d||_1
    - ||w||_1) < 0`` (Tseng and Yun 2009), each trial one pass that also sums the
    Hessian there. Stops when ``-q(d)``, the model's prediction of the gap
    ``F - F*``, is at most ``NEWTON_MARGIN tol |F|``.
    """
    from ..kernels import l1_newton_direction

    l1 = options.l1
    ev = first if first is not None else evaluate(theta, True)
    F = penalized_objective(ev, l1)
    start_objective = F
    history: list[dict] = []
    converged, message = False, f"stopped after max_iter = {options.max_iter} iterations"
    p = ev.theta.shape[0]
    step = np.empty(p)
    for it in range(1, options.max_iter + 1):
        start = time.perf_counter()
        threshold = NEWTON_MARGIN * options.tol * max(abs(F), 1e-300)
        model, _ = l1_newton_direction(ev.hessian, ev.gradient, ev.theta, l1, p - 1, INNER_REL,
                                       INNER_FLOOR * threshold, INNER_SWEEPS, step)
        if not math.isfinite(model) or -model <= threshold:
            converged, message = True, "converged"
            break
        norm = l1_norm(ev.theta)
        delta = float(ev.gradient @ step) + l1 * (l1_norm(ev.theta + step) - norm)
        t = 1.0
        for _ in range(MAX_BACKTRACKS):
            trial = evaluate(ev.theta + t * step, True)
            F_trial = penalized_objective(trial, l1)
            if math.isfinite(F_trial) and F_trial <= F + ARMIJO_C1 * t * delta:
                break
            t *= BACKTRACK
        else:
            message = ("stopped: no step along the proximal Newton direction lowers the "
                       "objective (the objective is flat to rounding here)")
            break
        ev, F = trial, F_trial
        row = {"iteration": it, "objective": F, "grad_norm": _pseudo_norm(ev, l1),
               "decrement": math.sqrt(max(-2.0 * model, 0.0)), "step": t,
               "seconds": round(time.perf_counter() - start, 6)}
        history.append(row)
        report(row)
        runaway = _runaway(ev.theta, F, start_objective, options.l2 + options.l1)
        if runaway:
            message = runaway
            break
    return Result(ev.theta, F, _pseudo_norm(ev, l1), len(history), converged, message, history)


def _pseudo_norm(ev: Evaluation, l1: float) -> float:
    return float(np.linalg.norm(pseudo_gradient(ev.gradient, ev.theta, l1)))


def _two_loop(pg: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """L-BFGS's two-loop recursion: ``H_k pg`` for the inverse-Hessian estimate of the
    pairs ``(s, y, 1/(y.s))``, oldest first, scaled by ``s.y / y.y`` of the newest."""
    q = pg.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * float(s @ q)
        alphas.append(a)
        q -= a * y
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * float(y @ y))
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        q += (a - rho * float(y @ q)) * s
    return q


def _orthant(theta: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """OWL-QN's orthant of the weights: ``sign(w)``, and ``sign(-pg)`` where ``w = 0``
    (0 where ``pg`` is 0 too: that weight stays at zero)."""
    w = theta[:-1]
    return np.where(w != 0.0, np.sign(w), np.sign(-pg[:-1]))


def _project(x: np.ndarray, orthant: np.ndarray) -> np.ndarray:
    """``pi(x; xi)``: each weight whose sign is not its orthant's set to zero (the bias free)."""
    x[:-1][np.sign(x[:-1]) != orthant] = 0.0
    return x


def _aligned(direction: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """Andrew and Gao's direction: each weight's entry that does not point along ``-pg``
    set to zero."""
    out = direction.copy()
    out[:-1][out[:-1] * pg[:-1] >= 0.0] = 0.0
    return out


def owlqn(evaluate: Evaluate, theta: np.ndarray, options: Options,
          report: Callable[[dict], None]) -> Result:
    """OWL-QN (Andrew and Gao 2007) for ``F = J + l1 ||w||_1``, one pass per evaluation.

    On the orthant ``xi`` of the current point (:func:`_orthant`) ``F`` is smooth,
    with the pseudo-gradient ``pg`` (:func:`pseudo_gradient`) for gradient. Each
    iteration: the direction ``p = -H pg`` by L-BFGS's two-loop recursion over
    the last ``OWLQN_MEMORY`` pairs ``(s, y)`` of steps and changes of the smooth
    gradient; trial points ``x(t) = pi(theta + t p)`` (:func:`_project`: a weight
    that would leave the orthant stops at zero), the step halving from 1 (the
    first iteration from ``1 / ||pg||``) until ``F(x(t)) <= F(theta) + ARMIJO_C1
    pg.(x(t) - theta)``. The bias is free.

    Andrew and Gao also zero every entry of ``p`` that disagrees in sign with
    ``-pg`` (:func:`_aligned`); that is needed only when ``p``, held on the face of
    the orthant, is not a descent direction, and otherwise throws away the
    curvature that correlated features need: 1.1-4x more passes on the
    benchmark sets (``scripts/bench_l1.py``). So the aligned direction is the
    fallback here (always, with ``OWLQN_ALIGN_DIRECTION``), and ``-pg`` (the
    memory cleared) when even that is no descent direction.

    Stops as scipy's L-BFGS-B does: the relative decrease of ``F`` at most
    ``LBFGS_FTOL tol``, or ``max |pg|`` at most ``LBFGS_GTOL tol``.
    """
    l1 = options.l1
    ftol, gtol = LBFGS_FTOL * options.tol, LBFGS_GTOL * options.tol
    ev = evaluate(np.array(theta, dtype=np.float64), False)
    F = penalized_objective(ev, l1)
    if not math.isfinite(F):
        raise DivergenceError(f"the objective became {F} at the start; use --standardize")
    start_objective = F
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
    history: list[dict] = []
    converged, message = False, f"stopped after max_iter = {options.max_iter} iterations"
    pg = pseudo_gradient(ev.gradient, ev.theta, l1)
    iterations = 0
    for it in range(1, options.max_iter + 1):
        start = time.perf_counter()
        if float(np.max(np.abs(pg))) <= gtol:
            converged, message = True, "converged"
            break
        orthant = _orthant(ev.theta, pg)
        direction = -_two_loop(pg, pairs)
        # The direction's first move from theta, weights held on the orthant's face.
        held = _project(ev.theta + direction, orthant) - ev.theta
        held[:-1][ev.theta[:-1] != 0.0] = direction[:-1][ev.theta[:-1] != 0.0]
        if OWLQN_ALIGN_DIRECTION or not float(pg @ held) < 0.0:
            direction = _aligned(direction, pg)
        if not float(direction @ pg) < 0.0:  # not a descent direction: start afresh
            pairs.clear()
            direction = -pg
        t = 1.0 if pairs else 1.0 / max(float(np.linalg.norm(pg)), 1.0)
        for _ in range(MAX_BACKTRACKS):
            x = _project(ev.theta + t * direction, orthant)
            trial = evaluate(x, False)
            F_trial = penalized_objective(trial, l1)
            if math.isfinite(F_trial) and F_trial <= F + ARMIJO_C1 * float(pg @ (x - ev.theta)):
                break
            t *= BACKTRACK
        else:
            message = ("stopped: no step along the OWL-QN direction lowers the objective "
                       "(the objective is flat to rounding here)")
            break
        s_vec, y_vec = trial.theta - ev.theta, trial.gradient - ev.gradient
        sy = float(s_vec @ y_vec)
        if sy > OWLQN_MIN_CURVATURE * float(y_vec @ y_vec):
            pairs.append((s_vec, y_vec, 1.0 / sy))
            del pairs[:-OWLQN_MEMORY]
        decrease = F - F_trial
        scale = max(abs(F), abs(F_trial), 1.0)
        ev, F = trial, F_trial
        pg = pseudo_gradient(ev.gradient, ev.theta, l1)
        iterations = it
        row = {"iteration": it, "objective": F, "grad_norm": float(np.linalg.norm(pg)),
               "step": t, "seconds": round(time.perf_counter() - start, 6)}
        history.append(row)
        report(row)
        runaway = _runaway(ev.theta, F, start_objective, options.l2 + options.l1)
        if runaway:
            message = runaway
            break
        if decrease <= ftol * scale:
            converged, message = True, "converged"
            break
    return Result(ev.theta, F, float(np.linalg.norm(pg)), iterations, converged, message,
                  history)


def lbfgs(evaluate: Evaluate, theta: np.ndarray, options: Options,
          report: Callable[[dict], None]) -> Result:
    """scipy's L-BFGS-B, each objective-and-gradient evaluation one pass; with
    ``l1 > 0``, OWL-QN (:func:`owlqn`)."""
    from scipy.optimize import minimize

    if options.l1 > 0.0:
        return owlqn(evaluate, theta, options, report)

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


__all__ = ["SOLVERS", "Options", "Result", "gd", "newton", "lbfgs", "proximal_newton", "owlqn",
           "pseudo_gradient", "soft_threshold", "l1_norm"]
