"""The path from shared points (streamneuron.fullpass.shared): one pass's fold-bucketed
sums and candidate scores against plain numpy; the fold models, their held-out losses
and the choice against scikit-learn's fits on each fold's rows; the exact path taking
over on small data; the refit at the optimum."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from streamneuron.fullpass import fit_gd, path, shared
from streamneuron.fullpass.partitions import already_decoded
from streamneuron.fullpass.sums import Sums
from streamneuron.readers.base import DecodedUnit
from streamneuron.stream import row_uniform


def _data(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.3)
    z = X @ rng.normal(scale=0.7, size=d) + 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
def test_shared_sums_are_each_groups_sums_and_each_candidates_held_out_loss(weighted):
    X, y = _data(3000, 4, 1)
    n, d = X.shape
    design, seed = path.Design.folds(3), 5
    rng = np.random.default_rng(2)
    s = rng.uniform(0.5, 2.0, n) if weighted else np.ones(n)
    points, candidates = rng.normal(scale=0.3, size=(2, d + 1)), rng.normal(size=(3, d + 1))
    scored = (2, 0, 2)
    params = np.concatenate([points.ravel(), candidates.ravel(), np.zeros(d), np.ones(d)])
    total = 0
    for at, size in ((0, 700), (700, n - 700)):  # two tasks, each told its first row
        unit = DecodedUnit(X=X[at:at + size], y=y[at:at + size], where="rows",
                           w=s[at:at + size] if weighted else None)
        total = total + shared.shared_sums([unit], [at], already_decoded,
                                           [f"x{j}" for j in range(d)], params, 0, design,
                                           seed, 1, 2, scored)[0]
    full, cut = Sums.size(d, True), 2 * 3 * Sums.size(d, True)
    table = total[:cut].reshape(2, 3, full)
    held = total[cut:].reshape(3, Sums.size(d, False))
    fold = np.minimum((row_uniform(np.arange(n), seed) * 3).astype(int), 2)
    xt = np.column_stack([X, np.ones(n)])
    for r in range(2):
        z = xt @ points[r]
        p = 1 / (1 + np.exp(-z))
        for g in range(3):
            rows = fold == g
            got = Sums(table[r, g], d)
            assert got.rows == rows.sum()
            np.testing.assert_allclose(got.weight, s[rows].sum(), rtol=1e-12)
            np.testing.assert_allclose(got.loss_sum,
                                       (s * (np.logaddexp(0, z) - y * z))[rows].sum(), rtol=1e-10)
            np.testing.assert_allclose(table[r, g, :d], (s * (p - y))[rows] @ X[rows],
                                       rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(table[r, g, d], (s * (p - y))[rows].sum(), rtol=1e-9,
                                       atol=1e-9)
            np.testing.assert_allclose(
                got.matrix(0), (xt[rows] * (s * p * (1 - p))[rows, None]).T @ xt[rows],
                rtol=1e-9, atol=1e-9)
    for c, g in enumerate(scored):
        rows = fold == g
        z = xt[rows] @ candidates[c]
        np.testing.assert_allclose(held[c, d + 1],
                                   (s[rows] * (np.logaddexp(0, z) - y[rows] * z)).sum(),
                                   rtol=1e-10)
        np.testing.assert_allclose(held[c, d + 3], s[rows].sum(), rtol=1e-12)


@pytest.fixture(scope="module")
def large():
    """Rows enough per weight that every fold's optimum is near the full one's."""
    X, y = _data(30_000, 4, 3)
    penalties = (3e-2, 3e-3, 3e-4, 3e-5)
    model = fit_gd((X, y), solver="newton", l2="auto", cv=5, seed=4, workers=0,
                   standardize=False, path_values=penalties)
    return X, y, penalties, model


def _fold_fits(X, y, fold, k, l2):
    rows = fold != k
    ref = LogisticRegression(C=1 / (l2 * rows.sum()), tol=1e-12, max_iter=10_000)
    return ref.fit(X[rows], y[rows])


def test_fold_models_and_held_out_losses_are_sklearns_on_each_folds_rows(large):
    X, y, penalties, model = large
    record = model.info["path"]
    assert record["exact_from"] is None  # every point from shared points
    fold = np.minimum((row_uniform(np.arange(len(y)), 4) * 5).astype(int), 4)
    means = []
    for point, l2 in zip(record["points"], penalties):
        assert point["penalty"] == l2
        losses = []
        for k in range(5):
            ref = _fold_fits(X, y, fold, k, l2)
            losses.append(log_loss(y[fold == k], ref.predict_proba(X[fold == k])[:, 1]))
            if l2 == record["chosen"]:  # one step from a point within PATH_TOL: 2.5e-4 off
                got = np.array(record["fold_models"][k])
                np.testing.assert_allclose(got[:-1], ref.coef_[0], rtol=0, atol=1e-3)
                np.testing.assert_allclose(got[-1], ref.intercept_[0], rtol=0, atol=1e-3)
        # each point fitted to the path's tolerance (PATH_TOL), not to the optimum: here
        # within 1.6e-5 (the exact path's own models, at the same tolerance: 3.8e-4)
        np.testing.assert_allclose(point["folds"], losses, rtol=1e-4)
        means.append(np.mean(losses))
    assert record["chosen"] == penalties[int(np.argmin(means))]


def test_the_refit_is_sklearns_optimum_at_the_chosen_penalty(large):
    X, y, _, model = large
    l2 = model.info["path"]["chosen"]
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(model.weights, ref.coef_[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.bias, ref.intercept_[0], rtol=1e-6, atol=1e-7)
    # the shared path's passes: the moments, one per penalty here, a scoring pass, the refit
    assert model.info["passes"] <= 1 + len(model.info["path"]["points"]) + 1 + 3


def test_small_data_takes_the_exact_path_from_where_a_fold_fails():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = fit_gd((X, y.astype(np.float64)), solver="newton", l2="auto", cv=5, workers=0)
    record = model.info["path"]
    assert record["exact_from"] == 0  # 398... 569 rows, 31 weights: no shared point serves
    losses = [p["loss"] for p in record["points"]]
    assert record["chosen"] == record["points"][int(np.argmin(losses))]["penalty"]


def test_a_held_out_fraction_from_shared_points_is_sklearns_fit_on_the_kept_rows(large):
    from streamneuron.stream import held_out

    X, y, penalties, _ = large
    model = fit_gd((X, y), solver="newton", l2="auto", validation_fraction=0.25, seed=6,
                   workers=0, standardize=False, path_values=penalties[:3])
    record = model.info["path"]
    assert record["exact_from"] is None and record["validation_fraction"] == 0.25
    out = held_out(np.arange(len(y)), 0.25, 6)
    for point, l2 in zip(record["points"], penalties):
        ref = LogisticRegression(C=1 / (l2 * (~out).sum()), tol=1e-12, max_iter=10_000)
        ref.fit(X[~out], y[~out])
        want = log_loss(y[out], ref.predict_proba(X[out])[:, 1])
        np.testing.assert_allclose(point["folds"], [want], rtol=1e-4)


def test_the_exact_path_takes_over_mid_path_and_every_point_is_sklearns():
    """3000 x 6: the shared points serve the large penalties; from the fourth the folds'
    optima are too far from the full one, and the exact path goes on from there."""
    X, y = _data(3000, 6, 3)
    penalties = (1.0, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3)
    model = fit_gd((X, y), solver="newton", l2="auto", cv=5, seed=4, workers=0,
                   standardize=False, path_values=penalties)
    record = model.info["path"]
    assert record["exact_from"] is not None and 0 < record["exact_from"] < len(penalties)
    fold = np.minimum((row_uniform(np.arange(len(y)), 4) * 5).astype(int), 4)
    means = []
    for point, l2 in zip(record["points"], penalties):
        losses = [log_loss(y[fold == k], _fold_fits(X, y, fold, k, l2).predict_proba(
            X[fold == k])[:, 1]) for k in range(5)]
        # each point to the path's tolerance: the exact path alone is 1.2% off here, ours 0.4%
        np.testing.assert_allclose(point["folds"], losses, rtol=1e-2)
        means.append(np.mean(losses))
    assert record["chosen"] == penalties[int(np.argmin(means))]
