"""``streamneuron predict``: probabilities and predictions for every row."""

from __future__ import annotations

import click

from .common import DATA, check_writable, option, reading_for_a_model, split


@click.command()
@click.argument("model_path", metavar="MODEL.json")
@DATA
@click.option("-o", "--output", "output", required=True, metavar="OUT.parquet",
              help="File to write: Parquet, or CSV when its name ends in .csv.")
@click.option("--keep", metavar="COL,...", help="Input columns to copy to the output (e.g. an id).")
@option("x_key")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def predict(model_path, data, output, keep, x_key, quiet):
    """Write probability and prediction (and --keep columns) for every row of DATA.

    \b
    Example:
      streamneuron predict model.json new/*.parquet -o scores.parquet --keep id
      streamneuron predict model.json new.parquet -o scores.csv
    """
    from ..apply import output_format, predict_to_parquet
    from ..neuron import load_model
    from ..progress import Progress
    from ..readers import open_source

    output_format(output)
    check_writable(output, "-o", remote=True)
    model = load_model(model_path)
    with reading_for_a_model():
        source = open_source(list(data), label=None, **model.columns(), x_key=x_key,
                             positional=True)
        with source, Progress(source.n_rows, "predict", quiet=quiet) as bar:
            rows = predict_to_parquet(model, source, output, keep=split(keep) or (),
                                      progress=bar)
    if not quiet:
        click.echo(f"wrote {output} ({rows:,} rows)", err=True)
