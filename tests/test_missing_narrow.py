"""SGD with --missing impute on blocks read narrow (issue 21's cost): the raw features
with the gaps as NaN, filled and their indicator columns made in the kernel's tile
(``kernels.Rows.fill``/``indicated``), against the wide block imputed by numpy (the
fill rounded to the block's dtype, the 0/1 indicators appended): the same bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron import kernels
from streamneuron.losses import get_loss
from streamneuron.sgd.run import Run
from streamneuron.stats import raise_nonfinite
from streamneuron.training import StepRule, TrainState


def _narrow_and_wide(r, n, d, dtype):
    X = r.normal(size=(n, d)).astype(dtype)
    indicated = np.array([3, 0], dtype=np.int64)  # indicators in another order
    X[:, indicated] = np.where(r.random((n, 2)) < 0.15, np.nan, X[:, indicated])
    # (the other columns hold no gap: the fills learned from this very input)
    fill = r.normal(size=d)
    filled = np.where(np.isnan(X), fill.astype(dtype), X)
    wide = np.hstack([filled, np.isnan(X[:, indicated]).astype(dtype)])
    return X, wide, fill.astype(dtype).astype(np.float64), indicated


# Each rule (a compiled variant of its own) on float32 rows; the dtype, which changes
# only how the tile is filled, on float64 rows too for the first.
@pytest.mark.parametrize("rule, dtype", [
    (dict(batch_size=16), np.float32), (dict(batch_size=16), np.float64),
    (dict(batch_size=1), np.float32),
    (dict(batch_size=7, schedule="adagrad", l1=1e-3, average=3), np.float32),
    (dict(batch_size=16, weighted=True), np.float32)])
def test_kernel_on_narrow_rows_is_the_wide_blocks_bits(rule, dtype):
    r = np.random.default_rng(5)
    n, d = 301, 5
    X, wide, fill, indicated = _narrow_and_wide(r, n, d, dtype)
    y = (r.random(n) < 0.4).astype(np.float64)
    order = r.permutation(n).astype(np.int32)  # as stream.block_order makes it
    weights = r.random(n) * 2 if rule.pop("weighted", False) else None
    step = StepRule.of(get_loss("log"), lr=0.05, **rule)
    mean, inv_scale = r.normal(size=d + 2), 1 + r.random(d + 2)
    states = []
    for block, imputation in ((X, (fill, indicated)), (wide, ())):
        st = TrainState.start(np.zeros(d + 2))
        for start in range(0, n, 100):  # several calls: the carry straddles them
            st.train_block(block, y[order], step, mean, inv_scale, order=order, start=start,
                           stop=min(n, start + 100), row_weights=weights,
                           imputation=imputation)
        st.finish_pass(step)
        states.append(st)
    a, b = states
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.avg_w, b.avg_w)
    np.testing.assert_array_equal(a.g2, b.g2)
    assert (a.bias, a.loss_sum, a.updates) == (b.bias, b.loss_sum, b.updates)
    assert np.isfinite(a.weights).all() and np.abs(a.weights).sum() > 0


@pytest.fixture
def weighted_file(tmp_path):
    r = np.random.default_rng(2)
    n = 1500
    df = pd.DataFrame(r.normal(size=(n, 4)).astype(np.float32), columns=list("abcd"))
    df["y"] = (df.to_numpy() @ [1, -1, 0.5, 0] + r.normal(size=n) > 0).astype(int)
    df["w"] = r.random(n) * 3
    for col, frac in (("a", 0.1), ("c", 0.03)):
        df.loc[r.random(n) < frac, col] = np.nan
    path = tmp_path / "gaps.parquet"
    df.to_parquet(path, row_group_size=256)
    return path


def _fit(path, narrow, monkeypatch, **kw):
    widths = []
    train = sn.training.TrainState.train_block

    def spy(self, X, *args, **kwargs):
        widths.append(X.shape[1])
        return train(self, X, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(sn.training.TrainState, "train_block", spy)
        if not narrow:
            m.setattr(Run, "_imputation", lambda self: ())
        model = sn.fit_sgd(path, label="y", weight="w", missing="impute", epochs=3, tol=0,
                           batch_size=32, seed=4, **kw)
    return model, set(widths)


def test_fit_sgd_narrow_is_the_wide_runs_bits(weighted_file, monkeypatch, tmp_path):
    narrow, widths = _fit(weighted_file, True, monkeypatch)
    assert widths == {4}  # the raw features: the indicators made in the kernel
    wide, widths = _fit(weighted_file, False, monkeypatch)
    assert widths == {6}
    np.testing.assert_array_equal(narrow.weights, wide.weights)
    assert narrow.bias == wide.bias
    assert narrow.feature_names[-2:] == ["a_missing", "c_missing"]
    # --cache keeps the wide units (the held-out rows' reader reads them too): same bits
    cached, widths = _fit(weighted_file, True, monkeypatch, cache=tmp_path)
    assert widths == {6}
    np.testing.assert_array_equal(cached.weights, narrow.weights)


def test_hdf5_narrow_is_the_wide_runs_bits(weighted_file, monkeypatch, tmp_path):
    path = tmp_path / "gaps.h5"
    pd.read_parquet(weighted_file).to_hdf(path, key="t", format="table")
    narrow, widths = _fit(path, True, monkeypatch)
    assert widths == {4}
    wide, _ = _fit(path, False, monkeypatch)
    np.testing.assert_array_equal(narrow.weights, wide.weights)
    assert narrow.bias == wide.bias


def test_infinity_named_before_a_gap(tmp_path):
    df = pd.DataFrame({"a": [1.0, np.nan, 2.0, 0.5] * 50, "b": [0.0, np.inf, 1.0, 2.0] * 50,
                       "y": [0, 1, 1, 0] * 50})
    path = tmp_path / "inf.parquet"
    df.to_parquet(path)
    with pytest.raises(sn.DataError, match="'b' is inf"):
        sn.fit_sgd(path, label="y", missing="impute", epochs=1)


def test_a_narrow_rows_gaps_are_no_error():
    """A row read narrow whose logit overflowed: its NaN are gaps, not the cause."""

    class Block:
        X = np.array([[np.nan, 1e300], [1.0, np.inf]])

        def describe_row(self, r):
            return "unit 0", r

    names = ["a", "b", "a_missing"]
    raise_nonfinite(names, Block(), 0, gaps_filled=True)  # nothing to name
    with pytest.raises(sn.DataError, match="'a'.* NaN"):
        raise_nonfinite(names, Block(), 0)
    with pytest.raises(sn.DataError, match="'b' is inf"):
        raise_nonfinite(names, Block(), 1, gaps_filled=True)
