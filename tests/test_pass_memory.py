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
    """60 partitions on 2 pass threads: at most AHEAD results per thread exist at once
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
    assert most[0] <= executor.AHEAD * executor.threads + 1 + 2
    executor.close()
