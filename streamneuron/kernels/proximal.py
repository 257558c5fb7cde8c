"""The proximal Newton direction with an L1 penalty: coordinate descent on a quadratic
model (the glmnet / glum inner loop), for :func:`streamneuron.fullpass.solvers.newton` when
``l1 > 0``. Small and dense: ``(d+1) x (d+1)``, no data; compiled because its
loops run per coordinate.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always")
def _soft(u, k):
    """``sign(u) max(|u| - k, 0)``: the minimizer of ``(v - u)**2 / 2 + k |v|``."""
    if u > k:
        return u - k
    if u < -k:
        return u + k
    return 0.0


@njit(cache=True, nogil=True)
def l1_newton_direction(H, g, theta, l1, penalized, rel, floor, max_sweeps, d_out):
    """Minimise the model ``q(d) = g.d + d'Hd / 2 + l1 (||v||_1 - ||theta||_1)`` over
    ``d``, ``v = theta + d`` with the L1 norm over the ``penalized`` coordinates only
    (the weights: the first ``penalized``; the bias last is free), by cyclic
    coordinate descent from ``d = 0``. Coordinate ``j`` with ``r = g + Hd``,
    ``a = H_jj``::

        v_j <- soft(v_j - r_j / a, l1 / a)        (the bias: v_j - r_j / a)

    After a sweep over every coordinate, sweeps go over the active ones (``v_j != 0``
    and the bias) until they settle, then a full sweep again; it stops after a full
    sweep in which no coordinate lowered ``q`` by more than
    ``max(rel |q|, floor)`` (each coordinate's decrease is exact: ``a dv**2 / 2``
    plus the change of the L1 term). A coordinate with ``a <= 0`` (no curvature)
    is left as it is. Writes ``d`` into ``d_out``; returns ``(q(d), sweeps)``.
    """
    p = g.shape[0]
    r = g.copy()
    q = 0.0
    for j in range(p):
        d_out[j] = 0.0
    full = True
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        largest = 0.0
        for j in range(p):
            a = H[j, j]
            if a <= 0.0:
                continue
            old = theta[j] + d_out[j]
            if j < penalized:
                if not full and old == 0.0:
                    continue
                new = _soft(old - r[j] / a, l1 / a)
            else:
                new = old - r[j] / a
            step = new - old
            if step == 0.0:
                continue
            change = r[j] * step + 0.5 * a * step * step
            if j < penalized:
                change += l1 * (abs(new) - abs(old))
            q += change
            largest = max(largest, -change)
            d_out[j] += step
            for k in range(p):
                r[k] += H[k, j] * step
        if largest <= max(rel * abs(q), floor):
            if full:
                break
            full = True
        else:
            full = False
    return q, sweeps
