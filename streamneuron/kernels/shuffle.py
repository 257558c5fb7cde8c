"""numpy's ``Generator.shuffle`` of a 1-D int32 array, value for value, compiled.

A shuffled block's row permutation is ``default_rng([seed, epoch, block])``'s shuffle of
``arange(n)`` (:func:`streamneuron.stream.block_order`): 15-25 ms a million rows in
numpy, whose loop calls the bit generator through a pointer for every draw. This is
the same loop with the generator inlined (half the time), and the same numbers:

* the bit generator is numpy's ``PCG64`` (XSL-RR 128/64): ``s = s * M + inc``
  (mod ``2**128``), then ``rotr64(hi(s) ^ lo(s), hi(s) >> 58)``; a 32-bit draw is the
  low half of a fresh output, the next one its high half (``has_uint32``);
* ``j = random_interval(i)``: 32-bit draws masked by the smallest ``2**k - 1 >= i``
  until one is ``<= i``; then ``x[i]`` and ``x[j]`` swap, ``i`` from ``n - 1`` down to 1.

:func:`shuffle_like_numpy` checks once, on a small array, that this gives numpy's own
result, and leaves the shuffle to numpy when it does not (another numpy, another bit
generator), so a permutation never depends on which of the two made it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .specialize import Announced

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_MUL_HI = np.uint64(2549297995355413924)  # PCG's default 128-bit multiplier
_MUL_LO = np.uint64(4865540595714422341)


@njit(inline="always")
def _mulhi(a, b):
    """The high 64 bits of the 128-bit product ``a * b``."""
    a_lo = a & _M32
    a_hi = a >> _S32
    b_lo = b & _M32
    b_hi = b >> _S32
    t = a_hi * b_lo + ((a_lo * b_lo) >> _S32)
    u = (t & _M32) + a_lo * b_hi
    return a_hi * b_hi + (t >> _S32) + (u >> _S32)


@njit(cache=True, nogil=True)
def _shuffle_pcg64(x, state):
    """Shuffle ``x`` (int32, fewer than ``2**31`` values) in place as numpy's
    ``Generator.shuffle`` with a PCG64 of ``state`` = ``[state_hi, state_lo, inc_hi,
    inc_lo, has_uint32, uinteger]`` (uint64); ``state`` is left as the generator's."""
    s_hi, s_lo, i_hi, i_lo = state[0], state[1], state[2], state[3]
    has32 = state[4] != 0
    buffered = state[5]
    for i in range(x.shape[0] - 1, 0, -1):
        top = np.uint64(i)
        mask = top
        mask |= mask >> np.uint64(1)
        mask |= mask >> np.uint64(2)
        mask |= mask >> np.uint64(4)
        mask |= mask >> np.uint64(8)
        mask |= mask >> np.uint64(16)
        while True:
            if has32:
                has32 = False
                v = buffered
            else:
                lo = s_lo * _MUL_LO
                hi = s_hi * _MUL_LO + s_lo * _MUL_HI + _mulhi(s_lo, _MUL_LO)
                s_lo = lo + i_lo
                s_hi = hi + i_hi + (np.uint64(1) if s_lo < lo else np.uint64(0))
                folded = s_hi ^ s_lo
                rot = s_hi >> np.uint64(58)
                out = (folded >> rot) | (folded << ((np.uint64(64) - rot) & np.uint64(63)))
                buffered = out >> _S32
                has32 = True
                v = out & _M32
            v &= mask
            if v <= top:
                break
        j = np.int64(v)
        held = x[i]
        x[i] = x[j]
        x[j] = held
    state[0], state[1], state[4], state[5] = s_hi, s_lo, np.uint64(has32), buffered


_announced = Announced(_shuffle_pcg64)  # the cold-start notice, as every kernel's


def _state_of(rng: np.random.Generator) -> np.ndarray | None:
    state = rng.bit_generator.state
    if state.get("bit_generator") != "PCG64":
        return None
    s, inc, low = state["state"]["state"], state["state"]["inc"], (1 << 64) - 1
    return np.array([s >> 64, s & low, inc >> 64, inc & low, state["has_uint32"],
                     state["uinteger"]], dtype=np.uint64)


_AGREES: list[bool] = []  # the one check against numpy, once made


def _agrees() -> bool:
    if not _AGREES:
        ok = True
        for n in (1, 2, 3, 257, 4099):
            for key in ([0, 0, 0], [7, 1, 12]):
                mine = np.arange(n, dtype=np.int32)
                theirs = mine.copy()
                state = _state_of(np.random.default_rng(key))
                if state is None:
                    ok = False
                    break
                _announced(mine, state)
                np.random.default_rng(key).shuffle(theirs)
                ok = ok and bool(np.array_equal(mine, theirs))
        _AGREES.append(ok)
    return _AGREES[0]


def shuffle_like_numpy(rng: np.random.Generator, x: np.ndarray) -> bool:
    """Shuffle ``x`` in place exactly as ``rng.shuffle(x)`` would (``rng`` is left
    unchanged: use it no further) and return True; or return False, ``x`` untouched,
    when this cannot promise numpy's result (not a fresh PCG64, not a 1-D int32
    array, or this numpy shuffles otherwise)."""
    if x.ndim != 1 or x.dtype != np.int32 or not x.flags.writeable or not _agrees():
        return False
    state = _state_of(rng)
    if state is None:
        return False
    _announced(x, state)
    return True


__all__ = ["shuffle_like_numpy"]
