"""Files written by pandas: ``to_parquet`` with and without an index, ``to_hdf``
in both formats ("fixed" and "table").

The columns streamneuron reads out of a pandas HDF5 file (with h5py, in row
slices) are checked against pandas' own ``pd.read_hdf``; the index is never a
feature; the CLI turns bad cases away with exit 2 and one ``Error:`` line.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_helpers import run, turned_away

import streamneuron as sn
from streamneuron.readers import hdf5

pd = pytest.importorskip("pandas")
pytest.importorskip("tables")  # pandas' to_hdf writes through PyTables

N = 3000


def frame(n=N, seed=0):
    """Mixed dtypes: two float blocks, ints, a bool, a string, a 0/1 label."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n).astype(np.float32)
    c = rng.integers(0, 5, n)
    flag = rng.random(n) < 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-(a - b + 0.3 * c)))).astype(np.int64)
    return pd.DataFrame({"a": a, "b": b, "c": c, "flag": flag,
                         "city": rng.choice(["Oslo", "Rome"], n), "target": y})


@pytest.fixture(params=["fixed", "table", "table-data-columns", "table-zlib"])
def h5_frame(request, tmp_path):
    df = frame()
    path = tmp_path / f"{request.param}.h5"
    kw = {"format": "fixed" if request.param == "fixed" else "table"}
    if request.param == "table-data-columns":
        kw["data_columns"] = True
    if request.param == "table-zlib":
        kw.update(complevel=5, complib="zlib")
    df.to_hdf(path, key="df", **kw)
    return path, df


@pytest.fixture
def small_units(monkeypatch):
    """Many units from a small file: every slice boundary gets exercised."""
    monkeypatch.setattr(hdf5, "TARGET_UNIT_ROWS", 700)


# ---------------------------------------------------------------------------- HDF5


def test_pandas_hdf5_columns_match_read_hdf(h5_frame, small_units):
    path, _ = h5_frame
    reference = pd.read_hdf(path, "df")
    source = sn.open_source(path, label="target")
    assert source.x_key == "df" and source.label == "target"
    assert source.feature_names == ["a", "b", "c", "flag"]
    fixed = path.name == "fixed.h5"
    if fixed:  # format 'fixed' pickles a string column whole: left out, with the reason
        assert source.categorical == [] and dict(source.left_out) == {
            "city": source.left_out[0][1]}
        assert "format='table'" in source.left_out[0][1]
    else:  # a string column is categorical, as in a Parquet file
        assert source.categorical == ["city"] and source.left_out == []
    assert len(source.units) >= 2
    rows = 0
    for i in range(len(source.units)):
        chunk = source.read(i)
        u = source.units[i]
        expected = reference.iloc[u.index:u.index + u.n_rows]
        np.testing.assert_array_equal(chunk.X, expected[["a", "b", "c", "flag"]]
                                      .to_numpy(dtype=np.float64))
        np.testing.assert_array_equal(chunk.y, expected["target"].to_numpy())
        if not fixed:
            assert chunk.extra["city"].to_pylist() == expected["city"].tolist()
        rows += u.n_rows
    assert rows == len(reference)


def test_pandas_hdf5_selected_features_and_float32(tmp_path, small_units):
    df = frame()
    for fmt in ("fixed", "table"):
        path = tmp_path / f"{fmt}.h5"
        df.to_hdf(path, key="df", format=fmt)
        source = sn.open_source(path, label="target", features=["b"])
        assert source.dtype == np.float32  # every chosen feature is float32: kept
        X = np.concatenate([source.read(i).X for i in range(len(source.units))])
        np.testing.assert_array_equal(X[:, 0], pd.read_hdf(path, "df")["b"].to_numpy())


def test_train_evaluate_predict_on_pandas_hdf5(h5_frame, tmp_path, capsys):
    path, df = h5_frame
    model = tmp_path / "m.json"
    code, out, err = run(capsys, "train", path, "--label", "target", "-o", model, "--epochs", 2,
                         "--json", "--exclude", "city")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["feature_names"] == ["a", "b", "c", "flag"]
    assert {"column": "city", "reason": summary["left_out"][0]["reason"]} in summary["left_out"]
    assert "features (4): a, b, c, flag" in err and "city" in err
    assert json.loads(model.read_text())["label"] == "target"

    code, out, err = run(capsys, "evaluate", model, path, "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["rows"] == N and metrics["accuracy"] > 0.6

    scores = tmp_path / "scores.parquet"
    code, _, err = run(capsys, "predict", model, path, "-o", scores, "--keep", "c,target",
                       "--quiet")
    assert code == 0, err
    table = pq.read_table(scores)
    assert table.column_names == ["probability", "prediction", "c", "target"]
    np.testing.assert_array_equal(table.column("target").to_numpy(), df["target"].to_numpy())
    neuron = sn.load_model(model)
    p = neuron.predict_proba(df[["a", "b", "c", "flag"]].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(table.column("probability").to_numpy(), p, rtol=1e-12)


def test_pandas_hdf5_bad_cases_are_one_line(tmp_path, capsys):
    df = frame(200)
    path = tmp_path / "f.h5"
    df.to_hdf(path, key="df", format="table")
    out = tmp_path / "m.json"
    # The label is a column name; the default 'y' is not one of them.
    turned_away(capsys, ["train", path, "-o", out], ["f.h5", "no label column 'y'", "target",
                                                     "--label"], out)
    # A string label of two values needs --positive (found in the first read).
    code, _, err = run(capsys, "train", path, "--label", "city", "-o", out)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and "Traceback" not in err
    assert all(t in last for t in ("'city'", "--positive", "'Oslo'", "'Rome'"))
    assert not out.exists()
    turned_away(capsys, ["train", path, "--label", "target", "--categorical", "a", "-o", out],
                ["'a'", "float"], out)
    # Two frames in one file: which one is the user's to say.
    df.to_hdf(path, key="other", format="fixed")
    turned_away(capsys, ["train", path, "--label", "target", "-o", out],
                ["several pandas objects", "df, other", "--x-key"], out)
    code, _, err = run(capsys, "train", path, "--label", "target", "--x-key", "other", "-o", out,
                       "--epochs", 1, "--quiet")
    assert code == 0, err
    # A Series is not a table of features.
    series = tmp_path / "s.h5"
    df["a"].to_hdf(series, key="s")
    turned_away(capsys, ["train", series, "-o", out, "--x-key", "s"], ["'s'", "series",
                                                                       "DataFrame"])
    # Object columns cannot be copied out in chunks (--keep).
    fixed = tmp_path / "fixed.h5"
    df.to_hdf(fixed, key="df", format="fixed")
    scores = tmp_path / "p.parquet"
    turned_away(capsys, ["predict", out, fixed, "-o", scores, "--keep", "city"],
                ["--keep city", "pickled", "format='table'"], scores)
    # Format 'table' stores strings as bytes: kept, as text.
    code, _, err = run(capsys, "predict", out, path, "--x-key", "df", "-o", scores, "--keep",
                       "city", "--quiet")
    assert code == 0, err
    assert pq.read_table(scores).column("city").to_pylist() == df["city"].tolist()


def test_pandas_hdf5_files_of_two_layouts_are_refused(tmp_path, capsys):
    df = frame(100)
    df.to_hdf(tmp_path / "a.h5", key="df", format="table")
    df.drop(columns="flag").to_hdf(tmp_path / "b.h5", key="df", format="table")
    with pytest.raises(sn.DataError, match="b.h5.*layout"):
        sn.open_source([tmp_path / "a.h5", tmp_path / "b.h5"], label="target")


def test_pandas_hdf5_names_are_read_without_unpickling_code(tmp_path):
    """The name lists are pickles: one that asks for a class is refused, not run."""
    df = frame(50)
    path = tmp_path / "t.h5"
    df.to_hdf(path, key="df", format="table")
    with h5py.File(path, "r+") as f:
        f["df/table"].attrs["values_block_0_kind"] = np.bytes_(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(sn.DataError, match="column names"):
        sn.open_source(path, label="target")


def test_pandas_hdf5_multiindex_levels_are_left_out(tmp_path):
    """Format 'table' stores the levels of a MultiIndex as columns: they are row
    labels, left out as the index, not features."""
    df = frame(200)
    df["k1"], df["k2"] = np.arange(200) // 10, np.arange(200) % 10
    df.set_index(["k1", "k2"]).to_hdf(tmp_path / "mi.h5", key="df", format="table")
    source = sn.open_source(tmp_path / "mi.h5", label="target")
    assert source.feature_names == ["a", "b", "c", "flag"]
    left = dict(source.left_out)
    assert left["k1"] == left["k2"] == "pandas index"
    df.set_index(["k1", "k2"]).to_hdf(tmp_path / "mif.h5", key="df", format="fixed")
    assert sn.open_source(tmp_path / "mif.h5", label="target").feature_names == \
        ["a", "b", "c", "flag"]


# ---------------------------------------------------------------------------- Parquet


@pytest.mark.parametrize("index", ["unnamed", "named"])
def test_to_parquet_index_is_left_out_and_a_clean_file_scores(tmp_path, capsys, index):
    df = frame(400)
    df = df[df["a"] > -1.0]  # a filtered frame: its index is not a RangeIndex any more
    if index == "named":
        df.index.name = "row"
    df.to_parquet(tmp_path / "with_index.parquet")
    stored = "__index_level_0__" if index == "unnamed" else "row"
    assert stored in pq.read_schema(tmp_path / "with_index.parquet").names

    model = tmp_path / "m.json"
    code, out, err = run(capsys, "train", tmp_path / "with_index.parquet", "--label", "target",
                         "-o", model, "--epochs", 1, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["feature_names"] == ["a", "b", "c", "flag"]
    assert {"column": stored, "reason": "pandas index"} in summary["left_out"]
    assert f"{stored} (pandas index)" in err

    df.reset_index(drop=True).to_parquet(tmp_path / "clean.parquet")
    code, _, err = run(capsys, "predict", model, tmp_path / "clean.parquet",
                       "-o", tmp_path / "p.parquet", "--quiet")
    assert code == 0, err
    assert pq.read_table(tmp_path / "p.parquet").num_rows == len(df)


def test_to_parquet_without_index_has_nothing_to_leave_out(tmp_path):
    df = frame(300)
    df.to_parquet(tmp_path / "plain.parquet")  # a RangeIndex: metadata only
    df.to_parquet(tmp_path / "no_index.parquet", index=False)
    for name in ("plain.parquet", "no_index.parquet"):
        source = sn.open_source(tmp_path / name, label="target")
        assert source.feature_names == ["a", "b", "c", "flag"]
        assert source.categorical == ["city"] and source.left_out == []  # strings: categorical
        assert source.column_warnings == []


def test_inspect_a_pandas_hdf5_file(tmp_path, capsys):
    frame(500).to_hdf(tmp_path / "t.h5", key="df", format="table")
    code, out, err = run(capsys, "inspect", tmp_path / "t.h5", "--label", "target", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["hdf5"]["x_key"] == "df" and report["hdf5"]["pandas_format"] == "table"
    assert report["features"] == ["a", "b", "c", "flag"]
    assert report["left_out"] == []
    (city,) = report["categorical"]
    assert city["column"] == "city" and city["distinct"] == 2 and city["type"] == "string"
    assert report["schema"]["flag"] == "bool" and report["label"] == "target"
    assert report["label_balance"]["positives"] + report["label_balance"]["negatives"] == 500
    code, out, err = run(capsys, "inspect", tmp_path / "t.h5", "--label", "target", "--columns")
    assert code == 0, err
    assert "df (pandas, format 'table')" in out
    assert any(l.split()[:2] == ["city", "string"] for l in out.splitlines())
