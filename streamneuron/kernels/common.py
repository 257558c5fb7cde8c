"""What every kernel shares: the tile and its workspace, filling a tile with
standardized rows, the vectorized losses, summing rows into an accumulator, and
the one update step.

All of these are inlined into the kernels (``inline="always"``); they are called
once per tile, per span or per batch, never per value.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..schedules import ADAGRAD_EPS
from .elementary import exp_nonpositive, log1p_unit
from .intrinsics import _accumulate8, _prefetch, _transpose4, _update_row

# The SGD scalars a kernel reads and writes back, by name: one record (new_state()).
# The weights and the carried gradient sum of the unfinished batch are arrays of
# their own. streamneuron.training.TrainState holds the same fields for everyone else.
STATE = np.dtype([
    ("bias", np.float64),  # b
    ("updates", np.float64),  # t: mini-batch updates done so far (drives invscaling)
    ("carry_b", np.float64),  # sum of dL/dz over the rows of the unfinished batch
    ("carry_rows", np.float64),  # rows in the unfinished batch (it may straddle blocks)
    ("loss_sum", np.float64),  # sum of L over the pass's rows, at the weights they met
    ("rows_seen", np.float64),  # rows of the pass so far
    ("avg_b", np.float64),  # the running (Polyak-Ruppert) average of b (averaged SGD)
    ("avg_count", np.float64),  # iterates in the average so far
    # Row weights: the sum of the weights of the unfinished batch (the step divides by
    # it; unweighted, it equals carry_rows) and of the pass's rows (the objective's
    # denominator; unweighted, rows_seen).
    ("carry_weight", np.float64),
    ("weight_seen", np.float64),
])

# Status codes returned by the kernels.
OK = 0
PAUSED = 1  # stopped after ``max_updates`` updates, at a batch boundary
NONFINITE = 2  # a logit was NaN or infinite; the row is returned for the message

# Rows per tile, and the most float64 values a tile holds (16 KiB: half of L1).
TILE = 64
TILE_VALUES = 2048
# Partial sums of the logit (two 4-wide vectors of float64; ``_logit`` is written for 8).
LANES = 8


def new_state() -> np.ndarray:
    """A zero state: a one-record array of :data:`STATE` (``state["bias"][0]``...)."""
    return np.zeros(1, dtype=STATE)


# -- the losses, one row at a time -----------------------------------------------------


@njit(inline="always")
def loss_and_dz_scalar(loss_id, z, y):
    """``(L(z, y), dL/dz)`` for ``LogLoss`` (id 0) or ``SquaredError`` (id 1): the
    formulas of :mod:`streamneuron.losses`, one row at a time.

    ``p = sigmoid(z)`` and ``log(1 + e**z)`` share one ``e = exp(-|z|)``, so
    neither overflows::

        p = 1 / (1 + e)              (z >= 0)      p = e / (1 + e)     (z < 0)
        log(1 + e**z) = max(z, 0) + log1p(e)

    ``exp`` and ``log1p`` are the branch-free ones of :mod:`streamneuron.kernels.elementary`
    (the kernels evaluate this over a tile of rows, four at a time).
    """
    e = exp_nonpositive(-abs(z))
    inv = 1.0 / (1.0 + e)
    p = inv if z >= 0.0 else e * inv
    if loss_id == 0:
        return max(z, 0.0) + log1p_unit(e) - y * z, p - y
    r = p - y
    return 0.5 * r * r, r * p * (1.0 - p)


@njit(inline="always")
def curvature_scalar(loss_id, z):
    """Newton's weight ``h(z)`` of ``LogLoss`` (``p (1 - p)``) or ``SquaredError``
    (Gauss-Newton ``(p (1 - p))**2``), the ``curvature`` of :mod:`streamneuron.losses`
    one row at a time: ``p (1 - p) = e / (1 + e)**2`` with ``e = exp(-|z|)`` for
    either sign of ``z``, so it never overflows. Neither depends on ``y``."""
    e = exp_nonpositive(-abs(z))
    inv = 1.0 / (1.0 + e)
    q = e * inv * inv
    return q if loss_id == 0 else q * q


# -- building blocks, inlined into every kernel --------------------------------------


@njit(inline="always")
def _tile_rows(d):
    """Rows per tile: ``TILE``, fewer when rows are wide (at least 4)."""
    return max(4, min(TILE, TILE_VALUES // max(d, 1)))


@njit(inline="always")
def _workspace(d):
    """A tile of standardized rows, and per row of it: label, logit, dL/dz, loss."""
    rows = _tile_rows(d)
    return (np.empty((rows, d), dtype=np.float64), np.empty(rows, dtype=np.float64),
            np.empty(rows, dtype=np.float64), np.empty(rows, dtype=np.float64),
            np.empty(rows, dtype=np.float64))


@njit(inline="always")
def _fill(X, order, identity, first, count, mean, inv_scale, tile):
    """Standardized float64 copies of ``count`` rows, from position ``first``, into the tile.

    ``tile[r, j] = (X[i, j] - mean[j]) * inv_scale[j]`` for the row ``i`` at
    position ``first + r`` (``order[first + r]`` when shuffled): down the columns
    (:func:`_fill_columns`) for a column-major block in file order, else row by row
    (:func:`_fill_rows`).
    """
    if identity and X.strides[0] < X.strides[1]:
        _fill_columns(X, first, count, mean, inv_scale, tile)
    else:
        _fill_rows(X, order, identity, first, count, mean, inv_scale, tile)


@njit(inline="always")
def _fill_columns(X, first, count, mean, inv_scale, tile):
    """:func:`_fill` for column-major rows in file order: walk down each column
    (contiguous reads), hinting the next tile's stretch of it (d streams are more than
    the hardware prefetcher follows)."""
    d = X.shape[1]
    ahead = min(count, X.shape[0] - first - count)
    step = max(1, 64 // X.itemsize)
    for j in range(d):
        for r in range(0, ahead, step):
            _prefetch(X, first + count + r, j)
    # 4 x 4 blocks transposed in registers; the ragged edges value by value.
    rows4 = count & ~3 if X.strides[0] == X.itemsize else 0
    cols4 = d & ~3 if rows4 > 0 else 0
    for j in range(0, cols4, 4):
        for r in range(0, rows4, 4):
            _transpose4(X, first + r, j, tile, r, mean, inv_scale)
    for j in range(d):
        m = mean[j]
        s = inv_scale[j]
        for r in range(rows4 if j < cols4 else 0, count):
            tile[r, j] = (X[first + r, j] - m) * s


@njit(inline="always")
def _fill_rows(X, order, identity, first, count, mean, inv_scale, tile):
    """:func:`_fill` row by row, in file order or in ``order``."""
    d = X.shape[1]
    for r in range(count):
        i = first + r if identity else order[first + r]
        for j in range(d):
            tile[r, j] = (X[i, j] - mean[j]) * inv_scale[j]


@njit(inline="always")
def _standardized_gaps(fill, indicated, mean, inv_scale, d):
    """For :func:`_fill_rows_imputed`, per indicator ``k`` (of raw column
    ``indicated[k]``, model column ``d + k``): its column's fill value standardized,
    and its own value standardized at 0 and at 1 (the numbers the tile holds for them,
    made once a call)."""
    m = indicated.shape[0]
    filled, zero, one = np.empty(m), np.empty(m), np.empty(m)
    for k in range(m):
        j = indicated[k]
        filled[k] = (fill[j] - mean[j]) * inv_scale[j]
        zero[k] = (0.0 - mean[d + k]) * inv_scale[d + k]
        one[k] = (1.0 - mean[d + k]) * inv_scale[d + k]
    return filled, zero, one


@njit(inline="always")
def _fill_rows_imputed(X, order, identity, first, count, mean, inv_scale, indicated, gaps,
                       tile):
    """:func:`_fill_rows` for a block read narrow (``--missing impute``: the ``d`` raw
    features, the gaps NaN, no indicator columns; only the columns with an indicator
    can hold one, the training input's): the ``d`` columns as :func:`_fill_rows`
    gives them (a gap NaN), then down each indicated column a NaN becomes its fill
    value standardized and the indicator column ``d + k`` is made (``gaps``:
    :func:`_standardized_gaps`). The very tile the wide block (fills and indicators
    written by the reader) gives, bit for bit; the reader writes, and the kernel
    gathers, ``m`` values a row fewer. (Down the columns, not per row: a short loop
    per row cost more than gathering the wide rows.)"""
    d = X.shape[1]
    _fill_rows(X, order, identity, first, count, mean, inv_scale, tile)
    filled, zero, one = gaps
    for k in range(indicated.shape[0]):
        j = indicated[k]
        f, a, b = filled[k], zero[k], one[k]
        for r in range(count):
            v = tile[r, j]
            ok = v == v
            tile[r, j] = v if ok else f
            tile[r, d + k] = a if ok else b


@njit(inline="always")
def _rate(t, lr0, power_t):
    """``lr_t = lr0 / (1 + t)**power_t``: just ``lr0`` when ``power_t == 0`` (the same
    number: ``x**0 == 1``), without the ``pow`` call."""
    return lr0 if power_t == 0.0 else lr0 / (1.0 + t) ** power_t


@njit(inline="always")
def _power_of_two(m):
    mi = int(m)
    return mi > 0 and (mi & (mi - 1)) == 0 and float(mi) == m



@njit(inline="always")
def _add_rows(acc, tile, coef, lo, hi):
    """``acc += sum_q coef[q] * tile[q]`` over rows ``lo <= q < hi``, in row order."""
    d = acc.shape[0]
    blocks = d & ~7
    for j in range(0, blocks, 8):
        _accumulate8(acc, tile, coef, lo, hi, j)
    for j in range(blocks, d):
        a = acc[j]
        for q in range(lo, hi):
            a += coef[q] * tile[q, j]
        acc[j] = a


@njit(inline="always")
def _losses(loss_id, z, y, loss, dz, first, stop):
    """``loss[q], dz[q] = L(z[q], y[q]), dL/dz(z[q], y[q])`` for ``first <= q < stop``:
    no branches, no calls, so LLVM runs it four rows per instruction. One loop
    per loss, the id a constant in each (a loop that picked per row would
    compute both)."""
    if loss_id == 0:
        for q in range(first, stop):
            loss[q], dz[q] = loss_and_dz_scalar(0, z[q], y[q])
    else:
        for q in range(first, stop):
            loss[q], dz[q] = loss_and_dz_scalar(1, z[q], y[q])


@njit(inline="always")
def _first_nonfinite(z, first, stop):
    """The first ``q`` in ``[first, stop)`` with ``z[q]`` NaN or infinite, else ``stop``."""
    for q in range(first, stop):
        if not np.isfinite(z[q]):
            return q
    return stop


@njit(inline="always")
def _adagrad_step(w, carry_w, tile, r, dz, b, carry_b, m, lr, l2, g2):
    """AdaGrad's update (``g2`` holds ``G_j`` for each weight and, last, the bias;
    ``m`` the batch's weight, see :func:`_step`)::

        g_j = (carry_w_j + dz x_j) / m + l2 w_j,   G_j += g_j**2,
        w_j -= lr g_j / (sqrt(G_j) + eps)          (the bias: g = carry_b / m)

    Empties ``carry_w``; returns the new ``b``."""
    d = w.shape[0]
    inv_m = 1.0 / m
    for j in range(d):
        g = (carry_w[j] + dz * tile[r, j]) * inv_m + l2 * w[j]
        G = g2[j] + g * g
        g2[j] = G
        w[j] -= lr * g / (np.sqrt(G) + ADAGRAD_EPS)
        carry_w[j] = 0.0
    gb = carry_b * inv_m
    Gb = g2[d] + gb * gb
    g2[d] = Gb
    return b - lr * gb / (np.sqrt(Gb) + ADAGRAD_EPS)


@njit(inline="always")
def _step(adagrad, penalized, w, carry_w, tile, r, dz, b, carry_b, m, t, lr0, power_t, l2, g2,
          l1, u, q):
    """The update step, the one every kernel takes: the batch's last row
    (``tile[r]`` with ``dz``) joins the carry and

        w -= lr_t (g_w / m + l2 w),   b -= lr_t g_b / m,   lr_t = lr0 / (1 + t)**power_t

    with ``g_w, g_b`` the carried gradient sums of the batch's rows and ``m`` the sum of
    their weights (their count when unweighted: ``dz`` and the carry are then the
    weighted sums ``sum_i w_i dL/dz_i x_i``). The carry ``carry_w`` is emptied; returns
    the new ``(b, t)`` (the caller empties ``carry_b`` and the batch's counts). A step
    with no last row passes a zero row.
    ``adagrad``: AdaGrad's per-coordinate step instead (:func:`_adagrad_step`, ``g2``).
    ``penalized``: then the cumulative L1 penalty (:func:`_cumulative_l1`); the bias is
    never penalised. Both flags are compile-time constants of the calling kernel
    (:mod:`.specialize`), so each kernel holds one step rule's code, not all of them.
    """
    if adagrad:
        b = _adagrad_step(w, carry_w, tile, r, dz, b, carry_b, m, lr0, l2, g2)
        if penalized:
            _cumulative_l1(w, u, q, lr0, l1, g2, True)
        return b, t + 1.0
    lr = _rate(t, lr0, power_t)
    _update_row(w, carry_w, tile, r, dz, lr, m, _power_of_two(m), l2)
    if penalized:
        _cumulative_l1(w, u, q, lr, l1, g2, False)
    return b - lr * (carry_b / m), t + 1.0


@njit(inline="always")
def _cumulative_l1(w, u, q, lr, l1, g2, adaptive):
    """The cumulative L1 penalty of Tsuruoka, Tsujii & Ananiadou (2009), after a step at
    rate ``lr``: ``u_j`` is the L1 penalty weight ``j`` could have received so far, ``q_j``
    the penalty it did receive (signed); each weight moves towards zero by what it is
    owed, and stops at zero::

        u_j += lr_j l1          (lr_j = lr; AdaGrad: lr / (sqrt(G_j) + eps))
        w_j > 0:  w_j = max(0, w_j - (u_j + q_j))
        w_j < 0:  w_j = min(0, w_j + (u_j - q_j))
        q_j += w_j(after) - w_j(before)

    so weights become exactly zero. ``u``, ``q``: (d,), kept in the training state."""
    for j in range(w.shape[0]):
        rate = lr / (np.sqrt(g2[j]) + ADAGRAD_EPS) if adaptive else lr
        uj = u[j] + rate * l1
        u[j] = uj
        z = w[j]
        if z > 0.0:
            w[j] = max(0.0, z - (uj + q[j]))
        elif z < 0.0:
            w[j] = min(0.0, z + (uj - q[j]))
        q[j] += w[j] - z


@njit(inline="always")
def _average(w, avg_w, b, avg_b, avg_count, t, avg_from):
    """Averaged SGD: after the step that made update count ``t``, the iterate ``(w, b)``
    joins the running average ``(avg_w, avg_b)`` of the ``avg_count`` iterates so far
    when ``avg_from > 0`` and ``t >= avg_from``::

        k = avg_count + 1,   avg_w += (w - avg_w) / k,   avg_b += (b - avg_b) / k

    Returns the new ``(avg_b, avg_count)``. ``avg_from <= 0``: off, nothing is touched
    (the weights never depend on the average)."""
    if avg_from <= 0.0 or t < avg_from:
        return avg_b, avg_count
    k = avg_count + 1.0
    for j in range(w.shape[0]):
        avg_w[j] += (w[j] - avg_w[j]) / k
    return avg_b + (b - avg_b) / k, k
