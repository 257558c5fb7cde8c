"""Newton's arrowhead Hessian with categorical columns (streamneuron.fullpass.arrow): the
column of most levels kept as a diagonal, the Newton system solved by its Schur
complement. Against a plain numpy one-hot Hessian, and newton's optimum against
scikit-learn's pipeline ``ColumnTransformer(StandardScaler, OneHotEncoder(handle_unknown=
"ignore"))`` + ``LogisticRegression(C = 1/(l2 W), solver="newton-cholesky")``, with a
column of a few hundred levels, row weights and a Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import streamneuron as sn
import streamneuron.fullpass.arrow as arrow_module
from streamneuron.fullpass.arrow import Arrow
from streamneuron.fullpass.solvers import newton_step
from streamneuron.fullpass.sums import Sums, add_unit_sums
from streamneuron.units import DecodedUnit

NUM = ["x1", "x2"]
CAT = ["route", "carrier"]


def _one_hot_sums(X, codes, y, sw, w, b):
    """Gradient, Hessian and meat of the log loss over ``x~ = (x, onehot(codes), 1)``,
    by plain numpy."""
    n, d = X.shape
    p = w.shape[0]
    Xt = np.zeros((n, p + 1))
    Xt[:, :d], Xt[:, p] = X, 1.0
    for c in range(codes.shape[1]):
        rows = codes[:, c] >= 0
        Xt[np.flatnonzero(rows), codes[rows, c]] = 1.0
    prob = 1 / (1 + np.exp(-(Xt @ np.append(w, b))))
    return (Xt.T @ (sw * (prob - y)), (Xt * (sw * prob * (1 - prob))[:, None]).T @ Xt,
            (Xt * (sw * (prob - y) ** 2)[:, None]).T @ Xt)


def _rows(rng, n, d, sizes, no_weight):
    """``n`` random rows: ``d`` numbers, a level code of each column (the columns' weights
    after the numbers', in order; in the columns ``no_weight`` a tenth of the rows -1: no
    weight, a reference level or an unseen one), labels and row weights."""
    offsets = np.cumsum([0] + sizes)
    X = rng.standard_normal((n, d))
    codes = np.stack([d + offsets[c] + rng.integers(0, k, n) for c, k in enumerate(sizes)],
                     axis=1).astype(np.int32)
    for c in no_weight:
        codes[rng.random(n) < 0.1, c] = -1
    y = (rng.random(n) < 0.4).astype(float)
    return X, codes, y, 2 * rng.random(n)


@pytest.mark.parametrize("sparse", [True, False])
def test_arrowhead_parts_solve_and_inverse_diagonal_are_the_dense_ones(monkeypatch, sparse):
    monkeypatch.setattr(arrow_module, "SPARSE_SHARE", 1.0 if sparse else 0.0)
    rng = np.random.default_rng(0)
    n, d, sizes = 2000, 3, [4, 40, 7]
    offsets = np.cumsum([0] + sizes)
    X, codes, y, sw = _rows(rng, n, d, sizes, no_weight=(0, 1))
    p = d + offsets[-1]
    w, b = 0.3 * rng.standard_normal(p), 0.1
    grad, H, M = _one_hot_sums(X, codes, y, sw, w, b)
    params = np.concatenate([w, [b], np.zeros(d), np.ones(d)])
    unit = DecodedUnit(X=X, y=y, w=sw, where="t", codes=codes)
    arrows = [None] + [Arrow(p, d + int(offsets[c]), sizes[c]) for c in range(3)]
    assert Arrow.of(d, _levels(sizes)) == Arrow(p, d + 4, 40, "c1")
    for arrow in arrows:
        acc = np.zeros(Sums.size(p, 2, arrow))
        add_unit_sums(acc, unit, ["a", "b", "c"], params, 0, 1, arrow)
        sums = Sums(acc, p, arrow)
        np.testing.assert_allclose(acc[:p], grad[:p], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(sums.matrix(0), H, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(sums.matrix(1), M, rtol=1e-12, atol=1e-10)
        ev = sums.evaluate(w, b, 1e-3)
        dense = H / sw.sum() + np.diag(np.append(np.full(p, 1e-3), 0.0))
        step = -np.linalg.solve(dense, ev.gradient)
        np.testing.assert_allclose(newton_step(ev.hessian, ev.gradient), step, rtol=1e-9,
                                   atol=1e-12)
        if arrow is not None:
            np.testing.assert_allclose(ev.hessian.dense(), dense, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(ev.hessian.inverse_diagonal(),
                                       np.diag(np.linalg.inv(dense)), rtol=1e-9)


def test_a_task_of_several_units_and_a_pass_of_several_tasks_are_the_numpy_sums():
    """A task adds its units' level rows once, after its last unit (``LevelSums``): the
    sums of a task, and of a pass of several tasks on two threads, are the one-hot sums of
    every row (numpy), and a second pass gives the same bits."""
    import dask.bag as db

    from streamneuron.fullpass.cluster import InProcess
    from streamneuron.fullpass.partitions import already_decoded
    from streamneuron.fullpass.sums import pass_sums, sum_partials

    rng = np.random.default_rng(1)
    n, d, sizes = 1500, 3, [4, 40, 7]
    offsets = np.cumsum([0] + sizes)
    X, codes, y, sw = _rows(rng, n, d, sizes, no_weight=(2,))
    p = d + offsets[-1]
    w, b = 0.3 * rng.standard_normal(p), -0.2
    grad, H, _ = _one_hot_sums(X, codes, y, sw, w, b)
    params = np.concatenate([w, [b], np.zeros(d), np.ones(d)])
    arrow = Arrow.of(d, _levels(sizes))
    units = [DecodedUnit(X=X[a:a + 100], y=y[a:a + 100], w=sw[a:a + 100], where="t",
                         codes=codes[a:a + 100]) for a in range(0, n, 100)]
    names = ["a", "b", "c"]
    one = pass_sums(units, already_decoded, names, params, 0, 1, 1, arrow)[0]
    executor = InProcess(2)
    bag = executor.persist(db.from_sequence(units, npartitions=5))  # 3 units a task
    totals = [executor.map_reduce(bag, lambda part, *a: pass_sums(part, already_decoded, *a),
                                  names, params, 0, 1, 1, arrow, aggregate=sum_partials)
              for _ in range(2)]
    for acc in (one, *totals):
        np.testing.assert_allclose(acc[:p], grad[:p], rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(Sums(acc, p, arrow).matrix(0), H, rtol=1e-12, atol=1e-10)
    assert totals[0].tobytes() == totals[1].tobytes()


def _levels(sizes):
    from streamneuron.levels import Column, Levels

    return Levels(tuple(Column(f"c{k}", tuple(range(s)), tuple([1] * s))
                        for k, s in enumerate(sizes)))


def make_frame(n: int, seed: int, routes: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, routes + 1) ** 1.1
    route = rng.choice([f"r{k}" for k in range(routes)], n, p=zipf / zipf.sum())
    carrier = rng.choice(["AA", "UA", "DL", None], n, p=[.4, .3, .2, .1])
    x1, x2 = rng.normal(size=n), rng.normal(3.0, 2.0, size=n)
    effect = {f"r{k}": 0.1 * ((k * 7) % 11 - 5) for k in range(routes)}
    z = 0.7 * x1 - 0.25 * x2 + np.array([effect[r] for r in route]) + (carrier == "UA")
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)
    return pd.DataFrame({"x1": x1, "route": route, "x2": x2, "carrier": carrier, "y": y,
                         "w": rng.choice([0.5, 1.0, 3.0], n)})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    frame = make_frame(5000, 0)
    path = tmp_path_factory.mktemp("arrow") / "routes.parquet"
    frame.to_parquet(path, row_group_size=1250)
    return frame, path


def _reference_logits(frame, l2, sample_weight=None):
    """scikit-learn's pipeline; weighted, the numbers standardized by their weighted mean
    and standard deviation (numpy) as ours are, then passed through."""
    X = frame[NUM + CAT].copy()
    for c in CAT:
        X[c] = X[c].astype(object).where(X[c].notna(), "__null__").astype(str)
    scaler = StandardScaler()
    if sample_weight is not None:
        for c in NUM:
            mean = np.average(X[c], weights=sample_weight)
            X[c] = (X[c] - mean) / np.sqrt(np.average((X[c] - mean) ** 2, weights=sample_weight))
        scaler = "passthrough"
    ct = ColumnTransformer([("num", scaler, NUM),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), CAT)])
    W = len(frame) if sample_weight is None else float(np.sum(sample_weight))
    pipe = make_pipeline(ct, LogisticRegression(C=1.0 / (l2 * W), solver="newton-cholesky",
                                                tol=1e-12, max_iter=500))
    pipe.fit(X, frame["y"], logisticregression__sample_weight=sample_weight)
    return pipe.decision_function(X)


def _logits(model, path):
    src = sn.open_source(path, label=None, **model.columns())
    units = [src.read(i) for i in range(len(src.units))]
    return model.decision_function(np.concatenate([u.X for u in units]),
                                   np.concatenate([u.codes for u in units]))


@pytest.mark.parametrize("weighted", [False, True])
def test_newton_through_the_arrowhead_is_sklearns_optimum(table, weighted):
    frame, path = table
    kwargs = dict(weight="w") if weighted else {}
    model = sn.fit_gd(path, label="y", solver="newton", features=NUM + CAT, tol=1e-10,
                      **kwargs)
    layout = model.info["hessian"]
    assert layout["layout"] == "arrowhead" and layout["diagonal"] == "route"
    assert layout["diagonal_weights"] == frame["route"].nunique() > 250
    assert model.info["converged"]
    # (at tol 1e-10 the last step meets the objective's rounding: taken when the gradient
    # falls, not halved pass after pass)
    assert model.info["passes"] <= 12
    W = frame["w"].sum() if weighted else len(frame)
    expected = _reference_logits(frame, 1.0 / W, frame["w"].to_numpy() if weighted else None)
    assert np.max(np.abs(_logits(model, path) - expected)) < 1e-6


def test_arrowhead_newton_on_a_dask_cluster_gives_the_same_bits(table, dask_client):
    """On the session's cluster of two worker processes (conftest.dask_client)."""
    frame, path = table
    kwargs = dict(label="y", solver="newton", features=NUM + CAT, partition_rows=2500)
    here = sn.fit_gd(path, **kwargs, workers=0)
    there = sn.fit_gd(path, **kwargs, client=dask_client)
    assert there.info["hessian"]["layout"] == "arrowhead"
    np.testing.assert_array_equal(here.weights, there.weights)
    assert np.max(np.abs(_logits(there, path) - _reference_logits(frame, 1.0 / len(frame)))) \
        < 1e-6


def test_schur_complement_on_the_nonzeros_is_numpys_and_independent_of_the_address():
    """``kernels.schur_complement``: ``A - B^T diag(inv) B`` from ``csr_of(B, scale)``,
    rows of every density (the sparse loop and the dense rows), a level of ``inv = 0``;
    the same bits for a copy of ``B`` at another address."""
    from streamneuron import kernels

    rng = np.random.default_rng(1)
    K, r1, scale = 60, 23, 7.0
    share = np.repeat([0.02, 0.2, 0.45, 0.9, 1.0], K // 5)[:, None]
    B = np.where(rng.random((K, r1)) < share, rng.standard_normal((K, r1)), 0.0)
    M = rng.standard_normal((r1, r1))
    A = M @ M.T
    inv = rng.random(K)
    inv[3] = 0.0
    indptr, indices, data = kernels.csr_of(B, scale)
    S = kernels.schur_complement(A, indptr, indices, data, inv)
    Bs = B / scale
    np.testing.assert_allclose(S, A - Bs.T @ (inv[:, None] * Bs), rtol=1e-12, atol=1e-12)
    assert np.array_equal(S, S.T)
    shifted = np.empty(B.size + 1)[1:].reshape(B.shape)  # another alignment
    shifted[:] = B
    again = kernels.schur_complement(A, *kernels.csr_of(shifted, scale), inv)
    assert np.array_equal(S, again)


def test_large_curvature_sums_group_units_into_fewer_tasks_at_the_same_optimum(
        table, tmp_path, monkeypatch):
    """Above TASK_SUMS_BYTES of sums a task, newton's tasks read several units (at most
    a quarter of the rows each): twenty 250-row groups become tasks of two or more, and
    the optimum is still scikit-learn's."""
    from streamneuron.fullpass import learn, partitions

    frame, _ = table
    path = tmp_path / "small_groups.parquet"
    frame.to_parquet(path, row_group_size=250)
    monkeypatch.setattr(partitions, "TASK_SUMS_BYTES", 0)
    planned = []
    real = learn.pass_data

    def recording(source, rows):
        data = real(source, rows)
        planned.append((rows, [len(p.units) for p in data.partitions],
                        [sum(n for _, n in p.units) for p in data.partitions]))
        return data

    monkeypatch.setattr(learn, "pass_data", recording)
    model = sn.fit_gd(path, label="y", solver="newton", features=NUM + CAT, tol=1e-10)
    [(rows, units, sizes)] = planned
    assert rows <= len(frame) // 4 and min(units) >= 2 and max(sizes) <= rows
    assert sum(sizes) == len(frame)
    expected = _reference_logits(frame, 1.0 / len(frame))
    assert np.max(np.abs(_logits(model, path) - expected)) < 1e-6
