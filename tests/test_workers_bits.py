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
    # (4 iterations: the bits of a sampled Hessian's steps, not a converged run)
    ("newton", {"l2": 1e-3, "sampled": True, "max_iter": 4}),
    ("gd", {"max_iter": 4, "lr": 0.5, "tol": 0}),
])
def test_in_process_and_two_workers_give_identical_bits(wide_file, solver, extra,
                                                        monkeypatch, dask_client):
    extra = dict(extra)
    if extra.pop("sampled", False):  # newton's Hessian from a sample even of this table
        from streamneuron.fullpass import sums
        monkeypatch.setattr(sums, "SAMPLE_MIN_ROWS", 100)
        monkeypatch.setattr(sums, "SAMPLE_ROWS_PER_WEIGHT", 1)
    # Two row groups per partition: 12 tasks, more than SPLIT_EVERY (8), so the
    # reduction tree has two levels.
    # The cluster: the session's two one-thread worker processes (conftest.dask_client).
    in_process, cluster = (sn.fit_gd(wide_file, label="y", solver=solver, partition_rows=1000,
                                     **where, **extra)
                           for where in ({"workers": 0}, {"client": dask_client}))
    assert in_process.info["passes"] == cluster.info["passes"]
    assert np.array_equal(in_process.weights, cluster.weights), \
        np.abs(in_process.weights - cluster.weights).max()
    assert in_process.bias == cluster.bias
    if solver == "newton":
        assert in_process.info["hessian_every"] == cluster.info["hessian_every"]


@pytest.mark.parametrize("n_parts", [1, 2, 8, 9, 17, 64, 65, 100])
def test_tree_reduce_is_dask_bags_reduction(n_parts):
    """In this process a pass over a persisted bag adds its tasks' results without a
    Dask graph: in the order of ``dask.bag``'s own reduction tree (checked with a
    non-associative aggregate that records the order), empty partitions included."""
    import dask
    import dask.bag as db

    from streamneuron.fullpass.cluster import tree_reduce

    def task(items):
        return [tuple(items)] if items else []

    def aggregate(parts):
        return "(" + " ".join(str(p) for p in parts) + ")"

    items = [list(range(k, k + k % 3)) for k in range(n_parts)]  # some empty
    bag = db.from_sequence(items, npartitions=n_parts).map_partitions(lambda p: p[0])
    expected = dask.compute(bag.map_partitions(task).reduction(aggregate, aggregate,
                                                               split_every=8),
                            scheduler="sync")[0]
    assert tree_reduce([task(i) for i in items], aggregate, 8) == expected


def test_in_process_passes_without_a_graph_give_the_graphs_bits(tmp_path):
    """workers=0: the passes run the tasks directly (no Dask graph; several partitions on
    the pass threads); the same weights as through the graph. 30 row groups: a
    two-level tree; an in-memory array: one partition."""
    from streamneuron.fullpass import cluster

    X, y = make_data(n=3000, d=6, seed=2)
    path = write_parquet(tmp_path / "t.parquet", X, y, row_group_size=100)
    sizes = []
    original, fold = cluster.InProcess.map_reduce, cluster.TreeFold

    def counted(n, *args):
        sizes.append(n)
        return fold(n, *args)

    def fits():
        return [sn.fit_gd(data, label="y", solver=solver, workers=0)
                for data in (path, (X, y)) for solver in ("newton", "lbfgs")]

    try:
        cluster.TreeFold = counted
        direct = fits()
        cluster.InProcess.map_reduce = lambda self, bag, task, *args, aggregate: \
            self.compute(cluster._graph(bag, task, args, aggregate))
        graph = fits()
    finally:
        cluster.InProcess.map_reduce, cluster.TreeFold = original, fold
    assert set(sizes) == {30, 1}
    for a, b in zip(direct, graph):
        assert a.weights.tolist() == b.weights.tolist()
        assert a.bias == b.bias
