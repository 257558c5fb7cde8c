"""The SGD pass policy, the one of every trainer (fit_sgd's engine, NeuronClassifier's
SGD, Neuron.partial_fit), against a plain numpy transcription of the steps; the
schedules' registry (the decay apart from the step rule); the model's public
standardization arrays and its loss from the metrics, against numpy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

import streamneuron as sn
from streamneuron.losses import LOSSES
from streamneuron.metrics import StreamingMetrics
from streamneuron.schedules import ADAGRAD_EPS, SCHEDULES


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def numpy_adagrad(X, y, *, batch, lr, passes, average_each_pass):
    """AdaGrad over the rows in file order, ``batch`` rows per step (the last one short),
    in float64 numpy: ``G += g**2``, ``w -= lr g / (sqrt(G) + eps)`` (the bias likewise).
    With ``average_each_pass`` the model is the mean of the last pass's iterates."""
    n, d = X.shape
    w, b, G = np.zeros(d), 0.0, np.zeros(d + 1)
    for _ in range(passes):
        iterates = []
        for s in range(0, n, batch):
            Xb, yb = X[s:s + batch], y[s:s + batch]
            dz = _sigmoid(Xb @ w + b) - yb
            g = np.append(Xb.T @ dz, dz.sum()) / len(yb)
            G += g * g
            step = lr * g / (np.sqrt(G) + ADAGRAD_EPS)
            w, b = w - step[:d], b - step[d]
            iterates.append(np.append(w, b))
    model = np.mean(iterates, axis=0) if average_each_pass else np.append(w, b)
    return model[:d], model[d]


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(203, 5))
    y = (rng.random(203) < _sigmoid(X @ rng.normal(size=5) - 0.2)).astype(np.float64)
    return X, y


def test_auto_averages_each_pass_afresh_in_the_engine_and_the_estimator(problem):
    """schedule "auto": AdaGrad's steps at lr 1.0, the model the mean of the last pass's
    iterates; the engine and the estimator follow the same policy."""
    X, y = problem
    want_w, want_b = numpy_adagrad(X, y, batch=4, lr=1.0, passes=3, average_each_pass=True)
    model = sn.fit_sgd((X, y), batch_size=4, epochs=3, shuffle=False, standardize=False,
                       l2=0.0)
    assert model.info["params"]["lr"] == 1.0
    np.testing.assert_allclose(model.weights, want_w, rtol=1e-9, atol=1e-12)
    assert model.bias == pytest.approx(want_b, rel=1e-9, abs=1e-12)
    clf = sn.NeuronClassifier(solver="sgd", batch_size=4, epochs=3, shuffle=False,
                              standardize=False, l2=0.0).fit(X, y)
    np.testing.assert_allclose(clf.coef_[0], want_w, rtol=1e-9, atol=1e-12)
    assert clf.intercept_[0] == pytest.approx(want_b, rel=1e-9, abs=1e-12)


def test_adagrad_is_the_same_steps_returning_the_last_iterate(problem):
    X, y = problem
    want_w, want_b = numpy_adagrad(X, y, batch=4, lr=1.0, passes=3, average_each_pass=False)
    model = sn.fit_sgd((X, y), batch_size=4, epochs=3, lr=1.0, schedule="adagrad",
                       shuffle=False, standardize=False, l2=0.0)
    np.testing.assert_allclose(model.weights, want_w, rtol=1e-9, atol=1e-12)
    assert model.bias == pytest.approx(want_b, rel=1e-9, abs=1e-12)
    # the same step rule, told apart by what the trainers do around it
    assert SCHEDULES["auto"].adagrad and SCHEDULES["adagrad"].adagrad
    assert SCHEDULES["auto"] != SCHEDULES["adagrad"]
    assert sn.fit_sgd((X, y), batch_size=4, epochs=1, schedule="adagrad",
                      standardize=False).info["params"]["lr"] == 0.1


def test_neuron_partial_fit_is_one_plain_step(problem):
    """One averaged-gradient step over the batch, then L1's soft threshold (numpy)."""
    X, y = problem
    neuron = sn.Neuron(5)
    neuron.weights = np.linspace(-0.3, 0.3, 5)
    w0 = neuron.weights.copy()
    neuron.partial_fit(X, y, lr=0.5, l2=0.1, l1=0.05)
    dz = _sigmoid(X @ w0) - y
    w = w0 - 0.5 * (X.T @ dz / len(y) + 0.1 * w0)
    w = np.sign(w) * np.maximum(0.0, np.abs(w) - 0.5 * 0.05)
    np.testing.assert_allclose(neuron.weights, w, rtol=1e-12, atol=1e-15)
    assert neuron.bias == pytest.approx(-0.5 * dz.mean(), rel=1e-12)
    assert neuron.updates == 1


def test_center_and_inv_scale_are_what_the_logit_uses(problem):
    X, y = problem
    mean, scale = X.mean(0), X.std(0)
    model = sn.Neuron(5, standardize=(mean, scale))
    model.weights, model.bias = np.arange(1.0, 6.0), -0.5
    assert np.array_equal(model.center, mean) and np.allclose(model.inv_scale, 1 / scale)
    np.testing.assert_allclose(model.decision_function(X),
                               (X - mean) / scale @ model.weights - 0.5, rtol=1e-12)
    raw = sn.Neuron(5)
    assert np.array_equal(raw.center, np.zeros(5)) and np.array_equal(raw.inv_scale, np.ones(5))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_loss_reads_its_mean_from_the_metrics(problem, name):
    from sklearn.metrics import log_loss

    X, y = problem
    z = X @ np.array([0.4, -1.0, 0.2, 0.0, 0.7]) + 0.1
    p = _sigmoid(z)
    metrics = StreamingMetrics()
    metrics.update(p, y, logit=z)
    want = log_loss(y, p) if name == "log" else 0.5 * np.mean((p - y) ** 2)
    assert LOSSES[name].from_metrics(metrics.result()) == pytest.approx(want, rel=1e-12)
