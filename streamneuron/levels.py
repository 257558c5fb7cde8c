"""Categorical columns: their levels, counted in the first pass, and the codes a
decoded unit carries.

A categorical column ``c`` with levels ``v_1..v_K`` (one-hot encoding) adds to the
logit the weight of the row's level::

    z_i = b + sum_j w_j x~_ij + sum_c u_{c, level_c(i)}

so each level has a weight ``u`` of its own, penalised like any weight (never the
bias), and a row touches only the weights of its own levels. The levels are learned
in the standardization pass (every unit, or Dask partition, counts its own values;
the counts are added in a fixed order) and ordered by count, then by value, so that
the same data always gives the same weights in the same places. A null is a level
of its own. A value never seen in training has no weight: it adds nothing (the row
still gets a probability). With no penalty at all (``l2 = 0``, no L1) the most
frequent level of each column is its *reference*, without a weight, so that the
optimum exists (treatment coding); otherwise every level has a weight, scikit-learn's
``OneHotEncoder(handle_unknown="ignore")``.

A :class:`DecodedUnit`'s ``codes`` is an ``(n, k)`` int32 array: for row ``i`` and
categorical column ``c`` the index of the level's weight in the model's weight vector
(the numeric features' ``d`` weights first, then each column's level weights in
column order), or ``-1`` (an unseen level, or the reference): no weight.

This module sits beside :mod:`streamneuron.units` (the readers encode, the model
stores, the engines train the level weights) and imports no other room but the errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

from .errors import DataError

# A column with more distinct values than this is left out of the default features
# (or refused when named): an id or free text, not a category. ``--max-levels``.
MAX_LEVELS = 1000

NO_WEIGHT = -1  # the code of an unseen level or of a reference level: adds nothing
# The hash of ``--hash-bits`` as the model file names it (:mod:`streamneuron.kernels.hashing`).
HASH_NAME = "fnv1a64-utf8"


def is_categorical_type(t: pa.DataType) -> bool:
    """String and dictionary (pandas ``category``) columns: categorical without being named."""
    return (pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_dictionary(t))


def can_be_categorical(t: pa.DataType) -> bool:
    """Strings, dictionaries, booleans and integers may be named in ``--categorical``
    (a float column may not: its values are measurements, and equal floats are luck)."""
    return (is_categorical_type(t) or pa.types.is_boolean(t) or pa.types.is_integer(t)
            or pa.types.is_null(t))  # (only nulls, as pandas writes an all-None column)


def _kind_of_type(t: pa.DataType) -> str | None:
    """The kind of value an Arrow column holds, as levels match values: text, integer or
    boolean (None: only nulls, or a kind never compared)."""
    t = t.value_type if pa.types.is_dictionary(t) else t
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    return "boolean" if pa.types.is_boolean(t) else "integer" if pa.types.is_integer(t) else None


def _kind_of_value(v) -> str:
    return ("boolean" if isinstance(v, (bool, np.bool_)) else "integer"
            if isinstance(v, (int, np.integer)) else "text" if isinstance(v, str)
            else type(v).__name__)


def _sort_key(item):
    value, count = item
    return (-count, value is None, "" if value is None else value)


def by_frequency(counts: Mapping) -> list[tuple]:
    """``counts`` (``{value: count}``) as ``(value, count)`` pairs in the levels' order:
    by count, then value (a null after the values of its count)."""
    return sorted(counts.items(), key=_sort_key)


@dataclass(frozen=True)
class Column:
    """One categorical column's levels: ``values`` (the levels with a weight, in
    weight order), their training ``counts``, and the ``reference`` level (no weight;
    ``has_reference`` False: none)."""

    name: str
    values: tuple
    counts: tuple
    reference: object = None
    has_reference: bool = False
    reference_count: int = 0
    # ``--hash-bits B``: a column of too many levels hashed into 2**B weights
    # (:mod:`streamneuron.kernels.hashing`); ``values`` then empty
    hash_bits: int = 0
    # The values as an Arrow array of each column type met, and where each sits in
    # ``values``: made once, not per decoded batch (:func:`_value_set`)
    _sets: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def n_levels(self) -> int:
        """Distinct values seen in training (the reference included)."""
        return len(self.values) + int(self.has_reference)

    @property
    def n_weights(self) -> int:
        return (1 << self.hash_bits) if self.hash_bits else len(self.values)

    def labels(self) -> list[str]:
        """Each weight's name, ``column=value`` (a null shown as ``column=null``;
        a hashed column's buckets ``column#k``)."""
        if self.hash_bits:
            return [f"{self.name}#{k}" for k in range(self.n_weights)]
        return [f"{self.name}={'null' if v is None else v}" for v in self.values]


@dataclass(frozen=True)
class Levels:
    """The categorical columns of a model or a run, in order, with their levels."""

    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def n_weights(self) -> int:
        """``K``: the level weights of every column together."""
        return sum(c.n_weights for c in self.columns)

    def offsets(self) -> np.ndarray:
        """Where each column's weights start among the level weights (and the end)."""
        return np.cumsum([0] + [c.n_weights for c in self.columns])

    def labels(self) -> list[str]:
        return [label for c in self.columns for label in c.labels()]

    # -- encoding -----------------------------------------------------------------
    def encode(self, arrays: Mapping[str, object], n_rows: int, first: int) -> np.ndarray:
        """The ``(n, k)`` int32 codes of the columns ``arrays`` (Arrow arrays by name):
        ``first + offset_c + level`` for a level with a weight, :data:`NO_WEIGHT`
        otherwise. Matches values, not dictionary indices, so files encoded
        differently (or not dictionary-encoded) give the same codes."""
        codes = np.empty((n_rows, len(self.columns)), dtype=np.int32)
        for k, (column, start) in enumerate(zip(self.columns, self.offsets())):
            if not _dictionary_into(arrays[column.name], column, first + int(start), codes[:, k]):
                codes[:, k] = _codes(arrays[column.name], column, first + int(start))
        return codes

    # -- the model file -------------------------------------------------------------
    def to_list(self, weights: np.ndarray) -> list[dict]:
        """The model file's ``categorical`` entry: per column its levels, their weights
        and training counts, and the reference level (when there is one)."""
        out = []
        for column, start in zip(self.columns, self.offsets()):
            entry = {"column": column.name, "levels": list(column.values),
                     "weights": [float(v) for v in weights[start:start + column.n_weights]],
                     "counts": list(column.counts)}
            if column.hash_bits:
                entry["hash_bits"] = column.hash_bits
                entry["hash"] = HASH_NAME
            if column.has_reference:
                entry["reference"] = column.reference
                entry["reference_count"] = column.reference_count
            out.append(entry)
        return out

    @classmethod
    def from_list(cls, entries: Sequence[dict]) -> tuple["Levels", np.ndarray]:
        """The inverse of :meth:`to_list`: the levels and their weights (ValueError
        when an entry does not fit)."""
        columns, weights = [], []
        for entry in entries:
            levels, ws = entry["levels"], entry["weights"]
            bits = int(entry.get("hash_bits", 0))
            if bits and (entry.get("hash") != HASH_NAME or len(ws) != 1 << bits):
                raise ValueError(f"column {entry.get('column')!r}: a hashed column needs "
                                 f"'hash': {HASH_NAME!r} and 2**hash_bits weights")
            if not isinstance(levels, list) or not isinstance(ws, list) or (
                    not bits and len(levels) != len(ws)):
                raise ValueError(f"column {entry.get('column')!r}: 'levels' and 'weights' must "
                                 "be lists of one length")
            counts = entry.get("counts") or [0] * len(levels)
            columns.append(Column(str(entry["column"]), tuple(levels), tuple(counts),
                                  entry.get("reference"), "reference" in entry,
                                  int(entry.get("reference_count", 0)), bits))
            weights.extend(ws)
        return cls(tuple(columns)), np.asarray(weights, dtype=np.float64)


def _hashed(array, bits: int, start: int) -> np.ndarray:
    """``start`` + each value's bucket (:mod:`streamneuron.kernels.hashing`)."""
    import pyarrow.compute as pc  # on first use: ~25 ms of start-up

    from .kernels.hashing import fnv1a_buckets

    text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
    n = len(text)
    validity, offsets, data = text.buffers()[:3]
    offsets = np.frombuffer(offsets, dtype=np.int32)[text.offset:text.offset + n + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    valid = (np.asarray(text.is_valid().to_numpy(zero_copy_only=False)) if text.null_count
             else np.empty(0, np.bool_))
    out = np.empty(n, dtype=np.int64)
    fnv1a_buckets(offsets, data, valid, bits, out)
    return (out + start).astype(np.int32)


def _codes(array, column: Column, start: int) -> np.ndarray:
    """One column's codes (see :meth:`Levels.encode`)."""
    import pyarrow.compute as pc  # on first use: ~25 ms of start-up

    if isinstance(array, pa.ChunkedArray):  # chunk by chunk: each may have its dictionary
        parts = [_codes(chunk, column, start) for chunk in array.chunks]
        return parts[0] if len(parts) == 1 else (
            np.concatenate(parts) if parts else np.empty(0, np.int32))
    if column.hash_bits and not pa.types.is_dictionary(array.type):
        return _hashed(array, column.hash_bits, start)
    if pa.types.is_dictionary(array.type):
        # Map the (small) dictionary once, then index it with each row's index.
        mapped = _mapped(array.dictionary, column, start)
        indices = array.indices
        idx = (np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
               if indices.null_count else indices.to_numpy())
        out = mapped[idx] if mapped.size else np.full(len(idx), NO_WEIGHT, np.int32)
        if indices.null_count:
            out[np.asarray(indices.is_null().to_numpy(zero_copy_only=False))] = (
                _hashed(pa.nulls(1, pa.string()), column.hash_bits, start)[0]
                if column.hash_bits else _null_code(column, start))
        return out
    value_set, where = _value_set(column, array.type)
    found = pc.index_in(array, value_set=value_set)
    positions = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    out = np.full(len(array), NO_WEIGHT, dtype=np.int32)
    hit = positions >= 0
    out[hit] = (start + where[positions[hit]]).astype(np.int32)
    if array.null_count:
        out[np.asarray(array.is_null().to_numpy(zero_copy_only=False))] = \
            _null_code(column, start)
    return out


def _dictionary_into(array, column: Column, start: int, out: np.ndarray) -> bool:
    """The common case of :func:`_codes` written straight into ``out`` (a column of the
    codes): dictionary chunks without nulls, each row's code taken from its chunk's mapped
    dictionary (no copies of the indices, no parts joined). False, nothing written: another
    case."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    if column.hash_bits or not all(pa.types.is_dictionary(c.type) and not c.null_count
                                   for c in chunks):
        return False
    from .kernels import gather

    row = 0
    for chunk in chunks:
        n = len(chunk)
        mapped = _mapped(chunk.dictionary, column, start)
        if mapped.size:
            gather(mapped, chunk.indices.to_numpy(), out[row:row + n])
        else:
            out[row:row + n] = NO_WEIGHT
        row += n
    return row == len(out)


def _mapped(dictionary, column: Column, start: int) -> np.ndarray:
    """The codes of a dictionary's values, kept for the next call with an equal one (the
    chunks of a decoded unit repeat their row group's dictionary: comparing it costs a
    fraction of matching it)."""
    last = column._sets.get("dictionary")
    if (last is not None and last[1] == start and len(last[0]) == len(dictionary)
            and last[0].type == dictionary.type and last[0].equals(dictionary)):
        return last[2]
    mapped = _codes(dictionary, column, start)
    column._sets["dictionary"] = (dictionary, start, mapped)
    return mapped


def _value_set(column: Column, arrow_type: pa.DataType) -> tuple:
    """``(value_set, where)``: the column's non-null levels as an Arrow array of
    ``arrow_type`` (empty when they are of another type, e.g. strings against ints:
    nothing matches), and ``where[j]``, the position of ``value_set[j]`` in ``values``
    (the null level sits somewhere among them). Made once per type met."""
    key = str(arrow_type)
    cached = column._sets.get(key)
    if cached is None:
        present = [v for v in column.values if v is not None]
        kind, kinds = _kind_of_type(arrow_type), {_kind_of_value(v) for v in present}
        if kind is not None and kinds and kind not in kinds:  # (no value could match)
            raise DataError(f"categorical column {column.name!r} holds {kind} values here, "
                            f"but its levels are {' and '.join(sorted(kinds))} values (e.g. "
                            f"{present[0]!r}): none would match, every row would count as an "
                            f"unseen level; convert the column to {sorted(kinds)[0]} values")
        try:
            value_set = pa.array(present, type=arrow_type)
        except (pa.ArrowException, TypeError, OverflowError):
            value_set = pa.array([], arrow_type)
        where = np.asarray([j for j, v in enumerate(column.values) if v is not None], np.int64)
        cached = column._sets[key] = (value_set, where)
    return cached


def _null_code(column: Column, start: int) -> int:
    for j, v in enumerate(column.values):
        if v is None:
            return start + j
    return NO_WEIGHT


# -- counting -----------------------------------------------------------------------


def value_counts(array) -> dict:
    """``{value: count}`` of one Arrow array (null counted as the value None)."""
    import pyarrow.compute as pc  # on first use: ~25 ms of start-up

    if isinstance(array, pa.ChunkedArray):
        counts: dict = {}
        for chunk in array.chunks:
            for value, n in value_counts(chunk).items():
                counts[value] = counts.get(value, 0) + n
        return counts
    counts = {}
    if pa.types.is_dictionary(array.type):
        indices = array.indices
        idx = np.asarray(pc.drop_null(indices).to_numpy(zero_copy_only=False), dtype=np.int64)
        bins = np.bincount(idx, minlength=len(array.dictionary))
        for value, n in zip(array.dictionary.to_pylist(), bins.tolist()):
            if n:
                counts[value] = counts.get(value, 0) + n
    else:
        table = pc.value_counts(pc.drop_null(array))
        for value, n in zip(table.field("values").to_pylist(), table.field("counts").to_pylist()):
            counts[value] = n
    if array.null_count:
        counts[None] = counts.get(None, 0) + array.null_count
    return counts


@dataclass
class LevelCounts:
    """The level counts of the categorical columns ``names``, added unit by unit in a
    fixed order; a column past ``max_levels`` distinct values stops being counted
    (memory bounded by the levels kept, never by the rows) and is marked ``over``."""

    names: list[str]
    max_levels: int = MAX_LEVELS
    counts: dict = field(default_factory=dict)
    over: dict = field(default_factory=dict)  # name -> distinct values seen (> max_levels)

    def __post_init__(self):
        for name in self.names:
            self.counts.setdefault(name, {})

    def add(self, arrays: Mapping[str, object]) -> None:
        """Count one unit's values (Arrow arrays by name)."""
        for name in self.names:
            if name in self.over:
                continue
            self._add(name, value_counts(arrays[name]))

    def _add(self, name: str, unit_counts: dict) -> None:
        counts = self.counts[name]
        for value, n in unit_counts.items():
            counts[value] = counts.get(value, 0) + n
        if len(counts) > self.max_levels:
            self.over[name] = len(counts)
            self.counts[name] = {}

    def merge(self, other: "LevelCounts") -> "LevelCounts":
        """These counts and ``other``'s (a later part of the data) added."""
        out = LevelCounts(self.names, self.max_levels,
                          {k: dict(v) for k, v in self.counts.items()}, dict(self.over))
        for name in self.names:
            if name in other.over:
                out.over[name] = max(out.over.get(name, 0), other.over[name])
                out.counts[name] = {}
            elif name not in out.over:
                out._add(name, other.counts[name])
        return out

    def levels(self, *, reference: bool, names: Sequence[str] | None = None,
               hash_bits: int = 0) -> Levels:
        """The :class:`Levels` of the columns ``names`` (default: all not ``over``):
        by count, then value; ``reference``: the most frequent level of each column
        has no weight (needed when nothing is penalised). ``hash_bits``: a column
        ``over`` is hashed into ``2**hash_bits`` weights instead of left out."""
        columns = []
        for name in names if names is not None else self.names:
            if name in self.over:
                if hash_bits:
                    columns.append(Column(name, (), (), hash_bits=hash_bits))
                continue
            items = by_frequency(self.counts[name])
            if reference and items:
                (ref, ref_count), items = items[0], items[1:]
                columns.append(Column(name, tuple(v for v, _ in items),
                                      tuple(n for _, n in items), ref, True, ref_count))
            else:
                columns.append(Column(name, tuple(v for v, _ in items),
                                      tuple(n for _, n in items)))
        return Levels(tuple(columns))


__all__ = ["Levels", "Column", "LevelCounts", "MAX_LEVELS", "NO_WEIGHT",
           "is_categorical_type", "can_be_categorical", "value_counts", "by_frequency"]
