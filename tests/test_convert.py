"""``streamneuron convert IN.csv OUT.parquet``: the same table as pandas reads,
row groups of the chosen size, compressed input, wrong type guesses turned
away in one line with the flag that fixes them, and no partial output."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import run, turned_away

import streamneuron as sn
from streamneuron import convert

pd = pytest.importorskip("pandas")


def csv_text(n=5000, seed=0, late_float=False) -> str:
    rng = np.random.default_rng(seed)
    lines = ["id,a,b,ok,city,y"]
    for i in range(n):
        b = "2.5" if late_float and i == n - 1 else str(int(rng.integers(0, 9)))
        lines.append(f"{i},{rng.normal():.9g},{b},{'true' if rng.random() < .5 else 'false'},"
                     f"{'Oslo' if i % 2 else 'Rome'},{int(rng.integers(0, 2))}")
    return "\n".join(lines) + "\n"


def test_convert_matches_pandas_in_row_groups_of_the_given_size(tmp_path, capsys):
    src = tmp_path / "d.csv"
    src.write_text(csv_text())
    out = tmp_path / "d.parquet"
    code, _, err = run(capsys, "convert", src, out, "--row-group-size", 1200)
    assert code == 0, err
    assert "5,000 rows x 6 columns" in err
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == \
        [1200, 1200, 1200, 1200, 200]
    got = pq.read_table(out).to_pandas()
    expected = pd.read_csv(src)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["ok"].dtype == bool

    # Then it trains like any Parquet file (the id is flagged, the string categorical).
    model = tmp_path / "m.json"
    code, stdout, err = run(capsys, "train", out, "-o", model, "--epochs", 1, "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["feature_names"] == ["id", "a", "b", "ok"]
    assert [c["column"] for c in summary["categorical"]] == ["city"]
    assert any("'id'" in w for w in summary["warnings"])


def test_compressed_csv_and_float32(tmp_path, capsys):
    src = tmp_path / "d.csv.gz"
    with gzip.open(src, "wt") as f:
        f.write(csv_text(800))
    out = tmp_path / "d.parquet"
    code, _, err = run(capsys, "convert", src, out, "--float32", "--quiet")
    assert code == 0, err
    schema = pq.read_schema(out)
    assert schema.field("a").type == pa.float32() and schema.field("id").type == pa.int64()
    assert pq.read_metadata(out).num_rows == 800


def test_row_groups_are_sized_for_training():
    wide = pa.schema([pa.field(f"x{j}", pa.float64()) for j in range(32)])
    assert convert.choose_row_group_rows(wide) == convert.TARGET_GROUP_BYTES // (32 * 8)
    narrow = pa.schema([pa.field("x", pa.float32()), pa.field("y", pa.int8())])
    assert convert.choose_row_group_rows(narrow) == convert.MAX_GROUP_ROWS
    huge = pa.schema([pa.field(f"x{j}", pa.float64()) for j in range(10_000)])
    assert convert.choose_row_group_rows(huge) == convert.MIN_GROUP_ROWS


def test_default_row_groups_stream_in_bounded_pieces(tmp_path, monkeypatch):
    """Row groups are gathered from the reader's small blocks, never the whole file:
    with tiny blocks and row groups, every group but the last is exactly full."""
    monkeypatch.setattr(convert, "BLOCK_BYTES", 4096)
    src = tmp_path / "d.csv"
    src.write_text(csv_text(3000))
    out = tmp_path / "d.parquet"
    seen = []
    summary = convert.convert_csv(src, out, row_group_size=700, progress=seen.append)
    assert summary == {"rows": 3000, "columns": 6, "row_groups": 5, "row_group_size": 700}
    assert seen == [700, 700, 700, 700, 200]


def test_a_late_float_in_an_integer_looking_column_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(convert, "BLOCK_BYTES", 4096)  # the bad row is far past the first block
    src = tmp_path / "d.csv"
    src.write_text(csv_text(3000, late_float=True))
    out = tmp_path / "d.parquet"
    turned_away(capsys, ["convert", src, out],
                ["d.csv", "column 'b'", "'2.5'", "--type b=float64"], out)
    code, _, err = run(capsys, "convert", src, out, "--type", "b=float64", "--quiet")
    assert code == 0, err
    assert pq.read_schema(out).field("b").type == pa.float64()


def test_convert_bad_input_is_one_line(tmp_path, capsys):
    out = tmp_path / "o.parquet"
    turned_away(capsys, ["convert", tmp_path / "missing.csv", out], ["missing.csv"], out)
    (tmp_path / "empty.csv").write_text("")
    turned_away(capsys, ["convert", tmp_path / "empty.csv", out], ["empty.csv"], out)
    (tmp_path / "header.csv").write_text("a,b,y\n")
    turned_away(capsys, ["convert", tmp_path / "header.csv", out], ["no rows"], out)
    (tmp_path / "d.csv").write_text(csv_text(10))
    turned_away(capsys, ["convert", tmp_path / "d.csv", out, "--type", "nope=float64"],
                ["'nope'"], out)
    turned_away(capsys, ["convert", tmp_path / "d.csv", out, "--type", "a=complex"],
                ["a=complex"], out)
    turned_away(capsys, ["convert", tmp_path / "d.csv", tmp_path / "o.csv"],
                ["convert writes Parquet"], tmp_path / "o.csv")


def test_training_on_a_csv_names_convert(tmp_path, capsys):
    src = tmp_path / "d.csv"
    src.write_text(csv_text(10))
    model = tmp_path / "m.json"
    turned_away(capsys, ["train", src, "-o", model],
                ["d.csv", "neither Parquet nor HDF5", "streamneuron convert"], model)
    with pytest.raises(sn.DataError, match="streamneuron convert"):
        sn.open_source(src)
