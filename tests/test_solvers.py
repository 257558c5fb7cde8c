"""Full-pass solvers (newton, lbfgs, gd) against independent references.

References: scikit-learn's ``LogisticRegression`` (solver newton-cholesky) and an
exact float64 Newton written here in numpy, on the same objective
``mean log loss + (l2/2) ||w||^2`` over features standardized as streamneuron does
(population std); finite differences for the Hessian; a plain numpy pass for the
full-pass primitive. Most runs are in-process (``workers=0``); the session's
local cluster (conftest.dask_client) checks that Dask gives the same answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.optimize import minimize

import streamneuron as sn
from streamneuron.fullpass import engine as gd
from streamneuron.fullpass.sums import Sums, add_unit_sums, start_from_moments
from streamneuron.losses import get_loss
from streamneuron.readers import DecodedUnit
from streamneuron.stats import CoMoments

distributed = pytest.importorskip("distributed")
sklearn_datasets = pytest.importorskip("sklearn.datasets")


# --------------------------------------------------------------------------
# Data and references
# --------------------------------------------------------------------------


def standardize(X):
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def objective(Xs, y, w, b, l2, loss="log"):
    z = Xs @ w + b
    return float(get_loss(loss).loss(z, y).mean() + 0.5 * l2 * w @ w)


def model_objective(model, X, y, l2, loss="log"):
    """The objective at a model's weights, from its logits on the raw features."""
    z = model.decision_function(X)
    return float(get_loss(loss).loss(z, y).mean() + 0.5 * l2 * model.weights @ model.weights)


def exact_newton(Xs, y, l2):
    """Plain float64 Newton on the log loss, to a gradient of 1e-13: the optimum."""
    n, d = Xs.shape
    Xt = np.hstack([Xs, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(Xt @ theta)))
        g = Xt.T @ (p - y) / n
        g[:d] += l2 * theta[:d]
        if np.abs(g).max() < 1e-13:
            break
        H = (Xt * (p * (1 - p))[:, None]).T @ Xt / n
        H[np.arange(d), np.arange(d)] += l2
        theta -= np.linalg.solve(H, g)
    return theta[:d], theta[d]


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    return X, y.astype(np.float64)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same 3,000 x 6 rows as Parquet (three files, uneven row groups) and HDF5."""
    folder = tmp_path_factory.mktemp("solvers")
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((3000, 6))
    X = (rng.uniform(-3, 3, 6) + rng.uniform(0.2, 4, 6) * Z).astype(np.float32)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(Z @ rng.standard_normal(6))))).astype(np.int8)
    paths = []
    for k, (lo, hi, rg) in enumerate([(0, 1000, 300), (1000, 2200, 256), (2200, 3000, 800)]):
        path = str(folder / f"part{k}.parquet")
        table = {f"x{j}": X[lo:hi, j] for j in range(6)}
        table["y"] = y[lo:hi]
        pq.write_table(pa.table(table), path, row_group_size=rg)
        paths.append(path)
    h5 = str(folder / "data.h5")
    with h5py.File(h5, "w") as f:
        f.create_dataset("X", data=X, chunks=(700, 6))
        f.create_dataset("y", data=y, chunks=(700,))
    return paths, h5, X.astype(np.float64), y.astype(np.float64)


@pytest.fixture(scope="module")
def cluster(dask_client):
    """Two one-thread worker processes: the session's cluster (conftest.dask_client)."""
    return dask_client


# --------------------------------------------------------------------------
# The primitive: one pass's sums
# --------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["log", "mse"])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_curvature_sums_match_numpy(loss, layout):
    rng = np.random.default_rng(0)
    n, d = 1003, 9
    X = np.asarray(rng.normal(2.0, 3.0, (n, d)).astype(np.float32), order=layout)
    y = (rng.random(n) < 0.4).astype(np.float64)
    mean, inv_scale = rng.normal(size=d), 1.0 / rng.uniform(1, 4, d)
    w, b = rng.normal(size=d) * 0.4, 0.3
    params = np.concatenate([w, [b], mean, inv_scale])
    acc = np.zeros(Sums.size(d, True))
    add_unit_sums(acc, DecodedUnit(X, y, "test"), [f"x{j}" for j in range(d)], params,
                  get_loss(loss).kernel_id)
    ev = Sums(acc, d).evaluate(w, b, l2=0.1)

    Xs = (X.astype(np.float64) - mean) * inv_scale
    z = Xs @ w + b
    fn = get_loss(loss)
    Xt = np.hstack([Xs, np.ones((n, 1))])
    H = (Xt * fn.curvature(z, y)[:, None]).T @ Xt / n
    H[np.arange(d), np.arange(d)] += 0.1
    np.testing.assert_allclose(ev.hessian, H, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ev.gradient[:d], Xs.T @ fn.dloss_dz(z, y) / n + 0.1 * w,
                               rtol=1e-12, atol=1e-15)
    assert ev.objective == pytest.approx(fn.loss(z, y).mean() + 0.05 * w @ w, rel=1e-13)


def test_log_loss_hessian_is_the_derivative_of_the_gradient():
    """Central differences of the pass's gradient give its Hessian (the log loss's is exact)."""
    rng = np.random.default_rng(1)
    n, d = 500, 4
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    mean, inv_scale = np.zeros(d), np.ones(d)
    theta = rng.normal(size=d + 1) * 0.5

    def evaluate(theta):
        params = np.concatenate([theta[:d], [theta[d]], mean, inv_scale])
        acc = np.zeros(Sums.size(d, True))
        add_unit_sums(acc, DecodedUnit(X, y, "fd"), list("abcd"), params, 0)
        return Sums(acc, d).evaluate(theta[:d], theta[d], l2=0.0)

    H = evaluate(theta).hessian
    eps = 1e-5
    for k in range(d + 1):
        step = np.zeros(d + 1)
        step[k] = eps
        column = (evaluate(theta + step).gradient - evaluate(theta - step).gradient) / (2 * eps)
        np.testing.assert_allclose(column, H[:, k], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("loss", ["log", "mse"])
@pytest.mark.parametrize("standardized", [True, False])
def test_first_newton_step_from_the_moments_equals_a_pass_at_zero(loss, standardized):
    rng = np.random.default_rng(2)
    n, d = 2000, 5
    X = rng.normal(3.0, 2.0, (n, d))
    y = (rng.random(n) < 0.3).astype(np.float64)
    moments = CoMoments.empty(d)
    for lo in range(0, n, 700):  # merged from uneven chunks
        moments = moments.merge(CoMoments.of(X[lo:lo + 700], y[lo:lo + 700]))
    features = moments.feature_moments()
    mean, inv_scale = ((features.mean, 1.0 / features.scale()) if standardized
                       else (np.zeros(d), np.ones(d)))
    fn = get_loss(loss)
    start = start_from_moments(moments, mean, inv_scale, fn, l2=0.01)

    params = np.concatenate([np.zeros(d), [0.0], mean, inv_scale])
    acc = np.zeros(Sums.size(d, True))
    add_unit_sums(acc, DecodedUnit(X, y, "zero"), list("abcde"), params, fn.kernel_id)
    at_zero = Sums(acc, d).evaluate(np.zeros(d), 0.0, l2=0.01)
    assert start.objective == pytest.approx(at_zero.objective, rel=1e-12)
    np.testing.assert_allclose(start.gradient, at_zero.gradient, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(start.hessian, at_zero.hessian, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------
# The optimum
# --------------------------------------------------------------------------


@pytest.mark.parametrize("l2", [1e-2, 1e-4])
@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_reaches_the_scikit_learn_optimum(breast_cancer, solver, l2):
    from sklearn.linear_model import LogisticRegression

    X, y = breast_cancer
    Xs = standardize(X)
    n = len(y)
    ref = LogisticRegression(C=1.0 / (l2 * n), solver="newton-cholesky", tol=1e-12,
                             max_iter=1000).fit(Xs, y)
    best = objective(Xs, y, ref.coef_[0], ref.intercept_[0], l2)
    mine = exact_newton(Xs, y, l2)
    assert objective(Xs, y, *mine, l2) == pytest.approx(best, rel=1e-12)

    model = sn.fit_gd((X, y), solver=solver, l2=l2, tol=1e-10, workers=0)
    assert model.info["converged"], model.info["message"]
    assert model_objective(model, X, y, l2) == pytest.approx(best, rel=1e-8)
    np.testing.assert_allclose(model.weights, mine[0], rtol=1e-3, atol=1e-4 / l2 ** 0.5 * 1e-2)


def test_newton_without_standardization_reaches_the_raw_optimum(breast_cancer):
    """On raw features (scales from 1e-3 to 1e3) Newton is scale-free: the optimum of
    the unstandardized objective, in a handful of passes with no learning rate."""
    from sklearn.linear_model import LogisticRegression

    X, y = breast_cancer
    X = X[:, :10]
    l2 = 1e-2
    ref = LogisticRegression(C=1.0 / (l2 * len(y)), solver="newton-cholesky", tol=1e-12,
                             max_iter=1000).fit(X, y)
    best = objective(X, y, ref.coef_[0], ref.intercept_[0], l2)
    model = sn.fit_gd((X, y), solver="newton", l2=l2, standardize=False, tol=1e-10, workers=0)
    assert model.mean is None and model.scale is None  # no standardization stored
    assert model.info["converged"] and model.info["passes"] <= 15
    assert model_objective(model, X, y, l2) == pytest.approx(best, rel=1e-8)


@pytest.mark.parametrize("l2", [1e-2, 1e-4])
def test_defaults_reach_1e6_in_few_passes(breast_cancer, l2):
    """The default tolerance puts newton and lbfgs within 1e-6 of the optimum, and
    newton there in at most 12 passes, the standardization pass included."""
    X, y = breast_cancer
    Xs = standardize(X)
    best = objective(Xs, y, *exact_newton(Xs, y, l2), l2)
    newton = sn.fit_gd((X, y), solver="newton", l2=l2, workers=0)
    assert newton.info["converged"]
    assert newton.info["passes"] <= 12
    assert newton.info["passes"] == newton.info["history"][-1]["passes"]
    assert (model_objective(newton, X, y, l2) - best) / best <= 1e-6
    lbfgs = sn.fit_gd((X, y), solver="lbfgs", l2=l2, workers=0)
    assert lbfgs.info["converged"]
    assert (model_objective(lbfgs, X, y, l2) - best) / best <= 1e-6
    gd100 = sn.fit_gd((X, y), solver="gd", l2=l2, workers=0)  # far behind, and says so
    assert not gd100.info["converged"] and gd100.info["passes"] == 101


def test_a_step_within_the_rounding_of_the_objective_is_taken_when_the_gradient_falls():
    """Next to the optimum a step promises less than the rounding of F: Armijo's test
    alone would halve it pass after pass; a smaller gradient takes it at once."""
    from streamneuron.fullpass.iteration import ROUNDING, line_search
    from streamneuron.fullpass.sums import Evaluation
    from streamneuron.penalty import Penalty

    F0 = 0.5583341576639188
    start = Evaluation(np.zeros(3), F0, np.full(3, 1e-8), None)
    slope = -1e-15  # the decrease promised: below F's rounding

    def search(noise, gradient):
        tried = []

        def evaluate(x, curvature):
            tried.append(x)
            return Evaluation(x, F0 + noise, np.full(3, gradient), None)

        trial = line_search(evaluate, Penalty(), lambda t: t * np.ones(3),
                            lambda t, x: F0 + 1e-4 * t * slope, curvature=False, start=start)
        return trial, len(tried)

    trial, passes = search(2e-16, 1e-16)
    assert trial is not None and trial.t == 1.0 and passes == 1
    # a larger gradient, or an F above the rounding: backtracking as before
    assert search(2e-16, 1e-7) == (None, 30)
    assert search(10 * ROUNDING * F0, 1e-16) == (None, 30)


def test_newton_next_to_the_optimum_takes_no_halved_steps(tmp_path):
    # a file whose row groups (1,489 rows) round F so that Armijo's test once failed 12
    # times at a point 1e-8 from the optimum (tol 1e-10): 19 passes instead of 7
    from test_categorical import make_frame

    path = tmp_path / "f.parquet"
    pq.write_table(pa.Table.from_pandas(make_frame(3000, 0), preserve_index=False), path,
                   row_group_size=1489)
    model = sn.fit_gd(path, label="y", solver="newton", tol=1e-10, categorical=["hour"])
    assert model.info["passes"] <= 8
    assert all(row["step"] == 1.0 for row in model.info["history"])


def test_auto_picks_newton_for_few_features(breast_cancer):
    X, y = breast_cancer
    assert sn.fit_gd((X, y), solver="auto", l2=1e-2, workers=0).info["mode"] == "newton"
    assert gd.NEWTON_MAX_FEATURES >= X.shape[1]


def test_mse_gauss_newton_reaches_the_point_scipy_reaches(files):
    """Gauss-Newton on the squared error (not convex) stops where scipy's BFGS does, from
    the same zero start, on the objective written in numpy over the model's
    standardized features."""
    paths, _, X, y = files
    l2 = 1e-2
    newton = sn.fit_gd(paths, solver="newton", loss="mse", l2=l2, tol=1e-12, workers=0)
    assert newton.info["converged"] and newton.info["iterations"] < 30
    Xs = (X - newton.center) * newton.inv_scale

    def objective(theta):
        w, b = theta[:-1], theta[-1]
        p = 1.0 / (1.0 + np.exp(-(Xs @ w + b)))
        dz = (p - y) * p * (1.0 - p)
        value = 0.5 * np.mean((p - y) ** 2) + 0.5 * l2 * (w @ w)
        return value, np.append(Xs.T @ dz / len(y) + l2 * w, dz.mean())

    ref = minimize(objective, np.zeros(X.shape[1] + 1), jac=True, method="BFGS",
                   options={"gtol": 1e-11, "maxiter": 10_000})
    assert np.max(np.abs(ref.jac)) < 1e-8
    np.testing.assert_allclose(newton.weights, ref.x[:-1], rtol=1e-6, atol=1e-8)
    assert newton.bias == pytest.approx(ref.x[-1], rel=1e-6, abs=1e-8)


def test_separable_classes_without_l2_stop_finite_and_say_why():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float64)
    for solver in ("newton", "lbfgs"):
        with pytest.warns(gd.ConvergenceWarning, match="separable"):
            model = sn.fit_gd((X, y), solver=solver, l2=0.0, workers=0)
        assert not model.info["converged"] and "separable" in model.info["message"]
        assert np.all(np.isfinite(model.weights)) and np.isfinite(model.bias)
        assert np.mean((model.predict_proba(X) > 0.5) == y) == 1.0


def test_constant_column_without_l2_uses_the_pseudo_inverse(breast_cancer):
    """A constant column makes the Hessian singular when l2 = 0: its weight stays 0
    and the others reach the optimum of the problem without it."""
    X, y = breast_cancer
    X = X[:, :5]
    with_constant = np.hstack([X, np.full((len(y), 1), 7.0)])
    model = sn.fit_gd((with_constant, y), solver="newton", l2=0.0, tol=1e-12, workers=0)
    assert model.info["converged"]
    assert model.weights[-1] == 0.0
    Xs = standardize(X)
    best = objective(Xs, y, *exact_newton(Xs, y, 0.0), 0.0)
    assert model_objective(model, with_constant, y, 0.0) == pytest.approx(best, rel=1e-10)


def test_gd_that_grows_stops_naming_the_learning_rate(files):
    paths = files[0]
    with pytest.raises(sn.DivergenceError, match="--lr"):
        sn.fit_gd(paths, solver="gd", lr=50.0, standardize=False, max_iter=20, workers=0)


def test_bad_solver_is_a_config_error(files):
    with pytest.raises(sn.ConfigError, match="solver"):
        sn.fit_gd(files[0], solver="bfgs", workers=0)


# --------------------------------------------------------------------------
# Wherever it runs, the same answer
# --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_dask_cluster_equals_in_process(files, cluster, solver):
    paths, h5, X, y = files
    here = sn.fit_gd(paths, solver=solver, l2=1e-3, workers=0)
    assert here.info["where"] == "in-process"
    there = sn.fit_gd(paths, solver=solver, l2=1e-3, client=cluster, partition_rows=600)
    assert there.info["where"] == "client"
    np.testing.assert_allclose(there.weights, here.weights, rtol=1e-9, atol=1e-12)
    assert there.bias == pytest.approx(here.bias, rel=1e-9, abs=1e-12)
    assert there.info["passes"] == here.info["passes"]
    hdf5 = sn.fit_gd(h5, solver=solver, l2=1e-3, client=cluster)
    np.testing.assert_allclose(hdf5.weights, here.weights, rtol=1e-9, atol=1e-12)
    plain = sn.fit_gd(paths, solver=solver, l2=1e-3, client=cluster)
    with pytest.warns(gd.PersistWarning):
        kept = sn.fit_gd(paths, solver=solver, l2=1e-3, client=cluster, persist=True)
    np.testing.assert_array_equal(kept.weights, plain.weights)  # the same partitions: bits


def test_small_data_runs_in_process_by_default(files):
    model = sn.fit_gd(files[0], solver="newton", l2=1e-3)
    assert model.info["where"] == "in-process"


def test_newton_counts_one_read_per_pass(files):
    """passes = reads of the data: the standardization pass (which also gives the
    first step) and one per trial point."""
    from streamneuron.fullpass.partitions import units_read

    paths = files[0]
    units = len(sn.open_source(paths).units)
    before = units_read()
    model = sn.fit_gd(paths, solver="newton", l2=1e-3, workers=0)
    assert units_read() - before == units * model.info["passes"]
    assert model.info["passes"] == model.info["iterations"] + 1


# --------------------------------------------------------------------------
# Command line and scripts
# --------------------------------------------------------------------------


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "streamneuron", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_cli_newton_reports_convergence_and_passes(files, tmp_path):
    paths = files[0]
    out = str(tmp_path / "m.json")
    done = run_cli("train", *paths, "--label", "y", "-o", out, "--mode", "newton", "--l2",
                   "1e-3", "--workers", "0", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["converged"] is True and summary["where"] == "in-process"
    assert summary["passes"] == summary["iterations"] + 1 <= 12
    assert summary["grad_norm"] < 1e-4
    saved = json.load(open(out))
    assert saved["training"]["converged"] is True and saved["training"]["passes"] > 0

    refused = run_cli("train", *paths, "--label", "y", "-o", str(tmp_path / "x.json"),
                      "--mode", "lbfgs", "--lr", "0.1")
    assert refused.returncode == 2 and refused.stderr.startswith("Error:")
    assert "--lr" in refused.stderr and not os.path.exists(tmp_path / "x.json")


def test_cli_nan_on_a_cluster_is_one_line(tmp_path):
    """A NaN in a late row group, trained on a local cluster: one Error line, none of
    the cluster's logs or tracebacks."""
    path = str(tmp_path / "nan.parquet")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    X[3500, 1] = np.nan
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
                             "y": (X[:, 0] > 0).astype(np.int8)}), path, row_group_size=1000)
    out = str(tmp_path / "m.json")
    done = run_cli("train", path, "--label", "y", "-o", out, "--mode", "newton",
                   "--workers", "2", "--quiet")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error:") and "'b'" in lines[0] and "row group" in lines[0]
    assert not os.path.exists(out)


def test_fit_gd_in_a_script_without_main_guard(files, tmp_path):
    """No ``if __name__ == "__main__":``: small data trains in this process; a local
    cluster of worker processes, which would import the script again, is refused in
    one clear message (not dozens of lines of Dask traceback)."""
    paths = files[0]
    script = tmp_path / "plain.py"
    script.write_text(textwrap.dedent(f"""
        import streamneuron as sn
        model = sn.fit_gd({paths!r}, solver="newton", l2=1e-3)
        print("trained", model.info["where"], model.info["converged"])
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "trained in-process True"

    script.write_text(textwrap.dedent(f"""
        import streamneuron as sn
        try:
            sn.fit_gd({paths!r}, solver="newton", l2=1e-3, workers=2)
        except sn.ConfigError as exc:
            print("refused:", exc)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert "__main__" in done.stdout and "workers=0" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_cluster_job_script_trains_to_the_optimum(files, tmp_path):
    out = tmp_path / "job.json"
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", "cluster_job.py")
    done = subprocess.run([sys.executable, script, *files[0], "--label", "y", "-o", str(out),
                           "--workers", "0", "--l2", "1e-3"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "newton" in done.stdout and "converged" in done.stdout
    assert json.load(open(out))["training"]["converged"] is True
