"""Turn what the user typed (files, folders, globs, URLs) into a list of files.

Local paths and fsspec URLs (``s3://``, ``gs://``, ``memory://``, ``file://``)
are handled alike through :func:`fsspec.core.url_to_fs`, so credentials,
region and endpoint come from the usual environment variables and config files
(``AWS_ENDPOINT_URL`` included), exactly as s3fs reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import fsspec
from fsspec.core import url_to_fs

from ..errors import DataError

PARQUET_MAGIC = b"PAR1"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the superblock; the signature then sits at
# 512, 1024, 2048, ... bytes. Looking at the first few offsets is enough.
HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096)
GLOB_CHARS = "*?["


@dataclass(frozen=True)
class FileRef:
    """One input file: its user-facing name, its filesystem and path on it."""

    url: str
    fs: fsspec.AbstractFileSystem
    path: str

    @property
    def is_local(self) -> bool:
        return "file" in _protocols(self.fs)

    def open(self):
        """A binary file object (local files: a real OS file)."""
        if self.is_local:
            return open(self.path, "rb")
        return self.fs.open(self.path, "rb")

    def size(self) -> int:
        return int(self.fs.size(self.path))

    def mtime(self) -> float | None:
        if self.is_local:
            return os.stat(self.path).st_mtime
        info = self.fs.info(self.path)
        for key in ("mtime", "LastModified", "last_modified", "updated"):
            if key in info:
                value = info[key]
                return value.timestamp() if hasattr(value, "timestamp") else float(value)
        return None


def _protocols(fs) -> tuple:
    protocol = fs.protocol
    return protocol if isinstance(protocol, tuple) else (protocol,)


def _display(fs, path: str, original: str) -> str:
    if "://" not in original:
        return path if os.path.isabs(original) else os.path.relpath(path)
    protocol = _protocols(fs)[0]
    return f"{protocol}://{path}"


def _is_data_file(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    # Spark, Hive and Dask leave _SUCCESS, _metadata and .crc files beside the data.
    return not base.startswith(("_", ".")) and not base.endswith(".crc")


def expand(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[FileRef]:
    """Expand files, folders (recursively, sorted) and globs into file references.

    Raises :class:`DataError` naming any path that matches nothing.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[FileRef] = []
    for original in map(os.fspath, paths):
        fs, path = url_to_fs(original)
        if any(c in path for c in GLOB_CHARS):
            matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
            if not matches:
                raise DataError(f"{original}: no file matches this pattern")
        elif fs.isdir(path):
            matches = sorted(p for p in fs.find(path) if _is_data_file(p))
            if not matches:
                raise DataError(f"{original}: the folder holds no data files")
        elif fs.exists(path):
            matches = [path]
        else:
            raise DataError(f"{original}: no such file or folder")
        files.extend(FileRef(_display(fs, p, original), fs, p) for p in matches)
    if not files:
        raise DataError("no input files given")
    return files


def sniff_format(ref: FileRef) -> str:
    """``"parquet"`` or ``"hdf5"`` from the file's first bytes, not its name."""
    try:
        with ref.open() as f:
            head = f.read(max(HDF5_SIGNATURE_OFFSETS) + len(HDF5_SIGNATURE))
    except OSError as exc:
        raise DataError(f"{ref.url}: cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise DataError(f"{ref.url}: the file is empty (0 bytes)")
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    for offset in HDF5_SIGNATURE_OFFSETS:
        if head[offset:offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE:
            return "hdf5"
    raise DataError(
        f"{ref.url}: neither Parquet nor HDF5 (the file does not start with the "
        "Parquet magic bytes 'PAR1' or the HDF5 signature)"
    )
