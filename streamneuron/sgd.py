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
import datetime
import math
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from . import checkpoint as ckpt
from . import kernels
from .errors import CheckpointError, ConfigError, DataError, DivergenceError, TrainingInterrupted
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


# How each parameter is spelled on the command line (for messages).
_FLAGS = {"loss": "--loss", "batch_size": "--batch-size", "lr": "--lr", "schedule": "--schedule",
          "power_t": "--power-t", "l2": "--l2", "seed": "--seed",
          "shuffle": "--shuffle/--no-shuffle", "window": "--shuffle-window",
          "standardize": "--standardize/--no-standardize"}


def _param_differences(saved: dict, now: dict) -> list[str]:
    return [f"{_FLAGS.get(key, key)} was {saved.get(key)!r} in the checkpoint but is "
            f"{now.get(key)!r} now"
            for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]


def _names(paths: list[str], most: int = 3) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _when(mtime) -> str:
    if not isinstance(mtime, (int, float)):
        return repr(mtime)
    return datetime.datetime.fromtimestamp(mtime).isoformat(sep=" ", timespec="microseconds")


def _input_differences(saved: dict, now: dict) -> list[str]:
    """What differs between the input a checkpoint was made from and the input now."""
    if saved.get("format") != now.get("format"):
        return [f"the input was {saved.get('format')} and is {now.get('format')} now"]
    out = []
    old, new = saved.get("files") or [], now["files"]
    old_paths = [f.get("path") for f in old]
    new_paths = [f["path"] for f in new]
    if old_paths != new_paths:
        gone = [f.get("name", f.get("path")) for f in old if f.get("path") not in new_paths]
        added = [f["name"] for f in new if f["path"] not in old_paths]
        if gone:
            out.append(f"{_names(gone)} {'is' if len(gone) == 1 else 'are'} no longer in the input")
        if added:
            out.append(f"{_names(added)} {'is' if len(added) == 1 else 'are'} new in the input")
        if not gone and not added:
            out.append("the input files come in a different order")
    else:
        for a, b in zip(old, new):
            if a.get("size") != b["size"]:
                out.append(f"{b['name']} has changed since the checkpoint (size {a.get('size')} "
                           f"bytes then, {b['size']} now)")
            elif a.get("mtime") != b["mtime"]:
                out.append(f"{b['name']} has been modified since the checkpoint (modification "
                           f"time {_when(a.get('mtime'))} then, {_when(b['mtime'])} now)")
    if saved.get("features") != now.get("features"):
        out.append(f"the feature columns were {saved.get('features')} and are "
                   f"{now.get('features')} now")
    if saved.get("label") != now.get("label"):
        out.append(f"the label was {saved.get('label')!r} and is {now.get('label')!r} now")
    if saved.get("token") != now.get("token"):
        out.append("the in-memory data differs from the data the checkpoint was made from")
    for key in sorted(set(saved) | set(now)):
        if key not in ("format", "files", "features", "label", "units", "token") and \
                saved.get(key) != now.get(key):
            out.append(f"{key} was {saved.get(key)!r} and is {now.get(key)!r} now")
    if not out and saved.get("units") != now.get("units"):
        out.append("the row groups / chunks of the input are laid out differently")
    return out


def _fingerprint(source) -> dict:
    """The source's fingerprint, with each file named by its absolute path (so a
    resume from another working folder still matches) and the HDF5 dataset names."""
    fp = source.fingerprint()
    files = []
    for ref, entry in zip(source.files, fp["files"]):
        entry = dict(entry, name=entry["path"])
        if getattr(ref, "is_local", False):  # remote URLs are absolute already
            entry["path"] = os.path.abspath(ref.path)
        files.append(entry)
    fp["files"] = files
    for attr in ("x_key", "y_key"):
        if hasattr(source, attr):
            fp.setdefault(attr, getattr(source, attr))
    return fp


def _prepare_folder(folder: str, resume: bool) -> None:
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CheckpointError(f"--checkpoint {folder}: this is a file, not a folder")
    if resume:
        if not os.path.isdir(folder):
            raise CheckpointError(f"{folder}: no checkpoint to resume from (the folder does not "
                                  "exist; run without --resume first)")
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"--checkpoint {folder}: cannot create the folder "
                              f"({exc.strerror or exc})") from None


def fit_sgd(source, batch_size: int = 256, epochs: int = 5, lr: float = 0.1, *,
            loss: str = "log", schedule: str = "constant", power_t: float = 0.5,
            l2: float = 0.0, seed: int = 0, shuffle: bool = True, window: int = 1,
            standardize: bool = True, checkpoint: str | os.PathLike | None = None,
            resume: bool = False, checkpoint_every: int | None = None,
            checkpoint_seconds: float = CHECKPOINT_SECONDS,
            progress: Callable[[int, float], None] | None = None,
            on_epoch: Callable[[dict], None] | None = None,
            notify: Callable[[str], None] | None = None,
            label: str | None = "y", features=None) -> Neuron:
    """Train a neuron by mini-batch SGD over ``source`` for ``epochs`` epochs.

    ``source``: a :class:`~streamneuron.readers.Source`, paths or URLs, a pandas or
    Dask DataFrame, or an ``(X, y)`` pair of numpy/Dask arrays, opened with
    :func:`~streamneuron.open_source` (with ``label``/``features``).
    ``lr`` with ``schedule`` ``"constant"`` or ``"invscaling"``
    (``lr_t = lr / (1 + t)**power_t``); ``l2`` penalises the weights only;
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

    Returns the trained :class:`Neuron`; its ``info["history"]`` holds one row
    per epoch: epoch, rows, objective (mean loss at the weights each row met,
    plus the L2 term), seconds.
    """
    params = SGDParams(loss=loss, batch_size=batch_size, lr=lr, schedule=schedule,
                       power_t=power_t, l2=l2, seed=seed, shuffle=shuffle, window=window,
                       standardize=standardize)
    check_params(epochs=epochs, checkpoint_every=checkpoint_every,
                 checkpoint_seconds=checkpoint_seconds)
    if resume and not checkpoint:
        raise CheckpointError("--resume needs --checkpoint DIR")
    if checkpoint_every is not None and not checkpoint:
        raise ConfigError("--checkpoint-every needs --checkpoint DIR")
    with contextlib.ExitStack() as stack:
        if not hasattr(source, "units"):
            from .readers import open_source

            source = stack.enter_context(open_source(source, label=label, features=features))
        if source.label is None:
            raise DataError("training needs a label column")
        fingerprint = None
        if checkpoint is not None:
            fingerprint = _fingerprint(source)  # only here: for arrays it hashes the data
            checkpoint = os.fspath(checkpoint)
            _prepare_folder(checkpoint, resume)
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
        return _Run(source, params, epochs, checkpoint, checkpoint_every, checkpoint_seconds,
                    progress, on_epoch, fingerprint, notify).run(resume)


class _Run:
    """One training run: the model, the engine state, and where the stream is."""

    def __init__(self, source, params: SGDParams, epochs, checkpoint, checkpoint_every,
                 checkpoint_seconds, progress, on_epoch, fingerprint, notify=None):
        self.source, self.params, self.epochs = source, params, epochs
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.progress, self.on_epoch, self.fingerprint = progress, on_epoch, fingerprint
        self.notify = notify
        self.loss_id = get_loss(params.loss).kernel_id
        self.lr0, self.power = make_schedule(params.schedule, params.lr, params.power_t).kernel_params
        self.state = kernels.new_state()
        self.carry = np.zeros(source.n_features)
        self.history: list[dict] = []
        self.position = Position()
        self.epoch_seconds = 0.0  # seconds spent in the current epoch before a resume
        self.last_save = (time.monotonic(), 0.0)

    def _say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)

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
        folder = self.checkpoint
        saved = ckpt.load(folder, warn=self.notify)
        try:
            saved_params, saved_input = dict(saved["params"]), dict(saved["fingerprint"])
            position = Position(**saved["position"])
            state = np.asarray(saved["state"], dtype=np.float64)
            carry = np.asarray(saved["carry"], dtype=np.float64)
            history = list(saved["history"])
            epoch_seconds = float(saved.get("epoch_seconds", 0.0))
            model_dict = saved["model"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{folder}: the checkpoint is malformed ({exc!r}); delete the "
                                  "folder to start afresh") from None
        differences = (_param_differences(saved_params, asdict(self.params)) +
                       _input_differences(saved_input, self.fingerprint))
        if differences:
            raise CheckpointError(
                f"cannot resume from {folder}: " + "; ".join(differences) + ". Resume with the "
                "same data and flags, or start afresh without --resume (delete the folder or "
                "give another --checkpoint)")
        # The epochs the checkpoint has started (a mid-epoch position counts its epoch).
        started = position.epoch + (1 if (position.block, position.row) != (0, 0) else 0)
        if started > self.epochs:
            raise CheckpointError(
                f"cannot resume from {folder}: it holds {ckpt.describe(saved)}, beyond "
                f"--epochs {self.epochs}; give --epochs {started} or more")
        n = self.source.n_features
        if state.shape != (kernels.STATE_SIZE,) or carry.shape != (n,) or \
                min(position.epoch, position.block, position.row) < 0:
            raise CheckpointError(f"{folder}: the checkpoint is malformed (state, carry or "
                                  "position out of shape); delete the folder to start afresh")
        model = Neuron.from_dict(model_dict, where=f"{folder} (checkpoint)")
        if model.n_features != n:
            raise CheckpointError(f"{folder}: the checkpoint's model has {model.n_features} "
                                  f"weights but the input has {n} features")
        self.state[:] = state
        self.carry[:] = carry
        self.history = history
        self.position = position
        self.epoch_seconds = epoch_seconds
        if position == Position(self.epochs, 0, 0):
            self._say(f"{folder} holds {ckpt.describe(saved)}; writing its model")
        else:
            self._say(f"resuming from {folder}: {ckpt.describe(saved)}")
        return model

    def _save(self, model: Neuron, position: Position, epoch_seconds: float,
              complete: bool = False) -> None:
        from . import __version__

        model.bias = float(self.state[kernels.BIAS])
        ckpt.save(self.checkpoint, {
            "model": model.to_dict(),
            "state": self.state.tolist(),
            "carry": self.carry.tolist(),
            "position": asdict(position),
            "epochs_done": position.epoch,
            "epochs": self.epochs,
            "complete": complete,
            "epoch_seconds": epoch_seconds,
            "history": self.history,
            "params": asdict(self.params),
            "fingerprint": self.fingerprint,
            "streamneuron": __version__,
        })
        self.last_save = (time.monotonic(), self.state[kernels.UPDATES])

    # -- the loop ---------------------------------------------------------------
    def run(self, resume: bool) -> Neuron:
        if resume:
            model = self._restore()
        else:
            model = self._fresh_model()
            if self.checkpoint:  # from here on a crash can resume (statistics included)
                self._save(model, Position(), 0.0)
        w = model.weights
        p, st, carry = self.params, self.state, self.carry
        n_blocks = math.ceil(len(self.source.units) / p.window)
        self.last_save = (time.monotonic(), st[kernels.UPDATES])
        epoch_start = time.perf_counter() - self.epoch_seconds
        stop = _StopRequest(self.checkpoint)
        blocks = iter_blocks(self.source, self.position, epochs=self.epochs, shuffle=p.shuffle,
                             seed=p.seed, window=p.window, prefetch=PREFETCH)
        with stop.installed(active=self.checkpoint is not None), contextlib.closing(blocks):
            for block in blocks:
                epoch, k = block.position.epoch, block.position.block
                pos, n = block.position.row, len(block.y)
                order, labels = block.order, block.labels  # labels in training order
                while pos < n:
                    if stop.signal is not None and st[kernels.CARRY_ROWS] == 0:
                        # e.g. the signal came while the block was being read
                        self._interrupt(model, Position(epoch, k, pos), epoch_start, stop.signal)
                    limit = self._updates_until_checkpoint() if stop.signal is None else 1
                    before = st[kernels.ROWS_SEEN]
                    pos, status = kernels.sgd_chunk(
                        block.X, labels, order, pos, min(n, pos + SLICE_ROWS), w, st,
                        carry, model._mean, model._inv_scale, self.loss_id, p.batch_size,
                        self.lr0, self.power, p.l2, limit)
                    if status == kernels.NONFINITE:
                        self._nonfinite(block, pos)
                    if self.progress is not None:
                        self.progress(int(st[kernels.ROWS_SEEN] - before),
                                      st[kernels.LOSS_SUM] / max(st[kernels.ROWS_SEEN], 1.0))
                    at_boundary = st[kernels.CARRY_ROWS] == 0
                    if stop.signal is not None and at_boundary and pos < n:
                        self._interrupt(model, Position(epoch, k, pos), epoch_start, stop.signal)
                    if self.checkpoint and at_boundary and self._checkpoint_due():
                        self._save(model, Position(epoch, k, pos), time.perf_counter() - epoch_start)
                last = k == n_blocks - 1
                if last:
                    self._end_epoch(model, epoch, epoch_start)
                    epoch_start = time.perf_counter()
                if stop.signal is not None:  # the block is done: stop before the next one
                    # (an unfinished batch's sums are in the carry, saved with the checkpoint)
                    nxt = Position(epoch + 1, 0, 0) if last else Position(epoch, k + 1, 0)
                    if nxt.epoch < self.epochs:
                        self._interrupt(model, nxt, epoch_start, stop.signal)
        model.bias = float(st[kernels.BIAS])
        model.updates = int(st[kernels.UPDATES])
        model.info = {"mode": "sgd", "epochs": self.epochs, "rows": self.source.n_rows,
                      "updates": model.updates, "history": self.history,
                      "params": asdict(self.params)}
        if self.checkpoint:
            self._save(model, Position(self.epochs, 0, 0), 0.0, complete=True)
        return model

    def _end_epoch(self, model: Neuron, epoch: int, epoch_start: float) -> None:
        st = self.state
        if st[kernels.CARRY_ROWS] > 0:  # the last short batch is used as it is
            kernels.apply_update(model.weights, st, self.carry, self.lr0, self.power, self.params.l2)
        w = model.weights
        if not (np.all(np.isfinite(w)) and math.isfinite(st[kernels.BIAS])):
            raise DivergenceError(f"the weights became infinite in epoch {epoch + 1}: lower --lr")
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
