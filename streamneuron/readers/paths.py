"""Turn what the user typed (files, folders, globs, URLs) into a list of files.

Local paths and fsspec URLs (``s3://``, ``gs://``, ``memory://``, ``file://``)
are handled alike through :func:`fsspec.core.url_to_fs`. For ``s3://``, s3fs
(through aiobotocore/botocore) takes credentials, region and endpoint from the
standard AWS environment variables and config files, exactly as boto3 does:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_PROFILE``, ``AWS_DEFAULT_REGION``, ``~/.aws/config`` and
``~/.aws/credentials``, instance roles, and ``AWS_ENDPOINT_URL`` /
``AWS_ENDPOINT_URL_S3`` for S3-compatible stores (MinIO, Ceph, moto). fsspec's
own ``FSSPEC_S3_<OPTION>`` variables pass further options (e.g.
``FSSPEC_S3_ANON=true``).

Remote reads stay bounded in memory and in bytes moved: Parquet files are read
without a cache, so each column chunk of a row group is one HTTP range request
(nothing else of the object is fetched); HDF5 files, which h5py reads in many
small pieces, go through an LRU cache of ``HDF5_CACHE_BLOCKS`` blocks of
``HDF5_CACHE_BLOCK_SIZE`` bytes (at most 32 MiB per open file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..errors import DataError

if TYPE_CHECKING:
    import fsspec

PARQUET_MAGIC = b"PAR1"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the superblock; the signature then sits at
# 512, 1024, 2048, ... bytes. Looking at the first few offsets is enough.
HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096)
GLOB_CHARS = "*?["

# Remote HDF5: h5py reads metadata and chunks in many small, scattered pieces;
# an LRU block cache turns them into few range requests (measured on moto: 13
# requests for a 13 MB file read in row slices, against 109 without a cache and
# one 50 MB read-ahead per seek with s3fs's default). Memory: blocks x size.
HDF5_CACHE_BLOCK_SIZE = 4 << 20
HDF5_CACHE_BLOCKS = 8
# Object stores whose "folders" are only key prefixes: writing needs the bucket,
# not a parent folder.
OBJECT_STORES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss")


@dataclass(frozen=True)
class FileRef:
    """One input file: its user-facing name, its filesystem and path on it.

    ``folder``: the folder as the user typed it when the file was found by listing
    it (messages then say how to leave a stray file out). ``kind`` is ``"parquet"`` or ``"hdf5"`` once :func:`sniff_format` has looked
    at the file (set by :func:`~streamneuron.readers.open_source`); it chooses
    how a remote file is cached when opened. ``filesystem`` is None for a plain
    local file named by its path (fsspec, ~0.1 s of imports, is then not needed
    unless :attr:`fs` is asked for).
    """

    url: str
    path: str
    kind: str = ""
    filesystem: fsspec.AbstractFileSystem | None = None
    folder: str = ""  # the folder the user named, when the file was found in one

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.filesystem is None:
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem()
        return self.filesystem

    @property
    def is_local(self) -> bool:
        return self.filesystem is None or "file" in _protocols(self.filesystem)

    def open(self, cache: str | None = None):
        """A binary file object (local files: a real OS file).

        Remote files: ``cache="none"`` makes every ``read`` one range request of
        exactly the bytes asked for (right for Parquet, whose reader asks for whole
        column chunks); ``cache="block"`` keeps an LRU of a few MiB blocks (right
        for HDF5's many small reads). Default: by ``kind`` (``"none"`` for
        Parquet, ``"block"`` otherwise).
        """
        if self.is_local:
            return open(self.path, "rb")
        if cache is None:
            cache = "none" if self.kind == "parquet" else "block"
        if cache == "none":
            options = {"cache_type": "none"}
        elif cache == "block":
            options = {"cache_type": "blockcache", "block_size": HDF5_CACHE_BLOCK_SIZE,
                       "cache_options": {"maxblocks": HDF5_CACHE_BLOCKS}}
        else:
            raise ValueError(f"cache must be 'none' or 'block', got {cache!r}")
        try:
            return self.fs.open(self.path, "rb", **options)
        except TypeError:  # a filesystem without fsspec's cache options
            return self.fs.open(self.path, "rb")

    def size(self) -> int:
        if self.filesystem is None:
            return os.stat(self.path).st_size
        return int(self.fs.size(self.path))

    def mtime(self) -> float | None:
        if self.is_local:
            return os.stat(self.path).st_mtime
        info = self.fs.info(self.path)
        for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "created"):
            if key in info:
                value = info[key]
                return value.timestamp() if hasattr(value, "timestamp") else float(value)
        return None


def _protocols(fs) -> tuple:
    protocol = fs.protocol
    return protocol if isinstance(protocol, tuple) else (protocol,)


def is_url(path: str | os.PathLike) -> bool:
    """True for ``protocol://...`` (``file://`` included), False for a plain path."""
    return "://" in os.fspath(path)


def _plain_local_file(original: str) -> str | None:
    """The absolute path of a plain local file (no URL, glob or ``~``; not a
    folder), spelled as fsspec's local filesystem spells it; else None."""
    if os.sep != "/" or is_url(original) or original.startswith("~") or \
            any(c in original for c in GLOB_CHARS):
        return None
    path = original
    if not path.startswith("/"):
        if path.startswith("./"):
            path = path[2:]
        path = f"{os.getcwd()}/{path}"
    if len(path) > 1:
        path = path.rstrip("/")
    return path if os.path.isfile(path) else None


def _resolve(original: str):
    """``(fs, path)`` of a path or URL; DataError for an unknown or uninstalled protocol."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(original)
    except ImportError as exc:  # e.g. gs:// without gcsfs
        raise DataError(f"{original}: {exc}") from None
    except ValueError as exc:  # "Protocol not known: foo"
        raise DataError(f"{original}: {exc}") from None


def _display(fs, path: str, original: str) -> str:
    """The name used in messages, and the URL a Dask worker reopens."""
    if not is_url(original):
        return path if os.path.isabs(original) else os.path.relpath(path)
    return fs.unstrip_protocol(path)


# What a data folder holds beside its data, skipped when the folder is listed: the
# rule of pyarrow.dataset's discovery (``ignore_prefixes``, default ``['.', '_']``,
# applied to every part of the path below the folder, so ``_temporary/`` and
# ``.ipynb_checkpoints/`` are skipped with all they hold) and of Spark/Hadoop's
# hidden-path filter. It covers Spark's ``_SUCCESS`` and ``_temporary/``, the
# ``_metadata`` / ``_common_metadata`` summaries of Dask and Hive, Hadoop's
# ``.part-0.parquet.crc`` checksums and macOS's ``.DS_Store``. A ``.crc`` file is
# skipped whatever its name.
IGNORE_PREFIXES = (".", "_")
IGNORE_SUFFIXES = (".crc",)


def _is_data_file(name: str, folder: str = "") -> bool:
    """Whether a file found by listing ``folder`` may be data (not a hidden file,
    nor in a hidden folder below ``folder``)."""
    relative = name[len(folder):] if folder and name.startswith(folder) else name
    parts = [p for p in relative.split("/") if p]
    if not parts:
        return True
    return (not any(p.startswith(IGNORE_PREFIXES) for p in parts)
            and not parts[-1].endswith(IGNORE_SUFFIXES))


def _match(fs, path: str, original: str) -> tuple[list[str], bool]:
    """The files ``path`` names, and whether it named a folder."""
    if any(c in path for c in GLOB_CHARS):
        matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
        if not matches:
            raise DataError(f"{original}: no file matches this pattern")
    elif fs.isdir(path):
        matches = sorted(p for p in fs.find(path) if _is_data_file(p, path.rstrip("/") + "/"))
        if not matches:
            raise DataError(f"{original}: the folder holds no data files")
        return matches, True
    elif fs.exists(path):
        matches = [path]
    else:
        raise DataError(f"{original}: no such file or folder")
    return matches, False


def expand(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[FileRef]:
    """Expand files, folders (recursively, sorted) and globs into file references.

    Raises :class:`DataError` naming any path that matches nothing, and any URL
    whose storage cannot be listed (unknown protocol, missing credentials, ...).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[FileRef] = []
    for original in map(os.fspath, paths):
        plain = _plain_local_file(original)
        if plain is not None:
            files.append(FileRef(_display(None, plain, original), plain))
            continue
        fs, path = _resolve(original)
        local = "file" in _protocols(fs)
        if not local:
            # A long-lived process (a notebook, a Dask worker) must see objects
            # written since its last listing: s3fs caches listings forever.
            fs.invalidate_cache()
        try:
            matches, is_folder = _match(fs, path, original)
        except DataError:
            raise
        except Exception as exc:  # PermissionError, botocore's NoCredentialsError, ...
            if local:
                raise
            raise DataError(f"{original}: cannot be listed ({type(exc).__name__}: {exc})") from None
        folder = original if is_folder else ""
        files.extend(FileRef(original if p == path and is_url(original) else
                             _display(fs, p, original), p, filesystem=fs, folder=folder)
                     for p in matches)
    if not files:
        raise DataError("no input files given")
    return files


def _leave_out(ref: FileRef) -> str:
    """For a file found by listing a folder: how to read the folder's data without
    it (a stray README, a schema, a CSV export beside the data), else ''."""
    if not ref.folder:
        return ""
    folder = ref.folder.rstrip("/") or "/"
    below = ref.url[len(folder):].lstrip("/") if ref.url.startswith(folder) else ""
    pattern = f"{folder}/**/*.parquet" if "/" in below else f"{folder}/*.parquet"
    name = below or ref.url.rsplit("/", 1)[-1]
    if name.endswith(".parquet"):  # (the glob would still take it)
        return (f"; it is in the folder {ref.folder}, which is read whole: delete {name} or "
                "move it out of the folder")
    return (f"; it is in the folder {ref.folder}, which is read whole: leave it out by naming "
            f"the data files with a glob, e.g. '{pattern}' (or move {name} out of the folder)")


def sniff_format(ref: FileRef) -> str:
    """``"parquet"`` or ``"hdf5"`` from the file's first bytes, not its name."""
    try:
        with ref.open(cache="none") as f:
            head = f.read(max(HDF5_SIGNATURE_OFFSETS) + len(HDF5_SIGNATURE))
    except OSError as exc:
        raise DataError(f"{ref.url}: cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise DataError(f"{ref.url}: the file is empty (0 bytes){_leave_out(ref)}")
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    for offset in HDF5_SIGNATURE_OFFSETS:
        if head[offset:offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE:
            return "hdf5"
    what = (f"{ref.url}: neither Parquet nor HDF5 (the file does not start with the "
            "Parquet magic bytes 'PAR1' or the HDF5 signature)")
    if ref.folder:
        raise DataError(what + _leave_out(ref))
    raise DataError(f"{what}; for a CSV file, convert it first: streamneuron convert "
                    f"{ref.url} OUT.parquet")


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


def output_ref(target: str | os.PathLike) -> FileRef:
    """Where an output goes: a local path, or a file on an fsspec filesystem."""
    target = os.fspath(target)
    fs, path = _resolve(target)
    return FileRef(target, path, filesystem=fs)


def check_output_url(target: str) -> str | None:
    """Why ``target`` (a URL) cannot be written, or None if it looks writable.

    Cheap checks only, and only definite answers: the bucket of an object store
    must exist, and the path must not be a folder (a prefix with objects under
    it). A check that is refused (no list permission) passes: the write may
    still be allowed. Local ``file://`` URLs get the local checks of the caller.
    """
    try:
        ref = output_ref(target)
    except DataError as exc:
        return str(exc)
    fs, path = ref.fs, ref.path.rstrip("/")
    protocols = _protocols(fs)
    try:
        if any(p in OBJECT_STORES for p in protocols):
            bucket, _, key = path.partition("/")
            if not key:
                return f"{target}: names a bucket, not a file; give {protocols[0]}://BUCKET/KEY"
            if hasattr(fs, "call_s3"):
                # s3fs's exists() answers False for any failure (no credentials, no
                # endpoint); ask HeadBucket and tell its answers apart.
                try:
                    fs.call_s3("head_bucket", Bucket=bucket)
                except FileNotFoundError:
                    return f"{target}: the bucket {bucket!r} does not exist"
        fs.invalidate_cache(path)
        if fs.isdir(path):
            return f"{target} is a folder, not a file"
    except PermissionError:  # the write itself may still be allowed
        return None
    except Exception as exc:  # no credentials, endpoint unreachable, ...
        return f"{target}: cannot reach the storage ({type(exc).__name__}: {exc})"
    return None
