"""Every command's help shows its defaults and choices, and options parse and fail as a user
expects: counts in scientific notation, choices with "did you mean", errors naming the
option (issue 17)."""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from levercast.cli import app

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


def _commands():
    group = typer.main.get_command(app)
    return {name: group.commands[name] for name in sorted(group.commands)}


def _flat(text: str) -> str:
    """Output without rich's box drawing, on one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def _help(*args: str) -> str:
    res = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "250"}, terminal_width=250)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_every_default_and_no_stray_text(name):
    text = _help(name)
    flat = " ".join(text.split())
    assert not re.search(r"[^\s.] \.(\s|$)", flat), f"stray ' .' in `{name} --help`"
    assert "[default: ]" not in flat and "[default: ()]" not in flat
    assert "<bool>" not in flat, f"a flag shows a <bool> value in `{name} --help`"
    assert "CALIBRATION.md" not in flat
    command = _commands()[name]
    shown = flat.count("[default:")
    params = command.get_params(command.context_class(command))  # as the help shows them
    expected = [
        p.name
        for p in params
        if not getattr(p, "is_flag", False)
        and not p.required
        and p.show_default is not False
        and (p.default is not None or isinstance(p.show_default, str))
    ]
    assert shown == len(expected), (name, expected, shown)


def test_the_group_help_shows_no_bool_values():
    res = runner.invoke(app, ["--help"], terminal_width=250)
    assert res.exit_code == 0 and "<bool>" not in res.output and "--version" in res.output


def test_help_defaults_that_depend_on_the_scenario_or_machine_are_named():
    flat = " ".join(_help("run").split())
    assert "Weeks to simulate. [default: (the scenario's horizon_weeks)]" in flat
    assert "[default: (all cores)]" in flat
    assert "[default: 1000000]" in flat


def test_choices_are_listed_and_typos_get_a_suggestion(tmp_path):
    flat = " ".join(_help("sweep").split())
    assert "[sobol|oat]" in flat and "[local|dask]" in flat
    assert "[stable_front|brest_litovsk|collapse|grinding]" in " ".join(_help("analyze").split())
    config = str(CONFIGS / "baseline.toml")
    res = runner.invoke(app, ["sweep", config, "--design", "ot", "-o", str(tmp_path / "s")])
    flat = _flat(res.output)
    assert res.exit_code == 2 and "'--design'" in flat and "did you mean 'oat'" in flat
    res = runner.invoke(app, ["fit", config, "--backend", "dsk", "-o", str(tmp_path / "f")])
    flat = _flat(res.output)
    assert res.exit_code == 2 and "'--backend'" in flat and "did you mean 'dask'" in flat
    assert not (tmp_path / "s").exists() and not (tmp_path / "f").exists()


def test_counts_accept_scientific_notation(tmp_path):
    out = tmp_path / "r"
    config = str(CONFIGS / "baseline.toml")
    res = runner.invoke(app, ["run", config, "-n", "2e3", "--horizon-weeks", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "2,000 trajectories" in res.output
    for bad, why in (("1.5", "not a whole number"), ("lots", "not a count")):
        res = runner.invoke(app, ["run", config, "-n", bad, "-o", str(tmp_path / "x")])
        flat = _flat(res.output)
        assert res.exit_code == 2 and "'--trajectories' / '-n'" in flat and why in flat


def test_threads_zero_names_the_option(tmp_path):
    config = str(CONFIGS / "baseline.toml")
    res = runner.invoke(
        app, ["run", config, "-n", "100", "--threads", "0", "-o", str(tmp_path / "r")]
    )
    assert res.exit_code == 1 and "--threads" in res.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["sweep", "C", "--lhs", "0", "--range", "ew_support=0:1"], "--lhs"),
        (
            ["sweep", "C", "--design", "sobol", "--samples", "3", "--range", "ew_support=0:1"],
            "--samples",
        ),
        (["sweep", "C", "--grid", "ew_support=0.1,0.2", "--workers", "0"], "--workers"),
        (["analyze", "SWEEP", "--bootstrap", "0"], "--bootstrap"),
    ],
)
def test_every_error_names_its_option(args, option, tmp_path):
    args = [str(CONFIGS / "baseline.toml") if a == "C" else a for a in args]
    args = [str(tmp_path) if a == "SWEEP" else a for a in args]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "out")] if args[0] == "sweep" else args)
    assert res.exit_code in (1, 2) and option in _flat(res.output), res.output
    assert "Traceback" not in res.output and not (tmp_path / "out").exists()
