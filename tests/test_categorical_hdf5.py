"""Categorical columns and string labels in HDF5 files (issues 20 and 21), in every way
streamneuron reads HDF5: h5py files (``X`` and, beside it, 1-D datasets of variable-length
strings, fixed-length bytes and integers; or one 1-D dataset per column, no ``X``) and
pandas ``to_hdf`` frames (format "table":
object/string columns with nulls, ``category`` columns, integers; as value blocks and as
data columns). Against scikit-learn's pipeline optimum (the helpers of
``test_categorical.py``), the same levels as the same rows in Parquet, and models applied
across the formats."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron.levels import LevelCounts
from streamneuron.readers import hdf5
from cli_helpers import run, turned_away
from test_categorical import as_reference_input, make_frame, reference

pytest.importorskip("tables")  # pandas' to_hdf writes through PyTables

N = 3000
UNIT_ROWS = 700  # several units (chunk ranges) in a small file


def write_h5py(path, frame: pd.DataFrame, chunk_rows: int = 500) -> None:
    """The X/y layout: numbers in ``X`` (named columns), each categorical column a 1-D
    dataset beside it (carrier: variable-length strings; origin: fixed-length bytes;
    hour: int32), the label ``y``."""
    with h5py.File(path, "w") as f:
        X = f.create_dataset("X", data=frame[["x1", "x2"]].to_numpy(), chunks=(chunk_rows, 2))
        X.attrs["feature_names"] = ["x1", "x2"]
        f.create_dataset("carrier", data=frame["carrier"].astype(str).to_numpy(dtype=object),
                         dtype=h5py.string_dtype(), chunks=(chunk_rows,))
        f.create_dataset("origin", data=frame["origin"].astype(str).to_numpy().astype("S10"),
                         chunks=(chunk_rows,))
        f.create_dataset("hour", data=frame["hour"].to_numpy(np.int32))
        f.create_dataset("y", data=frame["y"].to_numpy(np.int8), chunks=(chunk_rows,))


def write_columns(path, frame: pd.DataFrame, chunk_rows: int = 500) -> None:
    """One 1-D dataset per column, no ``X``: the numbers, carrier (variable-length
    strings), origin (fixed-length bytes), hour (int64) and y."""
    with h5py.File(path, "w") as f:
        for c in ("x1", "x2", "hour", "y"):
            f.create_dataset(c, data=frame[c].to_numpy(), chunks=(chunk_rows,))
        f.create_dataset("carrier", data=frame["carrier"].astype(str).to_numpy(dtype=object),
                         dtype=h5py.string_dtype(), chunks=(chunk_rows,))
        f.create_dataset("origin", data=frame["origin"].astype(str).to_numpy().astype("S4"),
                         chunks=(chunk_rows,))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("h5cat")
    train, test = make_frame(N, 0), make_frame(1500, 1)
    test.loc[test.index[:30], "carrier"] = "ZZ"  # a level never seen in training
    # h5py has no null string: the h5py files hold carrier's nulls as the level "NA"
    plain = {"train": train.assign(carrier=train["carrier"].fillna("NA")),
             "test": test.assign(carrier=test["carrier"].fillna("NA"))}
    paths = {}
    for name, frame in (("train", train), ("test", test)):
        paths[f"{name}.parquet"] = folder / f"{name}.parquet"
        frame.to_parquet(paths[f"{name}.parquet"], row_group_size=800)
        paths[f"{name}.table.h5"] = folder / f"{name}.table.h5"
        frame.to_hdf(paths[f"{name}.table.h5"], key="df", format="table")
        paths[f"{name}.h5py.h5"] = folder / f"{name}.h5py.h5"
        write_h5py(paths[f"{name}.h5py.h5"], plain[name])
        paths[f"{name}.cols.h5"] = folder / f"{name}.cols.h5"
        write_columns(paths[f"{name}.cols.h5"], plain[name])
        paths[f"{name}.plain.parquet"] = folder / f"{name}.plain.parquet"
        plain[name].to_parquet(paths[f"{name}.plain.parquet"], row_group_size=800)
    paths["train.columns.h5"] = folder / "train.columns.h5"
    train.to_hdf(paths["train.columns.h5"], key="df", format="table", data_columns=True)
    return {"train": train, "test": test, "plain": plain, "folder": folder, **paths}


@pytest.fixture
def small_units(monkeypatch):
    """Several units (chunk ranges) from a small file, in this process."""
    monkeypatch.setattr(hdf5, "TARGET_UNIT_ROWS", UNIT_ROWS)


def _counts(path, **kw):
    src = sn.open_source(path, label="y", categorical=["hour"], **kw)
    assert len(src.units) >= 3
    counts = LevelCounts(src.categorical)
    for i in range(len(src.units)):
        counts.add(src.read(i).extra)
    return src, counts.levels(reference=False)


@pytest.mark.parametrize("layout", ["table", "columns", "h5py", "cols"])
def test_levels_are_those_of_the_same_rows_in_parquet(files, layout, small_units):
    h5 = files[f"train.{layout}.h5"]
    parquet = files["train.plain.parquet" if layout in ("h5py", "cols") else "train.parquet"]
    src, levels = _counts(h5)
    assert sorted(src.feature_names) == ["x1", "x2"] and src.left_out == []
    assert sorted(src.categorical) == ["carrier", "hour", "origin"]
    _, expected = _counts(parquet)
    assert sorted(levels.columns, key=lambda c: c.name) == \
        sorted(expected.columns, key=lambda c: c.name)
    if layout in ("table", "columns"):  # pandas' NaN/None: a level of its own
        assert None in levels.columns[levels.names.index("carrier")].values


def _rows(model, path):
    src = sn.open_source(path, label=None, **model.columns())
    units = [src.read(i) for i in range(len(src.units))]
    return np.concatenate([u.X for u in units]), np.concatenate([u.codes for u in units])


@pytest.mark.parametrize("layout", ["table", "h5py", "cols"])
def test_newton_is_the_pipeline_optimum(files, layout, small_units):
    frame = files["train"] if layout == "table" else files["plain"]["train"]
    model = sn.fit_gd(files[f"train.{layout}.h5"], label="y", solver="newton",
                      categorical=["hour"], tol=1e-10)
    pipe, X = reference(frame, 1.0 / N)
    ours = model.decision_function(*_rows(model, files[f"train.{layout}.h5"]))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < 1e-6


def test_sgd_on_hdf5_lands_near_the_optimum(files, small_units):
    from sklearn.metrics import log_loss

    model = sn.fit_sgd(files["train.table.h5"], label="y", categorical=["hour"], seed=3)
    pipe, _ = reference(files["train"], 1.0 / N)
    best = log_loss(files["test"]["y"], pipe.predict_proba(as_reference_input(files["test"]))[:, 1])
    z = model.decision_function(*_rows(model, files["test.table.h5"]))
    assert log_loss(files["test"]["y"], 1 / (1 + np.exp(-z))) <= best * 1.01


def test_dask_cluster_reads_the_hdf5_partitions_with_the_same_bits(tmp_path, dask_client):
    """Each task reopens its file on a worker with the categorical columns (units are at
    least 50,000 rows here: two per file). The session's cluster of two worker processes
    (conftest.dask_client), reached by its scheduler's address."""
    frame = make_frame(100_000, 2)
    frame.to_hdf(tmp_path / "t.h5", key="df", format="table")
    write_h5py(tmp_path / "x.h5", frame.assign(carrier=frame["carrier"].fillna("NA")),
               chunk_rows=50_000)
    write_columns(tmp_path / "c.h5", frame.assign(carrier=frame["carrier"].fillna("NA")),
                  chunk_rows=50_000)
    kw = dict(label="y", solver="newton", categorical=["hour"], partition_rows=50_000)
    address = dask_client.scheduler_info()["address"]
    for name in ("t.h5", "x.h5", "c.h5"):
        assert len(sn.open_source(tmp_path / name, label="y").units) == 2
        here = sn.fit_gd(tmp_path / name, **kw, workers=0)
        there = sn.fit_gd(tmp_path / name, **kw, scheduler=address)
        assert there.info["where"] != here.info["where"]
        np.testing.assert_array_equal(here.weights, there.weights)
        assert here.levels == there.levels


def _probabilities(model, data, tmp_path, name):
    out = tmp_path / name
    assert sn.cli.main(["predict", str(model), str(data), "-o", str(out), "--quiet"]) == 0
    return pq.read_table(out).column("probability").to_numpy()


def test_models_cross_the_formats(files, tmp_path, capsys):
    """A model trained on Parquet predicts and evaluates HDF5 files (both layouts) as the
    same rows in Parquet, levels matched by value (an unseen level adds nothing); a model
    trained on HDF5 is the one trained on Parquet."""
    on_parquet, on_h5 = tmp_path / "p.json", tmp_path / "h.json"
    for model, data in ((on_parquet, files["train.plain.parquet"]),
                        (on_h5, files["train.h5py.h5"])):
        code, _, err = run(capsys, "train", data, "--label", "y", "-o", model, "--mode",
                           "newton", "--categorical", "hour", "--tol", "1e-10")
        assert code == 0, err
        assert "carrier (5 levels)" in err and "origin (12 levels)" in err
    pipe, _ = reference(files["plain"]["train"], 1.0 / N)
    expected = pipe.decision_function(as_reference_input(files["plain"]["test"]))
    for model in (on_parquet, on_h5):
        for data in ("test.plain.parquet", "test.h5py.h5"):
            p = _probabilities(model, files[data], tmp_path, f"{model.stem}-{data}.parquet")
            np.testing.assert_allclose(np.log(p) - np.log1p(-p), expected, atol=1e-6)
        code, out, err = run(capsys, "evaluate", model, files["test.h5py.h5"], "--label", "y",
                             "--json")
        assert code == 0, err
        assert json.loads(out)["rows"] == 1500
    # the pandas frame (nulls a level) against the model of the same rows in Parquet
    trained = tmp_path / "t.json"
    code, _, err = run(capsys, "train", files["train.parquet"], "--label", "y", "-o", trained,
                       "--mode", "newton", "--categorical", "hour", "--tol", "1e-10")
    assert code == 0, err
    a = _probabilities(trained, files["test.parquet"], tmp_path, "a.parquet")
    b = _probabilities(trained, files["test.table.h5"], tmp_path, "b.parquet")
    np.testing.assert_array_equal(a, b)
    # predict --keep copies a categorical column of the X/y layout
    kept = tmp_path / "kept.parquet"
    code, _, err = run(capsys, "predict", on_h5, files["test.h5py.h5"], "-o", kept, "--keep",
                       "carrier", "--quiet")
    assert code == 0, err
    assert pq.read_table(kept).column("carrier").to_pylist() == \
        files["plain"]["test"]["carrier"].tolist()


def _label_files(folder):
    rng = np.random.default_rng(5)
    n = 1200
    x = rng.normal(size=(n, 2))
    late = x @ [1.0, -0.5] + rng.normal(size=n) > 0
    status = np.where(late, "late", "on time")
    with h5py.File(folder / "vlen.h5", "w") as f:
        f.create_dataset("X", data=x, chunks=(300, 2))
        f.create_dataset("status", data=status.astype(object), dtype=h5py.string_dtype())
    with h5py.File(folder / "fixed.h5", "w") as f:
        f.create_dataset("X", data=x, chunks=(300, 2))
        f.create_dataset("status", data=status.astype("S7"))
    with h5py.File(folder / "cols.h5", "w") as f:
        f["a"], f["b"] = x[:, 0], x[:, 1]
        f.create_dataset("status", data=status.astype(object), dtype=h5py.string_dtype())
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "status": status})
    frame.to_hdf(folder / "frame.h5", key="df", format="table")
    frame.assign(status=pd.Categorical(status)).to_hdf(folder / "cat.h5", key="df",
                                                       format="table")
    frame.assign(status=late.astype(int)).to_parquet(folder / "numbers.parquet")
    return late


def test_string_labels_with_positive(tmp_path):
    folder = tmp_path
    _label_files(folder)
    ref = sn.fit_gd(folder / "numbers.parquet", label="status", solver="newton", workers=0)
    for name in ("vlen.h5", "fixed.h5", "frame.h5", "cat.h5", "cols.h5"):
        model = sn.fit_gd(folder / name, label="status", positive="late", solver="newton",
                          workers=0)
        np.testing.assert_allclose(model.weights, ref.weights, rtol=1e-12, atol=1e-14)
        assert model.positive == "late"
        assert model.to_dict()["labels"] == {"positive": "late", "negative": "on time"}


def test_evaluate_on_hdf5_reads_the_models_label_values(tmp_path, capsys):
    _label_files(tmp_path)
    for trained, others in (("fixed.h5", ["vlen.h5"]), ("frame.h5", ["cat.h5", "cols.h5"])):
        out = tmp_path / f"{trained}.json"
        code, _, err = run(capsys, "train", tmp_path / trained, "--label", "status",
                           "--positive", "late", "-o", out, "--mode", "newton")
        assert code == 0, err
        for name in others:  # the model's pair: no --positive needed
            code, _, err = run(capsys, "evaluate", out, tmp_path / name, "--label", "status")
            assert code == 0, err
    out = tmp_path / "fixed.h5.json"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["X"] = np.zeros((4, 2))
        f.create_dataset("status", data=np.array(["late", "early"] * 2, dtype=object),
                         dtype=h5py.string_dtype())
    code, _, err = run(capsys, "evaluate", out, other, "--label", "status")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and "Traceback" not in err, err
    assert all(t in last for t in ("other.h5", "'status'", "'early'")), last


def test_label_errors_of_issue_21(tmp_path, capsys):
    folder = tmp_path
    _label_files(folder)
    out = tmp_path / "m.json"

    def refused(path, *more, expected):
        code, _, err = run(capsys, "train", path, "--label", "status", "-o", out, *more)
        last = err.strip().splitlines()[-1]
        assert code == 2 and last.startswith("Error: ") and "Traceback" not in err, err
        assert all(t in last for t in expected), last
        assert not out.exists()

    for name in ("vlen.h5", "frame.h5", "cat.h5", "cols.h5"):  # two values listed, the flag
        refused(folder / name, expected=[name, "'status'", "'late'", "'on time'", "--positive"])
    three = tmp_path / "three.h5"
    with h5py.File(three, "w") as f:
        f["X"] = np.zeros((6, 1))
        f.create_dataset("status", data=np.array(["a", "b", "c"] * 2, dtype=object),
                         dtype=h5py.string_dtype())
    refused(three, "--positive", "a", expected=["three.h5", "more than two values", "'b'", "'c'"])
    # a null label (pandas' NaN in a string column): named, with what to do
    frame = pd.DataFrame({"a": np.arange(8.0), "status": ["x", "y"] * 3 + [None, "x"]})
    nulls = tmp_path / "nulls.h5"
    frame.to_hdf(nulls, key="df", format="table")
    refused(nulls, "--positive", "x", expected=["nulls.h5", "row 6", "'status'", "null",
                                                "--missing drop"])
    code, _, err = run(capsys, "train", nulls, "--label", "status", "--positive", "x",
                       "--missing", "drop", "-o", out, "--mode", "newton")
    assert code == 0, err


def test_inspect_counts_levels_of_hdf5(files, capsys):
    code, out, err = run(capsys, "inspect", files["train.table.h5"], "--label", "y", "--json")
    assert code == 0, err
    report = {c["column"]: c for c in json.loads(out)["categorical"]}
    expected = files["train"]["carrier"].value_counts()
    assert set(report) == {"carrier", "origin"}  # (hour: integers, named only)
    assert report["carrier"]["distinct"] == 5 and report["carrier"]["nulls"] == \
        files["train"]["carrier"].isna().sum()
    assert report["carrier"]["top"][0] == [expected.index[0], int(expected.iloc[0])]
    assert report["origin"]["type"] == "category" and report["origin"]["distinct"] == 12
    code, out, err = run(capsys, "inspect", files["train.h5py.h5"], "--label", "y", "--json")
    assert code == 0, err
    report = {c["column"]: c for c in json.loads(out)["categorical"]}
    assert report["carrier"]["type"] == "string (vlen)"
    assert report["origin"]["type"] == "string (S10)" and report["origin"]["distinct"] == 12
    # the features dataset under another name (--x-key): the levels are read beside it
    other = files["folder"] / "feats.h5"
    with h5py.File(other, "w") as f:
        f["feats"], f["lab"] = np.zeros((4, 1)), np.array([0, 1, 1, 0])
        f.create_dataset("city", data=np.array(["a", "b", "a", "a"], dtype=object),
                         dtype=h5py.string_dtype())
    code, out, err = run(capsys, "inspect", other, "--x-key", "feats", "--label", "lab",
                         "--columns")
    assert code == 0, err
    assert "city  2 distinct: a 3, b 1" in out
    assert any(line.split()[0] == "city" and line.split()[-1] == "categorical"
               for line in out.splitlines() if line.strip())


def test_bad_hdf5_categorical_input(files, tmp_path, capsys):
    out = tmp_path / "m.json"
    bad = tmp_path / "latin1.h5"
    with h5py.File(bad, "w") as f:
        f["X"] = np.zeros((4, 1))
        f["city"] = np.array([b"Oslo", b"Troms\xf8", b"Oslo", b"Rome"])
        f["y"] = np.array([0, 1, 0, 1])
    code, _, err = run(capsys, "train", bad, "-o", out, "--mode", "newton")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and "Traceback" not in err
    assert all(t in last for t in ("latin1.h5", "row 1", "'city'", "not utf-8", "b'Troms\\xf8'"))
    assert not out.exists()
    # a float dataset named in --categorical; a number dataset beside X named as a feature
    numbers = tmp_path / "numbers.h5"  # (a file a run read stays open in its worker cache)
    with h5py.File(numbers, "w") as f:
        f["X"] = np.zeros((4, 1))
        f["z"], f["k"], f["y"] = np.zeros(4), np.arange(4), np.array([0, 1, 0, 1])
    turned_away(capsys, ["train", numbers, "-o", out, "--categorical", "z"], ["'z'", "float"],
                out)
    turned_away(capsys, ["train", numbers, "-o", out, "--features", "x0,k"],
                ["'k'", "beside 'X'", "--categorical"], out)
    # one 1-D dataset per column: one length
    ragged = tmp_path / "ragged.h5"
    with h5py.File(ragged, "w") as f:
        f["x"], f["c"], f["y"] = np.zeros(4), np.array([b"a"] * 3), np.array([0, 1, 0, 1])
    turned_away(capsys, ["train", ragged, "-o", out], ["ragged.h5", "one length", "c (3)",
                                                         "x (4)"], out)
    # --max-levels: a default column left out with its reason, a named one refused
    code, _, err = run(capsys, "train", files["train.h5py.h5"], "--label", "y", "-o", out,
                       "--max-levels", "5", "--mode", "newton")
    assert code == 0, err
    assert "origin (left out: more than 5 levels)" in err
    code, _, err = run(capsys, "train", files["train.table.h5"], "--label", "y", "-o", out,
                       "--categorical", "origin", "--max-levels", "5", "--mode", "newton")
    assert code == 2 and "more than 5" in err.strip().splitlines()[-1]
    # pandas' format 'fixed' pickles a string column whole: left out, or refused when named
    fixed = tmp_path / "fixed.h5"
    files["train"].drop(columns="origin").to_hdf(fixed, key="df", format="fixed")
    src = sn.open_source(fixed, label="y")
    assert dict(src.left_out)["carrier"].startswith("strings pickled whole")
    out = tmp_path / "fixed.json"
    turned_away(capsys, ["train", fixed, "--label", "y", "-o", out, "--categorical", "carrier"],
                ["fixed.h5", "'carrier'", "pickled", "format='table'"], out)


def test_hash_bits_on_hdf5_is_the_parquet_model(files, tmp_path):
    kw = dict(label="y", solver="newton", max_levels=5, hash_bits=4, tol=1e-10,
              categorical=["hour"])
    a = sn.fit_gd(files["train.h5py.h5"], **kw)
    b = sn.fit_gd(files["train.plain.parquet"], **kw)
    assert {c.name: c.hash_bits for c in a.levels.columns} == {"carrier": 0, "hour": 0,
                                                               "origin": 4}
    np.testing.assert_allclose(a.decision_function(*_rows(a, files["test.h5py.h5"])),
                               b.decision_function(*_rows(b, files["test.plain.parquet"])),
                               atol=1e-7)


def test_booleans_and_pandas_missing_marker_as_pd_read_hdf(tmp_path):
    """A boolean column named in --categorical gives the levels True/False in both layouts
    (pandas stores it as uint8); a string column's missing value is read as pandas reads
    it: null where pandas wrote its marker, and a literal "nan" in a column without missing
    values stays the text "nan" (pandas' per-column ``nan_rep``)."""
    frame = pd.DataFrame({"x": np.arange(6.0), "flag": [True, False, True, True, False, True],
                          "s": ["a", None, "nan", "a", "b", None],
                          "t": ["nan", "a", "a", "b", "nan", "a"], "y": [0, 1, 0, 1, 1, 0]})
    frame.to_hdf(tmp_path / "t.h5", key="df", format="table")
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["X"], f["flag"], f["y"] = frame[["x"]].to_numpy(), frame["flag"].to_numpy(), frame["y"]
    back = pd.read_hdf(tmp_path / "t.h5")
    src = sn.open_source(tmp_path / "t.h5", label="y", categorical=["flag"])
    assert src.categorical == ["flag", "s", "t"]
    extra = src.read(0).extra
    assert extra["flag"].to_pylist() == frame["flag"].tolist()
    for c in ("s", "t"):
        assert extra[c].to_pylist() == [None if pd.isna(v) else v for v in back[c]]
    assert extra["t"].to_pylist()[0] == "nan"
    x = sn.open_source(tmp_path / "x.h5", label="y", categorical=["flag"]).read(0).extra
    assert x["flag"].to_pylist() == frame["flag"].tolist()


def test_files_whose_strings_and_categories_are_stored_differently_read_together(tmp_path):
    """pandas sizes a table's string field by its longest value and a category's codes by
    its number of categories: two files of one frame layout still read as one input."""
    a = pd.DataFrame({"x": [0.0, 1.0, 2.0], "s": ["a", "b", "a"],
                      "c": pd.Categorical(["u", "v", "u"]), "y": [0, 1, 0]})
    b = pd.DataFrame({"x": [3.0, 4.0], "s": ["a much longer text", "b"],
                      "c": pd.Categorical([f"k{i}" for i in range(200)])[:2], "y": [1, 0]})
    a.to_hdf(tmp_path / "a.h5", key="df", format="table")
    b.to_hdf(tmp_path / "b.h5", key="df", format="table")
    src = sn.open_source([tmp_path / "a.h5", tmp_path / "b.h5"], label="y")
    counts = LevelCounts(src.categorical)
    for i in range(len(src.units)):
        counts.add(src.read(i).extra)
    assert counts.counts["s"] == {"a": 2, "b": 2, "a much longer text": 1}
    assert counts.counts["c"] == {"u": 2, "v": 1, "k0": 1, "k1": 1}


def test_an_hdf5_file_can_be_written_again_after_a_full_pass_run(tmp_path):
    # the pass threads' cached sources are closed at the end of a run: h5py refuses to
    # truncate a file this process still holds open
    path = tmp_path / "again.h5"
    rng = np.random.default_rng(1)

    def write():
        X = rng.normal(size=(500, 2))
        with h5py.File(path, "w") as f:
            f.create_dataset("X", data=X, chunks=(100, 2))
            f["y"] = (X[:, 0] > 0).astype(float)

    write()
    for solver in ("newton", "gd"):
        sn.fit_gd(path, solver=solver, max_iter=2, workers=0)
        write()
