"""What :class:`streamneuron.NeuronClassifier` does with data beyond a dense array of
numbers, and what it derives from its logits.

* **Categorical columns** of a pandas DataFrame (``categorical_features``:
  ``"from_dtype"``, the string, object and ``category`` columns, as scikit-learn's
  ``HistGradientBoostingClassifier``; or a list of column names; None: none). ``fit``
  trains on the frame as :func:`streamneuron.fit_gd` does (levels counted, one weight
  per level, :mod:`streamneuron.levels`): the objective is scikit-learn's
  ``ColumnTransformer(StandardScaler, OneHotEncoder(handle_unknown="ignore"))`` then
  ``LogisticRegression(C = 1 / (l2 n))``. Predicting encodes the rows by the levels
  learned in ``fit``: an unseen level adds nothing.
* **scipy sparse** input (``OneHotEncoder``'s output) is densified, up to
  :data:`MAX_DENSE_VALUES` values; more is refused with how to stream it instead.
"""

from __future__ import annotations

import re

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (_check_feature_names, _check_n_features,
                                      check_consistent_length, validate_data)

from .errors import DataError
from .fullpass.engine import fit_gd
from .levels import MAX_LEVELS
from .losses import sigmoid
from .readers import is_category_dtype, open_source
from .sklearn_input import binary_classes, encode_labels, estimator_row_weights

# Sparse input is densified up to this many values (2**27 float64: 1 GiB).
MAX_DENSE_VALUES = 2 ** 27


class LogitOutputs:
    """What a binary estimator derives from its ``decision_function`` (the logit ``z``
    of each row) and ``classes_``: probabilities, log-probabilities, predictions, and
    its tags (two classes; sparse input when ``_sparse_input``). Shared by
    :class:`~streamneuron.NeuronClassifier` and
    :class:`~streamneuron.sklearn_cv.NeuronClassifierCV`."""

    _sparse_input = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = self._sparse_input
        tags.input_tags.allow_nan = _missing_of(self) != "error"
        return tags

    def predict_proba(self, X):
        """``[[P(classes_[0]), P(classes_[1])], ...]``, shape (n_samples, 2)."""
        z = self.decision_function(X)
        return np.column_stack([sigmoid(-z), sigmoid(z)])

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logit without overflow."""
        z = self.decision_function(X)
        return np.column_stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)])

    def predict(self, X):
        """``classes_[1]`` where the logit is > 0, else ``classes_[0]``."""
        z = self.decision_function(X)
        return self.classes_[(z > 0.0).astype(np.intp)]


# -- sparse input -------------------------------------------------------------------

def dense_data(estimator, X, y="no_validation", **kwargs):
    """scikit-learn's ``validate_data`` accepting scipy sparse ``X``, densified
    (:func:`densify`); returns what it returns (``X``, or ``(X, y)``)."""
    if _missing_of(estimator) != "error":  # NaN: a missing value
        kwargs["ensure_all_finite"] = "allow-nan"
    out = validate_data(estimator, X, y, accept_sparse=True, **kwargs)
    if isinstance(out, tuple):
        return densify(out[0]), out[1]
    return densify(out)


def densify(X):
    """A scipy sparse matrix as a C-ordered dense array (other input as it is);
    ValueError past :data:`MAX_DENSE_VALUES` values. Why densify: the estimator's
    kernels read dense rows, and one-hot blocks that fit in memory densified are
    the common case; larger data belongs to the streaming path."""
    import scipy.sparse as sp

    if not sp.issparse(X):
        return X
    n, d = X.shape
    if n * d > MAX_DENSE_VALUES:
        raise ValueError(
            f"sparse X of shape ({n}, {d}) would be {n * d} values densified, more than "
            f"NeuronClassifier's limit of 2**27 ({MAX_DENSE_VALUES}, 1 GiB of float64); give "
            "the columns before one-hot encoding instead: a pandas DataFrame with category "
            "columns (categorical_features='from_dtype'), or a Parquet file to "
            "streamneuron.fit_gd / fit_sgd, which stream the rows and encode the levels")
    return np.ascontiguousarray(X.toarray())


# -- missing values -----------------------------------------------------------------

def _missing_of(estimator) -> str:
    """The estimator's ``missing`` parameter (``NeuronClassifierCV`` has none: "error")."""
    return vars(estimator).get("missing", "error")


def fit_missing(estimator, X, y01, weights):
    """``missing="impute"``: ``X`` imputed by its columns' (weighted) observed means, with
    an indicator column per column with a NaN (``missing_fills_``, the model's
    :class:`~streamneuron.missing.Fills`); ``"drop"``: the rows with a NaN left out (a
    full pass's weight 0); ``"error"``: as it is. Returns ``(X, y01, weights)``."""
    from .missing import Fills, impute
    from .stats import Observed

    estimator.missing_fills_ = None
    if _missing_of(estimator) == "error":
        return X, y01, weights
    if estimator.missing == "drop":
        kept = ~np.isnan(X).any(axis=1)
        if not kept.any():
            raise ValueError("missing='drop': every row of X has a NaN")
        return (np.ascontiguousarray(X[kept]), y01[kept],
                None if weights is None else weights[kept])
    names = [f"x{j}" for j in range(X.shape[1])]
    observed = Observed.of(X, weights)
    if (observed.missing.astype(bool) & ~(observed.weight > 0)).any():
        raise ValueError("missing='impute': a column of X has no value (only NaN)")
    fills = observed.fills(names)
    estimator.missing_fills_ = Fills(fills.names, fills.values, fills.indicators, fills.counts)
    return missing_X(estimator, X), y01, weights


def missing_X(estimator, X):
    """``X`` as the fitted model reads it: imputed by ``missing_fills_`` (C order), or,
    with ``missing="drop"``, a NaN set to the value that adds nothing to the logit."""
    from .missing import impute

    fills = getattr(estimator, "missing_fills_", None)
    if fills is not None:
        out = np.empty((X.shape[0], X.shape[1] + len(fills.indicators)), dtype=X.dtype)
        return impute(X, fills, out=out)
    if _missing_of(estimator) == "drop" and np.isnan(X).any():
        # a row with a NaN still gets a prediction: the value adds nothing to its logit
        # (the training mean when standardized, else 0)
        return np.where(np.isnan(X), estimator._neuron.center, X).astype(X.dtype, order="C")
    return X


def neuron_columns(estimator, names) -> tuple:
    """``(n_features, loss, feature_names, missing)`` of the estimator's :class:`Neuron`
    (``names``: ``feature_names_in_`` or None: ``x0, x1, ...``), its fills named so."""
    from dataclasses import replace

    raw = [str(c) for c in names] if names is not None else [
        f"x{j}" for j in range(estimator.n_features_in_)]
    fills = getattr(estimator, "missing_fills_", None)
    if fills is None:
        return estimator.n_features_in_, estimator.loss, raw, \
            "drop" if _missing_of(estimator) == "drop" else None
    rename = dict(zip(fills.names, raw))
    fills = replace(fills, names=tuple(raw),
                    indicators=tuple(rename[n] for n in fills.indicators))
    return len(fills.feature_names), estimator.loss, fills.feature_names, fills


# -- categorical columns ------------------------------------------------------------

def categorical_columns(X, categorical_features) -> list[str] | None:
    """The categorical columns of ``X`` (see the module docstring), or None when ``X``
    is no pandas DataFrame or has none."""
    import pandas as pd

    if categorical_features is None or not isinstance(X, pd.DataFrame):
        return None
    if isinstance(categorical_features, str):  # "from_dtype"
        names = [str(c) for c, t in X.dtypes.items() if is_category_dtype(t)]
    else:
        columns = [str(c) for c in X.columns]
        names = [str(c) for c in categorical_features]
        missing = [c for c in names if c not in columns]
        if missing:
            raise ValueError(f"categorical_features names no column {missing[0]!r}; X's "
                             f"columns are {columns}")
    return names or None


def _unused(name: str, columns) -> str:
    while name in columns:
        name = "_" + name
    return name


def fit_categorical(estimator, X, y, sample_weight, names: list[str], tol: float) -> None:
    """``estimator.fit`` on a DataFrame with the categorical columns ``names``: the
    optimum by :func:`streamneuron.fit_gd` on the frame (in this process), the fitted
    attributes set from the :class:`~streamneuron.Neuron` it returns (``coef_``: the
    number features' raw weights, then each level's weight, in ``levels_`` order)."""
    _check_feature_names(estimator, X, reset=True)
    _check_n_features(estimator, X, reset=True)
    check_consistent_length(X, y)
    y = np.asarray(y)
    check_classification_targets(y)
    classes = binary_classes(y, "y")
    y01 = encode_labels(y, classes)
    weights = estimator_row_weights(X, y01, sample_weight, estimator.class_weight,
                                    classes, fit=True)
    frame = X.rename(columns=str)
    label = _unused("__label__", frame.columns)
    weight = None if weights is None else _unused("__weight__", [*frame.columns, label])
    frame = frame.assign(**{label: y01, **({} if weight is None else {weight: weights})})
    features = [c for c in frame.columns if c not in (*names, label, weight)]
    try:
        fitted = fit_gd(frame, label=label, weight=weight, features=features or None,
                        categorical=names, solver=estimator.solver, loss=estimator.loss,
                        l2=estimator.l2, l1=estimator.l1, tol=tol,
                        standardize=estimator.standardize, missing=_missing_of(estimator),
                        workers=0)
    except DataError as exc:  # in the estimator's words: no label column, no flags
        message = re.sub(r"raise --max-levels.*", "drop it from X, or name the columns to "
                         f"one-hot encode in categorical_features (at most {MAX_LEVELS} levels "
                         "each)", str(exc).replace(repr(label), "y"))
        raise ValueError(message) from None
    estimator.classes_ = classes
    estimator._neuron, estimator._passes, estimator._sgd, estimator._running = \
        fitted, 0, None, None
    info = fitted.info
    estimator.l2_ = float(info["params"]["l2"])
    estimator.n_iter_ = int(info["iterations"])
    estimator.converged_ = bool(info["converged"])
    estimator.loss_curve_ = [float(row["objective"]) for row in info["history"]]
    estimator.levels_ = fitted.levels
    # (impute: the fills and indicators the model applies; ``coef_`` has the indicators'
    # weights after the number features', as with a numbers-only X)
    estimator.missing_fills_ = None if fitted.missing is None or isinstance(
        fitted.missing, str) else fitted.missing
    d = fitted.n_features
    coef = fitted.weights[:d] * fitted.inv_scale
    estimator.mean_, estimator.scale_ = fitted.mean, fitted.scale
    estimator.t_ = int(fitted.updates)
    estimator.coef_ = np.concatenate([coef, fitted.weights[d:]]).reshape(1, -1)
    estimator.intercept_ = np.array([float(fitted.bias) - float(coef @ fitted.center)])


def categorical_logits(estimator, X) -> np.ndarray:
    """The logit of each row of the DataFrame ``X``, its categorical columns encoded by
    the levels learned in ``fit`` (an unseen level adds nothing)."""
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise ValueError("this NeuronClassifier was fitted on a DataFrame with categorical "
                         f"columns {estimator.levels_.names}; give X as a DataFrame with "
                         "the same columns")
    _check_feature_names(estimator, X, reset=False)
    _check_n_features(estimator, X, reset=False)
    neuron = estimator._neuron
    try:
        source = open_source(X.rename(columns=str), label=None, **neuron.columns())
        units = [source.read(i) for i in range(len(source.units))]
    except DataError as exc:
        raise ValueError(str(exc)) from None
    if not units:
        raise ValueError("Found array with 0 sample(s) (shape=(0, "
                         f"{X.shape[1]})) while a minimum of 1 is required.")
    rows = np.concatenate([u.X for u in units]).astype(np.float64, copy=False)
    codes = np.concatenate([u.codes for u in units])
    if _missing_of(estimator) == "drop":  # as missing_X: a gap adds nothing to the logit
        # (the reader gave the rows it drops 0 at their gaps; the frame says where they are)
        gaps = X.rename(columns=str)[list(neuron.feature_names)].isna().to_numpy()
        rows = np.where(gaps, neuron.center, rows)
    return neuron.decision_function(np.ascontiguousarray(rows), codes)


__all__ = ["fit_missing", "missing_X", "neuron_columns", "LogitOutputs", "MAX_DENSE_VALUES", "categorical_columns", "categorical_logits",
           "dense_data", "densify", "fit_categorical"]
