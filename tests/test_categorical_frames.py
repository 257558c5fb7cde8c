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


def test_frame_on_a_dask_cluster_gives_the_same_bits(frames):
    train, _ = frames
    kwargs = dict(label="y", solver="newton", categorical=["hour"], partition_rows=2000)
    here = sn.fit_gd(train, **kwargs, workers=0)
    there = sn.fit_gd(train, **kwargs, workers=2)  # delayed units, encoded on the workers
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
