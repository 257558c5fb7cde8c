"""scripts/make_flights_like.py: the benchmark file of issue 20 (tiny rows; the script itself)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_flights_like.py"


def load():
    spec = importlib.util.spec_from_file_location("make_flights_like", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_layout_determinism_and_prefix(tmp_path):
    mfl = load()
    a, b, c = (str(tmp_path / n) for n in ("a.parquet", "b.parquet", "c.parquet"))
    args = ["--levels", "3,40", "--row-group-size", "500", "--quiet"]
    assert mfl.main(["--rows", "1200", "--out", a, "--seed", "7", *args]) == 0
    assert mfl.main(["--rows", "1200", "--out", b, "--seed", "7", *args]) == 0
    assert mfl.main(["--rows", "1000", "--out", c, "--seed", "7", *args]) == 0
    f = pq.ParquetFile(a)
    assert f.metadata.num_rows == 1200 and f.metadata.num_row_groups == 3
    assert f.schema_arrow.names == [f"x{j}" for j in range(8)] + ["c3", "c40", "y"]
    assert f.schema_arrow.field("c40").type == pa.string()
    assert f.metadata.row_group(0).column(9).has_dictionary_page
    ta, tb, tc = pq.read_table(a), pq.read_table(b), pq.read_table(c)
    assert ta.equals(tb)                      # deterministic given the seed
    assert ta.slice(0, 1000).equals(tc)       # a shorter file is a prefix (whole row groups)
    assert set(ta.column("y").to_numpy()) <= {0, 1}
    counts = ta.column("c3").value_counts().to_pylist()
    freq = sorted((d["counts"] for d in counts), reverse=True)
    assert len(freq) == 3 and freq[0] > freq[-1]  # Zipf-like: rank 1 most frequent
    assert len(ta.column("c40").combine_chunks().unique()) <= 40
    mfl.main(["--rows", "600", "--out", c, "--seed", "8", *args])
    assert not pq.read_table(c).slice(0, 500).equals(ta.slice(0, 500))


def test_arrow_dictionary_and_bad_levels(tmp_path, capsys):
    mfl = load()
    out = str(tmp_path / "d.parquet")
    assert mfl.main(["--rows", "300", "--levels", "5", "--out", out, "--arrow-dictionary",
                     "--quiet"]) == 0
    t = pq.read_table(out)
    assert pa.types.is_dictionary(t.schema.field("c5").type)
    assert np.isfinite(t.column("x1").to_numpy()).all()
    assert mfl.main(["--rows", "10", "--levels", "5,x", "--out", out]) == 2
    assert capsys.readouterr().err.startswith("Error: ")
