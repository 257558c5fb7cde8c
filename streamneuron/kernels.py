"""Fused, compiled loops over a whole decoded chunk.

A Python-level numpy loop per mini-batch costs up to 67x the file scan at batch
size 1; these kernels take a chunk of thousands of rows and do every mini-batch
update inside one compiled call, so the per-batch cost is a few flops per weight.
They release the GIL so the next chunk can be decoded on another thread.

The formulas are those of :mod:`streamneuron.losses` (``loss_and_dz_scalar``).
Standardization is applied on the fly, ``x_std = (x - mean) * inv_scale``; with
``mean = 0`` and ``inv_scale = 1`` that is exactly ``x``.

No ``fastmath``: sums run in row and column order, so a chunk processed in one
call or in several slices, row- or column-major, gives bit-identical weights.
That is what makes exact resume and the article-loop tests possible.

The SGD engine's scalars live in one float64 array ``state`` (indices below), and
the gradient sum of an unfinished batch in ``carry_w``, so both can be saved and
restored exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .losses import loss_and_dz_scalar

# Indices into the SGD state vector.
BIAS = 0  # b
UPDATES = 1  # t: mini-batch updates done so far (drives the invscaling schedule)
CARRY_B = 2  # sum of dL/dz over the rows of the unfinished batch
CARRY_ROWS = 3  # rows in the unfinished batch (a batch may straddle chunks)
LOSS_SUM = 4  # sum of L over rows seen this epoch, at the weights before their update
ROWS_SEEN = 5  # rows seen this epoch
STATE_SIZE = 6

# Status codes returned by the kernels.
OK = 0
PAUSED = 1  # stopped after ``max_updates`` updates, at a batch boundary
NONFINITE = 2  # a logit was NaN or infinite; the row is returned for the message


def new_state() -> np.ndarray:
    return np.zeros(STATE_SIZE, dtype=np.float64)


@njit(cache=True, nogil=True)
def apply_update(w, state, carry_w, lr0, power_t, l2):
    """One step ``w -= lr_t (g_w / m + l2 w)``, ``b -= lr_t g_b / m``, ``lr_t = lr0 / (1 + t)**power_t``.

    ``g_w, g_b`` are the gradient sums of the ``m`` rows of the batch (the article's
    averaged gradient); the carry is emptied and ``t`` advanced.
    """
    m = state[CARRY_ROWS]
    lr = lr0 / (1.0 + state[UPDATES]) ** power_t
    for j in range(w.shape[0]):
        w[j] -= lr * (carry_w[j] / m + l2 * w[j])
        carry_w[j] = 0.0
    state[BIAS] -= lr * (state[CARRY_B] / m)
    state[CARRY_B] = 0.0
    state[CARRY_ROWS] = 0.0
    state[UPDATES] += 1.0


@njit(cache=True, nogil=True)
def sgd_chunk(X, y, order, start, stop, w, state, carry_w, mean, inv_scale,
              loss_id, batch_size, lr0, power_t, l2, max_updates):
    """Mini-batch SGD over rows ``order[start:stop]`` of the chunk ``X`` (n, d).

    ``order`` is the row permutation of the chunk (empty: file order). Each row
    adds its ``dL/dz * x`` to the carry at the current weights; every
    ``batch_size`` rows one averaged step is taken (:func:`apply_update`).
    Stops early after ``max_updates`` updates (< 0: no limit).

    Returns ``(position, status)``: the next row position and ``OK``, ``PAUSED``,
    or ``NONFINITE`` (then ``position`` is the offending row of ``X``).
    """
    d = X.shape[1]
    xs = np.empty(d, dtype=np.float64)
    identity = order.shape[0] == 0
    updates = 0
    b = state[BIAS]
    for pos in range(start, stop):
        i = pos if identity else order[pos]
        z = b
        for j in range(d):
            v = (X[i, j] - mean[j]) * inv_scale[j]
            xs[j] = v
            z += w[j] * v
        if not np.isfinite(z):
            return i, NONFINITE
        loss, dz = loss_and_dz_scalar(loss_id, z, y[i])
        state[LOSS_SUM] += loss
        state[ROWS_SEEN] += 1.0
        state[CARRY_B] += dz
        for j in range(d):
            carry_w[j] += dz * xs[j]
        state[CARRY_ROWS] += 1.0
        if state[CARRY_ROWS] >= batch_size:
            apply_update(w, state, carry_w, lr0, power_t, l2)
            b = state[BIAS]
            updates += 1
            if updates == max_updates:
                return pos + 1, PAUSED
    return stop, OK


@njit(cache=True, nogil=True)
def gradient_sums(X, y, w, b, mean, inv_scale, loss_id, grad_w):
    """Full-pass partial sums for one partition, at fixed ``(w, b)``.

    Adds ``sum_i dL/dz_i x_i`` into ``grad_w`` and returns
    ``(sum_i dL/dz_i, sum_i L_i, bad_row)`` with ``bad_row = -1`` unless a logit
    was not finite.
    """
    d = X.shape[1]
    xs = np.empty(d, dtype=np.float64)
    sum_dz = 0.0
    sum_loss = 0.0
    for i in range(X.shape[0]):
        z = b
        for j in range(d):
            v = (X[i, j] - mean[j]) * inv_scale[j]
            xs[j] = v
            z += w[j] * v
        if not np.isfinite(z):
            return sum_dz, sum_loss, i
        loss, dz = loss_and_dz_scalar(loss_id, z, y[i])
        sum_loss += loss
        sum_dz += dz
        for j in range(d):
            grad_w[j] += dz * xs[j]
    return sum_dz, sum_loss, -1


@njit(cache=True, nogil=True)
def logits(X, w, b, mean, inv_scale, out):
    """``out_i = b + sum_j w_j (x_ij - mean_j) inv_scale_j``; returns the first non-finite row or -1."""
    d = X.shape[1]
    for i in range(X.shape[0]):
        z = b
        for j in range(d):
            z += w[j] * ((X[i, j] - mean[j]) * inv_scale[j])
        out[i] = z
        if not np.isfinite(z):
            return i
    return -1
