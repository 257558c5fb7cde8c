"""Full-pass training: the article's gradient descent, Newton and L-BFGS, on Dask.

Every solver minimises the same objective (README, "The math")::

    J(w, b) = (1/W) sum_i s_i L(z_i, y_i) + (l2/2) ||w||**2 + l1 ||w||_1

with ``s_i`` the row weights (the weight column times the class weight of the
row's label; 1 unweighted, ``W = n``) and their total ``W = sum_i s_i``,
with the sums of every pass computed where the data is: each partition (a
Parquet row group or HDF5 chunk range, or a run of them up to
``partition_rows`` rows) is read and reduced by one task, and a Dask tree
reduction adds the partial sums in a fixed order. This module wires the pieces:

* :mod:`streamneuron.fullpass.partitions`: what a partition is and how a task reads one;
* :mod:`streamneuron.fullpass.sums`: the full-pass primitive (the sums of one pass,
  and the objective, gradient and Hessian they give);
* :mod:`streamneuron.fullpass.cluster`: where a pass runs (this process, a local
  cluster, a running scheduler);
* :mod:`streamneuron.fullpass.solvers`: gd, newton and lbfgs, side by side.

The first pass computes the standardization (mean and scale of each feature);
for ``newton`` it also sums the co-moments of features and label, which give
the gradient and Hessian at ``w = 0``, so the first Newton step costs no pass.
``info["passes"]`` counts every read of the data, that pass included.

Out of core by default: every pass re-reads its partitions, so a worker holds
about one decoded partition per thread. ``persist=True`` keeps the decoded
partitions in (cluster) memory instead, after a warning with their size.
In-memory and Dask data (arrays, DataFrames: ``reopen_args()`` None) go
through the same reduction, one task per unit; numpy and pandas data are
persisted once, Dask collections recomputed every pass unless ``persist``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Callable, Mapping

import numpy as np

from .cluster import PersistWarning, check_where, open_executor, warn_persist
from ..errors import ConfigError, DataError
from .arrow import Arrow
from .sums import (LEVEL_LANDING, Evaluation, Sums, curvature_every, level_keep, merge_moments,
                   pass_moments, pass_sums, rate_of, start_from_moments, sum_partials)
from ..losses import get_loss
from ..neuron import Neuron
from ..params import (AUTO, DEFAULT, NEWTON_MAX_FEATURES, check_auto_penalty, check_newton_size,
                      check_params, pick_solver)
from .partitions import (Partition, already_decoded, decode, pass_data,
                         plan_partitions, read_units)
from ..penalty import Penalty, default_l2
from .heldout import KeptRows, kept_rows, score_held_out
from .path import Selection, choose_penalty
from .solvers import SOLVERS, Options
from ..stats import model_columns, pending_fills
from ..stop import StopReason
from .learn import learn_columns
from .start import sample_start
from ..warmstart import initial_model
from ..weighting import check_class_weight, check_total, describe_weights

# max_iter when not given: lbfgs takes many cheap iterations (up to ~150 on the
# benchmark problems at l2 = 1e-4), newton few.
DEFAULT_MAX_ITER = {"gd": 100, "newton": 100, "lbfgs": 1000}
# gd's learning rate and every solver's tolerance when none is given.
GD_LR = 1.0
FULL_PASS_TOL = 1e-6


class ConvergenceWarning(UserWarning):
    """A full-pass solver stopped before its tolerance was met (the message says why)."""


@dataclass(frozen=True)
class GDParams:
    """Everything that shapes the arithmetic of a run (recorded in ``info["params"]``)."""

    # No defaults here: fit_gd sets every field (its defaults are the parameter table's).
    loss: str
    solver: str
    max_iter: int
    lr: float
    l2: float | None  # None until the run settles it (penalty.default_l2)
    tol: float
    standardize: bool
    persist: bool
    partition_rows: int | None
    max_levels: int  # categorical columns: the most levels a column may have
    hash_bits: int  # ... past it, hashed into 2**hash_bits weights (0: not hashed)
    l1: float
    weight: str | None  # the weight column (None: unweighted)
    class_weight: str | dict | None  # as given: None, "balanced" or {0: a, 1: b}
    curvature: str = "sampled"  # newton's steering Hessian: "exact" or "sampled"
    missing: str = "error"  # --missing (streamneuron.missing)


def fit_gd(source, max_iter: int | None = None, lr: float = GD_LR, *, loss: str = DEFAULT.loss,
           solver: str = "gd", l2: float | None = DEFAULT.l2, l1: float = DEFAULT.l1,
           tol: float = FULL_PASS_TOL, standardize: bool = DEFAULT.standardize,
           class_weight: str | dict | None = None,
           init: str | Neuron | None = DEFAULT.init,
           client=None, scheduler: str | None = None, workers: int | None = None,
           persist: bool = False, partition_rows: int | None = None, verbose: bool = False,
           progress: Callable[[dict], None] | None = None,
           on_cluster: Callable[[str], None] | None = None,
           label: str | None = "y", features=None, weight=None, cv: int | None = None,
           validation_fraction: float = DEFAULT.validation_fraction, seed: int = DEFAULT.seed,
           path_values=None, categorical=None, max_levels: int = DEFAULT.max_levels,
           hash_bits: int = DEFAULT.hash_bits, missing: str = DEFAULT.missing,
           positive=None, curvature: str = "sampled", validation=None) -> Neuron:
    """Train a neuron by full passes over the data, on Dask or in this process.

    ``max_iter``: the most iterations (default 100; 1000 for lbfgs).
    ``solver``: ``"gd"`` (default) the article's gradient descent, one step of
    ``lr`` along the averaged gradient per pass, exactly; ``"newton"`` damped
    Newton (Gauss-Newton for ``loss="mse"``), the optimum in about 5-12 passes;
    ``"lbfgs"`` L-BFGS (OWL-QN with ``l1``), one pass per evaluation; ``"auto"`` newton up
    to ``NEWTON_MAX_FEATURES`` features, lbfgs above. ``lr`` is used by gd only.

    ``l2``, ``l1``: the penalties ``(l2/2) ||w||**2 + l1 ||w||_1`` (elastic net
    with both; the bias is never penalised). ``l2=None``: ``1/W``, scikit-learn's
    ``C = 1`` (``W`` the rows, or the sum of their weights when weighted; known after
    the first pass, which then also runs with ``standardize=False`` for weighted gd and
    lbfgs); ``info["params"]["l2"]`` holds the number used. With ``l1 > 0``: newton takes
    proximal Newton steps, lbfgs is OWL-QN, gd a proximal gradient step (see
    :mod:`streamneuron.fullpass.solvers`); ``info["nonzero"]`` counts the non-zero weights.
    ``l2="auto"`` (or ``l1``): chosen on held-out rows along a path of penalties, by
    ``cv`` folds (default 5) or a ``validation_fraction``, their rows hashed with ``seed``,
    ``path_values`` the penalties or their number (:mod:`streamneuron.fullpass.path`), or
    on ``validation`` (data as ``source``, every row held out). With fixed penalties a
    ``validation_fraction`` of the rows is left out of training, and ``info["held_out"]``
    holds the final model's log loss, accuracy and AUC on them and on ``validation``
    (:mod:`streamneuron.fullpass.heldout`).

    Weights: the source's weight column (``open_source(..., weight=COL)``), times
    ``class_weight`` (None, ``"balanced"``: ``n / (2 n_class)`` from the label
    counts, or ``{0: a, 1: b}``); the objective is then the weighted mean loss and
    the standardization the weighted mean and std. Weights summing to 0 are a
    :class:`~streamneuron.DataError`.

    ``source``: a :class:`~streamneuron.readers.Source`, or what
    :func:`~streamneuron.open_source` takes (with ``label``/``features``): paths
    or URLs of Parquet/HDF5 files, whose partitions each worker reads itself; or
    a pandas/Dask DataFrame or ``(X, y)`` numpy/Dask arrays. ``weight``: passed to
    ``open_source`` (a weight column's name, or for arrays the weights themselves).

    Where it runs: ``client`` (a ``distributed.Client``); or ``scheduler`` (the
    address of a running scheduler, never closed here); or ``workers``: 0 for
    this process (Dask's threaded scheduler), N for a local cluster of N
    single-threaded worker processes, closed at the end. With none of them: the
    running default client if there is one, else this process for data up to
    ``streamneuron.fullpass.cluster.IN_PROCESS_BYTES`` decoded, else a local cluster of
    2 workers. ``on_cluster(link)`` gets the dashboard link of a cluster started
    here; ``verbose=True`` lets the cluster's own logs through.

    Stopping (:mod:`streamneuron.fullpass.solvers`): gd when the objective changes by at
    most ``tol`` (relative) and the gradient norm is at most ``sqrt(tol)``;
    newton when its predicted gap to the optimum is at most ``tol`` (relative) and
    its weights' error (a step, ``solvers.NewtonStop``) at most ``tol`` relative;
    lbfgs when its estimate of that gap is at most ``tol``; every solver after
    ``max_iter`` iterations. The default ``tol=1e-6`` puts newton and lbfgs within about
    1e-6 of the optimum objective, and newton's weights within about 1e-6 (relative)
    of the optimum's. A run that stops unconverged warns with :class:`ConvergenceWarning`.

    ``init``: where the weights start: ``"zeros"``, or a model (a file's path or a
    :class:`Neuron`) with the same features, re-expressed for this run's
    standardization (:mod:`streamneuron.warmstart`); newton then makes its first
    evaluation by a pass.

    ``persist=True`` keeps the decoded partitions in memory (warning with
    :class:`PersistWarning` and their estimated size first) instead of re-reading
    the files every pass.

    Returns the trained :class:`Neuron`; its ``info`` holds mode (the solver),
    iterations, passes (reads of the data, the standardization pass included),
    rows, converged, message, stop_reason (a :class:`~streamneuron.stop.StopReason`:
    converged, max iterations, unbounded, no descent, scipy), objective (with ``l1``,
    ``F``), grad_norm (with ``l1``, the pseudo-gradient's), where (in-process, local,
    scheduler or client), params, nonzero (the non-zero weights), with weights
    ``weight_total`` (``W``) and ``class_weights`` (``[a0, a1]``), and ``history``: one row
    per iteration with iteration, objective, grad_norm and seconds (newton adds decrement
    and step). ``progress(row)`` is called with each row. ``curvature``: newton's steering
    Hessian, ``"sampled"`` (a sample's on large data: :func:`~.sums.curvature_every`, with
    level codes :func:`~.sums.level_keep`) or ``"exact"``; the gradient decides the stop.
    """
    def make_params(name: str, weight_column: str | None = None) -> GDParams:
        return GDParams(loss=loss, solver=name, lr=lr, tol=tol,
                        l2=0.0 if l2 == "auto" else l2, l1=0.0 if l1 == "auto" else l1,
                        weight=weight_column, class_weight=class_weight,
                        max_iter=DEFAULT_MAX_ITER.get(name, 100) if max_iter is None else max_iter,
                        standardize=bool(standardize), persist=bool(persist),
                        partition_rows=partition_rows, max_levels=max_levels,
                        hash_bits=hash_bits, missing=missing, curvature=curvature)

    # Every value is checked once, here, before any work ("auto" is settled once the
    # features are known).
    check_params(loss=loss, max_iter=max_iter, lr=lr, l2=l2, l1=l1, tol=tol,
                 partition_rows=partition_rows, workers=workers, seed=seed,
                 validation_fraction=validation_fraction, max_levels=max_levels,
                 hash_bits=hash_bits)
    selection = Selection.of(l2=l2, l1=l1, cv=cv, validation_fraction=validation_fraction,
                             seed=seed, values=path_values, validation=validation is not None)
    if solver not in SOLVERS and solver != "auto":
        raise ConfigError(f"solver must be one of {', '.join(SOLVERS)} or 'auto', "
                          f"got {solver!r}", param="solver")
    start = initial_model(init)
    check_class_weight(class_weight)
    if isinstance(class_weight, Mapping):  # as recorded in info["params"]: plain JSON values
        class_weight = {int(k): float(v) for k, v in class_weight.items()}
    check_where(client=client, scheduler=scheduler, workers=workers)
    from ..readers import open_source, with_class_weights
    from ..readers.labels import settle_labels

    given = source
    source = open_source(source, label=label, features=features, categorical=categorical,
                         missing=missing, positive=positive,
                         **({} if weight is None else {"weight": weight}))  # a Source as it is
    opened = source is not given
    missing = source.missing  # (a Source given brings its own)
    try:
        if source.label is None:
            raise DataError("training needs a label column")
        settle_labels(source)  # (--positive: the other value, kept; one value only: refused)
        levels_known = not source.categorical or source.levels is not None
        if levels_known:  # (else once the levels are counted: fullpass/learn.py)
            dense = l1 not in (None, 0) or AUTO in (l2, l1) or cv is not None
            n_weights = source.n_features + (
                source.levels.n_weights if source.levels is not None else 0)
            diagonal = 0 if dense else Arrow.of(source.n_features, source.levels).K
            if solver == AUTO:
                solver = pick_solver(source.n_features, n_weights, diagonal)
            check_newton_size(solver, n_weights, diagonal)
        check_auto_penalty(solver, l2=l2, l1=l1, cv=cv,
                           validation_fraction=validation_fraction,
                           validation=validation is not None)
        params = make_params(solver, source.weight)
        # Class weights are applied where a unit is decoded: every row's w is its weight.
        source = with_class_weights(source, class_weight)
        data = pass_data(source, params.partition_rows)
        size = data.n_rows * source.n_features * source.dtype.itemsize
        executor = open_executor(client=client, scheduler=scheduler, workers=workers,
                                 data_bytes=size, verbose=verbose, on_cluster=on_cluster)
        try:
            run = _Run(executor, source, data, params, progress)
            run.start, run.selection, run.make_params = start, selection, make_params
            run.held_out = (validation, 0.0 if selection else validation_fraction, seed)
            return run.run()
        finally:
            executor.close()
    finally:
        if opened:
            source.close()


def fit_newton(source, **kwargs) -> Neuron:
    """:func:`fit_gd` with ``solver="newton"`` (the same keyword arguments)."""
    return fit_gd(source, solver="newton", **kwargs)


def fit_lbfgs(source, **kwargs) -> Neuron:
    """:func:`fit_gd` with ``solver="lbfgs"`` (the same keyword arguments)."""
    return fit_gd(source, solver="lbfgs", **kwargs)


def sums_at_model(model: Neuron, source, *, matrices: int, client=None,
                  scheduler: str | None = None, workers: int | None = None) -> Sums:
    """One pass over ``source`` (an open :class:`~streamneuron.readers.Source` with the
    model's features and a label) at the model's weights and standardization: its
    :class:`Sums` with ``matrices`` matrix sums (1: ``sum s h x~ x~^T``; 2: also
    ``sum s dz**2 x~ x~^T``), exact, in the reduction's fixed order. The row weights
    are the source's weight column times the model's class weights
    (``info["class_weights"]``). ``client``/``scheduler``/``workers`` as :func:`fit_gd`.
    """
    check_params(workers=workers)
    check_where(client=client, scheduler=scheduler, workers=workers)
    from ..readers import with_class_weights

    recorded = model.info.get("class_weights")
    if recorded is not None and source.class_weights is None:
        source = with_class_weights(source, {0: float(recorded[0]), 1: float(recorded[1])})
    params = GDParams(loss=model.loss_name, solver="newton", max_iter=1, lr=GD_LR, l2=0.0,
                      tol=FULL_PASS_TOL, standardize=model.mean is not None, persist=False,
                      partition_rows=None, l1=0.0, weight=source.weight, class_weight=None,
                      max_levels=DEFAULT.max_levels, hash_bits=DEFAULT.hash_bits,
                      curvature="exact")  # standard errors: the Hessian of every row
    data = pass_data(source)
    executor = open_executor(client=client, scheduler=scheduler, workers=workers,
                             data_bytes=data.n_rows * source.n_features * source.dtype.itemsize)
    try:
        run = _Run(executor, source, data, params, None)
        with run._passes():
            return run._sums(model, np.append(model.weights, model.bias), matrices)
    finally:
        executor.close()


class _Run:
    """One training run: the graphs of a pass, the pass counter, the solver."""

    def __init__(self, executor, source, data, params: GDParams, progress):
        self.executor, self.source, self.data = executor, source, data
        self.params, self.progress = params, progress
        self.features = tuple(source.feature_names)  # for messages about a bad value
        self.weight_total: float | None = None  # W, once a pass has summed it
        self.loss = get_loss(params.loss)
        self.d = source.n_features
        self.passes = 0
        self.start = None  # a warmstart.Start, or None: zeros
        self.selection: Selection | None = None  # l2 or l1 "auto"
        self.held_out = (None, 0.0, 0)  # validation data, fraction left out, seed
        self.n_rows = data.n_rows  # the rows a pass reads (not those left out)
        self.arrow = None  # newton's Hessian layout with categorical columns (arrow.py)

    def run(self) -> Neuron:
        model = self._run()
        score_held_out(self, model)  # info["held_out"], if asked
        return model

    def _run(self) -> Neuron:
        first = stats = None
        if self.held_out[1] > 0:  # rows left out of every pass
            self.n_rows = kept_rows(self.data.n_rows, self.held_out[1], self.held_out[2])
        if (self.source.categorical and self.source.levels is None) or \
                pending_fills(self.source):
            stats = learn_columns(self)  # the standardization pass learns levels, fills
        p = self.params
        model = Neuron(self.d, p.loss, feature_names=self.source.feature_names,
                       label=self.source.label, **model_columns(self.source))
        if stats is not None and p.standardize:
            model.set_standardize(stats)
        with self._passes():
            if not self.source.weighted:  # W is the row count, known up front
                self._settle_l2(self.n_rows)
            if stats is None:
                first = self._first_pass(model)  # (weighted: W, and l2, from this pass)
            if self.selection is not None:  # the penalty chosen on held-out rows
                if first is None:  # (categorical columns: no start from the co-moments)
                    first = self._evaluate(model, np.zeros(model.n_weights + 1), True)
                choose_penalty(self, model, first, self.selection)
                return model
            if self.start is not None:  # the first point is not w = 0: first is not at it
                self.start.apply(model)
                first = None
            self._solve(model, first)
        return model

    @contextmanager
    def _passes(self):
        """The bag of a run's passes (``self.bag``, ``self.sums_fn``, ...) inside the
        ``with`` statement: persisted or not, released after it."""
        p = self.params
        bag = self.data.bag()
        finished = False
        try:
            if p.persist or self.data.persist_anyway:
                if p.persist:
                    warn_persist(self.executor, self.data.n_rows, self.d,
                                 self.source.dtype.itemsize)
                bag = self.executor.persist(bag if self.data.decoded else bag.map_partitions(decode))
                decoded = True
            elif not self.data.decoded:
                # The descriptors stay on the cluster (tiny), so that a pass's graph is
                # only the partition tasks and the tree, not their sources again.
                bag = self.executor.persist(bag)
                decoded = False
            else:  # Dask collections, not persisted: recomputed from their graph each pass
                decoded = True
            # How a task gets its decoded units: read from its descriptors, or as kept.
            self.bag, self.read = bag, already_decoded if decoded else read_units
            if self.held_out[1] > 0:  # every pass without the held-out rows
                self.bag, self.read = KeptRows.wrap(bag, self.read, self.data, self.source,
                                                    *self.held_out[1:])
            yield
            finished = True
        finally:
            if finished:  # after a failed task, the cluster forgets it by itself
                self.executor.release(bag)
            self.bag = bag = None  # the last references: persisted data goes with them
            if not self.data.decoded:
                self.executor.run_everywhere(self.data.release)

    def _first_pass(self, model: Neuron) -> Evaluation | None:
        """The standardization pass; for newton also the evaluation at ``w = 0`` (co-moments)."""
        p = self.params
        needed = p.standardize or (p.l2 is None and self.source.weighted)  # (W: l2 = 1/W)
        # newton starts from the co-moments if the pass is read anyway (else a pass at 0: cheaper)
        with_labels = (p.solver == "newton" and needed) or self.selection is not None
        if not (needed or with_labels):
            return None
        moments = self.executor.map_reduce(self.bag, pass_moments, self.read, self.features,
                                           with_labels, aggregate=merge_moments)
        self.passes += 1
        self._check_weight(moments.weight)
        if self.source.weighted:
            self._settle_l2(moments.weight)
        if p.standardize:
            features = moments.feature_moments() if with_labels else moments
            model.set_standardize((features.mean, features.scale()))
        if not with_labels:
            return None
        self._check_rows(moments.n)
        self._check_weight(moments.weight)
        return start_from_moments(moments, model.center, model.inv_scale, self.loss,
                                  self.params.l2)

    def _evaluate(self, model: Neuron, theta: np.ndarray, curvature: bool,
                  every: int = 1) -> Evaluation:
        """One pass: the objective and derivatives at ``theta`` (``every``: :func:`pass_sums`)."""
        sums = self._sums(model, theta, curvature, every)
        p = theta.shape[0] - 1
        return sums.evaluate(theta[:p], float(theta[p]), self.params.l2)

    def _sums(self, model: Neuron, theta: np.ndarray, matrices: bool | int,
              every: int = 1) -> Sums:
        """One pass: the sums at ``theta`` with ``matrices`` matrix sums (:meth:`Sums.size`)."""
        d = theta.shape[0] - 1  # every weight
        w, b = theta[:d], float(theta[d])
        params = np.concatenate([w, [b], model.center, model.inv_scale])
        arrow = self.arrow if matrices else None  # newton's curvature: arrowhead form
        sums = Sums(self.executor.map_reduce(self.bag, pass_sums, self.read, self.features,
                                             params, self.loss.kernel_id, matrices, every,
                                             arrow, aggregate=sum_partials), d, arrow)
        self.passes += 1
        self._check_rows(sums.rows)
        self._check_weight(sums.weight)
        return sums

    def _solve(self, model: Neuron, first: Evaluation | None) -> None:
        p = self.params
        options = Options(max_iter=p.max_iter, tol=p.tol, lr=p.lr, penalty=Penalty(l2=p.l2, l1=p.l1))
        history: list[dict] = []

        def report(row: dict) -> None:
            row["passes"] = self.passes
            history.append(row)
            if self.progress is not None:
                self.progress(row)

        # categorical columns: newton sums and solves the arrowhead form (proximal
        # newton, with L1, the dense Hessian: its coordinate descent wants the matrix)
        self.arrow = Arrow.of(self.d, model.levels) \
            if p.solver == "newton" and p.l1 == 0 and model.levels is not None else None
        every = curvature_every(p.curvature, self.data.n_rows, model.n_weights if self.arrow is None
                                else self.d, levels=model.levels is not None and self.arrow is None)
        if self.arrow is not None:  # (its sample: LEVEL_ROWS rows a level, sums.level_keep)
            self.arrow = replace(self.arrow, keep=level_keep(model.levels, self.d, every, self.n_rows))
            options = replace(options, landing=LEVEL_LANDING)

        def evaluate(theta, curvature):  # the Hessian: a sample's (every > 1), "exact", "single"
            ev = self._evaluate(model, theta, bool(curvature), rate_of(curvature, every))
            return replace(ev, hessian_sampled=True) if rate_of(curvature, every) > 1 else ev

        theta0, first = sample_start(self, model, first, every, evaluate)  # (large files: start.py)
        solver = SOLVERS[p.solver]
        if p.solver == "newton":
            result = solver(evaluate, theta0, options, report, first=first)
        else:
            result = solver(evaluate, theta0, options, report)
        p_ = model.n_weights
        model.weights, model.bias = result.theta[:p_].copy(), float(result.theta[p_])
        model.updates = result.iterations
        model.info = {"mode": p.solver, "iterations": result.iterations, "passes": self.passes,
                      "rows": self.n_rows, "converged": result.converged,
                      "message": result.message, "stop_reason": result.stop.reason,
                      "objective": result.objective,
                      "grad_norm": result.grad_norm, "where": self.executor.kind,
                      "history": history, "params": asdict(p),
                      "partitions": len(self.data.partitions), "start_rows": self.start_rows,
                      "nonzero": int(np.count_nonzero(model.weights)), "hessian_every": every}
        if self.arrow is not None:
            model.info["hessian"] = self.arrow.describe()
        if self.source.class_weights is not None:
            model.info["class_weights"] = [float(a) for a in self.source.class_weights]
        if self.weight_total is not None and self.source.weighted:
            model.info["weight_total"] = self.weight_total
        if not result.converged and (p.tol > 0 or result.stop.reason is not StopReason.MAX_ITER):
            warnings.warn(f"{p.solver}: {result.message}", ConvergenceWarning, stacklevel=4)

    def _settle_l2(self, weight_total: float) -> None:
        """``l2`` when none was given: ``1/W`` (the number recorded in the params)."""
        if self.params.l2 is None:
            self.params = replace(self.params, l2=default_l2(weight_total))

    def _check_weight(self, total: float) -> None:
        """DataError when the row weights of the whole input sum to 0."""
        self.weight_total = float(total)
        if not total > 0:
            check_total(float(total), describe_weights(self.source))

    def _check_rows(self, n: float) -> None:
        if n != self.n_rows:
            raise DataError(f"the input changed while training: {int(n)} rows read, "
                            f"{self.n_rows} expected")


__all__ = ["fit_gd", "fit_newton", "fit_lbfgs", "sums_at_model", "GDParams", "Partition",
           "plan_partitions", "PersistWarning", "ConvergenceWarning", "NEWTON_MAX_FEATURES"]
