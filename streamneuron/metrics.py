"""Streaming (out-of-core) metrics for a binary classifier, fed block by block.

With ``p`` the predicted probability, ``y`` in {0, 1} and ``n`` the rows seen::

    log_loss = (1/n) sum -(y log p + (1-y) log(1-p))   (= log(1 + e**z) - y z from the logit z)
    mse      = (1/n) sum (p - y)**2                     (scikit-learn's mean_squared_error)
    brier    = (1/n) sum (p - y)**2                     (the same number, by its other name)

The ``mse`` training loss is the article's ``0.5 (p - y)**2``, half of ``mse``
here; ``evaluate`` reports it as ``loss`` for a model trained with it.
    accuracy = (1/n) #{(p >= 0.5) == y}
    auc      = P(s_pos > s_neg) + 0.5 P(s_pos = s_neg)  (over all positive/negative pairs)

With sample weights ``c`` (``update(..., sample_weight=c)``) every mean is the
``c``-weighted mean (``(1/n) sum`` becomes ``(1/sum c) sum c_i``) and the AUC
counts each positive/negative pair with weight ``c_pos c_neg``: scikit-learn's
``log_loss``, ``accuracy_score`` and ``roc_auc_score`` with ``sample_weight``.

Sums and counts add over blocks, so they stream in O(1) memory. The AUC needs
the order of all scores; it is computed from a fine histogram of ``p`` instead
(:data:`AUC_BINS` equal bins over [0, 1], one count array per class), treating
two scores in the same bin as a tie. Only a pair that shares a bin can be
mis-ordered, and each such pair is counted 0.5 instead of 0 or 1, so::

    |auc_exact - auc_hist| <= 0.5 * sum_b pos_b * neg_b / (P * N)  = auc_error_bound

summed over the bins whose scores are not all equal (a bin holding one single
value only has real ties, counted exactly). With one class only (P = 0 or
N = 0) the AUC is undefined and reported as NaN, as is its bound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError, DataError

# 2**20 bins of width ~9.5e-7: for continuous scores about 1 pair in 10**6
# shares a bin, so the AUC error bound is ~5e-7, below any difference that
# matters. A power of two makes ``floor(p * AUC_BINS)`` exact in binary floating
# point (the bins are exactly [k, k+1) / 2**20, and 0.5 is a bin edge). Memory:
# two int64 count arrays (2 x 8 MiB), plus one float64 value (8 MiB) and one
# flag (1 MiB) per bin that detect bins holding a single value (real ties).
AUC_BINS = 2**20

# Decision rule for accuracy: predict 1 when p >= DECISION_THRESHOLD.
DECISION_THRESHOLD = 0.5

# Log loss from a probability clips p to [eps, 1 - eps], as scikit-learn's
# log_loss does, so the two agree; the logit path needs no clipping.
PROB_EPS = float(np.finfo(np.float64).eps)

# A block scatters its counts with np.add.at, which costs O(block); at least
# this fraction of the histogram size, np.bincount (O(bins), but faster per
# row) is cheaper: it sweeps the whole histogram once instead of scattering.
_DENSE_UPDATE_FRACTION = 0.25

__all__ = [
    "AUC_BINS",
    "DECISION_THRESHOLD",
    "StreamingMetrics",
    "calibration_points",
    "roc_curve_points",
]

class StreamingMetrics:
    """Accumulates log loss, mse, Brier score, accuracy and histogram AUC over blocks.

    ``update`` each block, ``result()`` at the end. See the module docstring for
    formulas.
    """

    def __init__(self, bins: int = AUC_BINS, *, weighted: bool = False) -> None:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
            raise ConfigError(f"metrics histogram bins must be an integer >= 2, got {bins!r}")
        self.bins = int(bins)
        self.weighted = bool(weighted)  # every update gives sample_weight
        self.rows = 0
        self.total_weight = 0.0  # sum c (the rows, unweighted)
        self.class_rows = [0, 0]  # rows labelled 0, 1
        self.correct = 0.0  # sum c over the rows predicted right
        self.sum_log_loss = 0.0
        self.sum_sq_error = 0.0  # sum c (p - y)**2
        # counts[0] negatives, counts[1] positives, per probability bin (weighted:
        # the sums of their weights).
        self.counts = np.zeros((2, self.bins), dtype=np.float64 if weighted else np.int64)
        # One score seen in each bin (NaN: empty) and whether any other score in
        # that bin differs from it; same-bin pairs are real ties when not.
        self.bin_value = np.full(self.bins, np.nan)
        self.bin_distinct = np.zeros(self.bins, dtype=bool)

    # ------------------------------------------------------------------ update

    def update(self, prob: np.ndarray, y: np.ndarray, logit: np.ndarray | None = None,
               sample_weight: np.ndarray | None = None) -> None:
        """Add one block: probabilities ``prob``, 0/1 labels ``y``, optional logits,
        and (when the metrics are ``weighted``) each row's weight.

        With ``logit`` the log loss is ``logaddexp(0, z) - y z`` (finite for any
        finite z); without it, ``-(y log p + (1-y) log(1-p))`` with p clipped to
        [PROB_EPS, 1 - PROB_EPS].
        """
        if (sample_weight is not None) != self.weighted:
            raise ConfigError("weighted metrics take a sample_weight with every block, "
                              "unweighted ones none")
        p = np.asarray(prob, dtype=np.float64).reshape(-1)
        yv = np.asarray(y).reshape(-1)
        if yv.shape != p.shape:
            raise DataError(f"metrics: {p.size} probabilities but {yv.size} labels")
        if p.size == 0:
            return
        if not np.all((p >= 0.0) & (p <= 1.0)):  # also rejects NaN
            bad = p[~((p >= 0.0) & (p <= 1.0))][0]
            raise DataError(f"metrics: predicted probability {bad!r} is not in [0, 1]")
        yv = yv.astype(np.float64)
        is_pos = yv == 1.0
        if not np.all(is_pos | (yv == 0.0)):
            bad = yv[~(is_pos | (yv == 0.0))][0]
            raise DataError(f"metrics: label {bad!r} is not 0 or 1")

        if logit is not None:
            z = np.asarray(logit, dtype=np.float64).reshape(-1)
            if z.shape != p.shape:
                raise DataError(f"metrics: {p.size} probabilities but {z.size} logits")
            if not np.all(np.isfinite(z)):
                raise DataError("metrics: a logit is NaN or infinite")
            row_loss = np.logaddexp(0.0, z) - yv * z
        else:
            pc = np.clip(p, PROB_EPS, 1.0 - PROB_EPS)
            row_loss = np.where(is_pos, -np.log(pc), -np.log1p(-pc))

        r = p - yv
        right = (p >= DECISION_THRESHOLD) == is_pos
        self.rows += p.size
        positives = int(np.count_nonzero(is_pos))
        self.class_rows[0] += p.size - positives
        self.class_rows[1] += positives
        if self.weighted:
            c = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if c.shape != p.shape:
                raise DataError(f"metrics: {p.size} probabilities but {c.size} weights")
            self.total_weight += float(c.sum())
            self.sum_log_loss += float(np.dot(c, row_loss))
            self.sum_sq_error += float(np.dot(c * r, r))
            self.correct += float(c[right].sum())
        else:
            c = None
            self.total_weight += float(p.size)
            self.sum_log_loss += float(np.sum(row_loss))
            self.sum_sq_error += float(np.dot(r, r))
            self.correct += float(np.count_nonzero(right))

        idx = np.minimum((p * self.bins).astype(np.int64), self.bins - 1)  # p = 1 -> last bin
        key = idx + self.bins * is_pos  # flat index into counts
        flat = self.counts.reshape(-1)
        if p.size >= _DENSE_UPDATE_FRACTION * flat.size:
            flat += np.bincount(key, weights=c, minlength=flat.size).astype(flat.dtype, copy=False)
        else:
            np.add.at(flat, key, 1 if c is None else c)

        # Record a value for bins seen for the first time, then flag every bin
        # holding a value different from its recorded one. Plain assignments are
        # idempotent, so repeated bins in the block need no ufunc.at.
        new = np.isnan(self.bin_value[idx])
        self.bin_value[idx[new]] = p[new]
        self.bin_distinct[idx[p != self.bin_value[idx]]] = True

    # ----------------------------------------------------------------- results

    @property
    def positives(self) -> int:
        """Rows labelled 1 (counted, whatever their weights)."""
        return self.class_rows[1]

    @property
    def negatives(self) -> int:
        return self.class_rows[0]

    def auc(self) -> tuple[float, float]:
        """``(auc, auc_error_bound)`` from the histogram; ``(nan, nan)`` with one class.

        auc   = sum_b pos_b * (neg_below_b + 0.5 neg_b) / (P N)
        bound = 0.5 * sum_{b not single-valued} pos_b * neg_b / (P N)
        """
        neg, pos = self.counts
        n_neg, n_pos = neg.sum(), pos.sum()
        if n_neg == 0 or n_pos == 0:
            return math.nan, math.nan
        neg_below = np.cumsum(neg) - neg  # exact int64, then float for the products
        posf, negf = pos.astype(np.float64), neg.astype(np.float64)
        pairs = float(n_pos) * float(n_neg)
        auc = (np.dot(posf, neg_below.astype(np.float64)) + 0.5 * np.dot(posf, negf)) / pairs
        shared = np.dot(posf[self.bin_distinct], negf[self.bin_distinct])
        return float(auc), float(0.5 * shared / pairs)

    def result(self) -> dict[str, Any]:
        """Plain dict: rows, log_loss, mse, brier, accuracy, auc, auc_error_bound,
        positives, negatives (and, weighted, ``weight_sum``). Means are NaN when no
        row (or no weight) was seen."""
        n = self.total_weight
        auc, bound = self.auc()
        mean = (lambda s: s / n) if n > 0 else (lambda s: math.nan)
        out = {
            "rows": self.rows,
            "log_loss": mean(self.sum_log_loss),
            "mse": mean(self.sum_sq_error),
            "brier": mean(self.sum_sq_error),
            "accuracy": mean(self.correct),
            "auc": auc,
            "auc_error_bound": bound,
            "positives": self.positives,
            "negatives": self.negatives,
        }
        if self.weighted:
            out["weight_sum"] = self.total_weight
        return out


# ---------------------------------------------------------------------------
# Curves from the histogram (they feed streamneuron.plots)
# ---------------------------------------------------------------------------


def roc_curve_points(metrics: StreamingMetrics) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr)`` with one threshold per occupied bin, from (0, 0) to (1, 1).

    Lowering the threshold past bin b adds neg_b false and pos_b true positives:
    ``fpr_k = sum_{b >= t_k} neg_b / N``, ``tpr_k = sum_{b >= t_k} pos_b / P``.
    The trapezoid area under these points is exactly the histogram AUC. With one
    class the rate of the missing class is NaN (its denominator is 0).
    """
    neg, pos = metrics.counts
    occupied = np.flatnonzero(metrics.counts.any(axis=0))[::-1]  # high scores first
    tp = np.concatenate(([0], np.cumsum(pos[occupied])))
    fp = np.concatenate(([0], np.cumsum(neg[occupied])))
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / np.float64(tp[-1]) if tp[-1] else np.full(tp.shape, np.nan)
        fpr = fp / np.float64(fp[-1]) if fp[-1] else np.full(fp.shape, np.nan)
    return fpr, tpr


def calibration_points(
    metrics: StreamingMetrics, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability curve ``(mean_predicted, observed_rate, count)`` over ``n_bins`` coarse bins.

    Coarse bin j covers [e_j, e_{j+1}) with e_j the histogram edge nearest
    j / n_bins (at most half a fine bin, 2**-21 for AUC_BINS, away; the last bin
    includes 1). ``observed_rate_j = sum pos / count``. The mean predicted
    probability is approximated by the count-weighted centers of the fine bins,
    within half a fine-bin width of the exact mean. Empty bins give NaN, count 0.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or not (
        1 <= n_bins <= metrics.bins
    ):
        raise ConfigError(f"calibration bins must be an integer in [1, {metrics.bins}], got {n_bins!r}")
    fine = metrics.bins
    # Nearest fine edge to j * fine / n_bins, in exact integer arithmetic
    # (round half up); strictly increasing because n_bins <= fine.
    j = np.arange(n_bins + 1, dtype=np.int64)
    edges = (2 * j * fine + n_bins) // (2 * n_bins)
    neg, pos = metrics.counts
    total = neg + pos
    centers = (np.arange(fine) + 0.5) / fine
    count = np.add.reduceat(total, edges[:-1])
    n_pos = np.add.reduceat(pos, edges[:-1])
    weighted = np.add.reduceat(total * centers, edges[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.where(count > 0, weighted / count, np.nan)
        observed = np.where(count > 0, n_pos / count, np.nan)
    return mean_predicted, observed, count
