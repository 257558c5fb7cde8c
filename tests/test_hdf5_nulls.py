"""``inspect``'s null counts of HDF5 files (issue 21, "Data hygiene"): every layout the
reader takes (h5py ``X`` with datasets beside it, h5py one 1-D dataset per column, pandas
``to_hdf`` frames in format "fixed" and "table", values as blocks and as data columns)
against the counts computed independently (``df.isna().sum()``, ``np.isnan``), over
several chunk ranges and two files, each read bounded by a chunk range."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.readers import hdf5
from cli_helpers import run

pytest.importorskip("tables")  # pandas' to_hdf writes through PyTables

N = 4000  # (pandas' table chunks hold about 1,400 of these rows: three chunk ranges)
UNIT_ROWS = 256  # chunk ranges of 200 rows in the h5py files (chunks of 100)


def _frame(seed: int = 0, n: int = N) -> pd.DataFrame:
    """NaN in floats, None in an object column, NaN in a ``category``, NaT in a date, a
    string column without gaps, integers (pandas stores no nullable integers in HDF5:
    ``Int64`` is refused by ``to_hdf``), a float label with gaps."""
    rng = np.random.default_rng(seed)

    def gaps(k):
        return rng.choice(n, k, replace=False)

    df = pd.DataFrame({
        "a": rng.normal(size=n), "b": rng.normal(size=n).astype(np.float32),
        "s": rng.choice(["u", "v", "w"], n).astype(object),
        "c": pd.Categorical(rng.choice(["p", "q"], n)),
        "t": rng.choice(["k", "l"], n).astype(object),
        "d": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 99, n), "D"),
        "i": rng.integers(0, 9, n), "y": rng.integers(0, 2, n).astype(float)})
    df.loc[gaps(17), "a"] = np.nan
    df.loc[gaps(3), "b"] = np.nan
    df.loc[gaps(11), "s"] = None
    df.loc[gaps(6), "c"] = np.nan
    df.loc[gaps(5), "d"] = pd.NaT
    df.loc[gaps(2), "y"] = np.nan
    return df


def _expected(*frames: pd.DataFrame) -> dict[str, int]:
    total = sum(f.isna().sum() for f in frames)
    return {name: int(n) for name, n in total.items()}


@pytest.fixture
def small_units(monkeypatch):
    monkeypatch.setattr(hdf5, "TARGET_UNIT_ROWS", UNIT_ROWS)


@pytest.fixture
def reads(monkeypatch):
    """The rows of every h5py read of a dataset of the file's rows."""
    rows = []
    read = h5py.Dataset.__getitem__

    def counted(self, key, *args, **kw):
        out = read(self, key, *args, **kw)
        if self.shape and self.shape[0] >= N and getattr(out, "ndim", 0):
            rows.append(len(out))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counted)
    return rows


def _counts(path, reads: list[int] | None = None) -> dict[str, int]:
    """The source's null counts, checking that each read was one chunk range at most."""
    with sn.open_source(path, label=None) as src:
        assert len(src.units) >= 3
        if reads is not None:
            reads.clear()
        counts = src.null_counts()
        if reads is not None:
            assert reads and max(reads) <= max(u.n_rows for u in src.units) < N
        return counts


@pytest.mark.parametrize("data_columns", [None, True])
def test_pandas_table_counts_are_pandas_own(tmp_path, small_units, reads,
                                            data_columns):
    frames = [_frame(0), _frame(1)]
    paths = [tmp_path / f"{k}.h5" for k in range(2)]
    for frame, path in zip(frames, paths):
        frame.to_hdf(path, key="df", format="table", data_columns=data_columns)
    assert _counts(paths[0], reads) == _expected(frames[0])
    assert _counts(paths) == _expected(*frames)  # two files: added up


def test_pandas_fixed_counts_what_can_be_read(tmp_path, small_units, reads):
    """format 'fixed': numbers and dates counted block by block; a string column pickled
    whole is never read, so it has no count (it is left out of training too)."""
    frame = _frame(2).drop(columns="c")  # (fixed refuses category)
    path = tmp_path / "fixed.h5"
    frame.to_hdf(path, key="df", format="fixed")
    expected = _expected(frame)
    for pickled in ("s", "t"):
        del expected[pickled]
    assert _counts(path, reads) == expected


def _write_h5py(path, frame: pd.DataFrame, layout: str) -> None:
    """The numbers as ``X`` (named columns) with the rest beside it, or one 1-D dataset
    per column; strings as variable-length and fixed-length text, an enum, a float label."""
    enum = h5py.enum_dtype({"p": 0, "q": 1}, basetype="i1")
    with h5py.File(path, "w") as f:
        if layout == "X":
            X = f.create_dataset("X", data=frame[["a", "b", "i"]].to_numpy(np.float64),
                                 chunks=(100, 3))
            X.attrs["feature_names"] = ["a", "b", "i"]
        else:
            for c in ("a", "b", "i"):
                f.create_dataset(c, data=frame[c].to_numpy(), chunks=(100,))
        f.create_dataset("s", data=frame["s"].fillna("NA").to_numpy(dtype=object),
                         dtype=h5py.string_dtype(), chunks=(100,))
        f.create_dataset("t", data=frame["t"].to_numpy().astype("S1"), chunks=(100,))
        f.create_dataset("e", data=frame["c"].cat.codes.clip(0).to_numpy(np.int8), dtype=enum,
                         chunks=(100,))
        f.create_dataset("w", data=frame["a"].to_numpy()[::-1].copy(), chunks=(100,))
        f.create_dataset("y", data=frame["y"].to_numpy(), chunks=(100,))


@pytest.mark.parametrize("layout", ["X", "columns"])
def test_h5py_counts_are_numpys(tmp_path, small_units, reads, layout):
    """NaN per column of ``X`` (its rows a chunk range at a time) and of each float
    dataset (the label's too); h5py text and enums have no null value: 0."""
    frame = _frame(3)
    path = tmp_path / f"{layout}.h5"
    _write_h5py(path, frame, layout)
    a, b, y = (int(np.isnan(frame[c].to_numpy()).sum()) for c in ("a", "b", "y"))
    assert _counts(path, reads) == {"a": a, "b": b, "i": 0, "s": 0, "t": 0, "e": 0, "w": a,
                                    "y": y}


def test_inspect_shows_them_with_the_label_and_levels_consistent(tmp_path, capsys, small_units):
    """The nulls line says they were counted by reading the file; the label's nulls are
    the label line's and a categorical column's nulls the categorical report's."""
    frame = _frame(4)
    path = tmp_path / "t.h5"
    frame.to_hdf(path, key="df", format="table")
    code, out, err = run(capsys, "inspect", path, "--label", "y", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["nulls"] == _expected(frame)
    assert report["nulls_counted"].startswith("counted by reading every file")
    assert report["label_nulls"] == report["nulls"]["y"] == 2
    for entry in report["categorical"]:
        assert entry["nulls"] == report["nulls"][entry["column"]]
    code, out, err = run(capsys, "inspect", path, "--label", "y")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.startswith("nulls:"))
    shown = ", ".join(f"{c}: {n}" for c, n in _expected(frame).items() if n)
    assert line == f"nulls:     {shown} (counted by reading every file: HDF5 stores no null counts)"
    assert "null (2)" in out  # the label line
