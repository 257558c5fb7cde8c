"""Newton's steering Hessian from a sample of the rows (``curvature="sampled"``).

The gradient, loss and weight sums of a sampled pass are those of the exact pass, bit
for bit (the stop is decided by them); the Hessian is ``every`` times the sampled rows'
curvature, its diagonal raised to the exact one where the sample missed a coordinate;
and newton reaches the same optimum (checked against scikit-learn and the exact run),
in about the same passes. ``summary`` keeps the exact Hessian (tests/test_summary.py).
"""

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron import kernels
from streamneuron.errors import ConfigError
from streamneuron.fullpass import sums as fsums


def _mirror(H):
    return np.triu(H) + np.triu(H, 1).T


def _kernel_pair(X, y, sw, w, every):
    # column-major, as a pass over in-memory rows hands them to the kernel: the variant
    # the fits below compile (the layouts themselves: tests/test_kernels.py)
    X = np.asfortranarray(X)
    d = X.shape[1]
    m, s = np.zeros(d), np.ones(d)
    out = []
    for k in (1, every):
        g, H = np.zeros(d), np.zeros((d + 1, d + 1))
        scalars = kernels.sampled_hessian_sums(X, y, sw, w, 0.1, m, s, 0, g, H, k)
        out.append((g, _mirror(H), scalars))
    return out


@pytest.mark.parametrize("weighted", [False, True])
def test_sampled_pass_keeps_the_exact_gradient_and_a_close_hessian(weighted):
    rng = np.random.default_rng(0)
    n, d = 80_000, 6
    X = np.asfortranarray(rng.standard_normal((n, d)))  # (the same values; see _kernel_pair)
    y = (rng.random(n) < 0.4).astype(np.float64)
    sw = rng.uniform(0.5, 2.0, n) if weighted else np.empty(0)
    w = rng.standard_normal(d) * 0.5
    (g1, H1, s1), (g16, H16, s16) = _kernel_pair(X, y, sw, w, 16)
    assert np.array_equal(g1, g16) and s1 == s16
    # every = 1 is the exact kernel, bit for bit
    g, H = np.zeros(d), np.zeros((d + 1, d + 1))
    kernels.gradient_hessian_sums(X, y, sw, w, 0.1, np.zeros(d), np.ones(d), 0, g, H)
    assert np.array_equal(_mirror(H), H1)
    # independent reference: numpy's X~^T diag(s h) X~
    Xt = np.column_stack([X, np.ones(n)])
    p = 1 / (1 + np.exp(-(X @ w + 0.1)))
    h = p * (1 - p) * (sw if weighted else 1.0)
    np.testing.assert_allclose(H1, (Xt * h[:, None]).T @ Xt, rtol=1e-10, atol=1e-8)
    # the sample's Hessian, in the exact one's metric: eigenvalues within 15% of 1
    L = np.linalg.cholesky(H1)
    M = np.linalg.solve(L, np.linalg.solve(L, H16).T)
    ev = np.linalg.eigvalsh((M + M.T) / 2)
    assert ev.min() > 0.85 and ev.max() < 1.15, ev


def test_a_rare_feature_the_sample_misses_keeps_its_exact_diagonal():
    rng = np.random.default_rng(1)
    n, d = 50_000, 4
    X = rng.standard_normal((n, d))
    X[:, 3] = 0.0
    X[[5, 17, 40_001], 3] = 30.0  # three rows: the sample very likely misses them all
    y = (rng.random(n) < 0.5).astype(np.float64)
    (_, H1, _), (_, H16, _) = _kernel_pair(X, y, np.empty(0), np.zeros(d), 16)
    assert H16[3, 3] >= 0.5 * H1[3, 3] > 0
    assert np.linalg.eigvalsh(H16).min() > 0  # still positive definite


def test_curvature_every_rule_and_bad_value():
    assert fsums.curvature_every("exact", 10**8, 32) == 1
    assert fsums.curvature_every("sampled", 10_000, 32) == 1  # too small: exact
    assert fsums.curvature_every("sampled", 8_000_000, 32) == fsums.SAMPLE_EVERY
    with pytest.raises(ConfigError):
        fsums.curvature_every("cheap", 10, 1)


@pytest.fixture
def sample_small_data(monkeypatch):
    """Sample the Hessian even of a test-sized table."""
    monkeypatch.setattr(fsums, "SAMPLE_MIN_ROWS", 100)
    monkeypatch.setattr(fsums, "SAMPLE_ROWS_PER_WEIGHT", 1)


def test_sampled_newton_reaches_the_exact_optimum(sample_small_data):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n, d = 40_000, 8
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.8)  # correlated
    X[:, 7] = 0.0
    X[rng.choice(n, 4, replace=False), 7] = 1.0  # a rare feature
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, :3].sum(axis=1) * 0.5)))).astype(np.float64)
    l2 = 1e-3
    runs = {c: sn.fit_gd((X, y), solver="newton", l2=l2, standardize=False, workers=0,
                         curvature=c) for c in ("exact", "sampled")}
    assert runs["exact"].info["hessian_every"] == 1
    assert runs["sampled"].info["hessian_every"] == fsums.SAMPLE_EVERY
    assert runs["sampled"].info["converged"]
    assert runs["sampled"].info["passes"] <= runs["exact"].info["passes"] + 2
    # (the stop bounds the objective's gap; along correlated features the weights'
    # error is larger than the exact Hessian's 1e-6)
    np.testing.assert_allclose(runs["sampled"].weights, runs["exact"].weights, atol=5e-5)
    gap = runs["sampled"].info["objective"] - runs["exact"].info["objective"]
    assert abs(gap) <= 1e-6 * runs["exact"].info["objective"]
    ref = LogisticRegression(C=1 / (l2 * n), solver="newton-cholesky", tol=1e-10).fit(X, y)
    np.testing.assert_allclose(runs["sampled"].weights, ref.coef_[0], atol=1e-4)
    again = sn.fit_gd((X, y), solver="newton", l2=l2, standardize=False, workers=0)
    assert np.array_equal(again.weights, runs["sampled"].weights)  # deterministic


def test_newton_with_categorical_columns_and_l1_keeps_the_exact_hessian(sample_small_data):
    """Proximal newton's dense Hessian with level codes sums every row (a plain sample
    misses rare levels and the pairs of levels rows meet: 49 passes against 6 on a 1M-row
    flights-like file); the arrowhead layout (no L1) samples rows by their levels
    (tests/test_sampled_levels.py)."""
    rng = np.random.default_rng(4)
    n = 30_000
    frame = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.standard_normal(n),
                          "c": rng.choice(list("pqrst"), n, p=[.4, .3, .2, .0999, .0001])})
    z = frame.a - 0.5 * frame.b + frame.c.map(dict(p=0, q=.5, r=-.5, s=1, t=2))
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    runs = {c: sn.fit_gd(frame, label="y", solver="newton", l2=1e-3, l1=1e-4, workers=0,
                         categorical=["c"], curvature=c) for c in ("exact", "sampled")}
    assert runs["sampled"].info["hessian_every"] == 1
    np.testing.assert_array_equal(runs["sampled"].weights, runs["exact"].weights)
    assert runs["sampled"].bias == runs["exact"].bias
    arrow = sn.fit_gd(frame, label="y", solver="newton", l2=1e-3, workers=0, categorical=["c"])
    assert arrow.info["hessian_every"] == fsums.SAMPLE_EVERY


def test_l1_proximal_newton_with_a_sampled_hessian(sample_small_data):
    rng = np.random.default_rng(5)
    n, d = 40_000, 10
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1])))).astype(np.float64)
    runs = {c: sn.fit_gd((X, y), solver="newton", l2=1e-4, l1=1e-2, workers=0, curvature=c)
            for c in ("exact", "sampled")}
    assert runs["sampled"].info["converged"]
    assert runs["sampled"].info["passes"] <= runs["exact"].info["passes"] + 3
    # proximal newton stops on the gap (1e-6 of F), which bounds the weights to ~1e-3
    gap = runs["sampled"].info["objective"] - runs["exact"].info["objective"]
    assert abs(gap) <= 1e-6 * runs["exact"].info["objective"]
    np.testing.assert_allclose(runs["sampled"].weights, runs["exact"].weights, atol=1e-3)
    assert np.array_equal(runs["sampled"].weights == 0, runs["exact"].weights == 0)


def _numpy_problem(seed=6, n=5000, d=6, l2=1e-3):
    """A numpy logistic objective (bias last) and its optimum by plain float64 Newton."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    y = (rng.random(n) < 1 / (1 + np.exp(-X[:, :3].sum(axis=1)))).astype(np.float64)
    ridge = np.append(np.full(d, l2), 0.0)

    def parts(theta):
        z = X @ theta
        p = 1 / (1 + np.exp(-z))
        J = np.mean(np.logaddexp(0, z) - y * z) + 0.5 * ridge @ theta ** 2
        H = (X * (p * (1 - p))[:, None]).T @ X / n + np.diag(ridge)
        return float(J), X.T @ (p - y) / n + ridge * theta, H

    best = np.zeros(d + 1)
    for _ in range(30):
        _, g, H = parts(best)
        best = best - np.linalg.solve(H, g)
    return parts, best, l2


@pytest.mark.parametrize("off_by,extra", [(0.0, 0), (0.005, 1), (0.1, 4)])
def test_newton_stops_on_a_sampled_hessian_with_the_weights_within_tol(off_by, extra):
    """The stop needs no exact Hessian: a "sampled" one off by up to ``off_by`` (in
    every direction) weighs the exact gradient, and the weights still end within
    ``tol`` of the optimum (a numpy Newton's), no point read twice; a Hessian off by
    0.5% (a sample of 1 in 16 of 8M rows at d = 32) takes at most one pass more than the
    exact one, off by 10% (the rule's worst, ``e ~ 0.2``) a few (a linear rate of ~``e``);
    a run that ends one step past the last point read (``NewtonStop.PAST``) says so."""
    from streamneuron.fullpass import solvers
    from streamneuron.fullpass.sums import Evaluation
    from streamneuron.penalty import Penalty

    parts, best, l2 = _numpy_problem()
    off = np.diag(np.linspace(1 - off_by, 1 + off_by, best.shape[0]))

    def run(approximate):
        points = []

        def evaluate(theta, curvature):
            points.append(theta.copy())
            J, g, H = parts(theta)
            return Evaluation(theta, J, g, off @ H @ off if approximate else H, approximate)

        result = solvers.newton(evaluate, np.zeros(best.shape[0]),
                                solvers.Options(tol=1e-6, penalty=Penalty(l2=l2)),
                                lambda r: None)
        return result, points

    exact, exact_points = run(False)
    sampled, points = run(True)
    assert sampled.converged and exact.converged
    assert all(not np.array_equal(a, b) for a, b in zip(points, points[1:]))
    assert len(points) <= len(exact_points) + extra
    for result in (exact, sampled):
        assert np.max(np.abs(result.theta - best)) <= 1e-6 * max(np.max(np.abs(best)), 1.0)
        past = not any(np.array_equal(result.theta, x) for x in points + exact_points)
        assert past == ("past the last point read" in result.message)
    assert parts(sampled.theta)[0] - parts(best)[0] <= 1e-6 * parts(best)[0]


def test_newton_stop_past_the_last_point_needs_a_full_step_and_a_small_contraction():
    """``NewtonStop``: at a point inside the gap, stop there when the step is within
    tol of the weights; one step past it when the error that step leaves (from the last
    full step's contraction: linear with a sampled Hessian, quadratic with the exact one)
    is; else read one point more (and stop when the steps no longer shrink)."""
    from streamneuron.fullpass.iteration import CONTRACTION_MARGIN, STALLED, NewtonStop
    from streamneuron.fullpass.sums import Evaluation

    ev = Evaluation(np.array([2.0, -1.0, 0.5]), 0.3, np.zeros(3), hessian_sampled=True)
    bound = 1e-6 * 2.0  # tol times the largest weight
    step = np.array([1e-4, 0.0, 0.0])  # 50 times the bound
    assert NewtonStop(1e-6)(ev, np.array([bound, 0, 0]), True) == NewtonStop.HERE
    assert NewtonStop(1e-6)(ev, np.zeros(3), False) is None
    fast = NewtonStop(1e-6)
    fast.stepped(step * 1e3, 1.0)  # the last full step 1e3 times longer: contraction 1e-3
    assert CONTRACTION_MARGIN * 1e-3 * 1e-4 <= bound
    assert fast(ev, step, True) == NewtonStop.PAST
    slow = NewtonStop(1e-6)
    slow.stepped(step * 5.0, 1.0)  # contraction 0.2: 0.2 * 1e-4 is 10 times the bound
    assert slow(ev, step, True) is None  # read one more point
    slow.stepped(step, 1.0)
    assert slow(ev, step * 0.2, True) is None  # inside the gap again, the steps shrinking
    slow.stepped(step * 0.2, 1.0)
    assert slow(ev, step * 0.2 * 0.6, True) == NewtonStop.HERE  # stalled: 0.6 >= STALLED
    assert STALLED <= 0.6
    # the exact Hessian squares the error: K ~ ||s|| / ||s_prev||**2, the error left
    # rho**2 ||s||: at a contraction of 0.05 one step past; the sample's rule reads on
    exact = Evaluation(ev.theta, 0.3, np.zeros(3))
    for point, verdict in ((exact, NewtonStop.PAST), (ev, None)):
        stop = NewtonStop(1e-6)
        stop.stepped(step * 20.0, 1.0)
        assert stop(point, step, True) == verdict
    damped = NewtonStop(1e-6)
    damped.stepped(step * 1e3, 0.5)  # a damped step measures no contraction
    assert damped(ev, step, True) is None
    assert damped(ev, step, True) == NewtonStop.HERE  # inside the gap twice, no full step


def test_newton_on_a_file_starts_from_a_sample_and_lands_with_float32_products(
        sample_small_data, tmp_path, monkeypatch):
    """On a large file (here: sampled even at test size) newton starts from the optimum of
    a sample of the rows, fitted in memory (``info["start_rows"]``), and lands with every
    row's Hessian from float32 products: the same optimum as a start at zero with the
    float64 Hessian, in fewer passes, and the same bits run after run. The float32 kernel
    keeps the exact gradient, bit for bit, and its Hessian is within 1e-6 of float64's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from streamneuron.fullpass import solvers, start

    rng = np.random.default_rng(7)
    n, d = 40_000, 6
    X = rng.standard_normal((n, d)) @ (np.eye(d) + 0.3)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, :3].sum(axis=1) - 0.5)))).astype(np.float64)
    path = tmp_path / "big.parquet"
    table = pa.table({**{f"x{j}": X[:, j] for j in range(d)}, "y": y})
    pq.write_table(table, path, row_group_size=5000)
    fit = lambda: sn.fit_gd(str(path), label="y", solver="newton", l2=1e-3,  # noqa: E731
                            standardize=False, workers=0)
    new, again = fit(), fit()
    assert new.info["start_rows"] == 5000 and new.info["converged"]
    assert np.array_equal(new.weights, again.weights) and new.bias == again.bias
    monkeypatch.setattr(start, "START_ROWS_PER_WEIGHT", 0)  # from zero ...
    monkeypatch.setattr(solvers, "SINGLE_MAX_CONDITION", 0.0)  # ... landing in float64
    old = fit()
    assert old.info["start_rows"] == 0
    assert new.info["passes"] < old.info["passes"]
    scale = max(np.max(np.abs(old.weights)), 1.0)
    np.testing.assert_allclose(new.weights, old.weights, rtol=0, atol=2e-6 * scale)
    # the kernel: the exact gradient, and the Hessian within float32's rounding
    Xf, w = np.asfortranarray(X), old.weights
    g64, H64, g32, H32 = np.zeros(d), np.zeros((d + 1, d + 1)), np.zeros(d), np.zeros((d + 1, d + 1))
    args = (np.empty(0), w, old.bias, np.zeros(d), np.ones(d), 0)
    s64 = kernels.gradient_hessian_sums(Xf, y, *args, g64, H64)
    s32 = kernels.single_hessian_sums(Xf, y, *args, g32, H32)
    assert np.array_equal(g32, g64) and s32 == s64
    np.testing.assert_allclose(_mirror(H32), _mirror(H64), rtol=1e-6, atol=1e-6 * n)
