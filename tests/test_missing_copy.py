"""--missing impute done by the Parquet reader's copy (issue 21's cost): the values
buffer of a column with nulls read as it is, its validity bitmap applied where the
batch is copied into the unit (``kernels.imputed_columns_into``), against numpy and
pandas."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import streamneuron as sn
from streamneuron.kernels import imputed_columns_into
from streamneuron.missing import Fills, copy_arguments


def _columns(r, n, dtype):
    """Four Arrow columns sliced from bit 3 (a bitmap not starting on a byte): nulls in
    0 and 1, a NaN value (not null) in 1 and 3, nothing missing in 2."""
    values = r.normal(size=(n + 3, 4)).astype(dtype)
    values[5, 1] = values[9, 3] = np.nan
    nulls = r.random((n + 3, 4)) < 0.2
    nulls[:, 2:] = False
    arrays = [pa.array(values[:, j], mask=nulls[:, j] if j < 2 else None).slice(3)
              for j in range(4)]
    missing = np.isnan(values[3:]) | nulls[3:]
    return arrays, values[3:], missing


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_imputed_copy_against_numpy_in_either_layout(dtype):
    r = np.random.default_rng(7)
    n, first = 37, 5
    arrays, values, missing = _columns(r, n, dtype)
    fills = Fills(("a", "b", "c", "d"), (0.5, -1.0, 2.0, 3.0), ("b", "a", "d"), seen=True)
    fill, indicator, check = copy_arguments(fills, np.dtype(dtype))
    np.testing.assert_array_equal(check, [True, True, False, True])
    addresses = np.array([np.frombuffer(a.buffers()[1], dtype=dtype).ctypes.data
                          + a.offset * np.dtype(dtype).itemsize for a in arrays])
    validity = np.array([a.buffers()[0].address if a.null_count else 0 for a in arrays])
    offsets = np.array([a.offset for a in arrays])
    expected = np.hstack([np.where(missing, np.asarray(fills.values, dtype=dtype), values),
                          missing[:, [1, 0, 3]].astype(dtype)])
    for order in ("C", "F"):
        out = np.full((first + n + 4, 7), 9.0, dtype=dtype, order=order)[:first + n]
        imputed_columns_into(addresses, validity, offsets, check, n, out, first, fill,
                             indicator)
        np.testing.assert_array_equal(out[first:], expected)
        assert (out[:first] == 9.0).all()  # rows before ``first`` untouched


def _frame(n=300, seed=3):
    r = np.random.default_rng(seed)
    df = pd.DataFrame({"a": r.normal(size=n).astype(np.float32),
                       "b": r.normal(size=n),
                       "k": pd.array(r.integers(0, 9, n), dtype="Int64")})
    df.loc[r.random(n) < 0.1, "a"] = np.nan
    df.loc[r.random(n) < 0.1, "k"] = pd.NA
    df["y"] = (r.random(n) < 0.5).astype(int)
    return df


def test_parquet_read_imputed_and_nan_against_pandas(tmp_path):
    df = _frame()
    path = tmp_path / "gaps.parquet"
    df.to_parquet(path, row_group_size=130)
    means = df[["a", "b", "k"]].astype("float64").mean()
    fills = Fills(("a", "b", "k"), tuple(float(means[c]) for c in "abk"), ("a", "k"))
    expected = df[["a", "b", "k"]].astype("float64")
    expected = pd.concat([expected.fillna(means), expected[["a", "k"]].isna().astype(float)],
                         axis=1).to_numpy()
    plain = sn.open_source(path, missing="impute")
    for seen in (False, True):
        source = sn.open_source(path, missing="impute", fills=dataclasses.replace(fills, seen=seen))
        source.cut_units(60)  # pieces of row groups: batches sliced off a bit offset
        plain.cut_units(60)
        rows = [source.read(i).X for i in range(len(source.units))]
        np.testing.assert_array_equal(np.vstack(rows), expected)
        units = [plain.read(i) for i in range(len(plain.units))]
        nan = np.vstack([unit.X for unit in units])
        for unit in units:  # the columns the reader saw nulls in (DecodedUnit.gaps)
            gaps = np.isnan(unit.X).any(axis=0)
            assert (unit.gaps is None and not gaps.any()) or (unit.gaps == gaps).all()
        np.testing.assert_array_equal(np.isnan(nan), df[["a", "b", "k"]].isna().to_numpy())
        np.testing.assert_array_equal(np.nan_to_num(nan, nan=7.0),
                                      df[["a", "b", "k"]].astype("float64").fillna(7.0))


def test_observed_moments_same_numbers_in_either_layout_and_against_numpy():
    from streamneuron.kernels import moments, observed_moments

    r = np.random.default_rng(5)
    n = 2 * 1024 + 13  # blocks and groups of eight with a short last one
    X = r.normal(size=(n, 11))
    X[:, :4][r.random((n, 4)) < 0.05] = np.nan
    X[1030:, 4] = np.nan  # a gap in the second block only
    for sw in (np.empty(0), r.random(n)):
        a = observed_moments(X, sw, np.zeros(11, dtype=bool))
        b = observed_moments(np.asfortranarray(X), sw, np.arange(11) < 5)  # (known gaps)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
        weight, mean, m2, missing = a
        s = np.ones(n) if not sw.size else sw
        present = ~np.isnan(X)
        np.testing.assert_array_equal(missing, (~present).sum(axis=0))
        ref = np.nansum(s[:, None] * X, axis=0) / (s[:, None] * present).sum(axis=0)
        np.testing.assert_allclose(mean, ref, rtol=1e-12)
        np.testing.assert_allclose(m2, np.nansum(s[:, None] * (X - ref) ** 2, axis=0),
                                   rtol=1e-12)
        full = moments(np.ascontiguousarray(X[:, 5:]), sw)  # no gap: moments' numbers
        np.testing.assert_array_equal(mean[5:], full[0])
        np.testing.assert_array_equal(m2[5:], full[1])


def test_first_pass_marks_only_the_row_groups_with_nulls(tmp_path):
    """The reader marks a unit's columns with nulls (``DecodedUnit.gaps``, from Arrow's
    null counts: the file's statistics or none), and the first pass gives the same
    numbers with or without statistics, against pandas: nulls in ``a``'s first row
    group only, a NaN value (not a null, not marked) in ``b``'s second."""
    import pyarrow.parquet as pq

    from streamneuron.stats import first_pass

    r = np.random.default_rng(6)
    df = pd.DataFrame({"a": r.normal(size=200), "b": r.normal(size=200),
                       "y": (r.random(200) < 0.5).astype(int)})
    df.loc[r.random(200) < 0.2, "a"] = np.nan
    df.loc[100:, "a"] = r.normal(size=100)
    df.loc[150, "b"] = np.nan
    results = []
    for statistics in (True, False):
        path = tmp_path / f"stats-{statistics}.parquet"
        table = pa.table({"a": pa.array(df["a"].to_numpy(), mask=df["a"].isna().to_numpy()),
                          "b": pa.array(df["b"].to_numpy()), "y": df["y"].to_numpy()})
        pq.write_table(table, path, row_group_size=100, write_statistics=statistics)
        source = sn.open_source(path, label="y", missing="impute")
        marks = [source.read(i).gaps for i in range(2)]
        assert marks[0].tolist() == [True, False] and marks[1] is None
        moments, imputed = first_pass(source, max_levels=100, reference=False)
        results.append((moments.mean, moments.m2, imputed.fills))
        np.testing.assert_allclose(imputed.fills.values, df[["a", "b"]].mean(), rtol=1e-12)
        assert imputed.fills.indicators == ("a", "b")
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]
