"""Held-out rows in the full-pass modes (streamneuron.fullpass.heldout), against
independent references: scikit-learn's ``LogisticRegression`` fitted here on the rows
we train on (standardized here by their own population moments), and scikit-learn's
metrics (log loss, accuracy, AUC) on the held-out rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.stream import held_out

from cli_helpers import run, turned_away

sklearn_datasets = pytest.importorskip("sklearn.datasets")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score  # noqa: E402


def data():
    X, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    return X, y.astype(np.float64)


def reference(X, y, l2):
    """scikit-learn's optimum of ``mean L + (l2/2)||w||^2`` on ``X`` standardized by its
    own moments: ``C = 1/(n l2)``. Returns a function giving probabilities."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    ref = LogisticRegression(C=1.0 / (len(y) * l2), tol=1e-12, max_iter=10000)
    ref.fit((X - mean) / scale, y)
    return lambda Z: ref.predict_proba((Z - mean) / scale)[:, 1]


def metrics(y, p):
    return {"log_loss": log_loss(y, p), "accuracy": accuracy_score(y, p > 0.5),
            "auc": roc_auc_score(y, p)}


@pytest.mark.parametrize("solver,rel", [("newton", 1e-6), ("lbfgs", 1e-3)])
def test_a_fraction_is_left_out_of_training_and_scored(solver, rel):
    X, y = data()
    fraction, seed, l2 = 0.25, 3, 1e-2
    model = sn.fit_gd((X, y), solver=solver, l2=l2, validation_fraction=fraction, seed=seed,
                      workers=0)
    out = held_out(np.arange(len(y)), fraction, seed)  # the rows sgd holds out too
    predict = reference(X[~out], y[~out], l2)
    expected = metrics(y[out], predict(X[out]))
    got = model.info["held_out"]
    assert model.info["rows"] == int((~out).sum())
    assert got["rows"] == int(out.sum())
    assert got["log_loss"] == pytest.approx(expected["log_loss"], rel=rel)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])
    assert got["auc"] == pytest.approx(expected["auc"], abs=1e-3)
    # the model is the optimum on the kept rows
    np.testing.assert_allclose(model.predict_proba(X[out]), predict(X[out]),
                               atol=1e-6 if solver == "newton" else 1e-3)


def test_validation_data_scores_the_final_model():
    X, y = data()
    rows = np.arange(len(y)) % 4 == 0
    l2 = 1e-2
    model = sn.fit_gd((X[~rows], y[~rows]), solver="newton", l2=l2,
                      validation=(X[rows], y[rows]), workers=0)
    p = reference(X[~rows], y[~rows], l2)(X[rows])
    expected = metrics(y[rows], p)
    got = model.info["held_out"]
    assert got["on"] == "validation data" and got["rows"] == int(rows.sum())
    assert got["log_loss"] == pytest.approx(expected["log_loss"], rel=1e-6)
    assert got["accuracy"] == pytest.approx(expected["accuracy"])
    assert got["auc"] == pytest.approx(expected["auc"], abs=1e-3)


def test_l2_auto_is_chosen_on_the_validation_data(monkeypatch):
    """Each point's held-out loss is scikit-learn's fit at that penalty scored on the
    validation rows (each point fitted exactly here); the choice is their least; the
    refit is scikit-learn's there."""
    from streamneuron.fullpass import path as fullpass_path

    monkeypatch.setattr(fullpass_path, "PATH_TOL", 1e-13)
    X, y = data()
    rows = np.arange(len(y)) % 3 == 0
    Xt, yt, Xv, yv = X[~rows], y[~rows], X[rows], y[rows]
    model = sn.fit_gd((Xt, yt), solver="newton", l2="auto", validation=(Xv, yv), workers=0)
    path = model.info["path"]
    assert path["validation"] == "data" and path["cv"] is None
    theirs = []
    for point in path["points"]:
        expected = log_loss(yv, reference(Xt, yt, point["penalty"])(Xv))
        assert point["loss"] == pytest.approx(expected, rel=1e-6)
        assert point["folds"] == [point["loss"]]
        theirs.append(expected)
    assert path["chosen"] == path["points"][int(np.argmin(theirs))]["penalty"]
    p = reference(Xt, yt, path["chosen"])(Xv)
    np.testing.assert_allclose(model.predict_proba(Xv), p, atol=1e-5)
    assert model.info["held_out"]["log_loss"] == pytest.approx(log_loss(yv, p), rel=1e-5)


def test_choosing_on_two_kinds_of_held_out_rows_is_refused():
    X, y = data()
    with pytest.raises(sn.ConfigError, match="one of"):
        sn.fit_gd((X, y), solver="newton", l2="auto", cv=3, validation=(X, y), workers=0)


def test_train_reports_held_out_metrics_of_a_full_pass_fit(tmp_path, capsys):
    """The command line: --validation FILE with --mode lbfgs and a categorical column
    (the validation file encoded by the training levels); the summary's held_out is the
    metrics of the saved model's own predictions on that file."""
    rng = np.random.default_rng(0)

    def frame(n):
        city = rng.choice(["a", "b", "c"], size=n)
        x = rng.standard_normal((n, 2))
        z = x @ [1.0, -0.5] + np.select([city == "a", city == "b"], [0.8, -0.4], 0.0)
        return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "city": city,
                             "y": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)})

    train, val = frame(2000), frame(700)
    train.to_parquet(tmp_path / "train.parquet")
    val.to_parquet(tmp_path / "val.parquet")
    out = tmp_path / "m.json"
    code, stdout, err = run(capsys, "train", tmp_path / "train.parquet", "--label", "y",
                            "-o", out, "--mode", "lbfgs", "--categorical", "city",
                            "--validation", tmp_path / "val.parquet", "--json", "--quiet")
    assert code == 0, err
    held = json.loads(stdout)["held_out"]
    code, _, err = run(capsys, "predict", out, tmp_path / "val.parquet", "-o",
                       tmp_path / "p.parquet", "--quiet")
    assert code == 0, err
    p = pd.read_parquet(tmp_path / "p.parquet")["probability"].to_numpy()
    expected = metrics(val["y"].to_numpy(), p)
    assert held["rows"] == 700
    assert held["log_loss"] == pytest.approx(expected["log_loss"], rel=1e-9)
    assert held["accuracy"] == pytest.approx(expected["accuracy"])
    assert held["auc"] == pytest.approx(expected["auc"], abs=1e-3)


def test_train_with_a_fraction_and_a_fixed_penalty_says_what_it_scored(tmp_path, capsys):
    X, y = data()
    frame = pd.DataFrame(X[:, :5], columns=[f"x{j}" for j in range(5)]).assign(y=y)
    frame.to_parquet(tmp_path / "d.parquet")
    code, _, err = run(capsys, "train", tmp_path / "d.parquet", "--label", "y", "-o",
                       tmp_path / "m.json", "--mode", "newton", "--l2", "0.01",
                       "--validation-fraction", "0.2")
    assert code == 0, err
    assert "held out (validation_fraction 0.2" in err
    turned_away(capsys, ["train", tmp_path / "d.parquet", "--label", "y", "-o",
                         tmp_path / "n.json", "--mode", "newton", "--l2", "auto", "--cv", "3",
                         "--validation", tmp_path / "d.parquet"],
                ["--cv", "--validation"], output=tmp_path / "n.json")
