"""``streamneuron summary``: the coefficient table of a model.

Registered on the ``streamneuron`` group (:mod:`streamneuron.cli`); errors reach
``cli.main``, which prints them as one ``Error:`` line with exit code 2.
"""

from __future__ import annotations

import json

import click

from .common import option


@click.command("summary")
@click.argument("model_path", metavar="MODEL.json")
@click.argument("data", nargs=-1, required=False, metavar="[DATA...]")
@click.option("--label", default=None, help="Label column [default: the model's label].")
@click.option("--robust", is_flag=True,
              help="Robust (HC0 sandwich) standard errors instead of the inverse Hessian.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--weight", metavar="COL", default=None,
              help="Frequency-weight column [default: the model's training weight column].")
@option("x_key")
@option("scheduler")
@option("workers")
def summary(model_path, data, label, robust, as_json, weight, x_key, scheduler, workers):
    """Coefficients on the original feature scale with standard errors, z, p-values
    and 95% intervals, from one pass over DATA at the model's weights.

    Without DATA: the coefficients only (the standardization undone). The model must
    use the log loss and no --l1; with --l2 > 0 the errors are the penalized fit's
    sandwich (README, "summary").

    \b
    Example:
      streamneuron summary model.json train.parquet
      streamneuron summary model.json train.parquet --robust --json
      streamneuron summary model.json
    """
    from ..inference import open_data
    from ..inference import summary as summarize
    from ..neuron import load_model

    model = load_model(model_path)
    source = None
    if data:
        source = open_data(model, list(data), label=label, weight=weight, x_key=x_key)
    try:
        table = summarize(model, source, robust=robust, scheduler=scheduler, workers=workers)
    finally:
        if source is not None:
            source.close()
    if as_json:
        click.echo(json.dumps(table.to_dict(), indent=1, default=float))
    else:
        click.echo(str(table))
