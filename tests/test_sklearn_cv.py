"""NeuronClassifierCV against scikit-learn: check_estimator, the C <-> l2 mapping and
the refit against LogisticRegression, refit=False against the folds' own fits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from streamneuron import NeuronClassifierCV
from streamneuron.stream import row_uniform


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_check_estimator():
    check_estimator(NeuronClassifierCV(), expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data":
            "the folds are a hash of the row index; cv takes no index splits"})


def test_given_C_is_logistic_regressions(cancer):
    X, y = cancer
    C = 0.5
    est = NeuronClassifierCV(Cs=[C], cv=3).fit(X, y)
    np.testing.assert_allclose(est.C_, [C], rtol=1e-12)
    np.testing.assert_allclose(est.l2_, [1 / (C * len(y))], rtol=1e-12)
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-6, atol=1e-6)
    assert est.scores_[1].shape == (3, 1)


def test_refit_false_averages_the_folds_models(cancer, monkeypatch):
    from streamneuron.fullpass import path

    monkeypatch.setattr(path, "PATH_TOL", 1e-13)
    X, y = cancer
    l2 = 0.02
    est = NeuronClassifierCV(l2s=[l2], cv=4, refit=False, standardize=False,
                             random_state=5).fit(X, y)
    fold = np.minimum((row_uniform(np.arange(len(y)), 5) * 4).astype(int), 3)
    coefs, intercepts = [], []
    for k in range(4):
        rows = fold != k
        ref = LogisticRegression(C=1 / (l2 * rows.sum()), tol=1e-12, max_iter=10000)
        ref.fit(X[rows], y[rows])
        coefs.append(ref.coef_[0])
        intercepts.append(ref.intercept_[0])
    np.testing.assert_allclose(est.coef_[0], np.mean(coefs, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.intercept_[0], np.mean(intercepts), rtol=1e-5, atol=1e-6)


def test_scores_and_choice(cancer):
    X, y = cancer
    est = NeuronClassifierCV(Cs=8, cv=5).fit(X, y)
    mean = est.scores_[1].mean(axis=0)
    assert est.l2_[0] == est.l2s_[int(np.argmax(mean))]
    assert est.scores_[1].shape == (5, len(est.l2s_))
