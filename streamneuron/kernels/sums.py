"""The full-pass sum kernels: :func:`gradient_sums` (one partition's partial
gradient sums at fixed weights, for every full-pass solver),
:func:`gradient_hessian_sums` (the same and Newton's curvature sums, in one read)
and :func:`moments`
(per-column mean and squared deviations, for the standardization pass).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _add_rows, curvature_scalar, _fill, _first_nonfinite, _losses, _workspace
from .intrinsics import _logit


@njit(cache=True, nogil=True, error_model="numpy")
def gradient_sums(X, y, w, b, mean, inv_scale, loss_id, grad_w):
    """Full-pass partial sums for one partition, at fixed ``(w, b)``.

    Adds ``sum_i dL/dz_i x_i`` into ``grad_w`` and returns
    ``(sum_i dL/dz_i, sum_i L_i, bad_row)`` with ``bad_row = -1`` unless a logit
    was not finite. The tiles, logits and vectorized losses of :func:`sgd_block`
    (a tile is one span: the weights are fixed); rows are summed in file order.
    """
    n, d = X.shape
    tile, ty, tz, tdz, tloss = _workspace(d)
    rows = tile.shape[0]
    no_order = np.empty(0, dtype=np.int64)
    sum_dz = 0.0
    sum_loss = 0.0
    for first in range(0, n, rows):
        count = min(rows, n - first)
        _fill(X, no_order, True, first, count, mean, inv_scale, tile)
        for r in range(count):
            ty[r] = y[first + r]
            tz[r] = _logit(b, w, tile, r, d)
        bad = _first_nonfinite(tz, 0, count)
        _losses(loss_id, tz, ty, tloss, tdz, 0, bad)
        for r in range(bad):
            sum_loss += tloss[r]
            sum_dz += tdz[r]
        _add_rows(grad_w, tile, tdz, 0, bad)
        if bad < count:
            return sum_dz, sum_loss, first + bad
    return sum_dz, sum_loss, -1


@njit(inline="always")
def _add_curvature(hess, tile, h, count):
    """``hess[j, k] += sum_q h[q] x~_qj x~_qk`` for ``j <= k`` over the first ``count``
    rows of the tile, ``x~ = (row, 1)``: the upper triangle of a ``(d+1) x (d+1)``
    matrix, the bias last. Four rows per sweep over the triangle (each ``hess``
    value loaded once per four rows), the inner loop contiguous in ``k`` so LLVM
    vectorizes it; the order of every sum is fixed, whatever the layout of ``X``."""
    d = tile.shape[1]
    r = 0
    while r + 4 <= count:
        h0, h1, h2, h3 = h[r], h[r + 1], h[r + 2], h[r + 3]
        for j in range(d):
            a0 = h0 * tile[r, j]
            a1 = h1 * tile[r + 1, j]
            a2 = h2 * tile[r + 2, j]
            a3 = h3 * tile[r + 3, j]
            for k in range(j, d):
                hess[j, k] += (a0 * tile[r, k] + a1 * tile[r + 1, k]) + (
                    a2 * tile[r + 2, k] + a3 * tile[r + 3, k])
            hess[j, d] += (a0 + a1) + (a2 + a3)
        hess[d, d] += (h0 + h1) + (h2 + h3)
        r += 4
    while r < count:
        hr = h[r]
        for j in range(d):
            a = hr * tile[r, j]
            for k in range(j, d):
                hess[j, k] += a * tile[r, k]
            hess[j, d] += a
        hess[d, d] += hr
        r += 1


@njit(cache=True, nogil=True, error_model="numpy")
def gradient_hessian_sums(X, y, w, b, mean, inv_scale, loss_id, grad_w, hess):
    """:func:`gradient_sums`, and Newton's curvature sums in the same read.

    Adds ``sum_i dL/dz_i x_i`` into ``grad_w`` and the upper triangle (``j <= k``)
    of ``sum_i h_i x~_i x~_i^T`` into the ``(d+1) x (d+1)`` ``hess``, with
    ``x~ = (standardized x, 1)`` and ``h`` the loss's curvature weight
    (:func:`~streamneuron.losses.curvature_scalar`); the lower triangle is not
    touched (the caller mirrors it). Returns ``(sum dL/dz, sum L, bad_row)`` as
    :func:`gradient_sums` does, with the same tiles, logits and losses.
    """
    n, d = X.shape
    tile, ty, tz, tdz, tloss = _workspace(d)
    th = np.empty(tile.shape[0], dtype=np.float64)
    rows = tile.shape[0]
    no_order = np.empty(0, dtype=np.int64)
    sum_dz = 0.0
    sum_loss = 0.0
    for first in range(0, n, rows):
        count = min(rows, n - first)
        _fill(X, no_order, True, first, count, mean, inv_scale, tile)
        for r in range(count):
            ty[r] = y[first + r]
            tz[r] = _logit(b, w, tile, r, d)
        bad = _first_nonfinite(tz, 0, count)
        _losses(loss_id, tz, ty, tloss, tdz, 0, bad)
        if loss_id == 0:
            for q in range(bad):
                th[q] = curvature_scalar(0, tz[q])
        else:
            for q in range(bad):
                th[q] = curvature_scalar(1, tz[q])
        for r in range(bad):
            sum_loss += tloss[r]
            sum_dz += tdz[r]
        _add_rows(grad_w, tile, tdz, 0, bad)
        _add_curvature(hess, tile, th, bad)
        if bad < count:
            return sum_dz, sum_loss, first + bad
    return sum_dz, sum_loss, -1


# Rows summed together before joining the column total (a two-level sum: error
# ~ (MOMENT_BLOCK + n / MOMENT_BLOCK) ulps instead of n).
MOMENT_BLOCK = 1024


@njit(cache=True, nogil=True)
def moments(X):
    """Per-column ``(mean, m2)`` of ``X`` (n, d), ``m2 = sum_i (x_ij - mean_j)**2``, in
    float64 without a float64 copy of ``X`` (the standardization pass).

    Each column is summed in blocks of ``MOMENT_BLOCK`` rows, in row order, the
    block sums added in order: the same numbers for a row- or column-major ``X``.
    A NaN or infinity makes ``m2`` non-finite (the caller names it).
    """
    n, d = X.shape
    mean = np.zeros(d)
    m2 = np.zeros(d)
    part = np.zeros(d)
    if n == 0:
        return mean, m2
    for phase in range(2):
        total = mean if phase == 0 else m2
        for start in range(0, n, MOMENT_BLOCK):
            stop = min(n, start + MOMENT_BLOCK)
            part[:] = 0.0
            # Row by row, several columns side by side (independent sums): every
            # column of a row-major X at once; eight at a time of a column-major one
            # (eight sequential streams). Either way each column's sum runs in row order.
            group = d if X.strides[1] <= X.strides[0] else 8
            for j0 in range(0, d, group):
                j1 = min(d, j0 + group)
                if phase == 0:
                    for i in range(start, stop):
                        for j in range(j0, j1):
                            part[j] += X[i, j]
                else:
                    for i in range(start, stop):
                        for j in range(j0, j1):
                            v = X[i, j] - mean[j]
                            part[j] += v * v
            for j in range(d):
                total[j] += part[j]
        if phase == 0:
            for j in range(d):
                mean[j] /= n
    return mean, m2
