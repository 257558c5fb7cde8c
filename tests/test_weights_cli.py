"""The weight, class-weight and L1 flags end to end (issue 15): train on real
Parquet files with several row groups against independent references
(duplicated rows, scikit-learn), evaluate --weight, and bad weights turned away."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_helpers import run, turned_away


def _frame(n=600, d=4, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 3.0, 0.5, 2.0][:d] + [0.0, 1.0, -2.0, 0.5][:d]
    z = X @ np.array([1.0, -0.5, 0.0, 0.25][:d]) * 0.8 - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    w = rng.integers(0, 4, size=n).astype(np.float64)
    return X, y, w


def _write(path, X, y, w=None, row_group_size=150):
    cols = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    cols["y"] = y
    if w is not None:
        cols["wt"] = w
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return path


def _model(path):
    with open(path) as f:
        return json.load(f)


def _raw_coef(m):
    """The model's coefficients on raw features: w / scale and the shifted bias."""
    w = np.array(m["weights"])
    if m["standardize"] is None:
        return w, m["bias"]
    mean, scale = np.array(m["standardize"]["mean"]), np.array(m["standardize"]["scale"])
    return w / scale, m["bias"] - float(np.dot(w / scale, mean))


@pytest.mark.parametrize("mode", ["newton", "lbfgs"])
def test_weight_column_equals_duplicated_rows(tmp_path, capsys, mode):
    X, y, w = _frame()
    weighted = _write(tmp_path / "w.parquet", X, y, w)
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    dup = _write(tmp_path / "dup.parquet", X[rep], y[rep])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    code, out, err = run(capsys, "train", weighted, "--label", "y", "--weight", "wt", "-o", a,
                         "--mode", mode, "--l2", "1e-3", "--json", "--workers", "0")
    assert code == 0, err
    summary = json.loads(out)
    assert "wt" not in summary["feature_names"]
    code, _, err = run(capsys, "train", dup, "--label", "y", "-o", b, "--mode", mode,
                       "--l2", "1e-3", "--workers", "0", "--quiet")
    assert code == 0, err
    wa, ba = _raw_coef(_model(a))
    wb, bb = _raw_coef(_model(b))
    np.testing.assert_allclose(wa, wb, atol=2e-6)
    assert abs(ba - bb) < 2e-6


def test_class_weight_balanced_matches_scikit_learn(tmp_path, capsys):
    from sklearn.linear_model import LogisticRegression

    X, y, _ = _frame(n=800)
    y[:500] = 0  # imbalanced
    path = _write(tmp_path / "c.parquet", X, y)
    out_path = tmp_path / "m.json"
    l2 = 1e-2
    code, out, err = run(capsys, "train", path, "--label", "y", "--class-weight", "balanced",
                         "-o", out_path, "--mode", "newton", "--l2", str(l2), "--json",
                         "--workers", "0", "--tol", "1e-10")
    assert code == 0, err
    m = _model(out_path)
    n = len(y)
    cw = {c: n / (2 * np.sum(y == c)) for c in (0, 1)}
    sw = np.array([cw[v] for v in y])
    # scikit-learn's objective is sum c_i L_i + ||w||^2 / (2C): ours times sum c_i.
    # The penalty is on the standardized weights: fit it on our (weighted) standardization.
    ref = LogisticRegression(C=1 / (l2 * sw.sum()), tol=1e-12, max_iter=10_000,
                             solver="newton-cholesky")
    mean, scale = np.array(m["standardize"]["mean"]), np.array(m["standardize"]["scale"])
    Xs = (X - mean) / scale
    ref.fit(Xs, y, sample_weight=sw)

    def objective(w, b):  # ours: sum c L / sum c + (l2/2) ||w||^2, in float64
        z = Xs @ w + b
        return float(np.dot(sw, np.logaddexp(0, z) - y * z) / sw.sum() + 0.5 * l2 * w @ w)

    ours = objective(np.array(m["weights"]), m["bias"])
    theirs = objective(ref.coef_[0], ref.intercept_[0])
    assert abs(ours - theirs) <= 1e-8 * theirs
    np.testing.assert_allclose(m["weights"], ref.coef_[0], atol=1e-4)
    assert json.loads(out)["class_weights"] == pytest.approx([cw[0], cw[1]], rel=1e-15)


@pytest.mark.parametrize("mode", ["newton", "lbfgs", "sgd"])
def test_l1_gives_exact_zeros_and_counts_them(tmp_path, capsys, mode):
    X, y, _ = _frame(n=2000, d=4)
    X = np.hstack([X, np.random.default_rng(1).normal(size=(2000, 3))])  # noise columns
    path = _write(tmp_path / "l1.parquet", X, y, row_group_size=500)
    out_path = tmp_path / "m.json"
    code, out, err = run(capsys, "train", path, "--label", "y", "--l1", "0.05", "-o", out_path,
                         "--mode", mode, "--json", "--workers", "0")
    assert code == 0, err
    summary = json.loads(out)
    weights = np.array(_model(out_path)["weights"])
    assert (weights == 0.0).sum() >= 3
    assert summary["nonzero"] == int((weights != 0.0).sum())


def test_evaluate_weight_matches_scikit_learn(tmp_path, capsys):
    from sklearn.metrics import accuracy_score, log_loss

    X, y, w = _frame()
    path = _write(tmp_path / "w.parquet", X, y, w)
    model = tmp_path / "m.json"
    assert run(capsys, "train", path, "--label", "y", "--weight", "wt", "-o", model,
               "--mode", "newton", "--quiet", "--workers", "0")[0] == 0
    code, out, err = run(capsys, "evaluate", model, path, "--label", "y", "--weight", "wt",
                         "--json", "--quiet")
    assert code == 0, err
    report = json.loads(out)
    m = _model(model)
    wr, br = _raw_coef(m)
    p = 1 / (1 + np.exp(-(X @ wr + br)))
    assert abs(report["log_loss"] - log_loss(y, p, sample_weight=w)) < 1e-9
    assert abs(report["accuracy"] - accuracy_score(y, p >= 0.5, sample_weight=w)) < 1e-12
    assert report["weight_sum"] == w.sum()


@pytest.mark.parametrize("mode", ["sgd", "newton"])
def test_bad_weights_turned_away_and_model_kept(tmp_path, capsys, mode):
    X, y, w = _frame()
    w[470] = -1.0  # row group 3, row 20
    path = _write(tmp_path / "bad.parquet", X, y, w)
    out_path = tmp_path / "m.json"
    out_path.write_text("good model")
    turned_away(capsys, ["train", path, "--label", "y", "--weight", "wt", "-o", out_path,
                         "--mode", mode, "--workers", "0", "--quiet"],
                ["bad.parquet", "row group 3", "row 20", "'wt'", "-1.0"])
    assert out_path.read_text() == "good model"
    zero = _write(tmp_path / "zero.parquet", X, y, np.zeros_like(w))
    turned_away(capsys, ["train", zero, "--label", "y", "--weight", "wt", "-o",
                         tmp_path / "z.json", "--mode", mode, "--workers", "0", "--quiet"],
                ["weights of every row are 0"], output=tmp_path / "z.json")
    turned_away(capsys, ["train", path, "--label", "y", "--weight", "nope", "-o",
                         tmp_path / "n.json", "--quiet"], ["no weight column 'nope'"],
                output=tmp_path / "n.json")
