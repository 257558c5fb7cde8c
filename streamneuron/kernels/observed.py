"""``--missing impute``'s first pass: :func:`observed_moments`, the moments of the values
present (NaN skipped), by :func:`~.sums.moments`'s loop where a column has no gap."""

from __future__ import annotations

import numpy as np
from numba import njit

from .sums import MOMENT_BLOCK, _moment_block
from .specialize import named


@njit(inline="always")
def _present(X, sw, weighted, i, j, center):
    """Row ``i`` of column ``j`` in :func:`_present_sums_of`: ``(s v, s, 1)``, or zeros
    where the value is NaN."""
    x = X[i, j]
    ok = x == x
    v = x if center != center else (x - center) * (x - center)
    s = sw[i] if weighted else 1.0
    return (s * v if ok else 0.0), (s if ok else 0.0), (1 if ok else 0)


def _present_sums_of(weighted: bool):
    """A column's sums of the values present (below), ``weighted`` a constant of the
    compiled code (a branch per value costs 3x). A called function, not one inlined
    into :func:`observed_moments`: numba inlines by copying the callee's IR at every
    call site, and its callees' again at each (three sites, two variants, nine inlined
    rows each: most of the kernel's compile time)."""

    def present_sums(X, sw, j, start, stop, center):
        """Over rows ``start:stop`` of column ``j``, the values present (not NaN): ``(sum
        s v, sum s, rows)`` with ``v = x`` (``center`` NaN: the first phase) or ``(x -
        center)**2``, ``s`` the row's weight (1 unweighted). Eight partial sums, row
        ``i`` in sum ``(i - start) % 8``, added as ``((p0 + p4) + (p2 + p6)) + ((p1 +
        p5) + (p3 + p7))``: the same numbers for a row- or column-major ``X``."""
        p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 0.0
        have = 0.0
        rows = 0
        for i in range(start, stop - 7, 8):
            a, h0, r0 = _present(X, sw, weighted, i, j, center)
            p0 += a
            a, h1, r1 = _present(X, sw, weighted, i + 1, j, center)
            p1 += a
            a, h2, r2 = _present(X, sw, weighted, i + 2, j, center)
            p2 += a
            a, h3, r3 = _present(X, sw, weighted, i + 3, j, center)
            p3 += a
            a, h4, r4 = _present(X, sw, weighted, i + 4, j, center)
            p4 += a
            a, h5, r5 = _present(X, sw, weighted, i + 5, j, center)
            p5 += a
            a, h6, r6 = _present(X, sw, weighted, i + 6, j, center)
            p6 += a
            a, h7, r7 = _present(X, sw, weighted, i + 7, j, center)
            p7 += a
            if weighted:
                have += ((h0 + h1) + (h2 + h3)) + ((h4 + h5) + (h6 + h7))
            rows += r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7
        tail = start + ((stop - start) & ~7)
        for i in range(tail, stop):  # the last, short group: into p0, p1, ...
            a, h, r = _present(X, sw, weighted, i, j, center)
            t = i - tail
            p0 += a if t == 0 else 0.0
            p1 += a if t == 1 else 0.0
            p2 += a if t == 2 else 0.0
            p3 += a if t == 3 else 0.0
            p4 += a if t == 4 else 0.0
            p5 += a if t == 5 else 0.0
            p6 += a if t == 6 else 0.0
            have += h
            rows += r
        return ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)), have, rows

    return njit(nogil=True)(named(present_sums, weighted))


_present_sums_weighted = _present_sums_of(True)
_present_sums_unweighted = _present_sums_of(False)


@njit(inline="always")
def _present_of(X, sw, weighted, j, start, stop, center):
    """:func:`present_sums <_present_sums_of>` of the weighted or the unweighted rows."""
    if weighted:
        return _present_sums_weighted(X, sw, j, start, stop, center)
    return _present_sums_unweighted(X, sw, j, start, stop, center)


@njit(cache=True, nogil=True)
def observed_moments(X, sw, known):
    """:func:`moments` of the values present (``--missing impute``'s first pass): per
    column ``(weight, mean, m2, missing)`` with NaN skipped, ``weight_j`` the rows'
    weight where column ``j`` has a value (its row count unweighted), ``missing_j`` the
    rows without one::

        mean_j = sum_{i present} s_i x_ij / weight_j,   m2_j = sum_{i present} s_i (x_ij - mean_j)**2

    Block by block (``MOMENT_BLOCK`` rows), by :func:`moments`'s very loop, so that a
    column without a gap gets its very numbers at its speed. In the first phase a
    column ``known`` to hold a gap (``known[j]``: the reader saw nulls in it; only
    speed depends on it) is summed skipping the NaN first (:func:`_present_of`),
    which counts its gaps; every other column, and a known one without a gap in the
    block, by :func:`moments`'s loop (a NaN makes the block's sum NaN: that column is
    then summed again skipping the NaN). In the second phase a column with a gap in
    the block is summed by :func:`_present_of` alone (the loop takes the runs of
    columns without one). Either way a block's column with a gap gets the skipping
    sum, one without the loop's: the same numbers whatever ``known`` says. An
    infinity makes ``m2`` non-finite (the caller names it).
    """
    n, d = X.shape
    mean = np.zeros(d)
    m2 = np.zeros(d)
    weight = np.zeros(d)
    missing = np.zeros(d, dtype=np.int64)
    part = np.zeros(d)
    have = np.zeros(d)  # a gap column's present weight and rows in the block
    rows = np.zeros(d, dtype=np.int64)
    weighted = sw.shape[0] > 0
    if n == 0:
        return weight, mean, m2, missing
    blocks = (n + MOMENT_BLOCK - 1) // MOMENT_BLOCK
    gaps = np.zeros((blocks, d), dtype=np.bool_)  # a gap in the block's column
    group = d if X.strides[1] <= X.strides[0] else 8
    for phase in range(2):
        into = mean if phase == 0 else m2
        for b in range(blocks):
            start = b * MOMENT_BLOCK
            stop = min(n, start + MOMENT_BLOCK)
            part[:] = 0.0
            if phase == 0:
                for j in range(d):
                    if known[j]:
                        s, h, r = _present_of(X, sw, weighted, j, start, stop, np.nan)
                        if r < stop - start:  # a gap: this sum is the column's
                            gaps[b, j] = True
                            part[j], have[j], rows[j] = s, h, r
            j1 = 0
            while j1 < d:
                # the next run of at most ``group`` columns without a gap (found yet)
                j0 = j1
                while j0 < d and gaps[b, j0]:
                    j0 += 1
                j1 = j0
                while j1 < d and j1 - j0 < group and not gaps[b, j1]:
                    j1 += 1
                _moment_block(X, sw, mean, part, start, stop, j0, j1, phase, weighted)
            block = 0.0  # the block's weight (moments' total, block by block)
            if phase == 0 and weighted:
                for i in range(start, stop):
                    block += sw[i]
            for j in range(d):
                if phase == 0 and not gaps[b, j] and part[j] != part[j]:
                    gaps[b, j] = True  # a NaN not known of: summed again without it
                    part[j], have[j], rows[j] = _present_of(X, sw, weighted, j, start,
                                                            stop, np.nan)
                elif phase == 1 and gaps[b, j]:
                    part[j], _, _ = _present_of(X, sw, weighted, j, start, stop, mean[j])
                if phase == 0:
                    if gaps[b, j]:
                        missing[j] += (stop - start) - rows[j]
                        if weighted:
                            weight[j] += have[j]
                    elif weighted:
                        weight[j] += block
                into[j] += part[j]
        if phase == 0:
            for j in range(d):
                if not weighted:
                    weight[j] = float(n - missing[j])
                if weight[j] > 0.0:
                    mean[j] /= weight[j]
    return weight, mean, m2, missing
