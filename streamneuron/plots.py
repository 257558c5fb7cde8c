"""PNG plots of training and evaluation (``--plot FILE.png``).

matplotlib is optional (``pip install 'streamneuron[plot]'``), so it is imported
inside the functions. Figures use the object API (``Figure`` + ``FigureCanvasAgg``):
no pyplot, no global backend or figure registry touched. Files are written
atomically (:func:`streamneuron.atomic.atomic_path`): to a temporary file in the
target folder, then ``os.replace``.

The ``*_series`` functions return the plotted data, so it can be tested or
exported without matplotlib.
"""

from __future__ import annotations

import math
import os
from typing import Any

from .atomic import atomic_path
from .errors import ConfigError, DataError
from .metrics import StreamingMetrics, calibration_points, roc_curve_points

# Output size: 100 dpi keeps a 6.4 x 4.8 in figure at 640 x 480 pixels.
DPI = 100
OBJECTIVE_FIGSIZE = (6.4, 4.8)
EVALUATION_FIGSIZE = (11.0, 4.8)
# Coarse probability bins of the calibration panel (scikit-learn's default too).
CALIBRATION_BINS = 10

_MISSING_MATPLOTLIB = "--plot needs matplotlib: pip install 'streamneuron[plot]'"
_X_KEYS = ("epoch", "iteration")


def require_matplotlib() -> None:
    """Raise ConfigError now (before a long run) when matplotlib is not installed."""
    _figure_classes()


def _figure_classes():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(_MISSING_MATPLOTLIB) from None
    return Figure, FigureCanvasAgg


def _new_figure(figsize: tuple[float, float]):
    """A fresh Agg-backed Figure, or ConfigError when matplotlib is not installed."""
    Figure, FigureCanvasAgg = _figure_classes()
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig


def _check_target(path: str | os.PathLike) -> str:
    """The target path as str, after checking its folder exists (before any drawing)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write plot {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"cannot write plot {path}: it is a directory")
    return path


def _save_png_atomic(fig, path: str) -> None:
    """Write ``fig`` as PNG beside ``path``, then rename it over ``path`` (streamneuron.atomic).

    An error leaves the old file (if any) and no temporary file behind.
    """
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fig.savefig(fh, format="png", dpi=DPI)
    except OSError as exc:  # e.g. disk full, or permission denied on the rename
        raise ConfigError(f"cannot write plot {path}: {exc.strerror or exc}") from None


def _number(value: Any) -> float:
    """float(value); None and "" (a blank CSV cell) are NaN."""
    if value is None or value == "":
        return math.nan
    return float(value)


# ---------------------------------------------------------------------------
# Training objective
# ---------------------------------------------------------------------------


def objective_series(history: list[dict]) -> dict[str, Any]:
    """Series of the objective per epoch (sgd) or iteration (gd) from history rows.

    Returns ``{"x", "objective", "xlabel"}``. The x key is "epoch" when every row has it, else "iteration";
    rows with neither are numbered 1, 2, ... as iterations.
    """
    rows = list(history)
    key = next((k for k in _X_KEYS if rows and all(k in r for r in rows)), None)
    xlabel = key or "iteration"
    try:
        x = [_number(r[key]) if key else float(i) for i, r in enumerate(rows, 1)]
        objective = [_number(r["objective"]) for r in rows]
    except KeyError:
        raise ConfigError("training history rows need an 'objective' value") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training history holds a non-numeric value: {exc}") from None
    return {"x": x, "objective": objective, "xlabel": xlabel}


def plot_objective(history: list[dict], path: str | os.PathLike) -> None:
    """Write a PNG of the objective J(w, b) per epoch/iteration."""
    path = _check_target(path)
    series = objective_series(history)
    if not series["x"]:
        raise ConfigError(f"cannot write plot {path}: the training history is empty")
    fig = _new_figure(OBJECTIVE_FIGSIZE)
    ax = fig.add_subplot()
    marker = "o" if len(series["x"]) <= 50 else None  # markers only while they stay readable
    ax.plot(series["x"], series["objective"], marker=marker, label="training objective")
    if history and "val_loss" in history[0]:
        ax.plot(series["x"], [row["val_loss"] for row in history], marker=marker,
                label="validation loss")
    ax.set_xlabel(series["xlabel"])
    ax.set_ylabel("objective J(w, b)")
    ax.set_title(f"Objective per {series['xlabel']}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    from matplotlib.ticker import MaxNLocator  # matplotlib is present: _new_figure succeeded

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    _save_png_atomic(fig, path)


def path_series(path: dict) -> dict[str, Any]:
    """The points of a penalty path (``info["path"]``): penalty, mean held-out log loss
    and its spread over the folds, and the chosen penalty."""
    points = path["points"]
    return {"penalty": [p["penalty"] for p in points], "loss": [p["loss"] for p in points],
            "spread": [p["spread"] for p in points], "chosen": path["chosen"],
            "kind": path["penalty"]}


def plot_path(path: dict, target: str | os.PathLike) -> None:
    """Write a PNG of the held-out log loss against the penalty (log x axis, error bars:
    the folds' standard deviation, the chosen penalty marked), as glmnet's cv plot."""
    target = _check_target(target)
    series = path_series(path)
    fig = _new_figure(OBJECTIVE_FIGSIZE)
    ax = fig.add_subplot()
    ax.errorbar(series["penalty"], series["loss"], yerr=series["spread"], marker="o",
                capsize=3, label="held-out log loss")
    ax.axvline(series["chosen"], color="k", linestyle="--",
               label=f"chosen {series['kind']} = {series['chosen']:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel(f"penalty {series['kind']}")
    ax.set_ylabel("held-out log loss")
    ax.set_title(f"Held-out log loss along the {series['kind']} path")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    _save_png_atomic(fig, target)


# ---------------------------------------------------------------------------
# Evaluation: ROC and calibration
# ---------------------------------------------------------------------------


def evaluation_series(metrics: StreamingMetrics, n_bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """ROC and calibration data from the metrics' histogram (numpy arrays).

    Keys: fpr, tpr, auc, auc_error_bound, mean_predicted, observed_rate, count.
    """
    fpr, tpr = roc_curve_points(metrics)
    auc, bound = metrics.auc()
    mean_predicted, observed, count = calibration_points(metrics, n_bins)
    return {
        "fpr": fpr,
        "tpr": tpr,
        "auc": auc,
        "auc_error_bound": bound,
        "mean_predicted": mean_predicted,
        "observed_rate": observed,
        "count": count,
    }


def plot_evaluation(metrics: StreamingMetrics, path: str | os.PathLike) -> None:
    """Write one PNG with the ROC curve (AUC in the title) and the calibration curve."""
    path = _check_target(path)
    if metrics.rows == 0:
        raise DataError(f"cannot write plot {path}: no rows were evaluated")
    s = evaluation_series(metrics)
    fig = _new_figure(EVALUATION_FIGSIZE)
    roc, cal = fig.subplots(1, 2)

    roc.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    if math.isnan(s["auc"]):
        roc.set_title("ROC curve (undefined: only one class)")
    else:
        roc.plot(s["fpr"], s["tpr"], label="model")
        roc.set_title(f"ROC curve (AUC = {s['auc']:.4f})")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")

    shown = s["count"] > 0
    cal.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    cal.plot(s["mean_predicted"][shown], s["observed_rate"][shown], marker="o", label="model")
    cal.set_title("Calibration")
    cal.set_xlabel("mean predicted probability")
    cal.set_ylabel("observed positive rate")

    for ax in (roc, cal):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    _save_png_atomic(fig, path)


__all__ = [
    "require_matplotlib",
    "objective_series",
    "plot_objective",
    "evaluation_series",
    "plot_evaluation",
]
