"""The SGD training state, by name, the two calls every trainer makes, and the pass policy.

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
:class:`streamneuron.NeuronClassifier` all train through them, and all follow one
:class:`PassPolicy`: the batch size and learning rate when none is given, each pass's
average with ``schedule="auto"``, the convergence rule, what a next call continues
(in-memory passes: :meth:`PassPolicy.train_array`).

The state is saved to a checkpoint by name (:meth:`TrainState.to_dict`); floats
round-trip exactly through JSON, so a resumed run is bit-identical. Counts are kept
as integers here and as float64 in the kernel's record (exact below 2**53).
"""

from __future__ import annotations

import math
from functools import partial
from dataclasses import dataclass, field

import numpy as np

from . import defaults, kernels
from .errors import DivergenceError
from .penalty import Penalty
from .schedules import get_schedule
from .stream import block_order

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
# ... and those of lazily held level weights, saved when there are such
_LEVEL_VECTORS = ("level_anchor", "level_stamp", "level_sum")


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
        ``schedule``: a name of :data:`streamneuron.schedules.SCHEDULES`; ``average``:
        False/0 off, True from the first update, N from update N on)."""
        made = get_schedule(schedule)
        lr0, power = made.kernel_params(lr, power_t)
        return cls(int(loss.kernel_id), int(batch_size), lr0, power, float(l2),
                   average_start(average), made.adagrad, float(l1))


def average_start(average) -> int:
    """The update from which averaged SGD averages: ``True`` -> 1, ``False`` -> 0 (off),
    a whole number ``N >= 0`` -> ``N`` (0: off)."""
    return int(average)


def compile_ahead(rule: StepRule, X: np.ndarray, order: np.ndarray, *, weighted: bool,
                  imputation: tuple = ()) -> bool:
    """On a cold cache, start compiling the SGD kernels that training blocks like ``X``
    (rows in ``order``; ``weighted``: with row weights) by ``rule`` calls, in a helper
    process (:func:`streamneuron.kernels.compile_ahead`): only when they are compiled
    changes. True when a helper was started."""
    d = X.shape[1] + (imputation[1].shape[0] if imputation else 0)
    n = order.shape[0] or X.shape[0]
    state = TrainState.start(np.zeros(d))
    rows = kernels.Rows(X, np.zeros(n), order, np.ones(n) if weighted else _NO_WEIGHTS,
                        np.zeros(d), np.ones(d), *imputation)
    return kernels.compile_ahead(rows, state._arrays(state._record()), rule)


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
    # Level weights held lazily (AdaGrad with categorical columns,
    # :mod:`streamneuron.kernels.categorical_sgd`): each weight's anchor, the update
    # count it holds for (its stamp), and the sum of its iterates in the running average
    # up to it; None until such a block is trained. ``weights``' (and ``avg_w``'s) level
    # entries are then written from them by :meth:`sync`.
    level_anchor: np.ndarray | None = None
    level_stamp: np.ndarray | None = None
    level_sum: np.ndarray | None = None
    levels_from: int = -1  # d: the first level weight held lazily (-1: none)
    _stale_rule: "StepRule | None" = field(default=None, repr=False, compare=False)

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
        self.sync()
        if rule.average > 0 and self.avg_count > 0:
            return self.avg_w, float(self.avg_b)
        return self.weights, float(self.bias)

    @property
    def at_boundary(self) -> bool:
        """No unfinished batch: the carry is empty."""
        return self.carry_rows == 0

    def is_finite(self) -> bool:
        self.sync()
        return bool(np.isfinite(self.weights).all()) and math.isfinite(self.bias)

    def continued(self) -> "TrainState":
        """A copy to train on from here, at a batch boundary: the iterates, their running
        average, AdaGrad's and L1's sums (and lazily held level weights) carried over;
        the carry and the pass's sums empty."""
        self.sync()
        lazy = {name: getattr(self, name).copy() for name in _LEVEL_VECTORS
                if getattr(self, name) is not None}
        return TrainState(self.weights.copy(), np.zeros_like(self.weights), self.bias,
                          self.updates, avg_b=self.avg_b, avg_count=self.avg_count,
                          avg_w=self.avg_w.copy(), g2=self.g2.copy(), l1_u=self.l1_u.copy(),
                          l1_q=self.l1_q.copy(), levels_from=self.levels_from, **lazy)

    # -- lazily held level weights ------------------------------------------------------
    def _levels(self, d: int) -> tuple:
        """The lazy arrays (anchor, stamp, sum) of level weights from ``d`` on, made from
        the weights as they are when missing (a fresh state, or one saved without them)."""
        if self.level_anchor is None:
            self.level_anchor = self.weights.copy()
            self.level_stamp = np.full(self.weights.shape[0], float(self.updates))
            self.level_sum = self.avg_w * float(self.avg_count)
        self.levels_from = d
        return self.level_anchor, self.level_stamp, self.level_sum

    def _drop_levels(self) -> None:
        """Back to the dense step (a next call with another step rule): the level
        weights' values written, the lazy arrays dropped."""
        if self.level_anchor is not None:
            self.sync()
            self.level_anchor = self.level_stamp = self.level_sum = None
            self.levels_from = -1

    def sync(self) -> None:
        """Write the lazily held level weights' values (and averages) at the current
        update into ``weights`` (``avg_w``): after it they are the model's. A function of
        the anchors alone, so when it is called changes no number."""
        rule = self._stale_rule
        if rule is not None:
            self._stale_rule = None
            kernels.sync_levels(self._arrays(self._record()), self._levels(self.levels_from),
                                rule, self.levels_from)

    # -- the two calls ---------------------------------------------------------------
    def train_block(self, X, labels, rule: StepRule, mean, inv_scale, *, order=_NO_ORDER,
                    start: int = 0, stop: int | None = None, max_updates: int = -1,
                    row_weights: np.ndarray | None = None, codes: np.ndarray | None = None,
                    imputation: tuple = ()) -> tuple[int, int]:
        """Train on rows ``order[start:stop]`` of the block ``X`` (empty ``order``: file
        order), ``labels`` in training order, standardized by ``mean``/``inv_scale``.

        Every ``rule.batch_size`` rows one averaged step is taken; a batch left
        unfinished at ``stop`` stays in the carry. Stops after ``max_updates``
        updates (< 0: no limit). ``row_weights`` (float64, in training order like
        ``labels``; None: unweighted) weight the rows' losses and gradients. ``codes``
        (None: no categorical columns): each row's level codes, in the rows' file order
        like ``X`` (:func:`streamneuron.kernels.sgd_codes_block`). ``imputation``
        ``(fill, indicated)`` (``--missing impute``, :class:`~streamneuron.kernels.Rows`'
        fields): ``X`` holds the raw features with the gaps NaN, imputed by the kernel.
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
        rows = kernels.Rows(X, labels, order, row_weights, mean, inv_scale, *imputation)
        d = X.shape[1]
        if codes is None:
            train = kernels.sgd_block
        elif kernels.lazy_applies(rule, self.weights.shape[0] - d, codes.shape[1]):
            train = partial(kernels.sgd_codes_block, codes=codes, levels=self._levels(d))
            self._stale_rule = rule  # the level weights' values: sync()
        else:
            self._drop_levels()
            train = partial(kernels.sgd_codes_block, codes=codes)
        pos, status = train(rows, arrays=self._arrays(record), rule=rule, start=start,
                            stop=stop, max_updates=max_updates)
        self._take(record)
        return pos, status

    def finish_pass(self, rule: StepRule) -> tuple[int, float]:
        """End a pass: step on the last short batch, as it is (if any rows are carried).

        Returns ``(rows, objective)`` of the pass (objective: the (weighted) mean loss
        at the weights each row met, plus the penalties at the final weights:
        :func:`objective`; NaN when the pass's weights sum to 0) and starts the next
        pass's sums from zero.
        """
        if self.carry_rows > 0 and self.level_anchor is not None:
            record = self._record()
            kernels.finish_levels(self._arrays(record), self._levels(self.levels_from), rule,
                                  self.levels_from)
            self._take(record)
            self._stale_rule = None
        elif self.carry_rows > 0:
            record = self._record()
            kernels.apply_update(self._arrays(record), rule)
            self._take(record)
        self.sync()
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
        if self.level_anchor is not None:
            out["levels_from"] = self.levels_from
            for name in _LEVEL_VECTORS:
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
        if "level_anchor" in data:
            for name in _LEVEL_VECTORS:
                array = np.asarray(data[name], dtype=np.float64)
                if array.shape != weights.shape:
                    raise ValueError(f"{name} has shape {array.shape}, not {weights.shape}")
                values[name] = array
            values["levels_from"] = int(data["levels_from"])
        return cls(weights, **values)


@dataclass(frozen=True)
class PassPolicy:
    """How SGD passes are driven, the one policy of every trainer (the engine of
    :func:`streamneuron.fit_sgd`, :class:`streamneuron.NeuronClassifier`'s SGD,
    :meth:`streamneuron.Neuron.partial_fit`), made from the user's parameters by :meth:`of`:

    * ``rule``, each step's :class:`StepRule`, with the defaults that need no tuning
      (:mod:`streamneuron.defaults`): no batch size given, ``auto_batch_size(n_rows)``;
      no learning rate given, the schedule's ``default_lr``;
    * ``average_each_pass``: with a schedule that asks for it (``auto``) and no
      ``average``, the model is the average of the last pass's iterates, the average
      restarting when a pass starts (:meth:`start_pass`);
    * ``max_passes`` and ``until_converged``: ``passes`` given, exactly that many;
      else up to ``defaults.MAX_EPOCHS``, stopping once :meth:`converged` (the rule of
      ``defaults.converged`` at ``tol``; with ``early_stopping`` the engine's checks
      decide instead, ``passes`` a maximum);
    * what a next call continues (:meth:`carried`, :meth:`state`): with an average,
      AdaGrad or L1 the whole training state, else only the weights, bias and ``t``.
    """

    rule: StepRule
    average_each_pass: bool = False
    max_passes: int = 1
    until_converged: bool = False
    tol: float = defaults.CONVERGENCE_TOL

    @classmethod
    def of(cls, loss, n_rows: int, *, batch_size: int | str | None = None,
           lr: float | None = None, schedule: str = defaults.AUTO_SCHEDULE,
           power_t: float = 0.5, l2: float = 0.0, average=0, l1: float = 0.0,
           passes: int | None = None, early_stopping: bool = False,
           tol: float | None = None) -> "PassPolicy":
        """``loss``: a loss object; ``n_rows``: the rows of a pass; ``batch_size`` None
        or ``"auto"``, and ``lr`` None: the defaults; ``passes`` None: until converged."""
        batch_size, lr, tol = cls.given_or_default(n_rows, schedule, batch_size=batch_size,
                                                   lr=lr, tol=tol)
        each_pass = get_schedule(schedule).average_each_pass and not average
        rule = StepRule.of(loss, batch_size, lr, schedule, power_t, l2,
                           1 if each_pass else average, l1=l1)
        return cls(rule, each_pass, defaults.MAX_EPOCHS if passes is None else int(passes),
                   passes is None and not early_stopping, tol)

    @staticmethod
    def given_or_default(n_rows: int, schedule: str, *, batch_size: int | str | None = None,
                         lr: float | None = None, tol: float | None = None) -> tuple:
        """``(batch_size, lr, tol)``: each as given, or its default when None (the batch
        size also when ``"auto"``): ``defaults.auto_batch_size(n_rows)``, the schedule's
        ``default_lr``, ``defaults.CONVERGENCE_TOL``. What a run records as its
        parameters (a checkpoint compares them on resume)."""
        if batch_size is None or batch_size == "auto":
            batch_size = defaults.auto_batch_size(n_rows)
        return (batch_size, get_schedule(schedule).default_lr if lr is None else lr,
                defaults.CONVERGENCE_TOL if tol is None else tol)

    def start_pass(self, state: TrainState) -> None:
        """A pass begins: with ``average_each_pass`` its average restarts (the pass's
        first update replaces it)."""
        if self.average_each_pass:
            state.avg_count = 0

    def converged(self, objectives, n_rows: int) -> bool:
        """The convergence rule on the passes' training objectives so far
        (:func:`streamneuron.defaults.converged` at ``tol``)."""
        return defaults.converged(objectives, n_rows, self.tol)

    @property
    def keeps_state(self) -> bool:
        """Whether training continues from the whole state (the average of the iterates,
        AdaGrad's sums, L1's sums), not from the model's weights alone."""
        rule = self.rule
        return rule.average > 0 or rule.adagrad or rule.l1 > 0

    def state(self, weights: np.ndarray, bias: float, updates: int,
              previous: TrainState | None = None) -> TrainState:
        """The state a call trains: ``previous`` continued when the policy keeps state
        and there is one, else a fresh state from a copy of ``weights``."""
        if previous is not None and self.keeps_state:
            return previous.continued()
        return TrainState.start(weights.copy(), bias, updates)

    def carried(self, state: TrainState) -> TrainState | None:
        """What a next call continues from after training ``state``: the state itself
        when the policy keeps state, else None (the model's weights suffice)."""
        return state if self.keeps_state else None

    def model(self, state: TrainState) -> tuple[np.ndarray, float]:
        """The model trained: the running average with averaged SGD, else the iterate."""
        return state.model(self.rule)

    def train_array(self, state: TrainState, X, y, center: np.ndarray, inv_scale: np.ndarray,
                    *, row_weights: np.ndarray | None = None, seed: int = 0,
                    shuffle: bool = True, first_pass: int = 0,
                    unscaled: bool = False, codes: np.ndarray | None = None) -> list[float]:
        """Passes over in-memory rows ``(X, y)``, the whole array one block: pass ``p``
        (counted from ``first_pass``) visits the rows in ``block_order(n, seed, p)``, the
        order :func:`streamneuron.fit_sgd` gives a source of one unit in epoch ``p``, and
        ends with :meth:`TrainState.finish_pass`. Up to ``max_passes`` passes, fewer when
        ``until_converged`` and :meth:`converged`. Returns the passes' objectives;
        DivergenceError naming the pass when the weights stop being finite (``unscaled``:
        the features are not standardized, which it then suggests). ``codes``: the rows'
        level codes (categorical columns), in the rows' order like ``X``."""
        n, rule, curve = X.shape[0], self.rule, []
        for p in range(first_pass, first_pass + self.max_passes):
            self.start_pass(state)
            order = block_order(n, seed=seed, epoch=p, block=0, shuffle=shuffle)
            labels = y[order] if order.size else y  # in training order
            in_order = row_weights[order] if row_weights is not None and order.size \
                else row_weights
            _, status = state.train_block(X, labels, rule, center, inv_scale, order=order,
                                          row_weights=in_order, codes=codes)
            if status == OK:
                _, objective = state.finish_pass(rule)  # the last short batch, as it is
            if status != OK or not state.is_finite():
                raise DivergenceError(
                    f"the weights became infinite in pass {p + 1}: lower lr (now {rule.lr!r})"
                    + (" or standardize the features" if unscaled else ""))
            curve.append(objective)
            if self.until_converged and self.converged(curve, n):
                break
        return curve


def objective(loss_sum: float, weight_sum: float, weights: np.ndarray, rule: StepRule) -> float:
    """``J = loss_sum / weight_sum + (l2/2) ||w||**2 + l1 ||w||_1`` (the bias is not
    penalised): the pass's (weighted) mean loss and the penalties at ``weights``. The L1
    term is added only when ``l1 > 0`` (the L1-free objective is the same number as
    before L1 existed)."""
    return float(Penalty(l2=rule.l2, l1=rule.l1).objective(loss_sum / weight_sum, weights))


__all__ = ["TrainState", "StepRule", "PassPolicy", "objective", "OK", "PAUSED", "NONFINITE"]
