"""``streamneuron convert IN.csv OUT.parquet``: CSV to Parquet in bounded memory.

Training reads Parquet (or HDF5) one row group at a time; CSV has no row groups
and must be parsed in full on every pass, so it is converted once. pyarrow's
streaming CSV reader parses ``BLOCK_BYTES`` of text at a time, and the batches
are gathered into row groups of ``row_group_size`` rows before they are
written: memory holds about one row group, whatever the file size.

The row-group size is chosen for training: training holds about three decoded
row groups (see the README's Memory section), so a row group decodes to about
``TARGET_GROUP_BYTES``, within ``[MIN_GROUP_ROWS, MAX_GROUP_ROWS]`` rows.

Column types are inferred by pyarrow from the first block of the file; a column
that looks like integers there but holds ``1.5`` further on fails with a
message naming it, and ``types={"col": "float64"}`` (``--type col=float64``)
fixes it.
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

from .errors import ConfigError, DataError
from .params import DEFAULT
from .readers.base import columns_are

BLOCK_BYTES = 4 << 20  # CSV text parsed at once
TARGET_GROUP_BYTES = 128 << 20  # decoded bytes of one row group
MIN_GROUP_ROWS = 1 << 16
MAX_GROUP_ROWS = 1 << 20
# Bytes per value assumed for a column of no fixed width (strings) when sizing row groups.
VARIABLE_WIDTH_BYTES = 16


def choose_row_group_rows(schema) -> int:
    """Rows per row group so that one decodes to about TARGET_GROUP_BYTES."""
    import pyarrow as pa

    row_bytes = 0
    for field in schema:
        try:
            row_bytes += max(1, field.type.bit_width // 8)
        except ValueError:  # strings and other variable-width types
            row_bytes += VARIABLE_WIDTH_BYTES
        if pa.types.is_boolean(field.type):
            row_bytes += 1
    rows = TARGET_GROUP_BYTES // max(1, row_bytes)
    return int(min(MAX_GROUP_ROWS, max(MIN_GROUP_ROWS, rows)))


def _parse_types(types: Mapping[str, str] | None) -> dict:
    import pyarrow as pa

    out = {}
    for name, text in (types or {}).items():
        try:
            out[name] = pa.type_for_alias(text)
        except (ValueError, KeyError):
            raise ConfigError(f"--type {name}={text}: unknown type; use e.g. float64, float32, "
                              "int64, bool, string") from None
    return out


def convert_csv(src: str | os.PathLike, out: str | os.PathLike, *,
                row_group_size: int | None = None, float32: bool = False,
                types: Mapping[str, str] | None = None, delimiter: str = DEFAULT.delimiter,
                progress: Callable[[int], None] | None = None) -> dict:
    """Convert the CSV file ``src`` (optionally .gz/.bz2/.zst compressed) to the
    Parquet file ``out``, written atomically (no partial output on failure).

    ``float32``: store float columns as float32 (half the memory and I/O for
    training; a neuron needs no more precision). ``types``: column name -> type
    name for columns whose inferred type is wrong. Returns ``{"rows",
    "columns", "row_groups", "row_group_size"}``.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from .apply import output_format, parquet_sink
    from .readers.paths import expand

    if row_group_size is not None and row_group_size < 1:
        raise ConfigError(f"--row-group-size must be at least 1, got {row_group_size}")
    if len(delimiter) != 1:
        raise ConfigError(f"--delimiter must be one character, got {delimiter!r}")
    if output_format(out) != "parquet":
        raise DataError(f"{os.fspath(out)}: convert writes Parquet; name the output .parquet")
    files = expand([src])
    if len(files) != 1:
        raise DataError(f"{os.fspath(src)}: names {len(files)} files; convert one CSV file at "
                        "a time")
    ref = files[0]
    column_types = _parse_types(types)
    stream = pa.input_stream(ref.path, compression="detect") if ref.is_local else ref.open()
    try:
        try:
            reader = pacsv.open_csv(
                stream, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(column_types=column_types))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{ref.url}: not a readable CSV file ({_first_line(exc)})") from None
        schema = reader.schema
        missing = [n for n in column_types if n not in schema.names]
        if missing:
            raise DataError(f"{ref.url}: --type names no column {missing[0]!r}; "
                            f"{columns_are(schema.names, missing[0])}")
        if float32:
            schema = pa.schema([pa.field(f.name, pa.float32()) if pa.types.is_float64(f.type)
                                and f.name not in column_types else f for f in schema])
        rows_per_group = row_group_size or choose_row_group_rows(schema)
        rows = groups = 0
        with parquet_sink(out) as tmp:
            writer = pq.ParquetWriter(tmp, schema)
            try:
                pending: list = []
                pending_rows = 0
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                    except (pa.ArrowInvalid, OSError) as exc:
                        raise DataError(_conversion_error(ref.url, rows + pending_rows, exc,
                                                          schema.names)) from None
                    if float32:
                        batch = batch.cast(schema)
                    pending.append(batch)
                    pending_rows += batch.num_rows
                    while pending_rows >= rows_per_group:
                        table = pa.Table.from_batches(pending, schema=schema)
                        writer.write_table(table.slice(0, rows_per_group),
                                           row_group_size=rows_per_group)
                        rest = table.slice(rows_per_group)
                        pending, pending_rows = rest.to_batches(), rest.num_rows
                        rows += rows_per_group
                        groups += 1
                        if progress is not None:
                            progress(rows_per_group)
                if pending_rows:
                    writer.write_table(pa.Table.from_batches(pending, schema=schema),
                                       row_group_size=rows_per_group)
                    rows += pending_rows
                    groups += 1
                    if progress is not None:
                        progress(pending_rows)
            finally:
                writer.close()
            if rows == 0:
                raise DataError(f"{ref.url}: the CSV file has a header but no rows")
    finally:
        stream.close()
    return {"rows": rows, "columns": len(schema), "row_groups": groups,
            "row_group_size": rows_per_group}


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _conversion_error(url: str, row: int, exc: Exception, names: list[str]) -> str:
    """One line: where, what, and the flag that fixes a wrongly guessed type."""
    import re

    text = _first_line(exc)
    column = re.search(r"CSV column #(\d+)", text)
    name = names[int(column.group(1))] if column and int(column.group(1)) < len(names) else None
    if name is not None:
        text = text.replace(column.group(0), f"CSV column {name!r}")
    hint = ""
    match = re.search(r"CSV conversion error to (\w+)", text)
    if match:
        hint = (f"; its type ({match.group(1)}) was guessed from the first rows: give it with "
                f"--type {name or 'COLUMN'}=float64 (or =string)")
    return f"{url}: after row {row:,}: {text}{hint}"
