"""The math module against finite differences and plain formulas."""

import numpy as np
import pytest

from streamneuron import kernels
from streamneuron.losses import LogLoss, SquaredError, gradient, objective, sigmoid


@pytest.mark.parametrize("loss", [LogLoss, SquaredError])
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_gradient_matches_central_finite_differences(loss, l2):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50).astype(float)
    w, b = rng.normal(size=4), 0.3
    gw, gb = gradient(loss, X, y, w, b, l2)
    h = 1e-6
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        fd = (objective(loss, X, y, w + e, b, l2) - objective(loss, X, y, w - e, b, l2)) / (2 * h)
        assert gw[j] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    fd_b = (objective(loss, X, y, w, b + h, l2) - objective(loss, X, y, w, b - h, l2)) / (2 * h)
    assert gb == pytest.approx(fd_b, rel=1e-6, abs=1e-9)


def test_log_loss_is_the_textbook_formula_and_stable():
    z = np.array([-3.0, -0.5, 0.0, 2.0, 4.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    p = 1 / (1 + np.exp(-z))
    textbook = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(LogLoss.loss(z, y), textbook, rtol=1e-12)
    # far logits: the clipped-p formula gives inf or 0; from the logit it is exact
    big = np.array([800.0, -800.0])
    np.testing.assert_allclose(LogLoss.loss(big, np.array([0.0, 1.0])), [800.0, 800.0])
    np.testing.assert_allclose(LogLoss.loss(big, np.array([1.0, 0.0])), [0.0, 0.0], atol=1e-300)
    assert np.all(np.isfinite(sigmoid(np.array([-1e4, 1e4]))))


def test_mse_is_the_articles_half_squared_error():
    z = np.linspace(-4, 4, 9)
    y = (z > 0).astype(float)
    p = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(SquaredError.loss(z, y), 0.5 * (p - y) ** 2, rtol=1e-12)
    np.testing.assert_allclose(SquaredError.dloss_dz(z, y), (p - y) * p * (1 - p), rtol=1e-12)


@pytest.mark.parametrize("loss", [LogLoss, SquaredError])
def test_scalar_kernel_math_equals_array_math(loss):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 2, 30).astype(float)
    w, b = rng.normal(size=3), -0.2
    grad_w = np.zeros(3)
    sum_dz, sum_loss, bad = kernels.gradient_sums(X, y, w, b, np.zeros(3), np.ones(3),
                                                  loss.kernel_id, grad_w)
    assert bad == -1
    z = X @ w + b
    np.testing.assert_allclose(grad_w, X.T @ loss.dloss_dz(z, y), rtol=1e-12)
    assert sum_dz == pytest.approx(loss.dloss_dz(z, y).sum(), rel=1e-12)
    assert sum_loss == pytest.approx(loss.loss(z, y).sum(), rel=1e-12)
