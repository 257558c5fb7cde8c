"""A full pass's memory is bounded by the pass threads, not by the file: the task results
alive at once in this process (:class:`~streamneuron.fullpass.cluster.TreeFold`), and the
rows a task decodes at once from a large row group (``partitions.PIECE_BYTES``).

Mechanisms, not RSS (no timed or memory-measuring test): counted objects and shapes."""

import threading
import weakref

import numpy as np
import pytest

from streamneuron.fullpass import cluster
from streamneuron.fullpass.sums import sum_partials


@pytest.mark.parametrize("n", [1, 2, 8, 9, 17, 64, 65, 100])
def test_tree_fold_adds_results_as_they_come_with_the_trees_bits(n):
    """Folded one result at a time, the partial sums give tree_reduce's bits (sums of
    numbers of very different sizes: any other order of additions shows), empty
    partitions included."""
    rng = np.random.default_rng(n)
    outputs = [[] if (k % 7 == 3 and n > 1) else
               [rng.standard_normal(5) * 10.0 ** rng.integers(-8, 9, 5)] for k in range(n)]
    expected = cluster.tree_reduce(outputs, sum_partials)
    fold = cluster.TreeFold(n, sum_partials)  # (adds into the task's arrays: after)
    for out in outputs:
        fold.add(out)
    assert fold.result().tobytes() == expected.tobytes()
    def concat(parts):  # a left fold without .fold (as merge_moments): in order
        return "".join(parts)

    strings = cluster.TreeFold(n, concat)
    for k in range(n):
        strings.add([f"{k},"])
    assert strings.result() == "".join(f"{k}," for k in range(n))


def test_in_process_pass_keeps_a_few_task_results_alive_whatever_the_partitions():
    """60 partitions on 2 pass threads: at most threads + AHEAD results exist at once
    (pool.map kept every finished one until its turn), and the sum is the tree's."""
    import dask.bag as db

    executor = cluster.InProcess(threads=2)
    bag = executor.persist(db.from_sequence(list(range(60)), npartitions=60))
    lock, alive, most = threading.Lock(), [0], [0]

    def gone():
        with lock:
            alive[0] -= 1

    def task(items):
        out = np.full(1000, float(items[0]))
        with lock:
            alive[0] += 1
            most[0] = max(most[0], alive[0])
        weakref.finalize(out, gone)
        return [out]

    total = executor.map_reduce(bag, task, aggregate=sum_partials)
    assert total[0] == sum(range(60))
    # (submitted ahead, the one being added, the two levels' running sums of the tree)
    assert most[0] <= executor.threads + executor.AHEAD + 1 + 2
    executor.close()


@pytest.fixture(scope="module")
def one_group(tmp_path_factory):
    """20,000 rows in one row group: 3 number columns, a weight, a string column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    n = 20000
    X = rng.standard_normal((n, 3))
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2],
                      "s": np.array(["p", "q", "r", "t"])[rng.integers(0, 4, n)],
                      "wt": rng.uniform(0.5, 2.0, n),
                      "y": (X[:, 0] + rng.standard_normal(n) > 0).astype(np.int8)})
    path = tmp_path_factory.mktemp("pieces") / "one.parquet"
    pq.write_table(table, path, row_group_size=n)
    return str(path)


def _encoded(path):
    import streamneuron as sn
    from streamneuron.levels import LevelCounts
    from streamneuron.readers.encoded import encode_source

    source = sn.open_source(path, label="y", weight="wt", class_weights=(1.0, 3.0))
    counts = LevelCounts(["s"], 100)
    counts.add(source.read(0).extra)
    return encode_source(source, counts, reference=False)


def test_a_row_group_read_in_pieces_is_the_row_group(one_group):
    """Its pieces (7,000 rows: not whole decode batches) concatenated are the row group
    as read whole: features, labels, weights (times the class weights), level codes;
    read in order, and out of order (each piece then read from the row group's start)."""
    whole = _encoded(one_group).read(0)
    for order in ([0, 1, 2], [2, 0, 1, 1]):
        source = _encoded(one_group)
        source.cut_units(7000)
        assert [(u.start, u.n_rows) for u in source.units] == [(0, 7000), (7000, 7000),
                                                               (14000, 6000)]
        pieces = {i: source.read(i) for i in order}
        for field in ("X", "y", "w", "codes"):
            joined = np.concatenate([getattr(pieces[i], field) for i in range(3)])
            assert np.array_equal(joined, getattr(whole, field)), field
        assert pieces[1].where.endswith("row group 0 from row 7000")


def test_a_task_decodes_a_large_row_group_piece_by_piece(one_group, monkeypatch):
    """A full pass's partition lists the row group's pieces (PIECE_BYTES of features and
    label each); the task's reader gives units of at most that many rows, into one
    reused buffer of that size; the row group is counted read once; newton's weights
    are the ones of the row group read whole (to rounding: the sums are added in
    pieces)."""
    import streamneuron as sn
    from streamneuron.fullpass import partitions

    fits = {}
    for piece in (None, 4096):
        if piece:
            monkeypatch.setattr(partitions, "PIECE_BYTES", piece * (3 * 8 + 8))
        source = sn.open_source(one_group, label="y", features=["a", "b", "c"])
        parts = partitions.plan_partitions(source)
        assert len(parts) == 1
        before = partitions.units_read()
        sizes = [u.n_rows for u in partitions.read_units(parts)]
        assert partitions.units_read() == before + 1
        if piece:
            assert parts[0].piece_rows == piece and max(sizes) == piece
            assert sum(sizes) == 20000 and len(sizes) == 5
            shapes = {b.shape for b in partitions._BUFFERS[threading.get_ident()].values()}
            assert max(s[0] for s in shapes) == piece
        fits[piece] = sn.fit_gd(one_group, label="y", features=["a", "b", "c"], weight="wt",
                                solver="newton", workers=0, l2=1e-3)
    np.testing.assert_allclose(fits[4096].weights, fits[None].weights, rtol=1e-10)
    assert fits[4096].info["passes"] == fits[None].info["passes"]
