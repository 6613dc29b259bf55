"""Private jitted kernels: arrays and scalars in, caller-allocated arrays out.

The equations are those of ``docs/model.md``; the names of the local variables follow the
symbols used there. A kernel never raises: a trajectory whose state turns non-finite is
flagged through ``status`` and the caller reports it.
"""

import math

import numpy as np
from numba import prange

from levercast import _layout as L
from levercast._jit import jit
from levercast._rng import ndtr, ndtri, normal, stream_key, uniform

WEEKS_PER_YEAR = 52.0
FIXED_POINT = 1024.0  # band sums are kept as int64 multiples of 1/1024 so they add exactly

STATUS_OK = 0
STATUS_NONFINITE = 1


# ----------------------------------------------------------------------------- sampling


@jit
def _gamma(alpha, key, base, budget):
    """Gamma(alpha, 1) draw by Marsaglia-Tsang, using counters ``base`` .. ``base + budget - 1``."""
    boost = 1.0
    off = 0
    if alpha < 1.0:
        boost = uniform(key, base) ** (1.0 / alpha)
        alpha += 1.0
        off = 1
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while off < budget - 1:
        z = normal(key, base + off)
        u = uniform(key, base + off + 1)
        off += 2
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost
    return alpha * boost  # practically unreachable: every draw of the budget rejected


@jit
def sample_param(row, key, index):
    """Draw parameter ``index`` from its distribution row.

    Parameters
    ----------
    row : float64[ROW_WIDTH]
        Distribution row (layout in ``_layout``).
    key : uint64
        Key of the trajectory's parameter stream.
    index : int
        Parameter index; it owns counters ``index * DRAWS_PER_PARAM`` onwards.
    """
    code = int(row[L.ROW_CODE])
    a = row[L.ROW_A]
    b = row[L.ROW_B]
    lo = row[L.ROW_LO]
    hi = row[L.ROW_HI]
    base = index * L.DRAWS_PER_PARAM
    if code == L.DIST_FIXED:
        return a
    u = uniform(key, base)
    if code == L.DIST_UNIFORM:
        return a + u * (b - a)
    if code == L.DIST_NORMAL or code == L.DIST_LOGNORMAL:
        if code == L.DIST_LOGNORMAL:
            zlo = (math.log(lo) - a) / b if lo > 0.0 else -math.inf
            zhi = (math.log(hi) - a) / b if hi < math.inf else math.inf
        else:
            zlo = (lo - a) / b
            zhi = (hi - a) / b
        plo = ndtr(zlo)
        phi = ndtr(zhi)
        x = a + b * ndtri(plo + u * (phi - plo))
        if code == L.DIST_LOGNORMAL:
            x = math.exp(x)
        return min(max(x, lo), hi)
    if code == L.DIST_BETA:
        half = L.DRAWS_PER_PARAM // 2
        ga = _gamma(a, key, base, half)
        gb = _gamma(b, key, base + half, half)
        return lo + (hi - lo) * ga / (ga + gb)
    if code == L.DIST_TRIANGULAR:
        mode = row[L.ROW_C]
        cut = (mode - a) / (b - a)
        if u < cut:
            return a + math.sqrt(u * (b - a) * (mode - a))
        return b - math.sqrt((1.0 - u) * (b - a) * (b - mode))
    if code == L.DIST_BERNOULLI:
        return 1.0 if u < a else 0.0
    # discrete
    k = int(row[L.ROW_K])
    for j in range(k):
        if u <= row[L.ROW_CUMW + j]:
            return row[L.ROW_VALUES + j]
    return row[L.ROW_VALUES + k - 1]


@jit
def sample_params(rows, seed, trajectory, theta):
    """Fill ``theta`` (float64[N_PARAMS]) with one trajectory's parameter draws."""
    key = stream_key(seed, trajectory, L.STREAM_PARAMS)
    for i in range(rows.shape[0]):
        theta[i] = sample_param(rows[i], key, i)


# ----------------------------------------------------------------------------- one trajectory


@jit
def _surveillance(th, interceptors, sensors, ew):
    """Targeting value V in [0, 1] of Russian drone surveillance (model.md, step 1)."""
    drones = max(th[L.P_RECON_DRONES_PER_DAY], 1.0)
    cue = th[L.P_SENSOR_CUE_FLOOR] + (1.0 - th[L.P_SENSOR_CUE_FLOOR]) * sensors
    downed = 1.0 - math.exp(-interceptors * th[L.P_INTERCEPTOR_KILL_PROB] * cue / drones)
    coverage = min(1.0, th[L.P_COVERAGE_MAX] * th[L.P_DRONE_EFFECTIVENESS]) * (1.0 - downed)
    return coverage * (1.0 - th[L.P_EW_EFFECT_MAX] * ew)


@jit
def _fire(th, rounds, howitzers, protection, support, reliability, v):
    """Effective Ukrainian fire F and the shell sufficiency s (model.md, step 2)."""
    dom = th[L.P_DOMESTIC_AMMO_SHARE]
    supply = rounds / WEEKS_PER_YEAR * (dom + (1.0 - dom) * support) * reliability
    capacity = howitzers * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR
    sufficiency = min(supply, capacity) / (th[L.P_ROUNDS_NEEDED_PER_YEAR] / WEEKS_PER_YEAR)
    forward = 1.0 - v * th[L.P_LOITERING_THREAT] * (1.0 - protection)
    return sufficiency * forward


@jit
def _pressure(th, r_force, tempo, munitions, v_rel, fire):
    """Russian assault pressure after Ukrainian counter-fire (model.md, step 3)."""
    mun = 1.25 * munitions / (munitions + 0.25)
    g = th[L.P_GLIDE_SHARE_OF_PRESSURE]
    raw = r_force * tempo * ((1.0 - g) + g * mun * th[L.P_GLIDE_BOMB_EFFECTIVENESS] * v_rel)
    return raw / (1.0 + th[L.P_COUNTER_BATTERY_WEIGHT] * fire)


@jit
def _defence(th, inf_rel, manning, quality, cohesion, depth, siting, diversion, fire):
    """Ukrainian defence: manned infantry plus fire covering gaps (model.md, step 4)."""
    line = 1.0 + th[L.P_LINE_BONUS_MAX] * depth * siting * min(1.0, manning)
    infantry = inf_rel * (0.5 + 0.5 * quality) * (0.5 + 0.5 * cohesion) * line * (1.0 - diversion)
    return infantry + th[L.P_FIRE_DEFENCE_WEIGHT] * fire


@jit
def _support(th, week, us_now, sustain):
    """Partner support index S (1 = October 2024) before any cease-fire cut (step 8)."""
    years = week / WEEKS_PER_YEAR
    us_share = th[L.P_US_SHARE_OF_SUPPORT]
    level = us_share * us_now + (1.0 - us_share) * (1.0 + th[L.P_EUROPEAN_RAMPUP_PER_YEAR] * years)
    return level * math.exp(-th[L.P_PARTNER_FATIGUE_PER_YEAR] * (1.0 - sustain) * years)


@jit
def _guarantee(th, code, standoff, us_now):
    """Credibility in [0, 1] of the guarantee on offer (step 9)."""
    if code == L.GUARANTEE_NONE:
        base = 0.0
    elif code == L.GUARANTEE_COALITION:
        base = th[L.P_GUARANTEE_COALITION]
    elif code == L.GUARANTEE_NATO and th[L.P_NATO_ACCESSION] > 0.5:
        base = th[L.P_GUARANTEE_NATO]
    else:
        base = th[L.P_GUARANTEE_BILATERAL]
    return base * (0.4 + 0.6 * standoff) * (0.5 + 0.5 * us_now)


@jit
def simulate_trajectory(th, sq, seed, trajectory, horizon, weekly, events, record):
    """Simulate one trajectory week by week.

    Parameters
    ----------
    th : float64[N_PARAMS]
        The trajectory's parameters (levers at their scenario values, uncertainties drawn).
    sq : float64[N_PARAMS]
        Status-quo (October 2024) lever values; levers ramp from ``sq`` to ``th``.
    seed, trajectory : int
        Key of the weekly random stream.
    horizon : int
        Number of weeks simulated.
    weekly : float64[horizon + 1, N_BAND_METRICS]
        Out: state at the end of each week (row 0 is the start).
    events : int8[horizon + 1, N_EVENTS]
        Out: 0/1 event flags per week.
    record : float64[N_RECORD]
        Out: the trajectory's record (outcome, talks week, ...).

    Returns
    -------
    int
        ``STATUS_OK`` or ``STATUS_NONFINITE``.
    """
    key = stream_key(seed, trajectory, L.STREAM_WEEKLY)
    delay = th[L.P_SUPPORT_DELAY_WEEKS]
    ramp = th[L.P_RAMP_WEEKS]
    withdraw = th[L.P_KURSK_POLICY] > 0.5
    guarantee_code = int(th[L.P_SECURITY_GUARANTEE] + 0.5)
    reliability = th[L.P_DELIVERY_RELIABILITY]
    g0 = th[L.P_BASE_ADVANCE_KM2_PER_WEEK]
    noise_sd = th[L.P_ADVANCE_NOISE_SD]
    exponent = th[L.P_ADVANCE_EXPONENT]
    threshold = th[L.P_COLLAPSE_THRESHOLD]
    tolerance = th[L.P_RUSSIA_LOSS_TOLERANCE]
    stable = th[L.P_STABLE_ADVANCE_KM2_PER_WEEK]
    dictate = th[L.P_DICTATE_ADVANCE_KM2_PER_WEEK]
    w_trail = th[L.P_TRAILING_WEIGHT]
    inf_share = th[L.P_INFANTRY_SHARE_OF_RECRUITS]
    tau = th[L.P_TRAINING_QUALITY_TAU_WEEKS]
    loss_ua0 = th[L.P_UA_CASUALTIES_PER_WEEK]
    loss_ru0 = th[L.P_RUSSIA_CASUALTIES_PER_WEEK]
    ru_recruits_wk = th[L.P_RUSSIA_RECRUITS_PER_MONTH] * 12.0 / WEEKS_PER_YEAR
    i0 = th[L.P_UA_INFANTRY_INITIAL]
    required = i0 / th[L.P_MANNING_INITIAL]
    cf_activity = th[L.P_CEASEFIRE_ACTIVITY]

    # Status quo at week 0: normalisers, so that October 2024 reproduces the calibrated pace.
    v0 = _surveillance(
        th, sq[L.P_INTERCEPTOR_DRONES_PER_DAY], sq[L.P_SENSOR_DENSITY], sq[L.P_EW_SUPPORT]
    )
    f0 = _fire(
        th,
        sq[L.P_ARTILLERY_ROUNDS_PER_YEAR],
        sq[L.P_HOWITZER_FLEET_INDEX],
        sq[L.P_GUN_PROTECTION_SHARE],
        1.0,
        reliability,
        v0,
    )
    p0 = _pressure(th, 1.0, 1.0, 1.0, 1.0, f0)
    q0 = th[L.P_UA_QUALITY_INITIAL]
    k0 = th[L.P_UA_COHESION_INITIAL]
    d0 = _defence(
        th,
        1.0,
        th[L.P_MANNING_INITIAL],
        q0,
        k0,
        sq[L.P_DEFENSIVE_LINE_DEPTH],
        sq[L.P_LINE_SITING_QUALITY],
        sq[L.P_KURSK_RESERVE_SHARE],
        f0,
    )
    e0 = 1.0 + th[L.P_EXPOSURE_WEIGHT] * max(0.0, 1.0 - f0)

    # State.
    territory = 0.0
    kursk = th[L.P_KURSK_INITIAL_KM2]
    inf = i0
    pipeline = (
        sq[L.P_RECRUITS_PER_MONTH] * 12.0 / WEEKS_PER_YEAR * inf_share * sq[L.P_TRAINING_WEEKS]
    )
    quality = q0
    cohesion = k0
    r_force = 1.0
    tempo = 1.0
    munitions = 1.0
    rho = 1.0  # trailing Russian loss rate relative to September 2024
    trail = g0  # trailing advance rate, km2/week
    above = 0
    collapsed = False
    cum_loss_ua = 0.0
    talks_open = False
    ceasefire = False
    outcome = -1
    collapse_week = -1
    talks_week = -1
    cf_agreed = 0
    cf_broken = -1
    leverage = math.nan
    adv_at_talks = math.nan
    credibility = 0.0
    ru_first = 0.0
    status = STATUS_OK
    gain = 0.0

    weekly[0, L.M_TERRITORY] = 0.0
    weekly[0, L.M_KURSK] = kursk
    weekly[0, L.M_MANPOWER] = inf
    weekly[0, L.M_WEEKLY_GAIN] = 0.0
    for e in range(L.N_EVENTS):
        events[0, e] = 0

    for t in range(horizon):
        base = t * L.DRAWS_PER_WEEK
        # Levers ramp from the status quo once the delay has passed.
        g = min(1.0, max(0.0, (t - delay) / ramp)) if t >= delay else 0.0
        rounds = sq[0] + g * (th[0] - sq[0])
        howitzers = sq[1] + g * (th[1] - sq[1])
        protection = sq[2] + g * (th[2] - sq[2])
        interceptors = sq[3] + g * (th[3] - sq[3])
        sensors = sq[4] + g * (th[4] - sq[4])
        ew = sq[5] + g * (th[5] - sq[5])
        recruits = sq[6] + g * (th[6] - sq[6])
        training = sq[7] + g * (th[7] - sq[7])
        reform = sq[8] + g * (th[8] - sq[8])
        depth = sq[9] + g * (th[9] - sq[9])
        siting = sq[10] + g * (th[10] - sq[10])
        strike = sq[11] + g * (th[11] - sq[11])
        reserve = sq[13] + g * (th[13] - sq[13])
        standoff = sq[16] + g * (th[16] - sq[16])
        sustain = sq[17] + g * (th[17] - sq[17])
        strike_delta = strike - sq[11]

        us_now = 1.0 if t < th[L.P_US_TRANSITION_WEEK] else th[L.P_US_SUPPORT_AFTER_ELECTION]
        support = _support(th, t, us_now, sustain)
        if ceasefire:
            support *= 1.0 - th[L.P_CEASEFIRE_SUPPORT_CUT] * (1.0 - sustain)

        # 1-2. Surveillance and fire.
        v = _surveillance(th, interceptors, sensors, ew)
        fire = _fire(th, rounds, howitzers, protection, support, reliability, v)
        v_rel = v / v0

        # 3. Russian pressure.
        pressure = _pressure(th, r_force, tempo, munitions, v_rel, fire)

        # 4. Ukrainian defence.
        inf_rel = inf / i0
        manning = inf / required
        diversion = 0.0 if (withdraw or kursk <= 0.0) else reserve
        defence = _defence(th, inf_rel, manning, quality, cohesion, depth, siting, diversion, fire)
        ratio = (pressure / p0) / (defence / d0)

        # 5. Advance, collapse regime.
        z = normal(key, base)
        noise = math.exp(noise_sd * z - 0.5 * noise_sd * noise_sd)
        if ceasefire:
            gain = 0.0
        else:
            if not collapsed:
                above = above + 1 if ratio > threshold else 0
                if above >= th[L.P_COLLAPSE_WEEKS] or manning < th[L.P_MANNING_FLOOR]:
                    collapsed = True
                    collapse_week = t + 1
                    if outcome < 0:
                        outcome = L.OUT_COLLAPSE
            scale = math.exp(exponent * math.log(max(ratio, 1e-9)))
            if collapsed:
                gain = g0 * th[L.P_COLLAPSE_MULTIPLIER] * max(scale, 1.0) * noise
            else:
                if ratio > threshold:
                    scale *= math.exp(th[L.P_COLLAPSE_CONVEXITY] * (ratio - threshold))
                gain = g0 * scale * noise
        gain = min(gain, th[L.P_MAX_ADVANCE_KM2_PER_WEEK])
        territory += gain
        trail += w_trail * (gain - trail)

        # 6. Attrition, recruitment, quality and cohesion.
        activity = cf_activity if ceasefire else 1.0
        exposure = 1.0 + th[L.P_EXPOSURE_WEIGHT] * max(0.0, 1.0 - fire)
        s_share = th[L.P_SURVEILLANCE_SHARE_OF_LOSSES]
        loss_ua = (
            loss_ua0
            * (pressure / p0)
            * ((1.0 - s_share) + s_share * v_rel)
            * (exposure / e0)
            * math.sqrt(inf_rel)
            * activity
        )
        loss_ua += th[L.P_KURSK_HOLD_COST] * diversion * loss_ua0 * activity
        f_share = th[L.P_FIRE_SHARE_OF_RUSSIAN_LOSSES]
        loss_ru = loss_ru0 * r_force * tempo * ((1.0 - f_share) + f_share * fire / f0) * activity
        if collapsed:
            loss_ru *= 0.7
        if t == 0:
            ru_first = loss_ru
        cum_loss_ua += loss_ua

        intake = recruits * 12.0 / WEEKS_PER_YEAR * inf_share
        pipeline += intake
        graduates = pipeline / training
        pipeline -= graduates
        survivors = max(inf - loss_ua, 0.0)
        q_recruit = 1.0 - math.exp(-training / tau)
        quality = (quality * survivors + q_recruit * graduates) / max(survivors + graduates, 1.0)
        inf = survivors + graduates
        cohesion += (
            th[L.P_COHESION_RECOVERY] * (1.0 - cohesion)
            - th[L.P_CANNIBALISATION_RATE] * (1.0 - reform)
            - th[L.P_COHESION_LOSS_WEIGHT] * loss_ua / max(inf, 1.0)
        )
        cohesion = min(1.0, max(0.0, cohesion))

        # Russian force, tempo and munitions.
        rho += w_trail * (loss_ru / loss_ru0 - rho)
        tempo = min(1.0, tolerance / rho) if rho > 0.0 else 1.0
        r_force += (
            ru_recruits_wk * th[L.P_RUSSIA_ASSAULT_SHARE_OF_RECRUITS]
            - loss_ru * th[L.P_RUSSIA_PERMANENT_LOSS_SHARE]
        ) / th[L.P_RUSSIA_FORCE]
        r_force = max(r_force, 0.05)
        use = r_force * tempo * activity * (1.0 + th[L.P_STRIKE_BURN] * strike_delta)
        made = 1.0 - th[L.P_STRIKE_PRODUCTION_CUT] * strike_delta
        munitions += (made - use) / th[L.P_RUSSIA_STOCK_WEEKS]
        munitions -= th[L.P_STRIKE_STOCK_LOSS] * max(strike_delta, 0.0) * munitions
        munitions = min(2.0, max(0.0, munitions))

        # 7. Kursk.
        if withdraw:
            kursk *= 1.0 - th[L.P_KURSK_WITHDRAW_RATE]
        elif not ceasefire:
            off = th[L.P_KURSK_HOLD_OFFSET]
            retake = th[L.P_KURSK_COUNTERATTACK_RATE] * (sq[13] + off) / (reserve + off)
            kursk *= 1.0 - min(retake, 1.0)
        if kursk < 5.0:
            kursk = 0.0
        if t == 7:
            record[L.R_KURSK_LOSS_FIRST_WEEKS] = (th[L.P_KURSK_INITIAL_KM2] - kursk) / 8.0

        # 9. Talks and cease-fire.
        u_talks = uniform(key, base + 1)
        u_event = uniform(key, base + 2)
        if ceasefire:
            hazard = (th[L.P_CEASEFIRE_BREAK_PER_YEAR] / WEEKS_PER_YEAR) * (1.0 - credibility)
            if u_event < 1.0 - math.exp(-hazard):
                ceasefire = False
                cf_broken = t + 1
        if not talks_open:
            log_h = (
                math.log(th[L.P_TALKS_HAZARD_PER_YEAR] / WEEKS_PER_YEAR + 1e-300)
                + th[L.P_TALKS_TIME_GROWTH] * t / WEEKS_PER_YEAR
                + th[L.P_TALKS_FATIGUE_WEIGHT] * max(0.0, 1.0 - support)
                + th[L.P_TALKS_LOSS_WEIGHT] * cum_loss_ua / i0
            )
            if collapsed or trail > dictate:
                willing = 1.0
            elif trail <= stable:
                willing = max(th[L.P_RUSSIA_BASE_WILLINGNESS], min(1.0, rho / tolerance))
            else:
                willing = th[L.P_RUSSIA_BASE_WILLINGNESS]
            if u_talks < 1.0 - math.exp(-math.exp(log_h) * willing):
                talks_open = True
                talks_week = t + 1
                adv_at_talks = trail
                if outcome < 0:
                    outcome = L.OUT_STABLE_FRONT if trail <= stable else L.OUT_BREST_LITOVSK
                credibility = _guarantee(th, guarantee_code, standoff, us_now)
                front_term = min(1.0, max(0.0, 1.0 - trail / dictate))
                leverage = (
                    th[L.P_LEVERAGE_FRONT_WEIGHT] * front_term
                    + th[L.P_LEVERAGE_KURSK_WEIGHT] * min(1.0, kursk / th[L.P_KURSK_PEAK_KM2])
                    + th[L.P_LEVERAGE_SANCTIONS_WEIGHT] * th[L.P_SANCTIONS_COLLATERAL]
                    + th[L.P_LEVERAGE_GUARANTEE_WEIGHT] * credibility
                )
                if u_event < th[L.P_CEASEFIRE_PROB]:
                    ceasefire = True
                    cf_agreed = 1

        weekly[t + 1, L.M_TERRITORY] = territory
        weekly[t + 1, L.M_KURSK] = kursk
        weekly[t + 1, L.M_MANPOWER] = inf
        weekly[t + 1, L.M_WEEKLY_GAIN] = gain
        events[t + 1, L.E_TALKS_OPENED] = 1 if talks_open else 0
        events[t + 1, L.E_CEASEFIRE] = 1 if ceasefire else 0
        events[t + 1, L.E_COLLAPSE] = 1 if collapsed else 0
        if not (
            math.isfinite(territory)
            and math.isfinite(inf)
            and math.isfinite(quality)
            and math.isfinite(trail)
            and math.isfinite(r_force)
        ):
            status = STATUS_NONFINITE
            break

    if outcome < 0:
        outcome = L.OUT_STABLE_FRONT if trail <= stable else L.OUT_GRINDING
    record[L.R_OUTCOME] = outcome
    record[L.R_TALKS_WEEK] = talks_week
    record[L.R_CEASEFIRE] = cf_agreed
    record[L.R_CEASEFIRE_BROKEN_WEEK] = cf_broken
    record[L.R_COLLAPSE_WEEK] = collapse_week
    record[L.R_TERRITORY_KM2] = territory
    record[L.R_KURSK_KM2] = kursk
    record[L.R_UA_MANPOWER] = inf
    record[L.R_LEVERAGE] = leverage
    record[L.R_ADVANCE_AT_TALKS] = adv_at_talks
    record[L.R_RU_CASUALTIES_FIRST_WEEK] = ru_first
    if horizon < 8:
        record[L.R_KURSK_LOSS_FIRST_WEEKS] = math.nan
    return status


# ----------------------------------------------------------------------------- a chunk


@jit(parallel=True)
def simulate_chunk(
    rows, sq, seed, first, horizon, bins, records, theta_keep, hist, sums, extrema, events, status
):
    """Simulate trajectories ``first .. first + records.shape[0] - 1`` and aggregate them.

    Parameters
    ----------
    rows : float64[N_PARAMS, ROW_WIDTH]
        Distribution rows of the scenario's parameters.
    sq : float64[N_PARAMS]
        Status-quo lever values.
    seed : int
        Run seed.
    first : int
        Global index of the chunk's first trajectory.
    horizon : int
        Weeks simulated.
    bins : float64[N_BAND_METRICS, 2]
        Lower edge and width of the histogram bins of each banded metric.
    records : float64[n, N_RECORD]
        Out: one record per trajectory of the chunk.
    theta_keep : float64[k, N_PARAMS]
        Out: parameters of the chunk's first ``k`` trajectories (``k`` may be 0).
    hist : int64[B, horizon + 1, N_BAND_METRICS, n_bins]
        In/out: histogram counts, one slab per block ``B``; the caller sums the slabs.
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
    over blocks, threads or chunks.
    """
    n = records.shape[0]
    n_blocks = hist.shape[0]
    n_bins = hist.shape[3]
    per = (n + n_blocks - 1) // n_blocks
    for blk in prange(n_blocks):
        th = np.empty(rows.shape[0])
        weekly = np.empty((horizon + 1, L.N_BAND_METRICS))
        ev = np.empty((horizon + 1, L.N_EVENTS), dtype=np.int8)
        lo = blk * per
        hi = min(n, lo + per)
        for j in range(lo, hi):
            traj = first + j
            sample_params(rows, seed, traj, th)
            status[j] = simulate_trajectory(th, sq, seed, traj, horizon, weekly, ev, records[j])
            if j < theta_keep.shape[0]:
                theta_keep[j, :] = th
            for w in range(horizon + 1):
                for m in range(L.N_BAND_METRICS):
                    x = weekly[w, m]
                    pos = (x - bins[m, 0]) / bins[m, 1]
                    k = 0
                    if pos >= n_bins - 1:
                        k = n_bins - 1
                    elif pos > 0.0:
                        k = int(pos)
                    hist[blk, w, m, k] += 1
                    sums[blk, w, m] += np.int64(round(x * FIXED_POINT))
                    if x < extrema[blk, w, m, 0]:
                        extrema[blk, w, m, 0] = x
                    if x > extrema[blk, w, m, 1]:
                        extrema[blk, w, m, 1] = x
                for e in range(L.N_EVENTS):
                    events[blk, w, e] += ev[w, e]
