"""NeuronClassifier(missing=...) on a DataFrame with categorical columns (issues 20 and
21 together): scikit-learn's pipeline, SimpleImputer(add_indicator=True) and
StandardScaler on the numbers, OneHotEncoder on the categories, is the reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from streamneuron import NeuronClassifier
from test_categorical import make_frame

CATS = ["carrier", "origin"]


@pytest.fixture(scope="module")
def gappy():
    frame = make_frame(3000, 7)
    rng = np.random.default_rng(7)
    frame.loc[rng.random(len(frame)) < 0.08, "x2"] = np.nan
    return frame[["x1", "x2", "carrier", "origin"]], frame["y"]


def test_impute_with_categories_is_the_pipelines_optimum(gappy):
    X, y = gappy
    est = NeuronClassifier(missing="impute", l2=1e-3).fit(X, y)
    numbers = make_pipeline(SimpleImputer(strategy="mean", add_indicator=True), StandardScaler())
    ct = ColumnTransformer([("num", numbers, ["x1", "x2"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), CATS)])
    pipe = make_pipeline(ct, LogisticRegression(C=1.0 / (1e-3 * len(X)), tol=1e-12,
                                                solver="newton-cholesky", max_iter=500))
    Xr = X.copy()
    Xr["carrier"] = Xr["carrier"].astype(object).where(Xr["carrier"].notna(), "__null__")
    Xr["origin"] = Xr["origin"].astype(str)
    pipe.fit(Xr, y)
    assert est.missing_fills_ is not None and est.coef_.shape == (1, 3 + 5 + 12)
    np.testing.assert_allclose(est.decision_function(X), pipe.decision_function(Xr),
                               atol=1e-6)
    # a gap at predict time in the other number column: imputed too, without an indicator
    other = X.copy()
    other.loc[other.index[:10], "x1"] = np.nan
    assert np.isfinite(est.predict_proba(other)).all()


def test_drop_with_categories_trains_on_the_rows_without_gaps(gappy):
    X, y = gappy
    est = NeuronClassifier(missing="drop", l2=1e-3).fit(X, y)
    kept = X["x2"].notna().to_numpy()
    # the same penalty per row: l2 scales with the rows trained on
    whole = NeuronClassifier(l2=1e-3).fit(X[kept], y[kept])
    # (the levels' order may differ: their counts include the dropped rows)
    np.testing.assert_allclose(est.decision_function(X[kept]), whole.decision_function(X[kept]),
                               atol=1e-7)
    p = est.predict_proba(X)  # a row with a gap still gets a probability
    assert p.shape == (len(X), 2) and np.isfinite(p).all()


def test_missing_error_with_categories_names_the_parameter(gappy):
    X, y = gappy
    with pytest.raises(ValueError, match="missing"):
        NeuronClassifier().fit(X, y)
