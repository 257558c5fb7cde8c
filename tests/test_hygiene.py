"""Data hygiene, as a new user meets it (issue 21): gaps and odd labels shown by
``inspect`` instead of failing it, a data folder read as Spark and pyarrow read one,
``--class-weight 0=1,1=5``, and column lists that stay readable with a "did you
mean". References: pandas (null counts, value counts), pyarrow.dataset (which files
a folder holds), duplicated rows (class weights)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from cli_helpers import run, turned_away
from streamneuron.rules import class_weights_from_text


def _gappy_frame(n=300, seed=0) -> pd.DataFrame:
    """Gaps in a float column (NaN), a pandas nullable integer column (None) and the label."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "k": pd.array(rng.integers(0, 5, size=n), dtype="Int64"),
                       "y": pd.array(rng.integers(0, 2, size=n), dtype="Int64")})
    df.loc[rng.choice(n, 7, replace=False), "a"] = np.nan
    df.loc[rng.choice(n, 4, replace=False), "k"] = None
    df.loc[[5, 250], "y"] = None
    return df


@pytest.mark.parametrize("statistics", [True, False])
def test_inspect_counts_nulls_per_column_and_shows_a_null_label(tmp_path, capsys, statistics):
    """With the writer's statistics (read from the metadata) and without them (counted
    column chunk by column chunk), the counts are pandas' own."""
    df = _gappy_frame()
    path = tmp_path / "gaps.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, row_group_size=64,
                   write_statistics=statistics)
    code, out, err = run(capsys, "inspect", path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["nulls"] == {c: int(n) for c, n in df.isna().sum().items()}
    expected = df["y"].value_counts()
    assert {v["value"]: v["count"] for v in report["label_values"]} == \
        {int(k): int(c) for k, c in expected.items()}
    assert report["label_nulls"] == 2 and "label_balance" not in report
    assert any("label column 'y' has 2 null value(s)" in w and "row group 0" in w
               and "drop those rows first" in w for w in report["warnings"])

    code, out, err = run(capsys, "inspect", path)
    assert code == 0, err
    assert str(path) in out or "gaps.parquet" in out
    assert "nulls:     a: 7, k: 4, y: 2" in out
    assert "label:     y: values" in out and "null (2)" in out


def test_inspect_lists_string_labels_and_many_values(tmp_path, capsys):
    df = pd.DataFrame({"x": np.arange(40.0), "y": ["yes", "no", "no", "maybe"] * 10})
    path = tmp_path / "s.parquet"
    df.to_parquet(path)
    code, out, err = run(capsys, "inspect", path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {v["value"]: v["count"] for v in report["label_values"]} == \
        df["y"].value_counts().to_dict()
    assert report["label_values_complete"] and report["nulls"] == {"x": 0, "y": 0}
    assert any("values other than 0 and 1" in w for w in report["warnings"])

    many = tmp_path / "m.parquet"
    pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0) / 7}).to_parquet(many)
    report = json.loads(run(capsys, "inspect", many, "--json")[1])
    assert len(report["label_values"]) == 10 and not report["label_values_complete"]
    code, out, _ = run(capsys, "inspect", many)
    assert code == 0 and "more than 10 distinct values" in out


def test_inspect_label_values_of_hdf5_and_clean_labels_unchanged(tmp_path, capsys, hdf5_file,
                                                                parquet_file, data):
    """A clean label keeps its balance line (HDF5 read label-only now); NaN in an HDF5
    label dataset is shown, not raised."""
    _, y = data
    for path in (hdf5_file, parquet_file):
        report = json.loads(run(capsys, "inspect", path, "--json")[1])
        assert report["label_balance"]["positives"] == int(y.sum())
    import h5py

    bad = tmp_path / "nan.h5"
    with h5py.File(bad, "w") as f:
        f["X"] = np.ones((6, 2))
        f["y"] = np.array([0, 1, np.nan, 1, 0, np.nan])
    code, out, err = run(capsys, "inspect", bad, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["label_nulls"] == 2 and report["nulls"] == {"x0": 0, "x1": 0, "y": 2}


def test_null_label_in_training_says_what_to_do_in_the_null_feature_words(tmp_path, capsys):
    df = _gappy_frame()
    path = tmp_path / "gaps.parquet"
    df.to_parquet(path, row_group_size=64)
    label = turned_away(capsys, ["train", path, "--label", "y", "--features", "b", "-o",
                                 tmp_path / "m.json", "--quiet"],
                        ["gaps.parquet, row group 0", "label column 'y' has 1 null value(s)",
                         "drop those rows first"], output=tmp_path / "m.json")
    labelled = tmp_path / "labelled.parquet"
    df.dropna(subset=["y"]).to_parquet(labelled, row_group_size=64)
    feature = turned_away(capsys, ["train", labelled, "--label", "y", "--features", "a", "-o",
                                   tmp_path / "m.json", "--quiet"],
                          ["feature column 'a' has", "null value(s)", "drop or impute them first"])
    # The same words: "<role> column '<name>' has N null value(s); drop ... first".
    import re

    # (issue 21: both name --missing; the feature's count in the whole input too)
    shape = (r"row group \d+(, row \d+)?: (label|feature) column '\w+' has \d+ null "
             r"value\(s\)[^;]*; .*--missing drop")
    assert re.search(shape, label) and re.search(shape, feature)
    # A pandas NaN label (library and in-memory data) says the same.
    frame = pd.DataFrame({"x": [1.0, 2, 3, 4], "y": [0, 1, np.nan, 1]})
    with pytest.raises(sn.DataError, match=r"row 2: label column 'y' has 1 null value\(s\) "
                                           r"\(NaN\); drop those rows first"):
        sn.fit_sgd(sn.open_source(frame, label="y"), epochs=1)


# -- a data folder ---------------------------------------------------------------

def _spark_like_folder(folder, X, y):
    """Two parts, what Spark, Hadoop, Dask and macOS leave beside them, and parts
    that hidden folders hold (Spark's _temporary, Jupyter's checkpoints)."""
    (folder / "_temporary" / "0").mkdir(parents=True)
    (folder / ".ipynb_checkpoints").mkdir()
    half = len(y) // 2
    tables = []
    for k, rows in enumerate((slice(0, half), slice(half, None))):
        t = pa.table({"x0": X[rows, 0], "x1": X[rows, 1], "y": y[rows]})
        pq.write_table(t, folder / f"part-{k}.parquet", row_group_size=50)
        tables.append(t)
        (folder / f".part-{k}.parquet.crc").write_bytes(b"crc\x00")
    pq.write_table(tables[0], folder / "_temporary" / "0" / "part-9.parquet")
    pq.write_table(tables[0], folder / ".ipynb_checkpoints" / "part-0.parquet")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    pq.write_metadata(tables[0].schema, folder / "_common_metadata")
    pq.write_metadata(tables[0].schema, folder / "_metadata")


def test_a_folder_is_read_as_pyarrow_dataset_reads_it(tmp_path, capsys, data):
    X, y = data
    folder = tmp_path / "table"
    folder.mkdir()
    _spark_like_folder(folder, X, y)
    reference = ds.dataset(folder, format="parquet")  # ignore_prefixes ['.', '_']
    code, out, err = run(capsys, "inspect", folder, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert sorted(os.path.abspath(f) for f in report["files"]) == sorted(reference.files)
    assert report["rows"] == reference.count_rows() == len(y)
    code, _, err = run(capsys, "train", folder, "--label", "y", "-o", tmp_path / "m.json",
                       "--epochs", "1", "--quiet")
    assert code == 0, err


def test_a_stray_file_in_a_folder_is_named_with_a_glob_that_leaves_it_out(tmp_path, capsys,
                                                                          data):
    X, y = data
    folder = tmp_path / "table"
    folder.mkdir()
    _spark_like_folder(folder, X, y)
    (folder / "README.txt").write_text("exported on Monday\n")
    model = tmp_path / "m.json"
    line = turned_away(capsys, ["train", folder, "--label", "y", "-o", model, "--quiet"],
                       ["README.txt", "neither Parquet nor HDF5", f"'{folder}/*.parquet'"],
                       output=model)
    assert "convert" not in line  # a README is not a CSV to convert
    code, _, err = run(capsys, "train", f"{folder}/*.parquet", "--label", "y", "-o", model,
                       "--epochs", "1", "--quiet")
    assert code == 0, err
    # Deeper down: the glob reaches into the subfolders.
    (folder / "README.txt").unlink()
    (folder / "2024").mkdir()
    (folder / "2024" / "notes.md").write_text("# notes\n")
    turned_away(capsys, ["inspect", folder], ["2024/notes.md", f"'{folder}/**/*.parquet'"])
    code, out, err = run(capsys, "inspect", f"{folder}/**/*.parquet", "--json")
    assert code == 0, err
    # A file named alone is not in a folder listing: the CSV advice stays.
    turned_away(capsys, ["inspect", folder / "2024" / "notes.md"], ["streamneuron convert"])
    # An empty part-*.parquet: a glob would take it too, so not that advice
    (folder / "2024" / "notes.md").unlink()
    (folder / "part-9.parquet").write_bytes(b"")
    line = turned_away(capsys, ["inspect", folder], ["part-9.parquet", "empty (0 bytes)",
                                                     "delete part-9.parquet or move it out"])
    assert "glob" not in line


# -- --class-weight 0=1,1=5 ------------------------------------------------------

def test_class_weights_from_text():
    assert class_weights_from_text("0=1,1=5") == {0: 1.0, 1: 5.0}
    assert class_weights_from_text(" 1 = 2.5 ") == {1: 2.5}
    for bad in ("0:1", "2=1", "0=1,0=2", "0=x", "", "a=1"):
        with pytest.raises(ValueError):
            class_weights_from_text(bad)


def test_class_weight_text_equals_repeated_rows(tmp_path, capsys, data):
    """Integer class weights: the same optimum as every class-1 row written 3 times
    (the weighted standardization too)."""
    X, y = data
    from conftest import write_parquet

    path = write_parquet(tmp_path / "d.parquet", X, y)
    rep = np.concatenate([np.arange(len(y)), np.repeat(np.flatnonzero(y == 1), 2)])
    dup = write_parquet(tmp_path / "dup.parquet", X[rep], y[rep])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["--label", "y", "--mode", "newton", "--l2", "1e-3", "--workers", "0"]
    code, out, err = run(capsys, "train", path, *common, "-o", a, "--class-weight", "0=1,1=3")
    assert code == 0, err
    assert "class weights: 0: 1, 1: 3 (given)" in err
    code, out, err = run(capsys, "train", path, *common, "-o", a, "--class-weight", "1=3",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["class_weights"] == [1.0, 3.0]
    code, _, err = run(capsys, "train", dup, *common, "-o", b, "--quiet")
    assert code == 0, err
    ma, mb = (sn.load_model(p) for p in (a, b))
    probe = X[:50].astype(np.float64)
    np.testing.assert_allclose(ma.predict_proba(probe), mb.predict_proba(probe), atol=1e-7)
    assert ma.info["class_weights"] == [1.0, 3.0]


def test_balanced_class_weights_are_printed(tmp_path, capsys, parquet_file, data):
    _, y = data
    code, _, err = run(capsys, "train", parquet_file, "--label", "y", "-o", tmp_path / "m.json",
                       "--class-weight", "balanced", "--epochs", "2")
    assert code == 0, err
    n, n1 = len(y), int(y.sum())
    assert (f"class weights: 0: {n / (2 * (n - n1)):.4g}, 1: {n / (2 * n1):.4g} "
            "(balanced: n / (2 n_class))") in err


@pytest.mark.parametrize("text, named", [("0=x", "'x'"), ("2=1", "'2=1'"), ("0=-1", "-1"),
                                         ("0=0,1=0", "weight 0"), ("balance", "'balance'"),
                                         ("0=1,0=2", "twice")])
def test_bad_class_weight_text_is_one_error_line(tmp_path, capsys, parquet_file, text, named):
    turned_away(capsys, ["train", parquet_file, "--label", "y", "-o", tmp_path / "m.json",
                         "--class-weight", text], ["--class-weight", named, "0=1,1=5"],
                output=tmp_path / "m.json")


# -- column lists and "did you mean" ------------------------------------------------

def test_a_long_column_list_is_shortened_and_a_misspelt_label_gets_a_guess(tmp_path, capsys):
    names = [f"feature_{j:03d}" for j in range(129)] + ["clicked"]
    rng = np.random.default_rng(0)
    table = pa.table({n: rng.normal(size=20) for n in names[:-1]}
                     | {"clicked": rng.integers(0, 2, 20)})
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path)
    model = tmp_path / "m.json"
    line = turned_away(capsys, ["train", path, "--label", "clikced", "-o", model],
                       ["no label column 'clikced'", "did you mean 'clicked'?",
                        "feature_000", "(122 more)", "clicked"])
    assert len(line) < 300, line
    for flags, expected in ((["--features", "feature_001,featur_002"], "'feature_002'"),
                            (["--exclude", "Feature_003"], "'feature_003'"),
                            (["--weight", "clicked_"], "'clicked'")):
        line = turned_away(capsys, ["train", path, "--label", "clicked", "-o", model, *flags],
                           [f"did you mean {expected}?", "more"])
        assert len(line) < 300, line
    # Nothing close: no guess, still short.
    line = turned_away(capsys, ["train", path, "--label", "zzz", "-o", model], ["columns are"])
    assert "did you mean" not in line and len(line) < 300
    # inspect shows the file without a label, and says what it probably was.
    code, out, err = run(capsys, "inspect", path, "--label", "clikced")
    assert code == 0, err
    assert "label:     none found" in out and "did you mean 'clicked'?" in out
    # The library: a pandas DataFrame, the same message.
    with pytest.raises(sn.DataError, match="did you mean 'clicked'"):
        sn.open_source(table.to_pandas(), label="Clicked")
