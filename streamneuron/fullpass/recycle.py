"""Large task sums reused within a process (:data:`RECYCLED`).

newton's sums with many level weights are large (the arrowhead Hessian's cross block:
~100 MiB a task at 11,118 weights), and a new array's pages are given to the process
as the kernel first touches them: at 11,118 weights that costs a task 26-57 ms, where
zeroing an array already in use costs ~5 ms. So a task takes its sums from
:meth:`Recycled.zeroed`, and the in-process reduction (``cluster.TreeFold``) gives an
array back once it was added into another (``sums.sum_partials.recycle``): it is then
no one's. The free arrays are let go at the end of each pass (``InProcess.map_reduce``):
reused within a pass only, so no more are alive at once than before, and the memory
between passes (newton's solve) is what it was. Zeros are zeros: the same bits either way.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np


class Recycled:
    """Free float64 arrays of each size, at most ``kept`` a size; only arrays of at least
    ``min_bytes`` (smaller ones cost little to make) that :meth:`zeroed` made."""

    def __init__(self, min_bytes: int = 16 << 20, kept: int = 4):
        self.min_bytes, self.kept = min_bytes, kept
        self._free: dict[int, list[np.ndarray]] = {}
        self._lent: dict[int, weakref.ref] = {}  # made here and not given back, by id
        self._lock = threading.RLock()  # (a weakref's callback may run under it)

    def zeroed(self, size: int) -> np.ndarray:
        """``np.zeros(size)``: a free array of that size zeroed, or a new one."""
        if 8 * size < self.min_bytes:
            return np.zeros(size)
        with self._lock:
            free = self._free.get(size)
            array = free.pop() if free else None
        if array is None:
            array = np.zeros(size)
        else:
            array.fill(0.0)
        with self._lock:
            self._lent[id(array)] = weakref.ref(array, self._forget(id(array)))
        return array

    def _forget(self, key: int):
        def forget(_ref) -> None:  # (the array is gone: its id may be another's next)
            with self._lock:
                if self._lent.get(key) is _ref:
                    del self._lent[key]
        return forget

    def give_back(self, array: np.ndarray) -> None:
        """``array``, made by :meth:`zeroed`, is no one's any more (its caller holds no
        view of it): kept for the next :meth:`zeroed` of its size, or let go."""
        with self._lock:
            ref = self._lent.get(id(array))
            if ref is None or ref() is not array or array.base is not None:
                return
            del self._lent[id(array)]
            free = self._free.setdefault(array.shape[0], [])
            if len(free) < self.kept:
                free.append(array)

    def clear(self) -> None:
        """Let every free array go (the end of a pass)."""
        with self._lock:
            self._free.clear()


RECYCLED = Recycled()

__all__ = ["Recycled", "RECYCLED"]
