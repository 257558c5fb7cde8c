"""The kernels of rows with categorical columns: each row carries, beside its number
features ``x`` (standardized as everywhere), ``k`` level codes (:mod:`streamneuron.levels`:
the index of the level's weight in ``w``, or -1 for none), so that::

    z = b + sum_j w_j x~_j + sum_c w[code_c]

A row touches the weights of its own levels only: its gradient adds ``dL/dz`` to
``k`` level weights, its curvature ``h`` to the Hessian's entries of its levels.
The Hessian is built from its blocks in one pass (numbers x numbers dense, each
column's levels diagonal since one column's levels never meet in a row, levels x
numbers and levels x other columns' levels where rows meet them), upper triangle
only, in the arrowhead layout of :mod:`streamneuron.fullpass.arrow` (one column's
levels apart as a diagonal, their cross block a matrix of its own; none apart: the
dense matrix of :func:`~.sums.gradient_hessian_sums`).

:func:`categorical_sums` goes by tiles as :func:`~.sums.gradient_hessian_sums` (the
numbers' block by one matrix product every ``CURVATURE_ROWS`` rows), then adds each
row's levels: ``d + 2`` values a level into the task's running rows of levels, one a pair
of levels into the matrices; :func:`fold_levels` adds the running rows into the matrices
once a task (of all its units). The SGD kernel is one
plain row loop (no tiles): the work per row is ``d + k`` for the logit and the gradient.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import (_add_rows, _fill, _first_nonfinite, _losses, _workspace,
                     curvature_scalar)
from .intrinsics import _logit, _prefetch
from .sums import (CURVATURE_ROWS, _add_product, _stage_curvature, _stage_row, _stage_two,
                   _weigh)
from .specialize import named


@njit(inline="always")
def _rest(code, lo, K):
    """The index of weight ``code`` among the weights outside the diagonal column's
    ``[lo, lo + K)`` (its order kept)."""
    return code if code < lo else code - K


@njit(inline="always")
def _add_levels(A, B, cross, a, dz, tile, q, codes, i, d, lo, K, gradient):
    """Row ``i``'s (tile row ``q``) curvature ``a`` into its levels' entries: each level's
    numbers and bias into its row of ``cross`` (``cross[code - d, :d + 1] += a (x, 1)``,
    the bias's sum also the level's diagonal entry; with ``gradient`` its ``dL/dz`` into
    ``cross[code - d, d + 1]``: one cache line or two a level, added into the matrices
    once a task by :func:`fold_levels`), and each pair of its levels (a column's levels
    never meet: only the row's own) into ``A``, or into ``B`` where one of the two is
    the diagonal column's (codes ``[lo, lo + K)``)."""
    k = codes.shape[1]
    hi = lo + K
    for c in range(k):
        code = codes[i, c]
        if code < 0:
            continue
        row = cross[code - d]
        for j in range(d):
            row[j] += a * tile[q, j]
        row[d] += a  # the bias column (and the diagonal: the same sum)
        if gradient:
            row[d + 1] += dz
        # columns' weights lie in column order, so a later column's code is larger
        for e in range(c + 1, k):
            other = codes[i, e]
            if other < 0:
                continue
            if code >= lo and code < hi:
                B[code - lo, other - K] += a
            elif other >= lo and other < hi:
                B[other - lo, code] += a
            else:
                A[_rest(code, lo, K), _rest(other, lo, K)] += a


# The pairs of levels in A are prefetched too when A holds more values than this (a
# core's L2 cache, 1 MiB: A is 10 MiB at 11,118 weights, 0.1 MiB at 1,118, where the
# hints cost more than the misses they save).
PREFETCH_A_VALUES = 1 << 17


@njit(inline="always")
def _prefetch_levels(A, B, cross, codes, start, stop, d, lo, K, far_a):
    """Hint into cache what rows ``[start, stop)`` (the next tile) will add to: each
    level's running row of ``cross`` (its first and last value: 80 bytes may straddle
    two lines; 0.9 MiB of rows at 11,118 weights, more than a core's L2 cache), the
    entries of ``B`` of a row's diagonal-column level against its other levels (lines of
    a matrix of ~100 MiB that a rare level's row would otherwise wait for one by one)
    and, with ``far_a``, the entries of ``A`` of its other pairs of levels. At 11,118
    weights ``cross``'s hints cut a 1M-row unit's kernel by 10-17% (medians of four
    interleaved runs against ``B``'s hints alone), ``A``'s changed it by -11% to +8%
    (kept); at 1,118 weights ``cross``'s changed nothing and ``A``'s cost 17% (they are
    in cache). Hints only: the same bits."""
    k = codes.shape[1]
    last = cross.shape[1] - 1
    for i in range(start, stop):
        big = -1
        for c in range(k):
            code = codes[i, c]
            if code >= 0:
                _prefetch(cross, code - d, 0)
                _prefetch(cross, code - d, last)
                if code >= lo and code < lo + K:
                    big = code - lo
        for c in range(k):
            code = codes[i, c]
            if code < 0 or (code >= lo and code < lo + K):
                continue
            if big >= 0:
                _prefetch(B, big, _rest(code, lo, K))
            if far_a:
                for e in range(c + 1, k):
                    other = codes[i, e]
                    if other >= 0 and (other < lo or other >= lo + K):
                        _prefetch(A, _rest(code, lo, K), _rest(other, lo, K))


@njit(inline="always")
def _fold(A, B, C, numbers, cross, d, lo, K):
    """Add the numbers' and bias's block ``numbers`` (``(d + 1)**2``, bias last) and the
    levels' ``cross`` rows (:func:`_add_levels`) into ``A`` (upper triangle), ``B`` and
    ``C`` (the diagonal column's levels)."""
    r = A.shape[0] - 1  # the bias's index in A
    for j in range(d):
        for m in range(j, d):
            A[j, m] += numbers[j, m]
        A[j, r] += numbers[j, d]
    A[r, r] += numbers[d, d]
    for level in range(cross.shape[0]):
        code = d + level
        if code >= lo and code < lo + K:
            t = code - lo
            for j in range(d):
                B[t, j] += cross[level, j]
            B[t, r] += cross[level, d]
            C[t] += cross[level, d]
        else:
            rc = _rest(code, lo, K)
            for j in range(d):
                A[j, rc] += cross[level, j]
            A[rc, r] += cross[level, d]
            A[rc, rc] += cross[level, d]


# A sampled pass's row i is kept when frac(i GOLDEN / 2**64), its uniform, is below its
# probability: the golden ratio's sequence (one product a row; its points are spread
# evenly, no period of the rows lines up with it); the top 53 bits as a fraction.
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
UNIFORM = 2.0 ** -53


@njit(inline="always")
def _choose_rows(A, B, cross, codes, start, stop, keep, chosen, d, lo, K, far_a):
    """Which of rows ``[start, stop)`` (a tile) a sampled pass sums (:func:`categorical_sums`
    with ``keep``): ``chosen[q]`` the probability ``pi`` of row ``start + q`` if kept, else
    0. Row ``i`` (its index in the unit) is kept when its uniform (:data:`GOLDEN`) is
    below ``pi``, the largest of ``keep[0]`` and its levels' ``keep[1 + code - d]``.
    The kept rows' running level rows and pairs are hinted into cache
    (:func:`_prefetch_levels`): the tile is summed after the one being summed now."""
    k = codes.shape[1]
    for i in range(start, stop):
        pi = keep[0]
        for c in range(k):
            code = codes[i, c]
            if code >= 0:
                pi = max(pi, keep[1 + code - d])
        u = ((np.uint64(i) * GOLDEN) >> np.uint64(11)) * UNIFORM
        chosen[i - start] = pi if u < pi else 0.0  # (no branch: a kept row is unforeseeable)
    for i in range(start, stop):
        if chosen[i - start] > 0.0:
            _prefetch_levels(A, B, cross, codes, i, i + 1, d, lo, K, far_a)


@njit(inline="always")
def _sampled_levels(A, B, cross, numbers, tile, tz, sw, weighted_rows, loss_id, codes, first,
                    count, chosen, rows, staged_w, product, staged, d, lo, K):
    """A tile's curvature in a sampled pass: each kept row (``chosen[q]``, its
    probability ``pi > 0``: :func:`_choose_rows`) counted ``1 / pi`` times (``s h / pi``
    from its logit ``tz[q]``: Horvitz and Thompson's unbiased sum), its numbers staged
    for the block's matrix product and its levels' rows and pairs added
    (:func:`_add_levels`). Returns the staged rows."""
    for q in range(count):
        pi = chosen[q]
        if pi == 0.0:
            continue
        a = curvature_scalar(loss_id, tz[q]) / pi
        if weighted_rows:
            a *= sw[first + q]
        if staged == rows.shape[0]:
            _add_product(rows, staged_w, product, staged, numbers, numbers, False)
            staged = 0
        staged = _stage_row(tile, q, a, rows, staged_w, staged)
        _add_levels(A, B, cross, a, 0.0, tile, q, codes, first + q, d, lo, K, False)
    return staged


def level_scratch(d: int, p: int, hess, meat):
    """A task's running sums of :func:`categorical_sums` (``p`` weights, ``d`` numbers):
    the numbers' block and the levels' rows of the curvature (``cross``: ``(x, 1)``
    summed with ``h``, then the level's gradient) and of the meat, empty where not
    summed; added into the matrices by :func:`fold_levels` at the task's end."""
    curvature, robust = hess[0].shape[0] > 0, meat[0].shape[0] > 0
    return (np.zeros((d + 1, d + 1) if curvature else (0, 0)),
            np.zeros((p - d if curvature else 0, d + 2)),
            np.zeros((d + 1, d + 1) if robust else (0, 0)),
            np.zeros((p - d if robust else 0, d + 2)))


@njit(cache=True, nogil=True)
def fold_levels(grad, hess, meat, scratch, lo):
    """Add a task's running sums ``scratch`` (:func:`level_scratch`) into ``hess``,
    ``meat`` (triples ``(A, B, C)``, see :func:`categorical_sums`) and the level weights'
    gradient ``grad[d:]``, then zero them. Once a task, not once a unit: a unit (a piece
    of ~58k rows) would add every level's row (11,118 weights: ~20k cache lines of the
    ~100 MiB ``B``) for a few rows each."""
    numbers, cross, numbers_m, cross_m = scratch
    A, B, C = hess
    MA, MB, MC = meat
    d = numbers.shape[0] - 1 if numbers.shape[0] > 0 else numbers_m.shape[0] - 1
    K = C.shape[0] if C.shape[0] > 0 else MC.shape[0]
    if cross.shape[0] > 0:
        _fold(A, B, C, numbers, cross, d, lo, K)
        for level in range(cross.shape[0]):
            grad[d + level] += cross[level, d + 1]
        numbers[:] = 0.0
        cross[:] = 0.0
    if cross_m.shape[0] > 0:
        _fold(MA, MB, MC, numbers_m, cross_m, d, lo, K)
        numbers_m[:] = 0.0
        cross_m[:] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def categorical_sums(X, codes, y, sw, w, b, mean, inv_scale, loss_id, grad, hess, meat, lo,
                     scratch):
    """Add one unit's sums into ``grad`` (``p = len(w)``: ``sum s dz x~`` for the
    number weights, ``sum s dz`` into each level weight) and, when ``hess`` (a triple
    ``(A, B, C)``) has room, ``sum s h x~ x~^T`` over the one-hot expanded row ``x~ =
    (x_std, onehot(codes), 1)`` in the arrowhead layout of
    :mod:`streamneuron.fullpass.arrow`: the weights of one categorical column, codes
    ``[lo, lo + K)`` (``K = len(C)``; 0: none), apart, whose block is diagonal (one
    column's levels never meet in a row) and summed as the vector ``C``; their cross
    block against the other ``r = p - K`` weights and the bias as ``B`` (``K x (r +
    1)``, the others in their order, the bias last); the rest as ``A`` (``(r + 1)**2``,
    upper triangle). ``K = 0``: ``A`` is the whole Hessian. ``meat`` (``summary
    --robust``) likewise with ``s dz**2`` (the row weight once, frequency weights, as
    :func:`~.sums.hessian_meat_sums`). An ``A`` of shape ``(0, 0)``: not summed.
    ``sw`` empty: unweighted. Returns ``(sum s dz, sum s L, sum s, bad)``, ``bad`` the
    first row whose logit is not finite (-1: none).

    With curvature, the numbers' block and each level's row of ``(x, 1)`` sums (and its
    gradient) go into the task's running sums ``scratch`` (:func:`level_scratch`), which
    :func:`fold_levels` adds into the matrices (and ``grad``) once the task's units are
    summed: the matrices themselves get only the pairs of levels rows meet.

    By tiles, as :func:`~.sums.gradient_hessian_sums`: the numbers' and bias's block
    staged and added by one matrix product every ``CURVATURE_ROWS`` rows; a row's levels
    then add ``d + 2`` values each and one a pair of its levels.

    :func:`sampled_categorical_sums`: the curvature of a sample of the rows."""
    return _exact_pass(X, codes, y, sw, w, b, mean, inv_scale, loss_id, grad, hess, meat, lo,
                       scratch, np.empty(0))


@njit(cache=True, nogil=True, error_model="numpy")
def sampled_categorical_sums(X, codes, y, sw, w, b, mean, inv_scale, loss_id, grad, hess, lo,
                             scratch, keep):
    """:func:`categorical_sums` with newton's steering curvature from a sample of the rows
    (never the meat): row ``i`` kept with probability ``pi_i``, the largest of ``keep[0]``
    and ``keep[1 + code - d]`` over its levels (:func:`_choose_rows`), and counted ``1 /
    pi_i`` times (:func:`_sampled_levels`); every row's gradient, loss and weight, as
    :func:`categorical_sums`. A kernel of its own (the same body, ``sampled`` a constant
    in each): the exact one compiled with the sample's code in it ran 1.5x slower."""
    none = np.empty((0, 0))
    return _sampled_pass(X, codes, y, sw, w, b, mean, inv_scale, loss_id, grad, hess,
                         (none, none, np.empty(0)), lo, scratch, keep)


def _categorical_pass_of(sampled: bool):
    """The one body of :func:`categorical_sums` and :func:`sampled_categorical_sums`,
    ``sampled`` a constant of its compiled code (with it, ``hess`` is summed and
    ``meat`` not). A called function, not one inlined into the kernels: numba inlines
    by copying the callee's IR, and this body's was most of their compile time."""

    def categorical_pass(X, codes, y, sw, w, b, mean, inv_scale, loss_id, grad, hess, meat,
                         lo, scratch, keep):
        n, d = X.shape
        A, B, C = hess
        MA, MB, MC = meat
        numbers, cross_h, numbers_m, cross_m = scratch
        K = C.shape[0] if C.shape[0] > 0 else MC.shape[0]
        curvature = A.shape[0] > 0
        robust = MA.shape[0] > 0
        weighted_rows = sw.shape[0] > 0
        tile, ty, tz, tdz, tloss = _workspace(d)
        tile_rows = tile.shape[0]
        th = np.empty(tile_rows)
        tg = np.empty(tile_rows)
        staging = CURVATURE_ROWS if curvature else 0
        width = 2 * (d + 1) if robust else d + 1
        rows = np.zeros((staging, d + 1))
        staged_w = np.zeros((staging, width))
        product = np.empty((d + 1, width) if curvature else (0, 0))
        no_order = np.empty(0, dtype=np.int64)
        staged = 0
        sum_dz = 0.0
        sum_loss = 0.0
        sum_w = 0.0 if weighted_rows else float(n)
        k = codes.shape[1]
        far_a = A.size > PREFETCH_A_VALUES
        chosen = np.zeros(tile_rows if sampled else 0)  # this tile's kept rows, and the next's
        chosen_next = np.zeros(tile_rows if sampled else 0)
        if sampled:
            _choose_rows(A, B, cross_h, codes, 0, min(n, tile_rows), keep, chosen, d, lo, K, far_a)
        for first in range(0, n, tile_rows):
            count = min(tile_rows, n - first)
            _fill(X, no_order, True, first, count, mean, inv_scale, tile)
            for q in range(count):
                ty[q] = y[first + q]
                z = _logit(b, w, tile, q, d)
                for c in range(k):
                    code = codes[first + q, c]
                    if code >= 0:
                        z += w[code]
                tz[q] = z
            bad = _first_nonfinite(tz, 0, count)
            _losses(loss_id, tz, ty, tloss, tdz, 0, bad)
            if robust:  # before the weights enter dL/dz: (dL/dz)**2 is weighted once, below
                for q in range(bad):
                    tg[q] = tdz[q] * tdz[q]
            sum_dz, sum_loss, sum_w = _weigh(sw, weighted_rows, first, tloss, tdz, bad, sum_dz,
                                             sum_loss, sum_w)
            _add_rows(grad[:d], tile, tdz, 0, bad)
            if not curvature or sampled:  # (else each level's dL/dz goes into its row of cross_h)
                for q in range(bad):
                    for c in range(k):
                        code = codes[first + q, c]
                        if code >= 0:
                            grad[code] += tdz[q]
            if curvature and not sampled:  # (sampled: the kept rows' only, _sampled_levels)
                if loss_id == 0:  # (a constant in each loop: vectorized)
                    for q in range(bad):
                        th[q] = curvature_scalar(0, tz[q])
                else:
                    for q in range(bad):
                        th[q] = curvature_scalar(1, tz[q])
                if weighted_rows:
                    for q in range(bad):
                        th[q] *= sw[first + q]
                        tg[q] *= sw[first + q]
            if sampled:
                _choose_rows(A, B, cross_h, codes, first + count, min(n, first + count + tile_rows),
                             keep, chosen_next, d, lo, K, far_a)
                staged = _sampled_levels(A, B, cross_h, numbers, tile, tz, sw, weighted_rows,
                                         loss_id, codes, first, bad, chosen, rows, staged_w,
                                         product, staged, d, lo, K)
                chosen, chosen_next = chosen_next, chosen
            elif curvature:
                if staged + bad > staging:
                    _add_product(rows, staged_w, product, staged, numbers, numbers_m, robust)
                    staged = 0
                if robust:
                    staged = _stage_two(tile, th, tg, bad, rows, staged_w, staged)
                else:
                    staged = _stage_curvature(tile, th, bad, rows, staged_w, staged)
                _prefetch_levels(A, B, cross_h, codes, first + count,
                                 min(n, first + count + tile_rows), d, lo, K, far_a)
                for q in range(bad):
                    _add_levels(A, B, cross_h, th[q], tdz[q], tile, q, codes, first + q, d, lo,
                                K, True)
                    if robust:
                        _add_levels(MA, MB, cross_m, tg[q], 0.0, tile, q, codes, first + q, d,
                                    lo, K, False)
            if bad < count:
                return sum_dz, sum_loss, sum_w, first + bad
        if staged > 0:
            _add_product(rows, staged_w, product, staged, numbers, numbers_m, robust)
        return sum_dz, sum_loss, sum_w, -1

    return njit(nogil=True, error_model="numpy")(named(categorical_pass, sampled))


_exact_pass = _categorical_pass_of(False)
_sampled_pass = _categorical_pass_of(True)


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
    from .specialize import read_only  # (as the kernels announced in the package take X)

    d = X.shape[1]
    bad = logits(read_only(X), weights[:d], bias, center, inv_scale, z)
    if codes is not None and bad < 0:
        level_logits(read_only(codes), weights, z)
        if not np.isfinite(z).all():
            bad = int(np.flatnonzero(~np.isfinite(z))[0])
    return bad


__all__ = ["categorical_sums", "sampled_categorical_sums", "fold_levels", "level_scratch", "level_logits",
           "logits_with_levels"]
