"""Private jitted kernels: arrays and scalars in, caller-allocated arrays out.

The equations are those of ``docs/model.md``; the names of the local variables follow the
symbols used there. A kernel never raises: a trajectory whose state turns non-finite is
flagged through ``status`` and the caller reports it.
"""

import math

import numpy as np
from numba import prange

from levercast.engine import _fmath
from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine._rng import P_LOW, ndtr, ndtri, ndtri_central, normal, stream_key, uniform
from levercast.results import names as N
from levercast.scenario import registry

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


@jit
def sample_lanes(rows, bounds, seed, first, nl, th, scratch):
    """Draw the parameters of trajectories ``first .. first + nl - 1`` into ``th[:, :nl]``
    (float64[N_PARAMS, LANES]: a parameter's lanes are contiguous).

    The same draws as ``_sample_prepared`` trajectory by trajectory, bit for bit, but one
    parameter at a time across lanes: uniform, normal and lognormal rows (most of a scenario)
    then run as vectorised loops; the inverse CDF's tails, the lognormal's ``exp`` and the
    other distributions are evaluated lane by lane. ``scratch``: float64[LANES] workspace.
    """
    keys = np.empty(LANES, dtype=np.uint64)
    for i in range(nl):
        keys[i] = stream_key(seed, first + i, L.STREAM_PARAMS)
    for p in range(rows.shape[0]):
        row = rows[p]
        code = int(row[L.ROW_CODE])
        a = row[L.ROW_A]
        b = row[L.ROW_B]
        base = p * L.DRAWS_PER_PARAM
        if code == L.DIST_FIXED:
            for i in range(nl):
                th[p, i] = a
        elif code == L.DIST_UNIFORM:
            for i in range(nl):
                th[p, i] = a + uniform(keys[i], base) * (b - a)
        elif code == L.DIST_NORMAL or code == L.DIST_LOGNORMAL:
            plo = bounds[p, 0]
            phi = bounds[p, 1]
            lo = row[L.ROW_LO]
            hi = row[L.ROW_HI]
            for i in range(nl):
                q = plo + uniform(keys[i], base) * (phi - plo)
                scratch[i] = q
                th[p, i] = ndtri_central(q)
            for i in range(nl):
                q = scratch[i]
                if q < P_LOW or q > 1.0 - P_LOW:
                    th[p, i] = ndtri(q)
            for i in range(nl):
                th[p, i] = a + b * th[p, i]
            if code == L.DIST_LOGNORMAL:
                for i in range(nl):
                    th[p, i] = math.exp(th[p, i])
            for i in range(nl):
                th[p, i] = min(max(th[p, i], lo), hi)
        else:
            plo = bounds[p, 0]
            phi = bounds[p, 1]
            for i in range(nl):
                th[p, i] = _draw(row, plo, phi, keys[i], p)


# ----------------------------------------------------------------------- lanes of trajectories

LANES = 48  # trajectories advanced together, week by week (48 measured fastest of 16 to 64)

# The state of a group of lanes lives in one float64 buffer: slot ``k`` of lane ``i`` is
# ``buf[k * LANES + i]``. Every weekly step is a loop over lanes whose body has no branch
# (conditions become selects) and no opaque call (``_fmath.exp`` instead of the C library's),
# so LLVM compiles it to SIMD instructions. All slots live in one buffer at constant offsets,
# so the compiler can prove that lanes do not overlap.
_SLOT_NAMES = (
    # constants of the trajectory (set once)
    "delay inv_ramp withdraw square g0 noise_sd noise_shift exponent threshold convexity"
    " collapse_mult collapse_weeks manning_floor max_gain tolerance inv_tolerance stable dictate"
    " inv_dictate w_trail loss_ua0 ru_inflow inv_force inv_stock prod_cut production burn"
    " stock_loss inv_i0 inv_required cf_activity cf_cut dom inv_need cb w_fire w_exposure"
    " s_share kursk_cost us_share eu_growth us_week us_after log_h0 h_time h_support h_loss"
    " base_willing break_rate cohesion_rec w_cohesion k_rate inv_p0 inv_e0 inv_ru0 ratio_scale"
    " talks_clock u_ceasefire break_clock guarantee_base kursk_initial inv_kursk_peak lev_front"
    " lev_kursk lev_sanctions lev_guarantee ceasefire_prob"
    # lever terms, recomputed in the weeks where the ramp moves
    " g_prev inv_v0 forward supply_base capacity intake inv_training q_recruit reform_loss"
    " line_gain reserve standoff sanctions fatigue_step"
    # state
    " territory kursk inf pipeline quality cohesion r_force tempo munitions rho trail fatigue"
    " talks_hazard break_hazard above collapsed cum_loss_ua talks_open ceasefire outcome"
    " collapse_week talks_week cf_agreed cf_broken leverage adv_at_talks credibility ru_first"
    " kursk_first bad gain u z"
    # the week's values _advance hands to _attrition
    " fire pressure support us_now diversion loss_ru"
    # folded products of constants and lever terms
    " one_minus_dom one_minus_glide ru_a ru_b inflow_f perm_f keep_withdrawn cf_keep glide_125"
    " ua_base prod_net use_f stock_f keep_retaken"
).split()
(
    DELAY,
    INV_RAMP,
    WITHDRAW,
    SQUARE,
    G0,
    NOISE_SD,
    NOISE_SHIFT,
    EXPONENT,
    THRESHOLD,
    CONVEXITY,
    COLLAPSE_MULT,
    COLLAPSE_WEEKS,
    MANNING_FLOOR,
    MAX_GAIN,
    TOLERANCE,
    INV_TOLERANCE,
    STABLE,
    DICTATE,
    INV_DICTATE,
    W_TRAIL,
    LOSS_UA0,
    RU_INFLOW,
    INV_FORCE,
    INV_STOCK,
    PROD_CUT,
    PRODUCTION,
    BURN,
    STOCK_LOSS,
    INV_I0,
    INV_REQUIRED,
    CF_ACTIVITY,
    CF_CUT,
    DOM,
    INV_NEED,
    CB,
    W_FIRE,
    W_EXPOSURE,
    S_SHARE,
    KURSK_COST,
    US_SHARE,
    EU_GROWTH,
    US_WEEK,
    US_AFTER,
    LOG_H0,
    H_TIME,
    H_SUPPORT,
    H_LOSS,
    BASE_WILLING,
    BREAK_RATE,
    COHESION_REC,
    W_COHESION,
    K_RATE,
    INV_P0,
    INV_E0,
    INV_RU0,
    RATIO_SCALE,
    TALKS_CLOCK,
    U_CEASEFIRE,
    BREAK_CLOCK,
    GUARANTEE_BASE,
    KURSK_INITIAL,
    INV_KURSK_PEAK,
    LEV_FRONT,
    LEV_KURSK,
    LEV_SANCTIONS,
    LEV_GUARANTEE,
    CEASEFIRE_PROB,
    G_PREV,
    INV_V0,
    FORWARD,
    SUPPLY_BASE,
    CAPACITY,
    INTAKE,
    INV_TRAINING,
    Q_RECRUIT,
    REFORM_LOSS,
    LINE_GAIN,
    RESERVE,
    STANDOFF,
    SANCTIONS,
    FATIGUE_STEP,
    TERRITORY,
    KURSK,
    INF,
    PIPELINE,
    QUALITY,
    COHESION,
    R_FORCE,
    TEMPO,
    MUNITIONS,
    RHO,
    TRAIL,
    FATIGUE,
    TALKS_HAZARD,
    BREAK_HAZARD,
    ABOVE,
    COLLAPSED,
    CUM_LOSS_UA,
    TALKS_OPEN,
    CEASEFIRE,
    OUTCOME,
    COLLAPSE_WEEK,
    TALKS_WEEK,
    CF_AGREED,
    CF_BROKEN,
    LEVERAGE,
    ADV_AT_TALKS,
    CREDIBILITY,
    RU_FIRST,
    KURSK_FIRST,
    BAD,
    GAIN,
    U,
    Z,
    FIRE,
    PRESSURE,
    SUPPORT,
    US_NOW,
    DIVERSION,
    LOSS_RU,
    ONE_MINUS_DOM,
    ONE_MINUS_GLIDE,
    RU_A,
    RU_B,
    INFLOW_F,
    PERM_F,
    KEEP_WITHDRAWN,
    CF_KEEP,
    GLIDE_125,
    UA_BASE,
    PROD_NET,
    USE_F,
    STOCK_F,
    KEEP_RETAKEN,
) = range(len(_SLOT_NAMES))
N_SLOTS = len(_SLOT_NAMES)
# the slot of each banded metric, in M_* order
_METRIC_SLOTS = (TERRITORY, KURSK, INF, GAIN)


@jit(inline="always")
def _set_if(b, slot, i, cond, value):
    """``slot`` of lane ``i`` becomes ``value`` where ``cond`` holds (a select: both sides are
    loaded unconditionally, which keeps the lane loop free of branches)."""
    old = b[slot * LANES + i]
    b[slot * LANES + i] = value if cond else old


# slots that hold a parameter of the trajectory as it is
_COPIED = (
    (DELAY, L.P_SUPPORT_DELAY_WEEKS),
    (EXPONENT, L.P_ADVANCE_EXPONENT),
    (THRESHOLD, L.P_COLLAPSE_THRESHOLD),
    (CONVEXITY, L.P_COLLAPSE_CONVEXITY),
    (COLLAPSE_MULT, L.P_COLLAPSE_MULTIPLIER),
    (COLLAPSE_WEEKS, L.P_COLLAPSE_WEEKS),
    (MANNING_FLOOR, L.P_MANNING_FLOOR),
    (MAX_GAIN, L.P_MAX_ADVANCE_KM2_PER_WEEK),
    (STABLE, L.P_STABLE_ADVANCE_KM2_PER_WEEK),
    (DICTATE, L.P_DICTATE_ADVANCE_KM2_PER_WEEK),
    (W_TRAIL, L.P_TRAILING_WEIGHT),
    (PROD_CUT, L.P_STRIKE_PRODUCTION_CUT),
    (BURN, L.P_STRIKE_BURN),
    (STOCK_LOSS, L.P_STRIKE_STOCK_LOSS),
    (CF_ACTIVITY, L.P_CEASEFIRE_ACTIVITY),
    (CF_CUT, L.P_CEASEFIRE_SUPPORT_CUT),
    (DOM, L.P_DOMESTIC_AMMO_SHARE),
    (S_SHARE, L.P_SURVEILLANCE_SHARE_OF_LOSSES),
    (US_SHARE, L.P_US_SHARE_OF_SUPPORT),
    (US_WEEK, L.P_US_TRANSITION_WEEK),
    (US_AFTER, L.P_US_SUPPORT_AFTER_ELECTION),
    (H_SUPPORT, L.P_TALKS_FATIGUE_WEIGHT),
    (BASE_WILLING, L.P_RUSSIA_BASE_WILLINGNESS),
    (COHESION_REC, L.P_COHESION_RECOVERY),
    (W_COHESION, L.P_COHESION_LOSS_WEIGHT),
    (K_RATE, L.P_KURSK_COUNTERATTACK_RATE),
    (KURSK_INITIAL, L.P_KURSK_INITIAL_KM2),
    (LEV_FRONT, L.P_LEVERAGE_FRONT_WEIGHT),
    (LEV_KURSK, L.P_LEVERAGE_KURSK_WEIGHT),
    (LEV_SANCTIONS, L.P_LEVERAGE_SANCTIONS_WEIGHT),
    (LEV_GUARANTEE, L.P_LEVERAGE_GUARANTEE_WEIGHT),
    (CEASEFIRE_PROB, L.P_CEASEFIRE_PROB),
)


# the levers that ramp from the status quo to their scenario value in ``_refresh_levers``
_RAMPED = tuple(k for k, p in enumerate(registry.PARAMS) if p.kind == registry.LEVER and p.ramps)


@jit
def levers_at_status_quo(th, sq):
    """Every ramped lever of ``th`` (float64[N_PARAMS]) is at its status-quo value, so the
    ramp cannot change a lever term: the lane's terms are computed once, in week 0."""
    for p in _RAMPED:
        if th[p] != sq[p]:
            return False
    return True


@jit
def _surveillance(th, i, interceptors, sensors, ew):
    """Targeting value V in [0, 1] of Russian drone surveillance (model.md, step 1), for the
    parameters ``th[:, i]`` of lane ``i``."""
    drones = max(th[L.P_RECON_DRONES_PER_DAY, i], 1.0)
    cue_floor = th[L.P_SENSOR_CUE_FLOOR, i]
    cue = cue_floor + (1.0 - cue_floor) * sensors
    downed = 1.0 - _fmath.exp(-interceptors * th[L.P_INTERCEPTOR_KILL_PROB, i] * cue / drones)
    reach = min(1.0, th[L.P_COVERAGE_MAX, i] * th[L.P_DRONE_EFFECTIVENESS, i])
    return reach * (1.0 - downed) * (1.0 - th[L.P_EW_EFFECT_MAX, i] * ew)


@jit
def _guarantee_base(th):
    """Credibility of the guarantee on offer before standoff and US terms (step 9)."""
    code = int(th[L.P_SECURITY_GUARANTEE] + 0.5)
    if code == L.GUARANTEE_NONE:
        return 0.0
    if code == L.GUARANTEE_COALITION:
        return th[L.P_GUARANTEE_COALITION]
    if code == L.GUARANTEE_NATO and th[L.P_NATO_ACCESSION] > 0.5:
        return th[L.P_GUARANTEE_NATO]
    return th[L.P_GUARANTEE_BILATERAL]


@jit
def _setup_lane(b, i, lanes_th, sq, seed, trajectory):
    """Constants and initial state of lane ``i`` (trajectory parameters ``lanes_th[:, i]``)."""
    th = lanes_th[:, i]
    ekey = stream_key(seed, trajectory, L.STREAM_EVENTS)

    def put(slot, value):
        b[slot * LANES + i] = value

    for slot, param in _COPIED:
        put(slot, th[param])
    put(TALKS_CLOCK, -math.log(uniform(ekey, L.DRAW_TALKS_CLOCK)))
    put(U_CEASEFIRE, uniform(ekey, L.DRAW_CEASEFIRE))
    put(BREAK_CLOCK, -math.log(uniform(ekey, L.DRAW_BREAK_CLOCK)))
    put(INV_RAMP, 1.0 / th[L.P_RAMP_WEEKS])
    withdraw = th[L.P_KURSK_POLICY] > 0.5
    put(WITHDRAW, 1.0 if withdraw else 0.0)
    put(SQUARE, 1.0 if th[L.P_ADVANCE_EXPONENT] == 2.0 else 0.0)
    g0 = th[L.P_BASE_ADVANCE_KM2_PER_WEEK]
    put(G0, g0)
    noise_sd = th[L.P_ADVANCE_NOISE_SD]
    put(NOISE_SD, noise_sd)
    put(NOISE_SHIFT, -0.5 * noise_sd * noise_sd)
    tolerance = th[L.P_RUSSIA_LOSS_TOLERANCE]
    put(TOLERANCE, tolerance)
    put(INV_TOLERANCE, 1.0 / tolerance)
    put(INV_DICTATE, 1.0 / th[L.P_DICTATE_ADVANCE_KM2_PER_WEEK])
    loss_ua0 = th[L.P_UA_CASUALTIES_PER_WEEK]
    loss_ru0 = th[L.P_RUSSIA_CASUALTIES_PER_WEEK]
    put(LOSS_UA0, loss_ua0)
    put(
        RU_INFLOW,
        th[L.P_RUSSIA_RECRUITS_PER_MONTH]
        * 12.0
        / WEEKS_PER_YEAR
        * th[L.P_RUSSIA_ASSAULT_SHARE_OF_RECRUITS],
    )
    put(INV_FORCE, 1.0 / th[L.P_RUSSIA_FORCE])
    put(INV_STOCK, 1.0 / th[L.P_RUSSIA_STOCK_WEEKS])
    put(PRODUCTION, th[L.P_RUSSIA_SHELLS_PER_YEAR] / th[L.P_RUSSIA_SHELL_USE_PER_YEAR])
    i0 = th[L.P_UA_INFANTRY_INITIAL]
    inv_i0 = 1.0 / i0
    put(INV_I0, inv_i0)
    put(INV_REQUIRED, th[L.P_MANNING_INITIAL] * inv_i0)
    inv_need = WEEKS_PER_YEAR / th[L.P_ROUNDS_NEEDED_PER_YEAR]
    put(INV_NEED, inv_need)
    loiter = th[L.P_LOITERING_THREAT]
    glide = th[L.P_GLIDE_SHARE_OF_PRESSURE]
    glide_eff = th[L.P_GLIDE_BOMB_EFFECTIVENESS]
    cb = th[L.P_COUNTER_BATTERY_WEIGHT]
    w_fire = th[L.P_FIRE_DEFENCE_WEIGHT]
    w_exposure = th[L.P_EXPOSURE_WEIGHT]
    put(CB, cb)
    put(W_FIRE, w_fire)
    put(W_EXPOSURE, w_exposure)
    put(KURSK_COST, th[L.P_KURSK_HOLD_COST] * loss_ua0)
    put(EU_GROWTH, th[L.P_EUROPEAN_RAMPUP_PER_YEAR] / WEEKS_PER_YEAR)
    put(LOG_H0, math.log(th[L.P_TALKS_HAZARD_PER_YEAR] / WEEKS_PER_YEAR + 1e-300))
    put(H_TIME, th[L.P_TALKS_TIME_GROWTH] / WEEKS_PER_YEAR)
    put(H_LOSS, th[L.P_TALKS_LOSS_WEIGHT] * inv_i0)
    put(BREAK_RATE, th[L.P_CEASEFIRE_BREAK_PER_YEAR] / WEEKS_PER_YEAR)
    put(GUARANTEE_BASE, _guarantee_base(th))
    put(ONE_MINUS_DOM, 1.0 - th[L.P_DOMESTIC_AMMO_SHARE])
    put(ONE_MINUS_GLIDE, 1.0 - glide)
    put(INFLOW_F, b[RU_INFLOW * LANES + i] * b[INV_FORCE * LANES + i])
    put(PERM_F, th[L.P_RUSSIA_PERMANENT_LOSS_SHARE] * b[INV_FORCE * LANES + i])
    put(KEEP_WITHDRAWN, 1.0 - th[L.P_KURSK_WITHDRAW_RATE])
    put(INV_KURSK_PEAK, 1.0 / th[L.P_KURSK_PEAK_KM2])

    # Status quo at week 0: normalisers, so that October 2024 reproduces the calibrated pace.
    v0 = _surveillance(
        lanes_th, i, sq[L.P_INTERCEPTOR_DRONES_PER_DAY], sq[L.P_SENSOR_DENSITY], sq[L.P_EW_SUPPORT]
    )
    supply0 = sq[L.P_ARTILLERY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR * th[L.P_DELIVERY_RELIABILITY]
    cap0 = sq[L.P_HOWITZER_FLEET_INDEX] * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR
    f0 = min(supply0, cap0) * inv_need * (1.0 - v0 * loiter * (1.0 - sq[L.P_GUN_PROTECTION_SHARE]))
    p0 = ((1.0 - glide) + glide * glide_eff) / (1.0 + cb * f0)
    q0 = th[L.P_UA_QUALITY_INITIAL]
    k0 = th[L.P_UA_COHESION_INITIAL]
    line0 = 1.0 + th[L.P_LINE_BONUS_MAX] * sq[L.P_DEFENSIVE_LINE_DEPTH] * sq[
        L.P_LINE_SITING_QUALITY
    ] * min(1.0, th[L.P_MANNING_INITIAL])
    d0 = (0.5 + 0.5 * q0) * (0.5 + 0.5 * k0) * line0 * (
        1.0 - sq[L.P_KURSK_RESERVE_SHARE]
    ) + w_fire * f0
    e0 = 1.0 + w_exposure * max(0.0, 1.0 - f0)
    inv_p0 = 1.0 / p0
    put(INV_P0, inv_p0)
    put(INV_E0, 1.0 / e0)
    f_share = th[L.P_FIRE_SHARE_OF_RUSSIAN_LOSSES]
    put(RU_A, loss_ru0 * (1.0 - f_share))
    put(RU_B, loss_ru0 * f_share / f0)
    put(INV_RU0, 1.0 / loss_ru0)
    put(RATIO_SCALE, d0 * inv_p0)
    # the lever terms start at the status quo; the first week's refresh overwrites them
    put(G_PREV, -1.0)
    if levers_at_status_quo(th, sq):
        put(DELAY, math.inf)  # the ramp's share stays 0: terms from week 0 only
    put(INV_V0, 1.0 / v0)

    put(TERRITORY, 0.0)
    put(KURSK, th[L.P_KURSK_INITIAL_KM2])
    put(INF, i0)
    put(
        PIPELINE,
        sq[L.P_RECRUITS_PER_MONTH]
        * 12.0
        / WEEKS_PER_YEAR
        * th[L.P_INFANTRY_SHARE_OF_RECRUITS]
        * sq[L.P_TRAINING_WEEKS],
    )
    put(QUALITY, q0)
    put(COHESION, k0)
    put(R_FORCE, 1.0)
    put(TEMPO, 1.0)
    put(MUNITIONS, 1.0)
    put(RHO, 1.0)  # trailing Russian loss rate relative to September 2024
    put(TRAIL, g0)  # trailing advance rate, km2/week
    put(FATIGUE, 1.0)
    put(TALKS_HAZARD, 0.0)  # cumulative, against the talks clock
    put(BREAK_HAZARD, 0.0)  # cumulative, against the break clock
    put(ABOVE, 0.0)
    put(COLLAPSED, 0.0)
    put(CUM_LOSS_UA, 0.0)
    put(TALKS_OPEN, 0.0)
    put(CEASEFIRE, 0.0)
    put(OUTCOME, -1.0)
    put(COLLAPSE_WEEK, -1.0)
    put(TALKS_WEEK, -1.0)
    put(CF_AGREED, 0.0)
    put(CF_BROKEN, -1.0)
    put(LEVERAGE, math.nan)
    put(ADV_AT_TALKS, math.nan)
    put(CREDIBILITY, 0.0)
    put(RU_FIRST, 0.0)
    put(KURSK_FIRST, math.nan)
    put(BAD, 0.0)
    put(GAIN, 0.0)


@jit
def _lerp(sq, th, i, p, g):
    """Lever ``p`` of lane ``i`` a share ``g`` of the way from the status quo to its value."""
    return sq[p] + g * (th[p, i] - sq[p])


@jit
def _refresh_levers(b, nl, t, th, sq):
    """Recompute the lever terms of the lanes whose ramp ``g`` moved this week (every lane in
    week 0; a lane whose levers sit at the status quo only then, its ramp never starts).
    Skipped when no lane's ramp moved; otherwise one vectorised loop that keeps the old terms
    of the lanes whose ramp did not move."""
    moved = 0  # an integer count, not a short-circuit `or`: the check loop then vectorises
    for i in range(nl):
        delay = b[DELAY * LANES + i]
        inv_ramp = b[INV_RAMP * LANES + i]
        g = min(1.0, (t - delay) * inv_ramp) if t >= delay else 0.0
        moved += g != b[G_PREV * LANES + i]
    if moved == 0:
        return
    strike_sq = sq[L.P_LONG_RANGE_STRIKE_INTENSITY]
    reserve_sq = sq[L.P_KURSK_RESERVE_SHARE]
    for i in range(nl):
        delay = b[DELAY * LANES + i]
        inv_ramp = b[INV_RAMP * LANES + i]
        g = min(1.0, (t - delay) * inv_ramp) if t >= delay else 0.0
        moved = g != b[G_PREV * LANES + i]
        _set_if(b, G_PREV, i, moved, g)
        v = _surveillance(
            th,
            i,
            _lerp(sq, th, i, L.P_INTERCEPTOR_DRONES_PER_DAY, g),
            _lerp(sq, th, i, L.P_SENSOR_DENSITY, g),
            _lerp(sq, th, i, L.P_EW_SUPPORT, g),
        )
        v_rel = v * b[INV_V0 * LANES + i]
        protection = _lerp(sq, th, i, L.P_GUN_PROTECTION_SHARE, g)
        forward = 1.0 - v * th[L.P_LOITERING_THREAT, i] * (1.0 - protection)
        _set_if(b, FORWARD, i, moved, forward)
        rounds = _lerp(sq, th, i, L.P_ARTILLERY_ROUNDS_PER_YEAR, g)
        supply = rounds / WEEKS_PER_YEAR * th[L.P_DELIVERY_RELIABILITY, i]
        _set_if(b, SUPPLY_BASE, i, moved, supply)
        fleet = _lerp(sq, th, i, L.P_HOWITZER_FLEET_INDEX, g)
        capacity = fleet * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR, i] / WEEKS_PER_YEAR
        _set_if(b, CAPACITY, i, moved, capacity)
        recruits = _lerp(sq, th, i, L.P_RECRUITS_PER_MONTH, g)
        intake = recruits * 12.0 / WEEKS_PER_YEAR * th[L.P_INFANTRY_SHARE_OF_RECRUITS, i]
        _set_if(b, INTAKE, i, moved, intake)
        training = _lerp(sq, th, i, L.P_TRAINING_WEEKS, g)
        _set_if(b, INV_TRAINING, i, moved, 1.0 / training)
        q_recruit = 1.0 - _fmath.exp(-training / th[L.P_TRAINING_QUALITY_TAU_WEEKS, i])
        _set_if(b, Q_RECRUIT, i, moved, q_recruit)
        reform = _lerp(sq, th, i, L.P_COHESION_REFORM, g)
        _set_if(b, REFORM_LOSS, i, moved, th[L.P_CANNIBALISATION_RATE, i] * (1.0 - reform))
        depth = _lerp(sq, th, i, L.P_DEFENSIVE_LINE_DEPTH, g)
        siting = _lerp(sq, th, i, L.P_LINE_SITING_QUALITY, g)
        _set_if(b, LINE_GAIN, i, moved, th[L.P_LINE_BONUS_MAX, i] * depth * siting)
        strike = _lerp(sq, th, i, L.P_LONG_RANGE_STRIKE_INTENSITY, g)
        reserve = _lerp(sq, th, i, L.P_KURSK_RESERVE_SHARE, g)
        k_off = th[L.P_KURSK_HOLD_OFFSET, i]
        _set_if(b, RESERVE, i, moved, reserve)
        standoff = _lerp(sq, th, i, L.P_EUROPEAN_STANDOFF_MUNITIONS, g)
        _set_if(b, STANDOFF, i, moved, standoff)
        sustain = _lerp(sq, th, i, L.P_SUSTAINMENT_COMMITMENT, g)
        sanctions = _lerp(sq, th, i, L.P_SANCTIONS_COLLATERAL, g)
        _set_if(b, SANCTIONS, i, moved, sanctions)
        fatigue_rate = th[L.P_PARTNER_FATIGUE_PER_YEAR, i] / WEEKS_PER_YEAR
        _set_if(b, FATIGUE_STEP, i, moved, _fmath.exp(-fatigue_rate * (1.0 - sustain)))
        glide = th[L.P_GLIDE_SHARE_OF_PRESSURE, i] * th[L.P_GLIDE_BOMB_EFFECTIVENESS, i]
        _set_if(b, GLIDE_125, i, moved, glide * v_rel * 1.25)
        _set_if(b, CF_KEEP, i, moved, 1.0 - b[CF_CUT * LANES + i] * (1.0 - sustain))
        s_share = b[S_SHARE * LANES + i]
        ua_base = (
            b[LOSS_UA0 * LANES + i]
            * b[INV_P0 * LANES + i]
            * ((1.0 - s_share) + s_share * v_rel)
            * b[INV_E0 * LANES + i]
        )
        _set_if(b, UA_BASE, i, moved, ua_base)
        delta = strike - strike_sq
        inv_stock = b[INV_STOCK * LANES + i]
        cut = 1.0 - b[PROD_CUT * LANES + i] * delta
        _set_if(b, PROD_NET, i, moved, b[PRODUCTION * LANES + i] * cut * inv_stock)
        _set_if(b, USE_F, i, moved, (1.0 + b[BURN * LANES + i] * delta) * inv_stock)
        _set_if(b, STOCK_F, i, moved, b[STOCK_LOSS * LANES + i] * max(delta, 0.0))
        retake = min(b[K_RATE * LANES + i] * (reserve_sq + k_off) / (reserve + k_off), 1.0)
        _set_if(b, KEEP_RETAKEN, i, moved, 1.0 - retake)


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


@jit
def _advance(b, nl, t, any_power):
    """First half of week ``t`` for every lane (model.md, steps 8 and 1-5: partners, fire,
    pressure, defence, the advance and the collapse regime); branch-free, so vectorised.

    ``any_power``: some lane's advance exponent is not 2, so ``ratio ** exponent`` needs a
    ``log`` and an ``exp`` (lanes with exponent 2 square instead; the result is the same).
    """
    tf = np.float64(t)
    for i in range(nl):
        # 8. Partners.
        ceasefire = b[CEASEFIRE * LANES + i] > 0.5
        collapsed = b[COLLAPSED * LANES + i] > 0.5
        us_share = b[US_SHARE * LANES + i]
        us_after = b[US_AFTER * LANES + i]
        us_now = 1.0 if tf < b[US_WEEK * LANES + i] else us_after
        fatigue = b[FATIGUE * LANES + i]
        support = (
            us_share * us_now + (1.0 - us_share) * (1.0 + b[EU_GROWTH * LANES + i] * tf)
        ) * fatigue
        b[FATIGUE * LANES + i] = fatigue * b[FATIGUE_STEP * LANES + i]
        cut = support * b[CF_KEEP * LANES + i]
        support = cut if ceasefire else support

        # 1-2. Surveillance (lever terms) and fire.
        supply = b[DOM * LANES + i] + b[ONE_MINUS_DOM * LANES + i] * support
        fire = (
            min(b[SUPPLY_BASE * LANES + i] * supply, b[CAPACITY * LANES + i])
            * b[INV_NEED * LANES + i]
            * b[FORWARD * LANES + i]
        )

        # 3. Russian pressure: mun = 1.25 M / (M + 0.25), the counter-fire term and the
        # defence below share one division.
        munitions = b[MUNITIONS * LANES + i]
        r_force = b[R_FORCE * LANES + i]
        tempo = b[TEMPO * LANES + i]
        m_den = munitions + 0.25
        push = (
            r_force
            * tempo
            * (b[ONE_MINUS_GLIDE * LANES + i] * m_den + b[GLIDE_125 * LANES + i] * munitions)
        )
        resist = m_den * (1.0 + b[CB * LANES + i] * fire)

        # 4. Ukrainian defence.
        inf = b[INF * LANES + i]
        kursk = b[KURSK * LANES + i]
        withdraw = b[WITHDRAW * LANES + i] > 0.5
        inf_rel = inf * b[INV_I0 * LANES + i]
        manning = inf * b[INV_REQUIRED * LANES + i]
        reserve = b[RESERVE * LANES + i]
        diversion = 0.0 if (withdraw or kursk <= 0.0) else reserve
        quality = b[QUALITY * LANES + i]
        cohesion = b[COHESION * LANES + i]
        defence = (
            inf_rel
            * (0.5 + 0.5 * quality)
            * (0.5 + 0.5 * cohesion)
            * (1.0 + b[LINE_GAIN * LANES + i] * min(1.0, manning))
            * (1.0 - diversion)
            + b[W_FIRE * LANES + i] * fire
        )
        share = push / (resist * defence)
        pressure = share * defence
        ratio = share * b[RATIO_SCALE * LANES + i]

        # 5. Advance and the collapse regime (no advance during a cease-fire).
        threshold = b[THRESHOLD * LANES + i]
        above = b[ABOVE * LANES + i]
        outcome = b[OUTCOME * LANES + i]
        watch = not ceasefire and not collapsed
        above = (above + 1.0 if ratio > threshold else 0.0) if watch else above
        too_long = above >= b[COLLAPSE_WEEKS * LANES + i]
        too_thin = manning < b[MANNING_FLOOR * LANES + i]
        falls = watch and (too_long or too_thin)
        b[ABOVE * LANES + i] = above
        next_week = tf + 1.0
        _set_if(b, COLLAPSE_WEEK, i, falls, next_week)
        outcome = np.float64(N.OUT_COLLAPSE) if (falls and outcome < 0.0) else outcome
        collapsed = collapsed or falls
        r = max(ratio, 1.0) if collapsed else max(ratio, 1e-9)
        scale = r * r
        if any_power:
            exponent = b[EXPONENT * LANES + i]
            square = b[SQUARE * LANES + i] > 0.5
            power = _fmath.exp(exponent * _fmath.log(r))
            scale = scale if square else power
        expo = b[NOISE_SD * LANES + i] * b[Z * LANES + i] + b[NOISE_SHIFT * LANES + i]
        collapse_mult = b[COLLAPSE_MULT * LANES + i]
        scale = scale * collapse_mult if collapsed else scale
        steep = expo + b[CONVEXITY * LANES + i] * (ratio - threshold)
        expo = steep if (not collapsed and ratio > threshold) else expo
        gain = min(b[G0 * LANES + i] * scale * _fmath.exp(expo), b[MAX_GAIN * LANES + i])
        gain = 0.0 if ceasefire else gain
        b[GAIN * LANES + i] = gain
        b[TERRITORY * LANES + i] += gain
        w_trail = b[W_TRAIL * LANES + i]
        trail = b[TRAIL * LANES + i]
        trail += w_trail * (gain - trail)
        b[TRAIL * LANES + i] = trail
        b[COLLAPSED * LANES + i] = 1.0 if collapsed else 0.0
        b[OUTCOME * LANES + i] = outcome
        b[FIRE * LANES + i] = fire
        b[PRESSURE * LANES + i] = pressure
        b[SUPPORT * LANES + i] = support
        b[US_NOW * LANES + i] = us_now
        b[DIVERSION * LANES + i] = diversion


@jit
def _attrition(b, nl, t):
    """Second half of week ``t`` for every lane (model.md, steps 6, 7 and 9: losses,
    recruitment, the Russian force, Kursk, talks and cease-fire), from the state ``_advance``
    left; branch-free, so vectorised. Two loops instead of one: each body is short enough
    for the CPU to overlap the dependency chains of neighbouring lanes."""
    tf = np.float64(t)
    next_week = tf + 1.0
    for i in range(nl):
        ceasefire = b[CEASEFIRE * LANES + i] > 0.5
        collapsed = b[COLLAPSED * LANES + i] > 0.5
        outcome = b[OUTCOME * LANES + i]
        fire = b[FIRE * LANES + i]
        pressure = b[PRESSURE * LANES + i]
        support = b[SUPPORT * LANES + i]
        us_now = b[US_NOW * LANES + i]
        inf = b[INF * LANES + i]
        kursk = b[KURSK * LANES + i]
        withdraw = b[WITHDRAW * LANES + i] > 0.5
        inf_rel = inf * b[INV_I0 * LANES + i]
        diversion = b[DIVERSION * LANES + i]
        quality = b[QUALITY * LANES + i]
        cohesion = b[COHESION * LANES + i]
        r_force = b[R_FORCE * LANES + i]
        tempo = b[TEMPO * LANES + i]
        munitions = b[MUNITIONS * LANES + i]
        w_trail = b[W_TRAIL * LANES + i]
        trail = b[TRAIL * LANES + i]

        # 6. Attrition, recruitment, quality and cohesion.
        cf_activity = b[CF_ACTIVITY * LANES + i]
        activity = cf_activity if ceasefire else 1.0
        exposure = 1.0 + b[W_EXPOSURE * LANES + i] * max(0.0, 1.0 - fire)
        loss_ua = (
            b[UA_BASE * LANES + i] * pressure * exposure * math.sqrt(inf_rel)
            + b[KURSK_COST * LANES + i] * diversion
        ) * activity
        loss_ru = r_force * tempo * (b[RU_A * LANES + i] + b[RU_B * LANES + i] * fire) * activity
        loss_ru = loss_ru * 0.7 if collapsed else loss_ru
        b[LOSS_RU * LANES + i] = loss_ru
        cum_loss_ua = b[CUM_LOSS_UA * LANES + i] + loss_ua
        b[CUM_LOSS_UA * LANES + i] = cum_loss_ua

        pipeline = b[PIPELINE * LANES + i] + b[INTAKE * LANES + i]
        graduates = pipeline * b[INV_TRAINING * LANES + i]
        b[PIPELINE * LANES + i] = pipeline - graduates
        survivors = max(inf - loss_ua, 0.0)
        inf = survivors + graduates
        b[INF * LANES + i] = inf
        inv_inf = 1.0 / max(inf, 1.0)
        b[QUALITY * LANES + i] = (
            quality * survivors + b[Q_RECRUIT * LANES + i] * graduates
        ) * inv_inf
        cohesion += (
            b[COHESION_REC * LANES + i] * (1.0 - cohesion)
            - b[REFORM_LOSS * LANES + i]
            - b[W_COHESION * LANES + i] * loss_ua * inv_inf
        )
        b[COHESION * LANES + i] = min(1.0, max(0.0, cohesion))

        # Russian force, tempo and munitions.
        tolerance = b[TOLERANCE * LANES + i]
        rho = b[RHO * LANES + i]
        rho += w_trail * (loss_ru * b[INV_RU0 * LANES + i] - rho)
        b[RHO * LANES + i] = rho
        b[TEMPO * LANES + i] = tolerance / rho if rho > tolerance else 1.0
        r_force = max(r_force + b[INFLOW_F * LANES + i] - loss_ru * b[PERM_F * LANES + i], 0.05)
        b[R_FORCE * LANES + i] = r_force
        use = r_force * b[TEMPO * LANES + i] * activity * b[USE_F * LANES + i]
        munitions += b[PROD_NET * LANES + i] - use
        munitions -= b[STOCK_F * LANES + i] * munitions
        b[MUNITIONS * LANES + i] = min(2.0, max(0.0, munitions))

        # 7. Kursk.
        withdrawn = kursk * b[KEEP_WITHDRAWN * LANES + i]
        retaken = kursk * b[KEEP_RETAKEN * LANES + i]
        kursk = withdrawn if withdraw else (kursk if ceasefire else retaken)
        kursk = 0.0 if kursk < 5.0 else kursk
        b[KURSK * LANES + i] = kursk

        # 9. Talks and cease-fire, against the trajectory's exponential clocks.
        credibility = b[CREDIBILITY * LANES + i]
        hazard = b[BREAK_HAZARD * LANES + i] + b[BREAK_RATE * LANES + i] * (1.0 - credibility)
        _set_if(b, BREAK_HAZARD, i, ceasefire, hazard)
        breaks = ceasefire and hazard >= b[BREAK_CLOCK * LANES + i]
        ceasefire = ceasefire and not breaks
        _set_if(b, CF_BROKEN, i, breaks, next_week)

        talks_open = b[TALKS_OPEN * LANES + i] > 0.5
        stable = b[STABLE * LANES + i]
        dictate = b[DICTATE * LANES + i]
        base_willing = b[BASE_WILLING * LANES + i]
        calm = max(base_willing, min(1.0, rho * b[INV_TOLERANCE * LANES + i]))
        willing = (
            1.0 if (collapsed or trail > dictate) else (calm if trail <= stable else base_willing)
        )
        talks_hazard = b[TALKS_HAZARD * LANES + i] + willing * _fmath.exp(
            b[LOG_H0 * LANES + i]
            + b[H_TIME * LANES + i] * tf
            + b[H_SUPPORT * LANES + i] * max(0.0, 1.0 - support)
            + b[H_LOSS * LANES + i] * cum_loss_ua
        )
        b[TALKS_HAZARD * LANES + i] = b[TALKS_HAZARD * LANES + i] if talks_open else talks_hazard
        opens = not talks_open and talks_hazard >= b[TALKS_CLOCK * LANES + i]
        b[TALKS_OPEN * LANES + i] = 1.0 if (talks_open or opens) else 0.0
        _set_if(b, TALKS_WEEK, i, opens, next_week)
        _set_if(b, ADV_AT_TALKS, i, opens, trail)
        decided = (
            np.float64(N.OUT_STABLE_FRONT) if trail <= stable else np.float64(N.OUT_BREST_LITOVSK)
        )
        outcome = decided if (opens and outcome < 0.0) else outcome
        b[OUTCOME * LANES + i] = outcome
        offered = (
            b[GUARANTEE_BASE * LANES + i]
            * (0.4 + 0.6 * b[STANDOFF * LANES + i])
            * (0.5 + 0.5 * us_now)
        )
        b[CREDIBILITY * LANES + i] = offered if opens else credibility
        front_term = min(1.0, max(0.0, 1.0 - trail * b[INV_DICTATE * LANES + i]))
        leverage = (
            b[LEV_FRONT * LANES + i] * front_term
            + b[LEV_KURSK * LANES + i] * min(1.0, kursk * b[INV_KURSK_PEAK * LANES + i])
            + b[LEV_SANCTIONS * LANES + i] * b[SANCTIONS * LANES + i]
            + b[LEV_GUARANTEE * LANES + i] * offered
        )
        _set_if(b, LEVERAGE, i, opens, leverage)
        takes = b[U_CEASEFIRE * LANES + i] < b[CEASEFIRE_PROB * LANES + i]
        agrees = opens and takes
        _set_if(b, CF_AGREED, i, agrees, 1.0)
        b[CEASEFIRE * LANES + i] = 1.0 if (ceasefire or agrees) else 0.0

        finite = (
            math.isfinite(b[TERRITORY * LANES + i])
            and math.isfinite(inf)
            and math.isfinite(b[QUALITY * LANES + i])
            and math.isfinite(trail)
            and math.isfinite(r_force)
        )
        b[BAD * LANES + i] = b[BAD * LANES + i] if finite else 1.0


@jit
def _calibration_records(b, nl, t):
    """The calibration records, in the weeks they are taken (kept out of the weekly loops,
    where a store made in one week only compiles to a scatter): Russian casualties of week 1,
    and the mean weekly Kursk area lost in weeks 1 to 8."""
    for i in range(nl):
        if t == 0:
            b[RU_FIRST * LANES + i] = b[LOSS_RU * LANES + i]
        else:
            b[KURSK_FIRST * LANES + i] = (b[KURSK_INITIAL * LANES + i] - b[KURSK * LANES + i]) / 8.0


@jit
def _aggregate_week(b, nl, w, bins, hist, sums, extrema, events, idx, trace):
    """Add week ``w`` of every lane to the histograms, fixed-point sums, extrema and event
    counts of one block (``hist[w]`` etc.); with a non-empty ``trace``, also copy the lanes'
    banded metrics and event flags into ``trace[w]``."""
    n_bins = hist.shape[2]
    top = np.float64(n_bins - 1)
    for m in range(N.N_BAND_METRICS):
        base = _METRIC_SLOTS[m] * LANES
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
    if trace.shape[0] > 0:
        for i in range(nl):
            for m in range(N.N_BAND_METRICS):
                trace[w, m, i] = b[_METRIC_SLOTS[m] * LANES + i]
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
    n_power = 0
    for i in range(nl):
        _setup_lane(b, i, th, sq, seed, first + i)
        keys[i] = stream_key(seed, first + i, L.STREAM_WEEKLY)
        n_power += th[L.P_ADVANCE_EXPONENT, i] != 2.0
    any_power = n_power > 0
    _aggregate_week(b, nl, np.int64(0), bins, hist, sums, extrema, events, idx, trace)
    for t in range(horizon):
        _refresh_levers(b, nl, t, th, sq)
        _draw_normals(b, nl, keys, t)
        _advance(b, nl, t, any_power)
        _attrition(b, nl, t)
        if t == 0 or t == 7:
            _calibration_records(b, nl, t)
        _aggregate_week(b, nl, t + 1, bins, hist, sums, extrema, events, idx, trace)
    for i in range(nl):
        outcome = b[OUTCOME * LANES + i]
        if outcome < 0.0:
            outcome = (
                N.OUT_STABLE_FRONT
                if b[TRAIL * LANES + i] <= b[STABLE * LANES + i]
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
            sample_lanes(rows, bounds, seed, first + g0, nl, th, scratch)
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
