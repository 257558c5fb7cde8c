"""What a new user trips over (issue 11): features chosen silently, errors that
leak, unnamed HDF5 columns, and the smaller surprises (``--label`` on HDF5,
``predict -o x.csv``, ``inspect data/``, the progress bar, ``mse``).

CLI cases run in-process and check exit code 2, exactly one ``Error:`` line,
no traceback and no output file, as tests/test_bad_input.py does.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import run, turned_away

import streamneuron as sn
from streamneuron.cli import main

ROOT = Path(__file__).resolve().parent.parent


def table(n=400, d=3, seed=0, **extra):
    rng = np.random.default_rng(seed)
    cols = {f"x{j}": rng.normal(size=n) for j in range(d)}
    cols["y"] = (rng.random(n) < 1 / (1 + np.exp(-cols["x0"]))).astype(np.int8)
    cols.update(extra)
    return cols


def write(path, cols, row_group_size=100):
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return path


# ---------------------------------------------------------------- 1. features chosen visibly


def test_generated_id_column_is_warned_about_and_excluded_on_request(tmp_path, capsys):
    data = tmp_path / "d.parquet"
    assert main(["generate", str(data), "--rows", "600", "--features", "3", "--id-column",
                 "--row-group-size", "200", "--quiet"]) == 0
    model = tmp_path / "m.json"
    code, out, err = run(capsys, "train", data, "-o", model, "--epochs", 1, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["feature_names"] == ["id", "x0", "x1", "x2"]
    assert any("'id' looks like a row id" in w and "--exclude id" in w
               for w in summary["warnings"])
    assert "Warning: " in err and "'id' looks like a row id" in err
    assert "features (4): id, x0, x1, x2" in err

    code, out, err = run(capsys, "train", data, "-o", model, "--epochs", 1, "--json",
                         "--exclude", "id")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["feature_names"] == ["x0", "x1", "x2"]
    assert summary["left_out"] == [{"column": "id", "reason": "--exclude"}]
    assert summary["warnings"] == [] and "Warning" not in err
    assert sn.load_model(model).feature_names == ["x0", "x1", "x2"]


def test_booleans_are_features_and_strings_are_categorical_out_loud(tmp_path, capsys):
    n = 400
    data = write(tmp_path / "d.parquet", table(n, flag=np.arange(n) % 3 == 0,
                                               city=np.array(["Oslo", "Rome"] * (n // 2))))
    code, out, err = run(capsys, "train", data, "-o", tmp_path / "m.json", "--epochs", 1,
                         "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["feature_names"] == ["x0", "x1", "x2", "flag"]
    assert summary["left_out"] == []
    assert summary["categorical"] == [{"column": "city", "levels": 2}]
    assert "categorical (1): city" in err


def test_many_features_are_summarised_and_inspect_lists_every_column_on_request(tmp_path,
                                                                               capsys):
    data = write(tmp_path / "wide.parquet", table(300, d=40))
    code, out, err = run(capsys, "train", data, "-o", tmp_path / "m.json", "--epochs", 1,
                         "--json")
    assert code == 0, err
    assert len(json.loads(out)["feature_names"]) == 40
    line = next(l for l in err.splitlines() if l.startswith("features (40)"))
    assert "x0, x1, x2, x3, ... (32 more) ..., x36, x37, x38, x39" in line

    code, out, _ = run(capsys, "inspect", data)
    assert code == 0 and "(32 more)" in out and "--columns" in out
    code, out, _ = run(capsys, "inspect", data, "--columns")
    assert code == 0
    for j in range(40):
        assert f"  x{j} " in out
    assert any(l.split()[:1] == ["y"] and l.rstrip().endswith("label") for l in out.splitlines())


def test_exclude_and_features_errors_are_one_line(tmp_path, capsys):
    data = write(tmp_path / "d.parquet", table())
    out = tmp_path / "m.json"
    turned_away(capsys, ["train", data, "-o", out, "--exclude", "nope"],
                ["d.parquet", "--exclude", "'nope'", "x0, x1, x2, y"], out)
    turned_away(capsys, ["train", data, "-o", out, "--exclude", "x1", "--features", "x0"],
                ["--features or --exclude"], out)
    turned_away(capsys, ["train", data, "-o", out, "--exclude", "x0,x1,x2"],
                ["no numeric feature columns"], out)


def test_row_id_warning_needs_integers_distinct_and_increasing():
    from streamneuron.readers.base import looks_like_row_id

    assert looks_like_row_id(np.arange(10))
    assert looks_like_row_id(np.array([3, 7, 100, 101]))
    assert not looks_like_row_id(np.array([1, 2, 2, 3]))  # not distinct
    assert not looks_like_row_id(np.array([3, 2, 1, 0]))  # decreasing
    assert not looks_like_row_id(np.arange(10, dtype=np.float64))  # not integers
    assert not looks_like_row_id(np.array([False, True, True]))


def test_row_id_across_row_groups_uses_the_statistics(tmp_path):
    # Increasing inside each row group, but the row groups restart: not a row id.
    ids = np.concatenate([np.arange(100)] * 4)
    data = write(tmp_path / "d.parquet", table(400, rid=ids))
    assert sn.open_source(data, label="y").column_warnings == []
    data = write(tmp_path / "e.parquet", table(400, rid=np.arange(400) * 3))
    with pytest.warns(sn.errors.DataWarning, match="'rid' looks like a row id"):
        source = sn.open_source(data, label="y")
    assert len(source.column_warnings) == 1


# ---------------------------------------------------------------- 5. errors that leak


def test_predict_keep_with_a_misspelt_column_is_exit_2(tmp_path, capsys):
    data = tmp_path / "d.parquet"
    assert main(["generate", str(data), "--rows", "300", "--features", "3", "--id-column",
                 "--row-group-size", "100", "--quiet"]) == 0
    model = tmp_path / "m.json"
    assert main(["train", str(data), "-o", str(model), "--exclude", "id", "--epochs", "1",
                 "--quiet"]) == 0
    scores = tmp_path / "scores.parquet"
    turned_away(capsys, ["predict", model, data, "-o", scores, "--keep", "idd"],
                ["d.parquet", "--keep", "'idd'", "id, x0"], scores)
    # An HDF5 X/y file keeps the 1-D datasets beside X: here only y.
    h5 = tmp_path / "d.h5"
    with h5py.File(h5, "w") as f:
        f["X"], f["y"] = np.zeros((10, 3)), np.zeros(10)
    turned_away(capsys, ["predict", model, h5, "-o", scores, "--keep", "id"],
                ["d.h5", "--keep", "'id'", "beside 'X'", "columns are y"], scores)


# ---------------------------------------------------------------- 6. HDF5 without column names


def test_parquet_model_scores_an_unnamed_hdf5_copy_by_position(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 8))
    y = (rng.random(500) < 1 / (1 + np.exp(-X[:, 0] + X[:, 3]))).astype(np.int8)
    cols = {f"x{j:02d}": X[:, j] for j in range(8)}
    parquet = write(tmp_path / "d.parquet", {**cols, "y": y})
    h5 = tmp_path / "d.h5"
    with h5py.File(h5, "w") as f:
        f["X"], f["y"] = X, y
    model = tmp_path / "m.json"
    assert main(["train", str(parquet), "-o", str(model), "--epochs", "2", "--quiet"]) == 0

    from_parquet, from_h5 = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["predict", str(model), str(parquet), "-o", str(from_parquet), "--quiet"]) == 0
    code, _, err = run(capsys, "predict", model, h5, "-o", from_h5, "--quiet")
    assert code == 0, err
    notes = [l for l in err.splitlines() if l.strip()]
    assert len(notes) == 1 and notes[0].startswith("Warning: ") and "by position" in notes[0]
    np.testing.assert_array_equal(pq.read_table(from_parquet).column("probability"),
                                  pq.read_table(from_h5).column("probability"))
    code, out, err = run(capsys, "evaluate", model, h5, "--json")
    assert code == 0, err
    code, out2, _ = run(capsys, "evaluate", model, parquet, "--json")
    assert json.loads(out)["log_loss"] == pytest.approx(json.loads(out2)["log_loss"], rel=1e-12)

    # Named columns are matched by name; a different count is still refused.
    named = tmp_path / "named.h5"
    with h5py.File(named, "w") as f:
        f["X"], f["y"] = X, y
        f["X"].attrs["feature_names"] = [f"f{j}" for j in range(8)]
    turned_away(capsys, ["predict", model, named, "-o", tmp_path / "c.parquet"],
                ["no feature column 'x00'"], tmp_path / "c.parquet")
    seven = tmp_path / "seven.h5"
    with h5py.File(seven, "w") as f:
        f["X"], f["y"] = X[:, :7], y
    turned_away(capsys, ["predict", model, seven, "-o", tmp_path / "c.parquet"],
                ["seven.h5"], tmp_path / "c.parquet")
    # Training never takes unknown names by position.
    turned_away(capsys, ["train", h5, "-o", tmp_path / "m2.json", "--features",
                         ",".join(f"x{j:02d}" for j in range(8))],
                ["no feature column 'x00'"], tmp_path / "m2.json")


# ---------------------------------------------------------------- 7. smaller surprises


def test_label_is_used_for_hdf5_and_never_ignored(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["X"] = X
        f["clicked"] = (X[:, 0] > 0).astype(np.int8)
        f["y"] = np.zeros(300, dtype=np.int8)
    model = tmp_path / "m.json"
    code, out, err = run(capsys, "train", tmp_path / "d.h5", "--label", "clicked", "-o", model,
                         "--epochs", 3, "--json")
    assert code == 0, err
    assert json.loads(model.read_text())["label"] == "clicked"
    code, out, err = run(capsys, "evaluate", model, tmp_path / "d.h5", "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] > 0.9  # the 'clicked' labels, not the all-zero 'y'
    out_model = tmp_path / "m2.json"
    turned_away(capsys, ["train", tmp_path / "d.h5", "--label", "nope", "-o", out_model],
                ["d.h5", "'nope'", "--label"], out_model)
    turned_away(capsys, ["train", tmp_path / "d.h5", "--label", "clicked", "--y-key", "y",
                         "-o", out_model], ["--label clicked", "--y-key y"], out_model)
    code, _, err = run(capsys, "train", tmp_path / "d.h5", "--y-key", "clicked", "-o", out_model,
                       "--epochs", 1, "--quiet")
    assert code == 0, err and json.loads(out_model.read_text())["label"] == "clicked"


def test_predict_writes_csv_for_a_csv_name_and_refuses_other_suffixes(tmp_path, capsys):
    data = write(tmp_path / "d.parquet", table(250))
    model = tmp_path / "m.json"
    assert main(["train", str(data), "-o", str(model), "--epochs", "1", "--quiet"]) == 0
    assert main(["predict", str(model), str(data), "-o", str(tmp_path / "s.parquet"),
                 "--quiet"]) == 0
    code, _, err = run(capsys, "predict", model, data, "-o", tmp_path / "s.csv", "--keep", "y",
                       "--quiet")
    assert code == 0, err
    import pyarrow.csv as pacsv

    csv = pacsv.read_csv(tmp_path / "s.csv")
    assert csv.column_names == ["probability", "prediction", "y"]
    assert (tmp_path / "s.csv").read_text().startswith('"probability","prediction","y"\n')
    expected = pq.read_table(tmp_path / "s.parquet")
    np.testing.assert_allclose(csv.column("probability").to_numpy(),
                               expected.column("probability").to_numpy(), rtol=1e-15)
    for name in ("s.json", "s.csv.gz", "s.h5"):
        turned_away(capsys, ["predict", model, data, "-o", tmp_path / name],
                    [name, "Parquet (.parquet) or CSV (.csv)"], tmp_path / name)


def test_inspect_the_repositorys_data_folder(capsys):
    code, out, err = run(capsys, "inspect", ROOT / "data")
    assert code == 0, err
    assert "format:    hdf5" in out and "format:    parquet" in out
    code, out, err = run(capsys, "inspect", ROOT / "data", "--json")
    assert code == 0, err
    groups = json.loads(out)["groups"]
    assert sorted(g["format"] for g in groups) == ["hdf5", "parquet"]
    assert all(g["rows"] == 2000 for g in groups)


def test_progress_lines_start_on_their_own_line_at_a_terminal(tmp_path, monkeypatch):
    data = write(tmp_path / "d.parquet", table(2000), row_group_size=500)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["train", str(data), "-o", str(tmp_path / "m.json"), "--epochs", "3"]) == 0
    text = err.getvalue()
    assert "train:" in text  # the bar was drawn
    shown = [render(line) for line in text.split("\n")]
    for epoch in (1, 2, 3):
        line = next(l for l in shown if f"epoch {epoch}: objective" in l)
        assert line.startswith(f"epoch {epoch}: objective") and "%|" not in line, repr(line)
    assert [l for l in shown if l.strip()][-1].startswith("wrote "), shown


def render(line: str) -> str:
    """What a terminal shows of one line: each carriage return writes over its start."""
    cells: list[str] = []
    pos = 0
    for ch in line:
        if ch == "\r":
            pos = 0
            continue
        if pos < len(cells):
            cells[pos] = ch
        else:
            cells.append(ch)
        pos += 1
    return "".join(cells).rstrip()


def test_evaluate_mse_is_the_usual_mean_squared_error(tmp_path, capsys):
    from sklearn.metrics import brier_score_loss, mean_squared_error

    data = write(tmp_path / "d.parquet", table(500))
    for loss in ("log", "mse"):
        model = tmp_path / f"{loss}.json"
        assert main(["train", str(data), "-o", str(model), "--loss", loss, "--epochs", "2",
                     "--quiet"]) == 0
        code, out, err = run(capsys, "evaluate", model, data, "--json")
        assert code == 0, err
        report = json.loads(out)
        source = sn.open_source(data, label="y")
        X, y = next(source.batches(batch_size=500, shuffle=False))
        p = sn.load_model(model).predict_proba(X)
        assert report["mse"] == pytest.approx(mean_squared_error(y, p), rel=1e-12)
        assert report["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
        if loss == "mse":  # the training loss, the article's 0.5 (p - y)^2: half of it
            assert report["loss"] == pytest.approx(0.5 * report["mse"], rel=1e-15)
        code, out, _ = run(capsys, "evaluate", model, data)
        assert "mean (p - y)^2" in out
