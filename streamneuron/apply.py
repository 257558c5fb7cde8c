"""Use a trained model on a stream: predictions to Parquet or CSV, streaming metrics.

Both read the input in file order, one unit at a time (prefetched), so memory
stays at a few decoded units whatever the file size.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import kernels
from .atomic import atomic_path
from .errors import DataError, ModelError
from .losses import sigmoid
from .metrics import StreamingMetrics
from .neuron import Neuron
from .readers.base import Source
from .readers.paths import is_url, output_ref
from .stats import raise_nonfinite
from .stream import Position, iter_blocks


def check_model_fits(model: Neuron, source: Source) -> None:
    """ModelError unless the data has the model's features: by name, or, for an
    HDF5 ``X`` without column names, by position when the column count agrees
    (a :class:`~streamneuron.errors.DataWarning` says so: a Parquet-trained model
    with features ``x00..x07`` scores an HDF5 copy of the same data)."""
    source.check_model_columns(model.feature_names)
    if source.feature_names != model.feature_names:
        raise ModelError(
            f"the model was trained on {model.n_features} features "
            f"({', '.join(model.feature_names[:5])}{', ...' if model.n_features > 5 else ''}) "
            f"but the data gives {source.n_features} ({', '.join(source.feature_names[:5])}"
            f"{', ...' if source.n_features > 5 else ''})"
        )


def check_label_values(model: Neuron, source: Source) -> None:
    """The labels read as the model's (``--positive``): ModelError when the source counts
    another value as 1; a source that does not know the other value takes the model's
    (then any third value is an error naming it)."""
    if model.positive is None:
        return
    if source.positive is None or not _same_value(source.positive, model.positive):
        said = "no label value" if source.positive is None else repr(source.positive)
        raise ModelError(f"the model counts label value {model.positive!r} as 1 (and "
                         f"{model.negative!r} as 0) but the data was opened with {said} as 1; "
                         "open it with open_source(..., **model.columns())")
    if source.negative is None and model.negative is not None:
        source.negative = model.negative


def _same_value(a, b) -> bool:
    """Two spellings of one label value: ``"2"`` and ``2.0``, ``"true"`` and ``True``."""
    if str(a).strip().lower() == str(b).strip().lower():
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _logits(model: Neuron, rows_read) -> np.ndarray:
    """The model's logits of some rows read: a decoded unit or a block of the stream."""
    z = np.empty(len(rows_read.X), dtype=np.float64)
    bad = kernels.logits_with_levels(rows_read.X, rows_read.codes, model.weights, model.bias,
                                     model.center, model.inv_scale, z)
    if bad >= 0:
        raise_nonfinite(model.feature_names, rows_read, bad)
        raise DataError(f"{rows_read.describe_row(bad)[0]}: a logit overflowed")
    return z


# Filesystems whose writes we stream and commit or abort ourselves: an S3 upload
# (opened with autocommit=False) is a multipart upload that becomes an object only
# when completed, and is aborted on error. Any other remote filesystem is written
# through a local temporary file, uploaded whole once complete.
STREAMED_PROTOCOLS = ("s3", "s3a")


@contextlib.contextmanager
def parquet_sink(out: str | os.PathLike) -> Iterator:
    """Yield where a ParquetWriter should write ``out``; commit only on success.

    ``out``: a local path or an fsspec URL (``file://``, ``s3://``, ``memory://``,
    ...). Local files are written to a temporary file beside the target and
    renamed; S3 objects are streamed as a multipart upload, completed at the end
    and aborted on error (no partial object is ever visible); other remote
    filesystems get a local temporary file (in ``TMPDIR``), uploaded with
    ``fs.put_file`` once complete. Either way a failure leaves no output and an
    existing output untouched.
    """
    ref = output_ref(out)
    if ref.is_local:
        with atomic_path(ref.path if is_url(out) else out) as tmp:
            yield tmp
        return
    protocols = ref.fs.protocol if isinstance(ref.fs.protocol, tuple) else (ref.fs.protocol,)
    if any(p in STREAMED_PROTOCOLS for p in protocols):
        f = ref.fs.open(ref.path, "wb", autocommit=False)
        # fsspec files the deferred file under the (shared, cached) filesystem's
        # transaction; we commit or discard it ourselves, so take it back out.
        transaction = getattr(ref.fs, "_transaction", None)
        if transaction is not None and not ref.fs._intrans:
            with contextlib.suppress(ValueError):
                transaction.files.remove(f)
        try:
            yield f
            f.close()  # uploads the last part; with autocommit=False nothing is visible yet
            f.commit()  # completes the multipart upload: the object appears, whole
        except BaseException:
            with contextlib.suppress(Exception):
                f.discard()  # aborts the multipart upload
            f.closed = True  # never let close() (or __del__) start an upload now
            raise
        return
    fd, tmp = tempfile.mkstemp(prefix="streamneuron-", suffix=".parquet")
    os.close(fd)
    try:
        yield tmp
        ref.fs.put_file(tmp, ref.path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# Output names by suffix: what predict writes. Any other suffix is refused rather
# than a Parquet file written under a name that says otherwise.
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


def output_format(out: str | os.PathLike) -> str:
    """``"csv"`` or ``"parquet"`` from ``out``'s suffix (no suffix: Parquet);
    DataError for any other suffix (``scores.json``, ``scores.csv.gz``, ...)."""
    name = os.fspath(out).rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES) or "." not in name.lstrip("."):
        return "parquet"
    suffix = name[name.index(".", 1):] if "." in name[1:] else name
    raise DataError(f"{os.fspath(out)}: predict writes Parquet (.parquet) or CSV (.csv), not "
                    f"{suffix!r} files; name the output accordingly")


def predict_to_parquet(model: Neuron, source: Source, out: str | os.PathLike, *,
                       keep: Sequence[str] = (),
                       progress: Callable[[int], None] | None = None,
                       format: str | None = None) -> int:
    """Write ``probability``, ``prediction`` and the ``keep`` columns to Parquet
    (or CSV: ``format="csv"``, default from ``out``'s suffix, see :func:`output_format`).

    One output row group (CSV: one batch of lines) per input unit. ``out`` may be
    an fsspec URL (``s3://bucket/scores.parquet``); see :func:`parquet_sink`: a
    failure leaves no partial output, locally or remotely. Returns the number of rows.
    """
    fmt = format or output_format(out)
    check_model_fits(model, source)
    keep = list(keep)
    for name in keep:
        if name in ("probability", "prediction"):
            raise DataError(f"--keep {name}: that name is taken by an output column")
    source.check_keep(keep)
    rows = 0
    with parquet_sink(out) as tmp:
        writer = None
        try:
            for unit in range(len(source.units)):
                decoded = source.read(unit, keep=keep)
                z = _logits(model, decoded)
                columns = {"probability": sigmoid(z),
                           "prediction": (z >= 0.0).astype(np.int8)}
                if source.missing == "drop":  # a row with a missing value: no prediction
                    dropped = decoded.w == 0.0
                    columns = {k: pa.array(v, mask=dropped) for k, v in columns.items()}
                columns.update(decoded.extra)
                table = pa.table(columns)
                if writer is None:
                    if fmt == "csv":
                        import pyarrow.csv as pacsv

                        writer = pacsv.CSVWriter(tmp, table.schema)
                    else:
                        writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                rows += len(z)
                if progress is not None:
                    progress(len(z))
        finally:
            if writer is not None:
                writer.close()
    return rows


def evaluate(model: Neuron, source: Source, *,
             progress: Callable[[int], None] | None = None) -> StreamingMetrics:
    """Streaming metrics of ``model`` on a labelled ``source`` (log loss, mse, accuracy,
    AUC); weighted by the source's weight column, if it has one."""
    check_model_fits(model, source)
    if source.label is None:
        raise DataError("evaluate needs a label column")
    check_label_values(model, source)
    weighted = source.weighted
    metrics = StreamingMetrics(weighted=weighted)
    metrics.skipped = 0  # --missing drop: the rows with a missing value
    total = 0.0  # the weights' sum
    for block in iter_blocks(source, Position(), epochs=1, shuffle=False, seed=0):
        if source.missing == "drop":
            metrics.skipped += int(np.count_nonzero(block.w == 0.0))
        z = _logits(model, block)
        metrics.update(sigmoid(z), block.y, logit=z, sample_weight=block.w if weighted else None)
        total = metrics.total_weight
        if progress is not None:
            progress(len(z))
    if weighted:
        from .weighting import check_total, describe_weights

        check_total(total, f"evaluate: {describe_weights(source)}")
    return metrics


def evaluation_report(model: Neuron, metrics: StreamingMetrics) -> dict:
    """The ``evaluate --json`` object: rows, loss (the model's loss), log_loss, mse, accuracy, auc, ..."""
    result = metrics.result()
    # "loss" is the loss the model was trained with, exactly as it defines it (the
    # loss's own from_metrics: the log loss, or the article's 0.5 (p - y)^2, half the
    # "mse" (= "brier", as scikit-learn computes them) reported beside it).
    loss = model.loss_fn.from_metrics(result)
    out = {"rows": result["rows"], "loss": loss, "loss_name": model.loss_name, **result}
    if getattr(metrics, "skipped", 0):
        # (--missing drop: rows with a missing value, read at weight 0 and not evaluated)
        out["skipped"] = metrics.skipped
        out["rows"] = result["rows"] - metrics.skipped
    return out
