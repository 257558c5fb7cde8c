"""The compiled shuffle gives numpy's permutation, value for value (stream.block_order)."""

import numpy as np

from streamneuron import stream
from streamneuron.kernels import shuffle_like_numpy


def test_compiled_shuffle_is_numpys():
    for n in (1, 2, 5, 1000, 70001):
        for key in ([0, 0, 0], [3, 2, 1], [2**40, 9, 123]):
            mine = np.arange(n, dtype=np.int32)
            assert shuffle_like_numpy(np.random.default_rng(key), mine)
            theirs = np.arange(n, dtype=np.int32)
            np.random.default_rng(key).shuffle(theirs)
            np.testing.assert_array_equal(mine, theirs)


def test_block_order_is_rng_permutation_on_both_sides_of_the_threshold():
    for n in (stream.COMPILED_SHUFFLE_ROWS - 1, stream.COMPILED_SHUFFLE_ROWS + 3):
        order = stream.block_order(n, seed=5, epoch=2, block=7, shuffle=True)
        np.testing.assert_array_equal(order, np.random.default_rng([5, 2, 7]).permutation(n))


def test_declines_what_it_cannot_promise():
    x = np.arange(10, dtype=np.int64)
    assert not shuffle_like_numpy(np.random.default_rng(0), x)
    np.testing.assert_array_equal(x, np.arange(10))
    y = np.arange(10, dtype=np.int32)
    assert not shuffle_like_numpy(np.random.Generator(np.random.MT19937(0)), y)
    np.testing.assert_array_equal(y, np.arange(10))
