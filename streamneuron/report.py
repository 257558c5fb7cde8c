"""What a training run reports: the summary ``train`` prints (or returns as ``--json``).

:func:`run_summary` is the one dictionary (the model file written, the mode the run
used, rows, features and the columns left out, the final objective, the weights,
the history, and the engine's own fields: convergence, passes, validation, class
weights); :func:`summary_lines` says it for a person. The command line only prints.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from .readers.base import name_list
from .defaults import SAVED_OBJECTIVE_EPOCHS
from .stop import StopReason

# The weights the summary names (by |w|, on standardized features).
LARGEST_WEIGHTS = 5
# The engine's fields copied into the summary.
FULL_PASS_FIELDS = ("converged", "message", "iterations", "passes", "grad_norm", "where")
SGD_FIELDS = ("converged", "stop_reason", "epochs", "max_epochs", "updates", "epoch_objective",
              "objective_of")
OPTIONAL_FIELDS = ("validation", "best_check", "best_epoch", "best_loss", "stopped_early",
                   "returned", "class_weights", "weight_total", "path", "held_out")


def largest_weights(model, names) -> list[dict]:
    """The non-zero weights of largest magnitude, largest first: ``{"feature", "weight"}``."""
    w = model.weights
    order = [j for j in np.argsort(-np.abs(w), kind="stable") if w[j] != 0.0]
    return [{"feature": names[j], "weight": float(w[j])} for j in order[:LARGEST_WEIGHTS]]


def categorical_report(model, candidates, max_levels) -> list[dict]:
    """Each categorical column: its levels (and reference level), or why it was left
    out (more distinct values than ``--max-levels``)."""
    kept = {c.name: c for c in model.levels.columns} if model.levels is not None else {}
    out = []
    for name in candidates:
        column = kept.get(name)
        if column is None:
            out.append({"column": name, "left_out": f"more than {max_levels} levels"})
            continue
        if column.hash_bits:
            out.append({"column": name, "hashed": column.n_weights})
            continue
        entry = {"column": name, "levels": column.n_levels}
        if column.has_reference:
            entry["reference"] = column.reference
        out.append(entry)
    return out


def categorical_line(entries: list[dict]) -> str:
    """``categorical (2): carrier (18 levels), origin (312 levels, reference 'ATL')``."""
    parts = []
    for e in entries:
        if "left_out" in e:
            parts.append(f"{e['column']} (left out: {e['left_out']})")
        elif "hashed" in e:
            parts.append(f"{e['column']} (hashed into {e['hashed']} weights)")
        else:
            ref = f", reference {e['reference']!r}" if "reference" in e else ""
            parts.append(f"{e['column']} ({e['levels']} levels{ref})")
    return f"categorical ({len(entries)}): {name_list(parts, limit=8, ends=3)}"


def run_summary(model, columns: dict, *, output: str, rows: int, weight: str | None,
                l2_given: bool = True) -> dict:
    """The summary of a run that trained ``model`` on ``rows`` rows (``columns``: the
    source's :meth:`columns_report`) and wrote it to ``output``; ``l2_given``: whether
    the L2 penalty was given (else the run chose ``1/n``, or ``1/W`` when weighted)."""
    info = model.info
    history = info.get("history", [])
    summary = {"model": output, "mode": info["mode"], "loss": model.loss_name, "rows": rows,
               "features": model.n_features, "feature_names": list(model.feature_names),
               "left_out": columns["left_out"], "warnings": columns["warnings"],
               "objective": info.get("objective", history[-1]["objective"] if history else None),
               "weights": model.weights.tolist(), "bias": model.bias, "history": history}
    fields = SGD_FIELDS if info["mode"] == "sgd" else FULL_PASS_FIELDS
    summary.update({key: info[key] for key in fields})
    summary.update({key: info[key] for key in OPTIONAL_FIELDS if key in info})
    weighted = weight is not None or info["params"].get("class_weight") is not None
    summary["l2"] = info["params"]["l2"]
    summary["l2_from"] = "given" if l2_given else ("1/W" if weighted else "1/n")
    summary["nonzero"] = int((model.weights != 0.0).sum())
    summary["largest_weights"] = largest_weights(model, model.weight_names)
    if model.levels is not None or columns.get("categorical"):
        summary["categorical"] = categorical_report(model, columns.get("categorical", []),
                                                    info["params"].get("max_levels"))
    if weight is not None:
        summary["weight"] = weight
    if model.missing is not None:
        summary["missing"] = missing_report(model, rows, weighted)
    if model.positive is not None:  # --positive: the label values, as the model keeps them
        summary["labels"] = {"positive": model.positive, "negative": model.negative}
    return summary


def missing_report(model, rows: int, weighted: bool) -> dict:
    """``--missing``: the values imputed per column, or the rows dropped (known when the
    rows were not weighted otherwise: the rows less the kept ones, ``W``)."""
    if not isinstance(model.missing, str):
        return {"strategy": "impute", "imputed": {n: c for n, c in zip(
            model.missing.names, model.missing.counts) if c},
            "indicators": model.missing.indicator_names}
    out = {"strategy": "drop"}
    total = model.info.get("weight_total")
    if total is not None and not weighted:
        out["dropped"] = int(round(rows - total))
        out["kept"] = rows - out["dropped"]
    return out


def missing_line(entry: dict) -> str:
    """``imputed: a (300 values), b (12 values) with their training means``."""
    if entry["strategy"] == "drop":
        if "dropped" in entry:
            return f"dropped: {entry['dropped']:,} rows with a missing value (not trained on)"
        return "dropped: the rows with a missing value (weight 0, not trained on)"
    parts = [f"{n} ({c:,} values)" for n, c in entry["imputed"].items()]
    return (f"imputed ({len(parts)}): {name_list(parts, limit=8, ends=3)} with their "
            "training means, and a COL_missing indicator each")


def summary_lines(summary: dict, info: dict) -> list[str]:
    """The end of a run, for a person: early stopping, convergence, the model written,
    the non-zero weights (with L1, or when some are zero)."""
    lines = []
    if "best_check" in info:
        lines.append(checks_line(info))
    if summary.get("categorical"):
        lines.append(categorical_line(summary["categorical"]))
    if summary.get("missing"):
        lines.append(missing_line(summary["missing"]))
    if summary.get("labels"):
        pair = summary["labels"]
        other = "" if pair["negative"] is None else f", {pair['negative']!r} as 0"
        lines.append(f"labels: {pair['positive']!r} counts as 1{other}")
    lines.append(l2_line(summary))
    if summary.get("class_weights") is not None:
        lines.append(class_weights_line(summary["class_weights"], info["params"]))
    if summary["mode"] == "sgd":
        lines.append(sgd_convergence_line(info))
    names = summary["feature_names"]
    objective = f"its objective {summary['objective']:.6f}"
    if summary["mode"] == "sgd":
        iterates = ("the last epoch's at the moving iterates, as the epoch lines: "
                    f"{summary['epoch_objective']:.6f}")
        objective = (f"{objective}; {iterates}" if info.get("objective_of") == "saved model"
                     else f"{iterates} (the saved model's own is read again only after "
                          f"{SAVED_OBJECTIVE_EPOCHS} epochs or more: `evaluate` gives its loss)")
    kept = [c for c in summary.get("categorical", []) if "left_out" not in c]
    levels = (f"; {len(kept)} categorical, {len(summary['weights']) - summary['features']} "
              "level weights" if kept else "")
    lines.append(f"wrote {summary['model']} ({summary['features']} features: "
                 f"{name_list(names, limit=8, ends=3)}{levels}; {objective})")
    if info["params"].get("l1", 0.0) > 0 or summary["nonzero"] < len(summary["weights"]):
        largest = ", ".join(f"{w['feature']} {w['weight']:+.4g}"
                            for w in summary["largest_weights"])
        lines.append(f"{summary['nonzero']} of {len(summary['weights'])} weights non-zero; "
                     f"largest: {largest or 'none'}")
    if "held_out" in summary:
        lines.append(held_out_line(summary["held_out"]))
    if summary["mode"] != "sgd":
        state = "converged" if summary["converged"] else "NOT converged"
        lines.append(f"{summary['mode']}: {state} in {summary['iterations']} iterations, "
                     f"{summary['passes']} passes over the data, |grad| "
                     f"{summary['grad_norm']:.3g} ({summary['where']})")
    return lines


def l2_line(summary: dict) -> str:
    """The L2 penalty the run used, and where it came from."""
    l2, rule = summary["l2"], summary["l2_from"]
    if rule == "given":
        return f"l2 = {l2:.4g}"
    kept = summary.get("missing", {}).get("kept")
    where = ("W: the sum of the row weights" if rule == "1/W"
             else f"n = {summary['rows']:,} rows" if kept is None
             else f"n = {kept:,} rows kept")
    return f"l2 = {rule} = {l2:.4g} ({where}; scikit-learn's C = 1)"


def class_weights_line(class_weights, params: dict) -> str:
    """The class weights the run used (each row's weight is its class's times its
    weight column's), and where they came from."""
    a0, a1 = class_weights
    how = ("balanced: n / (2 n_class)" if params.get("class_weight") == "balanced"
           else "given")
    times = f", times the weight column {params['weight']!r}" if params.get("weight") else ""
    return f"class weights: 0: {a0:.4g}, 1: {a1:.4g} ({how}{times})"


def columns_lines(report: dict) -> list[str]:
    """The features used and the columns left out, for a person: every name when
    few, else a count with the first and last few."""
    lines = [f"features ({len(report['features'])}): {name_list(report['features'])}"]
    if report.get("categorical"):
        lines.append(f"categorical ({len(report['categorical'])}): "
                     f"{name_list(report['categorical'])} (levels counted in the first pass)")
    if report["left_out"]:
        left = [f"{c['column']} ({c['reason']})" for c in report["left_out"]]
        lines.append(f"left out ({len(left)}): {name_list(left, limit=8, ends=3)}")
    return lines


def epoch_shown(epoch: int) -> bool:
    """Without --epochs a run may make hundreds of short epochs: show the first ten,
    then every tenth up to 100, then every hundredth (the last line says the rest)."""
    return epoch <= 10 or (epoch <= 100 and epoch % 10 == 0) or epoch % 100 == 0


def epoch_line(row: dict) -> str:
    return (f"epoch {row['epoch']}: objective {row['objective']:.6f}{validation_text(row)} "
            f"({row['rows']:,} rows, {row['seconds']:.2f} s)")


def check_line(row: dict) -> str:
    return (f"check {row['check']} (epoch {row['epoch']}, {row['updates']:,} updates): "
            f"{validation_text(row)[2:]}")


def path_line(point: dict, kind: str) -> str:
    """One penalty of an ``auto`` penalty's path."""
    return (f"{kind} {point['penalty']:.4g}: held-out log loss {point['loss']:.6f} "
            f"(+/- {point['spread']:.4f} over {len(point['folds'])} fold(s), "
            f"{point['passes']} pass(es))")


def chosen_line(path: dict) -> str:
    """The penalty an ``auto`` run chose."""
    best = min(path["points"], key=lambda p: p["loss"])
    return (f"chose {path['penalty']} = {path['chosen']:.6g} (held-out log loss "
            f"{best['loss']:.6f}, {len(path['points'])} values tried); refitted on every row")


def held_out_line(held: dict) -> str:
    """The final full-pass model on the held-out rows."""
    return (f"held out ({held['on']}, {held['rows']:,} rows): log loss {held['log_loss']:.6f}, "
            f"accuracy {held['accuracy']:.4f}, AUC {held['auc']:.4f}")


def iteration_line(row: dict) -> str:
    return (f"iteration {row['iteration']}: objective {row['objective']:.6f} |grad| "
            f"{row['grad_norm']:.3g} (pass {row['passes']}, {row['seconds']:.2f} s)")


def checks_line(info: dict) -> str:
    """What the held-out checks (or early stopping's) found: why the run stopped and
    which check was best."""
    params, checks = info["params"], info["validation"]
    last = checks[-1] if checks else {"check": 0, "epoch": 0}
    best = (f"best check {info['best_check']} of {last['check']} (epoch {info['best_epoch']}, "
            f"loss {info['best_loss']:.6f})")
    if info["stopped_early"]:
        why = (f"stopped early at check {last['check']} (epoch {last['epoch']}): "
               f"{params['patience']} checks in a row did not improve on the best loss by more "
               f"than {params['tol']:g}")
    elif params.get("early_stopping"):
        why = (f"ran every epoch ({info['epochs']}): early stopping never saw "
               f"{params['patience']} checks in a row without an improvement by more than "
               f"{params['tol']:g}")
    else:
        why = f"ran every epoch ({info['epochs']})"
    return f"{why}; {best}; the model holds the {info['returned']} weights"


def sgd_convergence_line(info: dict) -> str:
    """The last line of an sgd run: whether the training objective converged."""
    params = info["params"]
    p, tol = info["patience_epochs"], params["tol"]
    if info["converged"]:
        state = (f"converged (the training objective's mean over the last {p} epochs "
                 f"improved by less than {tol:g} (relative) on the {p} before)")
    elif tol <= 0:
        state = "NOT converged: --tol 0 never stops on the objective"
    elif info["epochs"] < 2 * p:
        state = (f"NOT converged: too few epochs to tell (the rule needs {2 * p}: it compares "
                 f"the mean objective of the last {p} epochs with the {p} before)")
    else:
        state = (f"NOT converged: the training objective still improves by more than "
                 f"{tol:g} (relative) per {p} epochs")
    how = {StopReason.CONVERGED: "stopped there",
           StopReason.MAX_EPOCHS: "stopped at the most epochs",
           StopReason.EARLY_STOPPING: "stopped by --early-stopping",
           StopReason.EPOCHS: "ran the --epochs given"}
    return (f"sgd: {state}; {info['epochs']} epochs, {info['updates']:,} updates of "
            f"{params['batch_size']} rows ({params['schedule']}, lr {params['lr']:g}); "
            f"{how[info['stop_reason']]}")


def validation_text(row: dict) -> str:
    if "val_loss" not in row:
        return ""
    return (f", validation loss {row['val_loss']:.6f} accuracy {row['val_accuracy']:.4f} "
            f"auc {row['val_auc']:.4f} ({row['val_rows']:,} rows)")


def history_csv(history: list[dict]) -> str:
    """The history as CSV text (one row per epoch or iteration)."""
    out = io.StringIO()
    if history:
        writer = csv.DictWriter(out, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    return out.getvalue()
