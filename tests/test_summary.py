"""`streamneuron summary` / `sn.summary` against statsmodels' Logit (issue 23).

Every reference is independent of streamneuron: statsmodels' maximum-likelihood fit
(Newton to 1e-14) and its covariances (`cov_type="HC0"` for --robust), Greene's
published table for the Spector and Mazzeo data, or a plain numpy computation.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.errors import DataError, ModelError, StreamNeuronError
from streamneuron.inference import NotOptimumWarning

from cli_helpers import run, turned_away

sm = pytest.importorskip("statsmodels.api")

RTOL = 1e-6


def reference(X, y, robust=False, freq_weights=None):
    """statsmodels' exact fit: (params, bse, conf_int low, high, pvalues), const first."""
    exog = sm.add_constant(np.asarray(X, dtype=np.float64), has_constant="add")
    if freq_weights is None:
        fit = sm.Logit(np.asarray(y, dtype=np.float64), exog).fit(
            disp=0, method="newton", tol=1e-14, maxiter=100,
            **({"cov_type": "HC0"} if robust else {}))
    else:  # the GLM's frequency weights: the rows counted as repeated
        fit = sm.GLM(np.asarray(y, dtype=np.float64), exog, family=sm.families.Binomial(),
                     freq_weights=freq_weights).fit(tol=1e-14, maxiter=100)
    ci = np.asarray(fit.conf_int())
    return (np.asarray(fit.params), np.asarray(fit.bse), ci[:, 0], ci[:, 1],
            np.asarray(fit.pvalues), float(fit.llf))


def assert_matches(table, ref, p_rtol=1e-5):
    coef, bse, low, high, pvalues, llf = ref
    np.testing.assert_allclose(table.coef, coef, rtol=RTOL)
    np.testing.assert_allclose(table.std_err, bse, rtol=RTOL)
    np.testing.assert_allclose(table.interval()[0], low, rtol=RTOL)
    np.testing.assert_allclose(table.interval()[1], high, rtol=RTOL)
    # on the log scale: a p-value's relative error is ~z**2 times its coefficient's (at z =
    # 13, p = 8e-41, a coefficient 1.4e-7 off, well within newton's tol, moves p by 2.4e-5);
    # log p's is ~2 times the coefficient's
    np.testing.assert_allclose(np.log(table.p_value), np.log(pvalues), rtol=p_rtol)
    np.testing.assert_allclose(table.log_likelihood, llf, rtol=RTOL)


@pytest.fixture(scope="module")
def spector(tmp_path_factory):
    data = sm.datasets.spector.load_pandas()
    frame = data.exog.copy()
    frame["y"] = data.endog
    path = tmp_path_factory.mktemp("spector") / "spector.parquet"
    frame.to_parquet(path)
    model = sn.fit_gd(str(path), solver="newton", l2=0.0, label="y", workers=0)
    return frame, str(path), model


def test_spector_and_mazzeo_equal_statsmodels_and_greenes_table(spector):
    frame, path, model = spector
    X, y = frame[["GPA", "TUCE", "PSI"]], frame["y"]
    table = sn.summary(model, path, workers=0)
    assert table.names == ["(intercept)", "GPA", "TUCE", "PSI"]
    assert_matches(table, reference(X, y))
    # Greene, Econometric Analysis, Table 21.1 (logit): coefficients and standard errors.
    greene_coef = [-13.0213, 2.82611, 0.0951577, 2.37869]
    greene_se = [4.93132, 1.26294, 0.141554, 1.06456]
    np.testing.assert_allclose(table.coef, greene_coef, rtol=1e-4)
    np.testing.assert_allclose(table.std_err, greene_se, rtol=1e-4)
    assert table.rows == 32


def test_robust_equals_statsmodels_hc0(spector):
    frame, path, model = spector
    table = sn.summary(model, path, robust=True, workers=0)
    assert_matches(table, reference(frame[["GPA", "TUCE", "PSI"]], frame["y"], robust=True))
    assert "HC0" in table.method


def test_default_newton_tolerance_gives_coefficients_within_1e_6():
    """An ill-conditioned 753-row problem (two features 0.999 correlated, scales from
    0.1 to 30): the default tol's coefficients equal the exact optimum to 1e-6."""
    rng = np.random.default_rng(1)
    n, d = 753, 8
    Z = rng.normal(size=(n, d))
    Z[:, 1] = Z[:, 0] + 0.05 * Z[:, 1]
    Z = Z * rng.uniform(0.1, 30, d) + rng.normal(0, 10, d)
    beta = rng.normal(size=d) / np.abs(Z).mean(0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(Z - Z.mean(0)) @ beta))).astype(float)
    model = sn.fit_gd((Z, y), solver="newton", l2=0.0, workers=0)
    table = sn.summary(model, (Z, y), workers=0)
    assert_matches(table, reference(Z, y))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated Parquet file of 1M rows in many row groups (read out of core, a group
    at a time)."""
    folder = tmp_path_factory.mktemp("generated")
    path = folder / "gen.parquet"
    from streamneuron.cli import main

    assert main(["generate", str(path), "--rows", "1000000", "--features", "5",
                 "--row-group-size", "65536", "--dtype", "float64", "--quiet"]) == 0
    frame = pd.read_parquet(path)
    return folder, str(path), frame


def test_generated_parquet_of_many_row_groups(generated):
    folder, path, frame = generated
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).metadata.num_row_groups > 10
    model = sn.fit_gd(path, solver="newton", l2=0.0, label="y", workers=0)
    features = model.feature_names
    for robust in (False, True):
        table = sn.summary(model, path, robust=robust, workers=0)
        assert_matches(table, reference(frame[features], frame["y"], robust=robust))


def test_a_local_dask_cluster_gives_the_same_table(generated, dask_client):
    """On the session's local cluster of two worker processes (conftest.dask_client)."""
    folder, path, frame = generated
    model = sn.fit_gd(path, solver="newton", l2=0.0, label="y", workers=0)
    here = sn.summary(model, path, robust=True, workers=0)
    cluster = sn.summary(model, path, robust=True, client=dask_client)
    np.testing.assert_array_equal(cluster.std_err, here.std_err)  # the same reduction order
    assert_matches(cluster, reference(frame[model.feature_names], frame["y"], robust=True))


def test_hdf5_through_the_cli_json(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    y = (rng.random(3000) < 1 / (1 + np.exp(-(X @ [0.8, -0.3, 2.0] + 0.5)))).astype(float)
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(500, 3))
        f.create_dataset("y", data=y, chunks=(500,))
    model_path = tmp_path / "model.json"
    code, _, err = run(capsys, "train", path, "--label", "y", "--mode", "newton", "--l2", "0",
                       "-o", model_path, "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, "summary", model_path, path, "--json", "--workers", "0")
    assert code == 0, err
    report = json.loads(out)
    rows = report["coefficients"]
    assert [r["name"] for r in rows][0] == "(intercept)"
    assert set(rows[0]) == {"name", "coef", "std_err", "z", "p_value", "ci_low", "ci_high"}
    coef, bse, low, high, pvalues, llf = reference(X, y)
    np.testing.assert_allclose([r["coef"] for r in rows], coef, rtol=RTOL)
    np.testing.assert_allclose([r["std_err"] for r in rows], bse, rtol=RTOL)
    np.testing.assert_allclose([r["ci_low"] for r in rows], low, rtol=RTOL)
    np.testing.assert_allclose([r["ci_high"] for r in rows], high, rtol=RTOL)
    np.testing.assert_allclose(report["log_likelihood"], llf, rtol=RTOL)
    assert report["rows"] == 3000 and report["penalty"] == {"l2": 0.0, "l1": 0.0}
    assert report["converged"] is True


def test_cli_table_and_summary_without_data(spector, tmp_path, capsys):
    frame, path, model = spector
    model_path = tmp_path / "model.json"
    model.save(model_path)
    code, out, err = run(capsys, "summary", model_path, path, "--workers", "0")
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if "std err" in line)
    gpa = next(line for line in lines if line.startswith("GPA"))
    assert "P>|z|" in header and "95% low" in header
    assert gpa.rstrip().endswith("*") and not gpa.rstrip().endswith("**")  # p = 0.025
    assert "rows: 32" in out and "log-likelihood: -12.8896" in out
    assert "penalty: l2 = 0, l1 = 0" in out and "converged: yes" in out
    assert err == ""  # a newton model at the optimum: no warning
    # Without DATA: the coefficients on the original scale, no errors.
    code, out, err = run(capsys, "summary", model_path, "--json")
    assert code == 0, err
    rows = json.loads(out)["coefficients"]
    coef = reference(frame[["GPA", "TUCE", "PSI"]], frame["y"])[0]
    np.testing.assert_allclose([r["coef"] for r in rows], coef, rtol=RTOL)
    assert all(r["std_err"] is None for r in rows)
    code, out, _ = run(capsys, "summary", model_path)
    assert code == 0 and "GPA" in out and "std err" not in out


def test_integer_weights_equal_the_duplicated_file(tmp_path):
    rng = np.random.default_rng(5)
    n = 400
    X = rng.normal(size=(n, 3)) * [2.0, 1.0, 0.5]
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ [0.7, -0.4, 1.2] - 0.3)))).astype(float)
    counts = rng.integers(0, 4, n)
    weighted = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=y, w=counts.astype(float))
    repeated = weighted.loc[weighted.index.repeat(counts)].assign(w=1.0)
    weighted.to_parquet(tmp_path / "weighted.parquet")
    repeated.to_parquet(tmp_path / "repeated.parquet")
    model = sn.fit_gd(str(tmp_path / "weighted.parquet"), solver="newton", l2=0.0, label="y",
                      features=["a", "b", "c"], weight="w", workers=0)
    for robust in (False, True):
        once = sn.summary(model, str(tmp_path / "weighted.parquet"), robust=robust, workers=0)
        twice = sn.summary(model, str(tmp_path / "repeated.parquet"), robust=robust, workers=0)
        np.testing.assert_allclose(once.std_err, twice.std_err, rtol=1e-12)
        assert twice.rows == counts.sum() and once.weight_total == counts.sum()
        assert_matches(twice, reference(repeated[["a", "b", "c"]], repeated["y"], robust=robust))
    # And statsmodels' own frequency weights on the unduplicated rows.
    coef, bse = reference(X, y, freq_weights=counts)[:2]
    np.testing.assert_allclose(once.coef, coef, rtol=RTOL)
    np.testing.assert_allclose(sn.summary(model, str(tmp_path / "weighted.parquet"),
                                          workers=0).std_err, bse, rtol=RTOL)


def _frame_with(column_values: dict, n=300, seed=7):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    for name, values in column_values.items():
        frame[name] = values(frame)
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-frame["a"] + 0.5 * frame["b"]))).astype(float)
    return frame


@pytest.mark.parametrize("extra, named", [
    ({"a_again": lambda f: f["a"]}, ["a", "a_again"]),
    ({"two_a_minus_b": lambda f: 2 * f["a"] - f["b"]}, ["a", "b", "two_a_minus_b"]),
    ({"constant": lambda f: np.full(len(f), 3.0)}, ["constant"]),
])
def test_a_singular_hessian_names_its_columns(extra, named, tmp_path, capsys):
    frame = _frame_with(extra)
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    model = sn.fit_gd(str(path), solver="newton", l2=1e-3, label="y", workers=0)
    if "constant" in extra:  # no information about it, whatever the penalty
        with pytest.raises(DataError, match="constant"):
            sn.summary(model, str(path), workers=0)
    model.info["params"]["l2"] = 0.0  # as if fitted without the penalty: H alone is singular
    with pytest.raises(DataError, match="singular") as caught:
        sn.summary(model, str(path), workers=0)
    for name in named:
        assert name in str(caught.value)
    model_path = tmp_path / "model.json"
    model.save(model_path)
    turned_away(capsys, ["summary", model_path, path, "--workers", "0"], ["singular", *named])


def test_penalized_model_reports_the_sandwich_of_the_penalized_hessian(spector):
    """l2 > 0: A^-1 H A^-1 (A = H + W l2 on the weights), computed here in plain numpy on
    the original scale's design at the model's weights."""
    frame, path, _ = spector
    l2 = 0.05
    model = sn.fit_gd(path, solver="newton", l2=l2, label="y", workers=0)
    table = sn.summary(model, path, workers=0)
    X = frame[["GPA", "TUCE", "PSI"]].to_numpy()
    Xs = np.column_stack([(X - model.mean) / model.scale, np.ones(len(X))])
    p = 1 / (1 + np.exp(-(Xs @ np.append(model.weights, model.bias))))
    H = (Xs * (p * (1 - p))[:, None]).T @ Xs
    A = H + len(X) * l2 * np.diag([1.0, 1.0, 1.0, 0.0])
    cov = np.linalg.inv(A) @ H @ np.linalg.inv(A)
    T = np.zeros((4, 4))  # (w, b) -> (intercept, beta)
    T[0, :3], T[0, 3] = -model.mean / model.scale, 1.0
    T[1:, :3] = np.diag(1 / model.scale)
    np.testing.assert_allclose(table.std_err, np.sqrt(np.diag(T @ cov @ T.T)), rtol=1e-9)
    assert "penalized" in table.method and table.penalty["l2"] == l2


def test_l1_and_mse_models_are_refused(spector, tmp_path, capsys):
    frame, path, _ = spector
    lasso = sn.fit_gd(path, solver="newton", l1=0.01, label="y", workers=0)
    with pytest.raises(ModelError, match="l1"):
        sn.summary(lasso, path, workers=0)
    mse = sn.fit_gd(path, solver="newton", loss="mse", label="y", workers=0)
    mse_path = tmp_path / "mse.json"
    mse.save(mse_path)
    turned_away(capsys, ["summary", mse_path, path], ["log loss", "mse"])


def test_too_many_features_is_a_clear_error(spector, monkeypatch):
    from streamneuron import inference

    frame, path, model = spector
    monkeypatch.setattr(inference, "MAX_FEATURES", 2)
    with pytest.raises(StreamNeuronError, match="at most 2 features"):
        sn.summary(model, path, workers=0)


def test_a_model_off_the_optimum_warns(spector):
    frame, path, _ = spector
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sn.fullpass.ConvergenceWarning)  # 5 steps: meant
        rough = sn.fit_gd(path, solver="gd", max_iter=5, lr=1.0, l2=0.0, label="y", workers=0)
    with pytest.warns(NotOptimumWarning, match="Newton decrement"):
        sn.summary(rough, path, workers=0)


def test_neuron_classifier_fitted_by_newton(spector):
    pytest.importorskip("sklearn")
    frame, _, _ = spector
    X, y = frame[["GPA", "TUCE", "PSI"]].to_numpy(), frame["y"].to_numpy()
    labels = np.where(y > 0, "yes", "no")
    clf = sn.NeuronClassifier(solver="newton", l2=0.0).fit(X, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotOptimumWarning)
        table = sn.summary(clf, (X, labels))
    assert_matches(table, reference(X, y))
    frame_out = table.to_frame()
    assert list(frame_out.index) == table.names
    np.testing.assert_allclose(frame_out["std_err"], table.std_err)


def test_an_open_source_with_other_features_is_refused(spector):
    frame, path, model = spector
    with sn.open_source(path, label="y", features=["GPA", "PSI", "TUCE"]) as source:
        with pytest.raises(ModelError, match="not the model's"):
            sn.summary(model, source, workers=0)
