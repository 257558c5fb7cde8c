"""NeuronClassifier against independent references: scikit-learn's own estimator
checks and LogisticRegression, a plain-numpy mini-batch SGD loop, the streaming
engine (fit_sgd), Neuron.partial_fit step by step, and dask-ml's Incremental."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_estimator,
    check_param_validation,
)

import streamneuron as sn
from streamneuron import Neuron, NeuronClassifier
from streamneuron.errors import DivergenceError


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def _data(n=300, d=4, seed=0, dtype=np.float64, offset=True):
    """A learnable, imperfectly separable problem with features of various scales."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d)
    if offset:
        X += rng.uniform(-5, 5, d)
    z = (X - X.mean(0)) / X.std(0) @ rng.normal(size=d) + 0.3
    y = (rng.uniform(size=n) < _sigmoid(2 * z)).astype(np.int64)
    return X.astype(dtype), y


def _numpy_sgd(Xs, y01, orders, *, batch_size, lr, power_t=0.0, l2=0.0, loss="log"):
    """The README's mini-batch SGD ("The math") written directly in numpy (no kernel).

    ``orders``: one row order per pass. Each batch: ``w -= lr_t (mean dL/dz x + l2 w)``,
    ``b -= lr_t mean dL/dz`` with ``lr_t = lr / (1 + t)**power_t``; the last short
    batch of a pass is used as it is.
    """
    w, b, t = np.zeros(Xs.shape[1]), 0.0, 0
    for order in orders:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            Xb, yb = Xs[idx], y01[idx]
            p = _sigmoid(Xb @ w + b)
            dz = p - yb if loss == "log" else (p - yb) * p * (1 - p)
            step = lr / (1.0 + t) ** power_t
            w = w - step * (Xb.T @ dz / len(idx) + l2 * w)
            b = b - step * dz.mean()
            t += 1
    return w, b, t


# The estimator's step rule and epochs before the defaults of issue 14 (SGD, as fit was
# before the full-pass default of issue 15).
OLD_DEFAULTS = dict(solver="sgd", schedule="constant", lr=0.1, batch_size=32, epochs=20)


def _perm(seed, p, n):
    """The documented row order of pass ``p``."""
    return np.random.default_rng([seed, p, 0]).permutation(n)


# -- scikit-learn's estimator checks ----------------------------------------------------


def test_check_estimator_passes_every_check(monkeypatch):
    # The array-API check is skipped unless SCIPY_ARRAY_API=1 (read at run time): set it
    # so that every check runs and none is skipped.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    results = []

    def record(estimator, check_name, exception, status, expected_to_fail,
               expected_to_fail_reason):
        results.append((check_name, status, exception))

    check_estimator(NeuronClassifier(), on_fail=None, on_skip=None, callback=record)
    assert len(results) >= 50
    bad = [f"{name}: {status}: {exc!r}" for name, status, exc in results if status != "passed"]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("check", [check_param_validation,
                                   check_dataframe_column_names_consistency])
def test_sklearn_checks_not_run_by_check_estimator(check):
    # Two checks scikit-learn runs on its own estimators but check_estimator (1.9) does not
    # yield: declarative parameter validation and DataFrame column-name consistency.
    check("NeuronClassifier", NeuronClassifier())


def test_parameter_errors_are_sklearn_style():
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data(n=50)
    with pytest.raises(InvalidParameterError, match="'lr' parameter of NeuronClassifier must be"):
        NeuronClassifier(lr=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'loss' parameter"):
        NeuronClassifier(loss="hinge").partial_fit(X, y, classes=[0, 1])


# -- agreement with LogisticRegression -------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return Xtr, Xte, ytr, yte, scaler


def _logistic_regression(cancer, l2):
    Xtr, Xte, ytr, yte, scaler = cancer
    # Same objective: mean log loss + (l2/2)||w||^2  <=>  C = 1 / (l2 * n_train).
    ref = LogisticRegression(C=1.0 / (l2 * len(ytr)), tol=1e-10, max_iter=10_000)
    return ref.fit(scaler.transform(Xtr), ytr)


@pytest.mark.parametrize("l2", [1e-3, 1e-2])
def test_minibatch_sgd_predicts_like_logistic_regression(cancer, l2):
    Xtr, Xte, ytr, yte, scaler = cancer
    ref = _logistic_regression(cancer, l2)
    sgd = NeuronClassifier(l2=l2, batch_size=32, epochs=300, lr=1.0, schedule="invscaling",
                           random_state=0).fit(Xtr, ytr)
    assert np.mean(sgd.predict(Xte) == ref.predict(scaler.transform(Xte))) >= 0.99
    assert sgd.score(Xte, yte) > 0.93


def test_full_batch_converges_to_logistic_regression(cancer):
    # One batch per epoch is full-pass gradient descent on the same objective: it reaches
    # LogisticRegression's optimum. Internal standardization equals StandardScaler.
    Xtr, Xte, ytr, yte, scaler = cancer
    ref = _logistic_regression(cancer, 1e-2)
    gd = NeuronClassifier(l2=1e-2, batch_size=len(ytr), epochs=3000, lr=1.0,
                          shuffle=False).fit(Xtr, ytr)
    np.testing.assert_allclose(gd.mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(gd.scale_, scaler.scale_, rtol=1e-12)
    np.testing.assert_allclose(gd.coef_ * scaler.scale_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(gd.intercept_ + gd.coef_ @ scaler.mean_, ref.intercept_,
                               atol=1e-4)
    assert np.array_equal(gd.predict(Xte), ref.predict(scaler.transform(Xte)))
    np.testing.assert_allclose(gd.predict_proba(Xte), ref.predict_proba(scaler.transform(Xte)),
                               atol=1e-4)


# -- fit's full-pass optimum (solver "auto": Newton) -------------------------------------


def _weighted_standardized(X, s):
    """``(X - m) / sd`` with the ``s``-weighted mean and population std of each column."""
    m = np.average(X, axis=0, weights=s)
    sd = np.sqrt(np.average((X - m) ** 2, axis=0, weights=s))
    return (X - m) / sd, m, sd


def test_default_fit_is_logistic_regression_optimum_with_weights():
    # Objective: sum s_i L_i / W + (l2/2)||w||^2 on the s-weighted standardized features,
    # s_i = sample_weight * balanced class weight (n / (2 n_c), from the label counts)
    # <=> LogisticRegression(C = 1 / (l2 W)) with sample_weight s on the same features.
    X, y = _data(n=400, d=5, seed=3)
    y = np.where(np.arange(len(y)) % 3 == 0, 1, y)  # unbalanced classes
    sw = np.random.default_rng(1).uniform(0.0, 3.0, len(y))
    l2 = 1e-2
    clf = NeuronClassifier(l2=l2, class_weight="balanced").fit(X, y, sample_weight=sw)
    counts = np.bincount(y)
    s = sw * (len(y) / (2.0 * counts))[y]
    Xs, m, sd = _weighted_standardized(X, s)
    ref = LogisticRegression(C=1.0 / (l2 * s.sum()), solver="newton-cholesky", tol=1e-12,
                             max_iter=1000).fit(Xs, y, sample_weight=s)
    np.testing.assert_allclose(clf.mean_, m, rtol=1e-12)
    np.testing.assert_allclose(clf.scale_, sd, rtol=1e-12)
    np.testing.assert_allclose(clf.coef_ * sd, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(clf.intercept_ + clf.coef_ @ m, ref.intercept_, atol=1e-6)
    assert clf.converged_ and 1 <= clf.n_iter_ <= 30 and len(clf.loss_curve_) >= 1


@pytest.mark.parametrize("loss", ["log", "mse"])
def test_integer_sample_weights_equal_repeated_rows(loss):
    X, y = _data(n=150, d=4, seed=5)
    counts = np.random.default_rng(2).integers(0, 4, len(y))  # zeros: rows absent
    kw = dict(loss=loss, l2=1e-3)
    weighted = NeuronClassifier(**kw).fit(X, y, sample_weight=counts)
    repeated = NeuronClassifier(**kw).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-8, atol=1e-12)


def test_solver_sgd_still_trains_by_sgd():
    # solver="sgd": the seeded mini-batch passes (epochs, updates, seeds matter), not the
    # seed-free optimum the default fit reaches; the default fit ignores SGD's parameters.
    X, y = _data(n=203)
    kw = dict(batch_size=16, epochs=3, lr=0.3, schedule="invscaling", l2=0.01)
    a = NeuronClassifier(solver="sgd", random_state=0, **kw).fit(X, y)
    b = NeuronClassifier(solver="sgd", random_state=1, **kw).fit(X, y)
    assert a.n_iter_ == 3 and a.t_ == 3 * 13 and len(a.loss_curve_) == 3
    assert not np.array_equal(a.coef_, b.coef_)
    exact = NeuronClassifier(random_state=0, **kw).fit(X, y)
    assert np.array_equal(exact.coef_, NeuronClassifier(l2=0.01, random_state=1).fit(X, y).coef_)
    assert np.abs(a.coef_ - exact.coef_).max() > 1e-4
    newton = NeuronClassifier(solver="newton", l2=0.01).fit(X, y)
    lbfgs = NeuronClassifier(solver="lbfgs", l2=0.01).fit(X, y)
    assert np.array_equal(exact.coef_, newton.coef_)
    np.testing.assert_allclose(lbfgs.coef_, newton.coef_, rtol=1e-4)


def test_warm_start_with_a_full_pass_solver_reaches_the_same_optimum():
    X, y = _data(n=120, seed=4)
    cold = NeuronClassifier(l2=1e-3).fit(X, y)
    warm = NeuronClassifier(l2=1e-3, warm_start=True).fit(X[:60], y[:60]).fit(X, y)
    np.testing.assert_array_equal(warm.coef_, cold.coef_)
    assert warm.n_iter_ == cold.n_iter_ and warm.t_ == 0
    with pytest.raises(ValueError, match="differ from those of the fitted model"):
        warm.fit(X, np.where(y == 1, 7, 0))


# -- the exact engine arithmetic ---------------------------------------------------------


@pytest.mark.parametrize("loss", ["log", "mse"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_fit_matches_numpy_sgd(loss, shuffle):
    X, y = _data(n=203)  # 203 rows, batch 16: a short last batch in every epoch
    kw = dict(solver="sgd", batch_size=16, epochs=4, lr=0.3, schedule="invscaling", power_t=0.3,
              l2=0.01)
    clf = NeuronClassifier(loss=loss, shuffle=shuffle, random_state=11, **kw).fit(X, y)

    mean, std = X.mean(0), X.std(0)
    orders = [_perm(11, p, len(y)) if shuffle else np.arange(len(y)) for p in range(4)]
    w, b, t = _numpy_sgd((X - mean) / std, y.astype(float), orders, batch_size=16, lr=0.3,
                         power_t=0.3, l2=0.01, loss=loss)
    assert clf.t_ == t == 4 * 13 and clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    coef = w / std
    np.testing.assert_allclose(clf.coef_, coef[None, :], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, [b - coef @ mean], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("standardize", [False, True])
def test_fit_equals_streaming_engine(tmp_path, standardize):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = _data(n=500, d=3)
    path = tmp_path / "one_group.parquet"
    cols = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**cols, "y": y}), path, row_group_size=len(y))

    kw = dict(batch_size=24, epochs=3, lr=0.2 if standardize else 0.01,
              schedule="invscaling", power_t=0.5, l2=1e-3, standardize=standardize)
    engine = sn.fit_sgd(str(path), label="y", seed=9, shuffle=True, loss="log", **kw)
    clf = NeuronClassifier(solver="sgd", random_state=9, **kw).fit(pd.DataFrame(cols), y)
    mine = clf.to_neuron()
    assert clf.t_ == engine.updates == 3 * 21
    if not standardize:
        # Same kernel, same row order, same batches: bit-identical weights.
        assert np.array_equal(mine.weights, engine.weights) and mine.bias == engine.bias
        assert clf.loss_curve_ == [h["objective"] for h in engine.info["history"]]
    else:
        # numpy's column means of a C-ordered array (here) and a column-major one (the
        # Parquet reader) may differ in the last bit; everything else is the same.
        np.testing.assert_allclose(mine.mean, engine.mean, rtol=1e-14)
        np.testing.assert_allclose(mine.scale, engine.scale, rtol=1e-14)
        np.testing.assert_allclose(mine.weights, engine.weights, rtol=1e-10)
        np.testing.assert_allclose(mine.bias, engine.bias, rtol=1e-10)


def test_partial_fit_equals_neuron_partial_fit_steps():
    X, y = _data(n=230)
    blocks = np.array_split(np.arange(230), [70, 150])  # 70, 80, 80 rows
    B, lr, l2 = 32, 0.2, 0.05

    for shuffle in (False, True):
        clf = NeuronClassifier(batch_size=B, lr=lr, l2=l2, shuffle=shuffle, random_state=4,
                               schedule="constant", standardize=False)
        ref = Neuron(X.shape[1])
        for k, rows in enumerate(blocks):
            clf.partial_fit(X[rows], y[rows], classes=[0, 1] if k == 0 else None)
            order = _perm(4, k, len(rows)) if shuffle else np.arange(len(rows))
            Xb, yb = X[rows][order], y[rows][order]
            for s in range(0, len(rows), B):  # one averaged step per batch, last one short
                ref.partial_fit(Xb[s:s + B], yb[s:s + B], lr=lr, l2=l2)
            assert np.array_equal(clf.coef_[0], ref.weights)
            assert clf.intercept_[0] == ref.bias
        assert clf.t_ == ref.updates == 3 + 3 + 3
        assert clf.mean_ is None and clf.n_iter_ == 1  # standardize=False: raw features


def test_partial_fit_after_fit_keeps_fit_statistics():
    X, y = _data(n=200)
    clf = NeuronClassifier(batch_size=50, epochs=2, lr=0.3, shuffle=False,
                           schedule="constant", l2=1e-4).fit(X[:120], y[:120])
    ref = clf.to_neuron()
    mean = clf.mean_.copy()
    clf.partial_fit(X[120:], y[120:])
    assert np.array_equal(clf.mean_, mean)
    for s in (120, 170):
        ref.partial_fit(X[s:s + 50], y[s:s + 50], lr=0.3, l2=clf.l2)
    assert np.array_equal(clf.to_neuron().weights, ref.weights)
    assert clf.to_neuron().bias == ref.bias


def test_warm_start_continues_exactly():
    X, y = _data(n=150)
    full = NeuronClassifier(solver="sgd", epochs=5, schedule="invscaling",
                            random_state=2).fit(X, y)
    warm = NeuronClassifier(solver="sgd", epochs=3, schedule="invscaling", random_state=2,
                            warm_start=True)
    warm.fit(X, y).set_params(epochs=2).fit(X, y)
    assert np.array_equal(warm.coef_, full.coef_) and np.array_equal(warm.intercept_,
                                                                     full.intercept_)
    assert warm.t_ == full.t_ and warm.loss_curve_ == full.loss_curve_ and warm.n_iter_ == 2

    cold = NeuronClassifier(solver="sgd", epochs=3, random_state=2).fit(X, y)
    again = clone(cold).fit(X[:40], y[:40]).fit(X, y)  # warm_start=False: starts afresh
    assert np.array_equal(again.coef_, cold.coef_)


@pytest.mark.parametrize("standardize", [True, False])
def test_warm_start_changes_space_without_changing_the_model(standardize):
    X, y = _data(n=120)
    clf = NeuronClassifier(standardize=standardize, random_state=0,
                           **{**OLD_DEFAULTS, "epochs": 2}).fit(X, y)
    before = clf.decision_function(X)
    # A warm fit in the other space with a step too small to move any weight: only
    # the change of space shows.
    clf.set_params(standardize=not standardize, warm_start=True, lr=1e-300, epochs=1).fit(X, y)
    assert (clf.mean_ is None) == standardize
    np.testing.assert_allclose(clf.decision_function(X), before, rtol=1e-9, atol=1e-9)
    clf.set_params(lr=0.1, epochs=2).fit(X, y)  # and training goes on from there
    assert clf.t_ == (2 + 1 + 2) * 4


# -- dask-ml --------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle_blocks", [False, True])
def test_incremental_equals_partial_fit_on_the_same_blocks(shuffle_blocks):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    import dask

    X, y = _data(n=1000, d=5, offset=False)
    dX, dy = da.from_array(X, chunks=(128, 5)), da.from_array(y, chunks=128)
    est = NeuronClassifier(batch_size=16, lr=0.2, random_state=3)
    with dask.config.set(scheduler="sync"):
        inc = wrappers.Incremental(est, shuffle_blocks=shuffle_blocks, random_state=7)
        inc.fit(dX, dy, classes=[0, 1])

    bounds = np.cumsum((0,) + dX.chunks[0])
    order = list(range(len(dX.chunks[0])))
    if shuffle_blocks:
        check_random_state(7).shuffle(order)  # dask-ml's block order
    ref = clone(est)
    for k in order:
        ref.partial_fit(X[bounds[k]:bounds[k + 1]], y[bounds[k]:bounds[k + 1]], classes=[0, 1])
    assert np.array_equal(inc.estimator_.coef_, ref.coef_)
    assert np.array_equal(inc.estimator_.intercept_, ref.intercept_)
    assert inc.estimator_.t_ == ref.t_ == 7 * 8 + 7  # 7 blocks of 128 rows, one of 104
    with dask.config.set(scheduler="sync"):
        assert np.array_equal(inc.predict(dX).compute(), ref.predict(X))
        np.testing.assert_array_equal(inc.predict_proba(dX).compute(), ref.predict_proba(X))


# -- scikit-learn composition -------------------------------------------------------------


def test_pipeline_and_grid_search(cancer):
    Xtr, Xte, ytr, yte, _ = cancer
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", NeuronClassifier(standardize=False, epochs=10, random_state=0))])
    grid = GridSearchCV(pipe, {"clf__l2": [1e-4, 1e-2], "clf__loss": ["log", "mse"]}, cv=3)
    grid.fit(Xtr, ytr)
    assert set(grid.best_params_) == {"clf__l2", "clf__loss"}
    assert grid.best_score_ > 0.93 and grid.score(Xte, yte) > 0.93
    assert grid.predict_proba(Xte).shape == (len(yte), 2)
    # The same model in one piece (internal standardization) gives the same predictions.
    best = grid.best_estimator_.named_steps["clf"]
    alone = NeuronClassifier(epochs=10, random_state=0, **{
        k.split("__")[1]: v for k, v in grid.best_params_.items()}).fit(Xtr, ytr)
    assert np.mean(alone.predict(Xte) == grid.predict(Xte)) >= 0.99
    assert best.n_features_in_ == Xtr.shape[1]


# -- labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", [("ham", "spam"), (-1, 1), (False, True), (2.0, 5.0),
                                    ("b", "a")])
def test_any_two_labels_map_to_0_1(labels):
    X, y01 = _data(n=100)
    y = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[y01]
    ref = NeuronClassifier(random_state=1, **OLD_DEFAULTS).fit(X, y == sorted(labels)[1])
    clf = NeuronClassifier(random_state=1, **OLD_DEFAULTS).fit(X, y)  # (ref: False/True)
    assert list(clf.classes_) == sorted(labels)  # classes_[1] is the positive class
    assert np.array_equal(clf.coef_, ref.coef_)
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    assert np.array_equal(pred == clf.classes_[1], clf.decision_function(X) > 0)
    assert clf.score(X, y) > 0.8
    # list input and partial_fit with the same labels
    pf = NeuronClassifier(random_state=1).partial_fit(X.tolist(), list(y), classes=list(labels))
    assert list(pf.classes_) == sorted(labels)


def test_label_errors():
    X, y = _data(n=60)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        NeuronClassifier().fit(X, np.arange(60) % 3)
    with pytest.raises(ValueError, match="only one class: 'yes'"):
        NeuronClassifier().fit(X, ["yes"] * 60)
    with pytest.raises(ValueError, match="Unknown label type"):
        NeuronClassifier().fit(X, np.linspace(0, 1, 60))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        NeuronClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        NeuronClassifier().partial_fit(X, y, classes=[0, 1, 2])
    clf = NeuronClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 2])
    with pytest.raises(ValueError, match=r"not in classes_ \[0, 1\]: \[5\]"):
        clf.partial_fit(X, np.where(y == 1, 5, 0))
    with pytest.raises(ValueError, match="classes of y"):
        NeuronClassifier(warm_start=True).fit(X, y).fit(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match="expecting 4 features"):
        clf.predict(X[:, :3])


# -- predictions and attributes --------------------------------------------------------


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_coef_and_intercept_reproduce_decision_function(standardize, dtype):
    X, y = _data(n=200, dtype=dtype)
    clf = NeuronClassifier(standardize=standardize, lr=0.1 if standardize else 0.01,
                           random_state=0).fit(X, y)
    assert clf.coef_.shape == (1, 4) and clf.intercept_.shape == (1,)
    z = clf.decision_function(X)
    assert z.shape == (200,) and z.dtype == np.float64
    np.testing.assert_allclose(X.astype(np.float64) @ clf.coef_.T[:, 0] + clf.intercept_[0], z,
                               rtol=1e-9, atol=1e-9)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba[:, 1], _sigmoid(z), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert np.array_equal(clf.predict(X), clf.classes_[(z > 0).astype(int)])


def test_float32_is_trained_without_a_copy():
    """A C-ordered float32 X is trained as it is: fitting allocates far less than a
    float64 copy of X would take (numpy reports its allocations to tracemalloc)."""
    import tracemalloc

    X, y = _data(n=20_000, d=50)
    X32 = X.astype(np.float32)
    sgd = dict(solver="sgd", random_state=0, standardize=False)
    # the same fit once before: every kernel compiled, every lazy import made, so the
    # measured one allocates only what fitting allocates
    NeuronClassifier(epochs=3, **sgd).fit(X32, y)
    tracemalloc.start()
    try:
        clf32 = NeuronClassifier(epochs=3, **sgd).fit(X32, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < X32.nbytes / 2, f"{peak} bytes allocated for a {X32.nbytes}-byte X"
    clf64 = NeuronClassifier(epochs=3, **sgd).fit(
        X32.astype(np.float64), y)
    np.testing.assert_allclose(clf32.coef_, clf64.coef_, rtol=1e-12)  # same values, same math


def test_feature_names_and_fortran_and_int_input():
    X, y = _data(n=80)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = NeuronClassifier(random_state=0).fit(df, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"] and clf.n_features_in_ == 4
    assert clf.to_neuron().feature_names == ["a", "b", "c", "d"]
    ref = NeuronClassifier(random_state=0).fit(X, y)
    assert not hasattr(ref, "feature_names_in_")
    assert np.array_equal(clf.coef_, ref.coef_)
    assert np.array_equal(NeuronClassifier(random_state=0).fit(np.asfortranarray(X), y).coef_,
                          ref.coef_)
    Xi = np.round(X).astype(np.int32)
    assert np.array_equal(NeuronClassifier(random_state=0).fit(Xi, y).coef_,
                          NeuronClassifier(random_state=0).fit(Xi.astype(float), y).coef_)


def test_default_random_state_is_seed_zero_and_seeds_matter():
    X, y = _data(n=100)
    a = NeuronClassifier().fit(X, y)
    assert np.array_equal(a.coef_, NeuronClassifier().fit(X, y).coef_)
    a = NeuronClassifier(**OLD_DEFAULTS).fit(X, y)  # the seeds' effect, as before
    assert np.array_equal(a.coef_, NeuronClassifier(**OLD_DEFAULTS).fit(X, y).coef_)
    assert np.array_equal(a.coef_, NeuronClassifier(random_state=0, **OLD_DEFAULTS).fit(X, y).coef_)
    assert not np.array_equal(a.coef_,
                              NeuronClassifier(random_state=1, **OLD_DEFAULTS).fit(X, y).coef_)
    rs = np.random.RandomState(5)  # a RandomState draws a seed per fit: still valid
    assert NeuronClassifier(random_state=rs, **OLD_DEFAULTS).fit(X, y).score(X, y) > 0.8


def test_to_neuron_round_trips_through_the_model_file(tmp_path):
    X, y = _data(n=100)
    clf = NeuronClassifier(random_state=0).fit(X, np.where(y == 1, "pos", "neg"))
    path = tmp_path / "model.json"
    clf.to_neuron().save(path)
    model = sn.load_model(path)
    np.testing.assert_allclose(model.predict_proba(X), clf.predict_proba(X)[:, 1], rtol=1e-12)
    np.testing.assert_allclose(model.decision_function(X), clf.decision_function(X), rtol=1e-12)


def test_divergence_is_reported_and_partial_fit_keeps_the_model():
    X, y = _data(n=64, offset=False)
    clf = NeuronClassifier(standardize=False, lr=0.01).partial_fit(X, y, classes=[0, 1])
    coef, t = clf.coef_.copy(), clf.t_
    clf.set_params(lr=1e300)
    with pytest.raises(DivergenceError, match="lower lr"):
        clf.partial_fit(X * 1e5, y)
    assert np.array_equal(clf.coef_, coef) and clf.t_ == t


def test_overflowing_feature_is_a_clear_error():
    X, y = _data(n=50)
    X[:, 2] *= 1e200
    with pytest.raises(ValueError, match="feature 2 of X is too large to standardize"):
        NeuronClassifier().fit(X, y)
