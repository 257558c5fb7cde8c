"""SGD's lazy step rule on level weights (:mod:`streamneuron.kernels.categorical_sgd`):
AdaGrad's steps touch the levels a batch met, every other level weight caught up exactly
when next met or synced. Checked against the rule written step by step over every weight
(plain numpy), against the dense kernel where the two rules agree (no L2), for calls cut
anywhere, and for a run crashed at random moments and resumed (``==``)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.kernels import categorical_sgd
from streamneuron.stream import block_order
from streamneuron.training import StepRule, TrainState

N, D, LEVELS = 1500, 3, (4, 30)
P = D + sum(LEVELS)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    first = D + rng.integers(0, LEVELS[0], N)
    second = D + LEVELS[0] + np.minimum(rng.zipf(1.4, N) - 1, LEVELS[1] - 1)
    codes = np.stack([first, second], axis=1).astype(np.int32)
    codes[::17, 1] = -1  # an unseen level: no weight
    truth = rng.normal(size=P)
    z = X @ truth[:D] + np.where(codes >= 0, truth[np.maximum(codes, 0)], 0.0).sum(1)
    y = (rng.random(N) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, codes, y


def train(rows, rule, *, lazy: bool, calls: int = 1, passes: int = 3):
    """``passes`` passes of the kernel over the rows (each cut into ``calls`` calls), the
    average restarted each pass as ``schedule="auto"`` does; the model's weights."""
    X, codes, y = rows
    state = TrainState.start(np.zeros(P))
    saved = categorical_sgd.LAZY_RATIO
    categorical_sgd.LAZY_RATIO = 0 if lazy else float("inf")
    try:
        for epoch in range(passes):
            state.avg_count = 0
            order = block_order(N, seed=1, epoch=epoch, block=0, shuffle=True)
            cuts = np.linspace(0, N, calls + 1).astype(int)
            for start, stop in zip(cuts[:-1], cuts[1:]):
                state.train_block(X, y[order], rule, np.zeros(D), np.ones(D), order=order,
                                  start=start, stop=stop, codes=codes)
            state.finish_pass(rule)
        assert (state.level_anchor is not None) == lazy
        weights, bias = state.model(rule)
    finally:
        categorical_sgd.LAZY_RATIO = saved
    return weights.copy(), bias


def step_by_step(rows, rule, passes: int = 3):
    """The lazy rule over every weight at every step: a level weight a batch met takes
    AdaGrad's step (its L2 term in the gradient), one it did not is multiplied by
    ``1 - lr l2 / (sqrt(G) + eps)`` (G unchanged; not at all while G is 0)."""
    X, codes, y = rows
    lr, l2, eps = rule.lr, rule.l2, 1e-10
    w, b, G = np.zeros(P), 0.0, np.zeros(P + 1)
    avg, avg_b, t = np.zeros(P), 0.0, 0
    for epoch in range(passes):
        count = 0
        order = block_order(N, seed=1, epoch=epoch, block=0, shuffle=True)
        for first in range(0, N, rule.batch_size):
            batch = order[first:first + rule.batch_size]
            carry, carry_b = np.zeros(P), 0.0
            for i in batch:
                met = codes[i][codes[i] >= 0]
                dz = 1 / (1 + np.exp(-(b + X[i] @ w[:D] + w[met].sum()))) - y[i]
                carry[:D] += dz * X[i]
                carry[met] += dz
                carry_b += dz
            for j in range(P):
                if j < D or carry[j] != 0.0:
                    g = carry[j] / len(batch) + l2 * w[j]
                    G[j] += g * g
                    w[j] -= lr * g / (np.sqrt(G[j]) + eps)
                elif G[j] > 0:
                    w[j] *= max(0.0, 1 - lr * l2 / (np.sqrt(G[j]) + eps))
            G[P] += (carry_b / len(batch)) ** 2
            b -= lr * (carry_b / len(batch)) / (np.sqrt(G[P]) + eps)
            t += 1
            if rule.average and t >= rule.average:
                count += 1
                avg += (w - avg) / count
                avg_b += (b - avg_b) / count
    return (avg, avg_b) if rule.average and count else (w, b)


@pytest.mark.parametrize("average", [0, 1, 40])
def test_lazy_steps_are_the_rule_written_step_by_step(rows, average):
    rule = StepRule(0, 32, 0.5, 0.0, 1e-2, average, True, 0.0)
    weights, bias = train(rows, rule, lazy=True, calls=3)
    expected, expected_b = step_by_step(rows, rule)
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-12)
    assert bias == pytest.approx(expected_b, abs=1e-12)


def test_without_l2_lazy_is_the_dense_kernel_bit_for_bit(rows):
    rule = StepRule(0, 16, 0.5, 0.0, 0.0, 0, True, 0.0)
    dense, dense_b = train(rows, rule, lazy=False)
    lazy, lazy_b = train(rows, rule, lazy=True, calls=4)
    np.testing.assert_array_equal(lazy, dense)
    assert lazy_b == dense_b


def test_calls_cut_anywhere_give_the_same_bits(rows):
    rule = StepRule(0, 24, 0.5, 0.0, 1e-3, 1, True, 0.0)
    whole = train(rows, rule, lazy=True)
    for calls in (2, 7, 61):
        cut = train(rows, rule, lazy=True, calls=calls)
        np.testing.assert_array_equal(cut[0], whole[0])
        assert cut[1] == whole[1]


class Crash(Exception):
    """Stands for a kill: raised from the progress callback, nothing is saved."""


def test_a_run_crashed_anywhere_and_resumed_is_exact(rows, tmp_path, monkeypatch):
    """Checkpoints mid-epoch (the lazy arrays saved by name), crashes between them."""
    monkeypatch.setattr(categorical_sgd, "LAZY_RATIO", 0)
    X, codes, y = rows
    frame = pd.DataFrame({f"x{j}": X[:, j] for j in range(D)})
    frame["a"] = pd.Categorical([f"a{c}" for c in codes[:, 0]])
    frame["b"] = [None if c < 0 else f"b{c}" for c in codes[:, 1]]
    frame["y"] = y.astype(np.int64)
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, row_group_size=400)
    kwargs = dict(label="y", epochs=3, seed=4, batch_size=16, l2=1e-3)
    reference = sn.fit_sgd(path, **kwargs)
    rng = random.Random(7)
    folder = str(tmp_path / "ckpt")
    crashes, resume = 0, False
    while True:
        count = [0]
        limit = rng.randint(1, 6)

        def progress(rows_done, loss):
            count[0] += 1
            if crashes < 4 and count[0] >= limit:
                raise Crash

        try:
            model = sn.fit_sgd(path, checkpoint=folder, resume=resume, checkpoint_every=7,
                               progress=progress, **kwargs)
            break
        except Crash:
            crashes += 1
            resume = True
    assert crashes == 4
    np.testing.assert_array_equal(model.weights, reference.weights)
    assert model.bias == reference.bias


def test_chunks_with_other_dictionaries_of_one_length_are_mapped_each():
    """A unit's chunks that repeat a dictionary map it once; another dictionary (even of
    the same length and type) is mapped afresh."""
    import pyarrow as pa

    from streamneuron.levels import LevelCounts

    counts = LevelCounts(["c"])
    counts.add({"c": pa.array(["a", "b", "c", "a"])})
    levels = counts.levels(reference=False)
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, 1], pa.int32()), pa.array(["a", "b"]))
    again = pa.DictionaryArray.from_arrays(pa.array([1, 0], pa.int32()), pa.array(["a", "b"]))
    other = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["c", "z"]))
    column = pa.chunked_array([first, again, other, first])
    codes = levels.encode({"c": column}, 10, 5)[:, 0]
    a, b, c = (5 + levels.columns[0].values.index(v) for v in "abc")
    np.testing.assert_array_equal(codes, [a, b, b, b, a, c, -1, a, b, b])
