"""The SGD step kernels: :func:`sgd_block` trains every mini-batch of a block of rows
in one call; :func:`apply_update` takes the step of an unfinished (last, short) batch.

Both take their step through :func:`~streamneuron.kernels.common._step`, so there
is one update rule. Each is compiled per variant (:mod:`.specialize`): the loss, the
step rule (plain or AdaGrad, with or without L1) and, for :func:`sgd_block`, whether
rows are weighted are constants of the compiled code, so a run compiles only its own;
on a cold cache :func:`compile_ahead` has a helper process compile it (:mod:`.ahead`).

Arguments travel in three groups: the block's rows (:class:`Rows`), the arrays the
kernel trains in place (:class:`Arrays`), and the step rule (any object with the
fields of :class:`streamneuron.training.StepRule`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .common import (NONFINITE, OK, PAUSED, _add_rows, _average, _fill_columns, _fill_rows,
                     _fill_rows_imputed, _first_nonfinite, _losses, _standardized_gaps, _step,
                     _workspace, loss_and_dz_scalar)
from .intrinsics import _logit, _prefetch_row
from . import ahead
from .ahead import Job
from .specialize import announce, variants


class Rows(NamedTuple):
    """A block's rows as :func:`sgd_block` reads them."""

    X: np.ndarray  # (n, d), row- or column-major, float32 or float64 (never copied whole)
    labels: np.ndarray  # in training order: labels[k] is that of row order[k]
    order: np.ndarray  # the block's row permutation; empty: file order
    weights: np.ndarray  # the rows' weights in training order; empty: unweighted
    mean: np.ndarray  # standardization: x_std = (x - mean) * inv_scale
    inv_scale: np.ndarray
    # --missing impute with ``X`` read narrow (its d raw features, the gaps NaN, only in
    # indicated columns): each raw column's fill value and each indicator's raw column,
    # the m indicator columns made in the tile (:func:`~.common._fill_rows_imputed`);
    # empty: ``X`` as trained.
    fill: np.ndarray = np.empty(0)
    indicated: np.ndarray = np.empty(0, dtype=np.int64)


class Arrays(NamedTuple):
    """What the kernels train in place (the fields of
    :class:`streamneuron.training.TrainState` that are arrays, and its scalars as one
    :data:`~.common.STATE` record)."""

    weights: np.ndarray  # w (d,)
    record: np.ndarray  # the scalars: new_state()
    carry_w: np.ndarray  # the unfinished batch's gradient sum (d,)
    avg_w: np.ndarray  # averaged SGD's running average of w (d,)
    g2: np.ndarray  # AdaGrad's sums of squared gradients, w's then b's (d + 1,)
    l1_u: np.ndarray  # L1: the penalty each weight could have had (d,)
    l1_q: np.ndarray  # L1: the penalty each weight did have (d,)


def _numbers(rule) -> tuple:
    """The rule's numbers, with the types every call compiles for."""
    return (int(rule.batch_size), float(rule.lr), float(rule.power), float(rule.l2),
            float(rule.average), float(rule.l1))


def sgd_block(rows: Rows, arrays: Arrays, rule, *, start: int = 0, stop: int | None = None,
              max_updates: int = -1) -> tuple[int, int]:
    """Mini-batch SGD over rows ``order[start:stop]`` of the block ``rows.X`` (``stop``
    None: to the end), training ``arrays`` in place with the step rule ``rule``
    (a :class:`streamneuron.training.StepRule`: ``loss_id``, ``batch_size``, ``lr``,
    ``power``, ``l2``, ``average``, ``adagrad``, ``l1``).

    Each row adds its ``dL/dz * x`` to the carry at the current weights; every
    ``batch_size`` rows one averaged step is taken (:func:`~.common._step`).
    Stops early after ``max_updates`` updates (< 0: no limit).
    Averaged SGD: with ``average > 0`` every iterate from update ``average`` on joins
    the running average ``avg_w`` (and ``record.avg_b``, ``record.avg_count``) inside the
    update step (:func:`~.common._average`); ``average <= 0`` leaves it untouched.
    AdaGrad (``adagrad``): every step per coordinate, ``g2`` holding the sums of squared
    gradients (:func:`~.common._adagrad_step`).
    Row weights: a non-empty ``rows.weights`` holds each row's weight *in training
    order*, like the labels (``y[order]`` made once per block: read in order, labels
    and weights cost no cache misses); a row then adds ``w_i L_i`` to the pass's loss,
    ``w_i dL/dz_i x_i`` to the carry and ``w_i`` to the batch's weight
    ``record.carry_weight``, and the step divides by that weight (a batch is still
    ``batch_size`` rows; one whose weights sum to 0 takes no step and is not counted as
    an update). Empty: every weight is 1, the unweighted arithmetic exactly (the
    record's weight sums are then set to the row counts on exit).
    L1: ``l1 > 0`` applies the cumulative L1 penalty after every step (``l1_u``,
    ``l1_q``: :func:`~.common._cumulative_l1`).

    The rows of a tile are taken in *spans* that share the weights (up to the end
    of the tile or of the batch): the span's logits first, then its losses and
    ``dL/dz`` (vectorized), then the carry in row order. At batch size 1 (every
    row a batch, unweighted) a plain row loop. Every sum is in row order, so the numbers
    do not depend on where tiles, calls or blocks begin.

    Returns ``(position, status)``: the next row position and ``OK``, ``PAUSED``,
    or ``NONFINITE`` (then ``position`` is the offending row of ``X``).
    """
    kernel = _sgd_block(*_sgd_block_key(rows, rule))
    return kernel(*_sgd_block_args(rows, arrays, rule, start, stop, max_updates))


def _sgd_block_key(rows: Rows, rule) -> tuple:
    """The variant of :func:`_sgd_block` that trains ``rows`` by ``rule``."""
    weighted = rows.weights.shape[0] > 0
    imputing = rows.fill.shape[0] > 0
    by_columns = rows.order.shape[0] == 0 and rows.X.strides[0] < rows.X.strides[1] \
        and not imputing
    return (int(rule.loss_id), bool(rule.adagrad), rule.l1 > 0, weighted,
            rule.batch_size == 1 and not weighted, by_columns, imputing)


def _sgd_block_args(rows: Rows, arrays: Arrays, rule, start: int = 0, stop: int | None = None,
                    max_updates: int = -1) -> tuple:
    return (tuple(same_order_type(rows)), tuple(arrays), _numbers(rule), start,
            rows.X.shape[0] if stop is None else stop, max_updates)


# File order, as the kernels are handed it: an empty order of the type a shuffled block's
# has (int32), so that file order and shuffled rows share a compiled kernel.
NO_ORDER = np.empty(0, dtype=np.int32)


def same_order_type(rows: Rows) -> Rows:
    """``rows`` with an empty ``order`` (file order) as :data:`NO_ORDER`: numba compiles a
    kernel per type of its arguments, and an empty order's type is no matter."""
    return rows if rows.order.shape[0] or rows.order.dtype == NO_ORDER.dtype else \
        rows._replace(order=NO_ORDER)


def compile_ahead(rows: Rows, arrays: Arrays, rule) -> bool:
    """On a cold cache, start compiling :func:`sgd_block`'s variant for blocks like
    ``rows`` (the slowest kernel to compile) in a helper process (:mod:`.ahead`), and
    queue :func:`apply_update`'s to be compiled here while the first block waits for
    it. True when a helper was started (the cold-start notice is then given)."""
    block = _sgd_block(*_sgd_block_key(rows, rule))
    args = _sgd_block_args(rows, arrays, rule)
    if block.cached(*args):
        return False
    update = _apply_update(*_apply_update_key(rule))
    update_args = (tuple(arrays), _numbers(rule))
    here = [] if update.cached(*update_args) else [
        Job(__name__, "_apply_update", _apply_update_key(rule), update.signature(*update_args))]
    helper = ahead.start([Job(__name__, "_sgd_block", _sgd_block_key(rows, rule),
                              block.signature(*args))], here)
    if helper is not None:
        announce()
    return helper is not None


def apply_update(arrays: Arrays, rule) -> None:
    """One step ``w -= lr_t (g_w / m + l2 w)``, ``b -= lr_t g_b / m``, ``lr_t = lr / (1 + t)**power``.

    ``g_w, g_b`` are the (weighted) gradient sums of the carried batch and ``m`` the
    sum of its row weights (:func:`~.common._step`; the article's averaged gradient
    when unweighted); the carry is emptied and ``t`` advanced. A batch whose weights
    sum to 0 takes no step (and ``t`` stays). Averaged SGD, AdaGrad and L1 as in
    :func:`sgd_block`.
    """
    _apply_update(*_apply_update_key(rule))(tuple(arrays), _numbers(rule))


def _apply_update_key(rule) -> tuple:
    return bool(rule.adagrad), rule.l1 > 0


@variants
def _apply_update(adagrad: bool, penalized: bool):
    ADAGRAD, PENALIZED = adagrad, penalized

    @njit(cache=True, nogil=True)
    def apply_update(arrays, numbers):
        w, state, carry_w, avg_w, g2, l1_u, l1_q = arrays
        _, lr0, power_t, l2, avg_from, l1 = numbers
        s = state[0]
        if s.carry_weight > 0.0:
            # The kernels' own step, with no last row to add (a zero row): one update rule.
            b, t = _step(ADAGRAD, PENALIZED, w, carry_w, np.zeros((1, w.shape[0])), 0, 0.0,
                         s.bias, s.carry_b, s.carry_weight, s.updates, lr0, power_t, l2, g2,
                         l1, l1_u, l1_q)
            s.avg_b, s.avg_count = _average(w, avg_w, b, s.avg_b, s.avg_count, t, avg_from)
            s.bias = b
            s.updates = t
        else:
            for j in range(w.shape[0]):
                carry_w[j] = 0.0
        s.carry_b = 0.0
        s.carry_rows = 0.0
        s.carry_weight = 0.0

    return apply_update


@variants(reads=1)
def _sgd_block(loss_id: int, adagrad: bool, penalized: bool, weighted: bool, row_by_row: bool,
               by_columns: bool, imputing: bool = False):
    LOSS, ADAGRAD, PENALIZED, WEIGHTED = loss_id, adagrad, penalized, weighted
    ROW_BY_ROW = row_by_row  # batch size 1, unweighted: the plain row loop
    BY_COLUMNS = by_columns  # a column-major block in file order: tiles filled down columns
    IMPUTING = imputing  # narrow rows, the gaps NaN: filled and indicated in the tile

    @njit(cache=True, nogil=True, error_model="numpy")
    def sgd_block(block, arrays, numbers, start, stop, max_updates):
        X, y, order, rw, mean, inv_scale, fill, indicated = block
        w, state, carry_w, avg_w, g2, l1_u, l1_q = arrays
        batch_size, lr0, power_t, l2, avg_from, l1 = numbers
        d = X.shape[1] + indicated.shape[0] if IMPUTING else X.shape[1]
        gaps = _standardized_gaps(fill, indicated, mean, inv_scale, X.shape[1])
        tile, ty, tz, tdz, tloss = _workspace(d)
        rows = tile.shape[0]
        identity = order.shape[0] == 0
        updates = 0
        # The state lives in registers while the loop runs; written back on every exit.
        s = state[0]
        b = s.bias
        t = s.updates
        carry_b = s.carry_b
        carry_rows = s.carry_rows
        loss_sum = s.loss_sum
        rows_seen = s.rows_seen
        avg_b = s.avg_b
        avg_count = s.avg_count
        carry_weight = s.carry_weight
        weight_seen = s.weight_seen
        pos = start
        status = OK
        while pos < stop and status == OK:
            count = min(rows, stop - pos)
            if IMPUTING:
                _fill_rows_imputed(X, order, identity, pos, count, mean, inv_scale, indicated,
                                   gaps, tile)
            elif BY_COLUMNS:
                _fill_columns(X, pos, count, mean, inv_scale, tile)
            else:
                _fill_rows(X, order, identity, pos, count, mean, inv_scale, tile)
            for r in range(count):
                ty[r] = y[pos + r]
            # Shuffled: the next tile's rows, one per row trained (spread out, so that
            # few loads are in flight at once).
            ahead = 0 if identity else min(count, stop - pos - count)
            r = 0
            while r < count:
                if ROW_BY_ROW:
                    # Every row is a batch: a plain row loop (each row waits for the
                    # previous row's update, so the span bookkeeping would lie on that
                    # chain); the same arithmetic. (Weighted rows take the spans, one row
                    # each: weights here cost the unweighted loop 6%.)
                    if r < ahead:
                        _prefetch_row(X, order[pos + count + r])
                    z = _logit(b, w, tile, r, d)
                    if not np.isfinite(z):
                        pos = pos + r if identity else order[pos + r]
                        status = NONFINITE
                        break
                    loss, dz = loss_and_dz_scalar(LOSS, z, ty[r])
                    loss_sum += loss
                    carry_b += dz
                    rows_seen += 1.0
                    carry_rows += 1.0
                    b, t = _step(ADAGRAD, PENALIZED, w, carry_w, tile, r, dz, b, carry_b, carry_rows,
                                 t, lr0, power_t, l2, g2, l1, l1_u, l1_q)
                    avg_b, avg_count = _average(w, avg_w, b, avg_b, avg_count, t, avg_from)
                    carry_b = 0.0
                    carry_rows = 0.0
                    updates += 1
                    r += 1
                    if updates == max_updates:
                        pos = pos + r
                        status = PAUSED
                        break
                    continue
                span = min(count - r, int(batch_size - carry_rows))
                for q in range(r, r + span):
                    if q < ahead:
                        _prefetch_row(X, order[pos + count + q])
                    tz[q] = _logit(b, w, tile, q, d)
                bad = _first_nonfinite(tz, r, r + span)
                _losses(LOSS, tz, ty, tloss, tdz, r, bad)
                found = bad < r + span
                span = bad - r
                if WEIGHTED:
                    # Row by row into the running sums, so that they do not depend on where
                    # spans begin.
                    for k in range(r, r + span):
                        weight = rw[pos + k]
                        tdz[k] *= weight
                        loss_sum += tloss[k] * weight
                        carry_b += tdz[k]
                        carry_weight += weight
                        weight_seen += weight
                else:
                    for k in range(r, r + span):
                        loss_sum += tloss[k]
                        carry_b += tdz[k]
                rows_seen += span
                carry_rows += span
                full = carry_rows >= batch_size
                last = r + span - 1 if full else r + span
                if last > r:
                    _add_rows(carry_w, tile, tdz, r, last)
                r += span
                if full:
                    m = carry_weight if WEIGHTED else carry_rows
                    stepped = m > 0.0
                    if stepped:
                        b, t = _step(ADAGRAD, PENALIZED, w, carry_w, tile, last, tdz[last], b, carry_b,
                                     m, t, lr0, power_t, l2, g2, l1, l1_u, l1_q)
                        avg_b, avg_count = _average(w, avg_w, b, avg_b, avg_count, t, avg_from)
                        updates += 1
                    else:  # every weight 0: no step, not an update
                        # (a loop: a slice assignment here costs the batch-1 loop 10%, numba's
                        # reference counting of the view)
                        for j in range(d):
                            carry_w[j] = 0.0
                    carry_b = 0.0
                    carry_rows = 0.0
                    carry_weight = 0.0
                    if stepped and updates == max_updates:
                        pos = pos + r
                        status = PAUSED
                        break
                if found:
                    pos = pos + r if identity else order[pos + r]
                    status = NONFINITE
                    break
            if status == OK:
                pos += count
        if not WEIGHTED:  # every weight 1: the weight sums are the row counts
            carry_weight = carry_rows
            weight_seen += rows_seen - s.rows_seen
        s.carry_weight = carry_weight
        s.weight_seen = weight_seen
        s.bias = b
        s.updates = t
        s.carry_b = carry_b
        s.carry_rows = carry_rows
        s.loss_sum = loss_sum
        s.rows_seen = rows_seen
        s.avg_b = avg_b
        s.avg_count = avg_count
        return pos, status

    return sgd_block
