"""The cost model: costs.toml validated, unit costs drawn per trajectory on their own stream,
priced along the ramp, reported by every run."""

import math

import numba
import numpy as np
import pytest

from levercast.engine import costs, simulate
from levercast.engine import layout as L
from levercast.results import names
from levercast.scenario import registry
from levercast.scenario.costs import COST_BY_LEVER, COSTS, loads_costs
from levercast.scenario.loader import ConfigError, load_scenario

CONFIGS = "configs"


def _entry(lever="ew_support", **over):
    base = {
        "item": '"x"',
        "unit": '"USD/year"',
        "quantity": '"share"',
        "per_year": "1.0",
        "range": "[1.0, 2.0]",
        "sources": '["assumption"]',
    }
    base.update(over)
    body = "\n".join(f"{k} = {v}" for k, v in base.items() if v is not None)
    return f"[costs.{lever}]\n{body}\n"


def _full_file(**over):
    """The packaged file with one lever's entry replaced."""
    lever = over.pop("lever", "ew_support")
    parts = []
    for c in COSTS:
        if c.lever == lever:
            parts.append(_entry(lever, **over))
        elif c.choices:
            labels = ", ".join(f"{k} = [0.0, 0.0]" for k in c.choices)
            parts.append(_entry(c.lever, range=None, choices="{ " + labels + " }"))
        else:
            parts.append(_entry(c.lever))
    return "\n".join(parts)


def test_every_lever_has_a_cost_with_provenance():
    assert [c.lever for c in COSTS] == [p.name for p in registry.LEVERS]
    for c in COSTS:
        assert c.sources and c.unit.startswith("USD")
    assert COST_BY_LEVER["artillery_rounds_per_year"].low >= 1000


@pytest.mark.parametrize(
    "over, key, words",
    [
        ({"range": "[5.0, 1.0]"}, "costs.ew_support.range", "low <= high"),
        ({"range": "[-1.0, 1.0]"}, "costs.ew_support.range[0]", ">= 0"),
        ({"sources": '["a blog"]'}, "costs.ew_support.sources[0]", "publisher and date"),
        ({"sources": '["Reuters, 2025-01-02"]'}, "costs.ew_support.sources[0]", "after 2024-10-25"),
        ({"dist": '"normal"'}, "costs.ew_support.dist", "'uniform' or 'loguniform'"),
        ({"colour": '"red"'}, "costs.ew_support.colour", "unknown key"),
        ({"times": '"kursk_policy"'}, "costs.ew_support.times", "numeric lever"),
    ],
)
def test_a_bad_entry_names_the_file_and_key(over, key, words):
    with pytest.raises(ConfigError) as info:
        loads_costs(_full_file(**over), file="costs.toml")
    message = str(info.value)
    assert message.startswith(f"costs.toml: {key}: "), message
    assert words in message


def test_an_unknown_lever_is_refused():
    with pytest.raises(ConfigError, match="costs.toml: costs.ew_suport: not a lever"):
        loads_costs(_entry("ew_suport") + _full_file())


def test_a_missing_lever_is_refused():
    text = "\n".join(_entry(c.lever) for c in COSTS if not c.choices)
    with pytest.raises(ConfigError, match="every lever needs a cost; missing kursk_policy"):
        loads_costs(text)


def test_the_cost_stream_is_not_a_kernel_stream():
    used = {v for k, v in vars(L).items() if k.startswith("STREAM_")}
    assert costs.COST_STREAM not in used


def test_per_trajectory_costs_do_not_depend_on_blocks_or_threads():
    sc = load_scenario(f"{CONFIGS}/victory-plan.toml")
    p = costs.pricing(sc)
    whole, whole_added = costs.per_trajectory(p, 7, 0, 3000)
    parts = [costs.per_trajectory(p, 7, s, 1000)[0] for s in (0, 1000, 2000)]
    assert np.array_equal(whole, np.concatenate(parts))
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, one_added = costs.per_trajectory(p, 7, 0, 3000)
    finally:
        numba.set_num_threads(previous)
    assert np.array_equal(whole, one) and np.array_equal(whole_added, one_added)
    assert costs.summary_rows(p, 7, 3000) == costs.summary_rows(p, 7, 3000)


def test_the_mean_cost_matches_its_expectation():
    sc = load_scenario(f"{CONFIGS}/victory-plan.toml")
    n = 200_000
    row, _ = costs.summary_rows(costs.pricing(sc), 0, n)
    expected = sum(r["mean_usd_per_year"] for r in costs.lever_costs(sc))
    assert abs(row["mean"] - expected) < 4 * row["std_error"]
    assert row["q05"] < row["q50"] < row["q95"]


def test_the_status_quo_adds_nothing_and_delay_costs_less():
    base = load_scenario(f"{CONFIGS}/baseline.toml")
    _, added = costs.summary_rows(costs.pricing(base), 0, 10_000)
    assert added["mean"] == 0.0 and added["q95"] == 0.0
    vp = costs.pricing(load_scenario(f"{CONFIGS}/victory-plan.toml"))
    late = costs.pricing(load_scenario(f"{CONFIGS}/delayed-support.toml"))
    # the same draws, so the delayed package is cheaper trajectory by trajectory
    assert np.all(
        costs.per_trajectory(late, 0, 0, 5000)[0] < costs.per_trajectory(vp, 0, 0, 5000)[0]
    )


def test_the_ramp_prices_the_average_lever():
    sc = load_scenario(f"{CONFIGS}/victory-plan.toml")
    h = sc.horizon_weeks
    g = costs.ramp(sc.levers, h)
    d, rho = sc.levers["support_delay_weeks"], sc.levers["ramp_weeks"]
    assert g[0] == 0.0 and g[int(d)] == 0.0 and g[int(d + rho)] == 1.0
    k = [c.lever for c, *_ in costs.ITEMS].index("artillery_rounds_per_year")
    x_sq, x = sc.status_quo["artillery_rounds_per_year"], sc.levers["artillery_rounds_per_year"]
    assert math.isclose(costs.pricing(sc).quantity[k], x_sq + g.mean() * (x - x_sq))


def test_every_run_reports_its_cost():
    sc = load_scenario(f"{CONFIGS}/victory-plan.toml")
    summary = simulate.run(sc, 2000, 3, threads=1).summary().set_index("metric")
    for metric in names.COST_METRICS:
        assert summary.loc[metric, "n"] == 2000
        assert summary.loc[metric, "kind"] == "distribution"
    assert summary.loc[names.COST, "mean"] > summary.loc[names.ADDED_COST, "mean"] > 0


def test_a_large_run_prices_its_first_trajectories():
    p = costs.pricing(load_scenario(f"{CONFIGS}/baseline.toml"))
    row, _ = costs.summary_rows(p, 0, 10**9)
    assert row["n"] == costs.SUMMARY_MAX
    assert costs.summary_rows(p, 0, costs.SUMMARY_MAX)[0] == row


def test_kept_trajectories_carry_their_cost():
    sc = load_scenario(f"{CONFIGS}/victory-plan.toml")
    result = simulate.run(sc, 3000, 2, keep=500, threads=1)
    cost, added = costs.per_trajectory(costs.pricing(sc), 2, 0, 500)
    assert np.array_equal(result.trajectories[names.COST].to_numpy(), cost)
    assert np.array_equal(result.trajectories[names.ADDED_COST].to_numpy(), added)
