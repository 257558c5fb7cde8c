"""The parameter table (streamneuron.params): every flag's mode rule, a parameter added
in one place showing up everywhere, --init (warm starts) against plain numpy loops and
scikit-learn, and --mode auto."""

from __future__ import annotations

import importlib
import json
import sys

import click
import numpy as np
import pytest

import streamneuron as sn
from cli_helpers import run, turned_away
from conftest import make_data, write_parquet
from streamneuron import params
from streamneuron.rules import Fraction, Number, OneOf, Text, Whole

MODES = ("sgd", "gd", "newton", "lbfgs", "auto")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    X, y = make_data(n=600, d=4, seed=2, dtype=np.float64)
    return write_parquet(tmp_path_factory.mktemp("p") / "t.parquet", X, y, row_group_size=150)


def _args_for(entry: params.Param, table: str, tmp_path) -> list[str]:
    """The flag of ``entry`` with a value its rule allows."""
    if entry.kind == "flag":
        return [entry.spelling]
    if entry.kind == "switch":
        return ["--no-" + entry.name.replace("_", "-")]
    rule = entry.rule
    if isinstance(rule, Whole):
        value = str(max(rule.low, 1) + 1)
    elif isinstance(rule, (Number, Fraction)):
        value = "0.25"
    elif isinstance(rule, OneOf):
        value = list(rule.names())[-1]
    elif entry.name == "validation":
        value = table
    elif entry.name == "scheduler":
        value = "tcp://127.0.0.1:9"
    else:
        assert isinstance(rule, Text), entry
        value = str(tmp_path / "dir")
    return [entry.spelling, value]


def _mode_cases():
    for entry in params.PARAMS.values():
        if "train" in entry.commands and entry.flag != "" and entry.modes is not None:
            for mode in MODES:
                if not entry.applies_to(mode):
                    yield pytest.param(entry.name, mode, id=f"{entry.name}-{mode}")


@pytest.mark.parametrize("name, mode", list(_mode_cases()))
def test_every_flag_given_to_a_mode_it_does_not_apply_to_is_refused(tmp_path, capsys, table,
                                                                    name, mode):
    """Derived from the table: each flag with modes, given with each other mode, is one
    Error line naming the flag and its modes, before any work (no model written)."""
    entry = params.PARAMS[name]
    out = tmp_path / "m.json"
    turned_away(capsys, ["train", table, "-o", out, "--mode", mode,
                         *_args_for(entry, table, tmp_path)],
                [f"Error: {entry.spelling} is for --mode {'/'.join(entry.modes)}",
                 f"--mode {mode} does not use it"], output=out)


def test_workers_0_means_what_sgd_does_anyway(tmp_path, capsys, table):
    """``--workers 0`` (in this process) is accepted with sgd; ``--workers 2`` is not."""
    assert run(capsys, "train", table, "-o", tmp_path / "a.json", "--workers", "0",
               "--epochs", "1", "--quiet")[0] == 0
    turned_away(capsys, ["train", table, "-o", tmp_path / "b.json", "--workers", "2"],
                ["--workers is for --mode gd/newton/lbfgs"])


@pytest.fixture
def train_module():
    """``streamneuron.cli.train`` rebuilt after the test changed the table, and rebuilt
    again from the restored table afterwards."""
    module = sys.modules["streamneuron.cli.train"]
    yield module
    importlib.reload(module)


def test_a_parameter_added_to_the_table_appears_everywhere(monkeypatch, train_module, tmp_path,
                                                           capsys, table):
    """One declaration (and the code that uses it, here a stand-in engine) gives the
    flag, its default, its rule's error, its mode error, the library check and the
    estimator's constraint."""
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    from streamneuron.cli.common import run_command

    entry = params.Param("momentum", Number(0), 0.9, ("sgd",), help="sgd: heavy-ball momentum.",
                         estimator=params.ESTIMATOR)
    monkeypatch.setitem(params.PARAMS, "momentum", entry)
    command = importlib.reload(train_module).train
    group = click.Group(commands={"train": command})
    seen = []
    real_fit_sgd = sn.fit_sgd

    def engine(source, momentum, **kwargs):  # the code that uses the new parameter
        seen.append(momentum)
        return real_fit_sgd(source, **kwargs)

    monkeypatch.setattr("streamneuron.sgd.fit_sgd", engine)

    def cli(*argv):
        capsys.readouterr()
        code = run_command(group, [str(a) for a in argv])
        return code, capsys.readouterr()

    code, said = cli("train", "--help")
    assert code == 0 and "--momentum FLOAT" in said.out and "[default: 0.9]" in said.out
    base = ("train", table, "-o", tmp_path / "m.json", "--epochs", "1", "--quiet")
    assert cli(*base)[0] == 0 and seen == [0.9]  # the table's default reaches the engine
    assert cli(*base, "--momentum", "0.5")[0] == 0 and seen == [0.9, 0.5]
    code, said = cli(*base, "--momentum", "-1")
    assert code == 2 and said.err.strip() == "Error: --momentum must be >= 0, got -1.0"
    code, said = cli("train", table, "-o", tmp_path / "n.json", "--mode", "newton",
                     "--momentum", "0.5")
    assert code == 2 and said.err.startswith("Error: --momentum is for --mode sgd")
    with pytest.raises(sn.ConfigError, match="momentum must be >= 0, got -2"):
        params.check_params(momentum=-2)
    constraints = params.estimator_constraints()["momentum"]
    validate_parameter_constraints({"momentum": constraints}, {"momentum": 0.3}, "Est")
    with pytest.raises(InvalidParameterError, match="'momentum' parameter of Est must be"):
        validate_parameter_constraints({"momentum": constraints}, {"momentum": -0.3}, "Est")


def test_estimator_constraints_and_defaults_are_the_tables():
    """NeuronClassifier's constraints come from the table's rules: a value the table's
    check refuses, scikit-learn's validation refuses too, and the defaults agree."""
    import inspect

    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    est = sn.NeuronClassifier
    assert est._parameter_constraints.keys() == params.estimator_constraints().keys()
    signature = inspect.signature(est.__init__).parameters
    for name in est._parameter_constraints:
        assert signature[name].default == params.estimator_default(name)
    for name, bad in (("lr", 0.0), ("batch_size", 0), ("power_t", -1.0), ("l1", -0.5),
                      ("schedule", "cosine"), ("loss", "hinge"), ("average", -1)):
        with pytest.raises(sn.ConfigError):
            params.check_params(**{name: bad})
        with pytest.raises(InvalidParameterError):
            validate_parameter_constraints(est._parameter_constraints, {name: bad}, "est")


# -- --init: warm starts ---------------------------------------------------------------
def _start_model(names, seed=7) -> sn.Neuron:
    rng = np.random.default_rng(seed)
    model = sn.Neuron(len(names), feature_names=names, label="y")
    model.weights = rng.normal(size=len(names)) * 0.3
    model.bias = 0.2
    return model


def _gradient(X, y, w, b, l2):
    p = 1 / (1 + np.exp(-(X @ w + b)))
    return X.T @ (p - y) / len(y) + l2 * w, float(np.mean(p - y))


def test_gd_from_a_model_equals_the_plain_gradient_descent_loop_from_its_weights():
    X, y = make_data(n=300, d=4, seed=5, dtype=np.float64)
    start = _start_model([f"x{j}" for j in range(4)])
    model = sn.fit_gd((X, y), solver="gd", max_iter=7, lr=0.5, l2=1e-2, tol=0.0,
                      standardize=False, workers=0, init=start)
    w, b = start.weights.copy(), start.bias
    for _ in range(7):
        gw, gb = _gradient(X, y, w, b, 1e-2)
        w, b = w - 0.5 * gw, b - 0.5 * gb
    np.testing.assert_allclose(model.weights, w, rtol=1e-12, atol=1e-14)
    assert model.bias == pytest.approx(b, rel=1e-12)


def test_sgd_from_a_model_equals_the_plain_minibatch_loop_from_its_weights():
    X, y = make_data(n=200, d=3, seed=6, dtype=np.float64)
    start = _start_model([f"x{j}" for j in range(3)])
    model = sn.fit_sgd((X, y), batch_size=16, epochs=1, lr=0.1, schedule="constant",
                       shuffle=False, standardize=False, init=start, l2=0.0)
    w, b = start.weights.copy(), start.bias
    for i in range(0, len(y), 16):
        gw, gb = _gradient(X[i:i + 16], y[i:i + 16], w, b, 0.0)
        w, b = w - 0.1 * gw, b - 0.1 * gb
    np.testing.assert_allclose(model.weights, w, rtol=1e-10, atol=1e-13)
    assert model.bias == pytest.approx(b, rel=1e-10)


@pytest.mark.parametrize("mode", ["newton", "lbfgs"])
@pytest.mark.parametrize("second", [[], ["--no-standardize"]])
def test_a_solver_from_its_own_optimum_converges_at_once(tmp_path, capsys, table, second, mode):
    """Warm-started from its optimum (re-expressed when the second run does not
    standardize), newton and lbfgs stop at once, at the unpenalized optimum
    scikit-learn finds."""
    import pyarrow.parquet as pq
    from sklearn.linear_model import LogisticRegression

    first = tmp_path / "first.json"
    assert run(capsys, "train", table, "-o", first, "--mode", mode, "--tol", "1e-12",
               "--l2", "0", "--quiet")[0] == 0
    again = tmp_path / "again.json"
    code, out, err = run(capsys, "train", table, "-o", again, "--mode", mode, "--tol",
                         "1e-12", "--l2", "0", "--init", first, "--json", *second)
    assert code == 0, err
    summary = json.loads(out)
    # (lbfgs: one step to learn its first pair, whose gap estimate sends the next pass to
    # sum the Hessian, where newton's stop ends the run)
    assert summary["converged"] and summary["iterations"] <= (1 if mode == "newton" else 2)
    frame = pq.read_table(table).to_pandas()
    X, y = frame[[f"x{j}" for j in range(4)]].to_numpy(), frame["y"].to_numpy()
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(X, y)
    model = sn.load_model(again)
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X)[:, 1], atol=1e-6)


def test_init_with_other_features_is_refused_naming_them(tmp_path, capsys, table):
    other = _start_model(["x0", "x1", "x2", "zz"])
    other.save(tmp_path / "other.json")
    for mode in ("sgd", "newton"):
        turned_away(capsys, ["train", table, "-o", tmp_path / "m.json", "--mode", mode,
                             "--init", tmp_path / "other.json", "--quiet"],
                    ["--init", "other.json", "lacks 'x3'", "'zz'"], output=tmp_path / "m.json")
    turned_away(capsys, ["train", table, "-o", tmp_path / "m.json", "--init",
                         tmp_path / "missing.json", "--quiet"], ["--init", "missing.json"],
                output=tmp_path / "m.json")


def test_init_in_another_feature_order_is_reordered():
    X, y = make_data(n=300, d=3, seed=8, dtype=np.float64)
    names = ["x0", "x1", "x2"]
    start = _start_model(names)
    shuffled = sn.Neuron(3, feature_names=["x2", "x0", "x1"], label="y")
    shuffled.weights, shuffled.bias = start.weights[[2, 0, 1]], start.bias
    a = sn.fit_gd((X, y), solver="gd", max_iter=3, tol=0.0, workers=0, init=start)
    b = sn.fit_gd((X, y), solver="gd", max_iter=3, tol=0.0, workers=0, init=shuffled)
    assert a.weights.tolist() == b.weights.tolist() and a.bias == b.bias


# -- --mode auto -------------------------------------------------------------------------
def test_mode_auto_picks_as_the_estimator_does(tmp_path, capsys, table):
    """auto on 4 features is newton (params.pick_solver, the estimator's rule): the same
    weights, bit for bit; --help says what auto picks."""
    runs = {}
    for mode in ("auto", "newton"):
        code, out, err = run(capsys, "train", table, "-o", tmp_path / f"{mode}.json", "--mode",
                             mode, "--json")
        assert code == 0, err
        runs[mode] = json.loads(out)
    assert runs["auto"]["mode"] == "newton" == params.pick_solver(4)
    assert runs["auto"]["weights"] == runs["newton"]["weights"]
    assert params.pick_solver(params.NEWTON_MAX_FEATURES + 1) == "lbfgs"
    text = " ".join(run(capsys, "train", "--help")[1].split())
    assert f"auto: newton up to {params.NEWTON_MAX_FEATURES} features, lbfgs above" in text
