"""The SGD training state, by name, and the two calls every trainer makes.

:class:`TrainState` is everything a run carries from one block to the next: the
weights and bias, the update count ``t`` (it drives the ``invscaling`` schedule),
the gradient sums of the unfinished batch (a batch may straddle blocks), and the
pass's loss sum. :class:`StepRule` is what shapes each step (batch size, the
schedule's ``(lr, power)``, ``l2``, ``l1``).

Row weights (``row_weights=`` of :meth:`TrainState.train_block`, in training order):
the objective becomes ``sum_i w_i L_i / sum_i w_i + (l2/2) ||w||**2 + l1 ||w||_1`` and
each batch (still ``batch_size`` rows) steps with ``sum_i w_i g_i / sum_i w_i``; the
state carries the batch's weight (``carry_weight``) and the pass's (``weight_seen``).
Unweighted, both are row counts and the arithmetic is the unweighted one exactly.
L1 (``StepRule.l1 > 0``): the cumulative penalty of Tsuruoka et al. (2009), its sums
``l1_u``, ``l1_q`` in the state (:func:`streamneuron.kernels.common._cumulative_l1`).

Two calls train: :meth:`TrainState.train_block` runs the fused kernel over rows of
one decoded block, every mini-batch update inside; :meth:`TrainState.finish_pass`
takes the step of the last short batch and closes the pass's loss. The SGD engine
(:mod:`streamneuron.sgd`), :meth:`streamneuron.Neuron.partial_fit` and
:class:`streamneuron.NeuronClassifier` all train through them.

The state is saved to a checkpoint by name (:meth:`TrainState.to_dict`); floats
round-trip exactly through JSON, so a resumed run is bit-identical. Counts are kept
as integers here and as float64 in the kernel's record (exact below 2**53).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels
from .schedules import make_schedule

# What train_block returns with the next row position.
OK = kernels.OK
PAUSED = kernels.PAUSED  # stopped after ``max_updates`` updates, at a batch boundary
NONFINITE = kernels.NONFINITE  # a logit was not finite; the position is that row of X

_NO_ORDER = np.empty(0, dtype=np.int64)
_NO_WEIGHTS = np.empty(0, dtype=np.float64)  # unweighted: the kernel's fast path

# The scalar fields: those of the kernels' state record (kernels.STATE).
_SCALARS = kernels.STATE.names
_COUNTS = ("updates", "carry_rows", "rows_seen", "avg_count")
# The array fields saved by name, with their length beyond d (AdaGrad's g2 has the bias too).
_VECTORS = {"carry_w": 0, "avg_w": 0, "g2": 1, "l1_u": 0, "l1_q": 0}


@dataclass(frozen=True)
class StepRule:
    """How each step is taken: ``batch_size`` rows per step, ``lr_t = lr / (1 + t)**power``
    (``power = 0``: constant), ``l2`` and ``l1`` on the weights (never the bias),
    ``loss_id`` the kernel's loss."""

    loss_id: int
    batch_size: int
    lr: float
    power: float = 0.0
    l2: float = 0.0
    average: int = 0  # averaged SGD: average the iterates from update ``average`` on (0: off)
    adagrad: bool = False  # per-coordinate AdaGrad steps (the schedule "adagrad")
    l1: float = 0.0  # L1 penalty l1 ||w||_1: the cumulative penalty after each step (0: off)

    @classmethod
    def of(cls, loss, batch_size: int, lr: float, schedule: str = "constant",
           power_t: float = 0.5, l2: float = 0.0, average=0, *, l1: float = 0.0) -> "StepRule":
        """From the user's parameters (``loss``: a loss object of :mod:`streamneuron.losses`;
        ``average``: False/0 off, True from the first update, N from update N on)."""
        made = make_schedule(schedule, lr, power_t)
        lr0, power = made.kernel_params
        return cls(int(loss.kernel_id), int(batch_size), lr0, power, float(l2),
                   average_start(average), bool(made.adaptive), float(l1))


def average_start(average) -> int:
    """The update from which averaged SGD averages: ``True`` -> 1, ``False`` -> 0 (off),
    a whole number ``N >= 0`` -> ``N`` (0: off)."""
    return int(average)


@dataclass
class TrainState:
    """The state of SGD training between two blocks (see the module docstring)."""

    weights: np.ndarray  # w, float64 (d,); trained in place
    carry_w: np.ndarray  # sum of dL/dz x over the rows of the unfinished batch (d,)
    bias: float = 0.0  # b
    updates: int = 0  # t: mini-batch updates done so far
    carry_b: float = 0.0  # sum of dL/dz over the rows of the unfinished batch
    carry_rows: int = 0  # rows in the unfinished batch
    loss_sum: float = 0.0  # sum of L over the pass's rows, at the weights each row met
    rows_seen: int = 0  # rows of the pass so far
    avg_b: float = 0.0  # averaged SGD: the running average of b
    avg_count: int = 0  # iterates in the average
    avg_w: np.ndarray | None = None  # the running average of w (d,)
    g2: np.ndarray | None = None  # AdaGrad: sums of squared gradients, w's then b's (d + 1,)
    carry_weight: float = 0.0  # sum of the row weights of the unfinished batch
    weight_seen: float = 0.0  # sum of the row weights of the pass so far
    l1_u: np.ndarray | None = None  # L1: the penalty each weight could have had so far (d,)
    l1_q: np.ndarray | None = None  # L1: the penalty each weight did have so far (d,)

    def __post_init__(self):
        if self.avg_w is None:
            self.avg_w = np.zeros_like(self.weights)
        if self.g2 is None:
            self.g2 = np.zeros(self.weights.shape[0] + 1)
        if self.l1_u is None:
            self.l1_u = np.zeros_like(self.weights)
        if self.l1_q is None:
            self.l1_q = np.zeros_like(self.weights)

    @classmethod
    def start(cls, weights: np.ndarray, bias: float = 0.0, updates: int = 0) -> "TrainState":
        """A state at a batch boundary, training ``weights`` in place."""
        return cls(weights, np.zeros_like(weights), float(bias), int(updates))

    def model(self, rule: "StepRule") -> tuple[np.ndarray, float]:
        """The model's weights and bias now: the running average with averaged SGD (once
        it holds an iterate), else the weights trained."""
        if rule.average > 0 and self.avg_count > 0:
            return self.avg_w, float(self.avg_b)
        return self.weights, float(self.bias)

    @property
    def at_boundary(self) -> bool:
        """No unfinished batch: the carry is empty."""
        return self.carry_rows == 0

    def is_finite(self) -> bool:
        return bool(np.isfinite(self.weights).all()) and math.isfinite(self.bias)

    # -- the two calls ---------------------------------------------------------------
    def train_block(self, X, labels, rule: StepRule, mean, inv_scale, *, order=_NO_ORDER,
                    start: int = 0, stop: int | None = None, max_updates: int = -1,
                    row_weights: np.ndarray | None = None) -> tuple[int, int]:
        """Train on rows ``order[start:stop]`` of the block ``X`` (empty ``order``: file
        order), ``labels`` in training order, standardized by ``mean``/``inv_scale``.

        Every ``rule.batch_size`` rows one averaged step is taken; a batch left
        unfinished at ``stop`` stays in the carry. Stops after ``max_updates``
        updates (< 0: no limit). ``row_weights`` (float64, in training order like
        ``labels``; None: unweighted) weight the rows' losses and gradients.
        Returns ``(position, status)``: :func:`streamneuron.kernels.sgd_block`'s next
        row and ``OK``, ``PAUSED`` or ``NONFINITE``.
        """
        if row_weights is None:
            row_weights = _NO_WEIGHTS
        else:
            row_weights = np.asarray(row_weights, dtype=np.float64)
            if row_weights.shape != labels.shape:  # the kernel reads them without checks
                raise ValueError(f"{row_weights.shape[0]} row weights for {labels.shape[0]} "
                                 "labels")
        record = self._record()
        pos, status = kernels.sgd_block(
            kernels.Rows(X, labels, order, row_weights, mean, inv_scale), self._arrays(record),
            rule, start=start, stop=stop, max_updates=max_updates)
        self._take(record)
        return pos, status

    def finish_pass(self, rule: StepRule) -> tuple[int, float]:
        """End a pass: step on the last short batch, as it is (if any rows are carried).

        Returns ``(rows, objective)`` of the pass (objective: the (weighted) mean loss
        at the weights each row met, plus the penalties at the final weights:
        :func:`objective`; NaN when the pass's weights sum to 0) and starts the next
        pass's sums from zero.
        """
        if self.carry_rows > 0:
            record = self._record()
            kernels.apply_update(self._arrays(record), rule)
            self._take(record)
        rows = self.rows_seen
        value = objective(self.loss_sum, self.weight_seen, self.weights, rule) \
            if self.weight_seen > 0 else math.nan
        self.loss_sum, self.rows_seen, self.weight_seen = 0.0, 0, 0.0
        return rows, value

    # -- the kernel's record, and the checkpoint ----------------------------------------
    def _record(self) -> np.ndarray:
        record = kernels.new_state()
        record[0] = tuple(float(getattr(self, name)) for name in _SCALARS)
        return record

    def _arrays(self, record: np.ndarray) -> "kernels.Arrays":
        return kernels.Arrays(self.weights, record, self.carry_w, self.avg_w, self.g2, self.l1_u,
                              self.l1_q)

    def _take(self, record: np.ndarray) -> None:
        for name, value in zip(_SCALARS, record.tolist()[0]):
            setattr(self, name, int(value) if name in _COUNTS else value)

    def to_dict(self) -> dict:
        """Every field but the weights (saved with the model), by name."""
        out = {name: getattr(self, name) for name in _SCALARS}
        for name in _VECTORS:
            out[name] = getattr(self, name).tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict, weights: np.ndarray) -> "TrainState":
        """The inverse of :meth:`to_dict`; ``ValueError``/``KeyError``/``TypeError`` if
        ``data`` does not fit (the checkpoint code turns them into its error)."""
        if not isinstance(data, dict):
            raise TypeError(f"the state is a {type(data).__name__}, not a mapping")
        values = {}
        for name, extra in _VECTORS.items():
            array = np.asarray(data[name], dtype=np.float64)
            shape = (weights.shape[0] + extra,)
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, not {shape}")
            values[name] = array
        for name in _SCALARS:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} is {value!r}, not a number")
            if name in _COUNTS:
                if value != int(value) or value < 0:
                    raise ValueError(f"{name} is {value!r}, not a count")
                value = int(value)
            values[name] = value if name in _COUNTS else float(value)
        return cls(weights, **values)


def objective(loss_sum: float, weight_sum: float, weights: np.ndarray, rule: StepRule) -> float:
    """``J = loss_sum / weight_sum + (l2/2) ||w||**2 + l1 ||w||_1`` (the bias is not
    penalised): the pass's (weighted) mean loss and the penalties at ``weights``. The L1
    term is added only when ``l1 > 0`` (the L1-free objective is the same number as
    before L1 existed)."""
    value = loss_sum / weight_sum + 0.5 * rule.l2 * float(weights @ weights)
    if rule.l1 > 0:
        value += rule.l1 * float(np.abs(weights).sum())
    return float(value)


__all__ = ["TrainState", "StepRule", "objective", "OK", "PAUSED", "NONFINITE"]
