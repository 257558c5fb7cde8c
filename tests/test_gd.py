"""Full-pass gradient descent on Dask (streamneuron.fullpass.engine).

A local cluster of one single-threaded worker process is shared by the module, one of
two by the session (conftest.dask_client); the real-process test starts its own ``dask scheduler`` and two
``dask worker`` processes on 127.0.0.1 and always kills them.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

distributed = pytest.importorskip("distributed")

from streamneuron.fullpass import engine as gd  # noqa: E402
from streamneuron.errors import ConfigError, DataError, DivergenceError  # noqa: E402
from streamneuron.losses import get_loss  # noqa: E402
from streamneuron.readers import open_source  # noqa: E402


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def make_rows(n: int, d: int, seed: int, dtype=np.float32):
    """Features with varied means and scales, labels from a logistic teacher."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-2, 2, d)
    scales = rng.uniform(0.5, 3, d)
    Z = rng.standard_normal((n, d))
    X = (means + scales * Z).astype(dtype)
    logit = Z @ rng.standard_normal(d) + 0.3
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
    return X, y


def write_parquet(path, X, y, row_group_size):
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    columns["y"] = y
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


@pytest.fixture(scope="module")
def parquet_data(tmp_path_factory):
    """Three Parquet files, several row groups of uneven sizes, float32 features."""
    folder = tmp_path_factory.mktemp("parquet")
    X, y = make_rows(720, 5, seed=1)
    paths = []
    for k, (lo, hi, rg) in enumerate([(0, 300, 100), (300, 550, 64), (550, 720, 170)]):
        path = str(folder / f"part{k}.parquet")
        write_parquet(path, X[lo:hi], y[lo:hi], rg)
        paths.append(path)
    return paths, X.astype(np.float64), y.astype(np.float64)


@pytest.fixture(scope="module")
def hdf5_data(tmp_path_factory):
    """One HDF5 file of 90,000 rows in chunks of 35,000: three chunk ranges, float64."""
    path = str(tmp_path_factory.mktemp("hdf5") / "data.h5")
    X, y = make_rows(90_000, 3, seed=2, dtype=np.float64)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(35_000, 3))
        f.create_dataset("y", data=y, chunks=(35_000,))
    assert len(open_source(path).units) == 3
    return path, X, y.astype(np.float64)


def _cluster(n):
    """A client of a local cluster of ``n`` one-thread worker processes, closed after."""
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def cluster1():
    yield from _cluster(1)


@pytest.fixture(scope="module")
def cluster2(dask_client):
    """Two one-thread worker processes: the session's cluster (conftest.dask_client)."""
    return dask_client


# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------


def article_gd(X_train, y_train, iterations, lr):
    """The article's gradient descent loop, transcribed (inner j loop vectorised)."""
    W = np.zeros(X_train.shape[1])
    bias = 0.0
    for _ in range(iterations):
        YP = 1.0 / (1.0 + np.exp(-(X_train @ W + bias)))
        # Accumulate gradient with respect to bias and weights
        grad_bias = 0
        grad_w = np.zeros(len(W))
        for i in range(X_train.shape[0]):
            grad_bias += (YP[i] - y_train[i]) * (YP[i]) * (1 - YP[i])  # dJ/db
            grad_w += (YP[i] - y_train[i]) * (YP[i]) * (1 - YP[i]) * (X_train[i])  # dJ/dW_j
        # Update bias and weights
        bias = bias - grad_bias * lr / X_train.shape[0]
        W = W - grad_w * lr / X_train.shape[0]
    return W, bias


def numpy_gd(X, y, iterations, lr, loss, l2, standardize):
    """The same iterations, in memory, single process, with numpy."""
    X = X.astype(np.float64)
    if standardize:
        std = X.std(axis=0)
        X = (X - X.mean(axis=0)) * (1.0 / np.where(std > 0, std, 1.0))
    fn = get_loss(loss)
    w, b = np.zeros(X.shape[1]), 0.0
    objectives = []
    for _ in range(iterations):
        z = X @ w + b
        dz = fn.dloss_dz(z, y)
        objectives.append(fn.loss(z, y).mean() + 0.5 * l2 * w @ w)
        w, b = w - lr * (X.T @ dz / len(y) + l2 * w), b - lr * dz.mean()
    return w, b, np.array(objectives)


def assert_rel(actual, expected, rel):
    actual, expected = np.atleast_1d(actual), np.atleast_1d(expected)
    err = np.max(np.abs(actual - expected))
    assert err <= rel * np.max(np.abs(expected)), (err, actual, expected)


# --------------------------------------------------------------------------
# Exactness
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def article_refs(parquet_data, hdf5_data):
    k, lr = 3, 0.5
    return {
        "parquet": (parquet_data[0], article_gd(parquet_data[1], parquet_data[2], k, lr)),
        "hdf5": (hdf5_data[0], article_gd(hdf5_data[1], hdf5_data[2], k, lr)),
    }, k, lr


@pytest.mark.parametrize("n_workers", [1, 2])
@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
def test_matches_the_articles_loop(fmt, n_workers, article_refs, request):
    refs, k, lr = article_refs
    paths, (W, bias) = refs[fmt]
    client = request.getfixturevalue(f"cluster{n_workers}")
    model = gd.fit_gd(paths, max_iter=k, lr=lr, loss="mse", l2=0.0, tol=0,
                      standardize=False, client=client)
    assert model.info["iterations"] == k and model.mean is None
    assert_rel(model.weights, W, 1e-9)
    assert_rel(model.bias, bias, 1e-9)


@pytest.mark.parametrize("loss", ["log", "mse"])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_matches_numpy(loss, standardize, l2, parquet_data, cluster2):
    paths, X, y = parquet_data
    k, lr = 4, 0.8
    model = gd.fit_gd(paths, max_iter=k, lr=lr, loss=loss, l2=l2, tol=0,
                      standardize=standardize, client=cluster2)
    w, b, objectives = numpy_gd(X, y, k, lr, loss, l2, standardize)
    assert_rel(model.weights, w, 1e-12)
    assert_rel(model.bias, b, 1e-12)
    assert_rel([row["objective"] for row in model.info["history"]], objectives, 1e-12)
    if standardize:
        assert_rel(model.mean, X.mean(axis=0), 1e-12)
        assert_rel(model.scale, X.std(axis=0), 1e-12)


def test_hdf5_matches_numpy_with_standardization(hdf5_data, cluster2):
    path, X, y = hdf5_data
    model = gd.fit_gd(path, max_iter=3, lr=1.0, l2=0.01, tol=0, client=cluster2)
    w, b, _ = numpy_gd(X, y, 3, 1.0, "log", 0.01, True)
    assert_rel(model.weights, w, 1e-12)
    assert_rel(model.bias, b, 1e-12)


def test_breast_cancer_reaches_sklearn_optimum(tmp_path, cluster1):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True)
    path = str(tmp_path / "cancer.parquet")
    write_parquet(path, X, y.astype(np.int8), 1000)
    n, l2 = len(y), 0.01
    model = gd.fit_gd(path, max_iter=50, lr=4.0, loss="log", l2=l2, tol=0, client=cluster1)
    # sklearn minimises C * sum(loss) + ||w||^2 / 2 = C n * (mean loss + ||w||^2 / (2 C n)).
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = LogisticRegression(C=1.0 / (l2 * n), tol=1e-12, max_iter=10_000).fit(Xs, y)
    z = Xs @ clf.coef_[0] + clf.intercept_[0]
    optimum = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * clf.coef_[0] @ clf.coef_[0]
    reached = model.objective(X, y, l2=l2)
    assert optimum * (1 - 1e-9) <= reached <= optimum * 1.001, (reached, optimum)


def test_persist_is_bit_identical_and_warns(parquet_data, cluster2):
    paths = parquet_data[0]
    plain = gd.fit_gd(paths, max_iter=3, lr=0.5, l2=0.01, tol=0, client=cluster2)
    with pytest.warns(gd.PersistWarning, match="GiB"):
        kept = gd.fit_gd(paths, max_iter=3, lr=0.5, l2=0.01, tol=0, client=cluster2,
                         persist=True)
    np.testing.assert_array_equal(kept.weights, plain.weights)
    assert kept.bias == plain.bias
    # The run dropped its last reference to the persisted data: the client has
    # released it (the scheduler forgets it on that message).
    assert not cluster2.futures


def test_partition_rows_groups_row_groups(parquet_data, cluster2):
    paths, X, y = parquet_data
    source = open_source(paths)
    default = gd.plan_partitions(source)
    assert [p.n_rows for p in default] == [100, 100, 100, 64, 64, 64, 58, 170]
    grouped = gd.plan_partitions(source, 200)
    assert [p.n_rows for p in grouped] == [200, 100, 192, 58, 170]  # never across files
    model = gd.fit_gd(source, max_iter=3, lr=0.5, l2=0.0, tol=0, client=cluster2,
                      partition_rows=200)
    w, b, _ = numpy_gd(X, y, 3, 0.5, "log", 0.0, True)
    assert_rel(model.weights, w, 1e-12)
    source.close()


def _units_read(client) -> int:
    from streamneuron.fullpass.partitions import units_read

    return sum(client.run(units_read).values())


def test_one_pass_per_iteration(parquet_data, cluster2):
    before = _units_read(cluster2)
    gd.fit_gd(parquet_data[0], max_iter=3, tol=0, client=cluster2)  # + 1 statistics pass
    assert _units_read(cluster2) - before == 4 * 8
    before = _units_read(cluster2)
    with pytest.warns(gd.PersistWarning):
        gd.fit_gd(parquet_data[0], max_iter=3, lr=0.01, tol=0, client=cluster2,
                  standardize=False, persist=True)  # decoded once, kept
    assert _units_read(cluster2) - before == 8


def test_history_tol_and_info(parquet_data, cluster2):
    seen = []
    model = gd.fit_gd(parquet_data[0], max_iter=50, lr=1.0, tol=1e-2, client=cluster2,
                      progress=seen.append)
    info = model.info
    assert info["mode"] == "gd" and info["rows"] == 720 and info["converged"]
    assert 1 < info["iterations"] < 50 == info["params"]["max_iter"]
    assert seen == info["history"] and len(seen) == info["iterations"]
    assert list(seen[0]) == ["iteration", "objective", "grad_norm", "seconds", "passes"]
    last, before = seen[-1]["objective"], seen[-2]["objective"]
    assert abs(last - before) <= 1e-2 * before
    objectives = [row["objective"] for row in seen]
    assert objectives == sorted(objectives, reverse=True)
    assert seen[0]["objective"] == pytest.approx(np.log(2))  # w = 0: p = 1/2 everywhere
    json.dumps(model.to_dict())  # the model file can hold it


def test_numpy_and_dask_arrays(parquet_data, cluster2):
    import dask.array as da

    _, X, y = parquet_data
    w, b, _ = numpy_gd(X, y, 3, 0.5, "log", 0.01, True)
    X32 = X.astype(np.float32)
    for data in [(X32, y), (da.from_array(X32, chunks=(200, 5)), da.from_array(y, chunks=200))]:
        model = gd.fit_gd(open_source(data), max_iter=3, lr=0.5, l2=0.01, tol=0,
                          client=cluster2)
        assert_rel(model.weights, w, 1e-12)
        assert_rel(model.bias, b, 1e-12)


def test_uses_the_running_default_client(parquet_data, cluster2):
    expected = gd.fit_gd(parquet_data[0], max_iter=2, client=cluster2)
    with distributed.Client(cluster2.scheduler_info()["address"]):  # the default client now
        model = gd.fit_gd(parquet_data[0], max_iter=2)
    np.testing.assert_array_equal(model.weights, expected.weights)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("standardize", [True, False])
def test_nan_names_file_row_group_and_column(tmp_path, standardize, cluster2):
    X, y = make_rows(300, 4, seed=3)
    X[100 + 5, 2] = np.nan  # row group 1, row 5
    path = str(tmp_path / "bad.parquet")
    write_parquet(path, X, y, 100)
    with pytest.raises(DataError, match=r"bad\.parquet, row group 1, row 5: feature column "
                                        r"'x2' has 1 NaN value.*--missing impute"):
        gd.fit_gd(path, max_iter=2, standardize=standardize, client=cluster2)


def test_a_file_gone_missing_is_named(tmp_path, cluster2):
    X, y = make_rows(200, 3, seed=6)
    path = str(tmp_path / "gone.parquet")
    write_parquet(path, X, y, 100)
    source = open_source(path)
    os.remove(path)
    with pytest.raises(DataError, match="gone.parquet"):
        gd.fit_gd(source, max_iter=2, client=cluster2)


def test_divergence_is_a_clear_error(parquet_data, cluster2):
    with pytest.raises(DivergenceError, match="lower --lr"):
        gd.fit_gd(parquet_data[0], max_iter=5, lr=1e300, standardize=False, client=cluster2)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="only one of"):
        gd.fit_gd("nowhere.parquet", client=object(), scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ConfigError, match="only one of"):
        gd.fit_gd("nowhere.parquet", scheduler="tcp://127.0.0.1:1", workers=2)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        gd.fit_gd("nowhere.parquet", lr=-1)
    with pytest.raises(ConfigError, match="max_iter"):
        gd.fit_gd("nowhere.parquet", max_iter=0)
    with pytest.raises(ConfigError, match="workers"):
        gd.fit_gd("nowhere.parquet", workers=-1)
    with pytest.raises(ConfigError, match="partition_rows"):
        gd.fit_gd("nowhere.parquet", partition_rows=0)
    with pytest.raises(ConfigError, match="tol"):
        gd.fit_gd("nowhere.parquet", tol=-1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_clear_error(parquet_data, monkeypatch):
    from streamneuron.fullpass import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "1s")
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at 'tcp://127"):
        gd.fit_gd(parquet_data[0], scheduler=address)


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def _peak_rss() -> int:
    """The worker's peak RSS (VmHWM) in bytes since the last ``_reset_peak``."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak() -> int:
    """Reset the peak to the current RSS (Linux: "5" to clear_refs), so earlier tests
    on the same worker do not hide what this one uses; returns the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _peak_rss()


def _write_groups(path, groups, rows, d, seed):
    rng = np.random.default_rng(seed)
    schema = pa.schema([(f"x{j}", pa.float64()) for j in range(d)] + [("y", pa.int8())])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for _ in range(groups):
            X = rng.standard_normal((rows, d))
            columns = {f"x{j}": X[:, j] for j in range(d)}
            columns["y"] = (X[:, 0] > 0).astype(np.int8)
            writer.write_table(pa.table(columns))


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux's /proc/self/clear_refs to reset the peak RSS")
def test_worker_memory_stays_bounded_by_a_few_partitions(tmp_path, cluster1):
    rows, d, groups = 32_768, 32, 16
    part_bytes = rows * d * 8  # 8 MiB decoded
    small, big = str(tmp_path / "small.parquet"), str(tmp_path / "big.parquet")
    _write_groups(small, 2, rows, d, seed=4)
    _write_groups(big, groups, rows, d, seed=5)
    # Two partitions of the same size: imports, kernels, allocator pools and the
    # working memory of a partition are all reached here.
    gd.fit_gd(small, max_iter=1, client=cluster1)

    before = list(cluster1.run(_reset_peak).values())[0]
    model = gd.fit_gd(big, max_iter=2, client=cluster1)  # 3 passes over 128 MiB
    grown = list(cluster1.run(_peak_rss).values())[0] - before
    assert model.info["partitions"] == groups
    assert grown < 2 * part_bytes, f"worker peak grew {grown / 2**20:.0f} MiB"

    # The measure sees memory that is really held: persisting holds all the partitions.
    before = list(cluster1.run(_reset_peak).values())[0]
    with pytest.warns(gd.PersistWarning):
        gd.fit_gd(big, max_iter=1, client=cluster1, persist=True)
    held = list(cluster1.run(_peak_rss).values())[0] - before
    assert held > 0.8 * groups * part_bytes


# --------------------------------------------------------------------------
# A real cluster of processes
# --------------------------------------------------------------------------


@pytest.fixture
def process_cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (free ports)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    common = dict(cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", address.rsplit(":", 1)[1], "--no-dashboard"], **common)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
                 "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--death-timeout", "60"], **common))
        # The client keeps trying to connect until the scheduler listens (or 60 s pass),
        # then waits for both workers to register: no polling of ours.
        with distributed.Client(address, set_as_default=False, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_real_cluster_matches_local_and_survives_a_dead_worker(parquet_data, process_cluster):
    paths = parquet_data[0]
    address, workers = process_cluster
    kwargs = dict(max_iter=5, lr=0.5, l2=0.01, tol=0)
    links = []
    local = gd.fit_gd(paths, workers=2, on_cluster=links.append, **kwargs)
    assert links and links[0].startswith("http://")
    remote = gd.fit_gd(paths, scheduler=address, **kwargs)
    np.testing.assert_array_equal(remote.weights, local.weights)
    assert remote.bias == local.bias

    def kill_one(row):
        if row["iteration"] == 2:  # its persisted partitions are lost with it
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait()

    with pytest.warns(gd.PersistWarning):
        survived = gd.fit_gd(paths, scheduler=address, persist=True, progress=kill_one, **kwargs)
    assert workers[0].poll() is not None
    np.testing.assert_array_equal(survived.weights, local.weights)
    assert survived.bias == local.bias

    with distributed.Client(address, set_as_default=False) as client:  # never closed by us
        assert len(client.scheduler_info()["workers"]) == 1

    # Newton with the other worker killed at its second iteration: the lost
    # partitions are recomputed; the result is the in-process one.
    here = gd.fit_gd(paths, solver="newton", l2=0.01, workers=0)

    def kill_other(row):
        if row["iteration"] == 2:
            os.killpg(workers[1].pid, signal.SIGKILL)
            workers[1].wait()

    procs_alive = [w for w in workers if w.poll() is None]
    assert procs_alive == [workers[1]]
    # A third worker, so that a worker is left after the kill.
    extra = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
         "--nthreads", "1", "--no-nanny", "--no-dashboard", "--death-timeout", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with distributed.Client(address, set_as_default=False, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        there = gd.fit_gd(paths, solver="newton", l2=0.01, scheduler=address,
                          progress=kill_other)
    finally:
        os.killpg(extra.pid, signal.SIGKILL)
        extra.wait()
    assert workers[1].poll() is not None
    np.testing.assert_allclose(there.weights, here.weights, rtol=1e-9, atol=1e-12)
    assert there.bias == pytest.approx(here.bias, rel=1e-9)

