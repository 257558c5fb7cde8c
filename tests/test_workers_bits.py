"""A full-pass run gives the same bits whatever the workers: in this process
(``workers=0``, Dask's threads) and on a local cluster of two worker processes, the
same partitions are summed in the same reduction tree (README: "the same bits
whatever the workers").

Wide enough (128 features) that Newton's Hessian sums go through BLAS matrix products,
whose bits depend on the BLAS threads a product is split across: each pass runs with
one, in this process as on Dask's workers.
"""

import numpy as np
import pytest

import streamneuron as sn
from conftest import make_data, write_parquet


@pytest.fixture(scope="module")
def wide_file(tmp_path_factory):
    X, y = make_data(n=12000, d=128, seed=7)
    path = tmp_path_factory.mktemp("bits") / "wide.parquet"
    return write_parquet(path, X, y, row_group_size=500)  # 24 row groups


@pytest.mark.parametrize("solver,extra", [
    ("newton", {"l2": 1e-3}),
    ("newton", {"l2": 1e-3, "sampled": True}),
    ("gd", {"max_iter": 4, "lr": 0.5, "tol": 0}),
])
def test_in_process_and_two_workers_give_identical_bits(wide_file, solver, extra,
                                                        monkeypatch):
    extra = dict(extra)
    if extra.pop("sampled", False):  # newton's Hessian from a sample even of this table
        from streamneuron.fullpass import sums
        monkeypatch.setattr(sums, "SAMPLE_MIN_ROWS", 100)
        monkeypatch.setattr(sums, "SAMPLE_ROWS_PER_WEIGHT", 1)
    # Two row groups per partition: 12 tasks, more than SPLIT_EVERY (8), so the
    # reduction tree has two levels.
    runs = {workers: sn.fit_gd(wide_file, label="y", solver=solver, workers=workers,
                               partition_rows=1000, **extra)
            for workers in (0, 2)}
    in_process, cluster = runs[0], runs[2]
    assert in_process.info["passes"] == cluster.info["passes"]
    assert np.array_equal(in_process.weights, cluster.weights), \
        np.abs(in_process.weights - cluster.weights).max()
    assert in_process.bias == cluster.bias
    if solver == "newton":
        assert in_process.info["hessian_every"] == cluster.info["hessian_every"]
