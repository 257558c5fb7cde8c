""":class:`streamneuron.NeuronClassifier`'s SGD on a pandas DataFrame with categorical
columns (``solver="sgd"``, ``partial_fit``): a weight per level, a row's gradient added
to its own levels' weights (:mod:`streamneuron.kernels.categorical_sgd`), the pass
policy of :func:`streamneuron.fit_sgd` (:meth:`~streamneuron.training.PassPolicy.train_array`).

* ``fit``: the levels are those of ``X`` (counted as ``streamneuron train`` counts them in
  its first pass: by count, then value; a null is a level), the number columns are
  standardized by their (weighted) mean and standard deviation, then ``epochs`` passes.
  The objective is the full-pass solvers' (``ColumnTransformer(StandardScaler,
  OneHotEncoder(handle_unknown="ignore"))`` then ``LogisticRegression(C = 1/(l2 n))``):
  SGD lands near its optimum. ``warm_start`` continues a model fitted so, with its
  levels and statistics.
* ``partial_fit``: the first call fixes the levels, as it fixes ``classes_``: a
  ``category`` column's categories, all of them (in the call's rows or not), and the
  values an object or string column holds in the call. Later a value outside them
  adds nothing to the logit and trains nothing (``OneHotEncoder(handle_unknown=
  "ignore")`` fitted on the first call). To fix a string column's levels in advance,
  give it as ``pd.Categorical(values, categories=every_level)``. The number columns are
  standardized by running statistics, as with arrays (the level weights are not
  standardized: re-expressing the model touches the number weights only).
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_feature_names, _check_n_features, check_consistent_length

from .errors import DataError
from .levels import MAX_LEVELS, LevelCounts
from .neuron import Neuron, restandardized
from .readers import open_source
from .readers.encoded import encode_source
from .sklearn_input import binary_classes, encode_labels, estimator_row_weights, seed_of
from .standardization import array_moments
from .stats import Moments, first_pass


def _unused(name: str, columns) -> str:
    while name in columns:
        name = "_" + name
    return name


def _frame(X, y01, weights, names):
    """``X`` with the labels (and the row weights) as columns: ``(frame, label, weight,
    numbers)``, the names of those columns and of the number features."""
    frame = X.rename(columns=str)
    label = _unused("__label__", frame.columns)
    weight = None if weights is None else _unused("__weight__", [*frame.columns, label])
    frame = frame.assign(**{label: y01, **({} if weight is None else {weight: weights})})
    numbers = [c for c in frame.columns if c not in (*names, label, weight)]
    return frame, label, weight, numbers


def _estimator_error(exc: DataError) -> ValueError:
    """A reader's DataError in the estimator's words (no flags)."""
    message = re.sub(r"raise --max-levels.*", "drop it from X, or name the columns to one-hot "
                     f"encode in categorical_features (at most {MAX_LEVELS} levels each)",
                     str(exc))
    return ValueError(re.sub(r"'_*__label__'", "y", message))


def _rows(source) -> tuple:
    """Every row of an (in-memory) encoded source: ``(X, y, w, codes)``."""
    units = [source.read(i) for i in range(len(source.units))]
    if not units:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    X = np.ascontiguousarray(np.concatenate([u.X for u in units]))
    y = np.concatenate([u.y for u in units]).astype(np.float64, copy=False)
    w = None if units[0].w is None else np.concatenate([u.w for u in units])
    return X, y, w, np.ascontiguousarray(np.concatenate([u.codes for u in units]))


def _labels(estimator, X, y, sample_weight, *, reset: bool, classes, fit: bool):
    """A call's input checks (the feature names kept, or set when ``reset``; ``classes``
    the classes to set, None: ``classes_``): ``(y01, weights)``."""
    _check_feature_names(estimator, X, reset=reset)
    _check_n_features(estimator, X, reset=reset)
    check_consistent_length(X, y)
    y = np.asarray(y)
    check_classification_targets(y)
    if classes is not None:
        estimator.classes_ = classes
    y01 = encode_labels(y, estimator.classes_)
    weights = estimator_row_weights(X, y01, sample_weight, estimator.class_weight,
                                    estimator.classes_, fit=fit)
    return y01, weights


def _start(estimator, source, stats) -> None:
    """A fresh model over ``source``'s number features and levels (zero weights)."""
    estimator._neuron = Neuron(source.n_features, estimator.loss,
                               feature_names=source.feature_names, label=None,
                               standardize=stats, levels=source.levels)
    estimator._passes, estimator._sgd, estimator._running = 0, None, None
    estimator.loss_curve_, estimator.n_iter_, estimator.converged_ = [], 0, False


def fit_levels_sgd(estimator, X, y, sample_weight, names: list[str]) -> None:
    """``fit`` with ``solver="sgd"`` on a DataFrame with the categorical columns ``names``
    (the module docstring)."""
    held = getattr(estimator, "_neuron", None)
    warm = (estimator.warm_start and hasattr(estimator, "classes_") and held is not None
            and held.levels is not None and held.levels.names == names)
    check_classification_targets(np.asarray(y))
    classes = binary_classes(np.asarray(y), "y")
    if warm and not np.array_equal(classes, estimator.classes_):
        raise ValueError(f"warm_start=True: the classes of y, {classes.tolist()!r}, differ "
                         f"from those of the fitted model, {estimator.classes_.tolist()!r}")
    y01, weights = _labels(estimator, X, y, sample_weight, reset=not warm, classes=classes,
                           fit=True)
    frame, label, weight, numbers = _frame(X, y01, weights, names)
    try:
        if warm:
            source = open_source(frame, label=label, weight=weight, features=numbers or None,
                                 categorical=names, levels=held.levels)
        else:
            source = open_source(frame, label=label, weight=weight, features=numbers or None,
                                 categorical=names)
            moments, source = first_pass(source, max_levels=MAX_LEVELS,
                                         reference=estimator.l2 == 0 and not estimator.l1)
        rows, y01, weights, codes = _rows(source)
    except DataError as exc:
        raise _estimator_error(exc) from None
    if not warm:
        stats = (moments.mean, moments.scale()) if estimator.standardize and numbers else None
        _start(estimator, source, stats)
    estimator.n_iter_ = estimator._train(rows, y01, seed_of(estimator.random_state),
                                         estimator.epochs, weights, codes=codes)


def partial_fit_levels(estimator, X, y, classes, sample_weight, names) -> None:
    """``partial_fit`` on a DataFrame with categorical columns (the module docstring):
    the first call fixes the levels, later calls are encoded by them."""
    import pandas as pd

    first = not hasattr(estimator, "classes_")
    held = None if first else estimator._neuron
    if first and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if not first and held.levels is None:
        raise ValueError("this NeuronClassifier was started without categorical columns; "
                         f"partial_fit continues it on X's number columns only "
                         "(categorical_features=None), or start a new one")
    if not first and (not isinstance(X, pd.DataFrame) or not names):
        raise ValueError("this NeuronClassifier was started on a DataFrame with categorical "
                         f"columns {held.levels.names}; give X as a DataFrame with the same "
                         "columns")
    wanted = None if classes is None else binary_classes(np.asarray(classes), "classes")
    if wanted is not None and not first and not np.array_equal(wanted, estimator.classes_):
        raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                         f"partial_fit, was: {estimator.classes_!r}")
    y01, weights = _labels(estimator, X, y, sample_weight, reset=first,
                           classes=wanted if first else None, fit=False)
    frame, label, weight, numbers = _frame(X, y01, weights, names)
    try:
        levels = held.levels if held is not None else _first_levels(estimator, frame, label,
                                                                    weight, numbers, names)
        source = open_source(frame, label=label, weight=weight, features=numbers or None,
                             categorical=names, levels=levels)
        rows, y01, weights, codes = _rows(source)
    except DataError as exc:
        raise _estimator_error(exc) from None
    if first:
        _start(estimator, source, None)
        if estimator.standardize and rows.shape[1]:
            estimator._running = Moments.empty(rows.shape[1])
    if estimator._running is not None:
        running = estimator._running.merge(array_moments(rows))
        _restandardize_numbers(estimator, (running.mean, running.scale()))
        estimator._running = running
    estimator.n_iter_ = estimator._train(rows, y01, seed_of(estimator.random_state), 1,
                                         weights, codes=codes)
    estimator.converged_ = False


def _first_levels(estimator, frame, label, weight, numbers, names):
    """The levels the first ``partial_fit`` call fixes: each column's values in the call,
    and a ``category`` column's other categories too (count 0: after the values seen)."""
    source = open_source(frame, label=label, weight=weight, features=numbers or None,
                         categorical=names)
    counts = LevelCounts(list(source.categorical), MAX_LEVELS)
    for i in range(len(source.units)):
        counts.add(source.read(i).extra)
    for name in counts.names:
        column = frame[name]
        if hasattr(column, "cat") and name not in counts.over:
            for value in column.cat.categories:
                counts.counts[name].setdefault(_plain(value), 0)
            if len(counts.counts[name]) > MAX_LEVELS:
                counts.over[name] = len(counts.counts[name])
    return encode_source(source, counts, reference=estimator.l2 == 0 and not estimator.l1).levels


def _plain(value):
    """A pandas category as the reader gives its values (numpy scalars as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _restandardize_numbers(estimator, new: tuple) -> None:
    """Streaming standardization of the number weights (the level weights are not
    standardized): the model, and the state continued from, re-expressed for ``new``
    without changing a logit (:func:`streamneuron.standardization.restandardize` on the
    first ``d`` weights)."""
    neuron, state = estimator._neuron, estimator._sgd
    d = neuron.n_features
    if neuron.mean is not None:
        old = (neuron.mean, neuron.scale)
        neuron.weights[:d], neuron.bias = restandardized(neuron.weights[:d], neuron.bias, old,
                                                         new)
        if state is not None:
            state.sync()
            state.weights[:d], state.bias = restandardized(state.weights[:d], state.bias, old,
                                                           new)
            if state.avg_count > 0:
                state.avg_w[:d], state.avg_b = restandardized(state.avg_w[:d], state.avg_b,
                                                              old, new)
            state.g2[:d] *= (old[1] / new[1]) ** 2
    neuron.set_standardize(new)
    estimator._publish()


__all__ = ["fit_levels_sgd", "partial_fit_levels"]
