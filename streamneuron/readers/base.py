"""What every reader provides, whatever the file format: the :class:`Source` protocol.

A source is a list of *units*: the smallest pieces it reads at once (a Parquet
row group, a run of HDF5 chunks). ``read(i)`` decodes unit ``i`` into a
:class:`DecodedUnit`: ``X`` of shape (rows, features) in the file's float
precision, in the source's ``layout``, ``y`` as float64 0/1 and ``w`` each row's
weight. Readers know nothing of models (to them a model's features are only
names), nor of the order rows are trained in (:mod:`streamneuron.stream`, which knows readers only by this protocol).
"""

from __future__ import annotations

import abc
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import DataError
from ..units import COLUMN, ROW, DecodedUnit, Unit  # noqa: F401 (the protocol's types)
from .labels import NULL_LABEL_ADVICE, check_labels  # noqa: F401 (the readers')
from .paths import FileRef


def check_weights(values: np.ndarray, *, column: str, where: str) -> np.ndarray:
    """Sample weights as float64, each finite and >= 0; DataError naming the column,
    the piece (``where``: file and row group) and the first bad row and value.

    Why refuse rather than clip: a negative or NaN weight is a broken column, and
    a model trained on it silently would be wrong in a way nobody could trace."""
    if values.dtype == np.bool_ or not (np.issubdtype(values.dtype, np.integer)
                                        or np.issubdtype(values.dtype, np.floating)):
        raise DataError(f"{where}: weight column {column!r} has type {values.dtype}; "
                        "weights must be numbers >= 0")
    w = values.astype(np.float64, copy=False)
    bad = np.flatnonzero(~(w >= 0.0) | ~np.isfinite(w))
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{where}, row {row}: weight column {column!r} has value {values[row].item()!r}; "
            f"weights must be finite and >= 0 ({bad.size} bad value(s) in this piece)")
    return w


# -- which columns become features ------------------------------------------------

def choose_features(columns: Sequence[tuple[str, str | None]], *, label: str | None,
                    features: Sequence[str] | None, exclude: Sequence[str] | None,
                    index_columns: Sequence[str] = (), where: str, weight: str | None = None,
                    hint: str = "leave it out with --features or --exclude"
                    ) -> tuple[list[str], list[tuple[str, str]]]:
    """The number feature columns and the columns left out (:func:`choose_columns`
    for a source without categorical columns)."""
    chosen = choose_columns(columns, label=label, features=features, exclude=exclude,
                            index_columns=index_columns, where=where, weight=weight, hint=hint)
    return chosen.features, chosen.left_out


class Columns(NamedTuple):
    """What :func:`choose_columns` chose: the number ``features`` (the columns of ``X``),
    the ``categorical`` columns (one-hot, :mod:`streamneuron.levels`) and the columns
    ``left_out``, each with its reason."""

    features: list[str]
    categorical: list[str]
    left_out: list[tuple[str, str]]


def choose_columns(columns: Sequence[tuple[str, str | None]], *, label: str | None,
                   features: Sequence[str] | None, exclude: Sequence[str] | None,
                   index_columns: Sequence[str] = (), where: str, weight: str | None = None,
                   hint: str = "leave it out with --features or --exclude",
                   categorical: Sequence[str] | None = None,
                   category_columns: Sequence[str] = (), discrete_columns: Sequence[str] = ()
                   ) -> Columns:
    """The feature columns, the categorical ones and the columns left out, each with
    its reason.

    ``columns``: every column of the file as ``(name, problem)``, ``problem``
    None for a number column (integers, floats, booleans), else its type, which
    keeps it from being a number feature. ``category_columns``: the string and
    dictionary (pandas ``category``) columns, categorical without being named;
    ``discrete_columns``: integer and boolean columns, which ``categorical`` may name
    too. ``features``: the user's list (checked, in that order); default every number
    column but the label, the pandas index columns (``index_columns``:
    ``__index_level_0__`` and named indexes that ``df.to_parquet`` stores beside the
    data) and ``exclude``, and every category column. ``categorical``: the columns
    to one-hot encode (``--categorical``), whether or not ``features`` names them.
    Why: a model must not learn from row numbers, and the user must be able to see
    what it learned from (the CLI prints the lists).
    """
    names = [name for name, _ in columns]
    problems = dict(columns)
    category = set(category_columns)
    exclude = list(exclude or ())
    named = list(dict.fromkeys(categorical or ()))
    if weight is not None:
        check_weight_column(weight, problems, label=label, where=where)
        if features is not None and weight in features:
            raise DataError(f"{where}: column {weight!r} is the weight column (--weight); it "
                            "cannot also be a feature")
    if features is not None and exclude:
        from ..errors import ConfigError

        raise ConfigError("give --features or --exclude, not both")
    for name in exclude:
        if name not in problems:
            raise DataError(f"{where}: --exclude names no column {name!r}; "
                            f"{columns_are(names, name)}")
    for name in named:
        if name not in problems:
            raise DataError(f"{where}: --categorical names no column {name!r}; "
                            f"{columns_are(names, name)}")
        if name in (label, weight):
            raise DataError(f"{where}: column {name!r} is the "
                            f"{'label' if name == label else 'weight column'}; it cannot also "
                            "be a categorical feature")
        if name not in category and name not in discrete_columns:
            kind = problems[name] or "a float column"
            raise DataError(f"{where}: --categorical names column {name!r}, which is {kind}; "
                            "categorical columns hold strings, integers, booleans or a "
                            "dictionary (pandas category)")
    if features is None:
        usable = [n for n in names if n != label and n != weight and n not in index_columns
                  and n not in exclude]
        cats = [n for n in usable if n in named or n in category]
        features = [n for n in usable if problems[n] is None and n not in cats]
        if not features and not cats:
            raise DataError(f"{where}: no numeric feature columns besides the label"
                            + (" and the excluded ones" if exclude else ""))
        reason_rest = None
    else:
        for name in features:
            if name not in problems:
                raise DataError(f"{where}: no feature column {name!r}; "
                                f"{columns_are(names, name)}")
            if problems[name] is not None and name not in category and name not in named:
                raise DataError(f"{where}: feature column {name!r} has type {problems[name]}, "
                                f"not a number; {hint}")
        cats = [n for n in names if n in named or (n in features and n in category)]
        features = [n for n in features if n not in cats]
        reason_rest = "not in --features"
    chosen = set(features) | set(cats)
    left_out = []
    for name in names:
        if name in chosen or name == label:
            continue
        if name == weight:
            reason = "--weight"
        elif name in index_columns:
            reason = "pandas index"
        elif name in exclude:
            reason = "--exclude"
        elif problems[name] is not None and name not in category:
            reason = f"{problems[name]}, not a number"
        else:
            reason = reason_rest or "not chosen"
        left_out.append((name, reason))
    return Columns(list(features), cats, left_out)


def check_weight_column(weight: str, problems: dict, *, label: str | None, where: str) -> None:
    """DataError unless ``weight`` is a number column of ``problems`` (name -> None for
    a number column, else its type) other than the label."""
    if weight == label:
        raise DataError(f"{where}: the weight column {weight!r} is the label; name another "
                        "column with --weight")
    if weight not in problems:
        raise DataError(f"{where}: no weight column {weight!r}; "
                        f"{columns_are(list(problems), weight)}")
    if problems[weight] is not None:
        raise DataError(f"{where}: weight column {weight!r} has type {problems[weight]}, not "
                        "a number")


def looks_like_row_id(values: np.ndarray) -> bool:
    """Integers (not booleans), all distinct and increasing: a row number or id,
    which a model would learn from as if it were a measurement."""
    values = np.asarray(values)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer) or values.size < 3:
        return False
    return bool(np.all(values[1:] > values[:-1]))


def row_id_warning(where: str, name: str) -> str:
    return (f"{where}: feature column {name!r} looks like a row id (integers, all distinct, "
            f"increasing); if it is one, leave it out with --exclude {name}")


def close_name(name: str, names: Sequence[str]) -> str | None:
    """The name the user probably meant: the same but for case, else difflib's
    closest (``get_close_matches``, similarity >= 0.6), else None."""
    import difflib

    names = [str(n) for n in names]
    folded = [n for n in names if n.lower() == str(name).lower()]
    if folded:
        return folded[0]
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    return close[0] if close else None


def columns_are(names: Sequence[str], wanted: str | None = None, what: str = "columns") -> str:
    """``did you mean 'x'? columns are a, b, ... (120 more) ..., z``: the tail of a
    "no column" message, the names shortened by :func:`name_list`."""
    names = [str(n) for n in names]
    guess = close_name(wanted, names) if wanted is not None else None
    hint = f"did you mean {guess!r}? " if guess is not None and guess != wanted else ""
    return f"{hint}{what} are {name_list(names)}"


def name_list(names: Sequence[str], limit: int = 12, ends: int = 4) -> str:
    """``a, b, c`` or, past ``limit`` names, the first and last ``ends`` with the
    count of those in between: a line a person can read whatever the width."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return (", ".join(names[:ends]) + f", ... ({len(names) - 2 * ends} more) ..., "
            + ", ".join(names[-ends:]))




class Source(abc.ABC):
    """The source protocol: what every reader gives the engines, in one place.

    Parquet, HDF5 and in-memory / Dask data (:class:`~.arrays.ArraySource`) all
    derive from this class; nothing outside :mod:`streamneuron.readers` asks
    which kind of source it holds (no ``isinstance``, ``hasattr`` or format
    test): what differs is said by the members below.

    What the rows are (set by every reader):

    * ``feature_names`` (the columns of ``X``, in order), ``label`` (the label
      column, or None when only features are read), ``weight`` (the sample-weight
      column, or None), ``class_weights`` (``(a0, a1)`` multiplying each row's
      weight by its label's, or None: see :class:`~.weighted.Weighted`),
      ``weighted`` (whether ``read`` gives ``w``: either of the two), ``dtype`` (float32 or
      float64: the type of ``X``), ``left_out`` (``(column, reason)`` for every
      column that is neither a feature nor the label), ``column_warnings``
      (doubts about the chosen columns, also issued as
      :class:`~streamneuron.errors.DataWarning`).
    * ``units``: the :class:`Unit` list, the smallest pieces read whole, in
      file order. ``n_rows``, ``n_features`` and ``unit_sizes`` follow.
    * ``files``: the :class:`~.paths.FileRef` of every file (empty for data in
      memory or in a Dask graph). ``format``: a name for reports and
      fingerprints (``"parquet"``, ``"hdf5"``, ``"array"``), never a switch.
      ``describe_input()``: the input named for a message (its files, or the
      kind of data in memory).

    How a unit is read:

    * ``read(i, *, keep=(), out=None)`` decodes unit ``i`` into a :class:`DecodedUnit`:
      ``X`` of shape (rows, features) in ``dtype``, ``y`` float64 0/1 (None
      without a label), ``w`` the rows' effective weights (float64, checked finite
      and >= 0; None unless ``weighted``), and the ``keep`` columns (predict
      ``--keep``) as Arrow arrays. With ``out`` (an ``(n_rows, n_features)``
      array of ``dtype``, row- or column-major) the features are written there.
    * ``describe(i)``: where unit ``i`` is, for messages ("data.parquet, row
      group 3"). ``check_keep(keep)``: DataError unless the ``keep`` columns can
      be read, asked before any output is written. ``close()``: release files.
    * ``layout``: how ``read`` fills ``out`` without a transpose, and what it
      returns without one: ``"column"`` (column-major: Parquet, a copy per
      column; in-memory data) or ``"row"`` (row-major: HDF5 stores rows). A
      stream reading in file order asks for this layout; a shuffled stream
      always asks for rows (the kernel then reads rows in random order).
    * ``reuse_buffers``: True when a consumer of the source (the stream, a
      full pass) should decode every unit into buffers it owns and reuses
      (``read(i, out=...)``): files, whose units are decoded anew each time, so
      memory stays flat. False: ``read`` makes arrays of its own (a slice of an
      array in memory, a computed Dask block), taken as they are.

    How a full pass spreads it over Dask workers (see :mod:`streamneuron.fullpass.engine`):

    * ``reopen_args()``: the keyword arguments of
      :func:`~streamneuron.readers.open_source` that open any one of ``files``
      alone with the same columns (``label``, ``features``, HDF5 keys), so that
      a task reads its own rows on a worker: nothing big crosses the network.
      None when the rows cannot be opened elsewhere: then
    * ``delayed_units()``: one ``dask.delayed`` per unit, each computing
      ``[DecodedUnit]`` (the unit that ``read`` gives); and ``in_memory``: True
      when the rows are held by this process (numpy, pandas), which a cluster
      should then persist once rather than be sent every pass.
    * ``pieces(rows)``: the units cut into consecutive row ranges of at most about
      ``rows`` rows, each read by itself (a large Parquet row group: a task then
      holds one piece decoded, not the row group), or None when the reader reads
      its units whole (the default); ``cut_units(rows)`` makes those pieces the
      source's units (the source a full-pass task opens for itself).

    What ``inspect`` reports (:mod:`streamneuron.inspect`):

    * ``unit_kind``: the reader's own word for its units, plural ("row groups",
      "chunk ranges", "partitions"); ``schema()``: every column of the (first)
      file and its type; ``details()``: format-specific facts, as report
      entries (HDF5: ``{"hdf5": ...}`` its dataset layout); ``labels(i)``: the
      0/1 labels of unit ``i``, reading as little else as the format allows;
      ``label_values(i)``: the same column as stored, unchecked (nulls, strings);
      ``null_counts()``: nulls per column, or None when the format cannot tell
      cheaply.

    And: ``fingerprint()`` (what identifies the input, for checkpoints),
    ``check_model_columns(names)`` (before a model with features ``names`` is
    applied: warns or raises where the source has more to say than a name
    comparison, e.g. HDF5 columns without names), ``columns_report()``, and
    :meth:`batches`, the public mini-batch iterator.
    """

    format: str = ""
    files: list[FileRef]
    feature_names: list[str]
    label: str | None
    weight: str | None = None  # the weight column (None: every row weighs 1)
    class_weights: tuple[float, float] | None = None  # (a0, a1), or None: every class 1
    units: list[Unit]
    dtype: np.dtype
    # The categorical columns (one-hot, :mod:`streamneuron.levels`): ``read`` gives them
    # raw, as Arrow arrays in ``DecodedUnit.extra``; once their levels are known,
    # :class:`~.encoded.Encoded` gives each row's level codes in ``DecodedUnit.codes``
    # (``levels``: those levels; None: not encoded).
    categorical: list[str] = []
    named_categorical: list[str] = []  # those the user named (refused past --max-levels)
    levels = None
    missing: str = "error"  # --missing (impute, drop: a missing feature read as NaN)
    positive = None  # --positive: the label value that counts 1; fills: Imputed's
    negative = None  # the other label value (learned by labels.settle_negative, or a model's)
    fills = None
    left_out: list[tuple[str, str]] = []
    column_warnings: list[str] = []
    layout: str = COLUMN
    reuse_buffers: bool = False
    in_memory: bool = False
    unit_kind: str = "units"

    # -- what a reader implements ------------------------------------------------
    @abc.abstractmethod
    def read(self, i: int, *, keep: Sequence[str] = (),
             out: np.ndarray | None = None) -> DecodedUnit:
        """Decode unit ``i`` (see the class docstring)."""

    def kernel_imputation(self) -> tuple:  # Imputed's: SGD's kernel imputes; () none
        return ()

    def read_imputed(self, i: int, fills, *, keep: Sequence[str] = (),
                     out: np.ndarray | None = None) -> DecodedUnit:
        """:meth:`read` into ``out`` (n, d + m) imputed by ``fills``, the indicators
        appended (here :func:`~..missing.impute` after :meth:`read`)."""
        from ..missing import impute

        if out is None:
            out = np.empty((self.n_features + len(fills.indicators), self.units[i].n_rows),
                           dtype=self.dtype).T
        unit = self.read(i, keep=keep, out=out[:, :self.n_features])
        unit.X = impute(unit.X, fills, out=out)
        return unit

    @abc.abstractmethod
    def describe(self, i: int) -> str:
        """Where unit ``i`` is, for messages."""

    def check_keep(self, keep: Sequence[str]) -> None:
        """DataError unless every ``keep`` column (predict --keep) can be copied;
        asked before any output is written. Default: the reader checks as it reads."""

    def close(self) -> None:
        pass

    def reopen_args(self) -> dict | None:
        """``open_source`` keyword arguments that open one of ``files`` alone the
        same way, on another machine; None (the default): it cannot be reopened."""
        return None

    def pieces(self, rows: int) -> list[Unit] | None:
        """The units cut into row ranges of at most about ``rows`` rows, or None: this
        reader reads its units whole (the class docstring)."""
        return None

    def cut_units(self, rows: int) -> None:
        """From now on, the units are ``pieces(rows)`` (None: unchanged)."""

    def delayed_units(self) -> list:
        """One ``dask.delayed`` per unit computing ``[DecodedUnit]``, for sources
        that cannot be reopened elsewhere (``reopen_args()`` None)."""
        from ..errors import ConfigError

        raise ConfigError(f"fit_gd cannot distribute a {type(self).__name__}: give "
                          "Parquet/HDF5 paths, arrays or DataFrames")

    def check_model_columns(self, names: Sequence[str]) -> None:
        """Before a model whose features are ``names`` is applied: nothing to add
        to comparing ``feature_names`` with ``names`` (HDF5 ``X`` without column
        names says more)."""

    def schema(self) -> dict:
        """Every column and its type: here the features (``dtype``) and the label
        (float64 0/1, as read); file readers give their files' own types."""
        out = {name: str(self.dtype) for name in self.feature_names}
        if self.label is not None:
            out[self.label] = "float64"
        return out

    def details(self) -> dict:
        """Format-specific report entries (none here)."""
        return {}

    def labels(self, i: int) -> np.ndarray:
        """The labels of unit ``i`` (float64 0/1); here by reading the unit."""
        return self.read(i).y

    def label_range(self) -> tuple | None:
        """The label's ``(min, max)`` over the input, known unread (Parquet: statistics)."""
        return None

    def label_values(self, i: int):
        """Unit ``i``'s label column as stored, unchecked (``inspect``); here ``labels(i)``."""
        return self.labels(i)

    def null_counts(self) -> dict[str, int] | None:
        """Nulls per column over every unit (``inspect``); None: unknown unread (here)."""
        return None

    # -- shared ------------------------------------------------------------------
    def columns_report(self) -> dict:
        """What the model will learn from: ``features`` (names, in order),
        ``left_out`` (``{"column", "reason"}`` each) and ``warnings``."""
        return {"features": list(self.feature_names),
                **({"categorical": list(self.categorical)} if self.categorical else {}),
                "left_out": [{"column": c, "reason": r} for c, r in self.left_out],
                "warnings": list(self.column_warnings)}

    def _warn_columns(self) -> None:
        import warnings

        from ..errors import DataWarning

        for message in self.column_warnings:
            warnings.warn(message, DataWarning, stacklevel=4)

    @property
    def weighted(self) -> bool:
        """Whether ``read`` gives each row's weight (``DecodedUnit.w``): a weight
        column, class weights, or both."""
        return self.weight is not None or self.class_weights is not None

    def describe_input(self) -> str:
        """The input, named for a message: its files (the first three), or, for data
        without files, what it is."""
        names = ", ".join(ref.url for ref in self.files[:3])
        if len(self.files) > 3:
            names += f", ... ({len(self.files)} files)"
        return names or f"the {self.format or 'input'} data"

    @property
    def n_rows(self) -> int:
        return sum(u.n_rows for u in self.units)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @property
    def unit_sizes(self) -> list[int]:
        return [u.n_rows for u in self.units]

    def fingerprint(self) -> dict:
        """What identifies this input: paths, sizes, modification times, layout."""
        return {
            "format": self.format,
            "files": [
                {"path": f.url, "size": f.size(), "mtime": f.mtime()} for f in self.files
            ],
            "features": list(self.feature_names),
            "label": self.label,
            **({"weight": self.weight} if self.weight is not None else {}),
            "units": [[u.file, u.index, u.n_rows] for u in self.units],
        }

    def batches(self, batch_size: int = 256, *, shuffle: bool = True, seed: int = 0,
                epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Row-major ``(X, y)`` mini-batches of one epoch, in bounded memory.

        The order is the training order of that epoch (see :mod:`streamneuron.stream`);
        a batch may straddle units; the last batch may be short.

        The work is :func:`streamneuron.stream.batches`, imported here when called:
        the stream orders the units of any source, so it depends on this protocol
        (for type hints only) and this method on the stream, never the stream on
        the readers. A method, so that ``src.batches(...)`` stays the public call.
        """
        from ..stream import batches

        return batches(self, batch_size, shuffle=shuffle, seed=seed, epoch=epoch)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {len(self.files)} file(s), {self.n_rows} rows, "
                f"{self.n_features} features, {len(self.units)} units>")
