"""streamneuron.generate: real files, exact layout, reproducibility, atomicity, learnability."""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamneuron.errors import ConfigError
from streamneuron.generate import generate, make_teacher

ROOT = Path(__file__).resolve().parent.parent
ROWS, D = 1_000, 5


def read_parquet(path, d: int = D, label: str = "y") -> tuple[np.ndarray, np.ndarray]:
    t = pq.read_table(path)
    X = np.column_stack([t.column(f"x{j}").to_numpy() for j in range(d)])
    return X, t.column(label).to_numpy()


def read_h5(path, label: str = "y") -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as f:
        return f["X"][:], f[label][:]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------- parquet


def test_parquet_layout_and_types(tmp_path):
    out = tmp_path / "d.parquet"
    s = generate(out, rows=ROWS, features=D, row_group_size=300, seed=1)
    pf = pq.ParquetFile(out)
    md = pf.metadata
    assert md.num_rows == ROWS
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [300, 300, 300, 100]
    assert s["row_groups"] == 4 and s["rows"] == ROWS and s["features"] == D
    assert pf.schema_arrow.names == [f"x{j}" for j in range(D)] + ["y"]  # no id by default
    assert all(pf.schema_arrow.field(f"x{j}").type == pa.float32() for j in range(D))
    assert pf.schema_arrow.field("y").type == pa.int8()
    assert md.row_group(0).column(0).compression == "SNAPPY"

    df = pd.read_parquet(out)
    assert df.shape == (ROWS, D + 1)
    assert df["y"].dtype == np.int8 and df["x0"].dtype == np.float32
    assert set(np.unique(df["y"])) == {0, 1}
    assert 0.2 < df["y"].mean() < 0.8
    assert np.isfinite(df.to_numpy()).all()
    json.dumps(s)  # the summary is plain data


def test_parquet_float64_id_column_and_label_name(tmp_path):
    out = tmp_path / "d.parquet"
    generate(out, rows=50, features=3, dtype="float64", id_column=True, label="target",
             label_dtype="float64", row_group_size=20)
    t = pq.read_table(out)
    assert t.schema.names == ["id", "x0", "x1", "x2", "target"]
    assert t.schema.field("id").type == pa.int64()
    assert t.schema.field("x1").type == pa.float64()
    assert np.array_equal(t.column("id").to_numpy(), np.arange(50))
    assert set(np.unique(t.column("target").to_numpy())) <= {0.0, 1.0}


# -------------------------------------------------------------------------- hdf5


def test_hdf5_layout_and_types(tmp_path):
    out = tmp_path / "d.h5"
    s = generate(out, rows=ROWS, features=D, format="hdf5", row_group_size=256)
    with h5py.File(out, "r") as f:
        X, y = f["X"], f["y"]
        assert X.shape == (ROWS, D) and X.dtype == np.float32 and X.chunks == (256, D)
        assert y.shape == (ROWS,) and y.dtype == np.int8 and y.chunks == (256,)
        names = [n.decode() if isinstance(n, bytes) else n for n in X.attrs["feature_names"]]
        assert names == [f"x{j}" for j in range(D)]
        assert set(np.unique(y[:])) == {0, 1}
    assert s["row_groups"] == 4


def test_hdf5_chunk_not_larger_than_rows(tmp_path):
    out = tmp_path / "d.h5"
    generate(out, rows=10, features=2, format="HDF5", dtype="float64")  # default 1 << 20 rows
    with h5py.File(out, "r") as f:
        assert f["X"].chunks == (10, 2) and f["X"].dtype == np.float64


# -------------------------------------------------------------- reproducibility


def test_same_seed_same_data_other_seed_different(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.parquet", "b.parquet", "c.parquet"))
    generate(a, rows=400, features=D, seed=7)
    generate(b, rows=400, features=D, seed=7)
    generate(c, rows=400, features=D, seed=8)
    Xa, ya = read_parquet(a)
    Xb, yb = read_parquet(b)
    Xc, yc = read_parquet(c)
    assert np.array_equal(Xa, Xb) and np.array_equal(ya, yb)
    assert not np.allclose(Xa, Xc)


def test_row_group_size_does_not_change_rows(tmp_path):
    # Rows are a pure function of (rows, features, seed, chunk_rows): the file layout is not.
    many = tmp_path / "many.parquet"
    one = tmp_path / "one.parquet"
    generate(many, rows=ROWS, features=D, seed=3, chunk_rows=128, row_group_size=7)
    generate(one, rows=ROWS, features=D, seed=3, chunk_rows=128)
    assert pq.ParquetFile(many).metadata.num_row_groups == -(-ROWS // 7)
    assert pq.ParquetFile(one).metadata.num_row_groups == 1
    for got, want in zip(read_parquet(many), read_parquet(one)):
        assert np.array_equal(got, want)


def test_formats_and_dtypes_hold_the_same_rows(tmp_path):
    generate(tmp_path / "a.parquet", rows=300, features=D, seed=4, row_group_size=100)
    generate(tmp_path / "b.h5", rows=300, features=D, seed=4, format="hdf5", row_group_size=64)
    generate(tmp_path / "c.parquet", rows=300, features=D, seed=4, dtype="float64")
    Xa, ya = read_parquet(tmp_path / "a.parquet")
    Xb, yb = read_h5(tmp_path / "b.h5")
    Xc, yc = read_parquet(tmp_path / "c.parquet")
    assert np.array_equal(Xa, Xb) and np.array_equal(ya, yb)
    assert np.array_equal(Xa, Xc.astype(np.float32)) and np.array_equal(ya, yc)


def test_chunking_fixes_the_stream(tmp_path):
    # Chunk k draws from default_rng([seed, k]): a fixed chunking is reproducible.
    generate(tmp_path / "a.parquet", rows=500, features=D, chunk_rows=64)
    generate(tmp_path / "b.parquet", rows=500, features=D, chunk_rows=64, row_group_size=100)
    generate(tmp_path / "c.parquet", rows=500, features=D, chunk_rows=100)
    Xa, _ = read_parquet(tmp_path / "a.parquet")
    Xb, _ = read_parquet(tmp_path / "b.parquet")
    Xc, _ = read_parquet(tmp_path / "c.parquet")
    assert np.array_equal(Xa, Xb)
    assert np.array_equal(Xa[:64], Xc[:64])  # chunk 0 is the same stream, truncated
    assert not np.array_equal(Xa, Xc)


def test_columns_have_the_teacher_means_and_scales(tmp_path):
    s = generate(tmp_path / "a.parquet", rows=20_000, features=D, seed=2, dtype="float64")
    X, _ = read_parquet(tmp_path / "a.parquet")
    t = s["teacher"]
    np.testing.assert_allclose(X.mean(axis=0), t["feature_means"], atol=0.1)
    np.testing.assert_allclose(X.std(axis=0), t["feature_scales"], rtol=0.05)
    assert np.ptp(t["feature_scales"]) > 0.5  # standardization matters
    assert np.isclose(np.linalg.norm(t["weights"]), 2.0)


# ------------------------------------------------------------------- learnability


def test_logistic_regression_recovers_the_teacher(tmp_path):
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    s = generate(tmp_path / "a.parquet", rows=5_000, features=D, seed=11)
    X, y = read_parquet(tmp_path / "a.parquet")
    X = X.astype(np.float64)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = sklearn_lm.LogisticRegression(C=1e4, max_iter=1000).fit(Z, y)
    w = np.asarray(s["teacher"]["weights"])
    cos = clf.coef_[0] @ w / (np.linalg.norm(clf.coef_[0]) * np.linalg.norm(w))
    assert cos > 0.95
    assert clf.score(Z, y) > 0.7

    # The raw-space teacher is the same neuron on the unstandardized columns.
    raw_logit = X @ np.asarray(s["teacher"]["raw_weights"]) + s["teacher"]["raw_bias"]
    std_logit = Z @ w + s["teacher"]["bias"]
    assert np.corrcoef(raw_logit, std_logit)[0, 1] > 0.999
    assert np.mean((raw_logit > 0) == y) > 0.7


def test_make_teacher_matches_summary(tmp_path):
    s = generate(tmp_path / "a.parquet", rows=10, features=4, seed=9)
    t = make_teacher(4, 9)
    assert s["teacher"]["weights"] == t.weights.tolist()
    assert s["teacher"]["bias"] == t.bias


# ---------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("fmt,name", [("parquet", "d.parquet"), ("hdf5", "d.h5")])
def test_interrupt_midway_leaves_nothing_and_keeps_old_file(tmp_path, fmt, name):
    out = tmp_path / name
    out.write_bytes(b"old")
    calls = []

    def progress(n):
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(out, rows=1000, features=D, format=fmt, row_group_size=100, progress=progress)
    assert out.read_bytes() == b"old"
    assert leftovers(tmp_path) == [name]


def test_writer_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, table, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        generate(tmp_path / "d.parquet", rows=1000, features=D, row_group_size=100)
    assert leftovers(tmp_path) == []


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        generate(tmp_path / "nope" / "d.parquet", rows=10, features=2)
    with pytest.raises(ConfigError, match="folder"):
        generate(tmp_path, rows=10, features=2)
    assert leftovers(tmp_path) == []


def test_progress_reports_cumulative_rows(tmp_path):
    seen = []
    generate(tmp_path / "d.h5", rows=250, features=2, format="hdf5", row_group_size=100,
             progress=seen.append)
    assert seen == [100, 200, 250]


@pytest.mark.parametrize("kwargs,word", [
    ({"rows": 0}, "rows"),
    ({"rows": 2.5}, "rows"),
    ({"features": 0}, "features"),
    ({"format": "csv"}, "format"),
    ({"dtype": "float16"}, "dtype"),
    ({"label_dtype": "str"}, "label_dtype"),
    ({"row_group_size": 0}, "row_group_size"),
    ({"chunk_rows": -1}, "chunk_rows"),
    ({"seed": -1}, "seed"),
    ({"label": "x0"}, "label"),
    ({"label": "id", "id_column": True}, "label"),
    ({"label": ""}, "label"),
    ({"progress": 3}, "progress"),
])
def test_bad_arguments_raise_config_error(tmp_path, kwargs, word):
    args = {"rows": 10, "features": 2, **kwargs}
    with pytest.raises(ConfigError, match=word):
        generate(tmp_path / "d.parquet", **args)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- shipped samples


def test_shipped_samples_are_reproducible(tmp_path):
    parquet, h5 = ROOT / "data" / "sample.parquet", ROOT / "data" / "sample.h5"
    assert parquet.exists() and h5.exists(), "run python scripts/make_sample_data.py"
    script = runpy.run_path(str(ROOT / "scripts" / "make_sample_data.py"), run_name="sample_data")
    script["write_samples"](tmp_path)

    md = pq.ParquetFile(parquet).metadata
    assert md.num_rows == 2_000 and md.num_row_groups == 4
    assert pq.read_schema(parquet).names == [f"x{j}" for j in range(8)] + ["y"]
    for got, want in zip(read_parquet(parquet, d=8), read_parquet(tmp_path / "sample.parquet", d=8)):
        assert np.array_equal(got, want)
    with h5py.File(h5, "r") as f:
        assert f["X"].shape == (2_000, 8) and f["X"].chunks == (500, 8)
    for got, want in zip(read_h5(h5), read_h5(tmp_path / "sample.h5")):
        assert np.array_equal(got, want)
    for got, want in zip(read_h5(h5), read_parquet(parquet, d=8)):
        assert np.array_equal(got, want)
