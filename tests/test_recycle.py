"""Task sums reused within a process (fullpass/recycle.py): zeros every time, only arrays
made there and no one's, bounded; and a newton run that reuses them gives the bits of one
that does not."""

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.fullpass import recycle
from streamneuron.fullpass.recycle import Recycled


def test_a_reused_array_is_zeroed_and_only_lent_ones_come_back():
    pool = Recycled(min_bytes=0, kept=2)
    a = pool.zeroed(1000)
    a[:] = 7.0
    pool.give_back(a)
    b = pool.zeroed(1000)
    assert b is a and not b.any()  # the same memory, zeroed
    pool.give_back(np.ones(1000))  # not made here: ignored
    pool.give_back(b[:10])  # a view: ignored
    assert pool.zeroed(1000) is not b
    arrays = [pool.zeroed(10) for _ in range(3)]
    for x in arrays:
        pool.give_back(x)
    assert len(pool._free[10]) == 2  # at most `kept` a size
    pool.give_back(arrays[0])  # given back twice: once counts
    assert len(pool._free[10]) == 2
    pool.clear()
    assert pool.zeroed(10) is not arrays[0]


def test_small_arrays_are_plain_zeros():
    pool = Recycled()  # 16 MiB and up only
    a = pool.zeroed(100)
    pool.give_back(a)
    assert pool.zeroed(100) is not a


@pytest.fixture
def flights_like(tmp_path):
    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n),
                          "c": rng.choice([f"l{k}" for k in range(40)], n),
                          "e": rng.choice(["a", "b", "c"], n)})
    z = frame.x0 - 0.5 * frame.x1 + (frame.c.str[1:].astype(int) % 3 - 1) * 0.7
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    path = tmp_path / "f.parquet"
    frame.to_parquet(path, row_group_size=500)  # 12 tasks: sums folded and reused
    return path


def test_newton_reusing_every_task_sums_gives_the_same_bits(flights_like, monkeypatch):
    kwargs = dict(solver="newton", label="y", categorical=["c", "e"], workers=0, l2=1e-3)
    plain = sn.fit_gd(flights_like, **kwargs)
    pool = recycle.RECYCLED
    made, reused = pool.zeroed, []

    def watched(size):
        free = list(pool._free.get(size, ()))
        array = made(size)
        reused.append(any(array is x for x in free))
        return array

    monkeypatch.setattr(recycle.RECYCLED, "min_bytes", 0)  # every task's sums reused
    monkeypatch.setattr(recycle.RECYCLED, "zeroed", watched)
    again = sn.fit_gd(flights_like, **kwargs)
    assert sum(reused) > len(reused) // 2  # most tasks' sums were an earlier task's
    assert np.array_equal(plain.weights, again.weights) and plain.bias == again.bias
