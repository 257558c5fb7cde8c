"""Fill numba's on-disk cache with the kernels most tests compile, before pytest starts.

On a fresh clone every process that calls a kernel first compiles it: both pytest
workers compile the same kernels (the categorical L1 newton's alone takes tens of
CPU-seconds on CI's machine), and so does each Dask worker they start. Run once here,
as two processes at once (``sgd`` and ``fullpass``: one a core), they compile each
kernel once; the test processes then load it from the cache. Nothing depends on it:
a kernel it did not compile is compiled where it is first called, as before.

Usage: python .ci/warm_kernels.py sgd|fullpass
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import streamneuron as sn
from streamneuron.generate import generate


def frame(n: int = 600, seed: int = 0, gaps: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.standard_normal(n),
                         "c": rng.choice(list("pqrst"), n)})
    z = data.a - 0.5 * data.b + data.c.map(dict(p=0, q=.5, r=-.5, s=1, t=2))
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int8)
    if gaps:
        data.loc[::7, "a"] = np.nan
    return data


def sgd(folder: Path) -> None:
    for dtype in ("float32", "float64"):
        path = folder / f"{dtype}.parquet"
        generate(path, rows=2_000, features=4, dtype=dtype, row_group_size=500)
        # the variants most tests train (kernels/sgd.py: loss, weighted, batch of one,
        # file order by columns), for both dtypes the readers hand over
        sn.fit_sgd(str(path), label="y", epochs=1)
        sn.fit_sgd(str(path), label="y", epochs=1, shuffle=False)
        sn.fit_sgd(str(path), label="y", epochs=1, loss="mse", shuffle=False)
        sn.fit_sgd(str(path), label="y", epochs=1, class_weight="balanced")
        sn.fit_sgd(str(path), label="y", epochs=1, batch_size=1)
    sn.fit_sgd(frame(), label="y", epochs=1, categorical=["c"])
    sn.fit_sgd(frame(gaps=True), label="y", epochs=1, features=["a", "b"], missing="impute")


def fullpass(folder: Path) -> None:
    path = folder / "float32.parquet"
    generate(path, rows=2_000, features=4, row_group_size=500)
    for solver in ("newton", "lbfgs", "gd"):
        model = sn.fit_gd(str(path), label="y", solver=solver, workers=0, max_iter=3)
    sn.summary(model, str(path), robust=True)
    X, y = (np.random.default_rng(1).standard_normal((2_000, 4)),
            np.random.default_rng(2).integers(0, 2, 2_000).astype(np.float64))
    sn.fit_gd((X, y), solver="newton", l2=1e-3, workers=0)
    sn.fit_gd((X, y), solver="newton", l2=1e-3, l1=1e-2, workers=0)
    data = frame()
    sn.fit_gd(data, label="y", solver="newton", l2=1e-3, workers=0, categorical=["c"])
    sn.fit_gd(data, label="y", solver="newton", l2=1e-3, l1=1e-4, workers=0,
              categorical=["c"])
    sn.fit_gd(frame(gaps=True), label="y", solver="newton", workers=0, features=["a", "b"],
              missing="impute")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        {"sgd": sgd, "fullpass": fullpass}[sys.argv[1]](Path(tmp))
