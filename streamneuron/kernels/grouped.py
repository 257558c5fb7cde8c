"""The shared path's pass (:mod:`streamneuron.fullpass.shared`): every row's sums at
several points, each into the bucket of the row's group, and the loss of candidate
models on their own group's rows, in one call over a decoded unit (no copy of the rows
by group, each tile standardized once for every point and candidate)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _add_rows, _fill, _first_nonfinite, _losses, _workspace
from .intrinsics import _logit


@njit(cache=True, nogil=True, error_model="numpy")
def grouped_sums(X, y, sw, group, thetas, mean, inv_scale, loss_id, grad, head, cands,
                 cand_group, cand_head):
    """For each point ``r`` (``thetas[r] = (w, b)``) and each row ``i`` of group
    ``g = group[i]``, with ``x`` standardized (``(X - mean) * inv_scale``) and ``s`` the
    row's weight (``sw``; empty: 1, nothing multiplied)::

        grad[r, g] += s dL/dz x       head[r, g] += (s dL/dz, s L, 1, s)

    and for each candidate ``c``, over the rows of group ``cand_group[c]`` only::

        cand_head[c] += (s L, s)

    Rows are taken a tile at a time (:func:`~.common._fill`) and the tile's rows put in
    order of their group (stable), so that each group is one run of rows: each point's
    logits, losses and ``dL/dz`` as :func:`~.sums.gradient_sums` computes them, each
    group's run added by :func:`~.common._add_rows`, a candidate's logits over its
    group's run only. Returns the first row whose logit is not finite, else -1."""
    n, d = X.shape
    groups = grad.shape[1]
    tile, ty, tz, tdz, tloss = _workspace(d)
    tile_rows = tile.shape[0]
    ordered = np.empty_like(tile)
    weighted = sw.shape[0] > 0
    ts = np.empty(tile_rows)
    source = np.empty(tile_rows, dtype=np.int64)
    edge = np.empty(groups + 1, dtype=np.int64)
    at = np.empty(groups, dtype=np.int64)
    no_order = np.empty(0, dtype=np.int64)
    w = np.empty(d)
    for first in range(0, n, tile_rows):
        count = min(tile_rows, n - first)
        _fill(X, no_order, True, first, count, mean, inv_scale, tile)
        at[:] = 0
        for q in range(count):
            at[group[first + q]] += 1
        edge[0] = 0
        for g in range(groups):
            edge[g + 1] = edge[g] + at[g]
            at[g] = edge[g]
        for q in range(count):
            g = group[first + q]
            k = at[g]
            at[g] = k + 1
            source[k] = q
            for j in range(d):
                ordered[k, j] = tile[q, j]
            ty[k] = y[first + q]
            ts[k] = sw[first + q] if weighted else 1.0
        for r in range(thetas.shape[0]):
            for j in range(d):
                w[j] = thetas[r, j]
            b = thetas[r, d]
            for k in range(count):
                tz[k] = _logit(b, w, ordered, k, d)
            bad = _first_nonfinite(tz, 0, count)
            if bad < count:
                return first + source[bad]
            _losses(loss_id, tz, ty, tloss, tdz, 0, count)
            for g in range(groups):
                lo, hi = edge[g], edge[g + 1]
                if hi == lo:
                    continue
                sum_dz, sum_loss, sum_w = 0.0, 0.0, 0.0
                if weighted:
                    for k in range(lo, hi):
                        tdz[k] *= ts[k]
                        sum_loss += ts[k] * tloss[k]
                        sum_w += ts[k]
                else:
                    for k in range(lo, hi):
                        sum_loss += tloss[k]
                    sum_w = float(hi - lo)
                for k in range(lo, hi):
                    sum_dz += tdz[k]
                head[r, g, 0] += sum_dz
                head[r, g, 1] += sum_loss
                head[r, g, 2] += hi - lo
                head[r, g, 3] += sum_w
                _add_rows(grad[r, g], ordered, tdz, lo, hi)
        for c in range(cands.shape[0]):
            lo, hi = edge[cand_group[c]], edge[cand_group[c] + 1]
            if hi == lo:
                continue
            for j in range(d):
                w[j] = cands[c, j]
            b = cands[c, d]
            for k in range(lo, hi):
                tz[k] = _logit(b, w, ordered, k, d)
            bad = _first_nonfinite(tz, lo, hi)
            if bad < hi:
                return first + source[bad]
            _losses(loss_id, tz, ty, tloss, tdz, lo, hi)
            sum_loss, sum_w = 0.0, 0.0
            for k in range(lo, hi):
                sum_loss += ts[k] * tloss[k]
                sum_w += ts[k]
            cand_head[c, 0] += sum_loss
            cand_head[c, 1] += sum_w
    return -1
