"""Start-up work (background numba loading, lazy imports) changes no result.

Behaviour only: the timings are in scripts/bench_startup.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import streamneuron as sn
from conftest import make_data, write_parquet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code: str, cwd=None) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def table(tmp_path):
    X, y = make_data(n=900, d=6, seed=3)
    return write_parquet(tmp_path / "t.parquet", X, y, row_group_size=200)


@pytest.mark.parametrize("flags", [[], ["--no-shuffle"], ["--no-standardize"],
                                   ["--no-shuffle", "--no-standardize"]])
def test_cli_train_with_background_warmup_equals_library(tmp_path, table, flags):
    """The command loads numba on a background thread; the library call does not."""
    out = tmp_path / "m.json"
    python("from streamneuron.cli import main; import sys; "
           f"sys.exit(main({['train', table, '-o', str(out), '--epochs', '2', '--batch-size', '16', '--seed', '5', '--quiet'] + flags!r}))")
    saved = json.loads(out.read_text())
    model = sn.fit_sgd(table, batch_size=16, epochs=2, seed=5, shuffle="--no-shuffle" not in flags,
                       standardize="--no-standardize" not in flags)
    assert saved["weights"] == model.weights.tolist()
    assert saved["bias"] == model.bias


def test_train_imports_nothing_it_does_not_use(table, tmp_path):
    """A local Parquet file, --quiet, sgd: no fsspec, Dask, matplotlib, tqdm or pandas;
    and no scipy, cffi or numba extension (the warm-up's lean numba set-up)."""
    out = tmp_path / "m.json"
    printed = python(
        "import sys\nfrom streamneuron.cli import main\n"
        f"assert main(['train', {table!r}, '-o', {str(out)!r}, '--epochs', '1', '--quiet']) == 0\n"
        "print(sorted(m for m in ('fsspec', 'dask', 'distributed', 'matplotlib', 'tqdm', "
        "'pandas', 'scipy', 'cffi', 'sparse') if m in sys.modules))")
    assert printed.strip() == "[]"


def test_warmup_loads_numba_once():
    """However often it is asked for (twice at once, again after it finished), the
    warm-up starts one thread, and that thread leaves numba and the kernels loaded."""
    printed = python(
        "import sys, threading\nfrom streamneuron import warmup\n"
        "assert warmup.wait()  # never started: nothing to wait for\n"
        "started = []\noriginal = threading.Thread.start\n"
        "def counted(thread):\n    started.append(thread)\n    original(thread)\n"
        "threading.Thread.start = counted\n"
        "warmup.start(); warmup.start()\n"
        "assert warmup.wait(120)\n"
        "warmup.start()\n"
        "threading.Thread.start = original\n"
        "print(len(started), 'numba' in sys.modules, 'streamneuron.kernels' in sys.modules)")
    assert printed.split() == ["1", "True", "True"]


def test_the_lean_warm_up_keeps_blas_for_np_dot_and_scipy_for_other_threads():
    """The warm-up's numba set-up leaves scipy out on its own thread only, and numba
    still compiles ``np.dot`` to BLAS (``_HAVE_BLAS``), as a set-up with scipy does:
    so a kernel compiled after it is the one compiled without it. Newton's Hessian
    (``np.dot`` in the sums kernel) then gives the same bits as in a plain process."""
    code = ("import numpy as np, streamneuron as sn\n"
            "rng = np.random.default_rng(0); X = rng.normal(size=(500, 40))\n"
            "y = (X[:, 0] + rng.logistic(size=500) > 0).astype(float)\n"
            "m = sn.fit_gd((X, y), solver='newton', workers=0)\n"
            "print(m.weights.tolist(), m.bias)\n")
    lean = python("import sys\nfrom streamneuron import warmup\nwarmup.start(); warmup.wait()\n"
                  "import numba.np.arraymath as a, numba.core.typing.cffi_utils as c\n"
                  "print(a._HAVE_BLAS, c.SUPPORTED, 'scipy' in sys.modules)\n"
                  "import scipy.linalg  # other threads, and this one afterwards, import it\n"
                  + code)
    plain = python(code)
    assert lean.splitlines()[0] == "True False False"
    assert lean.splitlines()[1] == plain.strip()


def test_plain_local_file_is_resolved_as_fsspec_would(table, tmp_path):
    """Relative, ./ and absolute spellings: the same path, size and times as through
    fsspec's local filesystem, without importing it."""
    from fsspec.core import url_to_fs

    from streamneuron.readers.paths import expand

    folder, name = os.path.split(table)
    for spelling in (name, "./" + name, table):
        (ref,) = _in(folder, expand, spelling)
        fs, path = _in(folder, url_to_fs, spelling)
        assert ref.path == path
        assert ref.is_local and ref.filesystem is None
        assert ref.size() == fs.size(path) == os.path.getsize(table)
        assert ref.mtime() == os.stat(table).st_mtime
        assert "file" in ref.fs.protocol  # fsspec on demand
    names = python(f"from streamneuron.readers import open_source; import sys\n"
                   f"src = open_source([{name!r}], label='y'); src.read(0)\n"
                   "print('fsspec' in sys.modules)", cwd=folder)
    assert names.strip() == "False"


def _in(folder, fn, *args):
    here = os.getcwd()
    os.chdir(folder)
    try:
        return fn(*args)
    finally:
        os.chdir(here)


def test_folders_and_globs_still_go_through_fsspec(table):
    from streamneuron.readers.paths import expand

    folder = os.path.dirname(table)
    for spelling in (folder, os.path.join(folder, "*.parquet")):
        (ref,) = expand(spelling)
        assert ref.filesystem is not None and ref.is_local
        assert os.path.samefile(ref.path, table)


def test_row_and_column_major_decoding_give_the_same_values(tmp_path):
    """Column-major batches are copied by numpy, row-major ones by the kernel."""
    X, y = make_data(n=700, d=9, seed=1)
    path = write_parquet(tmp_path / "w.parquet", X, y, row_group_size=300)
    with sn.open_source(path, label="y") as src:
        for i, unit in enumerate(src.units):
            rows = np.empty((unit.n_rows, src.n_features), dtype=src.dtype)
            cols = np.empty((src.n_features, unit.n_rows), dtype=src.dtype).T
            src.read(i, out=rows)
            src.read(i, out=cols)
            start = sum(u.n_rows for u in src.units[:i])
            np.testing.assert_array_equal(rows, X[start:start + unit.n_rows])
            np.testing.assert_array_equal(cols, X[start:start + unit.n_rows])


def test_a_cold_kernel_cache_is_announced_once_and_a_warm_one_not(table, tmp_path):
    """The first run after an install compiles the kernels: `train` says so on stderr
    (once), before it happens; the next run loads them from numba's cache, silently."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", "streamneuron", "train", table, "--label", "y", "-o",
            str(tmp_path / "m.json"), "--epochs", "1"]
    cold = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env=dict(env, NUMBA_DEBUG_CACHE="1"))
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr.count("compiling kernels (first run only") == 1
    assert cold.stderr.index("compiling kernels") < cold.stderr.index("epoch 1")
    # The SGD kernel was compiled by the helper process (python -m streamneuron.warmup,
    # numba's lean set-up) and loaded here from the cache.
    assert re.search(r"data loaded from .*sgd_block", cold.stdout), cold.stdout  # numba prints
    # A numeric run compiles and loads none of the categorical columns' kernels.
    touched = re.findall(r"data (?:saved to|loaded from) '([^']+)'", cold.stdout)
    assert touched and not [f for f in touched if "categorical" in f or "hashing" in f]
    warm = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    assert warm.returncode == 0, warm.stderr
    assert "compiling" not in warm.stderr


def test_notices_go_to_the_open_display_unless_quiet(capsys):
    from streamneuron.progress import Progress, notice

    notice("nobody listens")  # no display open: nothing
    with Progress(10, "x", quiet=True):
        notice("quiet")
    with Progress(10, "x"):
        notice("shown")
    notice("closed again")
    assert capsys.readouterr().err == "shown\n"


# A cold run in a subprocess: train on FILE with numba's cache empty (or as left by a
# previous run), and print the weights and what the helper process did.
COLD_RUN = """
import json, sys
import streamneuron as sn
from streamneuron.kernels import ahead
if {fail!r}:
    ahead.HELPER = [sys.executable, "-c", "raise SystemExit(3)"]
started = []
original = ahead.start
def recorded(helper_jobs, here=()):
    helper = original(helper_jobs, here)
    started.append((helper, helper_jobs))
    return helper
ahead.start = recorded
model = sn.fit_sgd({path!r}, batch_size=16, epochs=2, seed=5, shuffle={shuffle!r})
out = {{"weights": model.weights.tolist(), "bias": model.bias, "helper": None}}
for helper, jobs in started:
    dispatcher = jobs[0].kernel().kernel
    out.update(helper=helper.process.returncode,
               loaded=sum(dispatcher._cache_hits.values()),
               compiled=sum(dispatcher._cache_misses.values()))
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("shuffle,fail", [(True, False), (False, True)])
def test_a_cold_run_trains_the_same_bits_with_or_without_its_helper(table, tmp_path, shuffle,
                                                                    fail):
    """On an empty numba cache the SGD kernel is compiled by a helper process and
    loaded from the cache; when the helper fails it is compiled here. Either way the
    weights are bit for bit those of a warm run (this process's kernels); a warm
    cache starts no helper. (Each cold run compiles for seconds: the shuffled rows go
    with the helper, the file's order with the failed one.)"""
    warm = sn.fit_sgd(table, batch_size=16, epochs=2, seed=5, shuffle=shuffle)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(cache: str, fail: bool) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", COLD_RUN.format(fail=fail, path=table, shuffle=shuffle)],
            capture_output=True, text=True, env=dict(env, NUMBA_CACHE_DIR=str(tmp_path / cache)))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    if fail:
        results = [run("failed", fail=True)]
        assert (results[0]["helper"], results[0]["loaded"], results[0]["compiled"]) == (3, 0, 1)
    else:
        results = [run("helped", fail=False)]
        assert (results[0]["helper"], results[0]["loaded"], results[0]["compiled"]) == (0, 1, 0)
        results.append(run("helped", fail=False))
        assert results[1]["helper"] is None
    for result in results:
        assert result["weights"] == warm.weights.tolist()
        assert result["bias"] == warm.bias


def test_numbas_cache_files_are_written_under_a_lock(tmp_path):
    """Processes sharing numba's cache (Dask workers, the helper, test workers) save a
    function's index and data files one at a time: a save and a load hold a lock on a
    file beside the index (numba's own files are written without one)."""
    import fcntl

    from numba.core.caching import IndexDataCacheFile

    import streamneuron.kernels  # noqa: F401  (sets the lock up)

    assert IndexDataCacheFile.save.locked
    cache = IndexDataCacheFile(str(tmp_path), "kernel", "stamp")
    cache.save(("sig", "machine", "hash"), b"compiled")
    cache.save(("other", "machine", "hash"), b"other")
    assert cache.load(("sig", "machine", "hash")) == b"compiled"
    assert cache.load(("other", "machine", "hash")) == b"other"
    lock = tmp_path / "kernel.nbi.lock"
    assert lock.exists()
    with open(lock) as handle:  # free again: neither call kept it
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
