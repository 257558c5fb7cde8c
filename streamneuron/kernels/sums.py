"""The full-pass sum kernels: :func:`gradient_sums` (one partition's partial
gradient sums at fixed weights, for every full-pass solver),
:func:`gradient_hessian_sums` (the same and Newton's curvature sums, in one read),
:func:`sampled_hessian_sums` (the curvature of a sample of the rows: newton's steering),
:func:`single_hessian_sums` (every row's, from float32 products: newton's landing step)
and :func:`moments`
(per-column mean and squared deviations, for the standardization pass);
:func:`hessian_meat_sums` (the same read also sums the gradient outer products, for
``summary --robust``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _add_rows, curvature_scalar, _fill, _first_nonfinite, _losses, _workspace
from .intrinsics import _logit
from .specialize import named


# Rows gathered, with and without their curvature weight, before one matrix product
# adds them into the Hessian sums: BLAS's dgemm does in one call what a loop here
# would do at half its speed (no fastmath: LLVM does not vectorize that loop).
CURVATURE_ROWS = 256


@njit(inline="always")
def _stage_row(tile, q, hq, rows, weighted, staged):
    """Append tile row ``q`` as ``x~ = (x, 1)`` to ``rows`` and ``hq x~`` to
    ``weighted``; returns the new position."""
    d = tile.shape[1]
    for j in range(d):
        v = tile[q, j]
        rows[staged, j] = v
        weighted[staged, j] = hq * v
    rows[staged, d] = 1.0
    weighted[staged, d] = hq
    return staged + 1


@njit(inline="always")
def _stage_curvature(tile, h, count, rows, weighted, staged):
    """Append ``count`` tile rows as ``x~ = (x, 1)`` to ``rows`` and ``h x~`` to
    ``weighted``, from position ``staged``; returns the new position."""
    for q in range(count):
        staged = _stage_row(tile, q, h[q], rows, weighted, staged)
    return staged


@njit(inline="always")
def _weigh(sw, weighted, first, tloss, tdz, count, sum_dz, sum_loss, sum_w):
    """The tile's sums for the ``count`` rows from position ``first``: returns ``sum_dz +
    sum_q s_q dL/dz_q``, ``sum_loss + sum_q s_q L_q`` and ``sum_w + sum_q s_q``; weighted,
    ``dL/dz_q <- s_q dL/dz_q`` in place (the gradient rows then carry the weights);
    unweighted (``s_q = 1``), ``sum_w`` as it is (the caller counts rows)."""
    if not weighted:
        for q in range(count):
            sum_loss += tloss[q]
            sum_dz += tdz[q]
        return sum_dz, sum_loss, sum_w
    for q in range(count):
        s = sw[first + q]
        dz = s * tdz[q]
        tdz[q] = dz
        sum_loss += s * tloss[q]
        sum_dz += dz
        sum_w += s
    return sum_dz, sum_loss, sum_w


@njit(inline="always")
def _staging(d, curvature, robust):
    """The float64 staging of the Hessian sums: ``CURVATURE_ROWS`` rows of ``x~ = (x,
    1)``, of ``h x~`` (and ``g x~`` beside them with ``robust``), their product."""
    staging = CURVATURE_ROWS if curvature else 0
    width = 2 * (d + 1) if robust else d + 1  # [h x~] or [h x~, g x~] side by side
    return (np.zeros((staging, d + 1)), np.zeros((staging, width)),
            np.empty((d + 1, width) if curvature else (0, 0)))


def _pass_sums_of(curvature: bool, robust: bool, single: bool, sampled: bool):
    """The one body of the five kernels below, its switches constants of its compiled
    code: ``curvature`` (the Hessian sums), ``robust`` (the gradients' outer products
    too), ``single`` (float32 products), ``sampled`` (the Hessian of a sample of the
    rows where ``every`` > 1). A called function, not one inlined into each kernel:
    numba inlines by copying the callee's IR (and its callees', also in branches
    these constants rule out), which was most of the kernels' compile time.

    ``sw``: the rows' weights, or empty (unweighted: no multiplication at all).
    ``every`` > 1 with ``sampled``: the Hessian of about one row in ``every``
    (:func:`sampled_hessian_sums`), else of every row. ``rows``, ``weighted``,
    ``product``: the staging (:func:`_staging`; ``single``: float32, the features only,
    :func:`single_hessian_sums`)."""

    def pass_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess, meat, every, rows,
                  weighted, product):
        n, d = X.shape
        weighted_rows = sw.shape[0] > 0
        tile, ty, tz, tdz, tloss = _workspace(d)
        tile_rows = tile.shape[0]
        th = np.empty(tile_rows, dtype=np.float64)
        tg = np.empty(tile_rows if robust else 0, dtype=np.float64)
        staging = rows.shape[0]
        edge = np.zeros(d + 1 if single else 0)  # single: sum s h x~ (the bias's row), float64
        staged = 0
        sampling = sampled and every > 1
        exact_diag = np.zeros(d + 1 if sampling else 0)  # sum s h x~_j**2 over every row
        before = np.empty(d + 1 if sampling else 0)
        if sampling:
            for j in range(d + 1):
                before[j] = hess[j, j]
        next_row = sample_start(every)
        no_order = np.empty(0, dtype=np.int64)
        sum_dz = 0.0
        sum_loss = 0.0
        sum_w = 0.0 if weighted_rows else float(n)
        for first in range(0, n, tile_rows):
            count = min(tile_rows, n - first)
            _fill(X, no_order, True, first, count, mean, inv_scale, tile)
            for r in range(count):
                ty[r] = y[first + r]
                tz[r] = _logit(b, w, tile, r, d)
            bad = _first_nonfinite(tz, 0, count)
            _losses(loss_id, tz, ty, tloss, tdz, 0, bad)
            if robust:  # before the weights enter dL/dz: (dL/dz)**2 is weighted once, below
                for q in range(bad):
                    tg[q] = tdz[q] * tdz[q]
            sum_dz, sum_loss, sum_w = _weigh(sw, weighted_rows, first, tloss, tdz, bad, sum_dz,
                                             sum_loss, sum_w)
            _add_rows(grad_w, tile, tdz, 0, bad)
            if curvature:
                if loss_id == 0:
                    for q in range(bad):
                        th[q] = curvature_scalar(0, tz[q])
                else:
                    for q in range(bad):
                        th[q] = curvature_scalar(1, tz[q])
                if weighted_rows:
                    for q in range(bad):
                        th[q] *= sw[first + q]
                    if robust:
                        for q in range(bad):
                            tg[q] *= sw[first + q]
                if staged + bad > staging and single:
                    _add_single(rows, weighted, product, staged, hess)
                    staged = 0
                elif staged + bad > staging:
                    _add_product(rows, weighted, product, staged, hess, meat, robust)
                    staged = 0
                if single:
                    staged = _stage_single(tile, th, bad, rows, weighted, staged, edge)
                elif sampling:
                    for q in range(bad):
                        hq = th[q]
                        for j in range(d):
                            v = tile[q, j]
                            exact_diag[j] += hq * (v * v)
                        exact_diag[d] += hq
                    while next_row < first + bad:
                        staged = _stage_row(tile, next_row - first, every * th[next_row - first],
                                            rows, weighted, staged)
                        next_row += sample_gap(next_row, every)
                elif robust:
                    staged = _stage_two(tile, th, tg, bad, rows, weighted, staged)
                else:
                    staged = _stage_curvature(tile, th, bad, rows, weighted, staged)
            if bad < count:
                return sum_dz, sum_loss, sum_w, first + bad
        if staged > 0 and single:
            _add_single(rows, weighted, product, staged, hess)
        elif staged > 0:
            _add_product(rows, weighted, product, staged, hess, meat, robust)
        if single:
            for j in range(d):
                hess[j, d] += edge[j]
                hess[d, j] += edge[j]
            hess[d, d] += edge[d]
        if sampling:
            raise_diagonal(hess, before, exact_diag)
        return sum_dz, sum_loss, sum_w, -1

    return njit(nogil=True, error_model="numpy")(
        named(pass_sums, curvature, robust, single, sampled))


# The Hessian of a sample (:func:`sampled_hessian_sums`): the gaps between sampled rows
# come from a splitmix64 hash of the row's index in its unit, salted with this.
SAMPLE_SALT = 0x5DEECE66D
# A sampled diagonal entry below this fraction of the exact one was missed by the sample.
MISSED = 0.5


@njit(inline="always")
def _mix(i):
    """splitmix64 of the row index ``i`` and :data:`SAMPLE_SALT` (as ``stream.row_uniform``)."""
    x = np.uint64(i) + np.uint64(SAMPLE_SALT) * np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(inline="always")
def sample_start(every):
    """The first sampled row of a unit: uniform in ``[0, every)``."""
    return np.int64(_mix(np.int64(-1)) % np.uint64(every))


@njit(inline="always")
def sample_gap(i, every):
    """The rows from sampled row ``i`` to the next: uniform in ``[1, 2 every - 1]``
    (mean ``every``), so that in the long run each row is sampled with probability
    ``1 / every`` and no period of the data lines up with the sample."""
    return np.int64(1 + _mix(i) % np.uint64(2 * every - 1))


@njit(inline="always")
def raise_diagonal(hess, before, exact_diag):
    """Where this unit's sampled diagonal (``hess[j, j] - before[j]``) is below
    ``MISSED`` of the exact one (``exact_diag[j]``), raise it to the exact one: the sample
    plus a non-negative diagonal, so still positive semi-definite, and a rare feature or
    level that the sample missed gets the Newton step of its diagonal, not one ``1/l2``
    long. Entries within the sample's noise are left as sampled: raising those too would
    add a diagonal of the noise's size, which swamps the small eigenvalues of correlated
    features (the AR(1) set: 9 passes instead of 6)."""
    for j in range(exact_diag.shape[0]):
        sampled = hess[j, j] - before[j]
        if sampled < MISSED * exact_diag[j]:
            hess[j, j] += exact_diag[j] - sampled




@njit(inline="always")
def _stage_single(tile, h, count, rows, weighted, staged, edge):
    """Append ``count`` tile rows' features ``x`` to ``rows`` and ``h x`` to ``weighted``
    (float32), from position ``staged``, and add ``sum h x~`` (float64) into ``edge``;
    returns the new position."""
    d = tile.shape[1]
    for q in range(count):
        hq = h[q]
        for j in range(d):
            v = tile[q, j]
            hv = hq * v
            rows[staged, j] = v
            weighted[staged, j] = hv
            edge[j] += hv
        edge[d] += hq
        staged += 1
    return staged


@njit(inline="always")
def _add_single(rows, weighted, product, staged, hess):
    """Add the staged rows' curvature (``rows^T @ weighted``, one float32 matrix product)
    into the features' block of ``hess``."""
    np.dot(rows[:staged].T, weighted[:staged], product)
    d = product.shape[0]
    for j in range(d):
        for k in range(d):
            hess[j, k] += product[j, k]


@njit(inline="always")
def _add_product(rows, weighted, product, staged, hess, meat, robust):
    """Add the staged rows' curvature (``rows^T @ weighted``, one matrix product) into
    ``hess``, and with ``robust`` the gradients' outer products (the right half of
    ``weighted``) into ``meat``."""
    np.dot(rows[:staged].T, weighted[:staged], product)
    if robust:
        d1 = hess.shape[0]
        hess += product[:, :d1]
        meat += product[:, d1:]
    else:
        hess += product


_gradient = _pass_sums_of(curvature=False, robust=False, single=False, sampled=False)
_curvature = _pass_sums_of(curvature=True, robust=False, single=False, sampled=False)
_sampled = _pass_sums_of(curvature=True, robust=False, single=False, sampled=True)
_single = _pass_sums_of(curvature=True, robust=False, single=True, sampled=False)
_robust = _pass_sums_of(curvature=True, robust=True, single=False, sampled=False)


@njit(cache=True, nogil=True, error_model="numpy")
def gradient_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w):
    """Full-pass partial sums for one partition, at fixed ``(w, b)``.

    Adds ``sum_i s_i dL/dz_i x_i`` into ``grad_w`` and returns
    ``(sum_i s_i dL/dz_i, sum_i s_i L_i, sum_i s_i, bad_row)`` with ``bad_row = -1``
    unless a logit was not finite; ``s`` = ``sw``, the rows' weights, or 1 for every row
    when ``sw`` is empty (then nothing is multiplied: the unweighted numbers
    exactly). The tiles, logits and vectorized losses of :func:`sgd_block`
    (a tile is one span: the weights are fixed); rows are summed in file order.
    """
    rows, weighted, product = _staging(X.shape[1], False, False)
    return _gradient(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, np.empty((0, 0)),
                     np.empty((0, 0)), 1, rows, weighted, product)


@njit(cache=True, nogil=True, error_model="numpy")
def gradient_hessian_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess):
    """:func:`gradient_sums`, and Newton's curvature sums in the same read.

    Adds ``sum_i s_i dL/dz_i x_i`` into ``grad_w`` and ``sum_i s_i h_i x~_i x~_i^T`` into
    the ``(d+1) x (d+1)`` ``hess``, with ``x~ = (standardized x, 1)`` and ``h``
    the loss's curvature weight (:func:`~.common.curvature_scalar`). Returns
    what :func:`gradient_sums` returns, from the same tiles, logits and losses.
    The curvature of ``CURVATURE_ROWS`` rows at a time is added by one matrix
    product (``rows^T @ weighted``): the same numbers on one machine every time;
    another CPU's BLAS may round the last bit differently.
    """
    rows, weighted, product = _staging(X.shape[1], True, False)
    return _curvature(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess,
                      np.empty((0, 0)), 1, rows, weighted, product)


@njit(cache=True, nogil=True, error_model="numpy")
def sampled_hessian_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess, every):
    """:func:`gradient_hessian_sums` with the Hessian of a sample of the rows: Newton's
    steering curvature at a fraction of the cost (the gradient, loss and weight sums
    are the exact ones, over every row, bit for bit those of :func:`gradient_sums`).

    About one row in ``every`` is sampled: from a first row uniform in ``[0, every)``,
    the gaps to the next are uniform in ``[1, 2 every - 1]`` (:func:`sample_gap`, a hash
    of the row's index in the unit: the same rows every pass, on every machine, whatever
    the workers). Adds ``every sum_{i sampled} s_i h_i x~_i x~_i^T`` into ``hess``; then
    each diagonal entry that came out below the exact ``sum_i s_i h_i x~_ij**2`` (summed
    over every row: ``d + 1`` more products a row) is raised to it
    (:func:`raise_diagonal`). ``every = 1``: :func:`gradient_hessian_sums` exactly.
    Not for standard errors (``summary``): they take the exact Hessian.
    """
    rows, weighted, product = _staging(X.shape[1], True, False)
    return _sampled(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess,
                    np.empty((0, 0)), every, rows, weighted, product)


@njit(cache=True, nogil=True, error_model="numpy")
def single_hessian_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess):
    """:func:`gradient_hessian_sums` with the features' block of the Hessian from
    single-precision products: newton's steering curvature over every row (the pass that
    lands inside the gap, after sampled ones) at about half the matrix products' cost;
    the gradient, loss and weight sums are the exact ones (those of :func:`gradient_sums`).

    Each ``CURVATURE_ROWS`` rows' ``sum s h x x^T`` is one float32 matrix product (BLAS's
    sgemm: the rows' ``x`` and ``h x`` rounded to float32, the products summed in float32
    over those rows: a relative error of ~1e-7 to 1e-6 an entry), added into ``hess`` in
    float64; the bias's row and column (``sum s h x``, ``sum s h``) are summed in float64.
    Not for standard errors (``summary``): they take :func:`gradient_hessian_sums`.
    """
    rows = np.zeros((CURVATURE_ROWS, X.shape[1]), dtype=np.float32)
    weighted = np.zeros((CURVATURE_ROWS, X.shape[1]), dtype=np.float32)
    product = np.empty((X.shape[1], X.shape[1]), dtype=np.float32)
    return _single(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess,
                   np.empty((0, 0)), 1, rows, weighted, product)


@njit(inline="always")
def _stage_two(tile, h, g, count, rows, weighted, staged):
    """Append ``count`` tile rows as ``x~ = (x, 1)`` to ``rows`` and ``[h x~, g x~]``
    side by side to ``weighted`` (``2 (d+1)`` columns), from position ``staged``;
    returns the new position."""
    d = tile.shape[1]
    for q in range(count):
        hq = h[q]
        gq = g[q]
        for j in range(d):
            v = tile[q, j]
            rows[staged, j] = v
            weighted[staged, j] = hq * v
            weighted[staged, d + 1 + j] = gq * v
        rows[staged, d] = 1.0
        weighted[staged, d] = hq
        weighted[staged, 2 * d + 1] = gq
        staged += 1
    return staged


@njit(cache=True, nogil=True, error_model="numpy")
def hessian_meat_sums(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess, meat):
    """:func:`gradient_hessian_sums`, and the per-row gradients' outer products in the
    same read (the "meat" of the HC0 sandwich, ``summary --robust``).

    Adds ``sum_i s_i dL/dz_i x_i`` into ``grad_w``, ``sum_i s_i h_i x~_i x~_i^T`` into
    ``hess`` and ``sum_i s_i (dL/dz_i)**2 x~_i x~_i^T`` into ``meat`` (both
    ``(d+1) x (d+1)``, ``x~ = (standardized x, 1)``). The weight enters once, not
    squared: an integer weight ``s`` counts as ``s`` repeated rows (frequency weights).
    Returns what :func:`gradient_sums` returns. Both matrices come from one matrix
    product per ``CURVATURE_ROWS`` rows (``rows^T @ [h x~, g x~]``), in row order.
    """
    rows, weighted, product = _staging(X.shape[1], True, True)
    return _robust(X, y, sw, w, b, mean, inv_scale, loss_id, grad_w, hess, meat, 1, rows,
                   weighted, product)


# Rows summed together before joining the column total (a two-level sum: error
# ~ (MOMENT_BLOCK + n / MOMENT_BLOCK) ulps instead of n).
MOMENT_BLOCK = 1024


@njit(inline="always")
def _moment_block(X, sw, mean, part, start, stop, j0, j1, phase, weighted):
    """Rows ``start:stop`` of columns ``j0:j1`` added into ``part``, each column's sum in
    row order: phase 0 ``sum s x``, phase 1 ``sum s (x - mean)**2`` (``s = 1`` unweighted).
    Shared by :func:`moments` and :func:`~.observed.observed_moments`."""
    if phase == 0 and not weighted:
        for i in range(start, stop):
            for j in range(j0, j1):
                part[j] += X[i, j]
    elif phase == 0:
        for i in range(start, stop):
            s = sw[i]
            for j in range(j0, j1):
                part[j] += s * X[i, j]
    elif not weighted:
        for i in range(start, stop):
            for j in range(j0, j1):
                v = X[i, j] - mean[j]
                part[j] += v * v
    else:
        for i in range(start, stop):
            s = sw[i]
            for j in range(j0, j1):
                v = X[i, j] - mean[j]
                part[j] += s * (v * v)


@njit(cache=True, nogil=True)
def moments(X, sw):
    """Per-column ``(mean, m2, total)`` of ``X`` (n, d) in float64 without a float64
    copy of ``X`` (the standardization pass). Unweighted (``sw`` empty)::

        mean_j = sum_i x_ij / n,   m2_j = sum_i (x_ij - mean_j)**2,   total = n

    with row weights ``s = sw`` (``total = sum_i s_i``, which must be > 0)::

        mean_j = sum_i s_i x_ij / total,   m2_j = sum_i s_i (x_ij - mean_j)**2

    Each column is summed in blocks of ``MOMENT_BLOCK`` rows, in row order, the
    block sums added in order: the same numbers for a row- or column-major ``X``.
    A NaN or infinity makes ``m2`` non-finite (the caller names it).
    """
    n, d = X.shape
    mean = np.zeros(d)
    m2 = np.zeros(d)
    part = np.zeros(d)
    weighted = sw.shape[0] > 0
    total = float(n)
    if weighted:
        total = 0.0
        for start in range(0, n, MOMENT_BLOCK):
            block = 0.0
            for i in range(start, min(n, start + MOMENT_BLOCK)):
                block += sw[i]
            total += block
    if n == 0:
        return mean, m2, total
    for phase in range(2):
        into = mean if phase == 0 else m2
        for start in range(0, n, MOMENT_BLOCK):
            stop = min(n, start + MOMENT_BLOCK)
            part[:] = 0.0
            # Row by row, several columns side by side (independent sums): every
            # column of a row-major X at once; eight at a time of a column-major one
            # (eight sequential streams). Either way each column's sum runs in row order.
            group = d if X.strides[1] <= X.strides[0] else 8
            for j0 in range(0, d, group):
                j1 = min(d, j0 + group)
                _moment_block(X, sw, mean, part, start, stop, j0, j1, phase, weighted)
            for j in range(d):
                into[j] += part[j]
        if phase == 0 and total > 0.0:  # all weights zero: nothing of these rows counts
            for j in range(d):
                mean[j] /= total
    return mean, m2, total
