"""Categorical columns (issue 20), against scikit-learn's pipeline:
``ColumnTransformer(StandardScaler on the numbers, OneHotEncoder(handle_unknown="ignore"))``
then ``LogisticRegression(C = 1/(l2 n))``, on files written by pandas (object and
``category`` columns) and pyarrow (dictionary arrays), with nulls, several row groups
and an unseen level."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import streamneuron as sn
from streamneuron.levels import LevelCounts
from cli_helpers import run, turned_away

NUM = ["x1", "x2"]
CAT = ["carrier", "origin", "hour"]
EFFECTS = {"carrier": {"AA": 0.0, "UA": 0.8, "DL": -0.6, "WN": 1.2, None: -1.0},
           "origin": {f"o{k}": 0.15 * ((k * 7) % 11 - 5) for k in range(12)}}


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    carrier = rng.choice(["AA", "UA", "DL", "WN", None], n, p=[.4, .25, .2, .1, .05])
    origin = rng.choice([f"o{k}" for k in range(12)], n,
                        p=np.arange(12, 0, -1) / np.arange(12, 0, -1).sum())
    hour = rng.integers(0, 4, n)
    x1 = rng.normal(size=n)
    x2 = rng.normal(3.0, 2.0, size=n)
    z = (0.7 * x1 - 0.25 * x2 + np.array([EFFECTS["carrier"][c] for c in carrier])
         + np.array([EFFECTS["origin"][o] for o in origin]) + 0.3 * hour)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame({"x1": x1, "carrier": carrier, "x2": x2,
                         "origin": pd.Categorical(origin), "hour": hour, "y": y})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("categorical")
    train = make_frame(6000, 0)
    test = make_frame(3000, 1)
    test.loc[test.index[:40], "carrier"] = "ZZ"  # a level never seen in training
    train_path, test_path = folder / "train.parquet", folder / "test.parquet"
    train.to_parquet(train_path, row_group_size=1000)  # pandas: object and category columns
    test.to_parquet(test_path, row_group_size=700)
    # the same test rows, written by pyarrow with the strings dictionary-encoded afresh
    table = pa.Table.from_pandas(test, preserve_index=False)
    table = table.set_column(table.schema.get_field_index("carrier"), "carrier",
                             pc_dictionary(table.column("carrier")))
    dict_path = folder / "test_dict.parquet"
    pq.write_table(table, dict_path, row_group_size=1000)
    return {"train": train, "test": test, "train_path": train_path, "test_path": test_path,
            "dict_path": dict_path, "folder": folder}


def pc_dictionary(column):
    return pa.chunked_array([chunk.dictionary_encode() for chunk in column.chunks])


def reference(frame: pd.DataFrame, l2: float, categorical=("carrier", "origin", "hour"),
              sample_weight=None):
    """scikit-learn's pipeline at C = 1/(l2 W) (nulls as a level of their own)."""
    X = frame[NUM + list(categorical)].copy()
    for c in categorical:
        X[c] = X[c].astype(object).where(X[c].notna(), "__null__").astype(str)
    ct = ColumnTransformer([("num", StandardScaler(), NUM),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical))])
    W = len(frame) if sample_weight is None else float(np.sum(sample_weight))
    pipe = make_pipeline(ct, LogisticRegression(C=1.0 / (l2 * W), solver="newton-cholesky", tol=1e-12, max_iter=500))
    pipe.fit(X, frame["y"], logisticregression__sample_weight=sample_weight)
    return pipe, X


def as_reference_input(frame, categorical=("carrier", "origin", "hour")):
    X = frame[NUM + list(categorical)].copy()
    for c in categorical:
        X[c] = X[c].astype(object).where(X[c].notna(), "__null__").astype(str)
    return X


def model_logits(model_path, data_path, tmp_path, name="p.parquet"):
    out = tmp_path / name
    assert sn.cli.main(["predict", str(model_path), str(data_path), "-o", str(out)]) == 0
    p = pq.read_table(out).column("probability").to_numpy()
    return np.log(p) - np.log1p(-p)


def test_levels_counted_in_order_with_null_a_level(files):
    src = sn.open_source(files["train_path"], label="y", categorical=["hour"])
    assert src.feature_names == NUM and src.categorical == CAT
    counts = LevelCounts(src.categorical)
    for i in range(len(src.units)):
        counts.add(src.read(i).extra)
    levels = counts.levels(reference=False)
    carrier = levels.columns[0]
    expected = files["train"]["carrier"].value_counts(dropna=False)
    assert list(carrier.counts) == sorted(expected.tolist(), reverse=True)
    assert None in carrier.values  # a null is a level
    assert dict(zip(carrier.values, carrier.counts))["AA"] == int(expected["AA"])


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_full_pass_optimum_is_sklearn_pipeline(files, tmp_path, solver):
    model = sn.fit_gd(files["train_path"], label="y", solver=solver, categorical=["hour"],
                      tol=1e-10)
    n = len(files["train"])
    pipe, X = reference(files["train"], 1.0 / n)
    ours = model.decision_function(*_rows(model, files["train_path"]))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < (1e-6 if solver == "newton" else 1e-4)
    assert model.info["passes"] <= (12 if solver == "newton" else 80)
    # the objective of sklearn's optimum, computed by us, equals ours
    coef = pipe[-1].coef_.ravel()
    p = 1 / (1 + np.exp(-pipe.decision_function(X)))
    y = files["train"]["y"].to_numpy()
    sk_objective = -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)) + 0.5 / n * coef @ coef
    assert model.info["objective"] == pytest.approx(sk_objective, abs=1e-9)


def _rows(model, path):
    """``(X, codes)`` of a whole (small) file, encoded by the model's levels."""
    src = sn.open_source(path, label=None, **model.columns())
    units = [src.read(i) for i in range(len(src.units))]
    return (np.concatenate([u.X for u in units]), np.concatenate([u.codes for u in units]))


def test_cli_predict_unseen_level_and_other_dictionaries(files, tmp_path, capsys):
    model_path = tmp_path / "m.json"
    code, _, err = run(capsys, "train", files["train_path"], "--label", "y", "-o", model_path,
                       "--mode", "newton", "--categorical", "hour", "--tol", "1e-10")
    assert code == 0, err
    assert "categorical (3): carrier (5 levels), origin (12 levels), hour (4 levels)" in err
    n = len(files["train"])
    pipe, _ = reference(files["train"], 1.0 / n)
    expected = pipe.decision_function(as_reference_input(files["test"]))
    got = model_logits(model_path, files["test_path"], tmp_path)
    assert np.max(np.abs(got - expected)) < 1e-6  # "ZZ" adds nothing, as handle_unknown="ignore"
    # the same rows, dictionary-encoded differently: the same probabilities
    again = model_logits(model_path, files["dict_path"], tmp_path, "q.parquet")
    np.testing.assert_array_equal(got, again)
    code, out, err = run(capsys, "evaluate", model_path, files["test_path"], "--label", "y",
                         "--json")
    assert code == 0, err
    from sklearn.metrics import log_loss

    probs = 1 / (1 + np.exp(-expected))
    assert json.loads(out)["log_loss"] == pytest.approx(log_loss(files["test"]["y"], probs),
                                                        rel=1e-9)
    saved = json.loads(model_path.read_text())
    assert [c["column"] for c in saved["categorical"]] == CAT
    assert len(saved["weights"]) == 2  # "weights": one per number feature, as before


def test_sgd_default_lands_near_the_optimum(files, tmp_path):
    from sklearn.metrics import log_loss

    model = sn.fit_sgd(files["train_path"], label="y", categorical=["hour"], seed=3)
    n = len(files["train"])
    pipe, _ = reference(files["train"], 1.0 / n)
    test_X = as_reference_input(files["test"])
    best = log_loss(files["test"]["y"], pipe.predict_proba(test_X)[:, 1])
    z = model.decision_function(*_rows(model, files["test_path"]))
    ours = log_loss(files["test"]["y"], 1 / (1 + np.exp(-z)))
    assert ours <= best * 1.01


def test_sgd_resume_is_exact_with_levels(files, tmp_path):
    kwargs = dict(label="y", epochs=3, batch_size=16, seed=5, schedule="adagrad",
                  categorical=["hour"])
    whole = sn.fit_sgd(files["train_path"], **kwargs)
    folder = tmp_path / "ckpt"
    first = sn.fit_sgd(files["train_path"], **{**kwargs, "epochs": 1}, checkpoint=folder)
    assert first.levels == whole.levels
    resumed = sn.fit_sgd(files["train_path"], **kwargs, checkpoint=folder, resume=True)
    np.testing.assert_array_equal(resumed.weights, whole.weights)
    assert resumed.bias == whole.bias


def test_weighted_rows_with_levels(files):
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(files["train"]))
    frame = files["train"].assign(w=w)
    path = files["folder"] / "weighted.parquet"
    frame.to_parquet(path, row_group_size=1500)
    model = sn.fit_gd(path, label="y", solver="newton", weight="w", categorical=["hour"],
                      tol=1e-10)
    # the numbers standardized by their weighted mean and standard deviation (numpy),
    # then scikit-learn's one-hot and weighted LogisticRegression at C = 1/(l2 W)
    X = as_reference_input(files["train"])
    for c in NUM:
        mean = np.average(X[c], weights=w)
        X[c] = (X[c] - mean) / np.sqrt(np.average((X[c] - mean) ** 2, weights=w))
    ct = ColumnTransformer([("num", "passthrough", NUM),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), CAT)])
    pipe = make_pipeline(ct, LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12,
                                                max_iter=500))
    pipe.fit(X, files["train"]["y"], logisticregression__sample_weight=w)
    ours = model.decision_function(*_rows(model, path))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < 1e-6


def test_no_penalty_drops_the_most_frequent_level(files):
    model = sn.fit_gd(files["train_path"], label="y", solver="newton", l2=0.0, tol=1e-10,
                      features=["x1", "x2", "carrier", "origin"])
    carrier, origin = model.levels.columns
    assert carrier.reference == "AA" and origin.reference == "o0"
    X = as_reference_input(files["train"], ("carrier", "origin"))
    ct = ColumnTransformer([("num", StandardScaler(), NUM),
                            ("cat", OneHotEncoder(drop=["AA", "o0"]), ["carrier", "origin"])])
    pipe = make_pipeline(ct, LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12,
                                                max_iter=500))
    pipe.fit(X, files["train"]["y"])
    ours = model.decision_function(*_rows(model, files["train_path"]))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < 1e-5


def test_dask_cluster_gives_the_same_bits(files, dask_client):
    """On the session's cluster of two worker processes (conftest.dask_client)."""
    kwargs = dict(label="y", solver="newton", categorical=["hour"], partition_rows=2000)
    here = sn.fit_gd(files["train_path"], **kwargs, workers=0)
    there = sn.fit_gd(files["train_path"], **kwargs, client=dask_client)
    np.testing.assert_array_equal(here.weights, there.weights)
    assert here.levels == there.levels


def test_l1_with_levels_is_glums_optimum(files):
    glum = pytest.importorskip("glum")
    l1, l2 = 2e-3, 1e-3
    model = sn.fit_gd(files["train_path"], label="y", solver="newton", l1=l1, l2=l2,
                      categorical=["hour"], tol=1e-10)
    X, codes = _rows(model, files["train_path"])
    dense = np.zeros((len(X), model.n_weights))
    dense[:, :2] = (X - model.mean) / model.scale
    for c in range(codes.shape[1]):
        dense[np.arange(len(X)), codes[:, c]] = 1.0
    ref = glum.GeneralizedLinearRegressor(family="binomial", alpha=l1 + l2,
                                          l1_ratio=l1 / (l1 + l2), gradient_tol=1e-12,
                                          max_iter=1000).fit(dense, files["train"]["y"])
    ours = model.decision_function(X, codes)
    theirs = dense @ ref.coef_ + ref.intercept_
    assert np.max(np.abs(ours - theirs)) < 1e-5
    assert np.count_nonzero(model.weights) == np.count_nonzero(ref.coef_)


def test_bad_categorical_input(files, tmp_path, capsys):
    out = tmp_path / "m.json"
    turned_away(capsys, ["train", files["train_path"], "--label", "y", "-o", out,
                         "--categorical", "x1"], ["'x1'", "float"], out)
    # (found in the first pass, after the columns were listed: the last line says it)
    code, _, err = run(capsys, "train", files["train_path"], "--label", "y", "-o", out,
                       "--categorical", "origin", "--max-levels", "5")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: ") and "Traceback" not in err
    assert all(t in last for t in ("'origin'", "more than 5", "--max-levels"))
    assert not out.exists()
    turned_away(capsys, ["train", files["train_path"], "--label", "y", "-o", out,
                         "--categorical", "nope"], ["nope", "--categorical"], out)
    # a default categorical column past --max-levels is left out, with the reason
    code, _, err = run(capsys, "train", files["train_path"], "--label", "y", "-o", out,
                       "--max-levels", "5", "--mode", "newton")
    assert code == 0, err
    assert "origin (left out: more than 5 levels)" in err
    assert [c.name for c in sn.load_model(out).levels.columns] == ["carrier"]
    # ... and is decoded no more (the caller's source still reads it)
    from streamneuron.levels import LevelCounts
    from streamneuron.readers.encoded import encode_source
    source = sn.open_source(files["train_path"], label="y")
    counts = LevelCounts(source.categorical, 5)
    counts.add(source.read(0).extra)
    encoded = encode_source(source, counts, reference=False)
    assert "origin" not in encoded.read(0).extra and encoded.left_out[-1][0] == "origin"
    assert "origin" in source.read(0).extra


def test_text_that_is_not_utf8_is_one_line_naming_row_column_and_bytes(tmp_path, capsys):
    # Arrow reads a Parquet string column's bytes unchecked: the reader checks them
    bad = pa.array([b"ok", b"x", b"\xff\xfe"] * 4, pa.binary()).view(pa.string())
    ok = pa.array(["a", "b"] * 6)
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": np.arange(12.0), "c": bad, "y": [0, 1] * 6}), path,
                   row_group_size=6)
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"x": np.arange(12.0), "c": ok, "y": bad}), labels)
    out = tmp_path / "m.json"
    expected = ["bad.parquet", "row group 0, row 2", "'c'", "not UTF-8", "b'\\xff\\xfe'"]

    def refused(argv, texts, output=None):  # train lists its columns first: the last line
        code, _, err = run(capsys, *argv)
        last = err.strip().splitlines()[-1]
        assert code == 2 and last.startswith("Error: ") and "Traceback" not in err, err
        assert all(t in last for t in texts), last
        assert output is None or not output.exists()

    for mode in ("sgd", "newton"):
        refused(["train", path, "--label", "y", "-o", out, "--mode", mode], expected, out)
    refused(["inspect", path], expected)
    refused(["train", labels, "--label", "y", "--positive", "ok", "-o", out],
            ["labels.parquet", "'y'", "not UTF-8"], out)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"x": np.arange(12.0), "c": ok, "y": [0, 1] * 6}), good)
    assert run(capsys, "train", good, "--label", "y", "-o", out, "--mode", "newton")[0] == 0
    scores = tmp_path / "p.parquet"
    refused(["predict", out, path, "-o", scores], expected, scores)


def test_empty_strings_are_a_level(tmp_path):
    frame = pd.DataFrame({"x": np.arange(8.0), "c": ["", "a", "", "b", "a", "", "b", "a"],
                          "y": [0, 1, 0, 1, 1, 0, 0, 1]})
    path = tmp_path / "e.parquet"
    frame.to_parquet(path)
    model = sn.fit_gd(path, label="y", solver="newton")
    assert "" in model.levels.columns[0].values
    from streamneuron.inspect import _level

    assert (_level(""), _level(" a"), _level("a"), _level(None), _level(3)) == (
        "''", "' a'", "a", "null", "3")  # inspect's top levels: an empty one shown, quoted


@pytest.mark.parametrize("mode", ["sgd", "newton"])
def test_train_and_evaluate_plots_of_a_categorical_model(files, tmp_path, capsys, mode):
    """``train --plot`` and ``evaluate --plot`` write their PNGs for a model with level
    weights (the plots read the history and the metrics, never the weights)."""
    pytest.importorskip("matplotlib")
    model_path, train_png, eval_png = (tmp_path / f for f in ("m.json", "t.png", "e.png"))
    code, _, err = run(capsys, "train", files["train_path"], "--label", "y", "--mode", mode,
                       "--categorical", "hour", "-o", model_path, "--plot", train_png,
                       "--quiet")
    assert code == 0, err
    assert json.loads(model_path.read_text())["categorical"]
    code, _, err = run(capsys, "evaluate", model_path, files["dict_path"], "--plot", eval_png)
    assert code == 0, err
    for png in (train_png, eval_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _fnv1a64(data: bytes) -> int:
    """FNV-1a 64, written out from its definition (the reference for --hash-bits)."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return h


def test_hash_bits_is_one_hot_of_fnv1a_buckets(tmp_path, capsys):
    rng = np.random.default_rng(4)
    n, bits = 4000, 6
    users = np.array([f"user{k}" for k in rng.integers(0, 3000, n)], dtype=object)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x + (np.char.str_len(users.astype(str)) % 3 - 1))))
         ).astype(int)
    path = tmp_path / "ids.parquet"
    pd.DataFrame({"x": x, "user": users, "y": y}).to_parquet(path, row_group_size=900)
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", path, "--label", "y", "-o", out, "--mode", "newton",
                       "--max-levels", "100", "--hash-bits", bits, "--tol", "1e-10")
    assert code == 0, err
    assert "user (hashed into 64 weights)" in err
    saved = json.loads(out.read_text())["categorical"][0]
    assert saved["hash"] == "fnv1a64-utf8" and len(saved["weights"]) == 64
    buckets = np.array([_fnv1a64(u.encode()) % 2**bits for u in users])
    onehot = np.zeros((n, 2**bits))
    onehot[np.arange(n), buckets] = 1.0
    xs = (x - x.mean()) / x.std()
    ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=500).fit(
        np.column_stack([xs, onehot]), y)
    model = sn.load_model(out)
    ours = model.decision_function(*_rows(model, path))
    np.testing.assert_allclose(ours, ref.decision_function(np.column_stack([xs, onehot])),
                               atol=1e-6)
    # an id never seen hashes to a trained bucket: it still gets that bucket's weight
    new = tmp_path / "new.parquet"
    pd.DataFrame({"x": [0.0], "user": ["someone new"], "y": [1]}).to_parquet(new)
    z = model.decision_function(*_rows(model, new))
    k = _fnv1a64(b"someone new") % 2**bits
    assert z[0] == pytest.approx(model.bias + model.weights[1 + k] - model.weights[0]
                                 * model.mean[0] / model.scale[0], abs=1e-12)


def test_l2_auto_with_levels_refits_the_pipeline_at_the_chosen_penalty(files):
    model = sn.fit_gd(files["train_path"], label="y", solver="newton", categorical=["hour"],
                      l2="auto", cv=3, tol=1e-10)
    path = model.info["path"]
    assert path["penalty"] == "l2" and len(path["points"]) > 3
    l2 = model.info["params"]["l2"]
    assert l2 == path["chosen"]
    pipe, X = reference(files["train"], l2)
    ours = model.decision_function(*_rows(model, files["train_path"]))
    assert np.max(np.abs(ours - pipe.decision_function(X))) < 1e-6


def test_newton_keeps_a_many_level_column_diagonal_l1_past_the_dense_limit_is_refused(
        tmp_path, capsys):
    # 9,000 levels: newton's Hessian is the arrowhead form (a 2 x 2 dense part, the
    # levels diagonal), not a 0.6 GiB matrix; proximal newton (--l1) wants the dense one
    n = 9000
    frame = pd.DataFrame({"x": np.arange(n, dtype=float) % 7, "id": [f"r{i}" for i in range(n)],
                          "y": np.arange(n) % 2})
    path = tmp_path / "ids.parquet"
    frame.to_parquet(path)
    out = tmp_path / "m.json"
    code, _, err = run(capsys, "train", path, "--label", "y", "-o", out, "--mode", "auto",
                       "--max-levels", "10000")
    assert code == 0, err
    info = sn.load_model(out).info
    assert info["mode"] == "newton" and info["converged"] and info["passes"] <= 12
    out.unlink()
    code, _, err = run(capsys, "train", path, "--label", "y", "-o", out, "--mode", "newton",
                       "--max-levels", "10000", "--l1", "1e-3")
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("Error: newton with 9,001 weights") and "--mode lbfgs" in last
    assert "--l1" in last and not out.exists()


def test_newton_size_rule_counts_the_parts():
    from streamneuron.params import (NEWTON_LIMIT_BYTES, check_newton_size, newton_bytes,
                                     pick_solver)

    assert newton_bytes(11_118, 10_000) == 8 * (1_119**2 + 10_000 * 1_120)
    check_newton_size("newton", 11_118, 10_000)  # 95 MiB a task: taken
    check_newton_size("lbfgs", 10**6)
    with pytest.raises(sn.ConfigError, match="9,000 weights dense"):
        check_newton_size("newton", 19_000, 10_000)  # a 9,000-weight dense part
    k = NEWTON_LIMIT_BYTES // (8 * 4_002) + 1  # 4,000 dense and k diagonal: past the bytes
    with pytest.raises(sn.ConfigError, match="GiB"):
        check_newton_size("newton", 4_000 + k, k)
    assert pick_solver(8, 11_118, 10_000) == "newton"
    assert pick_solver(8, 11_118) == "lbfgs"  # dense: too large for auto



def test_inspect_reports_levels_of_a_file_training_would_refuse(tmp_path, capsys):
    """Null numbers and string labels (refused by a plain train) do not keep inspect from
    counting the categorical columns' levels (read alone)."""
    frame = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "c": ["a", "b", "a", None],
                          "status": ["late", "on time", "late", "late"]})
    path = tmp_path / "gaps.parquet"
    frame.to_parquet(path)
    code, out, err = run(capsys, "inspect", path, "--label", "status", "--json")
    assert code == 0, err
    report = json.loads(out)
    (entry,) = report["categorical"]
    assert entry["column"] == "c" and entry["distinct"] == 3 and entry["top"][0] == ["a", 2]
    assert report["nulls"]["x"] == 1
    assert any("--positive" in w for w in report["warnings"])


def test_sgd_with_row_weights_and_l1_on_levels_nears_newtons_optimum(files):
    """SGD's weighted and L1 step rules on level weights (the cumulative L1 penalty, row
    weights in the batch's mean): its objective near proximal newton's optimum, with
    exact zeros."""
    w = np.random.default_rng(6).uniform(0.5, 2.0, len(files["train"]))
    path = files["folder"] / "weighted_l1.parquet"
    files["train"].assign(w=w).to_parquet(path, row_group_size=1500)
    kw = dict(label="y", weight="w", categorical=["hour"], l1=3e-3, l2=1e-4)
    best = sn.fit_gd(path, solver="newton", tol=1e-10, **kw)
    sgd = sn.fit_sgd(path, epochs=40, seed=2, **kw)
    X, codes = _rows(sgd, path)
    y = files["train"]["y"].to_numpy()

    def objective(model):
        z = model.decision_function(X, codes)
        loss = np.logaddexp(0.0, z) - y * z
        return (w @ loss / w.sum() + 0.5 * 1e-4 * model.weights @ model.weights
                + 3e-3 * np.abs(model.weights).sum())

    assert objective(best) == pytest.approx(best.info["objective"], rel=1e-9)
    assert objective(sgd) <= objective(best) * 1.01
    assert np.count_nonzero(sgd.weights == 0.0) > 0


def test_sgd_validation_data_and_fraction_are_encoded_by_the_training_levels(files):
    """The held-out rows (a second reader of the training files) and a validation file
    are read with the training levels: the checks' log loss is the model's own on them."""
    from sklearn.metrics import log_loss

    model = sn.fit_sgd(files["train_path"], label="y", categorical=["hour"], epochs=2,
                       seed=1, validation=files["test_path"])
    z = model.decision_function(*_rows(model, files["test_path"]))
    last = model.info["validation"][-1]
    assert last["val_log_loss"] == pytest.approx(
        log_loss(files["test"]["y"], 1 / (1 + np.exp(-z))), rel=1e-9)
    held = sn.fit_sgd(files["train_path"], label="y", categorical=["hour"], epochs=2, seed=1,
                      validation_fraction=0.2)
    assert 0 < held.info["validation"][-1]["val_rows"] < len(files["train"])
