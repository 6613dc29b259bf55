"""Scenario variants on which the kernel is checked against its two references
(``tests/naive.py`` trajectory by trajectory, ``tests/vectorised.py`` in distribution): overrides
of the baseline that together reach every regime of the model, the calendar's events inside the
horizon and a start later than the registry's state date."""

import datetime
import tomllib

import tomli_w

from levercast.scenario.loader import loads_scenario

# the essay's package, delivered after a month's delay and ramped over four months
VICTORY_PLAN = {
    "artillery_rounds_per_year": 2.6e6,
    "howitzer_fleet_index": 1.5,
    "gun_protection_share": 0.6,
    "interceptor_drones_per_day": 1500,
    "sensor_density": 0.7,
    "ew_support": 0.5,
    "recruits_per_month": 35000,
    "training_weeks": 10,
    "cohesion_reform": 0.7,
    "defensive_line_depth": 0.7,
    "line_siting_quality": 0.8,
    "long_range_strike_intensity": 0.6,
    "sanctions_collateral": 0.5,
    "security_guarantee": "coalition",
    "european_standoff_munitions": 0.6,
    "sustainment_commitment": 0.8,
    "support_delay_weeks": 4,
    "ramp_weeks": 16,
}
KURSK_WITHDRAW = {"kursk_policy": "withdraw", "kursk_reserve_share": 0.0}
# NATO membership on offer half the time, US aid cut and no sustainment: many collapses.
NATO_CUTOFF = {
    "security_guarantee": "nato",
    "nato_accession": {"dist": "bernoulli", "p": 0.5},
    "us_support_after_election": 0.0,
    "sustainment_commitment": 0.0,
}
# The calendar's events inside the horizon of a run from 2024-10-25: the European ramp and the
# talks' time trend count from an origin six weeks after the start (negative at first); a
# thirteen-week US aid pause (weeks 18-30) before a late transition (week 44); a Kursk
# incursion from nothing (week 15) to its peak (week 19), retaken from week 23.
CALENDAR = {
    "forecast_origin": datetime.date(2024, 12, 6),
    "us_aid_pause_start": datetime.date(2025, 3, 3),
    "us_aid_pause_end": datetime.date(2025, 6, 2),
    "us_transition": datetime.date(2025, 9, 1),
    "kursk_incursion": datetime.date(2025, 2, 7),
    "kursk_peak": datetime.date(2025, 3, 7),
    "kursk_counteroffensive": datetime.date(2025, 4, 4),
    "kursk_initial_km2": 0.0,
}
# A synthetic later start: a run from 2025-06-06 from a full state of that date (invented
# values, not an assessment), levers in effect then that differ from October 2024's (the
# status quo the levers ramp from), and a reference window with measured Ukrainian fire. Every
# calendar date lies before the start: US aid is us_support_after_election from week 0, Kursk
# is retaken from week 0, and the time trends count from 32 weeks before the start.
LATER_START = {
    "start_date": datetime.date(2025, 6, 6),
    "state": {
        "occupied_km2": 113500.0,
        "recent_pace_km2_per_week": 110.0,
        "manning": 0.7,
        "ua_quality": 0.55,
        "ua_cohesion": 0.5,
        "partner_support": 0.9,
        "russia_force_index": 1.1,
        "russia_munitions_index": 0.85,
        "ru_rounds_per_day": 7000.0,
    },
    "reference": {"ref_ua_rounds_per_day": 4500.0, "ref_kursk_reserve_share": 0.05},
    "status_quo": {
        "artillery_rounds_per_year": 1.8e6,
        "interceptor_drones_per_day": 400.0,
        "recruits_per_month": 27000.0,
        "training_weeks": 6.0,
        "kursk_reserve_share": 0.05,
        "sustainment_commitment": 0.3,
    },
    "levers": {"recruits_per_month": 32000.0, "training_weeks": 8.0, "ramp_weeks": 8.0},
}
VARIANTS = {
    "baseline": {},
    "victory-plan": VICTORY_PLAN,
    "kursk-withdraw": KURSK_WITHDRAW,
    "nato-cutoff": NATO_CUTOFF,
    "calendar": CALENDAR,
    "later-start": LATER_START,
}


def _restarted(baseline, name, spec):
    """The baseline run from another start date, with that date's state, reference and status
    quo (a state describes one date, so it is given whole: ``as_of`` is the new start)."""
    doc = tomllib.loads(baseline.resolved_toml())
    doc["scenario"]["name"] = name
    doc["scenario"]["start_date"] = spec["start_date"]
    doc["state"] = {"as_of": spec["start_date"], **spec["state"]}
    for table in ("reference", "status_quo", "levers"):
        doc[table].update(spec.get(table, {}))
    return loads_scenario(tomli_w.dumps(doc), path=f"<variant {name}>")


def variant(baseline, name):
    """The baseline scenario with the overrides of variant ``name``."""
    spec = VARIANTS[name]
    if "start_date" in spec:
        return _restarted(baseline, name, spec)
    return baseline.with_levers(spec) if spec else baseline
