"""Resumable SGD state in a folder: ``checkpoint.json`` and the one before it.

A checkpoint holds all the rest of a run depends on: weights, the engine's
state vector (bias, update count ``t``, the unfinished batch's gradient sums),
the stream position, the standardization statistics, the run's parameters and
a fingerprint of the input. Floats are written with ``repr`` (JSON), which
round-trips float64 exactly, so a resumed run is bit-identical.

Writes are atomic (temporary file, fsync, rename, fsync of the folder). The
previous checkpoint is kept as ``checkpoint.prev.json``; a file that fails its
SHA-256 check (truncated, corrupted) is never loaded, the previous one is.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

from .atomic import atomic_path, fsync_folder
from .errors import CheckpointError

CURRENT = "checkpoint.json"
PREVIOUS = "checkpoint.prev.json"
KIND = "streamneuron-checkpoint"
VERSION = 1


def _digest(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def save(folder: str, payload: dict) -> None:
    """Atomically write ``payload`` as the current checkpoint; keep the last one."""
    os.makedirs(folder, exist_ok=True)
    record = {"kind": KIND, "version": VERSION, "sha256": _digest(payload), "payload": payload}
    current = os.path.join(folder, CURRENT)
    with atomic_path(current) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f)
        # Between these renames the folder holds PREVIOUS only; load() falls back to it.
        if os.path.exists(current):
            os.replace(current, os.path.join(folder, PREVIOUS))
    fsync_folder(folder)


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise ValueError("not a streamneuron checkpoint")
    if record.get("version") != VERSION:
        raise ValueError(f"checkpoint version {record.get('version')!r} is not supported")
    if _digest(record["payload"]) != record.get("sha256"):
        raise ValueError("its checksum does not match (the file is damaged)")
    return record["payload"]


def load(folder: str) -> dict:
    """The newest valid checkpoint in ``folder``; CheckpointError if there is none."""
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
        if problems:
            warnings.warn(f"{problems[0]}; resuming from the previous checkpoint {path}",
                          stacklevel=2)
        return payload
    if problems:
        raise CheckpointError("no usable checkpoint: " + "; ".join(problems))
    raise CheckpointError(f"{folder}: no checkpoint to resume from (run without --resume first)")


def exists(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, n)) for n in (CURRENT, PREVIOUS))
