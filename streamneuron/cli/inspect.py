"""``streamneuron inspect``: what is in the data, before training."""

from __future__ import annotations

import click

from .common import DATA, emit_json, label_name, option, split


@click.command()
@DATA
@click.option("--label", default=None, help="Label column, for the class balance [default: y].")
@option("x_key")
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
    from ..inspect import format_report, inspect_paths

    report = inspect_paths(list(data), label=label_name(label, y_key), x_key=x_key,
                           exclude=split(exclude, "--exclude"))
    if as_json:
        emit_json(report)
    else:
        click.echo(format_report(report, all_columns=all_columns))
