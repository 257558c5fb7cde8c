"""``streamneuron evaluate``: streaming metrics of a model on labelled data."""

from __future__ import annotations

import click

from .common import DATA, check_writable, emit_json, label_name, option, reading_for_a_model


@click.command()
@click.argument("model_path", metavar="MODEL.json")
@DATA
@click.option("--label", default=None, help="Label column [default: the model's label].")
@option("x_key")
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
    from ..apply import evaluate as run_evaluate
    from ..apply import evaluation_report
    from ..neuron import load_model
    from ..progress import Progress
    from ..readers import open_source

    if plot_path:
        check_writable(plot_path, "--plot")
        from ..plots import require_matplotlib

        require_matplotlib()
    model = load_model(model_path)
    with reading_for_a_model():
        source = open_source(list(data), label=label_name(label, y_key, model.label or "y"),
                             **model.columns(), x_key=x_key, positional=True,
                             weight=weight)
        with source, Progress(source.n_rows, "evaluate", quiet=quiet) as bar:
            metrics = run_evaluate(model, source, progress=bar)
    report = evaluation_report(model, metrics)
    if plot_path:
        from ..plots import plot_evaluation

        plot_evaluation(metrics, plot_path)
    if as_json:
        emit_json(report)
    else:
        loss_note = ("log loss, the training loss" if report["loss_name"] == "log" else
                     "mse: mean 0.5 (p - y)^2, the training loss")
        if "weight_sum" in report and weight:
            click.echo(f"weights   {report['weight_sum']:.6g} (sum of {weight!r}; the metrics "
                       "below are weighted means)")
        if report.get("skipped"):
            click.echo(f"skipped   {report['skipped']:,} rows with a missing value "
                       "(--missing drop)")
        click.echo(f"rows      {report['rows']:,}\n"
                   f"loss      {report['loss']:.6f}  ({loss_note})\n"
                   f"log_loss  {report['log_loss']:.6f}\n"
                   f"mse       {report['mse']:.6f}  (mean (p - y)^2, the Brier score)\n"
                   f"accuracy  {report['accuracy']:.6f}\n"
                   f"auc       {report['auc']:.6f}  (+/- {report['auc_error_bound']:.1e})")
