"""``exp`` and ``log1p`` on the half-ranges the losses need, as plain arithmetic.

The kernels evaluate ``e = exp(-|z|)`` and ``log1p(e)`` once per row. Called
through libm they are opaque calls, which keep LLVM from vectorizing the loop
over a tile of rows. Written here as range
reduction plus a polynomial (no branches, no calls), the same loop runs four
rows per instruction, and the numbers are the same on every machine (libm's
last bit varies between C libraries; these do not).

Accuracy: within 1 ulp of ``math.exp`` / ``math.log1p`` over the whole range
(``tests/test_losses.py``), and within 1 ulp of the exact value (against a
120-bit reference the worst sampled cases are about 0.75 ulp). ``exp_nonpositive`` clamps its argument at
``EXP_FLOOR`` (``e**-708 ~ 3e-308``, the smallest power it builds without
subnormals): below that it returns ``e**EXP_FLOOR`` instead of a subnormal or 0,
a difference of less than 1e-307 in ``p`` or the loss.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# exp (fdlibm's e_exp.c): a = k ln2 + r, |r| <= ln2 / 2, ln2 split in two (Cody and
# Waite) so that k * LN2_HI is exact; e**r = 1 + 2r / (R(r) - r) with R a degree-10
# even Remez fit (coefficients EXP_P, < 2**-59 error); times 2**k built from its bits.
# k = round(a / ln2) is read off the low bits of a * LOG2_E + ROUNDING_SHIFT (no
# float-to-int conversion: AVX2 has none for four doubles at once).
EXP_FLOOR = -708.0
LOG2_E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # 32 significant bits
LN2_LO = 1.90821492927058770002e-10
ROUNDING_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
EXP_P = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
         -1.65339022054652515390e-06, 4.13813679705723846039e-08)

# log1p(e), 0 <= e <= 1 (fdlibm's s_log1p.c / e_log.c): 1 + e = 2**k (1 + f) with
# 1 + f in [sqrt(1/2), sqrt(2)]; log(1 + f) = f - f**2/2 + s (f**2/2 + R(s**2)),
# s = f / (2 + f), R a degree-7 Remez fit (LOG_LG, < 2**-58 error). For k = 1 the
# rounding of u = 1 + e is put back by (e - (u - 1)) / u.
SQRT2 = 1.4142135623730951
LN2_HI_LOG = 6.93147180369123816490e-01
LN2_LO_LOG = 1.90821492927058770002e-10
LOG_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
          2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
          1.479819860511658591e-01)


def _bitcast(source, target, doc: str):
    """An intrinsic reinterpreting the 64 bits of a ``source`` value as ``target``."""
    target_ir = ir.DoubleType() if target == types.float64 else ir.IntType(64)

    @intrinsic
    def cast(typingctx, value):
        if not isinstance(value, (types.Integer if source == types.int64 else types.Float)):
            return None

        def codegen(context, builder, signature, args):
            bits = context.cast(builder, args[0], signature.args[0], source)
            return builder.bitcast(bits, target_ir)

        return target(value), codegen

    cast.__doc__ = doc
    return cast


_double_from_bits = _bitcast(types.int64, types.float64,
                             "The float64 whose IEEE-754 bit pattern is the int64 ``bits``.")
_bits_of_double = _bitcast(types.float64, types.int64,
                           "The IEEE-754 bit pattern of a float64, as an int64.")


@njit(inline="always")
def exp_nonpositive(a):
    """``e**a`` for ``a <= 0`` (clamped at ``EXP_FLOOR``; NaN stays NaN)."""
    a = max(a, EXP_FLOOR)
    shifted = a * LOG2_E + ROUNDING_SHIFT
    k = shifted - ROUNDING_SHIFT  # round(a / ln2), exactly, as a float
    hi = a - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    p = EXP_P
    c = r - t * (p[0] + t * (p[1] + t * (p[2] + t * (p[3] + t * p[4]))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # 2**k: the low bits of ``shifted`` hold k; moved up into the exponent field.
    return y * _double_from_bits((_bits_of_double(shifted) + 1023) << 52)


@njit(inline="always")
def log1p_unit(e):
    """``log(1 + e)`` for ``0 <= e <= 1``."""
    u = 1.0 + e
    big = u > SQRT2
    k = 1.0 if big else 0.0
    f = (0.5 * u - 1.0) if big else e  # exact either way
    fix = ((e - (u - 1.0)) / u) if big else 0.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    g = LOG_LG
    t1 = w * (g[1] + w * (g[3] + w * g[5]))
    t2 = z * (g[0] + w * (g[2] + w * (g[4] + w * g[6])))
    return k * LN2_HI_LOG - ((hfsq - (s * (hfsq + (t1 + t2)) + (k * LN2_LO_LOG + fix))) - f)
