"""Variants of one kernel body made by a factory (their switches closure constants) each
carry a name of their own (``kernels.specialize.named``).

Why it matters: numba names a compiled function after its ``__qualname__`` and a counter
of its process. Two variants of one factory, called from two cached kernels and compiled
in two processes, could carry the same symbol with the same argument types; a third
process loading both kernels from the cache then ran one variant's code for both (seen:
``gradient_sums`` running the curvature body, a ``np.dot`` size error on a Dask worker).
The subprocess test runs that scenario with a toy factory and ``named``.

And a kernel's data is passed read-only (``Announced.reads``), so that a read-only source
and a writeable one share one compiled specialization."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from streamneuron.kernels import categorical, observed, sums
from streamneuron.kernels.specialize import named


def test_every_factory_variant_has_its_own_name():
    groups = [
        [sums._gradient, sums._curvature, sums._sampled, sums._single, sums._robust],
        [categorical._exact_pass, categorical._sampled_pass],
        [observed._present_sums_weighted, observed._present_sums_unweighted],
    ]
    for group in groups:
        names = [v.py_func.__qualname__ for v in group]
        assert len(set(names)) == len(names), names


def test_named_variants_survive_a_cache_shared_by_processes(tmp_path):
    (tmp_path / "toy.py").write_text(textwrap.dedent("""
        import os
        from numba import njit
        from streamneuron.kernels.specialize import named

        def body_of(k):
            K = k
            def body(x):
                return x * K
            return njit(named(body, k) if os.environ["NAMED"] == "1" else body)

        _two, _three = body_of(2), body_of(3)

        @njit(cache=True)
        def times_two(x):
            return _two(x)

        @njit(cache=True)
        def times_three(x):
            return _three(x)
    """))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NAMED": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}

    def run(code: str) -> str:
        return subprocess.run([sys.executable, "-c", "import toy, numpy as np;" + code],
                              env=env, capture_output=True, text=True, check=True).stdout

    run("toy.times_two(np.ones(1))")  # each compiled in a process of its own
    run("toy.times_three(np.ones(1))")
    # (without named: "2.0 2.0" with numba 0.68)
    assert run("print(toy.times_two(np.ones(1))[0], toy.times_three(np.ones(1))[0])").split() \
        == ["2.0", "3.0"]
    assert named(lambda: 0, True, 3).__name__ == "<lambda>_1_3"


def _read_only_types(value_type) -> bool:
    """Whether every array in a numba type (an array, or a tuple of them) is read-only."""
    import numba

    if isinstance(value_type, numba.types.BaseTuple):
        return all(_read_only_types(t) for t in value_type.types)
    return not isinstance(value_type, numba.types.Array) or not value_type.mutable


def test_read_only_and_writeable_data_share_one_compiled_kernel():
    """A kernel's data (``Announced.reads``: X, the labels, the row weights) is passed
    read-only whatever the caller holds: Arrow's read-only buffers and numpy's writeable
    arrays give one compiled specialization, the same numbers, and the caller's array
    stays as it was."""
    import numpy as np

    from streamneuron import kernels

    X = np.asfortranarray(np.random.default_rng(0).normal(size=(300, 3)))
    frozen = X.copy(order="F")
    frozen.flags.writeable = False
    before = set(kernels.moments.kernel.signatures)
    a = kernels.moments(X, np.empty(0))
    b = kernels.moments(frozen, np.empty(0))
    assert [np.array_equal(u, v) for u, v in zip(a, b)] == [True] * len(a)
    assert len(set(kernels.moments.kernel.signatures) - before) <= 1
    assert X.flags.writeable
    # Every kernel compiled in this process took its data read-only.
    announced = [k for k in vars(kernels).values()
                 if isinstance(k, kernels.Announced) and k.reads]
    assert kernels.moments in announced and kernels.gradient_hessian_sums in announced
    for kernel in announced:
        for signature in kernel.kernel.signatures:
            assert all(map(_read_only_types, signature[:kernel.reads])), (kernel, signature)
