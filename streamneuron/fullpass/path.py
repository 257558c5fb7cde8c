"""The penalty chosen on held-out rows: a warm-started path, every fold in one read.

``--l2 auto`` / ``--l1 auto`` (:func:`fit_path`). The rows are cut into groups by a
seeded hash of their global index (:func:`streamneuron.stream.row_uniform`): ``K``
folds for ``cv=K``, or two groups (kept, held out) for a validation fraction. Several
*models* are fitted side by side, each on its own rows: with ``cv=K`` model ``k``
trains on every fold but ``k`` and is scored on fold ``k``; one more model trains on
every row (it follows the path too, so that the refit at the chosen penalty starts at
its optimum).

The fold sums. One pass takes every model's ``theta_m`` and, for each row of group
``g``, computes its sums at the ``theta_m`` of every model that trains on ``g`` (the
gradient, loss and Hessian sums of :mod:`streamneuron.fullpass.sums`) and at the
``theta_m`` of the model scored on ``g`` (the gradient sums only: the held-out loss).
So the table ``S[m, g]`` of one read gives each model's training sums
``sum_{g in train(m)} S[m, g]`` and its held-out loss ``S[m, score(m)].loss / W``: a
pass costs ``K`` times a newton pass's compute and one read, whatever ``K``. That is the
*exact* path; :func:`choose_penalty` first walks the path from shared points
(:mod:`.shared`: every fold's model one Newton step from the model on every row, several
penalties a read), and this one takes over at the first penalty where a fold's optimum is
too far from the shared point (small data), or when the path is scored on ``validation``.

The path. The sums do not depend on the penalty, so the pass that finds the models
converged at ``l2_j`` also gives their gradient and Hessian at ``l2_{j+1}`` (add
``(l2_{j+1} - l2_j) w`` and a diagonal): moving along the path costs no pass, and a
warm-started Newton step per model is usually all a point needs. A model steps when
its Newton decrement (the predicted gap ``g^T H^-1 g / 2``) exceeds ``PATH_TOL |J|``;
a step that does not lower ``J`` (Armijo) is halved in the next pass.

The grid (log-spaced, ``PATH_VALUES`` values): with the features as the model sees
them and ``g`` the gradient of the mean loss at the intercept-only fit (``w = 0``,
``b = logit(ybar)``), the L1 path starts at ``l1_max = max_j |g_j|``, exactly the
smallest ``l1`` whose optimum has every weight zero; an L2 penalty never makes a weight
exactly zero, and its optimum is about ``w_j ~ -g_j / (l2 + h_jj)``: ``l2_max =
max_j |g_j| / L2_NEAR_ZERO`` leaves every weight below ``L2_NEAR_ZERO`` (glmnet's
ridge start, ``max |g| / 0.001``, is the same rule). Both paths go down to
``PATH_RATIO`` of their start, and stop early once the held-out loss has risen for
``PATH_PATIENCE`` values in a row past its best, or stopped falling.
A point is fitted to a loose gap (``PATH_TOL``, always at least one Newton step): the
choice needs the held-out loss to a few parts in 1e3, not the weights to 1e-6. The chosen value is the one with the
least mean held-out log loss; the model on every row is then finished at it by the
ordinary solver (:mod:`streamneuron.fullpass.solvers`), from its point on the path.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import ConfigError
from ..penalty import Penalty
from ..readers.base import DecodedUnit
from . import shared
from .sample_path import sample_guesses
from .solvers import cholesky_direction, proximal_direction
from .sums import Evaluation, Sums, add_unit_sums, curvature_every

# The grid: its number of values, the ratio of its last value to its first, and how
# small the L2 path's first value leaves every weight.
PATH_VALUES = 20
PATH_RATIO = 1e-4
L2_NEAR_ZERO = 0.1
# A model at one point of the path is done when its Newton decrement is at most
# PATH_TOL |J| (the held-out loss needs far less than the final fit's tolerance).
PATH_TOL = 1e-3
# Newton steps one point may take (separable folds at a tiny l2 run off slowly).
PATH_MAX_STEPS = 25
# Stop the path once this many values in a row are worse than the best, or have
# lowered the held-out loss by at most PATH_FLAT (relative) together.
PATH_PATIENCE = 3
PATH_FLAT = 1e-4
# The default number of folds.
DEFAULT_CV = 5


@dataclass(frozen=True)
class Design:
    """Which rows each model trains on and is scored on.

    ``groups``: how many groups the rows are hashed into; ``train[m]``: the groups
    model ``m`` trains on; ``score[m]``: the group it is scored on (None: none, the
    model on every row, always last). ``fractions``: the groups' upper edges in [0, 1).
    ``external``: the model on every row is scored on other data (``validation``).
    """

    groups: int
    train: tuple[tuple[int, ...], ...]
    score: tuple[int | None, ...]
    edges: tuple[float, ...]
    external: bool = False

    @classmethod
    def validation_data(cls) -> "Design":
        """One model, on every row, scored on the rows of the validation data."""
        return cls(1, ((0,),), (None,), (1.0,), external=True)

    @classmethod
    def folds(cls, k: int) -> "Design":
        """``k``-fold cross-validation: model ``m < k`` trains on every fold but ``m``."""
        if not (isinstance(k, int) and k >= 2):
            raise ConfigError(f"cv must be a whole number >= 2, got {k!r}", param="cv")
        every = tuple(range(k))
        train = tuple(tuple(g for g in every if g != m) for m in every) + (every,)
        return cls(k, train, (*every, None), tuple((g + 1) / k for g in every))

    @classmethod
    def held_out(cls, fraction: float) -> "Design":
        """One hold-out: group 1 the rows with ``u < fraction`` (as
        :func:`streamneuron.stream.held_out` picks them), group 0 the rest."""
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"validation_fraction must be in (0, 1), got {fraction!r}",
                              param="validation_fraction")
        return cls(2, ((0,), (0, 1)), (1, None), (fraction, 1.0))

    @property
    def models(self) -> int:
        return len(self.train)

    def group_of(self, rows: np.ndarray, seed: int) -> np.ndarray:
        """Each global row index's group."""
        from ..stream import row_uniform

        u = row_uniform(rows, seed)
        if self.groups == 2 and self.score[0] == 1:  # hold-out: group 1 is u < fraction
            return (u >= self.edges[0]).astype(np.int64) ^ 1
        return np.minimum((u * self.groups).astype(np.int64), self.groups - 1)


def path_sums(items: list, starts: list, read: Callable[[list], Iterable[DecodedUnit]],
              features: Sequence[str], params: np.ndarray, loss_id: int, design: Design,
              seed: int, every: int = 1):
    """One task of a path pass: the table ``S[m, g]`` (flattened) of a bag partition.

    ``params`` is ``[theta_0, .., theta_{M-1}, mean, inv_scale]`` (each theta the
    ``p`` weights and the bias; ``mean`` and ``inv_scale`` one value per number feature,
    ``features``); ``starts[0]`` the global index of the partition's first row. Each
    unit's rows are split by group once (a copy), then summed at each model's theta
    that uses the group; ``every`` > 1: the training models' curvature from a sample of
    about one row in ``every`` (it only steers, as newton's: :func:`curvature_every`).
    """
    models, n = design.models, len(features)
    d = (params.shape[0] - 2 * n) // models - 1  # every weight: M (d + 1) + 2 n values
    center = params[models * (d + 1):models * (d + 1) + n]
    inv_scale = params[models * (d + 1) + n:]
    full, grad_only = Sums.size(d, True), Sums.size(d, False)
    table = np.zeros((models, design.groups, full))
    offset = int(starts[0])
    for unit in read(items):
        n = unit.y.shape[0]
        group = design.group_of(np.arange(offset, offset + n, dtype=np.int64), seed)
        offset += n
        for g in range(design.groups):
            rows = np.flatnonzero(group == g)
            if rows.size == 0:
                continue
            part = DecodedUnit(X=np.ascontiguousarray(unit.X[rows]), y=unit.y[rows],
                               where=unit.where, w=None if unit.w is None else unit.w[rows],
                               codes=None if unit.codes is None else unit.codes[rows])
            for m in range(models):
                trains, scores = g in design.train[m], design.score[m] == g
                if not (trains or scores):
                    continue
                theta = params[m * (d + 1):(m + 1) * (d + 1)]
                model_params = np.concatenate([theta, center, inv_scale])
                acc = table[m, g] if trains else table[m, g, :grad_only]
                add_unit_sums(acc, part, features, model_params, loss_id, every)
    return [table.ravel()]


def start_gradient(first: Evaluation) -> np.ndarray:
    """The gradient of the mean log loss over the weights at ``w = 0``,
    ``b = logit(ybar)``, from the evaluation at ``w = 0, b = 0`` of the co-moments
    (:func:`~streamneuron.fullpass.sums.start_from_moments`, log loss: ``dL/dz =
    1/2 - y``, ``h = 1/4``): there ``g_w = (sum u / 2 - sum y u) / W``, ``g_b = 1/2 -
    ybar`` and the Hessian's bias column ``sum u / (4 W)``; at ``b = logit(ybar)``,
    ``dL/dz = ybar - y``, so ``g = g_w + (ybar - 1/2) sum u / W = g_w - 4 g_b H[:d, d]``."""
    d = first.gradient.shape[0] - 1
    return first.gradient[:d] - first.gradient[d] * 4.0 * first.hessian[:d, d]


def grid(start: float, values: int = PATH_VALUES, ratio: float = PATH_RATIO) -> np.ndarray:
    """``values`` penalties from ``start`` down to ``ratio * start``, log-spaced."""
    return start * np.logspace(0.0, math.log10(ratio), values)


class _Model:
    """One model's state at one point of the path: its accepted point (``base``,
    evaluated), and the trial step under way (``step``, at fraction ``t``)."""

    def __init__(self, theta: np.ndarray):
        self.theta = theta
        self.base: Evaluation | None = None
        self.step: np.ndarray | None = None
        self.slope = 0.0
        self.t = 1.0
        self.done = False
        self.steps = 0


def objective(ev: Evaluation, penalty: Penalty) -> float:
    """``F = J + l1 ||w||_1``."""
    if penalty.l1 > 0:
        return ev.objective + penalty.l1_value(ev.theta[:-1])
    return ev.objective


def advance(model: _Model, ev: Evaluation, penalty: Penalty, first: bool = False) -> None:
    """One model after a pass evaluated it at ``model.theta`` (``ev``): accept the trial
    point or halve its step (Armijo on ``F``), then take the next Newton step unless the
    predicted gap is at most ``PATH_TOL |F|`` (``model.done``). At a point's ``first``
    evaluation (the last point's optimum under the new penalty) the step is always taken:
    the held-out loss is then never the last point's."""
    if model.base is not None and model.step is not None:
        base = objective(model.base, penalty)
        if not objective(ev, penalty) <= base + 1e-4 * model.t * model.slope and model.t > 1e-6:
            model.t /= 2
            model.theta = model.base.theta + model.t * model.step
            return
    model.base = ev
    f = objective(ev, penalty)
    threshold = PATH_TOL * max(abs(f), 1e-12)
    pick = proximal_direction if penalty.l1 > 0 else cholesky_direction
    direction = pick(ev, penalty, threshold)
    small = not -direction.model > threshold and not (first and -direction.model > 0)
    if small or model.steps >= PATH_MAX_STEPS or not math.isfinite(direction.model):
        model.done, model.step = True, None
        return
    model.step, model.slope, model.t = direction.step, direction.slope, 1.0
    model.theta = ev.theta + direction.step
    model.steps += 1


@dataclass(frozen=True)
class PathPoint:
    """One penalty of the path: its held-out log loss over the folds (mean, standard
    deviation, each fold's), the passes it took, and every model's ``theta`` there (one
    row each, the model on every row last)."""

    penalty: float
    loss: float
    spread: float
    folds: tuple[float, ...]
    passes: int
    thetas: np.ndarray

    @property
    def theta(self) -> np.ndarray:
        """The model on every row."""
        return self.thetas[-1]

    def record(self) -> dict:
        return {"penalty": self.penalty, "loss": self.loss, "spread": self.spread,
                "folds": list(self.folds), "passes": self.passes}


def walk_path(evaluate: Callable[[np.ndarray], tuple[list, list]], design: Design,
              penalties: np.ndarray, selection: "Selection", d: int,
              on_point: Callable[[PathPoint], None] | None = None,
              start: tuple[int, np.ndarray] | None = None,
              points: list[PathPoint] | None = None) -> list[PathPoint]:
    """Fit every model along ``penalties`` (of ``selection.kind``), each point
    warm-started from the last. ``evaluate(thetas)`` is one pass: each model's
    training :class:`Sums` and its held-out ``(loss sum, weight)`` (None for the model
    on every row). Returns the points fitted (early stop: :data:`PATH_PATIENCE`);
    ``selection.penalty(value)`` is the penalty at a value of the grid. ``start``: the
    index of the first penalty and every model's ``theta`` there (default: the first,
    zeros), after ``points`` already scored (the shared path's, :mod:`.shared`)."""
    index = 0 if start is None else start[0]
    models = [_Model(np.zeros(d + 1) if start is None else start[1][m].copy())
              for m in range(design.models)]
    points = [] if points is None else list(points)
    passes_at_start, passes = 0, 0
    while index < len(penalties):
        penalty = selection.penalty(penalties[index])
        sums, held = evaluate(np.stack([m.theta for m in models]))
        passes += 1
        evals = []
        for model, s in zip(models, sums):
            ev = s.evaluate(model.theta[:d], float(model.theta[d]), penalty.l2)
            evals.append(ev)
            if not model.done:
                advance(model, ev, penalty)
        if not all(m.done for m in models):
            continue
        # Every model at its optimum for this penalty: score, then the next penalty
        # from the same sums (no pass).
        folds = tuple(loss / weight for loss, weight in (h for h in held if h is not None))
        point = PathPoint(float(penalties[index]), float(np.mean(folds)),
                          float(np.std(folds)), folds, passes - passes_at_start,
                          np.stack([m.theta for m in models]))
        points.append(point)
        if on_point is not None:
            on_point(point)
        passes_at_start = passes
        index += 1
        if index == len(penalties) or (selection.stops_early and _settled(points)):
            break
        penalty = selection.penalty(penalties[index])
        for model, s in zip(models, sums):
            model.done, model.steps, model.base, model.step = False, 0, None, None
            advance(model, s.evaluate(model.theta[:d], float(model.theta[d]), penalty.l2),
                    penalty, first=True)
    return points


def _settled(points: list[PathPoint]) -> bool:
    """The last PATH_PATIENCE points all worse than the best before them, or together
    lowering the held-out loss by at most PATH_FLAT of it (the penalty no longer
    matters)."""
    if len(points) <= PATH_PATIENCE:
        return False
    best = min(range(len(points)), key=lambda i: points[i].loss)
    before = points[-1 - PATH_PATIENCE].loss
    return (len(points) - 1 - best >= PATH_PATIENCE
            or before - points[-1].loss <= PATH_FLAT * abs(before))


def choose(points: list[PathPoint]) -> PathPoint:
    """The point of least mean held-out log loss (the first of equals)."""
    return min(points, key=lambda p: p.loss)


@dataclass(frozen=True)
class Selection:
    """What ``l2="auto"`` / ``l1="auto"`` asks for: the penalty chosen (``kind``), on
    which held-out rows (``design``), the rows' hash seeded by ``seed``; the other
    penalty stays fixed at ``fixed``; ``values``: the grid's size, or the penalties
    themselves (then every one is fitted: no early stop)."""

    kind: str
    design: Design
    seed: int
    fixed: Penalty
    values: int | tuple[float, ...] = PATH_VALUES

    @classmethod
    def of(cls, *, l2, l1, cv: int | None, validation_fraction: float, seed: int,
           values=None, validation: bool = False) -> "Selection | None":
        """None unless a penalty is ``"auto"``; ``cv`` folds (default
        :data:`DEFAULT_CV`), or a hold-out of ``validation_fraction`` when it is > 0
        and no ``cv`` is given, or every row of the ``validation`` data."""
        if l2 != "auto" and l1 != "auto":
            return None
        if l2 == "auto" and l1 == "auto":
            raise ConfigError("one penalty at a time may be 'auto': give l2 or l1 a number",
                              param="l1")
        if sum((cv is not None, bool(validation_fraction), validation)) > 1:
            raise ConfigError("give one of cv, validation_fraction and validation to choose "
                              "the penalty on", param="cv" if cv is not None else "validation")
        design = (Design.validation_data() if validation else
                  Design.held_out(validation_fraction) if validation_fraction and cv is None
                  else Design.folds(DEFAULT_CV if cv is None else cv))
        kind = "l2" if l2 == "auto" else "l1"
        # With l1 auto and l2 not given, l2 is the run's default 1/W: choose_penalty sets
        # it once the run has settled it (0.0 holds its place until then).
        fixed = Penalty(l2=0.0 if kind == "l2" or l2 is None else float(l2),
                        l1=0.0 if kind == "l1" else float(l1))
        if values is None:
            values = PATH_VALUES
        elif np.ndim(values) == 0:
            if not (isinstance(values, (int, np.integer)) and values >= 1):
                raise ConfigError(f"path_values must be a whole number >= 1 or a list of "
                                  f"penalties, got {values!r}", param="path_values")
            values = int(values)
        else:
            values = tuple(sorted((float(v) for v in values), reverse=True))
            if not values or not all(math.isfinite(v) and v >= 0 for v in values):
                raise ConfigError(f"path_values must be penalties >= 0, got {values!r}",
                                  param="path_values")
        return cls(kind, design, int(seed), fixed, values)

    def grid(self, first: Evaluation) -> np.ndarray:
        """The penalties of the path, largest first."""
        if isinstance(self.values, tuple):
            return np.array(self.values)
        return grid(self.start(first), self.values)

    @property
    def stops_early(self) -> bool:
        """Whether the path may end before its last value (not when they were given)."""
        return not isinstance(self.values, tuple)

    def penalty(self, value: float) -> Penalty:
        return dataclasses.replace(self.fixed, **{self.kind: float(value)})

    def start(self, first: Evaluation) -> float:
        """The path's first value (the module's docstring says why)."""
        largest = float(np.max(np.abs(start_gradient(first)))) if first.gradient.size > 1 \
            else 1.0
        largest = largest if largest > 0 else 1.0
        return largest if self.kind == "l1" else largest / L2_NEAR_ZERO

    def record(self, points: list[PathPoint], chosen: PathPoint) -> dict:
        """The path as the model's ``info["path"]`` records it (``fold_models``: each
        fold's ``theta`` at the chosen penalty, in the model's standardized units)."""
        external = self.design.external
        folds = self.design.groups if self.design.score[0] not in (1, None) else None
        return {"penalty": self.kind, "chosen": chosen.penalty, "cv": folds,
                "validation_fraction": None if folds or external else self.design.edges[0],
                "validation": "data" if external else None,
                "seed": self.seed, "points": [p.record() for p in points],
                "fold_models": chosen.thetas[:-1].tolist()}


def choose_penalty(run, model, first: Evaluation, selection: Selection,
                   on_point: Callable[[PathPoint], None] | None = None) -> None:
    """The path on ``run`` (a :class:`~streamneuron.fullpass.engine._Run` inside its
    ``_passes``), the choice, then ``run._solve`` at the chosen penalty from the model
    on every row's point of the path; ``model.info["path"]`` records it."""
    import contextlib

    import dask

    from ..validation import open_validation
    from .heldout import ValidationData, starts_bag
    from .partitions import SPLIT_EVERY
    from .sums import sum_partials

    if selection.kind == "l1":  # the fixed l2 as the run settled it (given, or 1/W)
        selection = dataclasses.replace(
            selection, fixed=dataclasses.replace(selection.fixed, l2=float(run.params.l2)))
    d, design = model.n_weights, selection.design  # (every weight: numbers and levels)
    starts = starts_bag(run.data, run.source)
    size = Sums.size(d, True)
    every = curvature_every(run.params.curvature, run.data.n_rows, d,
                            levels=model.levels is not None)
    stack = contextlib.ExitStack()
    validation = None
    if design.external:  # the path scored on the validation data: one read of it a pass
        validation = ValidationData(open_validation(run.held_out[0], run.source, stack),
                                    run.executor, run.features)

    def evaluate(thetas: np.ndarray):
        params = np.concatenate([thetas.ravel(), model.center, model.inv_scale])
        graph = run.bag.map_partitions(
            path_sums, starts, run.read, run.features, dask.delayed(params, traverse=False),
            run.loss.kernel_id, design, selection.seed, every
        ).reduction(sum_partials, sum_partials, split_every=SPLIT_EVERY)
        table = run.executor.compute(graph).reshape(design.models, design.groups, size)
        run.passes += 1
        sums, held = [], []
        for m in range(design.models):
            total = table[m, design.train[m][0]].copy()
            for g in design.train[m][1:]:
                total += table[m, g]
            sums.append(Sums(total, d))
            g = design.score[m]
            held.append(None if g is None else (table[m, g, d + 1], table[m, g, d + 3]))
        if validation is not None:
            held[-1] = validation.loss(model, thetas[-1], run.loss.kernel_id)
        return sums, held

    penalties = selection.grid(first)
    walk = guesses = None
    with stack:
        if design.external:
            points = walk_path(evaluate, design, penalties, selection, d, on_point)
        else:  # the shared points (.shared), the exact path where the folds need it
            # (on a large file starting at the sample's path: .sample_path)
            guesses = sample_guesses(run, model, selection, penalties, PATH_TOL)
            walk = shared.walk_shared(
                shared.shared_pass(run, model, design, selection.seed, every, starts),
                design, penalties, selection, d, shared.start_from(first, run.params.l2),
                PATH_TOL, PATH_MAX_STEPS, _settled, _point_maker(penalties), on_point,
                shared.window(design, d, shared.SHARED_WINDOW if guesses is None
                              else len(penalties)), keep_sums=d <= 256, guesses=guesses)
            points = walk.points
            if walk.fallback is not None:
                points = walk_path(evaluate, design, penalties, selection, d, on_point,
                                   walk.fallback, points)
    chosen = choose(points)
    run.params = dataclasses.replace(run.params, **{selection.kind: chosen.penalty})
    first_ev = None if walk is None else shared.refit_start(
        walk, next(i for i, p in enumerate(points) if p is chosen), run.params, every)
    theta = chosen.theta if first_ev is None else first_ev.theta
    model.weights, model.bias = theta[:d].copy(), float(theta[d])
    run._solve(model, first_ev)
    model.info["path"] = selection.record(points, chosen)
    # the first penalty the exact path fitted (None: every one from shared points)
    model.info["path"]["exact_from"] = 0 if walk is None else \
        None if walk.fallback is None else walk.fallback[0]
    # the shared points started at the sample's path (.sample_path), or not
    model.info["path"]["sample_guesses"] = guesses is not None


def _point_maker(penalties: np.ndarray):
    def make(index: int, folds: tuple, passes: int, thetas: np.ndarray) -> PathPoint:
        return PathPoint(float(penalties[index]), float(np.mean(folds)), float(np.std(folds)),
                         folds, passes, thetas)
    return make
