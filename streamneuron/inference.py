"""Inference for a fitted neuron: standard errors, z, p-values and intervals (``summary``).

One pass over the data at the model's weights (:func:`streamneuron.fullpass.sums_at_model`)
gives, with ``x~ = (standardized x, 1)``, ``c`` the row weights and ``W = sum c``::

    H = sum_i c_i p_i (1 - p_i) x~_i x~_i^T       the log-likelihood's Hessian (observed
                                                   information), exact
    M = sum_i c_i (p_i - y_i)**2 x~_i x~_i^T       the per-row scores' outer products (--robust)

and the covariance of ``theta = (w, b)`` on the model's (standardized) scale is

    l2 = 0:    H^-1                   (model-based)      H^-1 M H^-1  (--robust, HC0)
    l2 > 0:    A^-1 H A^-1            (penalized sandwich) A^-1 M A^-1 (--robust)

with ``A = H + W l2 diag(1, .., 1, 0)`` the penalized objective's Hessian (times
``W``). A row weight ``c`` multiplies once, never squared: weights are frequency
weights, an integer ``c`` is ``c`` repeated rows (statsmodels' ``freq_weights``).

The original scale is a linear map of ``theta``: ``beta_j = w_j / s_j``,
``beta_0 = b - sum_j w_j m_j / s_j`` (``m``, ``s`` the standardization), so with its
matrix ``T`` the coefficients are ``T theta`` and their covariance ``T C T^T``, exactly.
Then ``z = beta / se``, the two-sided ``p = 2 (1 - Phi(|z|))`` and the 95% interval
``beta -+ Phi^-1(0.975) se`` (the normal approximation, as statsmodels' ``Logit``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError, DataError, ModelError

INTERCEPT = "(intercept)"
# The (d+1) x (d+1) sums are computed by every task and the Hessian solved here:
# the pass costs ~0.06 d**2 ns a row (0.25 ms at 2048) and each partial sum holds
# (d+1)**2 floats (32 MiB at 2048); beyond it, summary refuses (README, "summary").
MAX_FEATURES = 2048
# The Hessian is singular when its smallest eigenvalue, the columns scaled to unit
# diagonal, is below this fraction of the largest (a constant or duplicated column).
SINGULAR_RCOND = 1e-12
# An entry of the near-null eigenvector at least this fraction of its largest names a
# column in the singular Hessian's message.
NAMED_SHARE = 0.1
# summary warns when one Newton step from the model's point would move a coefficient
# by more than this many standard errors: the point is not the optimum on this data.
NOT_OPTIMUM_SE = 0.01
CONFIDENCE = 0.95


class NotOptimumWarning(UserWarning):
    """The model's weights are not the optimum of its objective on the data summarized."""


@dataclass
class Summary:
    """The coefficient table: names (``(intercept)`` first), coefficients on the original
    scale and, when data was given, their standard errors, z, p-values and intervals."""

    names: list[str]
    coef: np.ndarray
    std_err: np.ndarray | None = None
    covariance: np.ndarray | None = None  # of the coefficients, original scale
    rows: int | None = None
    weight_total: float | None = None
    log_likelihood: float | None = None
    penalty: dict = field(default_factory=dict)
    converged: bool | None = None
    robust: bool = False
    method: str = "coefficients only (no data: no standard errors)"

    @property
    def z(self) -> np.ndarray | None:
        return None if self.std_err is None else self.coef / self.std_err

    @property
    def p_value(self) -> np.ndarray | None:
        from scipy.stats import norm

        return None if self.std_err is None else 2.0 * norm.sf(np.abs(self.z))

    def interval(self) -> tuple[np.ndarray, np.ndarray] | None:
        from scipy.stats import norm

        if self.std_err is None:
            return None
        half = norm.ppf(0.5 + CONFIDENCE / 2) * self.std_err
        return self.coef - half, self.coef + half

    def to_dict(self) -> dict:
        """What ``summary --json`` prints: ``coefficients`` (a list of ``{name, coef,
        std_err, z, p_value, ci_low, ci_high}``, ``null`` without data), rows,
        log_likelihood, penalty, converged, robust, method."""
        columns = {"coef": self.coef}
        if self.std_err is not None:
            low, high = self.interval()
            columns.update(std_err=self.std_err, z=self.z, p_value=self.p_value,
                           ci_low=low, ci_high=high)
        keys = ("coef", "std_err", "z", "p_value", "ci_low", "ci_high")
        coefficients = [{"name": name, **{k: (float(columns[k][i]) if k in columns else None)
                                          for k in keys}}
                        for i, name in enumerate(self.names)]
        out = {"coefficients": coefficients, "rows": self.rows,
               "log_likelihood": self.log_likelihood, "penalty": self.penalty,
               "converged": self.converged, "robust": self.robust, "method": self.method}
        if self.weight_total is not None:
            out["weight_total"] = self.weight_total
        return out

    def to_frame(self):
        """The table as a pandas DataFrame indexed by name (needs pandas)."""
        import pandas as pd

        rows = self.to_dict()["coefficients"]
        return pd.DataFrame(rows).set_index("name")

    def __str__(self) -> str:
        return format_table(self)


def _stars(p: float) -> str:
    """R's significance codes: *** p < 0.001, ** < 0.01, * < 0.05, . < 0.1."""
    for limit, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < limit:
            return mark
    return ""


def format_table(s: Summary) -> str:
    """An aligned table for a person, with R's significance codes, and the fit's facts."""
    width = max(len(n) for n in s.names)
    lines = [s.method]
    if s.std_err is None:
        lines.append(f"{'':<{width}}  {'coef':>12}")
        lines += [f"{n:<{width}}  {c:>12.6g}" for n, c in zip(s.names, s.coef)]
    else:
        low, high = s.interval()
        level = f"{CONFIDENCE:.0%}"
        lines.append(f"{'':<{width}}  {'coef':>12} {'std err':>11} {'z':>9} {'P>|z|':>10} "
                     f"{level + ' low':>12} {level + ' high':>12}")
        for i, name in enumerate(s.names):
            p = float(s.p_value[i])
            lines.append(f"{name:<{width}}  {s.coef[i]:>12.6g} {s.std_err[i]:>11.4g} "
                         f"{s.z[i]:>9.3f} {p:>10.3g} {low[i]:>12.6g} {high[i]:>12.6g} "
                         f"{_stars(p)}".rstrip())
        lines.append("---\nSignif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        lines.append(f"rows: {s.rows:,}" + (f"   weight total: {s.weight_total:.6g}"
                                            if s.weight_total is not None else ""))
        lines.append(f"log-likelihood: {s.log_likelihood:.6f}")
    penalty = ", ".join(f"{k} = {v:g}" for k, v in s.penalty.items()) or "unknown"
    converged = {True: "yes", False: "no", None: "unknown"}[s.converged]
    lines.append(f"penalty: {penalty}   converged: {converged}")
    return "\n".join(lines)


def original_scale_map(model) -> np.ndarray:
    """``T``: the ``(p+1) x (p+1)`` matrix taking ``theta = (w, b)`` (standardized scale,
    bias last) to ``(beta_0, beta_1, .., beta_p)`` (original scale, intercept first).
    The ``p - d`` level weights (categorical columns, after the ``d`` numbers) are not
    standardized: ``T`` passes them through unchanged."""
    d = model.n_features
    p = len(model.weights)
    mean = np.zeros(d) if model.mean is None else np.asarray(model.mean, dtype=np.float64)
    inv_scale = np.ones(d) if model.scale is None else 1.0 / np.asarray(model.scale, dtype=np.float64)
    T = np.zeros((p + 1, p + 1))
    T[0, :d] = -mean * inv_scale
    T[0, p] = 1.0
    T[np.arange(1, d + 1), np.arange(d)] = inv_scale
    T[np.arange(d + 1, p + 1), np.arange(d, p)] = 1.0
    return T


def _penalty(model) -> dict:
    """``{"l2": .., "l1": ..}`` as trained (``training.params``), 0 when not recorded."""
    params = model.info.get("params") or {}
    penalty = {}
    for name in ("l2", "l1"):
        value = params.get(name, 0.0) or 0.0
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ModelError(f"the model's training.params.{name} is {value!r}, not a "
                             "penalty summary can use")
        penalty[name] = float(value)
    return penalty


def _check_model(model, penalty: dict) -> None:
    if model.loss_name != "log":
        raise ModelError(f"summary needs a model fitted with the log loss (a likelihood); "
                         f"this one was fitted with {model.loss_name!r}")
    if penalty["l1"] > 0:
        raise ModelError(
            f"the model was fitted with l1 = {penalty['l1']:g}: its non-zero weights were "
            "chosen by the data, so standard errors and p-values that ignore the selection "
            "would be wrong; refit the chosen features with --l1 0 and summarize that model")
    p = len(model.weights)
    if p > MAX_FEATURES:
        raise ConfigError(f"summary handles at most {MAX_FEATURES} features, a categorical "
                          f"column's level weights counted (a {MAX_FEATURES + 1}-square Hessian "
                          f"summed by every task and solved here); this model has {p}")


def _check_constant(H: np.ndarray, names: list[str]) -> None:
    """A :class:`DataError` naming the columns without information: zero on every row
    (constant before standardization), whatever the penalty (their error would be 0/0)."""
    zero = [names[j] for j in np.flatnonzero(~(np.diag(H) > 0))]
    if zero:
        raise DataError(f"the Hessian is singular: {', '.join(zero)} is constant on this "
                        "data (no information about its coefficient); leave it out and refit")


def _inverse(A: np.ndarray, names: list[str]) -> np.ndarray:
    """``A^-1`` for the symmetric ``A`` of positive diagonal; a :class:`DataError` naming
    the columns when ``A`` is singular (columns that are combinations of others)."""
    diag = np.diag(A).copy()
    scale = 1.0 / np.sqrt(diag)
    values, vectors = np.linalg.eigh(scale[:, None] * A * scale[None, :])
    if not values[0] > SINGULAR_RCOND * values[-1]:
        null = np.abs(vectors[:, 0])
        order = [j for j in np.argsort(-null, kind="stable") if null[j] >= NAMED_SHARE * null.max()]
        raise DataError(
            "the Hessian is singular: the columns " + ", ".join(names[j] for j in order)
            + " are (nearly) linear combinations of one another (duplicated, or constant "
            "with the intercept); leave one of them out and refit")
    inverse = (vectors / values) @ vectors.T
    return scale[:, None] * inverse * scale[None, :]


def covariance_of(sums, theta: np.ndarray, l2: float, robust: bool,
                  names: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """The covariance of ``theta`` (standardized scale, bias last), the Newton step
    from ``theta`` (the estimate of its distance to the optimum), and the method's
    one-line description (module docstring)."""
    d = theta.shape[0] - 1
    H = sums.matrix(0)
    _check_constant(H, names)
    A = H.copy()
    A[np.arange(d), np.arange(d)] += sums.weight * l2
    A_inv = _inverse(A, names)
    meat = sums.matrix(1) if robust else H
    if robust or l2 > 0:
        cov = A_inv @ meat @ A_inv
    else:
        cov = A_inv
    gradient = sums.evaluate(theta[:d], float(theta[d]), l2).gradient * sums.weight
    step = -A_inv @ gradient
    kind = "robust (HC0 sandwich H^-1 M H^-1)" if robust else "model-based (inverse Hessian)"
    if l2 > 0:
        kind = (f"penalized (l2 = {l2:g}) sandwich A^-1 {'M' if robust else 'H'} A^-1, "
                "A the penalized Hessian: the numbers of the shrunken estimator, not of "
                "the maximum-likelihood fit")
    return cov, step, f"standard errors: {kind}"


def summary(model, source=None, robust: bool = False, *, label: str | None = None,
            weight=None, client=None, scheduler: str | None = None,
            workers: int | None = None) -> Summary:
    """The coefficient table of ``model`` on ``source``: one pass at the model's weights.

    ``model``: a :class:`~streamneuron.Neuron` (e.g. :func:`~streamneuron.load_model`)
    fitted with the log loss and no L1 penalty, or a fitted
    :class:`~streamneuron.NeuronClassifier` (then ``source = (X, y)``, ``y`` its classes).
    ``source``: what :func:`~streamneuron.open_source` takes (files, a DataFrame,
    ``(X, y)``) opened with the model's features, ``label`` (default the model's) and
    weight column (``weight``, default the model's training weight column), or an open
    :class:`~streamneuron.readers.Source`; None: the coefficients only, on the
    original scale. ``robust``: the HC0 sandwich instead of the inverse Hessian.
    ``client``/``scheduler``/``workers``: where the pass runs, as
    :func:`~streamneuron.fit_gd`. Warns with :class:`NotOptimumWarning` when one Newton
    step from the model's weights would move a coefficient by more than
    ``NOT_OPTIMUM_SE`` standard errors.
    """
    model, source, weight = _as_neuron(model, source, weight)
    penalty = _penalty(model)
    T = original_scale_map(model)
    theta = np.append(model.weights, model.bias)
    names = [INTERCEPT, *model.weight_names]  # the features, then ``column=level``
    converged = model.info.get("converged")
    result = Summary(names=names, coef=T @ theta, penalty=penalty,
                     converged=None if converged is None else bool(converged), robust=robust)
    if source is None:
        return result
    _check_model(model, penalty)
    from .fullpass import sums_at_model

    given = source
    source = open_data(model, source, label=label, weight=weight)
    try:
        if source.label is None:
            raise DataError("summary needs the label column (--label)")
        if list(source.feature_names) != list(model.feature_names):
            from .readers.base import name_list

            raise ModelError(f"the data's features ({name_list(source.feature_names)}) are "
                             f"not the model's ({name_list(model.feature_names)})")
        sums = sums_at_model(model, source, matrices=2 if robust else 1, client=client,
                             scheduler=scheduler, workers=workers)
    finally:
        if source is not given:
            source.close()
    cov, step, method = covariance_of(sums, theta, penalty["l2"], robust,
                                      [*model.weight_names, INTERCEPT])  # theta's order
    result.covariance = T @ cov @ T.T
    result.std_err = np.sqrt(np.diag(result.covariance))
    result.rows = int(sums.rows)
    if sums.weight != sums.rows or source.weight is not None:
        result.weight_total = sums.weight
    result.log_likelihood = -sums.loss_sum
    result.method = method
    _warn_if_not_optimum(sums, step, cov, theta, penalty["l2"])
    return result


def open_data(model, source, *, label: str | None = None, weight=None, x_key: str = "X"):
    """``source`` opened for ``model``: its features (by name; ``(X, y)`` arrays and an
    unnamed HDF5 ``X`` by position), ``label`` (default the model's), ``weight``
    (default the model's training weight column); an open
    :class:`~streamneuron.readers.Source` as it is."""
    from .readers import open_source

    params = model.info.get("params") or {}
    return open_source(source, label=label or model.label or "y",
                       **model.columns(), x_key=x_key, positional=True,
                       weight=weight if weight is not None else params.get("weight"))


def _warn_if_not_optimum(sums, step: np.ndarray, cov: np.ndarray, theta: np.ndarray,
                         l2: float) -> None:
    """One line when the model's point is not the optimum of its objective on this data."""
    se = np.sqrt(np.diag(cov))
    moved = float(np.max(np.abs(step) / np.where(se > 0, se, np.inf)))
    if moved > NOT_OPTIMUM_SE:
        d = theta.shape[0] - 1
        gradient = sums.evaluate(theta[:d], float(theta[d]), l2).gradient
        decrement = math.sqrt(max(-float(gradient @ step), 0.0))  # step = -H^-1 gradient
        warnings.warn(
            f"the model's weights are not the optimum of its objective on this data "
            f"(gradient norm {float(np.linalg.norm(gradient)):.3g}, Newton decrement "
            f"{decrement:.3g}; one Newton step would move a coefficient by "
            f"{moved:.3g} standard errors): the table describes the model's point; "
            "refit with --mode newton for the exact fit", NotOptimumWarning, stacklevel=3)


def _as_neuron(model, source, weight):
    """A :class:`~streamneuron.Neuron` for ``model`` (a fitted ``NeuronClassifier``:
    its neuron, the penalty recorded, ``y`` mapped to 0/1 by ``classes_``)."""
    if not hasattr(model, "to_neuron"):
        return model, source, weight
    if getattr(model, "class_weight", None) is not None:
        raise ConfigError("summary of a NeuronClassifier fitted with class_weight: pass "
                          "the rows' weights as weight= instead", param="class_weight")
    neuron = model.to_neuron()
    neuron.info = {"params": {"l2": model.l2, "l1": model.l1},
                   "converged": getattr(model, "converged_", None)}
    if source is not None:
        X, y = source
        X = np.asarray(X, dtype=np.float64)
        source = (X, (np.asarray(y) == model.classes_[1]).astype(np.float64))
    return neuron, source, weight


__all__ = ["summary", "open_data", "Summary", "NotOptimumWarning", "original_scale_map", "covariance_of",
           "format_table", "MAX_FEATURES", "INTERCEPT"]
