"""Peak memory of ``streamneuron train`` stays bounded by a few decoded row groups.

The bound (README, "Memory"): peak RSS ~= the *baseline* (the interpreter with
streamneuron's imports and kernels loaded, ~200 MiB here) + a fixed ~60-80 MiB
(pyarrow's decoding batch and column buffers, allocator arenas) + about 2.5
decoded row groups, one row group being ``rows x features x 4`` bytes for
float32 data (8 for float64): the two block buffers the reader decodes into
while the kernel trains (``PREFETCH + 1``, reused block after block), plus per
block the float64 labels and the int64 shuffle order (16 bytes a row). The
standardization pass holds the same two buffers (its moments are summed without
a copy). Checked here as ``baseline + FIXED_MIB + BOUND_ROW_GROUPS x row group``
and, above all, as nothing that grows with the number of rows.

Each run is a fresh ``python -m streamneuron train`` process; its peak RSS is
the kernel's high-water mark (``ru_maxrss`` from ``os.wait4``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streamneuron.generate import generate

FEATURES = 32
ROW_GROUP = 1 << 18  # 256Ki rows: 32 MiB decoded (float32)
DECODED_MIB = ROW_GROUP * FEATURES * 4 / 2**20
BOUND_ROW_GROUPS = 3  # above the baseline and the fixed part (see the module docstring)
FIXED_MIB = 96  # pyarrow's batch and buffers, allocator arenas, noise
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASELINE = """
import numpy as np
import pyarrow.parquet
import streamneuron as sn
import streamneuron.cli, streamneuron.sgd
# load the compiled kernels (numba's runtime and registries come with the first one)
sn.Neuron(2).partial_fit(np.zeros((3, 2), np.float32), np.zeros(3))
"""


def peak_mib(argv: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err
    return usage.ru_maxrss / 1024.0  # KiB on Linux


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory")
    small, big = str(folder / "small.parquet"), str(folder / "big.parquet")
    generate(small, rows=2 * ROW_GROUP, features=FEATURES, row_group_size=ROW_GROUP)
    generate(big, rows=8 * ROW_GROUP, features=FEATURES, row_group_size=ROW_GROUP)  # 2Mi rows
    return small, big


def train(path: str, tmp, *flags: str) -> float:
    return peak_mib([sys.executable, "-m", "streamneuron", "train", path, "--label", "y",
                     "-o", str(tmp / "model.json"), "--epochs", "1", "--quiet", *flags])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
def test_peak_memory_is_a_few_row_groups_whatever_the_file_size(files, tmp_path):
    small, big = files
    peak_mib([sys.executable, "-c", BASELINE])  # compiles into numba's cache if it must
    baseline = peak_mib([sys.executable, "-c", BASELINE])
    peaks = {}
    for flags in ((), ("--no-standardize",)):  # default: shuffled, standardized
        peaks[flags] = (train(small, tmp_path, *flags), train(big, tmp_path, *flags))
    bound = baseline + FIXED_MIB + BOUND_ROW_GROUPS * DECODED_MIB
    report = (f"baseline {baseline:.0f} MiB, row group {DECODED_MIB:.0f} MiB decoded, bound "
              f"{bound:.0f} MiB; peaks (2 vs 8 row groups): " +
              ", ".join(f"{' '.join(f) or 'default'}: {a:.0f} / {b:.0f}"
                        for f, (a, b) in peaks.items()))
    for flags, (at_small, at_big) in peaks.items():
        # 4x the rows, the same memory (the target: <= 1.1x).
        assert at_big <= 1.1 * at_small, report
        assert at_big <= bound, report
