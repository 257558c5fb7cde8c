"""predict and evaluate refuse data that does not fit the model in their own terms: they
have no --categorical, --missing or --positive (the model file settles those), so a
refusal never tells the user to give one of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cli_helpers import run, turned_away


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model_input")
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "carrier": rng.choice(["AA", "UA", "DL"], n),
                          "y": rng.integers(0, 2, n)})
    train = folder / "train.parquet"
    frame.to_parquet(train)
    path = folder / "m.json"
    import streamneuron as sn

    assert sn.cli.main(["train", str(train), "--label", "y", "--mode", "newton",
                        "-o", str(path), "--quiet"]) == 0
    return folder, frame, path


def _write(folder, name, frame):
    path = folder / name
    frame.to_parquet(path)
    return path


def _forbidden(line):
    for flag in ("--categorical names", "give --missing", "--positive VALUE (e.g."):
        assert flag not in line, line


@pytest.mark.parametrize("change, expected", [
    (lambda f: f.drop(columns=["carrier"]), "the model's categorical column 'carrier' is not "
                                            "in the data"),
    (lambda f: f.assign(carrier=np.linspace(0, 1, len(f))),
     "the model's categorical column 'carrier' is a float column here")])
def test_predict_without_the_models_categorical_column(model, capsys, tmp_path, change,
                                                       expected):
    folder, frame, path = model
    data = _write(tmp_path, "other.parquet", change(frame))
    out = tmp_path / "p.parquet"
    _forbidden(turned_away(capsys, ["predict", path, data, "-o", out], [expected], out))


def test_predict_a_gap_with_a_model_trained_without_missing(model, capsys, tmp_path):
    folder, frame, path = model
    gappy = frame.copy()
    gappy.loc[3, "x2"] = np.nan
    data = _write(tmp_path, "gap.parquet", gappy)
    out = tmp_path / "p.parquet"
    line = turned_away(capsys, ["predict", path, data, "-o", out],
                       ["'x2'", "fill those values first, or train with --missing impute"], out)
    _forbidden(line)


def test_evaluate_string_labels_with_a_01_model(model, capsys, tmp_path):
    folder, frame, path = model
    data = _write(tmp_path, "yes.parquet", frame.assign(y=np.where(frame.y == 1, "yes", "no")))
    line = turned_away(capsys, ["evaluate", path, data],
                       ["trained on 0/1 labels", "0/1 or boolean label column"])
    _forbidden(line)


def test_evaluate_a_null_label(model, capsys, tmp_path):
    folder, frame, path = model
    data = _write(tmp_path, "nolabel.parquet", frame.assign(y=frame.y.astype(float)).assign(
        y=lambda f: f.y.where(f.index != 7)))
    line = turned_away(capsys, ["evaluate", path, data],
                       ["null value", "drop those rows first (a model trained with --missing "
                        "drop skips them)"])
    assert "give --missing" not in line


def test_train_still_names_its_flags(model, capsys, tmp_path):
    folder, frame, path = model
    gappy = frame.copy()
    gappy.loc[3, "x2"] = np.nan
    data = _write(tmp_path, "gap.parquet", gappy)
    code, _, err = run(capsys, "train", data, "--label", "y", "-o", tmp_path / "m.json")
    assert code == 2 and "give --missing impute" in err


@pytest.fixture(scope="module")
def typed_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("typed")
    rng = np.random.default_rng(6)
    n = 400
    frame = pd.DataFrame({"x1": rng.normal(size=n),
                          "carrier": rng.choice(["AA", "UA", None], n),
                          "hour": rng.integers(0, 4, n), "flag": rng.random(n) < 0.5,
                          "y": rng.integers(0, 2, n)})
    train = folder / "train.parquet"
    frame.to_parquet(train)
    path = folder / "m.json"
    import streamneuron as sn

    assert sn.cli.main(["train", str(train), "--label", "y", "--mode", "newton",
                        "--categorical", "hour,flag", "-o", str(path), "--quiet"]) == 0
    return frame, path


@pytest.mark.parametrize("column, values, kinds", [
    ("hour", lambda f: f.hour.astype(str), ("text", "integer")),
    ("flag", lambda f: f.flag.astype(np.int64), ("integer", "boolean")),
    ("carrier", lambda f: np.arange(len(f)), ("integer", "text"))])
def test_a_categorical_column_of_another_kind_is_refused(typed_model, capsys, tmp_path,
                                                         column, values, kinds):
    """Not every row silently an unseen level: no value of another kind could match."""
    frame, path = typed_model
    data = _write(tmp_path, "other.parquet", frame.assign(**{column: values(frame)}))
    out = tmp_path / "p.parquet"
    turned_away(capsys, ["predict", path, data, "-o", out],
                [f"categorical column {column!r} holds {kinds[0]} values here",
                 f"its levels are {kinds[1]} values"], out)


def test_an_all_null_categorical_column_gets_the_null_level(typed_model, capsys, tmp_path):
    """pandas writes a column of None only as Arrow's null type: every row is the null
    level, as in a text column of nulls."""
    frame, path = typed_model
    nulls = frame.assign(carrier=[None] * len(frame))
    typed = _write(tmp_path, "typed.parquet", nulls.astype({"carrier": "string"}))
    untyped = _write(tmp_path, "untyped.parquet", nulls)
    import pyarrow.parquet as pq

    assert str(pq.read_schema(untyped).field("carrier").type) == "null"
    probabilities = []
    for data in (typed, untyped):
        out = tmp_path / f"p_{data.stem}.parquet"
        code, _, err = run(capsys, "predict", path, data, "-o", out, "--quiet")
        assert code == 0, err
        probabilities.append(pq.read_table(out).column("probability").to_numpy())
    np.testing.assert_array_equal(*probabilities)
