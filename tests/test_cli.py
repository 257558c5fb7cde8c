"""End to end through the command line: generate -> inspect -> train -> evaluate -> predict.

The commands run in this process through the CLI's own ``main`` (the code the
``streamneuron`` script runs; ``cli_helpers.run``), except where a fresh interpreter is
the point: the same flags and seed give the same bits in two processes, and ``--version``
of ``python -m streamneuron`` (``tests/test_startup.py`` and ``tests/test_bad_input.py``
run it cold and on bad input).
"""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

import streamneuron as sn
from cli_helpers import run as run_in_process


def run(*args, check=True):
    """``python -m streamneuron ARGS...`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-m", "streamneuron", *map(str, args)],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def here(capsys, *args):
    """``streamneuron ARGS...`` in this process (exit 0 asserted), its output as run()'s."""
    code, out, err = run_in_process(capsys, *args)
    if code != 0:
        raise AssertionError(f"exit {code}: {err}")
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


@pytest.mark.parametrize("fmt,name", [("parquet", "d.parquet"), ("hdf5", "d.h5")])
def test_generate_inspect_train_evaluate_predict(tmp_path, fmt, name, capsys):
    data = tmp_path / name
    here(capsys, "generate", data, "--rows", 20000, "--features", 6, "--row-group-size", 3000,
         "--format", fmt, "--seed", 3, "--quiet")
    report = json.loads(here(capsys, "inspect", data, "--json").stdout)
    assert report["rows"] == 20000 and len(report["features"]) == 6
    assert report["units"] >= 1 and report["label_balance"]["positives"] > 0
    assert "rows:" in here(capsys, "inspect", data).stdout

    model_path, history = tmp_path / "m.json", tmp_path / "h.csv"
    out = here(capsys, "train", data, "--label", "y", "-o", model_path, "--epochs", 3,
               "--batch-size", 64, "--history", history, "--json")
    summary = json.loads(out.stdout)
    model = json.loads(model_path.read_text())
    assert model["format"] == "streamneuron-model" and model["loss"] == "log"
    assert len(model["weights"]) == 6 and model["standardize"] is not None
    assert summary["weights"] == model["weights"]
    lines = history.read_text().splitlines()
    assert lines[0] == "epoch,rows,objective,seconds" and len(lines) == 4

    metrics = json.loads(here(capsys, "evaluate", model_path, data, "--label", "y",
                              "--json").stdout)
    for key in ("rows", "loss", "log_loss", "mse", "accuracy", "auc"):
        assert key in metrics
    assert metrics["rows"] == 20000 and metrics["accuracy"] > 0.6

    # evaluate agrees with an in-memory computation of the same model
    source = sn.open_source(data, label="y")
    X, y = next(source.batches(batch_size=20000, shuffle=False))
    neuron = sn.load_model(model_path)
    p = neuron.predict_proba(X)
    assert metrics["log_loss"] == pytest.approx(neuron.loss(X, y), rel=1e-9)
    assert metrics["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y))
    assert abs(metrics["auc"] - roc_auc_score(y, p)) <= metrics["auc_error_bound"] + 1e-12

    scores = tmp_path / "scores.parquet"
    here(capsys, "predict", model_path, data, "-o", scores, "--quiet")
    table = pq.read_table(scores)
    assert table.column_names == ["probability", "prediction"]
    np.testing.assert_allclose(table.column("probability").to_numpy(), p, rtol=1e-12)
    np.testing.assert_array_equal(table.column("prediction").to_numpy(), (p >= 0.5).astype(np.int8))


def test_predict_keeps_columns(tmp_path, capsys):
    data = tmp_path / "d.parquet"
    here(capsys, "generate", data, "--rows", 500, "--features", 3, "--id-column",
         "--row-group-size", 100, "--quiet")
    model = tmp_path / "m.json"
    here(capsys, "train", data, "--features", "x0,x1,x2", "-o", model, "--epochs", 1, "--quiet")
    here(capsys, "predict", model, data, "-o", tmp_path / "p.parquet", "--keep", "id", "--quiet")
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names == ["probability", "prediction", "id"]
    np.testing.assert_array_equal(table.column("id").to_numpy(), np.arange(500))


def test_same_flags_and_seed_give_bit_identical_weights(tmp_path):
    data = tmp_path / "d.parquet"
    run("generate", data, "--rows", 3000, "--features", 4, "--row-group-size", 700, "--quiet")
    weights = []
    for k in range(2):
        out = tmp_path / f"m{k}.json"
        run("train", data, "-o", out, "--seed", 7, "--batch-size", 10, "--epochs", 2,
            "--schedule", "invscaling", "--l2", "0.001", "--quiet")
        weights.append(json.loads(out.read_text())["weights"])
    assert weights[0] == weights[1]


def test_help_of_every_command_has_examples_that_parse(capsys):
    """Each command's --help shows at least one example command line, and every
    example is a valid invocation of that command (its flags and values parse)."""
    import shlex

    from streamneuron.cli import cli

    for cmd in ("train", "predict", "evaluate", "inspect", "generate"):
        text = here(capsys, cmd, "--help").stdout
        examples = [line.strip() for line in text.split("Options:")[0].splitlines()
                    if line.strip().startswith(f"streamneuron {cmd} ")]
        assert examples, text
        for example in examples:
            args = shlex.split(example)[2:]
            cli.commands[cmd].make_context(cmd, args)  # raises click.UsageError if not
    assert run("--version").stdout.strip().endswith(sn.__version__)


@pytest.mark.parametrize("loss", ["log", "mse"])
def test_evaluate_loss_is_the_models_own_loss(parquet_file, data, loss):
    from streamneuron.apply import evaluate, evaluation_report

    X, y = data
    model = sn.fit_sgd(parquet_file, label="y", loss=loss, epochs=2, batch_size=32)
    report = evaluation_report(model, evaluate(model, sn.open_source(parquet_file, label="y")))
    assert report["loss_name"] == loss
    assert report["loss"] == pytest.approx(model.loss(X, y), rel=1e-9)


def test_inspect_shows_each_categorical_columns_levels(tmp_path, capsys):
    """Distinct counts and top levels of pandas' object and category columns (a null a
    level of its own), counted row group by row group, against pandas' value_counts;
    a column past --max-levels' default says "more than" instead."""
    import pandas as pd

    from streamneuron.levels import MAX_LEVELS

    rng = np.random.default_rng(5)
    n = 5000
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "carrier": rng.choice(["AA", "UA", "DL", "WN", "B6", "NK", None], n,
                              p=[.3, .2, .15, .12, .1, .08, .05]),
        "origin": pd.Categorical(rng.choice([f"o{k}" for k in range(9)], n)),
        "ident": [f"id{k}" for k in range(n)],  # an id: more levels than training keeps
        "y": rng.integers(0, 2, n)})
    data = tmp_path / "cats.parquet"
    frame.to_parquet(data, row_group_size=700)
    report = json.loads(here(capsys, "inspect", data, "--json").stdout)
    by_name = {c["column"]: c for c in report["categorical"]}
    assert list(by_name) == ["carrier", "origin", "ident"]
    for name in ("carrier", "origin"):
        expected = frame[name].astype(object).value_counts(dropna=False)
        entry = by_name[name]
        assert entry["distinct"] == len(expected)
        assert entry["nulls"] == int(frame[name].isna().sum())
        top = sorted(expected.items(), key=lambda vc: (-vc[1], pd.isna(vc[0]),
                                                        "" if pd.isna(vc[0]) else vc[0]))[:5]
        assert entry["top"] == [[None if pd.isna(v) else v, int(c)] for v, c in top]
    assert by_name["ident"]["distinct"] is None
    assert by_name["ident"]["more_than"] == MAX_LEVELS and by_name["ident"]["top"] == []
    text = here(capsys, "inspect", data).stdout
    first = by_name["carrier"]["top"][0]
    assert f"carrier  {by_name['carrier']['distinct']} distinct: {first[0]} {first[1]:,}" in text
    assert f"more than {MAX_LEVELS:,} distinct" in text
