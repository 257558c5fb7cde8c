"""The kernels of rows with categorical columns: each row carries, beside its number
features ``x`` (standardized as everywhere), ``k`` level codes (:mod:`streamneuron.levels`:
the index of the level's weight in ``w``, or -1 for none), so that::

    z = b + sum_j w_j x~_j + sum_c w[code_c]

A row touches the weights of its own levels only: its gradient adds ``dL/dz`` to
``k`` level weights, its curvature ``h`` to the Hessian's entries of its levels.
The Hessian is built from its blocks in one pass (numbers x numbers dense, each
column's levels diagonal since one column's levels never meet in a row, levels x
numbers and levels x other columns' levels where rows meet them), upper triangle
only, as :func:`~.sums.gradient_hessian_sums` leaves it.

One plain row loop each (no tiles): the work per row is ``d + k`` for the logit and
the gradient, plus ``(d + k + 1)**2 / 2`` for the Hessian, wherever the levels lie.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import (NONFINITE, OK, PAUSED, _average, _step, curvature_scalar,
                     loss_and_dz_scalar)
from .intrinsics import _prefetch_row
from .sums import raise_diagonal, sample_gap, sample_start

# Shuffled rows: the row this many positions ahead is hinted into cache (its features
# and its codes), so that the loads of scattered rows overlap the training.
AHEAD = 16


@njit(cache=True, nogil=True, inline="always")
def _row_logit(X, codes, i, w, b, mean, inv_scale, x):
    """Row ``i``'s standardized features into ``x``, and its logit
    ``b + w . x + sum_c w[codes[i, c]]`` (a code of -1 adds nothing)."""
    z = b
    for j in range(x.shape[0]):
        x[j] = (X[i, j] - mean[j]) * inv_scale[j]
        z += w[j] * x[j]
    for c in range(codes.shape[1]):
        code = codes[i, c]
        if code >= 0:
            z += w[code]
    return z


@njit(cache=True, nogil=True, inline="always")
def _add_gradient(acc, dz, x, codes, i):
    """``acc += dz x~`` for row ``i``: ``dz x`` to the number weights, ``dz`` to each of
    its levels' weights."""
    for j in range(x.shape[0]):
        acc[j] += dz * x[j]
    for c in range(codes.shape[1]):
        code = codes[i, c]
        if code >= 0:
            acc[code] += dz


@njit(cache=True, nogil=True, inline="always")
def _add_outer(mat, cross, a, x, codes, i, d, k, p):
    """``mat += a x~ x~^T`` (upper triangle) for row ``i``'s one-hot expanded
    ``x~ = (x_std, onehot(codes[i]), 1)``: the blocks numbers x numbers, numbers x
    levels, levels x levels (a column's levels never meet: only the row's own) and
    the bias column. The levels' rows of the numbers x levels, bias and diagonal
    blocks go to ``cross`` (``cross[code - d] = (sum a x, sum a, sum a)``: a cache line or
    two a level, not ``d + 2`` scattered ones), folded into ``mat`` by :func:`_fold_cross`."""
    for j in range(d):
        ax = a * x[j]
        for m in range(j, d):
            mat[j, m] += ax * x[m]
        mat[j, p] += ax
    for c in range(k):
        code = codes[i, c]
        if code < 0:
            continue
        row = cross[code - d]
        for j in range(d):
            row[j] += a * x[j]
        row[d] += a  # the bias column
        row[d + 1] += a  # the diagonal
        # columns' weights lie in column order, so a later column's code is larger
        for e in range(c + 1, k):
            other = codes[i, e]
            if other >= 0:
                mat[code, other] += a
    mat[p, p] += a


@njit(cache=True, nogil=True, inline="always")
def _fold_cross(mat, cross, d, p):
    """Add ``cross`` (see :func:`_add_outer`) into ``mat``'s upper triangle."""
    for level in range(cross.shape[0]):
        code = d + level
        for j in range(d):
            mat[j, code] += cross[level, j]
        mat[code, p] += cross[level, d]
        mat[code, code] += cross[level, d + 1]


@njit(cache=True, nogil=True)
def categorical_sums(X, codes, y, weights, w, b, mean, inv_scale, loss_id, grad, hess,
                     meat, every):
    """Add one unit's sums into ``grad`` (``p = len(w)``: ``sum s dz x~`` for the
    number weights, ``sum s dz`` into each level weight) and, when ``hess`` is
    ``(p + 1, p + 1)`` (else ``(0, 0)``), ``sum s h x~ x~^T`` over the one-hot expanded
    row ``x~ = (x_std, onehot(codes), 1)``, upper triangle; when ``meat`` is
    ``(p + 1, p + 1)`` (else ``(0, 0)``), ``sum s dz**2 x~ x~^T`` (``summary --robust``: the row
    weight once, frequency weights, as :func:`~.sums.hessian_meat_sums`).
    ``weights`` empty: unweighted. Returns ``(sum s dz, sum s L, sum s, bad)``,
    ``bad`` the first row whose logit is not finite (-1: none).

    ``every`` > 1 (newton's steering curvature, never with ``meat``): ``hess`` from a
    sample of about one row in ``every``, each counted ``every`` times, the rows those of
    :func:`~.sums.sampled_hessian_sums`; every row adds to the exact diagonal (its
    ``d`` numbers, its levels, the bias), and each diagonal entry the sample left below
    it is raised to it (:func:`~.sums.raise_diagonal`): a rare level the sample missed
    keeps its true curvature. ``every = 1``: every row's curvature."""
    n, d = X.shape
    k = codes.shape[1]
    p = w.shape[0]
    curvature = hess.shape[0] == p + 1
    scores = meat.shape[0] == p + 1
    weighted = weights.shape[0] > 0
    x = np.empty(d)
    cross_h = np.zeros((p - d if curvature else 0, d + 2))
    cross_m = np.zeros((p - d if scores else 0, d + 2))
    sampled = curvature and every > 1
    exact_diag = np.zeros(p + 1 if sampled else 0)
    before = np.empty(p + 1 if sampled else 0)
    if sampled:
        for j in range(p + 1):
            before[j] = hess[j, j]
    next_row = sample_start(every)
    sum_dz = 0.0
    sum_loss = 0.0
    sum_w = 0.0
    bad = -1
    for i in range(n):
        z = _row_logit(X, codes, i, w, b, mean, inv_scale, x)
        if not np.isfinite(z):
            bad = i
            break
        loss, dz = loss_and_dz_scalar(loss_id, z, y[i])
        s = weights[i] if weighted else 1.0
        if scores:
            _add_outer(meat, cross_m, s * dz * dz, x, codes, i, d, k, p)
        loss *= s
        dz *= s
        sum_loss += loss
        sum_dz += dz
        sum_w += s
        _add_gradient(grad, dz, x, codes, i)
        if sampled:
            a = s * curvature_scalar(loss_id, z)
            for j in range(d):
                exact_diag[j] += a * (x[j] * x[j])
            for c in range(k):
                code = codes[i, c]
                if code >= 0:
                    exact_diag[code] += a
            exact_diag[p] += a
            if i == next_row:
                _add_outer(hess, cross_h, every * a, x, codes, i, d, k, p)
                next_row += sample_gap(i, every)
        elif curvature:
            _add_outer(hess, cross_h, s * curvature_scalar(loss_id, z), x, codes, i, d, k, p)
    if curvature:
        _fold_cross(hess, cross_h, d, p)
    if sampled and bad < 0:
        raise_diagonal(hess, before, exact_diag)
    if scores:
        _fold_cross(meat, cross_m, d, p)
    return sum_dz, sum_loss, sum_w, bad


@njit(cache=True, nogil=True)
def level_logits(codes, w, z):
    """``z_i += sum_c w[codes[i, c]]`` (codes of -1 add nothing)."""
    for i in range(codes.shape[0]):
        acc = 0.0
        for c in range(codes.shape[1]):
            code = codes[i, c]
            if code >= 0:
                acc += w[code]
        z[i] += acc


def logits_with_levels(X: np.ndarray, codes: np.ndarray | None, weights: np.ndarray, bias: float,
                       center: np.ndarray, inv_scale: np.ndarray, z: np.ndarray) -> int:
    """``z = x~ . w + b`` plus the rows' level weights (``codes`` None: none): the
    number features' logits (:func:`~.apply.logits`, ``weights[:d]``), then
    :func:`level_logits`. Returns the first row with a non-finite logit, or -1."""
    from .apply import logits

    d = X.shape[1]
    bad = logits(X, weights[:d], bias, center, inv_scale, z)
    if codes is not None and bad < 0:
        level_logits(codes, weights, z)
        if not np.isfinite(z).all():
            bad = int(np.flatnonzero(~np.isfinite(z))[0])
    return bad


def sgd_codes_block(rows, codes: np.ndarray, arrays, rule, *, start: int = 0,
                    stop: int | None = None, max_updates: int = -1) -> tuple[int, int]:
    """:func:`~.sgd.sgd_block` for a block whose rows carry level ``codes`` (rows in
    the block's file order, like ``rows.X``): the same arguments, the same result."""
    return _sgd_codes_block(
        rows.X, codes, rows.labels, rows.order, rows.weights, rows.mean, rows.inv_scale,
        tuple(arrays), (int(rule.batch_size), float(rule.lr), float(rule.power), float(rule.l2),
                        float(rule.average), float(rule.l1)),
        bool(rule.adagrad), rule.l1 > 0, int(rule.loss_id), start,
        rows.X.shape[0] if stop is None else stop, max_updates)


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


__all__ = ["categorical_sums", "level_logits", "sgd_codes_block", "logits_with_levels"]
