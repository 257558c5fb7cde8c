"""Shared fixtures: small real files written by pyarrow, pandas and h5py."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def make_data(n=400, d=5, seed=0, dtype=np.float32):
    """A learnable problem: X ~ N(mu, sigma), y ~ Bernoulli(sigmoid(teacher))."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * rng.uniform(0.5, 2, d) + rng.uniform(-1, 1, d)).astype(dtype)
    w = rng.normal(size=d)
    p = 1 / (1 + np.exp(-(X.astype(np.float64) @ w * 0.7 + 0.2)))
    y = (rng.uniform(size=n) < p).astype(np.int8)
    return X, y


def write_parquet(path, X, y, row_group_size=50, label="y", extra=None):
    cols = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    cols[label] = y
    if extra:
        cols.update(extra)
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return str(path)


def write_hdf5(path, X, y, chunk_rows=64):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(chunk_rows, X.shape[1]))
        f.create_dataset("y", data=y, chunks=(chunk_rows,))
    return str(path)


@pytest.fixture
def data():
    return make_data()


@pytest.fixture
def parquet_file(tmp_path, data):
    X, y = data
    return write_parquet(tmp_path / "data.parquet", X, y)


@pytest.fixture
def hdf5_file(tmp_path, data):
    X, y = data
    return write_hdf5(tmp_path / "data.h5", X, y)


@pytest.fixture(scope="session")
def dask_client():
    """A client of one local cluster of two one-thread worker processes, shared by the
    session's tests that compute on a Dask cluster they are given (closed at the end).

    One cluster instead of one per module: each worker process imports the package and
    sets up numba (and, on a cold cache, compiles the kernels its tasks need) once per
    session. Tests that kill workers, measure a worker's memory or test how a cluster is
    started start their own."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
