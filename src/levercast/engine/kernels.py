"""The kernel: groups of ``LANES`` trajectories advanced week by week, and their aggregates.

The weekly equations are those of ``docs/model.md``, one function per step in
:mod:`levercast.engine.front`; this module runs them for a group of lanes (each step a loop
over lanes that compiles to SIMD instructions), sets the lanes up, keeps the lever ramp, and
adds every week to the block's histograms, sums and event counts. Arrays and scalars in,
caller-allocated arrays out. A kernel never raises: a trajectory whose state turns non-finite
is flagged through ``status`` and the caller reports it.
"""

import math

import numpy as np
from numba import prange

from levercast.engine import front as fr
from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import P_LOW, ndtri, ndtri_central, stream_key, uniform
from levercast.engine.lanes import (
    ADV_AT_TALKS,
    BAD,
    BREAK_CLOCK,
    CEASEFIRE,
    CF_AGREED,
    CF_BROKEN,
    COLLAPSE_WEEK,
    COLLAPSED,
    CUM_LOSS_UA,
    DIVERSION,
    FIRE,
    G_PREV,
    GAIN,
    INF,
    INV_V0,
    KURSK,
    KURSK_FIRST,
    LANES,
    LEVERAGE,
    LOSS_RU,
    N_SLOTS,
    OUTCOME,
    PRESSURE,
    QUALITY,
    R_FORCE,
    RAMP_START,
    RU_FIRST,
    SUPPORT,
    TALKS_CLOCK,
    TALKS_OPEN,
    TALKS_WEEK,
    TEMPO,
    TERRITORY,
    TRAIL,
    U_CEASEFIRE,
    US_NOW,
    U,
    Z,
    get,
    put,
    put_if,
)
from levercast.engine.sampling import bounds_table, sample_lanes
from levercast.results import names as N
from levercast.scenario import registry

FIXED_POINT = 1024.0  # band sums are kept as int64 multiples of 1/1024 so they add exactly

STATUS_OK = 0
STATUS_NONFINITE = 1

# the slot of each banded metric, in M_* order
METRIC_SLOTS = (TERRITORY, KURSK, INF, GAIN)

# the levers that ramp from the status quo to their scenario value in ``_refresh_levers``
_RAMPED = tuple(k for k, p in enumerate(registry.PARAMS) if p.kind == registry.LEVER and p.ramps)


@jit
def levers_at_status_quo(th, sq):
    """Every ramped lever of ``th`` (float64[N_PARAMS], or a lane's strided view of the lane
    buffer) is at its status-quo value, so the ramp cannot change a lever term: the lane's
    terms are computed once, in week 0."""
    for p in _RAMPED:
        if th[p] != sq[p]:
            return False
    return True


@jit
def load_parameters(b, th, nl):
    """Copy the parameters ``th[:, :nl]`` (float64[N_PARAMS, LANES]) into the lane buffer's
    first ``N_PARAMS`` slots."""
    for p in range(L.N_PARAMS):
        for i in range(nl):
            b[p * LANES + i] = th[p, i]


@jit
def _setup_lane(b, i, sq, seed, trajectory):
    """Derived constants, event clocks and initial state of lane ``i``, whose parameters are
    already in the lane buffer ``b``."""
    ekey = stream_key(seed, trajectory, L.STREAM_EVENTS)
    put(b, TALKS_CLOCK, i, -math.log(uniform(ekey, L.DRAW_TALKS_CLOCK)))
    put(b, U_CEASEFIRE, i, uniform(ekey, L.DRAW_CEASEFIRE))
    put(b, BREAK_CLOCK, i, -math.log(uniform(ekey, L.DRAW_BREAK_CLOCK)))
    fr.trajectory_constants(b, i)
    fr.normalisers(b, i, sq)
    # the lever terms start at the status quo; the first week's refresh overwrites them. A
    # lane whose levers sit at the status quo never ramps: its terms come from week 0 only.
    put(b, G_PREV, i, -1.0)
    at_sq = levers_at_status_quo(b[i::LANES], sq)
    put(b, RAMP_START, i, math.inf if at_sq else get(b, L.P_SUPPORT_DELAY_WEEKS, i))
    fr.initial_state(b, i, sq)


@jit(refcount=False)
def _refresh_levers(b, nl, t, sq):
    """Recompute the lever terms of the lanes whose ramp share ``g`` moved this week (every
    lane in week 0; a lane whose levers sit at the status quo only then). Skipped when no
    lane's ramp moved; otherwise one vectorised loop that keeps the old terms of the lanes
    whose ramp did not move."""
    tf = np.float64(t)
    moved = 0  # an integer count, not a short-circuit `or`: the check loop then vectorises
    for i in range(nl):
        moved += fr.ramp_share(b, i, tf) != get(b, G_PREV, i)
    if moved == 0:
        return
    strike_sq = sq[L.P_LONG_RANGE_STRIKE_INTENSITY]
    reserve_sq = sq[L.P_KURSK_RESERVE_SHARE]
    for i in range(nl):
        g = fr.ramp_share(b, i, tf)
        moved = g != get(b, G_PREV, i)
        put_if(b, G_PREV, i, moved, g)
        V = fr.surveillance(
            b,
            i,
            fr.lever(b, i, sq, L.P_INTERCEPTOR_DRONES_PER_DAY, g),
            fr.lever(b, i, sq, L.P_SENSOR_DENSITY, g),
            fr.lever(b, i, sq, L.P_EW_SUPPORT, g),
        )
        V_rel = V * get(b, INV_V0, i)
        fr.partners_levers(b, i, moved, fr.lever(b, i, sq, L.P_SUSTAINMENT_COMMITMENT, g))
        fr.fire_levers(
            b,
            i,
            moved,
            V,
            fr.lever(b, i, sq, L.P_GUN_PROTECTION_SHARE, g),
            fr.lever(b, i, sq, L.P_ARTILLERY_ROUNDS_PER_YEAR, g),
            fr.lever(b, i, sq, L.P_HOWITZER_FLEET_INDEX, g),
        )
        fr.pressure_levers(b, i, moved, V_rel)
        reserve = fr.lever(b, i, sq, L.P_KURSK_RESERVE_SHARE, g)
        fr.defence_levers(
            b,
            i,
            moved,
            fr.lever(b, i, sq, L.P_DEFENSIVE_LINE_DEPTH, g),
            fr.lever(b, i, sq, L.P_LINE_SITING_QUALITY, g),
            reserve,
        )
        fr.attrition_levers(
            b,
            i,
            moved,
            fr.lever(b, i, sq, L.P_RECRUITS_PER_MONTH, g),
            fr.lever(b, i, sq, L.P_TRAINING_WEEKS, g),
            fr.lever(b, i, sq, L.P_COHESION_REFORM, g),
            V_rel,
        )
        strike = fr.lever(b, i, sq, L.P_LONG_RANGE_STRIKE_INTENSITY, g)
        fr.russia_levers(b, i, moved, strike, strike_sq)
        fr.kursk_levers(b, i, moved, reserve, reserve_sq)
        fr.talks_levers(
            b,
            i,
            moved,
            fr.lever(b, i, sq, L.P_EUROPEAN_STANDOFF_MUNITIONS, g),
            fr.lever(b, i, sq, L.P_SANCTIONS_COLLATERAL, g),
        )


@jit
def _draw_normals(b, nl, keys, t):
    """The week's standard normal of every lane: the central branch of the inverse CDF for
    all lanes in one vectorised loop, then the rare tails (5% of draws) one by one."""
    for i in range(nl):
        u = uniform(keys[i], t)
        b[U * LANES + i] = u
        b[Z * LANES + i] = ndtri_central(u)
    for i in range(nl):
        u = b[U * LANES + i]
        if u < P_LOW or u > 1.0 - P_LOW:
            b[Z * LANES + i] = ndtri(u)


@jit(refcount=False)
def _advance(b, nl, t, any_power):
    """First half of week ``t`` for every lane: model.md steps 8 and 1-5 (partners, fire,
    pressure, defence, the advance and the collapse regime; step 1's surveillance is a lever
    term). Branch-free, so vectorised."""
    tf = np.float64(t)
    for i in range(nl):
        ceasefire = get(b, CEASEFIRE, i) > 0.5
        S, u = fr.partners(b, i, tf, ceasefire)
        F = fr.fire(b, i, S)
        P, F_sat = fr.pressure(b, i, F)
        D, m, div = fr.defence(b, i, tf, F_sat)
        r = fr.force_ratio(b, i, P, D)
        fr.advance(b, i, tf, r, m, ceasefire, any_power)
        put(b, FIRE, i, F)
        put(b, PRESSURE, i, P)
        put(b, SUPPORT, i, S)
        put(b, US_NOW, i, u)
        put(b, DIVERSION, i, div)


@jit(refcount=False)
def _attrition(b, nl, t):
    """Second half of week ``t`` for every lane: model.md steps 6, 7 and 9 (losses,
    recruitment, the Russian force, Kursk, talks and cease-fire), from what ``_advance`` left.
    Branch-free, so vectorised. Two loops (``_advance`` and this) instead of one: each body is
    short enough for the CPU to overlap the dependency chains of neighbouring lanes."""
    tf = np.float64(t)
    for i in range(nl):
        ceasefire = get(b, CEASEFIRE, i) > 0.5
        collapsed = get(b, COLLAPSED, i) > 0.5
        R = get(b, R_FORCE, i)
        tau = get(b, TEMPO, i)
        F = get(b, FIRE, i)
        loss, loss_ru, activity = fr.attrition(
            b, i, ceasefire, collapsed, F, get(b, PRESSURE, i), get(b, DIVERSION, i), R, tau
        )
        rho, R = fr.russia(b, i, loss_ru, activity)
        K = fr.kursk(b, i, tf, ceasefire)
        fr.talks(
            b,
            i,
            tf,
            ceasefire,
            collapsed,
            get(b, SUPPORT, i),
            get(b, US_NOW, i),
            get(b, CUM_LOSS_UA, i),
            rho,
            K,
        )
        finite = (
            math.isfinite(get(b, TERRITORY, i))
            and math.isfinite(get(b, INF, i))
            and math.isfinite(get(b, QUALITY, i))
            and math.isfinite(get(b, TRAIL, i))
            and math.isfinite(R)
        )
        put(b, BAD, i, get(b, BAD, i) if finite else 1.0)


@jit
def _calibration_records(b, nl, t):
    """The calibration records, in the weeks they are taken (kept out of the weekly loops,
    where a store made in one week only compiles to a scatter): Russian casualties of week 1,
    and the mean weekly Kursk area lost in weeks 1 to 8."""
    for i in range(nl):
        if t == 0:
            b[RU_FIRST * LANES + i] = b[LOSS_RU * LANES + i]
        else:
            lost = b[L.P_KURSK_INITIAL_KM2 * LANES + i] - b[KURSK * LANES + i]
            b[KURSK_FIRST * LANES + i] = lost / 8.0


@jit
def aggregate_week(b, nl, w, bins, hist, sums, extrema, events, idx):
    """Add week ``w`` of every lane to the histograms, fixed-point sums, extrema and event
    counts of one block (``hist[w]`` etc.)."""
    n_bins = hist.shape[2]
    top = np.float64(n_bins - 1)
    for m in range(N.N_BAND_METRICS):
        base = METRIC_SLOTS[m] * LANES
        scale = bins[m]
        s = np.int64(0)
        for i in range(nl):
            x = b[base + i]
            pos = math.sqrt(x) * scale if x > 0.0 else 0.0  # NaN lands in bin 0
            idx[i] = np.int64(min(pos, top))
            s += np.int64(x * FIXED_POINT + 0.5)
        row = hist[w, m]
        for i in range(nl):
            row[idx[i]] += 1
        sums[w, m] += s
        xmin = extrema[w, m, 0]
        xmax = extrema[w, m, 1]
        for i in range(nl):
            x = b[base + i]
            xmin = min(xmin, x)
            xmax = max(xmax, x)
        extrema[w, m, 0] = xmin
        extrema[w, m, 1] = xmax
    talks = 0
    ceasefire = 0
    collapsed = 0
    stable = 0
    brest = 0
    collapse = 0
    for i in range(nl):
        outcome = b[OUTCOME * LANES + i]
        talks += b[TALKS_OPEN * LANES + i] > 0.5
        ceasefire += b[CEASEFIRE * LANES + i] > 0.5
        collapsed += b[COLLAPSED * LANES + i] > 0.5
        stable += outcome == N.OUT_STABLE_FRONT
        brest += outcome == N.OUT_BREST_LITOVSK
        collapse += outcome == N.OUT_COLLAPSE
    events[w, N.E_TALKS_OPENED] += talks
    events[w, N.E_CEASEFIRE] += ceasefire
    events[w, N.E_COLLAPSE] += collapsed
    events[w, N.E_DECIDED_STABLE] += stable
    events[w, N.E_DECIDED_BREST] += brest
    events[w, N.E_DECIDED_COLLAPSE] += collapse


@jit
def trace_week(b, nl, w, trace):
    """Copy week ``w``'s banded metrics and event flags of every lane into ``trace[w]``."""
    for i in range(nl):
        for m in range(N.N_BAND_METRICS):
            trace[w, m, i] = b[METRIC_SLOTS[m] * LANES + i]
        outcome = b[OUTCOME * LANES + i]
        trace[w, N.N_BAND_METRICS + N.E_TALKS_OPENED, i] = b[TALKS_OPEN * LANES + i]
        trace[w, N.N_BAND_METRICS + N.E_CEASEFIRE, i] = b[CEASEFIRE * LANES + i]
        trace[w, N.N_BAND_METRICS + N.E_COLLAPSE, i] = b[COLLAPSED * LANES + i]
        trace[w, N.N_BAND_METRICS + N.E_DECIDED_STABLE, i] = outcome == N.OUT_STABLE_FRONT
        trace[w, N.N_BAND_METRICS + N.E_DECIDED_BREST, i] = outcome == N.OUT_BREST_LITOVSK
        trace[w, N.N_BAND_METRICS + N.E_DECIDED_COLLAPSE, i] = outcome == N.OUT_COLLAPSE


@jit
def simulate_lanes(
    th, sq, seed, first, nl, horizon, bins, hist, sums, extrema, events, records, status, trace
):
    """Simulate trajectories ``first .. first + nl - 1`` (``nl <= LANES``) week by week and
    add them to one block's aggregates.

    Parameters
    ----------
    th : float64[N_PARAMS, LANES]
        Parameters of each lane (levers at their scenario values, uncertainties drawn).
    sq : float64[N_PARAMS]
        Status-quo (October 2024) lever values; levers ramp from ``sq`` to ``th``.
    seed, first : int
        Run seed and global index of the first lane's trajectory (keys of the random streams).
    nl, horizon : int
        Lanes in use and weeks simulated.
    bins, hist, sums, extrema, events
        As for ``simulate_chunk``, for one block (``hist[horizon + 1, N_BAND_METRICS,
        n_bins]``, ...).
    records : float64[nl, N_RECORD]
        Out: each lane's record (outcome, talks week, ...).
    status : int8[nl]
        Out: ``STATUS_OK``, or ``STATUS_NONFINITE`` when the lane's state turned non-finite.
    trace : float64[horizon + 1, N_BAND_METRICS + N_EVENTS, LANES] or empty
        Out when not empty: banded metrics then event flags of every lane and week.

    Notes
    -----
    The ``docs/model.md`` equations, advanced for all lanes at once: every operation is the
    same in every lane and nothing mixes lanes, so a trajectory's results do not depend on
    which lane or group it is simulated in.
    """
    b = np.empty(N_SLOTS * LANES)
    keys = np.empty(LANES, dtype=np.uint64)
    idx = np.empty(LANES, dtype=np.int64)
    # (no literal arguments below: each would compile its own copy of the callee)
    any_power = setup_lanes(b, th, nl, sq, seed, first, keys)
    aggregate_week(b, nl, np.int64(0), bins, hist, sums, extrema, events, idx)
    if trace.shape[0] > 0:
        trace_week(b, nl, np.int64(0), trace)
    run_weeks(
        b,
        nl,
        np.int64(0),
        horizon,
        sq,
        keys,
        any_power,
        np.bool_(True),
        bins,
        hist,
        sums,
        extrema,
        events,
        idx,
        trace,
    )
    finish_lanes(b, nl, records, status)


@jit
def setup_lanes(b, th, nl, sq, seed, first, keys):
    """Load the parameters ``th`` of trajectories ``first .. first + nl - 1`` into the lane
    buffer ``b``, set up their lanes and their weekly noise keys (``keys[:nl]``); returns
    whether any lane's advance exponent differs from 2 (the slower power branch)."""
    load_parameters(b, th, nl)
    for i in range(nl):
        _setup_lane(b, i, sq, seed, first + i)
        keys[i] = stream_key(seed, first + i, L.STREAM_WEEKLY)
    return any_power_branch(b, nl)


@jit
def any_power_branch(b, nl):
    """Whether any of the lanes ``0 .. nl - 1`` of ``b`` needs the power branch of the
    advance (exponent other than 2)."""
    n_power = 0
    for i in range(nl):
        n_power += get(b, L.P_ADVANCE_EXPONENT, i) != 2.0
    return n_power > 0


@jit
def run_weeks(
    b, nl, w0, w1, sq, keys, any_power, aggregate, bins, hist, sums, extrema, events, idx, trace
):
    """Advance the lanes of ``b`` through weeks ``w0 .. w1 - 1`` (week ``t`` takes the state at
    the end of week ``t``, week 0 being the start, to the end of week ``t + 1``); with
    ``aggregate``, add the end of each week to the block's aggregates, and with a non-empty
    ``trace``, keep it in ``trace``."""
    for t in range(w0, w1):
        _refresh_levers(b, nl, t, sq)
        _draw_normals(b, nl, keys, t)
        _advance(b, nl, t, any_power)
        _attrition(b, nl, t)
        if t == 0 or t == 7:
            _calibration_records(b, nl, t)
        if aggregate:
            aggregate_week(b, nl, t + 1, bins, hist, sums, extrema, events, idx)
        if trace.shape[0] > 0:
            trace_week(b, nl, t + 1, trace)


@jit
def finish_lanes(b, nl, records, status):
    """Each lane's record (its outcome decided at the horizon where no earlier step decided
    it) and status, from the lane buffer at the end of the run."""
    for i in range(nl):
        outcome = b[OUTCOME * LANES + i]
        if outcome < 0.0:
            outcome = (
                N.OUT_STABLE_FRONT
                if b[TRAIL * LANES + i] <= b[L.P_STABLE_ADVANCE_KM2_PER_WEEK * LANES + i]
                else N.OUT_GRINDING
            )
        rec = records[i]
        rec[N.R_OUTCOME] = outcome
        rec[N.R_TALKS_WEEK] = b[TALKS_WEEK * LANES + i]
        rec[N.R_CEASEFIRE] = b[CF_AGREED * LANES + i]
        rec[N.R_CEASEFIRE_BROKEN_WEEK] = b[CF_BROKEN * LANES + i]
        rec[N.R_COLLAPSE_WEEK] = b[COLLAPSE_WEEK * LANES + i]
        rec[N.R_TERRITORY_KM2] = b[TERRITORY * LANES + i]
        rec[N.R_KURSK_KM2] = b[KURSK * LANES + i]
        rec[N.R_UA_MANPOWER] = b[INF * LANES + i]
        rec[N.R_LEVERAGE] = b[LEVERAGE * LANES + i]
        rec[N.R_ADVANCE_AT_TALKS] = b[ADV_AT_TALKS * LANES + i]
        rec[N.R_RU_CASUALTIES_FIRST_WEEK] = b[RU_FIRST * LANES + i]
        rec[N.R_KURSK_LOSS_FIRST_WEEKS] = b[KURSK_FIRST * LANES + i]
        status[i] = STATUS_NONFINITE if b[BAD * LANES + i] > 0.5 else STATUS_OK


@jit
def simulate_trajectory(th, sq, seed, trajectory, horizon, weekly, events, record):
    """One trajectory on its own (tests and diagnostics): ``simulate_lanes`` with one lane.

    ``weekly`` (float64[horizon + 1, N_BAND_METRICS]) and ``events`` (int8[horizon + 1,
    N_EVENTS]) receive the state and event flags of every week, ``record`` (float64[N_RECORD])
    the record; returns the status.
    """
    lanes_th = np.empty((th.shape[0], LANES))
    lanes_th[:, 0] = th
    n_bins = 1
    hist = np.zeros((horizon + 1, N.N_BAND_METRICS, n_bins), dtype=np.uint16)
    sums = np.zeros((horizon + 1, N.N_BAND_METRICS), dtype=np.int64)
    extrema = np.zeros((horizon + 1, N.N_BAND_METRICS, 2))
    counts = np.zeros((horizon + 1, N.N_EVENTS), dtype=np.int64)
    records = np.empty((1, N.N_RECORD))
    status = np.empty(1, dtype=np.int8)
    trace = np.empty((horizon + 1, N.N_BAND_METRICS + N.N_EVENTS, LANES))
    bins = np.zeros(N.N_BAND_METRICS)
    simulate_lanes(
        lanes_th,
        sq,
        seed,
        trajectory,
        1,
        horizon,
        bins,
        hist,
        sums,
        extrema,
        counts,
        records,
        status,
        trace,
    )
    for w in range(horizon + 1):
        for m in range(N.N_BAND_METRICS):
            weekly[w, m] = trace[w, m, 0]
        for e in range(N.N_EVENTS):
            events[w, e] = np.int8(trace[w, N.N_BAND_METRICS + e, 0])
    record[:] = records[0]
    return status[0]


# ----------------------------------------------------------------------------- a chunk


@jit(parallel=True)
def simulate_chunk(
    rows,
    post,
    slots,
    sq,
    seed,
    first,
    horizon,
    bins,
    records,
    theta_keep,
    hist,
    sums,
    extrema,
    events,
    status,
):
    """Simulate trajectories ``first .. first + records.shape[0] - 1`` and aggregate them.

    Parameters
    ----------
    rows : float64[N_PARAMS, ROW_WIDTH]
        Distribution rows of the scenario's parameters.
    post : float64[M, K]
        Posterior draws (``M = 0``: none); each trajectory takes one row of them over the
        parameters ``slots`` (``sampling.sample_lanes``), once, before its first week.
    slots : int64[K]
        Parameter row of each posterior column.
    sq : float64[N_PARAMS]
        Status-quo lever values.
    seed : int
        Run seed.
    first : int
        Global index of the chunk's first trajectory.
    horizon : int
        Weeks simulated.
    bins : float64[N_BAND_METRICS]
        Square-root scale of the histogram bins of each banded metric: value ``x`` falls in
        bin ``floor(sqrt(x) * scale)`` (the last bin is open).
    records : float64[n, N_RECORD]
        Out: one record per trajectory of the chunk.
    theta_keep : float64[k, N_PARAMS]
        Out: parameters of the chunk's first ``k`` trajectories (``k`` may be 0).
    hist : uint16[B, horizon + 1, N_BAND_METRICS, n_bins]
        In/out: histogram counts, one slab per block ``B``; the caller adds the slabs to its
        int64 totals after each chunk and zeroes them, and gives a block at most 65,535
        trajectories of a chunk (uint16 keeps the slabs small enough to stay in cache).
    sums : int64[B, horizon + 1, N_BAND_METRICS]
        In/out: sums of the banded metrics in units of 1/FIXED_POINT (exact integer sums).
    extrema : float64[B, horizon + 1, N_BAND_METRICS, 2]
        In/out: running minimum and maximum of each banded metric (exact in any order).
    events : int64[B, horizon + 1, N_EVENTS]
        In/out: event counts.
    status : int8[n]
        Out: per-trajectory status.

    Notes
    -----
    Every aggregate is an integer, so the totals do not depend on how trajectories are spread
    over blocks, threads or chunks; and a trajectory's own results do not depend on the lane
    group it is simulated in.
    """
    n = records.shape[0]
    n_blocks = hist.shape[0]
    per = (n + n_blocks - 1) // n_blocks
    bounds = bounds_table(rows)
    no_trace = np.empty((0, 0, 0))
    for blk in prange(n_blocks):
        th = np.empty((rows.shape[0], LANES))
        scratch = np.empty(LANES)
        lo = blk * per
        hi = min(n, lo + per)
        for g0 in range(lo, hi, LANES):
            nl = min(hi, g0 + LANES) - g0
            sample_lanes(rows, bounds, post, slots, seed, first + g0, nl, th, scratch)
            for i in range(nl):
                j = g0 + i
                if j < theta_keep.shape[0]:
                    theta_keep[j, :] = th[:, i]
            simulate_lanes(
                th,
                sq,
                seed,
                first + g0,
                nl,
                horizon,
                bins,
                hist[blk],
                sums[blk],
                extrema[blk],
                events[blk],
                records[g0 : g0 + nl],
                status[g0 : g0 + nl],
                no_trace,
            )
