"""``streamneuron inspect``: what is in the files, and what training will cost."""

from __future__ import annotations

import numpy as np

from .readers import open_source
from .readers.hdf5 import HDF5Source

# Above this decoded size of one row group, the memory bound (a few decoded row
# groups) becomes large enough to mention: rewrite with smaller row groups.
LARGE_UNIT_BYTES = 256 << 20


def inspect_paths(paths, *, label: str | None = "y", x_key: str = "X", y_key: str = "y") -> dict:
    """A JSON-able report: format, files, columns, rows, units, sizes, label balance, warnings."""
    try:
        source = open_source(paths, label=label, x_key=x_key, y_key=y_key)
    except Exception as exc:  # a missing label column is not fatal here: retry without one
        from .errors import DataError

        if label is None or not isinstance(exc, DataError) or "label" not in str(exc):
            raise
        source = open_source(paths, label=None, x_key=x_key, y_key=y_key)
    with source:
        itemsize = source.dtype.itemsize
        sizes = source.unit_sizes
        largest = max(sizes)
        report = {
            "format": source.format,
            "files": [f.url for f in source.files],
            "bytes": sum(f.size() for f in source.files),
            "rows": source.n_rows,
            "features": source.feature_names,
            "feature_dtype": str(source.dtype),
            "label": source.label,
            "units": len(sizes),
            "unit_kind": "chunk ranges" if isinstance(source, HDF5Source) else "row groups",
            "rows_per_unit": {"min": min(sizes), "max": largest, "mean": float(np.mean(sizes))},
            "decoded_bytes_per_unit_max": largest * source.n_features * itemsize,
            "warnings": [],
        }
        if isinstance(source, HDF5Source):
            X, _ = source._datasets(0)
            report["hdf5"] = {"x_key": x_key, "shape": list(X.shape), "dtype": str(X.dtype),
                              "chunks": list(X.chunks) if X.chunks else None,
                              "compression": X.compression}
        else:
            pf = source._file(0)
            report["schema"] = {f.name: str(f.type) for f in pf.schema_arrow}
        if report["decoded_bytes_per_unit_max"] > LARGE_UNIT_BYTES:
            report["warnings"].append(
                f"the largest {report['unit_kind'][:-1]} decodes to "
                f"{report['decoded_bytes_per_unit_max'] / 2**20:.0f} MiB; training holds about 3 "
                "of them in memory: rewrite the data with smaller row groups (e.g. 1Mi rows) "
                "to lower the bound")
        if source.label is not None:
            positives = 0
            for i in range(len(source.units)):
                positives += int(_label_sum(source, i))
            report["label_balance"] = {"positives": positives,
                                       "negatives": source.n_rows - positives,
                                       "positive_rate": positives / source.n_rows}
    return report


def _label_sum(source, i: int) -> float:
    """Sum of the 0/1 labels of one unit, reading only the label column."""
    if isinstance(source, HDF5Source):
        return float(source.read(i).y.sum())
    u = source.units[i]
    table = source._file(u.file).read_row_group(u.index, columns=[source.label])
    column = table.column(source.label)
    from .readers.base import check_labels

    y = check_labels(column.to_numpy(), label=source.label, where=source.describe(i))
    return float(y.sum())


def format_report(report: dict) -> str:
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
                 + ", ".join(report["features"][:12]) + (" ..." if len(report["features"]) > 12 else ""))
    if "schema" in report:
        lines.append("schema:    " + ", ".join(f"{k}: {v}" for k, v in report["schema"].items()))
    if "hdf5" in report:
        h = report["hdf5"]
        lines.append(f"hdf5:      {h['x_key']} {h['shape']} {h['dtype']}, chunks {h['chunks']}, "
                     f"compression {h['compression']}")
    if "label_balance" in report:
        b = report["label_balance"]
        lines.append(f"label:     {report['label']}: {b['positives']:,} positive, "
                     f"{b['negatives']:,} negative ({b['positive_rate']:.1%} positive)")
    else:
        lines.append("label:     none found")
    for w in report["warnings"]:
        lines.append(f"warning:   {w}")
    return "\n".join(lines)
