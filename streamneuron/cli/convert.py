"""``streamneuron convert``: CSV to Parquet, streaming."""

from __future__ import annotations

import click

from .common import check_writable, option


@click.command()
@click.argument("src", metavar="IN.csv")
@click.argument("out", metavar="OUT.parquet")
@click.option("--row-group-size", type=int, default=None,
              help="Rows per row group [default: about 128 MiB decoded, 64Ki to 1Mi rows].")
@click.option("--float32", "float32", is_flag=True, help="Store float columns as float32.")
@click.option("--type", "types", multiple=True, metavar="COL=TYPE",
              help="A column's type when the guess from the first rows is wrong (repeatable).")
@option("delimiter")
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
    from ..convert import convert_csv
    from ..progress import Progress

    parsed = {}
    for item in types:
        name, sep, kind = item.partition("=")
        if not sep or not name.strip() or not kind.strip():
            raise click.BadParameter(f"{item!r}: give COLUMN=TYPE", param_hint="--type")
        parsed[name.strip()] = kind.strip()
    check_writable(out, "OUT", remote=True)
    with Progress(None, "convert", quiet=quiet) as bar:
        summary = convert_csv(src, out, row_group_size=row_group_size, float32=float32,
                              types=parsed, delimiter=delimiter, progress=bar)
    if not quiet:
        click.echo(f"wrote {out} ({summary['rows']:,} rows x {summary['columns']} columns, "
                   f"{summary['row_groups']} row group(s) of up to "
                   f"{summary['row_group_size']:,} rows)", err=True)
