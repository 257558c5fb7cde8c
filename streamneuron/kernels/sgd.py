"""The SGD step kernels: :func:`sgd_block` trains every mini-batch of a block of rows
in one call; :func:`apply_update` takes the step of an unfinished (last, short) batch.

Both take their step through :func:`~streamneuron.kernels.common._step`, so there
is one update rule.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import (NONFINITE, OK, PAUSED, _add_rows, _average, _fill, _first_nonfinite,
                     _losses, _step, _workspace, loss_and_dz_scalar)
from .intrinsics import _logit, _prefetch_row


@njit(cache=True, nogil=True)
def apply_update(w, state, carry_w, lr0, power_t, l2, avg_w, avg_from, g2, l1=0.0,
                 l1_u=None, l1_q=None):
    """One step ``w -= lr_t (g_w / m + l2 w)``, ``b -= lr_t g_b / m``, ``lr_t = lr0 / (1 + t)**power_t``.

    ``g_w, g_b`` are the (weighted) gradient sums of the carried batch and ``m`` the
    sum of its row weights (:func:`~.common._step`; the article's averaged gradient
    when unweighted); the carry is emptied and ``t`` advanced. A batch whose weights
    sum to 0 takes no step (and ``t`` stays). With ``avg_from > 0`` the new iterate
    joins the running average ``avg_w`` (:func:`~.common._average`); ``l1 > 0`` applies
    the cumulative L1 penalty (``l1_u``, ``l1_q``: :func:`~.common._cumulative_l1`).
    """
    if l1_u is None:
        l1_u = np.empty(0, dtype=np.float64)  # omitted: no L1
    if l1_q is None:
        l1_q = np.empty(0, dtype=np.float64)  # omitted: no L1
    s = state[0]
    if s.carry_weight > 0.0:
        # The kernels' own step, with no last row to add (a zero row): one update rule.
        b, t = _step(w, carry_w, np.zeros((1, w.shape[0])), 0, 0.0, s.bias, s.carry_b,
                     s.carry_weight, s.updates, lr0, power_t, l2, g2, l1, l1_u, l1_q)
        s.avg_b, s.avg_count = _average(w, avg_w, b, s.avg_b, s.avg_count, t, avg_from)
        s.bias = b
        s.updates = t
    else:
        for j in range(w.shape[0]):
            carry_w[j] = 0.0
    s.carry_b = 0.0
    s.carry_rows = 0.0
    s.carry_weight = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def sgd_block(X, y, order, start, stop, w, state, carry_w, mean, inv_scale,
              loss_id, batch_size, lr0, power_t, l2, max_updates, avg_w, avg_from, g2,
              rw=None, l1=0.0, l1_u=None, l1_q=None):
    """Mini-batch SGD over rows ``order[start:stop]`` of the block ``X`` (n, d).

    ``X`` may be row- or column-major, float32 or float64 (never converted as a
    whole). ``order`` is the row permutation of the block (empty: file order);
    ``y`` the labels *in training order*, ``y[k]`` that of row ``order[k]``
    (``y[order]`` made once per block: read in order, the labels cost no cache
    misses; gathered row by row they were a third of a shuffled epoch's memory
    traffic).
    Each row adds its ``dL/dz * x`` to the carry at the current weights; every
    ``batch_size`` rows one averaged step is taken (:func:`apply_update`).
    Stops early after ``max_updates`` updates (< 0: no limit).
    Averaged SGD: with ``avg_from > 0`` every iterate from update ``avg_from`` on joins
    the running average ``avg_w`` (and ``state.avg_b``, ``state.avg_count``) inside the
    update step (:func:`~.common._average`); ``avg_from <= 0`` leaves it untouched.
    AdaGrad: a non-empty ``g2`` (``d + 1``: the sums of squared gradients of each weight
    and the bias) makes every step per coordinate (:func:`~.common._adagrad_step`).
    Row weights: a non-empty ``rw`` holds each row's weight *in training order*, like
    ``y``; a row then adds ``w_i L_i`` to the pass's loss, ``w_i dL/dz_i x_i`` to the
    carry and ``w_i`` to the batch's weight ``state.carry_weight``, and the step divides
    by that weight (a batch is still ``batch_size`` rows; one whose weights sum to 0
    takes no step and is not counted as an update). Empty or omitted: every weight is
    1, the unweighted arithmetic exactly (the state's weight sums are then set to the
    row counts on exit).
    L1: ``l1 > 0`` applies the cumulative L1 penalty after every step (``l1_u``,
    ``l1_q``: (d,), :func:`~.common._cumulative_l1`); 0 or omitted: none.

    The rows of a tile are taken in *spans* that share the weights (up to the end
    of the tile or of the batch): the span's logits first, then its losses and
    ``dL/dz`` (vectorized), then the carry in row order. At batch size 1 (every
    row a batch, unweighted) a plain row loop. Every sum is in row order, so the numbers do not
    depend on where tiles, calls or blocks begin.

    Returns ``(position, status)``: the next row position and ``OK``, ``PAUSED``,
    or ``NONFINITE`` (then ``position`` is the offending row of ``X``).
    """
    if rw is None:
        rw = np.empty(0, dtype=np.float64)  # omitted: unweighted
    if l1_u is None:
        l1_u = np.empty(0, dtype=np.float64)  # omitted: no L1
    if l1_q is None:
        l1_q = np.empty(0, dtype=np.float64)  # omitted: no L1
    d = X.shape[1]
    tile, ty, tz, tdz, tloss = _workspace(d)
    rows = tile.shape[0]
    identity = order.shape[0] == 0
    weighted = rw.shape[0] > 0
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
        _fill(X, order, identity, pos, count, mean, inv_scale, tile)
        for r in range(count):
            ty[r] = y[pos + r]
        # Shuffled: the next tile's rows, one per row trained (spread out, so that
        # few loads are in flight at once).
        ahead = 0 if identity else min(count, stop - pos - count)
        r = 0
        while r < count:
            if batch_size == 1 and not weighted:
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
                loss, dz = loss_and_dz_scalar(loss_id, z, ty[r])
                loss_sum += loss
                carry_b += dz
                rows_seen += 1.0
                carry_rows += 1.0
                b, t = _step(w, carry_w, tile, r, dz, b, carry_b, carry_rows, t, lr0, power_t, l2,
                             g2, l1, l1_u, l1_q)
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
            _losses(loss_id, tz, ty, tloss, tdz, r, bad)
            found = bad < r + span
            span = bad - r
            if weighted:
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
                m = carry_weight if weighted else carry_rows
                stepped = m > 0.0
                if stepped:
                    b, t = _step(w, carry_w, tile, last, tdz[last], b, carry_b, m, t,
                                 lr0, power_t, l2, g2, l1, l1_u, l1_q)
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
    if not weighted:  # every weight 1: the weight sums are the row counts
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

