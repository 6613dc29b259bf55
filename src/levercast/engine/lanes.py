"""The lane buffer: the state of a group of ``LANES`` trajectories advanced together.

Slot ``k`` of lane ``i`` is ``buf[k * LANES + i]``. Slots ``0 .. N_PARAMS - 1`` hold the
lane's parameters in registry order (``layout.P_*``), so an equation reads any parameter by
its registry name and a new parameter needs no slot of its own. The slots below follow them:
values derived once per trajectory, lever terms recomputed in the weeks where the lever ramp
moves, the weekly state, and the values of the week that the first half of a week hands to
the second. One buffer at constant offsets lets the compiler prove that lanes do not overlap,
so every weekly loop over lanes compiles to SIMD instructions.
"""

from levercast.engine import layout as L
from levercast.engine._jit import jit

LANES = 48  # trajectories advanced together, week by week (48 measured fastest of 16 to 64)

_SLOT_NAMES = (
    # derived once per trajectory (model.md: the subscript-0 normalisers and folded constants)
    "ramp_start inv_ramp withdraw square noise_shift inv_tolerance inv_dictate ru_inflow"
    " inv_force inv_stock production inv_i0 inv_required inv_need kursk_cost eu_growth log_h0"
    " h_time h_loss break_rate inv_p_meas inv_e_meas inv_ru0 ratio_scale talks_clock u_ceasefire"
    " break_clock guarantee_base inv_kursk_peak one_minus_dom one_minus_glide inflow_f perm_f"
    " keep_withdrawn ru_a ru_b c_eta ru_ratio inv_q_s"
    # lever terms, recomputed in the weeks where the ramp moves
    " g_prev inv_v0 forward supply_base capacity intake inv_training q_recruit reform_loss"
    " line_gain reserve standoff sanctions fatigue_step glide_v cf_keep ua_base prod_net"
    " use_f stock_f keep_retaken"
    # state
    " territory kursk inf pipeline quality cohesion r_force tempo munitions rho trail fatigue"
    " talks_hazard break_hazard below collapsed cum_loss_ua talks_open ceasefire outcome"
    " collapse_week talks_week cf_agreed cf_broken leverage adv_at_talks credibility ru_first"
    " kursk_first bad gain u z eta"
    # the week's values the first half of the week hands to the second
    " fire pressure support us_now diversion loss_ru"
).split()
# fmt: off
(
    RAMP_START, INV_RAMP, WITHDRAW, SQUARE, NOISE_SHIFT, INV_TOLERANCE, INV_DICTATE, RU_INFLOW,
    INV_FORCE, INV_STOCK, PRODUCTION, INV_I0, INV_REQUIRED, INV_NEED, KURSK_COST, EU_GROWTH,
    LOG_H0, H_TIME, H_LOSS, BREAK_RATE, INV_P_MEAS, INV_E_MEAS, INV_RU0, RATIO_SCALE, TALKS_CLOCK,
    U_CEASEFIRE, BREAK_CLOCK, GUARANTEE_BASE, INV_KURSK_PEAK, ONE_MINUS_DOM, ONE_MINUS_GLIDE,
    INFLOW_F, PERM_F, KEEP_WITHDRAWN, RU_A, RU_B, C_ETA, RU_RATIO, INV_Q_S,
    G_PREV, INV_V0, FORWARD, SUPPLY_BASE, CAPACITY, INTAKE, INV_TRAINING, Q_RECRUIT,
    REFORM_LOSS, LINE_GAIN, RESERVE, STANDOFF, SANCTIONS, FATIGUE_STEP, GLIDE_V, CF_KEEP,
    UA_BASE, PROD_NET, USE_F, STOCK_F, KEEP_RETAKEN,
    TERRITORY, KURSK, INF, PIPELINE, QUALITY, COHESION, R_FORCE, TEMPO, MUNITIONS, RHO, TRAIL,
    FATIGUE, TALKS_HAZARD, BREAK_HAZARD, BELOW, COLLAPSED, CUM_LOSS_UA, TALKS_OPEN, CEASEFIRE,
    OUTCOME, COLLAPSE_WEEK, TALKS_WEEK, CF_AGREED, CF_BROKEN, LEVERAGE, ADV_AT_TALKS,
    CREDIBILITY, RU_FIRST, KURSK_FIRST, BAD, GAIN, U, Z, ETA,
    FIRE, PRESSURE, SUPPORT, US_NOW, DIVERSION, LOSS_RU,
) = range(L.N_PARAMS, L.N_PARAMS + len(_SLOT_NAMES))
# fmt: on
N_SLOTS = L.N_PARAMS + len(_SLOT_NAMES)


@jit(inline="always")
def get(b, slot, i):
    """``slot`` of lane ``i``."""
    return b[slot * LANES + i]


@jit(inline="always")
def put(b, slot, i, value):
    """``slot`` of lane ``i`` becomes ``value``."""
    b[slot * LANES + i] = value


@jit(inline="always")
def put_if(b, slot, i, cond, value):
    """``slot`` of lane ``i`` becomes ``value`` where ``cond`` holds (a select: both sides are
    loaded unconditionally, which keeps the lane loop free of branches)."""
    old = b[slot * LANES + i]
    b[slot * LANES + i] = value if cond else old
