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
    sum_dz, sum_loss, _, bad = kernels.gradient_sums(X, y, np.empty(0), w, b, np.zeros(3),
                                                  np.ones(3), loss.kernel_id, grad_w)
    assert bad == -1
    z = X @ w + b
    np.testing.assert_allclose(grad_w, X.T @ loss.dloss_dz(z, y), rtol=1e-12)
    assert sum_dz == pytest.approx(loss.dloss_dz(z, y).sum(), rel=1e-12)
    assert sum_loss == pytest.approx(loss.loss(z, y).sum(), rel=1e-12)


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_branch_free_exp_and_log1p_are_within_an_ulp_of_libm():
    """The kernels' own exp(a <= 0) and log1p(0 <= e <= 1) against libm (math.*)."""
    import math

    from numba import njit

    from streamneuron.kernels.elementary import EXP_FLOOR, exp_nonpositive, log1p_unit

    @njit
    def both(a, e, out_exp, out_log):
        for i in range(a.shape[0]):
            out_exp[i] = exp_nonpositive(a[i])
        for i in range(e.shape[0]):
            out_log[i] = log1p_unit(e[i])

    rng = np.random.default_rng(5)
    a = np.concatenate([-rng.random(200_000) * 745, -rng.random(200_000) * 2,
                        -np.exp(-rng.random(100_000) * 40), [0.0, -0.0, EXP_FLOOR, -1e-300]])
    e = np.concatenate([rng.random(200_000), np.exp(-rng.random(100_000) * 700),
                        [0.0, 1.0, 2.0**-53, math.sqrt(2) - 1, np.nextafter(math.sqrt(2) - 1, 1)]])
    got_exp, got_log = np.empty_like(a), np.empty_like(e)
    both(a, e, got_exp, got_log)
    want_exp = np.array([math.exp(v) for v in a])
    want_log = np.array([math.log1p(v) for v in e])
    normal = a >= EXP_FLOOR
    assert _ulps(got_exp[normal], want_exp[normal]).max() <= 1.0
    # below the floor: e**EXP_FLOOR instead of a subnormal or 0 (< 1e-307 away)
    assert np.abs(got_exp[~normal] - want_exp[~normal]).max() < 1e-307
    assert _ulps(got_log, want_log).max() <= 1.0
    assert got_exp[a == 0.0].tolist() == [1.0, 1.0]  # 0.0 and -0.0
    assert got_log[e == 0.0].tolist() == [0.0] and got_log[e == 1.0].tolist() == [math.log(2)]


def test_scalar_loss_is_stable_far_out_in_both_tails():
    """The kernel's loss and dL/dz from the logit: no overflow at |z| = 1000, and the
    log loss of a confident mistake is |z|, not inf."""
    from numba import njit

    from streamneuron.kernels.common import loss_and_dz_scalar

    @njit
    def pair(loss_id, z, y):
        return loss_and_dz_scalar(loss_id, z, y)

    for z, y, want_loss, want_dz in [(1000.0, 0.0, 1000.0, 1.0), (-1000.0, 1.0, 1000.0, -1.0),
                                     (1000.0, 1.0, 0.0, 0.0), (0.0, 1.0, np.log(2), -0.5)]:
        loss, dz = pair(0, z, y)
        assert loss == pytest.approx(want_loss, rel=1e-15, abs=1e-300)
        assert dz == pytest.approx(want_dz, abs=1e-300)
    for z in (-40.0, -3.0, 0.5, 7.0, 40.0):
        for y in (0.0, 1.0):
            loss, dz = pair(1, z, y)
            assert loss == pytest.approx(float(SquaredError.loss(np.array(z), y)), rel=1e-14)
            assert dz == pytest.approx(float(SquaredError.dloss_dz(np.array(z), y)), rel=1e-13,
                                       abs=1e-300)
