"""The "floor": what the kernel's random numbers and transcendental calls cost on their own.

:func:`floor_chunk` has the kernel's shape (blocks of trajectories over threads, groups of
``LANES`` trajectories advanced week by week in vectorised loops) and makes the kernel's
draws and calls, with no model in between:

- per trajectory: the parameter draws (``sampling.sample_lanes`` itself: the counter-based
  uniforms, inverse normal CDFs, lognormal ``exp`` and beta draws of the scenario's rows),
  the three event-stream uniforms with two ``log`` for the exponential clocks, the ``log`` of
  the base talks hazard and the ``exp`` of the status-quo surveillance term;
- per week: the weekly normal (``kernels._draw_normals``: uniform, central inverse CDF for
  every lane, tails lane by lane), the five ``sqrt`` (the infantry term of the losses and the
  square-root histogram bins of the four banded metrics) and the two ``exp`` that the kernel
  evaluates for every lane every week (advance noise, talks hazard); three ``exp`` more in the
  weeks the lever ramp moves; and an ``exp`` and a ``log`` more when the advance exponent is
  not 2.

The results are added into per-lane sums so that nothing can be optimised away, but no model
arithmetic is done and nothing is written. ``floor time / kernel time`` is the share of the
kernel's cost that its random numbers and transcendental calls take when evaluated the way
the kernel evaluates them; the rest is the model itself and the aggregation.
"""

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from levercast.engine import _fmath, lanes, sampling
from levercast.engine import kernels as K
from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import stream_key, uniform
from levercast.results import names

WEEKLY_SQRTS = 1 + names.N_BAND_METRICS  # infantry losses, and one histogram bin per metric
WEEKLY_EXPS = 2  # advance noise and talks hazard, every lane every week
RAMP_EXPS = 3  # surveillance, recruit quality and partner fatigue, when the ramp moves


@dataclass(frozen=True)
class Profile:
    """The calls of one trajectory of a scenario that depend on it.

    ``ramp_weeks``: weeks in which the kernel recomputes the lever terms; ``power``: the
    advance exponent is not fixed at 2, so ``ratio ** exponent`` costs a ``log`` and an
    ``exp`` every week.
    """

    ramp_weeks: int
    power: bool
    horizon: int

    def calls_per_week(self) -> float:
        """Mean transcendental calls (exp, log, sqrt; the weekly normal excluded) per week."""
        weekly = WEEKLY_SQRTS + WEEKLY_EXPS + (2 if self.power else 0)
        return weekly + RAMP_EXPS * self.ramp_weeks / self.horizon

    def as_dict(self) -> dict:
        return {
            "ramp_weeks": self.ramp_weeks,
            "power": self.power,
            "horizon": self.horizon,
            "calls_per_week": round(self.calls_per_week(), 3),
        }


def _ramp_weeks(delay: float, ramp: float, horizon: int) -> int:
    """Weeks in which the kernel's ramp ``g`` changes (its lever terms are recomputed)."""
    weeks, previous = 0, -1.0
    for t in range(horizon):
        g = min(1.0, (t - delay) / ramp) if t >= delay else 0.0
        if g != previous:
            weeks += 1
            previous = g
    return weeks


def profile(rows: np.ndarray, horizon: int, sq: np.ndarray) -> Profile:
    """The floor's profile of a scenario: its float64[N_PARAMS, ROW_WIDTH] distribution rows
    and its status-quo levers ``sq`` (``lowering.status_quo(scenario)``)."""
    delay = rows[L.P_SUPPORT_DELAY_WEEKS, L.ROW_A]
    ramp = rows[L.P_RAMP_WEEKS, L.ROW_A]
    exponent = rows[L.P_ADVANCE_EXPONENT]
    squared = exponent[L.ROW_CODE] == L.DIST_FIXED and exponent[L.ROW_A] == 2.0
    # levers fixed at the status quo: the kernel computes the lever terms in week 0 only
    fixed = all(rows[p, L.ROW_CODE] == L.DIST_FIXED for p in K._RAMPED)
    values = np.ascontiguousarray(rows[:, L.ROW_A])
    still = fixed and K.levers_at_status_quo(values, sq)
    ramp_weeks = 1 if still else _ramp_weeks(delay, ramp, horizon)
    return Profile(ramp_weeks, not squared, horizon)


@jit
def _floor_lanes(
    rows, bounds, post, slots, seed, first, nl, horizon, ramp_weeks, power, th, scratch, b
):
    """The draws and calls of trajectories ``first .. first + nl - 1``; returns their sum."""
    sampling.sample_lanes(rows, bounds, post, slots, seed, first, nl, th, scratch)
    keys = np.empty(lanes.LANES, dtype=np.uint64)
    acc = np.zeros(lanes.LANES)
    for i in range(nl):
        keys[i] = stream_key(seed, first + i, L.STREAM_WEEKLY)
        ekey = stream_key(seed, first + i, L.STREAM_EVENTS)
        clocks = -math.log(uniform(ekey, L.DRAW_TALKS_CLOCK))
        clocks -= math.log(uniform(ekey, L.DRAW_BREAK_CLOCK))
        acc[i] = clocks + uniform(ekey, L.DRAW_CEASEFIRE) + th[L.P_KURSK_INITIAL_KM2, i]
        acc[i] += math.log(th[L.P_TALKS_HAZARD_PER_YEAR, i] + 1e-300)
        acc[i] += _fmath.exp(-th[L.P_INTERCEPTOR_KILL_PROB, i])
    for t in range(horizon):
        K._draw_normals(b, nl, keys, t)
        tf = np.float64(t)
        for i in range(nl):
            z = b[lanes.Z * lanes.LANES + i]
            x = 1.5 + 0.1 * z
            s = math.sqrt(x) + math.sqrt(x + 1.0) + math.sqrt(x + 2.0)
            s += math.sqrt(x + 3.0) + math.sqrt(x + 4.0)
            s += _fmath.exp(0.3 * z - 0.045) + _fmath.exp(0.01 * tf - 3.0 + 0.1 * z)
            acc[i] += s
        if t < ramp_weeks:
            for i in range(nl):
                z = b[lanes.Z * lanes.LANES + i]
                e = _fmath.exp(-0.1 * z) + _fmath.exp(-0.2 * z) + _fmath.exp(-0.3 * z)
                acc[i] += e
        if power:
            for i in range(nl):
                z = b[lanes.Z * lanes.LANES + i]
                acc[i] += _fmath.exp(1.7 * _fmath.log(1.5 + 0.05 * z))
    total = 0.0
    for i in range(nl):
        total += acc[i]
    return total


@jit(parallel=True)
def floor_chunk(rows, seed, first, n, horizon, ramp_weeks, power, n_blocks):
    """Sum of the floor's draws and calls over trajectories ``first .. first + n - 1``.

    Parameters
    ----------
    rows : float64[N_PARAMS, ROW_WIDTH]
        The scenario's distribution rows (the parameter draws are the kernel's).
    seed, first, n, horizon : int
        As for the kernel.
    ramp_weeks : int
        Weeks in which the lever terms are recomputed (``Profile.ramp_weeks``).
    power : bool
        The advance exponent is not 2 (``Profile.power``).
    n_blocks : int
        Blocks of trajectories, one per thread, as the kernel splits a chunk.

    Returns
    -------
    float
        The sum (finite; it only exists so that no call can be optimised away).
    """
    per = (n + n_blocks - 1) // n_blocks
    bounds = K.bounds_table(rows)
    post = np.empty((0, 0))  # no posterior: the floor of a scenario without one
    slots = np.empty(0, dtype=np.int64)
    totals = np.zeros(n_blocks)
    for blk in prange(n_blocks):
        th = np.empty((rows.shape[0], lanes.LANES))
        scratch = np.empty(lanes.LANES)
        b = np.empty(lanes.N_SLOTS * lanes.LANES)
        lo = blk * per
        hi = min(n, lo + per)
        for g0 in range(lo, hi, lanes.LANES):
            nl = min(hi, g0 + lanes.LANES) - g0
            totals[blk] += _floor_lanes(
                rows,
                bounds,
                post,
                slots,
                seed,
                first + g0,
                nl,
                horizon,
                ramp_weeks,
                power,
                th,
                scratch,
                b,
            )
    return totals.sum()


def run_floor(
    rows: np.ndarray, prof: Profile, seed: int, n: int, threads: int, chunk: int = 65_536
) -> float:
    """Run the floor over ``n`` trajectories in chunks, on ``threads`` numba threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        total = 0.0
        for first in range(0, n, chunk):
            m = min(chunk, n - first)
            total += floor_chunk(
                rows, seed, first, m, prof.horizon, prof.ramp_weeks, prof.power, threads
            )
        return total
    finally:
        numba.set_num_threads(previous)
