"""The penalty path on a large file starting at the sample's path
(streamneuron.fullpass.sample_path): each guess is the sample's optimum (against
scikit-learn on the sample's rows); the path from the guesses chooses the same penalty as
the path without them and ends at the same optimum (scikit-learn's), in fewer passes,
bit for bit run after run and on a Dask cluster."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from streamneuron.fullpass import fit_gd, sample_path, start

PENALTIES = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """200k x 4 rows: enough for newton's sampled Hessian (16 rows a sample row) and for
    a sample of 12.5k rows (one 20k-row group) whose optimum is within the path's tolerance of the file's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(11)
    n, d = 200_000, 4
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.4)
    z = X @ np.array([0.8, -0.5, 0.3, 0.0]) + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    path = tmp_path_factory.mktemp("sample_path") / "big.parquet"
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(d)}, "y": y}), path,
                   row_group_size=20_000)
    return str(path), X, y


def _fit(path, **kwargs):
    return fit_gd(path, label="y", solver="newton", l2="auto", cv=5, seed=3,
                  standardize=False, path_values=PENALTIES, **kwargs)


@pytest.fixture(scope="module")
def fits(big_file):
    path = big_file[0]
    guessed, again = _fit(path, workers=0), _fit(path, workers=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(start, "START_ROWS_PER_WEIGHT", 0)  # no sample: the predictor's points
        plain = _fit(path, workers=0)
    return guessed, again, plain


def test_the_guesses_are_the_samples_optima(big_file, monkeypatch):
    path, X, y = big_file
    seen = {}
    walk = sample_path.walk_sample

    def spy(unit, *args):
        seen["unit"], seen["out"] = unit, walk(unit, *args)
        return seen["out"]

    monkeypatch.setattr(sample_path, "walk_sample", spy)
    _fit(path, workers=0)
    unit, guesses = seen["unit"], seen["out"].thetas
    # start_rows(200k, 4 weights) = 12.5k rows, in whole pieces: one row group
    assert start.start_rows(len(y), 4) == 12_500 and unit.y.shape[0] == 20_000
    assert guesses.shape == (len(PENALTIES), 5)
    Xs, ys = np.asarray(unit.X, dtype=np.float64), unit.y
    for theta, l2 in zip(guesses, PENALTIES):
        ref = LogisticRegression(C=1 / (l2 * len(ys)), tol=1e-12, max_iter=10_000).fit(Xs, ys)
        # newton on the sample to SAMPLE_PATH_TOL (a relative decrement of 1e-5)
        np.testing.assert_allclose(theta[:-1], ref.coef_[0], rtol=0, atol=5e-3)
        np.testing.assert_allclose(theta[-1], ref.intercept_[0], rtol=0, atol=5e-3)


def test_the_path_from_the_samples_guesses_chooses_as_without_them(big_file, fits):
    _, X, y = big_file
    guessed, again, plain = fits
    got, want = guessed.info["path"], plain.info["path"]
    assert got["sample_guesses"] and not want["sample_guesses"]
    assert got["exact_from"] is None and want["exact_from"] is None
    assert got["chosen"] == want["chosen"]
    # each point's held-out losses to the path's tolerance either way
    for a, b in zip(got["points"], want["points"]):
        assert a["penalty"] == b["penalty"]
        np.testing.assert_allclose(a["folds"], b["folds"], rtol=1e-4)
    # every penalty in flight from the first read, one pass each (or none: the flat end's
    # last three served by the point before, as the sample foretold): the moments' pass,
    # the guesses' pass, the scores' pass, then the refit's first (fewer than from the
    # predictor's points: 2 passes a penalty, 6 a read)
    assert [p["passes"] for p in got["points"]] == [1, 1, 1, 1, 0, 0, 0]
    assert guessed.info["history"][0]["passes"] == 4 < plain.info["history"][0]["passes"]
    # the same optimum at the chosen penalty, scikit-learn's
    l2 = got["chosen"]
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    for model in (guessed, plain):
        np.testing.assert_allclose(model.weights, ref.coef_[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(model.bias, ref.intercept_[0], rtol=1e-6, atol=1e-7)
    # bit for bit, run after run
    assert np.array_equal(guessed.weights, again.weights) and guessed.bias == again.bias
    assert got["points"] == again.info["path"]["points"]


def test_the_path_from_the_samples_guesses_on_a_dask_cluster(big_file, fits, dask_client):
    guessed = fits[0]
    remote = _fit(big_file[0], client=dask_client)
    assert remote.info["path"]["sample_guesses"]
    assert remote.info["path"]["points"] == guessed.info["path"]["points"]
    assert np.array_equal(remote.weights, guessed.weights) and remote.bias == guessed.bias


def test_penalties_the_sample_wrongly_leaves_to_a_server_enter_the_next_read(
        big_file, fits, monkeypatch):
    """Every penalty left to the first one's point (the sample's rule made blind): the
    file's test serves none of the far ones, and each then enters with its own guess:
    more reads, the same path and choice."""
    monkeypatch.setattr(sample_path, "SAMPLE_SERVES", 1e9)
    blind = _fit(big_file[0], workers=0)
    got, want = blind.info["path"], fits[0].info["path"]
    assert got["sample_guesses"] and got["exact_from"] is None
    assert got["chosen"] == want["chosen"]
    for a, b in zip(got["points"], want["points"]):
        np.testing.assert_allclose(a["folds"], b["folds"], rtol=1e-4)
    assert blind.info["history"][0]["passes"] > fits[0].info["history"][0]["passes"]
    np.testing.assert_allclose(blind.weights, fits[0].weights, rtol=1e-6, atol=1e-7)
