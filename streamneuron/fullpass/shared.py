"""The path from shared points: every fold's model one Newton step from one point.

The exact path (:func:`streamneuron.fullpass.path.walk_path`) sums each row at the
weights of every model that trains or is scored on it: ``K + 1`` models, a pass costs
about ``K`` newton passes' compute, and each penalty of the grid costs about a pass.
Here a pass sums every row's gradient, loss and Hessian (a sample's, as newton's, on
large data) ONCE per *shared point* ``theta``, into the bucket of its group ``g``::

    S[g] = sum_{i in g} (s dL/dz x~, s L, s h x~ x~^T)  at theta      (x~ = (x, 1))

(each row goes to one bucket: the same compute as summing the total). So one pass gives
every model's gradient and Hessian at ``theta``, ``G_m = sum_{g in train(m)} S[g]`` (plus
the penalty), for every penalty at once (the sums do not depend on it), and model ``m``
at penalty ``l2`` is one Newton step away::

    w_m(l2) = theta - (H_m + l2 D)^-1 (G_m + l2 D theta)

The shared point of a penalty is the model on every row, stepped by Newton until its
decrement (the predicted gap ``g^T H^-1 g / 2``) is at most ``PATH_TOL |F|``, the exact
path's rule. The fold models are then taken one step from it when *their* decrement there
is within the same tolerance: the shared point is then as close to each fold's optimum as
the exact path leaves its own models, and the step squares that error (Newton's quadratic
convergence). At the full optimum a fold model's gradient is ``-W_k / W_-k`` times fold
``k``'s own, so its decrement is about ``p K / (2 n (K - 1)^2)`` (``p`` weights, ``n``
rows): ~6e-7 on 8M x 32 and 2e-5 on the AR(1) set's 140k x 20, against ``PATH_TOL |F|``
~ 5e-4; 0.01 on breast_cancer's 398 x 30, where the test fails at the first point and the
exact path takes over, its models warm-started at the one-step points (the record's
``exact_from``: the first penalty the exact path fitted). The criterion is the decrement
itself, checked at every penalty, not a guess from the rows per weight.

Several penalties per read: ``SHARED_WINDOW`` penalties are in flight at once, each with
its own shared point (one more set of bucketed gradient sums a row: a gradient kernel's
compute, ~0.1 s per 8M rows at 32 weights, where a read costs ~0.5 s); a penalty
entering the window starts at the Newton step, for its penalty, from the last point in
flight that a pass evaluated (the path's predictor: no pass). Once a penalty is fitted,
the next penalties its shared point also serves (every model's decrement within the
tolerance there: the flat end of the path) are fitted from the same sums, no pass of
their own. A fitted penalty's fold models are scored on their own fold's rows in the
next pass (one logit a row per candidate), which rides along with the next penalties'
sums; the last ones take one pass of their own. The curvature is a sample's on large
data (as newton's, :func:`~streamneuron.fullpass.sums.curvature_every`): the rows with
a second hash of their index below ``1 / every``, the same rows at every point and pass.
A unit without level codes is summed by one kernel call
(:func:`~streamneuron.kernels.grouped.grouped_sums`: no copy of the rows by group, each
tile standardized once for every point and candidate); with level codes its rows are
copied by group and summed by :func:`~streamneuron.fullpass.sums.add_unit_sums`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

import numpy as np

from ..penalty import Penalty
from ..units import DecodedUnit
from .solvers import cholesky_direction, proximal_direction
from .sums import Evaluation, Sums, add_unit_sums

# Penalties in flight in one pass (each: one more set of sums a row).
SHARED_WINDOW = 6
# The bucketed sums of one task at most (the window shrinks to fit: many weights).
SHARED_BYTES = 256 * 2 ** 20
# The curvature's sample: a second hash of the row index, seeded seed + SAMPLE_SEED.
SAMPLE_SEED = 0x5A3


def shared_sums(items: list, starts: list, read: Callable[[list], Iterable[DecodedUnit]],
                features: Sequence[str], params: np.ndarray, loss_id: int, design,
                seed: int, every: int, points: int, scored: tuple[int, ...]):
    """One task of a shared pass: ``S[r, g]`` (:class:`Sums` with curvature) of the
    partition's rows of group ``g`` at each of the ``points`` shared points, then each
    candidate's sums (gradient, loss, rows, weight) on the rows of its group
    ``scored[c]``; flat, in that order.

    ``every`` > 1: the curvature of the rows with ``u' every < 1`` (``u'`` a second
    seeded hash of the global row index, :data:`SAMPLE_SEED`), times ``every``: the
    gradient kernel over every row, the exact Hessian over the sample (the same sample
    at every point and every pass); 1: every row's. ``params`` is ``[theta_0 ..
    theta_{R-1}, cand_0 .. cand_{C-1}, mean, inv_scale]``; ``starts[0]`` the global
    index of the partition's first row (the groups:
    :meth:`~streamneuron.fullpass.path.Design.group_of`)."""
    from ..stream import row_uniform

    n_features, candidates = len(features), len(scored)
    d = (params.shape[0] - 2 * n_features) // (points + candidates) - 1
    tail = params[(points + candidates) * (d + 1):]
    thetas = params[:(points + candidates) * (d + 1)].reshape(points + candidates, d + 1)
    full, grad_only = Sums.size(d, True), Sums.size(d, False)
    table = np.zeros((points, design.groups, full))
    scores = np.zeros((candidates, grad_only))
    sample = np.zeros(full)
    each = [np.concatenate([theta, tail]) for theta in thetas]
    grad, head = np.zeros((points, design.groups, d)), np.zeros((points, design.groups, 4))
    cand_head, cand_group = np.zeros((candidates, 2)), np.array(scored, dtype=np.int64)
    offset = int(starts[0])
    for unit in read(items):
        n = unit.y.shape[0]
        index = np.arange(offset, offset + n, dtype=np.int64)
        group = design.group_of(index, seed)
        offset += n
        if unit.codes is None:  # every point's and candidate's sums in one kernel call
            _grouped(unit, group, thetas, tail, n_features, loss_id, grad, head, cand_head,
                     points, cand_group, features)
        sampled = None
        if every > 1:  # the curvature's rows, and their groups
            sampled = np.flatnonzero(row_uniform(index, seed + SAMPLE_SEED) * every < 1.0)
            sampled_group = group[sampled]
        for g in range(design.groups):
            rows = None
            if sampled is None or unit.codes is not None:
                rows = np.flatnonzero(group == g)
            few = rows if sampled is None else sampled[sampled_group == g]
            few = None if not (points and few.size) else \
                unit if few.size == n else _rows_of(unit, few)
            if unit.codes is not None and rows.size:  # level codes: their kernel, the rows
                part = unit if rows.size == n else _rows_of(unit, rows)  # copied by group
                for r in range(points):
                    add_unit_sums(table[r, g, :grad_only], part, features, each[r], loss_id)
                for c, target in enumerate(scored):
                    if target == g:
                        add_unit_sums(scores[c], part, features, each[points + c], loss_id)
            for r in range(points if few is not None else 0):  # the curvature: the sample
                sample[:] = 0.0
                add_unit_sums(sample, few, features, each[r], loss_id)
                table[r, g, grad_only:] += every * sample[grad_only:]
    table[:, :, :d] += grad
    table[:, :, d:grad_only] += head
    scores[:, d + 1] += cand_head[:, 0]
    scores[:, d + 3] += cand_head[:, 1]
    return [np.concatenate([table.ravel(), scores.ravel()])]


def _grouped(unit, group, thetas, tail, n_features, loss_id, grad, head, cand_head, points,
             cand_group, features) -> None:
    """:func:`~streamneuron.kernels.grouped.grouped_sums` on one unit (no level codes)."""
    from ..errors import DivergenceError
    from ..kernels.grouped import grouped_sums
    from ..stats import raise_nonfinite
    from .sums import _NO_WEIGHTS

    bad = grouped_sums(unit.X, unit.y, _NO_WEIGHTS if unit.w is None else unit.w, group,
                       thetas[:points], tail[:n_features], tail[n_features:], loss_id, grad,
                       head, thetas[points:], cand_group, cand_head)
    if bad >= 0:
        raise_nonfinite(features, unit, int(bad))
        raise DivergenceError(f"{unit.where}, row {int(bad)}: the logit overflowed although "
                              "the row is finite; the path's steps are too large for this data")


def _rows_of(unit: DecodedUnit, rows: np.ndarray) -> DecodedUnit:
    """A unit of some of ``unit``'s rows (a copy)."""
    return DecodedUnit(X=np.ascontiguousarray(unit.X[rows]), y=unit.y[rows], where=unit.where,
                       w=None if unit.w is None else unit.w[rows],
                       codes=None if unit.codes is None else unit.codes[rows])


def window(design, d: int, wanted: int = SHARED_WINDOW) -> int:
    """Penalties in flight: ``wanted`` (:data:`SHARED_WINDOW`; with the sample's
    guesses, every penalty), fewer if their sums would pass :data:`SHARED_BYTES` (one
    table ``groups x`` :meth:`Sums.size` a point)."""
    one = design.groups * Sums.size(d, True) * 8
    return max(1, min(wanted, SHARED_BYTES // one))


def repenalized(ev: Evaluation, old: float, new: float) -> Evaluation:
    """``ev`` (evaluated with ``l2 = old``, a dense Hessian) under ``l2 = new``."""
    w, change = ev.theta[:-1], new - old
    hessian = ev.hessian.copy()
    d = w.shape[0]
    hessian[np.arange(d), np.arange(d)] += change
    return replace(ev, objective=ev.objective + change / 2 * float(w @ w),
                   gradient=ev.gradient + np.append(change * w, 0.0), hessian=hessian)


def _objective(ev: Evaluation, penalty: Penalty) -> float:
    if penalty.l1 > 0:
        return ev.objective + penalty.l1_value(ev.theta[:-1])
    return ev.objective


def _direction(ev: Evaluation, penalty: Penalty, tol: float):
    """Newton's direction at ``ev`` and whether ``ev`` is within the path's tolerance
    (the predicted gap at most ``tol |F|``)."""
    threshold = tol * max(abs(_objective(ev, penalty)), 1e-12)
    pick = proximal_direction if penalty.l1 > 0 else cholesky_direction
    direction = pick(ev, penalty, threshold)
    return direction, bool(-direction.model <= threshold)


@dataclass
class _Flying:
    """One penalty in flight: its shared point, the accepted evaluation (``base``) and
    the trial step under way (at fraction ``t``), the passes it has taken."""

    index: int
    theta: np.ndarray
    base: Evaluation | None = None
    step: np.ndarray | None = None
    slope: float = 0.0
    t: float = 1.0
    steps: int = 0
    passes: int = 0
    refined: bool = False


@dataclass
class Fitted:
    """A penalty fitted from its shared point: every model's one-step ``thetas`` (the
    model on every row last), the passes it took, and the shared point's sums (the
    refit's first evaluation, no pass)."""

    index: int
    thetas: np.ndarray
    passes: int
    shared: np.ndarray
    total: Sums | None


@dataclass
class SharedWalk:
    """What :func:`walk_shared` leaves: the points scored in order (``points``), the
    refit's start for each fitted penalty (``fitted``), and when the fold test failed
    the index and every model's ``theta`` to continue the exact path from
    (``fallback``)."""

    points: list = field(default_factory=list)
    fitted: dict = field(default_factory=dict)
    fallback: tuple[int, np.ndarray] | None = None
    passes: int = 0


def walk_shared(evaluate, design, penalties: np.ndarray, selection, d: int,
                start: Callable[[float], Evaluation], tol: float, max_steps: int,
                settled: Callable[[list], bool], make_point, on_point=None,
                width: int = SHARED_WINDOW, keep_sums: bool = True,
                guesses=None) -> SharedWalk:
    """The path from shared points (the module's docstring). ``evaluate(points,
    candidates, scored)`` is one pass: ``S[r][g]`` (:class:`Sums`) at each point and each
    candidate's ``(loss sum, weight)`` on its group ``scored[c]``; ``start(l2)`` the
    evaluation to predict the first penalties' points from (``w = 0``, no pass);
    ``settled(points)`` the early stop; ``make_point(index, folds, passes, thetas)`` a
    :class:`~streamneuron.fullpass.path.PathPoint`. ``guesses``: each penalty's first
    shared point and its server (:class:`.sample_path.Guesses`), instead of the
    predictor's step."""
    models = design.models
    scored_models = [m for m in range(models) if design.score[m] is not None]
    out = SharedWalk()
    flying: list[_Flying] = []
    waiting: dict[int, Fitted] = {}  # fitted, not yet scored
    ready: dict[int, object] = {}  # scored, not yet in order
    predict = start

    def enter():
        """The next penalties into flight, in order: those not in flight, fitted or
        waiting, but not one whose sample server (``guesses.server``) is in flight
        (its sums will serve it: :func:`_also_fitted`)."""
        busy = {f.index for f in flying}
        for index in range(len(penalties)):
            if len(flying) >= width:
                break
            if index in busy or index in waiting or index in out.fitted or (
                    guesses is not None and guesses.server[index] in busy - {index}):
                continue
            if guesses is not None:
                theta = guesses.thetas[index].copy()
            else:
                penalty = selection.penalty(penalties[index])
                ev = predict(penalty.l2)
                direction, _ = _direction(ev, penalty, tol)
                theta = ev.theta + direction.step if math.isfinite(direction.model) \
                    else ev.theta
            flying.append(_Flying(index, theta))
            busy.add(index)

    while True:
        enter()
        order = sorted(waiting)
        candidates = [waiting[i].thetas[m] for i in order for m in scored_models]
        groups = tuple(design.score[m] for _ in order for m in scored_models)
        if not flying and not candidates:
            break
        sums, scores = evaluate(np.array([f.theta for f in flying]).reshape(-1, d + 1),
                                np.array(candidates).reshape(-1, d + 1), groups)
        out.passes += 1
        for k, i in enumerate(order):  # the last pass's fitted penalties, scored
            got = scores[k * len(scored_models):(k + 1) * len(scored_models)]
            fitted = waiting.pop(i)
            out.fitted[i] = fitted
            ready[i] = make_point(i, tuple(float(loss / weight) for loss, weight in got),
                                  fitted.passes, fitted.thetas)
        stop = False
        while len(out.points) in ready and not stop:
            point = ready.pop(len(out.points))
            out.points.append(point)
            if on_point is not None:
                on_point(point)
            stop = selection.stops_early and settled(out.points)
        if stop or len(out.points) == len(penalties):
            break
        latest = None
        for r, f in enumerate(flying):
            accepted = _advance(f, sums[r], design, selection.penalty(penalties[f.index]),
                                tol, max_steps, waiting, out, keep_sums)
            if out.fallback is not None:
                break
            latest = accepted or latest
        if out.fallback is not None:
            first = min(i for i in range(len(penalties)) if i not in out.fitted)
            if first in waiting:  # fitted already: its models are warm
                out.fallback = (first, waiting[first].thetas)
            elif out.fallback[0] != first:  # an earlier one in flight (or not entered yet,
                # its server's sums did not serve it): all at its point
                theta = next((f.theta for f in flying if f.index == first), None)
                theta = guesses.thetas[first] if theta is None else theta
                out.fallback = (first, np.tile(theta, (models, 1)))
            for i in [i for i in out.fitted if i >= first]:  # the exact path refits them
                del out.fitted[i]
            break
        for r, f in enumerate(list(flying)):  # the penalties after a fitted one: its sums
            fitted = waiting.get(f.index)
            if fitted is not None and fitted.passes == f.passes and f.base is not None:
                _also_fitted(fitted.shared, sums[r], _total(sums[r], design.train[-1]),
                             design, selection, penalties, f.index, tol, waiting, keep_sums,
                             out.fitted)
        if latest is not None:  # the next penalties predicted from the last one evaluated
            predict = _predictor(*latest)
        flying[:] = [f for f in flying if f.index not in waiting]
    return out


def _total(sums_r: list, groups: Sequence[int]) -> Sums:
    total = sums_r[groups[0]].total.copy()
    for g in groups[1:]:
        total += sums_r[g].total
    return Sums(total, sums_r[groups[0]].d)


def _predictor(theta: np.ndarray, total: Sums) -> Callable[[float], Evaluation]:
    d = theta.shape[0] - 1
    return lambda l2: total.evaluate(theta[:d], float(theta[d]), l2)


def _advance(f: _Flying, sums_r: list, design, penalty: Penalty, tol: float, max_steps: int,
             waiting: dict, out: SharedWalk, keep_sums: bool):
    """One penalty in flight after a pass: Armijo on the model on every row's step, its
    next Newton step, or, within tolerance, every model's one step (or the fallback:
    every model one step from the shared point, where the exact path starts). Returns
    ``(theta, sums)`` of an accepted point (None: the step was halved)."""
    d = f.theta.shape[0] - 1
    f.passes += 1
    total = _total(sums_r, design.train[-1])
    ev = total.evaluate(f.theta[:d], float(f.theta[d]), penalty.l2)
    if f.base is not None and f.step is not None:
        base = _objective(f.base, penalty)
        if not _objective(ev, penalty) <= base + 1e-4 * f.t * f.slope and f.t > 1e-6:
            f.t /= 2
            f.theta = f.base.theta + f.t * f.step
            return None
    f.base = ev
    direction, within = _direction(ev, penalty, tol)
    finite = math.isfinite(direction.model)
    if not within and finite and f.steps < max_steps:
        f.step, f.slope, f.t = direction.step, direction.slope, 1.0
        f.theta = ev.theta + direction.step
        f.steps += 1
        return ev.theta, total
    thetas, every_ok = _one_steps(f.theta, sums_r, design, penalty, tol, direction)
    if not every_ok and finite and not f.refined and f.steps < max_steps:
        # a fold's decrement counts the model on every row's own gap too: one more step
        # of it (a quadratic one), then the folds alone decide
        f.refined = True
        f.step, f.slope, f.t = direction.step, direction.slope, 1.0
        f.theta = ev.theta + direction.step
        f.steps += 1
        return ev.theta, total
    if not every_ok:  # a fold's optimum too far from the shared point: the exact path
        out.fallback = (f.index, thetas)
        return None
    waiting[f.index] = Fitted(f.index, thetas, f.passes, f.theta.copy(),
                              total if keep_sums else None)
    return ev.theta, total


def _one_steps(theta: np.ndarray, sums_r: list, design, penalty: Penalty, tol: float,
               direction=None) -> tuple[np.ndarray, bool]:
    """Every model's Newton step from the shared point ``theta`` under ``penalty`` (the
    model on every row last; ``direction``: its own, if known), and whether each
    model's decrement there is within the tolerance."""
    d = theta.shape[0] - 1
    thetas, every_ok = [], True
    for m in range(design.models):
        if m == design.models - 1 and direction is not None:
            step = direction
        else:
            ev = _total(sums_r, design.train[m]).evaluate(theta[:d], float(theta[d]),
                                                          penalty.l2)
            step, ok = _direction(ev, penalty, tol)
            every_ok = every_ok and ok
        finite = math.isfinite(step.model)
        every_ok = every_ok and finite
        thetas.append(theta + step.step if finite else theta.copy())
    return np.array(thetas), every_ok


def _also_fitted(theta: np.ndarray, sums_r: list, total: Sums, design, selection,
                 penalties: np.ndarray, index: int, tol: float, waiting: dict,
                 keep_sums: bool, out_fitted: dict) -> int:
    """The next penalties after ``index`` that the shared point ``theta`` of ``index``
    serves as well (every model's decrement within the tolerance there): fitted from
    its sums, no pass of their own. Returns the first penalty it does not serve."""
    index += 1
    while index < len(penalties) and index not in waiting and index not in out_fitted:
        thetas, every_ok = _one_steps(theta, sums_r, design,
                                      selection.penalty(penalties[index]), tol)
        if not every_ok:
            break
        waiting[index] = Fitted(index, thetas, 0, theta.copy(), total if keep_sums else None)
        index += 1
    return index


def shared_pass(run, model, design, seed: int, every: int, starts) -> Callable:
    """``evaluate(points, candidates, scored)`` for :func:`walk_shared`: one pass of
    :func:`shared_sums` on ``run`` (a :class:`~streamneuron.fullpass.engine._Run` inside
    its ``_passes``), counted in ``run.passes``."""
    import dask

    from .partitions import SPLIT_EVERY
    from .sums import sum_partials

    d = model.n_weights
    full, grad_only = Sums.size(d, True), Sums.size(d, False)

    def evaluate(points: np.ndarray, candidates: np.ndarray, scored: tuple[int, ...]):
        params = np.concatenate([points.ravel(), candidates.ravel(), model.center,
                                 model.inv_scale])
        graph = run.bag.map_partitions(
            shared_sums, starts, run.read, run.features, dask.delayed(params, traverse=False),
            run.loss.kernel_id, design, seed, every, len(points), scored
        ).reduction(sum_partials, sum_partials, split_every=SPLIT_EVERY)
        flat = run.executor.compute(graph)
        run.passes += 1
        cut = len(points) * design.groups * full
        table = flat[:cut].reshape(len(points), design.groups, full)
        sums = [[Sums(table[r, g], d) for g in range(design.groups)]
                for r in range(len(points))]
        held = flat[cut:].reshape(len(scored), grad_only)
        return sums, [(row[d + 1], row[d + 3]) for row in held]

    return evaluate


def start_from(first: Evaluation, l2: float) -> Callable[[float], Evaluation]:
    """The first penalties' predictor: ``first`` (at ``w = 0``, evaluated with ``l2``,
    no pass of its own) under each penalty."""
    if not isinstance(first.hessian, np.ndarray):  # (an arrowhead Hessian: made dense)
        first = replace(first, hessian=first.hessian.dense())
    return lambda new: repenalized(first, float(l2), new)


def refit_start(walk: SharedWalk, index: int, params, every: int) -> Evaluation | None:
    """newton's refit at the chosen penalty starts at its shared point, whose sums the
    path has (its first step costs no pass); None: from the chosen point (lbfgs, or a
    penalty the exact path fitted)."""
    fitted = walk.fitted.get(index)
    if params.solver != "newton" or fitted is None or fitted.total is None:
        return None
    d = fitted.shared.shape[0] - 1
    ev = fitted.total.evaluate(fitted.shared[:d], float(fitted.shared[d]), float(params.l2))
    return replace(ev, hessian_sampled=every > 1)
