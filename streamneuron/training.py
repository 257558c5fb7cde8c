"""The SGD training state, by name, and the two calls every trainer makes.

:class:`TrainState` is everything a run carries from one block to the next: the
weights and bias, the update count ``t`` (it drives the ``invscaling`` schedule),
the gradient sums of the unfinished batch (a batch may straddle blocks), and the
pass's loss sum. :class:`StepRule` is what shapes each step (batch size, the
schedule's ``(lr, power)``, ``l2``).

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
_NO_ADAGRAD = np.empty(0, dtype=np.float64)

# The scalar fields: those of the kernels' state record (kernels.STATE).
_SCALARS = kernels.STATE.names
_COUNTS = ("updates", "carry_rows", "rows_seen", "avg_count")


@dataclass(frozen=True)
class StepRule:
    """How each step is taken: ``batch_size`` rows per step, ``lr_t = lr / (1 + t)**power``
    (``power = 0``: constant), ``l2`` on the weights, ``loss_id`` the kernel's loss."""

    loss_id: int
    batch_size: int
    lr: float
    power: float = 0.0
    l2: float = 0.0
    average: int = 0  # averaged SGD: average the iterates from update ``average`` on (0: off)
    adagrad: bool = False  # per-coordinate AdaGrad steps (the schedule "adagrad")

    @classmethod
    def of(cls, loss, batch_size: int, lr: float, schedule: str = "constant",
           power_t: float = 0.5, l2: float = 0.0, average=0) -> "StepRule":
        """From the user's parameters (``loss``: a loss object of :mod:`streamneuron.losses`;
        ``average``: False/0 off, True from the first update, N from update N on)."""
        made = make_schedule(schedule, lr, power_t)
        lr0, power = made.kernel_params
        return cls(int(loss.kernel_id), int(batch_size), lr0, power, float(l2),
                   average_start(average), bool(made.adaptive))


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

    def __post_init__(self):
        if self.avg_w is None:
            self.avg_w = np.zeros_like(self.weights)
        if self.g2 is None:
            self.g2 = np.zeros(self.weights.shape[0] + 1)

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
                    start: int = 0, stop: int | None = None,
                    max_updates: int = -1) -> tuple[int, int]:
        """Train on rows ``order[start:stop]`` of the block ``X`` (empty ``order``: file
        order), ``labels`` in training order, standardized by ``mean``/``inv_scale``.

        Every ``rule.batch_size`` rows one averaged step is taken; a batch left
        unfinished at ``stop`` stays in the carry. Stops after ``max_updates``
        updates (< 0: no limit). Returns ``(position, status)``:
        :func:`streamneuron.kernels.sgd_block`'s next row and ``OK``, ``PAUSED`` or
        ``NONFINITE``.
        """
        record = self._record()
        pos, status = kernels.sgd_block(
            X, labels, order, start, X.shape[0] if stop is None else stop, self.weights,
            record, self.carry_w, mean, inv_scale, rule.loss_id, rule.batch_size, rule.lr,
            rule.power, rule.l2, max_updates, self.avg_w, float(rule.average),
            self.g2 if rule.adagrad else _NO_ADAGRAD)
        self._take(record)
        return pos, status

    def finish_pass(self, rule: StepRule) -> tuple[int, float]:
        """End a pass: step on the last short batch, as it is (if any rows are carried).

        Returns ``(rows, objective)`` of the pass (objective: the mean loss at the
        weights each row met, plus the L2 term at the final weights) and starts the
        next pass's loss sum from zero.
        """
        if self.carry_rows > 0:
            record = self._record()
            kernels.apply_update(self.weights, record, self.carry_w, rule.lr, rule.power,
                                 rule.l2, self.avg_w, float(rule.average),
                                 self.g2 if rule.adagrad else _NO_ADAGRAD)
            self._take(record)
        w = self.weights
        rows = self.rows_seen
        objective = float(self.loss_sum / rows + 0.5 * rule.l2 * float(w @ w)) if rows else math.nan
        self.loss_sum, self.rows_seen = 0.0, 0
        return rows, objective

    # -- the kernel's record, and the checkpoint ----------------------------------------
    def _record(self) -> np.ndarray:
        record = kernels.new_state()
        record[0] = tuple(float(getattr(self, name)) for name in _SCALARS)
        return record

    def _take(self, record: np.ndarray) -> None:
        for name, value in zip(_SCALARS, record.tolist()[0]):
            setattr(self, name, int(value) if name in _COUNTS else value)

    def to_dict(self) -> dict:
        """Every field but the weights (saved with the model), by name."""
        out = {name: getattr(self, name) for name in _SCALARS}
        out["carry_w"] = self.carry_w.tolist()
        out["avg_w"] = self.avg_w.tolist()
        out["g2"] = self.g2.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict, weights: np.ndarray) -> "TrainState":
        """The inverse of :meth:`to_dict`; ``ValueError``/``KeyError``/``TypeError`` if
        ``data`` does not fit (the checkpoint code turns them into its error)."""
        if not isinstance(data, dict):
            raise TypeError(f"the state is a {type(data).__name__}, not a mapping")
        carry_w = np.asarray(data["carry_w"], dtype=np.float64)
        if carry_w.shape != weights.shape:
            raise ValueError(f"carry_w has shape {carry_w.shape}, the weights {weights.shape}")
        avg_w = np.asarray(data["avg_w"], dtype=np.float64)
        if avg_w.shape != weights.shape:
            raise ValueError(f"avg_w has shape {avg_w.shape}, the weights {weights.shape}")
        g2 = np.asarray(data["g2"], dtype=np.float64)
        if g2.shape != (weights.shape[0] + 1,):
            raise ValueError(f"g2 has shape {g2.shape}, not ({weights.shape[0] + 1},)")
        values = {}
        for name in _SCALARS:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} is {value!r}, not a number")
            if name in _COUNTS:
                if value != int(value) or value < 0:
                    raise ValueError(f"{name} is {value!r}, not a count")
                value = int(value)
            values[name] = value if name in _COUNTS else float(value)
        return cls(weights, carry_w, avg_w=avg_w, g2=g2, **values)


__all__ = ["TrainState", "StepRule", "OK", "PAUSED", "NONFINITE"]
