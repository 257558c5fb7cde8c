"""--missing error|impute|drop (issue 21): against scikit-learn's
SimpleImputer(strategy="mean", add_indicator=True) -> StandardScaler -> LogisticRegression,
on files written by pandas with NaN / None in float, nullable integer (Int64) and
categorical columns; every engine, the model file, predict/evaluate, resume, Dask."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.missing import Fills, impute
from streamneuron.neuron import Neuron, load_model

from cli_helpers import run, turned_away

N = 1200


def gappy(n=N, seed=0, gaps=(("a", 0.1), ("n", 0.06)), dtype=np.float64):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 3))
    y = (X @ [1.0, -1.0, 0.5] + r.normal(size=n) > 0).astype(int)
    df = pd.DataFrame(X.astype(dtype), columns=["a", "b", "c"])
    df["n"] = pd.array(r.integers(0, 5, n), dtype="Int64")
    for col, frac in gaps:
        hit = r.random(n) < frac
        if col == "n":
            df.loc[hit, "n"] = pd.NA
        else:
            df.loc[hit, col] = np.nan
    df["y"] = y
    return df


NUMBERS = ["a", "b", "c", "n"]


def reference(df, sample_weight=None, cat=None):
    """scikit-learn's pipeline on the numbers (and one-hot ``cat``): its coefficients on
    the standardized scale, its intercept and its probabilities."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = df[NUMBERS].astype("float64")
    steps = [("num", make_pipeline(SimpleImputer(strategy="mean", add_indicator=True),
                                   StandardScaler()), NUMBERS)]
    if cat:
        X = pd.concat([X, df[[cat]].astype(object).where(df[[cat]].notna(), "<null>")], axis=1)
        steps.append(("cat", OneHotEncoder(handle_unknown="ignore"), [cat]))
    model = make_pipeline(ColumnTransformer(steps),
                          LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12,
                                             max_iter=1000))
    model.fit(X, df["y"], logisticregression__sample_weight=sample_weight)
    lr = model[-1]
    return lr.coef_[0], lr.intercept_[0], model.predict_proba(X)[:, 1]


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.parquet"
    gappy().to_parquet(path, row_group_size=200)
    return path


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_impute_equals_scikit_learns_pipeline(train_file, solver):
    coef, intercept, _ = reference(gappy())
    model = sn.fit_gd(train_file, solver=solver, missing="impute", workers=0, tol=1e-10)
    assert model.feature_names == NUMBERS + ["a_missing", "n_missing"]
    _, _, prob = reference(gappy())
    y = gappy()["y"].to_numpy()
    loss = -np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob))
    objective = loss + 0.5 / len(y) * float(coef @ coef)
    assert model.info["objective"] == pytest.approx(objective, rel=1e-6)
    atol = 1e-6 if solver == "newton" else 1e-4  # (lbfgs: the objective to 1e-6)
    np.testing.assert_allclose(model.weights, coef, atol=atol)
    assert model.bias == pytest.approx(intercept, abs=atol)


def test_impute_weighted_uses_weighted_means(tmp_path):
    df = gappy()
    df["w"] = np.random.default_rng(5).integers(1, 4, len(df)).astype(float)
    path = tmp_path / "w.parquet"
    df.to_parquet(path, row_group_size=200)
    model = sn.fit_gd(path, solver="newton", missing="impute", weight="w", workers=0,
                      tol=1e-10)
    # integer weights are repeated rows: the reference on the repeated frame
    repeated = df.loc[df.index.repeat(df["w"].astype(int))].reset_index(drop=True)
    coef, intercept, _ = reference(repeated)
    np.testing.assert_allclose(model.weights, coef, atol=1e-6)
    observed = df["a"].notna()
    mean = np.average(df.loc[observed, "a"], weights=df.loc[observed, "w"])
    assert model.missing.values[0] == pytest.approx(mean, rel=1e-12)


def test_impute_with_a_categorical_column_whose_null_is_a_level(tmp_path):
    df = gappy()
    df["cat"] = pd.Categorical(np.random.default_rng(3).choice(["p", "q", None], len(df)))
    path = tmp_path / "c.parquet"
    df.to_parquet(path, row_group_size=200)
    model = sn.fit_gd(path, solver="newton", missing="impute", workers=0, tol=1e-10)
    assert model.levels.names == ["cat"]
    _, _, prob = reference(df, cat="cat")
    source = sn.open_source(path, **model.columns())
    z = np.concatenate([model.decision_function(u.X, u.codes)
                        for u in (source.read(i) for i in range(len(source.units)))])
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(p, prob, atol=1e-6)


def test_sgd_impute_close_and_its_first_pass_is_the_same(train_file):
    coef, _, _ = reference(gappy())
    model = sn.fit_sgd(train_file, missing="impute", epochs=40, seed=1)
    assert model.feature_names[-2:] == ["a_missing", "n_missing"]
    np.testing.assert_allclose(model.weights, coef, atol=0.05)
    newton = sn.fit_gd(train_file, solver="newton", missing="impute", workers=0)
    np.testing.assert_array_equal(model.missing.values, newton.missing.values)
    np.testing.assert_allclose(model.center, newton.center, rtol=1e-12)
    np.testing.assert_allclose(model.scale, newton.scale, rtol=1e-12)


def test_sgd_resume_with_impute_is_exact(train_file, tmp_path):
    whole = sn.fit_sgd(train_file, missing="impute", epochs=3, batch_size=32,
                       checkpoint=tmp_path / "a")
    sn.fit_sgd(train_file, missing="impute", epochs=1, batch_size=32,
               checkpoint=tmp_path / "b")
    resumed = sn.fit_sgd(train_file, missing="impute", epochs=3, batch_size=32,
                         checkpoint=tmp_path / "b", resume=True)
    np.testing.assert_array_equal(whole.weights, resumed.weights)
    assert whole.bias == resumed.bias


def test_dask_cluster_gives_the_same_bits(train_file, dask_client):
    """On the session's cluster of two worker processes (conftest.dask_client)."""
    here = sn.fit_gd(train_file, solver="newton", missing="impute", workers=0)
    there = sn.fit_gd(train_file, solver="newton", missing="impute", client=dask_client)
    np.testing.assert_array_equal(here.weights, there.weights)
    assert here.bias == there.bias
    dropped_here = sn.fit_gd(train_file, solver="lbfgs", missing="drop", workers=0)
    dropped_there = sn.fit_gd(train_file, solver="lbfgs", missing="drop", client=dask_client)
    np.testing.assert_array_equal(dropped_here.weights, dropped_there.weights)


def test_drop_equals_training_without_those_rows(train_file, tmp_path):
    df = gappy()
    kept = df.dropna(subset=NUMBERS)
    clean = tmp_path / "clean.parquet"
    kept.to_parquet(clean, row_group_size=200)
    dropped = sn.fit_gd(train_file, solver="newton", missing="drop", workers=0, tol=1e-10)
    ref = sn.fit_gd(clean, solver="newton", workers=0, tol=1e-10)
    assert dropped.info["params"]["l2"] == pytest.approx(1 / len(kept))
    np.testing.assert_allclose(dropped.weights, ref.weights, atol=1e-9)
    np.testing.assert_allclose(dropped.center, ref.center, rtol=1e-12)
    assert dropped.missing == "drop"


def test_drop_with_l1_and_sgd_runs(train_file):
    model = sn.fit_gd(train_file, solver="newton", missing="drop", l1=0.02, workers=0)
    assert 0 < model.info["nonzero"] <= 4
    sgd = sn.fit_sgd(train_file, missing="drop", epochs=3, l1=0.001)
    assert np.isfinite(sgd.weights).all()


def test_model_file_and_predict_evaluate_with_gaps_elsewhere(train_file, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", train_file, "--mode", "newton", "--missing", "impute",
                       "-o", out)
    assert code == 0, err
    assert "imputed (2): a (" in err and "n (" in err
    saved = json.loads(out.read_text())
    assert saved["missing"]["indicators"] == ["a", "n"]
    assert saved["features"] == NUMBERS + ["a_missing", "n_missing"]
    model = load_model(out)
    assert model.missing.names == tuple(NUMBERS)
    # a test file with gaps in b (none in training): imputed by b's training mean
    test = gappy(500, seed=9, gaps=(("b", 0.2), ("a", 0.05)))
    test_path = tmp_path / "test.parquet"
    test.to_parquet(test_path, row_group_size=100)
    code, _, err = run(capsys, "predict", out, test_path, "-o", tmp_path / "p.parquet")
    assert code == 0, err
    p = pq.read_table(tmp_path / "p.parquet").column("probability").to_numpy()
    assert len(p) == 500 and np.isfinite(p).all()
    X = test[NUMBERS].astype(float).to_numpy()
    imputed = impute(X, model.missing)
    np.testing.assert_allclose(p, model.predict_proba(imputed), rtol=1e-12)
    code, stdout, err = run(capsys, "evaluate", out, test_path, "--json")
    assert code == 0, err
    assert json.loads(stdout)["rows"] == 500


def test_drop_predict_writes_null_and_evaluate_skips(train_file, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", train_file, "--mode", "newton", "--missing", "drop",
                       "-o", out)
    assert code == 0, err
    kept = gappy().dropna(subset=NUMBERS)
    assert f"dropped: {N - len(kept):,} rows" in err
    test = gappy(500, seed=9, gaps=(("b", 0.2),))
    test_path = tmp_path / "test.parquet"
    test.to_parquet(test_path, row_group_size=100)
    run(capsys, "predict", out, test_path, "-o", tmp_path / "p.parquet")
    p = pq.read_table(tmp_path / "p.parquet").column("probability")
    assert len(p) == 500 and p.null_count == int(test["b"].isna().sum())
    code, stdout, err = run(capsys, "evaluate", out, test_path, "--json")
    report = json.loads(stdout)
    assert report["skipped"] == int(test["b"].isna().sum())
    assert report["rows"] == 500 - report["skipped"]  # the rows evaluated


def test_error_names_the_options_and_counts(train_file, tmp_path, capsys):
    turned_away(capsys, ["train", train_file, "-o", tmp_path / "m.json", "--quiet"],
                ["feature column", "null value(s)", "in the whole input", "--missing impute",
                 "--missing drop"], output=tmp_path / "m.json")
    frame = gappy()
    frame["n"] = frame["n"].astype(float)
    with pytest.raises(sn.DataError, match="--missing impute"):
        sn.fit_gd(frame, label="y", solver="newton")


def test_infinity_is_still_an_error(tmp_path):
    df = gappy()
    df.loc[5, "b"] = np.inf
    path = tmp_path / "inf.parquet"
    df.to_parquet(path)
    with pytest.raises(sn.DataError, match="inf"):
        sn.fit_gd(path, solver="newton", missing="impute", workers=0)


def test_dataframe_in_memory_impute(tmp_path):
    df = gappy()
    coef, intercept, _ = reference(df)
    model = sn.fit_gd(df, label="y", solver="newton", missing="impute", tol=1e-10)
    np.testing.assert_allclose(model.weights, coef, atol=1e-6)


def test_estimator_missing_impute_and_tags():
    from sklearn.utils.estimator_checks import check_estimator

    df = gappy()
    X = df[NUMBERS].astype(float).to_numpy()
    coef, _, prob = reference(df)
    est = sn.NeuronClassifier(missing="impute").fit(X, df["y"])
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], prob, atol=1e-6)
    assert est.__sklearn_tags__().input_tags.allow_nan
    assert not sn.NeuronClassifier().__sklearn_tags__().input_tags.allow_nan
    neuron = est.to_neuron()
    assert neuron.feature_names == ["x0", "x1", "x2", "x3", "x0_missing", "x3_missing"]
    back = Neuron.from_dict(neuron.to_dict())
    assert back.missing == neuron.missing
    with pytest.raises(ValueError):
        sn.NeuronClassifier().fit(X, df["y"])
    check_estimator(sn.NeuronClassifier(missing="impute"))
    check_estimator(sn.NeuronClassifier(missing="drop"))


def test_fills_round_trip():
    fills = Fills(("a", "b"), (1.5, -2.0), ("b",), (0, 3))
    assert Fills.from_dict(fills.to_dict()) == fills
    X = np.array([[1.0, np.nan], [np.nan, 2.0]])
    np.testing.assert_array_equal(impute(X, fills), [[1.0, -2.0, 1.0], [1.5, 2.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_impute_kernel_in_either_layout_and_into_a_buffer(dtype):
    r = np.random.default_rng(2)
    X = r.normal(size=(50, 4)).astype(dtype)
    X[r.random((50, 4)) < 0.2] = np.nan
    X[:, 2] = 1.0  # no gap: no indicator (a NaN there only where the input is not the training's)
    X[7, 2] = np.nan
    fills = Fills(("a", "b", "c", "d"), (0.5, -1.0, 2.0, 3.0), ("a", "b", "d"))
    holes = np.isnan(X)
    expected = np.hstack([np.where(holes, np.asarray(fills.values, dtype=dtype), X),
                          holes[:, [0, 1, 3]].astype(dtype)])
    for order in ("C", "F"):
        out = np.zeros((60, 7), dtype=dtype, order=order)[:50]  # a reused buffer's rows
        out[:, :4] = X
        got = impute(out[:, :4], fills, out=out)
        assert got is out
        np.testing.assert_array_equal(out, expected)
        assert impute(X, fills).flags.f_contiguous  # a unit of its own: column-major
    # the training input itself (Fills.seen): only the indicator columns are read
    seen = impute(X, dataclasses.replace(fills, seen=True))
    np.testing.assert_array_equal(seen[:, [0, 1, 3, 4, 5, 6]], expected[:, [0, 1, 3, 4, 5, 6]])
    assert np.isnan(seen[7, 2])


def test_observed_moments_kernel_against_numpy():
    from streamneuron.kernels import moments, observed_moments

    r = np.random.default_rng(4)
    X = r.normal(size=(3000, 10))
    X[r.random((3000, 10)) < 0.1] = np.nan
    X[1000:, 4] = r.normal(size=2000)  # gaps in its first block of 1024 rows only
    X[:, 5:] = r.normal(size=(3000, 5))  # no gap: moments' very numbers
    # the columns known to hold a gap (DecodedUnit.gaps): none, the right ones, all of
    # them (5: too many): the same bits
    hints = (np.zeros(10, dtype=bool), np.arange(10) < 5, np.ones(10, dtype=bool))
    for sw in (np.empty(0), r.integers(0, 3, 3000).astype(float)):
        for A in (X, np.asfortranarray(X)):
            weight, mean, m2, missing = observed_moments(A, sw, hints[0])
            for known in hints[1:]:
                for got, want in zip(observed_moments(A, sw, known), (weight, mean, m2, missing)):
                    np.testing.assert_array_equal(got, want)
            s = np.ones(3000) if not sw.size else sw
            present = ~np.isnan(X)
            np.testing.assert_array_equal(missing, (~present).sum(axis=0))
            np.testing.assert_allclose(weight, (s[:, None] * present).sum(axis=0), rtol=1e-12)
            ref = np.nansum(s[:, None] * X, axis=0) / weight
            np.testing.assert_allclose(mean, ref, rtol=1e-10)
            np.testing.assert_allclose(m2, np.nansum(s[:, None] * (X - ref) ** 2, axis=0),
                                       rtol=1e-10)
            if not sw.size:
                full_mean, full_m2, _ = moments(np.ascontiguousarray(X[:, 5:]), sw)
                np.testing.assert_array_equal(mean[5:], full_mean)
                np.testing.assert_array_equal(m2[5:], full_m2)


def test_impute_with_l2_auto_and_balanced_class_weights(train_file):
    auto = sn.fit_gd(train_file, solver="newton", missing="impute", l2="auto", workers=0)
    assert auto.feature_names[-2:] == ["a_missing", "n_missing"] and auto.info["params"]["l2"] > 0
    balanced = sn.fit_gd(train_file, solver="newton", missing="impute",
                         class_weight="balanced", workers=0)
    y = gappy()["y"].to_numpy()
    assert balanced.info["class_weights"] == pytest.approx(
        [len(y) / (2 * (y == 0).sum()), len(y) / (2 * (y == 1).sum())])


def test_summary_of_an_imputed_model(train_file, tmp_path, capsys):
    out = tmp_path / "m.json"
    run(capsys, "train", train_file, "--mode", "newton", "--missing", "impute", "-o", out,
        "--quiet")
    code, stdout, err = run(capsys, "summary", out, train_file)
    assert code == 0, err
    assert "a_missing" in stdout and "n_missing" in stdout
