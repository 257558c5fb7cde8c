"""Mini-batch SGD over a stream of chunks, in bounded memory, resumable exactly.

For each mini-batch ``B`` of ``m`` rows (cut in stream order, straddling chunks
where needed; the last short batch of an epoch is used as it is)::

    w <- w - lr_t * ((1/m) sum_{i in B} dL/dz_i x_i + l2 w)
    b <- b - lr_t * (1/m) sum_{i in B} dL/dz_i

The engine knows nothing of file formats: it takes blocks from
:func:`streamneuron.stream.iter_blocks` and hands each to the fused kernel
:func:`streamneuron.kernels.sgd_chunk`, a slice of at most ``SLICE_ROWS`` rows
at a time so that checkpoints and Ctrl-C are honoured promptly.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from . import checkpoint as ckpt
from . import kernels
from .errors import CheckpointError, DataError, DivergenceError, TrainingInterrupted
from .losses import get_loss
from .neuron import Neuron
from .params import check_params
from .schedules import make_schedule
from .stats import Moments, raise_nonfinite, streaming_moments
from .stream import Position, iter_blocks

# Rows per kernel call: small enough to notice a signal or a due checkpoint within
# milliseconds, large enough that the per-call overhead (~2 us) is invisible.
SLICE_ROWS = 1 << 16
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
    schedule: str = "constant"
    power_t: float = 0.5
    l2: float = 0.0
    seed: int = 0
    shuffle: bool = True
    window: int = 1
    standardize: bool = True

    def __post_init__(self):
        check_params(loss=self.loss, batch_size=self.batch_size, lr=self.lr,
                     schedule=self.schedule, power_t=self.power_t, l2=self.l2,
                     seed=self.seed, window=self.window)


class _StopRequest:
    """SIGINT/SIGTERM set a flag; the engine stops at the next batch boundary."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self, signum, frame):
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


def _compare(saved: dict, now: dict, what: str) -> None:
    for key in sorted(set(saved) | set(now)):
        if saved.get(key) != now.get(key):
            raise CheckpointError(
                f"cannot resume: {what} {key!r} was {saved.get(key)!r} in the checkpoint but is "
                f"{now.get(key)!r} now; resume with the same data and flags, or start afresh "
                "without --resume"
            )


def fit_sgd(source, batch_size: int = 256, epochs: int = 5, lr: float = 0.1, *,
            loss: str = "log", schedule: str = "constant", power_t: float = 0.5,
            l2: float = 0.0, seed: int = 0, shuffle: bool = True, window: int = 1,
            standardize: bool = True, checkpoint: str | None = None, resume: bool = False,
            checkpoint_every: int | None = None,
            checkpoint_seconds: float = CHECKPOINT_SECONDS,
            progress: Callable[[int, float], None] | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            label: str | None = "y", features=None) -> Neuron:
    """Train a neuron by mini-batch SGD over ``source`` for ``epochs`` epochs.

    ``source``: a :class:`~streamneuron.readers.Source`, or paths for
    :func:`~streamneuron.open_source` (with ``label``/``features``).
    ``lr`` with ``schedule`` ``"constant"`` or ``"invscaling"``
    (``lr_t = lr / (1 + t)**power_t``); ``l2`` penalises the weights only;
    ``shuffle`` permutes row groups and the rows inside them, seeded by
    ``seed`` and the epoch; ``standardize`` makes one streaming pass for the
    per-feature mean and scale first. ``checkpoint`` names a folder for
    resumable state, written every ``checkpoint_every`` batches and at least
    every ``checkpoint_seconds``; ``resume=True`` continues from it exactly.

    Returns the trained :class:`Neuron`; its ``info["history"]`` holds one row
    per epoch: epoch, rows, objective (mean loss at the weights each row met,
    plus the L2 term), seconds.
    """
    if not hasattr(source, "units"):
        from .readers import open_source

        source = open_source(source, label=label, features=features)
    params = SGDParams(loss=loss, batch_size=batch_size, lr=lr, schedule=schedule,
                       power_t=power_t, l2=l2, seed=seed, shuffle=shuffle, window=window,
                       standardize=standardize)
    check_params(epochs=epochs, checkpoint_every=checkpoint_every,
                 checkpoint_seconds=checkpoint_seconds)
    if source.label is None:
        raise DataError("training needs a label column")
    if resume and not checkpoint:
        raise CheckpointError("--resume needs --checkpoint DIR")
    fingerprint = source.fingerprint()
    return _Run(source, params, epochs, checkpoint, checkpoint_every, checkpoint_seconds,
                progress, on_epoch, fingerprint).run(resume)


class _Run:
    """One training run: the model, the engine state, and where the stream is."""

    def __init__(self, source, params: SGDParams, epochs, checkpoint, checkpoint_every,
                 checkpoint_seconds, progress, on_epoch, fingerprint):
        self.source, self.params, self.epochs = source, params, epochs
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.progress, self.on_epoch, self.fingerprint = progress, on_epoch, fingerprint
        self.loss_id = get_loss(params.loss).kernel_id
        self.lr0, self.power = make_schedule(params.schedule, params.lr, params.power_t).kernel_params
        self.state = kernels.new_state()
        self.carry = np.zeros(source.n_features)
        self.history: list[dict] = []
        self.position = Position()
        self.epoch_seconds = 0.0  # seconds spent in the current epoch before a resume

    # -- set-up -----------------------------------------------------------------
    def _fresh_model(self) -> Neuron:
        stats = None
        if self.params.standardize:
            moments = streaming_moments(self.source)
            stats = (moments.mean, moments.scale())
        return Neuron(self.source.n_features, self.params.loss,
                      feature_names=self.source.feature_names, label=self.source.label,
                      standardize=stats)

    def _restore(self) -> Neuron:
        saved = ckpt.load(self.checkpoint)
        _compare(saved["params"], asdict(self.params), "parameter")
        _compare(saved["fingerprint"], self.fingerprint, "input")
        if saved["epochs_done"] > self.epochs:
            raise CheckpointError(f"cannot resume: the checkpoint has already done "
                                  f"{saved['epochs_done']} epochs, more than --epochs {self.epochs}")
        model = Neuron.from_dict(saved["model"], where=f"{self.checkpoint} (checkpoint)")
        self.state[:] = saved["state"]
        self.carry[:] = saved["carry"]
        self.history = saved["history"]
        self.position = Position(**saved["position"])
        self.epoch_seconds = saved.get("epoch_seconds", 0.0)
        return model

    def _save(self, model: Neuron, position: Position, epoch_seconds: float) -> None:
        model.bias = float(self.state[kernels.BIAS])
        ckpt.save(self.checkpoint, {
            "model": model.to_dict(),
            "state": self.state.tolist(),
            "carry": self.carry.tolist(),
            "position": asdict(position),
            "epochs_done": position.epoch,
            "epoch_seconds": epoch_seconds,
            "history": self.history,
            "params": asdict(self.params),
            "fingerprint": self.fingerprint,
        })
        self.last_save = (time.monotonic(), self.state[kernels.UPDATES])

    # -- the loop ---------------------------------------------------------------
    def run(self, resume: bool) -> Neuron:
        model = self._restore() if resume else self._fresh_model()
        w = model.weights
        p, st, carry = self.params, self.state, self.carry
        n_blocks = math.ceil(len(self.source.units) / p.window)
        self.last_save = (time.monotonic(), st[kernels.UPDATES])
        epoch_start = time.perf_counter() - self.epoch_seconds
        stop = _StopRequest()
        with stop.installed(active=self.checkpoint is not None):
            for block in iter_blocks(self.source, self.position, epochs=self.epochs,
                                     shuffle=p.shuffle, seed=p.seed, window=p.window,
                                     prefetch=PREFETCH):
                epoch, k = block.position.epoch, block.position.block
                pos, n = block.position.row, len(block.y)
                while pos < n:
                    limit = self._updates_until_checkpoint() if stop.signal is None else 1
                    before = st[kernels.ROWS_SEEN]
                    pos, status = kernels.sgd_chunk(
                        block.X, block.y, block.order, pos, min(n, pos + SLICE_ROWS), w, st,
                        carry, model._mean, model._inv_scale, self.loss_id, p.batch_size,
                        self.lr0, self.power, p.l2, limit)
                    if status == kernels.NONFINITE:
                        self._nonfinite(block, pos)
                    if self.progress is not None:
                        self.progress(int(st[kernels.ROWS_SEEN] - before),
                                      st[kernels.LOSS_SUM] / max(st[kernels.ROWS_SEEN], 1.0))
                    at_boundary = st[kernels.CARRY_ROWS] == 0
                    if stop.signal is not None and at_boundary:
                        self._interrupt(model, Position(epoch, k, pos), epoch_start, stop.signal)
                    if self.checkpoint and at_boundary and self._checkpoint_due():
                        self._save(model, Position(epoch, k, pos), time.perf_counter() - epoch_start)
                if k == n_blocks - 1:
                    self._end_epoch(model, epoch, epoch_start)
                    epoch_start = time.perf_counter()
                if stop.signal is not None:  # the block ended before a batch boundary came
                    nxt = Position(epoch + 1, 0, 0) if k == n_blocks - 1 else Position(epoch, k + 1, 0)
                    self._interrupt(model, nxt, epoch_start, stop.signal)
        model.bias = float(st[kernels.BIAS])
        model.updates = int(st[kernels.UPDATES])
        model.info = {"mode": "sgd", "epochs": self.epochs, "rows": self.source.n_rows,
                      "updates": model.updates, "history": self.history,
                      "params": asdict(self.params)}
        if self.checkpoint:
            self._save(model, Position(self.epochs, 0, 0), 0.0)
        return model

    def _end_epoch(self, model: Neuron, epoch: int, epoch_start: float) -> None:
        st = self.state
        if st[kernels.CARRY_ROWS] > 0:  # the last short batch is used as it is
            kernels.apply_update(model.weights, st, self.carry, self.lr0, self.power, self.params.l2)
        w = model.weights
        if not (np.all(np.isfinite(w)) and math.isfinite(st[kernels.BIAS])):
            raise DivergenceError(f"the weights became infinite in epoch {epoch}: lower --lr")
        rows = int(st[kernels.ROWS_SEEN])
        row = {"epoch": epoch + 1, "rows": rows,
               "objective": float(st[kernels.LOSS_SUM] / rows + 0.5 * self.params.l2 * float(w @ w)),
               "seconds": round(time.perf_counter() - epoch_start, 6)}
        self.history.append(row)
        st[kernels.LOSS_SUM] = st[kernels.ROWS_SEEN] = 0.0
        if self.on_epoch is not None:
            self.on_epoch(row)
        if self.checkpoint:
            self._save(model, Position(epoch + 1, 0, 0), 0.0)

    def _updates_until_checkpoint(self) -> int:
        if not self.checkpoint or self.checkpoint_every is None:
            return -1
        done = self.state[kernels.UPDATES] - self.last_save[1]
        return max(1, int(self.checkpoint_every - done))

    def _checkpoint_due(self) -> bool:
        saved_at, updates = self.last_save
        if self.checkpoint_every is not None and \
                self.state[kernels.UPDATES] - updates >= self.checkpoint_every:
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
        raise_nonfinite(self.source, block, row)
        where, local = block.describe_row(self.source, row)
        raise DivergenceError(
            f"{where}, row {local}: the logit overflowed although the row is finite; the "
            "learning rate is too large for this data: lower --lr or use --standardize")


__all__ = ["fit_sgd", "SGDParams", "Moments"]
