"""NeuronClassifier's SGD on DataFrames with categorical columns (``solver="sgd"`` and
``partial_fit``, :mod:`streamneuron.sklearn_levels`), against scikit-learn's pipeline
(``StandardScaler`` + ``OneHotEncoder(handle_unknown="ignore")`` then
``LogisticRegression``, C = 1): held-out log loss within 1% of the optimum's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from streamneuron import NeuronClassifier
from test_categorical import CAT, as_reference_input, make_frame, reference


@pytest.fixture(scope="module")
def data():
    train, test = make_frame(6000, 0), make_frame(3000, 1)
    test.loc[test.index[:40], "carrier"] = "ZZ"  # a level never seen in training
    pipe, _ = reference(train, 1.0 / len(train))
    best = log_loss(test["y"], pipe.predict_proba(as_reference_input(test))[:, 1])
    return train, test, best


def _xy(frame):
    return frame.drop(columns="y"), frame["y"]


def test_sgd_fit_lands_near_the_pipeline_optimum(data):
    train, test, best = data
    clf = NeuronClassifier(solver="sgd", categorical_features=CAT).fit(*_xy(train))
    assert clf.levels_.names == CAT
    assert clf.coef_.shape == (1, 2 + clf.levels_.n_weights)
    X_test, y_test = _xy(test)
    assert log_loss(y_test, clf.predict_proba(X_test)[:, 1]) <= best * 1.01
    # coef_ holds the raw number weights, then the levels': the logit from them
    z = clf.decision_function(X_test)
    onehot = np.zeros((len(test), clf.levels_.n_weights))
    labels = clf.levels_.labels()
    for c in CAT:
        values = test[c].astype(object).where(test[c].notna(), "null").astype(str)
        for i, v in enumerate(values):
            if f"{c}={v}" in labels:
                onehot[i, labels.index(f"{c}={v}")] = 1.0
    rows = np.column_stack([test[["x1", "x2"]].to_numpy(), onehot])
    np.testing.assert_allclose(rows @ clf.coef_.ravel() + clf.intercept_[0], z, atol=1e-9)


def test_sgd_fit_is_seeded_and_a_warm_start_continues_it(data):
    train, _, _ = data
    X, y = _xy(train)
    kw = dict(solver="sgd", categorical_features=CAT, batch_size=64)
    five = NeuronClassifier(epochs=5, **kw).fit(X, y)
    warm = NeuronClassifier(epochs=2, warm_start=True, **kw).fit(X, y)
    warm.set_params(epochs=3).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, five.coef_)
    assert warm.t_ == five.t_ and warm.n_iter_ == 3
    other = NeuronClassifier(epochs=5, random_state=1, **kw).fit(X, y)
    assert not np.array_equal(other.coef_, five.coef_)


def test_partial_fit_blocks_land_near_the_optimum(data):
    train, test, best = data
    clf = NeuronClassifier(categorical_features=CAT)
    for _ in range(3):
        for start in range(0, len(train), 1000):
            clf.partial_fit(*_xy(train.iloc[start:start + 1000]), classes=[0, 1])
    X_test, y_test = _xy(test)
    assert log_loss(y_test, clf.predict_proba(X_test)[:, 1]) <= best * 1.01


def test_the_first_partial_fit_fixes_the_levels(data):
    train, _, _ = data
    X, y = _xy(train)
    X = X.assign(origin=pd.Categorical(X["origin"], categories=[f"o{k}" for k in range(14)]))
    first = X["carrier"].isin(["AA", "UA"]) & X["origin"].isin(["o0", "o1", "o2"])
    clf = NeuronClassifier(categorical_features=["carrier", "origin"])
    clf.partial_fit(X[first], y[first], classes=[0, 1])
    labels = clf.levels_.labels()
    # the strings of the first call; every category of the category column, seen or not
    assert [v for v in labels if v.startswith("carrier=")] == ["carrier=AA", "carrier=UA"]
    assert {v for v in labels if v.startswith("origin=")} == {f"origin=o{k}" for k in range(14)}
    assert clf.coef_[0, labels.index("origin=o5") + 3] == 0.0
    clf.partial_fit(X, y)  # levels outside them add nothing and train nothing
    assert clf.coef_.shape == (1, 3 + len(labels))
    assert clf.coef_[0, labels.index("origin=o5") + 3] != 0.0
    assert clf.coef_[0, labels.index("origin=o13") + 3] == 0.0  # a category never seen
    row = X.iloc[[0]].assign(carrier="WN")
    unseen = row.assign(carrier=None)  # null: not a level of the first call either
    assert clf.decision_function(row) == clf.decision_function(unseen)


def test_partial_fit_refusals(data):
    train, _, _ = data
    X, y = _xy(train)
    numbers = NeuronClassifier().partial_fit(X[["x1", "x2"]], y, classes=[0, 1])
    with pytest.raises(ValueError, match="without categorical columns"):
        numbers.partial_fit(X, y)
    levels = NeuronClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="DataFrame"):
        levels.partial_fit(X[["x1", "x2"]].to_numpy(), y)
    with pytest.raises(ValueError, match="classes must be passed"):
        NeuronClassifier().partial_fit(X, y)
