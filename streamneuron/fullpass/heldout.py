"""Held-out rows in the full-pass modes: ``validation=DATA`` and ``validation_fraction``.

With a fixed penalty (:func:`fit_gd` with ``l2`` / ``l1`` numbers):

* ``validation_fraction=F``: the rows with ``u(seed, i) < F`` (the rows sgd holds out,
  :func:`streamneuron.stream.held_out`) are left out of every pass of the run, the
  standardization pass included: each task knows the global index of its partition's
  first row (:func:`partition_starts`) and its reader drops them (:class:`KeptRows`).
  The model is the optimum on the other rows.
* after the fit, :func:`held_out_metrics` scores the final model on the held-out rows
  and on every row of ``validation`` (log loss, accuracy, AUC:
  :func:`streamneuron.validation.validate`, one read of them in this process):
  ``info["held_out"]``.

With ``l2="auto"`` (or ``l1``) and ``validation=DATA`` the path is scored on that
data instead of folds (:class:`ValidationData`: one read of it per path pass, at the
weights of the model on every row).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..units import DecodedUnit

# Rows whose hash is computed at a time when counting the kept rows.
COUNT_CHUNK = 1 << 20


def partition_starts(data, source) -> list[int]:
    """The global index of each bag partition's first row (a partition per
    :class:`~streamneuron.fullpass.partitions.Partition` for files, per unit for
    decoded data)."""
    sizes = [p.n_rows for p in data.partitions] if not data.decoded else source.unit_sizes
    return np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64).tolist()


def starts_bag(data, source):
    """:func:`partition_starts` as a bag with one partition per start (to zip with the
    data's bag in ``map_partitions``)."""
    import dask.bag as db

    starts = partition_starts(data, source)
    return db.from_sequence(starts, npartitions=len(starts))


def _with_start(items: list, starts: list) -> list:
    return [("start", int(starts[0])), *items]


@dataclass(frozen=True)
class KeptRows:
    """A task's reader (``read(items)``) that leaves the held-out rows out: ``items``
    starts with ``("start", i)``, the global index of its first row (:meth:`wrap`)."""

    read: Callable[[list], Iterable[DecodedUnit]]
    fraction: float
    seed: int

    def __call__(self, items: list) -> Iterable[DecodedUnit]:
        from ..stream import held_out

        offset = int(items[0][1])
        for unit in self.read(items[1:]):
            n = unit.y.shape[0]
            keep = np.flatnonzero(~held_out(np.arange(offset, offset + n, dtype=np.int64),
                                            self.fraction, self.seed))
            offset += n
            if keep.size == n:
                yield unit
            elif keep.size:
                yield DecodedUnit(X=np.ascontiguousarray(unit.X[keep]), y=unit.y[keep],
                                  where=unit.where, w=None if unit.w is None else unit.w[keep],
                                  codes=None if unit.codes is None else unit.codes[keep],
                                  gaps=unit.gaps)  # (the unit's: still a valid hint)

    @staticmethod
    def wrap(bag, read, data, source, fraction: float, seed: int):
        """``(bag, read)`` of a run's passes without the held-out rows."""
        return (bag.map_partitions(_with_start, starts_bag(data, source)),
                KeptRows(read, fraction, seed))


def kept_rows(n_rows: int, fraction: float, seed: int) -> int:
    """How many of ``n_rows`` rows are not held out (what each pass must read)."""
    from ..stream import held_out

    kept = 0
    for start in range(0, n_rows, COUNT_CHUNK):
        rows = np.arange(start, min(n_rows, start + COUNT_CHUNK), dtype=np.int64)
        kept += int(np.count_nonzero(~held_out(rows, fraction, seed)))
    return kept


class ValidationData:
    """The validation source of a run, its passes on the run's executor: the log loss
    of a model on every row of it (for the path: :meth:`loss`)."""

    def __init__(self, source, executor, features):
        from .partitions import pass_data

        self.source, self.executor, self.features = source, executor, features
        self.data = pass_data(source)

    def loss(self, model, theta: np.ndarray, loss_id: int) -> tuple[float, float]:
        """One read of the validation data: ``(sum c L, sum c)`` at ``theta``."""
        import dask

        from .partitions import SPLIT_EVERY, already_decoded, read_units
        from .sums import Sums, pass_sums, sum_partials

        d = theta.shape[0] - 1
        params = np.concatenate([theta, model.center, model.inv_scale])
        read = already_decoded if self.data.decoded else read_units
        graph = self.data.bag().map_partitions(
            pass_sums, read, self.features, dask.delayed(params, traverse=False), loss_id,
            False).reduction(sum_partials, sum_partials, split_every=SPLIT_EVERY)
        sums = Sums(self.executor.compute(graph), d)
        return sums.loss_sum, sums.weight


def score_held_out(run, model) -> None:
    """``model.info["held_out"]`` (:func:`held_out_metrics`) when the run has validation
    data or left a fraction of its rows out (``run.held_out``: data, fraction, seed);
    the data opened like the run's source (its features, label, weight column, class
    weights and levels: :func:`streamneuron.validation.open_validation`)."""
    from ..validation import open_validation

    data, fraction, seed = run.held_out
    if data is None and not fraction > 0:
        return
    with contextlib.ExitStack() as stack:
        validation = open_validation(data, run.source, stack)
        model.info["held_out"] = held_out_metrics(model, run.source, validation=validation,
                                                  fraction=fraction, seed=seed)


def held_out_metrics(model, training, *, validation=None, fraction: float = 0.0,
                     seed: int = 0) -> dict:
    """The final model's metrics on the held-out rows of ``training`` (``fraction``) and
    on every row of ``validation`` (an open source): ``{"log_loss", "accuracy", "auc",
    "rows", "on"}``, ``on`` what was scored."""
    from ..validation import validate

    m = validate(model.weights, model.bias, model.center, model.inv_scale, model.loss_name,
                 files=validation, training=training if fraction > 0 else None,
                 fraction=fraction, seed=seed)
    on = [f"validation_fraction {fraction:g}"] if fraction > 0 else []
    on += ["validation data"] if validation is not None else []
    return {"log_loss": m["val_log_loss"], "accuracy": m["val_accuracy"], "auc": m["val_auc"],
            "loss": m["val_loss"], "rows": m["val_rows"], "on": " and ".join(on)}


__all__ = ["KeptRows", "ValidationData", "held_out_metrics", "kept_rows", "partition_starts",
           "starts_bag", "score_held_out"]
