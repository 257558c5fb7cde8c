"""``streamneuron inspect``: what is in the files, which columns training would
use (and which it leaves out, and why), and what training will cost."""

from __future__ import annotations

import warnings

import numpy as np

from .errors import DataError, DataWarning
from .levels import MAX_LEVELS, LevelCounts, by_frequency
from .readers import open_source
from .readers.base import name_list

# Above this decoded size of one row group, the memory bound (a few decoded row
# groups) becomes large enough to mention: rewrite with smaller row groups.
LARGE_UNIT_BYTES = 256 << 20
# A label with at most this many distinct values has them all listed with their counts.
LABEL_VALUES_SHOWN = 10
# The most frequent levels of a categorical column the report shows.
TOP_LEVELS = 5


def inspect_paths(paths, *, label: str | None = "y", x_key: str = "X", y_key: str | None = None,
                  exclude=None) -> dict:
    """A JSON-able report: format, files, columns (type and role of each), the
    features training would use and the columns it would leave out with the
    reason, rows, units, sizes, label balance, warnings.

    Inputs of two formats (a folder with Parquet and HDF5 files side by side, as
    the repository's ``data/``) get ``{"groups": [report, report]}``, one report
    per format: training refuses such a mix, inspecting need not.
    """
    from .readers.paths import expand, sniff_format

    if isinstance(paths, (str, bytes)) or not isinstance(paths, (list, tuple)):
        paths = [paths]
    files = expand(list(paths))
    kinds = [sniff_format(ref) for ref in files]
    if len(set(kinds)) > 1:
        groups = []
        for kind in dict.fromkeys(kinds):
            group = [ref.url for ref, k in zip(files, kinds) if k == kind]
            groups.append(_inspect(group, label, x_key, y_key, exclude))
        return {"groups": groups}
    return _inspect(list(paths), label, x_key, y_key, exclude)


def _inspect(paths, label, x_key, y_key, exclude) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the report lists them
        try:
            source = open_source(paths, label=label, x_key=x_key, y_key=y_key, exclude=exclude)
        except DataError as exc:  # a missing label column is not fatal here: retry without one
            if label is None or "label" not in str(exc):
                raise
            source = open_source(paths, label=None, x_key=x_key, y_key=y_key, exclude=exclude)
            if label != "y" or "did you mean" in str(exc):  # a label asked for, or misspelt
                source.column_warnings = [*source.column_warnings, str(exc)]
    with source:
        itemsize = source.dtype.itemsize
        sizes = source.unit_sizes
        largest = max(sizes)
        columns = source.columns_report()
        report = {
            "format": source.format,
            "files": [f.url for f in source.files],
            "bytes": sum(f.size() for f in source.files),
            "rows": source.n_rows,
            "features": source.feature_names,
            "left_out": columns["left_out"],
            "feature_dtype": str(source.dtype),
            "label": source.label,
            "units": len(sizes),
            "unit_kind": source.unit_kind,
            "rows_per_unit": {"min": min(sizes), "max": largest, "mean": float(np.mean(sizes))},
            "decoded_bytes_per_unit_max": largest * source.n_features * itemsize,
            "warnings": list(columns["warnings"]),
        }
        report.update(source.details())  # HDF5: "hdf5", the dataset layout
        report["schema"] = source.schema()
        report["categorical"] = categorical_report(source, x_key=x_key)
        if report["decoded_bytes_per_unit_max"] > LARGE_UNIT_BYTES:
            report["warnings"].append(
                f"the largest {report['unit_kind'][:-1]} decodes to "
                f"{report['decoded_bytes_per_unit_max'] / 2**20:.0f} MiB; training holds about 3 "
                "of them in memory: rewrite the data with smaller row groups (e.g. 1Mi rows) "
                "to lower the bound")
        nulls = source.null_counts()
        if nulls is not None:
            report["nulls"] = nulls
        if source.label is not None:
            report.update(_label_report(source, report["warnings"]))
    return report


def _label_report(source, warnings_: list[str]) -> dict:
    """The label's values as stored, counted one unit at a time (the label column
    alone where the format allows): ``label_balance`` when they are 0/1 (or
    booleans) without nulls; else ``label_values`` (the first
    ``LABEL_VALUES_SHOWN`` distinct values and their counts), ``label_nulls`` and a
    warning saying what training will refuse. Why: a file whose labels training
    refuses must still be inspectable, to see what is wrong with it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: dict = {}
    more = False  # more distinct values than LABEL_VALUES_SHOWN
    nulls, first_null = 0, None
    for i in range(len(source.units)):
        values = source.label_values(i)
        if not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = pa.array(np.asarray(values), from_pandas=True)  # NaN counts as null
        if values.null_count:
            nulls += values.null_count
            first_null = first_null or source.describe(i)
            values = values.drop_null()
        for entry in pc.value_counts(values).to_pylist():
            value, count = entry["values"], entry["counts"]
            if value in counts or len(counts) < LABEL_VALUES_SHOWN:
                counts[value] = counts.get(value, 0) + count
            else:
                more = True
    label = source.label
    if not nulls and not more and all(v in (0, 1) for v in counts):  # 0/1, 0.0/1.0, bools
        positives = sum(c for v, c in counts.items() if v == 1)
        return {"label_balance": {"positives": positives, "negatives": source.n_rows - positives,
                                  "positive_rate": positives / source.n_rows}}
    shown = sorted(counts.items(), key=lambda vc: -vc[1])
    if nulls:
        warnings_.append(f"label column {label!r} has {nulls} null value(s) (the first in "
                         f"{first_null}); training refuses them: drop those rows first, or "
                         "train with --missing drop")
    others = [v for v, _ in shown if v not in (0, 1)]
    if others or more:
        warnings_.append(f"label column {label!r} has values other than 0 and 1 "
                         f"({name_list([repr(v) for v in others], limit=5, ends=2)}"
                         f"{', ...' if more else ''}); training needs 0/1 integers, 0.0/1.0 "
                         "floats or booleans, or two values and --positive VALUE naming the "
                         "one that counts as 1")
    return {"label_values": [{"value": v, "count": c} for v, c in shown],
            "label_values_complete": not more, "label_nulls": nulls}


def categorical_report(source, max_levels: int = MAX_LEVELS, top: int = TOP_LEVELS,
                       x_key: str = "X") -> list[dict]:
    """Per categorical column of ``source`` (string, dictionary: ``source.categorical``)
    ``{column, type, distinct, more_than, nulls, top}``: its distinct values (a null
    one of them) and the ``top`` most frequent as ``[value, count]`` (by count, then
    value, the order training gives the levels). Counted unit by unit
    (:class:`~streamneuron.levels.LevelCounts`): memory bounded by ``max_levels``
    values a column, never by the rows; a column past it (training's
    ``--max-levels``, which would leave it out) gets ``distinct`` None and
    ``more_than`` ``max_levels``, and no top levels. ``x_key``: an HDF5 file's
    features dataset or pandas key, as the source was opened."""
    names = list(source.categorical or ())
    if not names:
        return []
    counts = LevelCounts(names, max_levels)
    # The categorical columns alone (no label, no numbers): a file whose labels or
    # numbers training would refuse (nulls, strings) still has its levels reported.
    files = [ref.path if ref.is_local else ref.url for ref in source.files]
    with open_source(files, label=None, features=[], categorical=names, x_key=x_key) as alone:
        for i in range(len(alone.units)):
            counts.add(alone.read(i).extra)
    schema = source.schema()
    out = []
    for name in names:
        entry = {"column": name, "type": schema.get(name), "distinct": None,
                 "more_than": None, "nulls": None, "top": []}
        if name in counts.over:
            entry["more_than"] = max_levels
        else:
            items = by_frequency(counts.counts[name])
            entry.update(distinct=len(items), nulls=counts.counts[name].get(None, 0),
                         top=[[_plain(v), n] for v, n in items[:top]])
        out.append(entry)
    return out


def _plain(value):
    """A level as JSON holds it (strings, numbers, booleans, null; else its text)."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _level(value) -> str:
    """A level as the report shows it: null, and an empty or blank-edged text quoted
    (``""``, not nothing between two commas)."""
    if value is None:
        return "null"
    text = str(value)
    return repr(text) if isinstance(value, str) and (not text or text != text.strip()) else text


def _role(report: dict, name: str) -> str:
    if name in report["features"]:
        return "feature"
    if name == report["label"]:
        return "label"
    if any(c["column"] == name for c in report.get("categorical") or ()):
        return "categorical"
    for c in report["left_out"]:
        if c["column"] == name:
            return f"left out: {c['reason']}"
    return ""


def format_report(report: dict, all_columns: bool = False) -> str:
    """The report for a person. Long column lists show a count and the first and
    last names; ``all_columns`` lists every column with its type and role."""
    if "groups" in report:
        return "\n\n".join(format_report(r, all_columns) for r in report["groups"])
    lines = [f"format:    {report['format']} ({len(report['files'])} file(s), "
             f"{report['bytes'] / 2**20:.1f} MiB)"]
    for f in report["files"][:10]:
        lines.append(f"  {f}")
    if len(report["files"]) > 10:
        lines.append(f"  ... and {len(report['files']) - 10} more")
    lines.append(f"rows:      {report['rows']:,}")
    r = report["rows_per_unit"]
    lines.append(f"{report['unit_kind']}: {report['units']} (rows per piece: min {r['min']:,}, "
                 f"max {r['max']:,}, mean {r['mean']:,.0f}; largest decodes to "
                 f"{report['decoded_bytes_per_unit_max'] / 2**20:.1f} MiB)")
    lines.append(f"features:  {len(report['features'])} x {report['feature_dtype']}: "
                 + name_list(report["features"]))
    if report["left_out"]:
        left = [f"{c['column']} ({c['reason']})" for c in report["left_out"]]
        lines.append(f"left out:  {len(left)}: {name_list(left, limit=8, ends=3)}")
    schema = report.get("schema", {})
    if all_columns:
        lines.append(f"columns:   {len(schema)}")
        width = max((len(n) for n in schema), default=0)
        for name, kind in schema.items():
            lines.append(f"  {name:<{width}}  {kind:<12}  {_role(report, name)}")
    elif schema:
        lines.append(f"schema:    {len(schema)} columns: "
                     + name_list([f"{k}: {v}" for k, v in schema.items()], limit=12, ends=4)
                     + ("  (all: --columns)" if len(schema) > 12 else ""))
    categorical = report.get("categorical") or []
    if categorical:
        lines.append(f"categorical: {len(categorical)} column(s) (distinct values; the "
                     f"{TOP_LEVELS} most frequent with their counts)")
        width = max(len(c["column"]) for c in categorical)
        for c in categorical:
            if c["distinct"] is None:
                what = (f"more than {c['more_than']:,} distinct: training leaves it out "
                        "(--max-levels; an id or free text?)")
            else:
                what = f"{c['distinct']:,} distinct: " + ", ".join(
                    f"{_level(v)} {n:,}" for v, n in c["top"]) + (
                    ", ..." if c["distinct"] > len(c["top"]) else "")
            lines.append(f"  {c['column']:<{width}}  {what}")
    if "hdf5" in report:
        h = report["hdf5"]
        layout = f" (pandas, format {h['pandas_format']!r})" if "pandas_format" in h else ""
        lines.append(f"hdf5:      {h['x_key']}{layout} {h['shape']} {h['dtype']}, chunks "
                     f"{h['chunks']}, compression {h['compression']}")
    if "nulls" in report:
        nulls = [f"{name}: {n:,}" for name, n in report["nulls"].items() if n]
        how = f" ({report['nulls_counted']})" if report.get("nulls_counted") else ""
        lines.append(f"nulls:     {name_list(nulls, limit=8, ends=3) if nulls else 'none'}{how}")
    if "label_balance" in report:
        b = report["label_balance"]
        lines.append(f"label:     {report['label']}: {b['positives']:,} positive, "
                     f"{b['negatives']:,} negative ({b['positive_rate']:.1%} positive)")
    elif "label_values" in report:
        values = [f"{v['value']!r} ({v['count']:,})" for v in report["label_values"]]
        if report["label_nulls"]:
            values.append(f"null ({report['label_nulls']:,})")
        more = "" if report["label_values_complete"] else (
            f"; more than {LABEL_VALUES_SHOWN} distinct values, these the first seen")
        lines.append(f"label:     {report['label']}: values {', '.join(values)}{more}")
    else:
        lines.append("label:     none found")
    for w in report["warnings"]:
        lines.append(f"warning:   {w}")
    return "\n".join(lines)
