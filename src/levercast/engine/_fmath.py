"""``exp`` and ``log`` written in plain arithmetic, so that loops calling them vectorise.

LLVM turns a loop over trajectories into SIMD instructions only if it can vectorise every
call in the loop body. The C library's ``exp`` and ``log`` are opaque calls, and numba has no
vector math library here, so the kernel uses these instead: range reduction and a polynomial,
built from ``+ - * /``, ``floor`` and bit casts only. Without fast-math nothing is fused or
reordered, so a value computed in a vector lane is bit-identical to the same call in scalar
code, whatever lane or loop it lands in.

Accuracy (checked against the C library in ``tests/test_fmath.py``): ``exp`` within 2 units in
the last place on [-708, 709], ``log`` within 2 on normal positive numbers. Outside the range
``exp`` returns ``inf`` above 709 and 0 below -708 (the C library returns at most 3e-308
there); ``log`` of zero, negative or subnormal numbers is not defined here (the kernel
never asks for it).
"""

import math

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from levercast.engine._jit import jit


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64 (a register move, no conversion)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 whose bits are the int64 ``n``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# ln 2 split so that k * _LN2_HI is exact for |k| < 2**20 (the fdlibm constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT2 = 1.4142135623730951
_MANTISSA = np.int64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.int64(0x3FF0000000000000)


@jit
def exp(x):
    """``e**x``: ``2**k * P(r)`` with ``x = k ln 2 + r``, ``|r| <= ln 2 / 2``.

    P is the Taylor polynomial of degree 13, whose truncation error (below 4e-18 relative) is
    far under rounding, evaluated by Estrin's scheme: a dependency chain of 6 operations
    instead of Horner's 26, so that the calls of neighbouring lanes and of one lane's week
    overlap in the CPU (7% off the whole kernel).
    """
    xc = min(max(x, -708.0), 709.0)
    kf = math.floor(xc * _INV_LN2 + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    # Estrin's scheme: the same polynomial with a dependency chain of 5 multiplications
    # instead of 13, so that the calls of neighbouring lanes and steps overlap in the CPU
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    a1 = 0.5 + r * (1.0 / 6.0)
    a2 = 1.0 / 24.0 + r * (1.0 / 120.0)
    a3 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    b1 = a2 + r2 * a3  # terms of degree 4 to 7, over r**4
    c1 = (a4 + r2 * a5) + r4 * a6  # degree 8 to 13, over r**8
    # the largest terms are added last
    p = 1.0 + (r + (r2 * a1 + (r4 * b1 + r8 * c1)))
    y = p * _from_bits((np.int64(kf) + np.int64(1023)) << np.int64(52))
    y = math.inf if x > 709.0 else y
    y = 0.0 if x < -708.0 else y
    return x if x != x else y


@jit
def log(x):
    """Natural log of a positive normal ``x``: ``e ln 2 + log1p(f)``, ``1 + f`` in
    [sqrt(1/2), sqrt(2)), with ``log1p(f) = 2 atanh(s)``, ``s = f / (2 + f)``, summed to
    ``s**23`` (``|s| < 0.172``: truncation below 1e-18 relative)."""
    b = _bits(x)
    e = (b >> np.int64(52)) - np.int64(1023)
    m = _from_bits((b & _MANTISSA) | _ONE_BITS)  # in [1, 2)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    e = e + np.int64(1) if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = 1.0 / 23.0
    q = q * z + 1.0 / 21.0
    q = q * z + 1.0 / 19.0
    q = q * z + 1.0 / 17.0
    q = q * z + 1.0 / 15.0
    q = q * z + 1.0 / 13.0
    q = q * z + 1.0 / 11.0
    q = q * z + 1.0 / 9.0
    q = q * z + 1.0 / 7.0
    q = q * z + 1.0 / 5.0
    q = q * z + 1.0 / 3.0
    ef = np.float64(e)
    y = ef * _LN2_HI + (ef * _LN2_LO + (2.0 * s + 2.0 * s * z * q))
    y = math.inf if x == math.inf else y
    return math.nan if not x > 0.0 else y
