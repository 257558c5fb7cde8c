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
            and Hessian, so an accepted step costs one pass.
``lbfgs``   L-BFGS: the two-loop recursion over the last steps and gradient
            changes (:mod:`~streamneuron.fullpass.quasi_newton`), a backtracking
            (Armijo) line search; one pass per objective-and-gradient evaluation;
            its last passes newton's where the Hessian is cheap.

With an L1 penalty (``l1 > 0``) each solver minimises ``F = J + l1 ||w||_1``
(the bias is not penalised; :class:`streamneuron.penalty.Penalty` writes the
formula), ``J`` the smooth part the passes give:

``gd``      proximal gradient: the step, then each weight soft-thresholded by
            ``lr l1`` (weights that cross zero stop at exactly zero).
``newton``  proximal Newton (glmnet, glum): the same loop as without L1 with another
            direction: the one minimising the quadratic model
            ``g.d + d'Hd/2 + l1 ||w + d||_1`` by coordinate descent
            (:func:`streamneuron.kernels.l1_newton_direction`: no pass), then the
            same backtracking line search on ``F`` (Tseng and Yun's sufficient
            decrease), each trial one pass that also sums the next Hessian.
``lbfgs``   OWL-QN (Andrew and Gao 2007): L-BFGS's two-loop recursion on the
            pseudo-gradient, every trial point projected onto the orthant of the
            current point, the same backtracking line search on ``F`` (:func:`owlqn`
            says when the direction is sign-aligned as in the paper).

What the solvers share (:mod:`streamneuron.fullpass.iteration`): one backtracking
line search (:func:`~streamneuron.fullpass.iteration.line_search`), one trace of the
history rows with the runaway check (:class:`~streamneuron.fullpass.iteration.Trace`),
and a typed stop (:class:`~streamneuron.fullpass.iteration.Stop`).

Stopping. ``newton``: when the Newton decrement, the model's own prediction of
the remaining gap ``J - J* ~ grad^T H^-1 grad / 2``, is at most ``tol |J| / 4``
(with L1 the model's predicted decrease ``-q(d)``, the same number at ``l1 = 0``)
and, without L1, the weights' remaining error is at most ``tol`` relative to them:
the Newton step's own (it estimates it), or, one step past the last point read, the
error that step leaves as the run's last contraction predicts (:class:`NewtonStop`);
on large data the Hessian is a sample's, but for the pass of the step predicted to land
inside the gap, whose Hessian of every row (from float32 products when well conditioned)
takes the last step.
``lbfgs``: up to ``LBFGS_ENDGAME_MAX_WEIGHTS`` weights, as newton: once its own estimate
of the gap (the quasi-Newton model's ``pg' H^-1 pg / 2``, directions it has not explored
taken as flat as the flattest seen) is within ``LBFGS_ENDGAME tol |F|``, its next pass
also sums the Hessian and newton's steps and stop end the run (:func:`lbfgs`); above, when
that estimate is at most ``LBFGS_MARGIN tol |F|``.
``gd``: when the relative objective change is at most ``tol`` and ``||grad||``
at most ``sqrt(tol)``. Each solver also stops, with ``converged = False`` and a
message, after ``max_iter`` iterations, or when the weights run off to
infinity (separable classes with ``l2 = 0``: the optimum is at infinity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import numpy as np
from scipy.linalg import solve_triangular

from ..errors import DivergenceError
from ..penalty import Penalty
from ..stop import StopReason
from .iteration import (ARMIJO_C1, CONVERGED, Evaluate, NewtonStop, Options, Result, Stop,
                        Trace, grad_norm_of, line_search, max_iter_stop, no_descent,
                        objective_of, past_stop, pseudo_gradient)
from .arrow import ArrowHessian
from .quasi_newton import (LBFGS_MIN_CURVATURE, LBFGS_MIN_MEMORY, aligned, lbfgs_memory,
                           orthant, project, two_loop)
from .sums import Evaluation

# newton stops when its predicted gap is below this fraction of ``tol``.
NEWTON_MARGIN = 0.25
# newton with a sampled Hessian: a step from a predicted gap within SAMPLED_LANDING times
# the stopping threshold lands inside it (a sampled step shrinks the gap ~e**2, e ~
# sqrt(weights / sampled rows): by ~1e-4 on the 8M x 32 file), so that step's pass sums
# the exact Hessian: the stop's last step (NewtonStop.PAST) is then an exact Newton step.
SAMPLED_LANDING = 1000.0
# ... and that pass sums every row's Hessian from float32 products ("single",
# kernels.single_hessian_sums: the matrix products ~1.5x faster) when the sampled Hessian's
# condition number kappa is at most SINGLE_MAX_CONDITION: the products' rounding, taken as
# SINGLE_ERROR of ||H|| (measured ~1e-8 on the 8M x 32 file), moves a Newton step by at
# most SINGLE_ERROR kappa, relative, which the stop adds to the step's contraction
# (NewtonStop); else in float64 ("exact").
SINGLE_ERROR = 1e-6
SINGLE_MAX_CONDITION = 1e3
# lbfgs stops when its estimate of the gap is below this fraction of ``tol`` (the
# estimate errs by up to ~2x either way near the optimum: the margin keeps it inside);
# OWL-QN (l1 > 0, 10 pairs) at LBFGS_L1_MARGIN.
LBFGS_MARGIN = 0.5
LBFGS_L1_MARGIN = 1.0
# lbfgs's endgame (see lbfgs): up to LBFGS_ENDGAME_MAX_WEIGHTS weights (the Hessian's
# sums cost ~d**2 a row: 2.6x a gradient pass sampled at d = 128), once its estimate of
# the gap is at most LBFGS_ENDGAME tol |F| (the estimate errs by up to ~5x: the switch
# comes while the true gap is still above tol), the run ends as newton.
LBFGS_ENDGAME = 100.0
LBFGS_ENDGAME_MAX_WEIGHTS = 256
# gd: an objective that grows by more than this (relative) from one pass to the next.
GROWTH = 1e-9
# Proximal Newton's inner coordinate descent: it stops when a full sweep lowers the
# model by at most INNER_REL of its value (or INNER_FLOOR of the stopping threshold),
# after at most INNER_SWEEPS sweeps.
INNER_REL = 1e-8
INNER_FLOOR = 1e-3
# ... and at WEIGHTS_INNER_FLOOR when newton bounds the weights' error with L1 (lbfgs's
# endgame): the direction's own error, ~sqrt(2 floor threshold / l2), must be below tol.
WEIGHTS_INNER_FLOOR = 1e-9
INNER_SWEEPS = 1000
# OWL-QN: always Andrew and Gao's sign-aligned direction (True), or only when the
# quasi-Newton direction held on the orthant's face is no descent direction (see owlqn).
OWLQN_ALIGN_DIRECTION = False


def gd(evaluate: Evaluate, theta: np.ndarray, options: Options,
       report: Callable[[dict], None]) -> Result:
    """The article's loop: ``theta <- theta - lr grad J(theta)``, one pass per iteration;
    with ``l1 > 0`` the proximal gradient step: the weights of ``theta - lr grad J``
    soft-thresholded by ``lr l1`` (:meth:`Penalty.prox`), the objective ``F`` and the
    pseudo-gradient's norm in place of the gradient's.

    Each history row has the objective and gradient at the weights *before*
    that iteration's step. An objective that grows from one pass to the next
    (the step is too long for this data) stops the run with a
    :class:`~streamneuron.DivergenceError` naming ``--lr``.
    """
    penalty, lr = options.penalty, options.lr
    trace = Trace(report, penalty)
    previous = None
    stop = max_iter_stop(options)
    for it in range(1, options.max_iter + 1):
        ev = evaluate(theta, False)
        objective, grad_norm = objective_of(ev, penalty), grad_norm_of(ev, penalty)
        if not (math.isfinite(objective) and math.isfinite(grad_norm)):
            raise DivergenceError(f"the objective became {objective} in iteration {it}: "
                                  "lower --lr")
        if previous is not None and objective > previous + GROWTH * abs(previous):
            raise DivergenceError(
                f"the objective grew from {previous:.6g} to {objective:.6g} in iteration {it}: "
                f"the learning rate {lr:g} is too large for this data; lower --lr "
                f"(try {lr / 10:g}), or use --mode newton, which needs no learning rate")
        with np.errstate(over="ignore", invalid="ignore"):
            theta = theta - lr * ev.gradient
            if penalty.l1 > 0.0:
                theta[:-1] = penalty.prox(theta[:-1], lr)
        if not np.all(np.isfinite(theta)):
            raise DivergenceError(f"the weights became infinite in iteration {it}: lower --lr")
        trace.row(objective, grad_norm)
        if grad_norm == 0.0 or (options.tol > 0 and previous is not None
                                and abs(objective - previous) <= options.tol * abs(previous)
                                and grad_norm <= math.sqrt(options.tol)):
            stop = CONVERGED
            break
        # Large weights after a too-long step are for the growth check to report.
        runaway = trace.runaway(theta, objective, weights_too=False)
        if runaway:
            stop = runaway
            break
        previous = objective
    return Result(theta, objective, grad_norm, len(trace.rows), stop, trace.rows)


# -- newton: one loop, the direction injected -----------------------------------


@dataclass(frozen=True)
class Direction:
    """A Newton direction at a point: the step ``d``, the quadratic model's value
    ``q(d)`` (its prediction of the objective's change, < 0 away from the optimum) and
    the slope of the line search's sufficient decrease (``t slope`` at step ``t``)."""

    step: np.ndarray
    model: float
    slope: float

    @property
    def decrement(self) -> float:
        """The Newton decrement ``sqrt(-2 q(d))`` (``sqrt(g' H^-1 g)`` without L1)."""
        return math.sqrt(max(-2.0 * self.model, 0.0))


def newton_step(hessian: np.ndarray | ArrowHessian, gradient: np.ndarray) -> np.ndarray:
    """``-H^-1 grad`` by Cholesky. A coordinate with no curvature at all (a constant
    column, standardized to zeros, with ``l2 = 0``) gets no step; if ``H`` is still
    singular, the pseudo-inverse (the smallest step that solves the model). An
    arrowhead ``H`` (categorical columns) by its Schur complement, this on its dense part
    (:meth:`~streamneuron.fullpass.arrow.ArrowHessian.solve`)."""
    if isinstance(hessian, ArrowHessian):
        return hessian.solve(gradient, newton_step)
    step = np.zeros_like(gradient)
    active = np.diag(hessian) > 0.0
    H, g = hessian[np.ix_(active, active)], gradient[active]
    try:
        factor = np.linalg.cholesky(H)
        # two triangular solves, p**2 each (a general solve would factor again, p**3)
        half = solve_triangular(factor, g, lower=True, check_finite=False)
        step[active] = -solve_triangular(factor.T, half, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(H)
        keep = values > values.max(initial=0.0) * 1e-12
        step[active] = -(vectors[:, keep] @ ((vectors[:, keep].T @ g) / values[keep]))
    return step



def condition(hessian: np.ndarray | ArrowHessian) -> float:
    """The condition number of a (positive definite) Hessian: its largest eigenvalue over
    its smallest (infinite when singular or arrowhead: never summed in float32)."""
    if not isinstance(hessian, np.ndarray):
        return math.inf
    values = np.linalg.eigvalsh(hessian)
    return float(values[-1] / values[0]) if values[0] > 0.0 else math.inf


def landing(hessian: np.ndarray | ArrowHessian) -> str:
    """The Hessian of newton's landing pass: ``"single"`` (float32 products) when the
    sampled ``hessian`` is well conditioned (``SINGLE_MAX_CONDITION``), else ``"exact"``."""
    return "single" if condition(hessian) <= SINGLE_MAX_CONDITION else "exact"


def cholesky_direction(ev: Evaluation, penalty: Penalty, threshold: float) -> Direction:
    """Newton's direction ``d = -H^-1 g`` (:func:`newton_step`; the L2 term is in ``H``
    and ``g``): ``q(d) = g.d / 2``, the slope ``g.d = -(Newton decrement)**2``."""
    step = newton_step(ev.hessian, ev.gradient)
    slope = float(ev.gradient @ step)
    return Direction(step, slope / 2, slope)


def proximal_direction(ev: Evaluation, penalty: Penalty, threshold: float,
                       floor: float = INNER_FLOOR) -> Direction:
    """Proximal Newton's direction: ``d`` minimises ``q(d) = g.d + d'Hd/2 + l1 (||w +
    d||_1 - ||w||_1)`` (coordinate descent, :func:`~streamneuron.kernels.l1_newton_direction`,
    no pass; it stops at ``floor threshold``), the slope ``delta = g.d + l1
    (||w + d||_1 - ||w||_1) < 0`` (Tseng and Yun 2009)."""
    from ..kernels import l1_newton_direction

    p = ev.theta.shape[0]
    step = np.empty(p)
    hessian = ev.hessian.dense() if isinstance(ev.hessian, ArrowHessian) else ev.hessian
    model, _ = l1_newton_direction(hessian, ev.gradient, ev.theta, penalty.l1, p - 1,
                                   INNER_REL, floor * threshold, INNER_SWEEPS, step)
    slope = math.nan
    if math.isfinite(model):
        w = ev.theta[:-1]
        slope = float(ev.gradient @ step) + penalty.l1_change(w, w + step[:-1])
    return Direction(step, model, slope)


def newton(evaluate: Evaluate, theta: np.ndarray, options: Options,
           report: Callable[[dict], None], first: Evaluation | None = None,
           bound_weights: bool | None = None) -> Result:
    """Damped Newton (:func:`cholesky_direction`), or with ``l1 > 0`` proximal Newton
    (:func:`proximal_direction`; glmnet's and glum's outer loop), one loop for both;
    ``first`` is the evaluation at ``theta`` if it is already known (from the
    standardization pass).

    At ``theta`` with gradient ``g`` and Hessian ``H`` of ``J`` (one pass), the
    direction ``d`` minimises the quadratic model ``q`` of ``F``; the step ``t``
    halves from 1 until ``F(theta + t d) <= F(theta) + ARMIJO_C1 t slope``
    (:func:`~streamneuron.fullpass.iteration.line_search`), each trial one pass that
    also sums the Hessian there. Stops when ``-q(d)``, the model's prediction of the
    gap ``F - F*``, is at most ``NEWTON_MARGIN tol |F|`` (the margin covers the
    model's error: the true gap is at most ~1.1x the predicted one with the exact
    Hessian, and a sampled Hessian off by a factor within ``1 +- e``, ``e ~ sqrt(weights
    / sampled rows) <= 0.22`` by :func:`~streamneuron.fullpass.sums.curvature_every`'s
    rule, moves the prediction by at most ``1 / (1 - e)``): the gradient, summed over
    every row, decides; a sampled Hessian steers and weighs it, except that the pass of
    the step predicted to land inside the gap (``SAMPLED_LANDING``; ``options.landing``
    where the sample's steps shrink the gap less: a step before) sums every row's
    (:func:`landing`: from float32 products, ``SINGLE_ERROR`` of it, when its condition
    number is at most ``SINGLE_MAX_CONDITION``, else in float64), so that the stop's last
    step is a Newton step with the whole Hessian. With the weights' bound
    (:class:`NewtonStop`) the run may end one Newton step past the last point read: its
    ``objective`` is then the quadratic model's there, ``F + q(d)`` (off by the model's
    error, ~``e |q(d)|``, ``|q(d)| <= NEWTON_MARGIN tol |F|``), its ``grad_norm`` the last
    point's, and the message says so.
    """
    penalty = options.penalty
    if penalty.l1 > 0.0:
        direction, name = proximal_direction, "proximal Newton"
    else:
        direction, name = cholesky_direction, "Newton"
    ev = first if first is not None else evaluate(theta, True)
    F = objective_of(ev, penalty)
    trace = Trace(report, penalty, start_objective=F)
    stop = max_iter_stop(options)
    # Without L1 the stop also bounds the weights' error (NewtonStop).
    # (with L1 too when bound_weights: lbfgs's endgame, whose start is no Newton point;
    # its directions then solved to WEIGHTS_INNER_FLOOR)
    bound = penalty.l1 == 0.0 if bound_weights is None else bound_weights
    if bound and penalty.l1 > 0.0:
        direction = partial(proximal_direction, floor=WEIGHTS_INNER_FLOOR)
    weights_stop = NewtonStop(options.tol) if bound else None
    theta_out = None
    curvature = True  # the Hessian that steers: a sample's on large data; "exact" to land
    land_from = SAMPLED_LANDING if options.landing is None else options.landing
    for _ in range(options.max_iter):
        threshold = NEWTON_MARGIN * options.tol * max(abs(F), 1e-300)
        d = direction(ev, penalty, threshold)
        gap_met = -d.model <= threshold
        if weights_stop is not None and math.isfinite(d.model):
            verdict = weights_stop(ev, d.step, gap_met)
            gap_met = verdict is not None
            if verdict == NewtonStop.PAST:
                theta_out = ev.theta + d.step
        if not math.isfinite(d.model) or gap_met:
            stop = CONVERGED if theta_out is None else past_stop(-d.model, F)
            F = F if theta_out is None else F + d.model  # (the model's F at theta + d)
            break
        if ev.hessian_sampled and -d.model <= land_from * threshold:
            curvature = landing(ev.hessian)  # this step lands inside the gap: an exact last step
        trial = line_search(evaluate, penalty, lambda t: ev.theta + t * d.step,
                            lambda t, x: F + ARMIJO_C1 * t * d.slope, curvature=curvature,
                            start=ev)
        if trial is None:
            stop = no_descent(name)
            break
        if weights_stop is not None:
            weights_stop.stepped(d.step, trial.t)
        ev, F = trial.evaluation, trial.objective
        if curvature == "single":
            ev = replace(ev, hessian_error=SINGLE_ERROR * condition(ev.hessian))
        trace.row(F, grad_norm_of(ev, penalty), decrement=d.decrement, step=trial.t)
        runaway = trace.runaway(ev.theta, F)
        if runaway:
            stop = runaway
            break
    theta_out = ev.theta if theta_out is None else theta_out
    return Result(theta_out, F, grad_norm_of(ev, penalty), len(trace.rows), stop, trace.rows)


# -- lbfgs ------------------------------------------------------------------------


def lbfgs(evaluate: Evaluate, theta: np.ndarray, options: Options,
          report: Callable[[dict], None]) -> Result:
    """L-BFGS, and with ``l1 > 0`` OWL-QN (Andrew and Gao 2007) for ``F = J + l1 ||w||_1``:
    one loop, one pass per evaluation.

    Each iteration: the direction ``p = -H pg`` by L-BFGS's two-loop recursion
    (:func:`~.quasi_newton.two_loop`) over the last :func:`~.quasi_newton.lbfgs_memory`
    (OWL-QN: ``LBFGS_MIN_MEMORY``) pairs ``(s, y)`` of steps and changes of the smooth
    gradient, ``pg`` the gradient of ``J`` (with L1 the pseudo-gradient of ``F``,
    :func:`pseudo_gradient`); trial points ``x(t) = theta + t p``, the step halving from 1
    (the first iteration from ``1 / ||pg||``) until ``F(x(t)) <= F(theta) + ARMIJO_C1
    pg.(x(t) - theta)``. With L1 every trial point is projected onto the orthant ``xi``
    of the current point (:func:`~.quasi_newton.orthant`, :func:`~.quasi_newton.project`:
    a weight that would leave it stops at zero), on which ``F`` is smooth with gradient
    ``pg``. The bias is free.

    Andrew and Gao also zero every entry of ``p`` that disagrees in sign with ``-pg``
    (:func:`~.quasi_newton.aligned`); that is needed only when ``p``, held on the face
    of the orthant, is not a descent direction, and otherwise throws away the curvature
    that correlated features need. So the aligned direction is the fallback here
    (always, with ``OWLQN_ALIGN_DIRECTION``), and ``-pg`` (the memory cleared) when even
    that is no descent direction.

    The estimate of the remaining gap ``F - F* ~ pg' H^-1 pg / 2`` is the two-loop's
    quasi-Newton model with ``H_0 = I / mu``, ``mu`` the smallest curvature ``s.y / s.s``
    of any step of the run (every direction the pairs did not explore taken as flat as
    the flattest seen; no pass of its own). It errs by 0.3-5x near the optimum, where
    the gap shrinks by 10-25% a pass: too coarse to stop within 2 passes of the first
    point inside ``tol``. So the stop:

    * up to ``LBFGS_ENDGAME_MAX_WEIGHTS`` weights: once the estimate is at most
      ``LBFGS_ENDGAME tol |F|``, the next pass also sums the Hessian (no pass more; a
      sample's on large data, as newton's) and the run ends as :func:`newton` from
      there (:func:`_newton_endgame`: proximal Newton with L1): its decrement (the
      model's gap, within ~1.1x of the true one) and its bound on the weights' error
      decide the stop, and its quadratic steps make the weights (OWL-QN's too, whose
      objective alone left them ``sqrt(tol)``-accurate) accurate to ``tol``;
    * above: when the estimate is at most ``LBFGS_MARGIN tol |F|`` (OWL-QN:
      ``LBFGS_L1_MARGIN``), a few passes late rather than outside;

    and when ``pg`` is exactly zero.
    """
    penalty = options.penalty
    l1 = penalty.l1 > 0.0
    ev = evaluate(np.array(theta, dtype=np.float64), False)
    F = objective_of(ev, penalty)
    if not math.isfinite(F):
        raise DivergenceError(f"the objective became {F} at the start; use --standardize")
    trace = Trace(report, penalty, start_objective=F)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
    stop = max_iter_stop(options)
    name = "OWL-QN" if l1 else "L-BFGS"
    pg = pseudo_gradient(ev.gradient, ev.theta, penalty.l1) if l1 else ev.gradient
    direction, gap = -pg, math.inf
    smallest_curvature = math.inf
    memory = LBFGS_MIN_MEMORY if l1 else lbfgs_memory(ev.theta.shape[0])
    margin = LBFGS_L1_MARGIN if l1 else LBFGS_MARGIN
    endgame = ev.theta.shape[0] - 1 <= LBFGS_ENDGAME_MAX_WEIGHTS
    for _ in range(options.max_iter + 1):
        if not np.any(pg) or (not endgame and gap <= margin * options.tol * abs(F)):
            stop = CONVERGED
            break
        if len(trace.rows) == options.max_iter:
            break
        point = lambda t: ev.theta + t * direction  # noqa: E731
        if l1:
            face = orthant(ev.theta, pg)
            # The direction's first move from theta, weights held on the orthant's face.
            held = project(ev.theta + direction, face) - ev.theta
            held[:-1][ev.theta[:-1] != 0.0] = direction[:-1][ev.theta[:-1] != 0.0]
            if OWLQN_ALIGN_DIRECTION or not float(pg @ held) < 0.0:
                direction = aligned(direction, pg)
            point = lambda t: project(ev.theta + t * direction, face)  # noqa: E731
        if not float(direction @ pg) < 0.0:  # not a descent direction: start afresh
            pairs.clear()
            direction = -pg
        # (no pair yet after a step: the steps are at the gradient's rounding, as from a
        # warm start at the optimum: the Hessian decides too)
        closing = endgame and (gap <= LBFGS_ENDGAME * options.tol * abs(F)
                               or (bool(trace.rows) and not pairs))
        trial = line_search(evaluate, penalty, point,
                            lambda t, x: F + ARMIJO_C1 * float(pg @ (x - ev.theta)),
                            curvature=closing,
                            t=1.0 if pairs else 1.0 / max(float(np.linalg.norm(pg)), 1.0))
        if trial is None:
            stop = no_descent(name)
            break
        s_vec, y_vec = trial.evaluation.theta - ev.theta, trial.evaluation.gradient - ev.gradient
        sy = float(s_vec @ y_vec)
        if sy > LBFGS_MIN_CURVATURE * float(y_vec @ y_vec):
            pairs.append((s_vec, y_vec, 1.0 / sy))
            del pairs[:-memory]
            smallest_curvature = min(smallest_curvature, sy / float(s_vec @ s_vec))
        still = trial.objective == F and np.array_equal(trial.evaluation.gradient, ev.gradient)
        ev, F = trial.evaluation, trial.objective
        pg = pseudo_gradient(ev.gradient, ev.theta, penalty.l1) if l1 else ev.gradient
        if still and not closing:  # a step that changed nothing: the rounding floor
            trace.row(F, float(np.linalg.norm(pg)), step=trial.t, gap_estimate=gap)
            stop = CONVERGED
            break
        direction = -two_loop(pg, pairs)
        if pairs:
            gap = 0.5 * float(pg @ two_loop(pg, pairs, 1.0 / smallest_curvature))
        trace.row(F, float(np.linalg.norm(pg)), step=trial.t, gap_estimate=gap)
        runaway = trace.runaway(ev.theta, F)
        if runaway:
            stop = runaway
            break
        if closing:
            return _newton_endgame(evaluate, ev, options, trace)
    return Result(ev.theta, F, float(np.linalg.norm(pg)), len(trace.rows), stop, trace.rows)


def _newton_endgame(evaluate: Evaluate, ev: Evaluation, options: Options,
                    trace: Trace) -> Result:
    """lbfgs's last iterations: :func:`newton` from ``ev`` (whose pass summed the
    Hessian), its stop and its steps, within the run's ``max_iter``; its history rows
    continue lbfgs's (``gap_estimate``: the Newton model's gap, ``-q(d)``, at the point
    each step left)."""
    def row(newton_row: dict) -> None:
        trace.row(newton_row["objective"], newton_row["grad_norm"], step=newton_row["step"],
                  gap_estimate=0.5 * newton_row["decrement"] ** 2)

    rest = replace(options, max_iter=max(options.max_iter - len(trace.rows), 0))
    result = newton(evaluate, ev.theta, rest, row, first=ev, bound_weights=True)
    stop = max_iter_stop(options) if result.stop.reason is StopReason.MAX_ITER else result.stop
    return Result(result.theta, result.objective, result.grad_norm, len(trace.rows), stop,
                  trace.rows)


# OWL-QN is lbfgs with l1 > 0: the same loop.
owlqn = lbfgs


SOLVERS = {"gd": gd, "newton": newton, "lbfgs": lbfgs}


__all__ = ["SOLVERS", "Options", "Result", "Stop", "Direction", "gd", "newton", "lbfgs",
           "owlqn", "cholesky_direction", "proximal_direction", "newton_step",
           "pseudo_gradient"]
