"""The levercast model as vectorised NumPy over a chunk of trajectories.

A second, independent implementation of ``levercast.engine.kernels``: every array has one entry
per trajectory of the chunk (shape ``(n,)``) and the weeks run in a Python loop. It serves
two purposes:

- an oracle for the kernel: it draws the same counter-based random numbers (the SplitMix64
  finaliser on ``uint64`` arrays, Acklam's inverse normal CDF on ``float64`` arrays) and the
  same parameters (every distribution vectorised, the beta's Marsaglia-Tsang rejection loop
  included), so trajectory ``i`` of a run here is trajectory ``i`` of the kernel;
- the NumPy baseline of the benchmarks (``benchmarks/bench_kernel.py``): what the model costs
  written the obvious fast way without a compiler.

Nothing is imported from ``levercast.engine._rng`` or ``levercast.engine.kernels``. The weekly
equations (those of issue 13: saturating fire, a multiplicative defence, reference and
measurement normalisers, collapse on low quality-weighted manning, AR(1) noise, the calendar)
are written from the model's specification, not from the kernel, so a trajectory agrees with
the kernel's (and with ``tests/naive.py``'s) to about 1e-14 relative rather than bit for bit,
and its outcome is the same unless a comparison lands within that of a threshold. Branches
are ``np.where`` masks; the lever terms are recomputed only in weeks where the ramp moves, and
the talks hazard is evaluated only for trajectories whose talks have not opened.

A trajectory whose state turns non-finite is flagged in ``status`` but not stopped (the kernel
stops it); :func:`levercast.simulate.run` refuses such runs, so their records never matter.
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from levercast.engine import layout as L
from levercast.results import names as N

WEEKS_PER_YEAR = 52.0
FIXED_POINT = 1024.0
MASK64 = (1 << 64) - 1

# ----------------------------------------------------------------------------- random numbers

GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
K_TRAJ = 0xD1B54A32D192ED03
K_STREAM = 0x8CB92BA72F3D8DD7
_TWO_M52 = 2.0**-52


def mix64(z):
    """SplitMix64 finaliser of every element of the ``uint64`` array ``z`` (wraps mod 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _u64(x):
    """A Python int as a one-element ``uint64`` array (array arithmetic wraps without warning)."""
    return np.array([x & MASK64], dtype=np.uint64)


def stream_keys(seed, trajectories, stream):
    """Keys of stream ``stream`` for the ``uint64`` array of trajectory indices."""
    k = mix64(_u64(seed * GOLDEN + K_STREAM))
    k = mix64(k ^ (trajectories * np.uint64(K_TRAJ)))
    return mix64(k + _u64(stream * GOLDEN + K_TRAJ))


def uniform(keys, counter):
    """Uniform draws on (0, 1): draw ``counter`` (an int) of each stream in ``keys``.

    The top 52 bits of the hash, centred in their cell, so the largest draw is 1 - 2**-53.
    """
    x = mix64(keys + _u64((counter + 1) * GOLDEN))
    return ((x >> np.uint64(12)).astype(np.float64) + 0.5) * _TWO_M52


_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01)
_B5 = -1.328068155288572e01
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def _tail(q):
    num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
    den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0
    return num / den


def ndtri(p):
    """Inverse standard normal CDF (Acklam) of the ``float64`` array ``p`` in (0, 1)."""
    q = p - 0.5
    r = q * q
    num = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B5) * r + 1.0
    out = num / den
    low = p < _P_LOW
    if low.any():
        out[low] = _tail(np.sqrt(-2.0 * np.log(p[low])))
    high = p > 1.0 - _P_LOW
    if high.any():
        out[high] = -_tail(np.sqrt(-2.0 * np.log(1.0 - p[high])))
    return out


def normal(keys, counter):
    """Standard normal draws: draw ``counter`` of each stream in ``keys``."""
    return ndtri(uniform(keys, counter))


def _ndtr(x):
    return 0.5 * math.erfc(-x * 0.7071067811865476)


# ----------------------------------------------------------------------------- parameters


def gamma(alpha, keys, base, budget):
    """Gamma(alpha, 1) draws by Marsaglia-Tsang from counters ``base .. base + budget - 1``.

    The rejection loop runs on the trajectories still waiting for an accepted draw; each
    attempt spends two counters (a normal, then a uniform), as in the kernel.
    """
    n = keys.shape[0]
    boost = np.ones(n)
    off = 0
    if alpha < 1.0:
        boost = uniform(keys, base) ** (1.0 / alpha)
        alpha += 1.0
        off = 1
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = alpha * boost  # practically never kept: every draw of the budget rejected
    waiting = np.arange(n)
    while off < budget - 1 and waiting.size:
        k = keys[waiting]
        z = normal(k, base + off)
        u = uniform(k, base + off + 1)
        off += 2
        v = 1.0 + c * z
        positive = v > 0.0
        v = v * v * v
        v_safe = np.where(positive, v, 1.0)
        accept = positive & (np.log(u) < 0.5 * z * z + d - d * v_safe + d * np.log(v_safe))
        done = waiting[accept]
        out[done] = d * v[accept] * boost[done]
        waiting = waiting[~accept]
    return out


def sample_param(row, keys, index):
    """Draws of parameter ``index`` for every stream in ``keys`` (a scalar when fixed)."""
    code = int(row[L.ROW_CODE])
    a, b = float(row[L.ROW_A]), float(row[L.ROW_B])
    lo, hi = float(row[L.ROW_LO]), float(row[L.ROW_HI])
    base = index * L.DRAWS_PER_PARAM
    if code == L.DIST_FIXED:
        return np.float64(a)
    u = uniform(keys, base)
    if code == L.DIST_UNIFORM:
        return a + u * (b - a)
    if code in (L.DIST_NORMAL, L.DIST_LOGNORMAL):
        if code == L.DIST_LOGNORMAL:
            zlo = (math.log(lo) - a) / b if lo > 0.0 else -math.inf
            zhi = (math.log(hi) - a) / b if hi < math.inf else math.inf
        else:
            zlo = (lo - a) / b
            zhi = (hi - a) / b
        plo = _ndtr(zlo)
        phi = _ndtr(zhi)
        x = a + b * ndtri(plo + u * (phi - plo))
        if code == L.DIST_LOGNORMAL:
            x = np.exp(x)
        return np.minimum(np.maximum(x, lo), hi)
    if code == L.DIST_BETA:
        half = L.DRAWS_PER_PARAM // 2
        ga = gamma(a, keys, base, half)
        gb = gamma(b, keys, base + half, half)
        return lo + (hi - lo) * ga / (ga + gb)
    if code == L.DIST_TRIANGULAR:
        mode = float(row[L.ROW_C])
        cut = (mode - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (mode - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - mode))
        return np.where(u < cut, left, right)
    if code == L.DIST_BERNOULLI:
        return np.where(u < a, 1.0, 0.0)
    if code == L.DIST_DISCRETE:
        k = int(row[L.ROW_K])
        out = np.full(u.shape, float(row[L.ROW_VALUES + k - 1]))
        for j in range(k - 1, -1, -1):  # the first j with u <= cw_j wins
            out = np.where(u <= row[L.ROW_CUMW + j], row[L.ROW_VALUES + j], out)
        return out
    raise ValueError(f"unknown distribution code {code}")


def sample_params(rows, seed, trajectories, posterior=None):
    """Parameters of the trajectories: a list in registry order of scalars (fixed) or arrays.

    ``posterior``: ``(values, slots)`` or None; each trajectory takes row ``floor(u M)`` of
    ``values`` (``u`` from its posterior stream) over the parameters ``slots``.
    """
    keys = stream_keys(seed, trajectories, L.STREAM_PARAMS)
    th = [sample_param(rows[i], keys, i) for i in range(rows.shape[0])]
    if posterior is not None and len(posterior[0]) > 0:
        values, slots = posterior
        n_rows = values.shape[0]
        u = uniform(stream_keys(seed, trajectories, L.STREAM_POSTERIOR), 0)
        j = np.minimum(np.floor(u * n_rows).astype(np.int64), n_rows - 1)
        for k, slot in enumerate(slots):
            th[int(slot)] = values[j, k].astype(np.float64)
    return th


# ----------------------------------------------------------------------------- the model


def _surveillance(th, interceptors, sensors, ew):
    drones = np.maximum(th[L.P_RECON_DRONES_PER_DAY], 1.0)
    cue = th[L.P_SENSOR_CUE_FLOOR] + (1.0 - th[L.P_SENSOR_CUE_FLOOR]) * sensors
    downed = 1.0 - np.exp(-interceptors * th[L.P_INTERCEPTOR_KILL_PROB] * cue / drones)
    coverage = np.minimum(1.0, th[L.P_COVERAGE_MAX] * th[L.P_DRONE_EFFECTIVENESS]) * (1.0 - downed)
    return coverage * (1.0 - th[L.P_EW_EFFECT_MAX] * ew)


def _guarantee(th, code, standoff, us_now):
    base = np.where(
        code == L.GUARANTEE_NONE,
        0.0,
        np.where(
            code == L.GUARANTEE_COALITION,
            th[L.P_GUARANTEE_COALITION],
            np.where(
                (code == L.GUARANTEE_NATO) & (th[L.P_NATO_ACCESSION] > 0.5),
                th[L.P_GUARANTEE_NATO],
                th[L.P_GUARANTEE_BILATERAL],
            ),
        ),
    )
    return base * (0.4 + 0.6 * standoff) * (0.5 + 0.5 * us_now)


def _take(x, idx):
    """``x[idx]`` for an array, ``x`` itself for a scalar parameter."""
    return x[idx] if np.ndim(x) else x


def _saturate(x, half):
    """``(1 + half) x / (x + half)``: the saturating effect of fire (1 at ``x = 1``)."""
    return (1.0 + half) * x / (x + half)


def simulate(th, sq, seed, trajectories, horizon):
    """Simulate the trajectories ``trajectories`` (uint64[n]) with parameters ``th``.

    Parameters
    ----------
    th : list of float64 or float64[n]
        Parameters in registry order (from :func:`sample_params`); state, reference and
        calendar slots as lowered (a date is the week index of the step that contains it).
    sq : float64[N_PARAMS]
        Status-quo lever values (``lowering.status_quo(scenario)``).
    seed : int
        Run seed.
    trajectories : uint64[n]
        Global trajectory indices (they key the random streams).
    horizon : int
        Weeks simulated.

    Returns
    -------
    records : float64[n, N_RECORD]
        Per-trajectory records, columns as in ``levercast.engine.layout``.
    territory_sums : int64[horizon + 1]
        Per week, the sum over trajectories of the territory lost in units of 1/1024 km2,
        rounded as the kernel does (exact integers, so chunks add exactly).
    status : int8[n]
        1 for a trajectory whose state turned non-finite, else 0.
    """
    n = trajectories.shape[0]
    sq = np.asarray(sq, dtype=np.float64)
    key = stream_keys(seed, trajectories, L.STREAM_WEEKLY)
    ekey = stream_keys(seed, trajectories, L.STREAM_EVENTS)
    talks_clock = -np.log(uniform(ekey, L.DRAW_TALKS_CLOCK))
    u_ceasefire = uniform(ekey, L.DRAW_CEASEFIRE)
    break_clock = -np.log(uniform(ekey, L.DRAW_BREAK_CLOCK))

    delay = th[L.P_SUPPORT_DELAY_WEEKS]
    inv_ramp = 1.0 / th[L.P_RAMP_WEEKS]
    withdraw = th[L.P_KURSK_POLICY] > 0.5
    guarantee_code = (th[L.P_SECURITY_GUARANTEE] + 0.5).astype(np.int64)
    reliability = th[L.P_DELIVERY_RELIABILITY]
    g0 = th[L.P_BASE_ADVANCE_KM2_PER_WEEK]
    noise_sd = th[L.P_ADVANCE_NOISE_SD]
    noise_shift = -0.5 * noise_sd * noise_sd
    ar = th[L.P_ADVANCE_NOISE_AR]
    innovation = np.sqrt(1.0 - ar * ar)
    exponent = th[L.P_ADVANCE_EXPONENT]
    collapse_weeks = th[L.P_COLLAPSE_WEEKS]
    manning_floor = th[L.P_MANNING_FLOOR]
    collapse_pace = th[L.P_COLLAPSE_PACE_KM2_PER_WEEK]
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
    m_start = th[L.P_MANNING]
    q_start = th[L.P_UA_QUALITY]
    c_start = th[L.P_UA_COHESION]
    inv_required = m_start * inv_i0
    inv_q_weight = 1.0 / (0.5 + 0.5 * q_start)
    cf_activity = th[L.P_CEASEFIRE_ACTIVITY]
    cf_cut = th[L.P_CEASEFIRE_SUPPORT_CUT]
    dom = th[L.P_DOMESTIC_AMMO_SHARE]
    inv_need = WEEKS_PER_YEAR / th[L.P_ROUNDS_NEEDED_PER_YEAR]
    loiter = th[L.P_LOITERING_THREAT]
    glide = th[L.P_GLIDE_SHARE_OF_PRESSURE]
    glide_eff = th[L.P_GLIDE_BOMB_EFFECTIVENESS]
    cb = th[L.P_COUNTER_BATTERY_WEIGHT]
    w_fire = th[L.P_FIRE_DEFENCE_WEIGHT]
    w_reserve = th[L.P_KURSK_RESERVE_WEIGHT]
    h_ua = th[L.P_FIRE_SATURATION_UA]
    h_ru = th[L.P_FIRE_SATURATION_RU]
    w_exposure = th[L.P_EXPOSURE_WEIGHT]
    s_share = th[L.P_SURVEILLANCE_SHARE_OF_LOSSES]
    f_share = th[L.P_FIRE_SHARE_OF_RUSSIAN_LOSSES]
    kursk_cost = th[L.P_KURSK_HOLD_COST] * loss_ua0
    us_share = th[L.P_US_SHARE_OF_SUPPORT]
    eu_growth = th[L.P_EUROPEAN_RAMPUP_PER_YEAR] / WEEKS_PER_YEAR
    fatigue_rate = th[L.P_PARTNER_FATIGUE_PER_YEAR] / WEEKS_PER_YEAR
    us_after = th[L.P_US_SUPPORT_AFTER_ELECTION]
    ru_rounds_rel = th[L.P_RU_ROUNDS_PER_DAY] / th[L.P_REF_RU_ROUNDS_PER_DAY]
    log_h0 = np.log(th[L.P_TALKS_HAZARD_PER_YEAR] / WEEKS_PER_YEAR + 1e-300)
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
    k_peak_km2 = th[L.P_KURSK_PEAK_KM2]
    strike_sq = sq[L.P_LONG_RANGE_STRIKE_INTENSITY]

    # The calendar: week indices of the steps that contain its dates (fixed rows, so scalars).
    def week_of(i):
        return float(th[i])

    k_origin = week_of(L.P_FORECAST_ORIGIN)
    k_transition = week_of(L.P_US_TRANSITION)
    k_pause_start = week_of(L.P_US_AID_PAUSE_START)
    k_pause_end = week_of(L.P_US_AID_PAUSE_END)
    k_incursion = week_of(L.P_KURSK_INCURSION)
    k_peak = week_of(L.P_KURSK_PEAK)
    k_counter = week_of(L.P_KURSK_COUNTEROFFENSIVE)

    def lerp(i, g):
        return sq[i] + g * (th[i] - sq[i])

    # Surveillance and guns forward at the start's status quo.
    v0 = _surveillance(
        th, sq[L.P_INTERCEPTOR_DRONES_PER_DAY], sq[L.P_SENSOR_DENSITY], sq[L.P_EW_SUPPORT]
    )
    fwd0 = 1.0 - v0 * loiter * (1.0 - sq[L.P_GUN_PROTECTION_SHARE])
    cap_sq = sq[L.P_HOWITZER_FLEET_INDEX] * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR

    # Reference window (where the pace was measured): pressure and defence normalisers.
    s_ref = us_share * th[L.P_REF_US_SUPPORT] + (1.0 - us_share)
    f_ref_model = (
        np.minimum(
            sq[L.P_ARTILLERY_ROUNDS_PER_YEAR]
            / WEEKS_PER_YEAR
            * reliability
            * (dom + (1.0 - dom) * s_ref),
            cap_sq,
        )
        * inv_need
        * fwd0
    )
    ref_ua_rounds = th[L.P_REF_UA_ROUNDS_PER_DAY]
    f_ref = np.where(
        ref_ua_rounds > 0.0,
        ref_ua_rounds * 365.25 / WEEKS_PER_YEAR * inv_need * fwd0,
        f_ref_model,
    )
    f_ref_sat = _saturate(f_ref, h_ua)
    p_ref = ((1.0 - glide) + glide * glide_eff) / (1.0 + cb * f_ref_sat)
    d_ref = (
        (0.5 + 0.5 * q_start)
        * (0.5 + 0.5 * c_start)
        * (
            1.0
            + line_max
            * sq[L.P_DEFENSIVE_LINE_DEPTH]
            * sq[L.P_LINE_SITING_QUALITY]
            * np.minimum(1.0, m_start)
        )
        * np.exp(-w_reserve * th[L.P_REF_KURSK_RESERVE_SHARE])
        * (1.0 + w_fire * f_ref_sat)
    )
    ratio_scale = d_ref / p_ref

    # Measurement window (October 2024, where the casualty rates were measured).
    f_meas = (
        np.minimum(th[L.P_MEAS_UA_ROUNDS_PER_YEAR] / WEEKS_PER_YEAR * reliability, cap_sq)
        * inv_need
        * fwd0
    )
    x_meas = th[L.P_MEAS_RU_ROUNDS_PER_DAY] / th[L.P_REF_RU_ROUNDS_PER_DAY]
    p_meas = ((1.0 - glide) + glide * glide_eff * _saturate(x_meas, h_ru)) / (
        1.0 + cb * _saturate(f_meas, h_ua)
    )
    e_meas = 1.0 + w_exposure * np.maximum(0.0, 1.0 - f_meas)
    inv_p_meas = 1.0 / p_meas
    inv_e_meas = 1.0 / e_meas
    inv_f_meas = 1.0 / f_meas
    inv_v0 = 1.0 / v0
    inv_ru0 = 1.0 / loss_ru0

    def full(x, dtype=np.float64):
        return np.full(n, x, dtype=dtype)

    territory = full(0.0)
    kursk = full(th[L.P_KURSK_INITIAL_KM2])
    inf = full(i0)
    pipeline = full(
        sq[L.P_RECRUITS_PER_MONTH] * 12.0 / WEEKS_PER_YEAR * inf_share * sq[L.P_TRAINING_WEEKS]
    )
    quality = full(q_start)
    cohesion = full(c_start)
    r_force = full(th[L.P_RUSSIA_FORCE_INDEX])
    tempo = full(1.0)
    munitions = full(th[L.P_RUSSIA_MUNITIONS_INDEX])
    rho = full(1.0)
    trail = full(th[L.P_RECENT_PACE_KM2_PER_WEEK])
    fatigue = full(th[L.P_PARTNER_SUPPORT])
    eta = full(0.0)
    talks_hazard = full(0.0)
    break_hazard = full(0.0)
    below = full(0, np.int64)
    collapsed = full(False, bool)
    cum_loss_ua = full(0.0)
    talks_open = full(False, bool)
    ceasefire = full(False, bool)
    outcome = full(-1, np.int64)
    collapse_week = full(-1.0)
    talks_week = full(-1.0)
    cf_agreed = full(0.0)
    cf_broken = full(-1.0)
    leverage = full(math.nan)
    adv_at_talks = full(math.nan)
    credibility = full(0.0)
    ru_first = full(0.0)
    kursk_first = full(math.nan)
    status = np.zeros(n, dtype=np.int8)
    territory_sums = np.zeros(horizon + 1, dtype=np.int64)

    g_prev = None
    for t in range(horizon):
        g = np.where(t >= delay, np.minimum(1.0, (t - delay) * inv_ramp), 0.0)
        if g_prev is None or np.any(g != g_prev):
            g_prev = g
            v = _surveillance(
                th,
                lerp(L.P_INTERCEPTOR_DRONES_PER_DAY, g),
                lerp(L.P_SENSOR_DENSITY, g),
                lerp(L.P_EW_SUPPORT, g),
            )
            v_rel = v * inv_v0
            forward = 1.0 - v * loiter * (1.0 - lerp(L.P_GUN_PROTECTION_SHARE, g))
            supply_base = lerp(L.P_ARTILLERY_ROUNDS_PER_YEAR, g) / WEEKS_PER_YEAR * reliability
            capacity = (
                lerp(L.P_HOWITZER_FLEET_INDEX, g)
                * th[L.P_GUN_CAPACITY_ROUNDS_PER_YEAR]
                / WEEKS_PER_YEAR
            )
            intake = lerp(L.P_RECRUITS_PER_MONTH, g) * 12.0 / WEEKS_PER_YEAR * inf_share
            training = lerp(L.P_TRAINING_WEEKS, g)
            inv_training = 1.0 / training
            q_recruit = 1.0 - np.exp(-training / th[L.P_TRAINING_QUALITY_TAU_WEEKS])
            reform_loss = cannibal * (1.0 - lerp(L.P_COHESION_REFORM, g))
            line_gain = (
                line_max * lerp(L.P_DEFENSIVE_LINE_DEPTH, g) * lerp(L.P_LINE_SITING_QUALITY, g)
            )
            strike_delta = lerp(L.P_LONG_RANGE_STRIKE_INTENSITY, g) - strike_sq
            reserve = lerp(L.P_KURSK_RESERVE_SHARE, g)
            kursk_hold = (sq[L.P_KURSK_RESERVE_SHARE] + k_off) / (reserve + k_off)
            standoff = lerp(L.P_EUROPEAN_STANDOFF_MUNITIONS, g)
            sustain = lerp(L.P_SUSTAINMENT_COMMITMENT, g)
            sanctions = lerp(L.P_SANCTIONS_COLLATERAL, g)
            fatigue_step = np.exp(-fatigue_rate * (1.0 - sustain))
            glide_term = glide * glide_eff * v_rel

        # 8. Partners: US aid from the calendar, European aid growing from the origin.
        if k_pause_start <= t < k_pause_end:
            us_now = full(0.0)
        elif t < k_transition:
            us_now = full(1.0)
        else:
            us_now = us_after + np.zeros(n)
        europe = np.maximum(0.0, 1.0 + eu_growth * (t - k_origin))
        support = (us_share * us_now + (1.0 - us_share) * europe) * fatigue
        fatigue = fatigue * fatigue_step
        support = np.where(ceasefire, support * (1.0 - cf_cut * (1.0 - sustain)), support)

        # 1-2. Fire (raw, and saturated).
        fire = (
            np.minimum(supply_base * (dom + (1.0 - dom) * support), capacity) * inv_need * forward
        )
        fire_sat = _saturate(fire, h_ua)

        # 3. Russian pressure, Russian fire saturating.
        x_ru = ru_rounds_rel * (1.25 * munitions / (munitions + 0.25))
        pressure = (
            r_force
            * tempo
            * ((1.0 - glide) + glide_term * _saturate(x_ru, h_ru))
            / (1.0 + cb * fire_sat)
        )

        # 4. Ukrainian defence, multiplicative.
        inf_rel = inf * inv_i0
        manning = inf * inv_required
        # the reserves are committed from the week of the incursion, as the salient grows
        growing = k_incursion <= t < k_peak
        diversion = np.where(withdraw | ((kursk <= 0.0) & (not growing)), 0.0, reserve)
        defence = (
            inf_rel
            * (0.5 + 0.5 * quality)
            * (0.5 + 0.5 * cohesion)
            * (1.0 + line_gain * np.minimum(1.0, manning))
            * np.exp(-w_reserve * diversion)
            * (1.0 + w_fire * fire_sat)
        )
        ratio = pressure * ratio_scale / defence

        # 5. Collapse on sustained low quality-weighted manning; advance with AR(1) noise.
        z = normal(key, t)
        fighting = ~ceasefire
        watch = fighting & ~collapsed
        thin = manning * (0.5 + 0.5 * quality) * inv_q_weight < manning_floor
        below = np.where(watch, np.where(thin, below + 1, 0), below)
        falls = watch & (below >= collapse_weeks)
        collapsed = collapsed | falls
        collapse_week = np.where(falls, t + 1.0, collapse_week)
        outcome = np.where(falls & (outcome < 0), N.OUT_COLLAPSE, outcome)
        eta = z if t == 0 else ar * eta + innovation * z
        noise = np.exp(noise_sd * eta + noise_shift)
        r = np.maximum(ratio, 1e-9)
        pace = g0 * np.exp(exponent * np.log(r))
        pace = np.where(collapsed, np.maximum(pace, collapse_pace), pace)
        gain = np.where(fighting, np.minimum(max_gain, pace * noise), 0.0)
        territory = territory + gain
        trail = trail + w_trail * (gain - trail)

        # 6. Attrition (normalised at the measurement window), recruitment, quality, cohesion.
        activity = np.where(ceasefire, cf_activity, 1.0)
        exposure = 1.0 + w_exposure * np.maximum(0.0, 1.0 - fire)
        loss_ua = (
            loss_ua0
            * (pressure * inv_p_meas)
            * ((1.0 - s_share) + s_share * v_rel)
            * (exposure * inv_e_meas)
            * np.sqrt(inf_rel)
            * activity
            + kursk_cost * diversion * activity
        )
        loss_ru = (
            loss_ru0 * r_force * tempo * ((1.0 - f_share) + f_share * fire * inv_f_meas) * activity
        )
        loss_ru = np.where(collapsed, loss_ru * 0.7, loss_ru)
        if t == 0:
            ru_first = loss_ru
        cum_loss_ua = cum_loss_ua + loss_ua

        pipeline = pipeline + intake
        graduates = pipeline * inv_training
        pipeline = pipeline - graduates
        survivors = np.maximum(inf - loss_ua, 0.0)
        inf = survivors + graduates
        inv_inf = 1.0 / np.maximum(inf, 1.0)
        quality = (quality * survivors + q_recruit * graduates) * inv_inf
        cohesion = cohesion + (
            cohesion_rec * (1.0 - cohesion) - reform_loss - w_cohesion * loss_ua * inv_inf
        )
        cohesion = np.minimum(1.0, np.maximum(0.0, cohesion))

        rho = rho + w_trail * (loss_ru * inv_ru0 - rho)
        tempo = np.where(rho > tolerance, tolerance / rho, 1.0)
        r_force = np.maximum(r_force + (ru_inflow - loss_ru * perm_share) * inv_force, 0.05)
        use = r_force * tempo * activity * (1.0 + burn * strike_delta)
        munitions = munitions + (production * (1.0 - prod_cut * strike_delta) - use) * inv_stock
        munitions = munitions - stock_loss * np.maximum(strike_delta, 0.0) * munitions
        munitions = np.minimum(2.0, np.maximum(0.0, munitions))

        # 7. Kursk: growth from the incursion to the peak, retaken from the counter-offensive.
        if k_incursion <= t < k_peak:
            grown = k_peak_km2 * (t + 1 - k_incursion) / max(1.0, k_peak - k_incursion)
            held = np.maximum(kursk, grown)
        elif t < k_counter:
            held = kursk
        else:
            held = np.where(ceasefire, kursk, kursk * (1.0 - np.minimum(k_rate * kursk_hold, 1.0)))
        kursk = np.where(withdraw, kursk * (1.0 - k_withdraw), held)
        kursk = np.where(kursk < 5.0, 0.0, kursk)
        if t == 7:
            kursk_first = (th[L.P_KURSK_INITIAL_KM2] - kursk) / 8.0

        # 9. Talks and cease-fire.
        break_hazard = np.where(
            ceasefire, break_hazard + break_rate * (1.0 - credibility), break_hazard
        )
        broke = ceasefire & (break_hazard >= break_clock)
        ceasefire = ceasefire & ~broke
        cf_broken = np.where(broke, t + 1.0, cf_broken)

        closed = np.flatnonzero(~talks_open)
        if closed.size:
            tr = trail[closed]
            tol = _take(tolerance, closed)
            willing = np.where(
                collapsed[closed] | (tr > _take(dictate, closed)),
                1.0,
                np.where(
                    tr <= _take(stable, closed),
                    np.maximum(_take(base_willing, closed), np.minimum(1.0, rho[closed] / tol)),
                    _take(base_willing, closed),
                ),
            )
            talks_hazard[closed] += willing * np.exp(
                _take(log_h0, closed)
                + _take(h_time, closed) * (t - k_origin)
                + _take(h_support, closed) * np.maximum(0.0, 1.0 - support[closed])
                + _take(h_loss, closed) * cum_loss_ua[closed]
            )
            opens = closed[talks_hazard[closed] >= talks_clock[closed]]
            if opens.size:
                tr = trail[opens]
                talks_open[opens] = True
                talks_week[opens] = t + 1
                adv_at_talks[opens] = tr
                fresh = outcome[opens] < 0
                outcome[opens] = np.where(
                    fresh,
                    np.where(tr <= _take(stable, opens), N.OUT_STABLE_FRONT, N.OUT_BREST_LITOVSK),
                    outcome[opens],
                )
                th_o = [_take(x, opens) for x in th]
                cred = _guarantee(
                    th_o,
                    _take(guarantee_code, opens),
                    _take(standoff, opens),
                    _take(us_now, opens),
                )
                credibility[opens] = cred
                front_term = np.minimum(
                    1.0, np.maximum(0.0, 1.0 - tr / th_o[L.P_DICTATE_ADVANCE_KM2_PER_WEEK])
                )
                leverage[opens] = (
                    th_o[L.P_LEVERAGE_FRONT_WEIGHT] * front_term
                    + th_o[L.P_LEVERAGE_KURSK_WEIGHT]
                    * np.minimum(1.0, kursk[opens] / th_o[L.P_KURSK_PEAK_KM2])
                    + th_o[L.P_LEVERAGE_SANCTIONS_WEIGHT] * _take(sanctions, opens)
                    + th_o[L.P_LEVERAGE_GUARANTEE_WEIGHT] * cred
                )
                agree = u_ceasefire[opens] < th_o[L.P_CEASEFIRE_PROB]
                ceasefire[opens[agree]] = True
                cf_agreed[opens[agree]] = 1.0

        territory_sums[t + 1] = np.floor(territory * FIXED_POINT + 0.5).astype(np.int64).sum()
        finite = (
            np.isfinite(territory)
            & np.isfinite(inf)
            & np.isfinite(quality)
            & np.isfinite(trail)
            & np.isfinite(r_force)
        )
        status[~finite] = 1

    outcome = np.where(
        outcome < 0, np.where(trail <= stable, N.OUT_STABLE_FRONT, N.OUT_GRINDING), outcome
    )
    records = np.empty((n, N.N_RECORD))
    records[:, N.R_OUTCOME] = outcome
    records[:, N.R_TALKS_WEEK] = talks_week
    records[:, N.R_CEASEFIRE] = cf_agreed
    records[:, N.R_CEASEFIRE_BROKEN_WEEK] = cf_broken
    records[:, N.R_COLLAPSE_WEEK] = collapse_week
    records[:, N.R_TERRITORY_KM2] = territory
    records[:, N.R_KURSK_KM2] = kursk
    records[:, N.R_UA_MANPOWER] = inf
    records[:, N.R_LEVERAGE] = leverage
    records[:, N.R_ADVANCE_AT_TALKS] = adv_at_talks
    records[:, N.R_RU_CASUALTIES_FIRST_WEEK] = ru_first
    records[:, N.R_KURSK_LOSS_FIRST_WEEKS] = kursk_first
    return records, territory_sums, status


# ----------------------------------------------------------------------------- a run


def run_chunk(rows, sq, seed, first, n, horizon, posterior=None):
    """Sample and simulate trajectories ``first .. first + n - 1``; see :func:`simulate`."""
    trajectories = np.arange(first, first + n, dtype=np.uint64)
    with np.errstate(all="ignore"):  # as the kernel's error_model="numpy": inf/nan, no raise
        th = sample_params(rows, seed, trajectories, posterior)
        return simulate(th, sq, seed, trajectories, horizon)


def run_vectorised(rows, sq, seed, n, horizon, chunk=65536, keep=0, threads=1, posterior=None):
    """Simulate trajectories ``0 .. n - 1`` in chunks of ``chunk`` and aggregate them.

    Parameters
    ----------
    rows : float64[N_PARAMS, ROW_WIDTH]
        Distribution rows (``lowering.param_rows(scenario)``).
    sq : float64[N_PARAMS]
        Status-quo lever values (``lowering.status_quo(scenario)``).
    seed, n, horizon : int
        Run seed, number of trajectories, weeks.
    chunk : int
        Trajectories per vectorised step (memory grows with it).
    keep : int
        Number of leading trajectories whose records are returned.
    threads : int
        Chunks simulated at once by a thread pool (NumPy releases the GIL inside its loops).
    posterior : (values, slots), optional
        ``lowering.posterior_arrays(scenario)``: see :func:`sample_params`.

    Returns
    -------
    dict
        ``outcome_counts`` int64[N_OUTCOMES]; ``records`` float64[keep, N_RECORD];
        ``territory_sums`` int64[horizon + 1] (units of 1/1024 km2, as ``RunResult.sums``);
        ``territory_mean`` float64[horizon + 1]; ``talks_opened``, ``ceasefire_agreed``,
        ``collapse_by_horizon`` and ``nonfinite`` counts; ``n`` and ``horizon``.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    starts = list(range(0, n, chunk))

    def one(first):
        return run_chunk(rows, sq, seed, first, min(chunk, n - first), horizon, posterior)

    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(one, starts))
    else:
        parts = [one(first) for first in starts]

    outcome_counts = np.zeros(N.N_OUTCOMES, dtype=np.int64)
    territory_sums = np.zeros(horizon + 1, dtype=np.int64)
    counts = dict.fromkeys(("talks_opened", "ceasefire_agreed", "collapse_by_horizon"), 0)
    nonfinite = 0
    kept = []
    for first, (rec, sums, status) in zip(starts, parts, strict=True):
        outcome_counts += np.bincount(rec[:, N.R_OUTCOME].astype(np.int64), minlength=N.N_OUTCOMES)
        territory_sums += sums
        counts["talks_opened"] += int((rec[:, N.R_TALKS_WEEK] >= 0).sum())
        counts["ceasefire_agreed"] += int((rec[:, N.R_CEASEFIRE] > 0.5).sum())
        counts["collapse_by_horizon"] += int((rec[:, N.R_COLLAPSE_WEEK] >= 0).sum())
        nonfinite += int(status.sum())
        if first < keep:
            kept.append(rec[: keep - first])
    records = np.concatenate(kept) if kept else np.empty((0, N.N_RECORD))
    return {
        "n": n,
        "horizon": horizon,
        "outcome_counts": outcome_counts,
        "records": records,
        "territory_sums": territory_sums,
        "territory_mean": territory_sums / FIXED_POINT / n,
        "nonfinite": nonfinite,
        **counts,
    }
