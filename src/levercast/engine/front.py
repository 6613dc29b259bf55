"""The weekly equations of ``docs/model.md``, one function per step.

Every function works on lane ``i`` of the lane buffer ``b`` (:mod:`levercast.engine.lanes`):
it reads the lane's parameters by their registry names (``get(b, L.P_X, i)``) and its state
and derived slots by theirs, and writes the state the step advances. The kernel
(:mod:`levercast.engine.kernels`) calls them inside its loops over lanes; they are inlined
there (``inline="always"``), so those loops stay free of calls and branches and vectorise.

Local names follow model.md's symbols (``V`` targeting value, ``S`` support, ``F`` fire,
``P`` pressure, ``D`` defence, ``r`` pressure/defence ratio, ``A`` weekly gain, ``A_bar``
trailing advance, ``m`` manning, ``K`` Kursk area held, ...). Where a term is pre-folded into
a slot for speed (computed once per trajectory, or once per week in which the lever ramp
moves), a comment beside its use gives the plain equation it stands for. A step's lever
terms are computed by ``<step>_levers``, right next to the step itself.
"""

import math

import numpy as np

from levercast.engine import _fmath
from levercast.engine import layout as L
from levercast.engine._jit import jit
from levercast.engine.lanes import (
    ADV_AT_TALKS,
    BAD,
    BELOW,
    BREAK_CLOCK,
    BREAK_HAZARD,
    BREAK_RATE,
    C_ETA,
    CAPACITY,
    CEASEFIRE,
    CF_AGREED,
    CF_BROKEN,
    CF_KEEP,
    COHESION,
    COLLAPSE_WEEK,
    COLLAPSED,
    CREDIBILITY,
    CUM_LOSS_UA,
    ETA,
    EU_GROWTH,
    FATIGUE,
    FATIGUE_STEP,
    FORWARD,
    GAIN,
    GLIDE_V,
    GUARANTEE_BASE,
    H_LOSS,
    H_TIME,
    INF,
    INFLOW_F,
    INTAKE,
    INV_DICTATE,
    INV_E_MEAS,
    INV_FORCE,
    INV_I0,
    INV_KURSK_PEAK,
    INV_NEED,
    INV_P_MEAS,
    INV_Q_S,
    INV_RAMP,
    INV_REQUIRED,
    INV_RU0,
    INV_STOCK,
    INV_TOLERANCE,
    INV_TRAINING,
    INV_V0,
    KEEP_RETAKEN,
    KEEP_WITHDRAWN,
    KURSK,
    KURSK_COST,
    KURSK_FIRST,
    LEVERAGE,
    LINE_GAIN,
    LOG_H0,
    LOSS_RU,
    MUNITIONS,
    NOISE_SHIFT,
    ONE_MINUS_DOM,
    ONE_MINUS_GLIDE,
    OUTCOME,
    PERM_F,
    PIPELINE,
    PROD_NET,
    PRODUCTION,
    Q_RECRUIT,
    QUALITY,
    R_FORCE,
    RAMP_START,
    RATIO_SCALE,
    REFORM_LOSS,
    RESERVE,
    RHO,
    RU_A,
    RU_B,
    RU_FIRST,
    RU_INFLOW,
    RU_RATIO,
    SANCTIONS,
    SQUARE,
    STANDOFF,
    STOCK_F,
    SUPPLY_BASE,
    TALKS_CLOCK,
    TALKS_HAZARD,
    TALKS_OPEN,
    TALKS_WEEK,
    TEMPO,
    TERRITORY,
    TRAIL,
    U_CEASEFIRE,
    UA_BASE,
    USE_F,
    WITHDRAW,
    Z,
    get,
    put,
    put_if,
)
from levercast.results import names as N

WEEKS_PER_YEAR = 52.0


# ------------------------------------------------------------------- once per trajectory


@jit
def guarantee_base(b, i):
    """Credibility of the guarantee on offer before standoff and US terms (step 9): none 0,
    bilateral, coalition, and NATO only if the drawn ``nato_accession`` is 1, else
    bilateral."""
    code = int(get(b, L.P_SECURITY_GUARANTEE, i) + 0.5)
    if code == L.GUARANTEE_NONE:
        return 0.0
    if code == L.GUARANTEE_COALITION:
        return get(b, L.P_GUARANTEE_COALITION, i)
    if code == L.GUARANTEE_NATO and get(b, L.P_NATO_ACCESSION, i) > 0.5:
        return get(b, L.P_GUARANTEE_NATO, i)
    return get(b, L.P_GUARANTEE_BILATERAL, i)


@jit
def trajectory_constants(b, i):
    """Products and reciprocals of one trajectory's parameters that the weekly steps use
    (folded once here instead of every week); each line names its step."""
    put(b, INV_RAMP, i, 1.0 / get(b, L.P_RAMP_WEEKS, i))  # levers in time: 1/rho
    put(b, WITHDRAW, i, 1.0 if get(b, L.P_KURSK_POLICY, i) > 0.5 else 0.0)  # 7
    put(b, SQUARE, i, 1.0 if get(b, L.P_ADVANCE_EXPONENT, i) == 2.0 else 0.0)  # 5: alpha = 2
    sigma = get(b, L.P_ADVANCE_NOISE_SD, i)
    put(b, NOISE_SHIFT, i, -0.5 * sigma * sigma)  # 5: -sigma^2/2
    put(b, INV_TOLERANCE, i, 1.0 / get(b, L.P_RUSSIA_LOSS_TOLERANCE, i))  # 9
    put(b, INV_DICTATE, i, 1.0 / get(b, L.P_DICTATE_ADVANCE_KM2_PER_WEEK, i))  # 9
    ru_inflow = (  # 6: recruitsRU 12/52 share_assault
        get(b, L.P_RUSSIA_RECRUITS_PER_MONTH, i)
        * 12.0
        / WEEKS_PER_YEAR
        * get(b, L.P_RUSSIA_ASSAULT_SHARE_OF_RECRUITS, i)
    )
    put(b, RU_INFLOW, i, ru_inflow)
    inv_force = 1.0 / get(b, L.P_RUSSIA_FORCE, i)
    put(b, INV_FORCE, i, inv_force)
    put(b, INV_STOCK, i, 1.0 / get(b, L.P_RUSSIA_STOCK_WEEKS, i))  # 6: 1/stock_weeks
    production = get(b, L.P_RUSSIA_SHELLS_PER_YEAR, i) / get(b, L.P_RUSSIA_SHELL_USE_PER_YEAR, i)
    put(b, PRODUCTION, i, production)  # 6: prod/use_0
    inv_i0 = 1.0 / get(b, L.P_UA_INFANTRY_INITIAL, i)
    put(b, INV_I0, i, inv_i0)  # 4, 6: 1/I_0
    put(b, INV_REQUIRED, i, get(b, L.P_MANNING, i) * inv_i0)  # 4: 1/I_req = m_s/I_0
    put(b, INV_NEED, i, WEEKS_PER_YEAR / get(b, L.P_ROUNDS_NEEDED_PER_YEAR, i))  # 2: 52/need
    loss_ua0 = get(b, L.P_UA_CASUALTIES_PER_WEEK, i)
    put(b, KURSK_COST, i, get(b, L.P_KURSK_HOLD_COST, i) * loss_ua0)  # 6: h_K L_0
    put(b, EU_GROWTH, i, get(b, L.P_EUROPEAN_RAMPUP_PER_YEAR, i) / WEEKS_PER_YEAR)  # 8: gamma_EU/52
    log_h0 = math.log(get(b, L.P_TALKS_HAZARD_PER_YEAR, i) / WEEKS_PER_YEAR + 1e-300)
    put(b, LOG_H0, i, log_h0)  # 9: log(h_0/52)
    put(b, H_TIME, i, get(b, L.P_TALKS_TIME_GROWTH, i) / WEEKS_PER_YEAR)  # 9: gamma_t/52
    put(b, H_LOSS, i, get(b, L.P_TALKS_LOSS_WEIGHT, i) * inv_i0)  # 9: gamma_L/I_0
    put(b, BREAK_RATE, i, get(b, L.P_CEASEFIRE_BREAK_PER_YEAR, i) / WEEKS_PER_YEAR)  # 9
    put(b, GUARANTEE_BASE, i, guarantee_base(b, i))  # 9
    put(b, ONE_MINUS_DOM, i, 1.0 - get(b, L.P_DOMESTIC_AMMO_SHARE, i))  # 2: 1 - delta
    put(b, ONE_MINUS_GLIDE, i, 1.0 - get(b, L.P_GLIDE_SHARE_OF_PRESSURE, i))  # 3: 1 - g
    put(b, INFLOW_F, i, ru_inflow * inv_force)  # 6
    put(b, PERM_F, i, get(b, L.P_RUSSIA_PERMANENT_LOSS_SHARE, i) * inv_force)  # 6
    put(b, KEEP_WITHDRAWN, i, 1.0 - get(b, L.P_KURSK_WITHDRAW_RATE, i))  # 7: 1 - k_W
    put(b, INV_KURSK_PEAK, i, 1.0 / get(b, L.P_KURSK_PEAK_KM2, i))  # 9: 1/K_peak
    phi = get(b, L.P_ADVANCE_NOISE_AR, i)
    put(b, C_ETA, i, math.sqrt(1.0 - phi * phi))  # 5: sqrt(1 - phi^2)
    ru_ratio = get(b, L.P_RU_ROUNDS_PER_DAY, i) / get(b, L.P_REF_RU_ROUNDS_PER_DAY, i)
    put(b, RU_RATIO, i, ru_ratio)  # 3: Russian fire relative to the reference window
    put(b, INV_Q_S, i, 1.0 / (0.5 + 0.5 * get(b, L.P_UA_QUALITY, i)))  # 5: 1/(0.5 + 0.5 Q_s)


@jit(inline="always")
def saturated_fire(b, i, F):
    """F~(F) = (1 + h_F) F / (F + h_F): the effect of fire F, full (1) at the need, the
    first rounds counting most."""
    h = get(b, L.P_FIRE_SATURATION_UA, i)
    return (1.0 + h) * F / (F + h)


@jit(inline="always")
def saturated_russian_fire(b, i, x):
    """G~(x) = (1 + h_R) x / (x + h_R), x Russian fire relative to the reference window."""
    h = get(b, L.P_FIRE_SATURATION_RU, i)
    return (1.0 + h) * x / (x + h)


@jit
def normalisers(b, i, sq):
    """The normalisers of model.md ("Reference and measurement"): pressure and defence at the
    reference window, where the pace a_ref was measured (r = 1 there), and pressure, fire and
    exposure in October 2024, where the casualty rates L_0 and L^R_0 were measured. ``sq``:
    the levers in effect on the start date."""
    V0 = surveillance(
        b, i, sq[L.P_INTERCEPTOR_DRONES_PER_DAY], sq[L.P_SENSOR_DENSITY], sq[L.P_EW_SUPPORT]
    )
    fwd0 = 1.0 - V0 * get(b, L.P_LOITERING_THREAT, i) * (1.0 - sq[L.P_GUN_PROTECTION_SHARE])
    reliability = get(b, L.P_DELIVERY_RELIABILITY, i)
    capacity = get(b, L.P_GUN_CAPACITY_ROUNDS_PER_YEAR, i)
    cap0 = sq[L.P_HOWITZER_FLEET_INDEX] * capacity / WEEKS_PER_YEAR
    inv_need = get(b, INV_NEED, i)
    # the reference window
    sigma_us = get(b, L.P_US_SHARE_OF_SUPPORT, i)
    S_ref = sigma_us * get(b, L.P_REF_US_SUPPORT, i) + (1.0 - sigma_us)
    delta = get(b, L.P_DOMESTIC_AMMO_SHARE, i)
    supply_ref = sq[L.P_ARTILLERY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR * reliability
    fired_ref = get(b, L.P_REF_UA_ROUNDS_PER_DAY, i)
    F_ref = (
        fired_ref * 365.25 / get(b, L.P_ROUNDS_NEEDED_PER_YEAR, i) * fwd0
        if fired_ref > 0.0
        else min(supply_ref * (delta + (1.0 - delta) * S_ref), cap0) * inv_need * fwd0
    )
    g = get(b, L.P_GLIDE_SHARE_OF_PRESSURE, i)
    e_glide = get(b, L.P_GLIDE_BOMB_EFFECTIVENESS, i)
    beta_cb = get(b, L.P_COUNTER_BATTERY_WEIGHT, i)
    P_ref = ((1.0 - g) + g * e_glide) / (1.0 + beta_cb * saturated_fire(b, i, F_ref))
    line_ref = 1.0 + get(b, L.P_LINE_BONUS_MAX, i) * sq[L.P_DEFENSIVE_LINE_DEPTH] * sq[
        L.P_LINE_SITING_QUALITY
    ] * min(1.0, get(b, L.P_MANNING, i))
    div_ref = get(b, L.P_REF_KURSK_RESERVE_SHARE, i)
    D_ref = (
        (0.5 + 0.5 * get(b, L.P_UA_QUALITY, i))
        * (0.5 + 0.5 * get(b, L.P_UA_COHESION, i))
        * line_ref
        * _fmath.exp(-get(b, L.P_KURSK_RESERVE_WEIGHT, i) * div_ref)
        * (1.0 + get(b, L.P_FIRE_DEFENCE_WEIGHT, i) * saturated_fire(b, i, F_ref))
    )
    put(b, RATIO_SCALE, i, D_ref / P_ref)  # r = (P/P_ref)/(D/D_ref) = (P/D) (D_ref/P_ref)
    # October 2024, where the casualty rates were measured
    supply_meas = get(b, L.P_MEAS_UA_ROUNDS_PER_YEAR, i) / WEEKS_PER_YEAR * reliability
    F_meas = min(supply_meas, cap0) * inv_need * fwd0
    x_meas = get(b, L.P_MEAS_RU_ROUNDS_PER_DAY, i) / get(b, L.P_REF_RU_ROUNDS_PER_DAY, i)
    G_meas = saturated_russian_fire(b, i, x_meas)
    P_meas = ((1.0 - g) + g * e_glide * G_meas) / (1.0 + beta_cb * saturated_fire(b, i, F_meas))
    e_meas = 1.0 + get(b, L.P_EXPOSURE_WEIGHT, i) * max(0.0, 1.0 - F_meas)
    put(b, INV_P_MEAS, i, 1.0 / P_meas)
    put(b, INV_E_MEAS, i, 1.0 / e_meas)
    loss_ru0 = get(b, L.P_RUSSIA_CASUALTIES_PER_WEEK, i)
    s_F = get(b, L.P_FIRE_SHARE_OF_RUSSIAN_LOSSES, i)
    # L^R_t = L^R_0 R tau [(1 - s_F) + s_F F/F_meas]  =  R tau (RU_A + RU_B F)
    put(b, RU_A, i, loss_ru0 * (1.0 - s_F))
    put(b, RU_B, i, loss_ru0 * s_F / F_meas)
    put(b, INV_RU0, i, 1.0 / loss_ru0)
    put(b, INV_V0, i, 1.0 / V0)


@jit
def initial_state(b, i, sq):
    """The state on the start date (model.md, Definitions and steps 4-9)."""
    put(b, TERRITORY, i, 0.0)
    put(b, KURSK, i, get(b, L.P_KURSK_INITIAL_KM2, i))
    put(b, INF, i, get(b, L.P_UA_INFANTRY_INITIAL, i))
    pipeline = (  # recruits in training at the status-quo intake and training length
        sq[L.P_RECRUITS_PER_MONTH]
        * 12.0
        / WEEKS_PER_YEAR
        * get(b, L.P_INFANTRY_SHARE_OF_RECRUITS, i)
        * sq[L.P_TRAINING_WEEKS]
    )
    put(b, PIPELINE, i, pipeline)
    put(b, QUALITY, i, get(b, L.P_UA_QUALITY, i))
    put(b, COHESION, i, get(b, L.P_UA_COHESION, i))
    put(b, R_FORCE, i, get(b, L.P_RUSSIA_FORCE_INDEX, i))
    put(b, TEMPO, i, 1.0)
    put(b, MUNITIONS, i, get(b, L.P_RUSSIA_MUNITIONS_INDEX, i))
    put(b, RHO, i, 1.0)  # trailing Russian loss rate relative to September 2024
    put(b, TRAIL, i, get(b, L.P_RECENT_PACE_KM2_PER_WEEK, i))  # A_bar_0: the recent pace
    put(b, FATIGUE, i, get(b, L.P_PARTNER_SUPPORT, i))  # Phi_0
    put(b, ETA, i, 0.0)
    put(b, TALKS_HAZARD, i, 0.0)  # cumulative, against the talks clock
    put(b, BREAK_HAZARD, i, 0.0)  # cumulative, against the break clock
    put(b, BELOW, i, 0.0)
    put(b, COLLAPSED, i, 0.0)
    put(b, CUM_LOSS_UA, i, 0.0)
    put(b, TALKS_OPEN, i, 0.0)
    put(b, CEASEFIRE, i, 0.0)
    put(b, OUTCOME, i, -1.0)
    put(b, COLLAPSE_WEEK, i, -1.0)
    put(b, TALKS_WEEK, i, -1.0)
    put(b, CF_AGREED, i, 0.0)
    put(b, CF_BROKEN, i, -1.0)
    put(b, LEVERAGE, i, math.nan)
    put(b, ADV_AT_TALKS, i, math.nan)
    put(b, CREDIBILITY, i, 0.0)
    put(b, RU_FIRST, i, 0.0)
    put(b, KURSK_FIRST, i, math.nan)
    put(b, BAD, i, 0.0)
    put(b, GAIN, i, 0.0)


# ------------------------------------------------------------------------- levers in time


@jit(inline="always")
def ramp_share(b, i, t):
    """g_t = 0 before the support delay d, then min(1, (t - d)/rho). ``RAMP_START`` is d, or
    infinity for a lane whose levers sit at the status quo (its ramp never moves)."""
    start = get(b, RAMP_START, i)
    return min(1.0, (t - start) * get(b, INV_RAMP, i)) if t >= start else 0.0


@jit(inline="always")
def lever(b, i, sq, p, g):
    """x_t = x_sq + g_t (x* - x_sq) for lever ``p``."""
    return sq[p] + g * (get(b, p, i) - sq[p])


# ------------------------------------------------------------------------ 8. partners


@jit(inline="always")
def partners_levers(b, i, moved, c):
    """Step 8's lever terms at sustainment ``c``."""
    phi = get(b, L.P_PARTNER_FATIGUE_PER_YEAR, i) / WEEKS_PER_YEAR
    # Phi_{t+1} / Phi_t = exp(-phi (1 - c_t) / 52)
    put_if(b, FATIGUE_STEP, i, moved, _fmath.exp(-phi * (1.0 - c)))
    # support kept during a cease-fire: 1 - kappa_cf (1 - c_t)
    put_if(b, CF_KEEP, i, moved, 1.0 - get(b, L.P_CEASEFIRE_SUPPORT_CUT, i) * (1.0 - c))


@jit(inline="always")
def partners(b, i, t, ceasefire):
    """S_t = [sigma_US u_t + (1 - sigma_US) max(0, 1 + gamma_EU (t - k_origin)/52)] Phi_t,
    times 1 - kappa_cf (1 - c_t) during a cease-fire; Phi advances. u_t is 0 during the US
    aid pause, 1 before the US transition and the drawn us_support_after_election after it
    (calendar dates, as the week of the run they fall in). Returns ``(S, u)``."""
    sigma_us = get(b, L.P_US_SHARE_OF_SUPPORT, i)
    after = get(b, L.P_US_SUPPORT_AFTER_ELECTION, i)
    paused = get(b, L.P_US_AID_PAUSE_START, i) <= t and t < get(b, L.P_US_AID_PAUSE_END, i)
    u = 0.0 if paused else (1.0 if t < get(b, L.P_US_TRANSITION, i) else after)
    Phi = get(b, FATIGUE, i)
    europe = max(0.0, 1.0 + get(b, EU_GROWTH, i) * (t - get(b, L.P_FORECAST_ORIGIN, i)))
    S = (sigma_us * u + (1.0 - sigma_us) * europe) * Phi
    put(b, FATIGUE, i, Phi * get(b, FATIGUE_STEP, i))
    kept = S * get(b, CF_KEEP, i)
    S = kept if ceasefire else S
    return S, u


# --------------------------------------------------------------------- 1. surveillance


@jit
def surveillance(b, i, interceptors, sensors, ew):
    """Targeting value V in [0, 1] of Russian drone surveillance:

    cue = f_cue + (1 - f_cue) sensors
    downed = 1 - exp(-interceptors p_kill cue / drones)
    V = min(1, c_max e_drone) (1 - downed) (1 - e_EW ew)
    """
    drones = max(get(b, L.P_RECON_DRONES_PER_DAY, i), 1.0)
    f_cue = get(b, L.P_SENSOR_CUE_FLOOR, i)
    cue = f_cue + (1.0 - f_cue) * sensors
    p_kill = get(b, L.P_INTERCEPTOR_KILL_PROB, i)
    downed = 1.0 - _fmath.exp(-interceptors * p_kill * cue / drones)
    reach = min(1.0, get(b, L.P_COVERAGE_MAX, i) * get(b, L.P_DRONE_EFFECTIVENESS, i))
    return reach * (1.0 - downed) * (1.0 - get(b, L.P_EW_EFFECT_MAX, i) * ew)


# ---------------------------------------------------------------------------- 2. fire


@jit(inline="always")
def fire_levers(b, i, moved, V, protection, rounds, fleet):
    """Step 2's lever terms: the guns close enough, the supply before support, the fleet's
    capacity."""
    # fwd_t = 1 - V_t lambda (1 - protection_t)
    put_if(b, FORWARD, i, moved, 1.0 - V * get(b, L.P_LOITERING_THREAT, i) * (1.0 - protection))
    # rounds_t/52 reliability
    supply = rounds / WEEKS_PER_YEAR * get(b, L.P_DELIVERY_RELIABILITY, i)
    put_if(b, SUPPLY_BASE, i, moved, supply)
    # howitzers_t capacity/52
    capacity = fleet * get(b, L.P_GUN_CAPACITY_ROUNDS_PER_YEAR, i) / WEEKS_PER_YEAR
    put_if(b, CAPACITY, i, moved, capacity)


@jit(inline="always")
def fire(b, i, S):
    """F_t = s_t fwd_t, with the shell sufficiency
    s_t = min(rounds_t/52 (delta + (1 - delta) S_t) reliability, howitzers_t capacity/52)
          / (need/52)."""
    supplied = get(b, L.P_DOMESTIC_AMMO_SHARE, i) + get(b, ONE_MINUS_DOM, i) * S
    s = min(get(b, SUPPLY_BASE, i) * supplied, get(b, CAPACITY, i)) * get(b, INV_NEED, i)
    return s * get(b, FORWARD, i)


# ------------------------------------------------------------------------ 3. pressure


@jit(inline="always")
def pressure_levers(b, i, moved, V_rel):
    """Step 3's lever term: g e_glide V_t/V_0 (``V_rel`` = V_t/V_0)."""
    g_e = get(b, L.P_GLIDE_SHARE_OF_PRESSURE, i) * get(b, L.P_GLIDE_BOMB_EFFECTIVENESS, i)
    put_if(b, GLIDE_V, i, moved, g_e * V_rel)


@jit(inline="always")
def pressure(b, i, F):
    """P_t = R_t tau_t [(1 - g) + g e_glide (V_t/V_0) G~(x_t)] / (1 + beta_cb F~(F_t)), with
    x_t = (Russian rounds/day relative to the reference window) mun_t and
    mun_t = 1.25 M_t/(M_t + 0.25). Returns ``(P, F~)``."""
    M = get(b, MUNITIONS, i)
    x = get(b, RU_RATIO, i) * (1.25 * M / (M + 0.25))
    G = saturated_russian_fire(b, i, x)
    F_sat = saturated_fire(b, i, F)
    threat = get(b, ONE_MINUS_GLIDE, i) + get(b, GLIDE_V, i) * G
    push = get(b, R_FORCE, i) * get(b, TEMPO, i) * threat
    return push / (1.0 + get(b, L.P_COUNTER_BATTERY_WEIGHT, i) * F_sat), F_sat


# ------------------------------------------------------------------------- 4. defence


@jit(inline="always")
def defence_levers(b, i, moved, depth, siting, reserve):
    """Step 4's lever terms: b_line depth_t siting_t, and the Kursk reserve share."""
    put_if(b, LINE_GAIN, i, moved, get(b, L.P_LINE_BONUS_MAX, i) * depth * siting)
    put_if(b, RESERVE, i, moved, reserve)


@jit(inline="always")
def defence(b, i, t, F_sat):
    """D_t = (I_t/I_0)(0.5 + 0.5 Q_t)(0.5 + 0.5 C_t) line_t exp(-w_R div_t)(1 + w_F F~_t),
    with m_t = I_t/I_req, line_t = 1 + b_line depth_t siting_t min(1, m_t) and
    div_t = reserve_t while holding Kursk with K_t > 0 or in the weeks the salient grows
    (k_inc <= t < k_peak: the reserves are committed from the week of the incursion, not the
    week after): fire multiplies the infantry's defence, it does not stand in for it.
    Returns ``(D, m, div)``."""
    I = get(b, INF, i)  # noqa: E741 (model.md's symbol)
    withdraw = get(b, WITHDRAW, i) > 0.5
    m = I * get(b, INV_REQUIRED, i)
    growing = get(b, L.P_KURSK_INCURSION, i) <= t and t < get(b, L.P_KURSK_PEAK, i)
    committed = get(b, KURSK, i) > 0.0 or growing
    div = get(b, RESERVE, i) if (committed and not withdraw) else 0.0
    D = (
        I
        * get(b, INV_I0, i)
        * (0.5 + 0.5 * get(b, QUALITY, i))
        * (0.5 + 0.5 * get(b, COHESION, i))
        * (1.0 + get(b, LINE_GAIN, i) * min(1.0, m))
        * _fmath.exp(-get(b, L.P_KURSK_RESERVE_WEIGHT, i) * div)
        * (1.0 + get(b, L.P_FIRE_DEFENCE_WEIGHT, i) * F_sat)
    )
    return D, m, div


@jit(inline="always")
def force_ratio(b, i, P, D):
    """r_t = (P_t/P_ref)/(D_t/D_ref), computed as (P_t/D_t)(D_ref/P_ref)."""
    return P / D * get(b, RATIO_SCALE, i)


# ----------------------------------------------------------------- 5. advance, collapse


@jit(inline="always")
def advance(b, i, t, r, m, ceasefire, any_power):
    """Step 5. The front collapses (absorbing) after n_c consecutive weeks of quality-weighted
    manning m~_t = m_t (0.5 + 0.5 Q_t)/(0.5 + 0.5 Q_s) below m_crit while fighting. Then

        eta_t = phi eta_{t-1} + sqrt(1 - phi^2) z_t   (eta_0 = z_0)
        eps_t = exp(sigma eta_t - sigma^2/2)
        A_t = min(A_max, a_ref r_t^alpha eps_t)                 before collapse
        A_t = min(A_max, max(a_ref r_t^alpha, A_c) eps_t)       in collapse
        A_t = 0                                                 during a cease-fire
        T_{t+1} = T_t + A_t,  A_bar_{t+1} = A_bar_t + w (A_t - A_bar_t)

    ``any_power``: some lane's alpha is not 2, so r^alpha needs a log and an exp (lanes with
    alpha = 2 square instead; the result is the same)."""
    collapsed = get(b, COLLAPSED, i) > 0.5
    outcome = get(b, OUTCOME, i)
    m_q = m * (0.5 + 0.5 * get(b, QUALITY, i)) * get(b, INV_Q_S, i)
    below = get(b, BELOW, i)
    watch = not ceasefire and not collapsed
    below = (below + 1.0 if m_q < get(b, L.P_MANNING_FLOOR, i) else 0.0) if watch else below
    falls = watch and below >= get(b, L.P_COLLAPSE_WEEKS, i)
    put(b, BELOW, i, below)
    put_if(b, COLLAPSE_WEEK, i, falls, t + 1.0)
    outcome = np.float64(N.OUT_COLLAPSE) if (falls and outcome < 0.0) else outcome
    collapsed = collapsed or falls
    c = get(b, C_ETA, i) if t > 0.0 else 1.0
    eta = get(b, L.P_ADVANCE_NOISE_AR, i) * get(b, ETA, i) + c * get(b, Z, i)
    put(b, ETA, i, eta)
    rr = max(r, 1e-9)
    scale = rr * rr
    if any_power:
        alpha = get(b, L.P_ADVANCE_EXPONENT, i)
        square = get(b, SQUARE, i) > 0.5
        power = _fmath.exp(alpha * _fmath.log(rr))
        scale = scale if square else power
    a = get(b, L.P_BASE_ADVANCE_KM2_PER_WEEK, i) * scale
    a = max(a, get(b, L.P_COLLAPSE_PACE_KM2_PER_WEEK, i)) if collapsed else a
    expo = get(b, L.P_ADVANCE_NOISE_SD, i) * eta + get(b, NOISE_SHIFT, i)
    A = min(a * _fmath.exp(expo), get(b, L.P_MAX_ADVANCE_KM2_PER_WEEK, i))
    A = 0.0 if ceasefire else A
    put(b, GAIN, i, A)
    put(b, TERRITORY, i, get(b, TERRITORY, i) + A)
    A_bar = get(b, TRAIL, i)
    A_bar += get(b, L.P_TRAILING_WEIGHT, i) * (A - A_bar)
    put(b, TRAIL, i, A_bar)
    put(b, COLLAPSED, i, 1.0 if collapsed else 0.0)
    put(b, OUTCOME, i, outcome)


# --------------------------------------------- 6. attrition, recruitment, quality, cohesion


@jit(inline="always")
def attrition_levers(b, i, moved, recruits, training, reform, V_rel):
    """Step 6's lever terms: intake, training, recruit quality, cohesion loss, and the
    status-quo-normalised base of Ukrainian losses."""
    share_inf = get(b, L.P_INFANTRY_SHARE_OF_RECRUITS, i)
    put_if(b, INTAKE, i, moved, recruits * 12.0 / WEEKS_PER_YEAR * share_inf)
    put_if(b, INV_TRAINING, i, moved, 1.0 / training)
    # q_t = 1 - exp(-training_t / tau_q)
    q = 1.0 - _fmath.exp(-training / get(b, L.P_TRAINING_QUALITY_TAU_WEEKS, i))
    put_if(b, Q_RECRUIT, i, moved, q)
    # kappa_C (1 - reform_t)
    put_if(b, REFORM_LOSS, i, moved, get(b, L.P_CANNIBALISATION_RATE, i) * (1.0 - reform))
    s_V = get(b, L.P_SURVEILLANCE_SHARE_OF_LOSSES, i)
    # L_0/P_meas [(1 - s_V) + s_V V_t/V_0] / e_meas
    ua_base = (
        get(b, L.P_UA_CASUALTIES_PER_WEEK, i)
        * get(b, INV_P_MEAS, i)
        * ((1.0 - s_V) + s_V * V_rel)
        * get(b, INV_E_MEAS, i)
    )
    put_if(b, UA_BASE, i, moved, ua_base)


@jit(inline="always")
def attrition(b, i, ceasefire, collapsed, F, P, div, R, tau):
    """Step 6, Ukraine's side and Russia's losses:

        e_t   = 1 + w_e max(0, 1 - F_t)
        L_t   = L_0 (P_t/P_meas)[(1 - s_V) + s_V V_t/V_0](e_t/e_meas) sqrt(I_t/I_0) a_t
                + h_K div_t L_0 a_t
        L^R_t = L^R_0 R_t tau_t [(1 - s_F) + s_F F_t/F_meas] a_t   (x 0.7 in collapse)
        G_t = pipeline/training_t; I, Q and C advance.

    ``R``, ``tau``: Russian force and tempo of the week. Returns ``(L, L^R, a_t)``."""
    activity = get(b, L.P_CEASEFIRE_ACTIVITY, i) if ceasefire else 1.0
    I = get(b, INF, i)  # noqa: E741 (model.md's symbol)
    e = 1.0 + get(b, L.P_EXPOSURE_WEIGHT, i) * max(0.0, 1.0 - F)
    loss = (
        get(b, UA_BASE, i) * P * e * math.sqrt(I * get(b, INV_I0, i)) + get(b, KURSK_COST, i) * div
    ) * activity
    loss_ru = R * tau * (get(b, RU_A, i) + get(b, RU_B, i) * F) * activity
    loss_ru = loss_ru * 0.7 if collapsed else loss_ru
    put(b, LOSS_RU, i, loss_ru)
    put(b, CUM_LOSS_UA, i, get(b, CUM_LOSS_UA, i) + loss)

    pipeline = get(b, PIPELINE, i) + get(b, INTAKE, i)
    G = pipeline * get(b, INV_TRAINING, i)
    put(b, PIPELINE, i, pipeline - G)
    survivors = max(I - loss, 0.0)
    I = survivors + G  # noqa: E741
    put(b, INF, i, I)
    inv_I = 1.0 / max(I, 1.0)
    Q = get(b, QUALITY, i)
    put(b, QUALITY, i, (Q * survivors + get(b, Q_RECRUIT, i) * G) * inv_I)
    C = get(b, COHESION, i)
    C += (
        get(b, L.P_COHESION_RECOVERY, i) * (1.0 - C)
        - get(b, REFORM_LOSS, i)
        - get(b, L.P_COHESION_LOSS_WEIGHT, i) * loss * inv_I
    )
    put(b, COHESION, i, min(1.0, max(0.0, C)))
    return loss, loss_ru, activity


@jit(inline="always")
def russia_levers(b, i, moved, strike, strike_sq):
    """Step 6's Russian lever terms, with Delta_t = strike_t - strike_sq."""
    delta = strike - strike_sq
    inv_stock = get(b, INV_STOCK, i)
    # (prod/use_0)(1 - pi Delta_t) / stock_weeks
    cut = 1.0 - get(b, L.P_STRIKE_PRODUCTION_CUT, i) * delta
    put_if(b, PROD_NET, i, moved, get(b, PRODUCTION, i) * cut * inv_stock)
    # (1 + b Delta_t) / stock_weeks
    put_if(b, USE_F, i, moved, (1.0 + get(b, L.P_STRIKE_BURN, i) * delta) * inv_stock)
    # l max(Delta_t, 0)
    put_if(b, STOCK_F, i, moved, get(b, L.P_STRIKE_STOCK_LOSS, i) * max(delta, 0.0))


@jit(inline="always")
def russia(b, i, loss_ru, activity):
    """Step 6, Russia's force, tempo and munitions:

        rho_{t+1} = rho_t + w (L^R_t/L^R_0 - rho_t)
        tau_{t+1} = tolerance/rho_{t+1} if rho_{t+1} > tolerance, else 1
        R_{t+1}   = max(0.05, R_t + (recruitsRU 12/52 share_assault - L^R_t share_perm)/force)
        M_{t+1}   = clip(M_t + [(prod/use_0)(1 - pi Delta) - R tau a (1 + b Delta)]/stock_weeks
                         - l max(Delta, 0) M_t, 0, 2)

    Returns ``(rho, R)``."""
    tolerance = get(b, L.P_RUSSIA_LOSS_TOLERANCE, i)
    rho = get(b, RHO, i)
    rho += get(b, L.P_TRAILING_WEIGHT, i) * (loss_ru * get(b, INV_RU0, i) - rho)
    put(b, RHO, i, rho)
    put(b, TEMPO, i, tolerance / rho if rho > tolerance else 1.0)
    R = max(get(b, R_FORCE, i) + get(b, INFLOW_F, i) - loss_ru * get(b, PERM_F, i), 0.05)
    put(b, R_FORCE, i, R)
    use = R * get(b, TEMPO, i) * activity * get(b, USE_F, i)
    M = get(b, MUNITIONS, i)
    M += get(b, PROD_NET, i) - use
    M -= get(b, STOCK_F, i) * M
    put(b, MUNITIONS, i, min(2.0, max(0.0, M)))
    return rho, R


# --------------------------------------------------------------------------- 7. Kursk


@jit(inline="always")
def kursk_levers(b, i, moved, reserve, reserve_sq):
    """Step 7's lever term: the share kept while holding,
    1 - min(1, k_R (reserve_sq + o)/(reserve_t + o))."""
    o = get(b, L.P_KURSK_HOLD_OFFSET, i)
    retake = min(get(b, L.P_KURSK_COUNTERATTACK_RATE, i) * (reserve_sq + o) / (reserve + o), 1.0)
    put_if(b, KEEP_RETAKEN, i, moved, 1.0 - retake)


@jit(inline="always")
def kursk(b, i, t, ceasefire):
    """Step 7. From the incursion to the peak (calendar) the salient grows to K_peak while
    holding: K_{t+1} = max(K_t, K_peak (t + 1 - k_inc)/max(1, k_peak - k_inc)). Otherwise
    K_{t+1} = K_t (1 - k_W) when withdrawing; K_t during a cease-fire or before the Russian
    counter-offensive; else K_t (1 - min(1, k_R (reserve_sq + o)/(reserve_t + o))). Below
    5 km2 it counts as lost."""
    K = get(b, KURSK, i)
    withdraw = get(b, WITHDRAW, i) > 0.5
    k_inc = get(b, L.P_KURSK_INCURSION, i)
    k_peak = get(b, L.P_KURSK_PEAK, i)
    growing = k_inc <= t and t < k_peak and not withdraw
    grown = max(K, get(b, L.P_KURSK_PEAK_KM2, i) * (t + 1.0 - k_inc) / max(1.0, k_peak - k_inc))
    withdrawn = K * get(b, KEEP_WITHDRAWN, i)
    retaken = K * get(b, KEEP_RETAKEN, i)
    held = ceasefire or t < get(b, L.P_KURSK_COUNTEROFFENSIVE, i)
    K = withdrawn if withdraw else (K if held else retaken)
    K = grown if growing else K
    K = 0.0 if K < 5.0 else K
    put(b, KURSK, i, K)
    return K


# --------------------------------------------------------------- 9. talks and cease-fire


@jit(inline="always")
def talks_levers(b, i, moved, standoff, sanctions):
    """Step 9's lever terms: European standoff munitions and sanctions collateral."""
    put_if(b, STANDOFF, i, moved, standoff)
    put_if(b, SANCTIONS, i, moved, sanctions)


@jit(inline="always")
def talks(b, i, t, ceasefire, collapsed, S, u, cum_loss, rho, K):
    """Step 9: the cease-fire's breakdown, then the talks hazard

        log h_t = log(h_0/52) + gamma_t (t - k_origin)/52 + gamma_S max(0, 1 - S_t)
                  + gamma_L sum L / I_0

    times Russia's willingness, against the trajectory's exponential clock; when talks open,
    the outcome, credibility, leverage and whether a cease-fire follows."""
    next_week = t + 1.0
    credibility = get(b, CREDIBILITY, i)
    hazard = get(b, BREAK_HAZARD, i) + get(b, BREAK_RATE, i) * (1.0 - credibility)
    put_if(b, BREAK_HAZARD, i, ceasefire, hazard)
    breaks = ceasefire and hazard >= get(b, BREAK_CLOCK, i)
    ceasefire = ceasefire and not breaks
    put_if(b, CF_BROKEN, i, breaks, next_week)

    A_bar = get(b, TRAIL, i)
    talks_open = get(b, TALKS_OPEN, i) > 0.5
    stable = get(b, L.P_STABLE_ADVANCE_KM2_PER_WEEK, i)
    dictate = get(b, L.P_DICTATE_ADVANCE_KM2_PER_WEEK, i)
    w_0 = get(b, L.P_RUSSIA_BASE_WILLINGNESS, i)
    calm = max(w_0, min(1.0, rho * get(b, INV_TOLERANCE, i)))
    willing = 1.0 if (collapsed or A_bar > dictate) else (calm if A_bar <= stable else w_0)
    H = get(b, TALKS_HAZARD, i)
    H_next = H + willing * _fmath.exp(
        get(b, LOG_H0, i)
        + get(b, H_TIME, i) * (t - get(b, L.P_FORECAST_ORIGIN, i))
        + get(b, L.P_TALKS_FATIGUE_WEIGHT, i) * max(0.0, 1.0 - S)
        + get(b, H_LOSS, i) * cum_loss
    )
    put(b, TALKS_HAZARD, i, H if talks_open else H_next)
    opens = not talks_open and H_next >= get(b, TALKS_CLOCK, i)
    put(b, TALKS_OPEN, i, 1.0 if (talks_open or opens) else 0.0)
    put_if(b, TALKS_WEEK, i, opens, next_week)
    put_if(b, ADV_AT_TALKS, i, opens, A_bar)
    decided = np.float64(N.OUT_STABLE_FRONT) if A_bar <= stable else np.float64(N.OUT_BREST_LITOVSK)
    outcome = get(b, OUTCOME, i)
    put(b, OUTCOME, i, decided if (opens and outcome < 0.0) else outcome)
    offered = get(b, GUARANTEE_BASE, i) * (0.4 + 0.6 * get(b, STANDOFF, i)) * (0.5 + 0.5 * u)
    put(b, CREDIBILITY, i, offered if opens else credibility)
    front_term = min(1.0, max(0.0, 1.0 - A_bar * get(b, INV_DICTATE, i)))
    leverage = (
        get(b, L.P_LEVERAGE_FRONT_WEIGHT, i) * front_term
        + get(b, L.P_LEVERAGE_KURSK_WEIGHT, i) * min(1.0, K * get(b, INV_KURSK_PEAK, i))
        + get(b, L.P_LEVERAGE_SANCTIONS_WEIGHT, i) * get(b, SANCTIONS, i)
        + get(b, L.P_LEVERAGE_GUARANTEE_WEIGHT, i) * offered
    )
    put_if(b, LEVERAGE, i, opens, leverage)
    takes = get(b, U_CEASEFIRE, i) < get(b, L.P_CEASEFIRE_PROB, i)
    agrees = opens and takes
    put_if(b, CF_AGREED, i, agrees, 1.0)
    put(b, CEASEFIRE, i, 1.0 if (ceasefire or agrees) else 0.0)
