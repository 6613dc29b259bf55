"""The kernel's own exp and log: accuracy against the C library, edge cases, and the same
bits whether a call runs in a vectorised loop or on its own."""

import math

import numpy as np
import pytest
from numba import njit

from levercast.engine import _fmath


@njit
def _each(f, xs):
    """``f`` (a jitted function) of every element, in one compiled loop."""
    out = np.empty_like(xs)
    for i in range(xs.size):
        out[i] = f(xs[i])
    return out


def _exp_loop(xs):
    return _each(_fmath.exp, xs)


def _log_loop(xs):
    return _each(_fmath.log, xs)


def _ulps(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_exp_within_one_ulp_of_the_c_library():
    rng = np.random.default_rng(20241025)
    xs = np.concatenate(
        [
            rng.uniform(-708.0, 709.0, 200_000),
            rng.uniform(-5.0, 5.0, 200_000),
            np.linspace(-1e-6, 1e-6, 2001),
            np.arange(-700, 701, dtype=np.float64) * math.log(2.0),  # reduction boundaries
        ]
    )
    assert _ulps(_exp_loop(xs), np.exp(xs)).max() <= 1.0


def test_log_within_two_ulps_of_the_c_library():
    rng = np.random.default_rng(7)
    xs = np.concatenate(
        [
            np.exp(rng.uniform(-700.0, 700.0, 200_000)),
            rng.uniform(0.5, 2.0, 200_000),
            np.nextafter(math.sqrt(2.0), [0.0, 3.0]),  # where the mantissa is halved
            [1.0, 2.0, 0.5, 1e-300, 1e300],
        ]
    )
    assert _ulps(_log_loop(xs), np.log(xs)).max() <= 2.0
    assert _log_loop(np.array([1.0]))[0] == 0.0


def test_edge_cases():
    got = _exp_loop(np.array([math.nan, 709.5, math.inf, -708.5, -math.inf, 0.0]))
    assert math.isnan(got[0])
    assert got[1] == math.inf and got[2] == math.inf
    assert got[3] == 0.0 and got[4] == 0.0
    assert got[5] == 1.0
    got = _log_loop(np.array([math.nan, math.inf, 0.0, -1.0]))
    assert math.isnan(got[0]) and got[1] == math.inf
    assert math.isnan(got[2]) and math.isnan(got[3])


@pytest.mark.parametrize("n", [1, 7, 8, 33])
def test_a_vectorised_loop_gives_the_scalar_bits(n):
    """Loop lengths that leave remainders: lanes in the vector body and in the scalar tail
    agree with single calls to the last bit."""
    rng = np.random.default_rng(n)
    xs = rng.uniform(-30.0, 30.0, n)
    single = np.array([_fmath.exp(x) for x in xs])
    np.testing.assert_array_equal(_exp_loop(xs), single)
    ys = np.exp(xs)
    np.testing.assert_array_equal(_log_loop(ys), np.array([_fmath.log(y) for y in ys]))
