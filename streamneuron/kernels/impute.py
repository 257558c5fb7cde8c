"""``--missing impute`` where a file's columns are copied into a unit:
:func:`imputed_columns_into`, :func:`~.apply.columns_into` with the imputation in the
same copy (the fill values and the indicator columns written while the rows are in
cache, no second read of the unit, no NaN-filled copy of a column with nulls).
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from .apply import TRANSPOSE_AHEAD, _column_ahead
from .common import TILE
from .intrinsics import _pointer


@njit(inline="always")
def _valid(bits, k):
    """Bit ``k`` of Arrow's validity bitmap ``bits`` (least significant bit first): 1
    for a value, 0 for a null."""
    u = np.uint64(k)  # (unsigned: no negative-index check)
    return (bits[u >> np.uint64(3)] >> (u & np.uint64(7))) & np.uint64(1)


@njit(inline="always")
def _unpack(bits, first_bit, count, into):
    """Bits ``first_bit`` to ``first_bit + count`` of ``bits`` (least significant bit
    first), each as a byte: ``into[first_bit % 8 + r]`` for ``r < count`` (whole bytes
    unpacked, from the one holding ``first_bit``). A byte to eight bytes without a
    branch, vectorized (the loop's indices from 0: no negative-index checks)."""
    start = first_bit >> 3
    for q in range(((first_bit + count + 7) >> 3) - start):
        byte = bits[start + q]
        for t in range(8):
            into[q * 8 + t] = (byte >> t) & 1
    return into[first_bit & 7:(first_bit & 7) + count]


@njit(inline="always")
def _column_pointer(out, first, j):
    """Column ``j`` of a column-major ``out`` from row ``first``, as a contiguous array."""
    address = out.ctypes.data + first * out.strides[0] + j * out.strides[1]
    return carray(_pointer(address, out), out.shape[0] - first)


@njit(cache=True, nogil=True)
def imputed_columns_into(addresses, validity, offsets, check, count, out, first, fill,
                         indicator):
    """``out[first + r, j] = column_j[r]`` for ``r < count`` (as
    :func:`~.apply.columns_into`: ``addresses[j]``, the address of column ``j``'s first
    value, of ``out``'s dtype) for the ``d = len(addresses)`` features, imputed: where
    column ``j`` (``check[j]``: one that may hold a gap) has a gap (NaN, or a 0 bit in
    its validity bitmap at ``validity[j]`` from bit ``offsets[j]``; ``validity[j]`` 0:
    no bitmap; the slot of a null holds any value), ``fill[j]``; and, where
    ``indicator[j] >= 0``, ``out[first + r, d + indicator[j]]`` is 1 there, 0
    elsewhere. The values :func:`~.apply.columns_into` then :func:`~.apply.impute_into`
    give, in one write of ``out``.

    A gap is found without a branch (a select): on a column-major ``out`` the bitmap
    is unpacked to a byte per value first (:func:`_unpack`), so that the copy is
    vectorized. Column-major ``out``: down each column. Else a
    transpose ``TILE`` rows at a time with the columns read ahead, as
    :func:`~.apply.columns_into`.
    """
    d = addresses.shape[0]
    one = out.dtype.type(1.0)
    zero = out.dtype.type(0.0)
    like = np.empty(0, dtype=np.uint8)
    if out.strides[0] == out.itemsize:
        unpacked = np.empty(count + 16, dtype=np.uint8)  # a bitmap's bits as bytes
        for j in range(d):
            column = carray(_pointer(addresses[j], out), count)
            target = _column_pointer(out, first, j)
            if not check[j]:
                for r in range(count):
                    target[r] = column[r]
                continue
            f = fill[j]
            k = indicator[j]
            if validity[j] == 0:
                if k < 0:
                    for r in range(count):
                        x = column[r]
                        target[r] = x if x == x else f
                else:
                    gaps = _column_pointer(out, first, d + k)
                    for r in range(count):
                        x = column[r]
                        ok = x == x
                        target[r] = x if ok else f
                        gaps[r] = zero if ok else one
                continue
            bits = carray(_pointer(validity[j], like), (offsets[j] + count + 7) >> 3)
            valid = _unpack(bits, offsets[j], count, unpacked)
            if k < 0:
                for r in range(count):
                    x = column[r]
                    target[r] = x if (x == x) & (valid[r] != 0) else f
            else:
                gaps = _column_pointer(out, first, d + k)
                for r in range(count):
                    x = column[r]
                    ok = (x == x) & (valid[r] != 0)
                    target[r] = x if ok else f
                    gaps[r] = zero if ok else one
        return
    line = max(1, 64 // out.itemsize)
    for start in range(0, count, TILE):
        stop = min(count, start + TILE)
        ahead = start + TRANSPOSE_AHEAD
        for j in range(d):
            column = _column_ahead(addresses[j], out, count, ahead, line)
            if not check[j]:
                for r in range(start, stop):
                    out[first + r, j] = column[r]
                continue
            f = fill[j]
            c = d + indicator[j]  # (< d: no indicator)
            if validity[j] == 0:
                for r in range(start, stop):
                    x = column[r]
                    ok = x == x
                    out[first + r, j] = x if ok else f
                    if c >= d:
                        out[first + r, c] = zero if ok else one
                continue
            offset = offsets[j]
            bits = carray(_pointer(validity[j], like), (offset + count + 7) >> 3)
            if c >= d:
                for r in range(start, stop):
                    x = column[r]
                    ok = (x == x) & (_valid(bits, offset + r) != 0)
                    out[first + r, j] = x if ok else f
                    out[first + r, c] = zero if ok else one
            else:
                for r in range(start, stop):
                    x = column[r]
                    ok = (x == x) & (_valid(bits, offset + r) != 0)
                    out[first + r, j] = x if ok else f
