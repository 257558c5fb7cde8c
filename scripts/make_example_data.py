"""Write small stand-ins for the files the README's examples name, in the current folder.

    big.parquet, big.h5   20,000 rows from the teacher neuron: x0..x7 float32, label y
    val.parquet           5,000 more rows of the same teacher (validation data)
    frame.h5              a pandas frame (df.to_hdf, format "table"): x0..x3, label target
    clicks.parquet        user_id (int64, the row number), x0..x7, w (row weights), clicked
    test/part-0.parquet   rows like clicks.parquet's, for evaluate and summary
    new/part-0.parquet    the same without the label, for predict
    table.csv             a CSV for convert: x0..x3, y
    flights.parquet       a flights-like table: distance, dep_delay, carrier (string),
                          origin (pandas category, with nulls), hour, month, label late

With them every README example runs as written, in order, from the repository root
(``tests/test_readme.py`` does so). Run:  python scripts/make_example_data.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from streamneuron.generate import generate  # noqa: E402

ROWS = 20_000


def clicks(rows: int, seed: int, label: bool = True) -> dict:
    """Columns of a click log: an id, eight features, a row weight and the label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 8)).astype(np.float32)
    z = X @ np.linspace(1.0, -1.0, 8) * 0.8 - 0.5
    cols = {"user_id": np.arange(rows, dtype=np.int64) + 10_000 * seed}
    cols.update({f"x{j}": X[:, j] for j in range(8)})
    cols["w"] = rng.integers(1, 4, size=rows).astype(np.float64)
    if label:
        cols["clicked"] = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int8)
    return cols


def write_examples(out: Path = Path(".")) -> list[Path]:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = Path(out)
    (out / "test").mkdir(parents=True, exist_ok=True)
    (out / "new").mkdir(exist_ok=True)
    written = []
    for name, fmt in (("big.parquet", "parquet"), ("big.h5", "hdf5")):
        generate(out / name, rows=ROWS, features=8, format=fmt, seed=1, row_group_size=5_000)
        written.append(out / name)
    # val.parquet: 5,000 more rows of big.parquet's teacher (the rows after its own)
    generate(out / "val.parquet", rows=ROWS + 5_000, features=8, seed=1, row_group_size=5_000)
    more = pq.read_table(out / "val.parquet")
    pq.write_table(more.slice(ROWS), out / "val.parquet", row_group_size=5_000)
    written.append(out / "val.parquet")
    for name, rows, seed, label in (("clicks.parquet", ROWS, 2, True),
                                    ("test/part-0.parquet", 5_000, 3, True),
                                    ("new/part-0.parquet", 1_000, 4, False)):
        pq.write_table(pa.table(clicks(rows, seed, label)), out / name, row_group_size=5_000)
        written.append(out / name)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2_000, 4))
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(4)])
    frame["target"] = (rng.random(2_000) < 1 / (1 + np.exp(-X @ [1.0, -1.0, 0.5, 0.0]))
                       ).astype(np.int8)
    frame.to_hdf(out / "frame.h5", key="df", format="table")
    written.append(out / "frame.h5")
    table = pa.table({**{f"x{j}": X[:, j] for j in range(4)}, "y": frame["target"].to_numpy()})
    pacsv.write_csv(table, out / "table.csv")
    written.append(out / "table.csv")
    flights(ROWS, 6).to_parquet(out / "flights.parquet", row_group_size=5_000)
    written.append(out / "flights.parquet")
    return written


def flights(rows: int, seed: int):
    """A small flights-like table: two numbers, a string and a category column (with
    nulls), two integer columns and a 0/1 label that depends on all of them."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    carriers = np.array(["AA", "DL", "UA", "WN", "B6", "AS"])
    carrier = carriers[rng.choice(6, rows, p=[.3, .25, .2, .15, .06, .04])]
    origin = rng.choice([f"A{k:02d}" for k in range(40)], rows)
    origin = np.where(rng.random(rows) < 0.02, None, origin)
    hour, month = rng.integers(5, 23, rows), rng.integers(1, 13, rows)
    distance, delay = rng.gamma(2.0, 400.0, rows), rng.exponential(12.0, rows)
    z = (0.04 * delay - 0.0003 * distance + 0.08 * (hour - 14) - 1.0
         + (carrier == "WN") * 0.5 - (carrier == "DL") * 0.4)
    return pd.DataFrame({"distance": distance, "dep_delay": delay, "carrier": carrier,
                         "origin": pd.Categorical(origin), "hour": hour, "month": month,
                         "late": (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int8)})


if __name__ == "__main__":
    for path in write_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")):
        print(path)
