"""StreamingMetrics against independent references: scikit-learn and plain numpy
computed on the whole array at once."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import mean_squared_error
from sklearn.metrics import roc_auc_score

from streamneuron.errors import ConfigError, DataError, StreamNeuronError
from streamneuron.metrics import (
    AUC_BINS,
    StreamingMetrics,
    calibration_points,
    roc_curve_points,
)

N_ROWS = 100_000


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


@pytest.fixture(scope="module")
def data():
    """Continuous scores with labels drawn from them (an informative, imperfect model)."""
    rng = np.random.default_rng(12345)
    z = rng.normal(0.0, 2.0, N_ROWS)
    p = _sigmoid(z)
    y = (rng.random(N_ROWS) < p).astype(np.float64)
    return z, p, y


@pytest.fixture(scope="module")
def whole(data):
    z, p, y = data
    m = StreamingMetrics()
    m.update(p, y)
    return m


def _fed(p, y, chunk, z=None, bins=AUC_BINS):
    m = StreamingMetrics(bins=bins)
    for i in range(0, len(p), chunk):
        m.update(p[i : i + chunk], y[i : i + chunk], None if z is None else z[i : i + chunk])
    return m


def _assert_results_equal(a: dict, b: dict, rtol: float = 1e-12) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], int):
            assert a[k] == b[k], k
        elif math.isnan(a[k]):
            assert math.isnan(b[k]), k
        else:
            assert b[k] == pytest.approx(a[k], rel=rtol, abs=1e-15), k


# --------------------------------------------------------------------- AUC


def test_auc_within_reported_bound_of_sklearn(data, whole):
    _, p, y = data
    r = whole.result()
    exact = roc_auc_score(y, p)
    assert 0.0 < r["auc_error_bound"] < 1e-4
    assert abs(r["auc"] - exact) <= r["auc_error_bound"] + 1e-12


def test_auc_exact_when_all_ties_are_real():
    rng = np.random.default_rng(1)
    p = rng.integers(0, 21, 50_000) / 20.0  # 21 distinct scores, each one shared by thousands
    y = (rng.random(p.size) < p).astype(np.float64)
    y[:2] = [0.0, 1.0]
    r = _fed(p, y, 7_919).result()
    assert r["auc_error_bound"] == 0.0
    assert r["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


@pytest.mark.parametrize("bins", [2, 16, 256])
def test_bound_holds_with_coarse_histograms(data, bins):
    """Few bins: a large error, but sklearn's AUC is still within the bound."""
    _, p, y = data
    r = _fed(p, y, 10_000, bins=bins).result()
    assert r["auc_error_bound"] > 1e-3
    assert abs(r["auc"] - roc_auc_score(y, p)) <= r["auc_error_bound"] + 1e-12


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(
        st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=2, max_size=60
    ),
    bins=st.sampled_from([2, 3, 8, 100, 4096]),
)
def test_bound_holds_property(scores, bins):
    p = np.array([s for s, _ in scores])
    y = np.array([float(c) for _, c in scores])
    m = StreamingMetrics(bins=bins)
    m.update(p, y)
    r = m.result()
    if 0 < y.sum() < y.size:
        assert abs(r["auc"] - roc_auc_score(y, p)) <= r["auc_error_bound"] + 1e-12
    else:
        assert math.isnan(r["auc"]) and math.isnan(r["auc_error_bound"])


def test_one_class_gives_nan_auc_without_crashing():
    m = StreamingMetrics()
    m.update(np.array([0.2, 0.7, 0.9]), np.ones(3))
    r = m.result()
    assert math.isnan(r["auc"]) and math.isnan(r["auc_error_bound"])
    assert (r["positives"], r["negatives"]) == (3, 0)
    assert r["accuracy"] == pytest.approx(2 / 3)
    fpr, tpr = roc_curve_points(m)
    assert np.all(np.isnan(fpr)) and tpr[0] == 0.0 and tpr[-1] == 1.0


def test_scores_at_zero_and_one():
    p = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 0.5])
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])
    m = StreamingMetrics()
    m.update(p, y)
    r = m.result()
    assert r["auc_error_bound"] == 0.0
    assert r["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-15)


# ---------------------------------------------------------- other metrics


def test_pointwise_metrics_match_references(data, whole):
    _, p, y = data
    r = whole.result()
    assert r["rows"] == N_ROWS
    assert r["positives"] == int(y.sum()) and r["negatives"] == int(N_ROWS - y.sum())
    assert r["log_loss"] == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    # mse is the usual mean squared error, as scikit-learn's (not the half the mse loss uses)
    assert r["mse"] == pytest.approx(mean_squared_error(y, p), rel=1e-12)
    assert r["brier"] == pytest.approx(np.mean((p - y) ** 2), rel=1e-12)
    assert r["accuracy"] == np.mean((p >= 0.5) == (y == 1))


def test_accuracy_threshold_is_inclusive():
    m = StreamingMetrics()
    m.update(np.array([0.5, 0.5, np.nextafter(0.5, 0.0)]), np.array([1.0, 0.0, 0.0]))
    assert m.result()["accuracy"] == pytest.approx(2 / 3)


def test_log_loss_from_logit_matches_sklearn(data):
    z, p, y = data
    r = _fed(p, y, 4_096, z=z).result()
    assert r["log_loss"] == pytest.approx(sk_log_loss(y, p), rel=1e-9)
    ref = np.mean(np.logaddexp(0.0, z) - y * z)
    assert r["log_loss"] == pytest.approx(ref, rel=1e-12)


def test_log_loss_from_extreme_logits_is_finite_and_exact():
    z = np.array([800.0, -800.0, 800.0, -800.0])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = _sigmoid(z)
    m = StreamingMetrics(bins=8)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        m.update(p, y, logit=z)
    r = m.result()
    assert math.isfinite(r["log_loss"])
    assert r["log_loss"] == pytest.approx((800.0 + 800.0 + 0.0 + 0.0) / 4)


def test_log_loss_from_saturated_probabilities_is_finite():
    m = StreamingMetrics()
    m.update(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert math.isfinite(m.result()["log_loss"])


def test_boolean_and_integer_labels():
    p = np.array([0.1, 0.8, 0.6])
    a, b, c = StreamingMetrics(bins=8), StreamingMetrics(bins=8), StreamingMetrics(bins=8)
    a.update(p, np.array([False, True, True]))
    b.update(p, np.array([0, 1, 1]))
    c.update(p, np.array([0.0, 1.0, 1.0]))
    assert a.result() == b.result() == c.result()


def test_no_rows_gives_nan_not_error():
    r = StreamingMetrics().result()
    assert r["rows"] == 0
    assert all(math.isnan(r[k]) for k in ("log_loss", "mse", "brier", "accuracy", "auc"))


# ------------------------------------------------------------ streaming


@pytest.mark.parametrize("chunk", [1_000, 33_333])
def test_streaming_equals_one_shot(data, whole, chunk):
    _, p, y = data
    streamed = _fed(p, y, chunk)
    _assert_results_equal(whole.result(), streamed.result())
    assert np.array_equal(streamed.counts, whole.counts)
    assert np.array_equal(streamed.bin_distinct, whole.bin_distinct)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "prob, y",
    [
        ([0.2, 1.5], [0, 1]),
        ([0.2, np.nan], [0, 1]),
        ([0.2, 0.3], [0, 2]),
        ([0.2, 0.3], [0, np.nan]),
        ([0.2, 0.3], [0, 1, 1]),
    ],
)
def test_bad_input_raises_data_error(prob, y):
    with pytest.raises(DataError):
        StreamingMetrics(bins=8).update(np.array(prob), np.array(y))


def test_bad_bin_count_is_a_config_error():
    with pytest.raises(StreamNeuronError):
        StreamingMetrics(bins=1)


# --------------------------------------------------------------- curves


def test_roc_points(whole):
    fpr, tpr = roc_curve_points(whole)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    # The trapezoid area under the points is the histogram AUC itself.
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(whole.result()["auc"], abs=1e-12)


def test_calibration_matches_numpy(data, whole):
    _, p, y = data
    n_bins = 10
    mean_pred, observed, count = calibration_points(whole, n_bins)
    # Reference binning [j/10, (j+1)/10). The histogram's coarse edges are the
    # fine edges nearest j/10, so leave out scores within a fine bin of an edge.
    near_edge = np.abs(p * n_bins - np.round(p * n_bins)) < 2 * n_bins / AUC_BINS
    near_edge &= (p > 0) & (p < 1)
    assert near_edge.sum() < 50
    keep = ~near_edge
    m = StreamingMetrics()
    m.update(p[keep], y[keep])
    mean_pred, observed, count = calibration_points(m, n_bins)
    ref_bin = np.minimum((p[keep] * n_bins).astype(int), n_bins - 1)
    ref_count = np.bincount(ref_bin, minlength=n_bins)
    ref_pos = np.bincount(ref_bin, weights=y[keep], minlength=n_bins)
    ref_mean = np.bincount(ref_bin, weights=p[keep], minlength=n_bins) / ref_count
    assert np.array_equal(count, ref_count)
    assert np.array_equal(observed, ref_pos / ref_count)
    # Mean predicted from fine-bin centers: within half a fine bin of the truth.
    assert np.all(np.abs(mean_pred - ref_mean) <= 0.5 / AUC_BINS + 1e-15)


def test_calibration_empty_bins_are_nan():
    m = StreamingMetrics()
    m.update(np.array([0.05, 0.95]), np.array([0.0, 1.0]))
    mean_pred, observed, count = calibration_points(m, 5)
    assert count.tolist() == [1, 0, 0, 0, 1]
    assert observed[0] == 0.0 and observed[-1] == 1.0 and np.all(np.isnan(observed[1:-1]))
    with pytest.raises(ConfigError):
        calibration_points(m, 0)


def test_weighted_metrics_match_scikit_learn_sample_weight():
    """Weighted log loss, mse, accuracy and AUC equal scikit-learn's with
    ``sample_weight``, fed in blocks; integer weights equal duplicated rows."""
    from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, roc_auc_score

    rng = np.random.default_rng(7)
    n = 5000
    z = rng.normal(size=n) * 2
    p = 1 / (1 + np.exp(-z))
    y = (rng.random(n) < p).astype(np.float64)
    c = rng.integers(0, 4, size=n).astype(np.float64)
    m = StreamingMetrics(weighted=True)
    for lo in range(0, n, 1300):
        m.update(p[lo:lo + 1300], y[lo:lo + 1300], logit=z[lo:lo + 1300],
                 sample_weight=c[lo:lo + 1300])
    r = m.result()
    assert r["rows"] == n and r["weight_sum"] == c.sum()
    assert r["positives"] == int(y.sum())
    assert abs(r["log_loss"] - log_loss(y, p, sample_weight=c)) < 1e-12
    assert abs(r["mse"] - mean_squared_error(y, p, sample_weight=c)) < 1e-12
    assert abs(r["accuracy"] - accuracy_score(y, p >= 0.5, sample_weight=c)) < 1e-12
    assert abs(r["auc"] - roc_auc_score(y, p, sample_weight=c)) <= r["auc_error_bound"] + 1e-12
    # integer weights = duplicated rows
    rep = np.repeat(np.arange(n), c.astype(int))
    plain = StreamingMetrics()
    plain.update(p[rep], y[rep], logit=z[rep])
    d = plain.result()
    for key in ("log_loss", "mse", "accuracy", "auc"):
        assert abs(r[key] - d[key]) < 1e-12, key
    with pytest.raises(ConfigError):
        m.update(p, y)
