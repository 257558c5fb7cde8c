"""Categorical columns of in-memory data (issue 20, library and estimator): pandas and
Dask DataFrames with string / ``category`` columns through ``fit_gd`` / ``fit_sgd``,
and :class:`NeuronClassifier` on such frames and on scipy sparse input, each against
scikit-learn's pipeline (``StandardScaler`` + ``OneHotEncoder(handle_unknown="ignore")``
then ``LogisticRegression``, newton-cholesky, C = 1)."""

from __future__ import annotations

import numpy as np
import pytest

import streamneuron as sn
from test_categorical import CAT, as_reference_input, make_frame, reference


@pytest.fixture(scope="module")
def frames():
    train = make_frame(6000, 0)
    test = make_frame(3000, 1)
    test.loc[test.index[:40], "carrier"] = "ZZ"  # a level never seen in training
    return train, test


def _frame_rows(model, frame):
    """``(X, codes)`` of a frame, encoded by the model's levels."""
    src = sn.open_source(frame, label=None, **model.columns())
    units = [src.read(i) for i in range(len(src.units))]
    return (np.concatenate([u.X for u in units]), np.concatenate([u.codes for u in units]))


def test_frame_columns_chosen_by_dtype(frames):
    train, _ = frames
    src = sn.open_source(train, label="y")
    assert src.feature_names == ["x1", "x2", "hour"] and src.categorical == ["carrier", "origin"]
    src = sn.open_source(train, label="y", categorical=["hour"])
    assert src.feature_names == ["x1", "x2"] and src.categorical == CAT
    unit = src.read(0)
    assert str(unit.extra["origin"].type).startswith("dictionary")  # category -> dictionary


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_fit_gd_on_a_frame_is_the_pipeline_optimum(frames, solver):
    train, test = frames
    model = sn.fit_gd(train, label="y", solver=solver, categorical=["hour"], tol=1e-10,
                      workers=0)
    pipe, _ = reference(train, 1.0 / len(train))
    ours = model.decision_function(*_frame_rows(model, test))
    expected = pipe.decision_function(as_reference_input(test))  # "ZZ" adds nothing
    assert np.max(np.abs(ours - expected)) < (1e-6 if solver == "newton" else 1e-4)


def test_fit_sgd_on_a_frame_lands_near_the_optimum(frames):
    from sklearn.metrics import log_loss

    train, test = frames
    model = sn.fit_sgd(train, label="y", categorical=["hour"], seed=3)
    pipe, _ = reference(train, 1.0 / len(train))
    best = log_loss(test["y"], pipe.predict_proba(as_reference_input(test))[:, 1])
    z = model.decision_function(*_frame_rows(model, test))
    assert log_loss(test["y"], 1 / (1 + np.exp(-z))) <= best * 1.01


def test_frame_on_a_dask_cluster_gives_the_same_bits(frames, dask_client):
    """On the session's cluster of two worker processes (conftest.dask_client)."""
    train, _ = frames
    kwargs = dict(label="y", solver="newton", categorical=["hour"], partition_rows=2000)
    here = sn.fit_gd(train, **kwargs, workers=0)
    there = sn.fit_gd(train, **kwargs, client=dask_client)  # delayed units, encoded on the workers
    np.testing.assert_array_equal(here.weights, there.weights)
    assert here.levels == there.levels


def test_dask_dataframe_with_categories(frames):
    dd = pytest.importorskip("dask.dataframe")
    train, test = frames
    ddf = dd.from_pandas(train, npartitions=3)
    model = sn.fit_gd(ddf, label="y", solver="newton", categorical=["hour"], tol=1e-10,
                      workers=0)
    pipe, _ = reference(train, 1.0 / len(train))
    ours = model.decision_function(*_frame_rows(model, test))
    assert np.max(np.abs(ours - pipe.decision_function(as_reference_input(test)))) < 1e-6


# -- NeuronClassifier ---------------------------------------------------------------

def _pipeline(frame, numeric, categorical):
    """scikit-learn's pipeline at C = 1 (nulls as a level of their own), and its input."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ct = ColumnTransformer([("num", StandardScaler(), numeric),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    pipe = make_pipeline(ct, LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12,
                                                max_iter=500))
    return pipe.fit(_as_strings(frame, numeric, categorical), frame["y"])


def _as_strings(frame, numeric, categorical):
    X = frame[numeric + categorical].copy()
    for c in categorical:
        X[c] = X[c].astype(object).where(X[c].notna(), "__null__").astype(str)
    return X


@pytest.mark.parametrize("solver", ["auto", "newton", "lbfgs"])
def test_classifier_categories_from_dtype_is_the_pipeline(frames, solver):
    from streamneuron import NeuronClassifier

    train, test = frames
    clf = NeuronClassifier(solver=solver).fit(train.drop(columns="y"), train["y"])
    assert clf.levels_.names == ["carrier", "origin"]  # "hour" (int64) stays a number
    assert list(clf.feature_names_in_) == ["x1", "carrier", "x2", "origin", "hour"]
    numeric, categorical = ["x1", "x2", "hour"], ["carrier", "origin"]
    pipe = _pipeline(train, numeric, categorical)
    X_test = test.drop(columns="y")
    expected = pipe.decision_function(_as_strings(test, numeric, categorical))
    tol = 1e-6 if solver != "lbfgs" else 1e-4
    assert np.max(np.abs(clf.decision_function(X_test) - expected)) < tol  # "ZZ": nothing
    np.testing.assert_allclose(clf.predict_proba(X_test),
                               pipe.predict_proba(_as_strings(test, numeric, categorical)),
                               atol=tol)
    np.testing.assert_array_equal(clf.predict(X_test), clf.decision_function(X_test) > 0)
    assert clf.coef_.shape == (1, 3 + clf.levels_.n_weights)


def test_classifier_named_categorical_features_and_saved_model(frames, tmp_path):
    from streamneuron import NeuronClassifier

    train, test = frames
    clf = NeuronClassifier(categorical_features=CAT).fit(train.drop(columns="y"), train["y"])
    pipe, _ = reference(train, 1.0 / len(train))
    expected = pipe.decision_function(as_reference_input(test))
    assert np.max(np.abs(clf.decision_function(test.drop(columns="y")) - expected)) < 1e-6
    neuron = clf.to_neuron()
    neuron.save(tmp_path / "m.json")
    again = sn.load_model(tmp_path / "m.json")
    z = again.decision_function(*_frame_rows(again, test))
    np.testing.assert_allclose(z, clf.decision_function(test.drop(columns="y")), atol=1e-12)


def test_classifier_categorical_with_sample_weight_and_string_labels(frames):
    from streamneuron import NeuronClassifier

    train, _ = frames
    X, y = train.drop(columns="y"), np.where(train["y"] == 1, "yes", "no")
    w = np.random.default_rng(5).integers(0, 3, len(train)).astype(float)
    clf = NeuronClassifier(categorical_features=CAT, standardize=False).fit(X, y,
                                                                             sample_weight=w)
    assert list(clf.classes_) == ["no", "yes"]
    # unstandardized numbers, one-hot levels, weighted LogisticRegression at C = 1 (l2 = 1/W)
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    ct = ColumnTransformer([("num", "passthrough", ["x1", "x2"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), CAT)])
    pipe = make_pipeline(ct, LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12,
                                                max_iter=500))
    X_ref = as_reference_input(train)
    pipe.fit(X_ref, y, logisticregression__sample_weight=w)
    assert clf.l2_ == pytest.approx(1.0 / w.sum())
    assert np.max(np.abs(clf.decision_function(X) - pipe.decision_function(X_ref))) < 1e-6


def test_classifier_categorical_refusals(frames):
    from streamneuron import NeuronClassifier

    train, _ = frames
    X, y = train.drop(columns="y"), train["y"]
    with pytest.raises(ValueError, match="names no column 'nope'"):
        NeuronClassifier(categorical_features=["nope"]).fit(X, y)
    with pytest.raises(ValueError):  # strings are not numbers without categorical columns
        NeuronClassifier(categorical_features=None).fit(X, y)
    clf = NeuronClassifier().fit(X, y)
    with pytest.raises(ValueError, match="DataFrame"):
        clf.decision_function(X.to_numpy())
    with pytest.raises(ValueError, match="DataFrame"):
        clf.partial_fit(X.to_numpy(), y)


def test_classifier_on_one_hot_sparse_input_is_logistic_regression(frames):
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    from streamneuron import NeuronClassifier

    train, test = frames
    enc = OneHotEncoder(handle_unknown="ignore").fit(_as_strings(train, [], CAT))
    X, X_test = (enc.transform(_as_strings(f, [], CAT)) for f in (train, test))
    assert sp.issparse(X)
    clf = NeuronClassifier(standardize=False).fit(X, train["y"])
    ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12).fit(X, train["y"])
    assert np.max(np.abs(clf.decision_function(X_test) - ref.decision_function(X_test))) < 1e-6
    assert clf.__sklearn_tags__().input_tags.sparse


def test_sparse_input_past_the_limit_is_refused(monkeypatch):
    import scipy.sparse as sp

    from streamneuron import NeuronClassifier, sklearn_data

    monkeypatch.setattr(sklearn_data, "MAX_DENSE_VALUES", 100)
    X = sp.random(50, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match="would be 150 values densified.*fit_gd"):
        NeuronClassifier().fit(X, np.arange(50) % 2)


def test_classifier_on_categorical_columns_only_is_the_pipeline(frames):
    from streamneuron import NeuronClassifier

    train, test = frames
    cols = ["carrier", "origin"]
    clf = NeuronClassifier().fit(train[cols], train["y"])
    assert clf.coef_.shape == (1, clf.levels_.n_weights)
    pipe = _pipeline(train, [], cols)
    expected = pipe.decision_function(_as_strings(test, [], cols))
    assert np.max(np.abs(clf.decision_function(test[cols]) - expected)) < 1e-6


def test_classifier_refuses_a_column_of_too_many_levels(frames):
    from streamneuron import NeuronClassifier

    train, _ = frames
    X = train.drop(columns="y").assign(id=[f"r{i}" for i in range(len(train))])
    with pytest.raises(ValueError, match="'id' has more than 1000 distinct values.*drop it"):
        NeuronClassifier().fit(X, train["y"])


def test_newton_past_its_limit_is_refused_when_the_levels_come_with_the_frame():
    # a category column's levels are known before any pass: the size rule is applied then
    import pandas as pd

    from streamneuron.errors import ConfigError

    n = 9000
    frame = pd.DataFrame({"x": np.arange(n, dtype=float) % 7,
                          "id": pd.Categorical([f"u{k}" for k in range(n)]),
                          "y": np.arange(n) % 2})
    with pytest.raises(ConfigError, match="newton with 9,001 weights"):
        sn.fit_gd(frame, label="y", solver="newton", l1=1e-3, max_levels=10_000)
    # auto picks lbfgs there
    assert sn.fit_gd(frame, label="y", solver="auto", l1=1e-3, max_levels=10_000,
                     max_iter=1).info["mode"] == "lbfgs"
