"""Resumable SGD state in a folder: ``checkpoint.json`` and the one before it.

A checkpoint holds all the rest of a run depends on: weights, the engine's
state vector (bias, update count ``t``, the unfinished batch's gradient sums),
the stream position, the standardization statistics, the run's parameters and
a fingerprint of the input. Floats are written with ``repr`` (JSON), which
round-trips float64 exactly, so a resumed run is bit-identical.

Writes are atomic (temporary file, fsync, rename, fsync of the folder): a kill
at any instant leaves the old checkpoint or the new one, never a torn file.
The previous good checkpoint is kept as ``checkpoint.prev.json``; a file that
fails its SHA-256 check (truncated, corrupted) is never loaded, the previous
one is, and a damaged file is never rotated over the previous good one.

One run at a time: :func:`locked` holds an advisory lock (``.lock``) on the
folder for the whole run, released by the kernel even on ``kill -9``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
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
VERSION = 1

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


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise ValueError("not a streamneuron checkpoint")
    if record.get("version") != VERSION:
        raise ValueError(f"checkpoint version {record.get('version')!r} is not supported")
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


def describe(payload: dict) -> str:
    """'epoch 2 of 5, block 3, row 1200, 4711 updates' for messages."""
    pos = payload.get("position", {})
    if payload.get("complete"):
        text = f"a finished run of {payload.get('epochs', pos.get('epoch', '?'))} epochs"
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
            from .kernels import UPDATES

            text += f", {int(payload['state'][UPDATES])} updates"
        return text
    text = f"epoch {pos.get('epoch', 0) + 1}"
    if payload.get("epochs"):
        text += f" of {payload['epochs']}"
    text += f", block {pos.get('block', 0)}, row {pos.get('row', 0)}"
    try:
        from .kernels import UPDATES

        text += f", {int(payload['state'][UPDATES])} updates"
    except (KeyError, IndexError, TypeError, ValueError):
        pass
    return text
