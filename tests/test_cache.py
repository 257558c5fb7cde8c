"""``fit_sgd(cache=DIR)`` / ``train --cache DIR`` (:mod:`streamneuron.readers.cached`):
the decoded units written once and read back, the same bits as without it; the folder
removed however the run ends; a clear refusal when it cannot be written."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import streamneuron as sn
from streamneuron.errors import ConfigError
from streamneuron.readers import cached
from cli_helpers import run, turned_away
from test_categorical import NUM, make_frame

KWARGS = dict(label="y", epochs=3, batch_size=16, seed=5, schedule="adagrad",
              categorical=["hour"])


@pytest.fixture(scope="module")
def train_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache") / "train.parquet"
    make_frame(3000, 0).to_parquet(path, row_group_size=700)
    return path


def _reads(monkeypatch) -> dict:
    """Count the units the cache stores and reads back."""
    seen = {"store": 0, "load": 0}
    store, load = cached.Cached._store, cached.Cached._load

    def counted_store(self, i, unit):
        seen["store"] += 1
        return store(self, i, unit)

    def counted_load(self, entry, out):
        seen["load"] += 1
        return load(self, entry, out)

    monkeypatch.setattr(cached.Cached, "_store", counted_store)
    monkeypatch.setattr(cached.Cached, "_load", counted_load)
    return seen


def test_the_same_bits_with_levels_holdout_and_resume(train_path, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    seen = _reads(monkeypatch)
    models = []
    for extra in ({}, {"validation_fraction": 0.2}, {"validation": train_path}):
        plain = sn.fit_sgd(train_path, **KWARGS, **extra)
        models.append(plain)
        kept = sn.fit_sgd(train_path, **KWARGS, **extra, cache=folder)
        np.testing.assert_array_equal(kept.weights, plain.weights)
        assert kept.bias == plain.bias
        assert [r["objective"] for r in kept.info["history"]] == \
            [r["objective"] for r in plain.info["history"]]
        if extra:
            assert [r["val_loss"] for r in kept.info["history"]] == \
                [r["val_loss"] for r in plain.info["history"]]
        assert os.listdir(folder) == []  # the run's folder removed at the end
    units = 5  # 3000 rows in row groups of 700
    assert seen["store"] == 4 * units and seen["load"] >= 3 * 2 * units
    # A resumed run rebuilds the cache in the epochs it makes: the same weights again.
    ckpt = tmp_path / "ckpt"
    sn.fit_sgd(train_path, **{**KWARGS, "epochs": 1}, checkpoint=ckpt, cache=folder)
    resumed = sn.fit_sgd(train_path, **KWARGS, checkpoint=ckpt, resume=True, cache=folder)
    np.testing.assert_array_equal(resumed.weights, models[0].weights)
    assert os.listdir(folder) == []


def test_numbers_only_cached_by_the_standardization_pass(train_path, tmp_path, monkeypatch):
    seen = _reads(monkeypatch)
    plain = sn.fit_sgd(train_path, label="y", features=NUM, epochs=2)
    kept = sn.fit_sgd(train_path, label="y", features=NUM, epochs=2, cache=tmp_path)
    np.testing.assert_array_equal(kept.weights, plain.weights)
    assert kept.bias == plain.bias
    # the standardization pass decodes (and stores) every unit; both epochs read them back
    assert seen == {"store": 5, "load": 10}
    assert os.listdir(tmp_path) == []


def test_refused_or_failed_cache_leaves_nothing(train_path, tmp_path, capsys, monkeypatch):
    model = tmp_path / "m.json"
    argv = ["train", train_path, "--label", "y", "--epochs", "2", "-o", model]
    turned_away(capsys, argv + ["--cache", tmp_path / "nowhere"],
                ["--cache", "nowhere", "no such folder"], output=model)
    folder = tmp_path / "cache"
    folder.mkdir()

    def full(X, row_major):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(cached, "_contiguous", full)
        turned_away(capsys, argv + ["--cache", folder, "--quiet"],
                    ["--cache", "the disk is full"],
                    output=model)
    assert os.listdir(folder) == []

    def interrupted(self, entry, out):
        raise KeyboardInterrupt

    monkeypatch.setattr(cached.Cached, "_load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sn.fit_sgd(train_path, label="y", epochs=2, cache=folder)
    assert os.listdir(folder) == []
    with pytest.raises(ConfigError, match="no such folder"):
        sn.fit_sgd(train_path, label="y", cache=tmp_path / "nowhere")
    code, _, err = run(capsys, *argv, "--cache", folder)  # (the load still interrupts)
    assert code == 130 and os.listdir(folder) == [] and not model.exists()
