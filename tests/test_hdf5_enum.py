"""h5py enum datasets (``h5py.enum_dtype``: integers with a name each, how h5py and other
HDF5 tools store categories) as categorical columns whose levels are the enum's names, in
the ``X``-beside layout and the one-dataset-per-column layout; an enum label's names are
its values (``--positive``, as for text). Against scikit-learn's pipeline on the same rows
decoded independently (the names looked up with numpy), with the helpers of
``test_categorical.py``."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.readers import hdf5
from cli_helpers import run, turned_away
from test_categorical import make_frame, reference

N = 2000
CARRIERS = {"AA": 3, "UA": -2, "DL": 40, "WN": 7, "NA": 0}  # any integers, not 0..k-1
ORIGINS = {f"o{k}": 10 * k for k in range(12)}


def _codes(values: pd.Series, names: dict[str, int]) -> np.ndarray:
    return values.map(names).to_numpy(np.int8)


def _decoded(codes: np.ndarray, names: dict[str, int]) -> np.ndarray:
    """The names of enum values, looked up independently of the reader."""
    by_value = {v: k for k, v in names.items()}
    return np.array([by_value[int(c)] for c in codes], dtype=object)


def write(path, frame: pd.DataFrame, layout: str, chunk_rows: int = 400) -> None:
    """carrier and origin as int8 enums, hour as integers, y 0/1; the numbers as ``X``
    (named columns) or as one dataset each."""
    carrier = h5py.enum_dtype(CARRIERS, basetype="i1")
    origin = h5py.enum_dtype(ORIGINS, basetype="i1")
    with h5py.File(path, "w") as f:
        if layout == "X":
            X = f.create_dataset("X", data=frame[["x1", "x2"]].to_numpy(), chunks=(chunk_rows, 2))
            X.attrs["feature_names"] = ["x1", "x2"]
        else:
            for c in ("x1", "x2"):
                f.create_dataset(c, data=frame[c].to_numpy(), chunks=(chunk_rows,))
        f.create_dataset("carrier", data=_codes(frame["carrier"], CARRIERS), dtype=carrier,
                         chunks=(chunk_rows,))
        f.create_dataset("origin", data=_codes(frame["origin"].astype(str), ORIGINS),
                         dtype=origin, chunks=(chunk_rows,))
        f.create_dataset("hour", data=frame["hour"].to_numpy(np.int32))
        f.create_dataset("y", data=frame["y"].to_numpy(np.int8), chunks=(chunk_rows,))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enum")
    frame = make_frame(N, 0)
    frame["carrier"] = frame["carrier"].fillna("NA")  # (an enum has no null: its own name)
    paths = {}
    for layout in ("X", "columns"):
        paths[layout] = folder / f"{layout}.h5"
        write(paths[layout], frame, layout)
    return {"frame": frame, "folder": folder, **paths}


@pytest.mark.parametrize("layout", ["X", "columns"])
def test_enums_are_categorical_by_their_names_at_the_pipeline_optimum(files, layout,
                                                                     monkeypatch):
    monkeypatch.setattr(hdf5, "TARGET_UNIT_ROWS", 500)  # several chunk ranges
    path = files[layout]
    with h5py.File(path) as f:  # the rows decoded without the reader
        carrier = _decoded(f["carrier"][:], CARRIERS)
        origin = _decoded(f["origin"][:], ORIGINS)
    frame = files["frame"].assign(carrier=carrier, origin=origin)
    src = sn.open_source(path, label="y", categorical=["hour"])
    assert len(src.units) >= 4 and src.feature_names == ["x1", "x2"]
    assert sorted(src.categorical) == ["carrier", "hour", "origin"]
    assert src.schema()["carrier"] == "enum (int8)"
    model = sn.fit_gd(path, label="y", solver="newton", categorical=["hour"], tol=1e-10)
    levels = {c.name: set(c.values) for c in model.levels.columns}
    assert levels["carrier"] <= set(CARRIERS) and levels["origin"] <= set(ORIGINS)
    pipe, X = reference(frame, 1.0 / N)
    model_src = sn.open_source(path, label=None, **model.columns())
    units = [model_src.read(i) for i in range(len(model_src.units))]
    ours = model.decision_function(np.concatenate([u.X for u in units]),
                                   np.concatenate([u.codes for u in units]))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < 1e-6
    # the model applies to the same names stored as text (levels are matched by value)
    text = files["folder"] / f"{layout}.parquet"
    frame.to_parquet(text, row_group_size=700)
    as_text = sn.open_source(text, label=None, **model.columns())
    units = [as_text.read(i) for i in range(len(as_text.units))]
    np.testing.assert_array_equal(model.decision_function(
        np.concatenate([u.X for u in units]), np.concatenate([u.codes for u in units])), ours)


def test_an_enum_label_is_its_names(files, tmp_path, capsys):
    """Its names are the label values: two of them need --positive (the error lists them),
    and the model is the 0/1 label's; inspect shows the names and the enum type."""
    status = {"on time": 0, "late": 1}
    frame = files["frame"]
    path = tmp_path / "label.h5"
    with h5py.File(path, "w") as f:
        f["a"], f["b"] = frame["x1"].to_numpy(), frame["x2"].to_numpy()
        f.create_dataset("status", data=frame["y"].to_numpy(np.int8),
                         dtype=h5py.enum_dtype(status, basetype="i1"))
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["X"] = frame[["x1", "x2"]].to_numpy()
        f.create_dataset("status", data=frame["y"].to_numpy(np.int8),
                         dtype=h5py.enum_dtype(status, basetype="u1"))
    ref = sn.fit_gd(sn.open_source([files["columns"]], label="y", features=["x1", "x2"]),
                    solver="newton", workers=0)
    for name in ("label.h5", "x.h5"):
        model = sn.fit_gd(tmp_path / name, label="status", positive="late", solver="newton",
                          workers=0)
        np.testing.assert_allclose(model.weights, ref.weights, rtol=1e-12, atol=1e-14)
        assert model.to_dict()["labels"] == {"positive": "late", "negative": "on time"}
        out = tmp_path / f"{name}.json"
        turned_away(capsys, ["train", tmp_path / name, "--label", "status", "-o", out,
                             "--quiet"],
                    [name, "'status'", "'late'", "'on time'", "--positive"], out)
    code, out, err = run(capsys, "inspect", path, "--label", "status", "--json")
    assert code == 0, err
    report = json.loads(out)
    counts = frame["y"].map({0: "on time", 1: "late"}).value_counts()
    assert {v["value"]: v["count"] for v in report["label_values"]} == counts.to_dict()
    assert report["schema"]["status"] == "enum (int8)" and report["nulls"]["status"] == 0


def test_bad_enum_input(files, tmp_path, capsys):
    """A value the enum does not name: exit 2, one line naming the file, the dataset and
    the value; an enum is not a weight, and not a number column."""
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["X"] = np.zeros((5, 1))
        f.create_dataset("city", data=np.array([0, 1, 9, 0, 1], np.int8),
                         dtype=h5py.enum_dtype({"Oslo": 0, "Rome": 1}, basetype="i1"))
        f["y"] = np.array([0, 1, 0, 1, 1])
        f.create_dataset("w", data=np.zeros(5, np.int8),
                         dtype=h5py.enum_dtype({"one": 0}, basetype="i1"))
    out = tmp_path / "m.json"
    for command in (["train", bad, "-o", out, "--mode", "newton", "--exclude", "w", "--quiet"],
                    ["inspect", bad]):
        turned_away(capsys, command, ["bad.h5", "row 2", "'city'", "value 9", "Oslo=0"], out)
    turned_away(capsys, ["train", bad, "-o", out, "--weight", "w", "--quiet"],
                ["bad.h5", "weight dataset 'w'", "enum (int8)", "not numbers"], out)
    src = sn.open_source(files["columns"], label="y")  # the default: categorical, no feature
    assert "carrier" in src.categorical and "carrier" not in src.feature_names
