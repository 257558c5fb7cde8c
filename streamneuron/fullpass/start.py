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
zero. A sample that is not like the file gives a worse start, not a wrong answer; newton
starts from zero instead where the sample holds one class (sorted by the label), where
its optimum is too noisy to save a pass (:func:`sampling_noise`: class weights on a rare
class) and where its first pass there finds it farther than zero (:func:`closer`: a file
whose relation drifts, read in a few large row groups; one pass lost).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import StreamNeuronError
from ..penalty import Penalty
from ..units import DecodedUnit
from ..blas import blas_threads
from .iteration import Options
from .sums import Sums, add_unit_sums

# Rows read for the start: this many a weight (the bias counted), at most a
# START_FRACTION of the rows and START_BYTES of float64 features.
START_ROWS_PER_WEIGHT = 8192
START_FRACTION = 1 / 16
START_BYTES = 256 << 20
# ... and only when the noise the sample leaves at its optimum (sampling_noise) is at most
# this share of the sample's own gap from zero: from zero newton's first steps shrink the
# gap ~10x a pass, so a noisier start saves at most a pass (README, "Issue 22").
START_MAX_NOISE = 2e-2
NOISE_ROWS = 1 << 15


def start_rows(rows: int, weights: int) -> int:
    """The rows of the sample newton starts from (0: none)."""
    return int(min(START_ROWS_PER_WEIGHT * (weights + 1), rows * START_FRACTION,
                   START_BYTES // (8 * (weights + 1))))


def chosen(partitions: Sequence, rows: int) -> tuple[tuple, int]:
    """The partitions the sample comes from, spread evenly over the file's rows (those
    holding rows ``k n / m``, ``k < m``, ``m`` grown until their first pieces hold
    ``rows``, at most all), and the pieces to take from each (whole pieces: a piece is decoded
    whole; the nearest count, at least one). Equal partitions: every ``n / m``-th one.
    Unequal ones (a few small row groups before a large one) are spread by their rows, so
    that the sample is not the small ones' few rows alone."""
    first = [part.units[0][1] for part in partitions]  # the rows of each one's first piece
    ends = np.cumsum([part.n_rows for part in partitions])
    total = int(ends[-1])
    m = max(1, min(len(partitions), -(-rows // max(1, max(first)))))
    while True:
        picks = sorted({int(k) for k in np.searchsorted(
            ends, [k * total // m for k in range(m)], side="right")})
        got = sum(first[k] for k in picks)
        if got >= rows or len(picks) == len(partitions) or m >= total:
            break
        m = min(total, m + max(1, m // 8))  # (a large partition's piece may come next)
    return tuple(partitions[k] for k in picks), max(1, round(rows / got))


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


def sample_start(run, model, first, every: int, evaluate):
    """``(theta0, first)`` for the solver: the sample's optimum and the evaluation there
    (``evaluate(theta, True)``, newton's first pass), when newton runs on a large file
    (``every`` > 1: the sampled Hessian's rule), not persisted, from zero, with no held-out
    rows, categorical columns, L1 or penalty path, and the start is worth taking
    (:func:`fit_sample`, :func:`closer`); else the model's weights and ``first`` as given.
    ``run.start_rows``: the rows the start was fitted on (0: newton starts at zero)."""
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
    with blas_threads(1):  # as a pass has (threaded, on shared cores: ~20x the CPU)
        fitted = fit_sample(unit, run, model)
    if fitted is None:
        return theta0, first
    theta, zero = fitted
    there = evaluate(theta, True)  # newton's first pass
    if not closer(there, zero if first is None else first):
        return theta0, first
    run.start_rows = int(unit.y.shape[0])
    return theta, there


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


def predicted_gap(ev) -> float:
    """Newton's prediction of the gap ``J - J*`` at an evaluation: ``g' H^-1 g / 2``."""
    from .solvers import newton_step

    return -0.5 * float(ev.gradient @ newton_step(ev.hessian, ev.gradient))


def closer(there, zero) -> bool:
    """Whether newton's first pass at the sample's optimum (``there``) finds it closer to
    the file's optimum than ``w = 0`` is (``zero``: the co-moments' exact evaluation, or
    without that pass the sample's at zero), by Newton's predicted gaps. A sample unlike
    the file (a file in time order whose relation drifts, read in a few large row groups:
    the sample is its early rows) can be much farther: newton then goes on from zero, one
    pass lost instead of several (README, "Issue 22")."""
    return predicted_gap(there) < predicted_gap(zero)


def sample_evaluate(unit: DecodedUnit, run, model) -> Callable:
    """``evaluate(theta, curvature)`` on the sample in memory: one kernel call, the
    :class:`Evaluation` with the exact Hessian."""
    l2 = run.params.l2

    def evaluate(theta, curvature=True):
        acc = np.zeros(Sums.size(theta.shape[0] - 1, True))
        params = np.concatenate([theta, model.center, model.inv_scale])
        add_unit_sums(acc, unit, run.features, params, run.loss.kernel_id)
        n = theta.shape[0] - 1
        return Sums(acc, n).evaluate(theta[:n], float(theta[n]), l2)
    return evaluate


def sampling_noise(unit: DecodedUnit, run, model, theta: np.ndarray, hessian) -> float:
    """The gap ``J(theta) - J*`` the sample's noise leaves at its optimum ``theta``,
    expected: ``tr(H^-1 V) / 2``, ``V = sum c**2 dz**2 x~x~^T / W**2`` the variance of the
    sample's mean gradient (rows drawn with their weights ``c``, ``W = sum c``). Unweighted
    and well specified ``V ~ H / m``: ``weights / (2 m)``; with weights it grows as
    Kish's effective size ``W**2 / sum c**2`` shrinks (class weights on a rare class: its
    few rows in the sample, each counting for many). In numpy, ``NOISE_ROWS`` rows at a
    time."""
    d = theta.shape[0] - 1
    rows = unit.y.shape[0]
    weight = float(np.sum(unit.w)) if unit.w is not None else float(rows)
    V = np.zeros((d + 1, d + 1))
    for lo in range(0, rows, NOISE_ROWS):
        hi = min(rows, lo + NOISE_ROWS)
        G = np.empty((hi - lo, d + 1))
        G[:, :d] = (unit.X[lo:hi] - model.center) * model.inv_scale
        r = run.loss.dloss_dz(G[:, :d] @ theta[:d] + theta[d], unit.y[lo:hi])
        if unit.w is not None:
            r = r * unit.w[lo:hi]
        G[:, :d] *= r[:, None]
        G[:, d] = r
        V += G.T @ G
    V /= weight ** 2
    return 0.5 * float(np.trace(np.linalg.lstsq(hessian, V, rcond=None)[0]))


def fit_sample(unit: DecodedUnit, run, model) -> tuple | None:
    """newton on the sample in memory, from zero (exact Hessian, one kernel call an
    evaluation): its optimum and the sample's evaluation at zero; None when it fails (a
    sample of one class: no finite optimum) or when its optimum is not worth starting from:
    with weighted rows, its sampling noise (:func:`sampling_noise`, at the last Hessian
    newton summed) more than ``START_MAX_NOISE`` of the sample's own gap from zero (a
    start that saves at most a pass of newton's from zero, and can cost several).
    Unweighted, the noise is ``weights / (2 m)``, which ``START_ROWS_PER_WEIGHT`` keeps
    ~1e-4 of the objective: no such check."""
    from .solvers import newton

    p = run.params
    if unit.y.shape[0] == 0 or np.all(unit.y == unit.y[0]):
        return None
    evaluated = sample_evaluate(unit, run, model)
    last = []

    def evaluate(theta, curvature=True):
        last[:] = [evaluated(theta)]
        return last[0]

    options = Options(max_iter=p.max_iter, tol=p.tol, penalty=Penalty(l2=p.l2))
    zero = evaluate(np.zeros(model.n_weights + 1))
    try:
        result = newton(evaluate, zero.theta, options, lambda row: None, first=zero)
    except (StreamNeuronError, FloatingPointError):
        return None
    theta = result.theta
    if not (result.converged and np.all(np.isfinite(theta)) and math.isfinite(result.objective)):
        return None
    if unit.w is not None and sampling_noise(unit, run, model, theta, last[0].hessian) > \
            START_MAX_NOISE * (zero.objective - result.objective):
        return None
    return theta, zero
