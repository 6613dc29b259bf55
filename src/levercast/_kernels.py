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
BATCH = 16  # trajectories simulated before their weeks are binned

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
def truncation_bounds(row):
    """CDF values ``(plo, phi)`` of the truncation window of a normal or lognormal row.

    They depend only on the scenario, so a chunk computes them once (``bounds_table``).
    """
    code = int(row[L.ROW_CODE])
    a = row[L.ROW_A]
    b = row[L.ROW_B]
    lo = row[L.ROW_LO]
    hi = row[L.ROW_HI]
    if code == L.DIST_LOGNORMAL:
        zlo = (math.log(lo) - a) / b if lo > 0.0 else -math.inf
        zhi = (math.log(hi) - a) / b if hi < math.inf else math.inf
    elif code == L.DIST_NORMAL:
        zlo = (lo - a) / b
        zhi = (hi - a) / b
    else:
        return 0.0, 1.0
    return ndtr(zlo), ndtr(zhi)


@jit
def bounds_table(rows):
    """``truncation_bounds`` of every row: float64[n_rows, 2]."""
    out = np.empty((rows.shape[0], 2))
    for i in range(rows.shape[0]):
        plo, phi = truncation_bounds(rows[i])
        out[i, 0] = plo
        out[i, 1] = phi
    return out


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
    plo, phi = truncation_bounds(row)
    return _draw(row, plo, phi, key, index)


@jit
def _draw(row, plo, phi, key, index):
    """``sample_param`` with the truncation window's CDF values given."""
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
    _sample_prepared(rows, bounds_table(rows), seed, trajectory, theta)


@jit
def _sample_prepared(rows, bounds, seed, trajectory, theta):
    key = stream_key(seed, trajectory, L.STREAM_PARAMS)
    for i in range(rows.shape[0]):
        theta[i] = _draw(rows[i], bounds[i, 0], bounds[i, 1], key, i)


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
def _lerp(sq, th, i, g):
    return sq[i] + g * (th[i] - sq[i])


@jit
def simulate_trajectory(th, sq, seed, trajectory, horizon, weekly, events, record):
    """Simulate one trajectory week by week (equations of ``docs/model.md``).

    Parameters
    ----------
    th : float64[N_PARAMS]
        The trajectory's parameters (levers at their scenario values, uncertainties drawn).
    sq : float64[N_PARAMS]
        Status-quo (October 2024) lever values; levers ramp from ``sq`` to ``th``.
    seed, trajectory : int
        Key of the trajectory's random streams.
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

    Notes
    -----
    Lever-dependent quantities are recomputed only in weeks where the lever ramp moves, and
    the talks and cease-fire hazards run against exponential clocks drawn once per
    trajectory, so that a typical week costs one normal draw, two exps and a sqrt.
    """
    key = stream_key(seed, trajectory, L.STREAM_WEEKLY)
    ekey = stream_key(seed, trajectory, L.STREAM_EVENTS)
    talks_clock = -math.log(uniform(ekey, L.DRAW_TALKS_CLOCK))
    u_ceasefire = uniform(ekey, L.DRAW_CEASEFIRE)
    break_clock = -math.log(uniform(ekey, L.DRAW_BREAK_CLOCK))

    delay = th[L.P_SUPPORT_DELAY_WEEKS]
    inv_ramp = 1.0 / th[L.P_RAMP_WEEKS]
    withdraw = th[L.P_KURSK_POLICY] > 0.5
    guarantee_code = int(th[L.P_SECURITY_GUARANTEE] + 0.5)
    reliability = th[L.P_DELIVERY_RELIABILITY]
    g0 = th[L.P_BASE_ADVANCE_KM2_PER_WEEK]
    noise_sd = th[L.P_ADVANCE_NOISE_SD]
    noise_shift = -0.5 * noise_sd * noise_sd
    exponent = th[L.P_ADVANCE_EXPONENT]
    square = exponent == 2.0
    threshold = th[L.P_COLLAPSE_THRESHOLD]
    convexity = th[L.P_COLLAPSE_CONVEXITY]
    collapse_mult = th[L.P_COLLAPSE_MULTIPLIER]
    collapse_weeks = th[L.P_COLLAPSE_WEEKS]
    manning_floor = th[L.P_MANNING_FLOOR]
    max_gain = th[L.P_MAX_ADVANCE_KM2_PER_WEEK]
    tolerance = th[L.P_RUSSIA_LOSS_TOLERANCE]
    stable = th[L.P_STABLE_ADVANCE_KM2_PER_WEEK]
    dictate = th[L.P_DICTATE_ADVANCE_KM2_PER_WEEK]
    w_trail = th[L.P_TRAILING_WEIGHT]
    inf_share = th[L.P_INFANTRY_SHARE_OF_RECRUITS]
    loss_ua0 = th[L.P_UA_CASUALTIES_PER_WEEK]
    loss_ru0 = th[L.P_RUSSIA_CASUALTIES_PER_WEEK]
    ru_inflow = (
        th[L.P_RUSSIA_RECRUITS_PER_MONTH]
        * 12.0
        / WEEKS_PER_YEAR
        * th[L.P_RUSSIA_ASSAULT_SHARE_OF_RECRUITS]
    )
    perm_share = th[L.P_RUSSIA_PERMANENT_LOSS_SHARE]
    inv_force = 1.0 / th[L.P_RUSSIA_FORCE]
    inv_stock = 1.0 / th[L.P_RUSSIA_STOCK_WEEKS]
    prod_cut = th[L.P_STRIKE_PRODUCTION_CUT]
    production = th[L.P_RUSSIA_SHELLS_PER_YEAR] / th[L.P_RUSSIA_SHELL_USE_PER_YEAR]
    burn = th[L.P_STRIKE_BURN]
    stock_loss = th[L.P_STRIKE_STOCK_LOSS]
    i0 = th[L.P_UA_INFANTRY_INITIAL]
    inv_i0 = 1.0 / i0
    inv_required = th[L.P_MANNING_INITIAL] * inv_i0
    cf_activity = th[L.P_CEASEFIRE_ACTIVITY]
    cf_cut = th[L.P_CEASEFIRE_SUPPORT_CUT]
    dom = th[L.P_DOMESTIC_AMMO_SHARE]
    inv_need = WEEKS_PER_YEAR / th[L.P_ROUNDS_NEEDED_PER_YEAR]
    loiter = th[L.P_LOITERING_THREAT]
    glide = th[L.P_GLIDE_SHARE_OF_PRESSURE]
    glide_eff = th[L.P_GLIDE_BOMB_EFFECTIVENESS]
    cb = th[L.P_COUNTER_BATTERY_WEIGHT]
    w_fire = th[L.P_FIRE_DEFENCE_WEIGHT]
    w_exposure = th[L.P_EXPOSURE_WEIGHT]
    s_share = th[L.P_SURVEILLANCE_SHARE_OF_LOSSES]
    f_share = th[L.P_FIRE_SHARE_OF_RUSSIAN_LOSSES]
    kursk_cost = th[L.P_KURSK_HOLD_COST] * loss_ua0
    us_share = th[L.P_US_SHARE_OF_SUPPORT]
    eu_growth = th[L.P_EUROPEAN_RAMPUP_PER_YEAR] / WEEKS_PER_YEAR
    fatigue_rate = th[L.P_PARTNER_FATIGUE_PER_YEAR] / WEEKS_PER_YEAR
    us_week = th[L.P_US_TRANSITION_WEEK]
    us_after = th[L.P_US_SUPPORT_AFTER_ELECTION]
    log_h0 = math.log(th[L.P_TALKS_HAZARD_PER_YEAR] / WEEKS_PER_YEAR + 1e-300)
    h_time = th[L.P_TALKS_TIME_GROWTH] / WEEKS_PER_YEAR
    h_support = th[L.P_TALKS_FATIGUE_WEIGHT]
    h_loss = th[L.P_TALKS_LOSS_WEIGHT] * inv_i0
    base_willing = th[L.P_RUSSIA_BASE_WILLINGNESS]
    break_rate = th[L.P_CEASEFIRE_BREAK_PER_YEAR] / WEEKS_PER_YEAR
    cohesion_rec = th[L.P_COHESION_RECOVERY]
    cannibal = th[L.P_CANNIBALISATION_RATE]
    w_cohesion = th[L.P_COHESION_LOSS_WEIGHT]
    line_max = th[L.P_LINE_BONUS_MAX]
    k_rate = th[L.P_KURSK_COUNTERATTACK_RATE]
    k_off = th[L.P_KURSK_HOLD_OFFSET]
    k_withdraw = th[L.P_KURSK_WITHDRAW_RATE]
    strike_sq = sq[L.P_LONG_RANGE_STRIKE_INTENSITY]

    # Status quo at week 0: normalisers, so that October 2024 reproduces the calibrated pace.
    v0 = _surveillance(
        th, sq[L.P_INTERCEPTOR_DRONES_PER_DAY], sq[L.P_SENSOR_DENSITY], sq[L.P_EW_SUPPORT]
    )
    supply0 = sq[L.P_ARTILLERY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR * reliability
    cap0 = sq[L.P_HOWITZER_FLEET_INDEX] * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR
    f0 = min(supply0, cap0) * inv_need * (1.0 - v0 * loiter * (1.0 - sq[L.P_GUN_PROTECTION_SHARE]))
    p0 = ((1.0 - glide) + glide * glide_eff) / (1.0 + cb * f0)
    q0 = th[L.P_UA_QUALITY_INITIAL]
    k0 = th[L.P_UA_COHESION_INITIAL]
    line0 = 1.0 + line_max * sq[L.P_DEFENSIVE_LINE_DEPTH] * sq[L.P_LINE_SITING_QUALITY] * min(
        1.0, th[L.P_MANNING_INITIAL]
    )
    d0 = (0.5 + 0.5 * q0) * (0.5 + 0.5 * k0) * line0 * (
        1.0 - sq[L.P_KURSK_RESERVE_SHARE]
    ) + w_fire * f0
    e0 = 1.0 + w_exposure * max(0.0, 1.0 - f0)
    inv_p0 = 1.0 / p0
    inv_e0 = 1.0 / e0
    inv_f0 = 1.0 / f0
    inv_v0 = 1.0 / v0
    inv_ru0 = 1.0 / loss_ru0
    ratio_scale = d0 * inv_p0

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
    fatigue = 1.0
    talks_hazard = 0.0  # cumulative, against talks_clock
    break_hazard = 0.0  # cumulative, against break_clock
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
    kursk_first = math.nan
    status = STATUS_OK
    gain = 0.0

    # Lever-dependent quantities, refreshed whenever the ramp g moves.
    g_prev = -1.0
    v = v0
    v_rel = 1.0
    forward = 1.0
    supply_base = 0.0
    capacity = 0.0
    intake = 0.0
    inv_training = 1.0
    q_recruit = 0.0
    line_gain = 0.0
    reserve = 0.0
    kursk_hold = 1.0
    reform_loss = 0.0
    strike_delta = 0.0
    standoff = 0.0
    sustain = 0.0
    sanctions = 0.0
    fatigue_step = 1.0
    glide_term = 0.0

    weekly[0, L.M_TERRITORY] = 0.0
    weekly[0, L.M_KURSK] = kursk
    weekly[0, L.M_MANPOWER] = inf
    weekly[0, L.M_WEEKLY_GAIN] = 0.0
    for e in range(L.N_EVENTS):
        events[0, e] = 0

    for t in range(horizon):
        g = min(1.0, (t - delay) * inv_ramp) if t >= delay else 0.0
        if g != g_prev:
            g_prev = g
            v = _surveillance(
                th,
                _lerp(sq, th, L.P_INTERCEPTOR_DRONES_PER_DAY, g),
                _lerp(sq, th, L.P_SENSOR_DENSITY, g),
                _lerp(sq, th, L.P_EW_SUPPORT, g),
            )
            v_rel = v * inv_v0
            forward = 1.0 - v * loiter * (1.0 - _lerp(sq, th, L.P_GUN_PROTECTION_SHARE, g))
            supply_base = (
                _lerp(sq, th, L.P_ARTILLERY_ROUNDS_PER_YEAR, g) / WEEKS_PER_YEAR * reliability
            )
            capacity = (
                _lerp(sq, th, L.P_HOWITZER_FLEET_INDEX, g)
                * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR]
                / WEEKS_PER_YEAR
            )
            intake = _lerp(sq, th, L.P_RECRUITS_PER_MONTH, g) * 12.0 / WEEKS_PER_YEAR * inf_share
            training = _lerp(sq, th, L.P_TRAINING_WEEKS, g)
            inv_training = 1.0 / training
            q_recruit = 1.0 - math.exp(-training / th[L.P_TRAINING_QUALITY_TAU_WEEKS])
            reform_loss = cannibal * (1.0 - _lerp(sq, th, L.P_COHESION_REFORM, g))
            line_gain = (
                line_max
                * _lerp(sq, th, L.P_DEFENSIVE_LINE_DEPTH, g)
                * _lerp(sq, th, L.P_LINE_SITING_QUALITY, g)
            )
            strike_delta = _lerp(sq, th, L.P_LONG_RANGE_STRIKE_INTENSITY, g) - strike_sq
            reserve = _lerp(sq, th, L.P_KURSK_RESERVE_SHARE, g)
            kursk_hold = (sq[L.P_KURSK_RESERVE_SHARE] + k_off) / (reserve + k_off)
            standoff = _lerp(sq, th, L.P_EUROPEAN_STANDOFF_MUNITIONS, g)
            sustain = _lerp(sq, th, L.P_SUSTAINMENT_COMMITMENT, g)
            sanctions = _lerp(sq, th, L.P_SANCTIONS_COLLATERAL, g)
            fatigue_step = math.exp(-fatigue_rate * (1.0 - sustain))
            glide_term = glide * glide_eff * v_rel

        # 8. Partners.
        us_now = 1.0 if t < us_week else us_after
        support = (us_share * us_now + (1.0 - us_share) * (1.0 + eu_growth * t)) * fatigue
        fatigue *= fatigue_step
        if ceasefire:
            support *= 1.0 - cf_cut * (1.0 - sustain)

        # 1-2. Surveillance (refreshed above) and fire.
        fire = min(supply_base * (dom + (1.0 - dom) * support), capacity) * inv_need * forward

        # 3. Russian pressure.
        # mun = 1.25 M / (M + 0.25) folded into one division with the counter-fire term
        m_den = munitions + 0.25
        pressure = (
            r_force
            * tempo
            * ((1.0 - glide) * m_den + glide_term * 1.25 * munitions)
            / (m_den * (1.0 + cb * fire))
        )
        p_rel = pressure * inv_p0

        # 4. Ukrainian defence.
        inf_rel = inf * inv_i0
        manning = inf * inv_required
        diversion = 0.0 if (withdraw or kursk <= 0.0) else reserve
        defence = (
            inf_rel
            * (0.5 + 0.5 * quality)
            * (0.5 + 0.5 * cohesion)
            * (1.0 + line_gain * min(1.0, manning))
            * (1.0 - diversion)
            + w_fire * fire
        )
        ratio = pressure * ratio_scale / defence

        # 5. Advance, collapse regime.
        z = normal(key, t)
        if ceasefire:
            gain = 0.0
        else:
            if not collapsed:
                above = above + 1 if ratio > threshold else 0
                if above >= collapse_weeks or manning < manning_floor:
                    collapsed = True
                    collapse_week = t + 1
                    if outcome < 0:
                        outcome = L.OUT_COLLAPSE
            r = max(ratio, 1.0) if collapsed else max(ratio, 1e-9)
            # r**exponent; the default exponent 2 needs no log
            scale = r * r if square else math.exp(exponent * math.log(r))
            expo = noise_sd * z + noise_shift
            if collapsed:
                scale *= collapse_mult
            elif ratio > threshold:
                expo += convexity * (ratio - threshold)
            gain = g0 * scale * math.exp(expo)
            gain = min(gain, max_gain)
        territory += gain
        trail += w_trail * (gain - trail)

        # 6. Attrition, recruitment, quality and cohesion.
        activity = cf_activity if ceasefire else 1.0
        exposure = 1.0 + w_exposure * max(0.0, 1.0 - fire)
        loss_ua = (
            loss_ua0
            * p_rel
            * ((1.0 - s_share) + s_share * v_rel)
            * (exposure * inv_e0)
            * math.sqrt(inf_rel)
            * activity
            + kursk_cost * diversion * activity
        )
        loss_ru = (
            loss_ru0 * r_force * tempo * ((1.0 - f_share) + f_share * fire * inv_f0) * activity
        )
        if collapsed:
            loss_ru *= 0.7
        if t == 0:
            ru_first = loss_ru
        cum_loss_ua += loss_ua

        pipeline += intake
        graduates = pipeline * inv_training
        pipeline -= graduates
        survivors = max(inf - loss_ua, 0.0)
        inf = survivors + graduates
        inv_inf = 1.0 / max(inf, 1.0)
        quality = (quality * survivors + q_recruit * graduates) * inv_inf
        cohesion += cohesion_rec * (1.0 - cohesion) - reform_loss - w_cohesion * loss_ua * inv_inf
        cohesion = min(1.0, max(0.0, cohesion))

        # Russian force, tempo and munitions.
        rho += w_trail * (loss_ru * inv_ru0 - rho)
        tempo = tolerance / rho if rho > tolerance else 1.0
        r_force = max(r_force + (ru_inflow - loss_ru * perm_share) * inv_force, 0.05)
        use = r_force * tempo * activity * (1.0 + burn * strike_delta)
        munitions += (production * (1.0 - prod_cut * strike_delta) - use) * inv_stock
        munitions -= stock_loss * max(strike_delta, 0.0) * munitions
        munitions = min(2.0, max(0.0, munitions))

        # 7. Kursk.
        if withdraw:
            kursk *= 1.0 - k_withdraw
        elif not ceasefire:
            retake = k_rate * kursk_hold
            kursk *= 1.0 - min(retake, 1.0)
        if kursk < 5.0:
            kursk = 0.0
        if t == 7:
            kursk_first = (th[L.P_KURSK_INITIAL_KM2] - kursk) / 8.0

        # 9. Talks and cease-fire, against the trajectory's exponential clocks.
        if ceasefire:
            break_hazard += break_rate * (1.0 - credibility)
            if break_hazard >= break_clock:
                ceasefire = False
                cf_broken = t + 1
        if not talks_open:
            if collapsed or trail > dictate:
                willing = 1.0
            elif trail <= stable:
                willing = max(base_willing, min(1.0, rho / tolerance))
            else:
                willing = base_willing
            talks_hazard += willing * math.exp(
                log_h0 + h_time * t + h_support * max(0.0, 1.0 - support) + h_loss * cum_loss_ua
            )
            if talks_hazard >= talks_clock:
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
                    + th[L.P_LEVERAGE_SANCTIONS_WEIGHT] * sanctions
                    + th[L.P_LEVERAGE_GUARANTEE_WEIGHT] * credibility
                )
                if u_ceasefire < th[L.P_CEASEFIRE_PROB]:
                    ceasefire = True
                    cf_agreed = 1

        weekly[t + 1, L.M_TERRITORY] = territory
        weekly[t + 1, L.M_KURSK] = kursk
        weekly[t + 1, L.M_MANPOWER] = inf
        weekly[t + 1, L.M_WEEKLY_GAIN] = gain
        events[t + 1, L.E_TALKS_OPENED] = talks_open
        events[t + 1, L.E_CEASEFIRE] = ceasefire
        events[t + 1, L.E_COLLAPSE] = collapsed
        events[t + 1, L.E_DECIDED_STABLE] = outcome == L.OUT_STABLE_FRONT
        events[t + 1, L.E_DECIDED_BREST] = outcome == L.OUT_BREST_LITOVSK
        events[t + 1, L.E_DECIDED_COLLAPSE] = outcome == L.OUT_COLLAPSE
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
    record[L.R_KURSK_LOSS_FIRST_WEEKS] = kursk_first
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
    bins : float64[N_BAND_METRICS]
        Square-root scale of the histogram bins of each banded metric: value ``x`` falls in
        bin ``floor(sqrt(x) * scale)`` (the last bin is open).
    records : float64[n, N_RECORD]
        Out: one record per trajectory of the chunk.
    theta_keep : float64[k, N_PARAMS]
        Out: parameters of the chunk's first ``k`` trajectories (``k`` may be 0).
    hist : int32[B, horizon + 1, N_BAND_METRICS, n_bins]
        In/out: histogram counts, one slab per block ``B``; the caller adds the slabs to its
        int64 totals after each chunk and zeroes them (int32 keeps the slabs small enough to
        stay in cache; a chunk never holds 2**31 trajectories).
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
    bounds = bounds_table(rows)
    for blk in prange(n_blocks):
        th = np.empty(rows.shape[0])
        # A batch of trajectories is simulated first and binned afterwards week by week, so
        # that the histogram rows being incremented stay in cache.
        weekly = np.empty((BATCH, horizon + 1, L.N_BAND_METRICS))
        ev = np.empty((BATCH, horizon + 1, L.N_EVENTS), dtype=np.int8)
        lo = blk * per
        hi = min(n, lo + per)
        for b0 in range(lo, hi, BATCH):
            b1 = min(hi, b0 + BATCH)
            for j in range(b0, b1):
                traj = first + j
                _sample_prepared(rows, bounds, seed, traj, th)
                status[j] = simulate_trajectory(
                    th, sq, seed, traj, horizon, weekly[j - b0], ev[j - b0], records[j]
                )
                if j < theta_keep.shape[0]:
                    theta_keep[j, :] = th
            nb = b1 - b0
            for w in range(horizon + 1):
                for m in range(L.N_BAND_METRICS):
                    row = hist[blk, w, m]
                    scale = bins[m]
                    s = np.int64(0)
                    xmin = extrema[blk, w, m, 0]
                    xmax = extrema[blk, w, m, 1]
                    for j in range(nb):
                        x = weekly[j, w, m]
                        pos = math.sqrt(max(x, 0.0)) * scale
                        k = n_bins - 1 if pos >= n_bins - 1 else int(pos)
                        row[k] += 1
                        s += np.int64(x * FIXED_POINT + 0.5)
                        xmin = min(xmin, x)
                        xmax = max(xmax, x)
                    sums[blk, w, m] += s
                    extrema[blk, w, m, 0] = xmin
                    extrema[blk, w, m, 1] = xmax
                for e in range(L.N_EVENTS):
                    c = np.int64(0)
                    for j in range(nb):
                        c += ev[j, w, e]
                    events[blk, w, e] += c
