"""The hash of a hashed categorical column (``--hash-bits B``): a level's bucket is

    FNV-1a 64 (its value's UTF-8 text)  mod  2**B

FNV-1a (Fowler, Noll, Vo): ``h = 0xcbf29ce484222325``; for each byte ``h = (h ^ byte) *
0x100000001b3 mod 2**64``. Fixed, documented and the same on every platform and in every
process (unlike Python's salted ``hash``), so that a model file's weights mean the same
wherever it is used. The text of a value is Arrow's cast to string (``"17"``, ``"true"``);
a null hashes as the bytes ``b"\\xffnull"``, which no UTF-8 text is.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
NULL_BYTES = np.frombuffer(b"\xffnull", dtype=np.uint8)


@njit(cache=True, nogil=True)
def fnv1a_buckets(offsets, data, valid, bits, out):
    """``out[i]`` = the bucket of the ``i``-th string (bytes ``data[offsets[i]:offsets[i+1]]``,
    a null where ``valid[i]`` is 0: ``NULL_BYTES``)."""
    mask = (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    null_hash = FNV_OFFSET
    for b in NULL_BYTES:
        null_hash = (null_hash ^ np.uint64(b)) * FNV_PRIME
    for i in range(out.shape[0]):
        if valid.shape[0] and not valid[i]:
            out[i] = np.int64(null_hash & mask)
            continue
        h = FNV_OFFSET
        for k in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[k])) * FNV_PRIME
        out[i] = np.int64(h & mask)


__all__ = ["fnv1a_buckets", "FNV_OFFSET", "FNV_PRIME"]
