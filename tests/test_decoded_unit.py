"""One decoded unit, and class weights applied once, where a unit is decoded.

``readers.Weighted`` gives each row's effective weight in ``DecodedUnit.w``; checked
against numpy (``w * a[y]``), scikit-learn's ``compute_class_weight`` and runs
of both engines on an explicit weight column holding ``n / (2 n_c)``. And a
DataFrame source lists the columns it leaves out, as the Parquet reader does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.readers import DecodedUnit, Weighted, from_dataframe

N, ROWS = 1200, 250


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 3))
    y = (rng.random(N) < 0.25 + 0.2 * (X[:, 0] > 0)).astype(np.int64)
    s = rng.integers(0, 4, size=N).astype(np.float64)
    return X, y, s


def _balanced_column(y):
    """scikit-learn's ``balanced`` weight of each row's class: ``n / (2 n_c)``."""
    from sklearn.utils.class_weight import compute_class_weight

    a = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    return a[y]


@pytest.fixture
def files(tmp_path):
    X, y, s = _data()
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "s": s,
                             "bal": _balanced_column(y)}), path, row_group_size=ROWS)
    return path, X, y, s


def _all_w(src):
    return np.concatenate([src.read(i).w for i in range(len(src.units))])


def test_weighted_source_reads_each_rows_weight_times_its_class_weight(files):
    path, X, y, s = files
    plain = sn.open_source(path, label="y", features=["a", "b", "c"], weight="s")
    src = Weighted(plain, (2.0, 5.0))
    np.testing.assert_array_equal(_all_w(src), s * np.where(y == 1, 5.0, 2.0))
    unit = src.read(2)
    assert isinstance(unit, DecodedUnit) and unit.codes is None
    np.testing.assert_array_equal(unit.X, X[2 * ROWS:3 * ROWS])
    assert src.weighted and src.class_weights == (2.0, 5.0) and plain.class_weights is None
    # A worker reopening the file gets the same weights; a checkpoint tells them apart.
    args = src.reopen_args()
    assert args["class_weights"] == (2.0, 5.0)
    np.testing.assert_array_equal(_all_w(sn.open_source(path, **args)), _all_w(src))
    assert src.fingerprint()["class_weights"] == [2.0, 5.0]
    assert src.fingerprint() != Weighted(plain, (2.0, 4.0)).fingerprint()
    # Without a weight column, a row weighs its class's weight.
    labels_only = Weighted(sn.open_source(path, label="y", features=["a", "b"]), (0.5, 3.0))
    np.testing.assert_array_equal(_all_w(labels_only), np.where(y == 1, 3.0, 0.5))


def test_weighted_dask_units_match_read():
    import dask

    X, y, s = _data()
    src = Weighted(sn.ArraySource(X, y, chunk_rows=ROWS, sample_weight=s), (1.5, 0.25))
    parts = dask.compute(*src.delayed_units(), scheduler="sync")
    assert len(parts) == len(src.units)
    for i, [unit] in enumerate(parts):
        np.testing.assert_array_equal(unit.w, src.read(i).w)
    np.testing.assert_array_equal(np.concatenate([p[0].w for p in parts]),
                                  s * np.where(y == 1, 0.25, 1.5))


SGD = dict(epochs=2, batch_size=64, lr=0.05, schedule="constant", seed=3)


@pytest.mark.filterwarnings("ignore:gd. stopped after max_iter")
@pytest.mark.parametrize("fit", [
    lambda data, **kw: sn.fit_sgd(data, **SGD, **kw),
    lambda data, **kw: sn.fit_gd(data, solver="newton", workers=0, l2=1e-3, **kw),
    lambda data, **kw: sn.fit_gd(data, solver="gd", max_iter=5, workers=0, **kw),
], ids=["sgd", "newton", "gd"])
def test_balanced_equals_an_explicit_weight_column_of_n_over_2_nc(files, fit):
    path, X, y, s = files
    features = ["a", "b", "c"]
    balanced = fit(path, label="y", features=features, class_weight="balanced")
    column = fit(path, label="y", features=features, weight="bal")
    np.testing.assert_allclose(balanced.weights, column.weights, rtol=1e-12, atol=1e-15)
    assert balanced.bias == pytest.approx(column.bias, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(balanced.info["class_weights"],
                               [N / (2 * np.sum(y == 0)), N / (2 * np.sum(y == 1))],
                               rtol=1e-15)
    # And with the weight column too: the product, once (not squared, not forgotten).
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y,
                          "c_w": s * np.where(y == 1, 3.0, 0.5), "s": s})
    both = fit(frame, label="y", features=features, weight="s",
               class_weight={0: 0.5, 1: 3.0})
    product = fit(frame, label="y", features=features, weight="c_w")
    np.testing.assert_allclose(both.weights, product.weights, rtol=1e-12, atol=1e-15)


def test_dataframe_lists_the_columns_it_leaves_out_with_their_reason(tmp_path):
    X, y, s = _data()
    df = pd.DataFrame({"a": X[:, 0], "city": np.where(y == 1, "Oslo", "Rome"), "b": X[:, 1],
                       "y": y, "s": s, "when": pd.date_range("2020-01-01", periods=N)})
    source = from_dataframe(df, label="y", weight="s")
    assert source.feature_names == ["a", "b"]
    assert source.categorical == ["city"]  # a string column is categorical (issue 20)
    when = f"{df['when'].dtype}, not a number"  # datetime64[ns] or [us], by pandas version
    assert dict(source.left_out) == {"s": "--weight", "when": when}
    # As the Parquet reader takes the same column.
    pq.write_table(pa.table({"a": X[:, 0], "city": pa.array(df["city"].tolist()), "y": y}),
                   tmp_path / "d.parquet")
    parquet = sn.open_source(tmp_path / "d.parquet", label="y")
    assert parquet.categorical == source.categorical
    assert {"column": "when", "reason": when} in source.columns_report()["left_out"]
    chosen = from_dataframe(df, label="y", features=["b"])
    assert dict(chosen.left_out) == {"a": "not in --features", "city": "not in --features",
                                     "s": "not in --features", "when": when}
