"""Label columns as 0.0/1.0 (:func:`check_labels`): 0/1 numbers and booleans as they
are; any other two values with ``--positive VALUE`` naming the one that counts as 1.
A null label is an error, unless ``--missing drop`` (NaN: the row is dropped)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..errors import DataError

# What to do about a null label: in the words of the null-feature message; a label
# cannot be imputed.
NULL_LABEL_ADVICE = "drop those rows first, or give --missing drop"
SHOWN_VALUES = 5


def _distinct(values: np.ndarray, limit: int = SHOWN_VALUES) -> list:
    seen: list = []
    for v in values:
        v = v.item() if hasattr(v, "item") else v
        if v not in seen:
            seen.append(v)
            if len(seen) > limit:
                break
    return seen


def _decoded(values: np.ndarray) -> np.ndarray:
    """Byte strings (HDF5's fixed-length ``S`` and variable-length strings) as text, so
    that ``--positive late`` names ``b"late"`` and a model stores a JSON string."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", errors="replace")
    if values.dtype.kind == "O" and any(isinstance(v, bytes) for v in values[:1000]):
        return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                         for v in values], dtype=object)
    return values


def _nulls(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and v != v) for v in values],
                        dtype=bool)
    return np.zeros(values.shape[0], dtype=bool)


def _as_type_of(values: np.ndarray, positive):
    """``positive`` (a string from the command line, or a value) as the column's type."""
    kind = values.dtype.kind
    text = str(positive).strip()
    if kind == "b":
        if isinstance(positive, (bool, np.bool_)):
            return bool(positive)
        return {"true": True, "1": True, "false": False, "0": False}.get(text.lower(), text)
    if kind in "iuf":
        try:
            return float(positive)
        except (TypeError, ValueError):
            return text
    return positive if not isinstance(positive, (int, float)) else text


def _equals(values: np.ndarray, target) -> np.ndarray:
    """Where ``values`` equal ``target`` (a value as typed, or as a model stores it),
    compared in the column's type (:func:`_as_type_of`)."""
    typed = _as_type_of(values, target)
    if values.dtype.kind in "OUS":
        return np.array([v == typed or (not isinstance(v, str) and str(v) == str(typed))
                         for v in values], dtype=bool)
    return values == typed


def _not_the_pair(label: str, where: str, values: np.ndarray, row: int, positive,
                  negative) -> DataError:
    value = values[row]
    value = value.item() if hasattr(value, "item") else value
    return DataError(f"{where}, row {row}: label column {label!r} has value {value!r}, "
                     f"neither {positive!r} (counts as 1) nor {negative!r} (counts as 0), "
                     "the label values the model was trained with")


def settle_negative(source) -> None:
    """With ``--positive`` and no ``negative`` yet: the label column's other value,
    from one read of the label column alone (``label_values``, unit by unit), set as
    ``source.negative`` (what the model stores, so that ``evaluate`` reads a file the
    same way), and ``source.positive`` as the column holds it when the other value is of
    its type (``--positive 2`` on integers: 2, not "2"); more than two values over the
    whole input is an error naming the unit where the third appears. Only positives
    seen: ``negative`` stays None."""
    if source.label is None or source.positive is None or source.negative is not None:
        return
    positive, other, shown, met = source.positive, None, None, None
    for i in range(len(source.units)):
        values = _unique(source.label_values(i))
        null = _nulls(values)
        is_pos = _equals(values, positive)
        if met is None and is_pos.any():  # the value as the column holds it (2, not "2")
            met = values[np.flatnonzero(is_pos)[0]]
            met = met.item() if hasattr(met, "item") else met
        for v in values[~is_pos & ~null]:
            v = v.item() if hasattr(v, "item") else v
            if other is None:
                other, shown = v, _as_type_of(values, positive)
            elif v != other:
                if met is None:  # (--positive YES for 'yes'/'no')
                    raise _not_a_value(source.label, source.describe(i), positive, [other, v])
                raise _too_many(source.label, source.describe(i), [shown, other, v],
                                f": {positive!r} counts as 1 and one other value as 0")
    if other is not None and met is None:  # (--positive yes, every row 'no')
        raise _not_a_value(source.label, source.describe_input(), positive, [other])
    if other is not None:
        source.negative = other
    if met is not None and type(met) is type(other):  # (the model stores both alike)
        source.positive = met


def settle_labels(source) -> None:
    """The label's values before training: :func:`settle_negative`, and a label column
    of one value only refused: a classifier needs rows of both labels, and without them
    no optimum exists (the bias grows without end; scikit-learn refuses it too). Known
    without reading the rows: with ``--positive``, from that read (no other value);
    else where the format keeps the column's range (``Source.label_range``: Parquet's
    statistics of every row group)."""
    settle_negative(source)
    if source.label is None:
        return
    if source.positive is not None:
        value = None if source.negative is not None else source.positive
    else:
        known = source.label_range()
        value = known[0] if known is not None and known[0] == known[1] else None
    if value is not None:
        raise DataError(f"{source.describe_input()}: label column {source.label!r} holds "
                        f"only the value {value!r}; a classifier needs rows of both labels "
                        "(with one, the bias grows without end)")


def _unique(values) -> np.ndarray:
    """The distinct values of a label column as stored (an Arrow or numpy array), as
    numpy (nulls kept: one None or NaN), in the column's type."""
    if hasattr(values, "unique") and hasattr(values, "to_numpy"):  # Arrow
        values = values.unique()
        if pa.types.is_dictionary(values.type):  # (HDF5 text is read as a dictionary)
            values = values.cast(values.type.value_type).unique()
        values = values.to_numpy(zero_copy_only=False)
    values = _decoded(np.asarray(values))
    if values.dtype.kind == "O":
        return np.asarray(list(dict.fromkeys(values.tolist())), dtype=object)
    return np.unique(values)


def _too_many(label: str, where: str, values, advice: str) -> DataError:
    shown = ", ".join(repr(v) for v in values[:SHOWN_VALUES])
    more = ", ..." if len(values) > SHOWN_VALUES else ""
    return DataError(f"{where}: label column {label!r} has more than two values ({shown}{more}); "
                     f"a label has two values{advice}")


def _not_a_value(label: str, where: str, positive, values) -> DataError:
    shown = ", ".join(repr(v) for v in values[:SHOWN_VALUES])
    return DataError(f"{where}: --positive {positive!r} matches none of the values of label "
                     f"column {label!r} so far ({shown}{', ...' if len(values) > 2 else ''}); "
                     "name one of them (values are compared exactly: case and type count)")


def _null_error(label: str, where: str, null: np.ndarray, nan: bool) -> DataError:
    first = int(np.flatnonzero(null)[0])
    return DataError(f"{where}, row {first}: label column {label!r} has {int(null.sum())} "
                     f"null value(s){' (NaN)' if nan else ''}; {NULL_LABEL_ADVICE}")


def check_labels(values: np.ndarray, *, label: str, where: str, positive=None,
                 missing: str = "error", negative=None) -> np.ndarray:
    """Labels as float64 0.0/1.0 (NaN for a null label with ``missing="drop"``).

    Without ``positive``: booleans, or numbers that are 0 or 1; two other values are an
    error listing them and naming ``--positive``. With ``positive``: 1.0 where the value
    equals it, 0.0 for the one other value; a third value is an error listing them.
    With ``negative`` too (the other value, as a model stores it): any value but these
    two is an error naming it, even alone (a file labelled with another model's values)."""
    values = _decoded(np.asarray(values))
    null = _nulls(values)
    if null.any() and missing != "drop":
        raise _null_error(label, where, null, values.dtype.kind == "f")
    if positive is not None:
        is_pos = _equals(values, positive)
        if negative is not None:
            bad = np.flatnonzero(~is_pos & ~_equals(values, negative) & ~null)
            if bad.size:
                raise _not_the_pair(label, where, values, int(bad[0]), positive, negative)
        others = _distinct(values[~is_pos & ~null], 2)
        if len(others) > 1 and not is_pos.any():  # (--positive YES for 'yes'/'no')
            raise _not_a_value(label, where, positive, others)
        if len(others) > 1:
            raise _too_many(label, where, [_as_type_of(values, positive), *others],
                            f": {positive!r} counts as 1 and one other value as 0")
        y = is_pos.astype(np.float64)
        y[null] = np.nan
        return y
    if values.dtype == np.bool_:
        return values.astype(np.float64)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        seen = _distinct(values[~null])
        kind = "string" if seen and all(isinstance(v, (str, bytes)) for v in seen) \
            else str(values.dtype)
        if len(seen) > 2:
            raise _too_many(label, where, seen, f" (type {kind})")
        shown = " and ".join(repr(v) for v in seen)
        raise DataError(f"{where}: label column {label!r} has type {kind} ({shown}), not 0/1; "
                        f"name the value that counts as 1 with --positive VALUE (e.g. "
                        f"--positive {seen[0] if seen else 'yes'})")
    y = values.astype(np.float64, copy=False)
    bad = np.flatnonzero((y != 0.0) & (y != 1.0) & ~null)
    if bad.size:
        seen = _distinct(values[~null])
        row = int(bad[0])
        what = (f"more than two values ({', '.join(repr(v) for v in seen[:SHOWN_VALUES])}"
                f"{', ...' if len(seen) > SHOWN_VALUES else ''}): labels must be 0 or 1"
                if len(seen) > 2 else f"the values {' and '.join(repr(v) for v in seen)}: "
                "name the value that counts as 1 with --positive VALUE")
        raise DataError(
            f"{where}, row {row}: label column {label!r} has value {values[row].item()!r}; "
            f"{what} ({bad.size} bad value(s) in this piece)")
    return y


__all__ = ["check_labels", "settle_negative", "settle_labels", "NULL_LABEL_ADVICE"]
