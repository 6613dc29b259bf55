"""Start from any date: the state, the reference window, the calendar and the status quo.

A run starts from the state of its own start date; calendar events are dates (before the start:
already in effect or over; after the horizon: never); a later start is tested with synthetic
states only (the evidence rule: no real data after 2024-10-25).
"""

import datetime

import numpy as np
import pytest

from levercast.engine import lowering, simulate
from levercast.results import names
from levercast.scenario import registry
from levercast.scenario.loader import ConfigError, load_scenario, loads_scenario

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
BASELINE = ROOT / "configs" / "baseline.toml"
SPRING = ROOT / "configs" / "hindcast" / "spring-2024.toml"

# A synthetic state for a later start (not data: the evidence rule forbids real figures after
# 2024-10-25). Values chosen to differ from October 2024's.
SYNTHETIC_STATE = """
[state]
as_of = 2025-06-06
occupied_km2 = 113000.0
recent_pace_km2_per_week = 120.0
manning = 0.7
ua_quality = 0.55
ua_cohesion = 0.5
partner_support = 0.9
russia_force_index = 1.1
russia_munitions_index = 0.9
ru_rounds_per_day = 7000.0
"""


def later(extra: str = "", state: str = SYNTHETIC_STATE, start: str = "2025-06-06") -> str:
    return (
        f'extends = "{BASELINE.as_posix()}"\n[scenario]\nname = "later"\n'
        f"start_date = {start}\nhorizon_weeks = 26\n{state}\n{extra}"
    )


def run(scenario, n=4000, seed=3, **kw):
    return simulate.run(scenario, n=n, seed=seed, **kw)


def test_week_of_counts_whole_weeks_from_the_start():
    start = datetime.date(2024, 10, 25)
    assert lowering.week_of(start, start) == 0
    assert lowering.week_of(datetime.date(2024, 10, 31), start) == 0
    assert lowering.week_of(datetime.date(2024, 11, 1), start) == 1
    assert lowering.week_of(datetime.date(2025, 1, 20), start) == 12  # the old constant
    assert lowering.week_of(datetime.date(2024, 10, 24), start) == -1
    assert lowering.week_of(datetime.date(2035, 12, 31), datetime.date(2022, 2, 24)) < 1e5


def test_a_later_start_without_a_state_is_refused_naming_what_is_missing():
    with pytest.raises(ConfigError) as err:
        loads_scenario(later(state=""))
    text = str(err.value)
    assert "start_date" in text and "no state for 2025-06-06" in text
    assert "2024-10-25" in text
    for p in registry.STATES:
        assert p.name in text


def test_a_state_for_another_date_is_refused():
    with pytest.raises(ConfigError, match="no state for 2025-07-01"):
        loads_scenario(later(start="2025-07-01"))


def test_a_new_state_must_give_every_key():
    partial = "\n".join(
        line for line in SYNTHETIC_STATE.splitlines() if not line.startswith("ua_cohesion")
    )
    with pytest.raises(ConfigError, match=r"state\.ua_cohesion.*missing ua_cohesion"):
        loads_scenario(later(state=partial))


def test_a_state_never_mixes_with_its_parents():
    # a child's [state] replaces the parent's: the baseline's October values do not leak in
    scenario = loads_scenario(later())
    assert scenario.state["recent_pace_km2_per_week"] == 120.0
    assert scenario.state["manning"] == 0.7


def test_calendar_values_are_dates_in_their_domain():
    with pytest.raises(ConfigError, match=r"calendar\.us_transition: expected a date"):
        loads_scenario(later("[calendar]\nus_transition = 12"))
    with pytest.raises(ConfigError, match=r"calendar\.us_transition: expected a date in"):
        loads_scenario(later("[calendar]\nus_transition = 2099-01-20"))
    with pytest.raises(ConfigError, match="unknown calendar 'us_transitions'"):
        loads_scenario(later("[calendar]\nus_transitions = 2025-01-20"))


def test_a_later_start_runs_from_its_own_state_and_changes_the_results(baseline):
    scenario = loads_scenario(later())
    late = run(scenario)
    base = run(baseline.with_levers(), horizon=26)
    assert late.start_date == datetime.date(2025, 6, 6)
    # the state is used: manning, quality and the trailing pace differ from October 2024's
    assert not np.array_equal(late.sums, base.sums)
    # and the week-0 band is the state's own: the infantry (drawn as in the baseline) is the same,
    # Kursk is the same draw, territory starts at 0
    assert late.band_stats(names.M_TERRITORY, 0)["mean"] == 0.0


def test_events_before_the_start_are_ignored_and_after_the_horizon_never_happen():
    scenario = loads_scenario(later())
    reference = run(scenario)
    # the aid pause and the Kursk dates are all before 2025-06-06: moving them elsewhere before
    # the start changes nothing
    earlier = loads_scenario(
        later(
            "[calendar]\nus_aid_pause_start = 2023-01-01\nus_aid_pause_end = 2023-02-01\n"
            "kursk_incursion = 2023-03-01\nkursk_peak = 2023-04-01\n"
        )
    )
    np.testing.assert_array_equal(run(earlier).sums, reference.sums)
    # an event after the horizon (26 weeks) never happens, wherever it lies
    a = loads_scenario(later("[calendar]\nus_transition = 2026-06-01"))
    b = loads_scenario(later("[calendar]\nus_transition = 2030-01-01"))
    np.testing.assert_array_equal(run(a).sums, run(b).sums)


def test_a_us_aid_pause_inside_the_horizon_costs_territory():
    calm = loads_scenario(later("[calendar]\nus_transition = 2030-01-01"))
    paused = loads_scenario(
        later(
            "[calendar]\nus_transition = 2030-01-01\n"
            "us_aid_pause_start = 2025-06-06\nus_aid_pause_end = 2025-10-01\n"
        )
    )
    t_calm = run(calm).band_stats(names.M_TERRITORY, 26)
    t_paused = run(paused).band_stats(names.M_TERRITORY, 26)
    # paired (same seed, same draws): the pause must raise the mean loss by more than its error
    assert t_paused["mean"] - t_calm["mean"] > 3 * (t_paused["se"] + t_calm["se"])


def test_a_kursk_incursion_inside_the_horizon_builds_the_salient():
    scenario = loads_scenario(
        later(
            "[uncertainties]\nkursk_initial_km2 = 0.0\n"
            "[calendar]\nkursk_incursion = 2025-06-20\nkursk_peak = 2025-07-18\n"
            "kursk_counteroffensive = 2030-01-01\n"
        )
    )
    result = run(scenario, n=500)
    assert result.band_stats(names.M_KURSK, 2)["mean"] == 0.0  # before the incursion
    peak = registry.PARAM_BY_NAME["kursk_peak_km2"].default
    np.testing.assert_allclose(result.band_stats(names.M_KURSK, 8)["mean"], peak, rtol=1e-9)
    # no counter-offensive inside the horizon: the salient is held at its peak
    np.testing.assert_allclose(result.band_stats(names.M_KURSK, 26)["mean"], peak, rtol=1e-9)


def test_the_status_quo_is_the_levers_of_the_file_that_gives_the_state(baseline, victory):
    spring = load_scenario(SPRING)
    assert dict(spring.status_quo) == dict(spring.levers)  # a hindcast does not ramp
    assert dict(victory.status_quo) == dict(baseline.levers)  # a variant ramps from Oct 2024
    assert victory.status_quo != victory.levers
    sq = lowering.status_quo(spring)
    assert sq[registry.PARAMS.index(registry.PARAM_BY_NAME["artillery_rounds_per_year"])] == 1.4e6


def test_state_reference_calendar_and_status_quo_survive_the_round_trip():
    for scenario in (load_scenario(SPRING), loads_scenario(later())):
        back = loads_scenario(scenario.resolved_toml())
        assert back == scenario
        assert back.status_quo == scenario.status_quo


@pytest.mark.parametrize("threads, chunk", [(1, 997), (2, 100_000)])
def test_a_hindcast_is_bit_identical_across_threads_and_chunks(threads, chunk):
    spring = load_scenario(SPRING)
    ref = run(spring, n=3000, threads=2, chunk_size=100_000)
    other = run(spring, n=3000, threads=threads, chunk_size=chunk)
    for name in ("sums", "hist", "extrema", "outcome_counts"):
        np.testing.assert_array_equal(getattr(other, name), getattr(ref, name), err_msg=name)
