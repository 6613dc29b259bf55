"""Slow, obvious reference implementation of the levercast kernel.

The fast kernels in ``levercast.engine._rng`` and ``levercast.engine.kernels`` must agree with
this module (the stumpy pattern). Everything here is plain Python on Python ints and floats:
the counter-based generator is re-stated with integers masked to 64 bits, parameters are read
by their registry names rather than by index, and each weekly step is written out in full.
Nothing is imported from ``levercast.engine._rng`` or ``levercast.engine.kernels``.

The random numbers and parameter draws are exact: they equal the kernel's to the last bit.
The weekly equations are written the plain way (``x / y`` where the kernel multiplies by a
reciprocal computed once, ``exp(a) * exp(b)`` where it folds exponents, lever terms recomputed
every week where it caches them), so a trajectory agrees with the kernel's to about 1e-14
relative rather than bit for bit; the tests allow 1e-12. Three deliberate differences from
plain Python keep the comparison fair: ``exp`` returns ``inf`` on overflow as the C library (and
so the kernel) does, a division of the pressure ratio by a zero defence gives ``inf`` rather
than raising, and a trajectory that turns non-finite stops, as the kernel's does, with the
remaining weeks NaN.

The equations are those of issue 13 (the hindcasts' mechanisms): saturating fire on both sides,
a multiplicative defence, the pace normalised at a reference window and the losses at the
measurement window (October 2024), collapse after weeks of low quality-weighted manning, AR(1)
advance noise, and the calendar's dates (US transition and aid pause, Kursk incursion, the
forecast origin of the time trends) as the week indices of the steps that contain them.
"""

import math
from types import SimpleNamespace

import numpy as np

from levercast.engine import layout as L
from levercast.results import names as N
from levercast.scenario import registry

# ----------------------------------------------------------------------------- random numbers

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, the SplitMix64 increment
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
KEY_TRAJECTORY = 0xD1B54A32D192ED03
KEY_STREAM = 0x8CB92BA72F3D8DD7
TWO_POW_MINUS_52 = 2.0**-52


def mix64(z):
    """SplitMix64 finaliser of the 64-bit integer ``z``."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def stream_key(seed, trajectory, stream):
    """Key of the random stream ``stream`` of trajectory ``trajectory`` in run ``seed``."""
    key = mix64((seed * GOLDEN + KEY_STREAM) & MASK64)
    key = mix64(key ^ ((trajectory * KEY_TRAJECTORY) & MASK64))
    return mix64((key + stream * GOLDEN + KEY_TRAJECTORY) & MASK64)


def uniform(key, counter):
    """Draw number ``counter`` of the stream ``key``: the top 52 bits of a hash, centred."""
    bits = mix64((key + (counter + 1) * GOLDEN) & MASK64)
    return (float(bits >> 12) + 0.5) * TWO_POW_MINUS_52


# Acklam's rational approximation of the inverse normal CDF.
ACKLAM_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
ACKLAM_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
ACKLAM_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
ACKLAM_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
ACKLAM_P_LOW = 0.02425


def _horner(coefficients, x):
    """c0 x^(n-1) + ... + c(n-1), evaluated as ((c0 x + c1) x + ...) + c(n-1)."""
    total = coefficients[0]
    for c in coefficients[1:]:
        total = total * x + c
    return total


def _acklam_tail(q):
    """Lower-tail branch of Acklam's approximation, ``q = sqrt(-2 log p)``."""
    return _horner(ACKLAM_C, q) / (_horner(ACKLAM_D, q) * q + 1.0)


def ndtri(p):
    """Inverse standard normal CDF for ``p`` in (0, 1)."""
    if p < ACKLAM_P_LOW:
        return _acklam_tail(math.sqrt(-2.0 * math.log(p)))
    if p > 1.0 - ACKLAM_P_LOW:
        return -_acklam_tail(math.sqrt(-2.0 * math.log(1.0 - p)))
    q = p - 0.5
    r = q * q
    return _horner(ACKLAM_A, r) * q / (_horner(ACKLAM_B, r) * r + 1.0)


def ndtr(x):
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x * 0.7071067811865476)


def normal(key, counter):
    """Standard normal draw number ``counter`` of the stream ``key``."""
    return ndtri(uniform(key, counter))


def exp(x):
    """``math.exp`` that overflows to ``inf`` (as C and the kernel do) instead of raising."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def divide(x, y):
    """``x / y`` with IEEE division by zero (``inf`` or ``nan``), as the kernel's; Python raises."""
    if y == 0.0:
        return math.nan if x == 0.0 or math.isnan(x) else math.copysign(math.inf, x)
    return x / y


# ----------------------------------------------------------------------------- parameters


def gamma_draw(alpha, key, first, budget):
    """Gamma(alpha, 1) by Marsaglia and Tsang, from counters ``first .. first + budget - 1``.

    For ``alpha < 1`` the first counter is spent on the boost ``U ** (1 / alpha)`` and the
    draw is made at ``alpha + 1``. Each attempt spends two counters: a normal, then a uniform.
    """
    boost = 1.0
    used = 0
    if alpha < 1.0:
        boost = uniform(key, first) ** (1.0 / alpha)
        alpha += 1.0
        used = 1
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while used < budget - 1:
        z = normal(key, first + used)
        u = uniform(key, first + used + 1)
        used += 2
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost
    return alpha * boost


def _truncated_normal(u, mean, sd, lo, hi):
    """Inverse-CDF draw of N(mean, sd) truncated to [lo, hi] from the uniform ``u``."""
    p_lo = ndtr((lo - mean) / sd)
    p_hi = ndtr((hi - mean) / sd)
    x = mean + sd * ndtri(p_lo + u * (p_hi - p_lo))
    return min(max(x, lo), hi)


def _truncated_lognormal(u, mu, sigma, lo, hi):
    """Inverse-CDF draw of exp(N(mu, sigma)) truncated to [lo, hi] from the uniform ``u``."""
    z_lo = (math.log(lo) - mu) / sigma if lo > 0.0 else -math.inf
    z_hi = (math.log(hi) - mu) / sigma if hi < math.inf else math.inf
    p_lo = ndtr(z_lo)
    p_hi = ndtr(z_hi)
    x = math.exp(mu + sigma * ndtri(p_lo + u * (p_hi - p_lo)))
    return min(max(x, lo), hi)


def _triangular(u, low, high, mode):
    """Inverse-CDF draw of the triangular distribution (low, mode, high)."""
    if u < (mode - low) / (high - low):
        return low + math.sqrt(u * (high - low) * (mode - low))
    return high - math.sqrt((1.0 - u) * (high - low) * (high - mode))


def sample_param(row, key, index):
    """Draw parameter ``index`` from its distribution ``row`` (layout in ``_layout``).

    Parameter ``index`` owns counters ``index * DRAWS_PER_PARAM`` onwards of the stream
    ``key``; the first of them is the inverse-CDF uniform of every continuous distribution.
    """
    row = [float(x) for x in row]
    code = int(row[L.ROW_CODE])
    a, b = row[L.ROW_A], row[L.ROW_B]
    lo, hi = row[L.ROW_LO], row[L.ROW_HI]
    first = index * L.DRAWS_PER_PARAM
    if code == L.DIST_FIXED:
        return a
    u = uniform(key, first)
    if code == L.DIST_UNIFORM:
        return a + u * (b - a)
    if code == L.DIST_NORMAL:
        return _truncated_normal(u, a, b, lo, hi)
    if code == L.DIST_LOGNORMAL:
        return _truncated_lognormal(u, a, b, lo, hi)
    if code == L.DIST_BETA:
        half = L.DRAWS_PER_PARAM // 2
        ga = gamma_draw(a, key, first, half)
        gb = gamma_draw(b, key, first + half, half)
        return lo + (hi - lo) * ga / (ga + gb)
    if code == L.DIST_TRIANGULAR:
        return _triangular(u, a, b, row[L.ROW_C])
    if code == L.DIST_BERNOULLI:
        return 1.0 if u < a else 0.0
    if code == L.DIST_DISCRETE:
        k = int(row[L.ROW_K])
        values = row[L.ROW_VALUES : L.ROW_VALUES + k]
        cumulative = row[L.ROW_CUMW : L.ROW_CUMW + k]
        for value, cw in zip(values, cumulative, strict=True):
            if u <= cw:
                return value
        return values[-1]
    raise ValueError(f"unknown distribution code {code}")


def sample_params(rows, seed, trajectory, posterior=None):
    """One trajectory's parameters, ``list[float]`` in registry order.

    ``posterior``: ``(values, slots)`` (``lowering.posterior_arrays``) or None. The trajectory
    then takes row ``floor(u M)`` of the ``M`` rows, ``u`` the first uniform of its posterior
    stream, and the row's values replace the draws of the parameters ``slots``.
    """
    key = stream_key(seed, trajectory, L.STREAM_PARAMS)
    theta = [sample_param(row, key, i) for i, row in enumerate(rows)]
    if posterior is not None and len(posterior[0]) > 0:
        values, slots = posterior
        n_rows = len(values)
        u = uniform(stream_key(seed, trajectory, L.STREAM_POSTERIOR), 0)
        j = min(math.floor(u * n_rows), n_rows - 1)
        for k, slot in enumerate(slots):
            theta[int(slot)] = float(values[j][k])
    return theta


def by_name(values):
    """Values in registry order as a namespace of registry names: ``p.recon_drones_per_day``."""
    return SimpleNamespace(
        **{q.name: float(v) for q, v in zip(registry.PARAMS, values, strict=True)}
    )


# Levers that ramp from the status quo to the scenario value.
RAMPED_LEVERS = (
    "artillery_rounds_per_year",
    "howitzer_fleet_index",
    "gun_protection_share",
    "interceptor_drones_per_day",
    "sensor_density",
    "ew_support",
    "recruits_per_month",
    "training_weeks",
    "cohesion_reform",
    "sanctions_collateral",
    "defensive_line_depth",
    "line_siting_quality",
    "long_range_strike_intensity",
    "kursk_reserve_share",
    "european_standoff_munitions",
    "sustainment_commitment",
)

WEEKS_PER_YEAR = 52.0


def ramped_levers(p, quo, week):
    """Lever values in ``week``: linear from the status quo, once the support delay has passed."""
    delay = p.support_delay_weeks
    g = min(1.0, max(0.0, (week - delay) / p.ramp_weeks)) if week >= delay else 0.0
    return SimpleNamespace(
        **{
            name: getattr(quo, name) + g * (getattr(p, name) - getattr(quo, name))
            for name in RAMPED_LEVERS
        }
    )


# ----------------------------------------------------------------------------- model steps

DAYS_PER_YEAR = 365.25


def saturating(x, half):
    """``(1 + half) x / (x + half)``: 0 at 0, 1 at 1, the first units counting most."""
    return (1.0 + half) * x / (x + half)


def surveillance_value(p, interceptors, sensors, ew):
    """Step 1: targeting value in [0, 1] of Russian reconnaissance drones."""
    drones = max(p.recon_drones_per_day, 1.0)
    cueing = p.sensor_cue_floor + (1.0 - p.sensor_cue_floor) * sensors
    share_downed = 1.0 - exp(-interceptors * p.interceptor_kill_prob * cueing / drones)
    coverage = min(1.0, p.coverage_max * p.drone_effectiveness) * (1.0 - share_downed)
    return coverage * (1.0 - p.ew_effect_max * ew)


def guns_forward(p, surveillance, protection):
    """Share of guns kept forward under loitering munitions."""
    return 1.0 - surveillance * p.loitering_threat * (1.0 - protection)


def effective_fire(p, rounds, howitzers, protection, support, surveillance):
    """Step 2: shells that arrive and can be fired, relative to need, times guns kept forward."""
    domestic = p.domestic_ammo_share
    supplied = (
        rounds / WEEKS_PER_YEAR * p.delivery_reliability * (domestic + (1.0 - domestic) * support)
    )
    can_fire = howitzers * p.gun_capacity_rounds_per_year / WEEKS_PER_YEAR
    sufficiency = min(supplied, can_fire) / (p.rounds_needed_per_year / WEEKS_PER_YEAR)
    return sufficiency * guns_forward(p, surveillance, protection)


def russian_fire(p, munitions):
    """Russian artillery fire relative to the reference window: rounds a day times the
    munitions stock's effect (1 at the reference stock)."""
    munitions_effect = 1.25 * munitions / (munitions + 0.25)
    return p.ru_rounds_per_day / p.ref_ru_rounds_per_day * munitions_effect


def russian_pressure(p, force, tempo, surveillance_rel, ru_fire, ua_fire):
    """Step 3: Russian assault pressure after Ukrainian counter-fire.

    ``ru_fire`` is Russian fire relative to the reference window (saturated here), ``ua_fire``
    the raw Ukrainian effective fire (saturated here).
    """
    glide = p.glide_share_of_pressure
    guided = (
        glide
        * p.glide_bomb_effectiveness
        * surveillance_rel
        * saturating(ru_fire, p.fire_saturation_ru)
    )
    counter = 1.0 + p.counter_battery_weight * saturating(ua_fire, p.fire_saturation_ua)
    return force * tempo * ((1.0 - glide) + guided) / counter


def ukrainian_defence(p, infantry_rel, manning, quality, cohesion, depth, siting, diversion, fire):
    """Step 4: manned infantry helped by prepared lines, weakened by reserves sent to Kursk,
    multiplied by (saturated) fire."""
    lines = 1.0 + p.line_bonus_max * depth * siting * min(1.0, manning)
    infantry = infantry_rel * (0.5 + 0.5 * quality) * (0.5 + 0.5 * cohesion) * lines
    reserves = math.exp(-p.kursk_reserve_weight * diversion)
    fire_multiplier = 1.0 + p.fire_defence_weight * saturating(fire, p.fire_saturation_ua)
    return infantry * reserves * fire_multiplier


def us_aid(p, week):
    """Step 8: US aid in ``week`` as a share of its 2024 level, from the calendar."""
    if p.us_aid_pause_start <= week < p.us_aid_pause_end:
        return 0.0
    if week < p.us_transition:
        return 1.0
    return p.us_support_after_election


def partner_support(p, week, us_now, fatigue):
    """Step 8: partner support index (1 = October 2024) before any cease-fire cut.

    ``fatigue`` is the start's support (``[state] partner_support``) times the weekly erosion
    factors of the weeks before ``week``. European aid grows from the forecast origin.
    """
    european = max(
        0.0, 1.0 + p.european_rampup_per_year * (week - p.forecast_origin) / WEEKS_PER_YEAR
    )
    us_share = p.us_share_of_support
    return (us_share * us_now + (1.0 - us_share) * european) * fatigue


def guarantee_credibility(p, guarantee, standoff, us_now):
    """Step 9: credibility in [0, 1] of the guarantee on offer when talks open."""
    if guarantee == L.GUARANTEE_NONE:
        base = 0.0
    elif guarantee == L.GUARANTEE_COALITION:
        base = p.guarantee_coalition
    elif guarantee == L.GUARANTEE_NATO and p.nato_accession > 0.5:
        base = p.guarantee_nato
    else:  # bilateral, or NATO membership that is not actually on offer
        base = p.guarantee_bilateral
    return base * (0.4 + 0.6 * standoff) * (0.5 + 0.5 * us_now)


# ----------------------------------------------------------------------------- one trajectory


def simulate_trajectory(theta, sq, seed, trajectory, horizon):
    """Simulate one trajectory week by week.

    Parameters
    ----------
    theta : sequence of float, length N_PARAMS
        The trajectory's parameters (registry order); state, reference and calendar slots as
        lowered (a calendar date is the week index of the step that contains it).
    sq : sequence of float, length N_PARAMS
        Status-quo lever values (``lowering.status_quo(scenario)``).
    seed, trajectory : int
        Key of the trajectory's random streams.
    horizon : int
        Weeks simulated.

    Returns
    -------
    weekly : float64[horizon + 1, N_BAND_METRICS]
    events : int8[horizon + 1, N_EVENTS]
    record : float64[N_RECORD]
    """
    p = by_name(theta)
    quo = by_name(sq)
    weekly = np.full((horizon + 1, N.N_BAND_METRICS), np.nan)
    events = np.zeros((horizon + 1, N.N_EVENTS), dtype=np.int8)
    record = np.full(N.N_RECORD, np.nan)

    # Randomness: one normal a week for the advance; talks open (and a cease-fire breaks) when
    # the hazard summed over the weeks passes an exponential clock drawn once per trajectory.
    noise_key = stream_key(seed, trajectory, L.STREAM_WEEKLY)
    event_key = stream_key(seed, trajectory, L.STREAM_EVENTS)
    talks_clock = -math.log(uniform(event_key, L.DRAW_TALKS_CLOCK))
    ceasefire_draw = uniform(event_key, L.DRAW_CEASEFIRE)
    break_clock = -math.log(uniform(event_key, L.DRAW_BREAK_CLOCK))

    withdraw = p.kursk_policy > 0.5
    guarantee = int(p.security_guarantee + 0.5)
    infantry_0 = p.ua_infantry_initial
    infantry_required = infantry_0 / p.manning  # to man every position

    # Surveillance and guns forward at the start's status quo.
    surveillance_0 = surveillance_value(
        p, quo.interceptor_drones_per_day, quo.sensor_density, quo.ew_support
    )
    forward_0 = guns_forward(p, surveillance_0, quo.gun_protection_share)

    # The reference window, where the pace base_advance_km2_per_week was measured.
    support_ref = p.us_share_of_support * p.ref_us_support + (1.0 - p.us_share_of_support)
    if p.ref_ua_rounds_per_day > 0.0:
        fire_ref = p.ref_ua_rounds_per_day * DAYS_PER_YEAR / p.rounds_needed_per_year * forward_0
    else:
        fire_ref = effective_fire(
            p,
            quo.artillery_rounds_per_year,
            quo.howitzer_fleet_index,
            quo.gun_protection_share,
            support_ref,
            surveillance_0,
        )
    pressure_ref = russian_pressure(p, 1.0, 1.0, 1.0, 1.0, fire_ref)
    defence_ref = ukrainian_defence(
        p,
        1.0,
        p.manning,
        p.ua_quality,
        p.ua_cohesion,
        quo.defensive_line_depth,
        quo.line_siting_quality,
        p.ref_kursk_reserve_share,
        fire_ref,
    )

    # The measurement window (October 2024), where the casualty rates were measured.
    supplied_meas = p.meas_ua_rounds_per_year / WEEKS_PER_YEAR * p.delivery_reliability
    can_fire_sq = quo.howitzer_fleet_index * p.gun_capacity_rounds_per_year / WEEKS_PER_YEAR
    fire_meas = (
        min(supplied_meas, can_fire_sq) / (p.rounds_needed_per_year / WEEKS_PER_YEAR) * forward_0
    )
    ru_fire_meas = p.meas_ru_rounds_per_day / p.ref_ru_rounds_per_day
    glide = p.glide_share_of_pressure
    pressure_meas = (
        (1.0 - glide)
        + glide * p.glide_bomb_effectiveness * saturating(ru_fire_meas, p.fire_saturation_ru)
    ) / (1.0 + p.counter_battery_weight * saturating(fire_meas, p.fire_saturation_ua))
    exposure_meas = 1.0 + p.exposure_weight * max(0.0, 1.0 - fire_meas)

    territory = 0.0
    kursk = p.kursk_initial_km2
    infantry = infantry_0
    in_training = (
        quo.recruits_per_month
        * 12.0
        / WEEKS_PER_YEAR
        * p.infantry_share_of_recruits
        * quo.training_weeks
    )
    quality = p.ua_quality
    cohesion = p.ua_cohesion
    ru_force = p.russia_force_index
    ru_tempo = 1.0
    ru_munitions = p.russia_munitions_index
    ru_loss_rate = 1.0  # trailing, relative to the measured rate
    trailing_advance = p.recent_pace_km2_per_week
    partner_fatigue = p.partner_support
    noise_state = 0.0  # AR(1) advance noise, stationary N(0, 1)
    talks_hazard = 0.0
    break_hazard = 0.0
    weeks_undermanned = 0
    collapsed = False
    cumulative_ua_losses = 0.0
    talks_open = False
    ceasefire = False
    credibility = 0.0
    outcome = None
    ru_losses_week_1 = 0.0
    gain = 0.0
    record[N.R_TALKS_WEEK] = -1
    record[N.R_CEASEFIRE] = 0
    record[N.R_CEASEFIRE_BROKEN_WEEK] = -1
    record[N.R_COLLAPSE_WEEK] = -1

    weekly[0] = (territory, kursk, infantry, 0.0)
    for week in range(horizon):
        now = ramped_levers(p, quo, week)

        # 8. Partner support, eroded by fatigue that sustainment offsets; cut in a cease-fire.
        us_now = us_aid(p, week)
        support = partner_support(p, week, us_now, partner_fatigue)
        partner_fatigue *= exp(
            -p.partner_fatigue_per_year / WEEKS_PER_YEAR * (1.0 - now.sustainment_commitment)
        )
        if ceasefire:
            support *= 1.0 - p.ceasefire_support_cut * (1.0 - now.sustainment_commitment)

        # 1. Surveillance.
        surveillance = surveillance_value(
            p, now.interceptor_drones_per_day, now.sensor_density, now.ew_support
        )
        surveillance_rel = surveillance / surveillance_0

        # 2. Fire.
        fire = effective_fire(
            p,
            now.artillery_rounds_per_year,
            now.howitzer_fleet_index,
            now.gun_protection_share,
            support,
            surveillance,
        )

        # 3. Russian pressure.
        ru_fire = russian_fire(p, ru_munitions)
        pressure = russian_pressure(p, ru_force, ru_tempo, surveillance_rel, ru_fire, fire)

        # 4. Ukrainian defence.
        infantry_rel = infantry / infantry_0
        manning = infantry / infantry_required
        # The reserves are committed from the week of the incursion (the salient grows in it),
        # not only once Kursk area is held.
        growing = p.kursk_incursion <= week < p.kursk_peak
        if withdraw or (kursk <= 0.0 and not growing):
            diversion = 0.0
        else:
            diversion = now.kursk_reserve_share
        defence = ukrainian_defence(
            p,
            infantry_rel,
            manning,
            quality,
            cohesion,
            now.defensive_line_depth,
            now.line_siting_quality,
            diversion,
            fire,
        )
        ratio = divide(pressure / pressure_ref, divide(defence, defence_ref))

        # 5. Collapse after collapse_weeks straight weeks of quality-weighted manning below
        # the floor; the advance: base pace times ratio ** exponent times AR(1) log-normal
        # noise, at least the collapse pace once collapsed.
        weighted_manning = manning * (0.5 + 0.5 * quality) / (0.5 + 0.5 * p.ua_quality)
        if not ceasefire and not collapsed:
            if weighted_manning < p.manning_floor:
                weeks_undermanned += 1
            else:
                weeks_undermanned = 0
            if weeks_undermanned >= p.collapse_weeks:
                collapsed = True
                record[N.R_COLLAPSE_WEEK] = week + 1
                if outcome is None:
                    outcome = N.OUT_COLLAPSE
        z = normal(noise_key, week)
        phi = p.advance_noise_ar
        innovation = 1.0 if week == 0 else math.sqrt(1.0 - phi * phi)
        noise_state = phi * noise_state + innovation * z
        noise = exp(p.advance_noise_sd * noise_state - 0.5 * p.advance_noise_sd**2)
        if ceasefire:
            gain = 0.0
        else:
            # max(ratio, 1e-9) ** exponent, overflowing to inf
            scale = exp(p.advance_exponent * math.log(max(ratio, 1e-9)))
            pace = p.base_advance_km2_per_week * scale
            if collapsed:
                pace = max(pace, p.collapse_pace_km2_per_week)
            gain = min(p.max_advance_km2_per_week, pace * noise)
        territory += gain
        trailing_advance += p.trailing_weight * (gain - trailing_advance)

        # 6. Attrition (relative to the measurement window), recruitment, training quality
        # and cohesion.
        activity = p.ceasefire_activity if ceasefire else 1.0
        exposure = 1.0 + p.exposure_weight * max(0.0, 1.0 - fire)
        seen = p.surveillance_share_of_losses
        ua_losses = (
            p.ua_casualties_per_week
            * (pressure / pressure_meas)
            * ((1.0 - seen) + seen * surveillance_rel)
            * (exposure / exposure_meas)
            * math.sqrt(infantry_rel)
            * activity
        )
        ua_losses += p.kursk_hold_cost * diversion * p.ua_casualties_per_week * activity
        by_fire = p.fire_share_of_russian_losses
        ru_losses = (
            p.russia_casualties_per_week
            * ru_force
            * ru_tempo
            * ((1.0 - by_fire) + by_fire * fire / fire_meas)
            * activity
        )
        if collapsed:
            ru_losses *= 0.7
        if week == 0:
            ru_losses_week_1 = ru_losses
        cumulative_ua_losses += ua_losses

        in_training += now.recruits_per_month * 12.0 / WEEKS_PER_YEAR * p.infantry_share_of_recruits
        graduates = in_training / now.training_weeks
        in_training -= graduates
        survivors = max(infantry - ua_losses, 0.0)
        recruit_quality = 1.0 - exp(-now.training_weeks / p.training_quality_tau_weeks)
        infantry = survivors + graduates
        quality = (quality * survivors + recruit_quality * graduates) / max(infantry, 1.0)
        cohesion += (
            p.cohesion_recovery * (1.0 - cohesion)
            - p.cannibalisation_rate * (1.0 - now.cohesion_reform)
            - p.cohesion_loss_weight * ua_losses / max(infantry, 1.0)
        )
        cohesion = min(1.0, max(0.0, cohesion))

        # Russian force, tempo and munitions.
        ru_loss_rate += p.trailing_weight * (
            ru_losses / p.russia_casualties_per_week - ru_loss_rate
        )
        if ru_loss_rate > 0.0:
            ru_tempo = min(1.0, p.russia_loss_tolerance / ru_loss_rate)
        else:
            ru_tempo = 1.0
        ru_recruits = p.russia_recruits_per_month * 12.0 / WEEKS_PER_YEAR
        ru_force += (
            ru_recruits * p.russia_assault_share_of_recruits
            - ru_losses * p.russia_permanent_loss_share
        ) / p.russia_force
        ru_force = max(ru_force, 0.05)
        strike_increase = now.long_range_strike_intensity - quo.long_range_strike_intensity
        used = ru_force * ru_tempo * activity * (1.0 + strike_increase * p.strike_burn)
        made = (
            p.russia_shells_per_year
            / p.russia_shell_use_per_year
            * (1.0 - p.strike_production_cut * strike_increase)
        )
        ru_munitions += (made - used) / p.russia_stock_weeks
        ru_munitions -= p.strike_stock_loss * max(strike_increase, 0.0) * ru_munitions
        ru_munitions = min(2.0, max(0.0, ru_munitions))

        # 7. Kursk: the incursion grows the salient to its peak, then (from the
        # counter-offensive) Russia retakes it unless Ukraine withdraws.
        growing = p.kursk_incursion <= week < p.kursk_peak and not withdraw
        if growing:
            share_of_peak = (week + 1 - p.kursk_incursion) / max(
                1.0, p.kursk_peak - p.kursk_incursion
            )
            kursk = max(kursk, p.kursk_peak_km2 * share_of_peak)
        elif withdraw:
            kursk *= 1.0 - p.kursk_withdraw_rate
        elif ceasefire or week < p.kursk_counteroffensive:
            pass
        else:
            offset = p.kursk_hold_offset
            retaken = (
                p.kursk_counterattack_rate
                * (quo.kursk_reserve_share + offset)
                / (now.kursk_reserve_share + offset)
            )
            kursk *= 1.0 - min(retaken, 1.0)
        if kursk < 5.0:
            kursk = 0.0
        if week == 7:
            record[N.R_KURSK_LOSS_FIRST_WEEKS] = (p.kursk_initial_km2 - kursk) / 8.0

        # 9. Talks and cease-fire.
        if ceasefire:
            break_hazard += p.ceasefire_break_per_year / WEEKS_PER_YEAR * (1.0 - credibility)
            if break_hazard >= break_clock:
                ceasefire = False
                record[N.R_CEASEFIRE_BROKEN_WEEK] = week + 1
        if not talks_open:
            if collapsed or trailing_advance > p.dictate_advance_km2_per_week:
                willing = 1.0  # Russia can dictate
            elif trailing_advance <= p.stable_advance_km2_per_week:
                losing = min(1.0, ru_loss_rate / p.russia_loss_tolerance)
                willing = max(p.russia_base_willingness, losing)
            else:
                willing = p.russia_base_willingness
            log_hazard = (
                math.log(p.talks_hazard_per_year / WEEKS_PER_YEAR + 1e-300)
                + p.talks_time_growth * (week - p.forecast_origin) / WEEKS_PER_YEAR
                + p.talks_fatigue_weight * max(0.0, 1.0 - support)
                + p.talks_loss_weight * cumulative_ua_losses / infantry_0
            )
            talks_hazard += willing * exp(log_hazard)
            if talks_hazard >= talks_clock:
                talks_open = True
                record[N.R_TALKS_WEEK] = week + 1
                record[N.R_ADVANCE_AT_TALKS] = trailing_advance
                if outcome is None:
                    if trailing_advance <= p.stable_advance_km2_per_week:
                        outcome = N.OUT_STABLE_FRONT
                    else:
                        outcome = N.OUT_BREST_LITOVSK
                credibility = guarantee_credibility(
                    p, guarantee, now.european_standoff_munitions, us_now
                )
                front = min(1.0, max(0.0, 1.0 - trailing_advance / p.dictate_advance_km2_per_week))
                kursk_held = min(1.0, kursk / p.kursk_peak_km2)
                record[N.R_LEVERAGE] = (
                    p.leverage_front_weight * front
                    + p.leverage_kursk_weight * kursk_held
                    + p.leverage_sanctions_weight * now.sanctions_collateral
                    + p.leverage_guarantee_weight * credibility
                )
                if ceasefire_draw < p.ceasefire_prob:
                    ceasefire = True
                    record[N.R_CEASEFIRE] = 1

        weekly[week + 1] = (territory, kursk, infantry, gain)
        events[week + 1, N.E_TALKS_OPENED] = talks_open
        events[week + 1, N.E_CEASEFIRE] = ceasefire
        events[week + 1, N.E_COLLAPSE] = collapsed
        events[week + 1, N.E_DECIDED_STABLE] = outcome == N.OUT_STABLE_FRONT
        events[week + 1, N.E_DECIDED_BREST] = outcome == N.OUT_BREST_LITOVSK
        events[week + 1, N.E_DECIDED_COLLAPSE] = outcome == N.OUT_COLLAPSE
        finite = (territory, infantry, quality, trailing_advance, ru_force)
        if not all(math.isfinite(x) for x in finite):
            break

    if outcome is None:
        if trailing_advance <= p.stable_advance_km2_per_week:
            outcome = N.OUT_STABLE_FRONT
        else:
            outcome = N.OUT_GRINDING
    record[N.R_OUTCOME] = outcome
    record[N.R_TERRITORY_KM2] = territory
    record[N.R_KURSK_KM2] = kursk
    record[N.R_UA_MANPOWER] = infantry
    record[N.R_RU_CASUALTIES_FIRST_WEEK] = ru_losses_week_1
    return weekly, events, record


# ----------------------------------------------------------------------------- a run

FIXED_POINT = 1024  # band sums count units of 1/1024 so that they add exactly
LEVERAGE_BINS = 1000
CALIBRATION_RECORDS = {
    "ru_casualties_week1": N.R_RU_CASUALTIES_FIRST_WEEK,
    "kursk_loss_km2_per_week_w1_8": N.R_KURSK_LOSS_FIRST_WEEKS,
}


def histogram_bin(x, scale, n_bins):
    """Square-root bin of ``x``: ``floor(sqrt(x) * scale)``, the last bin open."""
    position = math.sqrt(max(x, 0.0)) * scale
    return n_bins - 1 if position >= n_bins - 1 else int(position)


def aggregate(trajectories, horizon):
    """Aggregate ``(weekly, events, record)`` triples the way ``levercast.simulate.run`` does.

    Returns
    -------
    dict
        The aggregates of :class:`levercast.simulate.RunResult`, under the same names:
        ``outcome_counts``, ``talks_week_counts``, ``leverage_counts``, ``event_counts``,
        ``record_sums``, ``events`` (per week), ``hist``, ``sums`` and ``extrema``.
    """
    n_bins = N.N_BINS
    scales = [float(c) for c in N.bin_scales()]
    outcome_counts = np.zeros(N.N_OUTCOMES, dtype=np.int64)
    talks_week_counts = np.zeros(horizon + 1, dtype=np.int64)
    leverage_counts = np.zeros(LEVERAGE_BINS, dtype=np.int64)
    event_counts = {
        "talks_opened": 0,
        "ceasefire_agreed": 0,
        "ceasefire_held_to_horizon": 0,
        "kursk_held_at_horizon": 0,
        "collapse_by_horizon": 0,
    }
    record_sums = dict.fromkeys(CALIBRATION_RECORDS, 0)
    events = np.zeros((horizon + 1, N.N_EVENTS), dtype=np.int64)
    hist = np.zeros((horizon + 1, N.N_BAND_METRICS, n_bins), dtype=np.int64)
    sums = [[0] * N.N_BAND_METRICS for _ in range(horizon + 1)]
    lowest = [[math.inf] * N.N_BAND_METRICS for _ in range(horizon + 1)]
    highest = [[-math.inf] * N.N_BAND_METRICS for _ in range(horizon + 1)]

    for weekly, flags, record in trajectories:
        outcome_counts[int(record[N.R_OUTCOME])] += 1
        talks_week = int(record[N.R_TALKS_WEEK])
        if talks_week >= 0:
            talks_week_counts[talks_week] += 1
            event_counts["talks_opened"] += 1
            leverage_bin = int(record[N.R_LEVERAGE] * LEVERAGE_BINS)
            leverage_counts[min(max(leverage_bin, 0), LEVERAGE_BINS - 1)] += 1
        if record[N.R_CEASEFIRE] > 0.5:
            event_counts["ceasefire_agreed"] += 1
            if record[N.R_CEASEFIRE_BROKEN_WEEK] < 0:
                event_counts["ceasefire_held_to_horizon"] += 1
        if record[N.R_KURSK_KM2] > 0:
            event_counts["kursk_held_at_horizon"] += 1
        if record[N.R_COLLAPSE_WEEK] >= 0:
            event_counts["collapse_by_horizon"] += 1
        for name, column in CALIBRATION_RECORDS.items():
            value = float(record[column])
            record_sums[name] += 0 if math.isnan(value) else round(value * FIXED_POINT)

        events += flags
        for week, row in enumerate(np.asarray(weekly).tolist()):
            for metric, x in enumerate(row):
                hist[week, metric, histogram_bin(x, scales[metric], n_bins)] += 1
                # the band metrics are never negative, so this rounds half up
                sums[week][metric] += int(x * FIXED_POINT + 0.5)
                lowest[week][metric] = min(lowest[week][metric], x)
                highest[week][metric] = max(highest[week][metric], x)

    return {
        "outcome_counts": outcome_counts,
        "talks_week_counts": talks_week_counts,
        "leverage_counts": leverage_counts,
        "event_counts": event_counts,
        "record_sums": record_sums,
        "events": events,
        "hist": hist,
        "sums": np.array(sums, dtype=np.int64),
        "extrema": np.stack([np.array(lowest), np.array(highest)], axis=-1),
    }


def run(rows, sq, seed, n, horizon, posterior=None):
    """Simulate trajectories ``0 .. n - 1`` one by one and aggregate them (see ``aggregate``);
    ``posterior`` as for :func:`sample_params`."""
    trajectories = (
        simulate_trajectory(
            sample_params(rows, seed, trajectory, posterior), sq, seed, trajectory, horizon
        )
        for trajectory in range(n)
    )
    return aggregate(trajectories, horizon)
