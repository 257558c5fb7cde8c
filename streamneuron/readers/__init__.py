"""Readers: Parquet and HDF5 behind one small protocol (:class:`Source`)."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from ..errors import DataError
from .base import Chunk, Source, Unit
from .hdf5 import HDF5Source
from .parquet import ParquetSource
from .paths import FileRef, expand, sniff_format


def open_source(paths: str | os.PathLike | Iterable[str | os.PathLike], label: str | None = "y",
                features: Sequence[str] | None = None, x_key: str = "X",
                y_key: str = "y") -> Source:
    """Open Parquet or HDF5 input, the format chosen by each file's first bytes.

    ``paths``: a file, a folder, a glob, an fsspec URL, or a list of them.
    ``label``: the label column (Parquet; for HDF5 the label is ``y_key``), or
    None to read features only (prediction). ``features``: the feature columns, in
    order; default every numeric column but the label (HDF5: every column of ``X``).
    """
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if features is not None and len(features) == 0:
        raise DataError("--features names no column")
    files = expand(paths)
    formats = {sniff_format(ref): ref for ref in files}
    if len(formats) > 1:
        raise DataError(
            f"{formats['hdf5'].url} is HDF5 but {formats['parquet'].url} is Parquet; "
            "give files of one format"
        )
    if "hdf5" in formats:
        return HDF5Source(files, label=label, x_key=x_key, y_key=y_key, features=features)
    return ParquetSource(files, label=label, features=features)


__all__ = ["open_source", "Source", "Chunk", "Unit", "ParquetSource", "HDF5Source",
           "FileRef", "expand", "sniff_format"]
