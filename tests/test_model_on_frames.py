"""A model applied to a pandas DataFrame from the library (``Neuron.predict_proba``) as
``predict`` applies it to a file: its categorical columns encoded by the model's levels,
its gaps imputed by the model's fills, or (``--missing drop``) a NaN probability where
``predict`` writes a null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from test_categorical import make_frame


@pytest.fixture(scope="module")
def frames():
    train, test = make_frame(2000, 11), make_frame(600, 12)
    rng = np.random.default_rng(11)
    for frame in (train, test):
        frame.loc[rng.random(len(frame)) < 0.1, "x2"] = np.nan
    test.loc[test.index[:5], "carrier"] = "ZZ"  # unseen in training
    return train, test


@pytest.mark.parametrize("missing", ["impute", "drop"])
def test_predict_proba_of_a_frame_is_the_clis_predict(frames, missing, tmp_path):
    train, test = frames
    model = sn.fit_gd(train, label="y", categorical=["hour"], missing=missing,
                      solver="newton", workers=0)
    path, data, out = tmp_path / "m.json", tmp_path / "t.parquet", tmp_path / "p.parquet"
    model.save(path)
    test.to_parquet(data)
    assert sn.cli.main(["predict", str(path), str(data), "-o", str(out), "--quiet"]) == 0
    cli = pq.read_table(out).column("probability").to_numpy(zero_copy_only=False)
    cli = np.array([np.nan if v is None else v for v in cli], dtype=float)
    library = sn.load_model(path).predict_proba(test)
    np.testing.assert_allclose(library, cli, rtol=1e-12, equal_nan=True)
    assert np.isnan(library).sum() == (int(test["x2"].isna().sum()) if missing == "drop" else 0)
    # the frame's other columns (the label, a column in another order) make no difference
    np.testing.assert_array_equal(model.predict_proba(test[test.columns[::-1]]), library)


def test_a_frame_without_a_models_column_is_refused(frames):
    train, test = frames
    model = sn.fit_gd(train, label="y", missing="impute", solver="newton", workers=0)
    with pytest.raises(sn.DataError, match="carrier"):
        model.predict_proba(test.drop(columns=["carrier"]))
