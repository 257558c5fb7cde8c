"""`summary` of a model with categorical columns (issues 20 and 23) against statsmodels'
Logit on the same one-hot design: the numbers on their original scale, one dummy per
level weight (``column=level``; the most frequent level of each column, the model's
reference with ``l2 = 0``, left out), a null its own level. Coefficients, standard
errors (model-based and HC0) and the log-likelihood to 1e-6."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn

from cli_helpers import run
from test_summary import RTOL, assert_matches

sm = pytest.importorskip("statsmodels.api")


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    carrier = rng.choice(["AA", "UA", "DL", "WN", None], n, p=[.4, .25, .2, .1, .05])
    origin = rng.choice([f"o{k}" for k in range(6)], n, p=np.arange(6, 0, -1) / 21)
    x1 = rng.normal(size=n)
    x2 = rng.normal(3.0, 2.0, size=n)
    effect = {"AA": 0.0, "UA": 0.8, "DL": -0.6, "WN": 1.2, None: -1.0}
    z = (0.7 * x1 - 0.25 * x2 + np.array([effect[c] for c in carrier])
         + 0.2 * np.array([int(o[1]) for o in origin]) - 0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame({"x1": x1, "carrier": carrier, "x2": x2,
                         "origin": pd.Categorical(origin), "y": y})


def design(frame: pd.DataFrame, model) -> pd.DataFrame:
    """The one-hot design of the model's weights, in their order, with a constant first."""
    columns = {name: frame[name].to_numpy(np.float64) for name in model.feature_names}
    for column in model.levels.columns:
        raw = frame[column.name].astype(object)
        for value in column.values:
            hit = raw.isna() if value is None else (raw == value)
            columns[f"{column.name}={'null' if value is None else value}"] = \
                hit.to_numpy(np.float64)
    return sm.add_constant(pd.DataFrame(columns), has_constant="add")


def reference(exog: pd.DataFrame, y, robust: bool = False):
    fit = sm.Logit(np.asarray(y, np.float64), exog).fit(
        disp=0, method="newton", tol=1e-14, maxiter=100, **({"cov_type": "HC0"} if robust else {}))
    ci = np.asarray(fit.conf_int())
    return (np.asarray(fit.params), np.asarray(fit.bse), ci[:, 0], ci[:, 1],
            np.asarray(fit.pvalues), float(fit.llf))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    frame = make_frame(4000, 3)
    path = tmp_path_factory.mktemp("summary_categorical") / "train.parquet"
    frame.to_parquet(path, row_group_size=900)  # object and category columns, 5 row groups
    model = sn.fit_gd(str(path), solver="newton", l2=0.0, tol=1e-12, label="y", workers=0)
    return frame, str(path), model


def test_the_model_has_a_reference_level_per_column(fitted):
    frame, _, model = fitted
    assert model.levels.names == ["carrier", "origin"]
    for column in model.levels.columns:
        assert column.has_reference
        assert column.reference == frame[column.name].astype(object).value_counts().index[0]


@pytest.mark.parametrize("robust", [False, True])
def test_levels_equal_statsmodels_on_the_one_hot_design(fitted, robust):
    frame, path, model = fitted
    table = sn.summary(model, path, robust=robust, workers=0)
    exog = design(frame, model)
    assert table.names == ["(intercept)", *exog.columns[1:]]
    assert "carrier=null" in table.names and "carrier=AA" not in table.names
    assert_matches(table, reference(exog, frame["y"], robust=robust))
    assert table.rows == len(frame)


def test_cli_json_names_each_level(fitted, tmp_path, capsys):
    frame, path, model = fitted
    model_path = tmp_path / "model.json"
    model.save(str(model_path))
    code, out, err = run(capsys, "summary", model_path, path, "--robust", "--json")
    assert code == 0, err
    rows = json.loads(out)["coefficients"]
    exog = design(frame, model)
    coef, bse = reference(exog, frame["y"], robust=True)[:2]
    assert [r["name"] for r in rows] == ["(intercept)", *exog.columns[1:]]
    np.testing.assert_allclose([r["coef"] for r in rows], coef, rtol=RTOL)
    np.testing.assert_allclose([r["std_err"] for r in rows], bse, rtol=RTOL)
    code, out, err = run(capsys, "summary", model_path, path)
    assert code == 0, err
    assert "origin=o1" in out and "carrier=null" in out


def test_a_penalized_model_has_every_level(tmp_path):
    frame = make_frame(1500, 4)
    path = tmp_path / "train.parquet"
    frame.to_parquet(path)
    model = sn.fit_gd(str(path), solver="newton", l2=1e-3, label="y", workers=0)
    table = sn.summary(model, str(path), robust=True, workers=0)
    assert "carrier=AA" in table.names and "carrier=null" in table.names
    assert np.all(np.isfinite(table.std_err)) and np.all(table.std_err > 0)


def test_a_local_dask_cluster_gives_the_same_bits(fitted, dask_client):
    """The workers reopen the file with the model's levels (``Encoded.reopen_args``);
    the reduction's fixed order gives the same table bit for bit. (The session's local
    cluster of two worker processes: conftest.dask_client.)"""
    _, path, model = fitted
    here = sn.summary(model, path, robust=True, workers=0)
    cluster = sn.summary(model, path, robust=True, client=dask_client)
    assert cluster.names == here.names
    np.testing.assert_array_equal(cluster.coef, here.coef)
    np.testing.assert_array_equal(cluster.std_err, here.std_err)
