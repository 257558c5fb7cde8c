"""Numpy arrays, Dask arrays and pandas / Dask DataFrames as training input.

The reference is always a Parquet file whose row groups have the sizes of the
array's blocks: the weights must be equal (``==``), shuffled or not.
"""

from __future__ import annotations

import threading

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.apply import evaluate, predict_to_parquet
from streamneuron.readers import ArraySource, from_dask_dataframe, from_dataframe
from conftest import make_data, write_parquet

N, D, ROWS = 430, 4, 50  # the last unit is short (30 rows)
FIT = dict(batch_size=16, epochs=2, lr=0.1, seed=7)


@pytest.fixture(scope="module")
def data():
    X, y = make_data(n=N, d=D, seed=11)
    return X, y


@pytest.fixture(scope="module")
def parquet(data, tmp_path_factory):
    X, y = data
    path = tmp_path_factory.mktemp("arrays") / "d.parquet"
    return write_parquet(path, X, y, row_group_size=ROWS, extra={"id": np.arange(N)})


def frame(X, y, **extra):
    return pd.DataFrame({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y, **extra})


def make_source(kind: str, X, y):
    if kind == "numpy":
        return ArraySource(X, y, chunk_rows=ROWS)
    if kind == "dask array":  # column blocks and label blocks of other sizes are realigned
        return ArraySource(da.from_array(X, chunks=(ROWS, 3)), da.from_array(y, chunks=120))
    if kind == "dask array + numpy labels":
        return ArraySource(da.from_array(X, chunks=(ROWS, D)), y)
    if kind == "dask dataframe":
        return sn.open_source(dd.from_pandas(frame(X, y), chunksize=ROWS), label="y")
    if kind == "pandas dataframe":
        return from_dataframe(frame(X, y), label="y", chunk_rows=ROWS)
    if kind == "open_source pair":
        return sn.open_source((X, y))  # default unit size covers every row: one unit
    raise AssertionError(kind)


KINDS = ["numpy", "dask array", "dask array + numpy labels", "dask dataframe",
         "pandas dataframe"]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_fit_sgd_equals_parquet_with_matching_row_groups(kind, shuffle, data, parquet):
    X, y = data
    reference = sn.fit_sgd(parquet, label="y", features=[f"x{j}" for j in range(D)],
                           shuffle=shuffle, **FIT)
    source = make_source(kind, X, y)
    assert source.unit_sizes == [ROWS] * (N // ROWS) + [N % ROWS]
    assert source.feature_names == reference.feature_names and source.label == "y"
    model = sn.fit_sgd(source, shuffle=shuffle, **FIT)
    assert np.array_equal(model.weights, reference.weights)
    assert model.bias == reference.bias
    assert model.info["history"] == [
        dict(row, seconds=model.info["history"][k]["seconds"])
        for k, row in enumerate(reference.info["history"])]


def test_fit_sgd_takes_dataframes_and_pairs_directly(data, tmp_path):
    """fit_sgd(paths-or-data, label=..., features=...) goes through open_source."""
    X, y = data
    path = write_parquet(tmp_path / "one.parquet", X, y, row_group_size=N)
    reference = sn.fit_sgd(path, label="y", **FIT)
    assert np.array_equal(sn.fit_sgd((X, y), **FIT).weights, reference.weights)
    assert np.array_equal(sn.fit_sgd(frame(X, y), label="y", **FIT).weights, reference.weights)
    ddf = dd.from_pandas(frame(X, y), npartitions=1)
    assert np.array_equal(sn.fit_sgd(ddf, label="y", **FIT).weights, reference.weights)


def test_features_and_label_chosen_like_parquet(data, parquet):
    X, y = data
    df = frame(X, y, id=np.arange(N), name=["a"] * N)
    source = from_dataframe(df, label="y")  # numeric columns but the label; strings categorical
    assert source.feature_names == ["x0", "x1", "x2", "x3", "id"]
    assert source.feature_names == sn.open_source(parquet, label="y").feature_names
    assert source.dtype == np.float64  # an int64 feature: float64, as for Parquet
    picked = from_dask_dataframe(dd.from_pandas(df, npartitions=3), label="y",
                                 features=["x2", "x0"])
    assert picked.feature_names == ["x2", "x0"] and picked.dtype == np.float32
    chunk = picked.read(0)
    assert np.array_equal(chunk.X, X[:len(chunk.y), [2, 0]])
    with pytest.raises(sn.DataError, match="no label column 'label'"):
        from_dataframe(df, label="label")
    # a string column is categorical (issue 20), as in Parquet; a date is no feature
    assert source.categorical == ["name"]
    assert from_dataframe(df, label="y", features=["x0", "name"]).categorical == ["name"]
    dated = df.assign(when=pd.Timestamp("2024-01-01"))
    with pytest.raises(sn.DataError, match="feature column 'when' has type"):
        from_dataframe(dated, label="y", features=["x0", "when"])
    with pytest.raises(sn.DataError, match="no feature column 'nope'"):
        sn.open_source(df, label="y", features=["nope"])
    # (issue 21: a string label is read as it is, --positive naming its 1)
    with pytest.raises(sn.DataError, match="label column 'name' has"):
        from_dataframe(df, label="name").read(0)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_is_kept_and_other_types_become_float64(kind, data):
    X, y = data
    source = make_source(kind, X, y)
    chunk = source.read(1)
    assert source.dtype == np.float32 and chunk.X.dtype == np.float32
    assert np.array_equal(chunk.X, X[ROWS:2 * ROWS])
    assert chunk.y.dtype == np.float64 and np.array_equal(chunk.y, y[ROWS:2 * ROWS])
    for other in (X.astype(np.float64), (X * 10).astype(np.int32), X > 0):
        converted = make_source(kind, other, y)
        assert converted.dtype == np.float64
        assert np.array_equal(converted.read(1).X, other[ROWS:2 * ROWS].astype(np.float64))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("labels,message", [
    (lambda y: np.where(np.arange(N) == 123, 2, y), "has value 2"),
    (lambda y: np.where(np.arange(N) == 123, np.nan, y.astype(float)),
     r"has 1 null value\(s\) \(NaN\); drop those rows first"),
    (lambda y: np.where(y == 1, "yes", "no"), "not 0/1; name the value that counts as 1 with --positive"),
])
def test_labels_are_checked_where_they_are_read(kind, labels, message, data):
    X, y = data
    bad = labels(y)
    with pytest.raises(sn.DataError, match=message) as info:  # DataFrames: at once, by type
        source = make_source(kind, X, bad)
        sn.fit_sgd(source, shuffle=False, standardize=False, batch_size=16, epochs=1)
    if message != "not 0/1; name the value that counts as 1 with --positive":
        assert "partition 2 (rows 100-149), row 23" in str(info.value)


def test_boolean_and_float_labels_are_fine(data):
    X, y = data
    a = sn.fit_sgd(ArraySource(X, y.astype(bool), chunk_rows=ROWS), **FIT)
    b = sn.fit_sgd(ArraySource(X, y.astype(np.float32), chunk_rows=ROWS), **FIT)
    c = sn.fit_sgd(ArraySource(X, pd.Series(y), chunk_rows=ROWS), **FIT)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.weights, c.weights)


def test_nan_feature_is_named_with_its_partition(data):
    X, y = data
    X = X.copy()
    X[260, 1] = np.nan
    with pytest.raises(sn.DataError, match=r"partition 5 \(rows 250-299\), row 10: feature column 'x1'"):
        sn.fit_sgd(ArraySource(da.from_array(X, chunks=(ROWS, D)), y), **FIT)


def test_shapes_and_names_are_checked(data):
    X, y = data
    with pytest.raises(sn.DataError, match="430 rows but y has 429"):
        ArraySource(X, y[:-1])
    with pytest.raises(sn.DataError, match="430 rows but y has 429"):
        ArraySource(da.from_array(X, chunks=100), da.from_array(y[:-1], chunks=100))
    with pytest.raises(sn.DataError, match="2-D"):
        ArraySource(X[:, 0], y)
    with pytest.raises(sn.DataError, match="3 feature names for 4 columns"):
        ArraySource(X, y, feature_names=["a", "b", "c"])
    with pytest.raises(sn.DataError, match="not numbers"):
        ArraySource(X.astype(str), y)
    with pytest.raises(sn.DataError, match="chunk_rows"):
        ArraySource(X, y, chunk_rows=0)
    with pytest.raises(sn.DataError, match="give \\(X, y\\)"):
        sn.open_source(X, label="y")
    assert sn.open_source(X, label=None).label is None


def test_read_computes_only_its_block(data):
    X, y = data
    computed = []
    lock = threading.Lock()

    def record(block, block_info=None):
        with lock:
            computed.append(block_info[0]["chunk-location"][0])
        return block

    lazy = da.from_array(X, chunks=(ROWS, D)).map_blocks(record, dtype=X.dtype)
    source = ArraySource(lazy, da.from_array(y, chunks=ROWS))
    assert computed == [] and source.n_rows == N
    chunk = source.read(3)
    assert computed == [3] and np.array_equal(chunk.X, X[150:200])
    assert source.describe(3) == "dask array, partition 3 (rows 150-199)"


def test_unknown_chunk_sizes_are_computed_once(data):
    X, y = data
    ddf = dd.from_pandas(frame(X, y), chunksize=ROWS)
    Xd = ddf[[f"x{j}" for j in range(D)]].to_dask_array()  # chunk sizes unknown (nan)
    yd = ddf["y"].to_dask_array()
    assert np.isnan(Xd.chunks[0][0])
    source = ArraySource(Xd, yd)
    assert source.unit_sizes == [ROWS] * (N // ROWS) + [N % ROWS]
    np.testing.assert_array_equal(np.concatenate([source.read(i).X for i in range(len(source.units))]), X)


def test_empty_partitions_are_skipped(data):
    X, y = data
    ddf = dd.from_pandas(frame(X, y), npartitions=4)
    ddf = ddf[ddf.x0 < np.inf]  # same rows; now drop every row of partition 1
    ddf = ddf.map_partitions(lambda df: df.iloc[:0] if df.index[0] > 0 and df.index[0] < 200 else df,
                             meta=ddf._meta)
    source = from_dataframe(ddf, label="y")
    assert 0 not in source.unit_sizes and source.n_rows < N
    assert [u.index for u in source.units] == [0, 2, 3]


def test_fingerprint_is_deterministic_and_tracks_the_data(data):
    X, y = data
    fp = ArraySource(X, y).fingerprint()
    assert fp == ArraySource(X.copy(), y.copy()).fingerprint()
    assert fp["files"] == [] and fp["format"] == "array"
    changed = X.copy()
    changed[5, 2] += 1
    assert ArraySource(changed, y).fingerprint()["token"] != fp["token"]
    assert ArraySource(X, y, chunk_rows=ROWS).fingerprint() != fp  # the layout is part of it
    dx = ArraySource(da.from_array(X, chunks=(ROWS, D)), da.from_array(y, chunks=ROWS))
    assert dx.fingerprint() == ArraySource(da.from_array(X.copy(), chunks=(ROWS, D)),
                                           da.from_array(y.copy(), chunks=ROWS)).fingerprint()
    df = frame(X, y)
    assert from_dataframe(df).fingerprint() == from_dataframe(df.copy()).fingerprint()
    ddf = dd.from_pandas(df, chunksize=ROWS)
    assert from_dataframe(ddf).fingerprint() == from_dataframe(
        dd.from_pandas(df.copy(), chunksize=ROWS)).fingerprint()


@pytest.mark.parametrize("kind", KINDS)
def test_delayed_units_match_read(kind, data):
    X, y = data
    source = make_source(kind, X, y)
    parts = dask.compute(*source.delayed_units(), scheduler="sync")
    assert len(parts) == len(source.units)
    for i, [unit] in enumerate(parts):
        chunk = source.read(i)
        assert unit.w is None and chunk.w is None
        assert unit.where == chunk.where
        assert unit.X.dtype == chunk.X.dtype and np.array_equal(unit.X, chunk.X)
        assert np.array_equal(unit.y, chunk.y)


def test_predict_and_evaluate_on_dataframes_match_parquet(data, parquet, tmp_path):
    X, y = data
    model = sn.fit_sgd(parquet, label="y", features=[f"x{j}" for j in range(D)], **FIT)
    with sn.open_source(parquet, label=None, features=model.feature_names) as src:
        predict_to_parquet(model, src, tmp_path / "ref.parquet", keep=["id"])
    ddf = dd.from_pandas(frame(X, y, id=np.arange(N)), chunksize=ROWS)
    source = from_dataframe(ddf, label=None, features=model.feature_names)
    predict_to_parquet(model, source, tmp_path / "out.parquet", keep=["id"])
    assert pq.read_table(tmp_path / "out.parquet").equals(pq.read_table(tmp_path / "ref.parquet"))
    with pytest.raises(sn.DataError, match="no column 'nope'"):
        predict_to_parquet(model, source, tmp_path / "x.parquet", keep=["nope"])
    with sn.open_source(parquet, label="y", features=model.feature_names) as src:
        expected = evaluate(model, src).result()
    assert evaluate(model, ArraySource(X, y, chunk_rows=ROWS)).result() == expected


def test_checkpoint_and_resume_with_an_array_source(data, tmp_path):
    X, y = data
    folder = tmp_path / "ckpt"
    first = sn.fit_sgd(ArraySource(X, y, chunk_rows=ROWS), checkpoint=folder, **FIT)
    again = sn.fit_sgd(ArraySource(X.copy(), y.copy(), chunk_rows=ROWS), checkpoint=folder,
                       resume=True, **FIT)
    assert np.array_equal(first.weights, again.weights)
    changed = X.copy()
    changed[0, 0] += 1
    with pytest.raises(sn.CheckpointError):
        sn.fit_sgd(ArraySource(changed, y, chunk_rows=ROWS), checkpoint=folder, resume=True, **FIT)


@pytest.mark.parametrize("kind", KINDS)
def test_read_into_a_given_buffer(kind, data):
    """``read(i, out=...)``, as the stream asks of the file readers."""
    X, y = data
    source = make_source(kind, X, y)
    for out in (np.empty((ROWS, D), np.float32), np.empty((D, ROWS), np.float32).T):
        chunk = source.read(2, out=out)
        assert chunk.X is out and np.array_equal(out, X[100:150])
        assert np.array_equal(chunk.y, y[100:150])
    with pytest.raises(ValueError, match="out must be"):
        source.read(2, out=np.empty((ROWS, D), np.float64))
