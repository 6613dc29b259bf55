"""Counter-based random numbers keyed by (seed, trajectory, stream).

A draw is a pure function of ``(seed, trajectory, stream, counter)``: the SplitMix64
finaliser applied to a key derived from the first three plus the counter times the golden
gamma. No generator state is carried between trajectories, so results do not depend on how
trajectories are split between threads or chunks.

Normals come from the inverse normal CDF (Acklam's rational approximation, relative error
below 1.2e-9): the central 95% of draws need no transcendental call at all, and the mapping
from uniform to normal is monotone up to a wobble of about 1e-13 (and a step of 4e-9 where
its branches meet); truncated draws are clamped to their bounds, so neither matters.
"""

import math

import numpy as np

from levercast.engine._jit import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_K_TRAJ = np.uint64(0xD1B54A32D192ED03)
_K_STREAM = np.uint64(0x8CB92BA72F3D8DD7)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_TWO_M52 = 1.0 / 4503599627370496.0


@jit
def mix64(z):
    """SplitMix64 finaliser: a bijection on uint64 with good avalanche."""
    z = np.uint64(z)  # a key handed back from Python arrives as int64: same bits
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def stream_key(seed, trajectory, stream):
    """Key of the stream ``stream`` of one trajectory (all arguments non-negative ints)."""
    k = mix64(np.uint64(seed) * _GOLDEN + _K_STREAM)
    k = mix64(k ^ (np.uint64(trajectory) * _K_TRAJ))
    return mix64(k + np.uint64(stream) * _GOLDEN + _K_TRAJ)


@jit
def uniform(key, counter):
    """Uniform draw on the open interval (0, 1) for ``counter`` of the stream ``key``.

    The top 52 bits of the hash, centred in their cell: every value (2k + 1) / 2**53 is exact
    in float64, so the largest draw is 1 - 2**-53, never 1.0.
    """
    x = mix64(np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN)
    return (np.float64(x >> _S12) + 0.5) * _TWO_M52


_A1, _A2, _A3 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
_A4, _A5, _A6 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B1, _B2, _B3 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
_B4, _B5 = 6.680131188771972e01, -1.328068155288572e01
_C1, _C2, _C3 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
_C4, _C5, _C6 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D1, _D2, _D3, _D4 = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
P_LOW = 0.02425  # below it (and above 1 - P_LOW) the tail branch applies


@jit
def ndtri(p):
    """Inverse standard normal CDF for ``p`` in (0, 1) (Acklam's approximation)."""
    if p < P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        return (((((_C1 * q + _C2) * q + _C3) * q + _C4) * q + _C5) * q + _C6) / (
            (((_D1 * q + _D2) * q + _D3) * q + _D4) * q + 1.0
        )
    if p > 1.0 - P_LOW:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        return -(((((_C1 * q + _C2) * q + _C3) * q + _C4) * q + _C5) * q + _C6) / (
            (((_D1 * q + _D2) * q + _D3) * q + _D4) * q + 1.0
        )
    return ndtri_central(p)


@jit
def ndtri_central(p):
    """The central branch of ``ndtri``, for ``p`` in [P_LOW, 1 - P_LOW] (no call, no branch:
    a loop of it vectorises)."""
    q = p - 0.5
    r = q * q
    return (
        (((((_A1 * r + _A2) * r + _A3) * r + _A4) * r + _A5) * r + _A6)
        * q
        / (((((_B1 * r + _B2) * r + _B3) * r + _B4) * r + _B5) * r + 1.0)
    )


@jit
def ndtr(x):
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x * 0.7071067811865476)


@jit
def normal(key, counter):
    """Standard normal draw for ``counter`` of the stream ``key``."""
    return ndtri(uniform(key, counter))
