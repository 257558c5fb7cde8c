"""The penalty chosen on held-out rows (streamneuron.fullpass.path): the fold sums of
one read against plain numpy, each fold's optimum against scikit-learn, the choice
against LogisticRegressionCV, the L1 path's first value against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from streamneuron.errors import ConfigError
from streamneuron.fullpass import fit_gd, path
from streamneuron.fullpass.partitions import already_decoded
from streamneuron.fullpass.sums import Sums
from streamneuron.readers.base import DecodedUnit
from streamneuron.stream import row_uniform


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y.astype(np.float64)


def _units(X, y, sizes):
    """The rows cut into decoded units of these sizes, and each unit's first row."""
    units, starts, at = [], [], 0
    for n in sizes:
        units.append(DecodedUnit(X=X[at:at + n], y=y[at:at + n], where=f"rows {at}"))
        starts.append(at)
        at += n
    return units, starts


def _table(units, starts, thetas, design, seed, d):
    """path_sums over the units, one task per unit, added up."""
    params = np.concatenate([thetas.ravel(), np.zeros(d), np.ones(d)])
    total = 0
    for unit, start in zip(units, starts):
        total = total + path.path_sums([unit], [start], already_decoded,
                                       [f"x{j}" for j in range(d)], params, 0, design, seed)[0]
    return total.reshape(design.models, design.groups, Sums.size(d, True))


def test_fold_sums_are_each_folds_own_sums(cancer):
    X, y = cancer
    n, d = X.shape
    design = path.Design.folds(4)
    rng = np.random.default_rng(1)
    thetas = rng.normal(scale=0.3, size=(design.models, d + 1))
    table = _table(*_units(X, y, [100, 250, n - 350]), thetas, design, 7, d)
    fold = np.minimum((row_uniform(np.arange(n), 7) * 4).astype(int), 3)
    for m in range(design.models):
        for g in range(4):
            rows = fold == g
            z = X[rows] @ thetas[m, :d] + thetas[m, d]
            p = 1 / (1 + np.exp(-z))
            loss = np.logaddexp(0, z) - y[rows] * z
            got = Sums(table[m, g], d)
            assert got.rows == rows.sum()
            np.testing.assert_allclose(got.loss_sum, loss.sum(), rtol=1e-10)
            np.testing.assert_allclose(table[m, g, :d], (p - y[rows]) @ X[rows], rtol=1e-9,
                                       atol=1e-9)
            if g in design.train[m]:  # the Hessian sums of the rows the model trains on
                xt = np.column_stack([X[rows], np.ones(rows.sum())])
                np.testing.assert_allclose(got.matrix(0), (xt * (p * (1 - p))[:, None]).T @ xt,
                                           rtol=1e-9, atol=1e-9)
            else:
                assert not table[m, g, d + 4:].any()


def test_each_fold_optimum_is_sklearns_on_its_rows(cancer, monkeypatch):
    X, y = cancer
    n, d = X.shape
    design, seed, l2 = path.Design.folds(5), 3, 0.01
    monkeypatch.setattr(path, "PATH_TOL", 1e-13)
    units, starts = _units(X, y, [200, n - 200])

    def evaluate(thetas):
        table = _table(units, starts, thetas, design, seed, d)
        sums = [Sums(table[m, list(design.train[m])].sum(axis=0), d)
                for m in range(design.models)]
        held = [None if g is None else (table[m, g, d + 1], table[m, g, d + 3])
                for m, g in enumerate(design.score)]
        return sums, held

    selection = path.Selection("l2", design, seed, path.Penalty())
    points = path.walk_path(evaluate, design, np.array([l2]), selection, d)
    models = points[0].thetas
    fold = np.minimum((row_uniform(np.arange(n), seed) * 5).astype(int), 4)
    for m in range(design.models):
        rows = np.isin(fold, design.train[m])
        ref = LogisticRegression(C=1 / (l2 * rows.sum()), tol=1e-12, max_iter=10000)
        ref.fit(X[rows], y[rows])
        np.testing.assert_allclose(models[m][:d], ref.coef_[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(models[m][d], ref.intercept_[0], rtol=1e-6, atol=1e-6)
        if m < 5:  # its held-out log loss: sklearn's model on the fold's rows
            held = fold == m
            want = log_loss(y[held], ref.predict_proba(X[held])[:, 1])
            np.testing.assert_allclose(points[0].folds[m], want, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_l2_auto_is_as_good_held_out_as_logistic_regression_cv(cancer):
    X, y = cancer
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    model = fit_gd((X_train, y_train), solver="newton", l2="auto", workers=0)
    ref = LogisticRegressionCV(Cs=20, cv=5, scoring="neg_log_loss", max_iter=10000)
    ref.fit(X_train, y_train)
    ours = log_loss(y_test, model.predict_proba(X_test))
    theirs = log_loss(y_test, ref.predict_proba(X_test)[:, 1])
    assert ours <= 1.05 * theirs
    record = model.info["path"]
    assert model.info["params"]["l2"] == record["chosen"]
    assert record["cv"] == 5 and len(record["points"]) >= 5
    losses = [p["loss"] for p in record["points"]]
    assert record["chosen"] == record["points"][int(np.argmin(losses))]["penalty"]
    assert model.info["passes"] <= 40


def test_l1_auto_starts_at_the_largest_useful_l1(cancer):
    X, y = cancer
    n, d = X.shape
    model = fit_gd((X, y), solver="newton", l1="auto", cv=3, workers=0, standardize=False)
    # Independent: at w = 0 and the intercept-only fit, max_j |mean((ybar - y) x_j)|.
    l1_max = np.max(np.abs((y.mean() - y) @ X / n))
    first = model.info["path"]["points"][0]["penalty"]
    np.testing.assert_allclose(first, l1_max, rtol=1e-9)
    at_max = fit_gd((X, y), solver="newton", l1=l1_max * (1 + 1e-9), workers=0,
                    standardize=False)
    assert not at_max.weights.any()
    below = fit_gd((X, y), solver="newton", l1=l1_max * 0.99, workers=0, standardize=False)
    assert np.count_nonzero(below.weights) == 1
    assert np.argmax(np.abs(below.weights)) == np.argmax(np.abs((y.mean() - y) @ X))


def test_hold_out_fraction_and_bad_choices(cancer):
    X, y = cancer
    model = fit_gd((X, y), solver="newton", l2="auto", validation_fraction=0.25, workers=0)
    record = model.info["path"]
    assert record["validation_fraction"] == 0.25 and record["cv"] is None
    assert all(len(p["folds"]) == 1 for p in record["points"])
    with pytest.raises(ConfigError, match="cv"):
        fit_gd((X, y), solver="newton", l2=0.1, cv=5, workers=0)
    with pytest.raises(ConfigError, match="one penalty"):
        fit_gd((X, y), solver="newton", l2="auto", l1="auto", workers=0)
    with pytest.raises(ConfigError, match="cv"):
        fit_gd((X, y), solver="newton", l2="auto", cv=1, workers=0)


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer_file(tmp_path_factory, cancer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    X, y = cancer
    path_ = tmp_path_factory.mktemp("cancer") / "cancer.parquet"
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    columns["y"] = y
    pq.write_table(pa.table(columns), path_, row_group_size=100)
    return path_


def test_cli_l2_auto_json_plot_and_model_file(cancer_file, cancer, tmp_path, capsys):
    import json

    from cli_helpers import run

    out, plot = tmp_path / "m.json", tmp_path / "path.png"
    code, stdout, err = run(capsys, "train", cancer_file, "--label", "y", "-o", out,
                            "--mode", "newton", "--l2", "auto", "--cv", "5", "--seed", "2",
                            "--json", "--plot", plot)
    assert code == 0, err
    summary = json.loads(stdout)
    record = summary["path"]
    assert record["cv"] == 5 and record["seed"] == 2
    saved = json.loads(out.read_text())["training"]
    assert saved["params"]["l2"] == record["chosen"] == saved["path"]["chosen"]
    assert plot.stat().st_size > 0
    # The same choice as the library on the same rows (row order = file order).
    X, y = cancer
    lib = fit_gd((X, y), solver="newton", l2="auto", cv=5, seed=2, workers=0)
    np.testing.assert_allclose(record["chosen"], lib.info["path"]["chosen"], rtol=1e-12)
    # The path's losses: the first is near the intercept-only model's held-out loss.
    base = log_loss(y, np.full(len(y), y.mean()))
    assert record["points"][0]["loss"] < base and record["points"][0]["loss"] > 0.5 * base


def test_cli_refuses_auto_with_sgd_and_cv_without_auto(cancer_file, tmp_path, capsys):
    from cli_helpers import turned_away

    out = tmp_path / "m.json"
    turned_away(capsys, ["train", cancer_file, "--label", "y", "-o", out, "--l2", "auto"],
                ["l2", "auto", "newton"], output=out)
    turned_away(capsys, ["train", cancer_file, "--label", "y", "-o", out, "--mode", "newton",
                         "--cv", "3"], ["cv"], output=out)
    turned_away(capsys, ["train", cancer_file, "--label", "y", "-o", out, "--mode", "newton",
                         "--l2", "big"], ["big"], output=out)


def test_held_out_group_is_sgds_held_out_rows_and_runs_repeat_bit_for_bit(cancer):
    from streamneuron.stream import held_out

    rows = np.arange(5000)
    group = path.Design.held_out(0.3).group_of(rows, 11)
    np.testing.assert_array_equal(group == 1, held_out(rows, 0.3, 11))
    X, y = cancer
    first = fit_gd((X, y), solver="newton", l2="auto", cv=4, seed=3, workers=0)
    again = fit_gd((X, y), solver="newton", l2="auto", cv=4, seed=3, workers=0)
    np.testing.assert_array_equal(first.weights, again.weights)
    assert first.bias == again.bias


def test_path_with_a_sampled_hessian_chooses_as_the_exact_one(monkeypatch):
    """On large data the path's fold models, like newton, are steered by the curvature
    of about one row in 16 (their gradients and held-out losses stay exact): the same
    penalties are scored (their held-out losses within 1e-3: each point is fitted to
    ``PATH_TOL`` only), the same one chosen, the refit at the same optimum."""
    from streamneuron.fullpass import sums as fsums

    monkeypatch.setattr(fsums, "SAMPLE_MIN_ROWS", 100)
    monkeypatch.setattr(fsums, "SAMPLE_ROWS_PER_WEIGHT", 1)
    rng = np.random.default_rng(8)
    n, d = 20_000, 6
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.5)
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, :3] @ [0.4, -0.3, 0.2]))).astype(np.float64)
    runs = {c: fit_gd((X, y), solver="newton", l2="auto", cv=3, workers=0, curvature=c)
            for c in ("exact", "sampled")}
    exact, sampled = (runs[c].info["path"] for c in ("exact", "sampled"))
    assert runs["sampled"].info["hessian_every"] == fsums.SAMPLE_EVERY
    assert sampled["chosen"] == exact["chosen"]
    np.testing.assert_allclose([p["loss"] for p in sampled["points"]],
                               [p["loss"] for p in exact["points"]][:len(sampled["points"])],
                               rtol=1e-3)  # each point fitted to PATH_TOL, a sample of 1250
    assert runs["sampled"].info["objective"] == pytest.approx(runs["exact"].info["objective"],
                                                              rel=1e-6)
