"""newton's start on large files: the optimum of a sample of the rows, fitted in memory.

A pass reads the whole file, and from ``w = 0`` newton takes three or four passes before
its steps are short (on the 8M x 32 file: predicted gaps 0.18, 0.019, 1.4e-3, 8.7e-6, then
the landing pass). The first steps need no exactness: the optimum of a sample of ``m``
rows is within the sample's noise of the optimum, a relative gap of about
``weights / (2 m)`` (``1e-4`` at 270k rows and 33 weights), which is where newton's
landing pass starts (``solvers.SAMPLED_LANDING``). So before its first pass newton reads
:data:`START_ROWS_PER_WEIGHT` rows a weight (whole pieces from the start of partitions
spread over the file: a few percent of it), fits them in this process (newton, the
exact Hessian, no pass), and starts from there: on the 8M x 32 file the run then takes 2
passes instead of 5. The passes that follow are newton's own, over every row: the
gradient decides where it stops, so the optimum and the stop are those of a start at
zero. A sample that is not like the file (a file sorted by the label) gives a worse
start, not a wrong answer: newton's line search goes on from it.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import StreamNeuronError
from ..penalty import Penalty
from ..units import DecodedUnit
from .iteration import Options
from .sums import Sums, add_unit_sums

# Rows read for the start: this many a weight (the bias counted), at most a
# START_FRACTION of the rows and START_BYTES of float64 features.
START_ROWS_PER_WEIGHT = 8192
START_FRACTION = 1 / 16
START_BYTES = 256 << 20


def start_rows(rows: int, weights: int) -> int:
    """The rows of the sample newton starts from (0: none)."""
    return int(min(START_ROWS_PER_WEIGHT * (weights + 1), rows * START_FRACTION,
                   START_BYTES // (8 * (weights + 1))))


def chosen(partitions: Sequence, rows: int) -> tuple[tuple, int]:
    """The partitions the sample comes from, spread evenly over the file (as many as
    ``rows`` needs at one piece each, at most all), and the pieces to take from each
    (whole pieces: a piece is decoded whole; the nearest count, at least one)."""
    piece = max(1, max(part.units[0][1] for part in partitions))
    m = max(1, min(len(partitions), -(-rows // piece)))
    picks = sorted({int(k * len(partitions) / m) for k in range(m)})
    return tuple(partitions[k] for k in picks), max(1, round(rows / (len(picks) * piece)))


def sample_task(items: list, read: Callable[[list], Iterable[DecodedUnit]],
                picked: tuple, pieces: int) -> list:
    """One task of the start's read: for each of ``items`` that is ``picked``, its first
    ``pieces`` pieces, copied (``[[(X, y, w), ...]]``; the others: ``[]``)."""
    out = []
    for item in items:
        if item not in picked:
            continue
        for _, unit in zip(range(pieces), read([item])):
            out.append((unit.X.copy(order="F"), unit.y.copy(),
                        None if unit.w is None else unit.w.copy()))
    return [out] if out else []


def concatenated(parts) -> list:
    """The samples of the parts, in their order (a left fold, as the reduction wants)."""
    return [sample for part in parts for sample in part]


def sample_start(run, model, first, every: int):
    """``(theta0, first)`` for the solver: the sample's optimum and no evaluation yet,
    when newton runs on a large file (``every`` > 1: the sampled Hessian's rule), not
    persisted, from zero, with no held-out rows, categorical columns, L1 or penalty path;
    else the model's
    weights and ``first`` as given. ``run.start_rows``: the rows the start was fitted on."""
    p = run.params
    theta0 = np.append(model.weights, model.bias)
    run.start_rows = 0
    if (p.solver != "newton" or every <= 1 or p.l1 > 0 or run.data.decoded or p.persist
            or run.held_out[1] > 0 or run.selection is not None or run.start is not None
            or model.levels is not None):
        return theta0, first
    unit = read_sample(run, model)
    if unit is None:
        return theta0, first
    theta = fit_sample(unit, run, model)
    if theta is None:
        return theta0, first
    run.start_rows = int(unit.y.shape[0])
    return theta, None


def read_sample(run, model) -> DecodedUnit | None:
    """The sample's rows (:func:`start_rows` of them, :func:`chosen`), read by one small
    pass's tasks (not counted: a few percent of the file) into one column-major unit;
    None when the file has too few rows for one. Also the penalty path's
    (:mod:`.sample_path`)."""
    rows = start_rows(run.n_rows, model.n_weights)
    if rows <= 0:
        return None
    picked, each = chosen(run.data.partitions, rows)
    parts = run.executor.map_reduce(run.bag, sample_task, run.read, picked, each,
                                    aggregate=concatenated)
    if not parts:
        return None
    pieces = [x for x, _, _ in parts]  # (column-major, as the kernel reads them: one copy)
    X = np.empty((sum(x.shape[0] for x in pieces), pieces[0].shape[1]), pieces[0].dtype,
                 order="F")
    np.concatenate(pieces, out=X)
    y = np.concatenate([y for _, y, _ in parts])
    w = None if parts[0][2] is None else np.concatenate([w for _, _, w in parts])
    return DecodedUnit(X, y, "the start's sample", {}, w)


def fit_sample(unit: DecodedUnit, run, model) -> np.ndarray | None:
    """newton on the sample in memory, from zero (exact Hessian, one kernel call an
    evaluation); None when it fails (a sample of one class: no finite optimum)."""
    from .solvers import newton

    p = run.params
    if unit.y.shape[0] == 0 or np.all(unit.y == unit.y[0]):
        return None
    params_of = lambda theta: np.concatenate([theta, model.center, model.inv_scale])  # noqa

    def evaluate(theta, curvature):
        acc = np.zeros(Sums.size(theta.shape[0] - 1, True))
        add_unit_sums(acc, unit, run.features, params_of(theta), run.loss.kernel_id)
        n = theta.shape[0] - 1
        return Sums(acc, n).evaluate(theta[:n], float(theta[n]), p.l2)

    options = Options(max_iter=p.max_iter, tol=p.tol, penalty=Penalty(l2=p.l2))
    try:
        result = newton(evaluate, np.zeros(model.n_weights + 1), options, lambda row: None)
    except (StreamNeuronError, FloatingPointError):
        return None
    theta = result.theta
    return theta if result.converged and np.all(np.isfinite(theta)) and math.isfinite(
        result.objective) else None
