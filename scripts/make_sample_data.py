"""Write the small sample files shipped in ``data/`` (they are committed).

    data/sample.parquet   2,000 rows, x0..x7 float32, y int8; row groups of 500
    data/sample.h5        the same rows: X (2000 x 8, chunks of 500 rows), y int8

Both come from the same teacher and seed, so they hold identical rows.
Run from anywhere:  python scripts/make_sample_data.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from streamneuron.generate import generate  # noqa: E402

ROWS = 2_000
FEATURES = 8
ROW_GROUP_SIZE = 500
SEED = 0
DATA_DIR = ROOT / "data"


def write_samples(out_dir: Path = DATA_DIR) -> list[dict]:
    """Write sample.parquet and sample.h5 into ``out_dir``; return their summaries."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common = dict(rows=ROWS, features=FEATURES, seed=SEED, row_group_size=ROW_GROUP_SIZE)
    return [
        generate(out_dir / "sample.parquet", format="parquet", **common),
        generate(out_dir / "sample.h5", format="hdf5", **common),
    ]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for s in write_samples(Path(argv[0]) if argv else DATA_DIR):
        print(f"{s['path']}: {s['rows']} rows x {s['features']} features, "
              f"{s['row_groups']} row groups/chunks, positive fraction {s['positive_fraction']:.3f}")


if __name__ == "__main__":
    main()
