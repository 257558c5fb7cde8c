"""The weight column, as every reader gives it (``DecodedUnit.w``), and the class weights
(:mod:`streamneuron.weighting`): checked against the values written by pyarrow,
pandas and h5py, with several row groups / chunks."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.errors import ConfigError, DataError
from streamneuron.weighting import (balanced, label_counts, resolve_class_weight, row_weights,
                                    check_total)


def _data(n=1000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.3).astype(np.int64)
    w = rng.integers(0, 4, size=n).astype(np.float64)
    return X, y, w


def _all_w(src):
    return np.concatenate([src.read(i).w for i in range(len(src.units))])


@pytest.fixture
def parquet_file(tmp_path):
    X, y, w = _data()
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "wt": w})
    path = tmp_path / "w.parquet"
    pq.write_table(table, path, row_group_size=300)
    return path, X, y, w


def test_parquet_weight_column(parquet_file):
    path, X, y, w = parquet_file
    src = sn.open_source(path, label="y", weight="wt")
    assert src.feature_names == ["a", "b", "c"]
    assert ("wt", "--weight") in src.left_out
    assert len(src.units) == 4
    np.testing.assert_array_equal(_all_w(src), w)
    assert src.reopen_args()["weight"] == "wt"
    assert src.fingerprint()["weight"] == "wt"
    # read with kept columns (predict --keep) gives the weights too
    np.testing.assert_array_equal(src.read(1, keep=["a"]).w, w[300:600])
    # unweighted: no weights, and the fingerprint is the one it always was
    plain = sn.open_source(path, label="y", exclude=["wt"])
    assert plain.read(0).w is None and "weight" not in plain.fingerprint()


def test_parquet_bad_weights_name_column_and_row_group(tmp_path):
    X, y, w = _data()
    w[750] = -1.0
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "y": y, "wt": w}), path, row_group_size=300)
    src = sn.open_source(path, label="y", weight="wt")
    src.read(0)
    with pytest.raises(DataError, match=r"row group 2, row 150: weight column 'wt' has value -1\.0"):
        src.read(2)
    w[750] = np.nan
    pq.write_table(pa.table({"a": X[:, 0], "y": y, "wt": w}), path, row_group_size=300)
    with pytest.raises(DataError, match="row group 2.*'wt' has value nan"):
        sn.open_source(path, label="y", weight="wt").read(2)
    w[750] = np.inf
    pq.write_table(pa.table({"a": X[:, 0], "y": y, "wt": w}), path, row_group_size=300)
    with pytest.raises(DataError, match="finite"):
        sn.open_source(path, label="y", weight="wt").read(2)


def test_weight_column_problems(parquet_file, tmp_path):
    path, *_ = parquet_file
    with pytest.raises(DataError, match="no weight column 'nope'"):
        sn.open_source(path, label="y", weight="nope")
    with pytest.raises(DataError, match="is the label"):
        sn.open_source(path, label="y", weight="y")
    with pytest.raises(DataError, match="cannot also be a feature"):
        sn.open_source(path, label="y", weight="wt", features=["a", "wt"])
    text = tmp_path / "s.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [0, 1], "wt": ["x", "y"]}), text)
    with pytest.raises(DataError, match="weight column 'wt' has type string"):
        sn.open_source(text, label="y", weight="wt")
    nulls = tmp_path / "n.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0], "y": [0, 1], "wt": pa.array([1.0, None])}), nulls)
    with pytest.raises(DataError, match="row group 0: weight column 'wt' has 1 null"):
        sn.open_source(nulls, label="y", weight="wt").read(0)


def test_hdf5_weight_dataset(tmp_path):
    X, y, w = _data()
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(256, 3))
        f.create_dataset("y", data=y)
        f.create_dataset("wt", data=w)
    src = sn.open_source(path, label="y", weight="wt")
    np.testing.assert_array_equal(_all_w(src), w)
    assert src.reopen_args()["weight"] == "wt"
    src.close()
    with pytest.raises(DataError, match="no weight dataset 'other'"):
        sn.open_source(path, label="y", weight="other")
    with h5py.File(path, "a") as f:
        f.create_dataset("short", data=w[:10])
    with pytest.raises(DataError, match="they must have the same length"):
        sn.open_source(path, label="y", weight="short")


def test_pandas_hdf5_and_dataframe_weight_column(tmp_path):
    X, y, w = _data()
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y, "wt": w})
    path = tmp_path / "frame.h5"
    df.to_hdf(path, key="df", format="table")
    src = sn.open_source(path, label="y", weight="wt")
    assert src.feature_names == ["a", "b"]
    np.testing.assert_array_equal(_all_w(src), w)
    frame = sn.open_source(df, label="y", weight="wt")
    assert frame.feature_names == ["a", "b"]
    np.testing.assert_array_equal(_all_w(frame), w)
    bad = df.copy()
    bad.loc[5, "wt"] = -2.0
    with pytest.raises(DataError, match="row 5: weight column 'wt' has value -2.0"):
        _all_w(sn.open_source(bad, label="y", weight="wt"))


def test_array_sample_weight_and_dask(tmp_path):
    import dask
    import dask.array as da

    X, y, w = _data()
    src = sn.open_source((X, y), weight=w)
    np.testing.assert_array_equal(_all_w(src), w)
    parts = dask.compute(*src.delayed_units(), scheduler="sync")
    np.testing.assert_array_equal(np.concatenate([p[0].w for p in parts]), w)
    dsrc = sn.open_source((da.from_array(X, chunks=(300, 3)), da.from_array(y, chunks=300)),
                          weight=da.from_array(w, chunks=250))
    np.testing.assert_array_equal(_all_w(dsrc), w)
    with pytest.raises(DataError, match="sample_weight has 5 weights"):
        sn.open_source((X, y), weight=w[:5])
    with pytest.raises(ConfigError, match="pass the weights themselves"):
        sn.open_source((X, y), weight="wt")
    unweighted = sn.open_source((X, y))
    parts = dask.compute(*unweighted.delayed_units(), scheduler="sync")
    assert all(p[0].w is None for p in parts)


def test_class_weights_match_scikit_learn(parquet_file):
    from sklearn.utils.class_weight import compute_class_weight

    path, X, y, w = parquet_file
    src = sn.open_source(path, label="y", weight="wt")
    assert label_counts(src) == (int((y == 0).sum()), int((y == 1).sum()))
    np.testing.assert_allclose(resolve_class_weight("balanced", src),
                               compute_class_weight("balanced", classes=np.array([0, 1]), y=y),
                               rtol=1e-15)
    assert resolve_class_weight({0: 2.0}, src) == (2.0, 1.0)
    assert resolve_class_weight(None, src) is None
    for bad in ("balance", {2: 1.0}, {0: -1.0}, {0: float("nan")}, [1, 2], {0: 0, 1: 0}):
        with pytest.raises(ConfigError):
            resolve_class_weight(bad, src)
    with pytest.raises(DataError, match="no row has label 1"):
        balanced((10, 0))
    yf = y.astype(np.float64)
    np.testing.assert_array_equal(row_weights(w, yf, (2.0, 5.0)), w * np.where(y == 1, 5.0, 2.0))
    assert row_weights(None, yf, None) is None
    assert row_weights(w, yf, None) is w
    with pytest.raises(DataError, match="every row are 0"):
        check_total(0.0, "data.parquet")
