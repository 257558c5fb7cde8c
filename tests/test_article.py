"""The engines against a literal transcription of the article's training loop,
and against scikit-learn's optimum of the same objective."""

import json
import subprocess
import sys

import numpy as np
import pytest

import streamneuron as sn
from conftest import make_data, write_hdf5, write_parquet


def article_minibatch_sgd(X_train, y_train, lr, batch_size, epochs):
    """The article's code, loops and all, applied to each mini-batch in order."""
    W = np.zeros(X_train.shape[1])
    bias = 0.0
    for _ in range(epochs):
        for start in range(0, X_train.shape[0], batch_size):
            Xb = X_train[start:start + batch_size].astype(np.float64)
            yb = y_train[start:start + batch_size].astype(np.float64)
            YP = [1.0 / (1.0 + np.exp(-(np.dot(Xb[i], W) + bias))) for i in range(Xb.shape[0])]
            # Accumulate gradient with respect to bias and weights
            grad_bias = 0
            grad_w = np.zeros(len(W))
            for i in range(Xb.shape[0]):
                grad_bias += (YP[i] - yb[i]) * (YP[i]) * (1 - YP[i])  # dJ/db
                for j in range(len(W)):
                    # dJ/dW_j
                    grad_w[j] += (YP[i] - yb[i]) * (YP[i]) * (1 - YP[i]) * (Xb[i][j])
            # Update bias and weights
            bias = bias - grad_bias * lr / Xb.shape[0]
            W = W - grad_w * lr / Xb.shape[0]
    return W, bias


@pytest.mark.parametrize("batch_size", [1, 7, 16, 50, 400])
@pytest.mark.parametrize("fmt", ["parquet", "hdf5"])
def test_sgd_equals_the_articles_loop(tmp_path, monkeypatch, batch_size, fmt):
    # one unit per HDF5 chunk (the reader normally merges small chunks into bigger reads)
    monkeypatch.setattr("streamneuron.readers.hdf5.TARGET_UNIT_ROWS", 1)
    X, y = make_data(n=400, d=5, seed=3)
    # row groups / chunks of 50 and 64 rows: batches of 7 and 16 straddle them
    path = (write_parquet(tmp_path / "d.parquet", X, y, row_group_size=50) if fmt == "parquet"
            else write_hdf5(tmp_path / "d.h5", X, y, chunk_rows=64))
    source = sn.open_source(path, label="y")
    assert len(source.units) > 1
    epochs = 1 if batch_size == 1 else 3
    model = sn.fit_sgd(source, batch_size=batch_size, epochs=epochs, lr=0.5, loss="mse",
                       schedule="constant", shuffle=False, standardize=False, l2=0.0)
    W, bias = article_minibatch_sgd(X, y, 0.5, batch_size, epochs)
    np.testing.assert_allclose(model.weights, W, rtol=1e-9, atol=1e-12)
    assert model.bias == pytest.approx(bias, rel=1e-9, abs=1e-12)


def test_cli_sgd_equals_the_articles_loop_over_several_files(tmp_path):
    X, y = make_data(n=300, d=4, seed=4)
    folder = tmp_path / "parts"
    folder.mkdir()
    for k in range(3):  # three files of two row groups each, read in name order
        write_parquet(folder / f"part-{k}.parquet", X[k * 100:(k + 1) * 100],
                      y[k * 100:(k + 1) * 100], row_group_size=50)
    out = tmp_path / "model.json"
    subprocess.run([sys.executable, "-m", "streamneuron", "train", str(folder), "--label", "y",
                    "-o", str(out), "--loss", "mse", "--no-shuffle", "--no-standardize",
                    "--batch-size", "16", "--epochs", "2", "--lr", "0.5", "--schedule", "constant",
                    "--l2", "0", "--quiet"], check=True)
    model = json.loads(out.read_text())
    W, bias = article_minibatch_sgd(X, y, 0.5, 16, 2)
    np.testing.assert_allclose(model["weights"], W, rtol=1e-9)
    assert model["bias"] == pytest.approx(bias, rel=1e-9)


def test_log_loss_sgd_reaches_sklearn_optimum_on_breast_cancer(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    l2 = 0.01
    path = write_parquet(tmp_path / "bc.parquet", X, y, row_group_size=100)
    model = sn.fit_sgd(path, label="y", batch_size=16, epochs=60, lr=0.05, l2=l2, seed=1,
                       schedule="constant")

    Xs = StandardScaler().fit_transform(X)
    ref = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=10_000).fit(Xs, y)

    def J(w, b):
        return sn.losses.objective(sn.losses.LogLoss, Xs, y, w, b, l2)

    optimum = J(ref.coef_[0], ref.intercept_[0])
    ours = J(model.weights, model.bias)
    assert model.objective(X, y, l2) == pytest.approx(ours, rel=1e-9)  # same standardization
    assert optimum <= ours <= optimum * 1.03
