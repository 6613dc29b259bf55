"""The "floor": what the kernel's random numbers and transcendental calls cost on their own.

:func:`floor_chunk` is a jitted ``prange`` loop over trajectories that draws as many
counter-based random numbers and evaluates as many ``log``, ``exp``, ``sqrt``, ``erfc`` and
``pow`` calls per trajectory and per trajectory-week as ``levercast._kernels`` does for a
scenario, and adds them into a sum so that nothing can be optimised away, but does no model
arithmetic, keeps no state and writes no output. ``floor time / kernel time`` is the share of
the kernel's cost that is unavoidable given its random numbers and transcendental calls; the
rest is the model itself (and the kernel's histograms).

The counts come from :func:`profile`, which reads them off the scenario's distribution rows
(per trajectory) and off a short reference run (how many weeks, on average, the talks hazard
and the advance are evaluated).
"""

import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

from levercast import _layout as L
from levercast._jit import jit
from levercast._rng import ndtri, normal, stream_key, uniform

# per-trajectory counts, in the order of the ``per_trajectory`` array of floor_chunk
DRAWS, NORMALS, LOGS, EXPS, SQRTS, ERFCS, POWS = range(7)
# per-week counts: weeks (from week 0) in which each conditional part of the step runs
RAMP_WEEKS, GAIN_WEEKS, TALKS_WEEKS, POWER_WEEKS = range(4)


@dataclass(frozen=True)
class Profile:
    """Random numbers and transcendental calls of one trajectory of a scenario.

    ``per_trajectory``: counter-based uniforms drawn, of which fed to the inverse normal CDF,
    and calls of log, exp, sqrt, erfc and pow made once per trajectory (parameter draws,
    exponential clocks, status-quo normalisers). ``per_week``: weeks in which the lever
    terms are refreshed (3 exps), the advance is computed (1 exp), the talks hazard is
    evaluated (1 exp) and the advance takes ``ratio ** exponent`` as an exp and a log (only
    when the exponent is not 2, which the kernel squares); every week also draws one normal
    and takes one sqrt.
    """

    per_trajectory: np.ndarray  # int64[7]
    per_week: np.ndarray  # int64[4]
    horizon: int

    def calls_per_week(self) -> float:
        """Mean transcendental calls (log, exp, sqrt; ndtri excluded) per trajectory-week."""
        ramp, gain, talks, power = (int(x) for x in self.per_week)
        return (gain + talks + 3 * ramp + 2 * power + self.horizon) / self.horizon

    def as_dict(self) -> dict:
        keys = ("draws", "normals", "logs", "exps", "sqrts", "erfcs", "pows")
        counts = zip(keys, self.per_trajectory, strict=True)
        out = {f"per_trajectory_{k}": int(v) for k, v in counts}
        names = ("ramp_weeks", "gain_weeks", "talks_weeks", "power_weeks")
        for k, v in zip(names, self.per_week, strict=True):
            out[f"per_week_{k}"] = int(v)
        out["calls_per_week"] = round(self.calls_per_week(), 3)
        return out


def _ramp_weeks(delay: float, ramp: float, horizon: int) -> int:
    """Weeks in which the kernel's ramp ``g`` changes (its lever terms are recomputed)."""
    weeks, previous = 0, -1.0
    for t in range(horizon):
        g = min(1.0, max(0.0, (t - delay) / ramp)) if t >= delay else 0.0
        if g != previous:
            weeks += 1
            previous = g
    return weeks


def profile(rows: np.ndarray, horizon: int, result) -> Profile:
    """Count the kernel's random numbers and transcendental calls for a scenario.

    Parameters
    ----------
    rows : float64[N_PARAMS, ROW_WIDTH]
        The scenario's distribution rows.
    horizon : int
        Weeks simulated.
    result : levercast.simulate.RunResult
        A reference run of the scenario at this horizon; its per-week event counts give the
        mean number of weeks before talks open and outside a cease-fire.
    """
    draws, normals, logs, exps, sqrts, erfcs, pows = 3, 0, 3, 1, 0, 0, 0  # clocks, log h0, V0
    for row in rows:
        code = int(row[L.ROW_CODE])
        if code == L.DIST_FIXED:
            continue
        draws += 1  # the inverse-CDF uniform, drawn for every non-fixed row
        if code in (L.DIST_NORMAL, L.DIST_LOGNORMAL):
            # the truncation window's CDF values (erfc, log) are computed once per chunk
            normals += 1
            if code == L.DIST_LOGNORMAL:
                exps += 1
        elif code == L.DIST_BETA:
            for shape in (row[L.ROW_A], row[L.ROW_B]):
                if shape < 1.0:
                    draws += 1
                    pows += 1
                # one Marsaglia-Tsang attempt (accepted with probability above 0.95)
                sqrts += 1
                draws += 2
                normals += 1
                logs += 2
        elif code == L.DIST_TRIANGULAR:
            sqrts += 1
    n = result.n
    talks_open = result.events[:horizon, L.E_TALKS_OPENED]
    in_ceasefire = result.events[:horizon, L.E_CEASEFIRE]
    talks_weeks = round(float((n - talks_open).sum()) / n)
    gain_weeks = round(float((n - in_ceasefire).sum()) / n)
    delay = rows[L.P_SUPPORT_DELAY_WEEKS, L.ROW_A]
    ramp = rows[L.P_RAMP_WEEKS, L.ROW_A]
    exponent = rows[L.P_ADVANCE_EXPONENT]
    squared = exponent[L.ROW_CODE] == L.DIST_FIXED and exponent[L.ROW_A] == 2.0
    power_weeks = 0 if squared else gain_weeks
    per_week = [_ramp_weeks(delay, ramp, horizon), gain_weeks, talks_weeks, power_weeks]
    return Profile(
        np.array([draws, normals, logs, exps, sqrts, erfcs, pows], dtype=np.int64),
        np.array(per_week, dtype=np.int64),
        horizon,
    )


@jit
def _floor_one(seed, trajectory, horizon, per_trajectory, per_week):
    kp = stream_key(seed, trajectory, L.STREAM_PARAMS)
    kw = stream_key(seed, trajectory, L.STREAM_WEEKLY)
    ke = stream_key(seed, trajectory, L.STREAM_EVENTS)
    acc = 0.0
    u = 0.5
    for i in range(per_trajectory[DRAWS]):
        u = uniform(ke, i) if i < 3 else uniform(kp, i)  # the three event draws, then params
        if i < per_trajectory[NORMALS]:
            acc += ndtri(u)
        else:
            acc += u
    for i in range(per_trajectory[LOGS]):
        acc += math.log(u + 1e-3 * i)
    for i in range(per_trajectory[EXPS]):
        acc += math.exp(-u - 1e-3 * i)
    for i in range(per_trajectory[SQRTS]):
        acc += math.sqrt(u + 1e-3 * i)
    for i in range(per_trajectory[ERFCS]):
        acc += math.erfc(u - 1e-3 * i)
    for i in range(per_trajectory[POWS]):
        acc += u ** (1.0 / (1.5 + i))
    for t in range(horizon):
        z = normal(kw, t)
        acc += math.sqrt(1.5 + 0.1 * z)
        # square-root histogram bins: one sqrt per banded metric and week
        for m in range(L.N_BAND_METRICS):
            acc += math.sqrt(2.0 + m + 0.1 * z)
        if t < per_week[GAIN_WEEKS]:
            acc += math.exp(0.3 * z - 0.045)
        if t < per_week[POWER_WEEKS]:
            acc += math.exp(2.0 * math.log(1.5 + 0.05 * z))
        if t < per_week[TALKS_WEEKS]:
            acc += math.exp(-3.0 + 0.01 * t + 0.1 * z)
        if t < per_week[RAMP_WEEKS]:
            acc += math.exp(-0.1 * z) + math.exp(-0.2 * z) + math.exp(-0.3 * z)
    return acc


@jit(parallel=True)
def floor_chunk(seed, first, n, horizon, per_trajectory, per_week):
    """Sum of the floor's draws and calls over trajectories ``first .. first + n - 1``.

    Parameters
    ----------
    seed, first, n, horizon : int
        As for the kernel.
    per_trajectory : int64[7]
        Counts per trajectory (``Profile.per_trajectory``).
    per_week : int64[4]
        Weeks of each conditional part of the step (``Profile.per_week``).

    Returns
    -------
    float
        The sum (finite; it only exists so that no call can be optimised away).
    """
    total = 0.0
    for j in prange(n):
        total += _floor_one(seed, first + j, horizon, per_trajectory, per_week)
    return total


def run_floor(prof: Profile, seed: int, n: int, threads: int, chunk: int = 65_536) -> float:
    """Run the floor over ``n`` trajectories in chunks, on ``threads`` numba threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        total = 0.0
        for first in range(0, n, chunk):
            m = min(chunk, n - first)
            total += floor_chunk(seed, first, m, prof.horizon, prof.per_trajectory, prof.per_week)
        return total
    finally:
        numba.set_num_threads(previous)
