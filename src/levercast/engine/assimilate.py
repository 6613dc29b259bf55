"""Condition a run on observations: a bootstrap particle filter over the kernel's lanes.

``docs/assimilation.md`` states the method and the observation model. In short: the ``n``
trajectories of a run are the particles. They are advanced by the kernel's own weekly steps
(:func:`levercast.engine.kernels.run_weeks`) from one observation week to the next; at each
observation week every particle is weighted by the likelihood of what was observed, and the
set is resampled (systematic resampling). After the last observation the particles run on to
the horizon as an ordinary run does. Because the set is resampled at every observation week,
every particle carries the same weight between them, so the run's aggregates stay exact
integer counts and mean what they mean in an unconditioned run.

Reproducibility: the systematic offset of resampling step ``k`` is a counter-based draw keyed
by ``(seed, k)``, the weights are summed in a fixed order, and particle ``j``'s weekly noise
after step ``k`` is the stream ``(seed, j, STREAM_OFFSPRING + k)``. Nothing depends on the
thread count or on how particles are grouped. Without observations the filter reproduces an
unconditioned run bit for bit (particle ``j`` is trajectory ``j``).

Memory: every particle is set up in a whole lane buffer (``N_SLOTS * 8`` bytes, 1.8 kB), then
keeps only the slots that differ between particles: its state, twice (for resampling), and
once per first ancestor the values fixed for its life (888 bytes a particle on the baseline),
plus 80 bytes a week up to the last observation for the smoothed bands. A run of more than
:data:`ISLAND` trajectories is filtered in independent islands of at most that many, one after
the other, so its memory does not grow with ``n``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import prange

from levercast.engine import _fmath
from levercast.engine import front as fr
from levercast.engine import lanes as LN
from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import normal, stream_key, uniform
from levercast.engine.kernels import (
    METRIC_SLOTS,
    aggregate_week,
    any_power_branch,
    finish_lanes,
    run_weeks,
    setup_lanes,
    trace_week,
)
from levercast.engine.lanes import put_if
from levercast.engine.sampling import bounds_table, sample_lanes
from levercast.errors import LevercastError
from levercast.results import names as N

LANES = LN.LANES
WIDTH = LN.N_SLOTS * LANES  # floats in one group's lane buffer
# a conditioned run is filtered in independent islands of at most ISLAND particles, one after
# the other, so its memory does not grow with n (docs/assimilation.md)
ISLAND = 1 << 19
ISLAND_STEPS = 1 << 20  # resampling offsets: island i's step k is counter i * ISLAND_STEPS + k
GROUPS_PER_BLOCK = 65_535 // LANES  # a block's uint16 histogram slab counts at most 65,535

# observation kinds (what a particle is compared with)
OBS_TERRITORY = 0  # cumulative territory lost since the start, km2 (Gaussian increments)
OBS_TALKS = 1  # talks have opened by the date (0/1)
OBS_CEASEFIRE = 2  # a cease-fire is in force on the date (0/1)
OBS_KURSK_LOST = 3  # Kursk area held below KURSK_LOST_BELOW on the date (0/1)
OBS_COLLAPSE = 4  # the front is in the collapse regime on the date (0/1)
OBS_CEASEFIRE_AGREED = 5  # a cease-fire has been agreed by the date (0/1; it may have broken)
OBS_KURSK_AREA = 6  # area of the Kursk salient Ukraine holds on the date, km2 (Gaussian level)
KURSK_LOST_BELOW = 0.5  # km2, as ``levercast score`` reads ``kursk_lost``
DAYS_PER_MONTH = 365.25 / 12.0
# a continuous observation further than this many standard deviations from every particle
# is impossible under the model: the run stops instead of following a handful of outliers
IMPOSSIBLE_Z = 8.0
N_TRACED = N.N_BAND_METRICS + N.N_EVENTS  # what a particle keeps of each week for smoothing
SMOOTH_MAX_BYTES = 4e9  # beyond, the bands up to the last observation stay filtered
LOW_ESS = 1000.0  # a run warns when an observation week leaves fewer effective particles
# parameter rejuvenation (Liu and West 2001) after each resampling, when asked for
# (--rejuvenate), with discount factor DISCOUNT: shrink a = (3 DISCOUNT - 1) / (2 DISCOUNT),
# spread h = sqrt(1 - a^2). Off by default: on the baseline it did not reduce the Monte Carlo
# error of the outcome probabilities measured over 16 seeds, and tripled the filter's cost
# (docs/assimilation.md)
DISCOUNT = 0.98
JITTER_COUNTER = 1 << 20  # past any week's counter of the weekly noise stream
CLOCK_COUNTER = JITTER_COUNTER - 16  # the fresh event clocks of a copy


class ConditioningError(LevercastError, ValueError):
    """Observations a run cannot be conditioned on; names the date, metric and value."""


@dataclass(frozen=True)
class ObservationModel:
    """Trackers' error (``docs/assimilation.md``). The territory lost: the change between two
    observation dates is observed with a Gaussian error of variance ``(km2_per_month**2) *
    months + (relative * change)**2``, ``change`` the true change. The Kursk salient's area:
    each figure is observed with a Gaussian error of variance ``kursk_km2**2 + (relative *
    area)**2`` (an assumption: reports of the salient's size differ by tens of km2)."""

    km2_per_month: float = 15.0
    relative: float = 0.05
    kursk_km2: float = 50.0

    def __post_init__(self):
        for name in ("km2_per_month", "relative", "kursk_km2"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ConditioningError(f"observation error {name} must be >= 0, got {v!r}")
        if self.km2_per_month == 0.0 and self.relative == 0.0:
            raise ConditioningError(
                "observation error: km2_per_month and relative cannot both be 0 "
                "(an exact observation of a continuous quantity has probability 0)"
            )
        if self.kursk_km2 == 0.0:
            raise ConditioningError(
                "observation error: kursk_km2 must be > 0 (an exact observation of an area "
                "has probability 0; a salient of 0 km2 is the event kursk_lost)"
            )


@dataclass(frozen=True)
class Step:
    """The observations assessed at the end of week ``week``: ``day`` is each one's day
    counted from the start (``week * 7`` at the week's end, less within the week)."""

    week: int
    kinds: np.ndarray  # int64
    values: np.ndarray  # float64
    days: np.ndarray  # int64
    labels: tuple[str, ...]  # "metric on date" of each, for messages


# what a run can be conditioned on: observation metric -> kind
CONDITIONABLE = {
    N.BAND_METRICS[N.M_TERRITORY]: OBS_TERRITORY,
    N.TALKS_OPENED: OBS_TALKS,
    N.CEASEFIRE_IN_FORCE: OBS_CEASEFIRE,
    N.KURSK_LOST: OBS_KURSK_LOST,
    N.OUTCOMES[N.OUT_COLLAPSE]: OBS_COLLAPSE,
    N.CEASEFIRE_AGREED: OBS_CEASEFIRE_AGREED,
    N.BAND_METRICS[N.M_KURSK]: OBS_KURSK_AREA,
}


@dataclass(frozen=True)
class Conditioning:
    """Observations a run is conditioned on, placed on the run's weeks (:func:`conditioning`).

    ``steps`` are the observation weeks in order; ``as_of`` the last date conditioned on;
    ``used`` and ``ignored`` the observations kept and left out (dated after ``as_of``, or an
    earlier territory figure of a week that has a later one), as ``date, metric, value``
    frames; ``sha256`` identifies the file."""

    steps: tuple[Step, ...]
    as_of: dt.date
    model: ObservationModel
    used: pd.DataFrame
    ignored: pd.DataFrame
    sha256: str = ""
    source: str = ""
    rejuvenate: bool = False  # move the uncertain parameters after each resampling


def conditioning(
    observations: pd.DataFrame,
    start: dt.date,
    horizon: int,
    as_of: dt.date | None = None,
    model: ObservationModel | None = None,
    sha256: str = "",
    source: str = "observations",
    rejuvenate: bool = False,
) -> Conditioning:
    """Place ``observations`` (``date, metric, value``, as :func:`levercast.analysis.score.
    read_observations` returns them) on the weeks of a run from ``start`` over ``horizon``
    weeks, keeping those dated on or before ``as_of`` (default: the last date).

    An observation dated ``d`` days after the start is assessed at the end of week
    ``ceil(d / 7)``: territory at day ``d`` by linear interpolation within the week, events
    as they stand at the week's end (up to 6 days later than the date; docs/assimilation.md).

    Raises
    ------
    ConditioningError
        An unknown metric, a date on or before the start or past the horizon, an ``as_of``
        before the first observation, or no observation left.
    """
    model = model or ObservationModel()
    frame = observations.reset_index(drop=True)
    if len(frame) == 0:
        raise ConditioningError(f"{source}: no observations")
    dates = pd.to_datetime(frame["date"]).dt.date
    for i, m in enumerate(frame["metric"]):
        if m not in CONDITIONABLE:
            raise ConditioningError(
                f"{source}: row {i + 1}: a run cannot be conditioned on {m!r} "
                f"(it can on: {', '.join(CONDITIONABLE)})"
            )
    days = np.array([(d - start).days for d in dates], dtype=np.int64)
    end = start + dt.timedelta(weeks=horizon)
    for i in np.flatnonzero(days <= 0):
        raise ConditioningError(
            f"{source}: row {i + 1}: {frame['metric'][i]} on {dates[i]} is not after the "
            f"scenario's start date {start} (observations count from the start)"
        )
    first = min(dates)
    if as_of is None:
        as_of = max(dates)
    elif as_of < first:
        raise ConditioningError(
            f"--as-of {as_of} is before the first observation ({first} in {source})"
        )
    if as_of > end:
        raise ConditioningError(
            f"--as-of {as_of} is past the run's horizon ({horizon} weeks from {start}, "
            f"ending {end})"
        )
    keep = np.array([d <= as_of for d in dates])
    for i in np.flatnonzero(keep & (days > horizon * 7)):
        raise ConditioningError(
            f"{source}: row {i + 1}: {dates[i]} is past the run's horizon ({end})"
        )
    weeks = -(-days // 7)
    kinds = np.array([CONDITIONABLE[m] for m in frame["metric"]], dtype=np.int64)
    # within a week the model's territory is a straight line and its Kursk area one value:
    # only the week's last figure of each is used
    order = np.lexsort((days, weeks))
    later = np.zeros(len(frame), dtype=bool)
    seen = set()
    for i in order[::-1]:
        if keep[i] and kinds[i] in (OBS_TERRITORY, OBS_KURSK_AREA):
            later[i] = (kinds[i], weeks[i]) in seen
            seen.add((kinds[i], weeks[i]))
    use = keep & ~later
    steps = []
    for w in np.unique(weeks[use]):
        idx = np.flatnonzero(use & (weeks == w))
        idx = idx[np.argsort(days[idx], kind="stable")]
        steps.append(
            Step(
                week=int(w),
                kinds=kinds[idx],
                values=frame["value"].to_numpy(dtype=float)[idx],
                days=days[idx],
                labels=tuple(
                    f"{frame['metric'][i]} = {frame['value'][i]:g} on {dates[i]}" for i in idx
                ),
            )
        )
    cols = ["date", "metric", "value"]
    return Conditioning(
        steps=tuple(steps),
        as_of=as_of,
        model=model,
        used=frame.loc[use, cols].reset_index(drop=True),
        ignored=frame.loc[~use, cols].reset_index(drop=True),
        sha256=sha256,
        source=source,
        rejuvenate=rejuvenate,
    )


@dataclass
class FilterOutput:
    hist: np.ndarray  # int64[horizon + 1, N_BAND_METRICS, N_BINS]
    sums: np.ndarray
    extrema: np.ndarray
    events: np.ndarray
    records: np.ndarray  # float64[n, N_RECORD] of the final particles
    status: np.ndarray
    theta_keep: np.ndarray  # float64[keep, N_PARAMS]
    ess: np.ndarray  # float64[n_steps]: effective sample size of each step's weights
    distinct: np.ndarray  # int64[n_steps]: distinct particles kept by each resampling
    eve: np.ndarray  # int64[n]: the initial particle each final particle descends from
    smoothed: bool = False  # the weeks up to the last observation show the smoothed distribution


# ------------------------------------------------------------------------------ kernels


@jit(parallel=True)
def _init(rows, post, slots, sq, seed, first, n, B, keys, power):
    """Draw the parameters of particles ``first .. first + n - 1`` and set their lanes up,
    exactly as an unconditioned run sets up those trajectories."""
    bounds = bounds_table(rows)
    n_groups = B.shape[0]
    for g in prange(n_groups):
        th = np.empty((rows.shape[0], LANES))
        scratch = np.empty(LANES)
        nl = min(LANES, n - g * LANES)
        sample_lanes(rows, bounds, post, slots, seed, first + g * LANES, nl, th, scratch)
        power[g] = setup_lanes(B[g], th, nl, sq, seed, first + g * LANES, keys[g])


@jit
def _gather_group(S, F, b, anc, eve, g, nl, kept, fixed):
    """Lanes ``0 .. nl - 1`` of the lane buffer ``b`` take the state of particles
    ``anc[g * LANES + i]`` of the compact set ``S`` (the slots ``kept``) and the fixed values
    of their first ancestors ``eve[g * LANES + i]`` in ``F`` (the slots ``fixed``; ``b``
    already holds the slots every particle shares). The lever terms are recomputed in the
    next week (``G_PREV = -1``)."""
    first = g * LANES
    for i in range(nl):
        _load_particle(S, anc[first + i], b, i, kept)
        _load_particle(F, eve[first + i], b, i, fixed)
        b[LN.G_PREV * LANES + i] = -1.0


@jit(inline="always")
def _load_particle(C, a, b, i, slots):
    """Particle ``a``'s compact values (row ``a`` of ``C``) into lane ``i`` of ``b``."""
    for c in range(slots.shape[0]):
        b[slots[c] * LANES + i] = C[a, c]


@jit
def _store_group(b, C, first, nl, slots):
    """The slots ``slots`` of lanes ``0 .. nl - 1`` of the lane buffer ``b`` into particles
    ``first .. first + nl - 1`` of the compact array ``C`` (a row per particle)."""
    for i in range(nl):
        for c in range(slots.shape[0]):
            C[first + i, c] = b[slots[c] * LANES + i]


@jit(parallel=True)
def _compress(B, n, slots, C):
    """Every particle's slots ``slots`` from the full lane buffers ``B`` into ``C``."""
    for g in prange(B.shape[0]):
        _store_group(B[g], C, g * LANES, min(LANES, n - g * LANES), slots)


@jit
def _fresh_streams(b, keys, first, nl, seed, stream):
    """Each copy's own weekly noise stream ``(seed, j, stream)`` (``j = first + i`` in lane
    ``i``), and fresh event clocks where the event has not happened yet: given that it has
    not, a clock's remainder is a fresh Exp(1) whatever was observed (memoryless), so every
    copy draws its own, and an unused cease-fire draw likewise. (Every lane draws and selects:
    branch-free, so the loop vectorises.)"""
    for i in range(nl):
        key = stream_key(seed, first + i, stream)
        keys[i] = key
        talks = -_fmath.log(uniform(key, CLOCK_COUNTER))
        u = uniform(key, CLOCK_COUNTER + 1)
        brk = -_fmath.log(uniform(key, CLOCK_COUNTER + 2))
        closed = b[LN.TALKS_OPEN * LANES + i] < 0.5
        put_if(b, LN.TALKS_CLOCK, i, closed, b[LN.TALKS_HAZARD * LANES + i] + talks)
        put_if(b, LN.U_CEASEFIRE, i, closed, u)
        put_if(
            b,
            LN.BREAK_CLOCK,
            i,
            b[LN.CF_BROKEN * LANES + i] < 0.0,
            b[LN.BREAK_HAZARD * LANES + i] + brk,
        )


@jit
def _rejuvenate_group(b, keys, nl, jitter, cloud, shrink, spread, sq):
    """Liu and West (2001) move of the parameters ``jitter``: ``a x + (1 - a) mean + h sd z``
    (``cloud[k]``: weighted mean, sd, min and max before resampling; ``z`` standard normal,
    counters ``JITTER_COUNTER + k`` of the copy's stream), clipped to the cloud's range; then
    the values derived once from the parameters are derived again, and the lever terms
    recomputed in the next week."""
    for i in range(nl):
        for k in range(jitter.shape[0]):
            at = jitter[k] * LANES + i
            z = normal(keys[i], JITTER_COUNTER + k)
            x = shrink * b[at] + (1.0 - shrink) * cloud[k, 0] + spread * cloud[k, 1] * z
            b[at] = min(max(x, cloud[k, 2]), cloud[k, 3])
        fr.trajectory_constants(b, i)
        fr.normalisers(b, i, sq)
        b[LN.G_PREV * LANES + i] = -1.0


@jit
def _likelihood_group(
    b, nl, g, week, kinds, values, days, prev_x, prev_y, prev_day, sd_month2, rel, kursk2, ll,
    x_now,
):  # fmt: skip
    """Each lane's log-likelihood of the observations of the end of ``week`` (``ll``), and its
    territory on the day of the territory observation (``x_now``, for the next change).
    ``prev_x``: each particle's territory at the previous territory observation, on day
    ``prev_day``, when ``prev_y`` was observed (0, 0 and 0 at the start). A Kursk area is
    compared with the area at the week's end, with variance ``kursk2 + (rel * area)**2``."""
    for i in range(nl):
        j = g * LANES + i
        total = 0.0
        x_now[j] = prev_x[j]
        for o in range(kinds.shape[0]):
            k = kinds[o]
            y = values[o]
            if k == OBS_TERRITORY:
                # territory on the observation's day: linear within the week
                back = (week * 7 - days[o]) / 7.0
                x = b[LN.TERRITORY * LANES + i] - back * b[LN.GAIN * LANES + i]
                x_now[j] = x
                months = (days[o] - prev_day) / DAYS_PER_MONTH
                moved = x - prev_x[j]
                var = sd_month2 * months + (rel * moved) ** 2
                d = moved - (y - prev_y)
                total += -0.5 * d * d / var - 0.5 * math.log(2.0 * math.pi * var)
            elif k == OBS_KURSK_AREA:
                x = b[LN.KURSK * LANES + i]
                var = kursk2 + (rel * x) ** 2
                d = x - y
                total += -0.5 * d * d / var - 0.5 * math.log(2.0 * math.pi * var)
            else:
                if k == OBS_TALKS:
                    flag = b[LN.TALKS_OPEN * LANES + i] > 0.5
                elif k == OBS_CEASEFIRE:
                    flag = b[LN.CEASEFIRE * LANES + i] > 0.5
                elif k == OBS_KURSK_LOST:
                    flag = b[LN.KURSK * LANES + i] < KURSK_LOST_BELOW
                elif k == OBS_CEASEFIRE_AGREED:
                    flag = b[LN.CF_AGREED * LANES + i] > 0.5
                else:
                    flag = b[LN.COLLAPSED * LANES + i] > 0.5
                if flag != (y > 0.5):
                    total = -math.inf
        ll[j] = total


@jit(parallel=True)
def _region(
    S, S_new, F, template, keys, anc, eve, first, n, per_block, seed, stream, kept, fixed,
    jitter, cloud, shrink, spread, sq, w0, w1, aggregate_w0, aggregate_run, bins, hist, sums,
    extrema, events, power, trace_w0, trace_run, week, kinds, values, days, prev_x, prev_y,
    prev_day, sd_month2, rel, kursk2, ll, x_now,
):  # fmt: skip
    """One pass over the particles, group by group in a lane buffer that stays in cache (the
    slots every particle shares come from ``template``; the others are kept compact: the
    state in ``S``, the values fixed for a particle's life in ``F``, by first ancestor
    ``eve``): with ``anc`` not empty, a group of the new set ``S_new`` is gathered from ``S``,
    given its own streams and clocks and (``jitter`` not empty) its parameters moved; the
    group then runs through weeks ``w0 .. w1 - 1`` (adding week ``w0`` first with
    ``aggregate_w0``, and the weeks it reaches with ``aggregate_run``; with a non-empty
    ``trace_w0``/``trace_run``, the lanes' banded metrics and event flags of week ``w0`` and of
    the weeks reached are kept in ``trace[g]``), is weighed, with ``week >= 0``,
    against the observations of the end of that week, and its state is stored back (into
    ``S_new``, or ``S`` itself when ``anc`` is empty)."""
    n_groups = -(-n // LANES)
    n_blocks = hist.shape[0]
    gather = anc.shape[0] > 0
    no_trace = np.empty((0, 0, 0))
    for blk in prange(n_blocks):
        idx = np.empty(LANES, dtype=np.int64)
        b = template.copy()
        for g in range(blk * per_block, min(n_groups, (blk + 1) * per_block)):
            nl = min(LANES, n - g * LANES)
            _gather_group(S, F, b, anc if gather else eve, eve, g, nl, kept, fixed)
            if gather:
                _fresh_streams(b, keys[g], first + g * LANES, nl, seed, stream)
                if jitter.shape[0] > 0:
                    _rejuvenate_group(b, keys[g], nl, jitter, cloud, shrink, spread, sq)
                power[g] = any_power_branch(b, nl)
            t1 = trace_run[g] if trace_run.shape[0] > 0 else no_trace
            if aggregate_w0:
                aggregate_week(
                    b, nl, w0, bins, hist[blk], sums[blk], extrema[blk], events[blk], idx
                )
            if trace_w0.shape[0] > 0:
                trace_week(b, nl, w0, trace_w0[g])
            run_weeks(
                b, nl, w0, w1, sq, keys[g], power[g], aggregate_run, bins, hist[blk], sums[blk],
                extrema[blk], events[blk], idx, t1,
            )  # fmt: skip
            if week >= 0:
                _likelihood_group(
                    b, nl, g, week, kinds, values, days, prev_x, prev_y, prev_day, sd_month2,
                    rel, kursk2, ll, x_now,
                )  # fmt: skip
            _store_group(b, S_new if gather else S, g * LANES, nl, kept)


@jit(parallel=True)
def _smooth_week(trace, lineage, n, per_block, w, bins, hist, sums, extrema, events):
    """Add week ``w`` of the final particles' ancestors to the block aggregates: final
    particle ``j`` descends from particle ``lineage[j]`` of the set whose week ``w`` is in
    ``trace``. Each ancestor's kept metrics and flags are put back into a lane buffer and
    aggregated as any week is (``aggregate_week``), so the counts stay exact."""
    n_groups = -(-n // LANES)
    n_blocks = hist.shape[0]
    for blk in prange(n_blocks):
        b = np.zeros(LN.N_SLOTS * LANES)
        idx = np.empty(LANES, dtype=np.int64)
        for g in range(blk * per_block, min(n_groups, (blk + 1) * per_block)):
            nl = min(LANES, n - g * LANES)
            for i in range(nl):
                a = lineage[g * LANES + i]
                row = trace[a // LANES, w]
                ia = a % LANES
                for m in range(N.N_BAND_METRICS):
                    b[METRIC_SLOTS[m] * LANES + i] = row[m, ia]
                e = N.N_BAND_METRICS
                b[LN.TALKS_OPEN * LANES + i] = row[e + N.E_TALKS_OPENED, ia]
                b[LN.CEASEFIRE * LANES + i] = row[e + N.E_CEASEFIRE, ia]
                b[LN.COLLAPSED * LANES + i] = row[e + N.E_COLLAPSE, ia]
                outcome = -1.0
                if row[e + N.E_DECIDED_STABLE, ia] > 0.5:
                    outcome = np.float64(N.OUT_STABLE_FRONT)
                elif row[e + N.E_DECIDED_BREST, ia] > 0.5:
                    outcome = np.float64(N.OUT_BREST_LITOVSK)
                elif row[e + N.E_DECIDED_COLLAPSE, ia] > 0.5:
                    outcome = np.float64(N.OUT_COLLAPSE)
                b[LN.OUTCOME * LANES + i] = outcome
            aggregate_week(b, nl, w, bins, hist[blk], sums[blk], extrema[blk], events[blk], idx)


@jit
def _cloud(C, n, cols, w, out):
    """Weighted mean, standard deviation, minimum and maximum over the particles (weights
    ``w``, summing to 1) of each compact column in ``cols`` (``out[k]``); serial, in
    particle order, so the sums never depend on threads."""
    for k in range(cols.shape[0]):
        c = cols[k]
        mean = 0.0
        lo = math.inf
        hi = -math.inf
        for j in range(n):
            x = C[j, c]
            mean += w[j] * x
            lo = min(lo, x)
            hi = max(hi, x)
        ss = 0.0
        for j in range(n):
            d = C[j, c] - mean
            ss += w[j] * d * d
        out[k, 0] = mean
        out[k, 1] = math.sqrt(ss)
        out[k, 2] = lo
        out[k, 3] = hi


@jit(parallel=True)
def _varying(B, n, upto, out):
    """``out[s]`` for the slots ``s < upto``: whether slot ``s`` differs between particles
    (NaN equals NaN). Each thread scans whole groups; their verdicts are or-ed."""
    n_groups = B.shape[0]
    n_chunks = min(n_groups, 64)
    per = -(-n_groups // n_chunks)
    found = np.zeros((n_chunks, upto), dtype=np.bool_)
    for c in prange(n_chunks):
        for g in range(c * per, min(n_groups, (c + 1) * per)):
            nl = min(LANES, n - g * LANES)
            for s in range(upto):
                v = B[0, s * LANES]
                for i in range(nl):
                    x = B[g, s * LANES + i]
                    found[c, s] |= not (x == v or (x != x and v != v))
    for s in range(upto):
        out[s] = False
        for c in range(n_chunks):
            out[s] |= found[c, s]


@jit(parallel=True)
def _finish(S, F, own, eve, template, kept, fixed, n, records, status, theta_keep):
    n_groups = -(-n // LANES)
    k = theta_keep.shape[0]
    for g in prange(n_groups):
        nl = min(LANES, n - g * LANES)
        b = template.copy()
        _gather_group(S, F, b, own, eve, g, nl, kept, fixed)
        finish_lanes(b, nl, records[g * LANES : g * LANES + nl], status[g * LANES : g * LANES + nl])
        for i in range(nl):
            j = g * LANES + i
            if j < k:
                for p in range(L.N_PARAMS):
                    theta_keep[j, p] = b[p * LANES + i]


@jit
def resample_offset(seed, island, step):
    """The systematic offset (in (0, 1)) of resampling step ``step`` of island ``island``."""
    return uniform(stream_key(seed, island * ISLAND_STEPS + step, L.STREAM_RESAMPLE), 0)


# ------------------------------------------------------------------------------ driver


# slots a particle need not keep between passes: the lever terms (recomputed from its
# parameters in the next week, G_PREV = -1; INV_V0, set up once, is not one), the values one
# half of a week hands to the other, and the week's uniform and normal (drawn anew each week)
_TRANSIENT = np.zeros(LN.N_SLOTS, dtype=np.bool_)
_TRANSIENT[LN.G_PREV : LN.TERRITORY] = True
_TRANSIENT[LN.INV_V0] = False
_TRANSIENT[LN.FIRE :] = True
_TRANSIENT[[LN.U, LN.Z]] = True
# values set up once per particle that a copy redraws (``_fresh_streams``): kept as state
_CLOCKS = (LN.TALKS_CLOCK, LN.U_CEASEFIRE, LN.BREAK_CLOCK)


def _partition(varying: np.ndarray, moving: bool) -> tuple[np.ndarray, np.ndarray]:
    """The slots that differ between particles (``varying``), split into those fixed for a
    particle's life (its parameters and the values derived from them once: kept once per
    first ancestor) and its state (copied at each resampling). With ``moving`` (parameter
    rejuvenation) the parameters move, so everything is state."""
    fixed = varying.copy()
    fixed[LN.G_PREV :] = False
    fixed[LN.INV_V0] = varying[LN.INV_V0]
    fixed[list(_CLOCKS)] = False
    if moving:
        fixed[:] = False
    kept = varying & ~fixed & ~_TRANSIENT
    return np.flatnonzero(fixed).astype(np.int64), np.flatnonzero(kept).astype(np.int64)


def systematic(log_w: np.ndarray, u: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Ancestors of a systematic resampling of weights ``exp(log_w)`` with offset ``u`` (in
    (0, 1)), the effective sample size ``(sum w)**2 / sum w**2`` and the normalised weights.
    Ancestors come out in increasing order. All weights zero: ``(empty, 0.0, empty)``."""
    top = np.max(log_w)
    if not np.isfinite(top):
        return np.empty(0, dtype=np.int64), 0.0, np.empty(0)
    anc = np.empty(log_w.shape[0], dtype=np.int64)
    w = np.empty(log_w.shape[0])
    ess = _systematic(log_w, top, u, anc, w)
    return anc, ess, w


@jit
def _systematic(log_w, top, u, anc, w):
    """(one pass for the weights and their sums, one merge of the sorted positions
    ``(j + u) / n`` with the cumulative weights; serial, so the sums never depend on threads)"""
    n = log_w.shape[0]
    total = 0.0
    total2 = 0.0
    for i in range(n):
        x = math.exp(log_w[i] - top)
        w[i] = x
        total += x
        total2 += x * x
    i = 0
    cum = w[0] / total
    for j in range(n):
        p = (j + u) / n
        while cum < p and i < n - 1:
            i += 1
            cum += w[i] / total
        anc[j] = i
    for i in range(n):
        w[i] /= total
    return total * total / total2


def run_filter(
    rows,
    post,
    slots,
    sq,
    seed,
    n,
    horizon,
    bins,
    steps,
    model: ObservationModel,
    keep,
    blocks,
    rejuvenate=(),
    discount: float = 0.0,
    island: int = 0,
    smooth_n: int | None = None,
) -> FilterOutput:
    """Run ``n`` particles to ``horizon``, conditioned on ``steps`` (sorted by week, every
    week in ``1 .. horizon``). After each resampling the parameter slots ``rejuvenate`` that
    differ between particles are moved by the Liu-West kernel with ``discount`` (0: no
    move). The particles are those of island ``island`` (:func:`islands`): trajectories
    ``island * ISLAND ..``, with that island's resampling offsets. The bands are smoothed when
    the trace of ``smooth_n`` particles (default ``n``) fits in ``SMOOTH_MAX_BYTES``."""
    if n > ISLAND:
        raise ValueError(f"an island holds at most {ISLAND:,} particles, got {n:,}")
    first = island * ISLAND
    n_groups = -(-n // LANES)
    # as many blocks as threads (or a multiple, so a uint16 slab counts at most 65,535 per
    # week), the groups spread evenly over them
    n_blocks = blocks * -(-n_groups // (blocks * GROUPS_PER_BLOCK))
    per_block = -(-n_groups // n_blocks)
    B = np.empty((n_groups, WIDTH))  # every lane in use is set up; the rest never read
    keys = np.zeros((n_groups, LANES), dtype=np.uint64)
    power = np.zeros(n_groups, dtype=np.bool_)
    hist = np.zeros((n_blocks, horizon + 1, N.N_BAND_METRICS, N.N_BINS), dtype=np.uint16)
    sums = np.zeros((n_blocks, horizon + 1, N.N_BAND_METRICS), dtype=np.int64)
    extrema = np.empty((n_blocks, horizon + 1, N.N_BAND_METRICS, 2))
    extrema[..., 0] = np.inf
    extrema[..., 1] = -np.inf
    events = np.zeros((n_blocks, horizon + 1, N.N_EVENTS), dtype=np.int64)

    _init(rows, post, slots, sq, seed, first, n, B, keys, power)
    varying = np.ones(LN.N_SLOTS, dtype=np.bool_)
    _varying(B, n, LN.G_PREV, varying)
    jitter = np.array(
        [p for p in (rejuvenate if discount > 0 else ()) if varying[p]], dtype=np.int64
    )
    fixed, kept = _partition(varying, jitter.shape[0] > 0)
    # between passes a particle keeps only its state (S, twice for resampling) and, once per
    # first ancestor, its fixed values (F); the slots every particle shares are one template
    template = B[0].copy()
    S = np.empty((n, kept.shape[0]))
    F = np.empty((n, fixed.shape[0]))
    _compress(B, n, kept, S)
    _compress(B, n, fixed, F)
    del B
    S_new = np.empty_like(S)
    jitter_cols = np.searchsorted(kept, jitter).astype(np.int64)
    kursk_col = int(np.searchsorted(kept, LN.KURSK))  # the state's Kursk area
    cloud = np.zeros((jitter.shape[0], 4))
    shrink = (3.0 * discount - 1.0) / (2.0 * discount) if discount > 0 else 1.0
    spread = math.sqrt(max(0.0, 1.0 - shrink * shrink))
    ll = np.empty(n)
    x_now = np.zeros(n)
    prev_x = np.zeros(n)  # each particle's territory at the previous territory observation
    prev_y = 0.0  # the value observed then (0 at the start)
    prev_day = 0
    sd2 = model.km2_per_month**2
    rel = model.relative
    ess = np.empty(len(steps))
    eve = np.arange(n, dtype=np.int64)
    distinct = np.empty(len(steps), dtype=np.int64)
    none_i = np.empty(0, dtype=np.int64)
    none_f = np.empty(0)
    no_trace = np.empty((0, 0, 0, 0))
    # the bands up to the last observation week are smoothed: each particle's metrics and
    # flags are kept for every week up to it (not aggregated on the way), and the final
    # particles' ancestors are looked up in them and aggregated at the end. Otherwise the
    # bands are filtered: each week is aggregated as the particles reach it, and an
    # observation week again after its resampling.
    last = steps[-1].week if steps else -1
    smooth = bool(steps) and (smooth_n or n) * (last + 1) * N_TRACED * 8 <= SMOOTH_MAX_BYTES
    trace = np.empty((n_groups, last + 1, N_TRACED, LANES)) if smooth else no_trace
    ancestors = []
    anc = none_i
    stream = 0
    w = 0
    for k in range(len(steps) + 1):
        step = steps[k] if k < len(steps) else None
        w1 = step.week if step is not None else horizon
        obs = (step.kinds, step.values, step.days) if step is not None else (none_i, none_f, none_i)
        _region(
            S, S_new, F, template, keys, anc, eve, first, n, per_block, seed, stream, kept, fixed,
            jitter, cloud, shrink, spread, sq, w, w1, not smooth, not smooth or step is None,
            bins, hist, sums, extrema, events, power, trace if k == 0 else no_trace,
            trace if step is not None else no_trace, w1 if step is not None else -1, *obs,
            prev_x, prev_y, prev_day, sd2, rel, model.kursk_km2**2, ll, x_now,
        )  # fmt: skip
        if anc.shape[0]:
            S, S_new = S_new, S
        if step is None:
            break
        w = w1
        if not smooth:  # the week's aggregate is taken again after resampling
            _clear_weeks(hist, sums, extrema, events, w, w + 1)
        anc, ess[k], weights = systematic(ll, float(resample_offset(seed, island, k)))
        if ess[k] < 2.0:  # one trajectory or none carries the week: is it possible at all?
            _check_possible(step, ll, x_now, prev_x, prev_y, prev_day, model, S[:, kursk_col])
        ancestors.append(anc)
        distinct[k] = int(np.count_nonzero(np.diff(anc))) + 1
        if jitter.shape[0]:
            _cloud(S, n, jitter_cols, weights, cloud)
        stream = L.STREAM_OFFSPRING + k
        eve = eve[anc]
        territory = step.kinds == OBS_TERRITORY
        if territory.any():
            prev_x = x_now[anc]
            prev_y = float(step.values[territory][0])
            prev_day = int(step.days[territory][0])
        else:
            prev_x = prev_x[anc]
    if smooth:
        # week w was kept by the set before the resampling of week w (and after those of the
        # weeks before it); the final particles' ancestors in that set, from the last
        # resampling back
        lineage = np.arange(n, dtype=np.int64)
        g = len(steps)
        for wk in range(last, -1, -1):
            while g > 0 and steps[g - 1].week >= wk:
                g -= 1
                lineage = ancestors[g][lineage]
            _smooth_week(trace, lineage, n, per_block, wk, bins, hist, sums, extrema, events)
    records = np.empty((n, N.N_RECORD))
    status = np.empty(n, dtype=np.int8)
    theta_keep = np.empty((min(keep, n), L.N_PARAMS))
    _finish(S, F, np.arange(n), eve, template, kept, fixed, n, records, status, theta_keep)
    return FilterOutput(
        hist=hist.sum(axis=0, dtype=np.int64),
        sums=sums.sum(axis=0),
        extrema=np.stack([extrema[..., 0].min(axis=0), extrema[..., 1].max(axis=0)], axis=-1),
        events=events.sum(axis=0),
        records=records,
        status=status,
        theta_keep=theta_keep,
        ess=ess,
        distinct=distinct,
        eve=eve,
        smoothed=smooth,
    )


def _clear_weeks(hist, sums, extrema, events, w0, w1) -> None:
    """Empty the block aggregates of weeks ``w0 .. w1 - 1``."""
    hist[:, w0:w1] = 0
    sums[:, w0:w1] = 0
    extrema[:, w0:w1, :, 0] = np.inf
    extrema[:, w0:w1, :, 1] = -np.inf
    events[:, w0:w1] = 0


def _check_possible(step, ll, x_now, prev_x, prev_y, prev_day, model, kursk_now) -> None:
    """Stop with a clear error when no particle is compatible with the step's observations:
    an event no particle shows, or a territory or Kursk figure more than ``IMPOSSIBLE_Z``
    tracker standard deviations from every particle (``kursk_now``: each particle's Kursk
    area at the week's end)."""
    finite = np.isfinite(ll)
    continuous = (OBS_TERRITORY, OBS_KURSK_AREA)
    if not finite.any():
        events = [o for o in range(len(step.kinds)) if step.kinds[o] not in continuous]
        labels = ", ".join(step.labels[o] for o in events) or ", ".join(step.labels)
        raise ConditioningError(
            f"no trajectory is compatible with {labels}: effective sample size 0 "
            f"(the model gives it probability below 1/{len(ll):,})"
        )
    for o in range(len(step.kinds)):
        if step.kinds[o] == OBS_TERRITORY:
            target = step.values[o] - prev_y
            months = (step.days[o] - prev_day) / DAYS_PER_MONTH
            sd = math.sqrt(model.km2_per_month**2 * months + (model.relative * target) ** 2)
            sim = (x_now - prev_x)[finite]
            what = "a change of"
            since = " since the previous observation"
        elif step.kinds[o] == OBS_KURSK_AREA:
            target = step.values[o]
            sd = math.sqrt(model.kursk_km2**2 + (model.relative * target) ** 2)
            sim = kursk_now[finite]
            what = "a Kursk salient of"
            since = ""
        else:
            continue
        z = np.abs(sim - target) / sd
        best = int(np.argmin(z))
        if z[best] > IMPOSSIBLE_Z:
            raise ConditioningError(
                f"{step.labels[o]} is impossible under the model: it implies {what} "
                f"{target:,.0f} km2{since}, and the nearest of "
                f"{len(ll):,} trajectories has {sim[best]:,.0f} km2 "
                f"({z[best]:.1f} tracker standard deviations of {sd:,.0f} km2 away; "
                f"limit {IMPOSSIBLE_Z:g})"
            )
