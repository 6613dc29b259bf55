"""Parameters of the front model and their translation into the kernel's flat arrays.

Every parameter is declared once in :data:`PARAMS` with its unit, domain, default and
provenance (claim ids from ``seeds/claims.toml`` or the word ``"assumption"``). The order of
:data:`PARAMS` is the order of the ``P_*`` constants in :mod:`levercast.engine.layout`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from levercast.engine import layout as L

LEVER = "lever"
UNCERTAINTY = "uncertainty"
CONSTANT = "constant"


@dataclass(frozen=True)
class Param:
    """One model parameter.

    ``default`` is a number for levers and constants (for choice levers, a label of
    ``choices``) and a distribution spec (the same mapping a scenario file would hold) for
    uncertainties. ``domain`` bounds every value the parameter may take; distributions are
    truncated to it or rejected when their support cannot fit.
    """

    name: str
    kind: str
    unit: str
    default: Any
    domain: tuple[float, float]
    sources: tuple[str, ...]
    description: str
    choices: Mapping[str, float] = field(default_factory=dict)
    ramps: bool = False

    @property
    def is_choice(self) -> bool:
        return bool(self.choices)

    @property
    def provenance(self) -> str:
        return ", ".join(self.sources)


def _lever(name, unit, default, domain, sources, description, choices=None, ramps=True):
    return Param(
        name,
        LEVER,
        unit,
        default,
        domain,
        tuple(sources),
        description,
        choices or {},
        ramps and not choices,
    )


def _unc(name, unit, default, domain, sources, description):
    return Param(name, UNCERTAINTY, unit, default, domain, tuple(sources), description)


def _const(name, unit, default, domain, sources, description):
    return Param(name, CONSTANT, unit, default, domain, tuple(sources), description)


A = "assumption"

PARAMS: tuple[Param, ...] = (
    # ---------------------------------------------------------------- levers
    _lever(
        "artillery_rounds_per_year",
        "rounds/year",
        1.5e6,
        (0.0, 8.0e6),
        ("X09", "X10", "X11", "E03"),
        "Artillery rounds supplied to Ukraine per year, domestic production included, when "
        "partner support is at its October 2024 level.",
    ),
    _lever(
        "howitzer_fleet_index",
        "index (Oct 2024 = 1)",
        1.0,
        (0.1, 4.0),
        ("E14", A),
        "Size of the serviceable howitzer fleet relative to October 2024; caps the rounds "
        "that can be fired.",
    ),
    _lever(
        "gun_protection_share",
        "share of guns",
        0.05,
        (0.0, 1.0),
        ("E13", A),
        "Share of guns protected against loitering munitions (remote weapon stations).",
    ),
    _lever(
        "interceptor_drones_per_day",
        "sorties/day",
        50.0,
        (0.0, 10000.0),
        ("E09", "E11", A),
        "Interceptor-drone sorties flown against Russian reconnaissance drones per day.",
    ),
    _lever(
        "sensor_density",
        "share of front",
        0.2,
        (0.0, 1.0),
        ("E11", A),
        "Share of the front covered by radar and other sensors that cue interceptors.",
    ),
    _lever(
        "ew_support",
        "share of links",
        0.1,
        (0.0, 1.0),
        ("E12", A),
        "Share of Russian reconnaissance data links that partner electronic warfare disrupts.",
    ),
    _lever(
        "recruits_per_month",
        "recruits/month",
        25000.0,
        (0.0, 120000.0),
        ("E16", "A01", A),
        "Ukrainian recruits entering training per month.",
    ),
    _lever(
        "training_weeks",
        "weeks",
        5.0,
        (1.0, 30.0),
        ("E16", A),
        "Length of basic training; longer training raises recruit quality and delays arrival.",
    ),
    _lever(
        "cohesion_reform",
        "share",
        0.0,
        (0.0, 1.0),
        ("E17", A),
        "Share of the practice of stripping capable soldiers from units that is stopped.",
    ),
    _lever(
        "defensive_line_depth",
        "share of front",
        0.3,
        (0.0, 1.0),
        ("E15", A),
        "Share of the front backed by prepared defensive lines in depth.",
    ),
    _lever(
        "line_siting_quality",
        "share",
        0.4,
        (0.0, 1.0),
        ("E15", A),
        "Quality of siting and construction of those lines (experienced supervision).",
    ),
    _lever(
        "long_range_strike_intensity",
        "share",
        0.15,
        (0.0, 1.0),
        ("E19", A),
        "Intensity of long-range strikes on stockpiles, airfields and supply chains, as a share "
        "of what a systematic campaign at scale would deliver.",
    ),
    _lever(
        "kursk_policy",
        "choice",
        "hold",
        (0.0, 1.0),
        ("E25", "X05", "X06"),
        "Hold the Kursk salient as a bargaining chip, or withdraw and return its reserves.",
        choices={"hold": float(L.KURSK_HOLD), "withdraw": float(L.KURSK_WITHDRAW)},
    ),
    _lever(
        "kursk_reserve_share",
        "share of reserves",
        0.1,
        (0.0, 0.5),
        ("E25", A),
        "Share of Ukrainian reserves committed to holding Kursk (diverted from the Donbas).",
    ),
    _lever(
        "sanctions_collateral",
        "share",
        0.1,
        (0.0, 1.0),
        ("E26", A),
        "Share of sanctions partners agree to put on the table as coordinated collateral.",
    ),
    _lever(
        "security_guarantee",
        "choice",
        "bilateral",
        (0.0, 3.0),
        ("E29", "E30", A),
        "Form of the security guarantee on offer at talks.",
        choices={
            "none": float(L.GUARANTEE_NONE),
            "bilateral": float(L.GUARANTEE_BILATERAL),
            "coalition": float(L.GUARANTEE_COALITION),
            "nato": float(L.GUARANTEE_NATO),
        },
    ),
    _lever(
        "european_standoff_munitions",
        "share of need",
        0.2,
        (0.0, 1.0),
        ("E31", A),
        "European stocks and production of standoff and air-defence-suppression munitions, "
        "as a share of what makes a guarantee credible.",
    ),
    _lever(
        "sustainment_commitment",
        "share",
        0.2,
        (0.0, 1.0),
        ("E20", "E32", A),
        "Credibility of multi-year funding; offsets partner fatigue.",
    ),
    _lever(
        "support_delay_weeks",
        "weeks",
        0.0,
        (0.0, 156.0),
        ("E35", A),
        "Weeks after the start date before lever changes begin to take effect.",
        ramps=False,
    ),
    _lever(
        "ramp_weeks",
        "weeks",
        12.0,
        (1.0, 104.0),
        (A,),
        "Weeks over which a lever change ramps from its October 2024 level to its new value.",
        ramps=False,
    ),
    # ---------------------------------------------------------------- uncertainties
    _unc(
        "recon_drones_per_day",
        "drones/day",
        {"dist": "uniform", "low": 1000, "high": 1300},
        (0.0, 5000.0),
        ("E02",),
        "Russian long-range reconnaissance drone sorties per day.",
    ),
    _unc(
        "drone_effectiveness",
        "multiplier",
        {"dist": "interval", "low": 0.8, "high": 1.2},
        (0.1, 3.0),
        ("E09", "E38", A),
        "How much targeting value a surviving drone sortie delivers, relative to October 2024.",
    ),
    _unc(
        "interceptor_kill_prob",
        "probability",
        {"dist": "beta", "alpha": 4, "beta": 6},
        (0.0, 1.0),
        ("E11", A),
        "Probability that a cued interceptor sortie downs a reconnaissance drone.",
    ),
    _unc(
        "glide_bomb_effectiveness",
        "multiplier",
        {"dist": "interval", "low": 0.8, "high": 1.2},
        (0.1, 3.0),
        ("E04", "E38", A),
        "Effect of glide bombs and artillery on identified positions, relative to Oct 2024.",
    ),
    _unc(
        "russia_recruits_per_month",
        "recruits/month",
        {"dist": "interval", "low": 25000, "high": 40000},
        (0.0, 150000.0),
        ("E33", A),
        "Russian recruits per month (contract soldiers).",
    ),
    _unc(
        "russia_loss_tolerance",
        "ratio to Sept 2024 rate",
        {"dist": "interval", "low": 1.2, "high": 2.5},
        (1.0, 10.0),
        ("E33", "E36", A),
        "Casualty rate, relative to September 2024, above which Russia scales down assaults.",
    ),
    _unc(
        "russia_casualties_per_week",
        "casualties/week",
        {"dist": "normal", "mean": 8890, "sd": 900, "low": 6000, "high": 12000},
        (0.0, 30000.0),
        ("X08",),
        "Russian killed and wounded per week at the start (1,270 a day in September 2024).",
    ),
    _unc(
        "russia_shells_per_year",
        "rounds/year",
        {"dist": "interval", "low": 2.5e6, "high": 3.5e6},
        (0.0, 2.0e7),
        ("X12",),
        "Russian artillery shell production per year.",
    ),
    _unc(
        "us_support_after_election",
        "share of pre-election US aid",
        {"dist": "discrete", "values": [1.0, 0.5, 0.0], "weights": [0.45, 0.35, 0.20]},
        (0.0, 1.0),
        ("E34", A),
        "US military aid after the January 2025 transition, as a share of its 2024 level.",
    ),
    _unc(
        "us_share_of_support",
        "share",
        {"dist": "uniform", "low": 0.3, "high": 0.5},
        (0.0, 1.0),
        ("A02", A),
        "US share of partner-supplied military aid in 2024.",
    ),
    _unc(
        "partner_fatigue_per_year",
        "1/year",
        {"dist": "interval", "low": 0.05, "high": 0.3},
        (0.0, 2.0),
        ("E32", A),
        "Rate at which partner support erodes without sustainment.",
    ),
    _unc(
        "european_rampup_per_year",
        "1/year",
        {"dist": "interval", "low": 0.05, "high": 0.4},
        (0.0, 3.0),
        ("X09", "X10", A),
        "Annual growth of European-supplied military aid.",
    ),
    _unc(
        "delivery_reliability",
        "share",
        {"dist": "beta", "alpha": 8, "beta": 2},
        (0.0, 1.0),
        ("X10", A),
        "Share of pledged supply that arrives when needed.",
    ),
    _unc(
        "kursk_initial_km2",
        "km2",
        {"dist": "uniform", "low": 600, "high": 1000},
        (0.0, 1400.0),
        ("X05", "X06", A),
        "Kursk area held on 2024-10-25 (peak about 1,300 km2; part retaken by late October).",
    ),
    _unc(
        "kursk_counterattack_rate",
        "share/week",
        {"dist": "interval", "low": 0.04, "high": 0.10},
        (0.0, 0.5),
        ("X05", "X06"),
        "Share of the held Kursk area retaken per week at the October 2024 reserve commitment.",
    ),
    _unc(
        "base_advance_km2_per_week",
        "km2/week",
        {"dist": "interval", "low": 80, "high": 105},
        (0.0, 1000.0),
        ("X01", "X02", "X03"),
        "Russian net gain per week under October 2024 conditions (the calibrated scale).",
    ),
    _unc(
        "advance_noise_sd",
        "log-sd",
        {"dist": "uniform", "low": 0.2, "high": 0.45},
        (0.0, 2.0),
        ("X01", "X02", A),
        "Week-to-week log-normal noise of the advance.",
    ),
    _unc(
        "ua_infantry_initial",
        "soldiers",
        {"dist": "interval", "low": 120000, "high": 200000},
        (1000.0, 1.0e6),
        ("E01", "E16", A),
        "Ukrainian infantry holding the front at the start.",
    ),
    _unc(
        "ua_casualties_per_week",
        "casualties/week",
        {"dist": "interval", "low": 2500, "high": 4500},
        (0.0, 30000.0),
        ("E08", "E16", A),
        "Ukrainian frontline infantry losses per week at the start (killed, wounded, missing).",
    ),
    _unc(
        "collapse_threshold",
        "pressure/defence ratio",
        {"dist": "uniform", "low": 1.4, "high": 1.9},
        (1.0, 5.0),
        ("E21", A),
        "Ratio above which Ukraine can no longer block every axis of advance.",
    ),
    _unc(
        "talks_hazard_per_year",
        "1/year",
        {"dist": "interval", "low": 0.1, "high": 0.4},
        (0.0, 10.0),
        ("E32", A),
        "Base rate at which talks open when both sides are willing, at the start.",
    ),
    _unc(
        "ceasefire_break_per_year",
        "1/year",
        {"dist": "interval", "low": 0.3, "high": 1.0},
        (0.0, 10.0),
        ("E27", "E30", A),
        "Rate at which a cease-fire without any guarantee breaks down.",
    ),
    _unc(
        "nato_accession",
        "0/1",
        {"dist": "bernoulli", "p": 0.05},
        (0.0, 1.0),
        ("E29", A),
        "Whether NATO accession is actually on offer when the guarantee lever asks for it.",
    ),
    # ---------------------------------------------------------------- constants
    _const(
        "russia_shell_use_per_year",
        "rounds/year",
        3.0e6,
        (1.0e5, 2.0e7),
        ("X12", A),
        "Russian shell use at the October 2024 tempo; taken equal to NATO's production "
        "estimate, so that stocks were about steady before the start.",
    ),
    _const(
        "rounds_needed_per_year",
        "rounds/year",
        2.4e6,
        (1.0e5, 2.0e7),
        ("E03",),
        "Rounds a year needed to hold the front.",
    ),
    _const(
        "domestic_ammo_share",
        "share",
        0.25,
        (0.0, 1.0),
        ("X11", A),
        "Share of supply made in Ukraine (not subject to partner support).",
    ),
    _const(
        "gun_capacity_rounds_per_year",
        "rounds/year",
        3.0e6,
        (1.0e5, 2.0e7),
        (A,),
        "Rounds the October 2024 howitzer fleet could fire a year.",
    ),
    _const(
        "coverage_max",
        "share",
        0.9,
        (0.0, 1.0),
        ("E09", A),
        "Surveillance coverage of the front with no interception, at drone effectiveness 1.",
    ),
    _const(
        "ew_effect_max",
        "share",
        0.4,
        (0.0, 1.0),
        ("E12", A),
        "Largest cut in targeting value EW achieves when it disrupts every link.",
    ),
    _const(
        "loitering_threat",
        "share",
        0.7,
        (0.0, 1.0),
        ("E10", A),
        "Share of unprotected guns pulled back from the front at full surveillance coverage.",
    ),
    _const(
        "counter_battery_weight",
        "1/fire",
        0.5,
        (0.0, 5.0),
        ("E13", "E14", A),
        "How much Ukrainian fire reduces Russian pressure (guns at risk, assaults broken up).",
    ),
    _const(
        "fire_defence_weight",
        "defence/fire",
        1.0,
        (0.0, 5.0),
        ("E14", A),
        "Defence provided by fire covering gaps, per unit of effective fire.",
    ),
    _const(
        "line_bonus_max",
        "share",
        0.5,
        (0.0, 3.0),
        ("E15", A),
        "Largest defence bonus from fully manned, well-sited lines in depth.",
    ),
    _const(
        "infantry_share_of_recruits",
        "share",
        0.5,
        (0.0, 1.0),
        ("E16", A),
        "Share of recruits who go to frontline infantry.",
    ),
    _const(
        "training_quality_tau_weeks",
        "weeks",
        8.0,
        (0.5, 52.0),
        ("E16", A),
        "Time scale of training quality: q = 1 - exp(-weeks / tau).",
    ),
    _const(
        "cohesion_recovery",
        "1/week",
        0.05,
        (0.0, 1.0),
        ("E17", A),
        "Weekly recovery of unit cohesion towards 1.",
    ),
    _const(
        "cannibalisation_rate",
        "1/week",
        0.01,
        (0.0, 1.0),
        ("E17",),
        "Weekly cohesion lost to stripping units of capable soldiers, before reform.",
    ),
    _const(
        "exposure_weight",
        "share",
        1.0,
        (0.0, 10.0),
        ("E08", "E14", A),
        "Extra infantry losses per unit of fire shortfall (infantry exposed in place of shells).",
    ),
    _const(
        "strike_production_cut",
        "share",
        0.15,
        (0.0, 1.0),
        ("E19", A),
        "Cut in Russian munitions production under strikes at full intensity.",
    ),
    _const(
        "strike_stock_loss",
        "share/week",
        0.002,
        (0.0, 0.5),
        ("E19", A),
        "Share of Russian munitions stocks destroyed per week under strikes at full intensity.",
    ),
    _const(
        "russia_stock_weeks",
        "weeks of use",
        26.0,
        (1.0, 520.0),
        ("X12", A),
        "Russian munitions stock at the start, in weeks of use.",
    ),
    _const(
        "russia_force",
        "soldiers",
        500000.0,
        (1.0e4, 5.0e6),
        (A,),
        "Russian force committed to Ukraine (scale of the assault-manpower index).",
    ),
    _const(
        "advance_exponent",
        "1",
        2.0,
        (0.5, 6.0),
        ("E21", A),
        "Elasticity of the weekly advance to the pressure/defence ratio.",
    ),
    _const(
        "collapse_weeks",
        "weeks",
        4.0,
        (1.0, 52.0),
        ("E21", A),
        "Consecutive weeks above the collapse threshold that switch to the collapse regime.",
    ),
    _const(
        "collapse_multiplier",
        "1",
        5.0,
        (1.0, 50.0),
        ("E21", A),
        "Advance multiplier once Russia advances with impunity.",
    ),
    _const(
        "manning_floor",
        "share",
        0.45,
        (0.0, 1.0),
        ("E21", A),
        "Manning of the front below which it collapses whatever the pressure.",
    ),
    _const(
        "stable_advance_km2_per_week",
        "km2/week",
        40.0,
        (0.0, 500.0),
        ("X03", "E24", A),
        "Trailing advance at or below which the front counts as stable (about half the "
        "August-October 2024 pace).",
    ),
    _const(
        "dictate_advance_km2_per_week",
        "km2/week",
        60.0,
        (0.0, 1000.0),
        ("E23", "E24", A),
        "Trailing advance above which Russia believes it can dictate terms.",
    ),
    _const(
        "trailing_weight",
        "1/week",
        0.2,
        (0.01, 1.0),
        (A,),
        "Weight of the latest week in the trailing (exponential) advance rate.",
    ),
    _const(
        "us_transition_week",
        "weeks",
        12.0,
        (0.0, 104.0),
        ("E34",),
        "Week of the US transition (2025-01-20 is 12.4 weeks after the start).",
    ),
    _const(
        "russia_base_willingness",
        "share",
        0.1,
        (0.0, 1.0),
        ("E22", "E23", A),
        "Russian willingness to engage when neither losing nor able to dictate.",
    ),
    _const(
        "talks_time_growth",
        "1/year",
        0.3,
        (0.0, 5.0),
        ("E32",),
        "Growth of the log talks hazard per year of war.",
    ),
    _const(
        "talks_fatigue_weight",
        "1",
        1.5,
        (0.0, 10.0),
        ("E32",),
        "Growth of the log talks hazard per unit of lost partner support.",
    ),
    _const(
        "talks_loss_weight",
        "1",
        0.3,
        (0.0, 10.0),
        ("E16", "E32", A),
        "Growth of the log talks hazard per initial infantry strength lost.",
    ),
    _const(
        "ceasefire_prob",
        "probability",
        0.6,
        (0.0, 1.0),
        ("E27",),
        "Probability that talks produce a cease-fire.",
    ),
    _const(
        "ceasefire_support_cut",
        "share",
        0.3,
        (0.0, 1.0),
        ("E28", A),
        "Cut in partner support once a cease-fire holds, before sustainment.",
    ),
    _const(
        "glide_share_of_pressure",
        "share",
        0.6,
        (0.0, 1.0),
        ("E10", "E38", A),
        "Share of Russian pressure that rides on glide bombs and artillery guided by drones.",
    ),
    _const(
        "fire_share_of_russian_losses",
        "share",
        0.5,
        (0.0, 1.0),
        ("E14", "E33", A),
        "Share of Russian casualties that scale with Ukrainian effective fire.",
    ),
    _const(
        "surveillance_share_of_losses",
        "share",
        0.4,
        (0.0, 1.0),
        ("E09", "E10", A),
        "Share of Ukrainian losses that scale with Russian targeting value.",
    ),
    _const(
        "russia_assault_share_of_recruits",
        "share",
        0.8,
        (0.0, 1.0),
        ("E33", A),
        "Share of Russian recruits who feed the assault force.",
    ),
    _const(
        "russia_permanent_loss_share",
        "share",
        0.55,
        (0.0, 1.0),
        (A,),
        "Share of Russian casualties lost to the force for good (killed, disabled).",
    ),
    _const(
        "strike_burn",
        "share",
        0.1,
        (0.0, 2.0),
        ("E19",),
        "Extra Russian munitions use per unit of strike intensity above October 2024.",
    ),
    _const(
        "kursk_hold_cost",
        "share",
        0.3,
        (0.0, 2.0),
        ("E25", A),
        "Extra Ukrainian losses, per unit of reserve share committed to Kursk, relative to the "
        "weekly Donbas losses.",
    ),
    _const(
        "kursk_hold_offset",
        "share",
        0.05,
        (0.001, 1.0),
        (A,),
        "Half-saturation of the reserve share in the Kursk retake rate.",
    ),
    _const(
        "kursk_withdraw_rate",
        "share/week",
        0.25,
        (0.01, 1.0),
        (A,),
        "Share of the Kursk area given up per week in an orderly withdrawal.",
    ),
    _const(
        "kursk_peak_km2",
        "km2",
        1294.0,
        (1.0, 5000.0),
        ("X05",),
        "Kursk salient at its peak; scales Kursk's share of the leverage score.",
    ),
    _const(
        "manning_initial",
        "share",
        0.8,
        (0.1, 1.0),
        ("E15", A),
        "Manning of the positions at the start (designs assumed more troops than exist).",
    ),
    _const(
        "ua_quality_initial",
        "share",
        0.6,
        (0.0, 1.0),
        ("E16", "E17", A),
        "Training quality of the infantry at the start.",
    ),
    _const(
        "ua_cohesion_initial", "share", 0.6, (0.0, 1.0), ("E17", A), "Unit cohesion at the start."
    ),
    _const(
        "collapse_convexity",
        "1",
        2.0,
        (0.0, 10.0),
        ("E21", A),
        "Extra growth of the advance past the collapse threshold: exp(c (r - threshold)).",
    ),
    _const(
        "ceasefire_activity",
        "share",
        0.05,
        (0.0, 1.0),
        (A,),
        "Losses during a cease-fire relative to those of the fighting.",
    ),
    _const(
        "guarantee_bilateral",
        "credibility",
        0.25,
        (0.0, 1.0),
        ("E30", A),
        "Credibility of bilateral guarantees without troops on the ground.",
    ),
    _const(
        "guarantee_coalition",
        "credibility",
        0.6,
        (0.0, 1.0),
        ("E30", "E31", A),
        "Credibility of a coalition of the willing deployed after a cease-fire with US backing.",
    ),
    _const(
        "guarantee_nato",
        "credibility",
        0.9,
        (0.0, 1.0),
        ("E29", A),
        "Credibility of NATO membership, when it is actually on offer.",
    ),
    _const(
        "leverage_front_weight",
        "share",
        0.35,
        (0.0, 1.0),
        ("E22", "E24"),
        "Weight of the front's stability in the leverage score.",
    ),
    _const(
        "leverage_kursk_weight",
        "share",
        0.2,
        (0.0, 1.0),
        ("E25",),
        "Weight of Kursk territory held in the leverage score.",
    ),
    _const(
        "leverage_sanctions_weight",
        "share",
        0.15,
        (0.0, 1.0),
        ("E26",),
        "Weight of sanctions collateral in the leverage score.",
    ),
    _const(
        "leverage_guarantee_weight",
        "share",
        0.3,
        (0.0, 1.0),
        ("E29", "E30", "E31"),
        "Weight of guarantee credibility in the leverage score.",
    ),
    _const(
        "sensor_cue_floor",
        "share",
        0.2,
        (0.0, 1.0),
        ("E11", A),
        "Interceptor effectiveness without sensor cueing, relative to full cueing.",
    ),
    _const(
        "cohesion_loss_weight",
        "1",
        0.5,
        (0.0, 10.0),
        ("E17", A),
        "Cohesion lost per unit of weekly loss rate (losses / infantry).",
    ),
    _const(
        "max_advance_km2_per_week",
        "km2/week",
        1500.0,
        (1.0, 20000.0),
        ("E21", A),
        "Ceiling on the weekly advance, even with impunity (logistics bound the pace).",
    ),
)

PARAM_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
LEVERS = tuple(p for p in PARAMS if p.kind == LEVER)
UNCERTAINTIES = tuple(p for p in PARAMS if p.kind == UNCERTAINTY)
CONSTANTS = tuple(p for p in PARAMS if p.kind == CONSTANT)


def status_quo() -> np.ndarray:
    """Lever values as they stood in October 2024 (registry defaults), in PARAMS order.

    Only the lever slots are read by the kernel; other slots hold their defaults too where
    those are numbers, and 0.0 for uncertainties.
    """
    sq = np.zeros(L.N_PARAMS)
    for i, p in enumerate(PARAMS):
        if p.is_choice:
            sq[i] = p.choices[p.default]
        elif p.kind != UNCERTAINTY:
            sq[i] = float(p.default)
    return sq
