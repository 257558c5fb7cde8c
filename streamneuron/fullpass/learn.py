"""The first pass of a full-pass run that learns columns before training: the
categorical columns' levels (:mod:`streamneuron.levels`) and, with ``--missing
impute``, each feature's fill value (:mod:`streamneuron.missing`), both in the
standardization pass (each task counts its own, merged in the reduction's fixed
order). The source is wrapped by them from here on (its partitions planned anew: a
task reopening a file gets the levels and the fills)."""

from __future__ import annotations

from dataclasses import replace

from ..params import AUTO, check_newton_size, newton_bytes, pick_solver
from ..stats import pending_fills
from .arrow import Arrow
from .partitions import pass_data, task_rows
from .sums import merge_moments, pass_moments


def learn_columns(run):
    """``run``'s (a :class:`~streamneuron.fullpass.engine._Run`) first pass: the
    standardization statistics, the levels and the fills. Returns ``(mean, scale)``."""
    from ..levels import LevelCounts
    from ..readers.encoded import encode_source
    from ..readers.imputed import Imputed

    p = run.params
    source = run.source
    counts = None
    if source.categorical and source.levels is None:
        counts = LevelCounts(list(source.categorical), p.max_levels)
    impute = pending_fills(source)
    with run._passes():
        result = run.executor.map_reduce(run.bag, pass_moments, run.read, run.features, False,
                                         counts, impute, aggregate=merge_moments)
    moments, counts = result if counts is not None else (result, None)
    run.passes += 1
    if impute:
        total = moments.total
        source = Imputed(source, moments.fills(source.feature_names, source.describe_input()),
                         seen=True)
        moments = moments.moments()
        run._check_weight(total)
    else:
        run._check_weight(moments.weight)
    run._settle_l2(moments.weight if source.weighted else run.n_rows)
    if counts is not None:
        # a reference level only where nothing is penalised (auto: the path penalises)
        unpenalised = run.selection is None and run.params.l2 == 0 and p.l1 == 0
        source = encode_source(source, counts, hash_bits=p.hash_bits, reference=unpenalised)
    run.source = source
    run.d = source.n_features
    run.features = tuple(source.feature_names)
    n_weights = run.d + (source.levels.n_weights if source.levels is not None else 0)
    # newton's Hessian: a column's levels diagonal (arrow.py), but dense with L1 and
    # along a penalty path
    dense = run.selection is not None or run.params.l1 > 0
    diagonal = 0 if dense else Arrow.of(run.d, source.levels).K
    if p.solver == AUTO:  # now that the weights are known
        picked = pick_solver(run.d, n_weights, diagonal)
        run.params = replace(run.make_params(picked, p.weight), l2=run.params.l2)
    check_newton_size(run.params.solver, n_weights, diagonal)
    rows = p.partition_rows
    if rows is None and run.params.solver == "newton":  # large curvature sums a task
        rows = task_rows(source, newton_bytes(n_weights, diagonal))
    run.data = pass_data(source, rows)
    return moments.mean, moments.scale()


__all__ = ["learn_columns"]
