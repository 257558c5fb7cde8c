"""newton's start from a sample (``fullpass/start.py``) on files a demanding user has.

Each file is written by pyarrow, pandas or h5py in several row groups (chunks); newton
runs from the sample's optimum and from zero (``START_ROWS_PER_WEIGHT = 0``), and both
must give scikit-learn's optimum of the same objective (``C = 1 / (l2 W)``, the features
standardized as the program does), the start in no more passes than zero, and the same
bits on a second run. Where the sample is unlike the file (class weights on a rare class:
its few rows in the sample count for many; a file whose relation drifts, read in a few
large row groups) newton goes on from zero. The sample rules' thresholds are lowered so
that test-sized files (40k-64k rows) are "large"; the README's table has the same cases
at 200k rows with the real thresholds.
"""

from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import streamneuron as sn
from streamneuron.fullpass import start
from streamneuron.fullpass import sums as fsums


@pytest.fixture
def large(monkeypatch):
    """Sampled Hessian and sample start on test-sized files: a sample of 1/8 of the rows."""
    monkeypatch.setattr(fsums, "SAMPLE_MIN_ROWS", 1000)
    monkeypatch.setattr(fsums, "SAMPLE_ROWS_PER_WEIGHT", 1)
    monkeypatch.setattr(start, "START_FRACTION", 1 / 8)


def _parquet(path, X, y, extra=None, row_groups=None, dtype=np.float64):
    cols = {f"x{j}": X[:, j].astype(dtype) for j in range(X.shape[1])}
    table = pa.table({**cols, "y": y, **(extra or {})})
    with pq.ParquetWriter(path, table.schema) as writer:
        at = 0
        for rows in row_groups:
            writer.write_table(table.slice(at, rows), row_group_size=rows)
            at += rows
    return str(path)


def _bernoulli(rng, z):
    return (rng.random(z.shape[0]) < 1 / (1 + np.exp(-z))).astype(np.float64)


def _case(name, tmp_path):
    """(path, X as the file holds it, y, row weights or None, fit_gd's keywords)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    n, d = 48_000, 6
    X = rng.standard_normal((n, d))
    kw, w, groups = {"l2": 1e-4}, None, [4000] * 12
    if name == "ar1 rho=0.999, l2=1e-8":
        for j in range(1, d):
            X[:, j] = 0.999 * X[:, j - 1] + np.sqrt(1 - 0.999 ** 2) * X[:, j]
        y, kw = _bernoulli(rng, X @ [1, -1, 0.5, 0, 0.3, 1.0]), {"l2": 1e-8}
    elif name == "scales 1e-3..1e4, not standardized":
        scale, shift = np.logspace(-3, 4, d), np.logspace(-2, 3, d)
        y = _bernoulli(rng, X.sum(axis=1) * 0.5)
        X = X * scale + shift
        kw["standardize"] = False
    elif name == "near-separable, l2=1e-8":
        y = (X @ rng.standard_normal(d) > 0).astype(np.float64)
        flip = rng.random(n) < 2e-4
        y[flip] = 1 - y[flip]
        kw = {"l2": 1e-8}
    elif name.startswith("a constant column"):
        X[:, 3] = 2.5
        y = _bernoulli(rng, X @ np.full(d, 0.4))
        kw["standardize"] = "not" not in name
    elif name == "sorted by x0":
        y = _bernoulli(rng, X @ np.linspace(-1, 1, d))
        order = np.argsort(X[:, 0])
        X, y = X[order], y[order]
    elif name == "0.2% positives":
        y = _bernoulli(rng, X @ np.full(d, 0.5) - 8.0)
        kw["l2"] = 1 / n
    elif name == "weight column, float32":
        y, w = _bernoulli(rng, X @ np.linspace(-1, 1, d)), rng.exponential(size=n)
        X = X.astype(np.float32).astype(np.float64)
        kw["weight"] = "w"
    elif name == "class weights, unequal row groups":
        y = _bernoulli(rng, X @ np.linspace(-1, 1, d) - 1.5)
        kw["class_weight"] = "balanced"
        groups = [30_000] + [500] * 12 + [3000, 9000]
    elif name == "small row groups before a large one":
        y = _bernoulli(rng, X @ np.linspace(-1, 1, d))
        groups = [500] * 24 + [36_000]
    elif name == "hdf5 chunks":
        y = _bernoulli(rng, X @ np.linspace(-1, 1, d))
        path = tmp_path / "data.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("X", data=X, chunks=(3000, d))
            f.create_dataset("y", data=y, chunks=(3000,))
        return str(path), X, y, None, kw
    elif name == "pandas, one row group":
        y = _bernoulli(rng, X @ np.linspace(-1, 1, d))
        path = tmp_path / "data.parquet"
        pd.DataFrame({**{f"x{j}": X[:, j] for j in range(d)}, "y": y}).to_parquet(
            path, row_group_size=n)
        return str(path), X, y, None, kw
    dtype = np.float32 if "float32" in name else np.float64
    path = _parquet(tmp_path / "data.parquet", X, y, None if w is None else {"w": w},
                    groups, dtype)
    if "weight" in kw:
        kw["features"] = [f"x{j}" for j in range(d)]
    return path, X, y, w, kw


def _reference(X, y, w, l2, standardize, class_weight=None):
    """scikit-learn's optimum of ``sum c L / W + (l2/2) ||w||^2``, on the features as the
    program sees them (standardized by the population moments, weighted)."""
    c = np.ones(y.shape[0]) if w is None else w.copy()
    if class_weight == "balanced":
        c *= np.where(y == 1, y.shape[0] / (2 * y.sum()), y.shape[0] / (2 * (1 - y).sum()))
    if standardize:
        mean = c @ X / c.sum()
        std = np.sqrt(c @ (X - mean) ** 2 / c.sum())
        X = (X - mean) / np.where(std > 0, std, 1.0)
    ref = LogisticRegression(C=1 / (l2 * c.sum()), solver="newton-cholesky", tol=1e-12,
                             max_iter=1000).fit(X, y, sample_weight=c)
    return ref.coef_[0], float(ref.intercept_[0])


def _fit(path, monkeypatch=None, **kw):
    if monkeypatch is not None:
        monkeypatch.setattr(start, "START_ROWS_PER_WEIGHT", 0)  # from zero
    try:
        return sn.fit_gd(path, label="y", solver="newton", workers=0, **kw)
    finally:
        if monkeypatch is not None:
            monkeypatch.undo()


CASES = ["ar1 rho=0.999, l2=1e-8", "scales 1e-3..1e4, not standardized",
         "near-separable, l2=1e-8", "a constant column", "a constant column, not standardized",
         "sorted by x0", "0.2% positives", "weight column, float32",
         "class weights, unequal row groups", "small row groups before a large one",
         "hdf5 chunks", "pandas, one row group"]


@pytest.mark.parametrize("name", CASES)
def test_the_sample_start_reaches_the_reference_in_no_more_passes(name, large, tmp_path):
    path, X, y, w, kw = _case(name, tmp_path)
    new, again = _fit(path, **kw), _fit(path, **kw)
    with pytest.MonkeyPatch.context() as mp:
        old = _fit(path, mp, **kw)
    assert new.info["start_rows"] > 0 and old.info["start_rows"] == 0
    assert new.info["converged"] and old.info["converged"]
    assert np.array_equal(new.weights, again.weights) and new.bias == again.bias
    assert new.info["passes"] <= old.info["passes"]
    coef, bias = _reference(X, y, w, kw["l2"], kw.get("standardize", True),
                            kw.get("class_weight"))
    scale = max(1.0, np.max(np.abs(coef)))
    for model in (new, old):
        np.testing.assert_allclose(model.weights, coef, rtol=0, atol=2e-5 * scale)
        assert abs(model.bias - bias) <= 2e-5 * max(scale, abs(bias))


def test_class_weights_on_a_rare_class_start_from_zero(large, tmp_path):
    """Balanced class weights on 0.3% positives: the sample holds a dozen, each counting
    ~170 rows, and its optimum's noise (``start.sampling_noise``) is a third of its gap
    from zero: newton starts from zero (it took 2 more passes from the sample)."""
    rng = np.random.default_rng(11)
    n, d = 64_000, 8
    X = rng.standard_normal((n, d))
    y = _bernoulli(rng, X @ np.full(d, 0.5) - 7.5)
    path = _parquet(tmp_path / "rare.parquet", X, y, row_groups=[4000] * 16)
    kw = {"l2": 1 / n, "class_weight": "balanced"}
    new = _fit(path, **kw)
    with pytest.MonkeyPatch.context() as mp:
        old = _fit(path, mp, **kw)
    assert new.info["start_rows"] == 0 and new.info["passes"] == old.info["passes"]
    np.testing.assert_array_equal(new.weights, old.weights)
    coef, _ = _reference(X, y, None, kw["l2"], True, "balanced")  # (a flat optimum: 73 rows)
    np.testing.assert_allclose(new.weights, coef, rtol=0, atol=2e-3 * np.max(np.abs(coef)))


@pytest.mark.parametrize("standardize", [True, False])
def test_a_drifting_file_in_large_row_groups_loses_at_most_a_pass(standardize, large,
                                                                   tmp_path):
    """Rows in time order, the relation turning over (the first row group unlike the
    last), in 4 row groups: the sample is the first one. Newton's first pass there
    predicts a gap far above zero's (the co-moments', or the sample's own at zero without
    them), so newton goes on from zero: one pass lost (it took 3 times zero's passes)."""
    rng = np.random.default_rng(5)
    n, d = 48_000, 6
    t = np.linspace(0, 1, n)[:, None]
    X = rng.standard_normal((n, d)) + 3 * t * np.linspace(-1, 1, d)
    y = _bernoulli(rng, (X * np.linspace(-1, 1, d) * (1 - 2 * t)).sum(axis=1) + 2 * t[:, 0] - 1)
    path = _parquet(tmp_path / "drift.parquet", X, y, row_groups=[12_000] * 4)
    kw = {"l2": 1e-4, "standardize": standardize}
    new = _fit(path, **kw)
    with pytest.MonkeyPatch.context() as mp:
        old = _fit(path, mp, **kw)
    assert new.info["start_rows"] == 0 and new.info["passes"] <= old.info["passes"] + 1
    np.testing.assert_array_equal(new.weights, old.weights)


def test_dask_cluster_and_this_process_give_the_same_start_and_bits(large, tmp_path,
                                                                     dask_client):
    path, X, y, w, kw = _case("weight column, float32", tmp_path)
    here = _fit(path, **kw)
    there = sn.fit_gd(path, label="y", solver="newton", client=dask_client, **kw)
    assert there.info["start_rows"] == here.info["start_rows"] > 0
    assert there.info["passes"] == here.info["passes"]
    assert np.array_equal(there.weights, here.weights) and there.bias == here.bias


def test_the_sample_applies_from_the_sampled_hessians_size(tmp_path):
    """At the real thresholds: 159,999 rows take the exact Hessian and no sample, 160,000
    (10,000 sampled rows) the sample, ``start_rows`` of them (here 1/16: 10,000)."""
    assert fsums.curvature_every("sampled", 159_999, 2) == 1
    assert fsums.curvature_every("sampled", 160_000, 2) == fsums.SAMPLE_EVERY
    assert start.start_rows(160_000, 2) == 10_000
    assert start.start_rows(10 ** 9, 2) == 3 * start.START_ROWS_PER_WEIGHT
    assert start.start_rows(10 ** 9, 10 ** 4) == start.START_BYTES // (8 * (10 ** 4 + 1))


def _parts(sizes, piece=None):
    """Partitions as ``chosen`` sees them: each a unit list of (index, rows) pieces."""
    out = []
    for rows in sizes:
        cut = rows if piece is None else piece
        units = tuple((k, min(cut, rows - k * cut)) for k in range(-(-rows // cut)))
        out.append(SimpleNamespace(units=units, n_rows=rows))
    return out


def test_chosen_spreads_its_partitions_and_reads_about_the_rows_asked():
    """Many tiny row groups: as many as the rows need, spread over the file; one huge
    row group: its first pieces; unequal partitions: spread over the rows."""
    tiny = _parts([500] * 400)
    picked, each = start.chosen(tiny, 12_500)
    assert len(picked) == 25 and each == 1
    index = [next(k for k, part in enumerate(tiny) if part is p) for p in picked]
    assert index[0] == 0 and index[-1] >= 380 and np.all(np.diff(index) == 16)
    huge = _parts([200_000], piece=58_254)
    picked, each = start.chosen(huge, 12_500)
    assert picked == (huge[0],) and each == 1
    picked, each = start.chosen(huge, 120_000)
    assert each == 2
    mixed = _parts([150_000] + [1000] * 50, piece=58_254)
    picked, each = start.chosen(mixed, 12_500)
    assert picked == (mixed[0],) and each == 1
    # small row groups before a large one: spread by rows, the large one among them (it
    # was the first 1,000-row group alone: a sample of 1,000 rows for 12,500 asked)
    late = _parts([1000] * 50 + [150_000], piece=58_254)
    picked, each = start.chosen(late, 12_500)
    assert picked == (late[0], late[-1]) and each == 1
    # ... and no more of them than it takes (not all seven here: 97% of the rows)
    alternating = _parts([500, 60_000] * 3 + [18_500], piece=58_254)
    picked, each = start.chosen(alternating, 12_500)
    assert picked == (alternating[0], alternating[3]) and each == 1
    assert start.chosen(tiny, 12_500) == start.chosen(tiny, 12_500)
