"""``streamneuron generate``: synthetic labelled data from a seeded teacher."""

from __future__ import annotations

import click

from .common import option


@click.command()
@click.argument("out", metavar="OUT")
@option("rows", required=True)
@option("features", required=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "hdf5"]), default=None,
              help="[default: from OUT's suffix, else parquet]")
@option("seed", help="Seed of the teacher neuron and the data.")
@option("row_group_size", help="Rows per Parquet row group / HDF5 chunk.")
@option("dtype")
@click.option("--id-column", is_flag=True, help="Parquet: add an int64 'id' column first.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(out, rows, features, fmt, seed, row_group_size, dtype, id_column, quiet):
    """Write synthetic labelled data from a seeded teacher neuron, chunk by chunk.

    \b
    Example:
      streamneuron generate big.parquet --rows 100000000 --features 32
      streamneuron generate big.h5 --rows 1000000 --features 8 --format hdf5
    """
    from ..generate import generate as run_generate
    from ..progress import Progress

    if fmt is None:
        fmt = "hdf5" if out.lower().endswith((".h5", ".hdf5")) else "parquet"
    with Progress(rows, "generate", quiet=quiet) as bar:
        summary = run_generate(out, rows=rows, features=features, format=fmt, seed=seed,
                               row_group_size=row_group_size, dtype=dtype, id_column=id_column,
                               progress=bar)
    if not quiet:
        click.echo(f"wrote {out} ({rows:,} rows x {features} features, {fmt})", err=True)
    return summary
