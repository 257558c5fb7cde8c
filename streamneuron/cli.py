"""The ``streamneuron`` command: a thin click layer over the library.

Every user error surfaces as one line ``Error: ...`` on stderr and exit code 2;
no traceback, no partial output file, an existing model never replaced by a
broken one (models are written atomically, and only after training succeeded).

Why one long module: it is mostly declarations (every command's options, help and
examples, which click wants beside the function) and the checks that must run
before any work; each command's body only maps flags to one library call.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import warnings

import click

from . import __version__
from .errors import StreamNeuronError, TrainingInterrupted
from .losses import LOSSES
from .schedules import SCHEDULES

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

DATA = click.argument("data", nargs=-1, required=True, metavar="DATA...")


def _split(value: str | None, flag: str = "--features") -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("names no column", param_hint=flag)
    return names


def _label_name(label: str | None, y_key: str | None, default: str | None = "y") -> str | None:
    """The label: ``--label`` or ``--y-key`` (its HDF5 name), the same for every format;
    two different names are refused rather than one of them ignored."""
    if label is not None and y_key is not None and label != y_key:
        raise click.BadParameter(f"--label {label} and --y-key {y_key} name two different "
                                 "labels; give one", param_hint="--label")
    return label or y_key or default


def _columns_lines(report: dict) -> list[str]:
    """The features used and the columns left out, for a person: every name when
    few, else a count with the first and last few."""
    from .readers.base import name_list

    lines = [f"features ({len(report['features'])}): {name_list(report['features'])}"]
    if report["left_out"]:
        left = [f"{c['column']} ({c['reason']})" for c in report["left_out"]]
        lines.append(f"left out ({len(left)}): {name_list(left, limit=8, ends=3)}")
    return lines


def _check_writable(path: str, flag: str, remote: bool = False) -> None:
    """Fail before hours of training, not after, when an output cannot be written.

    ``remote=True`` (predict's output): an fsspec URL (``s3://...``) is accepted,
    checked cheaply (the bucket exists, the path is not a folder). Otherwise the
    output (model, history, plot) must be a local path: a URL is refused with a
    message saying so, before any work is done.
    """
    if "://" in path:
        from .readers.paths import check_output_url, output_ref

        if not remote:
            raise click.BadParameter(
                f"{path}: {flag} must be a local file path (models, histories and plots "
                "are written locally; copy them to remote storage afterwards)", param_hint=flag)
        problem = check_output_url(path)
        if problem:
            raise click.BadParameter(problem, param_hint=flag)
        ref = output_ref(path)
        if not ref.is_local:
            return
        path = ref.path  # file://: the local checks below
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise click.BadParameter(f"{path}: the folder {folder} does not exist", param_hint=flag)
    if os.path.isdir(path):
        raise click.BadParameter(f"{path} is a folder, not a file", param_hint=flag)
    # Probe by creating a file: os.access says yes to root even where writes fail (/proc).
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".streamneuron-probe-")
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot write in {folder} ({exc.strerror or exc})",
                                 param_hint=flag) from None
    os.close(fd)
    os.unlink(probe)


def _emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, default=float))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="streamneuron")
def cli():
    """Train a single sigmoid neuron (logistic regression) on Parquet or HDF5 files
    larger than memory.

    \b
    Example:
      streamneuron generate demo.parquet --rows 1000000 --features 16
      streamneuron train demo.parquet --label y -o model.json
      streamneuron evaluate model.json demo.parquet --label y

    Shell completion (bash): eval "$(_STREAMNEURON_COMPLETE=bash_source streamneuron)"
    (zsh: zsh_source, fish: fish_source).
    """


# ---------------------------------------------------------------------------- train
@cli.command()
@DATA
@click.option("--label", default=None, help="Label column (0/1, 0.0/1.0 or bool); for HDF5 X/y "
              "files, the label dataset [default: y].")
@click.option("-o", "--output", "output", required=True, metavar="MODEL.json", help="Model file to write.")
@click.option("--features", metavar="COL,COL,...", help="Feature columns [default: every numeric "
              "column but the label and a pandas index].")
@click.option("--exclude", metavar="COL,COL,...", help="Columns to leave out of the default features "
              "(e.g. an id).")
@click.option("--mode", type=click.Choice(["sgd", "gd", "newton", "lbfgs"]), default="sgd",
              show_default=True,
              help="sgd: streaming mini-batch SGD. Full passes: gd (the article's gradient descent), "
                   "newton (the optimum in ~5-12 passes), lbfgs (for many features).")
@click.option("--loss", type=click.Choice(list(LOSSES)), default="log", show_default=True,
              help="log: log loss; mse: the article's 0.5 (p - y)^2.")
@click.option("--batch-size", type=int, default=None,
              help="sgd: rows per update [default: from the row count: rows/250 rounded down "
                   "to a power of two, 1 to 256].")
@click.option("--epochs", type=int, default=None,
              help="sgd: passes over the data [default: up to 1000, stopping when the "
                   "epoch's training objective has converged].")
@click.option("--max-iter", type=int, default=None,
              help="gd/newton/lbfgs: most iterations [default: 100; lbfgs 1000].")
@click.option("--tol", type=float, default=None,
              help="gd/newton/lbfgs: the relative tolerance of the stopping rule (0: never; "
                   "newton/lbfgs stop within about this gap to the optimum) [default: 1e-6]. "
                   "sgd: the least relative improvement of the epoch's training objective "
                   "that counts for convergence [default: 1e-3]; with --early-stopping the "
                   "least improvement of the checked loss [default: 1e-3].")
@click.option("--lr", type=float, default=None, help="Learning rate [default: 1.0 for sgd's "
              "auto and for gd, 0.1 for the other sgd schedules].")
@click.option("--l2", type=float, default=0.0, show_default=True, help="L2 penalty (l2/2)||w||^2; the bias is not penalised.")
@click.option("--l1", type=float, default=0.0, show_default=True,
              help="L1 penalty l1 ||w||_1 (elastic net with --l2; the bias is not penalised): "
                   "weights become exactly zero. newton: proximal Newton; lbfgs: OWL-QN; sgd: "
                   "the cumulative L1 penalty.")
@click.option("--weight", metavar="COL", default=None,
              help="Sample-weight column (numbers >= 0; HDF5 X/y: a dataset): each row's loss "
                   "counts that many times; the objective, the standardization and the metrics "
                   "become weighted means.")
@click.option("--class-weight", type=click.Choice(["balanced"]), default=None,
              help="balanced: weight each class by n / (2 n_class), from the label counts "
                   "(times --weight, if given).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the shuffling order.")
@click.option("--schedule", type=click.Choice(list(SCHEDULES)), default="auto",
              show_default=True, help="sgd: auto: adagrad's steps, the model averaged over "
              "each epoch; lr_t = lr / (1 + t)^power_t for invscaling; adagrad: "
              "per-coordinate steps lr g_j / sqrt(sum of g_j^2 so far).")
@click.option("--power-t", type=float, default=0.5, show_default=True, help="sgd: exponent of invscaling.")
@click.option("--shuffle/--no-shuffle", default=True, show_default=True,
              help="sgd: shuffle row groups and rows inside them each epoch (seeded).")
@click.option("--shuffle-window", "window", type=int, default=1, show_default=True,
              help="sgd: mix the rows of this many row groups at once (memory grows with it).")
@click.option("--standardize/--no-standardize", default=True, show_default=True,
              help="One streaming pass for each feature's mean and std, applied before the weights.")
@click.option("--validation", "validation", multiple=True, metavar="DATA",
              help="sgd: validate on these files (repeatable) at each epoch's end.")
@click.option("--validation-fraction", type=float, default=None,
              help="sgd: hold out this fraction of the training rows (seeded by --seed, never "
                   "trained on) and validate on them at each epoch's end.")
@click.option("--validate-every", type=int, default=None,
              help="sgd: validate also every N batches.")
@click.option("--early-stopping", is_flag=True,
              help="sgd: stop when the validation loss (without validation data: the epoch's "
                   "training objective) has not improved by --tol for --patience checks; "
                   "keep the best weights (--epochs is then a maximum).")
@click.option("--patience", type=int, default=None,
              help="sgd --early-stopping: checks without improvement before stopping [default: 5].")
@click.option("--average", is_flag=True,
              help="sgd: averaged SGD: the model is the running average of the iterates "
                   "(from the first update, or --average-from N).")
@click.option("--average-from", type=int, default=None,
              help="sgd --average: average the iterates from update N on [default: 1].")
@click.option("--init", type=click.Choice(["zeros"]), default="zeros", show_default=True,
              help="Initial weights and bias.")
@click.option("--x-key", default="X", show_default=True,
              help="HDF5: features dataset, or the key of a pandas frame (df.to_hdf) [default: X, "
                   "else the file's only pandas frame].")
@click.option("--y-key", default=None, help="HDF5: label dataset (the same as --label).")
@click.option("--checkpoint", metavar="DIR",
              help="sgd: folder for resumable training state (refused if it already holds a "
                   "checkpoint and --resume is not given).")
@click.option("--resume", is_flag=True,
              help="sgd: continue exactly from --checkpoint (same data and flags; --epochs may grow).")
@click.option("--checkpoint-every", type=int, default=None,
              help="sgd: write the checkpoint every N batches (and at the end) [default: every 30 s and each epoch].")
@click.option("--checkpoint-seconds", type=float, default=None,
              help="sgd: write the checkpoint at least every T seconds [default: 30].")
@click.option("--scheduler", metavar="ADDRESS", help="gd: address of a running Dask scheduler.")
@click.option("--workers", type=int, default=None,
              help="Full passes: a local cluster of N worker processes; 0: in this process "
                   "[default: in this process for data up to 1 GiB decoded, else 2 workers].")
@click.option("--verbose", is_flag=True, help="Full passes: show the Dask cluster's own logs.")
@click.option("--persist", is_flag=True, help="gd: keep decoded partitions in cluster memory.")
@click.option("--partition-rows", type=int, default=None,
              help="gd: rows per Dask partition (runs of row groups) [default: one row group each].")
@click.option("--history", "history_path", metavar="FILE.csv", help="Write the objective per epoch/iteration as CSV.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Draw the objective per epoch/iteration.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def train(data, label, output, features, exclude, mode, loss, batch_size, epochs, max_iter, tol, lr, l2,
          l1, weight, class_weight, seed, schedule, power_t, shuffle, window, standardize, validation, validation_fraction,
          validate_every, early_stopping, patience, average, average_from, init, x_key, y_key, checkpoint,
          resume, checkpoint_every, checkpoint_seconds, scheduler, workers, verbose, persist, partition_rows,
          history_path, plot_path, quiet, as_json):
    """Train a neuron on DATA (Parquet files, folders, globs, URLs, or HDF5 files).

    \b
    Examples:
      streamneuron train data/*.parquet --label clicked -o model.json --epochs 3
      streamneuron train big.h5 -o model.json --batch-size 1024 --checkpoint ckpt/
      streamneuron train big.h5 -o model.json --checkpoint ckpt/ --resume
      streamneuron train s3://bucket/table/ --label y -o model.json --mode gd --workers 4
      streamneuron train big.parquet --label y -o model.json --mode newton --l2 1e-4
    """
    if scheduler is None and not workers:  # in this process: numba loads meanwhile
        from .warmup import start  # (see streamneuron.warmup)

        start()
    from .params import check_params
    from .progress import Progress
    from .readers import open_source

    _check_writable(output, "-o")
    for path, flag in ((history_path, "--history"), (plot_path, "--plot")):
        if path:
            _check_writable(path, flag)
    if plot_path:
        from .plots import require_matplotlib

        require_matplotlib()
    check_params(batch_size=batch_size, epochs=epochs, lr=lr, l2=l2, max_iter=max_iter, tol=tol,
                 window=window, workers=workers, checkpoint_every=checkpoint_every, seed=seed,
                 checkpoint_seconds=checkpoint_seconds, validation_fraction=validation_fraction,
                 validate_every=validate_every, patience=patience, power_t=power_t,
                 average=average_from, partition_rows=partition_rows, l1=l1)
    if average_from is not None and not average:
        raise click.BadParameter("needs --average", param_hint="--average-from")
    if average_from == 0:
        raise click.BadParameter("must be a whole number >= 1, got 0", param_hint="--average-from")
    if mode != "sgd":
        for given, name in ((validation, "--validation"), (validation_fraction, "--validation-fraction"),
                            (validate_every, "--validate-every"), (early_stopping, "--early-stopping"),
                            (patience, "--patience"), (average, "--average")):
            if given:
                raise click.BadParameter(f"{name} is for --mode sgd", param_hint=name)
    if patience is not None and not early_stopping:
        raise click.BadParameter("needs --early-stopping", param_hint="--patience")
    if lr is not None and mode in ("newton", "lbfgs"):
        raise click.BadParameter(f"--lr is for --mode gd and sgd; {mode} needs no learning "
                                 "rate", param_hint="--lr")
    source = open_source(list(data), label=_label_name(label, y_key), features=_split(features),
                         x_key=x_key, exclude=_split(exclude, "--exclude"), weight=weight)
    val_source = None
    if validation:
        try:
            val_source = open_source(list(validation), label=source.label,
                                     features=source.feature_names, x_key=x_key, weight=weight)
        except BaseException:
            source.close()
            raise
    columns = source.columns_report()
    if not quiet:
        for line in _columns_lines(columns):
            click.echo(line, err=True)
    import contextlib

    with source, val_source or contextlib.nullcontext(), \
            Progress(source.n_rows, "train", quiet=quiet) as bar:
        def on_epoch(row):
            if not quiet and (epochs is not None or _epoch_shown(row["epoch"])):
                bar.echo(f"epoch {row['epoch']}: objective {row['objective']:.6f}"
                         f"{_validation_text(row)} ({row['rows']:,} rows, {row['seconds']:.2f} s)")
            bar.reset()

        def on_check(row):
            if not quiet and validate_every:
                bar.echo(f"check {row['check']} (epoch {row['epoch']}, {row['updates']:,} "
                         f"updates): {_validation_text(row)[2:]}")

        if mode == "sgd":
            from .sgd import CHECKPOINT_SECONDS, fit_sgd

            def notify(message):
                if not quiet:
                    bar.echo(message)

            model = fit_sgd(source, batch_size=batch_size, epochs=epochs,
                            lr=lr, loss=loss, schedule=schedule,
                            power_t=power_t, l2=l2, seed=seed, shuffle=shuffle, window=window,
                            standardize=standardize, checkpoint=checkpoint, resume=resume,
                            checkpoint_every=checkpoint_every,
                            checkpoint_seconds=checkpoint_seconds or CHECKPOINT_SECONDS,
                            progress=bar, on_epoch=on_epoch, notify=notify,
                            validation=val_source,
                            validation_fraction=validation_fraction or 0.0,
                            validate_every=validate_every, early_stopping=early_stopping,
                            patience=5 if patience is None else patience, tol=tol,
                            average=(average_from or 1) if average else False,
                            on_check=on_check, l1=l1, class_weight=class_weight)
        else:
            from .fullpass import fit_gd

            if checkpoint or resume or checkpoint_every or checkpoint_seconds:
                raise click.BadParameter("--checkpoint/--resume are for --mode sgd",
                                         param_hint="--checkpoint")

            def on_iteration(row):
                if not quiet:
                    bar.echo(f"iteration {row['iteration']}: objective {row['objective']:.6f} "
                             f"|grad| {row['grad_norm']:.3g} (pass {row['passes']}, "
                             f"{row['seconds']:.2f} s)")

            def on_cluster(link):
                if not quiet:
                    click.echo(f"Dask dashboard: {link}", err=True)

            model = fit_gd(source, solver=mode, max_iter=max_iter,
                           lr=1.0 if lr is None else lr, loss=loss, l2=l2, l1=l1,
                           class_weight=class_weight,
                           tol=1e-6 if tol is None else tol,
                           standardize=standardize, scheduler=scheduler, workers=workers,
                           persist=persist, partition_rows=partition_rows, verbose=verbose,
                           progress=on_iteration, on_cluster=on_cluster)
    history = model.info.get("history", [])
    if history_path:
        _write_history(history, history_path)
    if plot_path:
        from .plots import plot_objective

        plot_objective(history, plot_path)
    model.save(output)
    summary = {"model": output, "mode": mode, "loss": loss, "rows": source.n_rows,
               "features": model.n_features, "feature_names": columns["features"],
               "left_out": columns["left_out"], "warnings": columns["warnings"],
               "objective": history[-1]["objective"] if history else None,
               "weights": model.weights.tolist(), "bias": model.bias, "history": history}
    if mode != "sgd":
        summary.update({key: model.info[key] for key in (
            "converged", "message", "iterations", "passes", "grad_norm", "where")})
    else:
        summary.update({key: model.info[key] for key in (
            "converged", "stop_reason", "epochs", "max_epochs", "updates")})
    summary.update({key: model.info[key] for key in (
        "validation", "best_check", "best_epoch", "best_loss", "stopped_early", "returned",
        "class_weights", "weight_total") if key in model.info})
    summary["nonzero"] = int((model.weights != 0.0).sum())
    summary["largest_weights"] = _largest_weights(model, columns["features"])
    if weight is not None:
        summary["weight"] = weight
    if as_json:
        _emit_json(summary)
    elif not quiet:
        from .readers.base import name_list

        if "best_check" in model.info:
            info = model.info
            click.echo(f"{'stopped early' if info['stopped_early'] else 'ran every epoch'}; "
                       f"best check {info['best_check']} (epoch {info['best_epoch']}, loss "
                       f"{info['best_loss']:.6f}); the model holds the {info['returned']} "
                       "weights", err=True)
        if mode == "sgd":
            click.echo(_sgd_convergence_line(model.info), err=True)
        click.echo(f"wrote {output} ({model.n_features} features: "
                   f"{name_list(columns['features'], limit=8, ends=3)}; final objective "
                   f"{summary['objective']:.6f})", err=True)
        if l1 > 0 or summary["nonzero"] < model.n_features:
            largest = ", ".join(f"{w['feature']} {w['weight']:+.4g}"
                                for w in summary["largest_weights"])
            click.echo(f"{summary['nonzero']} of {model.n_features} weights non-zero; "
                       f"largest: {largest or 'none'}", err=True)
        if mode != "sgd":
            state = "converged" if summary["converged"] else "NOT converged"
            click.echo(f"{mode}: {state} in {summary['iterations']} iterations, "
                       f"{summary['passes']} passes over the data, |grad| "
                       f"{summary['grad_norm']:.3g} ({summary['where']})", err=True)


LARGEST_WEIGHTS = 5  # the weights the summary names (by |w|, on standardized features)


def _largest_weights(model, names) -> list[dict]:
    """The non-zero weights of largest magnitude, largest first: ``{"feature", "weight"}``."""
    import numpy as np

    w = model.weights
    order = [j for j in np.argsort(-np.abs(w), kind="stable") if w[j] != 0.0]
    return [{"feature": names[j], "weight": float(w[j])} for j in order[:LARGEST_WEIGHTS]]


def _epoch_shown(epoch: int) -> bool:
    """Without --epochs a run may make hundreds of short epochs: show the first ten,
    then every tenth up to 100, then every hundredth (the last line says the rest)."""
    return epoch <= 10 or (epoch <= 100 and epoch % 10 == 0) or epoch % 100 == 0


def _sgd_convergence_line(info: dict) -> str:
    """The last line of an sgd run: whether the training objective converged."""
    params = info["params"]
    rule = (f"the training objective's mean over the last {info['patience_epochs']} epochs "
            f"improved by less than {params['tol']:g} (relative) on the {info['patience_epochs']} "
            "before")
    state = f"converged ({rule})" if info["converged"] else f"NOT converged (not yet: {rule})"
    how = {"converged": "stopped there", "max epochs": "stopped at the most epochs",
           "early stopping": "stopped by --early-stopping", "epochs": "ran the --epochs given"}
    return (f"sgd: {state}; {info['epochs']} epochs, {info['updates']:,} updates of "
            f"{params['batch_size']} rows ({params['schedule']}, lr {params['lr']:g}); "
            f"{how[info['stop_reason']]}")


def _validation_text(row: dict) -> str:
    if "val_loss" not in row:
        return ""
    return (f", validation loss {row['val_loss']:.6f} accuracy {row['val_accuracy']:.4f} "
            f"auc {row['val_auc']:.4f} ({row['val_rows']:,} rows)")


def _write_history(history: list[dict], path: str) -> None:
    from .atomic import write_text

    out = io.StringIO()
    if history:
        writer = csv.DictWriter(out, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    write_text(path, out.getvalue())


# ---------------------------------------------------------------------------- predict
@cli.command()
@click.argument("model_path", metavar="MODEL.json")
@DATA
@click.option("-o", "--output", "output", required=True, metavar="OUT.parquet",
              help="File to write: Parquet, or CSV when its name ends in .csv.")
@click.option("--keep", metavar="COL,...", help="Input columns to copy to the output (e.g. an id).")
@click.option("--x-key", default="X", show_default=True,
              help="HDF5: features dataset, or the key of a pandas frame.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(model_path, data, output, keep, x_key, quiet):
    """Write probability and prediction (and --keep columns) for every row of DATA.

    \b
    Example:
      streamneuron predict model.json new/*.parquet -o scores.parquet --keep id
      streamneuron predict model.json new.parquet -o scores.csv
    """
    from .apply import output_format, predict_to_parquet
    from .neuron import load_model
    from .progress import Progress
    from .readers import open_source

    output_format(output)
    _check_writable(output, "-o", remote=True)
    model = load_model(model_path)
    source = open_source(list(data), label=None, features=model.feature_names, x_key=x_key,
                         positional=True)
    with source, Progress(source.n_rows, "predict", quiet=quiet) as bar:
        rows = predict_to_parquet(model, source, output, keep=_split(keep) or (), progress=bar)
    if not quiet:
        click.echo(f"wrote {output} ({rows:,} rows)", err=True)


# ---------------------------------------------------------------------------- evaluate
@cli.command()
@click.argument("model_path", metavar="MODEL.json")
@DATA
@click.option("--label", default=None, help="Label column [default: the model's label].")
@click.option("--x-key", default="X", show_default=True,
              help="HDF5: features dataset, or the key of a pandas frame.")
@click.option("--y-key", default=None, help="HDF5: label dataset (the same as --label).")
@click.option("--weight", metavar="COL", default=None,
              help="Sample-weight column: weighted metrics (each row counts its weight).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Draw the ROC and calibration curves.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate(model_path, data, label, x_key, y_key, weight, as_json, plot_path, quiet):
    """Streaming log loss, mse, accuracy and AUC of MODEL on labelled DATA.

    \b
    Example:
      streamneuron evaluate model.json test.parquet --label y --json
    """
    from .apply import evaluate as run_evaluate
    from .apply import evaluation_report
    from .neuron import load_model
    from .progress import Progress
    from .readers import open_source

    if plot_path:
        _check_writable(plot_path, "--plot")
        from .plots import require_matplotlib

        require_matplotlib()
    model = load_model(model_path)
    source = open_source(list(data), label=_label_name(label, y_key, model.label or "y"),
                         features=model.feature_names, x_key=x_key, positional=True,
                         weight=weight)
    with source, Progress(source.n_rows, "evaluate", quiet=quiet) as bar:
        metrics = run_evaluate(model, source, progress=bar)
    report = evaluation_report(model, metrics)
    if plot_path:
        from .plots import plot_evaluation

        plot_evaluation(metrics, plot_path)
    if as_json:
        _emit_json(report)
    else:
        loss_note = ("log loss, the training loss" if report["loss_name"] == "log" else
                     "mse: mean 0.5 (p - y)^2, the training loss")
        if "weight_sum" in report:
            click.echo(f"weights   {report['weight_sum']:.6g} (sum of {weight!r}; the metrics "
                       "below are weighted means)")
        click.echo(f"rows      {report['rows']:,}\n"
                   f"loss      {report['loss']:.6f}  ({loss_note})\n"
                   f"log_loss  {report['log_loss']:.6f}\n"
                   f"mse       {report['mse']:.6f}  (mean (p - y)^2, the Brier score)\n"
                   f"accuracy  {report['accuracy']:.6f}\n"
                   f"auc       {report['auc']:.6f}  (+/- {report['auc_error_bound']:.1e})")


# ---------------------------------------------------------------------------- inspect
@cli.command()
@DATA
@click.option("--label", default=None, help="Label column, for the class balance [default: y].")
@click.option("--x-key", default="X", show_default=True,
              help="HDF5: features dataset, or the key of a pandas frame.")
@click.option("--y-key", default=None, help="HDF5: label dataset (the same as --label).")
@click.option("--exclude", metavar="COL,COL,...", help="Columns to leave out, as train --exclude.")
@click.option("--columns", "all_columns", is_flag=True,
              help="List every column with its type and role (feature, label, left out and why).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(data, label, x_key, y_key, exclude, all_columns, as_json):
    """Schema, features, rows, row groups or chunks, sizes and label balance of DATA.

    A folder holding Parquet and HDF5 files side by side gets one report per format.

    \b
    Example:
      streamneuron inspect data/sample.parquet
      streamneuron inspect data/ --columns
    """
    from .inspect import format_report, inspect_paths

    report = inspect_paths(list(data), label=_label_name(label, y_key), x_key=x_key,
                           exclude=_split(exclude, "--exclude"))
    if as_json:
        _emit_json(report)
    else:
        click.echo(format_report(report, all_columns=all_columns))


# ---------------------------------------------------------------------------- generate
@cli.command()
@click.argument("out", metavar="OUT")
@click.option("--rows", type=int, required=True, help="Number of rows.")
@click.option("--features", type=int, required=True, help="Number of features.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "hdf5"]), default=None,
              help="[default: from OUT's suffix, else parquet]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the teacher neuron and the data.")
@click.option("--row-group-size", type=int, default=1 << 20, show_default=True,
              help="Rows per Parquet row group / HDF5 chunk.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--id-column", is_flag=True, help="Parquet: add an int64 'id' column first.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(out, rows, features, fmt, seed, row_group_size, dtype, id_column, quiet):
    """Write synthetic labelled data from a seeded teacher neuron, chunk by chunk.

    \b
    Example:
      streamneuron generate big.parquet --rows 100000000 --features 32
      streamneuron generate big.h5 --rows 1000000 --features 8 --format hdf5
    """
    from .generate import generate as run_generate
    from .progress import Progress

    if fmt is None:
        fmt = "hdf5" if out.lower().endswith((".h5", ".hdf5")) else "parquet"
    with Progress(rows, "generate", quiet=quiet) as bar:
        summary = run_generate(out, rows=rows, features=features, format=fmt, seed=seed,
                               row_group_size=row_group_size, dtype=dtype, id_column=id_column,
                               progress=bar)
    if not quiet:
        click.echo(f"wrote {out} ({rows:,} rows x {features} features, {fmt})", err=True)
    return summary


# ---------------------------------------------------------------------------- convert
@cli.command()
@click.argument("src", metavar="IN.csv")
@click.argument("out", metavar="OUT.parquet")
@click.option("--row-group-size", type=int, default=None,
              help="Rows per row group [default: about 128 MiB decoded, 64Ki to 1Mi rows].")
@click.option("--float32", "float32", is_flag=True, help="Store float columns as float32.")
@click.option("--type", "types", multiple=True, metavar="COL=TYPE",
              help="A column's type when the guess from the first rows is wrong (repeatable).")
@click.option("--delimiter", default=",", show_default=True, help="Field separator.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def convert(src, out, row_group_size, float32, types, delimiter, quiet):
    """Convert a CSV file (.csv, .csv.gz, ...) to Parquet for training, streaming.

    Memory stays at about one row group whatever the file size; the row groups
    are sized for training's memory bound.

    \b
    Example:
      streamneuron convert data.csv data.parquet --float32
      streamneuron convert data.csv.gz data.parquet --type zip=string
    """
    from .convert import convert_csv
    from .progress import Progress

    parsed = {}
    for item in types:
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise click.BadParameter(f"{item!r}: give COLUMN=TYPE", param_hint="--type")
        parsed[name.strip()] = kind.strip()
    _check_writable(out, "OUT", remote=True)
    with Progress(None, "convert", quiet=quiet) as bar:
        summary = convert_csv(src, out, row_group_size=row_group_size, float32=float32,
                              types=parsed, delimiter=delimiter, progress=bar)
    if not quiet:
        click.echo(f"wrote {out} ({summary['rows']:,} rows x {summary['columns']} columns, "
                   f"{summary['row_groups']} row group(s) of up to "
                   f"{summary['row_group_size']:,} rows)", err=True)


from .summary_cli import summary as summary_command  # noqa: E402 (issue 23's command)
cli.add_command(summary_command)


# ---------------------------------------------------------------------------- entry point
def _one_line(text: str) -> str:
    """Messages from libraries may span lines; ``Error:`` output is one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _as_flags(exc: StreamNeuronError) -> str:
    """``batch_size must be ...`` (about a library parameter: ``exc.param``) reads
    ``--batch-size must be ...``."""
    from .params import flag

    if getattr(exc, "param", None) and getattr(exc, "problem", None):
        return f"{flag(exc.param)} {exc.problem}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map our errors to one ``Error:`` line and exit code 2.

    Exit codes: 0 success; 2 bad usage or bad input (``StreamNeuronError``,
    click usage errors, OS errors on the user's files); 130 stopped by SIGINT or
    SIGTERM (with ``--checkpoint`` the message says how to resume); 1 an
    unexpected internal error (one line too; ``STREAMNEURON_DEBUG=1`` shows the
    traceback).
    """
    def error(message: str, code: int, prefix: str = "Error") -> int:
        click.echo(f"{prefix}: {_one_line(message)}", err=True)
        return code

    def warn(message, category, filename, lineno, file=None, line=None):
        # Our warnings are for people: one line, no source location.
        click.echo(f"Warning: {_one_line(str(message))}", err=True)

    from .errors import DataWarning

    try:
        with warnings.catch_warnings():
            warnings.showwarning = warn
            warnings.simplefilter("always", DataWarning)  # every run says it, not the first only
            cli.main(args=argv, prog_name="streamneuron", standalone_mode=False)
    except TrainingInterrupted as exc:
        return error(str(exc), EXIT_INTERRUPTED, prefix="Interrupted")
    except StreamNeuronError as exc:
        return error(_as_flags(exc), EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        return error("aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        return error(exc.format_message(), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return error("interrupted (no output was written)", EXIT_INTERRUPTED)
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        return error(f"{name}{exc.strerror or exc}", EXIT_BAD_INPUT)
    except MemoryError:
        return error("out of memory; try a smaller --batch-size or --shuffle-window, or fewer "
                     "--workers", EXIT_INTERNAL)
    except Exception as exc:  # a bug: still no traceback unless asked for
        if os.environ.get("STREAMNEURON_DEBUG"):
            raise
        return error(f"unexpected {type(exc).__name__}: {exc} (this is a bug in streamneuron; "
                     "run with STREAMNEURON_DEBUG=1 to see the traceback)", EXIT_INTERNAL)
    return 0


def entry() -> None:
    sys.exit(main())
