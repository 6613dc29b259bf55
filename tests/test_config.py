"""Scenario files: loading, inheritance, validation errors and the canonical round trip."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from levercast.engine import layout as L
from levercast.engine import lowering
from levercast.scenario import registry
from levercast.scenario.loader import (
    MAX_FILE_BYTES,
    ConfigError,
    DistSpec,
    load_scenario,
    loads_scenario,
    parse_dist,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CONFIG_NAMES = [
    "baseline",
    "victory-plan",
    "delayed-support",
    "kursk-hold",
    "kursk-withdraw",
    "support-cutoff",
]
Z90 = 1.6448536269514722


def scenario(body: str = "", name: str = "t") -> str:
    """Scenario text with a [scenario] table followed by ``body``."""
    return f'[scenario]\nname = "{name}"\n{body}'


def error_of(text: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        loads_scenario(text, **kwargs)
    return info.value


def unc_error(spec: str, name: str = "recon_drones_per_day") -> ConfigError:
    return error_of(scenario(f"[uncertainties]\n{name} = {spec}\n"))


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(CONFIGS / "baseline.toml")


# --------------------------------------------------------------------- shipped configs


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_shipped_config_loads_with_its_own_name(name):
    s = load_scenario(CONFIGS / f"{name}.toml")
    assert s.name == name
    assert s.start_date.isoformat() == "2024-10-25"
    assert s.horizon_weeks == 104
    assert s.description


def test_baseline_spells_out_the_registry_defaults(baseline):
    defaults = loads_scenario(scenario(name="baseline"))
    assert baseline.levers == defaults.levers
    assert baseline.uncertainties == defaults.uncertainties
    assert baseline.constants == {p.name: float(p.default) for p in registry.CONSTANTS}


def test_victory_plan_inherits_baseline_uncertainties_and_unchanged_levers(baseline):
    vp = load_scenario(CONFIGS / "victory-plan.toml")
    assert vp.uncertainties == baseline.uncertainties
    assert vp.constants == baseline.constants
    assert vp.levers["artillery_rounds_per_year"] == 2.6e6
    assert vp.levers["security_guarantee"] == "coalition"
    assert vp.levers["support_delay_weeks"] == 4.0
    # Not set by the variant, so it comes from baseline.toml.
    assert vp.levers["kursk_policy"] == "hold"
    assert vp.levers["kursk_reserve_share"] == baseline.levers["kursk_reserve_share"]


def test_delayed_support_is_victory_plan_with_a_36_week_delay():
    vp = load_scenario(CONFIGS / "victory-plan.toml")
    ds = load_scenario(CONFIGS / "delayed-support.toml")
    assert ds.levers["support_delay_weeks"] == 36.0
    assert {k: v for k, v in ds.levers.items() if k != "support_delay_weeks"} == {
        k: v for k, v in vp.levers.items() if k != "support_delay_weeks"
    }
    assert ds.uncertainties == vp.uncertainties


def test_kursk_and_cutoff_variants(baseline):
    hold = load_scenario(CONFIGS / "kursk-hold.toml")
    withdraw = load_scenario(CONFIGS / "kursk-withdraw.toml")
    cutoff = load_scenario(CONFIGS / "support-cutoff.toml")
    assert (hold.levers["kursk_policy"], hold.levers["kursk_reserve_share"]) == ("hold", 0.25)
    assert (withdraw.levers["kursk_policy"], withdraw.levers["kursk_reserve_share"]) == (
        "withdraw",
        0.0,
    )
    assert cutoff.uncertainties["us_support_after_election"] == DistSpec("fixed", a=0.0)
    assert cutoff.levers["sustainment_commitment"] == 0.0
    changed = {k for k in baseline.levers if cutoff.levers[k] != baseline.levers[k]}
    assert changed == {"sustainment_commitment"}


# --------------------------------------------------------------------- completeness and rows


def test_every_parameter_is_present(baseline):
    assert list(baseline.levers) == [p.name for p in registry.LEVERS]
    assert list(baseline.uncertainties) == [p.name for p in registry.UNCERTAINTIES]
    assert list(baseline.constants) == [p.name for p in registry.CONSTANTS]
    assert list(baseline.state) == [p.name for p in registry.STATES]
    assert list(baseline.reference) == [p.name for p in registry.REFERENCES]
    assert list(baseline.calendar) == [p.name for p in registry.CALENDARS]
    tables = (
        baseline.levers,
        baseline.uncertainties,
        baseline.constants,
        baseline.state,
        baseline.reference,
        baseline.calendar,
    )
    assert sum(len(t) for t in tables) == len(registry.PARAMS)


def test_param_rows_layout(baseline):
    rows = lowering.param_rows(baseline)
    assert rows.shape == (L.N_PARAMS, L.ROW_WIDTH)
    assert rows.dtype == np.float64
    for i, p in enumerate(registry.PARAMS):
        if p.kind == registry.UNCERTAINTY:
            np.testing.assert_array_equal(
                rows[i], lowering.dist_row(baseline.uncertainties[p.name])
            )
            continue
        if p.kind == registry.CALENDAR:
            value = (p.default - baseline.start_date).days // 7  # the week the date falls in
        else:
            value = p.choices[p.default] if p.is_choice else float(p.default)
        assert rows[i, L.ROW_CODE] == L.DIST_FIXED
        assert rows[i, L.ROW_A] == rows[i, L.ROW_LO] == rows[i, L.ROW_HI] == value
        assert not rows[i, L.ROW_K]


def test_choice_lever_row_holds_the_label_code():
    s = loads_scenario(
        scenario('[levers]\nkursk_policy = "withdraw"\nsecurity_guarantee = "nato"\n')
    )
    rows = lowering.param_rows(s)
    assert rows[L.P_KURSK_POLICY, L.ROW_A] == L.KURSK_WITHDRAW
    assert rows[L.P_SECURITY_GUARANTEE, L.ROW_A] == L.GUARANTEE_NATO
    assert s.levers["kursk_policy"] == "withdraw"


def test_distribution_rows(baseline):
    u = baseline.uncertainties
    row = lowering.dist_row(u["recon_drones_per_day"])
    assert row[L.ROW_CODE] == L.DIST_UNIFORM
    assert (row[L.ROW_A], row[L.ROW_B], row[L.ROW_LO], row[L.ROW_HI]) == (1000, 1300, 1000, 1300)

    row = lowering.dist_row(u["us_support_after_election"])
    assert row[L.ROW_CODE] == L.DIST_DISCRETE
    assert row[L.ROW_K] == 3
    np.testing.assert_array_equal(row[L.ROW_VALUES : L.ROW_VALUES + 3], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(row[L.ROW_CUMW : L.ROW_CUMW + 3], [0.45, 0.80, 1.0])
    assert row[L.ROW_CUMW + 2] == 1.0
    assert not row[L.ROW_CUMW + 3 :].any()
    assert (row[L.ROW_LO], row[L.ROW_HI]) == (0.0, 1.0)

    row = lowering.dist_row(u["russia_casualties_per_week"])
    assert row[L.ROW_CODE] == L.DIST_NORMAL
    assert (row[L.ROW_A], row[L.ROW_B], row[L.ROW_LO], row[L.ROW_HI]) == (8890, 900, 6000, 12000)

    row = lowering.dist_row(u["interceptor_kill_prob"])
    assert row[L.ROW_CODE] == L.DIST_BETA
    assert (row[L.ROW_A], row[L.ROW_B], row[L.ROW_LO], row[L.ROW_HI]) == (4, 6, 0, 1)

    row = lowering.dist_row(u["nato_accession"])
    assert row[L.ROW_CODE] == L.DIST_BERNOULLI
    assert (row[L.ROW_A], row[L.ROW_LO], row[L.ROW_HI]) == (0.05, 0, 1)


def test_triangular_and_fixed_rows():
    s = loads_scenario(
        scenario(
            "[uncertainties]\n"
            'recon_drones_per_day = { dist = "triangular", low = 900, mode = 1100, high = 1400 }\n'
            "kursk_initial_km2 = 750\n"
        )
    )
    row = lowering.dist_row(s.uncertainties["recon_drones_per_day"])
    assert row[L.ROW_CODE] == L.DIST_TRIANGULAR
    assert (row[L.ROW_A], row[L.ROW_B], row[L.ROW_C]) == (900, 1400, 1100)
    assert (row[L.ROW_LO], row[L.ROW_HI]) == (900, 1400)
    row = lowering.dist_row(s.uncertainties["kursk_initial_km2"])
    assert row[L.ROW_CODE] == L.DIST_FIXED
    assert row[L.ROW_A] == row[L.ROW_LO] == row[L.ROW_HI] == 750


# --------------------------------------------------------------------- intervals


def test_interval_string_becomes_a_lognormal_truncated_to_the_domain():
    s = loads_scenario(scenario('[uncertainties]\nrecon_drones_per_day = "1000 to 1300"\n'))
    d = s.uncertainties["recon_drones_per_day"]
    assert d.kind == "lognormal"
    assert d.a == pytest.approx((math.log(1000) + math.log(1300)) / 2, rel=1e-15)
    assert d.b == pytest.approx((math.log(1300) - math.log(1000)) / (2 * Z90), rel=1e-15)
    assert (d.lo, d.hi) == (0.0, 5000.0)
    assert d.describe() == "lognormal 90% CI 1000 to 1300"
    # The 5% and 95% quantiles give back the interval's ends.
    assert math.exp(d.a - Z90 * d.b) == pytest.approx(1000)
    assert math.exp(d.a + Z90 * d.b) == pytest.approx(1300)


def test_interval_table_and_string_agree():
    a = loads_scenario(scenario('[uncertainties]\nrussia_shells_per_year = "2.5e6 to 3.5e6"\n'))
    b = loads_scenario(
        scenario(
            "[uncertainties]\n"
            'russia_shells_per_year = { dist = "interval", low = 2.5e6, high = 3.5e6 }\n'
        )
    )
    assert a.uncertainties == b.uncertainties


def test_interval_from_zero_becomes_a_normal():
    s = loads_scenario(scenario('[uncertainties]\npartner_fatigue_per_year = "0 to 0.3"\n'))
    d = s.uncertainties["partner_fatigue_per_year"]
    assert d.kind == "normal"
    assert (d.a, d.b) == (pytest.approx(0.15), pytest.approx(0.3 / (2 * Z90)))
    assert (d.lo, d.hi) == (0.0, 2.0)


def test_interval_with_negative_end_becomes_a_normal():
    param = registry.Param("x", registry.UNCERTAINTY, "1", 0.0, (-10.0, 10.0), (), "test")
    d = parse_dist("-2 to 4", param)
    assert d.kind == "normal"
    assert d.a == 1.0
    assert d.b == pytest.approx(6 / (2 * Z90))
    assert (d.lo, d.hi) == (-10.0, 10.0)
    assert lowering.dist_row(d)[L.ROW_CODE] == L.DIST_NORMAL


def test_lognormal_by_median():
    s = loads_scenario(
        scenario(
            "[uncertainties]\n"
            'drone_effectiveness = { dist = "lognormal", median = 1.0, sigma = 0.2, high = 2.0 }\n'
        )
    )
    d = s.uncertainties["drone_effectiveness"]
    assert (d.kind, d.a, d.b, d.lo, d.hi) == ("lognormal", 0.0, 0.2, 0.1, 2.0)


# --------------------------------------------------------------------- errors


def test_misspelled_lever_names_file_key_and_suggestion(tmp_path):
    (tmp_path / "base.toml").write_text(scenario(name="base"))
    child = tmp_path / "child.toml"
    child.write_text(
        'extends = "base.toml"\n' + scenario("[levers]\nartilery_rounds_per_year = 2e6\n")
    )
    with pytest.raises(ConfigError) as info:
        load_scenario(child)
    err = info.value
    assert err.file == str(child)
    assert err.key_path == "levers.artilery_rounds_per_year"
    assert "did you mean 'artillery_rounds_per_year'" in err.expected
    assert str(err) == f"{child}: levers.artilery_rounds_per_year: {err.expected}"


def test_error_names_the_parent_file_that_wrote_the_bad_value(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text(scenario("[uncertainties]\nrecon_drones_per_day = { dist = 'uniform' }\n", "b"))
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n' + scenario())
    with pytest.raises(ConfigError) as info:
        load_scenario(tmp_path / "child.toml")
    assert info.value.file == str(base)
    assert info.value.key_path == "uncertainties.recon_drones_per_day.low"


def test_child_spec_replaces_parent_spec_whole(tmp_path):
    (tmp_path / "base.toml").write_text(
        scenario(
            '[uncertainties]\nrecon_drones_per_day = { dist = "uniform", low = 1, high = 2 }\n'
        )
    )
    (tmp_path / "child.toml").write_text(
        'extends = "base.toml"\n'
        + scenario('[uncertainties]\nrecon_drones_per_day = { dist = "bernoulli", p = 0.5 }\n')
    )
    d = load_scenario(tmp_path / "child.toml").uncertainties["recon_drones_per_day"]
    assert d == DistSpec("bernoulli", a=0.5, lo=0.0, hi=1.0)


@pytest.mark.parametrize(
    ("spec", "key_path", "fragment"),
    [
        ('{ dist = "unifrom", low = 1, high = 2 }', "dist", "did you mean 'uniform'"),
        ("{ low = 1, high = 2 }", "", "'dist'"),
        ('{ dist = "uniform", low = 1000 }', "high", "missing key"),
        ('{ dist = "uniform", low = 1, high = 2, mode = 1 }', "mode", "unknown key"),
        ('{ dist = "uniform", low = 1, hgih = 2 }', "hgih", "did you mean 'high'"),
        ('{ dist = "uniform", low = 1300, high = 1000 }', "", "low < high"),
        ('{ dist = "uniform", low = 5, high = 5 }', "", "low < high"),
        ('{ dist = "normal", mean = 1000, sd = 0 }', "sd", "> 0"),
        ('{ dist = "normal", mean = 1000, sd = -3 }', "sd", "> 0"),
        ('{ dist = "uniform", low = nan, high = 2 }', "low", "got nan"),
        ('{ dist = "uniform", low = 1, high = inf }', "high", "got inf"),
        ("nan", "", "finite"),
        ("-inf", "", "finite"),
        ('{ dist = "uniform", low = true, high = 2 }', "low", "got true"),
        ("true", "", "got true"),
        ("6000", "", "expected a number in [0, 5000], got 6000"),
        ('{ dist = "uniform", low = 1000, high = 6000 }', "high", "in [0, 5000], got 6000"),
        ('{ dist = "uniform", low = -1, high = 10 }', "low", "in [0, 5000], got -1"),
        ('{ dist = "normal", mean = 1000, sd = 10, low = -5 }', "low", "in [0, 5000]"),
        ('{ dist = "normal", mean = 1e6, sd = 10 }', "", "standard deviations"),
        ('{ dist = "lognormal", mu = 7, median = 1000, sigma = 1 }', "", "exactly one"),
        ('{ dist = "beta", alpha = 0, beta = 2, high = 10 }', "alpha", "> 0"),
        ('{ dist = "triangular", low = 1, mode = 5, high = 4 }', "mode", "mode in [1, 4]"),
        ('{ dist = "bernoulli", p = 1.5 }', "p", "probability in [0, 1]"),
        ('{ dist = "discrete", values = [1, 2], weights = [1] }', "weights", "2 weights"),
        ('{ dist = "discrete", values = [1, 2], weights = [0, 0] }', "weights", "positive sum"),
        ('{ dist = "discrete", values = [1, 2], weights = [1, -1] }', "weights[1]", ">= 0"),
        (
            '{ dist = "discrete", values = [1,2,3,4,5,6,7], weights = [1,1,1,1,1,1,1] }',
            "values",
            "1 to 6",
        ),
        (
            '{ dist = "discrete", values = [1, 9000], weights = [1, 1] }',
            "values[1]",
            "in [0, 5000]",
        ),
        ('"1300 to 1000"', "", "low < high"),
        ('"1000 to 9000"', "high", "in [0, 5000]"),
        ('"1000-1300"', "", "'A to B'"),
        ("[1000, 1300]", "", "got an array"),
        ("2024-01-01", "", "got 2024-01-01"),
    ],
)
def test_bad_distribution_specs(spec, key_path, fragment):
    err = unc_error(spec)
    assert err.file == "<string>"
    expected_path = "uncertainties.recon_drones_per_day" + (
        "" if not key_path else ("" if key_path.startswith("[") else ".") + key_path
    )
    assert err.key_path == expected_path
    assert fragment in err.expected


def test_beta_default_support_must_fit_the_domain():
    # drone_effectiveness has domain [0.1, 3]; a beta's default [0, 1] starts below it.
    err = unc_error('{ dist = "beta", alpha = 2, beta = 2 }', "drone_effectiveness")
    assert err.key_path == "uncertainties.drone_effectiveness.low"


def test_bernoulli_needs_a_domain_holding_0_and_1():
    err = unc_error('{ dist = "bernoulli", p = 0.5 }', "russia_loss_tolerance")
    assert "bernoulli" in err.expected


@pytest.mark.parametrize(
    ("body", "key_path", "fragment"),
    [
        (
            "[levers]\nartillery_rounds_per_year = -1\n",
            "levers.artillery_rounds_per_year",
            "in [0, 8000000], got -1",
        ),
        (
            "[levers]\nartillery_rounds_per_year = 'abc'\n",
            "levers.artillery_rounds_per_year",
            "got 'abc'",
        ),
        (
            "[levers]\nartillery_rounds_per_year = true\n",
            "levers.artillery_rounds_per_year",
            "got true",
        ),
        (
            "[levers]\nartillery_rounds_per_year = nan\n",
            "levers.artillery_rounds_per_year",
            "got nan",
        ),
        ("[levers]\nkursk_policy = 'stay'\n", "levers.kursk_policy", "'hold', 'withdraw'"),
        ("[levers]\nkursk_policy = 1\n", "levers.kursk_policy", "'hold', 'withdraw'"),
        (
            "[levers]\nrecon_drones_per_day = 1200\n",
            "levers.recon_drones_per_day",
            "under [uncertainties]",
        ),
        (
            "[uncertainties]\nartillery_rounds_per_year = 2e6\n",
            "uncertainties.artillery_rounds_per_year",
            "under [levers]",
        ),
        ("[constants]\nramp_weeks = 3\n", "constants.ramp_weeks", "under [levers]"),
        ("[constants]\nmanning_floor = 1.5\n", "constants.manning_floor", "in [0, 1]"),
        (
            "[constants]\nmanning_flor = 0.8\n",
            "constants.manning_flor",
            "did you mean 'manning_floor'",
        ),
        ("[lever]\nramp_weeks = 3\n", "lever", "did you mean 'levers'"),
        ("[scenario.extra]\n", "scenario.extra", "unknown key"),
    ],
)
def test_bad_tables_and_values(body, key_path, fragment):
    err = error_of(scenario() + body)
    assert err.key_path == key_path
    assert fragment in err.expected


@pytest.mark.parametrize(
    ("head", "key_path", "fragment"),
    [
        ("ramp_weeks = 3\n", "ramp_weeks", "under [levers]"),
        ("levers = 3\n", "levers", "expected a table"),
        ("scenario = 'x'\n", "scenario", "expected a table"),
    ],
)
def test_bad_top_level_keys(head, key_path, fragment):
    text = head if head.startswith("scenario") else head + scenario()
    err = error_of(text)
    assert err.key_path == key_path
    assert fragment in err.expected


@pytest.mark.parametrize(
    ("meta", "key_path", "fragment"),
    [
        ("horizon_weeks = 0", "scenario.horizon_weeks", "[1, 520]"),
        ("horizon_weeks = 521", "scenario.horizon_weeks", "[1, 520]"),
        ("horizon_weeks = true", "scenario.horizon_weeks", "got true"),
        ("horizon_weeks = 52.0", "scenario.horizon_weeks", "integer"),
        ("start_date = 2024-10-25T12:00:00", "scenario.start_date", "date like"),
        ("start_date = '2024-10-25'", "scenario.start_date", "date like"),
        ("description = 3", "scenario.description", "string"),
        ("horizn_weeks = 10", "scenario.horizn_weeks", "did you mean 'horizon_weeks'"),
    ],
)
def test_bad_scenario_table(meta, key_path, fragment):
    err = error_of(scenario(meta + "\n"))
    assert (err.key_path, fragment in err.expected) == (key_path, True)


def test_scenario_name_is_required_and_must_be_a_simple_name():
    assert error_of("[levers]\n").key_path == "scenario.name"
    assert error_of('[scenario]\nname = "a/../b"\n').key_path == "scenario.name"
    assert error_of('[scenario]\nname = ""\n').key_path == "scenario.name"


@pytest.mark.parametrize(
    "payload", ["__import__('os').system('echo hi')", "1+1", "2e6 * 2", "open('x')"]
)
def test_strings_are_never_evaluated(payload, capfd):
    for body in (
        f"[uncertainties]\nrecon_drones_per_day = '''{payload}'''\n",
        f"[levers]\nartillery_rounds_per_year = '''{payload}'''\n",
        f'[constants]\nmanning_floor = "{payload}"\n',
    ):
        with pytest.raises(ConfigError) as info:
            loads_scenario(scenario(body))
        assert f"got {payload!r}" in info.value.expected
    assert "hi" not in capfd.readouterr().out


# --------------------------------------------------------------------- files and extends


def test_missing_file():
    with pytest.raises(ConfigError) as info:
        load_scenario("/nonexistent/nowhere.toml")
    assert str(info.value) == "/nonexistent/nowhere.toml: file not found"
    assert info.value.key_path == ""


def test_missing_extends_target(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('extends = "nope.toml"\n' + scenario())
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert (info.value.file, info.value.key_path) == (str(path), "extends")
    assert "not found" in info.value.expected and "nope.toml" in info.value.expected


def test_extends_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n' + scenario(name="a"))
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n' + scenario(name="b"))
    with pytest.raises(ConfigError) as info:
        load_scenario(tmp_path / "a.toml")
    a, b = str(tmp_path / "a.toml"), str(tmp_path / "b.toml")
    assert info.value.expected == f"extends cycle: {a} -> {b} -> {a}"


def test_self_extends_is_a_cycle(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "a.toml"\n' + scenario(name="a"))
    with pytest.raises(ConfigError, match="extends cycle"):
        load_scenario(tmp_path / "a.toml")


def test_extends_must_be_a_string():
    err = error_of("extends = 3\n" + scenario())
    assert (err.key_path, "got 3" in err.expected) == ("extends", True)


def test_every_file_in_a_chain_names_itself(tmp_path):
    (tmp_path / "base.toml").write_text(scenario(name="base"))
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[levers]\nramp_weeks = 3\n')
    with pytest.raises(ConfigError) as info:
        load_scenario(tmp_path / "child.toml")
    assert (info.value.file, info.value.key_path) == (str(tmp_path / "child.toml"), "scenario.name")


def test_loads_scenario_resolves_extends_against_base_dir():
    s = loads_scenario(
        'extends = "baseline.toml"\n' + scenario("[levers]\nramp_weeks = 20\n"), base_dir=CONFIGS
    )
    assert s.levers["ramp_weeks"] == 20.0
    assert s.uncertainties == load_scenario(CONFIGS / "baseline.toml").uncertainties


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(scenario('description = "Kyiv caf\xe9"\n').encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.expected == "file is not valid UTF-8"


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(scenario("[levers\nramp_weeks = 3\n"))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert info.value.file == str(path)
    assert info.value.expected.startswith("invalid TOML: ")
    assert "line 3" in info.value.expected


def test_oversized_file_is_rejected_before_parsing(tmp_path):
    path = tmp_path / "big.toml"
    # Invalid TOML after the padding: a size error, not a syntax error, proves parsing never ran.
    path.write_text(scenario() + "#" * MAX_FILE_BYTES + "\n[[[")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_scenario(path)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        loads_scenario(scenario() + "#" * MAX_FILE_BYTES + "\n[[[")


# --------------------------------------------------------------------- round trip and hash


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_resolved_toml_round_trip(name):
    s = load_scenario(CONFIGS / f"{name}.toml")
    text = s.resolved_toml()
    assert "extends" not in text
    back = loads_scenario(text)
    assert back == s
    assert back.levers == s.levers
    assert back.constants == s.constants
    np.testing.assert_array_equal(lowering.param_rows(back), lowering.param_rows(s))
    assert back.resolved_toml() == text
    assert back.sha256 == s.sha256


def test_round_trip_keeps_every_distribution_kind_and_the_sweep():
    s = loads_scenario(
        scenario(
            "[uncertainties]\n"
            'recon_drones_per_day = { dist = "triangular", low = 900, mode = 1100, high = 1400 }\n'
            'drone_effectiveness = { dist = "lognormal", mu = 0.1, sigma = 0.3, low = 0.5 }\n'
            'interceptor_kill_prob = { dist = "fixed", value = 0.4 }\n'
            "delivery_reliability = { dist = 'beta', alpha = 2, beta = 3, low = 0.2, high = 0.9 }\n"
            'us_support_after_election = { dist = "discrete", values = [1, 0], weights = [3, 7] }\n'
            "[sweep]\nmethod = 'grid'\n[sweep.levers]\nramp_weeks = [4, 8, 16]\n"
        )
    )
    back = loads_scenario(s.resolved_toml())
    assert back == s
    assert back.sweep == {"method": "grid", "levers": {"ramp_weeks": [4, 8, 16]}}
    np.testing.assert_array_equal(lowering.param_rows(back), lowering.param_rows(s))


def test_sha256_is_a_stable_content_hash(baseline):
    again = load_scenario(CONFIGS / "baseline.toml")
    assert baseline.sha256 == again.sha256
    assert len(baseline.sha256) == 64 and int(baseline.sha256, 16) >= 0
    assert hash(baseline) == hash(again)
    assert baseline.with_levers(ramp_weeks=13).sha256 != baseline.sha256


# --------------------------------------------------------------------- with_levers


def test_with_levers_changes_only_what_it_is_given(baseline):
    s = baseline.with_levers({"artillery_rounds_per_year": 2.4e6}, kursk_policy="withdraw")
    assert s.levers["artillery_rounds_per_year"] == 2.4e6
    assert s.levers["kursk_policy"] == "withdraw"
    assert baseline.levers["artillery_rounds_per_year"] == 1.5e6
    assert s.uncertainties == baseline.uncertainties
    assert (s.name, s.path) == (baseline.name, baseline.path)
    rows = lowering.param_rows(s)
    assert rows[L.P_ARTILLERY_ROUNDS_PER_YEAR, L.ROW_A] == 2.4e6
    assert rows[L.P_KURSK_POLICY, L.ROW_A] == L.KURSK_WITHDRAW


def test_with_levers_targets_uncertainties_and_constants(baseline):
    s = baseline.with_levers(
        {
            "uncertainties.recon_drones_per_day": 1200,
            "constants.manning_floor": 0.7,
            "levers.ramp_weeks": np.float64(8.0),
        }
    )
    assert s.uncertainties["recon_drones_per_day"] == DistSpec(
        "fixed", a=1200.0, lo=1200.0, hi=1200.0
    )
    assert s.constants["manning_floor"] == 0.7
    assert s.levers["ramp_weeks"] == 8.0


def test_with_levers_validates(baseline):
    with pytest.raises(ConfigError) as info:
        baseline.with_levers(artillery_rounds_per_year=9e6)
    assert info.value.key_path == "levers.artillery_rounds_per_year"
    assert info.value.file == baseline.path
    with pytest.raises(ConfigError, match="did you mean 'ramp_weeks'"):
        baseline.with_levers(ramp_wekes=3)
    with pytest.raises(ConfigError, match="under \\[levers\\]"):
        baseline.with_levers({"uncertainties.ramp_weeks": 3})
    with pytest.raises(ConfigError):
        baseline.with_levers(security_guarantee="alliance")
    with pytest.raises(ConfigError):
        baseline.with_levers(ramp_weeks=True)


# --------------------------------------------------------------------- the objects


def test_scenario_is_immutable_and_picklable(baseline):
    with pytest.raises(TypeError):
        baseline.levers["ramp_weeks"] = 3.0
    with pytest.raises(AttributeError):
        baseline.name = "other"
    assert pickle.loads(pickle.dumps(baseline)) == baseline


def test_describe_and_mean():
    uniform = DistSpec("uniform", a=1000, b=1300, lo=1000, hi=1300)
    assert uniform.describe() == "uniform(1000, 1300)"
    assert uniform.mean() == 1150
    # A normal truncated symmetrically keeps its mean; one-sided truncation raises it.
    assert DistSpec("normal", a=5.0, b=1.0, lo=3.0, hi=7.0).mean() == pytest.approx(5.0)
    half = DistSpec("normal", a=0.0, b=1.0, lo=0.0, hi=math.inf)
    assert half.mean() == pytest.approx(math.sqrt(2 / math.pi))
    # Untruncated lognormal mean exp(mu + sigma^2 / 2).
    wide = DistSpec("lognormal", a=0.0, b=0.5, lo=0.0, hi=1e300)
    assert wide.mean() == pytest.approx(math.exp(0.125))
    # sigma = 40 overflows exp(mu + sigma^2 / 2); the mean must still lie in the window.
    heavy = DistSpec("lognormal", a=0.0, b=40.0, lo=0.0, hi=1e6)
    assert 1e3 < heavy.mean() < 1e6
    far = DistSpec("lognormal", a=0.0, b=1.0, lo=math.exp(7.5), hi=math.exp(7.9))
    assert math.exp(7.5) < far.mean() < math.exp(7.9)
    discrete = DistSpec("discrete", values=(1.0, 0.5, 0.0), weights=(0.45, 0.35, 0.20))
    assert discrete.mean() == pytest.approx(0.625)
    assert discrete.describe() == "discrete 1 (45%), 0.5 (35%), 0 (20%)"
    assert DistSpec("beta", a=4, b=6, lo=0, hi=1).mean() == pytest.approx(0.4)
    assert DistSpec("triangular", a=0, b=3, c=3, lo=0, hi=3).mean() == pytest.approx(2.0)


def test_to_toml_value_is_canonical(baseline):
    d = baseline.uncertainties
    assert d["recon_drones_per_day"].to_toml_value() == {
        "dist": "uniform",
        "low": 1000,
        "high": 1300,
    }
    assert d["drone_effectiveness"].to_toml_value() == {"dist": "interval", "low": 0.8, "high": 1.2}
    assert DistSpec("fixed", a=2.0, lo=2.0, hi=2.0).to_toml_value() == 2.0


def test_config_error_text():
    assert str(ConfigError("a.toml", "levers.x", "expected y")) == "a.toml: levers.x: expected y"
    assert str(ConfigError("a.toml", "", "file not found")) == "a.toml: file not found"
    err = pickle.loads(pickle.dumps(ConfigError("a.toml", "k", "e")))
    assert (err.file, err.key_path, err.expected) == ("a.toml", "k", "e")
