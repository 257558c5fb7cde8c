"""Text read from a file, checked: Arrow reads a Parquet string column's bytes without
checking them, and a value that is not UTF-8 would fail far from the file (in the levels'
Python strings, or a label's). :func:`text_checked` names the file, row and bytes instead."""

from __future__ import annotations

import pyarrow as pa

from ..errors import DataError


def text_checked(column: pa.ChunkedArray, name: str, where: str) -> pa.ChunkedArray:
    """``column`` if its text is UTF-8 (Arrow's full validation of each chunk's
    dictionary, or of its values when not dictionary-encoded; other types as they are),
    else a :class:`DataError` naming the row and the bytes (Arrow reads a Parquet
    string column's bytes unchecked, and would fail later, far from the file)."""
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return column
    row = 0
    for chunk in column.chunks:
        text = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
        try:
            text.validate(full=True)
        except pa.ArrowInvalid:
            raw = (chunk.cast(pa.large_string()) if text is chunk else
                   chunk.dictionary_decode()).cast(pa.large_binary()).to_pylist()
            for k, value in enumerate(raw):
                if value is not None:
                    try:
                        value.decode("utf-8")
                    except UnicodeDecodeError:
                        raise DataError(
                            f"{where}, row {row + k}: column {name!r} has a value that is not "
                            f"UTF-8 text ({value!r}); re-encode the column as UTF-8 (or store "
                            "integer codes)") from None
            raise DataError(f"{where}: column {name!r} is not valid UTF-8 text") from None
        row += len(chunk)
    return column


__all__ = ["text_checked"]
