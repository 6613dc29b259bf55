"""The parameter file: every entry is validated, and a bad one is named by file and key path."""

from __future__ import annotations

import pytest

from levercast.errors import LevercastError
from levercast.scenario import registry
from levercast.scenario.loader import ConfigError

GOOD = {
    "lever_a": """\
[params.lever_a]
kind = "lever"
unit = "share"
default = 0.2
domain = [0.0, 1.0]
ramps = true
sources = ["E03", "assumption"]
description = "A lever."
""",
    "choice_b": """\
[params.choice_b]
kind = "lever"
unit = "choice"
default = "hold"
domain = [0.0, 1.0]
choices = { hold = 0, withdraw = 1 }
code_prefix = "B"
sources = ["E25"]
description = "A choice."
""",
    "unc_c": """\
[params.unc_c]
kind = "uncertainty"
unit = "drones/day"
default = { dist = "uniform", low = 1000, high = 1300 }
domain = [0.0, 5000.0]
sources = ["X02"]
description = "An uncertainty."
""",
    "const_d": """\
[params.const_d]
kind = "constant"
unit = "1"
default = 2
domain = [0.0, 10.0]
sources = ["assumption"]
description = "A constant."
""",
}


def text(**changes: str | None) -> str:
    """The GOOD file with lines replaced: ``changes[name] = "key = value"`` (None drops key)."""
    out = []
    for name, block in GOOD.items():
        lines = block.splitlines()
        for spec, new in changes.items():
            target, _, key = spec.partition("__")
            if target != name:
                continue
            lines = [ln for ln in lines if not ln.startswith(f"{key} =")]
            if new is not None:
                lines.append(new)
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def error_of(source: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        registry.loads_params(source)
    return info.value


def test_good_file_loads_in_file_order():
    params = registry.loads_params(text())
    assert [p.name for p in params] == list(GOOD)
    lever, choice, unc, const = params
    assert lever.ramps and lever.default == 0.2 and lever.sources == ("E03", "assumption")
    assert choice.choices == {"hold": 0.0, "withdraw": 1.0} and choice.code_prefix == "B"
    assert unc.default == {"dist": "uniform", "low": 1000, "high": 1300}
    assert const.default == 2.0 and isinstance(const.default, float) and not const.ramps


def test_packaged_registry_is_the_parameter_file():
    assert len(registry.PARAMS) == len(registry.PARAM_BY_NAME)
    assert registry.PARAMS == registry.load_params()
    assert {p.kind for p in registry.PARAMS} == set(registry.KINDS)
    assert registry.status_quo().shape == (len(registry.PARAMS),)


@pytest.mark.parametrize(
    ("changes", "key_path", "fragment"),
    [
        ({"lever_a__unit": None}, "params.lever_a.unit", "missing required key"),
        ({"const_d__description": 'description = ""'}, "params.const_d.description", "non-empty"),
        ({"lever_a__default": "default = 1.5"}, "params.lever_a.default", "in [0, 1], got 1.5"),
        ({"lever_a__default": 'default = "x"'}, "params.lever_a.default", "expected a number"),
        ({"const_d__default": "default = true"}, "params.const_d.default", "expected a number"),
        (
            {"unc_c__default": 'default = { dist = "uniform", low = 10, high = 6000 }'},
            "params.unc_c.default.high",
            "in [0, 5000], got 6000",
        ),
        (
            {"unc_c__default": 'default = { dist = "unifrom", low = 1, high = 2 }'},
            "params.unc_c.default.dist",
            "did you mean 'uniform'",
        ),
        ({"lever_a__kind": 'kind = "leverr"'}, "params.lever_a.kind", "expected one of 'lever'"),
        ({"lever_a__kind": None}, "params.lever_a.kind", "missing required key"),
        ({"lever_a__domain": "domain = [1.0, 0.0]"}, "params.lever_a.domain", "low <= high"),
        ({"lever_a__domain": "domain = [0.0]"}, "params.lever_a.domain", "expected [low, high]"),
        ({"lever_a__domain": "domain = [0.0, inf]"}, "params.lever_a.domain[1]", "finite"),
        ({"lever_a__sources": 'sources = ["E3"]'}, "params.lever_a.sources[0]", "claim id"),
        (
            {"lever_a__sources": 'sources = ["E03", "guess"]'},
            "params.lever_a.sources[1]",
            "got 'guess'",
        ),
        ({"lever_a__sources": "sources = []"}, "params.lever_a.sources", "non-empty array"),
        ({"lever_a__sources": 'sources = ["E03", "E03"]'}, "params.lever_a.sources", "once"),
        ({"lever_a__colour": 'colour = "red"'}, "params.lever_a.colour", "unknown key"),
        ({"choice_b__default": 'default = "stay"'}, "params.choice_b.default", "'hold'"),
        ({"choice_b__code_prefix": None}, "params.choice_b.code_prefix", "code_prefix"),
        ({"choice_b__ramps": "ramps = true"}, "params.choice_b.ramps", "cannot ramp"),
        (
            {"choice_b__choices": "choices = { hold = 0, withdraw = 0 }"},
            "params.choice_b.choices",
            "different code",
        ),
        (
            {"choice_b__choices": "choices = { hold = 0, withdraw = 2 }"},
            "params.choice_b.choices.withdraw",
            "in [0, 1], got 2",
        ),
        ({"const_d__ramps": "ramps = true"}, "params.const_d.ramps", "only a lever can ramp"),
        (
            {"const_d__choices": "choices = { a = 0 }"},
            "params.const_d.choices",
            "only a lever can have choices",
        ),
    ],
)
def test_bad_entries_name_file_and_key_path(changes, key_path, fragment):
    err = error_of(text(**changes))
    assert err.file == registry.PARAMS_FILE
    assert err.key_path == key_path
    assert fragment in err.expected
    assert str(err).startswith(f"params.toml: {key_path}: ")
    assert isinstance(err, LevercastError)


def test_duplicate_name_is_reported_with_both_lines():
    source = text() + "\n" + GOOD["unc_c"]
    err = error_of(source)
    assert err.key_path == "params.unc_c"
    assert "duplicate parameter" in err.expected and "lines" in err.expected


@pytest.mark.parametrize(
    ("source", "key_path", "fragment"),
    [
        ("", "params", "expected [params.<name>] tables"),
        ("title = 'x'\n" + GOOD["lever_a"], "title", "unknown top-level key"),
        ("[params]\nlever_a = 3\n", "params.lever_a", "expected a table"),
        (GOOD["lever_a"].replace("lever_a", "Lever-A"), "params.Lever-A", "lower-case"),
        ("[params.x\n", "", "invalid TOML"),
    ],
)
def test_bad_files(source, key_path, fragment):
    err = error_of(source)
    assert err.key_path == key_path
    assert fragment in err.expected


def test_error_names_the_file_it_was_given():
    err = None
    with pytest.raises(ConfigError) as info:
        registry.loads_params(text(lever_a__unit=None), file="my/params.toml")
    err = info.value
    assert str(err) == "my/params.toml: params.lever_a.unit: missing required key"


def test_calendar_entries_take_dates_and_numbers_do_not():
    good = """
[params.when]
kind = "calendar"
unit = "date"
default = 2024-10-25
domain = [2022-02-24, 2035-12-31]
sources = ["E34"]
description = "d"
"""
    (param,) = registry.loads_params(good)
    assert param.default.isoformat() == "2024-10-25"
    with pytest.raises(ConfigError, match=r"params.when.default: expected a date in"):
        registry.loads_params(good.replace("default = 2024-10-25", "default = 2036-01-01"))
    with pytest.raises(ConfigError, match=r"params.when.default: expected a date like"):
        registry.loads_params(good.replace("default = 2024-10-25", "default = 3.0"))
    with pytest.raises(ConfigError, match=r"params.when.domain: expected \[low, high\] as two"):
        registry.loads_params(good.replace("[2022-02-24, 2035-12-31]", "[0.0, 1.0]"))
    number = good.replace('kind = "calendar"', 'kind = "state"')
    with pytest.raises(ConfigError, match=r"params.when.domain: expected \[low, high\] as two"):
        registry.loads_params(number)
