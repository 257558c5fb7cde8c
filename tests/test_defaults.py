"""The SGD defaults (issue 14, "Defaults that work"): near the optimum with no flag,
the end-of-run convergence report, and raw features through partial_fit / Incremental."""

import json

import numpy as np
import pytest

import streamneuron as sn
from cli_helpers import run
from conftest import write_parquet
from streamneuron import defaults
from streamneuron.neuron import restandardized


# -- an independent reference: Newton's method in numpy, float64, in memory -----------------


def standardized(X):
    """Population mean and std (1 for a constant column), as the package documents."""
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return (X - mean) / np.where(std > 0, std, 1.0)


def objective(Xs, y, w, b, l2):
    z = Xs @ w + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w)


def newton_optimum(Xs, y, l2):
    """J* by Newton with backtracking on ``mean log loss + (l2/2)||w||^2`` (bias free)."""
    n, d = Xs.shape
    A = np.hstack([Xs, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.append(np.full(d, l2), 0.0)

    def J(t):
        return objective(Xs, y, t[:d], t[d], l2)

    for _ in range(100):
        p = 0.5 * (1 + np.tanh(0.5 * (A @ theta)))
        g = A.T @ (p - y) / n + reg * theta
        if np.linalg.norm(g) < 1e-12:
            break
        H = (A * (p * (1 - p))[:, None]).T @ A / n + np.diag(reg)
        step = np.linalg.solve(H, g)
        t = 1.0
        while J(theta - t * step) > J(theta) - 1e-4 * t * (g @ step) and t > 1e-8:
            t /= 2
        theta = theta - t * step
    return J(theta)


def model_objective(model, X, y, l2):
    """J at a model, on this file's standardization (the model's own, to rounding)."""
    Xs = (X - model.mean) / model.scale
    return objective(Xs, y, model.weights, model.bias, l2)


def small_sets():
    from sklearn.datasets import load_breast_cancer, load_digits

    X, y = load_breast_cancer(return_X_y=True)
    digits = load_digits()
    yield "breast_cancer", X, y.astype(float)
    yield "digits", digits.data, (digits.target >= 5).astype(float)


@pytest.mark.parametrize("l2", [1e-2, 1e-4])
@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_defaults_land_within_one_percent_of_the_optimum(tmp_path, name, l2):
    X, y = next((X, y) for n, X, y in small_sets() if n == name)
    path = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=300)  # 2 and 6 groups
    model = sn.fit_sgd(path, label="y", l2=l2)  # nothing else given
    J_star = newton_optimum(standardized(X), y, l2)
    gap = (model_objective(model, X, y, l2) - J_star) / J_star
    assert 0 <= gap <= 0.01, gap
    info = model.info
    assert info["params"]["schedule"] == "auto"
    assert info["params"]["batch_size"] == defaults.auto_batch_size(len(y))
    assert info["epochs"] == len(info["history"]) <= defaults.MAX_EPOCHS
    assert info["stop_reason"] == ("converged" if info["converged"] else "max epochs")


def test_auto_batch_size_and_patience_follow_the_rows():
    assert [defaults.auto_batch_size(n) for n in (1, 426, 569, 1797, 20_000, 200_000)] == \
        [1, 1, 2, 4, 64, 256]
    assert [defaults.patience_epochs(n) for n in (100, 1000, 200_000)] == [100, 50, 2]


def test_the_convergence_rule_reads_the_history():
    n = 100_000  # patience 2: the mean of the last 2 epochs against the 2 before
    assert not defaults.converged([1.0, 0.5, 0.5], n)  # too few epochs to say
    assert defaults.converged([0.5, 0.5002, 0.4999, 0.5001], n)  # 0.0002 < 1e-3 better
    assert defaults.converged([9.0, 0.5, 0.5002, 0.4999, 0.5001], n)  # the last 4 count
    assert not defaults.converged([0.5, 0.5002, 0.4999, 0.4990], n)  # 0.0013 better
    assert defaults.converged([0.5, 0.5002, 0.4999, 0.4990], n, tol=2e-3)
    assert not defaults.converged([0.5, 0.5002, 0.4999, 0.5001], n, tol=0)  # 0: never
    assert not defaults.converged([0.5, float("nan"), 0.5, 0.5], n)
    assert defaults.patience_epochs(569) == 88 and not defaults.converged([0.5] * 175, 569)
    assert defaults.converged([0.5] * 176, 569)


def test_the_cli_says_at_the_end_whether_it_converged(tmp_path, capsys):
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    path = write_parquet(tmp_path / "bc.parquet", X, y, row_group_size=200)
    out = tmp_path / "m.json"
    code, stdout, err = run(capsys, "train", path, "--label", "y", "-o", out, "--l2", "1e-2")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-2].startswith("sgd: converged (the training objective's mean over the last "
                                "88 epochs improved by less than 0.001 (relative) on the 88 "
                                "before)"), lines[-2]
    assert "stopped there" in lines[-2] and lines[-1].startswith("wrote ")
    training = json.loads(out.read_text())["training"]
    assert training["converged"] is True and training["stop_reason"] == "converged"
    assert training["epochs"] == len(training["history"])

    code, stdout, err = run(capsys, "train", path, "--label", "y", "-o", out, "--epochs", "2",
                            "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["converged"] is False and summary["stop_reason"] == "epochs"
    assert summary["epochs"] == 2
    code, stdout, err = run(capsys, "train", path, "--label", "y", "-o", out, "--epochs", "2")
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-2].startswith("sgd: NOT converged: too few epochs to tell ") and \
        lines[-2].endswith("ran the --epochs given"), lines[-2]


def test_explicit_old_flags_still_train_the_old_way(tmp_path):
    """The constant step at the old defaults is one --schedule away, bit for bit the
    run of a library call that spells every value out."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    y = (rng.random(600) < 0.5).astype(float)
    path = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=100)
    a = sn.fit_sgd(path, label="y", schedule="constant", batch_size=256, epochs=5)
    b = sn.fit_sgd(path, label="y", schedule="constant", batch_size=256, epochs=5, lr=0.1)
    assert a.weights.tolist() == b.weights.tolist() and a.bias == b.bias
    assert a.info["params"]["lr"] == 0.1 and a.info["stop_reason"] == "epochs"


def test_a_resumed_default_run_is_bit_identical(tmp_path):
    """Per-epoch averaging and the convergence stop survive a crash: the same epochs,
    the same weights."""
    from test_resume import Crash, crash_after, same_model

    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 4)) * [1, 3, 0.5, 2]
    y = (rng.random(3000) < 1 / (1 + np.exp(-(X @ [1.0, -0.3, 2.0, 0.2])))).astype(float)
    path = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=700)
    reference = sn.fit_sgd(path, label="y", l2=1e-3)
    ck = str(tmp_path / "ck")
    for calls in (3, 40):  # in the first epoch, then later (one call per row group)
        with pytest.raises(Crash):
            sn.fit_sgd(path, label="y", l2=1e-3, checkpoint=ck, checkpoint_every=5,
                       resume=calls != 3, progress=crash_after(calls))
    model = sn.fit_sgd(path, label="y", l2=1e-3, checkpoint=ck, resume=True)
    same_model(model, reference)
    assert model.info["epochs"] == reference.info["epochs"] and model.info["converged"]


# -- raw features through partial_fit and dask-ml's Incremental ----------------------------


def test_incremental_on_raw_breast_cancer_is_accurate():
    """The README's example: raw, unscaled features in Dask blocks (was accuracy 0.371,
    every probability 0.0; scikit-learn's SGDClassifier reaches 0.91 on these blocks)."""
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    dX, dy = da.from_array(X, chunks=(100, 30)), da.from_array(y, chunks=100)
    inc = wrappers.Incremental(sn.NeuronClassifier()).fit(dX, dy, classes=[0, 1])
    assert inc.score(dX, dy) >= 0.9
    p = inc.predict_proba(dX).compute()[:, 1]
    assert 0.0 < np.median(p[y == 1]) and np.median(p[y == 0]) < 0.5 < np.median(p[y == 1])


def test_partial_fit_on_raw_features_matches_fit_on_standardized_ones():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    clf = sn.NeuronClassifier(random_state=0)
    for epoch in range(5):
        for rows in np.array_split(np.random.default_rng(epoch).permutation(len(y)), 6):
            clf.partial_fit(X[rows], y[rows], classes=[0, 1])
    assert clf.score(X, y) >= 0.95
    np.testing.assert_allclose(clf.mean_, X.mean(axis=0), rtol=1e-12)  # over every block seen
    np.testing.assert_allclose(clf.scale_, X.std(axis=0), rtol=1e-9)


def test_restandardizing_keeps_every_logit():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4)) * [1, 10, 0.1, 3] + [5, -2, 0, 1]
    w, b = rng.normal(size=4), 0.7
    old = (rng.normal(size=4), rng.uniform(0.5, 2, size=4))
    new = (rng.normal(size=4), rng.uniform(0.5, 2, size=4))
    w2, b2 = restandardized(w, b, old, new)
    np.testing.assert_allclose((X - new[0]) / new[1] @ w2 + b2, (X - old[0]) / old[1] @ w + b,
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("schedule", ["auto", "constant", "adagrad"])
def test_a_statistics_update_leaves_predictions_unchanged(schedule):
    """The update of the running standardization that partial_fit makes before it
    trains on a block whose statistics differ: no prediction moves."""
    rng = np.random.default_rng(4)
    X1 = rng.normal(size=(80, 3)) * [1, 5, 0.2] + [0, 3, -1]
    X2 = rng.normal(size=(80, 3)) * [2, 1, 1] + [1, -2, 4]  # other means and scales
    y1 = (rng.random(80) < 0.5).astype(int)
    clf = sn.NeuronClassifier(schedule=schedule, random_state=0).partial_fit(X1, y1, classes=[0, 1])
    probe = np.vstack([X1, X2])
    before, mean, scale = clf.decision_function(probe), clf.mean_.copy(), clf.scale_.copy()
    state = clf._sgd
    g2 = None if state is None else state.g2.copy()
    iterates = None if state is None else (X2 - mean) / scale @ state.weights + state.bias
    clf._update_running_statistics(X2)
    assert not np.allclose(clf.mean_, mean) and not np.allclose(clf.scale_, scale)
    np.testing.assert_allclose(clf.mean_, probe.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(clf.decision_function(probe), before, rtol=1e-12, atol=1e-12)
    if state is not None:  # the iterates move with the model; AdaGrad's sums with the scale
        np.testing.assert_allclose((X2 - clf.mean_) / clf.scale_ @ clf._sgd.weights +
                                   clf._sgd.bias, iterates, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(clf._sgd.g2[:-1], g2[:-1] * (scale / clf.scale_) ** 2,
                                   rtol=1e-14)
        assert clf._sgd.g2[-1] == g2[-1]


def test_a_crash_after_the_converging_epoch_resumes_to_the_same_model(tmp_path, monkeypatch):
    """The epoch-end checkpoint of the epoch that converged is written before the final
    one: a run that dies between them must not train on when resumed."""
    from streamneuron import checkpoint as ckpt
    from test_resume import Crash

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40_000, 3))
    y = (rng.random(40_000) < 1 / (1 + np.exp(-X @ [1.0, -1.0, 0.5]))).astype(float)
    path = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=10_000)
    reference = sn.fit_sgd(path, label="y")
    assert reference.info["stop_reason"] == "converged"
    save = ckpt.save

    def dies_at_the_final_save(folder, payload):
        if payload.get("complete"):
            raise Crash
        save(folder, payload)

    monkeypatch.setattr(ckpt, "save", dies_at_the_final_save)
    ck = str(tmp_path / "ck")
    with pytest.raises(Crash):
        sn.fit_sgd(path, label="y", checkpoint=ck)
    monkeypatch.setattr(ckpt, "save", save)
    model = sn.fit_sgd(path, label="y", checkpoint=ck, resume=True)
    assert model.info["epochs"] == reference.info["epochs"]
    assert model.weights.tolist() == reference.weights.tolist() and model.bias == reference.bias
