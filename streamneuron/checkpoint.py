"""Resumable SGD state in a folder: ``checkpoint.json`` and the one before it.

A checkpoint holds all the rest of a run depends on: the model (weights,
standardization statistics), the training state by name
(:class:`~streamneuron.training.TrainState`: bias, update count ``t``, the
unfinished batch's gradient sums, the epoch's loss sum), the stream position, the
run's parameters and a fingerprint of the input. Floats are written with ``repr``
(JSON), which round-trips float64 exactly, so a resumed run is bit-identical.
The file carries a format version; a checkpoint of another format is refused with
a :class:`CheckpointError` that says so.

Whether a checkpoint may be resumed by a run (same parameters, same input, enough
epochs, the right shapes) is decided here too (:func:`resume`): the SGD engine
only trains.

Writes are atomic (temporary file, fsync, rename, fsync of the folder): a kill
at any instant leaves the old checkpoint or the new one, never a torn file.
The previous good checkpoint is kept as ``checkpoint.prev.json``; a file that
fails its SHA-256 check (truncated, corrupted) is never loaded, the previous
one is, and a damaged file is never rotated over the previous good one.

One run at a time: :func:`locked` holds an advisory lock (``.lock``) on the
folder for the whole run, released by the kernel even on ``kill -9``.

Preparing a run's folder (:func:`held_for_run`: fingerprint, lock, the refusal to
overwrite) is here too: the engine only asks for it.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from .atomic import atomic_path
from .errors import CheckpointError

try:  # POSIX only; elsewhere the folder simply is not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

CURRENT = "checkpoint.json"
PREVIOUS = "checkpoint.prev.json"
LOCK = ".lock"
KIND = "streamneuron-checkpoint"
# The format version: 1 kept the engine's scalars as one unnamed list ("state": [...])
# and the carry apart; 2 keeps the training state by name ("state": {"bias": ...});
# 3 adds the early-stopping state ("state": {"stopping": {...}}: best weights, patience
# counter, the checks so far) and the running average of the weights; 4 adds row weights
# and L1 to the training state ("carry_weight", "weight_seen", "l1_u", "l1_q") and
# "l1", "class_weight", "weight" to the parameters. An older format is refused, not
# read with defaults: its parameters lack the new ones, so a resume could not be
# checked against the command line it was made with.
VERSION = 4

# Files this process wrote or verified, by (device, inode, size, mtime): a save
# rotates the current file to PREVIOUS without re-reading it when it is one of
# these, and re-verifies it otherwise (so a damaged file never becomes PREVIOUS).
_known_good: set[tuple] = set()


def _stat_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_good(path: str) -> bool:
    key = _stat_key(path)
    if key is None:
        return False
    if key in _known_good:
        return True
    try:
        _read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    _known_good.add(key)
    return True


def save(folder: str, payload: dict) -> None:
    """Atomically write ``payload`` as the current checkpoint; keep the last good one."""
    os.makedirs(folder, exist_ok=True)
    record = {"kind": KIND, "version": VERSION, "sha256": _digest(payload), "payload": payload}
    current = os.path.join(folder, CURRENT)
    with atomic_path(current) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        # Between these renames the folder holds PREVIOUS only; load() falls back to it.
        # A damaged current file is not rotated: PREVIOUS stays the last good one.
        if _is_good(current):
            os.replace(current, os.path.join(folder, PREVIOUS))
    # atomic_path fsynced the file and the folder after the rename.
    key = _stat_key(current)
    if key is not None:
        _known_good.add(key)


class _OtherFormat(ValueError):
    """A sound checkpoint file of another format version."""


def _older(version) -> bool:
    return isinstance(version, int) and not isinstance(version, bool) and version < VERSION


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise ValueError("not a streamneuron checkpoint")
    if record.get("version") != VERSION:
        raise _OtherFormat(
            f"it is in checkpoint format {record.get('version')!r}, written by "
            f"{'an older' if _older(record.get('version')) else 'another'} version of "
            f"streamneuron; this one reads format {VERSION} only, so it cannot be resumed")
    if not isinstance(record.get("payload"), dict):
        raise ValueError("not a streamneuron checkpoint (no payload)")
    if _digest(record["payload"]) != record.get("sha256"):
        raise ValueError("its checksum does not match (the file is damaged)")
    return record["payload"]


def load(folder: str, warn: Callable[[str], None] | None = None) -> dict:
    """The newest valid checkpoint in ``folder``; CheckpointError if there is none.

    When the current file is damaged and the previous one is used, ``warn`` (if
    given; else :func:`warnings.warn`) is told so.
    """
    problems = []
    for name in (CURRENT, PREVIOUS):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        try:
            payload = _read(path)
        except _OtherFormat as exc:
            raise CheckpointError(f"{path}: {exc}; delete {folder} to start afresh") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            problems.append(f"{path}: {exc}")
            continue
        key = _stat_key(path)
        if key is not None:
            _known_good.add(key)
        if problems:
            message = f"{problems[0]}; resuming from the previous checkpoint {path}"
            if warn is None:
                import warnings

                warnings.warn(message, stacklevel=2)
            else:
                warn(message)
        return payload
    if problems:
        raise CheckpointError("no usable checkpoint: " + "; ".join(problems) +
                              f"; delete {folder} to start afresh")
    raise CheckpointError(f"{folder}: no checkpoint to resume from (run without --resume first)")


def exists(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, n)) for n in (CURRENT, PREVIOUS))


def remove_stale_temporaries(folder: str) -> None:
    """Delete temporary files a killed writer left behind (call with the lock held)."""
    for path in glob.glob(os.path.join(glob.escape(folder), f".{CURRENT}.*.tmp")):
        with contextlib.suppress(OSError):
            os.unlink(path)


@contextlib.contextmanager
def locked(folder: str) -> Iterator[None]:
    """Hold the folder's lock for the duration; CheckpointError if another run holds it."""
    path = os.path.join(folder, LOCK)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot use this checkpoint folder "
                              f"({exc.strerror or exc})") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise CheckpointError(
                    f"{folder} is in use by another training run (pid {owner}); wait for it "
                    "to finish or stop it, or give another --checkpoint folder") from None
            except OSError:  # a filesystem without locks: go on unlocked
                pass
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _updates(payload: dict):
    with contextlib.suppress(KeyError, TypeError, ValueError):
        return int(payload["state"]["updates"])
    return None


def describe(payload: dict) -> str:
    """'epoch 2 of 5, block 3, row 1200, 4711 updates' for messages."""
    pos = payload.get("position", {})
    updates = _updates(payload)
    if payload.get("complete"):
        # the epochs made (a run until converged may stop long before its most epochs)
        made = payload.get("history")
        text = (f"a finished run of {len(made)} epochs" if made is not None
                else f"a finished run of {payload.get('epochs', pos.get('epoch', '?'))} epochs")
    else:
        text = f"epoch {pos.get('epoch', 0) + 1}"
        if payload.get("epochs"):
            text += f" of {payload['epochs']}"
        text += f", block {pos.get('block', 0)}, row {pos.get('row', 0)}"
    if updates is not None:
        text += f", {updates} updates"
    return text


# -- may this run resume this checkpoint? -------------------------------------------


def _param_differences(saved: dict, now: dict) -> list[str]:
    from .params import flag

    return [f"{flag(key)} was {saved.get(key)!r} in the checkpoint but is "
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


def fingerprint(source) -> dict:
    """The source's fingerprint (HDF5 sources include their dataset names), with
    each file named by its absolute path (so a resume from another working folder
    still matches)."""
    fp = source.fingerprint()
    files = []
    for ref, entry in zip(source.files, fp["files"]):
        entry = dict(entry, name=entry["path"])
        if ref.is_local:  # remote URLs are absolute already
            entry["path"] = os.path.abspath(ref.path)
        files.append(entry)
    fp["files"] = files
    return fp


def prepare_folder(folder: str, resume: bool) -> None:
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


@contextlib.contextmanager
def held_for_run(folder: str, source, validation, resume: bool) -> Iterator[dict]:
    """Make ``folder`` ready for a run and hold it for the run's duration: yields the
    input's fingerprint (``source``'s, with ``validation``'s files when given); the
    folder is made (or, with ``resume``, must exist), locked, cleared of a killed
    writer's temporaries; without ``resume`` a folder already holding a checkpoint
    is refused rather than overwritten."""
    fp = fingerprint(source)  # here, once: for in-memory arrays it hashes the data
    if validation is not None:
        fp["validation"] = fingerprint(validation)["files"]
    prepare_folder(folder, resume)
    with locked(folder):
        remove_stale_temporaries(folder)
        if not resume and exists(folder):
            try:
                what = describe(load(folder, warn=lambda message: None))
            except CheckpointError:
                what = "damaged"
            raise CheckpointError(
                f"{folder} already holds a checkpoint ({what}); continue it with "
                "--resume, or delete the folder (or give another --checkpoint) to start afresh")
        yield fp


@dataclass
class Resumed:
    """What a run continues from: the model, its training state, where the stream
    was, the history so far, and the seconds already spent in the current epoch."""

    model: object  # a streamneuron.Neuron
    state: object  # a streamneuron.training.TrainState, training model.weights
    position: object  # a streamneuron.stream.Position
    history: list
    epoch_seconds: float
    payload: dict
    stopping: object = None  # a streamneuron.validation.Stopping


def resume(folder: str, params: dict, input_fingerprint: dict, epochs: int, n_features: int,
           warn: Callable[[str], None] | None = None) -> Resumed:
    """The newest checkpoint in ``folder``, checked for a run with ``params``,
    ``input_fingerprint`` (:func:`fingerprint`), ``epochs`` and ``n_features``.

    CheckpointError, saying what differs, when the parameters or the input differ,
    when the checkpoint is beyond ``epochs``, or when it is malformed.
    """
    from .neuron import Neuron
    from .stream import Position
    from .training import TrainState

    saved = load(folder, warn=warn)

    def malformed(what) -> CheckpointError:
        return CheckpointError(f"{folder}: the checkpoint is malformed ({what}); delete the "
                               "folder to start afresh")

    try:
        saved_params, saved_input = dict(saved["params"]), dict(saved["fingerprint"])
        position = Position(**saved["position"])
        history = list(saved["history"])
        epoch_seconds = float(saved.get("epoch_seconds", 0.0))
        model_dict, state_dict = saved["model"], saved["state"]
    except (KeyError, TypeError, ValueError) as exc:
        raise malformed(repr(exc)) from None
    differences = (_param_differences(saved_params, params) +
                   _input_differences(saved_input, input_fingerprint))
    if differences:
        raise CheckpointError(
            f"cannot resume from {folder}: " + "; ".join(differences) + ". Resume with the "
            "same data and flags, or start afresh without --resume (delete the folder or "
            "give another --checkpoint)")
    # The epochs the checkpoint has started (a mid-epoch position counts its epoch).
    started = position.epoch + (1 if (position.block, position.row) != (0, 0) else 0)
    if started > epochs:
        raise CheckpointError(
            f"cannot resume from {folder}: it holds {describe(saved)}, beyond "
            f"--epochs {epochs}; give --epochs {started} or more")
    if min(position.epoch, position.block, position.row) < 0:
        raise malformed("position out of range")
    model = Neuron.from_dict(model_dict, where=f"{folder} (checkpoint)")
    if model.n_features != n_features:
        raise CheckpointError(f"{folder}: the checkpoint's model has {model.n_features} "
                              f"weights but the input has {n_features} features")
    from .validation import Stopping

    try:
        state = TrainState.from_dict(state_dict, model.weights)
        stopping = Stopping.from_dict(state_dict["stopping"], model.n_features)
    except (KeyError, TypeError, ValueError) as exc:
        raise malformed(f"state: {exc!r}") from None
    return Resumed(model, state, position, history, epoch_seconds, saved, stopping)


def run_payload(model, state, position, *, epochs: int, complete: bool, epoch_seconds: float,
                history: list, params: dict, input_fingerprint: dict,
                stopping: dict | None = None) -> dict:
    """A run's checkpoint: the model (with ``state.bias``), the training state by name
    (with the early-stopping state ``stopping``, a
    :meth:`streamneuron.validation.Stopping.to_dict`), the position and the rest
    :func:`resume` checks."""
    from . import __version__
    from .validation import Stopping

    state.sync()  # lazily held level weights written into the model's weights
    model.bias = float(state.bias)
    return {
        "model": model.to_dict(),
        "state": dict(state.to_dict(),
                      stopping=Stopping().to_dict() if stopping is None else stopping),
        "position": asdict(position),
        "epochs_done": position.epoch,
        "epochs": epochs,
        "complete": complete,
        "epoch_seconds": epoch_seconds,
        "history": history,
        "params": params,
        "fingerprint": input_fingerprint,
        "streamneuron": __version__,
    }
