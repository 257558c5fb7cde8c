"""Held-out validation, early stopping and averaged SGD (issue 14).

Validation rows are never trained on (their labels can be anything); early stopping
returns the best check's weights; a run with all of it on resumes bit for bit.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

import streamneuron as sn
from streamneuron import checkpoint as ckpt
from streamneuron.cli import main
from streamneuron.stream import block_rows, held_out
from test_resume import Crash, crash_after, same_model, small_hdf5, small_parquet


def arrays(n=3_000, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.arange(1, d + 1) + 0.5
    w = np.linspace(1.0, -1.0, d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w) / d))).astype(np.float64)
    return X, y


def test_held_out_rows_are_a_seeded_pure_function_of_the_row():
    rows = np.arange(200_000)
    a = held_out(rows, 0.2, seed=3)
    assert np.array_equal(a, held_out(rows, 0.2, seed=3))
    assert np.array_equal(a[::-1], held_out(rows[::-1], 0.2, seed=3))  # any order
    assert abs(a.mean() - 0.2) < 0.005
    assert not np.array_equal(a, held_out(rows, 0.2, seed=4))
    assert not held_out(rows, 0.0, seed=3).any()
    assert np.all(held_out(rows, 0.1, 3) <= held_out(rows, 0.2, 3))  # nested fractions


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch", [1, 16])
def test_held_out_rows_are_never_trained_on(shuffle, batch):
    """Flipping the labels of the held-out rows changes no bit of the weights."""
    X, y = arrays()
    held = held_out(np.arange(len(y)), 0.25, seed=5)
    poisoned = np.where(held, 1.0 - y, y)
    kwargs = dict(epochs=2, batch_size=batch, seed=5, shuffle=shuffle, validation_fraction=0.25)
    clean = sn.fit_sgd(sn.ArraySource(X, y), **kwargs)
    dirty = sn.fit_sgd(sn.ArraySource(X, poisoned), **kwargs)
    same_model(clean, dirty)
    # ... while the validation sees them: its loss differs, on the held-out rows only
    assert clean.info["history"][0]["val_rows"] == held.sum()
    assert clean.info["history"][0]["val_loss"] != dirty.info["history"][0]["val_loss"]
    assert clean.info["history"][0]["rows"] == len(y) - held.sum()
    # and they do move the weights when not held out
    plain = sn.fit_sgd(sn.ArraySource(X, poisoned), **{**kwargs, "validation_fraction": 0.0})
    assert plain.weights.tolist() != clean.weights.tolist()


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_held_out_rows_of_files_are_never_trained_on(tmp_path, monkeypatch, fmt, shuffle):
    paths = small_parquet(tmp_path) if fmt == "parquet" else small_hdf5(tmp_path, monkeypatch)
    src = sn.open_source(paths, label="y")
    X = np.concatenate([src.read(u).X for u in range(len(src.units))])
    y = np.concatenate([src.read(u).y for u in range(len(src.units))])
    held = held_out(block_rows(src, list(range(len(src.units)))), 0.3, seed=2)
    kwargs = dict(epochs=2, batch_size=8, seed=2, shuffle=shuffle, validation_fraction=0.3,
                  standardize=False)
    from_files = sn.fit_sgd(paths, **kwargs)
    # The same rows, in memory, as one block with the held-out labels flipped: the same
    # weights need the same order, so compare with the training rows alone instead.
    kept = sn.fit_sgd(sn.ArraySource(X[~held], y[~held]),
                      **{**kwargs, "validation_fraction": 0.0, "shuffle": False})
    if not shuffle:  # file order: the kept rows in order, batches across units
        same_model(from_files, kept)
    assert from_files.info["history"][0]["rows"] == (~held).sum()
    assert from_files.info["history"][0]["val_rows"] == held.sum()


def test_validation_files_and_metrics(tmp_path):
    X, y = arrays(seed=1)
    Xv, yv = arrays(n=1_000, seed=2)
    model = sn.fit_sgd(sn.ArraySource(X, y), epochs=3, batch_size=32,
                       validation=sn.ArraySource(Xv, yv))
    row = model.info["history"][-1]
    assert row["val_rows"] == 1_000
    p = model.predict_proba(Xv)
    log_loss = float(np.mean(-(yv * np.log(p) + (1 - yv) * np.log1p(-p))))
    assert row["val_loss"] == pytest.approx(log_loss, rel=1e-9)
    assert row["val_accuracy"] == pytest.approx(np.mean((p >= 0.5) == yv))
    from sklearn.metrics import roc_auc_score

    assert row["val_auc"] == pytest.approx(roc_auc_score(yv, p), abs=1e-3)
    assert model.info["stopped_early"] is False and model.info["returned"] == "last"
    assert [c["check"] for c in model.info["validation"]] == [1, 2, 3]


@pytest.mark.parametrize("validation", [False, True])
def test_early_stopping_returns_the_best_weights(validation):
    X, y = arrays(n=2_000, seed=3)
    kwargs = dict(batch_size=16, lr=0.5, seed=1)
    extra = dict(validation_fraction=0.3) if validation else {}
    model = sn.fit_sgd(sn.ArraySource(X, y), epochs=60, early_stopping=True, patience=2,
                       tol=1e-4, **kwargs, **extra)
    info = model.info
    assert info["stopped_early"] and len(info["history"]) < 60
    best = info["best_epoch"]
    assert len(info["history"]) == best + 2 or info["best_check"] < len(info["validation"])
    key = "val_loss" if validation else "objective"
    losses = [row[key] for row in info["history"]]
    assert info["best_loss"] == min(losses) == losses[best - 1]
    # the best weights are those a run of best_epoch epochs ends with, bit for bit
    again = sn.fit_sgd(sn.ArraySource(X, y), epochs=best, **kwargs, **extra)
    same_model(model, again)
    assert model.weights.tolist() != sn.fit_sgd(sn.ArraySource(X, y), epochs=len(losses),
                                                 **kwargs, **extra).weights.tolist()


CONFIGS = [
    dict(batch_size=7, shuffle=False, validation_fraction=0.2, validate_every=13, lr=0.1),
    dict(batch_size=16, shuffle=True, validation_fraction=0.3, validate_every=40),
    dict(batch_size=5, shuffle=True),  # early stopping on the training objective
    dict(batch_size=9, shuffle=True, validation_fraction=0.25, validate_every=30, average=20),
    dict(batch_size=6, shuffle=True, validation_fraction=0.2, schedule="adagrad", lr=0.3,
         average=True),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_resume_with_validation_and_early_stopping_is_exact(tmp_path, config):
    paths = small_parquet(tmp_path, seed=4)
    kwargs = dict(epochs=25, seed=3, lr=0.8, early_stopping=True, patience=2, tol=1e-4)
    kwargs.update(config)
    reference = sn.fit_sgd(paths, **kwargs)
    assert reference.info["stopped_early"]
    rng = random.Random(repr(config))
    ck = str(tmp_path / "ck")
    crashes, resume = 0, False
    while True:
        progress = crash_after(rng.randint(1, 10)) if crashes < 6 else None
        try:
            model = sn.fit_sgd(paths, checkpoint=ck, resume=resume, checkpoint_every=rng.choice([2, 9]),
                               progress=progress, **kwargs)
            break
        except Crash:
            crashes += 1
            resume = True
    assert crashes >= 3
    same_model(model, reference)
    for key in ("best_check", "best_epoch", "best_loss", "stopped_early", "validation", "history"):
        got, want = model.info[key], reference.info[key]
        if key == "history":
            got = [{k: v for k, v in r.items() if k != "seconds"} for r in got]
            want = [{k: v for k, v in r.items() if k != "seconds"} for r in want]
        assert got == want, key
    # resuming the finished (stopped) run returns its model again
    again = sn.fit_sgd(paths, checkpoint=ck, resume=True, **kwargs)
    same_model(again, reference)
    assert ckpt.load(ck)["state"]["stopping"]["stopped"] is True


def test_cli_validation_outputs(tmp_path, capsys):
    paths = small_parquet(tmp_path, seed=5)
    out, hist = tmp_path / "m.json", tmp_path / "h.csv"
    code = main(["train", *paths, "--label", "y", "-o", str(out), "--epochs", "30",
                 "--validation", paths[0], "--validation-fraction", "0.2",
                 "--validate-every", "20", "--early-stopping", "--patience", "2",
                 "--batch-size", "256",
                 "--history", str(hist), "--json"])
    assert code == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["best_check"] >= 1 and "stopped_early" in summary and summary["validation"]
    assert "validation loss" in captured.err and "check 1 (epoch 1" in captured.err
    header = hist.read_text().splitlines()[0].split(",")
    assert {"val_loss", "val_log_loss", "val_accuracy", "val_auc", "val_rows"} <= set(header)
    info = json.loads(out.read_text())["training"]
    assert info["best_check"] == summary["best_check"]
    assert info["stopped_early"] == summary["stopped_early"]


@pytest.mark.parametrize("args,message", [
    (["--validation-fraction", "1.5"], "--validation-fraction must be a fraction >= 0 and < 1"),
    (["--early-stopping", "--patience", "0"], "--patience must be a whole number of checks >= 1"),
    (["--validate-every", "0", "--validation-fraction", "0.1"], "--validate-every must be"),
    (["--validate-every", "10"], "--validate-every needs validation data"),
    (["--patience", "3"], "needs --early-stopping"),
    (["--mode", "gd", "--validate-every", "5"], "is for --mode sgd"),
])
def test_bad_values_exit_2_with_one_error_line(tmp_path, capsys, args, message):
    paths = small_parquet(tmp_path, seed=6, n_files=1)
    out = tmp_path / "m.json"
    assert main(["train", *paths, "--label", "y", "-o", str(out), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error:") and message in err[0], err
    assert not out.exists()


def test_library_parameter_errors_name_the_parameter():
    X, y = arrays(n=100)
    for kwargs, param in ((dict(validation_fraction=-0.1), "validation_fraction"),
                          (dict(patience=0, early_stopping=True), "patience"),
                          (dict(validate_every=5), "validate_every")):
        with pytest.raises(sn.ConfigError) as info:
            sn.fit_sgd(sn.ArraySource(X, y), **kwargs)
        assert info.value.param == param


# -- averaged SGD ------------------------------------------------------------------------


def test_averaged_sgd_returns_the_average_of_the_iterates():
    from test_kernels import numpy_sgd

    X, y = arrays(n=2_048, d=5, seed=7)
    kwargs = dict(batch=16, lr0=0.1, power_t=0.0, l2=0.0, mean=np.zeros(5),
                  inv_scale=np.ones(5), loss_id=0)
    for average in (1, 40):
        ref = {}
        w_ref, b_ref, _ = numpy_sgd(X, y, average=average, averaged=ref, **kwargs)
        model = sn.fit_sgd(sn.ArraySource(X, y), epochs=1, batch_size=16, lr=0.1,
                           schedule="constant", shuffle=False, standardize=False,
                           average=average, l2=0.0)
        np.testing.assert_allclose(model.weights, ref["w"], rtol=1e-12, atol=1e-12)
        assert model.bias == pytest.approx(ref["b"], rel=1e-12, abs=1e-12)
        assert not np.allclose(model.weights, w_ref)
    plain = sn.fit_sgd(sn.ArraySource(X, y), epochs=1, batch_size=16, lr=0.1, shuffle=False,
                       standardize=False, schedule="constant", l2=0.0)
    w_ref, b_ref, _ = numpy_sgd(X, y, **kwargs)
    np.testing.assert_allclose(plain.weights, w_ref, rtol=1e-11, atol=1e-13)


# The estimator's step rule before the defaults of issue 14 (the references below use it),
# by SGD as fit was before the full-pass default of issue 15, with its l2 before issue 22.
OLD_ESTIMATOR_DEFAULTS = dict(solver="sgd", schedule="constant", lr=0.1, batch_size=32,
                              l2=1e-4)


def test_averaging_off_leaves_the_weights_unchanged_bit_for_bit():
    """average=False (and average=0) is plain SGD: the weights below were written by
    main before averaged SGD existed (commit d018eda), as float hex."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4))
    y = (rng.random(3000) < 0.4).astype(float)
    expected = REFERENCE_D018EDA
    for average in (False, 0):
        m = sn.fit_sgd(sn.ArraySource(X, y), epochs=3, batch_size=10, lr=0.1,
                       schedule="constant", average=average, l2=0.0)
        assert [float(v).hex() for v in m.weights] + [float(m.bias).hex()] == expected
    clf = sn.NeuronClassifier(random_state=0, epochs=5, **OLD_ESTIMATOR_DEFAULTS).fit(X, y)
    assert [float(v).hex() for v in clf.coef_.ravel()] + \
        [float(clf.intercept_[0]).hex()] == SKLEARN_D018EDA


def test_the_estimator_averages_and_continues_the_iterates():
    X, y = arrays(n=1_024, d=3, seed=8)
    plain = sn.NeuronClassifier(solver="sgd", random_state=0, epochs=4).fit(X, y)
    averaged = sn.NeuronClassifier(solver="sgd", random_state=0, epochs=4, average=True).fit(X, y)
    assert averaged.t_ == plain.t_ and not np.allclose(averaged.coef_, plain.coef_)
    # the average is the model; the iterates go on underneath: 2 + 2 warm epochs = 4
    warm = sn.NeuronClassifier(solver="sgd", random_state=0, epochs=2, average=True,
                                warm_start=True)
    warm.fit(X, y).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, averaged.coef_)
    model = sn.fit_sgd(sn.ArraySource(X, y), epochs=2, average=True)
    assert model.info["params"]["average"] == 1


def test_cli_average(tmp_path, capsys):
    paths = small_parquet(tmp_path, seed=7, n_files=1)
    out, plain = tmp_path / "a.json", tmp_path / "p.json"
    base = ["train", *paths, "--label", "y", "--epochs", "2", "--quiet"]
    assert main([*base, "-o", str(out), "--average", "--average-from", "3"]) == 0
    assert main([*base, "-o", str(plain)]) == 0
    a, p = json.loads(out.read_text()), json.loads(plain.read_text())
    assert a["weights"] != p["weights"] and a["training"]["params"]["average"] == 3
    assert p["training"]["params"]["average"] == 0
    model = sn.fit_sgd(paths, epochs=2, average=3)
    assert model.weights.tolist() == a["weights"]
    for args, message in ((["--average-from", "3"], "needs --average"),
                          (["--average", "--average-from", "-2"], "--average-from must be")):
        bad = tmp_path / "bad.json"
        assert main([*base, "-o", str(bad), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error:") and message in err[0], err
        assert not bad.exists()


# -- AdaGrad -------------------------------------------------------------------------------


def test_adagrad_through_the_engine_the_estimator_and_the_cli(tmp_path):
    from test_kernels import numpy_adagrad

    X, y = arrays(n=2_048, d=5, seed=9)
    model = sn.fit_sgd(sn.ArraySource(X, y), epochs=1, batch_size=16, lr=0.2, shuffle=False,
                       standardize=False, schedule="adagrad", l2=1e-3)
    w_ref, b_ref, _, _ = numpy_adagrad(X, y, batch=16, lr0=0.2, l2=1e-3, mean=np.zeros(5),
                                       inv_scale=np.ones(5), loss_id=0)
    np.testing.assert_allclose(model.weights, w_ref, rtol=1e-11, atol=1e-13)
    assert model.bias == pytest.approx(b_ref, rel=1e-11)
    # the estimator keeps AdaGrad's sums across partial_fit calls: two halves = one pass
    one = sn.NeuronClassifier(solver="sgd", schedule="adagrad", shuffle=False,
                              standardize=False, epochs=1, batch_size=16, lr=0.2,
                              l2=1e-3).fit(X, y)
    halves = sn.NeuronClassifier(schedule="adagrad", shuffle=False, standardize=False,
                                 batch_size=16, lr=0.2, l2=1e-3)
    halves.partial_fit(X[:1024], y[:1024], classes=[0, 1]).partial_fit(X[1024:], y[1024:])
    np.testing.assert_array_equal(one.coef_, halves.coef_)
    np.testing.assert_allclose(one.coef_.ravel(), w_ref, rtol=1e-11, atol=1e-13)
    paths = small_parquet(tmp_path, seed=8, n_files=1)
    out = tmp_path / "m.json"
    assert main(["train", *paths, "--label", "y", "-o", str(out), "--quiet",
                 "--schedule", "adagrad", "--lr", "0.3"]) == 0
    saved = json.loads(out.read_text())
    assert saved["weights"] == sn.fit_sgd(paths, schedule="adagrad", lr=0.3).weights.tolist()


REFERENCE_D018EDA = ['0x1.62ad8eb7104bfp-4', '0x1.633a7a5805390p-4', '0x1.f4950b3e95966p-6', '0x1.2b6b5e2e03e8dp-3', '-0x1.f5938049814e7p-2']
SKLEARN_D018EDA = ['0x1.e973dd3a6b14ap-5', '0x1.1c42a4369a935p-5', '-0x1.cf94e787dcbabp-6', '0x1.623ae936f5db9p-4', '-0x1.ec133f81ea1ecp-2']
