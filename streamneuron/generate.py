"""Synthetic data from a seeded "teacher" neuron, written chunk by chunk.

The teacher is a neuron over *standardized* features. With ``d`` features::

    m_j ~ U(-2, 2)          s_j ~ U(0.5, 3)             (column mean and scale)
    w*  = g * T / ||g||,    g ~ N(0, I_d)               (isotropic direction, ||w*|| = T)
    b*  ~ N(0, B**2)

and every row is drawn as::

    z ~ N(0, I_d)           x = m + s * z               (the raw features written)
    y ~ Bernoulli(sigmoid(z . w* + b*))

so the logit ``z . w*`` has standard deviation exactly ``T`` (``TEACHER_LOGIT_STD``)
whatever ``d`` is: the classes are learnable but not separable, and, with
``b*`` small, about balanced. The varied means and scales make standardization
matter. In raw space the same teacher reads::

    logit = x . (w* / s) + (b* - sum_j w*_j m_j / s_j)

(``raw_weights``, ``raw_bias`` in the summary), which is what a model trained
with ``--no-standardize`` should approach.

Reproducibility: the teacher comes from ``np.random.default_rng(seed)``; rows
are produced in generation chunks of ``chunk_rows`` rows, chunk ``k`` from its
own ``np.random.default_rng([seed, k])``. The rows are therefore a pure
function of ``(rows, features, seed, chunk_rows)``: the file format, the row
group size and ``dtype`` (float32 is the float64 data rounded) do not change
them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from .atomic import atomic_path
from .errors import ConfigError
from .params import DEFAULT, check_params

__all__ = ["Teacher", "make_teacher", "generate", "FORMATS", "DTYPES", "LABEL_DTYPES"]

FORMATS = ("parquet", "hdf5")
DTYPES = ("float32", "float64")
LABEL_DTYPES = ("int8", "int32", "int64", "float32", "float64", "bool")

# Teacher distribution (see the module docstring).
FEATURE_MEAN_RANGE = (-2.0, 2.0)
FEATURE_SCALE_RANGE = (0.5, 3.0)
TEACHER_LOGIT_STD = 2.0  # T: std of the standardized logit; Bayes accuracy ~ 0.8
TEACHER_BIAS_STD = 0.25  # B: a small bias keeps the classes roughly balanced

# Generation chunks: at most this many rows, and at most this many bytes of
# float64 working array, so that a very wide table still fits a small chunk.
DEFAULT_CHUNK_ROWS = 1 << 16
CHUNK_TARGET_BYTES = 64 << 20

# HDF5 refuses chunks of 4 GiB or more.
HDF5_MAX_CHUNK_BYTES = (1 << 32) - 1

PARQUET_COMPRESSION = "snappy"
ID_COLUMN = "id"
METADATA_KEY = b"streamneuron.generate"


@dataclass(frozen=True)
class Teacher:
    """The neuron that labels the data: ``p = sigmoid(((x - means) / scales) . weights + bias)``."""

    weights: np.ndarray  # (d,) float64, standardized space
    bias: float
    means: np.ndarray  # (d,) float64
    scales: np.ndarray  # (d,) float64

    @property
    def raw_weights(self) -> np.ndarray:
        """Weights on the raw features: ``w*_j / s_j``."""
        return self.weights / self.scales

    @property
    def raw_bias(self) -> float:
        """Bias on the raw features: ``b* - sum_j w*_j m_j / s_j``."""
        return float(self.bias - np.dot(self.raw_weights, self.means))

    def to_dict(self) -> dict[str, Any]:
        """Plain floats and lists, ready for JSON."""
        return {
            "weights": self.weights.tolist(),
            "bias": float(self.bias),
            "raw_weights": self.raw_weights.tolist(),
            "raw_bias": self.raw_bias,
            "feature_means": self.means.tolist(),
            "feature_scales": self.scales.tolist(),
        }


def make_teacher(features: int, seed: int = DEFAULT.seed) -> Teacher:
    """The teacher that :func:`generate` uses for ``(features, seed)``."""
    check_params(features=features, seed=seed)
    rng = np.random.default_rng(seed)
    # Draw order is part of the output's definition: do not reorder.
    means = rng.uniform(*FEATURE_MEAN_RANGE, size=features)
    scales = rng.uniform(*FEATURE_SCALE_RANGE, size=features)
    g = rng.standard_normal(features)
    # Normalising (rather than w ~ N(0, T^2/d)) keeps the logit spread exactly T,
    # so a small d can never give a near-zero teacher and pure-noise labels.
    norm = float(np.linalg.norm(g))
    weights = g * (TEACHER_LOGIT_STD / norm) if norm > 0 else np.full(features, TEACHER_LOGIT_STD / math.sqrt(features))
    bias = float(rng.normal(0.0, TEACHER_BIAS_STD))
    return Teacher(weights=weights, bias=bias, means=means, scales=scales)


def generate(
    out: str | os.PathLike,
    *,
    rows: int,
    features: int,
    format: str = "parquet",
    seed: int = DEFAULT.seed,
    row_group_size: int = DEFAULT.row_group_size,
    dtype: str = DEFAULT.dtype,
    label: str = "y",
    chunk_rows: int | None = None,
    progress: Callable[[int], Any] | None = None,
    id_column: bool = False,
    label_dtype: str = "int8",
) -> dict[str, Any]:
    """Write ``rows`` rows from the teacher neuron to ``out`` and return a summary.

    Parquet: columns ``x0..x{d-1}`` (``dtype``), the label column (``label_dtype``,
    0/1) and, with ``id_column``, an int64 ``id`` (the row number) placed first;
    one row group per ``row_group_size`` rows (the last one shorter), snappy.

    HDF5: dataset ``X`` (rows x d, ``dtype``, chunks of ``(min(row_group_size,
    rows), d)`` rows, capped at HDF5's 4 GiB chunk limit) with attribute
    ``feature_names``, dataset ``label`` (``"y"`` by default; rows,) and, with
    ``id_column``, dataset ``id``.

    The output appears atomically: rows go to a hidden temporary file in the
    same folder, renamed over ``out`` only when complete; on any error,
    KeyboardInterrupt included, the temporary file is removed and an existing
    ``out`` is left untouched.

    Memory: peak is one row group / HDF5 chunk (``row_group_size x d`` in
    ``dtype``, the unit a Parquet writer must buffer anyway) plus one generation
    chunk (``chunk_rows x d`` float64); it never depends on ``rows``.

    ``chunk_rows`` (default: ``DEFAULT_CHUNK_ROWS``, fewer for very wide tables)
    fixes the random streams; see the module docstring. ``progress``, if given,
    is called as ``progress(total_rows_written_so_far)`` after each row group /
    HDF5 chunk is written (for tqdm: ``lambda n: bar.update(n - bar.n)``).

    Returns: ``path, format, rows, features, feature_names, label, dtype,
    label_dtype, id_column, seed, chunk_rows, n_chunks, row_group_size,
    row_groups, positive_fraction, teacher`` (see :meth:`Teacher.to_dict`).
    """
    check_params(rows=rows, features=features, row_group_size=row_group_size, seed=seed,
                 chunk_rows=chunk_rows)
    fmt = _choice("format", format, FORMATS)
    dtype = _choice("dtype", dtype, DTYPES)
    label_dtype = _choice("label_dtype", label_dtype, LABEL_DTYPES)
    if chunk_rows is None:
        chunk_rows = default_chunk_rows(features)
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable taking the number of rows written, got {progress!r}")
    feature_names = [f"x{j}" for j in range(features)]
    _check_label(label, feature_names, fmt, bool(id_column))
    path = _check_out(out)

    teacher = make_teacher(features, seed)
    if fmt == "hdf5":
        # HDF5 chunks must stay under 4 GiB; the row group is then one HDF5 chunk.
        cap = max(1, HDF5_MAX_CHUNK_BYTES // (np.dtype(dtype).itemsize * features))
        block_rows = min(row_group_size, rows, cap)
    else:
        block_rows = min(row_group_size, rows)
    n_blocks = -(-rows // block_rows)

    summary: dict[str, Any] = {
        "path": path,
        "format": fmt,
        "rows": rows,
        "features": features,
        "feature_names": feature_names,
        "label": label,
        "dtype": dtype,
        "label_dtype": label_dtype,
        "id_column": bool(id_column),
        "seed": seed,
        "chunk_rows": chunk_rows,
        "n_chunks": -(-rows // chunk_rows),
        "row_group_size": block_rows,
        "row_groups": n_blocks,
        "teacher": teacher.to_dict(),
    }
    blocks = _blocks(teacher, seed, rows, chunk_rows, block_rows, np.dtype(dtype),
                     columns_first=(fmt == "parquet"))
    writer = _write_parquet if fmt == "parquet" else _write_hdf5

    # Never leave a partial output, whatever stops us (Ctrl-C included).
    with atomic_path(path) as tmp:
        positives = writer(tmp, blocks, summary, progress)
    summary["positive_fraction"] = positives / rows
    return summary


def default_chunk_rows(features: int) -> int:
    """``min(DEFAULT_CHUNK_ROWS, CHUNK_TARGET_BYTES / (8 d))``, at least 1."""
    return max(1, min(DEFAULT_CHUNK_ROWS, CHUNK_TARGET_BYTES // (8 * features)))


# --------------------------------------------------------------------------- rows


def _chunk(teacher: Teacher, seed: int, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Generation chunk ``index``: raw features ``(n, d)`` float64 and labels ``(n,)`` bool."""
    rng = np.random.default_rng([seed, index])
    # Draw order is part of the output's definition: z first, then the uniforms.
    z = rng.standard_normal((n, teacher.weights.size))
    u = rng.random(n)
    logit = z @ teacher.weights + teacher.bias
    # sigmoid(t) = exp(-log(1 + exp(-t))): no overflow for any t.
    y = u < np.exp(-np.logaddexp(0.0, -logit))
    z *= teacher.scales  # in place: x = m + s * z without a second (n, d) array
    z += teacher.means
    return z, y


def _blocks(teacher: Teacher, seed: int, rows: int, chunk_rows: int, block_rows: int,
            dtype: np.dtype, *, columns_first: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start, X, y)`` blocks of exactly ``block_rows`` rows (the last may be shorter).

    Blocks are cut from the stream of generation chunks, so the rows do not
    depend on ``block_rows``. ``columns_first`` gives X as ``(d, n)`` so each
    Parquet column is a contiguous, zero-copy array; otherwise ``(n, d)``.
    """
    d = teacher.weights.size
    chunk_x = chunk_y = None
    pos = 0  # next unread row of the current chunk
    next_chunk = 0
    for start in range(0, rows, block_rows):
        n = min(block_rows, rows - start)
        X = np.empty((d, n) if columns_first else (n, d), dtype=dtype)
        y = np.empty(n, dtype=bool)
        filled = 0
        while filled < n:
            if chunk_y is None or pos == chunk_y.size:
                chunk_start = next_chunk * chunk_rows
                chunk_x, chunk_y = _chunk(teacher, seed, next_chunk,
                                          min(chunk_rows, rows - chunk_start))
                next_chunk += 1
                pos = 0
            take = min(n - filled, chunk_y.size - pos)
            piece = chunk_x[pos:pos + take]
            if columns_first:
                X[:, filled:filled + take] = piece.T
            else:
                X[filled:filled + take] = piece
            y[filled:filled + take] = chunk_y[pos:pos + take]
            filled += take
            pos += take
        yield start, X, y


# ------------------------------------------------------------------------ writers


def _write_parquet(tmp: str, blocks: Iterator, summary: dict[str, Any],
                   progress: Callable[[int], Any] | None) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    float_type = pa.float32() if summary["dtype"] == "float32" else pa.float64()
    label_type = pa.from_numpy_dtype(np.dtype(summary["label_dtype"]))
    fields = [pa.field(name, float_type, nullable=False) for name in summary["feature_names"]]
    fields.append(pa.field(summary["label"], label_type, nullable=False))
    if summary["id_column"]:
        fields.insert(0, pa.field(ID_COLUMN, pa.int64(), nullable=False))
    schema = pa.schema(fields, metadata={METADATA_KEY: _metadata_json(summary)})

    positives = 0
    # Dictionary encoding is wasted on continuous floats (every value is distinct: the
    # writer builds a dictionary only to throw it away); the 0/1 label is where it pays.
    with pq.ParquetWriter(tmp, schema, compression=PARQUET_COMPRESSION,
                          use_dictionary=[summary["label"]]) as writer:
        for start, X, y in blocks:
            n = y.size
            arrays = [pa.array(col) for col in X]
            arrays.append(pa.array(y.astype(summary["label_dtype"], copy=False)))
            if summary["id_column"]:
                arrays.insert(0, pa.array(np.arange(start, start + n, dtype=np.int64)))
            # One call per block and row_group_size=n: every row group is exact.
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=n)
            positives += int(np.count_nonzero(y))
            if progress is not None:
                progress(start + n)
    return positives


def _write_hdf5(tmp: str, blocks: Iterator, summary: dict[str, Any],
                progress: Callable[[int], Any] | None) -> int:
    import h5py

    n_rows, d, block_rows = summary["rows"], summary["features"], summary["row_group_size"]
    positives = 0
    with h5py.File(tmp, "w") as f:
        X = f.create_dataset("X", shape=(n_rows, d), dtype=summary["dtype"], chunks=(block_rows, d))
        X.attrs["feature_names"] = np.array(summary["feature_names"], dtype=h5py.string_dtype())
        y_ds = f.create_dataset(summary["label"], shape=(n_rows,), dtype=summary["label_dtype"],
                                chunks=(block_rows,))
        ids = None
        if summary["id_column"]:
            ids = f.create_dataset(ID_COLUMN, shape=(n_rows,), dtype="int64", chunks=(block_rows,))
        f.attrs["generator"] = _metadata_json(summary).decode()
        for start, Xb, yb in blocks:
            # Blocks are aligned with the HDF5 chunks: whole-chunk writes, no read-back.
            stop = start + yb.size
            X[start:stop] = Xb
            y_ds[start:stop] = yb.astype(summary["label_dtype"], copy=False)
            if ids is not None:
                ids[start:stop] = np.arange(start, stop, dtype=np.int64)
            positives += int(np.count_nonzero(yb))
            if progress is not None:
                progress(stop)
    return positives


def _metadata_json(summary: dict[str, Any]) -> bytes:
    """What made this file, so that a file can be traced back to its teacher."""
    keep = ("rows", "features", "label", "seed", "chunk_rows", "teacher")
    return json.dumps({"generator": "streamneuron.generate", **{k: summary[k] for k in keep}}).encode()


# -------------------------------------------------------------------- validation


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    v = value.lower() if isinstance(value, str) else value
    if v not in allowed:
        raise ConfigError.about(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return v


def _check_label(label: Any, feature_names: list[str], fmt: str, id_column: bool) -> None:
    if not isinstance(label, str) or not label:
        raise ConfigError(f"label must be a non-empty column name, got {label!r}")
    taken = set(feature_names)
    if id_column:
        taken.add(ID_COLUMN)
    if fmt == "hdf5":
        taken.add("X")
    if label in taken:
        raise ConfigError(f"label {label!r} clashes with a generated column or dataset; "
                          "choose another label name")


def _check_out(out: Any) -> str:
    try:
        path = os.fspath(out)
    except TypeError:
        raise ConfigError(f"out must be a file path, got {out!r}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or os.path.isdir(path):
        raise ConfigError(f"output {path!r} is a folder; give a file path such as data.parquet")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"output folder {folder!r} does not exist; create it first")
    return path
