"""The full-pass primitive: one read of every partition gives what a solver needs.

Given ``(w, b)``, a pass reads each partition once and computes, in one fused
kernel call per unit (:func:`streamneuron.kernels.gradient_sums`, or
:func:`~streamneuron.kernels.gradient_hessian_sums` when curvature is asked)::

    sum_i s_i dL/dz_i x_i    sum_i s_i dL/dz_i    sum_i s_i L_i    n    W = sum_i s_i
    sum_i s_i h_i x~_i x~_i^T                     (x~ = (x, 1); only when asked)
    sum_i s_i (dL/dz_i)**2 x~_i x~_i^T            (``summary --robust`` only)

as one flat float64 array (:class:`Sums` names its parts), ``s_i`` the row
weights (sample weights times class weights; 1 when unweighted, where nothing
is multiplied and ``W = n``). The partial arrays
are added in a Dask tree reduction in a fixed order, so a pass gives the same
bits whatever the workers, the scheduling or a worker lost and recomputed. The
client turns the sums into the objective and its derivatives
(:meth:`Sums.evaluate`), with ``theta = (w, b)``, the bias last::

    J(theta)   = (1/W) sum_i s_i L_i + (l2/2) ||w||**2
    grad J     = ((1/W) sum_i s_i dL/dz_i x_i + l2 w,   (1/W) sum_i s_i dL/dz_i)
    Hess J     = (1/W) sum_i s_i h_i x~_i x~_i^T + l2 diag(1, .., 1, 0)

(the smooth part; an L1 term ``l1 ||w||_1`` is the solvers' to add).

Everything here runs on a worker (or in this process): the two task functions
(:func:`pass_sums`, :func:`pass_moments`), each one loop over the decoded units of
its bag partition whatever their origin, and the reductions that add their results. The solvers
(:mod:`streamneuron.fullpass.solvers`) see only :class:`Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from .. import kernels
from ..errors import ConfigError, DivergenceError
from ..units import DecodedUnit
from ..penalty import Penalty
from ..stats import CoMoments, Moments, Observed, raise_nonfinite
from .arrow import Arrow, ArrowHessian
from .recycle import RECYCLED


@dataclass(frozen=True)
class Evaluation:
    """The objective at ``theta = (w, b)`` and its derivatives (bias last)."""

    theta: np.ndarray
    objective: float
    gradient: np.ndarray
    hessian: np.ndarray | ArrowHessian | None = None  # arrowhead: categorical columns
    hessian_sampled: bool = False  # the Hessian from a sample of the rows (it only steers)
    hessian_error: float = 0.0  # a bound on ||H^-1 E||, E the Hessian's rounding (single)

    @property
    def grad_norm(self) -> float:
        return float(np.sqrt(self.gradient @ self.gradient))


# Scalars after the d gradient sums: sum dz, sum L, rows, weight.
HEAD = 4


class Sums:
    """Names for the parts of a pass's flat sum array
    ``[sum s dz x (d), sum s dz, sum s L, n, W, H, M]``.

    ``n`` the rows read, ``W`` the sum of their weights (``n`` unweighted); ``H``
    (only with curvature) holds ``sum s h x~ x~^T``; ``M`` (only for ``summary
    --robust``) ``sum s dz**2 x~ x~^T``; each ``(d+1)**2`` values, or with categorical
    columns for newton in the arrowhead layout ``arrow`` (:mod:`.arrow`: ``[A, B, C]``).
    :meth:`evaluate` takes ``H``'s upper triangle and mirrors it (exactly symmetric).
    """

    def __init__(self, total: np.ndarray, d: int, arrow: Arrow | None = None):
        self.total, self.d = total, d
        self.arrow = Arrow.dense(d) if arrow is None else arrow

    @staticmethod
    def size(d: int, hessian: bool | int, arrow: Arrow | None = None) -> int:
        """``hessian``: the matrices summed: 0 (False), 1 (True: ``H``) or 2 (``H``, ``M``)."""
        one = (d + 1) ** 2 if arrow is None else arrow.size()
        return d + HEAD + one * int(hessian)

    def _flat(self, k: int) -> np.ndarray:
        one = self.arrow.size()
        start = self.d + HEAD + k * one
        return self.total[start:start + one]

    def matrix(self, k: int) -> np.ndarray:
        """The ``k``-th matrix sum (0: ``H``, 1: ``M``), not divided by ``W``, mirrored
        from its upper triangle (whole, in ``theta``'s order, whatever the layout)."""
        if self.arrow.K:
            return self.arrow.hessian(self._flat(k), 1.0, Penalty(l2=0.0)).dense()
        d = self.d
        upper = self._flat(k).reshape(d + 1, d + 1)
        return np.triu(upper) + np.triu(upper, 1).T

    @property
    def loss_sum(self) -> float:
        """``sum s L``: minus the log-likelihood, for the log loss."""
        return float(self.total[self.d + 1])

    @property
    def rows(self) -> float:
        return float(self.total[self.d + 2])

    @property
    def weight(self) -> float:
        """``W``: the sum of the row weights (the rows, unweighted)."""
        return float(self.total[self.d + 3])

    def evaluate(self, w: np.ndarray, b: float, l2: float) -> Evaluation:
        """Objective, gradient and (if summed) Hessian of ``J`` at ``(w, b)``, the
        L2 term by :class:`~streamneuron.penalty.Penalty` (the L1 term is the solvers').

        The arithmetic of the article's GD step, operation for operation (the
        ``gd`` solver's weights depend on it bit for bit).
        """
        d, total = self.d, self.total
        n = total[d + 3]  # W: the rows themselves when unweighted
        penalty = Penalty(l2=l2)
        with np.errstate(over="ignore", invalid="ignore"):  # the solvers check finiteness
            grad_w = total[:d] / n + penalty.l2_gradient(w)
            grad_b = total[d] / n
            objective = total[d + 1] / n + penalty.l2_value(w)
        hessian = None
        if total.shape[0] > d + HEAD and self.arrow.K:
            hessian = self.arrow.hessian(self._flat(0), n, penalty)
        elif total.shape[0] > d + HEAD:
            hessian = self.matrix(0)
            hessian /= n
            penalty.add_l2_curvature(hessian[:d, :d])
        return Evaluation(np.append(w, b), float(objective), np.append(grad_w, grad_b), hessian)


def start_from_moments(moments: CoMoments, mean: np.ndarray, inv_scale: np.ndarray,
                       loss, l2: float) -> Evaluation:
    """The :class:`Evaluation` at ``w = 0, b = 0``, from the co-moments of ``(x, y)``.

    At ``w = 0`` every logit is 0, so ``L``, ``dL/dz`` and ``h`` depend on the
    label alone, and for ``y`` in {0, 1} affinely: ``dL/dz = a + c y`` with
    ``a = dL/dz(0, 0)``, ``c = dL/dz(0, 1) - a`` (likewise ``L``), ``h = h(0)``.
    With ``u = (x - m) s`` the features as the model sees them::

        J     = L(0, 0) + (L(0, 1) - L(0, 0)) ybar
        dJ/dw = (a sum_i u_i + c sum_i y_i u_i) / n         dJ/db = a + c ybar
        Hess  = h(0) / n [[sum u u^T, sum u], [sum u^T, n]] + l2 diag(1, .., 0)

    whose sums come from the co-moments: ``sum u = n (mu - m) s``,
    ``sum u u^T = s (C_xx + n (mu - m)(mu - m)^T) s``,
    ``sum y u = s (C_xy + n ybar (mu - m))``. So Newton's first step costs no
    pass of its own: it comes out of the standardization pass. With row weights
    every sum is weighted and ``n`` is their total ``W`` (weighted co-moments).
    """
    n = float(moments.weight)
    d = moments.mean.shape[0] - 1
    mu, ybar = moments.mean[:d], moments.mean[d]
    shift = mu - mean
    sum_u = n * shift * inv_scale
    sum_uu = inv_scale[:, None] * (moments.comoment[:d, :d] + n * np.outer(shift, shift)) \
        * inv_scale[None, :]
    sum_yu = inv_scale * (moments.comoment[:d, d] + n * ybar * shift)
    zero = np.zeros(1)
    loss0, loss1 = (float(loss.loss(zero, np.full(1, y))[0]) for y in (0.0, 1.0))
    a, a1 = (float(loss.dloss_dz(zero, np.full(1, y))[0]) for y in (0.0, 1.0))
    c = a1 - a
    h = float(loss.curvature(zero, zero)[0])
    gradient = np.append((a * sum_u + c * sum_yu) / n, a + c * ybar)
    hessian = np.empty((d + 1, d + 1))
    hessian[:d, :d] = h * sum_uu / n
    hessian[:d, d] = hessian[d, :d] = h * sum_u / n
    hessian[d, d] = h
    Penalty(l2=l2).add_l2_curvature(hessian[:d, :d])
    return Evaluation(np.zeros(d + 1), loss0 + (loss1 - loss0) * ybar, gradient, hessian)


# --------------------------------------------------------------------------
# Worker side: what one task computes
# --------------------------------------------------------------------------


def _unpack(params: np.ndarray, d: int):
    """``[w, b, mean, inv_scale]``: the one small graph input of a pass (``w`` the
    ``p`` weights: the ``d`` number features', then the level weights)."""
    p = params.shape[0] - 1 - 2 * d
    return params[:p], float(params[p]), params[p + 1:p + 1 + d], params[p + 1 + d:]


def add_unit_sums(acc: np.ndarray, unit: DecodedUnit, features: Sequence[str],
                  params: np.ndarray, loss_id: int, every: int = 1,
                  arrow: Arrow | None = None, levels: "LevelSums | None" = None) -> None:
    """Add one decoded unit's sums into ``acc`` (layout of :class:`Sums`; curvature, and
    the gradients' outer products, if ``acc`` has room for them), weighted by ``unit.w``
    (None: unweighted); ``features`` name the columns in a message about a bad value.
    ``every`` > 1: the curvature of a sample of about one row in ``every`` (newton's
    steering Hessian, :func:`~streamneuron.kernels.sampled_hessian_sums`); 1: exact
    (always with level codes); :data:`SINGLE`: every row's, from float32 products
    (:func:`~streamneuron.kernels.single_hessian_sums`, newton's landing step). ``arrow``: the matrices' layout with level codes
    (:mod:`.arrow`; None: dense). ``levels``: a task's :class:`LevelSums`, whose
    running sums take the units' level rows until :meth:`LevelSums.fold` (None: added
    into ``acc`` with this unit's)."""
    w, b, mean, inv_scale = _unpack(params, unit.X.shape[1])
    d = w.shape[0]  # (every weight: the number features' and the levels')
    weights = _NO_WEIGHTS if unit.w is None else unit.w
    if unit.codes is not None:
        arrow = Arrow.dense(d) if arrow is None else arrow
        one = arrow.size()
        start = d + HEAD
        hess = arrow.parts(acc[start:start + one]) if acc.shape[0] > start else _NO_PARTS
        meat = arrow.parts(acc[start + one:]) if acc.shape[0] > start + one else _NO_PARTS
        own = levels is None
        levels = LevelSums() if own else levels
        scratch = levels.scratch(acc[:d], hess, meat, arrow.lo, unit.X.shape[1])
        if arrow.keep is not None and every > 1 and hess is not _NO_PARTS:
            sum_dz, sum_loss, sum_w, bad = kernels.sampled_categorical_sums(
                unit.X, unit.codes, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d],
                hess, arrow.lo, scratch, arrow.keep)
        else:
            sum_dz, sum_loss, sum_w, bad = kernels.categorical_sums(
                unit.X, unit.codes, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d],
                hess, meat, arrow.lo, scratch)
        if own:
            levels.fold()
    elif acc.shape[0] == Sums.size(d, 2):
        square = (d + 1) ** 2
        hess = acc[d + HEAD:d + HEAD + square].reshape(d + 1, d + 1)
        meat = acc[d + HEAD + square:].reshape(d + 1, d + 1)
        sum_dz, sum_loss, sum_w, bad = kernels.hessian_meat_sums(
            unit.X, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d], hess, meat)
    elif acc.shape[0] > d + HEAD and every == SINGLE:
        hess = acc[d + HEAD:].reshape(d + 1, d + 1)
        sum_dz, sum_loss, sum_w, bad = kernels.single_hessian_sums(
            unit.X, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d], hess)
    elif acc.shape[0] > d + HEAD and every > 1:
        hess = acc[d + HEAD:].reshape(d + 1, d + 1)
        sum_dz, sum_loss, sum_w, bad = kernels.sampled_hessian_sums(
            unit.X, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d], hess, every)
    elif acc.shape[0] > d + HEAD:
        hess = acc[d + HEAD:].reshape(d + 1, d + 1)
        sum_dz, sum_loss, sum_w, bad = kernels.gradient_hessian_sums(
            unit.X, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d], hess)
    else:
        sum_dz, sum_loss, sum_w, bad = kernels.gradient_sums(
            unit.X, unit.y, weights, w, b, mean, inv_scale, loss_id, acc[:d])
    if bad >= 0:
        raise_nonfinite(features, unit, int(bad))
        raise DivergenceError(
            f"{unit.where}, row {int(bad)}: the logit overflowed although the row is finite; "
            "the steps are too large for this data: lower --lr, use --standardize, or use "
            "--mode newton")
    acc[d] += sum_dz
    acc[d + 1] += sum_loss
    acc[d + 2] += unit.y.shape[0]
    acc[d + 3] += sum_w


_NO_WEIGHTS = np.empty(0)
_NO_MATRIX = np.empty((0, 0))
_NO_PARTS = (_NO_MATRIX, _NO_MATRIX, _NO_WEIGHTS)


def pass_sums(items: list, read: Callable[[list], Iterable[DecodedUnit]],
              features: Sequence[str], params: np.ndarray, loss_id: int, hessian: bool | int,
              every: int = 1, arrow: Arrow | None = None):
    """One task of a pass: the partial sums of a bag partition's units, ``read(items)``
    (:func:`~streamneuron.fullpass.partitions.read_units` for descriptors,
    :func:`~streamneuron.fullpass.partitions.already_decoded` for decoded units);
    ``every``, ``arrow``: as :func:`add_unit_sums`."""
    d = params.shape[0] - 1 - 2 * len(features)  # the weights
    acc = RECYCLED.zeroed(Sums.size(d, hessian, arrow))  # (a large one reused: recycle.py)
    levels = LevelSums()
    for unit in read(items):
        add_unit_sums(acc, unit, features, params, loss_id, every, arrow, levels)
    levels.fold()
    return [acc]


class LevelSums:
    """A task's running sums of its units' level rows, with level codes and curvature
    (:func:`~streamneuron.kernels.level_scratch`: each level's ``(x, 1)`` summed with
    ``h``, its gradient, the numbers' block), added into the task's sums once, by
    :meth:`fold`, after its last unit: not once a unit, which would touch every level's
    row of the ~100 MiB cross block for each piece of a row group."""

    def __init__(self):
        self._args = None

    def scratch(self, grad: np.ndarray, hess: tuple, meat: tuple, lo: int, d: int) -> tuple:
        """The running sums for the task's ``grad``, ``hess`` and ``meat`` (views into
        its sums; made on its first unit, ``d`` number features)."""
        if self._args is None:
            self._args = (grad, hess, meat, kernels.level_scratch(d, grad.shape[0], hess, meat),
                          lo)
        return self._args[3]

    def fold(self) -> None:
        """Add the running sums into the task's sums (nothing when no unit had codes)."""
        if self._args is not None:
            kernels.fold_levels(*self._args)


# Newton's steering Hessian (``curvature="sampled"``): about one row in SAMPLE_EVERY,
# once the sample holds at least SAMPLE_MIN_ROWS rows and SAMPLE_ROWS_PER_WEIGHT rows
# per weight; smaller data gets the exact Hessian (its pass is cheap anyway).
SAMPLE_EVERY = 16
SAMPLE_MIN_ROWS = 10_000
SAMPLE_ROWS_PER_WEIGHT = 20
CURVATURES = ("exact", "sampled")
# The ``every`` of a pass whose Hessian is every row's from float32 products: newton's
# landing pass after sampled ones, when the Hessian is well conditioned (solvers.landing).
SINGLE = 0


def rate_of(curvature: bool | str, every: int) -> int:
    """The ``every`` of a pass (:func:`add_unit_sums`) for what newton asks of it:
    ``True`` its steering Hessian (a sample's when ``every`` > 1), ``"exact"`` every row's
    in float64, ``"single"`` every row's from float32 products (:data:`SINGLE`); no
    curvature: 1."""
    if curvature == "single":
        return SINGLE
    return every if curvature is True else 1


def curvature_every(curvature: str, rows: int, weights: int, levels: bool = False) -> int:
    """How many rows one sampled row of newton's Hessian stands for: 1 (every row) for
    ``curvature="exact"`` or data too small for a sample, else :data:`SAMPLE_EVERY`.

    Why a sample is enough: the Hessian only steers (the direction ``-H^-1 g``); the
    gradient, summed over every row, decides where newton stops. A Hessian off by a
    factor within ``[1 - e, 1 + e]`` in every direction turns Newton's quadratic
    convergence into a linear one of rate about ``e``; a sample of ``m`` rows has ``e ~
    sqrt(weights / m)`` (0.05 at 10 000 rows and 32 weights). Not with ``levels`` (level
    codes in the dense layout: L1's proximal newton, the penalty path): a rare level's
    rows, and the pairs of levels rows meet, are what one row in ``every`` misses (a
    1M-row flights-like file took 49 passes sampled, 6 exact), so their kernel sums every
    row's curvature. newton's arrowhead layout samples rows by their levels instead
    (:func:`level_keep`), and counts only the number features' weights here."""
    if curvature not in CURVATURES:
        raise ConfigError(f"curvature must be one of {', '.join(CURVATURES)}, got {curvature!r}",
                          param="curvature")
    sample = rows // SAMPLE_EVERY
    if curvature == "exact" or levels or \
            sample < max(SAMPLE_MIN_ROWS, SAMPLE_ROWS_PER_WEIGHT * (weights + 1)):
        return 1
    return SAMPLE_EVERY


# newton's sampled pass with level codes: a level's rows are summed with probability
# LEVEL_ROWS / (its rows), at least 1 / every (so about LEVEL_ROWS of them, or all).
LEVEL_ROWS = 64
# ... and newton lands (a step's pass sums every row's curvature) from a predicted gap
# within LEVEL_LANDING stopping thresholds, not solvers.SAMPLED_LANDING's 1000: this
# sample's steps shrink the gap ~e**2 ~ 0.02-0.04 a pass (e ~ sqrt(weights / kept rows)),
# not ~1e-4, so from 1000 they land outside the gap, or inside with a sampled step's
# error, which the stop cannot bound from the exact Hessian's first point: two exact
# passes after the sampled step that brings the gap within ~100 thresholds. From
# LEVEL_LANDING that step's pass is exact, and its exact Newton step lands and stops.
LEVEL_LANDING = 1e4


def level_keep(levels, d: int, every: int, rows: int) -> np.ndarray:
    """The probabilities of newton's sampled pass with level codes
    (:func:`~streamneuron.kernels.categorical_sums`' ``keep``): ``[1 / every]`` then, for
    each level weight, ``min(1, max(1 / every, LEVEL_ROWS / m))``, ``m`` its training rows
    (a hashed column's bucket: ``rows`` over its buckets; ``d`` number features first).

    A row is summed with the largest probability of its levels, and counted the inverse
    of it (Horvitz and Thompson): the sums stay unbiased, each sampled row adds ``h x~
    x~^T`` whole, so the matrix stays positive semi-definite and keeps the identities of
    one-hot columns (a column's levels' rows add up to the bias's row: with a small
    ``l2`` the Hessian is nearly singular along them, and a sum that breaks them, such as
    a sample's with each level's exact diagonal put in, gives steps far too long), and a
    level of ``m`` rows has about ``min(m, max(LEVEL_ROWS, m / every))`` of them summed:
    every row of a rare level, about ``LEVEL_ROWS`` of a common one (an error of ~1 /
    sqrt(LEVEL_ROWS) in its curvature, where one row in ``every`` would leave a level of
    32 rows two rows, or none)."""
    keep = [np.full(1, 1.0 / every)]
    for column in levels.columns:
        if column.hash_bits:
            m = np.full(column.n_weights, rows / column.n_weights)
        else:
            m = np.asarray(column.counts, dtype=np.float64)
        with np.errstate(divide="ignore"):
            keep.append(np.clip(LEVEL_ROWS / m, 1.0 / every, 1.0))
    return np.concatenate(keep)


def pass_moments(items: list, read: Callable[[list], Iterable[DecodedUnit]],
                 features: Sequence[str], with_labels: bool, counts=None,
                 observed: bool = False):
    """One task of the first pass: :class:`~streamneuron.stats.Moments` of the units'
    features, or :class:`~streamneuron.stats.CoMoments` of ``(x, y)`` when
    ``with_labels``; weighted by each unit's ``w`` (``read`` as in :func:`pass_sums`).
    ``counts`` (an empty :class:`~streamneuron.levels.LevelCounts`): then the units'
    categorical levels are counted too, and the task gives ``(moments, counts)``.
    ``observed`` (``--missing impute``, fills not yet learned): the
    :class:`~streamneuron.stats.Observed` moments of the values present instead."""
    total = None
    if counts is not None:
        counts = type(counts)(counts.names, counts.max_levels)  # this task's own
    for unit in read(items):
        if counts is not None:
            counts.add(unit.extra)
        if observed:
            m = Observed.of(unit.X, unit.w, features, unit, unit.gaps)
            total = m if total is None else total.merge(m)
            continue
        m = (CoMoments.of(unit.X, unit.y, unit.w) if with_labels
             else Moments.of(unit.X, unit.w))
        m2 = np.diag(m.comoment) if with_labels else m.m2
        if not np.isfinite(m2).all():  # a NaN or infinity: name it
            raise_nonfinite(features, unit)
        total = m if total is None else total.merge(m)
    return [total if counts is None else (total, counts)]


def sum_partials(partials) -> np.ndarray:
    """Sum in the order given (the reduction tree's order): bit-reproducible. No copy of
    a lone part, one new array for several, added into in place (newton's sums with
    categorical columns are ~100 MiB: each copy is a page-faulting pass over them)."""
    total, owned = None, False
    for p in partials:
        if total is None:
            total = np.asarray(p, dtype=np.float64)
        elif owned:
            total += p
        else:
            total, owned = total + p, True
    return total


def _add_into(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``sum_partials([total, part])`` in ``total``'s memory (the same bits)."""
    return np.add(total, part, out=total)


sum_partials.fold = _add_into  # (cluster.TreeFold: a pass's running sums, no copies)
sum_partials.recycle = RECYCLED.give_back  # (TreeFold: a part once added into another)


def merge_moments(partials):
    """The moments (or ``(moments, level counts)``) of the parts, merged in their order."""
    total = None
    for m in partials:
        if m is not None:
            total = m if total is None else (
                (total[0].merge(m[0]), total[1].merge(m[1])) if isinstance(m, tuple)
                else total.merge(m))
    return total
