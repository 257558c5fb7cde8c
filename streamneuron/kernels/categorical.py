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

from .common import curvature_scalar, loss_and_dz_scalar
from .sums import raise_diagonal, sample_gap, sample_start


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


__all__ = ["categorical_sums", "level_logits", "logits_with_levels"]
