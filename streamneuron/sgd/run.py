"""One SGD run's loop: blocks in, checkpoints when due, signals, checks, history.

:class:`Run` takes the blocks of :func:`streamneuron.stream.iter_blocks` and trains
on each through :meth:`streamneuron.training.TrainState.train_block`, at most
``CALL_ROWS`` rows per kernel call, so that everything that interrupts the loop
(a due checkpoint, a signal, a held-out check every ``validate_every`` updates)
meets the position and state at a batch boundary within milliseconds. At an
epoch's end it closes the pass (:meth:`~streamneuron.training.TrainState.finish_pass`),
checks, records the history and asks the pass policy
(:class:`streamneuron.training.PassPolicy`) whether the run has converged.
:func:`streamneuron.fit_sgd` (:mod:`.engine`) sets a run up.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np

from .. import checkpoint as ckpt
from .. import defaults
from ..errors import DivergenceError, TrainingInterrupted
from ..losses import get_loss
from ..neuron import Neuron
from ..penalty import Penalty, default_l2
from ..stats import first_pass, model_columns, pending_fills, raise_nonfinite, streaming_moments
from ..stop import StopReason
from ..stream import Position, block_like, block_rows, held_out, iter_blocks
from ..training import NONFINITE, PassPolicy, TrainState, compile_ahead
from ..validation import FIELDS, Stopping, encoded_like, kept_rows, training_objective, validate
from ..weighting import check_total, describe_weights

# Rows per kernel call: small enough to notice a signal or a due checkpoint within
# milliseconds, large enough that the per-call overhead (boxing the arguments) is
# negligible next to the rows trained.
CALL_ROWS = 1 << 16
# Blocks decoded ahead on the reader thread (memory: PREFETCH + 1 decoded blocks).
PREFETCH = 1


@dataclass(frozen=True)
class SGDParams:
    """Everything that shapes the arithmetic of a run (a resume must match it)."""

    # No defaults here: fit_sgd sets every field (its defaults are the parameter table's).
    loss: str
    batch_size: int
    lr: float
    schedule: str
    power_t: float
    l2: float | None  # None until Run settles it (penalty.default_l2)
    seed: int
    shuffle: bool
    window: int
    standardize: bool
    validation_fraction: float
    validate_every: int | None
    early_stopping: bool
    patience: int
    tol: float
    average: int  # averaged SGD from this update on (0: off)
    l1: float
    # None, "balanced" or [a0, a1] (a mapping {0: a0, 1: a1} made JSON-stable, so that a
    # resume compares equal)
    class_weight: str | list | None
    weight: str | None  # the source's weight column (None: none)
    max_levels: int  # categorical columns: the most levels a column may have
    hash_bits: int  # ... past it, hashed into 2**hash_bits weights (0: not hashed)
    missing: str = "error"  # --missing

    def policy(self, n_rows: int, epochs: int | None) -> PassPolicy:
        """The pass policy of these parameters, for ``n_rows`` rows and ``epochs``
        (None: until converged, unless stopping early)."""
        return PassPolicy.of(get_loss(self.loss), n_rows, batch_size=self.batch_size,
                             lr=self.lr, schedule=self.schedule, power_t=self.power_t,
                             l2=self.l2, average=self.average, l1=self.l1, passes=epochs,
                             early_stopping=self.early_stopping, tol=self.tol)


class StopRequest:
    """SIGINT/SIGTERM set a flag; the engine stops at the next batch boundary.

    A second signal stops at once (raising ``TrainingInterrupted`` wherever the
    main thread is): the checkpoint on disk is then the last one written, intact
    since every write is atomic.
    """

    def __init__(self, checkpoint: str | None = None):
        self.signal: int | None = None
        self.checkpoint = checkpoint

    def __call__(self, signum, frame):
        if self.signal is not None:
            raise TrainingInterrupted(
                f"stopped at once by a second {signal.Signals(signum).name}; the last checkpoint "
                f"in {self.checkpoint} is intact: run the same command with --resume to continue "
                "from it")
        self.signal = signum

    @contextlib.contextmanager
    def installed(self, active: bool):
        if not active or threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


@dataclass(frozen=True)
class Checkpointing:
    """Where and when a run writes its checkpoint: in ``folder`` (None: never), every
    ``every`` updates (None: only by time), at least every ``seconds``; with the
    input's ``fingerprint``."""

    folder: str | None
    every: int | None
    seconds: float
    fingerprint: dict | None


@dataclass(frozen=True)
class Hooks:
    """What the caller hears: ``progress(rows, mean loss)`` after each kernel call,
    ``on_epoch(row)``, ``on_check(row)``, ``notify(message)``; None: nothing."""

    progress: Callable[[int, float], None] | None = None
    on_epoch: Callable[[dict], None] | None = None
    on_check: Callable[[dict], None] | None = None
    notify: Callable[[str], None] | None = None


class Run:
    """One training run: the model, its training state, and where the stream is."""

    def __init__(self, source, params: SGDParams, epochs: int | None, saving: Checkpointing,
                 hooks: Hooks, validation=None):
        self.source = source
        self.saving, self.hooks = saving, hooks
        self.checkpoint = saving.folder
        self.moments = None  # the standardization pass's, when settling l2 needed it
        self.kept_weight: float | None = None  # W of the default l2, from that pass
        self.params = params
        self.validation = validation  # a Source validated on whole, or None
        if (source.categorical and source.levels is None) or pending_fills(source):
            self._first_pass()  # the levels (and fills) are learned in that pass
        if params.l2 is None:
            self.params = params = replace(params, l2=default_l2(self._weight_total()))
        self.policy = policy = params.policy(source.n_rows, epochs)
        self.epochs = policy.max_passes
        self.rule = policy.rule
        self.state: TrainState | None = None
        self.history: list[dict] = []
        self.position = Position()
        self.epoch_seconds = 0.0  # seconds spent in the current epoch before a resume
        self.last_save = (time.monotonic(), 0)
        self.stopping = Stopping()
        self.holdout_source = self.source  # where the held-out rows are read for a check
        self.start = None  # a warmstart.Start, or None: zeros

    def _say(self, message: str) -> None:
        if self.hooks.notify is not None:
            self.hooks.notify(message)

    # -- set-up -----------------------------------------------------------------
    def _weight_total(self) -> float:
        """``W`` of the default ``l2``: the training rows (those not held out), or
        (weighted) the sum of their weights, from the standardization pass."""
        if not self.source.weighted:
            p = self.params
            return float(kept_rows(self.source.n_rows, p.validation_fraction, p.seed))
        if self.kept_weight is None:
            self._first_pass()
        return self.kept_weight

    def _first_pass(self) -> None:
        """The standardization pass (kept for the model), which also sums the training
        rows' weights and counts the categorical columns' levels: the source (and the
        validation data) are encoded by them from here on."""
        p = self.params
        fraction, seed = p.validation_fraction, p.seed
        kept = [0.0]

        def add(block) -> None:
            if self.source.weighted:
                w = block.w if block.w is not None else np.ones(len(block.y))
                if fraction > 0:
                    w = w[~held_out(block_rows(self.source, block.units), fraction, seed)]
                kept[0] += float(w.sum())

        self.moments, self.source = first_pass(
            self.source, max_levels=p.max_levels, reference=p.l2 == 0 and p.l1 == 0,
            hash_bits=p.hash_bits, on_block=add)
        if self.source.weighted:  # all weights 0: say so, before 0/0 makes the scale NaN
            check_total(float(self.moments.weight), describe_weights(self.source))
        self.kept_weight = kept[0]
        if self.validation is not None:
            self.validation = encoded_like(self.validation, self.source)

    def _moments(self, on_block=None):
        """The standardization pass (weighted when the rows are)."""
        moments = streaming_moments(self.source, on_block=on_block)
        if self.source.weighted:  # all weights 0: say so, before 0/0 makes the scale NaN
            check_total(float(moments.weight), describe_weights(self.source))
        return moments

    def _fresh_model(self) -> Neuron:
        stats = None
        if self.params.standardize:
            moments = self.moments if self.moments is not None else self._moments()
            stats = (moments.mean, moments.scale())
        model = Neuron(self.source.n_features, self.params.loss,
                       feature_names=self.source.feature_names, label=self.source.label,
                       standardize=stats, **model_columns(self.source))
        if self.start is not None:
            self.start.apply(model)
        return model

    def _restore(self) -> Neuron:
        folder = self.checkpoint
        resumed = ckpt.resume(folder, asdict(self.params), self.saving.fingerprint, self.epochs,
                              self.source.n_features, warn=self.hooks.notify)
        self.state = resumed.state
        self.history = resumed.history
        self.position = resumed.position
        self.epoch_seconds = resumed.epoch_seconds
        self.stopping = resumed.stopping or Stopping()
        if self.stopping.stopped or (self.policy.until_converged and self._converged()):
            # it stopped early or converged (a crash before the final save): nothing is
            # left to train
            self.position = Position(self.epochs, 0, 0)
        if resumed.position == Position(self.epochs, 0, 0):
            self._say(f"{folder} holds {ckpt.describe(resumed.payload)}; writing its model")
        else:
            self._say(f"resuming from {folder}: {ckpt.describe(resumed.payload)}")
        return resumed.model

    def _save(self, model: Neuron, position: Position, epoch_seconds: float,
              complete: bool = False) -> None:
        ckpt.save(self.checkpoint, ckpt.run_payload(
            model, self.state, position, epochs=self.epochs, complete=complete,
            epoch_seconds=epoch_seconds, history=self.history, params=asdict(self.params),
            input_fingerprint=self.saving.fingerprint, stopping=self.stopping.to_dict()))
        self.last_save = (time.monotonic(), self.state.updates)

    def _start(self) -> Neuron:
        """A fresh run: the model (after the standardization pass) and its state, saved
        at once when checkpointing (from here on a crash can resume)."""
        model = self._fresh_model()
        self.state = TrainState.start(model.weights, model.bias)  # trains the model's weights in place
        if self.checkpoint:
            self._save(model, Position(), 0.0)
        return model

    def _blocks(self):
        """The stream of blocks from the run's position on (held-out rows left out)."""
        p = self.params
        holdout = (p.validation_fraction, p.seed) if p.validation_fraction > 0 else None
        return iter_blocks(self.source, self.position, epochs=self.epochs, shuffle=p.shuffle,
                           seed=p.seed, window=p.window, prefetch=PREFETCH, holdout=holdout,
                           width=self._width())

    def _imputation(self) -> tuple:
        """``--missing impute``, shuffled, no codes: narrow blocks, the kernel imputes."""
        s = self.source
        return s.kernel_imputation() if self.params.shuffle and s.reuse_buffers and not s.categorical else ()

    def _width(self) -> int | None:
        imputation = self._imputation()
        return self.source.n_features - len(imputation[1]) if imputation else None

    # -- the loop ---------------------------------------------------------------
    def _compile_ahead(self) -> None:
        """On a cold cache, the SGD kernel compiles in a helper process while this one
        makes the standardization pass (:func:`streamneuron.training.compile_ahead`).
        Sources decoded into buffers only: their blocks' types are known before any
        is read."""
        if self.source.reuse_buffers:
            p = self.params
            X, order = block_like(self.source, shuffle=p.shuffle,
                                  holdout=p.validation_fraction > 0, width=self._width())
            compile_ahead(self.rule, X, order, weighted=self.source.weighted,
                          imputation=self._imputation())

    def run(self, resume: bool) -> Neuron:
        self._compile_ahead()
        model = self._restore() if resume else self._start()
        p, st, rule, imputation = self.params, self.state, self.rule, self._imputation()
        n_blocks = math.ceil(len(self.source.units) / p.window)
        self.last_save = (time.monotonic(), st.updates)
        epoch_start = time.perf_counter() - self.epoch_seconds
        stop = StopRequest(self.checkpoint)
        blocks = self._blocks()
        every = p.validate_every if self._validates else None
        stopped = False
        with stop.installed(active=self.checkpoint is not None), contextlib.closing(blocks):
            for block in blocks:
                epoch, k = block.position.epoch, block.position.block
                pos, n = block.position.row, block.n_train
                if k == 0 and pos == 0:
                    self.policy.start_pass(st)  # ("auto": a new epoch's average)
                while pos < n:
                    if stop.signal is not None and st.at_boundary:
                        # e.g. the signal came while the block was being read
                        self._interrupt(model, Position(epoch, k, pos), epoch_start, stop.signal)
                    limit = self._updates_until_checkpoint() if stop.signal is None else 1
                    if every is not None:  # pause at the next multiple of validate_every
                        due = every - st.updates % every
                        limit = due if limit < 0 else min(limit, due)
                    before = st.rows_seen
                    pos, status = st.train_block(
                        block.X, block.labels, rule, model.center, model.inv_scale,
                        order=block.order, start=pos, stop=min(n, pos + CALL_ROWS),
                        max_updates=limit, row_weights=block.row_weights, codes=block.codes,
                        imputation=imputation)
                    if status == NONFINITE:
                        self._nonfinite(block, pos)
                    if self.hooks.progress is not None:
                        self.hooks.progress(st.rows_seen - before, st.loss_sum / max(st.rows_seen, 1.0))
                    if every is not None and st.at_boundary and st.updates % every == 0 and st.updates > 0 and \
                            st.updates != self.stopping.last_check_updates:
                        if self._check(model, epoch + 1, None):
                            stopped = True
                            break
                    if stop.signal is not None and st.at_boundary and pos < n:
                        self._interrupt(model, Position(epoch, k, pos), epoch_start, stop.signal)
                    if self.checkpoint and st.at_boundary and self._checkpoint_due():
                        self._save(model, Position(epoch, k, pos), time.perf_counter() - epoch_start)
                if stopped:
                    break
                last = k == n_blocks - 1
                if last:
                    if self._end_epoch(model, epoch, epoch_start):
                        break
                    epoch_start = time.perf_counter()
                if stop.signal is not None:  # the block is done: stop before the next one
                    # (an unfinished batch's sums are in the carry, saved with the checkpoint)
                    nxt = Position(epoch + 1, 0, 0) if last else Position(epoch, k + 1, 0)
                    if nxt.epoch < self.epochs:
                        self._interrupt(model, nxt, epoch_start, stop.signal)
        model.bias = float(st.bias)
        model.updates = st.updates
        model.info = {"mode": "sgd", "epochs": len(self.history), "max_epochs": self.epochs,
                      "rows": self.source.n_rows, "updates": model.updates,
                      "history": self.history, "params": asdict(self.params),
                      **self._convergence()}
        if self.source.weighted and self.kept_weight is not None and not self.params.validation_fraction:
            model.info["weight_total"] = self.kept_weight  # W
        if self.source.class_weights is not None:
            model.info["class_weights"] = list(self.source.class_weights)
        sp = self.stopping
        if sp.checks:
            model.info.update({
                "validation": sp.log, "best_check": sp.best_check, "best_epoch": sp.best_epoch,
                "best_loss": sp.best_loss, "stopped_early": sp.stopped,
                "returned": "best" if p.early_stopping and sp.best_weights is not None
                else "last"})
        if self.checkpoint:
            self._save(model, Position(self.epochs, 0, 0), 0.0, complete=True)
        # The model returned, after the checkpoint (which keeps the weights trained, so
        # that a resume with more epochs continues exactly): the best check's, or the
        # running average with averaged SGD.
        if p.early_stopping and sp.best_weights is not None:
            model.weights = sp.best_weights.copy()
            model.bias = sp.best_bias
        else:
            weights, bias = self.policy.model(st)
            model.weights, model.bias = weights.copy(), bias
        model.info["nonzero"] = int(np.count_nonzero(model.weights))
        if self.history:
            # The epoch's objective is the mean at the moving iterates; the model saved
            # (averaged, or the best check's) has its own, which costs one more read of
            # the rows: made when that read is at most 1/defaults.SAVED_OBJECTIVE_EPOCHS of the run's.
            model.info["epoch_objective"] = self.history[-1]["objective"]
            if len(self.history) >= defaults.SAVED_OBJECTIVE_EPOCHS:
                model.info["objective"] = training_objective(
                    model.weights, model.bias, model.center, model.inv_scale, p.loss,
                    self.source, penalty=Penalty(l2=p.l2, l1=p.l1),
                    fraction=p.validation_fraction, seed=p.seed)
                model.info["objective_of"] = "saved model"
            else:
                model.info["objective"] = model.info["epoch_objective"]
                model.info["objective_of"] = "moving iterates"
        return model

    def _converged(self) -> bool:
        """The convergence rule (:meth:`PassPolicy.converged`) on the history."""
        if not self.history:
            return False
        return self.policy.converged([row["objective"] for row in self.history],
                                     self.history[-1]["rows"])

    def _convergence(self) -> dict:
        """The model's ``converged`` (the rule holds at the end) and ``stop_reason``."""
        done = self._converged()
        if self.stopping.stopped:
            reason = StopReason.EARLY_STOPPING
        elif self.policy.until_converged:
            reason = StopReason.CONVERGED if done else StopReason.MAX_EPOCHS
        else:
            reason = StopReason.EPOCHS
        return {"converged": done, "stop_reason": reason,
                "patience_epochs": defaults.patience_epochs(
                    self.history[-1]["rows"] if self.history else self.source.n_rows)}

    @property
    def _validates(self) -> bool:
        return self.validation is not None or self.params.validation_fraction > 0

    def _check(self, model: Neuron, epoch: int, objective: float | None) -> bool:
        """One check at the current weights: validate (or, without validation data,
        take the epoch's ``objective``), update the stopping state; True to stop."""
        st, p = self.state, self.params
        weights, bias = st.model(self.rule)  # the running average with averaged SGD
        if self._validates:
            row = validate(weights, bias, model.center, model.inv_scale, p.loss,
                           files=self.validation, training=self.holdout_source,
                           fraction=p.validation_fraction, seed=p.seed)
            loss = row["val_loss"]
        else:
            row, loss = {}, objective
        stop = self.stopping.update(loss, weights, bias, epoch=epoch,
                                    updates=st.updates, tol=p.tol,
                                    patience=p.patience if p.early_stopping else None, row=row)
        if self.hooks.on_check is not None and row:
            self.hooks.on_check(self.stopping.log[-1])
        return stop

    def _end_epoch(self, model: Neuron, epoch: int, epoch_start: float) -> bool:
        """Close the epoch (history, check, checkpoint); True when the run stops early."""
        st = self.state
        if self.source.weighted:
            check_total(st.weight_seen, self._training_rows())
        rows, objective = st.finish_pass(self.rule)  # the last short batch is used as it is
        if not st.is_finite():
            raise DivergenceError(f"the weights became infinite in epoch {epoch + 1}: lower --lr")
        row = {"epoch": epoch + 1, "rows": rows, "objective": objective,
               "seconds": round(time.perf_counter() - epoch_start, 6)}
        stop = False
        sp = self.stopping
        if self._validates or self.params.early_stopping:
            if self._validates and sp.log and sp.last_check_updates == st.updates:
                stop = sp.stopped  # checked at these very weights already (validate_every)
            else:
                stop = self._check(model, epoch + 1, objective)
            if self._validates:
                row.update({key: sp.log[-1][key] for key in FIELDS})
        self.history.append(row)
        if self.policy.until_converged and not stop:
            stop = self._converged()
        if self.hooks.on_epoch is not None:
            self.hooks.on_epoch(row)
        if self.checkpoint:
            self._save(model, Position(epoch + 1, 0, 0), 0.0)
        return stop

    def _training_rows(self) -> str:
        """The training rows, named for a message."""
        return (describe_weights(self.source)
                + (" (the rows not held out)" if self.params.validation_fraction else ""))

    def _updates_until_checkpoint(self) -> int:
        if not self.checkpoint or self.saving.every is None:
            return -1
        done = self.state.updates - self.last_save[1]
        return max(1, int(self.saving.every - done))

    def _checkpoint_due(self) -> bool:
        saved_at, updates = self.last_save
        every = self.saving.every
        if every is not None and self.state.updates - updates >= every:
            return True
        return time.monotonic() - saved_at >= self.saving.seconds

    def _interrupt(self, model, position, epoch_start, signum) -> None:
        self._save(model, position, time.perf_counter() - epoch_start)
        name = signal.Signals(signum).name
        raise TrainingInterrupted(
            f"stopped by {name} at epoch {position.epoch + 1}, block {position.block}, "
            f"row {position.row}; checkpoint written to {self.checkpoint}: run the same command "
            "with --resume to continue")

    def _nonfinite(self, block, row: int) -> None:
        raise_nonfinite(self.source.feature_names, block, row, gaps_filled=bool(self._imputation()))
        where, local = block.describe_row(row)
        raise DivergenceError(
            f"{where}, row {local}: the logit overflowed although the row is finite; the "
            "learning rate is too large for this data: lower --lr or use --standardize")


__all__ = ["Run", "SGDParams", "Checkpointing", "Hooks", "CALL_ROWS"]
