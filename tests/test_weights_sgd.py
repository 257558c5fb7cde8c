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
    orders = [rng.permutation(n).astype(np.int32) for _ in range(3)]  # as stream.block_order
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
    in_order = [np.arange(len(y), dtype=np.int32)] * 5  # (int32, as stream.block_order)
    weighted, _ = kernel_sgd(X, y, counts.astype(np.float64), in_order, rule, mean, inv_scale)
    Xr, yr = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    repeated, _ = kernel_sgd(Xr, yr, None, [np.arange(len(yr), dtype=np.int32)] * 5, rule, mean,
                             inv_scale)
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


# -- the engine (fit_sgd) on files with a weight column -----------------------------------

import h5py  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import streamneuron as sn  # noqa: E402
from streamneuron.stream import block_order, block_rows, epoch_plan, held_out  # noqa: E402


def _weighted_table(seed=0, n_groups=6):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 160, size=n_groups)
    n = int(sizes.sum())
    X = rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -1.0, 2.0]
    y = (rng.random(n) < _sigmoid(X @ [1.0, -0.5, 2.0, 0.3] - 1.0)).astype(np.int8)
    w = rng.choice([0.0, 0.5, 1.0, 2.0, 3.0], size=n)
    return X, y, w, sizes


def _parquet(folder, X, y, w, sizes):
    path = folder / "weighted.parquet"
    table = pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y, "w": w})
    pq.write_table(table, path, row_group_size=int(sizes.max()))
    # uneven row groups: write them one by one
    with pq.ParquetWriter(path, table.schema) as writer:
        start = 0
        for size in sizes:
            writer.write_table(table.slice(start, int(size)))
            start += int(size)
    return str(path)


def _hdf5(folder, X, y, w):
    path = folder / "weighted.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=X, chunks=(53, X.shape[1]))
        f.create_dataset("y", data=y, chunks=(53,))
        f.create_dataset("w", data=w, chunks=(53,))
    return str(path)


@pytest.fixture(params=["parquet", "hdf5"])
def weighted_file(request, tmp_path):
    X, y, w, sizes = _weighted_table()
    path = _parquet(tmp_path, X, y, w, sizes) if request.param == "parquet" else \
        _hdf5(tmp_path, X, y, w)
    return path, X, y.astype(np.float64), w


def _stream_orders(source, epochs, seed, shuffle=True):
    """Each epoch's row order: the stream's documented plan (units permuted, then the
    rows of each block)."""
    orders = []
    for epoch in range(epochs):
        plan = epoch_plan(len(source.units), seed=seed, epoch=epoch, shuffle=shuffle)
        parts = []
        for k, units in enumerate(plan):
            rows = block_rows(source, units)
            perm = block_order(len(rows), seed=seed, epoch=epoch, block=k, shuffle=shuffle)
            parts.append(rows[perm] if perm.size else rows)
        orders.append(np.concatenate(parts))
    return orders


def _weighted_std(X, c):
    mean = np.average(X, axis=0, weights=c)
    return mean, np.sqrt(np.average((X - mean) ** 2, axis=0, weights=c))


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 0.25, 1: 3.0}])
def test_fit_sgd_with_a_weight_column_equals_the_numpy_transcription(weighted_file,
                                                                      class_weight):
    from sklearn.utils.class_weight import compute_class_weight

    path, X, y, w = weighted_file
    factors = {None: (1.0, 1.0), "balanced": tuple(compute_class_weight(
        "balanced", classes=np.array([0.0, 1.0]), y=y)), 1: (0.25, 3.0)}[
        class_weight if not isinstance(class_weight, dict) else 1]
    c = w * np.where(y == 1, factors[1], factors[0])
    with sn.open_source(path, weight="w") as source:
        orders = _stream_orders(source, 3, seed=4)
    model = sn.fit_sgd(path, weight="w", class_weight=class_weight, batch_size=13, epochs=3,
                       lr=0.2, l2=1e-3, seed=4, schedule="invscaling")
    if class_weight is not None:
        np.testing.assert_allclose(model.info["class_weights"], factors, rtol=1e-15)
    mean, scale = _weighted_std(X, c)  # the standardization is weighted too
    np.testing.assert_allclose(model.mean, mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.scale, scale, rtol=1e-12)
    Z = (X - model.mean) / model.scale
    want = numpy_weighted_sgd(Z, y, c, orders, batch=13, lr=0.2, power=0.5, l2=1e-3)
    np.testing.assert_allclose(model.weights, want["w"], rtol=1e-11, atol=1e-13)
    assert model.bias == pytest.approx(want["b"], rel=1e-11)
    assert model.updates == want["t"]
    np.testing.assert_allclose([h["objective"] for h in model.info["history"]],
                               want["objectives"], rtol=1e-11)


def test_held_out_validation_is_weighted(weighted_file):
    path, X, y, w = weighted_file
    model = sn.fit_sgd(path, weight="w", batch_size=16, epochs=2, lr=0.1, seed=1,
                       validation_fraction=0.3, class_weight={0: 2.0, 1: 1.0})
    held = held_out(np.arange(len(y)), 0.3, 1)
    c = (w * np.where(y == 1, 1.0, 2.0))[held]
    z = (X[held] - model.mean) / model.scale @ model.weights + model.bias
    loss = np.logaddexp(0.0, z) - y[held] * z
    row = model.info["history"][-1]
    assert row["val_log_loss"] == pytest.approx(np.average(loss, weights=c), rel=1e-12)
    assert row["val_accuracy"] == pytest.approx(
        np.average((z >= 0) == (y[held] == 1), weights=c), rel=1e-12)


def test_a_source_of_zero_weight_is_a_data_error(tmp_path):
    X, y, w, sizes = _weighted_table(seed=2)
    path = _parquet(tmp_path, X, y, np.zeros_like(w), sizes)
    with pytest.raises(sn.DataError, match=r"weighted.parquet.*weights of every row are 0"):
        sn.fit_sgd(path, weight="w", standardize=False, epochs=2)


class Crash(Exception):
    pass


def _crash_after(calls):
    count = [0]

    def progress(rows, loss):
        count[0] += 1
        if count[0] == calls:
            raise Crash

    return progress


@pytest.mark.parametrize("config", [
    dict(batch_size=7, l1=0.1, class_weight="balanced"),
    dict(batch_size=40, l1=0.1, schedule="adagrad", lr=0.5, average=5),
])
def test_checkpoint_resume_is_bit_exact_with_weights_and_l1(weighted_file, tmp_path, config):
    path = weighted_file[0]
    kwargs = dict(weight="w", epochs=3, seed=5, **config)
    reference = sn.fit_sgd(path, **kwargs)
    ck = str(tmp_path / "ck")
    resume, crashes = False, 0
    while True:
        try:
            model = sn.fit_sgd(path, checkpoint=ck, resume=resume, checkpoint_every=3,
                               progress=_crash_after(2) if crashes < 3 else None, **kwargs)
            break
        except Crash:
            crashes, resume = crashes + 1, True
    assert crashes == 3
    assert np.array_equal(model.weights, reference.weights)
    assert model.bias == reference.bias
    def timeless(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert timeless(model.info["history"]) == timeless(reference.info["history"])
    assert model.info["nonzero"] == reference.info["nonzero"]


# -- L1: exact zeros, and the elastic-net optimum ------------------------------------------


def test_l1_sgd_gives_exact_zeros_near_the_elastic_net_optimum():
    # Standardized breast_cancer, l1 = 1e-2, l2 = 1e-4; the optimum of
    # mean log loss + (l2/2)||w||^2 + l1 ||w||_1 from glum (binomial deviance / 2 is the
    # log loss; alpha * l1_ratio = l1, alpha * (1 - l1_ratio) = l2). It takes AdaGrad
    # (lr 0.5, batch 32) 50 epochs to come within 1% (0.4-0.5% over seeds); a constant
    # or invscaling step lands 2-5% above in as many epochs.
    from glum import GeneralizedLinearRegressor
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Z = StandardScaler().fit_transform(X)
    l1, l2 = 1e-2, 1e-4

    def objective(w, b):
        z = Z @ w + b
        return np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w + l1 * np.abs(w).sum()

    ref = GeneralizedLinearRegressor(family="binomial", alpha=l1 + l2, l1_ratio=l1 / (l1 + l2),
                                     gradient_tol=1e-12, max_iter=10_000).fit(Z, y)
    best = objective(ref.coef_, ref.intercept_)
    model = sn.fit_sgd((Z, y), standardize=False, l1=l1, l2=l2, schedule="adagrad", lr=0.5,
                       batch_size=32, epochs=50, seed=0)
    assert objective(model.weights, model.bias) <= 1.01 * best
    zeros = model.weights == 0.0
    assert model.info["nonzero"] == np.count_nonzero(~zeros)
    assert zeros.sum() >= 15  # of 30; the optimum has 20
    assert not (zeros & (ref.coef_ != 0)).any()  # every zero is a zero of the optimum


# -- Neuron.partial_fit and NeuronClassifier -----------------------------------------------


def test_neuron_partial_fit_takes_one_weighted_step_then_the_l1_proximal_step():
    X, Z, y, rw, orders, mean, inv_scale = _problem(n=50, d=5, seed=6)
    neuron = sn.Neuron(5)
    neuron.weights[:] = [0.3, -0.2, 0.001, -0.0005, 1.0]
    neuron.bias = 0.1
    w0, b0 = neuron.weights.copy(), neuron.bias
    neuron.partial_fit(Z, y, lr=0.5, l2=0.01, l1=0.2, sample_weight=rw)
    dz = (_sigmoid(Z @ w0 + b0) - y) * rw
    w = w0 - 0.5 * (Z.T @ dz / rw.sum() + 0.01 * w0)
    w = np.sign(w) * np.maximum(0.0, np.abs(w) - 0.5 * 0.2)
    np.testing.assert_allclose(neuron.weights, w, rtol=1e-13, atol=1e-16)
    assert neuron.bias == pytest.approx(b0 - 0.5 * dz.sum() / rw.sum(), rel=1e-13)
    assert (neuron.weights == 0.0).any() and (w == 0.0).any() and neuron.updates == 1
    neuron.partial_fit(Z, y, sample_weight=np.zeros(len(y)))  # weighs nothing: no step
    assert neuron.updates == 1
    with pytest.raises(sn.DataError, match=r"sample_weight\[3\] is -1.0"):
        neuron.partial_fit(Z, y, sample_weight=np.r_[np.ones(3), -1.0, np.ones(46)])


def _labelled(n=120, seed=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 4.0, 0.2] + [2.0, -1.0, 0.0]
    y = np.where(rng.random(n) < _sigmoid(X[:, 0] - X[:, 1] - 4.0), "yes", "no")
    return X, y


def test_classifier_balanced_class_weight_is_sklearns_compute_class_weight():
    from sklearn.utils.class_weight import compute_class_weight

    X, y = _labelled()
    classes = np.array(["no", "yes"])
    factors = compute_class_weight("balanced", classes=classes, y=y)
    assert factors[0] != factors[1]
    balanced = sn.NeuronClassifier(solver="sgd", class_weight="balanced",
                                   random_state=0).fit(X, y)
    explicit = sn.NeuronClassifier(solver="sgd", random_state=0).fit(
        X, y, sample_weight=np.where(y == "yes", factors[1], factors[0]))
    by_dict = sn.NeuronClassifier(class_weight={"no": factors[0], "yes": factors[1]},
                                  solver="sgd", random_state=0).fit(X, y)
    for other in (explicit, by_dict):
        assert np.array_equal(balanced.coef_, other.coef_)
        assert np.array_equal(balanced.intercept_, other.intercept_)
    unweighted = sn.NeuronClassifier(solver="sgd", random_state=0).fit(X, y)
    assert not np.array_equal(balanced.coef_, unweighted.coef_)
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        sn.NeuronClassifier(class_weight="balanced").partial_fit(X, y, classes=classes)


def test_classifier_integer_weights_equal_repeated_rows_and_zero_weights_absent_rows():
    # A batch holding every row (gradient descent), shuffled or not: integer weights are
    # the rows repeated (the standardization too), a weight of 0 the row left out.
    X, y = _labelled(n=90, seed=8)
    counts = np.random.default_rng(9).integers(0, 4, size=len(y))
    kwargs = dict(solver="sgd", batch_size=500, epochs=40, lr=0.5, l1=1e-3)
    weighted = sn.NeuronClassifier(**kwargs).fit(X, y, sample_weight=counts)
    repeated = sn.NeuronClassifier(**kwargs).fit(np.repeat(X, counts, axis=0),
                                                 np.repeat(y, counts))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-10)
    np.testing.assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale_, repeated.scale_, rtol=1e-12)


def test_classifier_l1_gives_zeros_and_partial_fit_continues_its_sums():
    X, y = _labelled(n=200, seed=10)
    X = np.column_stack([X, np.random.default_rng(11).normal(size=(200, 4))])  # noise
    kwargs = dict(solver="sgd", l1=0.02, batch_size=16, lr=0.2, random_state=3, standardize=False)
    whole = sn.NeuronClassifier(epochs=6, **kwargs).fit(X, y)
    assert (whole.coef_ == 0.0).sum() >= 3
    parts = sn.NeuronClassifier(epochs=6, **kwargs)
    for _ in range(6):
        parts.partial_fit(X, y, classes=["no", "yes"])
    assert np.array_equal(parts.coef_, whole.coef_)
    assert parts.loss_curve_ == whole.loss_curve_


def test_a_checkpoint_of_format_3_is_refused_clearly(tmp_path, weighted_file):
    # Format 3 (before row weights and L1) is refused, not read with defaults: its
    # parameters lack l1, class_weight and weight, so the resume could not be checked.
    from streamneuron import checkpoint as ckpt

    ck = tmp_path / "ck"
    ck.mkdir()
    payload = {"state": {"bias": 0.0}, "params": {}}
    record = {"kind": ckpt.KIND, "version": 3, "sha256": ckpt._digest(payload),
              "payload": payload}
    (ck / ckpt.CURRENT).write_text(json.dumps(record))
    with pytest.raises(sn.CheckpointError, match=r"checkpoint format 3.*older version.*"
                                                 r"format 4 only.*start afresh"):
        sn.fit_sgd(weighted_file[0], weight="w", checkpoint=str(ck), resume=True)
