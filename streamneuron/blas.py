"""numpy's and scipy's BLAS limited to a number of threads while a pass or a run computes.

A pass's and an SGD run's BLAS calls are small (dot products, a sample's fit, the
penalty's ``w @ w``), while the pass's own threads, or the reader thread and the
kernel, already use the cores: a threaded OpenBLAS splits a call above 10,000 values
over its threads, whose workers then spin for about 35 ms of CPU after each call on
those cores. One thread also gives the same bits on any machine (a threaded sum's
last bits depend on the thread count).
"""

from __future__ import annotations

import contextlib
import sys

_SCIPY_BLAS = "scipy.linalg.cython_blas"
_controller = None  # threadpoolctl's controller of the BLAS libraries loaded when made
_controller_sees_scipy = False


def blas_threads(limit: int | None = 1, *, load_scipy: bool = True):
    """A context in which every loaded BLAS uses at most ``limit`` threads (None: no
    change). threadpoolctl's controller sees the libraries loaded when it is made, so
    with ``load_scipy`` scipy's BLAS (the one numba's ``np.dot`` calls) is loaded
    first; without it (an SGD run, whose start would wait ~0.5 s for ``scipy.linalg``)
    numpy's BLAS alone is limited unless scipy's is loaded already."""
    global _controller, _controller_sees_scipy
    if limit is None:
        return contextlib.nullcontext()
    if load_scipy:
        import scipy.linalg.cython_blas  # noqa: F401
    if _controller is None or (not _controller_sees_scipy and _SCIPY_BLAS in sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
        _controller_sees_scipy = _SCIPY_BLAS in sys.modules
    return _controller.limit(limits=limit, user_api="blas")
