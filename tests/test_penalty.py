"""The penalty (``streamneuron.penalty``), the solvers' shared pieces
(``streamneuron.fullpass.iteration``), the Newton directions and the typed stop reason,
each against an independent reference: finite differences, scipy's scalar minimiser,
numpy's linear solve, the optimality conditions of the model, a step found by hand.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import streamneuron as sn
from streamneuron.fullpass.iteration import ARMIJO_C1, Trace, line_search
from streamneuron.fullpass.solvers import cholesky_direction, proximal_direction
from streamneuron.fullpass.sums import Evaluation
from streamneuron.penalty import Penalty
from streamneuron.stop import StopReason

RNG = np.random.default_rng(7)
W = np.array([0.7, -1.3, 0.0, 2.5, 0.0, -0.05])


def _numeric_gradient(f, w, h=1e-6):
    out = np.empty_like(w)
    for j in range(w.shape[0]):
        e = np.zeros_like(w)
        e[j] = h
        out[j] = (f(w + e) - f(w - e)) / (2 * h)
    return out


def test_value_is_the_formula_and_the_order_of_the_terms():
    p = Penalty(l2=0.3, l1=0.2)
    expected = 0.5 * 0.3 * np.sum(W ** 2) + 0.2 * np.sum(np.abs(W))
    assert p.l2_value(W) + p.l1_value(W) == pytest.approx(expected, rel=1e-15)
    mean_loss = 0.61
    # (mean + L2) + L1, the L1 term only when l1 > 0: the same bits as the plain sum.
    assert p.objective(mean_loss, W) == (mean_loss + 0.5 * 0.3 * float(W @ W)) \
        + 0.2 * float(np.abs(W).sum())
    assert Penalty(l2=0.3).objective(mean_loss, W) == mean_loss + 0.5 * 0.3 * float(W @ W)
    assert Penalty().zero and not Penalty(l1=1e-9).zero and not Penalty(l2=1e-9).zero


def test_l2_gradient_and_curvature_against_finite_differences():
    p = Penalty(l2=0.37)
    w = RNG.normal(size=5)
    assert np.allclose(p.l2_gradient(w), _numeric_gradient(p.l2_value, w), atol=1e-8)
    hessian = np.zeros((6, 6))  # weights and a bias, bias last
    p.add_l2_curvature(hessian[:5, :5])
    numeric = np.array([_numeric_gradient(lambda v: p.l2_gradient(v)[j], w) for j in range(5)])
    assert np.allclose(hessian[:5, :5], numeric, atol=1e-8)
    assert np.all(hessian[5] == 0.0) and np.all(hessian[:, 5] == 0.0)  # the bias: none


def test_prox_is_the_minimiser_of_the_proximal_problem():
    """prox(u, t) = argmin_v (v - u)**2 / 2 + t l1 |v|, coordinate by coordinate."""
    p = Penalty(l1=0.4)
    u = np.array([1.5, -0.3, 0.39, -2.0, 0.0, 0.41])
    step = 1.0
    got = p.prox(u, step)
    for j, uj in enumerate(u):
        ref = minimize_scalar(lambda v: 0.5 * (v - uj) ** 2 + step * 0.4 * abs(v),
                              bounds=(-5, 5), method="bounded", options={"xatol": 1e-12}).x
        assert got[j] == pytest.approx(ref, abs=1e-8)
    assert np.all(got[np.abs(u) <= 0.4] == 0.0)  # exact zeros


def test_pseudo_gradient_is_the_one_sided_derivatives_of_the_objective():
    """For F(w) = q(w) + l1 ||w||_1: where w_j != 0 the derivative; at w_j = 0 the right
    derivative if F falls to the right, the left one if it falls to the left, else 0."""
    l1 = 0.5
    c = np.array([0.2, -0.1, 0.9, 0.3, -0.7, 0.1])  # q(w) = ||w - c||**2 / 2 ... + a shift
    shift = np.array([0.0, 0.0, 0.3, 0.0, -0.2, 0.0])

    def F(w):
        return 0.5 * np.sum((w - c) ** 2) + float(shift @ w) + l1 * np.sum(np.abs(w))

    g = W - c + shift  # the gradient of the smooth part
    pg = Penalty(l1=l1).pseudo_gradient(g, W)
    h = 1e-7
    for j in range(W.shape[0]):
        e = np.zeros_like(W)
        e[j] = h
        right = (F(W + e) - F(W)) / h
        left = (F(W) - F(W - e)) / h
        if W[j] != 0.0:
            ref = right
        else:
            ref = right if right < 0 else left if left > 0 else 0.0
        assert pg[j] == pytest.approx(ref, abs=1e-5), j


def _quadratic_evaluation(d=5, seed=3):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d + 1, d + 1))
    H = A @ A.T + (d + 1) * np.eye(d + 1)
    theta = rng.normal(size=d + 1)
    theta[1] = theta[3] = 0.0
    g = rng.normal(size=d + 1)
    return Evaluation(theta, 1.0, g, H)


def test_cholesky_direction_is_the_newton_step():
    ev = _quadratic_evaluation()
    direction = cholesky_direction(ev, Penalty(), threshold=0.0)
    ref = -np.linalg.solve(ev.hessian, ev.gradient)
    assert np.allclose(direction.step, ref, rtol=1e-12)
    assert direction.decrement == pytest.approx(
        np.sqrt(ev.gradient @ np.linalg.solve(ev.hessian, ev.gradient)), rel=1e-12)


def test_proximal_direction_meets_the_models_optimality_conditions():
    """d minimises g.d + d'Hd/2 + l1 ||w + d||_1 (bias free): at v = w + d, r = g + Hd,
    r_j = -l1 sign(v_j) where v_j != 0, |r_j| <= l1 where v_j = 0, r = 0 for the bias."""
    ev = _quadratic_evaluation()
    l1 = 0.8
    direction = proximal_direction(ev, Penalty(l1=l1), threshold=1e-14)
    d = direction.step
    v = ev.theta + d
    r = ev.gradient + ev.hessian @ d
    tol = 1e-4  # the inner coordinate descent stops at a relative 1e-8 of the model
    assert abs(r[-1]) < tol
    for j in range(v.shape[0] - 1):
        if v[j] != 0.0:
            assert r[j] == pytest.approx(-l1 * np.sign(v[j]), abs=tol)
        else:
            assert abs(r[j]) <= l1 + tol
    model = float(ev.gradient @ d + 0.5 * d @ ev.hessian @ d
                  + l1 * (np.abs(v[:-1]).sum() - np.abs(ev.theta[:-1]).sum()))
    assert direction.model == pytest.approx(model, rel=1e-9)
    assert 0 < np.count_nonzero(v[:-1] == 0.0)  # the penalty made zeros


def test_line_search_backtracks_to_the_first_armijo_point():
    """f(x) = x**2 from x = 1 along d = -4 (slope -8): t = 1 gives 9, t = 1/2 gives 1
    (not below 1 - 8 c1 / 2), t = 1/4 gives 0: accepted."""
    def evaluate(x, curvature):
        return Evaluation(np.append(x, 0.0), float(x[0] ** 2), np.append(2 * x, 0.0))

    x0 = np.array([1.0])
    trial = line_search(evaluate, Penalty(), lambda t: x0 + t * -4.0,
                        lambda t, x: 1.0 + ARMIJO_C1 * t * -8.0, curvature=False)
    assert trial.t == 0.25 and trial.objective == 0.0
    never = line_search(evaluate, Penalty(), lambda t: x0 + t * 4.0,
                        lambda t, x: 1.0 + ARMIJO_C1 * t * 8.0 - 1.0, curvature=False)
    assert never is None


def test_trace_numbers_and_reports_rows_and_sees_a_runaway():
    rows = []
    trace = Trace(rows.append, Penalty())
    trace.row(0.5, 0.1, step=1.0)
    trace.row(0.25, 0.05, step=0.5)
    assert [r["iteration"] for r in rows] == [1, 2] and rows is not trace.rows
    assert list(rows[0]) == ["iteration", "objective", "grad_norm", "step", "seconds"]
    assert trace.runaway(np.ones(3), 0.25) is None
    assert trace.runaway(np.ones(3), 1e-7).reason is StopReason.UNBOUNDED  # 1e-7 < 1e-5 * 0.5
    assert Trace(rows.append, Penalty(l2=1e-4), start_objective=0.5).runaway(
        np.ones(3), 1e-7) is None  # a penalty: the optimum is finite
    assert trace.runaway(np.full(3, 2e6), 0.25).reason is StopReason.UNBOUNDED
    assert trace.runaway(np.full(3, 2e6), 0.25, weights_too=False) is None


def _data():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "gd"])
def test_stop_reason_is_recorded_and_typed(solver, tmp_path):
    X, y = _data()
    with pytest.warns(sn.fullpass.ConvergenceWarning):
        model = sn.fit_gd((X, y), solver=solver, max_iter=2, l2=1e-3, workers=0)
    reason = model.info["stop_reason"]
    # (lbfgs is streamneuron's own since issue 22: max_iter is its reason too, no longer scipy's)
    assert reason is StopReason.MAX_ITER
    assert not model.info["converged"]
    done = sn.fit_gd((X, y), solver=solver, l2=1e-2, workers=0, max_iter=2000, lr=1.0)
    assert done.info["stop_reason"] is StopReason.CONVERGED and done.info["converged"]
    path = tmp_path / "m.json"
    done.save(str(path))
    assert json.loads(path.read_text())["training"]["stop_reason"] == "converged"


def test_max_iter_with_tol_zero_is_no_warning():
    """tol = 0 asks for max_iter iterations: stopping there is what was asked."""
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", sn.fullpass.ConvergenceWarning)
        model = sn.fit_gd((X, y), solver="gd", max_iter=3, tol=0.0, workers=0)
    assert model.info["stop_reason"] == "max iterations" and model.info["iterations"] == 3
