"""Scenario variants on which the kernel is checked against its two references
(``tests/naive.py`` trajectory by trajectory, ``tests/vectorised.py`` in distribution): lever
overrides of the baseline that together reach every regime of the model."""

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
VARIANTS = {
    "baseline": {},
    "victory-plan": VICTORY_PLAN,
    "kursk-withdraw": KURSK_WITHDRAW,
    "nato-cutoff": NATO_CUTOFF,
}


def variant(baseline, name):
    """The baseline scenario with the overrides of variant ``name``."""
    return baseline.with_levers(VARIANTS[name]) if VARIANTS[name] else baseline
