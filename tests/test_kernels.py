"""The fused SGD kernel against a plain numpy loop, and its invariances.

The kernel's vector code (intrinsics: logit, update, accumulate, transposes) must
give the numbers of the plain formulas, and exactly the same numbers whatever the
layout, dtype of the chunk, slicing or row gather.
"""

import numpy as np
import pytest

from streamneuron import kernels
from streamneuron.losses import LogLoss, SquaredError
from streamneuron.training import StepRule

LOSSES = {0: LogLoss, 1: SquaredError}


def numpy_sgd(X, y, *, batch, lr0, power_t, l2, mean, inv_scale, loss_id, average=0,
              averaged=None):
    """The engine's update rule, one mini-batch at a time, in float64 numpy. With
    ``average=N > 0`` the iterates from update N on are averaged into ``averaged``
    (a dict: "w", "b", "count")."""
    Z = (X.astype(np.float64) - mean) * inv_scale
    w, b, t = np.zeros(X.shape[1]), 0.0, 0
    iterates = []
    loss = LOSSES[loss_id]
    total = 0.0
    for first in range(0, len(y), batch):
        xb, yb = Z[first:first + batch], y[first:first + batch].astype(np.float64)
        z = xb @ w + b
        total += loss.loss(z, yb).sum()
        if len(yb) < batch:  # the kernel carries a short batch; the engine steps it later
            break
        dz = loss.dloss_dz(z, yb)
        lr = lr0 / (1.0 + t) ** power_t
        w = w - lr * (xb.T @ dz / len(yb) + l2 * w)
        b = b - lr * dz.mean()
        t += 1
        if 0 < average <= t:
            iterates.append((w, b))
    if averaged is not None:
        averaged["count"] = len(iterates)
        averaged["w"] = np.mean([v for v, _ in iterates], axis=0) if iterates else np.zeros_like(w)
        averaged["b"] = float(np.mean([c for _, c in iterates])) if iterates else 0.0
    return w, b, total


def run(X, y, order=None, *, batch, slices=None, lr0=0.05, power_t=0.0, l2=0.0, mean=None,
        inv_scale=None, loss_id=0, average=0, avg_w=None, g2=None):
    n, d = X.shape
    order = np.empty(0, np.int64) if order is None else order
    labels = y[order] if order.size else y
    mean = np.zeros(d) if mean is None else mean
    inv_scale = np.ones(d) if inv_scale is None else inv_scale
    w, state, carry = np.zeros(d), kernels.new_state(), np.zeros(d)
    avg_w = np.zeros(d) if avg_w is None else avg_w
    rule = StepRule(loss_id, batch, lr0, power_t, l2, average, adagrad=g2 is not None)
    g2 = np.zeros(d + 1) if g2 is None else g2
    rows = kernels.Rows(X, labels, order, np.empty(0), mean, inv_scale)
    arrays = kernels.Arrays(w, state, carry, avg_w, g2, np.zeros(d), np.zeros(d))
    cuts = [0] + sorted(slices or []) + [n]
    for start, stop in zip(cuts[:-1], cuts[1:]):
        pos, status = kernels.sgd_block(rows, arrays, rule, start=start, stop=stop)
        assert (pos, status) == (stop, kernels.OK)
    return w, state, carry


def data(n, d, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 2.0 + 0.5).astype(dtype)
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, 0]))).astype(np.float64)
    return X, y


@pytest.mark.parametrize("loss_id", [0, 1])
@pytest.mark.parametrize("d,batch", [(3, 1), (8, 5), (13, 64), (32, 256), (33, 7)])
def test_kernel_equals_the_numpy_update_rule(d, batch, loss_id):
    X, y = data(1000, d, seed=d)
    rng = np.random.default_rng(1)
    mean, inv_scale = rng.normal(size=d) * 0.1, 1.0 + rng.random(d)
    args = dict(batch=batch, lr0=0.05, power_t=0.5, l2=1e-3, mean=mean, inv_scale=inv_scale,
                loss_id=loss_id)
    w, state, _ = run(X, y, **args)
    w_ref, b_ref, loss_ref = numpy_sgd(X, y, **args)
    np.testing.assert_allclose(w, w_ref, rtol=1e-11, atol=1e-13)
    assert state["bias"][0] == pytest.approx(b_ref, rel=1e-11, abs=1e-13)
    assert state["loss_sum"][0] == pytest.approx(loss_ref, rel=1e-12)
    assert state["rows_seen"][0] == len(y)


@pytest.mark.parametrize("d", [1, 4, 7, 8, 13, 32, 33])
@pytest.mark.parametrize("batch", [1, 3, 64, 200])
def test_same_bits_for_every_layout_dtype_and_slicing(d, batch):
    X, y = data(777, d, seed=d)
    mean, inv_scale = np.full(d, 0.25), np.full(d, 0.5)
    ref = run(np.ascontiguousarray(X), y, batch=batch, power_t=0.5, l2=1e-3, mean=mean,
              inv_scale=inv_scale)
    variants = {
        "column-major": run(np.asfortranarray(X), y, batch=batch, power_t=0.5, l2=1e-3,
                            mean=mean, inv_scale=inv_scale),
        "float64 copy": run(X.astype(np.float64), y, batch=batch, power_t=0.5, l2=1e-3,
                            mean=mean, inv_scale=inv_scale),
        "strided view": run(np.hstack([X, X])[:, :d], y, batch=batch, power_t=0.5, l2=1e-3,
                            mean=mean, inv_scale=inv_scale),
        "sliced": run(X, y, batch=batch, slices=[1, 64, 65, 300, 301, 500], power_t=0.5,
                      l2=1e-3, mean=mean, inv_scale=inv_scale),
    }
    for name, (w, state, carry) in variants.items():
        assert np.array_equal(w, ref[0]), name
        assert np.array_equal(state, ref[1]), name
        assert np.array_equal(carry, ref[2]), name


@pytest.mark.parametrize("order_dtype", [np.int32, np.int64])
def test_a_shuffled_chunk_is_the_gathered_chunk_in_file_order(order_dtype):
    X, y = data(1500, 32, seed=3)
    order = np.random.default_rng(4).permutation(len(y)).astype(order_dtype)
    for batch in (1, 32, 100):
        w, state, carry = run(X, y, order, batch=batch, slices=[700])
        w_ref, state_ref, carry_ref = run(np.ascontiguousarray(X[order]), y[order], batch=batch)
        assert np.array_equal(w, w_ref) and np.array_equal(state, state_ref)
        assert np.array_equal(carry, carry_ref)


def test_nonfinite_row_and_pause_are_reported_where_they_happen():
    X, y = data(500, 8)
    X[321, 5] = np.nan
    order = np.random.default_rng(0).permutation(500)
    w, state, carry = np.zeros(8), kernels.new_state(), np.zeros(8)

    def arrays(w, state, carry):
        return kernels.Arrays(w, state, carry, np.zeros(8), np.zeros(9), np.zeros(8), np.zeros(8))

    def rows(labels, order):
        return kernels.Rows(X, labels, order, np.empty(0), np.zeros(8), np.ones(8))

    for batch in (1, 16):
        rule = StepRule(0, batch, 0.1)
        pos, status = kernels.sgd_block(rows(y, np.empty(0, np.int64)), arrays(w, state, carry),
                                        rule)
        assert (pos, status) == (321, kernels.NONFINITE)
        pos, status = kernels.sgd_block(rows(y[order], order), arrays(w, state, carry), rule)
        assert (pos, status) == (321, kernels.NONFINITE)  # the row of X, not the position
    X[321, 5] = 0.0
    state, carry = kernels.new_state(), np.zeros(8)
    pos, status = kernels.sgd_block(rows(y, np.empty(0, np.int64)),
                                    arrays(np.zeros(8), state, carry), StepRule(0, 16, 0.1),
                                    max_updates=3)
    assert (pos, status) == (48, kernels.PAUSED) and state["updates"][0] == 3


def test_gradient_sums_equal_numpy_on_every_layout():
    X, y = data(1000, 13, seed=9)
    w, b = np.random.default_rng(2).normal(size=13) * 0.3, 0.1
    mean, inv_scale = X.mean(0).astype(np.float64), 1 / X.std(0).astype(np.float64)
    Z = (X.astype(np.float64) - mean) * inv_scale
    z = Z @ w + b
    for loss_id, loss in LOSSES.items():
        results = []
        for A in (X, np.asfortranarray(X), X.astype(np.float64)):
            grad = np.zeros(13)
            sum_dz, sum_loss, _, bad = kernels.gradient_sums(A, y, np.empty(0), w, b, mean, inv_scale,
                                                          loss_id, grad)
            assert bad == -1
            results.append((grad, sum_dz, sum_loss))
        np.testing.assert_allclose(results[0][0], Z.T @ loss.dloss_dz(z, y), rtol=1e-11)
        assert results[0][1] == pytest.approx(loss.dloss_dz(z, y).sum(), rel=1e-11)
        assert results[0][2] == pytest.approx(loss.loss(z, y).sum(), rel=1e-12)
        for other in results[1:]:
            assert np.array_equal(other[0], results[0][0]) and other[1:] == results[0][1:]


@pytest.mark.parametrize("loss_id", [0, 1])
@pytest.mark.parametrize("d,batch,average", [(3, 1, 1), (8, 5, 1), (13, 64, 4), (33, 7, 50),
                                             (32, 256, 3)])
def test_averaged_sgd_equals_the_numpy_average_of_the_iterates(d, batch, average, loss_id):
    X, y = data(1000, d, seed=d)
    rng = np.random.default_rng(1)
    mean, inv_scale = rng.normal(size=d) * 0.1, 1.0 + rng.random(d)
    args = dict(batch=batch, lr0=0.05, power_t=0.5, l2=1e-3, mean=mean, inv_scale=inv_scale,
                loss_id=loss_id)
    avg_w = np.zeros(d)
    w, state, _ = run(X, y, average=average, avg_w=avg_w, slices=[333, 334], **args)
    ref = {}
    w_ref, b_ref, _ = numpy_sgd(X, y, average=average, averaged=ref, **args)
    assert state["avg_count"][0] == ref["count"] > 0
    np.testing.assert_allclose(avg_w, ref["w"], rtol=1e-12, atol=1e-12)
    assert state["avg_b"][0] == pytest.approx(ref["b"], rel=1e-12, abs=1e-12)
    # the iterates themselves are those of plain SGD, bit for bit
    plain_w, plain_state, _ = run(X, y, slices=[333, 334], **args)
    assert np.array_equal(w, plain_w) and plain_state["bias"][0] == state["bias"][0]
    assert plain_state["avg_count"][0] == 0 and plain_state["avg_b"][0] == 0.0


def numpy_adagrad(X, y, *, batch, lr0, l2, mean, inv_scale, loss_id, eps=1e-10):
    """AdaGrad, one mini-batch at a time, in float64 numpy (full batches only)."""
    Z = (X.astype(np.float64) - mean) * inv_scale
    w, b = np.zeros(X.shape[1]), 0.0
    G, Gb = np.zeros(X.shape[1]), 0.0
    loss = LOSSES[loss_id]
    for first in range(0, len(y) - batch + 1, batch):
        xb, yb = Z[first:first + batch], y[first:first + batch].astype(np.float64)
        dz = loss.dloss_dz(xb @ w + b, yb)
        g = xb.T @ dz / len(yb) + l2 * w
        gb = dz.mean()
        G, Gb = G + g * g, Gb + gb * gb
        w = w - lr0 * g / (np.sqrt(G) + eps)
        b = b - lr0 * gb / (np.sqrt(Gb) + eps)
    return w, b, G, Gb


@pytest.mark.parametrize("loss_id", [0, 1])
@pytest.mark.parametrize("d,batch", [(3, 1), (8, 5), (13, 64), (33, 8)])
def test_adagrad_equals_the_numpy_update_rule(d, batch, loss_id):
    X, y = data(1024, d, seed=d)
    rng = np.random.default_rng(1)
    mean, inv_scale = rng.normal(size=d) * 0.1, 1.0 + rng.random(d)
    g2 = np.zeros(d + 1)
    w, state, _ = run(X, y, batch=batch, lr0=0.1, l2=1e-3, mean=mean, inv_scale=inv_scale,
                      loss_id=loss_id, g2=g2, slices=[100, 517])
    w_ref, b_ref, G, Gb = numpy_adagrad(X, y, batch=batch, lr0=0.1, l2=1e-3, mean=mean,
                                        inv_scale=inv_scale, loss_id=loss_id)
    np.testing.assert_allclose(w, w_ref, rtol=1e-11, atol=1e-13)
    assert state["bias"][0] == pytest.approx(b_ref, rel=1e-11, abs=1e-13)
    np.testing.assert_allclose(g2, np.append(G, Gb), rtol=1e-11)
