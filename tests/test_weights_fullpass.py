"""Sample weights, class weights and L1 / elastic net in the full-pass solvers.

References, independent of the code under test: numpy transcriptions of the
weighted sums and moments; the same data with rows repeated (integer weights)
or dropped (zero weights); scikit-learn's ``LogisticRegression`` with
``sample_weight`` / ``class_weight="balanced"`` and, for L1 / elastic net,
glum's ``GeneralizedLinearRegressor`` and scikit-learn's saga, all on features
standardized by the weighted mean and population std (as streamneuron does), the
objective ``sum s L / sum s + (l2/2)||w||^2 + l1 ||w||_1`` computed here in numpy.
"""

from __future__ import annotations

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron import kernels
from streamneuron.errors import ConfigError, DataError
from streamneuron.fullpass.engine import PersistWarning
from streamneuron.fullpass.sums import Sums, add_unit_sums, start_from_moments
from streamneuron.losses import get_loss
from streamneuron.readers import DecodedUnit
from streamneuron.fullpass.solvers import pseudo_gradient
from streamneuron.stats import CoMoments, Moments

sklearn_datasets = pytest.importorskip("sklearn.datasets")
linear_model = pytest.importorskip("sklearn.linear_model")

L2 = 1e-3


def fit(data, solver, **kw):
    kw.setdefault("workers", 0)
    kw.setdefault("l2", L2)
    if solver == "gd":
        kw.setdefault("max_iter", 30)
    return sn.fit_gd(data, solver=solver, **kw)


def weighted_standardize(X, s):
    W = s.sum()
    mean = s @ X / W
    std = np.sqrt(s @ (X - mean) ** 2 / W)
    return (X - mean) / np.where(std > 0, std, 1.0)


def objective(Xs, y, s, w, b, l2=L2, l1=0.0):
    z = Xs @ w + b
    return float(s @ (np.logaddexp(0.0, z) - y * z) / s.sum() + 0.5 * l2 * w @ w
                 + l1 * np.abs(w).sum())


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer with integer weights 0..3 (some rows weigh 0)."""
    X, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    s = np.random.default_rng(0).integers(0, 4, len(y)).astype(np.float64)
    return X, y.astype(np.float64), s


# --------------------------------------------------------------------------
# The primitive: kernels, moments, the start from the co-moments
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("loss", ["log", "mse"])
def test_weighted_sums_match_numpy(layout, loss):
    rng = np.random.default_rng(1)
    n, d = 517, 7
    X = np.asarray(rng.normal(1.0, 2.0, (n, d)).astype(np.float32), order=layout)
    y = (rng.random(n) < 0.4).astype(np.float64)
    s = rng.uniform(0, 3, n)
    mean, inv_scale = rng.normal(size=d), 1.0 / rng.uniform(1, 3, d)
    w, b = rng.normal(size=d) * 0.3, -0.2
    params = np.concatenate([w, [b], mean, inv_scale])
    acc = np.zeros(Sums.size(d, True))
    add_unit_sums(acc, DecodedUnit(X, y, "t", w=s), [f"x{j}" for j in range(d)], params,
                  get_loss(loss).kernel_id)
    f = get_loss(loss)
    U = (X.astype(np.float64) - mean) * inv_scale
    z = U @ w + b
    dz, L, h = f.dloss_dz(z, y), f.loss(z, y), f.curvature(z, y)
    Ut = np.hstack([U, np.ones((n, 1))])
    np.testing.assert_allclose(acc[:d], U.T @ (s * dz), rtol=1e-12)
    np.testing.assert_allclose(acc[d:d + 4], [s @ dz, s @ L, n, s.sum()], rtol=1e-12)
    H = acc[d + 4:].reshape(d + 1, d + 1)
    np.testing.assert_allclose(np.triu(H), np.triu(Ut.T @ (Ut * (s * h)[:, None])),
                               rtol=1e-11, atol=1e-12)


def test_weights_of_one_give_the_unweighted_bits(cancer):
    """Multiplying by 1.0 is exact and the weight total is then n: the same bits."""
    X, y, _ = cancer
    for solver in ("gd", "newton", "lbfgs"):
        plain, ones = fit((X, y), solver), fit((X, y), solver, weight=np.ones(len(y)))
        assert np.array_equal(plain.weights, ones.weights) and plain.bias == ones.bias


def test_weighted_moments_match_numpy_and_repeated_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(3.0, 2.0, (2500, 5))
    y = (rng.random(2500) < 0.3).astype(np.float64)
    s = rng.integers(0, 5, 2500).astype(np.float64)
    parts = [slice(0, 700), slice(700, 1900), slice(1900, 2500)]
    m = Moments.of(X[parts[0]], s[parts[0]])
    for p in parts[1:]:
        m = m.merge(Moments.of(X[p], s[p]))
    mean = s @ X / s.sum()
    np.testing.assert_allclose(m.mean, mean, rtol=1e-13)
    np.testing.assert_allclose(m.scale(), np.sqrt(s @ (X - mean) ** 2 / s.sum()), rtol=1e-12)
    assert m.n == 2500 and m.weight == s.sum()
    rep = Moments.of(np.repeat(X, s.astype(int), 0))
    np.testing.assert_allclose(m.scale(), rep.scale(), rtol=1e-12)
    c = CoMoments.of(X[parts[0]], y[parts[0]], s[parts[0]])
    for p in parts[1:]:
        c = c.merge(CoMoments.of(X[p], y[p], s[p]))
    V = np.hstack([X, y[:, None]])
    mv = s @ V / s.sum()
    np.testing.assert_allclose(c.mean, mv, rtol=1e-13)
    np.testing.assert_allclose(c.comoment, (V - mv).T @ ((V - mv) * s[:, None]), rtol=1e-10)


def test_weighted_first_newton_step_equals_a_weighted_pass_at_zero():
    rng = np.random.default_rng(3)
    n, d = 800, 6
    X = rng.normal(2.0, 1.5, (n, d))
    y = (rng.random(n) < 0.35).astype(np.float64)
    s = rng.uniform(0, 2, n)
    c = CoMoments.of(X, y, s)
    mean, inv_scale = c.mean[:d], 1.0 / c.feature_moments().scale()
    start = start_from_moments(c, mean, inv_scale, get_loss("log"), L2)
    acc = np.zeros(Sums.size(d, True))
    add_unit_sums(acc, DecodedUnit(X, y, "t", w=s), [f"x{j}" for j in range(d)],
                  np.concatenate([np.zeros(d), [0.0], mean, inv_scale]), 0)
    ev = Sums(acc, d).evaluate(np.zeros(d), 0.0, L2)
    np.testing.assert_allclose(start.gradient, ev.gradient, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(start.hessian, ev.hessian, rtol=1e-9, atol=1e-14)
    assert start.objective == pytest.approx(ev.objective, rel=1e-13)


# --------------------------------------------------------------------------
# Weighted fits against repeated rows, dropped rows and scikit-learn
# --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::streamneuron.fullpass.engine.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["gd", "newton", "lbfgs"])
def test_integer_weights_equal_repeated_rows_and_zero_weight_a_row_absent(cancer, solver):
    """The same sums up to rounding, so the same iterates: newton to its optimum, gd
    and lbfgs over their first iterations (at lbfgs's optimum rounding lets the weights
    drift by ~1e-9 along flat directions, the objective the same)."""
    X, y, s = cancer
    kw = {"max_iter": 20} if solver == "lbfgs" else {}
    weighted = fit((X, y), solver, weight=s, tol=1e-12, **kw)
    rep = s.astype(int)
    repeated = fit((np.repeat(X, rep, 0), np.repeat(y, rep)), solver, tol=1e-12, **kw)
    kept = s > 0
    dropped = fit((X[kept], y[kept]), solver, weight=s[kept], tol=1e-12, **kw)
    # (newton: the optimum's flat directions on this ill-conditioned data are fixed only to
    # ~1e-8 by sums that differ in rounding; seen with numpy 2.x's summation here)
    atol = 1e-7 if solver == "newton" else 1e-10
    for other in (repeated, dropped):
        np.testing.assert_allclose(weighted.weights, other.weights, rtol=0, atol=atol)
        assert weighted.bias == pytest.approx(other.bias, abs=atol)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_sample_weight_reaches_scikit_learns_optimum(cancer, solver):
    X, y, s = cancer
    Xs = weighted_standardize(X, s)
    # scikit-learn: C sum s L + ||w||^2 / 2, i.e. ours times C W with l2 = 1 / (C W).
    ref = linear_model.LogisticRegression(C=1.0 / (s.sum() * L2), tol=1e-12,
                                          max_iter=10000).fit(Xs, y, sample_weight=s)
    best = objective(Xs, y, s, ref.coef_[0], ref.intercept_[0])
    model = fit((X, y), solver, weight=s, tol=1e-10)
    assert objective(Xs, y, s, model.weights, model.bias) == pytest.approx(best, rel=1e-8)
    assert model.info["objective"] == pytest.approx(best, rel=1e-8)
    assert model.info["params"]["weight"] == "sample_weight"


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_balanced_class_weight_reaches_scikit_learns_optimum(cancer, solver):
    X, y, s = cancer
    n1 = y.sum()
    a0, a1 = len(y) / (2 * (len(y) - n1)), len(y) / (2 * n1)
    a = np.where(y == 1, a1, a0)
    Xs = weighted_standardize(X, a)
    ref = linear_model.LogisticRegression(C=1.0 / (a.sum() * L2), class_weight="balanced",
                                          tol=1e-12, max_iter=10000).fit(Xs, y)
    best = objective(Xs, y, a, ref.coef_[0], ref.intercept_[0])
    model = fit((X, y), solver, class_weight="balanced", tol=1e-10)
    assert objective(Xs, y, a, model.weights, model.bias) == pytest.approx(best, rel=1e-8)
    assert model.info["class_weights"] == pytest.approx([a0, a1])
    # With a weight column: the product. (scikit-learn >= 1.6 balances by the weighted
    # counts; streamneuron by the row counts, so its class weights are given here.)
    c = s * a
    Xs = weighted_standardize(X, c)
    ref = linear_model.LogisticRegression(C=1.0 / (c.sum() * L2), class_weight={0: a0, 1: a1},
                                          tol=1e-12, max_iter=10000).fit(Xs, y, sample_weight=s)
    best = objective(Xs, y, c, ref.coef_[0], ref.intercept_[0])
    model = fit((X, y), solver, weight=s, class_weight="balanced", tol=1e-10)
    assert objective(Xs, y, c, model.weights, model.bias) == pytest.approx(best, rel=1e-8)
    explicit = fit((X, y), solver, weight=s, class_weight={0: a0, 1: a1}, tol=1e-10)
    np.testing.assert_allclose(explicit.weights, model.weights, atol=1e-12)


def test_zero_total_weight_and_bad_class_weight_are_clear_errors(cancer):
    X, y, _ = cancer
    with pytest.raises(DataError, match="weights of every row are 0"):
        fit((X, y), "newton", weight=np.zeros(len(y)))
    with pytest.raises(DataError, match="weights of every row are 0"):
        fit((X, y), "gd", weight=np.zeros(len(y)), standardize=False)
    with pytest.raises(ConfigError, match="class_weight"):
        fit((X, y), "newton", class_weight={2: 1.0})


# --------------------------------------------------------------------------
# L1 and elastic net against glum and scikit-learn's saga
# --------------------------------------------------------------------------


def test_l1_newton_direction_minimises_the_model():
    """The coordinate descent against proximal gradient (ISTA) run long in numpy on the
    same model ``g.d + d'Hd/2 + l1 ||theta + d||_1`` (the bias free)."""
    rng = np.random.default_rng(4)
    p = 12
    A = rng.normal(size=(40, p)) @ np.diag(np.linspace(0.2, 3.0, p))
    H = A.T @ A / 40 + 1e-3 * np.eye(p)
    g = rng.normal(size=p) * 0.5
    theta = np.where(rng.random(p) < 0.5, 0.0, rng.normal(size=p))
    l1 = 0.3
    d = np.empty(p)
    q, sweeps = kernels.l1_newton_direction(H, g, theta, l1, p - 1, 1e-14, 0.0, 10000, d)

    def model(step):
        v = theta + step
        return g @ step + 0.5 * step @ H @ step + l1 * (np.abs(v[:-1]).sum()
                                                        - np.abs(theta[:-1]).sum())

    v, lr = theta.copy(), 1.0 / np.linalg.eigvalsh(H).max()
    for _ in range(20_000):
        u = v - lr * (g + H @ (v - theta))
        v = np.append(np.sign(u[:-1]) * np.maximum(np.abs(u[:-1]) - lr * l1, 0.0), u[-1])
    assert q == pytest.approx(model(d), rel=1e-12)  # the value it reports is its own
    assert q == pytest.approx(model(v - theta), rel=1e-9, abs=1e-12)
    assert np.array_equal(theta + d == 0.0, v == 0.0) and 0 < np.sum(v == 0.0) < p - 1
    np.testing.assert_allclose(theta + d, v, atol=1e-8)


def glum_optimum(Xs, y, s, l1, l2):
    glum = pytest.importorskip("glum")
    # glum: sum s L / sum s + alpha (rho ||w||_1 + (1 - rho) ||w||^2 / 2)
    g = glum.GeneralizedLinearRegressor(family="binomial", alpha=l1 + l2, l1_ratio=l1 / (l1 + l2),
                                        gradient_tol=1e-12, max_iter=1000,
                                        scale_predictors=False).fit(Xs, y, sample_weight=s)
    return np.asarray(g.coef_), float(g.intercept_)


@pytest.mark.parametrize("l1", [1e-3, 2e-2])
@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_elastic_net_reaches_glums_optimum_with_its_zeros(cancer, solver, l1):
    X, y, s = cancer
    Xs = weighted_standardize(X, s)
    w_ref, b_ref = glum_optimum(Xs, y, s, l1, L2)
    best = objective(Xs, y, s, w_ref, b_ref, l1=l1)
    model = fit((X, y), solver, weight=s, l1=l1)
    got = objective(Xs, y, s, model.weights, model.bias, l1=l1)
    assert best * (1 - 1e-12) <= got <= best * (1 + 1e-6)
    assert model.info["objective"] == pytest.approx(got, rel=1e-12)
    assert np.array_equal(model.weights == 0.0, w_ref == 0.0)
    assert 0 < model.info["nonzero"] == np.count_nonzero(w_ref) < X.shape[1]
    assert model.info["converged"]


def test_owlqn_with_andrew_and_gaos_aligned_direction_reaches_the_same_optimum(cancer,
                                                                             monkeypatch):
    """The paper's direction (every entry along -pg), streamneuron's fallback, used always."""
    from streamneuron.fullpass import solvers

    X, y, s = cancer
    Xs = weighted_standardize(X, s)
    l1 = 1e-2
    w_ref, b_ref = glum_optimum(Xs, y, s, l1, L2)
    best = objective(Xs, y, s, w_ref, b_ref, l1=l1)
    default = fit((X, y), "lbfgs", weight=s, l1=l1)
    monkeypatch.setattr(solvers, "OWLQN_ALIGN_DIRECTION", True)
    aligned = fit((X, y), "lbfgs", weight=s, l1=l1)
    for model in (default, aligned):
        assert objective(Xs, y, s, model.weights, model.bias, l1=l1) == pytest.approx(best,
                                                                                      rel=1e-6)
        assert np.array_equal(model.weights == 0.0, w_ref == 0.0)
    assert aligned.info["passes"] != default.info["passes"]  # the setting took effect


def test_lasso_reaches_sagas_optimum_unweighted():
    """Pure L1 (l2 = 0) on digits 0-4 against 5-9: scikit-learn's saga, another reference."""
    X, t = sklearn_datasets.load_digits(return_X_y=True)
    y = (t >= 5).astype(np.float64)
    s = np.ones(len(y))
    Xs = weighted_standardize(X, s)
    l1 = 5e-3
    ref = linear_model.LogisticRegression(l1_ratio=1.0, solver="saga", C=1.0 / (len(y) * l1),
                                          tol=1e-10, max_iter=100000).fit(Xs, y)
    best = objective(Xs, y, s, ref.coef_[0], ref.intercept_[0], l2=0.0, l1=l1)
    for solver in ("newton", "lbfgs"):
        model = fit((X, y), solver, l2=0.0, l1=l1)
        got = objective(Xs, y, s, model.weights, model.bias, l2=0.0, l1=l1)
        assert got == pytest.approx(best, rel=1e-6)
        assert np.array_equal(model.weights == 0.0, ref.coef_[0] == 0.0)


def test_optimum_has_a_zero_pseudo_gradient(cancer):
    """At the optimum of F the minimum-norm subgradient vanishes (and it is the gradient
    where no weight is zero and l1 = 0)."""
    X, y, s = cancer
    model = fit((X, y), "newton", weight=s, l1=1e-2, tol=1e-12)
    Xs = weighted_standardize(X, s)
    z = Xs @ model.weights + model.bias
    r = s * (1.0 / (1.0 + np.exp(-z)) - y) / s.sum()
    g = np.append(Xs.T @ r + L2 * model.weights, r.sum())
    theta = np.append(model.weights, model.bias)
    assert np.abs(pseudo_gradient(g, theta, 1e-2)).max() < 1e-7
    assert np.abs(pseudo_gradient(g, theta, 0.0)).max() > 1e-3


def test_proximal_gd_is_the_numpy_proximal_step(cancer):
    """gd with l1: each iteration theta - lr g, the weights soft-thresholded by lr l1."""
    X, y, s = cancer
    Xs = weighted_standardize(X, s)
    lr, l1 = 0.5, 1e-2
    theta = np.zeros(X.shape[1] + 1)
    for _ in range(40):
        z = Xs @ theta[:-1] + theta[-1]
        r = s * (1.0 / (1.0 + np.exp(-z)) - y) / s.sum()
        theta = theta - lr * np.append(Xs.T @ r + L2 * theta[:-1], r.sum())
        theta[:-1] = np.sign(theta[:-1]) * np.maximum(np.abs(theta[:-1]) - lr * l1, 0.0)
    model = fit((X, y), "gd", weight=s, l1=l1, lr=lr, max_iter=40, tol=0)
    np.testing.assert_allclose(model.weights, theta[:-1], atol=1e-12)
    assert np.array_equal(model.weights == 0.0, theta[:-1] == 0.0)
    assert model.info["nonzero"] == np.count_nonzero(theta[:-1])


# --------------------------------------------------------------------------
# Files: Parquet with several row groups, HDF5; bad weights; Dask
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weighted_files(tmp_path_factory, cancer):
    X, y, s = cancer
    root = tmp_path_factory.mktemp("weighted")
    table = pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y, "w": s})
    pq.write_table(table, root / "data.parquet", row_group_size=100)
    with h5py.File(root / "data.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(128, X.shape[1]))
        f.create_dataset("y", data=y, chunks=(128,))
        f.create_dataset("w", data=s, chunks=(128,))
    return root / "data.parquet", root / "data.h5"


@pytest.fixture
def small_hdf5_units(monkeypatch):
    """HDF5 units of one 128-row chunk each (default: 64K rows), so the file has several."""
    monkeypatch.setattr("streamneuron.readers.hdf5.TARGET_UNIT_ROWS", 1)


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_parquet_and_hdf5_weight_columns_equal_the_arrays(weighted_files, cancer, solver,
                                                          small_hdf5_units):
    """newton to the same weights; OWL-QN (whose iterates differ with the rounding of
    other partitions) to the same objective and zeros."""
    X, y, s = cancer
    arrays = fit((X, y), solver, weight=s, l1=1e-3, class_weight="balanced", tol=1e-12)
    for path in weighted_files:
        model = fit(str(path), solver, weight="w", l1=1e-3, class_weight="balanced", tol=1e-12)
        if solver == "newton":
            np.testing.assert_allclose(model.weights, arrays.weights, atol=1e-10)
        assert model.info["objective"] == pytest.approx(arrays.info["objective"], rel=1e-11)
        assert model.info["partitions"] > 1 and model.info["params"]["weight"] == "w"
        assert np.array_equal(model.weights == 0.0, arrays.weights == 0.0)


def test_persisted_parquet_and_a_dask_frame_carry_the_weights(weighted_files, cancer):
    """The decoded (persisted) partitions and Dask DataFrame units: the same effective
    weights (column times class weight) as the partitions read every pass."""
    dd = pytest.importorskip("dask.dataframe")
    import pandas as pd

    X, y, s = cancer
    kw = dict(weight="w", l1=1e-3, class_weight={0: 2.0, 1: 0.5}, tol=1e-12)
    read = fit(str(weighted_files[0]), "newton", **kw)
    with pytest.warns(PersistWarning):
        persisted = fit(str(weighted_files[0]), "newton", persist=True, **kw)
    frame = pd.DataFrame({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y, "w": s})
    dask_frame = fit(dd.from_pandas(frame, npartitions=4), "newton", label="y", **kw)
    assert np.array_equal(persisted.weights, read.weights)  # the same partitions: the same bits
    np.testing.assert_allclose(dask_frame.weights, read.weights, atol=1e-10)
    assert read.info["class_weights"] == [2.0, 0.5]
    assert read.info["weight_total"] == pytest.approx(float(s @ np.where(y == 1, 0.5, 2.0)))


@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_a_bad_weight_names_column_and_row_group(tmp_path, cancer, bad):
    X, y, s = cancer
    w = s.copy()
    w[250] = bad
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "y": y, "w": w})
    pq.write_table(table, tmp_path / "bad.parquet", row_group_size=100)
    with pytest.raises(DataError, match=r"row group 2.*'w'"):
        fit(str(tmp_path / "bad.parquet"), "newton", weight="w")


def test_weighted_dask_cluster_equals_in_process(weighted_files, dask_client):
    """On the session's cluster of worker processes (conftest.dask_client)."""
    path = str(weighted_files[0])
    kw = dict(weight="w", l1=1e-3, class_weight="balanced")
    local = fit(path, "newton", **kw)
    on_cluster = fit(path, "newton", workers=None, client=dask_client, **kw)
    np.testing.assert_allclose(on_cluster.weights, local.weights, atol=1e-9)
    assert on_cluster.info["where"] != "in-process"


def test_the_model_file_keeps_nonzero_and_the_weighting(tmp_path, cancer):
    X, y, s = cancer
    model = fit((X, y), "lbfgs", weight=s, l1=2e-2, class_weight={0: np.float32(2), 1: 1})
    model.save(tmp_path / "m.json")
    info = sn.load_model(tmp_path / "m.json").info
    assert info["nonzero"] == np.count_nonzero(model.weights) < X.shape[1]
    assert info["params"]["l1"] == 2e-2
    assert info["params"]["class_weight"] == {"0": 2.0, "1": 1.0}
    assert info["class_weights"] == [2.0, 1.0]
