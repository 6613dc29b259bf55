"""The one owner of every output name: outcome classes, per-trajectory record columns,
banded metrics and event counters, with the integer codes the engine fills them by, and the
histogram bins the weekly distributions are stored in.

The engine imports the codes (numba treats them as compile-time constants); simulate, the
tables, the charts, scoring, the analyses and the docs import the names. No other module
spells a name out.
"""

import numpy as np

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


N_BINS = 2048
# Histograms of the banded metrics use square-root bins: value x falls in bin
# floor(sqrt(x) * scale), so bins are narrow near zero and widen as sqrt(x) grows (the relative
# resolution stays fine from week 1 to the horizon), and exact zeros sit in bin 0. The scale
# sets the range covered by N_BINS bins: (N_BINS / scale)**2.
BIN_SCALES = {
    M_TERRITORY: 4.5,  # km2: up to about 207,000; bin width 4 km2 at 100, 44 km2 at 10,000
    M_KURSK: 45.0,  # km2: up to about 2,070; 0.4 km2 at 100
    M_MANPOWER: 2.0,  # soldiers: up to about 1,050,000; 390 at 150,000
    M_WEEKLY_GAIN: 22.5,  # km2/week: up to about 8,280; 0.9 km2/week at 100
}
BAND_METRICS = {
    M_TERRITORY: "territory_lost_km2",
    M_KURSK: "kursk_held_km2",
    M_MANPOWER: "ua_manpower",
    M_WEEKLY_GAIN: "weekly_gain_km2",
}
EVENT_METRICS = {
    E_TALKS_OPENED: "p_talks_opened",
    E_CEASEFIRE: "p_ceasefire",
    E_COLLAPSE: "p_collapse",
    E_DECIDED_STABLE: "p_decided_stable_front",
    E_DECIDED_BREST: "p_decided_brest_litovsk",
    E_DECIDED_COLLAPSE: "p_decided_collapse",
}
OUTCOMES = ("stable_front", "brest_litovsk", "collapse", "grinding")

# --- summary.parquet rows -----------------------------------------------------------------------
# outcome probabilities: "outcome_<outcome>", in code order
OUTCOME_METRICS = tuple(f"outcome_{o}" for o in OUTCOMES)
STABLE_FRONT_METRIC = OUTCOME_METRICS[OUT_STABLE_FRONT]
BREST_LITOVSK_METRIC = OUTCOME_METRICS[OUT_BREST_LITOVSK]
# event probabilities over the whole horizon, in the order of the summary table
TALKS_OPENED = "talks_opened"
CEASEFIRE_AGREED = "ceasefire_agreed"
CEASEFIRE_HELD = "ceasefire_held_to_horizon"
KURSK_HELD = "kursk_held_at_horizon"
COLLAPSE_BY_HORIZON = "collapse_by_horizon"
SUMMARY_EVENTS = (TALKS_OPENED, CEASEFIRE_AGREED, CEASEFIRE_HELD, KURSK_HELD, COLLAPSE_BY_HORIZON)
# distributions: of the week talks open and the leverage score (when they do), and of each
# banded metric (but the weekly gain) at the horizon
TALKS_WEEK = "talks_week"
LEVERAGE_SCORE = "leverage_score"
# a conditioned run: the effective sample size of each observation date (summary rows
# "effective_sample_size YYYY-MM-DD") and the table of its observation weeks
EFFECTIVE_SAMPLE_SIZE = "effective_sample_size"
# event observations (levercast score, run --observed): a cease-fire in force on the date, and
# Kursk lost (area held below half a square kilometre)
CEASEFIRE_IN_FORCE = "ceasefire"
KURSK_LOST = "kursk_lost"
# what the package costs (engine/costs.py), US dollars a year averaged over the horizon: the
# whole package as delivered, and what it adds to the October 2024 levers (same draws)
COST = "cost_usd_per_year"
ADDED_COST = "added_cost_usd_per_year"
COST_METRICS = (COST, ADDED_COST)


def at_horizon(band_metric: str) -> str:
    """The summary row of a banded metric's distribution at the horizon."""
    return f"{band_metric}_at_horizon"


# --- trajectories.parquet columns (the record's, by code) -------------------------------------
RECORD_COLUMNS = {
    R_OUTCOME: "outcome",
    R_TALKS_WEEK: TALKS_WEEK,
    R_CEASEFIRE: "ceasefire",
    R_CEASEFIRE_BROKEN_WEEK: "ceasefire_broken_week",
    R_COLLAPSE_WEEK: "collapse_week",
    R_TERRITORY_KM2: BAND_METRICS[M_TERRITORY],
    R_KURSK_KM2: BAND_METRICS[M_KURSK],
    R_UA_MANPOWER: BAND_METRICS[M_MANPOWER],
    R_LEVERAGE: LEVERAGE_SCORE,
    R_ADVANCE_AT_TALKS: "advance_at_talks_km2_per_week",
    R_RU_CASUALTIES_FIRST_WEEK: "ru_casualties_week1",
    R_KURSK_LOSS_FIRST_WEEKS: "kursk_loss_km2_per_week_w1_8",
}


def bin_scales() -> np.ndarray:
    """Square-root bin scale of each banded metric, float64[N_BAND_METRICS]."""
    scales = np.empty(N_BAND_METRICS)
    for m, c in BIN_SCALES.items():
        scales[m] = c
    return scales


def bin_bounds(m: int) -> np.ndarray:
    """Lower and upper value of each of the N_BINS bins of banded metric ``m``.

    float64[N_BINS, 2]. Bin 0 is taken to hold exact zeros (the values below 1 / scale**2 it
    also holds are at most 0.05 km2 of territory), and the last bin is open (upper = inf).
    """
    edges = (np.arange(N_BINS + 1) / BIN_SCALES[m]) ** 2
    bounds = np.stack([edges[:-1], edges[1:]], axis=-1)
    bounds[0, 1] = 0.0
    bounds[-1, 1] = np.inf
    return bounds
