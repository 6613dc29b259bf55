"""Index constants shared by the kernel, the model tables and the reference implementation.

The order of the ``P_*`` constants is the order of ``levercast.scenario.registry.PARAMS``; a test checks
that the two agree. Numba treats these module-level integers as compile-time constants.
"""

# --- levers (what Ukraine and its partners choose) -----------------------------------------
P_ARTILLERY_ROUNDS_PER_YEAR = 0
P_HOWITZER_FLEET_INDEX = 1
P_GUN_PROTECTION_SHARE = 2
P_INTERCEPTOR_DRONES_PER_DAY = 3
P_SENSOR_DENSITY = 4
P_EW_SUPPORT = 5
P_RECRUITS_PER_MONTH = 6
P_TRAINING_WEEKS = 7
P_COHESION_REFORM = 8
P_DEFENSIVE_LINE_DEPTH = 9
P_LINE_SITING_QUALITY = 10
P_LONG_RANGE_STRIKE_INTENSITY = 11
P_KURSK_POLICY = 12
P_KURSK_RESERVE_SHARE = 13
P_SANCTIONS_COLLATERAL = 14
P_SECURITY_GUARANTEE = 15
P_EUROPEAN_STANDOFF_MUNITIONS = 16
P_SUSTAINMENT_COMMITMENT = 17
P_SUPPORT_DELAY_WEEKS = 18
P_RAMP_WEEKS = 19
# --- uncertainties (drawn per trajectory) --------------------------------------------------
P_RECON_DRONES_PER_DAY = 20
P_DRONE_EFFECTIVENESS = 21
P_INTERCEPTOR_KILL_PROB = 22
P_GLIDE_BOMB_EFFECTIVENESS = 23
P_RUSSIA_RECRUITS_PER_MONTH = 24
P_RUSSIA_LOSS_TOLERANCE = 25
P_RUSSIA_CASUALTIES_PER_WEEK = 26
P_RUSSIA_SHELLS_PER_YEAR = 27
P_US_SUPPORT_AFTER_ELECTION = 28
P_US_SHARE_OF_SUPPORT = 29
P_PARTNER_FATIGUE_PER_YEAR = 30
P_EUROPEAN_RAMPUP_PER_YEAR = 31
P_DELIVERY_RELIABILITY = 32
P_KURSK_INITIAL_KM2 = 33
P_KURSK_COUNTERATTACK_RATE = 34
P_BASE_ADVANCE_KM2_PER_WEEK = 35
P_ADVANCE_NOISE_SD = 36
P_UA_INFANTRY_INITIAL = 37
P_UA_CASUALTIES_PER_WEEK = 38
P_COLLAPSE_THRESHOLD = 39
P_TALKS_HAZARD_PER_YEAR = 40
P_CEASEFIRE_BREAK_PER_YEAR = 41
P_NATO_ACCESSION = 42
# --- constants (structural; fixed, overridable in [constants]) ------------------------------
P_RUSSIA_SHELL_USE_PER_YEAR = 43
P_ROUNDS_NEEDED_PER_YEAR = 44
P_DOMESTIC_AMMO_SHARE = 45
P_GUN_CAPACITY_ROUNDS_PER_YEAR = 46
P_COVERAGE_MAX = 47
P_EW_EFFECT_MAX = 48
P_LOITERING_THREAT = 49
P_COUNTER_BATTERY_WEIGHT = 50
P_FIRE_DEFENCE_WEIGHT = 51
P_LINE_BONUS_MAX = 52
P_INFANTRY_SHARE_OF_RECRUITS = 53
P_TRAINING_QUALITY_TAU_WEEKS = 54
P_COHESION_RECOVERY = 55
P_CANNIBALISATION_RATE = 56
P_EXPOSURE_WEIGHT = 57
P_STRIKE_PRODUCTION_CUT = 58
P_STRIKE_STOCK_LOSS = 59
P_RUSSIA_STOCK_WEEKS = 60
P_RUSSIA_FORCE = 61
P_ADVANCE_EXPONENT = 62
P_COLLAPSE_WEEKS = 63
P_COLLAPSE_MULTIPLIER = 64
P_MANNING_FLOOR = 65
P_STABLE_ADVANCE_KM2_PER_WEEK = 66
P_DICTATE_ADVANCE_KM2_PER_WEEK = 67
P_TRAILING_WEIGHT = 68
P_US_TRANSITION_WEEK = 69
P_RUSSIA_BASE_WILLINGNESS = 70
P_TALKS_TIME_GROWTH = 71
P_TALKS_FATIGUE_WEIGHT = 72
P_TALKS_LOSS_WEIGHT = 73
P_CEASEFIRE_PROB = 74
P_CEASEFIRE_SUPPORT_CUT = 75
P_GLIDE_SHARE_OF_PRESSURE = 76
P_FIRE_SHARE_OF_RUSSIAN_LOSSES = 77
P_SURVEILLANCE_SHARE_OF_LOSSES = 78
P_RUSSIA_ASSAULT_SHARE_OF_RECRUITS = 79
P_RUSSIA_PERMANENT_LOSS_SHARE = 80
P_STRIKE_BURN = 81
P_KURSK_HOLD_COST = 82
P_KURSK_HOLD_OFFSET = 83
P_KURSK_WITHDRAW_RATE = 84
P_KURSK_PEAK_KM2 = 85
P_MANNING_INITIAL = 86
P_UA_QUALITY_INITIAL = 87
P_UA_COHESION_INITIAL = 88
P_COLLAPSE_CONVEXITY = 89
P_CEASEFIRE_ACTIVITY = 90
P_GUARANTEE_BILATERAL = 91
P_GUARANTEE_COALITION = 92
P_GUARANTEE_NATO = 93
P_LEVERAGE_FRONT_WEIGHT = 94
P_LEVERAGE_KURSK_WEIGHT = 95
P_LEVERAGE_SANCTIONS_WEIGHT = 96
P_LEVERAGE_GUARANTEE_WEIGHT = 97
P_SENSOR_CUE_FLOOR = 98
P_COHESION_LOSS_WEIGHT = 99
P_MAX_ADVANCE_KM2_PER_WEEK = 100
N_PARAMS = 101

# --- numeric codes of choice levers ----------------------------------------------------------
KURSK_HOLD = 0
KURSK_WITHDRAW = 1
GUARANTEE_NONE = 0
GUARANTEE_BILATERAL = 1
GUARANTEE_COALITION = 2
GUARANTEE_NATO = 3

# --- distribution codes (rows of the parameter table the kernel samples from) ----------------
DIST_FIXED = 0
DIST_UNIFORM = 1
DIST_NORMAL = 2  # truncated to [lo, hi] by inverse CDF
DIST_LOGNORMAL = 3  # log-space mu, sigma; truncated to [lo, hi] by inverse CDF
DIST_BETA = 4  # alpha, beta scaled to [lo, hi]
DIST_TRIANGULAR = 5  # low, mode, high
DIST_BERNOULLI = 6  # p -> 0.0 or 1.0
DIST_DISCRETE = 7  # k values then k cumulative weights
# row layout: [code, a, b, lo, hi, c, k, v0..v5, cw0..cw5] -> width 19
ROW_CODE = 0
ROW_A = 1
ROW_B = 2
ROW_LO = 3
ROW_HI = 4
ROW_C = 5
ROW_K = 6
ROW_VALUES = 7
ROW_CUMW = 13
MAX_CHOICES = 6
ROW_WIDTH = 19

# --- outcome classes ---------------------------------------------------------------------------
OUT_STABLE_FRONT = 0
OUT_BREST_LITOVSK = 1
OUT_COLLAPSE = 2
OUT_GRINDING = 3
N_OUTCOMES = 4

# --- per-trajectory record (float64 columns written by the kernel) -----------------------------
R_OUTCOME = 0
R_TALKS_WEEK = 1  # -1 when talks never opened
R_CEASEFIRE = 2  # 1 when talks produced a cease-fire
R_CEASEFIRE_BROKEN_WEEK = 3  # -1 when the cease-fire held (or none)
R_COLLAPSE_WEEK = 4  # -1 when no collapse
R_TERRITORY_KM2 = 5  # at the horizon
R_KURSK_KM2 = 6  # at the horizon
R_UA_MANPOWER = 7  # at the horizon
R_LEVERAGE = 8  # NaN when talks never opened
R_ADVANCE_AT_TALKS = 9  # trailing km2/week when talks opened (NaN otherwise)
R_RU_CASUALTIES_FIRST_WEEK = 10  # calibration: Russian casualties in week 1
R_KURSK_LOSS_FIRST_WEEKS = 11  # calibration: mean weekly Kursk area lost, weeks 1-8
N_RECORD = 12

# --- per-week banded metrics --------------------------------------------------------------------
M_TERRITORY = 0
M_KURSK = 1
M_MANPOWER = 2
M_WEEKLY_GAIN = 3
N_BAND_METRICS = 4

# --- per-week event counters --------------------------------------------------------------------
E_TALKS_OPENED = 0  # cumulative: talks have opened by this week
E_CEASEFIRE = 1  # a cease-fire is in effect this week
E_COLLAPSE = 2  # cumulative: collapse regime reached by this week
E_DECIDED_STABLE = 3  # cumulative: outcome decided as stable_front (talks from strength)
E_DECIDED_BREST = 4  # cumulative: outcome decided as brest_litovsk
E_DECIDED_COLLAPSE = 5  # cumulative: outcome decided as collapse
N_EVENTS = 6

# --- random-number streams -----------------------------------------------------------------------
STREAM_PARAMS = 0
STREAM_WEEKLY = 1  # counter t: the noise of week t's advance
STREAM_EVENTS = 2  # counters below: one draw each per trajectory
DRAW_TALKS_CLOCK = 0  # exponential clock of the talks hazard
DRAW_CEASEFIRE = 1  # whether talks give a cease-fire
DRAW_BREAK_CLOCK = 2  # exponential clock of the cease-fire's breakdown
DRAWS_PER_PARAM = 64
