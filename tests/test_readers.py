"""Readers on real files written by pyarrow, pandas and h5py."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.stats import Moments, streaming_moments
from streamneuron.stream import Position, iter_blocks
from conftest import make_data, write_hdf5, write_parquet


def rows_of(source, **kw):
    """(X, y) of one epoch, in training order, through the public batches() API."""
    batches = list(source.batches(**kw))
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def sort_rows(X):
    return X[np.lexsort(X.T[::-1])]


@pytest.mark.parametrize("batch_size", [1, 7, 50, 1000])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_row_exactly_once_per_epoch(parquet_file, data, batch_size, shuffle):
    X, y = data
    source = sn.open_source(parquet_file, label="y")
    batches = list(source.batches(batch_size=batch_size, shuffle=shuffle, seed=3))
    assert all(len(b[1]) == batch_size for b in batches[:-1])
    Xs = np.concatenate([b[0] for b in batches])
    assert Xs.shape == X.shape and Xs.dtype == np.float32
    np.testing.assert_array_equal(sort_rows(Xs), sort_rows(X))
    if not shuffle:
        np.testing.assert_array_equal(Xs, X)
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_order_depends_on_seed_and_epoch_only(parquet_file):
    source = sn.open_source(parquet_file, label="y")
    a, _ = rows_of(source, batch_size=32, seed=5, epoch=0)
    b, _ = rows_of(source, batch_size=32, seed=5, epoch=0)
    c, _ = rows_of(source, batch_size=32, seed=5, epoch=1)
    d, _ = rows_of(source, batch_size=32, seed=6, epoch=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_labels_follow_their_rows_when_shuffled(tmp_path):
    X, _ = make_data(n=300, d=3, seed=1)
    y = (np.arange(300) % 2).astype(np.int8)
    X[:, 0] = np.arange(300)  # row id in a feature
    path = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=40)
    Xs, ys = rows_of(sn.open_source(path, label="y"), batch_size=16, shuffle=True, seed=2)
    np.testing.assert_array_equal(ys, Xs[:, 0].astype(int) % 2)


def test_stream_restarts_exactly_from_a_position(parquet_file):
    source = sn.open_source(parquet_file, label="y")
    full = [(b.position, b.X[b.order] if b.order.size else b.X)
            for b in iter_blocks(source, Position(), epochs=2, shuffle=True, seed=9)]
    start = Position(epoch=1, block=3, row=17)
    rest = list(iter_blocks(source, start, epochs=2, shuffle=True, seed=9))
    expected = [x for pos, x in full if (pos.epoch, pos.block) >= (1, 3)]
    assert rest[0].position == start
    assert len(rest) == len(expected)
    for block, x in zip(rest, expected):
        np.testing.assert_array_equal(block.X[block.order] if block.order.size else block.X, x)


def test_hdf5_reader_matches_the_array(hdf5_file, data):
    X, y = data
    source = sn.open_source(hdf5_file)
    assert source.format == "hdf5" and source.n_rows == len(y)
    Xs, ys = rows_of(source, batch_size=64, shuffle=False)
    np.testing.assert_array_equal(Xs, X)
    np.testing.assert_array_equal(ys, y)


def test_format_is_sniffed_from_content_not_name(tmp_path, data):
    X, y = data
    p = write_parquet(tmp_path / "actually_parquet.h5", X, y)
    h = write_hdf5(tmp_path / "actually_hdf5.dat", X, y)
    assert sn.open_source(p, label="y").format == "parquet"
    assert sn.open_source(h).format == "hdf5"


def test_pandas_written_files_folders_and_globs(tmp_path, data):
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    df["name"] = "abc"  # a string column is not a default feature
    df["target"] = y.astype(bool)
    (tmp_path / "ds").mkdir()
    df.iloc[:150].to_parquet(tmp_path / "ds" / "a.parquet", row_group_size=60)
    df.iloc[150:].to_parquet(tmp_path / "ds" / "b.parquet", row_group_size=60)
    (tmp_path / "ds" / "_SUCCESS").write_text("")
    for paths in ([str(tmp_path / "ds")], [str(tmp_path / "ds" / "*.parquet")],
                  [str(tmp_path / "ds" / "a.parquet"), str(tmp_path / "ds" / "b.parquet")]):
        source = sn.open_source(paths, label="target")
        assert source.feature_names == [f"f{j}" for j in range(X.shape[1])]
        Xs, ys = rows_of(source, batch_size=100, shuffle=False)
        np.testing.assert_array_equal(Xs, X)
        np.testing.assert_array_equal(ys, y)


def test_dtypes_float32_kept_integers_and_bools_become_float64(tmp_path):
    n = 100
    t = pa.table({"a": np.arange(n, dtype=np.int32), "b": np.arange(n) % 2 == 0,
                  "c": np.linspace(0, 1, n), "y": (np.arange(n) % 2).astype(np.float32)})
    pq.write_table(t, tmp_path / "m.parquet")
    source = sn.open_source(tmp_path / "m.parquet", label="y")
    assert source.dtype == np.float64 and source.feature_names == ["a", "b", "c"]
    X, y = rows_of(source, batch_size=n, shuffle=False)
    np.testing.assert_array_equal(X[:, 1], (np.arange(n) % 2 == 0).astype(float))
    t32 = pa.table({"a": np.ones(n, np.float32), "y": np.zeros(n, np.int64)})
    pq.write_table(t32, tmp_path / "f.parquet")
    src32 = sn.open_source(tmp_path / "f.parquet", label="y")
    chunk = src32.read(0)
    assert chunk.X.dtype == np.float32  # decoded once, never upcast


def test_feature_selection_in_order(parquet_file, data, hdf5_file):
    X, _ = data
    for path in (parquet_file, hdf5_file):
        source = sn.open_source(path, label="y", features=["x3", "x1"])
        Xs, _ = rows_of(source, batch_size=1000, shuffle=False)
        np.testing.assert_array_equal(Xs, X[:, [3, 1]])


@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
def test_streaming_standardization_equals_numpy(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr("streamneuron.readers.hdf5.TARGET_UNIT_ROWS", 1)
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(1000, 4)) * [1, 1e-3, 1e3, 0] + [1e6, -5, 0, 7]).astype(np.float64)
    y = rng.integers(0, 2, 1000)
    path = (write_parquet(tmp_path / "d.parquet", X, y, row_group_size=77) if fmt == "parquet"
            else write_hdf5(tmp_path / "d.h5", X, y, chunk_rows=77))
    m = streaming_moments(sn.open_source(path, label="y"))
    np.testing.assert_allclose(m.mean, X.mean(axis=0), rtol=1e-10)
    std = X.std(axis=0)
    np.testing.assert_allclose(m.scale(), np.where(std > 0, std, 1.0), rtol=1e-10)
    # merging in any split equals the whole
    halves = Moments.of(X[:333]).merge(Moments.of(X[333:]))
    np.testing.assert_allclose(halves.mean, X.mean(axis=0), rtol=1e-12)
