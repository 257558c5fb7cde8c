"""Readers: Parquet, HDF5 and in-memory / Dask arrays behind one small protocol
(:class:`Source`, declared with what each member means in :mod:`.base`)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ..errors import DataError
from .arrays import ArraySource, is_array, is_dataframe
from .base import DecodedUnit, Source, Unit
from .frames import FrameSource, from_dask_dataframe, from_dataframe, is_category_dtype
from .hdf5 import HDF5Source
from .parquet import ParquetSource
from .paths import FileRef, expand, sniff_format
from .encoded import Encoded
from .imputed import Imputed
from ..missing import MISSING
from .weighted import Weighted, with_class_weights


def open_source(paths, label: str | None = "y", features: Sequence[str] | None = None,
                x_key: str = "X", y_key: str | None = None,
                exclude: Sequence[str] | None = None, positional: bool = False,
                weight=None, class_weights: tuple[float, float] | None = None,
                categorical: Sequence[str] | None = None, levels=None,
                missing: str = "error", fills=None, positive=None, negative=None) -> Source:
    """Open Parquet or HDF5 input, the format chosen by each file's first bytes.

    ``paths``: a file, a folder, a glob, an fsspec URL (``s3://``, ``gs://``,
    ``memory://``, ``file://``), or a list of them. ``label``: the label column
    (HDF5: the label dataset of the X/y layout, or the column of a pandas frame;
    ``y_key`` names it instead when given), or None to read features only
    (prediction). ``features``: the feature columns, in order; default every
    numeric column but the label and the pandas index columns (HDF5 X/y: every
    column of ``X``), minus ``exclude``. The choice is on the source:
    ``feature_names``, ``left_out`` (with reasons), ``column_warnings``.
    ``x_key``: the HDF5 features dataset, or the key of a pandas frame (default:
    ``X``, else the file's only pandas frame). ``positional=True`` (for applying
    a model): an HDF5 ``X`` without column names whose column count equals
    ``len(features)`` gives its columns in order as ``features``
    (``source.by_position`` is then True). ``weight``: the sample-weight column
    (a Parquet or DataFrame column, a dataset beside ``X``/``y`` in HDF5; for a pair
    ``(X, y)`` of arrays, the weights themselves, n numbers): each row's loss counts
    ``w_i`` times, objectives become ``sum w_i L_i / sum w_i``; weights must be finite
    and >= 0 (DataError naming the column, row group and row otherwise). It is
    never a default feature. ``class_weights``: ``(a0, a1)``, each row's weight
    multiplied by its class's (a :class:`Weighted` source; what ``reopen_args()``
    of one gives). ``categorical``: columns to one-hot encode (string, dictionary /
    pandas ``category``, integer or boolean columns); string and dictionary columns are
    categorical without being named. They are read raw (``source.categorical``) until
    their levels are counted; ``levels`` (a :class:`~streamneuron.levels.Levels`) gives
    each row's level codes (an :class:`Encoded` source).

    ``missing`` (:mod:`streamneuron.missing`): ``"error"`` refuses a null or NaN
    feature; ``"impute"`` gives them as NaN (the engines learn the fill values in their
    first pass), or, with ``fills`` (a :class:`~streamneuron.missing.Fills`), imputed
    (an :class:`Imputed` source); ``"drop"``: a row with a missing feature or label
    weighs 0. ``positive``: the label value that counts as 1 (the other one as 0);
    ``negative``: that other value, when known (a model's: any third value is an error;
    training learns it, :func:`~.labels.settle_negative`).

    In-memory and Dask data are accepted too (see :mod:`streamneuron.readers.arrays`
    and :mod:`streamneuron.readers.frames`):
    a pandas or Dask DataFrame (with ``label``/``features`` as for Parquet), or a
    pair ``(X, y)`` of numpy / Dask arrays (``label=None``: ``X`` alone). A
    :class:`Source` is returned as it is.
    """
    if missing not in MISSING:
        from ..errors import ConfigError

        raise ConfigError(f"missing must be one of {', '.join(MISSING)}, got {missing!r}",
                          param="missing")
    same = dict(label=label, features=features, x_key=x_key, y_key=y_key, exclude=exclude,
                positional=positional, weight=weight, categorical=categorical,
                missing=missing, positive=positive, negative=negative)
    if class_weights is not None:
        return Weighted(open_source(paths, levels=levels, fills=fills, **same), class_weights)
    if levels is not None:
        return Encoded(open_source(paths, fills=fills, **same), levels)
    if fills is not None and not (isinstance(paths, Source) and paths.fills is not None):
        return Imputed(open_source(paths, **{**same, "missing": "impute"}), fills)
    if isinstance(paths, Source):
        return paths
    source = _open(paths, label=label, features=features, x_key=x_key, y_key=y_key,
                   exclude=exclude, positional=positional, weight=weight,
                   categorical=categorical)
    source.missing, source.positive = missing, positive
    if positive is not None and negative is not None:
        source.negative = negative
    return Imputed(source, None) if missing == "drop" else source


def _open(paths, label, features, x_key, y_key, exclude, positional, weight,
          categorical) -> Source:
    """The reader of ``paths`` (:func:`open_source` without its wrappers)."""
    if isinstance(categorical, str):
        categorical = [c.strip() for c in categorical.split(",") if c.strip()]
    if isinstance(paths, Source):
        return paths
    if isinstance(features, str):
        features = [f.strip() for f in features.split(",") if f.strip()]
    if features is not None and len(features) == 0 and not categorical:
        raise DataError("--features names no column")
    if isinstance(exclude, str):
        exclude = [f.strip() for f in exclude.split(",") if f.strip()]
    if exclude and (is_dataframe(paths) or is_array(paths) or isinstance(paths, tuple)):
        from ..errors import ConfigError

        raise ConfigError("exclude is for files; for in-memory data pass features=[...]")
    if weight is not None and not isinstance(weight, str) and not (
            isinstance(paths, tuple) and len(paths) == 2 and is_array(paths[0])):
        from ..errors import ConfigError

        raise ConfigError("weight names a column (a str); weights as an array go with "
                          "arrays: open_source((X, y), weight=w)")
    if is_dataframe(paths):
        return from_dataframe(paths, label=label, features=features, weight=weight,
                              categorical=categorical)
    if is_array(paths):
        if label is not None:
            raise DataError("an array alone has no labels: give (X, y), or label=None to "
                            "read features only")
        return ArraySource(paths, None, feature_names=features)
    if isinstance(paths, tuple) and len(paths) == 2 and is_array(paths[0]):
        X, y = paths
        if isinstance(weight, str):
            from ..errors import ConfigError

            raise ConfigError("arrays have no named columns: pass the weights themselves, "
                              "open_source((X, y), weight=w)")
        return ArraySource(X, y if label is not None else None, feature_names=features,
                           label=label or "y", sample_weight=weight)
    files = expand(paths)
    kinds = [sniff_format(ref) for ref in files]
    # The format chooses how a remote file is cached when the reader opens it.
    files = [dataclasses.replace(ref, kind=kind) for ref, kind in zip(files, kinds)]
    formats = {kind: ref for ref, kind in zip(files, kinds)}
    if len(formats) > 1:
        raise DataError(
            f"{formats['hdf5'].url} is HDF5 but {formats['parquet'].url} is Parquet; "
            "give files of one format"
        )
    if "hdf5" in formats:
        return HDF5Source(files, label=label, x_key=x_key, y_key=y_key, features=features,
                          exclude=exclude, positional=positional, weight=weight,
                          categorical=categorical)
    return ParquetSource(files, label=label, features=features, exclude=exclude, weight=weight,
                         categorical=categorical)


__all__ = ["open_source", "Source", "DecodedUnit", "Unit", "Weighted", "Encoded", "Imputed", "with_class_weights",
           "ParquetSource", "HDF5Source", "ArraySource", "FrameSource", "from_dataframe",
           "from_dask_dataframe", "is_category_dtype", "FileRef", "expand", "sniff_format"]
