"""SGD on rows with categorical level codes: a row's gradient goes to its own levels'
weights (``z = b + sum_j w_j x~_j + sum_c w[code_c]``, :mod:`.categorical`).

Two ways to take the steps, one per step rule:

* **lazy** (:func:`_sgd_codes_lazy`), AdaGrad without L1 (the default schedule
  ``auto``, and ``adagrad``): a step touches the number weights, the bias and the
  level weights its batch's rows met, nothing else. A level weight ``j`` is held as
  an *anchor* ``a_j``, its value after update ``s_j`` (its *stamp*); a step that
  meets none of its rows only shrinks it by the L2 term at its own AdaGrad rate,
  with its sum of squares ``G_j`` unchanged, so ``k`` such steps multiply it by
  ``r_j**k``::

      r_j = 1 - lr l2 / (sqrt(G_j) + eps)      (1 while G_j = 0; 0 at the least)
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
  squaring (:func:`_power_sum`): a fixed sequence of products for each exponent.
  The fixed point is the objective's: L2 is every step's, exactly.

* **dense** (:func:`_sgd_codes_block`), every other rule (plain or ``invscaling`` steps,
  L1): every ``batch_size`` rows the one update step :func:`~.common._step` over all
  ``p`` weights (L2, AdaGrad's sums, the cumulative L1 penalty, averaging).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .categorical import _add_gradient, _row_logit
from .common import ADAGRAD_EPS, NONFINITE, OK, PAUSED, _average, _step, loss_and_dz_scalar
from .intrinsics import _prefetch_row

# Shuffled rows: the row this many positions ahead is hinted into cache (its features
# and its codes), so that the loads of scattered rows overlap the training.
AHEAD = 16


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


# -- the lazy rule ------------------------------------------------------------------


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
    the lazy rule (the module docstring): each row catches its levels' weights up to
    the current update, adds ``dL/dz x~`` to the carry of its number weights and
    ``dL/dz`` to its levels'; every ``batch_size`` rows :func:`_lazy_step`. Returns
    ``(position, status)`` as :func:`~.sgd.sgd_block`; ``w``'s and ``avg_w``'s level
    entries are left as they were (:func:`sync_levels`)."""
    w, state, carry_w, avg_w, g2, _, _ = arrays
    anchor, stamp, total = levels
    batch_size, lr, _, l2, avg_from, _ = numbers
    d = X.shape[1]
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
    x = np.empty(d)
    updates = 0
    pos = start
    status = OK
    while pos < stop:
        i = pos if identity else order[pos]
        if not identity and pos + AHEAD < stop:
            ahead = order[pos + AHEAD]
            _prefetch_row(X, ahead)
            _prefetch_row(codes, ahead)
        z = b
        for j in range(d):
            x[j] = (X[i, j] - mean[j]) * inv_scale[j]
            z += w[j] * x[j]
        for c in range(codes.shape[1]):
            code = codes[i, c]
            if code >= 0:
                # the level's weight caught up to update t (its anchor moved there)
                stamped = stamp[code]
                if stamped != t:
                    value, acc = _advance(anchor[code], total[code] if stamped >= lo else 0.0,
                                          _shrink(lr, l2, np.sqrt(g2[code])), stamped, t, lo,
                                          averaging)
                    anchor[code] = value
                    total[code] = acc
                    stamp[code] = t
                elif t < lo:
                    total[code] = 0.0  # a sum of an average since restarted
                z += anchor[code]
        if not np.isfinite(z):
            status = NONFINITE
            pos = i
            break
        loss, dz = loss_and_dz_scalar(loss_id, z, labels[pos])
        weight = rw[pos] if weighted else 1.0
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
            carry_w[j] += dz * x[j]
        for c in range(codes.shape[1]):
            code = codes[i, c]
            if code >= 0:
                carry_w[code] += dz
                if not listed[code] and carry_w[code] != 0.0:
                    listed[code] = True
                    touched[n_touched] = code
                    n_touched += 1
        pos += 1
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


# -- the dense rule -----------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _sgd_codes_block(X, codes, labels, order, rw, mean, inv_scale, arrays, numbers, adagrad,
                     penalized, loss_id, start, stop, max_updates):
    """Mini-batch SGD over rows ``order[start:stop]`` (empty ``order``: file order) of
    a block with categorical columns: :func:`~.sgd.sgd_block`'s arithmetic, row by
    row. Each row adds ``dL/dz x~`` to the carry of its number weights and ``dL/dz``
    to the carry of its level weights; every ``batch_size`` rows the one update step
    (:func:`~.common._step`: plain or AdaGrad, L2 on every weight, cumulative L1,
    averaging) over all ``p`` weights, exactly the objective's L2. Returns
    ``(position, status)`` as :func:`~.sgd.sgd_block`."""
    w, state, carry_w, avg_w, g2, l1_u, l1_q = arrays
    batch_size, lr0, power_t, l2, avg_from, l1 = numbers
    d = X.shape[1]
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
    x = np.empty(d)
    updates = 0
    pos = start
    status = OK
    while pos < stop:
        i = pos if identity else order[pos]
        # (labels and rw are in training order, like order itself)
        if not identity and pos + AHEAD < stop:
            ahead = order[pos + AHEAD]
            _prefetch_row(X, ahead)
            _prefetch_row(codes, ahead)
        z = _row_logit(X, codes, i, w, b, mean, inv_scale, x)
        if not np.isfinite(z):
            status = NONFINITE
            pos = i
            break
        loss, dz = loss_and_dz_scalar(loss_id, z, labels[pos])
        weight = rw[pos] if weighted else 1.0
        if weighted:
            loss *= weight
            dz *= weight
        loss_sum += loss
        carry_b += dz
        carry_weight += weight
        weight_seen += weight
        rows_seen += 1.0
        carry_rows += 1.0
        _add_gradient(carry_w, dz, x, codes, i)
        pos += 1
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
