"""Every bad input turned away cleanly.

Through the CLI: exit code 2, exactly one ``Error:`` line on stderr that names
the file, column, row group or value at fault, no traceback, no output file,
an existing model untouched. Through the library: our exception family
(``streamneuron.DataError`` and kin) with the same messages.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import streamneuron as sn
from streamneuron import checkpoint as ckpt
from streamneuron.cli import main

ROOT = Path(__file__).resolve().parent.parent
N = 100  # rows of the small files, in row groups of 10


def table(n=N, seed=0, **override) -> dict:
    rng = np.random.default_rng(seed)
    cols = {"x0": rng.normal(size=n), "x1": rng.normal(size=n).astype(np.float32),
            "y": (rng.random(n) < 0.5).astype(np.int8)}
    cols.update(override)
    return cols


def at(values, row: int, value):
    values = np.array(values, copy=True)
    values[row] = value
    return values


def write(path: Path, cols: dict, row_group_size=10, **kw) -> str:
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size, **kw)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    f: dict[str, str] = {}
    good = table()
    f["good"] = write(d / "good.parquet", good)
    data = Path(f["good"]).read_bytes()
    (d / "truncated.parquet").write_bytes(data[: len(data) // 2])
    f["truncated"] = str(d / "truncated.parquet")
    (d / "no_footer.parquet").write_bytes(data[:-5])
    f["no_footer"] = str(d / "no_footer.parquet")
    # Corrupt data pages in row group 7 only: the file opens; decoding that group fails.
    meta = pq.ParquetFile(f["good"]).metadata
    column = meta.row_group(7).column(0)
    start = column.data_page_offset
    damaged = bytearray(data)
    for i in range(start + 12, start + column.total_compressed_size):
        damaged[i] ^= 0xA5
    (d / "corrupt.parquet").write_bytes(bytes(damaged))
    f["corrupt"] = str(d / "corrupt.parquet")
    (d / "empty.parquet").write_bytes(b"")
    f["empty"] = str(d / "empty.parquet")
    (d / "text.parquet").write_text("x0,x1,y\n1,2,0\n3,4,1\n")
    f["text"] = str(d / "text.parquet")
    # Binary columns are neither numbers nor categories (strings are categorical: issue 20)
    f["string_feature"] = write(d / "string_feature.parquet",
                                {**good, "city": pa.array([b"Oslo", b"Rome"] * (N // 2))})
    f["only_strings"] = write(d / "only_strings.parquet",
                              {"city": pa.array([b"Oslo"] * N), "y": good["y"]})
    f["label_2"] = write(d / "label_2.parquet", {**good, "y": at(good["y"], 57, 2)})
    f["label_minus_1"] = write(d / "label_minus_1.parquet", {**good, "y": at(good["y"], 57, -1)})
    f["label_half"] = write(d / "label_half.parquet",
                            {**good, "y": at(good["y"].astype(float), 57, 0.5)})
    f["label_strings"] = write(d / "label_strings.parquet",
                               {**good, "y": np.array(["yes", "no"] * (N // 2))})
    f["no_label"] = write(d / "no_label.parquet", {"x0": good["x0"], "x1": good["x1"]})
    f["nan_late"] = write(d / "nan_late.parquet", {**good, "x1": at(good["x1"], 95, np.nan)})
    f["inf_late"] = write(d / "inf_late.parquet", {**good, "x0": at(good["x0"], 95, -np.inf)})
    f["nan_label_late"] = write(d / "nan_label_late.parquet",
                                {**good, "y": at(good["y"].astype(float), 95, np.nan)})
    f["inf_label_late"] = write(d / "inf_label_late.parquet",
                                {**good, "y": at(good["y"].astype(float), 95, np.inf)})
    f["null_late"] = write(d / "null_late.parquet",
                           {**good, "x0": pa.array(good["x0"], mask=np.arange(N) == 93)})
    f["no_rows"] = write(d / "no_rows.parquet", table(n=0))
    (d / "mixed_columns").mkdir()
    write(d / "mixed_columns" / "a.parquet", good)
    write(d / "mixed_columns" / "b.parquet", {"x0": good["x0"], "x9": good["x1"], "y": good["y"]})
    f["mixed_columns"] = str(d / "mixed_columns")
    (d / "mixed_types").mkdir()
    write(d / "mixed_types" / "a.parquet", good)
    write(d / "mixed_types" / "b.parquet", {**good, "x1": good["x1"].astype(np.float64)})
    f["mixed_types"] = str(d / "mixed_types")

    rng = np.random.default_rng(1)

    def h5(name, **datasets):
        path = d / name
        with h5py.File(path, "w") as h:
            for key, value in datasets.items():
                h[key] = value
        f[name.removesuffix(".h5")] = str(path)

    h5("h5_good.h5", X=rng.normal(size=(N, 2)), y=(rng.random(N) < 0.5).astype(np.int8))
    h5("h5_lengths.h5", X=rng.normal(size=(N, 2)), y=np.zeros(N - 1, dtype=np.int8))
    h5("h5_no_y.h5", X=rng.normal(size=(N, 2)))
    h5("h5_1d.h5", X=rng.normal(size=N), y=np.zeros(N, dtype=np.int8))
    h5("h5_strings.h5", X=np.array([[b"a", b"b"]] * N), y=np.zeros(N, dtype=np.int8))
    h5("h5_label_strings.h5", X=rng.normal(size=(N, 2)), y=np.array([b"0", b"1"] * (N // 2)))
    h5("h5_label_2.h5", X=rng.normal(size=(N, 2)), y=at(np.zeros(N, dtype=np.int8), 40, 2))
    # NaN in a late chunk range (units are at least 65,536 rows).
    big = 150_000
    X = rng.normal(size=(big, 2)).astype(np.float32)
    X[140_001, 1] = np.nan
    with h5py.File(d / "h5_nan_late.h5", "w") as h:
        h.create_dataset("X", data=X, chunks=(10_000, 2))
        h["y"] = (rng.random(big) < 0.5).astype(np.int8)
    f["h5_nan_late"] = str(d / "h5_nan_late.h5")
    raw = Path(f["h5_good"]).read_bytes()
    (d / "h5_truncated.h5").write_bytes(raw[: len(raw) // 2])
    f["h5_truncated"] = str(d / "h5_truncated.h5")

    # Models.
    model = sn.fit_sgd(f["good"], epochs=1)
    model.save(d / "model.json")
    f["model"] = str(d / "model.json")
    m = json.loads((d / "model.json").read_text())
    (d / "not_json.json").write_text("this is not JSON\n")
    f["not_json"] = str(d / "not_json.json")
    (d / "pickled.json").write_bytes(pickle.dumps(m))
    f["pickled"] = str(d / "pickled.json")
    (d / "not_ours.json").write_text(json.dumps({"coef": [1, 2], "intercept": 0}))
    f["not_ours"] = str(d / "not_ours.json")
    (d / "list.json").write_text("[1, 2, 3]")
    f["list"] = str(d / "list.json")
    (d / "lengths.json").write_text(json.dumps({**m, "weights": m["weights"] + [0.5]}))
    f["lengths"] = str(d / "lengths.json")
    three = {**m, "features": ["x0", "x1", "x2"], "weights": [0.1, 0.2, 0.3], "standardize": None}
    (d / "three.json").write_text(json.dumps(three))
    f["three"] = str(d / "three.json")
    (d / "nan_weight.json").write_text(json.dumps({**m, "weights": [float("nan"), 1.0]}))
    f["nan_weight"] = str(d / "nan_weight.json")
    (d / "version.json").write_text(json.dumps({**m, "version": 99}))
    f["version"] = str(d / "version.json")
    (d / "afile.txt").write_text("a file, not a folder\n")
    f["afile"] = str(d / "afile.txt")
    return f


OLD_MODEL = '{"format": "streamneuron-model", "old": true}\n'


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def check_turned_away(capsys, tmp_path, argv, expected: list[str], output_flag=True,
                      out_name="model.json", per_run=lambda folder: []) -> str:
    """Exit 2, one Error: line with ``expected`` in it, no output, old model intact."""
    err = ""
    for existing in (False, True):
        folder = tmp_path / ("existing" if existing else "fresh")
        folder.mkdir(exist_ok=True)
        out = folder / out_name
        if existing:
            out.write_text(OLD_MODEL)
        code, err = run_cli(capsys, argv + (["-o", out] if output_flag else []) +
                            per_run(tmp_path / f"{folder.name}-extra"))
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, err
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
        assert "Traceback" not in err
        for text in expected:
            assert text in lines[0], f"{text!r} not in {lines[0]!r}"
        if existing:
            assert out.read_text() == OLD_MODEL
            assert sorted(p.name for p in folder.iterdir()) == [out_name]
        else:
            assert list(folder.iterdir()) == []  # no output, no temporary file left
    return err


# ---------------------------------------------------------------------------- data, CLI

TRAIN_CASES = {
    # name: (file key, extra flags, expected substrings)
    "truncated": ("truncated", [], ["truncated.parquet", "not a readable Parquet file"]),
    "no_footer": ("no_footer", [], ["no_footer.parquet", "not a readable Parquet file"]),
    "corrupt_row_group": ("corrupt", [], ["corrupt.parquet", "row group 7"]),
    "zero_bytes": ("empty", [], ["empty.parquet", "empty (0 bytes)"]),
    "text_named_parquet": ("text", [], ["text.parquet", "neither Parquet nor HDF5"]),
    "string_feature": ("string_feature", ["--features", "x0,city"],
                       ["string_feature.parquet", "'city'", "binary", "not a number"]),
    "only_string_features": ("only_strings", [], ["only_strings.parquet", "no numeric feature"]),
    "label_2": ("label_2", [], ["label_2.parquet", "row group 5", "row 7", "'y'", "value 2;"]),
    "label_minus_1": ("label_minus_1", [], ["label_minus_1.parquet", "row group 5", "value -1;"]),
    "label_half": ("label_half", [], ["label_half.parquet", "row group 5", "value 0.5;"]),
    "label_strings": ("label_strings", [], ["label_strings.parquet", "'y'", "type string"]),
    "no_label_column": ("no_label", [], ["no_label.parquet", "no label column 'y'"]),
    "nan_feature_late": ("nan_late", [], ["nan_late.parquet", "row group 9", "row 5", "'x1'", "nan"]),
    "nan_feature_late_no_standardize": ("nan_late", ["--no-standardize", "--no-shuffle"],
                                        ["nan_late.parquet", "row group 9", "row 5", "'x1'", "nan"]),
    "nan_feature_late_shuffled": ("nan_late", ["--no-standardize", "--shuffle"],
                                  ["nan_late.parquet", "row group 9", "row 5", "'x1'", "nan"]),
    "inf_feature_late": ("inf_late", [], ["inf_late.parquet", "row group 9", "'x0'", "-inf"]),
    "inf_feature_late_no_standardize": ("inf_late", ["--no-standardize"],
                                        ["inf_late.parquet", "row group 9", "'x0'", "-inf"]),
    "nan_label_late": ("nan_label_late", [], ["nan_label_late.parquet", "row group 9", "row 5",
                                              "label column 'y'", "nan"]),
    "inf_label_late": ("inf_label_late", [], ["inf_label_late.parquet", "row group 9", "inf"]),
    "null_feature_late": ("null_late", [], ["null_late.parquet", "row group 9", "'x0'", "null"]),
    "schema_but_no_rows": ("no_rows", [], ["no_rows.parquet", "no rows"]),
    "folder_different_columns": ("mixed_columns", [], ["b.parquet", "a.parquet", "'x1'"]),
    "folder_different_types": ("mixed_types", [], ["b.parquet", "'x1'", "double", "float"]),
    "h5_lengths_differ": ("h5_lengths", [], ["h5_lengths.h5", "100 rows", "99"]),
    "h5_without_y": ("h5_no_y", [], ["h5_no_y.h5", "no label dataset 'y'"]),
    "h5_1d_X": ("h5_1d", [], ["h5_1d.h5", "'X'", "2-D"]),
    "h5_string_X": ("h5_strings", [], ["h5_strings.h5", "'X'", "dtype"]),
    "h5_string_labels": ("h5_label_strings", [], ["h5_label_strings.h5", "'y'", "'0' and '1'",
                                                  "--positive"]),
    "h5_label_2": ("h5_label_2", [], ["h5_label_2.h5", "row 40", "value 2;"]),
    "h5_nan_late_chunk": ("h5_nan_late", ["--no-standardize"],
                          ["h5_nan_late.h5", "rows 120000-149999", "row 20001", "'x1'", "nan"]),
    "h5_truncated": ("h5_truncated", [], ["h5_truncated.h5", "not a readable HDF5 file"]),
    "nonexistent_path": (None, [], ["no/such/file.parquet", "no such file or folder"]),
    "parquet_and_hdf5": ("good", ["h5_good"], ["h5_good.h5", "good.parquet", "one format"]),
    "batch_size_0": ("good", ["--batch-size", "0"], ["--batch-size must be", "got 0"]),
    "batch_size_negative": ("good", ["--batch-size", "-5"], ["--batch-size must be", "got -5"]),
    "lr_0": ("good", ["--lr", "0"], ["--lr must be > 0", "got 0"]),
    "lr_negative": ("good", ["--lr", "-0.1"], ["--lr must be > 0", "got -0.1"]),
    "lr_nan": ("good", ["--lr", "nan"], ["--lr must be > 0", "got nan"]),
    "epochs_0": ("good", ["--epochs", "0"], ["--epochs must be", "got 0"]),
    "features_missing_column": ("good", ["--features", "x0,zz"], ["good.parquet", "'zz'"]),
    "features_missing_h5": ("h5_good", ["--features", "x0,x7"], ["h5_good.h5", "'x7'"]),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_turns_bad_input_away(files, tmp_path, capsys, case):
    key, extra, expected = TRAIN_CASES[case]
    data = files[key] if key else str(tmp_path / "no/such/file.parquet")
    extra = [files.get(e, e) for e in extra]
    check_turned_away(capsys, tmp_path, ["train", data, *extra, "--quiet"], expected)


def test_train_with_checkpoint_reports_late_nan_and_writes_no_model(files, tmp_path, capsys):
    check_turned_away(capsys, tmp_path, ["train", files["nan_late"], "--no-standardize", "--quiet"],
                      ["row group 9", "'x1'"], per_run=lambda folder: ["--checkpoint", folder])
    assert ckpt.load(str(tmp_path / "fresh-extra"))["complete"] is False


@pytest.mark.parametrize("where", ["afile/model.json", "no_such_folder/model.json",
                                   "/proc/model.json", "a_folder"])
def test_train_unwritable_output(files, tmp_path, capsys, where):
    (tmp_path / "a_folder").mkdir()
    target = where.replace("afile", files["afile"])
    target = target if os.path.isabs(target) else str(tmp_path / target)
    code, err = run_cli(capsys, ["train", files["good"], "--quiet", "-o", target])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), err
    assert target in lines[0] or os.path.dirname(target) in lines[0], err
    assert not os.path.isfile(target)
    assert "Traceback" not in err


MODEL_CASES = {
    "not_json": ("not_json", ["not_json.json", "not a model file"]),
    "pickle": ("pickled", ["pickled.json", "not a model file"]),
    "json_not_ours": ("not_ours", ["not_ours.json", "not a streamneuron model"]),
    "json_list": ("list", ["list.json", "not a streamneuron model"]),
    "weights_vs_features": ("lengths", ["lengths.json", "3 weights for 2 features"]),
    "more_weights_than_the_data": ("three", ["good.parquet", "'x2'"]),
    "nan_weight": ("nan_weight", ["nan_weight.json", "finite"]),
    "version": ("version", ["version.json", "version 99"]),
    "missing_model": (None, ["no_model.json", "cannot read the model"]),
}


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_bad_model_files_are_turned_away(files, tmp_path, capsys, command, case):
    key, expected = MODEL_CASES[case]
    model = files[key] if key else str(tmp_path / "no_model.json")
    argv = [command, model, files["good"]]
    if command == "predict":
        check_turned_away(capsys, tmp_path, argv, expected, out_name="scores.parquet")
    else:
        check_turned_away(capsys, tmp_path, argv, expected, output_flag=False)


def test_model_with_more_features_than_an_hdf5_file(files, tmp_path, capsys):
    check_turned_away(capsys, tmp_path, ["predict", files["three"], files["h5_good"]],
                      ["h5_good.h5", "'x2'"], out_name="scores.parquet")


@pytest.mark.parametrize("where", ["afile/scores.parquet", "/proc/scores.parquet"])
def test_predict_unwritable_output(files, tmp_path, capsys, where):
    target = where.replace("afile", files["afile"])
    code, err = run_cli(capsys, ["predict", files["model"], files["good"], "-o", target])
    assert code == 2 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1, err
    assert not os.path.isfile(target)


def test_predict_with_bad_data_leaves_no_output(files, tmp_path, capsys):
    check_turned_away(capsys, tmp_path, ["predict", files["model"], files["nan_late"]],
                      ["nan_late.parquet", "row group 9"], out_name="scores.parquet")


def test_real_subprocess_has_no_traceback(files, tmp_path):
    """The installed entry point, end to end: exit 2 and one line."""
    out = tmp_path / "model.json"
    proc = subprocess.run([sys.executable, "-m", "streamneuron", "train", files["label_2"],
                           "-o", str(out), "--quiet"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "row group 5" in proc.stderr and not out.exists()


def test_unexpected_errors_are_one_line_exit_1(monkeypatch, files, capsys):
    import streamneuron.inspect as inspect_module

    def boom(*a, **k):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(inspect_module, "inspect_paths", boom)
    code, err = run_cli(capsys, ["inspect", files["good"]])
    assert code == 1 and err.count("\n") == 1 and "RuntimeError: something broke" in err
    monkeypatch.setenv("STREAMNEURON_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["inspect", files["good"]])


# ---------------------------------------------------------------------------- library

OPEN_ERRORS = ["truncated", "no_footer", "empty", "text", "only_strings", "no_label", "no_rows",
               "mixed_columns", "mixed_types", "h5_lengths", "h5_no_y", "h5_1d", "h5_strings",
               "h5_truncated"]


@pytest.mark.parametrize("key", OPEN_ERRORS)
def test_library_open_source_raises_data_error(files, key):
    with pytest.raises(sn.DataError) as info:
        sn.open_source(files[key], label="y")
    assert Path(files[key]).name in str(info.value)
    assert isinstance(info.value, sn.StreamNeuronError)


def test_library_open_source_other_problems(files, tmp_path):
    with pytest.raises(sn.DataError, match="no such file"):
        sn.open_source(tmp_path / "missing.parquet")
    with pytest.raises(sn.DataError, match="'city'.*not a number"):
        sn.open_source(files["string_feature"], features=["x0", "city"])
    with pytest.raises(sn.DataError, match="'zz'"):
        sn.open_source(files["good"], features=["x0", "zz"])
    with pytest.raises(sn.DataError, match="one format"):
        sn.open_source([files["good"], files["h5_good"]])


LATE_ERRORS = {
    "corrupt": "row group 7", "label_2": "value 2;", "label_minus_1": "value -1;",
    "label_half": "value 0.5;", "label_strings": "type string", "nan_late": "row group 9",
    "inf_late": "-inf", "nan_label_late": "nan", "inf_label_late": "inf",
    "null_late": "null", "h5_label_2": "value 2;",
}


@pytest.mark.parametrize("key", sorted(LATE_ERRORS))
@pytest.mark.parametrize("standardize", [True, False])
def test_library_fit_sgd_raises_data_error(files, key, standardize):
    with pytest.raises(sn.DataError, match=LATE_ERRORS[key]) as info:
        sn.fit_sgd(files[key], epochs=1, standardize=standardize)
    assert Path(files[key]).name in str(info.value)
    if key in ("nan_late", "inf_late"):
        return  # feature values are checked in the kernel, not by a second pass in the reader
    # The reader itself raises the same family when iterated.
    with pytest.raises(sn.DataError):
        with sn.open_source(files[key]) as src:
            for _ in src.batches(32, shuffle=False):
                pass


def test_late_nan_is_reported_as_soon_as_seen(files, tmp_path):
    """No second pass: with --no-standardize the kernel finds the NaN of row group 9
    after training on the rows before it, and nothing is written."""
    seen = []
    ck = tmp_path / "ck"
    with pytest.raises(sn.DataError, match="row group 9, row 5"):
        sn.fit_sgd(files["nan_late"], epochs=3, batch_size=7, shuffle=False, standardize=False,
                   progress=lambda rows, loss: seen.append(rows), checkpoint=ck)
    assert sum(seen) == 90  # the nine row groups before it, in the first epoch
    assert ckpt.load(str(ck))["complete"] is False


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-1), "batch_size"),
    (dict(batch_size=2.5), "batch_size"), (dict(lr=0), "lr"), (dict(lr=-1.0), "lr"),
    (dict(lr=float("inf")), "lr"), (dict(epochs=0), "epochs"), (dict(l2=-1), "l2"),
    (dict(loss="hinge"), "loss"), (dict(schedule="cosine"), "schedule"), (dict(seed=-1), "seed"),
])
def test_library_fit_sgd_raises_config_error(files, kwargs, match):
    with pytest.raises(sn.ConfigError, match=match) as caught:
        sn.fit_sgd(files["good"], **kwargs)
    assert caught.value.param == match  # the parameter at fault, by name


def test_the_command_line_names_the_flag_of_the_parameter_at_fault(files, tmp_path, capsys):
    """The CLI spells the library's parameter (ConfigError.param) as its flag, also where
    the flag is not the name with dashes (window: --shuffle-window)."""
    out = str(tmp_path / "m.json")
    for argv, flag in ((["--batch-size", "0"], "--batch-size must be"),
                       (["--shuffle-window", "0"], "--shuffle-window must be"),
                       (["--power-t", "-1"], "--power-t must be")):
        code, err = run_cli(capsys, ["train", files["good"], "-o", out, *argv])
        assert code == 2 and err.startswith(f"Error: {flag}"), err


def test_losses_and_schedules_come_from_one_registry(monkeypatch):
    """The parameter checks read the registries: a name added there is accepted."""
    from streamneuron import losses, params, schedules

    monkeypatch.setitem(losses.LOSSES, "hinge", losses.LogLoss)
    monkeypatch.setitem(schedules.SCHEDULES, "cosine", schedules.InvScaling)
    params.check_params(loss="hinge", schedule="cosine")
    with pytest.raises(sn.ConfigError, match="'log', 'mse' or 'hinge'"):
        params.check_params(loss="squared")
    from streamneuron.cli import train

    choices = {p.name: p.type.choices for p in train.params if p.name in ("loss", "schedule")}
    assert list(choices["loss"]) == ["log", "mse"]  # the CLI's choices: the registry's names
    assert list(choices["schedule"]) == ["auto", "constant", "invscaling", "adagrad"]


@pytest.mark.parametrize("key, match", [
    ("not_json", "not a model file"), ("pickled", "not a model file"),
    ("not_ours", "not a streamneuron model"), ("list", "not a streamneuron model"),
    ("lengths", "3 weights for 2 features"), ("nan_weight", "finite"), ("version", "version"),
    ("afile", "not a model file"),
])
def test_library_load_model_raises_model_error(files, key, match):
    with pytest.raises(sn.ModelError, match=match):
        sn.load_model(files[key])


def test_library_load_model_never_unpickles(files, tmp_path, monkeypatch):
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(sn.ModelError):
        sn.load_model(files["pickled"])
    with pytest.raises(sn.ModelError, match="cannot read"):
        sn.load_model(tmp_path / "missing.json")


def test_library_model_save_to_unwritable_path(files, tmp_path):
    model = sn.load_model(files["model"])
    with pytest.raises(sn.StreamNeuronError):
        model.save(Path(files["afile"]) / "model.json")
    with pytest.raises(sn.StreamNeuronError):
        model.save("/proc/model.json")
    assert not (tmp_path / "model.json").exists()


def test_model_with_fewer_weights_than_unnamed_hdf5_columns_is_refused(tmp_path):
    import h5py

    from streamneuron.cli import main

    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["X"], f["y"] = rng.normal(size=(50, 2)), rng.integers(0, 2, 50)
    with h5py.File(tmp_path / "three.h5", "w") as f:
        f["X"], f["y"] = rng.normal(size=(50, 3)), rng.integers(0, 2, 50)
    model = tmp_path / "m.json"
    assert main(["train", str(tmp_path / "two.h5"), "-o", str(model), "--quiet"]) == 0
    out = tmp_path / "p.parquet"
    assert main(["predict", str(model), str(tmp_path / "three.h5"), "-o", str(out)]) == 2
    assert not out.exists()
    assert main(["evaluate", str(model), str(tmp_path / "three.h5")]) == 2
