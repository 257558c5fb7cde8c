"""--positive VALUE (issue 21): labels other than 0/1, stored in the model so that
evaluate reads the same file; the errors that name the flag; null labels with
--missing drop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import streamneuron as sn
from streamneuron.neuron import load_model
from streamneuron.readers.labels import check_labels

from cli_helpers import run, turned_away


def frame(n=600, seed=0, labels=("late", "on time")):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 2))
    hit = X @ [1.0, -1.0] + r.normal(size=n) > 0
    df = pd.DataFrame(X, columns=["a", "b"])
    df["y"] = np.where(hit, labels[0], labels[1])
    return df, hit.astype(float)


def test_string_labels_with_positive_equal_01_labels(tmp_path):
    df, y01 = frame()
    strings, numbers = tmp_path / "s.parquet", tmp_path / "n.parquet"
    df.to_parquet(strings, row_group_size=100)
    df.assign(y=y01.astype(int)).to_parquet(numbers, row_group_size=100)
    a = sn.fit_gd(strings, solver="newton", positive="late", workers=0)
    b = sn.fit_gd(numbers, solver="newton", workers=0)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.positive == "late" and a.to_dict()["labels"] == {"positive": "late", "negative": "on time"}
    c = sn.fit_gd(strings, solver="newton", positive="on time", workers=0)
    np.testing.assert_allclose(c.weights, -b.weights, atol=1e-9)
    sgd = sn.fit_sgd(strings, positive="late", epochs=2)
    sgd01 = sn.fit_sgd(numbers, epochs=2)
    np.testing.assert_array_equal(sgd.weights, sgd01.weights)


def test_cli_train_and_evaluate_read_the_same_labels(tmp_path, capsys):
    df, y01 = frame()
    path = tmp_path / "s.parquet"
    df.to_parquet(path, row_group_size=100)
    out = tmp_path / "m.json"
    turned_away(capsys, ["train", path, "-o", out, "--quiet"],
                ["label column 'y'", "'late'", "'on time'", "--positive"], output=out)
    code, _, err = run(capsys, "train", path, "-o", out, "--mode", "newton", "--positive",
                       "late", "--quiet")
    assert code == 0, err
    assert load_model(out).positive == "late"
    code, stdout, err = run(capsys, "evaluate", out, path, "--json")
    assert code == 0, err
    from sklearn.metrics import roc_auc_score

    model = load_model(out)
    z = model.decision_function(df[["a", "b"]].to_numpy())
    assert json.loads(stdout)["auc"] == pytest.approx(roc_auc_score(y01, z), abs=1e-6)


def test_numbers_and_booleans_with_positive(tmp_path):
    df, y01 = frame()
    for values, positive in (((1, 2), "1"), ((2.0, 7.0), "2"), ((True, False), "true")):
        data = df.assign(y=np.where(y01 == 1, values[0], values[1]))
        model = sn.fit_gd(data, label="y", solver="newton", positive=positive)
        ref = sn.fit_gd(df.assign(y=y01), label="y", solver="newton")
        np.testing.assert_allclose(model.weights, ref.weights, rtol=1e-12)
    # 0/1, 0.0/1.0 and booleans keep working without it
    sn.fit_gd(df.assign(y=y01 == 1), label="y", solver="newton")


def test_two_values_without_positive_and_more_than_two():
    with pytest.raises(sn.DataError, match=r"'late' and 'on time'.*--positive"):
        check_labels(np.array(["late", "on time", "late"], dtype=object), label="y", where="f")
    with pytest.raises(sn.DataError, match=r"the values 1 and 2.*--positive"):
        check_labels(np.array([1, 2, 1]), label="y", where="f")
    with pytest.raises(sn.DataError, match=r"more than two values \('a', 'b', 'c'\)"):
        check_labels(np.array(["a", "b", "c"], dtype=object), label="y", where="f")
    with pytest.raises(sn.DataError, match=r"more than two values"):
        check_labels(np.array(["a", "b", "c"], dtype=object), label="y", where="f", positive="a")
    np.testing.assert_array_equal(
        check_labels(np.array(["n", "y", "y"], dtype=object), label="y", where="f",
                     positive="y"), [0.0, 1.0, 1.0])


def test_null_label_is_an_error_naming_the_row_group_unless_drop(tmp_path):
    df, y01 = frame()
    df.loc[130, "y"] = None
    path = tmp_path / "s.parquet"
    df.to_parquet(path, row_group_size=100)
    with pytest.raises(sn.DataError, match=r"row group 1, row 30: label column 'y' has 1 null"):
        sn.fit_gd(path, solver="newton", positive="late", workers=0)
    model = sn.fit_gd(path, solver="newton", positive="late", missing="drop", workers=0)
    kept = df.drop(index=130)
    ref = sn.fit_gd(kept.assign(y=kept["y"] == "late"), label="y", solver="newton")
    np.testing.assert_allclose(model.weights, ref.weights, atol=1e-9)


def test_dataframe_string_labels_with_positive():
    df, y01 = frame()
    model = sn.fit_gd(df, label="y", solver="newton", positive="late")
    ref = sn.fit_gd(df.assign(y=y01), label="y", solver="newton")
    np.testing.assert_allclose(model.weights, ref.weights, rtol=1e-12)
    with pytest.raises(sn.DataError, match="--positive"):
        sn.fit_gd(df, label="y", solver="newton")


def test_the_model_stores_both_values_and_evaluate_refuses_others(tmp_path, capsys):
    df, y01 = frame()
    path, model_path = tmp_path / "s.parquet", tmp_path / "m.json"
    df.to_parquet(path, row_group_size=100)
    code, out, err = run(capsys, "train", path, "-o", model_path, "--mode", "newton",
                         "--positive", "late")
    assert code == 0, err
    assert "labels: 'late' counts as 1, 'on time' as 0" in out + err
    stored = json.loads(model_path.read_text())["labels"]
    assert stored == {"positive": "late", "negative": "on time"}
    model = load_model(model_path)
    assert (model.positive, model.negative) == ("late", "on time")
    assert model.columns()["negative"] == "on time"
    # a third value in one row group (each row group alone has two values)
    third = df.copy()
    third.loc[250:299, "y"] = third.loc[250:299, "y"].where(third.loc[250:299, "y"] == "late",
                                                            "cancelled")
    bad = tmp_path / "third.parquet"
    third.to_parquet(bad, row_group_size=100)
    turned_away(capsys, ["evaluate", model_path, bad],
                [str(bad), "row group 2", "label column 'y'", "'cancelled'", "'late'",
                 "'on time'"])
    # the labels of another model: "yes"/"no"
    other = tmp_path / "other.parquet"
    df.assign(y=np.where(y01 == 1, "yes", "no")).to_parquet(other, row_group_size=100)
    turned_away(capsys, ["evaluate", model_path, other],
                [str(other), "label column 'y'", "row 0", repr("yes" if y01[0] else "no"),
                 "'late'"])
    # one of the two values only, in a file of its own: still read as the model reads it
    only = tmp_path / "only.parquet"
    df[df["y"] == "on time"].to_parquet(only)
    code, stdout, err = run(capsys, "evaluate", model_path, only, "--json")
    assert code == 0, err
    assert json.loads(stdout)["positives"] == 0


def test_training_refuses_a_third_value_in_another_row_group(tmp_path):
    df, _ = frame()
    df.loc[450:, "y"] = df.loc[450:, "y"].where(df.loc[450:, "y"] == "late", "cancelled")
    path = tmp_path / "s.parquet"
    df.to_parquet(path, row_group_size=100)  # each row group alone: two values
    for fit in (lambda: sn.fit_gd(path, solver="newton", positive="late", workers=0),
                lambda: sn.fit_sgd(path, positive="late", epochs=1)):
        with pytest.raises(sn.DataError, match=r"row group 4.*label column 'y' has more than "
                                               r"two values \('late', 'on time', 'cancelled'\)"):
            fit()


def test_library_evaluate_uses_the_models_values(tmp_path):
    from streamneuron.apply import evaluate

    df, y01 = frame()
    model = sn.fit_gd(df, label="y", solver="newton", positive="late")
    assert (model.positive, model.negative) == ("late", "on time")
    path = tmp_path / "s.parquet"
    df.assign(y=np.where(y01 == 1, "late", "early")).to_parquet(path, row_group_size=100)
    with pytest.raises(sn.DataError, match=r"value 'early', neither 'late' \(counts as 1\) "
                                           r"nor 'on time'"):
        evaluate(model, sn.open_source(path, **model.columns()))
    with pytest.raises(sn.DataError, match=r"value 'early'"):  # opened with positive alone
        evaluate(model, sn.open_source(path, positive="late"))
    with pytest.raises(sn.ModelError, match=r"counts label value 'late' as 1"):
        evaluate(model, sn.open_source(path))
    right = tmp_path / "r.parquet"
    df.to_parquet(right, row_group_size=100)
    metrics = evaluate(model, sn.open_source(right, **model.columns())).result()
    assert metrics["positives"] == int(y01.sum())


def test_numeric_values_stored_and_older_model_files_still_read(tmp_path, capsys):
    df, y01 = frame()
    path, model_path = tmp_path / "n.parquet", tmp_path / "m.json"
    df.assign(y=np.where(y01 == 1, 2, 1)).to_parquet(path, row_group_size=100)
    model = sn.fit_gd(path, solver="newton", positive="2", workers=0)
    assert model.negative == 1 and isinstance(model.negative, int)
    from streamneuron.apply import evaluate

    assert evaluate(model, sn.open_source(path, positive=2.0)).result()["rows"] == len(df)
    model.save(model_path)
    # both as the column holds them (--positive gave the text "2")
    assert json.loads(model_path.read_text())["labels"] == {"positive": 2, "negative": 1}
    assert load_model(model_path).negative == 1
    bad = tmp_path / "three.parquet"
    df.assign(y=np.where(y01 == 1, 2, 3)).to_parquet(bad, row_group_size=100)
    turned_away(capsys, ["evaluate", model_path, bad], ["label column 'y'", "value 3"])
    # a model file from before the negative value was stored: as before
    data = json.loads(model_path.read_text())
    data["labels"] = {"positive": "2"}  # (then as typed)
    model_path.write_text(json.dumps(data))
    assert load_model(model_path).negative is None
    code, _, err = run(capsys, "evaluate", model_path, path, "--json")
    assert code == 0, err


def test_byte_string_labels_read_as_text():
    """HDF5 gives strings as bytes: ``--positive late`` names them, and the values are text."""
    for values in (np.array([b"late", b"on time", b"late"]),
                   np.array([b"late", b"on time", b"late"], dtype=object)):
        np.testing.assert_array_equal(check_labels(values, label="y", where="f",
                                                   positive="late"), [1.0, 0.0, 1.0])
        np.testing.assert_array_equal(check_labels(values, label="y", where="f",
                                                   positive="late", negative="on time"),
                                      [1.0, 0.0, 1.0])
        with pytest.raises(sn.DataError, match=r"value 'on time', neither 'late'"):
            check_labels(values, label="y", where="f", positive="late", negative="early")


def test_dask_frame_and_validation_file_take_the_training_values(tmp_path):
    import dask.dataframe as dd

    df, y01 = frame()
    model = sn.fit_gd(dd.from_pandas(df, npartitions=3), label="y", solver="newton",
                      positive="late", workers=0)
    assert (model.positive, model.negative) == ("late", "on time")
    train, val = tmp_path / "t.parquet", tmp_path / "v.parquet"
    df.to_parquet(train, row_group_size=100)
    df.assign(y=np.where(y01 == 1, "late", "early")).to_parquet(val, row_group_size=100)
    with pytest.raises(sn.DataError, match=r"v.parquet.*value 'early', neither 'late'"):
        sn.fit_sgd(train, positive="late", epochs=2, validation=val)


def test_hdf5_numeric_labels_store_the_other_value(tmp_path):
    h5py = pytest.importorskip("h5py")
    df, y01 = frame()
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["X"] = df[["a", "b"]].to_numpy()
        f["y"] = np.where(y01 == 1, 2, 1)
    model = sn.fit_gd(path, solver="newton", positive="2", workers=0)
    assert (model.positive, model.negative) == (2, 1)  # (as the column holds them)
    ref = sn.fit_gd(df.assign(y=y01), label="y", solver="newton")
    np.testing.assert_allclose(model.weights, ref.weights, rtol=1e-9)


def test_a_positive_value_the_labels_never_take_is_named_as_such(tmp_path, capsys):
    """``--positive YES`` on 'yes'/'no' labels (or 7 on 0/1): not "more than two values"
    listing a value the file does not hold, but that --positive matches none of them."""
    frame = pd.DataFrame({"x": np.arange(40.0), "y": ["yes", "no"] * 20,
                          "z": [0, 1] * 20})
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=10)
    out = tmp_path / "m.json"
    line = turned_away(capsys, ["train", path, "--label", "y", "--positive", "YES", "--exclude",
                                "z", "-o", out, "--quiet"], ["--positive 'YES' matches none",
                                                  "'yes', 'no'", "case and type count"], out)
    assert "more than two" not in line
    turned_away(capsys, ["train", path, "--label", "z", "--positive", "7", "--exclude", "y",
                         "-o", out, "--quiet"], ["--positive '7' matches none", "(0, 1)"], out)
    with pytest.raises(sn.DataError, match="matches none"):  # a piece read on its own
        check_labels(np.array(["yes", "no", "no"], dtype=object), label="y", where="here",
                     positive="YES")


@pytest.mark.parametrize("mode", ["sgd", "newton"])
def test_a_label_of_one_value_is_refused(tmp_path, capsys, mode):
    """Every row 1 (or 'yes'): no optimum, the bias grows without end; refused before
    training, from Parquet's statistics or the --positive read, naming the value."""
    x = np.arange(60.0)
    ones, yes = tmp_path / "ones.parquet", tmp_path / "yes.parquet"
    pd.DataFrame({"x": x, "y": np.ones(60, dtype=np.int8)}).to_parquet(ones, row_group_size=20)
    pd.DataFrame({"x": x, "y": ["yes"] * 60}).to_parquet(yes, row_group_size=20)
    out = tmp_path / "m.json"
    for data, extra, value in ((ones, [], "1"), (yes, ["--positive", "yes"], "'yes'")):
        turned_away(capsys, ["train", data, "--mode", mode, "-o", out, "--quiet", *extra],
                    [f"label column 'y' holds only the value {value}", "both labels"], out)
    turned_away(capsys, ["train", yes, "--mode", mode, "-o", out, "--quiet", "--positive",
                         "no"], ["--positive 'no' matches none", "('yes')"], out)
    # two values over the row groups, one in each: trained
    both = tmp_path / "both.parquet"
    pd.DataFrame({"x": x, "y": (x >= 20).astype(np.int8)}).to_parquet(both, row_group_size=20)
    code, _, err = run(capsys, "train", both, "--mode", mode, "-o", out, "--quiet", "--l2", "1")
    assert code == 0, err
