"""Held-out validation and early stopping for the SGD engine.

Two kinds of validation data, usable together:

* **other files** (``validation=`` / ``--validation DATA...``): every row of them;
* **a fraction of the training rows** (``validation_fraction=F`` /
  ``--validation-fraction F``): a row is held out iff ``u(seed, i) < F``, ``u`` a
  uniform number from a hash of the run's seed and the row's global index ``i``
  (:func:`streamneuron.stream.held_out`). A pure function, nothing kept in memory:
  the same rows in every epoch, every shuffle and after a resume. The stream leaves
  them out of each block's row order, so the kernel never trains on them.

A *check* (:func:`validate`) is a second read of the validation data, in file order,
at the weights of that moment (the epoch's end weights, or every ``validate_every``
updates): for a fraction, the held-out rows of the training files are read again
(the rest of each unit is decoded and skipped). It reports the model's loss (log
loss, or the article's ``0.5 (p - y)**2`` for ``loss="mse"``), the log loss, accuracy
and AUC, from :class:`streamneuron.metrics.StreamingMetrics`.

:class:`Stopping` decides when to stop, as scikit-learn's ``n_iter_no_change``: a
check that does not improve on the best loss so far by more than ``tol`` counts
against ``patience``; ``patience`` such checks in a row stop the run. Without
validation data the loss checked is the epoch's training objective (the mean loss
at the weights each row met, plus the L2 term), once per epoch. The best weights
are kept and returned; the whole state goes into the checkpoint by name.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import kernels
from .errors import DataError
from .losses import get_loss, sigmoid
from .metrics import StreamingMetrics
from .params import DEFAULT
from .penalty import Penalty
from .stats import raise_nonfinite
from .stream import Position, block_rows, held_out, iter_blocks

if TYPE_CHECKING:
    from .readers.base import Source

# The tolerance of early stopping in SGD when none is given (scikit-learn's).
SGD_TOL = 1e-3
# Checks without improvement before stopping when none is given (scikit-learn's 5).
PATIENCE = DEFAULT.patience
# The fields a check adds to its history row.
FIELDS = ("val_loss", "val_log_loss", "val_accuracy", "val_auc", "val_rows")


def validate(weights: np.ndarray, bias: float, mean: np.ndarray, inv_scale: np.ndarray,
             loss_name: str, *, files=None, training=None, fraction: float = 0.0,
             seed: int = 0, bins: int = 1 << 16) -> dict:
    """One check: the metrics of ``(weights, bias)`` on every row of ``files`` (a
    Source, or None) and on the rows of ``training`` held out by ``(fraction, seed)``.

    Weighted rows (``Source.weighted``: a weight column, class weights, or both, as
    the training objective's) give weighted metrics: every mean is
    ``sum c_i m_i / sum c_i`` (:class:`~streamneuron.metrics.StreamingMetrics`).

    Returns ``{"val_loss", "val_log_loss", "val_accuracy", "val_auc", "val_rows"}``.
    The AUC histogram has ``bins`` bins (its error bound is small next to the
    differences early stopping looks at; the loss is exact).
    """
    weighted = any(source is not None and source.weighted for source in (files, training))
    metrics = StreamingMetrics(bins=bins, weighted=weighted)

    def add(source, block, rows=None):
        X = block.X if rows is None else block.X[rows]
        codes = block.codes if rows is None or block.codes is None else block.codes[rows]
        if len(X) == 0:
            return
        z = np.empty(len(X), dtype=np.float64)
        bad = kernels.logits_with_levels(X, codes, weights, bias, mean, inv_scale, z)
        if bad >= 0:
            row = bad if rows is None else int(rows[bad])
            raise_nonfinite(source.feature_names, block, row)
            raise DataError(f"{block.describe_row(row)[0]}: a validation logit "
                            "overflowed: lower --lr")
        y = block.y if rows is None else block.y[rows]
        c = None
        if weighted:
            c = np.ones(len(y)) if block.w is None else block.w if rows is None else block.w[rows]
        metrics.update(sigmoid(z), y, logit=z, sample_weight=c)

    if files is not None:
        for block in iter_blocks(files, Position(), epochs=1, shuffle=False, seed=0):
            add(files, block)
    if training is not None and fraction > 0:
        for block in iter_blocks(training, Position(), epochs=1, shuffle=False, seed=0):
            held = held_out(block_rows(training, block.units), fraction, seed)
            add(training, block, np.flatnonzero(held))
    result = metrics.result()
    loss = get_loss(loss_name).from_metrics(result)
    return {"val_loss": loss, "val_log_loss": result["log_loss"],
            "val_accuracy": result["accuracy"], "val_auc": result["auc"],
            "val_rows": result["rows"]}


def training_objective(weights: np.ndarray, bias: float, mean: np.ndarray,
                       inv_scale: np.ndarray, loss_name: str, source, *, penalty: Penalty,
                       fraction: float = 0.0, seed: int = 0) -> float:
    """``J = sum_i c_i L_i / sum_i c_i + penalty(w)`` of ``(weights, bias)`` on the
    training rows of ``source`` (those not held out by ``(fraction, seed)``): one read
    in file order. SGD's epoch objective is the mean at the moving iterates; this is
    the objective of the model it saves (averaged, or the best check's)."""
    loss = get_loss(loss_name)
    loss_sum = weight_sum = 0.0
    for block in iter_blocks(source, Position(), epochs=1, shuffle=False, seed=0):
        rows = None
        if fraction > 0:
            rows = np.flatnonzero(~held_out(block_rows(source, block.units), fraction, seed))
        X = block.X if rows is None else block.X[rows]
        codes = block.codes if rows is None or block.codes is None else block.codes[rows]
        y = block.y if rows is None else block.y[rows]
        z = np.empty(len(X), dtype=np.float64)
        bad = kernels.logits_with_levels(X, codes, weights, bias, mean, inv_scale, z)
        if bad >= 0:
            raise DataError(f"{block.describe_row(bad if rows is None else int(rows[bad]))[0]}"
                            ": the model's logit overflowed")
        losses = loss.loss(z, np.asarray(y, dtype=np.float64))
        if block.w is None:
            loss_sum += float(losses.sum())
            weight_sum += len(losses)
        else:
            c = block.w if rows is None else block.w[rows]
            loss_sum += float(np.dot(c, losses))
            weight_sum += float(c.sum())
    return float(penalty.objective(loss_sum / weight_sum, weights))


def open_validation(data, training: Source, stack: contextlib.ExitStack) -> Source | None:
    """The validation ``data`` (paths, a DataFrame, an ``(X, y)`` pair, a Source: as
    :func:`~streamneuron.open_source` takes them) opened like the ``training`` source,
    with its label, features and weight column (closed by ``stack``; a Source given is
    taken as it is) and weighted by its class weights; None for None. DataError when it
    cannot validate that training: no label, no weight column for weighted training
    rows, other features."""
    if data is None:
        return None
    from .readers import Weighted, open_source

    features = list(training.fills.names) if training.fills is not None \
        else training.feature_names
    opened = open_source(data, label=training.label, features=features,
                         weight=training.weight, missing=training.missing,
                         positive=training.positive, negative=training.negative,
                         categorical=list(training.categorical) or None)  # a Source as it is
    if opened is not data:
        stack.enter_context(opened)
    if opened.label is None:
        raise DataError("the validation data needs a label column")
    if opened.negative is None and training.negative is not None \
            and opened.positive == training.positive:  # (a Source given: the training's pair)
        opened.negative = training.negative
    if training.weight is not None and opened.weight is None:
        raise DataError(f"the training rows are weighted by {training.weight!r} but the "
                        "validation data has no weight column")
    if list(opened.feature_names) != list(features):
        raise DataError(
            f"the validation data has the features {opened.feature_names[:5]}... "
            f"but the training data {training.feature_names[:5]}...: they must be the same")
    if training.class_weights is not None and opened.class_weights is None:
        opened = Weighted(opened, training.class_weights)
    return encoded_like(opened, training)


def encoded_like(data: Source, training: Source) -> Source:
    """``data`` encoded by the levels of ``training``'s categorical columns (as it is
    when ``training`` has none yet, or ``data`` has its own)."""
    from .readers import Encoded, Imputed

    if training.fills is not None and data.fills is None:  # imputed by the training means
        data = Imputed(data, training.fills)
    if training.levels is None or data.levels is not None:
        return data

    return Encoded(data, training.levels)


def second_reader(source: Source) -> Source:
    """A source for reading the held-out rows of ``source`` while training reads it on
    another thread: the same files opened again (a file reader is not shared between
    threads), or ``source`` itself when it cannot be reopened (data in memory)."""
    args = source.reopen_args()
    if args is None:  # in memory or a Dask graph: nothing to reopen
        return source
    from .readers import open_source

    urls = [ref.path if ref.is_local else ref.url for ref in source.files]
    other = open_source(urls, **args)
    if other.unit_sizes != source.unit_sizes:
        other.close()
        raise DataError("the training files changed while training (their row groups or "
                        "chunks no longer match); start the run again")
    return other


@dataclass
class Stopping:
    """The early-stopping state between checks (saved with the checkpoint by name).

    ``checks`` counts the checks made; ``best_check`` (1-based, 0: none yet) and
    ``best_epoch`` say where the best loss ``best_loss`` was met, ``best_weights``
    and ``best_bias`` the model there; ``no_improvement`` the checks since the last
    improvement by more than ``tol``; ``last_check_updates`` the update count of the
    last check (a check is never repeated at the same weights); ``stopped`` whether
    the run has stopped early.
    """

    checks: int = 0
    best_check: int = 0
    best_epoch: int = 0
    best_loss: float | None = None
    best_weights: np.ndarray | None = None
    best_bias: float = 0.0
    no_improvement: int = 0
    last_check_updates: int = -1
    stopped: bool = False
    log: list = field(default_factory=list)  # one row per check

    def update(self, loss: float, weights: np.ndarray, bias: float, *, epoch: int,
               updates: int, tol: float, patience: int | None, row: dict) -> bool:
        """Record a check of ``loss`` at ``(weights, bias)``; True when the run should
        stop (``patience`` checks in a row without an improvement by more than ``tol``;
        ``patience=None``: never)."""
        self.checks += 1
        self.last_check_updates = int(updates)
        self.log.append(dict(row, check=self.checks, epoch=epoch, updates=int(updates)))
        best = math.inf if self.best_loss is None else self.best_loss
        if not (loss < best - tol):  # NaN counts as no improvement
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        if loss < best:
            self.best_loss = float(loss)
            self.best_check, self.best_epoch = self.checks, int(epoch)
            self.best_weights = np.array(weights, dtype=np.float64, copy=True)
            self.best_bias = float(bias)
        if patience is not None and self.no_improvement >= patience:
            self.stopped = True
        return self.stopped

    def to_dict(self) -> dict:
        return {"checks": self.checks, "best_check": self.best_check,
                "best_epoch": self.best_epoch, "best_loss": self.best_loss,
                "best_weights": None if self.best_weights is None else self.best_weights.tolist(),
                "best_bias": self.best_bias, "no_improvement": self.no_improvement,
                "last_check_updates": self.last_check_updates, "stopped": self.stopped,
                "log": self.log}

    @classmethod
    def from_dict(cls, data: dict, n_features: int) -> "Stopping":
        """The inverse of :meth:`to_dict`; ValueError/KeyError/TypeError if it does not fit."""
        if not isinstance(data, dict):
            raise TypeError(f"the stopping state is a {type(data).__name__}, not a mapping")
        best = data["best_weights"]
        if best is not None:
            best = np.asarray(best, dtype=np.float64)
            if best.shape != (n_features,):
                raise ValueError(f"best_weights has shape {best.shape}")
        loss = data["best_loss"]
        return cls(int(data["checks"]), int(data["best_check"]), int(data["best_epoch"]),
                   None if loss is None else float(loss), best, float(data["best_bias"]),
                   int(data["no_improvement"]), int(data["last_check_updates"]),
                   bool(data["stopped"]), list(data["log"]))


def kept_rows(n_rows: int, fraction: float, seed: int) -> int:
    """The rows not held out by ``(fraction, seed)`` (:func:`streamneuron.stream.held_out`
    of every row index, no read)."""
    held, step = 0, 1 << 20
    if fraction > 0:
        for start in range(0, n_rows, step):
            rows = np.arange(start, min(n_rows, start + step), dtype=np.int64)
            held += int(held_out(rows, fraction, seed).sum())
    return n_rows - held


__all__ = ["kept_rows", "validate", "training_objective", "open_validation", "second_reader", "Stopping",
           "SGD_TOL", "PATIENCE", "FIELDS"]
