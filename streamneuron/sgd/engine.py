"""Mini-batch SGD over a stream of blocks, in bounded memory, resumable exactly.

For each mini-batch ``B`` of ``m`` rows (cut in stream order, straddling blocks
where needed; the last short batch of an epoch is used as it is)::

    w <- w - lr_t * ((1/m) sum_{i in B} dL/dz_i x_i + l2 w)
    b <- b - lr_t * (1/m) sum_{i in B} dL/dz_i

With row weights ``c_i`` (a weight column, class weights, or both: their product,
:mod:`streamneuron.weighting`) ``1/m`` becomes ``1/sum_{i in B} c_i`` and each row's
term is multiplied by ``c_i`` (a batch is still ``m`` rows; one whose weights sum to
0 takes no step); with ``l1 > 0`` the cumulative L1 penalty follows every step
(:mod:`streamneuron.training`).

The engine knows nothing of file formats: it takes blocks from
:func:`streamneuron.stream.iter_blocks` and trains on each through
:meth:`streamneuron.training.TrainState.train_block` (the fused kernel), at most
``CALL_ROWS`` rows at a time so that checkpoints and Ctrl-C are honoured
promptly. Checkpoints, and whether one may be resumed, are
:mod:`streamneuron.checkpoint`'s business.

Why one module of this length: the engine is one loop, and everything that
interrupts it (checkpoints when due, signals, held-out checks and early stopping,
the history) has to see the same position and state at a batch boundary; split
apart, each piece would need the whole loop's state passed in.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from .. import checkpoint as ckpt
from .. import defaults
from ..errors import CheckpointError, ConfigError, DataError, DivergenceError, TrainingInterrupted
from ..losses import get_loss
from ..neuron import Neuron
from ..params import check_params
from ..stats import Moments, raise_nonfinite, streaming_moments
from ..stream import Position, iter_blocks
from ..training import NONFINITE, StepRule, TrainState
from ..validation import FIELDS, PATIENCE, SGD_TOL, Stopping, open_validation, validate
from ..weighting import check_class_weight, check_total, describe_weights

# Rows per kernel call: small enough to notice a signal or a due checkpoint within
# milliseconds, large enough that the per-call overhead (boxing the arguments) is
# negligible next to the rows trained.
CALL_ROWS = 1 << 16
# Blocks decoded ahead on the reader thread (memory: PREFETCH + 1 decoded blocks).
PREFETCH = 1
# A checkpoint is written at least this often when --checkpoint is given.
CHECKPOINT_SECONDS = 30.0


@dataclass(frozen=True)
class SGDParams:
    """Everything that shapes the arithmetic of a run (a resume must match it)."""

    loss: str = "log"
    batch_size: int = 256
    lr: float = 0.1
    schedule: str = "constant"  # fit_sgd's default is "auto" (streamneuron.defaults)
    power_t: float = 0.5
    l2: float = 0.0
    seed: int = 0
    shuffle: bool = True
    window: int = 1
    standardize: bool = True
    validation_fraction: float = 0.0
    validate_every: int | None = None
    early_stopping: bool = False
    patience: int = PATIENCE
    tol: float = SGD_TOL
    average: int = 0  # averaged SGD from this update on (0: off)
    l1: float = 0.0
    # None, "balanced" or [a0, a1] (a mapping {0: a0, 1: a1} made JSON-stable, so that a
    # resume compares equal)
    class_weight: str | list | None = None
    weight: str | None = None  # the source's weight column (None: none)

    def __post_init__(self):
        check_params(loss=self.loss, batch_size=self.batch_size, lr=self.lr,
                     schedule=self.schedule, power_t=self.power_t, l2=self.l2, l1=self.l1,
                     seed=self.seed, window=self.window,
                     validation_fraction=self.validation_fraction,
                     validate_every=self.validate_every, patience=self.patience, tol=self.tol,
                     average=self.average)


class _StopRequest:
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


def fit_sgd(source, batch_size: int | None = None, epochs: int | None = None,
            lr: float | None = None, *,
            loss: str = "log", schedule: str = defaults.AUTO_SCHEDULE, power_t: float = 0.5,
            l2: float = 0.0, seed: int = 0, shuffle: bool = True, window: int = 1,
            standardize: bool = True, checkpoint: str | os.PathLike | None = None,
            resume: bool = False, checkpoint_every: int | None = None,
            checkpoint_seconds: float = CHECKPOINT_SECONDS,
            progress: Callable[[int, float], None] | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            notify: Callable[[str], None] | None = None,
            label: str | None = "y", features=None, validation=None,
            validation_fraction: float = 0.0, validate_every: int | None = None,
            early_stopping: bool = False, patience: int = PATIENCE, tol: float | None = None,
            average: bool | int = False, on_check: Callable[[dict], None] | None = None,
            weight=None, class_weight=None, l1: float = 0.0) -> Neuron:
    """Train a neuron by mini-batch SGD over ``source``.

    The defaults need no tuning (:mod:`streamneuron.defaults`): ``schedule="auto"``
    (AdaGrad's steps at ``lr`` 1.0, the model the average of the last epoch's
    iterates), ``batch_size`` from the row count, and, when ``epochs`` is not given,
    up to 1000 epochs, stopping when the epoch's training objective has converged
    (its mean over the last ``P`` epochs, ``P = ceil(50000 / rows)`` within [2, 100],
    no better than over the ``P`` before by more than ``tol`` relative, default 1e-3).
    ``epochs=N`` makes exactly N epochs (or fewer with ``early_stopping``). Either way
    ``info["converged"]`` says whether the rule holds at the end, ``info["stop_reason"]``
    why the run stopped, and ``info["epochs"]`` how many epochs it made.

    ``source``: a :class:`~streamneuron.readers.Source`, paths or URLs, a pandas or
    Dask DataFrame, or an ``(X, y)`` pair of numpy/Dask arrays, opened with
    :func:`~streamneuron.open_source` (with ``label``/``features``).
    ``lr`` (default 1.0 for ``"auto"``, else 0.1) with ``schedule`` ``"constant"`` or
    ``"invscaling"`` (``lr_t = lr / (1 + t)**power_t``), or ``"adagrad"`` (per-coordinate
    steps, the last iterate returned); ``l2`` penalises the weights only;
    ``shuffle`` permutes row groups and the rows inside them, seeded by
    ``seed`` and the epoch; ``standardize`` makes one streaming pass for the
    per-feature mean and scale first.

    Checkpoints: ``checkpoint`` names a folder for resumable state, written
    atomically after the standardization pass, every ``checkpoint_every``
    batches (if given), at least every ``checkpoint_seconds``, at each epoch's
    end, and at the end (then marked complete). ``resume=True`` continues from
    it; the final weights equal those of a run never interrupted, bit for bit.
    A resume is refused (:class:`CheckpointError`, saying what differs) when the
    data (paths, sizes, modification times, layout) or a parameter that shapes
    the arithmetic differs. ``epochs`` may be raised on resume (training then
    continues, exactly as a run with that many epochs would have); resuming a
    complete checkpoint with the same ``epochs`` just returns its model.
    Without ``resume``, a folder that already holds a checkpoint is refused
    rather than overwritten: resume it, or delete the folder. SIGINT/SIGTERM
    (with a checkpoint folder, in the main thread) stop at the next batch
    boundary (or at the end of the current block, if that comes first: the
    unfinished batch's sums are saved with the checkpoint, so no block is read
    just to reach a boundary), write a checkpoint and raise
    :class:`TrainingInterrupted`; a second signal stops at once, keeping the
    last checkpoint. ``notify`` (a
    callable taking a message) hears about resumes and checkpoint fallbacks.

    Validation (:mod:`streamneuron.validation`): ``validation`` (paths, a Source, ...,
    opened like ``source`` with its label and features) is validated on whole;
    ``validation_fraction`` holds out that fraction of the training rows (chosen by
    a hash of ``seed`` and the row's index: never trained on). A check, at each
    epoch's end and every ``validate_every`` updates if given, adds ``val_loss``,
    ``val_log_loss``, ``val_accuracy``, ``val_auc`` and ``val_rows`` to the epoch's
    history row (and calls ``on_check`` with each check's row).
    ``early_stopping=True`` stops when the checked loss (the validation loss, or
    without validation data the epoch's training objective) has not improved by
    more than ``tol`` (default 1e-3) for ``patience`` checks in a row (default 5),
    and returns the best weights; ``epochs`` is then a maximum.
    ``info`` says ``best_check``, ``best_epoch``, ``stopped_early``, and holds every
    check in ``info["validation"]``.

    ``average``: averaged SGD (Polyak-Ruppert): the model returned (and validated) is
    the running average of the iterates, from the first update (``True``) or from
    update ``N`` on (an integer ``N``; scikit-learn's ``average`` counts rows instead),
    kept inside the fused kernel's update step and checkpointed. The history's
    objective stays the loss at the iterates each row met.

    Weights: ``weight`` names the source's weight column (opening paths or a
    DataFrame; for an ``(X, y)`` pair, the weights themselves; a Source brings its
    own), ``class_weight`` is None, ``"balanced"`` (``n / (2 n_c)`` from the
    label counts, one label-only pass) or ``{0: a0, 1: a1}``; a row's weight is their
    product. The objective becomes ``sum c_i L_i / sum c_i + penalties``, each step the
    weighted mean gradient of its batch, the validation metrics weighted likewise. A
    source whose training rows' weights sum to 0 is a DataError (at the end of the
    first epoch).

    ``l1``: the L1 penalty ``l1 ||w||_1`` (elastic net with ``l2``; never the bias), by
    the cumulative penalty of Tsuruoka et al. (2009) after every step: weights become
    exactly zero. ``info["nonzero"]`` counts the model's non-zero weights.

    Returns the trained :class:`Neuron`; its ``info["history"]`` holds one row
    per epoch: epoch, rows, objective (the (weighted) mean loss at the weights each
    row met, plus the penalties), seconds (and the validation fields).
    """
    check_params(batch_size=batch_size, lr=lr, schedule=schedule, tol=tol, l1=l1)
    check_class_weight(class_weight)  # before any work
    if validate_every is not None and validation is None and not validation_fraction:
        raise ConfigError.about("validate_every", "needs validation data: give --validation "
                                "or --validation-fraction")
    check_params(epochs=epochs, checkpoint_every=checkpoint_every,
                 checkpoint_seconds=checkpoint_seconds)
    if resume and not checkpoint:
        raise CheckpointError("--resume needs --checkpoint DIR")
    if checkpoint_every is not None and not checkpoint:
        raise ConfigError("--checkpoint-every needs --checkpoint DIR")
    with contextlib.ExitStack() as stack:
        from ..readers import open_source, with_class_weights

        given = source
        source = open_source(source, label=label, features=features,
                             weight=weight)  # a Source as it is
        if source is not given:
            stack.enter_context(source)
        if source.label is None:
            raise DataError("training needs a label column")
        if weight is not None and source.weight is None:
            raise ConfigError.about("weight", f"names the column {weight!r}, but the source "
                                    "given was opened without it: open_source(..., weight=)")
        # Class weights are applied where a unit is decoded: every row's w is its weight.
        source = with_class_weights(source, class_weight)
        if validation is not None:
            validation = open_validation(validation, source, stack)
        fingerprint = None
        if checkpoint is not None:
            fingerprint = ckpt.fingerprint(source)  # only here: for arrays it hashes the data
            if validation is not None:
                fingerprint["validation"] = ckpt.fingerprint(validation)["files"]
            checkpoint = os.fspath(checkpoint)
            ckpt.prepare_folder(checkpoint, resume)
            stack.enter_context(ckpt.locked(checkpoint))
            ckpt.remove_stale_temporaries(checkpoint)
            if not resume and ckpt.exists(checkpoint):
                try:
                    what = ckpt.describe(ckpt.load(checkpoint, warn=lambda message: None))
                except CheckpointError:
                    what = "damaged"
                raise CheckpointError(
                    f"{checkpoint} already holds a checkpoint ({what}); continue it with "
                    "--resume, or delete the folder (or give another --checkpoint) to start afresh")
        if tol is None:
            tol = SGD_TOL if early_stopping else defaults.CONVERGENCE_TOL
        params = SGDParams(
            loss=loss, batch_size=defaults.auto_batch_size(source.n_rows) if batch_size is None
            else batch_size, lr=defaults.default_lr(schedule) if lr is None else lr,
            schedule=schedule, power_t=power_t, l2=l2, seed=seed, shuffle=shuffle, window=window,
            standardize=standardize, validation_fraction=validation_fraction,
            validate_every=validate_every, early_stopping=bool(early_stopping),
            patience=patience, tol=tol,
            average=int(average) if isinstance(average, numbers.Integral) else average,
            l1=l1, class_weight=_class_weight_param(class_weight), weight=source.weight)
        most = defaults.MAX_EPOCHS if epochs is None else epochs
        run = _Run(source, params, most, checkpoint, checkpoint_every, checkpoint_seconds,
                   progress, on_epoch, fingerprint, notify)
        run.validation, run.on_check = validation, on_check
        run.until_converged = epochs is None and not early_stopping
        if params.validation_fraction > 0:
            from ..validation import second_reader

            run.holdout_source = second_reader(source)
            if run.holdout_source is not source:
                stack.callback(run.holdout_source.close)
        return run.run(resume)


def _class_weight_param(spec):
    """``class_weight`` as the run's parameters keep it (JSON-stable): None, "balanced"
    or ``[a0, a1]``."""
    if spec is None or isinstance(spec, str):
        return spec
    return [float(spec.get(0, 1.0)), float(spec.get(1, 1.0))]


class _Run:
    """One training run: the model, its training state, and where the stream is."""

    def __init__(self, source, params: SGDParams, epochs, checkpoint, checkpoint_every,
                 checkpoint_seconds, progress, on_epoch, fingerprint, notify=None):
        self.source, self.params, self.epochs = source, params, epochs
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.progress, self.on_epoch, self.fingerprint = progress, on_epoch, fingerprint
        self.notify = notify
        # "auto": each epoch's iterates averaged afresh (the average restarts when an
        # epoch starts), unless an average from update N on is asked for.
        self.epoch_average = params.schedule == defaults.AUTO_SCHEDULE and not params.average
        self.rule = StepRule.of(get_loss(params.loss), params.batch_size, params.lr,
                                params.schedule, params.power_t, params.l2,
                                1 if self.epoch_average else params.average,
                                l1=params.l1)
        self.until_converged = False  # stop when the training objective has converged
        self.state: TrainState | None = None
        self.history: list[dict] = []
        self.position = Position()
        self.epoch_seconds = 0.0  # seconds spent in the current epoch before a resume
        self.last_save = (time.monotonic(), 0)
        self.validation = None  # a Source validated on whole
        self.on_check: Callable[[dict], None] | None = None
        self.stopping = Stopping()
        self.holdout_source = source  # where the held-out rows are read for a check

    def _say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)

    # -- set-up -----------------------------------------------------------------
    def _fresh_model(self) -> Neuron:
        stats = None
        if self.params.standardize:
            moments = streaming_moments(self.source)
            if self.source.weighted:  # all weights 0: say so, before 0/0 makes the scale NaN
                check_total(float(moments.weight), describe_weights(self.source))
            stats = (moments.mean, moments.scale())
        return Neuron(self.source.n_features, self.params.loss,
                      feature_names=self.source.feature_names, label=self.source.label,
                      standardize=stats)

    def _restore(self) -> Neuron:
        folder = self.checkpoint
        resumed = ckpt.resume(folder, asdict(self.params), self.fingerprint, self.epochs,
                              self.source.n_features, warn=self.notify)
        self.state = resumed.state
        self.history = resumed.history
        self.position = resumed.position
        self.epoch_seconds = resumed.epoch_seconds
        self.stopping = resumed.stopping or Stopping()
        if self.stopping.stopped or (self.until_converged and self._converged()):
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
            input_fingerprint=self.fingerprint, stopping=self.stopping.to_dict()))
        self.last_save = (time.monotonic(), self.state.updates)

    # -- the loop ---------------------------------------------------------------
    def run(self, resume: bool) -> Neuron:
        if resume:
            model = self._restore()
        else:
            model = self._fresh_model()
            self.state = TrainState.start(model.weights)
            if self.checkpoint:  # from here on a crash can resume (statistics included)
                self._save(model, Position(), 0.0)
        p, st, rule = self.params, self.state, self.rule
        n_blocks = math.ceil(len(self.source.units) / p.window)
        self.last_save = (time.monotonic(), st.updates)
        epoch_start = time.perf_counter() - self.epoch_seconds
        stop = _StopRequest(self.checkpoint)
        holdout = (p.validation_fraction, p.seed) if p.validation_fraction > 0 else None
        blocks = iter_blocks(self.source, self.position, epochs=self.epochs, shuffle=p.shuffle,
                             seed=p.seed, window=p.window, prefetch=PREFETCH, holdout=holdout)
        every = p.validate_every if self._validates else None
        stopped = False
        with stop.installed(active=self.checkpoint is not None), contextlib.closing(blocks):
            for block in blocks:
                epoch, k = block.position.epoch, block.position.block
                pos, n = block.position.row, block.n_train
                if self.epoch_average and k == 0 and pos == 0:
                    st.avg_count = 0  # a new epoch's average (its first update restarts it)
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
                        block.X, block.labels, rule, model._mean, model._inv_scale,
                        order=block.order, start=pos, stop=min(n, pos + CALL_ROWS),
                        max_updates=limit, row_weights=block.row_weights)
                    if status == NONFINITE:
                        self._nonfinite(block, pos)
                    if self.progress is not None:
                        self.progress(st.rows_seen - before, st.loss_sum / max(st.rows_seen, 1.0))
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
        elif self.rule.average > 0 and st.avg_count > 0:
            weights, bias = st.model(self.rule)
            model.weights, model.bias = weights.copy(), bias
        model.info["nonzero"] = int(np.count_nonzero(model.weights))
        return model

    def _converged(self) -> bool:
        """The convergence rule (:func:`streamneuron.defaults.converged`) on the history."""
        if not self.history:
            return False
        return defaults.converged([row["objective"] for row in self.history],
                                  self.history[-1]["rows"], self.params.tol)

    def _convergence(self) -> dict:
        """The model's ``converged`` (the rule holds at the end) and ``stop_reason``."""
        done = self._converged()
        if self.stopping.stopped:
            reason = "early stopping"
        elif self.until_converged:
            reason = "converged" if done else "max epochs"
        else:
            reason = "epochs"
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
            row = validate(weights, bias, model._mean, model._inv_scale, p.loss,
                           files=self.validation, training=self.holdout_source,
                           fraction=p.validation_fraction, seed=p.seed)
            loss = row["val_loss"]
        else:
            row, loss = {}, objective
        stop = self.stopping.update(loss, weights, bias, epoch=epoch,
                                    updates=st.updates, tol=p.tol,
                                    patience=p.patience if p.early_stopping else None, row=row)
        if self.on_check is not None and row:
            self.on_check(self.stopping.log[-1])
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
        if self.until_converged and not stop:
            stop = self._converged()
        if self.on_epoch is not None:
            self.on_epoch(row)
        if self.checkpoint:
            self._save(model, Position(epoch + 1, 0, 0), 0.0)
        return stop

    def _training_rows(self) -> str:
        """The training rows, named for a message."""
        return (describe_weights(self.source)
                + (" (the rows not held out)" if self.params.validation_fraction else ""))

    def _updates_until_checkpoint(self) -> int:
        if not self.checkpoint or self.checkpoint_every is None:
            return -1
        done = self.state.updates - self.last_save[1]
        return max(1, int(self.checkpoint_every - done))

    def _checkpoint_due(self) -> bool:
        saved_at, updates = self.last_save
        if self.checkpoint_every is not None and \
                self.state.updates - updates >= self.checkpoint_every:
            return True
        return time.monotonic() - saved_at >= self.checkpoint_seconds

    def _interrupt(self, model, position, epoch_start, signum) -> None:
        self._save(model, position, time.perf_counter() - epoch_start)
        name = signal.Signals(signum).name
        raise TrainingInterrupted(
            f"stopped by {name} at epoch {position.epoch + 1}, block {position.block}, "
            f"row {position.row}; checkpoint written to {self.checkpoint}: run the same command "
            "with --resume to continue")

    def _nonfinite(self, block, row: int) -> None:
        raise_nonfinite(self.source.feature_names, block, row)
        where, local = block.describe_row(row)
        raise DivergenceError(
            f"{where}, row {local}: the logit overflowed although the row is finite; the "
            "learning rate is too large for this data: lower --lr or use --standardize")


__all__ = ["fit_sgd", "SGDParams", "Moments"]
