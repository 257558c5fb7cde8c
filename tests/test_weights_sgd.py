"""Row weights, class weights and L1 in SGD, against independent references: a plain
numpy transcription of weighted mini-batch SGD (every step rule, with the cumulative L1
penalty of Tsuruoka et al. 2009), duplicated rows, the unweighted kernel itself, and the
elastic-net optimum of glum."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamneuron.losses import LogLoss
from streamneuron.schedules import ADAGRAD_EPS
from streamneuron.training import OK, StepRule, TrainState

# The step rules, as (schedule, power, adagrad, average) of StepRule.
RULES = {
    "constant": dict(power=0.0),
    "invscaling": dict(power=0.5),
    "adagrad": dict(adagrad=True),
    "averaged": dict(power=0.0, average=3),
}


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def numpy_weighted_sgd(Z, y, rw, orders, *, batch, lr, power=0.0, l2=0.0, l1=0.0,
                       adagrad=False, average=0):
    """Weighted mini-batch SGD, one batch at a time, in float64 numpy (no kernel).

    Each pass visits ``orders[p]`` in batches of ``batch`` rows (the last one short);
    a batch of weight ``W = sum w_i > 0`` steps with ``g = sum w_i dL/dz_i x_i / W + l2 w``
    (the bias: ``sum w_i dL/dz_i / W``), at ``lr_t = lr / (1 + t)**power`` or AdaGrad's
    ``lr / (sqrt(G_j) + eps)``; then the cumulative L1 penalty (``u``: what each weight
    could have been charged, ``q``: what it was). A batch of weight 0 is skipped. The
    average of the iterates from update ``average`` on. Returns the weights, bias,
    updates, average and each pass's objective ``sum w L / sum w + penalties``.
    """
    d = Z.shape[1]
    w, b, t = np.zeros(d), 0.0, 0
    G = np.zeros(d + 1)
    u, q = np.zeros(d), np.zeros(d)
    avg_w, avg_b, k = np.zeros(d), 0.0, 0
    objectives = []
    for order in orders:
        loss_sum = weight_sum = 0.0
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            Xb, yb, wb = Z[idx], y[idx], rw[idx]
            z = Xb @ w + b
            loss_sum += float(wb @ (np.logaddexp(0.0, z) - yb * z))
            weight_sum += float(wb.sum())
            W = wb.sum()
            if W == 0:
                continue
            dz = (_sigmoid(z) - yb) * wb
            gw = Xb.T @ dz / W + l2 * w
            gb = dz.sum() / W
            if adagrad:
                G[:d] += gw * gw
                G[d] += gb * gb
                rates = lr / (np.sqrt(G) + ADAGRAD_EPS)
                w = w - rates[:d] * gw
                b = b - rates[d] * gb
                rate = rates[:d]
            else:
                rate = lr / (1.0 + t) ** power
                w = w - rate * gw
                b = b - rate * gb
            if l1 > 0:
                u = u + rate * l1
                before = w.copy()
                w = np.where(w > 0, np.maximum(0.0, w - (u + q)),
                             np.where(w < 0, np.minimum(0.0, w + (u - q)), w))
                q = q + (w - before)
            t += 1
            if 0 < average <= t:
                k += 1
                avg_w = avg_w + (w - avg_w) / k
                avg_b = avg_b + (b - avg_b) / k
        objectives.append(loss_sum / weight_sum + 0.5 * l2 * w @ w + l1 * np.abs(w).sum())
    return dict(w=w, b=b, t=t, avg_w=avg_w, avg_b=avg_b, k=k, objectives=objectives)


def kernel_sgd(X, y, rw, orders, rule: StepRule, mean, inv_scale, *, cuts=(), state=None):
    """The same through TrainState: each pass one block (rows in ``orders[p]``), trained
    in calls cut at ``cuts``, then ``finish_pass``. ``rw`` None: unweighted."""
    state = state or TrainState.start(np.zeros(X.shape[1]))
    objectives = []
    for order in orders:
        labels = y[order]
        weights = None if rw is None else rw[order]
        edges = [0, *sorted(c for c in cuts if 0 < c < len(order)), len(order)]
        for start, stop in zip(edges[:-1], edges[1:]):
            pos, status = state.train_block(X, labels, rule, mean, inv_scale, order=order,
                                            start=start, stop=stop, row_weights=weights)
            assert (pos, status) == (stop, OK)
        objectives.append(state.finish_pass(rule)[1])
    return state, objectives


def _problem(n=203, d=11, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d)
    mean, scale = X.mean(0), X.std(0)
    Z = (X - mean) / scale
    y = (rng.random(n) < _sigmoid(Z @ rng.normal(size=d) + 0.3)).astype(np.float64)
    rw = rng.choice([0.0, 0.25, 1.0, 2.0, 3.5], size=n)
    orders = [rng.permutation(n) for _ in range(3)]
    return X, Z, y, rw, orders, mean, 1.0 / scale


@pytest.mark.parametrize("l1", [0.0, 0.02])
@pytest.mark.parametrize("batch", [1, 7, 32])
@pytest.mark.parametrize("name", list(RULES))
def test_weighted_sgd_equals_the_numpy_transcription(name, batch, l1):
    X, Z, y, rw, orders, mean, inv_scale = _problem()
    rw[orders[0][:batch]] = 0.0  # the first batch weighs nothing: no step
    spec = RULES[name]
    lr = 0.3 if spec.get("adagrad") else 0.1
    rule = StepRule(0, batch, lr, spec.get("power", 0.0), 1e-3, spec.get("average", 0),
                    spec.get("adagrad", False), l1)
    want = numpy_weighted_sgd(Z, y, rw, orders, batch=batch, lr=lr, l2=1e-3, l1=l1, **spec)
    state, objectives = kernel_sgd(X, y, rw, orders, rule, mean, inv_scale, cuts=(5, 64, 150))
    assert state.updates == want["t"]
    np.testing.assert_allclose(state.weights, want["w"], rtol=1e-12, atol=1e-13)
    assert state.bias == pytest.approx(want["b"], rel=1e-12, abs=1e-13)
    np.testing.assert_allclose(objectives, want["objectives"], rtol=1e-12)
    if spec.get("average"):
        assert state.avg_count == want["k"]
        np.testing.assert_allclose(state.avg_w, want["avg_w"], rtol=1e-12, atol=1e-13)
    if l1:
        assert (state.weights == 0.0).any()  # exact zeros


@pytest.mark.parametrize("batch", [1, 5, 64])
@pytest.mark.parametrize("name", list(RULES))
def test_weights_all_one_are_the_unweighted_run_bit_for_bit(name, batch):
    # Bit for bit: a weight of 1.0 multiplies exactly, and the batch's weight (a sum of
    # ones) is the row count the unweighted step divides by.
    X, Z, y, rw, orders, mean, inv_scale = _problem(seed=1)
    spec = RULES[name]
    rule = StepRule(0, batch, 0.1, spec.get("power", 0.0), 1e-3, spec.get("average", 0),
                    spec.get("adagrad", False))
    plain, plain_obj = kernel_sgd(X, y, None, orders, rule, mean, inv_scale, cuts=(9, 100))
    ones, ones_obj = kernel_sgd(X, y, np.ones(len(y)), orders, rule, mean, inv_scale,
                                cuts=(9, 100))
    for name_ in ("weights", "avg_w", "g2"):
        assert np.array_equal(getattr(plain, name_), getattr(ones, name_))
    assert (plain.bias, plain.updates, plain_obj) == (ones.bias, ones.updates, ones_obj)


def test_integer_weights_equal_duplicated_rows_in_a_full_batch_step():
    # One batch per pass (gradient descent): the weighted mean gradient is the mean
    # gradient of the rows repeated by their weights.
    X, Z, y, rw, orders, mean, inv_scale = _problem(n=60, seed=2)
    counts = np.random.default_rng(3).integers(0, 4, size=len(y))
    rule = StepRule(0, 1000, 0.5, 0.0, 1e-2)
    weighted, _ = kernel_sgd(X, y, counts.astype(np.float64), [np.arange(len(y))] * 5, rule,
                             mean, inv_scale)
    Xr, yr = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    repeated, _ = kernel_sgd(Xr, yr, None, [np.arange(len(yr))] * 5, rule, mean, inv_scale)
    np.testing.assert_allclose(weighted.weights, repeated.weights, rtol=1e-12, atol=1e-14)
    assert weighted.bias == pytest.approx(repeated.bias, rel=1e-12)


def test_a_batch_of_zero_weight_takes_no_step_and_is_no_update():
    X, Z, y, rw, orders, mean, inv_scale = _problem(n=40, seed=4)
    for batch in (1, 8):
        rule = StepRule(0, batch, 0.1)
        state, objectives = kernel_sgd(X, y, np.zeros(len(y)), orders[:1], rule, mean,
                                       inv_scale)
        assert state.updates == 0 and not state.weights.any() and state.bias == 0.0
        assert np.isnan(objectives[0])  # no weight: no mean loss
        # and max_updates counts only real steps
        state = TrainState.start(np.zeros(X.shape[1]))
        w = np.ones(len(y))
        w[:2 * batch] = 0.0
        pos, status = state.train_block(X, y, rule, mean, inv_scale, max_updates=1,
                                        row_weights=w)
        assert state.updates == 1 and pos == 3 * batch


def _through_json(state: TrainState) -> TrainState:
    return TrainState.from_dict(json.loads(json.dumps(state.to_dict())), state.weights.copy())


@pytest.mark.parametrize("name", list(RULES))
def test_a_state_saved_mid_batch_resumes_bit_exact_with_weights_and_l1(name):
    X, Z, y, rw, orders, mean, inv_scale = _problem(seed=5)
    spec = RULES[name]
    rule = StepRule(0, 16, 0.1, spec.get("power", 0.0), 1e-3, spec.get("average", 0),
                    spec.get("adagrad", False), 0.01)
    whole, whole_obj = kernel_sgd(X, y, rw, orders, rule, mean, inv_scale)
    # The same run, saved and restored (through JSON) mid-batch after row 77 of pass 2.
    state, first = kernel_sgd(X, y, rw, orders[:1], rule, mean, inv_scale)
    order = orders[1]
    state.train_block(X, y[order], rule, mean, inv_scale, order=order, stop=77,
                      row_weights=rw[order])
    assert not state.at_boundary
    state = _through_json(state)
    state.train_block(X, y[order], rule, mean, inv_scale, order=order, start=77,
                      row_weights=rw[order])
    second = state.finish_pass(rule)[1]
    state, third = kernel_sgd(X, y, rw, orders[2:], rule, mean, inv_scale, state=state)
    for field in ("weights", "avg_w", "g2", "l1_u", "l1_q"):
        assert np.array_equal(getattr(state, field), getattr(whole, field)), field
    assert (state.bias, state.updates) == (whole.bias, whole.updates)
    assert first + [second] + third == whole_obj
