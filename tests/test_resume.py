"""Exact resume: a run killed at any moment and resumed ends with exactly the
weights of a run never interrupted (``==``, not approximately).

* kill -9 of a real ``streamneuron train`` subprocess three times, each right
  after a seeded number of its checkpoints (events the process reports, no
  sleeps), while it goes on training, then resumed until done, on Parquet and
  HDF5, shuffle on and off, batch sizes that straddle row groups;
* SIGINT / SIGTERM of a subprocess: a resumable checkpoint, a message that says
  how to resume, exit non-zero, an existing model untouched;
* in process, many more configurations: crashes at random slices, signals at
  random moments (mid-block, at an epoch's end, while a block is being read, a
  second signal), resumes with more epochs;
* checkpoint files truncated at random offsets or corrupted: refused or replaced
  by the last good one, never loaded half; a kill between the two renames of a
  save;
* resume refusals that say what differs (flags, data, epochs), a missing
  checkpoint, a folder held by another run, a fresh run on a used folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron import checkpoint as ckpt
from streamneuron.cli import main
from streamneuron.generate import generate
from streamneuron.readers import hdf5 as hdf5_reader

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

# ---------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Files big enough that a training subprocess runs for about a second.

    Row groups / HDF5 chunks of 29,989 rows: no batch size below divides them,
    so batches straddle row groups (and HDF5 units of two chunks)."""
    folder = tmp_path_factory.mktemp("big")
    files = {}
    for fmt, name in (("parquet", "big.parquet"), ("hdf5", "big.h5")):
        generate(folder / name, rows=200_000, features=6, format=fmt, seed=11,
                 row_group_size=29_989)
        files[fmt] = str(folder / name)
    return files


def small_parquet(folder: Path, seed: int = 0, n_files: int = 2) -> list[str]:
    """About 2,500 rows over files of uneven row groups (1 to 400 rows)."""
    rng = np.random.default_rng(seed)
    paths = []
    for f in range(n_files):
        sizes = rng.integers(1, 400, size=rng.integers(3, 6))
        n = int(sizes.sum())
        X = rng.normal(size=(n, 4)) * [1, 2, 0.5, 3] + [0, 1, -1, 2]
        y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 2.0, 0.3] - 0.4)))).astype(np.int8)
        path = folder / f"part-{f}.parquet"
        schema = pa.schema([(f"x{j}", pa.float32() if j % 2 else pa.float64()) for j in range(4)]
                           + [("y", pa.int8())])
        with pq.ParquetWriter(path, schema) as writer:
            start = 0
            for size in sizes:
                rows = slice(start, start + size)
                cols = {f"x{j}": X[rows, j] for j in range(4)}
                writer.write_table(pa.table({**cols, "y": y[rows]}, schema=schema))
                start += size
        paths.append(str(path))
    return paths


def small_hdf5(folder: Path, monkeypatch, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    n = 2_345
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [1.0, -2.0, 0.5])))).astype(np.float64)
    path = folder / "small.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(37, 3))
        f["y"] = y
    monkeypatch.setattr(hdf5_reader, "TARGET_UNIT_ROWS", 100)  # units of 3 chunks: 111 rows
    return [str(path)]


def same_model(a, b) -> None:
    """Exactly equal weights, bias and standardization (``==``)."""
    if isinstance(a, (str, Path)):
        a = json.loads(Path(a).read_text())
    if isinstance(b, (str, Path)):
        b = json.loads(Path(b).read_text())
    if isinstance(a, sn.Neuron):
        a = a.to_dict()
    if isinstance(b, sn.Neuron):
        b = b.to_dict()
    assert a["weights"] == b["weights"]
    assert a["bias"] == b["bias"]
    assert a["standardize"] == b["standardize"]


# A ``streamneuron train`` process that reports each checkpoint it has written: one
# line "saved" on stdout after every save (atomic, so complete by then). The tests
# kill or signal it on those events, never after a sleep.
TRAIN_REPORTING_SAVES = """
import sys
from streamneuron import checkpoint
from streamneuron.cli import main

save = checkpoint.save


def reporting_save(*args, **kwargs):
    save(*args, **kwargs)
    print("saved", flush=True)


checkpoint.save = reporting_save
sys.exit(main(sys.argv[1:]))
"""


def train_process(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAIN_REPORTING_SAVES, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for_saves(proc: subprocess.Popen, count: int) -> bool:
    """Block until the process has written ``count`` checkpoints; False if it ended
    first (its stdout closed)."""
    seen = 0
    while seen < count:
        line = proc.stdout.readline()
        if not line:
            return False
        seen += line.strip() == "saved"
    return True


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


_references: dict[tuple, Path] = {}


def reference_model(args: list, folder: Path) -> Path:
    """The model of an uninterrupted run (in process), computed once per argument list."""
    key = tuple(map(str, args))
    if key not in _references:
        path = folder / f"reference-{len(_references)}.json"
        assert main(list(key) + ["-o", str(path)]) == 0
        _references[key] = path
    return _references[key]


# ---------------------------------------------------------------------------- kill -9

def kill_args(big, fmt, shuffle, batch, extra) -> list:
    # Twelve epochs (2.4M rows): a run is killed within its first three checkpoints, at
    # most ~120k rows past where it resumed, so three kills leave it far from its end,
    # even on a loaded machine where the kill comes a second after the checkpoint
    # (the reference and the last resume, in process, train all of them).
    return ["train", big[fmt], "--label", "y", "--batch-size", batch, "--epochs", 12,
            "--seed", 5, "--shuffle" if shuffle else "--no-shuffle", *extra, "--quiet"]


KILL_CASES = [
    ("parquet", True, 97, []),
    ("parquet", False, 1_000, ["--schedule", "invscaling", "--l2", "0.001"]),
    ("hdf5", True, 1_000, ["--shuffle-window", "2", "--loss", "mse"]),
    ("hdf5", False, 97, ["--no-standardize", "--lr", "0.02"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("fmt, shuffle, batch, extra", KILL_CASES)
def test_kill9_at_random_moments_then_resume_gives_identical_weights(
        big, tmp_path_factory, tmp_path, fmt, shuffle, batch, extra):
    args = kill_args(big, fmt, shuffle, batch, extra)
    reference = reference_model(args, tmp_path_factory.getbasetemp())

    ck, out = tmp_path / "ck", tmp_path / "model.json"
    rng = random.Random(f"{fmt}-{shuffle}-{batch}")
    for kill in range(3):
        proc = train_process(*args, "-o", out, "--checkpoint", ck, "--checkpoint-every",
                             rng.randint(10_000, 40_000) // batch,
                             *(["--resume"] if kill else []))
        # Killed right after its k-th checkpoint (k seeded), while it goes on training
        # or writing the next one: there are far more checkpoints in a run than that.
        assert wait_for_saves(proc, rng.randint(1, 3)), proc.communicate()[1]
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err
        ckpt.load(str(ck))  # a kill at any instant leaves a loadable checkpoint
    assert not out.exists()
    # The last resume runs here, in process (numba is loaded).
    assert main([str(a) for a in args] + ["-o", str(out), "--checkpoint", str(ck),
                                          "--resume"]) == 0
    same_model(out, reference)
    payload = ckpt.load(str(ck))
    assert payload["complete"] is True
    assert not any(p.name.endswith(".tmp") for p in ck.iterdir())

    # Resuming a complete run only writes the model again.
    again = tmp_path / "again.json"
    assert main([str(a) for a in args] + ["-o", str(again), "--checkpoint", str(ck),
                                          "--resume"]) == 0
    same_model(again, reference)


# ---------------------------------------------------------------------------- SIGINT / SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_at_a_batch_boundary_with_a_resumable_checkpoint(
        big, tmp_path_factory, tmp_path, signum):
    args = kill_args(big, *KILL_CASES[0])
    reference = reference_model(args, tmp_path_factory.getbasetemp())

    ck, out = tmp_path / "ck", tmp_path / "model.json"
    out.write_text("an older model\n")
    proc = train_process(*args, "-o", out, "--checkpoint", ck, "--checkpoint-every", 300)
    # The first checkpoint follows the standardization pass; the second, 300 batches
    # of training: the process is training, not loading.
    assert wait_for_saves(proc, 2), proc.communicate()[1]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = stderr_lines(err)
    assert len(lines) == 1 and lines[0].startswith("Interrupted:"), err
    assert signal.Signals(signum).name in err and "--resume" in err and str(ck) in err
    assert "Traceback" not in err
    assert out.read_text() == "an older model\n"  # untouched

    payload = ckpt.load(str(ck))
    assert payload["complete"] is False
    # Stopped at a batch boundary (no unfinished batch), or at the end of a block
    # before the next was read (the unfinished batch's sums are in the checkpoint).
    assert payload["state"]["carry_rows"] == 0 or payload["position"]["row"] == 0
    assert main([str(a) for a in args] + ["-o", str(out), "--checkpoint", str(ck),
                                          "--resume"]) == 0
    same_model(out, reference)


# ---------------------------------------------------------------------------- in process


class Crash(Exception):
    """Stands for a kill: raised from the progress callback, nothing is saved."""


def crash_after(calls: int):
    count = [0]

    def progress(rows, loss):
        count[0] += 1
        if count[0] >= calls:
            raise Crash

    return progress


CONFIGS = [
    dict(batch_size=1, shuffle=True),
    dict(batch_size=7, shuffle=False),
    dict(batch_size=64, shuffle=True, window=3),
    dict(batch_size=1_000, shuffle=True),  # a batch spans several row groups
    dict(batch_size=50, shuffle=False, schedule="invscaling", power_t=0.7, l2=0.01),
    dict(batch_size=33, shuffle=True, loss="mse", standardize=False, lr=0.05),
]


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_crash_at_random_slices_and_resume_is_exact(tmp_path, monkeypatch, fmt, config):
    paths = small_parquet(tmp_path) if fmt == "parquet" else small_hdf5(tmp_path, monkeypatch)
    kwargs = dict(epochs=3, seed=3, **config)
    reference = sn.fit_sgd(paths, **kwargs)
    rng = random.Random(repr(config) + fmt)
    batch = config["batch_size"]
    for trial in range(2):
        ck = str(tmp_path / f"ck{trial}")
        # A checkpoint every 1 to 17 batches, or only by time and at epoch ends (each
        # save costs an fsync: not every row at batch size 1).
        every = [max(1, 150 // batch), None][trial] if batch < 100 else rng.choice([1, 3, 17])
        crashes, resume = 0, False
        while True:
            progress = crash_after(rng.randint(1, 12)) if crashes < 4 else None
            try:
                model = sn.fit_sgd(paths, checkpoint=ck, resume=resume, checkpoint_every=every,
                                   progress=progress, **kwargs)
                break
            except Crash:
                crashes += 1
                resume = True
        same_model(model, reference)
        assert model.info["history"][-1]["rows"] == reference.info["history"][-1]["rows"]


def send_signal_after(calls: int, signum: int = signal.SIGINT, times: int = 1):
    count = [0]

    def progress(rows, loss):
        count[0] += 1
        if count[0] == calls:
            for _ in range(times):
                os.kill(os.getpid(), signum)

    return progress


@pytest.mark.parametrize("times", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_in_process_at_random_moments(tmp_path, signum, times):
    paths = small_parquet(tmp_path, seed=1)
    kwargs = dict(epochs=3, batch_size=29, seed=9)
    reference = sn.fit_sgd(paths, **kwargs)
    rng = random.Random(f"{signum}-{times}")
    ck = str(tmp_path / "ck")
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    resume, stops = False, 0
    for _ in range(100):
        try:
            model = sn.fit_sgd(paths, checkpoint=ck, resume=resume, checkpoint_every=5,
                               progress=send_signal_after(rng.randint(1, 15), signum, times),
                               **kwargs)
            break
        except sn.TrainingInterrupted as exc:
            stops += 1
            assert "--resume" in str(exc) and ck in str(exc)
            if times == 2:
                assert "second" in str(exc)
            resume = True
    else:
        pytest.fail(f"still interrupted after {stops} runs")
    assert stops >= 2
    # The handlers are restored afterwards.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    same_model(model, reference)


def test_signal_at_epoch_end_and_while_a_block_is_read(tmp_path):
    """The signal arrives between blocks: from on_epoch, and from the reader thread."""
    paths = small_parquet(tmp_path, seed=2)
    kwargs = dict(epochs=3, batch_size=41, seed=4)
    reference = sn.fit_sgd(paths, **kwargs)

    ck = str(tmp_path / "ck")
    with pytest.raises(sn.TrainingInterrupted, match="epoch 2, block 0, row 0"):
        sn.fit_sgd(paths, checkpoint=ck, on_epoch=lambda row: os.kill(os.getpid(), signal.SIGINT),
                   **kwargs)
    with sn.open_source(paths) as src:
        original, count = src.read, [0]

        def read(i, **kw):  # runs on the prefetch thread; Python handles it in the main thread
            count[0] += 1
            if count[0] == 4:
                os.kill(os.getpid(), signal.SIGTERM)
            return original(i, **kw)

        src.read = read
        with pytest.raises(sn.TrainingInterrupted, match="SIGTERM"):
            sn.fit_sgd(src, checkpoint=ck, resume=True, **kwargs)
    model = sn.fit_sgd(paths, checkpoint=ck, resume=True, **kwargs)
    same_model(model, reference)


def test_more_epochs_on_resume_continue_exactly_fewer_are_refused(tmp_path):
    paths = small_parquet(tmp_path, seed=5)
    kwargs = dict(batch_size=30, seed=2)
    reference5 = sn.fit_sgd(paths, epochs=5, **kwargs)
    ck = str(tmp_path / "ck")
    three = sn.fit_sgd(paths, epochs=3, checkpoint=ck, **kwargs)
    assert ckpt.load(ck)["complete"] is True
    # A complete run resumed with the same epochs: the model, without training.
    calls = []
    again = sn.fit_sgd(paths, epochs=3, checkpoint=ck, resume=True,
                       progress=lambda *a: calls.append(a), **kwargs)
    same_model(again, three)
    assert calls == []
    with pytest.raises(sn.CheckpointError, match="--epochs 3 or more"):
        sn.fit_sgd(paths, epochs=2, checkpoint=ck, resume=True, **kwargs)
    more = sn.fit_sgd(paths, epochs=5, checkpoint=ck, resume=True, **kwargs)
    same_model(more, reference5)
    assert [row["epoch"] for row in more.info["history"]] == [1, 2, 3, 4, 5]

    # Mid-epoch: a checkpoint inside epoch 2 cannot be resumed with --epochs 1.
    ck2 = str(tmp_path / "ck2")
    epochs_done, calls = [], [0]

    def progress(rows, loss):  # crash a few batches into the second epoch
        calls[0] += bool(epochs_done)
        if calls[0] == 3:
            raise Crash

    with pytest.raises(Crash):
        sn.fit_sgd(paths, epochs=5, checkpoint=ck2, checkpoint_every=1, progress=progress,
                   on_epoch=epochs_done.append, **kwargs)
    position = ckpt.load(ck2)["position"]
    assert position["epoch"] == 1 and (position["block"], position["row"]) != (0, 0)
    with pytest.raises(sn.CheckpointError, match="--epochs 2 or more"):
        sn.fit_sgd(paths, epochs=1, checkpoint=ck2, resume=True, **kwargs)
    reference2 = sn.fit_sgd(paths, epochs=2, **kwargs)
    same_model(sn.fit_sgd(paths, epochs=2, checkpoint=ck2, resume=True, **kwargs), reference2)


# ---------------------------------------------------------------------------- damaged checkpoints


def interrupted_checkpoint(tmp_path, paths, kwargs) -> str:
    """A folder with a current and a previous checkpoint, mid-run."""
    ck = str(tmp_path / "ck")
    with pytest.raises(Crash):
        sn.fit_sgd(paths, checkpoint=ck, checkpoint_every=4, progress=crash_after(9), **kwargs)
    assert os.path.exists(os.path.join(ck, ckpt.CURRENT))
    assert os.path.exists(os.path.join(ck, ckpt.PREVIOUS))
    return ck


def test_truncated_checkpoint_is_never_loaded_half(tmp_path):
    paths = small_parquet(tmp_path, seed=6)
    kwargs = dict(epochs=2, batch_size=25, seed=8)
    reference = sn.fit_sgd(paths, **kwargs)
    ck = interrupted_checkpoint(tmp_path, paths, kwargs)
    current, previous = (os.path.join(ck, n) for n in (ckpt.CURRENT, ckpt.PREVIOUS))
    good = Path(current).read_bytes()
    prev_payload = ckpt._read(previous)
    assert ckpt._read(current) != prev_payload

    rng = random.Random(0)
    offsets = sorted({0, 1, len(good) - 1, *rng.sample(range(len(good)), 25)})
    for offset in offsets:
        Path(current).write_bytes(good[:offset])
        messages = []
        assert ckpt.load(ck, warn=messages.append) == prev_payload  # never the half file
        assert "resuming from the previous checkpoint" in messages[0]
    # Damaged in place: same length, one digit changed (still valid JSON).
    text = good.decode()
    at = text.index('"carry_w": [') + len('"carry_w": [')
    digit = next(i for i in range(at, len(text)) if text[i].isdigit())
    Path(current).write_text(text[:digit] + str((int(text[digit]) + 1) % 10) + text[digit + 1:])
    assert ckpt.load(ck, warn=lambda m: None) == prev_payload

    # The damaged file never becomes "the previous good one": crash right after
    # the first save of the resumed run.
    Path(current).write_bytes(good[: len(good) // 2])
    notes = []
    with pytest.raises(Crash):
        sn.fit_sgd(paths, checkpoint=ck, resume=True, notify=notes.append, checkpoint_every=1,
                   progress=crash_after(2), **kwargs)
    assert any("previous checkpoint" in n for n in notes)
    assert ckpt._read(previous) == prev_payload
    assert ckpt._read(current) != prev_payload
    # Resuming from there is exact.
    model = sn.fit_sgd(paths, checkpoint=ck, resume=True, **kwargs)
    same_model(model, reference)

    # Both damaged: refused, naming both files.
    for path in (current, previous):
        Path(path).write_bytes(Path(path).read_bytes()[:100])
    with pytest.raises(sn.CheckpointError, match="no usable checkpoint") as info:
        sn.fit_sgd(paths, checkpoint=ck, resume=True, **kwargs)
    assert ckpt.CURRENT in str(info.value) and ckpt.PREVIOUS in str(info.value)


def test_truncated_checkpoint_through_the_cli(tmp_path, capsys):
    paths = small_parquet(tmp_path, seed=7)
    kwargs = dict(epochs=2, batch_size=25, seed=0)
    ck = interrupted_checkpoint(tmp_path, paths, kwargs)
    current = Path(ck) / ckpt.CURRENT
    current.write_bytes(current.read_bytes()[:-7])
    out, reference = tmp_path / "m.json", tmp_path / "ref.json"
    args = ["train", *paths, "--epochs", "2", "--batch-size", "25", "--seed", "0"]
    assert main(args + ["-o", str(reference), "--quiet"]) == 0
    capsys.readouterr()
    assert main(args + ["-o", str(out), "--checkpoint", ck, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "previous checkpoint" in err and "Traceback" not in err
    same_model(out, reference)


def test_a_kill_between_the_renames_of_a_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    folder = str(tmp_path / "ck")
    ckpt.save(folder, {"n": 1})
    ckpt.save(folder, {"n": 2})
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # current -> previous done, temporary -> current not yet
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(folder, {"n": 3})
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(os.listdir(folder)) == [ckpt.PREVIOUS]  # no temporary file left
    assert ckpt.load(folder) == {"n": 2}
    ckpt.save(folder, {"n": 4})
    assert ckpt.load(folder) == {"n": 4}
    assert ckpt._read(os.path.join(folder, ckpt.PREVIOUS)) == {"n": 2}


def test_stale_temporary_files_are_removed_on_resume(tmp_path):
    paths = small_parquet(tmp_path, seed=3)
    kwargs = dict(epochs=2, batch_size=64)
    ck = interrupted_checkpoint(tmp_path, paths, kwargs)
    stale = Path(ck) / f".{ckpt.CURRENT}.abc123.tmp"
    stale.write_text('{"kind": "streamneuron-checkpoint", "payl')
    sn.fit_sgd(paths, checkpoint=ck, resume=True, **kwargs)
    assert not stale.exists()


# ---------------------------------------------------------------------------- refusals


def test_resume_refusals_say_what_differs(tmp_path, capsys):
    paths = small_parquet(tmp_path, seed=4, n_files=1)
    base = ["train", *paths, "--batch-size", "20", "--epochs", "2", "--lr", "0.1", "--quiet", "-o",
            str(tmp_path / "m.json")]
    ck = str(tmp_path / "ck")

    def run(*extra) -> tuple[int, str]:
        code = main(base + list(extra))
        return code, capsys.readouterr().err

    code, err = run("--checkpoint", ck, "--resume")
    assert code == 2 and "no checkpoint to resume from" in err
    os.makedirs(ck)
    code, err = run("--checkpoint", ck, "--resume")
    assert code == 2 and "no checkpoint to resume from" in err
    code, err = run("--resume")
    assert code == 2 and "--resume needs --checkpoint" in err

    # A run stopped half-way.
    with pytest.raises(Crash):
        sn.fit_sgd(paths, batch_size=20, epochs=2, lr=0.1, checkpoint=ck, checkpoint_every=2,
                   progress=crash_after(3))
    saved = Path(ck, ckpt.CURRENT).read_bytes()

    for flags, expected in [
        (["--batch-size", "21"], "--batch-size was 20 in the checkpoint but is 21 now"),
        (["--no-shuffle"], "--shuffle/--no-shuffle was True in the checkpoint but is False"),
        (["--seed", "1"], "--seed was 0"),
        (["--lr", "0.2"], "--lr was 0.1"),
        (["--loss", "mse"], "--loss was 'log'"),
        (["--no-standardize"], "--standardize/--no-standardize was True"),
        (["--features", "x0,x1"], "the feature columns were"),
    ]:
        code, err = run("--checkpoint", ck, "--resume", *flags)
        lines = stderr_lines(err)
        assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: cannot resume"), err
        assert expected in err, err
    # Starting afresh on a folder that holds a checkpoint is refused: nothing is lost.
    code, err = run("--checkpoint", ck)
    assert code == 2 and "already holds a checkpoint" in err and "--resume" in err
    assert Path(ck, ckpt.CURRENT).read_bytes() == saved

    # The data changed: same size, new modification time; then new content.
    os.utime(paths[0], ns=(time.time_ns(), os.stat(paths[0]).st_mtime_ns + 10**9))
    code, err = run("--checkpoint", ck, "--resume")
    assert code == 2 and "has been modified since the checkpoint" in err
    assert os.path.basename(paths[0]) in err
    pq.write_table(pq.read_table(paths[0]).slice(0, 100), paths[0])
    code, err = run("--checkpoint", ck, "--resume")
    assert code == 2 and "has changed since the checkpoint (size" in err
    shutil.copy(paths[0], tmp_path / "other.parquet")
    code, err = run("--checkpoint", ck, "--resume", str(tmp_path / "other.parquet"))
    assert code == 2 and "other.parquet is new in the input" in err
    assert Path(ck, ckpt.CURRENT).read_bytes() == saved
    assert not (tmp_path / "m.json").exists()


def test_checkpoint_folder_problems(tmp_path, capsys):
    paths = small_parquet(tmp_path, seed=4, n_files=1)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(sn.CheckpointError, match="not a folder"):
        sn.fit_sgd(paths, checkpoint=str(a_file))
    with pytest.raises(sn.CheckpointError, match="cannot create"):
        sn.fit_sgd(paths, checkpoint=str(a_file / "ck"))
    with pytest.raises(sn.ConfigError, match="--checkpoint-every needs --checkpoint"):
        sn.fit_sgd(paths, checkpoint_every=3)
    with pytest.raises(sn.ConfigError, match="checkpoint_every"):
        sn.fit_sgd(paths, checkpoint=str(tmp_path / "ck"), checkpoint_every=0)
    assert main(["train", *paths, "-o", str(tmp_path / "m.json"), "--checkpoint",
                 str(tmp_path / "ck"), "--checkpoint-seconds", "0"]) == 2
    assert "--checkpoint-seconds must be > 0" in capsys.readouterr().err

    # Another run holds the folder.
    ck = str(tmp_path / "busy")
    os.makedirs(ck)
    with ckpt.locked(ck):
        with pytest.raises(sn.CheckpointError, match="in use by another training run"):
            sn.fit_sgd(paths, checkpoint=ck)
    sn.fit_sgd(paths, checkpoint=ck, epochs=1)  # free again


def test_checkpoint_contents(tmp_path):
    """Everything the rest of the run depends on is in the checkpoint."""
    paths = small_parquet(tmp_path, seed=9, n_files=1)
    ck = str(tmp_path / "ck")
    with pytest.raises(Crash):
        sn.fit_sgd(paths, epochs=2, batch_size=16, seed=7, checkpoint=ck, checkpoint_every=3,
                   progress=crash_after(4), schedule="invscaling", l2=0.01)
    payload = ckpt.load(ck)
    assert payload["params"] == dict(loss="log", batch_size=16, lr=0.1, schedule="invscaling",
                                     power_t=0.5, l2=0.01, seed=7, shuffle=True, window=1,
                                     standardize=True, validation_fraction=0.0,
                                     validate_every=None, early_stopping=False, patience=5,
                                     tol=1e-3, average=0, l1=0.0, class_weight=None,
                                     weight=None, max_levels=1000, hash_bits=0, missing="error")
    assert set(payload["position"]) == {"epoch", "block", "row"}
    state = payload["state"]
    assert set(state) == {"bias", "updates", "carry_b", "carry_rows", "loss_sum", "rows_seen",
                          "carry_w", "stopping", "avg_b", "avg_count", "avg_w", "g2",
                          "carry_weight", "weight_seen", "l1_u", "l1_q"}
    assert state["stopping"]["checks"] == 0 and state["stopping"]["best_weights"] is None
    assert state["updates"] > 0  # the update count t drives invscaling
    assert len(state["carry_w"]) == 4
    model = payload["model"]
    assert len(model["weights"]) == 4 and len(model["standardize"]["mean"]) == 4
    fp = payload["fingerprint"]
    assert fp["files"][0]["path"] == os.path.abspath(paths[0])
    assert {"size", "mtime"} <= set(fp["files"][0]) and fp["units"]
    assert payload["complete"] is False and payload["epochs"] == 2


def test_a_checkpoint_of_an_older_format_is_refused_clearly(tmp_path):
    """A checkpoint written by an older streamneuron (format 1: the state as an unnamed
    list) is refused with a CheckpointError naming the format, on resume and on a
    fresh run into the same folder."""
    paths = small_parquet(tmp_path, seed=9, n_files=1)
    ck = tmp_path / "ck"
    ck.mkdir()
    payload = {"state": [0.5, 3.0, 0.0, 0.0, 1.0, 10.0], "carry": [0.0] * 4}
    record = {"kind": ckpt.KIND, "version": 1, "sha256": ckpt._digest(payload),
              "payload": payload}
    (ck / ckpt.CURRENT).write_text(json.dumps(record))
    with pytest.raises(sn.CheckpointError, match=r"checkpoint format 1.*older version.*"
                                                 r"cannot be resumed.*start afresh"):
        sn.fit_sgd(paths, checkpoint=str(ck), resume=True)
    with pytest.raises(sn.CheckpointError, match="already holds a checkpoint"):
        sn.fit_sgd(paths, checkpoint=str(ck))


def test_in_memory_arrays_resume_exactly_and_refuse_other_data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 3))
    y = (rng.random(3_000) < 1 / (1 + np.exp(-X @ [1.0, -1.0, 0.5]))).astype(np.float64)
    kwargs = dict(epochs=2, batch_size=10, seed=1)
    reference = sn.fit_sgd((X, y), **kwargs)
    ck = str(tmp_path / "ck")
    with pytest.raises(Crash):
        sn.fit_sgd((X, y), checkpoint=ck, checkpoint_every=20, progress=crash_after(3), **kwargs)
    changed = X.copy()
    changed[5, 1] += 1.0
    with pytest.raises(sn.CheckpointError, match="in-memory data differs"):
        sn.fit_sgd((changed, y), checkpoint=ck, resume=True, **kwargs)
    same_model(sn.fit_sgd((X, y), checkpoint=ck, resume=True, **kwargs), reference)
