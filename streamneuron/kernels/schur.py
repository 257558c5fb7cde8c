"""Newton's solve with the arrowhead Hessian (:mod:`streamneuron.fullpass.arrow`): the
Schur complement of its diagonal block, on the nonzeros of the cross block ``B``.

``S = A - B^T diag(inv) B`` adds, for each level ``t`` of the diagonal column, ``inv_t
b_t b_t^T`` over the nonzeros of its row ``b_t`` only: a level meets few of the other
columns' levels (5% of ``B`` is nonzero on the flights-like file), so the product costs
``sum_t nnz_t**2 / 2`` multiply-adds instead of ``K (r + 1)**2``, and the dense ``B``
is scanned once, in the same loop that lists its nonzeros for the solve's two products
(``B^T v``, ``B s``: scipy.sparse). Plain loops in a fixed order: the same bits in any process,
whatever the address of ``B`` (a BLAS product's rounding depends on it).
"""

from __future__ import annotations

import numpy as np
from numba import njit


# A row of B with more than half its entries nonzero is added to S densely (0.31 s
# against 0.34 s at 10M rows, the same at 1M).
DENSE_ROW = 2


@njit(cache=True, nogil=True)
def csr_of(B, scale):
    """``(indptr, indices, data)``: ``B / scale`` in CSR form (each row's nonzero
    columns in order), from two scans of the dense ``B``."""
    K, r1 = B.shape
    indptr = np.zeros(K + 1, dtype=np.int64)
    for t in range(K):
        m = 0
        for j in range(r1):
            if B[t, j] != 0.0:
                m += 1
        indptr[t + 1] = indptr[t] + m
    indices = np.empty(indptr[K], dtype=np.int64)
    data = np.empty(indptr[K])
    for t in range(K):
        m = indptr[t]
        for j in range(r1):
            v = B[t, j]
            if v != 0.0:
                indices[m] = j
                data[m] = v / scale
                m += 1
    return indptr, indices, data


@njit(cache=True, nogil=True)
def schur_complement(A, indptr, indices, data, inv):
    """``S = A - B^T diag(inv) B`` (``B`` in CSR form, :func:`csr_of`; ``A`` symmetric,
    ``(r + 1)**2``): each row ``b_t`` adds ``inv_t b_t b_t^T`` on its nonzeros, upper
    triangle, then mirrored. A level with ``inv_t = 0`` adds nothing."""
    r1 = A.shape[0]
    upper = np.zeros((r1, r1))
    dense = np.zeros(r1)
    for t in range(indptr.shape[0] - 1):
        f = inv[t]
        if f == 0.0:
            continue
        first, stop = indptr[t], indptr[t + 1]
        if (stop - first) * DENSE_ROW > r1:
            # a level that meets most others: its row spread out, each row of upper
            # updated by one vectorized loop (a zero adds 0.0: the same sums)
            for a in range(first, stop):
                dense[indices[a]] = data[a]
            for a in range(first, stop):
                i = indices[a]
                row = upper[i]
                fa = f * data[a]
                for j in range(i, r1):
                    row[j] += fa * dense[j]
            for a in range(first, stop):
                dense[indices[a]] = 0.0
            continue
        for a in range(first, stop):
            row = upper[indices[a]]
            fa = f * data[a]
            for e in range(a, stop):
                row[indices[e]] += fa * data[e]
    S = np.empty((r1, r1))
    for i in range(r1):
        S[i, i] = A[i, i] - upper[i, i]
        for j in range(i + 1, r1):
            v = A[i, j] - upper[i, j]
            S[i, j] = v
            S[j, i] = v
    return S


__all__ = ["csr_of", "schur_complement"]
