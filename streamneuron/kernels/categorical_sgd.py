"""SGD on rows with categorical level codes: a row's gradient goes to its own levels'
weights (``z = b + sum_j w_j x~_j + sum_c w[code_c]``, :mod:`.categorical`).

Both kernels take the rows in *spans* of at most ``SPAN`` rows of one batch (they meet
the same weights): the span's logits, then its losses and ``dL/dz`` four rows per
instruction (:func:`~.common._losses`), then the carry in row order: the numbers of a
row-by-row loop. Two ways to take the steps:

* **lazy** (:mod:`.categorical_lazy`), AdaGrad without L1 (the default schedule
  ``auto``, and ``adagrad``) when the level weights are many (:data:`LAZY_RATIO`): a step
  touches the number weights, the bias and the level weights its batch's rows met,
  nothing else. A level weight ``j`` is held as
  an *anchor* ``a_j``, its value after update ``s_j`` (its *stamp*); a step that
  meets none of its rows only shrinks it by the L2 term at its own AdaGrad rate,
  with its sum of squares ``G_j`` unchanged, so ``k`` such steps multiply it by
  ``r_j**k``::

      r_j = 1 - lr l2 / (sqrt(G_j) + eps)      (1 while G_j = 0; 0 at the least:
                                               a shrink never overshoots zero)
      w_j(t) = a_j r_j**(t - s_j)

  and a step that meets its rows is AdaGrad's, the L2 term in the gradient as in
  every step of the dense rule::

      g_j = carry_j / m + l2 w_j,   G_j += g_j**2,   w_j -= lr g_j / (sqrt(G_j) + eps)

  (a weight whose rows' gradients sum to exactly 0 counts as not met). The iterates'
  running average (averaged SGD, ``auto``'s each pass) is kept the same way: ``T_j``
  the sum of the weight's iterates in the current average up to ``s_j``, the
  geometric run of the steps since added when it is caught up. A weight is caught up
  (anchor, stamp, sum) when a row meets it; :func:`sync_levels` writes every level
  weight's value (and average) at update ``t`` into ``w`` (``avg_w``) without changing
  the anchors, so the numbers never depend on when that is done: a run stopped and
  resumed anywhere gives the same bits. Powers and geometric sums are made by
  squaring (``_power_sum``): a fixed sequence of products for each exponent.
  The fixed point is the objective's: L2 is every step's, exactly. Without L2 the
  lazy rule is the dense one, bit for bit.

* **dense** (:func:`_sgd_codes_block`), every other rule (plain or ``invscaling`` steps,
  L1), and AdaGrad with fewer level weights: every ``batch_size`` rows the one update
  step :func:`~.common._step` over all ``p`` weights (L2, AdaGrad's sums, the cumulative
  L1 penalty, averaging). A plain step's lazy form (a shared scale) would be exact too;
  not written: the default schedule is AdaGrad's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .categorical_lazy import AHEAD, SPAN, _finish_lazy, _sgd_codes_lazy, _span_space, _sync
from .common import (NONFINITE, OK, PAUSED, _add_rows, _average, _first_nonfinite, _losses,
                     _step)
from .intrinsics import _prefetch_row
from .sgd import same_order_type


# The lazy rule when the level weights are at least this many times the most a batch
# can meet (``batch_size`` rows x ``k`` columns). A met weight costs the lazy rule
# 15-20 ns (its catch-up and its step, scattered, one at a time); the dense step costs
# 0.5-1 ns a weight (contiguous, four at a time). Measured on the flights-like file
# (batch 256, 4 columns, ~320 weights met a batch): dense 54 ns a row at 11k level
# weights (lazy 61), lazy 89 / 84 at 2**15 / 2**17 hashed (dense 105 / 351).
LAZY_RATIO = 16


def lazy_applies(rule, levels: int, columns: int) -> bool:
    """Whether ``rule``'s steps are taken lazily on ``levels`` level weights of
    ``columns`` categorical columns: AdaGrad without L1 (the rule the lazy catch-up
    keeps exact), and enough level weights that touching only the met ones pays
    (:data:`LAZY_RATIO`)."""
    return (bool(rule.adagrad) and not rule.l1 > 0
            and levels >= LAZY_RATIO * int(rule.batch_size) * max(columns, 1))


def sgd_codes_block(rows, codes: np.ndarray, arrays, rule, *, start: int = 0,
                    stop: int | None = None, max_updates: int = -1,
                    levels: tuple | None = None) -> tuple[int, int]:
    """:func:`~.sgd.sgd_block` for a block whose rows carry level ``codes`` (rows in
    the block's file order, like ``rows.X``): the same arguments, the same result.
    ``levels``: ``(anchor, stamp, total)`` of the lazy rule (:func:`lazy_applies`;
    then ``w``'s and ``avg_w``'s level entries are stale until :func:`sync_levels`),
    None: the dense step."""
    numbers = (int(rule.batch_size), float(rule.lr), float(rule.power), float(rule.l2),
               float(rule.average), float(rule.l1))
    stop = rows.X.shape[0] if stop is None else stop
    rows = same_order_type(rows)
    if levels is not None:
        return _sgd_codes_lazy(
            rows.X, codes, rows.labels, rows.order, rows.weights, rows.mean, rows.inv_scale,
            tuple(arrays), tuple(levels), numbers, int(rule.loss_id), start, stop, max_updates)
    return _sgd_codes_block(
        rows.X, codes, rows.labels, rows.order, rows.weights, rows.mean, rows.inv_scale,
        tuple(arrays), numbers, bool(rule.adagrad), rule.l1 > 0, int(rule.loss_id), start,
        stop, max_updates)


def finish_levels(arrays, levels: tuple, rule, d: int) -> None:
    """The lazy rule's step of the carried (last, short) batch, as
    :func:`~.sgd.apply_update` takes it for the dense rule, then :func:`sync_levels`."""
    _finish_lazy(tuple(arrays), tuple(levels), (float(rule.lr), float(rule.l2),
                                                float(rule.average)), d)


def sync_levels(arrays, levels: tuple, rule, d: int) -> None:
    """Every level weight's value at the current update into ``w[d:]`` and, when the
    running average holds iterates, its average into ``avg_w[d:]``: a function of the
    anchors alone (which it leaves as they are)."""
    _sync(tuple(arrays), tuple(levels), (float(rule.lr), float(rule.l2),
                                         float(rule.average)), d)


# -- the dense rule -----------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _sgd_codes_block(X, codes, labels, order, rw, mean, inv_scale, arrays, numbers, adagrad,
                     penalized, loss_id, start, stop, max_updates):
    """Mini-batch SGD over rows ``order[start:stop]`` (empty ``order``: file order) of
    a block with categorical columns: :func:`~.sgd.sgd_block`'s arithmetic. Each row
    adds ``dL/dz x~`` to the carry of its number weights and ``dL/dz`` to the carry of
    its level weights; every ``batch_size`` rows the one update step
    (:func:`~.common._step`: plain or AdaGrad, L2 on every weight, cumulative L1,
    averaging) over all ``p`` weights, exactly the objective's L2. The rows are taken in
    *spans* of at most :data:`SPAN` rows of one batch (they meet the same weights): their
    logits, then their losses and ``dL/dz`` four rows per instruction
    (:func:`~.common._losses`), then the carry in row order, so the numbers are those of a
    row-by-row loop. Returns ``(position, status)`` as :func:`~.sgd.sgd_block`."""
    w, state, carry_w, avg_w, g2, l1_u, l1_q = arrays
    batch_size, lr0, power_t, l2, avg_from, l1 = numbers
    d = X.shape[1]
    k = codes.shape[1]
    p = w.shape[0]
    weighted = rw.shape[0] > 0
    identity = order.shape[0] == 0
    zero = np.zeros((1, p))
    s = state[0]
    b = s.bias
    t = s.updates
    carry_b = s.carry_b
    carry_rows = s.carry_rows
    carry_weight = s.carry_weight
    loss_sum = s.loss_sum
    rows_seen = s.rows_seen
    weight_seen = s.weight_seen
    avg_b = s.avg_b
    avg_count = s.avg_count
    tile, where, tz, ty, tdz, tloss = _span_space(d)
    updates = 0
    pos = start
    status = OK
    while pos < stop:
        m = min(SPAN, stop - pos, batch_size - int(carry_rows))
        for q in range(m):
            i = pos + q if identity else order[pos + q]
            where[q] = i
            # (labels and rw are in training order, like order itself)
            if not identity and pos + q + AHEAD < stop:
                ahead = order[pos + q + AHEAD]
                _prefetch_row(X, ahead)
                _prefetch_row(codes, ahead)
            z = b
            for j in range(d):
                v = (X[i, j] - mean[j]) * inv_scale[j]
                tile[q, j] = v
                z += w[j] * v
            for c in range(k):
                code = codes[i, c]
                if code >= 0:
                    z += w[code]
            tz[q] = z
            ty[q] = labels[pos + q]
        good = _first_nonfinite(tz, 0, m)
        _losses(loss_id, tz, ty, tloss, tdz, 0, good)
        for q in range(good):
            i = where[q]
            loss = tloss[q]
            dz = tdz[q]
            weight = rw[pos + q] if weighted else 1.0
            if weighted:
                loss *= weight
                dz *= weight
                tdz[q] = dz
            loss_sum += loss
            carry_b += dz
            carry_weight += weight
            weight_seen += weight
            rows_seen += 1.0
            carry_rows += 1.0
            for c in range(k):
                code = codes[i, c]
                if code >= 0:
                    carry_w[code] += dz
        # The number weights' carry, row after row as above, its sums in registers for
        # the span (the level weights' entries, from d on, are apart: the same numbers).
        _add_rows(carry_w[:d], tile, tdz, 0, good)
        pos += good
        if good < m:
            status = NONFINITE
            pos = where[good]
            break
        if carry_rows >= batch_size:
            if carry_weight > 0.0:
                b, t = _step(adagrad, penalized, w, carry_w, zero, 0, 0.0, b, carry_b,
                             carry_weight, t, lr0, power_t, l2, g2, l1, l1_u, l1_q)
                avg_b, avg_count = _average(w, avg_w, b, avg_b, avg_count, t, avg_from)
                updates += 1
            else:
                for j in range(p):
                    carry_w[j] = 0.0
            carry_b = 0.0
            carry_rows = 0.0
            carry_weight = 0.0
            if updates == max_updates:
                status = PAUSED
                break
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


__all__ = ["sgd_codes_block", "finish_levels", "sync_levels", "lazy_applies"]
