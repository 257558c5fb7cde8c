"""The default L2 penalty is ``1/n`` (``1/W`` weighted): scikit-learn's ``C = 1``,
in the library, the estimator and the command line alike; and what a run reports
(the saved model's objective, the convergence, resume and early-stopping lines)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from streamneuron import NeuronClassifier, fit_gd, fit_sgd
from streamneuron.defaults import SAVED_OBJECTIVE_EPOCHS
from tests.cli_helpers import run
from tests.conftest import make_data, write_parquet


def _standardized(X, weights=None):
    """``(x - mean) / std``, the population (weighted) moments, in plain numpy."""
    s = np.ones(len(X)) if weights is None else weights
    mean = s @ X / s.sum()
    std = np.sqrt(s @ (X - mean) ** 2 / s.sum())
    return (X - mean) / np.where(std > 0, std, 1.0)


def _objective(Z, y, w, b, l2, weights=None):
    """``sum s_i L_i / sum s_i + (l2/2) ||w||^2`` for log loss, in plain numpy."""
    s = np.ones(len(y)) if weights is None else weights
    z = Z @ w + b
    losses = np.logaddexp(0.0, z) - y * z
    return float(s @ losses / s.sum() + 0.5 * l2 * w @ w)


def _sklearn_c1(Z, y, weights=None):
    lr = LogisticRegression(C=1.0, solver="newton-cg", tol=1e-12, max_iter=1000)
    lr.fit(Z, y, sample_weight=weights)
    return lr.coef_.ravel(), float(lr.intercept_[0])


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X, y.astype(np.float64)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_default_is_sklearns_c1(cancer, solver):
    X, y = cancer
    model = fit_gd((X, y), solver=solver, workers=0, tol=1e-10)
    n = len(y)
    assert model.info["params"]["l2"] == 1.0 / n
    Z = _standardized(X)
    w_ref, b_ref = _sklearn_c1(Z, y)
    ours = _objective(Z, y, model.weights, model.bias, 1.0 / n)
    ref = _objective(Z, y, w_ref, b_ref, 1.0 / n)
    assert abs(ours - ref) < 1e-8


def test_weighted_default_is_weighted_c1(cancer):
    X, y = cancer
    weights = np.random.default_rng(3).uniform(0.0, 2.0, len(y))
    model = fit_gd((X, y), solver="newton", workers=0, weight=weights, tol=1e-10)
    W = weights.sum()
    assert model.info["params"]["l2"] == pytest.approx(1.0 / W, rel=1e-12)
    Z = _standardized(X, weights)
    w_ref, b_ref = _sklearn_c1(Z, y, weights)
    ours = _objective(Z, y, model.weights, model.bias, 1.0 / W, weights)
    ref = _objective(Z, y, w_ref, b_ref, 1.0 / W, weights)
    assert abs(ours - ref) < 1e-8


def test_weighted_default_without_standardization(cancer):
    """Weighted gd/lbfgs without --standardize: W comes from a first pass of its own."""
    X, y = cancer
    X = _standardized(X)
    weights = np.random.default_rng(4).uniform(0.0, 2.0, len(y))
    model = fit_gd((X, y), solver="lbfgs", workers=0, weight=weights, standardize=False,
                   tol=1e-10)
    assert model.info["params"]["l2"] == pytest.approx(1.0 / weights.sum(), rel=1e-12)


def test_estimator_default_is_sklearns_c1(cancer):
    X, y = cancer
    clf = NeuronClassifier().fit(X, y)
    assert clf.l2_ == 1.0 / len(y)
    Z = _standardized(X)
    w_ref, b_ref = _sklearn_c1(Z, y)
    w = clf._neuron.weights
    ours = _objective(Z, y, w, clf._neuron.bias, clf.l2_)
    ref = _objective(Z, y, w_ref, b_ref, clf.l2_)
    assert abs(ours - ref) < 1e-8


def test_sgd_default_and_its_saved_objective(cancer):
    X, y = cancer
    weights = np.random.default_rng(5).uniform(0.0, 2.0, len(y))
    plain = fit_sgd((X, y), epochs=SAVED_OBJECTIVE_EPOCHS)
    assert plain.info["params"]["l2"] == 1.0 / len(y)
    weighted = fit_sgd((X, y), epochs=SAVED_OBJECTIVE_EPOCHS, weight=weights)
    assert weighted.info["params"]["l2"] == pytest.approx(1.0 / weights.sum(), rel=1e-12)
    for model, s in ((plain, None), (weighted, weights)):
        Z = _standardized(X, s)
        expected = _objective(Z, y, model.weights, model.bias, model.info["params"]["l2"], s)
        assert model.info["objective"] == pytest.approx(expected, rel=1e-9)
        # the epoch's own number is the mean at the moving iterates: another number
        assert model.info["epoch_objective"] == model.info["history"][-1]["objective"]
        assert model.info["epoch_objective"] != pytest.approx(expected, rel=1e-6)


@pytest.fixture
def cancer_file(tmp_path, cancer):
    X, y = cancer
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["y"] = y.astype(np.int8)
    frame["w"] = np.random.default_rng(6).uniform(0.0, 2.0, len(y))
    path = tmp_path / "cancer.parquet"
    frame.to_parquet(path, row_group_size=100)
    return str(path)


def test_cli_prints_and_records_the_default(capsys, tmp_path, cancer_file):
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w", "-o", out,
                       "--mode", "newton")
    assert code == 0, err
    assert f"l2 = 1/n = {1 / 569:.4g} (n = 569 rows; scikit-learn's C = 1)" in err
    assert json.loads(out.read_text())["training"]["params"]["l2"] == 1 / 569
    code, stdout, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                            "-o", out, "--mode", "newton", "--json")
    summary = json.loads(stdout)
    assert summary["l2"] == 1 / 569 and summary["l2_from"] == "1/n"
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--weight", "w", "-o", out,
                       "--mode", "newton")
    assert code == 0, err
    assert "l2 = 1/W = " in err and "W: the sum of the row weights" in err
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w", "-o", out,
                       "--mode", "newton", "--l2", "0.01")
    assert "l2 = 0.01\n" in err


def test_cli_sgd_reports_the_saved_models_objective(capsys, tmp_path, cancer_file, cancer):
    X, y = cancer
    out = tmp_path / "m.json"
    epochs = str(SAVED_OBJECTIVE_EPOCHS)
    code, stdout, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                            "-o", out, "--epochs", epochs, "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    model = json.loads(out.read_text())
    w, b = np.array(model["weights"]), model["bias"]
    std = model["standardize"]
    Z = (X - np.array(std["mean"])) / np.array(std["scale"])
    assert summary["objective"] == pytest.approx(_objective(Z, y, w, b, 1 / 569), rel=1e-9)
    assert summary["objective_of"] == "saved model"
    assert summary["epoch_objective"] == summary["history"][-1]["objective"]
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                       "-o", out, "--epochs", epochs)
    assert f"its objective {summary['objective']:.6f}" in err
    assert (f"the last epoch's at the moving iterates, as the epoch lines: "
            f"{summary['epoch_objective']:.6f})") in err


def test_cli_sgd_short_run_says_its_objective_is_the_iterates(capsys, tmp_path, cancer_file):
    """Under SAVED_OBJECTIVE_EPOCHS epochs no extra read is made: the number reported is
    the last epoch's at the moving iterates, and the summary says so."""
    out = tmp_path / "m.json"
    code, stdout, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                            "-o", out, "--epochs", "2", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["objective_of"] == "moving iterates"
    assert summary["objective"] == summary["epoch_objective"] == summary["history"][-1]["objective"]
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                       "-o", out, "--epochs", "2")
    assert code == 0, err
    assert "its objective" not in err
    assert (f"the last epoch's at the moving iterates, as the epoch lines: "
            f"{summary['epoch_objective']:.6f} (the saved model's own is read again only after "
            f"{SAVED_OBJECTIVE_EPOCHS} epochs or more") in err


def test_cli_not_converged_says_why(capsys, tmp_path, cancer_file):
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w",
                       "-o", out, "--epochs", "3")
    assert code == 0, err
    assert "NOT converged: too few epochs to tell (the rule needs 176" in err
    assert "not yet" not in err and "improved by less than" not in err


def _big_file(tmp_path):
    X, y = make_data(n=30000, d=4, seed=2)
    return write_parquet(tmp_path / "big.parquet", X, y, row_group_size=5000)


def test_cli_converged_and_resume_names_the_epochs_made(capsys, tmp_path):
    path = _big_file(tmp_path)
    out, ckpt = tmp_path / "m.json", tmp_path / "ckpt"
    code, _, err = run(capsys, "train", path, "-o", out, "--checkpoint", ckpt)
    assert code == 0, err
    epochs = json.loads(out.read_text())["training"]["epochs"]
    assert epochs < 1000
    assert "sgd: converged (the training objective's mean over the last 2 epochs improved" in err
    code, _, err = run(capsys, "train", path, "-o", out, "--checkpoint", ckpt, "--resume")
    assert code == 0, err
    assert f"holds a finished run of {epochs} epochs" in err
    assert "1000 epochs" not in err


def test_cli_early_stopping_says_why(capsys, tmp_path, cancer_file):
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w", "-o", out,
                       "--epochs", "3", "--early-stopping")
    assert code == 0, err
    assert ("ran every epoch (3): early stopping never saw 5 checks in a row without an "
            "improvement by more than 0.001") in err
    assert "stopped early" not in err
    code, _, err = run(capsys, "train", cancer_file, "--label", "y", "--exclude", "w", "-o", out,
                       "--epochs", "60", "--early-stopping", "--patience", "2", "--tol", "0.01")
    assert code == 0, err
    model = json.loads(out.read_text())["training"]
    assert model["stopped_early"]
    last = model["validation"][-1]
    assert (f"stopped early at check {last['check']} (epoch {last['epoch']}): 2 checks in a row "
            "did not improve on the best loss by more than 0.01") in err
    assert f"best check {model['best_check']} of {last['check']}" in err


def test_resume_with_the_default_matches(tmp_path, cancer_file):
    """The checkpoint holds the number the default settled on; a resume (weighted: W
    summed again) settles on the same one and continues bit for bit."""
    ckpt = tmp_path / "ckpt"
    kwargs = dict(label="y", weight="w", features=[f"f{j}" for j in range(30)])
    fit_sgd(cancer_file, epochs=2, checkpoint=ckpt, **kwargs)
    resumed = fit_sgd(cancer_file, epochs=4, checkpoint=ckpt, resume=True, **kwargs)
    fresh = fit_sgd(cancer_file, epochs=4, **kwargs)
    assert resumed.info["params"]["l2"] == fresh.info["params"]["l2"]
    np.testing.assert_array_equal(resumed.weights, fresh.weights)
    assert resumed.bias == fresh.bias


def test_held_out_rows_are_not_in_n(cancer):
    """With --validation-fraction, n (W) counts the training rows only."""
    from streamneuron.stream import held_out

    X, y = cancer
    weights = np.random.default_rng(7).uniform(0.0, 2.0, len(y))
    plain = fit_sgd((X, y), epochs=1, validation_fraction=0.3, seed=4)
    assert plain.info["params"]["l2"] == 1.0 / plain.info["history"][0]["rows"]
    assert plain.info["history"][0]["rows"] < len(y)
    weighted = fit_sgd((X, y), epochs=1, validation_fraction=0.3, seed=4, weight=weights)
    kept = ~held_out(np.arange(len(y)), 0.3, 4)
    assert weighted.info["params"]["l2"] == pytest.approx(1.0 / weights[kept].sum(), rel=1e-12)
