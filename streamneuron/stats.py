"""Per-feature mean and standard deviation in one streaming pass.

Each block gives ``(n, mean, M2)`` with ``M2 = sum (x - mean)**2``; two summaries
merge by Chan, Golub and LeVeque's pairwise update, which stays accurate where
the textbook ``E[x^2] - E[x]^2`` loses every digit::

    n    = n_a + n_b
    d    = mean_b - mean_a
    mean = mean_a + d * n_b / n
    M2   = M2_a + M2_b + d**2 * n_a * n_b / n

The scale is the population standard deviation ``sqrt(M2 / n)`` (numpy's
``std`` with ``ddof=0``); a feature with zero variance gets scale 1, so it is
only centred. The same merge serves the SGD pass and the Dask reduction.

With row weights ``s_i`` every count above becomes a sum of weights (``W``), the
mean ``sum s x / W`` and ``M2 = sum s (x - mean)**2`` (the weighted population
std ``sqrt(M2 / W)``); the merge is the same with ``W`` for ``n``. Integer weights
give the moments of the rows repeated that many times. The summaries keep the
row count ``n`` as well (rows read, weighted or not); unweighted, ``weight`` is
``n`` itself, the same int, so the arithmetic is the unweighted one exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import DataError


def _pairwise(a, b, square):
    """Chan, Golub and LeVeque's update, shared by both summaries below: the merged
    weight and mean, and the term ``square(delta) W_a W_b / W`` the spreads gain."""
    weight = a.weight + b.weight
    delta = b.mean - a.mean
    return weight, a.mean + delta * (b.weight / weight), \
        square(delta) * (a.weight * b.weight / weight)


def _weights_of(sample_weight, n: int) -> np.ndarray:
    """The kernels' form of row weights: float64 ``(n,)``, or empty for None (unweighted)."""
    if sample_weight is None:
        return _NO_WEIGHTS
    sw = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if sw.shape != (n,):
        raise ValueError(f"sample_weight has shape {sw.shape}, expected ({n},)")
    return sw


_NO_WEIGHTS = np.empty(0)


def _float_rows(X) -> np.ndarray:
    X = np.asarray(X)
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


@dataclass
class Moments:
    n: int  # rows
    mean: np.ndarray  # float64 (d,)
    m2: np.ndarray  # float64 (d,)
    weight: float | int | None = None  # sum of the row weights; None: n (unweighted)

    def __post_init__(self):
        if self.weight is None:
            self.weight = self.n

    @classmethod
    def of(cls, X: np.ndarray, sample_weight: np.ndarray | None = None) -> "Moments":
        """Summary of one in-memory block: float64 sums in a compiled two-pass loop,
        without a float64 copy of a float32 block, the same numbers for any layout.
        ``sample_weight``: the rows' weights (finite, >= 0), or None."""
        from .kernels import moments

        X = _float_rows(X)
        sw = _weights_of(sample_weight, X.shape[0])
        if X.shape[1] == 0:  # categorical columns only: no number to standardize
            total = float(sw.sum()) if sw.shape[0] else X.shape[0]
            return cls(X.shape[0], np.zeros(0), np.zeros(0), total if sw.shape[0] else None)
        mean, m2, total = moments(X, sw)
        return cls(X.shape[0], mean, m2, total if sw.shape[0] else None)

    @classmethod
    def empty(cls, d: int) -> "Moments":
        return cls(0, np.zeros(d), np.zeros(d))

    def merge(self, other: "Moments") -> "Moments":
        if other.weight == 0 or self.weight == 0:  # rows of zero weight only count as rows
            kept = self if other.weight == 0 else other
            rows = self.n + other.n
            return kept if rows == kept.n else dataclasses.replace(kept, n=rows)
        weight, mean, spread = _pairwise(self, other, np.square)
        return Moments(self.n + other.n, mean, self.m2 + other.m2 + spread, weight)

    def scale(self) -> np.ndarray:
        """Population standard deviation ``sqrt(M2 / W)``, 1 where it is zero."""
        std = np.sqrt(self.m2 / self.weight)
        return np.where(std > 0.0, std, 1.0)


@dataclass
class Observed:
    """``--missing impute``'s first pass: per column, the (weighted) moments of the values
    present (``weight[j]``, ``mean[j]``, ``m2[j]``, merged column by column as
    :class:`Moments`), the rows missing a value (``missing[j]``) and the rows' total weight
    ``total`` (``n`` rows). Enough for the imputed data's standardization in one pass
    (:meth:`moments`) and for the fill values (:meth:`fills`)."""

    n: int
    total: float
    weight: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    missing: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, sample_weight: np.ndarray | None = None,
           names: Sequence[str] = (), rows_read=None,
           gaps: np.ndarray | None = None) -> "Observed":
        """``gaps``: the columns known to hold a missing value (``DecodedUnit.gaps``: the
        reader saw nulls there), summed skipping them from the first: one read of each
        instead of two; None: none known. The same numbers either way."""
        from .kernels import observed_moments

        X = _float_rows(X)
        n, d = X.shape
        sw = _weights_of(sample_weight, n)
        total = float(sw.sum()) if sw.shape[0] else float(n)
        if d:
            known = np.zeros(d, dtype=np.bool_) if gaps is None else \
                np.ascontiguousarray(gaps, dtype=np.bool_)
            weight, mean, m2, missing = observed_moments(X, sw, known)
        else:
            weight, mean, m2, missing = np.zeros(0), np.zeros(0), np.zeros(0), \
                np.zeros(0, dtype=np.int64)
        if rows_read is not None and not (np.isfinite(m2).all() and np.isfinite(mean).all()):
            raise_nonfinite(names, rows_read)  # infinity is not missing
        return cls(n, total, weight, mean, m2, missing)

    def merge(self, other: "Observed") -> "Observed":
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(weight > 0, other.weight / weight, 0.0)
            spread = np.where(weight > 0, delta ** 2 * self.weight * other.weight / weight, 0.0)
        return Observed(self.n + other.n, self.total + other.total, weight,
                        self.mean + delta * share, self.m2 + other.m2 + spread,
                        self.missing + other.missing)

    def fills(self, names: Sequence[str], where: str = "the input"):
        """The :class:`~streamneuron.missing.Fills`: each column's observed mean; an
        indicator for each column with a missing value. DataError for a column
        without any value (nothing to impute it from)."""
        from .missing import Fills

        empty = [name for name, w, k in zip(names, self.weight, self.missing)
                 if k and not w > 0]
        if empty:
            raise DataError(f"{where}: feature column {empty[0]!r} has no value in any "
                            "row (weighted rows); leave it out (--exclude)")
        indicators = tuple(n for n, k in zip(names, self.missing) if k)
        return Fills(tuple(names), tuple(float(v) for v in self.mean), indicators,
                     tuple(int(k) for k in self.missing))

    def moments(self) -> Moments:
        """The :class:`Moments` of the imputed columns, then of the indicators: a
        column filled with its mean keeps the observed ``M2``; an indicator with
        weighted frequency ``p`` has mean ``p`` and ``M2 = W p (1 - p)``."""
        has = self.missing > 0
        p = (self.total - self.weight[has]) / self.total if self.total > 0 else \
            np.zeros(int(has.sum()))
        return Moments(self.n, np.concatenate([self.mean, p]),
                       np.concatenate([self.m2, self.total * p * (1.0 - p)]),
                       self.total if self.total != self.n else None)


def pending_fills(source) -> bool:
    """Whether ``source`` is to be imputed (``--missing impute``) by fills not yet learned."""
    return source.missing == "impute" and source.fills is None


def model_missing(source):
    """What a model trained on ``source`` keeps of ``--missing`` (:class:`Neuron`'s
    ``missing``): the fills, ``"drop"``, or None."""
    return source.fills if source.fills is not None else (
        "drop" if source.missing == "drop" else None)


def model_columns(source) -> dict:
    """The :class:`~streamneuron.neuron.Neuron` arguments a model trained on ``source``
    takes from it: the levels, ``missing`` and the ``positive`` and ``negative`` label
    values."""
    return {"levels": source.levels, "missing": model_missing(source),
            "positive": source.positive,
            "negative": source.negative if source.positive is not None else None}


def observed_moments(source, on_block=None) -> "Observed":
    """One pass over ``source`` (file order): the :class:`Observed` moments of its
    features (NaN: missing), weighted by each row's weight."""
    from .stream import Position, iter_blocks

    total = None
    for block in iter_blocks(source, Position(), epochs=1, shuffle=False, seed=0):
        part = Observed.of(block.X, block.w, source.feature_names, block, block.gaps)
        total = part if total is None else total.merge(part)
        if on_block is not None:
            on_block(block)
    return total


def streaming_moments(source, *, progress=None, on_block=None) -> Moments:
    """One pass over ``source`` (file order), merging each unit's moments, weighted by
    each row's weight as the source decodes it (``DecodedUnit.w``; None: unweighted).
    ``on_block(block)``: also called with each block read (other sums in the same read)."""
    from .stream import Position, iter_blocks

    total = Moments.empty(source.n_features)
    for block in iter_blocks(source, Position(), epochs=1, shuffle=False, seed=0):
        moments = Moments.of(block.X, block.w)
        if not np.isfinite(moments.m2).all():  # a NaN or infinity: name it (error path only)
            raise_nonfinite(source.feature_names, block)
        total = total.merge(moments)
        if on_block is not None:
            on_block(block)
        if progress is not None:
            progress(len(block.y))
    return total


def first_pass(source, *, max_levels: int, reference: bool, hash_bits: int = 0,
               on_block=None):
    """The standardization pass (:func:`streaming_moments`; with ``--missing impute``
    :func:`observed_moments`, the source imputed by its means from here on,
    :class:`~streamneuron.readers.imputed.Imputed`); when ``source`` has
    categorical columns not yet encoded, the same read counts their levels
    (:class:`~streamneuron.levels.LevelCounts`, unit by unit in file order). Returns
    ``(moments, source)``, the source encoded by those levels
    (:func:`~streamneuron.readers.encoded.encode_source`) or as it was."""
    from .levels import LevelCounts
    from .readers.encoded import encode_source

    counts = None
    if source.categorical and source.levels is None:
        counts = LevelCounts(list(source.categorical), max_levels)

    def each(block) -> None:
        if counts is not None:
            for extra in block.extras:
                counts.add(extra)
        if on_block is not None:
            on_block(block)

    if pending_fills(source):
        from .readers.imputed import Imputed

        observed = observed_moments(source, on_block=each)
        moments = observed.moments()
        source = Imputed(source, observed.fills(source.feature_names, source.describe_input()),
                         seen=True)
    else:
        moments = streaming_moments(source, on_block=each)
    if counts is None:
        return moments, source
    return moments, encode_source(source, counts, reference=reference, hash_bits=hash_bits)


def raise_nonfinite(feature_names: Sequence[str], rows_read, row: int | None = None, *,
                    gaps_filled: bool = False) -> None:
    """Raise the DataError that names the first NaN/infinity of some rows read (or of
    ``row``): ``rows_read`` a decoded unit or a block (``X`` and ``describe_row``).
    An infinity first (a NaN may be a gap ``--missing impute`` fills); with
    ``gaps_filled`` (a block read narrow, its gaps NaN filled by the kernel) only one."""
    block = rows_read
    values = block.X if row is None else block.X[row:row + 1]
    bad = np.isinf(values)
    if not (gaps_filled or bad.any()):
        bad = ~np.isfinite(values)  # no infinity: the first NaN
    rows, cols = np.nonzero(bad)
    if rows.size:
        r = int(rows[0]) if row is None else row
        where, local = block.describe_row(r)
        j = int(cols[0])
        value = float(block.X[r, j])
        if value != value:  # NaN: a missing value
            nulls = int(np.isnan(block.X[:, j]).sum()) if row is None else 1
            from .missing import null_feature_message

            raise DataError(f"{where}, row {local}: " + null_feature_message(
                "NaN", feature_names[j], nulls).replace("NaN: ", "", 1).replace(
                    "null value(s)", "NaN value(s) in this piece", 1))
        raise DataError(
            f"{where}, row {local}: feature column {feature_names[j]!r} is "
            f"{value!r}; infinity is not allowed (drop or fix those rows first)"
        )


# Rows centred at a time for the co-moment products (a float64 buffer of this many
# rows: bounded memory whatever the unit, large enough for BLAS to run at speed).
COMOMENT_BLOCK_ROWS = 1 << 14


@dataclass
class CoMoments:
    """Count, means and co-moments of the columns ``(x_1 .. x_d, y)`` of some rows.

    ``comoment[j, k] = sum_i (v_ij - mean_j) (v_ik - mean_k)`` over the ``d + 1``
    columns ``v = (x, y)``; merged by the matrix form of the same pairwise update
    as :class:`Moments` (``+ delta delta^T n_a n_b / n``). It gives the
    standardization (its diagonal) and, since every row has the same logit at
    ``w = 0``, Newton's gradient and Hessian at the starting point, so the first
    Newton step needs no pass of its own (:func:`streamneuron.fullpass.sums.start_from_moments`).
    """

    n: int  # rows
    mean: np.ndarray  # float64 (d + 1,): features, then the label
    comoment: np.ndarray  # float64 (d + 1, d + 1)
    weight: float | int | None = None  # sum of the row weights; None: n (unweighted)

    def __post_init__(self):
        if self.weight is None:
            self.weight = self.n

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray,
           sample_weight: np.ndarray | None = None) -> "CoMoments":
        """With row weights ``s``: weighted means and ``sum_i s_i (v_i - mean)(v_i - mean)^T``."""
        from .kernels import moments

        X = _float_rows(X)
        n, d = X.shape
        sw = _weights_of(sample_weight, n)
        mean_x, _, total = moments(X, sw)
        y = np.asarray(y, dtype=np.float64)
        if not sw.shape[0]:
            mean_y = y.mean() if n else 0.0
        else:
            mean_y = float(sw @ y) / total if total > 0 else 0.0
        mean = np.append(mean_x, mean_y)
        comoment = np.zeros((d + 1, d + 1))
        block = np.empty((min(n, COMOMENT_BLOCK_ROWS), d + 1))
        for start in range(0, n, COMOMENT_BLOCK_ROWS):
            stop = min(n, start + COMOMENT_BLOCK_ROWS)
            z = block[: stop - start]
            np.subtract(X[start:stop], mean_x, out=z[:, :d])
            np.subtract(y[start:stop], mean[d], out=z[:, d])
            if sw.shape[0]:  # sum s z z^T as (sqrt(s) z)^T (sqrt(s) z): BLAS's symmetric product
                z *= np.sqrt(sw[start:stop])[:, None]
            comoment += z.T @ z
        return cls(n, mean, comoment, total if sw.shape[0] else None)

    @classmethod
    def empty(cls, d: int) -> "CoMoments":
        return cls(0, np.zeros(d + 1), np.zeros((d + 1, d + 1)))

    def merge(self, other: "CoMoments") -> "CoMoments":
        if other.weight == 0 or self.weight == 0:  # rows of zero weight only count as rows
            kept = self if other.weight == 0 else other
            rows = self.n + other.n
            return kept if rows == kept.n else dataclasses.replace(kept, n=rows)
        weight, mean, spread = _pairwise(self, other, lambda delta: np.outer(delta, delta))
        return CoMoments(self.n + other.n, mean, self.comoment + other.comoment + spread,
                         weight)

    def feature_moments(self) -> Moments:
        """The per-feature :class:`Moments` (the label's column dropped)."""
        d = self.mean.shape[0] - 1
        return Moments(self.n, self.mean[:d].copy(), np.diag(self.comoment)[:d].copy(),
                       self.weight)
