"""The model: one sigmoid neuron ``p = sigmoid(x_std . w + b)`` and its JSON file.

``x_std = (x - mean) / scale`` when the model carries standardization
statistics, else ``x`` itself. Weights and bias are float64; input may be
float32 or float64 and is never copied to change its precision.
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

import numpy as np

from . import kernels
from .atomic import write_text
from .errors import ConfigError, DataError, ModelError
from .losses import get_loss
from .params import check_params
from .penalty import Penalty
from .training import NONFINITE, PassPolicy

MODEL_FORMAT = "streamneuron-model"
MODEL_VERSION = 1


def as_features(X, n_features: int) -> np.ndarray:
    """A 2-D float32/float64 array view of ``X`` (other dtypes become float64)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"X must be 2-D (rows, features), got shape {X.shape}")
    if X.shape[1] != n_features:
        raise DataError(f"X has {X.shape[1]} features but the model has {n_features}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def as_labels(y, n_rows: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != n_rows:
        raise DataError(f"y has {y.shape[0]} values but X has {n_rows} rows")
    bad = np.flatnonzero((y != 0.0) & (y != 1.0))
    if bad.size:
        raise DataError(f"y[{bad[0]}] is {y[bad[0]]!r}; labels must be 0 or 1")
    return y


def restandardized(weights: np.ndarray, bias: float, old: tuple[np.ndarray, np.ndarray],
                   new: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, float]:
    """The weights and bias over features standardized by ``new = (m', s')`` that give
    the same logit as ``(weights, bias)`` over features standardized by ``old = (m, s)``::

        w'_j = w_j s'_j / s_j,     b' = b + sum_j w_j (m'_j - m_j) / s_j

    since ``sum_j w'_j (x_j - m'_j) / s'_j + b' = sum_j w_j (x_j - m_j) / s_j + b``."""
    (m, s), (m_new, s_new) = old, new
    weights = np.asarray(weights, dtype=np.float64)
    return weights * (s_new / s), float(bias) + float(weights @ ((m_new - m) / s))
def as_sample_weight(sample_weight, n_rows: int) -> np.ndarray:
    """Row weights as float64 (n,), each finite and >= 0 (DataError naming the first bad one)."""
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n_rows,):
        raise DataError(f"sample_weight has shape {w.shape}; it must hold one weight per row "
                        f"({n_rows},)")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise DataError(f"sample_weight[{bad[0]}] is {float(w[bad[0]])!r}; weights must be "
                        "finite and >= 0")
    return w


class Neuron:
    """A single sigmoid neuron.

    Parameters
    ----------
    n_features : number of inputs ``d``.
    loss : ``"log"`` (default) or ``"mse"`` (the article's squared error).
    feature_names, label : recorded in the model file (default ``x0..``, ``"y"``).
    standardize : ``None`` or ``(mean, scale)`` arrays applied to raw features.
    levels : the categorical columns' levels (:class:`~streamneuron.levels.Levels`), or
        None: then ``weights`` holds the ``d`` number weights and, after them, one
        weight per level (:mod:`streamneuron.levels`), and rows carry level codes.
    missing : ``--missing``: a :class:`~streamneuron.missing.Fills` (impute: the features
        are the raw ones, then the indicators), ``"drop"``, or None (the model file's
        ``"missing"`` entry; ``predict``/``evaluate`` apply it).

    Weights and bias start at zero (``train --init zeros``).
    """

    def __init__(self, n_features: int, loss: str = "log", *,
                 feature_names: Sequence[str] | None = None, label: str | None = "y",
                 standardize: tuple[np.ndarray, np.ndarray] | None = None, levels=None,
                 missing=None, positive=None, negative=None):
        self.levels = levels if levels is not None and levels.columns else None
        self.missing = missing  # Fills (--missing impute), "drop", or None
        self.positive = positive  # --positive: the label value that counts as 1
        self.negative = negative  # and the other value (None: 0/1 labels, or unknown)
        if int(n_features) < (0 if self.levels is not None else 1):
            raise ConfigError.about("n_features", f"must be at least 1, got {n_features}")
        self.loss_fn = get_loss(loss)
        self._d = int(n_features)
        self.weights = np.zeros(self._d + (self.levels.n_weights if self.levels else 0),
                                dtype=np.float64)
        self.bias = 0.0
        self.feature_names = list(feature_names) if feature_names is not None else [
            f"x{j}" for j in range(self.n_features)]
        if len(self.feature_names) != self.n_features:
            raise ConfigError(f"{len(self.feature_names)} feature names for {n_features} features")
        self.label = label
        self.updates = 0  # mini-batch steps taken by partial_fit
        self.set_standardize(standardize)
        self.info: dict = {}  # training summary, saved in the model file

    # -- properties ------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """``d``: the number features (the columns of ``X``)."""
        return self._d

    @property
    def n_weights(self) -> int:
        """Every weight: the ``d`` number weights, then the level weights."""
        return self.weights.shape[0]

    @property
    def weight_names(self) -> list[str]:
        """Each weight's name: the features, then ``column=level``."""
        return list(self.feature_names) + (self.levels.labels() if self.levels else [])

    @property
    def loss_name(self) -> str:
        return self.loss_fn.name

    @property
    def center(self) -> np.ndarray:
        """What is subtracted from each raw feature, ``x_std = (x - center) * inv_scale``:
        ``mean``, or zeros when the model has no standardization statistics."""
        return self._center

    @property
    def inv_scale(self) -> np.ndarray:
        """What each centred feature is multiplied by: ``1 / scale``, or ones when the
        model has no standardization statistics."""
        return self._inv_scale

    # The weights a repr shows; the rest are counted ("... (+N)").
    REPR_WEIGHTS = 4

    def __repr__(self) -> str:
        """``Neuron(loss='log', n_features=16, standardized, weights=[0.1, -2, ... (+12)],
        bias=0.3)``: enough to tell two models apart at a glance (4 significant digits)."""
        shown = ", ".join(f"{w:.4g}" for w in self.weights[:self.REPR_WEIGHTS])
        rest = self.n_features - self.REPR_WEIGHTS
        more = f", ... (+{rest})" if rest > 0 else ""
        scaled = "standardized" if self.mean is not None else "not standardized"
        return (f"Neuron(loss={self.loss_name!r}, n_features={self.n_features}, {scaled}, "
                f"weights=[{shown}{more}], bias={self.bias:.4g})")

    def columns(self) -> dict:
        """The :func:`~streamneuron.open_source` arguments that read this model's columns:
        its ``features`` and, with categorical columns, those columns encoded by its
        levels (values, not dictionary indices: any file with the columns fits)."""
        out = {"features": list(self.feature_names)}
        if self.positive is not None:
            out["positive"] = self.positive
            if self.negative is not None:
                out["negative"] = self.negative
        if isinstance(self.missing, str):
            out["missing"] = self.missing
        elif self.missing is not None:  # the raw features, imputed by the training means
            out.update(features=list(self.missing.names), missing="impute", fills=self.missing)
        if self.levels is None:
            return out
        return {**out, "categorical": self.levels.names, "levels": self.levels}

    def set_standardize(self, standardize) -> None:
        """Set ``(mean, scale)`` or ``None``; the kernels get :attr:`center` and
        :attr:`inv_scale`."""
        if standardize is None:
            self.mean = self.scale = None
            self._center = np.zeros(self.n_features)
            self._inv_scale = np.ones(self.n_features)
        else:
            mean, scale = (np.asarray(a, dtype=np.float64) for a in standardize)
            if mean.shape != (self.n_features,) or scale.shape != (self.n_features,):
                raise ModelError("standardization statistics must have one value per feature")
            self.mean, self.scale = mean, scale
            self._center, self._inv_scale = mean, 1.0 / scale

    # -- prediction -----------------------------------------------------------
    def decision_function(self, X, codes: np.ndarray | None = None) -> np.ndarray:
        """The logit ``z = x_std . w + b`` of each row (plus its levels' weights: ``codes``,
        each row's level codes, :mod:`streamneuron.levels`). ``X`` a pandas DataFrame with
        the model's columns (or any frame, for a model with categorical columns or
        ``--missing``): its columns by name, read as ``predict`` reads a file
        (:meth:`_frame_logits`); else by position, as an array."""
        if hasattr(X, "columns") and hasattr(X, "dtypes") and codes is None and (
                self.levels is not None or self.missing is not None
                or set(self.feature_names) <= {str(c) for c in X.columns}):
            return self._frame_logits(X)
        X = as_features(X, self.n_features)
        z = np.empty(X.shape[0], dtype=np.float64)
        if (codes is None) != (self.levels is None):
            raise DataError("the model has categorical columns: give each row's level codes"
                            if self.levels is not None else "the model has no categorical "
                            "columns, but level codes were given")
        bad = kernels.logits_with_levels(X, codes, self.weights, self.bias, self.center,
                                         self.inv_scale, z)
        if bad >= 0:
            raise DataError(f"row {bad} of X gives a non-finite logit (NaN or infinity in X)")
        return z

    def _frame_logits(self, frame) -> np.ndarray:
        """The logits of a DataFrame's rows: its columns read by
        :func:`~streamneuron.open_source` with :meth:`columns` (the features by name, the
        categorical columns encoded by the model's levels, the gaps imputed by its fills);
        a row that ``--missing drop`` leaves out (a missing value) gets NaN, as ``predict``
        writes a null probability for it."""
        from .readers import open_source

        parts = []
        with open_source(frame, label=None, **self.columns()) as source:
            for i in range(len(source.units)):
                unit = source.read(i)
                z = np.empty(unit.n_rows, dtype=np.float64)
                bad = kernels.logits_with_levels(unit.X, unit.codes, self.weights, self.bias,
                                                 self.center, self.inv_scale, z)
                if bad >= 0:
                    raise DataError(f"{unit.where}, row {bad}: a non-finite logit (NaN or "
                                    "infinity in a feature)")
                if self.missing == "drop" and unit.w is not None:
                    z[unit.w == 0.0] = np.nan
                parts.append(z)
        return np.concatenate(parts) if parts else np.empty(0)

    def predict_proba(self, X) -> np.ndarray:
        """``p = sigmoid(z)`` of each row (1-D)."""
        from .losses import sigmoid

        with np.errstate(invalid="ignore"):  # (a NaN logit: a row --missing drop leaves out)
            return sigmoid(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """0/1 prediction: 1 where ``p >= 0.5`` (``z >= 0``)."""
        return (self.decision_function(X) >= 0.0).astype(np.int8)

    def loss(self, X, y) -> float:
        """Mean per-example loss on ``(X, y)`` (no L2 term)."""
        z = self.decision_function(X)
        return float(self.loss_fn.loss(z, as_labels(y, z.shape[0])).mean())

    def objective(self, X, y, l2: float = 0.0) -> float:
        """``J = mean L + (l2/2) ||w||**2``."""
        return Penalty(l2=l2).objective(self.loss(X, y), self.weights)

    # -- training ---------------------------------------------------------------
    def partial_fit(self, X, y, lr: float = 0.1, l2: float = 0.0, *, l1: float = 0.0,
                    sample_weight=None) -> "Neuron":
        """One step on this batch with the gradient averaged over its rows:
        ``w -= lr (mean dL/dz x + l2 w)``, ``b -= lr mean dL/dz``.

        ``sample_weight`` (n numbers, finite and >= 0): the weighted mean
        ``sum c_i g_i / sum c_i`` instead (weights summing to 0: no step). ``l1``: then
        ``w_j = sign(w_j) max(0, |w_j| - lr l1)`` (the L1 proximal step, which is the
        cumulative penalty of :mod:`streamneuron.training` for one step); never the bias.
        """
        if not lr > 0:
            raise ConfigError.about("lr", f"must be positive, got {lr}")
        check_params(l2=l2, l1=l1)
        X = as_features(X, self.n_features)
        y = as_labels(y, X.shape[0])
        weights = None if sample_weight is None else as_sample_weight(sample_weight, X.shape[0])
        if X.shape[0] == 0:
            return self
        # The whole batch is one step at a constant rate; the state trains a copy of
        # the weights, so that a bad batch leaves the model intact.
        policy = PassPolicy.of(self.loss_fn, X.shape[0], batch_size=X.shape[0], lr=lr,
                               schedule="constant", l2=l2, l1=l1)
        state = policy.state(self.weights, self.bias, self.updates)
        _, status = state.train_block(X, y, policy.rule, self.center, self.inv_scale,
                                      row_weights=weights)
        if status == NONFINITE:
            raise DataError("X holds NaN or infinity (or the step diverged); nothing was updated")
        self.weights, self.bias, self.updates = state.weights, float(state.bias), state.updates
        return self

    # -- file -----------------------------------------------------------------
    def to_dict(self) -> dict:
        """The model file's content; ``categorical`` (each column's levels, their weights
        and counts) only for a model with categorical columns."""
        d = self.n_features
        out = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "features": self.feature_names,
            "label": self.label,
            "loss": self.loss_name,
            "weights": self.weights[:d].tolist(),
            "bias": self.bias,
            "standardize": None if self.mean is None else {
                "mean": self.mean.tolist(), "scale": self.scale.tolist()},
            "training": self.info,
        }
        if self.levels is not None:
            out["categorical"] = self.levels.to_list(self.weights[d:])
        if self.positive is not None:
            out["labels"] = {"positive": self.positive}
            if self.negative is not None:
                out["labels"]["negative"] = self.negative
        if self.missing is not None:
            out["missing"] = {"strategy": self.missing} if isinstance(self.missing, str) \
                else self.missing.to_dict()
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as JSON, atomically (never a half-written file)."""
        if not np.all(np.isfinite(self.weights)) or not math.isfinite(self.bias):
            raise ModelError("the weights are not finite; refusing to save a broken model")
        write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict, *, where: str = "model") -> "Neuron":
        def fail(what: str):
            raise ModelError(f"{where}: {what}")

        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            fail(f"not a streamneuron model (no \"format\": \"{MODEL_FORMAT}\")")
        if data.get("version") != MODEL_VERSION:
            fail(f"model version {data.get('version')!r} is not supported (this is {MODEL_VERSION})")
        for key in ("features", "weights", "bias", "loss"):
            if key not in data:
                fail(f"missing key {key!r}")
        weights, features = data["weights"], data["features"]
        levels, level_weights = None, np.empty(0)
        if data.get("categorical"):
            from .levels import Levels

            try:
                levels, level_weights = Levels.from_list(data["categorical"])
            except (KeyError, TypeError, ValueError) as exc:
                fail(f"'categorical' is malformed ({exc})")
            if not np.isfinite(level_weights).all():
                fail("the level weights must be finite numbers")
        if not isinstance(weights, list) or not isinstance(features, list) or not (
                weights or levels is not None):
            fail("'weights' and 'features' must be non-empty lists")
        if len(weights) != len(features):
            fail(f"{len(weights)} weights for {len(features)} features")
        numbers = [*weights, data["bias"]]
        std = data.get("standardize")
        if std is not None:
            if not isinstance(std, dict) or not all(
                    isinstance(std.get(k), list) and len(std[k]) == len(features)
                    for k in ("mean", "scale")):
                fail("'standardize' must hold 'mean' and 'scale' lists, one value per feature")
            numbers += std["mean"] + std["scale"]
            if any(isinstance(s, (int, float)) and s <= 0 for s in std["scale"]):
                fail("'standardize.scale' values must be positive")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in numbers):
            fail("weights, bias and standardization must be finite numbers")
        try:
            model = cls(len(weights), data["loss"], feature_names=[str(f) for f in features],
                        label=data.get("label"), levels=levels,
                        standardize=None if std is None else (std["mean"], std["scale"]))
        except ConfigError as exc:
            fail(str(exc))
        model.weights = np.concatenate([np.asarray(weights, dtype=np.float64), level_weights])
        model.bias = float(data["bias"])
        model.info = data.get("training") or {}
        if isinstance(data.get("labels"), dict):
            model.positive = data["labels"].get("positive")
            # (files written before the negative value was stored have none)
            model.negative = data["labels"].get("negative") if model.positive is not None \
                else None
        if data.get("missing"):
            model.missing = _missing_entry(data["missing"], model.feature_names, fail)
        return model


def _missing_entry(entry, features: list[str], fail):
    """The model file's ``"missing"`` entry: ``"drop"``, or the fills of ``impute``."""
    from .missing import Fills

    try:
        if entry["strategy"] == "drop":
            return "drop"
        fills = Fills.from_dict(entry)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        fail(f"'missing' is malformed ({exc})")
    if fills.feature_names != features:
        fail("'missing' names other features than 'features'")
    return fills


def load_model(path: str | os.PathLike) -> Neuron:
    """Read and validate a model file (JSON; never unpickled)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not a model file (not JSON text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not a model file (invalid JSON: {exc.msg} at line {exc.lineno})") from None
    return Neuron.from_dict(data, where=path)
