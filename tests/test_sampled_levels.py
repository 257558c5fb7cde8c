"""Newton's sampled curvature with categorical columns (the arrowhead layout).

A row is summed with the largest probability of its levels (``sums.level_keep``: about
``LEVEL_ROWS`` rows of each level, every row of a rare one, at least one in ``every``) and
counted the inverse of it. Checked against the exact pass's sums (numpy-free: the kernel
with every row, itself checked against numpy in tests/test_arrow.py): the gradient is the
exact one, the matrix is positive semi-definite, keeps the one-hot identities (a column's
levels' rows add up to the bias's row) and a rare level's entries exactly; and newton
reaches the exact run's and scikit-learn's optimum in at most 12 passes on data with
rare levels, hashed columns too.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import streamneuron as sn
from streamneuron.fullpass import sums as fsums
from streamneuron.fullpass.arrow import Arrow
from streamneuron.units import DecodedUnit


def _zipf_codes(rng, n, sizes, a=1.3):
    """Level indices of columns of ``sizes`` levels, Zipf-like (many rare levels)."""
    out = []
    for m in sizes:
        p = 1.0 / np.arange(1, m + 1) ** a
        out.append(rng.choice(m, n, p=p / p.sum()))
    return np.column_stack(out)


def _pass(X, codes, y, w, arrow, every):
    d = X.shape[1]
    acc = np.zeros(fsums.Sums.size(arrow.p, True, arrow))
    unit = DecodedUnit(X, y, "test", {}, None, codes=codes)
    params = np.concatenate([w, [0.2], np.zeros(d), np.ones(d)])
    fsums.add_unit_sums(acc, unit, [f"x{j}" for j in range(d)], params, 0, every, arrow)
    return acc, fsums.Sums(acc, arrow.p, arrow)


def test_sampled_pass_exact_gradient_psd_one_hot_identities_and_rare_levels_exact():
    rng = np.random.default_rng(0)
    n, d, sizes = 60_000, 3, (4, 40, 400)
    X = np.asfortranarray(rng.standard_normal((n, d)))
    level = _zipf_codes(rng, n, sizes)
    offsets = d + np.cumsum((0,) + sizes[:-1])
    codes = np.ascontiguousarray((level + offsets).astype(np.int32))
    p = d + sum(sizes)
    y = (rng.random(n) < 0.4).astype(np.float64)
    w = rng.standard_normal(p) * 0.3
    counts = np.bincount(codes.ravel() - d, minlength=p - d).astype(np.float64)
    keep = np.concatenate([[1 / 16], np.clip(fsums.LEVEL_ROWS / counts, 1 / 16, 1.0)])
    exact_arrow = Arrow(p, int(offsets[-1]), sizes[-1], "c")
    acc1, exact = _pass(X, codes, y, w, exact_arrow, 1)
    acc16, sampled = _pass(X, codes, y, w, Arrow(p, exact_arrow.lo, exact_arrow.K, "c",
                                                   keep=keep), 16)
    # the gradient, loss and counts: every row's (the numbers' gradient bit for bit)
    assert np.array_equal(acc1[:d], acc16[:d])
    assert np.array_equal(acc1[p:p + fsums.HEAD], acc16[p:p + fsums.HEAD])
    np.testing.assert_allclose(acc16[d:p], acc1[d:p], rtol=1e-12, atol=1e-9)
    H1, H16 = exact.matrix(0), sampled.matrix(0)
    # positive semi-definite (a sum of rows' h x~ x~^T, each counted 1 / pi times)
    values = np.linalg.eigvalsh(H16)
    assert values.min() >= -1e-9 * values.max()
    # each column's levels' rows add up to the bias's row, in the sample as in the data
    bias = H16[p]
    for first, m in zip(offsets, sizes):
        np.testing.assert_allclose(H16[first:first + m].sum(axis=0), bias, rtol=1e-9,
                                   atol=1e-9 * bias.max())
    # a level of at most LEVEL_ROWS rows: every one of its rows summed once
    rare = d + np.flatnonzero((counts > 0) & (counts <= fsums.LEVEL_ROWS))
    assert rare.size > 50
    np.testing.assert_allclose(H16[rare], H1[rare], rtol=1e-10, atol=1e-9)
    # a common level's curvature near the exact one (about LEVEL_ROWS rows or more)
    diag1, diag16 = np.diag(H1)[d:p], np.diag(H16)[d:p]
    common = counts > 4 * fsums.LEVEL_ROWS
    assert np.all(np.abs(diag16[common] / diag1[common] - 1) < 0.6)
    assert np.median(np.abs(diag16[common] / diag1[common] - 1)) < 0.15
    # fewer rows' curvature than the exact pass's: the point of it
    kept = np.maximum(keep[0], keep[1 + codes - d].max(axis=1)).mean()
    assert kept < 0.35


@pytest.fixture
def sample_small_data(monkeypatch):
    """Sample the Hessian even of a test-sized table."""
    monkeypatch.setattr(fsums, "SAMPLE_MIN_ROWS", 100)
    monkeypatch.setattr(fsums, "SAMPLE_ROWS_PER_WEIGHT", 1)


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    level = _zipf_codes(rng, n, (6, 60, 600))
    frame = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.normal(2.0, 3.0, n)})
    effects = [rng.normal(0, s, m) for s, m in ((0.8, 6), (0.5, 60), (0.7, 600))]
    z = 0.8 * frame.a - 0.2 * frame.b + sum(e[level[:, j]] for j, e in enumerate(effects))
    for j, name in enumerate(("c6", "c60", "c600")):
        frame[name] = [f"{name}_{k}" for k in level[:, j]]
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    return frame


@pytest.mark.parametrize("l2", [None, 1e-7])
def test_sampled_newton_with_rare_levels_reaches_the_exact_and_sklearn_optimum(
        sample_small_data, tmp_path, l2):
    frame = _frame(40_000, 1)
    path = tmp_path / "levels.parquet"
    frame.to_parquet(path, row_group_size=15_000)
    cat = ["c6", "c60", "c600"]
    runs = {c: sn.fit_gd(str(path), label="y", solver="newton", l2=l2, workers=0,
                         categorical=cat, max_levels=1000, curvature=c)
            for c in ("exact", "sampled")}
    assert runs["exact"].info["hessian_every"] == 1
    assert runs["sampled"].info["hessian_every"] == fsums.SAMPLE_EVERY
    sampled, exact = runs["sampled"].info, runs["exact"].info
    assert sampled["converged"] and sampled["passes"] <= min(12, exact["passes"] + 2)
    gap = sampled["objective"] - exact["objective"]
    assert abs(gap) <= 1e-6 * exact["objective"]
    if l2 is None:  # scikit-learn's pipeline at C = 1 (l2 = 1/n)
        X = frame[["a", "b"] + cat]
        ct = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                                ("cat", OneHotEncoder(), cat)])
        pipe = make_pipeline(ct, LogisticRegression(C=1.0, solver="newton-cholesky",
                                                    tol=1e-12, max_iter=500)).fit(X, frame.y)
        model = runs["sampled"]
        src = sn.open_source(str(path), label=None, **model.columns())
        units = [src.read(i) for i in range(len(src.units))]
        ours = model.decision_function(np.concatenate([u.X for u in units]),
                                       np.concatenate([u.codes for u in units]))
        np.testing.assert_allclose(ours, pipe.decision_function(X), atol=2e-4)
    else:
        np.testing.assert_allclose(runs["sampled"].weights, runs["exact"].weights, atol=1e-2)
    again = sn.fit_gd(str(path), label="y", solver="newton", l2=l2, workers=0,
                      categorical=cat, max_levels=1000)
    assert np.array_equal(again.weights, runs["sampled"].weights)  # deterministic


def test_sampled_newton_with_a_hashed_column(sample_small_data, tmp_path):
    frame = _frame(30_000, 2)
    path = tmp_path / "hashed.parquet"
    frame.to_parquet(path, row_group_size=10_000)
    runs = {c: sn.fit_gd(str(path), label="y", solver="newton", workers=0,
                         categorical=["c6", "c600"], max_levels=100, hash_bits=7,
                         curvature=c) for c in ("exact", "sampled")}
    assert runs["sampled"].info["hessian_every"] == fsums.SAMPLE_EVERY
    assert runs["sampled"].info["hessian"]["diagonal"] == "c600"
    assert runs["sampled"].info["passes"] <= 12
    gap = runs["sampled"].info["objective"] - runs["exact"].info["objective"]
    assert abs(gap) <= 1e-6 * runs["exact"].info["objective"]
    np.testing.assert_allclose(runs["sampled"].weights, runs["exact"].weights, atol=1e-3)


def test_level_keep_is_levels_rows_at_least_one_in_every():
    from streamneuron.levels import Column, Levels

    levels = Levels((Column("a", ("p", "q", "r"), (2000, 100, 3)),
                     Column("h", (), (), hash_bits=2)))
    keep = fsums.level_keep(levels, 2, 16, 4000)
    np.testing.assert_allclose(keep, [1 / 16, 1 / 16, fsums.LEVEL_ROWS / 100, 1.0]
                               + [min(1.0, fsums.LEVEL_ROWS / 1000)] * 4)


def test_level_landing_comes_a_step_before_the_gap():
    """A Hessian off by up to 20% (the level sample's steps shrink the gap by ~e**2 with
    e ~ 0.1-0.2, not the numbers' ~1e-4): landing from ``SAMPLED_LANDING`` reads a point
    more than the exact run (its exact pass lands where the stop cannot bound the sampled
    step's error); from ``LEVEL_LANDING`` (the engine's ``options.landing`` with level
    codes) the exact pass comes a step before the gap and the exact run's passes suffice,
    two of them every row's, the weights within tol of a numpy Newton's optimum."""
    from test_sampled_hessian import _numpy_problem

    from streamneuron.fullpass import solvers
    from streamneuron.penalty import Penalty

    parts, best, l2 = _numpy_problem(l2=1e-4)
    off = np.diag(np.linspace(0.8, 1.2, best.shape[0]))

    def run(sampled, landing=None):
        kinds = []

        def evaluate(theta, curvature):
            kinds.append(curvature)
            J, g, H = parts(theta)
            steer = sampled and curvature is True
            return fsums.Evaluation(theta, J, g, off @ H @ off if steer else H, steer)

        options = solvers.Options(tol=1e-6, penalty=Penalty(l2=l2), landing=landing)
        result = solvers.newton(evaluate, np.zeros(best.shape[0]), options, lambda r: None)
        assert result.converged
        assert np.max(np.abs(result.theta - best)) <= 1e-6 * max(np.max(np.abs(best)), 1.0)
        return len(kinds), sum(kind is not True for kind in kinds)

    exact, _ = run(False)
    late, _ = run(True)
    passes, whole = run(True, fsums.LEVEL_LANDING)
    assert late > exact
    assert passes <= exact and whole == 2
