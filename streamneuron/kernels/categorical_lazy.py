"""SGD's lazy step rule on level weights (AdaGrad without L1): a step touches the number
weights, the bias and the level weights its batch's rows met, nothing else; every other
level weight is caught up exactly when a row next meets it, or when its value is asked
for (:func:`_sync`). The rule and why it is exact: :mod:`.categorical_sgd`.

A level weight ``j`` is held as an *anchor* ``a_j`` (its value after update ``s_j``, its
*stamp*) and ``T_j``, the sum of its iterates in the current running average up to
``s_j``; ``G_j``, AdaGrad's sum of squares, stays in ``g2``. Each row is in a *span* of at
most :data:`SPAN` rows of one batch, as in the dense kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import ADAGRAD_EPS, NONFINITE, OK, PAUSED, _average, _first_nonfinite, _losses
from .intrinsics import _prefetch_row

# Shuffled rows: the row this many positions ahead is hinted into cache (its features
# and its codes), so that the loads of scattered rows overlap the training.
AHEAD = 16
# Rows of one batch taken together: logits, then losses (vectorized), then the carry.
SPAN = 64


@njit(inline="always")
def _span_space(d):
    """A span's standardized rows, their row indices, logits, labels, dL/dz, losses."""
    return (np.empty((SPAN, d)), np.empty(SPAN, dtype=np.int64), np.empty(SPAN),
            np.empty(SPAN), np.empty(SPAN), np.empty(SPAN))


@njit(inline="always")
def _power_sum(r, m):
    """``(r**m, 1 + r + ... + r**(m - 1))`` for a whole ``m >= 0``, by squaring: blocks
    of ``2**i`` steps (``r**(2**i)`` and its geometric sum ``S(2B) = S(B) (1 + r**B)``)
    appended for each bit of ``m``, lowest first (``S(n + B) = S(n) + r**n S(B)``; a bit
    of 0 appends nothing: a product with 1 and a sum with 0, exact, and no branch)."""
    power = 1.0
    total = 0.0
    block_power = r
    block_sum = 1.0
    while m > 0:
        bit = (m & 1) == 1
        total += power * (block_sum if bit else 0.0)
        power *= block_power if bit else 1.0
        block_sum *= 1.0 + block_power
        block_power *= block_power
        m >>= 1
    return power, total


@njit(inline="always")
def _shrink(lr, l2, root):
    """``r = 1 - lr l2 / (sqrt(G) + eps)`` of a level weight with ``sqrt(G) = root``:
    1 while it has had no gradient (``G = 0``), never below 0."""
    if root == 0.0:
        return 1.0
    c = lr * l2 / (root + ADAGRAD_EPS)
    return 1.0 - c if c < 1.0 else 0.0


@njit(inline="always")
def _advance(a, acc, r, s, t, lo, averaging):
    """A level weight from its anchor ``a`` at update ``s`` to update ``t > s`` (``r`` its
    shrink factor), and the sum of its iterates in the running average (``acc`` up to
    ``s``, 0 when the average restarted since; the iterates from update ``lo`` on;
    ``averaging`` False: not kept): ``(value, sum)``::

        value = a r**(t - s),   sum = acc + sum_{i = max(s + 1, lo)}^{t} a r**(i - s)

    Scalars only: called per row, and numba counts the references of every array an
    inlined function is handed."""
    k = int(t - s)
    if r == 1.0:  # no L2, or no gradient yet
        return a, acc + a * max(0.0, t - max(s + 1.0, lo) + 1.0) if averaging else acc
    power, run = _power_sum(r, k)
    if not averaging:
        return a * power, acc
    first = max(s + 1.0, lo)
    if first == s + 1.0:  # the average began by update s + 1: one run of k iterates
        return a * power, acc + a * r * run
    m = t - first + 1.0
    if m > 0.0:
        lead, _ = _power_sum(r, int(first - s))
        _, tail = _power_sum(r, int(m))
        acc += a * lead * tail
    return a * power, acc


@njit(inline="always")
def _lazy_step(w, carry_w, g2, avg_w, anchor, stamp, total, touched, n_touched, listed,
               d, p, b, carry_b, m, t, lr, l2, avg_from, avg_b, avg_count):
    """One step of the lazy rule (see the module docstring) on a batch of weight ``m``:
    the number weights and the bias AdaGrad's as :func:`~.common._adagrad_step`, the
    met level weights (``touched[:n_touched]`` whose carry is not 0, already caught
    up to ``t``) theirs, then the average (:func:`~.common._average` on the numbers
    and the bias, the sums of the met level weights). Empties the carry and the
    list; returns ``(b, t, avg_b, avg_count)``."""
    inv_m = 1.0 / m
    for j in range(d):
        g = carry_w[j] * inv_m + l2 * w[j]
        G = g2[j] + g * g
        g2[j] = G
        w[j] -= lr * g / (np.sqrt(G) + ADAGRAD_EPS)
        carry_w[j] = 0.0
    gb = carry_b * inv_m
    Gb = g2[p] + gb * gb
    g2[p] = Gb
    b = b - lr * gb / (np.sqrt(Gb) + ADAGRAD_EPS)
    t1 = t + 1.0
    averaged = avg_from > 0.0 and t1 >= avg_from
    for q in range(n_touched):
        j = touched[q]
        listed[j] = False
        c = carry_w[j]
        if c == 0.0:
            continue
        carry_w[j] = 0.0
        a = anchor[j]
        g = c * inv_m + l2 * a
        G = g2[j] + g * g
        g2[j] = G
        a -= lr * g / (np.sqrt(G) + ADAGRAD_EPS)
        anchor[j] = a
        stamp[j] = t1
        if averaged:
            total[j] += a
    avg_b, avg_count = _average(w[:d], avg_w[:d], b, avg_b, avg_count, t1, avg_from)
    return b, t1, avg_b, avg_count


@njit(inline="always")
def _listed_carry(carry_w, d, p, touched, listed):
    """The level weights an unfinished batch has met so far (its carry not 0), listed."""
    n = 0
    for j in range(d, p):
        if carry_w[j] != 0.0:
            touched[n] = j
            listed[j] = True
            n += 1
    return n


@njit(cache=True, nogil=True, error_model="numpy")
def _sgd_codes_lazy(X, codes, labels, order, rw, mean, inv_scale, arrays, levels, numbers,
                    loss_id, start, stop, max_updates):
    """Mini-batch SGD over rows ``order[start:stop]`` (empty ``order``: file order) by
    the lazy rule (the module docstring), in spans (:func:`_sgd_codes_block`): each row
    catches its levels' weights up to the current update, adds ``dL/dz x~`` to the carry
    of its number weights and ``dL/dz`` to its levels'; every ``batch_size`` rows
    :func:`_lazy_step`. Returns ``(position, status)`` as :func:`~.sgd.sgd_block`;
    ``w``'s and ``avg_w``'s level entries are left as they were (:func:`sync_levels`)."""
    w, state, carry_w, avg_w, g2, _, _ = arrays
    anchor, stamp, total = levels
    batch_size, lr, _, l2, avg_from, _ = numbers
    d = X.shape[1]
    k = codes.shape[1]
    p = w.shape[0]
    weighted = rw.shape[0] > 0
    identity = order.shape[0] == 0
    averaging = avg_from > 0.0
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
    touched = np.empty(p - d, dtype=np.int64)
    listed = np.zeros(p, dtype=np.bool_)
    n_touched = _listed_carry(carry_w, d, p, touched, listed)
    lo = t - avg_count + 1.0  # the first iterate of the running average
    tile, where, tz, ty, tdz, tloss = _span_space(d)
    updates = 0
    pos = start
    status = OK
    while pos < stop:
        m = min(SPAN, stop - pos, batch_size - int(carry_rows))
        for q in range(m):
            i = pos + q if identity else order[pos + q]
            where[q] = i
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
                    # the level's weight caught up to update t (its anchor moved there)
                    stamped = stamp[code]
                    if stamped != t:
                        value, acc = _advance(anchor[code],
                                              total[code] if stamped >= lo else 0.0,
                                              _shrink(lr, l2, np.sqrt(g2[code])), stamped, t,
                                              lo, averaging)
                        anchor[code] = value
                        total[code] = acc
                        stamp[code] = t
                    elif t < lo:
                        total[code] = 0.0  # a sum of an average since restarted
                    z += anchor[code]
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
            loss_sum += loss
            carry_b += dz
            carry_weight += weight
            weight_seen += weight
            rows_seen += 1.0
            carry_rows += 1.0
            for j in range(d):
                carry_w[j] += dz * tile[q, j]
            for c in range(k):
                code = codes[i, c]
                if code >= 0:
                    carry_w[code] += dz
                    if not listed[code] and carry_w[code] != 0.0:
                        listed[code] = True
                        touched[n_touched] = code
                        n_touched += 1
        pos += good
        if good < m:
            status = NONFINITE
            pos = where[good]
            break
        if carry_rows >= batch_size:
            if carry_weight > 0.0:
                b, t, avg_b, avg_count = _lazy_step(
                    w, carry_w, g2, avg_w, anchor, stamp, total, touched, n_touched, listed,
                    d, p, b, carry_b, carry_weight, t, lr, l2, avg_from, avg_b, avg_count)
                lo = t - avg_count + 1.0
                updates += 1
            else:
                for j in range(d):
                    carry_w[j] = 0.0
                for q in range(n_touched):
                    carry_w[touched[q]] = 0.0
                    listed[touched[q]] = False
            n_touched = 0
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


@njit(cache=True, nogil=True)
def _sync(arrays, levels, numbers, d):
    """:func:`sync_levels`."""
    w, state, _, avg_w, g2, _, _ = arrays
    anchor, stamp, total = levels
    lr, l2, avg_from = numbers
    p = w.shape[0]
    s = state[0]
    t = s.updates
    count = s.avg_count
    lo = t - count + 1.0
    averaging = avg_from > 0.0
    for j in range(d, p):
        stamped = stamp[j]
        a = anchor[j]
        acc = total[j] if stamped >= lo else 0.0
        if stamped != t:
            a, acc = _advance(a, acc, _shrink(lr, l2, np.sqrt(g2[j])), stamped, t, lo,
                              averaging)
        w[j] = a
        if averaging and count > 0.0:
            avg_w[j] = acc / count


@njit(cache=True, nogil=True)
def _finish_lazy(arrays, levels, numbers, d):
    """:func:`finish_levels`."""
    w, state, carry_w, avg_w, g2, _, _ = arrays
    anchor, stamp, total = levels
    lr, l2, avg_from = numbers
    p = w.shape[0]
    s = state[0]
    touched = np.empty(p - d, dtype=np.int64)
    listed = np.zeros(p, dtype=np.bool_)
    n_touched = _listed_carry(carry_w, d, p, touched, listed)
    if s.carry_weight > 0.0:
        s.bias, s.updates, s.avg_b, s.avg_count = _lazy_step(
            w, carry_w, g2, avg_w, anchor, stamp, total, touched, n_touched, listed, d, p,
            s.bias, s.carry_b, s.carry_weight, s.updates, lr, l2, avg_from, s.avg_b,
            s.avg_count)
    else:
        for j in range(p):
            carry_w[j] = 0.0
    s.carry_b = 0.0
    s.carry_rows = 0.0
    s.carry_weight = 0.0
    _sync(arrays, levels, numbers, d)
