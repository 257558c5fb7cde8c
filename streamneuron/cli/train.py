"""``streamneuron train``: flags to one library call (``fit_sgd`` or ``fit_gd``).

The training parameters are the table's (:data:`streamneuron.params.PARAMS`): their
flags, defaults, help, rules and modes. This module adds the inputs and outputs
(data, label, columns, files written) and prints what the library reports
(:mod:`streamneuron.report`). The click defaults and the library's defaults are
both the table's; a parameter whose default is None (chosen at run time, e.g. the
batch size from the row count) is not passed on, so the library chooses it.
"""

from __future__ import annotations

import contextlib

import click

from ..params import PARAMS, check_auto_penalty, check_modes, check_params
from .common import DATA, check_writable, emit_json, given, label_name, option, split

# The table's parameters that the command line takes (in --help's order).
TRAIN_PARAMS = [p.name for p in PARAMS.values() if "train" in p.commands and p.flag != ""]
# Parameters the command line resolves itself rather than passing them on.
OWN = {"mode", "average_from", "x_key", "validation", "weight", "categorical", "missing",
       "positive"}


def train_options(command):
    """Every option of the table's training parameters, in the table's order."""
    for name in reversed(TRAIN_PARAMS):
        command = option(name)(command)
    return command


def library_arguments(settings: dict, mode: str) -> dict:
    """The keyword arguments of the library call: the parameters ``mode`` uses that
    have a value (None left out: the library chooses)."""
    kwargs = {name: value for name, value in settings.items()
              if name not in OWN and PARAMS[name].applies_to(mode) and value is not None}
    if mode == "sgd":
        kwargs["average"] = (settings["average_from"] or True) if settings["average"] else False
    else:
        kwargs["solver"] = mode
    return kwargs


@click.command()
@DATA
@click.option("--label", default=None, help="Label column (0/1, 0.0/1.0 or bool); for HDF5 X/y "
              "files, the label dataset [default: y].")
@click.option("-o", "--output", "output", required=True, metavar="MODEL.json",
              help="Model file to write.")
@click.option("--features", metavar="COL,COL,...", help="Feature columns [default: every numeric "
              "column but the label and a pandas index].")
@click.option("--exclude", metavar="COL,COL,...", help="Columns to leave out of the default "
              "features (e.g. an id).")
@click.option("--y-key", default=None, help="HDF5: label dataset (the same as --label).")
@train_options
@click.option("--history", "history_path", metavar="FILE.csv",
              help="Write the objective per epoch/iteration as CSV.")
@click.option("--plot", "plot_path", metavar="FILE.png",
              help="Draw the objective per epoch/iteration (with --l2/--l1 auto: the held-out "
              "log loss against the penalty).")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_context
def train(ctx, data, label, output, features, exclude, y_key, history_path, plot_path, quiet,
          as_json, **settings):
    """Train a neuron on DATA (Parquet files, folders, globs, URLs, or HDF5 files).

    \b
    Examples:
      streamneuron train data/*.parquet --label clicked -o model.json --epochs 3
      streamneuron train big.h5 -o model.json --batch-size 1024 --checkpoint ckpt/
      streamneuron train big.h5 -o model.json --checkpoint ckpt/ --resume
      streamneuron train s3://bucket/table/ --label y -o model.json --mode gd --workers 4
      streamneuron train big.parquet --label y -o model.json --mode newton
      streamneuron train big.parquet --label y -o tuned.json --init model.json --epochs 2
    """
    mode = settings["mode"]
    if settings["scheduler"] is None and not settings["workers"]:
        from ..warmup import start  # in this process: numba loads meanwhile

        start()
    from ..progress import Progress
    from ..readers import open_source

    check_writable(output, "-o")
    for path, name in ((history_path, "--history"), (plot_path, "--plot")):
        if path:
            check_writable(path, name)
    if plot_path:
        from ..plots import require_matplotlib

        require_matplotlib()
    check_params(**{name: value for name, value in settings.items() if name != "mode"})
    check_modes(mode, given(ctx, settings), settings)
    if settings["cache"] is not None:  # refused before any work (a probe, removed)
        from ..readers.cached import unit_cache

        with unit_cache(settings["cache"]):
            pass
    check_auto_penalty(mode, l2=settings["l2"], l1=settings["l1"], cv=settings["cv"],
                       validation_fraction=settings["validation_fraction"],
                       validation=bool(settings["validation"]))
    source = open_source(list(data), label=label_name(label, y_key), features=split(features),
                         x_key=settings["x_key"], exclude=split(exclude, "--exclude"),
                         weight=settings["weight"], missing=settings["missing"],
                         positive=settings["positive"],
                         categorical=split(settings["categorical"], "--categorical"))
    val_source = None
    if settings["validation"]:
        try:
            val_source = open_source(list(settings["validation"]), label=source.label,
                                     features=source.feature_names, x_key=settings["x_key"],
                                     weight=settings["weight"], missing=settings["missing"],
                                     positive=settings["positive"],
                                     categorical=list(source.categorical) or None)
        except BaseException:
            source.close()
            raise
    from .. import report

    columns = source.columns_report()
    if not quiet:
        for line in report.columns_lines(columns):
            click.echo(line, err=True)
    kwargs = library_arguments(settings, mode)
    with source, val_source or contextlib.nullcontext(), \
            Progress(source.n_rows, "train", quiet=quiet) as bar:
        def say(line: str) -> None:
            if not quiet:
                bar.echo(line)

        if mode == "sgd":
            from ..sgd import fit_sgd

            def on_epoch(row):
                if settings["epochs"] is not None or report.epoch_shown(row["epoch"]):
                    say(report.epoch_line(row))
                bar.reset()

            def on_check(row):
                if settings["validate_every"]:
                    say(report.check_line(row))

            model = fit_sgd(source, **kwargs, validation=val_source, progress=bar,
                            on_epoch=on_epoch, on_check=on_check, notify=say)
        else:
            from ..fullpass import fit_gd

            def on_cluster(link):
                if not quiet:
                    click.echo(f"Dask dashboard: {link}", err=True)

            model = fit_gd(source, **kwargs, progress=lambda row: say(report.iteration_line(row)),
                           on_cluster=on_cluster, validation=val_source)
    history = model.info.get("history", [])
    if history_path:
        from ..atomic import write_text

        write_text(history_path, report.history_csv(history))
    path = model.info.get("path")
    if plot_path:
        from ..plots import plot_objective, plot_path as plot_penalty_path

        if path is not None:
            plot_penalty_path(path, plot_path)
        else:
            plot_objective(history, plot_path)
    model.save(output)
    summary = report.run_summary(model, columns, output=output, rows=source.n_rows,
                                 weight=settings["weight"], l2_given=settings["l2"] is not None)
    if as_json:
        emit_json(summary)
    elif not quiet:
        if path is not None:
            for point in path["points"]:
                click.echo(report.path_line(point, path["penalty"]), err=True)
            click.echo(report.chosen_line(path), err=True)
        for line in report.summary_lines(summary, model.info):
            click.echo(line, err=True)
