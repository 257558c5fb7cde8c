"""Kernels that apply a model or move data, no training: :func:`logits` (predictions and
metrics), :func:`gather` (labels in training order) and :func:`columns_into` (decoded
Parquet columns into a block's rows).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from .common import TILE, _fill, _tile_rows
from .intrinsics import _logit, _pointer, _prefetch1


@njit(cache=True, nogil=True)
def logits(X, w, b, mean, inv_scale, out):
    """``out_i = b + sum_j w_j (x_ij - mean_j) inv_scale_j`` (the logit of :func:`sgd_block`);
    returns the first non-finite row or -1."""
    n, d = X.shape
    rows = _tile_rows(d)
    tile = np.empty((rows, d), dtype=np.float64)
    no_order = np.empty(0, dtype=np.int64)
    for first in range(0, n, rows):
        count = min(rows, n - first)
        _fill(X, no_order, True, first, count, mean, inv_scale, tile)
        for r in range(count):
            z = _logit(b, w, tile, r, d)
            out[first + r] = z
            if not np.isfinite(z):
                return first + r
    return -1


@njit(cache=True, nogil=True)
def gather(values, order, out):
    """``out[k] = values[order[k]]`` (a block's labels in training order; a plain
    compiled loop, without the generality numpy's fancy indexing pays for)."""
    for k in range(order.shape[0]):
        out[k] = values[order[k]]
    return out


# Rows a transposing copy reads ahead of itself (see columns_into).
TRANSPOSE_AHEAD = 1024


@njit(inline="always")
def _column_ahead(address, out, count, ahead, line):
    """The decoded column at ``address`` (``count`` values of ``out``'s type), its rows
    ``[ahead, ahead + TILE)`` hinted into cache (one hint a cache line): the next tile of
    a transpose into row-major ``out``, read while this tile is written."""
    column = carray(_pointer(address, out), count)
    for q in range(ahead, min(count, ahead + TILE), line):
        _prefetch1(column, q)
    return column


@njit(cache=True, nogil=True)
def columns_into(addresses, count, out, first):
    """``out[first + r, j] = column_j[r]`` for ``r < count``: the decoded columns of a
    batch (``addresses[j]``: the address of column ``j``'s first value, of ``out``'s
    dtype) copied into rows ``first:first + count`` of ``out``.

    ``out`` column-major: one contiguous copy per column. Row-major: a transpose
    ``TILE`` rows at a time, each column's stretch ``TRANSPOSE_AHEAD`` rows further
    on prefetched (the columns were just decoded and ``d`` streams read side by
    side are more than the hardware prefetcher follows, so without the hints the
    copy waits on memory). The caller keeps the columns alive.
    """
    d = out.shape[1]
    if out.strides[0] < out.strides[1]:
        for j in range(d):
            column = carray(_pointer(addresses[j], out), count)
            for r in range(count):
                out[first + r, j] = column[r]
        return
    line = max(1, 64 // out.itemsize)
    for start in range(0, count, TILE):
        stop = min(count, start + TILE)
        ahead = start + TRANSPOSE_AHEAD
        for j in range(d):
            column = _column_ahead(addresses[j], out, count, ahead, line)
            for r in range(start, stop):
                out[first + r, j] = column[r]


@njit(cache=True, nogil=True)
def impute_into(out, d, fill, indicator, columns):
    """``--missing impute`` in one read of ``out`` (n, d + m), whose first ``d`` columns
    hold a unit's features with NaN where a value is missing: each NaN of column ``j``
    (of ``columns``, those that may hold one) becomes ``fill[j]`` (of ``out``'s dtype),
    and the indicator column ``d + indicator[j]`` (``indicator[j] >= 0``) gets 1 where
    the value was missing, 0 elsewhere. Down each column (column-major ``out``), else
    row by row: the same values either way."""
    n = out.shape[0]
    one = out.dtype.type(1.0)
    zero = out.dtype.type(0.0)
    if out.strides[0] <= out.strides[1]:
        for j in columns:
            f = fill[j]
            k = indicator[j]
            if k < 0:
                for i in range(n):
                    x = out[i, j]
                    if x != x:
                        out[i, j] = f
            else:
                c = d + k
                for i in range(n):
                    x = out[i, j]
                    gap = x != x
                    out[i, j] = f if gap else x
                    out[i, c] = one if gap else zero
        return
    for i in range(n):
        for j in columns:
            x = out[i, j]
            k = indicator[j]
            gap = x != x
            if gap:
                out[i, j] = fill[j]
            if k >= 0:
                out[i, d + k] = one if gap else zero
